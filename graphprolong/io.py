"""Saving and loading prolongation maps as ``.npz`` files.

A file holds the array ``P`` and a JSON ``metadata`` string that records how it
was made and a SHA-256 checksum of ``P``.  Writes are atomic (a temporary file
in the same folder, flushed, then renamed over the target), so an interrupted
write never leaves a broken file in place of a good one.  The temporary file
is locked (``flock``) while it is written; a temporary of the same target that
a killed process left behind (older than this process and not locked) is
removed by the next write of that target.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .checks import ORTHONORMAL_TOLERANCE, orthonormality_error
from .kronecker import KroneckerMap
from .map_forms import map_from_parts, map_parts

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locks, so no stale temporary is ever removed
    fcntl = None

__all__ = [
    "MetadataError", "array_checksum", "atomic_write_bytes", "check_map_values", "check_metadata_object", "check_output_folder", "check_output_path", "load_prolongation", "map_checksum",
    "prolongation_record", "remove_stale_temporaries", "save_prolongation",
]

#: When this module was imported: a temporary file last written before then belongs to an earlier process.
_STARTED = time.time()


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


def _temporary_pattern(path: Path) -> re.Pattern:
    """The names :func:`tempfile.mkstemp` gives the temporaries of ``path`` in :func:`atomic_write_bytes`."""
    return re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.tmp")


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``path`` that an interrupted :func:`atomic_write_bytes` left beside it; return them.

    Only files named like this target's temporaries, last written before this
    process started and not locked by a live writer, are removed.
    """
    path = Path(path)
    if fcntl is None or not path.parent.is_dir():
        return []
    pattern, removed = _temporary_pattern(path), []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if not pattern.fullmatch(candidate.name) or candidate.lstat().st_mtime >= _STARTED or not candidate.is_file():
                continue
            with open(candidate, "rb") as file:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: a live writer holds it
                candidate.unlink()
            removed.append(candidate)
        except OSError:
            continue
    return removed


def _naming_target(error: OSError, path: Path) -> OSError:
    """``error`` reworded to name ``path`` where it names a temporary file of it, or no file."""
    named = error.filename is None or _temporary_pattern(path).fullmatch(Path(str(error.filename)).name)
    if not named or error.errno is None:
        return error
    return type(error)(error.errno, f"{error.strerror} (writing {path})")


def atomic_write_bytes(path: str | os.PathLike, write) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``.

    The temporary is ``.NAME.XXXXXXXX.tmp``, locked while it is written; stale
    ones of the same ``path`` are removed first (:func:`remove_stale_temporaries`).
    An ``OSError`` names ``path``, not the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            if fcntl is not None:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            write(file)
            file.flush()
            os.fsync(file.fileno())
            os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
            if fcntl is not None:  # renamed while still locked, so no cleaner can take it for a stale one
                os.replace(temporary, path)
        if fcntl is None:  # pragma: no cover - Windows cannot rename an open file
            os.replace(temporary, path)
    except BaseException as error:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _naming_target(error, path) from None
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
    (:data:`graphprolong.map_forms.FORMS`) its arrays ``P_part_0, P_part_1, ...``
    (:func:`graphprolong.map_forms.map_parts`) with their ``"shape_parts"``.
    """
    arrays = _arrays(P)
    text = json.dumps(prolongation_record(P, metadata), sort_keys=True, allow_nan=True)
    return atomic_write_bytes(path, lambda file: np.savez(file, metadata=np.array(text), **arrays))


def check_map_values(source: str, P, *, name: str = "P") -> None:
    """Raise ``ValueError`` naming ``source`` unless the map ``P`` (dense or factored) is finite with orthonormal columns.

    NaN compares false with everything, so the rule is written ``not error <= tolerance``.
    """
    for array in map_parts(P)[1]:
        finite = np.isfinite(array)
        if not finite.all():
            raise ValueError(
                f"{source}: {name} must have finite entries (no NaN or inf); found {array.size - int(finite.sum())} "
                f"non-finite of {array.size}"
            )
    error = orthonormality_error(P)
    if not error <= ORTHONORMAL_TOLERANCE:
        raise ValueError(
            f"{source}: {name} must have orthonormal columns (||P^T P - I||_F <= {ORTHONORMAL_TOLERANCE:g}); "
            f"got ||P^T P - I||_F = {error:.3g}"
        )


class MetadataError(ValueError):
    """Metadata that is valid JSON but not a JSON object."""


def check_metadata_object(source: str, metadata: Any) -> dict[str, Any]:
    """Return ``metadata`` if it is a JSON object (a dict), else raise :class:`MetadataError` naming ``source``."""
    if not isinstance(metadata, dict):
        raise MetadataError(f"{source}: the metadata must be a JSON object; got a JSON {_json_kind(metadata)}")
    return metadata


def _json_kind(value: Any) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def check_output_path(path: str | os.PathLike, *, option: str = "-o") -> Path:
    """Check, before any work, that a file can be written at ``path``; touch nothing that exists.

    ``path`` must not be a folder; its folder (or, when that does not exist
    yet, its nearest existing ancestor) must be a folder in which a file can be
    created: a probe file is created there and removed at once.

    Raises
    ------
    ValueError
        Naming ``option``, the path and the rule broken.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path} must be a file; it is a folder")
    check_output_folder(path.parent, option=option, target=path)
    return path


def check_output_folder(folder: str | os.PathLike, *, option: str, target: str | os.PathLike | None = None) -> Path:
    """Check, before any work, that ``folder`` is, or can be made, a writable folder (see :func:`check_output_path`)."""
    folder = Path(folder)
    shown = Path(target) if target is not None else folder
    existing = next(candidate for candidate in (folder, *folder.absolute().parents) if os.path.lexists(candidate))
    if not existing.is_dir():
        rule = "must be a folder; it is a file" if existing == shown else f"cannot be created: {existing} is a file, not a folder"
        raise ValueError(f"{option} {shown} {rule}")
    try:
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".graphprolong-probe.", suffix=".tmp")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        where = "" if existing == shown.parent or existing == shown else f" (the nearest existing folder {existing})"
        raise ValueError(f"{option} {shown}{where} is not writable: {error.strerror or error}") from None
    return folder


def load_prolongation(path: str | os.PathLike) -> tuple[np.ndarray | KroneckerMap, dict[str, Any]]:
    """Read a file written by :func:`save_prolongation` (a :class:`KroneckerMap` for a factored one); verify checksum and values.

    Raises
    ------
    ValueError
        If the file is not such a file, its metadata is not a JSON object, its
        checksum does not match, or ``P`` has a non-finite entry or is not
        orthonormal (:func:`check_map_values`).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            metadata = json.loads(str(data["metadata"]))
            if isinstance(metadata, dict):
                form = metadata.get("form", "dense")
                names = ["P"] if form == "dense" else [f"P_part_{index}" for index in range(len(metadata["shape_parts"]))]
                P = map_from_parts(form, [np.array(data[name]) for name in names])
    except FileNotFoundError:
        raise
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable prolongation file (.npz with P and metadata): {error}") from None
    check_metadata_object(str(path), metadata)
    expected = metadata.get("checksum")
    if expected != map_checksum(P):
        raise ValueError(f"{path}: the checksum of P does not match its metadata; the file is corrupt")
    check_map_values(str(path), P)
    return P, metadata
