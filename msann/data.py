"""Data sets for the MsANN autoencoder experiments, and a checkpointable minibatch stream.

A :class:`Dataset` holds training and validation inputs and targets as
``N x d`` float32 arrays, the layout of the ``d`` input units (``unit_shape``:
``(1024,)`` for vectors, ``(32, 32)`` or ``(28, 28)`` for images; the layer
graphs of a hierarchy are built on it) and a JSON-serialisable ``metadata``
record of every option used.  Data sets are made by name through the
:data:`DATASETS` registry (:func:`load_dataset`):

``one_object`` / ``two_object``
    Synthetic denoising vectors of seed 002, section 4.2: zeros with one (or two)
    contiguous runs of ones; binary noise on the inputs only.
``fashion_mnist``
    The standard IDX files of Fashion-MNIST (Debian package
    ``dataset-fashion-mnist``, or any folder given by the user); pixels in
    [0, 1], inputs = targets.
``npz``
    A user ``.npz`` file with an array ``X`` (``N x d``, values in [0, 1]) and
    optionally ``X_val``.

:class:`MinibatchStream` serves an endless sequence of fixed-size minibatches
from tensors kept on the training device, reshuffled every epoch, and can be
checkpointed and resumed batch for batch.

Nothing here downloads anything.
"""

from __future__ import annotations

import gzip
import inspect
import logging
import math
import os
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphprolong.checks import check_choice, check_positive_int, check_unit_interval
from graphprolong.io import array_checksum, atomic_write_bytes

__all__ = [
    "DATASETS",
    "FASHION_MNIST_DIRECTORY",
    "FASHION_MNIST_ENVIRONMENT_VARIABLE",
    "IDX_TYPES",
    "NOISE_KINDS",
    "Dataset",
    "MinibatchStream",
    "fashion_mnist",
    "load_dataset",
    "npz",
    "one_object",
    "read_idx",
    "two_object",
    "write_idx",
]

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# The data set record


@dataclass(frozen=True)
class Dataset:
    """Training and validation data of one experiment.

    Parameters
    ----------
    name : str
        Registry name of the data set (``"one_object"``, ...).
    train_inputs, train_targets : numpy.ndarray
        ``n_train x d`` float32, C-contiguous.  For an autoencoder without
        noise the targets are the *same array* as the inputs (not a copy).
    val_inputs, val_targets : numpy.ndarray
        ``n_val x d`` float32, C-contiguous.  Inputs and targets share ``d``
        unless ``target_shape`` is given (regression, e.g. the Poisson data).
    unit_shape : tuple of int
        Layout of the ``d`` input units, ``prod(unit_shape) == d``: ``(d,)``
        for vectors (path/cycle graphs), ``(rows, columns)`` for images (grid
        graphs, row-major flattening).
    metadata : dict
        Plain JSON-serialisable description, including every option used.
    target_shape : tuple of int, optional
        Layout of the target units when they differ from the inputs'
        (``prod(target_shape)`` = the targets' width); None for autoencoders.

    Raises
    ------
    ValueError
        If an array is not a 2-D C-contiguous float32 array, the sizes
        disagree, or ``prod(unit_shape) != d``.
    """

    name: str
    train_inputs: np.ndarray
    train_targets: np.ndarray
    val_inputs: np.ndarray
    val_targets: np.ndarray
    unit_shape: tuple[int, ...]
    metadata: dict = field(default_factory=dict)
    target_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        arrays = {
            "train_inputs": self.train_inputs,
            "train_targets": self.train_targets,
            "val_inputs": self.val_inputs,
            "val_targets": self.val_targets,
        }
        for label, array in arrays.items():
            if not isinstance(array, np.ndarray) or array.ndim != 2:
                raise ValueError(f"{label} must be a 2-D numpy array (N x d); got {_describe(array)}")
            if array.dtype != np.float32 or not array.flags.c_contiguous:
                raise ValueError(
                    f"{label} must be C-contiguous float32; got dtype {array.dtype}, "
                    f"C-contiguous = {array.flags.c_contiguous}"
                )
        widths = {label: array.shape[1] for label, array in arrays.items()}
        if self.target_shape is None and len(set(widths.values())) != 1:
            raise ValueError(f"all arrays must have the same number of columns d (or give target_shape); got {widths}")
        for role in ("inputs", "targets"):
            if widths[f"train_{role}"] != widths[f"val_{role}"]:
                raise ValueError(f"train_{role} and val_{role} must have the same number of columns; got {widths}")
        if self.target_shape is not None:
            target = tuple(int(size) for size in self.target_shape)
            if not target or any(size < 1 for size in target) or math.prod(target) != widths["train_targets"]:
                raise ValueError(
                    f"target_shape must be positive sizes whose product is the targets' width {widths['train_targets']}; "
                    f"got target_shape = {self.target_shape}"
                )
            object.__setattr__(self, "target_shape", target)
        for split in ("train", "val"):
            rows = (arrays[f"{split}_inputs"].shape[0], arrays[f"{split}_targets"].shape[0])
            if rows[0] != rows[1] or rows[0] == 0:
                raise ValueError(
                    f"{split}_inputs and {split}_targets must have the same number N >= 1 of rows; "
                    f"got {rows[0]} and {rows[1]}"
                )
        shape = tuple(int(size) for size in self.unit_shape)
        if not shape or any(size < 1 for size in shape) or math.prod(shape) != widths["train_inputs"]:
            raise ValueError(
                f"unit_shape must be positive sizes whose product is d = {widths['train_inputs']}; "
                f"got unit_shape = {self.unit_shape}"
            )
        object.__setattr__(self, "unit_shape", shape)

    @property
    def dimension(self) -> int:
        """Number ``d`` of input (and output) units."""
        return int(self.train_inputs.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training examples."""
        return int(self.train_inputs.shape[0])

    @property
    def n_val(self) -> int:
        """Number of validation examples."""
        return int(self.val_inputs.shape[0])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, n_val={self.n_val}, "
            f"dimension={self.dimension}, unit_shape={self.unit_shape})"
        )


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__


# ---------------------------------------------------------------------------
# Synthetic 1-object and 2-object vectors (seed 002, section 4.2)


def _fire(clean: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return clean | mask


def _flip(clean: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return clean ^ mask


#: Binary noise models ``(clean, mask) -> noisy`` on boolean arrays; ``mask``
#: is true with probability ``noise`` independently per entry.
#: ``"fire"``: the pixel is set to 1 (seed 002: "each pixel of the input has an
#: independent chance of firing spuriously"); ``"flip"``: the pixel is toggled.
NOISE_KINDS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "fire": _fire,
    "flip": _flip,
}


def _one_run_starts(rng: np.random.Generator, count: int, length: int, run_length: int) -> np.ndarray:
    """Start of one run, uniform over the ``length - run_length + 1`` placements."""
    return rng.integers(0, length - run_length + 1, size=(count, 1))


def _two_run_starts(rng: np.random.Generator, count: int, length: int, run_length: int) -> np.ndarray:
    """Starts of two runs separated by >= 1 zero, uniform over all such placements.

    The ``free = length - 2 run_length - 1`` zeros that are not the mandatory
    gap are split into (before, between, after) by two distinct "bars" ``a < b``
    among ``free + 2`` slots (stars and bars); every split is equally likely.
    """
    slots = length - 2 * run_length + 1
    first = rng.integers(0, slots, size=count)
    second = rng.integers(0, slots - 1, size=count)
    second = second + (second >= first)
    low, high = np.minimum(first, second), np.maximum(first, second)
    return np.stack([low, high + run_length], axis=1)


def _runs_to_vectors(starts: np.ndarray, length: int, run_length: int) -> np.ndarray:
    positions = np.arange(length)
    clean = np.zeros((starts.shape[0], length), dtype=bool)
    for column in range(starts.shape[1]):
        start = starts[:, column : column + 1]
        clean |= (positions >= start) & (positions < start + run_length)
    return clean


def _object_split(
    seed_sequence: np.random.SeedSequence,
    count: int,
    *,
    length: int,
    run_length: int,
    objects: int,
    noise: float,
    noise_kind: str,
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed_sequence)
    place = _one_run_starts if objects == 1 else _two_run_starts
    clean = _runs_to_vectors(place(rng, count, length, run_length), length, run_length)
    mask = rng.random((count, length), dtype=np.float32) < noise
    noisy = NOISE_KINDS[noise_kind](clean, mask)
    return noisy.astype(np.float32), clean.astype(np.float32)


def _object_dataset(
    *,
    objects: int,
    length: int,
    run_length: int | None,
    noise: float,
    noise_kind: str,
    n_train: int,
    n_val: int,
    seed: int,
) -> Dataset:
    name = "one_object" if objects == 1 else "two_object"
    length = check_positive_int("length", length)
    run_length = length // 8 if run_length is None else check_positive_int("run_length", run_length)
    needed = objects * run_length + (objects - 1)
    if run_length < 1 or needed > length:
        rule = "1 <= run_length <= length" if objects == 1 else "2 * run_length + 1 <= length (two runs and a gap)"
        raise ValueError(f"{name} needs {rule}; got length = {length}, run_length = {run_length}")
    noise = check_unit_interval("noise", noise)
    noise_kind = check_choice("noise_kind", noise_kind, NOISE_KINDS)
    n_train = check_positive_int("n_train", n_train)
    n_val = check_positive_int("n_val", n_val)
    seed = check_positive_int("seed", seed, minimum=0)
    train_seed, val_seed = np.random.SeedSequence(seed).spawn(2)
    options = dict(length=length, run_length=run_length, objects=objects, noise=noise, noise_kind=noise_kind)
    train_inputs, train_targets = _object_split(train_seed, n_train, **options)
    val_inputs, val_targets = _object_split(val_seed, n_val, **options)
    metadata = {
        "name": name,
        "length": length,
        "run_length": run_length,
        "objects": objects,
        "min_gap": 1 if objects == 2 else None,
        "noise": noise,
        "noise_kind": noise_kind,
        "noise_on": "inputs",
        "n_train": n_train,
        "n_val": n_val,
        "seed": seed,
    }
    return Dataset(name, train_inputs, train_targets, val_inputs, val_targets, (length,), metadata)


def one_object(
    *,
    length: int = 1024,
    run_length: int | None = None,
    noise: float = 0.05,
    noise_kind: str = "fire",
    n_train: int = 10000,
    n_val: int = 1000,
    seed: int = 0,
) -> Dataset:
    """Denoising vectors with one object (seed 002, section 4.2.1).

    A clean vector is zeros with one contiguous run of ``run_length`` ones,
    at a position drawn uniformly among the ``length - run_length + 1``
    placements that lie entirely inside the vector.  The input is the clean
    vector with binary noise; the target is the clean vector.

    Binary noise ``p``: seed 002 says "each pixel of the input has an
    independent chance of firing spuriously with p = 0.05", which this module
    reads as ``noise_kind="fire"``: every entry is independently *set to 1*
    with probability ``p`` (ones stay ones; zeros become one with probability
    ``p``).  ``noise_kind="flip"`` toggles every entry (0 <-> 1) with
    probability ``p`` instead.  The noise is drawn once per example, so the
    data set is fixed and reproducible from ``seed``.

    Parameters
    ----------
    length : int
        Number of entries ``d`` (the paper uses ``2**10``).
    run_length : int or None
        Length of the run of ones; default ``length // 8``.
    noise : float
        Noise probability ``p`` in [0, 1].
    noise_kind : {"fire", "flip"}
        Noise model, see above and :data:`NOISE_KINDS`.
    n_train, n_val : int
        Numbers of training and validation examples.
    seed : int
        Seed (>= 0).  Training and validation sets come from independent
        streams spawned from it, so the validation set does not depend on
        ``n_train``.

    Returns
    -------
    Dataset
        ``unit_shape == (length,)``.

    Examples
    --------
    >>> data = one_object(length=64, n_train=100, n_val=10, seed=1)
    >>> data.train_inputs.shape, int(data.train_targets[0].sum())
    ((100, 64), 8)
    """
    return _object_dataset(
        objects=1,
        length=length,
        run_length=run_length,
        noise=noise,
        noise_kind=noise_kind,
        n_train=n_train,
        n_val=n_val,
        seed=seed,
    )


def two_object(
    *,
    length: int = 1024,
    run_length: int | None = None,
    noise: float = 0.05,
    noise_kind: str = "fire",
    n_train: int = 10000,
    n_val: int = 1000,
    seed: int = 0,
) -> Dataset:
    """Denoising vectors with two non-overlapping objects (seed 002, section 4.2.2).

    As :func:`one_object`, but each clean vector holds two runs of
    ``run_length`` ones that neither overlap nor touch: at least one zero lies
    between them, so the target always shows two separate objects (two
    touching runs would be indistinguishable from one run of twice the
    length).  The placement is uniform over all such pairs; this needs
    ``2 * run_length + 1 <= length``.  See :func:`one_object` for the noise
    and the parameters.

    Examples
    --------
    >>> data = two_object(length=64, n_train=5, n_val=2)
    >>> int(data.train_targets[0].sum())
    16
    """
    return _object_dataset(
        objects=2,
        length=length,
        run_length=run_length,
        noise=noise,
        noise_kind=noise_kind,
        n_train=n_train,
        n_val=n_val,
        seed=seed,
    )


# ---------------------------------------------------------------------------
# IDX files (the MNIST / Fashion-MNIST format)

#: IDX type codes and the (big-endian) numpy dtypes they store.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _idx_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"IDX file {path}: corrupt or truncated gzip data ({error})") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a native-endian array.

    The format: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, one
    big-endian uint32 per dimension, then the data in row-major order.
    Compression is detected from the content, not the file name.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not valid IDX: a bad magic number, an unknown type
        code, a truncated header or data, trailing bytes, or corrupt gzip;
        the message names the file and the problem.
    """
    path = Path(path)
    data = _idx_bytes(path)
    if len(data) < 4:
        raise ValueError(f"IDX file {path}: truncated header ({len(data)} bytes, need at least 4)")
    if data[0:2] != b"\x00\x00":
        raise ValueError(
            f"IDX file {path}: bad magic number 0x{data[0:4].hex()} "
            f"(an IDX file starts with two zero bytes, a type code and the number of dimensions)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{key:02X}" for key in IDX_TYPES)
        raise ValueError(f"IDX file {path}: unknown type code 0x{code:02X}; valid type codes are: {known}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"IDX file {path}: truncated header ({len(data)} bytes, need {header} for {ndim} dimensions)"
        )
    shape = tuple(int(size) for size in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise ValueError(
            f"IDX file {path}: truncated data: shape {shape} of {dtype.name} needs {expected} bytes "
            f"after the header, found {found}"
        )
    if found > expected:
        raise ValueError(
            f"IDX file {path}: size mismatch: shape {shape} of {dtype.name} needs {expected} bytes "
            f"after the header, found {found} ({found - expected} trailing bytes)"
        )
    values = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header)
    return values.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    The write is atomic (see :func:`graphprolong.io.atomic_write_bytes`) and
    the gzip header carries no time stamp, so equal arrays give equal files.

    Parameters
    ----------
    path : path-like
        Target file.
    array : array_like
        1 to 255 dimensions, each < 2**32; dtype uint8, int8, int16, int32,
        float32 or float64.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    >>> np.array_equal(read_idx(write_idx(f"{folder}/x-idx3-ubyte.gz", images)), images)
    True
    """
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        valid = ", ".join(dtype.name for dtype in codes)
        raise ValueError(f"IDX files store dtypes {valid}; got dtype {array.dtype}")
    if not 1 <= array.ndim <= 255 or any(size >= 2**32 for size in array.shape):
        raise ValueError(f"IDX files store 1 to 255 dimensions, each < 2**32; got shape {array.shape}")
    payload = (
        bytes([0, 0, codes[native], array.ndim])
        + np.asarray(array.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(array, dtype=IDX_TYPES[codes[native]]).tobytes()
    )
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    return atomic_write_bytes(path, lambda file: file.write(payload))


# ---------------------------------------------------------------------------
# Fashion-MNIST

#: Where the Debian package ``dataset-fashion-mnist`` installs the IDX files.
FASHION_MNIST_DIRECTORY = Path("/usr/share/datasets/fashion-mnist")
#: Environment variable naming a folder of Fashion-MNIST IDX files; used when
#: ``directory`` is not given (e.g. files carried to a machine without the package).
FASHION_MNIST_ENVIRONMENT_VARIABLE = "MSANN_FASHION_MNIST_DIR"
_FASHION_MNIST_IMAGES = {"train": "train-images-idx3-ubyte", "val": "t10k-images-idx3-ubyte"}


def _fashion_mnist_directory(directory: str | os.PathLike | None) -> Path:
    if directory is not None:
        return Path(directory)
    return Path(os.environ.get(FASHION_MNIST_ENVIRONMENT_VARIABLE) or FASHION_MNIST_DIRECTORY)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def _missing_fashion_mnist(directory: Path, missing: Sequence[str]) -> FileNotFoundError:
    wanted = " and ".join(f"{stem}[.gz]" for stem in missing)
    return FileNotFoundError(
        f"Fashion-MNIST not found: looked for {wanted} in {directory}. "
        f"Install the Debian package (apt-get install dataset-fashion-mnist, which puts the files in "
        f"{FASHION_MNIST_DIRECTORY}), or pass directory= (or set {FASHION_MNIST_ENVIRONMENT_VARIABLE}) "
        f"to a folder holding the standard IDX files train-images-idx3-ubyte[.gz], "
        f"train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]."
    )


def _read_images(path: Path) -> np.ndarray:
    images = read_idx(path)
    if images.dtype != np.uint8 or images.ndim != 3 or 0 in images.shape:
        raise ValueError(
            f"IDX file {path}: expected non-empty uint8 images of shape (N, rows, columns); "
            f"got dtype {images.dtype} and shape {images.shape}"
        )
    return images


def _subsample(images: np.ndarray, count: int | None, rng: np.random.Generator, what: str) -> np.ndarray:
    available = images.shape[0]
    if count is None:
        return images
    count = check_positive_int(what, count)
    if count > available:
        raise ValueError(f"{what} must be <= the {available} images available; got {what} = {count}")
    if count == available:
        return images
    return images[np.sort(rng.choice(available, size=count, replace=False))]


def _scale_and_pad(images: np.ndarray, pad_to: int | None) -> np.ndarray:
    count, rows, columns = images.shape
    size = (rows, columns) if pad_to is None else (pad_to, pad_to)
    out = np.zeros((count, *size), dtype=np.float32)
    top, left = (size[0] - rows) // 2, (size[1] - columns) // 2
    out[:, top : top + rows, left : left + columns] = images / np.float32(255.0)
    return out.reshape(count, -1)


def fashion_mnist(
    *,
    directory: str | os.PathLike | None = None,
    pad_to: int | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Fashion-MNIST images for an autoencoder (inputs = targets, no noise).

    Reads ``train-images-idx3-ubyte`` (training split, 60,000 images) and
    ``t10k-images-idx3-ubyte`` (validation split: the standard test set,
    10,000 images), each gzip-compressed (``.gz``, preferred when both exist)
    or not.  The label files are not needed for an autoencoder and not read.
    Pixels are scaled to [0, 1] (``value / 255``) and flattened row-major.

    Parameters
    ----------
    directory : path-like or None
        Folder of the IDX files.  Default: ``$MSANN_FASHION_MNIST_DIR`` if
        set, else ``/usr/share/datasets/fashion-mnist`` (Debian package
        ``dataset-fashion-mnist``).
    pad_to : int or None
        Zero-pad every image, centred, to ``pad_to x pad_to`` (``32`` gives
        the paper's widths: 28 x 28 -> 32 x 32 with 2 zero rows/columns on
        each side); None keeps the file's size.
    n_train, n_val : int or None
        Use a random subset of this many images (drawn without replacement
        with ``seed``, kept in file order); None uses all.
    seed : int
        Seed of the subsampling.

    Returns
    -------
    Dataset
        ``unit_shape == (rows, columns)`` of the (padded) images;
        ``train_targets is train_inputs`` and ``val_targets is val_inputs``.

    Raises
    ------
    FileNotFoundError
        If an image file is missing; the message names the files, the folder
        and how to get them.
    ValueError
        If a file is not valid IDX (see :func:`read_idx`), does not hold uint8
        images, the two splits have different image sizes, ``pad_to`` is
        smaller than the images, or more images are asked for than exist.
    """
    folder = _fashion_mnist_directory(directory)
    paths = {split: _find_idx(folder, stem) for split, stem in _FASHION_MNIST_IMAGES.items()}
    missing = [_FASHION_MNIST_IMAGES[split] for split, path in paths.items() if path is None]
    if missing:
        raise _missing_fashion_mnist(folder, missing)
    seed = check_positive_int("seed", seed, minimum=0)
    images = {split: _read_images(path) for split, path in paths.items()}
    sizes = {split: array.shape[1:] for split, array in images.items()}
    if sizes["train"] != sizes["val"]:
        raise ValueError(
            f"training and validation images must have the same size; got {sizes['train']} in "
            f"{paths['train']} and {sizes['val']} in {paths['val']}"
        )
    if pad_to is not None:
        pad_to = check_positive_int("pad_to", pad_to)
        if pad_to < max(sizes["train"]):
            raise ValueError(
                f"pad_to must be >= the image size {sizes['train']}; got pad_to = {pad_to}"
            )
    train_rng, val_rng = (np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(2))
    available = {split: int(array.shape[0]) for split, array in images.items()}
    train = _scale_and_pad(_subsample(images["train"], n_train, train_rng, "n_train"), pad_to)
    val = _scale_and_pad(_subsample(images["val"], n_val, val_rng, "n_val"), pad_to)
    unit_shape = tuple(sizes["train"]) if pad_to is None else (pad_to, pad_to)
    metadata = {
        "name": "fashion_mnist",
        "directory": str(folder),
        "files": {split: path.name for split, path in paths.items()},
        "validation_split": "t10k (the standard test set)",
        "image_shape": list(sizes["train"]),
        "pad_to": pad_to,
        "n_train": int(train.shape[0]),
        "n_val": int(val.shape[0]),
        "available": available,
        "seed": seed,
        "scaling": "pixel / 255",
        "noise": 0.0,
    }
    logger.info("loaded Fashion-MNIST from %s: %d train, %d val images", folder, train.shape[0], val.shape[0])
    return Dataset("fashion_mnist", train, train, val, val, unit_shape, metadata)


# ---------------------------------------------------------------------------
# User .npz files


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
    values = np.ascontiguousarray(array, dtype=np.float32)
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            nan = int(np.isnan(array).sum())
            infinite = int(array.size - finite.sum() - nan)
            raise ValueError(
                f"{path}: array {key} must be finite; found {nan} NaN and {infinite} infinite entries"
            )
    low, high = float(values.min()), float(values.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"{path}: array {key} must have values in [0, 1]; got min = {low:g}, max = {high:g}")
    return values


def _unit_shape(shape: Sequence[int] | None, dimension: int) -> tuple[int, ...]:
    if shape is None:
        return (dimension,)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise TypeError(f"shape must be a sequence of ints such as (28, 28); got {shape!r}")
    sizes = tuple(check_positive_int("shape entry", size) for size in shape)
    if not sizes or math.prod(sizes) != dimension:
        raise ValueError(f"shape must have product equal to d = {dimension}; got shape = {tuple(shape)}")
    return sizes


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Return ``X`` and, if present, ``X_val`` of the archive at ``path``."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError) as error:
        raise ValueError(f"{path}: not a readable .npz archive (numpy.savez) ({error})") from None
    if not isinstance(archive, Mapping):
        raise ValueError(
            f"{path}: must be an .npz archive (numpy.savez) holding X; got a single {_describe(archive)}"
        )
    with archive:
        if "X" not in archive:
            present = ", ".join(sorted(archive)) or "none"
            raise ValueError(f"{path}: must hold an array named X (N x d); found arrays: {present}")
        return {key: np.asarray(archive[key]) for key in ("X", "X_val") if key in archive}


def npz(
    *,
    path: str | os.PathLike,
    shape: Sequence[int] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> Dataset:
    """A user ``.npz`` file for an autoencoder (inputs = targets, no noise).

    Parameters
    ----------
    path : path-like
        ``.npz`` file (``numpy.savez``) holding ``X``, an ``N x d`` array of
        finite values in [0, 1] (bool, int or float; converted to float32),
        and optionally ``X_val`` (``N_val x d``, same rules) as the validation
        set.
    shape : sequence of int or None
        Layout of the ``d`` units (e.g. ``(28, 28)`` for row-major flattened
        images; its product must be ``d``); default ``(d,)``.
    val_fraction : float
        Without ``X_val``: the fraction of ``X`` held out for validation,
        ``round(val_fraction * N)`` examples chosen with ``seed``; both parts
        must be non-empty.  Ignored when ``X_val`` is present.
    seed : int
        Seed of the split.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an ``.npz`` archive, lacks ``X``, an array is not
        2-D, not finite or outside [0, 1], ``X_val`` has another ``d``,
        ``shape`` does not match ``d``, or the split leaves a part empty.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz data file not found: {path}")
    seed = check_positive_int("seed", seed, minimum=0)
    val_fraction = check_unit_interval("val_fraction", val_fraction)
    raw = _read_npz(path)
    X = _check_npz_array(path, "X", raw["X"])
    unit_shape = _unit_shape(shape, X.shape[1])
    if "X_val" in raw:
        train, val = X, _check_npz_array(path, "X_val", raw["X_val"])
        if val.shape[1] != train.shape[1]:
            raise ValueError(
                f"{path}: X_val must have the same d as X; "
                f"got d = {val.shape[1]} for X_val and {train.shape[1]} for X"
            )
        split = "X_val"
    else:
        count = int(round(val_fraction * X.shape[0]))
        if not 1 <= count < X.shape[0]:
            raise ValueError(
                f"val_fraction must leave >= 1 validation and >= 1 training example of N = {X.shape[0]}; "
                f"got val_fraction = {val_fraction} ({count} validation examples)"
            )
        order = np.random.default_rng(seed).permutation(X.shape[0])
        val_rows, train_rows = np.sort(order[:count]), np.sort(order[count:])
        train, val = np.ascontiguousarray(X[train_rows]), np.ascontiguousarray(X[val_rows])
        split = f"random {val_fraction} of X"
    metadata = {
        "name": "npz",
        "path": str(path),
        "shape": list(unit_shape),
        "val_fraction": val_fraction,
        "validation_split": split,
        "n_train": int(train.shape[0]),
        "n_val": int(val.shape[0]),
        "seed": seed,
        "checksum": array_checksum(X),
        "noise": 0.0,
    }
    return Dataset("npz", train, train, val, val, unit_shape, metadata)


# ---------------------------------------------------------------------------
# Registry

#: Data set factories by name; every one takes keyword-only options and ``seed``.
from .poisson import poisson_dataset  # noqa: E402  (msann.poisson imports this module lazily)

DATASETS: dict[str, Callable[..., Dataset]] = {
    "fashion_mnist": fashion_mnist,
    "npz": npz,
    "one_object": one_object,
    "poisson": poisson_dataset,
    "two_object": two_object,
}


def load_dataset(name: str, *, seed: int = 0, **options: Any) -> Dataset:
    """Build the data set ``name`` from :data:`DATASETS` with ``options``.

    Raises
    ------
    ValueError
        If ``name`` is not registered (the message lists the valid names).
    TypeError
        If an option is unknown or a required one is missing (the message
        names it and lists the valid options).

    Examples
    --------
    >>> load_dataset("two_object", length=32, n_train=4, n_val=2, seed=3).unit_shape
    (32,)
    """
    factory = DATASETS[check_choice("dataset", name, DATASETS)]
    parameters = inspect.signature(factory).parameters
    valid = sorted(key for key in parameters if key != "seed")
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(
            f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; valid options are: {', '.join(valid)}"
        )
    required = [key for key in valid if parameters[key].default is inspect.Parameter.empty and key not in options]
    if required:
        raise TypeError(
            f"dataset {name!r} needs option(s) {', '.join(required)}; valid options are: {', '.join(valid)}"
        )
    return factory(seed=seed, **options)


# ---------------------------------------------------------------------------
# Minibatches


def _device_tensor(name: str, array: Any, device: torch.device) -> torch.Tensor:
    if isinstance(array, torch.Tensor):
        tensor = array.detach()
    else:
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if tensor.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N x d); got shape {tuple(tensor.shape)}")
    return tensor.to(device=device, dtype=torch.float32)


class MinibatchStream(Iterator[tuple[torch.Tensor, torch.Tensor]]):
    """An endless, reshuffled, checkpointable stream of minibatches on a device.

    The stream is the concatenation of random permutations of the ``N``
    examples (one per epoch, drawn from ``numpy.random.default_rng(seed)``),
    cut into consecutive batches of exactly ``batch_size`` examples.  So every
    batch has the same size (simple cost accounting), every example is used
    exactly once per epoch, and nothing is dropped; a batch whose slice
    crosses the end of an epoch takes its tail from the next epoch's
    permutation.  (This is neither ``drop_last=True``, which would skip
    ``N mod batch_size`` examples per epoch, nor ``drop_last=False``, which
    would give a short batch.)

    The data are moved to ``device`` once at construction (inputs and targets
    are stored once when they are the same object); each batch is an index
    into them with a slice of the epoch's permutation, held on the device.

    Parameters
    ----------
    inputs, targets : array_like or torch.Tensor
        ``N x d_in`` and ``N x d_out``; converted to float32.
    batch_size : int
        Examples per batch, ``1 <= batch_size <= N``.
    seed : int
        Seed of the shuffling.
    device : torch.device or str
        Where the data and the batches live.

    Examples
    --------
    >>> data = one_object(length=16, n_train=10, n_val=2)
    >>> stream = MinibatchStream(data.train_inputs, data.train_targets, batch_size=4, seed=0)
    >>> x, y = next(stream)
    >>> tuple(x.shape), stream.epoch, stream.position
    ((4, 16), 0, 4)
    """

    def __init__(
        self,
        inputs: Any,
        targets: Any,
        *,
        batch_size: int,
        seed: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self._inputs = _device_tensor("inputs", inputs, self.device)
        self._targets = self._inputs if targets is inputs else _device_tensor("targets", targets, self.device)
        count = self._inputs.shape[0]
        if self._targets.shape[0] != count or count == 0:
            raise ValueError(
                f"inputs and targets must have the same number N >= 1 of rows; "
                f"got {count} and {self._targets.shape[0]}"
            )
        self.batch_size = check_positive_int("batch_size", batch_size)
        if self.batch_size > count:
            raise ValueError(f"batch_size must be <= N = {count} examples; got batch_size = {batch_size}")
        self.seed = check_positive_int("seed", seed, minimum=0)
        self.n_examples = int(count)
        self._rng = np.random.default_rng(self.seed)
        self.epoch = 0
        self.position = 0
        self._draw_permutation()

    def _draw_permutation(self) -> None:
        self._epoch_generator_state = self._rng.bit_generator.state
        order = self._rng.permutation(self.n_examples)
        self._permutation = torch.from_numpy(order).to(self.device)

    def __iter__(self) -> MinibatchStream:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        pieces = []
        needed = self.batch_size
        while needed:
            take = min(needed, self.n_examples - self.position)
            pieces.append(self._permutation[self.position : self.position + take])
            self.position += take
            needed -= take
            if self.position == self.n_examples:
                self.epoch += 1
                self.position = 0
                self._draw_permutation()
        index = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
        inputs = self._inputs.index_select(0, index)
        targets = inputs if self._targets is self._inputs else self._targets.index_select(0, index)
        return inputs, targets

    @property
    def examples_seen(self) -> int:
        """Number of examples served so far (``epoch * N + position``)."""
        return self.epoch * self.n_examples + self.position

    def state_dict(self) -> dict[str, Any]:
        """Return the stream's position as plain data (JSON-serialisable).

        ``generator_state`` is the numpy bit-generator state *before* the
        current epoch's permutation was drawn, so that the permutation can be
        redrawn on :meth:`load_state_dict`.
        """
        return {
            "epoch": self.epoch,
            "position": self.position,
            "n_examples": self.n_examples,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "generator_state": _plain(self._epoch_generator_state),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`state_dict` of a stream on the same data).

        Raises
        ------
        ValueError
            If ``state`` lacks a key, or was saved for another number of
            examples or batch size.
        """
        keys = ("epoch", "position", "n_examples", "batch_size", "generator_state")
        absent = [key for key in keys if key not in state]
        if absent:
            raise ValueError(f"stream state lacks {', '.join(absent)}; a state holds: {', '.join(keys)}")
        for key, mine in (("n_examples", self.n_examples), ("batch_size", self.batch_size)):
            if int(state[key]) != mine:
                raise ValueError(
                    f"stream state was saved with {key} = {state[key]}; this stream has {key} = {mine}"
                )
        position = int(state["position"])
        if not 0 <= position < self.n_examples:
            raise ValueError(
                f"stream state position must lie in [0, {self.n_examples}); got position = {position}"
            )
        self._rng.bit_generator.state = _plain(state["generator_state"])
        self._draw_permutation()
        self.epoch = int(state["epoch"])
        self.position = position

    def __repr__(self) -> str:
        return (
            f"MinibatchStream(n_examples={self.n_examples}, batch_size={self.batch_size}, "
            f"epoch={self.epoch}, position={self.position}, device={self.device})"
        )


def _plain(value: Any) -> Any:
    """A deep copy of nested dicts/lists with numpy scalars turned into Python numbers."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
