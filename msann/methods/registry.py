"""The one registry of training methods: ``method = "name"`` in a recipe."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["METHODS", "MethodSpec", "method_spec", "register_method"]


@dataclass(frozen=True)
class MethodSpec:
    """A training method as recipes see it.

    Attributes
    ----------
    build : callable
        ``build(run, dataset, device) -> MultilevelMethod`` for a resolved
        :class:`msann.config.RunConfig` and its loaded data.
    tables : mapping of str to type
        The method's own recipe tables (e.g. ``{"fas": FasTable}``): option
        table classes of :mod:`msann.options`.
    uses_model : bool
        Whether the method builds its network from ``[model]`` (the MLP
        widths) coarsened with ``[hierarchy] strategy``.  A method that brings
        its own network (FAS) sets False: a ``[model]`` table in its recipe is
        then an error, and the width checks are not applied.
    check : callable, optional
        ``check(run)`` at load time, across tables; raises ``ValueError``
        naming the keys as ``[table] key``.
    check_data : callable, optional
        ``check_data(run, *, dimension, unit_shape, target_shape)`` once the data is
        loaded, before any run trains; raises ``ValueError`` like ``check``.
    """

    build: Callable
    tables: Mapping[str, type] = field(default_factory=dict)
    uses_model: bool = True
    check: Callable | None = None
    check_data: Callable | None = None


#: Training methods by name.
METHODS: dict[str, MethodSpec] = {}


def register_method(name: str, spec: MethodSpec, *, replace: bool = False) -> None:
    """Add a training method under ``name`` (``replace`` to overwrite one registered before)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a method name must be a non-empty string; got {name!r}")
    if name in METHODS and not replace:
        raise ValueError(f"method {name!r} is already registered; pass replace=True to replace it")
    METHODS[name] = spec


def method_spec(name: str) -> MethodSpec:
    """The registered method ``name``; ``ValueError`` listing the valid names otherwise."""
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(f"method must be one of {', '.join(sorted(METHODS))}; got {name!r}")
    return METHODS[name]
