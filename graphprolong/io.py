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
from .kronecker import KroneckerMap, map_from_parts, map_parts

__all__ = ["array_checksum", "atomic_write_bytes", "load_prolongation", "map_checksum", "prolongation_record", "save_prolongation"]


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


def map_checksum(P) -> str:
    """:func:`array_checksum` of an array; for a factored map (:mod:`graphprolong.kronecker`), the SHA-256 of its form and its arrays' checksums."""
    form, arrays = map_parts(P)
    if form == "dense":
        return array_checksum(arrays[0])
    digest = hashlib.sha256(form.encode())
    for array in arrays:
        digest.update(array_checksum(array).encode())
    return digest.hexdigest()


def _arrays(P) -> dict[str, np.ndarray]:
    form, arrays = map_parts(P)
    return {"P": arrays[0]} if form == "dense" else {f"P_part_{index}": array for index, array in enumerate(arrays)}


def prolongation_record(P: np.ndarray | KroneckerMap, metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` with what :func:`save_prolongation` adds: ``checksum``, ``shape``, ``form`` (and ``shape_parts``)."""
    form, arrays = map_parts(P)
    record = dict(metadata, checksum=map_checksum(P), shape=list(P.shape), form=form)
    if form != "dense":
        record["shape_parts"] = [list(array.shape) for array in arrays]
    return record


def save_prolongation(path: str | os.PathLike, P: np.ndarray | KroneckerMap, *, metadata: dict[str, Any]) -> Path:
    """Write ``P`` and ``metadata`` (JSON-serialisable) to ``path`` atomically.

    The metadata gains ``"checksum"`` (see :func:`map_checksum`), ``"shape"``
    and ``"form"``: ``"dense"`` (array ``P``), or for a factored map
    (:data:`graphprolong.kronecker.FORMS`) its arrays ``P_part_0, P_part_1, ...``
    (:func:`graphprolong.kronecker.map_parts`) with their ``"shape_parts"``.
    """
    arrays = _arrays(P)
    text = json.dumps(prolongation_record(P, metadata), sort_keys=True, allow_nan=True)
    return atomic_write_bytes(path, lambda file: np.savez(file, metadata=np.array(text), **arrays))


def load_prolongation(path: str | os.PathLike) -> tuple[np.ndarray | KroneckerMap, dict[str, Any]]:
    """Read a file written by :func:`save_prolongation` (a :class:`KroneckerMap` for a factored one); verify checksum and orthonormality.

    Raises
    ------
    ValueError
        If the file is not such a file, its checksum does not match, or ``P``
        is not orthonormal.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            metadata = json.loads(str(data["metadata"]))
            form = metadata.get("form", "dense")
            names = ["P"] if form == "dense" else [f"P_part_{index}" for index in range(len(metadata["shape_parts"]))]
            P = map_from_parts(form, [np.array(data[name]) for name in names])
    except FileNotFoundError:
        raise
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable prolongation file (.npz with P and metadata): {error}") from None
    expected = metadata.get("checksum")
    if expected != map_checksum(P):
        raise ValueError(f"{path}: the checksum of P does not match its metadata; the file is corrupt")
    error = orthonormality_error(P)
    if error > ORTHONORMAL_TOLERANCE:
        raise ValueError(f"{path}: P must have orthonormal columns; ||P^T P - I||_F = {error:.3g}")
    return P, metadata
