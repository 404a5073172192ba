import numpy as np
import pytest
import tensorflow as tf

from kerasdis import losses


@pytest.mark.parametrize("batch_size,dataset_size", [(2, 10), (5, 100), (64, 737_280)])
def test_mss_weights_follow_the_paper(batch_size, dataset_size):
    w = np.exp(losses.mss_log_importance_weights(batch_size, dataset_size).astype(np.float64))
    n, m = dataset_size, batch_size - 1
    for i in range(batch_size):
        assert w[i, i] == pytest.approx(1 / n, rel=1e-5)
        assert w[i, (i + 1) % batch_size] == pytest.approx((n - m) / (n * m), rel=1e-5)
        others = [j for j in range(batch_size) if j not in (i, (i + 1) % batch_size)]
        np.testing.assert_allclose(w[i, others], 1 / m, rtol=1e-5)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)


def test_mss_weights_in_graph_match_numpy():
    expected = losses.mss_log_importance_weights(7, 1000)
    got = losses._mss_log_weights_tensor(tf.constant(7), 1000, tf.float32).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.bad_input
def test_mss_needs_two_examples():
    with pytest.raises(ValueError, match="batch_size"):
        losses.mss_log_importance_weights(1, 10)


def _posteriors(codes, std=0.05):
    mean = tf.constant(codes, tf.float32)
    log_var = tf.fill(mean.shape, float(np.log(std**2)))
    z = mean + std * tf.random.stateless_normal(mean.shape, seed=[1, 2])
    return z, mean, log_var


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_tc_near_zero_for_independent_codes(estimator):
    rng = np.random.default_rng(0)
    # Wide, overlapping posteriors around independent means: q(z) factorises.
    codes = rng.normal(size=(1024, 4)) * 0.3
    z, mean, log_var = _posteriors(codes, std=1.0)
    terms = losses.decomposed_kl_terms(z, mean, log_var, dataset_size=1024, estimator=estimator)
    assert abs(float(terms["tc"])) < 0.1


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_tc_positive_for_correlated_codes(estimator):
    rng = np.random.default_rng(0)
    base = rng.normal(size=(1024, 1))
    codes = np.repeat(base, 4, axis=1) + 0.05 * rng.normal(size=(1024, 4))
    z, mean, log_var = _posteriors(codes, std=0.1)
    terms = losses.decomposed_kl_terms(z, mean, log_var, dataset_size=1024, estimator=estimator)
    assert float(terms["tc"]) > 2.0


def _brute_force_terms(z, mean, log_var, log_weights):
    """mi, tc, dwkl of Chen et al. (2018), eq. 2, by explicit loops over the batch:
    log q(z_i) = log sum_j w_ij q(z_i | x_j), log q(z_id) = log sum_j w_ij q(z_id | x_jd)."""
    from scipy.special import logsumexp
    from scipy.stats import norm

    b, d = z.shape
    log_q = np.array([[norm.logpdf(z[i], mean[j], np.exp(0.5 * log_var[j])) for j in range(b)]
                      for i in range(b)])  # [i, j, d]
    log_qz = np.array([logsumexp(log_weights[i] + log_q[i].sum(axis=1)) for i in range(b)])
    log_qzj = np.array([[logsumexp(log_weights[i] + log_q[i, :, k]) for k in range(d)]
                        for i in range(b)])
    log_qz_given_x = np.array([log_q[i, i].sum() for i in range(b)])
    log_pz = norm.logpdf(z).sum(axis=1)
    return {"mi": np.mean(log_qz_given_x - log_qz),
            "tc": np.mean(log_qz - log_qzj.sum(axis=1)),
            "dwkl": np.mean(log_qzj.sum(axis=1) - log_pz)}


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_decomposed_terms_match_a_brute_force_reference(estimator):
    # A small batch of overlapping, correlated posteriors, where the estimator's
    # weights change every term (MSS against MWS differ by far more than the tolerance).
    rng = np.random.default_rng(2)
    b, n = 5, 10
    base = rng.normal(size=(b, 1))
    mean = np.concatenate([base, base + 0.3 * rng.normal(size=(b, 1)),
                           rng.normal(size=(b, 1))], axis=1)
    log_var = rng.uniform(-1.5, -0.5, size=(b, 3))
    z = mean + np.exp(0.5 * log_var) * rng.normal(size=(b, 3))
    if estimator == "mss":  # Chen et al. App. C.2, with M = B - 1
        m = b - 1
        weights = np.full((b, b), 1 / m)
        for i in range(b):
            weights[i, i], weights[i, (i + 1) % b] = 1 / n, (n - m) / (n * m)
    else:
        weights = np.full((b, b), 1 / b)
    want = _brute_force_terms(z, mean, log_var, np.log(weights))
    got = losses.decomposed_kl_terms(*(tf.constant(a, tf.float64) for a in (z, mean, log_var)),
                                     dataset_size=n, estimator=estimator)
    for term in ("mi", "tc", "dwkl"):
        assert float(got[term]) == pytest.approx(want[term], rel=1e-6, abs=1e-9), term
    if estimator == "mss":  # the weights matter here: uniform ones give other terms
        uniform = _brute_force_terms(z, mean, log_var, np.log(np.full((b, b), 1 / b)))
        assert abs(uniform["mi"] - want["mi"]) > 0.05 and abs(uniform["tc"] - want["tc"]) > 0.01


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_decomposition_adds_up_to_the_kl(estimator):
    rng = np.random.default_rng(1)
    mean = tf.constant(rng.normal(size=(4096, 5)) * 0.7, tf.float32)
    log_var = tf.constant(rng.uniform(-3, 0, size=(4096, 5)), tf.float32)
    z = mean + tf.exp(0.5 * log_var) * tf.random.stateless_normal(mean.shape, seed=[3, 4])
    terms = losses.decomposed_kl_terms(z, mean, log_var, dataset_size=737_280, estimator=estimator)
    analytic = float(tf.reduce_mean(losses.gaussian_kl(mean, log_var)))
    total = float(terms["mi"] + terms["tc"] + terms["dwkl"])
    assert total == pytest.approx(analytic, rel=0.03)
    assert float(terms["mi"]) >= -0.5 and float(terms["dwkl"]) >= -0.5


@pytest.mark.bad_input
def test_unknown_estimator():
    z = tf.zeros((4, 2))
    with pytest.raises(ValueError, match="estimator"):
        losses.decomposed_kl_terms(z, z, z, 10, estimator="xyz")


def test_gaussian_kl_matches_tfp():
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    mean = tf.constant([[0.3, -1.0]])
    log_var = tf.constant([[0.5, -2.0]])
    q = tfd.MultivariateNormalDiag(mean, tf.exp(0.5 * log_var))
    p = tfd.MultivariateNormalDiag(tf.zeros(2))
    np.testing.assert_allclose(losses.gaussian_kl(mean, log_var), tfd.kl_divergence(q, p), rtol=1e-5)


@pytest.mark.parametrize("likelihood", losses.LIKELIHOODS)
def test_observation_distribution_event_shape(likelihood):
    logits = tf.zeros((3, 8, 8, 1))
    dist = losses.observation_distribution(logits, likelihood)
    assert dist.log_prob(tf.fill((3, 8, 8, 1), 0.5)).shape == (3,)
    assert dist.mean().shape == (3, 8, 8, 1)


@pytest.mark.bad_input
def test_unknown_likelihood():
    with pytest.raises(ValueError, match="likelihood"):
        losses.check_likelihood("poisson")
