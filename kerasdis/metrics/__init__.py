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

Each module's docstring states its protocol and any deviation from the reference
implementation. `encode_grid(representation, ds)` builds the `GridCodes` cache that
the protocols accept as `codes=`.
"""

from kerasdis.metrics.beta_vae import beta_vae_score
from kerasdis.metrics.dci import dci
from kerasdis.metrics.discrete_mig import discrete_mig, sampled_discrete_mig
from kerasdis.metrics.elbo import elbo_decomposition
from kerasdis.metrics.evaluate import evaluate, names
from kerasdis.metrics.factor_vae import factor_vae_score
from kerasdis.metrics.mig import mig
from kerasdis.metrics.modularity_explicitness import modularity_explicitness
from kerasdis.metrics.representation import (
    GridCodes,
    encode_grid,
    is_model,
    representation_function,
    sample_codes,
)
from kerasdis.metrics.sap import sap
from kerasdis.metrics.unsupervised import (
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
    mutual_info_pairwise,
    unsupervised_scores,
)

__all__ = [
    "GridCodes",
    "beta_vae_score",
    "dci",
    "discrete_mig",
    "elbo_decomposition",
    "encode_grid",
    "evaluate",
    "factor_vae_score",
    "gaussian_total_correlation",
    "gaussian_wasserstein_correlation",
    "is_model",
    "mig",
    "modularity_explicitness",
    "mutual_info_pairwise",
    "names",
    "representation_function",
    "sample_codes",
    "sampled_discrete_mig",
    "sap",
    "unsupervised_scores",
]
