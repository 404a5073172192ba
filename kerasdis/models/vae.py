"""VAE and β-VAE.

- `VAE`: Kingma & Welling 2014, "Auto-Encoding Variational Bayes": maximises the
  ELBO, loss = -E_q log p(x|z) + KL(q(z|x) || p(z)) (Eq. 10), per image.
- `BetaVAE`: Higgins et al. 2017, "β-VAE: Learning Basic Visual Concepts with a
  Constrained Variational Framework": loss = reconstruction + β · KL (Eq. 4), with a
  constant β > 1 pushing towards factorised, disentangled latents.
"""

import keras

from kerasdis.models.base import GaussianLatentVAE
from kerasdis.models.registry import register


@register("vae")
@keras.saving.register_keras_serializable(package="kerasdis")
class VAE(GaussianLatentVAE):
    """Variational autoencoder (Kingma & Welling 2014), the β = 1 objective.

    Loss, per image and averaged over the batch, in nats:
    `reconstruction + kl` where `reconstruction = -log p(x|z)`, z ~ q(z|x), and
    `kl = KL(q(z|x) || N(0, I))` in closed form. Reports `loss`,
    `reconstruction` and `kl`.

    Args:
        latent_dim: int. Number of latent dimensions. Defaults to `10`.
        input_shape: tuple. Image shape `(H, W, C)`. Defaults to `(64, 64, 1)`.
        architecture: str. `"conv"` or `"mlp"`. Defaults to `"conv"`.
        likelihood: str. `"bernoulli"`, `"gaussian"` or `"continuous_bernoulli"`.
            Defaults to `"bernoulli"`.
        seed: int or None. Seed of the reparameterisation noise. Defaults to `None`.

    Example:

    ```python
    ds = kd.data.load("dsprites")
    model = kd.models.VAE(latent_dim=10)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.fit(ds.as_dataset(64), steps_per_epoch=1000, epochs=5)
    ```
    """

    annealed_variable = "beta"

    def __init__(self, latent_dim=10, input_shape=(64, 64, 1), architecture="conv",
                 likelihood="bernoulli", seed=None, **kwargs):
        kwargs.pop("beta", None)
        super().__init__(latent_dim=latent_dim, input_shape=input_shape,
                         architecture=architecture, likelihood=likelihood, beta=1.0,
                         seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("beta", None)
        return config


@register("beta_vae")
@keras.saving.register_keras_serializable(package="kerasdis")
class BetaVAE(GaussianLatentVAE):
    """β-VAE (Higgins et al. 2017): loss = reconstruction + β · KL (Eq. 4).

    β is a non-trainable variable (`model.beta`), saved with the weights; the
    `kerasdis.callbacks.BetaAnnealing` callback can warm it up. Loss terms are
    per-image sums in nats, averaged over the batch; reports `loss`,
    `reconstruction` and `kl`.

    Args:
        latent_dim: int. Number of latent dimensions. Defaults to `10`.
        beta: float. Weight of the KL term, β ≥ 0. Defaults to `4.0`.
        input_shape: tuple. Image shape `(H, W, C)`. Defaults to `(64, 64, 1)`.
        architecture: str. `"conv"` or `"mlp"`. Defaults to `"conv"`.
        likelihood: str. `"bernoulli"`, `"gaussian"` or `"continuous_bernoulli"`.
            Defaults to `"bernoulli"`.
        seed: int or None. Seed of the reparameterisation noise. Defaults to `None`.
    """

    searched_weight = "beta"
    searched_range = (1.0, 16.0)
    annealed_variable = "beta"

    def __init__(self, latent_dim=10, beta=4.0, input_shape=(64, 64, 1), architecture="conv",
                 likelihood="bernoulli", seed=None, **kwargs):
        super().__init__(latent_dim=latent_dim, input_shape=input_shape,
                         architecture=architecture, likelihood=likelihood, beta=beta,
                         seed=seed, **kwargs)
