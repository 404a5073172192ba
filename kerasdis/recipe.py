"""The recipe of a training run: its keys, defaults and validation.

A recipe is a JSON-serialisable dict (see `kerasdis.training`). This module imports
neither TensorFlow nor Keras, so the `kerasdis` command checks a recipe before
TensorFlow loads.
"""

import math

from kerasdis import data as kd_data
from kerasdis import models as kd_models

DEFAULT_RECIPE = {
    "model": "beta_vae",
    "model_args": {},
    "dataset": "dsprites",
    "steps": 10_000,
    "batch_size": 64,
    "learning_rate": 1e-4,
    "seed": 0,
    "checkpoint_every": 1_000,
    "beta_annealing_steps": 0,
    "mixed_precision": False,
    "optimizer": "adam",
    # None: the model's own (FactorVAE: Adam 1e-4); only for models whose trait
    # `uses_discriminator_learning_rate` is True.
    "discriminator_learning_rate": None,
}
OPTIMIZERS = ("adam", "adagrad", "adagrad_zero_init")  # kerasdis.models.base.recipe_optimizer



def complete_recipe(recipe):
    """Fills defaults and validates a recipe; returns a new dict."""
    unknown = set(recipe) - set(DEFAULT_RECIPE)
    if unknown:
        raise ValueError(f"Unknown recipe keys {sorted(unknown)}; expected some of {sorted(DEFAULT_RECIPE)}.")
    full = {**DEFAULT_RECIPE, **recipe}
    full["model_args"] = dict(full["model_args"] or {})
    if full["model"] not in kd_models.builtin_names():
        kd_models.get(full["model"])  # a user's model: raises ValueError naming the registered ones
    if full["dataset"] not in kd_data.names():
        raise ValueError(f"`dataset` must be one of {kd_data.names()}, got {full['dataset']!r}.")
    for key in ("steps", "batch_size", "checkpoint_every"):
        value = full[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{key}` must be a positive integer, got {value!r}.")
    if not isinstance(full["seed"], int) or isinstance(full["seed"], bool):
        raise ValueError(f"`seed` must be an integer, got {full['seed']!r}.")
    lr = full["learning_rate"]
    if not isinstance(lr, (int, float)) or not lr > 0 or not math.isfinite(lr):
        raise ValueError(f"`learning_rate` must be a positive number, got {lr!r}.")
    if not isinstance(full["beta_annealing_steps"], int) or full["beta_annealing_steps"] < 0:
        raise ValueError(
            f"`beta_annealing_steps` must be a non-negative integer, got {full['beta_annealing_steps']!r}."
        )
    disc_lr = full["discriminator_learning_rate"]
    if disc_lr is not None:
        if isinstance(disc_lr, bool) or not isinstance(disc_lr, (int, float)) \
                or not disc_lr > 0 or not math.isfinite(disc_lr):
            raise ValueError(f"`discriminator_learning_rate` must be a positive number or "
                             f"null (to tie it to the VAE's, give `learning_rate`'s value), "
                             f"got {disc_lr!r}.")
        if not kd_models.get(full["model"]).uses_discriminator_learning_rate:
            takers = [n for n in kd_models.builtin_names()
                      if kd_models.get(n).uses_discriminator_learning_rate]
            raise ValueError(f"`discriminator_learning_rate` is taken only by {takers}; the "
                             f"model {full['model']!r} does not take it, so leave it unset "
                             f"(null), got {disc_lr!r}.")
    if full["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}, got {full['optimizer']!r}.")
    if not isinstance(full["mixed_precision"], bool):
        raise ValueError(f"`mixed_precision` must be true or false, got {full['mixed_precision']!r}.")
    return full
