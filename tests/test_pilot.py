"""`zoo/pilot.py`: the pilot trials of the zoo's recipes, by the grid tuner (tiny budget)."""

import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pilot(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("kerasdis_zoo_pilot", ROOT / "zoo" / "pilot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(module, "REPORT", str(tmp_path / "report"))
    monkeypatch.setattr(module, "IMAGES_PER_TRIAL", 256 * 8)
    monkeypatch.setattr(module, "PILOT_METRICS", {"discrete_mig": {"num_train": 300},
                                                  "mig": {"subsample": 300}})
    return module


def test_vae_baseline_runs_resumes_and_reports(pilot, tmp_path):
    pilot.run("vae", threads=0)
    rows = pilot.trial_rows()
    assert sorted(r["search"] for r in rows) == ["weight-conv-b256", "weight-conv-b64"]
    for r in rows:
        assert len(r["curve"]) == pilot.EVALUATIONS and r["cpu_seconds"] > 0
        assert r["steps"] == pilot.IMAGES_PER_TRIAL // r["batch_size"]
    assert [s["stage"] for s in pilot.plan("vae")] == ["weight", "weight"]  # one stage
    pilot.run("vae", threads=0)  # resumed: nothing runs again
    assert len(pilot.trial_rows()) == 2
    report = Path(pilot.write_report(pilot.trial_rows())).read_text()
    assert "## vae" in report and "| weight-conv-b64 | conv | 64 |" in report
    assert (tmp_path / "report" / "vae.png").exists()


def test_stages_two_and_three_keep_the_two_best(pilot, monkeypatch):
    assert [s["stage"] for s in pilot.plan("beta_tcvae")] == ["weight", "weight"]
    ranking = [(0.30, "conv-b256", "conv", 256, 6.0), (0.25, "conv-b64", "conv", 64, 4.0),
               (0.20, "conv-b256", "conv", 256, 10.0), (0.10, "conv-b64", "conv", 64, 2.0)]
    monkeypatch.setattr(pilot, "stage_one_ranking", lambda objective: ranking)
    searches = pilot.plan("beta_tcvae")
    second = [s for s in searches if s["stage"] == "learning_rate"]
    assert {(s["arm"], tuple(s["beta"])) for s in second} == {("conv-b256", (6.0,)),
                                                               ("conv-b64", (4.0,))}
    assert all(s["learning_rate"] == [1e-4, 1e-3] for s in second)
    (mlp,) = [s for s in searches if s["stage"] == "mlp"]
    assert mlp["architecture"] == "mlp" and mlp["batch_size"] == 2048 and mlp["beta"] == [4.0, 6.0]
    ada = pilot.plan("ada_gvae")
    assert [s["model_args"]["pair_k"] for s in ada] == [1, "random"]


def test_factor_vae_sweeps_gamma_at_the_papers_learning_rate_too(pilot):
    searches = pilot.plan("factor_vae")  # stage 1 not run: stage 4 needs no ranking
    assert [s["stage"] for s in searches] == ["weight", "weight", "paper", "whole_batch"]
    paper, whole = searches[2:]
    assert paper["learning_rate"] == [1e-4] and paper["batch_size"] == 64
    # both sweeps keep the weights they ran before the rest were pruned
    assert paper["beta"] == [10.0, 30.0, 50.0] and whole["beta"] == [10.0, 30.0]
    assert all("pruned" not in s for s in searches)
    # stage 1's recipe, with the discriminator seeing the whole batch and its permutation
    assert whole["learning_rate"] == [pilot.BASE_LEARNING_RATE] and whole["batch_size"] == 64
    assert whole["model_args"] == {"discriminator_samples": "batch"}
    assert [s["stage"] for s in pilot.plan("beta_vae")] == ["weight", "weight"]


def test_a_pruned_sweep_that_ran_its_kept_weights_is_not_resumed(pilot, monkeypatch, tmp_path):
    from kerasdis import tuning

    searched = []
    def search(*args, project_name, **kwargs):
        searched.append(project_name)
        return SimpleNamespace(time_limit_reached=False, table=[], best_hyperparameters={})

    monkeypatch.setattr(tuning, "search", search)
    monkeypatch.setattr(pilot, "EXTRA_SEARCHES", {"vae": [dict(
        stage="paper", arm="conv-b64", architecture="conv", batch_size=64,
        learning_rate=[1e-4], model_args={}, beta=[1.0], pruned="no reason")]})
    monkeypatch.setattr(pilot, "completed_trials",
                        lambda path: [{}] if path.endswith("paper-conv-b64") else [])
    pilot.run("vae", threads=0)
    assert searched == ["weight-conv-b64", "weight-conv-b256"]  # not "paper-conv-b64"
    rows = [{"objective": "vae", "search": "paper-conv-b64", "trial": "0000",
             "architecture": "conv", "batch_size": 64, "weight": 1.0, "learning_rate": 1e-4,
             "steps": 8, "curve": [(8, 0.1)], "best": 0.1, "final": 0.1,
             "discrete_mig": 0.1, "reconstruction": 50.0, "reconstruction_curve": [50.0],
             "wall_time_seconds": 60.0, "cpu_seconds": 60.0}]
    report = Path(pilot.write_report(rows)).read_text()
    assert "Pruned from the `paper` sweep: no reason." in report


def test_stage_two_does_not_repeat_the_papers_sweep(pilot, monkeypatch):
    ranking = [(0.70, "conv-b64", "conv", 64, 10.0), (0.65, "conv-b256", "conv", 256, 10.0)]
    monkeypatch.setattr(pilot, "stage_one_ranking", lambda objective: ranking)
    second = {s["arm"]: s["learning_rate"] for s in pilot.plan("factor_vae")
              if s["stage"] == "learning_rate"}
    assert second == {"conv-b64": [1e-3], "conv-b256": [1e-4, 1e-3]}  # paper: 1e-4 at b64


def test_command_line_refuses_bad_arguments(pilot, capsys):
    with pytest.raises(SystemExit):
        pilot.main(["no_such_objective"])
    with pytest.raises(SystemExit):
        pilot.main([])
    assert "OBJECTIVE" in capsys.readouterr().err
    for hours in ("0", "-1"):
        with pytest.raises(SystemExit):
            pilot.main(["vae", "--hours", hours])
        assert "--hours" in capsys.readouterr().err


def test_hours_start_no_trial_that_would_not_end_in_time(pilot, monkeypatch, capsys):
    from kerasdis.tuning import oracles

    monkeypatch.setattr(oracles._RecordingTuner, "expected_trial_seconds", lambda tuner: 7200.0)
    pilot.run("vae", threads=0, hours=1.0)  # a trial of 2 h does not fit in 1 h
    assert pilot.trial_rows() == []
    assert "stopped at --hours" in capsys.readouterr().out


def test_hours_reached_after_a_searchs_last_trial_goes_on_to_the_next(pilot, monkeypatch,
                                                                     capsys):
    from kerasdis import tuning

    searched, done = [], set()
    def search(*args, project_name, **kwargs):
        searched.append(project_name)
        done.add(project_name)  # the grid's last trial ended, then the deadline check
        return SimpleNamespace(time_limit_reached=True, table=[], best_hyperparameters={})

    monkeypatch.setattr(tuning, "search", search)
    monkeypatch.setattr(pilot, "completed_trials",
                        lambda path: [{"score": 0.1}] if os.path.basename(path) in done else [])
    pilot.run("vae", threads=0, hours=1.0)
    assert searched == ["weight-conv-b64", "weight-conv-b256"]
    assert "stopped at --hours" not in capsys.readouterr().out


def test_report_says_when_the_mlp_stage_was_still_learning(pilot):
    def row(search, curve):
        return {"objective": "beta_tcvae", "search": search, "weight": 6.0, "batch_size": 2048,
                "steps": 500, "reconstruction_curve": curve}

    still = pilot.mlp_caveat([row("mlp-mlp-b2048", [300.0, 130.0, 100.0]),
                              row("weight-conv-b64", [90.0, 60.0])])
    assert "makes 500 updates" in still[-1] and "weight 6: 130 → 100" in still[-1]
    assert "--recipe beta_tcvae --stage mlp" in still[-1]
    # flat over the last quarter (within 10%), or no MLP trial: nothing to say
    assert pilot.mlp_caveat([row("mlp-mlp-b2048", [130.0, 125.0])]) == []
    assert pilot.mlp_caveat([row("weight-conv-b64", [300.0, 100.0])]) == []


def test_chosen_recipe_of_the_mlp_stage_trains_chen_et_als_fifty_epochs(pilot, monkeypatch):
    searches = [dict(stage="weight", arm="conv-b64", architecture="conv", batch_size=64,
                     model_args={}),
                dict(stage="mlp", arm="mlp-b2048", architecture="mlp", batch_size=2048,
                     model_args={})]
    trials = {"weight-conv-b64": [{"score": 0.12, "beta": 6.0, "learning_rate": 1e-4}],
              "mlp-mlp-b2048": [{"score": 0.07, "beta": 6.0, "learning_rate": 1e-3},
                                {"score": 0.05, "beta": 2.0, "learning_rate": 1e-3}]}
    monkeypatch.setattr(pilot, "finished", lambda objective: True)
    monkeypatch.setattr(pilot, "plan", lambda objective: searches)
    monkeypatch.setattr(pilot, "completed_trials", lambda path: trials[os.path.basename(path)])
    best = pilot.chosen_recipe("beta_tcvae")
    assert best["model_args"]["architecture"] == "conv" and best["steps"] == 300_000
    assert best["learning_rate"] == 1e-4 and best["checkpoint_every"] == 2_000
    mlp = pilot.chosen_recipe("beta_tcvae", stages=["mlp"])
    assert mlp["model_args"] == {"estimator": "mss", "latent_dim": 10, "architecture": "mlp",
                                 "beta": 6.0}
    assert (mlp["batch_size"], mlp["learning_rate"]) == (2048, 1e-3)
    assert mlp["checkpoint_every"] == 360 and mlp["steps"] == 50 * 360  # 50 epochs of 737,280
    line = pilot.chosen_lines("beta_tcvae")[-1]
    assert "the conv network at batch 64, beta 6, Adam 0.0001" in line
    assert "--recipe beta_tcvae" in line
    monkeypatch.setattr(pilot, "finished", lambda objective: False)
    assert pilot.chosen_lines("beta_tcvae") == []  # a pilot still running names none


def test_dip_vae_ii_annealed_vae_and_dcign_have_pilots(pilot):
    dip = pilot.plan("dip_vae")  # stage 1 at both batches; stages 2 and 3 follow it
    assert [(s["stage"], s["batch_size"]) for s in dip] == [("weight", 64), ("weight", 256)]
    assert all(s["beta"] == [1.0, 5.0, 20.0, 50.0] for s in dip)
    assert pilot.MODEL_ARGS["dip_vae"] == {"variant": "ii"}
    annealed = pilot.plan("annealed_vae")  # one stage: the capacity C_max at γ = 1000
    assert [s["model_args"]["capacity_max"] for s in annealed] == [5.0, 10.0, 25.0, 50.0]
    assert all(s["beta"] == [1000.0] and s["batch_size"] == 64 for s in annealed)
    dcign = pilot.plan("dcign")  # no weight: the batch and the latents of each factor
    assert [(s["beta"], s["batch_size"]) for s in dcign] == [(None, 64), (None, 256),
                                                             (None, 64), (None, 64)]
    assert [s["model_args"].get("factor_dims") for s in dcign] == [
        None, None, [[0], [1], [2], [3], [4]], [[0, 1, 2, 3, 4, 5], [6], [7], [8], [9]]]
    for objective in ("dip_vae", "annealed_vae", "dcign"):
        assert pilot.TARGET[objective] == "mig"


def test_chosen_annealed_recipe_keeps_the_capacity_schedule_of_its_trial(pilot, monkeypatch):
    trials = {"weight-conv-b64-c5": 0.10, "weight-conv-b64-c10": 0.12,
              "weight-conv-b64-c25": 0.31, "weight-conv-b64-c50": 0.20}
    monkeypatch.setattr(pilot, "completed_trials", lambda path: [
        {"score": trials[os.path.basename(path)], "beta": 1000.0, "learning_rate": 5e-4}])
    recipe = pilot.chosen_recipe("annealed_vae")
    assert recipe["model"] == "annealed_vae" and recipe["steps"] == 300_000
    trial_steps = pilot.IMAGES_PER_TRIAL // 64  # 16,000 (the fixture shortens the trials)
    assert recipe["model_args"] == {"capacity_max": 25.0, "capacity_steps": trial_steps,
                                    "gamma": 1000.0, "latent_dim": 10, "architecture": "conv"}
    from kerasdis import models, zoo_runs

    model = models.get("annealed_vae")(**recipe["model_args"])  # the zoo run can build it
    assert model.capacity_steps == trial_steps and model.capacity_max == 25.0
    # the run completes its schedule: no plateau before the capacity reaches C_max
    assert zoo_runs.plateau_rule(recipe)["start_step"] == trial_steps


def test_annealed_vae_pilot_trial_raises_its_capacity_over_the_trial(pilot, monkeypatch):
    monkeypatch.setitem(pilot.ARMS, "annealed_vae", pilot.ARMS["annealed_vae"][2:3])  # C_max 25
    pilot.run("annealed_vae", threads=0)
    (row,) = pilot.trial_rows()
    assert row["search"] == "weight-conv-b64-c25" and row["weight"] == 1000.0
    assert len(row["curve"]) == pilot.EVALUATIONS
    from kerasdis import tuning

    model = tuning.load_trial_model(os.path.join(pilot.RUNS, "annealed_vae", row["search"]),
                                    row["trial"])
    assert model.capacity_max == 25.0
    assert model.capacity_steps == pilot.IMAGES_PER_TRIAL // 64  # the trial's length
    # the capacity at the trial's best evaluation: a quarter of the schedule, less the
    # one step by which C(t) trails the step counter
    quarters = [25.0 * (i + 1) / pilot.EVALUATIONS for i in range(pilot.EVALUATIONS)]
    one_step = 25.0 / model.capacity_steps
    assert min(abs(float(model.capacity.numpy()) - c) for c in quarters) <= one_step + 1e-4
