"""Callbacks: annealing schedules and logging.

Schedules are computed from the optimizer's step count (`model.optimizer.iterations`),
not from a Python counter, so they stay right after `model.fit` is resumed from a
checkpoint or a `.keras` file.
"""

import keras


class WeightAnnealing(keras.callbacks.Callback):
    """Linear warm-up of a non-trainable weight of the model (β, γ, λ, ...).

    At optimizer step t the weight is `start + (target - start) * min(1, t / steps)`.

    Args:
        weight: str. Name of the model's `keras.Variable` attribute, e.g. `"beta"`.
        target: float. Value reached after `steps` steps.
        steps: int. Length of the warm-up in optimizer steps (≥ 1).
        start: float. Value at step 0. Defaults to `0.0`.
    """

    def __init__(self, weight, target, steps, start=0.0):
        super().__init__()
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"`steps` must be a positive integer, got {steps!r}.")
        for name, value in (("target", target), ("start", start)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.")
        self.weight = weight
        self.target = float(target)
        self.steps = steps
        self.start = float(start)

    def value_at(self, step):
        fraction = min(1.0, max(0, step) / self.steps)
        return self.start + (self.target - self.start) * fraction

    def _variable(self):
        variable = getattr(self.model, self.weight, None)
        if not isinstance(variable, keras.Variable):
            raise ValueError(
                f"`weight`={self.weight!r} is not a weight of {type(self.model).__name__}; "
                "expected the name of one of its non-trainable variables such as 'beta'."
            )
        return variable

    def on_train_begin(self, logs=None):
        self._var = self._variable()

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self._var.assign(self.value_at(step))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.weight] = float(self._var.numpy())


class BetaAnnealing(WeightAnnealing):
    """Linear warm-up of the model's β from `start` to `target` over `steps` steps.

    Works for every model with a `beta` weight (BetaVAE, BetaTCVAE, ...), see
    `WeightAnnealing`. Adds the current `beta` to the epoch logs.
    """

    def __init__(self, target, steps, start=0.0):
        super().__init__("beta", target=target, steps=steps, start=start)
