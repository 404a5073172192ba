"""tensorflow-datasets builders shipped by kerasdis for manually downloaded data.

Each module defines one `tfds.core.GeneratorBasedBuilder` (public TFDS builder API
only) with `MANUAL_DOWNLOAD_INSTRUCTIONS`. `kd.data.load(name, data_dir=...)`
imports the module when it is needed (so `kerasdis.data` itself does not import
TensorFlow), prepares the data once from `<data_dir>/downloads/manual/`, and
adapts it like the other TFDS datasets (`kerasdis.data.tfds_adapters`).

- `chairs3d`: `Chairs3d`, the rendered chairs of Aubry et al. (CVPR 2014).
"""
