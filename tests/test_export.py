"""Export and import of prolongation chains in every format."""

import json

import numpy as np
import pytest

from graphprolong.cli import main
from graphprolong.export import export_chain, load_prolongations, parse_sizes, prolongation_chain
from .torch_available import needs_torch


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    return prolongation_chain("grid", parse_sizes("2x2,4x4,8x8", lineage="grid"), s=0.0, cache_dir=folder)


@pytest.mark.parametrize("suffix", [".npz", ".mtx", pytest.param(".pt", marks=needs_torch)])
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


def test_methods_and_lineages_include_the_recipes():
    from graphprolong import cache, lineages, recipes

    assert "recipe" in cache.PROLONGATION_METHODS
    assert {recipe.lineage for recipe in recipes.RECIPES.values()} == set(lineages.LINEAGE_KINDS)


def test_recipe_chain_records_its_recipes(tmp_path):
    from graphprolong import grid_graph, path_graph
    from graphprolong.recipes import recipe_prolongation

    sizes = parse_sizes("4,8,16", lineage="path")
    maps, metadata = prolongation_chain("path", sizes, s=1.0, method="recipe", cache_dir=tmp_path)
    for P, n in zip(maps, (4, 8)):
        np.testing.assert_array_equal(P, recipe_prolongation("path-interpolation", path_graph(n), path_graph(2 * n)))
    assert [step["recipe"] for step in metadata["steps"]] == ["path-interpolation"] * 2
    assert metadata["steps"][0]["recipe_version"] == "1" and metadata["method"] == "recipe"
    export_chain(tmp_path / "chain.npz", maps, metadata)
    assert load_prolongations(tmp_path / "chain.npz")[1]["steps"] == metadata["steps"]
    # Grids at s = 0 by name; the composition of consecutive maps is again orthonormal.
    grid_maps, grid_metadata = prolongation_chain(
        "grid", parse_sizes("2x3,4x6", lineage="grid"), s=0.0, method="recipe", recipe="grid-fold", cache_dir=tmp_path
    )
    np.testing.assert_array_equal(grid_maps[0], recipe_prolongation("grid-fold", grid_graph((2, 3)), grid_graph((4, 6))))
    assert grid_metadata["recipe"] == "grid-fold" and grid_metadata["steps"][0]["method"] == "recipe"


def test_cli_export_with_a_recipe(tmp_path, capsys):
    from graphprolong import cycle_graph
    from graphprolong.recipes import recipe_prolongation

    output = tmp_path / "cover.npz"
    arguments = ["export", "--lineage", "cycle", "--s", "0", "--method", "recipe", "--cache-dir", str(tmp_path / "c")]
    assert main([*arguments, "--sizes", "4,8", "--recipe", "cycle-cover", "-o", str(output)]) == 0
    assert "(recipe cycle-cover v1)" in capsys.readouterr().out
    (P,), metadata = load_prolongations(output)
    np.testing.assert_array_equal(P, recipe_prolongation("cycle-cover", cycle_graph(4), cycle_graph(8)))
    assert main([*arguments, "--sizes", "5,9", "-o", str(tmp_path / "bad.npz")]) == 2
    assert "no registered recipe fits these graphs" in capsys.readouterr().err
    assert main([*arguments, "--sizes", "4,8", "--recipe", "cycle-magic", "-o", str(tmp_path / "bad.npz")]) == 2
    assert "valid recipes are: cycle-cover" in capsys.readouterr().err
    assert not (tmp_path / "bad.npz").exists()


@needs_torch
def test_cli_export_with_the_torch_backend_goes_through_structured_grids(tmp_path, capsys):
    from graphprolong import get_prolongation, structured_matrices

    cache_dir, output = tmp_path / "c", tmp_path / "chain.npz"
    arguments = ["--lineage", "grid", "--sizes", "2x2,4x4,8x8", "--s", "1", "--beta", "0.25", "--method", "optimize",
                 "--backend", "torch", "--device", "cpu", "--init", "box-matching", "--max-iterations", "30"]
    assert main(["export", *arguments, "--cache-dir", str(cache_dir), "-o", str(output)]) == 0
    maps, metadata = load_prolongations(output)
    assert [P.shape for P in maps] == [(16, 4), (64, 16)]
    assert metadata["options"]["backend"] == "torch" and metadata["options"]["init"] == "box-matching" and metadata["options"]["beta"] == 0.25
    assert len(list(cache_dir.glob("*.npz"))) == 2
    # the library call with the same options is served from those two entries
    options = {"backend": "torch", "device": "cpu", "init": "box-matching", "max_iterations": 30}
    for P, (a, b) in zip(maps, [((2, 2), (4, 4)), ((4, 4), (8, 8))]):
        again = get_prolongation(structured_matrices("grid", a), structured_matrices("grid", b), s=1.0, beta=0.25, method="optimize",
                                 cache_dir=cache_dir, **options)
        np.testing.assert_array_equal(again, P)
    assert len(list(cache_dir.glob("*.npz"))) == 2
    assert "P_1: 4x4 -> 8x8  shape (64, 16)" in capsys.readouterr().out


def test_a_nan_map_with_a_valid_checksum_is_refused(tmp_path, chain):
    maps, metadata = chain
    broken = maps[0].copy()
    broken[0, 0] = np.nan
    for suffix in (".npz", ".mtx"):
        export_chain(tmp_path / f"nan{suffix}", [broken, maps[1]], metadata)
        with pytest.raises(ValueError, match=rf"nan\{suffix}: map P_0 must have finite entries \(no NaN or inf\); found 1 non-finite"):
            load_prolongations(tmp_path / f"nan{suffix}")


def test_metadata_that_is_a_json_list_is_refused_naming_the_file(tmp_path):
    np.savez(tmp_path / "c.npz", P_0=np.eye(4, 2), metadata=np.array(json.dumps([1])))
    with pytest.raises(ValueError, match=r"c\.npz: the metadata must be a JSON object; got a JSON array"):
        load_prolongations(tmp_path / "c.npz")
