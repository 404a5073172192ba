"""FactorVAE: Kim & Mnih 2018, "Disentangling by Factorising".

A discriminator D tells samples of q(z) from samples of prod_j q(z_j), obtained by
permuting every latent dimension independently across a batch (Algorithm 1,
`permute_dims`). Its logit difference estimates the total correlation (density
ratio trick), which the VAE is penalised with (Eq. 2):

    VAE loss  = reconstruction + KL + γ · E_q(z)[log D(z) − log(1 − D(z))]
    D loss    = −½ (E_q(z)[log D(z)] + E_perm[log(1 − D(z̃))])

Which codes the discriminator sees (`discriminator_samples`):

- `"split"` (default): the batch's codes are split in two halves; the first half
  are the "real" samples, the second half is permuted to make the "fake" ones, so
  the permuted codes are independent of the real ones (as Kim & Mnih's second batch
  x^(j) in Algorithm 1), but the discriminator sees m/2 of each per batch of m.
- `"batch"`: every code of the batch is a real sample and a permutation of all of
  them the fake ones: m of each per batch of m, as in Algorithm 1, the permuted
  codes drawn from the same batch (disentanglement_lib's `shuffle_codes`).
"""

import keras
import tensorflow as tf

from kerasdis import networks
from kerasdis.models.base import (
    GaussianLatentVAE,
    TwoOptimizersMixin,
    check_non_negative,
    check_positive_int,
    recipe_optimizer,
    unpack_images,
)
from kerasdis.models.registry import register


def permute_dims(z, seed=(0, 0)):
    """Permutes each column of `z` `[B, D]` independently over the batch (Kim & Mnih, Alg. 1).

    `seed` is a stateless seed: an int or a shape-[2] integer tensor.
    """
    if isinstance(seed, int):
        seed = (seed, 0)
    noise = tf.random.stateless_uniform(tf.shape(z), seed=seed)
    order = tf.argsort(noise, axis=0)
    return tf.transpose(tf.gather(tf.transpose(z), tf.transpose(order), batch_dims=1))


def default_vae_optimizer():
    return keras.optimizers.Adam(1e-4, beta_1=0.9, beta_2=0.999)


DISCRIMINATOR_LEARNING_RATE = 1e-4  # Kim & Mnih's, whatever the VAE's rate
DISCRIMINATOR_SAMPLES = ("split", "batch")  # see the module docstring


def default_discriminator_optimizer(learning_rate=None):
    return keras.optimizers.Adam(learning_rate or DISCRIMINATOR_LEARNING_RATE,
                                 beta_1=0.5, beta_2=0.9)


@register("factor_vae")
@keras.saving.register_keras_serializable(package="kerasdis")
class FactorVAE(TwoOptimizersMixin, GaussianLatentVAE):
    """FactorVAE (Kim & Mnih 2018, Eq. 2) with its total-correlation discriminator.

    Loss per image (batch mean, nats): `reconstruction + kl + gamma * tc`, where
    `tc` is the discriminator's estimate mean(logit_real − logit_fake). Reports
    `loss`, `reconstruction`, `kl`, `tc`, `disc_loss` and `disc_accuracy`.

    Two optimizers: `compile(optimizer=..., discriminator_optimizer=...)`; both
    default to the paper's Adam settings (VAE: 1e-4, β=(0.9, 0.999);
    discriminator: 1e-4, β=(0.5, 0.9)) and both are saved with the model.
    `model.optimizer.iterations` counts training steps (one VAE and one
    discriminator update each). disentanglement_lib's FactorVAE passes its global
    step to both optimizers' `minimize` (`methods/unsupervised/vae.py`), so its
    counter advances twice per training step: the 300,000 steps of Locatello et
    al. (2019) are 150,000 of these. Batches need at least 4 images (two halves of
    at least 2).

    Args:
        latent_dim: int. Number of latent dimensions. Defaults to `10`.
        gamma: float. Weight of the total correlation. Defaults to `35.0`
            (Kim & Mnih's dSprites setting is γ = 35; disentanglement_lib sweeps 10-100).
        discriminator_units: int. Width of the 6 hidden layers. Defaults to `1000`.
        discriminator_samples: `"split"` or `"batch"`: which codes of a batch the
            discriminator sees (module docstring). Defaults to `"split"`.
        input_shape, architecture, likelihood, seed: as `kerasdis.models.VAE`.
    """

    searched_weight = "gamma"
    searched_range = (10.0, 100.0)
    annealed_variable = "gamma"
    min_batch_size = 4
    uses_discriminator_learning_rate = True

    loss_term_names = ("loss", "reconstruction", "kl", "tc", "disc_loss", "disc_accuracy")

    def __init__(self, latent_dim=10, gamma=35.0, discriminator_units=1000,
                 input_shape=(64, 64, 1), architecture="conv", likelihood="bernoulli",
                 seed=None, discriminator_samples="split", **kwargs):
        kwargs.pop("beta", None)
        # === Config ===
        self.initial_gamma = check_non_negative("gamma", gamma)
        self.discriminator_units = check_positive_int("discriminator_units", discriminator_units)
        if discriminator_samples not in DISCRIMINATOR_SAMPLES:
            raise ValueError(f"`discriminator_samples` must be one of {DISCRIMINATOR_SAMPLES}, "
                             f"got {discriminator_samples!r}.")
        self.discriminator_samples = discriminator_samples
        self.discriminator_optimizer = None
        super().__init__(latent_dim=latent_dim, input_shape=input_shape,
                         architecture=architecture, likelihood=likelihood, beta=1.0,
                         seed=seed, **kwargs)

    def compile_for_recipe(self, learning_rate, optimizer="adam", discriminator_learning_rate=None):
        """Compiles the VAE with the recipe's optimizer at `learning_rate` and the
        discriminator with the paper's Adam (β = 0.5, 0.9) at `discriminator_learning_rate`
        (None: the paper's 1e-4, whatever the VAE's rate; Kim & Mnih train both at 1e-4)."""
        self.compile(optimizer=recipe_optimizer(optimizer, learning_rate),
                     discriminator_optimizer=default_discriminator_optimizer(
                         discriminator_learning_rate))

    def create_objective_state(self):
        # === Layers ===
        self.discriminator = networks.build_discriminator(
            self.latent_dim, units=self.discriminator_units, seed=3 * self.initial_seed + 2
        )
        # === State ===
        self.gamma = keras.Variable(self.initial_gamma, trainable=False, dtype="float32",
                                    name="gamma")

    # ------------------------------------------------------------- compilation
    def default_optimizers(self):
        return default_vae_optimizer(), default_discriminator_optimizer()

    @property
    def optimizer_variables(self):
        return self.vae_variables, self.discriminator.trainable_variables

    @property
    def vae_variables(self):
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    # ---------------------------------------------------------------- training
    def _check_batch(self, x):
        x = super()._check_batch(x)
        if x.shape[0] is not None and x.shape[0] < 4:
            raise ValueError(
                f"FactorVAE needs batches of at least 4 images (two halves), got {x.shape[0]}."
            )
        return x

    def regularization_terms(self, x, outputs, training=False):
        z = outputs["z"]
        seed = self.step_seed(1, per_replica=True)
        z_fixed = tf.stop_gradient(z)
        if self.discriminator_samples == "split":
            # real = first half, fake = the permuted second half
            half = tf.shape(z)[0] // 2
            logits_real = self.discriminator(z, training=training)
            z_fake = permute_dims(z_fixed[half : 2 * half], seed=seed)
            logits = self.discriminator(tf.concat([z_fixed[:half], z_fake], axis=0),
                                        training=training)
            num_real = num_fake = half
        else:
            # real = the whole batch, fake = its permutation: one pass over both; the
            # discriminator's loss is minimised over its own weights only, so the real
            # logits serve both it and the VAE's total-correlation term
            num_real = num_fake = tf.shape(z)[0]
            logits = self.discriminator(tf.concat([z, permute_dims(z_fixed, seed=seed)], axis=0),
                                        training=training)
            logits_real = logits[:num_real]
        tc = tf.reduce_mean(logits_real[:, 0] - logits_real[:, 1])
        labels = tf.concat([tf.zeros([num_real], tf.int32), tf.ones([num_fake], tf.int32)],
                           axis=0)
        disc_loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        )
        accuracy = tf.reduce_mean(
            tf.cast(tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), labels), "float32")
        )
        return {"tc": tc, "disc_loss": disc_loss, "disc_accuracy": accuracy}

    def total_loss(self, terms):
        return terms["reconstruction"] + terms["kl"] + self.gamma * terms["tc"]

    def train_step(self, data):
        x = self._check_batch(unpack_images(data))
        if self.discriminator_optimizer is None:
            raise ValueError("FactorVAE.compile() must be called before training.")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        vae_vars = self.vae_variables
        disc_vars = self.discriminator.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            terms = self.compute_terms(x, training=True)
            vae_loss = terms["loss"] / replicas
            disc_loss = terms["disc_loss"] / replicas
        vae_grads = tape.gradient(vae_loss, vae_vars)
        disc_grads = tape.gradient(disc_loss, disc_vars)
        del tape
        self.optimizer.apply(vae_grads, vae_vars)
        self.discriminator_optimizer.apply(disc_grads, disc_vars)
        return self._update_trackers(terms)

    def get_config(self):
        config = super().get_config()
        config.pop("beta", None)
        config.update({"gamma": self.initial_gamma,
                       "discriminator_units": self.discriminator_units,
                       "discriminator_samples": self.discriminator_samples})
        return config
