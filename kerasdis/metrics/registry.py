"""The metric registry: what kerasdis knows about each metric, in one place.

`evaluate`, the `DisentanglementMetrics` callback (`val_<name>` logs), the tuner's
objectives, the zoo table and the command line read this table; the computation of
each metric lives in its own module, named here by a string (`module`) and imported
by `evaluate` on first use. Plain Python, so the `kerasdis` command checks metric
names before TensorFlow loads.

Each entry (`MetricSpec`):
    primary: the key of the metric's result that is its single score (logged as
        `val_<name>`, shown in tables).
    direction: `"max"` if a larger score is better, `"min"` otherwise.
    needs_model: True if the metric needs a model's posterior (`encode` -> mean and
        log-variance), not just a function images -> codes.
    needs_factors: False for the label-free metrics.
    multi_model: True for a metric of several models at once (UDR): it is not run
        by `evaluate(representation, ds)` but by its own function.
    kind: how `evaluate` runs it (below); None for a multi-model metric.
    module: the module holding the metric's adapter, e.g. `"kerasdis.metrics.sap"`.
    defaults: the default parameters (`options[name]` overrides them; recorded in
        the results' protocol entry). `kerasdis.metrics.evaluate.DEFAULTS[name]`.
    options: parameter names `options[name]` accepts besides `defaults` (those of a
        metric's other protocols, e.g. "higgins2017" of "beta_vae").
    grid_on_stochastic: True if the metric reads the encoded factor grid even on a
        dataset with stochastic images (MIG over the grid's posteriors): `evaluate`
        then encodes the grid there too when worthwhile, and passes it as `codes`.

Adding a metric is one module (its computation and an adapter, below) plus its
entry, made with `register` (here for kerasdis's own metrics; in the metric's
module for a user's) plus its test; `evaluate` needs no change. The adapter's
signature depends on `kind`:

- `"codes"`: `evaluate_codes(codes, factors, **params) -> dict`, on `num_train`
  codes `[n, D]` and factors `[n, K]` sampled by `evaluate` (the training sample
  shared by every code metric).
- `"codes_train_test"`: `evaluate_codes(codes_train, factors_train, codes_test,
  factors_test, **params) -> dict`, on the shared training (`num_train`) and test
  (`num_test`) samples.

  For both code kinds `defaults` must have `num_train` (and `num_test`); `params`
  are the other parameters.
- `"protocol"`: the metric samples and encodes itself:
  `evaluate_protocol(representation, ds, *, seed, codes, encode_grid,
  encode_batch_size, verbose, **params) -> dict`, where `codes` is the encoded
  factor grid (`GridCodes`) or None and `encode_grid` the `evaluate` argument
  (False once the grid is encoded). Optional hooks of the module:
  `images_needed(params, grid_size) -> int` (the images the protocol would encode
  that a grid encoding can serve; `evaluate` encodes the grid once when that is
  cheaper; absent: 0), `images_apart(params, num_examples) -> int` (images it
  encodes itself whatever the grid, for `cost`; absent: 0) and
  `resolve_params(options) -> params` (for a metric with named protocols: its
  parameters for `options[name]`, raising `ValueError` for bad ones; absent: the
  defaults updated by the options).
"""

import dataclasses
import re

KINDS = ("codes", "codes_train_test", "protocol")
# The arguments `evaluate` passes to an adapter itself: no parameter may be named so.
RESERVED = frozenset({"representation", "ds", "seed", "codes", "encode_grid",
                      "encode_batch_size", "verbose", "factors", "codes_train",
                      "factors_train", "codes_test", "factors_test"})
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    name: str
    primary: str
    direction: str = "max"
    needs_model: bool = False
    needs_factors: bool = True
    multi_model: bool = False
    kind: str = None
    module: str = None
    defaults: dict = dataclasses.field(default_factory=dict, hash=False)
    options: tuple = ()
    grid_on_stochastic: bool = False


_HIGGINS2017_ONLY = ("learning_rate", "standardize", "classifier_batch_size", "max_epochs",
                     "tolerance", "patience")

_SPECS = (
    # Default parameters: the published protocols.
    MetricSpec("mig", "mig", needs_model=True, kind="protocol",
               module="kerasdis.metrics.mig", grid_on_stochastic=True,
               defaults={"num_samples": 10_000, "subsample": None, "include_factors": None,
                         "estimator": "chen"}),
    MetricSpec("discrete_mig", "discrete_mig", kind="codes",
               module="kerasdis.metrics.discrete_mig",
               defaults={"num_train": 10_000, "num_bins": 20}),
    # "dlib" (default) or "higgins2017"; the parameters of both are accepted, those of
    # the chosen protocol apply (`kerasdis.metrics.beta_vae.PROTOCOL_DEFAULTS`).
    MetricSpec("beta_vae", "eval_accuracy", kind="protocol",
               module="kerasdis.metrics.beta_vae", options=_HIGGINS2017_ONLY,
               defaults={"protocol": "dlib", "num_train": 10_000, "num_eval": 5_000,
                         "batch_size": 64}),
    MetricSpec("factor_vae", "eval_accuracy", kind="protocol",
               module="kerasdis.metrics.factor_vae",
               defaults={"num_train": 10_000, "num_eval": 5_000,
                         "num_variance_estimate": 10_000, "batch_size": 64,
                         "prune_threshold": 0.05}),
    MetricSpec("dci", "disentanglement", kind="codes_train_test",
               module="kerasdis.metrics.dci",
               defaults={"num_train": 10_000, "num_test": 5_000, "classifier": "gbt"}),
    MetricSpec("sap", "sap", kind="codes_train_test", module="kerasdis.metrics.sap",
               defaults={"num_train": 10_000, "num_test": 5_000,
                         "continuous_factors": False}),
    MetricSpec("modularity_explicitness", "modularity", kind="codes_train_test",
               module="kerasdis.metrics.modularity_explicitness",
               defaults={"num_train": 10_000, "num_test": 5_000, "num_bins": 20}),
    # Gaussian total correlation of the codes: lower is more factorised.
    MetricSpec("unsupervised", "gaussian_total_correlation", direction="min", kind="codes",
               module="kerasdis.metrics.unsupervised",
               defaults={"num_train": 10_000, "num_bins": 20}),
    # "subsample" (10,000 images as mixture components) or "chen2018" (the authors':
    # every image of the dataset); recorded in the protocol entry of the results
    # (`kerasdis.metrics.elbo.PROTOCOL_DEFAULTS`).
    MetricSpec("elbo", "elbo", needs_model=True, needs_factors=False, kind="protocol",
               module="kerasdis.metrics.elbo",
               defaults={"protocol": "subsample", "num_images": 10_000, "num_samples": None}),
)
METRICS = {spec.name: spec for spec in _SPECS}
"""The metrics of one representation that `kd.metrics.evaluate` runs, in its order
(kerasdis's own, then the registered ones in the order of registration)."""
BUILTINS = frozenset(METRICS)

MULTI_MODEL_METRICS = {
    # Unsupervised Disentanglement Ranking (Duan et al. 2020): per-model scores from
    # the agreement of several models' latents (`kd.metrics.udr`).
    "udr": MetricSpec("udr", "scores", needs_model=True, needs_factors=False,
                      multi_model=True, module="kerasdis.metrics.udr"),
}


def register(name, *, primary, kind, module, defaults=None, direction="max",
             needs_model=False, needs_factors=True, options=(), grid_on_stochastic=False):
    """Registers a metric of one representation, run by `kd.metrics.evaluate`.

    ```python
    # mypackage/my_metric.py
    import numpy as np
    from kerasdis.metrics import registry

    def evaluate_codes(codes, factors, scale=1.0):
        return {"mean_abs_code": scale * float(np.mean(np.abs(codes)))}

    registry.register("mean_abs_code", primary="mean_abs_code", kind="codes",
                      module=__name__, defaults={"num_train": 10_000, "scale": 1.0})
    ```

    After `import mypackage.my_metric`, `kd.metrics.evaluate(model, ds)` runs it with
    the others (`options={"mean_abs_code": {...}}`, `metrics=["mean_abs_code"]`).

    Args:
        name: lower-case snake case, the key of the results.
        primary, direction, needs_model, needs_factors, options, grid_on_stochastic:
            see the module docstring.
        kind: `"codes"`, `"codes_train_test"` or `"protocol"`: which adapter
            `module` defines (module docstring).
        module: the name of the module with the adapter (often `__name__`); imported
            by `evaluate` when the metric runs, not by this call.
        defaults: dict of the default parameters (the code kinds need `num_train`,
            and `"codes_train_test"` `num_test`).

    Returns:
        The `MetricSpec`. Registering the same spec again (a re-imported module) is
        a no-op.

    Raises:
        ValueError: a bad argument, or `name` is already registered differently.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"`name` must be lower-case snake case like 'my_metric', got {name!r}.")
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {', '.join(map(repr, KINDS))}, got {kind!r}.")
    if not isinstance(module, str) or not module:
        raise ValueError(f"`module` must be a module name such as __name__, got {module!r}.")
    if not isinstance(primary, str):
        raise ValueError(f"`primary` must be the key of the score in the result, got "
                         f"{primary!r}.")
    if direction not in ("max", "min"):
        raise ValueError(f"`direction` must be 'max' or 'min', got {direction!r}.")
    defaults = dict(defaults or {})
    options = tuple(options)
    reserved = sorted(RESERVED.intersection([*defaults, *options]))
    if reserved:
        raise ValueError(f"`defaults`: {reserved} are the names of arguments `evaluate` "
                         "passes itself; name the parameters otherwise.")
    required = {"codes": ("num_train",), "codes_train_test": ("num_train", "num_test")}
    missing = [k for k in required.get(kind, ()) if k not in defaults]
    if missing:
        raise ValueError(f"`defaults` of a metric of kind {kind!r} must set {missing} (the "
                         "sample sizes `evaluate` draws).")
    if kind != "protocol" and not needs_factors:
        raise ValueError(f"a metric of kind {kind!r} is computed from sampled factors: "
                         "`needs_factors` must be True.")
    spec = MetricSpec(name, primary, direction=direction, needs_model=bool(needs_model),
                      needs_factors=bool(needs_factors), kind=kind, module=module,
                      defaults=defaults, options=options,
                      grid_on_stochastic=bool(grid_on_stochastic))
    existing = METRICS.get(name) or MULTI_MODEL_METRICS.get(name)
    if existing is not None and existing != spec:
        raise ValueError(f"metric {name!r} is already registered (module "
                         f"{existing.module!r}); choose another name.")
    METRICS[name] = spec
    return spec


def unregister(name):
    """Removes a metric added with `register` (kerasdis's own stay)."""
    if name in BUILTINS or name in MULTI_MODEL_METRICS:
        raise ValueError(f"{name!r} is one of kerasdis's own metrics; it cannot be removed.")
    if name not in METRICS:
        raise ValueError(f"no registered metric {name!r}.")
    del METRICS[name]


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
