"""Saving/loading maps and the ``graphprolong`` command line."""

import json
import subprocess
import sys

import numpy as np
import pytest

from graphprolong import ProlongationProblem, cycle_graph, initial_point, path_graph, solve, spectral_prolongation, structured_matrices
from graphprolong.cli import main
from graphprolong.io import load_prolongation, save_prolongation
from .torch_available import needs_torch


def test_save_load_round_trip(tmp_path):
    P = spectral_prolongation(ProlongationProblem(path_graph(4), path_graph(8), s=0))
    path = save_prolongation(tmp_path / "p.npz", P, metadata={"s": 0.0, "method": "spectral"})
    loaded, metadata = load_prolongation(path)
    np.testing.assert_array_equal(loaded, P)
    assert metadata["method"] == "spectral" and metadata["shape"] == [8, 4]
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_corrupt_file_is_detected_and_an_interrupted_write_keeps_the_old_file(tmp_path):
    P = np.eye(6, 3)
    path = save_prolongation(tmp_path / "p.npz", P, metadata={})
    good = path.read_bytes()

    def failing_write(file):
        file.write(b"partial")
        raise OSError("disk full")

    from graphprolong.io import atomic_write_bytes

    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, failing_write)
    assert path.read_bytes() == good
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="not a readable prolongation file"):
        load_prolongation(path)


def test_tampered_matrix_fails_its_checksum(tmp_path):
    path = tmp_path / "p.npz"
    save_prolongation(path, np.eye(4, 2), metadata={})
    with np.load(path) as data:
        metadata = str(data["metadata"])
    np.savez(path, P=np.eye(4, 2)[::-1].copy(), metadata=np.array(metadata))
    with pytest.raises(ValueError, match="checksum"):
        load_prolongation(path)


def test_cli_solve_writes_p_and_metadata(tmp_path, capsys):
    output = tmp_path / "P.npz"
    status = main(["solve", "--small", "cycle:6", "--large", "cycle:12", "--s", "0", "-o", str(output)])
    assert status == 0
    P, metadata = load_prolongation(output)
    assert P.shape == (12, 6)
    assert metadata["small"] == "cycle:6" and metadata["method"] == "optimize" and metadata["s"] == 0.0
    assert metadata["diffusion"] < 1e-12 * 12 * 6
    assert {"alpha", "beta", "objective", "locality", "version", "iterations"} <= set(metadata)
    printed = capsys.readouterr().out
    assert "objective E" in printed and str(output) in printed


def test_cli_spectral_method_and_edge_list(tmp_path):
    edges = tmp_path / "g.txt"
    edges.write_text("# a weighted path\n0 1 1.0\n1 2 2.0\n2 3\n")
    output = tmp_path / "P.npz"
    assert main(["solve", "--small", "path:2", "--large", str(edges), "--s", "0", "--method", "spectral", "-o", str(output)]) == 0
    P, metadata = load_prolongation(output)
    assert P.shape == (4, 2) and metadata["method"] == "spectral"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--small", "path:8", "--large", "path:4", "--s", "0"], "n_large >= n_small"),
        (["--small", "path:4", "--large", "path:8", "--s", "2"], r"s must lie in \[0, 1\]"),
        (["--small", "star:4", "--large", "path:8", "--s", "0"], "unknown graph spec 'star:4'.*valid forms are: path:N"),
        (["--small", "path:4", "--large", "path:8", "--s", "0", "--optimizer", "adam"], "invalid choice: 'adam'"),
        (["--small", "path:4", "--large", "path:8", "--s", "x"], "invalid float value"),
        (["--small", "path:4", "--large", "path:8", "--s", "1", "--backend", "torch", "--device", "gpu"], "unknown device 'gpu'; valid devices are: auto, cpu, cuda"),
        (["--small", "path:4", "--large", "grid:4x4", "--s", "1", "--init", "box-matching"], r"same number of axes; got G_small of shape \(4,\) and G_large of shape \(4, 4\)"),
    ],
)
def test_cli_bad_input_is_one_line_and_status_2(tmp_path, arguments, message):
    completed = subprocess.run(
        [sys.executable, "-m", "graphprolong.cli", "solve", *arguments, "-o", str(tmp_path / "P.npz")],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in completed.stderr, completed.stderr
    import re

    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "P.npz").exists()


def test_cli_disconnected_edge_list_is_reported(tmp_path, capsys):
    edges = tmp_path / "two.txt"
    edges.write_text("0 1\n2 3\n")
    assert main(["solve", "--small", "path:2", "--large", str(edges), "--s", "0", "-o", str(tmp_path / "P.npz")]) == 2
    assert "2 connected components" in capsys.readouterr().err


def test_help_documents_the_solve_command(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["solve", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for word in ("--small", "--large", "--s", "--method", "--seed", "path:N", "grid:AxB"):
        assert word in text


def test_importing_graphprolong_does_not_import_torch():
    """torch is an optional backend of graphprolong (pymanopt would import it eagerly)."""
    code = "import sys, graphprolong, graphprolong.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ---------------------------------------------------------------------------
# graphprolong recipes list | verify


def test_cli_recipes_list_has_one_line_per_recipe(capsys):
    from graphprolong.recipes import RECIPES

    assert main(["recipes", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["name", "lineage", "size"] and set(lines[1]) <= {"-", " "}
    rows = {line.split()[0]: line for line in lines[2:]}
    assert list(rows) == list(RECIPES)
    for name, recipe in RECIPES.items():
        assert recipe.lineage in rows[name] and recipe.size_rule in rows[name]
        assert f"  {recipe.s:g}  {recipe.version}  " in rows[name]
    # Only the description's first sentence.
    assert rows["path-fold"].endswith("non-local.") and "2/pi" in rows["path-interpolation"]


def test_cli_recipes_verify_quick_passes_and_prints_the_table(tmp_path, capsys):
    output = tmp_path / "verify.json"
    assert main(["recipes", "verify", "--quick", "--json", str(output)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    header = lines[0].split()
    assert header[0] == "recipe" and header[-1] == "ok" and "rel." in header and "E_fresh" in header
    from graphprolong.recipes import RECIPES

    rows = [line.split() for line in lines[2 : 2 + len(RECIPES)]]
    assert [row[0] for row in rows] == list(RECIPES) and all(row[-1] == "True" for row in rows)
    assert f"all {len(RECIPES)} checks passed" in captured.out
    assert "path-interpolation 8 -> 16" in captured.err  # progress with timings
    payload = json.loads(output.read_text())
    assert payload["passed"] is True and len(payload["reports"]) == len(RECIPES)
    by_name = {report["recipe"]: report for report in payload["reports"]}
    # The 1-D cases (n_large = 16 <= 16) were compared with a fresh optimisation, which the recipe matches or beats.
    fold = by_name["path-interpolation"]
    assert fold["fresh_objective"] is not None and fold["objective"] <= fold["fresh_objective"] + 1e-9 * fold["objective"]
    assert by_name["grid-interpolation"]["fresh_skipped"].startswith("n_large = 36 > max_optimisation_size = 16")
    assert all(report["relative_gradient"] <= 1e-6 and report["orthonormality_error"] < 1e-10 for report in payload["reports"])


def test_cli_recipes_verify_selects_names_and_sizes(capsys):
    status = main(["recipes", "verify", "--names", "cycle-cover,grid-fold", "--sizes", "2,5", "--grid-sizes", "2x3", "--no-fresh"])
    assert status == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()[2:4]]
    assert [(row[0], row[1], row[3], row[-1]) for row in rows] == [("cycle-cover", "5", "10", "True"), ("grid-fold", "2x3", "24", "True")]
    assert all(row[-4] == "-" for row in rows)  # E_fresh: not requested
    assert "skipped cycle-cover at size 2" in out and "side lengths >= 3" in out


def test_cli_recipes_verify_exits_1_when_a_recipe_fails(monkeypatch, capsys):
    """A deliberately wrong recipe: the piecewise-constant map is not a critical point at s = 1 (beta optimised)."""
    from graphprolong.recipes import RECIPES, Recipe, piecewise_constant

    wrong = Recipe("path-piecewise-constant", piecewise_constant, "path", "n -> 2n", 1.0, "test", "Not a minimiser.")
    monkeypatch.setitem(RECIPES, wrong.name, wrong)
    status = main(["recipes", "verify", "--names", "path-piecewise-constant,path-fold", "--sizes", "8", "--no-fresh"])
    assert status == 1
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:4]}
    assert rows["path-piecewise-constant"][-1] == "False" and rows["path-fold"][-1] == "True"
    assert "FAILED: 1 of 2 checks (path-piecewise-constant 8)" in out


def test_cli_recipes_verify_bad_input_is_status_2(capsys):
    assert main(["recipes", "verify", "--names", "path-magic"]) == 2
    assert "unknown recipe 'path-magic'; valid recipes are: cycle-cover" in capsys.readouterr().err
    assert main(["recipes", "verify", "--sizes", "8,x"]) == 2
    assert "--sizes must be comma-separated small sizes like '4,8,16'" in capsys.readouterr().err
    assert main(["recipes", "verify", "--names", "cycle-cover", "--sizes", "2"]) == 2
    assert "no (recipe, size) pair to verify: skipped cycle-cover at size 2" in capsys.readouterr().err


@needs_torch
def test_cli_solve_with_the_torch_backend_on_structured_grids(tmp_path, capsys):
    output = tmp_path / "P.npz"
    arguments = ["--s", "0.5", "--beta", "0.25", "--backend", "torch", "--device", "cpu", "--init", "box-matching", "--max-iterations", "40"]
    assert main(["solve", "--small", "grid:3x3", "--large", "grid:6x6", *arguments, "-o", str(output)]) == 0
    P, metadata = load_prolongation(output)
    problem = ProlongationProblem(structured_matrices("grid", (3, 3)), structured_matrices("grid", (6, 6)), s=0.5, beta=0.25)
    expected = solve(problem, backend="torch", device="cpu", init="box-matching", max_iterations=40, rng=0)
    np.testing.assert_allclose(P, expected.P, atol=1e-12)
    assert metadata["structured"] is True and metadata["solve"]["backend"] == "torch" and metadata["solve"]["init"] == "box-matching"
    assert metadata["objective"] == pytest.approx(expected.objective, rel=1e-12)
    assert metadata["objective"] < problem.objective(initial_point(problem, "box-matching", rng=np.random.default_rng(0)))
    assert "torch backend on cpu, float64, from box-matching" in capsys.readouterr().out


def test_cli_device_cuda_without_cuda_is_one_line_and_status_2(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    for command in (["solve", "--small", "path:4", "--large", "path:8", "--s", "1"], ["export", "--lineage", "path", "--sizes", "4,8", "--s", "0.5"]):
        completed = subprocess.run(
            [sys.executable, "-m", "graphprolong.cli", *command, "--backend", "torch", "--device", "cuda", "-o", str(tmp_path / "P.npz")],
            capture_output=True, text=True, check=False,
        )
        assert completed.returncode == 2 and completed.stdout == ""
        assert len(completed.stderr.strip().splitlines()) == 1 and "sees no CUDA device" in completed.stderr
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- issue 11: NaN maps, stale temporaries


def _nan_map() -> np.ndarray:
    P = np.eye(6, 3)
    P[2, 1] = np.nan
    return P


def test_a_nan_map_with_a_valid_checksum_is_refused_naming_the_file(tmp_path):
    path = save_prolongation(tmp_path / "p.npz", _nan_map(), metadata={})
    with pytest.raises(ValueError, match=r"p\.npz: P must have finite entries \(no NaN or inf\); found 1 non-finite of 18"):
        load_prolongation(path)


def test_a_factored_map_with_an_infinite_factor_is_refused(tmp_path):
    from graphprolong.kronecker import KroneckerMap

    path = save_prolongation(tmp_path / "k.npz", KroneckerMap([np.eye(2, 1), np.eye(4, 2)]), metadata={})
    with np.load(path) as data:
        arrays = dict(data)
    arrays["P_part_1"] = arrays["P_part_1"].copy()
    arrays["P_part_1"][0, 0] = np.inf
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"k\.npz .*factor 1 must have finite entries; found 1 non-finite of 8"):
        load_prolongation(path)


def test_a_nan_orthonormality_error_fails_the_rule(monkeypatch):
    """NaN compares false with everything: the rule must be 'not error <= tolerance', not 'error > tolerance'."""
    import graphprolong.io

    monkeypatch.setattr(graphprolong.io, "orthonormality_error", lambda P: float("nan"))
    with pytest.raises(ValueError, match=r"src: P must have orthonormal columns .*; got \|\|P\^T P - I\|\|_F = nan"):
        graphprolong.io.check_map_values("src", np.eye(2, 1))


def test_metadata_that_is_a_json_list_is_refused_naming_the_file(tmp_path):
    np.savez(tmp_path / "p.npz", P=np.eye(4, 2), metadata=np.array(json.dumps([1, 2])))
    with pytest.raises(ValueError, match=r"p\.npz: the metadata must be a JSON object; got a JSON array"):
        load_prolongation(tmp_path / "p.npz")


def test_plot_heatmap_refuses_a_nan_map_and_writes_nothing(tmp_path, capsys):
    path = save_prolongation(tmp_path / "p.npz", _nan_map(), metadata={})
    assert main(["plot", "heatmap", "--input", str(path), "-o", str(tmp_path / "p.png")]) == 2
    assert "P must have finite entries" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()


def test_a_write_that_fails_names_the_target_not_the_temporary(tmp_path):
    from graphprolong.io import atomic_write_bytes

    target = tmp_path / "sub" / "p.npz"

    def failing(file):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match=r"No space left on device \(writing .*sub/p\.npz\)"):
        atomic_write_bytes(target, failing)
    assert list((tmp_path / "sub").iterdir()) == []
    if __import__("pathlib").Path("/proc").is_dir():
        with pytest.raises(OSError, match=r"\(writing /proc/graphprolong-p\.npz\)") as raised:
            atomic_write_bytes("/proc/graphprolong-p.npz", lambda file: file.write(b"x"))
        assert ".tmp" not in str(raised.value)


def test_stale_temporaries_of_the_same_target_are_removed_by_the_next_write(tmp_path):
    import fcntl
    import os

    def temporary(name, *, age):
        path = tmp_path / name
        path.write_bytes(b"partial")
        os.utime(path, (time_now - age, time_now - age))
        return path

    import time

    time_now = time.time()
    stale = temporary(".p.npz.abcd_123.tmp", age=3600)
    fresh = temporary(".p.npz.zzzz9999.tmp", age=-60)  # written after this process started: maybe a live writer's
    other_target = temporary(".q.npz.abcd1234.tmp", age=3600)
    not_ours = temporary(".p.npz.notmkstemp-name.tmp", age=3600)
    held = temporary(".p.npz.held0000.tmp", age=3600)
    with open(held, "rb") as file:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX)  # a live writer holds it
        save_prolongation(tmp_path / "p.npz", np.eye(4, 2), metadata={})
    assert not stale.exists()
    assert fresh.exists() and other_target.exists() and not_ours.exists() and held.exists()
    load_prolongation(tmp_path / "p.npz")


def test_an_unreadable_edge_list_is_invalid_input_naming_the_file(tmp_path, monkeypatch, capsys):
    """Permissions cannot make a file unreadable for root, so the read itself fails here."""
    from pathlib import Path

    edges = tmp_path / "g.txt"
    edges.write_text("0 1\n")

    def unreadable(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", unreadable)
    assert main(["solve", "--small", "path:2", "--large", str(edges), "--s", "0", "-o", str(tmp_path / "P.npz")]) == 2
    assert f"cannot read the edge-list file {edges}: Permission denied" in capsys.readouterr().err
