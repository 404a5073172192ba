"""Smoke test of `benchmarks/metrics_speed.py --quick`."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location(
        "metrics_speed", ROOT / "benchmarks" / "metrics_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_metrics_speed_quick(tmp_path):
    pytest.importorskip("kerasdis.models")
    pytest.importorskip("kerasdis.data")
    bench = _load()
    out = tmp_path / "speed.md"
    assert bench.main(["--quick", "--opt-in", "--output", str(out)]) == 0
    text = out.read_text()
    assert "| metric |" in text
    for name in ("mig (Chen et al.)", "beta_vae", "factor_vae", "dci", "sap",
                 "modularity_explicitness", "elbo_decomposition",
                 "mig, estimator='shared' (opt-in)", "dci, classifier='hist' (opt-in)"):
        assert f"| {name}" in text
    assert not list(tmp_path.glob(".metrics_speed.*"))  # no temporary file left
