"""Stopping a training loop at a safe point: the flag that the ``msann`` CLI's SIGINT handler sets.

:func:`request_stop` sets a flag that every running :func:`msann.core.driver.train`
loop checks between events; the loop then saves a checkpoint and raises
:class:`TrainingInterrupted`.  :func:`training_active` says whether a loop
runs (outside one, a Ctrl-C stops at once).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["TrainingInterrupted", "clear_stop", "request_stop", "running", "stop_requested", "training_active"]

_STOP = threading.Event()
_RUNNING = threading.Event()  # set while a loop runs: a stop request is then honoured at its next safe point


class TrainingInterrupted(Exception):
    """Training stopped at a safe point after :func:`request_stop`; ``checkpoint`` is the file saved (or None)."""

    def __init__(self, label: str, cost: float, checkpoint: Path | None) -> None:
        self.label, self.cost, self.checkpoint = label, cost, checkpoint
        where = f"checkpoint saved to {checkpoint}; continue with --resume" if checkpoint else "no checkpoint is written"
        super().__init__(f"{label}: interrupted at cost {cost:.6g}; {where}")

    def __reduce__(self):  # raised on every rank of torchrun when one rank's run was interrupted
        return (type(self), (self.label, self.cost, self.checkpoint))


def request_stop() -> None:
    """Ask every running :func:`train` loop to save a checkpoint and stop at its next safe point (signal-safe)."""
    _STOP.set()


def clear_stop() -> None:
    """Withdraw a :func:`request_stop` (the CLI clears it when it starts)."""
    _STOP.clear()


def training_active() -> bool:
    """Whether a :func:`train` loop is running (and will honour :func:`request_stop`)."""
    return _RUNNING.is_set()


def stop_requested() -> bool:
    """Whether :func:`request_stop` was called and not withdrawn."""
    return _STOP.is_set()


@contextlib.contextmanager
def running() -> Iterator[None]:
    """The span of a training loop: :func:`training_active` is true inside it."""
    _RUNNING.set()
    try:
        yield
    finally:
        _RUNNING.clear()
