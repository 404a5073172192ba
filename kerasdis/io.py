"""Safe file writing shared by training, evaluation and the zoo.

Every file kerasdis writes goes to a temporary name in the same directory and is
renamed into place (`os.replace` is atomic on POSIX), so a crash or a kill never
leaves a half-written file under the final name.
"""

import json
import math
import os

import numpy as np


def jsonable(value, where="value", strict=True):
    """A JSON-safe copy: numpy scalars and arrays to Python, non-finite floats to None.

    Args:
        value: nested dicts, lists, tuples, numpy arrays and scalars.
        where: str. Name of `value` used in the error message.
        strict: bool. Raise `TypeError` on other objects (True) or store their
            `repr` (False).
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v, f"{where}[{k!r}]", strict) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]", strict) for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), where, strict)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    if strict:
        raise TypeError(f"{where} is not JSON-serialisable: {type(value).__name__} {value!r}.")
    return repr(value)


def write_json(path, obj):
    """Writes JSON atomically (temporary file, then rename)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_model_atomic(model, path):
    """`model.save(path)` through a temporary file, so `path` is never half-written."""
    tmp = f"{path}.tmp-{os.getpid()}.keras"
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    """Writes `text` atomically (temporary file, then rename)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
