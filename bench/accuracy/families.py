"""The gpu-truth model families as estimator inputs.

BRIDGE: until the static reader turns a script's ``nn.Module`` into a
:class:`~gpulens.estimate.graph.ForwardTrace`, the custom families of
``../shared/gpu-truth/calib.py`` are built here by hand with the layer catalog and the graph
builders, mirroring their ``forward()`` call by call. The same models are written as ordinary
training scripts in ``scripts/`` so the reader can take over once it reads forwards; then this
file should shrink to the torchvision table lookup. Nothing here knows a measured number: the
estimator sees only the architecture, the batch size, the precision and the optimizer.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server"))

from gpulens.estimate.graph import ForwardTrace, TraceBuilder, sequential_trace
from gpulens.estimate.layers import LayerInfo, build
from gpulens.estimate.memory import ModelCosts, torchvision_costs


def mlp(
    depth: int,
    width: int,
    d_in: int = 784,
    d_out: int = 10,
    act: str = "ReLU",
    p_drop: float = 0.0,
    sample: tuple[int, ...] = (1, 28, 28),
) -> ForwardTrace:
    layers: list[LayerInfo] = [build("Flatten")]
    d = d_in
    for _ in range(depth):
        layers += [build("Linear", (d, width)), build(act)]
        if p_drop:
            layers.append(build("Dropout", (p_drop,)))
        d = width
    layers.append(build("Linear", (d, d_out)))
    return sequential_trace(build("Sequential", tuple(layers)), sample)


def cifar_cnn(bn: bool) -> ForwardTrace:
    def block(cin: int, cout: int) -> list[LayerInfo]:
        mods = [build("Conv2d", (cin, cout, 3), {"padding": 1})]
        if bn:
            mods.append(build("BatchNorm2d", (cout,)))
        return [*mods, build("ReLU", (), {"inplace": True})]

    seq = build("Sequential", (
        *block(3, 64), *block(64, 64), build("MaxPool2d", (2,)),
        *block(64, 128), *block(128, 128), build("MaxPool2d", (2,)),
        *block(128, 256), build("AdaptiveAvgPool2d", (1,)), build("Flatten"),
        build("Linear", (256, 10)),
    ))  # fmt: skip
    return sequential_trace(seq, (3, 32, 32))


def tiny_unet(c: int = 32) -> ForwardTrace:
    enc1 = build(
        "Sequential",
        (
            build("Conv2d", (3, c, 3), {"padding": 1}),
            build("ReLU"),
            build("Conv2d", (c, c, 3), {"padding": 1}),
            build("ReLU"),
        ),
    )
    enc2 = build("Sequential", (build("Conv2d", (c, 2 * c, 3), {"padding": 1}), build("ReLU")))
    up = build("ConvTranspose2d", (2 * c, c, 2), {"stride": 2})
    dec = build(
        "Sequential",
        (build("Conv2d", (2 * c, c, 3), {"padding": 1}), build("ReLU"), build("Conv2d", (c, 1, 1))),
    )
    b = TraceBuilder()
    x = b.input((None, 3, 128, 128))

    def run(seq: LayerInfo, h: int) -> int:
        for _, m in seq.children:
            h = b.layer(m, h)
        return h

    e1 = run(enc1, x)
    s = b.shape(e1)
    pooled = b.op("max_pool2d", [e1], (s[0], s[1], s[2] // 2, s[3] // 2))  # type: ignore[operator]
    e2 = run(enc2, pooled)
    out = run(dec, b.cat([b.layer(up, e2), e1], dim=1))
    b.output(out)
    y = b.input(b.shape(out), name="y")
    b.op("bce_with_logits", [out, y], (), name="loss")
    return b.finish([enc1, enc2, up, dec])


def encoder_lm(
    vocab: int = 8192,
    d: int = 512,
    heads: int = 8,
    ff: int = 2048,
    layers: int = 6,
    seq: int = 256,
    ckpt: bool = False,
) -> ForwardTrace:
    tok = build("Embedding", (vocab, d))
    pos = build("Embedding", (seq, d))
    proto = build("TransformerEncoderLayer", (d, heads, ff), {"dropout": 0.1, "batch_first": True})
    enc = build("TransformerEncoder", (proto, layers), {"enable_nested_tensor": False})
    norm = build("LayerNorm", (d,))
    head = build("Linear", (d, vocab))
    b = TraceBuilder()
    idx = b.input((None, seq), dtype="int64")
    p = b.tensor((seq,), batch_dim=None, dtype="int64", name="pos")
    b._call("arange", [], [p])
    h = b.add(b.layer(tok, idx, name="tok"), b.layer(pos, p, name="pos"))
    for name, layer in dict(enc.children)["layers"].children:
        if ckpt:
            b.begin_checkpoint()
        h = b.transformer_encoder_layer(layer, h, name=f"enc.layers.{name}")
        if ckpt:
            b.end_checkpoint()
    out = b.layer(head, b.layer(norm, h, name="norm"), name="head")
    b.output(out)
    logits = b.view(out, b.shape(out), op="reshape")
    y = b.input((None, seq), dtype="int64", name="y")
    b.cross_entropy(logits, y)
    return b.finish([tok, pos, enc, norm, head])


def lstm_lm(
    vocab: int = 10000, emb: int = 256, hidden: int = 512, layers: int = 2, seq: int = 64
) -> ForwardTrace:
    e = build("Embedding", (vocab, emb))
    rnn = build("LSTM", (emb, hidden, layers), {"batch_first": True, "dropout": 0.2})
    head = build("Linear", (hidden, vocab))
    b = TraceBuilder()
    idx = b.input((None, seq), dtype="int64")
    out = b.module(rnn, b.layer(e, idx, name="emb"), name="rnn")[0]
    logits = b.layer(head, out, name="head")
    b.output(logits)
    y = b.input((None, seq), dtype="int64", name="y")
    b.cross_entropy(b.view(logits, b.shape(logits), op="reshape"), y)
    return b.finish([e, rnn, head])


def gru_classifier(
    vocab: int = 30000, emb: int = 300, hidden: int = 256, seq: int = 128
) -> ForwardTrace:
    e = build("Embedding", (vocab, emb))
    rnn = build("GRU", (emb, hidden, 1), {"batch_first": True, "bidirectional": True})
    head = build("Linear", (2 * hidden, 2))
    b = TraceBuilder()
    idx = b.input((None, seq), dtype="int64")
    out = b.module(rnn, b.layer(e, idx, name="emb"), name="rnn")[0]
    last = b.view(out, (None, 2 * hidden), op="select")  # out[:, -1]
    logits = b.layer(head, last, name="head")
    b.output(logits)
    y = b.input((None,), dtype="int64", name="y")
    b.cross_entropy(logits, y)
    return b.finish([e, rnn, head])


def conv_audio() -> ForwardTrace:
    seq = build("Sequential", (
        build("Conv1d", (1, 64, 80), {"stride": 4}), build("BatchNorm1d", (64,)), build("ReLU"),
        build("MaxPool1d", (4,)),
        build("Conv1d", (64, 128, 3)), build("BatchNorm1d", (128,)), build("ReLU"),
        build("MaxPool1d", (4,)),
        build("Conv1d", (128, 256, 3)), build("BatchNorm1d", (256,)), build("ReLU"),
        build("AdaptiveAvgPool1d", (1,)), build("Flatten"), build("Linear", (256, 35)),
    ))  # fmt: skip
    return sequential_trace(seq, (1, 16000))


def torchvision(name: str) -> ModelCosts:
    """A torchvision model at its table input size (what calib.py trains)."""
    costs = torchvision_costs(name)
    if costs is None:
        raise KeyError(name)
    return costs


CUSTOM = {
    "mlp_d2_w256": lambda: mlp(2, 256),
    "mlp_d4_w1024": lambda: mlp(4, 1024),
    "mlp_d8_w4096_gelu_drop": lambda: mlp(
        8, 4096, d_in=3072, act="GELU", p_drop=0.1, sample=(3, 32, 32)
    ),
    "cifar_cnn_bn": lambda: cifar_cnn(True),
    "cifar_cnn_nobn": lambda: cifar_cnn(False),
    "tiny_unet_128": lambda: tiny_unet(32),
    "encoder_lm_d512_l6_s256": lambda: encoder_lm(seq=256),
    "encoder_lm_d256_l4_s512": lambda: encoder_lm(d=256, heads=4, ff=1024, layers=4, seq=512),
    "encoder_lm_d512_l6_s256_ckpt": lambda: encoder_lm(seq=256, ckpt=True),
    "lstm_lm_h512_l2_s64": lambda: lstm_lm(),
    "gru_bi_h256_s128": lambda: gru_classifier(),
    "conv1d_audio_16k": lambda: conv_audio(),
}


def model_for(family: str) -> ForwardTrace | ModelCosts:
    if family in CUSTOM:
        return CUSTOM[family]()
    return torchvision(family)
