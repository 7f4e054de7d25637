"""kill -9 and Ctrl-C through the real ``msann`` command line (subprocesses), each resumed to the uninterrupted end.

One tiny MsANN run (length-64 one-object data, widths [64, 16, 8, 16, 64],
L = 2) is trained three ways with ``--threads 1``: uninterrupted; killed
with SIGKILL at random points ten times, each time resumed with
``--resume``; and stopped with SIGINT, then resumed.  Every way must end
bitwise where the uninterrupted run ends (the summary's numbers, the history
and the final parameters), and the killed run must leave no temporary file.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from msann.cli import EXIT_STATUSES
from msann.core.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint
from msann.report.records import untimed

from .test_cli import ONE_RUN

RECIPE = ONE_RUN.format(budget=4000.0)  # the kill test of test_cli.py, with a budget that outlasts ten kills
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
KILLS = 10


def _command(recipe: Path, out: Path, *extra: str, every: str = "1e-9") -> list[str]:
    return [sys.executable, "-m", "msann.cli", "run", str(recipe), "--out", str(out), "--device", "cpu", "--threads", "1",
            "--quiet", "--set", f"train.checkpoint_every={every}", *extra]


def _comparable(out: Path) -> tuple[list, list]:
    """The summary without its timed values (:data:`msann.report.records.TIMED_KEYS`) and the checkpoint period, and the history's (label, cost, error) rows."""
    runs = [untimed(run) for run in json.loads((out / "summary.json").read_text())["runs"]]
    for run in runs:
        run["params"]["train"].pop("checkpoint_every")
    rows = [line.split(",")[:3] for line in (out / "history.csv").read_text().splitlines()]
    return runs, rows


def _final_parameters(out: Path) -> dict:
    return load_checkpoint(out / "runs" / "r" / CHECKPOINT_NAME)["method"]


def _assert_same_tensors(got, want, where: str = "method") -> None:
    if isinstance(want, torch.Tensor):
        assert torch.equal(got, want), f"{where} differs"
    elif isinstance(want, dict):
        assert got.keys() == want.keys(), where
        for key in want:
            _assert_same_tensors(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), where
        for index, (a, b) in enumerate(zip(got, want)):
            _assert_same_tensors(a, b, f"{where}[{index}]")
    else:
        assert got == want, where


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, started in the background at once (the tests need it only at their end)."""
    folder = tmp_path_factory.mktemp("reference")
    recipe = folder / "r.toml"
    recipe.write_text(RECIPE)
    process = subprocess.Popen(_command(recipe, folder / "out"), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def finished() -> Path:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr.decode()
        return folder / "out"

    yield finished
    if process.poll() is None:
        process.kill()
        process.wait()


def _saved_at(checkpoint: Path) -> int | None:
    try:
        return checkpoint.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _wait_for_a_new_checkpoint(checkpoint: Path, before: int | None, process: subprocess.Popen, timeout: float) -> bool:
    """True once this process has written a checkpoint (it is training); False if it exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _saved_at(checkpoint) not in (None, before):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError(f"no new checkpoint within {timeout} s")


def test_ten_kills_at_random_points_each_resumed_end_where_the_uninterrupted_run_ends(tmp_path, reference):
    recipe, out = tmp_path / "r.toml", tmp_path / "killed"
    recipe.write_text(RECIPE)
    checkpoint = out / "runs" / "r" / CHECKPOINT_NAME
    rng = random.Random(11)
    kills, left_behind = 0, 0
    while kills < KILLS:
        before = _saved_at(checkpoint)
        process = subprocess.Popen(_command(recipe, out, "--resume"), env=ENV, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        try:
            training = _wait_for_a_new_checkpoint(checkpoint, before, process, timeout=300.0)
            if training:
                time.sleep(rng.uniform(0.0, 0.15))  # anywhere in a step, an evaluation or a checkpoint write
                process.send_signal(signal.SIGKILL)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode in (-signal.SIGKILL, 0), stderr.decode()
        assert process.returncode == -signal.SIGKILL, f"the run finished after {kills} kills: raise the budget"
        kills += 1
        left_behind += len(list(out.rglob(".*.tmp")))
    assert not (out / "summary.json").exists()
    finish = subprocess.run(_command(recipe, out, "--resume"), env=ENV, capture_output=True, text=True, timeout=600)
    assert finish.returncode == 0, finish.stderr
    assert sorted(path.name for path in out.rglob("*") if path.name.endswith(".tmp")) == [], \
        f"temporary files remain (kills left {left_behind} behind in all)"
    whole = reference()
    assert _comparable(out) == _comparable(whole)
    _assert_same_tensors(_final_parameters(out), _final_parameters(whole))


def _latest_cost(checkpoint: Path) -> float:
    """The cost of the newest checkpoint of a running process (its file may be renamed to .prev meanwhile)."""
    for path in (checkpoint, checkpoint.with_name(CHECKPOINT_NAME + ".prev")):
        try:
            return load_checkpoint(path)["loop"]["cost"]
        except CheckpointError:
            continue
    raise AssertionError(f"no readable checkpoint at {checkpoint}")


def test_ctrl_c_saves_a_checkpoint_exits_130_and_resume_ends_where_the_uninterrupted_run_ends(tmp_path, reference):
    recipe, out = tmp_path / "r.toml", tmp_path / "interrupted"
    recipe.write_text(RECIPE)
    checkpoint = out / "runs" / "r" / CHECKPOINT_NAME
    previous = checkpoint.with_name(CHECKPOINT_NAME + ".prev")
    process = subprocess.Popen(_command(recipe, out, every="0.3"), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _wait_for_a_new_checkpoint(previous, None, process, timeout=300.0), "the run ended before 2 checkpoints"
        periodic = _latest_cost(checkpoint)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = stderr.decode().strip().splitlines()
    assert process.returncode == EXIT_STATUSES["interrupted"] == 130, stderr.decode()
    assert len(lines) == 1 and "Traceback" not in stderr.decode() and stdout == b""
    assert "interrupted at cost" in lines[0] and str(checkpoint) in lines[0] and "--resume" in lines[0], lines[0]
    saved = load_checkpoint(checkpoint)["loop"]
    assert periodic < saved["cost"] < 4000.0, "the interrupt's checkpoint is not newer than the last periodic one"
    before = load_checkpoint(previous)["loop"]
    assert before["steps"] <= saved["steps"] and (before["cycles"], before["position"]) != (saved["cycles"], saved["position"])
    assert not (out / "summary.json").exists()
    finish = subprocess.run(_command(recipe, out, "--resume", every="0.3"), env=ENV, capture_output=True, text=True,
                            timeout=600)
    assert finish.returncode == 0, finish.stderr
    whole = reference()
    assert _comparable(out) == _comparable(whole)
    _assert_same_tensors(_final_parameters(out), _final_parameters(whole))
