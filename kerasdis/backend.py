"""Selects and validates the Keras backend: kerasdis runs on TensorFlow only.

The custom training steps use `tf.GradientTape`, `tf.distribute` and TensorFlow
Probability, so any other `KERAS_BACKEND` is refused when kerasdis is imported.

It also turns on TensorFlow's oneDNN CPU kernels when kerasdis is the first to
import TensorFlow (`TF_ENABLE_ONEDNN_OPTS=1` unless the variable is already set).
TensorFlow enables them by default only on CPUs with AVX512_VNNI, AVX512_BF16 or
AMX; elsewhere it falls back to Eigen kernels whose convolution gradients are
several times slower. On a 2-core AVX2 EPYC, oneDNN took the (XLA-compiled)
full-grid MIG from 740 s to 252 s and the conv models' training steps from
470–672 to 676–890 images/s (`python -m benchmarks` at commits c17c17c and
4396f6f, both beside other work on the machine; README, "oneDNN kernels on every
x86 CPU"). `TF_ENABLE_ONEDNN_OPTS=0` keeps TensorFlow's choice.
"""

import os
import sys

REQUIRED_BACKEND = "tensorflow"


def enable_onednn():
    """Asks for oneDNN CPU kernels if TensorFlow is not imported yet and the user did
    not choose (`TF_ENABLE_ONEDNN_OPTS`)."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def ensure_tensorflow_backend():
    """Sets `KERAS_BACKEND=tensorflow` if unset; raises if another backend is chosen."""
    requested = os.environ.get("KERAS_BACKEND")
    if requested is None:
        os.environ["KERAS_BACKEND"] = REQUIRED_BACKEND
    elif requested != REQUIRED_BACKEND:
        raise ImportError(
            f"kerasdis needs the TensorFlow backend of Keras, but KERAS_BACKEND={requested!r}. "
            f"Set KERAS_BACKEND=tensorflow (or unset it) before importing kerasdis."
        )
    enable_onednn()
    import keras

    active = keras.backend.backend()
    if active != REQUIRED_BACKEND:
        raise ImportError(
            f"kerasdis needs the TensorFlow backend of Keras, but Keras is running on {active!r} "
            "(set by ~/.keras/keras.json or an earlier import). Set KERAS_BACKEND=tensorflow "
            "before importing keras or kerasdis."
        )
