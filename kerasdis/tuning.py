"""Hyper-parameter search over β (the objective's weight), latent size and learning rate.

Choosing β is the central practical problem of these models: a larger weight buys
disentanglement at the cost of reconstruction. This module wraps keras-tuner:

```python
from kerasdis import tuning

result = tuning.search("beta_vae", "dsprites", tuner="bayesian", objective="val_mig",
                       max_trials=20, directory="tuning", project_name="bvae",
                       beta=(1.0, 16.0), latent_dim=(6, 12), steps_per_epoch=2_000, epochs=5)
best_model, table = result            # unpacks as a pair
table[0]["beta"], table[0]["val_mig"], table[0]["wall_time_seconds"]
```

The searched hyper-parameters are named `"beta"`, `"latent_dim"` and
`"learning_rate"`. `"beta"` is the weight of the objective's regulariser, whatever
the model calls it: the class's `searched_weight` (β of `beta_vae` and
`beta_tcvae`, γ of `factor_vae` and `annealed_vae`, λ_od of `dip_vae`), searched
over its `searched_range` by default; a model without one (`vae`, `dcign`) searches
latent size and learning rate only. Any registered model can be searched, a user's
own included (`kd.models.register`), unless its class says it cannot (`tunable`).

A range `(lo, hi)` (a tuple) is searched on a log scale for β and the learning rate
and uniformly (integers) for the latent size, a list is a set of choices, a single
number is fixed.

Disentanglement is scored at the end of every epoch by
`kerasdis.callbacks.DisentanglementMetrics` (`val_<metric>` in the logs; keep the
epochs few and long), and keras-tuner scores each trial by its best epoch. The
objectives are `OBJECTIVES`; `val_tradeoff` (see `TradeoffScore`) rewards
disentanglement under a reconstruction budget. Keep the metric protocols affordable
with `metric_options`: MIG without `subsample` encodes the whole factor grid (737,280
dSprites images) every epoch, e.g. `{"mig": {"subsample": 20_000}}`. Hyperband sets
each trial's epochs itself (`tuner_options={"max_epochs": ..., "factor": ...}`) and
continues promising trials from their parent's checkpoint.

Search directory (`directory/project_name`): keras-tuner's own files (`oracle.json`,
`trial_<id>/trial.json`, checkpoints), `search.json` (the settings, checked when a
search is resumed), `trial_<id>/kerasdis_trial.json` (wall time, worker, per-epoch
logs), `runs.jsonl` (one line per trial start/end/error, whichever process ran it),
and, at the end, `results.csv`, `results.json` and `tradeoff.png`.

Resuming: run the same `search(...)` again with `overwrite=False` (the default): the
completed trials are kept and an interrupted trial is run again. The oracle's files
are written atomically and its state is repaired on reload, so a search killed at
any point resumes without repeating a completed trial.

Distributed tuning uses keras-tuner's chief/worker protocol over gRPC: one chief
process (`role="chief"`) hands out trials, any number of workers (`role="worker"`)
run them, all sharing `directory`. See `search` and `kerasdis tune --role`.
"""

import contextlib
import csv
import io
import json
import math
import numbers
import os
import socket
import time

import keras
import keras_tuner
import numpy as np

from kerasdis import callbacks as kd_callbacks
from kerasdis import data as kd_data
from kerasdis import networks
from kerasdis.io import write_json
from kerasdis.metrics.evaluate import DEFAULTS as METRIC_DEFAULTS
from kerasdis.metrics import registry as metric_registry
from kerasdis.metrics.evaluate import NO_FACTORS
from kerasdis.metrics.evaluate import names as metric_names
from kerasdis import models as kd_models

# ---------------------------------------------------------------------- constants

DEFAULT_LATENT_DIM = (4, 12)
DEFAULT_LEARNING_RATE = (1e-4, 1e-3)

OBJECTIVES = {
    f"val_{name}": keras_tuner.Objective(f"val_{name}", direction=spec.direction)
    for name, spec in metric_registry.METRICS.items()
}
# A reconstruction budget's penalised disentanglement score (`TradeoffScore`).
OBJECTIVES["val_tradeoff"] = keras_tuner.Objective("val_tradeoff", direction="max")
"""`keras_tuner.Objective`s by name; `val_<metric>` is logged by `DisentanglementMetrics`."""

TUNERS = ("random", "bayesian", "hyperband", "grid")

SEARCH_FILE = "search.json"
TRIAL_FILE = "kerasdis_trial.json"
RUNS_FILE = "runs.jsonl"


# --------------------------------------------------------------------- validation
def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_space(name, value, integer=False, positive=True):
    """Normalises a search space: ("range", lo, hi) | ("choice", [..]) | ("fixed", v)."""
    kind_word = "integer" if integer else "number"

    def check_value(v):
        if integer:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"`{name}`: values must be positive integers, got {v!r}.")
            return int(v)
        if not _is_number(v) or (v <= 0 if positive else v < 0):
            raise ValueError(
                f"`{name}`: values must be {'positive' if positive else 'non-negative'} "
                f"finite numbers, got {v!r}.")
        return float(v)

    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"`{name}`: a range is a tuple (lo, hi), got {value!r}.")
        lo, hi = (check_value(v) for v in value)
        if lo > hi:
            raise ValueError(f"`{name}`: inverted range {value!r} (lo > hi).")
        if lo == hi:
            raise ValueError(
                f"`{name}`: empty range {value!r}; pass a single {kind_word} to fix it.")
        return ("range", lo, hi)
    if isinstance(value, list):
        if not value:
            raise ValueError(f"`{name}`: empty list of choices.")
        values = [check_value(v) for v in value]
        if len(set(values)) != len(values):
            raise ValueError(f"`{name}`: repeated choices in {value!r}.")
        return ("choice", values)
    return ("fixed", check_value(value))


def _declare(hp, name, space, integer=False, log=True):
    kind = space[0]
    if kind == "fixed":
        return hp.Fixed(name, space[1])
    if kind == "choice":
        return hp.Choice(name, space[1])
    if integer:
        return hp.Int(name, space[1], space[2])
    return hp.Float(name, space[1], space[2], sampling="log" if log else "linear")


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def _has_factors(dataset):
    sizes = getattr(dataset, "factor_sizes", None)
    return sizes is not None and len(sizes) > 0


def check_metrics(metrics, dataset, options=None):
    """Validates metric names and protocol options for `dataset`; returns a tuple.

    Raises `ValueError` for an unknown metric or option, and for a metric that needs
    ground-truth factors on a dataset without them (only `"elbo"` works there).
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics or ())
    valid = metric_names()
    if not metrics:
        raise ValueError(f"`metrics` must name at least one of {', '.join(valid)}.")
    for m in metrics:
        if m not in valid:
            raise ValueError(
                f"`metrics`: unknown metric {m!r}; valid names are {', '.join(valid)}.")
        if m not in NO_FACTORS and not _has_factors(dataset):
            raise ValueError(
                f"`metrics`: {m!r} needs ground-truth factors, but the dataset "
                f"{getattr(dataset, 'name', '')!r} has none; only {sorted(NO_FACTORS)} "
                "can be computed on it (objective 'val_elbo')."
            )
    if options is not None:
        if not isinstance(options, dict):
            raise ValueError(f"`metric_options` must be a dict, got {type(options).__name__}.")
        for name, opts in options.items():
            if name not in METRIC_DEFAULTS:
                raise ValueError(
                    f"`metric_options`: unknown metric {name!r}; valid names are "
                    f"{', '.join(valid)}.")
            if not isinstance(opts, dict):
                raise ValueError(f"`metric_options[{name!r}]` must be a dict, got {opts!r}.")
            unknown = set(opts) - set(METRIC_DEFAULTS[name])
            if unknown:
                raise ValueError(
                    f"`metric_options[{name!r}]`: unknown parameters {sorted(unknown)}; known: "
                    f"{sorted(METRIC_DEFAULTS[name])}.")
    return metrics


def objective_metric(objective, tradeoff_metric="discrete_mig"):
    """The `kerasdis.metrics` name an objective needs (`val_tradeoff`: `tradeoff_metric`)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"`objective` must be one of {sorted(OBJECTIVES)}, got {objective!r}.")
    if objective == "val_tradeoff":
        return tradeoff_metric
    return objective[len("val_"):]


def describe_dataset(dataset):
    sizes = getattr(dataset, "factor_sizes", None)
    return {
        "name": getattr(dataset, "name", None),
        "num_examples": int(dataset.num_examples),
        "observation_shape": [int(s) for s in dataset.observation_shape],
        "factor_sizes": None if sizes is None else [int(s) for s in sizes],
    }


# ---------------------------------------------------------------------- callbacks
class TradeoffScore(keras.callbacks.Callback):
    """Logs `val_tradeoff`: disentanglement under a reconstruction budget.

        val_tradeoff = val_<metric> - penalty * max(0, reconstruction - budget) / budget

    `reconstruction` is the epoch's training reconstruction loss (`-log p(x|z)` per
    image in nats, the `reconstruction` entry of the logs) and `budget` is in the same
    units. Within the budget the score is the disentanglement score itself; every 1%
    over it costs `penalty / 100`. The callback must come after
    `DisentanglementMetrics` in the callback list.

    Args:
        budget: float > 0. Acceptable reconstruction loss (nats per image).
        metric: str. Disentanglement metric (its `val_<metric>` must be logged).
            Defaults to `"discrete_mig"`.
        penalty: float >= 0. Defaults to `1.0`.
    """

    def __init__(self, budget, metric="discrete_mig", penalty=1.0):
        super().__init__()
        if not _is_number(budget) or budget <= 0:
            raise ValueError(f"`reconstruction_budget` must be a positive number, got {budget!r}.")
        if not _is_number(penalty) or penalty < 0:
            raise ValueError(f"`tradeoff_penalty` must be a non-negative number, got {penalty!r}.")
        self.budget = float(budget)
        self.metric = metric
        self.penalty = float(penalty)

    def score(self, disentanglement, reconstruction):
        excess = max(0.0, float(reconstruction) - self.budget) / self.budget
        return float(disentanglement) - self.penalty * excess

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        key = f"val_{self.metric}"
        if key in logs and "reconstruction" in logs:
            logs["val_tradeoff"] = self.score(logs[key], logs["reconstruction"])


# --------------------------------------------------------------------- hypermodel
class DisentanglementHyperModel(keras_tuner.HyperModel):
    """A `keras_tuner.HyperModel` of any kerasdis objective.

    `build(hp)` declares `"beta"` (the objective's weight, see the module docstring;
    log scale), `"latent_dim"` and `"learning_rate"` (log scale) and returns the
    compiled model. `fit(hp, model, ...)` trains it on `training_batches(dataset,
    batch_size, seed)` for `epochs` epochs of `steps_per_epoch` steps (Hyperband's
    `epochs`/`initial_epoch` take precedence), with a linear warm-up of the weight
    when `beta_annealing_steps > 0`, and scores every epoch with
    `DisentanglementMetrics(dataset, metrics, options=metric_options, seed=seed)`
    (and `TradeoffScore` when `reconstruction_budget` is set). The callbacks
    keras-tuner passes in are kept and run after these. Every trial uses the same
    `seed` for the weights, noise and batches, so trials differ only by their
    hyper-parameters.

    Args:
        model: str. A registered model name (`kd.models.names()`). Defaults to `"beta_vae"`.
        dataset: a kerasdis dataset, or a name for `kd.data.load`.
        beta: weight space: `(lo, hi)` range (log scale), list of choices, a number,
            or None for the class's `searched_range`. Must stay None for a model
            without a searched weight (`"vae"`, `"dcign"`).
        latent_dim: `(lo, hi)` (integers), list, or an int. Defaults to `(4, 12)`.
        learning_rate: `(lo, hi)` (log scale), list, or a number (Adam).
            Defaults to `(1e-4, 1e-3)`.
        steps_per_epoch: int. Defaults to `1000`.
        epochs: int. Evaluations per trial. Defaults to `3`.
        batch_size: int. Defaults to `64`.
        metrics: names of `kd.metrics.names()` logged as `val_<name>`.
            Defaults to `("discrete_mig",)`.
        metric_options: per-metric protocol overrides of `kd.metrics.evaluate`, e.g.
            `{"mig": {"subsample": 20_000}}` (MIG otherwise encodes the whole grid).
        beta_annealing_steps: int >= 0. Linear warm-up of the weight from 0
            (`kerasdis.callbacks.WeightAnnealing`; not for `dip_vae`). Defaults to `0`.
        seed: int. Defaults to `0`.
        architecture, likelihood: as `kerasdis.models.VAE`. Defaults `"conv"`, `"bernoulli"`.
        model_args: dict of further fixed model arguments (e.g. `{"estimator": "mws"}`).
            AnnealedVAE's `capacity_steps` defaults to the trial length.
        reconstruction_budget, tradeoff_metric, tradeoff_penalty: log `val_tradeoff`
            (see `TradeoffScore`) when `reconstruction_budget` is set.

    Raises:
        ValueError: unknown model, an empty or inverted range, a non-positive count,
            an unknown metric or option, a metric the dataset cannot support.
    """

    def __init__(self, model="beta_vae", dataset="dsprites", beta=None,
                 latent_dim=DEFAULT_LATENT_DIM,
                 learning_rate=DEFAULT_LEARNING_RATE, steps_per_epoch=1000, epochs=3, batch_size=64,
                 metrics=("discrete_mig",), metric_options=None, beta_annealing_steps=0, seed=0,
                 architecture="conv", likelihood="bernoulli", model_args=None,
                 reconstruction_budget=None, tradeoff_metric="discrete_mig", tradeoff_penalty=1.0,
                 name=None, tunable=True):
        super().__init__(name=name, tunable=tunable)
        cls = kd_models.get(model)
        if not cls.tunable:
            raise ValueError(f"`model` {model!r} cannot be searched: {cls.untunable_reason}.")
        if isinstance(dataset, str):
            dataset = kd_data.load(dataset)
        if dataset is None or not hasattr(dataset, "observation_shape"):
            raise ValueError(f"`dataset` must be a kerasdis dataset or name, got {dataset!r}.")
        self.model_name = model
        self.model_class = cls
        self.dataset = dataset
        self.weight = cls.searched_weight
        if self.weight is None:
            if beta is not None:
                raise ValueError(
                    f"`beta`: the model {model!r} has no weight to search; leave it None.")
            self.beta_space = None
        else:
            self.beta_space = _check_space(
                "beta", cls.searched_range if beta is None else beta, positive=True)
        self.latent_space = _check_space("latent_dim", latent_dim, integer=True)
        self.lr_space = _check_space("learning_rate", learning_rate, positive=True)
        self.steps_per_epoch = _check_positive_int("steps_per_epoch", steps_per_epoch)
        self.epochs = _check_positive_int("epochs", epochs)
        self.batch_size = _check_positive_int("batch_size", batch_size)
        minimum = cls.min_batch_size
        if self.batch_size < minimum:
            raise ValueError(
                f"`batch_size` must be at least {minimum} for {model!r}, got {batch_size}.")
        self.metrics = check_metrics(metrics, dataset, metric_options)
        self.metric_options = None if metric_options is None else {
            k: dict(v) for k, v in metric_options.items()}
        if isinstance(beta_annealing_steps, bool) or not isinstance(beta_annealing_steps, int) \
                or beta_annealing_steps < 0:
            raise ValueError(
                "`beta_annealing_steps` must be a non-negative integer, got "
                f"{beta_annealing_steps!r}.")
        if beta_annealing_steps and cls.annealed_variable is None:
            raise ValueError(
                f"`beta_annealing_steps`: the weight of {model!r} ({self.weight}) is a constant "
                "and cannot be annealed.")
        self.beta_annealing_steps = beta_annealing_steps
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}.")
        self.seed = seed
        networks.check_input_shape(dataset.observation_shape, architecture)
        self.architecture = architecture
        self.likelihood = likelihood
        self.model_args = dict(model_args or {})
        # Arguments the dataset and the trial length fix (recorded in `model_args`, except
        # the input shape that every model takes).
        fixed = {**cls.dataset_args(dataset), **cls.run_args(self.steps_per_epoch * self.epochs)}
        self.input_shape = tuple(fixed.pop("input_shape", dataset.observation_shape))
        reserved = {"latent_dim", "input_shape", "seed", "architecture", "likelihood"}
        if self.weight:
            reserved.add(self.weight)
        clash = sorted(reserved & set(self.model_args))
        if clash:
            raise ValueError(
                f"`model_args` must not set {clash}: they are searched or set by the hypermodel.")
        for key, value in fixed.items():
            self.model_args.setdefault(key, value)
        self.reconstruction_budget = reconstruction_budget
        self.tradeoff_metric = tradeoff_metric
        self.tradeoff_penalty = tradeoff_penalty
        if reconstruction_budget is not None:
            TradeoffScore(reconstruction_budget, tradeoff_metric, tradeoff_penalty)  # validates
            if tradeoff_metric not in self.metrics:
                raise ValueError(
                    f"`tradeoff_metric` {tradeoff_metric!r} must be one of `metrics` "
                    f"{self.metrics}.")

    # ------------------------------------------------------------------ keras-tuner
    def declare(self, hp):
        """Declares the hyper-parameters on `hp`; returns `(beta or None, latent_dim, lr)`."""
        beta = None if self.beta_space is None else _declare(hp, "beta", self.beta_space)
        latent_dim = _declare(hp, "latent_dim", self.latent_space, integer=True)
        learning_rate = _declare(hp, "learning_rate", self.lr_space)
        return beta, latent_dim, learning_rate

    def model_kwargs(self, beta, latent_dim):
        kwargs = dict(self.model_args)
        kwargs.update(latent_dim=int(latent_dim), input_shape=self.input_shape,
                      architecture=self.architecture, likelihood=self.likelihood, seed=self.seed)
        if self.weight is not None:
            kwargs[self.weight] = float(beta)
        return kwargs

    def build(self, hp):
        beta, latent_dim, learning_rate = self.declare(hp)
        model = self.model_class(**self.model_kwargs(beta, latent_dim))
        # FactorVAE: the discriminator keeps its default Adam(1e-4, 0.5, 0.9).
        model.compile_for_recipe(float(learning_rate))
        # Built optimizers take the state saved with a checkpoint's weights (Hyperband
        # continues trials from their parent's checkpoint, the best model is reloaded).
        if hasattr(model, "discriminator_optimizer"):
            model.optimizer.build(model.vae_variables)
            model.discriminator_optimizer.build(model.discriminator.trainable_variables)
        else:
            model.optimizer.build(model.trainable_variables)
        return model

    def callbacks(self, hp):
        """The hypermodel's own callbacks for a trial with hyper-parameters `hp`."""
        result = []
        if self.beta_annealing_steps:
            variable = self.model_class.annealed_variable
            target = float(hp.get("beta")) if self.weight is not None else 1.0
            result.append(kd_callbacks.WeightAnnealing(variable, target=target,
                                                       steps=self.beta_annealing_steps))
        result.append(kd_callbacks.DisentanglementMetrics(
            self.dataset, metrics=self.metrics, every_n_epochs=1, seed=self.seed,
            options=self.metric_options))
        if self.reconstruction_budget is not None:
            result.append(TradeoffScore(self.reconstruction_budget, self.tradeoff_metric,
                                        self.tradeoff_penalty))
        return result

    def fit(self, hp, model, *args, **kwargs):
        tuner_callbacks = list(kwargs.pop("callbacks", None) or [])
        kwargs.setdefault("epochs", self.epochs)
        kwargs.setdefault("steps_per_epoch", self.steps_per_epoch)
        kwargs.setdefault("verbose", 0)
        kwargs.pop("shuffle", None)
        if args:
            x, args = args[0], args[1:]
        else:
            x = kwargs.pop("x", None)
        if x is None:
            x = model.training_batches(self.dataset, self.batch_size, self.seed)
        return model.fit(x, *args, callbacks=[*self.callbacks(hp), *tuner_callbacks],
                         shuffle=False, **kwargs)

    def describe(self):
        """The settings as a JSON-serialisable dict (recorded in `search.json`)."""
        tradeoff = self.reconstruction_budget is not None
        return {
            "model": self.model_name, "weight": self.weight,
            "dataset": describe_dataset(self.dataset),
            "beta": None if self.beta_space is None else list(self.beta_space),
            "latent_dim": list(self.latent_space), "learning_rate": list(self.lr_space),
            "steps_per_epoch": self.steps_per_epoch, "epochs": self.epochs,
            "batch_size": self.batch_size, "metrics": list(self.metrics),
            "metric_options": self.metric_options,
            "beta_annealing_steps": self.beta_annealing_steps, "seed": self.seed,
            "architecture": self.architecture, "likelihood": self.likelihood,
            "model_args": self.model_args, "reconstruction_budget": self.reconstruction_budget,
            "tradeoff_metric": self.tradeoff_metric if tradeoff else None,
            "tradeoff_penalty": self.tradeoff_penalty if tradeoff else None,
        }


# ------------------------------------------------------- resumable oracles, tuners
def _atomic(save, path):
    tmp = f"{path}.tmp-{os.getpid()}"
    save(tmp)
    os.replace(tmp, path)


class _ResumableOracle:
    """Oracle mixin: atomic state files and a reload that never repeats a finished trial.

    keras-tuner writes `trial.json` before `oracle.json` and lists a trial as ongoing
    until the tuner's next save; a search killed in between would run a completed
    trial again on reload. Here the trial files are authoritative.
    """

    def save(self):
        from keras_tuner.src.engine import stateful

        _atomic(lambda tmp: stateful.Stateful.save(self, tmp), self._get_oracle_fname())

    def _save_trial(self, trial):
        path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        _atomic(trial.save, path)

    def reload(self):
        super().reload()
        from keras_tuner.src.engine.trial import TrialStatus

        done = {TrialStatus.COMPLETED, TrialStatus.FAILED}
        queue = []
        for trial_id in [*self._retry_queue, *sorted(self.trials)]:
            status = self.trials[trial_id].status
            if trial_id not in self.start_order:
                self.start_order.append(trial_id)
            if status in done:  # finished, whatever oracle.json says
                if trial_id not in self.end_order:
                    self.end_order.append(trial_id)
                self._run_times[trial_id] = max(1, self._run_times[trial_id])
            elif (status == TrialStatus.RUNNING or trial_id in self._retry_queue) \
                    and trial_id not in queue:
                # interrupted, or created just before the kill (unknown to oracle.json)
                queue.append(trial_id)
        self._retry_queue = queue


class _RandomOracle(_ResumableOracle, keras_tuner.oracles.RandomSearchOracle):
    pass


class _BayesianOracle(_ResumableOracle, keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class _HyperbandOracle(_ResumableOracle, keras_tuner.oracles.HyperbandOracle):
    pass


class _GridOracle(_ResumableOracle, keras_tuner.oracles.GridSearchOracle):
    pass


def _append_line(path, record):
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one write with O_APPEND: lines of concurrent workers never mix
    finally:
        os.close(fd)


class _RecordingTuner:
    """Tuner mixin: records each trial's wall time and logs; resumes from `oracle.json`."""

    def __init__(self, oracle, hypermodel, directory, project_name, overwrite=False, **kwargs):
        tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
        tuner_file = os.path.join(str(directory), project_name, f"{tuner_id}.json")
        had_tuner_file = os.path.exists(tuner_file)
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, directory=directory,
                                   project_name=project_name, overwrite=overwrite, **kwargs)
        oracle_file = os.path.join(self.project_dir, "oracle.json")
        # Killed before the first trial ended: keras-tuner would start over and
        # overwrite trial 0; reload the oracle instead.
        if not overwrite and not had_tuner_file and not self._is_worker() \
                and os.path.exists(oracle_file):
            self.oracle.reload()

    def search(self, *fit_args, **fit_kwargs):
        from keras_tuner.src.distribute import utils as dist_utils

        if not dist_utils.is_chief_oracle():
            return super().search(*fit_args, **fit_kwargs)
        if "verbose" in fit_kwargs:
            self.oracle.verbose = fit_kwargs["verbose"]
        self.save()
        _serve(self.oracle)

    def run_trial(self, trial, *args, **kwargs):
        runs = os.path.join(self.project_dir, RUNS_FILE)
        record = {"trial_id": trial.trial_id, "tuner_id": self.tuner_id, "pid": os.getpid(),
                  "host": socket.gethostname()}
        started = time.time()
        cpu_started = time.process_time()
        _append_line(runs, {**record, "event": "start", "time": started})
        try:
            histories = super().run_trial(trial, *args, **kwargs)
        except BaseException as error:
            _append_line(runs, {**record, "event": "error", "time": time.time(),
                                "error": f"{type(error).__name__}: {error}"})
            raise
        finished = time.time()
        cpu_seconds = time.process_time() - cpu_started
        logs = [{k: [float(v) for v in values] for k, values in h.history.items()}
                for h in histories if isinstance(h, keras.callbacks.History)]
        write_json(os.path.join(self.get_trial_dir(trial.trial_id), TRIAL_FILE),
                   {**record, "started": started, "finished": finished,
                    "wall_time_seconds": finished - started, "cpu_seconds": cpu_seconds,
                    "hyperparameters": dict(trial.hyperparameters.values), "history": logs})
        _append_line(runs, {**record, "event": "end", "time": finished,
                            "wall_time_seconds": finished - started})
        return histories


def _serve(oracle, poll_seconds=0.2):
    """Serves `oracle` to the workers until they have all been told to stop.

    keras-tuner's `oracle_chief.start_server`, polling every `poll_seconds` instead of
    every 20 s once the search is over, failing on a port that cannot be bound, and
    stopping the server on return.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ValueError(f"The chief cannot listen on {address} (address in use or invalid).")
    server.start()
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll_seconds)
    finally:
        server.stop(grace=1.0)


class _RandomTuner(_RecordingTuner, keras_tuner.RandomSearch):
    pass


class _BayesianTuner(_RecordingTuner, keras_tuner.BayesianOptimization):
    pass


class _HyperbandTuner(_RecordingTuner, keras_tuner.Hyperband):
    pass


class _GridTuner(_RecordingTuner, keras_tuner.GridSearch):
    pass


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
    if max_trials is not None:
        _check_positive_int("max_trials", max_trials)
    elif tuner not in ("hyperband", "grid"):
        raise ValueError(f"`max_trials` must be a positive integer for tuner={tuner!r}.")
    objective = OBJECTIVES[objective]
    try:
        if tuner == "random":
            oracle = _RandomOracle(objective=objective, max_trials=max_trials, seed=seed,
                                   **tuner_options)
            cls = _RandomTuner
        elif tuner == "grid":
            oracle = _GridOracle(objective=objective, max_trials=max_trials, seed=seed,
                                 **tuner_options)
            cls = _GridTuner
        elif tuner == "bayesian":
            oracle = _BayesianOracle(objective=objective, max_trials=max_trials, seed=seed,
                                     **tuner_options)
            cls = _BayesianTuner
        else:
            tuner_options.setdefault("max_epochs", getattr(hypermodel, "epochs", 100))
            oracle = _HyperbandOracle(objective=objective, seed=seed, **tuner_options)
            oracle.max_trials = max_trials
            cls = _HyperbandTuner
    except TypeError as error:
        raise ValueError(f"`tuner_options` for tuner={tuner!r}: {error}") from None
    return cls(oracle, hypermodel, directory=directory, project_name=project_name,
               overwrite=overwrite)


# ------------------------------------------------------------------------ results
def _last_line(text):
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else None


def results_table(project_dir):
    """One dict per trial of the search in `project_dir`, sorted by trial id.

    Keys: `trial_id`, `status`, `score`, `best_step`, the hyper-parameters (`beta`,
    `latent_dim`, `learning_rate`, Hyperband's `tuner/...`), every metric of the best
    epoch (`loss`, `reconstruction`, `kl`, `val_<metric>`, ...; a logged metric named
    like a hyper-parameter, e.g. an annealed `beta`, becomes `<name>_logged`),
    `wall_time_seconds`, `tuner_id` and, for failed trials, `message` (last line).
    Works on any process of a distributed search (it reads the shared directory).
    """
    from keras_tuner.src.engine import trial as trial_module

    rows = []
    if not os.path.isdir(project_dir):
        return rows
    for entry in sorted(os.listdir(project_dir)):
        path = os.path.join(project_dir, entry, "trial.json")
        if not (entry.startswith("trial_") and os.path.exists(path)):
            continue
        trial = trial_module.Trial.load(path)
        hps = dict(trial.hyperparameters.values)
        row = {"trial_id": trial.trial_id, "status": trial.status,
               "score": None if trial.score is None else float(trial.score),
               "best_step": trial.best_step}
        row.update(hps)
        for name in sorted(trial.metrics.metrics):
            value = trial.metrics.get_last_value(name)
            key = f"{name}_logged" if name in row else name
            row[key] = None if value is None else float(value)
        extra_path = os.path.join(project_dir, entry, TRIAL_FILE)
        row["wall_time_seconds"] = None
        row["cpu_seconds"] = None
        row["tuner_id"] = None
        if os.path.exists(extra_path):
            with open(extra_path) as f:
                extra = json.load(f)
            row["wall_time_seconds"] = extra.get("wall_time_seconds")
            row["cpu_seconds"] = extra.get("cpu_seconds")
            row["tuner_id"] = extra.get("tuner_id")
        if trial.status in ("FAILED", "INVALID") and trial.message:
            row["message"] = _last_line(trial.message)
        rows.append(row)
    return rows


def _columns(table):
    first = ["trial_id", "status", "score", "best_step", "model", "weight"]
    last = ["wall_time_seconds", "cpu_seconds", "tuner_id", "message"]
    seen = []
    for row in table:
        for key in row:
            if key not in seen:
                seen.append(key)
    middle = [k for k in seen if k not in first and k not in last]
    return [k for k in first if k in seen] + middle + [k for k in last if k in seen]


def write_results(project_dir, table, summary=None):
    """Writes `results.csv` and `results.json` (atomically); returns their paths."""
    columns = _columns(table)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    csv_path = os.path.join(project_dir, "results.csv")

    def save_csv(tmp):
        with open(tmp, "w", newline="") as f:
            f.write(buffer.getvalue())

    _atomic(save_csv, csv_path)
    json_path = os.path.join(project_dir, "results.json")
    write_json(json_path, {**(summary or {}), "columns": columns, "trials": table})
    return csv_path, json_path


def _numeric(row, key):
    value = row.get(key)
    return _is_number(value)


def plot_tradeoff(project_dir, table, objective, metrics):
    """Writes `tradeoff.png` (reconstruction or ELBO vs. disentanglement); path or None."""
    from kerasdis import viz

    done = [r for r in table if r.get("status") == "COMPLETED"]
    scores = [f"val_{m}" for m in metrics if m != "elbo"]
    if objective != "val_elbo" and objective not in scores:
        scores.insert(0, objective)
    y = next((k for k in scores if done and all(_numeric(r, k) for r in done)), None)
    x = "val_elbo" if done and all(_numeric(r, "val_elbo") for r in done) else "reconstruction"
    if y is None:
        y, x = ("val_elbo", "reconstruction") if x == "val_elbo" else (None, x)
    if not done or y is None or not all(_numeric(r, x) for r in done):
        return None
    path = os.path.join(project_dir, "tradeoff.png")
    annotate = None
    if all(_numeric(r, "beta") for r in done):
        annotate = "beta"
        done = [{**r, "beta": float(f"{r['beta']:.3g}")} for r in done]
    viz.tradeoff_plot(done, x=x, y=y, label="model", path=path, annotate=annotate,
                      title=f"{done[0].get('model', '')} search ({objective})")
    return path


class SearchResult:
    """What `search` returns. Unpacks as `best_model, table = search(...)`.

    Attributes:
        best_model: the best trial's model (weights of its best epoch), compiled;
            None on a distributed worker or when no trial completed.
        table: list of dicts, one per trial (see `results_table`).
        best_hyperparameters: dict of the best trial's values, or None.
        best_trial_id: str or None.
        project_dir: str. The search directory.
        paths: dict of the written files (`results.csv`, `results.json`,
            `tradeoff.png`; empty on a worker).
        tuner: the keras-tuner `Tuner`.
    """

    def __init__(self, best_model, table, best_hyperparameters, best_trial_id, project_dir,
                 paths, tuner):
        self.best_model = best_model
        self.table = table
        self.best_hyperparameters = best_hyperparameters
        self.best_trial_id = best_trial_id
        self.project_dir = project_dir
        self.paths = paths
        self.tuner = tuner

    def __iter__(self):
        return iter((self.best_model, self.table))

    def __repr__(self):
        return (f"SearchResult({len(self.table)} trials, best_trial_id={self.best_trial_id!r}, "
                f"best_hyperparameters={self.best_hyperparameters!r}, "
                f"project_dir={self.project_dir!r})")


# ------------------------------------------------------------------------- search
ROLES = ("chief", "worker")


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


def _current_role():
    from keras_tuner.src.distribute import utils as dist_utils

    if not dist_utils.has_chief_oracle():
        return None
    return "chief" if dist_utils.is_chief_oracle() else "worker"


def search(model="beta_vae", dataset="dsprites", tuner="random", objective="val_discrete_mig",
           max_trials=10, directory="tuning", project_name=None, overwrite=False, seed=0,
           tuner_options=None, verbose=0, role=None, oracle_ip=None, oracle_port=None,
           tuner_id=None, load_best_model=True, **hypermodel_kwargs):
    """Searches β, latent size and learning rate of a kerasdis objective.

    Args:
        model: str. A registered model name (`kd.models.names()`).
        dataset: a kerasdis dataset or a name for `kd.data.load`.
        tuner: `"random"`, `"bayesian"`, `"hyperband"` or `"grid"` (every combination
            of the lists of choices, in declaration order: beta, latent_dim,
            learning_rate).
        objective: a name of `OBJECTIVES`. Its metric is added to the hypermodel's
            `metrics` (which default to just that metric). `"val_tradeoff"` needs
            `reconstruction_budget=` (see `TradeoffScore`).
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
        **hypermodel_kwargs: for `DisentanglementHyperModel` (`beta`, `latent_dim`,
            `learning_rate`, `steps_per_epoch`, `epochs`, `batch_size`, `metrics`,
            `metric_options`, `beta_annealing_steps`, ...).

    Returns:
        `SearchResult`, which unpacks as `(best_model, table)`. The chief (or the single
        process) writes `results.csv`, `results.json` and `tradeoff.png` to the project
        directory; a worker returns when the chief has no trial left for it, with
        `best_model=None` and the trials it can see.

    Raises:
        ValueError: unknown tuner or objective, empty or inverted ranges, a metric
            the dataset cannot support, settings that differ from those the search
            in the directory was started with; all before any trial runs.
    """
    if tuner not in TUNERS:
        raise ValueError(f"`tuner` must be one of {TUNERS}, got {tuner!r}.")
    tradeoff_metric = hypermodel_kwargs.get("tradeoff_metric", "discrete_mig")
    needed = objective_metric(objective, tradeoff_metric)
    if objective == "val_tradeoff" and hypermodel_kwargs.get("reconstruction_budget") is None:
        raise ValueError(
            "objective 'val_tradeoff' needs `reconstruction_budget` (nats per image, the "
            "acceptable training reconstruction loss), e.g. reconstruction_budget=40.")
    if hypermodel_kwargs.get("metrics") is None:
        hypermodel_kwargs["metrics"] = (needed,)
    else:
        metrics = hypermodel_kwargs["metrics"]
        metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
        hypermodel_kwargs["metrics"] = metrics if needed in metrics else (*metrics, needed)
    if role is not None and role not in ROLES:
        raise ValueError(f"`role` must be one of {ROLES} or None, got {role!r}.")
    hypermodel = DisentanglementHyperModel(model=model, dataset=dataset, seed=seed,
                                           **hypermodel_kwargs)
    project_name = project_name or f"{model}-{tuner}"
    settings = {"tuner": tuner, "objective": objective, "seed": seed,
                "tuner_options": dict(tuner_options or {}), "hypermodel": hypermodel.describe()}
    settings = json.loads(json.dumps(settings))  # tuples -> lists, as read back
    project_dir = os.path.join(str(directory), project_name)
    settings_path = os.path.join(project_dir, SEARCH_FILE)

    with _distributed_env(role, oracle_ip, oracle_port, tuner_id):
        current = _current_role()
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
        kt.search(verbose=verbose)
        table = results_table(project_dir)
        if current == "worker":
            return SearchResult(None, table, None, None, project_dir, {}, kt)

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
        return SearchResult(best_model, table, best_hps, best_id, project_dir, paths, kt)
