"""graphprolong: optimal prolongation maps between graphs.

Build graphs and lineages (:mod:`~graphprolong.graphs`,
:mod:`~graphprolong.lineages`), their matrices (:mod:`~graphprolong.matrices`),
state the prolongation objective (:class:`ProlongationProblem`) and minimise it
on the Stiefel manifold (:func:`solve`), or take the spectral closed form
(:func:`spectral_prolongation`).  torch is never imported here.
"""

from importlib.metadata import PackageNotFoundError, version

from .cache import get_prolongation
from .compose import box_product_bound, compose_box, diffusion_distance
from .graphs import box_product, cross_product, cycle_graph, grid_graph, path_graph, single_vertex_graph
from .lineages import (
    LINEAGE_KINDS, Lineage, LineageKind, box_lineage, cross_lineage, cycle_lineage, grid_lineage, lineage_from_callable,
    lineage_kind, parse_graph_spec, parse_lineage_spec, path_lineage,
)
from .kronecker import KroneckerLowRankMap, KroneckerMap, KroneckerStructuredLowRankMap
from .matching import MATCHERS, Matching, assignment, eigenvalue_matching
from .matrices import GraphMatrices, adjacency_matrix, distance_matrix, graph_matrices, laplacian, node_order, spectrum
from .operators import BoxDistance, KroneckerSum, StructuredMatrices, structured_matrices
from .problem import ObjectiveTerm, ObjectiveTerms, ProlongationProblem
from .solver import BACKENDS, INITIALISATIONS, OPTIMIZERS, SolveResult, initial_point, solve
from .spectral import spectral_prolongation

try:
    __version__ = version("graphprolong")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = [
    "BACKENDS", "INITIALISATIONS", "LINEAGE_KINDS", "MATCHERS", "OPTIMIZERS",
    "BoxDistance", "GraphMatrices", "KroneckerLowRankMap", "KroneckerMap", "KroneckerStructuredLowRankMap", "KroneckerSum", "Lineage", "LineageKind", "StructuredMatrices", "Matching", "ObjectiveTerm", "ObjectiveTerms", "ProlongationProblem", "SolveResult",
    "adjacency_matrix", "assignment", "box_product_bound", "compose_box", "diffusion_distance", "get_prolongation", "box_lineage", "box_product", "cross_lineage", "cross_product",
    "cycle_graph", "cycle_lineage", "distance_matrix", "eigenvalue_matching", "graph_matrices",
    "grid_graph", "grid_lineage", "initial_point", "laplacian", "lineage_from_callable", "lineage_kind", "node_order",
    "parse_graph_spec", "parse_lineage_spec", "path_graph", "path_lineage", "single_vertex_graph", "solve", "spectral_prolongation", "structured_matrices",
    "spectrum",
]
