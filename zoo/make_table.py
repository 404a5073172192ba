"""Regenerates the results table of zoo/README.md from the shipped presets.

    python zoo/make_table.py            # rewrite the table (atomically)
    python zoo/make_table.py --check    # exit 1 if a table is out of date (CI)

Reads every `kerasdis/presets/<name>/metadata.json` (written by
`kerasdis.zoo.publish` / `save_to_preset`) and replaces the text between the
`<!-- zoo-table:start -->` and `<!-- zoo-table:end -->` markers of the README, and
the seeds section (`<!-- zoo-seeds:... -->`) with every seed's scores of the entries
published by `kerasdis zoo publish`, and the pictures section
(`<!-- zoo-pictures:... -->`) with every entry's traversal picture that
`python zoo/make_pictures.py` drew into `zoo/<name>/`.
It also replaces the short summary of the project's README.md (between
`<!-- zoo-summary:start -->` and `<!-- zoo-summary:end -->`): per entry its steps,
targets, whether they are met, the published scores of the targets' metrics and the
seeds' spread. Standalone: needs neither TensorFlow nor kerasdis to be importable. Missing
values are shown as "—".
"""

import argparse
import json
import math
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PRESETS = os.path.join(REPO, "kerasdis", "presets")
README = os.path.join(HERE, "README.md")
PROJECT_README = os.path.join(REPO, "README.md")
START = "<!-- zoo-table:start -->"
END = "<!-- zoo-table:end -->"
NAME = re.compile(r"^[a-z0-9_]+$")
DASH = "—"

# Targets of the zoo issues: [(column key, threshold), ...] per entry, score >= threshold.
TARGETS = {
    "beta_tcvae_dsprites": [("mig", 0.30)],
    "beta_vae_dsprites": [("beta_vae", 0.90)],
    "factor_vae_dsprites": [("factor_vae", 0.80)],
    "ada_gvae_dsprites": [("mig", 0.30), ("dci", 0.50)],
}
# Every disentangling dSprites entry must beat the plain VAE's MIG by this margin.
BASELINE = "vae_dsprites"
BASELINE_MARGIN = 0.05
# Further targets relative to the VAE: [(column key, margin), ...], score >= VAE's + margin
# (the β-VAE paper's headline: β-VAE well above the VAE on its own metric).
BASELINE_TARGETS = {"beta_vae_dsprites": [("beta_vae", 0.10)]}
# Entries whose run must complete its recipe's schedule: (the model argument holding the
# step at which it ends, its name); an AnnealedVAE's capacity reaches C_max there
# (Burgess et al. 2018, Eq. 8).
SCHEDULE_TARGETS = {"annealed_vae_dsprites": ("capacity_steps", "capacity schedule")}
# Models without an encoder-decoder ELBO: their ELBO decomposition (of G(0, Q(x))) is
# not a reconstruction or a KL of a VAE, so the table leaves those two cells out.
NO_ELBO = {"InfoGAN"}
NOT_APPLICABLE = "n/a"
LABELS = {"mig": "MIG", "beta_vae": "BetaVAE", "factor_vae": "FactorVAE",
          "dci": "DCI disentanglement"}
SUMMARY_START = "<!-- zoo-summary:start -->"
SUMMARY_END = "<!-- zoo-summary:end -->"
SUMMARY_COLUMNS = ("entry", "model", "steps", "target", "met", "published scores",
                   "seeds: median [min, max]")
SEEDS_START = "<!-- zoo-seeds:start -->"
SEEDS_END = "<!-- zoo-seeds:end -->"
SEED_COLUMNS = ("seed", "steps", "MIG", "discrete MIG", "BetaVAE", "FactorVAE",
                "DCI disentanglement", "SAP", "UDR", "wall time", "CPU time", "published")
PICTURES_START = "<!-- zoo-pictures:start -->"
PICTURES_END = "<!-- zoo-pictures:end -->"

COLUMNS = ("name", "model", "steps", "wall time", "MIG", "discrete MIG", "BetaVAE",
           "FactorVAE", "DCI disentanglement", "SAP", "reconstruction", "KL", "target", "met",
           "seeds: median [min, max]", "time to target")
# The column of each target metric in a zoo run's learning curve (kerasdis.zoo_runs).
CURVE_COLUMNS = {"mig": "val_mig", "beta_vae": "val_beta_vae", "factor_vae": "val_factor_vae"}


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _score(metrics, name, *keys):
    """metrics[name] as a number, or metrics[name][key] for the first key present."""
    entry = (metrics or {}).get(name) if isinstance(metrics, dict) else None
    if isinstance(entry, dict):
        for key in keys:
            if key in entry:
                return _number(entry[key])
        return None
    return _number(entry)


def scores(metadata):
    metrics = metadata.get("metrics")
    return {
        "mig": _score(metrics, "mig", "mig"),
        "discrete_mig": _score(metrics, "discrete_mig", "discrete_mig"),
        "beta_vae": _score(metrics, "beta_vae", "eval_accuracy"),
        "factor_vae": _score(metrics, "factor_vae", "eval_accuracy"),
        "dci": _score(metrics, "dci", "disentanglement"),
        "sap": _score(metrics, "sap", "sap", "sap_score"),
        "reconstruction": _score(metrics, "elbo", "reconstruction"),
        "kl": _score(metrics, "elbo", "kl"),
    }


def read_presets(presets_dir):
    entries = {}
    if not os.path.isdir(presets_dir):
        return entries
    for name in sorted(os.listdir(presets_dir)):
        path = os.path.join(presets_dir, name, "metadata.json")
        if not NAME.match(name) or not os.path.isfile(path):
            continue
        try:
            with open(path) as f:
                metadata = json.load(f)
        except (OSError, ValueError) as error:
            print(f"make_table: skipping {path}: {error}", file=sys.stderr)
            metadata = {}
        entries[name] = metadata if isinstance(metadata, dict) else {}
    return entries


def _fmt(value, digits=3):
    return DASH if value is None else f"{value:.{digits}f}"


def _recipe(metadata):
    """The entry's recipe as recorded in its metadata ({} if there is none)."""
    recipe = metadata.get("recipe")
    return recipe if isinstance(recipe, dict) else {}


def _steps(metadata):
    steps = metadata.get("steps")
    if isinstance(steps, bool) or not isinstance(steps, int):
        return DASH
    recipe = _recipe(metadata)
    planned = recipe.get("steps")
    plateau = metadata.get("plateau")
    if isinstance(plateau, dict) and plateau.get("step") is not None:
        return f"{steps:,} (plateau)"
    if isinstance(planned, int) and planned > steps:
        return f"{steps:,} of {planned:,}"
    return f"{steps:,}"


def _wall_time(seconds):
    seconds = _number(seconds)
    if seconds is None:
        return DASH
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _schedule_target(name, metadata):
    """(text, met) of an entry's schedule target, or None if it has none."""
    if name not in SCHEDULE_TARGETS:
        return None
    recipe = _recipe(metadata)
    model_args = recipe.get("model_args") if isinstance(recipe.get("model_args"), dict) else {}
    key, schedule = SCHEDULE_TARGETS[name]
    end, steps = model_args.get(key), metadata.get("steps")
    if isinstance(end, bool) or not isinstance(end, int):
        return f"{schedule} completed", None
    known = not isinstance(steps, bool) and isinstance(steps, int)
    return f"{schedule} completed ({end:,} steps)", steps >= end if known else None


def target(name, entry_scores, baseline_scores, metadata=None):
    """(target text, met) with met one of "yes", "no", DASH (unknown); `baseline_scores`
    are the VAE's (`scores`), or None without a VAE entry; `metadata` (the entry's)
    tells whether its run completed its schedule (`SCHEDULE_TARGETS`)."""
    parts = []
    schedule = _schedule_target(name, metadata or {})
    if schedule is not None:
        parts.append(schedule)
    for key, threshold in TARGETS.get(name, ()):
        value = entry_scores[key]
        parts.append((f"{LABELS[key]} ≥ {threshold:.2f}",
                      None if value is None else value >= threshold))
    relative = list(BASELINE_TARGETS.get(name, ()))
    if name.endswith("_dsprites") and name != BASELINE:
        relative.append(("mig", BASELINE_MARGIN))
    for key, margin in relative:
        value = entry_scores[key]
        base = None if baseline_scores is None else baseline_scores[key]
        known = value is not None and base is not None
        parts.append((f"{LABELS[key]} ≥ VAE + {margin:.2f}",
                      value >= base + margin if known else None))
    if not parts:
        return ("baseline" if name == BASELINE else DASH), DASH
    text = "; ".join(p[0] for p in parts)
    results = [p[1] for p in parts]
    if any(r is False for r in results):
        return text, "no"
    if all(r is True for r in results):
        return text, "yes"
    return text, DASH


def seed_spread(name, metadata):
    """"median [min, max] (n seeds) of metric" over the entry's recorded seeds."""
    seeds = metadata.get("seeds")
    goals = TARGETS.get(name) or [("mig", None)]
    key = goals[0][0]
    if not isinstance(seeds, list) or not seeds:
        return DASH
    values = sorted(v for v in (_number((r.get("scores") or {}).get(key)) for r in seeds
                                if isinstance(r, dict)) if v is not None)
    if not values:
        return DASH
    middle = len(values) // 2
    median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    return (f"{LABELS[key]} {median:.3f} [{values[0]:.3f}, {values[-1]:.3f}] "
            f"({len(values)} seed{'s' if len(values) > 1 else ''})")


def time_to_target(name, metadata):
    """Steps and wall time until the curve first met the entry's targets that it tracks."""
    curve = metadata.get("curve")
    goals = [(key, threshold) for key, threshold in TARGETS.get(name, ()) if key in CURVE_COLUMNS]
    if not isinstance(curve, list) or not curve or not goals:
        return DASH
    for row in curve:
        values = [_number(row.get(CURVE_COLUMNS[key])) for key, _ in goals]
        if all(v is not None and v >= t for v, (_, t) in zip(values, goals)):
            tracked = ", ".join(LABELS[key] for key, _ in goals)
            return (f"{int(row['step']):,} steps, {_wall_time(row.get('wall_time_seconds'))} "
                    f"({tracked})")
    return "not met"


def _markdown(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _targets(entries):
    """(name, metadata, scores, target text, met) per entry, sorted by name."""
    baseline = scores(entries[BASELINE]) if BASELINE in entries else None
    for name, metadata in sorted(entries.items()):
        s = scores(metadata)
        yield (name, metadata, s, *target(name, s, baseline, metadata))


def table(entries):
    if not entries:
        return "_no entries yet_"
    rows = []
    for name, metadata, s, goal, met in _targets(entries):
        elbo = ((NOT_APPLICABLE, NOT_APPLICABLE) if metadata.get("class_name") in NO_ELBO
                else (_fmt(s["reconstruction"], 1), _fmt(s["kl"], 1)))
        row = [name, str(metadata.get("class_name") or DASH), _steps(metadata),
               _wall_time(metadata.get("wall_time_seconds")),
               _fmt(s["mig"]), _fmt(s["discrete_mig"]), _fmt(s["beta_vae"]),
               _fmt(s["factor_vae"]), _fmt(s["dci"]), _fmt(s["sap"]),
               *elbo, goal, met, seed_spread(name, metadata), time_to_target(name, metadata)]
        rows.append(row)
    return "\n".join(_markdown(COLUMNS, rows))


def _seed_steps(record):
    steps = record.get("steps")
    if isinstance(steps, bool) or not isinstance(steps, int):
        return DASH
    return f"{steps:,}" + (" (plateau)" if record.get("plateau_step") is not None else "")


def _selection_text(metadata, n_seeds):
    """How the published seed was chosen, and which seed UDR would pick."""
    selection = metadata.get("selection")
    if not isinstance(selection, dict):
        return ""
    text = f"Published: seed {selection.get('seed', DASH)}, by {selection.get('rule', DASH)}"
    by_udr = selection.get("seed_by_udr")
    if by_udr is not None:
        text += f"; UDR among the seeds picks seed {by_udr}"
    elif n_seeds < 3:
        text += "; no UDR: it ranks three runs or more"
    return text + "."


def _seed_order(record):
    """Sort key: integer seeds in numeric order (2 before 10), anything else after."""
    seed = record.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        return (0, seed, "")
    return (1, 0, str(seed))


def seeds_section(entries):
    """Markdown of every seed's scores (default protocols) of the entries that
    `kerasdis zoo publish` recorded with their seeds."""
    blocks = []
    for name, metadata in sorted(entries.items()):
        seeds = [r for r in metadata.get("seeds") or () if isinstance(r, dict)]
        if not seeds:
            continue
        published = (metadata.get("selection") or {}).get("seed", metadata.get("seed"))
        rows = []
        for record in sorted(seeds, key=_seed_order):
            s = scores({"metrics": record.get("scores")})
            cpu = _number(record.get("cpu_seconds"))
            row = [str(record.get("seed", DASH)), _seed_steps(record), _fmt(s["mig"]),
                   _fmt(s["discrete_mig"]), _fmt(s["beta_vae"]), _fmt(s["factor_vae"]),
                   _fmt(s["dci"]), _fmt(s["sap"]), _fmt(_number(record.get("udr"))),
                   _wall_time(record.get("wall_time_seconds")),
                   DASH if cpu is None else _wall_time(cpu),
                   "yes" if record.get("seed") == published else ""]
            rows.append(row)
        lines = [f"**{name}**", ""] + _markdown(SEED_COLUMNS, rows)
        selection = _selection_text(metadata, len(seeds))
        blocks.append("\n".join(lines + ([""] + [selection] if selection else [])))
    return "\n\n".join(blocks) if blocks else "_no entry published with seeds yet_"


def summary(entries):
    """The project README's short table: per entry the scores its targets are about."""
    if not entries:
        return "_no entries yet_"
    rows = []
    for name, metadata, s, goal, met in _targets(entries):
        keys = [key for key, _ in TARGETS.get(name, ())]
        keys += [key for key, _ in BASELINE_TARGETS.get(name, ()) if key not in keys]
        if "mig" not in keys:
            keys.append("mig")
        if name == BASELINE:
            keys += [key for key in ("beta_vae", "factor_vae") if key not in keys]
        published = ", ".join(f"{LABELS[key]} {_fmt(s[key])}" for key in keys)
        rows.append([name, str(metadata.get("class_name") or DASH), _steps(metadata), goal,
                     met, published, seed_spread(name, metadata)])
    return "\n".join(_markdown(SUMMARY_COLUMNS, rows))


def pictures(entries, zoo_dir=HERE):
    """Markdown of every entry's traversal picture that `zoo/make_pictures.py` drew."""
    lines = []
    for name in sorted(entries):
        png = os.path.join(zoo_dir, name, "traversal.png")
        if not os.path.isfile(png):
            continue
        steps = entries[name].get("steps")
        at = f" at {steps:,} steps" if isinstance(steps, int) else ""
        gif = os.path.isfile(os.path.join(zoo_dir, name, "traversal.gif"))
        curve = os.path.isfile(os.path.join(zoo_dir, name, "curve.png"))
        lines += [f"### {name}", "",
                  f"![{name}]({name}/traversal.png)" + (
                      f" ([animated]({name}/traversal.gif))" if gif else ""), "",
                  f"Latent traversals of the published preset{at}: one row per latent, "
                  "most informative first, labelled with its KL in nats; rows marked "
                  "\"inactive\" carry no information (KL < 0.01).", ""]
        if curve:
            lines += [f"![{name} learning curve]({name}/curve.png)", "",
                      "Learning curve: the target metric (curve protocol) of every seed, "
                      "the published one bold, and its reconstruction; the dotted line is "
                      "the target, the dashed one the plateau.", ""]
    return "\n".join(lines).rstrip() if lines else "_no pictures yet: run python zoo/make_pictures.py_"


def _replace(text, start, end, body, heading=None):
    """`text` with the block between the markers replaced by `body`; without the
    markers, a new section `heading` is appended (or, without a heading, nothing)."""
    block = f"{start}\n{body}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    if heading is None:
        return text
    return text.rstrip("\n") + f"\n\n## {heading}\n\n{block}\n"


def render(readme_text, table_text, pictures_text=None, seeds_text=None):
    text = _replace(readme_text, START, END, table_text, "Results")
    if seeds_text is not None:
        text = _replace(text, SEEDS_START, SEEDS_END, seeds_text, "Seeds")
    if pictures_text is not None:
        text = _replace(text, PICTURES_START, PICTURES_END, pictures_text, "Pictures")
    return text


def write_atomic(path, text):
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=PRESETS, help="directory of preset directories")
    parser.add_argument("--readme", default=README, help="the README holding the table")
    parser.add_argument("--project-readme", default=None,
                        help="the README holding the short summary (default: the "
                             "project's README.md when --readme is the default, else none)")
    parser.add_argument("--zoo-dir", default=HERE,
                        help="where the entries' pictures are (zoo/<name>/traversal.png)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the table is out of date")
    args = parser.parse_args(argv)
    project_readme = args.project_readme
    if project_readme is None and os.path.abspath(args.readme) == README:
        project_readme = PROJECT_README
    entries = read_presets(args.presets)
    changes = {}
    current = _read(args.readme)
    updated = render(current, table(entries), pictures(entries, args.zoo_dir),
                     seeds_section(entries))
    if updated != current:
        changes[args.readme] = updated
    if project_readme:
        current = _read(project_readme)
        updated = _replace(current, SUMMARY_START, SUMMARY_END, summary(entries))
        if updated != current:
            changes[project_readme] = updated
    if args.check:
        for path in changes:
            print(f"{path} is out of date: run python zoo/make_table.py", file=sys.stderr)
        return 1 if changes else 0
    for path, text in changes.items():
        write_atomic(path, text)
    return 0


def _read(path):
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        return f.read()


if __name__ == "__main__":
    sys.exit(main())
