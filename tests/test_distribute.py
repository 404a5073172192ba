"""kerasdis under `tf.distribute`: MirroredStrategy and MultiWorkerMirroredStrategy.

Strategy runs happen in subprocesses: the two logical CPU devices (and a
`TF_CONFIG` cluster) must be set up before TensorFlow initialises, which the
pytest process has already done. Results come back through `.npz` files.

Tolerances. Mirrored and single-device runs train with SGD (Adam would hide a
missing loss scaling: it is invariant to the gradients' scale), 3 steps (1 for the
per-replica objectives, see `per_replica_runs`) of a
global batch of 16. We compare
- the weights: `assert_allclose(rtol=1e-4, atol=1e-5)`, and
- the update `w_T - w_0`: `||Δ_mirrored - Δ_expected|| <= 1e-5 ||Δ_expected||`
  (measured: ~2e-7). An unscaled loss doubles the update (relative error 1);
  estimating β-TCVAE/FactorVAE/DIP-VAE terms on the global batch instead of per
  replica gives 4e-4 to 1.5e-3, which the tests also assert, so they would notice.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from kerasdis import distribute as kdd

UPDATE_RTOL = 1e-5  # relative error of the whole update vector
WEIGHT_RTOL, WEIGHT_ATOL = 1e-4, 1e-5
METRIC_RTOL, METRIC_ATOL = 1e-4, 1e-6

EXACT_MODELS = ("vae", "beta_vae", "annealed_vae", "annealed_vae_split")
PER_REPLICA_MODELS = ("beta_tcvae", "factor_vae", "dip_vae")

# Written to a file and run as `python script.py OUT_DIR MODEL,MODEL,... STEPS`.
MIRRORED_SCRIPT = r'''
import os, sys
from unittest import mock
import tensorflow as tf
from kerasdis import distribute as kdd
kdd.configure_logical_cpus(2)  # before TensorFlow initialises its devices
import numpy as np
import keras
from kerasdis import models
from kerasdis.models.base import GaussianLatentVAE

out_dir, names = sys.argv[1], sys.argv[2].split(",")
STEPS, BATCH, LR, REPLICAS = int(sys.argv[3]), 16, 1e-3, 2
rng = np.random.default_rng(0)
images = (rng.random((STEPS * BATCH, 64, 64, 1)) < 0.3).astype(np.float32)
# Strong regularisers, so that a global instead of a per-replica estimate shows.
SPECS = {
    "vae": (models.VAE, {}),
    "beta_vae": (models.BetaVAE, {"beta": 4.0}),
    "beta_tcvae": (models.BetaTCVAE, {"beta": 100.0, "dataset_size": 1000, "estimator": "mss"}),
    "factor_vae": (models.FactorVAE, {"gamma": 100.0, "discriminator_units": 32}),
    "dip_vae": (models.DIPVAE, {"variant": "i", "lambda_od": 10.0}),
    # The built-in capacity schedule (the variable written inside the replicated step) ...
    "annealed_vae": (models.AnnealedVAE, {"gamma": 1000.0, "capacity_max": 0.004,
                                          "capacity_steps": 2}),
    # ... and a capacity between the KLs of the two shards of the first batch (set in
    # `make`): |KL - C| has a different sign on each replica, so the step is exact only
    # if the penalty is taken on the global batch's KL.  The capacity is not their mean,
    # which is the global batch's KL: there |KL - C| has its kink and round-off (which
    # differs between CPUs) would choose the sign of its gradient.
    "annealed_vae_split": (models.AnnealedVAE, {"gamma": 1000.0, "capacity_steps": None}),
}


def split_capacity(model):
    """A capacity between the KLs of the two halves of the first global batch, a quarter
    of the way from the second half's KL (so a quarter of their gap from the global KL)."""
    from kerasdis import losses
    kls = []
    for r in range(REPLICAS):
        mean, log_var = model.encode(images[r * BATCH // REPLICAS:(r + 1) * BATCH // REPLICAS])
        kls.append(float(np.mean(losses.gaussian_kl(mean, log_var))))
    assert kls[0] != kls[1]
    return 0.25 * kls[0] + 0.75 * kls[1]


def make(name):
    cls, args = SPECS[name]
    model = cls(latent_dim=4, seed=7, **args)
    extra = {"discriminator_optimizer": keras.optimizers.SGD(LR)} if name == "factor_vae" else {}
    model.compile(optimizer=keras.optimizers.SGD(LR), **extra)
    if name == "annealed_vae_split":
        model.capacity.assign(split_capacity(model))
    return model


def weights(model):
    return [w.numpy() for w in model.weights]


def fit(model):
    """STEPS steps of model.fit; one step per epoch, so the history holds each step's logs."""
    batches = tf.data.Dataset.from_tensor_slices(images).batch(BATCH)
    history = model.fit(batches, epochs=STEPS, steps_per_epoch=1, verbose=0, shuffle=False)
    return {k: np.asarray(v, np.float64) for k, v in history.history.items()}


class FakeReplicaContext:
    def __init__(self, real, replica_id):
        self._real, self.replica_id_in_sync_group = real, replica_id

    def __getattr__(self, name):
        return getattr(self._real, name)


def reference_fit(model):
    """One device: the step of the objective averaged over REPLICAS contiguous shards.

    The noise is the global batch's (one `forward` on the whole batch, which each
    shard slices), every shard's terms come from the model's own `compute_terms`,
    run as replica r (for FactorVAE's permutation seed).
    """
    factor = isinstance(model, models.FactorVAE)

    @tf.function
    def step(x):
        local = x.shape[0] // REPLICAS
        with tf.GradientTape(persistent=True) as tape:
            outputs = GaussianLatentVAE.forward(model, x, training=True)
            shards = []
            for r in range(REPLICAS):
                part = {k: v[r * local:(r + 1) * local] for k, v in outputs.items()}
                real = tf.distribute.get_replica_context()
                with mock.patch.object(model, "forward", lambda x, training=False, p=part: p), \
                        mock.patch.object(tf.distribute, "get_replica_context",
                                          lambda r=r, real=real: FakeReplicaContext(real, r)):
                    shards.append(model.compute_terms(x[r * local:(r + 1) * local],
                                                      training=True))
            terms = {k: tf.add_n([s[k] for s in shards]) / REPLICAS for k in shards[0]}
        if factor:
            vae_vars, disc_vars = model.vae_variables, model.discriminator.trainable_variables
            model.optimizer.apply(tape.gradient(terms["loss"], vae_vars), vae_vars)
            model.discriminator_optimizer.apply(tape.gradient(terms["disc_loss"], disc_vars),
                                                disc_vars)
        else:
            grads = tape.gradient(terms["loss"], model.trainable_weights)
            model.optimizer.apply(grads, model.trainable_weights)
        return terms

    history = {}
    for s in range(STEPS):
        for k, v in step(tf.constant(images[s * BATCH:(s + 1) * BATCH])).items():
            history.setdefault(k, []).append(float(v))
    return {k: np.asarray(v) for k, v in history.items()}


def save(name, result):
    flat = {}
    for key, value in result.items():
        if isinstance(value, dict):
            flat.update({f"{key}/{k}": v for k, v in value.items()})
        elif isinstance(value, list):
            flat.update({f"{key}/{i}": v for i, v in enumerate(value)})
        else:
            flat[key] = value
    np.savez(os.path.join(out_dir, f"{name}.npz"), **flat)


strategy = kdd.get_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == REPLICAS
for name in names:
    if name == "encode":
        model = make("beta_vae")
        test_images = (rng.random((13, 64, 64, 1)) < 0.3).astype(np.float32)
        labels = np.arange(13)
        dataset = tf.data.Dataset.from_tensor_slices((test_images, labels)).batch(4)
        mean, log_var = model.encode(test_images)
        means, log_vars = kdd.encode_batches(model, test_images, strategy=strategy, batch_size=6,
                                             return_log_var=True)
        save(name, {"mean": mean.numpy(), "log_var": log_var.numpy(),
                    "mirrored_means": means, "mirrored_log_vars": log_vars,
                    "mirrored_dataset_means": kdd.encode_batches(model, dataset, strategy,
                                                                 batch_size=5),
                    "mirrored_uint8_means": kdd.encode_batches(
                        model, (test_images * 255).astype(np.uint8), strategy, batch_size=7),
                    "default_means": kdd.encode_batches(model, test_images, batch_size=4)})
        continue
    result = {}
    single = make(name)
    result["init"] = weights(single)
    result["single_hist"] = fit(single)
    result["single"] = weights(single)
    with strategy.scope():
        mirrored = make(name)
    result["mirrored_init"] = weights(mirrored)
    result["mirrored_hist"] = fit(mirrored)
    result["mirrored"] = weights(mirrored)
    if name in ("beta_tcvae", "factor_vae", "dip_vae"):
        reference = make(name)
        result["reference_hist"] = reference_fit(reference)
        result["reference"] = weights(reference)
    save(name, result)
    print(name, "done", flush=True)
'''

# `python script.py OUT_DIR PHASE RESULT`, with TF_CONFIG and KD_RECIPE in the environment.
MULTI_WORKER_SCRIPT = r'''
import json, os, sys
import keras
import numpy as np
from kerasdis import training
from kerasdis import distribute as kdd

out_dir, phase, result = sys.argv[1], sys.argv[2], sys.argv[3]
recipe = json.loads(os.environ["KD_RECIPE"])
written = []
for name, position in (("write_json", 0), ("save_model_atomic", 1)):  # paths train() writes
    original = getattr(training, name)
    def spy(*args, _original=original, _position=position):
        written.append(os.path.abspath(args[_position]))
        return _original(*args)
    setattr(training, name, spy)


class StopAtFirstCheckpoint(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


callbacks = [StopAtFirstCheckpoint()] if phase == "first" else []
model, summary = training.train(recipe, out_dir, resume=(phase == "resume"), verbose=0,
                                strategy="multi_worker", callbacks=callbacks)
strategy = model.distribute_strategy
images = np.random.default_rng(1).random((11, 64, 64, 1)).astype(np.float32)
codes = kdd.encode_batches(model, images, strategy=strategy, batch_size=5)
np.savez(result, steps=summary["steps"], replicas=strategy.num_replicas_in_sync,
         chief=training._is_chief(strategy), written=json.dumps(written), images=images,
         codes=codes, **{f"w{i}": w.numpy() for i, w in enumerate(model.weights)})
'''


def _env(**extra):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3",
               CUDA_VISIBLE_DEVICES="-1")
    env.update(extra)
    return env


def _check(proc, output):
    if proc.returncode != 0:
        raise AssertionError(f"subprocess failed with status {proc.returncode}:\n{output[-6000:]}")


def _load(path, prefix):
    data = np.load(path)
    n = len([k for k in data.files if k.startswith(prefix + "/")])
    return [data[f"{prefix}/{i}"] for i in range(n)]


def _update_error(after, expected_after, before):
    delta = np.concatenate([(a - b).ravel() for a, b in zip(after, before)])
    expected = np.concatenate([(a - b).ravel() for a, b in zip(expected_after, before)])
    return float(np.linalg.norm(delta - expected) / np.linalg.norm(expected))


def _run_mirrored(tmp_path_factory, names, steps):
    """Runs the mirrored cases `names`, `steps` SGD steps each, in one subprocess."""
    out = tmp_path_factory.mktemp("mirrored")
    script = out / "mirrored_script.py"
    script.write_text(MIRRORED_SCRIPT)
    command = [sys.executable, str(script), str(out), ",".join(names), str(steps)]
    proc = subprocess.run(command, env=_env(), cwd=out, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=900)
    _check(proc, proc.stdout)
    return out


@pytest.fixture(scope="module")
def mirrored_runs(tmp_path_factory):
    return _run_mirrored(tmp_path_factory, [*EXACT_MODELS, "encode"], steps=3)


@pytest.fixture(scope="module")
def per_replica_runs(tmp_path_factory):
    # One step: on an untrained model the MSS total correlation (~1e-5 nats, a difference
    # of large log-densities) and DIP-VAE's covariance of near-identical means are
    # dominated by cancellation, and their strong weights (β = 100, λ = 10) turn the
    # round-off of a first step into 1e-4 relative differences by the third. The first
    # step compares the algebra of the per-replica averaging without that amplification.
    return _run_mirrored(tmp_path_factory, PER_REPLICA_MODELS, steps=1)


@pytest.mark.parametrize("name", EXACT_MODELS)
def test_mirrored_step_equals_single_device_step(mirrored_runs, name):
    path = mirrored_runs / f"{name}.npz"
    init, single, mirrored = (_load(path, k) for k in ("init", "single", "mirrored"))
    for a, b in zip(init, _load(path, "mirrored_init")):
        np.testing.assert_array_equal(a, b)
    assert _update_error(mirrored, single, init) < UPDATE_RTOL
    for a, b in zip(mirrored, single):
        np.testing.assert_allclose(a, b, rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL)
    # The reported terms are not scaled by the replicas: equal to one device's, not halved.
    data = np.load(path)
    terms = ("loss", "reconstruction", "kl") + (("capacity",) if "annealed" in name else ())
    for term in terms:
        np.testing.assert_allclose(data[f"mirrored_hist/{term}"], data[f"single_hist/{term}"],
                                   rtol=METRIC_RTOL, atol=METRIC_ATOL, err_msg=term)
    assert data["mirrored_hist/loss"][0] > 1000  # the loss is per image, in nats
    if name == "annealed_vae":  # the schedule C(t) = C_max min(1, t / 2) at steps 0, 1, 2
        np.testing.assert_allclose(data["mirrored_hist/capacity"], [0.0, 0.002, 0.004],
                                   rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", PER_REPLICA_MODELS)
def test_mirrored_step_averages_the_per_replica_objectives(per_replica_runs, name):
    """β-TCVAE (MSS), FactorVAE and DIP-VAE estimate their batch terms per replica."""
    path = per_replica_runs / f"{name}.npz"
    init, single, mirrored, reference = (_load(path, k) for k in
                                         ("init", "single", "mirrored", "reference"))
    assert _update_error(mirrored, reference, init) < UPDATE_RTOL
    for a, b in zip(mirrored, reference):
        np.testing.assert_allclose(a, b, rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL)
    # A global estimate (the single-device step on the whole batch) is a different update.
    assert _update_error(mirrored, single, init) > 20 * UPDATE_RTOL

    data = np.load(path)
    terms = [k.split("/", 1)[1] for k in data.files if k.startswith("mirrored_hist/")]
    assert set(terms) == {k.split("/", 1)[1] for k in data.files
                          if k.startswith("reference_hist/")}
    for term in terms:  # reported terms: the average of the per-replica estimates, unscaled
        np.testing.assert_allclose(data[f"mirrored_hist/{term}"], data[f"reference_hist/{term}"],
                                   rtol=METRIC_RTOL, atol=METRIC_ATOL, err_msg=term)
    # A batch-dependent term: the per-replica average, not the global batch's value.
    estimate = {"beta_tcvae": "mi", "factor_vae": "disc_loss", "dip_vae": "dip_offdiag"}[name]
    np.testing.assert_allclose(data[f"mirrored_hist/{estimate}"],
                               data[f"reference_hist/{estimate}"], rtol=METRIC_RTOL, atol=0)
    assert not np.allclose(data[f"mirrored_hist/{estimate}"], data[f"single_hist/{estimate}"],
                           rtol=1e-2, atol=0)
    np.testing.assert_allclose(data["mirrored_hist/reconstruction"],
                               data["single_hist/reconstruction"], rtol=METRIC_RTOL)


def test_encode_batches_through_a_mirrored_strategy(mirrored_runs):
    data = np.load(mirrored_runs / "encode.npz")
    for key in ("mirrored_means", "mirrored_dataset_means", "mirrored_uint8_means",
                "default_means"):
        assert data[key].shape == (13, 4), key
        # (the binary test images survive the uint8 round trip exactly)
        np.testing.assert_allclose(data[key], data["mean"], rtol=1e-5, atol=1e-5, err_msg=key)
    np.testing.assert_allclose(data["mirrored_log_vars"], data["log_var"], rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------- in-process checks


class _Resolver:
    def __init__(self, task_type, task_id, jobs):
        self.task_type, self.task_id, self._jobs = task_type, task_id, jobs

    def cluster_spec(self):
        import tensorflow as tf

        return tf.train.ClusterSpec({job: [f"localhost:{2000 + i}" for i in range(n)]
                                     for job, n in self._jobs.items()})


class _Strategy:
    def __init__(self, *args):
        self.cluster_resolver = _Resolver(*args)


@pytest.mark.parametrize("task_type,task_id,jobs,chief", [
    ("worker", 0, {"worker": 2}, True),
    ("worker", 1, {"worker": 2}, False),
    ("chief", 0, {"chief": 1, "worker": 2}, True),
    ("worker", 0, {"chief": 1, "worker": 2}, False),
    ("evaluator", 0, {"worker": 2, "evaluator": 1}, False),
    (None, None, {}, True),
])
def test_is_chief(task_type, task_id, jobs, chief):
    assert kdd.is_chief(_Strategy(task_type, task_id, jobs)) is chief


@pytest.mark.bad_input
def test_get_strategy_by_name():
    import tensorflow as tf

    assert kdd.get_strategy("default") is tf.distribute.get_strategy()
    assert kdd.get_strategy(None) is tf.distribute.get_strategy()
    strategy = kdd.get_strategy("mirrored", devices=["/cpu:0"])
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert kdd.get_strategy(strategy) is strategy
    assert kdd.is_chief(strategy) and not kdd.is_multi_worker(strategy)
    with pytest.raises(ValueError, match="strategy"):
        kdd.get_strategy("tpu_pod")


@pytest.mark.bad_input
def test_encode_batches_rejects_bad_input():
    with pytest.raises(ValueError, match="batch_size"):
        kdd.encode_batches(object(), np.zeros((2, 64, 64, 1)), batch_size=0)
    with pytest.raises(ValueError, match="encode"):
        kdd.encode_batches(object(), np.zeros((2, 64, 64, 1)))


TINY = {"model": "beta_vae", "model_args": {"beta": 4.0, "latent_dim": 4}, "dataset": "dsprites",
        "steps": 4, "batch_size": 8, "learning_rate": 1e-3, "seed": 3, "checkpoint_every": 2}


def test_train_by_strategy_name_and_non_chief_workers_write_no_run_files(tmp_path, monkeypatch):
    from kerasdis import training

    chief_model, chief = training.train(TINY, str(tmp_path / "chief"), verbose=0,
                                        strategy="default", tensorboard=False)
    assert chief["steps"] == 4 and (tmp_path / "chief" / "checkpoint.keras").exists()

    monkeypatch.setattr(training, "_is_chief", lambda strategy: False)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "worker_tmp"))
    (tmp_path / "worker_tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    worker_model, worker = training.train(TINY, str(tmp_path / "worker"), verbose=0,
                                          strategy="default")
    assert worker["steps"] == 4
    assert not (tmp_path / "worker").exists()  # nothing written into out_dir
    assert os.listdir(tmp_path / "worker_tmp") == []  # its temporary copy is removed
    for a, b in zip(chief_model.weights, worker_model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)

    # A non-chief worker resuming a finished run reads out_dir and leaves it unchanged.
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "chief").rglob("*")}
    _, again = training.train(TINY, str(tmp_path / "chief"), resume=True, verbose=0)
    assert again["steps"] == 4
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "chief").rglob("*")} == before


# -------------------------------------------------------------- multi-worker


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_workers(script, out_dir, phase, tmp_path, recipe):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        worker_tmp = tmp_path / f"tmp{index}"
        worker_tmp.mkdir(exist_ok=True)
        env = _env(KD_RECIPE=json.dumps(recipe), TMPDIR=str(worker_tmp),
                   TF_CONFIG=json.dumps({"cluster": cluster,
                                         "task": {"type": "worker", "index": index}}))
        result = tmp_path / f"{phase}{index}.npz"
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(out_dir), phase, str(result)], env=env,
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=600)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, output in zip(procs, outputs):
        _check(p, output)
    return [np.load(tmp_path / f"{phase}{i}.npz") for i in range(2)]


@pytest.mark.slow
@pytest.mark.fault
def test_multi_worker_training_checkpoints_on_the_chief_and_resumes(tmp_path):
    """Two workers stopped at the first checkpoint resume to an uninterrupted run's weights."""
    import keras
    from kerasdis import training

    script = tmp_path / "worker.py"
    script.write_text(MULTI_WORKER_SCRIPT)
    out_dir = tmp_path / "run"
    run_files = {"checkpoint.keras", "logs", "model.keras", "recipe.json", "state.json",
                 "training.json"}

    first = _run_workers(script, out_dir, "first", tmp_path, TINY)
    assert [bool(r["chief"]) for r in first] == [True, False]
    assert all(int(r["replicas"]) == 2 and int(r["steps"]) == 2 for r in first)
    assert set(os.listdir(out_dir)) == run_files
    assert json.loads((out_dir / "state.json").read_text())["step"] == 2
    for result in first:  # the chief writes out_dir, the other worker only its temporary dir
        written = json.loads(str(result["written"]))
        inside = [p for p in written if p.startswith(str(out_dir))]
        assert inside == (written if result["chief"] else []), written
        assert written
    assert all(os.listdir(tmp_path / f"tmp{i}") == [] for i in range(2))

    resumed = _run_workers(script, out_dir, "resume", tmp_path, TINY)
    assert all(int(r["steps"]) == 4 for r in resumed)
    assert json.loads((out_dir / "state.json").read_text())["step"] == 4
    assert set(os.listdir(out_dir)) == run_files

    # Same update as one device on the same global batch: an uninterrupted local run.
    local, _ = training.train(TINY, str(tmp_path / "local"), verbose=0, tensorboard=False)
    saved = keras.saving.load_model(str(out_dir / "model.keras"))
    assert int(saved.optimizer.iterations.numpy()) == 4
    # Tolerance: the all-reduce sums the gradient in another order and oneDNN picks
    # per-batch-size kernels; Adam's normalised update turns that round-off on
    # near-zero gradients into differences of up to a few lr on a few units (seen:
    # up to 0.2% of a layer's weights, up to 6e-5). A wrong batch or noise slice
    # changes nearly every weight, so: almost all agree tightly, none by more than
    # one Adam step per training step.
    def assert_same_update(actual, desired):
        close = np.isclose(actual, desired, rtol=1e-4, atol=1e-6)
        assert close.mean() > 0.99, f"{(~close).sum()} of {close.size} weights differ"
        np.testing.assert_allclose(actual, desired, rtol=0, atol=TINY["steps"] * TINY["learning_rate"])

    expected = [w.numpy() for w in local.weights]
    for result in resumed:
        for i, w in enumerate(expected):
            assert_same_update(result[f"w{i}"], w)
    for a, b in zip(saved.weights, expected):
        assert_same_update(a.numpy(), b)

    # Encoding through the multi-worker strategy: every worker gets all codes, in order.
    codes = np.asarray(local.encode(resumed[0]["images"])[0])
    for result in resumed:
        np.testing.assert_allclose(result["codes"], codes, rtol=1e-4, atol=1e-5)
