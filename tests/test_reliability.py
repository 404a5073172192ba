"""Bad data, numerical safety and reproducibility guarantees."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasdis as kd
from kerasdis import training


def _fit(model, x, **kwargs):
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model.fit(x, batch_size=8, epochs=1, shuffle=False, verbose=0, **kwargs)


# Numpy arrays are checked in Python before training (a ValueError, tests/test_input_checks.py);
# a tf.data stream is checked in the graph, batch by batch, as here.
def _batches(x):
    return tf.data.Dataset.from_tensor_slices(x).batch(8)


@pytest.mark.bad_input
def test_nan_pixels_stop_training_and_name_the_step(binary_images):
    x = binary_images[:32].copy()
    x[17, 3, 3, 0] = np.nan  # in the third batch of 8
    model = kd.models.BetaVAE(seed=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf") as error:
        _fit(model, _batches(x))
    # the message names the step of that batch (0-based: the third batch is step 2)
    assert re.search(r"optimizer step\W+2\b", str(error.value)), str(error.value)


@pytest.mark.bad_input
def test_bernoulli_refuses_pixels_outside_the_unit_interval(binary_images):
    x = binary_images[:16] * 255.0  # float images in [0, 255]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
        _fit(kd.models.VAE(seed=0), _batches(x))
    # The Gaussian likelihood accepts any finite values.
    _fit(kd.models.VAE(seed=0, likelihood="gaussian"), _batches(binary_images[:16] * 2.0 - 0.5))


def test_uint8_images_are_scaled(binary_images):
    x = (binary_images[:16] * 255).astype(np.uint8)
    history = _fit(kd.models.VAE(seed=0), x)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.bad_input
def test_empty_dataset_is_refused():
    model = kd.models.VAE(seed=0)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError):
        model.fit(np.zeros((0, 64, 64, 1), np.float32), batch_size=8, verbose=0)


def test_huge_beta_and_tiny_batches_stay_finite(binary_images):
    model = kd.models.BetaVAE(beta=1e4, seed=0)
    history = _fit(model, binary_images[:32])
    assert all(np.isfinite(v) for v in history.history["loss"])
    tc = kd.models.BetaTCVAE(beta=1e3, dataset_size=10, seed=0)
    tc.compile(optimizer=keras.optimizers.Adam(1e-3))
    h = tc.fit(binary_images[:16], batch_size=2, epochs=1, verbose=0)
    assert all(np.isfinite(h.history[k][0]) for k in ("loss", "mi", "tc", "dwkl"))


def test_extreme_log_variances_are_bounded():
    model = kd.models.VAE(latent_dim=2, seed=0)
    layer = model.encoder.get_layer("log_var")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * 0, bias * 0 + 500.0])
    _, log_var = model.encode(np.zeros((2, 64, 64, 1), np.float32))
    assert float(np.max(log_var)) <= kd.models.base.LOG_VAR_BOUNDS[1]
    q = model.posterior(np.zeros((2, 64, 64, 1), np.float32))
    assert np.all(np.isfinite(q.sample(seed=1)))


@pytest.mark.fault
def test_stop_on_non_finite_names_the_term(binary_images):
    """β set to NaN before training: StopOnNonFinite stops at step 1 and names the term."""
    model = kd.models.BetaVAE(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.beta.assign(float("nan"))
    stop = kd.callbacks.StopOnNonFinite()
    model.fit(binary_images[:32], batch_size=8, epochs=1, verbose=0, callbacks=[stop])
    assert "loss" in stop.nonfinite and stop.step == 1


def test_same_seed_same_weights_and_metrics(tmp_path):
    recipe = {"model": "beta_vae", "model_args": {"latent_dim": 3}, "steps": 6, "batch_size": 8,
              "checkpoint_every": 6, "learning_rate": 1e-3, "seed": 11}
    a, _ = training.train(recipe, str(tmp_path / "a"), verbose=0, tensorboard=False)
    b, _ = training.train(recipe, str(tmp_path / "b"), verbose=0, tensorboard=False)
    for u, v in zip(a.weights, b.weights):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-6, atol=1e-7)
    # the two runs, each scored with the same metric seed, get the same score
    ds = kd.data.load("dsprites")
    opts = {"discrete_mig": {"num_train": 500}}
    s1 = kd.metrics.evaluate(a, ds, metrics=["discrete_mig"], seed=2, verbose=0, options=opts)
    s2 = kd.metrics.evaluate(b, ds, metrics=["discrete_mig"], seed=2, verbose=0, options=opts)
    assert s1["discrete_mig"] == pytest.approx(s2["discrete_mig"], rel=1e-6, abs=1e-9)


def test_models_built_with_the_same_seed_are_identical():
    a, b = kd.models.FactorVAE(seed=4), kd.models.FactorVAE(seed=4)
    for u, v in zip(a.weights, b.weights):
        np.testing.assert_array_equal(u.numpy(), v.numpy())
    c = kd.models.FactorVAE(seed=5)
    assert not np.array_equal(a.encoder.weights[0].numpy(), c.encoder.weights[0].numpy())
