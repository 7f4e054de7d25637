"""Graph lineages: sequences ``G_0, G_1, ...`` of structurally similar graphs.

A lineage is a rule ``level -> networkx.Graph``.  The standard lineages grow by
a factor per level from ``G_0`` (one vertex with a self-loop); explicit sizes
may be any integers (``20 -> 40``, ``7 -> 14 -> 28``), in which case level 0 is
the first size given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import networkx as nx

from .checks import check_positive_int
from .graphs import box_product, cross_product, cycle_graph, grid_graph, path_graph

__all__ = [
    "Lineage",
    "box_lineage",
    "cross_lineage",
    "cycle_lineage",
    "grid_lineage",
    "lineage_from_callable",
    "path_lineage",
]


@dataclass(frozen=True)
class Lineage:
    """A graph lineage: ``graph(level)`` for ``level = 0, 1, ...``.

    Parameters
    ----------
    build : callable
        ``level -> networkx.Graph``.
    name : str
        Human-readable name, used in metadata and plots.
    depth : int or None
        Number of levels when the lineage is finite (explicit sizes), else None.
    """

    build: Callable[[int], nx.Graph]
    name: str
    depth: int | None = None

    def graph(self, level: int) -> nx.Graph:
        """Return ``G_level``."""
        level = check_positive_int("level", level, minimum=0)
        if self.depth is not None and level >= self.depth:
            raise ValueError(
                f"level must be < the lineage depth {self.depth} of {self.name!r}; got level = {level}"
            )
        graph = self.build(level)
        if not isinstance(graph, nx.Graph):
            raise TypeError(
                f"lineage {self.name!r} must build networkx graphs; level {level} gave {type(graph).__name__}"
            )
        return graph

    __getitem__ = graph

    def size(self, level: int) -> int:
        """Return ``|G_level|``, the number of vertices."""
        return self.graph(level).number_of_nodes()

    def pairs(self, levels: Sequence[int]) -> list[tuple[nx.Graph, nx.Graph]]:
        """Return ``(G_small, G_large)`` for consecutive entries of ``levels``."""
        graphs = [self.graph(level) for level in levels]
        return list(zip(graphs[:-1], graphs[1:]))


def _size_rule(sizes: Sequence[int] | None, factor: int, what: str) -> tuple[Callable[[int], int], int | None]:
    if sizes is None:
        factor = check_positive_int("factor", factor, minimum=2)
        return (lambda level: factor**level), None
    sizes = [check_positive_int(f"{what} size", size) for size in sizes]
    if not sizes:
        raise ValueError(f"sizes must name at least one level; got sizes = {sizes}")
    return (lambda level: sizes[level]), len(sizes)


def path_lineage(*, sizes: Sequence[int] | None = None, factor: int = 2) -> Lineage:
    """Paths of ``factor**level`` vertices, or of the explicit ``sizes``.

    Examples
    --------
    >>> path_lineage(sizes=[7, 14, 28]).size(2)
    28
    """
    rule, depth = _size_rule(sizes, factor, "path")
    return Lineage(lambda level: path_graph(rule(level)), "path", depth)


def cycle_lineage(*, sizes: Sequence[int] | None = None, factor: int = 2) -> Lineage:
    """Cycles of ``factor**level`` vertices, or of the explicit ``sizes``."""
    rule, depth = _size_rule(sizes, factor, "cycle")
    return Lineage(lambda level: cycle_graph(rule(level)), "cycle", depth)


def grid_lineage(
    *,
    shapes: Sequence[Sequence[int]] | None = None,
    dimensions: int = 2,
    factor: int = 2,
    periodic: bool = False,
) -> Lineage:
    """Grids (box products of paths, or of cycles when ``periodic``).

    Level ``l`` is the ``dimensions``-dimensional grid with ``factor**l``
    vertices per side, or the grid of the explicit ``shapes[l]``.
    """
    if shapes is None:
        dimensions = check_positive_int("dimensions", dimensions)
        factor = check_positive_int("factor", factor, minimum=2)

        def build(level: int) -> nx.Graph:
            return grid_graph([factor**level] * dimensions, periodic=periodic)

        depth = None
    else:
        shapes = [tuple(shape) for shape in shapes]
        if not shapes or len({len(shape) for shape in shapes}) != 1:
            raise ValueError(f"shapes must be a non-empty list of equal-length tuples; got {shapes}")

        def build(level: int) -> nx.Graph:
            return grid_graph(shapes[level], periodic=periodic)

        depth = len(shapes)
    return Lineage(build, "periodic grid" if periodic else "grid", depth)


def _depth(first: Lineage, second: Lineage) -> int | None:
    depths = [d for d in (first.depth, second.depth) if d is not None]
    return min(depths) if depths else None


def box_lineage(first: Lineage, second: Lineage) -> Lineage:
    """Level-wise box product: level ``l`` is ``first[l] □ second[l]``."""
    return Lineage(
        lambda level: box_product(first.graph(level), second.graph(level)),
        f"({first.name} □ {second.name})",
        _depth(first, second),
    )


def cross_lineage(first: Lineage, second: Lineage) -> Lineage:
    """Level-wise cross product: level ``l`` is ``first[l] × second[l]``."""
    return Lineage(
        lambda level: cross_product(first.graph(level), second.graph(level)),
        f"({first.name} × {second.name})",
        _depth(first, second),
    )


def lineage_from_callable(build: Callable[[int], nx.Graph], *, name: str = "custom", depth: int | None = None) -> Lineage:
    """Wrap any callable ``level -> networkx.Graph`` as a :class:`Lineage`."""
    if not callable(build):
        raise TypeError(f"build must be callable (level -> networkx.Graph); got {type(build).__name__}")
    return Lineage(build, name, depth)
