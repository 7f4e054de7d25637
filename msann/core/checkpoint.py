"""Checkpoints: atomic, checksummed, refused when they belong to another run or format.

A checkpoint file is a magic line naming its format, the SHA-256 of the
payload, and the payload (``torch.save`` of the whole training state).  It is
written atomically; the previous file is kept as ``*.prev``.  Files written
by an older format of the training state are refused with a message saying
so: their method states do not fit the current levels.  A file that is not
an msann checkpoint at all (no magic line) is refused too, and left alone: it
is not ours to replace.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path

import torch

from ..atomic import write_atomically

__all__ = ["CHECKPOINT_NAME", "FORMAT", "CheckpointError", "DivergenceError", "first_non_finite", "fingerprint",
           "load_checkpoint", "resume_state", "save_checkpoint", "to_device"]

logger = logging.getLogger(__name__)

#: File name of the checkpoint inside a run folder.
CHECKPOINT_NAME = "checkpoint.pt"
#: Format of the training state; format 1 (msann before the shared-machinery rewrite) is refused.
FORMAT = 2
_MAGIC = b"MSANN-CHECKPOINT-%d\n"


class DivergenceError(RuntimeError):
    """A loss or validation error became NaN or infinite."""


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, fails its checksum, or belongs to another run or format."""


class _OldFormat(CheckpointError):
    """A checkpoint of an older format: never silently replaced."""


class _Foreign(CheckpointError):
    """A file that is not an msann checkpoint at all: never silently replaced."""


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write ``state`` (torch-serialisable) atomically with a SHA-256 checksum; keep the previous file as ``*.prev``."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    if path.exists():
        path.replace(path.with_name(path.name + ".prev"))
    return write_atomically(path, lambda file: file.write(_MAGIC % FORMAT + digest + b"\n" + payload))


def load_checkpoint(path: str | Path) -> dict:
    """Read a :func:`save_checkpoint` file; :class:`CheckpointError` if it is truncated, corrupt or of another format."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from None
    magic = _MAGIC % FORMAT
    for old in range(1, FORMAT):
        if data.startswith(_MAGIC % old):
            raise _OldFormat(
                f"checkpoint {path} was written by an older msann (checkpoint format {old}; this version reads format "
                f"{FORMAT}) and cannot be resumed; delete it or train into another --out folder"
            )
    header = len(magic) + 65
    if not data.startswith(magic[: len(data)]):  # an empty file is a truncated one
        raise _Foreign(f"{path} is not an msann checkpoint (it does not start with {magic.strip().decode()!r}); "
                       f"move it away or train into another --out folder")
    if len(data) < header:
        raise CheckpointError(f"checkpoint {path} is truncated ({len(data)} bytes, shorter than its header)")
    digest, payload = data[len(magic) : header - 1], data[header:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise CheckpointError(f"checkpoint {path} fails its SHA-256 checksum (truncated or corrupted)")
    try:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    except Exception as error:  # a payload that passes its checksum but is not a torch.save stream
        raise CheckpointError(f"checkpoint {path} passes its checksum but its payload cannot be read "
                              f"({type(error).__name__})") from None


def first_non_finite(state, prefix: str = "") -> str | None:
    """The key path of the first floating-point tensor in a (nested) state dict with a NaN or inf, else None."""
    if isinstance(state, torch.Tensor):
        return prefix or "a tensor" if state.is_floating_point() and not bool(torch.isfinite(state).all()) else None
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, (list, tuple)) else ()
    for key, value in items:
        found = first_non_finite(value, f"{prefix}.{key}" if prefix else str(key))
        if found is not None:
            return found
    return None


def to_device(values, device: torch.device):
    """The tensors of a nested dict/list/tuple moved to ``device`` (containers rebuilt, other values kept)."""
    if isinstance(values, torch.Tensor):
        return values.to(device)
    if isinstance(values, dict):
        return {key: to_device(item, device) for key, item in values.items()}
    if isinstance(values, (list, tuple)):
        return type(values)(to_device(item, device) for item in values)
    return values


def fingerprint(params: dict) -> str:
    """The SHA-256 of a run's configuration (stored in its checkpoints)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def resume_state(path: Path, run_fingerprint: str) -> dict | None:
    """The newest good checkpoint of this run (falling back to ``*.prev``), or None.

    Raises
    ------
    CheckpointError
        For a checkpoint of another configuration or of an older format.
    """
    for candidate in (path, path.with_name(path.name + ".prev")):
        if not candidate.exists():
            continue
        try:
            state = load_checkpoint(candidate)
        except (_OldFormat, _Foreign):
            raise
        except CheckpointError as error:
            logger.warning("%s; trying the previous checkpoint", error)
            continue
        if state.get("fingerprint") != run_fingerprint:
            raise CheckpointError(
                f"checkpoint {candidate} belongs to a different run configuration; use another --out folder or drop --resume"
            )
        return state
    if path.exists() or path.with_name(path.name + ".prev").exists():
        logger.warning("no readable checkpoint of this run in %s: starting it over", path.parent)
    return None
