"""Seeded random configurations of the arithmetic-heavy layers, compared with torch.

Convolutions, transposed convolutions, pooling, padding, resampling and unfolding have many
interacting arguments (stride, dilation, padding strings and modes, ceil_mode, unbatched
inputs); hand-picked cases miss corners. Each configuration must agree with torch on whether it
works, and if it does, on the output shape and parameter count.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from gpulens.estimate.layers import CatalogError, build  # noqa: E402
from gpulens.estimate.shapes import MultiOutput, Output  # noqa: E402

SEED, COUNT = 20261127, 1500


def _shapes(out: Any) -> Output:
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    return MultiOutput(tuple(_shapes(o) for o in out))


def _config(rng: random.Random) -> tuple[str, tuple[Any, ...], dict[str, Any], tuple[int, ...]]:
    family = rng.choice(
        ["Conv", "ConvT", "MaxPool", "AvgPool", "LPPool", "Pad", "Upsample", "Adaptive", "Unfold"]
    )
    n = rng.choice([1, 2, 3])

    def ints(lo: int, hi: int) -> int | tuple[int, ...]:
        if rng.random() < 0.5:
            return rng.randint(lo, hi)
        return tuple(rng.randint(lo, hi) for _ in range(n))

    batch = (2,) if rng.random() < 0.7 else ()
    spatial = tuple(rng.randint(1, 9) for _ in range(n))
    if family in ("Conv", "ConvT"):
        g = rng.choice([1, 1, 2])
        cin, cout = g * rng.randint(1, 3), g * rng.randint(1, 3)
        kw: dict[str, Any] = {"stride": ints(1, 3), "dilation": ints(1, 2), "groups": g}
        if family == "Conv":
            kw["bias"] = rng.random() < 0.5
            kw["padding_mode"] = rng.choice(["zeros", "reflect", "replicate", "circular"])
            kw["padding"] = rng.choice(["same", "valid", ints(0, 3)])
            kind = f"Conv{n}d"
        else:
            kw["padding"], kw["output_padding"] = ints(0, 2), ints(0, 2)
            kind = f"ConvTranspose{n}d"
        return kind, (cin, cout, ints(1, 4)), kw, (*batch, cin, *spatial)
    if family in ("MaxPool", "AvgPool", "LPPool"):
        kw = {"stride": rng.choice([None, ints(1, 3)]), "ceil_mode": rng.random() < 0.5}
        args: tuple[Any, ...] = (ints(1, 4),)
        if family == "MaxPool":
            kw.update(padding=ints(0, 2), dilation=ints(1, 2), return_indices=rng.random() < 0.3)
        elif family == "AvgPool":
            kw.update(padding=ints(0, 2), count_include_pad=rng.random() < 0.5)
        else:
            args = (2, *args)
        return f"{family}{n}d", args, kw, (*batch, 3, *spatial)
    if family == "Pad":
        mode = rng.choice(["Zero", "Constant", "Reflection", "Replication", "Circular"])
        pad: Any = rng.randint(0, 4)
        if rng.random() < 0.5:
            pad = tuple(rng.randint(-1, 4) for _ in range(2 * n))
        ndim = rng.choice([n, n + 1, n + 2, n + 3])
        shape = tuple(rng.randint(1, 6) for _ in range(ndim))
        return f"{mode}Pad{n}d", ((pad, 1.0) if mode == "Constant" else (pad,)), {}, shape
    if family == "Upsample":
        modes = ["nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact"]
        kw = {"mode": rng.choice(modes)}
        if rng.random() < 0.5:
            kw["size"] = ints(1, 12)
        else:
            kw["scale_factor"] = rng.choice([2, 0.5, 1.7, 3, 2.5])
        if rng.random() < 0.2:
            kw["align_corners"] = True
        return "Upsample", (), kw, (2, 3, *spatial)
    if family == "Adaptive":
        kind = rng.choice(["AdaptiveAvgPool", "AdaptiveMaxPool"])
        size: Any = rng.randint(1, 5)
        if rng.random() < 0.5:
            size = tuple(rng.choice([None, 1, 2, 3, 7]) for _ in range(n))
        return f"{kind}{n}d", (size,), {}, (*batch, 3, *spatial)
    kw = {
        "kernel_size": rng.randint(1, 3),
        "dilation": rng.randint(1, 2),
        "padding": rng.randint(0, 2),
        "stride": rng.randint(1, 2),
    }
    return "Unfold", (), kw, (2, 3, rng.randint(1, 8), rng.randint(1, 8))


def test_random_configurations_agree_with_torch() -> None:
    rng = random.Random(SEED)
    torch.manual_seed(0)
    failures: list[str] = []
    compared = 0
    for _ in range(COUNT):
        kind, args, kwargs, shape = _config(rng)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = getattr(nn, kind)(*args, **kwargs)
                expected: Output | None = _shapes(module(torch.randn(*shape)))
        except Exception:
            expected = None
        try:
            info = build(kind, args, kwargs)
            ours: Output | None = info.forward(shape)
        except CatalogError:
            ours = None
        empty = isinstance(expected, tuple) and 0 in expected
        if empty or (expected is None and isinstance(ours, tuple) and 0 in ours):
            continue  # zero-size outputs: accepted or not depending on the backend kernel
        compared += 1
        if ours != expected:
            failures.append(f"{kind}{args}{kwargs} on {shape}: torch {expected}, catalog {ours}")
        elif expected is not None and info.params != sum(p.numel() for p in module.parameters()):
            failures.append(f"{kind}{args}{kwargs}: params {info.params}")
    assert compared > COUNT * 0.95
    assert not failures, "\n".join(failures[:20])
