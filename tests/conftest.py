import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

import kerasdis  # noqa: F401  (sets the environment TensorFlow reads at its first import: kerasdis/backend.py)


def squares(n, seed=0, size=64):
    """Binary images of random axis-aligned squares: a tiny stand-in dataset."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 1), np.float32)
    for i in range(n):
        side = rng.integers(size // 8, size // 3)
        top, left = rng.integers(0, size - side, 2)
        images[i, top : top + side, left : left + side] = 1.0
    return images


@pytest.fixture(scope="session")
def interrupt_at():
    """`interrupt_at(step)`: a Keras callback that raises `KeyboardInterrupt` once the
    optimizer has made `step` steps, as a run killed in the middle of an epoch."""
    import keras

    class InterruptAt(keras.callbacks.Callback):
        def __init__(self, at_step):
            super().__init__()
            self.at_step = at_step

        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == self.at_step:
                raise KeyboardInterrupt

    return InterruptAt


@pytest.fixture(scope="session")
def binary_images():
    return squares(256, seed=0)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the tests marked slow (CI does)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
