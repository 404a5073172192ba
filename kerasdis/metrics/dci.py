"""Disentanglement, Completeness and Informativeness (DCI).

Eastwood & Williams 2018, "A Framework for the Quantitative Evaluation of
Disentangled Representations" (https://openreview.net/forum?id=By-7dz-AZ), with the
gradient-boosted-trees classifier of disentanglement_lib (`evaluation/metrics/dci.py`).

Protocol: for each factor k a `sklearn.ensemble.GradientBoostingClassifier` with
default hyper-parameters (100 stages of depth-3 trees; `random_state` fixed here for
determinism) is fit on the training codes; its absolute `feature_importances_` form
column k of the importance matrix `R [D, K]`.

- informativeness_train / _test: classification accuracy, mean over factors;
- disentanglement: `sum_j rho_j (1 - H_K(P_j.))` where `P_j.` is row j normalised
  (plus 1e-11), `H_K` the entropy in base K and `rho_j = sum_k R_jk / sum R`;
- completeness: `sum_k rho_k (1 - H_D(P_.k))` with columns normalised and
  `rho_k = sum_j R_jk / sum R`. Importances of a fitted boosting model sum to 1 per factor,
  so this is the mean over factors (disentanglement_lib weights by `rho_k`).

A zero importance matrix (constant codes) counts as uniform: both scores are 0.
disentanglement_lib uses 10,000 training and 5,000 test points.

Cost: dominated by boosting, one tree per class per stage (113 classes on
dSprites): 315-330 CPU-seconds for 10,000 points and 10 codes, so the factors are
fit in parallel threads (`n_jobs`, default all cores; scikit-learn's tree building
releases the GIL), i.e. about 3 minutes of wall time on 2 free cores, more on busy
ones. Results do not depend on `n_jobs`.

`classifier="hist"` (a documented deviation, for quick monitoring such as training
callbacks) uses `HistGradientBoostingClassifier(max_depth=3, early_stopping=False)`
instead (same number of stages, depth and learning rate, but features binned into
255 quantiles), about 10 times cheaper (28-34 vs 315-330 CPU-seconds for 10,000
points, 10 codes and the dSprites factors); its importance of a code is the total split
gain of that code over all trees, normalised per factor (the fitted trees'
`_predictors` are read: scikit-learn does not expose these importances). Scores
differ from the default's (on an entangled test code: disentanglement 0.36 vs 0.31,
completeness 0.43 vs 0.36): do not mix the two in a comparison.
"""

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from kerasdis.metrics._validation import check_train_test


CLASSIFIERS = ("gbt", "hist")


def _hist_importances(model, num_features):
    importance = np.zeros(num_features)
    for stage in model._predictors:
        for predictor in stage:
            nodes = predictor.nodes
            split = nodes["is_leaf"] == 0
            np.add.at(importance, nodes["feature_idx"][split].astype(np.int64),
                      np.maximum(nodes["gain"][split], 0.0))
    total = importance.sum()
    return importance / total if total > 0 else importance


def _fit_factor(codes_train, y_train, codes_test, y_test, random_state, classifier="gbt"):
    if classifier == "gbt":
        model = GradientBoostingClassifier(random_state=random_state)
    else:
        model = HistGradientBoostingClassifier(max_depth=3, early_stopping=False,
                                               random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(codes_train, y_train)
    if classifier == "gbt":
        importance = np.abs(model.feature_importances_)
    else:
        importance = _hist_importances(model, codes_train.shape[1])
    train_acc = float(np.mean(model.predict(codes_train) == y_train))
    test_acc = float(np.mean(model.predict(codes_test) == y_test))
    return importance, train_acc, test_acc


def importance_matrix(codes_train, factors_train, codes_test, factors_test, random_state=0,
                      n_jobs=None, classifier="gbt"):
    """Gradient-boosting importance matrix `[D, K]` and mean train/test accuracies."""
    if classifier not in CLASSIFIERS:
        raise ValueError(f"`classifier` must be one of {CLASSIFIERS}, got {classifier!r}.")
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test)
    x_train = codes_train.astype(np.float32)
    x_test = codes_test.astype(np.float32)
    num_factors = factors_train.shape[1]
    jobs = [(x_train, factors_train[:, k], x_test, factors_test[:, k], random_state, classifier)
            for k in range(num_factors)]
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    n_jobs = max(1, min(int(n_jobs), num_factors))
    # One OpenMP thread per fit (histogram boosting would otherwise spin a team of
    # threads per fit, which collapses on shared CPUs); parallelism is over factors.
    with threadpool_limits(limits=1, user_api="openmp"):
        if n_jobs == 1:
            results = [_fit_factor(*job) for job in jobs]
        else:
            # Largest problems (most classes) first, for a better schedule.
            order = sorted(range(num_factors),
                           key=lambda k: -len(np.unique(factors_train[:, k])))
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                futures = {k: pool.submit(_fit_factor, *jobs[k]) for k in order}
                results = [futures[k].result() for k in range(num_factors)]
    matrix = np.stack([r[0] for r in results], axis=1)
    return matrix, float(np.mean([r[1] for r in results])), float(np.mean([r[2] for r in results]))


def _entropy_score(p, axis_size):
    # 1 - entropy in base `axis_size` of each column of p; a single outcome scores 1.
    if axis_size == 1:
        return np.ones(p.shape[1])
    return 1.0 - scipy.stats.entropy(p + 1e-11, base=axis_size)


def disentanglement(matrix):
    """Importance-weighted mean over codes of `1 - H_K(row)` (Eastwood & Williams)."""
    per_code = _entropy_score(matrix.T, matrix.shape[1])
    if matrix.sum() == 0.0:
        matrix = np.ones_like(matrix)
    code_importance = matrix.sum(axis=1) / matrix.sum()
    return float(np.sum(per_code * code_importance))


def completeness(matrix):
    """Importance-weighted mean over factors of `1 - H_D(column)` (Eastwood & Williams)."""
    per_factor = _entropy_score(matrix, matrix.shape[0])
    if matrix.sum() == 0.0:
        matrix = np.ones_like(matrix)
    factor_importance = matrix.sum(axis=0) / matrix.sum()
    return float(np.sum(per_factor * factor_importance))


def dci(codes_train, factors_train, codes_test, factors_test, random_state=0, n_jobs=None,
        classifier="gbt"):
    """DCI scores of a representation from a train/test split of codes and factors.

    Args:
        codes_train, codes_test: float arrays `[n, D]`.
        factors_train, factors_test: int arrays `[n, K]` of factor indices.
        random_state: int. Seed of the boosted trees.
        n_jobs: int or None. Factors fit in parallel threads (None: all cores).
        classifier: `"gbt"` (default, disentanglement_lib's `GradientBoostingClassifier`)
            or `"hist"` (faster histogram boosting, see the module docstring).

    Returns:
        dict with `disentanglement`, `completeness`, `informativeness_train`,
        `informativeness_test` (accuracies).
    """
    matrix, train_acc, test_acc = importance_matrix(
        codes_train, factors_train, codes_test, factors_test, random_state, n_jobs, classifier)
    return {
        "disentanglement": disentanglement(matrix),
        "completeness": completeness(matrix),
        "informativeness_train": train_acc,
        "informativeness_test": test_acc,
    }


PROTOCOL = {"num_train": 10_000, "num_test": 5_000, "classifier": "gbt"}


# ----------------------------------------------------------------- kd.metrics.evaluate


def evaluate_codes(codes_train, factors_train, codes_test, factors_test, classifier="gbt"):
    """`kd.metrics.evaluate`'s adapter (registry kind "codes_train_test"): `dci` on the
    shared training and test samples."""
    return dci(codes_train, factors_train, codes_test, factors_test, classifier=classifier)
