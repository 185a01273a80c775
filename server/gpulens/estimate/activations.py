"""What autograd keeps for backward, per layer/op kind, and a step-by-step memory walk.

Two parts:

* :func:`op_cost` — the rule for one :class:`~gpulens.estimate.graph.Call`: which of its inputs
  and outputs autograd saves (by storage: a view or an in-place result is its base's storage),
  which *new* tensors it saves (dropout masks, max-pool indices, norm statistics, cuDNN's RNN
  reserve space, attention log-sum-exp), the dtype it computes in under autocast, and its
  transient workspace. The rules are what torch's derivatives.yaml and the kernels do; each is
  checked against torch on CPU in ``tests/estimate/test_activations.py`` by counting the unique
  storages ``torch.autograd.graph.saved_tensors_hooks`` sees. Where CUDA differs from CPU the
  rule takes ``device`` ("cuda" is what the estimate uses) and says how.

* :func:`simulate` — walks the trace like one training step does on the GPU: forward (tensors
  born, non-saved ones freed after their last use), backward in reverse (gradients born, saved
  tensors released once the last node that saved them has run, parameter gradients kept), and
  reports the live bytes at every point. The estimator takes the maximum; the breakdown says
  which phase it was in. Every storage is counted once, whatever aliases it.

Sizes are concrete for one batch size; the walk is O(calls) with small constants (well under a
millisecond for a few hundred calls), so :func:`~gpulens.estimate.memory.max_batch_size` can
bisect over it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpulens.estimate.graph import DTYPE_BYTES, Call, ForwardTrace, TensorNode
from gpulens.estimate.shapes import CatalogError

__all__ = [
    "FP32_OPS",
    "LOWER_PRECISION_OPS",
    "PGRAD_KEY",
    "OpCost",
    "Precision",
    "StepProfile",
    "known_ops",
    "op_cost",
    "simulate",
    "step_events",
]

# Autocast's CUDA op lists (torch/csrc/autograd/autocast_mode / aten/src/ATen/autocast_mode.cpp):
# these run in fp16/bf16 (inputs are cast, weights through autocast's per-forward cache) ...
LOWER_PRECISION_OPS = frozenset(
    {
        "Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
        "ConvTranspose3d", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d", "PReLU",
        "linear", "conv1d", "conv2d", "conv3d", "matmul", "mm", "bmm", "addmm", "baddbmm",
        "einsum", "prelu", "sdpa", "scaled_dot_product_attention", "MultiheadAttention",
        "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell",
    }
)  # fmt: skip
# ... and these are forced to fp32 (their inputs are cast up, their outputs are fp32).
FP32_OPS = frozenset(
    {
        "LayerNorm", "GroupNorm", "RMSNorm", "layer_norm", "group_norm", "softmax", "Softmax",
        "log_softmax", "LogSoftmax", "nll_loss", "cross_entropy", "bce_with_logits", "mse_loss",
        "l1_loss", "smooth_l1_loss", "Softplus", "softplus", "exp", "log", "pow", "sum",
        "cumsum", "norm", "logsumexp", "Softmin", "CrossEntropyLoss", "MSELoss",
        "BCEWithLogitsLoss", "L1Loss",
    }
)  # fmt: skip

_MATMUL_OPS = frozenset(
    {
        "Linear", "Bilinear", "LazyLinear", "linear", "matmul", "mm", "bmm", "addmm", "baddbmm",
        "einsum", "MultiheadAttention", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell",
    }
)  # fmt: skip
_CONV_OPS = frozenset(
    {
        "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
        "LazyConv1d", "LazyConv2d", "LazyConv3d", "conv1d", "conv2d", "conv3d",
    }
)  # fmt: skip

# Ops whose backward only reshapes/slices/broadcasts the incoming gradient (no new buffer of
# the input's size): views, residual adds, concatenation (grad is narrowed), identity.
_VIEW_OPS = frozenset(
    {
        "view", "reshape", "flatten", "Flatten", "Unflatten", "transpose", "permute", "squeeze",
        "unsqueeze", "select", "getitem", "narrow", "expand", "chunk", "split", "Identity", "t",
        "unflatten",
    }
)  # fmt: skip
# cat/stack hand each input a narrowed view of the output's gradient (no new buffer); select
# or slicing, by contrast, allocates a zero-filled gradient of the whole input.
_SLICE_GRADS = frozenset({"cat", "stack"})
_NO_SAVE_PASSTHROUGH = frozenset({"add", "sub", "cat", "stack", "neg", "add_", "iadd"})

# Activations: whether backward reads the result ("out") or the input ("in").
_ACT_SAVES: dict[str, str] = {
    "ReLU": "out", "relu": "out", "Sigmoid": "out", "sigmoid": "out", "Tanh": "out",
    "tanh": "out", "softplus": "in", "GELU": "in", "gelu": "in", "SiLU": "in", "silu": "in",
    "Mish": "in",
    "mish": "in", "Hardswish": "in", "hardswish": "in", "Hardsigmoid": "in", "Softplus": "in",
    "LeakyReLU": "in", "leaky_relu": "in", "ELU": "in", "elu": "in", "SELU": "in", "CELU": "in",
    "ReLU6": "in", "Hardtanh": "in", "hardtanh": "in", "LogSigmoid": "in", "Softshrink": "in",
    "Hardshrink": "in", "Threshold": "out", "Tanhshrink": "in", "PReLU": "in", "prelu": "in",
    "exp": "out", "sqrt": "out", "rsqrt": "out", "log": "in", "pow": "in", "abs": "in",
    "selu": "in", "celu": "in", "relu6": "in", "logsigmoid": "in", "softsign": "in",
    "hardsigmoid": "in",
    "tanhshrink": "in", "square": "in", "sin": "in", "cos": "in", "erf": "in", "clamp": "in",
    "clip": "in", "nan_to_num": "in", "normalize": "in", "Softsign": "in",
}  # fmt: skip
# In-place variants of input-saving activations save the result instead (their input is gone).
_INPLACE_SAVES_RESULT = frozenset({"LeakyReLU", "ELU", "SELU", "CELU", "ReLU6", "Hardtanh"})

# cuDNN's RNN training reserve space, elements per (layer, direction, time step, sample) in
# units of hidden_size. cuDNN does not document its layout; these are fit to the gpu-truth
# measurements on an H200 (lstm_lm_h512_l2_s64: 6.0 H from the slope between batch 20 and 128;
# gru_bi_h256_s128: 13 H from batch 32 and 128). Gates (4H LSTM / 3H GRU), cell states and the
# per-step hidden outputs are in it; GRU keeps the input and hidden projections separately.
RNN_RESERVE_PER_STEP = {"LSTM": 6.0, "GRU": 13.0, "RNN": 2.0}
# cuDNN's RNN backward (cudnnRNNBackwardData/Weights) asks for a workspace on top of the reserve
# space, elements per (direction, time step, sample) in units of hidden_size, freed when the
# call returns. gpu-truth gru_bi_h256_s128: the backward peak grows 0.30 MiB/sample more than
# its saved tensors and gradients between batch 32 and 128 (1.2 H per step and direction); the
# forward matches without it. (lstm_lm's peak is its 10,000-way loss, not the LSTM.)
RNN_BWD_WORKSPACE_PER_STEP = 1.2


@dataclass(frozen=True)
class Precision:
    """How tensors are stored. ``float_bytes``: the model's floating dtype (weights, inputs);
    ``autocast_bytes``: element size of autocast's lower precision (None without autocast)."""

    name: str
    float_bytes: int
    autocast_bytes: int | None = None

    @classmethod
    def parse(cls, name: str) -> Precision:
        n = name.lower().replace("-", "_")
        if n in ("fp32", "float32", "float", "32", "tf32"):
            return cls("fp32", 4)
        if n in ("amp_fp16", "amp", "fp16_amp", "16_mixed", "amp_half"):
            return cls("amp_fp16", 4, 2)
        if n in ("amp_bf16", "bf16_amp", "bf16_mixed"):
            return cls("amp_bf16", 4, 2)
        if n in ("fp16", "half", "float16", "16_true"):
            return cls("fp16", 2)
        if n in ("bf16", "bfloat16", "bf16_true"):
            return cls("bf16", 2)
        raise ValueError(f"unknown precision {name!r}")


@dataclass
class OpCost:
    """The memory behaviour of one call.

    ``saves_inputs``/``saves_outputs``: positions whose storage autograd keeps; ``extras``:
    bytes of new tensors kept for backward (at the given batch); ``compute_bytes``: element size
    the op computes in (autocast), 0 = the inputs' own; ``fwd_temp``/``bwd_temp``: transient
    workspace bytes; ``grad_alias``: backward hands the gradient through without a new buffer.
    """

    saves_inputs: tuple[int, ...] = ()
    saves_outputs: tuple[int, ...] = ()
    extras: list[tuple[str, int]] = field(default_factory=list)
    compute_bytes: int = 0
    out_bytes: int = 0  # element size of the outputs; 0 = compute/input dtype
    fwd_temp: int = 0
    bwd_temp: int = 0
    grad_alias: bool = False
    stops_grad: bool = False  # detach(), sign(), argmax(): no gradient flows back through it
    matmul: bool = False
    conv: bool = False
    dense_conv: bool = False  # a cuDNN convolution with a real workspace (see _conv)
    known: bool = True


@dataclass
class _Ctx:
    trace: ForwardTrace
    batch: int
    prec: Precision
    device: str
    elem: dict[int, int]  # tensor id -> element size (decided as the forward runs)
    sizes: list[int] = field(default_factory=list)  # tensor id -> elements at this batch

    def __post_init__(self) -> None:
        out = []
        for t in self.trace.tensors:
            a, b = t.numel()
            out.append(a * self.batch + b)
        self.sizes = out

    def numel(self, tid: int) -> int:
        return self.sizes[tid]

    def nbytes(self, tid: int) -> int:
        return self.numel(tid) * self.elem.get(tid, 4)


def _dim(t: TensorNode, i: int) -> int:
    d = t.shape[i]
    return d if d is not None else 1


def _rows(ctx: _Ctx, tid: int, normalized: int) -> int:
    """Elements outside the normalized trailing dims (one mean/rstd each)."""
    n = ctx.numel(tid)
    t = ctx.trace.tensors[tid]
    inner = 1
    for d in t.shape[len(t.shape) - normalized :]:
        inner *= d if d is not None else 1
    return max(1, n // max(1, inner))


def _arg(call: Call, name: str, default: Any) -> Any:
    if name in call.attrs:
        return call.attrs[name]
    if call.layer is not None and name in call.layer.args:
        v = call.layer.args.raw(name)
        return default if v is None else v
    return default


RuleFn = Callable[[Call, _Ctx], OpCost]


def _linear(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(saves_inputs=(0,), matmul=True)


def _bilinear(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(saves_inputs=(0, 1), matmul=True)


# cuDNN convolution workspace, forward and backward: about the bytes of the input plus the
# output (the heuristics' kernels without cudnn.benchmark convert NCHW activations to the
# layout the tensor-core kernels want, and back). gpu-truth: tiny_unet_128's forward peak is
# 6 MiB/sample above its saved tensors at the 64->32 channel 128x128 conv (input 4 + output 2),
# cifar_cnn_nobn's is twice a 32 MiB activation at batch 256; without it both are 8-27% low.
CONV_WORKSPACE_FACTOR = 1.0


def _is_dense_conv(call: Call) -> bool:
    """A convolution that mixes channels over a spatial window (``groups == 1``, a kernel of
    more than one element): cuDNN runs it with the workspace-hungry algorithms (implicit GEMM
    with precomputed indices, FFT, Winograd), whose workspaces and their gradients' buffers are
    what fragments a convnet's cache (see ``memory._reserved``). Depthwise (``groups > 1``) and
    1x1 convolutions run as direct kernels or a plain GEMM with little or no workspace. Unknown
    arguments count as dense (the conservative side)."""
    try:
        groups = _arg(call, "groups", 1)
        kernel = _arg(call, "kernel_size", None)
    except CatalogError:  # an argument not known statically: assume dense
        return True
    if isinstance(groups, int) and groups > 1:
        return False
    if kernel is None:
        return True
    ks = kernel if isinstance(kernel, (tuple, list)) else (kernel,)
    if all(isinstance(k, int) for k in ks):
        n = 1
        for k in ks:
            n *= k
        return n > 1
    return True


def _conv(call: Call, ctx: _Ctx) -> OpCost:
    io = ctx.numel(call.inputs[0]) + ctx.numel(call.outputs[0])
    elem = ctx.prec.autocast_bytes or ctx.prec.float_bytes
    ws = int(CONV_WORKSPACE_FACTOR * io * elem)
    return OpCost(
        saves_inputs=(0,), conv=True, dense_conv=_is_dense_conv(call), fwd_temp=ws, bwd_temp=ws
    )


def _batchnorm(call: Call, ctx: _Ctx) -> OpCost:
    x = ctx.trace.tensors[call.inputs[0]]
    c = _dim(x, 1) if len(x.shape) > 1 else _dim(x, 0)
    if not _arg(call, "training", True):
        return OpCost(saves_inputs=(0,))
    # save_mean and save_invstd: one fp32 value per channel each (cuDNN and native alike).
    return OpCost(saves_inputs=(0,), extras=[("bn stats", 2 * c * 4)])


def _instancenorm(call: Call, ctx: _Ctx) -> OpCost:
    x = ctx.trace.tensors[call.inputs[0]]
    c = _dim(x, 1) if len(x.shape) > 1 else 1
    n = ctx.batch if x.batch_dim is not None else 1
    # instance_norm runs batch_norm over (1, N*C, ...): statistics per (sample, channel)
    return OpCost(saves_inputs=(0,), extras=[("in stats", 2 * n * c * 4)])


def _layernorm(call: Call, ctx: _Ctx) -> OpCost:
    shape = _arg(call, "normalized_shape", None)
    k = len(shape) if isinstance(shape, (tuple, list)) else 1
    rows = _rows(ctx, call.inputs[0], k)
    return OpCost(saves_inputs=(0,), extras=[("mean, rstd", 2 * rows * 4)])


def _rmsnorm(call: Call, ctx: _Ctx) -> OpCost:
    shape = _arg(call, "normalized_shape", None)
    k = len(shape) if isinstance(shape, (tuple, list)) else 1
    rows = _rows(ctx, call.inputs[0], k)
    return OpCost(saves_inputs=(0,), extras=[("rstd", rows * 4)])


def _groupnorm(call: Call, ctx: _Ctx) -> OpCost:
    g = int(_arg(call, "num_groups", 1))
    n = ctx.batch if ctx.trace.tensors[call.inputs[0]].batch_dim is not None else 1
    return OpCost(saves_inputs=(0,), extras=[("mean, rstd", 2 * n * g * 4)])


def _activation(call: Call, ctx: _Ctx) -> OpCost:
    what = _ACT_SAVES.get(call.op, "in")
    inplace = bool(_arg(call, "inplace", False))
    if inplace and (what == "out" or call.op in _INPLACE_SAVES_RESULT):
        return OpCost(saves_outputs=(0,))
    return OpCost(saves_outputs=(0,)) if what == "out" else OpCost(saves_inputs=(0,))


def _dropout(call: Call, ctx: _Ctx) -> OpCost:
    p = float(_arg(call, "p", 0.5))
    if not _arg(call, "training", True) or p == 0.0:
        return OpCost(grad_alias=True)
    x = call.inputs[0]
    n = ctx.numel(x)
    if call.op in ("Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout"):
        t = ctx.trace.tensors[x]
        n = (ctx.batch if t.batch_dim is not None else 1) * (_dim(t, 1) if len(t.shape) > 1 else 1)
        return OpCost(extras=[("feature noise", n * ctx.elem.get(x, 4))])
    if ctx.device == "cuda":
        # native_dropout's fused kernel: a bool mask, one byte per element (the output itself
        # is not saved by dropout).
        return OpCost(extras=[("dropout mask", n)])
    # CPU: input * (bernoulli noise / (1 - p)); the float noise is what mul saves.
    return OpCost(extras=[("dropout noise", n * ctx.elem.get(x, 4))])


def _maxpool(call: Call, ctx: _Ctx) -> OpCost:
    # input and int64 indices of the maxima (one per output element)
    return OpCost(saves_inputs=(0,), extras=[("indices", ctx.numel(call.outputs[0]) * 8)])


def _avgpool(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(saves_inputs=(0,))


def _adaptive_avgpool(call: Call, ctx: _Ctx) -> OpCost:
    out = ctx.trace.tensors[call.outputs[0]]
    spatial = [d for i, d in enumerate(out.shape) if i >= len(out.shape) - _spatial(call)]
    if all(d == 1 for d in spatial):
        # aten takes a shortcut to input.mean(spatial dims): mean's backward keeps only sizes
        return OpCost()
    return OpCost(saves_inputs=(0,))


def _spatial(call: Call) -> int:
    for n in (1, 2, 3):
        if call.op.endswith(f"{n}d"):
            return n
    return 2


def _embedding(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(saves_inputs=(0,))  # the int64 indices (a model input, usually)


def _saves_output(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(saves_outputs=(0,))


def _nothing(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost()


def _no_grad(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(stops_grad=True)


def _view(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(grad_alias=True)


def _passthrough(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(grad_alias=True)


def _mul(call: Call, ctx: _Ctx) -> OpCost:
    # x * y keeps each factor for the other's gradient; x * 2.0 (one tensor input) keeps nothing
    if len(call.inputs) < 2:
        return OpCost()
    return OpCost(saves_inputs=tuple(range(len(call.inputs))))


def _masked_fill(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(saves_inputs=(1,))  # the bool mask (its gradient zeroes the filled places)


def _addmm(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(saves_inputs=(1, 2), matmul=True)


def _matmul(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(saves_inputs=(0, 1), matmul=True)


def _sdpa_parts(
    ctx: _Ctx, b: int, h: int, s_q: int, s_k: int, dropout: float, elem: int
) -> tuple[str, list[tuple[str, int]]]:
    """Which SDPA kernel runs and what it keeps besides q, k, v and the output."""
    if ctx.device == "cuda":
        if elem == 2:
            # flash attention (fp16/bf16): log-sum-exp per query row, fp32, plus RNG state
            return "flash", [("logsumexp", b * h * s_q * 4)]
        # memory-efficient attention (fp32 too): log-sum-exp padded to 32 rows, fp32
        return "efficient", [("logsumexp", b * h * (-(-s_q // 32) * 32) * 4)]
    if dropout > 0.0:
        # CPU math path: attention probabilities, dropout noise and the dropped probabilities
        probs = b * h * s_q * s_k * elem
        return "math", [("attn probs", probs), ("dropout noise", probs), ("dropped", probs)]
    return "flash_cpu", [("logsumexp", b * h * s_q * 4)]


def _sdpa(call: Call, ctx: _Ctx) -> OpCost:
    q = ctx.trace.tensors[call.inputs[0]]
    k = ctx.trace.tensors[call.inputs[1]]
    nb = ctx.batch if q.batch_dim is not None else 1
    h = _dim(q, len(q.shape) - 3) if len(q.shape) >= 4 else 1
    s_q, s_k = _dim(q, len(q.shape) - 2), _dim(k, len(k.shape) - 2)
    elem = ctx.prec.autocast_bytes or ctx.prec.float_bytes
    _, extras = _sdpa_parts(ctx, nb, h, s_q, s_k, float(_arg(call, "dropout_p", 0.0)), elem)
    return OpCost(saves_inputs=(0, 1, 2), saves_outputs=(0,), extras=extras, matmul=True)


def _mha(call: Call, ctx: _Ctx) -> OpCost:
    """nn.MultiheadAttention (self-attention, need_weights=False, the SDPA path): the input is
    saved by in_proj; q/k/v live in one contiguous (3, L, N, E) copy that SDPA keeps; SDPA's
    output and its contiguous re-layout (out_proj's saved input) add E each per token."""
    layer = call.layer
    assert layer is not None
    e = int(layer.args.raw("embed_dim"))
    h = int(layer.args.raw("num_heads"))
    x = ctx.trace.tensors[call.inputs[0]]
    tokens = ctx.numel(call.inputs[0]) // max(1, e)
    nb = ctx.batch if x.batch_dim is not None else 1
    seq = max(1, tokens // max(1, nb))
    elem = ctx.prec.autocast_bytes or ctx.prec.float_bytes
    dropout = float(_arg(call, "dropout", 0.0))
    _, lse = _sdpa_parts(ctx, nb, h, seq, seq, dropout, elem)
    extras = [("qkv", 3 * tokens * e * elem), ("attn out", tokens * e * elem), *lse]
    if ctx.device == "cuda":
        # CUDA's attention output is (N, L, H, Dh) in memory, so permute(2, 0, 1, 3)
        # .contiguous() copies it for out_proj (gpu-truth encoder_lm forward peaks match only
        # with this copy); the CPU kernel's layout makes it free (tests, saved_tensors_hooks).
        extras.append(("out_proj input", tokens * e * elem))
    # transient: in_proj's (L, N, 3E) result before the contiguous re-layout
    return OpCost(saves_inputs=(0,), extras=extras, fwd_temp=3 * tokens * e * elem, matmul=True)


def _rnn(call: Call, ctx: _Ctx) -> OpCost:
    layer = call.layer
    assert layer is not None
    hidden = int(layer.args.raw("hidden_size"))
    layers = int(layer.args.raw("num_layers") or 1)
    dirs = 2 if layer.args.raw("bidirectional") else 1
    x = ctx.trace.tensors[call.inputs[0]]
    batch_first = bool(layer.args.raw("batch_first"))
    steps = _dim(x, 1 if batch_first else 0) if len(x.shape) == 3 else 1
    nb = ctx.batch if x.batch_dim is not None else 1
    elem = ctx.prec.autocast_bytes or ctx.prec.float_bytes
    per_step = RNN_RESERVE_PER_STEP.get(call.op, 6.0)
    reserve = int(per_step * hidden * layers * dirs * steps * nb * elem)
    workspace = int(RNN_BWD_WORKSPACE_PER_STEP * hidden * dirs * steps * nb * elem)
    outs = tuple(range(len(call.outputs)))
    return OpCost(saves_inputs=(0,), saves_outputs=outs, extras=[("cuDNN reserve", reserve)],
                  bwd_temp=workspace, matmul=True, known=ctx.device == "cuda")  # fmt: skip


def _nll(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(saves_inputs=(1,), extras=[("total_weight", 4)], compute_bytes=4)


def _two_inputs(call: Call, ctx: _Ctx) -> OpCost:
    return OpCost(saves_inputs=(0, 1), compute_bytes=4)


def _cross_entropy(call: Call, ctx: _Ctx) -> OpCost:
    """``F.cross_entropy`` as one call: log_softmax's fp32 output and the target are kept; in
    backward nll_loss's gradient (logits-sized, fp32) exists while log_softmax's is made."""
    n = ctx.numel(call.inputs[0])
    return OpCost(saves_inputs=(1,), extras=[("log_softmax", n * 4)], compute_bytes=4,
                  bwd_temp=n * 4)  # fmt: skip


def _unknown(call: Call, ctx: _Ctx) -> OpCost:
    # Not modelled: assume it keeps its output (the usual case for elementwise ops).
    return OpCost(saves_outputs=(0,), known=False)


RULES: dict[str, RuleFn] = {
    "Linear": _linear, "LazyLinear": _linear, "linear": _linear, "Bilinear": _bilinear,
    "BatchNorm1d": _batchnorm, "BatchNorm2d": _batchnorm, "BatchNorm3d": _batchnorm,
    "SyncBatchNorm": _batchnorm, "LazyBatchNorm1d": _batchnorm, "LazyBatchNorm2d": _batchnorm,
    "LazyBatchNorm3d": _batchnorm, "InstanceNorm1d": _instancenorm,
    "InstanceNorm2d": _instancenorm, "InstanceNorm3d": _instancenorm, "LayerNorm": _layernorm,
    "layer_norm": _layernorm, "RMSNorm": _rmsnorm, "GroupNorm": _groupnorm,
    "Dropout": _dropout, "Dropout1d": _dropout, "Dropout2d": _dropout, "Dropout3d": _dropout,
    "AlphaDropout": _dropout, "FeatureAlphaDropout": _dropout, "dropout": _dropout,
    "MaxPool1d": _maxpool, "MaxPool2d": _maxpool, "MaxPool3d": _maxpool, "max_pool1d": _maxpool,
    "max_pool2d": _maxpool, "max_pool3d": _maxpool, "AdaptiveMaxPool1d": _maxpool,
    "AdaptiveMaxPool2d": _maxpool, "AdaptiveMaxPool3d": _maxpool, "AvgPool1d": _avgpool,
    "AvgPool2d": _avgpool, "AvgPool3d": _avgpool, "avg_pool2d": _avgpool,
    "AdaptiveAvgPool1d": _adaptive_avgpool, "AdaptiveAvgPool2d": _adaptive_avgpool,
    "AdaptiveAvgPool3d": _adaptive_avgpool, "adaptive_avg_pool2d": _adaptive_avgpool,
    "Embedding": _embedding, "embedding": _embedding,
    "Softmax": _saves_output, "softmax": _saves_output, "LogSoftmax": _saves_output,
    "log_softmax": _saves_output, "Softmin": _saves_output,
    "nll_loss": _nll, "bce_with_logits": _two_inputs, "mse_loss": _two_inputs,
    "l1_loss": _two_inputs, "smooth_l1_loss": _two_inputs,
    "mul": _mul, "div": _mul, "matmul": _matmul, "bmm": _matmul, "mm": _matmul,
    "einsum": _matmul, "addmm": _addmm, "baddbmm": _addmm, "masked_fill": _masked_fill,
    "sdpa": _sdpa, "MultiheadAttention": _mha, "LSTM": _rnn, "GRU": _rnn, "RNN": _rnn,
    "cross_entropy": _cross_entropy, "CrossEntropyLoss": _cross_entropy,
    "scaled_dot_product_attention": _sdpa, "batch_norm": _batchnorm, "group_norm": _groupnorm,
    "sum": _nothing, "zeros": _nothing, "ones": _nothing, "randn": _nothing,
    "pad": _nothing, "relu_": _activation,
    "MSELoss": _two_inputs, "BCEWithLogitsLoss": _two_inputs, "L1Loss": _two_inputs,
    "half": _nothing, "bfloat16": _nothing, "double": _nothing, "detach": _no_grad,
    "type_as": _nothing, "requires_grad_": _nothing, "triu": _nothing, "tril": _nothing,
    "cumsum": _nothing, "sign": _no_grad, "round": _no_grad, "floor": _no_grad,
    "argmax": _no_grad, "argmin": _no_grad,
    "contiguous": _nothing, "clone": _nothing, "to": _nothing, "float": _nothing,
    "mean": _nothing, "arange": _nothing, "PixelShuffle": _view, "PixelUnshuffle": _view,
    "Upsample": _nothing, "interpolate": _nothing, "ZeroPad2d": _nothing,
    "ConstantPad2d": _nothing, "scale": _nothing,
}  # fmt: skip
for _k in _CONV_OPS:
    RULES[_k] = _conv
for _k in _ACT_SAVES:
    RULES.setdefault(_k, _activation)
for _k in _VIEW_OPS:
    RULES[_k] = _view
for _k in _NO_SAVE_PASSTHROUGH:
    RULES[_k] = _passthrough


def known_ops() -> frozenset[str]:
    """Op and module names with a memory rule (anything else is assumed to keep its output
    and makes the estimate incomplete)."""
    return frozenset(RULES)


def op_cost(call: Call, ctx: _Ctx) -> OpCost:
    """The rule for ``call`` (an unknown op is assumed to keep its output, and flagged)."""
    if call.attrs.get("view"):
        return OpCost(grad_alias=True)
    rule = RULES.get(call.op, _unknown)
    cost = rule(call, ctx)
    if call.op in _MATMUL_OPS:
        cost.matmul = True
    if call.op in _CONV_OPS:
        cost.conv = True
    return cost


# --------------------------------------------------------------------------------------------
# The walk over one training step.
# --------------------------------------------------------------------------------------------


@dataclass
class StepProfile:
    """Live bytes of activations/gradients during one step (weights, optimizer state and
    library workspaces are added by memory.py).

    ``saved``: bytes kept for backward at the end of the forward, model inputs included;
    ``fwd_peak``/``bwd_peak``: the most bytes live (beyond the persistent state) during forward /
    backward, with the call where it happened; ``held_after_backward``: what the loop still holds
    when the optimizer steps (inputs, the output tensor); ``param_grads``: gradient bytes;
    ``autocast_weight_copies``: fp16/bf16 copies of weights autocast makes per forward;
    ``uses_matmul``/``uses_conv``: which libraries' workspaces appear; ``unknown_ops``: ops
    without a rule (assumed to keep their output).
    """

    saved: int = 0
    saved_for_backward: int = 0
    inputs: int = 0
    fwd_peak: int = 0
    fwd_peak_at: str = ""
    bwd_peak: int = 0
    bwd_peak_at: str = ""
    fwd_peak_transient: int = 0  # of fwd_peak: the op's new outputs, casts, workspace
    bwd_peak_transient: int = 0  # of bwd_peak: the op's workspace, accumulation, casts
    bwd_peak_param_grads: int = 0  # of bwd_peak: parameter gradients born so far
    eval_peak: int = 0
    held_after_backward: int = 0
    param_grads: int = 0
    autocast_weight_copies: int = 0
    largest_activation: int = 0
    largest_dense_conv: int = 0  # bytes of the largest output of a dense convolution
    # ... of those whose input requires grad: their backward also computes the input's gradient
    # (a stem convolution on the batch computes only the weights')
    largest_dense_conv_grad_input: int = 0
    largest_matmul: int = 0  # bytes of the largest output of a matmul (Linear, bmm, RNN)
    uses_matmul: bool = False
    uses_conv: bool = False
    unknown_ops: list[str] = field(default_factory=list)


def _param_numels(trace: ForwardTrace) -> tuple[list[int], list[int]]:
    """Per call: elements of the parameters it uses first, and of those that are trainable.
    Cached on the trace (keyed by call count: traces are built, then only read)."""
    hit = trace.cache.get("param_numels")
    if hit is not None and hit[0] == len(trace.calls):
        return hit[1], hit[2]
    seen: set[int] = set()
    weights = [0] * len(trace.calls)
    trainable = [0] * len(trace.calls)
    for i, c in enumerate(trace.calls):
        if c.layer is None:
            continue
        layer = c.layer
        tensors = (
            layer.own_tensors or ()
            if not layer.children
            else tuple(t for _, t in layer.named_tensors())
        )
        for p in tensors:
            if p.buffer or id(p) in seen:
                continue
            seen.add(id(p))
            weights[i] += p.numel
            if p.requires_grad:
                trainable[i] += p.numel
    trace.cache["param_numels"] = (len(trace.calls), weights, trainable)
    return weights, trainable


def _label(call: Call, i: int) -> str:
    return f"{call.name or call.op} (call {i})"


@dataclass
class _Structure:
    """Batch- and precision-independent facts about a trace, computed once per trace."""

    root: list[int]
    per_sample: list[int]
    fixed: list[int]
    is_float: list[bool]
    dtype_bytes: list[int]  # 0 for "float" (decided by the precision)
    base: list[int]
    last_use: dict[int, int]
    pinned: frozenset[int]
    weight_numel: list[int]
    trainable_numel: list[int]


def _structure(trace: ForwardTrace) -> _Structure:
    key = len(trace.calls), len(trace.tensors)
    hit = trace.cache.get("structure")
    if hit is not None and hit[0] == key:
        st: _Structure = hit[1]
        return st
    tensors = trace.tensors
    root = [trace.root(t.id) for t in tensors]
    per_sample, fixed = [], []
    for t in tensors:
        a, b = t.numel()
        per_sample.append(a)
        fixed.append(b)
    last_use: dict[int, int] = {}
    for i, c in enumerate(trace.calls):
        for tid in c.inputs:
            last_use[root[tid]] = i
        for tid in c.outputs:
            last_use.setdefault(root[tid], i)
    weights, trainable = _param_numels(trace)
    st = _Structure(
        root=root,
        per_sample=per_sample,
        fixed=fixed,
        is_float=[t.is_float for t in tensors],
        dtype_bytes=[0 if t.dtype == "float" else DTYPE_BYTES.get(t.dtype, 4) for t in tensors],
        base=[-1 if t.base is None else t.base for t in tensors],
        last_use=last_use,
        pinned=frozenset(root[t] for t in (*trace.inputs, *trace.outputs)),
        weight_numel=weights,
        trainable_numel=trainable,
    )
    trace.cache["structure"] = (key, st)
    return st


def simulate(
    trace: ForwardTrace,
    batch: int,
    precision: str | Precision = "fp32",
    *,
    device: str = "cuda",
    train: bool = True,
    inputs_require_grad: bool = False,
) -> StepProfile:
    """Walk one training (or, ``train=False``, ``no_grad`` eval) step at ``batch``.

    ``inputs_require_grad``: the float model inputs require grad (tests of single ops; data
    batches do not). Results are memoised on the trace (a trace is built, then only read)."""
    prec = precision if isinstance(precision, Precision) else Precision.parse(precision)
    st = _structure(trace)
    memo_key = ("sim", batch, prec, device, train, inputs_require_grad)
    memo = trace.cache.get(memo_key)
    if memo is not None and memo[0] is st:
        prof_memo: StepProfile = memo[1]
        return prof_memo
    prof = _walk(trace, st, batch, prec, device, train, inputs_require_grad)
    trace.cache[memo_key] = (st, prof)
    return prof


def step_events(
    trace: ForwardTrace, batch: int, precision: str | Precision = "fp32", *, train: bool = True
) -> tuple[StepProfile, list[tuple[int, int]]]:
    """The walk's allocations ``(key, bytes)`` and frees ``(key, 0)`` in order, for the
    caching-allocator model in memory.py (parameter gradients have keys >= PGRAD_KEY)."""
    prec = precision if isinstance(precision, Precision) else Precision.parse(precision)
    events: list[tuple[int, int]] = []
    prof = _walk(trace, _structure(trace), batch, prec, "cuda", train, False, events)
    return prof, events


def _walk(
    trace: ForwardTrace,
    st: _Structure,
    batch: int,
    prec: Precision,
    device: str,
    train: bool,
    inputs_require_grad: bool,
    events: list[tuple[int, int]] | None = None,
) -> StepProfile:
    ctx = _Ctx(trace, batch, prec, device, {})
    # (key, bytes) allocations and (key, 0) frees, in order, for the caching-allocator model
    ev = events if events is not None else _NoEvents()
    tensors = trace.tensors
    calls = trace.calls
    n_calls = len(calls)
    prof = StepProfile()
    root = st.root
    is_float = st.is_float
    numel = [a * batch + b for a, b in zip(st.per_sample, st.fixed, strict=True)]
    ctx.sizes = numel
    fb = prec.float_bytes
    ac = prec.autocast_bytes
    # element size per tensor: fixed dtypes now, floats as the forward decides
    elem = [d or fb for d in st.dtype_bytes]
    ctx.elem = _ElemView(elem)  # type: ignore[assignment]
    last_use = st.last_use
    pinned = st.pinned
    call_weight_numel = st.weight_numel
    call_pgrad = [n * fb for n in st.trainable_numel]

    requires_grad = [False] * len(tensors)
    if inputs_require_grad:
        for tid in trace.inputs:
            requires_grad[tid] = is_float[tid]
    size: dict[int, int] = {}  # live storage root -> bytes
    live = 0
    for tid in trace.inputs:
        b = numel[tid] * elem[tid]
        size[root[tid]] = b
        live += b
        ev.append((root[tid], b))
    prof.inputs = live
    # saved storages: root (or a synthetic negative key for extras) -> [bytes, earliest saver]
    saved: dict[int, list[int]] = {}
    extra_key = -1
    costs: list[OpCost] = []
    ckpt_saved: dict[int, int] = {}  # checkpoint region -> bytes recomputed in backward
    ckpt_first: dict[int, int] = {}
    ckpt_roots: dict[int, set[int]] = {}
    ckpt_made: dict[int, set[int]] = {}
    eval_peak = live
    fwd_peak = 0
    fwd_at = bwd_at = -1
    largest = largest_dense = largest_dense_gi = largest_mm = 0
    cast_compute: dict[int, int] = {}  # call -> element size its autocast-cast inputs got
    uses_matmul = uses_conv = False

    for i, c in enumerate(calls):
        cost = op_cost(c, ctx)
        costs.append(cost)
        if not cost.known and c.op not in prof.unknown_ops:
            prof.unknown_ops.append(c.op)
        uses_matmul = uses_matmul or cost.matmul
        uses_conv = uses_conv or cost.conv
        ins = c.inputs
        outs = c.outputs
        # element size this op computes in: the widest float input, or autocast's choice
        compute = 0
        rg = call_pgrad[i] > 0
        for t in ins:
            if is_float[t] and elem[t] > compute:
                compute = elem[t]
            if requires_grad[t]:
                rg = True
        if cost.stops_grad:
            rg = False
        if not compute:
            compute = fb
        cast_bytes = 0
        casts: dict[int, int] | None = None  # input position -> bytes of the cast copy
        if ac is not None:
            op = c.op
            lowp = op in LOWER_PRECISION_OPS
            if lowp:
                compute = ac
            elif op in FP32_OPS or cost.compute_bytes == 4:
                compute = 4
            for k, t in enumerate(ins):
                if is_float[t] and elem[t] != compute:
                    if casts is None:
                        casts = {}
                    casts[k] = numel[t] * compute
                    cast_bytes += casts[k]
            if casts:
                cast_compute[i] = compute
            if lowp and call_weight_numel[i]:
                copies = call_weight_numel[i] * ac
                prof.autocast_weight_copies += copies
                # the cached copy of the weight is what the op saves for its backward
                saved[extra_key] = [copies, i]
                ev.append((extra_key, copies))
                extra_key -= 1
                live += copies
        out_elem = cost.out_bytes or compute
        step_new = 0
        for t in outs:
            if is_float[t]:
                bt = st.base[t]
                elem[t] = elem[bt] if bt >= 0 else out_elem
            requires_grad[t] = rg and is_float[t]
            r = root[t]
            if r not in size:
                b = numel[t] * elem[t]
                size[r] = b
                step_new += b
                ev.append((r, b))
        if casts:
            for k, b in casts.items():
                ev.append((_CAST + i * 16 + k, b))
        if cost.fwd_temp:
            ev.append((_TEMP, cost.fwd_temp))
            ev.append((_TEMP, 0))
        extras_bytes = 0
        if train:
            for _, b in cost.extras:
                extras_bytes += b
        during = live + step_new + cast_bytes + extras_bytes + cost.fwd_temp
        if during > fwd_peak:
            fwd_peak, fwd_at = during, i
            prof.fwd_peak_transient = during - live
        live += step_new
        if live + cast_bytes + cost.fwd_temp > eval_peak:
            eval_peak = live + cast_bytes + cost.fwd_temp
        # record what is saved
        if train and rg:
            if c.checkpoint is None:
                for k in cost.saves_inputs:
                    if k >= len(ins):
                        continue
                    if casts and k in casts:  # the cast copy is what the op keeps
                        saved[extra_key] = [casts.pop(k), i]
                        live += saved[extra_key][0]
                        ev.append((_CAST + i * 16 + k, 0))
                        ev.append((extra_key, saved[extra_key][0]))
                        extra_key -= 1
                        continue
                    r = root[ins[k]]
                    sv = saved.get(r)
                    if sv is None:
                        saved[r] = [size.get(r, 0), i]
                    elif i < sv[1]:
                        sv[1] = i
                for k in cost.saves_outputs:
                    if k < len(outs):
                        r = root[outs[k]]
                        if r not in saved:
                            saved[r] = [size.get(r, 0), i]
                for _, b in cost.extras:
                    saved[extra_key] = [b, i]
                    ev.append((extra_key, b))
                    extra_key -= 1
                    live += b
            else:
                # checkpoint: keep only the region's inputs; the rest is recomputed in backward
                reg = c.checkpoint
                ckpt_first.setdefault(reg, i)
                region_roots = ckpt_roots.setdefault(reg, set())
                made = ckpt_made.setdefault(reg, set())
                kept = [root[outs[k]] for k in cost.saves_outputs if k < len(outs)]
                kept += [root[ins[k]] for k in cost.saves_inputs if k < len(ins)]
                recomputed = extras_bytes
                for r in kept:
                    if r not in region_roots and r not in saved:
                        region_roots.add(r)
                        recomputed += size.get(r, 0)
                ckpt_saved[reg] = ckpt_saved.get(reg, 0) + recomputed
                for t in ins:
                    if t not in made:
                        r = root[t]
                        if r not in saved:
                            saved[r] = [size.get(r, 0), i]
                made.update(outs)
        if casts:
            for k in casts:
                ev.append((_CAST + i * 16 + k, 0))
        # free what is dead after this call (not saved, not held by the loop)
        for t in (*ins, *outs):
            r = root[t]
            if r in size and last_use.get(r, -1) <= i and r not in pinned and r not in saved:
                live -= size.pop(r)
                ev.append((r, 0))
        if step_new > largest:
            largest = step_new
        if cost.dense_conv and step_new > largest_dense:
            largest_dense = step_new
        if cost.dense_conv and ins and requires_grad[ins[0]] and step_new > largest_dense_gi:
            largest_dense_gi = step_new
        if cost.matmul and not cost.conv and step_new > largest_mm:
            largest_mm = step_new

    prof.fwd_peak = fwd_peak
    prof.largest_activation = largest
    prof.largest_dense_conv = largest_dense
    prof.largest_dense_conv_grad_input = largest_dense_gi
    prof.largest_matmul = largest_mm
    prof.uses_matmul, prof.uses_conv = uses_matmul, uses_conv
    if fwd_at >= 0:
        prof.fwd_peak_at = _label(calls[fwd_at], fwd_at)
    prof.eval_peak = eval_peak
    prof.saved = live
    prof.saved_for_backward = sum(v[0] for v in saved.values())
    end_forward = live
    if not train:
        prof.fwd_peak = max(prof.fwd_peak, eval_peak)
        return prof

    # ---- backward --------------------------------------------------------------------------
    by_call: dict[int, list[int]] = {}
    for key, (_, first) in saved.items():
        by_call.setdefault(first, []).append(key)
    # gradient keys: a view's gradient is its base's (reshaping the gradient costs nothing)
    gkey = list(range(len(tensors)))
    for c, cost in zip(calls, costs, strict=True):
        if cost.grad_alias and c.inputs and len(c.outputs) == 1:
            t = c.outputs[0]
            if numel[c.inputs[0]] == numel[t]:
                gkey[t] = gkey[c.inputs[0]]
    grads: dict[int, int] = {}
    live = end_forward
    pgrads = 0
    bwd_peak = end_forward
    prof.bwd_peak_at = "end of forward"
    done_ckpt: set[int] = set()
    for i in range(n_calls - 1, -1, -1):
        c = calls[i]
        cost = costs[i]
        if c.checkpoint is not None and c.checkpoint not in done_ckpt:
            done_ckpt.add(c.checkpoint)
            live += ckpt_saved.get(c.checkpoint, 0)  # recomputed forward of the region
            ev.append((_CKPT + c.checkpoint, ckpt_saved.get(c.checkpoint, 0)))
        flows = False
        for t in c.outputs:
            if requires_grad[t]:
                flows = True
                break
        if not flows:
            # nothing flows back through this call; release what it saved
            for key in by_call.get(i, ()):
                live -= saved[key][0]
                ev.append((key, 0))
            continue
        transient = cost.bwd_temp
        cc = cast_compute.get(i)
        for t in c.inputs:
            if not requires_grad[t]:
                continue
            g = gkey[t]
            if cost.grad_alias and (c.op in _SLICE_GRADS or numel[t] == numel[c.outputs[0]]):
                grads.setdefault(g, 0)  # shares the incoming gradient's buffer
                continue
            own = elem[t]
            b = numel[t] * own
            if cc is not None and cc != own:
                # the gradient comes out in the op's autocast dtype; ToCopyBackward casts it
                # back afterwards. Widening (fp16 logits into fp32 log_softmax): the fp32
                # gradient is what exists at the op (gpu-truth AMP language models peak there);
                # narrowing (fp32 input into an fp16 matmul): both exist at the cast.
                transient += numel[t] * (cc - own if cc > own else cc)
            if grads.get(g):
                transient += b  # a second consumer: accumulated into the existing buffer
            else:
                grads[g] = b  # lives until the call that produced the tensor has run
                live += b
                ev.append((_GRAD + g, b))
        pg = call_pgrad[i]
        pgrads += pg
        live += pg
        if pg:
            ev.append((_PGRAD + i, pg))
        # fp16/bf16 weight gradients cast back to the fp32 parameters' dtype (autocast)
        if ac is not None and c.op in LOWER_PRECISION_OPS:
            transient += call_weight_numel[i] * ac
        if live + transient > bwd_peak:
            bwd_peak, bwd_at = live + transient, i
            prof.bwd_peak_transient, prof.bwd_peak_param_grads = transient, pgrads
        if transient:
            ev.append((_TEMP, transient))
            ev.append((_TEMP, 0))
        # the gradients of this call's outputs are consumed
        for t in c.outputs:
            if gkey[t] == t and t in grads:
                live -= grads.pop(t)
                ev.append((_GRAD + t, 0))
        for key in by_call.get(i, ()):
            live -= saved[key][0]
            ev.append((key, 0))
        if c.checkpoint is not None and ckpt_first.get(c.checkpoint) == i:
            live -= ckpt_saved.get(c.checkpoint, 0)
            ev.append((_CKPT + c.checkpoint, 0))
    prof.bwd_peak = bwd_peak
    if bwd_at >= 0:
        prof.bwd_peak_at = _label(calls[bwd_at], bwd_at)
    prof.param_grads = pgrads
    prof.held_after_backward = sum(size.get(root[t], 0) for t in trace.outputs) + prof.inputs
    return prof


# event keys of the non-storage blocks (storage roots are tensor ids >= 0, saved extras < 0)
_TEMP = 1 << 40
_CAST = 2 << 40
_CKPT = 3 << 40
_GRAD = 4 << 40
_PGRAD = 5 << 40
PGRAD_KEY = _PGRAD


class _NoEvents:
    def append(self, item: tuple[int, int]) -> None:
        pass


class _ElemView:
    """``ctx.elem.get(tid, default)`` for rules, over the walk's element-size list."""

    def __init__(self, elem: list[int]) -> None:
        self._elem = elem

    def get(self, tid: int, default: int = 4) -> int:
        return self._elem[tid] or default
