"""Ada-GVAE / Ada-ML-VAE (Locatello et al. 2020) and the paired-image sampler."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasdis as kd
from kerasdis.data.weak_supervision import paired_batch_at, paired_batches, sample_pairs
from kerasdis.models.ada_gvae import (
    AdaGVAE,
    AdaMLVAE,
    aggregate_posteriors,
    pairwise_kl,
    shared_latents,
)


@pytest.fixture(scope="module")
def dsprites():
    return kd.data.load("dsprites")


@pytest.fixture(scope="module")
def squares():
    """A complete grid of 12x12 images: square size (3), row (4), column (4)."""
    sizes = (3, 4, 4)
    factors = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"),
                       -1).reshape(-1, 3)
    images = np.zeros((len(factors), 12, 12, 1), np.float32)
    for i, (size, row, col) in enumerate(factors):
        images[i, 2 * row:2 * row + size + 2, 2 * col:2 * col + size + 2] = 1.0
    return kd.data.from_arrays(images, factors, factor_names=["size", "row", "col"])


def _tiny(cls=AdaGVAE, **kwargs):
    model = cls(latent_dim=4, input_shape=(12, 12, 1), architecture="mlp", seed=0, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


# ----------------------------------------------------------------- numpy oracle
def _np_aggregate(m1, lv1, m2, lv2, aggregation):
    """disentanglement_lib's weak_vae.py, transcribed to numpy (float64)."""
    v1, v2 = np.exp(lv1), np.exp(lv2)
    dlib_kl = v1 / v2 + (m2 - m1) ** 2 / v2 - 1 + lv2 - lv1  # compute_kl (= 2 δ)
    delta = 0.5 * dlib_kl
    tau = 0.5 * (delta.max(1, keepdims=True) + delta.min(1, keepdims=True))
    shared = delta < tau
    if aggregation == "gvae":
        new_mean = 0.5 * m1 + 0.5 * m2
        new_lv = np.log(0.5 * v1 + 0.5 * v2)
    else:
        new_var = 2 * v1 * v2 / (v1 + v2)
        new_mean = (m1 / v1 + m2 / v2) * new_var * 0.5
        new_lv = np.log(new_var)
    return {"delta": delta, "shared": shared,
            "mean1": np.where(shared, new_mean, m1), "log_var1": np.where(shared, new_lv, lv1),
            "mean2": np.where(shared, new_mean, m2), "log_var2": np.where(shared, new_lv, lv2)}


def _posteriors(seed=0, batch=64, dim=10):
    rng = np.random.default_rng(seed)
    m1 = rng.normal(size=(batch, dim))
    lv1 = rng.normal(-1.0, 1.0, size=(batch, dim))
    # The second image moves a few latents a lot and the others a little.
    moved = rng.random((batch, dim)) < 0.3
    m2 = m1 + np.where(moved, rng.normal(0, 2.0, (batch, dim)), rng.normal(0, 0.05, (batch, dim)))
    lv2 = lv1 + np.where(moved, rng.normal(0, 1.0, (batch, dim)), rng.normal(0, 0.05, (batch, dim)))
    return m1, lv1, m2, lv2


# ---------------------------------------------------------------- the sampler
def test_sample_pairs_redraws_exactly_k_factors(dsprites):
    sizes = np.asarray(dsprites.factor_sizes)
    for k in (1, 2, 4):
        f1, f2, changed = sample_pairs(dsprites, 2000, k=k, seed=k)
        assert f1.shape == f2.shape == changed.shape == (2000, 5) and f2.dtype == np.int64
        assert (changed.sum(1) == k).all()
        assert (f2[~changed] == f1[~changed]).all()
        assert ((f2 >= 0) & (f2 < sizes)).all()
        # Which factors: uniform without replacement (each chosen with probability k / K).
        np.testing.assert_allclose(changed.mean(0), k / 5, atol=0.05)
    # As disentanglement_lib, a redrawn factor may keep its value (probability 1 / size).
    f1, f2, changed = sample_pairs(dsprites, 4000, k=1, seed=0)
    same = (f1 == f2)[changed]
    chosen_factor = np.argmax(changed, axis=1)
    np.testing.assert_allclose(same[chosen_factor == 0].mean(), 1 / 3, atol=0.06)  # shape
    assert same[chosen_factor == 3].mean() < 0.1  # posX: 32 values
    # k="random": k uniform in 1..K-1 per pair.
    _, _, changed = sample_pairs(dsprites, 4000, k="random", seed=1)
    counts = np.bincount(changed.sum(1), minlength=6)
    assert counts[0] == 0 and counts[5] == 0
    np.testing.assert_allclose(counts[1:5] / 4000, 0.25, atol=0.03)


def test_sample_pairs_only_redraws_factors_that_vary():
    images = np.zeros((6, 4, 4, 1), np.float32)
    factors = np.stack([np.zeros(6, int), np.arange(6) // 2, np.arange(6) % 2], 1)
    ds = kd.data.from_arrays(images, factors)  # factor 0 has a single value
    _, _, changed = sample_pairs(ds, 100, k=1, seed=0)
    assert not changed[:, 0].any() and (changed.sum(1) == 1).all()
    with pytest.raises(ValueError, match=r"`k` must be an int in \[1, 1\].*got 2"):
        sample_pairs(ds, 4, k=2)


def test_paired_batches_are_a_pure_function_of_seed_and_step(dsprites):
    data = paired_batches(dsprites, batch_size=8, k=2, seed=3, with_factors=True)
    batches = list(data.take(3))
    for step, (x1, x2, f1, f2) in enumerate(batches):
        assert x1.shape == x2.shape == (8, 64, 64, 1) and x1.dtype == tf.float32
        f1, f2 = f1.numpy(), f2.numpy()
        assert ((f1 != f2).sum(1) <= 2).all()
        np.testing.assert_array_equal(x1.numpy(), dsprites.images(f1))
        np.testing.assert_array_equal(x2.numpy(), dsprites.images(f2))
        again = paired_batch_at(dsprites, 8, 3, step, k=2)
        np.testing.assert_array_equal(again[2], f1)
        np.testing.assert_array_equal(again[3], f2)
    resumed = next(iter(paired_batches(dsprites, batch_size=8, k=2, seed=3, first_step=2)))
    assert len(resumed) == 2
    np.testing.assert_array_equal(resumed[0].numpy(), batches[2][0].numpy())
    np.testing.assert_array_equal(resumed[1].numpy(), batches[2][1].numpy())
    other = paired_batch_at(dsprites, 8, 4, 0, k=2)
    assert not np.array_equal(other[2], batches[0][2].numpy())


@pytest.mark.bad_input
def test_pair_sampler_errors(dsprites):
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive integer, got 0"):
        paired_batches(dsprites, batch_size=0)
    with pytest.raises(ValueError, match=r"`n` must be a positive integer, got -1"):
        sample_pairs(dsprites, -1)
    for bad in (0, 5, True, "rnd", 1.5):
        with pytest.raises(ValueError, match=r"`k` must be an int in \[1, 4\] or 'random'"):
            paired_batches(dsprites, batch_size=4, k=bad)
    with pytest.raises(ValueError, match="first_step"):
        paired_batches(dsprites, batch_size=4, first_step=-1)
    with pytest.raises(ValueError, match="no ground-truth factors"):
        sample_pairs(kd.data.from_arrays(np.zeros((4, 4, 4), np.float32)), 2)


# ---------------------------------------------------------------- the math
@pytest.mark.parametrize("aggregation", ["gvae", "mlvae"])
def test_aggregation_matches_disentanglement_lib(aggregation):
    m1, lv1, m2, lv2 = _posteriors()
    m1[0], lv1[0] = m2[0], lv2[0]  # identical posteriors: δ = 0 everywhere, all shared
    expected = _np_aggregate(m1, lv1, m2, lv2, aggregation)
    expected["shared"][0] = True
    args = [tf.constant(a, tf.float32) for a in (m1, lv1, m2, lv2)]
    out = aggregate_posteriors(*args, aggregation=aggregation)
    np.testing.assert_allclose(out["delta"], expected["delta"], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(out["shared"].numpy(), expected["shared"])
    shared = expected["shared"]
    # Every other pair shares some latents and keeps others (the argmin and argmax of δ).
    assert shared[1:].any(1).all() and (~shared[1:]).any(1).all()
    for name in ("mean1", "log_var1", "mean2", "log_var2"):
        np.testing.assert_allclose(out[name], expected[name], rtol=1e-4, atol=1e-5)
    # Shared latents agree between the two images; the others are each image's own.
    np.testing.assert_array_equal(out["mean1"].numpy()[shared], out["mean2"].numpy()[shared])
    np.testing.assert_array_equal(out["mean1"].numpy()[~shared], args[0].numpy()[~shared])
    np.testing.assert_array_equal(out["log_var2"].numpy()[~shared], args[3].numpy()[~shared])
    if aggregation == "mlvae":  # the mean of the product of the two Gaussians
        v1, v2 = np.exp(lv1), np.exp(lv2)
        poe_mean = (m1 / v1 + m2 / v2) / (1 / v1 + 1 / v2)
        np.testing.assert_allclose(out["mean1"].numpy()[shared], poe_mean[shared], rtol=1e-4,
                                   atol=1e-5)


def test_threshold_is_dlib_two_bin_histogram():
    m1, lv1, m2, lv2 = _posteriors(seed=1, batch=256)
    delta = pairwise_kl(*[tf.constant(a, tf.float32) for a in (m1, lv1, m2, lv2)])
    # dlib aggregate_argmax: the upper of two equal-width bins over [min, max] is not averaged.
    bins = tf.map_fn(lambda d: tf.histogram_fixed_width_bins(
        d, [tf.reduce_min(d), tf.reduce_max(d)], nbins=2), delta, fn_output_signature=tf.int32)
    np.testing.assert_array_equal(shared_latents(delta).numpy(), bins.numpy() == 0)
    # The paper's form: shared iff δ_j < τ = ½ (max δ + min δ).
    d = delta.numpy()
    tau = 0.5 * (d.max(1) + d.min(1))
    np.testing.assert_array_equal(shared_latents(delta).numpy(), d < tau[:, None])
    with pytest.raises(ValueError, match="aggregation"):
        aggregate_posteriors(*[tf.zeros([2, 3])] * 4, aggregation="poe")


def test_pair_loss_averages_the_two_images_like_dlib(squares):
    model = _tiny(beta=2.0)
    x1, x2, *_ = paired_batch_at(squares, 16, 0, 0, k=1)
    out = model.forward_pair(x1, x2)
    terms = model.compute_pair_terms(x1, x2)  # same step seed: the same noise
    nll = [kd.losses.negative_log_likelihood(x, out[f"logits{i}"]).numpy()
           for i, x in ((1, x1), (2, x2))]
    kl = [kd.losses.gaussian_kl(out[f"mean{i}"], out[f"log_var{i}"]).numpy() for i in (1, 2)]
    np.testing.assert_allclose(terms["reconstruction"], 0.5 * nll[0].mean() + 0.5 * nll[1].mean(),
                               rtol=1e-5)
    np.testing.assert_allclose(terms["kl"], 0.5 * kl[0].mean() + 0.5 * kl[1].mean(), rtol=1e-5)
    np.testing.assert_allclose(terms["loss"], terms["reconstruction"] + 2.0 * terms["kl"],
                               rtol=1e-5)
    shared = out["shared"].numpy()
    np.testing.assert_allclose(terms["shared"], shared.sum(1).mean(), rtol=1e-6)
    np.testing.assert_allclose(terms["delta_max"], out["delta"].numpy().max(1).mean(), rtol=1e-5)
    # The two images draw independent noise, also on the shared latents.
    eps1 = (out["z1"] - out["mean1"]).numpy()[shared]
    eps2 = (out["z2"] - out["mean2"]).numpy()[shared]
    assert shared.any() and not np.allclose(eps1, eps2)
    # z is drawn from the aggregated posterior (dlib's `sample_from_latent_distribution`
    # of the averaged parameters), not from each image's own: with the step's noise
    # redrawn, the aggregated parameters give z and the image's own do not.
    for i in (1, 2):
        stream = i - 1
        aggregated = model._reparameterize_stream(out[f"mean{i}"], out[f"log_var{i}"], stream)
        own = model._reparameterize_stream(out[f"posterior_mean{i}"],
                                           out[f"posterior_log_var{i}"], stream)
        np.testing.assert_allclose(out[f"z{i}"], aggregated, rtol=1e-5, atol=1e-6)
        assert not np.allclose(out[f"z{i}"].numpy()[shared], own.numpy()[shared], atol=1e-4)
    # The representation is the encoder alone.
    np.testing.assert_array_equal(model.encode(x1)[0], out["posterior_mean1"])


# ---------------------------------------------------------------- training
@pytest.mark.parametrize("cls", [AdaGVAE, AdaMLVAE])
def test_training_decreases_the_loss(squares, cls):
    model = _tiny(cls)
    x1, x2, *_ = paired_batch_at(squares, 64, 99, 0, k="random")
    before = model.evaluate(x1, x2, batch_size=64, verbose=0, return_dict=True)
    history = model.fit(paired_batches(squares, 32, k="random", seed=0), steps_per_epoch=25,
                        epochs=1, shuffle=False, verbose=0)
    after = model.evaluate(x1, x2, batch_size=64, verbose=0, return_dict=True)
    assert set(history.history) == {"loss", "reconstruction", "kl", "shared", "delta_mean",
                                    "delta_max"}
    for value in after.values():
        assert np.isfinite(value)
    assert 0.0 <= after["shared"] <= 4.0 and after["delta_max"] >= after["delta_mean"] >= 0.0
    assert after["loss"] < 0.8 * before["loss"]
    # Images alone: the β-VAE terms under each image's own posterior.
    single = model.evaluate(x1, batch_size=64, verbose=0, return_dict=True)
    assert set(single) == {"loss", "reconstruction", "kl"} and np.isfinite(single["loss"])


@pytest.mark.bad_input
def test_round_trip_and_resume(squares, tmp_path):
    for cls, aggregation in ((AdaGVAE, "gvae"), (AdaMLVAE, "mlvae")):
        model = _tiny(cls, beta=3.0)
        assert model.aggregation == aggregation and float(model.beta.numpy()) == 3.0
        x1, x2, *_ = paired_batch_at(squares, 32, 0, 0, k=1)
        model.fit(x1, x2, batch_size=16, epochs=1, shuffle=False, verbose=0)
        model.beta.assign(1.5)  # annealed by a callback
        path = str(tmp_path / f"{aggregation}.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        assert type(loaded) is cls and loaded.get_config() == model.get_config()
        assert loaded.get_config()["aggregation"] == aggregation
        assert float(loaded.beta.numpy()) == 1.5
        np.testing.assert_array_equal(loaded.encode(x1)[0], model.encode(x1)[0])
        if cls is AdaGVAE:  # resuming from the file continues as the original run would
            model.fit(x1, x2, batch_size=16, epochs=1, shuffle=False, verbose=0)
            loaded.fit(x1, x2, batch_size=16, epochs=1, shuffle=False, verbose=0)
            for a, b in zip(model.weights, loaded.weights):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    assert AdaGVAE.from_config(AdaMLVAE(latent_dim=2, input_shape=(12, 12, 1),
                                        architecture="mlp").get_config()).aggregation == "mlvae"


@pytest.mark.bad_input
def test_model_errors(squares):
    with pytest.raises(ValueError, match=r"`aggregation` must be 'gvae'.*or 'mlvae'.*got 'poe'"):
        AdaGVAE(aggregation="poe", input_shape=(12, 12, 1), architecture="mlp")
    with pytest.raises(ValueError, match="AdaMLVAE uses aggregation='mlvae'"):
        AdaMLVAE(aggregation="gvae", input_shape=(12, 12, 1), architecture="mlp")
    with pytest.raises(ValueError, match="beta"):
        AdaGVAE(beta=-1.0, input_shape=(12, 12, 1), architecture="mlp")
    model = _tiny()
    x1, x2, *_ = paired_batch_at(squares, 8, 0, 0)
    with pytest.raises(ValueError, match=r"trains on pairs `\(x1, x2\)`.*paired_batches"):
        model.train_step(tf.constant(x1))
    with pytest.raises(ValueError, match="same number of images, got 8 and 4"):
        model.train_step((tf.constant(x1), tf.constant(x2[:4])))
    with pytest.raises(ValueError, match="tuple of 3 elements"):
        model.train_step((x1, x2, x2))
    with pytest.raises(ValueError, match=r"shape \[batch, 12, 12, 1\]"):
        model.train_step((x1, np.zeros((8, 10, 10, 1), np.float32)))
