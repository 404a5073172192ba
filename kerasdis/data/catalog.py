"""The table of datasets kerasdis knows, and whether each one is on this machine.

One row per name of `kd.data.names()`: where the images come from (`source`),
how many there are, their shape, the factors, and for the published files what
to download and where to put it. Nothing here imports TensorFlow: the `kerasdis`
command lists the table and checks names before TensorFlow loads, and
`available()` only looks at files (it never downloads).

Sources:

- `"procedural"`: rendered by kerasdis in numpy, offline (Scream-dSprites also
  needs a copy of the painting: `image_path=`, or `scream.jpg` in the manual
  directory).
- `"tfds"`: a tensorflow-datasets dataset that TFDS can download itself
  (`kd.data.load(name, download=True)`); its files can also be put in the manual
  directory by hand (see `ManualArchive`).
- `"manual download"`: a tensorflow-datasets builder shipped by kerasdis
  (`kerasdis.data.builders`) that reads an archive the user downloads once and
  puts in `<data_dir>/downloads/manual/`; `kd.data.load(name, data_dir=...)`
  prepares it on first use. MPI3D (12.7 GB arrays) is not rewritten into TFDS
  records: its builder memory-maps the published array and records that in
  `<data_dir>/<name>/<version>/kerasdis_prepared.json` (`PREPARED_MARKER`).
- `"licence"`: not redistributable; `kd.data.load` explains how to obtain it.

`data_dir` is TFDS's data directory: the argument, else `$TFDS_DATA_DIR`, else
`~/tensorflow_datasets`.
"""

import dataclasses
import os


class ManualDownloadError(FileNotFoundError, ValueError):
    """A dataset's files are not on this machine; the message says how to get them.

    Both a `FileNotFoundError` and a `ValueError`, so either `except` catches it.
    """


@dataclasses.dataclass(frozen=True)
class ManualArchive:
    """A file the user downloads by hand, and where it is published."""

    files: tuple  # accepted names in the manual directory (first = the archive)
    url: str
    homepage: str
    size: str  # as published (or "not published")
    checksum: str  # as published (or why there is none)
    note: str = ""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """One row of the table."""

    name: str
    source: str
    num_examples: int
    image_shape: tuple
    factor_names: tuple
    factor_sizes: tuple
    tfds_name: str = None
    archive: ManualArchive = None
    note: str = ""

    @property
    def factors(self):
        """str. `"name size, ..."`, or `"none"`."""
        if not self.factor_names:
            return "none" + (f" ({self.note})" if self.note else "")
        return ", ".join(f"{n} {s}" for n, s in zip(self.factor_names, self.factor_sizes))


_DSPRITES = (("shape", "scale", "orientation", "position_x", "position_y"), (3, 6, 40, 32, 32))

CHAIRS3D_ARCHIVE = ManualArchive(
    files=("rendered_chairs.tar", "rendered_chairs"),
    url="https://www.di.ens.fr/willow/research/seeing3Dchairs/data/rendered_chairs.tar",
    homepage="https://www.di.ens.fr/willow/research/seeing3Dchairs/",
    size="not stated on the project page (86,366 PNG renders of 600x600: several GB)",
    checksum="none published (the project page gives no checksum)",
    note="the extracted folder `rendered_chairs/` is accepted too",
)

CARS3D_ARCHIVE = ManualArchive(
    files=("nips2015-analogy-data.tar.gz", "cars"),
    url="http://www.scottreed.info/files/nips2015-analogy-data.tar.gz",
    homepage="http://www.scottreed.info/ (Reed et al., NeurIPS 2015, "
             "\"Deep Visual Analogy-Making\")",
    size="not stated by the publisher",
    checksum="none published; disent (Michlo) records MD5 4e866a7919c1beedf53964e6f7a23686 "
             "for this file",
    note="or the extracted `cars/` folder (`data/cars/` of the archive: 183 "
         "`car_XXX_mesh.mat` files and `list.txt`), as disentanglement_lib keeps it",
)

_MPI3D_HOME = "https://github.com/rr-learning/disentanglement_dataset"
_MPI3D_MD5 = {  # as recorded by disent for the storage.googleapis.com copies
    "mpi3d_toy": "55889cb7c7dfc655d6e0277beee88868",
    "mpi3d_realistic": "59a6225b88b635365f70c91b3e52f70f",
    "mpi3d_real": "0f33f609918fb5c97996692f91129802",
}


def _mpi3d_archive(name):
    extra = ("sim_toy_64x_ordered_without_heldout_factors.npz",) if name == "mpi3d_toy" else \
        ("sim_realistic_64x_ordered_without_heldout_factors.npz",) \
        if name == "mpi3d_realistic" else ()
    return ManualArchive(
        files=(f"{name}.npz",) + extra,
        url=f"https://huggingface.co/datasets/waleedgondal/mpi3d/resolve/main/{name}.npz",
        homepage=_MPI3D_HOME,
        size="about 12.7 GB (an uncompressed .npz whose one member `images.npy`, uint8 "
             "[1036800, 64, 64, 3], is 12,740,198,528 bytes)",
        checksum=f"none published by the authors; disent records MD5 {_MPI3D_MD5[name]} for "
                 "the earlier copy at https://storage.googleapis.com/disentanglement_dataset/"
                 f"Final_Dataset/{name}.npz (mpi3d_real.npz was re-published corrected in "
                 "April 2025)",
        note="older mirror: https://storage.googleapis.com/mpi3d_disentanglement_dataset/"
             f"data/{name}.npz"
             + (f"; disentanglement_lib's early 460,800-image file `{extra[0]}` (4 colours x "
                "4 shapes) is accepted too" if extra else ""),
    )


MPI3D_ARCHIVES = {n: _mpi3d_archive(n) for n in ("mpi3d_toy", "mpi3d_realistic", "mpi3d_real")}

SCREAM_IMAGE = ManualArchive(
    files=("scream.jpg", "The_Scream.jpg"),
    url="https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg",
    homepage="https://commons.wikimedia.org/wiki/File:The_Scream.jpg",
    size="any size: it is shrunk to fit 350x274 as disentanglement_lib does (at least 65 "
         "pixels each way after that)",
    checksum="none (any copy of the painting works; public domain)",
    note="or pass `image_path=`",
)

_MPI3D_FACTORS = ("object_color", "object_shape", "object_size", "camera_height",
                  "background_color", "first_dof", "second_dof")

CELEBA_FILES = ManualArchive(
    files=("img_align_celeba.zip", "list_attr_celeba.txt", "list_eval_partition.txt",
           "list_landmarks_align_celeba.txt", "identity_CelebA.txt"),
    url="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
    homepage="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
    size="img_align_celeba.zip 1,443,490,838 bytes",
    checksum="img_align_celeba.zip sha256 "
             "46fb89443c578308acf364d7d379fe1b9efb793042c0af734b6112e4fd3a8c74 "
             "(TFDS checks all five files against its registered checksums)",
    note="TFDS downloads these from Google Drive, which often refuses with a quota error",
)

TABLE = {
    "dsprites": DatasetInfo("dsprites", "procedural", 737_280, (64, 64, 1), *_DSPRITES,
                            tfds_name="dsprites", note="or source='tfds'"),
    "color_dsprites": DatasetInfo("color_dsprites", "procedural", 737_280, (64, 64, 3),
                                  *_DSPRITES, tfds_name="dsprites"),
    "noisy_dsprites": DatasetInfo("noisy_dsprites", "procedural", 737_280, (64, 64, 3),
                                  *_DSPRITES, tfds_name="dsprites"),
    "scream_dsprites": DatasetInfo("scream_dsprites", "procedural", 737_280, (64, 64, 3),
                                   *_DSPRITES, tfds_name="dsprites", archive=SCREAM_IMAGE,
                                   note="needs the painting: image_path="),
    "shapes3d": DatasetInfo(
        "shapes3d", "tfds", 480_000, (64, 64, 3),
        ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"),
        (10, 10, 10, 8, 4, 15), tfds_name="shapes3d"),
    "smallnorb": DatasetInfo("smallnorb", "tfds", 48_600, (64, 64, 1),
                             ("category", "elevation", "azimuth", "lighting"), (5, 9, 18, 6),
                             tfds_name="smallnorb"),
    "celeba": DatasetInfo("celeba", "tfds", 162_770, (64, 64, 3), (), (), tfds_name="celeb_a",
                          archive=CELEBA_FILES, note="40 binary attributes as `labels`"),
    "chairs3d": DatasetInfo("chairs3d", "manual download", 86_366, (64, 64, 1),
                            ("chair", "azimuth", "elevation"), (1393, 31, 2),
                            tfds_name="chairs3d", archive=CHAIRS3D_ARCHIVE),
    "cars3d": DatasetInfo("cars3d", "manual download", 17_568, (64, 64, 3),
                          ("elevation", "azimuth", "object"), (4, 24, 183),
                          tfds_name="cars3d", archive=CARS3D_ARCHIVE),
    **{name: DatasetInfo(name, "manual download", 1_036_800, (64, 64, 3), _MPI3D_FACTORS,
                         (6, 6, 2, 3, 3, 40, 40), tfds_name=name, archive=archive,
                         note="memory-mapped")
       for name, archive in MPI3D_ARCHIVES.items()},
    "faces3d": DatasetInfo("faces3d", "licence", 0, (64, 64, 1), (), (),
                           note="Basel Face Model renders, not redistributable"),
}

FACES3D_MESSAGE = (
    "faces3d: the 3D faces of the beta-VAE paper are renders of the Basel Face Model "
    "(Paysan et al. 2009), whose licence forbids redistribution, so neither kerasdis nor "
    "tensorflow-datasets can ship or download them. Request the model from the University "
    "of Basel (https://faces.dmi.unibas.ch/bfm/, a licence agreement for non-commercial "
    "research), render the faces yourself (the paper varies azimuth, elevation and lighting) "
    "and wrap the images with `kd.data.from_arrays(images, factors, factor_names=...)`."
)


def names():
    """Names of the table, in order."""
    return list(TABLE)


def data_dir_root(data_dir=None):
    """TFDS's data directory: `data_dir`, else `$TFDS_DATA_DIR`, else `~/tensorflow_datasets`."""
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.join("~", "tensorflow_datasets")
    return os.path.abspath(os.path.expanduser(os.fspath(root)))


def manual_dir(data_dir=None):
    """Where manually downloaded files go: `<data_dir>/downloads/manual`."""
    return os.path.join(data_dir_root(data_dir), "downloads", "manual")


def tfds_prepared(tfds_name, data_dir=None):
    """Whether TFDS has prepared `tfds_name` in `data_dir` (looks for `dataset_info.json`)."""
    top = os.path.join(data_dir_root(data_dir), tfds_name)
    if not os.path.isdir(top):
        return False
    base_depth = top.rstrip(os.sep).count(os.sep)
    for root, dirs, files in os.walk(top):
        if "dataset_info.json" in files:
            return True
        if root.count(os.sep) - base_depth >= 2:  # <name>/<config>/<version>
            dirs[:] = []
    return False


# Written by the kerasdis builders that prepare data outside TFDS's record files
# (the memory-mapped MPI3D arrays) in `<data_dir>/<name>/<version>/`.
PREPARED_MARKER = "kerasdis_prepared.json"


def marker_prepared(name, data_dir=None):
    """Whether a kerasdis builder has written its `PREPARED_MARKER` for `name` in `data_dir`."""
    top = os.path.join(data_dir_root(data_dir), name)
    if not os.path.isdir(top):
        return False
    return any(os.path.isfile(os.path.join(top, version, PREPARED_MARKER))
               for version in os.listdir(top))


def find_archive(name, directory):
    """The path of `name`'s manual file in `directory`, or `None`."""
    archive = TABLE[name].archive
    for file_name in archive.files:
        path = os.path.join(os.fspath(directory), file_name)
        if os.path.exists(path):
            return path
    return None


def available(name, data_dir=None):
    """A short word on whether `name` can be loaded here without downloading.

    Returns:
        str: `"built in"` (procedural; Scream-dSprites: `"built in (image found)"`
        when the painting is in the manual directory, else `"needs image_path"`),
        `"prepared"`, `"archive found, prepared on first load"`, `"not prepared"`
        or `"not available (licence)"`.
    """
    info = TABLE[name]
    if info.source == "procedural":
        if info.archive is None:
            return "built in"
        if find_archive(name, manual_dir(data_dir)):
            return "built in (image found)"
        return "needs image_path"
    if info.source == "licence":
        return "not available (licence)"
    if tfds_prepared(info.tfds_name, data_dir) or marker_prepared(info.tfds_name, data_dir):
        return "prepared"
    if info.archive is not None and info.source == "manual download" \
            and find_archive(name, manual_dir(data_dir)):
        return "archive found, prepared on first load"
    return "not prepared"


def instructions(name, directory=None):
    """How to get `name`'s files: what, where it is published, size, checksum, where to put it."""
    info = TABLE[name]
    archive = info.archive
    where = directory or "<data_dir>/downloads/manual/ (by default " \
        "~/tensorflow_datasets/downloads/manual/)"
    files = ", ".join(f"`{f}`" for f in archive.files)
    if info.source == "manual download":
        first = (f"Download `{archive.files[0]}` from {archive.url} "
                 f"(published on {archive.homepage})")
    else:
        first = f"Download {files} from {archive.url}"
    return (
        f"{first}. Size: {archive.size}. Checksum: {archive.checksum}. "
        f"Put it in {where}" + (f" ({archive.note})" if archive.note else "") + "; then "
        f"`kd.data.load({name!r}, data_dir=...)` prepares it once (the manual directory is "
        f"`<data_dir>/downloads/manual/`, or pass `manual_dir=`)."
    )


def missing_archive_error(name, directory):
    """The `ManualDownloadError` raised when `name`'s archive is not in `directory`."""
    archive = TABLE[name].archive
    return ManualDownloadError(
        f"{name}: `{archive.files[0]}` is not in the manual download directory {directory}, "
        f"and {name} is not prepared. It cannot be downloaded automatically. "
        + instructions(name, directory)
    )
