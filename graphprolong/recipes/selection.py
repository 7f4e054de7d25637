"""Which registered recipes give the optimum of a problem (used by :func:`graphprolong.get_prolongation`)."""

from __future__ import annotations

import math

import networkx as nx

from ..matrices import GraphMatrices, graph_matrices
from ..problem import ProlongationProblem
from .registry import RECIPES, Recipe, _graph_shape, get_recipe, recipe_shapes

__all__ = ["matching_recipes", "resolve_recipe"]

# Order in which several recipes matching one request are preferred (name suffixes):
# the local interpolation-like maps, then the spectral form U2 M U1^T, then the rest.
_RECIPE_PREFERENCE = ("-interpolation", "-spectral")


def _scale_conflict(recipe: Recipe, shapes, *, s: float, alpha: float | None, beta: float | None) -> str | None:
    """Why the caller's fixed scale factors rule the recipe out (None: they do not).

    Only active terms count.  A scale left as None is the recipe's own; a fixed
    one must equal the recipe's fixed value (a recipe that optimises a scale is
    the minimiser at the optimal one only).
    """
    own = dict(zip(("alpha", "beta"), recipe.scales(*shapes)))
    for name, weight, requested in (("alpha", 1.0 - s, alpha), ("beta", s, beta)):
        if weight == 0.0 or requested is None:
            continue
        if own[name] is None:
            return f"it optimises {name}, but {name} = {requested!r} was fixed"
        if not math.isclose(requested, own[name], rel_tol=1e-12):
            return f"it fixes {name} = {own[name]!r}, but {name} = {requested!r} was requested"
    return None


def _preference(recipe: Recipe) -> int:
    return next((rank for rank, suffix in enumerate(_RECIPE_PREFERENCE) if recipe.name.endswith(suffix)), len(_RECIPE_PREFERENCE))


def _lineage_matches(G_small, G_large) -> list[tuple[Recipe, tuple]]:
    """Every registered recipe whose lineage and size rule fit the graphs, with its shapes."""
    shapes_by_lineage: dict[str, tuple | None] = {}
    matches = []
    for recipe in RECIPES.values():
        if recipe.lineage not in shapes_by_lineage:  # the graph test depends on the lineage only
            try:
                shapes_by_lineage[recipe.lineage] = tuple(
                    _graph_shape(role, graph, recipe) for role, graph in (("G_small", G_small), ("G_large", G_large))
                )
            except (ValueError, TypeError, AttributeError):  # not graphs of this lineage
                shapes_by_lineage[recipe.lineage] = None
        shapes = shapes_by_lineage[recipe.lineage]
        try:
            if shapes is not None and recipe.large_shape(shapes[0]) == shapes[1]:
                matches.append((recipe, shapes))
        except ValueError:  # below the recipe's smallest size
            continue
    return matches


def matching_recipes(
    G_small: nx.Graph | GraphMatrices,
    G_large: nx.Graph | GraphMatrices,
    *,
    s: float,
    alpha: float | None = None,
    beta: float | None = None,
) -> list[Recipe]:
    """Registered recipes that give the optimum of this problem, most preferred first.

    A recipe matches when both graphs belong to its lineage (the adjacency of
    the canonical path, cycle or grid of that shape, not only the vertex
    count), the sizes follow its size rule, its ``s`` equals ``s``, and every
    scale factor the caller fixed (not None) on an active term equals the one
    the recipe targets.  Preferred first: ``*-interpolation``, then
    ``*-spectral``, then the others, each in registry order.

    Examples
    --------
    >>> from graphprolong import path_graph
    >>> [recipe.name for recipe in matching_recipes(path_graph(4), path_graph(8), s=0.0)]
    ['path-spectral', 'path-fold']
    """
    found = [
        recipe
        for recipe, shapes in _lineage_matches(G_small, G_large)
        if recipe.s == s and _scale_conflict(recipe, shapes, s=s, alpha=alpha, beta=beta) is None
    ]
    return sorted(found, key=_preference)  # stable: registry order within a rank


def _describe(recipe: Recipe) -> str:
    return f"{recipe.name} ({recipe.lineage}, {recipe.size_rule}, s = {recipe.s:g})"


def _no_recipe_error(G_small, G_large, *, s: float, alpha, beta) -> ValueError:
    fitting = _lineage_matches(G_small, G_large)
    if not fitting:
        listed = "; ".join(_describe(recipe) for recipe in RECIPES.values())
        return ValueError(
            f"no registered recipe fits these graphs ({graph_matrices(G_small).n} -> {graph_matrices(G_large).n} "
            f"vertices): they must be a canonical path, cycle or grid (a networkx graph as graphprolong builds it, "
            f"or graphprolong.structured_matrices) and its doubling; registered recipes: {listed}"
        )
    reasons = []
    for recipe, shapes in fitting:
        if recipe.s != s:
            reasons.append(f"{_describe(recipe)}: targets s = {recipe.s:g}")
        else:
            reasons.append(f"{_describe(recipe)}: {_scale_conflict(recipe, shapes, s=s, alpha=alpha, beta=beta)}")
    return ValueError(f"no registered recipe gives the optimum at s = {s:g} for these graphs; candidates: " + "; ".join(reasons))


def resolve_recipe(problem: ProlongationProblem, name: str | None, *, alpha, beta) -> tuple[Recipe, tuple]:
    """The recipe ``name`` (checked against the problem), or the preferred matching one."""
    if name is None:
        found = matching_recipes(problem.small, problem.large, s=problem.s, alpha=alpha, beta=beta)
        if not found:
            raise _no_recipe_error(problem.small, problem.large, s=problem.s, alpha=alpha, beta=beta)
        recipe = found[0]
        return recipe, recipe_shapes(recipe, problem.small, problem.large)
    recipe = get_recipe(name)
    shapes = recipe_shapes(recipe, problem.small, problem.large)
    if recipe.s != problem.s:
        raise ValueError(f"recipe {recipe.name!r} is the optimum at s = {recipe.s:g}; got s = {problem.s:g}")
    conflict = _scale_conflict(recipe, shapes, s=problem.s, alpha=alpha, beta=beta)
    if conflict is not None:
        raise ValueError(f"recipe {recipe.name!r} does not fit the requested scale factors: {conflict}")
    return recipe, shapes
