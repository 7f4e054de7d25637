"""The training driver shared by every multilevel method: cycles, cost, evaluation, checkpoints.

:func:`train` walks the events of gamma-cycles (:func:`msann.multilevel.cycle_events`)
over a :class:`~msann.multilevel.MultilevelMethod` until the training cost
reaches its budget.  Cost (SPEC §3): a step at level ``l`` on a minibatch of
``b`` examples costs ``relative_cost_l * b``; ``C(t)`` is their sum.  The
validation error is logged at cost 0 and on a log-spaced cost grid
(:class:`msann.report.CostGrid`), and at the end.

Checkpoints.  Every ``checkpoint_every`` seconds (and at the end) the whole
state -- the method's (parameters, smoother states), the minibatch stream's,
the position in the cycle, the cost, the log -- is written atomically with a
SHA-256 checksum; the previous checkpoint is kept as ``*.prev``.  A run
resumed from a checkpoint continues exactly as the uninterrupted run would
have (same batches, same steps), so it ends at the same result.

Divergence.  Losses are checked for NaN/inf at every evaluation and before
every checkpoint (one device synchronisation each, not one per step); a
non-finite loss or validation error stops the run with
:class:`DivergenceError`, and the last good checkpoint is left untouched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from graphprolong.checks import check_positive, check_positive_int
from graphprolong.io import atomic_write_bytes

from .multilevel import MultilevelMethod, cycle_events, per_level
from .report import CostGrid

__all__ = ["CHECKPOINT_NAME", "CheckpointError", "DivergenceError", "TrainResult", "load_checkpoint", "save_checkpoint", "train"]

logger = logging.getLogger(__name__)

#: File name of the checkpoint inside a run folder.
CHECKPOINT_NAME = "checkpoint.pt"
_MAGIC = b"MSANN-CHECKPOINT-1\n"


class DivergenceError(RuntimeError):
    """A loss or validation error became NaN or infinite."""


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, fails its checksum, or belongs to another run."""


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    history : list of (cost, error, seconds)
        The logged validation error against cost and wall-clock seconds.
    total_cost : float
    wall_seconds : float
        Training seconds, summed over resumed segments.
    steps : int
        Smoothing steps taken.
    cycles : float
        Cycles completed (fractional when the budget ended one midway).
    evaluations : list of dict
        Every evaluation's full dict (the method may report several errors).
    """

    history: list
    total_cost: float
    wall_seconds: float
    steps: int
    cycles: float
    evaluations: list


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write ``state`` (torch-serialisable) atomically with a SHA-256 checksum; keep the previous file as ``*.prev``."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    if path.exists():
        path.replace(path.with_name(path.name + ".prev"))
    return atomic_write_bytes(path, lambda file: file.write(_MAGIC + digest + b"\n" + payload))


def load_checkpoint(path: str | Path) -> dict:
    """Read a :func:`save_checkpoint` file; :class:`CheckpointError` if it is truncated or corrupt."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from None
    header = len(_MAGIC) + 65
    if not data.startswith(_MAGIC) or len(data) < header:
        raise CheckpointError(f"{path} is not an msann checkpoint (bad header)")
    digest, payload = data[len(_MAGIC) : header - 1], data[header:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise CheckpointError(f"checkpoint {path} fails its SHA-256 checksum (truncated or corrupted)")
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)


def _first_non_finite(state, prefix: str = "") -> str | None:
    """The key path of the first floating-point tensor in a (nested) state dict with a NaN or inf, else None."""
    if isinstance(state, torch.Tensor):
        return prefix or "a tensor" if state.is_floating_point() and not bool(torch.isfinite(state).all()) else None
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, (list, tuple)) else ()
    for key, value in items:
        found = _first_non_finite(value, f"{prefix}.{key}" if prefix else str(key))
        if found is not None:
            return found
    return None


def _fingerprint(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def _resume_state(path: Path, fingerprint: str) -> dict | None:
    """The newest good checkpoint of this run (falling back to ``*.prev``), or None."""
    for candidate in (path, path.with_name(path.name + ".prev")):
        if not candidate.exists():
            continue
        try:
            state = load_checkpoint(candidate)
        except CheckpointError as error:
            logger.warning("%s; trying the previous checkpoint", error)
            continue
        if state.get("fingerprint") != fingerprint:
            raise CheckpointError(
                f"checkpoint {candidate} belongs to a different run configuration; use another --out folder or drop --resume"
            )
        return state
    if path.exists() or path.with_name(path.name + ".prev").exists():
        logger.warning("no readable checkpoint of this run in %s: starting it over", path.parent)
    return None


def _progress(total: float, label: str, enabled: bool | None):
    from tqdm.auto import tqdm

    enabled = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, desc=label, unit="cost", disable=not enabled, leave=False, dynamic_ncols=True)


def train(
    method: MultilevelMethod,
    stream,
    validation: tuple,
    *,
    training: tuple | None = None,
    gamma: int = 1,
    k: int | Sequence[int] = 1,
    cost_budget: float,
    batch_size: int,
    eval_points: int = 60,
    checkpoint: str | Path | None = None,
    checkpoint_every: float = 30.0,
    resume: bool = False,
    params: dict | None = None,
    label: str = "run",
    progress: bool | None = None,
    max_steps: int | None = None,
    on_evaluate: Callable[[float, dict], None] | None = None,
) -> TrainResult:
    """Train ``method`` with gamma-cycles until the cost reaches ``cost_budget``.

    Parameters
    ----------
    method : MultilevelMethod
    stream : msann.data.MinibatchStream
        Infinite ``(inputs, targets)`` minibatches with ``state_dict``.
    validation : (inputs, targets)
        Tensors on the method's device.
    training : (inputs, targets), optional
        A fixed subset of the training data, evaluated at the same points as
        ``validation``; its errors join each evaluation with the prefix
        ``train_`` in place of ``val_`` (``val_l2`` -> ``train_l2``).  The
        logged history stays the validation error.
    gamma : int
        Recursion count (1: V-cycle, 2: W-cycle).
    k : int or sequence of int
        Smoothing batches per visit (one value per level when a sequence).
    cost_budget : float
        Stop once ``C(t) >= cost_budget``.
    batch_size : int
        Examples per minibatch (the stream's).
    eval_points : int
        Points of the log-spaced cost grid.
    checkpoint : path, optional
        Checkpoint file; none are written when omitted.
    checkpoint_every : float
        Seconds between checkpoints.
    resume : bool
        Continue from ``checkpoint`` (or its ``.prev``) when it exists.
    params : dict, optional
        The run's configuration; its hash is stored in the checkpoint, and a
        checkpoint of another configuration is refused.
    label : str
        Progress-bar label.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    max_steps : int, optional
        Stop (with a checkpoint) after this many steps in this call: a clean
        interruption, used to test resuming.
    on_evaluate : callable, optional
        Called as ``on_evaluate(cost, errors)`` after each evaluation.
    """
    depth = method.hierarchy.depth
    gamma = check_positive_int("gamma", gamma)
    visits = [check_positive_int("k", value) for value in per_level("k", k, depth)]
    cost_budget = check_positive("cost_budget", cost_budget)
    batch_size = check_positive_int("batch_size", batch_size)
    events = list(cycle_events(depth, gamma))
    step_costs = [level.relative_cost * batch_size for level in method.hierarchy.levels]
    fingerprint = _fingerprint(params or {})
    path = Path(checkpoint) if checkpoint is not None else None

    grid = CostGrid(cost_budget, points=eval_points, first=min(step_costs))
    state = {"position": 0, "substep": 0, "cost": 0.0, "steps": 0, "cycles": 0, "seconds": 0.0, "history": [], "evaluations": []}
    saved = _resume_state(path, fingerprint) if (resume and path is not None) else None
    if saved is not None:
        method.load_state_dict(saved["method"])
        stream.load_state_dict(saved["stream"])
        grid.load_state_dict(saved["grid"])
        state = saved["loop"]
        logger.info("resumed %s from %s at cost %.6g (%d steps)", label, path, state["cost"], state["steps"])

    began = time.perf_counter()
    offset = state["seconds"]
    losses: list = []

    def seconds() -> float:
        return offset + time.perf_counter() - began

    def check_losses() -> None:
        if losses:
            values = torch.stack(losses)
            if not bool(torch.isfinite(values).all()):
                raise DivergenceError(
                    f"{label}: the training loss became {float(values[~torch.isfinite(values)][0])} near cost {state['cost']:.6g} "
                    f"(step {state['steps']}); stopped. The last good checkpoint{' ' + str(path) if path else ''} is kept."
                )
            losses.clear()

    def evaluate() -> None:
        check_losses()
        errors = method.evaluate(*validation)
        error = next(iter(errors.values()))
        if not math.isfinite(error):
            raise DivergenceError(
                f"{label}: the validation error became {error} at cost {state['cost']:.6g}; stopped. "
                f"The last good checkpoint{' ' + str(path) if path else ''} is kept."
            )
        if training is not None:
            errors.update({_training_key(key): value for key, value in method.evaluate(*training).items()})
        state["history"].append((state["cost"], error, seconds()))
        state["evaluations"].append(dict(errors, cost=state["cost"]))
        if on_evaluate is not None:
            on_evaluate(state["cost"], errors)

    def save() -> None:
        if path is None:
            return
        check_losses()
        method_state = method.state_dict()
        bad = _first_non_finite(method_state)
        if bad is not None:
            raise DivergenceError(
                f"{label}: {bad} became non-finite near cost {state['cost']:.6g} (step {state['steps']}); stopped. "
                f"The last good checkpoint {path} is kept."
            )
        state["seconds"] = seconds()
        save_checkpoint(path, {"fingerprint": fingerprint, "method": method_state, "stream": stream.state_dict(),
                               "grid": grid.state_dict(), "loop": state})

    if not state["history"]:
        evaluate()
    last_save = time.perf_counter()
    steps_here = 0
    choose_batch = getattr(method, "batch", None)
    with _progress(cost_budget, label, progress) as bar:
        bar.update(min(state["cost"], cost_budget))
        while state["cost"] < cost_budget:
            kind, level = events[state["position"]]
            if kind == "smooth":
                inputs, targets = next(stream) if choose_batch is None else choose_batch(level, stream)
                losses.append(method.smooth_step(level, inputs, targets))
                state["cost"] += step_costs[level]
                state["steps"] += 1
                steps_here += 1
                bar.update(min(step_costs[level], max(cost_budget - bar.n, 0)))
                if grid.due(state["cost"]):
                    evaluate()
                state["substep"] += 1
                if state["substep"] < visits[level]:
                    continue
            else:
                extra = method.down(level) if kind == "down" else method.up(level)
                if extra:
                    state["cost"] += float(extra)
                    bar.update(min(float(extra), max(cost_budget - bar.n, 0)))
            state["substep"] = 0
            state["position"] += 1
            if state["position"] == len(events):
                state["position"], state["cycles"] = 0, state["cycles"] + 1
            if max_steps is not None and steps_here >= max_steps:
                save()
                return _result(state, len(events))
            if path is not None and time.perf_counter() - last_save >= checkpoint_every:
                save()
                last_save = time.perf_counter()
    if not state["history"] or state["history"][-1][0] != state["cost"]:
        evaluate()
    save()
    state["seconds"] = seconds()
    return _result(state, len(events))


def _training_key(key: str) -> str:
    """The name of a validation error measured on training data: ``val_l2`` -> ``train_l2``."""
    return "train_" + key.removeprefix("val_")


def _result(state: dict, n_events: int) -> TrainResult:
    return TrainResult(
        history=[tuple(point) for point in state["history"]],
        total_cost=state["cost"],
        wall_seconds=state["seconds"],
        steps=state["steps"],
        cycles=state["cycles"] + state["position"] / n_events,
        evaluations=list(state["evaluations"]),
    )
