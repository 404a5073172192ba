"""`kerasdis demo`: the default main job, offline, about 10 minutes on 2 CPU cores.

Trains a β-VAE (Higgins et al. 2017, β = 4) on the procedural dSprites, then
measures it next to the same network untrained, on the same protocols and seed:
the Mutual Information Gap (Chen et al. 2018, on a 50,000-image subsample of the
grid), the discrete MIG of disentanglement_lib (10,000 points), and the BetaVAE
score (Higgins et al. 2017, reduced to 1,000 training / 500 evaluation points).
It writes `metrics.json`, the pictures (traversal grid and GIF, reconstructions,
samples, KL per dimension), `model.keras` and a preset directory to `--out`.
"""

import os

from kerasdis import progress

DEMO_RECIPE = {
    "model": "beta_vae",
    "model_args": {"beta": 4.0, "latent_dim": 10},
    "dataset": "dsprites",
    "steps": 6_000,
    "batch_size": 64,
    "learning_rate": 5e-4,
    "seed": 0,
    "checkpoint_every": 1_000,
}
DEMO_METRICS = ("mig", "discrete_mig", "beta_vae")
DEMO_OPTIONS = {
    "mig": {"subsample": 50_000},
    "beta_vae": {"num_train": 1_000, "num_eval": 500},
}


def add_parser(subparsers):
    parser = subparsers.add_parser("demo", help="train, evaluate and draw a β-VAE (about 10 min)")
    parser.add_argument("--out", default="kerasdis_demo", help="output directory")
    parser.add_argument("--steps", type=int, default=DEMO_RECIPE["steps"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--verbose", type=int, default=None,
                        help="Keras fit verbosity (default: a progress bar on a terminal, one "
                             "line per checkpoint otherwise)")
    parser.set_defaults(func=run)


def run(args):
    from kerasdis import data, metrics, training
    from kerasdis.workflows import describe_cost, draw_pictures, score_table

    recipe = {**DEMO_RECIPE, "steps": args.steps, "seed": args.seed,
              "checkpoint_every": min(DEMO_RECIPE["checkpoint_every"], args.steps)}
    print(f"kerasdis demo: training a β-VAE (β=4) for {recipe['steps']} steps on the "
          f"procedural dSprites into {args.out}/")
    model, summary = training.train(recipe, args.out, resume=args.resume,
                                    overwrite=args.overwrite,
                                    verbose=progress.fit_verbose(args.verbose))
    dataset = data.load(recipe["dataset"])
    untrained = training.build_model(summary["recipe"], dataset)
    results = {}
    print(describe_cost(model, dataset, DEMO_METRICS, DEMO_OPTIONS) + ", for each of the two "
          "models")
    for title, candidate in (("untrained", untrained), ("trained", model)):
        print(f"evaluating the {title} model ...")
        results[title] = metrics.evaluate(candidate, dataset, metrics=DEMO_METRICS,
                                          seed=args.seed, verbose=0, options=DEMO_OPTIONS)
    training.write_json(os.path.join(args.out, "metrics.json"),
                        {**results, "steps": summary["steps"],
                         "wall_time_seconds": summary["wall_time_seconds"]})
    draw_pictures(model, dataset, args.out, seed=args.seed)
    model.save_to_preset(os.path.join(args.out, "preset"), metadata={
        "dataset": recipe["dataset"], "recipe": summary["recipe"], "seed": recipe["seed"],
        "steps": summary["steps"], "wall_time_seconds": summary["wall_time_seconds"],
        "hardware": summary["hardware"], "metrics": results["trained"]}, overwrite=True)
    print()
    print(score_table(results))
    print(f"\ntrained {summary['steps']} steps in {summary['wall_time_seconds'] / 60:.1f} min; "
          f"pictures, metrics.json and model.keras are in {args.out}/")
    return 0
