"""A model registered in a module outside kerasdis trains, tunes, evaluates, exports
and is published with no change inside kerasdis (`tests/user_objectives/`)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasdis as kd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from user_objectives.sparse_vae import SparseBetaVAE  # noqa: E402

TINY_RECIPE = {"model": "sparse_beta_vae", "model_args": {"latent_dim": 3, "l1": 0.5},
               "steps": 2, "batch_size": 8, "checkpoint_every": 1}


def test_registered_by_name():
    assert kd.models.get("sparse_beta_vae") is SparseBetaVAE
    assert "sparse_beta_vae" in kd.models.names()
    assert "sparse_beta_vae" not in kd.models.builtin_names()
    with pytest.raises(ValueError, match="already registered"):
        kd.models.register("sparse_beta_vae")(type("Other", (SparseBetaVAE,), {}))
    with pytest.raises(ValueError, match="no_such_model"):
        kd.models.get("no_such_model")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("user") / "run")
    model, summary = kd.training.train(TINY_RECIPE, out, verbose=0, tensorboard=False)
    return model, out, summary


def test_trains_and_reloads(run):
    model, out, summary = run
    assert isinstance(model, SparseBetaVAE) and summary["steps"] == 2
    assert "l1" in summary["final_logs"]
    reloaded = keras.saving.load_model(os.path.join(out, "model.keras"), safe_mode=True)
    assert isinstance(reloaded, SparseBetaVAE) and reloaded.l1 == 0.5


def test_evaluates_exports_and_publishes(run, tmp_path):
    model, out, _ = run
    ds = kd.data.load("dsprites")
    scores = kd.metrics.evaluate(model, ds, metrics=["discrete_mig"], verbose=0,
                                 options={"discrete_mig": {"num_train": 200}})
    assert 0.0 <= scores["discrete_mig"]["discrete_mig"] <= 1.0
    kd.export.saved_model(model, str(tmp_path / "saved"))
    assert os.path.isdir(tmp_path / "saved")
    preset = kd.zoo.publish(out, "sparse_test", metrics=scores, zoo_dir=str(tmp_path / "zoo"))
    loaded = SparseBetaVAE.from_preset(preset)
    x = ds.images_at(np.arange(4))
    np.testing.assert_allclose(loaded.encode(x)[0], model.encode(x)[0], atol=1e-6)
    assert kd.zoo.info(preset)["recipe"]["model"] == "sparse_beta_vae"


def test_searched_by_the_tuner(tmp_path):
    result = kd.tuning.search(
        "sparse_beta_vae", "dsprites", tuner="grid", objective="val_discrete_mig",
        directory=str(tmp_path), project_name="s", beta=[0.1], latent_dim=3,
        learning_rate=1e-3, steps_per_epoch=2, epochs=1, batch_size=8, max_trials=None,
        metric_options={"discrete_mig": {"num_train": 200}}, load_best_model=False)
    assert [r["status"] for r in result.table] == ["COMPLETED"]
    assert result.table[0]["beta"] == 0.1  # the searched weight is `l1`
    with open(os.path.join(tmp_path, "s", "search.json")) as f:
        assert json.load(f)["hypermodel"]["weight"] == "l1"


def test_command_line_imports_the_module(tmp_path):
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    base = [sys.executable, "-m", "kerasdis.cli", "train", "--model", "sparse_beta_vae",
            "--latent-dim", "3", "--steps", "2", "--batch-size", "8", "--checkpoint-every", "1",
            "--verbose", "0", "--eval-metrics", "--out", str(tmp_path / "cli_run")]
    refused = subprocess.run(base, capture_output=True, text=True, env=env, timeout=300)
    assert refused.returncode == 2 and "--import" in refused.stderr
    done = subprocess.run([*base, "--import", "user_objectives.sparse_vae"], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "cli_run" / "recipe.json") as f:
        assert json.load(f)["model"] == "sparse_beta_vae"
