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

The trace is read from the profiler's XSpace protobuf, which ships with TensorFlow
(`tensorflow.tsl.profiler.protobuf.xplane_pb2`).
"""

import argparse
import collections
import glob
import os
import sys
import tempfile
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


def main(argv=None):
    from benchmarks.train_throughput import MODELS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="vae", choices=MODELS, help="model to profile")
    parser.add_argument("--steps", type=int, default=20, help="profiled training steps")
    parser.add_argument("--top", type=int, default=25, help="ops listed")
    parser.add_argument("--output", default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be a positive integer, got {args.steps}")
    rate, ops = profile(args.model, args.steps)
    text = to_markdown(args.model, rate, ops, args.top)
    if args.output:
        Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
