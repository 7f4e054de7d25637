"""Export and import of chains of prolongation maps along a lineage.

A chain is ``P_0, P_1, ...`` with ``P_k`` mapping size ``k`` to size ``k + 1``
(shape ``n_{k+1} x n_k``).  Formats, chosen by the file suffix:

``.npz``
    arrays ``P_0, P_1, ...`` and a JSON string ``metadata``.
``.mtx``
    one MatrixMarket file per map, ``STEM.P_k.mtx``, beside a JSON manifest
    ``STEM.json`` that holds the metadata and the file names.
``.pt``
    a ``torch.save`` dictionary ``{"P": [tensors], "metadata": dict}``;
    needs torch.

The metadata records the lineage, sizes, s, method, the version and a SHA-256
checksum per map; :func:`load_prolongations` verifies checksums, the chain of
shapes and orthonormality.  Every file is written atomically.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from .checks import check_choice
from .cache import PROLONGATION_METHODS, get_prolongation
from .io import MetadataError, atomic_write_bytes, check_map_values, check_metadata_object, map_checksum
from .lineages import lineage_kind
from .map_forms import map_from_parts, map_parts
from .operators import structured_matrices
from .optional import require_torch

__all__ = ["FORMATS", "export_chain", "load_prolongations", "parse_sizes", "prolongation_chain", "structured_wanted"]


def structured_wanted(options: dict[str, Any]) -> bool:
    """Whether solve ``options`` want lineage graphs as :class:`~graphprolong.operators.StructuredMatrices`.

    The torch backend applies them as Kronecker operators (no networkx graph,
    no ``n x n`` matrix: the way to large grids) and ``init="box-matching"``
    needs their factors.  Otherwise the networkx graphs are kept: a spectral
    map depends on the eigenbasis in repeated eigenvalues (see
    :func:`~graphprolong.cache.get_prolongation`).
    """
    return options.get("backend") == "torch" or options.get("init") == "box-matching" or bool(options.get("factored"))

#: File formats by suffix.
FORMATS = (".npz", ".mtx", ".pt")


def parse_sizes(text: str, *, lineage: str) -> list[tuple[int, ...]]:
    """Parse ``"16,32,64"`` (1-D) or ``"7x7,14x14,28x28"`` (grids) into size tuples."""
    kind = lineage_kind(lineage)
    pattern = r"\d+" if kind.one_dimensional else r"\d+(x\d+)*"
    items = [item.strip() for item in str(text).split(",")]
    if len(items) < 2 or not all(re.fullmatch(pattern, item) for item in items):
        example = "16,32,64" if kind.one_dimensional else "7x7,14x14,28x28"
        raise ValueError(f"sizes must be at least two comma-separated sizes like {example!r} for {lineage}; got {text!r}")
    sizes = [tuple(int(part) for part in item.split("x")) for item in items]
    if len({len(size) for size in sizes}) != 1:
        raise ValueError(f"every grid size must have the same number of dimensions; got {text!r}")
    counts = [int(np.prod(size)) for size in sizes]
    if any(b < a for a, b in zip(counts, counts[1:])) or min(counts) < 1:
        raise ValueError(f"sizes must be positive and non-decreasing in vertex count; got {text!r} ({counts} vertices)")
    return sizes


def prolongation_chain(
    lineage: str,
    sizes: Sequence[tuple[int, ...]],
    *,
    s: float,
    method: str = "auto",
    recipe: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    **options,
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Return the maps between consecutive ``sizes`` (through the cache) and their metadata.

    Parameters
    ----------
    lineage : {"path", "cycle", "grid", "grid:periodic"}
    sizes : sequence of tuple of int
        As :func:`parse_sizes` returns them.
    s : float
    method : {"auto", "recipe", "spectral", "optimize"}
        See :func:`~graphprolong.cache.get_prolongation`; ``"recipe"`` needs
        every step to follow a recipe's size rule (``n -> 2n`` per axis).
    recipe : str, optional
        Name of the recipe for ``method="recipe"`` (default: the preferred
        recipe of the lineage at ``s``).
    cache_dir : path, optional
    **options
        ``seed``, ``alpha``, ``beta`` and solver options, passed to
        :func:`~graphprolong.cache.get_prolongation` and recorded in the metadata.
        With ``backend="torch"`` or ``init="box-matching"`` the lineage's
        graphs are :class:`~graphprolong.operators.StructuredMatrices`
        (:func:`structured_wanted`).

    Returns
    -------
    maps : list of ndarray
    metadata : dict
        ``lineage``, ``sizes``, ``s``, ``method``, ``recipe``, ``options``,
        ``version``, ``checksums`` and ``steps``: per map the method that made
        it and the recipe name and version (None when no recipe did).
    """
    from . import __version__

    kind = lineage_kind(lineage)
    check_choice("method", method, PROLONGATION_METHODS)
    if structured_wanted(options):
        graphs = [structured_matrices(kind, size) for size in sizes]
    else:
        graphs = [kind.graph(size) for size in sizes]
    maps, steps = [], []
    for small, large in zip(graphs, graphs[1:]):
        P, entry = get_prolongation(
            small, large, s=s, method=method, recipe=recipe, cache_dir=cache_dir, return_metadata=True, **options
        )
        made_by = entry.get("recipe") or {}
        maps.append(P)
        steps.append({"method": entry.get("method"), "recipe": made_by.get("name"), "recipe_version": made_by.get("version")})
    metadata = {
        "lineage": lineage,
        "sizes": [list(size) for size in sizes],
        "s": s,
        "method": method,
        "recipe": recipe,
        "options": options,
        "version": __version__,
        "checksums": [map_checksum(P) for P in maps],
        "steps": steps,
    }
    return maps, metadata


def _names(metadata: dict[str, Any], suffix: str = "") -> list[list[str]]:
    """Per map, the names of its arrays: ``P_k`` (dense) or ``P_k_part_i`` (factored)."""
    return [
        [f"P_{k}{suffix}"] if form == "dense" else [f"P_{k}_part_{index}{suffix}" for index in range(count)]
        for k, (form, count) in enumerate(zip(metadata["forms"], metadata["part_counts"]))
    ]


def _assemble(parts: list[list[np.ndarray]], metadata: dict[str, Any]) -> list:
    return [map_from_parts(form, arrays) for arrays, form in zip(parts, metadata["forms"])]


def export_chain(path: str | os.PathLike, maps: Sequence, metadata: dict[str, Any]) -> list[Path]:
    """Write ``maps`` and ``metadata`` in the format of ``path``'s suffix; return the files written.

    A factored map (:mod:`graphprolong.kronecker`) is written as its arrays
    (``P_k_part_0, P_k_part_1, ...``, :func:`~graphprolong.map_forms.map_parts`);
    ``metadata["forms"]`` says which form each map has.
    """
    path = Path(path)
    suffix = check_choice("export format", path.suffix, FORMATS)
    forms, parts = zip(*(map_parts(P) for P in maps)) if maps else ((), ())
    metadata = dict(
        metadata, checksums=[map_checksum(P) for P in maps], count=len(maps), forms=list(forms),
        part_counts=[len(arrays) for arrays in parts],
    )
    if suffix == ".npz":
        arrays = {name: array for names, arrays_k in zip(_names(metadata), parts) for name, array in zip(names, arrays_k)}
        return [atomic_write_bytes(path, lambda file: np.savez(file, metadata=np.array(json.dumps(metadata)), **arrays))]
    if suffix == ".pt":
        torch = require_torch("the .pt export format")
        payload = {"P": [[torch.from_numpy(array) for array in arrays] for arrays in parts], "metadata": metadata}
        return [atomic_write_bytes(path, lambda file: torch.save(payload, file))]
    written = []
    for names, arrays in zip(_names(metadata, ".mtx"), parts):
        for name, array in zip(names, arrays):
            buffer = io.BytesIO()
            scipy.io.mmwrite(buffer, array, precision=17)
            target = path.with_name(f"{path.stem}.{name}")
            written.append(atomic_write_bytes(target, lambda file, data=buffer.getvalue(): file.write(data)))
    manifest = dict(metadata, files=[target.name for target in written])
    written.append(atomic_write_bytes(path.with_suffix(".json"), lambda file: file.write(json.dumps(manifest, indent=2).encode())))
    return written


def _read(path: Path) -> tuple[list, dict[str, Any]]:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            metadata = check_metadata_object(str(path), json.loads(str(data["metadata"])))
            _legacy(metadata)
            return _assemble([[np.array(data[name]) for name in names] for names in _names(metadata)], metadata), metadata
    if path.suffix == ".pt":
        payload = require_torch("the .pt export format").load(path, weights_only=True)
        metadata = check_metadata_object(str(path), payload["metadata"])
        _legacy(metadata)
        parts = [[t.numpy() for t in entry] if isinstance(entry, (list, tuple)) else [entry.numpy()] for entry in payload["P"]]
        return _assemble(parts, metadata), metadata
    metadata = check_metadata_object(str(path.with_suffix(".json")), json.loads(path.with_suffix(".json").read_text()))
    _legacy(metadata)
    files = iter(metadata["files"])
    parts = [[np.asarray(scipy.io.mmread(path.with_name(next(files))), dtype=float) for _ in names] for names in _names(metadata)]
    return _assemble(parts, metadata), metadata


def _legacy(metadata: dict[str, Any]) -> None:
    """Chains written before factored maps existed hold dense maps only."""
    metadata.setdefault("forms", ["dense"] * metadata["count"])
    metadata.setdefault("part_counts", [1] * metadata["count"])


def load_prolongations(path: str | os.PathLike) -> tuple[list, dict[str, Any]]:
    """Read a chain written by :func:`export_chain` (``.npz``, ``.pt``, or ``.mtx``/``.json`` manifest).

    Factored maps come back as :class:`~graphprolong.kronecker.KroneckerMap`.

    Raises
    ------
    ValueError
        If the file is unreadable, its metadata is not a JSON object, a
        checksum fails, consecutive shapes do not chain (``P_{k+1}`` has
        ``n_{k+1}`` columns) or a map has a non-finite entry or is not
        orthonormal (:func:`~graphprolong.io.check_map_values`).
    """
    path = Path(path)
    if path.suffix == ".json":
        path = path.with_suffix(".mtx")
    check_choice("export format", path.suffix, FORMATS)
    try:
        maps, metadata = _read(path)
    except FileNotFoundError:
        raise
    except MetadataError:
        raise
    except Exception as error:  # any parse failure of a corrupt file
        raise ValueError(f"{path} is not a readable prolongation chain: {type(error).__name__}: {error}") from None
    for k, (P, checksum) in enumerate(zip(maps, metadata.get("checksums", []))):
        if map_checksum(P) != checksum:
            raise ValueError(f"{path}: map P_{k} does not match its checksum; the file is corrupt")
        check_map_values(str(path), P, name=f"map P_{k}")
    if len(metadata.get("checksums", [])) != len(maps):
        raise ValueError(f"{path}: {len(maps)} maps but {len(metadata.get('checksums', []))} checksums in the metadata")
    for k in range(len(maps) - 1):
        if maps[k + 1].shape[1] != maps[k].shape[0]:
            raise ValueError(
                f"{path}: maps do not chain: P_{k} has shape {maps[k].shape} but P_{k + 1} has shape {maps[k + 1].shape} "
                f"(its columns must equal P_{k}'s rows)"
            )
    return maps, metadata
