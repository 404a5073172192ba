"""Benchmark: does UDR track the supervised scores on kerasdis's own models?

Unsupervised Disentanglement Ranking (Duan et al. 2020, `kd.metrics.udr`) scores each
model of a population by how well its informative latents agree with the other
models' up to permutation and sign, without labels. Duan et al. validate it by its
rank correlation with supervised scores over populations of trained models; this
script does the same over the zoo's presets that have an encoder (the VAE family and
DC-IGN; InfoGAN has no posterior): UDR of every preset against the others on the same
10,000 dSprites images (Spearman and Lasso similarities), next to the MIG, DCI
disentanglement and BetaVAE score recorded in the presets' metadata
(`kd.metrics.evaluate`, default protocols), and Spearman's rank correlation between
UDR and each. The population is small and mixes objectives (Duan et al. compare seeds
within a hyper-parameter setting), so read the correlations as a first look.

    python benchmarks/udr_validation.py            # about a minute or two
    python benchmarks/udr_validation.py --quick    # 1,000 images, smoke test

Writes `benchmarks/results/udr_validation.md` and `udr_validation.png` (atomically).
"""

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "udr_validation.md"
SUPERVISED = (("mig", "mig", "MIG"), ("dci", "disentanglement", "DCI disentanglement"),
              ("beta_vae", "eval_accuracy", "BetaVAE score"))


def population(names=None):
    """`(name, model, metadata metrics)` of every zoo preset with a Gaussian posterior."""
    import kerasdis as kd

    rows = []
    for name in names or kd.zoo.list():
        info = kd.zoo.info(name)
        model = kd.zoo.load(name)
        if not isinstance(model, kd.models.GaussianLatentVAE):
            continue
        rows.append((name, model, info.get("metrics") or {}))
    return rows


def measure(num_samples, seed=0, names=None):
    import kerasdis as kd
    from scipy import stats

    rows = population(names)
    models = [model for _, model, _ in rows]
    dataset = kd.data.load("dsprites")
    results = {c: kd.metrics.udr(models, dataset, num_samples=num_samples, correlation=c,
                                 seed=seed) for c in ("spearman", "lasso")}
    table = []
    for i, (name, _, metrics) in enumerate(rows):
        entry = {"name": name, "informative": results["spearman"]["num_informative"][i]}
        for correlation, result in results.items():
            entry[f"udr_{correlation}"] = result["scores"][i]
        for key, field, _ in SUPERVISED:
            value = (metrics.get(key) or {}).get(field)
            entry[key] = float(value) if isinstance(value, (int, float)) else None
        table.append(entry)
    correlations = {}
    for correlation in results:
        for key, _, _ in SUPERVISED:
            pairs = [(r[f"udr_{correlation}"], r[key]) for r in table if r[key] is not None]
            if len(pairs) >= 3:
                rho, p = stats.spearmanr(*zip(*pairs))
                correlations[(correlation, key)] = (float(rho), float(p), len(pairs))
    return table, correlations


def write(table, correlations, num_samples, output, quick):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# UDR against the supervised scores (zoo presets)",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs (load average {load})",
        f"- {num_samples:,} dSprites images encoded by every model (seed 0)"
        + (" (--quick)" if quick else ""),
        "- command: `python benchmarks/udr_validation.py`",
        "",
        "| preset | informative latents | UDR (Spearman) | UDR (Lasso) | MIG | DCI | BetaVAE |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def fmt(v):
        return "—" if v is None else f"{v:.3f}"

    for r in sorted(table, key=lambda r: -r["udr_spearman"]):
        lines.append(f"| {r['name']} | {r['informative']} | {fmt(r['udr_spearman'])} | "
                     f"{fmt(r['udr_lasso'])} | {fmt(r['mig'])} | {fmt(r['dci'])} | "
                     f"{fmt(r['beta_vae'])} |")
    lines += ["", "Spearman rank correlation of UDR with each supervised score over the "
              "presets (ρ, p-value, number of models):", "",
              "| UDR similarity | " + " | ".join(label for _, _, label in SUPERVISED) + " |",
              "| --- |" + " ---: |" * len(SUPERVISED)]
    for correlation in ("spearman", "lasso"):
        cells = []
        for key, _, _ in SUPERVISED:
            value = correlations.get((correlation, key))
            cells.append("—" if value is None else f"{value[0]:+.2f} (p={value[1]:.2f}, n={value[2]})")
        lines.append(f"| {correlation} | " + " | ".join(cells) + " |")
    rho = [v[0] for (c, _), v in correlations.items() if c == "spearman"]
    verdict = ("UDR tracks the supervised scores here" if rho and min(rho) > 0.5 else
               "UDR does not clearly track the supervised scores on this small, mixed "
               "population")
    lines += ["", f"{verdict}. The population is the zoo's interim presets, one seed each "
              "and different objectives, while Duan et al. rank seeds of one setting; "
              "the pilot trials and the zoo's seeds will extend it."]
    text = "\n".join(lines) + "\n"

    figure, axes = plt.subplots(1, len(SUPERVISED), figsize=(4 * len(SUPERVISED), 3.6))
    for axis, (key, _, label) in zip(axes, SUPERVISED):
        points = [(r["udr_spearman"], r[key], r["name"]) for r in table if r[key] is not None]
        axis.scatter([p[0] for p in points], [p[1] for p in points])
        for x, y, name in points:
            axis.annotate(name.replace("_dsprites", ""), (x, y), fontsize=7)
        axis.set_xlabel("UDR (Spearman)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    figure.suptitle("UDR against supervised scores, zoo presets")
    figure.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    png = output.with_suffix(".png")
    tmp_png = png.with_name(png.stem + ".tmp.png")
    figure.savefig(tmp_png, dpi=110)
    plt.close(figure)
    os.replace(tmp_png, png)
    tmp = output.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, output)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-samples", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 images, smoke test")
    parser.add_argument("--output", default=None, help="markdown file (default results/)")
    args = parser.parse_args(argv)
    if args.num_samples < 2:
        parser.error(f"--num-samples must be >= 2, got {args.num_samples}")
    num_samples = 1_000 if args.quick else args.num_samples
    output = Path(args.output) if args.output else (
        DEFAULT_OUTPUT.parent / "quick" / DEFAULT_OUTPUT.name if args.quick else DEFAULT_OUTPUT)
    table, correlations = measure(num_samples)
    print(write(table, correlations, num_samples, output, args.quick))
    print(f"wrote {output} and {output.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
