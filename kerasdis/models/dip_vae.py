"""DIP-VAE: Kumar, Sattigeri & Balakrishnan 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations".

The covariance of the aggregate posterior is pushed towards the identity (Eq. 6-8):

    DIP-VAE-I:  Cov = Cov_p(x)[μ(x)]
    DIP-VAE-II: Cov = E_p(x)[diag σ²(x)] + Cov_p(x)[μ(x)]
    penalty = λ_od · Σ_{i≠j} Cov_ij² + λ_d · Σ_i (Cov_ii − 1)²

    loss = reconstruction + KL + penalty

Covariances are estimated on the minibatch (per replica under tf.distribute).
"""

import keras
import tensorflow as tf

from kerasdis import losses
from kerasdis.models.base import GaussianLatentVAE, check_non_negative
from kerasdis.models.registry import register

VARIANTS = ("i", "ii")


@register("dip_vae")
@keras.saving.register_keras_serializable(package="kerasdis")
class DIPVAE(GaussianLatentVAE):
    """DIP-VAE I or II (Kumar et al. 2018, Eq. 6-8).

    Loss per image (batch mean, nats): `reconstruction + kl + dip` with the
    covariance penalty `dip` (off-diagonal and diagonal parts reported as
    `dip_offdiag` and `dip_diag`).

    Args:
        latent_dim: int. Number of latent dimensions. Defaults to `10`.
        variant: str. `"i"` (penalise Cov[μ]) or `"ii"` (penalise E[diag σ²] + Cov[μ]).
            Defaults to `"ii"`.
        lambda_od: float. Weight λ_od of the off-diagonal penalty. Defaults to `10.0`.
        lambda_d: float or None. Diagonal weight; `None` gives disentanglement_lib's
            defaults, λ_d = 10·λ_od for "i" and λ_d = λ_od for "ii".
        input_shape, architecture, likelihood, seed: as `kerasdis.models.VAE`.
    """

    searched_weight = "lambda_od"
    searched_range = (1.0, 50.0)

    loss_term_names = ("loss", "reconstruction", "kl", "dip", "dip_offdiag", "dip_diag")

    def __init__(self, latent_dim=10, variant="ii", lambda_od=10.0, lambda_d=None,
                 input_shape=(64, 64, 1), architecture="conv", likelihood="bernoulli",
                 seed=None, **kwargs):
        kwargs.pop("beta", None)
        if variant not in VARIANTS:
            raise ValueError(f"`variant` must be one of {VARIANTS}, got {variant!r}.")
        lambda_od = check_non_negative("lambda_od", lambda_od)
        if lambda_d is None:
            lambda_d = 10.0 * lambda_od if variant == "i" else lambda_od
        lambda_d = check_non_negative("lambda_d", lambda_d)
        self.variant = variant
        self.lambda_od = lambda_od
        self.lambda_d = lambda_d
        super().__init__(latent_dim=latent_dim, input_shape=input_shape,
                         architecture=architecture, likelihood=likelihood, beta=1.0,
                         seed=seed, **kwargs)

    def regularization_terms(self, x, outputs, training=False):
        cov = losses.covariance(outputs["mean"])
        if self.variant == "ii":
            cov = cov + tf.linalg.diag(tf.reduce_mean(tf.exp(outputs["log_var"]), axis=0))
        diag = tf.linalg.diag_part(cov)
        off_diag = cov - tf.linalg.diag(diag)
        dip_offdiag = self.lambda_od * tf.reduce_sum(tf.square(off_diag))
        dip_diag = self.lambda_d * tf.reduce_sum(tf.square(diag - 1.0))
        return {"dip": dip_offdiag + dip_diag, "dip_offdiag": dip_offdiag, "dip_diag": dip_diag}

    def total_loss(self, terms):
        return terms["reconstruction"] + self.beta * terms["kl"] + terms["dip"]

    def get_config(self):
        config = super().get_config()
        config.pop("beta", None)
        config.update({"variant": self.variant, "lambda_od": self.lambda_od,
                       "lambda_d": self.lambda_d})
        return config
