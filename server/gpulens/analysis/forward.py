"""Shape flow through ``forward()``: a model's forward pass as the estimator's ``ForwardTrace``.

The tracer walks the source of ``forward`` (and of the submodules it calls) with tensors as
:class:`T` handles on a :class:`~gpulens.estimate.graph.TraceBuilder`: layer calls, ``F.*`` and
``torch.*`` functions, tensor methods (``view``/``reshape``/``flatten``/``permute``/``mean``...),
``x.size(0)``, ``torch.cat``, residual adds, ``@`` and attention. The batch dimension stays
symbolic (:class:`BatchDim`), so ``x.view(x.size(0), -1)`` works for every batch size.

Anything it cannot follow raises :class:`NotFollowed` with the reason; the caller then falls
back to chaining the layers in declaration order and says so (``trace.complete`` is False).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpulens.analysis.facts import Fact, Span
from gpulens.analysis.modelcache import ModelMemo
from gpulens.analysis.models import (
    _MISSING,
    Bound,
    Builder,
    Env,
    Found,
    FuncRef,
    LamRef,
    Meta,
    Obj,
    Sym,
    TShape,
    Unk,
    _Budget,
    _plain,
    discover,
)
from gpulens.analysis.symbols import dotted_target
from gpulens.analysis.values import V, span_of
from gpulens.estimate import layers as L
from gpulens.estimate.graph import ForwardTrace, TraceBuilder
from gpulens.estimate.layers import LayerInfo, TensorInfo
from gpulens.estimate.shapes import CatalogError, Dim, MultiOutput, Output, broadcast

__all__ = ["BatchDim", "NotFollowed", "T", "Tracer", "chain_trace"]


class NotFollowed(Exception):
    """The forward pass cannot be followed statically; the message says where and why."""


@dataclass(frozen=True)
class BatchDim:
    """A dimension of ``k`` times the batch size (``x.size(0)`` is ``BatchDim(1)``)."""

    k: int = 1


@dataclass(frozen=True)
class T:
    """A tensor of the forward pass (an id in the trace builder)."""

    tid: int


_ACTS = {
    "relu", "gelu", "silu", "sigmoid", "tanh", "leaky_relu", "elu", "selu", "celu", "softplus",
    "mish", "hardswish", "hardsigmoid", "relu6", "hardtanh", "logsigmoid", "softsign", "exp",
    "sqrt", "rsqrt", "log", "abs", "neg", "square", "sin", "cos", "erf", "tanhshrink",
}  # fmt: skip
_SAME_SHAPE_METHODS = {
    "contiguous", "clone", "float", "half", "bfloat16", "double", "detach", "type_as",
    "masked_fill", "clamp", "clip", "pow", "triu", "tril", "cumsum", "sign", "round", "floor",
    "nan_to_num", "normalize", "dropout", "requires_grad_",
}  # fmt: skip
_POOLS = {
    "max_pool1d": "MaxPool1d", "max_pool2d": "MaxPool2d", "max_pool3d": "MaxPool3d",
    "avg_pool1d": "AvgPool1d", "avg_pool2d": "AvgPool2d", "avg_pool3d": "AvgPool3d",
    "adaptive_avg_pool1d": "AdaptiveAvgPool1d", "adaptive_avg_pool2d": "AdaptiveAvgPool2d",
    "adaptive_avg_pool3d": "AdaptiveAvgPool3d", "adaptive_max_pool1d": "AdaptiveMaxPool1d",
    "adaptive_max_pool2d": "AdaptiveMaxPool2d", "adaptive_max_pool3d": "AdaptiveMaxPool3d",
    "pixel_shuffle": "PixelShuffle", "pixel_unshuffle": "PixelUnshuffle",
}  # fmt: skip
_VIEWS = {"view", "reshape", "flatten", "permute", "transpose", "unsqueeze", "squeeze", "t"}
_KEEP = {"to", "cuda", "float", "long", "contiguous", "half", "bfloat16", "detach", "pin_memory"}


class Tracer:
    """Traces one root model's forward on a TraceBuilder."""

    def __init__(self, builder: Builder, root: LayerInfo, batch: int | None = None) -> None:
        self.b = builder
        self.tb = TraceBuilder()
        self.root = root
        self.batch = batch
        self.names: dict[int, str] = {}
        for name, m in root.named_modules():
            self.names.setdefault(id(m), name)
        self.loss_traced = False
        self.depth = 0
        self.module_outputs: dict[int, int] = {}
        self.params: dict[int, T] = {}

    # -- helpers -----------------------------------------------------------------------------
    def param(self, v: Any) -> Any:
        """A parameter or buffer used directly in forward: a batch-free tensor of the trace."""
        if isinstance(v, TensorInfo):
            t = self.params.get(id(v))
            if t is None:
                t = T(self.tb.tensor(v.shape, None, name=v.name or "parameter"))
                self.params[id(v)] = t
            return t
        return v

    def shape(self, t: T) -> tuple[Dim, ...]:
        return self.tb.shape(t.tid)

    def bdim(self, t: T) -> int | None:
        return self.tb.trace.tensors[t.tid].batch_dim

    def dims(self, t: T) -> list[Any]:
        """The shape with the batch dimension as BatchDim(1)."""
        s: list[Any] = list(self.shape(t))
        bd = self.bdim(t)
        if bd is not None and bd < len(s):
            s[bd] = BatchDim(1)
        return s

    def new(self, dims: list[Any], op: str, inputs: list[T], **kw: Any) -> T:
        shape, _bd = self.to_shape(dims)
        n = len(self.tb.trace.reasons)
        tid = self.tb.op(op, [i.tid for i in inputs], shape, **kw)
        self.fix_bdim(tid, dims, n)
        return T(tid)

    def fix_bdim(self, tid: int, dims: list[Any], n_reasons: int | None = None) -> None:
        """Put the batch dimension where ``dims`` says (the builder guesses it from the
        inputs), and drop the builder's "shape not known" note when that was the batch."""
        node = self.tb.trace.tensors[tid]
        bd = next((i for i, d in enumerate(dims) if isinstance(d, BatchDim)), None)
        node.batch_dim = bd
        tr = self.tb.trace
        if n_reasons is not None and len(tr.reasons) > n_reasons and node.known:
            del tr.reasons[n_reasons:]
            tr.complete = not tr.reasons

    def born(self, op: str, tid: int) -> T:
        """A tensor ``forward`` creates from nothing (``torch.arange``, ``torch.zeros``): a call
        that produces it, so the walk allocates it (an embedding keeps its index tensor)."""
        self.tb._call(op, [], [tid])
        return T(tid)

    def to_shape(self, dims: list[Any]) -> tuple[tuple[Dim, ...], int | None]:
        out: list[Dim] = []
        bd: int | None = None
        for i, d in enumerate(dims):
            if isinstance(d, BatchDim):
                out.append(None)
                bd = i
            elif isinstance(d, int) and not isinstance(d, bool):
                out.append(d)
            else:
                raise NotFollowed(f"a tensor dimension is not known ({d!r})")
        return tuple(out), bd

    # -- entry -------------------------------------------------------------------------------
    def run(
        self,
        inputs: list[tuple[tuple[Dim, ...], str]],
        call_args: int = 1,
    ) -> tuple[list[T], Any]:
        """Trace ``root(*inputs)``; returns the input tensors and forward's result."""
        xs = [
            T(self.tb.input((None, *shape), dtype=dt, name=f"input{i}"))
            for i, (shape, dt) in enumerate(inputs)
        ]
        out = self.call_module(self.root, list(xs[:call_args]), {}, "")
        return xs, out

    # -- module calls ------------------------------------------------------------------------
    def call_module(self, m: LayerInfo, args: list[Any], kwargs: dict[str, Any], name: str) -> Any:
        self.b.tick()
        self.depth += 1
        if self.depth > 80:
            raise NotFollowed("modules nested too deeply")
        try:
            r = self._call_module(m, args, kwargs, self.names.get(id(m), name))
        finally:
            self.depth -= 1
        first = (
            r
            if isinstance(r, T)
            else next((x for x in r if isinstance(x, T)), None)
            if isinstance(r, tuple)
            else None
        )
        if first is not None:
            self.module_outputs.setdefault(id(m), first.tid)
        return r

    def _call_module(self, m: LayerInfo, args: list[Any], kwargs: dict[str, Any], name: str) -> Any:
        meta = self.b.meta.get(id(m))
        if meta is not None and meta.tv is not None:
            raise NotFollowed(
                f"{meta.type_name} is a torchvision model (its forward is measured, not traced)"
            )
        if meta is not None and meta.cls is not None:
            fwd, _ = self.b.method(meta.cls, "forward")
            if fwd is None:
                raise NotFollowed(f"{meta.cls.name} has no forward()")
            return self.run_function(fwd, m, args, kwargs)
        tensors = [a for a in args if isinstance(a, T)]
        if not tensors:
            raise NotFollowed(f"{name or m.kind} is called without a tensor the reader follows")
        if m.spec.lazy is not None:
            m = self.materialize(m, self.shape(tensors[0]), name)
        if m.own_tensors is None:
            raise NotFollowed(f"{name or m.kind}: {m.reason}")
        kind = m.kind
        if kind == "Sequential":
            x: Any = args[0]
            for _, child in m.children:
                x = self.call_module(child, [x], {}, "")
            return x
        if kind in ("ModuleList", "ModuleDict"):
            raise NotFollowed(f"{name}: a {kind} is not callable")
        if kind == "Identity":
            return args[0]
        if kind == "Flatten":
            start = int(m.args.get("start_dim", 1))
            end = int(m.args.get("end_dim", -1))
            return self.flatten(tensors[0], start, end, layer=m, name=name)
        if kind == "TransformerEncoderLayer":
            return T(self.tb.transformer_encoder_layer(m, tensors[0].tid, name=name))
        if kind == "TransformerEncoder":
            x = tensors[0]
            kids = dict(m.children)
            for i, (_, lay) in enumerate(kids["layers"].children):
                x = T(self.tb.transformer_encoder_layer(lay, x.tid, name=f"{name}.layers.{i}"))
            if "norm" in kids:
                x = self.call_module(kids["norm"], [x], {}, "")
            return x
        if kind == "MultiheadAttention":
            q = tensors[0]
            k = tensors[1] if len(tensors) > 1 else q
            v = tensors[2] if len(tensors) > 2 else k
            need = kwargs.get("need_weights", True)
            opts = {"need_weights": need} if isinstance(need, bool) else {}
            try:
                out = m.forward(self.shape(q), self.shape(k), self.shape(v), **opts)
            except CatalogError as exc:
                raise NotFollowed(f"{name}: {exc}") from exc
            flat = _flat(out)
            ins = list(dict.fromkeys([q.tid, k.tid, v.tid]))
            tids = self.tb.call(
                "MultiheadAttention", ins, [s for s in flat if s is not None], m, name=name
            )
            res: list[Any] = [T(t) for t in tids]
            while len(res) < 2:
                res.append(None)
            return tuple(res)
        if kind in ("LSTM", "GRU", "RNN"):
            outs = self.tb.module(m, tensors[0].tid, name=name)
            ts = [T(t) for t in outs]
            if kind == "LSTM" and len(ts) == 3:
                return (ts[0], (ts[1], ts[2]))
            return (ts[0], ts[1]) if len(ts) == 2 else tuple(ts)
        if kind.endswith("Loss"):
            return self.loss(kind.replace("Loss", "").lower(), tensors)
        outs = self.tb.module(m, *[t.tid for t in tensors], name=name)
        if not self.tb.trace.complete:
            raise NotFollowed(self.tb.trace.reasons[-1])
        if len(outs) == 1:
            return T(outs[0])
        return tuple(T(t) for t in outs)

    def materialize(self, m: LayerInfo, shape: tuple[Dim, ...], name: str) -> LayerInfo:
        """A Lazy* layer's first forward fixes its size: the model now holds the real layer."""
        new = m.materialize(shape)
        if new is m:
            raise NotFollowed(f"{name or m.kind}: its size is inferred from an input not known")
        path = self.names.get(id(m), name)
        meta = self.b.meta.get(id(m))
        if meta is not None:
            self.b.set_meta(new, meta)
        if path:
            self.root.set_child(path, new)
        else:
            self.root = new
        self.names[id(new)] = path
        return new

    # -- functions ---------------------------------------------------------------------------
    def run_function(self, fn: FuncRef, selfv: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        f = fn.node
        a = f.args
        positional = [p.arg for p in (*a.posonlyargs, *a.args)]
        env = Env({}, fn.scope, fn.closure)
        is_method = isinstance(fn.scope.parent.node if fn.scope.parent else None, ast.ClassDef)
        if is_method and positional and selfv is not None:
            env.vars[positional.pop(0)] = selfv
        for i, v in enumerate(args):
            if i < len(positional):
                env.vars[positional[i]] = v
            elif a.vararg is not None:
                env.vars[a.vararg.arg] = tuple(args[len(positional) :])
                break
        if a.vararg is not None and a.vararg.arg not in env.vars:
            env.vars[a.vararg.arg] = ()
        for k, v in kwargs.items():
            env.vars[k] = v
        if a.kwarg is not None:
            env.vars.setdefault(a.kwarg.arg, {})
        off = len(positional) - len(a.defaults)
        outer = Env({}, fn.scope.parent or self.b.table.module)
        for i, p in enumerate(positional):
            if p not in env.vars:
                env.vars[p] = self.b.expr(a.defaults[i - off], outer) if i >= off else None
        for kp, kd in zip(a.kwonlyargs, a.kw_defaults, strict=False):
            if kp.arg not in env.vars:
                env.vars[kp.arg] = self.b.expr(kd, outer) if kd is not None else None
        try:
            self.block(f.body, env)
        except _Ret as r:
            return r.value
        return None

    def block(self, stmts: list[ast.stmt], env: Env) -> None:
        for st in stmts:
            self.stmt(st, env)

    def stmt(self, st: ast.stmt, env: Env) -> None:
        self.b.tick()
        if isinstance(st, ast.Assign):
            v = self.expr(st.value, env)
            for t in st.targets:
                self.assign(t, v, env)
        elif isinstance(st, ast.AnnAssign):
            if st.value is not None:
                self.assign(st.target, self.expr(st.value, env), env)
        elif isinstance(st, ast.AugAssign):
            cur = self.expr(st.target, env)
            val = self.expr(st.value, env)
            self.assign(st.target, self.binop(st.op, cur, val, inplace=True), env)
        elif isinstance(st, ast.Expr):
            if isinstance(st.value, ast.Constant):
                return
            self.expr(st.value, env)
        elif isinstance(st, ast.Return):
            raise _Ret(self.expr(st.value, env) if st.value is not None else None)
        elif isinstance(st, ast.If):
            t = self.truth(self.expr(st.test, env))
            if isinstance(t, Unk):
                raise NotFollowed(
                    f"`if {self.b.ev.segment(st.test, 50)}` (line {st.lineno}): {t.reason}"
                )
            self.block(st.body if t else st.orelse, env)
        elif isinstance(st, ast.For):
            it = self.iterate(self.expr(st.iter, env))
            for item in it:
                self.b.tick()
                self.assign(st.target, item, env)
                self.block(st.body, env)
        elif isinstance(st, ast.With):
            ckpt = any("checkpoint" in (ast.dump(i.context_expr)) for i in st.items)
            self.block(st.body, env)
            del ckpt
        elif isinstance(st, ast.Assert | ast.Pass | ast.Import | ast.ImportFrom):
            return
        elif isinstance(st, ast.Raise):
            raise NotFollowed(f"forward raises at line {st.lineno}")
        else:
            raise NotFollowed(f"`{type(st).__name__}` at line {st.lineno} is not followed")

    def assign(self, t: ast.expr, v: Any, env: Env) -> None:
        if isinstance(t, ast.Name):
            env.vars[t.id] = v
        elif isinstance(t, ast.Tuple | ast.List):
            items = self.iterate(v)
            if len(items) != len(t.elts):
                raise NotFollowed(
                    f"unpacking {len(items)} values into {len(t.elts)} (line {t.lineno})"
                )
            for e, x in zip(t.elts, items, strict=True):
                self.assign(e, x, env)
        elif isinstance(t, ast.Subscript):
            base = self.expr(t.value, env)
            key = self.expr(t.slice, env)
            if (isinstance(base, list) and isinstance(key, int)) or isinstance(base, dict):
                base[key] = v
            elif isinstance(base, T):
                pass  # x[mask] = 0: in place, same storage
            else:
                raise NotFollowed(f"assignment to `{self.b.ev.segment(t, 40)}`")
        elif isinstance(t, ast.Attribute):
            base = self.expr(t.value, env)
            if isinstance(base, LayerInfo):
                m = self.b.meta.get(id(base))
                if m is not None:
                    m.attrs[t.attr] = v
            # other attribute writes (caches) do not change shapes
        else:
            raise NotFollowed(f"assignment at line {t.lineno}")

    def iterate(self, v: Any) -> list[Any]:
        if isinstance(v, T):
            raise NotFollowed("iterating over a tensor")
        r = self.b.iterate(v)
        if isinstance(r, Unk):
            raise NotFollowed(r.reason)
        return r

    def truth(self, v: Any) -> Any:
        if isinstance(v, T):
            return Unk("a tensor's value decides it")
        if isinstance(v, BatchDim):
            return True
        return self.b.truth(v)

    # -- expressions -------------------------------------------------------------------------
    def expr(self, node: ast.expr, env: Env) -> Any:
        self.b.tick()
        if isinstance(node, ast.Name):
            v = env.get(node.id)
            if v is not _MISSING:
                return v
            return self.b.global_name(node.id, env.scope, None)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Attribute):
            base = self.expr(node.value, env)
            if isinstance(base, T):
                return self.tensor_attr(base, node.attr)
            if isinstance(base, LayerInfo) and node.attr == "training":
                return True
            return self.param(self.b.getattr(base, node.attr, node))
        if isinstance(node, ast.Call):
            return self.call(node, env)
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.expr(node.left, env), self.expr(node.right, env))
        if isinstance(node, ast.UnaryOp):
            v = self.expr(node.operand, env)
            if isinstance(v, T):
                return self.new(self.dims(v), "neg", [v])
            if isinstance(v, BatchDim):
                return v
            return (
                self.b.expr(ast.UnaryOp(node.op, ast.Constant(v)), env)
                if _plain(v)
                else Unk("unary")
            )
        if isinstance(node, ast.Subscript):
            base = self.expr(node.value, env)
            if isinstance(base, T):
                return self.tensor_index(base, node.slice, env)
            if isinstance(node.slice, ast.Slice):
                return (
                    self.b.expr(node, env)
                    if not isinstance(base, list | tuple)
                    else base[self.slice_of(node.slice, env)]
                )
            key = self.expr(node.slice, env)
            if isinstance(base, list | tuple) and isinstance(key, int):
                if -len(base) <= key < len(base):
                    return base[key]
                raise NotFollowed(f"index {key} out of range")
            return self.b.index(base, key, node)
        if isinstance(node, ast.Tuple):
            return tuple(self.elts(node.elts, env))
        if isinstance(node, ast.List):
            return self.elts(node.elts, env)
        if isinstance(node, ast.Compare):
            left = self.expr(node.left, env)
            if len(node.ops) == 1 and isinstance(node.ops[0], ast.Is | ast.IsNot):
                right = self.expr(node.comparators[0], env)
                if isinstance(left, Unk) or isinstance(right, Unk):
                    return Unk("comparison with a value not known")
                same = left is right or (left is None and right is None)
                return same if isinstance(node.ops[0], ast.Is) else not same
            if isinstance(left, T | BatchDim):
                return Unk("a comparison of run-time values")
            return (
                self.b.compare(node, env)
                if not any(isinstance(self.expr(c, env), T | BatchDim) for c in node.comparators)
                else Unk("a comparison of run-time values")
            )
        if isinstance(node, ast.BoolOp):
            last: Any = None
            for e in node.values:
                v = self.expr(e, env)
                t = self.truth(v)
                if isinstance(t, Unk):
                    return t
                if isinstance(node.op, ast.And) and not t:
                    return v
                if isinstance(node.op, ast.Or) and t:
                    return v
                last = v
            return last
        if isinstance(node, ast.IfExp):
            t = self.truth(self.expr(node.test, env))
            if isinstance(t, Unk):
                raise NotFollowed(f"`{self.b.ev.segment(node, 50)}`: {t.reason}")
            return self.expr(node.body if t else node.orelse, env)
        if isinstance(node, ast.ListComp | ast.GeneratorExp):
            out: list[Any] = []
            inner = Env({}, env.scope, env)
            self.comp(node.elt, node.generators, 0, inner, out)
            return out
        if isinstance(node, ast.Starred):
            return self.expr(node.value, env)
        if isinstance(node, ast.JoinedStr | ast.Dict | ast.Lambda):
            return self.b.expr(node, env)
        raise NotFollowed(f"`{self.b.ev.segment(node, 50)}` (line {node.lineno}) is not followed")

    def slice_of(self, s: ast.Slice, env: Env) -> slice:
        parts = [self.expr(p, env) if p is not None else None for p in (s.lower, s.upper, s.step)]
        if not all(p is None or isinstance(p, int) for p in parts):
            raise NotFollowed("slice bounds not known")
        return slice(*parts)

    def comp(
        self, elt: ast.expr, gens: list[ast.comprehension], i: int, env: Env, out: list[Any]
    ) -> None:
        if i == len(gens):
            out.append(self.expr(elt, env))
            return
        g = gens[i]
        for item in self.iterate(self.expr(g.iter, env)):
            self.assign(g.target, item, env)
            if all(self.truth(self.expr(c, env)) is True for c in g.ifs):
                self.comp(elt, gens, i + 1, env, out)

    def elts(self, elts: list[ast.expr], env: Env) -> list[Any]:
        out: list[Any] = []
        for e in elts:
            if isinstance(e, ast.Starred):
                out.extend(self.iterate(self.expr(e.value, env)))
            else:
                out.append(self.expr(e, env))
        return out

    # -- arithmetic --------------------------------------------------------------------------
    def binop(self, op: ast.operator, a: Any, b: Any, inplace: bool = False) -> Any:
        if isinstance(a, T) or isinstance(b, T):
            if isinstance(op, ast.MatMult):
                if not (isinstance(a, T) and isinstance(b, T)):
                    raise NotFollowed("@ with a non-tensor")
                return self.matmul(a, b)
            name = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div"}.get(type(op))
            if name is None:
                raise NotFollowed(f"tensor operator {type(op).__name__}")
            if isinstance(a, T) and isinstance(b, T):
                try:
                    shape = broadcast(self.shape(a), self.shape(b))
                except CatalogError as exc:
                    raise NotFollowed(str(exc)) from exc
                return self.new(self._bcast_dims(a, b, shape), name, [a, b], inplace=inplace)
            t = a if isinstance(a, T) else b
            if not isinstance(a if t is b else b, int | float | bool):
                if isinstance(a if t is b else b, TensorInfo):
                    other = a if t is b else b
                    assert isinstance(other, TensorInfo)
                    shape = broadcast(self.shape(t), other.shape)
                    return self.new(self._bcast_dims(t, None, shape), name, [t], inplace=inplace)
                raise NotFollowed("tensor arithmetic with a value not known")
            op_name = "scale" if name in ("mul", "div") else name
            return self.new(self.dims(t), op_name, [t], inplace=inplace)
        if isinstance(a, TensorInfo) or isinstance(b, TensorInfo):
            raise NotFollowed("arithmetic on a parameter outside a layer")
        if isinstance(a, BatchDim) or isinstance(b, BatchDim):
            if isinstance(op, ast.Mult):
                if isinstance(a, BatchDim) and isinstance(b, int):
                    return BatchDim(a.k * b)
                if isinstance(b, BatchDim) and isinstance(a, int):
                    return BatchDim(b.k * a)
            if (
                isinstance(op, ast.FloorDiv | ast.Div)
                and isinstance(a, BatchDim)
                and isinstance(b, int)
                and a.k % b == 0
            ):
                return BatchDim(a.k // b)
            raise NotFollowed("arithmetic on the batch size")
        return self.b.binop(op, a, b)

    def _bcast_dims(self, a: T, b: T | None, shape: tuple[Dim, ...]) -> list[Any]:
        dims: list[Any] = list(shape)
        for t in (a, b):
            if t is None:
                continue
            bd = self.bdim(t)
            if bd is not None:
                off = len(shape) - len(self.shape(t))
                dims[bd + off] = BatchDim(1)
                return dims
        return dims

    def matmul(self, a: T, b: T) -> T:
        da, db = self.dims(a), self.dims(b)
        if len(da) < 1 or len(db) < 1:
            raise NotFollowed("matmul of scalars")
        if len(db) == 1:
            dims = da[:-1]
        elif len(da) == 1:
            dims = db[:-2] + db[-1:]
        else:
            batch_a, batch_b = da[:-2], db[:-2]
            n = max(len(batch_a), len(batch_b))
            pa = [1] * (n - len(batch_a)) + batch_a
            pb = [1] * (n - len(batch_b)) + batch_b
            lead = [x if x != 1 else y for x, y in zip(pa, pb, strict=True)]
            dims = [*lead, da[-2], db[-1]]
        return self.new(dims, "matmul", [a, b])

    # -- tensors -----------------------------------------------------------------------------
    def tensor_attr(self, t: T, attr: str) -> Any:
        if attr == "shape":
            return tuple(self.dims(t))
        if attr in ("T", "mT"):
            d = self.dims(t)
            return self.view(t, [*d[:-2], d[-1], d[-2]], "transpose")
        if attr in ("device", "dtype", "is_cuda"):
            return Sym(f"torch.{attr}")
        if attr == "ndim":
            return len(self.shape(t))
        return Bound(t, attr)

    def view(self, t: T, dims: list[Any], op: str = "view") -> T:
        shape, _ = self.to_shape(dims)
        n = len(self.tb.trace.reasons)
        tid = self.tb.view(t.tid, shape, op=op)
        self.fix_bdim(tid, dims, n)
        return T(tid)

    def flatten(
        self, t: T, start: int = 0, end: int = -1, layer: LayerInfo | None = None, name: str = ""
    ) -> T:
        d = self.dims(t)
        n = len(d)
        s, e = start % max(n, 1), end % max(n, 1)
        merged = d[s : e + 1]
        dims = [*d[:s], self.prod(merged), *d[e + 1 :]]
        out = self.view(t, dims, "flatten")
        if layer is not None:
            self.tb.trace.calls[-1].layer = layer
            self.tb.trace.calls[-1].name = name
        return out

    def prod(self, dims: list[Any]) -> Any:
        k = 1
        batch = False
        for d in dims:
            if isinstance(d, BatchDim):
                batch = True
                k *= d.k
            elif isinstance(d, int):
                k *= d
            else:
                raise NotFollowed("a dimension not known")
        return BatchDim(k) if batch else k

    def reshape_dims(self, t: T, args: list[Any]) -> list[Any]:
        if len(args) == 1 and isinstance(args[0], list | tuple):
            args = list(args[0])
        src = self.dims(t)
        total = self.prod(src)
        known: Any = 1
        for a in args:
            if a == -1:
                continue
            known = self.prod([known, a])
        if -1 in args:
            tk = total.k if isinstance(total, BatchDim) else total
            kk = known.k if isinstance(known, BatchDim) else known
            if kk == 0 or tk % kk:
                raise NotFollowed("a view whose -1 cannot be inferred")
            rest = tk // kk
            fill: Any = (
                BatchDim(rest)
                if isinstance(total, BatchDim) and not isinstance(known, BatchDim)
                else rest
            )
            args = [fill if a == -1 else a for a in args]
        out: list[Any] = []
        for a in args:
            if isinstance(a, BatchDim) and a.k != 1:
                out.extend([BatchDim(1), a.k])  # k * batch kept as (batch, k): same elements
            else:
                out.append(a)
        return out

    def tensor_index(self, t: T, sl: ast.expr, env: Env) -> Any:
        items = sl.elts if isinstance(sl, ast.Tuple) else [sl]
        d = self.dims(t)
        out: list[Any] = []
        i = 0
        view = True
        for it in items:
            if isinstance(it, ast.Constant) and it.value is Ellipsis:
                rest = len(items) - items.index(it) - 1
                while i < len(d) - rest:
                    out.append(d[i])
                    i += 1
                continue
            if isinstance(it, ast.Constant) and it.value is None:
                out.append(1)
                continue
            if i >= len(d):
                raise NotFollowed("too many indices")
            if isinstance(it, ast.Slice):
                s = self.slice_of(it, env)
                dim = d[i]
                if isinstance(dim, BatchDim):
                    if s != slice(None):
                        raise NotFollowed("slicing the batch dimension")
                    out.append(dim)
                else:
                    out.append(len(range(dim)[s]))
                i += 1
                continue
            v = self.expr(it, env)
            if isinstance(v, int):
                i += 1
                continue
            if isinstance(v, list) and all(isinstance(x, int) for x in v):
                out.append(len(v))
                view = False
                i += 1
                continue
            raise NotFollowed(f"indexing with `{self.b.ev.segment(it, 30)}`")
        out.extend(d[i:])
        if view:
            return self.view(t, out, "getitem")
        return self.new(out, "index", [t])

    def reduce(self, t: T, args: list[Any], kwargs: dict[str, Any], op: str) -> T:
        dim = kwargs.get("dim", args[0] if args else None)
        keep = bool(kwargs.get("keepdim", args[1] if len(args) > 1 else False))
        d = self.dims(t)
        if dim is None:
            return self.new([], op, [t])
        dims = [dim] if isinstance(dim, int) else list(dim)
        idx = {x % len(d) for x in dims}
        out = [(1 if keep else None) if i in idx else x for i, x in enumerate(d)]
        return self.new([x for x in out if x is not None], op, [t])

    def loss(self, kind: str, ts: list[T]) -> T:
        self.loss_traced = True
        if kind in ("cross_entropy", "crossentropy", "nll", "nll_loss") and len(ts) >= 2:
            return T(self.tb.cross_entropy(ts[0].tid, ts[1].tid))
        op = {
            "mse": "mse_loss",
            "l1": "l1_loss",
            "bcewithlogits": "bce_with_logits",
            "smoothl1": "smooth_l1_loss",
        }.get(kind, f"{kind}_loss")
        return T(self.tb.op(op, [t.tid for t in ts], (), name="loss"))

    # -- calls -------------------------------------------------------------------------------
    def call(self, node: ast.Call, env: Env) -> Any:
        func = self.expr(node.func, env)
        args: list[Any] = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                args.extend(self.iterate(self.expr(a.value, env)))
            else:
                args.append(self.expr(a, env))
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            v = self.expr(kw.value, env)
            if kw.arg is None:
                if isinstance(v, dict):
                    kwargs.update(v)
                continue
            kwargs[kw.arg] = v
        line = node.lineno
        if isinstance(func, LayerInfo):
            return self.call_module(func, args, kwargs, "")
        if isinstance(func, FuncRef):
            return self.run_function(func, func.bound, args, kwargs)
        if isinstance(func, LamRef):
            lenv = Env({}, func.closure.scope, func.closure)
            for p, a in zip(func.node.args.args, args, strict=False):
                lenv.vars[p.arg] = a
            return self.expr(func.node.body, lenv)
        if isinstance(func, Bound) and isinstance(func.obj, T):
            return self.method(func.obj, func.name, args, kwargs, line)
        if isinstance(func, Sym):
            return self.function(func, args, kwargs, line)
        if isinstance(func, Bound) and isinstance(func.obj, list):
            if func.name == "append":
                func.obj.append(args[0])
                return None
            if func.name == "pop":
                return func.obj.pop(*args)
            if func.name == "insert":
                func.obj.insert(args[0], args[1])
                return None
        if isinstance(func, Unk):
            raise NotFollowed(func.reason)
        if any(isinstance(a, T) for a in args):
            raise NotFollowed(f"`{self.b.ev.segment(node, 50)}` (line {line}) is not followed")
        r = self.b.apply(func, args, kwargs, node, env)
        return r

    def function(self, f: Sym, args: list[Any], kwargs: dict[str, Any], line: int) -> Any:
        name = f.name
        last = f.last
        if name.startswith("builtins."):
            if last == "len" and args and isinstance(args[0], T):
                d = self.dims(args[0])
                return d[0]
            if last == "super":
                return Unk("super() in forward")
            if last in ("isinstance", "hasattr"):
                return Unk(f"{last}() decided at run time")
            if any(isinstance(a, T | BatchDim) for a in args):
                raise NotFollowed(f"{last}() of a tensor")
            return self.b.builtin(last, args, kwargs, ast.Constant(0))
        if name.startswith("math."):
            return self.b.math(last, args)
        if name.startswith("torch.utils.checkpoint") and last in (
            "checkpoint",
            "checkpoint_sequential",
        ):
            fn = args[0]
            self.tb.begin_checkpoint()
            try:
                if isinstance(fn, LayerInfo):
                    return self.call_module(fn, args[1:], {}, "")
                if isinstance(fn, FuncRef):
                    return self.run_function(fn, fn.bound, args[1:], {})
            finally:
                self.tb.end_checkpoint()
            raise NotFollowed("checkpoint of a function not followed")
        ts = [a for a in args if isinstance(a, T)]
        if last in (
            "cross_entropy",
            "nll_loss",
            "mse_loss",
            "l1_loss",
            "binary_cross_entropy_with_logits",
            "smooth_l1_loss",
        ):
            kind = {
                "binary_cross_entropy_with_logits": "bcewithlogits",
                "mse_loss": "mse",
                "l1_loss": "l1",
                "smooth_l1_loss": "smoothl1",
            }.get(last, last)
            return self.loss(kind, ts)
        if last in ("cat", "concat", "concatenate", "stack") and args:
            parts = [x for x in self.iterate(args[0]) if isinstance(x, T)]
            dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
            if not parts or not isinstance(dim, int):
                raise NotFollowed(f"torch.{last} of values not followed")
            d0 = self.dims(parts[0])
            if last == "stack":
                k = dim % (len(d0) + 1)
                dims = [*d0[:k], len(parts), *d0[k:]]
                return self.new(dims, "stack", parts)
            k = dim % len(d0)
            total: Any = 0
            for p in parts:
                x = self.dims(p)[k]
                if isinstance(x, BatchDim) or not isinstance(x, int):
                    raise NotFollowed("concatenating along the batch")
                total += x
            dims = [*d0[:k], total, *d0[k + 1 :]]
            return self.new(dims, "cat", parts, dim=k)
        if last in (
            "zeros",
            "ones",
            "randn",
            "rand",
            "empty",
            "full",
            "zeros_like",
            "ones_like",
            "randn_like",
            "arange",
            "tril",
            "triu",
            "tensor",
        ):
            if last.endswith("_like") and ts:
                return self.new(self.dims(ts[0]), "zeros_like", [ts[0]])
            if last in ("tril", "triu") and ts:
                return self.new(self.dims(ts[0]), last, [ts[0]])
            if last == "arange":
                nums = [a for a in args if isinstance(a, int)]
                if len(nums) != len(args) or not nums:
                    raise NotFollowed("arange bounds not known")
                n = len(range(*nums))
                return self.born("arange", self.tb.tensor((n,), None, "int64", name="arange"))
            if last == "tensor":
                return self.born("zeros", self.tb.tensor((), None, name="tensor"))
            size = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
            if last == "full":
                size = args[0] if args else ()
            dims = list(size)
            shape, bd = self.to_shape(dims)
            n = len(self.tb.trace.reasons)
            tid = self.tb.tensor(shape, bd, name=last)
            self.fix_bdim(tid, dims, n)
            return self.born("zeros" if last not in ("ones", "randn") else last, tid)
        if last in _POOLS and ts:
            return self.functional_layer(_POOLS[last], ts[0], args[1:], kwargs, last)
        if last in ("interpolate", "upsample"):
            kw = {
                k: v
                for k, v in kwargs.items()
                if k in ("size", "scale_factor", "mode", "align_corners")
            }
            return self.functional_layer("Upsample", ts[0], args[1:], kw, "interpolate")
        if last in ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout") and ts:
            p = kwargs.get("p", args[1] if len(args) > 1 else 0.5)
            training = kwargs.get("training", args[2] if len(args) > 2 else True)
            if training is False:
                return ts[0]
            return self.new(self.dims(ts[0]), "dropout", [ts[0]], p=p)
        if last in ("softmax", "log_softmax", "softmin") and ts:
            dim = kwargs.get("dim", args[1] if len(args) > 1 else -1)
            return self.new(self.dims(ts[0]), last, [ts[0]], dim=dim)
        if last in _ACTS and ts:
            inplace = bool(kwargs.get("inplace", False))
            return self.new(self.dims(ts[0]), last, [ts[0]], inplace=inplace)
        if last == "scaled_dot_product_attention" and len(ts) >= 3:
            q, _k, v = ts[:3]
            dims = [*self.dims(q)[:-1], self.dims(v)[-1]]
            return self.new(
                dims,
                "sdpa",
                ts[:3],
                is_causal=bool(kwargs.get("is_causal", False)),
                dropout_p=kwargs.get("dropout_p", 0.0),
            )
        if last in ("matmul", "bmm", "mm") and len(ts) == 2:
            return self.matmul(ts[0], ts[1])
        if last in ("flatten",) and ts:
            start = kwargs.get("start_dim", args[1] if len(args) > 1 else 0)
            end = kwargs.get("end_dim", args[2] if len(args) > 2 else -1)
            return self.flatten(ts[0], start, end)
        if last in ("layer_norm", "normalize", "group_norm", "batch_norm", "rms_norm") and ts:
            return self.new(self.dims(ts[0]), last if last != "rms_norm" else "layer_norm", [ts[0]])
        if last == "linear" and len(ts) > 1:
            d = self.dims(ts[0])
            return self.new([*d[:-1], self.shape(ts[1])[0]], "linear", ts[:2])
        if last == "embedding" and len(ts) > 1:
            d = self.dims(ts[0])
            return self.new([*d, self.shape(ts[1])[1]], "embedding", [ts[0]])
        if last in ("mean", "sum", "amax", "amin") and ts:
            return self.reduce(ts[0], args[1:], kwargs, last)
        if last in ("transpose", "permute", "unsqueeze", "squeeze", "reshape") and ts:
            return self.method(ts[0], last, args[1:], kwargs, line)
        if last in ("add", "mul", "sub", "div") and len(args) == 2:
            op = {"add": ast.Add(), "mul": ast.Mult(), "sub": ast.Sub(), "div": ast.Div()}[last]
            return self.binop(op, args[0], args[1])
        if last in ("sigmoid_", "relu_") and ts:
            return self.new(self.dims(ts[0]), last[:-1], [ts[0]], inplace=True)
        if name.startswith(("torch", "numpy")) and not ts:
            return self.b.call_sym(f, args, kwargs, ast.Constant(0), Env({}, self.b.table.module))
        raise NotFollowed(f"`{name}` (line {line}) is not followed")

    def functional_layer(
        self, kind: str, x: T, args: list[Any], kwargs: dict[str, Any], op: str
    ) -> T:
        try:
            layer = L.build(kind, args, kwargs)
        except CatalogError as exc:
            raise NotFollowed(f"F.{op}: {exc}") from exc
        outs = self.tb.module(layer, x.tid, name=op)
        if not self.tb.trace.complete:
            raise NotFollowed(self.tb.trace.reasons[-1])
        self.tb.trace.calls[-1].layer = None  # functional: no module parameters
        self.tb.trace.calls[-1].op = op if op in ("interpolate",) else kind
        return T(outs[0])

    def method(self, t: T, name: str, args: list[Any], kwargs: dict[str, Any], line: int) -> Any:
        d = self.dims(t)
        if name == "size":
            dim = kwargs.get("dim", args[0] if args else None)
            if dim is None:
                return tuple(d)
            return d[dim]
        if name == "dim":
            return len(d)
        if name == "numel":
            raise NotFollowed("numel() of a batch tensor")
        if name in ("view", "reshape", "expand", "view_as", "reshape_as", "expand_as"):
            if name.endswith("_as"):
                if not args or not isinstance(args[0], T):
                    raise NotFollowed(f"{name} of a value not followed")
                dims = self.dims(args[0])
            elif name == "expand":
                dims0 = (
                    list(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else args
                )
                dims = [d[i - (len(dims0) - len(d))] if x == -1 else x for i, x in enumerate(dims0)]
            else:
                dims = self.reshape_dims(t, args)
            return self.view(
                t,
                dims,
                "reshape"
                if name.startswith("reshape")
                else ("expand" if name.startswith("expand") else "view"),
            )
        if name == "flatten":
            start = kwargs.get("start_dim", args[0] if args else 0)
            end = kwargs.get("end_dim", args[1] if len(args) > 1 else -1)
            return self.flatten(t, start, end)
        if name == "permute":
            order = list(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else args
            return self.view(t, [d[i] for i in order], "permute")
        if name in ("transpose", "swapaxes"):
            a, b = args[0] % len(d), args[1] % len(d)
            dims = list(d)
            dims[a], dims[b] = dims[b], dims[a]
            return self.view(t, dims, "transpose")
        if name == "t":
            return self.view(t, list(reversed(d)), "t")
        if name == "unsqueeze":
            k = args[0] % (len(d) + 1)
            return self.view(t, [*d[:k], 1, *d[k:]], "unsqueeze")
        if name == "squeeze":
            if args:
                k = args[0] % len(d)
                return self.view(
                    t, [x for i, x in enumerate(d) if not (i == k and x == 1)], "squeeze"
                )
            return self.view(t, [x for x in d if x != 1], "squeeze")
        if name in ("chunk", "split"):
            n = args[0]
            dim = kwargs.get("dim", args[1] if len(args) > 1 else 0) % len(d)
            size = d[dim]
            if not isinstance(size, int) or not isinstance(n, int):
                raise NotFollowed(f"{name} of a dimension not known")
            per = -(-size // n) if name == "chunk" else n
            pieces = []
            left = size
            while left > 0:
                k = min(per, left)
                dims = list(d)
                dims[dim] = k
                pieces.append(self.view(t, dims, name))
                left -= k
            return tuple(pieces)
        if name in (
            "mean",
            "sum",
            "amax",
            "amin",
            "max",
            "min",
            "std",
            "var",
            "norm",
            "logsumexp",
        ) and (args or kwargs or name in ("mean", "sum")):
            r = self.reduce(t, args, kwargs, "mean" if name in ("mean", "sum") else name)
            if name in ("max", "min") and (args or "dim" in kwargs):
                return (r, r)
            return r
        if name in ("contiguous",):
            return self.new(d, "contiguous", [t])
        if name in (
            "to",
            "type",
            "cuda",
            "cpu",
            "float",
            "half",
            "bfloat16",
            "long",
            "int",
            "bool",
            "detach",
            "clone",
            "type_as",
            "requires_grad_",
        ):
            if name in ("long", "int", "bool"):
                return self.new(d, "to", [t], dtype="int64" if name != "bool" else "bool")
            return t
        if name in _ACTS or name.rstrip("_") in _ACTS:
            base = name.rstrip("_")
            return self.new(d, base, [t], inplace=name.endswith("_"))
        if name in ("softmax", "log_softmax"):
            dim = kwargs.get("dim", args[0] if args else -1)
            return self.new(d, name, [t], dim=dim)
        if name in _SAME_SHAPE_METHODS or name.rstrip("_") in _SAME_SHAPE_METHODS:
            return self.new(d, name.rstrip("_"), [t], inplace=name.endswith("_"))
        if name in ("add", "sub", "mul", "div", "add_", "mul_", "sub_", "div_", "matmul"):
            op = {
                "add": ast.Add(),
                "sub": ast.Sub(),
                "mul": ast.Mult(),
                "div": ast.Div(),
                "matmul": ast.MatMult(),
            }[name.rstrip("_")]
            return self.binop(op, t, args[0], inplace=name.endswith("_"))
        if name == "repeat":
            reps = list(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else args
            dims = [
                self.prod([x, r]) if isinstance(x, int | BatchDim) else x
                for x, r in zip(d, reps, strict=False)
            ]
            return self.new(dims, "repeat", [t])
        if name == "argmax":
            return self.reduce(t, args, kwargs, "argmax")
        raise NotFollowed(f"tensor method `.{name}()` (line {line}) is not followed")


class _Ret(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


def _flat(out: Output) -> list[Any]:
    if isinstance(out, MultiOutput):
        res: list[Any] = []
        for i in out.items:
            res.extend(_flat(i))
        return res
    return [out]


def chain_trace(root: LayerInfo, input_shape: tuple[Dim, ...], dtype: str) -> ForwardTrace:
    """The fallback: leaf layers chained in declaration order (a Sequential's real forward)."""
    tb = TraceBuilder()
    x = tb.input((None, *input_shape), dtype=dtype)
    for name, m in root.named_modules():
        if m.children or (m is root and m.children):
            continue
        if m.kind in ("ModuleList", "ModuleDict", "Identity") or m.kind.endswith("Loss"):
            continue
        if m.kind == "Flatten":
            x = tb.flatten(x, int(m.args.get("start_dim", 1)))
            tb.trace.calls[-1].layer = m
            continue
        if m.own_tensors is None:
            tb.trace.incomplete(f"{name} ({m.kind}): {m.reason}")
            continue
        x = tb.layer(m, x, name=name)
    tb.output(x)
    return tb.trace


__all__ += ["Obj", "TShape", "_Budget", "chain_trace"]


# -- per-sample input shapes ----------------------------------------------------------------------

_DATASET_SHAPES: dict[str, tuple[int, int, int]] = {
    "MNIST": (1, 28, 28), "FashionMNIST": (1, 28, 28), "KMNIST": (1, 28, 28),
    "EMNIST": (1, 28, 28), "QMNIST": (1, 28, 28), "USPS": (1, 16, 16),
    "CIFAR10": (3, 32, 32), "CIFAR100": (3, 32, 32), "SVHN": (3, 32, 32), "STL10": (3, 96, 96),
    "Omniglot": (1, 105, 105), "FakeData": (3, 224, 224), "CelebA": (3, 218, 178),
}  # fmt: skip
_VARIABLE_SIZE = {"ImageNet", "ImageFolder", "DatasetFolder", "Places365", "Food101", "Flowers102",
                  "OxfordIIITPet", "StanfordCars", "Caltech101", "Caltech256",
                  "VOCSegmentation", "VOCDetection", "CocoDetection", "LSUN", "INaturalist",
                  "FGVCAircraft", "DTD", "EuroSAT", "GTSRB", "Country211", "SUN397"}  # fmt: skip


@dataclass(frozen=True)
class Sample:
    """One sample's tensors as the data pipeline yields them: (shape, dtype) per item."""

    items: tuple[tuple[tuple[int, ...], str] | None, ...]
    source: str
    #: The batch dimension where the script builds the batch itself (``torch.randn(B, 3, 32,
    #: 32)``, ``torch.stack([... for i in ix])``): ``(value, use)``, the leading size as a
    #: :class:`~gpulens.analysis.values.V` with provenance and the span of that size in the
    #: factory call; None when a DataLoader batches (or the size is not known).
    batch: tuple[V, Span] | None = None


class Inputs:
    """Finds the per-sample input of a model from its call sites and the data it is fed."""

    def __init__(self, b: Builder, reader: Any) -> None:
        self.b = b
        self.reader = reader
        self.ev = b.ev

    def _binding(self, name: str, scope: Any, pos: tuple[int, int]) -> Any:
        s = scope
        while s is not None:
            bs = (
                [x for x in s.bindings.get(name, ()) if x.pos < pos]
                if s is scope
                else s.bindings.get(name, [])
            )
            if bs:
                return bs[-1]
            s = s.parent
        return None

    def tensor_of(
        self, node: ast.expr, scope: Any, pos: tuple[int, int], depth: int = 0
    ) -> Sample | Unk:
        """What a batch expression holds: tensors with batch-first shapes (batch dropped)."""
        if depth > 12:
            return Unk("followed too far")
        f = node.func if isinstance(node, ast.Call) else None
        if isinstance(node, ast.Call) and isinstance(f, ast.Attribute) and f.attr in _KEEP:
            inner = self.tensor_of(f.value, scope, pos, depth + 1)
            if isinstance(inner, Sample) and f.attr == "long":
                return Sample(
                    tuple((i[0], "int64") if i else None for i in inner.items),
                    inner.source,
                    inner.batch,
                )
            if isinstance(inner, Sample) and f.attr == "float":
                return Sample(
                    tuple((i[0], "float") if i else None for i in inner.items),
                    inner.source,
                    inner.batch,
                )
            return inner
        reshape = _RESHAPES.get(f.attr) if isinstance(f, ast.Attribute) else None
        if isinstance(node, ast.Call) and isinstance(f, ast.Attribute) and reshape is not None:
            recv = f.value
            args = list(node.args)
            if f.attr == "flatten" and isinstance(recv, ast.Name) and recv.id == "torch":
                if not args:
                    return Unk("torch.flatten without a tensor")
                recv, args = args[0], args[1:]
            inner = self.tensor_of(recv, scope, pos, depth + 1)
            if isinstance(inner, Unk) or len(inner.items) != 1 or inner.items[0] is None:
                return inner if isinstance(inner, Unk) else Unk("a reshaped batch not followed")
            shape, dt = inner.items[0]
            env = Env({}, scope, pos=pos)
            vals = [self.b.expr(a, env) for a in args if not isinstance(a, ast.Starred)]
            kw = {k.arg: self.b.expr(k.value, env) for k in node.keywords if k.arg}
            new = _sample_reshape(f.attr, shape, vals, kw)
            if new is None:
                return Unk(
                    f"`{self.ev.segment(node, 50)}` reshapes the batch in a way not followed"
                )
            return Sample(((new, dt),), inner.source, inner.batch)
        if isinstance(node, ast.Call) and isinstance(f, ast.Name) is False and f is not None:
            d0 = dotted_name(self.b, f, scope) or ""
            if d0.endswith(("arange", "linspace")):
                return Sample((((), "int64" if d0.endswith("arange") else "float"),), "a range")
        if isinstance(node, ast.Name):
            bd = self._binding(node.id, scope, pos)
            if bd is None:
                return Unk(f"`{node.id}` is not bound before its use")
            if bd.kind == "for":
                s = self.for_sample(bd, depth)
            elif bd.kind == "assign" and bd.value is not None:
                s = self.tensor_of(bd.value, bd.scope, bd.pos, depth + 1)
            else:
                return Unk(f"`{node.id}` is not followed")
            if isinstance(s, Sample) and bd.path and bd.kind == "assign":
                return self.pick(s, bd.path[-1])
            return s
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            s = self.tensor_of(node.value, scope, pos, depth + 1)
            if isinstance(s, Sample) and isinstance(node.slice.value, int):
                return self.pick(s, node.slice.value)
            return s if isinstance(s, Unk) else Unk("a batch item not followed")
        if isinstance(node, ast.Call):
            d = dotted_name(self.b, node.func, scope)
            last = d.rsplit(".", 1)[-1] if d else ""
            if last in ("randn", "rand", "zeros", "ones", "empty", "randint", "normal", "full"):
                return self.factory(node, scope, pos, last)
            if last == "stack" and node.args and isinstance(node.args[0], ast.ListComp):
                # torch.stack([torch.from_numpy(data[i:i+block_size]...) for i in ix])
                comp = node.args[0]
                elem = self.element(comp.elt, scope, pos)
                if isinstance(elem, Unk):
                    return elem
                # one sample per index: the batch is the length of what the indices come from
                idx = self.tensor_of(comp.generators[0].iter, scope, pos, depth + 1)
                sbatch = idx.batch if isinstance(idx, Sample) else None
                return Sample(
                    (elem,), f"`{self.ev.segment(node, 60)}` (line {node.lineno})", sbatch
                )
            if isinstance(node.func, ast.Name):
                fn = self.b.global_name(node.func.id, scope, None, quick=True)
                if isinstance(fn, FuncRef):
                    for r in fn.scope.bindings.get("<return>", ()):
                        if r.value is not None:
                            return self.tensor_of(r.value, r.scope, r.pos, depth + 1)
        if isinstance(node, ast.Tuple):
            items: list[Any] = []
            batch: Any = None
            for e in node.elts:
                s = self.tensor_of(e, scope, pos, depth + 1)
                items.append(s.items[0] if isinstance(s, Sample) and len(s.items) == 1 else None)
                if batch is None and isinstance(s, Sample):
                    batch = s.batch
            return Sample(tuple(items), "a tuple of tensors", batch)
        return Unk(f"`{self.ev.segment(node, 50)}` is not a batch the reader follows")

    def element(
        self, node: ast.expr, scope: Any, pos: tuple[int, int], dtype: str = "float"
    ) -> tuple[tuple[int, ...], str] | Unk:
        """One stacked sample: ``torch.from_numpy(data[i:i+n].astype(np.int64))``."""
        if isinstance(node, ast.Call):
            f = node.func
            name = dotted_target(f) or ""
            if name.endswith(("from_numpy", "tensor", "as_tensor")) and node.args:
                return self.element(node.args[0], scope, pos, dtype)
            if isinstance(f, ast.Attribute) and f.attr in ("astype", "to", "long", "float", "int"):
                text = self.ev.segment(node, 80)
                if f.attr in ("long", "int") or "int" in text.rsplit("(", 1)[-1]:
                    dtype = "int64"
                return self.element(f.value, scope, pos, dtype)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            lo, hi = node.slice.lower, node.slice.upper
            if (
                lo is not None
                and isinstance(hi, ast.BinOp)
                and isinstance(hi.op, ast.Add)
                and ast.dump(hi.left) == ast.dump(lo)
            ):
                n = self.b.expr(hi.right, Env({}, scope, pos=pos))
                if isinstance(n, int) and not isinstance(n, bool):
                    return ((n,), dtype)
        return Unk(f"the stacked samples `{self.ev.segment(node, 50)}` are not followed")

    def pick(self, s: Sample, i: int) -> Sample | Unk:
        if len(s.items) == 1 and i == 0:
            return s
        if -len(s.items) <= i < len(s.items):
            item = s.items[i]
            return (
                Sample((item,), s.source, s.batch)
                if item is not None
                else Unk(f"item {i} of {s.source} is not known")
            )
        return Unk("batch item out of range")

    def factory(self, node: ast.Call, scope: Any, pos: tuple[int, int], last: str) -> Sample | Unk:
        env = Env({}, scope, pos=pos)
        args = [self.b.expr(a, env) for a in node.args if not isinstance(a, ast.Starred)]
        kw = {k.arg: self.b.expr(k.value, env) for k in node.keywords if k.arg}
        pos_args = [a for a in node.args if not isinstance(a, ast.Starred)]
        kw_nodes = {k.arg: k.value for k in node.keywords if k.arg}
        size_node: ast.expr | None
        if last == "randint":
            size = kw.get("size", args[-1] if args else None)
            size_node = kw_nodes.get("size", pos_args[-1] if pos_args else None)
        elif last in ("full",):
            size = kw.get("size", args[0] if args else None)
            size_node = kw_nodes.get("size", pos_args[0] if pos_args else None)
        elif last == "normal":
            size = kw.get("size", args[2] if len(args) > 2 else None)
            size_node = kw_nodes.get("size", pos_args[2] if len(pos_args) > 2 else None)
        else:
            size = kw.get(
                "size",
                args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else tuple(args),
            )
            size_node = kw_nodes.get("size")
            if size_node is None and pos_args:
                size_node = pos_args[0]
                if len(pos_args) > 1 or not isinstance(size_node, ast.Tuple | ast.List):
                    size_node = ast.Tuple(elts=pos_args, ctx=ast.Load())
        if isinstance(size, int):
            size = (size,)
        if not isinstance(size, list | tuple) or not size:
            return Unk(f"the size of `{self.ev.segment(node, 50)}` is not known")
        rest = size[1:]
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in rest):
            return Unk(f"the size of `{self.ev.segment(node, 50)}` is not known")
        dt = "int64" if last == "randint" else "float"
        dtype = kw.get("dtype")
        if isinstance(dtype, Sym) and dtype.last in ("long", "int64", "int32", "int"):
            dt = "int64"
        return Sample(
            ((tuple(rest), dt),),
            f"`{self.ev.segment(node, 60)}` (line {node.lineno})",
            self.leading(node, size_node, scope, pos),
        )

    def leading(
        self, call: ast.Call, size_node: ast.expr | None, scope: Any, pos: tuple[int, int]
    ) -> tuple[V, Span] | None:
        """The first dimension of a tensor factory's size, with provenance (the batch size of
        a batch the script builds itself), and where it is written."""
        if isinstance(size_node, ast.Tuple | ast.List):
            if not size_node.elts or isinstance(size_node.elts[0], ast.Starred):
                return None
            dim = size_node.elts[0]
        elif size_node is not None:
            dim = size_node  # torch.randint(0, 10, (B,)) has size (B,); randn(B) too
        else:
            return None
        v = self.ev.eval(dim, scope, pos)
        if not v.known or not isinstance(v.value, int) or isinstance(v.value, bool):
            return None
        text = f"first dimension of `{self.ev.segment(call, 60)}`, line {call.lineno}"
        if v.source != "literal":
            text += f" with {v.source}"
        return V(v.value, text, v.span or span_of(dim)), span_of(dim)

    def for_sample(self, bd: Any, depth: int) -> Sample | Unk:
        loop = None
        for lp, _s in self.b.table.loops:
            if isinstance(lp, ast.For) and any(n is bd.node for n in ast.walk(lp.target)):
                loop = (lp, _s)
                break
        if loop is None:
            return Unk("the loop is not found")
        lp, scope = loop
        it = lp.iter
        path = bd.path
        while isinstance(it, ast.Call):
            d = dotted_name(self.b, it.func, scope) or ""
            if d.endswith("enumerate") and it.args:
                if not path or path[0] != 1:
                    return Unk("the enumerate counter")
                path = path[1:]
                it = it.args[0]
            elif d.rsplit(".", 1)[-1] in ("tqdm", "iter", "zip") and it.args:
                it = it.args[0]
            else:
                break
        s = self.loader_sample(it, scope, (lp.lineno, lp.col_offset), depth)
        if isinstance(s, Sample) and path:
            return self.pick(s, path[0])
        return s

    def loader_sample(
        self, node: ast.expr, scope: Any, pos: tuple[int, int], depth: int
    ) -> Sample | Unk:
        v = self.ev.eval(node, scope, pos)
        if not v.known:
            return Unk(v.reason or "the data loader is not known")
        from gpulens.analysis.values import LoaderVal

        ld = v.value
        if not isinstance(ld, LoaderVal):
            return Unk(f"`{self.ev.segment(node, 40)}` is not a DataLoader the reader follows")
        call = ld.node
        ds = (
            call.args[0]
            if call.args
            else next((k.value for k in call.keywords if k.arg == "dataset"), None)
        )
        if ds is None:
            return Unk("the DataLoader has no dataset")
        lscope = self._scope_of_call(call) or scope
        return self.dataset_sample(ds, lscope, (call.lineno, call.col_offset), depth + 1)

    def _scope_of_call(self, call: ast.Call) -> Any:
        for c, s in self.ev.callers("DataLoader"):
            if c is call:
                return s
        for c, s in self.b.table.calls:
            if c is call:
                return s
        return None

    def dataset_sample(
        self, node: ast.expr, scope: Any, pos: tuple[int, int], depth: int
    ) -> Sample | Unk:
        if depth > 12:
            return Unk("followed too far")
        if isinstance(node, ast.Name):
            bd = self._binding(node.id, scope, pos)
            if bd is None or bd.value is None:
                return Unk(f"`{node.id}` is not followed")
            val = bd.value
            if bd.path and isinstance(val, ast.Call):
                d = dotted_name(self.b, val.func, bd.scope) or ""
                if d.endswith("random_split") and val.args:
                    return self.dataset_sample(val.args[0], bd.scope, bd.pos, depth + 1)
            return self.dataset_sample(val, bd.scope, bd.pos, depth + 1)
        if isinstance(node, ast.Subscript):
            return self.dataset_sample(node.value, scope, pos, depth + 1)
        if not isinstance(node, ast.Call):
            return Unk(f"`{self.ev.segment(node, 40)}` is not a dataset the reader follows")
        d = dotted_name(self.b, node.func, scope) or ""
        last = d.rsplit(".", 1)[-1]
        if last in ("random_split", "Subset") and node.args:
            return self.dataset_sample(node.args[0], scope, pos, depth + 1)
        if isinstance(node.func, ast.Name) and node.func.id in self.b.table.classes:
            own = self.custom_dataset(self.b.table.classes[node.func.id], node, scope)
            if own is not None:
                return own
        if last == "TensorDataset":
            items: list[Any] = []
            for a in node.args:
                s = self.tensor_of(a, scope, pos, depth + 1)
                items.append(s.items[0] if isinstance(s, Sample) else None)
            if not items or items[0] is None:
                return Unk("the tensors of the TensorDataset have shapes the reader cannot follow")
            return Sample(tuple(items), f"TensorDataset at line {node.lineno}")
        if last in _DATASET_SHAPES or last in _VARIABLE_SIZE:
            base = _DATASET_SHAPES.get(last)
            c, h, w = base if base else (3, None, None)
            tf = next((k.value for k in node.keywords if k.arg == "transform"), None)
            if tf is None and last in ("ImageFolder", "DatasetFolder") and len(node.args) > 1:
                tf = node.args[1]
            square = base is not None and base[1] == base[2]
            size, chans = (
                self.transforms(tf, scope, pos, square) if tf is not None else (None, None)
            )
            if size is not None:
                h, w = size
            if chans is not None:
                c = chans
            if h is None or w is None:
                return Unk(f"{last} images vary in size and no Resize/Crop transform fixes it")
            src = f"torchvision {last} ({c}×{h}×{w} per image)"
            return Sample((((c, h, w), "float"), ((), "int64")), src)
        return Unk(
            f"the samples of `{self.ev.segment(node, 40)}` have a shape the reader does not know"
        )

    def custom_dataset(
        self, cls: ast.ClassDef, call: ast.Call | None = None, scope: Any = None
    ) -> Sample | None:
        """A Dataset of the script: what ``__getitem__`` returns, when it is a tensor made with
        a size known from the constructor's arguments (``torch.randint(0, V, (self.seq_len +
        1,))``), a slice of one (``x[:-1], x[1:]``) or an item of one made in ``__init__``
        (``self.x[idx]``)."""
        get, _ = self.b.method(cls, "__getitem__")
        if get is None:
            return None
        rets = get.scope.bindings.get("<return>", [])
        if len(rets) != 1 or rets[0].value is None:
            return None
        value = rets[0].value
        elts = value.elts if isinstance(value, ast.Tuple) else [value]
        init, _ = self.b.method(cls, "__init__")
        # the instance as its constructor call builds it, so `self.seq_len` has a value
        this: dict[str, Any] = {}
        if call is not None and scope is not None:
            inst = self.b.expr(call, Env({}, scope))
            if isinstance(inst, Obj):
                this = {"self": inst}
        items: list[Any] = []
        for e in elts:
            items.append(self.sample_item(e, get, init, this))
        if not items or items[0] is None:
            return None  # the caller says the samples' shape is not known
        return Sample(tuple(items), f"`{cls.name}.__getitem__`")

    def sample_item(
        self,
        e: ast.expr,
        get: FuncRef,
        init: FuncRef | None,
        this: dict[str, Any] | None = None,
        depth: int = 0,
    ) -> tuple[tuple[int, ...], str] | None:
        this = this or {}
        if (
            isinstance(e, ast.Subscript)
            and isinstance(e.value, ast.Name)
            and isinstance(e.slice, ast.Slice)
            and depth < 4
        ):
            # x[:-1], x[1:] of a tensor made in __getitem__: a slice of its first dimension
            bs = get.scope.bindings.get(e.value.id)
            if not bs or bs[-1].value is None:
                return None
            whole = self.sample_item(bs[-1].value, get, init, this, depth + 1)
            if whole is None or not whole[0]:
                return None
            env = Env(dict(this), get.scope)
            bounds = [
                self.b.expr(b, env) if b is not None else None
                for b in (e.slice.lower, e.slice.upper, e.slice.step)
            ]
            if not all(
                b is None or (isinstance(b, int) and not isinstance(b, bool)) for b in bounds
            ):
                return None
            n = len(range(whole[0][0])[slice(*bounds)])
            return ((n, *whole[0][1:]), whole[1])
        drop = 0
        while (
            isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr in _KEEP
        ):
            e = e.func.value
        if isinstance(e, ast.Subscript) and isinstance(e.value, ast.Attribute):
            # self.x[idx]: a row of a tensor made in __init__
            if init is None or not isinstance(e.value.value, ast.Name):
                return None
            key = f"{e.value.value.id}.{e.value.attr}"
            bs = init.scope.bindings.get(key)
            if not bs or bs[-1].value is None:
                return None
            e, drop = bs[-1].value, 1
            scope = init.scope
        else:
            scope = get.scope
        while (
            isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr in _KEEP
        ):
            e = e.func.value
        if isinstance(e, ast.Constant) and isinstance(e.value, int):
            return ((), "int64")
        if not isinstance(e, ast.Call):
            return None
        name = (dotted_name(self.b, e.func, scope) or "").rsplit(".", 1)[-1]
        if name not in ("randn", "rand", "zeros", "ones", "empty", "randint", "full", "tensor"):
            return None
        env = Env(dict(this), scope)
        if name == "tensor":
            v = self.b.expr(e.args[0], env) if e.args else None
            if isinstance(v, int | float) and not isinstance(v, bool):
                return ((), "int64" if isinstance(v, int) else "float")
            return None
        args = [self.b.expr(a, env) for a in e.args if not isinstance(a, ast.Starred)]
        kw = {k.arg: self.b.expr(k.value, env) for k in e.keywords if k.arg}
        if name == "randint":
            size = kw.get("size", args[-1] if args else None)
        elif name == "full":
            size = kw.get("size", args[0] if args else None)
        else:
            size = kw.get(
                "size",
                args[0] if len(args) == 1 and isinstance(args[0], tuple | list) else tuple(args),
            )
        if isinstance(size, int):
            size = (size,)
        if not isinstance(size, tuple | list) or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in size
        ):
            return None
        dt = "int64" if name == "randint" else "float"
        return (tuple(size[drop:]), dt)

    def transforms(
        self, node: ast.expr, scope: Any, pos: tuple[int, int], square: bool
    ) -> tuple[tuple[int, int] | None, int | None]:
        env = Env({}, scope, pos=pos)
        calls: list[ast.Call] = []
        todo = [node]
        hops = 0
        while todo and hops < 30:
            hops += 1
            n = todo.pop(0)
            if isinstance(n, ast.Name):
                bd = self._binding(n.id, scope, pos)
                if bd is not None and bd.value is not None:
                    todo.append(bd.value)
            elif isinstance(n, ast.Call):
                last = (dotted_target(n.func) or "").rsplit(".", 1)[-1]
                if last == "Compose" and n.args:
                    todo.append(n.args[0])
                else:
                    calls.append(n)
            elif isinstance(n, ast.List | ast.Tuple):
                todo.extend(n.elts)
        size: tuple[int, int] | Unk | None = None
        chans: int | None = None
        for c in calls:
            last = (dotted_target(c.func) or "").rsplit(".", 1)[-1]
            if last in ("Resize", "CenterCrop", "RandomCrop", "RandomResizedCrop", "Scale"):
                v = self.b.expr(c.args[0], env) if c.args else None
                for k in c.keywords:
                    if k.arg == "size":
                        v = self.b.expr(k.value, env)
                if isinstance(v, int) and not isinstance(v, bool):
                    if last in ("Resize", "Scale"):
                        # the shorter side: square only if the images are square
                        size = (v, v) if square else Unk("Resize(int) keeps the aspect ratio")
                    else:
                        size = (v, v)
                elif (
                    isinstance(v, list | tuple)
                    and len(v) == 2
                    and all(isinstance(x, int) for x in v)
                ):
                    size = (v[0], v[1])
                elif isinstance(v, list | tuple) and len(v) == 1 and isinstance(v[0], int):
                    size = (v[0], v[0])
                else:
                    size = Unk(f"the size of `{self.ev.segment(c, 40)}` is not known")
            elif last == "Grayscale":
                nv: Any = 1
                for k in c.keywords:
                    if k.arg == "num_output_channels":
                        nv = self.b.expr(k.value, env)
                if c.args:
                    nv = self.b.expr(c.args[0], env)
                chans = nv if isinstance(nv, int) and nv > 0 else 1
        if isinstance(size, Unk):
            return None, chans
        return size, chans


_RESHAPES = {"flatten": 1, "view": 1, "reshape": 1, "unsqueeze": 1, "squeeze": 1}


def _sample_reshape(
    op: str, shape: tuple[int, ...], args: list[Any], kw: dict[str, Any]
) -> tuple[int, ...] | None:
    """A batch (per-sample ``shape``) after ``x.<op>(*args)``; None when not followed. Dims of
    the batch tensor count the batch as dim 0."""
    total = math.prod(shape)
    if op == "flatten":
        start = kw.get("start_dim", args[0] if args else 0)
        end = kw.get("end_dim", args[1] if len(args) > 1 else -1)
        if not isinstance(start, int) or not isinstance(end, int):
            return None
        if start == 0:
            return None  # the batch itself is flattened away
        full = len(shape) + 1
        s, e = start % full - 1, end % full - 1
        return (*shape[:s], math.prod(shape[s : e + 1]), *shape[e + 1 :])
    if op in ("view", "reshape"):
        dims = list(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else args
        if not dims:
            return None
        rest = dims[1:]
        if not all(isinstance(d, int) for d in rest):
            return None
        known = math.prod(d for d in rest if d != -1)
        if -1 in rest:
            if known == 0 or total % known:
                return None
            rest = [total // known if d == -1 else d for d in rest]
        return tuple(rest) if math.prod(rest) == total else None
    if op == "unsqueeze":
        d = kw.get("dim", args[0] if args else None)
        if not isinstance(d, int) or d == 0:
            return None
        k = d % (len(shape) + 2) - 1
        return (*shape[:k], 1, *shape[k:])
    if op == "squeeze":
        if not args:
            return tuple(x for x in shape if x != 1)
        d = args[0]
        if not isinstance(d, int) or d == 0:
            return None
        k = d % (len(shape) + 1) - 1
        return tuple(x for i, x in enumerate(shape) if not (i == k and x == 1))
    return None


def dotted_name(b: Builder, func: ast.expr, scope: Any) -> str | None:
    v = b.resolve_expr_quick(func, scope)
    if isinstance(v, Sym):
        return v.name
    return dotted_target(func)


# -- the models of a script, their traces and the memory estimate ---------------------------------


@dataclass
class ModelReport:
    models: list[Any]
    params_total: int | None
    memory: Any
    memory_reason: str | None
    #: The batch size read from the model's input when no DataLoader gives it, and where that
    #: size is written (for the ``batch_size`` mention).
    batch_fact: Any = None
    batch_use: Span | None = None


def _int_fact(facts: dict[str, Any], name: str) -> int | None:
    f = facts.get(name)
    v = getattr(f, "value", None)
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def _first_leaf(info: LayerInfo) -> LayerInfo | None:
    for _, m in info.named_modules():
        if not m.children and m is not info:
            return m
    return None


class ModelReading:
    """Everything issue 3's section 1 gives the reader: models, traces, the memory estimate."""

    def __init__(self, reader: Any, facts: dict[str, Any]) -> None:
        self.reader = reader
        self.facts = facts
        self.b = Builder(reader.ev)
        self.inputs = Inputs(self.b, reader)
        self.batch = _int_fact(facts, "batch_size")

    def run(self, memo: ModelMemo | None = None) -> ModelReport:
        """Read the models, or reuse ``memo``'s reading of the previous version of the text
        when nothing it read changed (``modelcache``); then the batch-dependent part."""
        from gpulens.analysis import catalog
        from gpulens.analysis.models import constructor_names, torchvision_modules

        opt_calls: list[tuple[ast.Call, Any]] = []
        for call, scope, name in self.reader.canon:
            if name.rsplit(".", 1)[-1] in catalog.OPTIMIZERS:
                opt_calls.append((call, scope))
        names = constructor_names(self.b)
        loader = getattr(self.reader, "train_loader", None)
        self.b.ev.reading_models(True)
        if memo is None or (self.batch is None and loader is None):
            # (the batch size read from the model's input comes out of the reading itself)
            read = self.read(opt_calls, names)
        else:
            body = self.b.table.module.node.body
            key = self.memo_key(opt_calls, names, bool(torchvision_modules(self.b)))
            total_lines = len(self.b.ev.lines)
            reused = memo.reuse(key, body, total_lines)
            if reused is not None and isinstance(reused[0], _Read):
                read, moved = reused
                if moved is not None:  # lines added or removed above what was read
                    read = _moved(read, moved.line)
                    memo.replace(read)
            else:
                from gpulens.analysis.modelcache import recording

                with recording(self.b.table, self.b.ev, body) as rec:
                    read = self.read(opt_calls, names)
                rec.discover_names = names
                rec.constructor_form = bool(torchvision_modules(self.b))
                rec.reached_end = max(rec.reached_end, *self.lines_read(read, opt_calls, body))
                memo.store(key, rec, body, total_lines, read)
        self.b.ev.reading_models(False)
        return self.finish(read)

    def memo_key(
        self, opt_calls: list[tuple[ast.Call, Any]], names: frozenset[str], tv: bool
    ) -> tuple[Any, ...]:
        """Everything a model reading depends on besides the statements it reads."""
        facts = tuple(
            sorted(
                (k, repr(getattr(f, "value", None)))
                for k, f in self.facts.items()
                if k != "batch_size"
            )
        )
        pragma = self.facts.get("input_shape")
        span = getattr(pragma, "span", None)
        loader = getattr(self.reader, "train_loader", None)
        ctx = self.b.ev.ctx
        # values set by config files the script execs (read before the models, by the reader)
        presets = tuple(
            (b.target, b.line, repr(getattr(b.preset, "value", b.preset)))
            for bs in dict.values(self.b.table.module.bindings)
            for b in bs
            if b.kind == "preset"
        )
        return (
            facts,
            presets,
            span.line if span is not None else None,
            repr(ctx),
            id(loader[0]) if loader else None,
            tuple(id(c) for c, _s in opt_calls),
            names,
            tv,
            self.batch is None,
        )

    def lines_read(
        self, read: _Read, opt_calls: list[tuple[ast.Call, Any]], body: list[ast.stmt]
    ) -> list[int]:
        """Last lines of the statements a reading took positions from outside the look-ups a
        recording sees: the models' assignments, the optimizers and the loader."""
        from gpulens.analysis.modelcache import _statement_end

        lines = [f.binding.line for f in read.found]
        lines += [c.lineno for c, _s in opt_calls]
        loader = getattr(self.reader, "train_loader", None)
        if loader:
            lines.append(loader[0].lineno)
        return [_statement_end(body, n) for n in lines] or [0]

    def read(self, opt_calls: list[tuple[ast.Call, Any]], names: frozenset[str]) -> _Read:
        """The models, their summaries (output shapes with the batch left open) and traces."""
        try:
            found = discover(self.b, opt_calls, names)
        except _Budget:
            return _Read([], [], [], [], [], None, "the model code is too intricate to follow")
        batch_fact: Any = None
        batch_use: Span | None = None
        if self.batch is None and getattr(self.reader, "train_loader", None) is None:
            from_inputs = self.batch_from_inputs(found)
            if from_inputs is not None:
                v, batch_use = from_inputs
                batch_fact = Fact("batch_size", v.value, v.source, v.span)
                self.facts["batch_size"] = batch_fact
                self.batch = v.value
        summaries: list[Any] = []
        batch_dims: list[list[int | None]] = []
        traces: list[Any] = []
        missing: list[str] = []
        trained_infos: list[LayerInfo] = []
        for f in found:
            summary, dims, trace = self.one(f)
            summaries.append(summary)
            batch_dims.append(dims)
            if f.trained:
                trained_infos.append(f.info)
                if trace is None:
                    why = summary.reason or "no forward trace"
                    missing.append(
                        why if why.startswith(f"{summary.name}:") else f"{summary.name}: {why}"
                    )
                else:
                    traces.append(trace)
        params_total = self.unique_params(trained_infos)
        return _Read(
            found, summaries, batch_dims, traces, missing, params_total, None, batch_fact, batch_use
        )

    def finish(self, read: _Read) -> ModelReport:
        """The batch-dependent part: output shapes at the script's batch size, the estimate."""
        if read.failed is not None:
            return ModelReport([], None, None, read.failed)
        summaries = [
            _at_batch(s, dims, self.batch)
            for s, dims in zip(read.summaries, read.batch_dims, strict=True)
        ]
        memory, reason = self.memory(read.traces, read.missing, read.found)
        return ModelReport(
            summaries, read.params_total, memory, reason, read.batch_fact, read.batch_use
        )

    def training_lines(self) -> list[tuple[int, int]] | None:
        """Line ranges of the training loop and the training functions it calls (None: no
        training loop was found)."""
        tl = getattr(self.reader, "train_loop", None)
        if tl is None:
            return None
        from gpulens.analysis.loops import LoopFinder

        return [
            (b.lineno, getattr(b, "end_lineno", None) or b.lineno)
            for b, _s in LoopFinder(self.reader.ev).bodies(tl.node, tl.scope)
            if hasattr(b, "lineno")
        ]

    def keeps_grads(self) -> bool:
        """``zero_grad(set_to_none=False)`` in the training loop keeps every gradient allocated
        between steps (torch >= 2.0 frees them by default)."""
        ranges = self.training_lines()
        if ranges is None:
            return False
        for call, scope in self.reader.ev.call_index().get("zero_grad", ()):
            if not any(lo <= call.lineno <= hi for lo, hi in ranges):
                continue
            if self.reader.dead(call, scope):
                continue
            for kw in call.keywords:
                if kw.arg == "set_to_none":
                    v = self.reader.ev.eval(kw.value, scope, (call.lineno, call.col_offset))
                    if v.known and v.value is False:
                        return True
        return False

    def ddp_buckets(self) -> bool:
        """A ``DistributedDataParallel`` wrapping runs in this configuration (not under an
        ``if`` known to be false: ``if args.distributed:`` without the flag) and keeps its own
        allreduce buckets (``gradient_as_bucket_view`` not known to be true)."""
        for call, scope, name in self.reader.canon:
            if name.rsplit(".", 1)[-1] != "DistributedDataParallel":
                continue
            if self.reader.dead(call, scope):
                continue
            view = next(
                (k.value for k in call.keywords if k.arg == "gradient_as_bucket_view"), None
            )
            if view is not None:
                v = self.reader.ev.eval(view, scope, (call.lineno, call.col_offset))
                if v.known and v.value is True:
                    continue
            return True
        return False

    def batch_from_inputs(self, found: list[Found]) -> tuple[V, Span] | None:
        """No DataLoader sets the batch size: the leading dimension of the batch the training
        loop feeds a trained model (``model(torch.randn(B, 3, 32, 32))``, ``x, y =
        get_batch()`` stacking ``B`` samples), followed by :meth:`Inputs.tensor_of`. Calls
        outside the training loop (a summary pass with a batch of one) do not count."""
        ranges = self.training_lines()
        if ranges is None:
            return None
        index = self.b.ev.call_index()
        for f in found:
            if not f.trained:
                continue
            for call, scope in index.get(f.var, ()):
                fn = call.func
                if not (isinstance(fn, ast.Name) and fn.id == f.var and call.args):
                    continue
                if not any(lo <= call.lineno <= hi for lo, hi in ranges):
                    continue
                s = self.inputs.tensor_of(call.args[0], scope, (call.lineno, call.col_offset))
                if isinstance(s, Sample) and s.batch is not None:
                    return s.batch
        return None

    def unique_params(self, infos: list[LayerInfo]) -> int | None:
        if not infos:
            return None
        seen: set[int] = set()
        total = 0
        for info in infos:
            if not info.known:
                return None
            for _, t in info.named_tensors():
                if id(t) not in seen and not t.buffer:
                    seen.add(id(t))
                    total += t.numel
        return total

    def memory(
        self, traces: list[Any], missing: list[str], found: list[Found]
    ) -> tuple[Any, str | None]:
        if not any(f.trained for f in found):
            return None, "no model the script trains was found (a model passed to an optimizer)"
        if missing:
            return None, "; ".join(missing)
        if self.batch is None:
            bf = self.facts.get("batch_size")
            why = getattr(bf, "reason", None) or "not found"
            return None, f"the batch size is not known ({why})"
        from gpulens.estimate.memory import estimate_training_memory

        prec = getattr(self.facts.get("precision"), "value", None)
        if not isinstance(prec, str):
            prec = "fp32"
        opt = getattr(self.facts.get("optimizer"), "value", None)
        opts: Any = opt if isinstance(opt, dict | str) else None
        per_model = [f.optimizer for f in found if f.trained]
        if len(traces) > 1 and all(o is not None for o in per_model):
            opts = per_model
        try:
            est = estimate_training_memory(
                traces if len(traces) > 1 else traces[0],
                self.batch,
                prec,
                opts,
                keep_grads=self.keeps_grads(),
                ddp_buckets=self.ddp_buckets(),
            )
        except (ValueError, KeyError, ZeroDivisionError) as exc:
            return None, f"the memory model failed: {exc}"
        est.reasons.extend(self.wrapper_notes())
        return est, None

    def wrapper_notes(self) -> list[str]:
        """What a wrapper that may run in this configuration changes about the figures (the
        model reader treats them as the model itself: the same parameters)."""
        notes: list[str] = []
        for call, scope, name in self.reader.canon:
            last = name.rsplit(".", 1)[-1]
            text = _WRAPPER_NOTES.get(last)
            if text is None or not name.startswith("torch.") or self.reader.dead(call, scope):
                continue
            note = text.format(call=f"`{name}`", line=call.lineno)
            if note not in notes:
                notes.append(note)
        return notes

    # -- one model ---------------------------------------------------------------------------
    def one(self, f: Found) -> tuple[Any, list[int | None], Any]:
        """A model's summary (output shapes with None for the batch), the position of the
        batch in each layer's output shape, and its trace."""
        from gpulens.analysis.facts import LayerSummary, ModelSummary

        info = f.info
        meta = self.b.meta.get(id(info))
        type_name = (meta.type_name if meta else "") or info.kind
        name = (
            type_name
            if meta is not None
            and (meta.cls is not None or meta.tv is not None or "__unread__" in meta.attrs)
            else f.var
        )
        trace: Any = None
        outputs: dict[int, tuple[tuple[Dim, ...], int | None]] = {}
        trace_reason: str | None = None
        lazy_only = all(
            m.own_tensors is not None or m.spec.lazy is not None for _, m in info.named_modules()
        )
        if lazy_only:
            trace, outputs, trace_reason = self.trace(f, meta)
            info = f.info  # Lazy* layers are materialised by the first forward
            if not info.known:
                trace = None
        reason: str | None = info.unknown_reason
        if reason is not None and trace_reason is not None:
            reason = f"{reason}: {trace_reason}"
        trainable = info.trainable_params
        unk = self._trainable_unknown(info)
        if unk is not None:
            trainable = None
            reason = reason or f"which parameters are trainable is not known: {unk}"
        summary = ModelSummary(
            name=name,
            line=f.binding.line,
            params=info.params,
            trainable_params=trainable,
            span=meta.span if meta is not None else None,
            trained=f.trained,
            trace=trace,
            reason=reason or trace_reason,
        )
        count = 0
        per_layer = _layer_params(info)
        dims: list[int | None] = []
        for path, m in info.named_modules():
            if m is info:
                continue
            count += 1
            if count > 5000:
                break
            mm = self.b.meta.get(id(m))
            out = outputs.get(id(m))
            shape, bdim = out if out is not None else (None, None)
            dims.append(bdim)
            summary.layers.append(
                LayerSummary(
                    name=path,
                    type=(mm.type_name if mm is not None and mm.type_name else m.kind),
                    line=mm.line if mm is not None else None,
                    params=per_layer.get(id(m)),
                    output_shape=shape,
                    span=mm.span if mm is not None else None,
                    reason=None if shape is not None else (m.reason or trace_reason),
                )
            )
        return summary, dims, trace

    def _trainable_unknown(self, info: LayerInfo) -> str | None:
        for _, m in info.named_modules():
            mm = self.b.meta.get(id(m))
            if mm is not None and "__trainable_unknown__" in mm.attrs:
                return str(mm.attrs["__trainable_unknown__"])
        return None

    def sample_for(self, f: Found) -> tuple[Sample | Unk, int]:
        """The per-sample input (and the number of arguments the script passes)."""
        pragma = self.facts.get("input_shape")
        first = _first_leaf(f.info)
        tokens = first is not None and first.kind in ("Embedding", "EmbeddingBag")
        if pragma is not None and getattr(pragma, "value", None) is not None:
            v = pragma.value
            if isinstance(v, int):
                v = (v,)
            if isinstance(v, list | tuple) and all(isinstance(x, int) for x in v):
                dt = "int64" if tokens else "float"
                return Sample(
                    ((tuple(v), dt),),
                    f"pragma input_shape, line {pragma.span.line if pragma.span else '?'}",
                ), 1
        best: Sample | Unk = Unk("the model is never called with an input the reader follows")
        nargs = 1
        for call, scope in self.b.ev.call_index().get(f.var, ()):
            fn = call.func
            if not (isinstance(fn, ast.Name) and fn.id == f.var and call.args):
                continue
            s = self.inputs.tensor_of(call.args[0], scope, (call.lineno, call.col_offset))
            if isinstance(s, Sample):
                items = list(s.items[:1])
                if len(call.args) > 1:
                    t = self.inputs.tensor_of(call.args[1], scope, (call.lineno, call.col_offset))
                    if isinstance(t, Sample):
                        items.append(t.items[0])
                        nargs = 2
                    if nargs == 1:
                        continue  # model(x, something unknown): try another call
                return Sample(tuple(items), s.source), nargs
            if isinstance(best, Unk) and "not a batch" not in s.reason:
                best = s
        picked = getattr(self.reader, "train_loader", None)
        if picked is not None:
            call, scope = picked
            ds = (
                call.args[0]
                if call.args
                else next((k.value for k in call.keywords if k.arg == "dataset"), None)
            )
            if ds is not None:
                s = self.inputs.dataset_sample(ds, scope, (call.lineno, call.col_offset), 0)
                if isinstance(s, Sample):
                    return s, 1
                best = s
        return best, nargs

    def trace(
        self, f: Found, meta: Meta | None
    ) -> tuple[Any, dict[int, tuple[tuple[Dim, ...], int | None]], str | None]:
        from gpulens.estimate.memory import torchvision_costs

        sample, nargs = self.sample_for(f)
        if meta is not None and meta.tv is not None:
            size = None
            if isinstance(sample, Sample) and sample.items and sample.items[0] is not None:
                shp = sample.items[0][0]
                if len(shp) == 3:
                    size = (shp[0], shp[1], shp[2])
            costs = torchvision_costs(meta.tv.name, None, size)
            if costs is None:
                return None, {}, f"{meta.tv.name} is not in the torchvision table"
            if f.info.params is None:  # e.g. a head of an unknown class count
                return None, {}, f.info.unknown_reason or "the model's size is not known"
            import dataclasses

            params = f.info.params
            trainable = f.info.trainable_params
            costs = dataclasses.replace(
                costs,
                params=params,
                trainable_params=trainable if trainable is not None else params,
                output_elems_per_sample=self._classes(f.info, costs.output_elems_per_sample),
            )
            return costs, {}, None
        if isinstance(sample, Unk):
            unknown_in = f"the input shape is not known ({sample.reason})"
            return None, {}, f"{unknown_in}; add `# gpulens: input_shape=(C, H, W)`"
        x = sample.items[0]
        if x is None:
            return None, {}, "the input shape is not known"
        tr = Tracer(self.b, f.info, self.batch)
        ins: list[tuple[tuple[Dim, ...], str]] = [(x[0], x[1])]
        target = sample.items[1] if len(sample.items) > 1 else None
        if nargs >= 2 and target is not None:
            ins.append((target[0], target[1]))
        why: str | None = None
        try:
            _xs, out = tr.run(ins, min(nargs, len(ins)))
            f.info = tr.root
            outs = _tensors(out)
            if not outs:
                raise NotFollowed("forward() returns no tensor")
            tr.tb.output(*[o.tid for o in outs])
            if not tr.loss_traced:
                self.add_loss(tr, outs[0], target)
            trace = tr.tb.finish([tr.root])
            shapes = self.shapes(tr)
        except (NotFollowed, CatalogError, _Budget, RecursionError) as exc:
            why = (
                f"forward() not followed: {exc}"
                if not isinstance(exc, _Budget)
                else "forward() is too long to follow"
            )
            trace = chain_trace(f.info, x[0], x[1])
            trace.incomplete(f"{why}; the layers are chained in declaration order instead")
            trace.modules = [f.info]
            shapes = {}
            for c in trace.calls:
                if c.layer is not None and c.outputs:
                    shapes.setdefault(id(c.layer), _open_batch(trace.tensors[c.outputs[0]]))
        return trace, shapes, why

    def _classes(self, info: LayerInfo, default: int) -> int:
        last: LayerInfo | None = None
        for _, m in info.named_modules():
            if m.kind == "Linear":
                last = m
        if last is not None:
            v = last.args.get("out_features")
            if isinstance(v, int):
                return v
        return default

    def shapes(self, tr: Tracer) -> dict[int, tuple[tuple[Dim, ...], int | None]]:
        out: dict[int, tuple[tuple[Dim, ...], int | None]] = {}
        for c in tr.tb.trace.calls:
            if c.layer is not None and c.outputs and id(c.layer) not in out:
                out[id(c.layer)] = _open_batch(tr.tb.trace.tensors[c.outputs[0]])
        for mid, t in tr.module_outputs.items():
            out.setdefault(mid, _open_batch(tr.tb.trace.tensors[t]))
        return out

    def add_loss(self, tr: Tracer, out: T, target: tuple[tuple[int, ...], str] | None) -> None:
        lf = getattr(self.facts.get("loss"), "value", None)
        kind = str(lf or "")
        tb = tr.tb
        shape = tb.shape(out.tid)
        if kind in ("CrossEntropyLoss", "F.cross_entropy", "NLLLoss", "F.nll_loss"):
            if target is not None:
                t = tb.input((None, *target[0]), dtype=target[1], name="y")
            else:
                t = tb.input((None,) if len(shape) <= 2 else shape[:-1], dtype="int64", name="y")
            if len(shape) > 2 and len(tb.shape(t)) == len(shape) - 1 and shape[1] != tb.shape(t)[1]:
                pass  # class dim 1 (segmentation): still one log-softmax over the logits
            tb.cross_entropy(out.tid, t)
        elif kind in ("MSELoss", "F.mse_loss", "L1Loss", "F.l1_loss", "SmoothL1Loss", "HuberLoss"):
            t = tb.input(shape, name="y")
            tb.op("mse_loss", [out.tid, t], (), name="loss")
        elif kind in (
            "BCEWithLogitsLoss",
            "BCELoss",
            "F.binary_cross_entropy_with_logits",
            "F.binary_cross_entropy",
        ):
            t = tb.input(shape, name="y")
            tb.op("bce_with_logits", [out.tid, t], (), name="loss")


@dataclass
class _Read:
    """A model reading before the batch size is applied (what ``modelcache`` keeps)."""

    found: list[Found]
    summaries: list[Any]
    #: Per model, per layer: where the batch goes in the output shape (None: nowhere).
    batch_dims: list[list[int | None]]
    traces: list[Any]
    missing: list[str]
    params_total: int | None
    #: Why nothing could be read (the reading gave up).
    failed: str | None = None
    batch_fact: Any = None
    batch_use: Span | None = None


_LINE = re.compile(r"\bline (\d+)")


def _moved(read: _Read, line: Callable[[int], int]) -> _Read:
    """``read`` with its positions moved (``line`` maps an old line to its new one): the
    summaries' lines and spans, and the lines the texts cite (``line 12``)."""
    import copy
    import dataclasses

    def text(s: str | None) -> str | None:
        return None if s is None else _LINE.sub(lambda m: f"line {line(int(m.group(1)))}", s)

    def span(sp: Span | None) -> Span | None:
        if sp is None:
            return None
        return Span(line(sp.line), sp.col, line(sp.end_line), sp.end_col)

    def num(n: int | None) -> int | None:
        return None if n is None else line(n)

    traces: dict[int, Any] = {}
    for t in read.traces:
        if isinstance(t, ForwardTrace):
            moved = copy.copy(t)
            moved.reasons = [text(r) or "" for r in t.reasons]
            traces[id(t)] = moved
    summaries = []
    for s in read.summaries:
        layers = [
            dataclasses.replace(
                layer, line=num(layer.line), span=span(layer.span), reason=text(layer.reason)
            )
            for layer in s.layers
        ]
        summaries.append(
            dataclasses.replace(
                s,
                line=num(s.line),
                span=span(s.span),
                reason=text(s.reason),
                layers=layers,
                trace=traces.get(id(s.trace), s.trace),
            )
        )
    return dataclasses.replace(
        read,
        summaries=summaries,
        traces=[traces.get(id(t), t) for t in read.traces],
        missing=[text(m) or "" for m in read.missing],
    )


def _open_batch(node: Any) -> tuple[tuple[Dim, ...], int | None]:
    """A traced tensor's shape with None for its batch dimension, and where that is."""
    s = list(node.shape)
    bd = node.batch_dim
    if bd is not None and bd < len(s):
        s[bd] = None
        return tuple(s), bd
    return tuple(s), None


def _at_batch(summary: Any, dims: list[int | None], batch: int | None) -> Any:
    """``summary`` with its layers' output shapes at ``batch`` (a copy: readings are shared
    between versions of a document)."""
    import dataclasses

    if batch is None or not any(d is not None for d in dims):
        return summary
    layers = []
    for layer, d in zip(summary.layers, dims, strict=False):
        if d is not None and layer.output_shape is not None:
            shape = list(layer.output_shape)
            shape[d] = batch
            layer = dataclasses.replace(layer, output_shape=tuple(shape))
        layers.append(layer)
    return dataclasses.replace(summary, layers=layers)


def _layer_params(root: LayerInfo) -> dict[int, int | None]:
    """Unique parameters of every submodule (``set(m.parameters())``) in one bottom-up pass:
    tensors held by several modules (tied weights) are carried as sets and counted once."""
    order = list(root.named_modules())
    parents: dict[int, int] = {}
    for _, m in order:
        for _, c in m.children:
            parents[id(c)] = parents.get(id(c), 0) + 1
    if any(n > 1 for n in parents.values()):  # a module registered twice: count exactly
        return {id(m): m.params for _, m in order}
    seen: dict[int, int] = {}
    for _, m in order:
        for t in m.own_tensors or ():
            if not t.buffer:
                seen[id(t)] = seen.get(id(t), 0) + 1
    shared = {k for k, n in seen.items() if n > 1}
    out: dict[int, int | None] = {}
    held: dict[int, dict[int, int]] = {}
    for _, m in reversed(order):
        if m.own_tensors is None:
            out[id(m)] = None
            held[id(m)] = {}
            continue
        total: int | None = 0
        mine: dict[int, int] = {}
        for t in m.own_tensors:
            if t.buffer:
                continue
            if id(t) in shared:
                mine[id(t)] = t.numel
            elif total is not None:
                total += t.numel
        for _, c in m.children:
            sub = out.get(id(c))
            if sub is None or total is None:
                total = None
                continue
            sh = held.get(id(c), {})
            total += sub - sum(sh.values())
            mine.update(sh)
        held[id(m)] = mine
        out[id(m)] = None if total is None else total + sum(mine.values())
    return out


def _tensors(out: Any) -> list[T]:
    if isinstance(out, T):
        return [out]
    if isinstance(out, tuple | list):
        res: list[T] = []
        for o in out:
            res.extend(_tensors(o))
        return res
    if isinstance(out, dict):
        res = []
        for o in out.values():
            res.extend(_tensors(o))
        return res
    return []


#: Wrappers whose memory the estimate does not model, and what that means for its figures.
_WRAPPER_NOTES = {
    "compile": (
        "{call} at line {line}: the figures are for eager mode; a compiled model fuses ops and "
        "usually keeps fewer activations, so its peak is often lower"
    ),
    "FullyShardedDataParallel": (
        "{call} at line {line} shards weights, gradients and optimizer state across ranks: "
        "these are the figures of one process holding all of them (an upper bound per rank)"
    ),
    "DataParallel": (
        "{call} at line {line} splits each batch over the visible GPUs: this is the one-GPU "
        "figure; with more, each holds about its share of the activations, GPU 0 somewhat more"
    ),
}


def read_models(reader: Any, facts: dict[str, Any], memo: ModelMemo | None = None) -> ModelReport:
    """The models of a script (section 1 of issue 3) and, when it can be had, the estimate.
    With ``memo`` (the document's) the previous version's reading is reused when it holds."""
    return ModelReading(reader, facts).run(memo)


def attach_models(analysis: Any, reader: Any, memo: ModelMemo | None = None) -> None:
    """Fill ``analysis.models``, ``params_total`` and ``memory`` / ``memory_reason`` (never
    raises: a failure here must not cost the user the rest of the analysis)."""
    try:
        rep = read_models(reader, analysis.facts, memo)
    except (RecursionError, MemoryError):
        analysis.memory_reason = "the model code is nested too deeply to read"
        return
    except Exception as exc:  # the reader's contract: never raise on user code
        analysis.memory_reason = f"internal error in the model reader: {type(exc).__name__}: {exc}"
        return
    if rep.batch_fact is not None:
        from gpulens.analysis.facts import Mention

        analysis.facts["batch_size"] = rep.batch_fact
        if rep.batch_use is not None:
            analysis.mentions.append(Mention("batch_size", rep.batch_use, "model input"))
            span = rep.batch_fact.span
            if span is not None and span != rep.batch_use:
                analysis.mentions.append(
                    Mention("batch_size", span, "definition", role="definition")
                )
    analysis.models = rep.models
    analysis.params_total = rep.params_total
    analysis.memory = rep.memory
    analysis.memory_reason = rep.memory_reason
