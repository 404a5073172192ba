"""`GroundTruthDataset`: the interface shared by every kerasdis dataset.

A ground-truth dataset is a finite grid of discrete factors of variation
(`factor_sizes`, e.g. `(3, 6, 40, 32, 32)` for dSprites) and a way to get the image
of any point on it. Subclasses only say how to produce raw pixels; this base class
does the factor bookkeeping, input validation, uniform factor sampling, the
flat-index arithmetic and the `tf.data` pipeline.

Flat index: the factors `(f_0, ..., f_{K-1})` have the flat index
`((f_0 * s_1 + f_1) * s_2 + f_2) ... ` (mixed radix over `factor_sizes`, last factor
fastest), which is the order in which dSprites and 3dshapes are published.
"""

import numpy as np

_INT_KINDS = "iu"


def as_rng(seed):
    """Returns a `np.random.Generator` from an int seed, a Generator, or `None`."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"`seed` must be an int, a numpy Generator or None, got {seed!r}.")
    if seed is not None and seed < 0:
        raise ValueError(f"`seed` must be non-negative, got {seed}.")
    return np.random.default_rng(seed)


class GroundTruthDataset:
    """Base class of the datasets returned by `kd.data.load()` and `kd.data.from_arrays()`.

    Attributes:
        name: str. Dataset name, e.g. `"dsprites"`.
        factor_names: tuple of str. Names of the ground-truth factors (empty if
            the dataset has none, e.g. CelebA).
        factor_sizes: tuple of int. Number of values of each factor.
        num_examples: int. Number of images served by `images_at()` and
            `as_dataset()`. For the built-in grid datasets (dSprites and its
            variants, 3dshapes) this is `prod(factor_sizes)` and example `i` is
            the grid point of flat index `i`.
        observation_shape: tuple. Image shape `(H, W, C)`.

    Images are always float32 in `[0, 1]` with shape `[n, H, W, C]`.

    Example:

    ```python
    ds = kd.data.load("dsprites")
    factors = ds.sample_factors(16, seed=0)   # int64 [16, 5]
    x = ds.images(factors)                    # float32 [16, 64, 64, 1]
    assert (ds.factors_at(ds.index_of(factors)) == factors).all()
    train = ds.as_dataset(batch_size=64, seed=0)
    ```
    """

    # Whether example `i` (`images_at(i)`) is the grid point of flat index `i`.
    indexed_by_factors = True

    # Subclasses set these in `__init__` (through `_init_factors`).
    name = "dataset"
    observation_shape = ()
    num_examples = 0
    # Whether raw pixels use random draws (colour, noise): then the pipeline
    # passes a seeded generator to `_raw_at`.
    stochastic = False
    # `raw * _raw_scale` is the float image; `None` means raw is already float32.
    _raw_scale = None

    def _init_factors(self, factor_names, factor_sizes):
        factor_names = tuple(str(n) for n in factor_names)
        factor_sizes = tuple(int(s) for s in factor_sizes)
        if len(factor_names) != len(factor_sizes):
            raise ValueError(
                f"`factor_names` has {len(factor_names)} entries but `factor_sizes` has "
                f"{len(factor_sizes)}."
            )
        if any(s < 1 for s in factor_sizes):
            raise ValueError(f"`factor_sizes` must all be >= 1, got {factor_sizes}.")
        self.factor_names = factor_names
        self.factor_sizes = factor_sizes
        # Place value of each factor in the flat index.
        strides = np.ones(len(factor_sizes), dtype=np.int64)
        for k in range(len(factor_sizes) - 2, -1, -1):
            strides[k] = strides[k + 1] * factor_sizes[k + 1]
        self._strides = strides
        self._sizes = np.asarray(factor_sizes, dtype=np.int64)

    # === Properties ===

    @property
    def num_factors(self):
        """int. Number of ground-truth factors."""
        return len(self.factor_sizes)

    @property
    def has_factors(self):
        """bool. Whether the dataset has ground-truth factors."""
        return len(self.factor_sizes) > 0

    @property
    def num_grid_points(self):
        """int. `prod(factor_sizes)`: the number of flat factor indices."""
        return int(np.prod(self._sizes)) if self.has_factors else 0

    def __repr__(self):
        factors = ", ".join(f"{n}={s}" for n, s in zip(self.factor_names, self.factor_sizes))
        return (
            f"<{type(self).__name__} {self.name!r}: {self.num_examples} examples of shape "
            f"{self.observation_shape}, factors ({factors})>"
        )

    # === Validation ===

    def _require_factors(self):
        if not self.has_factors:
            raise ValueError(
                f"{self.name} has no ground-truth factors: use `images_at(indices)` or "
                "`as_dataset()` instead."
            )

    def check_factors(self, factors):
        """Validates factors and returns them as an int64 array `[n, K]`.

        A 1-D array of length `K` is taken as one row.

        Raises:
            ValueError: if `factors` is not integer, has the wrong shape, or a
                value is outside its factor's range.
        """
        self._require_factors()
        arr = np.asarray(factors)
        if arr.dtype.kind not in _INT_KINDS:
            raise ValueError(
                f"`factors` must be integers (factor indices), got dtype {arr.dtype}."
            )
        k = self.num_factors
        if arr.ndim == 1 and arr.shape[0] == k:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != k:
            raise ValueError(
                f"`factors` must have shape [n, {k}] (one column per factor "
                f"{self.factor_names}), got shape {arr.shape}."
            )
        arr = arr.astype(np.int64, copy=False)
        if arr.shape[0]:
            bad = (arr < 0) | (arr >= self._sizes)
            if bad.any():
                row, col = np.argwhere(bad)[0]
                raise ValueError(
                    f"factor {self.factor_names[col]!r} (column {col}) must be in "
                    f"[0, {self.factor_sizes[col] - 1}], got {arr[row, col]}."
                )
        return arr

    def _check_indices(self, indices, upper, what):
        arr = np.asarray(indices)
        if arr.dtype.kind not in _INT_KINDS:
            raise ValueError(f"`indices` must be integers, got dtype {arr.dtype}.")
        if arr.ndim == 0:
            arr = arr[None]
        if arr.ndim != 1:
            raise ValueError(f"`indices` must be a 1-D array, got shape {arr.shape}.")
        arr = arr.astype(np.int64, copy=False)
        if arr.size and (arr.min() < 0 or arr.max() >= upper):
            bad = arr[(arr < 0) | (arr >= upper)][0]
            raise ValueError(f"`indices` must be {what} in [0, {upper - 1}], got {bad}.")
        return arr

    def check_indices(self, indices):
        """Validates example indices and returns them as a 1-D int64 array."""
        return self._check_indices(indices, self.num_examples, "example indices")

    # === Factors and flat indices ===

    def sample_factors(self, n, seed=None):
        """Samples factors uniformly over the grid.

        Args:
            n: int >= 0. Number of samples.
            seed: int, `np.random.Generator` or `None` (fresh entropy).

        Returns:
            int64 array `[n, num_factors]`.
        """
        self._require_factors()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"`n` must be a non-negative integer, got {n!r}.")
        rng = as_rng(seed)
        return rng.integers(0, self._sizes, size=(int(n), self.num_factors), dtype=np.int64)

    def index_of(self, factors):
        """Flat index (mixed radix over `factor_sizes`, last factor fastest) of factors."""
        return self.check_factors(factors) @ self._strides

    def example_factors(self, indices):
        """Factors of the examples served by `images_at(indices)` (int64 `[n, K]`).

        For the grid datasets example `i` is the grid point of flat index `i`, so
        this is `factors_at`; `from_arrays` datasets return their stored factors.
        """
        return self.factors_at(indices)

    def factors_at(self, indices):
        """Factors of flat indices in `[0, prod(factor_sizes))`: inverse of `index_of`."""
        self._require_factors()
        flat = self._check_indices(indices, self.num_grid_points, "flat factor indices")
        return (flat[:, None] // self._strides) % self._sizes

    # === Images ===

    def images(self, factors, seed=None):
        """Images of the given factors, float32 `[n, H, W, C]` in `[0, 1]`.

        Args:
            factors: int array `[n, num_factors]`.
            seed: int or `None`. Only used by datasets with random nuisance
                (colour, noise, several images per grid point): see the subclass.
        """
        factors = self.check_factors(factors)
        return self._to_float(self._raw_from_factors(factors, self._rng_for(seed)))

    def images_at(self, indices, seed=None):
        """Images of examples `indices` in `[0, num_examples)`, float32 `[n, H, W, C]`."""
        indices = self.check_indices(indices)
        return self._to_float(self._raw_at(indices, self._rng_for(seed)))

    def sample(self, n, seed=None):
        """Returns `(factors, images)` for `n` factors sampled uniformly."""
        rng = as_rng(seed)
        factors = self.sample_factors(n, seed=rng)
        return factors, self.images(factors, seed=rng)

    # --- Subclass hooks ---

    def _raw_from_factors(self, factors, rng):
        """Raw pixels (see `_raw_scale`) of validated int64 factors `[n, K]`."""
        return self._raw_at(factors @ self._strides, rng)

    def _raw_at(self, indices, rng):
        """Raw pixels of validated example indices."""
        raise NotImplementedError

    def _rng_for(self, seed):
        """The generator used for an `images()` call; overridden by random datasets."""
        return None if seed is None else as_rng(seed)

    def _to_float(self, raw):
        if self._raw_scale is None:
            return raw.astype(np.float32, copy=False)
        out = raw.astype(np.float32)
        if self._raw_scale != 1:
            out *= np.float32(self._raw_scale)
        return out

    # === tf.data ===

    def as_dataset(self, batch_size=64, shuffle=True, seed=0, repeat=True, drop_remainder=False):
        """A `tf.data.Dataset` of float32 image batches `[B, H, W, C]` in `[0, 1]`.

        Examples are shuffled by a seeded permutation of `[0, num_examples)`
        (`tf.random.experimental.index_shuffle`, nothing materialised), redrawn
        for each epoch and for each pass over the dataset. With `repeat=True`
        (default) the dataset is infinite and every batch is full (epochs are
        concatenated); use `steps_per_epoch` in `fit()`. The procedural dSprites
        family renders batches with TensorFlow ops; in-memory datasets gather them
        with one `tf.numpy_function` per batch. Batches are prefetched.

        Args:
            batch_size: int >= 1. Defaults to `64`.
            shuffle: bool. Defaults to `True`.
            seed: int or `None`. Seed of the permutations (and of colour/noise
                draws). The same seed gives the same batches. Defaults to `0`.
            repeat: bool. Repeat forever. Defaults to `True`.
            drop_remainder: bool. Without `repeat`, drop the last partial batch.
                Defaults to `False`.

        Returns:
            A `tf.data.Dataset` yielding float32 tensors `[B, H, W, C]`.
        """
        import tensorflow as tf

        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        batch_size = int(batch_size)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**62))
        as_rng(seed)  # validates
        seed = int(seed) % (2**62)
        n = int(self.num_examples)
        if n < 1:
            raise ValueError(f"{self.name} has no examples.")
        if repeat:
            steps = tf.data.Dataset.counter()
            batch_dim = batch_size
        else:
            num_batches = n // batch_size if drop_remainder else -(-n // batch_size)
            if num_batches == 0:
                raise ValueError(
                    f"`batch_size`={batch_size} is larger than the {n} examples and "
                    "drop_remainder=True would give no batch."
                )
            steps = tf.data.Dataset.range(num_batches)
            batch_dim = batch_size if n % batch_size == 0 or drop_remainder else None

        # One seeded random key per pass over the dataset, so that each pass reshuffles.
        keys = tf.data.Dataset.random(seed=seed % (2**31), rerandomize_each_iteration=True)
        work = keys.take(1).flat_map(lambda key: steps.map(lambda step: (key, step)))
        shape = (batch_dim,) + tuple(self.observation_shape)

        def load(key, step):
            base = tf.bitwise.bitwise_xor(tf.constant(seed, tf.int64), key)
            start = step * batch_size
            size = batch_size if repeat else tf.minimum(tf.constant(batch_size, tf.int64),
                                                        n - start)
            positions = start + tf.range(size, dtype=tf.int64)
            epoch, offset = positions // n, positions % n
            if shuffle:
                seeds = tf.stack([tf.fill(tf.shape(epoch), base), epoch, tf.zeros_like(epoch)],
                                 axis=1)
                # The raw op: the public wrapper mis-pads a batch of seeds in TF 2.21.
                indices = tf.raw_ops.RandomIndexShuffle(
                    index=offset, seed=seeds, max_index=tf.constant(n - 1, tf.int64), rounds=4
                )
            else:
                indices = offset
            images = self._tf_images_at(indices, tf.stack([base, step]))
            images.set_shape(shape)
            return images

        dataset = work.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def _tf_images_at(self, indices, seed):
        """Float32 images of example `indices` (int64 `[b]`) as TensorFlow ops.

        `seed` is an int64 `[2]` stateless seed for random draws. This default
        runs `_raw_at` in a `tf.numpy_function`; subclasses may use TF ops.
        """
        import tensorflow as tf

        stochastic = self.stochastic

        def raw_at(idx, seed_pair):
            rng = np.random.default_rng([int(s) % (2**63) for s in seed_pair]) \
                if stochastic else None
            return np.ascontiguousarray(self._raw_at(idx, rng))

        raw_dtype = tf.float32 if self._raw_scale is None else tf.uint8
        raw = tf.numpy_function(raw_at, [indices, seed], raw_dtype, stateful=False)
        raw = tf.ensure_shape(raw, (None,) + tuple(self.observation_shape))
        images = tf.cast(raw, tf.float32)
        if self._raw_scale is not None and self._raw_scale != 1:
            images = images * tf.constant(self._raw_scale, tf.float32)
        return images
