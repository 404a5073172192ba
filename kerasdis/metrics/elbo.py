"""ELBO decomposition of Chen et al. 2018 (β-TCVAE paper, Sec. 3).

Chen et al. 2018, "Isolating Sources of Disentanglement in Variational
Autoencoders" (https://arxiv.org/abs/1802.04942), and the authors'
`elbo_decomposition.py` (rtqichen/beta-tcvae). With the aggregate posterior
`q(z) = 1/N sum_n q(z|x_n)` over the evaluated images, the average KL term splits as

    E_x KL(q(z|x) || p(z)) = I_q(x; z)                      index-code MI
                           + KL(q(z) || prod_j q(z_j))      total correlation
                           + sum_j KL(q(z_j) || p(z_j))     dimension-wise KL

Estimator: N images, each encoded to a diagonal Gaussian `q(z|x_n)` and sampled
once (seeded). The entropies `H(z) = -E log q(z)` and `H(z_j) = -E log q(z_j)` are
averaged over `num_samples` of these samples, with `log q(z) = logsumexp_n log
q(z|x_n) - log N` (exact, chunked, over all N components). `H(z|x)` and the
cross-entropy to the prior `p(z) = N(0, I)` are analytic. Two protocols, by name
(`protocol=`, recorded in the result):

- `"chen2018"`, the authors' (`elbo_decomposition.py` of rtqichen/beta-tcvae):
  N = every image of the dataset (737,280 for dSprites) as mixture components,
  one sample each, and the entropies averaged over a random subset of 10,000 of
  these samples. Slow on a CPU (the mixture is 10,000 x N densities per latent).
- `"subsample"` (the default, kerasdis' zoo numbers): N = `num_images` images drawn
  uniformly without replacement (default 10,000) as the mixture components, and
  the entropies averaged over all N samples (`num_samples=None`). The mixture
  over N images is a subsample of the dataset's aggregate posterior, so its
  `index_code_mi` and `total_correlation` are not the authors' numbers.

Then

    index_code_mi = H(z) - H(z|x)
    total_correlation = sum_j H(z_j) - H(z)
    dimwise_kl = sum_j [E_q(z_j) -log p(z_j)] - H(z_j)
    kl = E_x KL(q(z|x) || p(z))            (analytic)

so `index_code_mi + total_correlation + dimwise_kl == kl` up to round-off.
`reconstruction = -E log p(x|z)` uses the same posterior samples and
`model.likelihood(z).log_prob(x)` (summed over pixels), and `elbo = -(reconstruction
+ kl)`. All in nats per image. The mixture over N images bounds `index_code_mi` by
`log N` (9.2 nats for 10,000, 13.5 for the whole of dSprites): compare models under
the same protocol and `num_images`.
"""

import numpy as np
import tensorflow as tf

from kerasdis import progress
from kerasdis.metrics import _mixture
from kerasdis.metrics import representation as rep
from kerasdis.metrics._validation import as_rng, check_images, check_positive_int, seed_value

DEFAULT_NUM_IMAGES = 10_000
# Samples of the authors' entropy estimates (`estimate_entropies`: a random 10,000).
CHEN2018_NUM_SAMPLES = 10_000

# The parameters of each protocol; `num_images=None`: every image of the dataset.
PROTOCOL_DEFAULTS = {
    "subsample": {"num_images": DEFAULT_NUM_IMAGES, "num_samples": None},
    "chen2018": {"num_images": None, "num_samples": CHEN2018_NUM_SAMPLES},
}
DEFAULT_PROTOCOL = "subsample"


def protocol_params(protocol=DEFAULT_PROTOCOL, **overrides):
    """`{"num_images", "num_samples"}` of a protocol, with `overrides` (None: the
    protocol's). "chen2018" fixes both: overriding them is a `ValueError` (use
    "subsample" with your own numbers)."""
    if protocol not in PROTOCOL_DEFAULTS:
        raise ValueError(f"`protocol` must be one of {sorted(PROTOCOL_DEFAULTS)}, got "
                         f"{protocol!r}.")
    unknown = set(overrides) - set(PROTOCOL_DEFAULTS[protocol])
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)} of the ELBO decomposition.")
    params = dict(PROTOCOL_DEFAULTS[protocol])
    for name, value in overrides.items():
        if value is None or value == params[name]:
            continue
        if protocol == "chen2018":
            raise ValueError(
                f"protocol='chen2018' (the authors') uses every image of the dataset and "
                f"{CHEN2018_NUM_SAMPLES} entropy samples; got `{name}`={value!r}. Use "
                "protocol='subsample' to choose `num_images` and `num_samples`.")
        params[name] = value
    return params


def likelihood_distribution(model, z):
    """`p(x|z)` of a model: `likelihood_of(z)`, `likelihood(z)` or `likelihood_distribution(z)`."""
    for attr in ("likelihood_of", "likelihood", "likelihood_distribution"):
        fn = getattr(model, attr, None)
        if callable(fn):
            return fn(z)
    raise ValueError(
        "`model` needs a method `likelihood(z)` (or `likelihood_of`) returning p(x|z)."
    )


def elbo_decomposition(model, ds, num_images=None, num_samples=None, seed=0,
                       batch_size=256, verbose=0, protocol=DEFAULT_PROTOCOL):
    """Decomposes the KL term of the ELBO of `model` on `ds` (Chen et al. 2018).

    Args:
        model: kerasdis model: `encode(x) -> (mean, log_var)`, `likelihood(z)`.
        ds: dataset with `num_examples` and `images_at(indices)` (no factors needed).
        num_images: int or None. Images (mixture components and sample sources).
            None: the protocol's (10,000 for "subsample", every image for "chen2018").
        num_samples: int or None. Samples averaged in the entropies. None: the
            protocol's (all N for "subsample", 10,000 for "chen2018").
        seed: int or `np.random.Generator`.
        batch_size: int. Encoder/decoder batch size.
        verbose: 0 or 1.
        protocol: `"subsample"` (default) or `"chen2018"` (the authors': the whole
            dataset as mixture components); see the module docstring.

    Returns:
        dict (nats per image): `index_code_mi`, `total_correlation`, `dimwise_kl`, `kl`,
        `reconstruction`, `elbo`, plus `protocol`, `num_images`, `num_samples`, `seed`.
    """
    params = protocol_params(protocol, num_images=num_images, num_samples=num_samples)
    num_images, num_samples = params["num_images"], params["num_samples"]
    total = int(ds.num_examples)
    num_images = total if num_images is None else check_positive_int("num_images", num_images)
    batch_size = check_positive_int("batch_size", batch_size)
    encode = rep.posterior_function(model, batch_size, images_name="ds")
    rng = as_rng(seed)
    n = min(num_images, total)
    if n < 2:
        raise ValueError("`num_images` must be at least 2 (and the dataset that large).")
    indices = np.arange(total) if n == total else np.sort(rng.choice(total, n, replace=False))
    s = n if num_samples is None else min(check_positive_int("num_samples", num_samples), n)

    means, log_vars, zs, log_px = [], [], [], []
    progbar = progress.bar(n + s, verbose=verbose) if verbose else None
    for start in range(0, n, batch_size):
        x = check_images(ds.images_at(indices[start:start + batch_size]), "ds")
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
        "protocol": protocol,
        "num_images": int(n),
        "num_samples": int(s),
        "seed": seed_value(seed),
    }


PROTOCOL = {"protocol": DEFAULT_PROTOCOL, "num_images": DEFAULT_NUM_IMAGES, "num_samples": None,
            "prior": "N(0, I)"}


# ----------------------------------------------------------------- kd.metrics.evaluate


def resolve_params(options):
    """The parameters `kd.metrics.evaluate` runs with for `options["elbo"]`: the chosen
    protocol (default "subsample") and `protocol_params` of it."""
    options = dict(options)
    protocol = options.pop("protocol", DEFAULT_PROTOCOL)
    return {"protocol": protocol, **protocol_params(protocol, **options)}


def images_needed(params, grid_size):
    """0: the decomposition encodes the dataset's own images, which a grid encoding
    does not serve (`images_apart`)."""
    del params, grid_size
    return 0


def images_apart(params, num_examples):
    """The images of the decomposition (`num_images=None`: every image)."""
    return min(params["num_images"] or num_examples, num_examples)


def evaluate_protocol(representation, ds, *, seed, codes, encode_grid, encode_batch_size,
                      verbose, **params):
    """`kd.metrics.evaluate`'s adapter (registry kind "protocol"): `elbo_decomposition`
    (of the dataset's own images; the grid encoding is not used)."""
    del codes, encode_grid
    return elbo_decomposition(representation, ds, seed=seed, batch_size=encode_batch_size,
                              verbose=verbose, **params)
