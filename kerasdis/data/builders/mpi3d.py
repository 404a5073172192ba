"""`Mpi3d`: the MPI3D datasets of Gondal et al. 2019, memory-mapped from the published `.npz`.

Gondal, Wüthrich, Miladinović, Locatello, Breidt, Volchkov, Akpo, Bachem, Schölkopf
& Bauer 2019, "On the Transfer of Inductive Bias from Simulation to the Real World:
a New Disentanglement Dataset" (NeurIPS; the NeurIPS 2019 disentanglement
challenge), https://github.com/rr-learning/disentanglement_dataset. Three datasets
of the same robot platform: `mpi3d_toy` (simple renders), `mpi3d_realistic`
(realistic renders) and `mpi3d_real` (camera images). Each published file
`<name>.npz` holds one array, `images`: uint8 `[1036800, 64, 64, 3]`, every
combination of the factors in row-major order (the last factor fastest)::

    object_color      6   white, green, red, blue, brown, olive
    object_shape      6   cone, cube, cylinder, hexagonal, pyramid, sphere
    object_size       2   small, large
    camera_height     3   top, center, bottom
    background_color  3   purple, sea green, salmon
    first_dof        40   (the publisher's `horizontal_axis`)
    second_dof       40   (the publisher's `vertical_axis`)

Factor names and order are disentanglement_lib's (`data/ground_truth/mpi3d.py`,
`MPI3D` docstring, lines 45-54). Sizes: dlib hard-codes `[4, 4, 2, 3, 3, 40, 40]`
for `mpi3d_toy` and `mpi3d_realistic` (lines 69 and 81) and `[6, 6, 2, 3, 3, 40,
40]` for `mpi3d_real` (line 93). The 4x4 sizes are those of the early 460,800-image
files dlib downloads (`bin/dlib_download_data`:
`sim_toy_64x_ordered_without_heldout_factors.npz`, saved as `mpi3d_toy.npz`); the
files published since (1,036,800 images each, all three datasets) are 6x6. So
kerasdis takes the grid from the file: 1,036,800 images -> `(6, 6, 2, 3, 3, 40,
40)`; 460,800 images (dlib's early files) -> `(4, 4, 2, 3, 3, 40, 40)`, exactly
dlib's grid for the file dlib reads. (dlib with its 4x4 sizes on a 1,036,800-image
file would index the wrong images.) Anything else is refused (`GRIDS`).

Memory. The published `.npz` files are zip archives whose single member
`images.npy` is stored uncompressed (12,740,198,762 bytes): the builder finds the
array's offset inside the zip and memory-maps it where it lies (`np.memmap`, read
only), so preparing writes nothing but a small marker, and the dataset holds no
copy of the images: `images()`, `images_at()` and `as_dataset()` read only the
rows they serve (one batch, uint8 then float32: 12 KB + 48 KB per image), and the
pages the operating system caches are shared, clean and reclaimable. A full pass
over the data reads 12.7 GB from disk; nothing ever needs 12.7 GB of RAM (loading
the array like dlib does, `np.load(...)["images"]`, would). An `.npz` whose member
is compressed (`np.savez_compressed`) is extracted once, streaming in 64 MB
chunks, to `<data_dir>/<name>/1.0.0/images.npy` (12.7 GB of disk) and
memory-mapped from there. Never call `images()` on all 1,036,800 rows at once:
that float32 result alone is 51 GB.

Preparation is checked: a file that is not a zip, has no `images` array, or whose
array is not uint8 `[N, 64, 64, 3]` with N one of `GRIDS`, or is truncated or
corrupt (CRC) raises a `ValueError` naming the file and what was expected.
`<data_dir>/<name>/1.0.0/kerasdis_prepared.json` records where the array is
(`catalog.PREPARED_MARKER`); delete it to prepare again.

This is kerasdis's manual-download builder pattern (`catalog.ManualArchive`,
`MANUAL_DOWNLOAD_INSTRUCTIONS`, `<data_dir>/downloads/manual/`, prepared on first
`kd.data.load`), but not a `tfds.core.GeneratorBasedBuilder`: TFDS would rewrite
the 1,036,800 images into record files (a second copy on disk) and could not serve
`images_at()` without reading them all into memory.

Use it through `kd.data.load("mpi3d_toy", data_dir=...)`, or directly::

    builder = Mpi3d("mpi3d_toy", data_dir=data_dir)
    builder.download_and_prepare(manual_dir=folder_with_the_npz)
    ds = builder.as_ground_truth()
"""

import json
import os
import shutil
import struct
import tempfile
import zipfile
import zlib

import numpy as np

from kerasdis.data import catalog
from kerasdis.data.base import GroundTruthDataset

NAMES = ("mpi3d_toy", "mpi3d_realistic", "mpi3d_real")
FACTOR_NAMES = ("object_color", "object_shape", "object_size", "camera_height",
                "background_color", "first_dof", "second_dof")
# Number of images in the file -> factor sizes (see the module docstring).
GRIDS = {
    1_036_800: (6, 6, 2, 3, 3, 40, 40),  # the published files (all three datasets)
    460_800: (4, 4, 2, 3, 3, 40, 40),  # dlib's early toy/realistic files
}
IMAGE_SHAPE = (64, 64, 3)
VERSION = "1.0.0"
KEY = "images"
_CHUNK = 64 << 20


class Mpi3dDataset(GroundTruthDataset):
    """An MPI3D dataset served from a memory-mapped uint8 array (no copy in memory).

    Factors `FACTOR_NAMES`, flat index as published (the last factor fastest);
    `images_at(i)` is row `i` of the array. Images are float32 `[n, 64, 64, 3]` in
    `[0, 1]` (`value / 255`, as dlib). Only the requested rows are read from disk.
    """

    _raw_scale = 1.0 / 255.0
    is_complete = True

    def __init__(self, images, factor_sizes, name):
        self.name = name
        self._init_factors(FACTOR_NAMES, factor_sizes)
        if images.shape[0] != self.num_grid_points:
            raise ValueError(
                f"{name}: {images.shape[0]} images for the grid {factor_sizes} "
                f"({self.num_grid_points} points)."
            )
        self._images = images
        self.num_examples = int(images.shape[0])
        self.observation_shape = tuple(int(d) for d in images.shape[1:])

    def _raw_at(self, indices, rng=None):
        order = np.argsort(indices, kind="stable")  # read the file forwards
        out = np.empty((len(indices),) + self.observation_shape, np.uint8)
        out[order] = self._images[indices[order]]
        return out


def _bad(name, path, what):
    archive = catalog.TABLE[name].archive
    return ValueError(
        f"{name}: {path} {what}. Expected `{archive.files[0]}` from {archive.url}: a .npz "
        f"with the array {KEY!r}, uint8 [N, 64, 64, 3] with N = "
        f"{' or '.join(f'{n:,d}' for n in GRIDS)}; download it again."
    )


def _read_header(name, path, stream):
    """Reads the .npy header of `stream`; returns `(shape, header_bytes)` after checking it."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    except Exception as error:  # numpy raises ValueError, zipfile BadZipFile/EOFError
        raise _bad(name, path, f"has no readable .npy array {KEY!r} ({error})") from error
    if dtype != np.uint8 or fortran or len(shape) != 4 or tuple(shape[1:]) != IMAGE_SHAPE:
        raise _bad(name, path, f"holds {KEY!r} as {dtype} {list(shape)}"
                               + (" in Fortran order" if fortran else ""))
    if shape[0] not in GRIDS:
        raise _bad(name, path, f"holds {shape[0]:,d} images in {KEY!r}, not a known MPI3D "
                               "grid")
    return tuple(int(s) for s in shape), stream.tell()


def _stored_offset(path, info):
    """Offset in `path` of the bytes of an uncompressed zip member (its local header)."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        return None
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    return info.header_offset + 30 + name_len + extra_len


class Mpi3d:
    """Prepares and opens one MPI3D dataset (manual download; see the module docstring).

    Args:
        name: str. `"mpi3d_toy"`, `"mpi3d_realistic"` or `"mpi3d_real"`.
        data_dir: str or `None`. TFDS data directory: the argument, else
            `$TFDS_DATA_DIR`, else `~/tensorflow_datasets`.
    """

    VERSION = VERSION

    def __init__(self, name, data_dir=None):
        if name not in NAMES:
            raise ValueError(f"Unknown MPI3D dataset {name!r}; known: {list(NAMES)}.")
        self.name = name
        self.data_dir_root = catalog.data_dir_root(data_dir)
        self.data_dir = os.path.join(self.data_dir_root, name, VERSION)
        self.marker = os.path.join(self.data_dir, catalog.PREPARED_MARKER)

    @property
    def MANUAL_DOWNLOAD_INSTRUCTIONS(self):  # noqa: N802 (the TFDS attribute name)
        archive = catalog.TABLE[self.name].archive
        return (
            f"Download `{archive.files[0]}` (Gondal et al. 2019, {self.name}) from "
            f"{archive.url} (published on {archive.homepage}; {archive.note}). "
            f"Size: {archive.size}. Checksum: {archive.checksum}. Put it, unchanged, in "
            "the manual directory `<data_dir>/downloads/manual/` (by default "
            f"~/tensorflow_datasets/downloads/manual/), then run `kd.data.load("
            f"{self.name!r}, data_dir=...)`, which memory-maps it (nothing is copied)."
        )

    # === Prepared state ===

    def _read_marker(self):
        try:
            with open(self.marker) as f:
                record = json.load(f)
            shape = tuple(record["shape"])
            needed = int(record["offset"]) + int(np.prod(shape))
            if os.path.getsize(record["images"]) < needed:
                return None
            return record
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def is_prepared(self):
        """Whether the marker exists and the array it points to is there, whole."""
        return self._read_marker() is not None

    def download_and_prepare(self, manual_dir=None):
        """Finds `<name>.npz` in `manual_dir`, checks it, and records where its array is.

        Args:
            manual_dir: str or `None`. Where the downloaded file is. Defaults to
                `<data_dir>/downloads/manual`.

        Raises:
            ManualDownloadError: the file is not in `manual_dir`.
            ValueError: the file is not a readable MPI3D `.npz`.
        """
        manual = os.path.abspath(os.path.expanduser(os.fspath(
            manual_dir if manual_dir is not None
            else os.path.join(self.data_dir_root, "downloads", "manual"))))
        path = catalog.find_archive(self.name, manual)
        if path is None or not os.path.isfile(path):
            raise catalog.missing_archive_error(self.name, manual)
        os.makedirs(self.data_dir, exist_ok=True)
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise _bad(self.name, path, f"is not a readable .npz (zip) file ({error})") \
                from error
        with zf:
            member = next((i for i in zf.infolist() if i.filename in (KEY + ".npy", KEY)), None)
            if member is None:
                keys = [i.filename[:-4] if i.filename.endswith(".npy") else i.filename
                        for i in zf.infolist()]
                raise _bad(self.name, path, f"has no array {KEY!r} (it has {keys})")
            with zf.open(member) as stream:
                shape, header = _read_header(self.name, path, stream)
                expected = header + int(np.prod(shape))
                if member.file_size != expected:
                    raise _bad(self.name, path, f"has a {member.file_size:,d}-byte {KEY!r} "
                                                f"member, expected {expected:,d} for {list(shape)}")
                start = None
                if member.compress_type == zipfile.ZIP_STORED and not member.flag_bits & 1:
                    start = _stored_offset(path, member)
                if start is not None and os.path.getsize(path) >= start + expected:
                    images_path, offset = path, start + header
                    first = stream.read(min(int(np.prod(shape[1:])), 1 << 16))
                    with open(path, "rb") as f:
                        f.seek(offset)
                        if f.read(len(first)) != first:
                            start = None  # unusual layout: extract instead
                elif start is not None:
                    raise _bad(self.name, path, "is truncated (shorter than its zip "
                                                "directory says)")
            if start is None:
                images_path, offset = self._extract(zf, member, path, header)
        self._write_marker({
            "images": images_path, "offset": offset, "shape": list(shape),
            "factor_sizes": list(GRIDS[shape[0]]), "source": path,
            "source_bytes": os.path.getsize(path),
        })

    def _extract(self, zf, member, path, header):
        """Streams a compressed member to `<data_dir>/images.npy` (temp file, then rename)."""
        target = os.path.join(self.data_dir, KEY + ".npy")
        fd, tmp = tempfile.mkstemp(prefix=".images-", suffix=".npy.tmp", dir=self.data_dir)
        try:
            with os.fdopen(fd, "wb") as out, zf.open(member) as stream:
                shutil.copyfileobj(stream, out, _CHUNK)  # zipfile checks the CRC at the end
            os.replace(tmp, target)
        except (zipfile.BadZipFile, EOFError, zlib.error) as error:
            os.remove(tmp)
            raise _bad(self.name, path, f"is corrupt or truncated ({error})") from error
        except BaseException:  # disk full, interrupted: not the archive's fault
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return target, header

    def _write_marker(self, record):
        fd, tmp = tempfile.mkstemp(prefix=".marker-", dir=self.data_dir)
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=1)
        os.replace(tmp, self.marker)

    # === Reading ===

    def as_ground_truth(self):
        """The prepared dataset as an `Mpi3dDataset` over a read-only memory map."""
        record = self._read_marker()
        if record is None:
            raise catalog.ManualDownloadError(
                f"{self.name}: not prepared in {self.data_dir} (or the file it points to "
                f"moved). " + self.MANUAL_DOWNLOAD_INSTRUCTIONS
            )
        shape = tuple(record["shape"])
        images = np.memmap(record["images"], dtype=np.uint8, mode="r",
                           offset=int(record["offset"]), shape=shape)
        return Mpi3dDataset(images, tuple(record["factor_sizes"]), self.name)


def load(name, data_dir=None, manual_dir=None):
    """`Mpi3d(name, data_dir)`, prepared from `manual_dir` if needed, as a dataset."""
    builder = Mpi3d(name, data_dir=data_dir)
    if not builder.is_prepared():
        builder.download_and_prepare(manual_dir=manual_dir)
    return builder.as_ground_truth()
