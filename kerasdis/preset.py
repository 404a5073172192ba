"""Preset files: write, resolve, verify and load trained kerasdis models.

This module sits below the models (it imports none): `Model.from_preset` and
`save_to_preset` use it, and `kerasdis.zoo` adds publishing a training run.

```python
kd.zoo.list()                              # names of the shipped presets
model = kd.zoo.load("beta_tcvae_dsprites")  # or kd.models.BetaTCVAE.from_preset(...)
kd.zoo.info("beta_tcvae_dsprites")["metrics"]["mig"]["mig"]
model.save_to_preset("my_preset", metadata={"dataset": "dsprites", ...})
kd.models.BetaVAE.from_preset("./my_preset")
kd.models.BetaVAE.from_preset("https://host/path/preset.tar.gz#sha256=<64 hex digits>")
```

A *preset* is a directory in the keras-hub style:

- `config.json`: `keras.saving.serialize_keras_object(model)` (module, class name,
  registered name, config, build config; no compile config: presets hold no
  optimizer state).
- `model.weights.h5`: `model.save_weights(...)` of the model's own weights (a
  trained model's optimizer state is left out).
- `metadata.json`: versions, class, parameter count, the sha256 of the weights and
  whatever the publisher passed (dataset, recipe, training steps, wall time,
  hardware, seed, the scores of `kd.metrics.evaluate`, ...).

What `preset` may be (`load`, `info`, `Model.from_preset`):

- a **URL** (`scheme://...`): a `.tar.gz` of a preset directory, with its sha256
  given as a `#sha256=<hex>` fragment or the `sha256=` argument (required). It is
  downloaded with `keras.utils.get_file`, checked, and extracted into
  `<cache_dir>/presets/<sha256>/` (`cache_dir` defaults to `$KERAS_HOME/kerasdis`,
  i.e. `~/.keras/kerasdis`).
- a **directory path**: any string containing a path separator or starting with
  `.`, `/` or `~` (or a `pathlib.Path`); it must exist and be a preset directory.
- a **name**: anything else. It must match `^[a-z0-9_]+$` and be one of `list()`:
  presets shipped in the package (`kerasdis/presets/<name>/`), then those in the
  directories listed in the `KERASDIS_ZOO_DIR` environment variable
  (`os.pathsep`-separated).

Loading never unpickles anything: the config goes through
`keras.saving.deserialize_keras_object(..., safe_mode=True)` and the weights are
an HDF5 file whose sha256 must equal the one recorded in `metadata.json`.
"""

import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import tarfile
import tempfile
import urllib.parse
import warnings

import keras

from kerasdis.io import jsonable, write_json

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
PRESET_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)
FORMAT_VERSION = 1
NAME_PATTERN = re.compile(r"^[a-z0-9_]+$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
ENV_ZOO_DIR = "KERASDIS_ZOO_DIR"
BUILTIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")
_URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Keys that `save_to_preset` always writes itself (a caller's values are replaced).
AUTOMATIC_METADATA = (
    "format_version", "class_name", "registered_name", "kerasdis_version", "keras_version",
    "tensorflow_version", "python_version", "parameter_count", "weights_file",
    "weights_sha256", "created",
)


# ----------------------------------------------------------------------- helpers
def sha256_of(path, chunk_size=1 << 20):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_json(path, preset):
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"preset {preset!r}: {path} is not valid JSON: {error}") from None


def _versions():
    import tensorflow as tf

    from kerasdis.version import __version__

    return {"kerasdis_version": __version__, "keras_version": keras.__version__,
            "tensorflow_version": tf.__version__, "python_version": platform.python_version()}


# ------------------------------------------------------------------------ saving
def save_to_preset(model, preset_dir, metadata=None, overwrite=False):
    """Writes `model` as a preset directory; returns its path.

    The directory is built under a temporary name next to `preset_dir` and renamed
    into place, so `preset_dir` is never half-written.

    Args:
        model: a registered, serialisable Keras model (any `kerasdis.models` model).
        preset_dir: str or path-like. Target directory; its parent is created.
        metadata: dict or None. JSON-serialisable publisher information (dataset,
            recipe, steps, wall_time_seconds, hardware, seed, metrics, ...). The keys
            of `AUTOMATIC_METADATA` are filled here and replace the caller's.
        overwrite: bool. Replace an existing non-empty directory. Defaults to False.

    Raises:
        FileExistsError: `preset_dir` is a non-empty directory (without
            `overwrite=True`) or an existing file.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model, got {type(model).__name__}.")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"`metadata` must be a dict or None, got {type(metadata).__name__}.")
    target = os.path.abspath(os.path.expanduser(os.fspath(preset_dir)))
    if os.path.lexists(target) and not os.path.isdir(target):
        raise FileExistsError(f"preset directory {target!r} exists and is not a directory.")
    if os.path.isdir(target) and os.listdir(target) and not overwrite:
        raise FileExistsError(
            f"preset directory {target!r} exists and is not empty; "
            "pass overwrite=True to replace it."
        )
    metadata = jsonable(dict(metadata or {}), "metadata")
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)  # a preset holds no optimizer state
    config = jsonable(config, "config")

    parent, base = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{base}.tmp-", dir=parent)
    try:
        write_json(os.path.join(tmp, CONFIG_FILE), config)
        weights_path = os.path.join(tmp, WEIGHTS_FILE)
        _without_optimizers(model, config).save_weights(weights_path)
        metadata.update(_versions())
        metadata.update({
            "format_version": FORMAT_VERSION,
            "class_name": type(model).__name__,
            "registered_name": keras.saving.get_registered_name(type(model)),
            "parameter_count": int(model.count_params()),
            "weights_file": WEIGHTS_FILE,
            "weights_sha256": sha256_of(weights_path),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        })
        write_json(os.path.join(tmp, METADATA_FILE), metadata)
        _move_into_place(tmp, target, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _without_optimizers(model, config):
    """`model`, or, when it holds an optimizer, a copy built from `config` with its
    weights: `save_weights` of a model that has trained also writes its optimizers'
    state (Adam: two slots per parameter), which a preset does not ship."""
    if not any(isinstance(value, keras.optimizers.Optimizer) for value in vars(model).values()):
        return model
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


def _move_into_place(tmp, target, overwrite):
    if not os.path.isdir(target):
        os.rename(tmp, target)
        return
    if not os.listdir(target):
        os.rmdir(target)
        os.rename(tmp, target)
        return
    if not overwrite:  # appeared while we were writing
        raise FileExistsError(f"preset directory {target!r} exists and is not empty.")
    parent, base = os.path.split(target)
    old = tempfile.mkdtemp(prefix=f".{base}.old-", dir=parent)
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------- the zoo
def zoo_dirs():
    """Directories searched for named presets: the shipped one, then `$KERASDIS_ZOO_DIR`."""
    dirs = [BUILTIN_DIR]
    for extra in os.environ.get(ENV_ZOO_DIR, "").split(os.pathsep):
        if extra.strip():
            dirs.append(os.path.abspath(os.path.expanduser(extra.strip())))
    return dirs


def _named_presets():
    found = {}
    for root in zoo_dirs():
        if not os.path.isdir(root):
            continue
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            if (NAME_PATTERN.match(name) and name not in found
                    and os.path.isfile(os.path.join(path, CONFIG_FILE))):
                found[name] = path
    return found


def list_presets():
    """Sorted names of the available presets (shipped, then `$KERASDIS_ZOO_DIR`)."""
    return sorted(_named_presets())


def _is_url(preset):
    return isinstance(preset, str) and bool(_URL_PATTERN.match(preset))


def _is_path(preset):
    if isinstance(preset, os.PathLike):
        return True
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(s in preset for s in seps) or preset.startswith((".", "~"))


def resolve(preset, sha256=None, cache_dir=None):
    """The local preset directory of a name, a directory path or a URL (downloads URLs)."""
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    if not isinstance(preset, str) or not preset:
        raise ValueError(
            f"`preset` must be a non-empty string (name, directory or URL), got {preset!r}.")
    if _is_url(preset):
        return _fetch(preset, sha256, cache_dir)
    if sha256 is not None:
        raise ValueError("`sha256` applies to URL presets only.")
    if _is_path(preset):
        path = os.path.abspath(os.path.expanduser(preset))
        if not os.path.isdir(path):
            raise ValueError(
                f"preset directory {preset!r} does not exist or is not a directory "
                "(arguments containing a path separator or starting with '.', '/' or '~' are "
                "directory paths; zoo names match ^[a-z0-9_]+$)."
            )
        return path
    if not NAME_PATTERN.match(preset):
        raise ValueError(
            f"{preset!r} is not a valid preset name: names match ^[a-z0-9_]+$ "
            f"(known: {list_presets()}); pass a directory as a path ('./{preset}') or a URL."
        )
    presets = _named_presets()
    if preset not in presets:
        hint = (f" A directory {preset!r} exists here: pass it as a path, './{preset}'."
                if os.path.isdir(preset) else "")
        raise ValueError(f"unknown preset {preset!r}; known presets: {sorted(presets)}.{hint}")
    path = os.path.realpath(presets[preset])
    root = os.path.realpath(os.path.dirname(presets[preset]))
    if os.path.dirname(path) != root:  # e.g. a symlink out of the zoo
        raise ValueError(
            f"preset {preset!r} resolves to {path!r}, outside the zoo directory {root!r}.")
    return path


def _check_preset_dir(path, preset):
    missing = [f for f in PRESET_FILES if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise ValueError(
            f"preset {preset!r} ({path}) is not a preset directory: missing {missing}.")


def info(preset, sha256=None, cache_dir=None):
    """The metadata of a preset plus `name`, `path`, `sha256`, `recipe` and `metrics`.

    `sha256` is the weights' hash recorded in `metadata.json` (checked by `load`);
    `recipe` and `metrics` are None when the publisher gave none.
    """
    path = resolve(preset, sha256=sha256, cache_dir=cache_dir)
    _check_preset_dir(path, preset)
    metadata = _read_json(os.path.join(path, METADATA_FILE), preset)
    result = dict(metadata)
    result.update({
        "name": preset if isinstance(preset, str) and NAME_PATTERN.match(preset)
        else os.path.basename(path),
        "path": path,
        "sha256": metadata.get("weights_sha256"),
        "recipe": metadata.get("recipe"),
        "metrics": metadata.get("metrics"),
    })
    return result


def load(preset, expected_class=None, sha256=None, cache_dir=None):
    """Loads a preset (name, directory or URL, see the module docstring) as a model.

    Args:
        preset: str or path-like.
        expected_class: a class or None. The model must be an instance of it
            (`BetaVAE.from_preset` passes `BetaVAE`). None accepts any kerasdis model.
        sha256: str or None. Hash of a URL's archive (or use `#sha256=` in the URL).
        cache_dir: str or None. Download/extraction cache for URLs; defaults to
            `$KERAS_HOME/kerasdis` (`~/.keras/kerasdis`).

    Raises:
        ValueError: bad or unknown name, missing files, a weights file whose sha256
            differs from `metadata.json`, a model of another class, or weights that
            do not fit the config.
    """
    path = resolve(preset, sha256=sha256, cache_dir=cache_dir)
    _check_preset_dir(path, preset)
    metadata = _read_json(os.path.join(path, METADATA_FILE), preset)
    weights_path = os.path.join(path, WEIGHTS_FILE)
    expected = metadata.get("weights_sha256")
    if not isinstance(expected, str) or not SHA256_PATTERN.match(expected):
        raise ValueError(f"preset {preset!r}: {METADATA_FILE} has no valid `weights_sha256`.")
    actual = sha256_of(weights_path)
    if actual != expected:
        raise ValueError(
            f"preset {preset!r}: sha256 mismatch for {weights_path}: expected {expected} "
            f"(from {METADATA_FILE}), got {actual}; the file was modified or corrupted."
        )

    config = _read_json(os.path.join(path, CONFIG_FILE), preset)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"preset {preset!r}: {CONFIG_FILE} is not a serialized Keras object.")
    config.pop("compile_config", None)
    wanted = expected_class or keras.Model
    stored = config.get("class_name")
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as error:
        raise ValueError(
            f"preset {preset!r}: could not build the model of {CONFIG_FILE} "
            f"({config.get('registered_name') or stored}): {error}"
        ) from error
    if not isinstance(model, wanted) or getattr(type(model), "registered_name", None) is None:
        raise ValueError(
            f"preset {preset!r} holds a {type(model).__name__}, not a "
            f"{getattr(wanted, '__name__', 'kerasdis model')}."
        )
    problem = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(weights_path)
        except Exception as error:  # noqa: BLE001 - reported below with the preset's name
            problem = error
    skipped = [str(w.message) for w in caught if _is_loading_failure(w)]
    if problem is not None or skipped:
        raise ValueError(
            f"preset {preset!r}: the weights in {weights_path} do not fit the "
            f"{type(model).__name__} of {CONFIG_FILE}: {problem or skipped[0]}"
        ) from problem
    for w in caught:  # pass the other warnings on
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return model


def _is_loading_failure(w):
    """Keras warns instead of raising when parts of a weights file do not match."""
    text = str(w.message)
    return any(s in text for s in ("Skipping", "could not be loaded", "mismatch", "retain their"))


# --------------------------------------------------------------------------- URLs
def default_cache_dir():
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "kerasdis")


def split_url(url, sha256=None):
    """`(url without fragment, sha256)` from `url#sha256=<hex>` and/or `sha256=`."""
    base, _, fragment = url.partition("#")
    from_url = None
    if fragment:
        params = urllib.parse.parse_qs(fragment)
        if set(params) != {"sha256"} or len(params["sha256"]) != 1:
            raise ValueError(f"URL fragment must be '#sha256=<64 hex digits>', got {fragment!r}.")
        from_url = params["sha256"][0].lower()
    if sha256 is not None:
        sha256 = str(sha256).lower()
        if from_url is not None and from_url != sha256:
            raise ValueError(f"`sha256` {sha256} differs from the URL's {from_url}.")
    digest = sha256 or from_url
    if digest is None:
        raise ValueError(
            f"a URL preset needs its archive's sha256: '{base}#sha256=<hex>' or sha256=...; "
            "refusing to load an unverified download."
        )
    if not SHA256_PATTERN.match(digest):
        raise ValueError(f"sha256 must be 64 hex digits, got {digest!r}.")
    return base, digest


def _fetch(url, sha256, cache_dir):
    base, digest = split_url(url, sha256)
    cache_dir = os.path.abspath(os.path.expanduser(cache_dir or default_cache_dir()))
    extracted = os.path.join(cache_dir, "presets", digest)
    if os.path.isdir(extracted):  # extracted from a verified archive before
        return extracted
    archive = os.path.join(cache_dir, "downloads", f"{digest}.tar.gz")
    try:
        archive = keras.utils.get_file(fname=f"{digest}.tar.gz", origin=base, file_hash=digest,
                                       hash_algorithm="sha256", cache_dir=cache_dir,
                                       cache_subdir="downloads")
    except ValueError as error:
        if not os.path.exists(archive):
            raise
        actual = sha256_of(archive)
        os.remove(archive)
        raise ValueError(
            f"sha256 mismatch for the preset archive {base}: expected {digest}, got {actual}; "
            "refusing to use it."
        ) from error
    _extract(archive, extracted, base)
    return extracted


def _extract(archive, target, url):
    """Extracts a tar(.gz) of a preset directory into `target`, atomically."""
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".extract-", dir=parent)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar.getmembers():
                name = member.name
                if (os.path.isabs(name) or ".." in name.replace("\\", "/").split("/")
                        or not (member.isfile() or member.isdir())):
                    raise ValueError(f"preset archive {url} holds an unsafe member {name!r}.")
            tar.extractall(tmp, filter="data")
        # The preset files may sit at the top of the archive or in one directory.
        root = tmp
        entries = [e for e in os.listdir(tmp) if not e.startswith("._")]
        if not os.path.isfile(os.path.join(tmp, CONFIG_FILE)) and len(entries) == 1:
            root = os.path.join(tmp, entries[0])
        _check_preset_dir(root, url)
        if os.path.isdir(target):  # another process got there first
            return
        os.rename(root, target)
    except tarfile.TarError as error:
        raise ValueError(f"preset archive {url} is not a readable tar archive: {error}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make_archive(preset_dir, archive_path):
    """Packs a preset directory into a `.tar.gz`; returns its sha256 (for the URL fragment)."""
    preset_dir = os.fspath(preset_dir)
    _check_preset_dir(preset_dir, preset_dir)
    name = os.path.basename(os.path.normpath(preset_dir))
    tmp = f"{archive_path}.tmp-{os.getpid()}"
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            for f in PRESET_FILES:
                tar.add(os.path.join(preset_dir, f), arcname=f"{name}/{f}")
        os.replace(tmp, archive_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return sha256_of(archive_path)


# ----------------------------------------------------------------------- publish


# The public name of the design doc, `kd.zoo.list()`.
list = list_presets  # noqa: A001
