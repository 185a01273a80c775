"""GPU cards by name (``data/gpus.json``) and memory sizes, resolved to a :class:`GpuTarget`.

``resolve_gpu`` accepts

* a card name, fuzzy and case-insensitive: ``RTX 4090``, ``rtx4090``, ``4090``,
  ``GeForce RTX 4090``, ``a100-80gb``, ``A100 80GB``, ``NVIDIA H100 80GB HBM3`` (what NVML calls
  it), ``t4``. Punctuation, spaces and the words NVIDIA / GeForce / Tesla are ignored.
* a size with a unit: ``24GiB``, ``24G`` (G, M and T are binary, as in PyTorch and Slurm),
  ``16GB`` (decimal: 16,000,000,000 bytes), ``8192MiB``, ``1.5TB``.

A name that covers several cards (``A100``: 40 GB and 80 GB; ``V100``: 16 and 32 GB; ``H100``:
PCIe and SXM) resolves to the variant with the **least** memory, the conservative choice for a
tool that warns before an out-of-memory error, and :attr:`GpuTarget.note` says which variants
there are and how to name the other. An unknown name raises :class:`UnknownGpuError` listing the
nearest names (difflib).

Card memory is what NVML reports as the total where known (``basis`` ``nvml`` / ``measured``),
else the vendor's nominal size: see each entry's ``source``. Of that total, the driver keeps
:data:`DRIVER_RESERVED_BYTES` for itself before any process starts (NVML's "used" on an idle
GPU), which :mod:`gpulens.estimate.fit` subtracts for catalog cards.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "DRIVER_RESERVED_BYTES",
    "GpuSpec",
    "GpuTarget",
    "UnknownGpuError",
    "catalog",
    "parse_size",
    "resolve_gpu",
]

MIB = 1 << 20
GIB = 1 << 30
#: Memory NVML counts as used on an idle GPU, before any process (page tables, ECC and driver
#: structures): 644,939,776 bytes (615 MiB) measured on an H200 with driver 580 (gpu-truth
#: ``env.pre_init_nvml.nvml_used``; torch's ``mem_get_info`` total is NVML's total minus exactly
#: this). Applied to every catalog card: conservative for smaller ones.
DRIVER_RESERVED_BYTES = 644_939_776

_DATA = Path(__file__).with_name("data") / "gpus.json"
_NOISE = ("nvidia", "geforce", "tesla")
_SIZE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(tib|tb|t|gib|gb|g|mib|mb|m|kib|kb|k|b)\s*$", re.IGNORECASE
)
_UNITS = {
    "b": 1,
    "k": 1 << 10,
    "kib": 1 << 10,
    "kb": 10**3,
    "m": MIB,
    "mib": MIB,
    "mb": 10**6,
    "g": GIB,
    "gib": GIB,
    "gb": 10**9,
    "t": 1 << 40,
    "tib": 1 << 40,
    "tb": 10**12,
}
# a memory qualifier inside a card name: "a100 80gb", "v100-32g"
_MEM_IN_NAME = re.compile(r"(\d+)\s*(?:gib|gb|g)\b", re.IGNORECASE)


@dataclass(frozen=True)
class GpuSpec:
    """One card of the catalog."""

    name: str
    family: str
    memory: int
    nominal: str
    basis: str
    kind: str
    source: str
    aliases: tuple[str, ...] = ()

    @property
    def nominal_gb(self) -> int | None:
        """The size in the marketing name (``80`` for "80 GB HBM3")."""
        m = re.match(r"\s*(\d+)", self.nominal)
        return int(m.group(1)) if m else None


@dataclass(frozen=True)
class GpuTarget:
    """The GPU to check a script against: a catalog card or a bare size.

    ``memory`` is the card's total in bytes (NVML's figure where known). ``source`` says where
    the figure comes from; ``note`` is set when the name was ambiguous (which variant was
    picked) and is None otherwise. ``catalog`` is False for a bare size (``24GiB``): then no
    driver reservation is assumed, the size is taken as the memory the user has.
    """

    name: str
    memory: int
    source: str
    note: str | None = None
    catalog: bool = True
    spec: GpuSpec | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "memory": self.memory, "source": self.source}


class UnknownGpuError(ValueError):
    """``spec`` names no known card and is not a size; ``suggestions`` are the nearest names."""

    def __init__(self, spec: str, suggestions: list[str]) -> None:
        self.spec = spec
        self.suggestions = suggestions
        near = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown GPU {spec!r}{near} (or give a memory size such as 24GiB or 16GB)"
        )


def _key(text: str) -> str:
    low = text.lower()
    for word in _NOISE:
        low = low.replace(word, " ")
    return re.sub(r"[^a-z0-9]", "", low)


@lru_cache(maxsize=1)
def catalog() -> tuple[GpuSpec, ...]:
    """Every card gpulens knows, in the data file's order."""
    raw = json.loads(_DATA.read_text(encoding="utf-8"))
    return tuple(
        GpuSpec(
            name=str(g["name"]),
            family=str(g["family"]),
            memory=int(g["memory"]),
            nominal=str(g["nominal"]),
            basis=str(g["basis"]),
            kind=str(g["kind"]),
            source=str(g["source"]),
            aliases=tuple(str(a) for a in g.get("aliases", ())),
        )
        for g in raw["gpus"]
    )


def _names(spec: GpuSpec) -> list[str]:
    """The names a card answers to: its name, aliases, and each without a leading RTX/GTX."""
    out = [spec.name, *spec.aliases]
    for n in list(out):
        k = _key(n)
        for prefix in ("rtx", "gtx"):
            if k.startswith(prefix) and any(c.isdigit() for c in k[len(prefix) :][:1]):
                out.append(k[len(prefix) :])
    return out


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, tuple[GpuSpec, ...]], dict[str, tuple[GpuSpec, ...]]]:
    """(normalised name -> cards, normalised family -> cards)."""
    names: dict[str, list[GpuSpec]] = {}
    families: dict[str, list[GpuSpec]] = {}
    for spec in catalog():
        for n in _names(spec):
            bucket = names.setdefault(_key(n), [])
            if spec not in bucket:
                bucket.append(spec)
        fam = _key(spec.family)
        for k in {fam, fam[3:] if fam.startswith(("rtx", "gtx")) else fam}:
            families.setdefault(k, []).append(spec)
    return (
        {k: tuple(v) for k, v in names.items()},
        {k: tuple(v) for k, v in families.items()},
    )


def parse_size(text: str) -> int | None:
    """Bytes for ``24GiB`` / ``24G`` / ``16GB`` / ``8192MiB`` (None when ``text`` is not a size).

    Binary units: KiB, MiB, GiB, TiB and the bare K, M, G, T (PyTorch's and Slurm's reading).
    Decimal: KB, MB, GB, TB, as vendors and disk makers use them."""
    m = _SIZE.match(text)
    if m is None:
        return None
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    return int(value) if value >= 1 else None


def _fmt_gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def _pick(cards: tuple[GpuSpec, ...], spec_text: str) -> GpuTarget:
    if len(cards) == 1:
        return _target(cards[0])
    cards = tuple(sorted(cards, key=lambda c: (c.memory, c.name)))
    chosen = cards[0]
    if all(c.memory == chosen.memory for c in cards):
        return _target(chosen)  # H100 PCIe / SXM: the same memory, nothing to choose
    others = ", ".join(f"{c.name} ({c.nominal})" for c in cards[1:])
    note = (
        f"{spec_text!r} could be {chosen.name} ({chosen.nominal}) or {others}: "
        f"checking against {chosen.name}, the one with the least memory; "
        f"name the card exactly (e.g. {cards[-1].name!r}) for another"
    )
    return _target(chosen, note)


def _target(spec: GpuSpec, note: str | None = None) -> GpuTarget:
    return GpuTarget(spec.name, spec.memory, spec.source, note, True, spec)


def resolve_gpu(spec: str) -> GpuTarget:
    """A card name or a size, as :class:`GpuTarget`; :class:`UnknownGpuError` otherwise."""
    text = spec.strip()
    if not text:
        raise UnknownGpuError(spec, [])
    size = parse_size(text)
    if size is not None:
        return GpuTarget(
            f"{text} GPU", size, f"memory size given as {text!r} ({size:,} bytes)", None, False
        )
    names, families = _index()
    key = _key(text)
    if key in names:
        return _pick(names[key], text)
    # "A100 80GB", "v100-32g", "4060 ti 16 gb": a family and a memory size
    m = _MEM_IN_NAME.search(text)
    if m is not None:
        gb = int(m.group(1))
        fam = _key(text[: m.start()] + " " + text[m.end() :])
        hits = tuple(c for c in families.get(fam, ()) if c.nominal_gb == gb)
        if hits:
            return _pick(hits, text)
    if key in families:
        return _pick(families[key], text)
    raise UnknownGpuError(spec, _near(text))


def _near(text: str, n: int = 5) -> list[str]:
    names, _ = _index()
    key = _key(text)
    display: dict[str, str] = {}
    for k, cards in names.items():
        display.setdefault(k, cards[0].name)
    hits = difflib.get_close_matches(key, list(display), n=n * 3, cutoff=0.5)
    if not hits and key:  # "rtx 9090": no close spelling; offer cards that share its digits
        digits = re.sub(r"\D", "", key)
        hits = [k for k in display if digits and digits[:2] in k]
    out: list[str] = []
    for k in hits:
        name = display[k]
        if name not in out:
            out.append(name)
        if len(out) == n:
            break
    return out


def describe(target: GpuTarget) -> str:
    """``RTX 4090 (24.0 GiB)``."""
    return f"{target.name} ({_fmt_gib(target.memory)})"
