"""Datasets with ground-truth factors of variation.

```python
ds = kd.data.load("dsprites")            # procedural dSprites, offline
x = ds.images(ds.sample_factors(64, seed=0))
train = ds.as_dataset(batch_size=64)     # tf.data of float32 [64, 64, 64, 1]
```

`load()` knows the names in `names()`; `from_arrays()` wraps your own arrays. All
datasets share the `GroundTruthDataset` interface.
"""

from kerasdis.data.arrays import ArrayDataset, from_arrays
from kerasdis.data.base import GroundTruthDataset
from kerasdis.data.dsprites import ColorDSprites, DSprites, NoisyDSprites
from kerasdis.data.registry import load, names
from kerasdis.data.weak_supervision import sample_single_factor_batch, single_factor_batches

__all__ = [
    "ArrayDataset",
    "ColorDSprites",
    "DSprites",
    "GroundTruthDataset",
    "NoisyDSprites",
    "from_arrays",
    "load",
    "names",
    "sample_single_factor_batch",
    "single_factor_batches",
]
