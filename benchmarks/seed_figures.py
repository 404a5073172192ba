"""The β-VAE paper's traversal figures on 3D chairs and CelebA (Higgins et al. 2017).

Trains the paper's β-VAE for the dataset with `kd.training.train` (resumable: run
it again to continue), or takes a trained model (`--preset`), then draws the
latent traversals of the latents with the largest KL, most informative first,
each row labelled with its latent index and KL (`kd.viz.traversal_grid`), to
`benchmarks/results/seed_figures/<dataset>.png` (and `<dataset>.json`: recipe,
steps, the rows' latents and KLs).

    python benchmarks/seed_figures.py --dataset chairs3d --data-dir ~/tensorflow_datasets
    python benchmarks/seed_figures.py --dataset celeba --download      # tfds fetches CelebA
    python benchmarks/seed_figures.py --dataset chairs3d --steps 2000  # a short look
    python benchmarks/seed_figures.py --dataset chairs3d --preset runs/my_chairs_run

The data is not downloaded for you (except CelebA with `--download`): without it
the script exits with status 1 and the message of `kd.data.load`, which says where
the files are published and where to put them (`kerasdis datasets` lists them).

Recipes (`RECIPES`). The paper's networks for both datasets are kerasdis's
`"conv"` architecture (4 convolutions 4x4 stride 2 with 32, 32, 64, 64 channels,
a 256-unit dense layer, the transposed decoder), a Bernoulli decoder, Adam 1e-4,
batch 64. β = 5 for chairs and β = 250 for CelebA, 32 latents for both, are the
values of the paper's appendix table (Table 1) as we recall it; we could not read
the paper from this machine: the replications we could read agree on β (5 and
250, Adam 1e-4, batch 64) and use 32 latents for CelebA, one uses 16 for chairs.
The paper's β multiplies a KL against a summed reconstruction term, as kerasdis's
`BetaVAE` does; with the Bernoulli decoder β = 250 may switch off most latents of
CelebA (the figure then shows few informative rows): `--beta` overrides it. The
paper gives no training length; replications train 1e6 steps. The default here,
100,000 steps, takes about 1-2 hours on a 2-core CPU (`train_throughput.md`).

This script is not one of `python -m benchmarks` (it needs manually downloaded
data; `benchmarks/__main__.py` lists it in `NOT_BENCHMARKS`).
"""

import argparse
import os
import sys

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as `import kerasdis` does (backend.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "seed_figures")
RUNS = os.path.join(ROOT, "runs", "seed_figures")  # git-ignored

_PAPER = {"model": "beta_vae", "batch_size": 64, "learning_rate": 1e-4, "seed": 0}
RECIPES = {
    "chairs3d": {**_PAPER, "dataset": "chairs3d",
                 "model_args": {"beta": 5.0, "latent_dim": 32, "architecture": "conv",
                                "likelihood": "bernoulli"}},
    "celeba": {**_PAPER, "dataset": "celeba",
               "model_args": {"beta": 250.0, "latent_dim": 32, "architecture": "conv",
                              "likelihood": "bernoulli"}},
}
DEFAULT_STEPS = 100_000
CHECKPOINT_EVERY = 5_000


def recipe_for(dataset, steps=DEFAULT_STEPS, beta=None, seed=0):
    """The training recipe of `dataset`'s figure (see `RECIPES`)."""
    recipe = {**RECIPES[dataset], "steps": steps, "seed": seed,
              "checkpoint_every": min(CHECKPOINT_EVERY, steps)}
    recipe["model_args"] = dict(recipe["model_args"])
    if beta is not None:
        recipe["model_args"]["beta"] = float(beta)
    return recipe


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=sorted(RECIPES))
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="tensorflow-datasets directory (default $TFDS_DATA_DIR or "
                             "~/tensorflow_datasets); rendered_chairs.tar goes in "
                             "DIR/downloads/manual")
    parser.add_argument("--download", action="store_true",
                        help="let tensorflow-datasets download CelebA")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--beta", type=float, default=None,
                        help="override the recipe's β (a new run directory)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default=None, metavar="NAME",
                        help="draw a trained model instead of training: zoo name, preset "
                             "directory, run directory or .keras file")
    parser.add_argument("--run-dir", default=None,
                        help=f"training run directory (default {RUNS}/<dataset>[-beta<β>]"
                             "[-steps<N>])")
    parser.add_argument("--output", default=None,
                        help=f"PNG to write (default {RESULTS}/<dataset>.png)")
    parser.add_argument("--rows", type=int, default=10,
                        help="latents shown: those with the largest KL (default 10)")
    parser.add_argument("--num-images", type=int, default=256,
                        help="images the KLs are averaged over; the first is the traversed one")
    parser.add_argument("--verbose", type=int, default=1, help="Keras fit verbosity")
    return parser


def default_run_dir(args):
    name = args.dataset
    if args.beta is not None:
        name += f"-beta{args.beta:g}"
    if args.steps != DEFAULT_STEPS:
        name += f"-steps{args.steps}"
    if args.seed:
        name += f"-seed{args.seed}"
    return os.path.join(RUNS, name)


def _run(args):
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    import numpy as np

    import kerasdis as kd
    from kerasdis.io import write_json
    from kerasdis.workflows import load_any_model

    if args.rows < 1 or args.num_images < 1:
        raise ValueError(f"--rows and --num-images must be positive, got {args.rows} and "
                         f"{args.num_images}.")
    where = {"data_dir": args.data_dir} if args.data_dir else {}
    if args.download:
        where["download"] = True
    # First: without the data, the message of kd.data.load and nothing written.
    dataset = kd.data.load(args.dataset, **where)
    output = args.output or os.path.join(RESULTS, f"{args.dataset}.png")
    info = {"dataset": args.dataset, "num_examples": int(dataset.num_examples)}
    if args.preset:
        model = load_any_model(args.preset)
        info["preset"] = args.preset
    else:
        recipe = recipe_for(args.dataset, args.steps, args.beta, args.seed)
        run_dir = args.run_dir or default_run_dir(args)
        print(f"training {recipe['model']} (β = {recipe['model_args']['beta']:g}, "
              f"{recipe['model_args']['latent_dim']} latents) on {args.dataset} for "
              f"{recipe['steps']:,} steps in {run_dir} (run again to resume)", flush=True)
        del dataset  # train loads its own copy
        model, summary = kd.training.train(recipe, run_dir, resume=True, verbose=args.verbose,
                                           tensorboard=False, data_options=where)
        dataset = kd.data.load(args.dataset, **where)
        info.update(recipe=summary["recipe"], run_dir=run_dir, steps=summary["steps"],
                    wall_time_seconds=summary["wall_time_seconds"])
    shape = tuple(getattr(model, "image_shape", dataset.observation_shape))
    if shape != tuple(dataset.observation_shape):
        raise ValueError(f"the model takes {shape} images, {args.dataset} has "
                         f"{tuple(dataset.observation_shape)}.")

    rng = np.random.default_rng(args.seed)
    x = dataset.images_at(rng.integers(0, dataset.num_examples, args.num_images))
    kl = kd.viz.kl_per_dimension(model, x)
    dims = [int(d) for d in np.argsort(-kl, kind="stable")[:args.rows]]
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    _, drawn = kd.viz.traversal_grid(model, x=x, dims=dims, path=output, return_info=True)
    info["rows"] = [{"latent": int(d), "kl": float(kl[d])} for d in drawn["dims"]]
    write_json(os.path.splitext(output)[0] + ".json", info)
    print(f"wrote {output}: latents " + ", ".join(
        f"z{row['latent']} ({row['kl']:.2f} nats)" for row in info["rows"]))
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, FileNotFoundError, FileExistsError, FloatingPointError) as error:
        print(f"seed_figures: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from kerasdis.backend import quiet_tensorflow

    quiet_tensorflow()  # TensorFlow's C++ log lines, as the `kerasdis` command hides them
    sys.exit(main())
