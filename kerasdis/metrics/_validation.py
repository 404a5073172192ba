"""Argument checks and small numeric helpers shared by the metrics.

Conventions of the whole package: `codes` are `[num_points, num_codes]` arrays (one
row per image), `factors` are `[num_points, num_factors]` integer arrays of factor
indices. (disentanglement_lib stores both transposed.)
"""

import numpy as np
import sklearn.metrics

_INT_KINDS = "iub"


def check_codes(codes, name="codes"):
    """Returns `codes` as a float64 `[n, D]` array, or raises `ValueError`."""
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise ValueError(
            f"`{name}` must be a 2-D array [num_points, num_codes], got shape {arr.shape}."
        )
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(
            f"`{name}` needs at least 2 points and 1 code dimension, got shape {arr.shape}."
        )
    if arr.dtype.kind not in _INT_KINDS + "f":
        raise ValueError(f"`{name}` must be numeric, got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        rows = (~np.isfinite(arr)).any(axis=1)
        row = int(np.argmax(rows))
        col = int(np.argmax(~np.isfinite(arr[row])))
        raise ValueError(
            f"`{name}` contains NaN or Inf values (in {int(rows.sum())} rows; first "
            f"{arr[row, col]} at row {row}, column {col}); expected finite codes.")
    return arr


def check_images(images, name="images"):
    """Images for an encoder as float32 `[n, H, W, C]` in [0, 1], or `ValueError`.

    Float images must be finite and in [0, 1] (what kerasdis datasets serve);
    uint8 images in [0, 255] are scaled by 1/255 and bool images taken as 0/1, as
    `kd.data.from_arrays` and the models do. Checked at the Python boundary, before
    the images reach the representation.
    """
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if arr.dtype.kind not in _INT_KINDS + "f":
        raise ValueError(f"`{name}` must hold numeric pixel values, got dtype {arr.dtype}.")
    arr = arr.astype(np.float32, copy=False)
    if arr.size == 0:
        return arr
    expected = "expected pixel values in [0, 1] (float images; uint8 images in [0, 255] are " \
               "scaled by 1/255)"
    lo, hi = float(arr.min()), float(arr.max())  # NaN propagates through min and max
    if not (np.isfinite(lo) and np.isfinite(hi)):
        where = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"`{name}` holds the pixel value {arr[tuple(where)]} (image {int(where[0])} of the "
            f"{arr.shape[0]} checked, pixel {tuple(int(i) for i in where[1:])}); {expected}.")
    if lo < 0.0 or hi > 1.0:
        hint = (" They look like 0..255 pixel values: divide by 255, or use uint8 images."
                if lo >= 0.0 and hi <= 255.0 else "")
        raise ValueError(f"`{name}` holds pixel values in [{lo:g}, {hi:g}]; {expected}.{hint}")
    return arr


def check_factors(factors, name="factors", num_points=None, codes_name="codes",
                  allow_constant=False, continuous=False):
    """Returns `factors` as an int64 `[n, K]` array (float64 if `continuous`).

    A 1-D array is one factor. Raises `ValueError` for a wrong shape, a length
    different from `num_points`, non-integer values (unless `continuous`), NaN or
    Inf, and, unless `allow_constant`, a factor that takes a single value.
    """
    arr = np.asarray(factors)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(
            f"`{name}` must be a 2-D array [num_points, num_factors], got shape {arr.shape}."
        )
    if num_points is not None and arr.shape[0] != num_points:
        raise ValueError(
            f"`{codes_name}` and `{name}` must have the same number of rows (points): "
            f"`{codes_name}` has {num_points}, `{name}` has {arr.shape[0]}."
        )
    if arr.dtype.kind not in _INT_KINDS + "f":
        raise ValueError(f"`{name}` must be numeric, got dtype {arr.dtype}.")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"`{name}` contains NaN or Inf values.")
        if not continuous:
            if not (arr == np.round(arr)).all():
                raise ValueError(
                    f"`{name}` must be integer factor indices, got non-integer values "
                    f"(dtype {arr.dtype}); pass `continuous_factors=True` where supported."
                )
    arr = arr.astype(np.float64 if continuous else np.int64)
    if not allow_constant:
        for k in range(arr.shape[1]):
            if arr.shape[0] and (arr[:, k] == arr[0, k]).all():
                raise ValueError(
                    f"`{name}` column {k} is constant (a single value, {arr[0, k]!r}): "
                    "a factor must take at least 2 values to be scored."
                )
    return arr


def check_pair(codes, factors, codes_name="codes", factors_name="factors", **kwargs):
    codes = check_codes(codes, codes_name)
    factors = check_factors(factors, factors_name, num_points=codes.shape[0],
                            codes_name=codes_name, **kwargs)
    return codes, factors


def check_train_test(codes_train, factors_train, codes_test, factors_test, continuous=False):
    """Validates a train/test split; the test set may have constant factors."""
    codes_train, factors_train = check_pair(
        codes_train, factors_train, "codes_train", "factors_train", continuous=continuous
    )
    codes_test, factors_test = check_pair(
        codes_test, factors_test, "codes_test", "factors_test", allow_constant=True,
        continuous=continuous,
    )
    if codes_test.shape[1] != codes_train.shape[1]:
        raise ValueError(
            f"`codes_test` has {codes_test.shape[1]} code dimensions but `codes_train` has "
            f"{codes_train.shape[1]}."
        )
    if factors_test.shape[1] != factors_train.shape[1]:
        raise ValueError(
            f"`factors_test` has {factors_test.shape[1]} factors but `factors_train` has "
            f"{factors_train.shape[1]}."
        )
    return codes_train, factors_train, codes_test, factors_test


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def histogram_discretize(codes, num_bins=20):
    """Bins every column into `num_bins` equal-width bins (values 1..num_bins).

    As disentanglement_lib's `_histogram_discretize`: `np.digitize` against the
    left edges of `np.histogram(column, num_bins)`.
    """
    num_bins = check_positive_int("num_bins", num_bins)
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], num_bins)[1][:-1]
        out[:, j] = np.digitize(codes[:, j], edges)
    return out


def discrete_mutual_info(discrete_codes, factors):
    """`[D, K]` matrix of `mutual_info_score(factor_k, code_j)` in nats."""
    num_codes, num_factors = discrete_codes.shape[1], factors.shape[1]
    m = np.zeros([num_codes, num_factors])
    for j in range(num_codes):
        for k in range(num_factors):
            m[j, k] = sklearn.metrics.mutual_info_score(factors[:, k], discrete_codes[:, j])
    return m


def discrete_entropy(factors):
    """Entropy (nats) of each column of an integer array."""
    return np.array([
        sklearn.metrics.mutual_info_score(factors[:, k], factors[:, k])
        for k in range(factors.shape[1])
    ])


def top_two_gap(matrix):
    """Gap between the largest and second largest entry of each column.

    With a single row the second largest is taken as 0.
    """
    sorted_m = np.sort(matrix, axis=0)[::-1]
    second = sorted_m[1] if sorted_m.shape[0] > 1 else np.zeros(sorted_m.shape[1])
    return sorted_m[0] - second


def as_rng(seed):
    """`np.random.default_rng(seed)` for an int seed; a Generator is used as is."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative int or a numpy Generator, got {seed!r}.")
    return np.random.default_rng(int(seed))


def seed_value(seed):
    """A JSON-friendly record of `seed`."""
    return int(seed) if isinstance(seed, (int, np.integer)) else repr(seed)
