"""The benchmark datasets of Locatello et al. 2019 beyond dSprites: Cars3D, MPI3D, Scream-dSprites.

Offline, on tiny files with the real layouts, generated here:

- Cars3D: a `nips2015-analogy-data.tar.gz` with `data/cars/list.txt` and a few
  `car_XXX_mesh.mat` files whose `im` is uint8 `[S, S, 3, 24, 4]` (the published
  ones are 128x128), through kerasdis's TFDS builder (`download_and_prepare` with a
  manual directory), then `kd.data.load("cars3d", data_dir=...)`.
- MPI3D: an `mpi3d_toy.npz` with the key `images` (uint8 `[N, 64, 64, 3]`) on a
  reduced grid registered in `kerasdis.data.builders.mpi3d.GRIDS` for the test (the
  published files are 12.7 GB), stored (as published) or compressed.
- Scream-dSprites: textures written as PNG files.

Plus the factor-order parity with disentanglement_lib for every dataset both read.
"""

import io
import os
import tarfile
import zipfile

import numpy as np
import pytest

import kerasdis as kd
from kerasdis.data import catalog

# === Factor parity with disentanglement_lib ===

_MPI3D = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
          "first_dof", "second_dof")
_DSPRITES = (("shape", "scale", "orientation", "position_x", "position_y"), (3, 6, 40, 32, 32))

# disentanglement_lib at 86a644d (2020-08-26), disentanglement_lib/data/ground_truth/:
DLIB = {
    # dsprites.py: DSprites docstring l.43-48, latents_sizes of the file, full_factor_sizes
    # l.65 (colour dropped); Color/Noisy/Scream l.108-113, 141-146, 169-174.
    "dsprites": _DSPRITES,
    "color_dsprites": _DSPRITES,
    "noisy_dsprites": _DSPRITES,
    "scream_dsprites": _DSPRITES,
    # shapes3d.py l.42-47 and l.60.
    "shapes3d": (("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"),
                 (10, 10, 10, 8, 4, 15)),
    # norb.py l.47-50, l.58-60: sizes [5, 10, 9, 18, 6], latent indices [0, 2, 3, 4]
    # (the toy instance, size 10, is not a factor).
    "smallnorb": (("category", "elevation", "azimuth", "lighting"), (5, 9, 18, 6)),
    # cars3d.py l.43-46 and l.50.
    "cars3d": (("elevation", "azimuth", "object"), (4, 24, 183)),
    # mpi3d.py docstring l.45-54; sizes l.69 (toy), l.81 (realistic), l.93 (real).
    "mpi3d_toy": (_MPI3D, (4, 4, 2, 3, 3, 40, 40)),
    "mpi3d_realistic": (_MPI3D, (4, 4, 2, 3, 3, 40, 40)),
    "mpi3d_real": (_MPI3D, (6, 6, 2, 3, 3, 40, 40)),
}


def test_factor_order_and_sizes_match_disentanglement_lib():
    from kerasdis.data import tfds_adapters
    from kerasdis.data.builders import mpi3d

    assert set(DLIB) <= set(kd.data.names())
    for name, (names, sizes) in DLIB.items():
        info = catalog.TABLE[name]
        assert info.factor_names == names, name
        if name.startswith("mpi3d"):
            # dlib's sizes hold for the files dlib reads: its 4x4 grid is that of the early
            # 460,800-image toy/realistic files, its 6x6 grid that of the 1,036,800-image
            # files published for all three since; kerasdis takes the grid from the file.
            assert mpi3d.GRIDS[int(np.prod(sizes))] == sizes, name
            assert mpi3d.FACTOR_NAMES == names
            assert info.factor_sizes == mpi3d.GRIDS[1_036_800] == DLIB["mpi3d_real"][1]
            continue
        assert info.factor_sizes == sizes, name
        spec = tfds_adapters.SPECS.get("dsprites" if "dsprites" in name else name)
        assert spec.factor_names == names and spec.factor_sizes == sizes, name
    assert kd.data.load("scream_dsprites", image_path=_texture_file()).factor_sizes \
        == _DSPRITES[1]


# === Cars3D ===

CARS = ["car_001_mesh", "car_002_mesh", "car_003_mesh"]
SIDE = 32  # the published renders are 128x128


def car_render(obj, a, e):
    """A render whose halves encode (object, azimuth, elevation): uint8 [SIDE, SIDE, 3]."""
    image = np.zeros((SIDE, SIDE, 3), np.uint8)
    color = np.array([10 + 100 * obj, 10 + 10 * a, 20 + 50 * e], np.uint8)
    image[: SIDE // 2] = color
    image[SIDE // 2:] = 255 - color
    image[:, :4] = (obj * 7 + a) % 256  # left stripe: checks columns are the width
    return image


def car_mat(obj):
    import scipy.io

    im = np.zeros((SIDE, SIDE, 3, 24, 4), np.uint8)
    for a in range(24):
        for e in range(4):
            im[:, :, :, a, e] = car_render(obj, a, e)
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"im": im, "mask": np.ones((SIDE, SIDE, 24, 4), np.uint8)})
    return buffer.getvalue()


def add_file(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_cars(path, cars=CARS, listing=None, replace=None):
    """`replace`: {car name: bytes} written instead of that car's .mat."""
    listing = list(reversed(cars)) if listing is None else listing  # not sorted order
    with tarfile.open(path, "w:gz") as tar:
        add_file(tar, "data/shapes48.mat", b"not read")
        add_file(tar, "data/cars/list.txt", ("\n".join(listing) + "\n").encode())
        for car in cars:
            data = (replace or {}).get(car)
            add_file(tar, f"data/cars/{car}.mat", car_mat(listing.index(car))
                     if data is None else data)
    return path


def expected_car(obj, a, e):
    from PIL import Image

    image = Image.fromarray(car_render(obj, a, e)).resize((64, 64), Image.Resampling.LANCZOS)
    return np.asarray(image, np.float32) / 255.0


@pytest.fixture(scope="module")
def cars_dir(tmp_path_factory):
    import tensorflow_datasets as tfds

    from kerasdis.data.builders.cars3d import Cars3d

    root = tmp_path_factory.mktemp("cars")
    manual = root / "manual"
    manual.mkdir()
    write_cars(manual / "nips2015-analogy-data.tar.gz", cars=CARS[:2])
    data_dir = root / "tfds"
    Cars3d(data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    return str(data_dir)


def test_cars3d_builder_and_load(cars_dir):
    ds = kd.data.load("cars3d", data_dir=cars_dir)
    assert ds.name == "cars3d"
    assert ds.factor_names == ("elevation", "azimuth", "object")
    assert ds.factor_sizes == (4, 24, 2) and ds.num_examples == 192
    assert ds.observation_shape == (64, 64, 3) and ds.indexed_by_factors and ds.is_complete
    # dlib's flat index: elevation slowest, object fastest.
    assert ds.index_of([[1, 2, 1]])[0] == 1 * 24 * 2 + 2 * 2 + 1
    f = ds.sample_factors(24, seed=0)
    x = ds.images(f)
    assert x.shape == (24, 64, 64, 3) and x.dtype == np.float32
    for (e, a, o), image in zip(f, x):
        np.testing.assert_allclose(image, expected_car(o, a, e), atol=1.5 / 255)
    np.testing.assert_array_equal(ds.images_at(ds.index_of(f)), x)
    batch = next(iter(ds.as_dataset(batch_size=8, seed=0))).numpy()
    assert batch.shape == (8, 64, 64, 3) and 0 <= batch.min() and batch.max() <= 1


def test_cars3d_objects_follow_list_txt(cars_dir):
    import tensorflow_datasets as tfds

    from kerasdis.data.builders.cars3d import Cars3d

    builder = Cars3d(data_dir=cars_dir)
    assert builder.info.splits["train"].num_examples == 192
    listing = list(reversed(CARS[:2]))
    for ex in tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False).take(20)):
        assert ex["object_name"].decode() == listing[ex["label_object"]]


def test_cars3d_trains_one_step_and_is_scored(cars_dir):
    import keras

    ds = kd.data.load("cars3d", data_dir=cars_dir)
    model = kd.models.BetaVAE(latent_dim=4, beta=4.0, input_shape=ds.observation_shape)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    history = model.fit(ds.as_dataset(batch_size=8, seed=0), steps_per_epoch=1, epochs=1,
                        verbose=0)
    assert np.isfinite(history.history["loss"][0])
    scores = kd.metrics.evaluate(model, ds, metrics=("discrete_mig",), verbose=0,
                                 options={"discrete_mig": {"num_train": 100}})
    assert np.isfinite(scores["discrete_mig"]["discrete_mig"])


def test_cars3d_prepares_on_first_load_from_folder(tmp_path):
    manual = tmp_path / "tfds" / "downloads" / "manual"
    archive = write_cars(tmp_path / "a.tar.gz", cars=CARS[:1])
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    manual.parent.mkdir(parents=True)
    (tmp_path / "x" / "data").rename(manual)  # manual/cars/..., dlib's layout
    data_dir = str(tmp_path / "tfds")
    assert catalog.available("cars3d", data_dir) == "archive found, prepared on first load"
    ds = kd.data.load("cars3d", data_dir=data_dir)
    assert ds.factor_sizes == (4, 24, 1)
    assert catalog.available("cars3d", data_dir) == "prepared"


@pytest.mark.bad_input
def test_cars3d_missing_archive(tmp_path):
    with pytest.raises(ValueError) as info:
        kd.data.load("cars3d", data_dir=str(tmp_path))
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert "nips2015-analogy-data.tar.gz" in message
    assert "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz" in message
    assert os.path.join(str(tmp_path), "downloads", "manual") in message
    assert "Unknown dataset" not in message


@pytest.mark.bad_input
@pytest.mark.parametrize("problem, pattern", [
    ("not_tar", r"not a readable tar archive.*nips2015-analogy-data.tar.gz"),
    ("no_cars", r"holds no file named like data/cars/<model>.mat"),
    ("not_mat", r"car_002_mesh.mat in .* is not a readable MATLAB file"),
    ("no_im", r"car_002_mesh.mat in .* has no array 'im' \(it has \['images'\]\)"),
    ("wrong_shape", r"'im' in data/cars/car_002_mesh.mat .* is uint8 \[32, 32, 3, 12, 4\]; "
                    r"expected uint8 \[H, W, 3, 24, 4\]"),
])
def test_cars3d_bad_archives(tmp_path, problem, pattern):
    import scipy.io

    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    path = manual / "nips2015-analogy-data.tar.gz"
    if problem == "not_tar":
        path.write_bytes(b"<html>moved</html>" * 50)
    elif problem == "no_cars":
        with tarfile.open(path, "w:gz") as tar:
            add_file(tar, "data/shapes48.mat", b"x")
    else:
        buffer = io.BytesIO()
        if problem == "no_im":
            scipy.io.savemat(buffer, {"images": np.zeros((2, 2), np.uint8)})
        elif problem == "wrong_shape":
            scipy.io.savemat(buffer, {"im": np.zeros((SIDE, SIDE, 3, 12, 4), np.uint8)})
        data = b"MATLAB 5.0 garbage" * 20 if problem == "not_mat" else buffer.getvalue()
        write_cars(path, cars=CARS[:2], replace={"car_002_mesh": data})
    with pytest.raises(ValueError, match=pattern):
        kd.data.load("cars3d", data_dir=str(tmp_path))


# === MPI3D ===

SMALL_GRID = (2, 2, 2, 3, 3, 2, 2)  # 288 images instead of 1,036,800
SMALL = int(np.prod(SMALL_GRID))


def mpi3d_images(n=SMALL, shape=(64, 64, 3)):
    """uint8 images whose pixels encode their row: [n, *shape]."""
    rows = np.arange(n)
    images = np.empty((n,) + shape, np.uint8)
    images[...] = (rows % 251).reshape((n,) + (1,) * len(shape))
    images[:, 0, 0, 0] = rows // 256
    images[:, 0, 0, 1] = rows % 256
    return images


def write_npz(path, compressed=False, **arrays):
    arrays = arrays or {"images": mpi3d_images()}
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


@pytest.fixture
def small_grid(monkeypatch):
    from kerasdis.data.builders import mpi3d

    monkeypatch.setitem(mpi3d.GRIDS, SMALL, SMALL_GRID)
    return mpi3d


def _manual(tmp_path):
    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    return manual


@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "compressed"])
def test_mpi3d_load_memory_maps(tmp_path, small_grid, compressed):
    manual = _manual(tmp_path)
    npz = write_npz(manual / "mpi3d_toy.npz", compressed=compressed)
    data_dir = str(tmp_path)
    assert catalog.available("mpi3d_toy", data_dir) == "archive found, prepared on first load"
    ds = kd.data.load("mpi3d_toy", data_dir=data_dir)
    assert catalog.available("mpi3d_toy", data_dir) == "prepared"
    assert ds.name == "mpi3d_toy" and ds.factor_names == _MPI3D
    assert ds.factor_sizes == SMALL_GRID and ds.num_examples == SMALL
    assert ds.observation_shape == (64, 64, 3) and ds.indexed_by_factors and ds.is_complete
    # One copy, on disk: the stored member is mapped where it lies in the .npz; a
    # compressed one is extracted once to the prepared directory.
    images = ds._images
    assert isinstance(images, np.memmap) and not images.flags.writeable
    prepared = os.path.join(data_dir, "mpi3d_toy", "1.0.0")
    extracted = os.path.join(prepared, "images.npy")
    if compressed:
        assert os.path.samefile(images.filename, extracted)
    else:
        assert os.path.samefile(images.filename, npz) and not os.path.exists(extracted)
    source = mpi3d_images()
    f = ds.sample_factors(50, seed=0)
    flat = np.ravel_multi_index(tuple(f.T), SMALL_GRID)  # published order, last fastest
    np.testing.assert_array_equal(ds.index_of(f), flat)
    x = ds.images(f)
    assert x.dtype == np.float32 and x.shape == (50, 64, 64, 3)
    np.testing.assert_allclose(x, source[flat] / np.float32(255), atol=1e-7)
    np.testing.assert_array_equal(ds.images_at(flat), x)
    batch = next(iter(ds.as_dataset(batch_size=16, seed=0))).numpy()
    rows = batch[:, 0, 0, 0] * 255 * 256 + batch[:, 0, 0, 1] * 255
    np.testing.assert_allclose(batch, source[np.round(rows).astype(int)] / 255.0, atol=1e-6)
    # Prepared: loads again without re-reading the zip (and, if extracted, without it).
    if compressed:
        os.remove(npz)
    again = kd.data.load("mpi3d_toy", data_dir=data_dir)
    np.testing.assert_array_equal(again.images_at(flat), x)


def test_mpi3d_trains_one_step_and_is_scored(tmp_path, small_grid):
    import keras

    write_npz(_manual(tmp_path) / "mpi3d_real.npz")
    ds = kd.data.load("mpi3d_real", data_dir=str(tmp_path))
    model = kd.models.BetaVAE(latent_dim=4, beta=4.0, input_shape=ds.observation_shape)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    history = model.fit(ds.as_dataset(batch_size=8, seed=0), steps_per_epoch=1, epochs=1,
                        verbose=0)
    assert np.isfinite(history.history["loss"][0])
    scores = kd.metrics.evaluate(model, ds, metrics=("discrete_mig",), verbose=0,
                                 options={"discrete_mig": {"num_train": 100}})
    assert np.isfinite(scores["discrete_mig"]["discrete_mig"])


def test_mpi3d_grid_follows_the_file():
    from kerasdis.data.builders import mpi3d

    assert mpi3d.GRIDS == {1_036_800: (6, 6, 2, 3, 3, 40, 40), 460_800: (4, 4, 2, 3, 3, 40, 40)}
    for name in mpi3d.NAMES:
        info = catalog.TABLE[name]
        assert info.num_examples == 1_036_800 and info.image_shape == (64, 64, 3)
        assert info.archive.files[0] == f"{name}.npz"
        assert info.archive.url.endswith(f"/{name}.npz")


@pytest.mark.bad_input
def test_mpi3d_missing_file(tmp_path):
    with pytest.raises(ValueError) as info:
        kd.data.load("mpi3d_realistic", data_dir=str(tmp_path))
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert "mpi3d_realistic.npz" in message and "huggingface.co" in message
    assert os.path.join(str(tmp_path), "downloads", "manual") in message
    assert "12.7 GB" in message


@pytest.mark.bad_input
@pytest.mark.parametrize("problem, pattern", [
    ("not_zip", r"mpi3d_toy.npz is not a readable .npz \(zip\) file"),
    ("wrong_key", r"has no array 'images' \(it has \['imgs'\]\)"),
    ("wrong_shape", r"holds 'images' as uint8 \[288, 32, 32, 3\]"),
    ("wrong_count", r"holds 10 images in 'images', not a known MPI3D grid.*1,036,800"),
    ("corrupt", r"is corrupt or truncated"),
])
def test_mpi3d_bad_files(tmp_path, small_grid, problem, pattern):
    path = _manual(tmp_path) / "mpi3d_toy.npz"
    if problem == "not_zip":
        path.write_bytes(b"<html>quota exceeded</html>" * 40)
    elif problem == "wrong_key":
        write_npz(path, imgs=mpi3d_images())
    elif problem == "wrong_shape":
        write_npz(path, images=mpi3d_images(shape=(32, 32, 3)))
    elif problem == "wrong_count":
        write_npz(path, images=mpi3d_images(10))
    else:
        write_npz(path, compressed=True, images=np.random.default_rng(0).integers(
            0, 256, (SMALL, 64, 64, 3), dtype=np.uint8))
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("images.npy")
        data = bytearray(path.read_bytes())
        middle = info.header_offset + 100 + info.compress_size // 2
        data[middle: middle + 64] = bytes(64)
        path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=pattern) as err:
        kd.data.load("mpi3d_toy", data_dir=str(tmp_path))
    assert "mpi3d_toy.npz" in str(err.value)
    leftovers = [f for _, _, files in os.walk(tmp_path / "mpi3d_toy") for f in files]
    assert leftovers == []  # nothing half-written
    assert catalog.available("mpi3d_toy", str(tmp_path)) != "prepared"


# === Scream-dSprites ===

_TEXTURES = {}


def _texture_file(kind="random", size=(120, 100)):
    """A PNG painting (width x height): seeded random pixels, or "flat" grey."""
    from PIL import Image

    key = (kind, size)
    if key not in _TEXTURES:
        import tempfile

        width, height = size
        image = np.zeros((height, width, 3), np.uint8)
        if kind == "random":  # a texture whose every 64x64 patch is unique
            image[...] = np.random.default_rng(0).integers(0, 256, image.shape, np.uint8)
        else:
            image[...] = 60
        path = os.path.join(tempfile.mkdtemp(), f"scream_{kind}.png")
        Image.fromarray(image).save(path)
        _TEXTURES[key] = path
    return _TEXTURES[key]


def test_scream_dsprites_as_dlib():
    ds = kd.data.load("scream_dsprites", image_path=_texture_file(), seed=0)
    assert isinstance(ds, kd.data.ScreamDSprites)
    assert ds.name == "scream_dsprites" and ds.observation_shape == (64, 64, 3)
    assert ds.num_examples == 737_280
    f = ds.sample_factors(6, seed=1)
    x = ds.images(f, seed=3)
    assert x.shape == (6, 64, 64, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(x, ds.images(f, seed=3))  # deterministic per seed
    assert not np.array_equal(x, ds.images(f, seed=4))
    again = kd.data.load("scream_dsprites", image_path=_texture_file(), seed=0)
    np.testing.assert_array_equal(ds.images(f), again.images(f))
    mask = kd.data.load("dsprites").images(f)[..., 0] > 0.5
    painting = ds.scream  # 100x120: fits in 350x274, kept
    assert painting.shape == (100, 120, 3)
    for image, m in zip(x, mask):
        background = np.where(m[..., None], 1.0 - image, image)  # undo the inversion
        # background = (patch + colour) / 2 for one 64x64 patch and one colour per channel
        found = False
        for r in range(100 - 64):
            for c in range(120 - 64):
                colour = 2 * background - painting[r:r + 64, c:c + 64]
                if np.ptp(colour.reshape(-1, 3), axis=0).max() < 1e-5:
                    found = True
                    assert (colour[0, 0] >= -1e-6).all() and (colour[0, 0] <= 1 + 1e-6).all()
                    break
            if found:
                break
        assert found


def test_scream_dsprites_sprite_is_inverted_in_the_pipeline():
    ds = kd.data.load("scream_dsprites", image_path=_texture_file("flat"))
    for x in (ds.images(ds.sample_factors(4, seed=0), seed=0),
              next(iter(ds.as_dataset(batch_size=4, seed=0))).numpy()):
        assert x.shape == (4, 64, 64, 3) and 0 <= x.min() and x.max() <= 1
        for image in x:
            for channel in np.moveaxis(image, -1, 0):
                values = np.unique(np.round(channel, 5))
                assert len(values) == 2 and abs(values.sum() - 1) < 1e-4  # b and 1 - b
                background = values[np.argmax([(np.round(channel, 5) == v).sum()
                                               for v in values])]
                assert 30 / 255 - 1e-5 <= background <= (60 / 255 + 1) / 2 + 1e-5


def test_scream_dsprites_default_location(tmp_path):
    import shutil

    manual = _manual(tmp_path)
    assert catalog.available("scream_dsprites", str(tmp_path)) == "needs image_path"
    shutil.copy(_texture_file(), manual / "scream.jpg")  # PIL reads by content
    assert catalog.available("scream_dsprites", str(tmp_path)) == "built in (image found)"
    ds = kd.data.load("scream_dsprites", data_dir=str(tmp_path))
    assert ds.images([[0, 0, 0, 0, 0]]).shape == (1, 64, 64, 3)


@pytest.mark.bad_input
def test_scream_dsprites_errors(tmp_path):
    from PIL import Image

    manual = os.path.join(str(tmp_path), "downloads", "manual")
    with pytest.raises(FileNotFoundError, match=r"wikipedia/commons/f/f4/The_Scream.jpg.*"
                                                r"image_path=") as info:
        kd.data.load("scream_dsprites", data_dir=str(tmp_path))
    assert f"`scream.jpg`, `The_Scream.jpg` is in {manual}" in str(info.value)
    assert isinstance(info.value, ValueError)
    missing = str(tmp_path / "nope.jpg")
    with pytest.raises(FileNotFoundError, match=rf"No file at {missing}.*image_path"):
        kd.data.load("scream_dsprites", image_path=missing)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((64, 200, 3), np.uint8)).save(small)
    with pytest.raises(ValueError, match=r"`image_path`=.*small.png' is 200x64.*at least 65x65"):
        kd.data.load("scream_dsprites", image_path=str(small))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"`image_path`=.*broken.jpg' is not a readable image"):
        kd.data.load("scream_dsprites", image_path=str(broken))
    with pytest.raises(ValueError, match=r"`image_path` only applies to 'scream_dsprites'"):
        kd.data.load("dsprites", image_path=str(small))


def test_datasets_command_lists_the_benchmark(tmp_path, monkeypatch, capsys):
    from kerasdis import cli

    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "manual download" in lines["cars3d"] and "not prepared" in lines["cars3d"]
    assert "elevation 4, azimuth 24, object 183" in lines["cars3d"]
    for name in ("mpi3d_toy", "mpi3d_realistic", "mpi3d_real"):
        assert "1,036,800" in lines[name] and "64x64x3" in lines[name]
        assert ("object_color 6, object_shape 6, object_size 2, camera_height 3, "
                "background_color 3, first_dof 40, second_dof 40") in lines[name]
    assert "procedural" in lines["scream_dsprites"] and "needs image_path" in lines["scream_dsprites"]
    assert "cars3d: Download `nips2015-analogy-data.tar.gz`" in out
    assert "mpi3d_real: Download `mpi3d_real.npz`" in out
