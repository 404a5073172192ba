"""`load()` and `names()`: the datasets kerasdis knows by name, and their sources.

| name             | sources                           | images     |
| ---------------- | --------------------------------- | ---------- |
| `dsprites`       | `"procedural"` (default), `"tfds"` | 64x64x1    |
| `color_dsprites` | `"procedural"` (default), `"tfds"` | 64x64x3    |
| `noisy_dsprites` | `"procedural"` (default), `"tfds"` | 64x64x3    |
| `shapes3d`       | `"tfds"`                          | 64x64x3    |
| `smallnorb`      | `"tfds"`                          | 64x64x1    |
| `celeba`         | `"tfds"` (no factors)             | 64x64x3    |
| `scream_dsprites` | `"procedural"` (default), `"tfds"`; the painting from `image_path` | 64x64x3 |
| `chairs3d`       | `"tfds"` (kerasdis builder, manual download) | 64x64x1 |
| `cars3d`         | `"tfds"` (kerasdis builder, manual download) | 64x64x3 |
| `mpi3d_toy`, `mpi3d_realistic`, `mpi3d_real` | `"tfds"` (kerasdis builder, manual download, memory-mapped) | 64x64x3 |
| `faces3d`        | none: a clear licence error       |            |

`"procedural"` renders dSprites in numpy (offline, nothing stored);
`"tfds"` reads the published files through tensorflow-datasets, with TFDS's own
builders or the ones kerasdis ships for manually downloaded archives
(`kerasdis.data.builders`). `kerasdis.data.catalog` holds the table of every
dataset (source, size, factors, where the files are published) and says which
are on this machine; `kerasdis datasets` prints it.
"""

import os

from kerasdis.data import catalog as _catalog
from kerasdis.data import dsprites as _dsprites
from kerasdis.data import tfds_adapters as _tfds

_SOURCES = {
    "dsprites": ("procedural", "tfds"),
    "color_dsprites": ("procedural", "tfds"),
    "noisy_dsprites": ("procedural", "tfds"),
    "scream_dsprites": ("procedural", "tfds"),
    "shapes3d": ("tfds",),
    "smallnorb": ("tfds",),
    "celeba": ("tfds",),
    "chairs3d": ("tfds",),
    "cars3d": ("tfds",),
    "mpi3d_toy": ("tfds",),
    "mpi3d_realistic": ("tfds",),
    "mpi3d_real": ("tfds",),
    "faces3d": (),
}
_ALIASES = {"3dshapes": "shapes3d", "celeb_a": "celeba", "small_norb": "smallnorb",
            "3dchairs": "chairs3d", "chairs": "chairs3d", "3dfaces": "faces3d",
            "3dcars": "cars3d", "cars": "cars3d", "mpi3d": "mpi3d_toy",
            "scream": "scream_dsprites"}
_VARIANTS = {"color_dsprites": _dsprites.ColorDSprites, "noisy_dsprites": _dsprites.NoisyDSprites,
             "scream_dsprites": _dsprites.ScreamDSprites}
_MPI3D = ("mpi3d_toy", "mpi3d_realistic", "mpi3d_real")

# Cars3D goes through the TFDS adapter like 3D chairs (the spec lives here because
# its object factor, the one a subset archive shortens, is the last one).
_tfds.SPECS.setdefault("cars3d", _tfds.TfdsSpec(
    tfds_name="cars3d",
    split="train",
    factor_keys=("label_elevation", "label_azimuth", "label_object"),
    factor_names=_catalog.TABLE["cars3d"].factor_names,
    factor_sizes=_catalog.TABLE["cars3d"].factor_sizes,
    channels=3,
    builder="kerasdis.data.builders.cars3d:Cars3d",
))


def _fit_objects(dataset):
    """Cars3D from a subset archive: the object factor takes the number of cars read."""
    if dataset.indexed_by_factors or not dataset.has_factors:
        return dataset
    factors = dataset.example_factors(range(dataset.num_examples))
    sizes = tuple(dataset.factor_sizes[:-1]) + (int(factors[:, -1].max()) + 1,)
    return type(dataset)(dataset._images, factors=factors, factor_names=dataset.factor_names,
                         factor_sizes=sizes, name=dataset.name)


def _scream_path(image_path, data_dir, manual_dir):
    """`image_path`, else the painting in the manual directory (raises if neither)."""
    if image_path is not None:
        return image_path
    manual = manual_dir if manual_dir is not None else _catalog.manual_dir(data_dir)
    manual = os.path.abspath(os.path.expanduser(os.fspath(manual)))
    path = _catalog.find_archive("scream_dsprites", manual)
    if path is None:
        raise _catalog.ManualDownloadError(_dsprites.scream_missing_message(searched=manual))
    return path


def names():
    """Names accepted by `kd.data.load()`.

    Returns:
        list of str.
    """
    return list(_SOURCES)


def load(name, source=None, *, data_dir=None, download=False, seed=0, split=None,
         max_examples=None, manual_dir=None, image_path=None):
    """Loads a dataset by name.

    Args:
        name: str. One of `kd.data.names()`: `"dsprites"`, `"color_dsprites"`,
            `"noisy_dsprites"`, `"scream_dsprites"` (needs the painting),
            `"shapes3d"`, `"smallnorb"`, `"celeba"`, `"chairs3d"`, `"cars3d"`,
            `"mpi3d_toy"`, `"mpi3d_realistic"`, `"mpi3d_real"` (manual downloads),
            `"faces3d"` (raises a licence error).
        source: str or `None`. `"procedural"` (dSprites family: rendered in
            numpy, offline) or `"tfds"` (the published data via
            tensorflow-datasets). Defaults to the first source of the name:
            `"procedural"` for the dSprites family, `"tfds"` otherwise.
        data_dir: str or `None`. TFDS data directory (`source="tfds"` only).
        download: bool. Let TFDS download and prepare missing data
            (`source="tfds"` only). Defaults to `False`.
        seed: int. Seed of the random colours / noise / patches of
            `"color_dsprites"`, `"noisy_dsprites"` and `"scream_dsprites"` (see
            `ColorDSprites`); unused otherwise. Defaults to `0`.
        split: str or `None`. TFDS split (`source="tfds"` only); defaults per
            dataset (see `kerasdis.data.tfds_adapters`).
        max_examples: int or `None`. Read at most this many TFDS examples (not
            for MPI3D, which is memory-mapped and reads nothing up front).
        manual_dir: str or `None`. Where manually downloaded archives are
            (`"chairs3d"`, `"cars3d"`, the MPI3D `.npz` files, CelebA's files,
            the Scream painting). Defaults to `<data_dir>/downloads/manual`.
        image_path: str or `None`. The painting of `"scream_dsprites"` (e.g.
            `The_Scream.jpg` from Wikimedia Commons). Defaults to `scream.jpg`
            or `The_Scream.jpg` in the manual directory.

    Returns:
        A `GroundTruthDataset`.

    Raises:
        ManualDownloadError: (a `ValueError` and a `FileNotFoundError`) the data
            is not on this machine; the message says where it is published and
            where to put it.

    Example:

    ```python
    ds = kd.data.load("dsprites")
    shapes = kd.data.load("shapes3d", source="tfds", data_dir="~/tensorflow_datasets")
    mpi3d = kd.data.load("mpi3d_real", data_dir="~/tensorflow_datasets")  # memory-mapped
    scream = kd.data.load("scream_dsprites", image_path="The_Scream.jpg")
    ```

    MPI3D's arrays are 12.7 GB: `load` memory-maps them (see
    `kerasdis.data.builders.mpi3d`), so the dataset holds no copy in memory.
    """
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _SOURCES:
        raise ValueError(f"Unknown dataset name {name!r}; known names: {names()}.")
    if key == "faces3d":
        raise _catalog.ManualDownloadError(_catalog.FACES3D_MESSAGE)
    sources = _SOURCES[key]
    source = sources[0] if source is None else source
    if source not in sources:
        raise ValueError(
            f"Unknown source {source!r} for {key!r}; valid sources: {list(sources)}."
        )

    if image_path is not None and key != "scream_dsprites":
        raise ValueError(f"`image_path` only applies to 'scream_dsprites', not to {key!r}.")
    scream = None
    if key == "scream_dsprites":  # the painting first: a missing file fails fast
        scream = _scream_path(image_path, data_dir, manual_dir)

    if source == "procedural":
        extra = {"data_dir": data_dir, "split": split, "max_examples": max_examples,
                 "manual_dir": manual_dir}
        if key == "scream_dsprites":  # they locate the painting
            extra.pop("data_dir"), extra.pop("manual_dir")
        given = [k for k, v in extra.items() if v is not None] + (["download"] if download else [])
        if given:
            raise ValueError(f"{given} only apply to source='tfds', not to {source!r}.")
        base = _dsprites.DSprites()
    elif key in _MPI3D:
        from kerasdis.data.builders import mpi3d

        given = [k for k, v in {"split": split, "max_examples": max_examples}.items()
                 if v is not None]
        if given:
            raise ValueError(f"{given} do not apply to {key!r} (one split, memory-mapped).")
        return mpi3d.load(key, data_dir=data_dir, manual_dir=manual_dir)
    else:
        base_name = "dsprites" if key in _VARIANTS else key
        base = _tfds.load_tfds(base_name, data_dir=data_dir, download=download, split=split,
                               max_examples=max_examples, manual_dir=manual_dir)
        if key == "cars3d" and max_examples is None:
            base = _fit_objects(base)
    if key == "scream_dsprites":
        return _VARIANTS[key](image_path=scream, base=base, seed=seed)
    if key in _VARIANTS:
        return _VARIANTS[key](base=base, seed=seed)
    return base
