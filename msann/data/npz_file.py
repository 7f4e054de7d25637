"""A user ``.npz`` file as a data set (:func:`npz`): bring your own data.

The archive holds ``X`` (``N x d`` inputs) and optionally ``Y`` (``N x d_out``
targets; without it the targets are the inputs: an autoencoder),
``X_val``/``Y_val`` (a given validation split; without ``X_val`` a random
part of ``X`` is held out).  Like the built-in sets it can add input noise
(drawn once per example from the seed) and it can scale the data
(:data:`SCALINGS`, fitted on the training split only).

Values may lie anywhere (finite); whether the *targets* fit the network is
checked against its output activation when a run is set up
(:func:`msann.experiment.run_experiment`: a sigmoid output needs targets in
[0, 1], so choose ``scaling = "min-max"`` or another output activation).

The module is not named ``npz`` so that the package attribute
``msann.data.npz`` stays the function.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from graphprolong.checks import check_choice, check_positive_int, check_unit_interval
from graphprolong.io import array_checksum

from .dataset import Dataset, _describe

__all__ = ["NPZ_NOISE_KINDS", "SCALINGS", "npz"]

#: The arrays an archive may hold.
ARRAYS = ("X", "Y", "X_val", "Y_val")
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")


def _min_max(train: np.ndarray) -> tuple[float, float]:
    low, high = float(train.min()), float(train.max())
    return low, (high - low) or 1.0


def _standard(train: np.ndarray) -> tuple[float, float]:
    return float(train.mean(dtype=np.float64)), float(train.std(dtype=np.float64)) or 1.0


#: Scalings ``train -> (shift, scale)``; the data become ``(values - shift) / scale``.  One shift and one
#: scale for all ``d`` units (they are positions of one signal, so their relation is kept), fitted on the
#: training split only and applied to both splits.  ``"min-max"``: the training data span [0, 1];
#: ``"standard"``: mean 0 and standard deviation 1.  A constant array keeps scale 1.
SCALINGS: dict[str, Callable[[np.ndarray], tuple[float, float]] | None] = {
    "none": None, "min-max": _min_max, "standard": _standard,
}


def _fire(inputs: np.ndarray, mask: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    return np.where(mask, np.float32(1.0), inputs)


def _flip(inputs: np.ndarray, mask: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    return np.where(mask, np.float32(1.0) - inputs, inputs)


def _gaussian(inputs: np.ndarray, mask: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    return inputs + np.float32(noise) * rng.standard_normal(inputs.shape, dtype=np.float32)


#: Input noise ``(inputs, mask, rng, noise) -> noisy`` where ``mask`` is true with probability ``noise``:
#: ``"fire"`` sets an entry to 1 and ``"flip"`` maps it to ``1 - x`` (on 0/1 data, as
#: :data:`msann.data.NOISE_KINDS`); ``"gaussian"`` adds normal noise of standard deviation ``noise`` to every entry.
NPZ_NOISE_KINDS: dict[str, Callable[..., np.ndarray]] = {"fire": _fire, "flip": _flip, "gaussian": _gaussian}


def _check_npz_array(path: Path, key: str, array: np.ndarray) -> np.ndarray:
    if array.ndim != 2:
        raise ValueError(
            f"{path}: array {key} must be 2-D (N examples x d units; flatten images and pass shape=); "
            f"got ndim = {array.ndim}, shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{path}: array {key} must have N >= 1 rows and d >= 1 columns; got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{path}: array {key} must be numeric (bool, int or float); got dtype {array.dtype}")
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            nan = int(np.isnan(array).sum())
            infinite = int(array.size - finite.sum() - nan)
            raise ValueError(
                f"{path}: array {key} must be finite; found {nan} NaN and {infinite} infinite entries"
            )
    return np.ascontiguousarray(array, dtype=np.float32)


def _unit_shape(shape: Sequence[int] | None, dimension: int) -> tuple[int, ...]:
    if shape is None:
        return (dimension,)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise TypeError(f"shape must be a sequence of ints such as (28, 28); got {shape!r}")
    sizes = tuple(check_positive_int("shape entry", size) for size in shape)
    if not sizes or math.prod(sizes) != dimension:
        raise ValueError(f"shape must have product equal to d = {dimension}; got shape = {tuple(shape)}")
    return sizes


def _open_npz(path: Path):
    """``np.load`` of an archive, with one clear error for a file that is not a whole ``.npz`` archive."""
    with open(path, "rb") as file:
        start = file.read(4)
    if start[:2] == b"\x93N":
        raise ValueError(f"{path}: must be an .npz archive (numpy.savez) holding X; got a single .npy array")
    if start not in _ZIP_SIGNATURES:
        raise ValueError(f"{path}: not an .npz archive (numpy.savez): it does not start with the zip signature "
                         f"(first bytes {start!r})")
    try:
        return np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        raise ValueError(f"{path}: not a readable .npz archive: truncated or corrupt zip file "
                         f"({type(error).__name__})") from None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of :data:`ARRAYS` that the archive at ``path`` holds."""
    archive = _open_npz(path)
    if not isinstance(archive, Mapping):
        raise ValueError(
            f"{path}: must be an .npz archive (numpy.savez) holding X; got a single {_describe(archive)}"
        )
    with archive:
        if "X" not in archive:
            present = ", ".join(sorted(archive)) or "none"
            raise ValueError(f"{path}: must hold an array named X (N x d); found arrays: {present}")
        arrays = {}
        for key in ARRAYS:
            if key not in archive:
                continue
            try:
                arrays[key] = np.asarray(archive[key])
            except ValueError:  # numpy refuses object arrays without pickle, and suggests allowing it: we do not
                raise ValueError(f"{path}: array {key} holds Python objects, which are not read (they could run "
                                 f"code); save numeric arrays") from None
            except (zipfile.BadZipFile, EOFError, OSError) as error:
                raise ValueError(f"{path}: array {key} cannot be read: truncated or corrupt archive "
                                 f"({type(error).__name__})") from None
    return arrays


def _pairs(path: Path, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The checked arrays: ``Y`` with ``X``, ``Y_val`` with ``X_val``, rows and widths agreeing."""
    if "Y_val" in raw and "X_val" not in raw:
        raise ValueError(f"{path}: Y_val needs X_val (the validation inputs); found Y_val only")
    if ("Y" in raw) != ("Y_val" in raw) and "X_val" in raw:
        given, missing = ("Y", "Y_val") if "Y" in raw else ("Y_val", "Y")
        raise ValueError(f"{path}: with X_val, give both Y and Y_val or neither; found {given} but not {missing}")
    arrays = {key: _check_npz_array(path, key, value) for key, value in raw.items()}
    for inputs, targets in (("X", "Y"), ("X_val", "Y_val")):
        if targets in arrays and arrays[targets].shape[0] != arrays[inputs].shape[0]:
            raise ValueError(f"{path}: {targets} must have one row per row of {inputs}; "
                             f"got {arrays[targets].shape[0]} rows for {targets} and {arrays[inputs].shape[0]} for {inputs}")
    for train, val in (("X", "X_val"), ("Y", "Y_val")):
        if val in arrays and arrays[val].shape[1] != arrays[train].shape[1]:
            raise ValueError(f"{path}: {val} must have the same d as {train}; "
                             f"got d = {arrays[val].shape[1]} for {val} and {arrays[train].shape[1]} for {train}")
    return arrays


def _split(arrays: dict[str, np.ndarray], val_fraction: float, seed: int) -> tuple[dict[str, np.ndarray], str]:
    """Training and validation arrays ``{"train_X", "train_Y", "val_X", "val_Y"}`` (``*_Y`` only with ``Y``)."""
    if "X_val" in arrays:
        parts = {"train_X": arrays["X"], "val_X": arrays["X_val"]}
        if "Y" in arrays:
            parts.update(train_Y=arrays["Y"], val_Y=arrays["Y_val"])
        return parts, "X_val"
    count = int(round(val_fraction * arrays["X"].shape[0]))
    if not 1 <= count < arrays["X"].shape[0]:
        raise ValueError(
            f"val_fraction must leave >= 1 validation and >= 1 training example of N = {arrays['X'].shape[0]}; "
            f"got val_fraction = {val_fraction} ({count} validation examples)"
        )
    order = np.random.default_rng(seed).permutation(arrays["X"].shape[0])
    rows = {"val": np.sort(order[:count]), "train": np.sort(order[count:])}
    parts = {f"{part}_{key}": np.ascontiguousarray(arrays[key][rows[part]])
             for part in ("train", "val") for key in ("X", "Y") if key in arrays}
    return parts, f"random {val_fraction} of X"


def _scaled(train: np.ndarray, val: np.ndarray, scaling: str) -> tuple[np.ndarray, np.ndarray, dict | None]:
    fit = SCALINGS[scaling]
    if fit is None:
        return train, val, None
    shift, scale = fit(train)
    transform = lambda values: np.ascontiguousarray((values - np.float32(shift)) / np.float32(scale), dtype=np.float32)  # noqa: E731
    return transform(train), transform(val), {"shift": shift, "scale": scale}


def _noisy(inputs: np.ndarray, rng: np.random.Generator, noise: float, noise_kind: str) -> np.ndarray:
    mask = rng.random(inputs.shape, dtype=np.float32) < noise
    return np.ascontiguousarray(NPZ_NOISE_KINDS[noise_kind](inputs, mask, rng, noise), dtype=np.float32)


def npz(
    *,
    path: str | os.PathLike,
    shape: Sequence[int] | None = None,
    val_fraction: float = 0.1,
    scaling: str = "none",
    noise: float = 0.0,
    noise_kind: str = "fire",
    seed: int = 0,
) -> Dataset:
    """A user ``.npz`` file as a data set.

    Parameters
    ----------
    path : path-like
        ``.npz`` file (``numpy.savez``) holding ``X`` (``N x d`` inputs,
        finite, bool/int/float, converted to float32) and optionally ``Y``
        (``N x d_out`` targets; default: the inputs, an autoencoder),
        ``X_val`` and ``Y_val`` (the validation split; ``Y_val`` exactly
        when ``Y``).  In a recipe, a relative ``path`` is read from the
        recipe file's folder.
    shape : sequence of int or None
        Layout of the ``d`` input units (e.g. ``(28, 28)`` for row-major
        flattened images; its product must be ``d``); default ``(d,)``.
    val_fraction : float
        Without ``X_val``: the fraction of ``X`` held out for validation,
        ``round(val_fraction * N)`` examples chosen with ``seed``; both parts
        must be non-empty.  Ignored when ``X_val`` is present.
    scaling : {"none", "min-max", "standard"}
        :data:`SCALINGS`, fitted on the training split only (inputs and
        targets each their own); before the noise.
    noise : float
        Input noise: a probability in [0, 1] for ``"fire"``/``"flip"``, the
        standard deviation for ``"gaussian"`` (:data:`NPZ_NOISE_KINDS`).
        Drawn once per example from ``seed``, on the inputs of both splits;
        the targets stay clean.  0: none.
    noise_kind : {"fire", "flip", "gaussian"}
    seed : int
        Seed of the split and of the noise.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a whole ``.npz`` archive, lacks ``X``, holds
        Python objects, an array is not 2-D or not finite, the arrays'
        rows or widths disagree, ``shape`` does not match ``d``, or the split
        leaves a part empty.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "mine.npz"
    >>> np.savez(file, X=np.arange(40.0).reshape(10, 4))
    >>> data = npz(path=file, scaling="min-max", noise=0.1, noise_kind="gaussian")
    >>> float(data.train_targets.min()), float(data.train_targets.max()), data.n_val
    (0.0, 1.0, 1)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz data file not found: {path}" + (" (a folder)" if path.is_dir() else ""))
    seed = check_positive_int("seed", seed, minimum=0)
    val_fraction = check_unit_interval("val_fraction", val_fraction)
    scaling = check_choice("scaling", scaling, SCALINGS)
    noise_kind = check_choice("noise_kind", noise_kind, NPZ_NOISE_KINDS)
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0
            and (noise <= 1 or noise_kind == "gaussian")):
        rule = "a finite number >= 0" if noise_kind == "gaussian" else f"a probability in [0, 1] for noise_kind {noise_kind!r}"
        raise ValueError(f"noise must be {rule}; got {noise!r}")
    arrays = _pairs(path, _read_npz(path))
    unit_shape = _unit_shape(shape, arrays["X"].shape[1])
    parts, split = _split(arrays, val_fraction, seed)
    train_X, val_X, input_scale = _scaled(parts["train_X"], parts["val_X"], scaling)
    if "train_Y" in parts:
        train_Y, val_Y, target_scale = _scaled(parts["train_Y"], parts["val_Y"], scaling)
    else:
        train_Y, val_Y, target_scale = train_X, val_X, input_scale
    if noise > 0:
        rng = np.random.default_rng([seed, 1])  # apart from the split's stream
        train_X, val_X = _noisy(train_X, rng, noise, noise_kind), _noisy(val_X, rng, noise, noise_kind)
    metadata = {
        "name": "npz",
        "path": str(path),
        "arrays": sorted(arrays),
        "shape": list(unit_shape),
        "val_fraction": val_fraction,
        "validation_split": split,
        "n_train": int(train_X.shape[0]),
        "n_val": int(val_X.shape[0]),
        "seed": seed,
        "checksum": array_checksum(arrays["X"]),
        "scaling": scaling,
        "input_scaling": input_scale,
        "target_scaling": target_scale,
        "noise": float(noise),
        "noise_kind": noise_kind,
        "noise_on": "inputs",
    }
    target_shape = tuple(train_Y.shape[1:]) if train_Y.shape[1] != train_X.shape[1] else None
    return Dataset("npz", train_X, train_Y, val_X, val_Y, unit_shape, metadata, target_shape=target_shape)
