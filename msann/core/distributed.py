"""Data-parallel training with PyTorch's own ``torch.distributed`` (launched by ``torchrun``).

Under ``torchrun --nproc_per_node=N`` (one or several machines) every rank
runs the same ``msann`` command.  :func:`init_from_environment` joins the
process group that ``torchrun``'s environment describes (``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``): NCCL for CUDA tensors and
gloo for CPU tensors, with a timeout so that a rank waiting for a dead or
stuck peer fails in bounded time instead of hanging.  Without that
environment (or with one rank) nothing is initialised and every function here
is the identity: single-process training is unchanged, bit for bit.

Data parallelism.  Every rank holds the whole data set and draws the same
global permutation from the shared seed (:class:`msann.data.MinibatchStream`);
each rank takes its contiguous slice of every global minibatch
(``batch_size / world_size`` examples: the batch size must be divisible by the
number of ranks).  A loss is the mean over the local slice, so the average of
the ranks' gradients is the gradient of the global minibatch:
:func:`average_tensors` does it with one flattened ``all_reduce`` per device
and dtype (in :func:`msann.core.smoothing.smoothing_step` for every level's
smoothing step, and in :func:`msann.core.coarse.mean_gradient` for FAS's tau
and MG/Opt's gate); :func:`average_value` averages a scalar (MG/Opt's line
search).  The reduced values are the same bits on every rank, so the ranks
hold identical parameters and take identical decisions (matchings, gates,
line-search steps) without any further exchange.

Decisions that one rank's clock or signal handler makes (a periodic
checkpoint is due; Ctrl-C asked to stop) travel in two extra numbers of the
gradient ``all_reduce`` and are read every :data:`AGREE_EVERY` event
boundaries by :func:`agree` -- the same boundaries on every rank -- so that
all ranks save or stop at the same point (no extra collective, and no device
synchronisation per step).

Writes.  :func:`main_only` runs a function on rank 0 only (checkpoints,
reports) and hands its result, or its exception, to every rank.  Inside
:func:`alone` (``msann sweep``, whose ranks train whole runs each) the
process group is left out of training: each rank trains, checkpoints and
resumes its runs by itself.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

__all__ = ["AGREE_EVERY", "DEFAULT_TIMEOUT", "PATIENT_TIMEOUT", "agree", "all_gather", "alone", "average_gradients",
           "average_tensors", "average_value", "barrier", "check_divisible", "CollectiveError", "data_parallel_rank",
           "data_parallel_size", "gather_batches", "init_from_environment", "is_distributed", "is_main_process",
           "launched", "local_device", "main_only", "portable", "rank", "reset_agreement", "shard_batches",
           "shutdown", "world_size"]

#: Seconds a collective waits for the other ranks before the job fails (``msann --dist-timeout``).
DEFAULT_TIMEOUT = 600.0
#: Seconds the end of ``msann sweep`` waits for the slowest rank's runs (a dead rank still fails at once).
PATIENT_TIMEOUT = 7 * 24 * 3600.0
#: Event boundaries between two readings of the agreed decisions (:func:`agree`).
AGREE_EVERY = 8

T = TypeVar("T")

_STATE: dict[str, Any] = {"objects": None, "patient": None, "alone": 0, "flags": None, "proposed": (False, False),
                          "boundaries": 0}


class CollectiveError(getattr(dist, "DistError", RuntimeError)):  # torch builds without distributed support lack DistError
    """A collective failed: another rank died (its connection closed) or did not answer within the timeout."""


def _collective(function: Callable, *args: Any, **options: Any) -> Any:
    """``function(*args, **options)``, a ``torch.distributed`` collective; a failure becomes a one-line :class:`CollectiveError`."""
    try:
        return function(*args, **options)
    except RuntimeError as error:
        if isinstance(error, CollectiveError):
            raise
        lines = str(error).strip().splitlines() or [type(error).__name__]
        detail = re.sub(r"^\[[^\]]*\]\s*", "", lines[0]).split(". This is typically")[0].rstrip(".")
        raise CollectiveError(f"{function.__name__} failed on rank {rank()} of {world_size()}: {detail}") from error


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (or alike) as one of several ranks (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_environment(*, device: str = "auto", timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Join the process group of ``torchrun``'s environment; return whether this process is one of several ranks.

    Parameters
    ----------
    device : str
        The command's device: ``"cpu"`` uses gloo only; otherwise, when CUDA is
        available, CUDA tensors go through NCCL (and this rank's GPU is
        ``cuda:LOCAL_RANK``) and CPU tensors through gloo.
    timeout : float
        Seconds a collective waits for its peers before it raises, > 0.
    """
    if not launched():
        return False
    if not timeout > 0:
        raise ValueError(f"the distributed timeout must be > 0 seconds; got {timeout}")
    if dist.is_initialized():
        return True
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank())
    dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=timedelta(seconds=timeout))
    _STATE["objects"] = dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout)) if cuda else None
    _STATE["patient"] = dist.new_group(backend="gloo", timeout=timedelta(seconds=PATIENT_TIMEOUT))
    return True


def shutdown() -> None:
    """Leave the process group (if this process joined one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _STATE.update(objects=None, patient=None)
    reset_agreement()


def is_distributed() -> bool:
    """Whether a process group of more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of ranks (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    """This process's rank on its machine (``LOCAL_RANK``; 0 when unset)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    """Whether this process is rank 0 (the one that writes reports)."""
    return rank() == 0


def data_parallel_size() -> int:
    """The ranks that share each minibatch: the world size, or 1 inside :func:`alone`."""
    return 1 if _STATE["alone"] else world_size()


def data_parallel_rank() -> int:
    """This rank's slice of each minibatch: its rank, or 0 inside :func:`alone`."""
    return 0 if _STATE["alone"] else rank()


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """Train without the other ranks inside this block (a rank's own runs of a sweep)."""
    _STATE["alone"] += 1
    try:
        yield
    finally:
        _STATE["alone"] -= 1


def local_device(device: torch.device) -> torch.device:
    """``cuda`` without an index becomes this rank's GPU, ``cuda:LOCAL_RANK``, when distributed; other devices stay."""
    if is_distributed() and device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank())
    return device


def check_divisible(batch_size: int, *, what: str = "batch_size") -> int:
    """The slice of a minibatch per data-parallel rank; ``ValueError`` unless ``batch_size`` divides evenly."""
    size = data_parallel_size()
    if batch_size % size:
        raise ValueError(f"{what} must be divisible by the number of ranks (every rank takes an equal slice of each "
                         f"global minibatch); got {what} = {batch_size} with {size} ranks")
    return batch_size // size


def average_tensors(tensors: Sequence[torch.Tensor]) -> None:
    """Average ``tensors`` over the data-parallel ranks, in place (one flattened ``all_reduce`` per device and dtype).

    Every rank must pass tensors of the same shapes in the same order.  The
    first reduction also carries this rank's proposals of :func:`agree`.
    """
    size = data_parallel_size()
    if size == 1 or not tensors:
        return
    groups: dict[tuple, list[torch.Tensor]] = {}
    for tensor in tensors:
        groups.setdefault((tensor.device, tensor.dtype), []).append(tensor)
    for number, members in enumerate(groups.values()):
        pieces = [tensor.reshape(-1) for tensor in members]
        if number == 0:  # two flags, filled by kernels only when set: no host-device copy, no synchronisation per step
            flags = torch.zeros(2, device=members[0].device, dtype=members[0].dtype)
            stop, save = _STATE["proposed"]
            for position, flag in enumerate((stop, save and rank() == 0)):
                if flag:
                    flags[position].fill_(1.0)
            pieces.append(flags)
        flat = torch.cat(pieces)
        _collective(dist.all_reduce, flat)
        if number == 0:
            flags = flat[-2:].clone()  # not a view: it would keep the whole buffer alive
            _STATE["flags"] = flags if _STATE["flags"] is None else torch.maximum(_STATE["flags"].to(flags), flags)
            flat = flat[:-2]
        flat.div_(size)
        for tensor, piece in zip(members, flat.split([tensor.numel() for tensor in members])):
            tensor.copy_(piece.view_as(tensor))


def average_gradients(optimizer: torch.optim.Optimizer) -> None:
    """Average the gradients of ``optimizer``'s parameters over the data-parallel ranks (those that have one)."""
    if data_parallel_size() > 1:
        average_tensors([p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None])


def gather_batches(batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The global minibatches whose slices ``batches`` are (this rank's), the same on every rank; a copy of the list with one.

    For a checkpoint: minibatches that a method keeps (FAS's tau batch) are
    stored whole, so that any number of ranks resumes them (:func:`shard_batches`).
    """
    size = data_parallel_size()
    if size == 1:
        return list(batches)
    gathered = []
    for pair in batches:
        whole = []
        for tensor in pair:
            parts = [torch.empty_like(tensor) for _ in range(size)]
            _collective(dist.all_gather, parts, tensor.contiguous())
            whole.append(torch.cat(parts))
        gathered.append(tuple(whole))
    return gathered


def shard_batches(batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """This rank's slices of global minibatches (the inverse of :func:`gather_batches`); a copy of the list with one rank."""
    size, index = data_parallel_size(), data_parallel_rank()
    if size == 1:
        return list(batches)
    sliced = []
    for pair in batches:
        share = check_divisible(int(pair[0].shape[0]), what="the rows of a stored minibatch")
        sliced.append(tuple(tensor[index * share : (index + 1) * share] for tensor in pair))
    return sliced


def average_value(value: float) -> float:
    """The mean of ``value`` over the data-parallel ranks (``value`` itself with one rank)."""
    if data_parallel_size() == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    _collective(dist.all_reduce, tensor, group=_STATE["objects"])
    return float(tensor) / data_parallel_size()


def agree(*, stop: bool, save: bool) -> tuple[bool, bool]:
    """Whether to stop and whether to save now, the same on every data-parallel rank.

    ``stop`` (any rank's Ctrl-C) and ``save`` (rank 0's checkpoint clock) are
    this rank's view; with one rank they are returned as given.  With several,
    they are proposed for the next :func:`average_tensors`, and the decisions
    agreed by the reductions since the last reading are returned every
    :data:`AGREE_EVERY` calls (``(False, False)`` in between).
    """
    if data_parallel_size() == 1:
        return stop, save
    _STATE["boundaries"] += 1
    agreed = (False, False)
    if _STATE["boundaries"] % AGREE_EVERY == 0 and _STATE["flags"] is not None:
        agreed = tuple(bool(flag > 0) for flag in _STATE["flags"].tolist())
        _STATE["flags"] = None
    _STATE["proposed"] = (stop, save and not agreed[1])
    return agreed


def reset_agreement() -> None:
    """Forget proposals and agreed decisions (at the start of a training loop: the same on every rank)."""
    _STATE.update(flags=None, proposed=(False, False), boundaries=0)


def portable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling (to be raised on another rank), else a RuntimeError with its message."""
    try:
        copy = pickle.loads(pickle.dumps(error))
    except Exception:
        copy = None
    if type(copy) is not type(error) or str(copy) != str(error):
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


def main_only(function: Callable[[], T]) -> T:
    """``function()`` on rank 0 only; every data-parallel rank returns its result or raises its exception."""
    if data_parallel_size() == 1:
        return function()
    outcome: list = [None]
    if rank() == 0:
        try:
            outcome[0] = (True, function())
        except Exception as error:  # handed to every rank, then raised everywhere
            outcome[0] = (False, portable(error))
    _collective(dist.broadcast_object_list, outcome, src=0, group=_STATE["objects"])
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


def barrier() -> None:
    """Wait for every rank (nothing without a process group)."""
    if is_distributed():
        _collective(dist.barrier, group=_STATE["objects"])


def all_gather(value: T, *, patient: bool = False) -> list[T]:
    """Every rank's ``value``, by rank (``[value]`` without a process group).

    ``patient``: wait up to :data:`PATIENT_TIMEOUT` for the slowest rank (the end of a sweep).
    """
    if not is_distributed():
        return [value]
    values: list = [None] * world_size()
    _collective(dist.all_gather_object, values, value, group=_STATE["patient"] if patient else _STATE["objects"])
    return values
