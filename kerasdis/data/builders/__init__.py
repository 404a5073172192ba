"""tensorflow-datasets builders shipped by kerasdis for manually downloaded data.

Each module defines one `tfds.core.GeneratorBasedBuilder` (public TFDS builder API
only) with `MANUAL_DOWNLOAD_INSTRUCTIONS`. `kd.data.load(name, data_dir=...)`
imports the module when it is needed (so `kerasdis.data` itself does not import
TensorFlow), prepares the data once from `<data_dir>/downloads/manual/`, and
adapts it like the other TFDS datasets (`kerasdis.data.tfds_adapters`).

- `chairs3d`: `Chairs3d`, the rendered chairs of Aubry et al. (CVPR 2014).
- `cars3d`: `Cars3d`, the rendered cars of Reed et al. (NeurIPS 2015), as
  disentanglement_lib prepares them.
- `mpi3d`: `Mpi3d`, the MPI3D toy / realistic / real datasets of Gondal et al.
  (NeurIPS 2019). The same manual-download pattern, but the 12.7 GB arrays are
  memory-mapped where they lie instead of being rewritten into TFDS records, so
  this one is not a TFDS builder and does not import tensorflow-datasets.

`_archive` holds what the tar-reading builders share (a tar archive or its
extracted folder, listed and read the same way).
"""
