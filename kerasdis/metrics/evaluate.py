"""`evaluate`: every metric of a representation on a dataset, sharing the encoding.

```python
scores = kd.metrics.evaluate(model, kd.data.load("dsprites"), seed=0)
scores["beta_vae"]["eval_accuracy"], scores["mig"]["mig"], scores["protocol"]
json.dumps(scores)   # plain floats / ints / lists / dicts
```

Sharing: with a finite factor grid that is cheaper to encode than the samples the
protocols need (dSprites: 737,280 images vs. 3M), the grid is encoded once (means
and, for a model, log-variances) and every metric looks codes up in it. The
code-based metrics (`discrete_mig`, `dci`, `sap`, `modularity_explicitness`,
`unsupervised`) share one training sample (`num_train`, drawn with
`default_rng(seed)`, the same points as `sampled_discrete_mig(..., seed=seed)`) and
one test sample (`num_test`, drawn with `default_rng([seed, 1])`).
"""

import time

import numpy as np

from kerasdis.io import jsonable
from kerasdis.metrics import registry
from kerasdis.metrics import representation as rep
from kerasdis.metrics.beta_vae import PROTOCOL_DEFAULTS as BETA_VAE_PROTOCOLS
from kerasdis.metrics.beta_vae import beta_vae_score, protocol_params
from kerasdis.metrics.dci import dci
from kerasdis.metrics.discrete_mig import discrete_mig
from kerasdis.metrics.elbo import DEFAULT_PROTOCOL as ELBO_PROTOCOL
from kerasdis.metrics.elbo import PROTOCOL_DEFAULTS as ELBO_PROTOCOLS
from kerasdis.metrics.elbo import elbo_decomposition
from kerasdis.metrics.elbo import protocol_params as elbo_protocol_params
from kerasdis.metrics.factor_vae import factor_vae_score
from kerasdis.metrics.mig import DEFAULT_NUM_SAMPLES, mig
from kerasdis.metrics.modularity_explicitness import modularity_explicitness
from kerasdis.metrics.sap import sap
from kerasdis.metrics.unsupervised import unsupervised_scores

_ORDER = registry.names()
MODEL_ONLY = frozenset(n for n, spec in registry.METRICS.items() if spec.needs_model)
NO_FACTORS = frozenset(n for n, spec in registry.METRICS.items() if not spec.needs_factors)
_CODE_BASED = frozenset({"discrete_mig", "dci", "sap", "modularity_explicitness", "unsupervised"})
_TRAIN_TEST = frozenset({"dci", "sap", "modularity_explicitness"})

# Default parameters of each metric (the published protocols).
DEFAULTS = {
    "mig": {"num_samples": DEFAULT_NUM_SAMPLES, "subsample": None, "include_factors": None,
            "estimator": "chen"},
    "discrete_mig": {"num_train": 10_000, "num_bins": 20},
    "beta_vae": {"protocol": "dlib", **BETA_VAE_PROTOCOLS["dlib"]},
    "factor_vae": {"num_train": 10_000, "num_eval": 5_000, "num_variance_estimate": 10_000,
                   "batch_size": 64, "prune_threshold": 0.05},
    "dci": {"num_train": 10_000, "num_test": 5_000, "classifier": "gbt"},
    "sap": {"num_train": 10_000, "num_test": 5_000, "continuous_factors": False},
    "modularity_explicitness": {"num_train": 10_000, "num_test": 5_000, "num_bins": 20},
    "unsupervised": {"num_train": 10_000, "num_bins": 20},
    # "subsample" (10,000 images as mixture components) or "chen2018" (the authors':
    # every image of the dataset); recorded in the protocol entry of the results.
    "elbo": {"protocol": ELBO_PROTOCOL, **ELBO_PROTOCOLS[ELBO_PROTOCOL]},
}
# Metrics whose options choose a named protocol, and its defaults.
_PROTOCOL_PARAMS = {"beta_vae": protocol_params, "elbo": elbo_protocol_params}


def names():
    """Names of the metrics known to `evaluate`."""
    return _ORDER


def option_names(name):
    """The parameters `options[name]` accepts: `DEFAULTS[name]`, and for "beta_vae"
    those of every protocol (`kerasdis.metrics.beta_vae.PROTOCOL_DEFAULTS`)."""
    known = set(DEFAULTS[name])
    if name == "beta_vae":
        known = known.union(*BETA_VAE_PROTOCOLS.values())
    elif name == "elbo":
        known = known.union(*ELBO_PROTOCOLS.values())
    return known


def _resolve(metrics, model, has_factors, ds):
    valid = names()
    if metrics is None:
        chosen = list(valid)
        explicit = False
    else:
        if isinstance(metrics, str):
            metrics = (metrics,)
        chosen = []
        for m in metrics:
            if m not in valid:
                raise ValueError(
                    f"`metrics`: unknown metric {m!r}; valid names are {', '.join(valid)}."
                )
            if m not in chosen:
                chosen.append(m)
        explicit = True
    skipped = {}
    run = []
    for m in chosen:
        if m in MODEL_ONLY and not model:
            skipped[m] = ("needs a model with encode(x) -> (mean, log_var); the "
                          "representation is a plain function")
        elif m not in NO_FACTORS and not has_factors:
            if explicit:
                rep.factor_sizes_of(ds)  # raises the ValueError
            skipped[m] = "the dataset has no ground-truth factors"
        else:
            run.append(m)
    return run, skipped


def _metric_params(run, options):
    """The parameters of each metric in `run`: its defaults updated by `options`."""
    options = dict(options or {})
    params = {}
    for name, opts in options.items():
        if name not in DEFAULTS:
            raise ValueError(
                f"`options`: unknown metric {name!r}; valid names are {', '.join(names())}."
            )
        known = option_names(name)
        unknown = set(opts) - known
        if unknown:
            raise ValueError(
                f"`options[{name!r}]`: unknown parameters {sorted(unknown)}; known: "
                f"{sorted(known)}."
            )
        if name in _PROTOCOL_PARAMS:  # unknown protocol, or a parameter of the other one
            opts = dict(opts)
            try:
                _PROTOCOL_PARAMS[name](opts.pop("protocol", DEFAULTS[name]["protocol"]), **opts)
            except ValueError as error:
                raise ValueError(f"`options[{name!r}]`: {error}") from None
    for name in run:
        if name in _PROTOCOL_PARAMS:  # the chosen protocol's defaults, then the options
            opts = dict(options.get(name, {}))
            protocol = opts.pop("protocol", DEFAULTS[name]["protocol"])
            params[name] = {"protocol": protocol, **_PROTOCOL_PARAMS[name](protocol, **opts)}
        else:
            params[name] = {**DEFAULTS[name], **options.get(name, {})}
    return params


def _images_needed(run, params, size):
    """Images the protocols of `run` would encode that a grid cache can serve (MIG
    on the whole grid counts the grid; MIG on a subsample and the ELBO do not)."""
    needed = 0
    for name in run:
        p = params[name]
        if name == "beta_vae":
            needed += 2 * p["batch_size"] * (p["num_train"] + p["num_eval"])
        elif name == "factor_vae":
            needed += p["num_variance_estimate"] + p["batch_size"] * (
                p["num_train"] + p["num_eval"])
        elif name == "mig" and p["subsample"] is None:
            needed += size
        elif name in _CODE_BASED:
            needed += p["num_train"] + p.get("num_test", 0)
    return needed


def cost(representation, ds, metrics=None, options=None, encode_grid=True,
         batch_size=rep.DEFAULT_BATCH_SIZE, timing_images=512):
    """What `evaluate` with these arguments would run, and about how long it would
    take on this machine.

    The estimate times the encoder on `timing_images` images of `ds` (after one
    untimed call that builds it) and multiplies by the number of images the
    protocols encode: the factor grid once when `evaluate` would encode it, else
    every sampled image. The metrics' own computations (classifiers, the MIG
    estimator over its samples) come on top.

    Returns:
        dict: `metrics` (what runs), `skipped`, `params` (each metric's protocol),
        `images` (to encode), `grid` (whether the grid is encoded once),
        `images_per_second` and `seconds` (the encoding estimate).
    """
    model = rep.is_model(representation)
    sizes = getattr(ds, "factor_sizes", None)
    has_factors = sizes is not None and len(sizes) > 0
    run, skipped = _resolve(metrics, model, has_factors, ds)
    params = _metric_params(run, options)
    size = rep.grid_size(ds) if has_factors else None
    images = _images_needed(run, params, size) if size is not None else sum(
        ds.num_examples if params[n].get("num_images", 0) is None
        else params[n].get("num_images", 0) for n in run)
    grid = bool(encode_grid and size is not None and run and (
        encode_grid == "always" or (size <= rep.MAX_GRID_SIZE and images >= size and (
            not rep.is_stochastic(ds) or "mig" in run))))
    if grid:
        images = size
    for name in run:  # encoded apart from the grid cache
        if name == "mig" and params[name]["subsample"] is not None:
            images += params[name]["subsample"]
        elif name == "elbo":  # num_images None: the whole dataset ("chen2018")
            images += min(params[name]["num_images"] or ds.num_examples, ds.num_examples)
    encode = rep.representation_function(representation, batch_size, images_name="ds")
    indices = np.random.default_rng(0).integers(0, ds.num_examples, timing_images)
    x = ds.images_at(indices)
    encode(x[: min(len(x), batch_size)])
    start = time.perf_counter()
    encode(x)
    rate = len(x) / max(time.perf_counter() - start, 1e-9)
    return {"metrics": run, "skipped": skipped, "params": params, "images": int(images),
            "grid": grid, "images_per_second": rate, "seconds": images / rate}


def evaluate(representation, ds, metrics=None, seed=0, verbose=1, encode_grid=True, codes=None,
             batch_size=rep.DEFAULT_BATCH_SIZE, options=None):
    """Runs disentanglement metrics by name and returns a JSON-serialisable dict.

    Args:
        representation: a kerasdis model (codes are posterior means) or a callable
            images `[n, H, W, C]` -> codes `[n, D]`.
        ds: a dataset (`kd.data.load(...)`).
        metrics: names (see `names()`), or None for all that apply: the model-only
            `"mig"` and `"elbo"` are skipped (with a note) for a plain function, the
            factor metrics for a dataset without factors.
        seed: int. Every metric is seeded with it (results equal the standalone
            functions called with the same seed and parameters).
        verbose: 0 or 1.
        encode_grid: True (encode the factor grid once when that is cheaper than the
            samples needed), `"always"`, or False (encode on the fly).
        codes: an existing `GridCodes` to use instead of encoding.
        batch_size: int. Encoder batch size.
        options: `{metric name: {parameter: value}}` overriding `DEFAULTS`, e.g.
            `{"beta_vae": {"num_train": 1000}, "mig": {"subsample": 20_000}}`.
            `{"beta_vae": {"protocol": "higgins2017"}}` scores with the β-VAE paper's
            classifier; the parameters it does not set take that protocol's defaults
            (`kerasdis.metrics.beta_vae.PROTOCOL_DEFAULTS`), not the "dlib" ones.
            `{"elbo": {"protocol": "chen2018"}}` decomposes the ELBO with the whole
            dataset as mixture components (Chen et al. 2018's protocol) instead of
            the default "subsample" of 10,000 images
            (`kerasdis.metrics.elbo.PROTOCOL_DEFAULTS`).

    Returns:
        `{metric name: {score: value}, ..., "protocol": {...}}`. The protocol entry
        records the seed, dataset, representation kind, whether the grid was
        encoded, the parameters of every metric, skipped metrics and seconds spent.

    Raises:
        ValueError: unknown metric name or option; a requested metric needs factors
            the dataset lacks.
    """
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**31 - 1))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative int, got {seed!r}.")
    seed = int(seed)
    model = rep.is_model(representation)
    if not (model or callable(representation)):
        raise ValueError(
            "`representation` must be a kerasdis model (with `encode`) or a callable "
            f"images -> codes, got {type(representation).__name__}."
        )
    sizes = getattr(ds, "factor_sizes", None)
    has_factors = sizes is not None and len(sizes) > 0
    run, skipped = _resolve(metrics, model, has_factors, ds)

    params = _metric_params(run, options)

    # One grid encoding for everything, when worthwhile.
    grid = codes
    if grid is not None:
        if not isinstance(grid, rep.GridCodes):
            raise ValueError(f"`codes` must be a GridCodes, got {type(grid).__name__}.")
        grid.check_dataset(ds)
    size = rep.grid_size(ds) if has_factors else None
    if grid is None and encode_grid and size is not None and run:
        needed = _images_needed(run, params, size)
        wanted = encode_grid == "always" or (
            size <= rep.MAX_GRID_SIZE and needed >= size
            and (not rep.is_stochastic(ds) or "mig" in run))
        if wanted:
            if verbose:
                print(f"Encoding the {size} images of the {getattr(ds, 'name', '')} factor grid.")
            grid = rep.encode_grid(representation, ds, batch_size=max(batch_size, 1024),
                                   verbose=verbose)
    # Stochastic images: the sampling protocols re-render (fresh noise per image).
    sampling_grid = grid if (grid is not None and (
        codes is not None or not rep.is_stochastic(ds))) else None
    source = None
    if any(m in _CODE_BASED for m in run):
        source = rep.CodeSource(representation, ds, codes=sampling_grid, encode_grid=False,
                                batch_size=batch_size)

    cache = {}

    def sample(stream, n):
        key = (stream, n)
        if key not in cache:
            stream_seed = seed if stream == "train" else np.random.default_rng([seed, 1])
            cache[key] = rep.sample_codes(representation, ds, n, seed=stream_seed,
                                          source=source)
        return cache[key]

    results = {}
    seconds = {}
    for name in run:
        p = params[name]
        if verbose:
            print(f"[kerasdis.metrics] {name} {p}")
        start = time.perf_counter()
        if name in _CODE_BASED:
            c_train, f_train = sample("train", p["num_train"])
            if name in _TRAIN_TEST:
                c_test, f_test = sample("test", p["num_test"])
            if name == "discrete_mig":
                out = {"discrete_mig": discrete_mig(c_train, f_train, p["num_bins"])}
            elif name == "dci":
                out = dci(c_train, f_train, c_test, f_test, classifier=p["classifier"])
            elif name == "sap":
                out = {"sap": sap(c_train, f_train, c_test, f_test,
                                       continuous_factors=p["continuous_factors"])}
            elif name == "modularity_explicitness":
                out = modularity_explicitness(c_train, f_train, c_test, f_test,
                                                          num_bins=p["num_bins"])
            else:
                out = unsupervised_scores(c_train, num_bins=p["num_bins"])
        elif name == "beta_vae":
            out = beta_vae_score(
                representation, ds, seed=seed, codes=sampling_grid, encode_grid=False
                if grid is not None else encode_grid, encode_batch_size=batch_size,
                verbose=verbose, **p)
        elif name == "factor_vae":
            out = factor_vae_score(
                representation, ds, seed=seed, codes=sampling_grid, encode_grid=False
                if grid is not None else encode_grid, encode_batch_size=batch_size,
                verbose=verbose, **p)
        elif name == "mig":
            mig_codes = grid if grid is not None and grid.log_vars is not None else None
            out = mig(representation, ds, seed=seed, codes=mig_codes,
                           batch_size=max(batch_size, 1024), verbose=verbose, **p)
        else:  # elbo
            out = elbo_decomposition(representation, ds, seed=seed, batch_size=batch_size,
                                           verbose=verbose, **p)
        seconds[name] = round(time.perf_counter() - start, 3)
        results[name] = out

    results["protocol"] = {
        "seed": seed,
        "dataset": getattr(ds, "name", None),
        "representation": "model" if model else "function",
        "grid_encoded": grid is not None,
        "metrics": params,
        "skipped": skipped,
        "seconds": seconds,
    }
    return jsonable(results, "results", strict=False)
