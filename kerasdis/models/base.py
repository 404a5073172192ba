"""Shared machinery of the Gaussian-latent VAE family.

A `GaussianLatentVAE` owns an encoder (images -> mean and log-variance of a
diagonal Gaussian q(z|x)), a decoder (z -> logits of p(x|z)), the standard-normal
prior p(z) and a custom `train_step`. Subclasses change only the objective by
overriding `regularization_terms` and `total_loss`.

Losses are the batch mean of per-image sums, in nats, as in the papers: the
`reconstruction` metric is -E_q log p(x|z) per image and `kl` is
KL(q(z|x) || p(z)) per image (Kingma & Welling 2014, Eq. 10).
"""

import numpy as np
import keras
import tensorflow as tf
import tensorflow_probability as tfp

from kerasdis import distribute
from kerasdis import losses
from kerasdis import networks
from kerasdis import preset as preset_files
from kerasdis.models import registry

tfd = tfp.distributions

# Log-variances are clipped to this range before use: it keeps exp(log_var) finite
# for large beta, tiny batches and long runs (std from 4.5e-5 to 148).
LOG_VAR_BOUNDS = (-20.0, 10.0)


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def check_non_negative(name, value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.") from None
    if not np.isfinite(number) or number < 0:
        raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.")
    return number


def unpack_images(data):
    """Returns the images of a batch given as `x`, `(x,)`, `(x, y)` or `(x, y, w)`."""
    x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    return x


def _check_not_empty(x):
    if isinstance(x, tf.data.Dataset):
        if int(x.cardinality()) == 0:
            raise ValueError("`x` is an empty tf.data.Dataset; expected batches of images.")
        return
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) > 0 and shape[0] == 0:
        raise ValueError(f"`x` is empty (shape {tuple(shape)}); expected at least one image.")


BOUNDED_LIKELIHOODS = ("bernoulli", "continuous_bernoulli")


def _first_bad_pixel(arr, bad):
    """`(value, location text)` of the first pixel where `bad(arr)` holds."""
    for i in range(arr.shape[0]):
        hits = np.argwhere(bad(arr[i]))
        if hits.size:
            where = tuple(int(j) for j in hits[0])
            return arr[i][where], f"image {i}, pixel {where}"
    return None, "?"


def check_image_array(images, name="x", likelihood="bernoulli"):
    """Checks a numpy array of images at the Python boundary; raises `ValueError`.

    Finite pixel values always; in [0, 1] for the likelihoods whose pixels are
    probabilities (`BOUNDED_LIKELIHOODS`). uint8 and bool arrays are valid (kerasdis
    scales uint8 by 1/255). This is the check `_check_batch` makes inside the graph,
    made on the whole array before Keras starts. Other inputs (tf.data, generators,
    Keras PyDatasets) are left to that in-graph check.
    """
    if tf.is_tensor(images):
        if not hasattr(images, "numpy"):
            return  # a symbolic tensor: checked in the graph
        arr = images.numpy()
    elif isinstance(images, np.ndarray):
        arr = images
    else:
        return
    if arr.dtype == np.uint8 or arr.dtype == np.bool_ or arr.size == 0:
        return
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"`{name}` must hold numeric pixel values, got dtype {arr.dtype}.")
    bounded = likelihood in BOUNDED_LIKELIHOODS
    expected = (f"pixel values in [0, 1] for likelihood='{likelihood}' (float images; "
                "uint8 images in [0, 255] are scaled by 1/255)" if bounded
                else "finite pixel values")
    lo, hi = arr.min(), arr.max()  # NaN propagates through min and max
    if arr.dtype.kind == "f" and not (np.isfinite(lo) and np.isfinite(hi)):
        value, where = _first_bad_pixel(arr, lambda a: ~np.isfinite(a))
        raise ValueError(f"`{name}` holds the pixel value {value} ({where}); expected {expected}.")
    if bounded and (lo < 0 or hi > 1):
        value, where = _first_bad_pixel(arr, lambda a: (a < 0) | (a > 1))
        hint = (" They look like 0..255 pixel values: divide by 255, or pass uint8 images."
                if hi > 1 and hi <= 255 and lo >= 0 else "")
        raise ValueError(
            f"`{name}` holds pixel values in [{lo:g}, {hi:g}] (first outside: {value:g} at "
            f"{where}); expected {expected}.{hint}")


def assert_valid_batch(model, x):
    """The in-graph check of a batch of float32 images `x` (see `_check_batch`)."""
    optimizer = getattr(model, "optimizer", None)
    step = optimizer.iterations if optimizer is not None else tf.constant(-1, tf.int64)
    finite = tf.reduce_all(tf.math.is_finite(x))
    tf.debugging.Assert(finite, ["kerasdis: argument `x` holds NaN or Inf pixels in the "
                                 "batch of optimizer step", step])
    if model.likelihood in BOUNDED_LIKELIHOODS:
        # A NaN batch fails only the NaN check above (the two asserts run unordered).
        inside = tf.logical_or(tf.logical_not(finite), tf.logical_and(
            tf.reduce_min(x) >= 0.0, tf.reduce_max(x) <= 1.0))
        tf.debugging.Assert(inside, [
            f"kerasdis: argument `x` must hold pixels in [0, 1] for likelihood="
            f"'{model.likelihood}'; the batch of optimizer step", step,
            "has min", tf.reduce_min(x), "max", tf.reduce_max(x)])
    return x


def update_trackers(trackers, terms):
    """Feeds each `keras.metrics.Mean` of `trackers` its term; returns the step logs."""
    for name, tracker in trackers.items():
        tracker.update_state(terms[name])
    logs = {name: tracker.result() for name, tracker in trackers.items()}
    if distribute.is_multi_worker():
        # Keras 3 reduces multi-worker step logs with strategy.reduce(MEAN, v, axis=0),
        # which needs rank >= 1 (tensorflow/tensorflow#72388).
        logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
    return logs


class LossTrackersMixin:
    """`metrics` and step logs from `self.loss_trackers`, a dict of `keras.metrics.Mean`."""

    @property
    def metrics(self):
        return list(self.loss_trackers.values())

    def _update_trackers(self, terms):
        return update_trackers(self.loss_trackers, terms)


class InputChecksMixin:
    """`fit` and `evaluate` that check numpy images before Keras starts.

    Arrays (numpy or eager tensors) given as `x`, as the images of a pair model's
    `y` (`y_is_images`), or in `validation_data` are checked with
    `check_image_array` for the model's `likelihood`: NaN/Inf pixels, and pixels
    outside [0, 1] for the Bernoulli likelihoods, raise a `ValueError` naming the
    argument, the offending value and the expected range before any step runs.
    A `tf.data.Dataset` (or a generator) cannot be checked up front: its batches
    are checked inside the step (`_check_batch`), which stops `fit` with a
    `tf.errors.InvalidArgumentError` naming the optimizer step of the bad batch.
    `fit` also refuses empty data (Keras would only warn).
    """

    y_is_images = False  # True for models whose `fit(x, y)` takes image pairs

    def _check_image_inputs(self, x, y, validation_data=None):
        likelihood = getattr(self, "likelihood", "bernoulli")
        arrays = [("x", x)]
        if isinstance(x, (tuple, list)) and self.y_is_images:
            arrays = [(f"x[{i}]", part) for i, part in enumerate(x)]
        if self.y_is_images:
            arrays.append(("y", y))
        if validation_data is not None and not isinstance(validation_data, tf.data.Dataset):
            if isinstance(validation_data, (tuple, list)):
                parts = validation_data[:2] if self.y_is_images else validation_data[:1]
                arrays += [(f"validation_data[{i}]", part) for i, part in enumerate(parts)]
            else:
                arrays.append(("validation_data", validation_data))
        for name, images in arrays:
            check_image_array(images, name, likelihood)

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, refusing empty data and bad numpy images up front."""
        _check_not_empty(x)
        self._check_image_inputs(x, y, kwargs.get("validation_data"))
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.evaluate`, refusing bad numpy images up front."""
        self._check_image_inputs(x, y)
        return super().evaluate(x, y, *args, **kwargs)


class TwoOptimizersMixin:
    """`compile(optimizer, discriminator_optimizer)` for adversarial models, with both
    optimizers saved in `.keras` files and restored (FactorVAE, InfoGAN).

    Subclasses define `default_optimizers()` -> `(optimizer, discriminator_optimizer)`
    and the property `optimizer_variables` -> `(variables of optimizer, variables of
    discriminator_optimizer)`.
    """

    def compile(self, optimizer=None, discriminator_optimizer=None, **kwargs):
        default, default_discriminator = self.default_optimizers()
        optimizer = keras.optimizers.get(optimizer) if optimizer else default
        discriminator_optimizer = (keras.optimizers.get(discriminator_optimizer)
                                   if discriminator_optimizer else default_discriminator)
        super().compile(optimizer=optimizer, **kwargs)
        self.discriminator_optimizer = discriminator_optimizer

    def get_compile_config(self):
        config = super().get_compile_config() or {}
        config["discriminator_optimizer"] = keras.saving.serialize_keras_object(
            self.discriminator_optimizer)
        return config

    def compile_from_config(self, config):
        config = dict(config)
        optimizer = keras.saving.deserialize_keras_object(config.pop("optimizer", None))
        disc = keras.saving.deserialize_keras_object(config.pop("discriminator_optimizer", None))
        self.compile(optimizer=optimizer, discriminator_optimizer=disc)
        # Build both so the saved optimizer states can be loaded into them.
        main_variables, discriminator_variables = self.optimizer_variables
        self.optimizer.build(main_variables)
        self.discriminator_optimizer.build(discriminator_variables)


def recipe_optimizer(name, learning_rate):
    """The Keras optimizer that a recipe's `optimizer` names, at `learning_rate`.

    - `"adam"`: `keras.optimizers.Adam`, the kerasdis recipes' default.
    - `"adagrad"`: `keras.optimizers.Adagrad` as Keras defines it: its accumulators of
      squared gradients start at 0.1 (TensorFlow's convention).
    - `"adagrad_zero_init"`: Adagrad as Duchi, Hazan & Singer (2011, JMLR, "Adaptive
      Subgradient Methods") define it, and as Torch7's `optim.adagrad` and PyTorch's
      `torch.optim.Adagrad` implement it: the accumulators start at 0, so the first
      step moves every weight by about the learning rate whatever the size of its
      gradient (`epsilon=1e-20` inside Keras's square root: 1e-10 for an empty
      accumulator, Torch7's constant). From a start at 0.1, a weight whose gradients
      are much smaller than √0.1 moves 1 / √0.1 ≈ 3.2 times its gradient times the
      learning rate instead, until its squared gradients add up to about 0.1.
      The β-VAE paper (Higgins et al. 2017, appendix) trains its 2D shapes networks
      with "Adagrad, 1e-2" without naming an implementation; `benchmarks/higgins_table.py`
      uses this one.
    """
    optimizers = {
        "adam": keras.optimizers.Adam,
        "adagrad": keras.optimizers.Adagrad,
        "adagrad_zero_init": lambda lr: keras.optimizers.Adagrad(
            lr, initial_accumulator_value=0.0, epsilon=1e-20),
    }
    if name not in optimizers:
        raise ValueError(f"`optimizer` must be one of {sorted(optimizers)}, got {name!r}.")
    return optimizers[name](learning_rate)


class ModelTraits:
    """What kerasdis needs to know about a registered model, as class attributes.

    Training, tuning, the zoo and the command line read these instead of keeping
    per-model tables; a subclass overrides what differs (see
    `kerasdis.models.registry`).

    Attributes:
        registered_name: the registry name (set by `kd.models.register`).
        training_data: what a training step consumes: `"images"` (image batches),
            `"single_factor"` (`(images, k)` batches where only factor k varies,
            `kerasdis.data.single_factor_batches`), `"pairs"` (`(x1, x2)` batches of
            pairs that differ in a few factors, `kerasdis.data.paired_batches`).
            `training_batches` returns that stream.
        searched_weight: the constructor argument a tuner searches as `"beta"` (the
            objective's weight), or None if the objective has none.
        searched_range: `(lo, hi)`, the default search range of that weight.
        annealed_variable: the non-trainable variable `WeightAnnealing` can warm
            up, or None when the weight is a constant.
        min_batch_size: the smallest batch the objective's estimators accept.
        tunable: False when a tuner cannot search the model; `untunable_reason` says why.
        uses_learning_rate: False when the model's `compile()` sets its own optimizers.
        uses_discriminator_learning_rate: True when `compile_for_recipe` takes a
            `discriminator_learning_rate` (FactorVAE; InfoGAN sets its own optimizers).
    """

    registered_name = None
    training_data = "images"
    searched_weight = None
    searched_range = None
    annealed_variable = None
    min_batch_size = 1
    tunable = True
    untunable_reason = None
    uses_learning_rate = True
    uses_discriminator_learning_rate = False

    @classmethod
    def from_config(cls, config):
        """Rebuilds the model under the dtype policy it was saved with.

        The networks are built in `__init__` under the global policy; building them
        under the saved one makes a mixed-precision model reload computing in
        bfloat16 whatever the global policy is when it is loaded.
        """
        if config.get("dtype") is None:
            return super().from_config(config)
        with networks.global_dtype_policy(config["dtype"]):
            return super().from_config(config)

    @classmethod
    def dataset_args(cls, dataset):
        """Constructor arguments that follow from the training dataset."""
        return {"input_shape": tuple(dataset.observation_shape)}

    @classmethod
    def run_args(cls, total_steps):
        """Constructor defaults that follow from the length of a run (or a trial)."""
        return {}

    def training_batches(self, dataset, batch_size, seed, first_step=0):
        """The `tf.data` stream a run of this model trains on; batch s is a function of
        `(seed, s)`, so a resumed run sees the batches it would have seen."""
        from kerasdis.data.streams import training_batches

        return training_batches(dataset, batch_size, seed, first_step=first_step)

    def compile_for_recipe(self, learning_rate, optimizer="adam"):
        """Compiles with the recipe's optimizer at its learning rate
        (`recipe_optimizer`: `"adam"`, the default of the kerasdis recipes, `"adagrad"`
        or `"adagrad_zero_init"`)."""
        self.compile(optimizer=recipe_optimizer(optimizer, learning_rate))


@keras.saving.register_keras_serializable(package="kerasdis")
class GaussianLatentVAE(ModelTraits, LossTrackersMixin, InputChecksMixin, keras.Model):
    """Base class: VAE with a diagonal Gaussian posterior and a N(0, I) prior.

    Loss (per image, batch mean): `reconstruction + beta * kl`. Subclasses add
    terms; every term is reported as a Keras metric.

    Args:
        latent_dim: int. Number of latent dimensions. Defaults to `10`.
        input_shape: tuple. Image shape `(H, W, C)`. Defaults to `(64, 64, 1)`.
        architecture: str. `"conv"` (Locatello et al. 2019) or `"mlp"` (Chen et al.
            2018). Defaults to `"conv"`.
        likelihood: str. `"bernoulli"`, `"gaussian"` (fixed scale
            `kerasdis.losses.GAUSSIAN_SCALE`) or `"continuous_bernoulli"`.
            Defaults to `"bernoulli"`.
        beta: float. Weight of the KL term, kept as a non-trainable variable
            `self.beta` that callbacks may change. Defaults to `1.0`.
        seed: int or None. Seed of the reparameterisation noise. Defaults to `None`.
    """

    loss_term_names = ("loss", "reconstruction", "kl")

    def __init__(
        self,
        latent_dim=10,
        input_shape=(64, 64, 1),
        architecture="conv",
        likelihood="bernoulli",
        beta=1.0,
        seed=None,
        **kwargs,
    ):
        latent_dim = check_positive_int("latent_dim", latent_dim)
        input_shape = networks.check_input_shape(input_shape, architecture)
        losses.check_likelihood(likelihood)
        beta = check_non_negative("beta", beta)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"`seed` must be an int or None, got {seed!r}.")
        super().__init__(**kwargs)

        # `seed` fixes the initial weights and all training noise; None draws one.
        initial_seed = int(seed) if seed is not None else int(np.random.randint(0, 2**20))
        self.initial_seed = initial_seed

        # === Layers ===
        self.encoder = networks.build_encoder(input_shape, latent_dim, architecture,
                                              seed=3 * initial_seed)
        self.decoder = networks.build_decoder(input_shape, latent_dim, architecture,
                                              seed=3 * initial_seed + 1)

        # === State ===
        self.beta = keras.Variable(beta, trainable=False, dtype="float32", name="beta")
        # Noise is drawn with stateless ops from (noise_seed, optimizer step), so a
        # resumed or reloaded run draws exactly the noise it would have drawn.
        self.noise_seed = keras.Variable(initial_seed, trainable=False, dtype="int64",
                                         name="noise_seed")

        # === Config ===
        self.latent_dim = latent_dim
        self.image_shape = input_shape
        self.architecture = architecture
        self.likelihood = likelihood
        self.initial_beta = beta
        self.seed = None if seed is None else int(seed)

        self.loss_trackers = {n: keras.metrics.Mean(name=n) for n in self.loss_term_names}
        self.create_objective_state()
        self.build((None,) + input_shape)

    def create_objective_state(self):
        """Creates a subclass's own layers and variables (before the model is built)."""

    # ------------------------------------------------------------------ building
    def build(self, input_shape=None):
        # Sub-networks are functional models, built at construction.
        self.built = True

    def get_build_config(self):
        return {"input_shape": (None,) + self.image_shape}

    def build_from_config(self, config):
        self.build(config.get("input_shape"))

    # --------------------------------------------------------------- public API
    def _as_images(self, x):
        x = tf.convert_to_tensor(x)
        if x.dtype == tf.uint8:
            x = tf.cast(x, "float32") / 255.0  # uint8 images are accepted and scaled to [0, 1]
        else:
            x = tf.cast(x, "float32")
        shape = tuple(x.shape)
        if len(shape) != 4 or tuple(shape[1:]) != self.image_shape:
            raise ValueError(
                f"`x` must be images of shape [batch, {', '.join(map(str, self.image_shape))}], "
                f"got shape {list(shape)}."
            )
        return x

    def encode(self, x, training=False):
        """Posterior parameters: returns `(mean, log_var)`, each `[batch, latent_dim]`."""
        mean, log_var = self.encoder(self._as_images(x), training=training)
        return mean, tf.clip_by_value(log_var, *LOG_VAR_BOUNDS)

    def posterior(self, x):
        """q(z|x) as a `tfd.MultivariateNormalDiag` with batch shape `[batch]`."""
        mean, log_var = self.encode(x)
        return tfd.MultivariateNormalDiag(loc=mean, scale_diag=tf.exp(0.5 * log_var))

    def prior(self):
        """p(z) = N(0, I) as a `tfd.MultivariateNormalDiag`."""
        return tfd.MultivariateNormalDiag(loc=tf.zeros([self.latent_dim]))

    def likelihood_distribution(self, z, training=False):
        """p(x|z) over whole images (event shape `input_shape`)."""
        z = tf.cast(tf.convert_to_tensor(z), "float32")
        if z.shape.rank != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"`z` must have shape [batch, {self.latent_dim}], got {list(z.shape)}."
            )
        return losses.observation_distribution(self.decoder(z, training=training), self.likelihood)

    # Name used by the metrics package.
    def likelihood_of(self, z):
        return self.likelihood_distribution(z)

    def decode(self, z):
        """Image means in [0, 1] for latents `z` `[batch, latent_dim]`."""
        return self.likelihood_distribution(z).mean()

    def reconstruct(self, x):
        """Decoded posterior means: the deterministic reconstruction of `x`."""
        mean, _ = self.encode(x)
        return self.decode(mean)

    def sample(self, n, seed=None):
        """Decodes `n` draws from the prior; `seed` makes them reproducible."""
        n = check_positive_int("n", n)
        z = keras.random.normal((n, self.latent_dim), seed=seed)
        return self.decode(z)

    def call(self, x, training=False):
        """`model(x)` reconstructs `x` from the posterior mean."""
        mean, _ = self.encode(x, training=training)
        return self.likelihood_distribution(mean, training=training).mean()

    # ------------------------------------------------------------- the objective
    def step_seed(self, stream=0, per_replica=False):
        """A stateless seed `[2]` for the current optimizer step and `stream`.

        With `per_replica=True` the replica id is folded in, so replicas differ.
        """
        optimizer = getattr(self, "optimizer", None)
        step = optimizer.iterations if optimizer is not None else tf.constant(0, tf.int64)
        seed = tf.stack([tf.cast(self.noise_seed, tf.int64), tf.cast(step, tf.int64)])
        offset = stream * 1024
        if per_replica:
            replica = tf.distribute.get_replica_context()
            offset = offset + (replica.replica_id_in_sync_group if replica is not None else 0)
        return tf.random.experimental.stateless_fold_in(seed, tf.cast(offset, tf.int64))

    def reparameterize(self, mean, log_var):
        """z = mean + std * eps, eps ~ N(0, I) drawn statelessly from the step seed.

        Under `tf.distribute` each replica draws the noise of the whole global batch
        and keeps its own slice (batches are split contiguously), so a replicated
        step sees exactly the noise of the same step on one device.
        """
        strategy = tf.distribute.get_strategy()
        replicas = strategy.num_replicas_in_sync
        if replicas == 1:
            eps = tf.random.stateless_normal(tf.shape(mean), seed=self.step_seed(0),
                                             dtype=mean.dtype)
        else:
            replica_id = tf.distribute.get_replica_context().replica_id_in_sync_group
            local = tf.shape(mean)[0]
            eps = tf.random.stateless_normal([local * replicas, tf.shape(mean)[1]],
                                             seed=self.step_seed(0), dtype=mean.dtype)
            eps = eps[replica_id * local:(replica_id + 1) * local]
        return mean + tf.exp(0.5 * log_var) * eps

    def forward(self, x, training=False):
        """One stochastic pass: posterior parameters, a sample z and the decoder logits."""
        mean, log_var = self.encode(x, training=training)
        z = self.reparameterize(mean, log_var)
        logits = self.decoder(z, training=training)
        return {"mean": mean, "log_var": log_var, "z": z, "logits": logits}

    def regularization_terms(self, x, outputs, training=False):
        """Extra terms of a subclass's objective (dict of scalars). None here."""
        return {}

    def total_loss(self, terms):
        """The objective from the named terms (batch means). Here: rec + beta * kl."""
        return terms["reconstruction"] + self.beta * terms["kl"]

    def compute_terms(self, x, training=False):
        """All loss terms of a batch as scalars, including `loss`."""
        outputs = self.forward(x, training=training)
        nll = losses.negative_log_likelihood(x, outputs["logits"], self.likelihood)
        terms = {
            "reconstruction": tf.reduce_mean(nll),
            "kl": tf.reduce_mean(losses.gaussian_kl(outputs["mean"], outputs["log_var"])),
        }
        terms.update(self.regularization_terms(x, outputs, training=training))
        terms["loss"] = self.total_loss(terms)
        return terms

    # ------------------------------------------------------------ Keras plumbing
    def _check_batch(self, x):
        """Checks a training/test batch; returns float32 images.

        The shape is checked when the step is traced (a `ValueError` before any
        training). Numpy arrays given to `fit`/`evaluate` have already been checked
        in Python (`InputChecksMixin`, a `ValueError` before any step). For inputs
        that cannot be checked up front (a `tf.data.Dataset`, a generator) the values
        are checked in the graph at every step: NaN or Inf pixels, and pixels outside
        [0, 1] for the Bernoulli likelihoods, stop `fit` with a
        `tf.errors.InvalidArgumentError` whose message gives the optimizer step of
        the offending batch. The checks cost two reductions per batch.
        """
        return assert_valid_batch(self, self._as_images(x))

    def train_step(self, data):
        x = self._check_batch(unpack_images(data))
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            terms = self.compute_terms(x, training=True)
            # Gradients are summed over replicas: scale so the update equals one device's.
            scaled_loss = terms["loss"] / replicas
        grads = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._update_trackers(terms)

    def test_step(self, data):
        x = self._check_batch(unpack_images(data))
        return self._update_trackers(self.compute_terms(x, training=False))

    # ------------------------------------------------------------------ presets
    @classmethod
    def from_preset(cls, preset):
        """Loads a preset: a zoo name (`kd.zoo.list()`), a preset directory, or a URL.

        The weights' sha256 is verified; the loaded model must be an instance of `cls`.
        """
        registry.load_builtins()  # a preset may hold any kerasdis model class
        return preset_files.load(preset, expected_class=cls)

    def save_to_preset(self, preset_dir, metadata=None, overwrite=False):
        """Writes a preset directory (`config.json`, `model.weights.h5`, `metadata.json`)."""
        return preset_files.save_to_preset(self, preset_dir, metadata=metadata, overwrite=overwrite)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "latent_dim": self.latent_dim,
                "input_shape": list(self.image_shape),
                "architecture": self.architecture,
                "likelihood": self.likelihood,
                "beta": self.initial_beta,
                "seed": self.seed,
            }
        )
        return config
