"""Helpers of the recipe tests: a recipe file, and the message of the ConfigError a recipe raises."""

from __future__ import annotations

import pytest

from msann.config import ConfigError, load_config, parse_config


def write(tmp_path, text, name="exp.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = """
[data]
name = "toy"
length = 16

[model]
widths = [16, 4, 16]
"""


def error_of(path_or_data, *, overrides=(), source="x.toml"):
    with pytest.raises(ConfigError) as info:
        if isinstance(path_or_data, dict):
            parse_config(path_or_data, source_name=source, overrides=overrides)
        else:
            load_config(path_or_data, overrides=overrides)
    return str(info.value)


def assert_error(data, fragments):
    message = error_of(data)
    assert message.startswith("x.toml: ")
    for fragment in fragments:
        assert fragment in message
