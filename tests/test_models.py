import math

import keras
import numpy as np
import pytest

import kerasdis as kd

ALL_MODELS = {
    "vae": lambda: kd.models.VAE(seed=0),
    "beta_vae": lambda: kd.models.BetaVAE(beta=4.0, seed=0),
    "annealed_vae": lambda: kd.models.AnnealedVAE(capacity_steps=100, seed=0),
    "beta_tcvae_mss": lambda: kd.models.BetaTCVAE(beta=6.0, dataset_size=737_280, seed=0),
    "beta_tcvae_mws": lambda: kd.models.BetaTCVAE(beta=6.0, dataset_size=737_280, estimator="mws", seed=0),
    "factor_vae": lambda: kd.models.FactorVAE(seed=0),
    "dip_vae_i": lambda: kd.models.DIPVAE(variant="i", seed=0),
    "dip_vae_ii": lambda: kd.models.DIPVAE(variant="ii", seed=0),
}

EXPECTED_TERMS = {
    "annealed_vae": {"capacity"},
    "beta_tcvae_mss": {"mi", "tc", "dwkl"},
    "beta_tcvae_mws": {"mi", "tc", "dwkl"},
    "factor_vae": {"tc", "disc_loss", "disc_accuracy"},
    "dip_vae_i": {"dip", "dip_offdiag", "dip_diag"},
    "dip_vae_ii": {"dip", "dip_offdiag", "dip_diag"},
}


def test_conv_parameter_count_matches_locatello():
    # Encoder: conv 4x4x32 (544) + 4x4x32 (16,416) + 2x2x64 (8,256) + 2x2x64 (16,448)
    #   + FC 1024->256 (262,400) + two heads 256->10 (5,140) = 309,204.
    # Decoder: FC 10->256 (2,816) + 256->1024 (263,168) + deconv 4x4x64 (65,600)
    #   + 4x4x32 (32,800) + 4x4x32 (16,416) + 4x4x1 (513) = 381,313.
    encoder = kd.networks.build_encoder((64, 64, 1), 10, "conv")
    decoder = kd.networks.build_decoder((64, 64, 1), 10, "conv")
    assert encoder.count_params() == 309_204
    assert decoder.count_params() == 381_313
    model = kd.models.BetaVAE()
    assert sum(math.prod(w.shape) for w in model.trainable_weights) == 690_517


def test_mlp_architecture_any_shape():
    model = kd.models.VAE(input_shape=(28, 28, 1), architecture="mlp", latent_dim=3)
    mean, log_var = model.encode(np.zeros((2, 28, 28, 1), np.float32))
    assert mean.shape == (2, 3) and log_var.shape == (2, 3)
    assert model.decode(np.zeros((2, 3), np.float32)).shape == (2, 28, 28, 1)


@pytest.mark.parametrize("filters,kernel,stride,activation",
                         [(1, 4, 2, None), (3, 4, 2, "relu"), (2, 6, 2, None), (1, 2, 2, None)])
def test_overlap_add_conv_transpose_is_conv2d_transpose(filters, kernel, stride, activation):
    """Same weights, same outputs and same gradients as keras.layers.Conv2DTranspose."""
    import tensorflow as tf

    kwargs = dict(strides=stride, padding="same", activation=activation)
    fast = kd.networks.Conv2DTranspose(filters, kernel, **kwargs)
    reference = keras.layers.Conv2DTranspose(filters, kernel, **kwargs)
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 8, 8, 5)).astype("float32"))
    fast.build(x.shape)
    reference.build(x.shape)
    fast.set_weights([w + 0.1 for w in reference.get_weights()])
    reference.set_weights(fast.get_weights())
    targets = tf.constant(np.random.default_rng(1).normal(size=(3, 8 * stride, 8 * stride, filters)),
                          dtype="float32")

    def outputs_and_gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum((y - targets) ** 2)
        return [y.numpy()] + [g.numpy() for g in tape.gradient(loss, [x] + layer.trainable_weights)]

    for got, want in zip(outputs_and_gradients(fast), outputs_and_gradients(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert tuple(fast.compute_output_shape((None, 8, 8, 5))) == (None, 8 * stride, 8 * stride, filters)


def test_one_channel_decoder_uses_the_overlap_add_layer():
    """Only for one channel (measured faster); the weight paths stay Keras' own."""
    decoder = kd.networks.build_decoder((64, 64, 1), 10, "conv")
    assert isinstance(decoder.get_layer("logits"), kd.networks.Conv2DTranspose)
    rgb = kd.networks.build_decoder((64, 64, 3), 10, "conv")
    assert type(rgb.get_layer("logits")) is keras.layers.Conv2DTranspose


def test_factor_vae_discriminator_layout():
    disc = kd.networks.build_discriminator(10)
    dense = [l for l in disc.layers if isinstance(l, keras.layers.Dense)]
    assert [l.units for l in dense] == [1000] * 6 + [2]


@pytest.mark.parametrize("name", ["vae", "beta_vae"])
def test_fit_lowers_the_loss(name, binary_images):
    model = ALL_MODELS[name]()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(binary_images, batch_size=32, epochs=4, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0]
    assert {"loss", "reconstruction", "kl"} <= set(history.history)


@pytest.mark.parametrize("name", sorted(ALL_MODELS))
def test_every_model_trains_and_reports_its_terms(name, binary_images):
    model = ALL_MODELS[name]()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(binary_images[:128], batch_size=32, epochs=2, shuffle=False, verbose=0)
    names = {"loss", "reconstruction", "kl"} | EXPECTED_TERMS.get(name, set())
    assert names <= set(history.history)
    for key in names:
        assert np.all(np.isfinite(history.history[key])), key
    assert history.history["reconstruction"][-1] < history.history["reconstruction"][0]
    ev = model.evaluate(binary_images[:64], batch_size=32, verbose=0, return_dict=True)
    assert names <= set(ev)


# The objective of each paper, recomputed in numpy from the pass the model made.
def _numpy_terms(x, out):
    x, logits = np.asarray(x, np.float64), np.asarray(out["logits"], np.float64)
    mean, log_var = np.asarray(out["mean"], np.float64), np.asarray(out["log_var"], np.float64)
    bernoulli_nll = np.logaddexp(0.0, logits) - x * logits  # -log Bernoulli(x; sigmoid(logits))
    return {"reconstruction": bernoulli_nll.reshape(len(x), -1).sum(axis=1).mean(),
            "kl": np.mean(0.5 * np.sum(mean ** 2 + np.exp(log_var) - 1.0 - log_var, axis=1)),
            "mean": mean, "log_var": log_var, "z": np.asarray(out["z"], np.float64)}


def _dip_penalty(mean, log_var, variant, lambda_od, lambda_d):
    """Kumar et al. (2018), eq. 6 (i: Cov[mu]) and eq. 7 (ii: Cov[mu] + E[diag sigma^2])."""
    cov = np.cov(mean, rowvar=False, bias=True)
    if variant == "ii":
        cov = cov + np.diag(np.exp(log_var).mean(axis=0))
    off = cov - np.diag(np.diag(cov))
    return lambda_od * np.sum(off ** 2) + lambda_d * np.sum((np.diag(cov) - 1.0) ** 2)


OBJECTIVES = {
    # name: (model, loss from the numpy terms t and the model's own reported terms r)
    "beta_vae": (lambda: kd.models.BetaVAE(beta=4.0, seed=0),
                 lambda m, t, r: t["reconstruction"] + 4.0 * t["kl"]),
    "beta_tcvae": (lambda: kd.models.BetaTCVAE(beta=6.0, alpha=2.0, gamma=0.5,
                                               dataset_size=1_000, seed=0),
                   lambda m, t, r: (t["reconstruction"] + 2.0 * t["mi"] + 6.0 * t["tc"]
                                    + 0.5 * t["dwkl"])),
    "annealed_vae": (lambda: kd.models.AnnealedVAE(gamma=100.0, capacity_max=25.0,
                                                   capacity_steps=100, seed=0),
                     lambda m, t, r: t["reconstruction"] + 100.0 * abs(t["kl"] - 12.5)),
    "dip_vae_i": (lambda: kd.models.DIPVAE(variant="i", lambda_od=3.0, seed=0),
                  lambda m, t, r: (t["reconstruction"] + t["kl"]
                                   + _dip_penalty(t["mean"], t["log_var"], "i", 3.0, 30.0))),
    "dip_vae_ii": (lambda: kd.models.DIPVAE(variant="ii", lambda_od=3.0, seed=0),
                   lambda m, t, r: (t["reconstruction"] + t["kl"]
                                    + _dip_penalty(t["mean"], t["log_var"], "ii", 3.0, 3.0))),
    "factor_vae": (lambda: kd.models.FactorVAE(gamma=35.0, seed=0),
                   lambda m, t, r: t["reconstruction"] + t["kl"] + 35.0 * t["tc"]),
}


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_loss_is_the_papers_objective(name, binary_images):
    build, objective = OBJECTIVES[name]
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.iterations.assign(50)  # AnnealedVAE: C(50) = 25 * 50 / 100 = 12.5
    # Spread the untrained posteriors (means of a few units, variances from e^-3 to e^1)
    # so that every term is large enough for a wrong weight to show.
    for layer, scale, shift in (("mean", 300.0, 0.0), ("log_var", 100.0, -1.0)):
        kernel, bias = model.encoder.get_layer(layer).weights
        kernel.assign(kernel * scale)
        bias.assign(bias + shift)
    passes = []
    forward = model.forward
    model.forward = lambda x, training=False: passes.append(forward(x, training)) or passes[-1]
    x = binary_images[:16]
    reported = {k: float(v) for k, v in model.compute_terms(x, training=True).items()}
    assert len(passes) == 1
    terms = _numpy_terms(x, passes[0])
    assert reported["reconstruction"] == pytest.approx(terms["reconstruction"], rel=1e-5)
    assert reported["kl"] == pytest.approx(terms["kl"], rel=1e-5)
    assert terms["kl"] > 1.0 and np.ptp(terms["log_var"]) > 1.0
    if name == "beta_tcvae":  # Chen et al. eq. 2 terms on this batch (brute force in test_losses)
        from kerasdis import losses

        terms.update({k: float(v) for k, v in losses.decomposed_kl_terms(
            *(passes[0][k] for k in ("z", "mean", "log_var")), 1_000, "mss").items()})
    if name == "factor_vae":  # Kim & Mnih: TC ~ E[log D(z) / (1 - D(z))], class 0 = real codes
        logits = np.asarray(model.discriminator(passes[0]["z"]), np.float64)
        terms["tc"] = np.mean(logits[:, 0] - logits[:, 1])
        assert reported["tc"] == pytest.approx(terms["tc"], rel=1e-5, abs=1e-6)
    if name == "annealed_vae":
        assert reported["capacity"] == pytest.approx(12.5)
    assert reported["loss"] == pytest.approx(objective(model, terms, reported), rel=1e-5)


def test_public_api_shapes(binary_images):
    model = kd.models.BetaVAE(latent_dim=6, seed=0)
    x = binary_images[:5]
    mean, log_var = model.encode(x)
    assert mean.shape == (5, 6) and log_var.shape == (5, 6)
    q = model.posterior(x)
    assert q.batch_shape == (5,) and q.event_shape == (6,)
    out = model.decode(np.zeros((5, 6), np.float32))
    assert out.shape == (5, 64, 64, 1)
    assert float(np.min(out)) >= 0 and float(np.max(out)) <= 1
    assert model.reconstruct(x).shape == x.shape
    s1, s2 = model.sample(3, seed=7), model.sample(3, seed=7)
    np.testing.assert_array_equal(s1, s2)
    assert model(x).shape == x.shape
    # uint8 images are accepted and scaled to [0, 1]
    np.testing.assert_allclose(model.encode((x * 255).astype(np.uint8))[0], mean, atol=1e-5)


def test_annealed_vae_capacity_follows_the_step_count(binary_images, tmp_path):
    model = kd.models.AnnealedVAE(capacity_max=20.0, capacity_steps=8, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(binary_images[:64], batch_size=16, epochs=1, verbose=0)  # steps 0-3
    # The last of the 4 batches ran at optimizer step 3: C = 20 * 3 / 8.
    assert float(model.capacity.numpy()) == pytest.approx(7.5)
    assert history.history["capacity"][0] == pytest.approx(20.0 * 1.5 / 8)  # mean of 0..3
    path = str(tmp_path / "annealed.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert float(restored.capacity.numpy()) == pytest.approx(7.5)  # saved with the weights
    model.fit(binary_images[:128], batch_size=16, epochs=1, verbose=0)  # steps 4-11
    assert float(model.capacity.numpy()) == pytest.approx(20.0)


def test_annealed_vae_capacity_can_be_driven_by_a_callback(binary_images):
    model = kd.models.AnnealedVAE(capacity_max=20.0, capacity_steps=None, seed=0)
    assert float(model.capacity.numpy()) == 20.0  # no schedule: constant C_max...
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(binary_images[:32], batch_size=16, epochs=1, verbose=0)
    assert float(model.capacity.numpy()) == 20.0
    # ...or whatever a callback assigns.
    schedule = kd.callbacks.WeightAnnealing("capacity", target=5.0, steps=4)
    history = model.fit(binary_images[:64], batch_size=16, epochs=1, verbose=0,
                        callbacks=[schedule])  # optimizer steps 2-5
    assert float(model.capacity.numpy()) == 5.0
    assert history.history["capacity"][0] == 5.0  # WeightAnnealing logs the value it set
    assert kd.models.AnnealedVAE.from_config(model.get_config()).capacity_steps is None


def test_factor_vae_permute_dims_permutes_each_column():
    from kerasdis.models.factor_vae import permute_dims

    z = np.arange(40, dtype=np.float32).reshape(10, 4)
    out = permute_dims(z, seed=3).numpy()
    for j in range(4):
        assert sorted(out[:, j]) == sorted(z[:, j])
    orders = [tuple(np.argsort(out[:, j])) for j in range(4)]
    assert len(set(orders)) > 1  # columns are permuted independently


@pytest.mark.parametrize("samples,permuted", [("split", 8), ("batch", 16)])
def test_factor_vae_discriminator_samples(samples, permuted, binary_images, monkeypatch):
    """"split": the discriminator sees half the batch real and the other half permuted;
    "batch": the whole batch real and its whole permutation (m of each per batch of m)."""
    from kerasdis.models import factor_vae

    permuted_rows = []
    real_permute = factor_vae.permute_dims

    def recording_permute(z, seed=(0, 0)):
        permuted_rows.append(int(z.shape[0]))
        return real_permute(z, seed=seed)

    monkeypatch.setattr(factor_vae, "permute_dims", recording_permute)
    model = kd.models.FactorVAE(gamma=10.0, discriminator_units=16, seed=0,
                                discriminator_samples=samples)
    model.compile()
    x = binary_images[:16]
    terms = model.compute_terms(x, training=True)
    assert permuted_rows == [permuted]  # of a batch of 16
    assert 0.0 <= float(terms["disc_accuracy"]) <= 1.0
    assert np.isfinite(float(terms["tc"])) and np.isfinite(float(terms["disc_loss"]))
    # the same TC term either way: D's logit difference on every code of the batch
    z = model.forward(x, training=True)["z"]
    logits = model.discriminator(z)
    np.testing.assert_allclose(float(terms["tc"]),
                               float(np.mean(logits[:, 0] - logits[:, 1])), rtol=1e-5)
    history = model.fit(x, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["disc_loss"][0])
    again = kd.models.FactorVAE.from_config(model.get_config())
    assert again.discriminator_samples == samples


@pytest.mark.bad_input
def test_factor_vae_configs_without_discriminator_samples_keep_the_split():
    config = kd.models.FactorVAE(seed=0).get_config()
    config.pop("discriminator_samples")  # a config saved before the option existed
    assert kd.models.FactorVAE.from_config(config).discriminator_samples == "split"
    with pytest.raises(ValueError, match="discriminator_samples.*'halves'"):
        kd.models.FactorVAE(discriminator_samples="halves")


def test_beta_annealing_uses_the_optimizer_step(binary_images):
    model = kd.models.BetaVAE(beta=4.0, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    annealing = kd.callbacks.BetaAnnealing(target=4.0, steps=10)
    model.fit(binary_images[:64], batch_size=16, epochs=1, verbose=0, callbacks=[annealing])
    # β is set at the start of each batch: the last of 4 batches ran at step 3.
    assert float(model.beta.numpy()) == pytest.approx(4.0 * 3 / 10)
    # A new fit (as after a resume) continues from the optimizer's step count.
    model.fit(binary_images[:32], batch_size=16, epochs=1, verbose=0, callbacks=[annealing])
    assert float(model.beta.numpy()) == pytest.approx(4.0 * 5 / 10)
    assert annealing.value_at(1000) == 4.0


@pytest.mark.bad_input
def test_weight_annealing_drives_other_weights(binary_images):
    model = kd.models.FactorVAE(gamma=10.0, seed=0)
    model.compile()
    cb = kd.callbacks.WeightAnnealing("gamma", target=10.0, steps=2)
    model.fit(binary_images[:64], batch_size=16, epochs=1, verbose=0, callbacks=[cb])
    assert float(model.gamma.numpy()) == pytest.approx(10.0)
    bad = kd.callbacks.WeightAnnealing("capacity_max", target=1.0, steps=2)
    with pytest.raises(ValueError, match="weight"):
        model.fit(binary_images[:16], batch_size=16, epochs=1, verbose=0, callbacks=[bad])


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: kd.models.VAE(latent_dim=0), "latent_dim"),
        (lambda: kd.models.VAE(latent_dim=2.5), "latent_dim"),
        (lambda: kd.models.BetaVAE(beta=-1.0), "beta"),
        (lambda: kd.models.VAE(likelihood="poisson"), "likelihood"),
        (lambda: kd.models.VAE(architecture="resnet"), "architecture"),
        (lambda: kd.models.VAE(input_shape=(32, 32, 1)), "input_shape"),
        (lambda: kd.models.VAE(input_shape=(64, 64)), "input_shape"),
        (lambda: kd.models.BetaTCVAE(), "dataset_size"),
        (lambda: kd.models.BetaTCVAE(dataset_size=0), "dataset_size"),
        (lambda: kd.models.BetaTCVAE(dataset_size=10, estimator="iwae"), "estimator"),
        (lambda: kd.models.BetaTCVAE(dataset_size=10, gamma=-1), "gamma"),
        (lambda: kd.models.DIPVAE(variant="iii"), "variant"),
        (lambda: kd.models.DIPVAE(lambda_od=-1), "lambda_od"),
        (lambda: kd.models.FactorVAE(gamma=-2), "gamma"),
        (lambda: kd.models.AnnealedVAE(capacity_max=-1), "capacity_max"),
        (lambda: kd.callbacks.BetaAnnealing(target=4.0, steps=0), "steps"),
        (lambda: kd.callbacks.BetaAnnealing(target=-4.0, steps=10), "target"),
    ],
)
@pytest.mark.bad_input
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.bad_input
def test_wrong_image_shape_is_refused_before_training():
    model = kd.models.VAE()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="x"):
        model.fit(np.zeros((8, 32, 32, 1), np.float32), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="shape"):
        model.encode(np.zeros((8, 64, 64), np.float32))
    with pytest.raises(ValueError, match="z"):
        model.decode(np.zeros((2, 3), np.float32))


@pytest.mark.bad_input
def test_tiny_batches_refused_by_batch_estimators():
    x = np.zeros((4, 64, 64, 1), np.float32)
    tc = kd.models.BetaTCVAE(dataset_size=10)
    tc.compile(optimizer="adam")
    with pytest.raises(ValueError, match="at least 2"):
        tc.fit(x, batch_size=1, verbose=0)
    fv = kd.models.FactorVAE()
    fv.compile()
    with pytest.raises(ValueError, match="at least 4"):
        fv.fit(x, batch_size=2, verbose=0)
