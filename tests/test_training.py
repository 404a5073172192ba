import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import kerasdis as kd
from kerasdis import training

TINY = {
    "model": "beta_vae",
    "model_args": {"beta": 4.0, "latent_dim": 4},
    "dataset": "dsprites",
    "steps": 20,
    "batch_size": 8,
    "learning_rate": 1e-3,
    "seed": 3,
    "checkpoint_every": 10,
}


def _weights(model):
    return [w.numpy() for w in model.weights]


@pytest.mark.parametrize("name,args", [("beta_vae", {"beta": 4.0}), ("factor_vae", {})])
@pytest.mark.fault
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, name, args,
                                                               interrupt_at):
    """Training interrupted at step 15 resumes from the step-10 checkpoint to the same weights."""
    recipe = {**TINY, "model": name, "model_args": {**args, "latent_dim": 4}}
    straight, _ = training.train(recipe, str(tmp_path / "a"), verbose=0)
    with pytest.raises(KeyboardInterrupt):
        training.train(recipe, str(tmp_path / "b"), verbose=0, callbacks=[interrupt_at(15)])
    state = json.loads((tmp_path / "b" / "state.json").read_text())
    assert state["step"] == 10
    resumed, summary = training.train(recipe, str(tmp_path / "b"), resume=True, verbose=0)
    assert summary["steps"] == 20
    for a, b in zip(_weights(straight), _weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_training_batches_depend_only_on_seed_and_step():
    ds = kd.data.load("dsprites")
    first = list(training.training_batches(ds, 4, seed=1).take(3).as_numpy_iterator())
    later = list(training.training_batches(ds, 4, seed=1, first_step=2).take(1).as_numpy_iterator())
    np.testing.assert_array_equal(first[2], later[0])
    assert not np.array_equal(first[0], first[1])


@pytest.mark.bad_input
def test_existing_run_directory_is_protected(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="resume"):
        training.train(TINY, str(out), verbose=0)
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.bad_input
def test_resume_with_other_settings_is_refused(tmp_path):
    training.train({**TINY, "steps": 10}, str(tmp_path), verbose=0)
    with pytest.raises(ValueError, match="recipe"):
        training.train({**TINY, "steps": 10, "seed": 4}, str(tmp_path), resume=True, verbose=0)


@pytest.mark.parametrize(
    "change,match",
    [
        ({"model": "gan"}, "model"),
        ({"dataset": "mnist"}, "dataset"),
        ({"steps": 0}, "steps"),
        ({"batch_size": -1}, "batch_size"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"lr": 1e-3}, "Unknown recipe keys"),
        ({"discriminator_learning_rate": 1e-4}, "does not take it"),
        ({"model": "factor_vae", "discriminator_learning_rate": 0}, "positive number"),
        ({"model": "factor_vae", "discriminator_learning_rate": "tied"}, "positive number"),
    ],
)
@pytest.mark.bad_input
def test_bad_recipes(change, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        training.train({**TINY, **change}, str(tmp_path / "x"), verbose=0)
    assert not (tmp_path / "x" / "checkpoint.keras").exists()


class _NaNBeta(keras.callbacks.Callback):
    """Sets β to NaN before the batch of optimizer step `at_step`: a known divergence."""

    def __init__(self, at_step):
        super().__init__()
        self.at_step = at_step

    def on_train_batch_begin(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.at_step:
            self.model.beta.assign(float("nan"))


@pytest.mark.fault
def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    """β set to NaN at step 12: training stops at step 13, keeps the finite step-10 checkpoint."""
    recipe = {**TINY, "steps": 40}
    with pytest.raises(FloatingPointError, match=r"stopped at step 13\b.*non-finite"):
        training.train(recipe, str(tmp_path), verbose=0, tensorboard=False,
                       callbacks=[_NaNBeta(12)])
    # the step-20 checkpoint of the diverged epoch was never written over the step-10 one
    assert json.loads((tmp_path / "state.json").read_text())["step"] == 10
    model = keras.saving.load_model(str(tmp_path / "checkpoint.keras"))
    assert int(model.optimizer.iterations.numpy()) == 10
    assert all(np.all(np.isfinite(w)) for w in _weights(model))
    assert not (tmp_path / "model.keras").exists()


@pytest.mark.slow
@pytest.mark.fault
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    """A CLI run killed with SIGKILL and resumed ends with an uninterrupted run's weights."""
    args = ["--model", "beta_vae", "--latent-dim", "4", "--steps", "60", "--batch-size", "8",
            "--lr", "0.001", "--seed", "5", "--checkpoint-every", "10", "--verbose", "0",
            "--eval-metrics"]  # no evaluation at the end: this test is about the weights
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-m", "kerasdis.cli", "train", *args]
    subprocess.run([*cmd, "--out", str(tmp_path / "straight")], check=True, env=env, timeout=600)
    victim = subprocess.Popen([*cmd, "--out", str(tmp_path / "killed")], env=env)
    state = tmp_path / "killed" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text())["step"] >= 20:
            break
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    step = json.loads(state.read_text())["step"]
    assert 20 <= step < 60
    subprocess.run([*cmd, "--out", str(tmp_path / "killed"), "--resume"], check=True, env=env,
                   timeout=600)
    assert not [p for p in os.listdir(tmp_path / "killed") if ".tmp-" in p]  # cleaned on resume
    a = keras.saving.load_model(str(tmp_path / "straight" / "model.keras"))
    b = keras.saving.load_model(str(tmp_path / "killed" / "model.keras"))
    assert int(b.optimizer.iterations.numpy()) == 60
    for x, y in zip(_weights(a), _weights(b)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_recipe_optimizer_adagrad_trains_and_resumes_with_its_state(tmp_path, interrupt_at):
    import keras

    from kerasdis import training

    recipe = {"model": "beta_vae", "model_args": {"latent_dim": 3}, "steps": 4, "batch_size": 8,
              "checkpoint_every": 2, "optimizer": "adagrad", "learning_rate": 1e-2}
    model, summary = training.train(recipe, str(tmp_path / "run"), verbose=0, tensorboard=False)
    assert isinstance(model.optimizer, keras.optimizers.Adagrad)
    assert summary["recipe"]["optimizer"] == "adagrad" and summary["steps"] == 4
    # interrupted after step 3, resumed from the step-2 checkpoint: the accumulators
    # reloaded with it make steps 3 and 4 those of the uninterrupted run
    with pytest.raises(KeyboardInterrupt):
        training.train(recipe, str(tmp_path / "cut"), verbose=0, tensorboard=False,
                       callbacks=[interrupt_at(3)])
    reloaded = keras.saving.load_model(str(tmp_path / "cut" / "checkpoint.keras"))
    assert isinstance(reloaded.optimizer, keras.optimizers.Adagrad)
    assert float(reloaded.optimizer.learning_rate) == pytest.approx(1e-2)
    assert int(reloaded.optimizer.iterations.numpy()) == 2
    resumed, summary = training.train(recipe, str(tmp_path / "cut"), resume=True, verbose=0,
                                      tensorboard=False)
    assert summary["steps"] == 4
    for a, b in zip(_weights(model), _weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert len(model.optimizer.variables) == len(resumed.optimizer.variables)
    for a, b in zip(model.optimizer.variables, resumed.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_adagrad_zero_init_starts_its_accumulators_at_zero_as_duchi_et_al():
    import keras

    from kerasdis.models.base import recipe_optimizer

    gradient = np.array([1e-4, -1e-3, 0.5, 0.0], "float32")
    moved = {}
    for name in ("adagrad", "adagrad_zero_init"):
        weight = keras.Variable(np.zeros(4, "float32"))
        optimizer = recipe_optimizer(name, 1e-2)
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), weight)])
        moved[name] = -np.asarray(weight)
    # Duchi et al. (and Torch7, PyTorch): a first step of the learning rate times sign(g)
    np.testing.assert_allclose(moved["adagrad_zero_init"], 1e-2 * np.sign(gradient), rtol=1e-4)
    # Keras's accumulators start at 0.1: lr g / sqrt(0.1 + g^2), ~3.2 lr g for small g
    np.testing.assert_allclose(moved["adagrad"], 1e-2 * gradient / np.sqrt(0.1 + gradient**2),
                               rtol=1e-4)


def test_recipe_optimizer_adagrad_zero_init_checkpoints_its_settings_and_state(tmp_path):
    import keras

    from kerasdis import training

    recipe = {"model": "beta_vae", "model_args": {"latent_dim": 3, "architecture": "higgins2017"},
              "steps": 4, "batch_size": 8, "checkpoint_every": 2,
              "optimizer": "adagrad_zero_init", "learning_rate": 1e-2}
    model, summary = training.train(recipe, str(tmp_path / "run"), verbose=0, tensorboard=False)
    assert summary["steps"] == 4 and summary["recipe"]["optimizer"] == "adagrad_zero_init"
    # the checkpoint a run resumes from keeps the optimizer's settings and accumulators
    reloaded = keras.saving.load_model(str(tmp_path / "run" / "checkpoint.keras"))
    config = reloaded.optimizer.get_config()
    assert config["initial_accumulator_value"] == 0.0 and config["epsilon"] == 1e-20
    for saved, trained in zip(reloaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(trained))


@pytest.mark.bad_input
def test_recipe_rejects_an_unknown_optimizer_and_infogan_keeps_its_adams(tmp_path):
    from kerasdis import training
    from kerasdis.recipe import complete_recipe

    with pytest.raises(ValueError, match="`optimizer`"):
        complete_recipe({"optimizer": "sgd"})
    assert complete_recipe({})["optimizer"] == "adam"  # older recipes resume unchanged
    with pytest.raises(ValueError, match="InfoGAN"):
        training.train({"model": "infogan", "steps": 2, "batch_size": 8, "checkpoint_every": 2,
                        "optimizer": "adagrad"}, str(tmp_path / "gan"), verbose=0,
                       tensorboard=False)


def test_recipe_sets_factor_vaes_discriminator_learning_rate_and_checkpoints_it(tmp_path):
    from kerasdis.recipe import complete_recipe

    recipe = {"model": "factor_vae", "model_args": {"gamma": 10.0, "latent_dim": 4},
              "steps": 4, "batch_size": 8, "checkpoint_every": 2, "learning_rate": 5e-4,
              "discriminator_learning_rate": 5e-4}
    model, summary = training.train(recipe, str(tmp_path / "run"), verbose=0, tensorboard=False)
    assert summary["recipe"]["discriminator_learning_rate"] == 5e-4
    saved = json.loads((tmp_path / "run" / "recipe.json").read_text())
    assert saved["discriminator_learning_rate"] == 5e-4
    assert float(model.optimizer.learning_rate) == pytest.approx(5e-4)
    assert float(model.discriminator_optimizer.learning_rate) == pytest.approx(5e-4)
    reloaded = keras.saving.load_model(str(tmp_path / "run" / "checkpoint.keras"))
    assert float(reloaded.discriminator_optimizer.learning_rate) == pytest.approx(5e-4)
    assert float(reloaded.discriminator_optimizer.beta_1) == pytest.approx(0.5)
    # without the key, the discriminator keeps Kim & Mnih's 1e-4 whatever the VAE's rate
    assert complete_recipe({})["discriminator_learning_rate"] is None
    training.train({**TINY, "steps": 2, "checkpoint_every": 2}, str(tmp_path / "vae"), verbose=0,
                   tensorboard=False)  # an unset key is not written to recipe.json
    saved = json.loads((tmp_path / "vae" / "recipe.json").read_text())
    assert "discriminator_learning_rate" not in saved
    default = training.build_model(complete_recipe({**recipe, "discriminator_learning_rate": None}),
                                   kd.data.load("dsprites"))
    training.compile_model(default, {**recipe, "discriminator_learning_rate": None})
    assert float(default.discriminator_optimizer.learning_rate) == pytest.approx(1e-4)
