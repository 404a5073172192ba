"""Bad numpy input is refused at the Python boundary with a `ValueError` naming the
argument, the offending value and the expected range, before any work starts
(not a TensorFlow "Graph execution error ... assert" from inside a step)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasdis as kd
from kerasdis import metrics

pytestmark = pytest.mark.bad_input


def _images(binary_images, n=8):
    return binary_images[:n].copy()


def _with_nan(x):
    x = x.copy()
    x[3, 5, 6, 0] = np.nan
    return x


def _compiled(model):
    if isinstance(model, kd.models.InfoGAN):
        model.compile()
    else:
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def _steps(model):
    return int(model.optimizer.iterations.numpy())


MODELS = {
    "vae": lambda: kd.models.VAE(latent_dim=4, seed=0),
    "infogan": lambda: kd.models.InfoGAN(seed=0),
}


# ------------------------------------------------------------------ fit / evaluate


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fit_refuses_nan_pixels_before_training(binary_images, name):
    model = _compiled(MODELS[name]())
    with pytest.raises(ValueError) as error:
        model.fit(_with_nan(_images(binary_images)), batch_size=4, epochs=1, verbose=0)
    message = str(error.value)
    assert "`x`" in message and "nan" in message and "[0, 1]" in message
    assert "image 3" in message and "(5, 6, 0)" in message
    assert _steps(model) == 0  # no step ran


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fit_refuses_0_to_255_float_pixels(binary_images, name):
    model = _compiled(MODELS[name]())
    with pytest.raises(ValueError, match=r"`x` holds pixel values in \[0, 255\].*\[0, 1\].*255"):
        model.fit(_images(binary_images) * 255.0, batch_size=4, epochs=1, verbose=0)
    assert _steps(model) == 0
    # Integers 0..255 of another dtype than uint8 are refused the same way ...
    with pytest.raises(ValueError, match=r"`x` holds pixel values in \[0, 255\]"):
        model.fit((_images(binary_images) * 255).astype(np.int64), batch_size=4, verbose=0)
    # ... while uint8 images are scaled by 1/255 and train.
    model.fit((_images(binary_images) * 255).astype(np.uint8), batch_size=4, epochs=1, verbose=0)
    assert _steps(model) == 2


def test_keras_evaluate_refuses_bad_pixels(binary_images):
    model = _compiled(MODELS["vae"]())
    with pytest.raises(ValueError, match=r"`x` holds the pixel value nan.*\[0, 1\]"):
        model.evaluate(_with_nan(_images(binary_images)), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match=r"`x` holds pixel values in \[0, 255\]"):
        model.evaluate(x=_images(binary_images) * 255.0, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="`x`.*nan"):  # an eager tensor too
        model.evaluate(tf.constant(_with_nan(_images(binary_images))), batch_size=4, verbose=0)


def test_validation_data_is_checked_before_training(binary_images):
    model = _compiled(MODELS["vae"]())
    x = _images(binary_images)
    with pytest.raises(ValueError, match=r"`validation_data\[0\]` holds the pixel value nan"):
        model.fit(x, batch_size=4, verbose=0, validation_data=(_with_nan(x),))
    with pytest.raises(ValueError, match=r"`validation_data` holds pixel values in \[0, 255\]"):
        model.fit(x, batch_size=4, verbose=0, validation_data=x * 255.0)
    assert _steps(model) == 0


def test_the_range_follows_the_likelihood(binary_images):
    """Bernoulli pixels are probabilities: [0, 1]. A Gaussian accepts any finite values."""
    x = _images(binary_images)
    model = _compiled(kd.models.VAE(latent_dim=4, likelihood="gaussian", seed=0))
    model.fit(x * 2.0 - 0.5, batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"`x` holds the pixel value inf.*finite pixel values"):
        bad = x.copy()
        bad[1, 0, 0, 0] = np.inf
        model.fit(bad, batch_size=4, verbose=0)
    continuous = _compiled(kd.models.VAE(latent_dim=4, likelihood="continuous_bernoulli", seed=0))
    with pytest.raises(ValueError, match="continuous_bernoulli"):
        continuous.fit(x - 0.5, batch_size=4, verbose=0)


def test_pair_and_single_factor_models_check_their_own_inputs(binary_images):
    x = _images(binary_images)
    pairs = _compiled(kd.models.AdaGVAE(latent_dim=4, seed=0))
    with pytest.raises(ValueError, match="`y` holds the pixel value nan"):
        pairs.fit(x, _with_nan(x), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match=r"`x` holds pixel values in \[0, 255\]"):
        pairs.fit(x * 255.0, x, batch_size=4, verbose=0)
    assert _steps(pairs) == 0

    dcign = _compiled(kd.models.DCIGN(latent_dim=4, num_factors=2, seed=0))
    with pytest.raises(ValueError, match=r"`x` holds the pixel value nan"):
        dcign.fit(_with_nan(x), np.zeros(8, np.int64), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match=r"`y` holds the factor index 2; expected .*\[0, 1\]"):
        dcign.fit(x, np.full(8, 2, np.int64), batch_size=4, verbose=0)
    assert _steps(dcign) == 0


def test_tf_data_is_checked_in_the_graph(binary_images):
    """A tf.data stream cannot be checked up front: the in-graph check stops `fit` (InfoGAN
    trained on NaN batches without a word before)."""
    x = _with_nan(_images(binary_images))
    for name in sorted(MODELS):
        model = _compiled(MODELS[name]())
        with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
            model.fit(tf.data.Dataset.from_tensor_slices(x).batch(4), epochs=1, verbose=0)


# ------------------------------------------------------------------ metrics


class ServedImages:
    """A dataset (no factors) serving whatever images it holds, unchecked."""

    name = "served"
    factor_sizes = ()
    observation_shape = (64, 64, 1)

    def __init__(self, images):
        self._images = images
        self.num_examples = len(images)

    def images_at(self, indices):
        return self._images[np.asarray(indices)]


class ServedFactorImages(ServedImages):
    """A 2 x 4 factor grid whose images are whatever it holds."""

    factor_sizes = (2, 4)
    factor_names = ("a", "b")
    num_examples = 8

    def sample_factors(self, n, seed=0):
        rng = np.random.default_rng(seed)
        return np.stack([rng.integers(0, s, n) for s in self.factor_sizes], axis=1)

    def images(self, factors, seed=None):
        factors = np.asarray(factors)
        return self._images[factors[:, 0] * 4 + factors[:, 1]]


@pytest.fixture(scope="module")
def vae():
    return kd.models.VAE(latent_dim=4, seed=0)


@pytest.mark.parametrize("bad", ["nan", "255"])
def test_metrics_refuse_bad_dataset_images(binary_images, vae, bad):
    x = _images(binary_images, 16)
    x = _with_nan(x) if bad == "nan" else x * 255.0
    pattern = r"`ds` holds the pixel value nan" if bad == "nan" else \
        r"`ds` holds pixel values in \[0, 255\]"
    with pytest.raises(ValueError, match=pattern + r".*\[0, 1\]"):
        metrics.elbo_decomposition(vae, ServedImages(x), num_images=16)
    with pytest.raises(ValueError, match=pattern):
        metrics.evaluate(vae, ServedImages(x), metrics=["elbo"], verbose=0,
                         options={"elbo": {"num_images": 16}})
    factor_ds = ServedFactorImages(x[:8])
    with pytest.raises(ValueError, match=pattern):  # through the factor-grid encoding
        metrics.evaluate(vae, factor_ds, metrics=["mig"], verbose=0)
    with pytest.raises(ValueError, match=pattern):  # a plain function as the representation
        metrics.beta_vae_score(lambda images: images.reshape(len(images), -1)[:, :3], factor_ds,
                               num_train=4, num_eval=2, batch_size=4, encode_grid=False)


def test_representation_function_checks_and_scales_images(binary_images, vae):
    x = _images(binary_images)
    encode = metrics.representation_function(vae)
    np.testing.assert_allclose(encode((x * 255).astype(np.uint8)), encode(x), atol=1e-5)
    with pytest.raises(ValueError, match=r"`images` holds pixel values in \[0, 255\]"):
        encode(x * 255.0)
    with pytest.raises(ValueError, match="`images` holds the pixel value nan"):
        metrics.representation_function(lambda images: images[:, 0, 0])(_with_nan(x))


def test_codes_with_nan_name_the_argument_and_the_value():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(50, 3))
    codes[7, 2] = np.nan
    factors = rng.integers(0, 3, (50, 2))
    with pytest.raises(ValueError, match=r"`codes` contains NaN.*nan at row 7, column 2"):
        metrics.discrete_mig(codes, factors)
    with pytest.raises(ValueError, match=r"`codes_test` contains NaN.*row 7, column 2"):
        metrics.dci(rng.normal(size=(50, 3)), factors, codes, factors)
