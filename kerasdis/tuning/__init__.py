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

Without labels: `objective="val_udr"` with `seeds_per_trial=k` (k >= 2) trains each
trial's hyper-parameters with k seeds (`seed`, ..., `seed + k - 1`), epoch by
epoch, and scores every epoch by the median over the k seeds of their UDR scores
(Unsupervised Disentanglement Ranking, Duan et al. 2020, who compare models with
the same hyper-parameters; `kd.metrics.udr`, protocol in `udr_options`, e.g.
`{"num_samples": 5_000, "correlation": "lasso"}`). No labelled metric runs unless
`metrics=` asks for one, so a dataset without factors can be searched:

```python
result = tuning.search("beta_vae", kd.data.from_arrays(my_images), tuner="grid",
                       objective="val_udr", seeds_per_trial=3, beta=[1.0, 4.0, 16.0],
                       latent_dim=[6, 10], max_trials=None, directory="tuning")
```

Cost: k trainings per trial, i.e. k times a one-seed search, plus each epoch one
encoding of `num_samples` images (default 10,000) by the k models. The trial's
checkpoint and the best model are those of seed `seed`. Not with Hyperband, which
continues a trial from a checkpoint that holds only that first seed.

Search directory (`directory/project_name`): keras-tuner's own files (`oracle.json`,
`trial_<id>/trial.json`, checkpoints), `search.json` (the settings, checked when a
search is resumed), `trial_<id>/kerasdis_trial.json` (wall time, worker, per-epoch
logs), `runs.jsonl` (one line per trial start/end/error, whichever process ran it),
and, at the end, `results.csv`, `results.json` and `tradeoff.png`.
`load_trial_model(project_dir, trial_id)` rebuilds any trial's model with the weights
of its best epoch; `estimate_trial_seconds(search_hypermodel(...))` times a few training
steps and the encoder to say how long a trial will take here (`kerasdis tune` prints it).

Resuming: run the same `search(...)` again with `overwrite=False` (the default): the
completed trials are kept and an interrupted trial is run again. The oracle's files
are written atomically and its state is repaired on reload, so a search killed at
any point resumes without repeating a completed trial.

Distributed tuning uses keras-tuner's chief/worker protocol over gRPC: one chief
process (`role="chief"`) hands out trials, any number of workers (`role="worker"`)
run them, all sharing `directory`. See `search` and `kerasdis tune --role`.

Modules: `hypermodel` (the searched model, its space, `val_tradeoff` and `val_udr`),
`oracles` (resumable keras-tuner oracles and tuners; the only user of private
keras-tuner API), `results` (the trial table and the files written at the end),
`searching` (`search`, `make_tuner`, the distributed roles).
"""

from kerasdis.tuning.hypermodel import (DEFAULT_LATENT_DIM, DEFAULT_LEARNING_RATE, OBJECTIVES,
                                        UDR_OPTIONS, DisentanglementHyperModel, SeedTwins,
                                        TradeoffScore, check_metrics, check_udr_options,
                                        describe_dataset, estimate_trial_seconds,
                                        objective_metric)
from kerasdis.tuning.oracles import RUNS_FILE, TRIAL_FILE
from kerasdis.tuning.results import SearchResult, plot_tradeoff, results_table, write_results
from kerasdis.tuning.searching import (ROLES, SEARCH_FILE, TUNERS, load_trial_model,
                                       make_tuner, search, search_hypermodel)

__all__ = [
    "DEFAULT_LATENT_DIM", "DEFAULT_LEARNING_RATE", "OBJECTIVES", "ROLES", "RUNS_FILE",
    "SEARCH_FILE", "TRIAL_FILE", "TUNERS", "UDR_OPTIONS", "DisentanglementHyperModel",
    "SearchResult", "SeedTwins", "TradeoffScore", "check_metrics", "check_udr_options",
    "describe_dataset", "estimate_trial_seconds", "load_trial_model", "make_tuner",
    "objective_metric", "plot_tradeoff", "results_table", "search", "search_hypermodel",
    "write_results",
]
