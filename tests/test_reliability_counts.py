"""`benchmarks/reliability_counts.py` counts raises blocks and fault tests (on a sample file)."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = textwrap.dedent('''
    import pytest


    @pytest.mark.bad_input
    def test_two_bad_inputs():
        with pytest.raises(ValueError):
            int("x")
        with pytest.raises(ZeroDivisionError, match="division"):
            1 / 0


    @pytest.mark.fault
    def test_a_fault():
        """A fault survived."""


    def test_unmarked_is_not_run():
        with pytest.raises(KeyError):
            {}["k"]
        assert False
''')


def test_counts_on_a_sample_test_file(tmp_path):
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    bad_input: bad input\n    fault: fault\n")
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    output = tmp_path / "reliability.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "reliability_counts.py"),
         "--output", str(output), str(tmp_path / "test_sample.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = output.read_text()
    assert "| Bad inputs refused with the expected error | 2 |" in text
    assert "| Bad-input tests passed / run | 1 / 1 |" in text
    assert "| Fault-injection tests passed / run | 1 / 1 |" in text
    assert "test_sample.py::test_a_fault` (passed): A fault survived." in text
    assert "| `test_sample.py` | 2 | 1 / 1 | 1 / 1 |" in text
    assert "unmarked" not in text
