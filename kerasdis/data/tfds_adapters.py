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
- `celeba` (TFDS `celeb_a`): no factors; 218x178 cropped and resized to 64x64x3;
  the 40 binary attributes as `labels`.
- `chairs3d` (kerasdis's own builder `kerasdis.data.builders.chairs3d`, manual
  download): chair 1393, azimuth 31, elevation 2; 64x64x1.

Sources:

- dSprites: Matthey et al. 2017, "dSprites: Disentanglement testing Sprites dataset".
- 3dshapes: Burgess & Kim 2018, "3D Shapes Dataset".
- smallNORB: LeCun et al. 2004, "Learning Methods for Generic Object Recognition with
  Invariance to Pose and Lighting". As in disentanglement_lib: the first camera's
  image, train and test splits together (48,600 images, ten per grid point: the
  toy instance is not a factor), resized to 64x64 with a Lanczos filter.
- CelebA: Liu et al. 2015, "Deep Learning Face Attributes in the Wild". No factors.
  The beta-VAE paper (Higgins et al. 2017) trains on the aligned and cropped images
  (`img_align_celeba`, 218x178) at 64x64x3 RGB; like most VAE code since (DCGAN,
  FactorVAE, disentangling-vae) kerasdis takes the centre 148x148 square (rows
  35-182, columns 15-162: the face, without the distortion of resizing 218x178
  straight to a square) and resizes it to 64x64 by area averaging, with rounding to
  uint8 (`preprocess_celeba`). The 40 binary attributes (`Smiling`, `Male`,
  `Bangs`, ...) are `ds.labels` (bool `[N, 40]`) with `ds.label_names`. Train split
  (162,770 images, 2 GB in memory) by default.
- 3D chairs: Aubry et al. 2014, "Seeing 3D chairs". kerasdis ships the TFDS builder
  (`kerasdis.data.builders.chairs3d`: the archive, the crop and the grayscale
  conversion are described there). It is a manual download: put
  `rendered_chairs.tar` in `<data_dir>/downloads/manual/` and `load` prepares it on
  first use; without it `load` raises `ManualDownloadError` (a `ValueError` and a
  `FileNotFoundError`) saying where to get it. The number of chairs is read from
  the prepared data (1393 for the published archive).

TFDS prepares the files once (`download=True`, or
`tfds.builder(name, data_dir=...).download_and_prepare()`); kerasdis never
downloads unless asked. Missing data raises `kerasdis.data.catalog.ManualDownloadError`
(a `FileNotFoundError` and a `ValueError`) saying how to get it, and so does a
failed download (no network, Google Drive quota for CelebA).
"""

import dataclasses
import importlib
import logging
import os

import numpy as np

from kerasdis.data import catalog
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
    labels_key: str = None  # a dict feature of binary labels (CelebA's attributes)
    builder: str = None  # "module:Class" of a builder shipped by kerasdis (manual download)
    size_from_data: bool = False  # first factor size = examples / prod(other sizes)


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
        labels_key="attributes",
    ),
    "chairs3d": TfdsSpec(
        tfds_name="chairs3d",
        split="train",
        factor_keys=("label_chair", "label_azimuth", "label_elevation"),
        factor_names=("chair", "azimuth", "elevation"),
        factor_sizes=(1393, 31, 2),
        channels=1,
        builder="kerasdis.data.builders.chairs3d:Chairs3d",
        size_from_data=True,
    ),
}


def preprocess_image(image, spec):
    """A TFDS uint8 image -> the kerasdis uint8 image of `spec` (crop, resize, binarise)."""
    import tensorflow as tf

    image = tf.convert_to_tensor(image)
    if spec.crop is not None:
        image = tf.image.resize_with_crop_or_pad(image, spec.crop, spec.crop)
    if spec.resize is not None:
        image = tf.image.resize(image, (IMAGE_SIZE, IMAGE_SIZE), method=spec.resize,
                                antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
    if spec.binary:
        image = tf.cast(image > 0, tf.uint8)
    return image


def preprocess_celeba(image):
    """CelebA as the beta-VAE paper's input: aligned uint8 `[218, 178, 3]` -> uint8 `[64, 64, 3]`.

    The centre 148x148 square (rows 35-182, columns 15-162), resized to 64x64 by
    area averaging and rounded. Accepts one image or a batch `[n, 218, 178, 3]`.
    """
    return preprocess_image(image, SPECS["celeba"])


def _offline_hint(name, spec, builder):
    info = catalog.TABLE.get(name)
    if info is None or info.archive is None:
        return ""
    manual = os.path.join(os.fspath(builder.data_dir_root), "downloads", "manual")
    return (
        f" Offline, or when the download fails: put {', '.join(info.archive.files)} "
        f"({info.archive.url}; {info.archive.size}; {info.archive.checksum}) in {manual} "
        "and TFDS prepares from them."
    )


def _missing_data_error(name, spec, builder, data_dir):
    where = getattr(builder, "data_dir_root", None) or builder.data_dir
    return catalog.ManualDownloadError(
        f"{name}: the tensorflow-datasets copy {spec.tfds_name!r} is not prepared in "
        f"{where} (data_dir={data_dir!r}) and download=False. Prepare it once with "
        f"`tfds.builder({spec.tfds_name!r}, data_dir=...).download_and_prepare()` or "
        f"`kd.data.load({name!r}, source='tfds', data_dir=..., download=True)`; "
        f"or use the procedural `kd.data.load('dsprites')` where it fits."
        + _offline_hint(name, spec, builder)
    )


def _download_and_prepare(name, spec, builder, download_config=None):
    """`builder.download_and_prepare`, with failures turned into a message."""
    try:
        if download_config is None:
            builder.download_and_prepare()
        else:
            builder.download_and_prepare(download_config=download_config)
    except (ValueError, KeyboardInterrupt):
        raise  # kerasdis builders' own messages name the file and what was expected
    except ImportError as error:  # an installation problem, not a download one
        raise catalog.ManualDownloadError(
            f"{name}: tensorflow-datasets cannot prepare {spec.tfds_name!r} because the "
            f"module {error.name!r} is not installed (tensorflow-datasets 4.9 uses it without "
            f"declaring it): `pip install {(error.name or '').replace('_', '-')}`, then retry."
        ) from error
    except Exception as error:
        raise catalog.ManualDownloadError(
            f"{name}: tensorflow-datasets could not download and prepare {spec.tfds_name!r} "
            f"in {builder.data_dir_root} ({type(error).__name__}: {str(error)[:300]})."
            + (_offline_hint(name, spec, builder) or " Check the network and retry.")
        ) from error


def _kerasdis_builder(name, spec, data_dir, manual_dir):
    """The prepared builder of a dataset shipped by kerasdis (manual download)."""
    module, cls = spec.builder.split(":")
    builder = getattr(importlib.import_module(module), cls)(data_dir=data_dir)
    if builder.is_prepared():
        return builder
    manual = os.fspath(manual_dir) if manual_dir is not None else os.path.join(
        os.fspath(builder.data_dir_root), "downloads", "manual")
    manual = os.path.abspath(os.path.expanduser(manual))
    if catalog.find_archive(name, manual) is None:
        raise catalog.missing_archive_error(name, manual)
    import tensorflow_datasets as tfds

    logging.getLogger(__name__).warning(
        "%s: preparing the data once from %s into %s", name, manual, builder.data_dir_root)
    _download_and_prepare(name, spec, builder,
                          tfds.download.DownloadConfig(manual_dir=manual))
    return builder


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
              read_batch_size=1024, manual_dir=None):
    """Reads a published dataset through TFDS into an in-memory `ArrayDataset`.

    Args:
        name: str. One of `SPECS`: `"dsprites"`, `"shapes3d"`, `"smallnorb"`,
            `"celeba"`, `"chairs3d"`.
        data_dir: str or `None`. TFDS data directory. Defaults to TFDS's default
            (`~/tensorflow_datasets` or `$TFDS_DATA_DIR`).
        download: bool. Download and prepare the data if missing. Defaults to
            `False`: missing data raises a `ManualDownloadError` (a
            `FileNotFoundError`) saying how to prepare it. Datasets with a
            manual download (`chairs3d`) are prepared from the manual directory
            whenever their archive is there, whatever `download` says.
        split: str or `None`. TFDS split. Defaults to the table above.
        max_examples: int or `None`. Read at most this many examples (the factor
            grid is then incomplete). Defaults to `None` (all).
        read_batch_size: int. Batch size used while reading. Defaults to `1024`.
        manual_dir: str or `None`. Where manually downloaded files are. Defaults
            to `<data_dir>/downloads/manual`.

    Returns:
        An `ArrayDataset` named `name` (CelebA: with `labels` and `label_names`).
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

    if spec.builder is not None:
        builder = _kerasdis_builder(name, spec, data_dir, manual_dir)
    else:
        builder = tfds.builder(spec.tfds_name, data_dir=data_dir)
        if download:
            _download_and_prepare(name, spec, builder)
    _check_features(name, spec, builder.info.features)
    try:
        source = builder.as_dataset(split=split, shuffle_files=False)
    except AssertionError as error:  # TFDS: "could not find data in ..."
        raise _missing_data_error(name, spec, builder, data_dir) from error
    factor_sizes = spec.factor_sizes
    if spec.size_from_data:
        total = int(builder.info.splits[split].num_examples)
        rest = int(np.prod(factor_sizes[1:]))
        if total < 1 or total % rest:
            raise ValueError(
                f"{name}: the prepared split {split!r} has {total} examples, not a multiple "
                f"of the {rest} views per {spec.factor_names[0]}."
            )
        factor_sizes = (total // rest,) + tuple(factor_sizes[1:])
    label_names = ()
    if spec.labels_key is not None:
        label_names = tuple(builder.info.features[spec.labels_key].keys())

    def prepare(example):
        image = preprocess_image(example[spec.image_key], spec)
        if label_names:
            labels = [tf.cast(example[spec.labels_key][k], tf.int64) for k in label_names]
        else:
            labels = [tf.cast(example[k], tf.int64) for k in spec.factor_keys]
        labels = tf.stack(labels) if labels else tf.zeros([0], tf.int64)
        return image, labels

    if max_examples is not None:
        source = source.take(int(max_examples))
    source = source.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    shape = (IMAGE_SIZE, IMAGE_SIZE, spec.channels)
    images, factors = _read_all(name, source, shape, spec.binary, factor_sizes,
                                read_batch_size, num_labels=len(label_names) or None)
    labels = None
    if label_names:
        labels, factors = factors.astype(bool), None
    if factors is not None:
        flat = np.ravel_multi_index(tuple(factors.T), factor_sizes)
        if np.any(np.diff(flat) < 0):  # order by flat factor index
            order = np.argsort(flat, kind="stable")
            images, factors = images[order], factors[order]
    dataset = ArrayDataset(
        images,
        factors=factors,
        factor_names=spec.factor_names or None,
        factor_sizes=factor_sizes or None,
        name=name,
        packed_shape=shape if spec.binary else None,
    )
    if label_names:
        dataset.labels = labels  # bool [N, L], row i describes images_at(i)
        dataset.label_names = label_names
    return dataset


def _read_all(name, source, shape, binary, factor_sizes, batch_size, num_labels=None):
    """Drains a `(uint8 image, int64 labels)` dataset into numpy arrays.

    Binary images are bit-packed batch by batch. When the number of examples is
    known the arrays are allocated once, and when it equals the grid size (the
    full published dataset) each image is written straight to its flat factor
    index, so the peak memory is the final store (3dshapes: 5.9 GB) and no sort
    is needed. `num_labels` columns of labels that are not factors (CelebA's
    attributes) are read and returned instead when given.
    """
    import tensorflow as tf

    count = int(source.cardinality())
    grid = int(np.prod(factor_sizes)) if factor_sizes else 0
    by_index = count >= 0 and count == grid
    row_shape = ((int(np.prod(shape)) + 7) // 8,) if binary else shape
    if count >= 0:
        images = np.empty((count,) + row_shape, dtype=np.uint8)
        factors = np.empty((count, num_labels or len(factor_sizes)), dtype=np.int64)
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
    return images, (factors if factor_sizes or num_labels else None)
