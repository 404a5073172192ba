"""Mutual Information Gap, the estimator of Chen et al. 2018.

Chen et al. 2018, "Isolating Sources of Disentanglement in Variational
Autoencoders" (https://arxiv.org/abs/1802.04942), Sec. 4 and the authors' code
(rtqichen/beta-tcvae, `disentanglement_metrics.py`, `mutual_info_metric_shapes`).
For disentanglement_lib's discretised variant see `discrete_mig`.

Estimator, over a set of N images with factors `v` (by default the whole factor
grid, 737,280 images for dSprites):

1. posterior parameters `(mu_n, log_var_n)` of every image (encoded in chunks) and
   one sample `z_n ~ q(z|x_n)` per image (seeded);
2. marginal entropies `H(z_j) = -1/S sum_s log (1/N sum_n q(z_sj | x_n))` over
   `S = min(num_samples, N)` samples `z_s` drawn without replacement from the
   `z_n` (10,000 as Chen et al.); the mixture runs over all N images;
3. for each scored factor k and each value v of it, the same estimate within the
   subset `X_v` of images with `v_k = v`: samples are `min(num_samples, |X_v|)` of the
   subset's own `z_n`, the mixture runs over the subset; `H(z_j | v_k)` is the
   average over values weighted by `|X_v| / N` (uniform on a full grid);
4. `I(z_j; v_k) = H(z_j) - H(z_j | v_k)`, clamped at 0 and divided by the factor
   entropy (`log(factor size)` on a full grid, the empirical entropy on a subsample);
5. MIG = mean over scored factors of the gap between the two largest normalised
   mutual informations.

This is exactly the published estimator. On dSprites, as Chen et al., the `shape`
factor is not scored by default (but every image stays in the mixtures); pass
`include_factors="all"` to score it. `subsample=n` evaluates on n random images of
the grid instead (fast tests; the mixtures then have fewer components, in which each
sample's own component weighs more, which biases the mutual informations upward:
numbers are comparable only at the same `subsample`).

Cost: `(1 + scored factors) x S x N x D` Gaussian log-densities (3.7e11 for dSprites,
about 290 CPU-seconds, plus about 110 to encode the grid), computed by XLA-compiled
float32 kernels in blocks of components (memory stays at a few MB beyond the `[N, D]`
parameters); see `_mixture.py`.

`estimator="shared"` (opt-in, for monitoring) reuses the S marginal samples for the
conditionals: each sample `z_s` is also scored against the subset of its own value
`v_k(s)`, and `I(z_j; v_k) = sum_v p(v) mean_{s: v_k(s) = v} [log q(z_sj | X_v) -
log q(z_sj)]` (post-stratified by the value masses `p(v)`; a value no sample hit is
left out and the weights renormalised). The mixtures are the same as above and the
expectation is the same; only the Monte Carlo allocation differs (S samples in total
for the conditionals of a factor instead of up to S per value, but paired with the
marginal's, which cancels most of the noise). The cost is about
`(1 + sum_k 1/|V_k|) x S x N x D`: 1.25 passes instead of 5 on dSprites. When
`num_samples >= N` both estimators use every sample and agree exactly.
"""

import numpy as np

from kerasdis import progress
from kerasdis.metrics import _mixture
from kerasdis.metrics import representation as rep
from kerasdis.metrics._validation import as_rng, check_positive_int, seed_value

DEFAULT_NUM_SAMPLES = 10_000


def _select_factors(ds, names, include_factors, exclude_factors):
    def resolve(items, what):
        return rep.factor_indices(items, names, what)

    if include_factors is None:
        used = list(range(len(names)))
        name = str(getattr(ds, "name", "")).lower()
        if "dsprites" in name and "shape" in names:
            used.remove(names.index("shape"))  # as Chen et al.
    elif isinstance(include_factors, str) and include_factors == "all":
        used = list(range(len(names)))
    else:
        used = resolve(include_factors, "include_factors")
    if exclude_factors is not None:
        removed = set(resolve(exclude_factors, "exclude_factors"))
        used = [k for k in used if k not in removed]
    used = sorted(set(used))
    if not used:
        raise ValueError("no factor left to score: check `include_factors`/`exclude_factors`.")
    return used


def posterior_set(model, ds, subsample=None, seed=0, codes=None, batch_size=1024, verbose=0):
    """Posterior parameters and factors of the evaluated images.

    Returns:
        `(means [N, D], log_vars [N, D], factors [N, K], rng)`: float32, int64, and the
        generator (after drawing the subsample) for the remaining draws.
    """
    rng = as_rng(seed)
    sizes = rep.factor_sizes_of(ds)
    size = rep.grid_size(ds)
    if codes is not None:
        if not isinstance(codes, rep.GridCodes) or codes.log_vars is None:
            raise ValueError(
                "`codes` must be a GridCodes with log-variances (encode_grid of a model)."
            )
        codes.check_dataset(ds)
    if subsample is None:
        if codes is None:
            if size is None:
                raise ValueError(
                    f"`ds` ({getattr(ds, 'name', '?')!r}) has no finite factor grid; pass "
                    "`subsample` to estimate on sampled images."
                )
            codes = rep.encode_grid(model, ds, batch_size=batch_size, verbose=verbose,
                                    log_vars=True)
        factors = codes.factors_at(np.arange(codes.num_examples))
        return codes.means, codes.log_vars, factors, rng
    subsample = check_positive_int("subsample", subsample)
    total = int(ds.num_examples) if codes is None else codes.num_examples
    n = min(subsample, total)
    indices = np.sort(rng.choice(total, size=n, replace=False))
    if codes is not None:
        return codes.means[indices], codes.log_vars[indices], codes.factors_at(indices), rng
    if hasattr(ds, "example_factors"):  # the factors of stored examples, in any order
        factors = np.asarray(ds.example_factors(indices), dtype=np.int64)
    elif size is not None:
        factors = np.stack(np.unravel_index(indices, sizes), axis=1).astype(np.int64)
    else:
        raise ValueError(
            "`ds` must be indexed by its factor grid or provide `example_factors(indices)` "
            "(the factors of stored examples) to evaluate on a subsample."
        )
    encode = rep.posterior_function(model, batch_size)
    means, log_vars = [], []
    progbar = progress.bar(n, verbose=verbose, unit_name="image") if verbose else None
    for start in range(0, n, batch_size):
        mean, lv = encode(ds.images_at(indices[start:start + batch_size]))
        means.append(mean)
        log_vars.append(lv)
        if progbar is not None:
            progbar.update(min(n, start + batch_size))
    return np.concatenate(means), np.concatenate(log_vars), factors, rng


def _entropy(samples, means, log_vars, progbar, offset):
    log_q = _mixture.log_mixture_marginals(samples, means, log_vars, progbar, offset)
    return -np.mean(log_q, axis=0)


ESTIMATORS = ("chen", "shared")


def mig(model, ds, include_factors=None, exclude_factors=None, num_samples=DEFAULT_NUM_SAMPLES,
        subsample=None, seed=0, codes=None, batch_size=1024, verbose=1, estimator="chen"):
    """Mutual Information Gap of a model (Chen et al. 2018 estimator).

    Args:
        model: a model with `encode(x) -> (mean, log_var)` (diagonal Gaussian q(z|x)).
        ds: ground-truth dataset.
        include_factors: None (all factors; dSprites: all but `shape`, as Chen et al.),
            `"all"`, or a list of factor names or indices to score.
        exclude_factors: factor names or indices not to score.
        num_samples: int. Monte Carlo samples per entropy (10,000).
        subsample: int or None. Evaluate on this many random images instead of the
            whole grid.
        seed: int or `np.random.Generator`.
        codes: optional `GridCodes` with log-variances (from `encode_grid(model, ds)`).
        batch_size: int. Encoder batch size.
        verbose: 0 or 1 (`keras.utils.Progbar`).
        estimator: `"chen"` (default, the published estimator) or `"shared"` (the
            marginal's samples reused for the conditionals, ~4x cheaper; see above).

    Returns:
        dict: `mig`; `mig_per_factor` {factor: gap}; `mutual_info` {factor: [D]
        normalised mutual informations}; `marginal_entropies` [D] (nats); `factors`
        (scored factor names); `num_samples`; `num_images`; `estimator`.
    """
    num_samples = check_positive_int("num_samples", num_samples)
    if estimator not in ESTIMATORS:
        raise ValueError(f"`estimator` must be one of {ESTIMATORS}, got {estimator!r}.")
    names = rep.factor_names_of(ds)
    used = _select_factors(ds, names, include_factors, exclude_factors)
    means, log_vars, factors, rng = posterior_set(
        model, ds, subsample=subsample, seed=seed, codes=codes, batch_size=batch_size,
        verbose=verbose)
    n = means.shape[0]
    means = means.astype(np.float64)
    log_vars = log_vars.astype(np.float64)
    z = means + np.exp(0.5 * log_vars) * rng.standard_normal(means.shape)

    groups = []
    for k in used:
        values, inverse, counts = np.unique(factors[:, k], return_inverse=True,
                                            return_counts=True)
        if len(values) < 2:
            raise ValueError(
                f"factor {names[k]!r} takes a single value on the evaluated images; "
                "increase `subsample` or exclude it."
            )
        order = np.argsort(inverse, kind="stable")
        splits = np.split(order, np.cumsum(counts)[:-1])
        groups.append((k, splits, counts / n))
    s = min(num_samples, n)
    if estimator == "chen":
        total = s + sum(min(num_samples, len(idx)) for _, splits, _ in groups for idx in splits)
    else:
        total = s * (1 + len(groups))
    progbar = progress.bar(total, verbose=verbose, unit_name="sample") if verbose else None

    sample_idx = rng.choice(n, size=s, replace=False)
    log_q = _mixture.log_mixture_marginals(z[sample_idx], means, log_vars, progbar, 0)
    marginal = -np.mean(log_q, axis=0)
    done = s
    mutual_info = np.zeros((len(used), means.shape[1]))
    factor_entropy = np.zeros(len(used))
    for row, (k, splits, probs) in enumerate(groups):
        factor_entropy[row] = -np.sum(probs * np.log(probs))
        if estimator == "chen":
            conditional = np.zeros(means.shape[1])
            for idx, p in zip(splits, probs):
                s_v = min(num_samples, len(idx))
                samples = z[idx[rng.choice(len(idx), size=s_v, replace=False)]]
                conditional += p * _entropy(samples, means[idx], log_vars[idx], progbar, done)
                done += s_v
            mutual_info[row] = np.maximum(marginal - conditional, 0.0)
            continue
        # "shared": the marginal's samples, each scored against its own value's subset.
        sample_values = factors[sample_idx, k]
        values = np.unique(factors[:, k])
        gain = np.zeros(means.shape[1])
        weight = 0.0
        for v, idx, p in zip(values, splits, probs):
            sel = np.flatnonzero(sample_values == v)
            if sel.size == 0:
                continue
            log_q_v = _mixture.log_mixture_marginals(
                z[sample_idx[sel]], means[idx], log_vars[idx], progbar, done)
            done += sel.size
            gain += p * np.mean(log_q_v - log_q[sel], axis=0)
            weight += p
        mutual_info[row] = np.maximum(gain / weight, 0.0)
    normalised = mutual_info / factor_entropy[:, None]
    top = np.sort(normalised, axis=1)[:, ::-1]
    second = top[:, 1] if top.shape[1] > 1 else np.zeros(top.shape[0])
    gaps = top[:, 0] - second
    return {
        "mig": float(np.mean(gaps)),
        "mig_per_factor": {names[k]: float(g) for k, g in zip(used, gaps)},
        "mutual_info": {names[k]: [float(x) for x in normalised[i]] for i, k in enumerate(used)},
        "marginal_entropies": [float(x) for x in marginal],
        "factors": [names[k] for k in used],
        "num_samples": int(s),
        "num_images": int(n),
        "estimator": estimator,
        "seed": seed_value(seed),
    }


PROTOCOL = {"num_samples": DEFAULT_NUM_SAMPLES, "subsample": None, "estimator": "chen"}


# ----------------------------------------------------------------- kd.metrics.evaluate


def images_needed(params, grid_size):
    """On the whole grid (`subsample=None`) MIG encodes the grid: a grid encoding
    serves it. A subsample is encoded apart (`images_apart`)."""
    return grid_size if params["subsample"] is None else 0


def images_apart(params, num_examples):
    """Images MIG encodes itself whatever the grid: its `subsample`."""
    del num_examples
    return params["subsample"] if params["subsample"] is not None else 0


def evaluate_protocol(representation, ds, *, seed, codes, encode_grid, encode_batch_size,
                      verbose, **params):
    """`kd.metrics.evaluate`'s adapter (registry kind "protocol"): `mig`, on the grid
    encoding `codes` when it has log-variances (a model's), in batches of at least
    1024 images."""
    del encode_grid  # MIG on the whole grid encodes it if `codes` is None
    codes = codes if codes is not None and codes.log_vars is not None else None
    return mig(representation, ds, seed=seed, codes=codes,
               batch_size=max(encode_batch_size, 1024), verbose=verbose, **params)
