# ruff: noqa: E501  (one configuration per line reads better than wrapped calls)
"""The layer catalog against torch itself: every entry, many configurations.

For each configuration the catalog's answer (parameter and buffer names, shapes, dtypes,
unique parameter count, trainable count, output shapes) must equal what torch builds and
computes on a random CPU tensor; for each broken configuration, torch and the catalog must both
refuse (at construction or at forward).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from gpulens.estimate.layers import (  # noqa: E402
    REGISTRY,
    UNKNOWN,
    CatalogError,
    LayerInfo,
    MultiOutput,
    ShapeError,
    Unresolved,
    build,
    lookup,
)
from gpulens.estimate.shapes import Output  # noqa: E402

torch.manual_seed(0)


class M:
    """A constructor call, turned into both a torch module and a catalog LayerInfo."""

    def __init__(self, kind: str, *args: Any, **kwargs: Any) -> None:
        self.kind, self.args, self.kwargs = kind, args, kwargs

    def torch(self) -> Any:
        return getattr(nn, self.kind)(*_to_torch(self.args), **_to_torch(self.kwargs))

    def info(self) -> LayerInfo:
        return build(self.kind, _to_info(self.args), _to_info(self.kwargs))

    def __repr__(self) -> str:
        inner = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.kind}({', '.join(inner)})"


def _to_torch(v: Any) -> Any:
    if isinstance(v, M):
        return v.torch()
    if isinstance(v, OrderedDict):
        return OrderedDict((k, _to_torch(x)) for k, x in v.items())
    if isinstance(v, dict):
        return {k: _to_torch(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_to_torch(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_to_torch(x) for x in v)
    return v


def _to_info(v: Any) -> Any:
    if isinstance(v, M):
        return v.info()
    if isinstance(v, OrderedDict):
        return OrderedDict((k, _to_info(x)) for k, x in v.items())
    if isinstance(v, dict):
        return {k: _to_info(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_to_info(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_to_info(x) for x in v)
    return v


@dataclass
class Case:
    module: M
    inputs: Sequence[tuple[int, ...]] = ()
    options: dict[str, Any] = field(default_factory=dict)
    ints: int = 0  # > 0: inputs are integer indices below this (embeddings)
    offsets: tuple[int, ...] | None = None  # EmbeddingBag offsets values

    def __repr__(self) -> str:
        return f"{self.module!r}<-{list(self.inputs)}"


def C(module: M, *inputs: tuple[int, ...], **extra: Any) -> Case:
    options = extra.pop("options", {})
    return Case(module, inputs, options, **extra)


# ------------------------------------------------------------------------------------------
# Valid configurations.
# ------------------------------------------------------------------------------------------

CASES: list[Case] = [
    # Linear family
    C(M("Identity"), (2, 3)),
    C(M("Identity", 54, unused_argument1=0.1), (4, 5, 6)),
    C(M("Linear", 20, 30), (128, 20)),
    C(M("Linear", 20, 30, False), (4, 7, 20)),
    C(M("Linear", 5, 1, bias=True), (5,)),
    C(M("Linear", in_features=3, out_features=8, bias=False), (2, 3, 4, 3)),
    C(M("LazyLinear", 10), (3, 7)),
    C(M("Bilinear", 20, 30, 40), (128, 20), (128, 30)),
    C(M("Bilinear", 4, 5, 6, bias=False), (2, 3, 4), (2, 3, 5)),
    # Convolutions
    C(M("Conv1d", 16, 33, 3, stride=2), (20, 16, 50)),
    C(M("Conv1d", 4, 8, 5, padding="same", dilation=2), (2, 4, 30)),
    C(M("Conv1d", 4, 8, 4, padding="same", padding_mode="reflect"), (2, 4, 9)),
    C(M("Conv1d", 4, 6, 3, padding="valid", bias=False), (4, 11)),
    C(M("Conv1d", 6, 6, 3, groups=3, padding=1, padding_mode="circular"), (1, 6, 8)),
    C(M("Conv2d", 16, 33, 3, stride=2), (20, 16, 50, 100)),
    C(M("Conv2d", 16, 33, (3, 5), stride=(2, 1), padding=(4, 2)), (2, 16, 50, 100)),
    C(M("Conv2d", 16, 33, (3, 5), (2, 1), (4, 2), (3, 1)), (2, 16, 50, 100)),
    C(M("Conv2d", 1, 32, 3, 1), (64, 1, 28, 28)),
    C(M("Conv2d", 3, 64, kernel_size=7, stride=2, padding=3, bias=False), (2, 3, 224, 224)),
    C(M("Conv2d", 32, 32, 3, padding=1, groups=32), (2, 32, 15, 15)),
    C(M("Conv2d", 8, 16, 3, padding="same", padding_mode="replicate"), (2, 8, 7, 9)),
    C(M("Conv2d", 8, 16, 2, padding="same"), (2, 8, 7, 6)),
    C(M("Conv2d", 3, 6, 3, padding=1, padding_mode="reflect"), (3, 10, 10)),
    C(M("Conv2d", 4, 4, 3, stride=3), (1, 4, 10, 11)),
    C(M("Conv3d", 16, 33, 3, stride=2), (2, 16, 10, 20, 20)),
    C(M("Conv3d", 16, 33, (3, 5, 2), stride=(2, 1, 1), padding=(4, 2, 0)), (2, 16, 10, 12, 8)),
    C(M("Conv3d", 2, 4, 3, padding="same", dilation=(1, 2, 1)), (2, 5, 9, 7)),
    C(M("ConvTranspose1d", 16, 33, 3, stride=2), (20, 16, 50)),
    C(M("ConvTranspose1d", 4, 6, 4, 2, 1, 1, groups=2, bias=False, dilation=2), (3, 4, 9)),
    C(M("ConvTranspose2d", 16, 33, 3, stride=2), (20, 16, 10, 12)),
    C(M("ConvTranspose2d", 16, 33, (3, 5), stride=(2, 1), padding=(4, 2)), (2, 16, 20, 30)),
    C(M("ConvTranspose2d", 8, 4, 4, 2, 1), (2, 8, 16, 16)),
    C(M("ConvTranspose2d", 8, 4, 3, 2, 1, output_padding=1), (8, 5, 5)),
    C(M("ConvTranspose3d", 16, 33, 3, stride=2), (2, 16, 4, 5, 6)),
    C(M("ConvTranspose3d", 6, 3, (3, 5, 2), (2, 1, 1), (0, 4, 2), groups=3), (1, 6, 5, 9, 4)),
    C(M("LazyConv1d", 8, 3), (2, 5, 11)),
    C(M("LazyConv2d", 8, 3, padding=1), (2, 5, 11, 12)),
    C(M("LazyConv3d", 2, 2), (1, 3, 4, 4, 4)),
    C(M("LazyConvTranspose1d", 4, 3), (2, 3, 7)),
    C(M("LazyConvTranspose2d", 4, 3, stride=2), (2, 3, 7, 5)),
    C(M("LazyConvTranspose3d", 4, 2), (2, 3, 3, 3, 3)),
    # Normalization
    C(M("BatchNorm1d", 100), (20, 100)),
    C(M("BatchNorm1d", 10, affine=False), (4, 10, 7)),
    C(M("BatchNorm1d", 10, track_running_stats=False), (4, 10)),
    C(M("BatchNorm1d", 10, affine=False, track_running_stats=False), (4, 10)),
    C(M("BatchNorm2d", 64), (2, 64, 5, 5)),
    C(M("BatchNorm2d", 64, 1e-3, 0.01, True, False), (2, 64, 5, 5)),
    C(M("BatchNorm2d", 8, bias=False), (1, 8, 2, 2)),
    C(M("BatchNorm3d", 4), (2, 4, 3, 3, 3)),
    C(M("LazyBatchNorm1d"), (4, 6)),
    C(M("LazyBatchNorm2d", affine=False), (2, 6, 3, 3)),
    C(M("LazyBatchNorm3d"), (2, 6, 3, 3, 2)),
    C(M("SyncBatchNorm", 8), (2, 8, 3, 3), options={"skip_forward": True}),
    C(M("InstanceNorm1d", 100), (20, 100, 40)),
    C(M("InstanceNorm1d", 10, affine=True), (10, 40)),
    C(M("InstanceNorm2d", 10, affine=True, track_running_stats=True), (2, 10, 5, 5)),
    C(M("InstanceNorm2d", 10, affine=True, bias=False), (2, 10, 5, 5)),
    C(M("InstanceNorm3d", 3), (2, 3, 4, 4, 4)),
    C(M("LazyInstanceNorm1d"), (2, 5, 7)),
    C(M("LazyInstanceNorm2d", affine=False, track_running_stats=False), (2, 5, 7, 3)),
    C(M("LazyInstanceNorm3d"), (2, 5, 3, 3, 3)),
    C(M("LayerNorm", 10), (20, 5, 10)),
    C(M("LayerNorm", [5, 10, 10]), (20, 5, 10, 10)),
    C(M("LayerNorm", (10, 10), elementwise_affine=False), (2, 5, 10, 10)),
    C(M("LayerNorm", 10, bias=False), (3, 10)),
    C(M("LayerNorm", 7, 1e-6, True, False), (7,)),
    C(M("RMSNorm", [5, 10]), (2, 5, 10)),
    C(M("RMSNorm", 16, elementwise_affine=False), (2, 16)),
    C(M("GroupNorm", 3, 6), (20, 6, 10, 10)),
    C(M("GroupNorm", 6, 6), (20, 6, 10)),
    C(M("GroupNorm", 1, 6, affine=False), (20, 6, 10, 10)),
    C(M("GroupNorm", 2, 8, bias=False), (2, 8)),
    C(M("LocalResponseNorm", 2), (32, 5, 24, 24)),
    C(M("LocalResponseNorm", 3, k=2.0), (2, 5, 24, 24, 4)),
    # Embeddings
    C(M("Embedding", 10, 3), (2, 4), ints=10),
    C(M("Embedding", 10, 3, padding_idx=0), (4,), ints=10),
    C(M("Embedding", 1000, 64, padding_idx=-1, max_norm=1.0), (2, 3, 5), ints=1000),
    C(M("Embedding", 10, 3, _freeze=True), (2, 4), ints=10),
    C(M("EmbeddingBag", 10, 3, mode="sum"), (8,), ints=10, offsets=(0, 4)),
    C(M("EmbeddingBag", 10, 3), (2, 4), ints=10),
    C(M("EmbeddingBag", 10, 3, mode="max", include_last_offset=True), (8,), ints=10, offsets=(0, 3, 8)),
    C(M("EmbeddingBag", 20, 5, padding_idx=2), (3, 4), ints=20),
    # Recurrent
    C(M("RNN", 10, 20, 2), (5, 3, 10)),
    C(M("RNN", 10, 20, 2, "relu", False, True), (3, 5, 10)),
    C(M("RNN", 10, 20, nonlinearity="relu", bidirectional=True), (5, 10)),
    C(M("LSTM", 10, 20, 2), (5, 3, 10)),
    C(M("LSTM", 10, 20, batch_first=True, bidirectional=True), (3, 5, 10)),
    C(M("LSTM", 10, 20, 3, bias=False, proj_size=7), (5, 3, 10)),
    C(M("LSTM", 10, 20, 2, bidirectional=True, proj_size=5), (6, 10)),
    C(M("LSTM", 8, 16, 2, True, True, 0.1, True), (2, 4, 8)),
    C(M("GRU", 10, 20, 2), (5, 3, 10)),
    C(M("GRU", 10, 20, 4, batch_first=True, bidirectional=True), (3, 5, 10)),
    C(M("GRU", 10, 20, bias=False), (5, 10)),
    C(M("RNNCell", 10, 20), (3, 10)),
    C(M("RNNCell", 10, 20, False, "relu"), (10,)),
    C(M("LSTMCell", 10, 20), (3, 10)),
    C(M("LSTMCell", 10, 20, bias=False), (10,)),
    C(M("GRUCell", 10, 20), (3, 10)),
    C(M("GRUCell", 10, 20, False), (10,)),
    # Attention / transformers
    C(M("MultiheadAttention", 16, 4), (5, 2, 16), (7, 2, 16), (7, 2, 16)),
    C(M("MultiheadAttention", 16, 4, batch_first=True), (2, 5, 16), (2, 7, 16), (2, 7, 16)),
    C(M("MultiheadAttention", 16, 2), (5, 16), (7, 16), (7, 16)),
    C(M("MultiheadAttention", 16, 4, bias=False, add_bias_kv=True), (5, 2, 16), (7, 2, 16), (7, 2, 16)),
    C(M("MultiheadAttention", 16, 4, add_zero_attn=True, add_bias_kv=True), (5, 2, 16), (5, 2, 16), (5, 2, 16)),
    C(M("MultiheadAttention", 16, 4, kdim=8, vdim=12), (5, 2, 16), (7, 2, 8), (7, 2, 12)),
    C(M("MultiheadAttention", 16, 4, kdim=8), (5, 2, 16), (7, 2, 8), (7, 2, 16)),
    C(M("MultiheadAttention", 12, 3, 0.1, True, False, False, 6, 6, True), (2, 3, 12), (2, 4, 6), (2, 4, 6)),
    C(M("MultiheadAttention", 16, 4), (5, 2, 16), (7, 2, 16), (7, 2, 16), options={"average_attn_weights": False}),
    C(M("MultiheadAttention", 16, 4), (5, 2, 16), (7, 2, 16), (7, 2, 16), options={"need_weights": False}),
    C(M("TransformerEncoderLayer", 32, 4), (10, 2, 32)),
    C(M("TransformerEncoderLayer", 32, 4, 64, batch_first=True, norm_first=True), (2, 10, 32)),
    C(M("TransformerEncoderLayer", 32, 4, 64, activation="gelu", bias=False), (10, 32)),
    C(M("TransformerEncoderLayer", 32, 4, 64, activation=M("GELU")), (10, 2, 32)),
    C(M("TransformerEncoderLayer", 32, 4, 64, activation=M("PReLU")), (10, 2, 32)),
    C(M("TransformerDecoderLayer", 32, 4), (10, 2, 32), (7, 2, 32)),
    C(M("TransformerDecoderLayer", 32, 8, 16, 0.0, "gelu", 1e-6, True, True, False), (2, 10, 32), (2, 7, 32)),
    C(M("TransformerEncoder", M("TransformerEncoderLayer", 32, 4, 64), 3), (10, 2, 32)),
    C(M("TransformerEncoder", M("TransformerEncoderLayer", 32, 4, 64), 2, M("LayerNorm", 32)), (10, 2, 32)),
    C(M("TransformerEncoder", M("TransformerEncoderLayer", 32, 4, 64, batch_first=True), 2, enable_nested_tensor=False), (2, 10, 32)),
    C(M("TransformerDecoder", M("TransformerDecoderLayer", 32, 4, 64), 2), (10, 2, 32), (5, 2, 32)),
    C(M("TransformerDecoder", M("TransformerDecoderLayer", 32, 4, 64), 3, norm=M("LayerNorm", 32)), (10, 2, 32), (5, 2, 32)),
    C(M("Transformer"), (10, 2, 512), (9, 2, 512)),
    C(M("Transformer", d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=128), (10, 2, 64), (9, 2, 64)),
    C(M("Transformer", 32, 4, 1, 2, 64, 0.0, "gelu", batch_first=True, norm_first=True, bias=False), (2, 10, 32), (2, 9, 32)),
    C(M("Transformer", 32, 4, 1, 1, 64), (10, 32), (9, 32)),
    C(M("Transformer", 32, 4, custom_encoder=M("TransformerEncoder", M("TransformerEncoderLayer", 32, 4, 64), 1), num_decoder_layers=1, dim_feedforward=64), (10, 2, 32), (9, 2, 32)),
    # Activations
    *[C(M(k), (2, 3, 4)) for k in ("ReLU", "ReLU6", "GELU", "SiLU", "Mish", "Tanh", "Sigmoid",
        "LogSigmoid", "Softsign", "Tanhshrink", "Hardsigmoid", "Hardswish", "Hardshrink",
        "Softshrink", "LeakyReLU", "ELU", "CELU", "SELU", "Softplus", "RReLU", "Hardtanh")],
    C(M("ReLU", inplace=True), (2, 3)),
    C(M("GELU", approximate="tanh"), (2, 3)),
    C(M("LeakyReLU", 0.2, True), (2, 3)),
    C(M("Threshold", 0.1, 20), (2, 3)),
    C(M("Hardtanh", -2.0, 2.0), (2, 3)),
    C(M("Softmax", dim=1), (2, 3, 4)),
    C(M("Softmax"), (2, 3, 4)),
    C(M("Softmax", -1), (5,)),
    C(M("Softmin", 1), (2, 3)),
    C(M("LogSoftmax", dim=-1), (2, 3)),
    C(M("Softmax2d"), (2, 3, 4, 5)),
    C(M("Softmax2d"), (3, 4, 5)),
    C(M("GLU"), (4, 2, 6)),
    C(M("GLU", dim=1), (4, 2, 6)),
    C(M("PReLU"), (2, 3, 4)),
    C(M("PReLU", 3), (2, 3, 4)),
    C(M("PReLU", num_parameters=8, init=0.1), (4, 8)),
    C(M("Dropout"), (20, 16)),
    C(M("Dropout", 0.2, True), (20, 16)),
    C(M("Dropout1d", p=0.2), (20, 16, 32)),
    C(M("Dropout1d"), (16, 32)),
    C(M("Dropout2d", p=0.2), (20, 16, 32, 32)),
    C(M("Dropout3d", p=0.2), (20, 16, 4, 32, 32)),
    C(M("AlphaDropout", p=0.2), (20, 16)),
    C(M("FeatureAlphaDropout", p=0.2), (20, 16, 4, 32, 32)),
    # Pooling
    C(M("MaxPool1d", 3, stride=2), (20, 16, 50)),
    C(M("MaxPool1d", 2), (16, 9)),
    C(M("MaxPool1d", 4, 2, 2, 2, ceil_mode=True), (2, 3, 17)),
    C(M("MaxPool2d", 3, stride=2), (20, 16, 50, 32)),
    C(M("MaxPool2d", (3, 2), stride=(2, 1)), (20, 16, 50, 32)),
    C(M("MaxPool2d", 2), (2, 16, 7, 7)),
    C(M("MaxPool2d", 3, 2, 1), (2, 64, 112, 112)),
    C(M("MaxPool2d", 3, 2, ceil_mode=True), (2, 4, 10, 10)),
    C(M("MaxPool2d", 3, 3, 1, ceil_mode=True), (2, 4, 10, 10)),
    C(M("MaxPool2d", 2, return_indices=True), (2, 16, 8, 8)),
    C(M("MaxPool2d", 3, 1, 1, dilation=2), (2, 4, 9, 9)),
    C(M("MaxPool3d", 3, stride=2), (20, 16, 50, 44, 31)),
    C(M("MaxPool3d", (3, 2, 2), stride=(2, 1, 2)), (2, 16, 10, 4, 7)),
    C(M("AvgPool1d", 3, stride=2), (1, 1, 7)),
    C(M("AvgPool1d", 4, 3, 2, True, False), (2, 5, 20)),
    C(M("AvgPool2d", 3, stride=2), (20, 16, 50, 32)),
    C(M("AvgPool2d", (3, 2), stride=(2, 1), padding=1, ceil_mode=True), (16, 50, 32)),
    C(M("AvgPool2d", 2, divisor_override=3), (2, 4, 6, 6)),
    C(M("AvgPool3d", 3, stride=2), (20, 16, 50, 44, 31)),
    C(M("AvgPool3d", (3, 2, 2), stride=(2, 1, 2)), (2, 16, 10, 4, 7)),
    C(M("LPPool1d", 2, 3, stride=2), (20, 16, 50)),
    C(M("LPPool2d", 2, 3, stride=2), (20, 16, 50, 32)),
    C(M("LPPool2d", 1.2, (3, 2), stride=(2, 1), ceil_mode=True), (20, 16, 50, 32)),
    C(M("LPPool3d", 2, 3, stride=2), (2, 4, 9, 9, 9)),
    C(M("AdaptiveAvgPool1d", 5), (1, 64, 8)),
    C(M("AdaptiveAvgPool1d", 1), (64, 8)),
    C(M("AdaptiveAvgPool2d", (5, 7)), (1, 64, 8, 9)),
    C(M("AdaptiveAvgPool2d", 7), (1, 64, 10, 9)),
    C(M("AdaptiveAvgPool2d", (None, 7)), (1, 64, 10, 9)),
    C(M("AdaptiveAvgPool2d", 1), (2, 512, 7, 7)),
    C(M("AdaptiveAvgPool3d", (5, 7, 9)), (1, 64, 8, 9, 10)),
    C(M("AdaptiveAvgPool3d", (7, None, None)), (1, 64, 10, 9, 8)),
    C(M("AdaptiveMaxPool1d", 5), (1, 64, 8)),
    C(M("AdaptiveMaxPool2d", (None, 7)), (1, 64, 10, 9)),
    C(M("AdaptiveMaxPool2d", 3, return_indices=True), (1, 64, 10, 9)),
    C(M("AdaptiveMaxPool3d", 5), (1, 64, 8, 9, 10)),
    C(M("FractionalMaxPool2d", 3, output_size=13), (20, 16, 50, 32)),
    C(M("FractionalMaxPool2d", 3, output_ratio=(0.5, 0.5)), (20, 16, 50, 32)),
    C(M("FractionalMaxPool2d", 2, output_ratio=0.7, return_indices=True), (16, 11, 9)),
    C(M("FractionalMaxPool3d", 3, output_size=(13, 12, 11)), (2, 4, 20, 16, 17)),
    C(M("FractionalMaxPool3d", 2, output_ratio=(0.5, 0.5, 0.5)), (2, 4, 20, 16, 17)),
    C(M("MaxUnpool1d", 2, stride=2), (1, 1, 4), options={"unpool": True}),
    C(M("MaxUnpool2d", 2, stride=2), (1, 3, 4, 4), options={"unpool": True}),
    C(M("MaxUnpool2d", 3, 2, 1), (1, 3, 5, 5), options={"unpool": True}),
    C(M("MaxUnpool3d", 3, stride=2), (2, 3, 5, 5, 5), options={"unpool": True}),
    # Resampling / reshaping / padding
    C(M("Upsample", scale_factor=2, mode="nearest"), (1, 1, 2, 2)),
    C(M("Upsample", scale_factor=2, mode="bilinear"), (1, 1, 2, 3)),
    C(M("Upsample", scale_factor=1.5, mode="bilinear", align_corners=True), (1, 1, 5, 7)),
    C(M("Upsample", size=(7, 9), mode="bicubic"), (1, 2, 3, 3)),
    C(M("Upsample", size=10, mode="linear"), (1, 2, 3)),
    C(M("Upsample", scale_factor=(2, 3), mode="nearest-exact"), (1, 2, 3, 3)),
    C(M("Upsample", scale_factor=0.5, mode="area"), (1, 2, 7, 9)),
    C(M("Upsample", size=(4, 5, 6), mode="trilinear"), (1, 2, 3, 3, 3)),
    C(M("Upsample", None, 3), (1, 2, 3, 3, 2)),
    C(M("Upsample", scale_factor=2.3), (1, 2, 3)),
    C(M("UpsamplingNearest2d", scale_factor=2), (1, 1, 2, 2)),
    C(M("UpsamplingBilinear2d", size=(5, 6)), (1, 1, 2, 2)),
    C(M("PixelShuffle", 3), (1, 9, 4, 4)),
    C(M("PixelShuffle", 2), (2, 3, 8, 4, 4)),
    C(M("PixelUnshuffle", 3), (1, 1, 12, 12)),
    C(M("PixelUnshuffle", 2), (3, 4, 6)),
    C(M("ChannelShuffle", 2), (1, 4, 2, 2)),
    C(M("Flatten"), (32, 1, 5, 5)),
    C(M("Flatten", 0, 2), (32, 1, 5, 5)),
    C(M("Flatten", start_dim=2), (32, 3, 5, 5)),
    C(M("Flatten", 0), (7,)),
    C(M("Unflatten", 1, (2, 5, 5)), (2, 50)),
    C(M("Unflatten", -1, (2, -1)), (2, 3, 50)),
    C(M("Unflatten", 0, [2, 3]), (6, 4)),
    C(M("ZeroPad1d", 4), (1, 2, 4)),
    C(M("ZeroPad1d", (3, 1)), (2, 4)),
    C(M("ZeroPad2d", 2), (1, 1, 3, 3)),
    C(M("ZeroPad2d", (1, 1, 2, 0)), (1, 1, 3, 3)),
    C(M("ZeroPad2d", (-1, 1, 2, -2)), (1, 3, 3)),
    C(M("ZeroPad3d", 3), (16, 3, 10, 20, 30)),
    C(M("ZeroPad3d", (3, 3, 6, 6, 0, 1)), (3, 10, 20, 30)),
    C(M("ConstantPad1d", 2, 3.5), (1, 2, 4)),
    C(M("ConstantPad1d", (3, 1), 3.5), (1, 2, 3)),
    C(M("ConstantPad2d", 2, 3.5), (1, 2, 2)),
    C(M("ConstantPad2d", (3, 0, 2, 1), 3.5), (2, 1, 2, 2)),
    C(M("ConstantPad3d", 3, 3.5), (16, 3, 10, 20, 30)),
    C(M("ReflectionPad1d", 2), (1, 2, 4)),
    C(M("ReflectionPad1d", (3, 1)), (2, 4)),
    C(M("ReflectionPad2d", 2), (1, 1, 3, 3)),
    C(M("ReflectionPad2d", (1, 1, 2, 0)), (1, 3, 3)),
    C(M("ReflectionPad3d", 1), (1, 1, 2, 2, 2)),
    C(M("ReplicationPad1d", 2), (1, 2, 4)),
    C(M("ReplicationPad2d", (1, 1, 2, 0)), (1, 1, 3, 3)),
    C(M("ReplicationPad3d", 3), (16, 3, 8, 32, 32)),
    C(M("CircularPad1d", 2), (1, 2, 4)),
    C(M("CircularPad2d", (1, 1, 2, 0)), (1, 1, 3, 3)),
    C(M("CircularPad3d", 3), (2, 3, 8, 32, 32)),
    C(M("Unfold", kernel_size=(2, 3)), (2, 5, 3, 4)),
    C(M("Unfold", 3, 2, 1, 2), (2, 5, 9, 8)),
    C(M("Fold", output_size=(4, 5), kernel_size=(2, 2)), (1, 12, 12)),
    C(M("Fold", (9, 8), 3, 2, 1, 2), (2, 45, 12)),
    # Distances
    C(M("CosineSimilarity"), (100, 128), (100, 128)),
    C(M("CosineSimilarity", dim=-1, eps=1e-6), (4, 1, 16), (5, 16)),
    C(M("PairwiseDistance"), (100, 128), (100, 128)),
    C(M("PairwiseDistance", keepdim=True), (3, 100, 128), (100, 128)),
    # Losses
    C(M("CrossEntropyLoss"), (8, 5), (8,), options={"target": "class", "classes": 5}),
    C(M("CrossEntropyLoss", reduction="none"), (8, 5), (8,), options={"target": "class", "classes": 5}),
    C(M("CrossEntropyLoss", reduction="none", label_smoothing=0.1), (8, 5, 4, 4), (8, 4, 4), options={"target": "class", "classes": 5}),
    C(M("CrossEntropyLoss", ignore_index=0), (5,), (), options={"target": "class", "classes": 5}),
    C(M("CrossEntropyLoss", reduction="none"), (8, 5), (8, 5), options={"target": "prob"}),
    C(M("NLLLoss", reduction="sum"), (8, 5), (8,), options={"target": "class", "classes": 5}),
    C(M("NLLLoss", reduction="none"), (8, 5, 3), (8, 3), options={"target": "class", "classes": 5}),
    C(M("BCELoss"), (8, 3), (8, 3), options={"target": "prob"}),
    C(M("BCELoss", reduction="none"), (8, 3), (8, 3), options={"target": "prob"}),
    C(M("BCEWithLogitsLoss", reduction="none"), (4, 2, 3), (4, 2, 3)),
    C(M("MSELoss"), (8, 3), (8, 3)),
    C(M("MSELoss", reduction="none"), (8, 3), (8, 3)),
    C(M("L1Loss", reduction="none"), (8, 1), (8, 3)),
    C(M("SmoothL1Loss", beta=0.5), (8, 3), (8, 3)),
    C(M("HuberLoss", "none", 2.0), (4, 8, 3), (8, 3)),
    C(M("KLDivLoss", reduction="none"), (8, 3), (8, 3), options={"target": "prob"}),
    # Containers
    C(M("Sequential", M("Conv2d", 1, 20, 5), M("ReLU"), M("Conv2d", 20, 64, 5), M("ReLU")), (2, 1, 28, 28)),
    C(M("Sequential", OrderedDict([("conv1", M("Conv2d", 1, 20, 5)), ("relu1", M("ReLU")), ("fc", M("Flatten")), ("out", M("LazyLinear", 3))])), (2, 1, 8, 8)),
    C(M("Sequential", M("Linear", 4, 8), M("Sequential", M("BatchNorm1d", 8), M("GELU")), M("Dropout"), M("Linear", 8, 2)), (5, 4)),
    C(M("Sequential"), (5, 4)),
    C(M("ModuleList", [M("Linear", 4, 4), M("Linear", 4, 2), M("BatchNorm1d", 3)]), options={"skip_forward": True}),
    C(M("ModuleList"), options={"skip_forward": True}),
    C(M("ModuleDict", {"a": M("Conv2d", 1, 2, 3), "b": M("LayerNorm", 4)}), options={"skip_forward": True}),
]  # fmt: skip


_TEST_OPTIONS = ("skip_forward", "unpool", "target", "classes")


def _torch_inputs(case: Case) -> list[Any]:
    target = case.options.get("target")
    if target == "class":
        x, t = case.inputs
        return [torch.randn(*x), torch.randint(0, case.options["classes"], t)]
    if target == "prob":
        return [torch.rand(*shape) for shape in case.inputs]
    if case.ints:
        xs: list[Any] = [torch.randint(0, case.ints, shape) for shape in case.inputs]
        if case.offsets is not None:
            xs.append(torch.tensor(case.offsets))
        return xs
    return [torch.randn(*shape) for shape in case.inputs]


def _shapes(out: Any) -> Output:
    if out is None:
        return None
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    return MultiOutput(tuple(_shapes(o) for o in out))


def _torch_tensors(module: Any) -> dict[str, tuple[tuple[int, ...], bool, str, bool]]:
    out = {}
    for name, p in module.named_parameters():
        out[name] = (tuple(p.shape), False, "float", p.requires_grad)
    for name, b in module.named_buffers():
        dtype = "float" if b.dtype.is_floating_point else str(b.dtype).removeprefix("torch.")
        out[name] = (tuple(b.shape), True, dtype, False)
    return out


def _info_tensors(info: LayerInfo) -> dict[str, tuple[tuple[int, ...], bool, str, bool]]:
    return {
        name: (t.shape, t.buffer, t.dtype, t.requires_grad and not t.buffer)
        for name, t in info.named_tensors()
    }


def _run(case: Case) -> tuple[Any, Output]:
    module = case.module.torch()
    opts = {k: v for k, v in case.options.items() if k not in _TEST_OPTIONS}
    if case.options.get("skip_forward"):
        return module, None
    if case.options.get("unpool"):
        m = case.module
        n = int(m.kind[-2])
        pool = getattr(nn, f"MaxPool{n}d")(*m.args, **m.kwargs, return_indices=True)
        pooled, idx = pool(torch.randn(*case.inputs[0]))
        return module, _shapes(module(pooled, idx))
    out = module(*_torch_inputs(case), **opts)
    return module, _shapes(out)


def _materialize_inputs(case: Case) -> list[Output]:
    if case.options.get("unpool"):
        return []
    return list(case.inputs)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_catalog_matches_torch(case: Case) -> None:
    module, torch_out = _run(case)
    info = case.module.info()
    if case.module.kind.startswith("Lazy") or "LazyLinear" in repr(case.module):
        assert info.params is None
        assert info.unknown_reason
        info = info.materialize(*case.inputs)
    assert info.known, info.unknown_reason
    assert _info_tensors(info) == _torch_tensors(module)
    params = {id(p): p for p in module.parameters()}
    assert info.params == sum(p.numel() for p in params.values())
    assert info.trainable_params == sum(p.numel() for p in params.values() if p.requires_grad)
    assert info.buffer_numel == sum(b.numel() for b in module.buffers())
    assert info.buffer_bytes() == sum(b.numel() * b.element_size() for b in module.buffers())
    if case.options.get("skip_forward"):
        return
    opts = {k: v for k, v in case.options.items() if k not in _TEST_OPTIONS}
    if case.options.get("unpool"):
        m = case.module
        pool = build(f"MaxPool{m.kind[-2]}d", m.args, {**m.kwargs, "return_indices": True})
        pooled = pool.forward(case.inputs[0])
        assert isinstance(pooled, MultiOutput)
        ours = info.forward(*pooled.items)
    else:
        inputs: list[Output] = list(case.inputs)
        if case.offsets is not None:
            inputs.append((len(case.offsets),))
        ours = info.forward(*inputs, **opts)
    assert ours == torch_out


def test_every_catalog_entry_is_tested_against_torch() -> None:
    tested = set()
    for case in CASES:
        stack = [case.module]
        while stack:
            m = stack.pop()
            tested.add(m.kind)
            for v in (*m.args, *m.kwargs.values()):
                if isinstance(v, M):
                    stack.append(v)
                elif isinstance(v, (list, tuple)):
                    stack += [x for x in v if isinstance(x, M)]
                elif isinstance(v, dict):
                    stack += [x for x in v.values() if isinstance(x, M)]
    assert set(REGISTRY) - tested == set()
    assert set(REGISTRY) <= {k for k in dir(nn) if isinstance(getattr(nn, k), type)}


# ------------------------------------------------------------------------------------------
# Configurations torch refuses: the catalog must refuse too.
# ------------------------------------------------------------------------------------------

BROKEN: list[Case] = [
    C(M("Linear", 20, 30), (128, 21)),
    C(M("Linear", 20), (128, 20)),
    C(M("Linear", 20, 30, True, None, None, 5), (128, 20)),
    C(M("Linear", 20, 30, biass=True), (128, 20)),
    C(M("Bilinear", 2, 3, 4), (5, 2), (6, 3)),
    C(M("Conv2d", 3, 8, 3), (2, 4, 10, 10)),
    C(M("Conv2d", 3, 8, 3), (2, 3, 10)),
    C(M("Conv2d", 3, 8, 5), (2, 3, 4, 4)),
    C(M("Conv2d", 3, 8, 3, groups=2), (2, 3, 10, 10)),
    C(M("Conv2d", 4, 6, 3, groups=4), (2, 4, 10, 10)),
    C(M("Conv2d", 3, 8, 3, stride=2, padding="same"), (2, 3, 10, 10)),
    C(M("Conv2d", 3, 8, 3, padding="full"), (2, 3, 10, 10)),
    C(M("Conv2d", 3, 8, 3, padding_mode="mirror"), (2, 3, 10, 10)),
    C(M("Conv2d", 3, 8, 3, padding=3, padding_mode="reflect"), (2, 3, 3, 3)),
    C(M("Conv1d", 3, 8, 3, groups=0), (2, 3, 10)),
    C(M("ConvTranspose2d", 3, 8, 3, padding_mode="reflect"), (2, 3, 10, 10)),
    C(M("ConvTranspose2d", 3, 8, 3, stride=2, output_padding=2), (2, 3, 10, 10)),
    C(M("ConvTranspose2d", 3, 8, 3), (2, 5, 10, 10)),
    C(M("ConvTranspose1d", 3, 8, 1, padding=2), (2, 3, 2)),
    C(M("BatchNorm2d", 8), (2, 8, 5)),
    C(M("BatchNorm2d", 8), (2, 7, 5, 5)),
    C(M("BatchNorm1d", 8), (1, 8)),
    C(M("BatchNorm2d", 8), (1, 8, 1, 1)),
    C(M("InstanceNorm2d", 8, affine=True), (2, 7, 5, 5)),
    C(M("InstanceNorm1d", 8), (2, 8, 1)),
    C(M("LayerNorm", 10), (20, 5, 11)),
    C(M("LayerNorm", (5, 10)), (10,)),
    C(M("GroupNorm", 4, 6), (2, 6, 4)),
    C(M("GroupNorm", 3, 6), (2, 9, 4)),
    C(M("GroupNorm", 6, 6), (1, 6)),
    C(M("Embedding", 10, 3, padding_idx=10), (2, 4), ints=10),
    C(M("EmbeddingBag", 10, 3, mode="median"), (2, 4), ints=10),
    C(M("EmbeddingBag", 10, 3), (8,), ints=10),
    C(M("RNN", 10, 20, nonlinearity="sigmoid"), (5, 3, 10)),
    C(M("RNN", 10, 20), (5, 3, 11)),
    C(M("RNN", 10, 20), (5, 3, 2, 10)),
    C(M("GRU", 10, 20, proj_size=5), (5, 3, 10)),
    C(M("LSTM", 10, 20, proj_size=20), (5, 3, 10)),
    C(M("LSTM", 10, 0), (5, 3, 10)),
    C(M("LSTM", 10, 20, 0), (5, 3, 10)),
    C(M("LSTM", 10, 20, dropout=1.5), (5, 3, 10)),
    C(M("LSTMCell", 10, 20), (3, 11)),
    C(M("GRUCell", 10, 20), (2, 3, 10)),
    C(M("MultiheadAttention", 10, 3), (5, 2, 10), (5, 2, 10), (5, 2, 10)),
    C(M("MultiheadAttention", 16, 4), (5, 2, 12), (5, 2, 12), (5, 2, 12)),
    C(M("MultiheadAttention", 16, 4), (5, 2, 16), (6, 2, 16), (7, 2, 16)),
    C(M("MultiheadAttention", 16, 4), (5, 2, 16), (6, 3, 16), (6, 3, 16)),
    C(M("MultiheadAttention", 16, 4, kdim=8), (5, 2, 16), (7, 2, 16), (7, 2, 16)),
    C(M("TransformerEncoderLayer", 32, 4, activation="tanh"), (10, 2, 32)),
    C(M("TransformerEncoderLayer", 32, 5), (10, 2, 32)),
    C(M("TransformerEncoderLayer", 32, 4), (10, 2, 16)),
    C(M("TransformerDecoderLayer", 32, 4), (10, 2, 32), (7, 2, 16)),
    C(M("Transformer", 32, 4, 1, 1, 64), (10, 2, 32), (9, 3, 32)),
    C(M("Transformer", 32, 4, 1, 1, 64), (10, 2, 32), (9, 2, 16)),
    C(M("Dropout", 1.5), (2, 3)),
    C(M("Dropout1d"), (2, 3, 4, 5)),
    C(M("GLU"), (4, 5)),
    C(M("PReLU", 3), (2, 4, 5)),
    C(M("Softmax", 3), (2, 3)),
    C(M("Softmax2d"), (2, 3)),
    C(M("MaxPool2d", 2, padding=2), (2, 3, 8, 8)),
    C(M("MaxPool2d", 5), (2, 3, 4, 4)),
    C(M("MaxPool2d", 2), (3, 3)),
    C(M("AvgPool1d", 2, padding=2), (2, 3, 8)),
    C(M("AdaptiveAvgPool2d", (2, 2, 2)), (2, 3, 8, 8)),
    C(M("FractionalMaxPool2d", 3), (2, 3, 8, 8)),
    C(M("FractionalMaxPool2d", 3, output_size=7), (2, 3, 8, 8)),
    C(M("FractionalMaxPool2d", 3, output_ratio=1.5), (2, 3, 8, 8)),
    C(M("Upsample"), (1, 1, 2, 2)),
    C(M("Upsample", size=4, scale_factor=2), (1, 1, 2, 2)),
    C(M("Upsample", scale_factor=2, mode="bilinear"), (1, 1, 2)),
    C(M("Upsample", scale_factor=2, align_corners=True), (1, 1, 2, 2)),
    C(M("Upsample", size=(4, 4, 4)), (1, 1, 2, 2)),
    C(M("PixelShuffle", 2), (1, 6, 4, 4)),
    C(M("PixelUnshuffle", 3), (1, 1, 4, 4)),
    C(M("ChannelShuffle", 3), (1, 4, 2, 2)),
    C(M("Flatten", 2, 1), (2, 3, 4)),
    C(M("Flatten", 4), (2, 3, 4)),
    C(M("Unflatten", 1, (2, 5)), (2, 50)),
    C(M("ReflectionPad2d", 3), (1, 1, 3, 3)),
    C(M("ReflectionPad2d", 1), (3, 3)),
    C(M("CircularPad1d", 5), (1, 2, 4)),
    C(M("ZeroPad2d", (-2, -2, 0, 0)), (1, 1, 3, 3)),
    C(M("Fold", (4, 5), 2), (1, 12, 11)),
    C(M("Unfold", 5), (1, 2, 3, 3)),
    C(M("Sequential", M("Linear", 4, 8), M("Linear", 7, 2)), (5, 4)),
    C(M("Sequential", 3), (5, 4)),
    C(M("Sequential", M("LSTM", 4, 8), M("Linear", 8, 2)), (5, 2, 4)),
    C(M("ModuleList", [M("Linear", 4, 8)]), (5, 4)),
    C(M("ModuleDict", {"a": M("ReLU")}), (5, 4)),
    C(M("Threshold", 0.1), (2, 3)),
    C(M("CrossEntropyLoss"), (8, 5), (7,), options={"target": "class", "classes": 5}),
    C(M("CrossEntropyLoss", reduction="avg"), (8, 5), (8,), options={"target": "class", "classes": 5}),
    C(M("NLLLoss"), (8, 5, 3), (8, 4), options={"target": "class", "classes": 5}),
    C(M("BCELoss"), (8, 3), (8, 1), options={"target": "prob"}),
    C(M("BCEWithLogitsLoss"), (8, 3), (8,)),
    C(M("MSELoss"), (8, 3), (8, 4)),
    C(M("CosineSimilarity", 2), (4, 5), (4, 5)),
    C(M("PairwiseDistance"), (4, 5), (4, 6)),
    C(M("ReLU", 1, 2), (2, 3)),
]  # fmt: skip


@pytest.mark.parametrize("case", BROKEN, ids=repr)
def test_catalog_refuses_what_torch_refuses(case: Case) -> None:
    with pytest.raises(Exception):  # noqa: B017 - torch raises many kinds
        module = case.module.torch()
        module(*_torch_inputs(case))
    with pytest.raises(CatalogError):
        info = case.module.info()
        info.forward(*case.inputs)


# ------------------------------------------------------------------------------------------
# Pure behaviour (no torch comparison needed, torch only imported above).
# ------------------------------------------------------------------------------------------


def test_unknown_dims_propagate() -> None:
    conv = build("Conv2d", (3, 16, 3), {"padding": 1})
    assert conv.output_shape((None, 3, 32, None)) == (None, 16, 32, None)
    assert build("Flatten").output_shape((None, 16, 4, 4)) == (None, 256)
    assert build("Flatten").output_shape((8, None, 4, 4)) == (8, None)
    lstm = build("LSTM", (10, 20), {"batch_first": True})
    out = lstm.forward((None, None, 10))
    assert out == MultiOutput(((None, None, 20), MultiOutput(((1, None, 20), (1, None, 20)))))


def test_unknown_arguments_make_counts_unknown_not_wrong() -> None:
    lin = build("Linear", (UNKNOWN, 10))
    assert lin.params is None and lin.unknown_reason and "in_features" in lin.unknown_reason
    assert lin.output_shape((4, 7)) == (4, 10)
    seq = build("Sequential", (build("Linear", (4, 8)), lin))
    assert seq.params is None
    assert "1 (Linear)" in (seq.unknown_reason or "")
    with pytest.raises(Unresolved):
        build("Conv2d", (3, 8, UNKNOWN)).output_shape((1, 3, 8, 8))


def test_shared_modules_and_tensors_count_once() -> None:
    lin = build("Linear", (10, 10))
    assert build("Sequential", (lin, build("ReLU"), lin)).params == 110
    enc = build("TransformerEncoderLayer", (16, 2, 32))
    stack = build("TransformerEncoder", (enc, 3))
    assert stack.params == 3 * (enc.params or 0)


def test_lookup_accepts_qualified_names_and_errors_are_clear() -> None:
    assert lookup("nn.Linear") is REGISTRY["Linear"]
    assert lookup("torch.nn.Conv2d") is REGISTRY["Conv2d"]
    assert lookup("Nope") is None
    with pytest.raises(CatalogError, match="not in the layer catalog"):
        build("Nope")
    with pytest.raises(ShapeError, match="in_features"):
        build("Linear", (20, 30)).output_shape((4, 21))


def test_bytes_follow_dtype_and_int64_counters() -> None:
    bn = build("BatchNorm2d", (64,))
    assert bn.param_bytes() == 128 * 4
    assert bn.buffer_bytes() == 128 * 4 + 8
    assert bn.buffer_bytes(float_bytes=2) == 128 * 2 + 8
    half = build("Linear", (4, 4), {"dtype": "torch.float16"})
    assert half.param_bytes() == 20 * 2


def test_transformer_defaults_match_pytorch_count() -> None:
    # nn.Transformer() with its documented defaults: 44,140,544 parameters.
    assert build("Transformer").params == 44_140_544


def test_mutations_mirror_torch_modules() -> None:
    """Tied weights, replaced heads and frozen parts, checked against the same edits in torch."""
    from gpulens.estimate.layers import custom

    # GPT-style tie: lm_head.weight = wte.weight.
    t_model = nn.Module()
    t_model.wte = nn.Embedding(100, 16)
    t_model.blocks = nn.ModuleList([nn.Linear(16, 16) for _ in range(2)])
    t_model.lm_head = nn.Linear(16, 100, bias=False)
    t_model.lm_head.weight = t_model.wte.weight
    wte = build("Embedding", (100, 16))
    head = build("Linear", (16, 100), {"bias": False})
    blocks = build("ModuleList", ([build("Linear", (16, 16)) for _ in range(2)],))
    model = custom("GPT", [("wte", wte), ("blocks", blocks), ("lm_head", head)])
    model.set_tensor("lm_head.weight", wte.own_tensors[0])  # type: ignore[index]
    assert model.params == sum(p.numel() for p in set(t_model.parameters()))

    # Replace a head, freeze the backbone.
    t_model.lm_head = nn.Linear(16, 5)
    model.set_child("lm_head", build("Linear", (16, 5)))
    t_model.blocks.requires_grad_(False)
    model.child("blocks").requires_grad_(False)
    params = set(t_model.parameters())
    assert model.params == sum(p.numel() for p in params)
    assert model.trainable_params == sum(p.numel() for p in params if p.requires_grad)
    with pytest.raises(Unresolved):
        model.forward((2, 16))
