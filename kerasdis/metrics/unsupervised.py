"""Unsupervised scores of the code distribution, as in disentanglement_lib.

disentanglement_lib (Locatello et al. 2019, `evaluation/metrics/unsupervised_metrics.py`)
computes, from 10,000 sampled codes, statistics that need no factors:

- `gaussian_total_correlation`: total correlation of the Gaussian fitted to the
  codes, `KL(N(0, S) || N(0, diag S)) = 0.5 (sum_j log S_jj - log det S)` nats;
- `gaussian_wasserstein_correlation`: squared 2-Wasserstein distance between that
  Gaussian and the product of its marginals, `2 tr S - 2 tr sqrtm(diag(S) S)`, and
  the same divided by `tr S` (`..._norm`);
- `mutual_info_pairwise`: mean over ordered pairs of distinct dimensions of the
  mutual information of the histogram-discretised (20 bins) codes.

Dimensions of zero variance carry no dependence and are left out of the two
Gaussian scores (disentanglement_lib returns NaN); a singular covariance of the
remaining dimensions (e.g. a duplicated dimension) has infinite total correlation.
"""

import numpy as np
import scipy.linalg

from kerasdis.metrics._validation import check_codes, discrete_mutual_info, histogram_discretize


def _covariance(codes):
    codes = check_codes(codes)
    cov = np.atleast_2d(np.cov(codes, rowvar=False))
    keep = np.diag(cov) > 1e-12 * max(1.0, float(np.max(np.abs(cov))))
    return cov[np.ix_(keep, keep)]


def gaussian_total_correlation(codes):
    """Total correlation (nats) of a Gaussian fitted to codes `[n, D]`."""
    cov = _covariance(codes)
    if cov.shape[0] < 2:
        return 0.0
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(max(0.0, 0.5 * (np.sum(np.log(np.diag(cov))) - logdet)))


def gaussian_wasserstein_correlation(codes, normalize=False):
    """`2 tr S - 2 tr sqrtm(diag(S) S)` for the covariance `S` of codes `[n, D]`."""
    cov = _covariance(codes)
    if cov.shape[0] < 2:
        return 0.0
    sqrtm = scipy.linalg.sqrtm(cov * np.diag(cov)[:, None])
    value = float(np.real(2.0 * np.trace(cov) - 2.0 * np.trace(sqrtm)))
    return value / float(np.trace(cov)) if normalize else value


def mutual_info_pairwise(codes, num_bins=20):
    """Mean discretised mutual information (nats) between distinct code dimensions."""
    codes = check_codes(codes)
    num_codes = codes.shape[1]
    if num_codes < 2:
        return 0.0
    discrete = histogram_discretize(codes, num_bins)
    m = discrete_mutual_info(discrete, discrete)
    np.fill_diagonal(m, 0.0)
    return float(np.sum(m) / (num_codes ** 2 - num_codes))


def unsupervised_scores(codes, num_bins=20):
    """All unsupervised scores of codes `[n, D]`, as a dict (disentanglement_lib keys)."""
    return {
        "gaussian_total_correlation": gaussian_total_correlation(codes),
        "gaussian_wasserstein_correlation": gaussian_wasserstein_correlation(codes),
        "gaussian_wasserstein_correlation_norm": gaussian_wasserstein_correlation(
            codes, normalize=True),
        "mutual_info_score": mutual_info_pairwise(codes, num_bins),
    }


PROTOCOL = {"num_train": 10_000, "num_bins": 20}


# ----------------------------------------------------------------- kd.metrics.evaluate


def evaluate_codes(codes, factors, num_bins=20):
    """`kd.metrics.evaluate`'s adapter (registry kind "codes"): `unsupervised_scores` of
    the shared training sample's codes (the factors are not used)."""
    del factors
    return unsupervised_scores(codes, num_bins=num_bins)
