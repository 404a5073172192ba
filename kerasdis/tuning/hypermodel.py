"""The searched model: `DisentanglementHyperModel`, its search space and its score.

A search space is a `(lo, hi)` range (log scale for β and the learning rate,
integers for the latent size), a list of choices or a single fixed number; it is
validated here, before any trial runs. `TradeoffScore` logs `val_tradeoff`,
disentanglement under a reconstruction budget; `SeedTwins` trains a trial's other
seeds and logs `val_udr`, the label-free score of Duan et al. (2020). `OBJECTIVES`
names what a search can maximise (one `val_<metric>` per registered metric,
`val_udr` and `val_tradeoff`).
"""

import collections.abc
import math
import numbers

import keras
import keras_tuner
import numpy as np

from kerasdis import callbacks as kd_callbacks
from kerasdis import data as kd_data
from kerasdis import networks
from kerasdis.metrics.evaluate import DEFAULTS as METRIC_DEFAULTS
from kerasdis.metrics import registry as metric_registry
from kerasdis.metrics.evaluate import NO_FACTORS, evaluate
from kerasdis.metrics.evaluate import names as metric_names
from kerasdis.metrics.udr import (DEFAULT_KL_THRESHOLD, DEFAULT_NUM_SAMPLES, _check_correlation,
                                  _check_kl_threshold)
from kerasdis.metrics.udr import udr as udr_score
from kerasdis import models as kd_models

# ---------------------------------------------------------------------- constants

DEFAULT_LATENT_DIM = (4, 12)
DEFAULT_LEARNING_RATE = (1e-4, 1e-3)

class _Objectives(collections.abc.Mapping):
    """`val_<metric>` for every metric of `kerasdis.metrics.registry` (read live, so a
    metric registered later is an objective too), and `val_tradeoff`."""

    def _directions(self):
        specs = {**metric_registry.METRICS, **metric_registry.MULTI_MODEL_METRICS}
        directions = {f"val_{name}": spec.direction for name, spec in specs.items()}
        # A reconstruction budget's penalised disentanglement score (`TradeoffScore`).
        directions["val_tradeoff"] = "max"
        return directions

    def __getitem__(self, name):
        return keras_tuner.Objective(name, direction=self._directions()[name])

    def __iter__(self):
        return iter(self._directions())

    def __len__(self):
        return len(self._directions())


OBJECTIVES = _Objectives()
"""`keras_tuner.Objective`s by name; `val_<metric>` is logged by `DisentanglementMetrics`,
`val_udr` by `SeedTwins` (a search with `seeds_per_trial >= 2`)."""

UDR_OPTIONS = {"num_samples": DEFAULT_NUM_SAMPLES, "correlation": "spearman",
               "kl_threshold": DEFAULT_KL_THRESHOLD}
"""The `kd.metrics.udr` parameters `udr_options` may set, with their defaults."""


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


def check_metrics(metrics, dataset, options=None, allow_empty=False):
    """Validates metric names and protocol options for `dataset`; returns a tuple.

    Raises `ValueError` for an unknown metric or option, for a metric that needs
    ground-truth factors on a dataset without them (only `"elbo"` works there), for
    `"udr"` (a score of several models: objective `"val_udr"` with `seeds_per_trial
    >= 2`, not a metric of one model), and for no metric unless `allow_empty`.
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics or ())
    valid = metric_names()
    if not metrics and not allow_empty:
        raise ValueError(f"`metrics` must name at least one of {', '.join(valid)}.")
    for m in metrics:
        if m in metric_registry.MULTI_MODEL_METRICS:
            raise ValueError(
                f"`metrics`: {m!r} compares several models and is not a metric of one model; "
                f"it is logged as 'val_{m}' when `seeds_per_trial` >= 2 (objective 'val_{m}').")
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


def check_udr_options(options):
    """Validates `udr_options` (keys of `UDR_OPTIONS`); returns a dict or None."""
    if options is None:
        return None
    if not isinstance(options, dict):
        raise ValueError(f"`udr_options` must be a dict, got {type(options).__name__}.")
    unknown = sorted(set(options) - set(UDR_OPTIONS))
    if unknown:
        raise ValueError(
            f"`udr_options`: unknown parameters {unknown}; known: {sorted(UDR_OPTIONS)}.")
    out = dict(options)
    if "num_samples" in out:
        n = out["num_samples"]
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"`udr_options['num_samples']` must be an integer >= 2, got {n!r}.")
        out["num_samples"] = int(n)
    try:
        if "correlation" in out:
            out["correlation"] = _check_correlation(out["correlation"])
        if "kl_threshold" in out:
            out["kl_threshold"] = _check_kl_threshold(out["kl_threshold"])
    except ValueError as error:
        raise ValueError(f"`udr_options`: {error}") from None
    return out


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


class SeedTwins(keras.callbacks.Callback):
    """Trains a trial's other seeds beside its model and logs `val_udr` every epoch.

    At the start of training the callback builds one twin per seed in `seeds` with
    `build(seed)` (same hyper-parameters, compiled like the trial's model; seed of
    the weights, the noise and the training stream). At the end of each epoch it
    trains every twin for the same epoch (`steps_per_epoch` steps of
    `twin.training_batches(dataset, batch_size, seed, first_step=epoch * steps)`,
    with `twin_callbacks()`, e.g. the weight's warm-up), then scores the trial's
    model and its twins with `kd.metrics.udr(..., seed=udr_seed, **udr_options)`
    and logs the median of their scores as `val_udr`, with `val_udr_min` and
    `val_udr_max`, and each model's own score as `val_udr_seed_<seed>` (the trial's
    model under `model_seed`). With `metrics`, each twin is also scored every epoch
    by `kd.metrics.evaluate(twin, dataset, metrics, seed=metric_seed,
    options=metric_options)` and logged as `val_<metric>_seed_<seed>`; the trial's
    model's `val_<metric>` (logged by `DisentanglementMetrics`, which must come
    first) is copied to `val_<metric>_seed_<model_seed>`, so every seed's supervised
    scores sit beside its UDR (Duan et al.'s validation). It must come before
    keras-tuner's callbacks, which read the logs.

    Attributes:
        twins: the twin models (after `on_train_begin`), in the order of `seeds`.
        last_udr: the `kd.metrics.udr` result of the last epoch, or None.
    """

    def __init__(self, build, seeds, dataset, batch_size, steps_per_epoch, udr_options=None,
                 udr_seed=0, twin_callbacks=None, model_seed=None, metrics=(),
                 metric_options=None, metric_seed=0):
        super().__init__()
        self.build = build
        self.seeds = tuple(int(s) for s in seeds)
        if not self.seeds:
            raise ValueError("`seeds` must hold at least one seed.")
        self.dataset = dataset
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.udr_options = {**UDR_OPTIONS, **(check_udr_options(udr_options) or {})}
        self.udr_seed = udr_seed
        self.twin_callbacks = twin_callbacks or (lambda: [])
        self.model_seed = model_seed
        self.metrics = tuple(metrics or ())
        self.metric_options = metric_options
        self.metric_seed = metric_seed
        self.twins = []
        self.last_udr = None

    def on_train_begin(self, logs=None):
        self.twins = [self.build(seed) for seed in self.seeds]

    def _steps(self):
        steps = (self.params or {}).get("steps")
        return int(steps) if steps else self.steps_per_epoch

    def on_epoch_end(self, epoch, logs=None):
        steps = self._steps()
        for seed, twin in zip(self.seeds, self.twins):
            stream = twin.training_batches(self.dataset, self.batch_size, seed,
                                           first_step=epoch * steps)
            twin.fit(stream, initial_epoch=epoch, epochs=epoch + 1, steps_per_epoch=steps,
                     callbacks=self.twin_callbacks(), shuffle=False, verbose=0)
        self.last_udr = udr_score([self.model, *self.twins], self.dataset, seed=self.udr_seed,
                                  **self.udr_options)
        scores = self.last_udr["scores"]
        if logs is None:
            return
        logs["val_udr"] = float(np.median(scores))
        logs["val_udr_min"] = float(np.min(scores))
        logs["val_udr_max"] = float(np.max(scores))
        model_seed = self.model_seed if self.model_seed is not None else getattr(
            self.model, "seed", "model")
        for seed, score in zip((model_seed, *self.seeds), scores):
            logs[f"val_udr_seed_{seed}"] = float(score)
        if not self.metrics:
            return
        for name in self.metrics:
            if f"val_{name}" in logs:
                logs[f"val_{name}_seed_{model_seed}"] = logs[f"val_{name}"]
        for seed, twin in zip(self.seeds, self.twins):
            results = evaluate(twin, self.dataset, metrics=self.metrics, seed=self.metric_seed,
                               verbose=0, options=self.metric_options)
            for name, value in kd_callbacks.primary_scores(results).items():
                logs[f"val_{name}_seed_{seed}"] = value


# --------------------------------------------------------------------- hypermodel
def _check_discriminator_learning_rate(value, cls, model):
    """None, a positive number or "tied"; only for a model with a discriminator."""
    if value is None:
        return None
    if value != "tied" and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                            or not value > 0 or not math.isfinite(value)):
        raise ValueError(f"`discriminator_learning_rate` must be None, a positive number or "
                         f"'tied' (the trial's learning rate), got {value!r}.")
    if not cls.uses_discriminator_learning_rate:
        raise ValueError(f"`discriminator_learning_rate`: the model {model!r} has no "
                         f"discriminator whose learning rate it sets; leave it None, got "
                         f"{value!r}.")
    return value if value == "tied" else float(value)


class DisentanglementHyperModel(keras_tuner.HyperModel):
    """A `keras_tuner.HyperModel` of any kerasdis objective.

    `build(hp)` declares `"beta"` (the objective's weight, see `kerasdis.tuning`;
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

    With `seeds_per_trial` = k >= 2 every trial also trains k - 1 twins with the
    same hyper-parameters and seeds `seed + 1, ..., seed + k - 1` (weights, noise
    and batches), epoch by epoch beside the trial's model (`SeedTwins`), and logs
    `val_udr`: the median over the k seeds of their UDR scores (`kd.metrics.udr`,
    Duan et al. 2020), which needs no labels, and each seed's score as
    `val_udr_seed_<s>`; `metrics`, when given, are logged for every seed too
    (`val_<metric>_seed_<s>`). A trial then costs k trainings plus one UDR encoding
    of `num_samples` images by k models per epoch (plus k evaluations of `metrics`).
    The trial's checkpoint (and the search's best model) is the model of seed `seed`.

    Args:
        model: str. A registered model name (`kd.models.names()`). Defaults to `"beta_vae"`.
        dataset: a kerasdis dataset, or a name for `kd.data.load`.
        beta: weight space: `(lo, hi)` range (log scale), list of choices, a number,
            or None for the class's `searched_range`. Must stay None for a model
            without a searched weight (`"vae"`, `"dcign"`).
        latent_dim: `(lo, hi)` (integers), list, or an int. Defaults to `(4, 12)`.
        learning_rate: `(lo, hi)` (log scale), list, or a number (Adam).
            Defaults to `(1e-4, 1e-3)`.
        discriminator_learning_rate: for a model trained beside a discriminator
            (`factor_vae`): None (the model's own, FactorVAE: Adam 1e-4), a positive
            number, or `"tied"` (the trial's `learning_rate`). Not searched.
        steps_per_epoch: int. Defaults to `1000`.
        epochs: int. Evaluations per trial. Defaults to `3`.
        batch_size: int. Defaults to `64`.
        metrics: names of `kd.metrics.names()` logged as `val_<name>`.
            Defaults to `("discrete_mig",)`. May be empty when `seeds_per_trial`
            >= 2 (only `val_udr` is logged: a dataset without factors works).
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
        seeds_per_trial: int >= 1. Seeds trained per trial; >= 2 logs `val_udr`
            (see above). Defaults to `1`.
        udr_options: dict of `kd.metrics.udr` parameters for `val_udr`:
            `num_samples` (default 10,000 images), `correlation` (`"spearman"` or
            `"lasso"`), `kl_threshold`. Needs `seeds_per_trial` >= 2.

    Raises:
        ValueError: unknown model, an empty or inverted range, a non-positive count,
            an unknown metric or option, a metric the dataset cannot support, bad
            `udr_options`.
    """

    def __init__(self, model="beta_vae", dataset="dsprites", beta=None,
                 latent_dim=DEFAULT_LATENT_DIM,
                 learning_rate=DEFAULT_LEARNING_RATE, steps_per_epoch=1000, epochs=3, batch_size=64,
                 metrics=("discrete_mig",), metric_options=None, beta_annealing_steps=0, seed=0,
                 architecture="conv", likelihood="bernoulli", model_args=None,
                 reconstruction_budget=None, tradeoff_metric="discrete_mig", tradeoff_penalty=1.0,
                 seeds_per_trial=1, udr_options=None, discriminator_learning_rate=None,
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
        self.discriminator_learning_rate = _check_discriminator_learning_rate(
            discriminator_learning_rate, cls, model)
        self.steps_per_epoch = _check_positive_int("steps_per_epoch", steps_per_epoch)
        self.epochs = _check_positive_int("epochs", epochs)
        self.batch_size = _check_positive_int("batch_size", batch_size)
        minimum = cls.min_batch_size
        if self.batch_size < minimum:
            raise ValueError(
                f"`batch_size` must be at least {minimum} for {model!r}, got {batch_size}.")
        self.seeds_per_trial = _check_positive_int("seeds_per_trial", seeds_per_trial)
        if udr_options is not None and self.seeds_per_trial < 2:
            raise ValueError(
                "`udr_options` set UDR (`val_udr`), which needs `seeds_per_trial` >= 2, got "
                f"seeds_per_trial={self.seeds_per_trial}.")
        self.udr_options = check_udr_options(udr_options)
        self.metrics = check_metrics(metrics, dataset, metric_options,
                                     allow_empty=self.seeds_per_trial >= 2)
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

    def model_kwargs(self, beta, latent_dim, seed=None):
        kwargs = dict(self.model_args)
        kwargs.update(latent_dim=int(latent_dim), input_shape=self.input_shape,
                      architecture=self.architecture, likelihood=self.likelihood,
                      seed=self.seed if seed is None else int(seed))
        if self.weight is not None:
            kwargs[self.weight] = float(beta)
        return kwargs

    def build(self, hp):
        beta, latent_dim, learning_rate = self.declare(hp)
        return self.build_model(beta, latent_dim, learning_rate, self.seed)

    def build_model(self, beta, latent_dim, learning_rate, seed):
        """The compiled model of these hyper-parameter values with seed `seed`."""
        model = self.model_class(**self.model_kwargs(beta, latent_dim, seed))
        disc = self.discriminator_learning_rate
        if disc is None:  # FactorVAE: the discriminator keeps its default Adam(1e-4, 0.5, 0.9)
            model.compile_for_recipe(float(learning_rate))
        else:
            model.compile_for_recipe(float(learning_rate), discriminator_learning_rate=float(
                learning_rate if disc == "tied" else disc))
        # Built optimizers take the state saved with a checkpoint's weights (Hyperband
        # continues trials from their parent's checkpoint, the best model is reloaded).
        if hasattr(model, "discriminator_optimizer"):
            model.optimizer.build(model.vae_variables)
            model.discriminator_optimizer.build(model.discriminator.trainable_variables)
        else:
            model.optimizer.build(model.trainable_variables)
        return model

    def _annealing(self, hp):
        if not self.beta_annealing_steps:
            return []
        variable = self.model_class.annealed_variable
        target = float(hp.get("beta")) if self.weight is not None else 1.0
        return [kd_callbacks.WeightAnnealing(variable, target=target,
                                             steps=self.beta_annealing_steps)]

    def callbacks(self, hp):
        """The hypermodel's own callbacks for a trial with hyper-parameters `hp`."""
        result = self._annealing(hp)
        if self.metrics:
            result.append(kd_callbacks.DisentanglementMetrics(
                self.dataset, metrics=self.metrics, every_n_epochs=1, seed=self.seed,
                options=self.metric_options))
        if self.seeds_per_trial > 1:
            values = (hp.get("beta") if self.weight is not None else None,
                      hp.get("latent_dim"), hp.get("learning_rate"))
            result.append(SeedTwins(
                lambda seed: self.build_model(*values, seed),
                seeds=[self.seed + i for i in range(1, self.seeds_per_trial)],
                dataset=self.dataset, batch_size=self.batch_size,
                steps_per_epoch=self.steps_per_epoch, udr_options=self.udr_options,
                udr_seed=self.seed, twin_callbacks=lambda: self._annealing(hp),
                model_seed=self.seed, metrics=self.metrics, metric_options=self.metric_options,
                metric_seed=self.seed))
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
        out = {
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
        # Only when they differ from the defaults: searches started before these
        # settings existed keep their `search.json` and still resume.
        if self.seeds_per_trial != 1:
            out["seeds_per_trial"] = self.seeds_per_trial
        if self.udr_options is not None:
            out["udr_options"] = dict(self.udr_options)
        if self.discriminator_learning_rate is not None:
            out["discriminator_learning_rate"] = self.discriminator_learning_rate
        return out



def estimate_trial_seconds(hypermodel, timing_steps=8):
    """About how long one trial of `hypermodel` takes on this machine.

    Builds the model at the space's default values, times `timing_steps` training
    steps on its own batches (after one untimed step that traces the graph) and the
    encoder (`kerasdis.metrics.evaluate.cost`) for the metrics scored after every
    epoch and, with `seeds_per_trial` >= 2, the UDR encodings. Classifiers and the MIG
    estimator's own computations come on top.

    Returns:
        dict: `steps_per_second`, `train_seconds` (every seed of a trial),
        `eval_seconds` (every epoch of a trial) and `seconds` (their sum).
    """
    import time

    from kerasdis.metrics.evaluate import cost, encoding_rate

    model = hypermodel.build(keras_tuner.HyperParameters())
    batches = model.training_batches(hypermodel.dataset, hypermodel.batch_size, hypermodel.seed)
    model.fit(batches, steps_per_epoch=1, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(batches, steps_per_epoch=timing_steps, epochs=1, verbose=0)
    rate = timing_steps / max(time.perf_counter() - start, 1e-9)
    seeds = hypermodel.seeds_per_trial
    train = hypermodel.epochs * hypermodel.steps_per_epoch * seeds / rate
    per_epoch = 0.0
    if hypermodel.metrics:
        plan = cost(model, hypermodel.dataset, metrics=list(hypermodel.metrics),
                    options=hypermodel.metric_options)
        per_epoch += plan["seconds"]
    if seeds >= 2:  # UDR: every seed encodes `num_samples` images
        images = {**UDR_OPTIONS, **(hypermodel.udr_options or {})}["num_samples"]
        per_epoch += seeds * images / encoding_rate(model, hypermodel.dataset)
    evaluation = hypermodel.epochs * per_epoch
    return {"steps_per_second": rate, "train_seconds": train, "eval_seconds": evaluation,
            "seconds": train + evaluation}
