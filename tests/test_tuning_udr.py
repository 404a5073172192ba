"""The label-free tuner objective `val_udr` (issue 26 item 4): several seeds per trial,
scored by the median UDR of the seeds.

Tiny settings: 3 steps of batch 8, one epoch, the mlp model on 24 16x16 images,
UDR on those 24 images.
"""

import argparse
import json
import math
import os

import numpy as np
import pytest

import kerasdis as kd
from kerasdis import tune_cli, tuning
from kerasdis.tuning import hypermodel as hypermodel_module

TINY = dict(steps_per_epoch=3, epochs=1, batch_size=8, latent_dim=4, learning_rate=1e-3,
            architecture="mlp", udr_options={"num_samples": 24})
PILOT_SEARCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "zoo", "pilots", "runs", "vae", "weight-conv-b64", "search.json")


def grid_images():
    """16x16 images of a 6x4 factor grid, one per grid point (as test_tuning's `small`)."""
    factors = np.array([(a, b) for a in range(6) for b in range(4)])
    images = np.zeros((len(factors), 16, 16, 1), np.float32)
    for i, (a, b) in enumerate(factors):
        images[i, 2 * a:2 * a + 5, 3 * b:3 * b + 4] = 1.0
    return images, factors


@pytest.fixture(scope="module")
def small():
    images, factors = grid_images()
    return kd.data.from_arrays(images, factors)


@pytest.fixture
def twin_record(monkeypatch):
    """Records, after every `SeedTwins` epoch, the seeds and optimizer steps of the twins."""
    record = []
    original = hypermodel_module.SeedTwins.on_epoch_end

    def spy(self, epoch, logs=None):
        original(self, epoch, logs)
        record.append({
            "epoch": epoch, "main_seed": self.model.seed,
            "twin_seeds": [twin.seed for twin in self.twins],
            "twin_steps": [int(twin.optimizer.iterations.numpy()) for twin in self.twins],
            "main_steps": int(self.model.optimizer.iterations.numpy()),
            "same_weights": [
                all(np.array_equal(a, b) for a, b in zip(self.model.get_weights(),
                                                          twin.get_weights()))
                for twin in self.twins],
            "twin_betas": [float(twin.beta.numpy()) for twin in self.twins],
            "scores": list(self.last_udr["scores"]), "logs": dict(logs)})

    monkeypatch.setattr(hypermodel_module.SeedTwins, "on_epoch_end", spy)
    return record


def test_val_udr_grid_search_over_beta(small, tmp_path, twin_record):
    result = tuning.search("beta_vae", small, tuner="grid", objective="val_udr",
                           max_trials=None, directory=str(tmp_path), project_name="udr",
                           beta=[1.0, 4.0], seeds_per_trial=2, **TINY)
    table = result.table
    assert [row["beta"] for row in table] == [1.0, 4.0]
    for row in table:
        assert row["status"] == "COMPLETED", row.get("message")
        assert 0.0 <= row["val_udr"] <= 1.0 and math.isfinite(row["val_udr"])
        assert row["val_udr_min"] <= row["val_udr"] <= row["val_udr_max"]
        assert row["score"] == pytest.approx(row["val_udr"])
        assert "val_discrete_mig" not in row  # no labelled metric was asked for
    # every trial trained its twin (seed 1) for the trial's epoch, beside seed 0
    assert len(twin_record) == 2
    for epoch in twin_record:
        assert epoch["main_seed"] == 0 and epoch["twin_seeds"] == [1]
        assert epoch["twin_steps"] == [3] and epoch["main_steps"] == 3
        assert epoch["same_weights"] == [False]
        assert epoch["logs"]["val_udr"] == pytest.approx(float(np.median(epoch["scores"])))
        # each seed's own UDR score, the trial's model first
        assert [epoch["logs"][f"val_udr_seed_{s}"] for s in (0, 1)] == pytest.approx(
            epoch["scores"])
    with open(os.path.join(result.project_dir, tuning.SEARCH_FILE)) as f:
        hypermodel = json.load(f)["hypermodel"]
    assert hypermodel["seeds_per_trial"] == 2 and hypermodel["udr_options"] == {"num_samples": 24}
    assert hypermodel["metrics"] == []
    best = max(table, key=lambda row: row["val_udr"])
    assert result.best_trial_id == best["trial_id"] and result.best_model.seed == 0
    assert os.path.getsize(os.path.join(result.project_dir, "tradeoff.png")) > 0


def test_val_udr_logs_every_seeds_supervised_scores(small, tmp_path, monkeypatch):
    """With `metrics`, each twin is scored like the trial's model, beside its UDR."""
    seen = {}
    original = hypermodel_module.SeedTwins.on_epoch_end

    def spy(self, epoch, logs=None):
        original(self, epoch, logs)
        seen["logs"] = dict(logs)
        for key, model in (("twin", self.twins[0]), ("model", self.model)):
            results = kd.metrics.evaluate(model, small, metrics=["discrete_mig"], seed=0,
                                          verbose=0)
            seen[key] = kd.callbacks.primary_scores(results)["discrete_mig"]

    monkeypatch.setattr(hypermodel_module.SeedTwins, "on_epoch_end", spy)
    result = tuning.search("beta_vae", small, tuner="grid", objective="val_udr",
                           max_trials=None, directory=str(tmp_path), beta=[4.0],
                           seeds_per_trial=2, metrics=("discrete_mig",),
                           load_best_model=False, **TINY)
    (row,) = result.table
    assert row["status"] == "COMPLETED", row.get("message")
    logs = seen["logs"]
    assert logs["val_discrete_mig_seed_0"] == logs["val_discrete_mig"] == pytest.approx(
        seen["model"])
    assert logs["val_discrete_mig_seed_1"] == pytest.approx(seen["twin"])
    assert row["val_discrete_mig_seed_1"] == pytest.approx(seen["twin"])
    assert {"val_udr_seed_0", "val_udr_seed_1"} <= set(row)


def test_val_udr_on_a_dataset_without_factors(tmp_path, twin_record):
    images, _ = grid_images()
    unlabelled = kd.data.from_arrays(images)  # no factors: no labelled metric could run
    result = tuning.search("beta_vae", unlabelled, tuner="random", objective="val_udr",
                           max_trials=1, directory=str(tmp_path), beta=2.0, seeds_per_trial=3,
                           beta_annealing_steps=6, load_best_model=False,
                           **{**TINY, "udr_options": {"num_samples": 24, "correlation": "lasso"}})
    (row,) = result.table
    assert row["status"] == "COMPLETED", row.get("message")
    assert 0.0 <= row["val_udr"] <= 1.0
    (epoch,) = twin_record
    assert epoch["twin_seeds"] == [1, 2] and epoch["twin_steps"] == [3, 3]
    # the twins are warmed up like the model: β = 2 * 2/6 at the last of their 3 steps
    assert epoch["twin_betas"] == pytest.approx([2.0 / 3, 2.0 / 3])
    assert row["beta_logged"] == pytest.approx(2.0 / 3)
    assert len(epoch["scores"]) == 3


@pytest.mark.bad_input
def test_val_udr_bad_input(small, tmp_path):
    def search(**kwargs):
        options = {"tuner": "random", "objective": "val_udr", "max_trials": 1,
                   "directory": str(tmp_path), "project_name": "bad", **TINY}
        options.update(kwargs)
        return tuning.search("beta_vae", small, **options)

    with pytest.raises(ValueError, match="seeds_per_trial"):
        search()  # one seed
    with pytest.raises(ValueError, match="seeds_per_trial"):
        search(seeds_per_trial=1)
    with pytest.raises(ValueError, match="seeds_per_trial"):
        search(seeds_per_trial=0)
    with pytest.raises(ValueError, match="hyperband"):
        search(seeds_per_trial=2, tuner="hyperband", max_trials=None)
    with pytest.raises(ValueError, match="udr_options.*unknown parameters"):
        search(seeds_per_trial=2, udr_options={"samples": 10})
    with pytest.raises(ValueError, match="num_samples"):
        search(seeds_per_trial=2, udr_options={"num_samples": 1})
    with pytest.raises(ValueError, match="udr_options.*correlation"):
        search(seeds_per_trial=2, udr_options={"correlation": "pearson"})
    with pytest.raises(ValueError, match="udr_options"):
        search(seeds_per_trial=2, udr_options=[("num_samples", 10)])
    with pytest.raises(ValueError, match="udr_options.*seeds_per_trial"):
        search(objective="val_discrete_mig", udr_options={"num_samples": 10})
    with pytest.raises(ValueError, match="'udr' compares several models"):
        search(objective="val_discrete_mig", metrics=("udr",), udr_options=None)
    # a labelled metric on a dataset without factors is still refused
    images, _ = grid_images()
    with pytest.raises(ValueError, match="ground-truth factors"):
        tuning.search("beta_vae", kd.data.from_arrays(images), objective="val_udr",
                      seeds_per_trial=2, metrics=("discrete_mig",), directory=str(tmp_path),
                      project_name="bad", **TINY)
    # all refused before anything was written
    assert not os.path.exists(tmp_path / "bad")


def test_describe_unchanged_for_one_seed(small):
    described = tuning.DisentanglementHyperModel(
        "beta_vae", small, architecture="mlp", seeds_per_trial=1).describe()
    assert "seeds_per_trial" not in described and "udr_options" not in described
    if os.path.exists(PILOT_SEARCH):  # the keys of a committed search still match
        with open(PILOT_SEARCH) as f:
            assert sorted(json.load(f)["hypermodel"]) == sorted(described)
    assert "val_udr" in tuning.OBJECTIVES and tuning.OBJECTIVES["val_udr"].direction == "max"


def test_cli_seeds_per_trial(tmp_path):
    parser = argparse.ArgumentParser()
    tune_cli.add_tune_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args([
        "tune", "--objective", "val_udr", "--seeds-per-trial", "3",
        "--udr-options", '{"num_samples": 500}', "--out", str(tmp_path / "s")])
    kwargs = tune_cli.search_kwargs_from_args(args)
    assert kwargs["objective"] == "val_udr" and kwargs["seeds_per_trial"] == 3
    assert kwargs["udr_options"] == {"num_samples": 500}
    default = tune_cli.search_kwargs_from_args(parser.parse_args(
        ["tune", "--out", str(tmp_path / "s")]))
    assert default["seeds_per_trial"] == 1 and default["udr_options"] is None
