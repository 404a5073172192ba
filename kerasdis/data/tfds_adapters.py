"""Published datasets read through tensorflow-datasets (TFDS).

Each adapter reads a TFDS split once into an in-memory `ArrayDataset`: binary
images bit-packed with `np.packbits`, others as uint8, ordered by flat factor
index, with the factors that disentanglement_lib (Locatello et al. 2019) uses:

- `dsprites` (TFDS `dsprites`): shape 3, scale 6, orientation 40, position_x 32,
  position_y 32; binary 64x64x1.
- `shapes3d` (TFDS `shapes3d`): floor_hue 10, wall_hue 10, object_hue 10, scale 8,
  shape 4, orientation 15; 64x64x3.
- `smallnorb` (TFDS `smallnorb`): category 5, elevation 9, azimuth 18, lighting 6;
  96x96 resized to 64x64x1.
- `celeba` (TFDS `celeb_a`): no factors; 218x178 cropped and resized to 64x64x3.

Sources:

- dSprites: Matthey et al. 2017, "dSprites: Disentanglement testing Sprites dataset".
- 3dshapes: Burgess & Kim 2018, "3D Shapes Dataset".
- smallNORB: LeCun et al. 2004, "Learning Methods for Generic Object Recognition with
  Invariance to Pose and Lighting". As in disentanglement_lib: the first camera's
  image, train and test splits together (48,600 images, ten per grid point: the
  toy instance is not a factor), resized to 64x64 with a Lanczos filter.
- CelebA: Liu et al. 2015, "Deep Learning Face Attributes in the Wild". No factors;
  the aligned 218x178 images are centre-cropped to 148x148 and resized to 64x64
  (area filter), as in most VAE papers. Train split (162,770 images, 2 GB in memory)
  by default.

TFDS prepares the files once (`download=True`, or
`tfds.builder(name, data_dir=...).download_and_prepare()`); kerasdis never
downloads unless asked.
"""

import dataclasses

import numpy as np

from kerasdis.data.arrays import ArrayDataset

IMAGE_SIZE = 64


@dataclasses.dataclass(frozen=True)
class TfdsSpec:
    """How to read one TFDS dataset: feature names and preprocessing."""

    tfds_name: str
    split: str
    factor_keys: tuple
    factor_names: tuple
    factor_sizes: tuple
    channels: int
    binary: bool = False
    resize: str = None  # tf.image.resize method, or None to keep the size
    crop: int = None  # centre crop side before resizing
    image_key: str = "image"


SPECS = {
    "dsprites": TfdsSpec(
        tfds_name="dsprites",
        split="train",
        factor_keys=("label_shape", "label_scale", "label_orientation",
                     "label_x_position", "label_y_position"),
        factor_names=("shape", "scale", "orientation", "position_x", "position_y"),
        factor_sizes=(3, 6, 40, 32, 32),
        channels=1,
        binary=True,
    ),
    "shapes3d": TfdsSpec(
        tfds_name="shapes3d",
        split="train",
        factor_keys=("label_floor_hue", "label_wall_hue", "label_object_hue",
                     "label_scale", "label_shape", "label_orientation"),
        factor_names=("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"),
        factor_sizes=(10, 10, 10, 8, 4, 15),
        channels=3,
    ),
    "smallnorb": TfdsSpec(
        tfds_name="smallnorb",
        split="train+test",
        factor_keys=("label_category", "label_elevation", "label_azimuth", "label_lighting"),
        factor_names=("category", "elevation", "azimuth", "lighting"),
        factor_sizes=(5, 9, 18, 6),
        channels=1,
        resize="lanczos3",
    ),
    "celeba": TfdsSpec(
        tfds_name="celeb_a",
        split="train",
        factor_keys=(),
        factor_names=(),
        factor_sizes=(),
        channels=3,
        resize="area",
        crop=148,
    ),
}


def _missing_data_error(name, spec, builder, data_dir):
    where = getattr(builder, "data_dir_root", None) or builder.data_dir
    return FileNotFoundError(
        f"{name}: the tensorflow-datasets copy {spec.tfds_name!r} is not prepared in "
        f"{where} (data_dir={data_dir!r}) and download=False. Prepare it once with "
        f"`tfds.builder({spec.tfds_name!r}, data_dir=...).download_and_prepare()` or "
        f"`kd.data.load({name!r}, source='tfds', data_dir=..., download=True)`; "
        f"or use the procedural `kd.data.load('dsprites')` where it fits."
    )


def _check_features(name, spec, features):
    missing = [k for k in (spec.image_key,) + spec.factor_keys if k not in features]
    if missing:
        raise ValueError(
            f"{name}: TFDS dataset {spec.tfds_name!r} has no feature(s) {missing}; "
            f"it has {sorted(features.keys())}."
        )
    for key, size in zip(spec.factor_keys, spec.factor_sizes):
        got = getattr(features[key], "num_classes", None)
        if got is not None and got != size:
            raise ValueError(
                f"{name}: TFDS feature {key!r} has {got} classes, expected {size}."
            )


def load_tfds(name, data_dir=None, download=False, split=None, max_examples=None,
              read_batch_size=1024):
    """Reads a published dataset through TFDS into an in-memory `ArrayDataset`.

    Args:
        name: str. One of `SPECS`: `"dsprites"`, `"shapes3d"`, `"smallnorb"`,
            `"celeba"`.
        data_dir: str or `None`. TFDS data directory. Defaults to TFDS's default
            (`~/tensorflow_datasets` or `$TFDS_DATA_DIR`).
        download: bool. Download and prepare the data if missing. Defaults to
            `False`: missing data raises a `FileNotFoundError` saying how to prepare it.
        split: str or `None`. TFDS split. Defaults to the table above.
        max_examples: int or `None`. Read at most this many examples (the factor
            grid is then incomplete). Defaults to `None` (all).
        read_batch_size: int. Batch size used while reading. Defaults to `1024`.

    Returns:
        An `ArrayDataset` named `name`.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    if name not in SPECS:
        raise ValueError(f"No TFDS adapter for {name!r}; known: {sorted(SPECS)}.")
    spec = SPECS[name]
    if max_examples is not None and (
        isinstance(max_examples, bool) or not isinstance(max_examples, (int, np.integer))
        or max_examples < 1
    ):
        raise ValueError(
            f"`max_examples` must be a positive integer or None, got {max_examples!r}."
        )
    split = spec.split if split is None else split

    builder = tfds.builder(spec.tfds_name, data_dir=data_dir)
    if download:
        builder.download_and_prepare()
    _check_features(name, spec, builder.info.features)
    try:
        source = builder.as_dataset(split=split, shuffle_files=False)
    except AssertionError as error:  # TFDS: "could not find data in ..."
        raise _missing_data_error(name, spec, builder, data_dir) from error

    def prepare(example):
        image = example[spec.image_key]
        if spec.crop is not None:
            image = tf.image.resize_with_crop_or_pad(image, spec.crop, spec.crop)
        if spec.resize is not None:
            image = tf.image.resize(image, (IMAGE_SIZE, IMAGE_SIZE), method=spec.resize,
                                    antialias=True)
            image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
        if spec.binary:
            image = tf.cast(image > 0, tf.uint8)
        labels = [tf.cast(example[k], tf.int64) for k in spec.factor_keys]
        labels = tf.stack(labels) if labels else tf.zeros([0], tf.int64)
        return image, labels

    if max_examples is not None:
        source = source.take(int(max_examples))
    source = source.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    shape = (IMAGE_SIZE, IMAGE_SIZE, spec.channels)
    images, factors = _read_all(name, source, shape, spec.binary, spec.factor_sizes,
                                read_batch_size)
    if factors is not None:
        flat = np.ravel_multi_index(tuple(factors.T), spec.factor_sizes)
        if np.any(np.diff(flat) < 0):  # order by flat factor index
            order = np.argsort(flat, kind="stable")
            images, factors = images[order], factors[order]
    return ArrayDataset(
        images,
        factors=factors,
        factor_names=spec.factor_names or None,
        factor_sizes=spec.factor_sizes or None,
        name=name,
        packed_shape=shape if spec.binary else None,
    )


def _read_all(name, source, shape, binary, factor_sizes, batch_size):
    """Drains a `(uint8 image, int64 labels)` dataset into numpy arrays.

    Binary images are bit-packed batch by batch. When the number of examples is
    known the arrays are allocated once, and when it equals the grid size (the
    full published dataset) each image is written straight to its flat factor
    index, so the peak memory is the final store (3dshapes: 5.9 GB) and no sort
    is needed.
    """
    import tensorflow as tf

    count = int(source.cardinality())
    grid = int(np.prod(factor_sizes)) if factor_sizes else 0
    by_index = count >= 0 and count == grid
    row_shape = ((int(np.prod(shape)) + 7) // 8,) if binary else shape
    if count >= 0:
        images = np.empty((count,) + row_shape, dtype=np.uint8)
        factors = np.empty((count, len(factor_sizes)), dtype=np.int64)
    seen = np.zeros(grid if by_index else 0, dtype=bool)
    image_chunks, factor_chunks = [], []
    filled = 0
    batches = source.batch(batch_size).prefetch(tf.data.AUTOTUNE).as_numpy_iterator()
    for batch_images, labels in batches:
        if batch_images.shape[1:] != shape:
            raise ValueError(
                f"{name}: unexpected TFDS image shape {batch_images.shape[1:]}, expected {shape}."
            )
        if factor_sizes and (labels.min() < 0 or np.any(labels.max(axis=0) >= factor_sizes)):
            raise ValueError(f"{name}: TFDS labels outside the factor sizes {factor_sizes}.")
        if binary:
            batch_images = np.packbits(batch_images.reshape(len(batch_images), -1), axis=1)
        if by_index:
            rows = np.ravel_multi_index(tuple(labels.T), factor_sizes)
            if seen[rows].any() or len(np.unique(rows)) != len(rows):
                raise ValueError(f"{name}: TFDS holds two images with the same factors.")
            seen[rows] = True
            images[rows] = batch_images
        elif count >= 0:
            rows = slice(filled, filled + len(batch_images))
            images[rows], factors[rows] = batch_images, labels
        else:
            image_chunks.append(batch_images)
            factor_chunks.append(labels)
        filled += len(batch_images)
    if count < 0 and filled:
        images, factors = np.concatenate(image_chunks), np.concatenate(factor_chunks)
    if filled == 0:
        raise ValueError(f"{name}: the TFDS split is empty.")
    if by_index:
        if filled != count:
            raise ValueError(f"{name}: read {filled} of the {count} TFDS examples.")
        factors = np.stack(np.unravel_index(np.arange(grid), factor_sizes), axis=1)
    elif count >= 0 and filled != count:
        images, factors = images[:filled], factors[:filled]
    return images, (factors if factor_sizes else None)
