"""A corpus of bad inputs driven through the real ``msann`` command line, in subprocesses.

Every case runs the ``msann.cli`` module as ``python -m msann.cli`` does
(this interpreter, this environment), as a process of its own in a folder of
its own, and must: exit with its documented status
(:data:`msann.cli.EXIT_STATUSES`), print exactly one line on stderr that
names the rule and the value, print no traceback, and leave every file that
existed before byte-identical.  Cases refused before any work (status 2)
must create nothing at all.  A fresh interpreter spends ~4.5 s importing
torch and graphprolong, so the cases are forked from one interpreter that
imported them once (:mod:`tests.forked_cli`); the cases of :data:`FRESH` also run in
fresh interpreters, and must behave the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from msann.cli import EXIT_STATUSES
from msann.core.checkpoint import CHECKPOINT_NAME

from ..forked_cli import completed, prepare, run_forked, snapshot

REPO = Path(__file__).resolve().parents[2]

RECIPE = """
[data]
name = "one_object"
length = 32
n_train = 64
n_val = 16

[model]
widths = [32, 8, 32]

[hierarchy]
levels = 1
gamma = 1
k = 1

[train]
batch_size = 16
eval_points = 4
cost_budget = 200.0
"""

FAS_RECIPE = 'method = "fas"\n' + RECIPE.replace("[model]\nwidths = [32, 8, 32]\n", "[fas]\narchitecture = \"fc\"\nhidden = 8\nhidden_layers = 1\n")
POISSON_FAS_RECIPE = FAS_RECIPE.replace('name = "one_object"\nlength = 32\nn_train = 64\nn_val = 16', 'name = "poisson"\nn_samples = 40\ngrid_size = 8')
NPZ_RECIPE = RECIPE.replace('name = "one_object"\nlength = 32\nn_train = 64\nn_val = 16', 'name = "npz"\npath = "data.npz"')


@dataclass
class Case:
    """One bad input: files to write, arguments, and what the one line must say."""

    argv: list[str]
    status: str
    says: list[str]
    files: dict[str, bytes | str] = field(default_factory=dict)
    never: list[str] = field(default_factory=list)
    creates_nothing: bool = True
    rlimit_file_size: int | None = None


def _npz_bytes(**arrays) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


_GOOD_NPZ = _npz_bytes(X=np.random.default_rng(0).random((40, 32)))
_RANDOM = np.random.default_rng(1).integers(0, 256, 400, dtype=np.uint8).tobytes()
_RUN = ["run", "r.toml", "--device", "cpu", "--out", "out"]

CASES: dict[str, Case] = {
    "out is a file": Case(["run", "r.toml", "--device", "cpu", "--out", "F"], "input", ["--out", "F must be a folder"],
                          {"r.toml": RECIPE, "F": "a file"}),
    "out under a file": Case(["run", "r.toml", "--device", "cpu", "--out", "F/sub"], "input",
                             ["--out", "F/sub", "is a file, not a folder"], {"r.toml": RECIPE, "F": "a file"}),
    "sweep out is a file": Case(["sweep", "r.toml", "--levels", "0,1", "--k", "1", "--gamma", "1", "--device", "cpu",
                                 "--out", "F"], "input", ["--out", "F must be a folder"], {"r.toml": RECIPE, "F": "x"}),
    "out not writable": Case(["run", "r.toml", "--device", "cpu", "--out", "/proc/msann-out"], "input",
                             ["--out", "/proc/msann-out", "not writable"], {"r.toml": RECIPE}),
    "run folders collide": Case(_RUN, "input", ["'L=0'", "'L0'", "runs/L0"], {"r.toml": RECIPE + textwrap.dedent("""
        [[runs]]
        label = "L=0"
        hierarchy = { levels = 0 }

        [[runs]]
        label = "L0"
        """)}),
    "seed -1": Case([*_RUN, "--seed", "-1"], "input", ["--seed", ">= 0", "-1"], {"r.toml": RECIPE}),
    "seed and seeds": Case([*_RUN, "--seed", "1", "--seeds", "3"], "input", ["--seed 1 and --seeds 3 exclude each other"],
                           {"r.toml": RECIPE}),
    "zero seeds": Case([*_RUN, "--seeds", "0"], "input", ["--seeds N must be >= 1", "'0'"], {"r.toml": RECIPE}),
    "seeds not a list": Case([*_RUN, "--seeds", "two"], "input", ["--seeds", "'two'"], {"r.toml": RECIPE}),
    "recipe seeds repeated": Case(_RUN, "input", ["r.toml", "seeds must be distinct", "2 appears twice", "[2, 2]"],
                                  {"r.toml": "seeds = [2, 2]\n" + RECIPE}),
    "recipe seeds negative": Case(_RUN, "input", ["r.toml", "seeds must be integers >= 0", "-1"],
                                  {"r.toml": "seeds = [0, -1]\n" + RECIPE}),
    "truncated npz": Case(_RUN, "input", ["data.npz", "truncated or corrupt"],
                          {"r.toml": NPZ_RECIPE, "data.npz": _GOOD_NPZ[: len(_GOOD_NPZ) // 2]}, never=["allow_pickle"]),
    "random bytes as npz": Case(_RUN, "input", ["data.npz", "not an .npz archive"],
                                {"r.toml": NPZ_RECIPE, "data.npz": _RANDOM}, never=["allow_pickle"]),
    "npz of Python objects": Case(_RUN, "input", ["data.npz", "array X holds Python objects"],
                                  {"r.toml": NPZ_RECIPE, "data.npz": b""}, never=["allow_pickle"]),
    "npz targets out of the sigmoid's range": Case(
        _RUN, "input", ["targets lie in [0, 255]", "output_activation = 'sigmoid'", "min-max"],
        {"r.toml": NPZ_RECIPE, "data.npz": _npz_bytes(X=np.random.default_rng(0).integers(0, 256, (40, 32)))}),
    "npz missing": Case(_RUN, "input", ["data.npz", "not found"], {"r.toml": NPZ_RECIPE}),
    "random bytes as checkpoint": Case([*_RUN, "--resume"], "input", [CHECKPOINT_NAME, "not an msann checkpoint"],
                                       {"r.toml": RECIPE, f"out/runs/r/{CHECKPOINT_NAME}": _RANDOM}, never=["weights_only"]),
    "old-format checkpoint": Case([*_RUN, "--resume"], "input", [CHECKPOINT_NAME, "older msann"],
                                  {"r.toml": RECIPE, f"out/runs/r/{CHECKPOINT_NAME}": b"MSANN-CHECKPOINT-1\n" + _RANDOM}),
    "missing recipe": Case(_RUN, "input", ["r.toml", "no such recipe file"]),
    "recipe is a folder": Case(_RUN, "input", ["r.toml", "is a directory"], {"r.toml/x": "x"}),
    "recipe not UTF-8": Case(_RUN, "input", ["r.toml", "not UTF-8"], {"r.toml": b"\xff\xfe\x00bad"}),
    "unknown key": Case([*_RUN, "--set", "train.lrr=1"], "input", ["r.toml", "[train] lrr"], {"r.toml": RECIPE}),
    "bad levels list": Case(["sweep", "r.toml", "--levels", "0..x", "--device", "cpu", "--out", "out"], "input",
                            ["--levels", "0..x"], {"r.toml": RECIPE}),
    "diverges before the first checkpoint": Case(
        [*_RUN, "--set", "train.lr=1e6", "--set", "train.optimizer=sgd", "--set", "model.activation=identity",
         "--set", "model.output_activation=identity"],
        "diverged", ["became", "No checkpoint had been written yet"], {"r.toml": RECIPE},
        never=["is kept"], creates_nothing=False),
    "coarse data without a graph": Case(
        [*_RUN, "--set", "hierarchy.coarse_data=true", "--set", "hierarchy.strategy=random-orthogonal"], "input",
        ["[hierarchy] coarse_data", "strategy must be one of 'path', 'grid'", "'random-orthogonal'"], {"r.toml": RECIPE}),
    "coarse data level too coarse": Case(
        [*_RUN, "--set", "hierarchy.coarse_data=true", "--set", "hierarchy.levels=5", "--set", "model.widths=[32, 32, 32]"],
        "input", ["[hierarchy] levels = 5 is too coarse", "coarse_data = true", "1 data unit", "at least 2"], {"r.toml": RECIPE}),
    "coarse data for fas without graph maps": Case(
        [*_RUN, "--set", "hierarchy.coarse_data=true", "--set", "train.optimizer=sgd"], "input",
        ["[hierarchy] coarse_data = true", "[fas] transfer must be 'graph'", "'matching'"], {"r.toml": FAS_RECIPE}),
    "coarse data for fas, data too coarse": Case(
        [*_RUN, "--set", "hierarchy.coarse_data=true", "--set", "train.optimizer=sgd", "--set", "fas.transfer=graph",
         "--set", "hierarchy.levels=4", "--set", "fas.hidden=16"], "input",
        ["[hierarchy] levels = 4 is too coarse for the inputs", "coarse_data = true", "(4, 4, 4)", "1 unit of their graph",
         "at least 2"],
        {"r.toml": POISSON_FAS_RECIPE.replace('grid_size = 8', 'grid_size = 4')}),
    "unknown fas projection": Case([*_RUN, "--set", "train.optimizer=sgd", "--set", "fas.projection=mtnn"], "input",
                                   ["[fas] projection", "'average', 'norm-weighted', 'scaled'", "'mtnn'"], {"r.toml": FAS_RECIPE}),
    "fas projection against scaled": Case(
        [*_RUN, "--set", "train.optimizer=sgd", "--set", "fas.scaled=true", "--set", "fas.projection=norm-weighted"], "input",
        ["[fas] projection must be 'scaled' or left out with scaled = true", "'norm-weighted'"], {"r.toml": FAS_RECIPE}),
    "fas projection not a string": Case([*_RUN, "--set", "train.optimizer=sgd", "--set", "fas.projection=1"], "input",
                                        ["[fas] projection", "one of", "int 1"], {"r.toml": FAS_RECIPE}),
    "unknown fas matching": Case([*_RUN, "--set", "train.optimizer=sgd", "--set", "fas.matching=heavy-edge"], "input",
                                 ["[fas] matching", "'greedy', 'mutual-best'", "'heavy-edge'"], {"r.toml": FAS_RECIPE}),
    "poisson standardize not a bool": Case([*_RUN, "--set", "train.optimizer=sgd", "--set", "data.standardize=1"], "input",
                                           ["[data] standardize", "bool", "1"], {"r.toml": POISSON_FAS_RECIPE}),
    "standardize for another data set": Case([*_RUN, "--set", "data.standardize=true"], "input",
                                             ["[data] standardize", "'one_object'"], {"r.toml": RECIPE}),
    "nested start with the simultaneous schedule": Case(
        [*_RUN, "--set", "hierarchy.start=coarsest", "--set", "hierarchy.schedule=simultaneous"], "input",
        ["[hierarchy] start = 'coarsest'", "schedule = 'cycle'", "'simultaneous'"], {"r.toml": RECIPE}),
    "top stages without a nested start": Case([*_RUN, "--set", "hierarchy.stage=top"], "input",
                                              ["[hierarchy] stage = 'top'", "start = 'coarsest'", "'finest'"], {"r.toml": RECIPE}),
    "lr_factor for fas": Case(
        [*_RUN, "--set", "hierarchy.lr_factor=2", "--set", "train.optimizer=sgd"], "input",
        ["[hierarchy] lr_factor", "method 'fas'", "eta"], {"r.toml": FAS_RECIPE}),
    "batch_factor for fas": Case(
        [*_RUN, "--set", "hierarchy.batch_factor=2", "--set", "train.optimizer=sgd", "--set", "hierarchy.coarse_data=true",
         "--set", "fas.transfer=graph"], "input",
        ["[hierarchy] batch_factor", "method 'fas'", "got batch_factor = 2"], {"r.toml": FAS_RECIPE}),
    "batch_factor without coarse data": Case([*_RUN, "--set", "hierarchy.batch_factor=2"], "input",
                                             ["[hierarchy] batch_factor", "coarse_data = true", "batch_factor = 2"], {"r.toml": RECIPE}),
    "batch_factor below 1": Case([*_RUN, "--set", "hierarchy.batch_factor=0", "--set", "hierarchy.coarse_data=true"], "input",
                                 ["[hierarchy] batch_factor", "0"], {"r.toml": RECIPE}),
    "unknown start": Case([*_RUN, "--set", "hierarchy.start=middle"], "input",
                          ["[hierarchy] start", "'coarsest', 'finest'", "'middle'"], {"r.toml": RECIPE}),
    "out of memory": Case([*_RUN, "--set", "data.n_train=1000000000000"], "memory", ["out of memory", "TiB"],
                          {"r.toml": RECIPE}),
    "model too large for memory": Case([*_RUN, "--set", "hierarchy.levels=0", "--set", "model.widths=[32, 100000000000, 32]"],
                                       "memory", ["out of memory", "can't allocate memory"], {"r.toml": RECIPE}),
    "disk full (file too large)": Case(_RUN, "filesystem", ["file-system error", "File too large", CHECKPOINT_NAME],
                                       {"r.toml": RECIPE}, creates_nothing=False, rlimit_file_size=16384),
}
if torch.cuda.is_available():
    del CASES["out of memory"]  # the allocation is on the host either way, but keep the GPU machine's run short
else:
    CASES["cuda without cuda"] = Case(["run", "r.toml", "--device", "cuda", "--out", "out"], "input",
                                      ["--device", "'cuda'", "no CUDA device"], {"r.toml": RECIPE})


def _write_files(folder: Path, *, case: Case) -> None:
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "data.npz" and content == b"":  # an object array, as numpy.savez with allow_pickle writes it
            np.savez(path, X=np.array([{"a": 1}, None], dtype=object))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


#: Cases run in a fresh interpreter (``python -m msann.cli``) as well as from the fork server.
FRESH = ("out is a file", "random bytes as checkpoint", "diverges before the first checkpoint")
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")

#: What the fork server imports before forking: what msann.cli imports (torch, graphprolong: ~4.5 s), not the module.
IMPORTS = "import msann.config, msann.experiment, msann.report"


def _fresh(folder: Path, case: Case) -> subprocess.CompletedProcess:
    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (case.rlimit_file_size, case.rlimit_file_size))

    return subprocess.run([sys.executable, "-m", "msann.cli", *case.argv, "--threads", "1"], cwd=folder, env=ENV,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=limit if case.rlimit_file_size else None)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """``{name: (CompletedProcess, files before, files after)}``, and the same for ``"fresh: " + name`` of :data:`FRESH`."""
    root = tmp_path_factory.mktemp("corpus")
    prepared = {name: prepare(root, index, partial(_write_files, case=case)) for index, (name, case) in enumerate(CASES.items())}
    fresh = {name: prepare(root, 100 + index, partial(_write_files, case=CASES[name])) for index, name in enumerate(FRESH)}
    jobs = [{"name": name, "cwd": str(folder), "log": str(log), "argv": [*CASES[name].argv, "--threads", "1"],
             "fsize": CASES[name].rlimit_file_size} for name, (folder, log, _) in prepared.items()]
    with ThreadPoolExecutor(max_workers=1) as pool:  # the fresh interpreters start while the server works
        started = {name: pool.submit(_fresh, folder, CASES[name]) for name, (folder, _, _) in fresh.items()}
        statuses = run_forked(jobs, module="msann.cli", program="msann", imports=IMPORTS, workers=4, env=ENV, timeout=600)
        results = {name: (completed(CASES[name].argv, statuses[name], log), before, snapshot(folder))
                   for name, (folder, log, before) in prepared.items()}
        for name, (folder, _, before) in fresh.items():
            results[f"fresh: {name}"] = (started[name].result(), before, snapshot(folder))
    return results


@pytest.mark.parametrize("name", [*CASES, *(f"fresh: {name}" for name in FRESH)])
def test_a_bad_input_is_one_line_with_its_exit_status_and_changes_no_file(outcomes, name):
    if name == "out not writable" and not Path("/proc").is_dir():
        pytest.skip("needs /proc (Linux) for a folder that even root cannot write into")
    case = CASES[name.removeprefix("fresh: ")]
    result, before, after = outcomes[name]
    lines = result.stderr.strip().splitlines()
    assert result.returncode == EXIT_STATUSES[case.status], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"msann {case.argv[0]}: ")
    for text in case.says:
        assert text in lines[0], lines[0]
    for text in case.never:
        assert text not in lines[0], lines[0]
    assert {path: after.get(path) for path in before} == before, "a file that existed before was changed"
    if case.creates_nothing:
        assert after == before, f"created {sorted(set(after) - set(before))}"
    assert not [path for path in after if path.endswith(".tmp")], "a temporary file was left behind"


def test_the_documented_exit_statuses_are_in_the_help_and_the_readme():
    from msann.cli import build_parser

    help_text = " ".join(build_parser().format_help().split())
    readme = (REPO / "README.md").read_text()
    for outcome, status in EXIT_STATUSES.items():
        assert f"{status} " in help_text, outcome
        assert f"| {status} |" in readme, f"README.md lacks the row of exit status {status} ({outcome})"


# --------------------------------------------------------------------------- in process: the paths no file can reach


def _main(argv, monkeypatch, error):
    import contextlib
    import io

    import msann.cli

    def fail(args):
        raise error

    monkeypatch.setattr(msann.cli, "_run_command", fail)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = msann.cli.main(argv)
    return status, err.getvalue()


@pytest.mark.parametrize("error, outcome, says", [
    (RuntimeError("a bug"), "internal", "internal error (RuntimeError: a bug); rerun with --debug"),
    (KeyboardInterrupt(), "interrupted", "interrupted (Ctrl-C) outside a training loop"),
    (OSError(28, "No space left on device"), "filesystem", "file-system error: [Errno 28] No space left on device"),
])
def test_errors_outside_the_files_are_one_line_too_and_debug_shows_the_traceback(tmp_path, monkeypatch, error, outcome, says):
    (tmp_path / "r.toml").write_text(RECIPE)
    argv = ["run", str(tmp_path / "r.toml"), "--out", str(tmp_path / "out")]
    status, stderr = _main(argv, monkeypatch, error)
    assert status == EXIT_STATUSES[outcome] and len(stderr.strip().splitlines()) == 1
    assert stderr.startswith(f"msann run: {says}"), stderr
    with pytest.raises(type(error)):
        _main([*argv, "--debug"], monkeypatch, error)

