"""The core recipe tables ([model], [hierarchy], [train]): their rules, their messages, their choices (msann.config.tables)."""

from __future__ import annotations

import dataclasses

import pytest

from msann.coarsening.graph import METHODS as GRAPH_METHODS
from msann.coarsening.graph import STRATEGIES
from msann.coarsening.matching import PROJECTIONS, VISIT_ORDERS
from msann.coarsening.mutual_best import MATCHINGS
from msann.coarsening.network import COARSENERS
from msann.config import CORE_TABLES, HierarchyTable, ModelTable, TrainTable
from msann.config.tables import TABLES
from msann.core.cost import COST_MODELS
from msann.core.cycle import STAGES, STARTS
from msann.core.smoothing import SMOOTHERS
from msann.methods import SCHEDULES
from msann.methods.fas_recipe import ARCHITECTURES, FasTable
from msann.models.mlp import ACTIVATIONS
from msann.options import Rule

from .helpers import assert_error


@pytest.mark.parametrize(("tables", "fragments"), [
    ({"train": {"lr": -1}}, ["[train] lr must be a positive finite number; got -1"]),
    ({"train": {"lr": "fast"}}, ["[train] lr", "got str 'fast'"]),
    ({"train": {"lr": float("nan")}}, ["[train] lr", "got nan"]),
    ({"train": {"lrr": 1}}, ["unknown key [train] lrr (valid keys: batch_size, checkpoint_every, cost_budget"]),
    ({"trian": {"lr": 1}}, ["unknown table [trian] (valid tables: data, hierarchy, model, train)"]),
    ({"trian": 1}, ["unknown key trian"]),
    ({"train": 3}, ["[train] must be a table; got int 3"]),
    ({"hierarchy": {"levels": True}}, ["[hierarchy] levels must be an integer >= 0; got bool True"]),
    ({"hierarchy": {"levels": 2.0}}, ["[hierarchy] levels", "got float 2.0"]),
    ({"hierarchy": {"gamma": 0}}, ["[hierarchy] gamma must be an integer >= 1; got 0"]),
    ({"hierarchy": {"strategy": "gird"}}, ["[hierarchy] strategy must be one of 'grid', 'grid-shuffled', 'path', 'random-orthogonal'; got 'gird'"]),
    ({"model": {"widths": [16]}}, ["[model] widths must be a list of at least 2 integers >= 1; got [16]"]),
    ({"model": {"widths": [16, 0, 16]}}, ["[model] widths", "got [16, 0, 16]"]),
    ({"model": {"widths": [16, True, 16]}}, ["[model] widths"]),
    ({"model": {"widths": 16}}, ["[model] widths", "got int 16"]),
    ({"model": {"bias": 1}}, ["[model] bias must be true or false; got int 1"]),
    ({"train": {"momentum": 0.9}}, ["[train] momentum must be 0 with optimizer 'adam'"]),
    ({"train": {"momentum": 1.0, "optimizer": "sgd"}}, ["[train] momentum must be a number in [0, 1); got 1.0"]),
    ({"train": {"device": "gpu"}}, ["[train] device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got 'gpu'"]),
    ({"method": "fass"}, ["method must be one of msann; got 'fass'"]),
    ({"name": ""}, ["name must be a non-empty string"]),
    ({"label": "x"}, ["unknown key label (valid top-level keys"]),
])
def test_table_errors(registry, tables, fragments):
    assert_error({"data": {"name": "toy"}, **tables}, fragments)


def rule_of(table: type, key: str) -> Rule:
    return {field.name: field for field in dataclasses.fields(table)}[key].metadata["rule"]


def choices(rule: Rule) -> list[str]:
    """The names that a ``one_of`` rule's text lists, in order."""
    prefix = "one of "
    assert rule.text.startswith(prefix), rule.text
    return [name.strip().strip("'") for name in rule.text[len(prefix):].split(", ")]


@pytest.mark.parametrize(("table", "key", "registry_of_names"), [
    (TrainTable, "optimizer", SMOOTHERS),
    (HierarchyTable, "strategy", STRATEGIES),
    (HierarchyTable, "p_method", GRAPH_METHODS),
    (HierarchyTable, "schedule", SCHEDULES),
    (HierarchyTable, "start", STARTS),
    (HierarchyTable, "stage", STAGES),
    (ModelTable, "activation", ACTIVATIONS),
    (ModelTable, "output_activation", ACTIVATIONS),
    (FasTable, "transfer", COARSENERS),
    (FasTable, "order", VISIT_ORDERS),
    (FasTable, "projection", PROJECTIONS),
    (FasTable, "matching", MATCHINGS),
    (FasTable, "cost_model", COST_MODELS),
    (FasTable, "architecture", ARCHITECTURES),
], ids=lambda value: value if isinstance(value, str) else getattr(value, "__name__", None))
def test_every_choice_comes_from_its_registry(table, key, registry_of_names):
    """A table's choices are exactly its registry's names: accepted one by one, nothing else listed."""
    rule = rule_of(table, key)
    assert choices(rule) == sorted(registry_of_names)
    for name in registry_of_names:
        assert rule.check(name), (key, name)
    assert not rule.check("no-such-" + key)


def test_every_choice_key_of_the_tables_is_covered():
    """Every ``one of`` key of the core and FAS tables is in the test above (so that a new choice is checked too)."""
    covered = {("TrainTable", "optimizer"), ("HierarchyTable", "strategy"), ("HierarchyTable", "p_method"),
               ("HierarchyTable", "schedule"), ("HierarchyTable", "start"), ("HierarchyTable", "stage"), ("ModelTable", "activation"), ("ModelTable", "output_activation"),
               ("FasTable", "transfer"), ("FasTable", "order"), ("FasTable", "cost_model"), ("FasTable", "architecture"),
               ("FasTable", "projection"), ("FasTable", "matching")}
    found = {(table.__name__, field.name) for table in (*TABLES.values(), FasTable) for field in dataclasses.fields(table)
             if field.metadata["rule"].text.startswith("one of ")}
    assert found == covered


def test_core_tables_and_their_defaults_are_valid():
    assert CORE_TABLES == ("data", "model", "hierarchy", "train")
    assert TABLES == {"model": ModelTable, "hierarchy": HierarchyTable, "train": TrainTable}
    for table in (*TABLES.values(), FasTable):
        instance = table()
        for field in dataclasses.fields(table):
            rule, value = field.metadata["rule"], getattr(instance, field.name)
            assert rule.check is None or rule.check(value), (table.__name__, field.name, value)
