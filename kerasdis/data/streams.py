"""The training stream of a run: batch `s` is a pure function of `(seed, s)`.

Batches are drawn i.i.d. (with replacement) from the dataset, as
disentanglement_lib samples its observations, from a stateless generator seeded by
`(seed, step)`, so a run resumed at any step sees the batches an uninterrupted run
would have seen.
"""

import numpy as np
import tensorflow as tf


def training_batches(dataset, batch_size, seed, first_step=0):
    """`tf.data` of the batches of steps `first_step, first_step + 1, ...`.

    Batch s holds `batch_size` flat indices drawn uniformly with a stateless
    generator seeded by `(seed, s)`: the same batches whatever the resume point.
    """
    num_examples = dataset.num_examples
    shape = (batch_size, *dataset.observation_shape)

    def load(step):
        step = int(step)
        rng = np.random.default_rng([seed, step])
        indices = rng.integers(0, num_examples, size=batch_size)
        return dataset.images_at(indices, seed=rng).astype(np.float32)

    steps = tf.data.Dataset.counter(start=first_step)
    batches = steps.map(
        lambda s: tf.ensure_shape(tf.numpy_function(load, [s], tf.float32), shape),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return batches.prefetch(tf.data.AUTOTUNE)
