"""`evaluate`: every metric of a representation on a dataset, sharing the encoding.

```python
scores = kd.metrics.evaluate(model, kd.data.load("dsprites"), seed=0)
scores["beta_vae"]["eval_accuracy"], scores["mig"]["mig"], scores["protocol"]
json.dumps(scores)   # plain floats / ints / lists / dicts
```

Sharing: with a finite factor grid that is cheaper to encode than the samples the
protocols need (dSprites: 737,280 images vs. 3M), the grid is encoded once (means
and, for a model, log-variances) and every metric looks codes up in it. The code
metrics (registry kinds "codes" and "codes_train_test": `discrete_mig`, `dci`, `sap`,
`modularity_explicitness`, `unsupervised`) share one training sample (`num_train`,
drawn with `default_rng(seed)`, the same points as `sampled_discrete_mig(...,
seed=seed)`) and one test sample (`num_test`, drawn with `default_rng([seed, 1])`).

The metrics, their defaults and how each is run come from
`kerasdis.metrics.registry`: `evaluate` calls each metric's adapter in its own
module (imported on first use) by the entry's `kind`, so a metric registered there
(`registry.register`, also from a user's module) runs here with no change to this
file.
"""

import importlib
import time
from collections.abc import Mapping, Set

import numpy as np

from kerasdis.io import jsonable
from kerasdis.metrics import registry
from kerasdis.metrics import representation as rep


class _Defaults(Mapping):
    """`{metric name: default parameters}`, read from the registry when asked."""

    def __getitem__(self, name):
        return registry.METRICS[name].defaults

    def __iter__(self):
        return iter(registry.METRICS)

    def __len__(self):
        return len(registry.METRICS)

    def __repr__(self):
        return repr(dict(self))


class _Names(Set):
    """The names of the registered metrics whose spec satisfies `predicate`."""

    def __init__(self, predicate):
        self._predicate = predicate

    @classmethod
    def _from_iterable(cls, iterable):
        return frozenset(iterable)

    def __contains__(self, name):
        spec = registry.METRICS.get(name)
        return spec is not None and self._predicate(spec)

    def __iter__(self):
        return iter([n for n, spec in registry.METRICS.items() if self._predicate(spec)])

    def __len__(self):
        return len(list(iter(self)))

    def __repr__(self):
        return repr(frozenset(self))


# Default parameters of each metric (the published protocols): `MetricSpec.defaults`.
DEFAULTS = _Defaults()
MODEL_ONLY = _Names(lambda spec: spec.needs_model)
NO_FACTORS = _Names(lambda spec: not spec.needs_factors)


def names():
    """Names of the metrics known to `evaluate`."""
    return registry.names()


def option_names(name):
    """The parameters `options[name]` accepts: `DEFAULTS[name]` and the registry's
    `options` of the metric (for "beta_vae" those of every protocol,
    `kerasdis.metrics.beta_vae.PROTOCOL_DEFAULTS`)."""
    spec = registry.METRICS[name]
    return set(spec.defaults).union(spec.options)


def _module(name):
    """The module of metric `name` (`MetricSpec.module`), imported on first use."""
    return importlib.import_module(registry.METRICS[name].module)


def _hook(name, hook):
    """The optional adapter function `hook` of metric `name`'s module, or None."""
    return getattr(_module(name), hook, None)


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
        spec = registry.METRICS[m]
        if spec.needs_model and not model:
            skipped[m] = ("needs a model with encode(x) -> (mean, log_var); the "
                          "representation is a plain function")
        elif spec.needs_factors and not has_factors:
            if explicit:
                rep.factor_sizes_of(ds)  # raises the ValueError
            skipped[m] = "the dataset has no ground-truth factors"
        else:
            run.append(m)
    return run, skipped


def _metric_params(run, options):
    """The parameters of each metric in `run`: its defaults updated by `options` (or,
    for a metric with named protocols, its `resolve_params(options[name])`)."""
    options = dict(options or {})
    params = {}
    for name, opts in options.items():
        if name not in registry.METRICS:
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
        resolve = _hook(name, "resolve_params")
        if resolve is not None:  # unknown protocol, or a parameter of the other one
            try:
                resolve(dict(opts))
            except ValueError as error:
                raise ValueError(f"`options[{name!r}]`: {error}") from None
    for name in run:
        resolve = _hook(name, "resolve_params")
        if resolve is not None:  # the chosen protocol's defaults, then the options
            params[name] = resolve(dict(options.get(name, {})))
        else:
            params[name] = {**registry.METRICS[name].defaults, **options.get(name, {})}
    return params


def _images_needed(run, params, size):
    """Images the protocols of `run` would encode that a grid cache can serve: the
    code metrics' samples (each metric counted, shared or not), each protocol's
    `images_needed` (MIG on the whole grid counts the grid; MIG on a subsample and
    the ELBO do not)."""
    needed = 0
    for name in run:
        spec, p = registry.METRICS[name], params[name]
        if spec.kind == "protocol":
            hook = _hook(name, "images_needed")
            needed += hook(p, size) if hook is not None else 0
        else:
            needed += p["num_train"] + (p["num_test"] if spec.kind == "codes_train_test" else 0)
    return needed


def _images_apart(run, params, ds):
    """Images the protocols of `run` encode apart from a grid cache (MIG on a
    subsample, the ELBO's images)."""
    apart = 0
    for name in run:
        hook = _hook(name, "images_apart") if registry.METRICS[name].kind == "protocol" else None
        if hook is not None:
            apart += hook(params[name], ds.num_examples)
    return apart


def _grid_wanted(encode_grid, size, run, params, ds):
    """Whether to encode the factor grid once: asked (`"always"`), or cheaper than the
    images the protocols need; on a dataset of stochastic images (where the sampling
    protocols re-render with fresh noise) only for a metric that reads the grid
    anyway (`grid_on_stochastic`: MIG)."""
    if not (encode_grid and size is not None and run):
        return False
    needed = _images_needed(run, params, size)
    return encode_grid == "always" or (
        size <= rep.MAX_GRID_SIZE and needed >= size and (
            not rep.is_stochastic(ds)
            or any(registry.METRICS[m].grid_on_stochastic for m in run)))


def encoding_rate(representation, ds, batch_size=rep.DEFAULT_BATCH_SIZE, timing_images=512):
    """Images per second the representation encodes here: timed on `timing_images`
    images of `ds`, after one untimed call that builds it."""
    encode = rep.representation_function(representation, batch_size, images_name="ds")
    indices = np.random.default_rng(0).integers(0, ds.num_examples, timing_images)
    x = ds.images_at(indices)
    encode(x[: min(len(x), batch_size)])
    start = time.perf_counter()
    encode(x)
    return len(x) / max(time.perf_counter() - start, 1e-9)


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
    grid = _grid_wanted(encode_grid, size, run, params, ds)
    if grid:
        images = size
    else:
        images = _images_needed(run, params, size) if size is not None else 0
    images += _images_apart(run, params, ds)  # encoded apart from the grid cache
    rate = encoding_rate(representation, ds, batch_size, timing_images)
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
    if grid is None and _grid_wanted(encode_grid, size, run, params, ds):
        if verbose:
            print(f"Encoding the {size} images of the {getattr(ds, 'name', '')} factor grid.")
        grid = rep.encode_grid(representation, ds, batch_size=max(batch_size, 1024),
                               verbose=verbose)
    # Stochastic images: the sampling protocols re-render (fresh noise per image).
    sampling_grid = grid if (grid is not None and (
        codes is not None or not rep.is_stochastic(ds))) else None
    source = None
    if any(registry.METRICS[m].kind != "protocol" for m in run):  # code metrics
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
        spec, module = registry.METRICS[name], _module(name)
        if spec.kind == "protocol":
            out = module.evaluate_protocol(
                representation, ds, seed=seed,
                codes=grid if spec.grid_on_stochastic else sampling_grid,
                encode_grid=False if grid is not None else encode_grid,
                encode_batch_size=batch_size, verbose=verbose, **p)
        else:  # the shared samples
            c_train, f_train = sample("train", p["num_train"])
            rest = {k: v for k, v in p.items() if k not in ("num_train", "num_test")}
            if spec.kind == "codes_train_test":
                c_test, f_test = sample("test", p["num_test"])
                out = module.evaluate_codes(c_train, f_train, c_test, f_test, **rest)
            else:
                out = module.evaluate_codes(c_train, f_train, **rest)
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
