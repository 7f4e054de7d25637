"""Tests of msann.data.idx: IDX files read and written."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from msann.data import read_idx, write_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(7, dtype=np.uint8),
        np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5),
        np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4),
        np.arange(-6, 6, dtype=np.int32).reshape(2, 2, 3),
    ],
)
def test_idx_round_trip(tmp_path, suffix, array):
    path = write_idx(tmp_path / f"data-idx{suffix}", array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    compressed = path.read_bytes()[:2] == b"\x1f\x8b"
    assert compressed == (suffix == ".gz")


def test_idx_header_layout(tmp_path):
    # the standard MNIST label-file header: 0x00000801, then N big-endian
    path = write_idx(tmp_path / "labels-idx1-ubyte", np.array([3, 1, 4], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])


def test_write_idx_rejects_unsupported(tmp_path):
    with pytest.raises(ValueError, match="got dtype int64"):
        write_idx(tmp_path / "x", np.arange(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        write_idx(tmp_path / "x", np.uint8(3))


def test_corrupt_idx_errors(tmp_path):
    good = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    payload = write_idx(tmp_path / "good", good).read_bytes()
    cases = {
        "magic": (b"\x01\x02" + payload[2:], "bad magic number 0x0102"),
        "code": (payload[:2] + b"\x07" + payload[3:], "unknown type code 0x07"),
        "header": (payload[:9], "truncated header"),
        "truncated": (payload[:-5], "truncated data.*needs 24 bytes.*found 19"),
        "trailing": (payload + b"\x00\x00", "size mismatch.*2 trailing bytes"),
        "gzip": (gzip.compress(payload)[:-10], "corrupt or truncated gzip"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / f"{name}-idx3-ubyte"
        path.write_bytes(content)
        with pytest.raises(ValueError, match=message) as error:
            read_idx(path)
        assert str(path) in str(error.value)
