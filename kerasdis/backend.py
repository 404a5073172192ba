"""Selects and validates the Keras backend: kerasdis runs on TensorFlow only.

The custom training steps use `tf.GradientTape`, `tf.distribute` and TensorFlow
Probability, so any other `KERAS_BACKEND` is refused when kerasdis is imported.
"""

import os

REQUIRED_BACKEND = "tensorflow"


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
    import keras

    active = keras.backend.backend()
    if active != REQUIRED_BACKEND:
        raise ImportError(
            f"kerasdis needs the TensorFlow backend of Keras, but Keras is running on {active!r} "
            "(set by ~/.keras/keras.json or an earlier import). Set KERAS_BACKEND=tensorflow "
            "before importing keras or kerasdis."
        )
