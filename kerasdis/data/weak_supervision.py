"""Weakly supervised batches: only one ground-truth factor changes within a batch.

DC-IGN (Kulkarni et al. 2015, "Deep Convolutional Inverse Graphics Network",
Sec. 3.2) trains on mini-batches in which a single generative factor varies and
all the others are held fixed. A batch here is drawn as:

1. pick the varying factor `k` uniformly among `factors` (default: every factor
   with more than one value);
2. draw one base factor vector uniformly over the grid;
3. repeat it `batch_size` times and redraw column `k` uniformly (with replacement)
   for every row, so only factor `k` differs between the images of the batch.

Batch `s` of a stream is drawn from `np.random.default_rng([seed, s])`: a pure
function of `(seed, step)`, so a resumed run sees exactly the batches it would
have seen (as `kerasdis.training.training_batches`). The dataset must have an image
for every factor combination (the procedural dSprites family and 3dshapes do).

```python
ds = kd.data.load("dsprites")
batches = single_factor_batches(ds, batch_size=64, seed=0)   # (images [64, 64, 64, 1], k [64])
model = DCIGN(seed=0); model.compile(optimizer="adam")
model.fit(batches, steps_per_epoch=1000, epochs=5)
factors, k = sample_single_factor_batch(ds, 64, np.random.default_rng(0))
```
"""

import numpy as np

from kerasdis.data.base import as_rng


def resolve_factors(ds, factors=None):
    """Indices of the factors that may vary: names or indices, default all with size > 1.

    Returns:
        a tuple of int factor indices.
    """
    sizes = tuple(getattr(ds, "factor_sizes", ()) or ())
    if not sizes:
        raise ValueError(
            f"`ds` ({getattr(ds, 'name', type(ds).__name__)!r}) has no ground-truth factors; "
            "single-factor batches need a dataset with factors such as dsprites."
        )
    names = tuple(getattr(ds, "factor_names", ()) or ())
    if factors is None:
        chosen = tuple(i for i, s in enumerate(sizes) if s > 1)
    else:
        if isinstance(factors, (str, int, np.integer)):
            factors = [factors]
        chosen = []
        for f in factors:
            if isinstance(f, str):
                if f not in names:
                    raise ValueError(f"`factors`: unknown factor name {f!r}; names are {names}.")
                f = names.index(f)
            elif isinstance(f, bool) or not isinstance(f, (int, np.integer)) \
                    or not 0 <= int(f) < len(sizes):
                raise ValueError(
                    f"`factors` must hold factor names or indices in [0, {len(sizes) - 1}], "
                    f"got {f!r}."
                )
            if sizes[int(f)] < 2:
                raise ValueError(
                    f"`factors`: factor {int(f)} has a single value and cannot vary."
                )
            if int(f) not in chosen:
                chosen.append(int(f))
        chosen = tuple(chosen)
    if not chosen:
        raise ValueError("`factors`: no factor with more than one value to vary.")
    return chosen


def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    return int(batch_size)


def sample_single_factor_batch(ds, batch_size, rng, factors=None):
    """Factors of one batch in which only one factor varies.

    Args:
        ds: a ground-truth dataset (`factor_sizes`).
        batch_size: int >= 1.
        rng: `np.random.Generator` or int seed.
        factors: names or indices of the factors that may vary; default all
            factors with more than one value.

    Returns:
        `(factors int64 [batch_size, K], k int)`: every column but `k` is constant.
    """
    batch_size = _check_batch_size(batch_size)
    rng = as_rng(rng)
    chosen = resolve_factors(ds, factors)
    sizes = np.asarray(ds.factor_sizes, dtype=np.int64)
    k = int(chosen[int(rng.integers(len(chosen)))])
    base = rng.integers(0, sizes)
    batch = np.repeat(base[None, :], batch_size, axis=0).astype(np.int64)
    batch[:, k] = rng.integers(0, sizes[k], size=batch_size)
    return batch, k


def batch_at(ds, batch_size, seed, step, factors=None):
    """`(images float32 [B, H, W, C], k int32 [B], factors int64 [B, K])` of batch `step`.

    The batch is a pure function of `(seed, step)` (`default_rng([seed, step])`).
    """
    rng = np.random.default_rng([int(seed), int(step)])
    f, k = sample_single_factor_batch(ds, batch_size, rng, factors)
    if getattr(ds, "stochastic", False):
        images = ds.images(f, seed=int(rng.integers(2**31 - 1)))
    else:
        images = ds.images(f)
    return (np.asarray(images, dtype=np.float32), np.full(batch_size, k, dtype=np.int32), f)


def single_factor_batches(ds, batch_size=64, seed=0, factors=None, first_step=0,
                          with_factors=False):
    """An infinite `tf.data.Dataset` of single-factor batches for DC-IGN.

    Args:
        ds: a ground-truth dataset with factors.
        batch_size: int. Images per batch. Defaults to `64`.
        seed: int >= 0. Batch `s` is drawn from `default_rng([seed, s])`.
            Defaults to `0`.
        factors: names or indices of the factors that may vary. Defaults to all
            factors with more than one value.
        first_step: int. Index of the first batch (to resume a run). Defaults to `0`.
        with_factors: bool. Also yield the int64 factors `[B, K]` of the batch
            (for inspection; not a `fit()` input). Defaults to `False`.

    Returns:
        `tf.data.Dataset` of `(images float32 [B, H, W, C], k int32 [B])` — `k` is
        the index of the varying factor, repeated for every image so that the
        batch can be split across replicas — or `(images, k, factors)`.
    """
    import tensorflow as tf

    batch_size = _check_batch_size(batch_size)
    as_rng(seed)  # validates
    seed = int(seed)
    chosen = resolve_factors(ds, factors)
    shape = (batch_size, *ds.observation_shape)
    num_factors = len(ds.factor_sizes)

    def load(step):
        return batch_at(ds, batch_size, seed, int(step), chosen)

    def make(step):
        images, k, f = tf.numpy_function(load, [step], (tf.float32, tf.int32, tf.int64),
                                         stateful=False)
        images = tf.ensure_shape(images, shape)
        k = tf.ensure_shape(k, (batch_size,))
        if with_factors:
            return images, k, tf.ensure_shape(f, (batch_size, num_factors))
        return images, k

    steps = tf.data.Dataset.counter(start=int(first_step))
    batches = steps.map(make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return batches.prefetch(tf.data.AUTOTUNE)
