"""Zoo runs: the plateau rule, the learning curve and training to the plateau."""

import functools
import json
import os

import keras
import pytest

from kerasdis import callbacks, cli, models, zoo_runs

TINY = {"model": "beta_vae", "model_args": {"beta": 4.0, "latent_dim": 3}, "dataset": "dsprites",
        "steps": 16, "batch_size": 8, "learning_rate": 1e-3, "seed": 2, "checkpoint_every": 2}


# --- plateau_step ---------------------------------------------------------------------------

def test_plateau_is_the_first_evaluation_whose_best_barely_moved_over_the_window():
    steps = [10, 20, 30, 40, 50]
    assert callbacks.plateau_step(steps, [0.1, 0.2, 0.3, 0.305, 0.5], window=10) == 40
    # improving by >= min_delta at every evaluation: no plateau
    assert callbacks.plateau_step(steps, [0.1, 0.2, 0.3, 0.4, 0.5], window=10) is None
    # the window reaches two evaluations back: 0.30 -> 0.305 -> 0.309 is one window of 20
    assert callbacks.plateau_step(steps, [0.1, 0.2, 0.3, 0.305, 0.309], window=20) == 50


def test_plateau_uses_the_running_best_so_a_noisy_score_cannot_keep_a_run_going():
    # consecutive scores never within 0.01 of each other, but no new best after step 20
    assert callbacks.plateau_step([10, 20, 30, 40], [0.1, 0.5, 0.2, 0.3], window=10) == 30
    # a drop is no improvement either
    assert callbacks.plateau_step([10, 20, 30, 40], [0.1, 0.3, 0.1, 0.5], window=10) == 30
    # a new best by >= 0.01 at every evaluation despite a dip in between windows
    assert callbacks.plateau_step([10, 20, 30, 40], [0.1, 0.3, 0.2, 0.5], window=20) is None


def test_plateau_skips_missing_scores_and_needs_an_evaluation_a_window_back():
    assert callbacks.plateau_step([10, 20, 30], [0.2, None, 0.2], window=10) == 30
    assert callbacks.plateau_step([10, 20, 30], [0.2, float("nan"), 0.2], window=15) == 30
    assert callbacks.plateau_step([10], [0.2], window=10) is None
    assert callbacks.plateau_step([], [], window=10) is None


@pytest.mark.parametrize("kwargs, match", [
    ({"window": 0}, "`window`"), ({"window": 2.5}, "`window`"), ({"window": True}, "`window`"),
    ({"window": 10, "min_delta": -0.1}, "`min_delta`"),
    ({"window": 10, "min_delta": float("nan")}, "`min_delta`"),
    ({"window": 10, "start": -1}, "`start`"), ({"window": 10, "start": 5.0}, "`start`"),
])
def test_plateau_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        callbacks.plateau_step([10], [0.1], **kwargs)


def test_learning_curve_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="`monitor`"):
        callbacks.LearningCurve(tmp_path / "c.csv", monitor="")
    with pytest.raises(ValueError, match="`window`"):
        callbacks.LearningCurve(tmp_path / "c.csv", window=0)
    with pytest.raises(ValueError, match="`start`"):
        callbacks.LearningCurve(tmp_path / "c.csv", start=-10)


def test_no_plateau_before_the_schedule_ends():
    # a score that peaks while a schedule runs and falls back: no plateau until `start`
    steps = [10, 20, 30, 40, 50, 60]
    scores = [0.1, 0.3, 0.3, 0.2, 0.1, 0.1]
    assert callbacks.plateau_step(steps, scores, window=10) == 30
    assert callbacks.plateau_step(steps, scores, window=10, start=45) == 50
    assert callbacks.plateau_step(steps, scores, window=10, start=50) == 50
    assert callbacks.plateau_step(steps, scores, window=10, start=70) is None


# --- training to the plateau ----------------------------------------------------------------

@pytest.fixture
def small_curve(monkeypatch):
    """Evaluations every 4 steps (2 checkpoints) on small protocols."""
    monkeypatch.setattr(zoo_runs, "CURVE_IMAGES", 4 * TINY["batch_size"])
    monkeypatch.setattr(zoo_runs, "PLATEAU_MIN_STEPS", 1)
    monkeypatch.setattr(zoo_runs, "CURVE_OPTIONS", {"beta_vae": {"num_train": 40, "num_eval": 20},
                                                    "discrete_mig": {"num_train": 500}})


def test_plateau_rule_of_a_zoo_recipe():
    full = {**TINY, "steps": 300_000, "batch_size": 64, "checkpoint_every": 2_000}
    rule = zoo_runs.plateau_rule(full)
    assert rule["metric"] == "beta_vae" and rule["window_steps"] == 10_000
    # larger batches are evaluated every 640,000 images still, but the window spans at
    # least 10,000 updates (whole evaluation intervals)
    assert zoo_runs.evaluation_epochs({**full, "batch_size": 256}) == (1, 2_000)
    assert zoo_runs.plateau_rule({**full, "batch_size": 256})["window_steps"] == 10_000
    chen = {**full, "batch_size": 2_048, "steps": 18_000, "checkpoint_every": 300}
    assert zoo_runs.evaluation_epochs(chen) == (1, 300)
    assert zoo_runs.plateau_rule(chen)["window_steps"] == 10_200
    assert zoo_runs.plateau_rule({**full, "model": "beta_tcvae"})["metric"] == "mig"
    # a longer window for recipes that learn slowly (the Higgins table's MLP runs)
    assert zoo_runs.plateau_rule(full, min_steps=50_000)["window_steps"] == 50_000
    steps = [10_000 * i for i in range(1, 7)]
    flat_start = [{"step": s, "val_beta_vae": v} for s, v in
                  zip(steps, [0.62, 0.62, 0.70, 0.80, 0.81, 0.81])]
    assert zoo_runs.plateau(full, flat_start) == 20_000  # the zoo's window: a false plateau
    assert zoo_runs.plateau(full, flat_start, min_steps=50_000) is None


def test_a_zoo_run_completes_its_recipes_schedule_before_its_plateau():
    full = {**TINY, "steps": 300_000, "batch_size": 64, "checkpoint_every": 2_000}
    assert zoo_runs.schedule_steps(full) == 0 and "start_step" not in zoo_runs.plateau_rule(full)
    warm_up = {**full, "beta_annealing_steps": 30_000}
    assert zoo_runs.plateau_rule(warm_up)["start_step"] == 30_000
    annealed = {**full, "model": "annealed_vae",
                "model_args": {"capacity_max": 5.0, "capacity_steps": 40_000}}
    rule = zoo_runs.plateau_rule(annealed)
    assert rule["start_step"] == 40_000 and "40,000" in rule["rule"]
    assert rule["metric"] == "mig"
    # the model's default schedule when the recipe does not set one; None: no schedule
    default = models.AnnealedVAE(latent_dim=2).capacity_steps
    assert zoo_runs.schedule_steps({**annealed, "model_args": {}}) == default
    assert zoo_runs.schedule_steps(
        {**annealed, "model_args": {"capacity_steps": None}}) == 0
    # MIG peaks while the capacity rises and falls back: the run goes on to 40,000
    rows = [{"step": s, "val_mig": v} for s, v in
            zip(range(10_000, 70_000, 10_000), [0.10, 0.20, 0.15, 0.12, 0.12, 0.12])]
    assert zoo_runs.plateau(full | {"model": "beta_tcvae"}, rows) == 30_000
    assert zoo_runs.plateau(annealed, rows) == 40_000


def test_train_entry_writes_the_curve_and_runs_to_the_cap_without_plateau(tmp_path, small_curve,
                                                                          monkeypatch):
    monkeypatch.setattr(callbacks, "plateau_step", lambda *a, **k: None)  # never a plateau
    out = str(tmp_path / "run")
    summary = zoo_runs.train_entry(TINY, out, verbose=0, keep_best=True)
    assert summary["trained"] and summary["steps"] == 16 and summary["plateau"] is None
    rows = zoo_runs.read_curve(out)
    # the model of the curve's best score is kept: its optimizer is at that row's step
    scores = [r["val_beta_vae"] for r in rows]
    models.load_builtins()
    best = keras.saving.load_model(os.path.join(out, zoo_runs.BEST_MODEL))
    assert int(best.optimizer.iterations.numpy()) == rows[scores.index(max(scores))]["step"]
    assert [r["step"] for r in rows] == [4, 8, 12, 16]
    for row in rows:
        assert 0 <= row["val_beta_vae"] <= 1 and 0 <= row["val_discrete_mig"] <= 1
        assert row["reconstruction"] > 0 and row["wall_time_seconds"] > 0
        assert row["cpu_seconds"] > 0
    assert rows[-1]["wall_time_seconds"] >= rows[0]["wall_time_seconds"]
    state = json.load(open(os.path.join(out, "state.json")))
    assert state["cpu_seconds"] > 0


def test_train_entry_stops_at_the_plateau_and_a_finished_run_stays_finished(tmp_path, small_curve,
                                                                           monkeypatch):
    monkeypatch.setattr(zoo_runs, "PLATEAU_MIN_DELTA", 2.0)  # no score can improve by 2
    out = str(tmp_path / "run")
    summary = zoo_runs.train_entry(TINY, out, verbose=0)
    # the first evaluation a window after another one is the plateau: step 8 of 16
    assert summary["plateau"]["step"] == 8 and summary["steps"] == 8
    assert summary["plateau"]["metric"] == "beta_vae" and "rule" in summary["plateau"]
    assert [r["step"] for r in zoo_runs.read_curve(out)] == [4, 8]
    again = zoo_runs.train_entry(TINY, out, verbose=0)
    assert not again["trained"] and again["steps"] == 8 and again["plateau"]["step"] == 8
    # without the plateau rule it goes on to the cap, continuing the same curve
    more = zoo_runs.train_entry(TINY, out, verbose=0, stop_at_plateau=False)
    assert more["trained"] and more["steps"] == 16
    assert [r["step"] for r in zoo_runs.read_curve(out)] == [4, 8, 12, 16]


def test_train_entry_goes_on_to_the_end_of_the_schedule(tmp_path, small_curve, monkeypatch):
    monkeypatch.setattr(zoo_runs, "PLATEAU_MIN_DELTA", 2.0)  # a plateau at every evaluation
    summary = zoo_runs.train_entry({**TINY, "beta_annealing_steps": 10}, str(tmp_path / "run"),
                                   verbose=0)
    # without the warm-up it stops at step 8; with it at the first evaluation from step 10
    assert summary["plateau"]["step"] == 12 and summary["steps"] == 12
    assert summary["plateau"]["start_step"] == 10


def test_a_resumed_run_drops_curve_rows_after_its_checkpoint(tmp_path, small_curve, monkeypatch):
    monkeypatch.setattr(zoo_runs, "PLATEAU_MIN_DELTA", 2.0)
    out = tmp_path / "run"
    zoo_runs.train_entry(TINY, str(out), verbose=0)  # stops at its plateau, step 8
    curve = out / zoo_runs.CURVE_FILE
    lines = curve.read_text().splitlines()
    header = lines[0].split(",")
    lost = dict(zip(header, lines[-1].split(",")), step="12", wall_time_seconds="1e9")
    # a row of a later session whose checkpoint was lost: the run resumes from step 8
    curve.write_text("\n".join(lines + [",".join(lost[k] for k in header)]) + "\n")
    zoo_runs.train_entry(TINY, str(out), verbose=0, stop_at_plateau=False)
    rows = zoo_runs.read_curve(str(out))
    assert [r["step"] for r in rows] == [4, 8, 12, 16]
    assert rows[2]["wall_time_seconds"] < 1e9
    # the rewritten file keeps whole steps (not "8.0")
    assert [line.split(",")[0] for line in curve.read_text().splitlines()[1:]] == \
        ["4", "8", "12", "16"]


def test_zoo_train_refuses_a_used_directory_before_training(tmp_path):
    out = tmp_path / "used"
    out.mkdir()
    (out / "x").write_text("x")
    assert cli.main(["zoo", "train", "vae_dsprites", "--out", str(out)]) != 0


def test_zoo_commands_pass_the_data_directory_to_the_dataset(tmp_path, monkeypatch):
    seen = {}

    def fake_train(recipe, out, **kwargs):
        seen["train"] = kwargs["data_options"]
        return {"plateau": None, "trained": True, "steps": 0, "wall_time_seconds": 0.0}

    def fake_publish(name, runs, **kwargs):
        seen["publish"] = kwargs["data_options"]
        return "preset", {"seeds": [], "selection": {"seed": 0, "rule": "r"}}

    monkeypatch.setattr(zoo_runs, "train_entry", fake_train)
    monkeypatch.setattr(zoo_runs, "publish_entry", fake_publish)
    data = str(tmp_path / "tfds")
    assert cli.main(["zoo", "train", "vae_dsprites", "--out", str(tmp_path / "run"),
                     "--data-dir", data]) == 0
    assert cli.main(["zoo", "publish", "vae_dsprites", str(tmp_path), "--data-dir", data,
                     "--image-path", "scream.jpg"]) == 0
    assert seen == {"train": {"data_dir": data},
                    "publish": {"data_dir": data, "image_path": "scream.jpg"}}


def test_zoo_train_takes_a_candidate_recipe_of_the_entrys_model(tmp_path, monkeypatch, capsys):
    seen = []

    def fake_train(recipe, out, **kwargs):
        seen.append(recipe)
        return {"plateau": None, "trained": True, "steps": 0, "wall_time_seconds": 0.0}

    monkeypatch.setattr(zoo_runs, "train_entry", fake_train)
    candidate = {**TINY, "model": "beta_tcvae", "batch_size": 2048, "steps": 18_000,
                 "model_args": {"architecture": "mlp", "beta": 6.0}}
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps(candidate))
    assert cli.main(["zoo", "train", "beta_tcvae_dsprites", "--recipe", str(path), "--seed", "2",
                     "--out", str(tmp_path / "run")]) == 0
    assert seen == [{**candidate, "seed": 2}]
    # a recipe of another model, or no JSON recipe at all, is refused before training
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**candidate, "model": "vae"}))
    assert cli.main(["zoo", "train", "beta_tcvae_dsprites", "--recipe", str(wrong),
                     "--out", str(tmp_path / "r2")]) != 0
    assert "'vae'" in capsys.readouterr().err
    for bad in (tmp_path / "missing.json", tmp_path / "candidate.txt"):
        if bad.suffix == ".txt":
            bad.write_text("not json")
        assert cli.main(["zoo", "train", "beta_tcvae_dsprites", "--recipe", str(bad),
                         "--out", str(tmp_path / "r3")]) != 0
        assert "--recipe" in capsys.readouterr().err
    assert len(seen) == 1


# --- publishing the seeds -------------------------------------------------------------------

@pytest.fixture(scope="module")
def three_seeds(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds")
    runs = []
    for seed in (0, 1, 2):
        out = str(root / f"seed_{seed}")
        recipe = {**TINY, "seed": seed, "steps": 4, "model": "beta_tcvae",
                  "model_args": {"beta": 2.0, "latent_dim": 3}}
        from kerasdis import training

        training.train(recipe, out, verbose=0, tensorboard=False)
        runs.append(out)
    return runs


@pytest.fixture(scope="module")
def two_seeds(three_seeds):
    return three_seeds[:2]


FEW = ("mig", "discrete_mig")
SMALL = {"mig": {"subsample": 2_000}, "discrete_mig": {"num_train": 1_000}}


def test_publish_entry_records_every_seed_and_publishes_the_best(two_seeds, tmp_path,
                                                                monkeypatch):
    from kerasdis import training, zoo

    here = {"cpu_model": "the publishing machine"}
    monkeypatch.setattr(training, "hardware", lambda: here)
    path, extra = zoo_runs.publish_entry("tiny_entry", two_seeds, metrics=FEW, options=SMALL,
                                         zoo_dir=str(tmp_path), verbose=0)
    assert [r["seed"] for r in extra["seeds"]] == [0, 1]
    migs = [r["scores"]["mig"] for r in extra["seeds"]]
    assert extra["selection"]["seed"] == int(max(range(2), key=migs.__getitem__))
    info = zoo.info(path)
    assert info["seeds"] == json.loads(json.dumps(extra["seeds"]))
    assert info["selection"]["by"] == "mig" and info["seed"] == extra["selection"]["seed"]
    assert info["metrics"]["mig"]["mig"] == pytest.approx(max(migs))
    assert info["plateau"] is None and info["complete"]  # at its recipe's steps
    # where the published run trained (its training.json), where it was scored, its CPU time
    chosen = two_seeds[extra["selection"]["seed"]]
    with open(os.path.join(chosen, "training.json")) as f:
        trained = json.load(f)
    assert info["hardware"] == trained["hardware"] != here
    assert info["evaluation_hardware"] == here
    assert info["cpu_seconds"] == pytest.approx(trained["cpu_seconds"])
    # two runs tie on UDR (its pairwise scores are symmetric): no label-free ranking
    assert all("udr" not in r for r in extra["seeds"])
    assert extra["selection"]["seed_by_target"] == extra["selection"]["seed"]
    assert extra["selection"]["seed_by_udr"] is None


def test_publish_entry_by_udr_records_every_udr_and_publishes_the_best(three_seeds, tmp_path):
    _, extra = zoo_runs.publish_entry("tiny_udr", three_seeds, select="udr", metrics=FEW,
                                      options=SMALL, zoo_dir=str(tmp_path), verbose=0)
    udr = [r["udr"] for r in extra["seeds"]]
    assert all(0.0 <= u <= 1.0 for u in udr)
    assert extra["selection"]["by"] == "udr"
    assert extra["selection"]["seed"] == max(range(3), key=udr.__getitem__)
    assert extra["selection"]["seed_by_udr"] == extra["selection"]["seed"]
    migs = [r["scores"]["mig"] for r in extra["seeds"]]  # the labelled choice beside it
    assert extra["selection"]["seed_by_target"] == int(max(range(3), key=migs.__getitem__))


def test_publish_entry_scores_each_run_once_per_step_and_protocol(two_seeds, tmp_path,
                                                                 monkeypatch):
    """A second publish reuses the scores kept in each run (a publish cut off mid-way
    resumes); a run trained further, or another protocol, is scored again."""
    import shutil

    from kerasdis import metrics as kd_metrics

    runs = [shutil.copytree(run, tmp_path / f"run_{i}") for i, run in enumerate(two_seeds)]
    for run in runs:
        (run / zoo_runs.SCORES_FILE).unlink(missing_ok=True)
    evaluate, scored = kd_metrics.evaluate, []

    def counting(model, dataset, **kwargs):
        scored.append(kwargs["options"])
        return evaluate(model, dataset, **kwargs)

    monkeypatch.setattr(kd_metrics, "evaluate", counting)
    publish = functools.partial(zoo_runs.publish_entry, "tiny_entry", [str(r) for r in runs],
                                metrics=FEW, zoo_dir=str(tmp_path / "zoo"), verbose=0)
    _, first = publish(options=SMALL)
    assert len(scored) == 2
    stored = json.loads((runs[0] / zoo_runs.SCORES_FILE).read_text())
    assert stored["measured_on"]["step"] == first["seeds"][0]["steps"]
    assert stored["measured_on"]["options"] == SMALL and stored["measured_on"]["seed"] == 0
    _, again = publish(options=SMALL)
    assert len(scored) == 2 and again["seeds"] == first["seeds"]
    state = json.loads((runs[1] / "state.json").read_text())
    (runs[1] / "state.json").write_text(json.dumps({**state, "step": state["step"] + 1}))
    publish(options=SMALL)  # the run trained further is scored again, the other is not
    assert len(scored) == 3
    other = {**SMALL, "mig": {"subsample": 1_000}}
    publish(options=other)
    assert scored[3:] == [other, other]


@pytest.mark.parametrize("kwargs, match", [
    ({"select": "best"}, "`select`"),
    ({"select": "udr", "runs": 1}, "`run_dirs`"),
    ({"select": "udr", "runs": 2}, "two runs tie on UDR"),
    ({"metrics": ("discrete_mig",)}, "target metric"),
])
def test_publish_entry_rejects_bad_input_before_scoring(two_seeds, tmp_path, kwargs, match):
    runs = two_seeds[:kwargs.pop("runs", 2)]
    with pytest.raises(ValueError, match=match):
        zoo_runs.publish_entry("bad", runs, zoo_dir=str(tmp_path), **kwargs)
    assert not os.path.exists(tmp_path / "bad")


def test_publish_entry_refuses_runs_of_different_recipes(two_seeds, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(two_seeds[1], other)
    recipe = json.loads((other / "recipe.json").read_text())
    recipe["learning_rate"] = 0.5
    (other / "recipe.json").write_text(json.dumps(recipe))
    with pytest.raises(ValueError, match="another recipe"):
        zoo_runs.publish_entry("bad", [two_seeds[0], str(other)], zoo_dir=str(tmp_path))
    with pytest.raises(ValueError, match="different seeds"):
        zoo_runs.publish_entry("bad", [two_seeds[0], two_seeds[0]], zoo_dir=str(tmp_path))


def test_make_pictures_draws_the_learning_curve_of_every_seed(tmp_path, monkeypatch):
    import importlib.util
    import sys

    import matplotlib.axes

    zoo_dir = os.path.join(os.path.dirname(os.path.dirname(__file__)), "zoo")
    sys.path.insert(0, zoo_dir)
    try:
        spec = importlib.util.spec_from_file_location("make_pictures",
                                                      os.path.join(zoo_dir, "make_pictures.py"))
        make_pictures = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(make_pictures)
        runs = {0: tmp_path / "seed_0", 1: tmp_path / "seed_1"}
        for seed, (first, last) in {0: (0.9, 0.9), 1: (0.1, 0.2)}.items():
            runs[seed].mkdir()
            (runs[seed] / "curve.csv").write_text(f"step,val_mig\n10000,{first}\n20000,{last}\n")
        curve = [{"step": 10_000, "val_mig": 0.2, "reconstruction": 50.0},
                 {"step": 20_000, "val_mig": 0.35, "reconstruction": 40.0}]
        # seed 0 is published (its curve comes from the metadata, not its curve.csv);
        # seed 2's run directory is gone
        info = {"seed": 0, "curve": curve, "plateau": {"metric": "mig", "step": 20_000},
                "seeds": [{"seed": 0, "run": str(runs[0])}, {"seed": 1, "run": str(runs[1])},
                          {"seed": 2, "run": str(tmp_path / "gone")}]}
        (tmp_path / "ada_gvae_dsprites").mkdir()
        plotted = []
        plot = matplotlib.axes.Axes.plot

        def recording_plot(self, x, y, *args, **kwargs):
            plotted.append((kwargs.get("label"), list(x), list(y)))
            return plot(self, x, y, *args, **kwargs)

        monkeypatch.setattr(matplotlib.axes.Axes, "plot", recording_plot)
        path = make_pictures.draw_curve("ada_gvae_dsprites", info, zoo_dir=str(tmp_path))
        assert path and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
        # one line per seed whose run is here, the published one from the metadata
        # (drawn once), and the published run's reconstruction
        assert plotted == [
            ("seed 1", [10_000, 20_000], [0.1, 0.2]),
            ("seed 0 (published)", [10_000, 20_000], [0.2, 0.35]),
            ("reconstruction (nats)", [10_000, 20_000], [50.0, 40.0]),
        ]
        assert make_pictures.draw_curve("x", {"curve": []}, zoo_dir=str(tmp_path)) is None
    finally:
        sys.path.remove(zoo_dir)


@pytest.mark.bad_input
def test_train_entry_checks_a_finished_run_and_overwrite_starts_over(tmp_path, small_curve,
                                                                     monkeypatch):
    monkeypatch.setattr(zoo_runs, "PLATEAU_MIN_DELTA", 2.0)
    out = tmp_path / "run"
    zoo_runs.train_entry(TINY, str(out), verbose=0)  # at its plateau, step 8
    with pytest.raises(ValueError, match="differs"):  # even though nothing would be trained
        zoo_runs.train_entry({**TINY, "learning_rate": 0.5}, str(out), verbose=0)
    # a finished run kept without its checkpoint cannot be continued
    (out / "checkpoint.keras").rename(tmp_path / "kept.keras")
    assert not zoo_runs.train_entry(TINY, str(out), verbose=0)["trained"]
    with pytest.raises(ValueError, match="no checkpoint.keras"):
        zoo_runs.train_entry(TINY, str(out), verbose=0, stop_at_plateau=False)
    # overwrite starts over from step 0 (resuming would need the missing checkpoint)
    again = zoo_runs.train_entry(TINY, str(out), verbose=0, overwrite=True)
    assert again["trained"] and again["steps"] == 8 and (out / "checkpoint.keras").exists()
    assert [r["step"] for r in zoo_runs.read_curve(str(out))] == [4, 8]
