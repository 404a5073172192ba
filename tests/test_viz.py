import glob
import io
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import kerasdis as kd
from kerasdis import viz

LATENT_DIM = 4
SHAPE = (16, 16, 1)
DEAD = 2  # the latent the "dead" model ignores


def tiny_images(n, seed=0):
    return np.random.default_rng(seed).random((n,) + SHAPE).astype("float32")


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return kd.models.VAE(latent_dim=LATENT_DIM, input_shape=SHAPE, architecture="mlp", seed=0)


@pytest.fixture(scope="module")
def dead_model():
    """A model whose decoder ignores latent DEAD and whose encoder gives it zero KL."""
    keras.utils.set_random_seed(1)
    m = kd.models.VAE(latent_dim=LATENT_DIM, input_shape=SHAPE, architecture="mlp", seed=0)
    fc1 = m.decoder.get_layer("fc1")
    kernel, bias = fc1.get_weights()
    kernel[DEAD] = 0.0
    fc1.set_weights([kernel, bias])
    for name in ("mean", "log_var"):  # mean 0, log_var 0: q(z_DEAD|x) = N(0, 1)
        layer = m.encoder.get_layer(name)
        kernel, bias = layer.get_weights()
        kernel[:, DEAD] = 0.0
        bias[DEAD] = 0.0
        layer.set_weights([kernel, bias])
    return m


@pytest.fixture(scope="module")
def x():
    return tiny_images(16)


@pytest.fixture(scope="module")
def factor_ds():
    rng = np.random.default_rng(0)
    factors = np.stack(np.meshgrid(np.arange(3), np.arange(4), indexing="ij"), -1).reshape(-1, 2)
    images = rng.random((len(factors),) + SHAPE).astype("float32")
    return kd.data.from_arrays(images, factors, factor_names=("a", "b"))


def tiles(image, info):
    boxes = info["boxes"]
    return np.array([[image[t:b, l:r] for t, l, b, r in row] for row in boxes])


# --------------------------------------------------------------- traversals
def test_traversal_grid_shape_and_dtype(model, x):
    image, info = viz.traversal_grid(model, x, steps=5, return_info=True)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3
    assert info["values"].shape == (LATENT_DIM, 5)
    np.testing.assert_allclose(info["values"][:, [0, -1]], [[-2, 2]] * LATENT_DIM)
    grid = tiles(image, info)
    assert grid.shape == (LATENT_DIM, 5) + SHAPE[:2] + (3,)
    # Gray images are repeated to RGB; the tiles are the decoded images.
    assert (grid[..., 0] == grid[..., 2]).all()
    assert grid.min() >= 0 and grid.max() > 0
    # KLs label the rows, most informative first.
    assert sorted(info["dims"]) == list(range(LATENT_DIM))
    assert np.all(np.diff(info["kl"]) <= 0)


def test_ignored_latent_gives_constant_row_sorted_last(dead_model, x):
    image, info = viz.traversal_grid(dead_model, x, steps=7, return_info=True)
    assert info["dims"][-1] == DEAD
    assert info["kl"][-1] == pytest.approx(0.0, abs=1e-6)
    assert (info["kl"][:-1] > 0).all()
    row = tiles(image, info)[-1]
    for tile in row[1:]:
        np.testing.assert_array_equal(tile, row[0])
    # The other rows do change.
    assert not (tiles(image, info)[0] == tiles(image, info)[0][0]).all()

    _, natural = viz.traversal_grid(dead_model, x, steps=3, sort_by=None, return_info=True)
    assert natural["dims"] == list(range(LATENT_DIM))


def test_conv_model_dead_latent():
    keras.utils.set_random_seed(2)
    m = kd.models.VAE(latent_dim=3, seed=0)  # the default conv network, 64x64x1
    fc1 = m.decoder.get_layer("fc1")
    kernel, bias = fc1.get_weights()
    assert kernel.shape == (3, 256)
    kernel[0] = 0.0
    fc1.set_weights([kernel, bias])
    x64 = np.random.default_rng(0).random((4, 64, 64, 1)).astype("float32")
    image, info = viz.traversal_grid(m, x64, steps=4, sort_by=None, return_info=True)
    grid = tiles(image, info)
    assert grid.shape == (3, 4, 64, 64, 3) and image.dtype == np.uint8
    assert (grid[0] == grid[0, 0]).all()


def test_traversal_grid_options(model, x, factor_ds, tmp_path):
    path = tmp_path / "sub" / "grid.png"
    image, info = viz.traversal_grid(model, x, dims=[3, 1], steps=3, limits="posterior",
                                     path=path, return_info=True)
    np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), image)
    assert sorted(info["dims"]) == [1, 3]
    means = np.asarray(model.encode(x)[0])
    np.testing.assert_allclose(info["values"][:, 0], means.min(0)[info["dims"]], rtol=1e-5)
    np.testing.assert_allclose(info["values"][:, -1], means.max(0)[info["dims"]], rtol=1e-5)
    assert not [p for p in os.listdir(path.parent) if p.startswith(".tmp")]

    # Without images: prior seed, natural order, no KL.
    prior, info = viz.traversal_grid(model, steps=3, return_info=True)
    assert info["dims"] == list(range(LATENT_DIM)) and info["kl"] is None
    np.testing.assert_array_equal(prior, viz.traversal_grid(model, steps=3))
    # From a dataset sample.
    _, info = viz.traversal_grid(model, dataset=factor_ds, steps=3, num_images=8, return_info=True)
    assert len(info["kl"]) == LATENT_DIM
    # uint8 images are accepted.
    viz.traversal_grid(model, (x * 255).astype(np.uint8), steps=2)


def test_traversal_gif_frames(model, dead_model, x, tmp_path):
    path = tmp_path / "t.gif"
    frames = viz.traversal_gif(model, x, steps=5, path=path)
    assert frames == 2 * 5 - 2
    with Image.open(path) as gif:
        assert gif.n_frames == frames
        assert gif.info.get("loop") == 0
    # Every frame is kept even when the images do not change (the slider moves).
    assert viz.traversal_gif(dead_model, x, dims=[DEAD], steps=2, path=tmp_path / "s.gif") == 2
    with Image.open(tmp_path / "s.gif") as gif:
        assert gif.n_frames == 2


def test_traversal_gif_old_argument_order_still_works_with_a_warning(model, x, tmp_path):
    """The old `traversal_gif(model, path, x, ...)` writes the same GIF, with a warning."""
    new = viz.traversal_gif(model, x, [3, 1], 3, path=tmp_path / "new.gif")
    with pytest.warns(DeprecationWarning, match="path="):
        old = viz.traversal_gif(model, tmp_path / "old.gif", x, [3, 1], 3)
    with pytest.warns(DeprecationWarning):
        assert viz.traversal_gif(model, str(tmp_path / "kw.gif"), x, steps=3, dims=[3, 1]) == new
    assert old == new == 2 * 3 - 2
    assert (tmp_path / "old.gif").read_bytes() == (tmp_path / "new.gif").read_bytes()
    assert (tmp_path / "kw.gif").read_bytes() == (tmp_path / "new.gif").read_bytes()


@pytest.mark.bad_input
def test_traversal_gif_needs_a_path(model, x, tmp_path):
    with pytest.raises(ValueError, match="path"):
        viz.traversal_gif(model, x, steps=3)
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="x"):
        viz.traversal_gif(model, tmp_path / "a.gif", x, x=x)


def test_picture_functions_share_one_argument_order():
    """Model first, then the data, and the file as the keyword `path` (default None)."""
    import inspect

    data = {"traversal_grid": "x", "traversal_gif": "x", "reconstructions": "x",
            "samples": "n", "kl_per_dimension": "data", "latents_vs_factors": "ds"}
    for name, first in data.items():
        params = list(inspect.signature(getattr(viz, name)).parameters.values())
        assert [p.name for p in params[:2]] == ["model", first], name
        path = inspect.signature(getattr(viz, name)).parameters["path"]
        assert path.default is None and params.index(path) > 1, name


# --------------------------------------------------- reconstructions, samples
def _tile_at(image, row, column, h, w):
    """The tile at (row, column) of a `_tile` grid, one channel."""
    top, left = viz.PAD + row * (h + viz.PAD), viz.PAD + column * (w + viz.PAD)
    return image[top:top + h, left:left + w, 0]


def _as_uint8(images):
    return np.clip(np.round(np.asarray(images)[..., 0] * 255), 0, 255).astype(np.uint8)


def test_reconstructions_and_samples(model, x, tmp_path):
    image = viz.reconstructions(model, x[:3], path=tmp_path / "r.png")
    h, w = SHAPE[:2]
    assert image.dtype == np.uint8
    assert image.shape == (2 * h + 3 * viz.PAD, 3 * w + 4 * viz.PAD, 3)
    # top row: the originals; bottom row: their reconstructions (model.reconstruct),
    # each under its original (±1 grey level: rounding of the same float32 values)
    recon = _as_uint8(model.reconstruct(x[:3])).astype(int)
    for j in range(3):
        np.testing.assert_array_equal(_tile_at(image, 0, j, h, w), _as_uint8(x[j]))
        np.testing.assert_allclose(_tile_at(image, 1, j, h, w), recon[j], atol=1)
    assert (tmp_path / "r.png").exists()

    grid = viz.samples(model, 5, seed=1, path=tmp_path / "s.png")
    assert grid.shape == (2 * h + 3 * viz.PAD, 3 * w + 4 * viz.PAD, 3)
    np.testing.assert_array_equal(grid, viz.samples(model, 5, seed=1))
    # tiles 0 and 4 (3 columns) decode the first and last of 5 seeded prior draws
    z = np.random.default_rng(1).standard_normal((5, LATENT_DIM)).astype(np.float32)
    decoded = _as_uint8(model.decode(z)).astype(int)
    np.testing.assert_allclose(_tile_at(grid, 0, 0, h, w), decoded[0], atol=1)
    np.testing.assert_allclose(_tile_at(grid, 1, 1, h, w), decoded[4], atol=1)
    assert not np.array_equal(grid, viz.samples(model, 5, seed=2))
    assert (tmp_path / "s.png").exists()


# --------------------------------------------------------------------- plots
def test_kl_per_dimension(dead_model, x, factor_ds, tmp_path):
    kl = viz.kl_per_dimension(dead_model, x, path=tmp_path / "kl.png")
    assert kl.shape == (LATENT_DIM,)
    assert kl[DEAD] == pytest.approx(0.0, abs=1e-6)
    mean, log_var = dead_model.encode(x)
    total = kd.losses.gaussian_kl(mean, log_var).numpy().mean()
    assert kl.sum() == pytest.approx(total, rel=1e-4)
    assert Image.open(tmp_path / "kl.png").format == "PNG"
    assert viz.kl_per_dimension(dead_model, factor_ds, num_images=6).shape == (LATENT_DIM,)


def test_latents_vs_factors(dead_model, factor_ds, tmp_path):
    result = viz.latents_vs_factors(dead_model, factor_ds, num_samples=64,
                                    path=tmp_path / "lf.png")
    assert DEAD not in result["dims"] and result["dims"]
    assert result["factor_names"] == ("a", "b")
    assert [m.shape for m in result["means"]] == [(len(result["dims"]), 3),
                                                  (len(result["dims"]), 4)]
    assert Image.open(tmp_path / "lf.png").format == "PNG"
    assert result["explained"].shape == (len(result["dims"]), 2)
    assert np.all((result["explained"] >= 0) & (result["explained"] <= 1 + 1e-9))
    np.testing.assert_array_equal(result["factor_explained"], result["explained"].max(axis=0))
    # every latent's KL, the dead one included: the active ones are those above threshold
    assert result["latent_kl"].shape == (LATENT_DIM,) and result["latent_kl"][DEAD] < 0.01
    np.testing.assert_array_equal(result["latent_kl"][result["dims"]], result["kl"])
    none = viz.latents_vs_factors(dead_model, factor_ds, num_samples=8, threshold=1e9,
                                  path=tmp_path / "none.png")
    assert none["dims"] == [] and (tmp_path / "none.png").exists()
    np.testing.assert_array_equal(none["factor_explained"], [0.0, 0.0])


class _FactorCodes:
    """Encodes an image to fixed functions of its factors (read from its first pixels)."""

    latent_dim, image_shape = 3, SHAPE

    def decode(self, z):  # latents_vs_factors only encodes
        return np.zeros((len(z),) + SHAPE, "float32")

    def encode(self, x):
        x = np.asarray(x)
        a, b = x[:, 0, 0, 0] * 10.0, x[:, 0, 1, 0] * 10.0  # the factors, as stored below
        mean = np.stack([a, np.cos(np.pi * b / 2), a + b], axis=1).astype("float32")
        return mean, np.zeros_like(mean) - 4.0


def test_latents_vs_factors_explained_variance_is_the_correlation_ratio():
    # z0 = a, z1 = cos(π b / 2) (not monotonic in b), z2 = a + b: η² is 1 for a
    # function of one factor, whatever its shape, and splits for a sum
    factors = np.stack(np.meshgrid(np.arange(3), np.arange(4), indexing="ij"), -1).reshape(-1, 2)
    images = np.zeros((len(factors),) + SHAPE, "float32")
    images[:, 0, 0, 0], images[:, 0, 1, 0] = factors[:, 0] / 10.0, factors[:, 1] / 10.0
    ds = kd.data.from_arrays(images, factors, factor_names=("a", "b"))
    result = viz.latents_vs_factors(_FactorCodes(), ds, num_samples=4000, seed=0)
    eta = dict(zip(result["dims"], result["explained"]))
    np.testing.assert_allclose(eta[0], [1.0, 0.0], atol=0.02)
    np.testing.assert_allclose(eta[1], [0.0, 1.0], atol=0.02)
    # a + b with a uniform on 3 values (variance 2/3) and b on 4 (variance 5/4)
    np.testing.assert_allclose(eta[2], [(2 / 3) / (2 / 3 + 5 / 4), (5 / 4) / (2 / 3 + 5 / 4)],
                               atol=0.03)
    np.testing.assert_allclose(result["factor_explained"], [1.0, 1.0], atol=0.02)


def test_correlation_ratio_of_any_codes():
    # codes of a representation that is not a Gaussian posterior (PCA, InfoGAN's Q)
    factors = np.stack(np.meshgrid(np.arange(3), np.arange(4), indexing="ij"), -1).reshape(-1, 2)
    codes = np.stack([factors[:, 1] ** 2, np.ones(len(factors)), factors.sum(axis=1)], axis=1)
    eta = viz.correlation_ratio(codes, factors, (3, 4))
    assert eta.shape == (3, 2)
    np.testing.assert_allclose(eta[0], [0.0, 1.0], atol=1e-12)  # a function of b, not monotonic
    np.testing.assert_array_equal(eta[1], [0.0, 0.0])  # a constant code explains nothing
    np.testing.assert_allclose(eta[2].sum(), 1.0)  # a + b on the full grid: the shares add up


@pytest.mark.bad_input
def test_correlation_ratio_checks_shapes():
    with pytest.raises(ValueError, match="`codes`.*same n.*\\(4, 2\\) and \\(3, 2\\)"):
        viz.correlation_ratio(np.zeros((4, 2)), np.zeros((3, 2), int), (2, 2))


@pytest.mark.bad_input
def test_tradeoff_plot(tmp_path):
    runs = [
        {"model": "beta_vae", "beta": 1, "reconstruction": 30.1, "mig": 0.05},
        {"model": "beta_vae", "beta": 4, "reconstruction": 35.2, "mig": 0.2},
        {"model": "beta_tcvae", "beta": 6, "reconstruction": 33.0, "mig": 0.3},
    ]
    figure = viz.tradeoff_plot(runs, label="model", annotate="beta", path=tmp_path / "t.png")
    assert len(figure.axes[0].collections) == 2  # one scatter per model
    assert Image.open(tmp_path / "t.png").format == "PNG"
    with pytest.raises(ValueError, match="`y`"):
        viz.tradeoff_plot(runs, y="dci")
    with pytest.raises(ValueError, match="`results`"):
        viz.tradeoff_plot([])


# ----------------------------------------------------------------- callback
def test_traversal_logger_writes_image_summaries(model, x, tmp_path):
    keras.utils.set_random_seed(0)
    m = kd.models.VAE(latent_dim=LATENT_DIM, input_shape=SHAPE, architecture="mlp", seed=0)
    m.compile(optimizer=keras.optimizers.Adam(1e-3))
    logger = kd.callbacks.TraversalLogger(str(tmp_path), images=x[:4], steps=3)
    m.fit(x, batch_size=8, epochs=2, verbose=0, callbacks=[logger])

    seen = {}
    for event_file in glob.glob(str(tmp_path / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            for value in event.summary.value:
                png = tf.make_ndarray(value.tensor)[2]
                seen[(value.tag, event.step)] = np.asarray(Image.open(io.BytesIO(png)))
    assert set(seen) == {(t, s) for t in ("traversals", "reconstructions") for s in (0, 1)}
    np.testing.assert_array_equal(seen[("traversals", 1)], viz.traversal_grid(m, x[:4], steps=3))
    np.testing.assert_array_equal(seen[("reconstructions", 1)], viz.reconstructions(m, x[:4]))


@pytest.mark.bad_input
def test_traversal_logger_errors():
    with pytest.raises(ValueError, match="every_n_epochs"):
        kd.callbacks.TraversalLogger("logs", every_n_epochs=0)
    with pytest.raises(ValueError, match="steps"):
        kd.callbacks.TraversalLogger("logs", steps=1)
    with pytest.raises(ValueError, match="limits"):
        kd.callbacks.TraversalLogger("logs", limits="posterior")


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"x": np.zeros((2, 8, 8, 1), "float32")}, "`x`"),
        ({"x": np.zeros((16, 16, 1), "float32")}, "`x`"),
        ({"steps": 1}, "`steps`"),
        ({"steps": 2.5}, "`steps`"),
        ({"limits": (2, -2)}, "`limits`"),
        ({"limits": "wide"}, "`limits`"),
        ({"limits": (0, float("inf"))}, "`limits`"),
        ({"limits": "posterior"}, "`limits`"),
        ({"sort_by": "variance"}, "`sort_by`"),
        ({"dims": [LATENT_DIM]}, "`dims`"),
        ({"dims": [-1]}, "`dims`"),
        ({"dims": []}, "`dims`"),
        ({"dims": [0, 0]}, "`dims`"),
        ({"dataset": "dsprites"}, "`dataset`"),
    ],
)
@pytest.mark.bad_input
def test_traversal_errors(model, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        viz.traversal_grid(model, **kwargs)


@pytest.mark.bad_input
def test_other_errors(model, x, tmp_path):
    with pytest.raises(ValueError, match="`steps`"):
        viz.traversal_gif(model, x, steps=1, path=tmp_path / "a.gif")
    with pytest.raises(ValueError, match="`x`"):
        viz.reconstructions(model, x[..., 0])
    with pytest.raises(ValueError, match="`n`"):
        viz.samples(model, 0)
    with pytest.raises(ValueError, match="`data`"):
        viz.kl_per_dimension(model, np.zeros((2, 3)))
    unlabelled = kd.data.from_arrays(tiny_images(4))
    with pytest.raises(ValueError, match="`ds`"):
        viz.latents_vs_factors(model, unlabelled)
    with pytest.raises(ValueError, match="`model`"):
        viz.traversal_grid(object(), x)
