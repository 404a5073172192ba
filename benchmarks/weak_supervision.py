"""Benchmark: weak supervision (Ada-GVAE) against β-VAE and β-TCVAE at the same budget.

Locatello et al. (2020, "Weakly-Supervised Disentanglement Without Compromises") show
that training on pairs of images that differ in a few unknown factors (Ada-GVAE)
disentangles where the unsupervised objectives do not. This script checks it on
kerasdis's dSprites: each method is trained from its zoo recipe
(`zoo/<entry>/recipe.json`: network, batch, learning rate and weight) for the same
number of steps with the same seeds, then scored with the default protocols of
`kd.metrics.evaluate` (MIG, DCI disentanglement, BetaVAE score). Ada-GVAE sees a pair
per example: twice the images per step of the others.

    python benchmarks/weak_supervision.py                  # train what is missing, score, report
    python benchmarks/weak_supervision.py --report         # table and plot from recorded scores
    python benchmarks/weak_supervision.py --quick          # tiny smoke test (results/quick/)
    python benchmarks/weak_supervision.py --methods ada_gvae_dsprites --seeds 0

Training resumes (run directories under `benchmarks/results/weak_supervision/`, whose
checkpoints are not committed); scores are recorded per run in
`weak_supervision.json`, so a run is trained and scored once. Writes
`weak_supervision.md` and `weak_supervision.png` (atomically).
"""

import argparse
import datetime
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._args import seed_list  # noqa: E402
from benchmarks._output import write_report  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
METHODS = {"ada_gvae_dsprites": "Ada-GVAE (pairs)", "beta_vae_dsprites": "β-VAE",
           "beta_tcvae_dsprites": "β-TCVAE"}
SCORES = (("mig", "mig", "MIG"), ("dci", "disentanglement", "DCI disentanglement"),
          ("beta_vae", "eval_accuracy", "BetaVAE score"))
STEPS = 16_000  # the pilot trials' budget at batch 64
SEEDS = (0, 1, 2)
QUICK = {"steps": 4, "seeds": (0,), "batch_size": 8, "latent_dim": 3,
         "options": {"mig": {"subsample": 2_000}, "dci": {"num_train": 200, "num_test": 100},
                     "beta_vae": {"num_train": 40, "num_eval": 20}}}


def recipe(method, steps, seed, quick=False):
    """The zoo recipe of `method` at `steps` steps and `seed`."""
    with open(ROOT / "zoo" / method / "recipe.json") as f:
        recipe = json.load(f)
    recipe.update(steps=steps, seed=seed, checkpoint_every=min(recipe.get("checkpoint_every",
                                                                          2_000), steps))
    if quick:
        recipe.update(batch_size=QUICK["batch_size"], checkpoint_every=2)
        recipe["model_args"] = {**recipe.get("model_args", {}), "latent_dim": QUICK["latent_dim"]}
    return recipe


def measure(methods, seeds, steps, out_dir, recorded, quick=False, verbose=0, save=None):
    """Trains (or resumes) and scores every missing (method, seed); returns `recorded`.

    `save(recorded)`, if given, is called after each run is scored, so a benchmark
    stopped part-way keeps every score it measured."""
    import kerasdis as kd
    from kerasdis.callbacks import primary_scores

    dataset = kd.data.load("dsprites")
    for seed in seeds:  # every method at a seed before the next seed: comparable early
        for method in methods:
            planned = kd.training.complete_recipe(recipe(method, steps, seed, quick))
            key = f"{method}/steps_{steps}/seed_{seed}"
            if key in recorded and recorded[key]["recipe"] == planned:
                continue  # scored already (a changed zoo recipe is trained and scored again)
            run = out_dir / method / f"steps_{steps}" / f"seed_{seed}"
            print(f"[weak_supervision] {key}: training {steps:,} steps in {run}", flush=True)
            saved = run / "recipe.json"
            same = saved.exists() and kd.training.complete_recipe(
                json.loads(saved.read_text())) == planned
            # resumes its own run; a run of an earlier zoo recipe is started over
            model, summary = kd.training.train(planned, str(run), resume=same,
                                               overwrite=not same, verbose=verbose,
                                               tensorboard=False)
            scores = kd.metrics.evaluate(model, dataset, metrics=[m for m, _, _ in SCORES],
                                         seed=0, verbose=verbose,
                                         options=QUICK["options"] if quick else None)
            recorded[key] = {"method": method, "seed": seed, "steps": summary["steps"],
                             "wall_time_seconds": summary["wall_time_seconds"],
                             "cpu_seconds": summary.get("cpu_seconds"),
                             "recipe": summary["recipe"], "scores": primary_scores(scores)}
            if save is not None:
                save(recorded)
    return recorded


def save_record(recorded, path):
    """Writes the recorded scores to `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _mean_std(values):
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def report(recorded, output, steps, quick):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in recorded.values() if r["steps"] == steps]
    lines = [
        "# Weak supervision against the unsupervised objectives (dSprites)",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- every method trained from its zoo recipe for {steps:,} steps with the seeds "
        "listed, scored by `kd.metrics.evaluate` (default protocols, seed 0)"
        + (" — --quick: tiny settings" if quick else ""),
        "- command: `python benchmarks/weak_supervision.py`",
        "",
        "| method | recipe | seeds | " + " | ".join(label for _, _, label in SCORES)
        + " | CPU h per run |",
        "| --- | --- | --- |" + " ---: |" * (len(SCORES) + 1),
    ]
    for method, label in METHODS.items():
        mine = sorted((r for r in runs if r["method"] == method), key=lambda r: r["seed"])
        if not mine:
            lines.append(f"| {label} | — | none yet |" + " — |" * (len(SCORES) + 1))
            continue
        r0 = mine[0]["recipe"]
        args = r0.get("model_args", {})
        weight = ", ".join(f"{k} {v:g}" for k, v in args.items()
                           if k in ("beta", "gamma") and isinstance(v, (int, float)))
        extra = f", k {args['pair_k']}" if "pair_k" in args else ""
        described = (f"{args.get('architecture', 'conv')}, batch {r0['batch_size']}, "
                     f"lr {r0['learning_rate']:g}, {weight}{extra}")
        cells = [_mean_std([r["scores"][m] for r in mine if m in r["scores"]])
                 for m, _, _ in SCORES]
        cpu = [r["cpu_seconds"] / 3600 for r in mine if r.get("cpu_seconds")]
        seeds = ", ".join(str(r["seed"]) for r in mine)
        lines.append(f"| {label} | {described} | {seeds} | " + " | ".join(cells)
                     + f" | {f'{statistics.mean(cpu):.2f}' if cpu else '—'} |")
    lines += ["", "Mean ± standard deviation over the seeds. Per run:", "",
              "| method | seed | " + " | ".join(label for _, _, label in SCORES) + " |",
              "| --- | ---: |" + " ---: |" * len(SCORES)]
    for r in sorted(runs, key=lambda r: (list(METHODS).index(r["method"]), r["seed"])):
        lines.append(f"| {METHODS[r['method']]} | {r['seed']} | "
                     + " | ".join(f"{r['scores'].get(m, float('nan')):.3f}" for m, _, _ in SCORES)
                     + " |")
    text = "\n".join(lines) + "\n"

    figure, axes = plt.subplots(1, len(SCORES), figsize=(4 * len(SCORES), 3.4))
    for axis, (metric, _, label) in zip(axes, SCORES):
        for i, method in enumerate(METHODS):
            values = [r["scores"][metric] for r in runs
                      if r["method"] == method and metric in r["scores"]]
            if values:
                axis.bar(i, statistics.mean(values), color=f"C{i}", alpha=0.6)
                axis.scatter([i] * len(values), values, color="black", s=12, zorder=3)
        axis.set_xticks(range(len(METHODS)), [METHODS[m] for m in METHODS], fontsize=8)
        axis.set_ylabel(label)
        axis.grid(axis="y", alpha=0.3)
    figure.suptitle(f"dSprites, {steps:,} steps per run (bars: mean; dots: seeds)")
    return write_report(output, text, figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated zoo entries (default {','.join(METHODS)})")
    parser.add_argument("--seeds", type=seed_list, default=",".join(map(str, SEEDS)))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--report", action="store_true",
                        help="only write the table and plot from the recorded scores")
    parser.add_argument("--quick", action="store_true", help="tiny settings (smoke test)")
    parser.add_argument("--output", default=None, help="markdown file (default results/)")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        parser.error(f"--methods: unknown {unknown or methods}; choose from {sorted(METHODS)}")
    seeds = args.seeds
    steps = QUICK["steps"] if args.quick else args.steps
    if steps < 1:
        parser.error(f"--steps must be a positive integer, got {steps}")
    if args.quick:
        seeds = list(QUICK["seeds"])
    base = RESULTS / "quick" if args.quick else RESULTS
    output = Path(args.output) if args.output else base / "weak_supervision.md"
    record_path = output.with_suffix(".json")
    recorded = json.loads(record_path.read_text()) if record_path.exists() else {}
    if not args.report:
        for method in methods:
            if not (ROOT / "zoo" / method / "recipe.json").exists():
                parser.error(f"--methods: zoo/{method}/recipe.json does not exist yet")
        out_dir = output.parent / output.stem
        try:  # every score is written as soon as it is measured
            measure(methods, seeds, steps, out_dir, recorded, quick=args.quick,
                    save=lambda r: save_record(r, record_path))
        finally:  # and kept if a later run fails
            save_record(recorded, record_path)
    print(report(recorded, output, steps, args.quick))
    print(f"wrote {output} and {output.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
