"""`kerasdis tune`: hyper-parameter search from the shell (`kerasdis.tuning.search`).

    kerasdis tune --model beta_vae --dataset dsprites --tuner bayesian --max-trials 20 \\
        --objective val_mig --beta 1 16 --latent-dim 6 12 --steps-per-epoch 2000 --epochs 5 \\
        --metric-options '{"mig": {"subsample": 20000}}' --out tuning/bvae
    kerasdis tune ... --out tuning/bvae                 # again: resumes the search
    kerasdis tune ... --role chief  --oracle-port 8000  # distributed: one chief ...
    kerasdis tune ... --role worker --oracle-port 8000 --tuner-id worker0   # ... n workers
    kerasdis tune --dataset my_images --objective val_udr --seeds-per-trial 3 ...  # no labels

`--out DIR` is the search directory (`results.csv`, `results.json`, `tradeoff.png`
and keras-tuner's files). `kerasdis.cli` adds the subcommand with `add_tune_parser`.
"""

import json
import os


def _number_space(kind):
    """Parses `--beta`-like values: one number (fixed), `LO HI` (range), `A,B,C` (choices)."""

    def parse(values, flag):
        if values is None:
            return None
        try:
            if len(values) == 1 and "," in values[0]:
                return [kind(v) for v in values[0].split(",") if v.strip()]
            numbers = [kind(v) for v in values]
        except ValueError:
            raise ValueError(
                f"{flag}: expected {kind.__name__} values, got {' '.join(values)!r}.") from None
        if len(numbers) == 1:
            return numbers[0]
        if len(numbers) == 2:
            return (numbers[0], numbers[1])
        raise ValueError(
            f"{flag}: give one value (fixed), two (LO HI, a range) or a comma-separated list "
            f"of choices, got {' '.join(values)!r}.")

    return parse


def add_tune_parser(subparsers):
    """Adds the `tune` subcommand to an `argparse` subparsers object; returns its parser."""
    from kerasdis.models import builtin_names
    from kerasdis.workflows import add_data_arguments

    parser = subparsers.add_parser(
        "tune",
        help="search β, latent size and learning rate (keras-tuner; resumable, distributed)",
        description="Hyper-parameter search with keras-tuner (kerasdis.tuning.search). The "
                    "searched 'beta' is the objective's weight: β (beta_vae, beta_tcvae), γ "
                    "(factor_vae, annealed_vae) or λ_od (dip_vae). Ranges: one value fixes it, "
                    "LO HI is a range, A,B,C a list of choices.")
    parser.add_argument("--model", default="beta_vae", metavar="MODEL",
                        help=f"objective to tune: {', '.join(builtin_names())}, or a model "
                             "registered by an --import module")
    parser.set_defaults(model_is_name=True)
    parser.add_argument("--dataset", default="dsprites", help="dataset name")
    add_data_arguments(parser)
    parser.add_argument("--tuner", default="random",
                        help="random, bayesian, hyperband or grid (kerasdis.tuning.TUNERS)")
    parser.add_argument("--objective", default="val_discrete_mig",
                        help="val_<metric> of kerasdis.tuning.OBJECTIVES, e.g. val_mig, "
                             "val_beta_vae, val_tradeoff, or val_udr (label-free; needs "
                             "--seeds-per-trial >= 2)")
    parser.add_argument("--max-trials", type=int, default=10,
                        help="number of trials (hyperband: a cap, 0 for none)")
    parser.add_argument("--beta", nargs="+", default=None, metavar="V",
                        help="weight: LO HI (log-scale range), V (fixed) or A,B,C; "
                             "default: the model's range")
    parser.add_argument("--latent-dim", nargs="+", default=["4", "12"], metavar="N",
                        help="latent size: LO HI, N or A,B,C (default 4 12)")
    parser.add_argument("--lr", "--learning-rate", dest="learning_rate", nargs="+",
                        default=["1e-4", "1e-3"], metavar="V",
                        help="Adam learning rate: LO HI (log scale), V or A,B,C "
                             "(default 1e-4 1e-3)")
    parser.add_argument("--discriminator-lr", default=None, metavar="LR",
                        help="FactorVAE's discriminator: a learning rate, or 'tied' to each "
                             "trial's --lr (default: its own Adam 1e-4, as Kim & Mnih)")
    parser.add_argument("--steps-per-epoch", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per trial; disentanglement is scored after each")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--metrics", nargs="+", default=None,
                        help="metrics logged as val_<name> (default: the objective's)")
    parser.add_argument("--metric-options", default=None, metavar="JSON",
                        help='protocol overrides, e.g. \'{"mig": {"subsample": 20000}}\'')
    parser.add_argument("--beta-annealing-steps", type=int, default=0)
    parser.add_argument("--architecture", default="conv")
    parser.add_argument("--likelihood", default="bernoulli")
    parser.add_argument("--model-args", default=None, metavar="JSON",
                        help='further model arguments, e.g. \'{"estimator": "mws"}\'')
    parser.add_argument("--reconstruction-budget", type=float, default=None,
                        help="nats per image; needed by --objective val_tradeoff")
    parser.add_argument("--tradeoff-metric", default="discrete_mig")
    parser.add_argument("--tradeoff-penalty", type=float, default=1.0)
    parser.add_argument("--seeds-per-trial", type=int, default=1, metavar="N",
                        help="seeds trained per trial (N times the cost); N >= 2 logs val_udr, "
                             "the median UDR of the seeds (not with --tuner hyperband)")
    parser.add_argument("--udr-options", default=None, metavar="JSON",
                        help='UDR protocol for val_udr, e.g. \'{"num_samples": 5000, '
                             '"correlation": "lasso"}\'')
    parser.add_argument("--tuner-options", default=None, metavar="JSON",
                        help='oracle options, e.g. \'{"max_epochs": 4, "factor": 2}\' (hyperband)')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="search directory")
    parser.add_argument("--overwrite", action="store_true",
                        help="start over instead of resuming the search in --out (chief only)")
    parser.add_argument("--role", choices=("chief", "worker"), default=None,
                        help="distributed tuning: the chief serves trials, workers run them")
    parser.add_argument("--oracle-ip", default=None,
                        help="chief's address (default 127.0.0.1 or $KERASTUNER_ORACLE_IP)")
    parser.add_argument("--oracle-port", type=int, default=None,
                        help="chief's port (or $KERASTUNER_ORACLE_PORT)")
    parser.add_argument("--tuner-id", default=None,
                        help="this process's id (chief: contains 'chief'; workers: unique)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="start a trial only if it is expected to end within SECONDS of "
                             "the start; run the command again to resume (one process only)")
    parser.add_argument("--verbose", type=int, default=1)
    parser.add_argument("--no-estimate", dest="estimate", action="store_false",
                        help="skip the short timing that estimates the search's length")
    parser.set_defaults(func=cmd_tune)
    return parser


def _json_option(text, flag):
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{flag}: not valid JSON ({error}): {text!r}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag}: expected a JSON object, got {text!r}.")
    return value


def search_kwargs_from_args(args):
    """The keyword arguments of `kerasdis.tuning.search` for parsed `tune` arguments."""
    if args.max_trials < 0:
        raise ValueError(f"--max-trials must be a positive integer, got {args.max_trials}.")
    out = os.path.normpath(args.out)
    directory, project_name = os.path.split(out)
    kwargs = {
        "model": args.model, "dataset": args.dataset, "tuner": args.tuner,
        "objective": args.objective, "max_trials": args.max_trials or None,
        "directory": directory or ".", "project_name": project_name,
        "overwrite": args.overwrite, "seed": args.seed,
        "tuner_options": _json_option(args.tuner_options, "--tuner-options"),
        "verbose": args.verbose, "role": args.role, "oracle_ip": args.oracle_ip,
        "oracle_port": args.oracle_port, "tuner_id": args.tuner_id,
        "latent_dim": _number_space(int)(args.latent_dim, "--latent-dim"),
        "learning_rate": _number_space(float)(args.learning_rate, "--lr"),
        "steps_per_epoch": args.steps_per_epoch, "epochs": args.epochs,
        "batch_size": args.batch_size, "metrics": args.metrics,
        "metric_options": _json_option(args.metric_options, "--metric-options"),
        "beta_annealing_steps": args.beta_annealing_steps,
        "architecture": args.architecture, "likelihood": args.likelihood,
        "model_args": _json_option(args.model_args, "--model-args"),
        "reconstruction_budget": args.reconstruction_budget,
        "tradeoff_metric": args.tradeoff_metric, "tradeoff_penalty": args.tradeoff_penalty,
        "seeds_per_trial": args.seeds_per_trial,
        "udr_options": _json_option(args.udr_options, "--udr-options"),
        "time_limit": args.time_limit,
    }
    beta = _number_space(float)(args.beta, "--beta")
    if beta is not None:
        kwargs["beta"] = beta
    if args.discriminator_lr is not None:
        kwargs["discriminator_learning_rate"] = _discriminator_lr(args.discriminator_lr)
    return kwargs


def _discriminator_lr(text):
    """`--discriminator-lr`: "tied" or a number (the hypermodel checks its range)."""
    if text == "tied":
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"--discriminator-lr: expected a learning rate or 'tied', got {text!r}.") from None


def _duration(seconds):
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7_200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3_600:.1f} h"


def describe_search_cost(kwargs, max_trials):
    """One line: about how long a trial and the search take here
    (`kerasdis.tuning.estimate_trial_seconds` on the search's hypermodel)."""
    from kerasdis import tuning

    names = ("beta", "latent_dim", "learning_rate", "steps_per_epoch", "epochs", "batch_size",
             "metrics", "metric_options", "beta_annealing_steps", "architecture", "likelihood",
             "model_args", "reconstruction_budget", "tradeoff_metric", "tradeoff_penalty",
             "seeds_per_trial", "udr_options", "discriminator_learning_rate")
    hypermodel = tuning.search_hypermodel(kwargs["model"], kwargs["dataset"], kwargs["objective"],
                                          seed=kwargs["seed"],
                                          **{k: kwargs[k] for k in names if k in kwargs})
    estimate = tuning.estimate_trial_seconds(hypermodel)
    trials = (f", up to {max_trials} trials: about {_duration(max_trials * estimate['seconds'])}"
              if max_trials else "")
    return (f"about {_duration(estimate['seconds'])} per trial here (training "
            f"{estimate['steps_per_second']:.1f} steps/s, timed over 8 steps: "
            f"{_duration(estimate['train_seconds'])}; scoring the epochs: about "
            f"{_duration(estimate['eval_seconds'])} of encoding){trials}; --no-estimate "
            "skips this timing")


def cmd_tune(args):
    from kerasdis import tuning
    from kerasdis.workflows import data_options

    kwargs = search_kwargs_from_args(args)
    where = data_options(args)
    if where:  # the search takes the dataset itself (its name is what the search records)
        from kerasdis import data

        kwargs["dataset"] = data.load(args.dataset, **where)
    if args.role != "worker":
        print(f"searching {args.model} with the {args.tuner} tuner: up to "
              f"{args.max_trials or 'as many as the tuner needs'} trials of {args.epochs} epochs "
              f"x {args.steps_per_epoch:,} steps (batch {args.batch_size})"
              + (f" x {args.seeds_per_trial} seeds" if args.seeds_per_trial > 1 else "")
              + ", each epoch scored by "
              f"{', '.join(args.metrics or [args.objective.removeprefix('val_')])}; fewer "
              "--max-trials, --epochs or --steps-per-epoch, or cheaper --metric-options, for "
              "less", flush=True)
        if args.estimate:
            print(describe_search_cost(kwargs, args.max_trials), flush=True)
    result = tuning.search(**kwargs)
    if args.role == "worker":
        print(f"worker done; the chief writes the results to {result.project_dir}")
        return 0
    completed = sum(r["status"] == "COMPLETED" for r in result.table)
    print(f"{len(result.table)} trials ({completed} completed) in {result.project_dir}"
          + ("; stopped at --time-limit, run the same command to resume"
             if result.time_limit_reached else ""))
    if result.best_trial_id is not None:
        best = next(r for r in result.table if r["trial_id"] == result.best_trial_id)
        print(f"best trial {result.best_trial_id}: {args.objective} = {best.get(args.objective)}; "
              + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in result.best_hyperparameters.items()))
    for name, path in result.paths.items():
        print(f"wrote {path}")
    return 0
