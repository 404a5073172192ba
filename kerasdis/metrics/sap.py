"""Separated Attribute Predictability (SAP).

Kumar et al. 2018, "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations" (https://openreview.net/forum?id=H1kG7GZAW), Sec. 3, as in
disentanglement_lib (`evaluation/metrics/sap_score.py`).

Protocol: a score matrix `S [D, K]`:

- discrete factors (default): `S_jk` is the test accuracy of
  `sklearn.svm.LinearSVC(C=0.01, class_weight="balanced")` trained to predict
  factor k from code dimension j alone;
- `continuous_factors=True`: `S_jk` is the R^2 of a linear fit of factor k on code j
  (squared correlation) on the training set; a code dimension of variance
  < 1e-12 scores 0.

SAP is the mean over factors of the gap between the two largest `S_jk`.
disentanglement_lib uses 10,000 training and 5,000 test points.

Note the discrete score cannot reach 1: the second best dimension still classifies
at about chance level (1 / number of values), and a one-vs-rest linear classifier on
a single dimension cannot separate the middle values of a factor with more than two
values. A perfect identity code of factors with 3, 4 and 5 values scores about 0.5.
"""

import warnings

import numpy as np
from sklearn.svm import LinearSVC

from kerasdis.metrics._validation import check_train_test, top_two_gap


def sap_score_matrix(codes_train, factors_train, codes_test, factors_test,
                     continuous_factors=False):
    """The `[D, K]` score matrix of SAP (accuracies, or R^2 if `continuous_factors`)."""
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test, continuous=continuous_factors)
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    matrix = np.zeros([num_codes, num_factors])
    for j in range(num_codes):
        for k in range(num_factors):
            mu, y = codes_train[:, j], factors_train[:, k]
            if continuous_factors:
                cov = np.cov(mu, y, ddof=1)
                if cov[0, 0] > 1e-12:
                    matrix[j, k] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
            else:
                classifier = LinearSVC(C=0.01, class_weight="balanced", random_state=0)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    classifier.fit(mu[:, None], y)
                pred = classifier.predict(codes_test[:, j:j + 1])
                matrix[j, k] = np.mean(pred == factors_test[:, k])
    return matrix


def sap(codes_train, factors_train, codes_test, factors_test, continuous_factors=False):
    """SAP score: mean over factors of the top-two gap of the score matrix.

    Args:
        codes_train, codes_test: float arrays `[n, D]`.
        factors_train, factors_test: arrays `[n, K]`: integer factor indices, or any
            real values when `continuous_factors=True`.
        continuous_factors: bool. R^2 of linear fits instead of SVM accuracies.

    Returns:
        float. With a single code dimension the second best score is taken as 0.
    """
    matrix = sap_score_matrix(codes_train, factors_train, codes_test, factors_test,
                              continuous_factors)
    return float(np.mean(top_two_gap(matrix)))


PROTOCOL = {"num_train": 10_000, "num_test": 5_000, "continuous_factors": False,
            "classifier": "LinearSVC(C=0.01, class_weight='balanced')"}


# ----------------------------------------------------------------- kd.metrics.evaluate


def evaluate_codes(codes_train, factors_train, codes_test, factors_test,
                   continuous_factors=False):
    """`kd.metrics.evaluate`'s adapter (registry kind "codes_train_test"): `{"sap": ...}`
    on the shared training and test samples."""
    return {"sap": sap(codes_train, factors_train, codes_test, factors_test,
                       continuous_factors=continuous_factors)}
