"""Export a trained model as a TensorFlow SavedModel.

The SavedModel needs only TensorFlow to load (`tf.saved_model.load`); it has the
endpoints `encode` (returns `mean` and `log_var`), `decode` (image means) and
`reconstruct`, and `serving_default` = `encode`.
"""

import os
import shutil
import tempfile

import keras
import tensorflow as tf


def saved_model(model, path, overwrite=False):
    """Writes `model` as a SavedModel directory at `path`.

    Args:
        model: a kerasdis model with `encode`, `decode`, `reconstruct`.
        path: str. Output directory; written to a temporary directory first and then
            renamed, so a failure leaves nothing behind.
        overwrite: bool. Replace an existing `path`. Defaults to `False`.

    Returns:
        `path`.
    """
    for name in ("encode", "decode", "reconstruct", "image_shape", "latent_dim"):
        if not hasattr(model, name):
            raise ValueError(f"`model` must be a kerasdis model with `{name}`, got {type(model).__name__}.")
    path = os.fspath(path)
    if os.path.exists(path):
        if not overwrite:
            raise ValueError(f"`path` {path!r} exists; pass overwrite=True to replace it.")
    image_spec = tf.TensorSpec([None, *model.image_shape], tf.float32, name="images")
    latent_spec = tf.TensorSpec([None, model.latent_dim], tf.float32, name="z")

    def encode(images):
        mean, log_var = model.encode(images)
        return {"mean": mean, "log_var": log_var}

    def decode(z):
        return {"images": model.decode(z)}

    def reconstruct(images):
        return {"images": model.reconstruct(images)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", encode, input_signature=[image_spec])
    archive.add_endpoint("encode", encode, input_signature=[image_spec])
    archive.add_endpoint("decode", decode, input_signature=[latent_spec])
    archive.add_endpoint("reconstruct", reconstruct, input_signature=[image_spec])

    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        archive.write_out(tmp, verbose=False)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
