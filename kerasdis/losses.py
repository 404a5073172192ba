"""Loss terms: observation likelihoods, KL, and total-correlation estimators.

All functions work on TensorFlow tensors and return per-example values (or batch
estimates) in nats. Conventions follow the papers: a loss is the batch mean of
per-example sums over pixels/latents.

References:
    Chen, Li, Grosse, Duvenaud 2018, "Isolating Sources of Disentanglement in
    Variational Autoencoders" (β-TCVAE): Eq. (2)-(4), Appendix C (MWS, MSS).
"""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

LIKELIHOODS = ("bernoulli", "gaussian", "continuous_bernoulli")

# Fixed standard deviation of the "gaussian" observation model on [0, 1] pixels.
# With sigma = 1/sqrt(2) the negative log-likelihood is the summed squared error
# plus a constant, i.e. disentanglement_lib's "l2" reconstruction loss, but here
# reported in nats including the normalising constant.
GAUSSIAN_SCALE = 1.0 / math.sqrt(2.0)

ESTIMATORS = ("mws", "mss")

_LOG_2PI = math.log(2.0 * math.pi)


def check_likelihood(likelihood):
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"`likelihood` must be one of {LIKELIHOODS}, got {likelihood!r}.")
    return likelihood


def observation_distribution(logits, likelihood="bernoulli"):
    """The decoder's distribution p(x|z) over whole images (event rank 3).

    Args:
        logits: tensor `[batch, H, W, C]`, the decoder output.
        likelihood: `"bernoulli"` (logits of Bernoulli pixels, Higgins et al. 2017),
            `"gaussian"` (Normal with mean `sigmoid(logits)` and fixed scale
            `GAUSSIAN_SCALE`), or `"continuous_bernoulli"` (Loaiza-Ganem &
            Cunningham 2019, `tfd.ContinuousBernoulli`).
    """
    if likelihood == "bernoulli":
        pixels = tfd.Bernoulli(logits=logits, dtype=logits.dtype)
    elif likelihood == "gaussian":
        pixels = tfd.Normal(loc=tf.sigmoid(logits), scale=tf.cast(GAUSSIAN_SCALE, logits.dtype))
    elif likelihood == "continuous_bernoulli":
        pixels = tfd.ContinuousBernoulli(logits=logits)
    else:
        check_likelihood(likelihood)
    return tfd.Independent(pixels, reinterpreted_batch_ndims=3)


def negative_log_likelihood(x, logits, likelihood="bernoulli"):
    """`-log p(x|z)` per image, in nats: `-observation_distribution(logits).log_prob(x)`.

    For the Bernoulli likelihood this is computed as the summed
    `tf.nn.sigmoid_cross_entropy_with_logits`, the same function
    (`-x log σ(l) - (1-x) log(1-σ(l))`) in one fused kernel instead of TFP's two
    softplus passes (`python benchmarks/train_throughput.py` measures the training
    step). The other likelihoods use TFP.

    Args:
        x: tensor `[batch, H, W, C]` of images in [0, 1].
        logits: tensor of the same shape, the decoder output.
        likelihood: see `observation_distribution`.
    """
    if likelihood == "bernoulli":
        x = tf.cast(x, logits.dtype)
        return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits),
                             axis=[1, 2, 3])
    return -observation_distribution(logits, likelihood).log_prob(x)


def gaussian_kl(mean, log_var):
    """Analytic KL(N(mean, exp(log_var)) || N(0, I)) per example, summed over latents."""
    return 0.5 * tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1.0 - log_var, axis=-1)


def gaussian_log_density(z, mean, log_var):
    """Elementwise log N(z; mean, exp(log_var)); broadcasts its arguments."""
    inv_var = tf.exp(-log_var)
    return -0.5 * (_LOG_2PI + log_var + tf.square(z - mean) * inv_var)


def mss_log_importance_weights(batch_size, dataset_size):
    """Log importance weights of minibatch stratified sampling (Chen et al. 2018, App. C.2).

    With batch size B, M = B - 1 and dataset size N, row i of the weight matrix has
    1/N at column i (the example that produced z_i), (N - M) / (N M) at column
    (i + 1) mod B (the stratum holding the rest of the dataset), and 1/M elsewhere,
    so every row sums to one. Row i weighs the mixture components q(z_i | x_j).

    Returns:
        float32 numpy array `[B, B]` of log weights.
    """
    b, n = int(batch_size), float(dataset_size)
    if b < 2:
        raise ValueError(f"MSS needs a batch of at least 2 examples, got batch_size={batch_size}.")
    m = b - 1
    weights = np.full((b, b), 1.0 / m, dtype=np.float64)
    rows = np.arange(b)
    weights[rows, rows] = 1.0 / n
    weights[rows, (rows + 1) % b] = (n - m) / (n * m)
    return np.log(weights).astype(np.float32)


def _mss_log_weights_tensor(batch_size, dataset_size, dtype):
    """`mss_log_importance_weights` for a possibly dynamic batch size, in-graph."""
    b = tf.cast(batch_size, tf.float64)
    n = tf.cast(dataset_size, tf.float64)
    m = b - 1.0
    rows = tf.range(batch_size)
    eye = tf.cast(tf.equal(rows[:, None], rows[None, :]), tf.float64)
    nxt = tf.cast(tf.equal((rows[:, None] + 1) % batch_size, rows[None, :]), tf.float64)
    other = 1.0 - eye - nxt
    weights = eye / n + nxt * (n - m) / (n * m) + other / m
    return tf.cast(tf.math.log(weights), dtype)


def decomposed_kl_terms(z, mean, log_var, dataset_size, estimator="mss"):
    """Minibatch estimates of the three terms of the KL decomposition (Chen et al. Eq. 2).

        E_x KL(q(z|x) || p(z)) = I_q(x; z) + KL(q(z) || prod_j q(z_j)) + sum_j KL(q(z_j) || p(z_j))
                                = index-code MI + total correlation + dimension-wise KL

    q(z) = (1/N) sum_n q(z | x_n) and its marginals are estimated on the minibatch:

    - `"mss"`, minibatch stratified sampling (App. C.2): log q(z_i) is
      logsumexp_j [log w_ij + log q(z_i | x_j)] with the importance weights of
      `mss_log_importance_weights` (1/N on the own example, (N-M)/(NM) on the
      stratum, 1/M elsewhere; rows sum to one).
    - `"mws"`, minibatch weighted sampling (App. C.1): log q(z_i) is
      logsumexp_j log q(z_i | x_j) - log B, the minibatch average of the B mixture
      components (weights 1/B, summing to one), and log q(z_ij) likewise per
      latent. App. C.1 (and the authors' code) subtract log(N B) instead, weights
      summing to 1/N: that lowers log q(z) and every log q(z_j) by log N, which
      leaves the gradients alone but adds a constant (D - 1) log N to the reported
      TC, log N to the MI and -D log N to the dimension-wise KL. kerasdis
      normalises the weights to sum to one, so the terms are estimates of the real
      quantities, as with MSS, and `dataset_size` is not used.

    All sums run through log-sum-exp, and `mi + tc + dwkl` equals the Monte Carlo
    KL of the batch, log q(z|x) - log p(z), for both estimators.

    Args:
        z: `[B, D]` samples, z_i ~ q(z | x_i).
        mean, log_var: `[B, D]` parameters of q(z | x_i).
        dataset_size: N, the number of training examples.
        estimator: `"mws"` or `"mss"`.

    Returns:
        dict of scalars `mi`, `tc`, `dwkl` (batch means, nats).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"`estimator` must be one of {ESTIMATORS}, got {estimator!r}.")
    dtype = z.dtype
    batch_size = tf.shape(z)[0]
    # log q(z_i,d | x_j, d) for every pair (i, j): [B, B, D]
    log_qz_pairs = gaussian_log_density(z[:, None, :], mean[None, :, :], log_var[None, :, :])
    log_qz_given_x = tf.reduce_sum(gaussian_log_density(z, mean, log_var), axis=1)
    log_pz = tf.reduce_sum(gaussian_log_density(z, tf.zeros_like(z), tf.zeros_like(z)), axis=1)
    if estimator == "mws":
        log_norm = tf.math.log(tf.cast(batch_size, dtype))
        log_qz = tf.reduce_logsumexp(tf.reduce_sum(log_qz_pairs, axis=2), axis=1) - log_norm
        log_prod_qzj = tf.reduce_sum(tf.reduce_logsumexp(log_qz_pairs, axis=1) - log_norm, axis=1)
    else:
        log_w = _mss_log_weights_tensor(batch_size, dataset_size, dtype)
        log_qz = tf.reduce_logsumexp(log_w + tf.reduce_sum(log_qz_pairs, axis=2), axis=1)
        log_prod_qzj = tf.reduce_sum(
            tf.reduce_logsumexp(log_w[:, :, None] + log_qz_pairs, axis=1), axis=1
        )
    return {
        "mi": tf.reduce_mean(log_qz_given_x - log_qz),
        "tc": tf.reduce_mean(log_qz - log_prod_qzj),
        "dwkl": tf.reduce_mean(log_prod_qzj - log_pz),
    }


def covariance(x):
    """Sample covariance (biased, 1/B) of the rows of `x`: `[D, D]`."""
    centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
    return tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(x)[0], x.dtype)
