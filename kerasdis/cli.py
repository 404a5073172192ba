"""The `kerasdis` command: train, evaluate, draw and export from the shell.

    kerasdis train --model beta_tcvae --beta 6 --steps 30000 --out runs/tcvae
    kerasdis train ... --out runs/tcvae --resume        # continue an interrupted run
    kerasdis evaluate runs/tcvae --metrics mig beta_vae
    kerasdis datasets

Every subcommand is a thin layer over the library (`kerasdis.training`,
`kerasdis.metrics`, `kerasdis.export`); failures exit with status 1 and a message
on stderr, never a traceback for bad input.
"""

import argparse
import json
import os
import sys


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
    }


def cmd_train(args):
    from kerasdis import training

    recipe = recipe_from_args(args)
    model, summary = training.train(recipe, args.out, resume=args.resume,
                                    overwrite=args.overwrite, verbose=args.verbose)
    print(f"trained {summary['steps']} steps in {summary['wall_time_seconds']:.0f} s; "
          f"model saved to {os.path.join(args.out, 'model.keras')}")
    return 0


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
