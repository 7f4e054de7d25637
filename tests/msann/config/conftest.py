"""Fixtures of the recipe tests: an isolated method registry, fake data sets, a fake method with its own table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from msann.config import data_options
from msann.methods import registry as method_registry
from msann.methods.registry import MethodSpec, register_method
from msann.options import at_least, option, positive


def toy(*, length: int = 16, noise: float = 0.05, run_length: int | None = None, kind: str = "fire",
        n_train: int = 100, seed: int = 0):
    """A stand-in loader: keyword-only options with defaults, as msann.data's."""
    raise AssertionError("config validation must not load data")


def files(*, path: str, shape: Sequence[int] | None = None, seed: int = 0):
    """A stand-in loader with a required option."""
    raise AssertionError("config validation must not load data")


@pytest.fixture(autouse=True)
def isolated_methods(monkeypatch):
    """Each test sees only the ``msann`` method (and the core tables).

    Importing :mod:`msann.methods` registers the built-in ``fas`` method and
    its ``[fas]`` table; the messages checked here list the registered methods
    and tables, so every other method is taken out of the one registry (the
    dict itself is mutated: :data:`msann.methods.METHODS` and the recipe
    module's ``METHODS`` are the same object) and put back afterwards.
    """
    methods = method_registry.METHODS
    monkeypatch.setitem(methods, "msann", methods["msann"])  # put back as it is, should a test replace it
    for name in [name for name in methods if name != "msann"]:
        monkeypatch.delitem(methods, name)
    yield
    for name in [name for name in methods if name != "msann"]:
        del methods[name]  # methods a test registered; monkeypatch then puts the built-in ones back


@pytest.fixture
def registry(monkeypatch):
    """Fake data sets ``toy`` and ``files`` that ``[data]`` is validated against."""
    datasets = {"toy": toy, "files": files}
    monkeypatch.setattr(data_options, "DATASETS", datasets)
    return datasets


@dataclass(frozen=True)
class FakeFasTable:
    """A method's own table, declared as the real ones are."""

    tau: float = option(1.0, positive(), "a weight")
    sweeps: int = option(2, at_least(1, integer=True), "sweeps per visit")


def _build(run, dataset, device):
    raise AssertionError("config validation must not build a method")


def _check(run):
    if run.extra["fas"].sweeps > run.hierarchy.k:
        raise ValueError(f"[fas] sweeps must be <= [hierarchy] k = {run.hierarchy.k}; got {run.extra['fas'].sweeps}")


def _check_data(run, *, dimension, unit_shape, target_shape=None):
    if dimension % 4:
        raise ValueError(f"[fas] needs a dimension divisible by 4; got {dimension}")


@pytest.fixture
def fas_method():
    """A fake ``fas`` method with a ``[fas]`` table, registered through the public call (``isolated_methods`` removes it)."""
    spec = MethodSpec(build=_build, tables={"fas": FakeFasTable}, check=_check, check_data=_check_data)
    register_method("fas", spec)
    return spec
