"""`ArrayDataset`: a ground-truth dataset held in memory, and `from_arrays()`.

The images live in one compact array: uint8 (scaled by 1/255 when served), float32,
or bits packed with `np.packbits` for binary images (8 pixels per byte). The
factors of each example, if any, are indexed by their flat factor index, so
`images(factors)` is a binary search. The tensorflow-datasets adapters build their
datasets with this class too.
"""

import numpy as np

from kerasdis.data.base import GroundTruthDataset


def _check_images(images):
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise ValueError(
            f"`images` must have shape [N, H, W, C] (or [N, H, W] for one channel), got "
            f"shape {arr.shape}."
        )
    if arr.shape[0] < 1 or min(arr.shape[1:]) < 1:
        raise ValueError(
            f"`images` must hold at least one non-empty image, got shape {arr.shape}."
        )
    if arr.dtype == np.uint8:
        return arr, 1.0 / 255.0
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8), 1
    if arr.dtype.kind != "f":
        raise ValueError(
            f"`images` must be float in [0, 1] or uint8 in [0, 255], got dtype {arr.dtype}."
        )
    arr = arr.astype(np.float32, copy=False)
    lo, hi = float(arr.min()), float(arr.max())
    if not (0.0 <= lo and hi <= 1.0):  # also catches NaN
        raise ValueError(
            f"float `images` must be in [0, 1], got values in [{lo}, {hi}]; pass uint8 "
            "images for pixel values in [0, 255]."
        )
    return arr, None


def _check_factors(factors, num_images, factor_names, factor_sizes):
    arr = np.asarray(factors)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"`factors` must be integers, got dtype {arr.dtype}.")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"`factors` must have shape [N, K], got shape {arr.shape}.")
    if arr.shape[0] != num_images:
        raise ValueError(
            f"`factors` has {arr.shape[0]} rows but `images` has {num_images} images."
        )
    arr = arr.astype(np.int64, copy=False)
    k = arr.shape[1]
    if arr.min() < 0:
        col = int(np.argwhere(arr < 0)[0, 1])
        raise ValueError(
            f"`factors` must be non-negative, got {arr[:, col].min()} in column {col}."
        )
    if factor_names is None:
        factor_names = tuple(f"factor_{i}" for i in range(k))
    elif isinstance(factor_names, str) or len(factor_names) != k:
        raise ValueError(
            f"`factor_names` must be a sequence of {k} names (one per column of `factors`), "
            f"got {factor_names!r}."
        )
    maxima = arr.max(axis=0) + 1
    if factor_sizes is None:
        factor_sizes = tuple(int(m) for m in maxima)
    else:
        factor_sizes = tuple(int(s) for s in factor_sizes)
        if len(factor_sizes) != k:
            raise ValueError(f"`factor_sizes` must have {k} entries, got {factor_sizes}.")
        for col, (size, m) in enumerate(zip(factor_sizes, maxima)):
            if size < m:
                raise ValueError(
                    f"`factor_sizes`[{col}]={size} is too small: `factors` column {col} "
                    f"reaches {m - 1}."
                )
    return arr, tuple(factor_names), factor_sizes


class ArrayDataset(GroundTruthDataset):
    """A dataset of in-memory images, with optional integer factors.

    Use `kd.data.from_arrays()` to build one from your arrays. `images_at(i)` is
    the i-th stored image. When factors are given, `images(factors)` returns, for
    each row, a stored image with exactly those factors: the first one in storage
    order, or (with `seed=`) one drawn uniformly among them; a combination that is
    not stored raises a `ValueError`.
    """

    def __init__(self, images, factors=None, factor_names=None, factor_sizes=None,
                 name="arrays", *, packed_shape=None):
        self.name = str(name)
        if packed_shape is None:
            images, self._raw_scale = _check_images(images)
            self.observation_shape = tuple(images.shape[1:])
        else:  # rows of np.packbits over a binary image of shape `packed_shape`
            self._raw_scale = 1
            self.observation_shape = tuple(int(s) for s in packed_shape)
        self._images = images
        self._packed = packed_shape is not None
        self.num_examples = int(images.shape[0])

        if factors is None:
            if factor_names is not None or factor_sizes is not None:
                raise ValueError("`factor_names` and `factor_sizes` need `factors`.")
            self._init_factors((), ())
            self._factors = None
            self.indexed_by_factors = False
            return
        factors, factor_names, factor_sizes = _check_factors(
            factors, self.num_examples, factor_names, factor_sizes
        )
        self._init_factors(factor_names, factor_sizes)
        self._factors = factors
        flat = factors @ self._strides
        self.indexed_by_factors = bool(
            self.num_examples == self.num_grid_points
            and np.array_equal(flat, np.arange(self.num_examples))
        )
        if not self.indexed_by_factors:
            self._order = np.argsort(flat, kind="stable")
            self._keys = flat[self._order]

    @property
    def is_complete(self):
        """bool. Whether every combination of factors has at least one image."""
        if not self.has_factors:
            return False
        if self.indexed_by_factors:
            return True
        return len(np.unique(self._keys)) == self.num_grid_points

    def example_factors(self, indices):
        """Factors of stored examples `indices` (int64 `[n, K]`)."""
        self._require_factors()
        return self._factors[self.check_indices(indices)]

    def _raw_at(self, indices, rng=None):
        rows = self._images[indices]
        if self._packed:
            size = int(np.prod(self.observation_shape))
            rows = np.unpackbits(rows, axis=1, count=size)
            return rows.reshape((-1,) + self.observation_shape)
        return rows

    def _raw_from_factors(self, factors, rng):
        flat = factors @ self._strides
        if self.indexed_by_factors:
            return self._raw_at(flat)
        left = np.searchsorted(self._keys, flat, side="left")
        right = np.searchsorted(self._keys, flat, side="right")
        missing = left == right
        if missing.any():
            row = int(np.argmax(missing))
            combo = ", ".join(f"{n}={v}" for n, v in zip(self.factor_names, factors[row]))
            raise ValueError(
                f"{self.name} has no image with factors ({combo}) (row {row} of `factors`): "
                "its grid of factors is incomplete."
            )
        if rng is None:
            pos = left
        else:
            pos = left + (rng.random(len(left)) * (right - left)).astype(np.int64)
        return self._raw_at(self._order[pos])


def from_arrays(images, factors=None, factor_names=None, factor_sizes=None, name="arrays"):
    """Wraps your own images (and optional factors) as a kerasdis dataset.

    Args:
        images: array `[N, H, W, C]` (or `[N, H, W]`, given a channel axis), float
            in `[0, 1]` or uint8 in `[0, 255]` (served as `value / 255`), or bool.
            The array is kept by reference when it is already float32 or uint8.
        factors: optional integer array `[N, K]` of factor indices (a 1-D array
            is one factor). Defaults to `None`: then only `images_at()` and
            `as_dataset()` are available.
        factor_names: optional sequence of `K` names. Defaults to
            `("factor_0", ...)`.
        factor_sizes: optional sequence of `K` sizes. Defaults to the column
            maxima plus one.
        name: str. Name of the dataset. Defaults to `"arrays"`.

    Returns:
        An `ArrayDataset`. `sample_factors()` is uniform over the whole grid
        `factor_sizes`; `images(factors)` picks, for each row, the first stored
        image with those factors (or, given `seed=`, a random one) and raises a
        `ValueError` for a combination that has no image.

    Example:

    ```python
    ds = kd.data.from_arrays(x_uint8, factors=y, factor_names=["digit", "style"])
    model.fit(ds.as_dataset(batch_size=64), steps_per_epoch=100)
    ```
    """
    return ArrayDataset(images, factors=factors, factor_names=factor_names,
                        factor_sizes=factor_sizes, name=name)
