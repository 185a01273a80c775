"""torchvision classification models: measured parameter counts and activation figures.

The numbers come from ``data/torchvision_models.json``, which ``scripts/gen_torchvision_table.py``
regenerates with torch and torchvision (the server itself never imports them). The file is read
once, on first use, and kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["TorchvisionModel", "lookup_model", "model_names", "table_info"]

_DATA = "torchvision_models.json"


@dataclass(frozen=True)
class TorchvisionModel:
    """One ``models.<name>()`` as built without weights, in fp32, training mode.

    ``saved_bytes_per_sample`` is what autograd keeps for backward per sample at
    ``input_size`` (the activations term of training memory); ``saved_bytes_fixed`` is the
    batch-independent rest, mostly weights that conv/Linear save for their backward (already
    resident as parameters, so not extra memory). For conv nets both activation terms scale
    roughly with the number of pixels when the input size differs; ``fixed_input_size`` models
    (ViT) only accept their own size.
    """

    name: str
    params: int
    trainable_params: int
    params_per_class: int | None
    buffer_bytes: int
    input_size: tuple[int, int, int]
    fixed_input_size: bool
    num_classes: int
    heads: dict[str, tuple[int, int, bool]]
    saved_bytes_per_sample: int
    saved_bytes_fixed: int
    output_bytes_per_sample: int
    # the largest tensor one op of the forward creates, per sample (0 in tables predating it)
    largest_activation_bytes_per_sample: int = 0
    # the largest output of a dense convolution (groups 1, kernel over one element), per sample
    # (0: none, or a table predating it)
    largest_dense_conv_bytes_per_sample: int = 0
    # ... of those whose input requires grad (all but a stem convolution on the image), per
    # sample (None: a table predating it)
    largest_dense_conv_grad_input_bytes_per_sample: int | None = None
    # the largest output of a Linear (or attention's input projection), per sample (None: not
    # measured)
    largest_linear_bytes_per_sample: int | None = None

    def params_for(self, num_classes: int) -> int | None:
        """Parameters of ``models.<name>(num_classes=...)``; None if not linear in classes."""
        if num_classes == self.num_classes:
            return self.params
        if self.params_per_class is None:
            return None
        return self.params + (num_classes - self.num_classes) * self.params_per_class


@cache
def _table() -> dict[str, Any]:
    text = (resources.files("gpulens.estimate") / "data" / _DATA).read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


@cache
def _models() -> dict[str, TorchvisionModel]:
    out: dict[str, TorchvisionModel] = {}
    for name, e in _table()["models"].items():
        out[name] = TorchvisionModel(
            name=name,
            params=int(e["params"]),
            trainable_params=int(e["trainable_params"]),
            params_per_class=e.get("params_per_class"),
            buffer_bytes=int(e["buffer_bytes"]),
            input_size=(int(e["input_size"][0]), int(e["input_size"][1]), int(e["input_size"][2])),
            fixed_input_size=bool(e.get("fixed_input_size", False)),
            num_classes=int(e["num_classes"]),
            heads={k: (int(v[0]), int(v[1]), bool(v[2])) for k, v in e.get("heads", {}).items()},
            saved_bytes_per_sample=int(e["saved_bytes_per_sample"]),
            saved_bytes_fixed=int(e["saved_bytes_fixed"]),
            output_bytes_per_sample=int(e["output_bytes_per_sample"]),
            largest_activation_bytes_per_sample=int(
                e.get("largest_activation_bytes_per_sample", 0)
            ),
            largest_dense_conv_bytes_per_sample=int(
                e.get("largest_dense_conv_bytes_per_sample", 0)
            ),
            largest_dense_conv_grad_input_bytes_per_sample=(
                None
                if e.get("largest_dense_conv_grad_input_bytes_per_sample") is None
                else int(e["largest_dense_conv_grad_input_bytes_per_sample"])
            ),
            largest_linear_bytes_per_sample=(
                None
                if e.get("largest_linear_bytes_per_sample") is None
                else int(e["largest_linear_bytes_per_sample"])
            ),
        )
    return out


def lookup_model(name: str) -> TorchvisionModel | None:
    """``"resnet18"`` (also ``models.resnet18`` / ``torchvision.models.resnet18``) → entry."""
    return _models().get(name.rsplit(".", 1)[-1])


def model_names() -> frozenset[str]:
    return frozenset(_models())


def table_info() -> dict[str, Any]:
    """Versions used to generate the table, and models skipped with the reason."""
    t = _table()
    return {k: v for k, v in t.items() if k != "models"}
