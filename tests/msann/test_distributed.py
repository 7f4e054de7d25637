"""Data-parallel training and spread sweeps under torch.distributed (gloo on the CPU, loopback only).

Three launches, each of 2 processes, keep these tests under a minute on two
cores: one ``torch.multiprocessing`` spawn trains MsANN, FAS and MG/Opt
data-parallel (and leaves a FAS checkpoint midway, resumed here by one
process, and resumes one process's); one ``torchrun`` sweep of 4 runs is compared with the same sweep in
one process; one ``torchrun`` run is killed (one rank, SIGKILL) and resumed by
one process.  Each 2-rank result must hold the same parameters on both ranks,
bit for bit, and equal one process's run on the same global minibatches to
float tolerance.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as multiprocessing

from msann.cli import EXIT_STATUSES, main
from msann.coarsening.network import CoarseningWarning
from msann.config import load_config
from msann.core import distributed
from msann.core.checkpoint import CHECKPOINT_NAME, load_checkpoint
from msann.core.driver import train
from msann.core.metrics import metric, task_metric
from msann.data import MinibatchStream
from msann.experiment import load_run_data, run_slug
from msann.methods import method_spec

REPO = Path(__file__).resolve().parents[2]

MSANN = """
name = "msann"
[data]
name = "one_object"
length = 32
n_train = 128
n_val = 32
[model]
widths = [32, 16, 8, 16, 32]
[hierarchy]
levels = 2
gamma = 2
k = 2
[train]
batch_size = 16
eval_points = 4
cost_budget = {budget}
"""

FAS = """
name = "fas"
method = "{method}"
[data]
name = "poisson"
n_samples = 48
grid_size = 8
[hierarchy]
levels = 1
k = 2
[train]
optimizer = "sgd"
lr = 0.01
momentum = 0.9
batch_size = 8
eval_points = 4
cost_budget = 400.0
[fas]
hidden = 16
tau_batches = 2
rematch_every = 1
"""

MGOPT = FAS.replace('method = "{method}"', 'method = "mgopt"') + """
[mgopt]
line_search = true
kappa = 0.01
"""

RECIPES = {"msann": MSANN.format(budget=500.0), "fas": FAS.format(method="fas"), "mgopt": MGOPT}
#: Steps after which the 2-rank FAS run stops with a checkpoint that one process resumes.
STOP_AFTER = 12
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
           PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _train(recipe: Path, *, rank: int = 0, world: int = 1, checkpoint: Path | None = None, max_steps: int | None = None,
           resume: bool = False):
    """Train the recipe's first run on this rank's slices (the path of ``msann run``); return the method and result."""
    config = load_config(recipe)
    run = config.runs[0]
    dataset = load_run_data(run, source=str(recipe))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseningWarning)
        method = method_spec(run.method).build(run, dataset, torch.device("cpu"))
        stream = MinibatchStream(dataset.train_inputs, dataset.train_targets, batch_size=run.train.batch_size,
                                 seed=run.train.seed, rank=rank, world_size=world)
        validation = (torch.as_tensor(dataset.val_inputs), torch.as_tensor(dataset.val_targets))
        result = train(method, stream, validation, metrics=metric(task_metric(dataset)), gamma=run.hierarchy.gamma,
                       k=run.hierarchy.k, cost_budget=run.train.cost_budget, batch_size=run.train.batch_size,
                       eval_points=run.train.eval_points, checkpoint=checkpoint, checkpoint_every=0.0, resume=resume,
                       params=run.to_dict(), progress=False, max_steps=max_steps)
    return method, result


def _worker(rank: int, world: int, port: int, folder: str) -> None:
    """One rank of the spawned job: every method data-parallel, then FAS stopped midway with a checkpoint."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    folder = Path(folder)
    distributed.init_from_environment(device="cpu", timeout=60.0)
    try:
        for name in RECIPES:
            method, result = _train(folder / f"{name}.toml", rank=rank, world=world, checkpoint=folder / f"{name}.pt")
            torch.save({"method": method.state_dict(), "history": result.history, "summary": method.summary_fields(result)},
                       folder / f"{name}-rank{rank}.pt")
        _train(folder / "fas.toml", rank=rank, world=world, checkpoint=folder / "stopped.pt", max_steps=STOP_AFTER)
        method, _ = _train(folder / "fas.toml", rank=rank, world=world, checkpoint=folder / "single.pt", resume=True)
        torch.save(method.state_dict(), folder / f"resumed-rank{rank}.pt")  # one process's checkpoint, resumed by 2 ranks
    finally:
        distributed.shutdown()


def _assert_tensors(got, want, *, exact: bool, where: str = "state") -> None:
    """Nested states equal: tensors bitwise (``exact``) or to float tolerance; everything else exactly."""
    if isinstance(want, torch.Tensor):
        if exact:
            assert torch.equal(got, want), f"{where} differs between the ranks"
        else:
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=f"{where} differs from one process's")
    elif isinstance(want, dict):
        assert set(got) == set(want), where
        for key in want:
            _assert_tensors(got[key], want[key], exact=exact, where=f"{where}.{key}")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), where
        for index, (a, b) in enumerate(zip(got, want)):
            _assert_tensors(a, b, exact=exact, where=f"{where}[{index}]")
    elif isinstance(want, float) and not exact:
        assert got == pytest.approx(want, rel=1e-4, abs=1e-6), where
    else:
        assert got == want, where


def _comparable(summary: dict) -> dict:
    """``summary_fields`` without wall-clock values."""
    return {key: value for key, value in summary.items() if "seconds" not in key}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSANN_CACHE", str(tmp_path / "cache"))


def test_two_ranks_hold_identical_parameters_equal_to_one_process_for_every_method(tmp_path):
    for name, text in RECIPES.items():
        (tmp_path / f"{name}.toml").write_text(text)
    references = {name: _train(tmp_path / f"{name}.toml") for name in RECIPES}  # also fills the Poisson cache
    _train(tmp_path / "fas.toml", checkpoint=tmp_path / "single.pt", max_steps=STOP_AFTER)
    multiprocessing.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for name, (method, result) in references.items():
        ranks = [torch.load(tmp_path / f"{name}-rank{rank}.pt", weights_only=False) for rank in range(2)]
        _assert_tensors(ranks[1]["method"], ranks[0]["method"], exact=True, where=name)
        _assert_tensors(ranks[0]["method"], method.state_dict(), exact=False, where=name)
        assert [cost for cost, _, _ in ranks[0]["history"]] == [cost for cost, _, _ in result.history]  # global-batch cost
        assert [error for _, error, _ in ranks[0]["history"]] == pytest.approx([error for _, error, _ in result.history], rel=1e-4)
        _assert_tensors(_comparable(ranks[0]["summary"]), _comparable(method.summary_fields(result)), exact=False, where=name)
        saved = load_checkpoint(tmp_path / f"{name}.pt")  # written by rank 0 alone
        _assert_tensors(saved["method"], ranks[0]["method"], exact=True, where=f"{name} checkpoint")
    mgopt = references["mgopt"][0].counts
    assert mgopt["gate_open"] and mgopt["accepted"] + mgopt["rejected"] == mgopt["gate_open"]  # the decisions were exercised
    # The FAS checkpoint of 2 ranks, resumed by one process, ends where one process's uninterrupted run ends.
    stopped = load_checkpoint(tmp_path / "stopped.pt")
    assert stopped["loop"]["steps"] >= STOP_AFTER
    (tmp_path / "resumed.pt").write_bytes((tmp_path / "stopped.pt").read_bytes())
    resumed, result = _train(tmp_path / "fas.toml", checkpoint=tmp_path / "resumed.pt", resume=True)
    _assert_tensors(resumed.state_dict(), references["fas"][0].state_dict(), exact=False, where="resumed fas")
    assert result.total_cost == references["fas"][1].total_cost
    # And one process's checkpoint, resumed by 2 ranks, too.
    resumed = [torch.load(tmp_path / f"resumed-rank{rank}.pt", weights_only=False) for rank in range(2)]
    _assert_tensors(resumed[1], resumed[0], exact=True, where="fas resumed by 2 ranks")
    _assert_tensors(resumed[0], references["fas"][0].state_dict(), exact=False, where="fas resumed by 2 ranks")


def _torchrun(*argv: str, port: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
            f"--master_port={port}", "-m", "msann.cli", *argv, "--device", "cpu", "--threads", "1", "--quiet"]


def _sweep_rows(out: Path) -> list[dict]:
    rows = json.loads((out / "sweep.json").read_text())["runs"]
    return [{key: value for key, value in row.items() if "seconds" not in key} for row in rows]


def test_a_sweep_spread_over_two_ranks_gives_the_single_process_table(tmp_path, monkeypatch):
    for name in ("plot_error_vs_cost", "plot_errors"):  # figures cost seconds here and are msann.report's business
        monkeypatch.setattr(f"msann.experiment.{name}", lambda *args, **options: None)
    recipe = tmp_path / "msann.toml"
    recipe.write_text(MSANN.format(budget=200.0))
    grid = ["--gamma", "1", "--levels", "1", "--k", "1,2,4"]  # and the default run: 4 runs
    spread = subprocess.run(_torchrun("sweep", str(recipe), "--out", str(tmp_path / "two"), *grid, port=_free_port()),
                            cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=240)
    assert spread.returncode == 0, spread.stderr[-2000:]
    assert main(["sweep", str(recipe), "--out", str(tmp_path / "one"), *grid, "--device", "cpu", "--threads", "1", "--quiet"]) == 0
    rows = _sweep_rows(tmp_path / "two")
    assert len(rows) == 4 and rows == _sweep_rows(tmp_path / "one")
    assert sorted(path.name for path in (tmp_path / "two" / "runs").iterdir()) == sorted(
        run_slug(row["label"]) for row in rows)


def _rank_process(parent: int, rank: int) -> int:
    """The pid of the child of ``parent`` whose environment says ``RANK=rank``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent and f"RANK={rank}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                return int(entry.name)
        except (OSError, IndexError, ValueError):
            continue
    raise LookupError(f"no rank {rank} below process {parent}")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the ranks' processes through /proc")
def test_killing_one_rank_ends_the_job_in_bounded_time_and_one_process_resumes(tmp_path):
    recipe = tmp_path / "msann.toml"
    recipe.write_text(MSANN.format(budget=6000.0))
    out = tmp_path / "out"
    checkpoint = out / "runs" / "msann" / CHECKPOINT_NAME
    command = _torchrun("run", str(recipe), "--out", str(out), "--set", "train.checkpoint_every=0.2", "--dist-timeout", "30",
                        port=_free_port())
    job = subprocess.Popen(command, cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not checkpoint.exists() and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert checkpoint.exists() and job.poll() is None, "the job neither checkpointed nor kept running"
        os.kill(_rank_process(job.pid, 1), signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = job.communicate(timeout=60)
        ended = time.monotonic() - killed
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert job.returncode != 0 and ended < 60
    # The surviving rank says why in one line, unless torchrun's SIGTERM (after its own report of the SIGKILL) came first.
    assert "msann run (rank 0 of 2): another rank failed" in stderr or "Signal 15 (SIGTERM)" in stderr, stderr[-2000:]
    assert main(["run", str(recipe), "--out", str(out), "--resume", "--device", "cpu", "--threads", "1", "--quiet",
                 "--set", "train.checkpoint_every=0.2"]) == EXIT_STATUSES["ok"]
    summary = json.loads((out / "summary.json").read_text())["runs"][0]
    assert summary["total_cost"] >= 6000.0 and "ranks" not in summary
