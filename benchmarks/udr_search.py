"""Benchmark: a label-free search over β by UDR, checked against the labels.

Duan et al. (2020, "Unsupervised Model Selection for Variational Disentangled
Representation Learning", Sec. 3-4) score every model by how well its informative
latents agree, up to permutation and sign, with the models trained from other seeds
at the same hyper-parameters (UDR), and pick hyper-parameters by the median score of
their seeds. This script runs that search with kerasdis's tuner on dSprites:

    kd.tuning.search("beta_vae", "dsprites", tuner="grid", objective="val_udr",
                     seeds_per_trial=3, beta=[1, 2, 4, 8, 16], ...)

a β-VAE (conv network of Locatello et al. 2019, 10 latents, batch 64, Adam 5e-4)
per β of disentanglement_lib's β-VAE sweep (β = 1 is the VAE), each trained from
three seeds for `STEPS` steps (the zoo pilots' budget, 1,024,000 images). Every seed
is also scored with the labels (MIG, DCI disentanglement, BetaVAE score on the
cheaper protocols `PROTOCOLS`), so the table says whether the label-free choice is
the one the labels would make, and the scatter plot whether a seed's UDR tracks its
supervised scores (Spearman's ρ over all models and over the trials' medians).

    python benchmarks/udr_search.py --threads 1    # run or resume the search, then report
    python benchmarks/udr_search.py --hours 2.5    # only the trials that end within 2.5 h
    python benchmarks/udr_search.py --report       # table and plot from the trials here
    python benchmarks/udr_search.py --quick        # tiny smoke test (results/quick/)

The search lives in `benchmarks/results/udr_search/beta_vae/` (keras-tuner's trial
files are committed, checkpoints are not); it resumes trial by trial across
sessions (a trial interrupted mid-way is run again; `--hours` starts only the trials
that can end in time). A trial costs three trainings,
about 50 CPU-minutes on this machine's class of CPU. Writes `udr_search.md` and
`udr_search.png` (atomically).
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._output import write_report  # noqa: E402
from benchmarks.udr_validation import (  # noqa: E402
    PILOT_PROTOCOLS, spearman, verdict as udr_verdict)

RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_OUTPUT = RESULTS / "udr_search.md"
PROJECT = "beta_vae"
GRID = [1.0, 2.0, 4.0, 8.0, 16.0]
SEEDS_PER_TRIAL = 3
STEPS = 16_000
PROTOCOLS = PILOT_PROTOCOLS  # the supervised scores of udr_validation.py's pilot trials
SUPERVISED = (("mig", "MIG"), ("dci", "DCI disentanglement"), ("beta_vae", "BetaVAE score"))
SETTINGS = {"grid": GRID, "seeds": SEEDS_PER_TRIAL, "steps": STEPS, "batch_size": 64,
            "latent_dim": 10, "learning_rate": 5e-4, "protocols": PROTOCOLS,
            "udr": {"num_samples": 10_000}}
QUICK = {"grid": [1.0, 8.0], "seeds": 2, "steps": 4, "batch_size": 8, "latent_dim": 3,
         "learning_rate": 1e-3, "udr": {"num_samples": 300},
         "protocols": {"mig": {"subsample": 1_000}, "dci": {"num_train": 200, "num_test": 100},
                       "beta_vae": {"num_train": 40, "num_eval": 20}}}


def directory(quick):
    return (RESULTS / "quick" if quick else RESULTS) / "udr_search"


def run(settings, search_dir, threads=0, hours=None):
    """Runs (or resumes) the grid search; returns the `kd.tuning.SearchResult`. With
    `hours`, a trial starts only if it is expected to end within them."""
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    from kerasdis import tuning

    return tuning.search(
        "beta_vae", "dsprites", tuner="grid", objective="val_udr", max_trials=None,
        time_limit=None if hours is None else 3600 * hours,
        directory=str(search_dir), project_name=PROJECT, seed=0, load_best_model=False,
        beta=settings["grid"], latent_dim=settings["latent_dim"],
        learning_rate=settings["learning_rate"], batch_size=settings["batch_size"],
        architecture="conv", steps_per_epoch=settings["steps"], epochs=1,
        metrics=tuple(settings["protocols"]), metric_options=settings["protocols"],
        seeds_per_trial=settings["seeds"], udr_options=settings["udr"])


def models_of(table, seeds):
    """One dict per (trial, seed) of the completed trials: β, seed, UDR, supervised scores."""
    models = []
    for row in table:
        if row["status"] != "COMPLETED":
            continue
        for seed in range(seeds):
            entry = {"beta": row["beta"], "seed": seed, "udr": row.get(f"val_udr_seed_{seed}")}
            for key, _ in SUPERVISED:
                entry[key] = row.get(f"val_{key}_seed_{seed}")
            models.append(entry)
    return models


def trials_of(table, models):
    """One dict per completed trial: β, `val_udr`, the seeds' median supervised scores, time."""
    trials = []
    for row in table:
        if row["status"] != "COMPLETED":
            continue
        mine = [m for m in models if m["beta"] == row["beta"]]
        entry = {"beta": row["beta"], "udr": row["val_udr"], "udr_min": row["val_udr_min"],
                 "udr_max": row["val_udr_max"], "kl": row.get("kl"),
                 "cpu_seconds": row.get("cpu_seconds"),
                 "wall_time_seconds": row.get("wall_time_seconds")}
        for key, _ in SUPERVISED:
            values = [m[key] for m in mine if m[key] is not None]
            entry[key] = statistics.median(values) if values else None
        trials.append(entry)
    return trials


def _fmt(value, digits=3):
    return "—" if value is None else f"{value:.{digits}f}"


def _rho(value):
    return "—" if value is None else f"{value[0]:+.2f} (p={value[1]:.2f}, n={value[2]})"


def report(search_dir, settings, output, quick):
    """Writes the markdown table and the scatter plot; returns the text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerasdis import tuning

    table = [row for row in tuning.results_table(str(search_dir / PROJECT))
             if row.get("beta") is not None]
    models = models_of(table, settings["seeds"])
    trials = trials_of(table, models)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    command = "python benchmarks/udr_search.py" + (" --quick" if quick else "")
    where = search_dir / PROJECT
    where = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
    lines = [
        "# A label-free search over β by UDR (`objective=\"val_udr\"`), checked against labels",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs (load average {load})",
        f"- command: `{command}` (search in `{where}/`)",
        f"- search: `kd.tuning.search(\"beta_vae\", \"dsprites\", tuner=\"grid\", "
        f"objective=\"val_udr\", seeds_per_trial={settings['seeds']}, "
        f"beta={settings['grid']})`; conv network, {settings['latent_dim']} latents, batch "
        f"{settings['batch_size']}, Adam {settings['learning_rate']:g}, "
        f"{settings['steps']:,} steps per seed; UDR (Spearman) among each trial's seeds on "
        f"{settings['udr']['num_samples']:,} images",
        f"- supervised scores of every seed (`kd.metrics.evaluate`, seed 0): "
        f"`{settings['protocols']}`",
        "- KL: the trial's own model (the first seed), mean KL to the prior over its "
        "training epoch (nats per image)",
        f"- trials completed: {len(trials)} of {len(settings['grid'])}",
        "",
        "| β | UDR: median [min, max] of the seeds | MIG (median) | DCI (median) | "
        "BetaVAE (median) | KL (nats) | CPU min | wall min |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in sorted(trials, key=lambda t: t["beta"]):
        minutes = [None if t[k] is None else t[k] / 60 for k in ("cpu_seconds", "wall_time_seconds")]
        lines.append(f"| {t['beta']:g} | {_fmt(t['udr'])} [{_fmt(t['udr_min'])}, "
                     f"{_fmt(t['udr_max'])}] | {_fmt(t['mig'])} | {_fmt(t['dci'])} | "
                     f"{_fmt(t['beta_vae'])} | {_fmt(t['kl'], 1)} | {_fmt(minutes[0], 1)} | "
                     f"{_fmt(minutes[1], 1)} |")
    if trials:
        pick = max(trials, key=lambda t: t["udr"])
        lines += ["", f"The search's choice by UDR (no labels): β = {pick['beta']:g}. "
                  "By the seeds' median of each supervised score: " + "; ".join(
                      f"{label} β = {max(trials, key=lambda t: t[key] or -1)['beta']:g}"
                      for key, label in SUPERVISED if any(t[key] is not None for t in trials))
                  + "."]
    lines += ["", "Spearman rank correlation of UDR with each supervised score (ρ, p-value, "
              "number of points):", "",
              "| over | " + " | ".join(label for _, label in SUPERVISED) + " |",
              "| --- |" + " ---: |" * len(SUPERVISED)]
    per_model = {key: spearman([m["udr"] for m in models], [m[key] for m in models])
                 for key, _ in SUPERVISED}
    per_trial = {key: spearman([t["udr"] for t in trials], [t[key] for t in trials])
                 for key, _ in SUPERVISED}
    lines.append("| every seed (its UDR among its trial's seeds) | "
                 + " | ".join(_rho(per_model[k]) for k, _ in SUPERVISED) + " |")
    lines.append("| every trial (median of its seeds) | "
                 + " | ".join(_rho(per_trial[k]) for k, _ in SUPERVISED) + " |")
    if any(v is not None for v in per_model.values()):
        verdict = udr_verdict({label: per_model[key] for key, label in SUPERVISED},
                              where="over these models")
        lines += ["", verdict + " (every seed; a score is tracked when ρ > 0.5 with "
                  "p < 0.05)."]
    if len(trials) < len(settings["grid"]):
        lines += ["", "The search is not finished: the table grows as trials complete "
                  f"(`{command.replace(' --quick', '')} --threads 1` resumes it)."]
    text = "\n".join(lines) + "\n"

    figure, axes = plt.subplots(1, len(SUPERVISED), figsize=(4 * len(SUPERVISED), 3.6))
    colors = plt.get_cmap("viridis")
    betas = sorted({m["beta"] for m in models})
    for axis, (key, label) in zip(axes, SUPERVISED):
        for i, beta in enumerate(betas):
            points = [(m["udr"], m[key]) for m in models
                      if m["beta"] == beta and m["udr"] is not None and m[key] is not None]
            axis.scatter([p[0] for p in points], [p[1] for p in points], label=f"β = {beta:g}",
                         color=colors(i / max(1, len(betas) - 1)))
        axis.set_xlabel("UDR (Spearman), among the trial's seeds")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    if betas:
        axes[0].legend(fontsize=7)
    figure.suptitle("β-VAE seeds: UDR against supervised scores")
    return write_report(output, text, figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--report", action="store_true",
                        help="only write the table and plot from the trials here")
    parser.add_argument("--quick", action="store_true", help="tiny settings (results/quick/)")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow threads (0: TensorFlow's default)")
    parser.add_argument("--hours", type=float, default=None,
                        help="start a trial only if it is expected to end within HOURS")
    parser.add_argument("--output", default=None, help="markdown file (default results/)")
    args = parser.parse_args(argv)
    if args.threads < 0:
        parser.error(f"--threads must be >= 0, got {args.threads}")
    if args.hours is not None and not args.hours > 0:
        parser.error(f"--hours must be a positive number, got {args.hours}")
    settings = {**SETTINGS, **QUICK} if args.quick else SETTINGS
    search_dir = directory(args.quick)
    output = Path(args.output) if args.output else (
        search_dir.parent / DEFAULT_OUTPUT.name)
    if not args.report:
        run(settings, search_dir, args.threads, args.hours)
    print(report(search_dir, settings, output, args.quick))
    print(f"wrote {output} and {output.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
