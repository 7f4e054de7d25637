"""The on-disk cache of the Poisson benchmark data (:mod:`msann.data.poisson`).

:func:`~msann.data.poisson.generate_poisson_data` stores the parameters (float64) and
the solutions (float32, as the networks use them; 41 MB for the default set;
everything else is recomputed from the parameters) in a ``.npz`` whose name is a
content hash of the generator version, ``n_samples``, ``grid_size``, ``seed``
and ``face_mean``; the input choice is not part of the key because it is not
part of the file.  The file holds SHA-256 checksums of its arrays; a file that
is unreadable, truncated or fails a checksum is reported with a warning and
regenerated.  The folder is the ``cache_dir`` argument, else ``$MSANN_CACHE``,
else the platform's user cache folder for ``"msann"``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from graphprolong.cache import cache_directory as _cache_directory
from graphprolong.io import array_checksum, atomic_write_bytes

from .poisson_solver import PARAMETER_NAMES

__all__ = ["CACHE_ENVIRONMENT_VARIABLE", "GENERATOR_VERSION", "cache_directory", "cache_path"]

#: Bump when a change alters the generated data; it is part of the cache key.
GENERATOR_VERSION = "1"

CACHE_ENVIRONMENT_VARIABLE = "MSANN_CACHE"


def cache_directory(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the cache folder: ``cache_dir``, else ``$MSANN_CACHE``, else the platform cache for ``msann``."""
    return _cache_directory(cache_dir, variable=CACHE_ENVIRONMENT_VARIABLE, application="msann")


def _cache_record(n_samples: int, grid_size: int, seed: int, face_mean: str) -> dict[str, Any]:
    return {
        "generator": "poisson",
        "generator_version": GENERATOR_VERSION,
        "n_samples": n_samples,
        "grid_size": grid_size,
        "seed": seed,
        "face_mean": face_mean,
    }


def cache_path(
    n_samples: int, *, grid_size: int = 32, seed: int = 0, face_mean: str = "arithmetic",
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Return the cache file of a data set (a content hash of everything that shapes it)."""
    record = _cache_record(n_samples, grid_size, seed, face_mean)
    key = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
    return cache_directory(cache_dir) / f"poisson-{key[:32]}.npz"


def _save(path: Path, record: dict[str, Any], parameters: np.ndarray, solutions: np.ndarray) -> None:
    metadata = dict(record, checksums={"parameters": array_checksum(parameters), "solutions": array_checksum(solutions)})
    text = json.dumps(metadata, sort_keys=True)
    atomic_write_bytes(path, lambda file: np.savez(file, parameters=parameters, solutions=solutions, metadata=np.array(text)))


def _load(path: Path, record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Read a cache file; raise ``ValueError`` saying why it is unusable."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            parameters = np.array(archive["parameters"])
            solutions = np.array(archive["solutions"])
            metadata = json.loads(str(archive["metadata"]))
    except Exception as error:  # a damaged file can fail in many ways (zip, header, JSON); all mean "regenerate"
        raise ValueError(f"unreadable ({type(error).__name__}: {error})") from None
    checksums = metadata.pop("checksums", {}) if isinstance(metadata, dict) else {}
    if metadata != record:
        raise ValueError(f"its metadata {metadata} do not match the request {record}")
    for name, values in (("parameters", parameters), ("solutions", solutions)):
        if checksums.get(name) != array_checksum(values):
            raise ValueError(f"the checksum of {name} does not match; the file is corrupt")
    M = record["grid_size"]
    if parameters.shape != (record["n_samples"], len(PARAMETER_NAMES)) or solutions.shape != (record["n_samples"], M * M):
        raise ValueError(f"arrays have shapes {parameters.shape} and {solutions.shape}")
    return parameters, solutions
