"""msann.core.distributed without a process group, and the sharded minibatch stream (no processes started).

The 2-process tests are in tests/msann/test_distributed.py; these check the
pieces they rest on: the ranks' slices of a stream make up the global
minibatches and resume on any number of ranks, and with one process every
helper is the identity.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from msann.cli import EXIT_STATUSES, main
from msann.core import distributed
from msann.data import MinibatchStream

DATA = np.arange(26 * 3, dtype=np.float32).reshape(26, 3)


def _streams(world: int, *, batch_size: int = 8, seed: int = 5) -> list[MinibatchStream]:
    return [MinibatchStream(DATA, DATA, batch_size=batch_size, seed=seed, rank=rank, world_size=world) for rank in range(world)]


@pytest.mark.parametrize("world", [2, 4])
def test_the_ranks_slices_make_up_the_single_process_minibatches_across_epochs(world):
    whole, ranks = _streams(1)[0], _streams(world)
    for _ in range(9):  # 72 examples: crosses two epochs of 26
        expected, _ = next(whole)
        pieces = [next(stream)[0] for stream in ranks]
        assert all(piece.shape == (8 // world, 3) for piece in pieces)
        assert torch.equal(torch.cat(pieces), expected)
    assert all(stream.state_dict() == whole.state_dict() for stream in ranks)


def test_a_stream_state_resumes_on_another_number_of_ranks():
    two = _streams(2)
    for _ in range(5):
        for stream in two:
            next(stream)
    one = _streams(1)[0]
    one.load_state_dict(two[0].state_dict())
    four = _streams(4)
    for stream in four:
        stream.load_state_dict(one.state_dict())
    expected = next(one)[0]
    assert torch.equal(torch.cat([next(stream)[0] for stream in four]), expected)


def test_a_batch_size_that_the_ranks_cannot_share_evenly_is_refused_naming_both():
    with pytest.raises(ValueError, match=r"batch_size must be divisible by the number of ranks.*batch_size = 10 with world_size = 4"):
        MinibatchStream(DATA, DATA, batch_size=10, seed=0, rank=0, world_size=4)
    with pytest.raises(ValueError, match=r"rank must lie in \[0, world_size = 2\); got rank = 2"):
        MinibatchStream(DATA, DATA, batch_size=8, seed=0, rank=2, world_size=2)


def test_with_one_process_every_helper_is_the_identity():
    assert not distributed.is_distributed() and distributed.world_size() == 1 and distributed.is_main_process()
    tensors = [torch.randn(3, 2), torch.randn(4)]
    copies = [tensor.clone() for tensor in tensors]
    distributed.average_tensors(tensors)
    assert all(torch.equal(a, b) for a, b in zip(tensors, copies))
    assert distributed.average_value(0.125) == 0.125
    assert distributed.agree(stop=True, save=False) == (True, False)
    assert distributed.main_only(lambda: 42) == 42
    batches = [(tensors[0], tensors[0])]
    assert distributed.gather_batches(batches) == batches and distributed.shard_batches(batches) == batches
    assert distributed.local_device(torch.device("cuda")) == torch.device("cuda")
    assert distributed.all_gather("x") == ["x"]
    with distributed.alone():
        assert distributed.data_parallel_size() == 1 and distributed.data_parallel_rank() == 0


def test_an_error_that_cannot_travel_to_other_ranks_becomes_a_runtime_error_with_its_message():
    class Stubborn(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a} and {b}")

    travelled = distributed.portable(Stubborn(1, 2))
    assert type(travelled) is RuntimeError and str(travelled) == "Stubborn: 1 and 2"
    error = ValueError("kept")
    assert distributed.portable(error) is error


def test_a_failed_collective_is_one_line_with_exit_status_6(tmp_path, monkeypatch):
    import msann.cli

    def fail(args):
        def all_reduce():
            raise RuntimeError("[../gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:1: Connection reset by peer. "
                               "This is typically caused by a remote worker hanging\nmore")
        distributed._collective(all_reduce)

    monkeypatch.setattr(msann.cli, "_run_command", fail)
    (tmp_path / "r.toml").write_text('[data]\nname = "one_object"\n')
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(["run", str(tmp_path / "r.toml"), "--out", str(tmp_path / "out")])
    assert status == EXIT_STATUSES["distributed"] == 6
    assert err.getvalue() == ("msann run: another rank failed or did not answer within --dist-timeout (all_reduce failed on "
                              "rank 0 of 1: Read error [127.0.0.1]:1: Connection reset by peer); the last checkpoint is kept: "
                              "continue with --resume, on any number of ranks\n")


def test_run_refuses_a_batch_size_that_the_ranks_cannot_share_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "data_parallel_size", lambda: 3)  # as under torchrun with 3 ranks
    (tmp_path / "r.toml").write_text('name = "r"\n[data]\nname = "one_object"\nlength = 16\nn_train = 32\nn_val = 8\n'
                                     '[model]\nwidths = [16, 8, 16]\n[hierarchy]\nlevels = 1\n[train]\nbatch_size = 8\n')
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(["run", str(tmp_path / "r.toml"), "--out", str(tmp_path / "out"), "--device", "cpu", "--quiet"])
    assert status == EXIT_STATUSES["input"]
    assert "[train] batch_size (run 'r') must be divisible by the number of ranks" in err.getvalue()
    assert "got [train] batch_size (run 'r') = 8 with 3 ranks" in err.getvalue()
    assert not (tmp_path / "out" / "runs").exists()
