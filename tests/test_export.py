"""Export and import of prolongation chains in every format."""

import json

import numpy as np
import pytest

from graphprolong.cli import main
from graphprolong.export import export_chain, load_prolongations, parse_sizes, prolongation_chain


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    return prolongation_chain("grid", parse_sizes("2x2,4x4,8x8", lineage="grid"), s=0.0, cache_dir=folder)


@pytest.mark.parametrize("suffix", [".npz", ".mtx", ".pt"])
def test_round_trip_is_exact(tmp_path, chain, suffix):
    maps, metadata = chain
    export_chain(tmp_path / f"chain{suffix}", maps, metadata)
    loaded, loaded_metadata = load_prolongations(tmp_path / f"chain{suffix}")
    assert len(loaded) == 2
    for original, read in zip(maps, loaded):
        np.testing.assert_array_equal(original, read)
    assert loaded_metadata["sizes"] == [[2, 2], [4, 4], [8, 8]] and loaded_metadata["lineage"] == "grid"


def test_mtx_export_writes_one_file_per_map_and_a_manifest(tmp_path, chain):
    written = export_chain(tmp_path / "c.mtx", *chain)
    assert sorted(path.name for path in written) == ["c.P_0.mtx", "c.P_1.mtx", "c.json"]
    assert len(load_prolongations(tmp_path / "c.json")[0]) == 2


def test_corruption_and_broken_chains_are_detected(tmp_path, chain):
    maps, metadata = chain
    export_chain(tmp_path / "c.mtx", maps, metadata)
    text = (tmp_path / "c.P_1.mtx").read_text().splitlines()
    text[-1] = "0.5"  # dense MatrixMarket: one value a line
    (tmp_path / "c.P_1.mtx").write_text("\n".join(text) + "\n")
    with pytest.raises(ValueError, match="P_1 does not match its checksum"):
        load_prolongations(tmp_path / "c.mtx")
    export_chain(tmp_path / "swapped.npz", maps[::-1], metadata)
    with pytest.raises(ValueError, match=r"maps do not chain: P_0 has shape \(64, 16\) but P_1 has shape \(16, 4\)"):
        load_prolongations(tmp_path / "swapped.npz")
    export_chain(tmp_path / "bad.npz", [np.ones((4, 2))], metadata)
    with pytest.raises(ValueError, match="orthonormal"):
        load_prolongations(tmp_path / "bad.npz")
    (tmp_path / "trunc.npz").write_bytes((tmp_path / "swapped.npz").read_bytes()[:50])
    with pytest.raises(ValueError, match="not a readable prolongation chain"):
        load_prolongations(tmp_path / "trunc.npz")


@pytest.mark.parametrize(
    ("text", "lineage", "message"),
    [
        ("16", "path", "at least two"),
        ("16,8x8", "path", "like '16,32,64'"),
        ("32,16", "cycle", "non-decreasing"),
        ("4x4,8y8", "grid", "like '7x7,14x14,28x28'"),
        ("4x4,8", "grid", "same number of dimensions"),
        ("4x4,8x8x8", "grid", "same number of dimensions"),
        ("4,8", "tree", "valid lineages are: cycle, grid, grid:periodic, path"),
    ],
)
def test_bad_sizes(text, lineage, message):
    with pytest.raises(ValueError, match=message):
        parse_sizes(text, lineage=lineage)


def test_cli_export_and_unknown_format(tmp_path, capsys):
    output = tmp_path / "maps.npz"
    status = main(["export", "--lineage", "path", "--sizes", "5,10,20", "--s", "0", "--cache-dir", str(tmp_path / "c"), "-o", str(output)])
    assert status == 0
    maps, metadata = load_prolongations(output)
    assert [P.shape for P in maps] == [(10, 5), (20, 10)] and metadata["s"] == 0.0
    assert "P_1: 10 -> 20" in capsys.readouterr().out
    assert main(["export", "--lineage", "path", "--sizes", "5,10", "--cache-dir", str(tmp_path / "c"), "-o", str(tmp_path / "m.csv")]) == 2
    assert "valid export formats are: .mtx, .npz, .pt" in capsys.readouterr().err
    json.dumps(metadata)
