"""Where the time of a kerasdis training step goes: TensorFlow ops by time per step.

A diagnostic for speed work, not one of the `python -m benchmarks` tables: builds
the model as `benchmarks/train_throughput.py` does (conv networks, batch 64 of
64x64x1 images, Keras' Adam, `model.fit` on in-memory batches), warms it up,
records `--steps` steps with the TensorFlow profiler (`tf.profiler.experimental`)
and prints the ops of the compiled step by their summed time per step (all threads,
so the total can exceed the wall time on a multi-core CPU), with the share of
each op type.

    python benchmarks/step_profile.py                      # VAE, 20 steps
    python benchmarks/step_profile.py --model factor_vae --top 30
    python benchmarks/step_profile.py --output /tmp/profile.md
    python benchmarks/step_profile.py --layers             # the conv networks' layers alone

`--layers` times every layer of the conv encoder and decoder alone (batch 64, its
forward pass, then forward and backward together; the encoder's first layer without
the input gradient, which the training step does not compute either), with the
FLOP/s each reaches as a share of a 2048² float32 matmul, and compares their sum
with the whole training step; layers, step and matmul are measured in `--rounds`
interleaved rounds and the best round of each is kept, so a shared machine's load
hits them alike. It tells how much of the step is kernel time that no change to the
training loop can remove.

The trace is read from the profiler's XSpace protobuf, which ships with TensorFlow
(`tensorflow.tsl.profiler.protobuf.xplane_pb2`).
"""

import argparse
import collections
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as `import kerasdis` does (kerasdis/backend.py)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STEP_PREFIX = "StatefulPartitionedCall/"  # ops of the compiled training step


def op_times(logdir):
    """`{op name: (op type, total ms)}` of the compiled step's ops in a profiler trace."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    if not paths:
        raise RuntimeError(f"the profiler wrote no trace under {logdir!r}")
    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(paths[0]).read_bytes())
    totals = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if STEP_PREFIX in name:
                    totals[name.split(STEP_PREFIX)[-1]] += event.duration_ps / 1e9
    return {name.rsplit(":", 1)[0]: (name.rsplit(":", 1)[-1], ms)
            for name, ms in totals.items()}


def profile(model="vae", steps=20, warmup=10):
    """Returns `(images/s while profiled, {op: (type, ms per step)})`."""
    import tensorflow as tf

    from benchmarks import train_throughput as tt

    images = tt.in_memory_images()
    _, run = tt.make_kerasdis_runner(model, images)
    run(warmup, 1e9)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            rate = run(steps, 1e9)
        finally:
            tf.profiler.experimental.stop()
        timed = max(2, 1 + steps)  # executions of `run`: the profiled steps
        ops = {name: (kind, ms / timed) for name, (kind, ms) in op_times(logdir).items()}
    return rate, ops


def to_markdown(model, rate, ops, top=25):
    total = sum(ms for _, ms in ops.values())
    by_type = collections.Counter()
    for kind, ms in ops.values():
        by_type[kind] += ms
    lines = [f"# Training step profile: {model}", "",
             f"- {rate:,.0f} images/s while profiled (batch 64); op time summed over threads: "
             f"{total:.1f} ms per step", "",
             "| op type | ms / step | share |", "| --- | ---: | ---: |"]
    lines += [f"| {kind} | {ms:.1f} | {ms / total:.0%} |" for kind, ms in by_type.most_common(10)]
    lines += ["", "| op | type | ms / step | share |", "| --- | --- | ---: | ---: |"]
    ranked = sorted(ops.items(), key=lambda item: -item[1][1])[:top]
    lines += [f"| `{name}` | {kind} | {ms:.1f} | {ms / total:.0%} |"
              for name, (kind, ms) in ranked]
    return "\n".join(lines) + "\n"


def weighted_layers(net):
    """`(network, layer)` for every layer with a kernel in a model's encoder and decoder."""
    return [(network, layer) for network in (net.encoder, net.decoder)
            for layer in network.layers if getattr(layer, "kernel", None) is not None]


def layer_macs(layer, input_shape):
    """Multiply-accumulates per image of one forward pass of a Dense layer or a square
    Conv2D / Conv2DTranspose layer, given its input shape (without the batch axis), as
    `benchmarks/train_throughput.py` counts them."""
    import keras

    from benchmarks import train_throughput as tt

    kernel = layer.kernel.shape
    if len(kernel) == 2:  # Dense: [in, out]
        return kernel[0] * kernel[1]
    if isinstance(layer, keras.layers.Conv2DTranspose):  # kernel [k, k, out, in]
        return tt.deconv_macs(input_shape[0], kernel[0], kernel[3], kernel[2])
    out_hw = layer.compute_output_shape((1,) + tuple(input_shape))[1]
    return tt.conv_macs(out_hw, kernel[0], kernel[2], kernel[3])


def _call_ms(fn, args, calls):
    """Mean wall time (ms) of `calls` calls of `fn(*args)`, each result fetched."""
    start = time.perf_counter()
    for _ in range(calls):
        fn(*args).numpy()
    return (time.perf_counter() - start) / calls * 1e3


def time_layers(model="vae", rounds=7, calls=20, steps=20):
    """Times each weighted layer of the model's encoder and decoder alone, and the
    whole training step, in interleaved rounds (best round of each: the same load).

    Returns `(rows, step ms, matmul GFLOP/s)`; a row is `(network/layer, input shape,
    forward ms, forward + backward ms, training GFLOP, first)` per batch of 64,
    `first` marking the layer whose input gradient is not computed.
    """
    import tensorflow as tf

    from benchmarks import train_throughput as tt

    net, run = tt.make_kerasdis_runner(model, tt.in_memory_images())
    probe = tt.make_matmul_probe()

    @tf.function
    def nothing(x):
        return tf.reduce_sum(x[:1])

    jobs = [("overhead", nothing, (tf.zeros((tt.BATCH, 64, 64, 1)),))]
    layers = []
    for index, (network, layer) in enumerate(weighted_layers(net)):
        shape = tuple(layer.input.shape[1:])
        first = index == 0  # the encoder's input layer
        x = tf.random.stateless_normal((tt.BATCH,) + shape, seed=[index, 1])
        dy = tf.random.stateless_normal(layer.compute_output_shape(x.shape), seed=[index, 2])

        @tf.function
        def forward(x, layer=layer):
            return tf.reduce_sum(layer(x)[:1])

        @tf.function
        def forward_backward(x, dy, layer=layer, first=first):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x)
            sources = layer.trainable_variables + ([] if first else [x])
            grads = tape.gradient(y, sources, output_gradients=dy)
            return tf.add_n([tf.reduce_sum(g[:1]) for g in grads] + [tf.reduce_sum(y[:1])])

        name = f"{network.name}/{layer.name}"
        jobs += [((name, "forward"), forward, (x,)), ((name, "both"), forward_backward, (x, dy))]
        passes = 2 if first else 3  # forward, input gradient, kernel gradient
        layers.append((name, shape, 2 * passes * tt.BATCH * layer_macs(layer, shape) / 1e9, first))
    for _, fn, args in jobs:  # trace and warm up
        fn(*args).numpy()
    best = {"step": float("inf"), "matmul": 0.0}
    for _ in range(rounds):
        for key, fn, args in jobs:
            best[key] = min(best.get(key, float("inf")), _call_ms(fn, args, calls))
        best["step"] = min(best["step"], tt.BATCH / run(steps, 1e9) * 1e3)
        best["matmul"] = max(best["matmul"], probe())
    # What calling a tf.function and fetching its result costs, subtracted from each time.
    overhead = best["overhead"]
    rows = [(name, shape, best[(name, "forward")] - overhead, best[(name, "both")] - overhead,
             flops, first) for name, shape, flops, first in layers]
    return rows, best["step"], best["matmul"]


def layers_to_markdown(model, rows, peak, step_ms):
    total_ms = sum(row[3] for row in rows)
    rate = sum(row[4] for row in rows) / total_ms * 1e3
    lines = [f"# Layers of the conv networks alone ({model}, batch 64)", "",
             f"- `python benchmarks/step_profile.py --layers --model {model}`; best of "
             f"interleaved rounds (layers, training step, matmul: the same load); machine "
             f"limit: 2048² float32 matmul at {peak:.1f} GFLOP/s",
             f"- whole training step (`fit`, as `train_throughput.py`): {step_ms:.1f} ms "
             f"({images_per_second(step_ms):,.0f} images/s)",
             f"- the layers below, each alone, forward + backward: {total_ms:.1f} ms "
             f"({total_ms / step_ms:.0%} of the step; {images_per_second(total_ms):,.0f} "
             f"images/s if the step were nothing else), {rate:.1f} GFLOP/s = "
             f"{rate / peak:.0%} of the matmul", "",
             "| layer | input | forward ms | forward + backward ms | GFLOP/s | % of matmul |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for name, shape, fwd, both, flops, first in rows:
        note = " (no input gradient)" if first else ""
        rate = flops / both * 1e3
        lines.append(f"| `{name}`{note} | {'x'.join(map(str, shape))} | {fwd:.2f} | {both:.2f} "
                     f"| {rate:.1f} | {rate / peak:.0%} |")
    return "\n".join(lines) + "\n"


def images_per_second(ms):
    from benchmarks.train_throughput import BATCH

    return BATCH / ms * 1e3


def main(argv=None):
    from benchmarks.train_throughput import MODELS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="vae", choices=MODELS, help="model to profile")
    parser.add_argument("--steps", type=int, default=20, help="profiled training steps")
    parser.add_argument("--top", type=int, default=25, help="ops listed")
    parser.add_argument("--output", default=None, help="also write the table to this file")
    parser.add_argument("--layers", action="store_true",
                        help="time the conv encoder's and decoder's layers alone instead")
    parser.add_argument("--rounds", type=int, default=7,
                        help="--layers: interleaved rounds, the best of each kept")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be a positive integer, got {args.steps}")
    if args.rounds < 1:
        parser.error(f"--rounds must be a positive integer, got {args.rounds}")
    if args.layers:
        rows, step_ms, peak = time_layers(args.model, rounds=args.rounds,
                                          calls=min(20, args.steps), steps=args.steps)
        text = layers_to_markdown(args.model, rows, peak, step_ms)
    else:
        rate, ops = profile(args.model, args.steps)
        text = to_markdown(args.model, rate, ops, args.top)
    if args.output:
        Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
