"""`search`: one call that validates, resumes or starts, runs and reports a search.

`make_tuner` builds keras-tuner's tuner with a resumable oracle
(`kerasdis.tuning.oracles`); `search` checks the settings against the search
directory's `search.json`, sets keras-tuner's `KERASTUNER_*` environment for a
distributed role, runs the trials and writes the results (`kerasdis.tuning.results`).
"""

import contextlib
import json
import numbers
import os
import socket
import time

from kerasdis.io import write_json
from kerasdis.metrics.registry import MULTI_MODEL_METRICS
from kerasdis.tuning.hypermodel import (OBJECTIVES, DisentanglementHyperModel, _check_positive_int,
                                        objective_metric)
from kerasdis.tuning.oracles import ORACLES, TUNER_CLASSES, TimeLimitReached, current_role
from kerasdis.tuning.results import SearchResult, plot_tradeoff, results_table, write_results

TUNERS = ("random", "bayesian", "hyperband", "grid")
ROLES = ("chief", "worker")

SEARCH_FILE = "search.json"


def make_tuner(hypermodel, tuner="random", objective="val_discrete_mig", max_trials=10,
               directory="tuning", project_name="search", overwrite=False, seed=0, **tuner_options):
    """A keras-tuner `Tuner` for `hypermodel` with a resumable oracle.

    `tuner_options` go to the oracle: e.g. `num_initial_points`, `alpha`, `beta`
    (bayesian), `max_epochs`, `factor`, `hyperband_iterations` (hyperband),
    `max_retries_per_trial`, `max_consecutive_failed_trials`. For hyperband,
    `max_trials` caps the number of trials (None: as many as its brackets need) and
    `max_epochs` defaults to the hypermodel's `epochs`.
    """
    if tuner not in TUNERS:
        raise ValueError(f"`tuner` must be one of {TUNERS}, got {tuner!r}.")
    if objective not in OBJECTIVES:
        raise ValueError(f"`objective` must be one of {sorted(OBJECTIVES)}, got {objective!r}.")
    _check_seeds_tuner(tuner, getattr(hypermodel, "seeds_per_trial", 1))
    if max_trials is not None:
        _check_positive_int("max_trials", max_trials)
    elif tuner not in ("hyperband", "grid"):
        raise ValueError(f"`max_trials` must be a positive integer for tuner={tuner!r}.")
    objective = OBJECTIVES[objective]
    try:
        if tuner == "hyperband":
            tuner_options.setdefault("max_epochs", getattr(hypermodel, "epochs", 100))
            oracle = ORACLES[tuner](objective=objective, seed=seed, **tuner_options)
            oracle.max_trials = max_trials
        else:
            oracle = ORACLES[tuner](objective=objective, max_trials=max_trials, seed=seed,
                                    **tuner_options)
    except TypeError as error:
        raise ValueError(f"`tuner_options` for tuner={tuner!r}: {error}") from None
    return TUNER_CLASSES[tuner](oracle, hypermodel, directory=directory,
                                project_name=project_name, overwrite=overwrite)


def _check_seeds_tuner(tuner, seeds_per_trial):
    if tuner == "hyperband" and seeds_per_trial > 1:
        raise ValueError(
            f"tuner='hyperband' cannot train several seeds per trial (seeds_per_trial="
            f"{seeds_per_trial}): Hyperband continues a trial from its parent's checkpoint, "
            "which holds only the model of the first seed, not its twins. Use the 'random', "
            "'bayesian' or 'grid' tuner with seeds_per_trial >= 2 (objective 'val_udr').")


# ------------------------------------------------------------------------- search
@contextlib.contextmanager
def _distributed_env(role, oracle_ip, oracle_port, tuner_id):
    """Sets keras-tuner's KERASTUNER_* variables for the duration of the search."""
    if role is None:
        yield
        return
    if role not in ROLES:
        raise ValueError(f"`role` must be one of {ROLES} or None, got {role!r}.")
    port = oracle_port if oracle_port is not None else os.environ.get("KERASTUNER_ORACLE_PORT")
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise ValueError(f"`oracle_port` must be a port number for role={role!r}, got {port!r}.") \
            from None
    if not 0 < port < 65536:
        raise ValueError(f"`oracle_port` must be in 1-65535, got {port}.")
    ip = oracle_ip or os.environ.get("KERASTUNER_ORACLE_IP") or "127.0.0.1"
    if tuner_id is None:
        tuner_id = "chief" if role == "chief" else f"worker-{socket.gethostname()}-{os.getpid()}"
    if (role == "chief") != ("chief" in tuner_id):
        raise ValueError(
            f"`tuner_id` {tuner_id!r}: keras-tuner tells the chief by 'chief' in its id, so a "
            f"{role}'s id must {'' if role == 'chief' else 'not '}contain 'chief'.")
    names = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update(dict(zip(names, (tuner_id, ip, str(port)))))
    try:
        yield
    finally:
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v




def search(model="beta_vae", dataset="dsprites", tuner="random", objective="val_discrete_mig",
           max_trials=10, directory="tuning", project_name=None, overwrite=False, seed=0,
           tuner_options=None, verbose=0, role=None, oracle_ip=None, oracle_port=None,
           tuner_id=None, load_best_model=True, time_limit=None, **hypermodel_kwargs):
    """Searches β, latent size and learning rate of a kerasdis objective.

    Args:
        model: str. A registered model name (`kd.models.names()`).
        dataset: a kerasdis dataset or a name for `kd.data.load`.
        tuner: `"random"`, `"bayesian"`, `"hyperband"` or `"grid"` (every combination
            of the lists of choices, in declaration order: beta, latent_dim,
            learning_rate).
        objective: a name of `OBJECTIVES`. Its metric is added to the hypermodel's
            `metrics` (which default to just that metric). `"val_tradeoff"` needs
            `reconstruction_budget=` (see `TradeoffScore`). `"val_udr"` needs no
            labels: it needs `seeds_per_trial >= 2` (see below), and `metrics` are
            then only the labelled ones asked for (default none, so a dataset
            without factors can be searched).
        max_trials: int. Number of trials (hyperband, grid: a cap, None for no cap).
        directory, project_name: the search lives in `directory/project_name`
            (default name: `"<model>-<tuner>"`).
        overwrite: bool. Start over instead of resuming the search in that directory.
        seed: int. Seed of the oracle and of every trial's model, noise and batches.
        tuner_options: dict for the oracle, see `make_tuner` (e.g.
            `{"max_epochs": 4, "factor": 2}` for hyperband).
        verbose: int. keras-tuner and Keras verbosity. Defaults to `0`.
        role: None (one process; or keras-tuner's KERASTUNER_* environment if set),
            `"chief"` or `"worker"` for distributed tuning.
        oracle_ip, oracle_port: the chief's address (default IP `127.0.0.1`; the
            environment's KERASTUNER_ORACLE_* if set).
        tuner_id: this process's id (chief: default `"chief"`, must contain
            "chief"; worker: default `"worker-<host>-<pid>"`, unique per worker).
        load_best_model: bool. Reload the best trial's checkpoint into
            `result.best_model`. False leaves it None, so a search whose checkpoints
            were not kept (only its trial files) still reports. Defaults to `True`.
        time_limit: float or None. Seconds this call may run (a job's time limit). A
            trial starts only if it is expected to end within them: the median wall
            time of the search's completed trials, or before the first one
            `estimate_trial_seconds`. The search then stops between two trials, writes
            its results as usual (`result.time_limit_reached` is True) and the next
            call resumes it; a search with no trial left (its grid or `max_trials`
            done) ends finished, not stopped. Single-process searches only
            (`role=None`). Defaults to None (no limit).
        **hypermodel_kwargs: for `DisentanglementHyperModel` (`beta`, `latent_dim`,
            `learning_rate`, `steps_per_epoch`, `epochs`, `batch_size`, `metrics`,
            `metric_options`, `beta_annealing_steps`, `seeds_per_trial`,
            `udr_options`, ...).

    Label-free search (`objective="val_udr", seeds_per_trial=k`, k >= 2): every
    trial trains its hyper-parameters with k seeds (`seed`, ..., `seed + k - 1`),
    epoch by epoch, and is scored each epoch by the median over its seeds of their
    UDR scores (Unsupervised Disentanglement Ranking, Duan et al. 2020, who compare
    models with the same hyper-parameters; `kd.metrics.udr`). **Cost: k times the
    training of a one-seed search** (k x `max_trials` trainings of `epochs` x
    `steps_per_epoch` steps), plus each epoch one encoding of
    `udr_options["num_samples"]` images (default 10,000) by the k models and
    k(k-1)/2 latent comparisons. The trial's checkpoint, and `best_model`, is the
    model of seed `seed`. Not with `tuner="hyperband"` (a trial continued from its
    parent's checkpoint would lose its twins). `seeds_per_trial >= 2` with another
    objective also logs `val_udr`, beside the labelled scores.

    Returns:
        `SearchResult`, which unpacks as `(best_model, table)`. The chief (or the single
        process) writes `results.csv`, `results.json` and `tradeoff.png` to the project
        directory; a worker returns when the chief has no trial left for it, with
        `best_model=None` and the trials it can see.

    Raises:
        ValueError: unknown tuner or objective, empty or inverted ranges, a metric
            the dataset cannot support, settings that differ from those the search
            in the directory was started with, `objective="val_udr"` with
            `seeds_per_trial` < 2, several seeds per trial with `tuner="hyperband"`;
            all before any trial runs.
    """
    if tuner not in TUNERS:
        raise ValueError(f"`tuner` must be one of {TUNERS}, got {tuner!r}.")
    seeds_per_trial = _check_positive_int("seeds_per_trial",
                                          hypermodel_kwargs.get("seeds_per_trial", 1))
    _check_seeds_tuner(tuner, seeds_per_trial)
    if role is not None and role not in ROLES:
        raise ValueError(f"`role` must be one of {ROLES} or None, got {role!r}.")
    if time_limit is not None:
        if isinstance(time_limit, bool) or not isinstance(time_limit, numbers.Real) \
                or not time_limit > 0:
            raise ValueError(f"`time_limit` must be a positive number of seconds or None, "
                             f"got {time_limit!r}.")
        if role is not None or current_role() is not None:
            raise ValueError(f"`time_limit` works in a single-process search only (a worker "
                             f"leaving early would keep the chief waiting), got role="
                             f"{role or current_role()!r} (from `role` or KERASTUNER_*).")
        deadline = time.time() + time_limit
    hypermodel = search_hypermodel(model, dataset, objective, seed=seed, **hypermodel_kwargs)
    project_name = project_name or f"{model}-{tuner}"
    settings = {"tuner": tuner, "objective": objective, "seed": seed,
                "tuner_options": dict(tuner_options or {}), "hypermodel": hypermodel.describe()}
    settings = json.loads(json.dumps(settings))  # tuples -> lists, as read back
    project_dir = os.path.join(str(directory), project_name)
    settings_path = os.path.join(project_dir, SEARCH_FILE)

    with _distributed_env(role, oracle_ip, oracle_port, tuner_id):
        current = current_role()
        overwrite = bool(overwrite) and current != "worker"  # only the chief starts over
        if not overwrite and os.path.exists(settings_path):
            with open(settings_path) as f:
                saved = json.load(f)
            if saved != settings:
                changed = sorted(k for k in set(saved) | set(settings)
                                 if saved.get(k) != settings.get(k))
                raise ValueError(
                    f"The search in {project_dir!r} was started with other settings "
                    f"(differences in {changed}); pass the same settings to resume it, "
                    "overwrite=True (--overwrite) to start over, or another project_name.")
        kt = make_tuner(hypermodel, tuner=tuner, objective=objective, max_trials=max_trials,
                        directory=directory, project_name=project_name, overwrite=overwrite,
                        seed=seed, **dict(tuner_options or {}))
        if overwrite or not os.path.exists(settings_path):
            write_json(settings_path, settings)
        time_limit_reached = False
        if time_limit is not None:
            kt.deadline = deadline
        try:
            kt.search(verbose=verbose)
        except TimeLimitReached as stop:
            time_limit_reached = True
            print(f"[kerasdis.tuning] time limit reached: {stop}; the next call resumes the "
                  "search", flush=True)
        table = results_table(project_dir)
        if current == "worker":
            return SearchResult(None, table, None, None, project_dir, {}, kt, time_limit_reached)

        for row in table:
            row.setdefault("model", model)
            row.setdefault("weight", hypermodel.weight)
        best_model = best_hps = best_id = None
        best = kt.oracle.get_best_trials(1)
        if best:
            best_id = best[0].trial_id
            best_hps = dict(best[0].hyperparameters.values)
            if load_best_model:
                best_model = kt.load_model(best[0])
        summary = {"objective": objective, "direction": OBJECTIVES[objective].direction,
                   "best_trial_id": best_id, "best_hyperparameters": best_hps,
                   "settings": settings}
        csv_path, json_path = write_results(project_dir, table, summary)
        paths = {"results.csv": csv_path, "results.json": json_path}
        plot = plot_tradeoff(project_dir, table, objective, hypermodel.metrics)
        if plot:
            paths["tradeoff.png"] = plot
        return SearchResult(best_model, table, best_hps, best_id, project_dir, paths, kt,
                            time_limit_reached)


def load_trial_model(project_dir, trial_id, dataset=None):
    """The model of one trial of a search, with the weights of its checkpoint.

    Rebuilt from the search's `search.json` and the trial's hyper-parameters
    (`trial_<id>/trial.json`), then `checkpoint.weights.h5` is loaded: keras-tuner
    keeps the weights of the trial's best epoch (its `best_step`, whose logs
    `results_table` reports). Needs the checkpoint, which a search that was copied
    without its checkpoints does not have.

    Args:
        project_dir: str. The search directory (`directory/project_name`).
        trial_id: str, e.g. `"0003"`.
        dataset: the searched dataset, or None to load it by the recorded name.
    """
    from keras_tuner.engine.trial import Trial

    settings_path = os.path.join(project_dir, SEARCH_FILE)
    trial_dir = os.path.join(project_dir, f"trial_{trial_id}")
    checkpoint = os.path.join(trial_dir, "checkpoint.weights.h5")
    for path, what in ((settings_path, "a kerasdis search (no search.json)"),
                       (os.path.join(trial_dir, "trial.json"), f"trial {trial_id!r}"),
                       (checkpoint, f"the checkpoint of trial {trial_id!r}")):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"`project_dir` {project_dir!r} has no {what}: {path} is missing.")
    with open(settings_path) as f:
        settings = json.load(f)["hypermodel"]
    values = Trial.load(os.path.join(trial_dir, "trial.json")).hyperparameters.values
    hypermodel = DisentanglementHyperModel(
        model=settings["model"], dataset=dataset or settings["dataset"]["name"],
        beta=values.get("beta"), latent_dim=values["latent_dim"],
        learning_rate=values["learning_rate"], steps_per_epoch=settings["steps_per_epoch"],
        epochs=settings["epochs"], batch_size=settings["batch_size"],
        metrics=settings["metrics"], metric_options=settings["metric_options"],
        seed=settings["seed"], architecture=settings["architecture"],
        likelihood=settings["likelihood"], model_args=settings["model_args"],
        seeds_per_trial=settings.get("seeds_per_trial", 1),
        udr_options=settings.get("udr_options"),
        discriminator_learning_rate=settings.get("discriminator_learning_rate"))
    model = hypermodel.build_model(values.get("beta"), values["latent_dim"],
                                   values["learning_rate"], settings["seed"])
    model.load_weights(checkpoint)
    return model


def search_hypermodel(model, dataset, objective, seed=0, **hypermodel_kwargs):
    """The `DisentanglementHyperModel` that `search` trains for these arguments: the
    objective's metric joins `metrics` (a multi-model objective such as `val_udr` is
    logged by the seeds and needs `seeds_per_trial` >= 2)."""
    tradeoff_metric = hypermodel_kwargs.get("tradeoff_metric", "discrete_mig")
    needed = objective_metric(objective, tradeoff_metric)
    if objective == "val_tradeoff" and hypermodel_kwargs.get("reconstruction_budget") is None:
        raise ValueError(
            "objective 'val_tradeoff' needs `reconstruction_budget` (nats per image, the "
            "acceptable training reconstruction loss), e.g. reconstruction_budget=40.")
    seeds_per_trial = _check_positive_int("seeds_per_trial",
                                          hypermodel_kwargs.get("seeds_per_trial", 1))
    metrics = hypermodel_kwargs.get("metrics")
    if metrics is not None:
        metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if needed in MULTI_MODEL_METRICS:
        if seeds_per_trial < 2:
            raise ValueError(
                f"objective {objective!r} compares models trained with several seeds: it needs "
                f"`seeds_per_trial` >= 2 (e.g. 3; each trial then trains that many models), got "
                f"seeds_per_trial={seeds_per_trial}.")
        # Logged by the seeds' callback; `metrics` are the labelled scores asked for.
        hypermodel_kwargs["metrics"] = tuple(m for m in (metrics or ()) if m != needed)
    elif metrics is None:
        hypermodel_kwargs["metrics"] = (needed,)
    else:
        hypermodel_kwargs["metrics"] = metrics if needed in metrics else (*metrics, needed)
    return DisentanglementHyperModel(model=model, dataset=dataset, seed=seed, **hypermodel_kwargs)
