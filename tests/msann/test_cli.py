"""End-to-end tests of the ``msann`` command line (``msann run`` / ``msann sweep``).

Every test trains tiny models (length-64 one-object data, widths
[64, 16, 8, 16, 64], budgets of a few thousand examples) on the CPU through
:func:`msann.cli.main`, in process, except the kill-and-resume test, which
SIGKILLs a real ``python -m msann.cli`` subprocess.  Recipes are written into
``tmp_path`` so that each test controls every key (``--set`` overrides win over
``[[runs]]`` entries, so a global ``--set hierarchy.levels`` would erase a
``default`` run's ``levels = 0``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import tomllib
import zlib
from pathlib import Path

import pytest
import torch

from msann.cli import main
from msann.config import DEFAULT_CHECKPOINT_SECONDS, ConfigError, check_sizes, load_config
from msann.core.checkpoint import CHECKPOINT_NAME, load_checkpoint
from msann.data.poisson import INPUT_CHANNELS
from msann.experiment import run_slug
from msann.methods import METHODS
from msann.report.records import first_reach, untimed

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted((REPO / "recipes").glob("*.toml"))

#: The run keys of ``summary.json`` documented in msann/report/files.py, in the order written
#: (spelled out here, not imported, so that a change of the schema fails this test).
DOCUMENTED_KEYS = [
    "label", "final_val_mse", "initial_val_mse", "cost_to_tenth", "seconds_to_tenth", "cost_to_tenth_note",
    "total_cost", "wall_seconds", "params",
]
#: Extra keys that msann.experiment adds to every MsANN run (msann/report/files.py documents them too).
MSANN_EXTRAS = {"steps", "cycles", "device", "evaluation_seconds", "checkpoint_seconds", "event_seconds", "to_baseline"}

DATA = """
[data]
name = "one_object"
length = 64
n_train = 256
n_val = 64

[model]
widths = [64, 16, 8, 16, 64]

[train]
batch_size = 16
eval_points = 12
cost_budget = {budget}
"""

#: Two compared runs: plain training and MsANN (L = 2, W-cycle, k = 2).
TWO_RUNS = DATA + """
[hierarchy]
levels = 2
gamma = 2
k = 2

[[runs]]
label = "default"
hierarchy = {{ levels = 0 }}

[[runs]]
label = "msann L=2"
"""

#: One MsANN run labelled with the recipe name.
ONE_RUN = DATA + """
[hierarchy]
levels = 2
gamma = 2
k = 2
"""


def write_recipe(folder: Path, template: str = TWO_RUNS, *, name: str = "tiny", budget: float = 2000.0) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(template.format(budget=float(budget)))
    return path


def cli(*argv: str) -> tuple[int, str, str]:
    """``msann`` in process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(arg) for arg in argv])
    return status, out.getvalue(), err.getvalue()


def read_summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def read_history(folder: Path) -> tuple[list[str], list[tuple[str, float, float, float]]]:
    with open(folder / "history.csv", newline="") as file:
        rows = list(csv.reader(file))
    return rows[0], [(label, float(cost), float(value), float(seconds)) for label, cost, value, seconds in rows[1:]]


def assert_valid_png(path: Path) -> None:
    """PNG signature, then an IHDR chunk with a correct CRC and a non-empty size."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16 : 16 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert zlib.crc32(kind + body) == crc, f"{path}: corrupt IHDR chunk"
    width, height = struct.unpack(">II", body[:8])
    assert width > 0 and height > 0
    assert data[-12:-8] == b"\0\0\0\0" and data[-8:-4] == b"IEND", f"{path} is truncated"


def first_non_finite(state, prefix: str = "") -> str | None:
    if isinstance(state, torch.Tensor):
        return prefix if state.is_floating_point() and not bool(torch.isfinite(state).all()) else None
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, (list, tuple)) else ()
    for key, value in items:
        found = first_non_finite(value, f"{prefix}.{key}")
        if found is not None:
            return found
    return None


# --------------------------------------------------------------------------- shipped recipes


def _recipe_sizes(data: dict) -> tuple[int, tuple[int, ...]]:
    """Dimension and unit shape of a recipe's data, from its options alone (nothing is loaded)."""
    name = data["name"]
    if name in ("one_object", "two_object", "signals"):
        return data["length"], (data["length"],)
    if name == "fashion_mnist":
        side = data.get("pad_to") or 28  # 1024 = 32 x 32 for the shipped recipes
        return side * side, (side, side)
    if name == "poisson":  # channel-first images (C, M, M), see msann.data.poisson
        shape = (len(INPUT_CHANNELS[data["inputs"]]), data["grid_size"], data["grid_size"])
        return math.prod(shape), shape
    raise AssertionError(f"no size rule for dataset {name!r}: add one to this test")


@pytest.mark.parametrize("recipe", RECIPES, ids=[path.name for path in RECIPES])
def test_every_shipped_recipe_loads_and_fits_its_data(recipe):
    tree = tomllib.loads(recipe.read_text())
    datasets = {tree.get("data", {}).get("name")} | {entry.get("data", {}).get("name") for entry in tree.get("runs", [])}
    if "npz" in datasets:
        pytest.skip(f"{recipe.name}: the sizes of .npz data are known only from the file")
    config = load_config(recipe)
    assert config.runs, f"{recipe.name} has no run"
    for run in config.runs:
        dimension, unit_shape = _recipe_sizes(dict(run.data))
        check_sizes(run, dimension=dimension, unit_shape=unit_shape)
        # The same check refuses data of another dimension (so that this test can fail at all).
        with pytest.raises(ConfigError, match=r"unit shape .* but the data dimension is"):
            check_sizes(run, dimension=dimension * 4, unit_shape=unit_shape)
        if METHODS[run.method].uses_model:
            with pytest.raises(ConfigError, match=r"\[model\] widths"):
                check_sizes(run, dimension=dimension * 4, unit_shape=(dimension * 4,))


def test_the_demo_recipe_compares_default_with_msann():
    config = load_config(REPO / "recipes" / "demo.toml")
    levels = {run.label: run.hierarchy.levels for run in config.runs}
    assert levels.get("default") == 0 and any(value > 0 for value in levels.values()), levels


# --------------------------------------------------------------------------- msann run


@pytest.fixture(scope="module")
def two_run_output(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    recipe = write_recipe(folder, budget=1000.0)
    status, stdout, stderr = cli("run", recipe, "--out", folder / "out", "--device", "cpu")
    return status, stdout, stderr, folder / "out"


def test_run_writes_summary_with_exactly_the_documented_keys(two_run_output):
    status, _, stderr, out = two_run_output
    assert status == 0, stderr
    summary = read_summary(out)
    assert list(summary) == ["recipe", "runs"]
    assert [run["label"] for run in summary["runs"]] == ["default", "msann L=2"]
    for run in summary["runs"]:
        keys = list(run)
        assert keys[: len(DOCUMENTED_KEYS)] == DOCUMENTED_KEYS
        assert set(keys[len(DOCUMENTED_KEYS) :]) == MSANN_EXTRAS
        assert isinstance(run["final_val_mse"], float) and math.isfinite(run["final_val_mse"])
        assert run["cost_to_tenth"] is None or isinstance(run["cost_to_tenth"], (int, float))
        assert run["total_cost"] >= 1000.0 and run["wall_seconds"] >= 0.0
        assert run["params"]["label"] == run["label"] and run["params"]["train"]["cost_budget"] == 1000.0
        assert run["device"] == "cpu" and run["steps"] > 0
    levels = [run["params"]["hierarchy"]["levels"] for run in summary["runs"]]
    assert levels == [0, 2]


def test_run_history_agrees_with_the_summary(two_run_output):
    _, _, _, out = two_run_output
    header, rows = read_history(out)
    assert header == ["label", "cost", "val_mse", "seconds"]
    summary = read_summary(out)
    initial = set()
    for run in summary["runs"]:
        points = [row[1:] for row in rows if row[0] == run["label"]]
        costs = [cost for cost, _, _ in points]
        assert costs[0] == 0.0 and costs == sorted(costs) and len(set(costs)) == len(costs)
        assert costs[-1] == run["total_cost"]
        assert points[0][1] == run["initial_val_mse"] and points[-1][1] == run["final_val_mse"]
        tenth = next((cost for cost, value, _ in points if value <= run["initial_val_mse"] / 10), None)
        assert run["cost_to_tenth"] == tenth
        initial.add(run["initial_val_mse"])
    # Coarse parameters start at zero: MsANN starts as the plain network, same seed, same error.
    assert len(initial) == 1
    assert [row[0] for row in rows] == sorted((row[0] for row in rows), key=["default", "msann L=2"].index)


def test_run_writes_a_valid_plot_and_prints_one_row_per_run(two_run_output):
    status, stdout, _, out = two_run_output
    assert status == 0
    assert_valid_png(out / "error_vs_cost.png")
    assert_valid_png(out / "errors.png")
    with (out / "errors.csv").open(newline="") as file:
        errors = list(csv.DictReader(file))
    assert set(errors[0]) == {"label", "cost", "val_mse", "train_mse"}
    assert [(row[0], float(row[1]), float(row[2])) for row in read_history(out)[1]] == [
        (row["label"], float(row["cost"]), float(row["val_mse"])) for row in errors]
    lines = stdout.splitlines()
    assert lines[0].split()[:1] == ["run"]
    rows = [line for line in lines[1:]
            if not line.startswith(("wrote", "to 1st final:")) and not line.endswith(" s")]
    assert [row.rsplit(maxsplit=6)[0] for row in rows] == ["default", "msann L=2"]
    summary = read_summary(out)
    for row, run in zip(rows, summary["runs"]):
        assert float(row.rsplit(maxsplit=6)[1]) == pytest.approx(run["final_val_mse"], rel=1e-4)
    # the last columns: cost and training seconds to the first run's final error, from the logged history
    history = read_history(out)[1]
    for row, run in zip(rows, summary["runs"]):
        points = [(cost, error, seconds) for label, cost, error, seconds in history if label == run["label"]]
        reached = first_reach(points, summary["runs"][0]["final_val_mse"])
        assert row.rsplit(maxsplit=6)[-2:] == (["-", "-"] if reached is None else [f"{reached[0]:.5g}", f"{reached[1]:.2f}"])
        assert run["to_baseline"]["baseline"] == "default"
    assert (out / "runs" / "default" / CHECKPOINT_NAME).is_file()


# --------------------------------------------------------------------------- recipe errors


BAD_FILES = {
    "unknown key in file": ("[model]\nwidths = [64, 16, 8, 16, 64]\n", "[model]\nwidthz = [64, 16, 8, 16, 64]\n", "[model] widthz"),
    "wrong type in file": ("batch_size = 16", 'batch_size = "16"', "[train] batch_size"),
    "unknown key in a run entry": ('label = "msann L=2"', 'label = "msann L=2"\nhierarchy = { levelz = 1 }', "[hierarchy] levelz"),
    "invalid toml": ("[hierarchy]", "[hierarchy", "invalid TOML"),
}
BAD_SETS = {
    "unknown key": (["train.lrr=1"], "[train] lrr"),
    "wrong type": (['train.lr="abc"'], "[train] lr"),
    "levels too deep for widths": (["hierarchy.levels=4"], "[hierarchy] levels"),
    "widths do not match the data": (["data.length=32"], "[model] widths"),
    "unknown dataset": (["data.name=nope"], "[data] name"),
    "set without '='": (["trainlr"], "trainlr"),
    "set with two dots": (["a.b.c=1"], "a.b.c=1"),
}


def _assert_recipe_error(status, stdout, stderr, recipe, key, out):
    assert status == 2, stderr
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert str(recipe) in lines[0] and key in lines[0], lines[0]
    assert not out.exists(), "an output folder was created although the recipe is invalid"


@pytest.mark.parametrize("case", sorted(BAD_SETS))
def test_bad_override_exits_2_naming_file_and_key_before_training(tmp_path, case):
    overrides, key = BAD_SETS[case]
    recipe = write_recipe(tmp_path)
    out = tmp_path / "out"
    arguments = [item for text in overrides for item in ("--set", text)]
    status, stdout, stderr = cli("run", recipe, "--out", out, "--device", "cpu", *arguments)
    _assert_recipe_error(status, stdout, stderr, recipe, key, out)


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_recipe_file_exits_2_naming_file_and_key_before_training(tmp_path, case):
    good, bad, key = BAD_FILES[case]
    recipe = write_recipe(tmp_path)
    text = recipe.read_text()
    assert good in text
    recipe.write_text(text.replace(good, bad, 1))
    out = tmp_path / "out"
    status, stdout, stderr = cli("run", recipe, "--out", out, "--device", "cpu")
    _assert_recipe_error(status, stdout, stderr, recipe, key, out)


def test_missing_recipe_file_exits_2(tmp_path):
    recipe, out = tmp_path / "missing.toml", tmp_path / "out"
    status, stdout, stderr = cli("run", recipe, "--out", out)
    _assert_recipe_error(status, stdout, stderr, recipe, "no such recipe file", out)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is available here")
def test_device_cuda_without_cuda_exits_2(tmp_path):
    recipe, out = write_recipe(tmp_path), tmp_path / "out"
    status, stdout, stderr = cli("run", recipe, "--out", out, "--device", "cuda")
    assert status == 2 and stdout == ""
    assert "no CUDA device" in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is available here")
def test_a_run_entry_asking_for_cuda_fails_before_any_training(tmp_path):
    text = TWO_RUNS.replace('label = "msann L=2"', 'label = "msann L=2"\ntrain = {{ device = "cuda" }}')
    recipe, out = write_recipe(tmp_path, text), tmp_path / "out"
    status, _, stderr = cli("run", recipe, "--out", out)
    assert status == 2 and "no CUDA device" in stderr
    assert str(recipe) in stderr and "[train] device (run 'msann L=2')" in stderr
    assert not out.exists()


# --------------------------------------------------------------------------- kill and resume


KILL_BUDGET = 3000.0
KILL_SETS = ["--set", "train.checkpoint_every=0.1", "--device", "cpu", "--quiet"]


def test_checkpoint_every_zero_means_the_default_and_tiny_positive_values_are_accepted(tmp_path):
    recipe = write_recipe(tmp_path)
    every = {text: load_config(recipe, overrides=[f"train.checkpoint_every={text}"]).runs[0].train.checkpoint_every
             for text in ("0", "1e-9", "0.1")}
    assert every == {"0": DEFAULT_CHECKPOINT_SECONDS, "1e-9": 1e-9, "0.1": 0.1}
    assert DEFAULT_CHECKPOINT_SECONDS == 30.0
    with pytest.raises(ConfigError, match=r"\[train\] checkpoint_every"):
        load_config(recipe, overrides=["train.checkpoint_every=-1"])


def _wait_for(path: Path, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() or path.with_name(path.name + ".prev").exists():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.005)
    return False


#: One MG/Opt run on the width-and-data hierarchy (gate, Armijo line search, Adam on every level).
MGOPT_ONE_RUN = 'method = "mgopt"\n' + ONE_RUN.replace("[model]\nwidths = [64, 16, 8, 16, 64]\n", """[fas]
architecture = "fc"
hidden = 16
hidden_layers = 2
transfer = "graph"
tau_batches = 2
cost_model = "macs"

[mgopt]
line_search = true
kappa = 0.05
""")

#: The paper's MsANN, its coarse-data levels, those with a nested start, and MG/Opt on width and data.
KILL_VARIANTS = {"paper": (ONE_RUN, []), "coarse data": (ONE_RUN, ["--set", "hierarchy.coarse_data=true"]),
                 "coarse data, nested": (ONE_RUN, ["--set", "hierarchy.coarse_data=true", "--set", "hierarchy.start=coarsest",
                                                   "--set", "hierarchy.stage_cycles=3"]),
                 "mgopt, width and data": (MGOPT_ONE_RUN, ["--set", "hierarchy.coarse_data=true"])}


@pytest.mark.parametrize("variant", sorted(KILL_VARIANTS))
def test_kill_and_resume_ends_where_an_uninterrupted_run_ends(tmp_path, variant):
    template, extra = KILL_VARIANTS[variant]
    sets = [*KILL_SETS, *extra]
    recipe = write_recipe(tmp_path, template, name="kill", budget=KILL_BUDGET)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    checkpoint = killed / "runs" / run_slug("kill") / CHECKPOINT_NAME
    threads = str(torch.get_num_threads())  # the same float reductions in the subprocess as here
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    command = [sys.executable, "-m", "msann.cli", "run", str(recipe), "--out", str(killed), *sets]
    with open(tmp_path / "stderr.txt", "wb") as errors:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            appeared = _wait_for(checkpoint, process, timeout=120.0)
            if appeared:
                time.sleep(0.1)  # let it train past its first checkpoint
            finished = process.poll() is not None
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if finished:
        message = (tmp_path / "stderr.txt").read_text()
        assert process.returncode == 0, f"the run failed before it could be killed: {message}"
        pytest.skip("the run finished before it could be killed (machine too fast for the budget)")
    assert appeared, "no checkpoint appeared within 120 s"
    assert process.returncode == -signal.SIGKILL

    saved_path = checkpoint if checkpoint.exists() else checkpoint.with_name(CHECKPOINT_NAME + ".prev")
    saved = load_checkpoint(saved_path)["loop"]
    if saved["cost"] >= KILL_BUDGET:
        pytest.skip("the kill came after the final checkpoint")
    assert saved["cost"] > 0.0 and not (killed / "summary.json").exists()

    status, stdout, stderr = cli("run", recipe, "--out", killed, "--resume", *sets)
    assert status == 0, stderr
    assert stdout == "", "--quiet printed something"
    status, _, stderr = cli("run", recipe, "--out", whole, *sets)
    assert status == 0, stderr

    resumed, reference = read_summary(killed), read_summary(whole)
    for got, want in zip(resumed["runs"], reference["runs"], strict=True):
        assert untimed(got) == untimed(want)
    resumed_rows, reference_rows = read_history(killed)[1], read_history(whole)[1]
    assert [row[:3] for row in resumed_rows] == [row[:3] for row in reference_rows]
    # It really resumed: the points logged before the kill come from the checkpoint, seconds and all.
    before = [tuple(point) for point in saved["history"]]
    assert [row[1:] for row in resumed_rows[: len(before)]] == before


def test_resume_refuses_a_checkpoint_of_the_older_format_and_leaves_it_alone(tmp_path):
    """A format-1 checkpoint (msann before the shared machinery): exit 2, one line naming the file; the file is kept."""
    recipe, out = write_recipe(tmp_path, ONE_RUN, name="old"), tmp_path / "out"
    checkpoint = out / "runs" / run_slug("old") / CHECKPOINT_NAME
    checkpoint.parent.mkdir(parents=True)
    content = b"MSANN-CHECKPOINT-1\n" + b"0123456789abcdef" * 4 + b"\n" + bytes(range(256))
    checkpoint.write_bytes(content)
    status, stdout, stderr = cli("run", recipe, "--out", out, "--resume", "--device", "cpu")
    assert status == 2, stderr
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert str(checkpoint) in lines[0] and "older msann" in lines[0], lines[0]
    assert checkpoint.read_bytes() == content
    assert sorted(path.name for path in checkpoint.parent.iterdir()) == [CHECKPOINT_NAME]
    assert not (out / "summary.json").exists()


# --------------------------------------------------------------------------- sweep


def test_sweep_writes_table_files_and_one_default_plus_four_runs(tmp_path):
    recipe, out = write_recipe(tmp_path, budget=600.0), tmp_path / "sweep"
    status, stdout, stderr = cli("sweep", recipe, "--gamma", "1,2", "--levels", "0,1", "--k", "1,2",
                                 "--out", out, "--device", "cpu")
    assert status == 0, stderr
    runs = read_summary(out)["runs"]
    expected = ["default"] + [f"L=1 gamma={gamma} k={k}" for gamma in (1, 2) for k in (1, 2)]
    assert [run["label"] for run in runs] == expected
    for run in runs[1:]:
        hierarchy = run["params"]["hierarchy"]
        assert run["label"] == f"L={hierarchy['levels']} gamma={hierarchy['gamma']} k={hierarchy['k']}"
    assert runs[0]["params"]["hierarchy"]["levels"] == 0
    table = json.loads((out / "sweep.json").read_text())["table"]
    finals = {run["label"]: run["final_val_mse"] for run in runs}
    assert table["runs"] == 5 and table["default"]["label"] == "default"
    assert table["best_final"]["label"] == min(finals, key=finals.get)
    assert table["worst_final"]["label"] == max(finals, key=finals.get)
    markdown = (out / "sweep.md").read_text()
    assert markdown.strip() and markdown.strip() in stdout
    assert_valid_png(out / "sweep.png")


def test_sweep_with_a_bad_levels_list_exits_2(tmp_path):
    recipe, out = write_recipe(tmp_path), tmp_path / "sweep"
    status, stdout, stderr = cli("sweep", recipe, "--levels", "0..x", "--out", out, "--device", "cpu")
    assert status == 2 and stdout == ""
    assert "--levels" in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists()


# --------------------------------------------------------------------------- divergence


DIVERGE = ["--set", "train.optimizer=sgd", "--set", "model.activation=identity",
           "--set", "model.output_activation=identity", "--set", "train.checkpoint_every=1e-9", "--device", "cpu"]


@pytest.mark.parametrize("lr, checkpointed", [(100.0, True), (1e6, False)])
def test_a_diverging_run_exits_3_and_keeps_only_finite_checkpoints(tmp_path, lr, checkpointed):
    # With lr = 100 the loss grows for a few steps, long enough for checkpoints to be written
    # (checkpoint_every = 1e-9: after every cycle event); with 1e6 the first evaluation is already inf/nan.
    recipe, out = write_recipe(tmp_path, ONE_RUN, name="diverge"), tmp_path / "out"
    status, stdout, stderr = cli("run", recipe, "--out", out, "--set", f"train.lr={lr}", *DIVERGE)
    assert status == 3, stderr
    assert "diverged" in stderr and len(stderr.strip().splitlines()) == 1
    assert not (out / "summary.json").exists()
    checkpoint = out / "runs" / "diverge" / CHECKPOINT_NAME
    files = [path for path in (checkpoint, checkpoint.with_name(CHECKPOINT_NAME + ".prev")) if path.exists()]
    assert bool(files) == checkpointed
    for path in files:
        state = load_checkpoint(path)
        assert first_non_finite(state["method"]) is None, f"{path} holds a non-finite tensor"
        assert all(math.isfinite(value) for _, value, _ in state["loop"]["history"])
        assert state["loop"]["cost"] < 2000.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_run_on_cuda_ends_where_the_cpu_run_ends(tmp_path):
    """The same recipe on CUDA and on the CPU: the same schedule and cost, and float32-close errors."""
    recipe = write_recipe(tmp_path)
    finals = {}
    for device in ("cpu", "cuda"):
        status, _, err = cli("run", recipe, "--device", device, "--out", tmp_path / device, "--quiet")
        assert status == 0, err
        runs = read_summary(tmp_path / device)["runs"]
        assert {run["device"].split(":")[0] for run in runs} == {device}
        finals[device] = [(run["total_cost"], run["steps"], run["final_val_mse"]) for run in runs]
    for (cost_cpu, steps_cpu, cpu), (cost_gpu, steps_gpu, gpu) in zip(finals["cpu"], finals["cuda"], strict=True):
        assert (cost_cpu, steps_cpu) == (cost_gpu, steps_gpu)
        assert gpu == pytest.approx(cpu, rel=2e-2)
