"""`kerasdis zoo list|show|train|publish|evaluate`: the pretrained presets from the shell.

`zoo train NAME [--seed S]` retrains an entry from its recipe (`zoo/NAME/recipe.json`
in a checkout, or the recipe recorded in the shipped preset) through the same code
path as `kerasdis train`, resumable, with a learning curve, until the plateau of the
entry's target metric (`kerasdis.zoo_runs`); `zoo publish NAME RUN...` scores every
seed's run, publishes the best by the target metric or by UDR (`--select udr`) and
records all seeds in the metadata; `zoo evaluate NAME` re-measures an entry with the
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
from kerasdis.workflows import add_data_arguments, data_options

MATCH_TOLERANCE = 1e-3


def add_parser(subparsers):
    parser = subparsers.add_parser("zoo", help="pretrained presets: list, show, train, evaluate")
    zoo_sub = parser.add_subparsers(dest="zoo_command", required=True)
    zoo_sub.add_parser("list", help="names of the presets").set_defaults(func=cmd_list)
    show = zoo_sub.add_parser("show", help="metadata of a preset")
    show.add_argument("name")
    show.set_defaults(func=cmd_show)
    train = zoo_sub.add_parser(
        "train", help="train an entry's recipe to the plateau of its target metric")
    train.add_argument("name")
    train.add_argument("--seed", type=int, default=None,
                       help="training seed (default: the recipe's)")
    train.add_argument("--out", default=None,
                       help="run directory (default zoo_runs/NAME/seed_SEED)")
    train.add_argument("--recipe", default=None, metavar="FILE",
                       help="train this recipe (JSON) instead of the entry's own, e.g. a "
                            "candidate of the pilot (`python zoo/pilot.py --recipe ...`); "
                            "it must train the entry's model")
    train.add_argument("--steps", type=int, default=None,
                       help="override the recipe's steps (the cap of the run)")
    train.add_argument("--no-plateau", dest="plateau", action="store_false",
                       help="train to the recipe's steps even after the plateau")
    train.add_argument("--resume", action="store_true")
    train.add_argument("--overwrite", action="store_true")
    train.add_argument("--verbose", type=int, default=None,
                       help="Keras fit verbosity (default: a progress bar on a terminal, one "
                            "line per checkpoint otherwise)")
    add_data_arguments(train)
    train.set_defaults(func=cmd_train)
    publish = zoo_sub.add_parser(
        "publish", help="score an entry's seed runs, publish one, record all of them")
    publish.add_argument("name")
    publish.add_argument("runs", nargs="+", help="run directories of `zoo train` (one per seed)")
    publish.add_argument("--select", choices=("target", "udr"), default="target",
                         help="publish the seed with the best target metric (default) or, "
                              "label-free, the best UDR among the seeds (three or more: two "
                              "runs tie on UDR)")
    publish.add_argument("--zoo-dir", default=None,
                         help="where the preset goes (default: the shipped kerasdis/presets)")
    add_data_arguments(publish)
    publish.set_defaults(func=cmd_publish)
    evaluate = zoo_sub.add_parser("evaluate", help="re-measure an entry's scores")
    evaluate.add_argument("name")
    evaluate.add_argument("--metrics", default=None,
                          help="comma-separated metrics to re-measure (default: every recorded one)")
    evaluate.add_argument("--output", default=None)
    add_data_arguments(evaluate)
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


def _candidate_recipe(path, name, model):
    """The recipe in the JSON file `path`, checked to train `model` (entry `name`'s)."""
    try:
        with open(path) as f:
            recipe = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"--recipe {path!r}: cannot read a JSON recipe ({error}).") from None
    if not isinstance(recipe, dict) or recipe.get("model") != model:
        found = recipe.get("model") if isinstance(recipe, dict) else type(recipe).__name__
        raise ValueError(f"--recipe {path!r} trains {found!r}, but zoo entry {name!r} is a "
                         f"{model!r}; pass a recipe of that model.")
    return recipe


def cmd_train(args):
    from kerasdis import zoo_runs

    recipe = recipe_of(args.name)
    if args.recipe is not None:
        recipe = _candidate_recipe(args.recipe, args.name, recipe["model"])
    for key, value in (("steps", args.steps), ("seed", args.seed)):
        if value is not None:
            recipe = {**recipe, key: value}
    out = args.out or os.path.join("zoo_runs", args.name, f"seed_{recipe.get('seed', 0)}")
    if not args.resume and not args.overwrite and os.path.isdir(out) and os.listdir(out):
        raise FileExistsError(f"run directory {out!r} exists and is not empty; pass --resume "
                              "to continue the run in it, --overwrite to start over, or another "
                              "--out.")
    summary = zoo_runs.train_entry(recipe, out, resume=args.resume, overwrite=args.overwrite,
                                   verbose=progress.fit_verbose(args.verbose),
                                   stop_at_plateau=args.plateau,
                                   data_options=data_options(args))
    plateau = summary["plateau"]
    ending = (f"plateau of {plateau['metric']} at step {plateau['step']:,}" if plateau
              else "no plateau yet")
    verb = "trained" if summary["trained"] else "already finished:"
    print(f"{verb} {summary['steps']:,} steps in {summary['wall_time_seconds']:.0f} s "
          f"into {out} ({ending}; curve in {os.path.join(out, zoo_runs.CURVE_FILE)})")
    return 0


def cmd_publish(args):
    from kerasdis import zoo_runs

    missing = [run for run in args.runs if not os.path.isdir(run)]
    if missing:
        raise FileNotFoundError(f"run directories {missing} do not exist.")
    path, extra = zoo_runs.publish_entry(args.name, args.runs, select=args.select,
                                         zoo_dir=args.zoo_dir,
                                         data_options=data_options(args))
    for record in extra["seeds"]:
        scores = ", ".join(f"{k} {v:.3f}" for k, v in record["scores"].items())
        udr = f", UDR {record['udr']:.3f}" if "udr" in record else ""
        print(f"seed {record['seed']} ({record['steps']:,} steps): {scores}{udr}")
    print(f"published seed {extra['selection']['seed']} ({extra['selection']['rule']}) "
          f"as {path}")
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
    dataset = data.load(info.get("dataset") or "dsprites", **data_options(args))
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
