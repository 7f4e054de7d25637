"""Write ``recipes/npz_example.npz``, the data of ``recipes/npz_example.toml`` (bring-your-own-data example).

The data are the project's 1-object vectors (:func:`msann.data.one_object`,
length 256) stored as a user would store their own: 8-bit values 0 or 255,
noisy inputs ``X``/``X_val`` and clean targets ``Y``/``Y_val``.  The recipe
scales them back to [0, 1] (``scaling = "min-max"``, fitted on the training
split) and adds no noise of its own (the inputs already carry it)::

    python recipes/npz_example.py                 # or: make npz-example
    msann run recipes/npz_example.toml --device cpu --out results/npz_example
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from msann.data import one_object


def write_example(path: Path, *, length: int = 256, n_train: int = 2000, n_val: int = 200, seed: int = 0) -> Path:
    """Write the example archive to ``path`` and return it."""
    data = one_object(length=length, n_train=n_train, n_val=n_val, noise=0.05, seed=seed)
    as_bytes = lambda values: (values * 255).astype(np.uint8)  # noqa: E731
    np.savez_compressed(path, X=as_bytes(data.train_inputs), Y=as_bytes(data.train_targets),
                        X_val=as_bytes(data.val_inputs), Y_val=as_bytes(data.val_targets))
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).with_suffix(".npz"), help="archive to write")
    print(f"wrote {write_example(parser.parse_args().out)}")
