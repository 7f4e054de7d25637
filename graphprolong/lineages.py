"""Graph lineages: the registry of lineage kinds, textual graph specs, and level sequences.

**The registry** (:data:`LINEAGE_KINDS`) is the one place that knows the lineage
families of the project -- ``path``, ``cycle``, ``grid`` (box product of paths)
and ``grid:periodic`` (of cycles).  Each :class:`LineageKind` gives

* its networkx builder (:meth:`LineageKind.graph`),
* whether it is periodic, from which :func:`~graphprolong.operators.structured_matrices`
  builds its Kronecker (structured) matrices,
* its SPEC string (:meth:`LineageKind.spec`, read back by :func:`parse_lineage_spec`),
* its size rules: the recipes' doubling (:meth:`LineageKind.double`) and the
  layer-coarsening halving rule of MsANN (:meth:`LineageKind.halve`,
  :meth:`LineageKind.coarsen`, :meth:`LineageKind.unit_shape`).

Every other module (recipes, export, the CLI, the operators, msann's layer
maps) asks it.

**Level sequences.**  A :class:`Lineage` is a rule ``level -> networkx.Graph``.
The standard lineages grow by a factor per level from ``G_0`` (one vertex with
a self-loop); explicit sizes may be any integers (``20 -> 40``, ``7 -> 14 ->
28``), in which case level 0 is the first size given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from .checks import check_choice, check_positive_int
from .edge_lists import read_edge_list
from .graphs import box_product, cross_product, cycle_graph, grid_graph, path_graph

__all__ = [
    "GRAPH_SPEC_FORMS",
    "LINEAGE_KINDS",
    "Lineage",
    "LineageKind",
    "box_lineage",
    "cross_lineage",
    "cycle_lineage",
    "grid_lineage",
    "lineage_from_callable",
    "lineage_kind",
    "parse_graph_spec",
    "parse_lineage_spec",
    "path_lineage",
]

#: The forms of a graph specification accepted by :func:`parse_graph_spec`.
GRAPH_SPEC_FORMS = ("path:N", "cycle:N", "grid:AxB[xC...][:periodic]", "PATH-TO-EDGE-LIST")


@dataclass(frozen=True)
class LineageKind:
    """One lineage family of the registry :data:`LINEAGE_KINDS`.

    Attributes
    ----------
    name : {"path", "cycle", "grid", "grid:periodic"}
        Registry key; also the head of its SPEC strings.
    periodic : bool
        Whether the factors are cycles (else paths).
    one_dimensional : bool
        Paths and cycles have one axis; grids any number.
    """

    name: str
    periodic: bool
    one_dimensional: bool

    def _sizes(self, shape: int | Sequence[int]) -> tuple:
        if isinstance(shape, bool) or not (isinstance(shape, Sequence) or hasattr(shape, "__index__")):
            raise TypeError(f"a {self.name} shape must be an int or a sequence of ints; got {type(shape).__name__} {shape!r}")
        sizes = tuple(shape) if isinstance(shape, Sequence) else (shape,)
        if not sizes:
            raise ValueError(f"a {self.name} shape must have at least one dimension; got shape ()")
        if self.one_dimensional and len(sizes) != 1:
            raise ValueError(f"a {self.name} has one dimension; got shape {sizes} (use 'grid' for several)")
        return sizes

    def shape(self, shape: int | Sequence[int]) -> tuple[int, ...]:
        """Validate a shape of this kind: ``(n,)`` for paths and cycles (an int is accepted), ``(n_1, ..., n_d)`` for grids."""
        return tuple(check_positive_int(f"size along axis {axis}", side) for axis, side in enumerate(self._sizes(shape)))

    def graph(self, shape: int | Sequence[int]) -> nx.Graph:
        """The networkx graph of ``shape`` (canonical Kronecker vertex order)."""
        sizes = self._sizes(shape)  # the builders check the side lengths
        if self.one_dimensional:
            return (cycle_graph if self.periodic else path_graph)(sizes[0])
        return grid_graph(sizes, periodic=self.periodic)

    def factor_graph(self, size: int) -> nx.Graph:
        """The graph of one axis: a cycle when periodic, else a path."""
        return (cycle_graph if self.periodic else path_graph)(size)

    def spec(self, shape: int | Sequence[int]) -> str:
        """The SPEC string of ``shape``, e.g. ``"path:8"``, ``"grid:3x4:periodic"`` (inverse of :func:`parse_lineage_spec`)."""
        sizes = self.shape(shape)
        if self.one_dimensional:
            return f"{self.name}:{sizes[0]}"
        return "grid:" + "x".join(map(str, sizes)) + (":periodic" if self.periodic else "")

    def double(self, shape: int | Sequence[int], *, factor: int = 2) -> tuple[int, ...]:
        """The recipes' size rule: every side times ``factor`` (``n -> 2n``)."""
        return tuple(factor * side for side in self.shape(shape))

    def halve(self, shape: int | Sequence[int]) -> tuple[int, ...]:
        """The next coarser shape: the longest side halved, the last one on ties (``32x32 -> 32x16 -> 16x16``).

        ``ValueError`` when that side is odd or 1.
        """
        sizes = self.shape(shape)
        axis = max(range(len(sizes)), key=lambda a: (sizes[a], a))
        if sizes[axis] % 2 or sizes[axis] < 2:
            raise ValueError(
                f"cannot halve the {self.name} shape {sizes}: its longest side {sizes[axis]} must be even and >= 2"
            )
        return sizes[:axis] + (sizes[axis] // 2,) + sizes[axis + 1 :]

    def coarsen(self, shape: int | Sequence[int], *, levels: int) -> list[tuple[int, ...]]:
        """``[shape, halve(shape), ...]``: ``levels + 1`` shapes by :meth:`halve`.

        Examples
        --------
        >>> lineage_kind("grid").coarsen((32, 32), levels=3)
        [(32, 32), (32, 16), (16, 16), (16, 8)]
        """
        levels = check_positive_int("levels", levels, minimum=0)
        shapes = [self.shape(shape)]
        for level in range(levels):
            try:
                shapes.append(self.halve(shapes[-1]))
            except ValueError as error:
                raise ValueError(f"shape {shapes[0]} cannot be coarsened {levels} times: at level {level + 1}, {error}") from None
        return shapes

    def unit_shape(self, width: int) -> tuple[int, ...]:
        """The shape of ``width`` units: ``(width,)`` in 1-D; for grids ``r x r`` if ``width = r^2``, ``2r x r`` if ``width = 2 r^2``.

        Examples
        --------
        >>> lineage_kind("grid").unit_shape(256), lineage_kind("grid").unit_shape(128)
        ((16, 16), (16, 8))
        """
        width = check_positive_int("width", width)
        if self.one_dimensional:
            return (width,)
        for factor in (1, 2):
            side = math.isqrt(width // factor)
            if width % factor == 0 and factor * side * side == width:
                return (factor * side, side)
        raise ValueError(f"a {self.name} of width units needs r^2 or 2 r^2 units to be laid out as r x r or 2r x r; got width {width}")


#: The lineage kinds, by name.
LINEAGE_KINDS: dict[str, LineageKind] = {
    kind.name: kind
    for kind in (
        LineageKind("path", periodic=False, one_dimensional=True),
        LineageKind("cycle", periodic=True, one_dimensional=True),
        LineageKind("grid", periodic=False, one_dimensional=False),
        LineageKind("grid:periodic", periodic=True, one_dimensional=False),
    )
}


def lineage_kind(name: str | LineageKind) -> LineageKind:
    """Return the registered :class:`LineageKind` ``name``; an unknown name raises ``ValueError`` listing the valid ones."""
    if isinstance(name, LineageKind):
        return name
    return LINEAGE_KINDS[check_choice("lineage", name, LINEAGE_KINDS)]


def parse_lineage_spec(spec: str) -> tuple[LineageKind, tuple[int, ...]] | None:
    """Read a lineage SPEC string: ``(kind, shape)``, or None for text that is no lineage spec (a file name).

    ``ValueError`` for a malformed ``path:``, ``cycle:`` or ``grid:`` spec.

    Examples
    --------
    >>> kind, shape = parse_lineage_spec("grid:3x4:periodic")
    >>> kind.name, shape, kind.spec(shape)
    ('grid:periodic', (3, 4), 'grid:3x4:periodic')
    >>> parse_lineage_spec("edges.txt") is None
    True
    """
    if not isinstance(spec, str):
        raise TypeError(f"a graph spec must be a string; got {type(spec).__name__}")
    head, _, rest = spec.strip().partition(":")
    if head in ("path", "cycle"):
        if not re.fullmatch(r"\d+", rest):
            raise ValueError(f"graph spec {spec!r}: {head} needs a positive integer size, as in '{head}:32'")
        return LINEAGE_KINDS[head], (int(rest),)
    if head == "grid":
        sizes, _, flag = rest.partition(":")
        if not re.fullmatch(r"\d+(x\d+)*", sizes) or flag not in ("", "periodic"):
            raise ValueError(f"graph spec {spec!r}: grid must look like 'grid:16x16' or 'grid:16x16:periodic'")
        return LINEAGE_KINDS["grid:periodic" if flag else "grid"], tuple(int(size) for size in sizes.split("x"))
    return None


def parse_graph_spec(spec: str) -> nx.Graph:
    """Build a graph from a textual specification.

    Parameters
    ----------
    spec : str
        ``path:N``, ``cycle:N``, ``grid:AxB`` (any number of ``x``-separated
        sizes) optionally followed by ``:periodic`` (see :func:`parse_lineage_spec`),
        or the path of an edge-list file with lines ``u v`` or ``u v weight``
        (``#`` comments).

    Examples
    --------
    >>> parse_graph_spec("grid:3x4:periodic").number_of_nodes()
    12
    """
    lineage = parse_lineage_spec(spec)
    if lineage is not None:
        kind, shape = lineage
        return kind.graph(shape)
    path = Path(spec.strip())
    if path.is_file():
        return read_edge_list(path)
    raise ValueError(
        f"unknown graph spec {spec!r}: not an existing file, and valid forms are: {', '.join(GRAPH_SPEC_FORMS)}"
    )


# ---------------------------------------------------------------------------
# Level sequences


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
