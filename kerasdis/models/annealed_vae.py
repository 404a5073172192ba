"""AnnealedVAE: Burgess et al. 2018, "Understanding disentangling in β-VAE".

The KL is pulled towards a capacity C that grows linearly during training (Eq. 8):

    loss = reconstruction + γ · |KL(q(z|x) || p(z)) − C(t)|,
    C(t) = C_max · min(1, t / capacity_steps),

with t the optimizer's step count, so the schedule survives a resume. C is held in
the non-trainable variable `capacity` (saved with the weights): each training step
writes C(t) into it, or, with `capacity_steps=None`, leaves it to the user or a
callback such as `kd.callbacks.WeightAnnealing("capacity", ...)`.
"""

import keras
import tensorflow as tf

from kerasdis.models.base import GaussianLatentVAE, check_non_negative, check_positive_int
from kerasdis.models.registry import register


@register("annealed_vae")
@keras.saving.register_keras_serializable(package="kerasdis")
class AnnealedVAE(GaussianLatentVAE):
    """β-VAE with controlled capacity increase (Burgess et al. 2018, Eq. 8).

    Loss per image (batch mean, nats): `reconstruction + gamma * |kl - capacity|`
    where `kl` is the batch mean KL. Reports `loss`, `reconstruction`, `kl` and
    `capacity`. Under `tf.distribute` the penalty is taken on the KL of the global
    batch (all-reduced over the replicas, see `capacity_penalty`), so a replicated
    step equals the one-device step on the global batch.

    Args:
        latent_dim: int. Number of latent dimensions. Defaults to `10`.
        gamma: float. Weight of the capacity penalty. Defaults to `1000.0`.
        capacity_max: float. C_max in nats. Defaults to `25.0`.
        capacity_steps: int or None. Steps over which C rises from 0 to C_max.
            None: no built-in schedule; `capacity` starts at C_max and keeps whatever
            value is assigned to it (e.g. by `kd.callbacks.WeightAnnealing`).
            Defaults to `100_000`.
        input_shape, architecture, likelihood, seed: as `kerasdis.models.VAE`.
    """

    searched_weight = "gamma"
    searched_range = (200.0, 2000.0)
    annealed_variable = "gamma"

    @classmethod
    def run_args(cls, total_steps):
        # The capacity reaches its maximum at the end of the run.
        return {"capacity_steps": int(total_steps)}

    loss_term_names = ("loss", "reconstruction", "kl", "capacity")

    def __init__(self, latent_dim=10, gamma=1000.0, capacity_max=25.0, capacity_steps=100_000,
                 input_shape=(64, 64, 1), architecture="conv", likelihood="bernoulli",
                 seed=None, **kwargs):
        kwargs.pop("beta", None)
        self.initial_gamma = check_non_negative("gamma", gamma)
        self.capacity_max = check_non_negative("capacity_max", capacity_max)
        self.capacity_steps = (None if capacity_steps is None
                               else check_positive_int("capacity_steps", capacity_steps))
        super().__init__(latent_dim=latent_dim, input_shape=input_shape,
                         architecture=architecture, likelihood=likelihood, beta=1.0,
                         seed=seed, **kwargs)

    def create_objective_state(self):
        self.gamma = keras.Variable(self.initial_gamma, trainable=False, dtype="float32",
                                    name="gamma")
        # Written by every replica's step with the same value: keep the first.
        self.capacity = keras.Variable(
            self.capacity_max if self.capacity_steps is None else 0.0, trainable=False,
            dtype="float32", aggregation="only_first_replica", name="capacity")

    def capacity_at(self, step):
        """C(t) of the built-in schedule at optimizer step `step` (Eq. 8)."""
        fraction = tf.minimum(1.0, tf.cast(step, "float32") / float(self.capacity_steps))
        return self.capacity_max * fraction

    def regularization_terms(self, x, outputs, training=False):
        if training and self.capacity_steps is not None:
            capacity = self.capacity_at(self.optimizer.iterations)
            self.capacity.assign(capacity)
            # C(t) itself, not a read of the variable: no read-after-write ordering
            # to rely on inside a replicated step.
            return {"capacity": capacity}
        return {"capacity": tf.identity(self.capacity.value)}

    def capacity_penalty(self, kl, capacity):
        """`|KL − C|` of the global batch, with the gradient of its per-replica share.

        On one device this is `tf.abs(kl - capacity)`. Under `tf.distribute` each
        replica holds the batch-mean KL of its own slice, and the mean over replicas
        of `|KL_r − C|` is not `|KL − C|` of the global batch when the `KL_r` lie on
        both sides of C. So the replicas all-reduce their KLs (no gradient flows
        through the all-reduce), every replica reports `|KL − C|` of the global batch,
        and its gradient is `sign(KL − C) · ∇KL_r`: summed over the replicas (and
        divided by their number, as every loss) it is the one-device gradient
        `sign(KL − C) · ∇KL` of the global batch.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        context = tf.distribute.get_replica_context()
        if replicas == 1 or context is None:
            return tf.abs(kl - capacity)
        global_kl = context.all_reduce(tf.distribute.ReduceOp.MEAN, tf.stop_gradient(kl))
        gap = global_kl - capacity
        return tf.stop_gradient(tf.abs(gap)) + tf.sign(gap) * (kl - tf.stop_gradient(kl))

    def total_loss(self, terms):
        return terms["reconstruction"] + self.gamma * self.capacity_penalty(
            terms["kl"], terms["capacity"])

    def get_config(self):
        config = super().get_config()
        config.pop("beta", None)
        config.update({"gamma": self.initial_gamma, "capacity_max": self.capacity_max,
                       "capacity_steps": self.capacity_steps})
        return config
