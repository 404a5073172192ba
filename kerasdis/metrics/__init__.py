"""Disentanglement metrics.

Code-based (arrays of codes `[n, D]` and integer factors `[n, K]`):

- `discrete_mig(codes, factors)`: Mutual Information Gap, discretised (disentanglement_lib).
- `dci(codes_train, factors_train, codes_test, factors_test)`: Eastwood & Williams 2018.
- `sap(...)`: Kumar et al. 2018.
- `modularity_explicitness(...)`: Ridgeway & Zemel 2018.
- `gaussian_total_correlation(codes)`, `gaussian_wasserstein_correlation(codes)`,
  `mutual_info_pairwise(codes)`, `unsupervised_scores(codes)`: disentanglement_lib's
  unsupervised scores.

Protocols on a representation (a kerasdis model, or a callable images -> codes) and a
ground-truth dataset:

- `beta_vae_score`: Higgins et al. 2017; `factor_vae_score`: Kim & Mnih 2018;
  `sampled_discrete_mig`: disentanglement_lib's MIG on sampled points.
- `mig(model, ds)`: the estimator of Chen et al. 2018 over the whole factor grid.
- `elbo_decomposition(model, ds)`: index-code MI, total correlation and dimension-wise
  KL (Chen et al. 2018).
- `evaluate(representation, ds, metrics=None, seed=0)`: all of them, sharing one
  encoding of the factor grid; JSON-serialisable. `names()` lists the metric names.

Model selection without labels (several models, images only):

- `udr(models, images_or_dataset)`: Unsupervised Disentanglement Ranking (Duan et al.
  2020), from the similarity of the models' informative latents.

Each module's docstring states its protocol and any deviation from the reference
implementation. `encode_grid(representation, ds)` builds the `GridCodes` cache that
the protocols accept as `codes=`. What kerasdis knows about each metric (its
primary score, direction, what it needs, its defaults, the module that computes it)
is in `kerasdis.metrics.registry`; `register(name, ...)` adds a metric of your own
to `evaluate` (see `kerasdis.metrics.registry.register`).

The names below are imported on first use, so `kerasdis.metrics.registry` (and the
`kerasdis` command's checks) need no TensorFlow.
"""

from kerasdis import _lazy
from kerasdis.metrics.registry import names, register

__getattr__, __dir__, _functions = _lazy.attach(__name__, {
    "beta_vae_score": ".beta_vae",
    "beta_vae_scores": ".beta_vae",
    "dci": ".dci",
    "discrete_mig": ".discrete_mig",
    "sampled_discrete_mig": ".discrete_mig",
    "elbo_decomposition": ".elbo",
    "evaluate": ".evaluate",
    "factor_vae_score": ".factor_vae",
    "mig": ".mig",
    "modularity_explicitness": ".modularity_explicitness",
    "GridCodes": ".representation",
    "encode_grid": ".representation",
    "is_model": ".representation",
    "representation_function": ".representation",
    "sample_codes": ".representation",
    "sap": ".sap",
    "udr": ".udr",
    "gaussian_total_correlation": ".unsupervised",
    "gaussian_wasserstein_correlation": ".unsupervised",
    "mutual_info_pairwise": ".unsupervised",
    "unsupervised_scores": ".unsupervised",
})
__all__ = [*_functions, "names", "register"]
