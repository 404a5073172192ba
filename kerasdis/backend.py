"""Selects and validates the Keras backend: kerasdis runs on TensorFlow only.

The custom training steps use `tf.GradientTape`, `tf.distribute` and TensorFlow
Probability, so any other `KERAS_BACKEND` is refused when kerasdis is imported.

It also turns on TensorFlow's oneDNN CPU kernels when kerasdis is the first to
import TensorFlow (`TF_ENABLE_ONEDNN_OPTS=1` unless the variable is already set).
TensorFlow enables them by default only on CPUs with AVX512_VNNI, AVX512_BF16 or
AMX; elsewhere it falls back to Eigen kernels, whose convolution gradients are
slower. `TF_ENABLE_ONEDNN_OPTS=0` keeps TensorFlow's choice. `python
benchmarks/train_throughput.py --models vae --variants default --env-variants
onednn_off` measures a training step both ways (past measurements:
`benchmarks/results/history.md`).
"""

import atexit
import logging
import os
import re
import sys
import threading

REQUIRED_BACKEND = "tensorflow"


def enable_onednn():
    """Asks for oneDNN CPU kernels if TensorFlow is not imported yet and the user did
    not choose (`TF_ENABLE_ONEDNN_OPTS`)."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def _check_requested_backend():
    requested = os.environ.get("KERAS_BACKEND")
    if requested is None:
        os.environ["KERAS_BACKEND"] = REQUIRED_BACKEND
    elif requested != REQUIRED_BACKEND:
        raise ImportError(
            f"kerasdis needs the TensorFlow backend of Keras, but KERAS_BACKEND={requested!r}. "
            f"Set KERAS_BACKEND=tensorflow (or unset it) before importing kerasdis."
        )


def _check_active_backend():
    import keras

    active = keras.backend.backend()
    if active != REQUIRED_BACKEND:
        raise ImportError(
            f"kerasdis needs the TensorFlow backend of Keras, but Keras is running on {active!r} "
            "(set by ~/.keras/keras.json or an earlier import). Set KERAS_BACKEND=tensorflow "
            "before importing keras or kerasdis."
        )


def prepare_environment():
    """What `import kerasdis` does, without importing TensorFlow or Keras.

    Sets `KERAS_BACKEND=tensorflow` if unset (raises `ImportError` for another
    backend), asks for oneDNN kernels (`enable_onednn`), and, if Keras was imported
    before kerasdis, checks that it runs on TensorFlow.
    """
    _check_requested_backend()
    enable_onednn()
    if "keras" in sys.modules:
        _check_active_backend()


# A line of TensorFlow's C++ (absl) logging, e.g.
# "I0000 00:00:1796433659.25 2294 cuda_platform.cc:52] failed call to cuInit: ...".
_NATIVE_LOG_LINE = re.compile(
    rb"^([IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] |"
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called)")


def quiet_tensorflow(verbose=False):
    """Hides TensorFlow's C++ (absl) log lines from stderr for the rest of the process.

    TensorFlow 2.21 writes lines such as "Could not find cuda drivers on your
    machine" through absl before its logging is initialised, which
    `TF_CPP_MIN_LOG_LEVEL` does not filter. Unless `verbose` or the user set
    `TF_CPP_MIN_LOG_LEVEL`, this sets it to 3 and routes file descriptor 2 through
    a thread that drops exactly those lines and passes everything else (Python
    warnings, tracebacks, kerasdis's messages) through unchanged. The `kerasdis`
    command calls it once, before any subcommand runs. Returns whether it did.
    """
    if verbose or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:
        return False
    os.dup2(write_end, 2)
    os.close(write_end)

    def relay():
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if not _NATIVE_LOG_LINE.match(line):
                    os.write(original, line)

    thread = threading.Thread(target=relay, name="kerasdis-stderr", daemon=True)
    thread.start()

    def restore():
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(original, 2)  # closes the pipe's last write end: the relay sees EOF
        thread.join(timeout=2.0)

    atexit.register(restore)
    return True


def ensure_tensorflow_backend():
    """Sets `KERAS_BACKEND=tensorflow` if unset, imports Keras and checks its backend.

    Raises `ImportError` if another backend is chosen."""
    _check_requested_backend()
    enable_onednn()
    _check_active_backend()
