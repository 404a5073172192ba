"""kerasdis.tuning: keras-tuner searches over β, latent size and learning rate.

Tiny settings throughout: 3 steps of batch 8 per epoch on a 48-image 16x16 dataset
with the mlp model (in-process searches) or on dSprites with the conv model (the
searches run as processes through the CLI), disentanglement scored by sample-based
protocols (no grid encoding).
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras_tuner
import numpy as np
import pytest

import kerasdis as kd
from kerasdis import tuning
from kerasdis import cli, tune_cli
from kerasdis.tuning import oracles

# dSprites (conv model, the processes' searches): sample-based protocols, no grid encoding.
CHEAP = {"discrete_mig": {"num_train": 500}, "mig": {"subsample": 1000, "num_samples": 1000}}
# The 24 images of `small` (mlp model, in-process searches).
TINY = dict(steps_per_epoch=3, epochs=1, batch_size=8, latent_dim=(3, 6), architecture="mlp",
            metric_options={"discrete_mig": {"num_train": 200}, "elbo": {"num_images": 24},
                            "mig": {"subsample": 24, "num_samples": 200}})


@pytest.fixture(scope="module")
def small():
    """16x16 images of a 6x4 factor grid, one per grid point in grid order (mlp architecture)."""
    factors = np.array([(a, b) for a in range(6) for b in range(4)])
    images = np.zeros((len(factors), 16, 16, 1), np.float32)
    for i, (a, b) in enumerate(factors):
        images[i, 2 * a:2 * a + 5, 3 * b:3 * b + 4] = 1.0
    return kd.data.from_arrays(images, factors)


def trial_dirs(project_dir):
    return sorted(d for d in os.listdir(project_dir) if d.startswith("trial_"))


def runs(project_dir):
    with open(os.path.join(project_dir, tuning.RUNS_FILE)) as f:
        return [json.loads(line) for line in f]


def check_results(result, n, objective):
    best_model, table = result
    assert len(table) == n
    assert [r["trial_id"] for r in table] == sorted(r["trial_id"] for r in table)
    for row in table:
        assert row["status"] == "COMPLETED", row.get("message")
        for key in ("beta", "latent_dim", "learning_rate", objective, "loss",
                    "reconstruction", "wall_time_seconds"):
            assert isinstance(row[key], (int, float)), (key, row)
        assert row["wall_time_seconds"] > 0
    assert best_model is not None
    assert best_model.latent_dim == result.best_hyperparameters["latent_dim"]
    best = max(table, key=lambda r: r[objective])
    assert result.best_trial_id == best["trial_id"]
    d = result.project_dir
    for name in ("results.csv", "results.json", "tradeoff.png"):
        assert os.path.getsize(os.path.join(d, name)) > 0, name
    with open(os.path.join(d, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n and objective in rows[0] and "wall_time_seconds" in rows[0]
    with open(os.path.join(d, "results.json")) as f:
        saved = json.load(f)
    assert saved["objective"] == objective and len(saved["trials"]) == n
    assert saved["best_trial_id"] == result.best_trial_id
    # every trial ran exactly once
    ends = [r["trial_id"] for r in runs(d) if r["event"] == "end"]
    assert sorted(ends) == sorted(r["trial_id"] for r in table)


# ------------------------------------------------------------------ tuner types
@pytest.fixture(scope="module")
def random_search(small, tmp_path_factory):
    directory = tmp_path_factory.mktemp("random")
    start = time.time()
    result = tuning.search("beta_vae", small, tuner="random", objective="val_discrete_mig",
                           max_trials=2, directory=str(directory), project_name="p",
                           beta=(1.0, 8.0),
                           beta_annealing_steps=2, metrics=("discrete_mig", "elbo"), **TINY)
    print(f"random search: {time.time() - start:.1f} s")
    return result


def test_random_search(random_search):
    check_results(random_search, 2, "val_discrete_mig")
    row = random_search.table[0]
    assert "val_elbo" in row and row["model"] == "beta_vae" and row["weight"] == "beta"
    # the annealed β is logged and kept apart from the hyper-parameter
    assert row["beta_logged"] == pytest.approx(row["beta"], rel=1e-5)
    assert 1.0 <= row["beta"] <= 8.0 and 3 <= row["latent_dim"] <= 6


def test_bayesian_search_tradeoff_objective(small, tmp_path):
    result = tuning.search("beta_tcvae", small, tuner="bayesian", objective="val_tradeoff",
                           max_trials=2, directory=str(tmp_path), reconstruction_budget=50.0,
                           tradeoff_penalty=0.5, tuner_options={"num_initial_points": 1}, **TINY)
    check_results(result, 2, "val_tradeoff")
    for row in result.table:  # reconstruction of an untrained model is far above 50 nats
        assert row["reconstruction"] > 50.0
        expected = row["val_discrete_mig"] - 0.5 * (row["reconstruction"] - 50.0) / 50.0
        assert row["val_tradeoff"] == pytest.approx(expected, rel=1e-6)
    assert result.project_dir.endswith("beta_tcvae-bayesian")


def test_hyperband_search_continues_trials(small, tmp_path):
    # max_epochs=2, factor=2: two 1-epoch trials, then the better one continued to epoch 2.
    result = tuning.search("factor_vae", small, tuner="hyperband", objective="val_mig",
                           max_trials=3, directory=str(tmp_path), project_name="hb",
                           tuner_options={"max_epochs": 2, "factor": 2},
                           model_args={"discriminator_units": 16}, **TINY)
    check_results(result, 3, "val_mig")
    first, second, third = result.table
    assert third["tuner/epochs"] == 2 and third["tuner/initial_epoch"] == 1
    assert third["tuner/trial_id"] in (first["trial_id"], second["trial_id"])
    parent = first if third["tuner/trial_id"] == first["trial_id"] else second
    assert third["beta"] == parent["beta"]
    assert result.table[0]["weight"] == "gamma"
    assert isinstance(result.best_model, kd.models.FactorVAE)


# ------------------------------------------------------------------- hypermodel
@pytest.mark.parametrize("model,attribute", [
    ("beta_vae", "beta"), ("beta_tcvae", "beta"), ("factor_vae", "gamma"),
    ("annealed_vae", "gamma"), ("dip_vae", "lambda_od")])
def test_searched_beta_maps_to_the_model_weight(small, model, attribute):
    hm = tuning.DisentanglementHyperModel(model, small, architecture="mlp", beta=[3.0],
                                          latent_dim=5, learning_rate=1e-3, batch_size=8,
                                          steps_per_epoch=7, epochs=2)
    hp = keras_tuner.HyperParameters()
    built = hm.build(hp)
    assert hp.values == {"beta": 3.0, "latent_dim": 5, "learning_rate": 1e-3}
    value = getattr(built, attribute)
    assert float(np.asarray(value)) == 3.0
    assert built.latent_dim == 5
    assert float(built.optimizer.learning_rate.numpy()) == pytest.approx(1e-3)
    if model == "annealed_vae":
        assert built.capacity_steps == 14  # the trial length
    if model == "beta_tcvae":
        assert built.dataset_size == small.num_examples


def test_hypermodel_declares_log_ranges_and_choices(small):
    hm = tuning.DisentanglementHyperModel("beta_vae", small, architecture="mlp", latent_dim=[4, 8],
                                          metrics=("mig",))
    hp = keras_tuner.HyperParameters()
    hm.declare(hp)
    space = {h.name: h for h in hp.space}
    beta, latent, lr = (space[name] for name in ("beta", "latent_dim", "learning_rate"))
    assert (beta.min_value, beta.max_value, beta.sampling) == (1.0, 16.0, "log")
    assert list(latent.values) == [4, 8]
    assert (lr.min_value, lr.max_value, lr.sampling) == (1e-4, 1e-3, "log")
    vae = tuning.DisentanglementHyperModel("vae", small, architecture="mlp")
    hp = keras_tuner.HyperParameters()
    vae.declare(hp)
    assert "beta" not in hp.values


def test_fit_keeps_the_tuner_callbacks(small):
    import keras

    hm = tuning.DisentanglementHyperModel("beta_vae", small, architecture="mlp", batch_size=8,
                                          steps_per_epoch=2, epochs=2, latent_dim=3,
                                          metric_options={"discrete_mig": {"num_train": 64}})
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(dict(logs))

    hp = keras_tuner.HyperParameters()
    model = hm.build(hp)
    history = hm.fit(hp, model, callbacks=[Spy()])
    assert len(seen) == 2 and all("val_discrete_mig" in logs for logs in seen)
    assert len(history.history["val_discrete_mig"]) == 2
    assert int(model.optimizer.iterations.numpy()) == 4


def test_tradeoff_score():
    cb = tuning.TradeoffScore(budget=50.0, metric="mig", penalty=2.0)
    assert cb.score(0.3, 40.0) == pytest.approx(0.3)
    assert cb.score(0.3, 75.0) == pytest.approx(0.3 - 2.0 * 0.5)
    logs = {"val_mig": 0.3, "reconstruction": 60.0}
    cb.on_epoch_end(0, logs)
    assert logs["val_tradeoff"] == pytest.approx(0.3 - 0.4)


def test_objectives():
    assert set(tuning.OBJECTIVES) >= {"val_mig", "val_beta_vae", "val_factor_vae",
                                      "val_discrete_mig", "val_elbo", "val_tradeoff"}
    for name, objective in tuning.OBJECTIVES.items():
        assert isinstance(objective, keras_tuner.Objective) and objective.name == name
        assert objective.direction == ("min" if name == "val_unsupervised" else "max")


def test_time_limit_stops_between_trials_and_the_next_call_resumes(small, tmp_path,
                                                                     monkeypatch):
    """A trial starts only if its expected duration fits in what is left of the limit;
    the search stops between two trials and resumes where it stopped."""
    args = {**TINY, "model": "beta_vae", "dataset": small, "tuner": "grid", "max_trials": None,
            "beta": [1.0, 4.0], "latent_dim": [3], "learning_rate": [1e-3],
            "metrics": ("discrete_mig",), "directory": str(tmp_path), "project_name": "p"}
    expected = []

    def fake_expected(tuner):
        # the real median of the completed trials, seen as 100 s once there is one
        completed = len(check_completed(tuner.project_dir))
        expected.append(completed)
        return 100.0 if completed else 0.0

    def check_completed(project_dir):
        return [d for d in trial_dirs(project_dir)
                if os.path.exists(os.path.join(project_dir, d, tuning.TRIAL_FILE))]

    with monkeypatch.context() as m:
        m.setattr(oracles._RecordingTuner, "expected_trial_seconds", fake_expected)
        first = tuning.search(time_limit=60, **args)
    assert first.time_limit_reached
    assert [r["status"] for r in first.table] == ["COMPLETED"]  # the second would not fit
    assert expected == [0, 1]
    assert os.path.exists(os.path.join(first.project_dir, "results.json"))

    # a distributed role, also one set by keras-tuner's environment, is refused
    for name, value in (("KERASTUNER_TUNER_ID", "worker-1"), ("KERASTUNER_ORACLE_IP", "127.0.0.1"),
                        ("KERASTUNER_ORACLE_PORT", "8000")):
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="single-process"):
        tuning.search(time_limit=60, **args)
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name)

    second = tuning.search(**args)  # no limit: runs the trial left, not the first again
    assert not second.time_limit_reached
    check_results(second, 2, "val_discrete_mig")
    assert sorted(r["beta"] for r in second.table) == [1.0, 4.0]
    assert [e["trial_id"] for e in runs(second.project_dir) if e["event"] == "start"] == \
        [r["trial_id"] for r in second.table]
    walls = [r["wall_time_seconds"] for r in second.table]
    assert second.tuner.expected_trial_seconds() == pytest.approx(np.median(walls))


@pytest.mark.parametrize("tuner,max_trials", [("grid", None), ("random", 2)])
def test_a_search_with_no_trial_left_ends_finished_however_close_its_time_limit(
        small, tmp_path, monkeypatch, tuner, max_trials):
    """After the last trial (the grid exhausted, `max_trials` reached) the search is
    finished, not stopped by its time limit, even when another trial would not fit."""
    args = {**TINY, "model": "beta_vae", "dataset": small, "tuner": tuner,
            "max_trials": max_trials, "beta": [1.0, 4.0], "latent_dim": [3],
            "learning_rate": [1e-3], "metrics": ("discrete_mig",), "directory": str(tmp_path),
            "project_name": "p"}
    completed = []

    def fake_expected(tuner):  # every trial fits until the second has ended
        completed.append(len([d for d in trial_dirs(tuner.project_dir) if os.path.exists(
            os.path.join(tuner.project_dir, d, tuning.TRIAL_FILE))]))
        return 100.0 if completed[-1] >= 2 else 0.0

    monkeypatch.setattr(oracles._RecordingTuner, "expected_trial_seconds", fake_expected)
    result = tuning.search(time_limit=60, **args)
    assert completed == [0, 1, 2]  # asked before each trial and before the end
    assert not result.time_limit_reached
    assert [r["status"] for r in result.table] == ["COMPLETED", "COMPLETED"]


@pytest.mark.parametrize("tuner", tuning.TUNERS)
def test_asking_whether_the_oracle_has_another_trial_changes_nothing(small, tmp_path, tuner):
    """The answer comes from a copy of the oracle: its state is untouched and, for the
    grid (whose walk is not in its state), the next trial is the one of a twin search
    that never asked."""
    hyper = tuning.search_hypermodel("beta_vae", small, "val_discrete_mig",
                                     **{**TINY, "beta": [1.0, 2.0, 4.0], "latent_dim": [3],
                                        "learning_rate": [1e-3]})
    options = {"max_epochs": 9} if tuner == "hyperband" else {}  # brackets of several trials
    kts = [tuning.make_tuner(hyper, tuner=tuner, max_trials=3, directory=str(tmp_path),
                             project_name=f"{tuner}-{i}", **options) for i in range(2)]
    for kt in kts:  # one trial run and ended in each
        trial = kt.oracle.create_trial("tuner0")
        kt.oracle.update_trial(trial.trial_id, {"val_discrete_mig": 0.5})
        trial.status = "COMPLETED"
        kt.oracle.end_trial(trial)
    before = json.dumps(kts[0].oracle.get_state(), sort_keys=True)
    assert kts[0].oracle_has_another_trial()
    assert json.dumps(kts[0].oracle.get_state(), sort_keys=True) == before
    asked, twin = (kt.oracle.create_trial("tuner0") for kt in kts)
    assert asked.status == twin.status == "RUNNING"
    if tuner == "grid":
        assert asked.hyperparameters.values == twin.hyperparameters.values


# ----------------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs,match", [
    (dict(objective="val_accuracy"), "objective"),
    (dict(tuner="annealing"), "tuner"),
    (dict(beta=(8.0, 1.0)), "inverted"),
    (dict(beta=(2.0, 2.0)), "empty range"),
    (dict(beta=(0.0, 2.0)), "positive"),
    (dict(latent_dim=(8, 4)), "inverted"),
    (dict(latent_dim=[]), "empty list"),
    (dict(latent_dim=(2.5, 6)), "integers"),
    (dict(learning_rate=(1e-3, 1e-4)), "inverted"),
    (dict(steps_per_epoch=0), "steps_per_epoch"),
    (dict(objective="val_tradeoff"), "reconstruction_budget"),
    (dict(metric_options={"mig": {"bins": 3}}), "unknown parameters"),
    (dict(metrics=("nope",)), "unknown metric"),
    (dict(model="vae", beta=(1.0, 2.0)), "no weight"),
    (dict(model="dip_vae", beta_annealing_steps=10), "cannot be annealed"),
    (dict(model="factor_vae", batch_size=2), "at least 4"),
    (dict(discriminator_learning_rate=1e-4), "no discriminator"),
    (dict(model="factor_vae", discriminator_learning_rate=-1.0), "a positive number or 'tied'"),
    (dict(model="factor_vae", discriminator_learning_rate="same"), "'tied'"),
    (dict(model="nope"), "model"),
    (dict(role="observer"), "role"),
    (dict(role="worker", oracle_port=None), "oracle_port"),
    (dict(role="worker", oracle_port=8000, tuner_id="chief-1"), "contain 'chief'"),
    (dict(time_limit=0), "time_limit"),
    (dict(time_limit=-5.0), "time_limit"),
    (dict(time_limit=True), "time_limit"),
    (dict(time_limit="1h"), "time_limit"),
    (dict(role="chief", oracle_port=8000, time_limit=60), "single-process"),
])
@pytest.mark.bad_input
def test_bad_input_fails_before_any_trial(small, tmp_path, kwargs, match):
    args = dict(model="beta_vae", dataset=small, architecture="mlp", max_trials=1,
                directory=str(tmp_path), project_name="p", steps_per_epoch=1, epochs=1,
                batch_size=8)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        tuning.search(**args)
    assert not os.path.exists(tmp_path / "p") or not trial_dirs(tmp_path / "p")


@pytest.mark.bad_input
def test_metric_without_factors_fails(tmp_path):
    images = np.random.default_rng(0).random((32, 16, 16, 1)).astype(np.float32)
    no_factors = kd.data.from_arrays(images)
    with pytest.raises(ValueError, match="needs ground-truth factors"):
        tuning.search("beta_vae", no_factors, objective="val_mig", architecture="mlp",
                      max_trials=1, directory=str(tmp_path), project_name="p")
    with pytest.raises(ValueError, match="needs ground-truth factors"):
        tuning.search("beta_vae", no_factors, objective="val_elbo", metrics=("elbo", "sap"),
                      architecture="mlp", max_trials=1, directory=str(tmp_path))
    assert not (tmp_path / "p").exists()
    # the ELBO needs no factors
    tuning.DisentanglementHyperModel("beta_vae", no_factors, architecture="mlp", metrics=("elbo",))


@pytest.mark.bad_input
def test_changed_settings_do_not_resume(random_search, small):
    directory, name = os.path.split(random_search.project_dir)
    before = trial_dirs(random_search.project_dir)
    with pytest.raises(ValueError, match="other settings"):
        tuning.search("beta_vae", small, tuner="random", max_trials=3, directory=directory,
                      project_name=name, beta=(1.0, 4.0), beta_annealing_steps=2,
                      metrics=("discrete_mig", "elbo"), **TINY)
    assert trial_dirs(random_search.project_dir) == before


def test_finished_search_reloads_without_running(random_search, small):
    directory, name = os.path.split(random_search.project_dir)
    result = tuning.search("beta_vae", small, tuner="random", max_trials=2, directory=directory,
                           project_name=name, beta=(1.0, 8.0), beta_annealing_steps=2,
                           metrics=("discrete_mig", "elbo"), **TINY)
    assert [r["trial_id"] for r in result.table] == [r["trial_id"] for r in random_search.table]
    assert len([r for r in runs(result.project_dir) if r["event"] == "start"]) == 2
    assert result.best_trial_id == random_search.best_trial_id


@pytest.mark.fault
def test_reload_trusts_the_trial_files(random_search, small, tmp_path):
    """A search killed between keras-tuner's writes neither reruns nor loses a trial."""
    import shutil

    project = tmp_path / "p"
    shutil.copytree(random_search.project_dir, project)
    # Killed after trial 0 ended (trial.json) but before oracle.json and tuner0.json
    # caught up, while trial 1 had just been created (trial.json RUNNING only).
    with open(project / "oracle.json") as f:
        state = json.load(f)
    state.update(ongoing_trials={"tuner0": "0"}, start_order=["0"], end_order=[],
                 run_times={})
    with open(project / "oracle.json", "w") as f:
        json.dump(state, f)
    os.remove(project / "tuner0.json")
    with open(project / "trial_1" / "trial.json") as f:
        trial = json.load(f)
    trial.update(status="RUNNING", score=None, best_step=0)
    trial["metrics"]["metrics"] = {}
    with open(project / "trial_1" / "trial.json", "w") as f:
        json.dump(trial, f)
    os.remove(project / "results.json")
    before = len(runs(project))

    result = tuning.search("beta_vae", small, tuner="random", max_trials=2, directory=str(tmp_path),
                           project_name="p", beta=(1.0, 8.0), beta_annealing_steps=2,
                           metrics=("discrete_mig", "elbo"), **TINY)
    rerun = [e["trial_id"] for e in runs(project)[before:] if e["event"] == "start"]
    assert rerun == ["1"]
    assert [r["status"] for r in result.table] == ["COMPLETED", "COMPLETED"]
    assert result.table[0]["val_discrete_mig"] == random_search.table[0]["val_discrete_mig"]


@pytest.mark.bad_input
def test_cli_reports_bad_input(tmp_path, capsys):
    code = cli.main(["tune", "--out", str(tmp_path / "s"), "--objective", "val_nope"])
    assert code == 1
    assert "objective" in capsys.readouterr().err
    code = cli.main(["tune", "--out", str(tmp_path / "s"), "--latent-dim", "4", "5", "6"])
    assert code == 1
    assert "--latent-dim" in capsys.readouterr().err


def test_cli_arguments_map_to_search(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    tune_cli.add_tune_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args([
        "tune", "--model", "factor_vae", "--beta", "10", "50", "--latent-dim", "4,6,10",
        "--lr", "3e-4", "--objective", "val_mig", "--metric-options", '{"mig": {"subsample": 100}}',
        "--tuner", "hyperband", "--max-trials", "0", "--out", str(tmp_path / "a" / "b"),
        "--role", "worker", "--oracle-port", "9000", "--tuner-id", "w1",
        "--time-limit", "5400", "--discriminator-lr", "tied"])
    assert args.func is tune_cli.cmd_tune
    kwargs = tune_cli.search_kwargs_from_args(args)
    assert kwargs["beta"] == (10.0, 50.0) and kwargs["latent_dim"] == [4, 6, 10]
    assert kwargs["learning_rate"] == 3e-4 and kwargs["max_trials"] is None
    assert kwargs["directory"] == str(tmp_path / "a") and kwargs["project_name"] == "b"
    assert kwargs["metric_options"] == {"mig": {"subsample": 100}}
    assert (kwargs["role"], kwargs["oracle_port"], kwargs["tuner_id"]) == ("worker", 9000, "w1")
    assert kwargs["time_limit"] == 5400.0 and kwargs["discriminator_learning_rate"] == "tied"
    args.discriminator_lr = "2e-4"
    assert tune_cli.search_kwargs_from_args(args)["discriminator_learning_rate"] == 2e-4
    args.discriminator_lr = "fast"
    with pytest.raises(ValueError, match="--discriminator-lr"):
        tune_cli.search_kwargs_from_args(args)


# ------------------------------------------------------ processes: resume, distributed
def cli_command(out, max_trials, *extra):
    return [sys.executable, "-m", "kerasdis.cli", "tune", "--model", "beta_vae",
            "--dataset", "dsprites", "--tuner", "random", "--max-trials", str(max_trials),
            "--objective", "val_discrete_mig", "--beta", "1", "8", "--latent-dim", "3", "6",
            "--steps-per-epoch", "3", "--epochs", "1", "--batch-size", "8",
            "--metric-options", json.dumps(CHEAP), "--verbose", "0", "--out", str(out), *extra]


def child_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return env


def completed_trials(project_dir):
    done = []
    if os.path.isdir(project_dir):
        for d in trial_dirs(project_dir):
            path = os.path.join(project_dir, d, "trial.json")
            try:
                with open(path) as f:
                    if json.load(f)["status"] == "COMPLETED":
                        done.append(d)
            except (OSError, ValueError):
                pass
    return done


@pytest.mark.slow
@pytest.mark.fault
def test_killed_search_resumes_without_repeating_trials(tmp_path):
    """A search killed with SIGKILL after one trial resumes without rerunning that trial."""
    out = tmp_path / "search"
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(cli_command(out, 2), env=child_env(), stdout=log, stderr=log)
    deadline = time.time() + 240
    try:
        while not completed_trials(out):
            assert first.poll() is None, open(tmp_path / "first.log").read()[-3000:]
            assert time.time() < deadline, "no trial completed in time"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    done_before = completed_trials(out)
    assert done_before == ["trial_0"]

    second = subprocess.run(cli_command(out, 2), env=child_env(), capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert completed_trials(out) == ["trial_0", "trial_1"]
    with open(out / "results.json") as f:
        table = json.load(f)["trials"]
    assert [r["status"] for r in table] == ["COMPLETED"] * 2
    events = runs(out)
    ends = [e["trial_id"] for e in events if e["event"] == "end"]
    assert sorted(ends) == ["0", "1"]  # none completed twice
    pids = {e["pid"] for e in events}
    assert len(pids) == 2
    second_pid = events[-1]["pid"]
    resumed = {e["trial_id"] for e in events if e["event"] == "start" and e["pid"] == second_pid}
    assert not resumed & {d[len("trial_"):] for d in done_before}  # finished trials never rerun
    values = {(r["beta"], r["latent_dim"], r["learning_rate"]) for r in table}
    assert len(values) == 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_distributed_search_on_loopback(tmp_path):
    out = tmp_path / "dist"
    port = str(free_port())
    net = ["--oracle-ip", "127.0.0.1", "--oracle-port", port]
    procs = {}
    logs = {}
    for name, extra in [("chief", ["--role", "chief"]),
                        ("worker0", ["--role", "worker", "--tuner-id", "worker0"]),
                        ("worker1", ["--role", "worker", "--tuner-id", "worker1"])]:
        logs[name] = open(tmp_path / f"{name}.log", "w")
        procs[name] = subprocess.Popen(cli_command(out, 3, *extra, *net), env=child_env(),
                                       stdout=logs[name], stderr=logs[name])
    try:
        deadline = time.time() + 300
        for name, proc in procs.items():
            proc.wait(timeout=max(1, deadline - time.time()))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for name, proc in procs.items():
        assert proc.returncode == 0, (name, open(tmp_path / f"{name}.log").read()[-3000:])
    with open(out / "results.json") as f:
        table = json.load(f)["trials"]
    assert [r["trial_id"] for r in table] == ["0", "1", "2"]
    assert all(r["status"] == "COMPLETED" for r in table)
    events = runs(out)
    starts = sorted(e["trial_id"] for e in events if e["event"] == "start")
    ends = sorted(e["trial_id"] for e in events if e["event"] == "end")
    assert starts == ends == ["0", "1", "2"]  # every trial ran exactly once
    assert {e["tuner_id"] for e in events} <= {"worker0", "worker1"}  # the chief runs none
    assert {r["tuner_id"] for r in table} <= {"worker0", "worker1"}
    assert (out / "tradeoff.png").exists() and (out / "results.csv").exists()
    assert "3 trials (3 completed)" in open(tmp_path / "chief.log").read()


def test_grid_search_runs_every_combination_once(small, tmp_path):
    kwargs = dict(TINY, latent_dim=3)
    result = tuning.search("beta_vae", small, tuner="grid", max_trials=None, directory=str(tmp_path),
                           project_name="g", beta=[1.0, 4.0], learning_rate=[1e-3, 5e-4],
                           load_best_model=False, **kwargs)
    combos = sorted((r["beta"], r["learning_rate"]) for r in result.table)
    assert combos == [(1.0, 5e-4), (1.0, 1e-3), (4.0, 5e-4), (4.0, 1e-3)]
    assert result.best_model is None and result.best_trial_id is not None
    assert all(r["cpu_seconds"] > 0 for r in result.table)
    again = tuning.search("beta_vae", small, tuner="grid", max_trials=None,
                          directory=str(tmp_path), project_name="g", beta=[1.0, 4.0],
                          learning_rate=[1e-3, 5e-4], load_best_model=False, **kwargs)
    assert len(again.table) == 4  # resumed: nothing repeated


def test_load_trial_model_rebuilds_every_trial_at_its_best_epoch(random_search, small):
    import numpy as np

    for row in random_search.table:
        model = tuning.load_trial_model(random_search.project_dir, row["trial_id"], dataset=small)
        assert model.latent_dim == row["latent_dim"]
        assert float(model.beta.numpy()) == pytest.approx(row["beta_logged"], rel=1e-5)
        again = kd.metrics.evaluate(model, small, metrics=["discrete_mig"], verbose=0,
                                    options=TINY["metric_options"])
        assert again["discrete_mig"]["discrete_mig"] == pytest.approx(row["val_discrete_mig"],
                                                                      abs=1e-6)
    best = tuning.load_trial_model(random_search.project_dir, random_search.best_trial_id,
                                   dataset=small)
    x = small.images(small.sample_factors(4, seed=0))
    np.testing.assert_allclose(best.encode(x)[0], random_search.best_model.encode(x)[0], atol=1e-6)


@pytest.mark.bad_input
def test_load_trial_model_names_what_is_missing(random_search, tmp_path):
    with pytest.raises(FileNotFoundError, match="no trial '9999'"):
        tuning.load_trial_model(random_search.project_dir, "9999")
    with pytest.raises(FileNotFoundError, match="search.json"):
        tuning.load_trial_model(str(tmp_path), "0000")


@pytest.mark.fault
def test_grid_search_resumed_in_a_new_process_walks_the_rest_of_the_grid(small, tmp_path):
    """The grid's walk (keras-tuner keeps it in memory) is rebuilt on reload: a search
    stopped after its first trial continues with the others, and a first trial that was
    interrupted is run again and followed by the others (it used to raise KeyError)."""
    kwargs = dict(TINY, latent_dim=3, beta=[1.0, 4.0, 8.0], learning_rate=[1e-3],
                  load_best_model=False)
    for project, interrupt in (("stopped", False), ("killed", True)):
        first = tuning.search("beta_vae", small, tuner="grid", max_trials=1,
                              directory=str(tmp_path), project_name=project, **kwargs)
        assert len(first.table) == 1
        (first_id,) = [r["trial_id"] for r in first.table]
        trial_path = tmp_path / project / f"trial_{first_id}" / "trial.json"
        if interrupt:  # as a kill during the trial leaves it
            trial = json.loads(trial_path.read_text())
            trial.update(status="RUNNING", score=None)
            trial_path.write_text(json.dumps(trial))
        again = tuning.search("beta_vae", small, tuner="grid", max_trials=None,
                              directory=str(tmp_path), project_name=project, **kwargs)
        assert sorted(r["beta"] for r in again.table) == [1.0, 4.0, 8.0], project
        assert all(r["status"] == "COMPLETED" for r in again.table)
        starts = [e["trial_id"] for e in runs(str(tmp_path / project)) if e["event"] == "start"]
        assert starts[:1 + interrupt] == [first_id] * (1 + interrupt), project
        assert len(starts) == 3 + interrupt and len(set(starts)) == 3, project


def test_estimate_trial_seconds_times_training_and_scoring(small):
    hyper = tuning.search_hypermodel("beta_vae", small, "val_discrete_mig", **TINY)
    assert hyper.metrics == ("discrete_mig",)
    estimate = tuning.estimate_trial_seconds(hyper, timing_steps=2)
    assert estimate["steps_per_second"] > 0 and estimate["eval_seconds"] > 0
    assert estimate["seconds"] == pytest.approx(estimate["train_seconds"] + estimate["eval_seconds"])
    assert estimate["train_seconds"] == pytest.approx(
        TINY["epochs"] * TINY["steps_per_epoch"] / estimate["steps_per_second"])
    twins = tuning.search_hypermodel("beta_vae", small, "val_udr", seeds_per_trial=3,
                                     udr_options={"num_samples": 24}, **TINY)
    assert twins.metrics == ()
    assert tuning.estimate_trial_seconds(twins, timing_steps=2)["eval_seconds"] > 0


def test_tune_prints_an_estimate_before_searching(tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(tuning, "search", lambda **kwargs: calls.append(kwargs) or tuning.SearchResult(
        None, [], None, None, str(tmp_path), {}, None))
    args = ["tune", "--max-trials", "3", "--steps-per-epoch", "5", "--epochs", "1",
            "--batch-size", "8", "--latent-dim", "3", "--architecture", "mlp",
            "--metric-options", '{"discrete_mig": {"num_train": 200}}', "--out", str(tmp_path / "s")]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "per trial here (training" in out and "up to 3 trials: about" in out
    assert cli.main([*args, "--no-estimate"]) == 0
    assert "per trial here" not in capsys.readouterr().out and len(calls) == 2


def test_factor_vae_discriminator_learning_rate_tied_or_fixed(small):
    def built(value, learning_rate=5e-4):
        hypermodel = tuning.DisentanglementHyperModel(
            "factor_vae", small, beta=10.0, latent_dim=4, learning_rate=learning_rate,
            architecture="mlp", discriminator_learning_rate=value)
        hp = keras_tuner.HyperParameters()
        model = hypermodel.build(hp)
        return hypermodel, model

    hypermodel, model = built(None)
    assert float(model.discriminator_optimizer.learning_rate) == pytest.approx(1e-4)
    assert "discriminator_learning_rate" not in hypermodel.describe()  # old searches resume
    hypermodel, model = built("tied")
    assert float(model.discriminator_optimizer.learning_rate) == pytest.approx(5e-4)
    assert float(model.optimizer.learning_rate) == pytest.approx(5e-4)
    assert hypermodel.describe()["discriminator_learning_rate"] == "tied"
    _, model = built(2e-4)
    assert float(model.discriminator_optimizer.learning_rate) == pytest.approx(2e-4)
