"""The number formats hints, hovers and the CLI share (gpulens.units)."""

from __future__ import annotations

import pytest
from gpulens.units import fmt_bytes, fmt_int, fmt_names, fmt_params, fmt_ratio, fmt_shape


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "?"),
        (0, "0 B"),
        (512, "512 B"),
        (1024, "1 KiB"),
        (6656, "6.5 KiB"),
        (int(44.6 * 2**20), "44.6 MiB"),
        (65 * 2**20, "65 MiB"),
        (742 * 2**20, "742 MiB"),
        (1023 * 2**20 + 2**19, "1 GiB"),  # 1023.5 MiB would print as 1024 MiB
        (int(3.14 * 2**30), "3.1 GiB"),
        (80 * 2**30, "80 GiB"),
        (-3 * 2**20, "-3 MiB"),
    ],
)
def test_fmt_bytes(n: int | None, text: str) -> None:
    assert fmt_bytes(n) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "?"),
        (0, "0"),
        (850, "850"),
        (1474, "1.5K"),
        (61_706, "61.7K"),
        (590_592, "591K"),
        (999_950, "1M"),
        (11_689_512, "11.7M"),
        (124_439_808, "124M"),
        (1_300_000_000, "1.3B"),
    ],
)
def test_fmt_params(n: int | None, text: str) -> None:
    assert fmt_params(n) == text


def test_shapes_counts_ratios() -> None:
    assert fmt_shape((64, 26, 26)) == "[64, 26, 26]"
    assert fmt_shape((None, 128)) == "[?, 128]"
    assert fmt_shape(None) == "?"
    assert fmt_int(1_200) == "1,200" and fmt_int(None) == "?"
    assert fmt_ratio(50, 100) == "-50%" and fmt_ratio(103, 100) == "+3%"
    assert fmt_ratio(100, 100) == "±0%" and fmt_ratio(5, 0) == ""


def test_fmt_names() -> None:
    assert fmt_names("Adam") == "Adam"
    assert fmt_names("Adam, Adam") == "Adam ×2"
    assert fmt_names("Adam, SGD") == "Adam + SGD"
    assert fmt_names(None) == "no optimizer" and fmt_names("") == "no optimizer"
