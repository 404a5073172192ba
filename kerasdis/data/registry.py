"""`load()` and `names()`: the datasets kerasdis knows by name, and their sources.

| name             | sources                           | images     |
| ---------------- | --------------------------------- | ---------- |
| `dsprites`       | `"procedural"` (default), `"tfds"` | 64x64x1    |
| `color_dsprites` | `"procedural"` (default), `"tfds"` | 64x64x3    |
| `noisy_dsprites` | `"procedural"` (default), `"tfds"` | 64x64x3    |
| `shapes3d`       | `"tfds"`                          | 64x64x3    |
| `smallnorb`      | `"tfds"`                          | 64x64x1    |
| `celeba`         | `"tfds"` (no factors)             | 64x64x3    |

`"procedural"` renders dSprites in numpy (offline, nothing stored);
`"tfds"` reads the published files through tensorflow-datasets.
"""

from kerasdis.data import dsprites as _dsprites
from kerasdis.data import tfds_adapters as _tfds

_SOURCES = {
    "dsprites": ("procedural", "tfds"),
    "color_dsprites": ("procedural", "tfds"),
    "noisy_dsprites": ("procedural", "tfds"),
    "shapes3d": ("tfds",),
    "smallnorb": ("tfds",),
    "celeba": ("tfds",),
}
_ALIASES = {"3dshapes": "shapes3d", "celeb_a": "celeba", "small_norb": "smallnorb"}
_VARIANTS = {"color_dsprites": _dsprites.ColorDSprites, "noisy_dsprites": _dsprites.NoisyDSprites}


def names():
    """Names accepted by `kd.data.load()`.

    Returns:
        list of str.
    """
    return list(_SOURCES)


def load(name, source=None, *, data_dir=None, download=False, seed=0, split=None,
         max_examples=None):
    """Loads a dataset by name.

    Args:
        name: str. One of `kd.data.names()`: `"dsprites"`, `"color_dsprites"`,
            `"noisy_dsprites"`, `"shapes3d"`, `"smallnorb"`, `"celeba"`.
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

    Returns:
        A `GroundTruthDataset`.

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
    sources = _SOURCES[key]
    source = sources[0] if source is None else source
    if source not in sources:
        raise ValueError(
            f"Unknown source {source!r} for {key!r}; valid sources: {list(sources)}."
        )

    if source == "procedural":
        extra = {"data_dir": data_dir, "split": split, "max_examples": max_examples}
        given = [k for k, v in extra.items() if v is not None] + (["download"] if download else [])
        if given:
            raise ValueError(f"{given} only apply to source='tfds', not to {source!r}.")
        base = _dsprites.DSprites()
    else:
        base_name = "dsprites" if key in _VARIANTS else key
        base = _tfds.load_tfds(base_name, data_dir=data_dir, download=download, split=split,
                               max_examples=max_examples)
    if key in _VARIANTS:
        return _VARIANTS[key](base=base, seed=seed)
    return base
