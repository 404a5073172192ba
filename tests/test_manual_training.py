"""Manually downloaded datasets end to end: `kd.training.train(..., data_dir=)`, the
`kerasdis train/evaluate/visualize/tune --data-dir` commands, and the β-VAE paper's
figure script (`benchmarks/seed_figures.py`), on the tiny fake chairs3d / cars3d
archives of `test_manual_datasets` and `test_benchmark_datasets`, prepared on first
load from `<data_dir>/downloads/manual`.
"""

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from test_benchmark_datasets import CARS, write_cars
from test_manual_datasets import MODELS, write_archive

import kerasdis as kd
from kerasdis import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def chairs_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("chairs_tfds")
    manual = data_dir / "downloads" / "manual"
    manual.mkdir(parents=True)
    write_archive(manual / "rendered_chairs.tar", models=MODELS[:2])  # 2 x 62 views
    return str(data_dir)


@pytest.fixture(scope="module")
def cars_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("cars_tfds")
    manual = data_dir / "downloads" / "manual"
    manual.mkdir(parents=True)
    write_cars(manual / "nips2015-analogy-data.tar.gz", cars=CARS[:1])  # 96 views
    return str(data_dir)


TINY = {"model": "beta_vae", "steps": 2, "batch_size": 4, "checkpoint_every": 1,
        "model_args": {"latent_dim": 3}}


def test_train_cars3d_from_data_dir(cars_dir, tmp_path):
    out = str(tmp_path / "run")
    recipe = {**TINY, "dataset": "cars3d"}
    model, summary = kd.training.train(recipe, out, data_dir=cars_dir, verbose=0,
                                       tensorboard=False)
    assert summary["steps"] == 2
    assert model.image_shape == (64, 64, 3)  # follows the dataset, not said in the recipe
    with open(os.path.join(out, "recipe.json")) as f:
        saved = json.load(f)
    assert "data_dir" not in json.dumps(saved) and saved["dataset"] == "cars3d"
    # The data location is not part of the recipe: a resume may find it elsewhere.
    _, again = kd.training.train({**recipe, "steps": 4}, str(tmp_path / "run2"),
                                 data_options={"data_dir": cars_dir}, verbose=0,
                                 tensorboard=False)
    _, resumed = kd.training.train(recipe, out, resume=True, data_dir=cars_dir, verbose=0,
                                   tensorboard=False)
    assert resumed["steps"] == 2 and again["steps"] == 4


@pytest.mark.bad_input
def test_train_without_data_leaves_the_run_directory_empty(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="nips2015-analogy-data.tar.gz"):
        kd.training.train({**TINY, "dataset": "cars3d"}, str(out), data_dir=str(tmp_path / "x"),
                          verbose=0, tensorboard=False)
    assert not out.exists() or not os.listdir(out)


@pytest.mark.bad_input
def test_train_data_options_are_locations_only(tmp_path):
    with pytest.raises(ValueError, match=r"where the data is.*\['seed'\]"):
        kd.training.train({**TINY, "dataset": "cars3d"}, str(tmp_path / "run"),
                          data_options={"seed": 3})
    with pytest.raises(ValueError, match="differ"):
        kd.training.train({**TINY, "dataset": "cars3d"}, str(tmp_path / "run"),
                          data_dir="a", data_options={"data_dir": "b"})


def test_cli_train_evaluate_visualize_chairs3d(chairs_dir, tmp_path, capsys):
    out = str(tmp_path / "run")
    code = cli.main(["train", "--dataset", "chairs3d", "--data-dir", chairs_dir, "--steps", "2",
                     "--batch-size", "4", "--checkpoint-every", "1", "--latent-dim", "3",
                     "--out", out, "--verbose", "0", "--eval-metrics", "discrete_mig",
                     "--quick-eval"])
    assert code == 0, capsys.readouterr().err
    with open(os.path.join(out, "metrics.json")) as f:
        assert np.isfinite(json.load(f)["discrete_mig"]["discrete_mig"])
    for name in ("model.keras", "traversal.png", "preset"):
        assert os.path.exists(os.path.join(out, name))
    with open(os.path.join(out, "recipe.json")) as f:
        assert "data_dir" not in f.read()
    # evaluate and visualize read the run's dataset from the same --data-dir
    assert cli.main(["evaluate", out, "--data-dir", chairs_dir, "--metrics", "discrete_mig",
                     "--quick", "--output", str(tmp_path / "m.json")]) == 0
    assert cli.main(["visualize", out, "--data-dir", chairs_dir,
                     "--out", str(tmp_path / "pictures")]) == 0
    assert (tmp_path / "pictures" / "traversal.png").exists()


@pytest.mark.bad_input
def test_cli_train_without_data_says_where_to_get_it(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code = cli.main(["train", "--dataset", "chairs3d", "--data-dir", str(empty), "--steps", "2",
                     "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1
    assert "rendered_chairs.tar" in err and os.path.join(str(empty), "downloads", "manual") in err
    assert "Traceback" not in err
    assert not os.listdir(tmp_path / "run")  # nothing written: the same command works later


@pytest.mark.bad_input
def test_cli_data_dir_for_a_procedural_dataset_is_a_clear_error(tmp_path, capsys):
    code = cli.main(["train", "--dataset", "dsprites", "--data-dir", str(tmp_path),
                     "--steps", "2", "--out", str(tmp_path / "run")])
    assert code == 1 and "data_dir" in capsys.readouterr().err


def test_cli_train_scream_dsprites_with_image_path(tmp_path, capsys):
    from PIL import Image

    painting = tmp_path / "painting.png"
    pixels = np.random.default_rng(0).integers(0, 256, (100, 120, 3), np.uint8)
    Image.fromarray(pixels).save(painting)
    out = str(tmp_path / "run")
    common = ["train", "--dataset", "scream_dsprites", "--steps", "2", "--batch-size", "4",
              "--checkpoint-every", "1", "--latent-dim", "3", "--verbose", "0",
              "--eval-metrics"]
    assert cli.main([*common, "--out", out, "--image-path", str(painting)]) == 0, \
        capsys.readouterr().err
    model = kd.workflows.load_any_model(out)
    assert model.image_shape == (64, 64, 3)
    code = cli.main([*common, "--out", str(tmp_path / "other"),
                     "--data-dir", str(tmp_path / "nothing")])
    err = capsys.readouterr().err
    assert code == 1 and "Scream" in err and "Traceback" not in err


def test_tune_data_dir_loads_the_dataset(cars_dir, tmp_path, monkeypatch):
    from kerasdis import tuning

    seen = {}

    def fake_search(**kwargs):
        seen.update(kwargs)
        raise ValueError("stop here")

    monkeypatch.setattr(tuning, "search", fake_search)
    code = cli.main(["tune", "--dataset", "cars3d", "--data-dir", cars_dir, "--max-trials", "1",
                     "--out", str(tmp_path / "tune")])
    assert code == 1
    dataset = seen["dataset"]
    assert dataset.name == "cars3d" and tuple(dataset.observation_shape) == (64, 64, 3)


def _seed_figures():
    spec = importlib.util.spec_from_file_location("kerasdis_seed_figures",
                                                  ROOT / "benchmarks" / "seed_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_figures_chairs3d(chairs_dir, tmp_path, capsys):
    from PIL import Image

    figures = _seed_figures()
    assert figures.RECIPES["chairs3d"]["model_args"]["beta"] == 5.0
    output = tmp_path / "figures" / "chairs3d.png"
    argv = ["--dataset", "chairs3d", "--data-dir", chairs_dir, "--steps", "2", "--rows", "4",
            "--num-images", "16", "--run-dir", str(tmp_path / "run"), "--output", str(output),
            "--verbose", "0"]
    assert figures.main(argv) == 0, capsys.readouterr().err
    info = json.loads(output.with_suffix(".json").read_text())
    assert info["steps"] == 2 and info["recipe"]["model_args"]["latent_dim"] == 32
    kls = [row["kl"] for row in info["rows"]]
    assert len(kls) == 4 and kls == sorted(kls, reverse=True)
    assert Image.open(output).size[0] > 64
    # Run again: the run resumes (already finished), the figure is redrawn.
    assert figures.main(argv) == 0
    # --preset draws a trained model without training.
    preset = ["--dataset", "chairs3d", "--data-dir", chairs_dir, "--preset",
              str(tmp_path / "run"), "--rows", "2", "--num-images", "8",
              "--output", str(tmp_path / "p.png")]
    assert figures.main(preset) == 0 and (tmp_path / "p.png").exists()


@pytest.mark.bad_input
@pytest.mark.parametrize("dataset, needed", [("chairs3d", "rendered_chairs.tar"),
                                             ("celeba", "img_align_celeba.zip")])
def test_seed_figures_without_data(dataset, needed, tmp_path, capsys):
    figures = _seed_figures()
    code = figures.main(["--dataset", dataset, "--data-dir", str(tmp_path), "--steps", "2",
                         "--run-dir", str(tmp_path / "run"),
                         "--output", str(tmp_path / "f.png")])
    err = capsys.readouterr().err
    assert code == 1 and needed in err.lower() and "Traceback" not in err
    assert not (tmp_path / "f.png").exists() and not (tmp_path / "run").exists()
