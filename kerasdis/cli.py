"""The `kerasdis` command: train, evaluate, draw and export from the shell.

    kerasdis train --model beta_tcvae --beta 6 --steps 30000 --out runs/tcvae
    kerasdis train ... --out runs/tcvae --resume        # continue an interrupted run
    kerasdis evaluate runs/tcvae --metrics mig beta_vae
    kerasdis visualize runs/tcvae --out pictures/
    kerasdis export runs/tcvae tcvae_savedmodel
    kerasdis demo                                      # the default main job
    kerasdis datasets
    kerasdis zoo list | show NAME | train NAME | evaluate NAME

Every subcommand is a thin layer over the library (`kerasdis.training`,
`kerasdis.metrics`, `kerasdis.export`); failures exit with status 1 and a message
on stderr, never a traceback for bad input.

The parser and its checks of model, dataset and metric names import neither
TensorFlow, Keras nor TFP: `kerasdis --help`, `kerasdis COMMAND --help` and argument
errors answer at once. TensorFlow's own C++ log lines are hidden unless `--verbose`
is given before the command (`kerasdis --verbose train ...`) or the user set
`TF_CPP_MIN_LOG_LEVEL` (`kerasdis.backend.quiet_tensorflow`).

A model of your own (`@kd.models.register("my_vae")` in your module) trains, tunes
and evaluates with `--import MODULE`: `kerasdis train --import mypackage.models
--model my_vae --out runs/mine`.
"""

import argparse
import importlib
import json
import os
import sys

from kerasdis import progress
from kerasdis.workflows import (  # noqa: F401  (public here too)
    add_data_arguments,
    data_options,
    DEFAULT_EVAL_METRICS,
    QUICK_OPTIONS,
    SHORT_RUN_STEPS,
    draw_pictures,
    finish_run,
    load_any_model,
    run_evaluation,
    score_table,
)


def add_import_argument(parser):
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="MODULE",
                        help="import MODULE first (e.g. one that registers a model of your own "
                             "with @kd.models.register); repeatable")


def _add_train_arguments(parser):
    from kerasdis.models import builtin_names
    from kerasdis.recipe import DEFAULT_RECIPE, OPTIMIZERS

    parser.add_argument("--model", default=DEFAULT_RECIPE["model"], metavar="MODEL",
                        help=f"objective to train: {', '.join(builtin_names())}, or a model "
                             "registered by an --import module")
    add_import_argument(parser)
    parser.set_defaults(model_is_name=True)
    parser.add_argument("--dataset", default=DEFAULT_RECIPE["dataset"], help="dataset name")
    add_data_arguments(parser)
    parser.add_argument("--beta", type=float, default=None, help="β (BetaVAE, BetaTCVAE)")
    parser.add_argument("--gamma", type=float, default=None,
                        help="γ (AnnealedVAE capacity weight, FactorVAE TC weight)")
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--steps", type=int, default=DEFAULT_RECIPE["steps"])
    parser.add_argument("--batch-size", type=int, default=DEFAULT_RECIPE["batch_size"])
    parser.add_argument("--lr", type=float, default=DEFAULT_RECIPE["learning_rate"],
                        help="learning rate of the optimizer")
    parser.add_argument("--optimizer", choices=OPTIMIZERS,
                        default=DEFAULT_RECIPE["optimizer"],
                        help="adam (default), adagrad (Keras's: accumulators start at 0.1) or "
                             "adagrad_zero_init (Duchi et al.'s, Torch7's and PyTorch's: at 0)")
    parser.add_argument("--discriminator-lr", type=float, default=None,
                        help="learning rate of FactorVAE's discriminator (Adam, β = 0.5, 0.9; "
                             "default 1e-4 as Kim & Mnih, whatever --lr)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--likelihood", default="bernoulli")
    parser.add_argument("--architecture", default="conv")
    parser.add_argument("--checkpoint-every", type=int, default=DEFAULT_RECIPE["checkpoint_every"])
    parser.add_argument("--beta-annealing-steps", type=int, default=0)
    parser.add_argument("--out", required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--overwrite", action="store_true", help="start over in a non-empty --out")
    parser.add_argument("--verbose", type=int, default=None,
                        help="Keras fit verbosity (default: a progress bar on a terminal, one "
                             "line per checkpoint otherwise); 2 or more also shows "
                             "TensorFlow's own log lines")
    parser.add_argument("--strategy", default="default",
                        choices=("default", "mirrored", "multi_worker"),
                        help="tf.distribute strategy: mirrored = all local devices; "
                             "multi_worker = the cluster in $TF_CONFIG (same command on every worker)")
    parser.add_argument("--deterministic", action="store_true",
                        help="TensorFlow op determinism: bit-identical reruns (slower)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="bfloat16 compute with float32 variables and losses (faster on "
                             "CPUs with AVX512-BF16 and on GPUs)")
    parser.add_argument("--eval-metrics", nargs="*", default=list(DEFAULT_EVAL_METRICS),
                        metavar="METRIC",
                        help="metrics for metrics.json at the end (none: skip)")
    parser.add_argument("--quick-eval", action="store_true",
                        help="reduced metric protocols (see workflows.QUICK_OPTIONS); the "
                             f"default for runs shorter than {SHORT_RUN_STEPS:,} steps")
    parser.add_argument("--full-eval", action="store_true",
                        help="the published metric protocols even for a short run")


def recipe_from_args(args):
    model_args = {"latent_dim": args.latent_dim, "likelihood": args.likelihood,
                  "architecture": args.architecture}
    if args.beta is not None:
        model_args["beta"] = args.beta
    if args.gamma is not None:
        model_args["gamma"] = args.gamma
    return {
        "model": args.model, "model_args": model_args, "dataset": args.dataset,
        "steps": args.steps, "batch_size": args.batch_size, "learning_rate": args.lr,
        "seed": args.seed, "checkpoint_every": args.checkpoint_every,
        "beta_annealing_steps": args.beta_annealing_steps,
        "mixed_precision": args.mixed_precision, "optimizer": args.optimizer,
        "discriminator_learning_rate": args.discriminator_lr,
    }


def cmd_train(args):
    from kerasdis import training

    recipe = recipe_from_args(args)
    model, summary = training.train(recipe, args.out, resume=args.resume,
                                    overwrite=args.overwrite,
                                    verbose=progress.fit_verbose(args.verbose),
                                    deterministic=args.deterministic, strategy=args.strategy,
                                    data_options=data_options(args))
    if not training._is_chief(model.distribute_strategy):
        return 0  # only the chief evaluates and writes the run directory
    print(f"trained {summary['steps']} steps in {summary['wall_time_seconds']:.0f} s; "
          f"model saved to {os.path.join(args.out, 'model.keras')}")
    quick = args.quick_eval
    if args.eval_metrics and not quick and not args.full_eval \
            and summary["steps"] < SHORT_RUN_STEPS:
        quick = True
        print(f"a short run ({summary['steps']:,} steps < {SHORT_RUN_STEPS:,}): evaluating with "
              "the reduced protocols (--full-eval for the published ones; metrics.json records "
              "which)")
    finish_run(model, args.out, summary["recipe"], summary, args.eval_metrics, args.seed,
               quick, cheaper="--quick-eval, fewer --eval-metrics, or --eval-metrics with no "
                              "names to skip it", data_options=data_options(args))
    return 0



def _dataset_for(args, model_dir=None):
    from kerasdis import data

    name = getattr(args, "dataset", None)
    if name is None and model_dir and os.path.isfile(os.path.join(model_dir, "recipe.json")):
        with open(os.path.join(model_dir, "recipe.json")) as f:
            name = json.load(f).get("dataset")
    return data.load(name or "dsprites", **data_options(args))


def cmd_evaluate(args):
    from kerasdis.io import write_json

    if "udr" in args.metrics:
        return cmd_udr(args)
    if len(args.model) != 1:
        raise ValueError(f"evaluate takes one MODEL (or two or more with --metric udr), got "
                         f"{len(args.model)}: {args.model}.")
    spec = args.model[0]
    model = load_any_model(spec)
    dataset = _dataset_for(args, spec if os.path.isdir(spec) else None)
    results = run_evaluation(model, dataset, args.metrics, args.seed, args.quick,
                             cheaper="--quick or fewer --metrics for less")
    print(score_table({os.path.basename(os.path.normpath(spec)): results}))
    out = args.output or (os.path.join(spec, "metrics.json") if os.path.isdir(spec)
                          and not os.path.isfile(os.path.join(spec, "config.json"))
                          else None)
    if out:
        write_json(out, results)
        print(f"wrote {out}")
    return 0


def cmd_udr(args):
    """`kerasdis evaluate --metric udr A B ...`: the UDR ranking of the models."""
    from kerasdis.io import write_json
    from kerasdis.metrics import udr

    if args.metrics != ["udr"]:
        raise ValueError(f"--metric udr ranks several models and cannot be combined with other "
                         f"metrics, got {args.metrics}.")
    if len(args.model) < 2:
        raise ValueError(f"--metric udr needs two or more models, got {args.model}.")
    first = args.model[0]
    dataset = _dataset_for(args, first if os.path.isdir(first) else None)
    models = [load_any_model(spec) for spec in args.model]
    print(f"UDR of {len(models)} models on {args.udr_samples:,} images of {dataset.name} "
          f"({args.udr_correlation}; each model encodes them once)", flush=True)
    result = udr(models, dataset, num_samples=args.udr_samples,
                 correlation=args.udr_correlation, seed=args.seed)
    order = sorted(range(len(models)), key=lambda i: -result["scores"][i])
    width = max(len(m) for m in args.model)
    print(f"{'rank':>4}  {'model':<{width}}  {'UDR':>6}  informative latents")
    for rank, i in enumerate(order, 1):
        print(f"{rank:>4}  {args.model[i]:<{width}}  {result['scores'][i]:6.3f}  "
              f"{result['num_informative'][i]}")
    if len(models) == 2 and args.udr_correlation == "spearman":
        print("(two models share one UDR, their pairwise score: UDR ranks three or more)")
    if args.output:
        write_json(args.output, {"models": args.model, **result})
        print(f"wrote {args.output}")
    return 0


def cmd_visualize(args):
    model = load_any_model(args.model)
    dataset = _dataset_for(args, args.model if os.path.isdir(args.model) else None)
    draw_pictures(model, dataset, args.out, seed=args.seed)
    print(f"wrote traversal.png, traversal.gif, reconstructions.png, samples.png, kl.png to {args.out}")
    return 0


def cmd_export(args):
    from kerasdis import export

    model = load_any_model(args.model)
    export.saved_model(model, args.path, overwrite=args.overwrite)
    print(f"wrote SavedModel to {args.path} (endpoints: serving_default=encode, encode, decode, "
          "reconstruct)")
    return 0


def cmd_datasets(args):
    """Prints every dataset: source, whether it is on this machine, size, shape, factors.

    Availability only looks at files in the TFDS data directory (`--data-dir` when
    the parser has it, else `$TFDS_DATA_DIR`, else `~/tensorflow_datasets`); nothing
    is downloaded and TensorFlow is not imported.
    """
    from kerasdis.data import catalog

    data_dir = getattr(args, "data_dir", None)
    rows = [("name", "source", "here", "images", "shape", "factors")]
    for name in catalog.names():
        info = catalog.TABLE[name]
        size = f"{info.num_examples:,d}" if info.num_examples else "-"
        shape = "x".join(str(d) for d in info.image_shape)
        rows.append((name, info.source, catalog.available(name, data_dir), size, shape,
                     info.factors))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[5])
    manual = catalog.manual_dir(data_dir)
    print(f"\ndata directory: {catalog.data_dir_root(data_dir)}; manual downloads go in {manual}")
    for name in catalog.names():
        info = catalog.TABLE[name]
        if info.source == "manual download" and catalog.available(name, data_dir) == "not prepared":
            print(f"{name}: {catalog.instructions(name, manual)}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="kerasdis", description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", dest="native_logs", action="store_true",
                        help="show TensorFlow's own (C++) log lines")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model (resumable)")
    _add_train_arguments(train)
    train.set_defaults(func=cmd_train)
    datasets = sub.add_parser("datasets", help="list datasets, their sources and factors")
    datasets.add_argument("--data-dir", default=None,
                          help="tensorflow-datasets directory to look in (default "
                               "$TFDS_DATA_DIR or ~/tensorflow_datasets)")
    datasets.set_defaults(func=cmd_datasets)

    evaluate = sub.add_parser(
        "evaluate", help="disentanglement metrics of a model, or UDR of several",
        description="Scores a model with kd.metrics.evaluate; with --metric udr, ranks two or "
                    "more models trained on the same data by Unsupervised Disentanglement "
                    "Ranking (kd.metrics.udr, no labels used).")
    evaluate.add_argument("model", nargs="+",
                          help="run directory, .keras file, preset directory or zoo name "
                               "(two or more for --metric udr)")
    evaluate.add_argument("--dataset", default=None, help="defaults to the run's dataset or dsprites")
    add_data_arguments(evaluate)
    evaluate.add_argument("--metrics", "--metric", nargs="+", default=list(DEFAULT_EVAL_METRICS),
                          metavar="METRIC")
    evaluate.add_argument("--udr-correlation", default="spearman", choices=("spearman", "lasso"),
                          help="similarity of two models' latents for --metric udr")
    evaluate.add_argument("--udr-samples", type=int, default=10_000,
                          help="images every model encodes for --metric udr")
    add_import_argument(evaluate)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--quick", action="store_true", help="reduced protocols")
    evaluate.add_argument("--output", default=None, help="JSON file (default: MODEL/metrics.json for runs)")
    evaluate.set_defaults(func=cmd_evaluate)

    visualize = sub.add_parser("visualize", help="traversals, reconstructions, samples, KL chart")
    visualize.add_argument("model")
    visualize.add_argument("--out", required=True)
    visualize.add_argument("--dataset", default=None,
                           help="defaults to the run's dataset or dsprites")
    add_data_arguments(visualize)
    visualize.add_argument("--seed", type=int, default=0)
    visualize.set_defaults(func=cmd_visualize)

    export = sub.add_parser("export", help="write a TensorFlow SavedModel")
    export.add_argument("model")
    export.add_argument("path")
    export.add_argument("--overwrite", action="store_true")
    export.set_defaults(func=cmd_export)

    from kerasdis import demo, tune_cli, zoo_cli

    demo.add_parser(sub)
    zoo_cli.add_parser(sub)
    add_import_argument(tune_cli.add_tune_parser(sub))
    return parser


def check_names(parser, args):
    """Imports `--import` modules, then checks model, dataset and metric names.

    Runs before any command, without TensorFlow unless an imported module needs it;
    a bad name ends in `parser.error` (usage, the message, exit status 2).
    """
    from kerasdis import data, models
    from kerasdis.metrics import registry as metric_registry

    for module in getattr(args, "imports", []):
        try:
            importlib.import_module(module)
        except ImportError as error:
            parser.error(f"--import {module}: {error}")
    model = args.model if getattr(args, "model_is_name", False) else None
    if model is not None and model not in models.builtin_names() and (
            not args.imports or model not in models.names()):
        parser.error(f"--model: unknown model {model!r}; choose from "
                     f"{', '.join(models.builtin_names())}, or register your own with "
                     "@kd.models.register and pass its module with --import")
    dataset = getattr(args, "dataset", None)
    if dataset is not None and dataset not in data.names():
        parser.error(f"--dataset: unknown dataset {dataset!r}; choose from "
                     f"{', '.join(data.names())}")
    for flag, valid in (("metrics", metric_registry.all_names()),
                        ("eval_metrics", metric_registry.names())):
        given = getattr(args, flag, None) or []
        if isinstance(given, str):  # `zoo evaluate --metrics a,b`
            given = [m.strip() for m in given.split(",") if m.strip()]
        unknown = [m for m in given if m not in valid]
        if unknown:
            parser.error(f"--{flag.replace('_', '-')}: unknown metrics {unknown}; choose from "
                         f"{', '.join(valid)}")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.native_logs and (getattr(args, "verbose", None) or 1) < 2:
        from kerasdis.backend import quiet_tensorflow

        quiet_tensorflow()
    check_names(parser, args)
    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError, FloatingPointError) as error:
        print(f"kerasdis {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
