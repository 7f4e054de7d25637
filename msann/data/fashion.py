"""Fashion-MNIST from its standard IDX files, for an autoencoder or a classifier (:func:`fashion_mnist`).

The files come from the Debian package ``dataset-fashion-mnist``
(:data:`FASHION_MNIST_DIRECTORY`) or any folder the user names; nothing is
downloaded.  Pixels are scaled to [0, 1]; the targets are the inputs
(``task = "autoencoder"``) or the one-hot labels (``task = "classify"``).

The module is not named ``fashion_mnist`` so that the package attribute
``msann.data.fashion_mnist`` stays the function.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graphprolong.checks import check_choice, check_positive_int

from .dataset import Dataset
from .idx import read_idx

__all__ = ["FASHION_MNIST_CLASSES", "FASHION_MNIST_DIRECTORY", "FASHION_MNIST_ENVIRONMENT_VARIABLE", "FASHION_MNIST_TASKS",
           "fashion_mnist"]

logger = logging.getLogger(__name__)


#: Where the Debian package ``dataset-fashion-mnist`` installs the IDX files.
FASHION_MNIST_DIRECTORY = Path("/usr/share/datasets/fashion-mnist")
#: Environment variable naming a folder of Fashion-MNIST IDX files; used when
#: ``directory`` is not given (e.g. files carried to a machine without the package).
FASHION_MNIST_ENVIRONMENT_VARIABLE = "MSANN_FASHION_MNIST_DIR"
#: What the data set is for: the images as their own targets, or their labels as one-hot targets.
FASHION_MNIST_TASKS = ("autoencoder", "classify")
#: Number of classes of the labels (0 T-shirt/top .. 9 ankle boot).
FASHION_MNIST_CLASSES = 10
_FASHION_MNIST_IMAGES = {"train": "train-images-idx3-ubyte", "val": "t10k-images-idx3-ubyte"}
_FASHION_MNIST_LABELS = {"train": "train-labels-idx1-ubyte", "val": "t10k-labels-idx1-ubyte"}


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
    names = [f"{stem}[.gz]" for stem in missing]
    wanted = " and ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} and {names[-1]}"
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


def _read_labels(path: Path, count: int, images: Path) -> np.ndarray:
    """The labels of ``path``: uint8 in ``0 .. classes - 1``, one per image of the ``count`` in ``images``."""
    labels = read_idx(path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"IDX file {path}: expected uint8 labels of shape (N,); "
                         f"got dtype {labels.dtype} and shape {labels.shape}")
    if labels.shape[0] != count:
        raise ValueError(f"IDX file {path}: must hold one label per image; got {labels.shape[0]} labels for the "
                         f"{count} images of {images.name}")
    if labels.max() >= FASHION_MNIST_CLASSES:
        first = int(np.flatnonzero(labels >= FASHION_MNIST_CLASSES)[0])
        raise ValueError(f"IDX file {path}: labels must lie in 0..{FASHION_MNIST_CLASSES - 1}; "
                         f"label {first} is {int(labels[first])}")
    return labels


def _chosen(available: int, count: int | None, rng: np.random.Generator, what: str) -> np.ndarray | None:
    """Sorted indices of a random subset of ``count`` of the ``available`` examples; None for all of them."""
    if count is None:
        return None
    count = check_positive_int(what, count)
    if count > available:
        raise ValueError(f"{what} must be <= the {available} images available; got {what} = {count}")
    if count == available:
        return None
    return np.sort(rng.choice(available, size=count, replace=False))


def _scale_and_pad(images: np.ndarray, pad_to: int | None) -> np.ndarray:
    count, rows, columns = images.shape
    size = (rows, columns) if pad_to is None else (pad_to, pad_to)
    out = np.zeros((count, *size), dtype=np.float32)
    top, left = (size[0] - rows) // 2, (size[1] - columns) // 2
    out[:, top : top + rows, left : left + columns] = images / np.float32(255.0)
    return out.reshape(count, -1)


def _files(folder: Path, task: str) -> tuple[dict[str, Path], dict[str, Path]]:
    """The image files and (``task = "classify"``) the label files by split; FileNotFoundError naming the missing ones."""
    stems = {"images": _FASHION_MNIST_IMAGES, "labels": _FASHION_MNIST_LABELS if task == "classify" else {}}
    paths = {kind: {split: _find_idx(folder, stem) for split, stem in names.items()} for kind, names in stems.items()}
    missing = [stems[kind][split] for kind in paths for split, path in paths[kind].items() if path is None]
    if missing:
        raise _missing_fashion_mnist(folder, missing)
    return paths["images"], paths["labels"]


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(FASHION_MNIST_CLASSES, dtype=np.float32)[labels]


def fashion_mnist(
    *,
    directory: str | os.PathLike | None = None,
    pad_to: int | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    task: str = "autoencoder",
    seed: int = 0,
) -> Dataset:
    """Fashion-MNIST images for an autoencoder (inputs = targets, no noise) or a classifier (one-hot labels).

    Reads ``train-images-idx3-ubyte`` (training split, 60,000 images) and
    ``t10k-images-idx3-ubyte`` (validation split: the standard test set,
    10,000 images), each gzip-compressed (``.gz``, preferred when both exist)
    or not; for ``task = "classify"`` also ``train-labels-idx1-ubyte`` and
    ``t10k-labels-idx1-ubyte`` (an autoencoder does not read them).  Pixels
    are scaled to [0, 1] (``value / 255``) and flattened row-major.

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
        with ``seed``, kept in file order; the labels of the same images);
        None uses all.
    task : {"autoencoder", "classify"}
        ``"autoencoder"``: the targets are the inputs.  ``"classify"``: the
        targets are the labels as one-hot rows of width 10 (``classes = 10``,
        ``target_shape = (10,)``; see :class:`Dataset` for why one-hot), to
        be fitted by 10 logits with the cross-entropy
        (:func:`msann.core.metrics.task_loss`).
    seed : int
        Seed of the subsampling (the same subsets for both tasks).

    Returns
    -------
    Dataset
        ``unit_shape == (rows, columns)`` of the (padded) images; for an
        autoencoder ``train_targets is train_inputs`` and ``val_targets is
        val_inputs``.

    Raises
    ------
    FileNotFoundError
        If a file the task needs is missing; the message names the files,
        the folder and how to get them.
    ValueError
        If ``task`` is unknown, a file is not valid IDX (see :func:`read_idx`),
        does not hold uint8 images (or uint8 labels in 0..9, one per image),
        the two splits have different image sizes, ``pad_to`` is smaller than
        the images, or more images are asked for than exist.
    """
    task = check_choice("task", task, FASHION_MNIST_TASKS)
    folder = _fashion_mnist_directory(directory)
    paths, label_paths = _files(folder, task)
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
    labels = {split: _read_labels(path, images[split].shape[0], paths[split]) for split, path in label_paths.items()}
    rngs = dict(zip(("train", "val"), (np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(2))))
    available = {split: int(array.shape[0]) for split, array in images.items()}
    inputs, targets = {}, {}
    for split, count in (("train", n_train), ("val", n_val)):
        chosen = _chosen(available[split], count, rngs[split], f"n_{split}")
        inputs[split] = _scale_and_pad(images[split] if chosen is None else images[split][chosen], pad_to)
        if task == "classify":
            targets[split] = _one_hot(labels[split] if chosen is None else labels[split][chosen])
        else:
            targets[split] = inputs[split]
    unit_shape = tuple(sizes["train"]) if pad_to is None else (pad_to, pad_to)
    metadata = {
        "name": "fashion_mnist",
        "task": task,
        "directory": str(folder),
        "files": {split: path.name for split, path in paths.items()},
        **({"label_files": {split: path.name for split, path in label_paths.items()}} if label_paths else {}),
        "validation_split": "t10k (the standard test set)",
        "image_shape": list(sizes["train"]),
        "pad_to": pad_to,
        "n_train": int(inputs["train"].shape[0]),
        "n_val": int(inputs["val"].shape[0]),
        "available": available,
        "seed": seed,
        "scaling": "pixel / 255",
        "noise": 0.0,
    }
    logger.info("loaded Fashion-MNIST (%s) from %s: %d train, %d val images", task, folder, metadata["n_train"], metadata["n_val"])
    classes = FASHION_MNIST_CLASSES if task == "classify" else None
    return Dataset("fashion_mnist", inputs["train"], targets["train"], inputs["val"], targets["val"], unit_shape, metadata,
                   target_shape=None if classes is None else (classes,), classes=classes)
