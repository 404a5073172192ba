"""Lazy package attributes (PEP 562): names resolve to their module on first use.

`import kerasdis` and the `kerasdis` command's parser stay free of TensorFlow,
Keras and TFP; `kd.models.BetaVAE` or `from kerasdis.metrics import mig` imports
the module that defines the name the first time it is asked for.
"""

import importlib
import sys
import types


def attach(package, exports):
    """`(__getattr__, __dir__, __all__)` for `package` given `{name: module}`.

    `module` is a module path relative to `package` (e.g. `".vae"`). The name is
    that module's attribute of the same name if it has one (a class or function),
    else the module itself (a subpackage). When a function shares its module's
    name (`kerasdis.metrics.mig`), the package keeps the function even after the
    module is imported elsewhere, as an eager `from .mig import mig` would.
    """

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name], package)
        return getattr(module, name) if hasattr(module, name) else module

    def __dir__():
        return sorted(exports)

    class _Package(types.ModuleType):
        def __setattr__(self, name, value):
            # The import system binds a submodule on its package after loading it.
            if (isinstance(value, types.ModuleType) and exports.get(name) == f".{name}"
                    and value.__name__ == f"{package}.{name}" and hasattr(value, name)):
                value = getattr(value, name)
            super().__setattr__(name, value)

    sys.modules[package].__class__ = _Package
    return __getattr__, __dir__, sorted(exports)
