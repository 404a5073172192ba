"""kerasdis: disentangled representation learning with Keras 3 and TensorFlow."""

from kerasdis.backend import ensure_tensorflow_backend

ensure_tensorflow_backend()

from kerasdis import baselines  # noqa: E402
from kerasdis import callbacks  # noqa: E402
from kerasdis import data  # noqa: E402
from kerasdis import distribute  # noqa: E402
from kerasdis import export  # noqa: E402
from kerasdis import losses  # noqa: E402
from kerasdis import metrics  # noqa: E402
from kerasdis import models  # noqa: E402
from kerasdis import networks  # noqa: E402
from kerasdis import training  # noqa: E402
from kerasdis import tuning  # noqa: E402
from kerasdis import viz  # noqa: E402
from kerasdis import zoo  # noqa: E402
from kerasdis.version import __version__  # noqa: E402

__all__ = [
    "baselines", "callbacks", "data", "distribute", "export", "losses", "metrics", "models", "networks",
    "training", "tuning", "viz", "zoo", "__version__",
]
