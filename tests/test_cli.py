import json
import os
import subprocess
import sys

import pytest

from kerasdis import cli

TINY_TRAIN = ["train", "--model", "beta_vae", "--latent-dim", "3", "--steps", "4",
              "--batch-size", "8", "--checkpoint-every", "2", "--verbose", "0",
              "--eval-metrics", "discrete_mig", "beta_vae", "--quick-eval"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cli") / "run")
    assert cli.main([*TINY_TRAIN, "--out", out]) == 0
    return out


def test_train_writes_everything(run_dir):
    for name in ("model.keras", "checkpoint.keras", "recipe.json", "state.json",
                 "training.json", "metrics.json", "traversal.png", "traversal.gif",
                 "reconstructions.png", "samples.png", "kl.png"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    assert sorted(os.listdir(os.path.join(run_dir, "preset"))) == [
        "config.json", "metadata.json", "model.weights.h5"]
    metrics = json.load(open(os.path.join(run_dir, "metrics.json")))
    assert {"discrete_mig", "beta_vae", "protocol"} <= set(metrics)
    assert os.path.isdir(os.path.join(run_dir, "logs"))
    assert not [p for p in os.listdir(run_dir) if ".tmp-" in p]


def test_existing_out_is_refused_then_resume_and_overwrite(run_dir, capsys):
    assert cli.main([*TINY_TRAIN, "--out", run_dir]) == 1
    assert "--resume" in capsys.readouterr().err
    assert cli.main([*TINY_TRAIN, "--out", run_dir, "--resume", "--eval-metrics"]) == 0


def test_evaluate_prints_a_table_and_writes_json(run_dir, tmp_path, capsys):
    out = str(tmp_path / "scores.json")
    assert cli.main(["evaluate", run_dir, "--metrics", "discrete_mig", "--quick",
                     "--output", out]) == 0
    assert "discrete_mig" in capsys.readouterr().out
    assert "discrete_mig" in json.load(open(out))


def test_visualize_and_export(run_dir, tmp_path):
    pictures = str(tmp_path / "pics")
    assert cli.main(["visualize", os.path.join(run_dir, "model.keras"), "--out", pictures]) == 0
    assert {"traversal.png", "traversal.gif", "reconstructions.png"} <= set(os.listdir(pictures))
    exported = str(tmp_path / "sm")
    assert cli.main(["export", os.path.join(run_dir, "preset"), exported]) == 0
    assert os.path.isfile(os.path.join(exported, "saved_model.pb"))
    assert cli.main(["export", run_dir, exported]) == 1  # exists, no --overwrite


def test_datasets_and_zoo_list(capsys):
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "dsprites" in out and "737,280" in out
    assert cli.main(["zoo", "list"]) == 0
    # one line per shipped preset
    from kerasdis import zoo

    assert zoo.list()
    assert capsys.readouterr().out.splitlines() == zoo.list()


@pytest.mark.bad_input
def test_errors_exit_non_zero(tmp_path, capsys):
    with pytest.raises(SystemExit) as error:
        cli.main(["train", "--model", "gan", "--out", str(tmp_path / "x")])
    assert error.value.code == 2
    assert "beta_tcvae" in capsys.readouterr().err  # lists the valid models
    with pytest.raises(SystemExit) as error:  # an argument error, before any work
        cli.main([*TINY_TRAIN, "--dataset", "mnist", "--out", str(tmp_path / "y")])
    assert error.value.code == 2
    assert "dsprites" in capsys.readouterr().err
    assert cli.main(["evaluate", str(tmp_path / "missing.keras")]) == 1
    assert cli.main(["evaluate", "no_such_entry"]) == 1
    assert not os.path.exists(tmp_path / "y" / "checkpoint.keras")


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "kerasdis.cli", "--help"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and "demo" in proc.stdout


def test_evaluate_udr_ranks_several_runs(run_dir, tmp_path, capsys):
    second = str(tmp_path / "seed1")
    assert cli.main([*TINY_TRAIN, "--seed", "1", "--eval-metrics", "--out", second]) == 0
    out = str(tmp_path / "udr.json")
    capsys.readouterr()
    assert cli.main(["evaluate", run_dir, second, "--metric", "udr", "--udr-samples", "300",
                     "--output", out]) == 0
    printed = capsys.readouterr().out
    assert "rank" in printed and run_dir in printed and second in printed
    assert "two models share one UDR" in printed  # a pair's scores are symmetric: no ranking
    with open(out) as f:
        result = json.load(f)
    assert result["models"] == [run_dir, second] and len(result["scores"]) == 2
    assert result["scores"][0] == pytest.approx(result["scores"][1])
    assert all(0.0 <= s <= 1.0 for s in result["scores"])
    assert cli.main(["evaluate", run_dir, "--metric", "udr"]) == 1
    assert "two or more" in capsys.readouterr().err
    assert cli.main(["evaluate", run_dir, second, "--metric", "udr", "mig"]) == 1
    assert cli.main(["evaluate", run_dir, second, "--metrics", "mig"]) == 1


def test_short_run_evaluates_reduced_and_says_the_cost(tmp_path, capsys):
    out = str(tmp_path / "short")
    argv = ["train", "--model", "beta_vae", "--latent-dim", "3", "--steps", "4",
            "--batch-size", "8", "--checkpoint-every", "2", "--verbose", "0",
            "--eval-metrics", "discrete_mig"]  # no --quick-eval
    assert cli.main([*argv, "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "a short run (4 steps" in printed and "--full-eval" in printed
    assert "evaluating discrete_mig (2,000)" in printed and "images/s here" in printed
    with open(os.path.join(out, "metrics.json")) as f:
        assert json.load(f)["protocol"]["reduced"] is True
    assert cli.main(["evaluate", out, "--metrics", "discrete_mig"]) == 0
    printed = capsys.readouterr().out
    assert "evaluating discrete_mig (10,000)" in printed and "--quick" in printed
    with open(os.path.join(out, "metrics.json")) as f:
        assert json.load(f)["protocol"]["reduced"] is False
