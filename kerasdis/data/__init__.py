"""Datasets with ground-truth factors of variation.

```python
ds = kd.data.load("dsprites")            # procedural dSprites, offline
x = ds.images(ds.sample_factors(64, seed=0))
train = ds.as_dataset(batch_size=64)     # tf.data of float32 [64, 64, 64, 1]
```

`load()` knows the names in `names()`; `from_arrays()` wraps your own arrays. All
datasets share the `GroundTruthDataset` interface.
"""

from kerasdis import _lazy

__getattr__, __dir__, __all__ = _lazy.attach(__name__, {
    "ArrayDataset": ".arrays",
    "from_arrays": ".arrays",
    "GroundTruthDataset": ".base",
    "ColorDSprites": ".dsprites",
    "DSprites": ".dsprites",
    "NoisyDSprites": ".dsprites",
    "ScreamDSprites": ".dsprites",
    "ManualDownloadError": ".catalog",
    "load": ".registry",
    "names": ".registry",
    "paired_batches": ".weak_supervision",
    "sample_pairs": ".weak_supervision",
    "sample_single_factor_batch": ".weak_supervision",
    "single_factor_batches": ".weak_supervision",
    "training_batches": ".streams",
})
