"""Fashion-MNIST from its standard IDX files, for an autoencoder (:func:`fashion_mnist`).

The files come from the Debian package ``dataset-fashion-mnist``
(:data:`FASHION_MNIST_DIRECTORY`) or any folder the user names; nothing is
downloaded.  Pixels are scaled to [0, 1]; inputs = targets.

The module is not named ``fashion_mnist`` so that the package attribute
``msann.data.fashion_mnist`` stays the function.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graphprolong.checks import check_positive_int

from .dataset import Dataset
from .idx import read_idx

__all__ = ["FASHION_MNIST_DIRECTORY", "FASHION_MNIST_ENVIRONMENT_VARIABLE", "fashion_mnist"]

logger = logging.getLogger(__name__)


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
