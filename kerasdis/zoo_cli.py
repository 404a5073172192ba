"""`kerasdis zoo list|show|train|evaluate`: the pretrained presets from the shell.

`zoo train NAME` retrains an entry from its recipe (`zoo/NAME/recipe.json` in a
checkout, or the recipe recorded in the shipped preset) through the same code path
as `kerasdis train`, resumable; `zoo evaluate NAME` re-measures an entry with the
default protocols and the recorded evaluation seed (all recorded metrics, or those
of `--metrics`), and says whether the numbers match the recorded ones: equal
within `MATCH_TOLERANCE`, the precision of the zoo table. Scores are exactly
equal on the machine kind and kernels that recorded them; other CPUs or kernels
(oneDNN or Eigen, AVX2 or AVX512) change encodings in the last float32 bits,
which moves continuous scores by ~1e-6 and accuracies by a vote or two.
"""

import json
import os

from kerasdis import progress

MATCH_TOLERANCE = 1e-3


def add_parser(subparsers):
    parser = subparsers.add_parser("zoo", help="pretrained presets: list, show, train, evaluate")
    zoo_sub = parser.add_subparsers(dest="zoo_command", required=True)
    zoo_sub.add_parser("list", help="names of the presets").set_defaults(func=cmd_list)
    show = zoo_sub.add_parser("show", help="metadata of a preset")
    show.add_argument("name")
    show.set_defaults(func=cmd_show)
    train = zoo_sub.add_parser("train", help="retrain an entry from its recipe")
    train.add_argument("name")
    train.add_argument("--out", default=None, help="run directory (default zoo_runs/NAME)")
    train.add_argument("--steps", type=int, default=None, help="override the recipe's steps")
    train.add_argument("--resume", action="store_true")
    train.add_argument("--overwrite", action="store_true")
    train.add_argument("--verbose", type=int, default=None,
                       help="Keras fit verbosity (default: a progress bar on a terminal, one "
                            "line per checkpoint otherwise)")
    train.set_defaults(func=cmd_train)
    evaluate = zoo_sub.add_parser("evaluate", help="re-measure an entry's scores")
    evaluate.add_argument("name")
    evaluate.add_argument("--metrics", default=None,
                          help="comma-separated metrics to re-measure (default: every recorded one)")
    evaluate.add_argument("--output", default=None)
    evaluate.set_defaults(func=cmd_evaluate)


def cmd_list(args):
    from kerasdis import zoo

    for name in zoo.list():
        print(name)
    return 0


def cmd_show(args):
    from kerasdis import zoo

    print(json.dumps(zoo.info(args.name), indent=2, sort_keys=True, default=str))
    return 0


def recipe_of(name):
    """The recipe of a zoo entry: `zoo/NAME/recipe.json` in a checkout, else the preset's."""
    from kerasdis import zoo

    checkout = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "zoo", name, "recipe.json")
    if os.path.isfile(checkout):
        with open(checkout) as f:
            return json.load(f)
    recipe = zoo.info(name).get("recipe")
    if not recipe:
        raise ValueError(f"zoo entry {name!r} has no recipe.")
    return recipe


def cmd_train(args):
    from kerasdis import training

    recipe = recipe_of(args.name)
    if args.steps is not None:
        recipe = {**recipe, "steps": args.steps}
    out = args.out or os.path.join("zoo_runs", args.name)
    _, summary = training.train(recipe, out, resume=args.resume, overwrite=args.overwrite,
                                verbose=progress.fit_verbose(args.verbose))
    print(f"trained {summary['steps']} steps in {summary['wall_time_seconds']:.0f} s into {out}")
    return 0


def compare_scores(recorded, measured, tolerance=MATCH_TOLERANCE):
    """`(same, lines)`: whether every measured primary score is within `tolerance`
    of the recorded one, and a line per metric with both and their difference."""
    from kerasdis.callbacks import primary_scores

    recorded, measured = primary_scores(recorded), primary_scores(measured)
    same, lines = True, []
    for name, value in measured.items():
        if name not in recorded:
            lines.append(f"{name}: {value:.6g} (nothing recorded)")
            continue
        difference = abs(value - recorded[name])
        same = same and difference <= tolerance
        lines.append(f"{name}: recorded {recorded[name]:.6g}, measured {value:.6g}, "
                     f"difference {difference:.2g}")
    return same, lines


def cmd_evaluate(args):
    from kerasdis import data, metrics, zoo
    from kerasdis.workflows import describe_cost, score_table
    from kerasdis.io import write_json

    info = zoo.info(args.name)
    recorded = info.get("metrics") or {}
    names = None
    if args.metrics:
        names = [n.strip() for n in args.metrics.split(",") if n.strip()]
        unknown = sorted(set(names) - set(metrics.names()))
        if unknown:
            raise ValueError(f"`--metrics` has unknown names {unknown}; expected some of "
                             f"{sorted(metrics.names())}.")
    elif recorded:
        names = [n for n in recorded if n in metrics.names()]
    model = zoo.load(args.name)
    seed = info.get("evaluation_seed", 0) or 0
    dataset = data.load(info.get("dataset") or "dsprites")
    print(describe_cost(model, dataset, names, cheaper="--metrics NAME,... re-measures fewer"),
          flush=True)
    results = metrics.evaluate(model, dataset, metrics=names, seed=seed)
    print(score_table({"recorded": recorded, "measured": results}))
    if args.output:
        write_json(args.output, results)
    same, lines = compare_scores(recorded, results)
    print("\n".join(lines))
    print(f"scores match the recorded ones (within {MATCH_TOLERANCE:g})" if same
          else f"scores DIFFER from the recorded ones (by more than {MATCH_TOLERANCE:g})")
    return 0 if same else 1
