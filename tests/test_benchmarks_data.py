"""Smoke test: `benchmarks/data_pipeline.py` runs and writes its table (not a timing test)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load_benchmark():
    spec = importlib.util.spec_from_file_location(
        "kerasdis_bench_data_pipeline", ROOT / "benchmarks" / "data_pipeline.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_data_pipeline_benchmark_quick(tmp_path):
    bench = _load_benchmark()
    output = tmp_path / "results" / "data_pipeline.md"
    results = bench.main(["--quick", "--seconds", "0.2", "--train-steps", "2",
                          "--output", str(output)])
    text = output.read_text()
    assert "| measurement | images/s |" in text and "ratio" in text and "CPUs" in text
    for key in ("images_64", "images_1024", "as_dataset", "train", "train_fed", "ratio"):
        assert results[key] > 0
    assert not list(output.parent.glob("*.tmp"))
