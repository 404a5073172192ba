"""The BetaVAE disentanglement score.

Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a Constrained
Variational Framework" (https://openreview.net/forum?id=Sy2fzU9gl), with the
scikit-learn classifier of disentanglement_lib (`evaluation/metrics/beta_vae.py`).

Protocol: each training point picks a factor k uniformly, draws `batch_size` (64)
pairs of factor vectors (uniform, independent) that share the value of factor k,
encodes both images of every pair and takes the feature `mean_pairs |z1 - z2|`
(a `[D]` vector) with label k. A `sklearn.linear_model.LogisticRegression`
(`max_iter=1000`, `random_state=0`; disentanglement_lib uses the defaults) is fit on
`num_train` (10,000) points; the score is its accuracy on them and on `num_eval`
(5,000) new points. Chance level is about 1 / num_factors.

Codes are the posterior means of a model, or the output of a callable. With a finite
factor grid the images are encoded once (`encode_grid`) and looked up, which gives
the same result as encoding the 2 x 64 x 15,000 = 1.9M images on the fly.
"""

import warnings

import keras
import numpy as np
from sklearn.linear_model import LogisticRegression

from kerasdis.metrics import representation as rep
from kerasdis.metrics._validation import as_rng, check_positive_int

_POINTS_PER_CHUNK = 256


def _features(source, num_points, batch_size, rng, noise_rng, progbar, done):
    sizes = source.sizes
    num_factors = len(sizes)
    labels = rng.integers(num_factors, size=num_points)
    features = None
    for start in range(0, num_points, _POINTS_PER_CHUNK):
        stop = min(num_points, start + _POINTS_PER_CHUNK)
        p = stop - start
        f1 = rep.sample_factors(sizes, p * batch_size, rng).reshape(p, batch_size, num_factors)
        f2 = rep.sample_factors(sizes, p * batch_size, rng).reshape(p, batch_size, num_factors)
        idx = np.arange(p)
        f2[idx, :, labels[start:stop]] = f1[idx, :, labels[start:stop]]
        c1 = source(f1.reshape(-1, num_factors), noise_rng).reshape(p, batch_size, -1)
        c2 = source(f2.reshape(-1, num_factors), noise_rng).reshape(p, batch_size, -1)
        feat = np.mean(np.abs(c1 - c2), axis=1)
        if features is None:
            features = np.zeros((num_points, feat.shape[1]))
        features[start:stop] = feat
        if progbar is not None:
            progbar.update(done + stop)
    return features, labels


def beta_vae_score(representation, ds, num_train=10_000, num_eval=5_000, batch_size=64, seed=0,
                   codes=None, encode_grid=True, encode_batch_size=rep.DEFAULT_BATCH_SIZE,
                   verbose=0):
    """BetaVAE score (Higgins et al. 2017) of a representation on a dataset.

    Args:
        representation: a kerasdis model (posterior mean) or a callable images -> codes.
        ds: ground-truth dataset with factors.
        num_train: int. Training points of the classifier.
        num_eval: int. Evaluation points.
        batch_size: int. Pairs averaged into one point (64).
        seed: int or `np.random.Generator`.
        codes: optional `GridCodes`; `encode_grid`: see `representation.CodeSource`.
        encode_batch_size: int. Encoder batch size when encoding.
        verbose: 0 or 1.

    Returns:
        dict with `train_accuracy`, `eval_accuracy` and `eval_accuracy_per_factor`
        (the fraction of evaluation points of each fixed factor, in the dataset's factor
        order, that the classifier assigns to it; None for a factor never drawn).
    """
    num_train = check_positive_int("num_train", num_train)
    num_eval = check_positive_int("num_eval", num_eval)
    batch_size = check_positive_int("batch_size", batch_size)
    rng = as_rng(seed)
    source = rep.CodeSource(
        representation, ds, codes=codes, encode_grid=encode_grid,
        num_images=2 * batch_size * (num_train + num_eval), batch_size=encode_batch_size,
        verbose=verbose,
    )
    noise_rng = rep.noise_rng_of(rng)
    progbar = keras.utils.Progbar(num_train + num_eval, verbose=verbose) if verbose else None
    x_train, y_train = _features(source, num_train, batch_size, rng, noise_rng, progbar, 0)
    x_eval, y_eval = _features(source, num_eval, batch_size, rng, noise_rng, progbar, num_train)
    if len(np.unique(y_train)) < 2:
        # Too few points to see two factors: a constant classifier.
        train_pred = np.full_like(y_train, y_train[0])
        eval_pred = np.full_like(y_eval, y_train[0])
    else:
        model = LogisticRegression(max_iter=1000, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x_train, y_train)
        train_pred, eval_pred = model.predict(x_train), model.predict(x_eval)
    # Recall of each factor on the evaluation points (None: no point of that factor).
    per_factor = [float(np.mean(eval_pred[y_eval == k] == k)) if np.any(y_eval == k) else None
                  for k in range(len(source.sizes))]
    return {"train_accuracy": float(np.mean(train_pred == y_train)),
            "eval_accuracy": float(np.mean(eval_pred == y_eval)),
            "eval_accuracy_per_factor": per_factor}


PROTOCOL = {"num_train": 10_000, "num_eval": 5_000, "batch_size": 64,
            "classifier": "LogisticRegression(max_iter=1000)"}
