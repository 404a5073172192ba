"""The metric registry: what kerasdis knows about each metric, in one place.

`evaluate`, the `DisentanglementMetrics` callback (`val_<name>` logs), the tuner's
objectives, the zoo table and the command line read this table; the computation of
each metric lives in its own module. Plain Python, so the `kerasdis` command checks
metric names before TensorFlow loads.

Each entry:
    primary: the key of the metric's result that is its single score (logged as
        `val_<name>`, shown in tables).
    direction: `"max"` if a larger score is better, `"min"` otherwise.
    needs_model: True if the metric needs a model's posterior (`encode` -> mean and
        log-variance), not just a function images -> codes.
    needs_factors: False for the label-free metrics.
    multi_model: True for a metric of several models at once (UDR): it is not run
        by `evaluate(representation, ds)` but by its own function.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    name: str
    primary: str
    direction: str = "max"
    needs_model: bool = False
    needs_factors: bool = True
    multi_model: bool = False


_SPECS = (
    MetricSpec("mig", "mig", needs_model=True),
    MetricSpec("discrete_mig", "discrete_mig"),
    MetricSpec("beta_vae", "eval_accuracy"),
    MetricSpec("factor_vae", "eval_accuracy"),
    MetricSpec("dci", "disentanglement"),
    MetricSpec("sap", "sap"),
    MetricSpec("modularity_explicitness", "modularity"),
    # Gaussian total correlation of the codes: lower is more factorised.
    MetricSpec("unsupervised", "gaussian_total_correlation", direction="min"),
    MetricSpec("elbo", "elbo", needs_model=True, needs_factors=False),
)
METRICS = {spec.name: spec for spec in _SPECS}
"""The metrics of one representation that `kd.metrics.evaluate` runs, in its order."""

MULTI_MODEL_METRICS = {
    # Unsupervised Disentanglement Ranking (Duan et al. 2020): per-model scores from
    # the agreement of several models' latents (`kd.metrics.udr`).
    "udr": MetricSpec("udr", "scores", needs_model=True, needs_factors=False,
                      multi_model=True),
}


def names():
    """Names of the metrics known to `kd.metrics.evaluate`, in evaluation order."""
    return tuple(METRICS)


def all_names():
    """Every metric name: `names()` and the metrics of several models (`"udr"`)."""
    return (*METRICS, *MULTI_MODEL_METRICS)


def get(name):
    """The `MetricSpec` of `name`; raises ValueError naming the known metrics."""
    spec = METRICS.get(name) or MULTI_MODEL_METRICS.get(name)
    if spec is None:
        raise ValueError(f"unknown metric {name!r}; valid names are {', '.join(all_names())}.")
    return spec
