"""Datasets with a manual download (3D chairs) and CelebA's preprocessing, offline.

The chairs test builds a tiny `rendered_chairs.tar` with the real layout
(`rendered_chairs/<model>/renders/image_XXX_pEEE_tAAA_r096.png`, 62 views per
model) and runs kerasdis's own TFDS builder on it through `download_and_prepare`
with a manual directory, then `kd.data.load("chairs3d", data_dir=...)`.

CelebA: TFDS's `celeb_a` builder validates every file against its registered
sha256 checksums (even files put in the manual directory), so a tiny archive
made by a test cannot go through the real builder offline; the preprocessing
function and the missing-data / failed-download messages are tested instead, and
the adapter on TFDS mock data (with the attributes as labels).
"""

import io
import os
import tarfile

import numpy as np
import pytest

import kerasdis as kd
from kerasdis.data import catalog

AZIMUTHS = [int(i * 360 / 31) for i in range(31)]  # 000, 011, 023, ... 348
ELEVATIONS = [20, 30]
MODELS = ["1a2b8749a1756a09932a5c2746cd09a4", "b663f1e4df6c51fe19fb4103277a6b93",
          "c0ffee0000000000000000000000beef"]
SIDE = 48  # the real renders are 600x600; the crop is the central two thirds


def render(model_index, a, e):
    """A small RGB render on white whose grey level encodes the factors."""
    image = np.full((SIDE, SIDE, 3), 255, np.uint8)
    value = 10 + 40 * model_index + 3 * a + e
    image[SIDE // 3: 2 * SIDE // 3, SIDE // 3: 2 * SIDE // 3] = value  # inside the crop
    return image, value


def png_bytes(array):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def add_file(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_archive(path, models=MODELS, drop=None, corrupt=None):
    with tarfile.open(path, "w") as tar:
        add_file(tar, "rendered_chairs/all_chair_names.mat", b"not read")
        for m, model in enumerate(models):
            view = 0
            for e, elevation in enumerate(ELEVATIONS):
                for a, azimuth in enumerate(AZIMUTHS):
                    name = (f"rendered_chairs/{model}/renders/image_{view:03d}_p{elevation:03d}"
                            f"_t{azimuth:03d}_r096.png")
                    view += 1
                    if drop == (m, a, e):
                        continue
                    data = b"not a png" if corrupt == (m, a, e) else png_bytes(render(m, a, e)[0])
                    add_file(tar, name, data)
            view += 1  # the published files skip one counter between the elevations
    return path


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    import tensorflow_datasets as tfds

    from kerasdis.data.builders.chairs3d import Chairs3d

    root = tmp_path_factory.mktemp("chairs")
    manual = root / "manual"
    manual.mkdir()
    write_archive(manual / "rendered_chairs.tar")
    data_dir = root / "tfds"
    builder = Chairs3d(data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    return str(data_dir)


def test_chairs3d_builder_and_load(prepared):
    ds = kd.data.load("chairs3d", data_dir=prepared)
    assert ds.name == "chairs3d"
    assert ds.factor_names == ("chair", "azimuth", "elevation")
    assert ds.factor_sizes == (3, 31, 2) and ds.num_examples == 3 * 62
    assert ds.observation_shape == (64, 64, 1) and ds.indexed_by_factors and ds.is_complete
    f = ds.sample_factors(20, seed=0)
    x = ds.images(f)
    assert x.shape == (20, 64, 64, 1) and x.dtype == np.float32
    for row, image in zip(f, x):
        expected = render(*row)[1]
        centre = image[24:40, 24:40, 0] * 255  # the block fills the crop's central third
        np.testing.assert_allclose(centre, expected, atol=1.0)
        assert image[0, 0, 0] == 1.0  # white background survives the crop
    np.testing.assert_array_equal(ds.images_at(ds.index_of(f)), x)
    batch = next(iter(ds.as_dataset(batch_size=8, seed=0))).numpy()
    assert batch.shape == (8, 64, 64, 1) and 0 <= batch.min() and batch.max() <= 1


def test_chairs3d_builder_records_degrees_and_models(prepared):
    import tensorflow_datasets as tfds

    from kerasdis.data.builders.chairs3d import Chairs3d

    builder = Chairs3d(data_dir=prepared)
    assert builder.info.splits["train"].num_examples == 186
    examples = list(tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False)))
    seen = {(int(ex["label_chair"]), int(ex["label_azimuth"]), int(ex["label_elevation"]))
            for ex in examples}
    assert len(seen) == 186
    for ex in examples[:10]:
        assert ex["chair_model"].decode() == MODELS[ex["label_chair"]]
        assert ex["azimuth_degrees"] == AZIMUTHS[ex["label_azimuth"]]
        assert ex["elevation_degrees"] == ELEVATIONS[ex["label_elevation"]]


def test_chairs3d_trains_one_step(prepared):
    import keras

    ds = kd.data.load("chairs3d", data_dir=prepared)
    model = kd.models.BetaVAE(latent_dim=4, beta=4.0, input_shape=ds.observation_shape)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    history = model.fit(ds.as_dataset(batch_size=8, seed=0), steps_per_epoch=1, epochs=1,
                        verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_chairs3d_prepares_on_first_load(tmp_path):
    manual = tmp_path / "tfds" / "downloads" / "manual"
    manual.mkdir(parents=True)
    write_archive(manual / "rendered_chairs.tar", models=MODELS[:1])
    data_dir = str(tmp_path / "tfds")
    assert catalog.available("chairs3d", data_dir) == "archive found, prepared on first load"
    ds = kd.data.load("chairs3d", data_dir=data_dir)
    assert ds.factor_sizes == (1, 31, 2)
    assert catalog.available("chairs3d", data_dir) == "prepared"


@pytest.mark.bad_input
def test_chairs3d_missing_archive(tmp_path):
    with pytest.raises(ValueError) as info:
        kd.data.load("chairs3d", data_dir=str(tmp_path))
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    manual = os.path.join(str(tmp_path), "downloads", "manual")
    assert "rendered_chairs.tar" in message and manual in message
    assert catalog.CHAIRS3D_ARCHIVE.url in message
    assert catalog.CHAIRS3D_ARCHIVE.url.startswith("https://www.di.ens.fr/willow/")
    assert "Unknown dataset" not in message and "Traceback" not in message


@pytest.mark.bad_input
@pytest.mark.parametrize("problem, pattern", [
    ("not_tar", r"not a readable tar archive"),
    ("missing_view", r"model 1a2b.* has 61 of the 62 views"),
    ("corrupt_png", r"image_003_p020_t034_r096.png.* is not a readable PNG"),
    ("wrong_layout", r"no file named like rendered_chairs/<model>/renders"),
])
def test_chairs3d_bad_archives(tmp_path, problem, pattern):
    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    path = manual / "rendered_chairs.tar"
    if problem == "not_tar":
        path.write_bytes(b"<html>quota exceeded</html>" * 40)
    elif problem == "missing_view":
        write_archive(path, models=MODELS[:1], drop=(0, 5, 1))
    elif problem == "corrupt_png":
        write_archive(path, models=MODELS[:1], corrupt=(0, 3, 0))
    else:
        with tarfile.open(path, "w") as tar:
            add_file(tar, "chairs/image_000.png", png_bytes(render(0, 0, 0)[0]))
    with pytest.raises(ValueError, match=pattern) as info:
        kd.data.load("chairs3d", data_dir=str(tmp_path))
    assert "rendered_chairs.tar" in str(info.value)


@pytest.mark.bad_input
def test_faces3d_licence_error():
    with pytest.raises(ValueError, match=r"faces3d.*Basel Face Model.*licence"):
        kd.data.load("faces3d")


# === CelebA ===


def test_celeba_preprocessing_crops_the_centre_square():
    from kerasdis.data.tfds_adapters import preprocess_celeba

    image = np.zeros((218, 178, 3), np.uint8)
    image[35:183, 15:163] = 200  # the 148x148 centre square
    image[109, 89] = 255
    out = np.asarray(preprocess_celeba(image))
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert out.min() >= 200  # nothing from outside the square
    batch = np.asarray(preprocess_celeba(np.stack([image, 255 - image])))
    assert batch.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(batch[0], out)


def test_celeba_attributes_as_labels_with_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        ds = kd.data.load("celeba", data_dir=str(tmp_path))
    assert ds.observation_shape == (64, 64, 3) and ds.num_examples == 6
    assert ds.labels.shape == (6, 40) and ds.labels.dtype == bool
    assert len(ds.label_names) == 40 and "Smiling" in ds.label_names


@pytest.mark.bad_input
def test_celeba_missing_data_message(tmp_path):
    with pytest.raises(ValueError) as info:
        kd.data.load("celeba", data_dir=str(tmp_path))
    message = str(info.value)
    assert "celeb_a" in message and "download=True" in message
    assert "img_align_celeba.zip" in message
    assert os.path.join(str(tmp_path), "downloads", "manual") in message


@pytest.mark.bad_input
def test_celeba_failed_download_message(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def offline(self, *args, **kwargs):
        raise ConnectionError("Failed to establish a new connection")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    with pytest.raises(ValueError, match=r"celeba: tensorflow-datasets could not download.*"
                                         r"ConnectionError.*img_align_celeba.zip"):
        kd.data.load("celeba", data_dir=str(tmp_path), download=True)


# === kerasdis datasets ===


def test_datasets_command_lists_every_dataset(prepared, monkeypatch, capsys):
    from kerasdis import cli

    monkeypatch.setenv("TFDS_DATA_DIR", prepared)
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in kd.data.names():
        assert name in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "procedural" in lines["dsprites"] and "built in" in lines["dsprites"]
    assert "manual download" in lines["chairs3d"] and "prepared" in lines["chairs3d"]
    assert "chair 1393, azimuth 31, elevation 2" in lines["chairs3d"]
    assert "not prepared" in lines["shapes3d"] and "tfds" in lines["shapes3d"]
    assert "licence" in lines["faces3d"]


@pytest.mark.bad_input
def test_tfds_missing_module_message(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def no_module(self, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'importlib_resources'",
                                  name="importlib_resources")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_module)
    with pytest.raises(ValueError, match=r"celeba: .*'importlib_resources' is not installed.*"
                                         r"pip install importlib-resources"):
        kd.data.load("celeba", data_dir=str(tmp_path), download=True)
