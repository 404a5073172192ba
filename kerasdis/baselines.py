"""Baseline representations for the disentanglement metrics.

The rows of the β-VAE paper's table (Higgins et al. 2017, Fig. 8 / Table 1) that are
not trained VAEs: the ground-truth factors, raw pixels, PCA, ICA and an untrained
VAE. Each is a representation in the sense of `kerasdis.metrics` (a callable
images -> codes, or a model with `encode`):

```python
ds = kd.data.load("dsprites")
gt = ground_truth(ds)
kd.metrics.beta_vae_score(gt, ds, codes=gt.grid_codes())      # exact: factors by grid index
kd.metrics.beta_vae_score(raw_pixels(), ds, encode_grid=False)  # 4096-d codes: never cache the grid
kd.metrics.beta_vae_score(pca(ds, seed=0), ds)
kd.metrics.beta_vae_score(ica(ds, seed=0), ds)
kd.metrics.beta_vae_score(untrained_vae(ds, seed=0), ds)
```
"""

import numpy as np

from kerasdis.data.base import as_rng
from kerasdis.metrics import representation as rep

DEFAULT_NUM_COMPONENTS = 10
DEFAULT_NUM_IMAGES = 10_000
_HASH_CHUNK = 8192


def _flatten(images):
    images = np.asarray(images, dtype=np.float32)
    if images.ndim < 2:
        raise ValueError(f"`images` must be a batch [n, H, W, C], got shape {images.shape}.")
    return images.reshape(images.shape[0], -1)


def _image_hashes(images, weights):
    """64-bit hashes of float32 images: a random linear hash over their 8-byte words.

    Images must be bit-identical to hash alike (as the dataset renders them)."""
    x = _flatten(images) + np.float32(0.0)  # -0.0 -> 0.0
    pad = (-x.shape[1]) % 2
    if pad:
        x = np.pad(x, ((0, 0), (0, pad)))
    words = np.ascontiguousarray(x).view(np.uint64)
    with np.errstate(over="ignore"):
        h = words @ weights[:words.shape[1]]  # integer matmul wraps modulo 2**64
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(32)
    return h


def _factor_indices(ds, factors, num_factors):
    """Indices of `factors` (names or indices, None: all) among `ds`'s factors."""
    if factors is None:
        return list(range(num_factors))
    names = list(getattr(ds, "factor_names", None) or range(num_factors))
    indices = rep.factor_indices(factors, names)
    if not indices or len(set(indices)) != len(indices):
        raise ValueError(f"`factors` must name one or more distinct factors, got {factors!r}.")
    return indices


class FactorRepresentation:
    """The ground-truth factors of a dataset as a representation ("Ground truth" row).

    The metrics pass images, and images do not determine factors in general (dSprites
    repeats images: orientations 0 and 2π, the symmetries of the square and the
    ellipse). So the exact use is through the factor-grid cache of
    `kerasdis.metrics`: `grid_codes()` is a `GridCodes` whose code of each grid point
    is its factor vector, and every sampling protocol accepts it as `codes=`.

    Calling the object on images (`gt(images)`) looks the images up in a hash table
    of the whole grid (built on the first call: every image is rendered once, about
    a minute for dSprites) and returns the factors of the first grid point with that
    image, i.e. the smallest flat index; for repeated images this may differ from
    the factors the metric drew. Images must be float32 pixels exactly as the dataset
    renders them. Stochastic datasets (colour, noise) cannot be
    looked up: use `grid_codes()`.

    Args:
        ds: a ground-truth dataset whose examples are its factor grid
            (`num_examples == prod(factor_sizes)`, e.g. dSprites).
        normalize: bool. Divide factor `k` by `factor_sizes[k] - 1` so every code is
            in `[0, 1]`. Defaults to `False`: the codes are the factor indices (the
            logistic regression of `beta_vae_score` separates them perfectly; scaled
            to [0, 1], its L2 penalty costs a few points on tiny protocols).
        factors: the factors the codes keep, as names (`ds.factor_names`) or indices,
            in that order; `None` (default) keeps every factor. A representation that
            leaves factors out is a perfectly disentangled code of the others: what a
            metric gives a model that captured only those.
    """

    def __init__(self, ds, normalize=False, factors=None):
        self.sizes = rep.factor_sizes_of(ds)
        if rep.grid_size(ds) is None:
            raise ValueError(
                f"`ds` ({getattr(ds, 'name', '?')!r}) does not index its images by its factor "
                "grid (num_examples != prod(factor_sizes)); the ground-truth representation "
                "needs the full grid."
            )
        self.ds = ds
        self.normalize = bool(normalize)
        self.factors = _factor_indices(ds, factors, len(self.sizes))
        self.latent_dim = len(self.factors)
        self._scale = np.array([1.0 / max(self.sizes[k] - 1, 1) if self.normalize else 1.0
                                for k in self.factors], dtype=np.float32)
        self._grid = None
        self._keys = None
        self._order = None

    def codes_of(self, factors):
        """float32 codes `[n, len(self.factors)]` of integer factors `[n, K]`."""
        return np.asarray(factors, dtype=np.float32)[:, self.factors] * self._scale

    def grid_codes(self):
        """`GridCodes` of the whole factor grid: the code of grid point i is its factors."""
        if self._grid is None:
            size = rep.grid_size(self.ds)
            factors = np.stack(np.unravel_index(np.arange(size, dtype=np.int64), self.sizes),
                               axis=1)
            self._grid = rep.GridCodes(self.codes_of(factors), None, self.sizes,
                                       getattr(self.ds, "name", None))
        return self._grid

    def _build_table(self):
        if rep.is_stochastic(self.ds):
            raise ValueError(
                f"`{getattr(self.ds, 'name', '?')}` draws random pixels, so factors cannot be "
                "looked up from images; pass `codes=ground_truth(ds).grid_codes()` to the metric."
            )
        size = rep.grid_size(self.ds)
        pixels = int(np.prod(self.ds.observation_shape))
        self._weights = (np.random.default_rng(0x6A5D).integers(
            1, 2**63, size=-(-pixels // 2), dtype=np.int64).astype(np.uint64) | np.uint64(1))
        keys = np.empty(size, dtype=np.uint64)
        for start in range(0, size, _HASH_CHUNK):
            stop = min(size, start + _HASH_CHUNK)
            keys[start:stop] = _image_hashes(
                self.ds.images_at(np.arange(start, stop, dtype=np.int64)), self._weights)
        self._order = np.argsort(keys, kind="stable")  # first occurrence = smallest index
        self._keys = keys[self._order]

    def factors_of_images(self, images):
        """int64 factors `[n, K]` of images, by hash look-up over the grid."""
        if self._keys is None:
            self._build_table()
        h = _image_hashes(images, self._weights)
        pos = np.searchsorted(self._keys, h)
        pos = np.minimum(pos, len(self._keys) - 1)
        missing = self._keys[pos] != h
        if missing.any():
            raise ValueError(
                f"image {int(np.argmax(missing))} of the batch is not an image of "
                f"{getattr(self.ds, 'name', 'the dataset')}'s factor grid."
            )
        flat = self._order[pos]
        return np.stack(np.unravel_index(flat, self.sizes), axis=1).astype(np.int64)

    def __call__(self, images):
        return self.codes_of(self.factors_of_images(images))


def ground_truth(ds, normalize=False, factors=None):
    """The "Ground truth" representation of `ds`: a `FactorRepresentation` (of only
    `factors`, names or indices, when given)."""
    return FactorRepresentation(ds, normalize=normalize, factors=factors)


def raw_pixels():
    """The "Raw pixels" representation: images flattened to `[n, H * W * C]` float32.

    The codes are large (4,096 per dSprites image): pass `encode_grid=False` to the
    sampling protocols, which would otherwise cache the whole grid (12 GB for dSprites).
    """
    return _flatten


class SklearnRepresentation:
    """A fitted scikit-learn transformer on flattened images, as a representation.

    Attributes:
        estimator: the fitted transformer (`transform(X) -> codes`).
        latent_dim: int. Number of codes.
    """

    def __init__(self, estimator, latent_dim, name):
        self.estimator = estimator
        self.latent_dim = int(latent_dim)
        self.name = name

    def __call__(self, images):
        return np.asarray(self.estimator.transform(_flatten(images)), dtype=np.float32)

    def __repr__(self):
        return f"<SklearnRepresentation {self.name}: {self.latent_dim} codes>"


def _check_components(num_components, num_images):
    for name, value in (("num_components", num_components), ("num_images", num_images)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    if num_images < num_components:
        raise ValueError(
            f"`num_images`={num_images} must be at least `num_components`={num_components}."
        )


def _training_images(ds, num_images, seed):
    """`num_images` images of uniformly drawn grid points (or examples), flattened."""
    rng = as_rng(seed)
    sizes = getattr(ds, "factor_sizes", ())
    if sizes:
        factors = rep.sample_factors(tuple(sizes), num_images, rng)
        images = rep.render(ds, factors, rep.noise_rng_of(rng))
    else:
        images = ds.images_at(rng.integers(0, ds.num_examples, size=num_images))
    return _flatten(images)


def pca(ds, num_components=DEFAULT_NUM_COMPONENTS, num_images=DEFAULT_NUM_IMAGES, seed=0):
    """The "PCA" representation: `sklearn.decomposition.PCA(num_components)` fitted on
    `num_images` images of `ds` drawn uniformly (seeded); codes are the projections.

    Args:
        ds: dataset. num_components: int (10). num_images: int (10,000).
        seed: int. Seeds the sample (and the randomized SVD).
    """
    from sklearn.decomposition import PCA

    _check_components(num_components, num_images)
    x = _training_images(ds, num_images, seed)
    estimator = PCA(n_components=num_components, svd_solver="randomized",
                    random_state=int(np.random.default_rng(seed).integers(2**31 - 1)))
    estimator.fit(x)
    return SklearnRepresentation(estimator, num_components, "PCA")


def ica(ds, num_components=DEFAULT_NUM_COMPONENTS, num_images=DEFAULT_NUM_IMAGES, seed=0,
        max_iter=1000):
    """The "ICA" representation: FastICA with `num_components` sources.

    Fitted on `num_images` images of `ds` drawn uniformly (seeded), as a pipeline of
    a whitening `PCA(num_components, whiten=True)` (randomized SVD) and
    `FastICA(whiten=False)` on its `num_components` outputs. FastICA would whiten by
    PCA itself; a randomized SVD avoids its full SVD of the 4,096-pixel data.

    Args:
        ds: dataset. num_components: int (10). num_images: int (10,000).
        seed: int. Seeds the sample, the SVD and FastICA's initial unmixing matrix.
        max_iter: int. FastICA iterations (1000).
    """
    import warnings

    from sklearn.decomposition import PCA, FastICA
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline

    _check_components(num_components, num_images)
    x = _training_images(ds, num_images, seed)
    state = int(np.random.default_rng(seed).integers(2**31 - 1))
    estimator = make_pipeline(
        PCA(n_components=num_components, whiten=True, svd_solver="randomized",
            random_state=state),
        FastICA(whiten=False, max_iter=int(max_iter),
                random_state=state),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(x)
    return SklearnRepresentation(estimator, num_components, "FastICA")


def untrained_vae(ds=None, seed=0, latent_dim=10, architecture="conv"):
    """The "VAE untrained" row: a `kerasdis.models.VAE` with seeded random weights.

    Args:
        ds: dataset or None; its `observation_shape` sets the input shape
            (default `(64, 64, 1)`).
        seed: int. Seeds the initial weights.
        latent_dim: int (10). architecture: `"conv"`, `"mlp"` or `"higgins2017"` (the
            β-VAE paper's fully connected dSprites network).
    """
    from kerasdis.models.vae import VAE

    shape = tuple(ds.observation_shape) if ds is not None else (64, 64, 1)
    return VAE(latent_dim=latent_dim, input_shape=shape, architecture=architecture, seed=seed)
