"""ELBO decomposition of Chen et al. 2018 (β-TCVAE paper, Sec. 3).

Chen et al. 2018, "Isolating Sources of Disentanglement in Variational
Autoencoders" (https://arxiv.org/abs/1802.04942), and the authors'
`elbo_decomposition.py` (rtqichen/beta-tcvae). With the aggregate posterior
`q(z) = 1/N sum_n q(z|x_n)` over the evaluated images, the average KL term splits as

    E_x KL(q(z|x) || p(z)) = I_q(x; z)                      index-code MI
                           + KL(q(z) || prod_j q(z_j))      total correlation
                           + sum_j KL(q(z_j) || p(z_j))     dimension-wise KL

Estimator (as the authors'): N = `num_images` images drawn uniformly without
replacement (default 10,000; pass `ds.num_examples` for the whole dataset), each
encoded to a diagonal Gaussian `q(z|x_n)` and sampled once (seeded). The entropies
`H(z) = -E log q(z)` and `H(z_j) = -E log q(z_j)` are averaged over
`num_samples` (default all N) of these samples, with `log q(z) = logsumexp_n log
q(z|x_n) - log N` (exact, chunked). `H(z|x)` and the cross-entropy to the prior
`p(z) = N(0, I)` are analytic. Then

    index_code_mi = H(z) - H(z|x)
    total_correlation = sum_j H(z_j) - H(z)
    dimwise_kl = sum_j [E_q(z_j) -log p(z_j)] - H(z_j)
    kl = E_x KL(q(z|x) || p(z))            (analytic)

so `index_code_mi + total_correlation + dimwise_kl == kl` up to round-off.
`reconstruction = -E log p(x|z)` uses the same posterior samples and
`model.likelihood(z).log_prob(x)` (summed over pixels), and `elbo = -(reconstruction
+ kl)`. All in nats per image. The mixture over N images bounds `index_code_mi` by
`log N` (9.2 nats for 10,000): compare models at the same `num_images`.
"""

import numpy as np
import tensorflow as tf

from kerasdis import progress
from kerasdis.metrics import _mixture
from kerasdis.metrics import representation as rep
from kerasdis.metrics._validation import as_rng, check_positive_int, seed_value

DEFAULT_NUM_IMAGES = 10_000


def likelihood_distribution(model, z):
    """`p(x|z)` of a model: `likelihood_of(z)`, `likelihood(z)` or `likelihood_distribution(z)`."""
    for attr in ("likelihood_of", "likelihood", "likelihood_distribution"):
        fn = getattr(model, attr, None)
        if callable(fn):
            return fn(z)
    raise ValueError(
        "`model` needs a method `likelihood(z)` (or `likelihood_of`) returning p(x|z)."
    )


def elbo_decomposition(model, ds, num_images=DEFAULT_NUM_IMAGES, num_samples=None, seed=0,
                       batch_size=256, verbose=0):
    """Decomposes the KL term of the ELBO of `model` on `ds` (Chen et al. 2018).

    Args:
        model: kerasdis model: `encode(x) -> (mean, log_var)`, `likelihood(z)`.
        ds: dataset with `num_examples` and `images_at(indices)` (no factors needed).
        num_images: int. Images (mixture components and sample sources).
        num_samples: int or None. Samples averaged in the entropies (None: all).
        seed: int or `np.random.Generator`.
        batch_size: int. Encoder/decoder batch size.
        verbose: 0 or 1.

    Returns:
        dict (nats per image): `index_code_mi`, `total_correlation`, `dimwise_kl`, `kl`,
        `reconstruction`, `elbo`, plus `num_images`, `num_samples`.
    """
    num_images = check_positive_int("num_images", num_images)
    batch_size = check_positive_int("batch_size", batch_size)
    encode = rep.posterior_function(model, batch_size)
    rng = as_rng(seed)
    total = int(ds.num_examples)
    n = min(num_images, total)
    if n < 2:
        raise ValueError("`num_images` must be at least 2 (and the dataset that large).")
    indices = np.arange(total) if n == total else np.sort(rng.choice(total, n, replace=False))
    s = n if num_samples is None else min(check_positive_int("num_samples", num_samples), n)

    means, log_vars, zs, log_px = [], [], [], []
    progbar = progress.bar(n + s, verbose=verbose) if verbose else None
    for start in range(0, n, batch_size):
        x = np.asarray(ds.images_at(indices[start:start + batch_size]), dtype=np.float32)
        mean, lv = encode(x)
        z = (mean + np.exp(0.5 * lv) * rng.standard_normal(mean.shape)).astype(np.float32)
        log_prob = likelihood_distribution(model, tf.constant(z)).log_prob(tf.constant(x))
        log_prob = np.asarray(log_prob, dtype=np.float64).reshape(-1)
        if log_prob.shape[0] != x.shape[0]:
            raise ValueError(
                "`model.likelihood(z).log_prob(x)` must return one value per image, got "
                f"shape {np.shape(log_prob)}."
            )
        means.append(mean)
        log_vars.append(lv)
        zs.append(z)
        log_px.append(log_prob)
        if progbar is not None:
            progbar.update(min(n, start + batch_size))
    means = np.concatenate(means).astype(np.float64)
    log_vars = np.concatenate(log_vars).astype(np.float64)
    zs = np.concatenate(zs).astype(np.float64)
    log_px = np.concatenate(log_px)

    sample_idx = np.arange(n) if s == n else rng.choice(n, s, replace=False)
    joint, marginals = _mixture.log_mixture_exact(zs[sample_idx], means, log_vars, progbar, n)
    joint_entropy = -float(np.mean(joint))
    marginal_entropies = -np.mean(marginals, axis=0)
    conditional_entropy = float(np.mean(np.sum(0.5 * (2 * _mixture.HALF_LOG_2PI + 1.0 + log_vars),
                                               axis=1)))
    prior_cross_entropy = np.mean(
        0.5 * (2 * _mixture.HALF_LOG_2PI + means ** 2 + np.exp(log_vars)), axis=0)
    kl = float(np.sum(prior_cross_entropy) - conditional_entropy)
    reconstruction = -float(np.mean(log_px))
    return {
        "index_code_mi": joint_entropy - conditional_entropy,
        "total_correlation": float(np.sum(marginal_entropies) - joint_entropy),
        "dimwise_kl": float(np.sum(prior_cross_entropy - marginal_entropies)),
        "kl": kl,
        "reconstruction": reconstruction,
        "elbo": -(reconstruction + kl),
        "num_images": int(n),
        "num_samples": int(s),
        "seed": seed_value(seed),
    }


PROTOCOL = {"num_images": DEFAULT_NUM_IMAGES, "num_samples": None, "prior": "N(0, I)"}
