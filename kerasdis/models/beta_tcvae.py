"""β-TCVAE: Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement
in Variational Autoencoders".

The KL term of the ELBO is split into index-code mutual information, total
correlation and dimension-wise KL (Eq. 2), and each gets its own weight (Eq. 4):

    loss = reconstruction + α · I_q(x; z) + β · TC(z) + γ · Σ_j KL(q(z_j) || p(z_j))

q(z) and its marginals are estimated on the minibatch with minibatch weighted
sampling (MWS) or minibatch stratified sampling (MSS), Appendix C; see
`kerasdis.losses.decomposed_kl_terms`. Under `tf.distribute` the estimate is per
replica: each replica's minibatch is the sample of q(z).
"""

import keras

from kerasdis import losses
from kerasdis.models.base import GaussianLatentVAE, check_non_negative, check_positive_int
from kerasdis.models.registry import register


@register("beta_tcvae")
@keras.saving.register_keras_serializable(package="kerasdis")
class BetaTCVAE(GaussianLatentVAE):
    """β-TCVAE (Chen et al. 2018, Eq. 4) with the MWS or MSS estimator.

    Loss per image (batch mean, nats): `reconstruction + alpha * mi + beta * tc +
    gamma * dwkl`. Reports `loss`, `reconstruction`, `kl` (analytic, for
    reference), `mi`, `tc` and `dwkl`.

    Both estimators weigh the M minibatch components of q(z) with importance
    weights that sum to one: MSS with App. C.2's weights, MWS with 1/M each,
    `log q(z_i) ≈ logsumexp_j log q(z_i|x_j) − log M` (and the same per latent for
    `log q(z_ij)`). App. C.1 (and the authors' code) subtract `log(N·M)` instead:
    weights summing to 1/N, which lowers `log q(z)` and every `log q(z_j)` by
    `log N`, so its reported `tc` is larger by `(D − 1) log N`, `mi` by `log N` and
    `dwkl` smaller by `D log N`, with the same gradients. kerasdis does not keep
    that constant: `mi`, `tc` and `dwkl` are estimates of the real quantities, and
    `mi + tc + dwkl` is the Monte Carlo KL of the batch (for either normaliser).
    See `kerasdis.losses.decomposed_kl_terms`.

    Args:
        latent_dim: int. Number of latent dimensions. Defaults to `10`.
        beta: float. Weight of the total correlation. Defaults to `6.0`.
        dataset_size: int. N, the number of training images (required; 737,280
            for dSprites). Only MSS's weights use it; MWS with weights summing to
            one does not depend on N.
        estimator: str. `"mss"` (minibatch stratified sampling, App. C.2) or
            `"mws"` (minibatch weighted sampling, App. C.1). Defaults to `"mss"`.
        alpha: float. Weight of the index-code mutual information. Defaults to `1.0`.
        gamma: float. Weight of the dimension-wise KL. Defaults to `1.0`.
        input_shape, architecture, likelihood, seed: as `kerasdis.models.VAE`.
    """

    searched_weight = "beta"
    searched_range = (1.0, 10.0)
    annealed_variable = "beta"
    min_batch_size = 2

    @classmethod
    def dataset_args(cls, dataset):
        # N of the MWS/MSS estimators is the size of the training set.
        return {**super().dataset_args(dataset), "dataset_size": int(dataset.num_examples)}

    loss_term_names = ("loss", "reconstruction", "kl", "mi", "tc", "dwkl")

    def __init__(self, latent_dim=10, beta=6.0, dataset_size=None, estimator="mss",
                 alpha=1.0, gamma=1.0, input_shape=(64, 64, 1), architecture="conv",
                 likelihood="bernoulli", seed=None, **kwargs):
        if dataset_size is None:
            raise ValueError(
                "`dataset_size` is required by BetaTCVAE (the N of the MWS/MSS estimators), "
                "e.g. dataset_size=ds.num_examples."
            )
        self.dataset_size = check_positive_int("dataset_size", dataset_size)
        if estimator not in losses.ESTIMATORS:
            raise ValueError(f"`estimator` must be one of {losses.ESTIMATORS}, got {estimator!r}.")
        self.estimator = estimator
        self.alpha = check_non_negative("alpha", alpha)
        self.gamma = check_non_negative("gamma", gamma)
        super().__init__(latent_dim=latent_dim, input_shape=input_shape,
                         architecture=architecture, likelihood=likelihood, beta=beta,
                         seed=seed, **kwargs)

    def _check_batch(self, x):
        x = super()._check_batch(x)
        if x.shape[0] is not None and x.shape[0] < 2:
            raise ValueError(
                "BetaTCVAE estimates q(z) on the minibatch and needs batches of at least 2 "
                f"images, got a batch of {x.shape[0]}."
            )
        return x

    def regularization_terms(self, x, outputs, training=False):
        return losses.decomposed_kl_terms(
            outputs["z"], outputs["mean"], outputs["log_var"], self.dataset_size, self.estimator
        )

    def total_loss(self, terms):
        return (terms["reconstruction"] + self.alpha * terms["mi"] + self.beta * terms["tc"]
                + self.gamma * terms["dwkl"])

    def get_config(self):
        config = super().get_config()
        config.update({"dataset_size": self.dataset_size, "estimator": self.estimator,
                       "alpha": self.alpha, "gamma": self.gamma})
        return config
