"""Shared test helpers: random connected graphs and random Stiefel points."""

from __future__ import annotations

import networkx as nx
import numpy as np


def random_connected_graph(n: int, seed: int, *, extra_edges: int = 3, weighted: bool = False) -> nx.Graph:
    """A random tree on ``n`` vertices plus up to ``extra_edges`` random edges (connected)."""
    rng = np.random.default_rng(seed)
    graph = nx.Graph()
    graph.add_node(0)
    for vertex in range(1, n):
        graph.add_edge(vertex, int(rng.integers(vertex)))
    for _ in range(extra_edges if n > 2 else 0):
        u, v = rng.choice(n, size=2, replace=False)
        graph.add_edge(int(u), int(v))
    if weighted:
        for u, v in graph.edges:
            graph.edges[u, v]["weight"] = float(rng.uniform(0.5, 2.0))
    if n == 1:
        graph.add_edge(0, 0)
    return graph


def random_stiefel(n: int, p: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``n x p`` matrix with orthonormal columns."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, p)))
    return Q
