"""Number formatting shared by the CLI report and the language server (no analysis here).

- bytes in binary units as ``nvidia-smi`` and PyTorch's memory summary print them:
  ``512 B``, ``44.6 MiB``, ``3.1 GiB``;
- parameter counts in the short form model cards use: ``850``, ``61.7K``, ``11.7M``, ``1.3B``;
- shapes as PyTorch prints ``tensor.shape`` (``[64, 3, 224, 224]``, ``?`` for an unknown size).
"""

from __future__ import annotations

from collections.abc import Sequence

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
TIB = 1 << 40

_BYTE_UNITS = ((TIB, "TiB"), (GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB"))
_COUNT_UNITS = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))


def _short(value: float) -> str:
    """Three significant digits at most, without a trailing ``.0`` (``44.6``, ``512``, ``3.1``).

    Values that would round up to 1000 are the caller's concern (they move to the next unit)."""
    if value >= 100:
        return f"{value:.0f}"
    text = f"{value:.2f}" if value < 1 else f"{value:.1f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_bytes(n: int | None) -> str:
    """``44.6 MiB``, ``3.1 GiB``, ``512 B``; ``?`` for None."""
    if n is None:
        return "?"
    sign = "-" if n < 0 else ""
    n = abs(n)
    for i, (size, unit) in enumerate(_BYTE_UNITS):
        if n >= size:
            value = n / size
            # 1023.96 MiB prints as 1024 MiB; keep it in MiB rather than write "1e3".
            if round(value) >= 1000 and i > 0:
                bigger, bigger_unit = _BYTE_UNITS[i - 1]
                return f"{sign}{_short(n / bigger)} {bigger_unit}"
            return f"{sign}{_short(value)} {unit}"
    return f"{sign}{n} B"


def fmt_params(n: int | None) -> str:
    """``11.7M``, ``61.7K``, ``850``, ``1.3B``; ``?`` for None."""
    if n is None:
        return "?"
    sign = "-" if n < 0 else ""
    n = abs(n)
    for i, (size, unit) in enumerate(_COUNT_UNITS):
        if n >= size:
            value = n / size
            if round(value, 1) >= 1000 and i > 0:
                bigger, bigger_unit = _COUNT_UNITS[i - 1]
                return f"{sign}{_short(n / bigger)}{bigger_unit}"
            return f"{sign}{_short(value)}{unit}"
    return f"{sign}{n}"


def fmt_shape(shape: Sequence[int | None] | None) -> str:
    """``[64, 26, 26]`` (``?`` for a dimension the reader does not know); ``?`` for None."""
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def fmt_int(n: int | None) -> str:
    """``11,689,512``; ``?`` for None."""
    return "?" if n is None else f"{n:,}"


def fmt_ratio(new: int, old: int) -> str:
    """The change from ``old`` to ``new`` in percent: ``-42%``, ``+3%``, ``±0%``."""
    if old <= 0:
        return ""
    pct = round((new - old) * 100 / old)
    if pct == 0:
        return "±0%"
    return f"{pct:+d}%"


def fmt_names(names: str | None, none: str = "no optimizer") -> str:
    """A comma-separated list of names, repeats counted: ``Adam, Adam`` → ``Adam ×2``,
    ``Adam, SGD`` → ``Adam + SGD`` (a GAN's optimizers); ``none`` when empty."""
    parts = [n.strip() for n in (names or "").split(",") if n.strip()]
    if not parts:
        return none
    counts: dict[str, int] = {}
    for name in parts:
        counts[name] = counts.get(name, 0) + 1
    return " + ".join(f"{n} ×{c}" if c > 1 else n for n, c in counts.items())


__all__ = [
    "GIB",
    "KIB",
    "MIB",
    "fmt_bytes",
    "fmt_int",
    "fmt_names",
    "fmt_params",
    "fmt_ratio",
    "fmt_shape",
]
