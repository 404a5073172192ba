"""The objectives: one `keras.Model` subclass per paper, and the model registry.

`register`, `get`, `names` and `builtin_names` (see `kerasdis.models.registry`)
are plain Python. The classes are imported on first use, and the first use of any
of them imports them all, so every kerasdis model is known to Keras before a
`.keras` file or preset is loaded.
"""

from kerasdis import _lazy
from kerasdis.models.registry import builtin_names, get, load_builtins, names, register

_getattr, __dir__, _classes = _lazy.attach(__name__, {
    "GaussianLatentVAE": ".base",
    "ModelTraits": ".base",
    "VAE": ".vae",
    "BetaVAE": ".vae",
    "AnnealedVAE": ".annealed_vae",
    "BetaTCVAE": ".beta_tcvae",
    "FactorVAE": ".factor_vae",
    "DIPVAE": ".dip_vae",
    "InfoGAN": ".infogan",
    "DCIGN": ".dcign",
    "AdaGVAE": ".ada_gvae",
    "AdaMLVAE": ".ada_gvae",
})
__all__ = [*_classes, "builtin_names", "get", "load_builtins", "names", "register"]


def __getattr__(name):
    value = _getattr(name)
    load_builtins()
    return value
