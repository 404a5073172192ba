"""`kerasdis zoo list|show|train|evaluate`: the pretrained presets from the shell.

`zoo train NAME` retrains an entry from its recipe (`zoo/NAME/recipe.json` in a
checkout, or the recipe recorded in the shipped preset) through the same code path
as `kerasdis train`, resumable; `zoo evaluate NAME` re-measures an entry with the
default protocols and the recorded evaluation seed, and says whether the numbers
match the recorded ones.
"""

import json
import os


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
    train.add_argument("--verbose", type=int, default=1)
    train.set_defaults(func=cmd_train)
    evaluate = zoo_sub.add_parser("evaluate", help="re-measure an entry's scores")
    evaluate.add_argument("name")
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
                                verbose=args.verbose)
    print(f"trained {summary['steps']} steps in {summary['wall_time_seconds']:.0f} s into {out}")
    return 0


def cmd_evaluate(args):
    from kerasdis import data, metrics, zoo
    from kerasdis.cli import score_table
    from kerasdis.io import write_json

    info = zoo.info(args.name)
    model = zoo.load(args.name)
    seed = info.get("evaluation_seed", 0) or 0
    results = metrics.evaluate(model, data.load(info.get("dataset") or "dsprites"), seed=seed)
    recorded = info.get("metrics") or {}
    print(score_table({"recorded": recorded, "measured": results}))
    if args.output:
        write_json(args.output, results)
    from kerasdis.callbacks import primary_scores

    same = primary_scores(recorded) == primary_scores(results)
    print("scores match the recorded ones" if same else "scores DIFFER from the recorded ones")
    return 0 if same else 1
