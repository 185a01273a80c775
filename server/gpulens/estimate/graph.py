"""One training forward pass, as the memory estimator needs it (pure data, no torch).

A :class:`ForwardTrace` is the ordered list of :class:`Call` s a model's ``forward()`` makes
(leaf module calls with their catalog :class:`~gpulens.estimate.layers.LayerInfo`, functional ops
such as ``F.relu``, ``torch.cat``, ``+``, ``view``, ``matmul``, ``F.scaled_dot_product_attention``)
and the loss, over :class:`TensorNode` s with shapes. The batch dimension is symbolic: each tensor
records which dimension is the batch (``batch_dim``), so one trace answers for every batch size
and memory stays an exact linear function of it.

Aliasing is explicit: a view (``view``/``reshape`` of a contiguous tensor, ``flatten``,
``transpose``, slicing) or an in-place op (``ReLU(inplace=True)``, ``x += y``) produces a tensor
whose ``base`` is the tensor it shares storage with, so the estimator counts that storage once.

Where the forward could not be followed (an unknown layer, an unresolved shape), ``complete`` is
False and ``reasons`` says why; the estimate then says it is partial instead of guessing.

The static reader builds traces with :class:`TraceBuilder`; :func:`sequential_trace` is the
plain-chain case an ``nn.Sequential`` gives (also used by tests and the accuracy bench).

What the reader should emit (``activations.known_ops()`` lists every op with a memory rule):

* a leaf module call: ``builder.module(layer_info, *inputs)`` (``Sequential``,
  ``TransformerEncoder`` and ``TransformerEncoderLayer`` expand themselves; ``Flatten`` is a
  view, ``Identity`` and ``Dropout(p=0)`` are nothing);
* functional ops by their torch name without the ``F.``/``torch.`` prefix: ``relu``, ``gelu``,
  ``silu``, ``softmax``, ``log_softmax``, ``dropout`` (``p=``), ``layer_norm``
  (``normalized_shape=``), ``conv2d``, ``linear``, ``matmul``/``bmm``, ``mul``, ``cat``,
  ``max_pool2d``, ``adaptive_avg_pool2d``, ``interpolate``, ``embedding``,
  ``sdpa`` (``F.scaled_dot_product_attention``; q, k, v inputs), ``cross_entropy``
  (logits, target) or the builder's two-call ``cross_entropy()``, ``mse_loss``,
  ``bce_with_logits``; ``add`` (``+``, residuals; ``inplace=True`` for ``+=``);
* views with ``view=True`` (``view``, ``reshape``, ``flatten``, ``transpose``, ``permute``,
  ``split``/``chunk`` pieces, ``unsqueeze``, ``select`` for ``x[:, -1]``) and in-place ops with
  ``inplace=True``; ``contiguous`` as an op (it copies, except right after attention's
  transpose, which the builder recognises);
* ``begin_checkpoint()``/``end_checkpoint()`` around calls run under
  ``torch.utils.checkpoint``; ``output()`` for what the loop holds (``out = model(x)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpulens.estimate.layers import LayerInfo, TensorInfo
from gpulens.estimate.shapes import CatalogError, Dim, MultiOutput, Output, Shape

__all__ = [
    "DTYPE_BYTES",
    "Call",
    "ForwardTrace",
    "TensorNode",
    "TraceBuilder",
    "sequential_trace",
]

# "float" is the model's floating dtype (fp32, or fp16/bf16 when the model is cast); autocast
# decides per op at estimate time (see activations.py), so the trace stays precision-free.
DTYPE_BYTES: dict[str, int] = {
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float64": 8,
    "int64": 8,
    "int32": 4,
    "bool": 1,
    "uint8": 1,
}


@dataclass
class TensorNode:
    """One tensor value in the forward pass.

    ``shape`` includes the batch dimension at ``batch_dim`` (its value there is ignored: the
    estimate supplies the batch size); ``batch_dim`` is None for tensors without one (``pos =
    torch.arange(seq)``). ``base`` is the tensor whose storage this one shares (a view or an
    in-place result), None for a fresh allocation.
    """

    id: int
    shape: tuple[Dim, ...]
    batch_dim: int | None = 0
    dtype: str = "float"
    base: int | None = None
    name: str = ""

    @property
    def known(self) -> bool:
        return all(d is not None for i, d in enumerate(self.shape) if i != self.batch_dim)

    def numel(self) -> tuple[int, int]:
        """(elements per sample, batch-independent elements): numel = a * batch + b."""
        n = 1
        for i, d in enumerate(self.shape):
            if i != self.batch_dim:
                n *= d if d is not None else 1
        return (n, 0) if self.batch_dim is not None else (0, n)

    @property
    def is_float(self) -> bool:
        return self.dtype == "float" or self.dtype.startswith(("float", "bfloat"))


@dataclass
class Call:
    """One step of the forward: a leaf module call or a functional op.

    ``op`` is the module kind (``"Linear"``, ``"Conv2d"``) when ``layer`` is set, else a
    functional op name (``"relu"``, ``"add"``, ``"cat"``, ``"view"``, ``"matmul"``,
    ``"softmax"``, ``"sdpa"``, ``"log_softmax"``, ``"nll_loss"`` ...). ``attrs`` holds what
    changes memory (``inplace``, ``p``, ``dim``, ``is_causal``, ``dropout_p``). ``checkpoint`` is
    the id of the ``torch.utils.checkpoint`` region the call runs in (its activations are
    recomputed in backward instead of kept).
    """

    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    layer: LayerInfo | None = None
    name: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    line: int | None = None
    checkpoint: int | None = None


@dataclass
class ForwardTrace:
    """The forward pass of the model(s) one training step runs, plus the loss.

    ``inputs`` are the batch tensors the data loader provides (they are alive during the whole
    step); ``outputs`` the tensors the training loop holds (``out = model(x)``) until the step
    ends. ``modules`` are the root modules whose parameters are trained (unique tensors are
    counted once across them, tied weights included).
    """

    tensors: list[TensorNode] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    modules: list[LayerInfo] = field(default_factory=list)
    complete: bool = True
    reasons: list[str] = field(default_factory=list)
    cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def tensor(self, tid: int) -> TensorNode:
        return self.tensors[tid]

    def root(self, tid: int) -> int:
        """The tensor owning ``tid``'s storage (following views and in-place results)."""
        t = self.tensors[tid]
        while t.base is not None:
            t = self.tensors[t.base]
        return t.id

    def param_tensors(self) -> list[TensorInfo]:
        """Unique parameters and buffers of the trained modules (by identity, like torch)."""
        return self._param_scan()[0]

    def unknown_params(self) -> list[str]:
        """Why some modules' parameters are not known statically (empty when all are)."""
        return self._param_scan()[1]

    def _param_scan(self) -> tuple[list[TensorInfo], list[str]]:
        key = ("param_scan", len(self.calls), len(self.modules))
        hit = self.cache.get(key)
        if hit is not None:
            scan: tuple[list[TensorInfo], list[str]] = hit
            return scan
        seen: set[int] = set()
        seen_modules: set[int] = set()
        out: list[TensorInfo] = []
        unknown: list[str] = []
        roots: Iterable[LayerInfo] = self.modules or [
            c.layer for c in self.calls if c.layer is not None
        ]
        stack: list[tuple[str, LayerInfo]] = [("", m) for m in roots]
        while stack:
            name, m = stack.pop()
            if id(m) in seen_modules:
                continue
            seen_modules.add(id(m))
            if m.own_tensors is None:
                unknown.append(f"{name or m.kind} ({m.kind}): {m.reason}")
            else:
                for t in m.own_tensors:
                    if id(t) not in seen:
                        seen.add(id(t))
                        out.append(t)
            stack.extend((f"{name}.{c}" if name else c, k) for c, k in m.children)
        self.cache[key] = (out, unknown)
        return out, unknown

    @property
    def params(self) -> int:
        return sum(t.numel for t in self.param_tensors() if not t.buffer)

    @property
    def trainable_params(self) -> int:
        return sum(t.numel for t in self.param_tensors() if not t.buffer and t.requires_grad)

    def incomplete(self, reason: str) -> None:
        self.complete = False
        if reason not in self.reasons:
            self.reasons.append(reason)


class TraceBuilder:
    """Appends calls to a trace while tracking shapes (the reader's and the bench's API).

    Shapes passed in include the batch dimension (any value there, conventionally None).
    Methods return tensor ids; a call whose shape cannot be computed still goes in (with
    unknown dims) and marks the trace incomplete with the catalog's reason.
    """

    def __init__(self) -> None:
        self.trace = ForwardTrace()
        self._checkpoint: int | None = None
        self._next_ckpt = 0

    # -- tensors ---------------------------------------------------------------------------
    def tensor(
        self,
        shape: Sequence[Dim],
        batch_dim: int | None = 0,
        dtype: str = "float",
        base: int | None = None,
        name: str = "",
    ) -> int:
        tid = len(self.trace.tensors)
        node = TensorNode(tid, tuple(shape), batch_dim, dtype, base, name)
        self.trace.tensors.append(node)
        if not node.known:
            self.trace.incomplete(f"shape of {name or f'tensor {tid}'} is not known statically")
        return tid

    def input(self, shape: Sequence[Dim], dtype: str = "float", name: str = "x") -> int:
        """A batch tensor from the data loader (batch first)."""
        tid = self.tensor(shape, 0, dtype, name=name)
        self.trace.inputs.append(tid)
        return tid

    def shape(self, tid: int) -> tuple[Dim, ...]:
        return self.trace.tensors[tid].shape

    # -- calls -----------------------------------------------------------------------------
    def _call(
        self,
        op: str,
        inputs: Sequence[int],
        outputs: Sequence[int],
        layer: LayerInfo | None = None,
        name: str = "",
        line: int | None = None,
        **attrs: Any,
    ) -> None:
        self.trace.calls.append(
            Call(op, tuple(inputs), tuple(outputs), layer, name, attrs, line, self._checkpoint)
        )

    def _batch_dim(self, inputs: Sequence[int]) -> int | None:
        for i in inputs:
            if self.trace.tensors[i].batch_dim is not None:
                return self.trace.tensors[i].batch_dim
        return None

    def module(
        self, layer: LayerInfo, *inputs: int, name: str = "", line: int | None = None
    ) -> tuple[int, ...]:
        """``layer(*inputs)``: every tensor output (an LSTM gives out, h_n, c_n).

        Containers whose forward is known are expanded into the calls they make (an
        ``nn.Sequential``, ``nn.TransformerEncoder``/``EncoderLayer``), so each leaf gets its
        own memory rule; ``Flatten``/``Unflatten`` are views and ``Identity`` is nothing."""
        kids = dict(layer.children)
        prefix = f"{name}." if name else ""
        if layer.kind == "Identity" and inputs:
            return (inputs[0],)
        if layer.kind in _DROPOUTS and inputs and _zero(layer.args.get("p", 0.5)):
            return (inputs[0],)  # dropout(p=0) returns its input tensor itself
        if layer.kind == "Sequential" and len(inputs) == 1:
            x = inputs[0]
            for cname, child in layer.children:
                x = self.module(child, x, name=f"{prefix}{cname}", line=line)[0]
            return (x,)
        if layer.kind == "TransformerEncoderLayer" and inputs:
            return (self.transformer_encoder_layer(layer, inputs[0], name),)
        if layer.kind == "TransformerEncoder" and inputs and "layers" in kids:
            x = inputs[0]
            for cname, child in kids["layers"].children:
                x = self.transformer_encoder_layer(child, x, f"{prefix}layers.{cname}")
            if "norm" in kids:
                x = self.layer(kids["norm"], x, name=f"{prefix}norm")
            return (x,)
        if layer.kind in ("Flatten", "Unflatten") and len(inputs) == 1:
            try:
                shp = layer.output_shape(self.shape(inputs[0]))
            except CatalogError as exc:
                self.trace.incomplete(f"{name or layer.kind}: {exc}")
                shp = self.shape(inputs[0])
            out = self.op(layer.kind, inputs, shp, view=True, name=name, line=line)
            self.trace.calls[-1].layer = layer
            return (out,)
        shapes: list[Output] = [self.shape(i) for i in inputs]
        try:
            result: Output = layer.forward(*shapes)
        except CatalogError as exc:
            self.trace.incomplete(f"{name or layer.kind}: {exc}")
            result = tuple(None for _ in self.shape(inputs[0])) if inputs else None
        flat = _flatten_output(result)
        bd = self._batch_dim(inputs)
        outs: list[int] = []
        inplace = bool(layer.args.get("inplace", False)) if "inplace" in layer.args else False
        for k, shp in enumerate(flat):
            tbd = bd
            if layer.kind in ("LSTM", "GRU", "RNN") and k > 0:
                tbd = 1  # h_n / c_n are (layers * directions, batch, hidden)
            base = inputs[0] if inplace and k == 0 else None
            tbd = tbd if tbd is not None and tbd < len(shp) else None
            outs.append(self.tensor(shp, tbd, name=f"{name or layer.kind}.out{k}", base=base))
        attrs = {"inplace": inplace} if inplace else {}
        self._call(layer.kind, inputs, outs, layer, name, line, **attrs)
        return tuple(outs)

    def layer(self, layer: LayerInfo, x: int, name: str = "", line: int | None = None) -> int:
        """``layer(x)`` where only the first output is used."""
        return self.module(layer, x, name=name, line=line)[0]

    def op(
        self,
        op: str,
        inputs: Sequence[int],
        shape: Sequence[Dim] | None = None,
        *,
        dtype: str | None = None,
        view: bool = False,
        inplace: bool = False,
        name: str = "",
        line: int | None = None,
        **attrs: Any,
    ) -> int:
        """A functional op with one output of ``shape`` (default: the first input's shape).

        ``view=True`` for ops returning a view (shares storage, costs nothing);
        ``inplace=True`` for ``relu_``/``x += y`` (the result is the first input's storage).
        """
        first = self.trace.tensors[inputs[0]]
        out_shape = tuple(shape) if shape is not None else first.shape
        if op == "contiguous" and self._already_contiguous(inputs[0]):
            view = True
        base = inputs[0] if (view or inplace) else None
        bd = self._batch_dim(inputs)
        bd = bd if bd is not None and bd < len(out_shape) else None
        out = self.tensor(out_shape, bd, dtype or first.dtype, base, name or op)
        if inplace:
            attrs["inplace"] = True
        if view:
            attrs["view"] = True
        self._call(op, inputs, [out], None, name, line, **attrs)
        return out

    def _already_contiguous(self, tid: int) -> bool:
        """``y.transpose(1, 2).contiguous()`` after attention copies nothing: SDPA's kernels
        (CUDA flash/efficient; CPU flash, whose output follows q's strides) write their
        (B, H, T, D) output in (B, T, H, D) memory order (checked with torch on CPU in
        tests/estimate/test_activations.py::test_gpt_block)."""
        producer = next((c for c in reversed(self.trace.calls) if tid in c.outputs), None)
        if producer is None or producer.op not in ("transpose", "permute"):
            return False
        src = producer.inputs[0]
        before = next((c for c in reversed(self.trace.calls) if src in c.outputs), None)
        return before is not None and before.op in ("sdpa", "scaled_dot_product_attention")

    # -- common functional ops ---------------------------------------------------------------
    def add(self, a: int, b: int, inplace: bool = False) -> int:
        from gpulens.estimate.shapes import broadcast

        try:
            shp: Shape = broadcast(self.shape(a), self.shape(b))
        except CatalogError as exc:
            self.trace.incomplete(f"add: {exc}")
            shp = self.shape(a)
        return self.op("add", [a, b], shp, inplace=inplace)

    def view(self, x: int, shape: Sequence[Dim], op: str = "view") -> int:
        return self.op(op, [x], shape, view=True)

    def flatten(self, x: int, start_dim: int = 1) -> int:
        s = self.shape(x)
        n: Dim = 1
        for d in s[start_dim:]:
            n = None if d is None or n is None else n * d
        return self.view(x, (*s[:start_dim], n), op="flatten")

    def cat(self, xs: Sequence[int], dim: int = 1) -> int:
        shapes = [self.shape(x) for x in xs]
        out = list(shapes[0])
        total: Dim = 0
        for s in shapes:
            d = s[dim]
            total = None if total is None or d is None else total + d
        out[dim] = total
        return self.op("cat", xs, out, dim=dim)

    def cross_entropy(self, logits: int, target: int) -> int:
        """``F.cross_entropy``: log_softmax (saves its output) then nll_loss (saves target)."""
        logp = self.op("log_softmax", [logits], dim=-1)
        return self.op("nll_loss", [logp, target], (), name="loss")

    def call(
        self,
        op: str,
        inputs: Sequence[int],
        shapes: Sequence[Sequence[Dim]],
        layer: LayerInfo | None = None,
        name: str = "",
        line: int | None = None,
        **attrs: Any,
    ) -> tuple[int, ...]:
        """A call with explicit output shapes (modules whose forward takes several tensors,
        like ``MultiheadAttention(x, x, x)``)."""
        bd = self._batch_dim(inputs)
        outs = tuple(
            self.tensor(s, bd if bd is not None and bd < len(s) else None, name=f"{name or op}")
            for s in shapes
        )
        self._call(op, inputs, outs, layer, name, line, **attrs)
        return outs

    def transformer_encoder_layer(self, layer: LayerInfo, x: int, name: str = "") -> int:
        """``nn.TransformerEncoderLayer`` in training (post-norm unless ``norm_first``): the
        calls its ``forward`` makes (the fused fast path only runs without autograd)."""
        kids = dict(layer.children)
        act = str(layer.args.raw("activation") or "relu")
        act_op = act if act in ("relu", "gelu") else "relu"
        norm_first = bool(layer.args.raw("norm_first"))
        p = f"{name}." if name else ""

        def sa(h: int) -> int:
            (a,) = self.call("MultiheadAttention", [h], [self.shape(h)], kids["self_attn"],
                             name=f"{p}self_attn")  # fmt: skip
            return self.layer(kids["dropout1"], a, name=f"{p}dropout1")

        def ff(h: int) -> int:
            h = self.layer(kids["linear1"], h, name=f"{p}linear1")
            h = self.op(act_op, [h], name=f"{p}{act_op}")
            h = self.layer(kids["dropout"], h, name=f"{p}dropout")
            h = self.layer(kids["linear2"], h, name=f"{p}linear2")
            return self.layer(kids["dropout2"], h, name=f"{p}dropout2")

        if norm_first:
            x = self.add(x, sa(self.layer(kids["norm1"], x, name=f"{p}norm1")))
            return self.add(x, ff(self.layer(kids["norm2"], x, name=f"{p}norm2")))
        x = self.layer(kids["norm1"], self.add(x, sa(x)), name=f"{p}norm1")
        return self.layer(kids["norm2"], self.add(x, ff(x)), name=f"{p}norm2")

    def begin_checkpoint(self) -> None:
        """Calls until :meth:`end_checkpoint` run under ``torch.utils.checkpoint``."""
        self._checkpoint = self._next_ckpt
        self._next_ckpt += 1

    def end_checkpoint(self) -> None:
        self._checkpoint = None

    def output(self, *tids: int) -> None:
        """Tensors the training loop holds until the step ends (``out = model(x)``)."""
        self.trace.outputs.extend(tids)

    def finish(self, modules: Sequence[LayerInfo] = ()) -> ForwardTrace:
        self.trace.modules = list(modules)
        return self.trace


_DROPOUTS = frozenset(
    {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"}
)


def _zero(p: Any) -> bool:
    return isinstance(p, (int, float)) and not isinstance(p, bool) and p == 0


def _flatten_output(out: Output) -> list[tuple[Dim, ...]]:
    if out is None:
        return []
    if isinstance(out, MultiOutput):
        res: list[tuple[Dim, ...]] = []
        for item in out.items:
            res.extend(_flatten_output(item))
        return res
    return [out]


def sequential_trace(
    layers: Sequence[LayerInfo] | LayerInfo,
    input_shape: Sequence[Dim],
    *,
    input_dtype: str = "float",
    loss: str | None = "cross_entropy",
    target_shape: Sequence[Dim] | None = None,
) -> ForwardTrace:
    """The trace of ``nn.Sequential(*layers)`` applied to a batch of ``input_shape`` (one
    sample's shape, without the batch dimension), followed by ``loss``
    (``"cross_entropy"`` with class targets, ``"bce_with_logits"`` or None).

    A ``Sequential`` LayerInfo is unrolled into its children (nested ones too), as its forward
    calls them in order.
    """
    root: LayerInfo | None = None
    if isinstance(layers, LayerInfo):
        root = layers
        chain = _unroll([layers])
    else:
        chain = _unroll(layers)
    b = TraceBuilder()
    x = b.input((None, *input_shape), dtype=input_dtype)
    for name, layer in chain:
        x = b.module(layer, x, name=name)[0]
    b.output(x)
    _add_loss(b, x, loss, target_shape)
    modules = [root] if root is not None else [m for _, m in chain]
    return b.finish(modules)


def _add_loss(b: TraceBuilder, out: int, loss: str | None, target: Sequence[Dim] | None) -> None:
    if loss is None:
        return
    shape = b.shape(out)
    if loss == "cross_entropy":
        if len(shape) > 2:  # tokens: loss over every position, out.reshape(-1, V)
            # out.reshape(-1, V): a view; its shape is kept batch-major so sizes stay per sample
            flat = b.view(out, shape, op="reshape")
            t = b.input(tuple(target) if target else shape[:-1], dtype="int64", name="y")
            b.cross_entropy(flat, t)
        else:
            t = b.input(tuple(target) if target else (None,), dtype="int64", name="y")
            b.cross_entropy(out, t)
    elif loss == "bce_with_logits":
        t = b.input(tuple(target) if target else shape, name="y")
        b.op("bce_with_logits", [out, t], (), name="loss")
    elif loss == "mse":
        t = b.input(tuple(target) if target else shape, name="y")
        b.op("mse_loss", [out, t], (), name="loss")
    else:
        b.trace.incomplete(f"loss {loss!r} is not modelled")


def _unroll(layers: Iterable[LayerInfo]) -> list[tuple[str, LayerInfo]]:
    return _unroll_named([(str(i), m) for i, m in enumerate(layers)])


def _unroll_named(items: Iterable[tuple[str, LayerInfo]]) -> list[tuple[str, LayerInfo]]:
    out: list[tuple[str, LayerInfo]] = []
    for name, layer in items:
        if layer.kind == "Sequential":
            out.extend(_unroll_named((f"{name}.{c}", m) for c, m in layer.children))
        else:
            out.append((name, layer))
    return out
