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


def _config_params(rng: random.Random) -> tuple[str, tuple[Any, ...], dict[str, Any], list[Any]]:
    """Layers whose interest is mostly the parameter layout: recurrent, attention, norms."""
    family = rng.choice(["RNN", "LSTM", "GRU", "Cell", "MHA", "Norm", "Xf"])
    if family in ("RNN", "LSTM", "GRU"):
        inp, hidden, layers = rng.randint(1, 6), rng.randint(1, 8), rng.randint(1, 3)
        kw: dict[str, Any] = {
            "bias": rng.random() < 0.7,
            "batch_first": rng.random() < 0.5,
            "bidirectional": rng.random() < 0.5,
        }
        if family == "LSTM" and rng.random() < 0.5:
            kw["proj_size"] = rng.randint(0, hidden)
        if family == "RNN":
            kw["nonlinearity"] = rng.choice(["tanh", "relu"])
        batched = rng.random() < 0.7
        shape = (rng.randint(1, 4), rng.randint(1, 4), inp) if batched else (3, inp)
        if rng.random() < 0.1:
            shape = (*shape[:-1], inp + 1)
        return family, (inp, hidden, layers), kw, [shape]
    if family == "Cell":
        kind = rng.choice(["RNNCell", "LSTMCell", "GRUCell"])
        inp, hidden = rng.randint(1, 6), rng.randint(1, 8)
        shape = (rng.randint(1, 3), inp) if rng.random() < 0.7 else (inp,)
        return kind, (inp, hidden, rng.random() < 0.5), {}, [shape]
    if family == "MHA":
        heads = rng.randint(1, 4)
        e = heads * rng.randint(1, 4) + (1 if rng.random() < 0.1 else 0)
        kdim = rng.choice([None, e, rng.randint(1, 9)])
        vdim = rng.choice([None, e, rng.randint(1, 9)])
        kw = {
            "bias": rng.random() < 0.7,
            "add_bias_kv": rng.random() < 0.3,
            "add_zero_attn": rng.random() < 0.3,
            "kdim": kdim,
            "vdim": vdim,
            "batch_first": rng.random() < 0.5,
        }
        n, length, source = rng.randint(1, 3), rng.randint(1, 5), rng.randint(1, 5)
        kd, vd = kdim or e, vdim or e
        if rng.random() < 0.7:
            lead = (n, length) if kw["batch_first"] else (length, n)
            src = (n, source) if kw["batch_first"] else (source, n)
            shapes = [(*lead, e), (*src, kd), (*src, vd)]
        else:
            shapes = [(length, e), (source, kd), (source, vd)]
        return "MultiheadAttention", (e, heads), kw, shapes
    if family == "Xf":
        heads = rng.randint(1, 3)
        d = heads * rng.randint(1, 4)
        kw = {
            "dim_feedforward": rng.randint(1, 16),
            "batch_first": rng.random() < 0.5,
            "norm_first": rng.random() < 0.5,
            "bias": rng.random() < 0.7,
            "activation": rng.choice(["relu", "gelu"]),
        }
        kind = rng.choice(["TransformerEncoderLayer", "TransformerDecoderLayer"])
        shapes = [(3, 2, d)] if kind.startswith("TransformerEncoder") else [(3, 2, d), (4, 2, d)]
        return kind, (d, heads), kw, shapes
    kind = rng.choice(["BatchNorm", "InstanceNorm", "GroupNorm", "LayerNorm"])
    c = rng.randint(1, 6)
    if kind == "GroupNorm":
        g = rng.choice([1, c, rng.randint(1, 6)])
        kw = {"affine": rng.random() < 0.6, "bias": rng.random() < 0.6}
        return kind, (g, c), kw, [(rng.randint(1, 3), c, rng.randint(1, 3))]
    if kind == "LayerNorm":
        ns = tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 2)))
        kw = {"elementwise_affine": rng.random() < 0.6, "bias": rng.random() < 0.6}
        return kind, (ns,), kw, [(2, *ns)]
    n = rng.choice([1, 2, 3])
    kw = {
        "affine": rng.random() < 0.5,
        "track_running_stats": rng.random() < 0.5,
        "bias": rng.random() < 0.7,
    }
    shape = (rng.randint(1, 3), c, *(rng.randint(1, 3) for _ in range(n)))
    return f"{kind}{n}d", (c,), kw, [shape]


def test_random_parameter_layouts_agree_with_torch() -> None:
    rng = random.Random(SEED + 1)
    torch.manual_seed(0)
    failures: list[str] = []
    for _ in range(400):
        kind, args, kwargs, shapes = _config_params(rng)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = getattr(nn, kind)(*args, **kwargs)
                expected: Output | None = _shapes(module(*(torch.randn(*s) for s in shapes)))
        except Exception:
            expected, module = None, None
        try:
            info = build(kind, args, kwargs)
            ours: Output | None = info.forward(*shapes)
        except CatalogError:
            ours = None
        if ours != expected:
            failures.append(f"{kind}{args}{kwargs} on {shapes}: torch {expected}, catalog {ours}")
        elif module is not None:
            names = {n: tuple(p.shape) for n, p in module.named_parameters()}
            names.update({n: tuple(b.shape) for n, b in module.named_buffers()})
            if {n: t.shape for n, t in info.named_tensors()} != names:
                failures.append(f"{kind}{args}{kwargs}: tensors differ")
    assert not failures, "\n".join(failures[:20])
