"""Workflows shared by the `kerasdis` subcommands: load, evaluate, draw and publish.

Each function is a few library calls (`kerasdis.metrics`, `kerasdis.viz`,
`kerasdis.zoo`) that `kerasdis train`, `evaluate`, `visualize`, `demo` and `zoo`
share; the command line modules import them from here, so imports run one way:
library -> workflows -> command line.
"""

import os

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

    from kerasdis import models, zoo

    models.load_builtins()  # every kerasdis class, before Keras deserialises one
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


# A run shorter than this is evaluated with QUICK_OPTIONS unless the full protocols
# are asked for (`kerasdis train --full-eval`).
SHORT_RUN_STEPS = 5_000

_SIZE_KEYS = ("num_train", "num_eval", "num_test", "subsample", "num_images",
              "num_variance_estimate")


def _protocol_sizes(params):
    sizes = [f"{params[k]:,}" for k in _SIZE_KEYS if isinstance(params.get(k), int)]
    if params.get("subsample", 0) is None:
        sizes.append("whole grid")
    return "/".join(sizes)


def describe_cost(model, dataset, metrics, options=None, cheaper=None):
    """One line: the metrics and protocol sizes `evaluate` will run, and how long its
    encoding should take here, from a short timing of the encoder
    (`kerasdis.metrics.evaluate.cost`)."""
    from kerasdis.metrics.evaluate import cost

    plan = cost(model, dataset, metrics=metrics, options=options)
    minutes = plan["seconds"] / 60
    when = f"{plan['seconds']:.0f} s" if minutes < 2 else f"{minutes:.0f} min"
    what = ", ".join(f"{n} ({_protocol_sizes(plan['params'][n])})" for n in plan["metrics"])
    line = (f"evaluating {what}: about {plan['images']:,} images to encode"
            f"{' (the factor grid once)' if plan['grid'] else ''} at "
            f"{plan['images_per_second']:,.0f} images/s here, about {when}, plus the metrics' "
            "own computations")
    return line + (f"; {cheaper}" if cheaper else "")


def run_evaluation(model, dataset, metrics, seed, quick, verbose=1, cheaper=None):
    """`kd.metrics.evaluate` with the full or the reduced (`QUICK_OPTIONS`) protocols,
    after a line that says what it will cost; the result records which."""
    from kerasdis import metrics as kd_metrics

    options = {m: QUICK_OPTIONS[m] for m in metrics if m in QUICK_OPTIONS} if quick else None
    if verbose:
        print(describe_cost(model, dataset, metrics, options, cheaper), flush=True)
    results = kd_metrics.evaluate(model, dataset, metrics=metrics, seed=seed, verbose=verbose,
                                  options=options)
    results["protocol"]["reduced"] = bool(quick)
    return results


def draw_pictures(model, dataset, out_dir, seed=0):
    """traversal.png, traversal.gif, reconstructions.png, samples.png, kl.png in `out_dir`."""
    import numpy as np

    from kerasdis import viz

    os.makedirs(out_dir, exist_ok=True)
    x = dataset.images_at(np.random.default_rng(seed).integers(0, dataset.num_examples, 8))
    viz.traversal_grid(model, x=x, dataset=dataset, path=os.path.join(out_dir, "traversal.png"))
    viz.traversal_gif(model, x=x, path=os.path.join(out_dir, "traversal.gif"))
    viz.reconstructions(model, x, path=os.path.join(out_dir, "reconstructions.png"))
    viz.samples(model, 16, seed=seed, path=os.path.join(out_dir, "samples.png"))
    viz.kl_per_dimension(model, dataset, path=os.path.join(out_dir, "kl.png"))


def finish_run(model, out_dir, recipe, summary, metrics, seed, quick, cheaper=None,
               data_options=None):
    """After training: metrics.json, pictures and a preset directory in the run directory.

    `data_options`: where the recipe's dataset is (`kd.data.load` keywords such as
    `data_dir`, see `kerasdis.training.DATA_OPTIONS`), as given to the training.
    """
    from kerasdis import data
    from kerasdis.io import write_json

    dataset = data.load(recipe["dataset"], **(data_options or {}))
    results = None
    if metrics:
        results = run_evaluation(model, dataset, metrics, seed, quick, cheaper=cheaper)
        write_json(os.path.join(out_dir, "metrics.json"), results)
        print(score_table({"model": results}))
    draw_pictures(model, dataset, out_dir, seed=seed)
    model.save_to_preset(os.path.join(out_dir, "preset"), metadata={
        "dataset": recipe["dataset"], "recipe": recipe, "seed": recipe["seed"],
        "steps": summary["steps"], "wall_time_seconds": summary["wall_time_seconds"],
        "hardware": summary["hardware"], "metrics": results}, overwrite=True)
    return results


def add_data_arguments(parser):
    """`--data-dir` and `--image-path`: where the dataset's files are on this machine."""
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="tensorflow-datasets directory of the dataset (default "
                             "$TFDS_DATA_DIR or ~/tensorflow_datasets); manually downloaded "
                             "archives (chairs3d, cars3d, mpi3d_*) go in DIR/downloads/manual")
    parser.add_argument("--image-path", default=None, metavar="FILE",
                        help="the painting of scream_dsprites (default: scream.jpg in the "
                             "manual directory)")


def data_options(args):
    """The `kd.data.load` keywords of `--data-dir` and `--image-path` (not recipe keys)."""
    return {key: value for key in ("data_dir", "image_path")
            if (value := getattr(args, key, None)) is not None}
