"""`load()` and `names()`: the datasets kerasdis knows by name, and their sources.

| name             | sources                           | images     |
| ---------------- | --------------------------------- | ---------- |
| `dsprites`       | `"procedural"` (default), `"tfds"` | 64x64x1    |
| `color_dsprites` | `"procedural"` (default), `"tfds"` | 64x64x3    |
| `noisy_dsprites` | `"procedural"` (default), `"tfds"` | 64x64x3    |
| `shapes3d`       | `"tfds"`                          | 64x64x3    |
| `smallnorb`      | `"tfds"`                          | 64x64x1    |
| `celeba`         | `"tfds"` (no factors)             | 64x64x3    |
| `chairs3d`       | `"tfds"` (kerasdis builder, manual download) | 64x64x1 |
| `faces3d`        | none: a clear licence error       |            |

`"procedural"` renders dSprites in numpy (offline, nothing stored);
`"tfds"` reads the published files through tensorflow-datasets, with TFDS's own
builders or the ones kerasdis ships for manually downloaded archives
(`kerasdis.data.builders`). `kerasdis.data.catalog` holds the table of every
dataset (source, size, factors, where the files are published) and says which
are on this machine; `kerasdis datasets` prints it.
"""

from kerasdis.data import catalog as _catalog
from kerasdis.data import dsprites as _dsprites
from kerasdis.data import tfds_adapters as _tfds

_SOURCES = {
    "dsprites": ("procedural", "tfds"),
    "color_dsprites": ("procedural", "tfds"),
    "noisy_dsprites": ("procedural", "tfds"),
    "shapes3d": ("tfds",),
    "smallnorb": ("tfds",),
    "celeba": ("tfds",),
    "chairs3d": ("tfds",),
    "faces3d": (),
}
_ALIASES = {"3dshapes": "shapes3d", "celeb_a": "celeba", "small_norb": "smallnorb",
            "3dchairs": "chairs3d", "chairs": "chairs3d", "3dfaces": "faces3d"}
_VARIANTS = {"color_dsprites": _dsprites.ColorDSprites, "noisy_dsprites": _dsprites.NoisyDSprites}


def names():
    """Names accepted by `kd.data.load()`.

    Returns:
        list of str.
    """
    return list(_SOURCES)


def load(name, source=None, *, data_dir=None, download=False, seed=0, split=None,
         max_examples=None, manual_dir=None):
    """Loads a dataset by name.

    Args:
        name: str. One of `kd.data.names()`: `"dsprites"`, `"color_dsprites"`,
            `"noisy_dsprites"`, `"shapes3d"`, `"smallnorb"`, `"celeba"`,
            `"chairs3d"` (manual download), `"faces3d"` (raises a licence error).
        source: str or `None`. `"procedural"` (dSprites family: rendered in
            numpy, offline) or `"tfds"` (the published data via
            tensorflow-datasets). Defaults to the first source of the name:
            `"procedural"` for the dSprites family, `"tfds"` otherwise.
        data_dir: str or `None`. TFDS data directory (`source="tfds"` only).
        download: bool. Let TFDS download and prepare missing data
            (`source="tfds"` only). Defaults to `False`.
        seed: int. Seed of the random colours / noise of `"color_dsprites"` and
            `"noisy_dsprites"` (see `ColorDSprites`); unused otherwise.
            Defaults to `0`.
        split: str or `None`. TFDS split (`source="tfds"` only); defaults per
            dataset (see `kerasdis.data.tfds_adapters`).
        max_examples: int or `None`. Read at most this many TFDS examples.
        manual_dir: str or `None`. Where manually downloaded archives are
            (`"chairs3d"`, CelebA's files). Defaults to
            `<data_dir>/downloads/manual`.

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
    ```
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

    if source == "procedural":
        extra = {"data_dir": data_dir, "split": split, "max_examples": max_examples,
                 "manual_dir": manual_dir}
        given = [k for k, v in extra.items() if v is not None] + (["download"] if download else [])
        if given:
            raise ValueError(f"{given} only apply to source='tfds', not to {source!r}.")
        base = _dsprites.DSprites()
    else:
        base_name = "dsprites" if key in _VARIANTS else key
        base = _tfds.load_tfds(base_name, data_dir=data_dir, download=download, split=split,
                               max_examples=max_examples, manual_dir=manual_dir)
    if key in _VARIANTS:
        return _VARIANTS[key](base=base, seed=seed)
    return base
