"""The β-VAE paper's table of disentanglement metric scores on dSprites, with kerasdis.

Higgins et al. 2017 ("β-VAE: Learning Basic Visual Concepts with a Constrained
Variational Framework", Fig. 8 / Table 1) score representations of the 2D shapes
(dSprites) data with their disentanglement metric. This script computes the same
rows with `kerasdis.metrics.beta_vae_score` under both of its protocols, next to the
published figures, as mean ± std over seeds:

- `"dlib"`: disentanglement_lib's variant (logistic regression by L-BFGS);
- `"higgins2017"`: the paper's classifier, a linear softmax layer trained by Adagrad
  (lr 1e-2) until convergence (`beta_vae_score(protocol="higgins2017")`).

Rows: ground truth (`kerasdis.baselines.ground_truth`, exact grid look-up) and, not
in the paper, the ground truth of fewer factors (`GROUND_TRUTH_FACTORS`: what the
metric gives a perfect code that leaves shape, or shape and orientation, out), raw
pixels, PCA and ICA (10 components), an untrained VAE, conv and the paper's fully
connected network (random weights per seed);
DC-IGN, InfoGAN and the conv VAE and β-VAE (β = 4): the zoo presets (`dcign_dsprites`,
..., the seeds then vary only the metric; without a preset, or with `--no-zoo`, a
model trained here for `--train-steps` steps per seed); and the paper's own models,
"VAE (MLP, paper network)" and "β-VAE (β = 4, MLP, paper network)" (and the same runs'
models at the best BetaVAE score of their learning curve, a row each): the fully
connected 2D-shapes networks (`architecture="higgins2017"`) with the paper's optimiser
(Adagrad, lr 1e-2, accumulators from 0 as Duchi et al. 2011 define it), trained by the
committed recipes `MLP_RECIPES` (one run per seed
in `benchmarks/results/higgins_runs/<row>/seed_<s>/`, until the BetaVAE score
stops improving over `MLP_PLATEAU_STEPS` steps, `kerasdis.zoo_runs`; checkpoints are
not committed, so each run's scores at its last step are kept in its `scores.json` and
the table regenerates without its weights). The paper trains "to convergence":
`--past-plateau` trains the runs on past that plateau towards the recipes' 300,000-step
cap, and the notes give each run's training loss over its last `MLP_PLATEAU_STEPS`
steps, so a score that stalled while the loss still fell is told from a converged one.

    python benchmarks/higgins_table.py                      # score every row: minutes
    python benchmarks/higgins_table.py --train              # also train the MLP rows: hours
    python benchmarks/higgins_table.py --train --past-plateau --rows beta_vae_mlp --seeds 1
    python benchmarks/higgins_table.py --quick              # tiny settings (tests)
    python benchmarks/higgins_table.py --rows pca,ica --seeds 5 --output /tmp/t.md
    python benchmarks/higgins_table.py --rows dcign,infogan --update   # recompute two rows

Without `--train` an MLP row scores the runs already there (finished or not; the
notes give their steps) and is "not trained yet" when there are none. The rows and
settings are also written as JSON next to the table (`higgins_table.json`), and a bar
chart of the three columns per row (`higgins_table.png`); `--update` recomputes only
`--rows` and keeps the other rows of that file, refusing when the settings differ.
Written to the default place, the table's short form also replaces the one in the
project README (between its `<!-- higgins-table:start -->` and `:end -->` markers).
"""

import argparse
import glob
import json
import os
import platform
import re
import sys
import tempfile
import time

import numpy as np

# as `import kerasdis` does (kerasdis/backend.py)
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks._output import readme_block, save_figure, write_atomic  # noqa: E402
DEFAULT_OUTPUT = os.path.join(ROOT, "benchmarks", "results", "higgins_table.md")
# The project README shows the table's three columns between these markers; a run that
# writes DEFAULT_OUTPUT rewrites them (`readme_table`).
README = os.path.join(ROOT, "README.md")
README_BLOCK = "higgins-table"

# key: (label, published mean %, published std %); published None: not a row of the paper
ROWS = {
    "ground_truth": ("Ground truth", 100.0, None),
    "ground_truth_without_shape": ("Ground truth without shape (not in the paper)", None, None),
    "ground_truth_position_scale": ("Ground truth of position and scale only (not in the paper)",
                                    None, None),
    "raw_pixels": ("Raw pixels", 45.75, 0.8),
    "pca": ("PCA", 84.9, 0.4),
    "ica": ("ICA", 42.03, 10.6),
    "dcign": ("DC-IGN", 99.3, 0.1),
    "infogan": ("InfoGAN", 73.5, 0.9),
    "vae_untrained": ("VAE untrained (conv)", 44.14, 2.5),
    "vae_untrained_mlp": ("VAE untrained (MLP, paper network)", 44.14, 2.5),
    "vae": ("VAE (conv)", 61.58, 0.5),
    "beta_vae": ("β-VAE (β = 4, conv)", 99.23, 0.1),
    "vae_mlp": ("VAE (MLP, paper network)", 61.58, 0.5),
    "beta_vae_mlp": ("β-VAE (β = 4, MLP, paper network)", 99.23, 0.1),
    "vae_mlp_best": ("VAE (MLP, paper network), best step of its curve", 61.58, 0.5),
    "beta_vae_mlp_best": ("β-VAE (β = 4, MLP, paper network), best step of its curve",
                          99.23, 0.1),
}
# The ground-truth rows: the factors each one's codes keep (None: all). Those that leave
# factors out are not in the paper: they show what the metric gives a perfect code of
# fewer factors. A fixed factor that no code follows is told apart only by elimination
# (every code dimension varies), so one missing factor costs nothing (Kim & Mnih 2018,
# Sec. 3) and two that are missing are confused with each other.
GROUND_TRUTH_FACTORS = {
    "ground_truth": None,
    "ground_truth_without_shape": ["scale", "orientation", "position_x", "position_y"],
    "ground_truth_position_scale": ["scale", "position_x", "position_y"],
}
ZOO_NAMES = {"dcign": "dcign_dsprites", "infogan": "infogan_dsprites", "vae": "vae_dsprites",
             "beta_vae": "beta_vae_dsprites"}
TRAINED = tuple(ZOO_NAMES)
PROTOCOLS = ("dlib", "higgins2017")
HIGGINS_LEARNING_RATE = 1e-2  # the paper's Adagrad learning rate (2D shapes networks)
# The paper's models: its fully connected networks and optimiser, trained "to
# convergence": to the plateau of the BetaVAE score (kerasdis.zoo_runs: best score up by
# < 0.01) over MLP_PLATEAU_STEPS steps, or 300,000 steps. The zoo's 10,000-step window
# is too short for this network's slow start under Adagrad, whose BetaVAE score can stay
# flat while the reconstruction still falls. Batch 64: the batch size used across
# kerasdis and disentanglement_lib (the paper's is not stated in what we could read).
# Adagrad as Duchi et al. (2011) define it, accumulators from 0 (`recipe_optimizer`
# "adagrad_zero_init"): the paper names no implementation, and Keras's, whose
# accumulators start at 0.1, gave a β-VAE that encodes position only (the runs kept
# in KERAS_ADAGRAD_DIR, described in the notes).
PAPER_RECIPE = {"dataset": "dsprites", "optimizer": "adagrad_zero_init",
                "learning_rate": HIGGINS_LEARNING_RATE, "batch_size": 64, "steps": 300_000,
                "checkpoint_every": 2_000}
MLP_RECIPES = {
    "vae_mlp": {**PAPER_RECIPE, "model": "vae",
                "model_args": {"latent_dim": 10, "architecture": "higgins2017"}},
    "beta_vae_mlp": {**PAPER_RECIPE, "model": "beta_vae",
                     "model_args": {"latent_dim": 10, "architecture": "higgins2017", "beta": 4.0}},
}
PLATEAU_METRIC = "beta_vae"
MLP_PLATEAU_STEPS = 50_000
RUNS_DIR = os.path.join(ROOT, "benchmarks", "results", "higgins_runs")
# The MLP rows' first runs, with Keras's Adagrad (accumulators from 0.1; otherwise the
# recipes above): `<dir>/<row>/seed_<s>/`, recipe, state and curve, no checkpoint.
KERAS_ADAGRAD_DIR = os.path.join(RUNS_DIR, "keras_adagrad")
TARGET_POINTS = 3.0  # under "higgins2017", every row within 3 points of the paper
TARGET_MLP_BETA_VAE = 95.0
# Rows whose representation is a Gaussian posterior: their notes give its KL to the prior
# (E_x KL(q(z|x) || p(z)) >= I(x; z): what the code can carry about the image at most).
KL_ROWS = ("dcign", "vae", "beta_vae", "vae_mlp", "beta_vae_mlp")
KL_IMAGES = 10_000
SCORES_FILE = "scores.json"  # an MLP run's scores at its last step (`mlp_run_scores`)
# The same runs' models at the best BetaVAE score of their curve (`zoo_runs.BEST_MODEL`,
# kept by `keep_best`): the paper network's score can peak early and fall back.
BEST_ROWS = {"vae_mlp_best": "vae_mlp", "beta_vae_mlp_best": "beta_vae_mlp"}
BEST_SCORES_FILE = "best_scores.json"

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

**kerasdis** (`kd.metrics.beta_vae_score`): each point picks a factor k uniformly, draws
{batch_size} pairs of factor vectors that share the value of factor k (all other factors
independent and uniform), encodes both images of every pair (posterior mean for a model)
and takes `mean_pairs |z1 − z2|` as the feature, with label k. The two kerasdis columns
differ only in the classifier: at each seed both classifiers are trained and evaluated
on the same points (`kd.metrics.beta_vae_scores`). `protocol="dlib"`: {dlib_text}.
`protocol="higgins2017"`: {higgins_text}. Each column reports the accuracy on {num_eval} new points
(`eval_accuracy`), mean ± std over the seeds (population std, `np.std`). The recall
column splits the higgins2017 accuracy by the factor held fixed: the share of
evaluation points with factor k fixed that the classifier assigns to k
(`eval_accuracy_per_factor`, mean over the seeds); it shows which factors a
representation fails to single out. For the models with a Gaussian posterior (the VAEs
and DC-IGN) the notes give the KL of q(z|x) to the prior, mean over {kl_images:,} images,
and how many latents carry more than 0.01 nats of it (active): since
E_x KL(q(z|x) ‖ p(z)) ≥ I(x; z) it bounds what the code can say about the image, and a
factor is singled out only by a latent given to it. They also say which factors the
active latents follow: per factor, the largest correlation ratio η² over the active
latents (the share of a latent's variance that its mean given the factor explains;
`kd.viz.latents_vs_factors` on {kl_images:,} images, mean over the seeds: near 0 for a
factor no latent follows), and the first seed's latents-against-factors plot is
written next to the table (`<table>_latents_<row>.png`). Data: kerasdis's procedural
dSprites (737,280 images, the published factor grid; pixels differ slightly from the
published files).

**Differences from the paper** (Higgins et al. 2017, Sec. 3 and Appendix): the same
feature (mean over L = 64 pairs of |z1 − z2|) and, in the higgins2017 column, the same
classifier (the choices the paper leaves open are listed in
`kerasdis.metrics.beta_vae_score`), on kerasdis's copy of the 2D shapes data; the paper
reports the top half of 30 scores per model (10 trained replicas x 3 classifier seeds),
here mean ± std over the seeds. Its VAE and β-VAE are fully connected (1200-1200)
networks trained with Adagrad 1e-2 to convergence: the "MLP, paper network" rows (batch
64, trained until the BetaVAE score gained less than 0.01 over {plateau_steps:,} steps, or
300,000 steps; budgets in the notes), with Adagrad's accumulators starting at 0 as in
Duchi et al. 2011, Torch7 and PyTorch (the paper names no implementation; Keras's start
at 0.1, and the notes give what the earlier runs with it reached);
the "conv" rows are the Locatello et al. conv networks of the zoo. Its DC-IGN and
InfoGAN are the authors' models, here the kerasdis ones (`kerasdis.models.dcign`,
`kerasdis.models.infogan`: InfoGAN's representation is Q's estimate of the 3
categorical + 5 continuous codes); PCA and ICA here use 10 components fitted on
{pca_images} images (ICA: FastICA on PCA-whitened data); the ground-truth codes are the
factor indices. Published figures are read from the paper's table (percent).
"""


def settings(quick, seeds=None, train_steps=None):
    """The protocols and budgets of a run; `seeds` / `train_steps` override the defaults.

    `settings["protocols"]` holds every parameter of both `beta_vae_score` protocols
    (those of `PROTOCOL_DEFAULTS`, with the point counts of the run).
    """
    from kerasdis.metrics.beta_vae import protocol_params

    s = _default_settings(quick)
    s.update({k: v for k, v in (("seeds", seeds), ("train_steps", train_steps)) if v is not None})
    sizes = s.pop("sizes")
    s["protocols"] = {p: {"protocol": p, **protocol_params(p, **sizes)} for p in PROTOCOLS}
    return s


def _default_settings(quick):
    if quick:
        return {"sizes": {"num_train": 60, "num_eval": 30, "batch_size": 8},
                "seeds": 1, "train_steps": 2, "batch_size": 16, "pca_images": 300}
    return {"sizes": {"num_train": 10_000, "num_eval": 5_000, "batch_size": 64},
            "seeds": 3, "train_steps": 2_000, "batch_size": 64, "pca_images": 10_000}


def _setup():
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    import kerasdis as kd

    return kd


# ----------------------------------------------------------------- training
def train(kd, key, ds, seed, steps, batch_size, learning_rate, verbose=0):
    """Trains the model of a conv row `key` (no zoo preset, or `--no-zoo`) for `steps`
    steps; returns `(model, note)`."""
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
            model = kd.models.VAE(latent_dim=10, input_shape=shape, seed=seed)
        else:
            model = kd.models.BetaVAE(latent_dim=10, beta=4.0, input_shape=shape, seed=seed)
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


def mlp_recipe(key, seed, quick=False):
    """The committed recipe of an MLP row for `seed` (tiny with `quick`)."""
    recipe = {**MLP_RECIPES[key], "seed": seed}
    if quick:
        recipe.update(steps=4, batch_size=8, checkpoint_every=2)
    return recipe


def describe_run(recipe, rows, step):
    """How an MLP run ended, how far its training loss still fell and where its BetaVAE
    score peaked: the loss over the last `MLP_PLATEAU_STEPS` steps of its curve tells a
    converged run from one whose score stalled while it was still learning, and the
    curve's best against its last score one that peaked early and fell back."""
    from kerasdis import zoo_runs

    plateau = zoo_runs.plateau(recipe, rows, PLATEAU_METRIC, MLP_PLATEAU_STEPS)
    if plateau is not None:
        ended = f"BetaVAE plateau at {plateau:,}"
        if step > plateau:
            ended += f", trained on to {step:,}"
    elif step >= recipe["steps"]:
        ended = f"{step:,} steps (the cap, no plateau)"
    else:
        ended = f"{step:,} steps, not finished"
    losses = [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None]
    if losses:
        last_step, last = losses[-1]
        earlier = [(s, v) for s, v in losses if s <= last_step - MLP_PLATEAU_STEPS]
        if earlier:
            first_step, first = earlier[-1]
            ended += (f" (loss {first:.1f} → {last:.1f} nats from step {first_step:,} "
                      f"to {last_step:,})")
    scored = _scored(rows)
    if len(scored) > 1:
        best_step, best = _curve_best(scored)
        if best - scored[-1][1] >= zoo_runs.PLATEAU_MIN_DELTA:  # fell back
            ended += (f"; curve BetaVAE best {100 * best:.1f}% at {best_step:,}, "
                      f"{100 * scored[-1][1]:.1f}% at {scored[-1][0]:,}")
    return ended


def _scored(rows):
    """`(step, BetaVAE score)` of the curve rows that have a score, in order."""
    return [(r["step"], r[f"val_{PLATEAU_METRIC}"]) for r in rows
            if r.get(f"val_{PLATEAU_METRIC}") is not None]


def _curve_best(scored):
    """`(step, score)` of the best of a curve's `_scored` points (the first of equal ones,
    as `LearningCurve(best_path=...)` keeps it), or `(None, None)` without scores."""
    if not scored:
        return None, None
    return max(scored, key=lambda point: point[1])


def mlp_runs(key, seeds, runs_dir, train_runs, quick, log, verbose=0, past_plateau=False):
    """`(runs, note)` of an MLP row: `runs` lists `(seed, run_dir)` of the runs in
    `runs_dir/key/seed_<s>` (trained to the plateau of the BetaVAE score first when
    `train_runs`; on past it, towards the recipe's step cap, with `past_plateau`)."""
    from kerasdis import training, zoo_runs

    runs, ended = [], []
    for seed in range(seeds):
        run = os.path.join(runs_dir, key, f"seed_{seed}")
        if train_runs:
            goal = "past its plateau" if past_plateau else "to the plateau"
            log(f"[higgins_table] training {key}, seed {seed}, {goal} (resumable) in {run}")
            if quick:  # a few steps, no learning curve
                training.train(mlp_recipe(key, seed, quick), run, resume=True, verbose=verbose,
                               tensorboard=False)
            else:
                zoo_runs.train_entry(mlp_recipe(key, seed), run, verbose=verbose,
                                     metric=PLATEAU_METRIC, min_steps=MLP_PLATEAU_STEPS,
                                     stop_at_plateau=not past_plateau, keep_best=True)
        if not os.path.isfile(os.path.join(run, training.STATE)):
            continue
        with open(os.path.join(run, training.STATE)) as f:
            state = json.load(f)
        runs.append((seed, run))
        cpu = state.get("cpu_seconds")
        ended.append(describe_run(mlp_recipe(key, seed, quick), zoo_runs.read_curve(run),
                                  state["step"])
                     + ("" if cpu is None else f"; {cpu / 3600:.1f} CPU h to its last step"))
    if not runs:
        return [], "not trained yet: `python benchmarks/higgins_table.py --train` (hours)"
    recipe = MLP_RECIPES[key]
    described = "; ".join(f"seed {s}: {e}" for (s, _), e in zip(runs, ended))
    note = (f"paper network, Adagrad {recipe['learning_rate']:g} (accumulators from 0), "
            f"batch {recipe['batch_size']}; {described}{keras_adagrad_note(key)}")
    return runs, note


def _seeds(seeds):
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def _scores_settings(s):
    """What a cached score depends on besides the weights: the protocols and images."""
    return {"protocols": s["protocols"], "fact_images": min(KL_IMAGES, s["pca_images"])}


def _best_step(run):
    """The step of the best BetaVAE score on a run's curve (`_curve_best`)."""
    from kerasdis import zoo_runs

    return _curve_best(_scored(zoo_runs.read_curve(run)))[0]


def mlp_run_scores(kd, ds, s, run, seed, score, verbose=0, latents_path=None, best_step=None):
    """`(outputs, facts, cached)` of the MLP run in `run` scored at metric seed `seed`:
    `outputs` as `kd.metrics.beta_vae_scores` returns them, `facts` as `model_facts`;
    with `best_step` (the run's `_best_step`), of its model at that best step of its curve
    (`zoo_runs.BEST_MODEL`).

    The weights of these runs are not committed (114 MB each, with the optimizer), so
    the scores of a run are kept next to its state in `SCORES_FILE` (`BEST_SCORES_FILE`),
    with their step and the settings: a run whose model is here is scored (and the file
    rewritten); one whose model is gone gives the file's scores if they are of its last
    (best) step and of these settings, else `(None, None, False)`."""
    from kerasdis import training, zoo_runs
    from kerasdis.workflows import load_any_model

    best = best_step is not None
    if best:
        step = best_step
    else:
        with open(os.path.join(run, training.STATE)) as f:
            step = json.load(f)["step"]
    cache = os.path.join(run, BEST_SCORES_FILE if best else SCORES_FILE)
    weights = (zoo_runs.BEST_MODEL,) if best else ("model.keras", training.CHECKPOINT)
    wanted = _scores_settings(s)
    if not any(os.path.isfile(os.path.join(run, f)) for f in weights):
        if os.path.isfile(cache):
            with open(cache) as f:
                kept = json.load(f)
            if kept["step"] == step and kept["seed"] == seed and kept["settings"] == wanted:
                return kept["outputs"], kept["facts"], True
        return None, None, False
    model = load_any_model(os.path.join(run, zoo_runs.BEST_MODEL) if best else run)
    full_grid = s["protocols"]["dlib"]["num_train"] >= 1_000
    codes = kd.metrics.encode_grid(model, ds, verbose=verbose, log_vars=False) \
        if full_grid else None
    outputs = score(model, seed, codes=codes, encode_grid=codes is None)
    facts = model_facts(kd, model, ds, wanted["fact_images"], path=latents_path)
    keep = ("eval_accuracy", "train_accuracy", "eval_accuracy_per_factor")
    outputs = {p: {k: out[k] for k in keep} for p, out in outputs.items()}
    write_atomic(cache, json.dumps({"step": step, "seed": seed, "settings": wanted,
                                    "outputs": outputs, "facts": facts}, indent=1) + "\n")
    return outputs, facts, False


def model_facts(kd, model, ds, num_images, path=None):
    """What a Gaussian-posterior model's code can carry: its KL to the prior (total and
    active latents) and, per factor, the largest η² over the active latents (one
    encoding, `kd.viz.latents_vs_factors`; its plot at `path`)."""
    out = kd.viz.latents_vs_factors(model, ds, num_samples=num_images, path=path)
    return {"kl": float(out["latent_kl"].sum()), "active": len(out["dims"]),
            "factor_explained": [float(v) for v in out["factor_explained"]]}


def code_facts(kd, representation, ds, num_images, seed=0):
    """Per factor, the largest η² over every code dimension of any representation
    (`kd.viz.correlation_ratio` on `num_images` images of uniform factors)."""
    factors = ds.sample_factors(num_images, seed=np.random.default_rng(seed))
    codes = kd.metrics.representation_function(representation)(ds.images(factors, seed=seed))
    eta = kd.viz.correlation_ratio(codes, factors, ds.factor_sizes)
    return {"factor_explained": [float(v) for v in eta.max(axis=0)]}


def facts_note(facts, ds):
    """The notes' words for the facts of a row's models or codes (means over them)."""
    parts = []
    if facts and "kl" in facts[0]:
        total = np.mean([f["kl"] for f in facts])
        active = np.mean([f["active"] for f in facts])
        parts.append(f"KL to the prior {total:.1f} nats in {active:g} active latents "
                     f"(the factor grid: ln {ds.num_grid_points:,} = "
                     f"{np.log(ds.num_grid_points):.1f} nats)")
    followed = " · ".join(f"{name} {v:.2f}" for name, v in zip(
        ds.factor_names, np.mean([f["factor_explained"] for f in facts], axis=0)))
    over = "" if facts and "kl" in facts[0] else " (largest over the code's dimensions)"
    parts.append(f"η² of the factors{over}: {followed}")
    return "; " + "; ".join(parts)


def keras_adagrad_note(key, runs_dir=KERAS_ADAGRAD_DIR):
    """What the row's earlier runs with Keras's Adagrad (accumulators from 0.1) reached,
    from their committed curves: the best curve-protocol BetaVAE score and the step."""
    from kerasdis import zoo_runs

    found = []
    for run in sorted(glob.glob(os.path.join(runs_dir, key, "seed_*"))):
        rows = [r for r in zoo_runs.read_curve(run) if r.get(f"val_{PLATEAU_METRIC}") is not None]
        if rows:
            best = max(r[f"val_{PLATEAU_METRIC}"] for r in rows)
            found.append(f"{os.path.basename(run).replace('_', ' ')}: best BetaVAE "
                         f"{100 * best:.1f}% (curve protocol) in {rows[-1]['step']:,} steps")
    if not found:
        return ""
    return ("; with Keras's Adagrad (accumulators from 0.1) instead, "
            f"`{os.path.relpath(runs_dir, ROOT)}/{key}/`: " + ", ".join(found))


# ------------------------------------------------------------------ scoring
def score_row(kd, key, ds, s, seeds, use_zoo, learning_rate, log, verbose=0, runs_dir=RUNS_DIR,
              train_runs=False, quick=False, past_plateau=False, figures=None):
    """Scores of row `key` under both protocols; returns `(by_protocol, note)` with
    `by_protocol[p] = {"scores": [% per seed], "train": [training accuracy % per seed],
    "per_factor": [[% per factor] per seed]}` (empty scores: the row could not be scored
    here)."""
    from kerasdis import baselines

    protocols = s["protocols"]
    full_grid = protocols["dlib"]["num_train"] >= 1_000  # the grid pays off only then
    fact_images = min(KL_IMAGES, s["pca_images"])
    by_protocol = {p: {"scores": [], "train": [], "per_factor": []} for p in protocols}

    # every protocol's parameters but the name (the point counts are shared)
    params = {k: v for p in protocols.values() for k, v in p.items() if k != "protocol"}

    def add(outputs):
        for name, out in outputs.items():
            by_protocol[name]["scores"].append(100.0 * out["eval_accuracy"])
            by_protocol[name]["train"].append(100.0 * out["train_accuracy"])
            by_protocol[name]["per_factor"].append(
                [np.nan if a is None else 100.0 * a for a in out["eval_accuracy_per_factor"]])

    def score(representation, seed, codes=None, encode_grid=True):
        # the same points under both classifiers: encoded once, a paired comparison
        outputs = kd.metrics.beta_vae_scores(representation, ds, protocols=tuple(protocols),
                                             seed=seed, codes=codes, encode_grid=encode_grid,
                                             verbose=verbose, **params)
        add(outputs)
        return outputs

    def latents_path(first):  # the first model's latents-against-factors plot
        return f"{figures}_latents_{key}.png" if figures and first else None

    note = ""
    if key in GROUND_TRUTH_FACTORS:
        factors = GROUND_TRUTH_FACTORS[key]
        gt = baselines.ground_truth(ds, factors=factors)
        codes = gt.grid_codes()
        for seed in range(seeds):
            score(gt, seed, codes=codes)
        note = "factor indices; exact grid look-up"
        if factors is not None:
            left_out = [n for n in ds.factor_names if n not in factors]
            note = (f"the indices of {', '.join(factors)} only ({' and '.join(left_out)} "
                    "left out: a perfect code of the others); exact grid look-up")
    elif key == "raw_pixels":
        pixels = baselines.raw_pixels()
        for seed in range(seeds):
            score(pixels, seed, encode_grid=False)
        note = f"{int(np.prod(ds.observation_shape))} pixels; encoded on the fly"
    elif key in ("pca", "ica"):
        fit = baselines.pca if key == "pca" else baselines.ica
        facts = []
        for seed in range(seeds):
            representation = fit(ds, num_components=10, num_images=s["pca_images"], seed=seed)
            score(representation, seed)
            facts.append(code_facts(kd, representation, ds, fact_images, seed=seed))
        what = "PCA" if key == "pca" else "FastICA on PCA-whitened data"
        note = (f"{what}, 10 components, fitted on {s['pca_images']} images, refit per seed"
                + facts_note(facts, ds))
    elif key in ("vae_untrained", "vae_untrained_mlp"):
        architecture = "conv" if key == "vae_untrained" else "higgins2017"
        facts = []
        for seed in range(seeds):
            model = baselines.untrained_vae(ds, seed=seed, architecture=architecture)
            score(model, seed)
            facts.append(code_facts(kd, model, ds, fact_images, seed=seed))
        network = "conv" if architecture == "conv" else "the paper's fully connected"
        note = f"{network} VAE (10 latents), random weights per seed" + facts_note(facts, ds)
    elif key in MLP_RECIPES or key in BEST_ROWS:
        best = key in BEST_ROWS  # the runs of the MLP row, trained there
        runs, note = mlp_runs(BEST_ROWS.get(key, key), seeds, runs_dir,
                              train_runs and not best, quick, log, verbose,
                              past_plateau=past_plateau)
        best_steps = {seed: _best_step(run) for seed, run in runs} if best else {}
        facts, cached, missing, plotted = [], [], [], False
        for seed, run in runs:
            if best and best_steps[seed] is None:  # no scored point on its curve
                missing.append(seed)
                continue
            outputs, seed_facts, from_file = mlp_run_scores(
                kd, ds, s, run, seed, score, verbose=verbose,
                latents_path=latents_path(not plotted), best_step=best_steps.get(seed))
            if outputs is None:
                missing.append(seed)
                continue
            plotted = plotted or not from_file  # the first model scored here is drawn
            if from_file:
                add(outputs)
                cached.append(seed)
            facts.append(seed_facts)
        kept = BEST_SCORES_FILE if best else SCORES_FILE
        if best and runs:
            note = ("the models of the row above at the best BetaVAE score of their curve "
                    "(curve protocol; a selection by the metric itself): "
                    + "; ".join(f"seed {seed}: " + ("no curve" if step is None
                                                     else f"step {step:,}")
                                for seed, step in best_steps.items()))
        if cached:
            note += f"; {_seeds(cached)} scored from `{kept}` (weights not committed)"
        if missing:
            note += (f"; {_seeds(missing)} not scored: no weights here and no "
                     f"`{kept}` of the {'best' if best else 'last'} step")
        if facts:
            note += facts_note(facts, ds)
    else:
        model, note = zoo_model(kd, key) if use_zoo else (None, None)
        if model is not None:
            codes = kd.metrics.encode_grid(model, ds, verbose=verbose, log_vars=False) \
                if full_grid else None
            for seed in range(seeds):
                score(model, seed, codes=codes, encode_grid=codes is None)
            if key in KL_ROWS:
                note += facts_note([model_facts(kd, model, ds, fact_images,
                                                path=latents_path(True))], ds)
            else:
                note += facts_note([code_facts(kd, model, ds, fact_images)], ds)
        else:
            for seed in range(seeds):
                log(f"[higgins_table] training {key}, seed {seed}, {s['train_steps']} steps")
                model, note = train(kd, key, ds, seed, s["train_steps"], s["batch_size"],
                                    learning_rate, verbose=verbose)
                score(model, seed)
    return by_protocol, note


def run(quick=False, rows=None, seeds=None, train_steps=None, use_zoo=True, learning_rate=5e-4,
        verbose=0, log=print, runs_dir=RUNS_DIR, train_runs=False, past_plateau=False,
        figures=None):
    """Computes the table; returns `(results, info)`. `figures`: path prefix of the
    latents-against-factors plots (`<figures>_latents_<row>.png`; None: none)."""
    kd = _setup()
    s = settings(quick, seeds, train_steps)
    ds = kd.data.load("dsprites")
    results = []
    for key in rows or list(ROWS):
        log(f"[higgins_table] {ROWS[key][0]} ...")
        start, start_cpu = time.perf_counter(), time.process_time()
        by_protocol, note = score_row(kd, key, ds, s, s["seeds"], use_zoo, learning_rate, log,
                                      verbose=verbose, runs_dir=runs_dir, train_runs=train_runs,
                                      quick=quick, past_plateau=past_plateau,
                                      figures=figures)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - start_cpu
        protocols = {}
        for name, scored in by_protocol.items():
            scores = scored["scores"]
            protocols[name] = {
                "scores": scores,
                "mean": float(np.mean(scores)) if scores else None,
                "std": float(np.std(scores)) if scores else None,
                "train_mean": float(np.mean(scored["train"])) if scores else None,
                "per_factor": (np.nanmean(scored["per_factor"], axis=0).tolist()
                               if scores else None)}
        results.append({"key": key, "label": ROWS[key][0], "protocols": protocols,
                        "date": time.strftime("%Y-%m-%d %H:%M"),
                        "published": ROWS[key][1:], "note": note, "seconds": seconds,
                        "cpu_seconds": cpu_seconds})
        log(f"[higgins_table] {ROWS[key][0]}: " + "; ".join(
            f"{name} {_cell(p)}" for name, p in protocols.items())
            + f" ({seconds:.0f} s, {cpu_seconds:.0f} CPU s)")

    import keras
    import tensorflow as tf

    info = {"quick": quick, "settings": s, "date": time.strftime("%Y-%m-%d %H:%M"),
            "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "cpus": os.cpu_count(), "use_zoo": use_zoo,
            "learning_rate": learning_rate, "factor_names": list(ds.factor_names)}
    return results, info


def _cell(protocol_result):
    if not protocol_result or protocol_result.get("mean") is None:
        return "not run"
    return f"{protocol_result['mean']:.2f} ± {protocol_result['std']:.2f}"


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


def _zoo_steps(note):
    """The training steps of a zoo row's preset, as `zoo_model` wrote them in its note."""
    match = re.match(r"zoo `\w+` \((\d+) steps\)", note)
    return int(match.group(1)) if match else None


def _readme_cell(protocol_result):
    scores = protocol_result["scores"]
    if not scores:
        return "not scored"
    return _cell(protocol_result) if len(scores) > 1 else f"{scores[0]:.2f}"


def readme_table(results):
    """The README's short form of the table: both kerasdis columns (mean ± std over the
    seeds), the number of seeds and the paper's figure, one line per row."""
    lines = ["| representation | kerasdis, dlib protocol (%) | kerasdis, higgins2017 "
             "protocol (%) | seeds | Higgins et al. 2017 (%) |",
             "|---|---:|---:|---:|---:|"]
    for r in results:
        steps = _zoo_steps(r["note"])
        label = r["label"] + ("" if steps is None else f", zoo preset at {steps:,} steps")
        cells = [_readme_cell(r["protocols"][p]) for p in PROTOCOLS]
        lines.append(f"| {label} | {' | '.join(cells)} | "
                     f"{len(r['protocols']['higgins2017']['scores'])} | "
                     f"{_published(*r['published'])} |")
    return "\n".join(lines)


def _published(mean, std):
    if mean is None:
        return "—"
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


def targets(results):
    """Lines on the targets: every row within `TARGET_POINTS` of the paper under
    "higgins2017"; the MLP β-VAE at least `TARGET_MLP_BETA_VAE` and above the MLP VAE."""
    by_key = {r["key"]: r for r in results}
    lines, far = [], []
    for r in results:
        mean = (r["protocols"].get("higgins2017") or {}).get("mean")
        if r["published"][0] is None:  # not a row of the paper
            continue
        if mean is not None and abs(mean - r["published"][0]) > TARGET_POINTS:
            far.append(f"{r['label']} ({mean - r['published'][0]:+.1f})")
    lines.append(f"- every row within {TARGET_POINTS:g} points of the paper under higgins2017: "
                 + ("met by every scored row" if not far else "not met by " + ", ".join(far)))
    beta, vae = by_key.get("beta_vae_mlp"), by_key.get("vae_mlp")
    for protocol in PROTOCOLS:
        b = beta and beta["protocols"][protocol]["mean"]
        v = vae and vae["protocols"][protocol]["mean"]
        if b is None or v is None:
            lines.append(f"- MLP β-VAE ≥ {TARGET_MLP_BETA_VAE:g} and above the MLP VAE "
                         f"({protocol}): not measured yet")
            continue
        met = b >= TARGET_MLP_BETA_VAE and b > v
        lines.append(f"- MLP β-VAE ≥ {TARGET_MLP_BETA_VAE:g} and above the MLP VAE "
                     f"({protocol}): {'met' if met else 'not met'} ({b:.2f} vs {v:.2f})")
    return lines


DIAGNOSIS_TEXT = """\
How to read them: both classifiers are linear, trained on the same {num_train:,} points
and evaluated on {num_eval:,} others. A training accuracy well above the evaluation
accuracy means the classifier fits what is particular to its training points (more
features than those points pin down); both accuracies low means the features do not
separate the fixed factors linearly. The dlib classifier is L2-regularised (C = 1) on
the raw features, the higgins2017 one unregularised on standardised features, so a row
much lower under dlib with its training accuracy as low as its evaluation accuracy is
held back by that penalty on small features, not by its code. The recall says which
fixed factors are missed, and the η² in the notes whether any code dimension follows
them: a factor that no dimension follows (η² near 0) cannot be singled out by any
classifier (recall near chance, 20%), so the score is set by the representation, not
by the protocol."""


def diagnoses(results, factor_names):
    """Item by item, what was measured for the rows more than `TARGET_POINTS` from the
    paper under higgins2017: each classifier's training and evaluation accuracy and the
    fixed factors singled out least (the notes add the KL and η² of the code)."""
    lines = []
    for r in results:
        higgins = r["protocols"]["higgins2017"]
        published = r["published"][0]
        if (published is None or higgins.get("mean") is None
                or abs(higgins["mean"] - published) <= TARGET_POINTS):
            continue
        accuracies = "; ".join(
            f"{p} {r['protocols'][p]['train_mean']:.1f} / {r['protocols'][p]['mean']:.1f}"
            for p in PROTOCOLS if r["protocols"][p].get("train_mean") is not None)
        least = sorted(zip(higgins["per_factor"], factor_names))[:2]
        missed = " and ".join(f"{name} ({value:.0f}%)" for value, name in least)
        lines.append(f"- **{r['label']}** ({higgins['mean'] - published:+.1f} points): "
                     + (f"training / evaluation accuracy {accuracies}; " if accuracies else "")
                     + f"fixed factors singled out least: {missed}")
    return lines


def fewer_factors_lines(results):
    """Lines on the ground-truth rows of fewer factors (`GROUND_TRUTH_FACTORS`): the
    score of a perfect code that leaves factors out, the ceiling of a model that does."""
    lines = []
    for r in results:
        factors = GROUND_TRUTH_FACTORS.get(r["key"])
        mean = r["protocols"]["higgins2017"].get("mean")
        if factors is None or mean is None:
            continue
        lines.append(f"- a perfect code of {', '.join(factors)} only: {mean:.1f} under "
                     "higgins2017")
    if not lines:
        return []
    return ["", "What a perfect code of fewer factors scores (the ground-truth rows not in "
            "the paper): a fixed factor that no dimension follows is singled out by "
            "elimination (every dimension varies), so one factor left out costs nothing "
            "and two are confused with each other:", "", *lines]


def _time_line(results):
    """The wall and CPU time of the rows as last computed (their training too, with
    `--train`)."""
    wall = sum(r.get("seconds", 0.0) for r in results) / 60
    timed = [r["cpu_seconds"] for r in results if r.get("cpu_seconds") is not None]
    cpu = f", {sum(timed) / 60:.0f} CPU-min" if timed else ""
    untimed = len(results) - len(timed)
    rest = f" (CPU time not recorded for {untimed} rows)" if untimed and timed else ""
    return (f"- time to compute these rows: {wall:.0f} min wall{cpu}{rest} "
            "(sum over the rows; trained MLP runs are scored from their run directories)")


def to_markdown(results, info):
    s = info["settings"]
    sizes = {k: s["protocols"]["dlib"][k] for k in ("num_train", "num_eval", "batch_size")}
    call = ", ".join(f"{k}={v}" for k, v in sizes.items())
    lines = [
        "# BetaVAE (Higgins) metric on dSprites: kerasdis and the β-VAE paper",
        "",
        "Generated by `benchmarks/higgins_table.py`"
        + (" --quick: tiny protocol and training, **not comparable** with the paper."
           if info["quick"] else "."),
        "",
        f"- date: {_dates(results, info)}; python {info['python']}, "
        f"tensorflow {info['tensorflow']}, "
        f"keras {info['keras']}; {info['cpus']} CPUs",
        f"- protocols: `beta_vae_score(protocol=..., {call})`, seeds 0..{s['seeds'] - 1}",
        f"- conv models without a zoo preset: trained for {s['train_steps']} steps "
        f"(batch {s['batch_size']}) per seed" + ("" if info["use_zoo"] else "; zoo not used"),
        _time_line(results),
        "- bar chart of the three columns: `higgins_table.png`",
        "",
        "| representation | kerasdis, dlib protocol (%) | kerasdis, higgins2017 protocol (%) "
        "| seeds | published (%) | recall per fixed factor, higgins2017 (%) | notes |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        higgins = r["protocols"]["higgins2017"]
        recall = "" if not higgins["per_factor"] else " · ".join(
            f"{name} {value:.0f}" for name, value in
            zip(info["factor_names"], higgins["per_factor"]))
        lines.append(f"| {r['label']} | {_cell(r['protocols']['dlib'])} | {_cell(higgins)} | "
                     f"{len(higgins['scores'])} | {_published(*r['published'])} | {recall} | "
                     f"{r['note']} |")
    done = {r["key"] for r in results}
    for key, (label, mean, std) in ROWS.items():  # rows left out with --rows stay visible
        if key not in done:
            lines.append(f"| {label} | not run | not run | 0 | {_published(mean, std)} | | "
                         "not in `--rows` of this run |")
    lines += ["", "Targets (issue: the β-VAE paper's table under its own protocol):", "",
              *targets(results)]
    far = diagnoses(results, info["factor_names"])
    if far:
        lines += ["", f"## Rows more than {TARGET_POINTS:g} points from the paper", "",
                  "Measured for each (training / evaluation accuracy in %, mean over the "
                  "seeds):", "", *far, "",
                  DIAGNOSIS_TEXT.format(num_train=sizes["num_train"],
                                        num_eval=sizes["num_eval"])]
    lines += fewer_factors_lines(results)
    higgins = s["protocols"]["higgins2017"]
    text = PROTOCOL_TEXT.format(
        pca_images=s["pca_images"], num_eval=sizes["num_eval"], batch_size=sizes["batch_size"],
        plateau_steps=MLP_PLATEAU_STEPS, kl_images=min(KL_IMAGES, s["pca_images"]),
        dlib_text=("a scikit-learn `LogisticRegression(max_iter=1000)` trained on "
                   f"{sizes['num_train']} points"),
        higgins_text=("as in the paper, a linear layer with a softmax output trained on the "
                      f"negative log-likelihood by Adagrad (learning rate "
                      f"{higgins['learning_rate']:g}, minibatches of "
                      f"{higgins['classifier_batch_size']}, until the training loss improves "
                      f"by less than {higgins['tolerance']:g} (relative) for "
                      f"{higgins['patience']} epochs, at most {higgins['max_epochs']} epochs; "
                      "features standardised with the training points' mean and std) on "
                      f"{sizes['num_train']} points"))
    lines += ["", text]
    return "\n".join(lines)


def plot(results, path):
    """Bar chart: both kerasdis columns (mean ± std) and the published value per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["label"] for r in results]
    x = np.arange(len(results))
    width = 0.27
    fig, ax = plt.subplots(figsize=(max(7, 0.95 * len(results) + 2), 4.4))
    for i, protocol in enumerate(PROTOCOLS):
        means = [r["protocols"][protocol]["mean"] for r in results]
        stds = [r["protocols"][protocol]["std"] for r in results]
        ax.bar(x + (i - 1) * width, [m if m is not None else 0 for m in means], width,
               yerr=[s if s is not None else 0 for s in stds], capsize=2,
               label=f"kerasdis, {protocol} protocol")
    ax.bar(x + width, [np.nan if r["published"][0] is None else r["published"][0]
                       for r in results], width, color="gray",
           label="Higgins et al. 2017")
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("BetaVAE (Higgins) metric, %")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("The β-VAE paper's table on dSprites (missing bars: not measured)")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny protocol, 1 seed, 2 training steps (for tests)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help="markdown file to write (default: benchmarks/results/"
                             "higgins_table.md; the .json and .png go next to it)")
    parser.add_argument("--rows", default=None,
                        help=f"comma-separated subset of {','.join(ROWS)}")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3)")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="training steps of conv models without a zoo preset (default 2000)")
    parser.add_argument("--learning-rate", type=float, default=5e-4,
                        help="Adam learning rate of the conv VAE, β-VAE and DC-IGN trained here")
    parser.add_argument("--no-zoo", action="store_true", help="train every conv model here")
    parser.add_argument("--train", action="store_true",
                        help="train (or resume) the MLP rows' runs to their plateau: hours")
    parser.add_argument("--past-plateau", action="store_true",
                        help="with --train: train the MLP runs on past the BetaVAE plateau, "
                             "towards their 300,000-step cap (resumable)")
    parser.add_argument("--runs-dir", default=None,
                        help="where the MLP rows' runs are (default benchmarks/results/"
                             "higgins_runs; --quick: a temporary directory)")
    parser.add_argument("--update", action="store_true",
                        help="recompute only --rows, keep the other rows of the existing "
                             "table (from its .json)")
    parser.add_argument("--verbose", type=int, default=0, help="progress bars (0 or 1)")
    args = parser.parse_args(argv)
    rows = None
    if args.rows:
        rows = [r.strip() for r in args.rows.split(",") if r.strip()]
        unknown = [r for r in rows if r not in ROWS]
        if unknown:
            parser.error(f"unknown rows {unknown}; choose from {list(ROWS)}")
    if args.past_plateau and not args.train:
        parser.error("--past-plateau trains the MLP runs on: it needs --train")
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
        planned = settings(args.quick, args.seeds, args.train_steps)
        try:
            check_compatible(previous, {"quick": args.quick, "settings": planned,
                                        "use_zoo": not args.no_zoo,
                                        "learning_rate": args.learning_rate})
        except ValueError as error:
            parser.error(str(error))
    with tempfile.TemporaryDirectory(prefix="higgins-runs-") as scratch:
        runs_dir = args.runs_dir or (scratch if args.quick else RUNS_DIR)
        # --quick trains its tiny MLP runs every time; a full run trains only with --train
        results, info = run(quick=args.quick, rows=rows, seeds=args.seeds,
                            train_steps=args.train_steps, use_zoo=not args.no_zoo,
                            learning_rate=args.learning_rate, verbose=args.verbose,
                            runs_dir=runs_dir, train_runs=args.train or args.quick,
                            past_plateau=args.past_plateau,
                            figures=os.path.splitext(args.output)[0])
    if previous is not None:
        results = merge(previous, results)
    text = to_markdown(results, info)
    write_atomic(sidecar, json.dumps({"results": results, "info": info}, indent=1) + "\n")
    plot(results, os.path.splitext(args.output)[0] + ".png")
    write_atomic(args.output, text)
    if os.path.abspath(args.output) == DEFAULT_OUTPUT and not args.quick:
        readme_block(README, README_BLOCK, readme_table(results))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
