"""Collects the benchmark tables into `benchmarks/results/summary.md`.

`python -m benchmarks` runs every script and calls `write_summary`; this module can
also rebuild the summary from the tables already in a results directory:

    python -m benchmarks.summary                      # benchmarks/results/summary.md
    python -m benchmarks.summary --results-dir DIR
"""

import argparse
import datetime
import importlib.metadata
import os
import platform
import re
import sys
from pathlib import Path

from benchmarks._output import write_atomic  # noqa: F401  (used by __main__ too)

HERE = Path(__file__).resolve().parent
DEFAULT_RESULTS = HERE / "results"
SUMMARY = "summary.md"
PACKAGES = ("tensorflow", "keras", "tensorflow-probability", "numpy", "scikit-learn", "torch",
            "kerasdis")


def cpu_model():
    """CPU model name from /proc/cpuinfo (platform's guess elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            match = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
        if match:
            return match.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags(wanted=("avx2", "avx512f", "avx512_bf16", "amx_bf16")):
    try:
        with open("/proc/cpuinfo") as f:
            match = re.search(r"^flags\s*:\s*(.+)$", f.read(), re.M)
    except OSError:
        return []
    have = set(match.group(1).split()) if match else set()
    return [flag for flag in wanted if flag in have]


def memory_gib():
    try:
        with open("/proc/meminfo") as f:
            match = re.search(r"^MemTotal:\s*(\d+) kB", f.read(), re.M)
        return int(match.group(1)) / 2**20 if match else None
    except OSError:
        return None


def versions():
    """Installed versions, read from package metadata (nothing is imported)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def load_average():
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def machine_info():
    mem = memory_gib()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "flags": ", ".join(cpu_flags()) or "n/a",
        "memory": f"{mem:.0f} GiB" if mem else "n/a",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(),
    }


def demote_headings(text, levels=1):
    """`# x` -> `## x` (outside code fences), so each table nests under its section."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"^#{1,5} ", line):
            line = "#" * levels + line
        out.append(line)
    return "\n".join(out)


def render(runs, info, quick=None, total_seconds=None, load_start=None, load_end=None,
           budget_seconds=None, partial=False):
    """Markdown of the summary.

    Args:
        runs: list of dicts with `name`, `status` ("ok", "failed (exit N)", "timed out",
            "skipped", ...), `seconds` (or None), `output` (path or None) and `fresh`
            (whether `output` was written by this run; default: status is "ok").
        info: `machine_info()`.
        budget_seconds: the time target of the whole speed set; `partial=True` (some
            speed benchmarks skipped, e.g. `--only`) says the target does not apply.
    """
    v = info["versions"]
    lines = [
        "# kerasdis benchmarks: summary",
        "",
        f"- date: {info['date']}" + ("" if quick is None else "; mode: " + (
            "--quick (tiny settings, not meaningful)" if quick else "full")),
        f"- machine: {info['cpu']}, {info['cores']} cores ({info['flags']}), {info['memory']} RAM; "
        f"{info['platform']}",
        f"- python {info['python']}; " + ", ".join(f"{k} {v[k]}" for k in v),
    ]
    if load_start is not None:
        lines.append(f"- load average (1, 5, 15 min) at start: {load_start}; at end: {load_end} "
                     "(a shared machine makes absolute numbers noisy)")
    if total_seconds is not None:
        budget = ""
        if partial:
            budget = " (a partial run: the time target is for the whole speed set)"
        elif budget_seconds:
            budget = (f" ({'within' if total_seconds <= budget_seconds else 'OVER'} the "
                      f"{budget_seconds / 60:.0f}-minute target)")
        lines.append(f"- total wall time: {total_seconds / 60:.1f} min{budget}")
    lines += ["", "| script | status | seconds | table |", "| --- | --- | ---: | --- |"]
    for run in runs:
        seconds = "" if run.get("seconds") is None else f"{run['seconds']:.0f}"
        output = run.get("output")
        table = Path(output).name if output and Path(output).exists() else ""
        lines.append(f"| `{run['name']}.py` | {run['status']} | {seconds} | {table} |")
    lines.append("")
    for run in runs:
        output = run.get("output")
        if not output or not Path(output).exists():
            continue
        lines += [f"## {run['name']}", ""]
        if not run.get("fresh", run["status"] == "ok"):
            lines += [f"*{run['status']}: the table below is from an earlier run.*", ""]
        elif run["status"] != "ok":
            lines += [f"*{run['status']}: the table below may be incomplete.*", ""]
        lines += [demote_headings(Path(output).read_text().strip(), levels=2), ""]
    return "\n".join(lines) + "\n"


def write_summary(results_dir, runs, **kwargs):
    """Writes `results_dir/summary.md`; returns its path."""
    path = Path(results_dir) / SUMMARY
    write_atomic(path, render(runs, machine_info(), **kwargs))
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Rebuilds summary.md from the tables in a "
                                                 "results directory (runs nothing).")
    parser.add_argument("--results-dir", default=str(DEFAULT_RESULTS))
    args = parser.parse_args(argv)
    results = Path(args.results_dir)
    runs = [{"name": p.stem, "status": "not run: table already there", "seconds": None,
             "output": str(p)}
            for p in sorted(results.glob("*.md")) if p.name != SUMMARY]
    path = write_summary(results, runs)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
