"""``[data]``: a data set's name and its loader's keyword-only options, validated against the loader's signature."""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import Callable, Mapping
from typing import Any

from ..data import DATASETS
from ..options import check_type

__all__ = ["resolve_data"]

#: Seed-like loader options; the data seed is ``[train] seed``.
SEED_OPTIONS = ("seed", "rng")


def _loader_options(loader: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], bool]:
    """Keyword-only options of a loader (``seed``/``rng`` excluded), and whether it takes ``**kwargs``."""
    try:
        signature = inspect.signature(loader, eval_str=True)
    except (NameError, TypeError, SyntaxError):  # unresolvable annotations: fall back to the defaults' types
        signature = inspect.signature(loader)
    parameters = signature.parameters.values()
    options = {p.name: p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in SEED_OPTIONS}
    return options, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _describe_hint(hint: Any) -> str:
    """``int``, ``tuple[float, float]``, ``int | None``: a generic's arguments are part of the rule."""
    name = None if typing.get_args(hint) else getattr(hint, "__name__", None)
    return name or str(hint).replace("typing.", "").replace("collections.abc.", "")


def _fits_default(value: Any, default: Any) -> bool:
    if default is None or default is inspect.Parameter.empty:
        return True
    if isinstance(default, (os.PathLike, list, tuple)):
        return check_type(value, os.PathLike if isinstance(default, os.PathLike) else list)
    return check_type(value, type(default))


def _checked_option(name: str, option: str, value: Any, parameter: inspect.Parameter, where: str) -> Any:
    default, hint = parameter.default, parameter.annotation
    annotated = hint is not inspect.Parameter.empty and not isinstance(hint, str)
    if annotated and not check_type(value, hint):
        raise ValueError(f"{where}[data] {option} must be of type {_describe_hint(hint)} for dataset {name!r}; "
                         f"got {type(value).__name__} {value!r}")
    # The default's type stands in for a missing annotation only: an annotation may admit more
    # (signals' notes: int | tuple[int, int], default (1, 4), so notes = 3 is fine).
    if not annotated and not _fits_default(value, default):
        raise ValueError(f"{where}[data] {option} must be of the type of its default {default!r} "
                         f"({type(default).__name__}) for dataset {name!r}; got {type(value).__name__} {value!r}")
    return float(value) if isinstance(default, float) and isinstance(value, int) else value


def resolve_data(values: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Validate ``[data]`` against the data set registry; fill in the loader's defaults."""
    valid = ", ".join(sorted(DATASETS))
    if "name" not in values:
        raise ValueError(f"{where}[data] name is required (valid datasets: {valid})")
    name = values["name"]
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"{where}[data] name must be one of the datasets {valid}; got {name!r}")
    options, open_ended = _loader_options(DATASETS[name])
    resolved: dict[str, Any] = {"name": name}
    resolved.update({o: p.default for o, p in options.items() if p.default is not inspect.Parameter.empty})
    for option, value in values.items():
        if option == "name":
            continue
        if option in SEED_OPTIONS:
            raise ValueError(f"{where}[data] {option} is not a dataset option: the data seed is [train] seed")
        if option in options:
            resolved[option] = _checked_option(name, option, value, options[option], where)
        elif open_ended:
            resolved[option] = value
        else:
            raise ValueError(f"{where}unknown key [data] {option} for dataset {name!r} "
                             f"(valid keys: name, {', '.join(sorted(options)) or 'none'})")
    missing = [option for option in options if option not in resolved]
    if missing:
        raise ValueError(f"{where}[data] {missing[0]} is required by dataset {name!r} (required options: {', '.join(missing)})")
    return resolved
