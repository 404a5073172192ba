"""Mutual Information Gap on discretised codes, as in disentanglement_lib.

Chen et al. 2018, "Isolating Sources of Disentanglement in Variational
Autoencoders" (https://arxiv.org/abs/1802.04942) define the MIG; this is the
sampled, discretised estimator of disentanglement_lib (Locatello et al. 2019,
`evaluation/metrics/mig.py`). For the estimator of the paper itself, on posterior
samples over the whole factor grid, see `kerasdis.metrics.mig`.

Protocol: each code dimension is discretised into `num_bins` (20) equal-width
histogram bins (`np.histogram` edges, `np.digitize`); the mutual information
`I(code_j; factor_k)` is `sklearn.metrics.mutual_info_score` (nats) and `H(factor_k)`
the discrete entropy of the sampled factor; MIG is the mean over factors of the
gap between the two largest `I(code_j; factor_k)`, divided by `H(factor_k)`.
disentanglement_lib samples `num_train = 10,000` uniform factor vectors.
"""

import numpy as np

from kerasdis.metrics import representation as rep
from kerasdis.metrics._validation import (
    check_pair,
    check_positive_int,
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
    top_two_gap,
)


def discrete_mutual_info_matrix(codes, factors, num_bins=20):
    """`[D, K]` discretised mutual information (nats) between codes and factors."""
    codes, factors = check_pair(codes, factors)
    return discrete_mutual_info(histogram_discretize(codes, num_bins), factors)


def discrete_mig(codes, factors, num_bins=20):
    """Discretised Mutual Information Gap of codes `[n, D]` for factors `[n, K]`.

    Args:
        codes: float array `[num_points, num_codes]`.
        factors: int array `[num_points, num_factors]` of factor indices; every
            factor must take at least two values.
        num_bins: int. Histogram bins per code dimension (20 in disentanglement_lib).

    Returns:
        float in [0, 1]. With a single code dimension the second-best mutual
        information is taken as 0.
    """
    codes, factors = check_pair(codes, factors)
    m = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    entropy = discrete_entropy(factors)
    return float(np.mean(top_two_gap(m) / entropy))


def sampled_discrete_mig(representation, ds, num_train=10_000, num_bins=20, seed=0,
                         codes=None, encode_grid=True, batch_size=rep.DEFAULT_BATCH_SIZE,
                         verbose=0):
    """`discrete_mig` on `num_train` sampled points of a dataset (disentanglement_lib MIG).

    Args:
        representation: a kerasdis model (posterior mean) or a callable images -> codes.
        ds: ground-truth dataset.
        num_train: int. Uniformly sampled factor vectors (10,000 as disentanglement_lib).
        num_bins: int. Histogram bins.
        seed: int or `np.random.Generator`. Factors are drawn with
            `rep.sample_factors(ds.factor_sizes, num_train, default_rng(seed))`.
        codes: optional `GridCodes` cache; `encode_grid`, `batch_size`, `verbose`: see
            `kerasdis.metrics.representation.CodeSource`.

    Returns:
        `{"discrete_mig": float}`.
    """
    num_train = check_positive_int("num_train", num_train)
    codes_train, factors_train = rep.sample_codes(
        representation, ds, num_train, seed=seed, codes=codes, encode_grid=encode_grid,
        batch_size=batch_size, verbose=verbose,
    )
    return {"discrete_mig": discrete_mig(codes_train, factors_train, num_bins=num_bins)}


PROTOCOL = {"num_train": 10_000, "num_bins": 20}


# ----------------------------------------------------------------- kd.metrics.evaluate


def evaluate_codes(codes, factors, num_bins=20):
    """`kd.metrics.evaluate`'s adapter (registry kind "codes"): `{"discrete_mig": ...}`
    on the shared training sample."""
    return {"discrete_mig": discrete_mig(codes, factors, num_bins)}
