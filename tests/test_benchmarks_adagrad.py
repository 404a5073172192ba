"""Smoke test of `benchmarks/adagrad_start.py --quick` (not a result: 2 steps per run)."""

import importlib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("benchmarks.adagrad_start")


def test_adagrad_start_quick(tmp_path):
    bench = _load()
    out = tmp_path / "adagrad.md"
    assert bench.main(["--quick", "--output", str(out)]) == 0
    text = out.read_text()
    assert "training loss: mean over the last 2 steps" in text
    rows = [line for line in text.splitlines() if line.startswith("| Keras") or
            line.startswith("| Adagrad from 0")]
    assert len(rows) == 4  # one run per optimizer (seed 0), then the mean per optimizer
    assert "η² scale" in text
    assert out.with_suffix(".png").stat().st_size > 0


def test_adagrad_start_recipes_differ_only_in_the_optimizer():
    bench = _load()
    keras_start, zero_start = (bench.recipe(name, 4_000, 1) for name in bench.VARIANTS)
    assert keras_start["optimizer"] == "adagrad"
    assert zero_start["optimizer"] == "adagrad_zero_init"
    assert {k: v for k, v in keras_start.items() if k != "optimizer"} == \
        {k: v for k, v in zero_start.items() if k != "optimizer"}
    assert keras_start["checkpoint_every"] == bench.LOSS_WINDOW
