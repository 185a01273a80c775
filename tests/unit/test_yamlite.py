"""The YAML subset reader: what PyYAML's safe_load returns for typical training configs."""

from __future__ import annotations

import math

import pytest
from gpulens.analysis.yamlite import YamlSubsetError, loads, scalar


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64", 64),
        ("-3", -3),
        ("1_000", 1000),
        ("0x10", 16),
        ("0.1", 0.1),
        ("1.0e-3", 0.001),
        ("1e-3", "1e-3"),  # YAML 1.1 (PyYAML): no dot, no float
        ("true", True),
        ("Off", False),
        ("yes", True),
        ("~", None),
        ("null", None),
        ("", None),
        ("'a: b'", "a: b"),
        ('"x"', "x"),
        ("[1, 2, 'c']", [1, 2, "c"]),
        ("{a: 1, b: two}", {"a": 1, "b": "two"}),
        ("adamw", "adamw"),
        (".inf", math.inf),
    ],
)
def test_scalars(text: str, expected: object) -> None:
    assert scalar(text) == expected


def test_nested_config() -> None:
    text = """
# comment
model:
  name: resnet50   # trailing comment
  dropout: 0.1
train:
  batch_size: 128
  schedule:
    warmup: 5
  milestones:
    - 30
    - 60
  tags: [a, "b # not a comment"]
empty:
"""
    assert loads(text) == {
        "model": {"name": "resnet50", "dropout": 0.1},
        "train": {
            "batch_size": 128,
            "schedule": {"warmup": 5},
            "milestones": [30, 60],
            "tags": ["a", "b # not a comment"],
        },
        "empty": None,
    }


def test_list_at_key_indentation() -> None:
    assert loads("steps:\n- 1\n- 2\nlr: 0.5\n") == {"steps": [1, 2], "lr": 0.5}


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",
        "a: |\n  text\n",
        "a: !!int 3\n",
        "a: 1\n---\nb: 2\n",
        "- a: 1\n  b: 2\n",
        "a: 1\n   b: 2\n",
        "\ta: 1\n",
        "a: 'open\n",
    ],
)
def test_unsupported_is_an_error_not_a_guess(text: str) -> None:
    with pytest.raises(YamlSubsetError):
        loads(text)


def test_hydra_defaults_list() -> None:
    text = "defaults:\n  - _self_\n  - model: resnet18\n  - optional db: null\nlr: 0.1\n"
    assert loads(text) == {
        "defaults": ["_self_", {"model": "resnet18"}, {"optional db": None}],
        "lr": 0.1,
    }
