"""The objectives: one `keras.Model` subclass per paper."""

from kerasdis.models.annealed_vae import AnnealedVAE
from kerasdis.models.base import GaussianLatentVAE
from kerasdis.models.beta_tcvae import BetaTCVAE
from kerasdis.models.dcign import DCIGN
from kerasdis.models.dip_vae import DIPVAE
from kerasdis.models.factor_vae import FactorVAE
from kerasdis.models.infogan import InfoGAN
from kerasdis.models.vae import VAE, BetaVAE

__all__ = ["GaussianLatentVAE", "VAE", "BetaVAE", "AnnealedVAE", "BetaTCVAE", "FactorVAE", "DIPVAE",
           "InfoGAN", "DCIGN"]
