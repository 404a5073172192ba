"""The β-VAE paper's table of disentanglement metric scores on dSprites, with kerasdis.

Higgins et al. 2017 ("β-VAE: Learning Basic Visual Concepts with a Constrained
Variational Framework", Fig. 8 / Table 1) score nine representations of the 2D shapes
(dSprites) data with their disentanglement metric. This script computes the same
nine rows with `kerasdis.metrics.beta_vae_score` (the metric's disentanglement_lib
protocol) as mean ± std over seeds and writes a markdown table next to the
published figures:

- ground truth: the factors themselves (`kerasdis.baselines.ground_truth`, exact
  grid look-up), raw pixels, PCA (10 components), ICA (10 components), an untrained
  conv VAE: recomputed for every seed (seed = sample of the fit / initial weights);
- DC-IGN, InfoGAN, VAE, β-VAE (β = 4): the zoo preset when there is one
  (`dcign_dsprites`, `infogan_dsprites`, `vae_dsprites`, `beta_vae_dsprites`; the
  seeds then vary only the metric), otherwise a model trained here for
  `--train-steps` steps per seed (the budget is stated in the table).

    python benchmarks/higgins_table.py                      # full protocol, 3 seeds
    python benchmarks/higgins_table.py --quick              # tiny settings (tests)
    python benchmarks/higgins_table.py --rows pca,ica --seeds 5 --output /tmp/t.md
    python benchmarks/higgins_table.py --rows dcign,infogan --update   # recompute two rows
    python benchmarks/higgins_table.py --protocol higgins2017 --network higgins2017
        # the paper's classifier and networks -> results/higgins_table_higgins2017.md

`--protocol higgins2017` scores with the paper's classifier (a linear softmax layer
trained by Adagrad, lr 1e-2, until convergence: `beta_vae_score(protocol=
"higgins2017")`) instead of disentanglement_lib's logistic regression; its table is
written next to the "dlib" one (`higgins_table_<protocol>.md` unless `--output`).
`--network higgins2017` trains the VAE, β-VAE and untrained-VAE rows with the paper's
fully connected 2D-shapes networks (`architecture="higgins2017"`) and its optimiser
(Adagrad, lr 1e-2) instead of the conv networks and Adam; the zoo presets (conv
networks) are then not used for those rows. DC-IGN and InfoGAN keep their own
networks.

The rows and settings are also written as JSON next to the table
(`higgins_table.json`); `--update` recomputes only `--rows` and keeps the other rows
of that file, refusing when the protocol or seeds differ.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as `import kerasdis` does (kerasdis/backend.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(ROOT, "benchmarks", "results", "higgins_table.md")

# key: (label, published mean %, published std %)
ROWS = {
    "ground_truth": ("Ground truth", 100.0, None),
    "raw_pixels": ("Raw pixels", 45.75, 0.8),
    "pca": ("PCA", 84.9, 0.4),
    "ica": ("ICA", 42.03, 10.6),
    "dcign": ("DC-IGN", 99.3, 0.1),
    "infogan": ("InfoGAN", 73.5, 0.9),
    "vae_untrained": ("VAE untrained", 44.14, 2.5),
    "vae": ("VAE", 61.58, 0.5),
    "beta_vae": ("β-VAE (β = 4)", 99.23, 0.1),
}
ZOO_NAMES = {"dcign": "dcign_dsprites", "infogan": "infogan_dsprites", "vae": "vae_dsprites",
             "beta_vae": "beta_vae_dsprites"}
TRAINED = tuple(ZOO_NAMES)
PROTOCOLS = ("dlib", "higgins2017")
NETWORKS = ("conv", "higgins2017")
# Rows whose network `--network` sets (DC-IGN and InfoGAN keep their own).
NETWORK_ROWS = ("vae_untrained", "vae", "beta_vae")
HIGGINS_LEARNING_RATE = 1e-2  # the paper's Adagrad learning rate (2D shapes networks)

CLASSIFIER_TEXT = {
    "dlib": "A scikit-learn\n`LogisticRegression(max_iter=1000)` is trained on {num_train} points",
    "higgins2017": (
        "As in the paper, a linear\nlayer with a softmax output is trained on the "
        "negative log-likelihood by Adagrad\n(learning rate {learning_rate:g}, "
        "minibatches of {classifier_batch_size}, until the training loss improves by "
        "less\nthan {tolerance:g} (relative) for {patience} epochs, at most {max_epochs} "
        "epochs) on {num_train} points"),
}

PROTOCOL_TEXT = """\
## Protocol

**kerasdis** (`kd.metrics.beta_vae_score(protocol="{protocol}")`): each point picks a
factor k uniformly, draws {batch_size} pairs of
factor vectors that share the value of factor k (all other factors independent and
uniform), encodes both images of every pair (posterior mean for a model) and takes
`mean_pairs |z1 − z2|` as the feature, with label k. {classifier_text}; the table reports
its accuracy on {num_eval} new points (`eval_accuracy`), mean ± std over the seeds
(population std, `np.std`). The recall column splits the accuracy by the factor held
fixed: the share of evaluation points with factor k fixed that the classifier assigns
to k (`eval_accuracy_per_factor`, mean over the seeds); it shows which factors a
representation fails to single out. Data: kerasdis's procedural dSprites (737,280 images,
the published factor grid; pixels differ slightly from the published files).

**Differences from the paper** (Higgins et al. 2017, Sec. 3 and Appendix): the same
feature (mean over L = 64 pairs of |z1 − z2|){classifier_difference}, on its own copy
of the 2D shapes data; the paper reports the top half of 30 scores per model (10
trained replicas x 3 classifier seeds), here mean ± std over the seeds; its VAE and
β-VAE are fully connected (1200-1200) networks trained to
convergence{network_difference}; its DC-IGN and InfoGAN are the authors' models,
here the kerasdis ones (`kerasdis.models.dcign`, `kerasdis.models.infogan`:
InfoGAN's representation is Q's estimate of the 3 categorical + 5 continuous codes);
PCA and ICA here use 10 components fitted on {pca_images} images (ICA: FastICA on
PCA-whitened data); the ground-truth codes are the factor indices.
Published figures are read from the paper's table (percent).
"""


def settings(quick, seeds=None, train_steps=None, protocol="dlib", network="conv"):
    """The protocol and budgets of a run; `seeds` / `train_steps` override the defaults.

    `protocol` ("dlib" or "higgins2017") selects `beta_vae_score`'s classifier; the
    settings' "protocol" entry holds all its parameters (those of `PROTOCOL_DEFAULTS`,
    with the tiny sizes of `quick`). `network` ("conv" or "higgins2017") is recorded
    only when it is not the default, so that earlier tables stay `--update`-compatible.
    """
    from kerasdis.metrics.beta_vae import protocol_params

    if protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {PROTOCOLS}, got {protocol!r}.")
    if network not in NETWORKS:
        raise ValueError(f"`network` must be one of {NETWORKS}, got {network!r}.")
    s = _default_settings(quick)
    s.update({k: v for k, v in (("seeds", seeds), ("train_steps", train_steps)) if v is not None})
    if protocol != "dlib":  # the dlib entry stays as earlier tables recorded it
        s["protocol"] = {"protocol": protocol, **protocol_params(protocol, **s["protocol"])}
    if network != "conv":
        s["network"] = network
    return s


def protocol_of(s):
    """The `beta_vae_score` protocol name of settings `s`."""
    return s["protocol"].get("protocol", "dlib")


def network_of(s):
    """The network of the VAE rows in settings `s`."""
    return s.get("network", "conv")


def _default_settings(quick):
    if quick:
        return {"protocol": {"num_train": 60, "num_eval": 30, "batch_size": 8},
                "seeds": 1, "train_steps": 2, "batch_size": 16, "pca_images": 300}
    return {"protocol": {"num_train": 10_000, "num_eval": 5_000, "batch_size": 64},
            "seeds": 3, "train_steps": 2_000, "batch_size": 64, "pca_images": 10_000}


def default_output(protocol):
    """The table's default path: `higgins_table.md` ("dlib"), else
    `higgins_table_<protocol>.md` next to it."""
    if protocol == "dlib":
        return DEFAULT_OUTPUT
    return os.path.join(os.path.dirname(DEFAULT_OUTPUT), f"higgins_table_{protocol}.md")


def _setup():
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    import kerasdis as kd

    return kd


# ----------------------------------------------------------------- training
def train(kd, key, ds, seed, steps, batch_size, learning_rate, verbose=0, network="conv"):
    """Trains the model of row `key` for `steps` steps; returns `(model, note)`.

    `network="higgins2017"`: the VAE and β-VAE use the paper's fully connected
    networks and its optimiser, Adagrad with learning rate 1e-2 (`learning_rate` is then
    not used); DC-IGN and InfoGAN are unchanged."""
    import keras

    from kerasdis.data.weak_supervision import single_factor_batches
    from kerasdis.models.dcign import DCIGN
    from kerasdis.models.infogan import InfoGAN
    from kerasdis.training import training_batches

    shape = tuple(ds.observation_shape)
    if key == "infogan":
        model = InfoGAN(input_shape=shape, seed=seed)
        model.compile()  # the paper's Adam: G 1e-3, D/Q 2e-4, beta_1 = 0.5
        optimizer = "Adam G 1e-3 / D 2e-4"
    else:
        if key == "dcign":
            model = DCIGN(latent_dim=10, input_shape=shape, seed=seed)
        elif key == "vae":
            model = kd.models.VAE(latent_dim=10, input_shape=shape, seed=seed,
                                  architecture=network)
        else:
            model = kd.models.BetaVAE(latent_dim=10, beta=4.0, input_shape=shape, seed=seed,
                                      architecture=network)
        if network == "higgins2017" and key in NETWORK_ROWS:
            model.compile(optimizer=keras.optimizers.Adagrad(HIGGINS_LEARNING_RATE))
            optimizer = f"higgins2017 network, Adagrad {HIGGINS_LEARNING_RATE:g}"
        else:
            model.compile(optimizer=keras.optimizers.Adam(learning_rate))
            optimizer = f"Adam {learning_rate:g}"
    if key == "dcign":
        data = single_factor_batches(ds, batch_size, seed=seed)
        batches = "single-factor batches"
    else:
        data = training_batches(ds, batch_size, seed)
        batches = "i.i.d. batches"
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=verbose, shuffle=False)
    note = (f"trained here: {steps} steps, batch {batch_size} ({batches}), {optimizer}; "
            "one model per seed")
    return model, note


def zoo_model(kd, key):
    """`(model, note)` of the zoo preset for row `key`, or `(None, None)`."""
    import keras

    name = ZOO_NAMES[key]
    if name not in kd.zoo.list():
        return None, None
    model = kd.zoo.load(name, expected_class=keras.Model)
    info = kd.zoo.info(name)
    steps = info.get("steps")
    return model, (f"zoo `{name}` ({steps if steps is not None else '?'} steps); "
                   "the seeds vary only the metric")


# ------------------------------------------------------------------ scoring
def score_row(kd, key, ds, s, seeds, use_zoo, learning_rate, log, verbose=0):
    """Scores of row `key` for `seeds` seeds (eval accuracy in %); returns
    `(scores, note, per_factor)`, `per_factor` one list of recalls (%) per seed."""
    from kerasdis import baselines

    protocol = s["protocol"]
    network = network_of(s)
    full_grid = protocol["num_train"] >= 1_000  # the grid pays off only for the full protocol

    def score(representation, seed, codes=None, encode_grid=True):
        out = kd.metrics.beta_vae_score(representation, ds, seed=seed, codes=codes,
                                        encode_grid=encode_grid, verbose=verbose, **protocol)
        per_factor.append([np.nan if a is None else 100.0 * a
                           for a in out["eval_accuracy_per_factor"]])
        return 100.0 * out["eval_accuracy"]

    per_factor = []  # filled by score(): one list per seed

    scores, note = [], ""
    if key == "ground_truth":
        gt = baselines.ground_truth(ds)
        codes = gt.grid_codes()
        scores = [score(gt, seed, codes=codes) for seed in range(seeds)]
        note = "factor indices; exact grid look-up"
    elif key == "raw_pixels":
        pixels = baselines.raw_pixels()
        scores = [score(pixels, seed, encode_grid=False) for seed in range(seeds)]
        note = f"{int(np.prod(ds.observation_shape))} pixels; encoded on the fly"
    elif key in ("pca", "ica"):
        fit = baselines.pca if key == "pca" else baselines.ica
        for seed in range(seeds):
            scores.append(score(fit(ds, num_components=10, num_images=s["pca_images"],
                                    seed=seed), seed))
        what = "PCA" if key == "pca" else "FastICA on PCA-whitened data"
        note = f"{what}, 10 components, fitted on {s['pca_images']} images, refit per seed"
    elif key == "vae_untrained":
        for seed in range(seeds):
            scores.append(score(baselines.untrained_vae(ds, seed=seed, architecture=network),
                                seed))
        note = f"{network} VAE (10 latents), random weights per seed"
    else:
        # The zoo presets are conv networks: not used when the row's network differs.
        zoo_ok = use_zoo and not (network != "conv" and key in NETWORK_ROWS)
        model, note = zoo_model(kd, key) if zoo_ok else (None, None)
        if model is not None:
            codes = kd.metrics.encode_grid(model, ds, verbose=verbose, log_vars=False) \
                if full_grid else None
            scores = [score(model, seed, codes=codes, encode_grid=codes is None)
                      for seed in range(seeds)]
        else:
            for seed in range(seeds):
                log(f"[higgins_table] training {key}, seed {seed}, {s['train_steps']} steps")
                model, note = train(kd, key, ds, seed, s["train_steps"], s["batch_size"],
                                    learning_rate, verbose=verbose, network=network)
                scores.append(score(model, seed))
    return scores, note, per_factor


def run(quick=False, rows=None, seeds=None, train_steps=None, use_zoo=True, learning_rate=5e-4,
        verbose=0, log=print, protocol="dlib", network="conv"):
    """Computes the table; returns `(results, info)`."""
    kd = _setup()
    s = settings(quick, seeds, train_steps, protocol=protocol, network=network)
    ds = kd.data.load("dsprites")
    results = []
    for key in rows or list(ROWS):
        log(f"[higgins_table] {ROWS[key][0]} ...")
        start = time.perf_counter()
        scores, note, per_factor = score_row(kd, key, ds, s, s["seeds"], use_zoo,
                                             learning_rate, log, verbose=verbose)
        seconds = time.perf_counter() - start
        results.append({"key": key, "label": ROWS[key][0], "scores": scores,
                        "date": time.strftime("%Y-%m-%d %H:%M"),
                        "mean": float(np.mean(scores)), "std": float(np.std(scores)),
                        "per_factor": np.nanmean(per_factor, axis=0).tolist(),
                        "published": ROWS[key][1:], "note": note, "seconds": seconds})
        log(f"[higgins_table] {ROWS[key][0]}: {np.mean(scores):.2f} ± {np.std(scores):.2f} "
            f"({seconds:.0f} s)")

    import keras
    import tensorflow as tf

    info = {"quick": quick, "settings": s, "date": time.strftime("%Y-%m-%d %H:%M"),
            "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "cpus": os.cpu_count(), "use_zoo": use_zoo,
            "learning_rate": learning_rate, "factor_names": list(ds.factor_names)}
    return results, info


def _published(mean, std):
    return f"{mean:g}" + ("" if std is None else f" ± {std:g}")


def _dates(results, info):
    dates = sorted({r.get("date", info["date"])[:10] for r in results} | {info["date"][:10]})
    if len(dates) == 1:
        return info["date"]
    return f"{info['date']} (rows computed on {', '.join(dates)})"


def check_compatible(previous, planned):
    """Raises ValueError unless `planned` settings equal those of `previous` (`--update`)."""
    old = previous["info"]
    for key, value in planned.items():
        if old.get(key) != value:
            raise ValueError(f"--update: the existing table has {key}={old.get(key)!r}, "
                             f"this run {value!r}; rerun every row instead.")


def merge(previous, results):
    """Rows of `previous` (`{"results", "info"}` of an earlier run) replaced by those of
    `results` with the same key, in the paper's row order."""
    by_key = {r["key"]: r for r in previous["results"]}
    by_key.update({r["key"]: r for r in results})
    return [by_key[key] for key in ROWS if key in by_key]


def to_markdown(results, info):
    s = info["settings"]
    p = s["protocol"]
    protocol, network = protocol_of(s), network_of(s)
    sizes = {k: p[k] for k in ("num_train", "num_eval", "batch_size")}
    call = ", ".join(f"{k}={v}" for k, v in sizes.items())
    if protocol != "dlib":
        call = f'protocol="{protocol}", {call}'
    lines = [
        "# BetaVAE (Higgins) metric on dSprites: kerasdis and the β-VAE paper",
        "",
        "Generated by `benchmarks/higgins_table.py`"
        + (" --quick: tiny protocol and training, **not comparable** with the paper."
           if info["quick"] else "."),
        "",
        f"- date: {_dates(results, info)}; python {info['python']}, tensorflow {info['tensorflow']}, "
        f"keras {info['keras']}; {info['cpus']} CPUs",
        f"- protocol: `beta_vae_score({call})`, seeds 0..{s['seeds'] - 1}",
        f"- models without a zoo preset: trained for {s['train_steps']} steps "
        f"(batch {s['batch_size']}) per seed" + ("" if info["use_zoo"] else "; zoo not used")
        + ("" if network == "conv" else
           f"; VAE rows: `architecture=\"{network}\"` networks, Adagrad "
           f"{HIGGINS_LEARNING_RATE:g}, zoo presets not used for them"),
        "",
        "| representation | kerasdis (%) | seeds | published (%) | recall per fixed factor (%) "
        "| notes |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        recall = " · ".join(f"{name} {value:.0f}" for name, value in
                            zip(info["factor_names"], r["per_factor"]))
        lines.append(f"| {r['label']} | {r['mean']:.2f} ± {r['std']:.2f} | {len(r['scores'])} | "
                     f"{_published(*r['published'])} | {recall} | {r['note']} |")
    done = {r["key"] for r in results}
    for key, (label, mean, std) in ROWS.items():  # rows left out with --rows stay visible
        if key not in done:
            lines.append(f"| {label} | not run | 0 | {_published(mean, std)} | | "
                         "not in `--rows` of this run |")
    if protocol == "dlib":
        classifier_difference = (", but the paper trains a linear softmax classifier by "
                                 "gradient descent (Adagrad)\ninstead of a logistic "
                                 "regression fitted by L-BFGS")
    else:
        classifier_difference = (" and the same classifier (the choices the paper leaves "
                                 "open are listed in\n`kerasdis.metrics.beta_vae_score`)")
    if network == "conv":
        network_difference = (", here they are the Locatello et al. conv\nnetworks with "
                              "the budgets in the notes")
    else:
        network_difference = (", here the same fully connected networks\n"
                              "(`architecture=\"higgins2017\"`, Adagrad 1e-2) with the "
                              "budgets in the notes")
    text = PROTOCOL_TEXT.format(
        pca_images=s["pca_images"], protocol=protocol,
        classifier_text=CLASSIFIER_TEXT[protocol].format(**p) + (
            " (features standardised with the training points' mean and std)"
            if p.get("standardize") else ""),
        classifier_difference=classifier_difference, network_difference=network_difference,
        **sizes)
    lines += ["", text]
    return "\n".join(lines)


def write_atomic(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".higgins_table.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny protocol, 1 seed, 2 training steps (for tests)")
    parser.add_argument("--output", default=None,
                        help="markdown file to write (default: benchmarks/results/"
                             "higgins_table.md, or higgins_table_<protocol>.md)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="dlib",
                        help="classifier of beta_vae_score: disentanglement_lib's logistic "
                             "regression (dlib, default) or the paper's Adagrad-trained "
                             "softmax layer (higgins2017)")
    parser.add_argument("--network", choices=NETWORKS, default="conv",
                        help="networks of the VAE, β-VAE and untrained VAE rows: the conv "
                             "networks (default; zoo presets) or the paper's fully "
                             "connected ones trained with Adagrad 1e-2 (higgins2017)")
    parser.add_argument("--rows", default=None,
                        help=f"comma-separated subset of {','.join(ROWS)}")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3)")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="training steps of models without a zoo preset (default 2000)")
    parser.add_argument("--learning-rate", type=float, default=5e-4,
                        help="Adam learning rate of the VAE, β-VAE and DC-IGN trained here")
    parser.add_argument("--no-zoo", action="store_true", help="train every model here")
    parser.add_argument("--update", action="store_true",
                        help="recompute only --rows, keep the other rows of the existing "
                             "table (from its .json)")
    parser.add_argument("--verbose", type=int, default=0, help="progress bars (0 or 1)")
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = default_output(args.protocol)
    rows = None
    if args.rows:
        rows = [r.strip() for r in args.rows.split(",") if r.strip()]
        unknown = [r for r in rows if r not in ROWS]
        if unknown:
            parser.error(f"unknown rows {unknown}; choose from {list(ROWS)}")
    for name in ("seeds", "train_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    sidecar = os.path.splitext(args.output)[0] + ".json"
    previous = None
    if args.update:
        if not os.path.isfile(sidecar):
            parser.error(f"--update needs the rows of an earlier run in {sidecar}")
        with open(sidecar) as f:
            previous = json.load(f)
        planned = settings(args.quick, args.seeds, args.train_steps, protocol=args.protocol,
                           network=args.network)
        try:
            check_compatible(previous, {"quick": args.quick, "settings": planned,
                                        "use_zoo": not args.no_zoo,
                                        "learning_rate": args.learning_rate})
        except ValueError as error:
            parser.error(str(error))
    results, info = run(quick=args.quick, rows=rows, seeds=args.seeds,
                        train_steps=args.train_steps, use_zoo=not args.no_zoo,
                        learning_rate=args.learning_rate, verbose=args.verbose,
                        protocol=args.protocol, network=args.network)
    if previous is not None:
        results = merge(previous, results)
    text = to_markdown(results, info)
    write_atomic(sidecar, json.dumps({"results": results, "info": info}, indent=1) + "\n")
    write_atomic(args.output, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
