"""Draws every zoo entry's latent traversal (PNG and GIF) into `zoo/<name>/`.

    python zoo/make_pictures.py                 # every preset, then the README's pictures
    python zoo/make_pictures.py beta_vae_dsprites

For each preset: `kd.viz.traversal_grid` and `kd.viz.traversal_gif` of the published
model on 8 images of its dataset (seed 0), one row per latent sorted by KL, each row
labelled with its KL in nats; latents whose KL is below 0.01 nats are marked
"inactive". For a preset published from zoo runs (`kerasdis zoo publish`), also its
learning curve `curve.png`: the target metric of every seed against steps (from the
metadata's `curve` and each seed's `curve.csv` where the run directory is present)
and the published run's reconstruction. Then `zoo/make_table.py` puts the pictures
into `zoo/README.md`.
"""

import argparse
import itertools
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def draw(name, zoo_dir=HERE, seed=0):
    import kerasdis as kd

    info = kd.zoo.info(name)
    model = kd.zoo.load(name)
    dataset = kd.data.load(info.get("dataset") or "dsprites")
    out = os.path.join(zoo_dir, name)
    os.makedirs(out, exist_ok=True)
    png = os.path.join(out, "traversal.png")
    gif = os.path.join(out, "traversal.gif")
    kd.viz.traversal_grid(model, dataset=dataset, seed=seed, path=png)
    kd.viz.traversal_gif(model, dataset=dataset, seed=seed, path=gif)
    return png, gif


def draw_curve(name, info, zoo_dir=HERE):
    """`zoo/<name>/curve.png` from the preset's learning curve; None without one."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import make_table

    curve = info.get("curve")
    plateau = info.get("plateau") or {}
    if not curve:
        return None
    metric = plateau.get("metric") or (info.get("selection") or {}).get("by") or "mig"
    if metric == "udr":
        metric = (make_table.TARGETS.get(name) or [("mig", None)])[0][0]
    column = f"val_{metric}"
    fig, ax = plt.subplots(figsize=(7, 4.2))
    # the other seeds: thin lines, one colour each (blue, green and red are taken)
    colors = itertools.cycle(["tab:orange", "tab:purple", "tab:brown", "tab:olive",
                              "tab:cyan", "tab:pink", "tab:gray"])
    for record in info.get("seeds") or []:
        path = os.path.join(record.get("run") or "", "curve.csv")
        if record.get("seed") == info.get("seed") or not os.path.isfile(path):
            continue
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get(column)]
        ax.plot([int(float(r["step"])) for r in rows], [float(r[column]) for r in rows],
                color=next(colors), lw=1, marker=".", zorder=3, label=f"seed {record['seed']}")
    rows = [r for r in curve if r.get(column) is not None]
    steps = [r["step"] for r in rows]
    ax.plot(steps, [r[column] for r in rows], color="tab:blue", lw=2.5, marker="o",
            label=f"seed {info.get('seed')} (published)")
    for key, threshold in make_table.TARGETS.get(name, ()):
        if key == metric:
            ax.axhline(threshold, color="tab:green", ls=":", label=f"target {threshold:g}")
    if plateau.get("step"):
        ax.axvline(plateau["step"], color="gray", ls="--", label=f"plateau, step {plateau['step']:,}")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{metric} (curve protocol)")
    ax.grid(alpha=0.3)
    recon = [r.get("reconstruction") for r in rows]
    if all(v is not None for v in recon):
        twin = ax.twinx()
        twin.plot(steps, recon, color="tab:red", lw=1.2, label="reconstruction (nats)")
        twin.set_ylabel("reconstruction (nats per image)", color="tab:red")
        twin.legend(loc="lower right", fontsize=7)
    ax.legend(loc="best", fontsize=7)
    ax.set_title(f"{name}: learning curve")
    fig.tight_layout()
    path = os.path.join(zoo_dir, name, "curve.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="presets to draw (default: every one)")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(HERE))
    import kerasdis as kd

    names = args.names or kd.zoo.list()
    unknown = sorted(set(names) - set(kd.zoo.list()))
    if unknown:
        parser.error(f"unknown presets {unknown}; choose from {kd.zoo.list()}")
    for name in names:
        for path in draw(name):
            print(f"wrote {path}")
        path = draw_curve(name, kd.zoo.info(name))
        if path:
            print(f"wrote {path}")
    import make_table

    return make_table.main([])


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
