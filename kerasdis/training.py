"""Resumable training runs: the code path behind `kerasdis train` and the zoo recipes.

A run is described by a *recipe*, a JSON-serialisable dict:

```python
recipe = {
    "model": "beta_tcvae",               # a name of MODELS
    "model_args": {"beta": 6.0, "estimator": "mss"},
    "dataset": "dsprites",
    "steps": 30_000, "batch_size": 64, "learning_rate": 1e-4, "seed": 0,
    "checkpoint_every": 2_000,
    "beta_annealing_steps": 0,           # > 0: linear warm-up of β (BetaAnnealing)
    "optimizer": "adam",                 # or "adagrad", "adagrad_zero_init" (recipe_optimizer)
    "discriminator_learning_rate": None,  # FactorVAE's discriminator (None: Adam 1e-4)
    "mixed_precision": False,            # True: bfloat16 compute, float32 variables/losses
}
```

Training batches are drawn i.i.d. (with replacement) from the dataset, batch `s`
from a stateless generator seeded by `(seed, s)`, as disentanglement_lib samples
its observations. The batch of every step is therefore a pure function of the
seed and the step, and the model's noise is too (see `GaussianLatentVAE.step_seed`),
so a run resumed from its last checkpoint continues exactly as an uninterrupted
run would. Checkpoints (`checkpoint.keras` with the optimizer state and
`state.json`) are written to a temporary file and renamed into place.

Under `tf.distribute` (`strategy="mirrored"`, `"multi_worker"` or a strategy
object) `batch_size` is the global batch, split over the replicas; see
`kerasdis.distribute` for what is per replica. With several workers every
worker runs `train` with the same arguments; only the chief writes `out_dir`
(the other workers save their checkpoints to a temporary directory, deleted at
the end), so `out_dir` must be on storage that all workers can read to resume.
"""

import collections.abc
import json
import os
import platform
import re
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from kerasdis import data as kd_data
from kerasdis import distribute as kd_distribute
from kerasdis import models as kd_models
from kerasdis import networks
from kerasdis.callbacks import BetaAnnealing, StopOnNonFinite
from kerasdis.data.streams import training_batches  # noqa: F401  (public here too)
from kerasdis.io import save_model_atomic, write_json
from kerasdis.recipe import DEFAULT_RECIPE, complete_recipe  # noqa: F401  (public here too)

CHECKPOINT = "checkpoint.keras"
STATE = "state.json"

class _RegisteredModels(collections.abc.Mapping):
    """`{name: class}` of the model registry (`kd.models.names()`), read live."""

    def __getitem__(self, name):
        if name not in kd_models.names():
            raise KeyError(name)
        return kd_models.get(name)

    def __iter__(self):
        return iter(kd_models.names())

    def __len__(self):
        return len(kd_models.names())


MODELS = _RegisteredModels()
"""The registered models by name (a live view of `kd.models.get` / `kd.models.names`)."""

def dtype_policy(recipe):
    """Global Keras dtype policy of a recipe while its model is built or loaded.

    `"mixed_precision": true` builds the networks under `"mixed_bfloat16"`: layers
    compute in bfloat16 and keep float32 variables, network outputs are cast to
    float32 (`kerasdis.networks`). bfloat16 keeps float32's exponent range, so
    no loss scaling is needed. It pays on CPUs with native bfloat16 (AVX512-BF16
    or AMX); elsewhere TensorFlow emulates it. `python benchmarks/train_throughput.py`
    measures it (the "kept" rows).
    """
    return networks.global_dtype_policy(
        "mixed_bfloat16" if recipe["mixed_precision"] else "float32")


def build_model(recipe, dataset):
    """Instantiates the recipe's model for `dataset` (the class's `dataset_args`, seed)."""
    cls = kd_models.get(recipe["model"])
    args = dict(recipe["model_args"])
    for key, value in cls.dataset_args(dataset).items():
        args.setdefault(key, value)
    args.setdefault("seed", recipe["seed"])
    return cls(**args)


def compile_model(model, recipe):
    """Compiles with the recipe's optimizer and learning rates (`compile_for_recipe` of
    the class; a user's class written before `optimizer` existed is called without it)."""
    kwargs = {}
    if recipe.get("optimizer", "adam") != "adam":
        kwargs["optimizer"] = recipe["optimizer"]
    if recipe.get("discriminator_learning_rate") is not None:
        kwargs["discriminator_learning_rate"] = recipe["discriminator_learning_rate"]
    model.compile_for_recipe(recipe["learning_rate"], **kwargs)


class _Checkpoint(keras.callbacks.Callback):
    """Saves `checkpoint.keras` and `state.json` atomically at the end of every epoch."""

    def __init__(self, out_dir, recipe, started):
        super().__init__()
        self.out_dir = out_dir
        self.recipe = recipe
        self.started = started
        self.started_cpu = time.process_time()
        self.previous_seconds = 0.0
        self.previous_cpu_seconds = 0.0

    nonfinite = ()

    def on_epoch_end(self, epoch, logs=None):
        bad = sorted(k for k, v in (logs or {}).items() if not np.isfinite(float(v)))
        if bad:  # never overwrite a good checkpoint with a diverged model
            self.nonfinite = bad
            self.model.stop_training = True
            return
        save_model_atomic(self.model, os.path.join(self.out_dir, CHECKPOINT))
        state = {
            "step": int(self.model.optimizer.iterations.numpy()),
            "wall_time_seconds": self.previous_seconds + time.time() - self.started,
            "cpu_seconds": (None if self.previous_cpu_seconds is None else
                            self.previous_cpu_seconds + time.process_time() - self.started_cpu),
            "last_logs": {k: float(v) for k, v in (logs or {}).items()},
        }
        write_json(os.path.join(self.out_dir, STATE), state)


def epoch_steps(recipe):
    """Steps between checkpoints (one Keras epoch): the largest divisor of the run's
    `steps` that is at most `checkpoint_every`."""
    every = min(recipe["checkpoint_every"], recipe["steps"])
    while recipe["steps"] % every:
        every -= 1  # checkpoints land on a divisor of the run length
    return every


def _check_out_dir(out_dir, resume, overwrite):
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not (resume or overwrite):
            raise FileExistsError(
                f"`out` directory {out_dir!r} exists and is not empty; pass resume=True "
                "(--resume) to continue the run in it or overwrite=True (--overwrite) to start over."
            )
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):  # leftovers of a write interrupted by a crash
        if ".tmp-" in name and os.path.isfile(os.path.join(out_dir, name)):
            os.remove(os.path.join(out_dir, name))


def _is_chief(strategy):
    """Whether this worker writes the run directory (see `kerasdis.distribute.is_chief`)."""
    return kd_distribute.is_chief(strategy)


# CPU features that change TensorFlow's speed by integer factors (oneDNN, bfloat16).
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def hardware():
    """Where a run trained: platform, CPU model and features, devices, oneDNN setting."""
    info = {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "system": platform.system(),
            "devices": [d.device_type for d in tf.config.list_physical_devices()],
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "tensorflow default")}
    try:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
    except OSError:
        return info
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    if model:
        info["cpu_model"] = model.group(1).strip()
    if flags:
        present = set(flags.group(1).split())
        info["cpu_features"] = [f for f in CPU_FEATURES if f in present]
    return info


# `kd.data.load` arguments that say where a dataset's files are on this machine. They
# are not recipe keys: the same recipe trains from data stored anywhere, and a
# resumed run may find its data elsewhere.
DATA_OPTIONS = ("data_dir", "manual_dir", "image_path", "download")


def check_data_options(data_dir=None, options=None):
    """The `kd.data.load` keywords of `train(..., data_dir=, data_options=)`, checked."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(DATA_OPTIONS))
    if unknown:
        raise ValueError(
            f"`data_options` takes where the data is ({list(DATA_OPTIONS)}), got {unknown}; "
            "what the data is (dataset, seed) belongs in the recipe.")
    if data_dir is not None:
        if options.get("data_dir") not in (None, data_dir):
            raise ValueError(f"`data_dir` {data_dir!r} and `data_options['data_dir']` "
                             f"{options['data_dir']!r} differ; give one.")
        options["data_dir"] = data_dir
    return {k: v for k, v in options.items() if v is not None}


def train(recipe, out_dir, resume=False, overwrite=False, verbose=1, callbacks=(),
          strategy=None, tensorboard=True, deterministic=False, data_dir=None,
          data_options=None):
    """Trains (or resumes) a run; returns `(model, summary dict)`.

    Args:
        recipe: dict, see the module docstring; missing keys take `DEFAULT_RECIPE`.
        out_dir: str. Run directory: `recipe.json`, `checkpoint.keras`,
            `state.json`, `logs/` (TensorBoard), `model.keras` at the end.
        resume: bool. Continue from `out_dir/checkpoint.keras` if present.
        overwrite: bool. Start over in a non-empty `out_dir`.
        verbose: int. Keras progress bar verbosity.
        callbacks: extra Keras callbacks.
        strategy: a `tf.distribute.Strategy`, a name of `kerasdis.distribute.STRATEGIES`
            (`"default"`, `"mirrored"`, `"multi_worker"`: cluster from `TF_CONFIG`)
            or None (the current strategy). Non-chief workers never write `out_dir`.
        tensorboard: bool. Write TensorBoard logs to `out_dir/logs`.
        deterministic: bool. Turn on TensorFlow op determinism
            (`tf.config.experimental.enable_op_determinism()`, process-wide), so the
            same recipe gives bit-identical weights; without it, results agree to
            float rounding (multithreaded reductions may sum in another order).
        data_dir: str or None. Where the recipe's dataset is (the TFDS data
            directory; manual downloads in `<data_dir>/downloads/manual`), passed
            to `kd.data.load`: `"chairs3d"`, `"cars3d"`, `"mpi3d_*"`, ...
        data_options: dict or None. More of `kd.data.load`'s location arguments
            (`DATA_OPTIONS`: `manual_dir`, `image_path` for `"scream_dsprites"`,
            `download`). Neither is part of the recipe (it stays comparable across
            machines and resumes where the data has moved); the dataset is loaded
            before anything is written, so missing data leaves `out_dir` as it was.

    Raises:
        ManualDownloadError: (a `ValueError`) the dataset is not on this machine;
            the message says where to get it and where to put it.
    """
    load_options = check_data_options(data_dir, data_options)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    recipe = complete_recipe(recipe)
    # Created first: MultiWorkerMirroredStrategy must exist before TensorFlow runs ops.
    strategy = kd_distribute.get_strategy(strategy)
    chief = _is_chief(strategy)
    if not chief:  # the chief checks and writes out_dir; this worker writes a temporary copy
        write_dir = tempfile.mkdtemp(prefix="kerasdis-worker-")
        try:
            return _train(recipe, out_dir, write_dir, resume, verbose, callbacks, strategy,
                          tensorboard, load_options)
        finally:
            shutil.rmtree(write_dir, ignore_errors=True)
    _check_out_dir(out_dir, resume, overwrite)
    return _train(recipe, out_dir, out_dir, resume, verbose, callbacks, strategy, tensorboard,
                  load_options)


def _train(recipe, out_dir, write_dir, resume, verbose, callbacks, strategy, tensorboard,
           load_options=None):
    """`train` once the strategy is known: reads the run from `out_dir`, writes `write_dir`."""
    chief = write_dir == out_dir
    recipe_path = os.path.join(out_dir, "recipe.json")
    checkpoint_path = os.path.join(out_dir, CHECKPOINT)
    resuming = resume and os.path.exists(recipe_path)
    if resuming:
        with open(recipe_path) as f:
            saved = complete_recipe(json.load(f))  # recipes saved before a new key was added
        if saved != recipe:
            raise ValueError(
                f"`recipe` differs from the one the run in {out_dir!r} was started with; "
                f"saved {saved}, given {recipe}. Start a new run or pass the same settings."
            )
    load = resuming and os.path.exists(checkpoint_path)
    # Before anything is written: a dataset missing here leaves out_dir as it was.
    dataset = kd_data.load(recipe["dataset"], **(load_options or {}))
    if chief and not resuming:
        for stale in (checkpoint_path, os.path.join(out_dir, STATE)):
            if os.path.exists(stale):
                os.remove(stale)
    if chief:  # unset keys (None) are left out: they read back as their defaults
        write_json(recipe_path, {k: v for k, v in recipe.items() if v is not None})
    previous_seconds = previous_cpu_seconds = 0.0
    with strategy.scope(), dtype_policy(recipe):
        if load:
            kd_models.load_builtins()
            model = keras.saving.load_model(checkpoint_path, safe_mode=True)
            with open(os.path.join(out_dir, STATE)) as f:
                previous = json.load(f)
            previous_seconds = previous.get("wall_time_seconds", 0.0)
            previous_cpu_seconds = previous.get("cpu_seconds")  # None: not recorded before
        else:
            model = build_model(recipe, dataset)
            compile_model(model, recipe)
    kd_distribute.fix_multi_worker_logs(model)  # Keras 3 cannot reduce scalar logs over workers

    every = epoch_steps(recipe)
    done = int(model.optimizer.iterations.numpy())
    if done % every:
        raise ValueError(f"checkpoint at step {done} is not on the checkpoint grid of {every} steps.")
    epochs = recipe["steps"] // every

    run_callbacks = [*callbacks]
    if recipe["beta_annealing_steps"] and hasattr(model, "beta"):
        run_callbacks.insert(0, BetaAnnealing(
            target=float(recipe["model_args"].get("beta", model.initial_beta)),
            steps=recipe["beta_annealing_steps"]))
    started = time.time()
    checkpoint = _Checkpoint(write_dir, recipe, started)
    checkpoint.previous_seconds = previous_seconds
    checkpoint.previous_cpu_seconds = previous_cpu_seconds
    run_callbacks.append(checkpoint)
    if tensorboard:
        run_callbacks.append(keras.callbacks.TensorBoard(os.path.join(write_dir, "logs")))
    stop_on_nonfinite = StopOnNonFinite()
    run_callbacks.insert(0, stop_on_nonfinite)

    history = None
    if done < recipe["steps"]:
        if chief:  # the final model of an earlier end (e.g. a plateau) is no longer current
            for stale in ("model.keras", "training.json"):
                if os.path.exists(os.path.join(out_dir, stale)):
                    os.remove(os.path.join(out_dir, stale))
        batches = model.training_batches(dataset, recipe["batch_size"], recipe["seed"],
                                         first_step=done)
        history = model.fit(batches, steps_per_epoch=every, epochs=epochs,
                            initial_epoch=done // every, callbacks=run_callbacks, verbose=verbose,
                            shuffle=False)
    nonfinite = stop_on_nonfinite.nonfinite or checkpoint.nonfinite
    if nonfinite:
        raise FloatingPointError(
            f"Training stopped at step {int(model.optimizer.iterations.numpy())}: the loss terms "
            f"{list(nonfinite)} became non-finite. The last good checkpoint is kept in "
            f"{checkpoint_path!r}; lower the learning rate or the weights and resume."
        )
    state_path = os.path.join(write_dir, STATE)
    if not os.path.exists(state_path):  # a non-chief worker that had nothing left to train
        state_path = os.path.join(out_dir, STATE)
    with open(state_path) as f:
        state = json.load(f)
    save_model_atomic(model, os.path.join(write_dir, "model.keras"))
    summary = {
        "recipe": recipe,
        "steps": int(model.optimizer.iterations.numpy()),
        "wall_time_seconds": state["wall_time_seconds"],
        "cpu_seconds": state.get("cpu_seconds"),
        "hardware": hardware(),
        "final_logs": state.get("last_logs", {}),
        "history": None if history is None else {k: [float(x) for x in v] for k, v in history.history.items()},
    }
    write_json(os.path.join(write_dir, "training.json"), summary)
    return model, summary
