"""bfloat16 mixed precision (`"mixed_precision": true`) and the fused Bernoulli loss."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasdis as kd
from kerasdis import losses, training

MIXED = {"mixed_precision": True}


def test_fused_bernoulli_loss_equals_the_tfp_log_prob():
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(0, 4, (3, 8, 8, 1)), tf.float32)
    for x in (rng.random((3, 8, 8, 1)) < 0.3, rng.random((3, 8, 8, 1))):  # binary and grey pixels
        x = tf.constant(x, tf.float32)
        tfp_nll = -losses.observation_distribution(logits, "bernoulli").log_prob(x)
        np.testing.assert_allclose(losses.negative_log_likelihood(x, logits), tfp_nll, rtol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: kd.models.BetaVAE(beta=4.0, seed=0),
    lambda: kd.models.BetaTCVAE(beta=6.0, dataset_size=737_280, seed=0),
    lambda: kd.models.FactorVAE(seed=0),
], ids=["beta_vae", "beta_tcvae", "factor_vae"])
def test_mixed_precision_computes_in_bfloat16_and_keeps_float32_losses(make, binary_images):
    x = binary_images[:32]
    reference = make()
    with training.dtype_policy(MIXED):
        model = make()
    assert keras.config.dtype_policy().name == "float32"  # the policy is restored
    assert model.encoder.get_layer("conv1").compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in model.trainable_weights)
    mean, log_var = model.encoder(x)
    assert mean.dtype == log_var.dtype == tf.float32
    assert model.decoder(mean).dtype == tf.float32
    # Same seed, same float32 weights: the loss before training agrees within bfloat16 rounding.
    for a, b in zip(reference.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    ref_terms = reference.compute_terms(tf.constant(x))
    terms = model.compute_terms(tf.constant(x))
    for name in ("loss", "reconstruction", "kl"):
        assert terms[name].dtype == tf.float32
        np.testing.assert_allclose(terms[name], ref_terms[name], rtol=0.02)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(x, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_mixed_precision_recipe_trains_resumes_and_reloads(tmp_path, interrupt_at):
    # tiny: bfloat16 is emulated (8-11x slower) on CPUs without AVX512-BF16 or AMX
    recipe = {"model": "beta_vae", "model_args": {"beta": 4.0, "latent_dim": 4},
              "steps": 4, "batch_size": 4, "checkpoint_every": 2, "seed": 1, **MIXED}
    straight, _ = training.train(recipe, str(tmp_path / "run"), verbose=0, tensorboard=False)
    assert straight.encoder.get_layer("conv1").compute_dtype == "bfloat16"
    with open(tmp_path / "run" / "recipe.json") as f:
        assert json.load(f)["mixed_precision"] is True
    # interrupted after step 3, resumed from the step-2 checkpoint
    with pytest.raises(KeyboardInterrupt):
        training.train(recipe, str(tmp_path / "cut"), verbose=0, tensorboard=False,
                       callbacks=[interrupt_at(3)])
    assert json.loads((tmp_path / "cut" / "state.json").read_text())["step"] == 2
    with pytest.raises(ValueError, match="recipe"):  # nor does it resume as a float32 run
        training.train({**recipe, "mixed_precision": False}, str(tmp_path / "cut"),
                       resume=True, verbose=0)
    resumed, summary = training.train(recipe, str(tmp_path / "cut"), resume=True, verbose=0,
                                      tensorboard=False)
    assert summary["steps"] == 4
    # the checkpoint is reloaded under the bfloat16 policy: the same steps as the straight run
    assert resumed.encoder.get_layer("conv1").compute_dtype == "bfloat16"
    assert resumed.decoder.get_layer("deconv1").compute_dtype == "bfloat16"
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    # a plain load, under the float32 global policy, computes as the model was saved
    assert keras.config.dtype_policy().name == "float32"
    loaded = keras.saving.load_model(str(tmp_path / "run" / "model.keras"), safe_mode=True)
    assert loaded.encoder.get_layer("conv1").compute_dtype == "bfloat16"
    assert keras.config.dtype_policy().name == "float32"
    for a, b in zip(straight.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_recipes_saved_without_the_key_still_resume(tmp_path):
    recipe = {"model": "beta_vae", "model_args": {"latent_dim": 4}, "steps": 4,
              "batch_size": 8, "checkpoint_every": 2}
    training.train({**recipe, "steps": 2}, str(tmp_path), verbose=0, tensorboard=False)
    saved = json.loads((tmp_path / "recipe.json").read_text())
    del saved["mixed_precision"]  # a run started before the option existed
    saved["steps"] = 4
    (tmp_path / "recipe.json").write_text(json.dumps(saved))
    _, summary = training.train(recipe, str(tmp_path), resume=True, verbose=0, tensorboard=False)
    assert summary["steps"] == 4


@pytest.mark.bad_input
def test_mixed_precision_must_be_a_bool():
    with pytest.raises(ValueError, match="mixed_precision"):
        training.complete_recipe({"mixed_precision": "yes"})
