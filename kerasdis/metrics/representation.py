"""Representations, batched encoding and the factor-grid code cache.

A *representation* is either

- a kerasdis model (anything with `encode(x) -> (mean, log_var)`): the code of an
  image is its posterior mean `encode(x)[0]`, as in disentanglement_lib, or
- any callable `images -> codes` taking float32 `[n, H, W, C]` numpy images and
  returning `[n, D]` codes.

`representation_function()` turns either into a numpy function that encodes in
batches. `encode_grid()` encodes every image of a dataset's finite factor grid once
(by flat index, in chunks) into a `GridCodes` cache; the sampling protocols
(BetaVAE, FactorVAE, ...) then look codes up by factor vector instead of rendering
and encoding images, with the same results (the codes of an image do not depend on
how it was reached) and much faster: the BetaVAE protocol alone would encode 1.9M
images, the dSprites grid has 737,280.

```python
grid = kd.metrics.encode_grid(model, ds)          # GridCodes: means (+ log_vars)
kd.metrics.beta_vae_score(model, ds, codes=grid)
kd.metrics.mig(model, ds, codes=grid)
```
"""

import numpy as np

from kerasdis import progress
from kerasdis.metrics._validation import as_rng, check_images, check_positive_int

# Largest grid `encode_grid=True` encodes on its own (dSprites: 737,280).
MAX_GRID_SIZE = 2_000_000
DEFAULT_BATCH_SIZE = 256
DEFAULT_GRID_BATCH_SIZE = 1024


def is_model(representation):
    """Whether `representation` is a model with `encode(x) -> (mean, log_var)`."""
    if isinstance(representation, (str, bytes)):
        return False
    return callable(getattr(representation, "encode", None))


def _check_representation(representation):
    if not (is_model(representation) or callable(representation)):
        raise ValueError(
            "`representation` must be a kerasdis model (with `encode`) or a callable "
            f"images -> codes, got {type(representation).__name__}."
        )


def _as_code_array(value, name, num_images):
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != num_images:
        raise ValueError(
            f"the representation must return {name} of shape [num_images, num_codes] = "
            f"[{num_images}, D], got shape {arr.shape}."
        )
    return arr


def _batched(fn, images, batch_size, num_outputs):
    n = images.shape[0]
    parts = [[] for _ in range(num_outputs)]
    for start in range(0, n, batch_size):
        out = fn(images[start:start + batch_size])
        out = out if num_outputs > 1 else (out,)
        for acc, value in zip(parts, out):
            acc.append(value)
    if n == 0:
        raise ValueError("cannot encode an empty batch of images.")
    return tuple(np.concatenate(p, axis=0) for p in parts)


def _model_encoder(model):
    """`x -> (mean, log_var)` numpy of `model.encode`, through a `tf.function` when the
    model's `encode` can be traced (about 1.4x faster for a conv encoder on CPU),
    else eagerly."""
    import tensorflow as tf

    state = {"graph": tf.function(lambda x: tuple(model.encode(x)[:2]), reduce_retracing=True)}

    def encode(x):
        fn = state["graph"]
        if fn is not None:
            try:
                out = fn(tf.constant(x))
            except Exception:  # noqa: BLE001 - not traceable: fall back to eager calls
                state["graph"] = None
                fn = None
        if fn is None:
            out = model.encode(x)[:2]
        return np.asarray(out[0]), np.asarray(out[1])

    return encode


def representation_function(representation, batch_size=DEFAULT_BATCH_SIZE,
                            images_name="images"):
    """Numpy function `images [n, H, W, C] -> codes float32 [n, D]`, batched.

    The images are checked before they are encoded (`_validation.check_images`):
    NaN or Inf pixels and float pixels outside [0, 1] raise a `ValueError` naming
    `images_name`; uint8 images are scaled by 1/255.

    Args:
        representation: a kerasdis model (its posterior mean is used) or a callable
            images -> codes.
        batch_size: int. Images per call of the encoder.
        images_name: str. What the error messages call the images (the argument
            they came from, e.g. `"ds"` for the images of a dataset).
    """
    _check_representation(representation)
    batch_size = check_positive_int("batch_size", batch_size)
    model_encode = _model_encoder(representation) if is_model(representation) else None

    def encode_batch(x):
        x = np.asarray(x, dtype=np.float32)
        if model_encode is not None:
            out = model_encode(x)[0]
        else:
            out = representation(x)
        return _as_code_array(out, "codes", x.shape[0])

    def encode(images):
        images = check_images(images, images_name)
        return _batched(encode_batch, images, batch_size, 1)[0]

    return encode


def posterior_function(model, batch_size=DEFAULT_BATCH_SIZE, images_name="images"):
    """Numpy function `images -> (means, log_vars)`, each float32 `[n, D]`, batched.

    The images are checked as in `representation_function`."""
    if not is_model(model):
        raise ValueError(
            "`model` must have `encode(x) -> (mean, log_var)` (a kerasdis model), got "
            f"{type(model).__name__}."
        )
    batch_size = check_positive_int("batch_size", batch_size)
    model_encode = _model_encoder(model)

    def encode_batch(x):
        x = np.asarray(x, dtype=np.float32)
        mean, log_var = model_encode(x)
        return (_as_code_array(mean, "means", x.shape[0]),
                _as_code_array(log_var, "log-variances", x.shape[0]))

    def encode(images):
        images = check_images(images, images_name)
        return _batched(encode_batch, images, batch_size, 2)

    return encode


# ----------------------------------------------------------------- datasets


def factor_sizes_of(ds, name="ds"):
    """`ds.factor_sizes` as a tuple, or `ValueError` if the dataset has no factors."""
    sizes = getattr(ds, "factor_sizes", None)
    if sizes is None or len(sizes) == 0:
        raise ValueError(
            f"`{name}` ({getattr(ds, 'name', type(ds).__name__)!r}) has no ground-truth "
            "factors (`factor_sizes` is empty): this metric needs a dataset with factors "
            "of variation, such as dsprites."
        )
    sizes = tuple(int(s) for s in sizes)
    if any(s < 1 for s in sizes):
        raise ValueError(f"`{name}.factor_sizes` must be positive, got {sizes}.")
    return sizes


def factor_names_of(ds):
    sizes = factor_sizes_of(ds)
    names = getattr(ds, "factor_names", None)
    if names is None or len(names) != len(sizes):
        return tuple(f"factor_{k}" for k in range(len(sizes)))
    return tuple(str(n) for n in names)


def grid_size(ds):
    """Number of points of the dataset's factor grid if its images are indexed by it.

    That is `prod(factor_sizes)` when `ds.num_examples` equals it and the dataset
    does not say otherwise (`indexed_by_factors`; flat index = mixed radix over
    `factor_sizes`, last factor fastest); otherwise `None`.
    """
    sizes = getattr(ds, "factor_sizes", None)
    if sizes is None or len(sizes) == 0 or not getattr(ds, "indexed_by_factors", True):
        return None  # e.g. `from_arrays` images stored in another order than the grid
    size = int(np.prod(np.asarray(sizes, dtype=np.int64)))
    if int(getattr(ds, "num_examples", -1)) != size:
        return None
    return size


def sample_factors(factor_sizes, n, rng):
    """`[n, K]` int64 factors, each drawn uniformly with `rng.integers(0, size, n)`."""
    return np.stack([rng.integers(0, s, size=n) for s in factor_sizes], axis=1).astype(np.int64)


def noise_rng_of(rng):
    """An independent generator for image noise, so that drawing noise never shifts
    the factor stream of `rng` (`Generator.spawn` does not advance `rng`)."""
    return rng.spawn(1)[0]


def is_stochastic(ds):
    """Whether the dataset draws random pixels (colour, noise) for a given factor."""
    return bool(getattr(ds, "stochastic", False))


def render(ds, factors, noise_rng=None):
    """`ds.images(factors)`, seeded from `noise_rng` for stochastic datasets."""
    if is_stochastic(ds) and noise_rng is not None:
        return ds.images(factors, seed=int(noise_rng.integers(2**31 - 1)))
    return ds.images(factors)


# ----------------------------------------------------------------- grid cache


class GridCodes:
    """Codes of every image of a dataset's factor grid, looked up by factor vector.

    Attributes:
        means: float32 `[N, D]`. Codes (posterior means for a model) by flat index.
        log_vars: float32 `[N, D]` posterior log-variances, or `None` when the
            representation is a plain function.
        factor_sizes: tuple of int. The grid (`N = prod(factor_sizes)`).
        dataset_name: str or None.
    """

    def __init__(self, means, log_vars=None, factor_sizes=None, dataset_name=None):
        means = np.asarray(means, dtype=np.float32)
        if means.ndim != 2:
            raise ValueError(f"`means` must be [N, D], got shape {means.shape}.")
        if factor_sizes is None:
            raise ValueError("`factor_sizes` is required.")
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        size = int(np.prod(self.factor_sizes))
        if means.shape[0] != size:
            raise ValueError(
                f"`means` has {means.shape[0]} rows but the grid {self.factor_sizes} has "
                f"{size} points."
            )
        if log_vars is not None:
            log_vars = np.asarray(log_vars, dtype=np.float32)
            if log_vars.shape != means.shape:
                raise ValueError(
                    f"`log_vars` shape {log_vars.shape} differs from `means` {means.shape}."
                )
        self.means = means
        self.log_vars = log_vars
        self.dataset_name = dataset_name
        strides = np.ones(len(self.factor_sizes), dtype=np.int64)
        for k in range(len(self.factor_sizes) - 2, -1, -1):
            strides[k] = strides[k + 1] * self.factor_sizes[k + 1]
        self._strides = strides

    def __repr__(self):
        return (f"<GridCodes {self.dataset_name!r}: {self.num_examples} x {self.latent_dim}, "
                f"log_vars={'yes' if self.log_vars is not None else 'no'}>")

    @property
    def num_examples(self):
        return self.means.shape[0]

    @property
    def latent_dim(self):
        return self.means.shape[1]

    def index_of(self, factors):
        """Flat indices (mixed radix, last factor fastest) of `[n, K]` factors."""
        factors = np.asarray(factors, dtype=np.int64)
        if factors.ndim != 2 or factors.shape[1] != len(self.factor_sizes):
            raise ValueError(
                f"`factors` must be [n, {len(self.factor_sizes)}], got shape {factors.shape}."
            )
        if ((factors < 0) | (factors >= np.asarray(self.factor_sizes))).any():
            raise ValueError(f"`factors` out of range for the grid {self.factor_sizes}.")
        return factors @ self._strides

    def factors_at(self, indices):
        """`[n, K]` factors of flat indices."""
        return np.stack(np.unravel_index(np.asarray(indices, dtype=np.int64),
                                         self.factor_sizes), axis=1).astype(np.int64)

    def lookup(self, factors):
        """Codes (means) of the grid points `factors` `[n, K]`."""
        return self.means[self.index_of(factors)]

    def check_dataset(self, ds):
        sizes = factor_sizes_of(ds)
        if sizes != self.factor_sizes:
            raise ValueError(
                f"`codes` was encoded on a grid {self.factor_sizes}, but the dataset has "
                f"factor sizes {sizes}."
            )


def encode_grid(representation, ds, batch_size=DEFAULT_GRID_BATCH_SIZE, verbose=1,
                max_size=None, log_vars=None):
    """Encodes every image of `ds` (by flat index, in chunks) into a `GridCodes`.

    Args:
        representation: a kerasdis model or a callable images -> codes.
        ds: a ground-truth dataset whose `num_examples` images are the points of
            its factor grid (`images_at(i)` is the grid point of flat index `i`).
        batch_size: int. Images rendered and encoded per chunk.
        verbose: 0 or 1. `keras.utils.Progbar` over the images.
        max_size: int or None. Refuse grids larger than this (default: no limit).
        log_vars: bool or None. Also keep posterior log-variances (needs a model);
            `None` keeps them whenever `representation` is a model.

    Returns:
        `GridCodes` with float32 `means` `[N, D]` (and `log_vars`).
    """
    _check_representation(representation)
    batch_size = check_positive_int("batch_size", batch_size)
    sizes = factor_sizes_of(ds)
    size = grid_size(ds)
    if size is None:
        raise ValueError(
            f"`ds` ({getattr(ds, 'name', '?')!r}) does not index its {ds.num_examples} images "
            f"by the factor grid {sizes}; encode samples instead of the grid."
        )
    if max_size is not None and size > max_size:
        raise ValueError(f"the grid of `ds` has {size} images, more than `max_size`={max_size}.")
    if log_vars is None:
        log_vars = is_model(representation)
    if log_vars:
        encode = posterior_function(representation, batch_size, images_name="ds")
    else:
        encode = representation_function(representation, batch_size, images_name="ds")
    progbar = progress.bar(size, verbose=verbose, unit_name="image") if verbose else None
    means = lvs = None
    for start in range(0, size, batch_size):
        stop = min(size, start + batch_size)
        images = ds.images_at(np.arange(start, stop, dtype=np.int64))
        out = encode(images)
        mean, lv = (out if log_vars else (out, None))
        if means is None:
            means = np.empty((size, mean.shape[1]), dtype=np.float32)
            lvs = np.empty((size, mean.shape[1]), dtype=np.float32) if log_vars else None
        means[start:stop] = mean
        if log_vars:
            lvs[start:stop] = lv
        if progbar is not None:
            progbar.update(stop)
    if not np.isfinite(means).all():
        raise ValueError("the representation returned NaN or Inf codes.")
    return GridCodes(means, lvs, sizes, getattr(ds, "name", None))


_encode_grid = encode_grid  # `CodeSource` has an argument of that name.


class CodeSource:
    """Codes of factor vectors: grid look-ups, or rendering and encoding on the fly.

    Args:
        representation: model or callable.
        ds: ground-truth dataset.
        codes: a `GridCodes` to use (always used when given).
        encode_grid: `True` (default): encode the grid once when the dataset has a
            finite grid of at most `MAX_GRID_SIZE` images, is not stochastic, and
            the protocol needs at least as many images as the grid has (else on the
            fly is cheaper); `"always"`: whenever the grid is finite; `False`: never.
        num_images: int. Images the protocol will encode on the fly.
        batch_size: int. Encoder batch size.
        verbose: 0 or 1.
    """

    def __init__(self, representation, ds, codes=None, encode_grid=True, num_images=None,
                 batch_size=DEFAULT_BATCH_SIZE, verbose=0):
        _check_representation(representation)
        self.sizes = factor_sizes_of(ds)
        self.ds = ds
        self.batch_size = check_positive_int("batch_size", batch_size)
        if encode_grid not in (True, False, "always"):
            raise ValueError(f"`encode_grid` must be True, False or 'always', got {encode_grid!r}.")
        self.grid = None
        if codes is not None:
            if not isinstance(codes, GridCodes):
                raise ValueError(
                    f"`codes` must be a GridCodes (from encode_grid), got {type(codes).__name__}."
                )
            codes.check_dataset(ds)
            self.grid = codes
        elif encode_grid:
            size = grid_size(ds)
            worthwhile = encode_grid == "always" or (
                size is not None and size <= MAX_GRID_SIZE and not is_stochastic(ds)
                and (num_images is None or num_images >= size)
            )
            if size is not None and worthwhile:
                self.grid = _encode_grid(
                    representation, ds, batch_size=max(self.batch_size, DEFAULT_GRID_BATCH_SIZE),
                    verbose=verbose, log_vars=False,
                )
        self._encode = None if self.grid is not None else representation_function(
            representation, self.batch_size, images_name="ds")

    @property
    def uses_grid(self):
        return self.grid is not None

    def __call__(self, factors, noise_rng=None):
        """float64 codes `[n, D]` of the factor vectors `[n, K]`."""
        factors = np.asarray(factors, dtype=np.int64)
        if self.grid is not None:
            return self.grid.lookup(factors).astype(np.float64)
        out = []
        chunk = max(self.batch_size, DEFAULT_GRID_BATCH_SIZE)
        for start in range(0, factors.shape[0], chunk):
            images = render(self.ds, factors[start:start + chunk], noise_rng)
            out.append(self._encode(images))
        codes = np.concatenate(out, axis=0).astype(np.float64)
        if not np.isfinite(codes).all():
            raise ValueError("the representation returned NaN or Inf codes.")
        return codes


def sample_codes(representation, ds, num_points, seed=0, codes=None, encode_grid=True,
                 batch_size=DEFAULT_BATCH_SIZE, verbose=0, source=None):
    """Draws `num_points` uniform factor vectors and their codes.

    The factors are `sample_factors(ds.factor_sizes, num_points,
    np.random.default_rng(seed))`, so a given seed gives the same points whether the
    codes come from a grid cache or from encoding on the fly.

    Returns:
        `(codes float64 [n, D], factors int64 [n, K])`.
    """
    num_points = check_positive_int("num_points", num_points)
    if source is None:
        source = CodeSource(representation, ds, codes=codes, encode_grid=encode_grid,
                            num_images=num_points, batch_size=batch_size, verbose=verbose)
    rng = as_rng(seed)
    factors = sample_factors(source.sizes, num_points, rng)
    return source(factors, noise_rng_of(rng)), factors


def factor_indices(items, names, what="factors"):
    """Indices of the factors `items` (a name or index, or a list of them) among
    `names`, in the given order; a `ValueError` naming the argument `what` otherwise."""
    if isinstance(items, (str, int, np.integer)):
        items = [items]
    out = []
    for item in items:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= int(item) < len(names):
                raise ValueError(f"`{what}`: factor index {item} out of range for {names}.")
            out.append(int(item))
        elif isinstance(item, str) and item in names:
            out.append(names.index(item))
        else:
            raise ValueError(f"`{what}`: unknown factor {item!r}; factors are {names}.")
    return out
