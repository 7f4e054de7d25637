"""The device rule of msann: ``auto`` (CUDA when torch sees one), ``cpu``, ``cuda`` or ``cuda:N``; and the CPU threads."""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable

import torch

__all__ = ["DEVICES", "idle_cores", "resolve_device", "resolve_threads"]

#: Device names a recipe or ``--device`` may give (``cuda:N`` too).
DEVICES = ("auto", "cpu", "cuda")
_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def resolve_device(name: str = "auto") -> torch.device:
    """The ``torch.device`` of a device name.

    Raises
    ------
    ValueError
        For a name that is not ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, and
        for CUDA asked for where torch sees none (naming torch's version).
    """
    if not isinstance(name, str) or not _PATTERN.fullmatch(name):
        raise ValueError(f"unknown device {name!r}; valid devices are: {', '.join(DEVICES)} (or cuda:N)")
    cuda = torch.cuda.is_available()
    if name != "auto" and name.startswith("cuda") and not cuda:
        raise ValueError(f"device {name!r} was requested, but torch {torch.__version__} sees no CUDA device "
                         f"(torch.cuda.is_available() is False); use 'cpu' or 'auto'")
    return torch.device(("cuda" if cuda else "cpu") if name == "auto" else name)


def _cpu_times(path: str = "/proc/stat") -> tuple[float, float]:
    """``(idle, total)`` jiffies of all CPUs since boot (Linux ``/proc/stat``; idle includes iowait)."""
    with open(path) as stat:
        fields = [float(value) for value in stat.readline().split()[1:]]
    return fields[3] + (fields[4] if len(fields) > 4 else 0.0), sum(fields)


def idle_cores(*, interval: float = 0.25, cpu_times: Callable[[], tuple[float, float]] = _cpu_times,
               cores: int | None = None) -> int:
    """How many CPU cores sit idle now: the idle share of ``interval`` seconds times the cores, at least 1.

    A core counts when at least 3/4 of it was idle.  Where the CPU times
    cannot be read (not Linux), 1: a single thread is never the slow choice
    on a shared machine.
    """
    cores = (os.cpu_count() or 1) if cores is None else cores
    try:
        idle_before, total_before = cpu_times()
        time.sleep(interval)
        idle_after, total_after = cpu_times()
    except (OSError, ValueError, IndexError):
        return 1
    elapsed = total_after - total_before
    if elapsed <= 0:
        return 1
    return max(1, min(cores, math.floor((idle_after - idle_before) / elapsed * cores + 0.25)))


def resolve_threads(value: str | int) -> int:
    """``--threads``: a positive integer, or ``"auto"``: :func:`idle_cores` (every idle core, one if none is)."""
    if value == "auto":
        return idle_cores()
    try:
        threads = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"--threads must be a positive integer or 'auto'; got {value!r}") from None
    if threads < 1:
        raise ValueError(f"--threads must be >= 1 or 'auto'; got {threads}")
    return threads
