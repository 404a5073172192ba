"""Benchmark: how fast does the `kerasdis` command answer help and bad arguments?

Times, as whole processes, the median wall time over `--rounds` interleaved rounds of:
- `python -c pass` (the interpreter's own start-up, the floor),
- `kerasdis --help`, `kerasdis train --help`,
- `kerasdis train --model no_such_model --out x` (an argument error),
- `python -c "import tensorflow"` (what each of those would cost if the command
  imported TensorFlow before answering).

The target is `kerasdis --help` under 1.5 s on a 2-core CPU. The markdown table is
printed and written (atomically) to `benchmarks/results/cli_startup.md`.

    python benchmarks/cli_startup.py              # about a minute
    python benchmarks/cli_startup.py --quick      # 1 round, smoke test
"""

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "cli_startup.md"
TARGET_SECONDS = 1.5

KERASDIS = [sys.executable, "-m", "kerasdis.cli"]
COMMANDS = [
    ("`python -c pass`", [sys.executable, "-c", "pass"], 0),
    ("`kerasdis --help`", [*KERASDIS, "--help"], 0),
    ("`kerasdis train --help`", [*KERASDIS, "train", "--help"], 0),
    ("`kerasdis train --model no_such_model --out x`",
     [*KERASDIS, "train", "--model", "no_such_model", "--out", "x"], 2),
    ("`python -c \"import tensorflow\"`", [sys.executable, "-c", "import tensorflow"], 0),
]


def time_command(command, expected_code):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(ROOT))
    seconds = time.perf_counter() - start
    if proc.returncode != expected_code:
        raise RuntimeError(f"{' '.join(command)} exited with {proc.returncode}, expected "
                           f"{expected_code}: {proc.stderr[-500:]}")
    return seconds


def measure(rounds):
    """`{label: [seconds per round]}`, the commands interleaved in every round."""
    times = {label: [] for label, _, _ in COMMANDS}
    for _ in range(rounds):
        for label, command, code in COMMANDS:
            times[label].append(time_command(command, code))
    return times


def table(times, rounds, output_is_quick):
    floor = statistics.median(times[COMMANDS[0][0]])
    help_median = statistics.median(times[COMMANDS[1][0]])
    verdict = "meets" if help_median < TARGET_SECONDS else "does NOT meet"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# Command-line start-up benchmark",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs "
        f"(load average {load} when the table was written)",
        f"- python {platform.python_version()}; {rounds} interleaved rounds"
        + (" (--quick)" if output_is_quick else ""),
        "- command: `python benchmarks/cli_startup.py`",
        "",
        "| command | median s | min s | median − `python -c pass` |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, _, _ in COMMANDS:
        values = times[label]
        median = statistics.median(values)
        lines.append(f"| {label} | {median:.2f} | {min(values):.2f} | {median - floor:+.2f} |")
    lines += ["", f"`kerasdis --help`: median {help_median:.2f} s, {verdict} the "
              f"{TARGET_SECONDS} s target. The machine may be shared (see the load average)."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1 round, smoke test")
    parser.add_argument("--output", default=None, help="markdown file (default results/)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    rounds = 1 if args.quick else args.rounds
    text = table(measure(rounds), rounds, args.quick)
    print(text)
    output = Path(args.output) if args.output else (
        DEFAULT_OUTPUT.parent / "quick" / DEFAULT_OUTPUT.name if args.quick else DEFAULT_OUTPUT)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, output)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
