"""InfoGAN: Chen et al. 2016, "InfoGAN: Interpretable Representation Learning by
Information Maximizing Generative Adversarial Nets".

A GAN whose generator `G(z, c)` takes, besides the unstructured noise `z`, a
structured code `c` (a categorical code and continuous codes); an auxiliary head
`Q(c|x)` on the discriminator's trunk recovers `c` from the generated image. The
variational lower bound of the mutual information I(c; G(z, c)) (Eq. 4-5)

    L_I = E_{c ~ p(c), z ~ p(z)} [ log Q(c | G(z, c)) ] + H(c)

is maximised by both players (Eq. 6, `min_{G,Q} max_D V(D, G) − λ L_I`):

    d_loss    = −E_x log D(x) − E_{z,c} log(1 − D(G(z, c)))
    g_loss    = −E_{z,c} log D(G(z, c))            (non-saturating generator loss)
    info_loss = −λ_cat E log Q(c_cat | G) − λ_cont E log Q(c_cont | G)
    D and Q minimise d_loss + info_loss; G minimises g_loss + info_loss.

`info_loss` omits the constant H(c). Priors (TFP distributions, as the paper and
the authors' code): noise `z ~ Uniform(−1, 1)^noise_dim`, categorical code
`c_cat ~ OneHotCategorical(uniform)`, continuous codes `c_cont ~ Uniform(−1, 1)`.
Q models the categorical code with a softmax and the continuous codes with a
factored Gaussian: fixed unit standard deviation by default (the authors' code,
`fix_std=True`), or a learned log-std (`learn_continuous_std=True`).

λ: 1 for the categorical code and 0.1 for the continuous codes by default — the
paper uses λ = 1 for discrete codes and "a smaller λ" for continuous ones so that
L_I stays on the scale of the GAN objective.

Both players are updated once per batch from the same forward pass, each with its
own Adam (the paper, Appendix C: 2e-4 for D (and Q), 1e-3 for G, β1 = 0.5).

Networks: G is the Locatello et al. deconv decoder (`kerasdis.networks.build_decoder`)
on `[z, c]`, with sigmoid pixels; D and Q share a conv trunk with the layout of the
Locatello et al. encoder. Deviation from the paper, which uses batch normalisation
in G and D: these networks have none, and D's trunk and logit are spectrally
normalised instead (`keras.layers.SpectralNormalization`, Miyato et al. 2018;
`spectral_norm=True`). Without it, on dSprites, D won within 200 steps and G
collapsed to black images; with it, Q started recovering the codes after about
1,500 steps (measured on CPU, batch 64).
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

from kerasdis import losses
from kerasdis import networks
from kerasdis import preset as preset_files
from kerasdis.models import registry
from kerasdis.models.base import (
    InputChecksMixin,
    LossTrackersMixin,
    ModelTraits,
    TwoOptimizersMixin,
    assert_valid_batch,
    check_non_negative,
    check_positive_int,
    unpack_images,
)
from kerasdis.models.registry import register

tfd = tfp.distributions

# Clip of the learned log-std of Q's continuous codes.
LOG_STD_BOUNDS = (-5.0, 2.0)


def default_generator_optimizer():
    return keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.999)


def default_discriminator_optimizer():
    return keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999)


def _check_non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}.")
    return int(value)


def _seeded(seed):
    index = [0]

    def init():
        index[0] += 1
        return keras.initializers.GlorotUniform(seed=int(seed) * 100 + index[0] - 1)

    return init


def build_discriminator(input_shape, num_categories, num_continuous, architecture="conv",
                        learn_continuous_std=False, spectral_norm=True, name="discriminator",
                        seed=0):
    """The discriminator with its Q head: images -> dict of outputs.

    Trunk: the Locatello et al. conv encoder layout (conv 32-32-64-64, fc 256) or the
    Chen et al. MLP (1200-1200), with leaky ReLU (slope 0.1, as InfoGAN), spectrally
    normalised (with the `d` head) when `spectral_norm`. Heads:
    `d` (one real/fake logit) and, through a 128-unit leaky-ReLU layer, `cat`
    (categorical logits), `cont_mean` and optionally `cont_log_std`.
    """
    input_shape = networks.check_input_shape(input_shape, architecture)
    init = _seeded(seed)

    def sn(layer):
        if not spectral_norm:
            return layer
        return layers.SpectralNormalization(layer, name=f"sn_{layer.name}")

    images = keras.Input(shape=input_shape, name="images")
    if architecture == "conv":
        h = images
        for i, (filters, kernel) in enumerate(((32, 4), (32, 4), (64, 2), (64, 2))):
            h = sn(layers.Conv2D(filters, kernel, strides=2, padding="same", name=f"conv{i + 1}",
                                 kernel_initializer=init()))(h)
            h = layers.LeakyReLU(negative_slope=0.1, name=f"lrelu{i + 1}")(h)
        h = layers.Flatten(name="flatten")(h)
        h = sn(layers.Dense(256, name="fc", kernel_initializer=init()))(h)
        h = layers.LeakyReLU(negative_slope=0.1, name="lrelu_fc")(h)
    else:
        h = layers.Flatten(name="flatten")(images)
        for i in range(2):
            h = sn(layers.Dense(1200, name=f"fc{i + 1}", kernel_initializer=init()))(h)
            h = layers.LeakyReLU(negative_slope=0.1, name=f"lrelu_fc{i + 1}")(h)
    outputs = {"d": sn(layers.Dense(1, name="d_logit", kernel_initializer=init()))(h)}
    q = layers.Dense(128, name="q_fc", kernel_initializer=init())(h)
    q = layers.LeakyReLU(negative_slope=0.1, name="q_lrelu")(q)
    if num_categories:
        outputs["cat"] = layers.Dense(num_categories, name="q_cat_logits",
                                      kernel_initializer=init())(q)
    if num_continuous:
        outputs["cont_mean"] = layers.Dense(num_continuous, name="q_cont_mean",
                                            kernel_initializer=init())(q)
        if learn_continuous_std:
            outputs["cont_log_std"] = layers.Dense(num_continuous, name="q_cont_log_std",
                                                   kernel_initializer=init())(q)
    outputs = dict(zip(outputs, networks.float32_outputs(list(outputs.values()), list(outputs))))
    return keras.Model(images, outputs, name=name)


@register("infogan")
@keras.saving.register_keras_serializable(package="kerasdis")
class InfoGAN(ModelTraits, TwoOptimizersMixin, LossTrackersMixin, InputChecksMixin,
              keras.Model):
    """InfoGAN (Chen et al. 2016) for binary images, usable as a representation.

    Losses (batch means, nats): `d_loss` (discriminator cross-entropy, real + fake),
    `g_loss` (non-saturating generator loss) and `info_loss` (−λ·E log Q(c|G(z, c)),
    added to both players); also reports `d_accuracy` (of D on real and fake) and,
    with a categorical code, `q_accuracy` (Q recovers the category). Trains on
    image batches like the VAEs. See the module docstring for the objective.

    **Code layout.** The code vector has `latent_dim = num_categories +
    num_continuous` entries: first the categorical code (a one-hot vector for the
    generator; as a representation, Q's class probabilities), then the continuous
    codes (in `[−1, 1]` for the generator; Q's Gaussian means as a
    representation). The noise `z` is not part of the code.

    **As a representation** (metrics, `kerasdis.viz`, `kerasdis.export`):
    `encode(x)` returns `(mean, log_var)`: `mean` is Q's estimate of the code
    (probabilities, then continuous means) and `log_var` is 0 for the categorical
    entries and Q's log-variance of the continuous codes (0 with the default fixed
    unit std). This is not a posterior: Chen et al.'s MIG and the ELBO
    decomposition are defined on it but not comparable with the VAEs'.
    `decode(codes)` generates from `codes` with the noise fixed at its prior mean
    (zeros) or drawn with `seed`; `reconstruct(x) = decode(encode(x)[0])`;
    `model(x)` is `reconstruct(x)`. Traversals should use `limits=(-1, 1)`.

    Two optimizers: `compile(optimizer=..., discriminator_optimizer=...)` for the
    generator and for the discriminator with Q; both default to the paper's Adam
    (G: 1e-3, D and Q: 2e-4, β1 = 0.5) and both are saved with the model.
    `model.optimizer.iterations` counts training steps.

    Args:
        num_categories: int >= 0. Size of the categorical code (0: none).
            Defaults to `3` (the shapes of dSprites).
        num_continuous: int >= 0. Number of continuous codes. Defaults to `5`:
            the four continuous factors of dSprites (scale, orientation, x, y)
            and one spare, like the 5-10 latents of the β-VAE paper's models.
        noise_dim: int >= 0. Size of the incompressible noise. Defaults to `10`
            (the paper uses 62 for 28x28 MNIST; dSprites has no nuisance beyond
            its five factors, so a modest size suffices).
        input_shape: tuple. Image shape. Defaults to `(64, 64, 1)`.
        architecture: str. `"conv"` (Locatello et al. deconv decoder as G, conv
            encoder layout as D) or `"mlp"`. Defaults to `"conv"`.
        categorical_weight: float. λ of the categorical code. Defaults to `1.0`.
        continuous_weight: float. λ of the continuous codes. Defaults to `0.1`.
        learn_continuous_std: bool. Learn Q's log-std for the continuous codes
            instead of fixing it at 1. Defaults to `False`.
        spectral_norm: bool. Spectral normalisation of D's trunk and logit (see
            the module docstring). Defaults to `True`.
        seed: int or None. Seeds the initial weights and the training noise.
            Defaults to `None`.

    Example:

    ```python
    model = InfoGAN(seed=0)
    model.compile()                      # the paper's two Adam optimizers
    model.fit(ds.as_dataset(64), steps_per_epoch=1000, epochs=5)
    codes, _ = model.encode(x)          # [n, 8]: 3 class probabilities, 5 continuous
    kd.metrics.beta_vae_score(model, ds)
    ```
    """

    uses_learning_rate = False
    tunable = False
    untunable_reason = (
        "InfoGAN trains with the paper's two Adam optimizers (its compile() sets them) and "
        "its latent code is num_categories + num_continuous, so neither the learning rate nor "
        "latent_dim that a search varies applies; train it with `kerasdis train --model infogan`")

    def compile_for_recipe(self, learning_rate, optimizer="adam"):
        if optimizer != "adam":
            raise ValueError(f"InfoGAN trains with the paper's two Adam optimizers; the recipe's "
                             f"`optimizer` must be 'adam', got {optimizer!r}.")
        self.compile()  # the paper's two Adams; the recipe's learning rate is not used

    def __init__(self, num_categories=3, num_continuous=5, noise_dim=10,
                 input_shape=(64, 64, 1), architecture="conv", categorical_weight=1.0,
                 continuous_weight=0.1, learn_continuous_std=False, spectral_norm=True, seed=None,
                 **kwargs):
        num_categories = _check_non_negative_int("num_categories", num_categories)
        num_continuous = _check_non_negative_int("num_continuous", num_continuous)
        noise_dim = _check_non_negative_int("noise_dim", noise_dim)
        if num_categories + num_continuous < 1:
            raise ValueError(
                "InfoGAN needs a code: `num_categories` + `num_continuous` must be >= 1, got "
                f"{num_categories} + {num_continuous}."
            )
        if num_categories == 1:
            raise ValueError("`num_categories` must be 0 (no categorical code) or >= 2, got 1.")
        input_shape = networks.check_input_shape(input_shape, architecture)
        categorical_weight = check_non_negative("categorical_weight", categorical_weight)
        continuous_weight = check_non_negative("continuous_weight", continuous_weight)
        if not isinstance(learn_continuous_std, (bool, np.bool_)):
            raise ValueError(
                f"`learn_continuous_std` must be a bool, got {learn_continuous_std!r}.")
        if not isinstance(spectral_norm, (bool, np.bool_)):
            raise ValueError(f"`spectral_norm` must be a bool, got {spectral_norm!r}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"`seed` must be an int or None, got {seed!r}.")
        super().__init__(**kwargs)

        initial_seed = int(seed) if seed is not None else int(np.random.randint(0, 2**20))
        self.initial_seed = initial_seed

        # === Config ===
        self.num_categories = num_categories
        self.num_continuous = num_continuous
        self.noise_dim = noise_dim
        self.latent_dim = num_categories + num_continuous
        self.image_shape = input_shape
        self.architecture = architecture
        self.likelihood = "bernoulli"
        self.categorical_weight = categorical_weight
        self.continuous_weight = continuous_weight
        self.learn_continuous_std = bool(learn_continuous_std)
        self.spectral_norm = bool(spectral_norm)
        self.seed = None if seed is None else int(seed)
        self.discriminator_optimizer = None

        # === Layers ===
        # G(z, c): the deconv decoder on [noise, categorical one-hot, continuous].
        self.generator = networks.build_decoder(
            input_shape, noise_dim + self.latent_dim, architecture, name="generator",
            seed=3 * initial_seed)
        self.discriminator = build_discriminator(
            input_shape, num_categories, num_continuous, architecture,
            learn_continuous_std=self.learn_continuous_std, spectral_norm=self.spectral_norm,
            seed=3 * initial_seed + 1)

        # === State ===
        self.noise_seed = keras.Variable(initial_seed, trainable=False, dtype="int64",
                                         name="noise_seed")

        names = ["d_loss", "g_loss", "info_loss", "d_accuracy"]
        if num_categories:
            names.append("q_accuracy")
        self.loss_term_names = tuple(names)
        self.loss_trackers = {n: keras.metrics.Mean(name=n) for n in names}
        self.build((None,) + input_shape)

    # ------------------------------------------------------------------ building
    def build(self, input_shape=None):
        self.built = True

    def get_build_config(self):
        return {"input_shape": (None,) + self.image_shape}

    def build_from_config(self, config):
        self.build(config.get("input_shape"))

    # ------------------------------------------------------------- compilation
    def default_optimizers(self):
        """`optimizer` trains G, `discriminator_optimizer` trains D and Q."""
        return default_generator_optimizer(), default_discriminator_optimizer()

    @property
    def optimizer_variables(self):
        return self.generator.trainable_variables, self.discriminator.trainable_variables

    # ----------------------------------------------------------------- priors
    def noise_prior(self):
        """p(z): `Uniform(−1, 1)` per noise dimension (batch shape `[noise_dim]`)."""
        return tfd.Uniform(low=-tf.ones([self.noise_dim]), high=tf.ones([self.noise_dim]))

    def categorical_prior(self):
        """p(c_cat): uniform `OneHotCategorical` over `num_categories` (None without one)."""
        if not self.num_categories:
            return None
        return tfd.OneHotCategorical(logits=tf.zeros([self.num_categories]), dtype=tf.float32)

    def continuous_prior(self):
        """p(c_cont): `Uniform(−1, 1)` per continuous code (None without any)."""
        if not self.num_continuous:
            return None
        return tfd.Uniform(low=-tf.ones([self.num_continuous]),
                           high=tf.ones([self.num_continuous]))

    def sample_latents(self, n, seed):
        """`(noise [n, noise_dim], codes [n, latent_dim])` from the priors.

        `seed`: a stateless seed (shape-[2] int tensor) or an int.
        """
        if isinstance(seed, (int, np.integer)):
            seed = tf.constant([int(seed), 0], tf.int64)
        seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
        # TFP takes int32 stateless seeds.
        seeds = tf.cast(tf.math.floormod(tf.random.experimental.stateless_split(seed, 3),
                                         2**31 - 1), tf.int32)
        noise = self.noise_prior().sample(n, seed=seeds[0])
        parts = []
        if self.num_categories:
            parts.append(self.categorical_prior().sample(n, seed=seeds[1]))
        if self.num_continuous:
            parts.append(self.continuous_prior().sample(n, seed=seeds[2]))
        return noise, tf.concat(parts, axis=1)

    def step_seed(self, stream=0, per_replica=False):
        """A stateless seed `[2]` from `(noise_seed, optimizer step, stream)`."""
        optimizer = getattr(self, "optimizer", None)
        step = optimizer.iterations if optimizer is not None else tf.constant(0, tf.int64)
        seed = tf.stack([tf.cast(self.noise_seed, tf.int64), tf.cast(step, tf.int64)])
        offset = stream * 1024
        if per_replica:
            replica = tf.distribute.get_replica_context()
            offset = offset + (replica.replica_id_in_sync_group if replica is not None else 0)
        return tf.random.experimental.stateless_fold_in(seed, tf.cast(offset, tf.int64))

    # --------------------------------------------------------------- public API
    def _as_images(self, x):
        x = tf.convert_to_tensor(x)
        x = tf.cast(x, "float32") / 255.0 if x.dtype == tf.uint8 else tf.cast(x, "float32")
        shape = tuple(x.shape)
        if len(shape) != 4 or tuple(shape[1:]) != self.image_shape:
            raise ValueError(
                f"`x` must be images of shape [batch, {', '.join(map(str, self.image_shape))}], "
                f"got shape {list(shape)}."
            )
        return x

    def _as_codes(self, codes, name="codes"):
        codes = tf.cast(tf.convert_to_tensor(codes), "float32")
        if codes.shape.rank != 2 or codes.shape[-1] != self.latent_dim:
            raise ValueError(
                f"`{name}` must have shape [batch, {self.latent_dim}] (categorical code, then "
                f"continuous codes), got {list(codes.shape)}."
            )
        return codes

    def q_outputs(self, x, training=False):
        """Discriminator outputs for images: dict with `d` and Q's heads."""
        return self.discriminator(self._as_images(x), training=training)

    def encode(self, x, training=False):
        """Q's code estimate: `(mean, log_var)`, each `[batch, latent_dim]` (see the class)."""
        out = self.q_outputs(x, training=training)
        means, log_vars = [], []
        if self.num_categories:
            probs = tf.nn.softmax(out["cat"], axis=-1)
            means.append(probs)
            log_vars.append(tf.zeros_like(probs))
        if self.num_continuous:
            means.append(out["cont_mean"])
            log_vars.append(2.0 * self._continuous_log_std(out))
        return tf.concat(means, axis=1), tf.concat(log_vars, axis=1)

    def posterior(self, x):
        """`encode(x)` as a `tfd.MultivariateNormalDiag` (not a true posterior)."""
        mean, log_var = self.encode(x)
        return tfd.MultivariateNormalDiag(loc=mean, scale_diag=tf.exp(0.5 * log_var))

    def generator_logits(self, codes, noise=None, training=False):
        """Pixel logits of G for `codes` `[n, latent_dim]` and `noise` (default zeros)."""
        codes = self._as_codes(codes)
        if noise is None:
            noise = tf.zeros([tf.shape(codes)[0], self.noise_dim], codes.dtype)
        else:
            noise = tf.cast(tf.convert_to_tensor(noise), "float32")
            if noise.shape.rank != 2 or noise.shape[-1] != self.noise_dim:
                raise ValueError(
                    f"`noise` must have shape [batch, {self.noise_dim}], got {list(noise.shape)}.")
        return self.generator(tf.concat([noise, codes], axis=1), training=training)

    def likelihood_distribution(self, z, training=False):
        """Bernoulli pixels of G(0, z) (event shape `image_shape`), for the metrics."""
        return losses.observation_distribution(self.generator_logits(z, training=training),
                                               "bernoulli")

    def likelihood_of(self, z):
        return self.likelihood_distribution(z)

    def decode(self, codes, seed=None):
        """Images in [0, 1] generated from `codes`; noise zeros, or drawn from p(z) with `seed`."""
        codes = self._as_codes(codes)
        noise = None
        if seed is not None:
            noise = self.noise_prior().sample(tf.shape(codes)[0],
                                              seed=tf.constant([int(seed), 1], tf.int32))
        return tf.sigmoid(self.generator_logits(codes, noise))

    def reconstruct(self, x):
        """`decode(encode(x)[0])`: the image generated from Q's code estimate."""
        mean, _ = self.encode(x)
        return self.decode(mean)

    def sample(self, n, seed=None):
        """`n` images G(z, c) with noise and codes drawn from the priors (seeded)."""
        n = check_positive_int("n", n)
        seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
        noise, codes = self.sample_latents(n, tf.constant([seed, 2], tf.int64))
        return tf.sigmoid(self.generator_logits(codes, noise))

    def call(self, x, training=False):
        """`model(x)`: `reconstruct(x)`."""
        mean, _ = self.encode(x, training=training)
        return tf.sigmoid(self.generator_logits(mean, training=training))

    # ------------------------------------------------------------- the objective
    def _continuous_log_std(self, out):
        if "cont_log_std" in out:
            return tf.clip_by_value(out["cont_log_std"], *LOG_STD_BOUNDS)
        return tf.zeros_like(out["cont_mean"])

    def info_terms(self, out, codes):
        """`(info_loss, q_accuracy)` of Q's outputs on generated images of `codes`."""
        info = tf.constant(0.0)
        accuracy = None
        if self.num_categories:
            c_cat = codes[:, :self.num_categories]
            q_cat = tfd.OneHotCategorical(logits=out["cat"], dtype=tf.float32)
            info -= self.categorical_weight * tf.reduce_mean(q_cat.log_prob(c_cat))
            accuracy = tf.reduce_mean(tf.cast(tf.equal(
                tf.argmax(out["cat"], axis=1), tf.argmax(c_cat, axis=1)), "float32"))
        if self.num_continuous:
            c_cont = codes[:, self.num_categories:]
            q_cont = tfd.Independent(
                tfd.Normal(out["cont_mean"], tf.exp(self._continuous_log_std(out))), 1)
            info -= self.continuous_weight * tf.reduce_mean(q_cont.log_prob(c_cont))
        return info, accuracy

    def compute_terms(self, x, training=False):
        """All loss terms of a batch of real images (scalars)."""
        n = tf.shape(x)[0]
        noise, codes = self.sample_latents(n, self.step_seed(0, per_replica=True))
        fake = tf.sigmoid(self.generator(tf.concat([noise, codes], axis=1), training=training))
        real_out = self.discriminator(x, training=training)
        fake_out = self.discriminator(fake, training=training)
        d_real, d_fake = real_out["d"][:, 0], fake_out["d"][:, 0]
        bce = tf.nn.sigmoid_cross_entropy_with_logits
        d_loss = (tf.reduce_mean(bce(labels=tf.ones_like(d_real), logits=d_real))
                  + tf.reduce_mean(bce(labels=tf.zeros_like(d_fake), logits=d_fake)))
        g_loss = tf.reduce_mean(bce(labels=tf.ones_like(d_fake), logits=d_fake))
        d_accuracy = 0.5 * (tf.reduce_mean(tf.cast(d_real > 0, "float32"))
                            + tf.reduce_mean(tf.cast(d_fake < 0, "float32")))
        info_loss, q_accuracy = self.info_terms(fake_out, codes)
        terms = {"d_loss": d_loss, "g_loss": g_loss, "info_loss": info_loss,
                 "d_accuracy": d_accuracy}
        if q_accuracy is not None:
            terms["q_accuracy"] = q_accuracy
        return terms

    # ------------------------------------------------------------ Keras plumbing
    def _check_batch(self, x):
        """Real images of a batch, checked as the VAEs' (`GaussianLatentVAE._check_batch`):
        numpy arrays given to `fit`/`evaluate` in Python before any step, tf.data
        batches in the graph (NaN/Inf, and pixels outside [0, 1]: G's are sigmoids)."""
        return assert_valid_batch(self, self._as_images(x))

    def train_step(self, data):
        x = self._check_batch(unpack_images(data))
        if self.discriminator_optimizer is None:
            raise ValueError("InfoGAN.compile() must be called before training.")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        gen_vars = self.generator.trainable_variables
        disc_vars = self.discriminator.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            terms = self.compute_terms(x, training=True)
            # Gradients are summed over replicas: scale so the update equals one device's.
            d_objective = (terms["d_loss"] + terms["info_loss"]) / replicas
            g_objective = (terms["g_loss"] + terms["info_loss"]) / replicas
        d_grads = tape.gradient(d_objective, disc_vars)
        g_grads = tape.gradient(g_objective, gen_vars)
        del tape
        self.discriminator_optimizer.apply(d_grads, disc_vars)
        self.optimizer.apply(g_grads, gen_vars)
        return self._update_trackers(terms)

    def test_step(self, data):
        x = self._check_batch(unpack_images(data))
        return self._update_trackers(self.compute_terms(x, training=False))

    # ------------------------------------------------------------------ presets
    @classmethod
    def from_preset(cls, preset):
        """Loads a preset (zoo name, preset directory or URL); see `kerasdis.zoo`."""
        registry.load_builtins()  # a preset may hold any kerasdis model class
        return preset_files.load(preset, expected_class=cls)

    def save_to_preset(self, preset_dir, metadata=None, overwrite=False):
        """Writes a preset directory (`config.json`, `model.weights.h5`, `metadata.json`)."""
        return preset_files.save_to_preset(self, preset_dir, metadata=metadata, overwrite=overwrite)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_categories": self.num_categories,
            "num_continuous": self.num_continuous,
            "noise_dim": self.noise_dim,
            "input_shape": list(self.image_shape),
            "architecture": self.architecture,
            "categorical_weight": self.categorical_weight,
            "continuous_weight": self.continuous_weight,
            "learn_continuous_std": self.learn_continuous_std,
            "spectral_norm": self.spectral_norm,
            "seed": self.seed,
        })
        return config
