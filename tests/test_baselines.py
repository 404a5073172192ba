"""Baseline representations and the paper benchmarks (higgins_table, mig_vs_beta, weak_supervision)."""

import importlib.util
import json
import pathlib
import re
import shutil

import numpy as np
import pytest

import kerasdis as kd
from kerasdis.baselines import (
    FactorRepresentation,
    ground_truth,
    ica,
    pca,
    raw_pixels,
    untrained_vae,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dsprites():
    return kd.data.load("dsprites")


def _bench(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.bad_input
def test_baselines_return_codes_of_the_right_shape(dsprites):
    x = dsprites.images(dsprites.sample_factors(5, seed=0))
    assert raw_pixels()(x).shape == (5, 64 * 64)
    p = pca(dsprites, num_components=10, num_images=200, seed=0)
    i = ica(dsprites, num_components=10, num_images=200, seed=0)
    for rep in (p, i):
        codes = rep(x)
        assert codes.shape == (5, 10) and codes.dtype == np.float32 and np.isfinite(codes).all()
    np.testing.assert_array_equal(p(x), pca(dsprites, num_images=200, seed=0)(x))  # seeded
    vae = untrained_vae(dsprites, seed=0)
    assert vae.encode(x)[0].shape == (5, 10)
    np.testing.assert_array_equal(vae.encode(x)[0], untrained_vae(dsprites, seed=0).encode(x)[0])
    with pytest.raises(ValueError, match="num_images"):
        pca(dsprites, num_components=10, num_images=5)


def test_ground_truth_scores_perfectly_on_a_tiny_protocol(dsprites):
    gt = ground_truth(dsprites)
    codes = gt.grid_codes()
    assert codes.means.shape == (dsprites.num_examples, 5)
    f = dsprites.sample_factors(4, seed=1)
    np.testing.assert_array_equal(codes.lookup(f), f.astype(np.float32))
    score = kd.metrics.beta_vae_score(gt, dsprites, num_train=60, num_eval=30, batch_size=8,
                                      codes=codes, seed=0)
    assert score["eval_accuracy"] >= 0.9


@pytest.mark.bad_input
def test_ground_truth_looks_factors_up_from_images():
    sizes = (3, 4)
    factors = np.stack(np.unravel_index(np.arange(12), sizes), axis=1)
    rng = np.random.default_rng(0)
    images = (rng.random((12, 8, 8, 1)) > 0.5).astype(np.float32)
    ds = kd.data.from_arrays(images, factors=factors, factor_sizes=sizes)
    gt = FactorRepresentation(ds)
    order = rng.permutation(12)
    np.testing.assert_array_equal(gt(images[order]), factors[order].astype(np.float32))
    scaled = FactorRepresentation(ds, normalize=True)
    np.testing.assert_allclose(scaled(images[:3]), factors[:3] / np.array([2.0, 3.0]))
    with pytest.raises(ValueError, match="not an image"):
        gt(1.0 - images[:1] * 0.5)
    partial = kd.data.from_arrays(images[:5], factors=factors[:5], factor_sizes=sizes)
    with pytest.raises(ValueError, match="grid"):
        ground_truth(partial)


def _table_rows(text):
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^\| ([^|]+?) \| ([0-9.]+) ± [0-9.]+ \|", text, re.M)}


def test_higgins_table_quick_baseline_rows(tmp_path):
    bench = _bench("higgins_table")
    out = tmp_path / "higgins.md"
    rows = "ground_truth,pca,ica,vae_untrained"
    assert bench.main(["--quick", "--rows", rows, "--output", str(out)]) == 0
    text = out.read_text()
    scores = _table_rows(text)
    assert set(scores) == {"Ground truth", "PCA", "ICA", "VAE untrained (conv)"}
    assert scores["Ground truth"] >= 90.0
    assert ("| representation | kerasdis, dlib protocol (%) | kerasdis, higgins2017 protocol (%) "
            "| seeds | published (%) | recall per fixed factor, higgins2017 (%) | notes |") in text
    # both protocols scored every row: the higgins2017 column of the ground truth too
    higgins = {m.group(1): float(m.group(2)) for m in re.finditer(
        r"^\| ([^|]+?) \| [0-9.]+ ± [0-9.]+ \| ([0-9.]+) ± [0-9.]+ \|", text, re.M)}
    assert set(higgins) == set(scores) and higgins["Ground truth"] >= 90.0
    # The recall of each fixed factor, named in the dataset's order.
    recall = re.search(r"^\| Ground truth \|[^|]+\|[^|]+\|[^|]+\|[^|]+\| ([^|]+) \|",
                       text, re.M).group(1)
    names = [part.rsplit(" ", 1)[0] for part in recall.split(" · ")]
    assert names == ["shape", "scale", "orientation", "position_x", "position_y"]
    assert "84.9 ± 0.4" in text and "## Protocol" in text
    assert "| DC-IGN | not run | not run | 0 | 99.3 ± 0.1 |" in text  # rows left out stay visible
    assert "every row within 3 points of the paper under higgins2017" in text
    assert "(higgins2017): not measured yet" in text
    assert (tmp_path / "higgins.png").read_bytes()[:4] == b"\x89PNG"
    recorded = json.loads((tmp_path / "higgins.json").read_text())
    assert set(recorded["info"]["settings"]["protocols"]) == {"dlib", "higgins2017"}
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left


def test_higgins_table_mlp_rows_train_the_paper_network_with_adagrad(tmp_path):
    bench = _bench("higgins_table")
    out = tmp_path / "higgins.md"
    runs = tmp_path / "runs"
    assert bench.main(["--quick", "--rows", "vae_mlp,beta_vae_mlp", "--runs-dir", str(runs),
                       "--output", str(out)]) == 0
    text = out.read_text()
    assert set(_table_rows(text)) == {"VAE (MLP, paper network)",
                                      "β-VAE (β = 4, MLP, paper network)"}
    recipe = json.loads((runs / "beta_vae_mlp" / "seed_0" / "recipe.json").read_text())
    assert recipe["optimizer"] == "adagrad_zero_init" and recipe["learning_rate"] == 0.01
    assert recipe["model_args"]["architecture"] == "higgins2017" and recipe["model_args"]["beta"] == 4.0
    assert "paper network, Adagrad 0.01" in text and "4 steps (the cap, no plateau)" in text
    # what each model's code can carry: its KL to the prior and its active latents, and
    # which factors those latents follow (η², with seed 0's plot next to the table)
    assert re.search(r"\| β-VAE \(β = 4, MLP, paper network\) \|.*; KL to the prior [0-9.]+ nats "
                     r"in [0-9.]+ active latents \(the factor grid: ln 737,280 = 13\.5 nats\); "
                     r"η² of the factors: shape [0-9.]+ · scale [0-9.]+ · orientation [0-9.]+ · "
                     r"position_x [0-9.]+ · position_y [0-9.]+ \|", text)
    for row in ("vae_mlp", "beta_vae_mlp"):
        assert (tmp_path / f"higgins_latents_{row}.png").exists()
    for protocol in ("dlib", "higgins2017"):  # both measured: the target says met or not
        assert re.search(rf"above the MLP VAE \({protocol}\): (met|not met) \(", text)

    # The same runs' models at the best score of their curve: a row of their own.
    seed_0 = runs / "beta_vae_mlp" / "seed_0"
    shutil.copy(next(seed_0.glob("*.keras")), seed_0 / "best.keras")
    (seed_0 / "curve.csv").write_text("step,wall_time_seconds,cpu_seconds,val_beta_vae\n"
                                      "2,1,1,0.9\n4,2,2,0.5\n")
    results, _ = bench.run(quick=True, rows=["beta_vae_mlp_best"], runs_dir=str(runs),
                           log=lambda *_: None)
    assert len(results[0]["protocols"]["higgins2017"]["scores"]) == 1
    assert "at the best BetaVAE score of their curve" in results[0]["note"]
    assert "seed 0: step 2" in results[0]["note"]
    assert json.loads((seed_0 / "best_scores.json").read_text())["step"] == 2

    # The weights are not committed: a run's scores at its last step are kept beside it
    # and give the row when the weights are gone, for the same step and settings only.
    seed_0 = runs / "beta_vae_mlp" / "seed_0"
    kept = json.loads((seed_0 / "scores.json").read_text())
    assert kept["seed"] == 0 and kept["step"] == 4
    assert set(kept["outputs"]) == {"dlib", "higgins2017"} and "kl" in kept["facts"]
    for weights in seed_0.glob("*.keras"):
        weights.unlink()

    def beta_row():
        results, _ = bench.run(quick=True, rows=["beta_vae_mlp"], runs_dir=str(runs),
                               log=lambda *_: None)
        return results[0]

    row = beta_row()
    scored = json.loads((tmp_path / "higgins.json").read_text())["results"][1]
    assert row["protocols"]["dlib"]["scores"] == scored["protocols"]["dlib"]["scores"]
    assert "seed 0 scored from `scores.json` (weights not committed)" in row["note"]
    assert "KL to the prior" in row["note"]
    (seed_0 / "scores.json").write_text(json.dumps({**kept, "step": 2}))  # an older step
    row = beta_row()
    assert row["protocols"]["dlib"]["scores"] == []
    assert "seed 0 not scored: no weights here" in row["note"]


def test_higgins_table_says_what_was_measured_for_rows_far_from_the_paper():
    bench = _bench("higgins_table")

    def row(key, train, mean, recall):
        scored = {"mean": mean, "std": 0.0, "train_mean": train, "per_factor": recall}
        return {"key": key, "label": bench.ROWS[key][0], "published": bench.ROWS[key][1:],
                "protocols": {"dlib": dict(scored), "higgins2017": dict(scored)}}

    results = [row("raw_pixels", 70.0, 41.4, [31, 29, 33, 55, 60]),
               row("ground_truth", 100.0, 100.0, [100] * 5)]
    names = ["shape", "scale", "orientation", "position_x", "position_y"]
    assert bench.diagnoses(results, names) == [
        "- **Raw pixels** (-4.4 points): training / evaluation accuracy dlib 70.0 / 41.4; "
        "higgins2017 70.0 / 41.4; fixed factors singled out least: scale (29%) and "
        "shape (31%)"]


def test_higgins_table_notes_how_an_mlp_run_ended_and_how_far_its_loss_still_fell():
    bench = _bench("higgins_table")
    recipe = bench.mlp_recipe("beta_vae_mlp", 0)  # batch 64: an evaluation every 10,000 steps
    rows = [{"step": 10_000 * i, "val_beta_vae": 0.62, "loss": 130.0 - i} for i in range(1, 7)]
    # the score never beat its first evaluation: plateau once the 50,000-step window is full
    assert bench.describe_run(recipe, rows, 60_000) == (
        "BetaVAE plateau at 60,000 (loss 129.0 → 124.0 nats from step 10,000 to 60,000)")
    more = rows + [{"step": 70_000, "val_beta_vae": 0.70, "loss": 120.0}]
    assert bench.describe_run(recipe, more, 70_000) == (
        "BetaVAE plateau at 60,000, trained on to 70,000 "
        "(loss 128.0 → 120.0 nats from step 20,000 to 70,000)")
    # a score that peaked early and fell back: the curve's best and its last
    falling = [{"step": 10_000 * i, "val_beta_vae": 0.9 - 0.05 * i, "loss": 130.0 - i}
               for i in range(1, 7)]
    assert bench.describe_run(recipe, falling, 60_000) == (
        "BetaVAE plateau at 60,000 (loss 129.0 → 124.0 nats from step 10,000 to 60,000); "
        "curve BetaVAE best 85.0% at 10,000, 60.0% at 60,000")
    rising = [{"step": 10_000 * i, "val_beta_vae": 0.1 * i, "loss": 130.0 - i}
              for i in range(1, 4)]
    assert bench.describe_run(recipe, rising, 30_000) == "30,000 steps, not finished"


def test_higgins_table_notes_what_the_runs_with_keras_adagrad_reached(tmp_path):
    bench = _bench("higgins_table")
    assert bench.keras_adagrad_note("beta_vae_mlp", str(tmp_path)) == ""  # none kept
    run = tmp_path / "beta_vae_mlp" / "seed_0"
    run.mkdir(parents=True)
    (run / "curve.csv").write_text("step,wall_time_seconds,cpu_seconds,loss,val_beta_vae\n"
                                   "10000,1,1,120,0.62\n20000,2,2,118,0.61\n")
    note = bench.keras_adagrad_note("beta_vae_mlp", str(tmp_path))
    assert note.startswith("; with Keras's Adagrad (accumulators from 0.1) instead")
    assert note.endswith("seed 0: best BetaVAE 62.0% (curve protocol) in 20,000 steps")


def test_higgins_table_past_plateau_trains_the_mlp_runs_on(tmp_path, monkeypatch):
    bench = _bench("higgins_table")
    from kerasdis import zoo_runs

    calls = []
    monkeypatch.setattr(zoo_runs, "train_entry", lambda *a, **k: calls.append(k))
    for past in (False, True):
        runs, note = bench.mlp_runs("beta_vae_mlp", 1, str(tmp_path), True, False,
                                    log=lambda *_: None, past_plateau=past)
        assert runs == [] and "not trained yet" in note
    assert [c["stop_at_plateau"] for c in calls] == [True, False]
    with pytest.raises(SystemExit):  # it trains: without --train it is refused
        bench.main(["--past-plateau", "--output", str(tmp_path / "t.md")])
    assert not (tmp_path / "t.md").exists()


def test_higgins_table_mlp_row_without_runs_is_not_trained_yet(tmp_path):
    bench = _bench("higgins_table")
    out = tmp_path / "higgins.md"
    results, info = bench.run(quick=True, rows=["vae_mlp"], runs_dir=str(tmp_path / "none"),
                              train_runs=False, log=lambda *_: None)
    assert results[0]["protocols"]["dlib"]["scores"] == []
    assert "not trained yet" in results[0]["note"]
    text = bench.to_markdown(results, info)
    assert "| VAE (MLP, paper network) | not run | not run | 0 |" in text


def test_higgins_table_update_recomputes_only_the_given_rows(tmp_path):
    bench = _bench("higgins_table")
    out = tmp_path / "higgins.md"
    with pytest.raises(SystemExit):  # nothing to update yet
        bench.main(["--quick", "--rows", "ground_truth", "--update", "--output", str(out)])
    assert bench.main(["--quick", "--rows", "ground_truth,raw_pixels", "--output", str(out)]) == 0
    first = _table_rows(out.read_text())
    assert bench.main(["--quick", "--rows", "pca,raw_pixels", "--update",
                       "--output", str(out)]) == 0
    text = out.read_text()
    scores = _table_rows(text)
    assert set(scores) == {"Ground truth", "Raw pixels", "PCA"}
    assert scores["Ground truth"] == first["Ground truth"]  # kept from the first run
    assert text.index("| Ground truth |") < text.index("| Raw pixels |") < text.index("| PCA |")
    # Other settings than the existing rows': refused before any work.
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--rows", "pca", "--seeds", "2", "--update", "--output", str(out)])
    assert out.read_text() == text


@pytest.mark.slow
def test_higgins_table_quick_all_rows(tmp_path):
    bench = _bench("higgins_table")
    out = tmp_path / "higgins.md"
    assert bench.main(["--quick", "--output", str(out)]) == 0
    scores = _table_rows(out.read_text())
    # every row is scored but the best-step rows (the tiny runs keep no best model)
    assert set(scores) == {label for key, (label, *_) in bench.ROWS.items()
                           if key not in bench.BEST_ROWS}
    assert scores["Ground truth"] >= 90.0


def test_mig_vs_beta_quick_one_run(tmp_path):
    bench = _bench("mig_vs_beta")
    out = tmp_path / "mig.md"
    assert bench.main(["--quick", "--models", "beta_vae", "--betas", "4",
                       "--output", str(out)]) == 0
    text = out.read_text()
    assert re.search(r"^\| β-VAE \| 4 \| [0-9.]+ \|", text, re.M)
    assert (tmp_path / "mig.png").stat().st_size > 1000
    assert not list(tmp_path.glob(".mig_vs_beta.*"))


@pytest.mark.slow
def test_mig_vs_beta_quick(tmp_path):
    bench = _bench("mig_vs_beta")
    out = tmp_path / "mig.md"
    assert bench.main(["--quick", "--output", str(out)]) == 0
    text = out.read_text()
    assert len(re.findall(r"^\| β-(?:TC)?VAE \| [0-9]+ \|", text, re.M)) == 4
    assert (tmp_path / "mig.png").exists()


def test_mig_vs_beta_keeps_finished_rows_when_a_later_one_fails(tmp_path, monkeypatch):
    bench = _bench("mig_vs_beta")
    out = tmp_path / "mig.md"
    real = bench.train_and_measure

    def fail_on_second(kd, name, beta, *args, **kwargs):
        if beta == 4.0:
            raise RuntimeError("interrupted")
        return real(kd, name, beta, *args, **kwargs)

    monkeypatch.setattr(bench, "train_and_measure", fail_on_second)
    with pytest.raises(RuntimeError, match="interrupted"):
        bench.main(["--quick", "--models", "beta_vae", "--betas", "1,4", "--output", str(out)])
    text = out.read_text()
    assert re.search(r"^\| β-VAE \| 1 \| [0-9.]+ \|", text, re.M)
    assert not re.search(r"^\| β-VAE \| 4 \|", text, re.M)
    assert (tmp_path / "mig.png").stat().st_size > 1000


def test_weak_supervision_quick_trains_scores_records_and_resumes(tmp_path):
    bench = _bench("weak_supervision")
    out = tmp_path / "weak.md"
    methods = "beta_vae_dsprites,beta_tcvae_dsprites"
    assert bench.main(["--quick", "--methods", methods, "--output", str(out)]) == 0
    recorded = json.loads(out.with_suffix(".json").read_text())
    assert sorted(recorded) == ["beta_tcvae_dsprites/steps_4/seed_0",
                                "beta_vae_dsprites/steps_4/seed_0"]
    for run in recorded.values():
        assert run["steps"] == 4 and set(run["scores"]) == {"mig", "dci", "beta_vae"}
        assert run["cpu_seconds"] > 0
    text = out.read_text()
    # the table describes the recipe each run trained with: the zoo's, at the quick batch
    zoo_recipe = json.loads((ROOT / "zoo" / "beta_tcvae_dsprites" / "recipe.json").read_text())
    lr, beta = zoo_recipe["learning_rate"], zoo_recipe["model_args"]["beta"]
    assert f"| β-TCVAE | conv, batch 8, lr {lr:g}, beta {beta:g} | 0 |" in text
    assert "| Ada-GVAE (pairs) | — | none yet |" in text
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    # recorded runs are neither retrained nor rescored; --report only rewrites the table
    before = out.with_suffix(".json").read_text()
    assert bench.main(["--quick", "--methods", methods, "--output", str(out)]) == 0
    assert out.with_suffix(".json").read_text() == before
    assert bench.main(["--quick", "--report", "--output", str(out)]) == 0


def test_weak_supervision_writes_each_score_as_soon_as_it_is_measured(tmp_path, monkeypatch):
    # A benchmark killed part-way (no `finally` runs) keeps the runs it scored.
    bench = _bench("weak_supervision")
    out = tmp_path / "weak.md"
    on_disk_before_second_run = []
    real_recipe = bench.recipe

    def recipe(method, *args, **kwargs):
        if method == "beta_tcvae_dsprites":
            on_disk_before_second_run.append(json.loads(out.with_suffix(".json").read_text()))
        return real_recipe(method, *args, **kwargs)

    monkeypatch.setattr(bench, "recipe", recipe)
    assert bench.main(["--quick", "--methods", "beta_vae_dsprites,beta_tcvae_dsprites",
                       "--output", str(out)]) == 0
    assert [sorted(r) for r in on_disk_before_second_run] == [["beta_vae_dsprites/steps_4/seed_0"]]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("argv", [["--methods", "nope"], ["--seeds", "a"], ["--steps", "0"]])
def test_weak_supervision_rejects_bad_arguments(argv, tmp_path):
    bench = _bench("weak_supervision")
    with pytest.raises(SystemExit):
        bench.main([*argv, "--output", str(tmp_path / "w.md")])
    assert not list(tmp_path.iterdir())


def test_udr_validation_on_pilot_trials_reports_all_and_each_objective(tmp_path, monkeypatch):
    from kerasdis import tuning

    runs = tmp_path / "runs"
    tuning.search("beta_vae", "dsprites", tuner="grid", objective="val_discrete_mig",
                  max_trials=None, directory=str(runs / "beta_vae"), project_name="weight-conv-b8",
                  beta=[1.0, 4.0, 8.0], latent_dim=3, learning_rate=[1e-3], steps_per_epoch=2,
                  epochs=1, batch_size=8, metrics=("discrete_mig",),
                  metric_options={"discrete_mig": {"num_train": 300}}, load_best_model=False)
    bench = _bench("udr_validation")
    monkeypatch.setattr(bench, "PILOTS", runs)
    out = tmp_path / "udr.md"
    assert bench.main(["--quick", "--population", "pilots", "--output", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# UDR against the supervised scores (pilot trials)")
    assert "## All models" in text and "## Within beta_vae" in text
    assert "| beta_vae conv-b8 w=4 lr=0.001 |" in text
    assert "--population pilots" in text and (tmp_path / "udr.png").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(bench, "PILOTS", empty)
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--population", "pilots", "--output", str(tmp_path / "x.md")])
    assert not (tmp_path / "x.md").exists()


def test_udr_search_quick_runs_the_val_udr_grid_and_reports_every_seed(tmp_path, monkeypatch):
    bench = _bench("udr_search")
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    out = tmp_path / "search.md"
    assert bench.main(["--quick", "--output", str(out)]) == 0
    from kerasdis import tuning

    table = tuning.results_table(str(tmp_path / "quick" / "udr_search" / bench.PROJECT))
    assert [row["beta"] for row in table] == bench.QUICK["grid"]
    for row in table:
        assert row["status"] == "COMPLETED", row.get("message")
        for seed in range(bench.QUICK["seeds"]):
            assert 0.0 <= row[f"val_udr_seed_{seed}"] <= 1.0
            assert {f"val_{m}_seed_{seed}" for m in ("mig", "dci", "beta_vae")} <= set(row)
    text = out.read_text()
    assert 'objective="val_udr", seeds_per_trial=2, beta=[1.0, 8.0]' in text
    assert "- trials completed: 2 of 2" in text
    assert re.search(r"^\| 8 \| \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\] \|", text, re.M)
    assert "The search's choice by UDR (no labels): β = " in text
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    # a finished search is not run again; --report only rewrites the table
    before = (tmp_path / "quick" / "udr_search" / bench.PROJECT / "oracle.json").read_text()
    assert bench.main(["--quick", "--report", "--output", str(out)]) == 0
    assert (tmp_path / "quick" / "udr_search" / bench.PROJECT / "oracle.json").read_text() \
        == before


@pytest.mark.bad_input
def test_udr_search_rejects_bad_threads(tmp_path, monkeypatch):
    bench = _bench("udr_search")
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--threads", "-1", "--output", str(tmp_path / "x.md")])
    assert not list(tmp_path.iterdir())


def test_udr_validation_seed_section_compares_udr_with_the_seeds_scores():
    bench = _bench("udr_validation")
    seeds = [{"seed": s, "udr": u, "scores": {"mig": m, "dci": d, "beta_vae": 0.9}}
             for s, u, m, d in ((0, 0.2, 0.1, 0.3), (1, 0.5, 0.4, 0.2), (2, 0.4, 0.3, 0.1))]
    selection = {"by": "mig", "seed": 1, "seed_by_target": 1, "seed_by_udr": 1}
    text = "\n".join(bench.seed_section([("tiny_dsprites", seeds, selection)]))
    assert "| tiny_dsprites | 1 | 0.500 | 0.400 | 0.200 | 0.900 |" in text
    # MIG ranks the seeds as UDR does; DCI in reverse; a constant score has no ρ
    assert "MIG +1.00 (n=3)" in text and "DCI disentanglement -0.50 (n=3)" in text
    assert "BetaVAE score —" in text and "UDR picks seed 1, mig picks seed 1" in text
    assert "No entry is published" in "\n".join(bench.seed_section([]))


def test_udr_validation_correlations_leave_out_undefined_rho():
    bench = _bench("udr_validation")
    table = [{"udr_spearman": u, "mig": m, "dci": 0.5, "beta_vae": None}
             for u, m in ((0.1, 0.2), (0.3, 0.1), (0.6, 0.4), (0.7, 0.5))]
    correlations = bench.correlations_of(table, ["spearman"])
    assert correlations[("spearman", "mig")][0] == pytest.approx(0.8)
    assert correlations[("spearman", "mig")][2] == 4
    # DCI is constant (ρ undefined) and the BetaVAE score unknown: no entry, no "+nan"
    assert set(correlations) == {("spearman", "mig")}


def test_adagrad_start_compares_both_accumulator_starts_on_the_paper_network(tmp_path):
    bench = _bench("adagrad_start")
    out = tmp_path / "adagrad.md"
    assert bench.main(["--quick", "--output", str(out)]) == 0
    text = out.read_text()
    assert "batch 8, learning rate 1e-2) for 2 steps" in text
    assert "training loss: mean over the last 2 steps" in text
    for label in bench.VARIANTS.values():  # one row per run, one mean row per optimizer
        assert len(re.findall(rf"^\| {re.escape(label)} \|", text, flags=re.M)) == 2
    assert bench.recipe("adagrad_zero_init", 10, 3)["optimizer"] == "adagrad_zero_init"
    assert bench.recipe("adagrad", 10, 3)["model_args"]["architecture"] == "higgins2017"
    assert bench.recipe("adagrad", 4_000, 3)["checkpoint_every"] == bench.LOSS_WINDOW
    assert out.with_suffix(".png").exists()


def test_udr_verdict_names_the_scores_udr_tracks():
    bench = _bench("udr_validation")
    tracked, weak, untested = (0.62, 0.01, 15), (0.78, 0.07, 6), (-0.2, 0.5, 15)
    assert bench.verdict({"MIG": tracked, "DCI": weak, "BetaVAE": None}) == \
        "UDR tracks MIG here, not DCI"
    assert bench.verdict({"MIG": tracked, "DCI": tracked}, where="over these models") == \
        "UDR tracks every supervised score over these models"
    assert bench.verdict({"MIG": weak, "DCI": untested}) == \
        "UDR does not clearly track the supervised scores here"
    assert bench.verdict({}) == "UDR does not clearly track the supervised scores here"


@pytest.mark.bad_input
def test_ground_truth_of_some_factors_keeps_only_their_codes(dsprites):
    gt = ground_truth(dsprites, factors=["position_x", "scale"])
    assert gt.latent_dim == 2
    f = dsprites.sample_factors(4, seed=1)
    np.testing.assert_array_equal(gt.grid_codes().lookup(f), f[:, [3, 1]].astype(np.float32))
    np.testing.assert_array_equal(ground_truth(dsprites, factors=[3, 1]).codes_of(f),
                                  gt.codes_of(f))
    for bad in (["colour"], [7], [], ["scale", "scale"], [True]):
        with pytest.raises(ValueError, match="`factors`"):
            ground_truth(dsprites, factors=bad)


def test_higgins_table_ground_truth_without_a_factor_still_scores_by_elimination(tmp_path):
    # one factor no code follows is singled out by elimination (every dimension varies):
    # the metric barely notices it; the row has no published figure and no target
    bench = _bench("higgins_table")
    results, info = bench.run(quick=True, rows=["ground_truth_without_shape"],
                              log=lambda *_: None)
    (row,) = results
    assert row["published"] == (None, None)
    assert row["protocols"]["dlib"]["mean"] >= 90.0
    assert "shape left out" in row["note"]
    text = bench.to_markdown(results, info)
    assert "| Ground truth without shape (not in the paper) |" in text
    assert " | — | " in text
    assert "not met by" not in text and "## Rows more than" not in text
    assert ("- a perfect code of scale, orientation, position_x, position_y only: "
            f"{row['protocols']['higgins2017']['mean']:.1f} under higgins2017") in text
    bench.plot(results, str(tmp_path / "t.png"))
