"""`python -m benchmarks`: runs every benchmark script and writes `results/summary.md`.

Every `benchmarks/*.py` that defines `main(argv)` is a benchmark (helpers such as
`summary.py`, files starting with `_`, `reliability_counts.py`, which runs
tests, the `step_profile.py` diagnostic and `seed_figures.py`, which needs manually
downloaded data, are not). Each runs in its own
subprocess (fresh TensorFlow state and memory accounting), `data_pipeline`,
`metrics_speed` and `train_throughput` first (in that order: `train_throughput`
reads the MIG memory from `metrics_speed.md`), then the others alphabetically.
`--quick` is passed through; a script that fails or times out does not stop the
others and is marked in the summary.

The default run is the speed benchmarks and fits the 15-minute budget on a quiet
2-core CPU. The quality tables that retrain models for hours (`higgins_table`,
`mig_vs_beta`, `udr_search`, `weak_supervision`) run only with `--all` or when named
in `--only`.

    python -m benchmarks                          # speed, full settings -> benchmarks/results/
    python -m benchmarks --all                    # also the hours-long quality tables
    python -m benchmarks --quick                  # tiny settings -> benchmarks/results/quick/
    python -m benchmarks --only train_throughput,data_pipeline
    python -m benchmarks --skip mig_vs_beta --timeout 900
    python -m benchmarks --list
"""

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import summary  # noqa: E402

FIRST = ("data_pipeline", "metrics_speed", "train_throughput")
# seed_figures draws the β-VAE paper's figures from manually downloaded data (not a benchmark).
NOT_BENCHMARKS = {"__init__", "__main__", "summary", "reliability_counts", "step_profile",
                  "seed_figures"}
LONG = ("higgins_table", "mig_vs_beta", "udr_search", "weak_supervision")  # hours of training: opt-in
BUDGET_SECONDS = 15 * 60


def discover(directory=HERE):
    """Names of the benchmark scripts in `directory`, in run order."""
    names = []
    for path in sorted(Path(directory).glob("*.py")):
        if path.stem in NOT_BENCHMARKS or path.stem.startswith("_"):
            continue
        if re.search(r"^def main\(\s*argv", path.read_text(), re.M):
            names.append(path.stem)
    return [n for n in FIRST if n in names] + [n for n in names if n not in FIRST]


def accepts(path, option):
    return f'"{option}"' in Path(path).read_text() or f"'{option}'" in Path(path).read_text()


def run_script(path, output, quick, timeout, log_path):
    """Runs one script; returns (status, seconds). Its output goes to the console and a log."""
    command = [sys.executable, str(path)]
    if quick:
        command.append("--quick")
    if output is not None:
        command += ["--output", str(output)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(f"\n=== {path.stem}: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=str(ROOT), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)

        def copy():  # to the console and the log
            for line in proc.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                log.write(line)

        reader = threading.Thread(target=copy, daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=timeout)
            status = "ok" if code == 0 else f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            status = f"timed out ({timeout:g} s)"
            proc.kill()  # the child started here, by its own handle
            proc.wait()
        reader.join(timeout=10)
    seconds = time.perf_counter() - start
    print(f"=== {path.stem}: {status} in {seconds:.0f} s", flush=True)
    return status, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="pass --quick to every script (tiny settings)")
    parser.add_argument("--all", action="store_true",
                        help=f"also run the hours-long scripts {', '.join(LONG)}")
    parser.add_argument("--only", default=None, help="comma-separated scripts to run")
    parser.add_argument("--skip", default=None, help="comma-separated scripts not to run")
    parser.add_argument("--results-dir", default=None,
                        help="where tables, logs and summary.md go (default benchmarks/results, "
                             "or benchmarks/results/quick with --quick)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds after which a script is stopped (default: none)")
    parser.add_argument("--list", action="store_true", help="list the scripts and exit")
    parser.add_argument("--scripts-dir", default=str(HERE), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    scripts_dir = Path(args.scripts_dir)
    names = discover(scripts_dir)
    if args.list:
        print("\n".join(names))
        return 0
    selected = [n for n in names if args.all or args.only or n not in LONG]
    for option, keep in ((args.only, True), (args.skip, False)):
        if option:
            chosen = [n.strip().removesuffix(".py") for n in option.split(",") if n.strip()]
            unknown = sorted(set(chosen) - set(names))
            if unknown:
                parser.error(f"unknown scripts {unknown}; available: {names}")
            selected = [n for n in selected if (n in chosen) == keep]
    results_dir = Path(args.results_dir) if args.results_dir else \
        (HERE / "results" / "quick" if args.quick else HERE / "results")

    load_start = summary.load_average()
    start = time.perf_counter()
    runs = []
    for name in names:
        path = scripts_dir / f"{name}.py"
        output = results_dir / f"{name}.md" if accepts(path, "--output") else None
        if name not in selected:
            status = "skipped (hours long: `--all` runs it)" if name in LONG else "skipped"
            runs.append({"name": name, "status": status, "seconds": None,
                         "output": str(output) if output else None, "fresh": False})
            continue
        before = output.stat().st_mtime if output is not None and output.exists() else None
        log_path = results_dir / "logs" / f"{name}.log"
        status, seconds = run_script(path, output, args.quick, args.timeout, log_path)
        if output is None:  # no --output: its printed text is its table
            output = log_path
        fresh = output.exists() and (before is None or output.stat().st_mtime > before)
        runs.append({"name": name, "status": status, "seconds": seconds, "output": str(output),
                     "fresh": fresh})
    total = time.perf_counter() - start
    partial = any(r["name"] in FIRST and r["status"] == "skipped" for r in runs)
    path = summary.write_summary(results_dir, runs, quick=args.quick, total_seconds=total,
                                 load_start=load_start, load_end=summary.load_average(),
                                 budget_seconds=None if args.quick else BUDGET_SECONDS,
                                 partial=partial)
    print(f"\n{path}: " + ", ".join(f"{r['name']} {r['status']}" for r in runs)
          + f"; {total / 60:.1f} min")
    return 0 if all(r["status"] == "ok" or r["status"].startswith("skipped") for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
