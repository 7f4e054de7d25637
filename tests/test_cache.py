"""The content-addressed cache of prolongation maps."""

import logging
import multiprocessing

import numpy as np
import pytest

import graphprolong.cache as cache
from graphprolong import cycle_graph, get_prolongation, path_graph
from graphprolong.io import load_prolongation


def _count_computations(monkeypatch):
    calls = []
    original = cache._compute

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(cache, "_compute", counting)
    return calls


def test_second_call_is_served_from_the_cache(tmp_path, monkeypatch, caplog):
    calls = _count_computations(monkeypatch)
    first = get_prolongation(path_graph(4), path_graph(8), s=0.5, cache_dir=tmp_path, max_iterations=30)
    with caplog.at_level(logging.DEBUG, logger="graphprolong.cache"):
        second = get_prolongation(path_graph(4), path_graph(8), s=0.5, cache_dir=tmp_path, max_iterations=30)
    np.testing.assert_array_equal(first, second)
    assert len(calls) == 1
    assert any("cache hit" in record.message for record in caplog.records)
    assert len(list(tmp_path.glob("*.npz"))) == 1


def test_every_parameter_and_the_graphs_are_part_of_the_key(tmp_path, monkeypatch):
    calls = _count_computations(monkeypatch)
    base = {"s": 0.5, "cache_dir": tmp_path, "max_iterations": 20}
    get_prolongation(path_graph(4), path_graph(8), **base)
    get_prolongation(path_graph(4), cycle_graph(8), **base)
    get_prolongation(path_graph(4), path_graph(8), **{**base, "s": 0.6})
    get_prolongation(path_graph(4), path_graph(8), **{**base, "seed": 1})
    get_prolongation(path_graph(4), path_graph(8), **{**base, "beta": 0.5})
    get_prolongation(path_graph(4), path_graph(8), **{**base, "max_iterations": 21})
    weighted = path_graph(8)
    weighted.edges[0, 1]["weight"] = 2.0
    get_prolongation(path_graph(4), weighted, **base)
    assert len(calls) == 7
    assert len(list(tmp_path.glob("*.npz"))) == 7


def test_corrupt_entry_is_reported_and_recomputed(tmp_path):
    P = get_prolongation(cycle_graph(4), cycle_graph(8), s=0.0, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unusable"):
        again = get_prolongation(cycle_graph(4), cycle_graph(8), s=0.0, cache_dir=tmp_path)
    np.testing.assert_allclose(again, P)
    load_prolongation(entry)  # rewritten whole


def test_environment_variable_chooses_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENVIRONMENT_VARIABLE, str(tmp_path / "env"))
    get_prolongation(path_graph(2), path_graph(4), s=0.0)
    assert len(list((tmp_path / "env").glob("*.npz"))) == 1
    assert cache.cache_directory(tmp_path / "arg") == tmp_path / "arg"


def _writer(folder, barrier):
    barrier.wait()
    get_prolongation(path_graph(6), path_graph(12), s=0.3, cache_dir=folder, max_iterations=40)


def test_two_processes_writing_the_same_key_leave_a_good_file(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=_writer, args=(tmp_path, barrier)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    (entry,) = tmp_path.glob("*.npz")
    P, metadata = load_prolongation(entry)
    assert P.shape == (12, 6) and metadata["s"] == 0.3
    assert not list(tmp_path.glob(".*.tmp"))


def test_bad_method_and_unserialisable_options(tmp_path):
    with pytest.raises(ValueError, match="valid methods are: auto, optimize, spectral"):
        get_prolongation(path_graph(2), path_graph(4), s=0.0, method="magic", cache_dir=tmp_path)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        get_prolongation(path_graph(2), path_graph(4), s=0.5, init=np.eye(4, 2), cache_dir=tmp_path)
