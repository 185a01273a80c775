"""Shape vocabulary and arithmetic shared by the layer catalog (pure Python, no torch).

A shape is a tuple of dimensions, batch first when the layer is batched; a dimension is an int,
or ``None`` when it is not known statically (a batch size read from a CLI flag, a sequence length
that varies). Arithmetic propagates ``None``; checks that need a value are skipped when it is
``None`` rather than guessed, so an unknown never turns into a false "shape mismatch".

Everything that cannot be computed raises a :class:`CatalogError` subclass whose message says why
in the words a user would want in a diagnostic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

Dim = int | None
Shape = tuple[Dim, ...]


@dataclass(frozen=True)
class MultiOutput:
    """A forward() that returns several things, e.g. ``out, (h_n, c_n) = lstm(x)``.

    ``items`` mirrors torch's nesting: LSTM gives ``(out, MultiOutput((h_n, c_n)))``. An item is
    ``None`` where torch returns ``None`` (attention weights with ``need_weights=False``).
    """

    items: tuple[Output, ...]


Output = Shape | MultiOutput | None


class CatalogError(ValueError):
    """Base class: the catalog cannot give an answer, and the message says why."""


class UnknownLayerError(CatalogError):
    """The layer kind is not in the catalog."""


class ArgumentError(CatalogError):
    """Constructor arguments torch itself would reject (TypeError/ValueError at construction)."""


class ShapeError(CatalogError):
    """The forward pass cannot be computed for these input shapes (torch would raise)."""


class Unresolved(CatalogError):
    """A value needed for the answer is not known statically (see :data:`UNKNOWN`)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not known statically")
        self.name = name


class _Unknown:
    """Sentinel for a constructor argument the reader could not resolve."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


def fmt(shape: Output) -> str:
    """``[64, 26, 26]`` with ``?`` for unknown dims, the notation of hints and hovers."""
    if shape is None:
        return "None"
    if isinstance(shape, MultiOutput):
        return "(" + ", ".join(fmt(s) for s in shape.items) + ")"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def primary(out: Output) -> Shape:
    """The first tensor of an output (``out`` of ``out, h = rnn(x)``)."""
    while isinstance(out, MultiOutput):
        if not out.items:
            raise ShapeError("forward() returns an empty tuple")
        out = out.items[0]
    if out is None:
        raise ShapeError("forward() returns None")
    return out


def prod(dims: Iterable[Dim]) -> Dim:
    """Product of dims; ``None`` if any is unknown."""
    total = 1
    for d in dims:
        if d is None:
            return None
        total *= d
    return total


def add(*terms: Dim) -> Dim:
    if any(t is None for t in terms):
        return None
    return sum(t for t in terms if t is not None)


def mul(a: Dim, b: Dim) -> Dim:
    return None if a is None or b is None else a * b


def floordiv(a: Dim, b: int) -> Dim:
    return None if a is None else a // b


def conv_out(size: Dim, kernel: int, stride: int, padding: int, dilation: int) -> Dim:
    """Output length of a convolution: floor((L + 2p - d(k-1) - 1) / s) + 1 (may be <= 0)."""
    if size is None:
        return None
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_out(
    size: Dim, kernel: int, stride: int, padding: int, dilation: int, output_padding: int
) -> Dim:
    """Output length of a transposed convolution: (L-1)s - 2p + d(k-1) + output_padding + 1."""
    if size is None:
        return None
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def pool_out(
    size: Dim, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> Dim:
    """ATen's pooling_output_shape: like conv_out, rounding up with ceil_mode, except that the
    last window must start inside the input or the left padding (else it is dropped)."""
    if size is None:
        return None
    numerator = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = numerator // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def scale(size: Dim, factor: float) -> Dim:
    """F.interpolate's output size for a scale factor: floor(L * s) in double precision."""
    return None if size is None else math.floor(float(size) * float(factor))


def broadcast(a: Shape, b: Shape) -> Shape:
    """NumPy/torch broadcasting of two shapes; raises ShapeError when they do not broadcast."""
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + a
    pb = (1,) * (n - len(b)) + b
    out: list[Dim] = []
    for x, y in zip(pa, pb, strict=False):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None or y is None:
            out.append(x if y is None else y)
        elif x == y:
            out.append(x)
        else:
            raise ShapeError(f"shapes {fmt(a)} and {fmt(b)} do not broadcast")
    return tuple(out)


def wrap_dim(dim: int, ndim: int, what: str = "dim") -> int:
    """Negative dims count from the end, as in torch; out of range raises ShapeError."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise ShapeError(f"{what}={dim} is out of range for a {ndim}D input")
    return dim % n
