"""The model registry: every objective kerasdis can train, by name.

```python
@kd.models.register("my_vae")          # in the user's own module
class MyVAE(kd.models.BetaVAE):
    ...

kd.models.get("my_vae")                # the class
kd.models.names()                      # every registered name, built-in and the user's
```

The registry maps a name to a class; the class carries everything the rest of
kerasdis needs to know about it as class attributes and class methods, with
defaults in `kerasdis.models.base.ModelTraits` (the data it trains on, the weight
a tuner searches and its range, the arguments a dataset fixes, how it compiles).
Training, tuning, the zoo, export and the command line read them here; nothing
outside a model's own module lists models.

This module imports neither TensorFlow nor Keras: `builtin_names()` reads the
names of the built-in models from the `@register("...")` decorators of the
`kerasdis.models` modules without importing them, so the `kerasdis` command can
check a model name before TensorFlow loads.
"""

import ast
import importlib
import os
import re

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REGISTRY = {}
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def register(name):
    """Class decorator: registers a model class under `name` (e.g. `"beta_tcvae"`).

    The class must be a `keras.Model` with the `kerasdis.models.base.ModelTraits`
    attributes (any subclass of a kerasdis model has them). Registering is also
    what makes the name usable by `kd.training.train({"model": name, ...})`,
    `kd.tuning.search(model=name)` and `kerasdis train --model name`. Keras
    serialisation is separate: decorate with
    `keras.saving.register_keras_serializable(package=...)` as well so `.keras`
    files and presets load.

    Raises:
        ValueError: `name` is not lower-case snake case, or is already registered to
            another class.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"`name` must be lower-case snake case like 'my_vae', got {name!r}.")

    def decorator(cls):
        existing = _REGISTRY.get(name)
        if existing is not None and _qualified(existing) != _qualified(cls):
            raise ValueError(
                f"`name` {name!r} is already registered to {_qualified(existing)}; "
                f"choose another name for {_qualified(cls)}.")
        cls.registered_name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def _qualified(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def load_builtins():
    """Imports every built-in model module, so each class is registered (with this
    registry and with Keras' serialisation) before a saved model is loaded."""
    for module in _builtin_modules().values():
        importlib.import_module(module)


def get(name):
    """The class registered under `name`.

    Raises:
        ValueError: no model is registered under `name` (the message lists the names).
    """
    load_builtins()
    if name not in _REGISTRY:
        raise ValueError(
            f"`model` must be one of {names()}, got {name!r}. A model of your own must be "
            "registered with @kd.models.register(name) in a module imported first "
            "(`kerasdis train --import MODULE`).")
    return _REGISTRY[name]


def names():
    """Sorted names of every registered model (built-in and imported user models)."""
    load_builtins()
    return sorted(_REGISTRY)


def _builtin_modules():
    """`{name: module}` of the `@register("name")` decorators in kerasdis.models."""
    found = {}
    for filename in sorted(os.listdir(_PACKAGE_DIR)):
        if not filename.endswith(".py") or filename.startswith("_"):
            continue
        with open(os.path.join(_PACKAGE_DIR, filename), encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for decorator in node.decorator_list:
                if (isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) ==
                        "register" and decorator.args and isinstance(decorator.args[0],
                                                                      ast.Constant)):
                    found[decorator.args[0].value] = f"kerasdis.models.{filename[:-3]}"
    return found


def builtin_names():
    """Sorted names of kerasdis's own models, read without importing TensorFlow."""
    return sorted(_builtin_modules())
