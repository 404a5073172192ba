"""Counts the reliability tests: bad inputs refused, faults injected and survived.

Runs, in this process, the tests marked `bad_input` or `fault`
(`pytest -m "bad_input or fault" tests`) with a small plugin that
- wraps `pytest.raises` to count, per test, the `raises` blocks whose expected
  error was raised: one block run is one bad input tried;
- records each test's outcome and markers.

It writes `benchmarks/results/reliability.md` (the numbers the README quotes) and
exits non-zero if a selected test failed. The slow fault tests (SIGKILL, killed
search, multi-worker) are skipped unless `--runslow` is given, as in pytest.

    python benchmarks/reliability_counts.py            # a few minutes
    python benchmarks/reliability_counts.py --runslow  # all the fault tests
"""

import argparse
import collections
import contextlib
import datetime
import importlib.metadata
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "reliability.md"
MARKERS = ("bad_input", "fault")


class ReliabilityCounter:
    """pytest plugin: `raises` blocks that caught their error, outcomes and markers per test."""

    def __init__(self):
        self.caught = collections.Counter()  # nodeid -> raises blocks that caught their error
        self.tests = {}  # nodeid -> {"file", "markers", "description", "outcome"}
        self.current = None
        self._raises = None

    def pytest_configure(self, config):
        self._raises = pytest.raises
        pytest.raises = self._counting_raises

    def pytest_unconfigure(self, config):
        pytest.raises = self._raises

    def _counting_raises(self, *args, **kwargs):
        if len(args) > 1:  # the call form, pytest.raises(Error, function, *arguments)
            info = self._raises(*args, **kwargs)
            self.caught[self.current] += 1
            return info
        return self._counted(self._raises(*args, **kwargs))

    @contextlib.contextmanager
    def _counted(self, context):
        with context as info:
            yield info
        self.caught[self.current] += 1  # not reached when the expected error was not raised

    def pytest_collection_finish(self, session):
        for item in session.items:
            doc = (getattr(item, "function", None) and item.function.__doc__) or ""
            name = getattr(item, "originalname", item.name)
            self.tests[item.nodeid] = {
                "file": item.nodeid.split("::")[0],
                "markers": {m.name for m in item.iter_markers()} & set(MARKERS),
                "description": doc.strip().split("\n")[0] or name[5:].replace("_", " "),
                "outcome": "not run",
            }

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.current = item.nodeid
        try:
            return (yield)
        finally:
            self.current = None

    def pytest_runtest_logreport(self, report):
        test = self.tests.get(report.nodeid)
        if test is None or test["outcome"] == "failed":
            return
        if report.failed:
            test["outcome"] = "failed"
        elif report.skipped:
            test["outcome"] = "skipped"
        elif report.when == "call":
            test["outcome"] = "passed"

    def totals(self, tests=None):
        """{"bad_inputs", "bad_input": Counter of outcomes, "fault": Counter of outcomes}."""
        tests = self.tests if tests is None else tests
        result = {"bad_inputs": 0, **{m: collections.Counter() for m in MARKERS}}
        for nodeid, test in tests.items():
            for marker in test["markers"]:
                result[marker][test["outcome"]] += 1
            if "bad_input" in test["markers"] and test["outcome"] == "passed":
                result["bad_inputs"] += self.caught[nodeid]
        return result


def _passed(outcomes):
    """'12 / 12' (passed / run), with the skipped ones after it."""
    run = sum(n for outcome, n in outcomes.items() if outcome != "skipped")
    text = f"{outcomes['passed']} / {run}"
    return text + (f" ({outcomes['skipped']} skipped)" if outcomes["skipped"] else "")


def report(counter, command, exit_code, runslow):
    """The markdown page."""
    totals = counter.totals()
    try:
        version = importlib.metadata.version("kerasdis")
    except importlib.metadata.PackageNotFoundError:
        version = "not installed"
    lines = [
        "# Reliability counts",
        "",
        f"Produced by `{command}` on {datetime.date.today().isoformat()}: kerasdis {version},",
        f"pytest {pytest.__version__}, Python {sys.version.split()[0]}; pytest exit code "
        f"{exit_code}.",
        "It runs the tests marked `bad_input` or `fault`. A bad input is one `pytest.raises`",
        "block, in a passing `bad_input` test, whose expected error was raised."
        + ("" if runslow else " Slow fault tests are skipped; `--runslow` adds them."),
        "",
        "| | count |",
        "| --- | --- |",
        f"| Bad inputs refused with the expected error | {totals['bad_inputs']} |",
        f"| Bad-input tests passed / run | {_passed(totals['bad_input'])} |",
        f"| Fault-injection tests passed / run | {_passed(totals['fault'])} |",
        "",
        "## Faults injected",
        "",
    ]
    for nodeid, test in counter.tests.items():
        if "fault" in test["markers"]:
            lines.append(f"- `{nodeid}` ({test['outcome']}): {test['description']}")
    lines += ["", "## Per file", "",
              "| file | bad inputs | bad-input tests passed / run | fault tests passed / run |",
              "| --- | ---: | --- | --- |"]
    files = collections.defaultdict(dict)
    for nodeid, test in counter.tests.items():
        files[test["file"]][nodeid] = test
    for name, tests in sorted(files.items()):
        t = counter.totals(tests)
        lines.append(f"| `{name}` | {t['bad_inputs']} | {_passed(t['bad_input'])} | "
                     f"{_passed(t['fault'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runslow", action="store_true", help="include the slow fault tests")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="the markdown file")
    parser.add_argument("paths", nargs="*", default=[str(ROOT / "tests")],
                        help="test files or directories (default: tests/)")
    argv = sys.argv[1:] if argv is None else list(argv)
    options = parser.parse_args(argv)
    pytest_args = ["-m", "bad_input or fault", "-p", "no:cacheprovider", *options.paths]
    if options.runslow:
        pytest_args.append("--runslow")
    counter = ReliabilityCounter()
    exit_code = int(pytest.main(pytest_args, plugins=[counter]))
    command = " ".join(["python benchmarks/reliability_counts.py", *argv])
    text = report(counter, command, exit_code, options.runslow)
    output = Path(options.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, output)
    print(f"\n{output}:\n\n{text}")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
