"""Unsupervised Disentanglement Ranking (UDR) of a set of models.

Duan, Matthey, Saraiva, Watters, Burgess, Lerchner & Higgins, "Unsupervised Model
Selection for Variational Disentangled Representation Learning", ICLR 2020
(arXiv:1905.12614), Section 3. UDR needs no labels: it ranks models trained on the
same data by how similar their representations are to those of the other models,
on the premise (Rolinek et al. 2019) that disentangled representations are alike up
to permutation and sign of the latents while entangled ones differ from seed to
seed.

```python
out = kd.metrics.udr([model_a, model_b, model_c], kd.data.load("dsprites"), seed=0)
out["scores"]          # one float per model, higher = more disentangled
out["pairwise"][i][j]  # UDR_ij (diagonal None)
```

Protocol (as disentanglement_lib's `evaluation/udr/metrics/udr.py`,
`compute_udr_sklearn`, with the KL of `evaluation/udr/evaluate.py`):

1. The same `num_samples` images are encoded by every model: posterior means
   `mu` and log-variances `log s^2` (disentanglement_lib samples them with
   `sample_observations`; here a dataset is sampled with `ds.sample_factors(n,
   rng)` then `ds.images(...)`; labels are never used).
2. Informative latents: the KL of each latent's posterior to the N(0, 1) prior,
   averaged over the images, `KL_a = mean_x 0.5 (mu_a^2 + s_a^2 - log s_a^2 - 1)`
   (`compute_gaussian_kl`), must exceed `kl_threshold` (paper: 0.01). `r_a = 1`
   for those latents, else 0.
3. Codes are the posterior means of the informative latents, standardised
   (`preprocessing.StandardScaler`: zero mean, unit variance; a constant column
   stays 0).
4. For each ordered pair (i, j) of models a similarity matrix `R` `[d_i, d_j]`
   between the informative latents `a` of model i and `b` of model j:
   - `correlation="spearman"`: `R(a, b) = |Spearman rank correlation|`
     (`spearman_correlation_conv`, `scipy.stats.spearmanr`);
   - `correlation="lasso"`: `R(a, b) = |w_ab|`, the weights of a Lasso regression
     (`sklearn.linear_model.Lasso(alpha=0.1)`) of model j's codes on model i's
     (`lasso_correlation_matrix`; not symmetric in i and j).
5. `UDR_ij` from the row and column maxima (`relative_strength_disentanglement`)::

       score_b = max_a R(a, b)^2 / sum_a R(a, b)      (0 where the column is 0)
       score_a = max_b R(a, b)^2 / sum_b R(a, b)      (0 where the row is 0)
       UDR_ij  = (mean_b score_b + mean_a score_a) / 2

   over the informative latents only (`filter_low_kl=True`). A one-to-one match of
   latents gives 1 with Spearman correlations; with Lasso it gives about 0.9 (the
   L1 penalty shrinks a unit weight on standardised codes to 1 - alpha). A latent
   spread equally over `k` latents of the other model scores `1/k`.
6. The score of model j is the median of `UDR_ij` over the other models i
   (`np.median(np.delete(disentanglement[:, j], j))`).

`pairwise[i][j]` is disentanglement_lib's `pairwise_disentanglement_scores[i, j]`:
model i's latents are the rows of `R` (the Lasso regressors), model j's the
columns (the targets). With Spearman correlations it is symmetric.

Differences from the paper and from disentanglement_lib:

- The paper (Sec. 3) writes `UDR_ij = 1/(d_a + d_b) [sum_b r_b max_a R(a,b)^2 /
  sum_a R(a,b) + sum_a r_a max_b R(a,b)^2 / sum_b R(a,b)]`: one average over the
  `d_a + d_b` informative latents of both models. disentanglement_lib, followed
  here, averages over the columns and over the rows separately and then averages
  the two means. Both agree only when the two models have as many informative
  latents (`d_a = d_b`); disentanglement_lib asserts equal latent sizes, but after
  the KL filter the informative counts often differ and it still averages the two
  means. Here the latent sizes may also differ between models.
- No informative latent in model i or j: disentanglement_lib fails (a maximum
  over an empty axis); here `UDR_ij = 0`, the value of the paper's sum when one
  of the models has no informative latent (and the limit we choose for both).
- A correlation that is undefined (an informative latent whose mean is constant
  over the images, with Spearman) counts as 0; in disentanglement_lib the NaN
  makes every maximum along its axis NaN, which zeroes the whole column (or row)
  half of `UDR_ij`, not only the latent's own column or row.
- The default similarity is Spearman's (the paper's UDR_S, symmetric in i and j);
  disentanglement_lib's `compute_udr_sklearn` defaults to Lasso (UDR_L), and its
  shipped configurations name one explicitly (`udr.gin` Lasso, `udr_spearman.gin`
  Spearman). The two give different scores: pass `correlation="lasso"` for UDR_L.
- disentanglement_lib zeroes latents with KL <= 0.01 (a hard-coded value) and
  masks with `kl_filter_threshold`; here `kl_threshold` does both (identical at
  the default). Dropping a zeroed latent instead of keeping a zero column does not
  change the Lasso fit (each target is fit separately; a zero feature gets weight 0).
- The KL is averaged over all images at once rather than per batch and then over
  batches (identical for equal batches).

Models: kerasdis models (anything with `encode(x) -> (mean, log_var)`), run
directories of `kerasdis train --out DIR` (`model.keras`, else `checkpoint.keras`)
or `.keras` files, loaded here with `keras.saving.load_model(..., safe_mode=True,
compile=False)` (the model classes must be registered, i.e. `kerasdis.models`
imported), and, through `loader=` (e.g. `kd.zoo.load`), preset names and
directories: `kerasdis.metrics` imports neither the models nor the zoo.
"""

import os
import warnings

import keras
import numpy as np
import scipy.stats
from sklearn.linear_model import Lasso

from kerasdis.io import jsonable
from kerasdis.metrics import representation as rep
from kerasdis.metrics._validation import as_rng, check_positive_int, seed_value

CORRELATIONS = ("spearman", "lasso")
DEFAULT_NUM_SAMPLES = 10_000
DEFAULT_KL_THRESHOLD = 0.01
LASSO_ALPHA = 0.1
# The model files of a `kerasdis.training.train` run directory, in order of
# preference (`kerasdis.training.CHECKPOINT` is "checkpoint.keras"; not imported:
# the metrics sit below the training module).
RUN_MODEL_FILES = ("model.keras", "checkpoint.keras")
_IMAGE_CHUNK = 1024


# ----------------------------------------------------------------- the score


def relative_strength_disentanglement(corr_matrix):
    """`UDR_ij` of a similarity matrix `R` `[d_i, d_j]` (non-negative entries).

    disentanglement_lib's `relative_strength_disentanglement`: the mean over the
    columns of `max_a R(a,b)^2 / sum_a R(a,b)` and the mean over the rows of
    `max_b R(a,b)^2 / sum_b R(a,b)` (an all-zero row or column contributes 0),
    averaged. An empty matrix (no informative latent on one side) scores 0.
    """
    r = np.asarray(corr_matrix, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"`corr_matrix` must be 2-D [d_i, d_j], got shape {r.shape}.")
    if r.size == 0:
        return 0.0
    r = np.nan_to_num(r, nan=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        score_x = np.nan_to_num(np.max(r, axis=0) ** 2 / np.sum(r, axis=0), nan=0.0)
        score_y = np.nan_to_num(np.max(r, axis=1) ** 2 / np.sum(r, axis=1), nan=0.0)
    return float((np.mean(score_x) + np.mean(score_y)) / 2.0)


def spearman_matrix(codes_i, codes_j):
    """`|Spearman correlation|` `[d_i, d_j]` between the columns of two code arrays."""
    codes_i = np.asarray(codes_i, dtype=np.float64)
    codes_j = np.asarray(codes_j, dtype=np.float64)
    d_i = codes_i.shape[1]
    with warnings.catch_warnings():
        # A constant column has no rank correlation: NaN, counted as 0.
        warnings.simplefilter("ignore", scipy.stats.ConstantInputWarning)
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = scipy.stats.spearmanr(codes_i, codes_j).statistic
    corr = np.asarray(corr, dtype=np.float64)
    if corr.ndim == 0:  # one column on each side: spearmanr returns a scalar
        block = corr.reshape(1, 1)
    else:
        block = corr[:d_i, d_i:]
    return np.nan_to_num(np.abs(block), nan=0.0)


def lasso_matrix(codes_i, codes_j, random_state=0):
    """`|w|` `[d_i, d_j]` of a Lasso regression (alpha 0.1) of `codes_j` on `codes_i`."""
    codes_i = np.asarray(codes_i, dtype=np.float64)
    codes_j = np.asarray(codes_j, dtype=np.float64)
    model = Lasso(alpha=LASSO_ALPHA, random_state=random_state)
    model.fit(codes_i, codes_j)
    coef = np.asarray(model.coef_, dtype=np.float64).reshape(codes_j.shape[1], codes_i.shape[1])
    return np.abs(coef).T


def gaussian_kl(means, log_vars):
    """Per-latent KL(N(mu, s^2) || N(0, 1)) averaged over the images, `[D]` nats."""
    means = np.asarray(means, dtype=np.float64)
    log_vars = np.asarray(log_vars, dtype=np.float64)
    return np.mean(0.5 * (np.square(means) + np.exp(log_vars) - log_vars - 1.0), axis=0)


def _standardise(codes):
    """`StandardScaler().fit_transform`: zero mean, unit variance, constant columns 0."""
    mean = codes.mean(axis=0)
    std = codes.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (codes - mean) / std


def _check_kl_threshold(kl_threshold):
    if isinstance(kl_threshold, bool) or not isinstance(kl_threshold, (int, float, np.integer,
                                                                       np.floating)):
        raise ValueError(
            f"`kl_threshold` must be a non-negative number (nats), got {kl_threshold!r}.")
    value = float(kl_threshold)
    if not np.isfinite(value) or value < 0:
        raise ValueError(
            f"`kl_threshold` must be a finite non-negative number (nats), got {kl_threshold!r}.")
    return value


def _check_correlation(correlation):
    if not isinstance(correlation, str) or correlation not in CORRELATIONS:
        raise ValueError(
            f"`correlation` must be one of {', '.join(repr(c) for c in CORRELATIONS)}, "
            f"got {correlation!r}."
        )
    return correlation


def udr_from_codes(means, log_vars, correlation="spearman", kl_threshold=DEFAULT_KL_THRESHOLD,
                   seed=0):
    """UDR from the posterior parameters of every model on the same images.

    Args:
        means: list (one per model, >= 2) of float arrays `[n, D_m]`: posterior
            means of the same `n` images (row `k` is the same image for all models).
        log_vars: list of float arrays `[n, D_m]`: posterior log-variances.
        correlation: `"spearman"` or `"lasso"`.
        kl_threshold: float. A latent is informative if its mean KL exceeds it.
        seed: int. `random_state` of the Lasso regressions.

    Returns:
        dict with `scores`, `pairwise` (diagonal None), `num_informative`,
        `latent_dims`, `kl` (per-latent mean KL of each model), `correlation`,
        `num_samples`, `kl_threshold`, `seed`; JSON-serialisable.
    """
    correlation = _check_correlation(correlation)
    kl_threshold = _check_kl_threshold(kl_threshold)
    if not isinstance(means, (list, tuple)) or not isinstance(log_vars, (list, tuple)):
        raise ValueError("`means` and `log_vars` must be lists with one array per model.")
    if len(means) < 2 or len(means) != len(log_vars):
        raise ValueError(
            f"`means` and `log_vars` need one array per model and at least 2 models, got "
            f"{len(means)} and {len(log_vars)}."
        )
    num_models = len(means)
    codes, kls, informative, dims = [], [], [], []
    n = None
    for m, (mu, lv) in enumerate(zip(means, log_vars)):
        mu = np.asarray(mu, dtype=np.float64)
        lv = np.asarray(lv, dtype=np.float64)
        if mu.ndim != 2 or lv.shape != mu.shape or mu.shape[1] < 1:
            raise ValueError(
                f"model {m}: means and log-variances must be [num_samples, latent_dim] arrays "
                f"of the same shape, got {mu.shape} and {lv.shape}."
            )
        if n is None:
            n = mu.shape[0]
        if mu.shape[0] != n:
            raise ValueError(
                f"model {m} encoded {mu.shape[0]} images but model 0 encoded {n}: every "
                "model must encode the same images."
            )
        if not (np.isfinite(mu).all() and np.isfinite(lv).all()):
            raise ValueError(f"model {m} returned NaN or Inf posterior means or log-variances.")
        kl = gaussian_kl(mu, lv)
        mask = kl > kl_threshold
        kls.append(kl)
        informative.append(mask)
        dims.append(mu.shape[1])
        codes.append(_standardise(mu[:, mask]))
    if n < 2:
        raise ValueError(f"UDR needs at least 2 images, got {n}.")

    pairwise = np.full((num_models, num_models), np.nan)
    for i in range(num_models):
        for j in range(num_models):
            if i == j:
                continue
            if correlation == "spearman" and j < i:
                pairwise[i, j] = pairwise[j, i]  # R_ji = R_ij^T: same score
                continue
            if codes[i].shape[1] == 0 or codes[j].shape[1] == 0:
                pairwise[i, j] = 0.0
                continue
            if correlation == "spearman":
                r = spearman_matrix(codes[i], codes[j])
            else:
                r = lasso_matrix(codes[i], codes[j], random_state=seed)
            pairwise[i, j] = relative_strength_disentanglement(r)

    scores = [float(np.median(np.delete(pairwise[:, j], j))) for j in range(num_models)]
    return jsonable({
        "scores": scores,
        "pairwise": [[None if i == j else float(pairwise[i, j]) for j in range(num_models)]
                     for i in range(num_models)],
        "num_informative": [int(mask.sum()) for mask in informative],
        "latent_dims": dims,
        "kl": [kl.tolist() for kl in kls],
        "correlation": correlation,
        "num_samples": int(n),
        "kl_threshold": kl_threshold,
        "seed": seed_value(seed),
    })


# ----------------------------------------------------------------- inputs


def _run_model_file(path):
    """The model file of a run directory or a `.keras` file path, else None."""
    if os.path.isdir(path):
        for name in RUN_MODEL_FILES:
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return candidate
        return None
    if os.path.isfile(path) and path.endswith(".keras"):
        return path
    return None


def _resolve_model(model, index, loader):
    if rep.is_model(model):
        return model
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        model_file = _run_model_file(os.path.expanduser(path))
        if model_file is not None:
            try:
                loaded = keras.saving.load_model(model_file, safe_mode=True, compile=False)
            except Exception as error:
                hint = ""
                if "Could not locate" in str(error):
                    hint = (" (the model classes are registered with Keras when "
                            "`kerasdis.models` is imported: use `kd.models` first, or pass a "
                            "`loader=`)")
                raise ValueError(
                    f"`models[{index}]` = {path!r}: could not load {model_file}{hint}: {error}"
                ) from error
        elif loader is None:
            raise ValueError(
                f"`models[{index}]` = {path!r} is not a run directory (with "
                f"{' or '.join(RUN_MODEL_FILES)}) nor a .keras file; to use preset names or "
                "preset directories pass a loader, e.g. `loader=kd.zoo.load`."
            )
        else:
            loaded = loader(path)
        if not rep.is_model(loaded):
            raise ValueError(
                f"`models[{index}]` = {path!r} loaded a {type(loaded).__name__}, which has no "
                "`encode(x) -> (mean, log_var)`."
            )
        return loaded
    raise ValueError(
        f"`models[{index}]` must be a kerasdis model (with `encode(x) -> (mean, log_var)`), a "
        f"run directory, a .keras file or (with `loader=`) a preset, got "
        f"{type(model).__name__} {model!r:.80}."
    )


def _check_images(images, name="images_or_dataset"):
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / np.float32(255.0)
    if arr.dtype.kind != "f":
        raise ValueError(
            f"`{name}` must be float images in [0, 1] (or uint8), got dtype {arr.dtype}.")
    if arr.ndim != 4:
        raise ValueError(
            f"`{name}` must be images [n, height, width, channels], got shape {arr.shape}.")
    if np.isnan(arr).any():
        raise ValueError(f"`{name}` contains NaN pixel values; images must be in [0, 1].")
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"`{name}` pixel values must be in [0, 1], got values in [{lo:g}, {hi:g}].")
    return arr.astype(np.float32, copy=False)


def _is_dataset(obj):
    return callable(getattr(obj, "images", None)) and callable(getattr(obj, "images_at", None))


def _image_chunks(images_or_dataset, num_samples, rng, chunk):
    """`(total, iterator of image chunks)`: the images every model encodes."""
    if _is_dataset(images_or_dataset):
        ds = images_or_dataset
        noise_rng = rep.noise_rng_of(rng)
        if getattr(ds, "has_factors", False) and rep.grid_size(ds) is not None:
            # As disentanglement_lib's `sample_observations`: uniform factors, rendered.
            factors = ds.sample_factors(num_samples, seed=rng)

            def chunks():
                for start in range(0, num_samples, chunk):
                    yield rep.render(ds, factors[start:start + chunk], noise_rng)
        else:  # no factor grid (e.g. `from_arrays` without factors): uniform examples
            num_examples = int(getattr(ds, "num_examples", 0))
            if num_examples < 2:
                raise ValueError(
                    f"`images_or_dataset` ({getattr(ds, 'name', type(ds).__name__)!r}) has "
                    f"{num_examples} examples; UDR needs at least 2 images.")
            indices = rng.integers(0, num_examples, size=num_samples)

            def chunks():
                for start in range(0, num_samples, chunk):
                    idx = indices[start:start + chunk]
                    if rep.is_stochastic(ds):
                        yield ds.images_at(idx, seed=int(noise_rng.integers(2**31 - 1)))
                    else:
                        yield ds.images_at(idx)
        return num_samples, chunks()
    images = _check_images(images_or_dataset)
    n = images.shape[0]
    if n < 2:
        raise ValueError(
            f"`images_or_dataset` must hold at least 2 images, got shape {images.shape}.")
    if n > num_samples:  # a seeded subset, in the array's order
        images = images[np.sort(rng.choice(n, size=num_samples, replace=False))]
        n = num_samples

    def chunks():
        for start in range(0, n, chunk):
            yield images[start:start + chunk]
    return n, chunks()


def udr(models, images_or_dataset, *, num_samples=DEFAULT_NUM_SAMPLES, correlation="spearman",
        kl_threshold=DEFAULT_KL_THRESHOLD, batch_size=rep.DEFAULT_BATCH_SIZE, seed=0,
        loader=None):
    """Unsupervised Disentanglement Ranking (Duan et al. 2020) of `models`.

    Args:
        models: list of at least 2 models trained on the same data: kerasdis models
            (with `encode(x) -> (mean, log_var)`), run directories of `kerasdis
            train` (`model.keras`, else `checkpoint.keras`), `.keras` files, or, with
            `loader`, anything `loader` turns into a model (preset names and
            directories with `loader=kd.zoo.load`). Latent sizes may differ.
        images_or_dataset: float images `[n, H, W, C]` in `[0, 1]` (uint8 is scaled
            by 1/255), of which at most `num_samples` (a seeded random subset) are
            used, or a kerasdis dataset, from which `num_samples` images are drawn
            (`ds.sample_factors(num_samples, rng)` then `ds.images`; uniform
            examples for a dataset without a factor grid). Labels are never used.
        num_samples: int >= 2. Images encoded by every model (default 10,000;
            disentanglement_lib has no default).
        correlation: `"spearman"` (absolute Spearman rank correlation, the default)
            or `"lasso"` (absolute Lasso weights, alpha 0.1, on standardised codes).
        kl_threshold: float >= 0. Latents whose mean KL to the prior (nats) does
            not exceed it are uninformative and ignored (paper: 0.01).
        batch_size: int. Images per call of an encoder.
        seed: int or numpy Generator. Image sampling and the Lasso `random_state`.
        loader: callable `str -> model` or None, used for strings that are not run
            directories or `.keras` files; e.g. `kd.zoo.load`.

    Returns:
        A JSON-serialisable dict:
        - `scores`: list of float, one per model (in the order of `models`): the
          median over the other models i of `pairwise[i][j]`; higher is better.
          With `correlation="spearman"` `UDR_ij` is symmetric, so two models get
          the same score: ranking needs three or more.
        - `pairwise`: `n x n` list of lists; `pairwise[i][j]` = `UDR_ij` (model i's
          latents as rows of `R`), diagonal None.
        - `num_informative`: number of latents with KL > `kl_threshold`, per model.
        - `latent_dims`, `kl` (per-latent mean KL, nats, per model),
          `correlation`, `num_samples` (images actually encoded), `kl_threshold`,
          `seed`, `aggregate` ("median").

    Raises:
        ValueError: fewer than 2 models, an object that is not a model, an unknown
            `correlation`, `num_samples` < 2, a negative `kl_threshold`, images not in
            `[0, 1]` or with NaN, fewer than 2 images, NaN codes.
    """
    # Validate everything cheap before loading or encoding anything.
    if isinstance(models, (str, bytes, os.PathLike)) or rep.is_model(models) or not isinstance(
            models, (list, tuple)):
        raise ValueError(
            f"`models` must be a list of at least 2 models, got {type(models).__name__} "
            f"{models!r:.80}.")
    if len(models) < 2:
        raise ValueError(
            f"`models` must hold at least 2 models (UDR compares models with each other), got "
            f"{len(models)}.")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
            or num_samples < 2:
        raise ValueError(f"`num_samples` must be an integer >= 2, got {num_samples!r}.")
    num_samples = int(num_samples)
    correlation = _check_correlation(correlation)
    kl_threshold = _check_kl_threshold(kl_threshold)
    batch_size = check_positive_int("batch_size", batch_size)
    if loader is not None and not callable(loader):
        raise ValueError(f"`loader` must be a callable str -> model or None, got {loader!r}.")
    rng = as_rng(seed)
    if not _is_dataset(images_or_dataset):
        _check_images(images_or_dataset)  # before loading any model

    resolved = [_resolve_model(m, k, loader) for k, m in enumerate(models)]
    encoders = [rep.posterior_function(m, batch_size) for m in resolved]
    _, chunks = _image_chunks(images_or_dataset, num_samples, rng,
                                  max(batch_size, _IMAGE_CHUNK))
    means = [[] for _ in resolved]
    log_vars = [[] for _ in resolved]
    for images in chunks:
        images = _check_images(images)
        for k, encode in enumerate(encoders):
            mu, lv = encode(images)
            means[k].append(mu)
            log_vars[k].append(lv)
    means = [np.concatenate(parts, axis=0) for parts in means]
    log_vars = [np.concatenate(parts, axis=0) for parts in log_vars]
    lasso_seed = int(rng.integers(2**31 - 1)) if isinstance(seed, np.random.Generator) else seed
    out = udr_from_codes(means, log_vars, correlation=correlation, kl_threshold=kl_threshold,
                         seed=lasso_seed)
    out["seed"] = seed_value(seed)
    out["aggregate"] = "median"
    return out
