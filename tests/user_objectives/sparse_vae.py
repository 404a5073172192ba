"""A user's own objective, in the user's own module: kerasdis is not changed.

`SparseBetaVAE`: the β-VAE loss plus λ·E‖μ(x)‖₁, an L1 penalty on the posterior
means. One registration makes it trainable (`kd.training.train`, `kerasdis train
--import`), searchable (`kd.tuning.search`), and savable (`.keras`, presets).
"""

import keras
import tensorflow as tf

import kerasdis as kd


@kd.models.register("sparse_beta_vae")
@keras.saving.register_keras_serializable(package="user_objectives")
class SparseBetaVAE(kd.models.BetaVAE):
    """β-VAE with an L1 penalty on the posterior means (weight `l1`)."""

    loss_term_names = ("loss", "reconstruction", "kl", "l1")
    searched_weight = "l1"
    searched_range = (0.01, 1.0)
    annealed_variable = None

    def __init__(self, latent_dim=10, beta=4.0, l1=0.1, **kwargs):
        super().__init__(latent_dim=latent_dim, beta=beta, **kwargs)
        self.l1 = float(l1)

    def regularization_terms(self, x, outputs, training=False):
        return {"l1": tf.reduce_mean(tf.reduce_sum(tf.abs(outputs["mean"]), axis=-1))}

    def total_loss(self, terms):
        return terms["reconstruction"] + self.beta * terms["kl"] + self.l1 * terms["l1"]

    def get_config(self):
        return {**super().get_config(), "l1": self.l1}
