"""IDX files, the format of MNIST and Fashion-MNIST: :func:`read_idx` and :func:`write_idx`.

Gzip compression is detected from the content on reading and chosen by the
``.gz`` suffix on writing; writes are atomic and reproducible.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from graphprolong.io import atomic_write_bytes

__all__ = ["IDX_TYPES", "read_idx", "write_idx"]


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
