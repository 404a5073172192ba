"""Log-densities of large mixtures of diagonal Gaussians, chunked, in TensorFlow.

For samples `z_s` (`[S, D]`) and components `N(mu_n, diag exp(lv_n))` (`[M, D]`),
`log_mixture_marginals` returns `log (1/M sum_n N(z_sj; mu_nj, exp(lv_nj)))` for every
sample and dimension, and `log_mixture_exact` also the joint
`log (1/M sum_n prod_j N(z_sj; ...))`.

The work is `S x M x D` exponentials, done by XLA-compiled kernels on
`[D, S_chunk, M_chunk]` blocks (float32, fixed block shapes, padded, so each shape
compiles once), summed over component blocks. The fast marginal kernel subtracts a
fixed per-dimension bound `max_n log N(mu_nj; mu_nj, ...)` (the largest peak) instead
of a running maximum: no term can overflow, and a sum that underflows (possible only
if the bound exceeds a sample's own component by ~87 nats) is recomputed with the
exact max-subtracted kernel.
"""

import numpy as np
import tensorflow as tf

HALF_LOG_2PI = 0.5 * float(np.log(2.0 * np.pi))
SAMPLE_CHUNK = 128
COMPONENT_CHUNK = 16384
_TINY = 1e-30


@tf.function(jit_compile=True, reduce_retracing=True)
def _shifted_sum_exp(z_t, mu_t, a_t, b_t):
    # z_t [D, S]; mu_t, a_t, b_t [D, M]. log N = a (z - mu)^2 + b, b already shifted.
    d = z_t[:, :, None] - mu_t[:, None, :]
    return tf.reduce_sum(tf.exp(d * d * a_t[:, None, :] + b_t[:, None, :]), axis=2)


@tf.function(jit_compile=True, reduce_retracing=True)
def _exact_chunk(z_t, mu_t, a_t, b_t):
    # Returns per-dimension (max, sum exp(t - max)) [D, S] and joint ones [S].
    d = z_t[:, :, None] - mu_t[:, None, :]
    t = d * d * a_t[:, None, :] + b_t[:, None, :]
    m = tf.reduce_max(t, axis=2)
    s = tf.reduce_sum(tf.exp(t - m[:, :, None]), axis=2)
    tj = tf.reduce_sum(t, axis=0)
    mj = tf.reduce_max(tj, axis=1)
    sj = tf.reduce_sum(tf.exp(tj - mj[:, None]), axis=1)
    return m, s, mj, sj


def _chunk_len(n, limit):
    """Power of two >= n, capped at `limit` (few distinct shapes to compile)."""
    return int(min(limit, 1 << max(0, int(np.ceil(np.log2(max(n, 1)))))))


def _block_len(n, limit):
    """Block length for `n` components: at most `limit`, little padding, rounded so
    that only a few shapes get compiled."""
    blocks = -(-n // limit)
    per = -(-n // blocks)
    grain = 512 if per > 4096 else (64 if per > 256 else 8)
    return int(-(-per // grain) * grain)


def _coefficients(means, log_vars):
    log_vars = np.asarray(log_vars, dtype=np.float64)
    a = -0.5 * np.exp(-log_vars)
    b = -0.5 * log_vars - HALF_LOG_2PI
    return np.asarray(means, dtype=np.float64), a, b


def _component_blocks(mu, a, b, block):
    """Transposed, padded float32 tensors `[D, block]` per block of components."""
    m = mu.shape[0]
    pad = (-m) % block
    if pad:
        mu = np.concatenate([mu, np.zeros((pad, mu.shape[1]))])
        a = np.concatenate([a, np.zeros((pad, a.shape[1]))])
        b = np.concatenate([b, np.full((pad, b.shape[1]), -np.inf)])
    blocks = []
    for start in range(0, mu.shape[0], block):
        sl = slice(start, start + block)
        blocks.append(tuple(tf.constant(np.ascontiguousarray(x[sl].T), dtype=tf.float32)
                            for x in (mu, a, b)))
    return blocks


def _sample_block(samples, start, block):
    z = samples[start:start + block]
    n = z.shape[0]
    if n < block:
        z = np.concatenate([z, np.zeros((block - n, z.shape[1]))])
    return tf.constant(np.ascontiguousarray(z.T), dtype=tf.float32), n


def log_mixture_exact(samples, means, log_vars, progbar=None, progress_offset=0):
    """Exact (max-subtracted) log mixture densities.

    Returns:
        `(joint [S], marginals [S, D])`, float64, both normalised by `1/M`.
    """
    samples = np.asarray(samples, dtype=np.float64)
    mu, a, b = _coefficients(means, log_vars)
    num_components = mu.shape[0]
    sc = _chunk_len(samples.shape[0], SAMPLE_CHUNK)
    mc = _block_len(num_components, COMPONENT_CHUNK)
    blocks = _component_blocks(mu, a, b, mc)
    joint = np.empty(samples.shape[0])
    marginals = np.empty(samples.shape)
    for start in range(0, samples.shape[0], sc):
        z_t, n = _sample_block(samples, start, sc)
        run_m = run_s = run_mj = run_sj = None
        for block in blocks:
            m, s, mj, sj = (x.numpy().astype(np.float64) for x in _exact_chunk(z_t, *block))
            if run_m is None:
                run_m, run_s, run_mj, run_sj = m, s, mj, sj
                continue
            new_m = np.maximum(run_m, m)
            run_s = run_s * np.exp(run_m - new_m) + s * np.exp(m - new_m)
            run_m = new_m
            new_mj = np.maximum(run_mj, mj)
            run_sj = run_sj * np.exp(run_mj - new_mj) + sj * np.exp(mj - new_mj)
            run_mj = new_mj
        marginals[start:start + n] = (run_m + np.log(run_s)).T[:n] - np.log(num_components)
        joint[start:start + n] = (run_mj + np.log(run_sj))[:n] - np.log(num_components)
        if progbar is not None:
            progbar.update(progress_offset + start + n)
    return joint, marginals


def log_mixture_marginals(samples, means, log_vars, progbar=None, progress_offset=0):
    """Per-dimension log mixture densities `[S, D]` (float64), normalised by `1/M`.

    Args:
        samples: `[S, D]` points.
        means, log_vars: `[M, D]` component parameters.
        progbar: optional `keras.utils.Progbar`, updated to `progress_offset + s`
            after each block of samples.
    """
    samples = np.asarray(samples, dtype=np.float64)
    mu, a, b = _coefficients(means, log_vars)
    num_components = mu.shape[0]
    shift = b.max(axis=0)
    sc = _chunk_len(samples.shape[0], SAMPLE_CHUNK)
    mc = _block_len(num_components, COMPONENT_CHUNK)
    blocks = _component_blocks(mu, a, b - shift, mc)
    out = np.empty(samples.shape)
    for start in range(0, samples.shape[0], sc):
        z_t, n = _sample_block(samples, start, sc)
        acc = None
        for block in blocks:
            part = _shifted_sum_exp(z_t, *block)
            acc = part if acc is None else acc + part
        acc = acc.numpy().T[:n].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            res = np.log(acc) + shift - np.log(num_components)
        bad = ~(np.isfinite(acc) & (acc > _TINY))
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            res[rows] = log_mixture_exact(samples[start + rows], means, log_vars)[1]
        out[start:start + n] = res
        if progbar is not None:
            progbar.update(progress_offset + start + n)
    return out
