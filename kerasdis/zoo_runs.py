"""Training a zoo entry: to the plateau of its target metric, with a learning curve.

A zoo run is a `kerasdis.training.train` run of the entry's recipe (any seed) that
also evaluates the entry's target metric (`target_metric`: the BetaVAE score for
β-VAE, the FactorVAE score for FactorVAE, MIG for the others) and discrete MIG
every `CURVE_IMAGES` training images on the cheap protocols `CURVE_OPTIONS`, writes
them with the training terms to `curve.csv` in the run directory
(`kd.callbacks.LearningCurve`), and stops at the plateau of the target metric:

    the best score improved by less than `PLATEAU_MIN_DELTA` (0.01) over the last
    `PLATEAU_MIN_STEPS` (10,000) optimizer steps, rounded up to whole evaluations
    (at batch 64: between two evaluations, 640,000 images),

or at the recipe's `steps` (the zoo's recipes say 300,000), whichever comes first.
A run that has reached its plateau is finished: training it again does nothing.

```python
summary = kd.zoo_runs.train_entry(recipe, "zoo/ada_gvae_dsprites/seed_1")
summary["plateau"]     # {"step": 60000, "metric": "mig", ...} or None
```
"""

import inspect
import json
import os

from kerasdis.recipe import complete_recipe

CURVE_FILE = "curve.csv"
# The entry's target metric, by model name; every other model: MIG.
TARGET_METRICS = {"beta_vae": "beta_vae", "factor_vae": "factor_vae"}
DEFAULT_TARGET_METRIC = "mig"
# Cheap protocols of the curve's evaluations (the published scores use the defaults).
CURVE_OPTIONS = {
    "beta_vae": {"num_train": 1_000, "num_eval": 500},
    "factor_vae": {"num_train": 1_000, "num_eval": 500, "num_variance_estimate": 5_000},
    "mig": {"subsample": 20_000},
    "discrete_mig": {"num_train": 10_000},
}
CURVE_IMAGES = 640_000  # training images between two evaluations
PLATEAU_MIN_DELTA = 0.01
BEST_MODEL = "best.keras"  # the model at the curve's best score (`keep_best`)
# The plateau window in optimizer steps, at least: at batch 2,048 one evaluation
# interval (640,000 images) is 312 updates, too few to tell a plateau from a slow start.
PLATEAU_MIN_STEPS = 10_000
CURVE_SEED = 0  # seed of the curve's metric protocols
# A run's published scores and what they were measured on (`publish_entry`).
SCORES_FILE = "scores.json"


def target_metric(recipe):
    """The metric whose plateau ends a zoo run of `recipe`."""
    return TARGET_METRICS.get(recipe["model"], DEFAULT_TARGET_METRIC)


def evaluation_epochs(recipe):
    """Checkpoint epochs between two evaluations, and the steps they span."""
    from kerasdis.training import epoch_steps

    epoch = epoch_steps(recipe)
    epochs = max(1, round(CURVE_IMAGES / (recipe["batch_size"] * epoch)))
    return epochs, epochs * epoch


def schedule_steps(recipe):
    """The step at which the schedule of `recipe`'s loss ends: its β warm-up
    (`beta_annealing_steps`) or an AnnealedVAE's capacity schedule (`capacity_steps`,
    Burgess et al. 2018, Eq. 8); 0 without one."""
    from kerasdis import models

    steps = [recipe.get("beta_annealing_steps") or 0]
    capacity = inspect.signature(models.get(recipe["model"])).parameters.get("capacity_steps")
    if capacity is not None:  # None in the model arguments: no built-in schedule
        steps.append(recipe.get("model_args", {}).get("capacity_steps", capacity.default) or 0)
    return max(steps)


def plateau_rule(recipe, metric=None, min_steps=None):
    """The plateau rule of `recipe`'s runs as a dict (recorded in the metadata);
    `metric` overrides the entry's target metric. The window is the smallest whole
    number of evaluation intervals that spans `min_steps` steps (default
    `PLATEAU_MIN_STEPS`). A recipe whose loss follows a schedule reaches no plateau
    before the schedule ends (`start_step`): its run completes the schedule."""
    _, every = evaluation_epochs(recipe)
    window = every * -(-(min_steps or PLATEAU_MIN_STEPS) // every)
    metric = metric or target_metric(recipe)
    rule = {"metric": metric, "window_steps": window, "min_delta": PLATEAU_MIN_DELTA,
            "protocol": CURVE_OPTIONS.get(metric, {}),
            "rule": f"best {metric} (curve protocol) improved by less than "
                    f"{PLATEAU_MIN_DELTA:g} over {window:,} steps"}
    start = schedule_steps(recipe)
    if start:
        rule["start_step"] = start
        rule["rule"] += f", from step {start:,} (the end of the recipe's schedule)"
    return rule


def read_curve(out_dir):
    """The rows of `out_dir/curve.csv` (dicts of floats); [] if there is none."""
    from kerasdis.callbacks import LearningCurve

    return LearningCurve.read(os.path.join(out_dir, CURVE_FILE))


def plateau(recipe, rows, metric=None, min_steps=None):
    """The plateau step of a curve under `recipe`'s rule, or None."""
    from kerasdis.callbacks import plateau_step

    rule = plateau_rule(recipe, metric, min_steps)
    column = f"val_{rule['metric']}"
    return plateau_step([r["step"] for r in rows], [r.get(column) for r in rows],
                        rule["window_steps"], rule["min_delta"], rule.get("start_step", 0))


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def _state(out_dir):
    from kerasdis.training import STATE

    path = os.path.join(out_dir, STATE)
    return _read_json(path) if os.path.exists(path) else {}


def train_entry(recipe, out_dir, resume=True, overwrite=False, verbose=1,
                stop_at_plateau=True, data_dir=None, data_options=None, metric=None,
                min_steps=None, keep_best=False):
    """Trains (or resumes) a zoo run of `recipe` in `out_dir` until its plateau.

    Args:
        recipe: a training recipe (see `kerasdis.training`); its `steps` is the cap.
        out_dir: str. The run directory; `curve.csv` is written there too.
        resume: bool. Continue the run in `out_dir` (default). A run whose curve
            already shows the plateau is not trained further.
        overwrite: bool. Start over in a non-empty `out_dir`.
        verbose: Keras fit verbosity.
        stop_at_plateau: bool. False trains to `steps`, recording the plateau only.
        data_dir, data_options: where the dataset is, see `kd.training.train`.
        metric: str or None. The metric whose plateau ends the run (None: the
            entry's target metric, `target_metric(recipe)`).
        min_steps: int or None. The plateau window spans at least this many steps
            (None: `PLATEAU_MIN_STEPS`), for recipes that learn slowly.
        keep_best: bool. Also keep the model of the curve's best score so far in
            `out_dir/BEST_MODEL` (`LearningCurve(best_path=...)`).

    Returns:
        dict: `steps`, `wall_time_seconds`, `cpu_seconds`, `plateau` (the rule and
        its step, or None), `curve` (the rows) and `trained` (False when the run
        had already finished).
    """
    from kerasdis import data as kd_data
    from kerasdis import training
    from kerasdis.callbacks import DisentanglementMetrics, LearningCurve

    recipe = complete_recipe(recipe)
    rule = plateau_rule(recipe, metric, min_steps)
    resume = resume and not overwrite
    state = _state(out_dir) if resume else {}
    if state:  # the checks `training.train` makes, also for a run that is already over
        saved_path = os.path.join(out_dir, "recipe.json")
        saved = complete_recipe(_read_json(saved_path)) if os.path.isfile(saved_path) else None
        if saved != recipe:
            raise ValueError(
                f"`recipe` differs from the one the run in {out_dir!r} was started with; "
                f"saved {saved}, given {recipe}. Start a new run or pass the same settings.")
    done = state.get("step", 0)
    rows = [r for r in read_curve(out_dir) if r["step"] <= done] if state else []
    finished = ((plateau(recipe, rows, metric, min_steps) is not None and stop_at_plateau)
                or done >= recipe["steps"])
    trained = not finished
    if trained and state and not os.path.isfile(os.path.join(out_dir, training.CHECKPOINT)):
        raise ValueError(
            f"the run in {out_dir!r} is at step {done:,} but has no {training.CHECKPOINT} to "
            "resume from (finished runs are kept without it); train it again in another "
            "directory, or pass overwrite=True (--overwrite) to start over.")
    if trained:
        epochs, _ = evaluation_epochs(recipe)
        metrics = tuple(dict.fromkeys((rule["metric"], "discrete_mig")))
        dataset = kd_data.load(recipe["dataset"], **training.check_data_options(
            data_dir, data_options))
        callbacks = [
            DisentanglementMetrics(dataset, metrics=metrics, every_n_epochs=epochs,
                                   seed=CURVE_SEED, options=CURVE_OPTIONS),
            LearningCurve(os.path.join(out_dir, CURVE_FILE), monitor=f"val_{rule['metric']}",
                          window=rule["window_steps"], min_delta=rule["min_delta"],
                          start=rule.get("start_step", 0), stop_at_plateau=stop_at_plateau,
                          initial_seconds=state.get("wall_time_seconds", 0.0),
                          initial_cpu_seconds=state.get("cpu_seconds") if state else 0.0,
                          best_path=os.path.join(out_dir, BEST_MODEL) if keep_best else None),
        ]
        training.train(recipe, out_dir, resume=resume, overwrite=overwrite, verbose=verbose,
                       callbacks=callbacks, data_dir=data_dir, data_options=data_options)
        state = _state(out_dir)
        rows = read_curve(out_dir)
    step = plateau(recipe, rows, metric, min_steps)
    return {"steps": state.get("step"), "wall_time_seconds": state.get("wall_time_seconds"),
            "cpu_seconds": state.get("cpu_seconds"),
            "plateau": None if step is None else {**rule, "step": step},
            "curve": rows, "trained": trained}


SELECTIONS = ("target", "udr")
UDR_MIN_RUNS = 3  # UDR (Spearman) ranks runs from three on: two runs share one pair score


def _run_recipe(out_dir):
    path = os.path.join(out_dir, "recipe.json")
    if not os.path.isfile(path):
        raise ValueError(f"`run_dirs`: {out_dir!r} is not a training run (no recipe.json).")
    with open(path) as f:
        return complete_recipe(json.load(f))


def run_scores(out_dir, model, dataset, names, seed=0, options=None, verbose=1):
    """`kd.metrics.evaluate` of a run's model, measured once per checkpoint step and
    protocol: the scores are kept in the run's `SCORES_FILE` with what they were
    measured on (the step, dataset, metrics, seed and protocol options), so a
    `publish_entry` cut off mid-way (three seeds take most of an hour on a CPU)
    resumes from the runs it had scored, and a run trained further is scored again."""
    from kerasdis import metrics as kd_metrics
    from kerasdis.io import write_json

    measured_on = json.loads(json.dumps({
        "step": _state(out_dir).get("step"), "dataset": getattr(dataset, "name", None),
        "metrics": list(names), "seed": seed, "options": options or {}}))
    path = os.path.join(out_dir, SCORES_FILE)
    if os.path.isfile(path):
        stored = _read_json(path)
        if stored.get("measured_on") == measured_on:
            return stored["scores"]
    scores = kd_metrics.evaluate(model, dataset, metrics=names, seed=seed, verbose=verbose,
                                 options=options)
    write_json(path, {"measured_on": measured_on, "scores": scores})
    return scores


def publish_entry(name, run_dirs, select="target", metrics=None, zoo_dir=None, seed=0,
                  overwrite=True, verbose=1, options=None, data_options=None):
    """Evaluates every seed's run of an entry, publishes one, records all of them.

    Every run of `run_dirs` (the same recipe but for its seed) is scored with the
    default protocols of `metrics` (seed `seed`; kept in the run's `SCORES_FILE` by
    `run_scores`, so a second call scores only what changed); the published one is the
    best by the entry's target metric (`select="target"`) or, without looking at the labels,
    by UDR (Duan et al. 2020) among the runs (`select="udr"`, at least three runs: a
    model's UDR is the median of its pairwise scores with the others, which are
    symmetric with the Spearman correlation used here, so two runs always tie).
    The preset's metadata gets `seeds` (per run: seed, steps, wall and CPU time,
    plateau, primary scores and, with three runs or more, its UDR among the runs,
    whichever rule publishes), `selection` (the rule, the published seed, and the
    seeds the target metric and UDR would pick, so the label-free choice can be
    checked against the labels), the published run's `plateau` and its learning
    `curve`, the `hardware` it trained on (its `training.json`) and the
    `evaluation_hardware` that scored it. `options` overrides protocols as in
    `kd.metrics.evaluate` (the zoo publishes with the defaults); `data_options` are
    `kd.data.load` keywords saying where the dataset's files are (e.g. `data_dir`).

    Returns:
        `(preset path, metadata extras)`.
    """
    from kerasdis import data as kd_data
    from kerasdis import metrics as kd_metrics
    from kerasdis import zoo
    from kerasdis.callbacks import primary_scores
    from kerasdis.workflows import DEFAULT_EVAL_METRICS, load_any_model

    if select not in SELECTIONS:
        raise ValueError(f"`select` must be one of {SELECTIONS}, got {select!r}.")
    run_dirs = [os.fspath(d) for d in run_dirs]
    needed = UDR_MIN_RUNS if select == "udr" else 1
    if len(run_dirs) < needed:
        raise ValueError(f"`run_dirs` must name at least {needed} runs (select={select!r}"
                         f"{': two runs tie on UDR' if select == 'udr' else ''}), got "
                         f"{run_dirs!r}.")
    recipes = [_run_recipe(d) for d in run_dirs]
    first = {**recipes[0], "seed": None}
    for out_dir, recipe in zip(run_dirs, recipes):
        if {**recipe, "seed": None} != first:
            raise ValueError(f"`run_dirs`: {out_dir!r} has another recipe than "
                             f"{run_dirs[0]!r} (only the seed may differ).")
    seeds = [r["seed"] for r in recipes]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"`run_dirs` must have different seeds, got {seeds}.")
    metric = target_metric(recipes[0])
    names = tuple(metrics or DEFAULT_EVAL_METRICS)
    if metric not in names:
        raise ValueError(f"`metrics` must include the target metric {metric!r}, got {names}.")
    dataset = kd_data.load(recipes[0]["dataset"], **(data_options or {}))
    models, results, records = [], [], []
    for out_dir, recipe in zip(run_dirs, recipes):
        model = load_any_model(out_dir)
        scores = run_scores(out_dir, model, dataset, names, seed=seed, options=options,
                            verbose=verbose)
        state = _state(out_dir)
        rows = read_curve(out_dir)
        step = plateau(recipe, rows)
        models.append(model)
        results.append(scores)
        records.append({"seed": recipe["seed"], "run": out_dir, "steps": state.get("step"),
                        "wall_time_seconds": state.get("wall_time_seconds"),
                        "cpu_seconds": state.get("cpu_seconds"), "plateau_step": step,
                        "scores": primary_scores(scores)})
    by_target = max(range(len(records)), key=lambda i: records[i]["scores"][metric])
    by_udr = None
    if len(models) >= UDR_MIN_RUNS:  # the label-free ranking, whichever rule publishes
        ranking = kd_metrics.udr(models, dataset, seed=seed)
        for record, value in zip(records, ranking["scores"]):
            record["udr"] = value
        by_udr = max(range(len(records)), key=lambda i: records[i]["udr"])
    chosen = by_udr if select == "udr" else by_target
    recipe, out_dir = recipes[chosen], run_dirs[chosen]
    step = records[chosen]["plateau_step"]
    extra = {
        "seeds": records,
        "selection": {"by": "udr" if select == "udr" else metric, "seed": recipe["seed"],
                      "rule": ("highest UDR among the seeds (labels not used)" if select == "udr"
                               else f"highest {metric} (default protocol) among the seeds"),
                      "seed_by_target": recipes[by_target]["seed"],
                      "seed_by_udr": None if by_udr is None else recipes[by_udr]["seed"]},
        "plateau": {**plateau_rule(recipe), "step": step} if step is not None else None,
        "curve": read_curve(out_dir),
    }
    training = {"steps": records[chosen]["steps"],
                "wall_time_seconds": records[chosen]["wall_time_seconds"],
                "cpu_seconds": records[chosen]["cpu_seconds"]}
    from kerasdis.training import hardware

    # where the run trained (its last session's `training.json`), and where it was scored
    summary = os.path.join(out_dir, "training.json")
    trained_on = _read_json(summary).get("hardware") if os.path.isfile(summary) else None
    training["hardware"] = trained_on or hardware()
    extra["evaluation_hardware"] = hardware()
    path = zoo.publish(models[chosen], name, metrics=results[chosen], recipe=recipe,
                       training=training, zoo_dir=zoo_dir, overwrite=overwrite, seed=seed,
                       extra=extra)
    return path, extra
