"""Weakly supervised batches: single-factor batches (DC-IGN) and image pairs (Ada-GVAE).

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

Ada-GVAE and Ada-ML-VAE (Locatello et al. 2020, "Weakly-Supervised
Disentanglement Without Compromises", Sec. 5) train on *pairs* of images whose
factors agree except for `k` of them (`sample_pairs`, `paired_batches`). Pair
batches are pure functions of `(seed, step)` too.

```python
pairs = paired_batches(ds, batch_size=64, k="random", seed=0)  # (x1, x2), [64, 64, 64, 1] each
f1, f2, changed = sample_pairs(ds, 64, k=1, seed=0)              # changed: exactly k True per row
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
            "single-factor batches and pairs need a dataset with factors such as dsprites."
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


def _check_batch_size(batch_size, name="batch_size"):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {batch_size!r}.")
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


# ----------------------------------------------------------------------------
# Pairs of images that share all but k factors (Locatello et al. 2020).
# ----------------------------------------------------------------------------

def _check_k(k, num_varying):
    """Validates `k` (int in 1..K-1 or "random") for `num_varying` = K factors."""
    if num_varying < 2:
        raise ValueError(
            f"pairs need a dataset with at least 2 factors that vary, got {num_varying}: "
            "with one factor no latent could be shared."
        )
    message = (f"`k` must be an int in [1, {num_varying - 1}] or 'random' (the number of "
               f"factors redrawn per pair, at most K-1 of the K = {num_varying} factors that "
               f"vary), got {k!r}.")
    if isinstance(k, str):
        if k != "random":
            raise ValueError(message)
        return k
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) \
            or not 1 <= int(k) <= num_varying - 1:
        raise ValueError(message)
    return int(k)


def sample_pairs(ds, n, k=1, seed=0, factors=None):
    """Factors of `n` pairs that share all factors but `k` (Locatello et al. 2020, Sec. 5).

    For each pair: the first factors are drawn uniformly over the grid
    (`ds.sample_factors`); `k` of the `K` varying factors are chosen uniformly
    without replacement, and each chosen factor of the second element is redrawn
    uniformly over all its values. As in disentanglement_lib
    (`methods/weak/train_weak_lib.py`, `simple_dynamics`) the redrawn value is *not*
    forced to differ, so a chosen factor keeps its value with probability
    `1 / factor_size`. `k="random"` draws `k` uniformly in `1..K-1` for every
    pair (dlib's `k=-1`).

    disentanglement_lib's `simple_dynamics` changes `random_state.choice([1, k])`
    factors, i.e. only one factor in half of its pairs whatever `k`; here exactly
    `k` factors are redrawn, as the paper describes.

    Args:
        ds: a ground-truth dataset with factors.
        n: int >= 1. Number of pairs.
        k: int in `[1, K-1]` or `"random"`. Number of factors redrawn per pair,
            `K` being the number of factors that may vary. Defaults to `1`.
        seed: int >= 0 or `np.random.Generator`. Defaults to `0`.
        factors: names or indices of the factors that may vary. Defaults to all
            factors with more than one value.

    Returns:
        `(factors1 int64 [n, F], factors2 int64 [n, F], changed bool [n, F])`,
        `F = ds.num_factors`; `changed` marks the redrawn factors (exactly `k`
        per row); `factors2` equals `factors1` wherever `changed` is False.
    """
    n = _check_batch_size(n, "n")
    rng = as_rng(seed)
    chosen = np.asarray(resolve_factors(ds, factors), dtype=np.int64)
    num_varying = len(chosen)
    k = _check_k(k, num_varying)
    sizes = np.asarray(ds.factor_sizes, dtype=np.int64)
    first = ds.sample_factors(n, seed=rng)
    if k == "random":
        counts = rng.integers(1, num_varying, size=n)  # uniform in 1..K-1
    else:
        counts = np.full(n, k, dtype=np.int64)
    # A uniform subset of `counts[i]` varying factors: the first ones of a random permutation.
    ranks = np.argsort(np.argsort(rng.random((n, num_varying)), axis=1), axis=1)
    changed = np.zeros(first.shape, dtype=bool)
    changed[:, chosen] = ranks < counts[:, None]
    redrawn = rng.integers(0, sizes, size=first.shape, dtype=np.int64)
    second = np.where(changed, redrawn, first)
    return first, second, changed


def paired_batch_at(ds, batch_size, seed, step, k=1, factors=None):
    """`(x1, x2, factors1, factors2, changed)` of pair batch `step`.

    A pure function of `(seed, step)`: drawn from `np.random.default_rng([seed, step])`.
    Images are float32 `[B, H, W, C]`; datasets with random nuisance (colour,
    noise) draw it independently for the two images.
    """
    rng = np.random.default_rng([int(seed), int(step)])
    f1, f2, changed = sample_pairs(ds, batch_size, k, rng, factors)
    if getattr(ds, "stochastic", False):
        x1 = ds.images(f1, seed=int(rng.integers(2**31 - 1)))
        x2 = ds.images(f2, seed=int(rng.integers(2**31 - 1)))
    else:
        x1, x2 = ds.images(f1), ds.images(f2)
    return (np.asarray(x1, dtype=np.float32), np.asarray(x2, dtype=np.float32), f1, f2, changed)


def paired_batches(ds, batch_size=64, k=1, seed=0, first_step=0, factors=None,
                   with_factors=False):
    """An infinite `tf.data.Dataset` of image pairs for Ada-GVAE / Ada-ML-VAE.

    Pair `i` of batch `s` shares all factors but `k` (see `sample_pairs`); batch
    `s` is drawn from `np.random.default_rng([seed, s])`, a pure function of
    `(seed, s)`, so a run resumed at `first_step` sees the pairs it would have seen.

    Args:
        ds: a ground-truth dataset with factors and an image for every factor
            combination (the dSprites family, 3dshapes, a complete `from_arrays`).
        batch_size: int >= 1. Pairs per batch. Defaults to `64`.
        k: int in `[1, K-1]` or `"random"` (uniform in `1..K-1` per pair).
            Number of factors that are redrawn within a pair. Defaults to `1`.
        seed: int >= 0. Defaults to `0`.
        first_step: int >= 0. Index of the first batch (to resume). Defaults to `0`.
        factors: names or indices of the factors that may vary. Defaults to all
            factors with more than one value.
        with_factors: bool. Also yield `factors1, factors2` (int64 `[B, F]`), for
            inspection. Defaults to `False`.

    Returns:
        `tf.data.Dataset` of `(x1, x2)`, float32 `[B, H, W, C]` each — the form
        `AdaGVAE.fit` expects — or `(x1, x2, factors1, factors2)`.

    Example:

    ```python
    ds = kd.data.load("dsprites")
    model = kd.models.AdaGVAE(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.fit(kd.data.paired_batches(ds, 64, k="random", seed=0), steps_per_epoch=1000)
    ```
    """
    import tensorflow as tf

    batch_size = _check_batch_size(batch_size)
    as_rng(seed)  # validates
    seed = int(seed)
    if isinstance(first_step, bool) or not isinstance(first_step, (int, np.integer)) \
            or first_step < 0:
        raise ValueError(f"`first_step` must be a non-negative integer, got {first_step!r}.")
    chosen = resolve_factors(ds, factors)
    k = _check_k(k, len(chosen))
    shape = (batch_size, *ds.observation_shape)
    num_factors = len(ds.factor_sizes)

    def load(step):
        x1, x2, f1, f2, _ = paired_batch_at(ds, batch_size, seed, int(step), k, chosen)
        return x1, x2, f1, f2

    def make(step):
        x1, x2, f1, f2 = tf.numpy_function(load, [step],
                                           (tf.float32, tf.float32, tf.int64, tf.int64),
                                           stateful=False)
        x1, x2 = tf.ensure_shape(x1, shape), tf.ensure_shape(x2, shape)
        if with_factors:
            return (x1, x2, tf.ensure_shape(f1, (batch_size, num_factors)),
                    tf.ensure_shape(f2, (batch_size, num_factors)))
        return x1, x2

    steps = tf.data.Dataset.counter(start=int(first_step))
    batches = steps.map(make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return batches.prefetch(tf.data.AUTOTUNE)
