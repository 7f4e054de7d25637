"""Recipes: TOML files that describe compared training runs (:mod:`msann.config.recipe`).

- :mod:`~msann.config.tables`: the core tables ``[model]``, ``[hierarchy]``, ``[train]``;
- :mod:`~msann.config.data_options`: ``[data]`` against the data set's loader;
- :mod:`~msann.config.recipe`: loading, overrides, runs;
- :mod:`~msann.config.sizes`: checks against the loaded data;
- :mod:`~msann.config.sweep`: the runs of a sweep;
- :mod:`~msann.config.seeds`: every run repeated over seeds.
"""

from .recipe import load_config, parse_config
from .run import ConfigError, ExperimentConfig, RunConfig, parse_override, parse_run, parse_value
from .seeds import check_seeds, expand_seeds, parse_seeds, seed_label
from .sizes import check_sizes
from .sweep import expand_sweep, parse_int_list
from .tables import CORE_TABLES, DEFAULT_CHECKPOINT_SECONDS, HierarchyTable, ModelTable, TrainTable

__all__ = [
    "CORE_TABLES",
    "DEFAULT_CHECKPOINT_SECONDS",
    "ConfigError",
    "ExperimentConfig",
    "HierarchyTable",
    "ModelTable",
    "RunConfig",
    "TrainTable",
    "check_seeds",
    "check_sizes",
    "expand_seeds",
    "expand_sweep",
    "load_config",
    "parse_config",
    "parse_int_list",
    "parse_override",
    "parse_run",
    "parse_seeds",
    "parse_value",
    "seed_label",
]
