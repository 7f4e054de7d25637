"""Graph constructors: path, cycle and grid graphs, box and cross products.

Textual graph specifications (``path:8``, ``grid:4x4:periodic``) belong to the
lineage registry, :mod:`graphprolong.lineages`.

Conventions (SPEC §1): a graph of one vertex is that vertex with one
self-loop (``G_0`` of every lineage).  Grid and product vertices are flat
tuples, so that sorting them gives the Kronecker order of the factors:
vertex ``(u, v)`` of ``G1 □ G2`` sits at ``idx(u) * |G2| + idx(v)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import networkx as nx

from .checks import check_positive_int

__all__ = [
    "box_product",
    "cross_product",
    "cycle_graph",
    "grid_graph",
    "path_graph",
    "single_vertex_graph",
]


def single_vertex_graph() -> nx.Graph:
    """Return ``G_0``: one vertex (``0``) with one self-loop."""
    graph = nx.Graph(name="G_0")
    graph.add_edge(0, 0)
    return graph


def _one_dimensional(kind: str, build, n: int) -> nx.Graph:
    n = check_positive_int(f"{kind} length n", n)
    if n == 1:
        return single_vertex_graph()
    graph = build(n)
    graph.graph["name"] = f"{kind}:{n}"
    return graph


def path_graph(n: int) -> nx.Graph:
    """Return the path graph ``P_n`` on vertices ``0 .. n-1`` (``G_0`` when n = 1)."""
    return _one_dimensional("path", nx.path_graph, n)


def cycle_graph(n: int) -> nx.Graph:
    """Return the cycle graph ``C_n`` (``G_0`` when n = 1, one edge when n = 2)."""
    return _one_dimensional("cycle", nx.cycle_graph, n)


def _flat(node: object) -> tuple:
    return node if isinstance(node, tuple) else (node,)


def _product(G1: nx.Graph, G2: nx.Graph, kind: str) -> nx.Graph:
    for label, graph in (("G1", G1), ("G2", G2)):
        if not isinstance(graph, nx.Graph) or graph.is_directed():
            raise TypeError(f"{kind} product needs undirected networkx graphs; {label} is {type(graph).__name__}")
    if kind == "box":
        product = nx.cartesian_product(G1, G2)
    else:
        product = nx.tensor_product(G1, G2)
        # networkx stores the pair of factor attributes; the product weight is w1 * w2.
        for _, _, data in product.edges(data=True):
            pair = data.pop("weight", None)
            if pair is not None:
                data["weight"] = (pair[0] if pair[0] is not None else 1.0) * (pair[1] if pair[1] is not None else 1.0)
    flat = nx.relabel_nodes(product, {node: _flat(node[0]) + _flat(node[1]) for node in product.nodes})
    graph = nx.Graph(name=f"({G1.graph.get('name', 'G1')} {'□' if kind == 'box' else '×'} {G2.graph.get('name', 'G2')})")
    graph.add_nodes_from(sorted(flat.nodes))
    graph.add_edges_from(flat.edges(data=True))
    return graph


def box_product(G1: nx.Graph, G2: nx.Graph) -> nx.Graph:
    """Return the box (Cartesian) product ``G1 □ G2``.

    Vertices are flat tuples ``(*u, *v)``; in sorted order the adjacency matrix
    is ``A1 ⊗ I + I ⊗ A2`` and the Laplacian the Kronecker sum ``L1 ⊕ L2``.
    """
    return _product(G1, G2, "box")


def cross_product(G1: nx.Graph, G2: nx.Graph) -> nx.Graph:
    """Return the cross (tensor, categorical) product ``G1 × G2`` (adjacency ``A1 ⊗ A2``)."""
    return _product(G1, G2, "cross")


def grid_graph(shape: Sequence[int], *, periodic: bool = False) -> nx.Graph:
    """Return the grid with the given ``shape`` (any number of dimensions).

    The box product of paths (aperiodic) or cycles (``periodic=True``) of the
    given lengths, with vertices ``(i_1, ..., i_d)`` in C (Kronecker) order.
    A grid of one vertex is ``G_0``.
    """
    shape = tuple(shape)
    if not shape:
        raise ValueError("grid shape must have at least one dimension; got shape ()")
    for axis, size in enumerate(shape):
        check_positive_int(f"grid size along axis {axis}", size)
    factor = cycle_graph if periodic else path_graph
    graph = factor(shape[0])
    graph = nx.relabel_nodes(graph, {node: (node,) for node in graph.nodes})
    for size in shape[1:]:
        graph = box_product(graph, factor(size))
    if math.prod(shape) == 1:
        graph = nx.relabel_nodes(single_vertex_graph(), {0: (0,) * len(shape)})
    graph.graph["name"] = "grid:" + "x".join(map(str, shape)) + (":periodic" if periodic else "")
    return graph
