"""The content-addressed cache of prolongation maps."""

import dataclasses
import logging
import multiprocessing

import networkx as nx
import numpy as np
import pytest

import graphprolong.cache as cache
from graphprolong import ProlongationProblem, cycle_graph, eigenvalue_matching, get_prolongation, grid_graph, path_graph, spectral_prolongation, spectrum, structured_matrices
from graphprolong.io import load_prolongation
from graphprolong.recipes import RECIPES, objective_lower_bound, recipe_prolongation
from .torch_available import needs_torch


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
    with pytest.raises(ValueError, match="valid methods are: auto, optimize, recipe, spectral"):
        get_prolongation(path_graph(2), path_graph(4), s=0.0, method="magic", cache_dir=tmp_path)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        get_prolongation(path_graph(2), path_graph(4), s=0.5, init=np.eye(4, 2), cache_dir=tmp_path)
    with pytest.raises(TypeError, match="solve options that graphprolong.solve does not take: iterations, speed; valid options are: backend, "):
        get_prolongation(path_graph(2), path_graph(4), s=0.5, iterations=3, speed=1, cache_dir=tmp_path)
    assert not list(tmp_path.glob("*.npz"))


def test_solver_defaults_spelled_out_or_left_out_share_an_entry(tmp_path, monkeypatch):
    calls = _count_computations(monkeypatch)
    _, implicit = get_prolongation(path_graph(4), path_graph(8), s=0.5, cache_dir=tmp_path, return_metadata=True)
    _, explicit = get_prolongation(path_graph(4), path_graph(8), s=0.5, cache_dir=tmp_path, return_metadata=True,
                                   max_iterations=500, optimizer="trust-regions", backend="analytic", init="matching", seed=0)
    assert implicit["key"] == explicit["key"] and len(calls) == 1
    assert implicit["solve"]["max_iterations"] == 500 and implicit["solve"]["rng"] == 0


# ---------------------------------------------------------------------------
# method="recipe" and the recipes chosen by method="auto"


@pytest.mark.parametrize(
    ("name", "G_small", "G_large", "s"),
    [
        ("path-interpolation", path_graph(6), path_graph(12), 1.0),
        ("cycle-cover", cycle_graph(4), cycle_graph(8), 0.0),
        ("path-fold", path_graph(5), path_graph(10), 0.0),
        ("grid-interpolation", grid_graph((3, 2)), grid_graph((6, 4)), 1.0),
        ("grid-periodic-interpolation", grid_graph((3, 3), periodic=True), grid_graph((6, 6), periodic=True), 1.0),
    ],
)
def test_recipe_method_returns_the_recipe_map(tmp_path, name, G_small, G_large, s):
    P, metadata = get_prolongation(G_small, G_large, s=s, method="recipe", recipe=name, cache_dir=tmp_path, return_metadata=True)
    np.testing.assert_array_equal(P, recipe_prolongation(name, G_small, G_large))
    assert metadata["method"] == "recipe" and metadata["recipe"]["name"] == name
    assert metadata["recipe"]["version"] == RECIPES[name].version
    # The recipe's problem (its own scale factors) is what the entry records, and P is its exact minimiser.
    problem = ProlongationProblem(G_small, G_large, s=s, alpha=metadata["alpha"], beta=metadata["beta"])
    assert abs(problem.objective(P) - metadata["objective"]) <= 1e-12 * max(1.0, metadata["objective"])
    assert metadata["objective"] <= objective_lower_bound(problem) + 1e-9 * max(1.0, metadata["objective"])


def test_cache_key_differs_between_recipes_and_recipe_versions(tmp_path, monkeypatch):
    calls = _count_computations(monkeypatch)
    G_small, G_large = path_graph(4), path_graph(8)
    fold, fold_entry = get_prolongation(G_small, G_large, s=0.0, method="recipe", recipe="path-fold", cache_dir=tmp_path, return_metadata=True)
    spectral, spectral_entry = get_prolongation(G_small, G_large, s=0.0, method="recipe", recipe="path-spectral", cache_dir=tmp_path, return_metadata=True)
    assert fold_entry["key"] != spectral_entry["key"]
    assert not np.allclose(np.abs(fold), np.abs(spectral))  # different maps, both exact minimisers (E = 0)
    monkeypatch.setitem(RECIPES, "path-fold", dataclasses.replace(RECIPES["path-fold"], version="2"))
    _, bumped = get_prolongation(G_small, G_large, s=0.0, method="recipe", recipe="path-fold", cache_dir=tmp_path, return_metadata=True)
    assert bumped["key"] not in (fold_entry["key"], spectral_entry["key"]) and bumped["recipe"]["version"] == "2"
    assert len(calls) == 3 and len(list(tmp_path.glob("*.npz"))) == 3


def test_second_recipe_call_is_served_from_the_cache(tmp_path, monkeypatch, caplog):
    calls = _count_computations(monkeypatch)
    arguments = {"s": 1.0, "method": "recipe", "recipe": "cycle-interpolation", "cache_dir": tmp_path}
    first = get_prolongation(cycle_graph(6), cycle_graph(12), **arguments)
    with caplog.at_level(logging.DEBUG, logger="graphprolong.cache"):
        second = get_prolongation(cycle_graph(6), cycle_graph(12), **arguments)
    np.testing.assert_array_equal(first, second)
    assert len(calls) == 1
    hits = [record.getMessage() for record in caplog.records if "cache hit" in record.getMessage()]
    assert len(hits) == 1 and "recipe cycle-interpolation v1" in hits[0]


def test_auto_picks_the_interpolation_recipe_at_s1_and_spectral_at_s0(tmp_path, monkeypatch):
    calls = _count_computations(monkeypatch)
    P, metadata = get_prolongation(path_graph(6), path_graph(12), s=1.0, cache_dir=tmp_path, return_metadata=True)
    assert metadata["method"] == "recipe" and metadata["recipe"]["name"] == "path-interpolation"
    np.testing.assert_array_equal(P, recipe_prolongation("path-interpolation", path_graph(6), path_graph(12)))
    # The explicit request resolves to the same entry: no second computation.
    again = get_prolongation(path_graph(6), path_graph(12), s=1.0, method="recipe", cache_dir=tmp_path)
    np.testing.assert_array_equal(again, P)
    _, grid = get_prolongation(grid_graph((3, 3)), grid_graph((6, 6)), s=1.0, cache_dir=tmp_path, return_metadata=True)
    assert grid["recipe"]["name"] == "grid-interpolation" and grid["beta"] == pytest.approx(9 / (2 * 36))
    _, spectral = get_prolongation(path_graph(6), path_graph(12), s=0.0, cache_dir=tmp_path, return_metadata=True)
    assert spectral["method"] == "spectral" and "recipe" not in spectral
    assert [call[1] for call in calls] == ["recipe", "recipe", "spectral"]


def test_auto_optimises_when_no_recipe_gives_the_optimum(tmp_path):
    options = {"cache_dir": tmp_path, "max_iterations": 20, "return_metadata": True}
    assert get_prolongation(path_graph(4), path_graph(8), s=0.5, **options)[1]["method"] == "optimize"  # no recipe at s = 0.5
    assert get_prolongation(path_graph(4), cycle_graph(8), s=1.0, **options)[1]["method"] == "optimize"  # mixed lineage
    # path-interpolation is the optimum at the optimal beta (~0.2486), not at a fixed beta = 0.25.
    assert get_prolongation(path_graph(4), path_graph(8), s=1.0, beta=0.25, **options)[1]["method"] == "optimize"


def test_matching_recipes_compares_adjacency_not_only_sizes():
    shuffled = nx.relabel_nodes(path_graph(8), {v: (3 * v) % 8 for v in range(8)})  # a path, not in canonical order
    assert cache.matching_recipes(path_graph(4), shuffled, s=1.0) == []
    assert cache.matching_recipes(path_graph(4), path_graph(9), s=1.0) == []  # breaks n -> 2n
    assert [r.name for r in cache.matching_recipes(cycle_graph(4), cycle_graph(8), s=0.0)] == ["cycle-spectral", "cycle-cover"]
    assert [r.name for r in cache.matching_recipes(path_graph(4), path_graph(8), s=1.0, beta=0.25)] == []


def test_recipe_errors_list_the_names_and_candidates(tmp_path):
    arguments = {"cache_dir": tmp_path}
    with pytest.raises(ValueError, match="unknown recipe 'path-magic'; valid recipes are: cycle-cover, .*path-interpolation, path-spectral"):
        get_prolongation(path_graph(4), path_graph(8), s=1.0, method="recipe", recipe="path-magic", **arguments)
    with pytest.raises(ValueError, match=r"no registered recipe gives the optimum at s = 0.5.*path-fold \(path, n -> 2n, s = 0\): targets s = 0.*path-interpolation"):
        get_prolongation(path_graph(4), path_graph(8), s=0.5, method="recipe", **arguments)
    with pytest.raises(ValueError, match="no registered recipe fits these graphs .*registered recipes: path-fold"):
        get_prolongation(path_graph(4), cycle_graph(8), s=1.0, method="recipe", **arguments)
    with pytest.raises(ValueError, match="recipe 'path-interpolation' is the optimum at s = 1; got s = 0"):
        get_prolongation(path_graph(4), path_graph(8), s=0.0, method="recipe", recipe="path-interpolation", **arguments)
    with pytest.raises(ValueError, match="needs G_small to be a cycle graph"):
        get_prolongation(path_graph(4), path_graph(8), s=1.0, method="recipe", recipe="cycle-interpolation", **arguments)
    with pytest.raises(ValueError, match=r"G_large must have shape \(8,\); got \(10,\)"):
        get_prolongation(path_graph(4), path_graph(10), s=1.0, method="recipe", recipe="path-interpolation", **arguments)
    with pytest.raises(ValueError, match="it fixes beta = 0.125, but beta = 0.2 was requested"):
        get_prolongation(grid_graph((3, 3)), grid_graph((6, 6)), s=1.0, beta=0.2, method="recipe", **arguments)
    with pytest.raises(ValueError, match="needs method='recipe'"):
        get_prolongation(path_graph(4), path_graph(8), s=1.0, method="spectral", recipe="path-interpolation", **arguments)
    assert not list(tmp_path.glob("*.npz"))


# ---------------------------------------------------------------------------
# Grids given as structured matrices (the torch backend's input for large grids)


@pytest.mark.parametrize(("kind", "shape"), [("grid", (3, 4)), ("grid:periodic", (3, 5)), ("grid", (1, 1, 3)), ("path", 7), ("cycle", 6)])
def test_structured_matrices_and_networkx_graphs_share_a_key(kind, shape):
    structured = structured_matrices(kind, shape)
    graph = {"path": path_graph, "cycle": cycle_graph}[kind](shape) if kind in ("path", "cycle") else grid_graph(shape, periodic=kind == "grid:periodic")
    parameters = {"s": 1.0}
    assert cache.cache_key(structured, structured, parameters) == cache.cache_key(graph, graph, parameters)
    other = structured_matrices("cycle" if kind == "path" else "path" if kind == "cycle" else "grid:periodic" if kind == "grid" else "grid", shape)
    assert cache.cache_key(structured, structured, parameters) != cache.cache_key(other, other, parameters)


@pytest.mark.parametrize(("s", "method", "name"), [(1.0, "auto", "grid-interpolation"), (0.0, "recipe", "grid-fold"), (0.0, "recipe", "grid-spectral")])
def test_structured_grid_map_is_served_for_the_networkx_grid(tmp_path, monkeypatch, caplog, s, method, name):
    calls = _count_computations(monkeypatch)
    small, large = (4, 3), (8, 6)
    arguments = {"s": s, "method": method, "recipe": name if method == "recipe" else None, "cache_dir": tmp_path, "return_metadata": True}
    P, metadata = get_prolongation(structured_matrices("grid", small), structured_matrices("grid", large), **arguments)
    assert metadata["recipe"]["name"] == name
    np.testing.assert_array_equal(P, recipe_prolongation(name, grid_graph(small), grid_graph(large)))
    problem = ProlongationProblem(grid_graph(small), grid_graph(large), s=s, alpha=metadata["alpha"], beta=metadata["beta"])
    assert metadata["objective"] == pytest.approx(problem.objective(P), rel=1e-10, abs=1e-12)
    with caplog.at_level(logging.DEBUG, logger="graphprolong.cache"):
        again = get_prolongation(grid_graph(small), grid_graph(large), **arguments)[0]
    np.testing.assert_array_equal(again, P)
    assert len(calls) == 1 and any("cache hit" in record.getMessage() for record in caplog.records)


@needs_torch
def test_structured_grid_optimised_with_the_torch_backend_from_the_box_matching(tmp_path):
    small, large = structured_matrices("grid", (3, 3)), structured_matrices("grid", (6, 6))
    options = {"backend": "torch", "device": "cpu", "init": "box-matching", "max_iterations": 40}
    P, metadata = get_prolongation(small, large, s=0.5, beta=0.25, method="optimize", cache_dir=tmp_path, return_metadata=True, **options)
    problem = ProlongationProblem(grid_graph((3, 3)), grid_graph((6, 6)), s=0.5, beta=0.25)
    start = np.kron(*[eigenvalue_matching(spectrum(path_graph(3))[0], spectrum(path_graph(6))[0]).matrix] * 2)
    assert np.abs(P.T @ P - np.eye(9)).max() < 1e-12
    assert metadata["solve"]["init"] == "box-matching" and metadata["iterations"] >= 1
    assert metadata["objective"] == pytest.approx(problem.objective(P), rel=1e-10)
    assert metadata["objective"] < problem.objective(start)


def test_structured_recipe_errors_name_the_lineage(tmp_path):
    with pytest.raises(ValueError, match=r"recipe 'grid-interpolation' needs G_small to be a grid graph .*structured_matrices\('grid', shape\).*got grid:3x3:periodic"):
        get_prolongation(structured_matrices("grid:periodic", (3, 3)), structured_matrices("grid:periodic", (6, 6)), s=1.0,
                         method="recipe", recipe="grid-interpolation", cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"G_large must have shape \(6, 6\); got \(6, 8\)"):
        get_prolongation(structured_matrices("grid", (3, 3)), structured_matrices("grid", (6, 8)), s=1.0, method="recipe", cache_dir=tmp_path,
                         recipe="grid-interpolation")
    # a structured cycle is also the 1-D periodic grid (as grid_graph((n,), periodic=True) is); the cycle recipes come first
    found = [r.name for r in cache.matching_recipes(structured_matrices("cycle", 4), structured_matrices("cycle", 8), s=0.0)]
    assert found == ["cycle-spectral", "grid-periodic-spectral", "cycle-cover", "grid-periodic-cover"]
    assert not list(tmp_path.glob("*.npz"))


def test_spectral_map_of_a_structured_grid_has_its_own_entry(tmp_path):
    # U2 M U1^T depends on the eigenbasis in repeated eigenvalues (Kronecker factors vs eigh of L): two entries, both exact.
    arguments = {"s": 0.0, "method": "spectral", "cache_dir": tmp_path, "return_metadata": True}
    structured, entry = get_prolongation(structured_matrices("grid", (3, 3)), structured_matrices("grid", (6, 6)), **arguments)
    graphs, graph_entry = get_prolongation(grid_graph((3, 3)), grid_graph((6, 6)), **arguments)
    assert entry["key"] != graph_entry["key"] and entry["eigenbasis"] == "kronecker-factors" and "eigenbasis" not in graph_entry
    problem = ProlongationProblem(grid_graph((3, 3)), grid_graph((6, 6)), s=0.0)
    for P in (structured, graphs):
        assert np.abs(P.T @ P - np.eye(9)).max() < 1e-12
        assert problem.terms(P).diffusion < 1e-20


def test_spectral_map_of_a_structured_path_shares_the_networkx_entry(tmp_path, monkeypatch):
    calls = _count_computations(monkeypatch)
    arguments = {"s": 0.0, "method": "spectral", "cache_dir": tmp_path}
    structured = get_prolongation(structured_matrices("cycle", 6), structured_matrices("cycle", 12), **arguments)
    graphs = get_prolongation(cycle_graph(6), cycle_graph(12), **arguments)
    np.testing.assert_array_equal(structured, graphs)
    assert len(calls) == 1
    np.testing.assert_array_equal(structured, spectral_prolongation(ProlongationProblem(cycle_graph(6), cycle_graph(12), s=0.0)))


def test_an_entry_whose_p_has_nan_is_treated_as_corrupt_and_recomputed(tmp_path):
    """A valid checksum over a NaN array must not pass as a cache hit."""
    from graphprolong.io import save_prolongation

    P = get_prolongation(cycle_graph(4), cycle_graph(8), s=0.0, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    P_nan, metadata = load_prolongation(entry)
    P_nan = P_nan.copy()
    P_nan[3, 1] = np.nan
    save_prolongation(entry, P_nan, metadata={key: value for key, value in metadata.items() if key not in ("checksum", "shape", "form")})
    with pytest.warns(UserWarning, match="unusable.*P must have finite entries"):
        again = get_prolongation(cycle_graph(4), cycle_graph(8), s=0.0, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, P)
    assert np.isfinite(load_prolongation(entry)[0]).all()  # rewritten


@pytest.mark.parametrize("s", [0.5, 1.0, 1e-9])
def test_the_spectral_method_is_the_s_0_optimum_and_refuses_other_s(tmp_path, s):
    with pytest.raises(ValueError, match=rf"method 'spectral' gives the s = 0 optimum .* needs s = 0; got s = {s:g}"):
        get_prolongation(path_graph(4), path_graph(8), s=s, method="spectral", cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())
    get_prolongation(path_graph(4), path_graph(8), s=0.0, method="spectral", cache_dir=tmp_path)
