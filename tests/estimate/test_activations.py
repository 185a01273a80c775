"""The saved-for-backward rules of gpulens.estimate.activations, checked against torch (CPU).

For each layer/op kind: run the torch module forward under ``saved_tensors_hooks`` and sum the
unique storages it saves (parameters excluded: they are resident anyway), then compare with
what the rule predicts for the same call in a trace (``device="cpu"``: where CPU kernels save
something else than CUDA's, e.g. dropout's float noise vs CUDA's bool mask, the rule knows).
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from gpulens.estimate.activations import simulate  # noqa: E402
from gpulens.estimate.graph import TraceBuilder, sequential_trace  # noqa: E402
from gpulens.estimate.layers import LayerInfo, build  # noqa: E402


def torch_saved_bytes(fn: Any, *inputs: Any, params: Any = ()) -> int:
    """Bytes of the unique non-parameter storages autograd saves during ``fn(*inputs)``."""
    skip = {p.untyped_storage()._cdata for p in params}
    storages: dict[int, int] = {}
    keep: list[Any] = []

    def pack(t: Any) -> Any:
        s = t.untyped_storage()
        keep.append(t)  # keep storages alive so their ids are never reused
        if s._cdata not in skip:
            storages[s._cdata] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*inputs)
    return sum(storages.values())


def rule_saved_bytes(
    layers: list[LayerInfo], sample: tuple[int, ...], batch: int, dtype: str = "float"
) -> int:
    trace = sequential_trace(layers, sample, input_dtype=dtype, loss=None)
    prof = simulate(trace, batch, "fp32", device="cpu", inputs_require_grad=True)
    return prof.saved_for_backward


CASES: list[tuple[str, Any, list[LayerInfo], tuple[int, ...]]] = [
    ("linear", lambda: nn.Linear(32, 16), [build("Linear", (32, 16))], (32,)),
    ("linear3d", lambda: nn.Linear(32, 16), [build("Linear", (32, 16))], (7, 32)),
    (
        "conv2d",
        lambda: nn.Conv2d(3, 8, 3, padding=1),
        [build("Conv2d", (3, 8, 3), {"padding": 1})],
        (3, 12, 12),
    ),
    (
        "conv1d",
        lambda: nn.Conv1d(2, 4, 5, stride=2),
        [build("Conv1d", (2, 4, 5), {"stride": 2})],
        (2, 40),
    ),
    (
        "convT2d",
        lambda: nn.ConvTranspose2d(4, 2, 2, stride=2),
        [build("ConvTranspose2d", (4, 2, 2), {"stride": 2})],
        (4, 6, 6),
    ),
    ("bn2d", lambda: nn.BatchNorm2d(6), [build("BatchNorm2d", (6,))], (6, 5, 5)),
    ("bn1d", lambda: nn.BatchNorm1d(6), [build("BatchNorm1d", (6,))], (6, 20)),
    ("layernorm", lambda: nn.LayerNorm(16), [build("LayerNorm", (16,))], (9, 16)),
    ("groupnorm", lambda: nn.GroupNorm(2, 8), [build("GroupNorm", (2, 8))], (8, 4, 4)),
    ("relu", lambda: nn.ReLU(), [build("ReLU")], (10, 3)),
    ("gelu", lambda: nn.GELU(), [build("GELU")], (10, 3)),
    ("silu", lambda: nn.SiLU(), [build("SiLU")], (10, 3)),
    ("tanh", lambda: nn.Tanh(), [build("Tanh")], (10, 3)),
    ("sigmoid", lambda: nn.Sigmoid(), [build("Sigmoid")], (10, 3)),
    ("leaky", lambda: nn.LeakyReLU(0.1), [build("LeakyReLU", (0.1,))], (10, 3)),
    ("dropout", lambda: nn.Dropout(0.3), [build("Dropout", (0.3,))], (10, 3)),
    ("maxpool2d", lambda: nn.MaxPool2d(2), [build("MaxPool2d", (2,))], (3, 8, 8)),
    ("avgpool2d", lambda: nn.AvgPool2d(2), [build("AvgPool2d", (2,))], (3, 8, 8)),
    ("gap", lambda: nn.AdaptiveAvgPool2d(1), [build("AdaptiveAvgPool2d", (1,))], (3, 8, 8)),
    ("adaptive2", lambda: nn.AdaptiveAvgPool2d(2), [build("AdaptiveAvgPool2d", (2,))], (3, 8, 8)),
    ("softmax", lambda: nn.Softmax(dim=-1), [build("Softmax", (), {"dim": -1})], (5, 7)),
    ("logsoftmax", lambda: nn.LogSoftmax(dim=-1), [build("LogSoftmax", (), {"dim": -1})], (5, 7)),
    (
        "linear_relu_inplace",
        lambda: nn.Sequential(nn.Linear(12, 12), nn.ReLU(inplace=True)),
        [build("Linear", (12, 12)), build("ReLU", (), {"inplace": True})],
        (12,),
    ),
    (
        "conv_bn_relu_inplace_pool",
        lambda: nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.MaxPool2d(2)
        ),
        [
            build("Conv2d", (3, 4, 3), {"padding": 1}),
            build("BatchNorm2d", (4,)),
            build("ReLU", (), {"inplace": True}),
            build("MaxPool2d", (2,)),
        ],
        (3, 8, 8),
    ),
    (
        "mlp_flatten",
        lambda: nn.Sequential(
            nn.Flatten(), nn.Linear(48, 20), nn.GELU(), nn.Dropout(0.1), nn.Linear(20, 5)
        ),
        [
            build("Flatten"),
            build("Linear", (48, 20)),
            build("GELU"),
            build("Dropout", (0.1,)),
            build("Linear", (20, 5)),
        ],
        (3, 4, 4),
    ),
]


@pytest.mark.parametrize("batch", [2, 5])
@pytest.mark.parametrize(("name", "make", "layers", "sample"), CASES, ids=[c[0] for c in CASES])
def test_rule_matches_torch(
    name: str, make: Any, layers: list[LayerInfo], sample: tuple[int, ...], batch: int
) -> None:
    torch.manual_seed(0)
    module = make().train()
    x = torch.randn(batch, *sample, requires_grad=True)
    expected = torch_saved_bytes(
        module, x, params=list(module.parameters()) + list(module.buffers())
    )
    assert rule_saved_bytes(layers, sample, batch) == expected


@pytest.mark.parametrize("batch", [3, 8])
def test_embedding_saves_indices(batch: int) -> None:
    emb = nn.Embedding(50, 8)
    idx = torch.randint(0, 50, (batch, 11))
    expected = torch_saved_bytes(emb, idx, params=list(emb.parameters()))
    trace = sequential_trace([build("Embedding", (50, 8))], (11,), input_dtype="int64", loss=None)
    assert simulate(trace, batch, "fp32", device="cpu").saved_for_backward == expected


@pytest.mark.parametrize("batch", [2, 6])
def test_cross_entropy_saves_log_softmax_and_target(batch: int) -> None:
    lin = nn.Linear(10, 7)
    x = torch.randn(batch, 10, requires_grad=True)
    y = torch.randint(0, 7, (batch,))
    expected = torch_saved_bytes(
        lambda a, t: F.cross_entropy(lin(a), t), x, y, params=list(lin.parameters())
    )
    trace = sequential_trace([build("Linear", (10, 7))], (10,))
    prof = simulate(trace, batch, "fp32", device="cpu", inputs_require_grad=True)
    # x, log-softmax output, target; total_weight is a 0-dim float (4 bytes)
    assert prof.saved_for_backward == expected


@pytest.mark.parametrize(("b", "h", "s", "d"), [(2, 2, 16, 8), (3, 4, 33, 16)])
def test_sdpa_cpu_flash_saves_qkv_out_lse(b: int, h: int, s: int, d: int) -> None:
    q, k, v = (torch.randn(b, h, s, d, requires_grad=True) for _ in range(3))
    expected = torch_saved_bytes(lambda *a: F.scaled_dot_product_attention(*a), q, k, v)
    tb = TraceBuilder()
    ids = [tb.input((None, h, s, d), name=n) for n in "qkv"]
    tb.op("sdpa", ids, (None, h, s, d))
    prof = simulate(tb.finish(), b, "fp32", device="cpu", inputs_require_grad=True)
    assert prof.saved_for_backward == expected


def test_residual_add_and_cat_save_nothing() -> None:
    lin = nn.Linear(6, 6)
    x = torch.randn(4, 6, requires_grad=True)
    expected = torch_saved_bytes(
        lambda a: torch.cat([lin(a) + a, a], dim=1), x, params=list(lin.parameters())
    )
    tb = TraceBuilder()
    xi = tb.input((None, 6))
    y = tb.layer(build("Linear", (6, 6)), xi)
    tb.cat([tb.add(y, xi), xi], dim=1)
    prof = simulate(tb.finish(), 4, "fp32", device="cpu", inputs_require_grad=True)
    assert prof.saved_for_backward == expected  # only Linear's input


@pytest.mark.parametrize("batch", [2, 4])
def test_mha_self_attention_cpu(batch: int) -> None:
    """nn.MultiheadAttention, need_weights=False, no dropout: the CPU flash path keeps the
    input, the packed q/k/v copy, SDPA's output and log-sum-exp, and out_proj's input."""
    mha = nn.MultiheadAttention(16, 4, batch_first=True)
    x = torch.randn(batch, 10, 16, requires_grad=True)
    expected = torch_saved_bytes(
        lambda a: mha(a, a, a, need_weights=False)[0], x, params=list(mha.parameters())
    )
    layer = build("MultiheadAttention", (16, 4), {"batch_first": True})
    tb = TraceBuilder()
    xi = tb.input((None, 10, 16))
    tb.call("MultiheadAttention", [xi], [(None, 10, 16)], layer)
    prof = simulate(tb.finish(), batch, "fp32", device="cpu", inputs_require_grad=True)
    assert prof.saved_for_backward == pytest.approx(expected, rel=0.05)


def test_lstm_rule_is_cuda_only() -> None:
    """cuDNN's reserve space has no CPU counterpart (CPU LSTM saves per-step gates through
    autograd); the rule is marked unknown on CPU and fit to gpu-truth on CUDA."""
    trace = sequential_trace([build("LSTM", (8, 16), {"batch_first": True})], (5, 8), loss=None)
    assert simulate(trace, 2, "fp32", device="cpu").unknown_ops == ["LSTM"]
    assert simulate(trace, 2, "fp32", device="cuda").unknown_ops == []


def test_rnn_backward_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    """cuDNN's RNN backward workspace is transient at the RNN's backward: it raises that
    phase's peak by RNN_BWD_WORKSPACE_PER_STEP x hidden per (direction, step, sample), and
    leaves the forward and what is saved alone."""
    from gpulens.estimate import activations

    kw = {"batch_first": True, "bidirectional": True}

    def trace() -> Any:  # a fresh trace each time: simulate caches per trace
        return sequential_trace([build("GRU", (64, 128), kw)], (50, 64), loss=None)

    want = int(activations.RNN_BWD_WORKSPACE_PER_STEP * 128 * 2 * 50 * 32 * 4)
    assert want > 0
    with_ws = simulate(trace(), 32, "fp32", device="cuda")
    monkeypatch.setattr(activations, "RNN_BWD_WORKSPACE_PER_STEP", 0.0)
    without = simulate(trace(), 32, "fp32", device="cuda")
    assert with_ws.bwd_peak - without.bwd_peak == want
    assert with_ws.fwd_peak == without.fwd_peak and with_ws.saved == without.saved


@pytest.mark.parametrize(("batch", "norm_first"), [(2, False), (3, True)])
def test_transformer_encoder_layer_expansion(batch: int, norm_first: bool) -> None:
    """The builder's expansion of nn.TransformerEncoderLayer (training, dropout 0) keeps the
    same bytes as torch's own forward."""
    kw = {"dropout": 0.0, "batch_first": True, "norm_first": norm_first}
    layer = nn.TransformerEncoderLayer(32, 4, 64, **kw).train()
    x = torch.randn(batch, 9, 32, requires_grad=True)
    params = list(layer.parameters())
    expected = torch_saved_bytes(layer, x, params=params)
    info = build("TransformerEncoderLayer", (32, 4, 64), kw)
    tb = TraceBuilder()
    xi = tb.input((None, 9, 32))
    tb.module(info, xi)
    prof = simulate(tb.finish(), batch, "fp32", device="cpu", inputs_require_grad=True)
    assert prof.saved_for_backward == expected


def test_flatten_and_identity_are_free() -> None:
    trace = sequential_trace(
        [build("Identity"), build("Flatten"), build("Linear", (12, 3))], (3, 4), loss=None
    )
    assert [c.op for c in trace.calls] == ["Flatten", "Linear"]
    flat = trace.calls[0].outputs[0]
    assert trace.root(flat) == trace.inputs[0]


class _CausalSelfAttention(nn.Module):
    """nanoGPT's attention block, the most common hand-written transformer."""

    def __init__(self, c: int, h: int) -> None:
        super().__init__()
        self.c_attn = nn.Linear(c, 3 * c)
        self.c_proj = nn.Linear(c, c)
        self.h = h

    def forward(self, x: Any) -> Any:
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(c, dim=2)
        q = q.view(b, t, self.h, c // self.h).transpose(1, 2)
        k = k.view(b, t, self.h, c // self.h).transpose(1, 2)
        v = v.view(b, t, self.h, c // self.h).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return self.c_proj(y)


class _Block(nn.Module):
    def __init__(self, c: int, h: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(c)
        self.attn = _CausalSelfAttention(c, h)
        self.ln_2 = nn.LayerNorm(c)
        self.fc = nn.Linear(c, 4 * c)
        self.proj = nn.Linear(4 * c, c)

    def forward(self, x: Any) -> Any:
        x = x + self.attn(self.ln_1(x))
        return x + self.proj(F.gelu(self.fc(self.ln_2(x))))


def gpt_block_trace(c: int, h: int, t: int) -> Any:
    """What the reader emits for _Block.forward."""
    tb = TraceBuilder()
    x = tb.input((None, t, c))
    ln1, ln2 = build("LayerNorm", (c,)), build("LayerNorm", (c,))
    c_attn, c_proj = build("Linear", (c, 3 * c)), build("Linear", (c, c))
    fc, proj = build("Linear", (c, 4 * c)), build("Linear", (4 * c, c))
    qkv = tb.layer(c_attn, tb.layer(ln1, x))
    heads = []
    for _ in range(3):
        part = tb.op("split", [qkv], (None, t, c), view=True)
        part = tb.op("view", [part], (None, t, h, c // h), view=True)
        heads.append(tb.op("transpose", [part], (None, h, t, c // h), view=True))
    y = tb.op("sdpa", heads, (None, h, t, c // h), is_causal=True)
    y = tb.op("transpose", [y], (None, t, h, c // h), view=True)
    y = tb.op("contiguous", [y])
    y = tb.op("view", [y], (None, t, c), view=True)
    x = tb.add(x, tb.layer(c_proj, y))
    m = tb.op("gelu", [tb.layer(fc, tb.layer(ln2, x))])
    x = tb.add(x, tb.layer(proj, m))
    return tb.finish([ln1, ln2, c_attn, c_proj, fc, proj])


@pytest.mark.parametrize(("batch", "t"), [(2, 16), (3, 33)])
def test_gpt_block(batch: int, t: int) -> None:
    block = _Block(32, 4).train()
    x = torch.randn(batch, t, 32, requires_grad=True)
    expected = torch_saved_bytes(block, x, params=list(block.parameters()))
    prof = simulate(
        gpt_block_trace(32, 4, t), batch, "fp32", device="cpu", inputs_require_grad=True
    )
    assert prof.saved_for_backward == expected


class _BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock (in-place ReLU, ``out += identity``)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: Any) -> Any:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.down is not None:
            identity = self.down(x)
        out += identity
        return self.relu(out)


@pytest.mark.parametrize(("batch", "cin", "cout", "stride"), [(2, 8, 8, 1), (3, 8, 16, 2)])
def test_resnet_basic_block(batch: int, cin: int, cout: int, stride: int) -> None:
    block = _BasicBlock(cin, cout, stride).train()
    x = torch.randn(batch, cin, 12, 12, requires_grad=True)
    params = list(block.parameters()) + list(block.buffers())
    expected = torch_saved_bytes(block, x, params=params)
    tb = TraceBuilder()
    xi = tb.input((None, cin, 12, 12))
    conv1 = build("Conv2d", (cin, cout, 3, stride, 1), {"bias": False})
    relu = build("ReLU", (), {"inplace": True})
    out = tb.layer(relu, tb.layer(build("BatchNorm2d", (cout,)), tb.layer(conv1, xi)))
    conv2 = build("Conv2d", (cout, cout, 3, 1, 1), {"bias": False})
    out = tb.layer(build("BatchNorm2d", (cout,)), tb.layer(conv2, out))
    identity = xi
    if stride != 1 or cin != cout:
        down = build("Conv2d", (cin, cout, 1, stride), {"bias": False})
        identity = tb.layer(build("BatchNorm2d", (cout,)), tb.layer(down, xi))
    out = tb.add(out, identity, inplace=True)
    tb.layer(relu, out)
    prof = simulate(tb.finish(), batch, "fp32", device="cpu", inputs_require_grad=True)
    assert prof.saved_for_backward == expected


@pytest.mark.parametrize("batch", [2, 3])
def test_manual_attention_with_scale_and_mask(batch: int) -> None:
    """softmax(q k^T / sqrt(d) masked) @ v, written out by hand."""
    t, d = 7, 8
    q, k, v = (torch.randn(batch, t, d, requires_grad=True) for _ in range(3))
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool))

    def attn(q: Any, k: Any, v: Any) -> Any:
        s = (q @ k.transpose(-2, -1)) / d**0.5
        return torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1) @ v

    expected = torch_saved_bytes(attn, q, k, v)
    tb = TraceBuilder()
    qi, ki, vi = (tb.input((None, t, d), name=n) for n in "qkv")
    m = tb.tensor((t, t), batch_dim=None, dtype="bool", name="mask")
    tb.trace.inputs.append(m)
    kt = tb.op("transpose", [ki], (None, d, t), view=True)
    s = tb.op("div", [tb.op("matmul", [qi, kt], (None, t, t))])
    p = tb.op("softmax", [tb.op("masked_fill", [s, m])], dim=-1)
    tb.op("matmul", [p, vi], (None, t, d))
    prof = simulate(tb.finish(), batch, "fp32", device="cpu", inputs_require_grad=True)
    # torch keeps ~mask (a fresh bool tensor) where the trace has the mask itself: same bytes
    assert prof.saved_for_backward == expected


# --- the largest dense-convolution and matmul outputs (they set reserved bytes, memory.py) ---


@pytest.mark.parametrize(
    ("kernel", "groups", "dense"),
    [(3, 1, True), ((1, 3), 1, True), (1, 1, False), (3, 8, False), (3, 16, False)],
)
def test_largest_dense_conv_output(kernel: Any, groups: int, dense: bool) -> None:
    """A convolution with groups 1 and a kernel of more than one element is dense (cuDNN's
    workspace-hungry algorithms); 1x1 and grouped/depthwise ones are not. The tracked size is
    the output torch makes for the same call."""
    from gpulens.estimate.activations import Precision

    pad = 1 if kernel == 3 else (0, 1) if kernel == (1, 3) else 0
    cfg = {"padding": pad, "groups": groups}
    seq = build("Sequential", (build("Conv2d", (16, 16, kernel), cfg), build("ReLU")))
    prof = simulate(sequential_trace(seq, (16, 20, 20)), 4, Precision.parse("fp32"), train=True)
    out = nn.Conv2d(16, 16, kernel, padding=pad, groups=groups)(torch.zeros(4, 16, 20, 20))
    assert prof.uses_conv
    assert prof.largest_dense_conv == (out.nbytes if dense else 0)
    assert prof.largest_activation >= out.nbytes


def test_largest_matmul_output_is_the_linear_output() -> None:
    """Linear outputs count as matmul outputs; a conv's output does not."""
    from gpulens.estimate.activations import Precision

    seq = build("Sequential", (
        build("Conv2d", (3, 8, 3), {"padding": 1}), build("Flatten"),
        build("Linear", (8 * 10 * 10, 4096)), build("ReLU"), build("Linear", (4096, 10)),
    ))  # fmt: skip
    prof = simulate(sequential_trace(seq, (3, 10, 10)), 8, Precision.parse("fp32"), train=True)
    ref = nn.Linear(800, 4096)(torch.zeros(8, 800))
    assert prof.largest_matmul == ref.nbytes
    assert prof.largest_dense_conv == 8 * 8 * 10 * 10 * 4
