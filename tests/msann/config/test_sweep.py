"""Sweeps: the runs of ``msann sweep`` and the integer lists of its options (msann.config.sweep)."""

from __future__ import annotations

import pytest

from msann.config import expand_sweep, parse_config, parse_int_list


def test_expand_sweep_labels_and_single_default(registry):
    experiment = parse_config({"data": {"name": "toy"}, "model": {"widths": [16, 8, 16]},
                               "train": {"lr": 1e-3}, "runs": [{"label": "x", "hierarchy": {"gamma": 5}}]})
    runs = expand_sweep(experiment, gamma=[1, 3, 3], levels=[0, 2, 0, 1], k=[4, 1])
    assert [run.label for run in runs] == [
        "default", "L=2 gamma=1 k=4", "L=2 gamma=1 k=1", "L=2 gamma=3 k=4", "L=2 gamma=3 k=1",
        "L=1 gamma=1 k=4", "L=1 gamma=1 k=1", "L=1 gamma=3 k=4", "L=1 gamma=3 k=1",
    ]
    assert runs[0].hierarchy.levels == 0 and runs[0].hierarchy.gamma == 5
    for run in runs[1:]:
        expected = run.label.replace("L=", "").replace("gamma=", "").replace("k=", "").split()
        assert [getattr(run.hierarchy, key) for key in ("levels", "gamma", "k")] == [int(value) for value in expected]
        assert run.train.lr == 1e-3 and run.model.widths == (16, 8, 16)
    without_zero = expand_sweep(experiment, gamma=[2], levels=[3], k=[1])
    assert [run.label for run in without_zero] == ["default", "L=3 gamma=2 k=1"]
    with pytest.raises(ValueError, match="gamma must be >= 1"):
        expand_sweep(experiment, gamma=[0], levels=[1], k=[1])
    with pytest.raises(ValueError, match="sweep k must list at least one value"):
        expand_sweep(experiment, gamma=[1], levels=[1], k=[])


@pytest.mark.parametrize(("text", "expected"), [
    ("1,2,4", [1, 2, 4]), ("0..6", [0, 1, 2, 3, 4, 5, 6]), ("1,2,4..6", [1, 2, 4, 5, 6]),
    (" 3 , 1..2 ,3", [3, 1, 2]), ("5..5", [5]),
])
def test_parse_int_list(text, expected):
    assert parse_int_list(text, name="--k") == expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "--levels must be a comma-separated list"), ("1,,2", "bad item ''"), ("a", "bad item 'a'"),
    ("1.5", "bad item '1.5'"), ("6..0", "--levels: range '6..0' is empty"), ("-1", "--levels values must be >= 0"),
])
def test_parse_int_list_errors(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_int_list(text, name="--levels")
    assert fragment in str(info.value)
