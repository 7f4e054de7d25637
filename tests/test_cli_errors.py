"""A corpus of bad inputs driven through the real ``graphprolong`` command line, in subprocesses.

Every case runs the ``graphprolong.cli`` module as ``python -m graphprolong.cli``
does (this interpreter, this environment), as a process of its own in a folder
of its own, and must: exit with its documented status
(:data:`graphprolong.cli.EXIT_STATUSES`), print exactly one line on stderr
that names the rule and the value, print no traceback, and leave every file
that existed before byte-identical.  Cases refused before any work must create
nothing at all.  A fresh interpreter spends seconds importing scipy, networkx
and graphprolong, so the cases are forked from one interpreter that imported
them once (:mod:`tests.forked_cli`); the cases of :data:`FRESH` also run in fresh
interpreters and must behave the same, and one fresh process is interrupted
with SIGINT mid-solve.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from graphprolong.cli import EXIT_STATUSES
from graphprolong.io import save_prolongation

from .forked_cli import completed, prepare, run_forked, snapshot

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    """One bad input: files to write, arguments, and what the one line must say."""

    argv: list[str]
    status: str
    says: list[str]
    files: dict[str, bytes | str] = field(default_factory=dict)
    rlimit_file_size: int | None = None
    rlimit_address_space: int | None = None
    read_only: tuple[str, ...] = ()  # folders made read-only (0o555) after the files are written


def _map_bytes(P: np.ndarray, metadata=None) -> bytes:
    """A map file as :func:`save_prolongation` writes it (valid checksum), whatever ``P`` holds."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return save_prolongation(Path(folder) / "P.npz", P, metadata=metadata or {}).read_bytes()


def _list_metadata_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, P=np.eye(4, 2), metadata=np.array(json.dumps([1, 2])))
    return buffer.getvalue()


_NAN_MAP = np.eye(4, 2)
_NAN_MAP[1, 0] = np.nan
_RANDOM = np.random.default_rng(1).integers(0, 256, 400, dtype=np.uint8).tobytes()
_SOLVE = ["solve", "--small", "path:4", "--large", "path:8", "--s", "0"]
_OLD = {"P.npz": b"an old map"}  # a file that a refused run must leave as it is

CASES: dict[str, Case] = {
    "-o is a folder": Case([*_SOLVE, "-o", "d"], "input", ["-o d must be a file; it is a folder"], {"d/x": "x"}),
    "-o under a file": Case([*_SOLVE, "-o", "F/P.npz"], "input", ["-o F/P.npz", "F is a file, not a folder"], {"F": "a file"}),
    "-o not writable": Case([*_SOLVE, "-o", "/proc/graphprolong-P.npz"], "input", ["-o /proc/graphprolong-P.npz", "not writable"]),
    "-o in a read-only folder": Case([*_SOLVE, "-o", "ro/P.npz"], "input", ["-o ro/P.npz is not writable", "Permission denied"],
                                     {"ro/x": "x"}, read_only=("ro",)),
    "export -o is a folder": Case(["export", "--lineage", "path", "--sizes", "4,8", "--cache-dir", "c", "-o", "d"], "input",
                                  ["-o d must be a file"], {"d/x": "x"}),
    "--cache-dir is a file": Case(["export", "--lineage", "path", "--sizes", "4,8", "--cache-dir", "F", "-o", "c.npz"], "input",
                                  ["--cache-dir F must be a folder; it is a file"], {"F": "a file"}),
    "plot -o under a file": Case(["plot", "spectra", "--small", "path:4", "--large", "path:8", "-o", "F/s.png"], "input",
                                 ["-o F/s.png", "F is a file"], {"F": "a file"}),
    "demo --out is a file": Case(["demo", "--out", "F"], "input", ["--out F must be a folder; it is a file"], {"F": "a file"}),
    "verify --json under a file": Case(["recipes", "verify", "--quick", "--names", "path-interpolation", "--json", "F/v.json"],
                                       "input", ["--json F/v.json", "F is a file"], {"F": "a file"}),
    "binary edge list": Case(["solve", "--small", "path:4", "--large", "g.txt", "--s", "0", "-o", "P.npz"], "input",
                             ["g.txt is not a text edge list", "byte 0"], {"g.txt": b"\xff\xfe" + _RANDOM, **_OLD}),
    "--s-values 0,abc": Case(["plot", "sweep", "--small", "path:4", "--large", "path:8", "--s-values", "0,abc", "-o", "s.png"],
                             "input", ["--s-values", "'0,abc'"]),
    "spectral at s = 0.5": Case(["solve", "--small", "path:4", "--large", "path:8", "--s", "0.5", "--method", "spectral",
                                 "-o", "P.npz"], "input", ["spectral", "s = 0 optimum", "--s = 0.5"], dict(_OLD)),
    "export spectral at s = 0.5": Case(["export", "--lineage", "path", "--sizes", "4,8", "--s", "0.5", "--method", "spectral",
                                        "--cache-dir", "c", "-o", "c.npz"], "input", ["spectral", "s = 0 optimum", "0.5"]),
    "heatmap of a NaN map with a valid checksum": Case(["plot", "heatmap", "--input", "P.npz", "-o", "P.png"], "input",
                                                       ["P.npz", "finite entries", "NaN", "1 non-finite of 8"],
                                                       {"P.npz": _map_bytes(_NAN_MAP)}),
    "heatmap of metadata that is a JSON list": Case(["plot", "heatmap", "--input", "P.npz", "-o", "P.png"], "input",
                                                    ["P.npz", "metadata must be a JSON object", "array"],
                                                    {"P.npz": _list_metadata_bytes()}),
    "heatmap of random bytes": Case(["plot", "heatmap", "--input", "P.npz", "-o", "P.png"], "input",
                                    ["P.npz is not a readable prolongation file"], {"P.npz": _RANDOM}),
    "heatmap of a missing file": Case(["plot", "heatmap", "--input", "P.npz", "-o", "P.png"], "input",
                                      ["No such file", "P.npz"]),
    "disk full (file too large)": Case([*_SOLVE, "-o", "P.npz"], "filesystem", ["file-system error", "File too large",
                                                                                    "writing P.npz"],
                                       rlimit_file_size=1024),
    "out of memory": Case(["solve", "--small", "path:4", "--large", "path:60000", "--s", "0", "-o", "P.npz"], "memory",
                          ["out of memory", "GiB"], dict(_OLD), rlimit_address_space=8 << 30),
}


def _write_files(folder: Path, *, case: Case) -> None:
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    for name in case.read_only:
        (folder / name).chmod(0o555)


#: Cases run in a fresh interpreter (``python -m graphprolong.cli``) as well as from the fork server.
FRESH = ("binary edge list", "heatmap of a NaN map with a valid checksum")
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")

#: What the fork server imports before forking: what graphprolong.cli imports.
IMPORTS = """
import graphprolong.cache, graphprolong.export, graphprolong.solver, graphprolong.plotting, graphprolong.demo
import graphprolong.cli_recipes, matplotlib.pyplot
"""


def _fresh(folder: Path, case: Case) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "graphprolong.cli", *case.argv], cwd=folder, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """``{name: (CompletedProcess, files before, files after)}``, and the same for ``"fresh: " + name`` of :data:`FRESH`."""
    root = tmp_path_factory.mktemp("corpus")
    prepared = {name: prepare(root, index, partial(_write_files, case=case)) for index, (name, case) in enumerate(CASES.items())}
    fresh = {name: prepare(root, 100 + index, partial(_write_files, case=CASES[name])) for index, name in enumerate(FRESH)}
    jobs = [{"name": name, "cwd": str(folder), "log": str(log), "argv": CASES[name].argv,
             "fsize": CASES[name].rlimit_file_size, "as": CASES[name].rlimit_address_space}
            for name, (folder, log, _) in prepared.items()]
    started = {name: _fresh(folder, CASES[name]) for name, (folder, _, _) in fresh.items()}  # they start while the server works
    statuses = run_forked(jobs, module="graphprolong.cli", program="graphprolong", imports=IMPORTS, workers=2, env=ENV,
                          timeout=300)
    results = {name: (completed(CASES[name].argv, statuses[name], log), before, snapshot(folder))
               for name, (folder, log, before) in prepared.items()}
    for name, (folder, _, before) in fresh.items():
        process = started[name]
        stdout, stderr = process.communicate(timeout=120)
        results[f"fresh: {name}"] = (subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), before,
                                     snapshot(folder))
    return results


@pytest.mark.parametrize("name", [*CASES, *(f"fresh: {name}" for name in FRESH)])
def test_a_bad_input_is_one_line_with_its_exit_status_and_changes_no_file(outcomes, name):
    if "/proc" in " ".join(CASES[name.removeprefix("fresh: ")].argv) and not Path("/proc").is_dir():
        pytest.skip("needs /proc (Linux) for a folder that even root cannot write into")
    case = CASES[name.removeprefix("fresh: ")]
    if case.read_only and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the /proc case covers an unwritable folder")
    result, before, after = outcomes[name]
    lines = result.stderr.strip().splitlines()
    assert result.returncode == EXIT_STATUSES[case.status], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert len(lines) == 1, result.stderr
    command = " ".join(case.argv[:2]) if case.argv[0] == "recipes" else case.argv[0]
    assert lines[0].startswith(f"graphprolong {command}: ")
    for text in case.says:
        assert text in lines[0], lines[0]
    assert after == before, f"changed or created: {sorted(path for path in set(after) | set(before) if after.get(path) != before.get(path))}"


def _signal_masks(pid: int) -> str:
    """The blocked, ignored and caught signal masks of a running process (Linux ``/proc``), for a failure message."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError as error:
        return f"unreadable ({error})"
    return "; ".join(line for line in lines if line.startswith(("SigBlk", "SigIgn", "SigCgt")))


def _default_sigint() -> None:
    """In the child before exec: SIGINT to its default, which Python turns into KeyboardInterrupt.

    A shell without job control starts background commands (``make test &``) with SIGINT ignored, and a
    child inherits an ignored signal: Python then keeps ignoring it, and the solve would run to its end.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_mid_solve_is_one_line_and_status_130(tmp_path):
    """A real SIGINT to a fresh process while it optimises: exit 130, one line, no output file, no temporary."""
    code = "import sys, graphprolong.cli; print('ready', flush=True); sys.exit(graphprolong.cli.main())"
    argv = ["solve", "--small", "path:16", "--large", "path:32", "--s", "0.5", "--init", "random", "--restarts", "100000",
            "-o", "P.npz"]
    process = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    try:
        assert process.stdout.readline() == "ready\n"
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"graphprolong solve did not stop within 60 s of SIGINT; its signal masks: {_signal_masks(process.pid)}")
    finally:
        if process.poll() is None:  # never leave the solve running after the test
            process.kill()
            process.communicate()
    assert process.returncode == EXIT_STATUSES["interrupted"], stderr
    assert stderr.strip().splitlines() == ["graphprolong solve: interrupted (Ctrl-C); files are written atomically, none is "
                                           "left half-written"] and stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_the_documented_exit_statuses_are_in_the_help_the_docstring_and_the_readme():
    import graphprolong.cli

    help_text = " ".join(graphprolong.cli.build_parser().format_help().split())
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("graphprolong exit statuses"):]
    for outcome, status in EXIT_STATUSES.items():
        if outcome == "ok":
            continue
        assert f"{status} " in help_text, outcome
        assert f"\n{status} " in graphprolong.cli.__doc__, outcome
        assert f"| {status} |" in section, f"README.md lacks the graphprolong row of exit status {status} ({outcome})"


# --------------------------------------------------------------------------- in process: the paths no file can reach


def _main(argv, monkeypatch, error):
    import contextlib

    import graphprolong.cli

    def fail(args):
        raise error

    monkeypatch.setattr(graphprolong.cli, "_solve_command", fail)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = graphprolong.cli.main(argv)
    return status, err.getvalue()


@pytest.mark.parametrize("error, outcome, says", [
    (RuntimeError("a bug"), "internal", "internal error (RuntimeError: a bug); rerun with --debug"),
    (KeyboardInterrupt(), "interrupted", "interrupted (Ctrl-C)"),
    (OSError(28, "No space left on device"), "filesystem", "file-system error: [Errno 28] No space left on device"),
    (MemoryError("Unable to allocate 8 GiB"), "memory", "out of memory (MemoryError: Unable to allocate 8 GiB)"),
])
def test_errors_outside_the_files_are_one_line_too_and_debug_shows_the_traceback(tmp_path, monkeypatch, error, outcome, says):
    argv = ["solve", "--small", "path:4", "--large", "path:8", "--s", "0", "-o", str(tmp_path / "P.npz")]
    status, stderr = _main(argv, monkeypatch, error)
    assert status == EXIT_STATUSES[outcome] and len(stderr.strip().splitlines()) == 1
    assert stderr.startswith(f"graphprolong solve: {says}"), stderr
    with pytest.raises(type(error)):
        _main([*argv, "--debug"], monkeypatch, error)
    with pytest.raises(type(error)):
        _main(["--debug", *argv], monkeypatch, error)
