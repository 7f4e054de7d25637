"""Coarsening: how a fine network's units are grouped into a coarser level's.

- :mod:`~msann.coarsening.matching`: heavy-edge matching of units and its
  operators (seed 000; and LLNL/MTNN's norm-weighted ones);
- :mod:`~msann.coarsening.mutual_best`: mutual-best matching (LLNL/MTNN) and
  the registry of matchings;
- :mod:`~msann.coarsening.graph`: graph-designed maps between layer widths
  (paths and grids, from :mod:`graphprolong`);
- :mod:`~msann.coarsening.network`: the coarseners (one signature,
  :data:`~msann.coarsening.network.COARSENERS`) and the coarse networks they define;
- :mod:`~msann.coarsening.embedded`: MsANN's levels inside one network.

Every coarsener produces the project's one transfer operator,
:class:`msann.core.transfer.Transfer`.
"""

from .matching import PROJECTIONS, Matching, cosine_similarity, heavy_edge_matching, norm_weighted_transfer, piecewise_constant_transfer, scaled_transfer
from .mutual_best import MATCHINGS, mutual_best_matching
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
    "MATCHINGS",
    "PROJECTIONS",
    "CoarseningOptions",
    "CoarseningWarning",
    "Matching",
    "build_coarse_model",
    "coarsen",
    "coarsen_network",
    "cosine_similarity",
    "heavy_edge_matching",
    "mutual_best_matching",
    "norm_weighted_transfer",
    "piecewise_constant_transfer",
    "plan_coarsening",
    "plan_from_prolongations",
    "scaled_transfer",
]
