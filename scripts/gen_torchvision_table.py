#!/usr/bin/env python3
"""Regenerate ``server/gpulens/estimate/data/torchvision_models.json``.

gpulens never imports torch; it reads this table when a script builds a torchvision
classification model (``models.resnet18()``, ``getattr(models, name)()``, ...). This script is
the only place where the numbers come from, and it measures them with torch itself:

* ``params`` / ``trainable_params``: unique parameters of ``models.<name>()`` (no weights:
  exactly what the user's constructor call builds, e.g. googlenet with its aux classifiers).
* ``buffer_bytes``: unique buffers (BatchNorm running stats, relative position indices, ...).
* ``input_size``: the model's fixed image size when it has one (ViT), else the crop size of the
  model's DEFAULT weights' transforms, else 224.
* ``saved_bytes_per_sample`` / ``saved_bytes_fixed``: bytes of the tensors autograd keeps for
  backward during one fp32 training-mode forward at ``input_size``, counted with
  ``torch.autograd.graph.saved_tensors_hooks`` over unique storages (a ReLU done in place on a
  tensor that a conv already saved is not counted twice). Measured at two batch sizes: the
  difference is the per-sample part, the rest (weights saved by Linear/conv, BN statistics) is
  batch-independent. The forward runs under FakeTensorMode (real weights, fake activations),
  which gives the same bytes as a real CPU run without allocating them. Batch 1 and 2 are
  used; models that cannot train at batch 1 (BatchNorm over a 1x1 map) use 2 and 3.
* ``params_per_class``: parameters added per output class, so ``models.X(num_classes=10)``
  has ``params - (1000 - 10) * params_per_class``; ``heads`` lists the Linear layers producing
  the logits (``fc``: [in_features, out_features, bias]) for scripts that replace them.
* ``output_bytes_per_sample``: bytes of the forward output(s) per sample (aux logits included in
  training mode, e.g. inception_v3 / googlenet).
* ``largest_activation_bytes_per_sample``: the largest single tensor any op of the forward
  creates, per sample (per-op difference between batch 2 and 4, whose op sequences match; e.g.
  resnet18's 64x112x112 stem output).
  The caching allocator's fragmentation in a convnet's step scales with it (memory._reserved).
* ``largest_dense_conv_bytes_per_sample``: the largest output of a convolution with groups 1
  and a kernel of more than one element (cuDNN's workspace-hungry algorithms), per sample;
  ``largest_linear_bytes_per_sample``: the largest output of an ``nn.Linear`` (or of a
  ``MultiheadAttention``'s input projection, 3 x its input), per sample. Forward hooks on the
  modules, difference between batch b and 2b.
  ``largest_dense_conv_grad_input_bytes_per_sample``: the same over the dense convolutions whose
  input requires grad (every one but a stem convolution on the image): their backward computes
  the input's gradient too. They set the stranded blocks of a convnet's step (memory._reserved).

Usage (CPU is enough; torch/torchvision live in a separate venv, never in the server's)::

    python3 -m venv .cache/tv-venv
    .cache/tv-venv/bin/pip install torch==2.14.1 torchvision==0.29.1
    .cache/tv-venv/bin/python scripts/gen_torchvision_table.py [--only resnet18,resnet50]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torchvision import models

OUT = Path(__file__).resolve().parents[1] / "server/gpulens/estimate/data/torchvision_models.json"


def _tensors(obj: Any) -> list[torch.Tensor]:
    """Every tensor in a model output (tensor, namedtuple of tensors, ...)."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for item in obj for t in _tensors(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in _tensors(item)]
    return []


def _input_size(name: str, model: torch.nn.Module) -> tuple[int, str]:
    fixed = getattr(model, "image_size", None)
    if isinstance(fixed, int):
        return fixed, "model.image_size (fixed by the architecture)"
    try:
        weights = models.get_model_weights(name).DEFAULT  # type: ignore[attr-defined]
        crop = weights.transforms().crop_size[0]
        return int(crop), f"{weights} transforms crop_size"
    except Exception as exc:
        return 224, f"default 224 ({type(exc).__name__})"


class _OpOutputs(TorchDispatchMode):
    """The bytes of the largest tensor each aten op of the forward returns, in call order (the
    same ops run at both batch sizes, so the per-op difference is the per-sample part and
    weight-sized results such as a transposed Linear weight drop out)."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        self.sizes.append(max((t.numel() * t.element_size() for t in _tensors(out)), default=0))
        return out


def _saved_bytes(model: torch.nn.Module, batch: int, size: int) -> tuple[int, int, int, list[int]]:
    """(bytes saved for backward, bytes of the outputs, classes, each op's largest output) for
    one forward."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        # Keyed by the StorageImpl (kept alive by returning t, so keys are never reused):
        # views and in-place results share their base's storage and count once.
        s = t.untyped_storage()
        storages[s._cdata] = max(storages.get(s._cdata, 0), s.nbytes())
        return t

    # Real parameters, fake activations: shapes, dtypes, views and aliasing are computed
    # exactly as on CPU, without the memory or time of the real forward (efficientnet_b7 at
    # 600px needs >20 GB for real). Checked equal to real CPU runs on resnet18, googlenet,
    # vit_b_16, efficientnet_b0, mobilenet_v3_small, swin_t and maxvit_t.
    with FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.randn(batch, 3, size, size)
        ops = _OpOutputs()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), ops:
            out = model(x)
    outputs = _tensors(out)
    out_bytes = sum(t.numel() * t.element_size() for t in outputs)
    classes = int(outputs[0].shape[-1])
    del out, outputs
    return sum(storages.values()), out_bytes, classes, ops.sizes


def _heads(model: torch.nn.Module, classes: int) -> dict[str, list[int]]:
    """Layers producing the class logits (``fc``, ``classifier.1``, aux heads; squeezenet's
    1x1 conv): what a script replaces with ``model.fc = nn.Linear(model.fc.in_features, 10)``.
    Each is [in_features (or in_channels * kernel area), classes, has bias]."""
    heads: dict[str, list[int]] = {}
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear) and m.out_features == classes:
            heads[name] = [m.in_features, m.out_features, int(m.bias is not None)]
        elif isinstance(m, torch.nn.Conv2d) and m.out_channels == classes and m.groups == 1:
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            heads[name] = [fan_in, m.out_channels, int(m.bias is not None)]
    return heads


def _params_per_class(name: str, params_1000: int, heads: dict[str, list[int]]) -> int | None:
    """Parameters added per output class: ``models.X(num_classes=10)`` changes only the heads,
    linearly. Measured on the meta device (no memory, no init time); models whose constructor
    needs real data (RegNet computes its widths with tensors) fall back to the heads' fan-in."""
    from_heads = sum(fan_in + bias for fan_in, _, bias in heads.values()) or None
    try:
        with torch.device("meta"):
            small = models.get_model(name, weights=None, num_classes=10)
    except Exception:
        return from_heads
    p10 = sum(p.numel() for p in {id(p): p for p in small.parameters()}.values())
    per_class, rest = divmod(params_1000 - p10, 990)
    return per_class if rest == 0 else None


def _accepts_other_sizes(model: torch.nn.Module, size: int) -> bool:
    """Whether the model also runs at a larger input (ViT and MaxViT do not)."""
    try:
        with FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad():
            model(torch.randn(2, 3, size + 32, size + 32))
    except Exception:
        return False
    return True


def _module_outputs(model: torch.nn.Module, batch: int, size: int) -> dict[str, int]:
    """Bytes of the largest dense-convolution output (``dense``), of those whose input requires
    grad (``dense_grad_input``) and of the largest Linear / attention input-projection output
    (``linear``) in one forward at ``batch``."""
    best = {"dense": 0, "dense_grad_input": 0, "linear": 0}

    def conv_hook(mod: Any, inp: Any, out: torch.Tensor) -> None:
        kernel = 1
        for k in mod.kernel_size:
            kernel *= k
        if mod.groups == 1 and kernel > 1:
            nbytes = out.numel() * out.element_size()
            best["dense"] = max(best["dense"], nbytes)
            if inp[0].requires_grad:
                best["dense_grad_input"] = max(best["dense_grad_input"], nbytes)

    def linear_hook(mod: Any, inp: Any, out: torch.Tensor) -> None:
        best["linear"] = max(best["linear"], out.numel() * out.element_size())

    def mha_hook(mod: Any, inp: Any, out: Any) -> None:  # in_proj runs as F.linear: 3 x E
        x = inp[0]
        best["linear"] = max(best["linear"], 3 * x.numel() * x.element_size())

    handles = []
    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.conv._ConvNd):
            handles.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, torch.nn.Linear):
            handles.append(mod.register_forward_hook(linear_hook))
        elif isinstance(mod, torch.nn.MultiheadAttention):
            handles.append(mod.register_forward_hook(mha_hook))
    try:
        with FakeTensorMode(allow_non_fake_inputs=True):
            model(torch.randn(batch, 3, size, size))
    finally:
        for h in handles:
            h.remove()
    return best


def measure(name: str) -> dict[str, Any]:
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = models.get_model(name, weights=None)
    model.train()
    params = {id(p): p for p in model.parameters()}
    buffers = {id(b): b for b in model.buffers()}
    n_params = sum(p.numel() for p in params.values())
    entry: dict[str, Any] = {
        "params": n_params,
        "trainable_params": sum(p.numel() for p in params.values() if p.requires_grad),
        "buffer_bytes": sum(b.numel() * b.element_size() for b in buffers.values()),
        "buffer_numel": sum(b.numel() for b in buffers.values()),
    }
    size, source = _input_size(name, model)
    try:
        b1, b2 = 1, 2
        s1, o1, classes, _ = _saved_bytes(model, b1, size)
    except (ValueError, RuntimeError):
        b1, b2 = 2, 3
        s1, o1, classes, _ = _saved_bytes(model, b1, size)
    s2, o2, _, l2 = _saved_bytes(model, b2, size)
    # at batch 1 some ops take other paths (squeezed fast paths): the largest op output per
    # sample comes from b2 and 2 * b2, where the op sequences match
    l4 = _saved_bytes(model, 2 * b2, size)[3]
    if len(l4) != len(l2):
        raise RuntimeError(f"{name}: different op sequences at batch {b2} and {2 * b2}")
    per_sample = (s2 - s1) // (b2 - b1)
    outs2 = _module_outputs(model, b2, size)
    outs4 = _module_outputs(model, 2 * b2, size)
    heads = _heads(model, classes)
    entry.update(
        {
            "params_per_class": _params_per_class(name, n_params, heads),
            "input_size": [3, size, size],
            "input_size_source": source,
            "fixed_input_size": not _accepts_other_sizes(model, size),
            "num_classes": classes,
            "heads": heads,
            "saved_bytes_per_sample": per_sample,
            "saved_bytes_fixed": s1 - per_sample * b1,
            "output_bytes_per_sample": (o2 - o1) // (b2 - b1),
            "largest_activation_bytes_per_sample": max(
                ((y - x) // b2 for x, y in zip(l2, l4, strict=True)), default=0
            ),
            "largest_dense_conv_bytes_per_sample": (outs4["dense"] - outs2["dense"]) // b2,
            "largest_dense_conv_grad_input_bytes_per_sample": (
                outs4["dense_grad_input"] - outs2["dense_grad_input"]
            )
            // b2,
            "largest_linear_bytes_per_sample": (outs4["linear"] - outs2["linear"]) // b2,
            "measured_batches": [b1, b2],
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated model names (default: all)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    names = models.list_models(module=models)
    if args.only:
        names = [n for n in names if n in set(args.only.split(","))]
    table: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    start = time.perf_counter()
    for name in names:
        try:
            table[name] = measure(name)
            print(f"{name}: {table[name]}", file=sys.stderr, flush=True)
        except Exception as exc:
            skipped[name] = f"{type(exc).__name__}: {exc}"[:300]
            print(f"{name}: SKIPPED {skipped[name]}", file=sys.stderr, flush=True)
    doc = {
        "_about": (
            "Generated by scripts/gen_torchvision_table.py: torchvision classification models "
            "as built by models.<name>() (no weights), measured with torch on CPU in fp32, "
            "training mode (activations as FakeTensors). saved_bytes_* are bytes of tensors "
            "autograd saves for backward (unique storages); per-sample parts scale about "
            "linearly with pixels for conv nets. largest_activation_bytes_per_sample: the "
            "largest tensor one op of the forward creates, per sample (per-op difference "
            "between batch 2 and 4). largest_dense_conv_bytes_per_sample: the largest output of "
            "a convolution with groups 1 and a kernel of more than one element, per sample "
            "(forward hooks on the conv modules; absent: not measured). "
            "largest_dense_conv_grad_input_bytes_per_sample: the same over the convolutions "
            "whose input requires grad (all but a stem on the image). "
            "largest_linear_bytes_per_sample: the largest output of an nn.Linear (or of a "
            "MultiheadAttention input projection), per sample (forward hooks)."
        ),
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "python_version": platform.python_version(),
        "dtype": "float32",
        "generation_seconds": round(time.perf_counter() - start, 1),
        "skipped": skipped,
        "models": table,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out} ({len(table)} models, {len(skipped)} skipped)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
