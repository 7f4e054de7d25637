"""Option tables: recipe tables declared as frozen dataclasses, validated at the boundary.

Each key of a table is a dataclass field with a type (its annotation), a
default and, in its metadata, a :class:`Rule` and a help line
(:func:`option`).  :func:`parse_table` builds a table from plain data:
unknown keys, wrong types and broken rules are ``ValueError`` messages that
name the table, the key, the rule and the value, e.g.
``[train] lr must be a positive finite number; got -1``.  A table may add a
``check()`` method for rules across its keys.  Choices come from the
registries themselves (:func:`one_of` takes the registry), so a list of
valid names is written once.

Types: ``bool`` is never an ``int``; an ``int`` is accepted (and converted)
where a ``float`` is; a list is accepted where a ``tuple`` is.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections import abc
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["Rule", "at_least", "check_rule", "check_type", "fingerprint_values", "in_interval", "one_of", "option", "parse_table",
           "positive", "table_fields", "to_plain"]


@dataclasses.dataclass(frozen=True)
class Rule:
    """A rule on a value: ``text`` completes "must be ..."; ``check(value)`` tells whether it holds."""

    text: str
    check: Callable[[Any], bool] | None = None


def option(default: Any, rule: Rule | str, help: str = "", *, added: bool = False) -> Any:
    """A table key: a dataclass field with ``default``, a :class:`Rule` (or just its text) and a help line.

    ``added``: a key added after runs were checkpointed; at its default it is
    left out of a run's fingerprint (:func:`fingerprint_values`), so that
    those checkpoints still resume.
    """
    rule = Rule(rule) if isinstance(rule, str) else rule
    return dataclasses.field(default=default, metadata={"rule": rule, "help": help, "added": added})


def fingerprint_values(table: Any) -> Any:
    """``to_plain(table)`` without its ``added`` keys that hold their default (see :func:`option`)."""
    if not (dataclasses.is_dataclass(table) and not isinstance(table, type)):
        return to_plain(table)
    return {field.name: to_plain(getattr(table, field.name)) for field in dataclasses.fields(table)
            if not (field.metadata.get("added") and getattr(table, field.name) == field.default)}


def positive() -> Rule:
    """A positive finite number."""
    return Rule("a positive finite number", lambda value: math.isfinite(value) and value > 0)


def at_least(minimum: float, *, integer: bool = False) -> Rule:
    """A finite number (or an integer) ``>= minimum``."""
    kind = "an integer" if integer else "a finite number"
    return Rule(f"{kind} >= {minimum:g}", lambda value: math.isfinite(value) and value >= minimum)


def in_interval(low: float, high: float, *, closed: bool = False) -> Rule:
    """A number in ``[low, high)`` (``[low, high]`` when ``closed``)."""
    if closed:
        return Rule(f"a number in [{low:g}, {high:g}]", lambda value: math.isfinite(value) and low <= value <= high)
    return Rule(f"a number in [{low:g}, {high:g})", lambda value: math.isfinite(value) and low <= value < high)


def one_of(choices: Iterable[str], *, optional: bool = False) -> Rule:
    """One of the names of a registry (``choices`` is the registry itself, read once); ``optional``: or None (key left out)."""
    names = tuple(sorted(choices))
    text = "one of " + ", ".join(repr(name) for name in names)
    if optional:
        return Rule(text, lambda value: value is None or value in names)
    return Rule(text, lambda value: value in names)


def check_rule(name: str, value: Any, rule: Rule) -> Any:
    """``value`` if it is a real number that keeps ``rule``, else ``ValueError`` naming ``name``, the rule and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not rule.check(value):
        raise ValueError(f"{name} must be {rule.text}; got {name} = {value!r}")
    return value


def table_fields(cls: type) -> dict[str, dataclasses.Field]:
    """The keys of a table class, in declaration order."""
    return {field.name: field for field in dataclasses.fields(cls)}


def _accepts(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits an annotation (see the module docstring; unknown annotations accept)."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint) or hint
    if origin is typing.Union or origin is types.UnionType:
        return any(_accepts(value, member) for member in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is bool or isinstance(value, bool):
        return origin is bool and isinstance(value, bool)
    simple = {int: (int,), float: (int, float), str: (str,), os.PathLike: (str, os.PathLike), dict: (Mapping,),
              abc.Mapping: (Mapping,)}
    if origin in simple:
        return isinstance(value, simple[origin])
    if origin in (tuple, list, abc.Sequence):
        members = [member for member in typing.get_args(hint) if member is not Ellipsis][:1]
        return isinstance(value, (list, tuple)) and all(_accepts(item, member) for item in value for member in members)
    return isinstance(value, origin) if isinstance(origin, type) else True


def check_type(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the annotation ``hint`` (public for the ``[data]`` options of the loaders)."""
    return _accepts(value, hint)


def _convert(value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint) or hint
    if origin is float and isinstance(value, int):
        return float(value)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    return value


def parse_table(cls: type, values: Mapping[str, Any], *, table: str, check: bool = True) -> Any:
    """A validated table ``cls`` from ``values`` (given keys; the rest take their defaults).

    ``check=False`` skips the table's cross-key ``check()`` (for a partial table).

    Raises
    ------
    ValueError
        ``unknown key [table] name (valid keys: ...)``, or ``[table] key must
        be <rule>; got <value>``, or the table's own ``check()`` message
        prefixed with ``[table]``.
    """
    fields = table_fields(cls)
    hints = typing.get_type_hints(cls)
    converted = {}
    for key, value in values.items():
        if key not in fields:
            raise ValueError(f"unknown key [{table}] {key} (valid keys: {', '.join(sorted(fields))})")
        rule = fields[key].metadata["rule"]
        if not _accepts(value, hints[key]):
            raise ValueError(f"[{table}] {key} must be {rule.text}; got {type(value).__name__} {value!r}")
        converted[key] = _convert(value, hints[key])
        if rule.check is not None and not rule.check(converted[key]):
            raise ValueError(f"[{table}] {key} must be {rule.text}; got {value!r}")
    instance = cls(**converted)
    if check and hasattr(instance, "check"):
        try:
            instance.check()
        except ValueError as error:
            raise ValueError(f"[{table}] {error}") from None
    return instance


def to_plain(value: Any) -> Any:
    """Tables and tuples as plain JSON-ready data (dicts and lists), recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    return value
