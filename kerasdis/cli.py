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
"""

import argparse
import json
import os
import sys

import numpy as np


def _add_train_arguments(parser):
    from kerasdis.training import DEFAULT_RECIPE, MODELS

    parser.add_argument("--model", default=DEFAULT_RECIPE["model"], choices=sorted(MODELS),
                        help="objective to train")
    parser.add_argument("--dataset", default=DEFAULT_RECIPE["dataset"], help="dataset name")
    parser.add_argument("--beta", type=float, default=None, help="β (BetaVAE, BetaTCVAE)")
    parser.add_argument("--gamma", type=float, default=None,
                        help="γ (AnnealedVAE capacity weight, FactorVAE TC weight)")
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--steps", type=int, default=DEFAULT_RECIPE["steps"])
    parser.add_argument("--batch-size", type=int, default=DEFAULT_RECIPE["batch_size"])
    parser.add_argument("--lr", type=float, default=DEFAULT_RECIPE["learning_rate"],
                        help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--likelihood", default="bernoulli")
    parser.add_argument("--architecture", default="conv")
    parser.add_argument("--checkpoint-every", type=int, default=DEFAULT_RECIPE["checkpoint_every"])
    parser.add_argument("--beta-annealing-steps", type=int, default=0)
    parser.add_argument("--out", required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--overwrite", action="store_true", help="start over in a non-empty --out")
    parser.add_argument("--verbose", type=int, default=1)
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
                        help="metrics for metrics.json at the end (none: skip)")
    parser.add_argument("--quick-eval", action="store_true",
                        help="reduced metric protocols (see cli.QUICK_OPTIONS)")


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
        "mixed_precision": args.mixed_precision,
    }


def cmd_train(args):
    from kerasdis import training

    recipe = recipe_from_args(args)
    model, summary = training.train(recipe, args.out, resume=args.resume,
                                    overwrite=args.overwrite, verbose=args.verbose,
                                    deterministic=args.deterministic, strategy=args.strategy)
    if not training._is_chief(model.distribute_strategy):
        return 0  # only the chief evaluates and writes the run directory
    print(f"trained {summary['steps']} steps in {summary['wall_time_seconds']:.0f} s; "
          f"model saved to {os.path.join(args.out, 'model.keras')}")
    finish_run(model, args.out, summary["recipe"], summary, args.eval_metrics, args.seed,
               args.quick_eval)
    return 0



# Reduced protocols for quick looks (`--quick`): same estimators, fewer points.
QUICK_OPTIONS = {
    "mig": {"subsample": 20_000},
    "discrete_mig": {"num_train": 2_000},
    "beta_vae": {"num_train": 500, "num_eval": 250},
    "factor_vae": {"num_train": 500, "num_eval": 250, "num_variance_estimate": 2_000},
    "dci": {"num_train": 1_000, "num_test": 500},
    "sap": {"num_train": 1_000, "num_test": 500},
    "modularity_explicitness": {"num_train": 1_000, "num_test": 500},
    "unsupervised": {"num_train": 2_000},
    "elbo": {"num_images": 1_000},
}
DEFAULT_EVAL_METRICS = ("mig", "discrete_mig", "beta_vae", "factor_vae", "dci", "sap", "elbo")


def load_any_model(spec):
    """A model from a run directory, a `.keras` file, a preset directory or a zoo name."""
    import keras

    from kerasdis import zoo

    if os.path.isdir(spec):
        for name in ("model.keras", "checkpoint.keras"):
            if os.path.isfile(os.path.join(spec, name)):
                return keras.saving.load_model(os.path.join(spec, name), safe_mode=True)
        if os.path.isfile(os.path.join(spec, "config.json")):
            return zoo.load(spec)
        raise ValueError(f"MODEL directory {spec!r} holds no model.keras, checkpoint.keras "
                         "or preset (config.json).")
    if spec.endswith(".keras"):
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"MODEL file {spec!r} does not exist.")
        return keras.saving.load_model(spec, safe_mode=True)
    return zoo.load(spec)


def _dataset_for(args, model_dir=None):
    from kerasdis import data

    name = getattr(args, "dataset", None)
    if name is None and model_dir and os.path.isfile(os.path.join(model_dir, "recipe.json")):
        with open(os.path.join(model_dir, "recipe.json")) as f:
            name = json.load(f).get("dataset")
    return data.load(name or "dsprites")


def score_table(columns):
    """A plain-text table of primary scores: `columns` is `{title: evaluate results}`."""
    from kerasdis.callbacks import primary_scores

    scores = {title: primary_scores(results) for title, results in columns.items()}
    names = [n for n in DEFAULT_EVAL_METRICS + tuple(k for s in scores.values() for k in s)
             if any(n in s for s in scores.values())]
    names = list(dict.fromkeys(names))
    width = max([len(n) for n in names] + [6])
    lines = ["metric".ljust(width) + "".join(f"{t:>14s}" for t in columns)]
    for n in names:
        cells = "".join(
            f"{scores[t][n]:>14.3f}" if n in scores[t] else f"{'-':>14s}" for t in columns)
        lines.append(n.ljust(width) + cells)
    return "\n".join(lines)


def run_evaluation(model, dataset, metrics, seed, quick, verbose=1):
    from kerasdis import metrics as kd_metrics

    options = {m: QUICK_OPTIONS[m] for m in metrics if m in QUICK_OPTIONS} if quick else None
    return kd_metrics.evaluate(model, dataset, metrics=metrics, seed=seed, verbose=verbose,
                               options=options)


def draw_pictures(model, dataset, out_dir, seed=0):
    """traversal.png, traversal.gif, reconstructions.png, samples.png, kl.png in `out_dir`."""
    from kerasdis import viz

    os.makedirs(out_dir, exist_ok=True)
    x = dataset.images_at(np.random.default_rng(seed).integers(0, dataset.num_examples, 8))
    viz.traversal_grid(model, x=x, dataset=dataset, path=os.path.join(out_dir, "traversal.png"))
    viz.traversal_gif(model, os.path.join(out_dir, "traversal.gif"), x=x)
    viz.reconstructions(model, x, path=os.path.join(out_dir, "reconstructions.png"))
    viz.samples(model, 16, seed=seed, path=os.path.join(out_dir, "samples.png"))
    viz.kl_per_dimension(model, dataset, path=os.path.join(out_dir, "kl.png"))


def cmd_evaluate(args):
    from kerasdis.io import write_json

    model = load_any_model(args.model)
    dataset = _dataset_for(args, args.model if os.path.isdir(args.model) else None)
    results = run_evaluation(model, dataset, args.metrics, args.seed, args.quick)
    print(score_table({os.path.basename(os.path.normpath(args.model)): results}))
    out = args.output or (os.path.join(args.model, "metrics.json") if os.path.isdir(args.model)
                          and not os.path.isfile(os.path.join(args.model, "config.json"))
                          else None)
    if out:
        write_json(out, results)
        print(f"wrote {out}")
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


def finish_run(model, out_dir, recipe, summary, metrics, seed, quick):
    """After training: metrics.json, pictures and a preset directory in the run directory."""
    from kerasdis import data
    from kerasdis.io import write_json

    dataset = data.load(recipe["dataset"])
    results = None
    if metrics:
        results = run_evaluation(model, dataset, metrics, seed, quick)
        write_json(os.path.join(out_dir, "metrics.json"), results)
        print(score_table({"model": results}))
    draw_pictures(model, dataset, out_dir, seed=seed)
    model.save_to_preset(os.path.join(out_dir, "preset"), metadata={
        "dataset": recipe["dataset"], "recipe": recipe, "seed": recipe["seed"],
        "steps": summary["steps"], "wall_time_seconds": summary["wall_time_seconds"],
        "hardware": summary["hardware"], "metrics": results}, overwrite=True)
    return results


def cmd_datasets(args):
    from kerasdis import data

    for name in data.names():
        line = name
        if name in ("dsprites", "color_dsprites", "noisy_dsprites"):
            ds = data.load(name)
            sizes = ", ".join(f"{n}={s}" for n, s in zip(ds.factor_names, ds.factor_sizes))
            line = f"{name:16s} {ds.num_examples:>9,d} images {tuple(ds.observation_shape)}  {sizes}"
        else:
            line = f"{name:16s} (tensorflow-datasets; kd.data.load({name!r}, source='tfds'))"
        print(line)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="kerasdis", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model (resumable)")
    _add_train_arguments(train)
    train.set_defaults(func=cmd_train)
    datasets = sub.add_parser("datasets", help="list datasets and their factors")
    datasets.set_defaults(func=cmd_datasets)

    evaluate = sub.add_parser("evaluate", help="disentanglement metrics of a model")
    evaluate.add_argument("model", help="run directory, .keras file, preset directory or zoo name")
    evaluate.add_argument("--dataset", default=None, help="defaults to the run's dataset or dsprites")
    evaluate.add_argument("--metrics", nargs="+", default=list(DEFAULT_EVAL_METRICS))
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--quick", action="store_true", help="reduced protocols")
    evaluate.add_argument("--output", default=None, help="JSON file (default: MODEL/metrics.json for runs)")
    evaluate.set_defaults(func=cmd_evaluate)

    visualize = sub.add_parser("visualize", help="traversals, reconstructions, samples, KL chart")
    visualize.add_argument("model")
    visualize.add_argument("--out", required=True)
    visualize.add_argument("--dataset", default=None)
    visualize.add_argument("--seed", type=int, default=0)
    visualize.set_defaults(func=cmd_visualize)

    export = sub.add_parser("export", help="write a TensorFlow SavedModel")
    export.add_argument("model")
    export.add_argument("path")
    export.add_argument("--overwrite", action="store_true")
    export.set_defaults(func=cmd_export)

    from kerasdis import demo, zoo_cli

    demo.add_parser(sub)
    zoo_cli.add_parser(sub)
    try:
        from kerasdis import tune_cli
    except ImportError:  # tuning extras unavailable
        tune_cli = None
    if tune_cli is not None:
        tune_cli.add_tune_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError, FloatingPointError) as error:
        print(f"kerasdis {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
