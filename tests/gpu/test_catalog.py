"""The GPU catalog (data/gpus.json) and resolve_gpu: names, sizes, ambiguity, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from gpulens.gpu import GpuTarget, UnknownGpuError, catalog, parse_size, resolve_gpu

MIB = 1 << 20
GIB = 1 << 30
DATA = Path(__file__).resolve().parents[2] / "server" / "gpulens" / "gpu" / "data" / "gpus.json"
TRUTH = DATA.parents[4] / ".." / "shared" / "gpu-truth" / "calib-h200.jsonl"
VENDOR = re.compile(r"^(\d+) GB (GDDR5X?|GDDR6X?|GDDR7|HBM2e?|HBM3e?)$")
#: How far below its rule's figure NVML's total may sit (documented in gpus.json's header and
#: catalog.py): V100 16GB, 16,160 of 16,384 MiB, is the lowest at 1.4 %.
TOLERANCE = 0.02
#: Totals reported by NVML (provenance nvml/measured), pinned so a change is deliberate.
NVML_MIB = {
    "RTX 4090": 24_564,
    "RTX 5090": 32_607,
    "P100 16GB": 16_280,
    "T4": 15_360,
    "V100 16GB": 16_160,
    "V100 32GB": 32_510,
    "A10G": 23_028,
    "A100 40GB": 40_960,
    "A100 80GB": 81_920,
    "L4": 23_034,
    "H100 PCIe": 81_559,
    "H100 SXM": 81_559,
    "H100 NVL": 95_830,
    "H200": 143_771,
    "B200": 183_359,
}


def _raw() -> list[dict[str, Any]]:
    gpus: list[dict[str, Any]] = json.loads(DATA.read_text(encoding="utf-8"))["gpus"]
    return gpus


def _rule_mib(entry: dict[str, Any]) -> int:
    """The vendor figure in MiB: GB x 1024 (NVIDIA's GB of GPU memory is binary), x 15/16 for
    GDDR that ships with ECC on."""
    m = VENDOR.match(entry["vendor_memory"])
    assert m is not None, entry["name"]
    mib = int(m.group(1)) * 1024
    return mib * 15 // 16 if entry["ecc"] == "on" else mib


def test_catalog_is_well_formed() -> None:
    raw = _raw()
    cards = catalog()
    assert len(cards) == len(raw) >= 40
    names = [c.name for c in cards]
    assert len(set(names)) == len(names), "names are unique"
    for c, entry in zip(cards, raw, strict=True):
        assert c.name == entry["name"] and c.memory == entry["memory_mib"] * MIB, c.name
        assert c.basis in ("nvml", "measured", "derived"), c.name
        assert c.kind in ("consumer", "workstation", "datacenter"), c.name
        assert c.source and c.nominal == entry["vendor_memory"], c.name


def test_every_card_has_a_vendor_figure_and_source() -> None:
    for entry in _raw():
        name = entry["name"]
        m = VENDOR.match(entry["vendor_memory"])
        assert m is not None, f"{name}: vendor_memory as published, e.g. '24 GB GDDR6X'"
        kind = m.group(2)
        assert entry["ecc"] in ("none", "hbm", "on", "optional"), name
        assert (entry["ecc"] == "hbm") == kind.startswith("HBM"), name
        if entry["kind"] == "consumer":
            assert entry["ecc"] == "none", name
        source = entry["vendor_source"]
        assert re.search(r"\S.*: https://\S+$", source), f"{name}: title and URL"
        assert entry["bus"].endswith("-bit"), name


def _problems(entry: dict[str, Any], seen: dict[str, dict[str, Any]]) -> list[str]:
    """What is wrong with one entry's total, given the entries before it (by name)."""
    name, mib, prov = entry["name"], entry["memory_mib"], entry["provenance"]
    rule = _rule_mib(entry)
    out: list[str] = []
    if prov in ("measured", "nvml"):
        if NVML_MIB.get(name) != mib:
            out.append("a reported total not pinned in NVML_MIB")
        if not entry.get("note"):
            out.append("no note saying where NVML's figure was reported")
        if "rule" in entry:
            out.append("a reported total with a rule")
    elif prov != "derived":
        out.append(f"unknown provenance {prov!r}")
    elif entry.get("rule") == "nominal":
        if entry["ecc"] == "on":
            out.append("ECC on by default takes 1/16: rule nominal-ecc")
        if mib != rule:
            out.append("not GB x 1024 MiB")
    elif entry.get("rule") == "nominal-ecc":
        if entry["ecc"] != "on" or mib != rule:
            out.append("not GB x 1024 x 15/16 MiB of an ECC-on card")
    else:
        kind, _, sibling = str(entry.get("rule")).partition(":")
        twin = seen.get(sibling)
        if kind != "sibling" or twin is None:
            out.append(f"unknown rule {entry.get('rule')!r}")
        elif twin["vendor_memory"] != entry["vendor_memory"] or twin["memory_mib"] != mib:
            out.append("not its sibling's memory")
    if prov == "derived" and name in NVML_MIB:
        out.append("pinned as reported but derived")
    if not (1 - TOLERANCE) * rule <= mib <= rule:
        out.append(f"{mib} MiB is not within {TOLERANCE:.0%} below {rule} MiB")
    # NVIDIA's GB is binary: every total is above the decimal reading of the vendor figure
    if mib * MIB <= int(entry["vendor_memory"].split()[0]) * 10**9:
        out.append("below the decimal reading of the vendor figure")
    return out


def test_totals_follow_their_provenance() -> None:
    """measured / nvml: pinned, with the report named; derived: exactly its rule; all: at most
    the vendor figure and within the tolerance below it."""
    seen: dict[str, dict[str, Any]] = {}
    problems: dict[str, list[str]] = {}
    for entry in _raw():
        if found := _problems(entry, seen):
            problems[entry["name"]] = found
        seen[entry["name"]] = entry
    assert not problems
    assert set(NVML_MIB) <= set(seen)
    assert [n for n, e in seen.items() if e["provenance"] == "measured"] == ["H200"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "RTX 4080", "provenance": "nvml"}, "not pinned"),
        ({"name": "RTX 4080", "memory_mib": 16_376}, "not GB x 1024 MiB"),
        ({"name": "RTX 4080", "memory_mib": 16_500}, "not within 2% below"),
        ({"name": "L40S", "rule": "nominal", "memory_mib": 49_152}, "ECC on by default"),
        ({"name": "T4", "memory_mib": 16_384}, "not within 2% below"),
        ({"name": "V100 16GB", "memory_mib": 15_000}, "not within 2% below"),
        ({"name": "H200 NVL", "rule": "sibling:B200"}, "not its sibling's memory"),
        ({"name": "H100 SXM", "note": ""}, "no note"),
        ({"name": "RTX 4090", "vendor_memory": "24 GB GDDR6X", "memory_mib": 22_000}, "within"),
    ],
)
def test_the_total_checks_can_fail(change: dict[str, Any], problem: str) -> None:
    raw = _raw()
    seen = {e["name"]: e for e in raw}
    entry = {**seen[change["name"]], **change}
    assert any(problem in p for p in _problems(entry, seen))


@pytest.mark.skipif(not TRUTH.is_file(), reason="../shared/gpu-truth is not checked out")
def test_the_measured_total_is_gpu_truths() -> None:
    env = json.loads(TRUTH.read_text(encoding="utf-8").splitlines()[0])
    assert env["suite"] == "env" and "H200" in env["gpu"]
    assert resolve_gpu("H200").memory == env["pre_init_nvml"]["nvml_total"]


def test_catalog_covers_the_common_cards() -> None:
    """Issue 4's list: consumer RTX 20/30/40/50, workstation RTX A-series and Ada, T4, V100 16/32,
    A10, A100 40/80, L4, L40S, H100 variants, H200, B200."""
    by_name = {c.name: c for c in catalog()}
    required = [
        *("RTX 2060", "RTX 2070", "RTX 2080", "RTX 2080 Ti"),
        *("RTX 3060", "RTX 3070", "RTX 3080 10GB", "RTX 3090"),
        *("RTX 4060", "RTX 4070", "RTX 4080", "RTX 4090"),
        *("RTX 5060", "RTX 5070", "RTX 5080", "RTX 5090"),
        *("RTX A4000", "RTX A5000", "RTX A6000", "RTX 4000 Ada", "RTX 6000 Ada"),
        *("T4", "V100 16GB", "V100 32GB", "A10", "A100 40GB", "A100 80GB", "L4", "L40S"),
        *("H100 PCIe", "H100 SXM", "H100 NVL", "H200", "B200"),
    ]
    missing = [n for n in required if n not in by_name]
    assert not missing
    kinds = {c.kind for c in catalog()}
    assert kinds == {"consumer", "workstation", "datacenter"}
    assert by_name["H200"].basis == "measured"
    assert by_name["RTX 4090"].memory == 24_564 * MIB  # issue 4
    assert by_name["A100 80GB"].memory == 81_920 * MIB  # issue 4
    assert by_name["B200"].nominal == "180 GB HBM3e"
    assert by_name["H100 NVL"].nominal == "94 GB HBM3"
    assert by_name["H200"].nominal == "141 GB HBM3e"
    for fam in ("V100", "P100", "A30", "GH200", "L40"):
        assert any(c.family == fam for c in catalog()), fam


def test_sources_say_where_the_total_comes_from() -> None:
    h200 = resolve_gpu("H200")
    assert "measured" in h200.source and "143,771 MiB" in h200.source
    assert "141 GB HBM3e" in h200.source
    t4 = resolve_gpu("T4")
    assert "reported" in t4.source and "recalled" in t4.source
    l40s = resolve_gpu("L40S")
    assert "15/16" in l40s.source and "48 GB GDDR6" in l40s.source
    assert "GB x 1024 MiB" in resolve_gpu("RTX 4080").source


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
