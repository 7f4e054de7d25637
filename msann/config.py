"""Experiment recipes: TOML files for ``msann run`` and ``msann sweep``.

A recipe names the data, the autoencoder, the hierarchy and the training
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
    method = "msann"             # a key of METHODS

    [data]                       # msann.data.load_dataset(name, seed=[train] seed, **options)
    name = "one_object"          # a key of msann.data.DATASETS
    length = 1024                # any keyword-only option of that loader

    [model]                      # see FIELDS["model"]
    widths = [1024, 256, 128, 256, 1024]

    [hierarchy]                  # see FIELDS["hierarchy"]
    levels = 4

    [train]                      # see FIELDS["train"]
    lr = 5e-4

    [[runs]]                     # one entry per compared run
    label = "default"            # required when there are several entries
    hierarchy = { levels = 0 }   # any table's keys, overriding the base tables

    [[runs]]
    label = "msann L=4"
    method = "msann"             # a run may change the method, too

Without ``[[runs]]`` the recipe is one run labelled with the recipe name.
``[runs][i]`` in messages counts the entries from 1, as they appear in the file.

Precedence, lowest first: the defaults in :data:`FIELDS` (or the data loader's
keyword defaults) < the base tables < a ``[[runs]]`` entry's tables < the
``--set table.key=value`` overrides.  An override is written into the base
table *and* into every run entry that sets the same key, so it wins
everywhere.  Its value is read as a TOML value (``train.lr=1e-3``,
``model.widths=[64,16,64]``, ``model.bias=false``); text that is not valid
TOML is taken as a string (``hierarchy.strategy=grid``).  A run whose
``[data] name`` differs from the base's starts from its own data table only.

Other training methods add their tables and checks without editing this
module: ``register_table("fas", {...})`` and
``register_method("fas", tables=("fas",), check=..., check_sizes=...)``.
The resolved values of a run's method tables are in :attr:`RunConfig.extra`.

Checks that need the data (widths against the data dimension, widths that can
be coarsened ``levels`` times) run in :func:`check_sizes`, which the CLI calls
after loading the data and before training.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import math
import os
import re
import tomllib
import types
import typing
from collections import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from graphprolong.checks import check_positive_int

__all__ = [
    "CORE_TABLES",
    "ConfigError",
    "DEFAULT_CHECKPOINT_SECONDS",
    "ExperimentConfig",
    "FIELDS",
    "Field",
    "METHODS",
    "Method",
    "REQUIRED",
    "RunConfig",
    "STRATEGY_LAYOUTS",
    "TABLE_CHECKS",
    "check_sizes",
    "expand_sweep",
    "load_config",
    "parse_config",
    "parse_int_list",
    "parse_override",
    "parse_run",
    "parse_value",
    "register_method",
    "register_table",
]

#: Seconds between checkpoints when ``[train] checkpoint_every = 0``.
DEFAULT_CHECKPOINT_SECONDS = 30.0

#: Unit-graph layout used to coarsen each layer, by ``[hierarchy] strategy``.
STRATEGY_LAYOUTS: dict[str, str] = {
    "path": "path",
    "grid": "grid",
    "grid-shuffled": "grid",
    "random-orthogonal": "path",
}

#: Tables every run has; ``[data]`` is validated against the dataset registry.
CORE_TABLES = ("data", "model", "hierarchy", "train")

_TOP_LEVEL_KEYS = ("name", "description", "method", "runs")
_RUN_KEYS = ("label", "method")
_SEED_OPTIONS = ("seed", "rng")


class ConfigError(ValueError):
    """A recipe problem; the message starts with the recipe's file name.

    Parameters
    ----------
    source : str
        The recipe's file name, or ``"<string>"`` for a recipe given as data.
    message : str
        What is wrong, naming the full key (``[train] lr``) and the value.
    """

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        self.detail = message
        super().__init__(f"{source}: {message}")

    def __reduce__(self):
        return (type(self), (self.source, self.detail))


class _Required:
    """Sentinel type of :data:`REQUIRED`."""

    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of a :class:`Field` that has no default and must be given.
REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Field:
    """One key of a recipe table: accepted types, default and rule.

    Parameters
    ----------
    types : tuple of type
        Accepted Python types.  ``bool`` is never an ``int``; an ``int`` is
        accepted (and converted) where ``float`` is; a ``list`` is accepted
        where ``tuple`` is (stored as a tuple; :meth:`RunConfig.to_dict`
        gives lists back).
    default : object
        The value used when the key is absent, or :data:`REQUIRED`.
    rule : str
        The rule in words, completing "must be ...", e.g. "an integer >= 1".
    validator : callable, optional
        ``validator(value) -> bool`` on the converted value; ``False`` raises
        an error quoting ``rule`` and the value.
    help : str
        One line for documentation.
    """

    types: tuple[type, ...]
    default: Any
    rule: str
    validator: Callable[[Any], bool] | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        """Whether the key must be given (no default)."""
        return self.default is REQUIRED

    def validate(self, value: Any) -> Any:
        """Return ``value`` converted to the stored form, or raise ``ValueError``.

        The message completes "[table] key ...": ``must be <rule>; got <value>``.
        """
        if not _has_type(value, self.types):
            raise ValueError(f"must be {self.rule}; got {type(value).__name__} {value!r}")
        converted = _convert(value, self.types)
        if self.validator is not None and not self.validator(converted):
            raise ValueError(f"must be {self.rule}; got {value!r}")
        return converted


def _has_type(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int):
        return int in types or float in types
    if isinstance(value, (list, tuple)):
        return list in types or tuple in types
    return isinstance(value, types)


def _convert(value: Any, types: tuple[type, ...]) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and int not in types:
        return float(value)
    if isinstance(value, list) and list not in types:
        return tuple(value)
    return value


def _freeze(value: Any) -> Any:
    """Lists to tuples, dicts to read-only mappings, recursively."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _plain(value: Any) -> Any:
    """Tuples to lists, mappings to dicts, recursively: JSON-ready data."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


# --------------------------------------------------------------------------- schema


def _number(default: float, *, minimum: float = 0.0, strict: bool = True, below: float | None = None,
            help: str = "") -> Field:
    if below is not None:
        rule = f"a number in [{minimum:g}, {below:g})"

        def validator(value: float) -> bool:
            return math.isfinite(value) and minimum <= value < below
    elif strict:
        rule = "a positive finite number" if minimum == 0.0 else f"a finite number > {minimum:g}"

        def validator(value: float) -> bool:
            return math.isfinite(value) and value > minimum
    else:
        rule = f"a finite number >= {minimum:g}"

        def validator(value: float) -> bool:
            return math.isfinite(value) and value >= minimum
    return Field((float,), float(default), rule, validator, help)


def _integer(default: int, *, minimum: int, help: str = "") -> Field:
    return Field((int,), default, f"an integer >= {minimum}", lambda value: value >= minimum, help)


def _choice(default: str, choices: Sequence[str], *, help: str = "") -> Field:
    valid = tuple(sorted(choices))
    rule = "one of " + ", ".join(repr(name) for name in valid)
    return Field((str,), default, rule, lambda value: value in valid, help)


def _widths(value: tuple) -> bool:
    return len(value) >= 2 and all(
        isinstance(width, int) and not isinstance(width, bool) and width >= 1 for width in value
    )


_ACTIVATIONS = ("identity", "relu", "sigmoid", "tanh")

#: The schema: ``FIELDS[table][key]`` is a :class:`Field`.  ``[data]`` is not
#: here: its keys are the dataset loader's keyword-only options.
FIELDS: dict[str, dict[str, Field]] = {
    "model": {
        "widths": Field(
            (tuple,), (1024, 256, 128, 256, 1024), "a list of at least 2 integers >= 1", _widths,
            "layer widths of the MLP autoencoder; first and last = data dimension",
        ),
        "activation": _choice("sigmoid", _ACTIVATIONS, help="hidden-layer activation"),
        "output_activation": _choice("sigmoid", _ACTIVATIONS, help="output-layer activation"),
        "bias": Field((bool,), True, "true or false", None, "a bias on every layer"),
    },
    "hierarchy": {
        "levels": _integer(4, minimum=0, help="coarse levels L (0 = plain training)"),
        "gamma": _integer(3, minimum=1, help="cycle index (1 = V-cycle, 2 = W-cycle)"),
        "k": _integer(4, minimum=1, help="smoothing batches per level visit"),
        "strategy": _choice("path", tuple(STRATEGY_LAYOUTS), help="unit graphs and their P"),
        "p_method": _choice("recipe", ("optimize", "piecewise-constant", "recipe", "spectral"), help="how the 1D maps are designed (msann.prolongations.METHODS)"),
        "schedule": _choice(
            "cycle", ("cycle", "simultaneous"),
            help="gamma-cycles, or all levels trained simultaneously (baseline)",
        ),
    },
    "train": {
        "optimizer": _choice("adam", ("adam", "rmsprop", "sgd"), help="torch optimiser per level"),
        "lr": _number(5e-4, help="learning rate of every level's optimiser"),
        "momentum": _number(0.0, below=1.0, help="sgd/rmsprop momentum"),
        "batch_size": _integer(32, minimum=1, help="minibatch size"),
        "cost_budget": _number(30000.0, help="stop once the cost C(t) reaches this (SPEC §3)"),
        "eval_points": _integer(60, minimum=2, help="points of the log-spaced cost grid for E(t)"),
        "checkpoint_every": _number(
            DEFAULT_CHECKPOINT_SECONDS, strict=False,
            help=f"wall-clock seconds between checkpoints; 0 = {DEFAULT_CHECKPOINT_SECONDS:g}",
        ),
        "seed": _integer(0, minimum=0, help="seed of data, initialisation and batch order"),
        "device": Field(
            (str,), "auto", "'auto', 'cpu', 'cuda' or 'cuda:N'",
            lambda value: re.fullmatch(r"auto|cpu|cuda(:\d+)?", value) is not None,
            "torch device; auto = cuda when available",
        ),
    },
}


def _check_train(values: Mapping[str, Any]) -> None:
    if values["optimizer"] == "adam" and values["momentum"] != 0.0:
        raise ValueError(
            "momentum must be 0 with optimizer 'adam' (it applies to 'sgd' and 'rmsprop'); "
            f"got {values['momentum']!r}"
        )


def _resolve_checkpoint(values: dict[str, Any]) -> None:
    if values["checkpoint_every"] == 0.0:
        values["checkpoint_every"] = DEFAULT_CHECKPOINT_SECONDS


#: Cross-key checks per table: ``check(resolved_values)`` raises ``ValueError``
#: whose message starts with the key (the table tag is prefixed).
TABLE_CHECKS: dict[str, Callable[[Mapping[str, Any]], None]] = {"train": _check_train}


@dataclass(frozen=True)
class Method:
    """A training method: its extra tables and its checks.

    Parameters
    ----------
    tables : tuple of str
        Registered tables (beyond the core ones) that runs of this method use;
        their resolved values go into :attr:`RunConfig.extra`.
    check : callable, optional
        ``check(run)`` at load time; raises ``ValueError`` whose message names
        the key as ``[table] key``.
    check_sizes : callable, optional
        ``check_sizes(run, *, dimension, unit_shape)`` once the data is
        loaded; raises ``ValueError`` like ``check``.
    uses_model : bool
        Whether the method builds its network from ``[model]`` (the MLP
        autoencoder widths) and coarsens it with ``[hierarchy] strategy``.
        A method that brings its own network (FAS: ``[fas] architecture``)
        sets False: a ``[model]`` table in its recipe is then an error, and
        the MsANN width checks of :func:`check_sizes` are not applied.
    """

    tables: tuple[str, ...] = ()
    check: Callable[[RunConfig], None] | None = None
    check_sizes: Callable[..., None] | None = None
    uses_model: bool = True


#: Training methods by name (``method = "..."`` in a recipe).
METHODS: dict[str, Method] = {"msann": Method()}

#: Methods shipped with msann that register themselves when their module is
#: imported (it needs torch): a recipe naming one imports it on demand, so
#: :func:`load_config` reads every shipped recipe without further imports.
BUILTIN_METHODS: dict[str, str] = {"fas": "msann.fas"}


def _load_methods(values: Mapping[str, Any]) -> None:
    """Import the built-in methods that a recipe (or one run) names and that are not registered yet."""
    entries = values.get("runs", [])
    names = {values.get("method")} | {
        entry.get("method") for entry in (entries if isinstance(entries, list) else []) if isinstance(entry, Mapping)
    }
    for name in names:
        if isinstance(name, str) and name not in METHODS and name in BUILTIN_METHODS:
            importlib.import_module(BUILTIN_METHODS[name])


def register_table(name: str, fields: Mapping[str, Field], *,
                   check: Callable[[Mapping[str, Any]], None] | None = None,
                   replace: bool = False) -> None:
    """Add a recipe table, e.g. ``[fas]``, with its schema.

    Parameters
    ----------
    name : str
        The table name; not a core table.
    fields : mapping of str to Field
        Its keys.
    check : callable, optional
        Cross-key check on the resolved table (see :data:`TABLE_CHECKS`).
    replace : bool
        Allow replacing a table registered before (module reloads).
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
        raise ValueError(f"table name must be a bare TOML key; got {name!r}")
    if name in CORE_TABLES or name in _TOP_LEVEL_KEYS:
        raise ValueError(f"table name {name!r} is reserved (reserved: {', '.join(CORE_TABLES + _TOP_LEVEL_KEYS)})")
    if name in FIELDS and not replace:
        raise ValueError(f"table [{name}] is already registered; pass replace=True to replace it")
    for key, spec in fields.items():
        if not isinstance(spec, Field):
            raise TypeError(f"[{name}] {key} must be described by a Field; got {type(spec).__name__}")
    FIELDS[name] = dict(fields)
    TABLE_CHECKS.pop(name, None)
    if check is not None:
        TABLE_CHECKS[name] = check


def register_method(name: str, *, tables: Sequence[str] = (),
                    check: Callable[[RunConfig], None] | None = None,
                    check_sizes: Callable[..., None] | None = None,
                    uses_model: bool = True,
                    replace: bool = False) -> None:
    """Add a training method, selectable with ``method = name``.

    Parameters
    ----------
    name : str
        The method name.
    tables : sequence of str
        Registered tables its runs use (:func:`register_table` them first).
    check, check_sizes : callable, optional
        See :class:`Method`.
    uses_model : bool
        See :class:`Method`.
    replace : bool
        Allow replacing a method registered before.
    """
    if name in METHODS and not replace:
        raise ValueError(f"method {name!r} is already registered; pass replace=True to replace it")
    for table in tables:
        if table not in FIELDS or table in CORE_TABLES:
            raise ValueError(
                f"method {name!r} uses table [{table}], which is not a registered extra table "
                f"(registered: {', '.join(_extra_tables()) or 'none'})"
            )
    METHODS[name] = Method(tuple(tables), check, check_sizes, uses_model)


def _extra_tables() -> list[str]:
    return sorted(name for name in FIELDS if name not in CORE_TABLES)


def _all_tables() -> list[str]:
    return sorted(set(CORE_TABLES) | set(FIELDS))


# --------------------------------------------------------------------------- data options


def _datasets() -> Mapping[str, Callable[..., Any]]:
    from msann.data import DATASETS  # lazy: torch and data files stay out of config parsing

    return DATASETS


def _loader_options(loader: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], bool]:
    """Keyword-only options of a loader (``seed``/``rng`` excluded), and whether it takes ``**kwargs``."""
    try:
        signature = inspect.signature(loader, eval_str=True)
    except (NameError, TypeError, SyntaxError):  # unresolvable annotations: fall back to the defaults' types
        signature = inspect.signature(loader)
    parameters = signature.parameters.values()
    options = {
        parameter.name: parameter
        for parameter in parameters
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.name not in _SEED_OPTIONS
    }
    open_ended = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters)
    return options, open_ended


def _hint_accepts(value: Any, hint: Any) -> bool:
    """Whether a recipe value fits a loader's type annotation (unknown annotations accept)."""
    if hint is Any:
        return True
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_hint_accepts(value, member) for member in typing.get_args(hint))
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint) or hint
    if origin is bool:
        return isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is str:
        return isinstance(value, str)
    if origin is os.PathLike:
        return isinstance(value, (str, os.PathLike))
    if origin in (list, tuple, abc.Sequence):
        return isinstance(value, (list, tuple))
    if origin in (dict, abc.Mapping):
        return isinstance(value, Mapping)
    return True


def _describe_hint(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "").replace("collections.abc.", "")


def _option_type_ok(value: Any, default: Any) -> bool:
    if default is None or default is inspect.Parameter.empty:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (str, os.PathLike)):
        return isinstance(value, (str, os.PathLike))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def _resolve_data(values: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Validate ``[data]`` against the dataset registry; fill the loader's defaults."""
    datasets = _datasets()
    valid = ", ".join(sorted(datasets))
    if "name" not in values:
        raise ValueError(f"{where}[data] name is required (valid datasets: {valid})")
    name = values["name"]
    if not isinstance(name, str) or name not in datasets:
        raise ValueError(f"{where}[data] name must be one of the datasets {valid}; got {name!r}")
    options, open_ended = _loader_options(datasets[name])
    resolved: dict[str, Any] = {"name": name}
    for option, parameter in options.items():
        if parameter.default is not inspect.Parameter.empty:
            resolved[option] = parameter.default
    for option, value in values.items():
        if option == "name":
            continue
        if option in _SEED_OPTIONS:
            raise ValueError(
                f"{where}[data] {option} is not a dataset option: the data seed is [train] seed"
            )
        if option not in options:
            if open_ended:
                resolved[option] = value
                continue
            raise ValueError(
                f"{where}unknown key [data] {option} for dataset {name!r} "
                f"(valid keys: name, {', '.join(sorted(options)) or 'none'})"
            )
        default = options[option].default
        hint = options[option].annotation
        if hint is not inspect.Parameter.empty and not isinstance(hint, str):
            if not _hint_accepts(value, hint):
                raise ValueError(
                    f"{where}[data] {option} must be of type {_describe_hint(hint)} for dataset {name!r}; "
                    f"got {type(value).__name__} {value!r}"
                )
        if not _option_type_ok(value, default):
            raise ValueError(
                f"{where}[data] {option} must be of the type of its default {default!r} "
                f"({type(default).__name__}) for dataset {name!r}; got {type(value).__name__} {value!r}"
            )
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        resolved[option] = value
    missing = [option for option in options if option not in resolved]
    if missing:
        raise ValueError(
            f"{where}[data] {missing[0]} is required by dataset {name!r} "
            f"(required options: {', '.join(missing)})"
        )
    return resolved


# --------------------------------------------------------------------------- tables


def _check_mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a table; got {type(value).__name__} {value!r}")
    return value


def _check_keys(table: str, values: Mapping[str, Any], *, where: str) -> None:
    fields = FIELDS[table]
    for key, value in values.items():
        if key not in fields:
            raise ValueError(
                f"{where}unknown key [{table}] {key} (valid keys: {', '.join(sorted(fields))})"
            )
        try:
            fields[key].validate(value)
        except ValueError as error:
            raise ValueError(f"{where}[{table}] {key} {error}") from None


def _resolve_table(table: str, values: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Validate the given keys of a schema table and fill in its defaults."""
    _check_keys(table, values, where=where)
    fields = FIELDS[table]
    resolved: dict[str, Any] = {}
    for key, spec in fields.items():
        if key in values:
            resolved[key] = spec.validate(values[key])
        elif spec.required:
            raise ValueError(f"{where}[{table}] {key} is required; it must be {spec.rule}")
        else:
            resolved[key] = spec.default
    if table == "train":
        _resolve_checkpoint(resolved)
    check = TABLE_CHECKS.get(table)
    if check is not None:
        try:
            check(resolved)
        except ValueError as error:
            raise ValueError(f"{where}[{table}] {error}") from None
    return resolved


def _check_label(label: Any, *, where: str) -> str:
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"{where}label must be a non-empty string; got {label!r}")
    return label


def _check_method(method: Any, *, where: str) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"{where}method must be one of {', '.join(sorted(set(METHODS) | set(BUILTIN_METHODS)))}; got {method!r}")
    return method


# --------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class RunConfig:
    """One fully resolved, validated run of a recipe.

    The tables are read-only mappings (lists stored as tuples); use
    :meth:`to_dict` for plain, JSON-ready data, and :meth:`replace` or
    :meth:`with_overrides` for a changed copy.

    Attributes
    ----------
    label : str
        The run's label in tables, plots and ``summary.json``.
    method : str
        A key of :data:`METHODS`.
    data : mapping
        ``name`` and every keyword option of the dataset loader (defaults filled in).
    model, hierarchy, train : mapping
        The tables of :data:`FIELDS`, defaults filled in.
    extra : mapping of str to mapping
        The method's registered tables (e.g. ``extra["fas"]``).
    source_name : str
        The recipe's file name, for error messages (not compared, not in :meth:`to_dict`).
    """

    label: str
    method: str
    data: Mapping[str, Any]
    model: Mapping[str, Any]
    hierarchy: Mapping[str, Any]
    train: Mapping[str, Any]
    extra: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    source_name: str = field(default="<string>", compare=False)

    def __post_init__(self) -> None:
        for name in ("data", "model", "hierarchy", "train", "extra"):
            object.__setattr__(self, name, _freeze(getattr(self, name)))

    @property
    def data_options(self) -> dict[str, Any]:
        """The keyword options for ``load_dataset(data["name"], seed=..., **options)``."""
        return {key: _plain(value) for key, value in self.data.items() if key != "name"}

    def tables(self) -> dict[str, Mapping[str, Any]]:
        """All of the run's tables by name: the core ones, then the method's."""
        return {"data": self.data, "model": self.model, "hierarchy": self.hierarchy,
                "train": self.train, **self.extra}

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"label", "method", "data", "model", "hierarchy", "train", <extra tables>}``.

        :func:`parse_run` of the result gives an equal :class:`RunConfig`.
        """
        return {"label": self.label, "method": self.method, **_plain(self.tables())}

    def get(self, key: str) -> Any:
        """Dotted access: ``get("train.lr")``, ``get("fas.tau")``, ``get("label")``."""
        if key in _RUN_KEYS:
            return getattr(self, key)
        table, _, name = key.partition(".")
        tables = self.tables()
        if table not in tables or not name:
            valid = ", ".join([*_RUN_KEYS, *(f"{table}.<key>" for table in tables)])
            raise KeyError(f"{key!r} is not a key of run {self.label!r} (valid: {valid})")
        if name not in tables[table]:
            raise KeyError(
                f"{key!r} is not a key of run {self.label!r} "
                f"(valid keys of [{table}]: {', '.join(sorted(tables[table]))})"
            )
        return _plain(tables[table][name])

    def replace(self, **changes: Any) -> RunConfig:
        """A new validated run with dotted keys changed: ``replace(**{"train.lr": 1e-3})``.

        Changing ``data.name`` drops the old dataset's options (those not also
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
    """A loaded recipe: its runs, fully resolved.

    Attributes
    ----------
    name, description : str
        From the recipe (``name`` defaults to the file stem).
    path : Path or None
        The recipe file, or None for :func:`parse_config` on data.
    runs : tuple of RunConfig
        The compared runs, in file order, with unique labels.
    source : dict
        The recipe's table tree as read, with the overrides applied (for
        ``summary.json``'s ``"recipe"``).
    """

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
        raise ConfigError(
            source, f"key {key!r} must be 'table.key' (tables: {', '.join(_all_tables())}) or one of {', '.join(_RUN_KEYS)}"
        )
    target = values.setdefault(table, {})
    if not isinstance(target, dict):
        raise ConfigError(source, f"[{table}] must be a table; got {type(target).__name__} {target!r}")
    target[name] = value


def parse_run(data: Mapping[str, Any], *, source_name: str = "<string>") -> RunConfig:
    """Validate one run given as plain data (e.g. :meth:`RunConfig.to_dict`) and resolve defaults.

    Parameters
    ----------
    data : mapping
        ``label`` (required), ``method`` (default ``"msann"``) and tables.
    source_name : str
        Named at the start of error messages.

    Raises
    ------
    ConfigError
        Naming the key and ``source_name``.
    """
    try:
        values = _check_mapping(data, "a run")
        _load_methods(values)
        return _build_run(values, source=source_name, where="")
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(source_name, str(error)) from None


def _check_run_keys(values: Mapping[str, Any], *, where: str) -> None:
    valid = [*_RUN_KEYS, *_all_tables()]
    for key in values:
        if key not in valid:
            kind = "table" if isinstance(values[key], Mapping) else "key"
            shown = f"[{key}]" if kind == "table" else key
            raise ValueError(f"{where}unknown {kind} {shown} (valid: {', '.join(valid)})")


def _build_run(values: Mapping[str, Any], *, source: str, where: str) -> RunConfig:
    _check_run_keys(values, where=where)
    label = _check_label(values.get("label"), where=where)
    method_name = _check_method(values.get("method", "msann"), where=where)
    method = METHODS[method_name]
    tables = {}
    for table in _all_tables():
        given = _check_mapping(values.get(table, {}), f"{where}[{table}]")
        if table == "data":
            tables[table] = _resolve_data(given, where=where)
        elif table == "model" and not method.uses_model and table in values:
            used = [name for name in (*CORE_TABLES, *method.tables) if name != "model"]
            raise ValueError(
                f"{where}table [model] is not used by method {method_name!r} (it builds its own network; "
                f"its tables: {', '.join(used)})"
            )
        elif table in CORE_TABLES or table in method.tables:
            tables[table] = _resolve_table(table, given, where=where)
        elif table in values:
            raise ValueError(
                f"{where}table [{table}] is not used by method {method_name!r} "
                f"(its extra tables: {', '.join(method.tables) or 'none'})"
            )
    run = RunConfig(
        label=label,
        method=method_name,
        data=tables["data"],
        model=tables["model"],
        hierarchy=tables["hierarchy"],
        train=tables["train"],
        extra={table: tables[table] for table in method.tables},
        source_name=source,
    )
    if method.check is not None:
        try:
            method.check(run)
        except ValueError as error:
            raise ValueError(f"{where}{error}") from None
    return run


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
            if key == "method":
                for entry in entries:
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
    used = set(CORE_TABLES) | set(METHODS[method].tables if method in METHODS else ())
    merged: dict[str, Any] = {}
    for table in _all_tables():
        base_table = base.get(table) if table in used else None
        entry_table = entry.get(table)
        if table == "data" and isinstance(entry_table, Mapping) and isinstance(base_table, Mapping):
            if "name" in entry_table and entry_table["name"] != base_table.get("name"):
                base_table = None
        if base_table is None and entry_table is None:
            continue
        merged[table] = {**(base_table or {}), **(entry_table or {})}
    for key in entry:
        if key not in merged:
            merged[key] = entry[key]
    return merged


def parse_config(data: Mapping[str, Any], *, source_name: str = "<string>", path: str | os.PathLike | None = None,
                 overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Validate a recipe given as data (the parsed TOML tree).

    Parameters
    ----------
    data : mapping
        The table tree; not modified.
    source_name : str
        Named at the start of every error message.
    path : path-like, optional
        The recipe file (``name`` defaults to its stem, else ``"recipe"``).
    overrides : sequence of str
        ``"table.key=value"`` strings, applied over the base tables and every
        run entry (see the module docstring).

    Returns
    -------
    ExperimentConfig

    Raises
    ------
    ConfigError
        Naming ``source_name`` and the key, for anything wrong.
    """
    try:
        tree = copy.deepcopy(dict(_check_mapping(data, "the recipe")))
        _apply_overrides(tree, overrides, source=source_name)
        _load_methods(tree)
        return _parse_tree(tree, source=source_name, path=None if path is None else Path(path))
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(source_name, str(error)) from None


def _parse_tree(tree: dict[str, Any], *, source: str, path: Path | None) -> ExperimentConfig:
    tables = _all_tables()
    for key, value in tree.items():
        if key in _TOP_LEVEL_KEYS or key in tables:
            continue
        if isinstance(value, Mapping):
            raise ValueError(f"unknown table [{key}] (valid tables: {', '.join(tables)})")
        raise ValueError(
            f"unknown key {key} (valid top-level keys: {', '.join(_TOP_LEVEL_KEYS)}; tables: {', '.join(tables)})"
        )
    name = tree.get("name", path.stem if path is not None else "recipe")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    description = tree.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"description must be a string; got {type(description).__name__} {description!r}")
    method = _check_method(tree.get("method", "msann"), where="")

    base = {table: _check_mapping(tree[table], f"[{table}]") for table in tables if table in tree}
    for table, values in base.items():
        if table == "data":
            if "name" in values:
                _resolve_data(values, where="")
        else:
            _check_keys(table, values, where="")

    entries = _run_entries(tree)
    runs: list[RunConfig] = []
    seen: dict[str, int] = {}
    used_tables: set[str] = set(CORE_TABLES)
    for index, entry in enumerate(entries, start=1):
        where = f"[runs][{index}] " if "runs" in tree else ""
        _check_run_keys(entry, where=where)
        run_method = _check_method(entry.get("method", method), where=where)
        for table in tables:
            if table in entry and table != "data":
                values = _check_mapping(entry[table], f"{where}[{table}]")
                _check_keys(table, values, where=where)
        merged = _merge_run(base, entry, method=run_method)
        merged["method"] = run_method
        if "label" not in merged:
            if len(entries) > 1:
                raise ValueError(f"{where}label is required when there are several [[runs]] entries")
            merged["label"] = name
        run = _build_run(merged, source=source, where=where)
        if run.label in seen:
            raise ValueError(f"{where}label {run.label!r} is used twice (also by [runs][{seen[run.label]}])")
        seen[run.label] = index
        used_tables.update(METHODS[run.method].tables)
        runs.append(run)
    unused = [table for table in base if table not in used_tables]
    if unused:
        raise ValueError(
            f"table [{unused[0]}] is given but no run's method uses it "
            f"(methods of the runs: {', '.join(sorted({run.method for run in runs}))})"
        )
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
    """Read, resolve and validate a TOML recipe.

    Parameters
    ----------
    path : path-like
        The recipe file.
    overrides : sequence of str
        ``"table.key=value"`` strings (``--set``); they win over the base
        tables and over every ``[[runs]]`` entry.

    Returns
    -------
    ExperimentConfig

    Raises
    ------
    ConfigError
        For a missing or unreadable file, a TOML syntax error (with tomllib's
        line and column) or any invalid key; the message starts with ``path``.

    Examples
    --------
    >>> load_config("recipes/missing.toml")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    msann.config.ConfigError: recipes/missing.toml: no such recipe file
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


# --------------------------------------------------------------------------- checks with the data


def check_sizes(run: RunConfig, *, dimension: int, unit_shape: tuple[int, ...]) -> None:
    """Check a run against its loaded data, before training.

    ``[model] widths`` must start and end with the data dimension, and every
    layer must be coarsenable ``[hierarchy] levels`` times with the unit
    graphs of ``[hierarchy] strategy`` (via
    :func:`msann.prolongations.unit_shapes`); then the method's own
    ``check_sizes`` hook runs.

    Parameters
    ----------
    run : RunConfig
    dimension : int
        Number of features of one sample.
    unit_shape : tuple of int
        Shape of the input layer's units (``(1024,)``, ``(28, 28)``); its
        product must be ``dimension``.

    Raises
    ------
    ConfigError
        Naming the recipe file, the keys and the sizes.
    """
    source = run.source_name
    name = run.data["name"]
    unit_shape = tuple(int(size) for size in unit_shape)
    if math.prod(unit_shape) != dimension:
        raise ConfigError(
            source,
            f"[data] name {name!r}: unit shape {unit_shape} has {math.prod(unit_shape)} units "
            f"but the data dimension is {dimension}",
        )
    if METHODS[run.method].uses_model:
        _check_model_sizes(run, dimension=dimension, unit_shape=unit_shape)
    hook = METHODS[run.method].check_sizes
    if hook is not None:
        try:
            hook(run, dimension=dimension, unit_shape=unit_shape)
        except ValueError as error:
            raise ConfigError(source, f"{error} (run {run.label!r})") from None


def _check_model_sizes(run: RunConfig, *, dimension: int, unit_shape: tuple[int, ...]) -> None:
    """The MsANN checks: [model] widths against the data, and the hierarchy's depth against every width."""
    source, name = run.source_name, run.data["name"]
    widths = run.model["widths"]
    if widths[0] != dimension or widths[-1] != dimension:
        raise ConfigError(
            source,
            f"[model] widths must start and end with the dimension {dimension} of the data "
            f"[data] name {name!r} (run {run.label!r}); got widths[0] = {widths[0]}, widths[-1] = {widths[-1]}",
        )
    levels = run.hierarchy["levels"]
    if levels > 0:
        from msann.prolongations import unit_shapes  # lazy: pulls in graphprolong's solvers

        strategy = run.hierarchy["strategy"]
        layout = STRATEGY_LAYOUTS[strategy]
        for index, width in enumerate(widths):
            input_shape = unit_shape if index in (0, len(widths) - 1) else None
            try:
                unit_shapes(width, levels=levels, layout=layout, input_shape=input_shape)
            except ValueError as error:
                raise ConfigError(
                    source,
                    f"[hierarchy] levels = {levels} is too deep for [model] widths[{index}] = {width} "
                    f"with [hierarchy] strategy {strategy!r} (run {run.label!r}): {error}",
                ) from None


# --------------------------------------------------------------------------- sweeps


def parse_int_list(text: str, *, name: str = "list", minimum: int = 0) -> list[int]:
    """Parse ``"1,2,4"``, ``"0..6"`` (inclusive) or ``"1,2,4..8"``; duplicates dropped, order kept.

    Parameters
    ----------
    text : str
        Comma-separated integers or inclusive ranges ``a..b``.
    name : str
        The option named in errors, e.g. ``"--levels"``.
    minimum : int
        Smallest allowed value.

    Examples
    --------
    >>> parse_int_list("0..3,8")
    [0, 1, 2, 3, 8]
    """
    items = [item.strip() for item in str(text).split(",")]
    values: list[int] = []
    for item in items:
        match = re.fullmatch(r"(-?\d+)(?:\s*\.\.\s*(-?\d+))?", item)
        if match is None:
            raise ValueError(
                f"{name} must be a comma-separated list of integers or ranges a..b; got {text!r} "
                f"(bad item {item!r})"
            )
        start = int(match.group(1))
        stop = start if match.group(2) is None else int(match.group(2))
        if stop < start:
            raise ValueError(f"{name}: range {item!r} is empty (a..b needs a <= b); got {text!r}")
        if start < minimum:
            raise ValueError(f"{name} values must be >= {minimum}; got {start} in {text!r}")
        values.extend(range(start, stop + 1))
    return list(dict.fromkeys(values))


def expand_sweep(config: ExperimentConfig, *, gamma: Sequence[int], levels: Sequence[int],
                 k: Sequence[int]) -> list[RunConfig]:
    """The runs of a sweep: every (levels, gamma, k) on the recipe's first run.

    The plain-training run (``levels = 0``) comes first, once, labelled
    ``"default"`` (its ``gamma`` and ``k`` are the base run's, and
    irrelevant); it is included whether or not ``levels`` lists 0.  The
    others are labelled ``"L=4 gamma=3 k=4"``, in the order of ``levels``,
    then ``gamma``, then ``k`` (duplicates dropped).

    Raises
    ------
    ValueError
        For an empty list or a value out of range (levels >= 0, gamma, k >= 1).
    ConfigError
        If a combination is not a valid run.
    """
    lists = {"levels": (levels, 0), "gamma": (gamma, 1), "k": (k, 1)}
    unique: dict[str, list[int]] = {}
    for option, (values, minimum) in lists.items():
        values = list(values)
        if not values:
            raise ValueError(f"sweep {option} must list at least one value; got {values!r}")
        unique[option] = list(dict.fromkeys(check_positive_int(option, value, minimum=minimum) for value in values))
    base = config.runs[0]
    runs = [base.replace(**{"label": "default", "hierarchy.levels": 0})]
    for level in unique["levels"]:
        if level == 0:
            continue
        for cycle_index in unique["gamma"]:
            for batches in unique["k"]:
                runs.append(base.replace(**{
                    "label": f"L={level} gamma={cycle_index} k={batches}",
                    "hierarchy.levels": level,
                    "hierarchy.gamma": cycle_index,
                    "hierarchy.k": batches,
                }))
    return runs
