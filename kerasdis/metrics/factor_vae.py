"""The FactorVAE disentanglement score.

Kim & Mnih 2018, "Disentangling by Factorising" (https://arxiv.org/abs/1802.05983),
as in disentanglement_lib (`evaluation/metrics/factor_vae.py`).

Protocol: the variance of each code dimension is estimated on
`num_variance_estimate` (10,000) uniformly sampled images (`ddof=1`); dimensions
with standard deviation below `prune_threshold` (0.05, disentanglement_lib's
setting) are pruned. Each vote picks a factor k uniformly, draws `batch_size` (64)
factor vectors with factor k fixed to one value (the others uniform), encodes them,
divides the per-dimension variance of the codes by the global variance and votes
`(argmin over active dimensions, k)`. The classifier maps each dimension to the
factor with most training votes (`num_train`, 10,000); the score is the fraction of
training and of `num_eval` (5,000) new votes it gets right. If no dimension is
active both accuracies are 0.

`num_active_dims` is the number of active dimensions (disentanglement_lib reports
the total number of dimensions here by mistake; its accuracies are the same).
"""

import numpy as np

from kerasdis import progress
from kerasdis.metrics import representation as rep
from kerasdis.metrics._validation import as_rng, check_positive_int

_POINTS_PER_CHUNK = 256


def _votes(source, num_points, batch_size, rng, noise_rng, global_var, active, progbar, done):
    sizes = source.sizes
    num_factors = len(sizes)
    active_idx = np.flatnonzero(active)
    votes = np.zeros((num_factors, global_var.shape[0]), dtype=np.int64)
    labels = rng.integers(num_factors, size=num_points)
    for start in range(0, num_points, _POINTS_PER_CHUNK):
        stop = min(num_points, start + _POINTS_PER_CHUNK)
        p = stop - start
        lab = labels[start:stop]
        f = rep.sample_factors(sizes, p * batch_size, rng).reshape(p, batch_size, num_factors)
        idx = np.arange(p)
        f[idx, :, lab] = f[idx, 0, lab][:, None]
        codes = source(f.reshape(-1, num_factors), noise_rng).reshape(p, batch_size, -1)
        local_var = np.var(codes, axis=1, ddof=1)
        ratio = local_var[:, active_idx] / global_var[active_idx]
        dims = active_idx[np.argmin(ratio, axis=1)]
        np.add.at(votes, (lab, dims), 1)
        if progbar is not None:
            progbar.update(done + stop)
    return votes


def factor_vae_score(representation, ds, num_train=10_000, num_eval=5_000,
                     num_variance_estimate=10_000, batch_size=64, seed=0, prune_threshold=0.05,
                     codes=None, encode_grid=True, encode_batch_size=rep.DEFAULT_BATCH_SIZE,
                     verbose=0):
    """FactorVAE score (Kim & Mnih 2018) of a representation on a dataset.

    Args:
        representation: a kerasdis model (posterior mean) or a callable images -> codes.
        ds: ground-truth dataset with factors.
        num_train, num_eval: int. Training and evaluation votes.
        num_variance_estimate: int. Images for the global variances.
        batch_size: int. Images per vote (64), at least 2.
        seed: int or `np.random.Generator`.
        prune_threshold: float. Minimum standard deviation of an active dimension.
        codes: optional `GridCodes`; `encode_grid`: see `representation.CodeSource`.
        encode_batch_size: int. Encoder batch size when encoding.
        verbose: 0 or 1.

    Returns:
        dict with `train_accuracy`, `eval_accuracy`, `num_active_dims`.
    """
    num_train = check_positive_int("num_train", num_train)
    num_eval = check_positive_int("num_eval", num_eval)
    num_variance_estimate = check_positive_int("num_variance_estimate", num_variance_estimate)
    batch_size = check_positive_int("batch_size", batch_size)
    if batch_size < 2 or num_variance_estimate < 2:
        raise ValueError("`batch_size` and `num_variance_estimate` must be at least 2.")
    rng = as_rng(seed)
    source = rep.CodeSource(
        representation, ds, codes=codes, encode_grid=encode_grid,
        num_images=num_variance_estimate + batch_size * (num_train + num_eval),
        batch_size=encode_batch_size, verbose=verbose,
    )
    noise_rng = rep.noise_rng_of(rng)
    factors = rep.sample_factors(source.sizes, num_variance_estimate, rng)
    global_var = np.var(source(factors, noise_rng), axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    progbar = progress.bar(num_train + num_eval, verbose=verbose) if verbose else None
    train_votes = _votes(source, num_train, batch_size, rng, noise_rng, global_var, active,
                         progbar, 0)
    eval_votes = _votes(source, num_eval, batch_size, rng, noise_rng, global_var, active,
                        progbar, num_train)
    classifier = np.argmax(train_votes, axis=0)
    dims = np.arange(train_votes.shape[1])
    return {
        "train_accuracy": float(train_votes[classifier, dims].sum() / train_votes.sum()),
        "eval_accuracy": float(eval_votes[classifier, dims].sum() / eval_votes.sum()),
        "num_active_dims": int(active.sum()),
    }


PROTOCOL = {"num_train": 10_000, "num_eval": 5_000, "num_variance_estimate": 10_000,
            "batch_size": 64, "prune_threshold": 0.05}


# ----------------------------------------------------------------- kd.metrics.evaluate


def images_needed(params, grid_size):
    """Images `factor_vae_score` encodes with `params` (a grid encoding can serve them)."""
    del grid_size
    return params["num_variance_estimate"] + params["batch_size"] * (
        params["num_train"] + params["num_eval"])


def evaluate_protocol(representation, ds, *, seed, codes, encode_grid, encode_batch_size,
                      verbose, **params):
    """`kd.metrics.evaluate`'s adapter (registry kind "protocol"): `factor_vae_score`."""
    return factor_vae_score(representation, ds, seed=seed, codes=codes, encode_grid=encode_grid,
                            encode_batch_size=encode_batch_size, verbose=verbose, **params)
