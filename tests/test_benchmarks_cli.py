"""Smoke test: `benchmarks/cli_startup.py` runs and writes its table (not a timing test)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cli_startup_benchmark_quick(tmp_path):
    spec = importlib.util.spec_from_file_location("kerasdis_bench_cli_startup",
                                                  ROOT / "benchmarks" / "cli_startup.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    output = tmp_path / "cli_startup.md"
    assert bench.main(["--quick", "--output", str(output)]) == 0
    text = output.read_text()
    for label, _, _ in bench.COMMANDS:
        assert label in text
    assert "1.5 s target" in text and not list(tmp_path.glob("*.tmp"))
