"""Checks of a run against its loaded data, before any run trains."""

from __future__ import annotations

import math

from ..methods import method_spec
from .run import ConfigError, RunConfig

__all__ = ["check_sizes"]


def check_sizes(run: RunConfig, *, dimension: int, unit_shape: tuple[int, ...],
                target_shape: tuple[int, ...] | None = None) -> None:
    """Check a run against its loaded data: the unit shape, then the method's own ``check_data``.

    Parameters
    ----------
    run : RunConfig
    dimension : int
        Number of features of one sample.
    unit_shape : tuple of int
        Shape of the input layer's units (``(1024,)``, ``(28, 28)``); its
        product must be ``dimension``.
    target_shape : tuple of int, optional
        Shape of the targets' units when they are not the inputs' (regression).

    Raises
    ------
    ConfigError
        Naming the recipe file, the keys and the sizes.
    """
    source = run.source_name
    unit_shape = tuple(int(size) for size in unit_shape)
    if math.prod(unit_shape) != dimension:
        raise ConfigError(source, f"[data] name {run.data['name']!r}: unit shape {unit_shape} has {math.prod(unit_shape)} "
                                  f"units but the data dimension is {dimension}")
    hook = method_spec(run.method).check_data
    if hook is not None:
        try:
            hook(run, dimension=dimension, unit_shape=unit_shape, target_shape=target_shape)
        except ValueError as error:
            raise ConfigError(source, f"{error} (run {run.label!r})") from None
