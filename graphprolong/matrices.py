"""Matrices of a graph in its canonical node order: adjacency, Laplacian
``L = A - D``, distance matrix ``T`` and the spectrum of ``L``.

The canonical order is the sorted order of the vertices; for the box products
built by :mod:`graphprolong.graphs` it is the Kronecker order of the factors
(SPEC §1), so ``L(G1 □ G2) = L1 ⊕ L2`` holds entry by entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

__all__ = [
    "GraphMatrices",
    "adjacency_matrix",
    "distance_matrix",
    "graph_matrices",
    "laplacian",
    "node_order",
    "spectrum",
]


def _graph_name(graph: nx.Graph) -> str:
    return str(graph.graph.get("name") or f"graph with {graph.number_of_nodes()} vertices")


def node_order(graph: nx.Graph) -> list:
    """Return the canonical (sorted) vertex order of ``graph``."""
    try:
        return sorted(graph.nodes)
    except TypeError as error:
        raise TypeError(
            f"vertices of {_graph_name(graph)} must be mutually sortable to define the canonical order ({error})"
        ) from None


def validate_graph(graph: nx.Graph, *, connected: bool = True) -> nx.Graph:
    """Check the rules every graph here obeys; return ``graph`` unchanged.

    Undirected networkx graph, at least one vertex, finite positive edge
    weights and, unless ``connected=False``, connected.
    """
    if not isinstance(graph, nx.Graph):
        raise TypeError(f"expected a networkx.Graph; got {type(graph).__name__}")
    if graph.is_directed() or graph.is_multigraph():
        raise ValueError(f"{_graph_name(graph)} must be a simple undirected graph; got {type(graph).__name__}")
    if graph.number_of_nodes() == 0:
        raise ValueError("a graph must have at least one vertex; got an empty graph (0 vertices)")
    for u, v, weight in graph.edges(data="weight", default=1.0):
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)):
            raise TypeError(f"edge weights must be numbers; edge ({u!r}, {v!r}) of {_graph_name(graph)} has {weight!r}")
        if not np.isfinite(weight) or weight <= 0:
            raise ValueError(
                f"edge weights must be finite and > 0; edge ({u!r}, {v!r}) of {_graph_name(graph)} has weight {weight!r}"
            )
    components = nx.number_connected_components(graph) if connected else 1
    if components != 1:
        raise ValueError(
            f"{_graph_name(graph)} must be connected (finite distances); it has {components} connected components"
        )
    return graph


def adjacency_matrix(graph: nx.Graph) -> sp.csr_array:
    """Return the weighted adjacency matrix (sparse, canonical order).

    A self-loop of weight ``w`` contributes ``A_ii = w``.
    """
    return sp.csr_array(nx.to_scipy_sparse_array(graph, nodelist=node_order(graph), weight="weight", format="csr"), dtype=float)


def laplacian(graph: nx.Graph) -> sp.csr_array:
    """Return ``L = A - D`` with ``D = diag(row sums of A)`` (sparse, canonical order).

    ``L`` is symmetric negative semidefinite and ``L @ 1 = 0``.  The graph may
    be disconnected.
    """
    validate_graph(graph, connected=False)
    adjacency = adjacency_matrix(graph)
    degrees = np.asarray(adjacency.sum(axis=1)).ravel()
    return sp.csr_array(adjacency - sp.diags_array(degrees))


def distance_matrix(graph: nx.Graph) -> np.ndarray:
    """Return the shortest-path distance matrix ``T`` (dense, canonical order).

    Edge weights are honoured; unweighted edges have length 1.  The graph must
    be connected.
    """
    validate_graph(graph)
    adjacency = adjacency_matrix(graph)
    adjacency.setdiag(0)
    adjacency.eliminate_zeros()
    unweighted = bool(np.all(adjacency.data == 1.0))
    return csgraph.shortest_path(adjacency, method="D" if not unweighted else "auto", directed=False, unweighted=unweighted)


def spectrum(graph: nx.Graph) -> tuple[np.ndarray, np.ndarray]:
    """Return the eigenvalues (ascending) and orthonormal eigenvectors of ``L``."""
    return np.linalg.eigh(laplacian(graph).toarray())


@dataclass(frozen=True, eq=False)
class GraphMatrices:
    """The matrices of one validated graph, computed on first use and kept.

    Attributes
    ----------
    graph : networkx.Graph
    name : str
    n : int
        Number of vertices.
    """

    graph: nx.Graph
    name: str
    n: int
    _cache: dict = field(default_factory=dict, repr=False)

    def _get(self, key: str, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @property
    def adjacency(self) -> sp.csr_array:
        """Weighted adjacency matrix ``A``, sparse, canonical vertex order (what identifies the graph)."""
        return self._get("A", lambda: adjacency_matrix(self.graph))

    @property
    def laplacian(self) -> sp.csr_array:
        """``L = A - D``, sparse."""
        return self._get("L", lambda: laplacian(self.graph))

    @property
    def laplacian_dense(self) -> np.ndarray:
        """``L`` as a dense array."""
        return self._get("L_dense", lambda: self.laplacian.toarray())

    @property
    def distances(self) -> np.ndarray:
        """Distance matrix ``T``, dense."""
        return self._get("T", lambda: distance_matrix(self.graph))

    @property
    def distances_dense(self) -> np.ndarray:
        """``T`` as a dense array (the same array as :attr:`distances` here)."""
        return self.distances

    @property
    def _eigh(self) -> tuple[np.ndarray, np.ndarray]:
        return self._get("eigh", lambda: np.linalg.eigh(self.laplacian_dense))

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of ``L`` in ascending order."""
        return self._eigh[0]

    @property
    def eigenvectors(self) -> np.ndarray:
        """Orthonormal eigenvectors of ``L``, column ``j`` for ``eigenvalues[j]``."""
        return self._eigh[1]


def graph_matrices(graph: nx.Graph | GraphMatrices) -> GraphMatrices:
    """Validate ``graph`` and wrap it for lazy matrix computations (idempotent)."""
    if isinstance(graph, GraphMatrices):
        return graph
    validate_graph(graph)
    return GraphMatrices(graph=graph, name=_graph_name(graph), n=graph.number_of_nodes())
