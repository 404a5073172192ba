"""Modularity and explicitness.

Ridgeway & Zemel 2018, "Learning Deep Disentangled Embeddings With the F-Statistic
Loss" (https://arxiv.org/abs/1802.05312), Sec. 3, as in disentanglement_lib
(`evaluation/metrics/modularity_explicitness.py`).

Protocol:

- modularity: the mutual information `m_jk` between each code dimension j,
  histogram-discretised into `num_bins` (20) bins, and each factor k (sklearn
  `mutual_info_score`, training set). Per code, with `theta_j = max_k m_jk^2`,
  `delta_j = (sum_k m_jk^2 - theta_j) / (theta_j (K - 1))` and the code's
  modularity is `1 - delta_j` (0 for a code with no information). Modularity is
  the mean over codes.
- explicitness: codes are standardised with the training mean and standard
  deviation; for each factor a multinomial `sklearn.linear_model.LogisticRegression`
  is fit on all codes, and its explicitness is the ROC-AUC of the predicted class
  probabilities against the one-hot labels, macro-averaged over classes (train and
  test). The score is the mean over factors.

Deviations from disentanglement_lib: `LogisticRegression(max_iter=1000)` instead of
the default 100 iterations (so that the fit converges); a constant code dimension is
standardised with a unit deviation instead of dividing by zero; a class absent from
a split is left out of that split's macro average (disentanglement_lib fails).
disentanglement_lib uses 10,000 training and 5,000 test points.
"""

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from kerasdis.metrics._validation import (
    check_train_test,
    discrete_mutual_info,
    histogram_discretize,
)


def modularity(mutual_information):
    """Modularity from a `[D, K]` mutual-information matrix (Ridgeway & Zemel)."""
    squared = np.square(np.asarray(mutual_information, dtype=np.float64))
    num_factors = squared.shape[1]
    max_squared = np.max(squared, axis=1)
    if num_factors == 1:
        return float(np.mean(np.where(max_squared > 0, 1.0, 0.0)))
    numerator = np.sum(squared, axis=1) - max_squared
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = numerator / (max_squared * (num_factors - 1.0))
    score = 1.0 - delta
    score[max_squared == 0.0] = 0.0
    return float(np.mean(score))


def _macro_auc(classes, y, proba):
    scores = []
    for c, label in enumerate(classes):
        positive = y == label
        if positive.all() or not positive.any():
            continue
        scores.append(roc_auc_score(positive, proba[:, c]))
    return float(np.mean(scores)) if scores else 0.5


def explicitness_per_factor(x_train, y_train, x_test, y_test):
    """ROC-AUC (train, test) of a logistic regression predicting one factor."""
    classifier = LogisticRegression(max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classifier.fit(x_train, y_train)
    return (_macro_auc(classifier.classes_, y_train, classifier.predict_proba(x_train)),
            _macro_auc(classifier.classes_, y_test, classifier.predict_proba(x_test)))


def modularity_explicitness(codes_train, factors_train, codes_test, factors_test, num_bins=20):
    """Modularity and explicitness of a representation.

    Args:
        codes_train, codes_test: float arrays `[n, D]`.
        factors_train, factors_test: int arrays `[n, K]` of factor indices.
        num_bins: int. Histogram bins for the mutual information.

    Returns:
        dict with `modularity`, `explicitness_train`, `explicitness_test`.
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test)
    mi = discrete_mutual_info(histogram_discretize(codes_train, num_bins), factors_train)
    mean = codes_train.mean(axis=0)
    std = codes_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x_train = (codes_train - mean) / std
    x_test = (codes_test - mean) / std
    train, test = [], []
    for k in range(factors_train.shape[1]):
        a, b = explicitness_per_factor(x_train, factors_train[:, k], x_test, factors_test[:, k])
        train.append(a)
        test.append(b)
    return {
        "modularity": modularity(mi),
        "explicitness_train": float(np.mean(train)),
        "explicitness_test": float(np.mean(test)),
    }


PROTOCOL = {"num_train": 10_000, "num_test": 5_000, "num_bins": 20}


# ----------------------------------------------------------------- kd.metrics.evaluate


def evaluate_codes(codes_train, factors_train, codes_test, factors_test, num_bins=20):
    """`kd.metrics.evaluate`'s adapter (registry kind "codes_train_test"):
    `modularity_explicitness` on the shared training and test samples."""
    return modularity_explicitness(codes_train, factors_train, codes_test, factors_test,
                                   num_bins=num_bins)
