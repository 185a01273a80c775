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

Memory sizes (``data/gpus.json``, whose ``_comment`` header says the same). Each card has

* ``vendor_memory``: the size as the vendor publishes it (``24 GB GDDR6X``, ``141 GB HBM3e``) with
  ``vendor_source``, the document it comes from (title and URL). NVIDIA's "GB" of GPU memory is
  binary: 24 GB = 24 GiB of DRAM (the H200's "141 GB" measures 140.4 GiB, not 131.3).
* ``memory_mib``: the total this module uses, NVML's ``memory.total`` (what nvidia-smi shows),
  with its ``provenance`` (:attr:`GpuSpec.basis`): ``measured`` (read through NVML by this
  project: the H200 in ``../shared/gpu-truth``), ``nvml`` (NVML's total as reported for the card
  by others; the entry's ``note`` names the report, and says when it is recalled rather than
  checked), or ``derived`` from ``vendor_memory`` by a ``rule``: ``nominal`` = GB x 1024 MiB,
  ``nominal-ecc`` = GB x 1024 x 15/16 MiB for GDDR cards that ship with ECC on (it takes 1/16 of
  GDDR: a T4 reports 15,360 MiB of 16 GiB), ``sibling:NAME`` = the total of a card with the same
  memory.

A derived total is an upper bound: NVML reports up to about 1.5 % less (reserved memory; an RTX
4090 shows 24,564 of 24,576 MiB, an H100 81,559 of 81,920), and about 1/16 less again when a
user turns ECC on. The tests hold every total within 2 % below its rule's figure. Of the total,
the driver keeps :data:`DRIVER_RESERVED_BYTES` for itself before any process starts (NVML's
"used" on an idle GPU), which :mod:`gpulens.estimate.fit` subtracts for catalog cards.
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
    """One card of the catalog.

    ``memory``: the total in bytes; ``nominal``: the vendor's figure (``24 GB GDDR6X``);
    ``basis``: the total's provenance (``measured``, ``nvml`` or ``derived``; ``rule`` says how a
    derived one was computed); ``source``: one line saying where the total comes from;
    ``vendor_source``: the vendor document for ``nominal``; ``ecc``: ``none``, ``hbm`` (always on,
    free), ``on`` (GDDR, on by default, costs 1/16) or ``optional`` (GDDR, taken as off)."""

    name: str
    family: str
    memory: int
    nominal: str
    basis: str
    kind: str
    source: str
    aliases: tuple[str, ...] = ()
    vendor_source: str = ""
    ecc: str = ""
    bus: str = ""
    rule: str = ""
    note: str = ""

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
    return tuple(_spec(g) for g in raw["gpus"])


_RULES = {
    "nominal": "GB x 1024 MiB; NVML may report up to 1.5% less",
    "nominal-ecc": "GB x 1024 x 15/16 MiB: ECC on by default takes 1/16",
}


def _spec(g: dict[str, Any]) -> GpuSpec:
    mib = int(g["memory_mib"])
    nominal = str(g["vendor_memory"])
    basis = str(g["provenance"])
    rule = str(g.get("rule", ""))
    note = str(g.get("note", ""))
    if basis == "derived":
        how = _RULES.get(rule) or f"the total of the {rule.partition(':')[2]}, the same memory"
        source = f"vendor: {nominal}, taken as {mib:,} MiB ({how})"
    else:
        what = "measured" if basis == "measured" else "reported"
        source = f"NVML total {what} for this card: {mib:,} MiB ({note}); vendor: {nominal}"
    return GpuSpec(
        name=str(g["name"]),
        family=str(g["family"]),
        memory=mib * MIB,
        nominal=nominal,
        basis=basis,
        kind=str(g["kind"]),
        source=source,
        aliases=tuple(str(a) for a in g.get("aliases", ())),
        vendor_source=str(g["vendor_source"]),
        ecc=str(g["ecc"]),
        bus=str(g.get("bus", "")),
        rule=rule,
        note=note,
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
