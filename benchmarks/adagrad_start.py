"""Benchmark: where Adagrad's accumulators start, for the β-VAE paper's network.

The β-VAE paper (Higgins et al. 2017, appendix) trains its 2D shapes networks with
"Adagrad, 1e-2" and names no implementation. Adagrad as Duchi et al. (2011) define it
(and Torch7's `optim.adagrad`, PyTorch's `torch.optim.Adagrad`) starts its accumulators
of squared gradients at 0; Keras's (TensorFlow's convention) at 0.1. This script
trains the paper's β-VAE (β = 4, `architecture="higgins2017"`, batch 64, the recipe of
`benchmarks/higgins_table.py`'s "β-VAE (β = 4, MLP, paper network)" row) with both,
`recipe_optimizer` "adagrad" and "adagrad_zero_init", for a short budget and the same
seeds, and reports which factors the code follows: the active latents (KL > 0.01 nats)
and, per factor, the largest correlation ratio η² over them
(`kd.viz.latents_vs_factors`: the share of a latent's variance that its mean given the
factor explains; near 0 for a factor no latent follows).

    python benchmarks/adagrad_start.py                 # 4,000 steps, seeds 0 and 1
    python benchmarks/adagrad_start.py --steps 2000 --seeds 0
    python benchmarks/adagrad_start.py --quick         # tiny smoke test (results/quick/)

Writes `benchmarks/results/adagrad_start.md` and `.png` (atomically); the runs train in
a temporary directory.
"""

import argparse
import datetime
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._args import seed_list  # noqa: E402
from benchmarks._output import write_report  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
VARIANTS = {"adagrad": "Keras's Adagrad (accumulators from 0.1)",
            "adagrad_zero_init": "Adagrad from 0 (Duchi et al. 2011)"}
STEPS = 4_000
SEEDS = (0, 1)
NUM_IMAGES = 10_000  # images encoded for the KL and η²
LOSS_WINDOW = 1_000  # the loss column: mean training loss over the last steps
QUICK = {"steps": 2, "seeds": (0,), "batch_size": 8, "num_images": 200}


def recipe(optimizer, steps, seed, quick=False):
    """The paper-network β-VAE recipe of the Higgins table, with `optimizer`."""
    from benchmarks.higgins_table import MLP_RECIPES

    planned = {**MLP_RECIPES["beta_vae_mlp"], "optimizer": optimizer, "steps": steps,
               "seed": seed, "checkpoint_every": min(LOSS_WINDOW, steps)}
    if quick:
        planned["batch_size"] = QUICK["batch_size"]
    return planned


def measure(steps, seeds, quick=False, verbose=0):
    """Trains every (optimizer, seed) in a temporary directory; returns one dict per run."""
    import kerasdis as kd

    ds = kd.data.load("dsprites")
    images = QUICK["num_images"] if quick else NUM_IMAGES
    runs = []
    with tempfile.TemporaryDirectory(prefix="adagrad-start-") as scratch:
        for seed in seeds:
            for optimizer in VARIANTS:
                print(f"[adagrad_start] {optimizer}, seed {seed}: {steps:,} steps", flush=True)
                model, summary = kd.training.train(
                    recipe(optimizer, steps, seed, quick),
                    os.path.join(scratch, f"{optimizer}_{seed}"),
                    verbose=verbose, tensorboard=False)
                codes = kd.viz.latents_vs_factors(model, ds, num_samples=images, seed=0)
                logs = summary.get("final_logs") or {}
                runs.append({"optimizer": optimizer, "seed": seed, "steps": summary["steps"],
                             "cpu_seconds": summary.get("cpu_seconds"),
                             "loss": logs.get("loss"), "kl": float(sum(codes["kl"])),
                             "active": len(codes["dims"]),
                             "explained": dict(zip(ds.factor_names,
                                                   map(float, codes["factor_explained"])))})
    return runs, tuple(ds.factor_names)


def report(runs, factor_names, output, steps, quick):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    def cell(value, fmt):
        return "—" if value is None else format(value, fmt)

    lines = [
        "# Adagrad's starting accumulator and the β-VAE paper's network (dSprites)",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- β-VAE (β = 4, `architecture=\"higgins2017\"`, batch "
        f"{recipe('adagrad', steps, 0, quick)['batch_size']}, learning rate 1e-2) for "
        f"{steps:,} steps per run" + (" — --quick: tiny settings" if quick else ""),
        "- command: `python benchmarks/adagrad_start.py`",
        "- η²: per factor, the largest correlation ratio over the active latents "
        "(`kd.viz.latents_vs_factors`); KL and active latents (KL > 0.01 nats) over the same "
        "images",
        f"- training loss: mean over the last {min(LOSS_WINDOW, steps):,} steps (one Keras epoch)",
        "",
        "| optimizer | seed | training loss (nats) | KL (nats) | active latents | "
        + " | ".join(f"η² {name}" for name in factor_names) + " | CPU min |",
        "| --- | ---: | ---: | ---: | ---: |" + " ---: |" * (len(factor_names) + 1),
    ]
    for r in runs:
        cpu = None if r["cpu_seconds"] is None else r["cpu_seconds"] / 60
        lines.append(f"| {VARIANTS[r['optimizer']]} | {r['seed']} | {cell(r['loss'], '.1f')} | "
                     f"{r['kl']:.1f} | {r['active']} | "
                     + " | ".join(f"{r['explained'][name]:.2f}" for name in factor_names)
                     + f" | {cell(cpu, '.1f')} |")
    lines += ["", "Mean over the seeds:", "",
              "| optimizer | " + " | ".join(f"η² {name}" for name in factor_names) + " |",
              "| --- |" + " ---: |" * len(factor_names)]
    for optimizer, label in VARIANTS.items():
        mine = [r for r in runs if r["optimizer"] == optimizer]
        if mine:
            lines.append(f"| {label} | " + " | ".join(
                f"{statistics.mean(r['explained'][name] for r in mine):.2f}"
                for name in factor_names) + " |")
    text = "\n".join(lines) + "\n"

    figure, axis = plt.subplots(figsize=(7, 3.4))
    width = 0.8 / len(VARIANTS)
    for i, (optimizer, label) in enumerate(VARIANTS.items()):
        mine = [r for r in runs if r["optimizer"] == optimizer]
        if not mine:
            continue
        x = np.arange(len(factor_names)) + (i - (len(VARIANTS) - 1) / 2) * width
        axis.bar(x, [statistics.mean(r["explained"][n] for r in mine) for n in factor_names],
                 width, color=f"C{i}", alpha=0.6, label=label)
        for r in mine:
            axis.scatter(x, [r["explained"][n] for n in factor_names], color="black", s=10,
                         zorder=3)
    axis.set_xticks(range(len(factor_names)), factor_names)
    axis.set_ylabel("largest η² over active latents")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    axis.set_title(f"paper-network β-VAE after {steps:,} steps (bars: mean; dots: seeds)",
                   fontsize=9)
    return write_report(output, text, figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seeds", type=seed_list, default=",".join(map(str, SEEDS)))
    parser.add_argument("--quick", action="store_true", help="tiny settings (smoke test)")
    parser.add_argument("--output", default=None, help="markdown file (default results/)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be a positive integer, got {args.steps}")
    seeds = args.seeds
    steps = QUICK["steps"] if args.quick else args.steps
    seeds = list(QUICK["seeds"]) if args.quick else seeds
    output = Path(args.output) if args.output else (
        RESULTS / "quick" / "adagrad_start.md" if args.quick else RESULTS / "adagrad_start.md")
    runs, factor_names = measure(steps, seeds, quick=args.quick)
    print(report(runs, factor_names, output, steps, args.quick))
    print(f"wrote {output} and {output.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
