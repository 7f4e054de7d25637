"""Saving and loading prolongation maps as ``.npz`` files.

A file holds the array ``P`` and a JSON ``metadata`` string that records how it
was made and a SHA-256 checksum of ``P``.  Writes are atomic (a temporary file
in the same folder, flushed, then renamed over the target), so an interrupted
write never leaves a broken file in place of a good one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .checks import ORTHONORMAL_TOLERANCE, orthonormality_error

__all__ = ["array_checksum", "atomic_write_bytes", "load_prolongation", "save_prolongation"]


def array_checksum(array: np.ndarray) -> str:
    """Return the SHA-256 hex digest of ``array``'s dtype, shape and C-ordered bytes."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, write) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def save_prolongation(path: str | os.PathLike, P: np.ndarray, *, metadata: dict[str, Any]) -> Path:
    """Write ``P`` and ``metadata`` (JSON-serialisable) to ``path`` atomically.

    The metadata gains ``"checksum"`` (see :func:`array_checksum`) and ``"shape"``.
    """
    P = np.asarray(P, dtype=float)
    record = dict(metadata, checksum=array_checksum(P), shape=list(P.shape))
    text = json.dumps(record, sort_keys=True, allow_nan=True)
    return atomic_write_bytes(path, lambda file: np.savez(file, P=P, metadata=np.array(text)))


def load_prolongation(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a file written by :func:`save_prolongation`; verify checksum and orthonormality.

    Raises
    ------
    ValueError
        If the file is not such a file, its checksum does not match, or ``P``
        is not orthonormal.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            P = np.array(data["P"])
            metadata = json.loads(str(data["metadata"]))
    except FileNotFoundError:
        raise
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable prolongation file (.npz with P and metadata): {error}") from None
    expected = metadata.get("checksum")
    if expected != array_checksum(P):
        raise ValueError(f"{path}: the checksum of P does not match its metadata; the file is corrupt")
    error = orthonormality_error(P)
    if error > ORTHONORMAL_TOLERANCE:
        raise ValueError(f"{path}: P must have orthonormal columns; ||P^T P - I||_F = {error:.3g}")
    return P, metadata
