"""InfoGAN, DC-IGN and the single-factor batch sampler."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasdis as kd
from kerasdis.data.weak_supervision import (
    batch_at,
    sample_single_factor_batch,
    single_factor_batches,
)
from kerasdis.models.dcign import DCIGN
from kerasdis.models.infogan import InfoGAN


@pytest.fixture(scope="module")
def dsprites():
    return kd.data.load("dsprites")


def _weak_batches(ds, n_batches=4, batch_size=16, seed=0):
    """`n_batches` single-factor batches as flat arrays (x, k), for `fit(batch_size=...)`."""
    xs, ks = [], []
    for step in range(n_batches):
        x, k, _ = batch_at(ds, batch_size, seed, step)
        xs.append(x)
        ks.append(k)
    return np.concatenate(xs), np.concatenate(ks)


def _optimizer_state(model):
    variables = list(model.optimizer.variables)
    if getattr(model, "discriminator_optimizer", None) is not None:
        variables += list(model.discriminator_optimizer.variables)
    return [v.numpy() for v in variables]


# ------------------------------------------------------------------- sampler
def test_single_factor_batch_varies_only_the_chosen_factor(dsprites):
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):
        factors, k = sample_single_factor_batch(dsprites, 32, rng)
        seen.add(k)
        others = [j for j in range(dsprites.num_factors) if j != k]
        assert (factors[:, others] == factors[:1, others]).all()
        assert len(np.unique(factors[:, k])) > 1
    assert seen == set(range(dsprites.num_factors))
    factors, k = sample_single_factor_batch(dsprites, 8, 1, factors=["scale"])
    assert k == 1


@pytest.mark.bad_input
def test_single_factor_dataset_is_a_pure_function_of_seed_and_step(dsprites):
    data = single_factor_batches(dsprites, batch_size=8, seed=3, with_factors=True)
    batches = list(data.take(3))
    for step, (images, k, factors) in enumerate(batches):
        assert images.shape == (8, 64, 64, 1) and images.dtype == tf.float32
        k = k.numpy()
        assert (k == k[0]).all()
        f = factors.numpy()
        others = [j for j in range(5) if j != k[0]]
        assert (f[:, others] == f[:1, others]).all()
        np.testing.assert_array_equal(images.numpy(), dsprites.images(f))
    resumed = next(iter(single_factor_batches(dsprites, batch_size=8, seed=3, first_step=2)))
    np.testing.assert_array_equal(resumed[0].numpy(), batches[2][0].numpy())
    with pytest.raises(ValueError, match="factors"):
        sample_single_factor_batch(dsprites, 8, 0, factors=["colour"])


# -------------------------------------------------------------------- DC-IGN
@pytest.mark.bad_input
def test_dcign_clamps_the_other_factors_latents(dsprites):
    model = DCIGN(latent_dim=8, factor_dims=[[0], [1], [2, 3], [4], [5]], seed=0)
    factors, k = sample_single_factor_batch(dsprites, 16, np.random.default_rng(1),
                                            factors=[2])
    x = dsprites.images(factors)
    out = model.forward(x, factor=np.full(16, k, np.int32))
    z = out["z"].numpy()
    clamped = [0, 1, 4, 5, 6, 7]  # all but factor 2's latents (2, 3); 6, 7 belong to none
    np.testing.assert_array_equal(out["mask"].numpy(), [1, 1, 0, 0, 1, 1, 1, 1])
    assert (z[:, clamped] == z[:1, clamped]).all()
    np.testing.assert_allclose(z[0, clamped], out["mean"].numpy().mean(0)[clamped], rtol=1e-5)
    assert (z[:, [2, 3]].std(0) > 0).all()
    # Backward: no decoder gradient reaches a clamped unit; its gradient is (mu - mean) / B.
    mean = tf.Variable(out["mean"])
    log_var = tf.Variable(out["log_var"])
    model.encode = lambda images, training=False: (mean, log_var)
    with tf.GradientTape(persistent=True) as tape:
        terms = model.compute_terms(x, factor=k)
    rec_grad = tape.gradient(terms["reconstruction"], mean).numpy()
    inv_grad = tape.gradient(terms["invariance"], mean).numpy()
    assert (rec_grad[:, clamped] == 0).all() and (rec_grad[:, [2, 3]] != 0).any()
    mu = mean.numpy()
    np.testing.assert_allclose(inv_grad[:, clamped], (mu - mu.mean(0))[:, clamped] / 16,
                               atol=1e-6)
    assert (inv_grad[:, [2, 3]] == 0).all()
    assert DCIGN(latent_dim=10, seed=0).factor_dims == ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
    with pytest.raises(ValueError, match="factor_dims"):
        DCIGN(latent_dim=4, factor_dims=[[0], [0]])


@pytest.mark.bad_input
def test_dcign_trains_and_round_trips(dsprites, tmp_path):
    x, k = _weak_batches(dsprites)
    model = DCIGN(latent_dim=6, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(x, k, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for name in ("loss", "reconstruction", "kl", "invariance"):
        assert np.isfinite(history.history[name][-1])
    with pytest.raises(ValueError, match="single_factor_batches"):
        model.train_step(tf.constant(x[:16]))
    path = str(tmp_path / "dcign.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is DCIGN and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.encode(x[:8])[0], model.encode(x[:8])[0])
    for a, b in zip(_optimizer_state(model), _optimizer_state(loaded)):
        np.testing.assert_array_equal(a, b)
    model.fit(x, k, batch_size=16, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, k, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------- InfoGAN
def test_infogan_trains_and_round_trips_both_optimizers(binary_images, tmp_path):
    x = binary_images[:64]
    model = InfoGAN(num_categories=3, num_continuous=2, noise_dim=4, seed=2)
    model.compile()
    history = model.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for name in ("d_loss", "g_loss", "info_loss", "d_accuracy", "q_accuracy"):
        assert np.isfinite(history.history[name][-1]), name
    assert int(model.optimizer.iterations.numpy()) == 4
    assert int(model.discriminator_optimizer.iterations.numpy()) == 4
    path = str(tmp_path / "infogan.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is InfoGAN and loaded.get_config() == model.get_config()
    codes = np.linspace(-1, 1, 10, dtype=np.float32).reshape(2, 5)
    np.testing.assert_array_equal(loaded.encode(x[:8])[0], model.encode(x[:8])[0])
    np.testing.assert_array_equal(loaded.decode(codes), model.decode(codes))
    assert loaded.discriminator_optimizer.learning_rate.numpy() == pytest.approx(2e-4)
    assert loaded.optimizer.learning_rate.numpy() == pytest.approx(1e-3)
    state, loaded_state = _optimizer_state(model), _optimizer_state(loaded)
    assert len(state) == len(loaded_state)
    for a, b in zip(state, loaded_state):
        np.testing.assert_array_equal(a, b)
    model.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_infogan_as_a_representation(dsprites, tmp_path):
    model = InfoGAN(seed=0)  # defaults: 3 categories + 5 continuous codes, 10 noise
    x = dsprites.images(dsprites.sample_factors(6, seed=0))
    mean, log_var = model.encode(x)
    assert model.latent_dim == 8 and mean.shape == (6, 8) and log_var.shape == (6, 8)
    np.testing.assert_allclose(mean.numpy()[:, :3].sum(1), 1.0, rtol=1e-5)
    assert model.decode(mean).shape == (6, 64, 64, 1)
    assert model.reconstruct(x).shape == (6, 64, 64, 1)
    assert model.sample(2, seed=0).shape == (2, 64, 64, 1)
    np.testing.assert_array_equal(model.sample(2, seed=5), model.sample(2, seed=5))
    assert not np.array_equal(model.decode(mean, seed=1), model.decode(mean))
    grid = kd.viz.traversal_grid(model, x[:2], steps=3, limits=(-1, 1))
    assert grid.ndim == 3
    score = kd.metrics.beta_vae_score(model, dsprites, num_train=20, num_eval=10, batch_size=4,
                                      encode_grid=False, seed=0)
    assert 0.0 <= score["eval_accuracy"] <= 1.0
    path = kd.export.saved_model(model, str(tmp_path / "exported"))
    restored = tf.saved_model.load(path)
    np.testing.assert_allclose(restored.encode(tf.constant(x))["mean"].numpy(), mean.numpy(),
                               atol=1e-5)
    np.testing.assert_allclose(restored.decode(tf.constant(mean))["images"].numpy(),
                               model.decode(mean).numpy(), atol=1e-5)


@pytest.mark.bad_input
def test_infogan_validates_arguments():
    with pytest.raises(ValueError, match="num_categories"):
        InfoGAN(num_categories=0, num_continuous=0)
    with pytest.raises(ValueError, match="noise_dim"):
        InfoGAN(noise_dim=-1)
    model = InfoGAN(num_categories=0, num_continuous=2, noise_dim=0, architecture="mlp",
                    input_shape=(16, 16, 1), learn_continuous_std=True, seed=0)
    assert model.encode(np.zeros((2, 16, 16, 1), np.float32))[0].shape == (2, 2)
    with pytest.raises(ValueError, match="codes"):
        model.decode(np.zeros((2, 3), np.float32))
