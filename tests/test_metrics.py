"""Tests of `kerasdis.metrics` on small fake datasets and models.

The fakes (defined here, not the real datasets/models) render a factor vector as a
1 x K image of its normalised values, so the "identity" representation reads the
factors back exactly.
"""

import importlib
import json
import os
import pathlib
import sys
import types

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

tfd = tfp.distributions


def _import_metrics():
    try:
        from kerasdis import metrics

        return metrics
    except ImportError:  # pragma: no cover - another kerasdis module is unfinished
        root = pathlib.Path(__file__).resolve().parents[1] / "kerasdis"
        for name in [n for n in sys.modules if n == "kerasdis" or n.startswith("kerasdis.")]:
            del sys.modules[name]
        pkg = types.ModuleType("kerasdis")
        pkg.__path__ = [str(root)]
        sys.modules["kerasdis"] = pkg
        return importlib.import_module("kerasdis.metrics")


metrics = _import_metrics()
mixture = importlib.import_module("kerasdis.metrics._mixture")
representation = importlib.import_module("kerasdis.metrics.representation")
registry = importlib.import_module("kerasdis.metrics.registry")
evaluate_module = importlib.import_module("kerasdis.metrics.evaluate")

SIZES = (3, 4, 5)


# ----------------------------------------------------------------- fakes


class FakeGrid:
    """A ground-truth dataset whose image of factors f is `f / (size - 1)`, [1, K, 1]."""

    def __init__(self, sizes=SIZES, name="fake", factor_names=None):
        self.name = name
        self.factor_sizes = tuple(sizes)
        self.factor_names = tuple(factor_names or (f"f{k}" for k in range(len(sizes))))
        self.num_examples = int(np.prod(sizes))
        self.observation_shape = (1, len(sizes), 1)
        self.rendered = 0

    def sample_factors(self, n, seed=None):
        rng = np.random.default_rng(seed)
        return np.stack([rng.integers(0, s, n) for s in self.factor_sizes], axis=1)

    def images(self, factors):
        factors = np.asarray(factors, dtype=np.int64)
        self.rendered += factors.shape[0]
        scale = np.maximum(np.asarray(self.factor_sizes) - 1, 1)
        return (factors / scale).astype(np.float32).reshape(-1, 1, len(self.factor_sizes), 1)

    def index_of(self, factors):
        return np.ravel_multi_index(np.asarray(factors).T, self.factor_sizes)

    def factors_at(self, indices):
        return np.stack(np.unravel_index(np.asarray(indices), self.factor_sizes), axis=1)

    def images_at(self, indices):
        return self.images(self.factors_at(indices))


class NoFactors:
    name = "celeba_fake"
    factor_names = ()
    factor_sizes = ()
    num_examples = 50
    observation_shape = (1, 3, 1)

    def images_at(self, indices):
        rng = np.random.default_rng(0)
        return rng.random((len(indices), 1, 3, 1)).astype(np.float32)


def read_factors(x, sizes=SIZES):
    x = np.asarray(x, dtype=np.float64)[:, 0, :, 0]
    return np.round(x * (np.asarray(sizes) - 1))


def pseudo_noise(f, scale):
    """Deterministic per-image noise in [-scale/2, scale/2]."""
    w = np.array([12.9898, 78.233, 37.719])[: f.shape[1]]
    h = np.sin((f @ w)[:, None] + 1.7 * np.arange(f.shape[1])[None, :])
    return scale * ((h * 43758.5453) % 1.0 - 0.5)


class Counting:
    """A representation function that counts the images it encodes."""

    def __init__(self, fn):
        self.fn = fn
        self.count = 0

    def __call__(self, x):
        self.count += len(x)
        return self.fn(x)


def identity(x):
    return read_factors(x)


def noisy_identity(x):
    f = read_factors(x)
    return f + pseudo_noise(f, 0.1)


def zeros(x):
    return np.zeros((len(x), len(SIZES)))


def duplicated(x):
    f = read_factors(x)
    return np.repeat(f, 2, axis=1) + np.tile([0.0, 0.001], len(SIZES))


class FakeModel:
    """`encode` puts factor k in latent k with variance `exp(log_var)`; extra latents
    are N(0, 1) posteriors (inactive). `zero=True`: every posterior is N(0, 1)."""

    def __init__(self, sizes=SIZES, log_var=-9.0, extra=1, zero=False):
        self.sizes = np.asarray(sizes, dtype=np.float32)
        self.k = len(sizes)
        self.extra = extra
        self.latent_dim = self.k + extra
        self.log_var = log_var
        self.zero = zero

    def encode(self, x):
        f = read_factors(x, self.sizes).astype(np.float32)
        n = f.shape[0]
        if self.zero:
            return tf.zeros([n, self.latent_dim]), tf.zeros([n, self.latent_dim])
        mean = np.concatenate([f, np.zeros((n, self.extra), np.float32)], axis=1)
        log_var = np.concatenate([np.full((n, self.k), self.log_var, np.float32),
                                  np.zeros((n, self.extra), np.float32)], axis=1)
        return tf.constant(mean), tf.constant(log_var)

    def posterior(self, x):
        mean, log_var = self.encode(x)
        return tfd.MultivariateNormalDiag(mean, tf.exp(0.5 * log_var))

    def decode(self, z):
        z = tf.convert_to_tensor(z)[:, : self.k]
        return tf.reshape(z / (self.sizes - 1), [-1, 1, self.k, 1])

    def likelihood(self, z):
        return tfd.Independent(tfd.Normal(self.decode(z), 0.1), reinterpreted_batch_ndims=3)


@pytest.fixture()
def ds():
    return FakeGrid()


def sample(ds, fn, n, seed):
    return metrics.sample_codes(fn, ds, n, seed=seed, encode_grid=False)


def train_test(fn, ds=None, n_train=1000, n_test=500, seed=0):
    ds = ds or FakeGrid()
    c1, f1 = sample(ds, fn, n_train, seed)
    c2, f2 = sample(ds, fn, n_test, seed + 1)
    return c1, f1, c2, f2


SPLIT_METRICS = {
    "dci": lambda *a: metrics.dci(*a),
    "sap": lambda *a: {"sap": metrics.sap(*a)},
    "sap_continuous": lambda *a: {"sap": metrics.sap(*a, continuous_factors=True)},
    "modularity_explicitness": lambda *a: metrics.modularity_explicitness(*a),
}


# ----------------------------------------------------------------- anchors


def test_names():
    assert set(metrics.names()) >= {"mig", "discrete_mig", "beta_vae", "factor_vae", "dci",
                                    "sap", "modularity_explicitness", "elbo"}


def test_identity_scores_high_on_code_metrics():
    c1, f1, c2, f2 = train_test(noisy_identity)
    assert metrics.discrete_mig(c1, f1) >= 0.9
    d = metrics.dci(c1, f1, c2, f2)
    assert d["disentanglement"] >= 0.9 and d["completeness"] >= 0.9
    assert d["informativeness_test"] >= 0.9
    h = metrics.dci(c1, f1, c2, f2, classifier="hist")
    assert h["disentanglement"] >= 0.9 and h["completeness"] >= 0.9
    assert h["informativeness_test"] >= 0.9
    # Continuous SAP reaches 1; the discrete one is bounded by 1 - chance (see sap.py).
    assert metrics.sap(c1, f1, c2, f2, continuous_factors=True) >= 0.9
    assert metrics.sap(c1, f1, c2, f2) >= 0.4
    m = metrics.modularity_explicitness(c1, f1, c2, f2)
    assert m["modularity"] >= 0.9 and m["explicitness_test"] >= 0.9


def test_zero_representation_scores_low_on_code_metrics():
    c1, f1, c2, f2 = train_test(zeros, n_train=500, n_test=200)
    assert metrics.discrete_mig(c1, f1) <= 0.2
    for classifier in ("gbt", "hist"):
        d = metrics.dci(c1, f1, c2, f2, classifier=classifier)
        assert d["disentanglement"] <= 0.2 and d["completeness"] <= 0.2
    assert metrics.sap(c1, f1, c2, f2) <= 0.2
    assert metrics.sap(c1, f1, c2, f2, continuous_factors=True) <= 0.2
    m = metrics.modularity_explicitness(c1, f1, c2, f2)
    assert m["modularity"] <= 0.2
    assert m["explicitness_test"] == pytest.approx(0.5)  # chance-level AUC


def test_duplicated_latents_low_gap_high_modularity():
    c1, f1, c2, f2 = train_test(duplicated)
    assert metrics.discrete_mig(c1, f1) <= 0.2
    assert metrics.sap(c1, f1, c2, f2, continuous_factors=True) <= 0.2
    assert metrics.sap(c1, f1, c2, f2) <= 0.2
    assert metrics.modularity_explicitness(c1, f1, c2, f2)["modularity"] >= 0.9
    # Two dimensions share every factor: completeness halves, disentanglement stays.
    assert metrics.dci(c1, f1, c2, f2)["completeness"] <= 0.8


def test_dci_scores_of_hand_computed_importance_matrices():
    dci_module = importlib.import_module("kerasdis.metrics.dci")
    # Eastwood & Williams (2018): rows are codes, columns factors.
    r = np.array([[0.6, 0.2], [0.0, 0.2]])
    # code 0 splits 3:1 between the factors (1 - H_2 = 0.18872), code 1 has one (1);
    # weighted by the codes' shares of the importance, 0.8 and 0.2.
    h = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    assert dci_module.disentanglement(r) == pytest.approx(0.8 * (1 - h) + 0.2, abs=1e-6)
    # factor 0 is in one code (1), factor 1 is split evenly (0); shares 0.6 and 0.4.
    assert dci_module.completeness(r) == pytest.approx(0.6, abs=1e-6)
    # Three codes: entropies of a factor's column are in base 3 (the number of codes).
    r = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert dci_module.disentanglement(r) == pytest.approx(1.0, abs=1e-6)
    assert dci_module.completeness(r) == pytest.approx(
        2 / 3 * (1 - np.log(2) / np.log(3)) + 1 / 3, abs=1e-6)


def test_permuting_code_dimensions_changes_nothing():
    c1, f1, c2, f2 = train_test(noisy_identity, n_train=600, n_test=300)
    perm = [2, 0, 1]
    assert metrics.discrete_mig(c1[:, perm], f1) == pytest.approx(metrics.discrete_mig(c1, f1))
    for name, fn in SPLIT_METRICS.items():
        a = fn(c1, f1, c2, f2)
        b = fn(c1[:, perm], f1, c2[:, perm], f2)
        for key in a:
            assert b[key] == pytest.approx(a[key], abs=1e-6), (name, key)
    ds = FakeGrid()

    def permuted(x):
        return noisy_identity(x)[:, perm]

    for score in (metrics.beta_vae_score, metrics.factor_vae_score):
        a = score(noisy_identity, ds, num_train=300, num_eval=200, seed=3)
        b = score(permuted, ds, num_train=300, num_eval=200, seed=3)
        for key in a:
            assert b[key] == pytest.approx(a[key], abs=1e-9), (score.__name__, key)


def test_beta_vae_and_factor_vae_anchors(ds):
    kwargs = {"num_train": 500, "num_eval": 300, "seed": 0}
    bv = metrics.beta_vae_score(noisy_identity, ds, **kwargs)
    assert bv["eval_accuracy"] >= 0.9
    assert len(bv["eval_accuracy_per_factor"]) == 3 and min(bv["eval_accuracy_per_factor"]) >= 0.8
    fv = metrics.factor_vae_score(noisy_identity, ds, num_variance_estimate=500, **kwargs)
    assert fv["eval_accuracy"] >= 0.9 and fv["num_active_dims"] == 3
    # All-zero codes: the classifier can only guess (chance is 1/3 with 3 factors).
    zero_bv = metrics.beta_vae_score(zeros, ds, **kwargs)
    assert zero_bv["eval_accuracy"] <= 1 / 3 + 0.05
    # ...always the same factor: it is recalled fully, the others never.
    assert sorted(zero_bv["eval_accuracy_per_factor"]) == [0.0, 0.0, 1.0]
    assert metrics.factor_vae_score(zeros, ds, **kwargs) == {
        "train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_factor_vae_prunes_small_dimensions(ds):
    def with_dead(x):
        f = read_factors(x)
        return np.concatenate([0.01 * f[:, :1], f[:, 1:]], axis=1)  # std < 0.05

    out = metrics.factor_vae_score(with_dead, ds, num_train=300, num_eval=200, seed=0)
    assert out["num_active_dims"] == 2
    assert 0.5 <= out["eval_accuracy"] <= 0.8  # factor 0 has no dimension left


def test_sampled_discrete_mig_matches_codes(ds):
    out = metrics.sampled_discrete_mig(identity, ds, num_train=800, seed=4)
    codes, factors = metrics.sample_codes(identity, ds, 800, seed=4)
    assert out == {"discrete_mig": metrics.discrete_mig(codes, factors)}
    assert out["discrete_mig"] >= 0.9


# ----------------------------------------------------------------- grid cache


def test_grid_cache_matches_on_the_fly(ds):
    grid = metrics.encode_grid(noisy_identity, ds, verbose=0)
    assert grid.means.shape == (60, 3) and grid.log_vars is None
    idx = np.arange(60)
    np.testing.assert_array_equal(grid.lookup(ds.factors_at(idx)),
                                  noisy_identity(ds.images_at(idx)).astype(np.float32))
    for score in (metrics.beta_vae_score, metrics.factor_vae_score):
        fly = Counting(noisy_identity)
        cached = score(noisy_identity, ds, num_train=200, num_eval=100, seed=5, codes=grid)
        on_the_fly = score(fly, ds, num_train=200, num_eval=100, seed=5, encode_grid=False)
        assert cached == on_the_fly
        assert fly.count > 60
        auto = Counting(noisy_identity)
        assert score(auto, ds, num_train=200, num_eval=100, seed=5) == cached
        assert auto.count == 60  # the whole grid, once


def test_grid_of_a_model_keeps_log_variances(ds):
    grid = metrics.encode_grid(FakeModel(), ds, batch_size=7, verbose=0)
    assert grid.log_vars.shape == (60, 4)
    np.testing.assert_allclose(grid.log_vars[:, :3], -9.0)
    np.testing.assert_array_equal(grid.means[:, :3], ds.factors_at(np.arange(60)))


def test_model_representation_uses_posterior_mean(ds):
    fn = metrics.representation_function(FakeModel(), batch_size=8)
    x = ds.images_at(np.arange(20))
    np.testing.assert_array_equal(fn(x)[:, :3], ds.factors_at(np.arange(20)))


def entangled(x):
    """Codes that mix factors non-linearly, with noise: BetaVAE and FactorVAE scores
    well below 1, so that the sampled votes (the seed) show in them."""
    f = read_factors(x).astype(np.float64)
    codes = np.stack([np.sin(f[:, 0] * f[:, 1]), np.cos(f[:, 1] * f[:, 2]), f[:, 2] * f[:, 0]], 1)
    return codes + pseudo_noise(f, 1.0)


def test_determinism_and_seed_dependence(ds):
    def scores(seed):
        return (metrics.beta_vae_score(entangled, ds, num_train=100, num_eval=50, seed=seed),
                metrics.factor_vae_score(entangled, ds, num_train=100, num_eval=50, seed=seed))

    # The same seed gives the same result; other seeds sample other votes.
    by_seed = {seed: scores(seed) for seed in (1, 2, 3)}
    assert scores(1) == by_seed[1]
    assert by_seed[1][0]["eval_accuracy"] < 0.95 and by_seed[1][1]["eval_accuracy"] < 0.95
    for metric in (0, 1):
        assert len({str(result[metric]) for result in by_seed.values()}) > 1
    # A Generator seed is accepted, and two Generators in the same state agree.
    assert scores(np.random.default_rng(5)) == scores(np.random.default_rng(5))
    c1, f1, c2, f2 = train_test(noisy_identity, n_train=400, n_test=200)
    assert metrics.dci(c1, f1, c2, f2) == metrics.dci(c1, f1, c2, f2, n_jobs=1)
    m1 = metrics.mig(FakeModel(), ds, seed=2, verbose=0)
    m2 = metrics.mig(FakeModel(), ds, seed=2, verbose=0)
    assert m1 == m2


# ----------------------------------------------------------------- Chen et al.


def test_mixture_kernels_match_brute_force():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(300, 4)) * 3
    log_vars = rng.uniform(-8, 2, size=(300, 4))
    z = means[:50] + np.exp(0.5 * log_vars[:50]) * rng.normal(size=(50, 4))
    log_n = -0.5 * ((z[:, None] - means[None]) ** 2 / np.exp(log_vars[None]) + log_vars[None]
                    + np.log(2 * np.pi))  # [S, M, D]
    want_marg = logsumexp(log_n, axis=1) - np.log(300)
    want_joint = logsumexp(log_n.sum(axis=2), axis=1) - np.log(300)
    got = mixture.log_mixture_marginals(z, means, log_vars)
    np.testing.assert_allclose(got, want_marg, atol=2e-3, rtol=1e-4)
    joint, marg = mixture.log_mixture_exact(z, means, log_vars)
    np.testing.assert_allclose(marg, want_marg, atol=2e-3, rtol=1e-4)
    np.testing.assert_allclose(joint, want_joint, atol=2e-3, rtol=1e-4)
    # Far-away sample: the fixed-shift sum underflows and the exact path takes over.
    far = np.full((2, 4), 60.0)
    want = logsumexp(-0.5 * ((far[:, None] - means[None]) ** 2 / np.exp(log_vars[None])
                             + log_vars[None] + np.log(2 * np.pi)), axis=1) - np.log(300)
    np.testing.assert_allclose(mixture.log_mixture_marginals(far, means, log_vars), want,
                               rtol=1e-4)


def test_mixture_kernels_in_several_blocks(monkeypatch):
    monkeypatch.setattr(mixture, "COMPONENT_CHUNK", 64)
    monkeypatch.setattr(mixture, "SAMPLE_CHUNK", 16)
    rng = np.random.default_rng(1)
    means, log_vars = rng.normal(size=(200, 3)), rng.uniform(-3, 1, size=(200, 3))
    z = rng.normal(size=(37, 3))
    log_n = -0.5 * ((z[:, None] - means[None]) ** 2 / np.exp(log_vars[None]) + log_vars[None]
                    + np.log(2 * np.pi))
    np.testing.assert_allclose(mixture.log_mixture_marginals(z, means, log_vars),
                               logsumexp(log_n, axis=1) - np.log(200), atol=1e-4)
    np.testing.assert_allclose(mixture.log_mixture_exact(z, means, log_vars)[0],
                               logsumexp(log_n.sum(2), axis=1) - np.log(200), atol=1e-4)


def test_mig_anchors(ds):
    out = metrics.mig(FakeModel(), ds, verbose=0)
    assert out["mig"] >= 0.95
    assert out["factors"] == ["f0", "f1", "f2"] and out["num_images"] == 60
    for k, name in enumerate(out["factors"]):
        mi = out["mutual_info"][name]
        assert len(mi) == 4
        assert mi[k] == pytest.approx(1.0, abs=0.02)
        assert max(mi[j] for j in range(4) if j != k) <= 0.05
    zero = metrics.mig(FakeModel(zero=True), ds, verbose=0)
    assert zero["mig"] <= 0.05
    json.dumps(out)


class PermutedModel(FakeModel):
    def __init__(self, perm, **kwargs):
        super().__init__(**kwargs)
        self.perm = perm

    def encode(self, x):
        mean, log_var = super().encode(x)
        return tf.gather(mean, self.perm, axis=1), tf.gather(log_var, self.perm, axis=1)


def test_mig_ignores_latent_order(ds):
    # (The posterior samples follow the latent order, so only sharp posteriors give
    # the same numbers up to Monte Carlo noise.)
    perm = [3, 1, 0, 2]
    a = metrics.mig(FakeModel(), ds, verbose=0)
    b = metrics.mig(PermutedModel(perm), ds, verbose=0)
    assert b["mig"] == pytest.approx(a["mig"], abs=1e-4)
    for name in a["factors"]:
        np.testing.assert_allclose(b["mutual_info"][name],
                                   np.asarray(a["mutual_info"][name])[perm], atol=1e-4)


@pytest.mark.bad_input
def test_mig_shared_estimator():
    ds = FakeGrid((4, 5, 6))
    model = FakeModel((4, 5, 6), log_var=-0.5)
    chen = metrics.mig(model, ds, seed=1, verbose=0)
    shared = metrics.mig(model, ds, seed=1, verbose=0, estimator="shared")
    # Every image is a sample (num_samples >= N): the two estimators coincide.
    assert 0.1 < chen["mig"] < 0.9
    assert shared["mig"] == pytest.approx(chen["mig"], abs=1e-9)
    for name in chen["factors"]:
        np.testing.assert_allclose(shared["mutual_info"][name], chen["mutual_info"][name],
                                   atol=1e-9)
    few = metrics.mig(model, ds, seed=1, verbose=0, estimator="shared", num_samples=60)
    assert few["mig"] == pytest.approx(chen["mig"], abs=0.15)
    assert metrics.mig(FakeModel((4, 5, 6)), ds, verbose=0, estimator="shared")["mig"] >= 0.95
    with pytest.raises(ValueError, match="estimator"):
        metrics.mig(model, ds, verbose=0, estimator="exact")


@pytest.mark.bad_input
def test_mig_factor_selection_and_subsample():
    dsprites_like = FakeGrid((2, 3, 4), name="dsprites_fake",
                             factor_names=("shape", "scale", "position_x"))
    model = FakeModel((2, 3, 4))
    assert metrics.mig(model, dsprites_like, verbose=0)["factors"] == ["scale", "position_x"]
    assert metrics.mig(model, dsprites_like, include_factors="all", verbose=0)["factors"] == [
        "shape", "scale", "position_x"]
    out = metrics.mig(model, dsprites_like, include_factors=[0, "scale"], exclude_factors="scale",
                      verbose=0)
    assert out["factors"] == ["shape"]
    sub = metrics.mig(model, dsprites_like, subsample=18, num_samples=5, seed=0, verbose=0)
    assert sub["num_images"] == 18 and sub["num_samples"] == 5
    grid = metrics.encode_grid(model, dsprites_like, verbose=0)
    assert metrics.mig(model, dsprites_like, codes=grid, verbose=0)["mig"] == metrics.mig(
        model, dsprites_like, verbose=0)["mig"]
    with pytest.raises(ValueError, match="include_factors"):
        metrics.mig(model, dsprites_like, include_factors=["colour"], verbose=0)


def test_mig_on_arrays_stored_out_of_grid_order():
    """`from_arrays` images in another order than the factor grid: the factors of a
    subsample are the stored ones, and the full-grid path is not taken."""
    from kerasdis.data import from_arrays

    sizes = (2, 3, 4)
    grid = FakeGrid(sizes)
    factors = grid.factors_at(np.arange(24))
    order = np.random.default_rng(0).permutation(24)
    ordered = from_arrays(grid.images(factors), factors, factor_sizes=sizes)
    shuffled = from_arrays(grid.images(factors[order]), factors[order], factor_sizes=sizes)
    assert representation.grid_size(ordered) == 24
    assert representation.grid_size(shuffled) is None
    model = FakeModel(sizes)
    full = metrics.mig(model, ordered, include_factors="all", verbose=0)["mig"]
    sub = metrics.mig(model, shuffled, subsample=24, include_factors="all", verbose=0)["mig"]
    assert full >= 0.9
    assert sub == pytest.approx(full, abs=0.05)


# ----------------------------------------------------------------- ELBO


class RepeatedFactorModel(FakeModel):
    """FakeModel whose extra latent repeats factor 0: latents 0 and 3 are dependent
    (total correlation about log 3 nats), so every KL term is far from 0."""

    def encode(self, x):
        mean, log_var = super().encode(x)
        mean = np.asarray(mean).copy()
        mean[:, 3] = mean[:, 0]
        return tf.constant(mean), tf.fill(tf.shape(log_var), self.log_var)


def test_elbo_decomposition_matches_a_brute_force_reference(ds, monkeypatch):
    # Record the posterior samples and parameters the decomposition mixes, then
    # recompute every term from them by brute force (Chen et al. 2018, eq. 2).
    seen = {}

    def recording(z, means, log_vars, *args):
        seen.update(z=z, means=means, log_vars=log_vars)
        return exact(z, means, log_vars, *args)

    exact = mixture.log_mixture_exact
    monkeypatch.setattr(mixture, "log_mixture_exact", recording)
    out = metrics.elbo_decomposition(RepeatedFactorModel(log_var=-2.0), ds, seed=0)
    z, means, log_vars = seen["z"], seen["means"], seen["log_vars"]
    n = means.shape[0]
    assert out["num_images"] == n == 60 and z.shape == (60, 4)
    # The mixture components are the encoder's posteriors of every grid image.
    factors = ds.factors_at(np.arange(60)).astype(float)
    np.testing.assert_array_equal(means, np.concatenate([factors, factors[:, :1]], axis=1))
    log_n = -0.5 * ((z[:, None] - means[None]) ** 2 / np.exp(log_vars[None]) + log_vars[None]
                    + np.log(2 * np.pi))  # [S, M, D]
    joint_entropy = -np.mean(logsumexp(log_n.sum(axis=2), axis=1) - np.log(n))
    marginal_entropies = -np.mean(logsumexp(log_n, axis=1) - np.log(n), axis=0)
    conditional_entropy = np.mean(np.sum(0.5 * (np.log(2 * np.pi * np.e) + log_vars), axis=1))
    cross_entropies = np.mean(0.5 * (np.log(2 * np.pi) + means ** 2 + np.exp(log_vars)), axis=0)
    want = {"index_code_mi": joint_entropy - conditional_entropy,
            "total_correlation": marginal_entropies.sum() - joint_entropy,
            "dimwise_kl": np.sum(cross_entropies - marginal_entropies)}
    for term, value in want.items():
        assert out[term] == pytest.approx(value, rel=1e-4), term
    assert out["total_correlation"] > 0.5  # latents 0 and 3 carry the same factor
    # KL(q(z|x) || N(0, I)) in closed form: variance e^-2 everywhere, factor k (values
    # 0..K-1, E[k^2] = (K-1)(2K-1)/6) in latent k, and factor 0 again in latent 3.
    assert out["kl"] == pytest.approx(0.5 * (5 / 3 + 3.5 + 6 + 5 / 3 + 4 * (np.exp(-2.0) + 1)),
                                      rel=1e-6)
    # The decoder returns z[:, :3] / (K - 1): the reconstruction term is the mean
    # Normal(decoded, 0.1) log density of the images, recomputed from the samples.
    x = ds.images_at(np.arange(60)).reshape(60, -1)
    decoded = z[:, :3] / (np.array(SIZES) - 1)
    log_px = -0.5 * (((x - decoded) / 0.1) ** 2 + np.log(2 * np.pi * 0.01))
    assert out["reconstruction"] == pytest.approx(-np.mean(log_px.sum(axis=1)), rel=1e-4)
    assert out["elbo"] == pytest.approx(-(out["reconstruction"] + out["kl"]))
    assert 0 < out["index_code_mi"] <= np.log(60) + 1e-6
    sub = metrics.elbo_decomposition(FakeModel(log_var=-2.0), ds, num_images=30, num_samples=20)
    assert sub["num_images"] == 30 and sub["num_samples"] == 20
    # A posterior equal to the prior: KL and TC are 0; the sampled entropy H(z) makes
    # the index-code MI and the dimension-wise KL cancelling Monte Carlo noise.
    prior = metrics.elbo_decomposition(FakeModel(zero=True), ds)
    assert prior["kl"] == pytest.approx(0.0, abs=1e-9)
    assert prior["total_correlation"] == pytest.approx(0.0, abs=1e-6)
    assert prior["index_code_mi"] == pytest.approx(-prior["dimwise_kl"], abs=1e-6)
    assert abs(prior["index_code_mi"]) < 0.6


class ManyImages(NoFactors):
    """10,050 images: more than the default subsample of 10,000."""

    num_examples = 10_050

    def images_at(self, indices):
        indices = np.asarray(indices)
        return ((indices[:, None] * np.array([1, 7, 13])) % 97 / 96.0).reshape(
            -1, 1, 3, 1).astype(np.float32)


def test_elbo_protocols_by_name():
    """"subsample" (default): 10,000 images as mixture components, entropies over all of
    their samples; "chen2018" (the authors'): every image, 10,000 entropy samples."""
    model, ds = FakeModel(log_var=-2.0), ManyImages()
    default = metrics.elbo_decomposition(model, ds, seed=0)
    assert (default["protocol"], default["num_images"], default["num_samples"]) == (
        "subsample", 10_000, 10_000)
    same = metrics.elbo_decomposition(model, ds, seed=0, protocol="subsample",
                                      num_images=10_000, num_samples=None)
    assert same == default  # the default numbers are unchanged
    chen = metrics.elbo_decomposition(model, ds, seed=0, protocol="chen2018")
    assert (chen["protocol"], chen["num_images"], chen["num_samples"]) == (
        "chen2018", 10_050, 10_000)
    assert chen["index_code_mi"] + chen["total_correlation"] + chen["dimwise_kl"] == \
        pytest.approx(chen["kl"], rel=1e-6)
    with pytest.raises(ValueError, match="chen2018.*num_images"):
        metrics.elbo_decomposition(model, ds, protocol="chen2018", num_images=100)
    with pytest.raises(ValueError, match="protocol"):
        metrics.elbo_decomposition(model, ds, protocol="chen")


def test_evaluate_records_the_elbo_protocol():
    model, ds = FakeModel(log_var=-2.0), NoFactors()
    out = metrics.evaluate(model, ds, metrics=["elbo"], verbose=0)
    assert out["protocol"]["metrics"]["elbo"] == {
        "protocol": "subsample", "num_images": 10_000, "num_samples": None}
    assert out["elbo"]["protocol"] == "subsample" and out["elbo"]["num_images"] == 50
    chen = metrics.evaluate(model, ds, metrics=["elbo"], verbose=0,
                            options={"elbo": {"protocol": "chen2018"}})
    assert chen["protocol"]["metrics"]["elbo"] == {
        "protocol": "chen2018", "num_images": None, "num_samples": 10_000}
    assert chen["elbo"]["protocol"] == "chen2018" and chen["elbo"]["num_images"] == 50
    with pytest.raises(ValueError, match=r"options\['elbo'\].*chen2018"):
        metrics.evaluate(model, ds, metrics=["elbo"], verbose=0,
                         options={"elbo": {"protocol": "chen2018", "num_samples": 20}})
    from kerasdis.metrics.evaluate import cost  # counts the whole dataset for chen2018
    assert cost(model, ds, metrics=["elbo"], options={"elbo": {"protocol": "chen2018"}},
                timing_images=4)["images"] == 50


def test_elbo_needs_no_factors():
    out = metrics.elbo_decomposition(FakeModel(), NoFactors(), num_images=20)
    assert np.isfinite(out["elbo"])


# ----------------------------------------------------------------- unsupervised


def test_unsupervised_scores():
    rng = np.random.default_rng(0)
    independent = rng.normal(size=(4000, 3))
    assert metrics.gaussian_total_correlation(independent) == pytest.approx(0.0, abs=0.01)
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    correlated = rng.multivariate_normal([0, 0], cov, size=20000)
    assert metrics.gaussian_total_correlation(correlated) == pytest.approx(
        -0.5 * np.log(1 - 0.64), rel=0.05)
    assert metrics.gaussian_wasserstein_correlation(independent) == pytest.approx(0, abs=0.02)
    assert metrics.gaussian_wasserstein_correlation(correlated) > 0.1
    assert metrics.mutual_info_pairwise(independent) < 0.05
    assert metrics.mutual_info_pairwise(correlated) > 0.3
    with_constant = np.concatenate([independent, np.zeros((4000, 1))], axis=1)
    assert np.isfinite(metrics.gaussian_total_correlation(with_constant))
    assert set(metrics.unsupervised_scores(independent)) == {
        "gaussian_total_correlation", "gaussian_wasserstein_correlation",
        "gaussian_wasserstein_correlation_norm", "mutual_info_score"}


def test_gaussian_scores_of_an_exact_covariance():
    # Codes whose sample covariance is exactly S = [[4, 1.2], [1.2, 1]] (correlation 0.6).
    s = np.array([[4.0, 1.2], [1.2, 1.0]])
    z = np.random.default_rng(1).normal(size=(500, 2))
    z = (z - z.mean(axis=0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False)).T)
    codes = z @ np.linalg.cholesky(s).T
    np.testing.assert_allclose(np.cov(codes, rowvar=False), s, atol=1e-12)
    # TC of a bivariate Gaussian: -1/2 log(1 - rho^2).
    assert metrics.gaussian_total_correlation(codes) == pytest.approx(-0.5 * np.log(0.64))
    # 2 tr S - 2 tr sqrtm(diag(S) S) (disentanglement_lib): a 2x2 matrix A with positive
    # eigenvalues has tr sqrtm(A) = sqrt(tr A + 2 sqrt(det A)); here tr A = 4^2 + 1^2
    # and det A = 4 * 1 * det S = 10.24. Normalised by tr S = 5.
    w2 = 2 * 5.0 - 2 * np.sqrt(17.0 + 2 * np.sqrt(10.24))
    scores = metrics.unsupervised_scores(codes)
    assert scores["gaussian_wasserstein_correlation"] == pytest.approx(w2)
    assert scores["gaussian_wasserstein_correlation_norm"] == pytest.approx(w2 / 5.0)


# ----------------------------------------------------------------- evaluate

TINY = {
    "discrete_mig": {"num_train": 300},
    "dci": {"num_train": 300, "num_test": 100},
    "sap": {"num_train": 300, "num_test": 100},
    "modularity_explicitness": {"num_train": 300, "num_test": 100},
    "unsupervised": {"num_train": 300},
    "beta_vae": {"num_train": 200, "num_eval": 100},
    "factor_vae": {"num_train": 200, "num_eval": 100, "num_variance_estimate": 200},
    "mig": {"num_samples": 1000},
    "elbo": {"num_images": 60},
}


def test_evaluate_model_all_metrics_json(ds):
    model = FakeModel()
    out = metrics.evaluate(model, ds, seed=0, verbose=0, options=TINY)
    json.loads(json.dumps(out, allow_nan=False))
    assert set(out) == set(metrics.names()) | {"protocol"}
    proto = out["protocol"]
    assert proto["seed"] == 0 and proto["grid_encoded"] and proto["representation"] == "model"
    assert proto["metrics"]["beta_vae"]["num_train"] == 200
    assert out["beta_vae"]["eval_accuracy"] >= 0.9
    assert out["mig"]["mig"] >= 0.95
    assert set(out["dci"]) == {"disentanglement", "completeness", "informativeness_train",
                               "informativeness_test"}
    # Same numbers as the standalone functions with the same seed.
    assert out["beta_vae"] == metrics.beta_vae_score(model, ds, seed=0, **TINY["beta_vae"])
    assert out["discrete_mig"] == metrics.sampled_discrete_mig(model, ds, seed=0, num_train=300)


def test_evaluate_function_skips_model_metrics(ds):
    fn = Counting(noisy_identity)
    out = metrics.evaluate(fn, ds, metrics=("mig", "beta_vae", "factor_vae", "dci"),
                           verbose=0, options=TINY)
    assert "mig" not in out and "mig" in out["protocol"]["skipped"]
    assert fn.count == 60  # one grid encoding shared by everything
    again = metrics.evaluate(noisy_identity, ds, metrics=("beta_vae", "factor_vae", "dci"),
                             verbose=0, options=TINY, encode_grid=False)
    for key in ("beta_vae", "factor_vae", "dci"):
        assert again[key] == out[key]
    json.dumps(out)


@pytest.mark.bad_input
def test_evaluate_errors(ds):
    with pytest.raises(ValueError, match="valid names are"):
        metrics.evaluate(identity, ds, metrics=("mig", "nope"), verbose=0)
    with pytest.raises(ValueError, match="unknown parameters"):
        metrics.evaluate(identity, ds, metrics=("dci",), options={"dci": {"bins": 3}}, verbose=0)
    with pytest.raises(ValueError, match="no ground-truth factors"):
        metrics.evaluate(identity, NoFactors(), metrics=("dci",), verbose=0)
    out = metrics.evaluate(FakeModel(), NoFactors(), verbose=0,
                           options={"elbo": {"num_images": 20}})
    assert set(out) == {"elbo", "protocol"}
    assert "dci" in out["protocol"]["skipped"]


# ----------------------------------------------------------------- registry
# A metric is a module with an adapter plus its registry entry: two metrics defined
# here, in this test module, run through `evaluate` with no change inside kerasdis.


def evaluate_codes(codes, factors, scale=1.0):
    """Adapter of "mean_abs_code" (kind "codes"): on evaluate's shared training sample."""
    assert codes.shape[0] == factors.shape[0]
    return {"mean_abs_code": scale * float(np.mean(np.abs(codes)))}


def evaluate_protocol(representation, ds, *, seed, codes, encode_grid, encode_batch_size,
                      verbose, num_images):
    """Adapter of "grid_code_norm" (kind "protocol"): samples its own images and reads
    them from the grid encoding when `evaluate` made one."""
    indices = np.random.default_rng(seed).integers(0, ds.num_examples, num_images)
    if codes is not None:
        values = codes.means[indices]
    else:
        values = representation(ds.images_at(indices))
    return {"norm": float(np.mean(np.linalg.norm(values, axis=1))),
            "from_grid": codes is not None}


def images_needed(params, grid_size):
    return params["num_images"]


@pytest.fixture()
def user_metrics():
    specs = [
        registry.register("mean_abs_code", primary="mean_abs_code", kind="codes",
                          module=__name__, defaults={"num_train": 300, "scale": 1.0}),
        registry.register("grid_code_norm", primary="norm", kind="protocol", module=__name__,
                          direction="min", defaults={"num_images": 10}),
    ]
    yield specs
    for spec in specs:
        registry.unregister(spec.name)


def test_a_registered_metric_runs_through_evaluate(ds, user_metrics):
    assert metrics.names()[-2:] == ("mean_abs_code", "grid_code_norm")
    assert evaluate_module.DEFAULTS["mean_abs_code"] == {"num_train": 300, "scale": 1.0}
    assert evaluate_module.option_names("grid_code_norm") == {"num_images"}
    out = metrics.evaluate(identity, ds, seed=0, verbose=0,
                           options={**TINY, "mean_abs_code": {"scale": 2.0}})
    codes, _ = sample(ds, identity, 300, 0)  # the training sample of every code metric
    assert out["mean_abs_code"] == {"mean_abs_code": 2.0 * float(np.mean(np.abs(codes)))}
    assert out["protocol"]["metrics"]["mean_abs_code"] == {"num_train": 300, "scale": 2.0}
    assert out["grid_code_norm"]["from_grid"] and out["protocol"]["grid_encoded"]
    assert out["discrete_mig"] == metrics.sampled_discrete_mig(identity, ds, seed=0,
                                                               num_train=300)
    # Alone: 10 images are cheaper than the 60 of the grid; 100 are not (images_needed).
    few = metrics.evaluate(identity, ds, metrics="grid_code_norm", verbose=0)
    assert set(few) == {"grid_code_norm", "protocol"} and not few["grid_code_norm"]["from_grid"]
    many = metrics.evaluate(identity, ds, metrics="grid_code_norm", verbose=0,
                            options={"grid_code_norm": {"num_images": 100}})
    assert many["grid_code_norm"]["from_grid"]
    assert evaluate_module.cost(identity, ds, metrics=["mean_abs_code"], encode_grid=False,
                                timing_images=4)["images"] == 300
    with pytest.raises(ValueError, match="unknown parameters"):
        metrics.evaluate(identity, ds, metrics=["mean_abs_code"], verbose=0,
                         options={"mean_abs_code": {"bins": 3}})
    assert "mean_abs_code" not in metrics.evaluate(FakeModel(), NoFactors(), verbose=0,
                                                   options={"elbo": {"num_images": 20}})


def test_register_refuses_bad_entries(user_metrics):
    with pytest.raises(ValueError, match="already registered"):
        registry.register("dci", primary="x", kind="codes", module=__name__,
                          defaults={"num_train": 10})
    with pytest.raises(ValueError, match="kind"):
        registry.register("other", primary="x", kind="images", module=__name__)
    with pytest.raises(ValueError, match="num_test"):
        registry.register("other", primary="x", kind="codes_train_test", module=__name__,
                          defaults={"num_train": 10})
    with pytest.raises(ValueError, match="seed"):
        registry.register("other", primary="x", kind="protocol", module=__name__,
                          defaults={"seed": 1})
    with pytest.raises(ValueError, match="snake case"):
        registry.register("Other", primary="x", kind="protocol", module=__name__)
    with pytest.raises(ValueError, match="own metrics"):
        registry.unregister("mig")
    again = registry.register("mean_abs_code", primary="mean_abs_code", kind="codes",
                              module=__name__, defaults={"num_train": 300, "scale": 1.0})
    assert again == user_metrics[0]  # re-importing a metric's module is harmless
    assert "other" not in registry.names()


def test_builtin_entries_are_valid_and_match_their_modules():
    adapter = {"codes": "evaluate_codes", "codes_train_test": "evaluate_codes",
               "protocol": "evaluate_protocol"}
    for name in registry.BUILTINS:
        spec = registry.get(name)
        fields = {f: getattr(spec, f) for f in ("primary", "kind", "module", "defaults",
                                                "direction", "needs_model", "needs_factors",
                                                "options", "grid_on_stochastic")}
        assert registry.register(name, **fields) == spec  # passes register's checks
        module = importlib.import_module(spec.module)
        assert callable(getattr(module, adapter[spec.kind]))
        protocol = getattr(module, "PROTOCOL", {})  # the module's documented protocol
        assert {k: protocol[k] for k in spec.defaults if k in protocol} == {
            k: spec.defaults[k] for k in spec.defaults if k in protocol}
    for name in ("beta_vae", "elbo"):
        spec, module = registry.get(name), importlib.import_module(f"kerasdis.metrics.{name}")
        assert spec.defaults == {"protocol": module.DEFAULT_PROTOCOL,
                                 **module.PROTOCOL_DEFAULTS[module.DEFAULT_PROTOCOL]}
        assert module.resolve_params({}) == spec.defaults
        assert evaluate_module.option_names(name) == {"protocol"}.union(
            *module.PROTOCOL_DEFAULTS.values())
    assert registry.get("mig").defaults["num_samples"] == \
        importlib.import_module("kerasdis.metrics.mig").DEFAULT_NUM_SAMPLES
    assert frozenset(evaluate_module.MODEL_ONLY) == {"mig", "elbo"}
    assert frozenset(evaluate_module.NO_FACTORS) == {"elbo"}


def test_evaluate_has_no_per_metric_code():
    """evaluate.py reads every metric from the registry: no metric name in its code."""
    import ast

    tree = ast.parse(pathlib.Path(evaluate_module.__file__).read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
               and isinstance(node.value, str) and id(node) not in docstrings}
    assert strings.isdisjoint(registry.all_names())


# ----------------------------------------------------------------- errors


@pytest.mark.bad_input
def test_input_errors():
    codes = np.random.default_rng(0).normal(size=(50, 3))
    factors = np.stack([np.arange(50) % 3, np.arange(50) % 5], axis=1)
    with pytest.raises(ValueError, match="same number of rows"):
        metrics.discrete_mig(codes, factors[:40])
    with pytest.raises(ValueError, match="integer"):
        metrics.discrete_mig(codes, factors + 0.5)
    with pytest.raises(ValueError, match="constant"):
        metrics.discrete_mig(codes, np.stack([factors[:, 0], np.zeros(50, int)], axis=1))
    bad = codes.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        metrics.discrete_mig(bad, factors)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="codes_train.*NaN or Inf"):
        metrics.dci(bad, factors, codes, factors)
    with pytest.raises(ValueError, match="2-D"):
        metrics.discrete_mig(codes[:, 0], factors)
    with pytest.raises(ValueError, match="2-D"):
        metrics.gaussian_total_correlation(codes[None])
    with pytest.raises(ValueError, match="codes_test"):
        metrics.sap(codes, factors, codes[:, :2], factors)
    with pytest.raises(ValueError, match="classifier"):
        metrics.dci(codes, factors, codes, factors, classifier="forest")
    with pytest.raises(ValueError, match="same number of rows"):
        metrics.modularity_explicitness(codes, factors, codes, factors[:10])
    # Float factors with integer values are fine; continuous SAP takes any value.
    metrics.discrete_mig(codes, factors.astype(float))
    metrics.sap(codes, factors + 0.5, codes, factors + 0.5, continuous_factors=True)


@pytest.mark.bad_input
def test_dataset_and_representation_errors(ds):
    with pytest.raises(ValueError, match="no ground-truth factors"):
        metrics.beta_vae_score(identity, NoFactors(), num_train=10, num_eval=10)
    with pytest.raises(ValueError, match="no ground-truth factors"):
        metrics.mig(FakeModel(), NoFactors(), verbose=0)
    with pytest.raises(ValueError, match="no ground-truth factors"):
        metrics.encode_grid(identity, NoFactors())
    with pytest.raises(ValueError, match="representation"):
        metrics.factor_vae_score("not a model", ds, num_train=10, num_eval=10)
    with pytest.raises(ValueError, match="NaN or Inf"):
        metrics.beta_vae_score(lambda x: np.full((len(x), 2), np.nan), ds, num_train=10,
                               num_eval=10)
    with pytest.raises(ValueError, match="shape"):
        metrics.beta_vae_score(lambda x: np.zeros(len(x)), ds, num_train=10, num_eval=10)
    with pytest.raises(ValueError, match="num_train"):
        metrics.beta_vae_score(identity, ds, num_train=0)
    with pytest.raises(ValueError, match="log-variances"):
        metrics.mig(FakeModel(), ds, codes=metrics.encode_grid(identity, ds, verbose=0))
    with pytest.raises(ValueError, match="grid"):
        metrics.beta_vae_score(identity, ds, codes=metrics.encode_grid(
            lambda x: np.zeros((len(x), 2)), FakeGrid((2, 2)), verbose=0), num_train=10,
            num_eval=10)
