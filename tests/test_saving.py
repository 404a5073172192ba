import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import kerasdis as kd


def _make(name):
    return {
        "vae": lambda: kd.models.VAE(seed=1),
        "beta_vae": lambda: kd.models.BetaVAE(beta=4.0, seed=1),
        "annealed_vae": lambda: kd.models.AnnealedVAE(capacity_steps=50, seed=1),
        "beta_tcvae": lambda: kd.models.BetaTCVAE(dataset_size=1000, seed=1),
        "factor_vae": lambda: kd.models.FactorVAE(seed=1),
        "dip_vae": lambda: kd.models.DIPVAE(variant="ii", seed=1),
    }[name]()


def _optimizer_variables(model):
    variables = list(model.optimizer.variables)
    if getattr(model, "discriminator_optimizer", None) is not None:
        variables += list(model.discriminator_optimizer.variables)
    return [v.numpy() for v in variables]


@pytest.mark.parametrize(
    "name", ["vae", "beta_vae", "annealed_vae", "beta_tcvae", "factor_vae", "dip_vae"]
)
def test_keras_round_trip_keeps_outputs_and_training_state(name, binary_images, tmp_path):
    x = binary_images[:64]
    model = _make(name)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.encode(x)[0], model.encode(x)[0])
    np.testing.assert_array_equal(loaded.decode(np.ones((2, 10), np.float32)),
                                  model.decode(np.ones((2, 10), np.float32)))
    for a, b in zip(_optimizer_variables(model), _optimizer_variables(loaded)):
        np.testing.assert_array_equal(a, b)
    # Training continues exactly as it would have without the round trip.
    model.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_save_and_load_weights(binary_images, tmp_path):
    model = kd.models.BetaVAE(beta=3.0, seed=2)
    model.compile(optimizer="adam")
    model.fit(binary_images[:32], batch_size=16, verbose=0)
    path = str(tmp_path / "w.weights.h5")
    model.save_weights(path)
    other = kd.models.BetaVAE(beta=1.0, seed=5)
    other.load_weights(path)
    assert float(other.beta.numpy()) == 3.0
    np.testing.assert_array_equal(other.encode(binary_images[:4])[0], model.encode(binary_images[:4])[0])


def test_saved_model_export_loads_with_tensorflow_only(binary_images, tmp_path):
    model = kd.models.BetaVAE(seed=3)
    x = binary_images[:8]
    path = str(tmp_path / "exported")
    kd.export.saved_model(model, path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "z.npy", np.linspace(-2, 2, 20, dtype=np.float32).reshape(2, 10))
    script = textwrap.dedent(
        f"""
        import sys, numpy as np, tensorflow as tf
        m = tf.saved_model.load({path!r})
        x = np.load({str(tmp_path / 'x.npy')!r}); z = np.load({str(tmp_path / 'z.npy')!r})
        out = m.encode(tf.constant(x))
        np.save({str(tmp_path / 'mean.npy')!r}, out["mean"].numpy())
        np.save({str(tmp_path / 'dec.npy')!r}, m.decode(tf.constant(z))["images"].numpy())
        np.save({str(tmp_path / 'rec.npy')!r}, m.reconstruct(tf.constant(x))["images"].numpy())
        sig = m.signatures["serving_default"](images=tf.constant(x))
        np.save({str(tmp_path / 'sig.npy')!r}, sig["mean"].numpy())
        assert "kerasdis" not in sys.modules, "imported kerasdis"
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=300)
    mean = model.encode(x)[0].numpy()
    np.testing.assert_allclose(np.load(tmp_path / "mean.npy"), mean, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "sig.npy"), mean, atol=1e-5)
    z = np.load(tmp_path / "z.npy")
    np.testing.assert_allclose(np.load(tmp_path / "dec.npy"), model.decode(z), atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "rec.npy"), model.reconstruct(x), atol=1e-5)


@pytest.mark.bad_input
def test_export_refuses_to_overwrite(tmp_path):
    model = kd.models.VAE()
    (tmp_path / "taken").mkdir()
    with pytest.raises(ValueError, match="path"):
        kd.export.saved_model(model, str(tmp_path / "taken"))
    with pytest.raises(ValueError, match="model"):
        kd.export.saved_model(object(), str(tmp_path / "other"))
    assert sorted(os.listdir(tmp_path)) == ["taken"]


@pytest.mark.bad_input
def test_other_backend_is_refused():
    env = dict(os.environ, KERAS_BACKEND="jax")
    proc = subprocess.run([sys.executable, "-c", "import kerasdis"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "KERAS_BACKEND=tensorflow" in proc.stderr


def _onednn_setting(code, **overrides):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env.update(overrides)
    proc = subprocess.run([sys.executable, "-c", code + "; import os; "
                           "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[-1]


def test_onednn_kernels_are_requested_unless_the_user_chose():
    # kerasdis asks for oneDNN kernels when it is first to import TensorFlow ...
    assert _onednn_setting("import kerasdis") == "1"
    # ... keeps the user's choice ...
    assert _onednn_setting("import kerasdis", TF_ENABLE_ONEDNN_OPTS="0") == "0"
    # ... and changes nothing once TensorFlow runs (the variable would be a lie then).
    assert _onednn_setting("import tensorflow, kerasdis") == "None"
