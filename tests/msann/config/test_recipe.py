"""Recipe files: defaults, overrides, validation messages, runs as data, method tables (msann.config.recipe)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from msann.config import (
    DEFAULT_CHECKPOINT_SECONDS,
    ConfigError,
    HierarchyTable,
    ModelTable,
    TrainTable,
    check_sizes,
    load_config,
    parse_config,
    parse_override,
    parse_run,
    parse_value,
)
from msann.methods import METHODS, MethodSpec, register_method
from msann.options import at_least, option

from .conftest import FakeFasTable
from .helpers import BASE, assert_error, error_of, write

REPO = Path(__file__).resolve().parents[3]


def defaults(table: type) -> dict:
    """A table's declared defaults, by key."""
    return {field.name: field.default for field in dataclasses.fields(table)}


# --------------------------------------------------------------------------- loading and defaults


def test_defaults_fill_every_table(registry, tmp_path):
    path = write(tmp_path, BASE)
    experiment = load_config(path)
    assert experiment.name == "exp" and experiment.path == path and experiment.description == ""
    [run] = experiment.runs
    assert run.label == "exp" and run.method == "msann"
    assert dict(run.data) == {"name": "toy", "length": 16, "noise": 0.05, "run_length": None,
                              "kind": "fire", "n_train": 100}
    assert run.data_options == {"length": 16, "noise": 0.05, "run_length": None, "kind": "fire", "n_train": 100}
    for table, cls in (("hierarchy", HierarchyTable), ("train", TrainTable)):
        assert dataclasses.asdict(getattr(run, table)) == defaults(cls)
        assert getattr(run, table) == cls()
    assert run.model.widths == (16, 4, 16) and run.model.bias is True
    assert run.train.checkpoint_every == DEFAULT_CHECKPOINT_SECONDS
    assert experiment.source == {"data": {"name": "toy", "length": 16}, "model": {"widths": [16, 4, 16]}}


def test_int_becomes_float_and_zero_checkpoint_means_default(registry):
    run = parse_config({"data": {"name": "toy", "noise": 0}, "train": {"lr": 1, "checkpoint_every": 0}}).runs[0]
    assert run.train.lr == 1.0 and isinstance(run.train.lr, float)
    assert isinstance(run.data["noise"], float)
    assert run.train.checkpoint_every == DEFAULT_CHECKPOINT_SECONDS
    assert parse_config({"data": {"name": "toy"}, "train": {"checkpoint_every": 5}}).runs[0].train.checkpoint_every == 5.0


def test_runs_inherit_base_and_override_it(registry, tmp_path):
    path = write(tmp_path, 'name = "cmp"\n' + BASE + """
[hierarchy]
levels = 3
gamma = 2

[[runs]]
label = "default"
hierarchy = { levels = 0 }

[[runs]]
label = "deep"
[runs.hierarchy]
levels = 4
[runs.train]
lr = 1e-3
""")
    experiment = load_config(path)
    assert experiment.name == "cmp" and experiment.labels == ["default", "deep"]
    default, deep = experiment.runs
    assert (default.hierarchy.levels, default.hierarchy.gamma) == (0, 2)
    assert (deep.hierarchy.levels, deep.hierarchy.gamma, deep.train.lr) == (4, 2, 1e-3)
    assert default.train.lr == defaults(TrainTable)["lr"]


def test_override_wins_over_base_and_runs(registry, tmp_path):
    path = write(tmp_path, BASE + """
[hierarchy]
levels = 3
[[runs]]
label = "a"
hierarchy = { levels = 1 }
[[runs]]
label = "b"
""")
    experiment = load_config(path, overrides=["hierarchy.levels=5", "hierarchy.strategy=grid",
                                              "model.widths=[16, 8, 16]", "train.lr=1e-3", "description=hi"])
    for run in experiment.runs:
        assert run.hierarchy.levels == 5 and run.hierarchy.strategy == "grid"
        assert run.model.widths == (16, 8, 16) and run.train.lr == 1e-3
    assert experiment.description == "hi"
    assert experiment.source["hierarchy"] == {"levels": 5, "strategy": "grid"}
    assert experiment.source["runs"][0]["hierarchy"] == {"levels": 5}
    assert load_config(path).runs[0].hierarchy.levels == 1  # the file itself is unchanged


def test_run_with_another_dataset_starts_from_its_own_data_table(registry):
    data = {"data": {"name": "toy", "length": 16, "kind": "flip"},
            "runs": [{"label": "a"}, {"label": "b", "data": {"name": "files", "path": "x.npz"}}]}
    a, b = parse_config(data).runs
    assert a.data["kind"] == "flip"
    assert dict(b.data) == {"name": "files", "path": "x.npz", "shape": None}


def test_override_values_are_toml_or_strings():
    assert parse_value("1e-3") == 1e-3 and parse_value("[64,16,64]") == [64, 16, 64]
    assert parse_value("false") is False and parse_value("grid") == "grid"
    assert parse_value("cuda:0") == "cuda:0" and parse_value('"quoted"') == "quoted"
    assert parse_value("1\nx = 2") == "1\nx = 2"
    assert parse_override(" train.seed = 7 ") == ("train.seed", 7)
    assert parse_override("method=fas") == ("method", "fas")


# --------------------------------------------------------------------------- errors name the file and the key


def test_missing_file_and_toml_syntax(tmp_path):
    missing = tmp_path / "nope.toml"
    assert error_of(missing) == f"{missing}: no such recipe file"
    bad = write(tmp_path, "[train]\nlr = = 1\n", "bad.toml")
    message = error_of(bad)
    assert message.startswith(f"{bad}: invalid TOML") and "line 2" in message
    assert error_of(tmp_path).startswith(f"{tmp_path}: is a directory")


@pytest.mark.parametrize(("data", "fragments"), [
    ({}, ["[data] name is required (valid datasets: files, toy)"]),
    ({"name": "tyo"}, ["[data] name must be one of the datasets files, toy; got 'tyo'"]),
    ({"name": "toy", "lenght": 8}, ["unknown key [data] lenght for dataset 'toy' (valid keys: name, kind, length, n_train, noise, run_length)"]),
    ({"name": "toy", "length": 8.5}, ["[data] length must be of type int for dataset 'toy'; got float 8.5"]),
    ({"name": "toy", "noise": True}, ["[data] noise", "got bool True"]),
    ({"name": "toy", "run_length": "3"}, ["[data] run_length must be of type int | None", "got str '3'"]),
    ({"name": "toy", "seed": 3}, ["[data] seed is not a dataset option: the data seed is [train] seed"]),
    ({"name": "files"}, ["[data] path is required by dataset 'files'"]),
    ({"name": "files", "path": "a.npz", "shape": 7}, ["[data] shape", "got int 7"]),
])
def test_data_errors(registry, data, fragments):
    assert_error({"data": data}, fragments)


def test_data_options_accept_their_types(registry):
    run = parse_config({"data": {"name": "files", "path": "a.npz", "shape": [4, 4]}}).runs[0]
    assert run.data["shape"] == (4, 4) and run.data_options["shape"] == [4, 4]
    assert parse_config({"data": {"name": "toy", "run_length": 3}}).runs[0].data["run_length"] == 3


def test_data_option_types_come_from_annotations_else_defaults(registry, monkeypatch):
    """An annotation may admit more than its default's type; without one, the default's type is the rule."""
    from msann.config import data_options

    def annotated(*, sizes: int | tuple[int, int] = (1, 4), seed: int = 0):
        raise AssertionError("not called")

    def bare(*, length=16, sizes=(1, 4), seed=0):
        raise AssertionError("not called")

    monkeypatch.setitem(data_options.DATASETS, "annotated", annotated)
    monkeypatch.setitem(data_options.DATASETS, "bare", bare)
    assert parse_config({"data": {"name": "annotated", "sizes": 3}}).runs[0].data["sizes"] == 3
    assert tuple(parse_config({"data": {"name": "annotated", "sizes": [2, 5]}}).runs[0].data["sizes"]) == (2, 5)
    assert_error({"data": {"name": "annotated", "sizes": [2, "5"]}},
                 ["[data] sizes must be of type int | tuple[int, int] for dataset 'annotated'; got list [2, '5']"])
    assert tuple(parse_config({"data": {"name": "bare", "sizes": [2, 5]}}).runs[0].data["sizes"]) == (2, 5)
    assert_error({"data": {"name": "bare", "sizes": 3}},
                 ["[data] sizes must be of the type of its default (1, 4) (tuple) for dataset 'bare'; got int 3"])
    assert_error({"data": {"name": "bare", "length": "8"}}, ["[data] length must be of the type of its default 16"])


@pytest.mark.parametrize(("runs", "fragment"), [
    ([{"label": "default"}, {"label": "default"}], "[runs][2] label 'default' is used twice (also by [runs][1])"),
    ([{"label": "a"}, {}], "[runs][2] label is required when there are several [[runs]] entries"),
    ([{"label": "a", "hierarchy": {"levles": 1}}], "[runs][1] unknown key [hierarchy] levles (valid keys:"),
    ([{"label": "a"}, {"label": "b", "train": {"lr": 0}}], "[runs][2] [train] lr must be a positive finite number; got 0"),
    ([{"label": "a", "trian": {}}], "[runs][1] unknown table [trian] (valid: label, method, data, hierarchy, model, train)"),
    ([{"label": "a", "lable": "b"}], "[runs][1] unknown key lable"),
    ([{"label": 3}], "[runs][1] label must be a non-empty string; got 3"),
    ([{"label": "a", "data": {"noise": "x"}}], "[runs][1] [data] noise"),
    ([{"label": "a", "train": {"optimizer": "adam", "momentum": 0.5}}], "[runs][1] [train] momentum must be 0"),
    ([], "runs must have at least one [[runs]] entry"),
    ({"label": "a"}, "runs must be an array of tables"),
])
def test_run_entry_errors(registry, runs, fragment):
    message = error_of({"data": {"name": "toy"}, "runs": runs})
    assert message.startswith("x.toml: ") and fragment in message


def test_errors_from_files_name_the_file(registry, tmp_path):
    path = write(tmp_path, BASE + "[train]\nlr = -1\n")
    assert error_of(path) == f"{path}: [train] lr must be a positive finite number; got -1"
    assert error_of(write(tmp_path, BASE), overrides=["train.lrr=1"]).startswith(f"{tmp_path / 'exp.toml'}: unknown key [train] lrr")
    message = error_of(write(tmp_path, BASE), overrides=["lr=1"])
    assert message.startswith(str(tmp_path / "exp.toml")) and "'lr' is not a top-level key" in message
    assert "must be 'table.key=value'" in error_of(write(tmp_path, BASE), overrides=["train.lr"])
    assert "must be 'table.key=value'" in error_of(write(tmp_path, BASE), overrides=["a.b.c=1"])


def test_config_error_is_a_value_error_that_pickles():
    error = ConfigError("a.toml", "[train] lr must be positive")
    assert isinstance(error, ValueError) and str(error) == "a.toml: [train] lr must be positive"
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.source == "a.toml"


# --------------------------------------------------------------------------- runs as data


def test_round_trip_and_json(registry, fas_method):
    experiment = parse_config({
        "data": {"name": "toy", "length": 32}, "model": {"widths": [32, 8, 32], "activation": "relu"},
        "fas": {"tau": 2}, "hierarchy": {"k": 8},
        "runs": [{"label": "plain"}, {"label": "fas", "method": "fas", "fas": {"sweeps": 3}}],
    }, source_name="r.toml")
    plain, fas = experiment.runs
    assert dict(plain.extra) == {} and "fas" not in plain.to_dict()
    assert fas.extra["fas"] == FakeFasTable(tau=2.0, sweeps=3) and isinstance(fas.extra["fas"].tau, float)
    assert fas.to_dict()["fas"] == {"tau": 2.0, "sweeps": 3}
    for run in experiment.runs:
        assert parse_run(run.to_dict()) == run
        assert parse_run(json.loads(json.dumps(run.to_dict()))) == run
    assert fas.get("fas.tau") == 2.0 and fas.get("model.widths") == [32, 8, 32] and fas.get("label") == "fas"
    with pytest.raises(KeyError, match="valid keys of \\[train\\]"):
        fas.get("train.lrr")
    with pytest.raises(KeyError, match="fas.<key>"):
        fas.get("nope")


def test_runs_are_read_only(registry):
    run = parse_config({"data": {"name": "toy"}}).runs[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.train.lr = 1.0
    with pytest.raises(TypeError):
        run.data["name"] = "files"
    with pytest.raises(TypeError):
        run.extra["fas"] = None
    values = run.to_dict()
    values["model"]["widths"].append(5)
    values["data"]["name"] = "files"
    assert run.model.widths == defaults(ModelTable)["widths"] and run.data["name"] == "toy"


def test_replace_and_with_overrides_validate(registry):
    run = parse_config({"data": {"name": "toy", "length": 8}}, source_name="r.toml").runs[0]
    changed = run.replace(**{"train.lr": 1e-3, "label": "fast"})
    assert (changed.train.lr, changed.label, run.train.lr) == (1e-3, "fast", 5e-4)
    assert run.with_overrides(["hierarchy.strategy=grid", "train.seed=3"]).get("hierarchy.strategy") == "grid"
    with pytest.raises(ConfigError, match=r"^r\.toml: \[train\] lr must be a positive finite number; got -1"):
        run.replace(**{"train.lr": -1})
    with pytest.raises(ConfigError, match=r"^r\.toml: unknown table \[trian\]"):
        run.replace(**{"trian.lr": 1})
    swapped = run.replace(**{"data.name": "files", "data.path": "x.npz"})
    assert dict(swapped.data) == {"name": "files", "path": "x.npz", "shape": None}


# --------------------------------------------------------------------------- methods and their tables


def test_registered_method_tables_and_checks(registry, fas_method):
    assert METHODS["fas"] is fas_method and dataclasses.fields(FakeFasTable)[0].default == 1.0
    [run] = parse_config({"data": {"name": "toy"}, "method": "fas"}).runs
    assert run.extra["fas"] == FakeFasTable() and run.to_dict()["fas"] == {"tau": 1.0, "sweeps": 2}
    message = error_of({"data": {"name": "toy"}, "method": "fas", "fas": {"sweeps": 9}})
    assert message == "x.toml: [fas] sweeps must be <= [hierarchy] k = 4; got 9"
    message = error_of({"data": {"name": "toy"}, "fas": {"tau": 1.0}})
    assert "table [fas] is given but no run's method uses it" in message
    message = error_of({"data": {"name": "toy"}, "runs": [{"label": "a", "fas": {"tau": 1.0}}]})
    assert "[runs][1] table [fas] is not used by method 'msann'" in message
    message = error_of({"data": {"name": "toy"}, "method": "fas", "fas": {"tau": -1}})
    assert message == "x.toml: [fas] tau must be a positive finite number; got -1"
    assert "unknown key [fas] taus (valid keys: sweeps, tau)" in error_of({"data": {"name": "toy"}, "method": "fas",
                                                                             "fas": {"taus": 1}})
    assert "unknown table [trian] (valid tables: data, fas, hierarchy, model, train)" in error_of(
        {"data": {"name": "toy"}, "trian": {}})
    assert error_of({"data": {"name": "toy"}, "method": "fass"}) == "x.toml: method must be one of fas, msann; got 'fass'"
    assert parse_config({"data": {"name": "toy"}}, overrides=["method=fas"]).runs[0].method == "fas"
    with pytest.raises(ValueError, match="method 'fas' is already registered; pass replace=True"):
        register_method("fas", MethodSpec(build=fas_method.build))
    assert METHODS["fas"] is fas_method


def test_a_method_table_may_not_take_a_core_table_name(registry):
    """A method's table named like a core table would be shadowed by it: the recipe is refused, naming both."""

    @dataclasses.dataclass(frozen=True)
    class Train:
        steps: int = 1

    register_method("mgopt", MethodSpec(build=lambda run, dataset, device: None, tables={"train": Train}))
    message = error_of({"data": {"name": "toy"}, "method": "mgopt"})
    assert message == ("x.toml: method 'mgopt' declares the table [train], which is a core table "
                       "(core tables: data, model, hierarchy, train); give its table another name")


def test_a_method_without_a_model_refuses_a_model_table(registry):
    register_method("own", MethodSpec(build=lambda run, dataset, device: None, uses_model=False))
    assert parse_config({"data": {"name": "toy"}, "method": "own"}).runs[0].method == "own"
    message = error_of({"data": {"name": "toy"}, "method": "own", "model": {"widths": [16, 16]}})
    assert message.startswith("x.toml: table [model] is not used by method 'own' (it builds its own network")


# --------------------------------------------------------------------------- checks with the data


def test_check_sizes_dimension(registry):
    run = parse_config({"data": {"name": "toy"}, "model": {"widths": [16, 4, 16]}}, source_name="r.toml").runs[0]
    with pytest.raises(ConfigError) as info:
        check_sizes(run, dimension=32, unit_shape=(32,))
    message = str(info.value)
    assert message.startswith("r.toml: [model] widths must start and end with the dimension 32")
    assert "'toy'" in message and "widths[0] = 16, widths[-1] = 16" in message
    with pytest.raises(ConfigError, match="unit shape \\(4, 5\\) has 20 units"):
        check_sizes(run, dimension=16, unit_shape=(4, 5))


def test_check_sizes_levels_use_unit_shapes(registry):
    run = parse_config({"data": {"name": "toy"}, "model": {"widths": [16, 8, 16]}}, source_name="r.toml").runs[0]
    check_sizes(run.replace(**{"hierarchy.levels": 3}), dimension=16, unit_shape=(16,))  # 8 -> 4 -> 2 -> 1
    with pytest.raises(ConfigError) as info:
        check_sizes(run.replace(**{"hierarchy.levels": 4}), dimension=16, unit_shape=(16,))  # 1 is odd
    message = str(info.value)
    assert message.startswith("r.toml: [hierarchy] levels = 4 is too deep for [model] widths[1] = 8")
    # A 3 x 4 image halves once as a grid (3x4 -> 3x2), then its longest side is 3: odd.
    grid = run.replace(**{"hierarchy.strategy": "grid-shuffled", "model.widths": [12, 12]})
    check_sizes(grid.replace(**{"hierarchy.levels": 1}), dimension=12, unit_shape=(3, 4))
    with pytest.raises(ConfigError, match=r"levels = 2 is too deep for \[model\] widths\[0\] = 12 .*'grid-shuffled'"):
        check_sizes(grid.replace(**{"hierarchy.levels": 2}), dimension=12, unit_shape=(3, 4))
    check_sizes(grid.replace(**{"hierarchy.levels": 2, "hierarchy.strategy": "path"}), dimension=12, unit_shape=(3, 4))


def test_check_sizes_method_hook(registry, fas_method):
    run = parse_config({"data": {"name": "toy"}, "method": "fas", "model": {"widths": [6, 6]},
                        "hierarchy": {"levels": 0}}, source_name="r.toml").runs[0]
    with pytest.raises(ConfigError, match=r"^r\.toml: \[fas\] needs a dimension divisible by 4; got 6 \(run 'recipe'\)$"):
        check_sizes(run, dimension=6, unit_shape=(6,))


def test_real_dataset_registry():
    from msann.data import DATASETS

    run = parse_config({"data": {"name": "one_object", "length": 64, "noise": 0}}, source_name="r.toml").runs[0]
    options = set(inspect.signature(DATASETS["one_object"]).parameters) - {"seed"}
    assert run.data["noise"] == 0.0 and run.data["length"] == 64 and set(run.data_options) == options
    assert "pad_to must be of type int | None" in str(pytest.raises(
        ConfigError, parse_config, {"data": {"name": "fashion_mnist", "pad_to": "32"}}).value)


def test_msann_config_alone_reads_a_fas_recipe():
    """``msann.config`` alone reads a FAS recipe: importing it registers the built-in methods."""
    recipe = REPO / "recipes" / "fas_poisson_fc.toml"
    code = (
        "import sys\n"
        "from msann.config import load_config\n"
        "from msann.methods import METHODS\n"
        "print(sorted(METHODS), 'msann.methods.fas' in sys.modules, end=' ')\n"
        f"config = load_config({str(recipe)!r})\n"
        "print(sorted({run.method for run in config.runs}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['fas',", "'mgopt',", "'msann']", "True", "['fas']"]


def test_two_methods_may_declare_tables_of_the_same_name(registry, fas_method):
    """Each run's ``[fas]`` is read with its own method's table class, in the base tables and in the run entries."""

    @dataclasses.dataclass(frozen=True)
    class OtherFas:
        depth: int = option(3, at_least(1, integer=True), "another method's key")

    register_method("other", MethodSpec(build=fas_method.build, tables={"fas": OtherFas}))
    [run] = parse_config({"data": {"name": "toy"}, "method": "other", "fas": {"depth": 5}}).runs
    assert run.extra["fas"] == OtherFas(depth=5)
    a, b = parse_config({"data": {"name": "toy"}, "runs": [{"label": "a", "method": "fas", "fas": {"tau": 3}},
                                                          {"label": "b", "method": "other", "fas": {"depth": 2}}]}).runs
    assert (a.extra["fas"], b.extra["fas"]) == (FakeFasTable(tau=3.0), OtherFas(depth=2))
    [run] = parse_config({"data": {"name": "toy"}, "fas": {"depth": 4}, "runs": [{"label": "b", "method": "other"}]}).runs
    assert run.extra["fas"] == OtherFas(depth=4)  # a base table of another method than the base's
    assert error_of({"data": {"name": "toy"}, "method": "other", "fas": {"tau": 1}}) == \
        "x.toml: unknown key [fas] tau (valid keys: depth)"
    assert error_of({"data": {"name": "toy"}, "runs": [{"label": "a", "method": "other", "fas": {"tau": 1}}]}) == \
        "x.toml: [runs][1] unknown key [fas] tau (valid keys: depth)"
