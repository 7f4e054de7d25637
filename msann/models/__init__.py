"""Networks: plain MLPs, the MsANN network of summed levels, and the Poisson networks of seed 000."""

from .mlp import ACTIVATIONS, plain_autoencoder
from .multiscale import MsANNAutoencoder
from .poisson_nets import poisson_cnn, poisson_fc

__all__ = ["ACTIVATIONS", "MsANNAutoencoder", "plain_autoencoder", "poisson_cnn", "poisson_fc"]
