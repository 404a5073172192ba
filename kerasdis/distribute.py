"""`tf.distribute` helpers: strategies by name, the chief check, batched encoding.

kerasdis models train under any `tf.distribute` strategy with the update of one
device on the same *global* batch (the recipe's `batch_size`):

- the loss is divided by `strategy.num_replicas_in_sync` inside `train_step`
  (gradients are summed over replicas), the reported metrics are not: they are
  the mean over replicas of each replica's batch-mean term, so `loss`,
  `reconstruction`, `kl` equal the single-device values on the global batch;
- the reparameterisation noise of the global batch is drawn on every replica,
  which keeps its own slice, so VAE, β-VAE and AnnealedVAE take exactly the
  single-device step (up to float summation order). AnnealedVAE's penalty
  `γ |KL − C|` is not linear in the batch: its replicas all-reduce their batch-mean
  KLs and take the penalty on the global batch's KL (without that, replicas whose
  KLs lie on both sides of C would step differently from one device);
  tests/test_distribute.py checks these models against one device;
- batch-dependent estimators are computed **per replica**, on each replica's
  local batch of `batch_size / replicas` images: β-TCVAE's MWS/MSS estimate of
  q(z), FactorVAE's discriminator halves and dimension permutation (its seed
  folds in the replica id), DIP-VAE's covariance of the codes. A replicated step
  of these models is the step of the *average of the per-shard objectives*, not
  of the objective on the global batch; their reported terms are the average of
  the per-replica estimates. Keep the per-replica batch at the size the
  estimator was tuned for (e.g. FactorVAE needs at least 4 images per replica).

```python
strategy = kd.distribute.get_strategy("mirrored")     # all local GPUs (or CPUs)
kd.training.train(recipe, "runs/tcvae", strategy=strategy)
codes = kd.distribute.encode_batches(model, images, strategy=strategy)
```

`MultiWorkerMirroredStrategy` ("multi_worker") reads the cluster from the
`TF_CONFIG` environment variable and must be created before TensorFlow runs
any op (`kd.training.train(..., strategy="multi_worker")` creates it first).
Every worker runs the same program; only the chief (task `chief`, or `worker`
0 when the cluster has no `chief`) writes the run directory, see `is_chief`.
"""

import json
import os

import numpy as np
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")
DEFAULT_BATCH_SIZE = 256


def configure_logical_cpus(count):
    """Splits the first physical CPU into `count` logical devices (for tests and demos).

    Must run before TensorFlow initialises its devices (before any op); raises
    `RuntimeError` afterwards unless the devices are already configured so.
    Returns the logical CPU devices.
    """
    count = int(count)
    if count < 1:
        raise ValueError(f"`count` must be a positive integer, got {count!r}.")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != count:
            raise RuntimeError(
                f"cannot split the CPU into {count} logical devices: TensorFlow has already "
                "initialised its devices. Call configure_logical_cpus() at program start."
            ) from None
    return tf.config.list_logical_devices("CPU")


def _local_devices():
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [d.name for d in gpus]
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def get_strategy(name="default", devices=None):
    """A `tf.distribute.Strategy` by name.

    Args:
        name: `"default"` (the current, usually no-op, strategy), `"mirrored"`
            (`MirroredStrategy` over `devices`: all local GPUs, else all logical
            CPUs) or `"multi_worker"` (`MultiWorkerMirroredStrategy`, cluster
            from `TF_CONFIG`). A `tf.distribute.Strategy` is returned as is and
            `None` gives the current strategy.
        devices: list of device names for `"mirrored"`.

    Returns:
        A `tf.distribute.Strategy`.
    """
    if name is None:
        return tf.distribute.get_strategy()
    if isinstance(name, tf.distribute.Strategy):
        return name
    key = str(name).strip().lower().replace("-", "_")
    if key == "default":
        return tf.distribute.get_strategy()
    if key == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices or _local_devices())
    if key in ("multi_worker", "multi_worker_mirrored"):
        if devices is not None:
            raise ValueError("`devices` is not used by the multi_worker strategy.")
        config = os.environ.get("TF_CONFIG")
        if config:
            try:
                json.loads(config)
            except json.JSONDecodeError as error:
                raise ValueError(f"TF_CONFIG is not valid JSON: {error}.") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"`strategy` must be one of {STRATEGIES} or a tf.distribute.Strategy, "
                     f"got {name!r}.")


def task_of(strategy):
    """`(task_type, task_id)` of this process in the strategy's cluster, or `(None, None)`."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return None, None
    return getattr(resolver, "task_type", None), getattr(resolver, "task_id", None)


def is_chief(strategy=None):
    """Whether this process writes the run's files (the Keras multi-worker convention).

    True without a cluster, for the task `chief`, and for `worker` 0 when the
    cluster has no `chief` task; False for the other workers (and evaluators).
    """
    strategy = tf.distribute.get_strategy() if strategy is None else strategy
    task_type, task_id = task_of(strategy)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    if task_type != "worker":
        return False
    try:
        jobs = strategy.cluster_resolver.cluster_spec().jobs
    except Exception:  # noqa: BLE001 - no cluster spec: a lone worker
        jobs = ()
    return "chief" not in jobs and int(task_id or 0) == 0


def is_multi_worker(strategy=None):
    """Whether `strategy` is a `MultiWorkerMirroredStrategy` spanning several workers."""
    strategy = tf.distribute.get_strategy() if strategy is None else strategy
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    in_multi_worker_mode = getattr(strategy.extended, "_in_multi_worker_mode", None)
    if in_multi_worker_mode is not None:
        return bool(in_multi_worker_mode())
    return task_of(strategy)[0] is not None


def _rank1_logs(step):
    def wrapped(data):
        logs = step(data)
        return tf.nest.map_structure(
            lambda v: tf.reshape(v, [1]) if tf.is_tensor(v) and v.shape.rank == 0 else v, logs)

    wrapped.kerasdis_rank1_logs = True
    return wrapped


def fix_multi_worker_logs(model):
    """Lets `model.fit`/`evaluate` run under a multi-worker strategy with Keras 3.

    Keras 3's TensorFlow trainer reduces the logs of every step under a
    multi-worker `MultiWorkerMirroredStrategy` with `strategy.reduce("MEAN", v,
    axis=0)`, which fails on the scalar metrics a custom `train_step` returns
    ("Invalid reduction dimension 0 for input with 0 dimensions",
    tensorflow/tensorflow#72388). This wraps the model's `train_step` and
    `test_step` (on the instance) so they return each scalar as shape `[1]`;
    the reduction then averages them over all replicas into scalars. Does
    nothing outside a multi-worker strategy; calling it twice is harmless.
    Returns `model`.
    """
    if not is_multi_worker(model.distribute_strategy):
        return model
    for name in ("train_step", "test_step"):
        step = getattr(model, name)
        if not getattr(step, "kerasdis_rank1_logs", False):
            object.__setattr__(model, name, _rank1_logs(step))
    return model


# ----------------------------------------------------------------- encoding


def _images_dataset(data, batch_size):
    """`tf.data` of `(indices, images)` batches of exactly `batch_size` from an array or a
    dataset; the last batch is padded with zero images of index -1 (an empty share would
    break some kernels on a replica)."""
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if isinstance(spec, (tuple, list)):
            data = data.map(lambda *e: e[0])
        elif isinstance(spec, dict):
            raise ValueError("`images_or_dataset` must yield images or (images, ...) tuples.")
        if data.element_spec.shape.rank == 4:
            data = data.unbatch()
        elif data.element_spec.shape.rank != 3:
            raise ValueError("`images_or_dataset` must yield images [H, W, C] or batches "
                             f"[B, H, W, C], got elements of shape {data.element_spec.shape}.")
        cardinality = int(data.cardinality())
        if cardinality == tf.data.INFINITE_CARDINALITY:
            raise ValueError("`images_or_dataset` must be finite.")
        batches = data.enumerate().batch(batch_size).map(
            lambda idx, x: _pad_batch(idx, x, batch_size))
    else:
        images = np.asarray(data)
        if images.ndim != 4 or images.shape[0] == 0:
            raise ValueError(f"`images` must be a non-empty array [n, H, W, C], got shape "
                             f"{images.shape}.")
        if images.dtype != np.uint8:
            images = images.astype(np.float32, copy=False)
        shape = images.shape[1:]
        dtype = tf.as_dtype(images.dtype)

        def load(indices):  # reads batches from the array: no copy of it into the graph
            return images[indices]

        batches = tf.data.Dataset.range(images.shape[0]).batch(batch_size).map(
            lambda idx: _pad_batch(idx, tf.ensure_shape(tf.numpy_function(load, [idx], dtype),
                                                        (None, *shape)), batch_size))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.with_options(options).prefetch(2)


def _pad_batch(indices, images, batch_size):
    missing = batch_size - tf.shape(indices)[0]
    indices = tf.concat([indices, -tf.ones([missing], indices.dtype)], axis=0)
    images = tf.concat([images, tf.zeros(tf.concat([[missing], tf.shape(images)[1:]], 0),
                                         images.dtype)], axis=0)
    return indices, tf.ensure_shape(images, [batch_size, *images.shape[1:]])


def encode_batches(model, images_or_dataset, strategy=None, batch_size=DEFAULT_BATCH_SIZE,
                   return_log_var=False):
    """Posterior means (and log-variances) of many images, encoded through `strategy`.

    Batches of `batch_size` images (the global batch) are split over the
    strategy's replicas, each replica runs `model.encode` on its share and the
    codes are gathered back (on every worker) in the order of the input.

    Args:
        model: a kerasdis model (anything with `encode(x) -> (mean, log_var)`).
            Build or load it under `strategy.scope()` to give every device its
            own copy of the weights (otherwise replicas read the original ones).
        images_or_dataset: array `[n, H, W, C]` (float, or uint8 scaled to [0, 1]
            by the model), or a finite `tf.data.Dataset` of images, of image
            batches, or of `(images, ...)` tuples.
        strategy: a `tf.distribute.Strategy`, a name for `get_strategy`, or None
            (the current strategy).
        batch_size: int. Global batch size, rounded up to a multiple of the number of
            replicas; the last batch is padded (the padding is dropped).
        return_log_var: bool. Also return the log-variances.

    Returns:
        float32 numpy `means [n, D]`, or `(means, log_vars)`.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    if not callable(getattr(model, "encode", None)):
        raise ValueError("`model` must have `encode(x) -> (mean, log_var)`, got "
                         f"{type(model).__name__}.")
    strategy = get_strategy(strategy)
    replicas = strategy.num_replicas_in_sync
    batch_size = -(-int(batch_size) // replicas) * replicas  # every replica gets a share
    dataset = strategy.experimental_distribute_dataset(_images_dataset(images_or_dataset,
                                                                       batch_size))

    def replica_step(indices, x):
        mean, log_var = model.encode(x)[:2]
        return indices, tf.cast(mean, tf.float32), tf.cast(log_var, tf.float32)

    @tf.function(reduce_retracing=True)
    def step(batch):
        indices, x = batch
        outputs = strategy.run(replica_step, args=(indices, x))
        return tuple(strategy.gather(v, axis=0) for v in outputs)

    indices, means, log_vars = [], [], []
    for batch in dataset:
        i, m, v = step(batch)
        indices.append(i.numpy())
        means.append(m.numpy())
        log_vars.append(v.numpy())
    if not indices:
        raise ValueError("cannot encode an empty set of images.")
    indices = np.concatenate(indices)
    real = np.flatnonzero(indices >= 0)  # drops the padding
    order = real[np.argsort(indices[real], kind="stable")]
    if not np.array_equal(indices[order], np.arange(order.size)):
        raise RuntimeError("the distributed encoding lost or repeated images.")
    means = np.concatenate(means)[order]
    if not return_log_var:
        return means
    return means, np.concatenate(log_vars)[order]
