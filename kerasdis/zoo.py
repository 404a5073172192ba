"""The zoo: pretrained presets of kerasdis models, and publishing a run as one.

```python
kd.zoo.list()                              # names of the shipped presets
model = kd.zoo.load("beta_tcvae_dsprites")  # or kd.models.BetaTCVAE.from_preset(...)
kd.zoo.info("beta_tcvae_dsprites")["metrics"]["mig"]["mig"]
kd.zoo.publish("runs/tcvae", "my_tcvae", zoo_dir="my_zoo")
```

Reading, verifying and writing preset files is `kerasdis.preset` (below the
models); this module adds `publish`, which turns a training run into a preset.
"""

import os

import keras

from kerasdis import models as kd_models
from kerasdis import preset as preset_files
from kerasdis.preset import (  # noqa: F401  (the zoo's public names)
    BUILTIN_DIR,
    CONFIG_FILE,
    ENV_ZOO_DIR,
    METADATA_FILE,
    NAME_PATTERN,
    PRESET_FILES,
    WEIGHTS_FILE,
    _read_json,
    info,
    list_presets,
    make_archive,
    resolve,
    save_to_preset,
    sha256_of,
    zoo_dirs,
)


def load(preset, expected_class=None, sha256=None, cache_dir=None):
    """Loads a preset (name, directory or URL) as a model; see `kerasdis.preset.load`.

    Every built-in model class is registered first, so any kerasdis preset loads
    after a bare `import kerasdis`.
    """
    kd_models.load_builtins()
    return preset_files.load(preset, expected_class=expected_class, sha256=sha256,
                             cache_dir=cache_dir)


def publish(run, name, metrics=None, recipe=None, training=None, zoo_dir=None,
            overwrite=False, seed=0, extra=None):
    """Turns a finished training run (or a model) into a named preset; returns its path.

    Args:
        run: a run directory of `kerasdis.training.train` (`model.keras`, else
            `checkpoint.keras`; `recipe.json`; `training.json`, else `state.json`)
            or a model.
        name: str matching `^[a-z0-9_]+$`, e.g. `"beta_tcvae_dsprites"`.
        metrics: dict or None. Scores of `kd.metrics.evaluate`; None evaluates the
            model on the recipe's dataset now (minutes on dSprites).
        recipe: dict or None. Defaults to the run's `recipe.json`.
        training: dict or None with `steps`, `wall_time_seconds`, `cpu_seconds`,
            `hardware` (where the run trained).
            Defaults to the run's `training.json` (or `state.json`).
        zoo_dir: str or None. Where the preset goes; defaults to the shipped zoo
            (`kerasdis/presets/`, packaged in the wheel).
        overwrite: bool. Replace an existing preset of that name.
        seed: int. Seed of `kd.metrics.evaluate` when `metrics` is None.
        extra: dict or None. More metadata, e.g. what `kerasdis.zoo_runs.publish_entry`
            records: `seeds` (every seed's scores), `selection`, `plateau`, `curve`.
    """
    from kerasdis import training as kd_training

    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(f"preset name must match ^[a-z0-9_]+$, got {name!r}.")
    source = None
    if isinstance(run, keras.Model):
        model = run
    else:
        run = os.fspath(run)
        for candidate in ("model.keras", kd_training.CHECKPOINT):
            if os.path.isfile(os.path.join(run, candidate)):
                source = candidate
                break
        else:
            raise ValueError(
                f"run directory {run!r} holds neither model.keras nor checkpoint.keras.")
        kd_models.load_builtins()
        model = keras.saving.load_model(os.path.join(run, source), safe_mode=True, compile=False)
        if recipe is None and os.path.isfile(os.path.join(run, "recipe.json")):
            recipe = _read_json(os.path.join(run, "recipe.json"), run)
        if training is None:
            if os.path.isfile(os.path.join(run, "training.json")):
                training = _read_json(os.path.join(run, "training.json"), run)
            elif os.path.isfile(os.path.join(run, kd_training.STATE)):
                state = _read_json(os.path.join(run, kd_training.STATE), run)
                training = {"steps": state.get("step"),
                            "wall_time_seconds": state.get("wall_time_seconds"),
                            "cpu_seconds": state.get("cpu_seconds"),
                            "hardware": kd_training.hardware()}
    recipe = dict(recipe) if recipe is not None else None
    training = dict(training or {})
    dataset = recipe.get("dataset") if recipe else None
    if metrics is None:
        if dataset is None:
            raise ValueError("`metrics` is None and there is no recipe dataset to evaluate on.")
        from kerasdis import data as kd_data
        from kerasdis import metrics as kd_metrics

        metrics = kd_metrics.evaluate(model, kd_data.load(dataset), seed=seed)
    steps = training.get("steps")
    metadata = {
        "name": name,
        "dataset": dataset,
        "recipe": recipe,
        "seed": recipe.get("seed") if recipe else None,
        "steps": steps,
        # finished: at the recipe's steps, or at the plateau of a zoo run (kerasdis.zoo_runs)
        "complete": bool(recipe and steps is not None and (
            steps >= recipe.get("steps", 0) or bool((extra or {}).get("plateau")))),
        "wall_time_seconds": training.get("wall_time_seconds"),
        "cpu_seconds": training.get("cpu_seconds"),
        "hardware": training.get("hardware"),
        "source": source,
        "evaluation_seed": seed,
        "metrics": metrics,
    }
    clash = sorted(set(extra or {}) & set(metadata))
    if clash:
        raise ValueError(f"`extra` must not redefine the metadata keys {clash}.")
    metadata.update(extra or {})
    target = os.path.join(os.fspath(zoo_dir) if zoo_dir is not None else BUILTIN_DIR, name)
    return save_to_preset(model, target, metadata=metadata, overwrite=overwrite)


# The public name of the design doc, `kd.zoo.list()`.
list = list_presets  # noqa: A001

# `list` stays out of __all__ so that `from kerasdis.zoo import *` keeps the builtin.
__all__ = ["list_presets", "load", "info", "save_to_preset", "publish", "resolve",
           "make_archive", "sha256_of", "zoo_dirs"]
