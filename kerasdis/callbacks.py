"""Callbacks: annealing schedules and logging.

Schedules are computed from the optimizer's step count (`model.optimizer.iterations`),
not from a Python counter, so they stay right after `model.fit` is resumed from a
checkpoint or a `.keras` file.
"""

import collections.abc
import csv
import io
import math
import os
import time

import keras

from kerasdis.metrics import registry as metric_registry


class WeightAnnealing(keras.callbacks.Callback):
    """Linear warm-up of a non-trainable weight of the model (β, γ, λ, ...).

    At optimizer step t the weight is `start + (target - start) * min(1, t / steps)`.

    Args:
        weight: str. Name of the model's `keras.Variable` attribute, e.g. `"beta"`.
        target: float. Value reached after `steps` steps.
        steps: int. Length of the warm-up in optimizer steps (≥ 1).
        start: float. Value at step 0. Defaults to `0.0`.
    """

    def __init__(self, weight, target, steps, start=0.0):
        super().__init__()
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"`steps` must be a positive integer, got {steps!r}.")
        for name, value in (("target", target), ("start", start)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.")
        self.weight = weight
        self.target = float(target)
        self.steps = steps
        self.start = float(start)

    def value_at(self, step):
        fraction = min(1.0, max(0, step) / self.steps)
        return self.start + (self.target - self.start) * fraction

    def _variable(self):
        variable = getattr(self.model, self.weight, None)
        if not isinstance(variable, keras.Variable):
            raise ValueError(
                f"`weight`={self.weight!r} is not a weight of {type(self.model).__name__}; "
                "expected the name of one of its non-trainable variables such as 'beta'."
            )
        return variable

    def on_train_begin(self, logs=None):
        self._var = self._variable()

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self._var.assign(self.value_at(step))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.weight] = float(self._var.numpy())


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training when any reported term (not only `loss`) becomes NaN or Inf.

    Unlike `keras.callbacks.TerminateOnNaN` it names the terms that went
    non-finite (for example `tc` or `kl`) in `self.nonfinite` and in the message it
    prints, and it checks after every batch.
    """

    def __init__(self):
        super().__init__()
        self.nonfinite = ()
        self.step = None

    def on_train_batch_end(self, batch, logs=None):
        bad = sorted(k for k, v in (logs or {}).items() if not math.isfinite(float(v)))
        if bad:
            self.nonfinite = bad
            self.step = int(self.model.optimizer.iterations.numpy())
            print(f"kerasdis: stopping at optimizer step {self.step}: the terms {bad} are "
                  "not finite.")
            self.model.stop_training = True


class BetaAnnealing(WeightAnnealing):
    """Linear warm-up of the model's β from `start` to `target` over `steps` steps.

    Works for every model with a `beta` weight (BetaVAE, BetaTCVAE, ...), see
    `WeightAnnealing`. Adds the current `beta` to the epoch logs.
    """

    def __init__(self, target, steps, start=0.0):
        super().__init__("beta", target=target, steps=steps, start=start)


class TraversalLogger(keras.callbacks.Callback):
    """Writes latent traversals and reconstructions to TensorBoard at epoch end.

    Every `every_n_epochs` epochs, writes `kerasdis.viz.traversal_grid` of the
    first of `images` (rows ordered by KL over all of `images`) under the tag
    `"traversals"` and `kerasdis.viz.reconstructions` of `images` under
    `"reconstructions"`, as `tf.summary.image` summaries at step `epoch`, into
    an event file in `log_dir` (open it with `tensorboard --logdir log_dir`).
    Without `images` the traversal starts from a fixed prior draw and no
    reconstructions are written.

    Args:
        log_dir: str. Folder of the event file.
        images: a small batch of fixed images `[n, H, W, C]` (8-16), or `None`.
        every_n_epochs: int >= 1. Defaults to `1`.
        steps: int >= 2. Values per traversal row. Defaults to `11`.
        limits: `(lo, hi)` or `"posterior"`, see `traversal_grid`. Defaults to `(-2, 2)`.

    Example:

    ```python
    x = ds.images(ds.sample_factors(8, seed=0))
    model.fit(train, epochs=10, steps_per_epoch=500,
              callbacks=[kd.callbacks.TraversalLogger("logs/run1", images=x)])
    ```
    """

    def __init__(self, log_dir, images=None, every_n_epochs=1, steps=11, limits=(-2, 2)):
        super().__init__()
        import numpy as np

        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) \
                or every_n_epochs < 1:
            raise ValueError(
                f"`every_n_epochs` must be a positive integer, got {every_n_epochs!r}."
            )
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"`steps` must be an integer >= 2, got {steps!r}.")
        from kerasdis import viz

        limits = viz._check_limits(limits)
        if limits == "posterior" and images is None:
            raise ValueError("`limits`='posterior' needs `images`.")
        self.log_dir = str(log_dir)
        self.images = None if images is None else np.asarray(images)
        self.every_n_epochs = every_n_epochs
        self.steps = steps
        self.limits = limits
        self._writer = None

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        from kerasdis import viz

        if self.images is not None:  # fail before training on bad images
            viz._check_images(self.model, self.images, name="images")
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        import tensorflow as tf

        from kerasdis import viz

        grid = viz.traversal_grid(self.model, x=self.images, steps=self.steps,
                                  limits=self.limits)
        with self._writer.as_default():
            tf.summary.image("traversals", grid[None], step=epoch)
            if self.images is not None:
                recon = viz.reconstructions(self.model, self.images)
                tf.summary.image("reconstructions", recon[None], step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class _PrimaryScores(collections.abc.Mapping):
    """`{metric: key of its single score}`, read live from `kerasdis.metrics.registry`
    (so a metric registered later is logged too)."""

    def __getitem__(self, name):
        return metric_registry.METRICS[name].primary

    def __iter__(self):
        return iter(metric_registry.METRICS)

    def __len__(self):
        return len(metric_registry.METRICS)


# The number each metric contributes to the logs as `val_<metric>`.
PRIMARY_SCORES = _PrimaryScores()


def primary_scores(results):
    """`{metric: number}` from the dict returned by `kerasdis.metrics.evaluate`."""
    scores = {}
    for name, value in results.items():
        if name == "protocol":
            continue
        if isinstance(value, (int, float)):
            scores[name] = float(value)
        elif isinstance(value, dict) and isinstance(value.get(PRIMARY_SCORES.get(name)), (int, float)):
            scores[name] = float(value[PRIMARY_SCORES[name]])
    return scores


class DisentanglementMetrics(keras.callbacks.Callback):
    """Adds `val_<metric>` (e.g. `val_mig`, `val_beta_vae`) to the epoch logs.

    Runs `kerasdis.metrics.evaluate` on the model every `every_n_epochs` epochs, so
    TensorBoard, `EarlyStopping` and keras-tuner objectives can use disentanglement
    scores. The logged number of each metric is `PRIMARY_SCORES[metric]` (the BetaVAE
    and FactorVAE scores log their eval accuracy, DCI its disentanglement, the ELBO
    decomposition the ELBO). The last full results are kept in `self.results`.

    Args:
        dataset: a ground-truth dataset (`kd.data.load(...)`).
        metrics: metric names of `kd.metrics.names()`. Defaults to `("discrete_mig",)`.
        every_n_epochs: int. Defaults to `1`; the last epoch is always evaluated.
        seed: int. Seed of the metric protocols. Defaults to `0`.
        options: dict. Per-metric protocol overrides passed to `evaluate`, e.g.
            `{"beta_vae": {"num_train": 1000, "num_eval": 500}}` for quick checks.
    """

    def __init__(self, dataset, metrics=("discrete_mig",), every_n_epochs=1, seed=0, options=None):
        super().__init__()
        from kerasdis import metrics as kd_metrics

        if isinstance(metrics, str):
            metrics = (metrics,)
        unknown = [m for m in metrics if m not in kd_metrics.names()]
        if unknown or not metrics:
            raise ValueError(f"`metrics` must be names of {list(kd_metrics.names())}, got {metrics!r}.")
        if not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(f"`every_n_epochs` must be a positive integer, got {every_n_epochs!r}.")
        self.dataset = dataset
        self.metric_names = tuple(metrics)
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self.options = options
        self.results = None

    def on_epoch_end(self, epoch, logs=None):
        last = self.params.get("epochs") if self.params else None
        if (epoch + 1) % self.every_n_epochs and (last is None or epoch + 1 != last):
            return
        from kerasdis import metrics as kd_metrics

        self.results = kd_metrics.evaluate(self.model, self.dataset, metrics=self.metric_names,
                                           seed=self.seed, verbose=0, options=self.options)
        if logs is not None:
            for name, value in primary_scores(self.results).items():
                logs[f"val_{name}"] = value


def plateau_step(steps, scores, window, min_delta=0.01, start=0):
    """The first step at which a score stopped improving, or None.

    A run has reached its plateau at an evaluated step `s` when the best score up to
    `s` is less than `min_delta` above the best score up to `s - window` (a higher
    score is better). With evaluations every `window` steps this is the rule "two
    evaluations `window` steps apart within `min_delta`", taken on the running best
    (as `keras.callbacks.EarlyStopping` with `patience` of one window) so that a
    noisy score, whose consecutive evaluations are rarely within `min_delta` of each
    other, cannot keep a run going once it stops setting new bests.

    Args:
        steps: increasing optimizer steps of the evaluations.
        scores: the score at each of `steps` (None or NaN: not evaluated there).
        window: int >= 1. How far back, in steps, the comparison looks.
        min_delta: float >= 0. The smallest improvement that counts.
        start: int >= 0. No plateau before this step: a run whose loss follows a
            schedule (an AnnealedVAE's capacity, a β warm-up) is judged once the
            schedule has finished.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"`window` must be a positive integer, got {window!r}.")
    if not isinstance(min_delta, (int, float)) or not min_delta >= 0:
        raise ValueError(f"`min_delta` must be a non-negative number, got {min_delta!r}.")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValueError(f"`start` must be a non-negative integer step, got {start!r}.")
    history = [(int(s), float(v)) for s, v in zip(steps, scores)
               if v is not None and math.isfinite(float(v))]
    for i, (step, _) in enumerate(history):
        earlier = [v for s, v in history[:i] if s <= step - window]
        if (step >= start and earlier
                and max(v for _, v in history[:i + 1]) - max(earlier) < min_delta):
            return step
    return None


class LearningCurve(keras.callbacks.Callback):
    """Writes a run's learning curve to a CSV file and stops the run at its plateau.

    Every epoch whose logs carry `monitor` (put a `DisentanglementMetrics` before
    this callback, e.g. for `val_mig`) appends a row to `path`: the optimizer `step`,
    the run's `wall_time_seconds` and process `cpu_seconds` so far, and every log of
    the epoch (the training terms such as `reconstruction` and `kl` are averages over
    the epoch). The file is rewritten atomically at each row, so it always matches a
    checkpoint: when a run resumes, rows after the step it resumes from are dropped.

    With `stop_at_plateau`, training stops at the first evaluation where
    `plateau_step` finds a plateau of `monitor`; `self.plateau` then holds that step
    (it is also recomputed by `plateau_step` from the file at any time).

    Args:
        path: str. The CSV file (created, or continued when it exists).
        monitor: str. The score of the plateau rule, higher is better.
        window: int. Steps between the two compared evaluations (see `plateau_step`).
        min_delta: float. Smallest improvement that counts.
        start: int. No plateau before this step (see `plateau_step`).
        stop_at_plateau: bool. Stop training at the plateau (else only record it).
        initial_seconds: float. Wall time the run had already used (a resumed run's
            `state.json`), added to this session's.
        initial_cpu_seconds: float or None. The same for CPU time (None: unknown, e.g.
            a run whose earlier sessions did not record it; the column stays empty).
        best_path: str or None. A `.keras` file where the model is saved (atomically)
            each time `monitor` beats every earlier row of the curve: the run's best
            point, kept for a score that peaks before the plateau and falls back.
    """

    def __init__(self, path, monitor="val_mig", window=10_000, min_delta=0.01,
                 stop_at_plateau=True, initial_seconds=0.0, initial_cpu_seconds=0.0,
                 best_path=None, start=0):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"`monitor` must be the name of a log such as 'val_mig', "
                             f"got {monitor!r}.")
        plateau_step([], [], window, min_delta, start)  # validates the rule's arguments
        self.path = os.fspath(path)
        self.monitor = monitor
        self.window = window
        self.min_delta = min_delta
        self.start = start
        self.stop_at_plateau = stop_at_plateau
        self.initial_seconds = float(initial_seconds)
        self.initial_cpu_seconds = None if initial_cpu_seconds is None else float(
            initial_cpu_seconds)
        self.best_path = None if best_path is None else os.fspath(best_path)
        self.rows = []
        self.plateau = None

    @staticmethod
    def read(path):
        """The rows of a curve file as dicts of floats (`step`: int; empty cells: None)."""
        if not os.path.exists(path):
            return []
        with open(path, newline="") as f:
            rows = [{k: (float(v) if v not in ("", None) else None) for k, v in row.items()}
                    for row in csv.DictReader(f)]
        for row in rows:
            row["step"] = int(row["step"])
        return rows

    def _write(self):
        fields = ["step", "wall_time_seconds", "cpu_seconds"]
        fields += sorted({k for row in self.rows for k in row} - set(fields))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=fields, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        from kerasdis.io import write_text

        write_text(self.path, text.getvalue())

    def _plateau(self):
        return plateau_step([r["step"] for r in self.rows],
                            [r.get(self.monitor) for r in self.rows], self.window,
                            self.min_delta, self.start)

    def on_train_begin(self, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self.rows = [r for r in self.read(self.path) if r["step"] <= step]
        self._write()
        self.plateau = self._plateau()
        self._started = time.time()
        self._started_cpu = time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.plateau is not None and self.stop_at_plateau:  # resumed past its plateau
            self.model.stop_training = True
        if self.monitor not in logs:
            return
        row = {"step": int(self.model.optimizer.iterations.numpy()),
               "wall_time_seconds": self.initial_seconds + time.time() - self._started,
               "cpu_seconds": (None if self.initial_cpu_seconds is None else
                               self.initial_cpu_seconds + time.process_time() - self._started_cpu)}
        row.update({k: float(v) for k, v in logs.items()})
        earlier = [r[self.monitor] for r in self.rows if r.get(self.monitor) is not None]
        self.rows.append(row)
        self._write()
        if self.best_path is not None and row[self.monitor] > max(earlier, default=-math.inf):
            from kerasdis.io import save_model_atomic

            save_model_atomic(self.model, self.best_path)
        if self.plateau is None:
            self.plateau = self._plateau()
            if self.plateau is not None and self.stop_at_plateau:
                print(f"kerasdis: {self.monitor} reached its plateau at step {self.plateau} "
                      f"(best improved by less than {self.min_delta:g} over {self.window} "
                      "steps); stopping.")
                self.model.stop_training = True
