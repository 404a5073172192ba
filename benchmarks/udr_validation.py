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

The zoo's entries published with several seeds (`kerasdis zoo publish`, which records
each seed's UDR among the seeds and its scores) get a section of their own: UDR against
the supervised scores over seeds of one recipe, and whether UDR publishes the seed the
labels would.

    python benchmarks/udr_validation.py            # about a minute or two
    python benchmarks/udr_validation.py --quick    # 1,000 images, smoke test
    python benchmarks/udr_validation.py --population pilots   # the pilot trials

Writes `benchmarks/results/udr_validation.md` and `udr_validation.png` (atomically).

`--population pilots` takes instead every finished trial of the zoo's pilot study
(`python zoo/pilot.py OBJECTIVE`, `zoo/pilots/runs/`) whose checkpoint is on this
machine (checkpoints are not committed): each trial's model at its best epoch
(`kd.tuning.load_trial_model`), scored here on the cheaper protocols `PILOT_PROTOCOLS`
(same seed for all), and UDR among all of them and within each objective with at
least three trials -- closer to Duan et al.'s setting of one objective over its
hyper-parameters. Writes `udr_validation_pilots.md` and `.png`.
"""

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._output import write_report  # noqa: E402

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "udr_validation.md"
SUPERVISED = (("mig", "mig", "MIG"), ("dci", "disentanglement", "DCI disentanglement"),
              ("beta_vae", "eval_accuracy", "BetaVAE score"))


PILOTS = ROOT / "zoo" / "pilots" / "runs"
PILOT_PROTOCOLS = {"mig": {"subsample": 20_000}, "dci": {"num_train": 5_000, "num_test": 2_500},
                   "beta_vae": {"num_train": 2_000, "num_eval": 1_000}}


def pilot_population(quick=False):
    """`(name, model, metrics)` of every finished pilot trial with a checkpoint here;
    metrics of `kd.metrics.evaluate` on `PILOT_PROTOCOLS` (seed 0)."""
    import kerasdis as kd

    dataset = kd.data.load("dsprites")
    options = PILOT_PROTOCOLS
    if quick:
        options = {"mig": {"subsample": 1_000}, "dci": {"num_train": 200, "num_test": 100},
                   "beta_vae": {"num_train": 40, "num_eval": 20}}
    rows = []
    for objective in sorted(os.listdir(PILOTS)) if PILOTS.is_dir() else []:
        for search in sorted(os.listdir(PILOTS / objective)):
            project = PILOTS / objective / search
            for row in kd.tuning.results_table(str(project)):
                trial = project / f"trial_{row['trial_id']}"
                if row["status"] != "COMPLETED" or not (trial / "checkpoint.weights.h5").exists():
                    continue
                model = kd.tuning.load_trial_model(str(project), row["trial_id"], dataset)
                weight = "" if row.get("beta") is None else f" w={row['beta']:g}"
                name = (f"{objective} {search.split('-', 1)[1]}{weight} "
                        f"lr={row['learning_rate']:g}")
                metrics = kd.metrics.evaluate(model, dataset, metrics=list(options), seed=0,
                                              verbose=0, options=options)
                rows.append((name, model, metrics))
                if quick and len(rows) >= 3:
                    return rows
    return rows


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


def spearman(xs, ys):
    """`(rho, p, n)` over the pairs where both are known; None below 3 pairs or when
    either side is constant (ρ undefined)."""
    from scipy import stats

    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len(pairs) < 3 or len({x for x, _ in pairs}) < 2 or len({y for _, y in pairs}) < 2:
        return None
    rho, p = stats.spearmanr(*zip(*pairs))
    return float(rho), float(p), len(pairs)


def seed_rows(names=None):
    """`(entry, seeds, selection)` of every zoo preset published with at least two seeds
    that have a UDR among them (`kerasdis zoo publish`: metadata `seeds`)."""
    import kerasdis as kd

    entries = []
    for name in names or kd.zoo.list():
        info = kd.zoo.info(name)
        seeds = [r for r in info.get("seeds") or [] if r.get("udr") is not None]
        if len(seeds) >= 2:
            entries.append((name, seeds, info.get("selection") or {}))
    return entries


def seed_section(entries):
    """Markdown lines: each entry's seeds (UDR among them, supervised scores from its
    metadata), whether UDR picks the seed the labels pick, and Spearman's ρ between a
    seed's UDR and its scores pooled over the entries' seeds (Duan et al.'s setting:
    UDR compares seeds of one recipe)."""
    lines = ["", "## The zoo's seeds (UDR among the seeds of one recipe)", ""]
    if not entries:
        return lines + ["No entry is published with several seeds yet (`kerasdis zoo "
                        "publish NAME RUN...` records each seed's UDR)."]
    keys = [key for key, _, _ in SUPERVISED]
    lines += ["| entry | seed | UDR | " + " | ".join(label for _, _, label in SUPERVISED)
              + " |", "| --- | ---: | ---: |" + " ---: |" * len(SUPERVISED)]
    pooled = {key: [] for key in keys}
    agree = []
    for name, seeds, selection in entries:
        for record in seeds:
            scores = record.get("scores") or {}
            lines.append(f"| {name} | {record['seed']} | {record['udr']:.3f} | "
                         + " | ".join(_fmt(scores.get(k)) for k in keys) + " |")
            for key in keys:
                if scores.get(key) is not None:
                    pooled[key].append((record["udr"], scores[key]))
        if selection.get("seed_by_udr") is not None:
            agree.append(f"{name}: UDR picks seed {selection['seed_by_udr']}, "
                         f"{selection.get('by')} picks seed {selection.get('seed_by_target')}")
    def rho(pairs):
        value = spearman(*zip(*pairs)) if pairs else None
        return "—" if value is None else f"{value[0]:+.2f} (n={value[2]})"

    lines += ["", "Spearman ρ of a seed's UDR with its scores, pooled over the entries' seeds: "
              + "; ".join(f"{label} {rho(pooled[key])}" for key, _, label in SUPERVISED) + "."]
    if agree:
        lines += ["", "Which seed each rule publishes: " + "; ".join(agree) + "."]
    return lines


def measure(num_samples, seed=0, names=None, rows=None):
    import kerasdis as kd

    rows = population(names) if rows is None else rows
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
    return table, correlations_of(table, list(results))


def correlations_of(table, correlation_kinds=("spearman", "lasso")):
    """`{(udr kind, supervised key): (rho, p, n)}` over the rows with both numbers;
    pairs where ρ is undefined (`spearman` gives None) are left out."""
    correlations = {}
    for correlation in correlation_kinds:
        for key, _, _ in SUPERVISED:
            value = spearman([r[f"udr_{correlation}"] for r in table], [r[key] for r in table])
            if value is not None:
                correlations[(correlation, key)] = value
    return correlations


def _fmt(v):
    return "—" if v is None else f"{v:.3f}"


def _section(table, correlations, unit):
    """The table of models and the correlation table, as markdown lines."""
    lines = [f"| {unit} | informative latents | UDR (Spearman) | UDR (Lasso) | MIG | DCI | "
             "BetaVAE |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in sorted(table, key=lambda r: -r["udr_spearman"]):
        lines.append(f"| {r['name']} | {r['informative']} | {_fmt(r['udr_spearman'])} | "
                     f"{_fmt(r['udr_lasso'])} | {_fmt(r['mig'])} | {_fmt(r['dci'])} | "
                     f"{_fmt(r['beta_vae'])} |")
    lines += ["", "Spearman rank correlation of UDR with each supervised score (ρ, p-value, "
              "number of models):", "",
              "| UDR similarity | " + " | ".join(label for _, _, label in SUPERVISED) + " |",
              "| --- |" + " ---: |" * len(SUPERVISED)]
    for correlation in ("spearman", "lasso"):
        cells = []
        for key, _, _ in SUPERVISED:
            value = correlations.get((correlation, key))
            cells.append("—" if value is None else f"{value[0]:+.2f} (p={value[1]:.2f}, n={value[2]})")
        lines.append(f"| {correlation} | " + " | ".join(cells) + " |")
    return lines


def verdict(by_score, where="here"):
    """One sentence on which supervised scores UDR tracks: `by_score` maps a score's
    label to its Spearman `(rho, p, n)` with UDR (or None); a score is tracked when
    ρ > 0.5 with p < 0.05."""
    known = {label: v for label, v in by_score.items() if v is not None}
    tracked = [label for label, (rho, p, _) in known.items() if rho > 0.5 and p < 0.05]
    others = [label for label in known if label not in tracked]
    if tracked and not others:
        return f"UDR tracks every supervised score {where}"
    if tracked:
        return f"UDR tracks {' and '.join(tracked)} {where}, not {' or '.join(others)}"
    return f"UDR does not clearly track the supervised scores {where}"


def _verdict(correlations):
    return verdict({label: correlations.get(("spearman", key))
                    for key, _, label in SUPERVISED})


def write(table, correlations, num_samples, output, quick, population="zoo", groups=(),
          seeds=None):
    """Writes the markdown and the scatter plot; `groups` are `(name, table,
    correlations)` of UDR recomputed within subsets (the pilots' objectives); `seeds`
    the zoo entries published with several seeds (`seed_rows`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    pilots = population == "pilots"
    lines = [
        "# UDR against the supervised scores (" + ("pilot trials" if pilots else "zoo presets")
        + ")",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs (load average {load})",
        f"- {num_samples:,} dSprites images encoded by every model (seed 0)"
        + (" (--quick)" if quick else ""),
        "- command: `python benchmarks/udr_validation.py"
        + (" --population pilots`" if pilots else "`"),
    ]
    if pilots:
        lines += ["- models: every finished trial of `zoo/pilot.py` at its best epoch "
                  "(`kd.tuning.load_trial_model`); supervised scores measured here with "
                  f"`{json.dumps(PILOT_PROTOCOLS)}` (seed 0)"]
    else:
        lines += ["- models: the zoo presets with a Gaussian posterior; supervised scores "
                  "from their metadata (default protocols)"]
    lines += [*(["", "## All models"] if pilots else []), "", *_section(
        table, correlations, "trial" if pilots else "preset")]
    lines += ["", f"{_verdict(correlations)} (all models)."]
    for name, sub_table, sub_correlations in groups:
        lines += ["", f"## Within {name} (UDR among its trials only)", "",
                  *_section(sub_table, sub_correlations, "trial"), "",
                  f"{_verdict(sub_correlations)} ({name})."]
    if pilots:
        lines += ["", "The pilot trials are short (1,024,000 images each) and one seed per "
                  "setting, while Duan et al. rank seeds and settings of fully trained models; "
                  "the zoo's seeds will extend the population."]
    else:
        lines += ["", "The population is the zoo's presets, one seed each and different "
                  "objectives, while Duan et al. rank seeds of one setting: the section "
                  "below and `--population pilots` are closer to that."]
        lines += seed_section(seeds or [])
    text = "\n".join(lines) + "\n"

    figure, axes = plt.subplots(1, len(SUPERVISED), figsize=(4 * len(SUPERVISED), 3.6))
    for axis, (key, _, label) in zip(axes, SUPERVISED):
        points = [(r["udr_spearman"], r[key], r["name"]) for r in table if r[key] is not None]
        axis.scatter([p[0] for p in points], [p[1] for p in points])
        for x, y, name in points:
            axis.annotate(name.replace("_dsprites", ""), (x, y), fontsize=6)
        axis.set_xlabel("UDR (Spearman)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    figure.suptitle("UDR against supervised scores, "
                    + ("pilot trials" if pilots else "zoo presets"))
    return write_report(output, text, figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-samples", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 images, smoke test")
    parser.add_argument("--output", default=None, help="markdown file (default results/)")
    parser.add_argument("--population", choices=("zoo", "pilots"), default="zoo",
                        help="the zoo presets (default) or the pilot trials on this machine")
    args = parser.parse_args(argv)
    if args.num_samples < 2:
        parser.error(f"--num-samples must be >= 2, got {args.num_samples}")
    num_samples = 1_000 if args.quick else args.num_samples
    default = DEFAULT_OUTPUT if args.population == "zoo" else \
        DEFAULT_OUTPUT.with_name("udr_validation_pilots.md")
    output = Path(args.output) if args.output else (
        default.parent / "quick" / default.name if args.quick else default)
    groups = []
    if args.population == "pilots":
        rows = pilot_population(args.quick)
        if len(rows) < 2:
            parser.error(f"--population pilots: {len(rows)} finished pilot trials with a "
                         "checkpoint on this machine; UDR needs at least 2 "
                         "(run python zoo/pilot.py OBJECTIVE)")
        table, correlations = measure(num_samples, rows=rows)
        for objective in sorted({name.split()[0] for name, _, _ in rows}):
            subset = [row for row in rows if row[0].split()[0] == objective]
            if len(subset) >= 3:
                groups.append((objective, *measure(num_samples, rows=subset)))
    seeds = None
    if args.population == "zoo":
        table, correlations = measure(num_samples)
        seeds = seed_rows()
    print(write(table, correlations, num_samples, output, args.quick, args.population, groups,
                seeds))
    print(f"wrote {output} and {output.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
