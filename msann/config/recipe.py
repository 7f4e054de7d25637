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
    seeds = [0, 1, 2]            # optional: every run once per seed (msann.config.seeds)

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
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..methods import METHODS
from ..options import parse_table
from .data_options import resolve_data
from .run import (
    ConfigError,
    ExperimentConfig,
    RunConfig,
    all_tables,
    build_run,
    check_mapping,
    check_method,
    check_run_keys,
    parse_override,
    table_class,
)
from .seeds import check_seeds
from .tables import CORE_TABLES, TABLES

__all__ = ["load_config", "parse_config"]

_TOP_LEVEL_KEYS = ("name", "description", "method", "seeds", "runs")


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
    for table in all_tables():
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
        tree = copy.deepcopy(dict(check_mapping(data, "the recipe")))
        _apply_overrides(tree, overrides, source=source_name)
        return _parse_tree(tree, source=source_name, path=None if path is None else Path(path))
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(source_name, str(error)) from None


def _check_top_level(tree: Mapping[str, Any], path: Path | None) -> tuple[str, str]:
    tables = all_tables()
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
    base = {table: check_mapping(tree[table], f"[{table}]") for table in all_tables() if table in tree}
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
    method = check_method(tree.get("method", "msann"), where="")
    base = _check_base(tree, method)
    entries = _run_entries(tree)
    runs: list[RunConfig] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        where = f"[runs][{index}] " if "runs" in tree else ""
        check_run_keys(entry, where=where)
        run_method = check_method(entry.get("method", method), where=where)
        for table in all_tables():
            if table in entry and table != "data":
                _check_keys(table, check_mapping(entry[table], f"{where}[{table}]"), where=where, method=run_method)
        merged = dict(_merge_run(base, entry, method=run_method), method=run_method)
        if "label" not in merged:
            if len(entries) > 1:
                raise ValueError(f"{where}label is required when there are several [[runs]] entries")
            merged["label"] = name
        run = build_run(merged, source=source, where=where)
        if run.label in seen:
            raise ValueError(f"{where}label {run.label!r} is used twice (also by [runs][{seen[run.label]}])")
        seen[run.label] = index
        runs.append(run)
    used = set(CORE_TABLES).union(*(METHODS[run.method].tables for run in runs))
    unused = [table for table in base if table not in used]
    if unused:
        raise ValueError(f"table [{unused[0]}] is given but no run's method uses it "
                         f"(methods of the runs: {', '.join(sorted({run.method for run in runs}))})")
    seeds = check_seeds(tree["seeds"]) if "seeds" in tree else ()
    return ExperimentConfig(name=name, description=description, path=path, runs=tuple(runs), source=tree, seeds=seeds)


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
