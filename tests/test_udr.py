"""Tests of `kd.metrics.udr` (Unsupervised Disentanglement Ranking, Duan et al. 2020).

The function is imported from its module (`kerasdis.metrics.udr.udr`): importing
the submodule makes the package attribute `kerasdis.metrics.udr` the module when the
package resolves names lazily; `test_public_name` checks the public name.
"""

import json
import math

import numpy as np
import pytest
import scipy.stats

import kerasdis as kd
from kerasdis.metrics.udr import (
    gaussian_kl,
    lasso_matrix,
    relative_strength_disentanglement,
    spearman_matrix,
    udr,
    udr_from_codes,
)

NUM_FACTORS = 4
INFORMATIVE_LOG_VAR = math.log(0.05)


def _images(n=2000, seed=0):
    """8x8 grey images whose first NUM_FACTORS pixels are independent uniform factors."""
    return np.random.default_rng(seed).random((n, 8, 8, 1)).astype(np.float32)


def _factors(x):
    x = np.asarray(x, dtype=np.float64)
    return (x.reshape(x.shape[0], -1)[:, :NUM_FACTORS] - 0.5) * 3.4  # about unit variance


class FakeModel:
    """Deterministic encoder: `mean = [factors @ mixing, collapsed zeros]`.

    Informative latents have log-variance log(0.05) (KL well above 0.01); collapsed
    latents have mean `collapsed_noise * pixel` and log-variance 0 (KL about 0).
    """

    def __init__(self, mixing, num_collapsed=0, collapsed_noise=0.0):
        self.mixing = np.asarray(mixing, dtype=np.float64)
        self.num_collapsed = num_collapsed
        self.collapsed_noise = collapsed_noise

    def encode(self, x):
        x = np.asarray(x, dtype=np.float64)  # fails on symbolic tensors: eager fallback
        n = x.shape[0]
        informative = _factors(x) @ self.mixing
        pixels = x.reshape(n, -1)
        collapsed = self.collapsed_noise * (pixels[:, 10:10 + self.num_collapsed] - 0.5)
        mean = np.concatenate([informative, collapsed], axis=1)
        log_var = np.concatenate([
            np.full(informative.shape, INFORMATIVE_LOG_VAR),
            np.zeros(collapsed.shape),
        ], axis=1)
        return mean.astype(np.float32), log_var.astype(np.float32)


def _aligned(seed, **kwargs):
    """A permutation with random sign flips of the factors."""
    rng = np.random.default_rng(seed)
    mixing = np.eye(NUM_FACTORS)[rng.permutation(NUM_FACTORS)]
    mixing = mixing * rng.choice([-1.0, 1.0], size=NUM_FACTORS)
    return FakeModel(mixing, **kwargs)


def _rotated(seed):
    """A random rotation of the factors: entangled latents."""
    q, _ = np.linalg.qr(np.random.default_rng(100 + seed).normal(size=(NUM_FACTORS, NUM_FACTORS)))
    return FakeModel(q)


# ----------------------------------------------------------------- the formula


def test_relative_strength_matches_hand_computation():
    # Columns: 0.9^2/1.1 = 0.736364 and 0.6^2/1.0 = 0.36, mean 0.548182.
    # Rows: 0.9^2/1.0 = 0.81, 0.6^2/0.8 = 0.45, 0.3^2/0.3 = 0.3, mean 0.52.
    r = np.array([[0.9, 0.1], [0.2, 0.6], [0.0, 0.3]])
    expected = ((0.81 / 1.1 + 0.36) / 2 + (0.81 + 0.45 + 0.3) / 3) / 2
    assert relative_strength_disentanglement(r) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.5340909, abs=1e-6)
    # The paper's single average over d_a + d_b latents would give 0.5312727 instead.
    assert abs(expected - (0.81 / 1.1 + 0.36 + 0.81 + 0.45 + 0.3) / 5) > 1e-3
    # disentanglement_lib's own test values.
    assert relative_strength_disentanglement(np.eye(3)) == 1.0
    block = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert relative_strength_disentanglement(block) == pytest.approx(2 / 3)
    assert relative_strength_disentanglement(np.ones((3, 3))) == pytest.approx(1 / 3)
    # An all-zero matrix, or no informative latent on one side, scores 0.
    assert relative_strength_disentanglement(np.zeros((3, 3))) == 0.0
    assert relative_strength_disentanglement(np.zeros((0, 3))) == 0.0
    assert relative_strength_disentanglement(np.zeros((2, 0))) == 0.0


def test_udr_from_codes_matches_hand_computed_spearman_example():
    # Model A: a0 = [1,2,3,4], a1 = [2,1,4,3]; Spearman(a0, a1) = 1 - 6*4/(4*15) = 0.6.
    # Model B: [a0, a0]. R = [[1, 1], [0.6, 0.6]] (rows: A's latents).
    # Columns: 1/1.6 each -> 0.625; rows: 1/2 = 0.5 and 0.36/1.2 = 0.3 -> 0.4.
    # UDR = (0.625 + 0.4) / 2 = 0.5125.
    a0 = np.array([1.0, 2.0, 3.0, 4.0])
    a1 = np.array([2.0, 1.0, 4.0, 3.0])
    means = [np.stack([a0, a1], axis=1), np.stack([a0, a0], axis=1)]
    log_vars = [np.zeros((4, 2)), np.zeros((4, 2))]
    np.testing.assert_allclose(spearman_matrix(_std(means[0]), _std(means[1])),
                               [[1.0, 1.0], [0.6, 0.6]], atol=1e-12)
    out = udr_from_codes(means, log_vars, correlation="spearman")
    assert out["pairwise"][0][1] == pytest.approx(0.5125, abs=1e-12)
    assert out["pairwise"][1][0] == pytest.approx(0.5125, abs=1e-12)
    assert out["scores"] == pytest.approx([0.5125, 0.5125], abs=1e-12)
    assert out["pairwise"][0][0] is None and out["pairwise"][1][1] is None
    assert out["num_informative"] == [2, 2]
    # KL of N(mu, 1) to N(0, 1) is mu^2 / 2 (mean over images): (1+4+9+16)/4/2 = 3.75.
    assert out["kl"][0] == pytest.approx([3.75, 3.75])


def _std(codes):
    return (codes - codes.mean(axis=0)) / codes.std(axis=0)


def test_median_over_pairs_and_lasso_orientation():
    # Three models: pairwise[i][j] has model i's latents as regressors (rows of R);
    # model j's score is the median of column j without the diagonal.
    rng = np.random.default_rng(0)
    f = rng.normal(size=(500, 3))
    means = [f, f[:, ::-1] * [1, -1, 1], f @ np.linalg.qr(rng.normal(size=(3, 3)))[0]]
    log_vars = [np.zeros_like(m) - 1.0 for m in means]
    out = udr_from_codes(means, log_vars, correlation="lasso")
    pw = np.array([[np.nan if v is None else v for v in row] for row in out["pairwise"]])
    for j in range(3):
        assert out["scores"][j] == pytest.approx(np.median(np.delete(pw[:, j], j)))
    # A one-to-one match: R = 0.9 * permutation (Lasso shrinks unit weights by alpha
    # = 0.1 on standardised codes), so UDR = 0.9^2 / 0.9 = 0.9, as in disentanglement_lib.
    assert pw[0, 1] == pytest.approx(0.9, abs=0.01) and pw[1, 0] == pytest.approx(0.9, abs=0.01)
    assert pw[0, 2] < 0.8 and pw[2, 0] < 0.8
    # Lasso weights of model j's codes regressed on model i's: an identity fit.
    r = lasso_matrix(_std(f), _std(f[:, [1, 0, 2]]))
    assert r.shape == (3, 3)
    np.testing.assert_allclose(r, np.eye(3)[:, [1, 0, 2]] * 0.9, atol=0.01)  # shrunk by alpha
    r = lasso_matrix(_std(f[:, :2]), _std(f))  # 2 regressors, 3 targets -> [2, 3]
    assert r.shape == (2, 3)
    # Codes are standardised first: rescaling and shifting latents changes nothing.
    scaled = [m * [100.0, 0.01, 5.0] + 3.0 for m in means]
    rescaled = udr_from_codes(scaled, log_vars, correlation="lasso")
    np.testing.assert_allclose(np.array(rescaled["scores"]), np.array(out["scores"]), atol=1e-6)


def test_gaussian_kl():
    mean = np.array([[0.0, 1.0], [0.0, -1.0]])
    log_var = np.array([[0.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(gaussian_kl(mean, log_var), [0.0, 0.5])
    # KL(N(0, e) || N(0, 1)) = 0.5 (e - 1 - 1).
    np.testing.assert_allclose(gaussian_kl([[0.0]], [[1.0]]), [0.5 * (math.e - 2)])


# ----------------------------------------------------------------- behaviour


def test_aligned_models_score_close_to_one_and_rotated_lower():
    x = _images()
    aligned = [_aligned(s) for s in range(3)]
    rotated = [_rotated(s) for s in range(3)]
    # A perfect match scores 1 with Spearman, 1 - alpha = 0.9 with Lasso.
    for correlation, top in (("spearman", 1.0), ("lasso", 0.9)):
        good = udr(aligned, x, correlation=correlation)
        bad = udr(rotated, x, correlation=correlation)
        assert min(good["scores"]) > top - 0.06, (correlation, good["scores"])
        assert max(good["scores"]) <= top + 1e-6, (correlation, good["scores"])
        assert max(bad["scores"]) < 0.8 * top, (correlation, bad["scores"])
        assert min(good["scores"]) - max(bad["scores"]) > 0.2
        assert good["num_informative"] == [4, 4, 4]
        assert good["correlation"] == correlation
        assert good["num_samples"] == 2000


def test_ranking_in_a_mixed_population():
    # Four disentangled and two entangled models: each disentangled model agrees with
    # most of the others (median high), the entangled ones with none.
    x = _images(1000)
    models = [_aligned(0), _rotated(0), _aligned(1), _aligned(2), _rotated(1), _aligned(3)]
    out = udr(models, x, seed=0)
    scores = np.array(out["scores"])
    aligned_idx, rotated_idx = [0, 2, 3, 5], [1, 4]
    assert scores[aligned_idx].min() > scores[rotated_idx].max() + 0.2
    pw = np.array([[np.nan if v is None else v for v in row] for row in out["pairwise"]])
    np.testing.assert_allclose(scores, [np.median(np.delete(pw[:, j], j)) for j in range(6)])
    assert not np.allclose(scores, [np.mean(np.delete(pw[:, j], j)) for j in range(6)])
    assert np.argsort(-scores)[:4].tolist() == sorted(aligned_idx, key=lambda i: -scores[i])


def test_collapsed_latents_are_not_informative():
    x = _images(1000)
    # Nearly collapsed latents: tiny means (KL ~ 1e-7 nats) that carry noise.
    a = _aligned(0, num_collapsed=3, collapsed_noise=1e-3)
    b = _aligned(1, num_collapsed=2, collapsed_noise=1e-3)
    out = udr([a, b], x)
    assert out["num_informative"] == [4, 4]
    assert out["latent_dims"] == [7, 6]
    assert all(k < 1e-5 for k in out["kl"][0][4:])
    assert min(out["scores"]) > 0.9
    # Counting them (threshold 0) adds unmatched latents and lowers the score.
    counted = udr([a, b], x, kl_threshold=0.0)
    assert counted["num_informative"] == [7, 6]
    assert max(counted["scores"]) < out["scores"][0] - 0.1


def test_model_without_informative_latents_scores_zero():
    x = _images(2000)
    dead = FakeModel(np.zeros((NUM_FACTORS, 0)), num_collapsed=3)  # mean 0, log_var 0
    out = udr([_aligned(0), _aligned(1), dead], x)
    assert out["num_informative"] == [4, 4, 0]
    assert out["kl"][2] == [0.0, 0.0, 0.0]
    assert out["pairwise"][0][2] == 0.0 and out["pairwise"][2][0] == 0.0
    assert out["scores"][2] == 0.0
    assert out["pairwise"][0][1] > 0.9


def test_different_latent_sizes():
    x = _images(1000)
    # Model c has only the first two factors (plus 2 collapsed latents).
    c = FakeModel(np.eye(NUM_FACTORS)[:, :2], num_collapsed=2)
    models = [_aligned(0), _aligned(1, num_collapsed=3), c]
    for correlation in ("spearman", "lasso"):
        out = udr(models, x, correlation=correlation)
        assert out["latent_dims"] == [4, 7, 4]
        assert out["num_informative"] == [4, 4, 2]
        assert out["pairwise"][0][1] > 0.85
        # c matches 2 of the 4 latents of the others one-to-one: the matched rows and
        # columns score ~1, the unmatched rows of the 4-latent side ~0.
        assert 0.6 < out["pairwise"][0][2] < 0.85
        assert 0.6 < out["pairwise"][2][0] < 0.85
        assert all(0.0 <= s <= 1.0 for s in out["scores"])


def test_output_is_json_serialisable_and_deterministic():
    x = _images(600)
    models = [_aligned(0), _rotated(0), _aligned(1)]
    out = udr(models, x, num_samples=300, seed=3)
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    assert out["num_samples"] == 300 and out["kl_threshold"] == 0.01 and out["seed"] == 3
    assert len(out["scores"]) == 3 and len(out["pairwise"]) == 3
    assert all(len(row) == 3 for row in out["pairwise"])
    assert all(isinstance(s, float) for s in out["scores"])
    assert udr(models, x, num_samples=300, seed=3) == out
    # Another seed draws another subset of the 600 images.
    assert udr(models, x, num_samples=300, seed=4)["pairwise"] != out["pairwise"]


def test_dataset_input_uses_sampled_images():
    # A 16 x 16 factor grid of images; the factors are never given to the models.
    x = _images(256, seed=5)
    factors = np.stack(np.unravel_index(np.arange(256), (16, 16)), axis=1)
    ds = kd.data.from_arrays(x, factors=factors)
    assert ds.indexed_by_factors
    models = [_aligned(0), _rotated(0), _aligned(1), _aligned(2)]
    out = udr(models, ds, num_samples=400, seed=7)
    # Same images as `ds.sample_factors(400, rng)` then `ds.images(...)`.
    rng = np.random.default_rng(7)
    images = ds.images(ds.sample_factors(400, seed=rng))
    expected = udr(models, images, num_samples=400, seed=7)
    assert out == expected
    # A dataset without factors: uniform examples through `images_at`.
    plain = kd.data.from_arrays(x)
    out = udr(models, plain, num_samples=300, seed=7)
    assert out["num_samples"] == 300
    assert min(out["scores"][0], out["scores"][2], out["scores"][3]) > 0.75
    assert out["scores"][1] < min(out["scores"][0], out["scores"][2], out["scores"][3]) - 0.2


# ----------------------------------------------------------------- real models


def test_real_kerasdis_models_run_dirs_and_presets(tmp_path):
    x = _images(256, seed=1)
    a = kd.models.BetaVAE(latent_dim=4, architecture="mlp", input_shape=(8, 8, 1), seed=0)
    a_twin = kd.models.BetaVAE(latent_dim=4, architecture="mlp", input_shape=(8, 8, 1), seed=0)
    b = kd.models.BetaVAE(latent_dim=3, architecture="mlp", input_shape=(8, 8, 1), seed=1)
    out = udr([a, a_twin, b], x, kl_threshold=0.0, batch_size=64)
    assert out["latent_dims"] == [4, 4, 3]
    assert out["num_informative"] == [4, 4, 3]  # untrained: small but positive KL
    # Two identical networks have identical codes, so R is the |Spearman| matrix of
    # the codes with themselves: 1 on the diagonal, but an untrained encoder's latents
    # are correlated with each other, so UDR < 1.
    mean = np.asarray(a.encode(x)[0], dtype=np.float64)
    r_self = np.abs(scipy.stats.spearmanr(mean).statistic)
    expected = relative_strength_disentanglement(r_self)
    assert out["pairwise"][0][1] == pytest.approx(expected, abs=1e-6)
    assert out["pairwise"][1][0] == pytest.approx(expected, abs=1e-6)
    assert 0.0 < out["pairwise"][0][2] < 1.0
    json.dumps(out, allow_nan=False)

    # A run directory (model.keras, as written by `kerasdis train --out DIR`) and a
    # preset directory through `loader=`.
    run = tmp_path / "run"
    run.mkdir()
    b.save(str(run / "model.keras"))
    preset = tmp_path / "preset"
    a.save_to_preset(str(preset))
    loaded = udr([str(preset), a_twin, str(run)], x, kl_threshold=0.0,
                            batch_size=64, loader=kd.zoo.load)
    for i in range(3):
        for j in range(3):
            if i != j:
                assert loaded["pairwise"][i][j] == pytest.approx(out["pairwise"][i][j], abs=1e-6)
    with pytest.raises(ValueError, match="loader"):
        udr([str(preset), a], x)


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, match", [
    ({"models": "one"}, r"`models` must be a list.*'one'"),
    ({"models": [None]}, r"`models` must hold at least 2 models.*got 1"),
    ({"correlation": "pearson"},
     r"`correlation` must be one of 'spearman', 'lasso', got 'pearson'"),
    ({"num_samples": 1}, r"`num_samples` must be an integer >= 2, got 1"),
    ({"num_samples": True}, r"`num_samples` must be an integer >= 2, got True"),
    ({"num_samples": 10.0}, r"`num_samples` must be an integer >= 2, got 10.0"),
    ({"kl_threshold": -0.1}, r"`kl_threshold` must be a finite non-negative.*-0.1"),
    ({"kl_threshold": float("nan")}, r"`kl_threshold` must be a finite non-negative.*nan"),
    ({"batch_size": 0}, r"`batch_size` must be a positive integer, got 0"),
    ({"seed": -1}, r"`seed` must be a non-negative int.*-1"),
    ({"loader": "kd.zoo.load"}, r"`loader` must be a callable.*'kd.zoo.load'"),
    ({"images_or_dataset": np.full((4, 8, 8, 1), 2.0)},
     r"`images_or_dataset` pixel values must be in \[0, 1\], got values in \[2, 2\]"),
    ({"images_or_dataset": np.full((4, 8, 8, 1), -0.5)},
     r"`images_or_dataset` pixel values must be in \[0, 1\], got values in \[-0.5, -0.5\]"),
    ({"images_or_dataset": np.full((4, 8, 8, 1), np.nan)}, r"`images_or_dataset` contains NaN"),
    ({"images_or_dataset": np.zeros((4, 64))}, r"`images_or_dataset` must be images \[n, height"),
    ({"images_or_dataset": np.zeros((1, 8, 8, 1))}, r"at least 2 images, got shape \(1, 8, 8, 1\)"),
    ({"images_or_dataset": np.array([["a"]])}, r"`images_or_dataset` must be float images"),
    ({"models": [object(), object()]}, r"`models\[0\]` must be a kerasdis model.*object"),
    ({"models": ["no_such_preset", "x"]}, r"`models\[0\]` = 'no_such_preset'.*loader=kd.zoo.load"),
])
def test_errors(kwargs, match):
    args = {"models": [_aligned(0), _aligned(1)], "images_or_dataset": _images(50)}
    args.update(kwargs)
    models = args.pop("models")
    images = args.pop("images_or_dataset")
    with pytest.raises(ValueError, match=match):
        udr(models, images, **args)


def test_errors_before_encoding_and_bad_encoders():
    calls = []

    class Counting(FakeModel):
        def encode(self, x):
            calls.append(1)
            return super().encode(x)

    models = [Counting(np.eye(NUM_FACTORS)), Counting(np.eye(NUM_FACTORS))]
    with pytest.raises(ValueError, match="pixel values"):
        udr(models, np.full((10, 8, 8, 1), 3.0))
    with pytest.raises(ValueError, match="correlation"):
        udr(models, _images(10), correlation="kendall")
    assert calls == []

    class NaNModel(FakeModel):
        def encode(self, x):
            mean, log_var = super().encode(x)
            mean[0, 0] = np.nan
            return mean, log_var

    with pytest.raises(ValueError, match="model 1 returned NaN"):
        udr([_aligned(0), NaNModel(np.eye(NUM_FACTORS))], _images(20))
    with pytest.raises(ValueError, match="every model must encode the same images"):
        udr_from_codes([np.zeros((5, 2)), np.zeros((6, 2))], [np.zeros((5, 2)), np.zeros((6, 2))])


def test_public_name():
    import kerasdis.metrics

    assert "udr" in kerasdis.metrics.__all__
    assert kerasdis.metrics.udr is udr


# ------------------------------------------- disentanglement_lib's computation


def _reference_udr(means, log_vars, correlation):
    """disentanglement_lib's `compute_udr_sklearn` (evaluation/udr/metrics/udr.py) after
    its encoding step, ported line by line to numpy: standardise, zero latents with
    KL <= 0.01, a similarity matrix per ordered pair (Lasso: model i's codes are the
    regressors of model j's), filter to the informative latents, score, median."""
    from sklearn import linear_model, preprocessing

    @np.errstate(divide="ignore", invalid="ignore")  # 0/0 columns, as theirs
    def strength(c):
        x = np.nanmean(np.nan_to_num(np.max(c, axis=0) ** 2 / np.sum(c, axis=0), 0))
        y = np.nanmean(np.nan_to_num(np.max(c, axis=1) ** 2 / np.sum(c, axis=1), 0))
        return (x + y) / 2

    reps, masks = [], []
    for mean, log_var in zip(means, log_vars):
        mean, log_var = np.asarray(mean, np.float64), np.asarray(log_var, np.float64)
        kl = np.mean(0.5 * (np.square(mean) + np.exp(log_var) - log_var - 1), axis=0)
        reps.append(preprocessing.StandardScaler().fit_transform(mean) * np.greater(kl, 0.01))
        masks.append(kl > 0.01)
    n = len(reps)
    pairwise = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            if correlation == "lasso":
                fit = linear_model.Lasso(alpha=0.1).fit(reps[i], reps[j])
                c = np.abs(fit.coef_).T
            else:
                c = np.abs(np.array([[scipy.stats.spearmanr(reps[i][:, a], reps[j][:, b])[0]
                                      for b in range(reps[j].shape[1])]
                                     for a in range(reps[i].shape[1])]))
            pairwise[i, j] = strength(c[masks[i]][:, masks[j]])
    return pairwise, [np.median(np.delete(pairwise[:, j], j)) for j in range(n)]


@pytest.mark.parametrize("correlation", ["spearman", "lasso"])
def test_udr_from_codes_matches_disentanglement_libs_computation(correlation):
    """Four models with 2-5 informative latents each (so d_i != d_j), entangled by
    different amounts, the rest collapsed: every pairwise score and model score is
    disentanglement_lib's. The Lasso scores are not symmetric, so regressing model j
    on model i instead of i on j fails this."""
    rng = np.random.default_rng(3)
    n, size, factors = 1500, 8, 5
    truth = rng.uniform(-1.7, 1.7, size=(n, factors))
    means, log_vars = [], []
    for informative, entangled in zip((2, 5, 3, 4), (0.0, 0.5, 0.2, 0.8)):
        mixing = np.eye(factors)[:, rng.permutation(factors)[:informative]]
        mixing = mixing + entangled * rng.normal(size=mixing.shape)
        codes = np.tanh(truth @ mixing) * 1.5 + 0.05 * rng.normal(size=(n, informative))
        collapsed = 1e-3 * rng.normal(size=(n, size - informative))
        order = rng.permutation(size)
        means.append(np.concatenate([codes, collapsed], 1)[:, order].astype(np.float32))
        log_vars.append(np.concatenate([np.full((n, informative), INFORMATIVE_LOG_VAR),
                                        collapsed], 1)[:, order].astype(np.float32))
    out = udr_from_codes(means, log_vars, correlation=correlation)
    pairwise, scores = _reference_udr(means, log_vars, correlation)
    assert out["num_informative"] == [2, 5, 3, 4]
    got = np.array([[0.0 if v is None else v for v in row] for row in out["pairwise"]])
    np.testing.assert_allclose(got, pairwise, atol=1e-9)
    np.testing.assert_allclose(out["scores"], scores, atol=1e-9)
    if correlation == "lasso":
        assert np.abs(pairwise - pairwise.T).max() > 0.01  # the direction matters
