"""DC-IGN: Kulkarni et al. 2015, "Deep Convolutional Inverse Graphics Network".

A VAE trained with weak supervision: every training batch varies a single
ground-truth factor `k` (see `kerasdis.data.weak_supervision`), and each factor
owns some latent dimensions (`factor_dims`). For a batch in which factor `k`
varies, the latents owned by every *other* factor are clamped (Sec. 3.2):

- forward: their value, for every image of the batch, is the batch average of
  the posterior means, `z̄_j = mean_i mu_ij`, so the decoder must explain the
  whole variation of the batch with the latents of factor `k` (and the free ones);
- backward: their gradient is replaced by their difference from that average,
  `dL/dmu_ij = (mu_ij − z̄_j) / B`, which pulls them to be invariant within the
  batch. No decoder gradient reaches the encoder through a clamped unit.

This is implemented with the stop-gradient trick: the decoder receives
`stop_gradient(z̄)` for the clamped units, and the objective gets the
invariance term `invariance = ½ · mean_i Σ_{j clamped} (mu_ij − stop_gradient(z̄_j))²`,
whose gradient with respect to `mu_ij` is exactly `(mu_ij − z̄_j) / B`. The paper
states the gradient as `z_i − z̄` for its per-image (summed) loss; the `1/B` is the
same rule under kerasdis' convention of batch-mean losses, and being part of the
loss it is scaled like every other term under `tf.distribute`. The clamped
value uses the posterior means (no reparameterisation noise), so the clamped
dimensions of `z` are exactly equal across the batch.

Loss per image (batch mean, nats): `reconstruction + beta * kl + invariance_weight * invariance`;
the KL covers all latents.

As in the paper, *every* latent except those of factor `k` is clamped, including
latents assigned to no factor. Such "free" latents are clamped in every batch, so
they can only carry what is constant within batches and are pulled to invariance
to every factor: give every latent to a factor (the default splits `latent_dim`
into one contiguous block per factor). Leaving free latents unclamped instead
would let the model route every factor through them and bypass the supervision.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasdis import losses
from kerasdis.models.base import GaussianLatentVAE, check_non_negative, check_positive_int
from kerasdis.models.registry import register


def default_factor_dims(num_factors, latent_dim):
    """`latent_dim` split into `num_factors` contiguous blocks (the first ones one larger
    when it does not divide): for 10 latents and 5 factors, `[[0, 1], [2, 3], ...]`."""
    if num_factors > latent_dim:
        raise ValueError(
            f"`num_factors`={num_factors} needs at least as many latents, got "
            f"`latent_dim`={latent_dim}."
        )
    return [[int(d) for d in block] for block in np.array_split(np.arange(latent_dim),
                                                                 num_factors)]


def check_factor_dims(factor_dims, latent_dim):
    """Validates `factor_dims` (one non-empty list of latent indices per factor,
    disjoint, in `[0, latent_dim)`); returns a list of lists of int."""
    if isinstance(factor_dims, (str, bytes)) or not hasattr(factor_dims, "__len__") \
            or len(factor_dims) == 0:
        raise ValueError(
            "`factor_dims` must be a non-empty list with one list of latent indices per "
            f"factor, got {factor_dims!r}."
        )
    out, seen = [], set()
    for k, dims in enumerate(factor_dims):
        if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
            dims = [dims]
        if isinstance(dims, (str, bytes)) or not hasattr(dims, "__iter__"):
            raise ValueError(f"`factor_dims[{k}]` must be a list of latent indices, got {dims!r}.")
        dims = list(dims)
        if not dims:
            raise ValueError(f"`factor_dims[{k}]` is empty: every factor needs a latent.")
        for d in dims:
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) \
                    or not 0 <= int(d) < latent_dim:
                raise ValueError(
                    f"`factor_dims[{k}]` must hold latent indices in [0, {latent_dim - 1}], "
                    f"got {d!r}."
                )
            if int(d) in seen:
                raise ValueError(f"`factor_dims`: latent {int(d)} is assigned to two factors.")
            seen.add(int(d))
        out.append([int(d) for d in dims])
    return out


def factor_of(data):
    """`(images, k)` of a DC-IGN batch: `(x, k)` or `x` alone (k = None)."""
    x, k, _ = keras.utils.unpack_x_y_sample_weight(data)
    return x, k


@register("dcign")
@keras.saving.register_keras_serializable(package="kerasdis")
class DCIGN(GaussianLatentVAE):
    """DC-IGN (Kulkarni et al. 2015): a VAE with latents clamped per single-factor batch.

    Train on `(images, k)` batches in which only factor `k` varies, e.g.
    `kerasdis.data.weak_supervision.single_factor_batches(ds, 64, seed=0)`; `k`
    is an int per image (all equal) or a scalar. In every batch the latents of
    the factors other than `k` are clamped to their batch mean and pulled
    towards it (see the module docstring); latents owned by no factor are
    clamped in every batch. Loss per image (batch mean, nats):
    `reconstruction + beta * kl + invariance_weight * invariance`. Reports
    `loss`, `reconstruction`, `kl` and `invariance`. Evaluation batches
    without `k` (`evaluate(x)`) are plain VAE passes (nothing clamped).

    Args:
        latent_dim: int. Number of latent dimensions. Defaults to `10`.
        num_factors: int. Number of ground-truth factors of the training data
            (dSprites: 5). Ignored when `factor_dims` is given. Defaults to `5`.
        factor_dims: list of lists of int, or None. Latents owned by each factor
            (`factor_dims[k]` for factor `k`); latents in no list are clamped in
            every batch. Defaults to `latent_dim` split into contiguous blocks,
            `[[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]` for 10 latents and 5 factors.
        beta: float. Weight of the KL term. Defaults to `1.0` (the paper's VAE).
        invariance_weight: float. Scale of the replaced gradient of the clamped
            latents. Defaults to `1.0` (the paper's rule).
        input_shape, architecture, likelihood, seed: as `kerasdis.models.VAE`.

    Example:

    ```python
    from kerasdis.data.weak_supervision import single_factor_batches
    model = DCIGN(latent_dim=10, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(5e-4))
    model.fit(single_factor_batches(ds, 64, seed=0), steps_per_epoch=1000, epochs=10)
    ```
    """

    training_data = "single_factor"

    @classmethod
    def dataset_args(cls, dataset):
        return {**super().dataset_args(dataset), "num_factors": len(dataset.factor_sizes)}

    def training_batches(self, dataset, batch_size, seed, first_step=0):
        from kerasdis.data.weak_supervision import single_factor_batches

        return single_factor_batches(dataset, batch_size, seed, first_step=first_step)

    loss_term_names = ("loss", "reconstruction", "kl", "invariance")

    def __init__(self, latent_dim=10, num_factors=5, factor_dims=None, beta=1.0,
                 invariance_weight=1.0, input_shape=(64, 64, 1), architecture="conv",
                 likelihood="bernoulli", seed=None, **kwargs):
        latent_dim = check_positive_int("latent_dim", latent_dim)
        if factor_dims is None:
            num_factors = check_positive_int("num_factors", num_factors)
            factor_dims = default_factor_dims(num_factors, latent_dim)
        # === Config ===
        # A tuple of tuples: Keras would wrap a list attribute in a tracking list.
        self.factor_dims = tuple(tuple(d) for d in check_factor_dims(factor_dims, latent_dim))
        self.num_factors = len(self.factor_dims)
        self.invariance_weight = check_non_negative("invariance_weight", invariance_weight)
        super().__init__(latent_dim=latent_dim, input_shape=input_shape,
                         architecture=architecture, likelihood=likelihood, beta=beta,
                         seed=seed, **kwargs)

    def create_objective_state(self):
        # clamp[k, j] = 1 when latent j is not owned by factor k.
        owned = np.zeros((self.num_factors, self.latent_dim), np.float32)
        for k, dims in enumerate(self.factor_dims):
            owned[k, list(dims)] = 1.0
        self._clamp_masks = 1.0 - owned

    # ---------------------------------------------------------------- clamping
    def clamp_mask(self, factor):
        """float32 `[latent_dim]`: 1 for the latents clamped when `factor` varies."""
        masks = tf.constant(self._clamp_masks)
        factor = tf.cast(tf.reshape(factor, [-1])[0], tf.int32)
        tf.debugging.assert_less(factor, self.num_factors,
                                 message="DC-IGN factor index out of range")
        tf.debugging.assert_non_negative(factor, message="DC-IGN factor index out of range")
        return tf.gather(masks, factor)

    def forward(self, x, training=False, factor=None):
        """One pass; with `factor`, the latents of the other factors are clamped.

        Returns a dict with `mean`, `log_var`, `z` (what the decoder sees; the
        clamped columns equal their batch mean), `logits` and `mask` (1 = clamped).
        """
        mean, log_var = self.encode(x, training=training)
        z = self.reparameterize(mean, log_var)
        if factor is None:
            mask = tf.zeros([self.latent_dim], mean.dtype)
            batch_mean = tf.reduce_mean(mean, axis=0)
        else:
            mask = self.clamp_mask(factor)
            batch_mean = tf.reduce_mean(mean, axis=0)
            z = mask * tf.stop_gradient(batch_mean)[None, :] + (1.0 - mask) * z
        logits = self.decoder(z, training=training)
        return {"mean": mean, "log_var": log_var, "z": z, "logits": logits, "mask": mask,
                "batch_mean": batch_mean}

    def compute_terms(self, x, training=False, factor=None):
        outputs = self.forward(x, training=training, factor=factor)
        nll = losses.negative_log_likelihood(x, outputs["logits"], self.likelihood)
        deviation = outputs["mean"] - tf.stop_gradient(outputs["batch_mean"])[None, :]
        invariance = 0.5 * tf.reduce_sum(outputs["mask"] * tf.square(deviation), axis=1)
        terms = {
            "reconstruction": tf.reduce_mean(nll),
            "kl": tf.reduce_mean(losses.gaussian_kl(outputs["mean"], outputs["log_var"])),
            "invariance": tf.reduce_mean(invariance),
        }
        terms["loss"] = self.total_loss(terms)
        return terms

    def total_loss(self, terms):
        return (terms["reconstruction"] + self.beta * terms["kl"]
                + self.invariance_weight * terms["invariance"])

    # ---------------------------------------------------------------- training
    def _check_image_inputs(self, x, y, validation_data=None):
        """The images as every model (`InputChecksMixin`), and a numpy `y` of factor
        indices: integers in `[0, num_factors)` (else the step's in-graph check)."""
        super()._check_image_inputs(x, y, validation_data)
        if isinstance(y, np.ndarray) and y.size:
            if y.dtype.kind == "f" and not np.isfinite(y).all():
                bad = y[~np.isfinite(y)].flat[0]
                raise ValueError(f"`y` holds the factor index {bad}; expected integers in "
                                 f"[0, {self.num_factors - 1}] (the factor that varies).")
            outside = (y < 0) | (y >= self.num_factors) | (y != np.round(y))
            if outside.any():
                raise ValueError(
                    f"`y` holds the factor index {y[outside].flat[0].item()!r}; expected "
                    f"integers in [0, {self.num_factors - 1}] (the factor that varies in the "
                    "batch).")

    def train_step(self, data):
        x, factor = factor_of(data)
        if factor is None:
            raise ValueError(
                "DCIGN trains on `(images, k)` batches where only factor k varies, e.g. "
                "kerasdis.data.weak_supervision.single_factor_batches(ds, 64, seed=0); "
                "got images alone."
            )
        x = self._check_batch(x)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            terms = self.compute_terms(x, training=True, factor=factor)
            scaled_loss = terms["loss"] / replicas
        grads = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._update_trackers(terms)

    def test_step(self, data):
        x, factor = factor_of(data)
        x = self._check_batch(x)
        return self._update_trackers(self.compute_terms(x, training=False, factor=factor))

    def get_config(self):
        config = super().get_config()
        config.update({"num_factors": self.num_factors,
                       "factor_dims": [list(d) for d in self.factor_dims],
                       "invariance_weight": self.invariance_weight})
        return config
