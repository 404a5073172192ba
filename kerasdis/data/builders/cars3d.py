"""`Cars3d`: a tensorflow-datasets builder of the rendered 3D cars (manual download).

Reed, Zhang, Zhang & Lee 2015, "Deep Visual Analogy-Making" (NeurIPS). The archive
`nips2015-analogy-data.tar.gz` (http://www.scottreed.info/files/nips2015-analogy-data.tar.gz)
holds, besides the sprites and shapes of the paper, 183 car CAD models rendered at
24 azimuths x 4 elevations::

    data/cars/list.txt                 the model names, one a line ("car_001_mesh", ...)
    data/cars/car_XXX_mesh.mat         MATLAB file; key "im": uint8 [128, 128, 3, 24, 4]
                                       (height, width, RGB, azimuth, elevation); also
                                       "mask" [128, 128, 24, 4] (not read)

Preparation follows disentanglement_lib (`data/ground_truth/cars3d.py`, Locatello et
al. 2019), so that metric numbers compare:

- `im` is reordered `abcde->deabc` (azimuth, elevation, H, W, C), as dlib's
  `_load_mesh`;
- each render is resized to 64x64 with PIL's Lanczos filter (dlib:
  `thumbnail((64, 64), ANTIALIAS)`, the same for the square 128x128 renders) and
  kept as uint8 (dlib divides by 255 when serving; so does kerasdis);
- factors in dlib's order and sizes: `elevation` 4, `azimuth` 24, `object` 183
  (dlib `Cars3D.factor_sizes = [4, 24, 183]`); the flat index is elevation-major,
  object fastest, as dlib's `StateSpaceAtomIndex` over `cartesian([4, 24, 183])`.

Object order: dlib numbers the cars in the order `gfile.ListDirectory` returns the
`.mat` files (file-system order, not defined); kerasdis uses the order of
`list.txt` when the archive has it (as disent does), else sorted file names. The
disentanglement metrics treat a factor's values as unordered labels, so scores do
not depend on this numbering.

Features: `image` (uint8 64x64x3); the factors `label_elevation` (0..3),
`label_azimuth` (0..23), `label_object` (0..182); and `object_name` (the `.mat`
file name without extension). One split, `train` (17,568 examples).

The archive is checked while it is read: a file that is not a tar archive, a
`.mat` file that does not load, has no `im` array, or whose `im` is not uint8
`[H, W, 3, 24, 4]` raises a `ValueError` naming the file and what was expected.
An archive with fewer cars (a subset) is accepted: `kd.data.load` then takes the
number of objects from the data.

Use it through `kd.data.load("cars3d", data_dir=...)`, or directly::

    builder = Cars3d(data_dir=data_dir)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=folder_with_the_archive))
"""

import io
import re

import numpy as np
import tensorflow_datasets as tfds

from kerasdis.data import catalog
from kerasdis.data.builders import _archive

NUM_ELEVATIONS = 4
NUM_AZIMUTHS = 24
NUM_OBJECTS = 183
IMAGE_SIZE = 64
MAT_KEY = "im"
ARCHIVE = catalog.CARS3D_ARCHIVE

_MAT = re.compile(r"(?:^|/)cars/([^/]+)\.mat$")
_LIST = re.compile(r"(?:^|/)cars/list\.txt$")
_LAYOUT = "data/cars/<model>.mat"

_DESCRIPTION = f"""
Rendered 3D cars of Reed et al. (NeurIPS 2015, "Deep Visual Analogy-Making"):
{NUM_OBJECTS} car models x 24 azimuths x 4 elevations, RGB, resized to 64x64 as in
disentanglement_lib. Factors (dlib order): elevation, azimuth, object.
"""

_CITATION = """
@inproceedings{reed2015deep,
  title={Deep Visual Analogy-Making},
  author={Reed, Scott E. and Zhang, Yi and Zhang, Yuting and Lee, Honglak},
  booktitle={Advances in Neural Information Processing Systems},
  year={2015}
}
"""


def preprocess(render):
    """A uint8 render `[H, W, 3]` -> uint8 `[64, 64, 3]` (PIL Lanczos, as dlib's thumbnail)."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(render))
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


class _Source:
    """The `.mat` files of an archive or of an extracted `cars/` folder, in object order."""

    def __init__(self, path):
        self.path = path
        self._files = _archive.ArchiveFiles(path, "cars3d", ARCHIVE.files[0], ARCHIVE.url)
        mats, listing = {}, None
        for name, entry in self._files.entries:
            match = _MAT.search(name)
            if match is not None:
                mats[match.group(1)] = (name, entry)
            elif _LIST.search(name):
                listing = (name, entry)
        if not mats:
            raise ValueError(
                f"cars3d: {path} holds no file named like {_LAYOUT}; expected "
                f"`{ARCHIVE.files[0]}` from {ARCHIVE.url} (or its `cars/` folder)."
            )
        if len(mats) > NUM_OBJECTS:
            raise ValueError(
                f"cars3d: {path} holds {len(mats)} .mat files under cars/, expected at most "
                f"{NUM_OBJECTS}."
            )
        order = sorted(mats)
        if listing is not None:
            try:
                listed = [line.strip() for line in
                          self._files.read(listing[1]).decode("utf-8").splitlines()]
            except Exception:  # an unreadable list only loses the publisher's order
                listed = []
            listed = [n[:-4] if n.endswith(".mat") else n for n in listed if n]
            if sorted(listed) == order:
                order = listed
        self.order = order
        self.mats = mats

    def read(self, model):
        """The renders of one model: uint8 `[24, 4, H, W, 3]` (azimuth, elevation, ...)."""
        import scipy.io

        name, entry = self.mats[model]
        try:
            content = scipy.io.loadmat(io.BytesIO(self._files.read(entry)))
        except Exception as error:  # scipy raises several types for broken files
            raise ValueError(
                f"cars3d: {name} in {self.path} is not a readable MATLAB file ({error}); the "
                "archive is corrupt: download it again."
            ) from error
        if MAT_KEY not in content:
            keys = sorted(k for k in content if not k.startswith("__"))
            raise ValueError(
                f"cars3d: {name} in {self.path} has no array {MAT_KEY!r} (it has {keys}); "
                f"expected uint8 [H, W, 3, {NUM_AZIMUTHS}, {NUM_ELEVATIONS}] renders."
            )
        im = np.asarray(content[MAT_KEY])
        if im.ndim != 5 or im.shape[2:] != (3, NUM_AZIMUTHS, NUM_ELEVATIONS) \
                or im.dtype != np.uint8 or im.shape[0] < 1 or im.shape[1] < 1:
            raise ValueError(
                f"cars3d: {MAT_KEY!r} in {name} ({self.path}) is {im.dtype} {list(im.shape)}; "
                f"expected uint8 [H, W, 3, {NUM_AZIMUTHS}, {NUM_ELEVATIONS}] (height, width, "
                "RGB, azimuth, elevation; 128x128 in the published archive)."
            )
        return np.einsum("abcde->deabc", im)  # as dlib's _load_mesh

    def close(self):
        self._files.close()


class Cars3d(_archive.ManualArchiveBuilder, tfds.core.GeneratorBasedBuilder):
    """The rendered 3D cars of Reed et al. 2015, prepared as disentanglement_lib uses them."""

    VERSION = tfds.core.Version("1.0.0")
    DATASET = "cars3d"
    SOURCE = _Source
    # No registered checksums file (none is published); see `Chairs3d.code_path`.
    code_path = None
    RELEASE_NOTES = {"1.0.0": "RGB 64x64 (Lanczos); elevation, azimuth, object as dlib."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    Download `{ARCHIVE.files[0]}` (the data of Reed et al., "Deep Visual
    Analogy-Making", NeurIPS 2015; the 183 cars are in its `data/cars/` folder) from
    {ARCHIVE.url}
    (published on {ARCHIVE.homepage}).
    Size: {ARCHIVE.size}.
    Checksum: {ARCHIVE.checksum}.
    Put the archive, unchanged (or its extracted `cars/` folder), in the manual
    directory `<data_dir>/downloads/manual/` (by default
    ~/tensorflow_datasets/downloads/manual/), then run
    `kd.data.load("cars3d", data_dir=...)`, which prepares it once.
    """

    def _info(self):
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(IMAGE_SIZE, IMAGE_SIZE, 3)),
                "label_elevation": tfds.features.ClassLabel(num_classes=NUM_ELEVATIONS),
                "label_azimuth": tfds.features.ClassLabel(num_classes=NUM_AZIMUTHS),
                "label_object": tfds.features.ClassLabel(num_classes=NUM_OBJECTS),
                "object_name": tfds.features.Text(),
            }),
            supervised_keys=None,
            homepage="http://www.scottreed.info/",
            citation=_CITATION,
        )

    def _generate_examples(self, source):
        try:
            for obj, model in enumerate(source.order):
                renders = source.read(model)
                for a in range(NUM_AZIMUTHS):
                    for e in range(NUM_ELEVATIONS):
                        yield f"{model}/e{e}_a{a:02d}", {
                            "image": preprocess(renders[a, e]),
                            "label_elevation": e,
                            "label_azimuth": a,
                            "label_object": obj,
                            "object_name": model,
                        }
        finally:
            source.close()
