"""Runs: one fully resolved, validated run of a recipe (:class:`RunConfig`), and reading one from plain data."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..data import ADDED_OPTIONS
from ..methods import METHODS, method_spec
from ..options import fingerprint_values, parse_table, to_plain
from .data_options import resolve_data
from .tables import CORE_TABLES, TABLES

__all__ = ["ConfigError", "ExperimentConfig", "RunConfig", "all_tables", "check_mapping", "check_method", "check_run_keys",
           "build_run", "parse_override", "parse_run", "parse_value", "table_class"]

RUN_KEYS = ("label", "method")


class ConfigError(ValueError):
    """A recipe problem; the message starts with the recipe's file name (or ``"<string>"``) and names the key."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        self.detail = message
        super().__init__(f"{source}: {message}")

    def __reduce__(self):
        return (type(self), (self.source, self.detail))


def table_class(name: str, method: str | None = None) -> type | None:
    """The option table class of a core or a method's table (``method``'s own when it declares one), or None."""
    if name in TABLES:
        return TABLES[name]
    if method is not None and name in METHODS[method].tables:
        return METHODS[method].tables[name]
    return next((spec.tables[name] for spec in METHODS.values() if name in spec.tables), None)


def all_tables() -> list[str]:
    return sorted(set(CORE_TABLES) | {name for spec in METHODS.values() for name in spec.tables})


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    return os.fspath(value) if isinstance(value, os.PathLike) else value


@dataclass(frozen=True)
class RunConfig:
    """One fully resolved, validated run of a recipe.

    Attributes
    ----------
    label : str
        The run's label in tables, plots and ``summary.json``.
    method : str
        A key of :data:`msann.methods.METHODS`.
    data : mapping
        ``name`` and every keyword option of the data set's loader (read-only).
    model, hierarchy, train : ModelTable, HierarchyTable, TrainTable
        The core tables (:mod:`msann.config.tables`).
    extra : mapping of str to table
        The method's own tables (e.g. ``extra["fas"]``).
    source_name : str
        The recipe's file name, for error messages (not compared, not in :meth:`to_dict`).
    """

    label: str
    method: str
    data: Mapping[str, Any]
    model: Any
    hierarchy: Any
    train: Any
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source_name: str = field(default="<string>", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _freeze(self.data))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    @property
    def data_options(self) -> dict[str, Any]:
        """The keyword options for ``load_dataset(data["name"], seed=..., **options)``."""
        return {key: to_plain(value) for key, value in self.data.items() if key != "name"}

    def tables(self) -> dict[str, Any]:
        """All of the run's tables by name: the core ones, then the method's."""
        return {"data": self.data, "model": self.model, "hierarchy": self.hierarchy, "train": self.train, **self.extra}

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"label", "method", "data", "model", "hierarchy", "train", <extra tables>}``; :func:`parse_run` inverts it."""
        return {"label": self.label, "method": self.method, **to_plain(self.tables())}

    def fingerprint_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without the keys added since runs were checkpointed that hold their default (:func:`~msann.options.option`)."""
        added = ADDED_OPTIONS.get(self.data["name"], {})
        data = {key: value for key, value in self.data_options.items() if not (key in added and value == added[key])}
        return {"label": self.label, "method": self.method, "data": {"name": self.data["name"], **data},
                **{name: fingerprint_values(table) for name, table in self.tables().items() if name != "data"}}

    def get(self, key: str) -> Any:
        """Dotted access: ``get("train.lr")``, ``get("fas.tau_batches")``, ``get("label")``."""
        if key in RUN_KEYS:
            return getattr(self, key)
        table, _, name = key.partition(".")
        tables = self.to_dict()
        if table not in tables or table in RUN_KEYS or not name:
            valid = ", ".join([*RUN_KEYS, *(f"{table}.<key>" for table in self.tables())])
            raise KeyError(f"{key!r} is not a key of run {self.label!r} (valid: {valid})")
        if name not in tables[table]:
            raise KeyError(f"{key!r} is not a key of run {self.label!r} (valid keys of [{table}]: {', '.join(sorted(tables[table]))})")
        return tables[table][name]

    def replace(self, **changes: Any) -> RunConfig:
        """A new validated run with dotted keys changed: ``replace(**{"train.lr": 1e-3})``.

        Changing ``data.name`` drops the old data set's options (those not also
        changed) so that the new loader's defaults apply.
        """
        values = self.to_dict()
        if not method_spec(self.method).uses_model:  # its [model] is the unused default, which parse_run refuses
            values.pop("model")
        if "data.name" in changes and changes["data.name"] != self.data["name"]:
            values["data"] = {"name": self.data["name"]}
        for key, value in changes.items():
            _set_dotted(values, key, value, source=self.source_name)
        return parse_run(values, source_name=self.source_name)

    def with_overrides(self, overrides: Sequence[str]) -> RunConfig:
        """A new validated run with ``"table.key=value"`` overrides (see :func:`parse_override`)."""
        changes = dict(parse_override(text, source_name=self.source_name) for text in overrides)
        return self.replace(**changes)


@dataclass(frozen=True)
class ExperimentConfig:
    """A loaded recipe: its runs, fully resolved (``source``: the table tree as read, overrides applied).

    ``seeds`` is the recipe's ``seeds = [...]`` (every run repeated once per
    seed, :mod:`msann.config.seeds`); empty when the recipe has none.
    """

    name: str
    description: str
    path: Path | None
    runs: tuple[RunConfig, ...]
    source: dict[str, Any]
    seeds: tuple[int, ...] = ()

    @property
    def labels(self) -> list[str]:
        """The runs' labels, in order."""
        return [run.label for run in self.runs]


def _set_dotted(values: dict[str, Any], key: str, value: Any, *, source: str) -> None:
    if key in RUN_KEYS:
        values[key] = value
        return
    table, _, name = key.partition(".")
    if not table or not name or "." in name:
        raise ConfigError(source, f"key {key!r} must be 'table.key' (tables: {', '.join(all_tables())}) or one of {', '.join(RUN_KEYS)}")
    target = values.setdefault(table, {})
    if not isinstance(target, dict):
        raise ConfigError(source, f"[{table}] must be a table; got {type(target).__name__} {target!r}")
    target[name] = value


def check_mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a table; got {type(value).__name__} {value!r}")
    return value


def check_method(method: Any, *, where: str) -> str:
    try:
        spec = method_spec(method)
    except ValueError as error:
        raise ValueError(f"{where}{error}") from None
    shadowed = [table for table in spec.tables if table in CORE_TABLES]
    if shadowed:  # table_class would silently give the core table instead
        raise ValueError(f"{where}method {method!r} declares the table [{shadowed[0]}], which is a core table "
                         f"(core tables: {', '.join(CORE_TABLES)}); give its table another name")
    return method


def check_run_keys(values: Mapping[str, Any], *, where: str) -> None:
    valid = [*RUN_KEYS, *all_tables()]
    for key in values:
        if key not in valid:
            shown, kind = (f"[{key}]", "table") if isinstance(values[key], Mapping) else (key, "key")
            raise ValueError(f"{where}unknown {kind} {shown} (valid: {', '.join(valid)})")


def _resolve_table(table: str, values: Mapping[str, Any], *, where: str, method: str) -> Any:
    try:
        return parse_table(table_class(table, method), values, table=table)
    except ValueError as error:
        raise ValueError(f"{where}{error}") from None


def _run_tables(values: Mapping[str, Any], method_name: str, *, where: str) -> dict[str, Any]:
    spec = method_spec(method_name)
    tables = {}
    for table in all_tables():
        given = check_mapping(values.get(table, {}), f"{where}[{table}]")
        if table == "data":
            tables[table] = resolve_data(given, where=where)
        elif table == "model" and not spec.uses_model and table in values:
            used = [name for name in (*CORE_TABLES, *spec.tables) if name != "model"]
            raise ValueError(f"{where}table [model] is not used by method {method_name!r} (it builds its own network; "
                             f"its tables: {', '.join(used)})")
        elif table in CORE_TABLES or table in spec.tables:
            tables[table] = _resolve_table(table, given, where=where, method=method_name)
        elif table in values:
            raise ValueError(f"{where}table [{table}] is not used by method {method_name!r} "
                             f"(its extra tables: {', '.join(spec.tables) or 'none'})")
    return tables


def build_run(values: Mapping[str, Any], *, source: str, where: str) -> RunConfig:
    check_run_keys(values, where=where)
    label = values.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"{where}label must be a non-empty string; got {label!r}")
    method_name = check_method(values.get("method", "msann"), where=where)
    tables = _run_tables(values, method_name, where=where)
    spec = method_spec(method_name)
    run = RunConfig(label=label, method=method_name, data=tables["data"], model=tables["model"],
                    hierarchy=tables["hierarchy"], train=tables["train"],
                    extra={table: tables[table] for table in spec.tables}, source_name=source)
    if spec.check is not None:
        try:
            spec.check(run)
        except ValueError as error:
            raise ValueError(f"{where}{error}") from None
    return run


def parse_run(data: Mapping[str, Any], *, source_name: str = "<string>") -> RunConfig:
    """Validate one run given as plain data (e.g. :meth:`RunConfig.to_dict`) and resolve defaults.

    Raises
    ------
    ConfigError
        Naming the key and ``source_name``.
    """
    try:
        return build_run(check_mapping(data, "a run"), source=source_name, where="")
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(source_name, str(error)) from None


def parse_value(text: str) -> Any:
    """Read an override value as TOML (``1e-3``, ``[64, 16, 64]``, ``true``), else as the string itself."""
    if "\n" in text or "\r" in text:
        return text
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def parse_override(text: str, *, source_name: str = "<string>") -> tuple[str, Any]:
    """Split ``"table.key=value"`` into ``("table.key", parsed value)``.

    Examples
    --------
    >>> parse_override("train.lr=1e-3")
    ('train.lr', 0.001)
    >>> parse_override("hierarchy.strategy=grid")
    ('hierarchy.strategy', 'grid')
    """
    key, separator, value = text.partition("=")
    key = key.strip()
    valid = f"'table.key=value' (tables: {', '.join(all_tables())}) or one of name, description, method, seeds"
    if not separator or not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?", key):
        raise ConfigError(source_name, f"--set {text!r} must be {valid}")
    if "." not in key and key not in ("name", "description", "method", "seeds"):
        raise ConfigError(source_name, f"--set {text!r}: {key!r} is not a top-level key; use {valid}")
    return key, parse_value(value.strip())
