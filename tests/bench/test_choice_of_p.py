"""bench/choice_of_p.py: the recipe it builds for every data set, and one tiny end-to-end run over two seeds."""

from __future__ import annotations

import pytest

from .scripts import load_script

choice = load_script("choice_of_p")


@pytest.mark.parametrize("name", list(choice.DATA))
def test_every_data_set_gets_fig_7s_six_runs_with_its_own_data_and_optimiser(name):
    config = choice.experiment(name, levels=3, gamma=3, k=1, budget=123.0, eval_points=5)
    assert config.labels == ["default", "1D P (path)", "2D P (grid)", "2D P shuffled", "random orthogonal P",
                             "all levels simultaneously"]
    strategies = [run.hierarchy.strategy for run in config.runs[1:]]
    assert strategies == ["path", "grid", "grid-shuffled", "random-orthogonal", "grid"]
    data, optimizer, model = choice.DATA[name]
    for run in config.runs:
        assert run.data["name"] == data["name"] and run.train.cost_budget == 123.0
        assert run.train.optimizer == optimizer
        assert all(getattr(run.model, key) == value for key, value in model.items())
        assert run.hierarchy.levels == (0 if run.label == "default" else 3)


def test_a_tiny_run_over_two_seeds_writes_the_tables_and_the_real_cost_factors(tmp_path, capsys):
    status = choice.main(["--datasets", "one_object", "--seeds", "2", "--levels", "1", "--budget", "96",
                          "--eval-points", "4", "--out", str(tmp_path)])
    assert status == 0
    text = (tmp_path / "choice_of_p.md").read_text()
    assert "## one_object" in text and "| random orthogonal P | 2 |" in text and "Ordering by median final error:" in text
    factors = text.split("multiplies the cost axis by): ")[1].splitlines()[0]
    assert factors.startswith("default 1,")  # a plain step costs what it is charged
    assert (tmp_path / "one_object" / "seeds.png").is_file()
