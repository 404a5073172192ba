"""`Chairs3d`: a tensorflow-datasets builder of the rendered 3D chairs (manual download).

Aubry, Maturana, Efros, Russell & Sivic 2014, "Seeing 3D chairs: exemplar
part-based 2D-3D alignment using a large dataset of CAD models" (CVPR). The
archive `rendered_chairs.tar` holds 1,393 chair CAD models rendered from 62
viewpoints, 31 azimuths x 2 elevations, as 600x600 RGB PNGs of a chair on a white
background (86,366 images)::

    rendered_chairs/<model>/renders/image_<XXX>_p<elevation>_t<azimuth>_r096.png
    e.g. rendered_chairs/1a2b8749a1756a09932a5c2746cd09a4/renders/image_000_p020_t000_r096.png

`p` is the elevation in degrees (020 and 030), `t` the azimuth in degrees (000, 011,
023, ... 348: 360/31 steps, truncated), `r096` the camera distance and `XXX` a view
counter (not used). Other files of the archive (`all_chair_names.mat`) are ignored.

Preparation, as the beta-VAE paper (Higgins et al. 2017) uses the data (64x64x1 inputs):

- grayscale (PIL's ITU-R 601-2 luma, `Image.convert("L")`; an alpha channel is
  composited on white first); the chair stays dark on a white background (not
  inverted);
- centre crop of the central two thirds of the image, 400x400 of the 600x600
  render (the chairs are rendered centred with a wide white margin; the 400x400
  centre crop that disentangling-vae's `Chairs` asks for, `center_crop=(400, 400)`,
  and close to the 430- and 450-pixel crops of other public beta-VAE code);
- resized to 64x64 by area averaging (PIL `BOX` filter), stored as uint8 64x64x1.

Features: `image` (uint8 64x64x1); the factors `label_chair` (0..1392, the models
in sorted directory-name order), `label_azimuth` (0..30 in increasing degrees),
`label_elevation` (0: 20 degrees, 1: 30 degrees); and `chair_model` (directory
name), `azimuth_degrees`, `elevation_degrees`. One split, `train`.

The archive is checked while it is read: a file that is not a tar archive, a PNG
that does not decode, a model without its 62 views or an archive without the
`rendered_chairs/<model>/renders/` layout each raise a `ValueError` naming the
file and what was expected. An archive with fewer models (a subset) is accepted:
`kd.data.load` then takes the number of chairs from the data.

Use it through `kd.data.load("chairs3d", data_dir=...)`, or directly::

    builder = Chairs3d(data_dir=data_dir)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=folder_with_the_archive))
"""

import io
import re

import numpy as np
import tensorflow_datasets as tfds

from kerasdis.data import catalog
from kerasdis.data.builders import _archive

NUM_CHAIRS = 1393
NUM_AZIMUTHS = 31
NUM_ELEVATIONS = 2
IMAGE_SIZE = 64
CROP_FRACTION = 2 / 3  # 400 of 600 pixels
ARCHIVE = catalog.CHAIRS3D_ARCHIVE

_RENDER = re.compile(
    r"(?:^|/)rendered_chairs/([^/]+)/renders/image_(\d+)_p(\d+)_t(\d+)_r(\d+)\.png$"
)
_LAYOUT = "rendered_chairs/<model>/renders/image_XXX_pEEE_tAAA_r096.png"

_DESCRIPTION = f"""
Rendered 3D chairs of Aubry et al. (CVPR 2014): {NUM_CHAIRS} chair CAD models x 31
azimuths x 2 elevations, grayscale, centre-cropped (400x400 of 600x600) and resized
to 64x64 as used by the beta-VAE paper. Factors: chair, azimuth, elevation.
"""

_CITATION = """
@inproceedings{aubry2014seeing,
  title={Seeing 3D chairs: exemplar part-based 2D-3D alignment using a large dataset of CAD models},
  author={Aubry, Mathieu and Maturana, Daniel and Efros, Alexei A. and
          Russell, Bryan C. and Sivic, Josef},
  booktitle={CVPR},
  year={2014}
}
"""


def preprocess(image):
    """A PIL image of a render -> uint8 `[64, 64, 1]` (grayscale, centre crop, area resize)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    gray = image.convert("L")
    width, height = gray.size
    side = max(1, int(round(min(width, height) * CROP_FRACTION)))
    left, top = (width - side) // 2, (height - side) // 2
    crop = gray.crop((left, top, left + side, top + side))
    small = crop.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8)[..., None]


class _Source:
    """The renders of an archive or of an extracted folder: `{model: {(p, t): entry}}`."""

    def __init__(self, path):
        self.path = path
        self._files = _archive.ArchiveFiles(path, "chairs3d", ARCHIVE.files[0], ARCHIVE.url)
        entries = self._files.entries
        self.models = {}
        for name, entry in entries:
            match = _RENDER.search(name)
            if match is None:
                continue
            model, _, elevation, azimuth, _ = match.groups()
            views = self.models.setdefault(model, {})
            key = (int(elevation), int(azimuth))
            if key in views:
                raise ValueError(
                    f"chairs3d: {path} holds two renders of model {model} at elevation "
                    f"{key[0]} and azimuth {key[1]} ({name}); expected one per view."
                )
            views[key] = (name, entry)
        self._check()

    def _check(self):
        if not self.models:
            raise ValueError(
                f"chairs3d: {self.path} holds no file named like {_LAYOUT}; expected "
                f"`{ARCHIVE.files[0]}` from {ARCHIVE.url}."
            )
        if len(self.models) > NUM_CHAIRS:
            raise ValueError(
                f"chairs3d: {self.path} holds {len(self.models)} chair models, expected at "
                f"most {NUM_CHAIRS}."
            )
        elevations = sorted({e for views in self.models.values() for e, _ in views})
        azimuths = sorted({a for views in self.models.values() for _, a in views})
        if len(elevations) != NUM_ELEVATIONS or len(azimuths) != NUM_AZIMUTHS:
            raise ValueError(
                f"chairs3d: {self.path} has renders at {len(azimuths)} azimuths {azimuths[:40]} "
                f"and {len(elevations)} elevations {elevations}; expected {NUM_AZIMUTHS} "
                f"azimuths x {NUM_ELEVATIONS} elevations (files {_LAYOUT})."
            )
        expected = {(e, a) for e in elevations for a in azimuths}
        for model in sorted(self.models):
            missing = sorted(expected - set(self.models[model]))
            if missing:
                shown = ", ".join(f"p{e:03d}_t{a:03d}" for e, a in missing[:5])
                raise ValueError(
                    f"chairs3d: model {model} in {self.path} has {len(self.models[model])} of "
                    f"the {len(expected)} views; missing {len(missing)} (e.g. {shown}). The "
                    "archive is incomplete or corrupt: download it again."
                )
        self.elevations, self.azimuths = elevations, azimuths

    def read(self, name, entry):
        from PIL import Image

        try:
            data = self._files.read(entry)
            image = Image.open(io.BytesIO(data))
            image.load()
        except Exception as error:  # PIL raises several types for broken files
            raise ValueError(
                f"chairs3d: {name} in {self.path} is not a readable PNG ({error}); the "
                "archive is corrupt: download it again."
            ) from error
        return image

    def close(self):
        self._files.close()


class Chairs3d(_archive.ManualArchiveBuilder, tfds.core.GeneratorBasedBuilder):
    """The rendered 3D chairs of Aubry et al. 2014, prepared as the beta-VAE paper uses them."""

    VERSION = tfds.core.Version("1.0.0")
    DATASET = "chairs3d"
    SOURCE = _Source
    # No registered checksums file (the archive has no published checksum). Also
    # keeps TFDS from resolving this module's resource path, which needs the
    # `importlib_resources` package that tensorflow-datasets 4.9 does not declare.
    code_path = None
    RELEASE_NOTES = {"1.0.0": "Grayscale 64x64, 400x400 centre crop; chair, azimuth, elevation."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    Download `{ARCHIVE.files[0]}` (the rendered views of the {NUM_CHAIRS} chair CAD models
    of Aubry et al., CVPR 2014) from
    {ARCHIVE.url}
    (project page {ARCHIVE.homepage}).
    Size: {ARCHIVE.size}.
    Checksum: {ARCHIVE.checksum}.
    Put the archive, unchanged (or its extracted `rendered_chairs/` folder), in the
    manual directory `<data_dir>/downloads/manual/` (by default
    ~/tensorflow_datasets/downloads/manual/), then run
    `kd.data.load("chairs3d", data_dir=...)`, which prepares it once.
    """

    def _info(self):
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(IMAGE_SIZE, IMAGE_SIZE, 1)),
                "label_chair": tfds.features.ClassLabel(num_classes=NUM_CHAIRS),
                "label_azimuth": tfds.features.ClassLabel(num_classes=NUM_AZIMUTHS),
                "label_elevation": tfds.features.ClassLabel(num_classes=NUM_ELEVATIONS),
                "chair_model": tfds.features.Text(),
                "azimuth_degrees": np.int32,
                "elevation_degrees": np.int32,
            }),
            supervised_keys=None,
            homepage=ARCHIVE.homepage,
            citation=_CITATION,
        )

    def _generate_examples(self, source):
        try:
            for chair, model in enumerate(sorted(source.models)):
                views = source.models[model]
                for e, elevation in enumerate(source.elevations):
                    for a, azimuth in enumerate(source.azimuths):
                        name, entry = views[(elevation, azimuth)]
                        yield f"{model}/p{elevation:03d}_t{azimuth:03d}", {
                            "image": preprocess(source.read(name, entry)),
                            "label_chair": chair,
                            "label_azimuth": a,
                            "label_elevation": e,
                            "chair_model": model,
                            "azimuth_degrees": azimuth,
                            "elevation_degrees": elevation,
                        }
        finally:
            source.close()
