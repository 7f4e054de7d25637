"""Experiment recipes: TOML files for ``msann run`` and ``msann sweep``.

A recipe names the data, the network, the hierarchy and the training
settings of one or more compared runs.  :func:`load_config` reads it, fills in
the defaults, applies ``--set`` overrides and validates every key *before any
training starts*; every problem is a :class:`ConfigError` whose message starts
with the file name and names the full key, e.g.::

    recipes/x.toml: [train] lr must be a positive finite number; got -1
    recipes/x.toml: unknown key [train] lrr (valid keys: batch_size, ...)
    recipes/x.toml: [runs][2] label 'default' is used twice

Format (every table and key is optional except ``[data] name``)::

    name = "one_object"          # default: the file stem
    description = "..."
    method = "msann"             # a key of msann.methods.METHODS

    [data]                       # msann.data.load_dataset(name, seed=[train] seed, **options)
    name = "one_object"          # a key of msann.data.DATASETS
    length = 1024                # any keyword-only option of that loader

    [model]                      # msann.config.tables.ModelTable
    widths = [1024, 256, 128, 256, 1024]

    [hierarchy]                  # msann.config.tables.HierarchyTable
    levels = 4

    [train]                      # msann.config.tables.TrainTable
    lr = 5e-4

    [[runs]]                     # one entry per compared run
    label = "default"            # required when there are several entries
    hierarchy = { levels = 0 }   # any table's keys, overriding the base tables

Without ``[[runs]]`` the recipe is one run labelled with the recipe name.
``[runs][i]`` in messages counts the entries from 1.  A method's own tables
(e.g. ``[fas]``) come from its registry entry (:mod:`msann.methods`).

Precedence, lowest first: the tables' defaults (or the data loader's keyword
defaults) < the base tables < a ``[[runs]]`` entry's tables < the ``--set
table.key=value`` overrides.  An override is written into the base table
*and* into every run entry that sets the same key, so it wins everywhere.
Its value is read as TOML (``train.lr=1e-3``, ``model.widths=[64,16,64]``);
text that is not valid TOML is taken as a string (``hierarchy.strategy=grid``).
A run whose ``[data] name`` differs from the base's starts from its own data
table only.
"""

from __future__ import annotations

import copy
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..methods import METHODS, method_spec
from ..options import parse_table, to_plain
from .data_options import resolve_data
from .tables import CORE_TABLES, TABLES

__all__ = ["ConfigError", "ExperimentConfig", "RunConfig", "load_config", "parse_config", "parse_override", "parse_run",
           "parse_value", "table_class"]

_TOP_LEVEL_KEYS = ("name", "description", "method", "runs")
_RUN_KEYS = ("label", "method")


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


def _all_tables() -> list[str]:
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

    def get(self, key: str) -> Any:
        """Dotted access: ``get("train.lr")``, ``get("fas.tau_batches")``, ``get("label")``."""
        if key in _RUN_KEYS:
            return getattr(self, key)
        table, _, name = key.partition(".")
        tables = self.to_dict()
        if table not in tables or table in _RUN_KEYS or not name:
            valid = ", ".join([*_RUN_KEYS, *(f"{table}.<key>" for table in self.tables())])
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
    """A loaded recipe: its runs, fully resolved (``source``: the table tree as read, overrides applied)."""

    name: str
    description: str
    path: Path | None
    runs: tuple[RunConfig, ...]
    source: dict[str, Any]

    @property
    def labels(self) -> list[str]:
        """The runs' labels, in order."""
        return [run.label for run in self.runs]


def _set_dotted(values: dict[str, Any], key: str, value: Any, *, source: str) -> None:
    if key in _RUN_KEYS:
        values[key] = value
        return
    table, _, name = key.partition(".")
    if not table or not name or "." in name:
        raise ConfigError(source, f"key {key!r} must be 'table.key' (tables: {', '.join(_all_tables())}) or one of {', '.join(_RUN_KEYS)}")
    target = values.setdefault(table, {})
    if not isinstance(target, dict):
        raise ConfigError(source, f"[{table}] must be a table; got {type(target).__name__} {target!r}")
    target[name] = value


def _check_mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a table; got {type(value).__name__} {value!r}")
    return value


def _check_method(method: Any, *, where: str) -> str:
    try:
        spec = method_spec(method)
    except ValueError as error:
        raise ValueError(f"{where}{error}") from None
    shadowed = [table for table in spec.tables if table in CORE_TABLES]
    if shadowed:  # table_class would silently give the core table instead
        raise ValueError(f"{where}method {method!r} declares the table [{shadowed[0]}], which is a core table "
                         f"(core tables: {', '.join(CORE_TABLES)}); give its table another name")
    return method


def _check_run_keys(values: Mapping[str, Any], *, where: str) -> None:
    valid = [*_RUN_KEYS, *_all_tables()]
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
    for table in _all_tables():
        given = _check_mapping(values.get(table, {}), f"{where}[{table}]")
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


def _build_run(values: Mapping[str, Any], *, source: str, where: str) -> RunConfig:
    _check_run_keys(values, where=where)
    label = values.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"{where}label must be a non-empty string; got {label!r}")
    method_name = _check_method(values.get("method", "msann"), where=where)
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
        return _build_run(_check_mapping(data, "a run"), source=source_name, where="")
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
    valid = f"'table.key=value' (tables: {', '.join(_all_tables())}) or one of name, description, method"
    if not separator or not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?", key):
        raise ConfigError(source_name, f"--set {text!r} must be {valid}")
    if "." not in key and key not in ("name", "description", "method"):
        raise ConfigError(source_name, f"--set {text!r}: {key!r} is not a top-level key; use {valid}")
    return key, parse_value(value.strip())


def _apply_overrides(tree: dict[str, Any], overrides: Sequence[str], *, source: str) -> None:
    """Write overrides into the base tables and into every run entry that sets the same key."""
    if isinstance(overrides, str):
        raise TypeError(f"overrides must be a sequence of 'table.key=value' strings; got the string {overrides!r}")
    runs = tree.get("runs")
    entries = [entry for entry in runs if isinstance(entry, dict)] if isinstance(runs, list) else []
    for text in overrides:
        key, value = parse_override(text, source_name=source)
        if "." not in key:
            tree[key] = value
            for entry in entries if key == "method" else ():
                if "method" in entry:
                    entry["method"] = value
            continue
        table, name = key.split(".")
        target = tree.setdefault(table, {})
        if not isinstance(target, dict):
            raise ConfigError(source, f"--set {text!r}: [{table}] is not a table in the recipe")
        target[name] = value
        for entry in entries:
            if isinstance(entry.get(table), dict) and name in entry[table]:
                entry[table][name] = value


def _merge_run(base: Mapping[str, Any], entry: Mapping[str, Any], *, method: str) -> dict[str, Any]:
    """A run's values: the base tables its method uses, updated key by key by the entry."""
    used = set(CORE_TABLES) | set(METHODS[method].tables)
    merged: dict[str, Any] = {}
    for table in _all_tables():
        base_table = base.get(table) if table in used else None
        entry_table = entry.get(table)
        if table == "data" and isinstance(entry_table, Mapping) and isinstance(base_table, Mapping):
            if "name" in entry_table and entry_table["name"] != base_table.get("name"):
                base_table = None
        if base_table is not None or entry_table is not None:
            merged[table] = {**(base_table or {}), **(entry_table or {})}
    merged.update({key: value for key, value in entry.items() if key not in merged})
    return merged


def parse_config(data: Mapping[str, Any], *, source_name: str = "<string>", path: str | os.PathLike | None = None,
                 overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Validate a recipe given as data (the parsed TOML tree; not modified).

    Parameters
    ----------
    data : mapping
    source_name : str
        Named at the start of every error message.
    path : path-like, optional
        The recipe file (``name`` defaults to its stem, else ``"recipe"``).
    overrides : sequence of str
        ``"table.key=value"`` strings, applied over the base tables and every run entry.

    Raises
    ------
    ConfigError
        Naming ``source_name`` and the key, for anything wrong.
    """
    try:
        tree = copy.deepcopy(dict(_check_mapping(data, "the recipe")))
        _apply_overrides(tree, overrides, source=source_name)
        return _parse_tree(tree, source=source_name, path=None if path is None else Path(path))
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(source_name, str(error)) from None


def _check_top_level(tree: Mapping[str, Any], path: Path | None) -> tuple[str, str]:
    tables = _all_tables()
    for key, value in tree.items():
        if key in _TOP_LEVEL_KEYS or key in tables:
            continue
        if isinstance(value, Mapping):
            raise ValueError(f"unknown table [{key}] (valid tables: {', '.join(tables)})")
        raise ValueError(f"unknown key {key} (valid top-level keys: {', '.join(_TOP_LEVEL_KEYS)}; tables: {', '.join(tables)})")
    name = tree.get("name", path.stem if path is not None else "recipe")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    description = tree.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"description must be a string; got {type(description).__name__} {description!r}")
    return name, description


def _check_base(tree: Mapping[str, Any], method: str) -> dict[str, Mapping[str, Any]]:
    base = {table: _check_mapping(tree[table], f"[{table}]") for table in _all_tables() if table in tree}
    for table, values in base.items():
        if table == "data":
            if "name" in values:
                resolve_data(values, where="")
        else:
            _check_keys(table, values, where="", method=method)
    return base


def _check_keys(table: str, values: Mapping[str, Any], *, where: str, method: str) -> None:
    """Check the given keys of a table (its cross-key checks wait for the resolved run).

    Against ``method``'s own class of the table; a table that ``method`` does
    not declare passes if one method's class of it accepts the keys (the run
    that uses it checks it fully).
    """
    if table in TABLES or table in METHODS[method].tables:
        classes = [table_class(table, method)]
    else:
        classes = list(dict.fromkeys(spec.tables[table] for spec in METHODS.values() if table in spec.tables))
    errors = []
    for cls in classes:
        try:
            parse_table(cls, values, table=table, check=False)
            return
        except ValueError as error:
            errors.append(error)
    raise ValueError(f"{where}{errors[0]}") from None


def _parse_tree(tree: dict[str, Any], *, source: str, path: Path | None) -> ExperimentConfig:
    name, description = _check_top_level(tree, path)
    method = _check_method(tree.get("method", "msann"), where="")
    base = _check_base(tree, method)
    entries = _run_entries(tree)
    runs: list[RunConfig] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        where = f"[runs][{index}] " if "runs" in tree else ""
        _check_run_keys(entry, where=where)
        run_method = _check_method(entry.get("method", method), where=where)
        for table in _all_tables():
            if table in entry and table != "data":
                _check_keys(table, _check_mapping(entry[table], f"{where}[{table}]"), where=where, method=run_method)
        merged = dict(_merge_run(base, entry, method=run_method), method=run_method)
        if "label" not in merged:
            if len(entries) > 1:
                raise ValueError(f"{where}label is required when there are several [[runs]] entries")
            merged["label"] = name
        run = _build_run(merged, source=source, where=where)
        if run.label in seen:
            raise ValueError(f"{where}label {run.label!r} is used twice (also by [runs][{seen[run.label]}])")
        seen[run.label] = index
        runs.append(run)
    used = set(CORE_TABLES).union(*(METHODS[run.method].tables for run in runs))
    unused = [table for table in base if table not in used]
    if unused:
        raise ValueError(f"table [{unused[0]}] is given but no run's method uses it "
                         f"(methods of the runs: {', '.join(sorted({run.method for run in runs}))})")
    return ExperimentConfig(name=name, description=description, path=path, runs=tuple(runs), source=tree)


def _run_entries(tree: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if "runs" not in tree:
        return [{}]
    runs = tree["runs"]
    if not isinstance(runs, list) or not all(isinstance(entry, Mapping) for entry in runs):
        raise ValueError(f"runs must be an array of tables ([[runs]] entries); got {runs!r}")
    if not runs:
        raise ValueError("runs must have at least one [[runs]] entry; leave it out for one run")
    return runs


def load_config(path: str | os.PathLike, *, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read, resolve and validate a TOML recipe (``overrides``: ``--set`` strings that win everywhere).

    Raises
    ------
    ConfigError
        For a missing or unreadable file, a TOML syntax error (with tomllib's
        line and column) or any invalid key; the message starts with ``path``.

    Examples
    --------
    >>> load_config("recipes/missing.toml")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    msann.config.recipe.ConfigError: recipes/missing.toml: no such recipe file
    """
    path = Path(path)
    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "no such recipe file") from None
    except IsADirectoryError:
        raise ConfigError(source, "is a directory, not a recipe file") from None
    except UnicodeDecodeError as error:
        raise ConfigError(source, f"is not UTF-8 text ({error})") from None
    except OSError as error:
        raise ConfigError(source, f"cannot be read ({error.strerror or error})") from None
    try:
        tree = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source, f"invalid TOML: {error}") from None
    return parse_config(tree, source_name=source, path=path, overrides=overrides)
