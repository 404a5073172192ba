"""Benchmark: is the dSprites pipeline fast enough to never starve training?

Measures, on this machine:
- `ds.images(factors)` on random factors, in batches of 64 and 1024 (images/s);
- iterating `ds.as_dataset(64)` (images/s);
- how many images/s a conv β-VAE consumes when training at batch 64 (the
  disentanglement_lib architecture): `kd.models.BetaVAE` when it is available
  (`--model auto`/`kerasdis`), else a self-contained Keras model with a plain
  `tf.function` train step (`--model builtin`), fed one in-memory batch;
- the same model fed by `ds.as_dataset(64)`, end to end.

The ratio pipeline / training should be at least 20x. The markdown table is printed
and written (atomically) to `benchmarks/results/data_pipeline.md`.

    python benchmarks/data_pipeline.py            # about a minute
    python benchmarks/data_pipeline.py --quick    # a few seconds, smoke test
"""

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as `import kerasdis` does (kerasdis/backend.py)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "data_pipeline.md"
TARGET_RATIO = 20.0
BATCH = 64


def _rate(step, seconds, images_per_step, min_steps=3):
    """Calls `step()` for about `seconds` (at least `min_steps` times); returns images/s."""
    steps, start = 0, time.perf_counter()
    while steps < min_steps or time.perf_counter() - start < seconds:
        step()
        steps += 1
    return steps * images_per_step / (time.perf_counter() - start)


def bench_images(ds, batch_size, seconds):
    """images/s of `ds.images()` on fresh random factors each call."""
    import numpy as np

    rng = np.random.default_rng(0)
    factors = [ds.sample_factors(batch_size, seed=rng) for _ in range(16)]
    calls = iter(range(10**12))
    ds.images(factors[0])  # warm-up
    return _rate(lambda: ds.images(factors[next(calls) % 16]), seconds, batch_size)


def bench_as_dataset(ds, seconds):
    """images/s of iterating `ds.as_dataset(64)` (tensors materialised)."""
    iterator = iter(ds.as_dataset(batch_size=BATCH, seed=0))
    for _ in range(10):  # warm-up: tracing, prefetch buffers
        next(iterator)
    return _rate(lambda: next(iterator).shape, seconds, BATCH)


def builtin_beta_vae(latent_dim=10, beta=4.0):
    """The disentanglement_lib conv VAE (Locatello et al. 2019) and a train step."""
    import keras
    import tensorflow as tf
    from keras import layers

    encoder = keras.Sequential(
        [
            keras.Input((64, 64, 1)),
            layers.Conv2D(32, 4, strides=2, padding="same", activation="relu"),
            layers.Conv2D(32, 4, strides=2, padding="same", activation="relu"),
            layers.Conv2D(64, 2, strides=2, padding="same", activation="relu"),
            layers.Conv2D(64, 2, strides=2, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(256, activation="relu"),
            layers.Dense(2 * latent_dim),
        ],
        name="encoder",
    )
    decoder = keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(256, activation="relu"),
            layers.Dense(1024, activation="relu"),
            layers.Reshape((4, 4, 64)),
            layers.Conv2DTranspose(64, 4, strides=2, padding="same", activation="relu"),
            layers.Conv2DTranspose(32, 4, strides=2, padding="same", activation="relu"),
            layers.Conv2DTranspose(32, 4, strides=2, padding="same", activation="relu"),
            layers.Conv2DTranspose(1, 4, strides=2, padding="same"),
        ],
        name="decoder",
    )
    optimizer = keras.optimizers.Adam(1e-4)
    variables = encoder.trainable_variables + decoder.trainable_variables

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            mean, log_var = tf.split(encoder(x, training=True), 2, axis=-1)
            z = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
            logits = decoder(z, training=True)
            bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)
            reconstruction = tf.reduce_sum(bce, axis=[1, 2, 3])
            kl = 0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(log_var) - log_var - 1.0, axis=1)
            loss = tf.reduce_mean(reconstruction + beta * kl)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return train_step


def bench_training(ds, model, steps, warmup):
    """Training images/s at batch 64: (in-memory batch, fed by as_dataset), model used."""
    import tensorflow as tf

    batch = tf.constant(ds.images(ds.sample_factors(BATCH, seed=0)))
    if model in ("auto", "kerasdis"):
        try:
            return _bench_kerasdis(ds, batch, steps, warmup) + ("kd.models.BetaVAE (fit)",)
        except Exception as error:  # model module missing or not working yet
            if model == "kerasdis":
                raise
            print(f"kd.models.BetaVAE unavailable ({type(error).__name__}: {error}); "
                  "using the built-in model.")
    train_step = builtin_beta_vae()
    for _ in range(warmup):
        train_step(batch).numpy()

    def run(next_batch):
        start = time.perf_counter()
        for _ in range(steps):
            loss = train_step(next_batch())
        loss.numpy()
        return steps * BATCH / (time.perf_counter() - start)

    in_memory = run(lambda: batch)
    iterator = iter(ds.as_dataset(batch_size=BATCH, seed=0))
    next(iterator)
    fed = run(lambda: next(iterator))
    return in_memory, fed, "built-in conv β-VAE (tf.function step)"


def _bench_kerasdis(ds, batch, steps, warmup):
    import keras
    import tensorflow as tf

    import kerasdis as kd

    model = kd.models.BetaVAE(latent_dim=10, beta=4.0, input_shape=(64, 64, 1))
    model.compile(optimizer=keras.optimizers.Adam(1e-4))

    def timed_fit(data):
        model.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0, shuffle=False)
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
        return steps * BATCH / (time.perf_counter() - start)

    in_memory = timed_fit(tf.data.Dataset.from_tensors(batch).repeat())
    fed = timed_fit(ds.as_dataset(batch_size=BATCH, seed=0))
    return in_memory, fed


def machine_info():
    import keras
    import numpy as np
    import tensorflow as tf

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load": ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg")
        else "n/a",
        "python": platform.python_version(),
        "versions": (f"tensorflow {tf.__version__}, keras {keras.__version__}, "
                     f"numpy {np.__version__}"),
    }


def render(results, info, args):
    rows = [
        ("`ds.images()`, batch 64", results["images_64"]),
        ("`ds.images()`, batch 1024", results["images_1024"]),
        ("`ds.as_dataset(64)` iteration", results["as_dataset"]),
        ("training, in-memory batch (model consumption)", results["train"]),
        ("training fed by `ds.as_dataset(64)`", results["train_fed"]),
    ]
    lines = [
        "# Data pipeline benchmark (procedural dSprites)",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['platform']}, {info['processor']}, {info['cpu_count']} CPUs "
        f"(load average {info['load']} when the table was written)",
        f"- python {info['python']}; {info['versions']}",
        f"- model: {results['model']}, batch {BATCH}",
        f"- settings: {'--quick' if args.quick else 'full'}, {args.seconds:g} s per "
        f"measurement, {args.train_steps} training steps",
        "",
        "| measurement | images/s |",
        "| --- | ---: |",
    ]
    lines += [f"| {label} | {value:,.0f} |" for label, value in rows]
    ratio = results["ratio"]
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    lines += [
        f"| **ratio `as_dataset` / training** | **{ratio:.1f}x** ({verdict} the "
        f"{TARGET_RATIO:.0f}x target) |",
        "",
        "The machine is shared, so numbers vary between runs.",
        "",
    ]
    return "\n".join(lines)


def write_atomic(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings (a few seconds), to check the script runs")
    parser.add_argument("--seconds", type=float, default=None,
                        help="duration of each throughput measurement (default 5, quick 0.3)")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="timed training steps (default 100, quick 3)")
    parser.add_argument("--model", choices=("auto", "kerasdis", "builtin"), default="auto",
                        help="training model: kd.models.BetaVAE if available (auto), or builtin")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT),
                        help="markdown file to write (default benchmarks/results/data_pipeline.md)")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 0.3 if args.quick else 5.0
    if args.train_steps is None:
        args.train_steps = 3 if args.quick else 100
    warmup = 2 if args.quick else 10

    import kerasdis as kd

    ds = kd.data.load("dsprites")
    results = {
        "images_64": bench_images(ds, 64, args.seconds),
        "images_1024": bench_images(ds, 1024, args.seconds),
        "as_dataset": bench_as_dataset(ds, args.seconds),
    }
    results["train"], results["train_fed"], results["model"] = bench_training(
        ds, args.model, args.train_steps, warmup
    )
    results["ratio"] = results["as_dataset"] / results["train"]
    text = render(results, machine_info(), args)
    print(text)
    write_atomic(args.output, text)
    return results


if __name__ == "__main__":
    main()
