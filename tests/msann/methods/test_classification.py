"""Classification with FAS and MG/Opt: the cross-entropy of logits as every level's loss (msann.core.metrics).

What is asserted: with the cross-entropy, the MG/Opt coarse model is first-order coherent on the same
sample, grad h(xb_k) = R_g grad f(x_k), on the depth (ResNet) and the width (matched units) hierarchies;
FAS's coarse objective is consistent in the same way; a smoothing step minimises the cross-entropy; a
recipe on tiny Fashion-MNIST IDX files written here (labels drawn as patches at ten places) trains SGD,
MG/Opt and FAS on the depth hierarchy, logs the error rate, names it in the printed table and lowers it;
a bad [data] task and MsANN on labels are one-line recipe errors.
"""

from __future__ import annotations

import csv
import itertools
import json
import math

import numpy as np
import pytest
import torch

from msann.cli import main
from msann.config import load_config
from msann.coarsening.network import CoarseningOptions
from msann.core.coarse import mean_gradient
from msann.core.metrics import cross_entropy
from msann.data import write_idx
from msann.experiment import load_run_data
from msann.methods.fas import FAS
from msann.methods import method_spec
from msann.methods.mgopt import MGOpt
from msann.models.poisson_nets import poisson_fc
from msann.models.resnet import ResNet

F64 = torch.float64
pytestmark = pytest.mark.filterwarnings("ignore::msann.coarsening.network.CoarseningWarning")


def _network(hierarchy: str) -> torch.nn.Module:
    if hierarchy == "depth":
        return ResNet(16, 5, width=6, blocks=4, step=0.25, seed=2, dtype=F64)
    return poisson_fc(16, 5, hidden=8, seed=2, dtype=F64)


def _method(kind: type, hierarchy: str, **options):
    coarsening = {"transfer": "depth"} if hierarchy == "depth" else {"coarsening": CoarseningOptions(threshold=-1.0)}
    return kind(_network(hierarchy), levels=1, tau_batches=1, lr=0.05, momentum=0.0, loss=cross_entropy, **coarsening, **options)


def _batch(rows: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 5, (rows,), generator=generator)
    return torch.randn(rows, 16, generator=generator, dtype=F64), torch.eye(5, dtype=F64)[labels]


def _coarse_gradient_at_the_restriction(method, batch) -> tuple[dict, dict]:
    """``(grad of level 1's objective at R_p x, R_g grad f(x))`` on the same one-minibatch sample."""
    fine_gradient = mean_gradient(method.hierarchy[0].model, lambda x, y: method._objective(0, x, y)[0], [batch])
    method._batch_size = batch[0].shape[0]
    assert not method.down(0, itertools.repeat(batch)).skip
    coarse = mean_gradient(method.hierarchy[1].model, lambda x, y: method._objective(1, x, y)[0], [batch])
    return coarse, method.hierarchy[0].transfer.restrict_gradient(fine_gradient)


@pytest.mark.parametrize("hierarchy", ["depth", "width"])
@pytest.mark.parametrize("lam", [0.0, 0.7])
def test_mgopt_with_the_cross_entropy_is_first_order_coherent_on_the_same_sample(hierarchy, lam):
    coarse, expected = _coarse_gradient_at_the_restriction(_method(MGOpt, hierarchy, lam=lam, kappa=1e-9), _batch())
    assert any(float(value.abs().max()) > 1e-3 for value in expected.values())  # a gradient worth matching
    for name, gradient in coarse.items():
        torch.testing.assert_close(gradient, expected[name], rtol=1e-12, atol=1e-15)


def test_the_coherence_needs_the_tau_term_fas_consistency_with_the_cross_entropy():
    coarse, expected = _coarse_gradient_at_the_restriction(_method(FAS, "depth"), _batch())
    for name, gradient in coarse.items():
        torch.testing.assert_close(gradient, expected[name], rtol=1e-12, atol=1e-15)
    plain, expected = _coarse_gradient_at_the_restriction(_method(FAS, "depth", gamma_tau=0.0), _batch())
    assert max(float((plain[name] - expected[name]).abs().max()) for name in plain) > 1e-4  # tau is what makes it hold


def test_a_smoothing_step_logs_and_lowers_the_cross_entropy():
    method, (inputs, targets) = _method(MGOpt, "depth"), _batch(rows=20)
    model = method.hierarchy[0].model
    with torch.no_grad():
        before = float(torch.nn.functional.cross_entropy(model(inputs), targets.argmax(dim=1)))  # class-index form
    logged = float(method.smooth_step(0, inputs, targets))
    assert logged == pytest.approx(before, rel=1e-13)
    with torch.no_grad():
        assert float(cross_entropy(model(inputs), targets)) < before


# --------------------------------------------------------------------------- recipes end to end


def _write_fashion_like(folder, *, seed: int = 0, counts=(("train", 200), ("t10k", 60))) -> None:
    """IDX files of 28 x 28 noise with a white 8 x 4 patch at one of ten places: the label."""
    rng = np.random.default_rng(seed)
    for prefix, count in counts:
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 60, size=(count, 28, 28)).astype(np.uint8)
        for image, label in zip(images, labels):
            row, column = divmod(int(label), 5)
            image[4 + 12 * row : 12 + 12 * row, 2 + 5 * column : 6 + 5 * column] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)


RECIPE = """
name = "classify"
method = "mgopt"

[data]
name = "fashion_mnist"
directory = "data"
task = "{task}"

[hierarchy]
levels = 1
k = 2

[train]
optimizer = "sgd"
lr = 0.05
momentum = 0.9
batch_size = 20
cost_budget = 3000.0
eval_points = 6

[fas]
architecture = "resnet"
hidden = 16
hidden_layers = 4
transfer = "depth"
tau_batches = 2
cost_model = "macs"

[mgopt]
line_search = true

[[runs]]
label = "SGD"
hierarchy = {{ levels = 0 }}

[[runs]]
label = "MG/Opt, depth"

[[runs]]
label = "FAS, depth"
method = "fas"
"""


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    _write_fashion_like(tmp_path / "data")
    monkeypatch.setattr("msann.experiment.plot_error_vs_cost", lambda records, path, **options: None)
    monkeypatch.setattr("msann.experiment.plot_errors", lambda records, path, **options: None)

    def write(task: str = "classify", extra: str = "") -> str:
        path = tmp_path / "classify.toml"
        path.write_text(RECIPE.format(task=task) + extra)
        return str(path)

    return write


def test_a_classification_recipe_trains_sgd_mgopt_and_fas_on_the_depth_hierarchy(recipe, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", recipe(), "--device", "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[:5] == ["run", "final", "val", "error", "rate"]
    assert printed[len(printed) - 3].startswith("to 1st final: first reaching the final val error rate of 'SGD'")
    runs = json.loads((out / "summary.json").read_text())["runs"]
    assert [run["label"] for run in runs] == ["SGD", "MG/Opt, depth", "FAS, depth"]
    with (out / "errors.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0])[2:] == ["val_error", "val_cross_entropy", "train_error", "train_cross_entropy"]
    for run in runs:
        mine = [row for row in rows if row["label"] == run["label"]]
        errors = [float(row["val_error"]) for row in mine]
        assert run["final_val_mse"] == errors[-1] and run["initial_val_mse"] == errors[0]  # the logged error is val_error
        assert all(0.0 <= error <= 1.0 for error in errors) and errors[0] > 0.5  # ten classes: about 0.9 at first
        assert errors[-1] < 0.5 * errors[0], (run["label"], errors)
        assert float(mine[-1]["val_cross_entropy"]) < float(mine[0]["val_cross_entropy"])
        assert run["best_val_error"] == min(errors) and run["outputs"] == 10
        assert math.isfinite(run["best_train_cross_entropy"]) and run["best_val_l2"] is None
    assert [len(level) for level in runs[1]["level_widths"]] == [1, 1] and runs[1]["gate_open"] >= 1


@pytest.mark.parametrize("task, loss", [("classify", cross_entropy), ("autoencoder", torch.nn.functional.mse_loss)])
def test_the_recipes_methods_minimise_the_loss_of_the_data_task(recipe, tmp_path, task, loss):
    config = load_config(recipe(task))
    dataset = load_run_data(config.runs[0], source="classify.toml", base=tmp_path)
    assert [run.method for run in config.runs] == ["mgopt", "mgopt", "fas"]
    for run in config.runs:
        assert method_spec(run.method).build(run, dataset, "cpu").loss is loss


def test_a_bad_task_and_msann_on_labels_are_one_line_recipe_errors(recipe, tmp_path, capsys):
    assert main(["run", recipe("regress"), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert "[data] (SGD): unknown task 'regress'; valid tasks are: autoencoder, classify" in error
    assert len(error.splitlines()) == 1
    assert main(["run", recipe(), "--set", "data.task=3", "--out", str(tmp_path / "out")]) == 2
    assert "[data] task must be of type str for dataset 'fashion_mnist'; got int 3" in capsys.readouterr().err
    path = tmp_path / "msann.toml"
    path.write_text('[data]\nname = "fashion_mnist"\ndirectory = "data"\ntask = "classify"\n'
                    '[model]\nwidths = [784, 32, 784]\n[train]\nbatch_size = 20\ncost_budget = 100.0\n')
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert ("method must be one that trains a classifier ('fas', 'mgopt') on the 10-class labels of [data] 'fashion_mnist' "
            "(run 'msann'); got method = 'msann', which trains autoencoders") in error
    assert len(error.splitlines()) == 1 and not (tmp_path / "out").exists()


def test_coarse_data_on_class_labels_is_a_one_line_recipe_error(recipe, tmp_path, capsys):
    argv = ["run", recipe(), "--set", "hierarchy.coarse_data=true", "--set", 'fas.architecture="fc"',
            "--set", 'fas.transfer="graph"', "--set", "fas.hidden_layers=2", "--out", str(tmp_path / "out"), "--quiet"]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert ("[hierarchy] coarse_data = true halves the targets' units along their graph; the 10 class labels of "
            "[data] 'fashion_mnist' have none") in error and "got coarse_data = true" in error
    assert len(error.splitlines()) == 1 and not (tmp_path / "out").exists()
