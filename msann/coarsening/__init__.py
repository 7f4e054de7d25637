"""Coarsening: how a fine network's units are grouped into a coarser level's.

- :mod:`~msann.coarsening.matching`: heavy-edge matching of units and its
  operators (seed 000);
- :mod:`~msann.coarsening.graph`: graph-designed maps between layer widths
  (paths and grids, from :mod:`graphprolong`);
- :mod:`~msann.coarsening.network`: the coarseners (one signature,
  :data:`~msann.coarsening.network.COARSENERS`) and the coarse networks they define;
- :mod:`~msann.coarsening.embedded`: MsANN's levels inside one network.

Every coarsener produces the project's one transfer operator,
:class:`msann.core.transfer.Transfer`.
"""

from .matching import Matching, cosine_similarity, heavy_edge_matching, piecewise_constant_transfer, scaled_transfer
from .network import (
    COARSENERS,
    CoarseningOptions,
    CoarseningWarning,
    build_coarse_model,
    coarsen,
    coarsen_network,
    plan_coarsening,
    plan_from_prolongations,
)

__all__ = [
    "COARSENERS",
    "CoarseningOptions",
    "CoarseningWarning",
    "Matching",
    "build_coarse_model",
    "coarsen",
    "coarsen_network",
    "cosine_similarity",
    "heavy_edge_matching",
    "piecewise_constant_transfer",
    "plan_coarsening",
    "plan_from_prolongations",
    "scaled_transfer",
]
