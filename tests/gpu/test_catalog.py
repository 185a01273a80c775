"""The GPU catalog (data/gpus.json) and resolve_gpu: names, sizes, ambiguity, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gpulens.gpu import GpuTarget, UnknownGpuError, catalog, parse_size, resolve_gpu

MIB = 1 << 20
GIB = 1 << 30
DATA = Path(__file__).resolve().parents[2] / "server" / "gpulens" / "gpu" / "data" / "gpus.json"


def test_catalog_is_well_formed() -> None:
    raw = json.loads(DATA.read_text())["gpus"]
    cards = catalog()
    assert len(cards) == len(raw) >= 45
    names = [c.name for c in cards]
    assert len(set(names)) == len(names), "names are unique"
    for c in cards:
        assert c.memory > 1 * GIB and c.memory % MIB == 0, c.name
        assert c.basis in ("nvml", "measured", "vendor"), c.name
        assert c.kind in ("consumer", "workstation", "datacenter"), c.name
        assert c.source and c.nominal, c.name
        nominal = c.nominal_gb
        assert nominal is not None
        # NVML totals sit a little below the nominal GiB (ECC, reserved) and above the GB figure
        # minus ECC's 1/16 (T4, L4, A40 report ~94%); HBM "141 GB" is 141-ish GiB.
        assert 0.9 * nominal * GIB <= c.memory <= 1.03 * nominal * GIB, c.name


def test_catalog_covers_the_common_cards() -> None:
    expect = {
        "RTX 2080 Ti": 11_264,
        "RTX 3060": 12_288,
        "RTX 3090": 24_576,
        "RTX 4060": 8_188,
        "RTX 4090": 24_564,
        "RTX 5090": 32_607,
        "RTX A4000": 16_376,
        "RTX A5000": 24_564,
        "RTX A6000": 49_140,
        "RTX 6000 Ada": 49_140,
        "T4": 15_360,
        "A10": 23_028,
        "A10G": 23_028,
        "A40": 46_068,
        "A100 40GB": 40_960,
        "A100 80GB": 81_920,
        "L4": 23_034,
        "L40S": 46_068,
        "H100 SXM": 81_559,
        "H100 NVL": 95_830,
        "H200": 143_771,
        "B200": 183_359,
    }
    by_name = {c.name: c for c in catalog()}
    for name, mib in expect.items():
        assert by_name[name].memory == mib * MIB, name
    assert by_name["H200"].basis == "measured"
    for fam in ("V100", "P100", "A30", "GH200", "L40"):
        assert any(c.family == fam for c in catalog()), fam


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("rtx4090", "RTX 4090"),
        ("RTX 4090", "RTX 4090"),
        ("4090", "RTX 4090"),
        ("GeForce RTX 4090", "RTX 4090"),
        ("NVIDIA GeForce RTX 4090", "RTX 4090"),
        ("a100-80gb", "A100 80GB"),
        ("A100 80GB", "A100 80GB"),
        ("a100_80g", "A100 80GB"),
        ("NVIDIA A100-SXM4-80GB", "A100 80GB"),
        ("A100-SXM4-40GB", "A100 40GB"),
        ("t4", "T4"),
        ("Tesla T4", "T4"),
        ("v100 32gb", "V100 32GB"),
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("h100 nvl", "H100 NVL"),
        ("4060 Ti 16GB", "RTX 4060 Ti 16GB"),
        ("rtx 6000 ada", "RTX 6000 Ada"),
        ("h200", "H200"),
        ("b200", "B200"),
        ("l40s", "L40S"),
    ],
)
def test_names_resolve(spec: str, name: str) -> None:
    target = resolve_gpu(spec)
    assert isinstance(target, GpuTarget)
    assert target.name == name
    assert target.catalog and target.source


def test_ambiguous_family_picks_the_smallest_and_says_so() -> None:
    a100 = resolve_gpu("A100")
    assert a100.name == "A100 40GB"
    assert a100.note is not None and "A100 80GB" in a100.note and "least memory" in a100.note
    assert resolve_gpu("V100").name == "V100 16GB"
    assert resolve_gpu("3080").name == "RTX 3080 10GB"
    # H100 PCIe and SXM have the same memory: nothing to warn about
    h100 = resolve_gpu("h100")
    assert h100.memory == 81_559 * MIB and h100.note is None


@pytest.mark.parametrize(
    ("spec", "size"),
    [
        ("24GiB", 24 * GIB),
        ("24G", 24 * GIB),
        ("24 gib", 24 * GIB),
        ("16GB", 16 * 10**9),
        ("8192MiB", 8192 * MIB),
        ("1.5TB", 15 * 10**11),
        ("80g", 80 * GIB),
    ],
)
def test_sizes(spec: str, size: int) -> None:
    assert parse_size(spec) == size
    target = resolve_gpu(spec)
    assert target.memory == size and not target.catalog and target.note is None


def test_not_sizes() -> None:
    for text in ("4090", "GiB", "", "24 GiB GPU", "0GB", "-1G"):
        assert parse_size(text) is None


@pytest.mark.parametrize(
    ("spec", "near"),
    [("rtx 4091", "RTX 4090"), ("a1000", "A100 40GB"), ("h1000", "H100 NVL"), ("L4S", "L40S")],
)
def test_unknown_names_list_near_matches(spec: str, near: str) -> None:
    with pytest.raises(UnknownGpuError) as err:
        resolve_gpu(spec)
    assert near in err.value.suggestions
    message = str(err.value)
    assert spec in message and near in message and "24GiB" in message


def test_unknown_without_any_near_match() -> None:
    with pytest.raises(UnknownGpuError) as err:
        resolve_gpu("zzzzzz")
    assert "unknown GPU 'zzzzzz'" in str(err.value)
    with pytest.raises(UnknownGpuError):
        resolve_gpu("   ")
