"""Ada-GVAE and Ada-ML-VAE: Locatello et al. 2020, "Weakly-Supervised Disentanglement
Without Compromises" (ICML), Sec. 4.

Weak supervision: training examples are pairs `(x1, x2)` of images whose
ground-truth factors agree except for `k` of them (which, and how many, is not
given; see `kerasdis.data.paired_batches`). Both images go through the same
encoder. For every pair the latents whose posteriors barely move between the two
images are declared *shared*, and the posteriors of both images are replaced on
those latents by one aggregated posterior. The code follows disentanglement_lib
(`disentanglement_lib/methods/weak/weak_vae.py`):

1. per-latent divergence (dlib `compute_kl`, which returns 2 δ_j; the factor is
   irrelevant to the threshold below and δ here is in nats):
   `δ_j = KL(q(z_j|x1) || q(z_j|x2))
        = ½ (σ1_j²/σ2_j² + (μ2_j − μ1_j)²/σ2_j² − 1 + log σ2_j² − log σ1_j²)`;
2. adaptive threshold, per pair: `τ = ½ (max_j δ_j + min_j δ_j)`; latent `j` is
   shared iff `δ_j < τ` (dlib `aggregate_argmax`: `tf.histogram_fixed_width_bins`
   of δ into two bins of equal width over `[min δ, max δ]`, the lower bin is
   averaged). For a pair whose δ_j are all equal (e.g. identical images) dlib's
   binning divides 0 by 0 and puts no latent in the upper bin, so all its
   latents are shared; so here;
3. aggregation of the shared latents, used for *both* images of the pair:
   - `"gvae"` (Ada-GVAE, GroupVAE averaging; dlib `GroupVAEBase`):
     `μ̃_j = ½ (μ1_j + μ2_j)`, `σ̃_j² = ½ (σ1_j² + σ2_j²)`;
   - `"mlvae"` (Ada-ML-VAE, product of experts; dlib `MLVae`):
     `σ̃_j² = 2 σ1_j² σ2_j² / (σ1_j² + σ2_j²)`,
     `μ̃_j = ½ (μ1_j/σ1_j² + μ2_j/σ2_j²) σ̃_j²`, i.e. the mean of the product
     `q(z_j|x1) q(z_j|x2)` and twice its variance: the normalised product of the
     two experts each raised to the power ½ (their geometric mean), exactly as
     dlib computes it;
   the other latents keep each image's own posterior;
4. loss: the β-ELBO of each image under its aggregated posterior q̃,
   `L_i = −E_q̃ log p(x_i|z) + β KL(q̃(z|x_i) || N(0, I))`, per-image sums over
   pixels and latents in nats, averaged over the batch, and **averaged over the
   two images** as dlib does (`0.5 * loss_1 + 0.5 * loss_2`), so
   `loss = reconstruction + β · kl` with `reconstruction = ½ (rec_1 + rec_2)`
   and `kl = ½ (kl_1 + kl_2)`: per image, on the scale of a β-VAE's terms.

The samples of the two images use independent reparameterisation noise (dlib
samples them separately), drawn statelessly from the optimizer step like every
kerasdis model. The mask is a hard choice: no gradient flows through it, the
gradient reaches both encoders through the aggregated parameters.
"""

import math

import keras
import tensorflow as tf

from kerasdis import losses
from kerasdis.models.base import GaussianLatentVAE, update_trackers
from kerasdis.models.registry import register

AGGREGATIONS = ("gvae", "mlvae")
_LOG_2 = math.log(2.0)


# ------------------------------------------------------------------ the math
def pairwise_kl(mean1, log_var1, mean2, log_var2):
    """δ = KL(q(z_j|x1) || q(z_j|x2)) per latent, in nats, shape `[batch, latent_dim]`.

    disentanglement_lib's `compute_kl` returns `2 δ` (no ½).
    """
    return 0.5 * (tf.exp(log_var1 - log_var2) + tf.square(mean2 - mean1) * tf.exp(-log_var2)
                  - 1.0 + log_var2 - log_var1)


def shared_latents(delta):
    """bool `[batch, latent_dim]`: latent j of a pair is shared iff `δ_j < τ`,
    `τ = ½ (max_j δ_j + min_j δ_j)`; all latents of a pair with constant δ are shared
    (dlib's two-bin histogram puts none of them in the upper bin)."""
    high = tf.reduce_max(delta, axis=-1, keepdims=True)
    low = tf.reduce_min(delta, axis=-1, keepdims=True)
    # δ − min < ½ (max − min)  ⇔  δ < τ, without forming max + min.
    return tf.logical_or(delta - low < 0.5 * (high - low), high <= low)


def aggregate_posteriors(mean1, log_var1, mean2, log_var2, aggregation="gvae"):
    """The aggregated posteriors of a batch of pairs.

    Args:
        mean1, log_var1, mean2, log_var2: float tensors `[batch, latent_dim]`, the
            posterior parameters of the first and second images.
        aggregation: `"gvae"` (average of means and of variances) or `"mlvae"`
            (dlib's product of experts), see the module docstring.

    Returns:
        dict with `mean1`, `log_var1`, `mean2`, `log_var2` (aggregated on the
        shared latents, unchanged elsewhere), `shared` (bool mask), `delta`
        (`pairwise_kl`).
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"`aggregation` must be one of {AGGREGATIONS}, got {aggregation!r}.")
    delta = pairwise_kl(mean1, log_var1, mean2, log_var2)
    shared = shared_latents(delta)
    if aggregation == "gvae":
        # μ̃ = ½ (μ1 + μ2), σ̃² = ½ (σ1² + σ2²) (log-sum-exp form of dlib's log(½ v1 + ½ v2)).
        new_mean = 0.5 * mean1 + 0.5 * mean2
        new_log_var = tf.math.reduce_logsumexp(tf.stack([log_var1, log_var2]), axis=0) - _LOG_2
    else:
        # σ̃² = 2 v1 v2 / (v1 + v2), μ̃ = ½ (μ1/v1 + μ2/v2) σ̃² = (μ1 v2 + μ2 v1) / (v1 + v2).
        new_log_var = (_LOG_2 + log_var1 + log_var2
                       - tf.math.reduce_logsumexp(tf.stack([log_var1, log_var2]), axis=0))
        weight1 = tf.sigmoid(log_var2 - log_var1)  # v2 / (v1 + v2)
        new_mean = weight1 * mean1 + (1.0 - weight1) * mean2
    return {
        "mean1": tf.where(shared, new_mean, mean1),
        "log_var1": tf.where(shared, new_log_var, log_var1),
        "mean2": tf.where(shared, new_mean, mean2),
        "log_var2": tf.where(shared, new_log_var, log_var2),
        "shared": shared,
        "delta": delta,
    }


def split_pair(data):
    """`(x1, x2)` of a pair batch given as `(x1, x2)` or `((x1, x2),)`; `(x, None)` for
    images alone."""
    if isinstance(data, (tuple, list)):
        if len(data) == 1:
            inner = data[0]
            return split_pair(inner) if isinstance(inner, (tuple, list)) else (inner, None)
        if len(data) == 2:
            return data[0], data[1]
        raise ValueError(
            f"A pair batch must be `(x1, x2)`, got a tuple of {len(data)} elements; "
            "kerasdis.data.paired_batches(ds, 64, k=1, seed=0) yields pairs."
        )
    return data, None


# ------------------------------------------------------------------ the model
@register("ada_gvae")
@keras.saving.register_keras_serializable(package="kerasdis")
class AdaGVAE(GaussianLatentVAE):
    """Ada-GVAE / Ada-ML-VAE (Locatello et al. 2020): a β-VAE trained on image pairs
    that share an unknown subset of factors.

    For each pair `(x1, x2)` the latents with per-latent divergence
    `δ_j = KL(q(z_j|x1) || q(z_j|x2))` below the adaptive threshold
    `τ = ½ (max_j δ_j + min_j δ_j)` are shared (Sec. 4); on them both images use
    one aggregated posterior: the average of the two means and of the two
    variances (`aggregation="gvae"`, GroupVAE) or dlib's product of experts
    (`aggregation="mlvae"`, ML-VAE; see the module docstring for the exact
    formulas). Loss (per image, batch mean, nats), as disentanglement_lib
    (`methods/weak/weak_vae.py`): the β-ELBO of each image under its aggregated
    posterior, **averaged** over the two images of the pair:
    `loss = reconstruction + β · kl`, `reconstruction = ½ (rec(x1) + rec(x2))`,
    `kl = ½ (KL(q̃(z|x1) || p) + KL(q̃(z|x2) || p))`.

    Reports `loss`, `reconstruction`, `kl`, `shared` (mean number of shared latents
    per pair), `delta_mean` (mean δ_j over pairs and latents, nats) and
    `delta_max` (mean over pairs of max_j δ_j).

    Train on `(x1, x2)` batches: `kerasdis.data.paired_batches(ds, 64, k=..., seed=...)`,
    or `fit(x1, x2, batch_size=...)` on arrays of paired images. `train_step` on
    images alone raises a `ValueError`. `test_step` (`evaluate`) accepts pairs
    (all terms) or images alone: then it reports the plain β-VAE terms `loss`,
    `reconstruction` and `kl` of each image under its own posterior (nothing to
    share). The representation is the encoder alone: `encode`, `posterior`,
    `decode`, `reconstruct` work on single images as for every kerasdis model.

    β is a non-trainable variable (`model.beta`) that callbacks such as
    `kerasdis.callbacks.BetaAnnealing` may change. Under `tf.distribute` the loss
    is divided by the number of replicas; pairs are independent, so a replicated
    step equals the single-device step on the global batch.

    Args:
        latent_dim: int. Number of latent dimensions. Defaults to `10`.
        beta: float. Weight of the KL term, β ≥ 0. Defaults to `1.0`.
        aggregation: str. `"gvae"` (Ada-GVAE) or `"mlvae"` (Ada-ML-VAE).
            Defaults to `"gvae"`.
        input_shape: tuple. Image shape `(H, W, C)`. Defaults to `(64, 64, 1)`.
        architecture: str. `"conv"` or `"mlp"`. Defaults to `"conv"`.
        likelihood: str. `"bernoulli"`, `"gaussian"` or `"continuous_bernoulli"`.
            Defaults to `"bernoulli"`.
        seed: int or None. Seed of the initial weights and of the noise. Defaults
            to `None`.
        pair_k: int or `"random"`. How many factors the pairs of a run's training
            stream differ in (`training_batches`, used by `kd.training.train` and
            the tuner): an int in 1..K-1, or `"random"` (k uniform in 1..K-1 per
            pair, the paper's main setting). Defaults to `1`.

    Example:

    ```python
    ds = kd.data.load("dsprites")
    model = kd.models.AdaGVAE(latent_dim=10, beta=1.0, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.fit(kd.data.paired_batches(ds, batch_size=64, k="random", seed=0),
              steps_per_epoch=1000, epochs=5)
    codes = model.encode(ds.images(ds.sample_factors(100, seed=1)))[0]
    ```
    """

    loss_term_names = ("loss", "reconstruction", "kl", "shared", "delta_mean", "delta_max")

    training_data = "pairs"
    y_is_images = True  # `fit(x1, x2)`: both arrays are checked before training
    searched_weight = "beta"
    searched_range = (1.0, 16.0)  # the paper's grid: β in {1, 2, 4, 6, 8, 16}
    annealed_variable = "beta"

    def training_batches(self, dataset, batch_size, seed, first_step=0):
        """The pair stream of a run: `kerasdis.data.paired_batches` with `k = pair_k`,
        batch s a function of `(seed, s)`."""
        from kerasdis.data.weak_supervision import paired_batches

        return paired_batches(dataset, batch_size=batch_size, k=self.pair_k, seed=seed,
                              first_step=first_step)
    _single_image_terms = ("loss", "reconstruction", "kl")

    def __init__(self, latent_dim=10, beta=1.0, aggregation="gvae", input_shape=(64, 64, 1),
                 architecture="conv", likelihood="bernoulli", seed=None, pair_k=1, **kwargs):
        if pair_k != "random" and (isinstance(pair_k, bool) or not isinstance(pair_k, int)
                                   or pair_k < 1):
            raise ValueError(f"`pair_k` must be a positive int or 'random', got {pair_k!r}.")
        self.pair_k = pair_k
        if not isinstance(aggregation, str) or aggregation not in AGGREGATIONS:
            raise ValueError(
                f"`aggregation` must be 'gvae' (Ada-GVAE) or 'mlvae' (Ada-ML-VAE), "
                f"got {aggregation!r}."
            )
        self.aggregation = aggregation
        super().__init__(latent_dim=latent_dim, input_shape=input_shape,
                         architecture=architecture, likelihood=likelihood, beta=beta,
                         seed=seed, **kwargs)

    # ------------------------------------------------------------ the objective
    def _reparameterize_stream(self, mean, log_var, stream):
        """`GaussianLatentVAE.reparameterize` with the noise of seed stream `stream`
        (0 reproduces it): the two images of a pair get independent noise."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        seed = self.step_seed(stream)
        if replicas == 1:
            eps = tf.random.stateless_normal(tf.shape(mean), seed=seed, dtype=mean.dtype)
        else:
            replica_id = tf.distribute.get_replica_context().replica_id_in_sync_group
            local = tf.shape(mean)[0]
            eps = tf.random.stateless_normal([local * replicas, tf.shape(mean)[1]], seed=seed,
                                             dtype=mean.dtype)
            eps = eps[replica_id * local:(replica_id + 1) * local]
        return mean + tf.exp(0.5 * log_var) * eps

    def forward_pair(self, x1, x2, training=False):
        """One stochastic pass over a batch of pairs.

        Returns the dict of `aggregate_posteriors` (aggregated `mean1`, `log_var1`,
        `mean2`, `log_var2`, `shared`, `delta`) plus the encoder outputs
        `posterior_mean1`, ..., the samples `z1`, `z2` and the decoder `logits1`,
        `logits2`.
        """
        n = tf.shape(x1)[0]
        # One encoder pass over both images (the same network, as dlib's shared scope).
        mean, log_var = self.encode(tf.concat([x1, x2], axis=0), training=training)
        mean1, mean2 = mean[:n], mean[n:]
        log_var1, log_var2 = log_var[:n], log_var[n:]
        out = aggregate_posteriors(mean1, log_var1, mean2, log_var2, self.aggregation)
        z1 = self._reparameterize_stream(out["mean1"], out["log_var1"], 0)
        z2 = self._reparameterize_stream(out["mean2"], out["log_var2"], 1)
        logits = self.decoder(tf.concat([z1, z2], axis=0), training=training)
        out.update({"posterior_mean1": mean1, "posterior_log_var1": log_var1,
                    "posterior_mean2": mean2, "posterior_log_var2": log_var2,
                    "z1": z1, "z2": z2, "logits1": logits[:n], "logits2": logits[n:]})
        return out

    def compute_pair_terms(self, x1, x2, training=False):
        """All loss terms of a batch of pairs as scalars, including `loss`."""
        out = self.forward_pair(x1, x2, training=training)
        rec1 = tf.reduce_mean(losses.negative_log_likelihood(x1, out["logits1"], self.likelihood))
        rec2 = tf.reduce_mean(losses.negative_log_likelihood(x2, out["logits2"], self.likelihood))
        kl1 = tf.reduce_mean(losses.gaussian_kl(out["mean1"], out["log_var1"]))
        kl2 = tf.reduce_mean(losses.gaussian_kl(out["mean2"], out["log_var2"]))
        delta = out["delta"]
        terms = {
            # dlib: reconstruction_loss = 0.5 * rec_1 + 0.5 * rec_2, and the same for the KL.
            "reconstruction": 0.5 * rec1 + 0.5 * rec2,
            "kl": 0.5 * kl1 + 0.5 * kl2,
            "shared": tf.reduce_mean(tf.reduce_sum(tf.cast(out["shared"], "float32"), axis=-1)),
            "delta_mean": tf.reduce_mean(delta),
            "delta_max": tf.reduce_mean(tf.reduce_max(delta, axis=-1)),
        }
        terms["loss"] = self.total_loss(terms)
        return terms

    # ---------------------------------------------------------------- training
    def _check_pair(self, x1, x2):
        x1, x2 = self._check_batch(x1), self._check_batch(x2)
        n1, n2 = x1.shape[0], x2.shape[0]
        if n1 is not None and n2 is not None:
            if n1 != n2:
                raise ValueError(
                    f"`x1` and `x2` of a pair batch must hold the same number of images, "
                    f"got {n1} and {n2}."
                )
        else:
            tf.debugging.assert_equal(tf.shape(x1)[0], tf.shape(x2)[0], message=(
                "kerasdis: `x1` and `x2` of a pair batch must hold the same number of images"))
        return x1, x2

    def train_step(self, data):
        x1, x2 = split_pair(data)
        if x2 is None:
            raise ValueError(
                f"{type(self).__name__} trains on pairs `(x1, x2)` of images that share all "
                "factors but a few, e.g. kerasdis.data.paired_batches(ds, 64, k=1, seed=0) "
                "or fit(x1, x2); got images alone."
            )
        x1, x2 = self._check_pair(x1, x2)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            terms = self.compute_pair_terms(x1, x2, training=True)
            # Gradients are summed over replicas: scale so the update equals one device's.
            scaled_loss = terms["loss"] / replicas
        grads = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._update_trackers(terms)

    def test_step(self, data):
        x1, x2 = split_pair(data)
        if x2 is None:  # images alone: the β-VAE terms under each image's own posterior
            terms = self.compute_terms(self._check_batch(x1), training=False)
            trackers = {name: self.loss_trackers[name] for name in self._single_image_terms}
            return update_trackers(trackers, terms)
        x1, x2 = self._check_pair(x1, x2)
        return self._update_trackers(self.compute_pair_terms(x1, x2, training=False))

    def get_config(self):
        config = super().get_config()
        config["aggregation"] = self.aggregation
        config["pair_k"] = self.pair_k
        return config


@register("ada_ml_vae")
@keras.saving.register_keras_serializable(package="kerasdis")
class AdaMLVAE(AdaGVAE):
    """Ada-ML-VAE (Locatello et al. 2020): `AdaGVAE` with `aggregation="mlvae"`.

    The shared latents of a pair take dlib's ML-VAE product of experts,
    `σ̃² = 2 σ1² σ2² / (σ1² + σ2²)`, `μ̃ = ½ (μ1/σ1² + μ2/σ2²) σ̃²`; everything else
    is as `AdaGVAE` (see there and the module docstring).

    Args:
        latent_dim, beta, input_shape, architecture, likelihood, seed, pair_k: as `AdaGVAE`.

    Example:

    ```python
    model = kd.models.AdaMLVAE(latent_dim=10, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.fit(kd.data.paired_batches(ds, 64, k="random", seed=0), steps_per_epoch=1000)
    ```
    """

    def __init__(self, latent_dim=10, beta=1.0, input_shape=(64, 64, 1), architecture="conv",
                 likelihood="bernoulli", seed=None, pair_k=1, **kwargs):
        aggregation = kwargs.pop("aggregation", "mlvae")
        if aggregation != "mlvae":
            raise ValueError(
                f"AdaMLVAE uses aggregation='mlvae', got aggregation={aggregation!r}; use "
                "AdaGVAE(aggregation=...) to choose."
            )
        super().__init__(latent_dim=latent_dim, beta=beta, aggregation="mlvae",
                         input_shape=input_shape, architecture=architecture,
                         likelihood=likelihood, seed=seed, pair_k=pair_k, **kwargs)
