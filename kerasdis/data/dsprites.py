"""dSprites, rendered procedurally, and its colour and noise variants.

`DSprites` reproduces the factor grid of dSprites (Matthey et al. 2017, "dSprites:
Disentanglement testing Sprites dataset", https://github.com/deepmind/dsprites-dataset):

| factor        | size | values                                   |
| ------------- | ---- | ---------------------------------------- |
| `shape`       | 3    | square, ellipse, heart                   |
| `scale`       | 6    | `linspace(0.5, 1, 6)`                    |
| `orientation` | 40   | `linspace(0, 2π, 40)` (2π included)      |
| `position_x`  | 32   | `linspace(0, 1, 32)`                     |
| `position_y`  | 32   | `linspace(0, 1, 32)`                     |

737,280 binary 64x64x1 images, flat index in the published order (position y
fastest). The 720 sprites (shape x scale x orientation) are rasterised once, with
numpy at 5x5 supersampling (a pixel is on when at least half of it is covered), and
each image is one sprite pasted at an integer offset into a zero canvas, so
`images()` is a gather and no image is stored. `as_dataset()` does the same with
TensorFlow ops (two one-hot matrix products per image), so the input pipeline runs
no Python.

Geometry, in pixels of the 64x64 canvas, at scale 1 (all sizes times `scale`):
square of side 18; ellipse with axes 20 (horizontal at orientation 0) and 10;
heart 20 wide and 18 high, upright at orientation 0 (lobes up, tip down).
Orientation turns the sprite counter-clockwise on screen. `position_x` moves the
sprite right and `position_y` down; position 0..1 maps the sprite centre to pixels
12..52 (of 0..64), so that the largest sprite (the square at 45 degrees) just fits.

Differences from the published files (which are not redistributed with kerasdis;
`kd.data.load("dsprites", source="tfds")` reads them):
- the outlines are drawn from the description above, not from the original
  generator, so pixels differ slightly from the published images;
- positions are rounded to whole pixels (steps of 1 or 2 pixels); the sprite's
  pixels do not change with the sub-pixel position.
As published, the orientations 0 and 2π are both present (identical images) and
the square and ellipse repeat under rotation by π/2 and π.

`ColorDSprites` and `NoisyDSprites` follow disentanglement_lib (Locatello et al.
2019, "Challenging Common Assumptions in the Unsupervised Learning of Disentangled
Representations"): the sprite takes a colour drawn uniformly in `[0.5, 1]` per
channel for each image, or sits on a background of uniform noise in `[0, 1]` per
pixel and channel (sprite pixels 1). Both are 64x64x3.

`ScreamDSprites` follows disentanglement_lib's `ScreamDSprites` (`data/ground_truth/
dsprites.py`, lines 161-198): a copy of Munch's *The Scream* (public domain; dlib
downloads https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg) is
shrunk to fit 350x274 (PIL `thumbnail`, aspect kept); each image's background is a
random 64x64 patch of it, averaged with a random colour drawn uniformly in `[0, 1]`
per channel, `(patch + colour) / 2`, and the sprite's pixels are that background
inverted, `1 - background`. The painting is read from `image_path` (kerasdis does
not ship it). 64x64x3, same factors as `DSprites`.
"""

import functools
import os

import numpy as np

from kerasdis.data import catalog
from kerasdis.data.base import GroundTruthDataset, as_rng

FACTOR_NAMES = ("shape", "scale", "orientation", "position_x", "position_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)

IMAGE_SIZE = 64
_WINDOW = 28  # sprites are rasterised in a 28x28 window centred on (14, 14)
_SUPERSAMPLE = 5  # odd, so that coverage is never exactly one half
# The sprite centre sits this far right of and below the window centre, so that
# edges falling exactly on a pixel midline are not rounded on both sides.
_EPS = 1e-3
# At scale 1, in pixels.
_SQUARE_SIDE = 18.0
_ELLIPSE_AXES = (20.0, 10.0)
_HEART_WIDTH = 20.0


def _inside(shape, scale, x, y):
    """Whether points `(x, y)` (sprite frame, y up, unrotated) are inside the shape."""
    if shape == "square":
        half = 0.5 * _SQUARE_SIDE * scale
        return (np.abs(x) <= half) & (np.abs(y) <= half)
    if shape == "ellipse":
        a, b = 0.5 * _ELLIPSE_AXES[0] * scale, 0.5 * _ELLIPSE_AXES[1] * scale
        return (x / a) ** 2 + (y / b) ** 2 <= 1.0
    # Heart: a square of side d turned 45 degrees plus two discs of diameter d on
    # its upper edges; 1.707 d wide, 1.561 d high, re-centred on its bounding box.
    d = _HEART_WIDTH * scale / (1.0 + np.sqrt(0.5))
    h = d * np.sqrt(0.125)  # disc centre offsets from the origin
    y = y - 0.5 * ((h + 0.5 * d) - d * np.sqrt(0.5))  # centre vertically
    diamond = np.abs(x) + np.abs(y) <= d * np.sqrt(0.5)
    r2 = (0.5 * d) ** 2
    lobes = ((x - h) ** 2 + (y - h) ** 2 <= r2) | ((x + h) ** 2 + (y - h) ** 2 <= r2)
    return diamond | lobes


@functools.lru_cache(maxsize=1)
def sprite_bank():
    """The 720 sprites, uint8 `[3, 6, 40, S, S]` in {0, 1}, and their top-left margin.


    Returns:
        `(bank, margin)`: the bank cropped to the union bounding box of all sprites,
        and the row/column of the window (centre at 14, 14) where the crop starts.
    """
    ss = _SUPERSAMPLE
    # Supersample centres in the window frame, then relative to the centre (y up).
    t = ((np.arange(_WINDOW * ss) + 0.5) / ss - 0.5 * _WINDOW - _EPS).astype(np.float32)
    x = t[None, :]
    y = -t[:, None]
    cos = np.cos(ORIENTATIONS).astype(np.float32)[:, None, None]
    sin = np.sin(ORIENTATIONS).astype(np.float32)[:, None, None]
    # Counter-clockwise rotation by theta: sample the shape at R(-theta) p.
    xr = cos * x + sin * y
    yr = -sin * x + cos * y
    bank = np.zeros((3, 6, 40, _WINDOW, _WINDOW), dtype=np.uint8)
    for i, shape in enumerate(SHAPES):
        for j, scale in enumerate(SCALES):
            inside = _inside(shape, scale, xr, yr).astype(np.float32)
            cover = inside.reshape(40, _WINDOW, ss, _WINDOW, ss).mean(axis=(2, 4))
            bank[i, j] = cover >= 0.5
    rows = np.flatnonzero(bank.any(axis=(0, 1, 2, 4)))
    cols = np.flatnonzero(bank.any(axis=(0, 1, 2, 3)))
    lo = int(min(rows[0], cols[0]))
    hi = int(max(rows[-1], cols[-1])) + 1
    bank = np.ascontiguousarray(bank[..., lo:hi, lo:hi])
    bank.setflags(write=False)
    return bank, lo


class DSprites(GroundTruthDataset):
    """Procedural dSprites (Matthey et al. 2017): 737,280 binary 64x64x1 images.

    Factors `("shape", "scale", "orientation", "position_x", "position_y")` with
    sizes `(3, 6, 40, 32, 32)`, flat index in the published order. Deterministic;
    nothing is downloaded and no image is stored. See the module docstring for the
    geometry and the differences from the published files.

    Example:

    ```python
    ds = kd.data.load("dsprites")
    x = ds.images([[2, 5, 0, 16, 16]])  # the largest heart, centred, upright
    ```
    """

    name = "dsprites"
    observation_shape = (IMAGE_SIZE, IMAGE_SIZE, 1)
    _raw_scale = 1

    def __init__(self):
        self._init_factors(FACTOR_NAMES, FACTOR_SIZES)
        self.num_examples = self.num_grid_points
        bank, _ = sprite_bank()
        self._sprite_size = s = bank.shape[-1]
        self._bank = bank.reshape(-1, s * s)
        # Top-left offset of the cropped sprite for each position value.
        self._offsets = np.round(POSITIONS * (IMAGE_SIZE - s)).astype(np.int64)
        rows, cols = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
        self._patch = (rows * IMAGE_SIZE + cols).ravel()

    @property
    def sprite_centers(self):
        """float array `[32]`: pixel coordinate of the sprite centre for each position."""
        _, margin = sprite_bank()
        return self._offsets - margin + 0.5 * _WINDOW

    def _raw_from_factors(self, factors, rng=None):
        n = factors.shape[0]
        pixels = IMAGE_SIZE * IMAGE_SIZE
        out = np.zeros((n, pixels), dtype=np.uint8)
        sprite = (factors[:, 0] * 6 + factors[:, 1]) * 40 + factors[:, 2]
        corner = self._offsets[factors[:, 4]] * IMAGE_SIZE + self._offsets[factors[:, 3]]
        chunk = 4096  # bounds the temporary index array
        flat_out = out.reshape(-1)
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            base = np.arange(start, stop, dtype=np.int64) * pixels + corner[start:stop]
            flat_out[base[:, None] + self._patch] = self._bank[sprite[start:stop]]
        return out.reshape(n, IMAGE_SIZE, IMAGE_SIZE, 1)

    def _raw_at(self, indices, rng=None):
        return self._raw_from_factors((indices[:, None] // self._strides) % self._sizes)

    def _tf_images_at(self, indices, seed=None):
        """TensorFlow version of `images_at`, used by `as_dataset` (no Python per batch).

        Each sprite is placed by two one-hot matrix products, exact for 0/1 pixels:
        `image = rows^T @ sprite @ cols` with `rows[r, i] = 1` iff `i = offset_y + r`.
        """
        import tensorflow as tf

        if getattr(self, "_tf_consts", None) is None:
            s = self._sprite_size
            with tf.init_scope():  # eager constants, captured by every traced function
                self._tf_consts = (
                    tf.constant(self._bank.reshape(-1, s, s), tf.float32),
                    tf.constant(self._offsets, tf.int64),
                    tf.constant(self._strides, tf.int64),
                    tf.constant(self._sizes, tf.int64),
                )
        bank, offsets, strides, sizes = self._tf_consts
        s = self._sprite_size
        factors = (indices[:, None] // strides) % sizes
        sprite = (factors[:, 0] * 6 + factors[:, 1]) * 40 + factors[:, 2]
        span = tf.range(s, dtype=tf.int64)
        rows = tf.one_hot(tf.gather(offsets, factors[:, 4])[:, None] + span, IMAGE_SIZE)
        cols = tf.one_hot(tf.gather(offsets, factors[:, 3])[:, None] + span, IMAGE_SIZE)
        placed = tf.matmul(rows, tf.matmul(tf.gather(bank, sprite), cols), transpose_a=True)
        return placed[..., None]


class _RandomizedSprites(GroundTruthDataset):
    """Shared machinery of the colour and noise variants of a binary dSprites."""

    stochastic = True
    observation_shape = (IMAGE_SIZE, IMAGE_SIZE, 3)

    def __init__(self, base=None, seed=0):
        base = DSprites() if base is None else base
        if tuple(base.observation_shape) != (IMAGE_SIZE, IMAGE_SIZE, 1):
            raise ValueError(
                f"`base` must be a binary 64x64x1 dSprites dataset, got shape "
                f"{base.observation_shape}."
            )
        self.base = base
        self._init_factors(base.factor_names, base.factor_sizes)
        self.num_examples = base.num_examples
        self.seed = seed
        self._rng = as_rng(seed)

    def _rng_for(self, seed):
        return self._rng if seed is None else as_rng(seed)

    def _raw_from_factors(self, factors, rng):
        mask = self.base._raw_from_factors(factors, None)
        return self._randomize(mask, self._rng if rng is None else rng)

    def _raw_at(self, indices, rng):
        mask = self.base._raw_at(indices, None)
        return self._randomize(mask, self._rng if rng is None else rng)

    def _tf_images_at(self, indices, seed):
        return self._tf_randomize(self.base._tf_images_at(indices, None), seed)


class ColorDSprites(_RandomizedSprites):
    """dSprites with a random colour per image (disentanglement_lib's `ColorDSprites`).

    As in Locatello et al. 2019: each image's sprite is scaled by a colour drawn
    uniformly in `[0.5, 1]` per RGB channel; the background stays black. 64x64x3,
    same factors as `DSprites` (the colour is a nuisance, not a factor).

    Args:
        base: the binary dSprites to colour. Defaults to the procedural `DSprites()`.
        seed: int. Seeds the dataset's own generator, used by `images()` and
            `images_at()` when they get no `seed`; it advances with every call, so
            two datasets made with the same seed give the same sequence of images.
            Passing `seed=` to `images()` draws from that seed alone. Defaults to `0`.
            `as_dataset(seed=...)` draws with TensorFlow's stateless RNG from its
            own `seed`, so its colours differ from those of `images()`.
    """

    name = "color_dsprites"

    def _randomize(self, mask, rng):
        color = rng.uniform(0.5, 1.0, size=(mask.shape[0], 1, 1, 3)).astype(np.float32)
        return mask.astype(np.float32) * color

    def _tf_randomize(self, mask, seed):
        import tensorflow as tf

        shape = tf.stack([tf.shape(mask)[0], 1, 1, 3])
        return mask * tf.random.stateless_uniform(shape, seed, minval=0.5, maxval=1.0)


class NoisyDSprites(_RandomizedSprites):
    """dSprites on uniform noise (disentanglement_lib's `NoisyDSprites`).

    As in Locatello et al. 2019: the background is uniform noise in `[0, 1]`, drawn
    for each pixel and channel of each image, and the sprite's pixels are 1.
    64x64x3, same factors as `DSprites`.

    Args:
        base: the binary dSprites. Defaults to the procedural `DSprites()`.
        seed: int. Seeds the noise, as for `ColorDSprites`. Defaults to `0`.
    """

    name = "noisy_dsprites"

    def _randomize(self, mask, rng):
        n = mask.shape[0]
        noise = rng.random(size=(n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.float32)
        return np.maximum(noise, mask.astype(np.float32), out=noise)

    def _tf_randomize(self, mask, seed):
        import tensorflow as tf

        shape = tf.stack([tf.shape(mask)[0], IMAGE_SIZE, IMAGE_SIZE, 3])
        return tf.maximum(tf.random.stateless_uniform(shape, seed), mask)


SCREAM_BOX = (350, 274)  # PIL thumbnail box (width, height), as dlib


def load_scream(image_path):
    """The painting for `ScreamDSprites`: float32 `[H, W, 3]` in `[0, 1]`, fit in 350x274.

    Raises:
        ManualDownloadError: no file at `image_path` (says where the painting is).
        ValueError: the file is not an image, or is smaller than 65x65 once fitted.
    """
    from PIL import Image

    path = os.path.abspath(os.path.expanduser(os.fspath(image_path)))
    if not os.path.isfile(path):
        raise catalog.ManualDownloadError(scream_missing_message(path))
    try:
        with Image.open(path) as image:
            image.load()
            image = image.convert("RGB")
    except Exception as error:  # PIL raises several types for broken files
        raise ValueError(
            f"scream_dsprites: `image_path`={path!r} is not a readable image ({error}); "
            f"expected a copy of The Scream, e.g. {catalog.SCREAM_IMAGE.url}."
        ) from error
    image.thumbnail(SCREAM_BOX, Image.Resampling.BICUBIC)
    scream = np.asarray(image, dtype=np.float32) / np.float32(255.0)
    if scream.shape[0] <= IMAGE_SIZE or scream.shape[1] <= IMAGE_SIZE:
        raise ValueError(
            f"scream_dsprites: `image_path`={path!r} is {scream.shape[1]}x{scream.shape[0]} "
            f"once fitted in {SCREAM_BOX[0]}x{SCREAM_BOX[1]}; expected at least "
            f"{IMAGE_SIZE + 1}x{IMAGE_SIZE + 1} to cut 64x64 patches from."
        )
    scream.setflags(write=False)
    return scream


def scream_missing_message(where=None, searched=None):
    """How to get the painting, naming the argument and where kerasdis looked."""
    image = catalog.SCREAM_IMAGE
    looked = f" No file at {where}." if where else ""
    if searched:
        looked += (f" No `image_path` was given and neither of "
                   f"{', '.join(f'`{f}`' for f in image.files)} is in {searched}.")
    return (
        f"scream_dsprites needs a copy of Munch's The Scream (public domain, not shipped "
        f"with kerasdis).{looked} Download it from {image.url} (page {image.homepage}; "
        f"{image.size}) and pass `image_path=` to `kd.data.load('scream_dsprites', "
        f"image_path=...)`, or put it as `{image.files[0]}` in "
        f"<data_dir>/downloads/manual/ (by default ~/tensorflow_datasets/downloads/manual/)."
    )


class ScreamDSprites(_RandomizedSprites):
    """dSprites on patches of *The Scream* (disentanglement_lib's `ScreamDSprites`).

    As in Locatello et al. 2019: each image's background is a random 64x64 patch
    of the painting (shrunk to fit 350x274), averaged with a random colour drawn
    uniformly in `[0, 1]` per channel, `(patch + colour) / 2`; the sprite's pixels
    show that background inverted, `1 - background`. 64x64x3 in `[0, 1]`, same
    factors as `DSprites`. Deterministic per seed, as `ColorDSprites`.

    Args:
        image_path: str. A copy of the painting (any size; JPEG or PNG), e.g.
            https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg.
        base: the binary dSprites. Defaults to the procedural `DSprites()`.
        seed: int. Seeds the patches and colours, as for `ColorDSprites`.
            Defaults to `0`.
    """

    name = "scream_dsprites"

    def __init__(self, image_path=None, base=None, seed=0):
        if image_path is None:
            raise catalog.ManualDownloadError(scream_missing_message())
        self.scream = load_scream(image_path)
        self.image_path = os.fspath(image_path)
        super().__init__(base=base, seed=seed)

    def _randomize(self, mask, rng):
        n = mask.shape[0]
        height, width = self.scream.shape[:2]
        rows = rng.integers(0, height - IMAGE_SIZE, size=n)
        cols = rng.integers(0, width - IMAGE_SIZE, size=n)
        color = rng.uniform(0.0, 1.0, size=(n, 1, 1, 3)).astype(np.float32)
        span = np.arange(IMAGE_SIZE)
        r = (rows[:, None] + span)[:, :, None]
        c = (cols[:, None] + span)[:, None, :]
        background = (self.scream[r, c] + color) * np.float32(0.5)
        return np.where(mask.astype(bool), np.float32(1.0) - background, background)

    def _tf_randomize(self, mask, seed):
        import tensorflow as tf

        if getattr(self, "_tf_scream", None) is None:
            with tf.init_scope():
                self._tf_scream = tf.constant(self.scream)
        height, width = self.scream.shape[:2]
        n = tf.shape(mask)[0]
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
        rows = tf.random.stateless_uniform([n], seeds[0], minval=0,
                                           maxval=height - IMAGE_SIZE, dtype=tf.int64)
        cols = tf.random.stateless_uniform([n], seeds[1], minval=0,
                                           maxval=width - IMAGE_SIZE, dtype=tf.int64)
        color = tf.random.stateless_uniform(tf.stack([n, 1, 1, 3]), seeds[2])
        span = tf.range(IMAGE_SIZE, dtype=tf.int64)
        patch = tf.gather(self._tf_scream, rows[:, None] + span)  # [n, 64, W, 3]
        patch = tf.gather(patch, cols[:, None] + span, axis=2, batch_dims=1)
        background = (patch + color) * 0.5
        return tf.where(mask > 0.5, 1.0 - background, background)
