"""Tests of `kd.data`: procedural dSprites and variants, tfds adapters (mocked), arrays."""

import numpy as np
import pytest

import kerasdis as kd

DSPRITES_NAMES = ("shape", "scale", "orientation", "position_x", "position_y")


@pytest.fixture(scope="module")
def dsprites():
    return kd.data.load("dsprites")


def _centroid(image):
    rows, cols = np.nonzero(image[..., 0])
    return rows.mean(), cols.mean()


# === Registry ===


@pytest.mark.bad_input
def test_names_and_load_errors():
    assert set(kd.data.names()) == {
        "dsprites", "color_dsprites", "noisy_dsprites", "scream_dsprites", "shapes3d",
        "smallnorb", "celeba", "chairs3d", "cars3d", "mpi3d_toy", "mpi3d_realistic",
        "mpi3d_real", "faces3d"
    }
    with pytest.raises(ValueError, match=r"Unknown dataset name 'mnist'.*dsprites.*celeba"):
        kd.data.load("mnist")
    with pytest.raises(ValueError, match=r"source 'hdf5'.*procedural.*tfds"):
        kd.data.load("dsprites", source="hdf5")
    with pytest.raises(ValueError, match=r"source 'procedural'.*\['tfds'\]"):
        kd.data.load("shapes3d", source="procedural")
    with pytest.raises(ValueError, match=r"data_dir.*only apply to source='tfds'"):
        kd.data.load("dsprites", data_dir="/tmp")


# === Procedural dSprites ===


def test_dsprites_factor_grid(dsprites):
    assert dsprites.name == "dsprites"
    assert dsprites.factor_names == DSPRITES_NAMES
    assert dsprites.factor_sizes == (3, 6, 40, 32, 32)
    assert dsprites.num_examples == 737_280
    assert dsprites.observation_shape == (64, 64, 1)
    assert isinstance(dsprites, kd.data.DSprites)
    assert isinstance(dsprites, kd.data.GroundTruthDataset)


def test_dsprites_images_are_binary_float32(dsprites):
    x = dsprites.images(dsprites.sample_factors(50, seed=0))
    assert x.shape == (50, 64, 64, 1) and x.dtype == np.float32
    assert set(np.unique(x)) <= {0.0, 1.0}
    assert (x.sum(axis=(1, 2, 3)) > 0).all()
    one = dsprites.images([2, 5, 0, 16, 16])  # a single row of factors
    assert one.shape == (1, 64, 64, 1)


def test_flat_index_order_position_y_fastest(dsprites):
    base = dsprites.index_of([[1, 3, 7, 10, 10]])[0]
    x = dsprites.images_at([base, base + 1, base + 32])
    mass = x.sum(axis=(1, 2, 3))
    assert mass[0] == mass[1] == mass[2]  # translation only
    (r0, c0), (r1, c1), (r2, c2) = (_centroid(im) for im in x)
    assert 1 <= r1 - r0 <= 2 and c1 == c0  # +1 in position_y: down a pixel or two
    assert 1 <= c2 - c0 <= 2 and r2 == r0  # +1 in position_x: right
    np.testing.assert_array_equal(dsprites.factors_at([base + 1])[0], [1, 3, 7, 10, 11])


def test_index_round_trip(dsprites):
    f = dsprites.sample_factors(1000, seed=1)
    idx = dsprites.index_of(f)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(dsprites.factors_at(idx), f)
    assert dsprites.index_of([[0, 0, 0, 0, 1]])[0] == 1
    assert dsprites.index_of([[0, 0, 0, 1, 0]])[0] == 32
    assert dsprites.index_of([[2, 5, 39, 31, 31]])[0] == 737_279
    np.testing.assert_array_equal(dsprites.images_at(idx[:20]), dsprites.images(f[:20]))


def test_dsprites_deterministic():
    f = np.array([[0, 0, 0, 0, 0], [2, 5, 13, 31, 7], [1, 2, 20, 5, 30]])
    np.testing.assert_array_equal(kd.data.load("dsprites").images(f), kd.data.DSprites().images(f))


def test_sample_factors(dsprites):
    f = dsprites.sample_factors(5000, seed=0)
    assert f.shape == (5000, 5) and f.dtype == np.int64
    assert (f >= 0).all() and (f < np.array(dsprites.factor_sizes)).all()
    assert (f.max(axis=0) == np.array(dsprites.factor_sizes) - 1).all()
    np.testing.assert_array_equal(f, dsprites.sample_factors(5000, seed=0))
    assert not np.array_equal(f, dsprites.sample_factors(5000, seed=1))
    assert dsprites.sample_factors(0).shape == (0, 5)


def test_shapes_differ_and_heart_points_down(dsprites):
    f = np.array([[s, 5, 0, 16, 16] for s in range(3)])
    square, ellipse, heart = dsprites.images(f)[..., 0]
    assert not np.array_equal(square, ellipse) and not np.array_equal(ellipse, heart)
    assert square.sum() > heart.sum() > ellipse.sum()
    assert not np.array_equal(heart, heart[::-1])  # not symmetric under a vertical flip
    rows = np.nonzero(heart.any(axis=1))[0]
    cols = np.nonzero(heart.any(axis=0))[0]
    box = heart[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    np.testing.assert_array_equal(box, box[:, ::-1])  # but left-right symmetric
    top, bottom = heart[rows[1]].sum(), heart[rows[-1]].sum()
    assert top > bottom  # lobes up, tip down
    # Orientation 0 and 2*pi are both in the grid (as published): same image.
    np.testing.assert_array_equal(dsprites.images(f), dsprites.images(f + [0, 0, 39, 0, 0]))
    # Rotating changes the heart; orientation is counter-clockwise on screen.
    quarter = dsprites.images([[2, 5, 10, 16, 16]])[0, ..., 0]  # about 92 degrees
    cols = np.nonzero(quarter.any(axis=0))[0]
    assert quarter[:, cols[1]].sum() > quarter[:, cols[-1]].sum()  # lobes left


def test_sprites_stay_inside_the_canvas(dsprites):
    grid = np.stack(np.meshgrid(range(3), range(6), range(40), indexing="ij"), -1).reshape(-1, 3)
    centre = dsprites.images(np.c_[grid, np.full((720, 2), 16)]).sum(axis=(1, 2, 3))
    for x, y in [(0, 0), (0, 31), (31, 0), (31, 31)]:
        corner = dsprites.images(np.c_[grid, np.tile([x, y], (720, 1))]).sum(axis=(1, 2, 3))
        np.testing.assert_array_equal(corner, centre)


# === Colour and noise variants ===


def test_color_dsprites(dsprites):
    ds = kd.data.load("color_dsprites", seed=3)
    assert isinstance(ds, kd.data.ColorDSprites)
    assert ds.factor_sizes == dsprites.factor_sizes and ds.observation_shape == (64, 64, 3)
    f = dsprites.sample_factors(20, seed=0)
    x = ds.images(f, seed=7)
    assert x.shape == (20, 64, 64, 3) and x.dtype == np.float32
    mask = dsprites.images(f)[..., 0] > 0
    assert (x[~mask] == 0).all()
    for image, m in zip(x, mask):
        colors = image[m]
        assert (colors == colors[0]).all() and (colors[0] >= 0.5).all() and (colors[0] <= 1).all()
    np.testing.assert_array_equal(x, ds.images(f, seed=7))
    assert not np.array_equal(x, ds.images(f, seed=8))
    # The dataset's own generator: same seed -> same sequence, different -> different.
    def first_call(seed):
        return kd.data.load("color_dsprites", seed=seed).images(f)

    np.testing.assert_array_equal(first_call(3), first_call(3))
    assert not np.array_equal(first_call(3), first_call(4))


def test_noisy_dsprites(dsprites):
    ds = kd.data.load("noisy_dsprites")
    assert isinstance(ds, kd.data.NoisyDSprites) and ds.observation_shape == (64, 64, 3)
    f = dsprites.sample_factors(10, seed=0)
    x = ds.images(f, seed=1)
    assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    mask = dsprites.images(f)[..., 0] > 0
    assert (x[mask] == 1).all()
    assert 0.4 < x[~mask].mean() < 0.6 and x[~mask].std() > 0.2
    np.testing.assert_array_equal(x, ds.images(f, seed=1))
    assert not np.array_equal(x, ds.images(f, seed=2))
    np.testing.assert_array_equal(
        kd.data.load("noisy_dsprites", seed=5).images_at([0, 9]),
        kd.data.load("noisy_dsprites", seed=5).images_at([0, 9]),
    )


# === tf.data ===


def test_as_dataset_batches(dsprites):
    import tensorflow as tf

    tf_ds = dsprites.as_dataset(batch_size=64, shuffle=True, seed=0, repeat=True)
    assert tf_ds.element_spec.shape.as_list() == [64, 64, 64, 1]
    assert tf_ds.element_spec.dtype == tf.float32
    first = [b.numpy() for b in tf_ds.take(3)]
    again = [b.numpy() for b in dsprites.as_dataset(batch_size=64, seed=0).take(3)]
    other = next(iter(dsprites.as_dataset(batch_size=64, seed=1))).numpy()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other)
    assert set(np.unique(first[0])) <= {0.0, 1.0}
    ordered = next(iter(dsprites.as_dataset(batch_size=8, shuffle=False))).numpy()
    np.testing.assert_array_equal(ordered, dsprites.images_at(np.arange(8)))
    color = next(iter(kd.data.load("color_dsprites").as_dataset(batch_size=4))).numpy()
    assert color.shape == (4, 64, 64, 3) and color.dtype == np.float32


def test_tensorflow_renderer_matches_numpy(dsprites):
    import tensorflow as tf

    indices = np.random.default_rng(0).integers(0, dsprites.num_examples, 256)
    rendered = dsprites._tf_images_at(tf.constant(indices, tf.int64)).numpy()
    np.testing.assert_array_equal(rendered, dsprites.images_at(indices))


def test_as_dataset_epochs_cover_every_example_once():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1)
    ds = kd.data.from_arrays(images)
    tf_ds = ds.as_dataset(batch_size=4, seed=2, repeat=False)
    passes = [np.concatenate([b.numpy() for b in tf_ds]) for _ in range(2)]
    for values in passes:
        assert [len(values)] == [10]
        np.testing.assert_array_equal(np.sort(np.round(values.ravel() * 255)), np.arange(10))
    assert not np.array_equal(passes[0], passes[1])  # each pass reshuffles
    assert len(list(ds.as_dataset(batch_size=4, repeat=False, drop_remainder=True))) == 2
    stream = next(iter(ds.as_dataset(batch_size=30, seed=0).take(1))).numpy()
    counts = np.bincount(np.round(stream.ravel() * 255).astype(int), minlength=10)
    np.testing.assert_array_equal(counts, 3)  # three whole epochs, back to back


@pytest.mark.bad_input
def test_as_dataset_validates_batch_size(dsprites):
    for bad in (0, -3, 2.5, None):
        with pytest.raises(ValueError, match="batch_size"):
            dsprites.as_dataset(batch_size=bad)


# === tensorflow-datasets adapters (mocked, offline) ===


TFDS_CASES = {
    "dsprites": ((3, 6, 40, 32, 32), (64, 64, 1)),
    "shapes3d": ((10, 10, 10, 8, 4, 15), (64, 64, 3)),
    "smallnorb": ((5, 9, 18, 6), (64, 64, 1)),
    "celeba": ((), (64, 64, 3)),
}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.bad_input) if name == "celeba" else name  # no factors
    for name in sorted(TFDS_CASES)])
def test_tfds_adapters_with_mock_data(name, tmp_path):
    import tensorflow_datasets as tfds

    sizes, shape = TFDS_CASES[name]
    with tfds.testing.mock_data(num_examples=12):
        ds = kd.data.load(name, source="tfds", data_dir=str(tmp_path))
    assert ds.name == name and ds.num_examples == 12
    assert ds.factor_sizes == sizes and ds.observation_shape == shape
    x = ds.images_at(np.arange(12))
    assert x.shape == (12,) + shape and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    batch = next(iter(ds.as_dataset(batch_size=5, seed=0))).numpy()
    assert batch.shape == (5,) + shape and batch.dtype == np.float32
    if name == "dsprites":
        assert set(np.unique(x)) <= {0.0, 1.0}
    if sizes:
        f = ds.example_factors(np.arange(12))
        assert (f >= 0).all() and (f < np.array(sizes)).all()
        assert (np.diff(ds.index_of(f)) >= 0).all()  # stored in flat factor order
        np.testing.assert_array_equal(ds.images(f), x)
        assert not ds.is_complete
        assert ds.sample_factors(3, seed=0).shape == (3, len(sizes))
    else:
        with pytest.raises(ValueError, match="celeba has no ground-truth factors"):
            ds.sample_factors(3)
        with pytest.raises(ValueError, match="celeba has no ground-truth factors"):
            ds.images(np.zeros((1, 0), dtype=np.int64))


def test_tfds_color_dsprites_and_max_examples(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        ds = kd.data.load("color_dsprites", source="tfds", data_dir=str(tmp_path),
                          max_examples=7)
    assert isinstance(ds, kd.data.ColorDSprites) and ds.num_examples == 7
    assert ds.images_at([0, 6], seed=0).shape == (2, 64, 64, 3)


@pytest.mark.bad_input
def test_tfds_reader_places_a_complete_grid_by_flat_index():
    import tensorflow as tf

    from kerasdis.data.tfds_adapters import _read_all

    sizes, shape = (2, 3, 4), (4, 4, 1)
    flat = np.random.default_rng(0).permutation(24)  # TFDS stores records shuffled
    labels = np.stack(np.unravel_index(flat, sizes), axis=1).astype(np.int64)
    images = (np.arange(16)[None, :] < flat[:, None]).astype(np.uint8).reshape((24,) + shape)
    source = tf.data.Dataset.from_tensor_slices((images, labels))
    packed, factors = _read_all("toy", source, shape, True, sizes, batch_size=5)
    ds = kd.data.ArrayDataset(packed, factors, factor_sizes=sizes, packed_shape=shape)
    assert ds.indexed_by_factors and packed.shape == (24, 2)
    np.testing.assert_array_equal(ds.images_at(np.arange(24)).reshape(24, 16).sum(axis=1),
                                  np.minimum(np.arange(24), 16))
    twice = tf.data.Dataset.from_tensor_slices((images, np.zeros_like(labels)))
    with pytest.raises(ValueError, match="two images with the same factors"):
        _read_all("toy", twice, shape, True, sizes, batch_size=5)


@pytest.mark.bad_input
def test_tfds_missing_data_offline(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        kd.data.load("shapes3d", source="tfds", data_dir=str(tmp_path), download=False)
    message = str(info.value)
    assert "shapes3d" in message and str(tmp_path) in message
    assert "download_and_prepare()" in message and "download=True" in message


# === from_arrays ===


@pytest.mark.bad_input
def test_from_arrays_uint8_and_float():
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    ds = kd.data.from_arrays(raw)
    assert isinstance(ds, kd.data.ArrayDataset)
    assert ds.num_examples == 6 and ds.observation_shape == (8, 8, 3) and not ds.has_factors
    np.testing.assert_allclose(ds.images_at([1, 4]), raw[[1, 4]] / 255.0, rtol=1e-6)
    gray = rng.random((5, 8, 8)).astype(np.float64)
    ds = kd.data.from_arrays(gray)  # rank 3: a channel axis is added
    assert ds.observation_shape == (8, 8, 1)
    np.testing.assert_allclose(ds.images_at([2])[0, ..., 0], gray[2], rtol=1e-6)
    with pytest.raises(ValueError, match="arrays has no ground-truth factors"):
        ds.sample_factors(2)


@pytest.mark.bad_input
def test_from_arrays_factor_lookup():
    factors = np.array([[0, 0], [0, 1], [1, 0], [0, 1], [2, 1]])
    images = np.arange(5, dtype=np.float32).reshape(5, 1, 1, 1) / 4
    ds = kd.data.from_arrays(images, factors, factor_names=["a", "b"])
    assert ds.factor_names == ("a", "b") and ds.factor_sizes == (3, 2)
    # Two images have factors (0, 1): the first stored one, deterministically.
    np.testing.assert_array_equal(ds.images([[0, 1], [2, 1], [0, 1]]).ravel(), [0.25, 1.0, 0.25])
    picks = {float(ds.images([[0, 1]], seed=s)[0, 0, 0, 0]) for s in range(20)}
    assert picks == {0.25, 0.75}
    with pytest.raises(ValueError, match=r"no image with factors \(a=1, b=1\)"):
        ds.images([[0, 0], [1, 1]])
    f = ds.sample_factors(100, seed=0)
    assert (f < [3, 2]).all() and f.shape == (100, 2)
    grid = kd.data.from_arrays(np.zeros((6, 2, 2)), [[a, b] for a in range(2) for b in range(3)])
    assert grid.indexed_by_factors and grid.is_complete
    assert grid.factor_names == ("factor_0", "factor_1")


@pytest.mark.bad_input
def test_from_arrays_validation():
    images = np.zeros((4, 8, 8, 1), dtype=np.float32)
    with pytest.raises(ValueError, match=r"images.*\[N, H, W, C\]"):
        kd.data.from_arrays(np.zeros((4, 8)))
    with pytest.raises(ValueError, match=r"images.*\[0, 1\]"):
        kd.data.from_arrays(images + 2)
    with pytest.raises(ValueError, match=r"images.*uint8"):
        kd.data.from_arrays(images.astype(np.int32))
    with pytest.raises(ValueError, match="factors.*integers"):
        kd.data.from_arrays(images, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="factors.*3 rows.*4 images"):
        kd.data.from_arrays(images, np.zeros((3, 2), dtype=int))
    with pytest.raises(ValueError, match="factor_names"):
        kd.data.from_arrays(images, np.zeros((4, 2), dtype=int), factor_names=["a"])
    with pytest.raises(ValueError, match="factors.*non-negative"):
        kd.data.from_arrays(images, -np.ones((4, 2), dtype=int))


# === Bad input to the shared interface ===


@pytest.mark.bad_input
def test_bad_factors(dsprites):
    message = r"factor 'scale' \(column 1\) must be in \[0, 5\], got 7"
    with pytest.raises(ValueError, match=message):
        dsprites.images([[0, 7, 0, 0, 0]])
    message = r"factor 'position_y' \(column 4\) must be in \[0, 31\], got -1"
    with pytest.raises(ValueError, match=message):
        dsprites.index_of([[0, 0, 0, 0, -1]])
    with pytest.raises(ValueError, match=r"factors.*shape \[n, 5\]"):
        dsprites.images(np.zeros((3, 4), dtype=int))
    with pytest.raises(ValueError, match="factors.*integers"):
        dsprites.images(np.zeros((3, 5)))


@pytest.mark.bad_input
def test_bad_n_indices_and_seed(dsprites):
    with pytest.raises(ValueError, match="`n` must be a non-negative integer"):
        dsprites.sample_factors(-1)
    with pytest.raises(ValueError, match="`n`"):
        dsprites.sample_factors(2.0)
    with pytest.raises(ValueError, match=r"indices.*\[0, 737279\], got 737280"):
        dsprites.images_at([0, 737_280])
    with pytest.raises(ValueError, match=r"indices.*got -1"):
        dsprites.factors_at([-1])
    with pytest.raises(ValueError, match="indices.*integers"):
        dsprites.images_at([0.5])
    with pytest.raises(ValueError, match="seed"):
        dsprites.sample_factors(2, seed="a")
