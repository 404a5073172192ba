"""`beta_vae_score(protocol=...)`: the paper's classifier ("higgins2017") next to
disentanglement_lib's ("dlib"), its `evaluate` options, the paper's 2D-shapes networks
(`architecture="higgins2017"`) and the benchmark's `--protocol` / `--network`."""

import importlib.util
import os
import pathlib
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import kerasdis as kd  # noqa: E402
from kerasdis import networks  # noqa: E402
from kerasdis.metrics import beta_vae  # noqa: E402
from kerasdis.metrics import representation as rep  # noqa: E402
from kerasdis.metrics.beta_vae import beta_vae_score  # noqa: E402
from kerasdis.metrics.evaluate import evaluate  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIZES = (3, 6, 8, 8)
SMALL = {"num_train": 600, "num_eval": 400, "batch_size": 16}


class FakeGrid:
    """A ground-truth dataset whose image of factors f is `f / (size - 1)`, [1, K, 1]."""

    def __init__(self, sizes=SIZES):
        self.name = "fake"
        self.factor_sizes = tuple(sizes)
        self.factor_names = tuple(f"f{k}" for k in range(len(sizes)))
        self.num_examples = int(np.prod(sizes))
        self.observation_shape = (1, len(sizes), 1)

    def sample_factors(self, n, seed=None):
        rng = np.random.default_rng(seed)
        return np.stack([rng.integers(0, s, n) for s in self.factor_sizes], axis=1)

    def images(self, factors):
        scale = np.maximum(np.asarray(self.factor_sizes) - 1, 1)
        factors = np.asarray(factors, dtype=np.float64)
        return (factors / scale).astype(np.float32).reshape(-1, 1, len(self.factor_sizes), 1)

    def index_of(self, factors):
        return np.ravel_multi_index(np.asarray(factors).T, self.factor_sizes)

    def factors_at(self, indices):
        return np.stack(np.unravel_index(np.asarray(indices), self.factor_sizes), axis=1)

    def images_at(self, indices):
        return self.images(self.factors_at(indices))


def perfect(x):
    """Codes = the factor values themselves (read back from the fake images)."""
    return x.reshape(len(x), -1).astype(np.float32)


def noisy(x):
    """A mixed, noisy representation: informative but imperfect."""
    f = perfect(x)
    mix = np.array([[1.0, 0.3, 0.0, 0.0], [0.0, 1.0, 0.5, 0.0], [0.0, 0.0, 1.0, 0.2],
                    [0.4, 0.0, 0.0, 1.0]], np.float32)
    noise = np.sin(1000.0 * f @ np.arange(1, 5, dtype=np.float32))[:, None]
    return f @ mix + 0.3 * noise


def random_codes(x):
    """Codes unrelated to the image (a fixed stream of noise)."""
    return np.random.default_rng(len(x)).normal(size=(len(x), 6)).astype(np.float32)


@pytest.fixture(scope="module")
def ds():
    return FakeGrid()


# ----------------------------------------------------------------- the higgins protocol


def test_higgins_perfect_representation_scores_near_one(ds):
    out = beta_vae_score(perfect, ds, protocol="higgins2017", seed=0, **SMALL)
    assert set(out) == {"train_accuracy", "eval_accuracy", "eval_accuracy_per_factor",
                        "protocol"}
    assert out["protocol"] == "higgins2017"
    assert out["eval_accuracy"] >= 0.98 and out["train_accuracy"] >= 0.98
    assert min(out["eval_accuracy_per_factor"]) >= 0.95


def test_higgins_random_representation_is_near_chance(ds):
    out = beta_vae_score(random_codes, ds, protocol="higgins2017", seed=0,
                                 num_train=600, num_eval=1000, batch_size=16)
    chance = 1 / len(SIZES)
    assert abs(out["eval_accuracy"] - chance) <= 0.07, out


def test_higgins_is_deterministic_by_seed(ds):
    a = beta_vae_score(noisy, ds, protocol="higgins2017", seed=3, **SMALL)
    b = beta_vae_score(noisy, ds, protocol="higgins2017", seed=3, **SMALL)
    assert a == b
    c = beta_vae_score(noisy, ds, protocol="higgins2017", seed=4, **SMALL)
    assert c != a
    # The classifier alone: same rng -> same weights; another rng -> other weights.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 5)), rng.integers(3, size=200)
    w1, b1, e1 = beta_vae.train_softmax_adagrad(x, y, 3, np.random.default_rng(1))
    w2, b2, e2 = beta_vae.train_softmax_adagrad(x, y, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(b1, b2)
    assert e1 == e2
    w3, _, _ = beta_vae.train_softmax_adagrad(x, y, 3, np.random.default_rng(2))
    assert not np.array_equal(w1, w3)


def test_higgins_classifier_is_keras_dense_softmax_with_adagrad():
    """The numpy classifier computes what a Keras Dense softmax layer trained by
    `keras.optimizers.Adagrad(1e-2)` on the same batches computes."""
    rng = np.random.default_rng(0)
    n, d, k, epochs = 48, 6, 4, 3
    x, y = rng.normal(size=(n, d)), rng.integers(k, size=n)
    w, b, ran = beta_vae.train_softmax_adagrad(x, y, k, np.random.default_rng(7),
                                               batch_size=n, max_epochs=epochs,
                                               tolerance=-np.inf)  # never "converged"
    assert ran == epochs
    init = np.random.default_rng(7)  # the function's first draw: the Glorot kernel
    limit = np.sqrt(6.0 / (d + k))
    w0 = init.uniform(-limit, limit, size=(d, k))
    dense = keras.layers.Dense(k, activation="softmax")
    model = keras.Sequential([keras.Input((d,)), dense])
    dense.set_weights([w0.astype(np.float32), np.zeros(k, np.float32)])
    model.compile(optimizer=keras.optimizers.Adagrad(1e-2),
                  loss="sparse_categorical_crossentropy")
    for _ in range(epochs):  # one full batch per epoch: the order does not matter
        model.train_on_batch(x.astype(np.float32), y)
    kw, kb = dense.get_weights()
    np.testing.assert_allclose(w, kw, atol=2e-5)
    np.testing.assert_allclose(b, kb, atol=2e-5)


# ----------------------------------------------------------------- dlib unchanged


def test_dlib_default_is_unchanged(ds):
    omitted = beta_vae_score(noisy, ds, seed=2, **SMALL)
    assert omitted == beta_vae_score(noisy, ds, seed=2, protocol="dlib", **SMALL)
    assert omitted["protocol"] == "dlib"
    # ... and it is still the disentanglement_lib procedure: the same points, a
    # LogisticRegression(max_iter=1000, random_state=0).
    rng = np.random.default_rng(2)
    source = rep.CodeSource(noisy, ds, encode_grid=True,
                            num_images=2 * 16 * (600 + 400))
    noise_rng = rep.noise_rng_of(rng)
    x_train, y_train = beta_vae._features(source, 600, 16, rng, noise_rng, None, 0)
    x_eval, y_eval = beta_vae._features(source, 400, 16, rng, noise_rng, None, 600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(max_iter=1000, random_state=0).fit(x_train, y_train)
    assert omitted["train_accuracy"] == float(np.mean(model.predict(x_train) == y_train))
    assert omitted["eval_accuracy"] == float(np.mean(model.predict(x_eval) == y_eval))
    # The default sizes are the published dlib ones.
    assert beta_vae.protocol_params("dlib") == {"num_train": 10_000, "num_eval": 5_000,
                                                "batch_size": 64}


# ----------------------------------------------------------------- both protocols at once


def test_scores_of_both_protocols_equal_their_own_calls_on_shared_points(ds):
    both = kd.metrics.beta_vae_scores(noisy, ds, seed=3, **SMALL)
    assert list(both) == ["dlib", "higgins2017"]
    for protocol, result in both.items():
        assert result == beta_vae_score(noisy, ds, protocol=protocol, seed=3, **SMALL)
    # a classifier parameter goes to the protocol that has it
    slow = kd.metrics.beta_vae_scores(noisy, ds, seed=3, learning_rate=1e-3, max_epochs=2,
                                      **SMALL)
    assert slow["dlib"] == both["dlib"]
    assert slow["higgins2017"] == beta_vae_score(noisy, ds, protocol="higgins2017", seed=3,
                                                 learning_rate=1e-3, max_epochs=2, **SMALL)


def test_scores_of_several_protocols_check_their_arguments_before_encoding(ds):
    def never(x):
        raise AssertionError("encoded before the arguments were checked")

    with pytest.raises(ValueError, match="`protocols`.*at most once"):
        kd.metrics.beta_vae_scores(never, ds, protocols=("dlib", "dlib"), **SMALL)
    with pytest.raises(ValueError, match="`protocols`.*at least one"):
        kd.metrics.beta_vae_scores(never, ds, protocols=(), **SMALL)
    with pytest.raises(ValueError, match="`protocol` must be one of.*'nope'"):
        kd.metrics.beta_vae_scores(never, ds, protocols=("dlib", "nope"), **SMALL)
    with pytest.raises(ValueError, match="learning_rate.*protocol='dlib'"):
        kd.metrics.beta_vae_scores(never, ds, protocols=("dlib",), learning_rate=0.1, **SMALL)
    with pytest.raises(ValueError, match="`bogus`: not a classifier parameter"):
        kd.metrics.beta_vae_scores(never, ds, bogus=1, **SMALL)
    with pytest.raises(ValueError, match="max_epochs"):
        kd.metrics.beta_vae_scores(never, ds, max_epochs=0, **SMALL)


# ----------------------------------------------------------------- errors


def test_unknown_protocol_and_foreign_parameters_raise(ds):
    with pytest.raises(ValueError, match=r"`protocol`.*'dlib'.*'higgins2017'.*'nope'"):
        beta_vae_score(perfect, ds, protocol="nope", num_train=10, num_eval=10)
    with pytest.raises(ValueError, match="learning_rate.*protocol='dlib'"):
        beta_vae_score(perfect, ds, learning_rate=0.1, num_train=10, num_eval=10)
    with pytest.raises(ValueError, match="learning_rate"):
        beta_vae_score(perfect, ds, protocol="higgins2017", learning_rate=-1.0,
                               num_train=10, num_eval=10)
    with pytest.raises(ValueError, match="options\\['beta_vae'\\].*`protocol`"):
        evaluate(perfect, ds, metrics=["beta_vae"], verbose=0,
                         options={"beta_vae": {"protocol": "nope"}})
    with pytest.raises(ValueError, match="options\\['beta_vae'\\].*max_epochs"):
        evaluate(perfect, ds, metrics=["beta_vae"], verbose=0,
                         options={"beta_vae": {"max_epochs": 3}})  # dlib has no epochs
    with pytest.raises(ValueError, match="unknown parameters \\['bogus'\\]"):
        evaluate(perfect, ds, metrics=["beta_vae"], verbose=0,
                         options={"beta_vae": {"protocol": "higgins2017", "bogus": 1}})


# ----------------------------------------------------------------- evaluate options


def test_evaluate_passes_the_protocol_and_its_defaults(ds, monkeypatch):
    options = {"beta_vae": {"protocol": "higgins2017", "num_train": 300, "num_eval": 200,
                            "batch_size": 16}}
    out = evaluate(noisy, ds, metrics=["beta_vae"], seed=1, verbose=0,
                           options=options)
    params = out["protocol"]["metrics"]["beta_vae"]
    assert params == {"protocol": "higgins2017", "num_train": 300, "num_eval": 200,
                      "batch_size": 16, "learning_rate": 0.01, "standardize": True,
                      "classifier_batch_size": 64, "max_epochs": 1000, "tolerance": 0.0001,
                      "patience": 5}
    alone = beta_vae_score(noisy, ds, seed=1, protocol="higgins2017", num_train=300,
                                   num_eval=200, batch_size=16)
    assert out["beta_vae"] == alone
    # Parameters the user does not set come from the higgins protocol, not from dlib's.
    monkeypatch.setitem(beta_vae.PROTOCOL_DEFAULTS, "higgins2017",
                        {**beta_vae.PROTOCOL_DEFAULTS["higgins2017"], "num_train": 123,
                         "num_eval": 45, "batch_size": 4})
    out = evaluate(noisy, ds, metrics=["beta_vae"], seed=1, verbose=0,
                           options={"beta_vae": {"protocol": "higgins2017"}})
    params = out["protocol"]["metrics"]["beta_vae"]
    assert (params["num_train"], params["num_eval"], params["batch_size"]) == (123, 45, 4)
    # The default stays dlib.
    out = evaluate(noisy, ds, metrics=["beta_vae"], seed=1, verbose=0,
                           options={"beta_vae": {"num_train": 300, "num_eval": 200}})
    assert out["protocol"]["metrics"]["beta_vae"] == {
        "protocol": "dlib", "num_train": 300, "num_eval": 200, "batch_size": 64}
    assert out["beta_vae"]["protocol"] == "dlib"


# ----------------------------------------------------------------- the paper's networks


def _dense_layers(model):
    return [(layer.name, layer.units, keras.activations.serialize(layer.activation))
            for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def test_higgins2017_network_layers():
    assert "higgins2017" in networks.ARCHITECTURES
    enc = networks.build_encoder((64, 64, 1), 10, architecture="higgins2017", seed=0)
    dec = networks.build_decoder((64, 64, 1), 10, architecture="higgins2017", seed=0)
    assert _dense_layers(enc) == [("fc1", 1200, "relu"), ("fc2", 1200, "relu"),
                                  ("mean", 10, "linear"), ("log_var", 10, "linear")]
    assert enc.get_layer("fc1").kernel.shape == (4096, 1200)
    assert _dense_layers(dec) == [("fc1", 1200, "tanh"), ("fc2", 1200, "tanh"),
                                  ("fc3", 1200, "tanh"), ("logits_flat", 4096, "linear")]
    assert tuple(dec.output.shape) == (None, 64, 64, 1)
    # Fully connected: any input shape; the same layers as "mlp" (existing
    # architectures untouched).
    assert networks.check_input_shape((32, 48, 3), "higgins2017") == (32, 48, 3)
    mlp = networks.build_encoder((64, 64, 1), 10, architecture="mlp", seed=0)
    assert [w.shape for w in mlp.weights] == [w.shape for w in enc.weights]
    with pytest.raises(ValueError, match="higgins2017"):
        networks.build_encoder((64, 64, 1), 10, architecture="dense")


def test_higgins2017_network_trains_a_beta_vae_step():
    model = kd.models.BetaVAE(latent_dim=10, beta=4.0, input_shape=(64, 64, 1),
                              architecture="higgins2017", seed=0)
    assert model.architecture == "higgins2017"
    model.compile(optimizer=keras.optimizers.Adagrad(1e-2))
    images = (np.random.default_rng(0).random((8, 64, 64, 1)) > 0.8).astype(np.float32)
    before = [w.copy() for w in model.encoder.get_weights()]
    logs = model.train_on_batch(images, return_dict=True)
    assert np.isfinite(logs["loss"])
    after = model.encoder.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    mean, log_var = model.encode(images)
    assert mean.shape == (8, 10) and log_var.shape == (8, 10)


# ----------------------------------------------------------------- the benchmark


def _bench(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_higgins_table_scores_both_protocols_with_their_parameters(tmp_path):
    bench = _bench("higgins_table")
    s = bench.settings(False)
    assert set(s["protocols"]) == {"dlib", "higgins2017"}
    higgins = s["protocols"]["higgins2017"]
    assert higgins["protocol"] == "higgins2017" and higgins["learning_rate"] == 0.01
    assert higgins["num_train"] == s["protocols"]["dlib"]["num_train"] == 10_000
    # the paper's networks are rows of their own, trained with the paper's optimiser
    for key in ("vae_mlp", "beta_vae_mlp"):
        recipe = bench.MLP_RECIPES[key]
        assert recipe["optimizer"] == "adagrad_zero_init" and recipe["learning_rate"] == 0.01
        assert recipe["model_args"]["architecture"] == "higgins2017"
    assert bench.MLP_RECIPES["beta_vae_mlp"]["model_args"]["beta"] == 4.0
    out = tmp_path / "higgins.md"
    assert bench.main(["--quick", "--rows", "ground_truth,vae_untrained",
                       "--output", str(out)]) == 0
    text = out.read_text()
    assert "Adagrad" in text and "| Ground truth |" in text
