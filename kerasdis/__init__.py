"""kerasdis: disentangled representation learning with Keras 3 and TensorFlow.

`import kerasdis as kd` is cheap: it sets up the environment TensorFlow reads at
its first import (the Keras backend, oneDNN kernels; `kerasdis.backend`) and
imports each subpackage (`kd.models`, `kd.data`, `kd.metrics`, ...) the first
time it is used (PEP 562). So the `kerasdis` command answers `--help` and bad
arguments without loading TensorFlow.
"""

from kerasdis import _lazy
from kerasdis.backend import prepare_environment

prepare_environment()

from kerasdis.version import __version__  # noqa: E402

_SUBMODULES = ("baselines", "callbacks", "data", "distribute", "export", "losses", "metrics",
               "models", "networks", "training", "tuning", "viz", "zoo", "zoo_runs")
__getattr__, __dir__, _names = _lazy.attach(__name__, {m: f".{m}" for m in _SUBMODULES})
__all__ = [*_names, "__version__"]
