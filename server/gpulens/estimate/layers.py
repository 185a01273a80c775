"""Catalog of torch.nn layers: exact parameter/buffer counts and output shapes, without torch.

Each layer kind is one small :class:`LayerSpec`: its constructor signature written exactly as
torch's (same names, order and defaults, so positional calls bind the same way), an ``init``
function giving the tensors it registers (``weight``, ``running_mean``, ...) and its child
modules, and a ``forward`` function from input shapes to output shapes. :func:`build` binds a
constructor call's arguments to the signature and returns a :class:`LayerInfo` tree that mirrors
the module torch would build: ``named_tensors()`` yields the same names and shapes as torch's
``named_parameters()`` / ``named_buffers()``, deduplicated by identity like torch's, so a tensor
or module that appears twice (``nn.Sequential(block, block)``) counts once.

Values the reader could not resolve are passed as :data:`UNKNOWN`; the answer that depends on
them becomes "unknown, because ..." instead of a guess. Lazy layers (``LazyLinear``) know their
parameters only once an input shape is seen: :meth:`LayerInfo.materialize`.

The caller resolves the name (``nn.Linear``, ``torch.nn.Linear``, ``from torch.nn import
Linear``); :func:`lookup` also strips those prefixes for convenience. Pure Python: the server
never imports torch, and every function here is cheap enough to run on each edit.

Example::

    conv = build("Conv2d", (1, 32, 3), {"stride": 1})
    conv.params                                   # 320
    conv.output_shape((64, 1, 28, 28))            # (64, 32, 26, 26)
    net = build("Sequential", (conv, build("ReLU"), build("Flatten"), build("LazyLinear", (10,))))
    net.params                                    # None: LazyLinear waits for its input
    net.materialize((64, 1, 28, 28)).params       # 216650
    build("LSTM", (10, 20), {"num_layers": 2}).forward((5, 3, 10))
    # MultiOutput(items=((5, 3, 20), MultiOutput(items=((2, 3, 20), (2, 3, 20)))))
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from gpulens.estimate.shapes import (
    UNKNOWN,
    ArgumentError,
    CatalogError,
    Dim,
    MultiOutput,
    Output,
    Shape,
    ShapeError,
    UnknownLayerError,
    Unresolved,
    add,
    broadcast,
    conv_out,
    conv_transpose_out,
    floordiv,
    fmt,
    mul,
    pool_out,
    primary,
    prod,
    scale,
    wrap_dim,
)

__all__ = [
    "REGISTRY",
    "UNKNOWN",
    "Args",
    "ArgumentError",
    "CatalogError",
    "LayerInfo",
    "LayerSpec",
    "MultiOutput",
    "ShapeError",
    "TensorInfo",
    "UnknownLayerError",
    "Unresolved",
    "build",
    "clone",
    "custom",
    "lookup",
]

# --------------------------------------------------------------------------------------------
# Signatures: written as Python parameter lists, parsed on first use.
# --------------------------------------------------------------------------------------------

_REQUIRED: Any = object()


@dataclass(frozen=True)
class Param:
    name: str
    default: Any = _REQUIRED
    kw_only: bool = False

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class Signature:
    params: tuple[Param, ...]
    varargs: bool = False  # *args: Sequential(*modules), Identity(*args)
    varkw: bool = False  # **kwargs: Identity(**kwargs) ignores everything

    @classmethod
    def parse(cls, text: str) -> Signature:
        """``"in_features, out_features, bias=True"`` → Signature (defaults are literals)."""
        fn = ast.parse(f"def f({text}): pass").body[0]
        assert isinstance(fn, ast.FunctionDef)
        args = fn.args
        positional = args.posonlyargs + args.args
        defaults: list[Any] = [_REQUIRED] * (len(positional) - len(args.defaults))
        defaults += [ast.literal_eval(d) for d in args.defaults]
        params = [Param(a.arg, d) for a, d in zip(positional, defaults, strict=False)]
        for a, kd in zip(args.kwonlyargs, args.kw_defaults, strict=False):
            params.append(Param(a.arg, _REQUIRED if kd is None else ast.literal_eval(kd), True))
        return cls(tuple(params), args.vararg is not None, args.kwarg is not None)

    def bind(self, kind: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Bind a call like Python would; TypeError-like mistakes become ArgumentError."""
        positional = [p for p in self.params if not p.kw_only]
        bound: dict[str, Any] = {}
        if len(args) > len(positional):
            if not self.varargs:
                raise ArgumentError(
                    f"{kind}() takes {len(positional)} positional arguments "
                    f"but {len(args)} were given"
                )
            bound["args"] = tuple(args[len(positional) :])
        elif self.varargs:
            bound["args"] = ()
        for p, value in zip(positional, args, strict=False):
            bound[p.name] = value
        names = {p.name for p in self.params}
        for key, value in kwargs.items():
            if key not in names:
                if self.varkw:
                    continue
                raise ArgumentError(f"{kind}() got an unexpected keyword argument '{key}'")
            if key in bound:
                raise ArgumentError(f"{kind}() got multiple values for argument '{key}'")
            bound[key] = value
        for p in self.params:
            if p.name not in bound:
                if p.required:
                    raise ArgumentError(f"{kind}() missing required argument '{p.name}'")
                bound[p.name] = p.default
        return bound


# --------------------------------------------------------------------------------------------
# Bound arguments with typed accessors.
# --------------------------------------------------------------------------------------------

_DTYPES = {
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "float32": "float32",
    "float": "float32",
    "float64": "float64",
    "double": "float64",
}


class Args(Mapping[str, Any]):
    """A layer's bound constructor arguments (defaults filled in) with typed accessors.

    Accessors raise :class:`Unresolved` for :data:`UNKNOWN` values and :class:`ArgumentError` for
    values torch would reject; :meth:`dim` returns ``None`` for unknowns instead, for shape code
    that can carry an unknown dimension along.
    """

    __slots__ = ("_values", "kind")

    def __init__(self, kind: str, values: Mapping[str, Any]) -> None:
        self.kind = kind
        self._values = dict(values)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{self.kind}({inner})"

    def raw(self, name: str) -> Any:
        value = self._values[name]
        if value is UNKNOWN:
            raise Unresolved(f"{self.kind}: {name}")
        return value

    def integer(self, name: str, minimum: int | None = None) -> int:
        value = self.raw(name)
        if not isinstance(value, int):
            raise ArgumentError(f"{self.kind}: {name} must be an int, got {value!r}")
        if minimum is not None and value < minimum:
            raise ArgumentError(f"{self.kind}: {name} must be >= {minimum}, got {value}")
        return int(value)

    def dim(self, name: str) -> Dim:
        """An int argument used as a size; ``None`` when unknown."""
        if self._values.get(name) is UNKNOWN:
            return None
        return self.integer(name)

    def real(self, name: str) -> float:
        value = self.raw(name)
        if not isinstance(value, (int, float)):
            raise ArgumentError(f"{self.kind}: {name} must be a number, got {value!r}")
        return float(value)

    def flag(self, name: str) -> bool:
        return bool(self.raw(name))

    def text(self, name: str) -> str:
        value = self.raw(name)
        if not isinstance(value, str):
            raise ArgumentError(f"{self.kind}: {name} must be a string, got {value!r}")
        return value

    def ints(self, name: str, n: int) -> tuple[int, ...]:
        """torch's ``_ntuple(n)``: an int is repeated, a sequence must have n ints."""
        value = self.raw(name)
        if isinstance(value, int):
            return (int(value),) * n
        if isinstance(value, (tuple, list)):
            if any(v is UNKNOWN for v in value):
                raise Unresolved(f"{self.kind}: {name}")
            if len(value) != n or not all(isinstance(v, int) for v in value):
                raise ArgumentError(
                    f"{self.kind}: {name} must be an int or {n} ints, got {value!r}"
                )
            return tuple(int(v) for v in value)
        raise ArgumentError(f"{self.kind}: {name} must be an int or a tuple, got {value!r}")

    def int_list(self, name: str) -> tuple[int, ...]:
        """An int or a sequence of ints of any length (normalized_shape, unflattened_size)."""
        value = self.raw(name)
        if isinstance(value, int):
            return (int(value),)
        if isinstance(value, (tuple, list)):
            if any(v is UNKNOWN for v in value):
                raise Unresolved(f"{self.kind}: {name}")
            if not all(isinstance(v, int) for v in value):
                raise ArgumentError(f"{self.kind}: {name} must contain ints, got {value!r}")
            return tuple(int(v) for v in value)
        raise ArgumentError(f"{self.kind}: {name} must be an int or a sequence, got {value!r}")

    def dtype(self) -> str:
        """The explicit ``dtype=`` of factory kwargs, normalised ("float16"), else "float"."""
        value = self._values.get("dtype")
        if isinstance(value, str):
            return _DTYPES.get(value.removeprefix("torch."), "float")
        return "float"


# --------------------------------------------------------------------------------------------
# Results.
# --------------------------------------------------------------------------------------------

_DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "int64": 8}


@dataclass(eq=False)
class TensorInfo:
    """One registered parameter or buffer. Compared by identity, like torch tensors in
    ``set(model.parameters())``: the reader ties weights by reusing the same object
    (:meth:`LayerInfo.set_tensor`), and freezes one with ``t.requires_grad = False``.

    ``dtype`` is "float" for the module's floating dtype (fp32 unless the model is cast or an
    explicit ``dtype=`` was given) and "int64" for counters like ``num_batches_tracked``.
    """

    name: str
    shape: tuple[int, ...]
    buffer: bool = False
    dtype: str = "float"
    requires_grad: bool = True

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def nbytes(self, float_bytes: int = 4) -> int:
        return self.numel * _DTYPE_BYTES.get(self.dtype, float_bytes)


@dataclass(frozen=True)
class Parts:
    """What a module registers itself: its own tensors and its named child modules."""

    tensors: tuple[TensorInfo, ...] = ()
    children: tuple[tuple[str, LayerInfo], ...] = ()


InitFn = Callable[[Args], Parts]
ForwardFn = Callable[["LayerInfo", tuple[Output, ...], Mapping[str, Any]], Output]


@dataclass(frozen=True)
class LazyRule:
    """A Lazy* layer: ``arg`` is read from the first input (``infer``), then it is ``concrete``."""

    arg: str
    concrete: str
    infer: Callable[[Shape], Dim]


@dataclass(frozen=True)
class LayerSpec:
    kind: str
    signature_text: str
    init: InitFn
    forward: ForwardFn
    doc: str = ""
    lazy: LazyRule | None = None

    @cached_property
    def signature(self) -> Signature:
        """Parsed on first use: importing the catalog stays cheap."""
        return Signature.parse(self.signature_text)


@dataclass(eq=False)
class LayerInfo:
    """A module as torch would build it: own tensors, children, and a shape function.

    ``own_tensors`` is ``None`` when they cannot be known statically (``reason`` says why); the
    totals (``params`` ...) are then ``None`` too, never a silent undercount. Like a torch
    module it is mutable where scripts mutate modules: :meth:`set_child` (``model.fc = ...``),
    :meth:`set_tensor` (tied weights), :meth:`requires_grad_` (frozen parts).
    """

    kind: str
    args: Args
    own_tensors: tuple[TensorInfo, ...] | None
    children: tuple[tuple[str, LayerInfo], ...]
    reason: str | None
    spec: LayerSpec

    # -- structure ---------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, LayerInfo]]:
        """Every module once (by identity), depth first, with dotted names like torch's."""
        seen: set[int] = set()
        stack: list[tuple[str, LayerInfo]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            for child_name, child in reversed(module.children):
                stack.append((f"{name}.{child_name}" if name else child_name, child))

    def named_tensors(self) -> Iterator[tuple[str, TensorInfo]]:
        """Parameters and buffers once each (by identity), named like ``state_dict`` keys."""
        seen: set[int] = set()
        for name, module in self.named_modules():
            for t in module.own_tensors or ():
                if id(t) not in seen:
                    seen.add(id(t))
                    yield (f"{name}.{t.name}" if name else t.name), t

    def child(self, path: str) -> LayerInfo:
        """``info.child("encoder.layers.0")`` like ``get_submodule``."""
        module = self
        for part in path.split("."):
            module = dict(module.children)[part]
        return module

    # -- mutation, mirroring what scripts do to modules ---------------------------------------
    def set_child(self, path: str, module: LayerInfo) -> None:
        """``model.fc = nn.Linear(512, 10)``: replace (or add) a submodule; the last assignment
        is what exists."""
        parent_path, _, name = path.rpartition(".")
        parent = self.child(parent_path) if parent_path else self
        kids = dict(parent.children)
        kids[name] = module
        parent.children = tuple(kids.items())

    def set_tensor(self, path: str, tensor: TensorInfo) -> None:
        """``self.head.weight = self.embed.weight``: the same TensorInfo object in two places
        counts once, as the same Parameter does in torch."""
        parent_path, _, name = path.rpartition(".")
        module = self.child(parent_path) if parent_path else self
        if module.own_tensors is None:
            return
        # The object keeps its identity (that is what tying means); named_tensors() reports it
        # under the first path it meets, as torch's named_parameters() does.
        kept = [t for t in module.own_tensors if t.name != name]
        module.own_tensors = (*kept, tensor)

    def requires_grad_(self, requires_grad: bool = True) -> LayerInfo:
        """``module.requires_grad_(False)``: every parameter below (buffers never need grad)."""
        for _, t in self.named_tensors():
            if not t.buffer:
                t.requires_grad = requires_grad
        return self

    @property
    def known(self) -> bool:
        return all(m.own_tensors is not None for _, m in self.named_modules())

    @property
    def unknown_reason(self) -> str | None:
        for name, m in self.named_modules():
            if m.own_tensors is None:
                where = f"{name} ({m.kind})" if name else m.kind
                return f"{where}: {m.reason}"
        return None

    # -- counts (None when not known) --------------------------------------------------------
    def _sum(self, pick: Callable[[TensorInfo], int]) -> int | None:
        if not self.known:
            return None
        return sum(pick(t) for _, t in self.named_tensors())

    @property
    def params(self) -> int | None:
        """Unique parameter elements: ``sum(p.numel() for p in set(m.parameters()))``."""
        return self._sum(lambda t: 0 if t.buffer else t.numel)

    @property
    def trainable_params(self) -> int | None:
        return self._sum(lambda t: t.numel if not t.buffer and t.requires_grad else 0)

    @property
    def buffer_numel(self) -> int | None:
        return self._sum(lambda t: t.numel if t.buffer else 0)

    def param_bytes(self, float_bytes: int = 4) -> int | None:
        return self._sum(lambda t: 0 if t.buffer else t.nbytes(float_bytes))

    def buffer_bytes(self, float_bytes: int = 4) -> int | None:
        """Buffer bytes; ``num_batches_tracked`` is int64 whatever the float dtype."""
        return self._sum(lambda t: t.nbytes(float_bytes) if t.buffer else 0)

    # -- shapes ------------------------------------------------------------------------------
    def forward(self, *inputs: Output, **options: Any) -> Output:
        """Output shape(s) of ``module(*inputs)``. ``options`` are forward keyword arguments
        that change shapes (``need_weights``, ``average_attn_weights``) or ``training``
        (default True, as a fresh module). Raises ShapeError / Unresolved with the reason."""
        return self.spec.forward(self, tuple(inputs), options)

    def output_shape(self, *inputs: Output, **options: Any) -> Shape:
        """The first output tensor's shape (``out`` of ``out, h = lstm(x)``)."""
        return primary(self.forward(*inputs, **options))

    def materialize(self, *inputs: Output) -> LayerInfo:
        """For Lazy* layers (and containers holding them): the layer after its first forward
        with these inputs, parameters now known. Other layers return themselves."""
        rule = self.spec.lazy
        if rule is not None:
            x = inputs[0] if inputs else None
            if x is None or isinstance(x, MultiOutput):
                return self
            value = rule.infer(x)
            if value is None:
                return self
            kwargs = {k: v for k, v in self.args.items() if k != "args"}
            kwargs[rule.arg] = value
            return build(rule.concrete, (), kwargs)
        if self.kind == "Sequential":
            current: tuple[Output, ...] = inputs
            new: list[tuple[str, LayerInfo]] = []
            for name, child in self.children:
                m = child.materialize(*current)
                new.append((name, m))
                current = (m.forward(*current),)
            return build("Sequential", (dict(new),))
        return self

    def __repr__(self) -> str:
        return f"LayerInfo({self.args!r}, params={self.params})"


# --------------------------------------------------------------------------------------------
# Registry and build().
# --------------------------------------------------------------------------------------------

REGISTRY: dict[str, LayerSpec] = {}


def lookup(kind: str) -> LayerSpec | None:
    """The spec for ``Linear`` / ``nn.Linear`` / ``torch.nn.Linear``, or None."""
    for prefix in ("torch.nn.modules.", "torch.nn.", "nn."):
        if kind.startswith(prefix):
            kind = kind.rsplit(".", 1)[-1]
            break
    return REGISTRY.get(kind)


def build(
    kind: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
) -> LayerInfo:
    """The module ``nn.<kind>(*args, **kwargs)`` would build.

    Argument values are plain Python values (ints, floats, bools, strings, tuples, None),
    :class:`LayerInfo` for module arguments, or :data:`UNKNOWN`. Raises UnknownLayerError for
    a kind not in the catalog and ArgumentError for arguments torch would reject.
    """
    spec = lookup(kind)
    if spec is None:
        raise UnknownLayerError(f"{kind} is not in the layer catalog")
    bound = spec.signature.bind(spec.kind, args, kwargs or {})
    init = spec.init
    if spec.lazy is not None:
        bound[spec.lazy.arg] = UNKNOWN
        init = REGISTRY[spec.lazy.concrete].init
    a = Args(spec.kind, bound)
    try:
        parts = init(a)
    except Unresolved as exc:
        reason = str(exc)
        if spec.lazy is not None and exc.name.endswith(f": {spec.lazy.arg}"):
            reason = f"{spec.lazy.arg} is inferred from the first input (materialize())"
        return LayerInfo(spec.kind, a, None, (), reason, spec)
    return LayerInfo(spec.kind, a, parts.tensors, parts.children, None, spec)


def clone(info: LayerInfo, memo: dict[int, Any] | None = None) -> LayerInfo:
    """A deep copy with fresh tensors, as ``copy.deepcopy(module)`` (TransformerEncoder's
    layers are copies of the layer passed in, each with its own parameters). Sharing inside the
    copied tree is preserved, as deepcopy does; arguments are shared (they are not state)."""
    memo = {} if memo is None else memo
    if id(info) in memo:
        copied: LayerInfo = memo[id(info)]
        return copied
    tensors = None
    if info.own_tensors is not None:
        tensors = tuple(_clone_tensor(t, memo) for t in info.own_tensors)
    children = tuple((name, clone(child, memo)) for name, child in info.children)
    new = LayerInfo(info.kind, info.args, tensors, children, info.reason, info.spec)
    memo[id(info)] = new
    return new


def _clone_tensor(t: TensorInfo, memo: dict[int, Any]) -> TensorInfo:
    if id(t) not in memo:
        memo[id(t)] = dataclasses.replace(t)
    copied: TensorInfo = memo[id(t)]
    return copied


def _custom_forward(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Output:
    raise Unresolved(f"{info.kind}: forward() is not in the catalog")


def custom(
    kind: str,
    children: Sequence[tuple[str, LayerInfo]] = (),
    tensors: Sequence[TensorInfo] = (),
) -> LayerInfo:
    """A user-defined ``nn.Module`` subclass as a LayerInfo, so that totals over a model (unique
    tensors, shared submodules, frozen parts) follow the same rules as catalog layers. Its
    forward is the reader's business (calling it raises Unresolved)."""
    spec = LayerSpec(kind, "*args, **kwargs", _no_tensors, _custom_forward, "user module")
    return LayerInfo(kind, Args(kind, {}), tuple(tensors), tuple(children), None, spec)


def _register(
    kind: str,
    signature: str,
    init: InitFn | None = None,
    forward: ForwardFn | None = None,
    doc: str = "",
    lazy: LazyRule | None = None,
) -> None:
    REGISTRY[kind] = LayerSpec(
        kind,
        signature,
        init or _no_tensors,
        forward or _same_shape,
        doc,
        lazy,
    )


# --------------------------------------------------------------------------------------------
# Small helpers for specs.
# --------------------------------------------------------------------------------------------

_DD = "device=None, dtype=None"


def _no_tensors(a: Args) -> Parts:
    return Parts()


def _param(a: Args, name: str, *shape: int, requires_grad: bool = True) -> TensorInfo:
    return TensorInfo(name, tuple(shape), dtype=a.dtype(), requires_grad=requires_grad)


def _buffer(a: Args, name: str, *shape: int) -> TensorInfo:
    return TensorInfo(name, tuple(shape), buffer=True, dtype=a.dtype())


def _one(info: LayerInfo, inputs: tuple[Output, ...], count: int = 1) -> Shape:
    if len(inputs) < count:
        raise ShapeError(f"{info.kind}.forward() needs {count} input(s), got {len(inputs)}")
    x = inputs[0]
    if x is None or isinstance(x, MultiOutput):
        raise ShapeError(f"{info.kind} expects a tensor, got {fmt(x)}")
    return x


def _tensor(info: LayerInfo, value: Output, what: str) -> Shape:
    if value is None or isinstance(value, MultiOutput):
        raise ShapeError(f"{info.kind}: {what} must be a tensor, got {fmt(value)}")
    return value


def _ndim(info: LayerInfo, x: Shape, allowed: Sequence[int]) -> None:
    if len(x) not in allowed:
        want = " or ".join(f"{n}D" for n in allowed)
        raise ShapeError(f"{info.kind} expects a {want} input, got {len(x)}D {fmt(x)}")


def _expect(info: LayerInfo, x: Shape, actual: Dim, expected: Dim, what: str) -> None:
    if actual is not None and expected is not None and actual != expected:
        raise ShapeError(f"{info.kind}: expected {what} {expected}, got {actual} (input {fmt(x)})")


def _same_shape(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    return _one(info, inputs)


def _check_p(a: Args, name: str = "p") -> None:
    p = a.real(name)
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"{a.kind}: dropout probability has to be between 0 and 1, got {p}")


def _training(options: Mapping[str, Any]) -> bool:
    return bool(options.get("training", True))


# --------------------------------------------------------------------------------------------
# Linear layers.
# --------------------------------------------------------------------------------------------


def _linear_init(a: Args) -> Parts:
    """weight is (out, in): y = x W^T + b."""
    i, o = a.integer("in_features", 0), a.integer("out_features", 0)
    tensors = [_param(a, "weight", o, i)]
    if a.flag("bias"):
        tensors.append(_param(a, "bias", o))
    return Parts(tuple(tensors))


def _linear_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    x = _one(info, inputs)
    if not x:
        raise ShapeError(f"{info.kind} needs at least a 1D input, got a scalar")
    _expect(info, x, x[-1], info.args.dim("in_features"), "last dimension (in_features)")
    return (*x[:-1], info.args.dim("out_features"))


_register("Identity", "*args, **kwargs", doc="Returns its input unchanged; ignores arguments.")
_register(
    "Linear",
    f"in_features, out_features, bias=True, {_DD}",
    _linear_init,
    _linear_fwd,
    "y = x W^T + b over the last dimension.",
)
_register(
    "LazyLinear",
    f"out_features, bias=True, {_DD}",
    forward=_linear_fwd,
    doc="Linear whose in_features comes from the first input.",
    lazy=LazyRule("in_features", "Linear", lambda x: x[-1] if x else None),
)


def _bilinear_init(a: Args) -> Parts:
    """One (in1 x in2) matrix per output feature: y_k = x1^T W_k x2 + b_k."""
    i1, i2 = a.integer("in1_features", 0), a.integer("in2_features", 0)
    o = a.integer("out_features", 0)
    tensors = [_param(a, "weight", o, i1, i2)]
    if a.flag("bias"):
        tensors.append(_param(a, "bias", o))
    return Parts(tuple(tensors))


def _bilinear_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    x1 = _one(info, inputs, 2)
    x2 = _tensor(info, inputs[1], "input2")
    a = info.args
    if not x1 or not x2:
        raise ShapeError(f"{info.kind} needs at least 1D inputs")
    _expect(info, x1, x1[-1], a.dim("in1_features"), "input1 last dimension")
    _expect(info, x2, x2[-1], a.dim("in2_features"), "input2 last dimension")
    if len(x1) != len(x2) or any(
        p is not None and q is not None and p != q for p, q in zip(x1[:-1], x2[:-1], strict=False)
    ):
        raise ShapeError(f"{info.kind}: batch dimensions of {fmt(x1)} and {fmt(x2)} differ")
    return (*x1[:-1], a.dim("out_features"))


_register(
    "Bilinear",
    f"in1_features, in2_features, out_features, bias=True, {_DD}",
    _bilinear_init,
    _bilinear_fwd,
)

# --------------------------------------------------------------------------------------------
# Convolutions.
# --------------------------------------------------------------------------------------------

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _conv_init(n: int, transposed: bool) -> InitFn:
    def init(a: Args) -> Parts:
        """Regular conv weight is (out, in/groups, *k); transposed is (in, out/groups, *k),
        because it is the gradient of a conv going the other way."""
        cin, cout = a.integer("in_channels", 0), a.integer("out_channels", 0)
        groups = a.integer("groups")
        if groups <= 0:
            raise ArgumentError(f"{a.kind}: groups must be a positive integer")
        if cin % groups:
            raise ArgumentError(f"{a.kind}: in_channels ({cin}) must be divisible by groups")
        if cout % groups:
            raise ArgumentError(f"{a.kind}: out_channels ({cout}) must be divisible by groups")
        k = a.ints("kernel_size", n)
        stride = a.ints("stride", n)
        a.ints("dilation", n)
        padding = a.raw("padding")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ArgumentError(
                    f"{a.kind}: invalid padding string {padding!r}, should be 'valid' or 'same'"
                )
            if padding == "same" and any(s != 1 for s in stride):
                raise ArgumentError(
                    f"{a.kind}: padding='same' is not supported for strided convolutions"
                )
        else:
            a.ints("padding", n)
        mode = a.text("padding_mode")
        if mode not in _PADDING_MODES:
            raise ArgumentError(f"{a.kind}: padding_mode must be one of {_PADDING_MODES}")
        if transposed:
            if mode != "zeros":
                raise ArgumentError(f'{a.kind}: only "zeros" padding mode is supported')
            a.ints("output_padding", n)
            shape = (cin, cout // groups, *k)
        else:
            shape = (cout, cin // groups, *k)
        tensors = [_param(a, "weight", *shape)]
        if a.flag("bias"):
            tensors.append(_param(a, "bias", cout))
        return Parts(tuple(tensors))

    return init


def _conv_fwd(n: int, transposed: bool) -> ForwardFn:
    def forward(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
        a = info.args
        x = _one(info, inputs)
        _ndim(info, x, (n + 1, n + 2))
        _expect(info, x, x[-n - 1], a.dim("in_channels"), "input channels")
        k, s, d = a.ints("kernel_size", n), a.ints("stride", n), a.ints("dilation", n)
        spatial = x[-n:]
        out: list[Dim] = []
        length: Dim
        if transposed:
            if isinstance(a.raw("padding"), str):
                raise ShapeError(f"{info.kind}: string padding is not supported")
            p, op = a.ints("padding", n), a.ints("output_padding", n)
            for i, size in enumerate(spatial):
                if not (op[i] < s[i] or op[i] < d[i]):
                    raise ShapeError(
                        f"{info.kind}: output_padding must be smaller than either stride or "
                        f"dilation, got output_padding={op[i]}, stride={s[i]}, dilation={d[i]}"
                    )
                length = conv_transpose_out(size, k[i], s[i], p[i], d[i], op[i])
                if length is not None and length < 0:
                    raise ShapeError(f"{info.kind}: output size {length} is negative for {fmt(x)}")
                out.append(length)
        else:
            padding = a.raw("padding")
            mode = a.text("padding_mode")
            for i, size in enumerate(spatial):
                if padding == "same":
                    total = d[i] * (k[i] - 1)
                    left, right = total // 2, total - total // 2
                    length = size
                else:
                    pad = 0 if padding == "valid" else a.ints("padding", n)[i]
                    left = right = pad
                    length = conv_out(size, k[i], s[i], pad, d[i])
                if size is not None and mode == "reflect" and max(left, right) >= size:
                    raise ShapeError(
                        f"{info.kind}: reflect padding {max(left, right)} must be smaller than "
                        f"the input size {size} ({fmt(x)})"
                    )
                if size is not None and mode == "circular" and max(left, right) > size:
                    raise ShapeError(f"{info.kind}: circular padding wraps more than once")
                if length is not None and length <= 0:
                    raise ShapeError(
                        f"{info.kind}: input {fmt(x)} is smaller than the kernel "
                        f"{k} (dilation {d}) after padding"
                    )
                out.append(length)
        return (*x[: -n - 1], a.dim("out_channels"), *out)

    return forward


def _channel_dim(n: int) -> Callable[[Shape], Dim]:
    """Lazy convs read in_channels from dim 1 (batched) or 0 (unbatched)."""

    def infer(x: Shape) -> Dim:
        if len(x) == n + 2:
            return x[1]
        if len(x) == n + 1:
            return x[0]
        return None

    return infer


for _n in (1, 2, 3):
    _conv_sig = (
        "kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, "
        f"padding_mode='zeros', {_DD}"
    )
    _convt_sig = (
        "kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True, "
        f"dilation=1, padding_mode='zeros', {_DD}"
    )
    _register(
        f"Conv{_n}d",
        "in_channels, out_channels, " + _conv_sig,
        _conv_init(_n, False),
        _conv_fwd(_n, False),
        f"{_n}D convolution over (N, C, *spatial) or unbatched (C, *spatial).",
    )
    _register(
        f"ConvTranspose{_n}d",
        "in_channels, out_channels, " + _convt_sig,
        _conv_init(_n, True),
        _conv_fwd(_n, True),
        f"{_n}D transposed convolution (note: dilation comes after bias in its signature).",
    )
    _register(
        f"LazyConv{_n}d",
        "out_channels, " + _conv_sig,
        forward=_conv_fwd(_n, False),
        lazy=LazyRule("in_channels", f"Conv{_n}d", _channel_dim(_n)),
    )
    _register(
        f"LazyConvTranspose{_n}d",
        "out_channels, " + _convt_sig,
        forward=_conv_fwd(_n, True),
        lazy=LazyRule("in_channels", f"ConvTranspose{_n}d", _channel_dim(_n)),
    )

# --------------------------------------------------------------------------------------------
# Normalization.
# --------------------------------------------------------------------------------------------


def _norm_init(a: Args) -> Parts:
    """BatchNorm / InstanceNorm: affine weight and bias are parameters; the running mean and
    variance are buffers (updated by forward, not by the optimizer, so no gradient or optimizer
    state), plus an int64 counter ``num_batches_tracked``."""
    c = a.integer("num_features", 0)
    tensors: list[TensorInfo] = []
    if a.flag("affine"):
        tensors.append(_param(a, "weight", c))
        if a.flag("bias"):
            tensors.append(_param(a, "bias", c))
    if a.flag("track_running_stats"):
        tensors += [_buffer(a, "running_mean", c), _buffer(a, "running_var", c)]
        tensors.append(TensorInfo("num_batches_tracked", (), buffer=True, dtype="int64"))
    return Parts(tuple(tensors))


def _batchnorm_fwd(dims: tuple[int, ...]) -> ForwardFn:
    def forward(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
        a = info.args
        x = _one(info, inputs)
        _ndim(info, x, dims)
        if a.flag("affine") or a.flag("track_running_stats"):
            _expect(info, x, x[1], a.dim("num_features"), "channels (dim 1)")
        # Batch statistics need more than one value per channel.
        batch_stats = _training(options) or not a.flag("track_running_stats")
        if batch_stats and prod((x[0], *x[2:])) == 1:
            raise ShapeError(
                f"{info.kind}: expected more than 1 value per channel when training, "
                f"got input {fmt(x)}"
            )
        return x

    return forward


def _instancenorm_fwd(n: int) -> ForwardFn:
    def forward(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
        a = info.args
        x = _one(info, inputs)
        _ndim(info, x, (n + 1, n + 2))
        feature = len(x) - n - 1
        if a.flag("affine") or a.flag("track_running_stats"):
            _expect(info, x, x[feature], a.dim("num_features"), "channels")
        if (_training(options) or not a.flag("track_running_stats")) and prod(x[-n:]) == 1:
            raise ShapeError(
                f"{info.kind}: expected more than 1 spatial element when training, got {fmt(x)}"
            )
        return x

    return forward


_BN_SIG = f"num_features, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, {_DD}"
_IN_SIG = f"num_features, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False, {_DD}"
_LAZY_NORM_SIG = f"eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, {_DD}"
for _n, _dims in ((1, (2, 3)), (2, (4,)), (3, (5,))):
    _register(f"BatchNorm{_n}d", _BN_SIG + ", *, bias=True", _norm_init, _batchnorm_fwd(_dims))
    _register(
        f"LazyBatchNorm{_n}d",
        _LAZY_NORM_SIG + ", *, bias=True",
        forward=_batchnorm_fwd(_dims),
        lazy=LazyRule("num_features", f"BatchNorm{_n}d", lambda x: x[1] if len(x) > 1 else None),
    )
    _register(f"InstanceNorm{_n}d", _IN_SIG + ", *, bias=True", _norm_init, _instancenorm_fwd(_n))
    _register(
        f"LazyInstanceNorm{_n}d",
        _LAZY_NORM_SIG + ", *, bias=True",
        forward=_instancenorm_fwd(_n),
        lazy=LazyRule("num_features", f"InstanceNorm{_n}d", lambda x: x[1] if len(x) > 1 else None),
    )
_register(
    "SyncBatchNorm",
    f"num_features, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, "
    f"process_group=None, {_DD}, *, bias=True",
    _norm_init,
    _batchnorm_fwd((2, 3, 4, 5)),
    "Counts as BatchNorm; forward needs a process group on GPU in torch.",
)


def _layernorm_init(a: Args) -> Parts:
    shape = a.int_list("normalized_shape")
    tensors: list[TensorInfo] = []
    if a.flag("elementwise_affine"):
        tensors.append(_param(a, "weight", *shape))
        if "bias" in a and a.flag("bias"):
            tensors.append(_param(a, "bias", *shape))
    return Parts(tuple(tensors))


def _layernorm_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Shape:
    x = _one(info, inputs)
    shape = info.args.int_list("normalized_shape")
    tail = x[len(x) - len(shape) :] if len(x) >= len(shape) else None
    if tail is None or any(t is not None and t != s for t, s in zip(tail, shape, strict=False)):
        raise ShapeError(
            f"{info.kind}: normalized_shape={list(shape)} expects input of shape "
            f"[*, {', '.join(map(str, shape))}], got {fmt(x)}"
        )
    return x


_register(
    "LayerNorm",
    f"normalized_shape, eps=1e-05, elementwise_affine=True, bias=True, {_DD}",
    _layernorm_init,
    _layernorm_fwd,
)
_register(
    "RMSNorm",
    f"normalized_shape, eps=None, elementwise_affine=True, {_DD}",
    _layernorm_init,
    _layernorm_fwd,
    "Like LayerNorm without mean subtraction: a weight, no bias.",
)


def _groupnorm_init(a: Args) -> Parts:
    g, c = a.integer("num_groups", 1), a.integer("num_channels", 0)
    if c % g:
        raise ArgumentError(f"{a.kind}: num_channels ({c}) must be divisible by num_groups ({g})")
    tensors: list[TensorInfo] = []
    if a.flag("affine"):
        tensors.append(_param(a, "weight", c))
        if a.flag("bias"):
            tensors.append(_param(a, "bias", c))
    return Parts(tuple(tensors))


def _groupnorm_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Shape:
    a = info.args
    x = _one(info, inputs)
    if len(x) < 2:
        raise ShapeError(f"{info.kind} expects at least a 2D input (N, C, *), got {fmt(x)}")
    _expect(info, x, x[1], a.dim("num_channels"), "channels (dim 1)")
    g = a.integer("num_groups")
    if x[1] is not None and x[1] % g:
        raise ShapeError(f"{info.kind}: {x[1]} channels are not divisible into {g} groups")
    if prod((x[0], floordiv(x[1], g), *x[2:])) == 1:
        raise ShapeError(f"{info.kind}: expected more than 1 value per group, got {fmt(x)}")
    return x


_register(
    "GroupNorm",
    f"num_groups, num_channels, eps=1e-05, affine=True, {_DD}, *, bias=True",
    _groupnorm_init,
    _groupnorm_fwd,
)


def _lrn_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    x = _one(info, inputs)
    if len(x) < 3:
        raise ShapeError(f"{info.kind} expects a 3D or higher input, got {fmt(x)}")
    return x


_register("LocalResponseNorm", "size, alpha=0.0001, beta=0.75, k=1.0", forward=_lrn_fwd)

# --------------------------------------------------------------------------------------------
# Embeddings.
# --------------------------------------------------------------------------------------------


def _embedding_init(a: Args) -> Parts:
    """One row per token; padding_idx only zeroes a row's gradient, it is still a parameter."""
    num, dim = a.integer("num_embeddings", 0), a.integer("embedding_dim", 0)
    pad = a.raw("padding_idx")
    if pad is not None and not -num <= a.integer("padding_idx") < num:
        raise ArgumentError(f"{a.kind}: padding_idx must be within num_embeddings")
    frozen = "_freeze" in a and a.flag("_freeze")
    return Parts((_param(a, "weight", num, dim, requires_grad=not frozen),))


def _embedding_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Shape:
    return (*_one(info, inputs), info.args.dim("embedding_dim"))


def _embeddingbag_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Shape:
    a = info.args
    x = _one(info, inputs)
    if a.text("mode") not in ("sum", "mean", "max"):
        raise ShapeError(f"{info.kind}: mode has to be one of sum, mean or max")
    offsets = inputs[1] if len(inputs) > 1 else options.get("offsets")
    dim = a.dim("embedding_dim")
    if len(x) == 2:
        if offsets is not None:
            raise ShapeError(f"{info.kind}: offsets must be None for a 2D input")
        return (x[0], dim)
    if len(x) == 1:
        off = _tensor(info, offsets, "offsets (needed for a 1D input)")
        if len(off) != 1:
            raise ShapeError(f"{info.kind}: offsets has to be a 1D tensor, got {fmt(off)}")
        bags = off[0] if off[0] is None or not a.flag("include_last_offset") else off[0] - 1
        return (bags, dim)
    raise ShapeError(f"{info.kind}: input has to be 1D or 2D, got {fmt(x)}")


_register(
    "Embedding",
    "num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0, "
    f"scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, {_DD}",
    _embedding_init,
    _embedding_fwd,
)
_register(
    "EmbeddingBag",
    "num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, "
    f"mode='mean', sparse=False, _weight=None, include_last_offset=False, padding_idx=None, {_DD}",
    _embedding_init,
    _embeddingbag_fwd,
)

# --------------------------------------------------------------------------------------------
# Recurrent layers.
# --------------------------------------------------------------------------------------------

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3, "RNNCell": 1, "LSTMCell": 4, "GRUCell": 3}


def _rnn_init(a: Args) -> Parts:
    """Per layer and direction: weight_ih (G*H, in), weight_hh (G*H, H_out) and, with bias,
    *two* bias vectors bias_ih and bias_hh of G*H each (cuDNN's formulation: the input and the
    hidden projections each carry their own bias; mathematically redundant except in GRU's
    reset gate, but both are real parameters). G is the number of gates: 1 for RNN, 4 for LSTM
    (input, forget, cell, output), 3 for GRU (reset, update, new). LSTM with proj_size adds
    weight_hr (P, H) and its hidden state, the next layer's input, has size P."""
    gates = _GATES[a.kind]
    inp = a.integer("input_size", 0)
    hidden = a.integer("hidden_size")
    layers = a.integer("num_layers")
    proj = a.integer("proj_size") if "proj_size" in a else 0
    dropout = a.real("dropout")
    if not 0 <= dropout <= 1:
        raise ArgumentError(f"{a.kind}: dropout should be a number in range [0, 1]")
    if hidden <= 0:
        raise ArgumentError(f"{a.kind}: hidden_size must be greater than zero")
    if layers <= 0:
        raise ArgumentError(f"{a.kind}: num_layers must be greater than zero")
    if proj < 0:
        raise ArgumentError(f"{a.kind}: proj_size should be a positive integer or zero")
    if proj >= hidden and proj:
        raise ArgumentError(f"{a.kind}: proj_size has to be smaller than hidden_size")
    if "nonlinearity" in a and a.raw("nonlinearity") not in ("tanh", "relu"):
        raise ArgumentError(f"{a.kind}: unknown nonlinearity {a.raw('nonlinearity')!r}")
    directions = 2 if a.flag("bidirectional") else 1
    bias = a.flag("bias")
    real_hidden = proj or hidden
    tensors: list[TensorInfo] = []
    for layer in range(layers):
        layer_in = inp if layer == 0 else real_hidden * directions
        for direction in range(directions):
            sfx = f"_l{layer}" + ("_reverse" if direction else "")
            tensors.append(_param(a, f"weight_ih{sfx}", gates * hidden, layer_in))
            tensors.append(_param(a, f"weight_hh{sfx}", gates * hidden, real_hidden))
            if bias:
                tensors.append(_param(a, f"bias_ih{sfx}", gates * hidden))
                tensors.append(_param(a, f"bias_hh{sfx}", gates * hidden))
            if proj:
                tensors.append(_param(a, f"weight_hr{sfx}", proj, hidden))
    return Parts(tuple(tensors))


def _rnn_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Output:
    """out: (L, N, D*H_out) (batch_first: (N, L, ...); unbatched: (L, D*H_out));
    h_n: (D*num_layers, N, H_out) whatever batch_first; LSTM also c_n with H (not proj)."""
    a = info.args
    x = _one(info, inputs)
    _ndim(info, x, (2, 3))
    _expect(info, x, x[-1], a.dim("input_size"), "input_size (last dimension)")
    hidden = a.dim("hidden_size")
    proj = a.integer("proj_size") if "proj_size" in a else 0
    h_out = proj or hidden
    d = 2 if a.flag("bidirectional") else 1
    stack = d * a.integer("num_layers")
    if len(x) == 2:
        out: Shape = (x[0], mul(d, h_out))
        h: Shape = (stack, h_out)
        c: Shape = (stack, hidden)
    else:
        batch = x[0] if a.flag("batch_first") else x[1]
        out = (x[0], x[1], mul(d, h_out))
        h, c = (stack, batch, h_out), (stack, batch, hidden)
    if info.kind == "LSTM":
        return MultiOutput((out, MultiOutput((h, c))))
    return MultiOutput((out, h))


def _cell_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Output:
    a = info.args
    x = _one(info, inputs)
    _ndim(info, x, (1, 2))
    _expect(info, x, x[-1], a.dim("input_size"), "input_size (last dimension)")
    h: Shape = (*x[:-1], a.dim("hidden_size"))
    return MultiOutput((h, h)) if info.kind == "LSTMCell" else h


_RNN_TAIL = "bias=True, batch_first=False, dropout=0.0, bidirectional=False"
_register(
    "RNN",
    f"input_size, hidden_size, num_layers=1, nonlinearity='tanh', {_RNN_TAIL}, {_DD}",
    _rnn_init,
    _rnn_fwd,
)
_register(
    "LSTM",
    f"input_size, hidden_size, num_layers=1, {_RNN_TAIL}, proj_size=0, {_DD}",
    _rnn_init,
    _rnn_fwd,
)
_register("GRU", f"input_size, hidden_size, num_layers=1, {_RNN_TAIL}, {_DD}", _rnn_init, _rnn_fwd)


def _cell_init(a: Args) -> Parts:
    gates = _GATES[a.kind]
    inp, hidden = a.integer("input_size", 0), a.integer("hidden_size", 0)
    tensors = [
        _param(a, "weight_ih", gates * hidden, inp),
        _param(a, "weight_hh", gates * hidden, hidden),
    ]
    if a.flag("bias"):
        tensors += [_param(a, "bias_ih", gates * hidden), _param(a, "bias_hh", gates * hidden)]
    return Parts(tuple(tensors))


_register(
    "RNNCell",
    f"input_size, hidden_size, bias=True, nonlinearity='tanh', {_DD}",
    _cell_init,
    _cell_fwd,
)
_register("LSTMCell", f"input_size, hidden_size, bias=True, {_DD}", _cell_init, _cell_fwd)
_register("GRUCell", f"input_size, hidden_size, bias=True, {_DD}", _cell_init, _cell_fwd)

# --------------------------------------------------------------------------------------------
# Attention and transformers.
# --------------------------------------------------------------------------------------------


def _mha_init(a: Args) -> Parts:
    """Q, K, V projections packed in one (3E, E) ``in_proj_weight`` when key/value dims equal
    embed_dim; otherwise three separate matrices (E x E, E x kdim, E x vdim). One packed bias
    3E, an ``out_proj`` Linear(E, E), and with add_bias_kv two (1, 1, E) vectors appended to
    keys and values."""
    e, h = a.integer("embed_dim"), a.integer("num_heads")
    if e <= 0 or h <= 0:
        raise ArgumentError(f"{a.kind}: embed_dim and num_heads must be greater than 0")
    if e % h:
        raise ArgumentError(f"{a.kind}: embed_dim ({e}) must be divisible by num_heads ({h})")
    kdim = e if a.raw("kdim") is None else a.integer("kdim")
    vdim = e if a.raw("vdim") is None else a.integer("vdim")
    bias = a.flag("bias")
    if kdim == e and vdim == e:
        tensors = [_param(a, "in_proj_weight", 3 * e, e)]
    else:
        tensors = [
            _param(a, "q_proj_weight", e, e),
            _param(a, "k_proj_weight", e, kdim),
            _param(a, "v_proj_weight", e, vdim),
        ]
    if bias:
        tensors.append(_param(a, "in_proj_bias", 3 * e))
    if a.flag("add_bias_kv"):
        tensors += [_param(a, "bias_k", 1, 1, e), _param(a, "bias_v", 1, 1, e)]
    out_proj = build("Linear", (e, e), {"bias": bias, "dtype": a.get("dtype")})
    return Parts(tuple(tensors), (("out_proj", out_proj),))


def _mha_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Output:
    """attn_output has the query's shape with E features; attn_weights (N, L, S) averaged over
    heads (or (N, heads, L, S)), S grown by one for add_bias_kv and for add_zero_attn."""
    a = info.args
    q = _one(info, inputs)
    if len(inputs) == 1:
        k = v = q
    elif len(inputs) == 3:
        k, v = _tensor(info, inputs[1], "key"), _tensor(info, inputs[2], "value")
    else:
        raise ShapeError(f"{info.kind}.forward() takes query, key, value")
    e, heads = a.dim("embed_dim"), a.integer("num_heads")
    kdim = e if a.raw("kdim") is None else a.dim("kdim")
    vdim = e if a.raw("vdim") is None else a.dim("vdim")
    if len(q) not in (2, 3):
        raise ShapeError(f"{info.kind}: query should be unbatched 2D or batched 3D, got {fmt(q)}")
    if len(k) != len(q) or len(v) != len(q):
        raise ShapeError(f"{info.kind}: query, key and value must all be {len(q)}D")
    _expect(info, q, q[-1], e, "query embedding dimension")
    _expect(info, k, k[-1], kdim, "key embedding dimension (kdim)")
    _expect(info, v, v[-1], vdim, "value embedding dimension (vdim)")
    batched = len(q) == 3
    bf = batched and a.flag("batch_first")
    seq_q = q[1] if bf else q[0]
    seq_k, seq_v = (k[1], v[1]) if bf else (k[0], v[0])
    if seq_k is not None and seq_v is not None and seq_k != seq_v:
        raise ShapeError(f"{info.kind}: key {fmt(k)} and value {fmt(v)} lengths differ")
    if batched:
        nq, nk, nv = (q[0], k[0], v[0]) if bf else (q[1], k[1], v[1])
        for other in (nk, nv):
            if nq is not None and other is not None and nq != other:
                raise ShapeError(f"{info.kind}: batch sizes of query/key/value differ")
    out: Shape = (*q[:-1], e)
    if not options.get("need_weights", True):
        return MultiOutput((out, None))
    s = add(seq_k, int(a.flag("add_bias_kv")), int(a.flag("add_zero_attn")))
    avg = options.get("average_attn_weights", True)
    head_dims: Shape = () if avg else (heads,)
    if batched:
        batch = q[0] if bf else q[1]
        weights: Shape = (batch, *head_dims, seq_q, s)
    else:
        weights = (*head_dims, seq_q, s)
    return MultiOutput((out, weights))


_register(
    "MultiheadAttention",
    "embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False, "
    f"kdim=None, vdim=None, batch_first=False, {_DD}",
    _mha_init,
    _mha_fwd,
)


def _activation_child(a: Args) -> list[tuple[str, LayerInfo]]:
    act = a.raw("activation")
    if isinstance(act, LayerInfo):
        return [("activation", act)]
    if isinstance(act, str) and act not in ("relu", "gelu"):
        raise ArgumentError(f"{a.kind}: activation should be relu/gelu, not {act}")
    return []


def _xf_layer_init(decoder: bool) -> InitFn:
    def init(a: Args) -> Parts:
        """Self-attention (+ cross-attention in the decoder), a 2-layer feed-forward block
        d_model → dim_feedforward → d_model, and one LayerNorm per sub-block."""
        d, heads, ff = a.integer("d_model"), a.integer("nhead"), a.integer("dim_feedforward")
        bias, eps, dt = a.flag("bias"), a.real("layer_norm_eps"), a.get("dtype")
        mha = {
            "dropout": a.raw("dropout"),
            "bias": bias,
            "batch_first": a.raw("batch_first"),
            "dtype": dt,
        }
        kids: list[tuple[str, LayerInfo]] = [
            ("self_attn", build("MultiheadAttention", (d, heads), mha))
        ]
        if decoder:
            kids.append(("multihead_attn", build("MultiheadAttention", (d, heads), mha)))
        kids += [
            ("linear1", build("Linear", (d, ff), {"bias": bias, "dtype": dt})),
            ("dropout", build("Dropout", (a.raw("dropout"),))),
            ("linear2", build("Linear", (ff, d), {"bias": bias, "dtype": dt})),
        ]
        for i in range(1, 4 if decoder else 3):
            norm = build("LayerNorm", (d,), {"eps": eps, "bias": bias, "dtype": dt})
            kids.append((f"norm{i}", norm))
        for i in range(1, 4 if decoder else 3):
            kids.append((f"dropout{i}", build("Dropout", (a.raw("dropout"),))))
        kids += _activation_child(a)
        return Parts((), tuple(kids))

    return init


def _seq_input(info: LayerInfo, x: Shape, what: str) -> None:
    if len(x) not in (2, 3):
        raise ShapeError(f"{info.kind}: {what} must be 2D (unbatched) or 3D, got {fmt(x)}")


def _enc_layer_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Shape:
    x = _one(info, inputs)
    _seq_input(info, x, "src")
    if info.own_tensors is not None:
        info.child("self_attn").forward(x, x, x)
    _expect(info, x, x[-1], info.args.dim("d_model"), "d_model (last dimension)")
    return x


def _dec_layer_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Shape:
    tgt = _one(info, inputs, 2)
    memory = _tensor(info, inputs[1], "memory")
    _seq_input(info, tgt, "tgt")
    _expect(info, tgt, tgt[-1], info.args.dim("d_model"), "d_model (last dimension)")
    if info.own_tensors is not None:
        info.child("self_attn").forward(tgt, tgt, tgt)
        info.child("multihead_attn").forward(tgt, memory, memory)
    return tgt


_XF_LAYER_SIG = (
    "d_model, nhead, dim_feedforward=2048, dropout=0.1, activation='relu', "
    f"layer_norm_eps=1e-05, batch_first=False, norm_first=False, bias=True, {_DD}"
)
_register(
    "TransformerEncoderLayer",
    _XF_LAYER_SIG,
    _xf_layer_init(False),
    _enc_layer_fwd,
    "activation: 'relu'/'gelu', or a module (then a child). Default is F.relu.",
)
_register("TransformerDecoderLayer", _XF_LAYER_SIG, _xf_layer_init(True), _dec_layer_fwd)


def _stack_init(arg: str) -> InitFn:
    def init(a: Args) -> Parts:
        """``num_layers`` deep copies of the layer passed in (the original is not part of
        the stack), then the optional final norm."""
        layer = a.raw(arg)
        if not isinstance(layer, LayerInfo):
            raise ArgumentError(f"{a.kind}: {arg} must be a module, got {layer!r}")
        n = a.integer("num_layers", 0)
        kids: list[tuple[str, LayerInfo]] = [
            ("layers", build("ModuleList", ([clone(layer) for _ in range(n)],)))
        ]
        norm = a.raw("norm")
        if isinstance(norm, LayerInfo):
            kids.append(("norm", norm))
        return Parts((), tuple(kids))

    return init


def _stack_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Output:
    if info.own_tensors is None:
        raise Unresolved(f"{info.kind}: {info.reason}")
    x: Output = _one(info, inputs)
    rest = inputs[1:2]
    for _, layer in info.child("layers").children:
        x = layer.forward(x, *rest)
    for name, child in info.children:
        if name == "norm":
            x = child.forward(x)
    return x


_register(
    "TransformerEncoder",
    "encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True",
    _stack_init("encoder_layer"),
    _stack_fwd,
)
_register(
    "TransformerDecoder",
    "decoder_layer, num_layers, norm=None",
    _stack_init("decoder_layer"),
    _stack_fwd,
)


def _transformer_init(a: Args) -> Parts:
    """Encoder and decoder stacks, each ending in its own LayerNorm(d_model)."""
    d = a.integer("d_model")
    common = {
        k: a.raw(k)
        for k in (
            "dim_feedforward",
            "dropout",
            "activation",
            "layer_norm_eps",
            "batch_first",
            "norm_first",
            "bias",
            "dtype",
        )
    }
    norm_kw = {"eps": a.raw("layer_norm_eps"), "bias": a.raw("bias"), "dtype": a.get("dtype")}
    kids: list[tuple[str, LayerInfo]] = []
    for side, custom, count in (
        ("encoder", "custom_encoder", "num_encoder_layers"),
        ("decoder", "custom_decoder", "num_decoder_layers"),
    ):
        given = a.raw(custom)
        if isinstance(given, LayerInfo):
            kids.append((side, given))
            continue
        kind = "TransformerEncoder" if side == "encoder" else "TransformerDecoder"
        layer = build(f"{kind}Layer", (d, a.raw("nhead")), common)
        norm = build("LayerNorm", (d,), norm_kw)
        kids.append((side, build(kind, (layer, a.raw(count), norm))))
    return Parts((), tuple(kids))


def _transformer_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Output:
    src = _one(info, inputs, 2)
    tgt = _tensor(info, inputs[1], "tgt")
    a = info.args
    _seq_input(info, src, "src")
    if len(src) == 3 and len(tgt) == 3:
        i = 0 if a.flag("batch_first") else 1
        if src[i] is not None and tgt[i] is not None and src[i] != tgt[i]:
            raise ShapeError(f"{info.kind}: the batch number of src and tgt must be equal")
    d = a.dim("d_model")
    _expect(info, src, src[-1], d, "src feature number (d_model)")
    _expect(info, tgt, tgt[-1], d, "tgt feature number (d_model)")
    if info.own_tensors is None:
        raise Unresolved(f"{info.kind}: {info.reason}")
    memory = info.child("encoder").forward(src)
    return info.child("decoder").forward(tgt, memory)


_register(
    "Transformer",
    "d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048, "
    "dropout=0.1, activation='relu', custom_encoder=None, custom_decoder=None, "
    f"layer_norm_eps=1e-05, batch_first=False, norm_first=False, bias=True, {_DD}",
    _transformer_init,
    _transformer_fwd,
)

# --------------------------------------------------------------------------------------------
# Activations and dropout (no parameters except PReLU).
# --------------------------------------------------------------------------------------------

_ELEMENTWISE = {
    "ReLU": "inplace=False",
    "ReLU6": "inplace=False",
    "GELU": "approximate='none'",
    "SiLU": "inplace=False",
    "Mish": "inplace=False",
    "Tanh": "",
    "Sigmoid": "",
    "LogSigmoid": "",
    "Softsign": "",
    "Tanhshrink": "",
    "Hardsigmoid": "inplace=False",
    "Hardswish": "inplace=False",
    "Hardshrink": "lambd=0.5",
    "Softshrink": "lambd=0.5",
    "LeakyReLU": "negative_slope=0.01, inplace=False",
    "ELU": "alpha=1.0, inplace=False",
    "CELU": "alpha=1.0, inplace=False",
    "SELU": "inplace=False",
    "Softplus": "beta=1.0, threshold=20.0",
    "RReLU": "lower=0.125, upper=0.3333333333333333, inplace=False",
    "Threshold": "threshold, value, inplace=False",
    "Hardtanh": "min_val=-1.0, max_val=1.0, inplace=False, min_value=None, max_value=None",
}
for _kind, _sig in _ELEMENTWISE.items():
    _register(_kind, _sig, doc="Elementwise: same shape, no parameters.")


def _softmax_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    x = _one(info, inputs)
    dim = info.args.raw("dim")
    if dim is not None:
        wrap_dim(info.args.integer("dim"), len(x))
    return x


for _kind in ("Softmax", "Softmin", "LogSoftmax"):
    _register(_kind, "dim=None", forward=_softmax_fwd)


def _softmax2d_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Shape:
    x = _one(info, inputs)
    _ndim(info, x, (3, 4))
    return x


_register("Softmax2d", "", forward=_softmax2d_fwd)


def _glu_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    """GLU splits ``dim`` in two halves (value, gate): that dimension halves."""
    x = _one(info, inputs)
    dim = wrap_dim(info.args.integer("dim"), len(x))
    size = x[dim]
    if size is not None and size % 2:
        raise ShapeError(f"{info.kind}: dimension {dim} of {fmt(x)} must be even")
    return (*x[:dim], floordiv(size, 2), *x[dim + 1 :])


_register("GLU", "dim=-1", forward=_glu_fwd)


def _prelu_init(a: Args) -> Parts:
    """One learnable slope, or one per channel (num_parameters = C)."""
    return Parts((_param(a, "weight", a.integer("num_parameters", 1)),))


def _prelu_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    x = _one(info, inputs)
    n = info.args.integer("num_parameters")
    if n != 1:
        channels = x[1] if len(x) >= 2 else 1
        _expect(info, x, channels, n, "channels (num_parameters)")
    return x


_register("PReLU", f"num_parameters=1, init=0.25, {_DD}", _prelu_init, _prelu_fwd)


def _dropout_init(a: Args) -> Parts:
    _check_p(a)
    return Parts()


def _dropout1d_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Shape:
    x = _one(info, inputs)
    _ndim(info, x, (2, 3))
    return x


for _kind in ("Dropout", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"):
    _register(_kind, "p=0.5, inplace=False", _dropout_init)
_register("Dropout1d", "p=0.5, inplace=False", _dropout_init, _dropout1d_fwd)

# --------------------------------------------------------------------------------------------
# Pooling.
# --------------------------------------------------------------------------------------------


def _pool_fwd(n: int, kind: str) -> ForwardFn:
    """Max / Avg / LP pooling: same arithmetic as a conv (stride defaults to the kernel)."""

    def forward(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Output:
        a = info.args
        x = _one(info, inputs)
        _ndim(info, x, (n + 1, n + 2))
        k = a.ints("kernel_size", n)
        s = k if a.raw("stride") is None else a.ints("stride", n)
        p = a.ints("padding", n) if "padding" in a else (0,) * n
        d = a.ints("dilation", n) if "dilation" in a else (1,) * n
        if any(v <= 0 for v in s):
            raise ShapeError(f"{info.kind}: stride should be greater than zero")
        for ki, pi in zip(k, p, strict=False):
            if 2 * pi > ki:
                raise ShapeError(
                    f"{info.kind}: pad should be at most half of kernel size, got "
                    f"padding={pi}, kernel_size={ki}"
                )
        if kind == "lp" and n == 1 and not isinstance(a.raw("kernel_size"), int):
            raise ShapeError(f"{info.kind}: kernel_size must be an int")
        if n == 3 and kind != "max":
            # ATen's 3D avg pooling wants the unpadded input at least as large as the kernel.
            for size, ki in zip(x[-n:], k, strict=True):
                if size is not None and size < ki:
                    raise ShapeError(f"{info.kind}: input {fmt(x)} smaller than kernel {k}")
        ceil = a.flag("ceil_mode")
        out = tuple(pool_out(x[-n + i], k[i], s[i], p[i], d[i], ceil) for i in range(n))
        if any(o is not None and o <= 0 for o in out):
            raise ShapeError(f"{info.kind}: output size {fmt(out)} is too small for {fmt(x)}")
        y: Shape = (*x[:-n], *out)
        if kind == "max" and a.flag("return_indices"):
            return MultiOutput((y, y))
        return y

    return forward


def _adaptive_fwd(n: int) -> ForwardFn:
    """output_size: an int for every spatial dim, or a tuple where None keeps the input's."""

    def forward(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Output:
        a = info.args
        x = _one(info, inputs)
        _ndim(info, x, (n + 1, n + 2))
        size = a.raw("output_size")
        if isinstance(size, (tuple, list)):
            if len(size) != n:
                raise ShapeError(f"{info.kind}: output_size must have {n} elements")
            sizes: list[Any] = list(size)
        else:
            sizes = [size] * n
        out: list[Dim] = []
        for i, sz in enumerate(sizes):
            if sz is UNKNOWN:
                out.append(None)
            elif sz is None and n > 1:
                out.append(x[-n + i])
            elif isinstance(sz, int):
                out.append(sz)
            else:
                raise ShapeError(f"{info.kind}: bad output_size {size!r}")
        if any(v == 0 for v in x[-n:]):
            raise ShapeError(f"{info.kind}: input {fmt(x)} has an empty spatial dimension")
        y: Shape = (*x[:-n], *out)
        if "return_indices" in a and a.flag("return_indices"):
            return MultiOutput((y, y))
        return y

    return forward


def _fractional_init(a: Args) -> Parts:
    if a.raw("output_size") is None and a.raw("output_ratio") is None:
        raise ArgumentError(f"{a.kind} requires specifying either an output size or a ratio")
    if a.raw("output_size") is not None and a.raw("output_ratio") is not None:
        raise ArgumentError(f"{a.kind}: only one of output_size and output_ratio may be given")
    ratio = a.raw("output_ratio")
    if ratio is not None:
        ratios = ratio if isinstance(ratio, (tuple, list)) else (ratio,)
        if not all(0 < float(r) < 1 for r in ratios):
            raise ArgumentError(f"{a.kind}: output_ratio must be between 0 and 1, got {ratio}")
    return Parts()


def _fractional_fwd(n: int) -> ForwardFn:
    def forward(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Output:
        a = info.args
        x = _one(info, inputs)
        _ndim(info, x, (n + 1, n + 2))
        k = a.ints("kernel_size", n)
        if a.raw("output_size") is not None:
            out: tuple[Dim, ...] = a.ints("output_size", n)
        else:
            r = a.raw("output_ratio")
            ratios = tuple(r) if isinstance(r, (tuple, list)) else (r,) * n
            out = tuple(
                None if s is None else int(s * float(q))
                for s, q in zip(x[-n:], ratios, strict=False)
            )
        for size, o, ki in zip(x[-n:], out, k, strict=False):
            if size is not None and o is not None and o + ki - 1 > size:
                raise ShapeError(f"{info.kind}: kernel {ki} too large relative to input {fmt(x)}")
        y: Shape = (*x[:-n], *out)
        return MultiOutput((y, y)) if a.flag("return_indices") else y

    return forward


def _unpool_fwd(n: int) -> ForwardFn:
    def forward(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
        a = info.args
        x = _one(info, inputs, 2)
        _ndim(info, x, (n + 1, n + 2))
        k = a.ints("kernel_size", n)
        s = k if a.raw("stride") is None else a.ints("stride", n)
        p = a.ints("padding", n)
        out = [
            None if v is None else (v - 1) * s[i] - 2 * p[i] + k[i] for i, v in enumerate(x[-n:])
        ]
        return (*x[:-n], *out)

    return forward


for _n in (1, 2, 3):
    _register(
        f"MaxPool{_n}d",
        "kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False",
        forward=_pool_fwd(_n, "max"),
    )
    _register(
        f"AvgPool{_n}d",
        "kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True"
        + ("" if _n == 1 else ", divisor_override=None"),
        forward=_pool_fwd(_n, "avg"),
    )
    _register(
        f"LPPool{_n}d",
        "norm_type, kernel_size, stride=None, ceil_mode=False",
        forward=_pool_fwd(_n, "lp"),
    )
    _register(f"AdaptiveAvgPool{_n}d", "output_size", forward=_adaptive_fwd(_n))
    _register(
        f"AdaptiveMaxPool{_n}d", "output_size, return_indices=False", forward=_adaptive_fwd(_n)
    )
    _register(f"MaxUnpool{_n}d", "kernel_size, stride=None, padding=0", forward=_unpool_fwd(_n))
for _n in (2, 3):
    _register(
        f"FractionalMaxPool{_n}d",
        "kernel_size, output_size=None, output_ratio=None, return_indices=False, "
        "_random_samples=None",
        _fractional_init,
        _fractional_fwd(_n),
    )

# --------------------------------------------------------------------------------------------
# Resampling, reshaping, padding.
# --------------------------------------------------------------------------------------------

_INTERP_DIMS = {
    "nearest": (3, 4, 5),
    "nearest-exact": (3, 4, 5),
    "area": (3, 4, 5),
    "linear": (3,),
    "bilinear": (4,),
    "bicubic": (4,),
    "trilinear": (5,),
}


def _upsample_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    """F.interpolate: spatial sizes from ``size``, or floor(L * scale_factor)."""
    a = info.args
    x = _one(info, inputs)
    mode = (
        a.text("mode")
        if "mode" in a
        else {"UpsamplingBilinear2d": "bilinear"}.get(info.kind, "nearest")
    )
    if mode not in _INTERP_DIMS:
        raise ShapeError(f"{info.kind}: unsupported mode {mode!r}")
    _ndim(info, x, _INTERP_DIMS[mode])
    if (
        "align_corners" in a
        and a.raw("align_corners") is not None
        and mode
        in (
            "nearest",
            "nearest-exact",
            "area",
        )
    ):
        raise ShapeError(f"{info.kind}: align_corners can only be set with interpolating modes")
    n = len(x) - 2
    size, factor = a.raw("size"), a.raw("scale_factor")
    if factor == 0:
        factor = None  # Upsample stores `float(scale_factor) if scale_factor else None`
    if size is None and factor is None:
        raise ShapeError(f"{info.kind}: either size or scale_factor should be defined")
    if size is not None and factor is not None:
        raise ShapeError(f"{info.kind}: only one of size or scale_factor should be defined")
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * n
        if len(sizes) != n:
            raise ShapeError(f"{info.kind}: size {size!r} does not match {n} spatial dims")
        out: tuple[Dim, ...] = tuple(None if s is UNKNOWN else int(s) for s in sizes)
    else:
        factors = tuple(factor) if isinstance(factor, (tuple, list)) else (factor,) * n
        if len(factors) != n:
            raise ShapeError(f"{info.kind}: scale_factor {factor!r} does not match {n} dims")
        out = tuple(scale(v, float(f)) for v, f in zip(x[2:], factors, strict=False))
    if mode != "area" and any(v is not None and v <= 0 for v in (*x[2:], *out)):
        raise ShapeError(f"{info.kind}: input and output sizes should be > 0, got {fmt(out)}")
    return (*x[:2], *out)


_register(
    "Upsample",
    "size=None, scale_factor=None, mode='nearest', align_corners=None, recompute_scale_factor=None",
    forward=_upsample_fwd,
)
_register("UpsamplingNearest2d", "size=None, scale_factor=None", forward=_upsample_fwd)
_register("UpsamplingBilinear2d", "size=None, scale_factor=None", forward=_upsample_fwd)


def _pixel_shuffle_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Shape:
    """(*, C r^2, H, W) → (*, C, H r, W r); PixelUnshuffle is the inverse."""
    x = _one(info, inputs)
    if len(x) < 3:
        raise ShapeError(f"{info.kind} expects at least a 3D input, got {fmt(x)}")
    *lead, c, h, w = x
    if info.kind == "PixelShuffle":
        r = info.args.integer("upscale_factor", 1)
        if c is not None and c % (r * r):
            raise ShapeError(f"{info.kind}: channels {c} not divisible by upscale_factor^2")
        return (*lead, floordiv(c, r * r), mul(h, r), mul(w, r))
    r = info.args.integer("downscale_factor", 1)
    for v in (h, w):
        if v is not None and v % r:
            raise ShapeError(f"{info.kind}: {fmt(x)} height/width not divisible by {r}")
    return (*lead, mul(c, r * r), floordiv(h, r), floordiv(w, r))


_register("PixelShuffle", "upscale_factor", forward=_pixel_shuffle_fwd)
_register("PixelUnshuffle", "downscale_factor", forward=_pixel_shuffle_fwd)


def _channel_shuffle_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Shape:
    x = _one(info, inputs)
    if len(x) < 3:
        raise ShapeError(f"{info.kind} expects at least a 3D input, got {fmt(x)}")
    g = info.args.integer("groups", 1)
    if x[1] is not None and x[1] % g:
        raise ShapeError(f"{info.kind}: {x[1]} channels not divisible by groups={g}")
    return x


_register("ChannelShuffle", "groups", forward=_channel_shuffle_fwd)


def _flatten_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    """torch.flatten(x, start_dim, end_dim): dims start..end merged into one."""
    x = _one(info, inputs)
    if not x:
        return (1,)
    start = wrap_dim(info.args.integer("start_dim"), len(x), "start_dim")
    end = wrap_dim(info.args.integer("end_dim"), len(x), "end_dim")
    if start > end:
        raise ShapeError(f"{info.kind}: start_dim cannot come after end_dim")
    return (*x[:start], prod(x[start : end + 1]), *x[end + 1 :])


def _unflatten_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Shape:
    x = _one(info, inputs)
    dim = wrap_dim(info.args.integer("dim"), len(x))
    sizes: list[Dim] = list(info.args.int_list("unflattened_size"))
    if sizes.count(-1) > 1:
        raise ShapeError(f"{info.kind}: only one dimension can be inferred")
    known = prod(s for s in sizes if s != -1)
    total = x[dim]
    if -1 in sizes:
        i = sizes.index(-1)
        if total is not None and known is not None and (known == 0 or total % known):
            raise ShapeError(f"{info.kind}: cannot unflatten {total} into {sizes}")
        sizes[i] = None if total is None or known is None else total // known
    elif total is not None and known is not None and known != total:
        raise ShapeError(
            f"{info.kind}: sizes {sizes} don't multiply up to the size of dim {dim} ({total})"
        )
    return (*x[:dim], *sizes, *x[dim + 1 :])


_register("Flatten", "start_dim=1, end_dim=-1", forward=_flatten_fwd)
_register("Unflatten", "dim, unflattened_size", forward=_unflatten_fwd)


def _pad_fwd(n: int, mode: str) -> ForwardFn:
    """F.pad: padding (left, right, top, bottom, front, back) applies from the last dim."""

    def forward(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
        x = _one(info, inputs)
        pad = info.args.raw("padding")
        pads = (pad,) * (2 * n) if isinstance(pad, int) else tuple(info.args.int_list("padding"))
        if len(pads) % 2 or len(pads) // 2 > len(x):
            raise ShapeError(f"{info.kind}: padding {pad!r} does not fit input {fmt(x)}")
        m = len(pads) // 2
        if mode != "constant":
            _ndim(info, x, (m + 1, m + 2))
        out = list(x)
        for i in range(m):
            j = len(x) - 1 - i
            left, right = pads[2 * i], pads[2 * i + 1]
            size = x[j]
            if size is not None:
                if mode == "reflect" and max(left, right) >= size:
                    raise ShapeError(
                        f"{info.kind}: padding ({left}, {right}) should be less than the input "
                        f"dimension {size} ({fmt(x)})"
                    )
                if mode == "circular" and max(left, right) > size:
                    raise ShapeError(f"{info.kind}: padding wraps around more than once")
            new = add(size, left, right)
            if new is not None and new < 0:
                raise ShapeError(f"{info.kind}: resulting size {new} is invalid for {fmt(x)}")
            out[j] = new
        return tuple(out)

    return forward


for _n in (1, 2, 3):
    _register(f"ZeroPad{_n}d", "padding", forward=_pad_fwd(_n, "constant"))
    _register(f"ConstantPad{_n}d", "padding, value", forward=_pad_fwd(_n, "constant"))
    _register(f"ReflectionPad{_n}d", "padding", forward=_pad_fwd(_n, "reflect"))
    _register(f"ReplicationPad{_n}d", "padding", forward=_pad_fwd(_n, "replicate"))
    _register(f"CircularPad{_n}d", "padding", forward=_pad_fwd(_n, "circular"))


def _unfold_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    """im2col: (N, C, H, W) → (N, C*kh*kw, L) with L the number of sliding blocks."""
    a = info.args
    x = _one(info, inputs)
    _ndim(info, x, (3, 4))
    k, d, p, s = (a.ints(name, 2) for name in ("kernel_size", "dilation", "padding", "stride"))
    blocks = [conv_out(x[-2 + i], k[i], s[i], p[i], d[i]) for i in range(2)]
    if any(b is not None and b <= 0 for b in blocks):
        raise ShapeError(f"{info.kind}: no sliding block fits input {fmt(x)}")
    return (*x[:-3], mul(x[-3], k[0] * k[1]), prod(blocks))


def _fold_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    """col2im: (N, C*kh*kw, L) → (N, C, *output_size)."""
    a = info.args
    x = _one(info, inputs)
    _ndim(info, x, (2, 3))
    k, d, p, s = (a.ints(name, 2) for name in ("kernel_size", "dilation", "padding", "stride"))
    size = a.ints("output_size", 2)
    c = x[-2]
    if c is not None and c % (k[0] * k[1]):
        raise ShapeError(f"{info.kind}: dim {c} not divisible by the kernel area {k[0] * k[1]}")
    blocks = prod(conv_out(size[i], k[i], s[i], p[i], d[i]) for i in range(2))
    _expect(info, x, x[-1], blocks, "number of blocks (last dimension)")
    return (*x[:-2], floordiv(c, k[0] * k[1]), *size)


_register("Unfold", "kernel_size, dilation=1, padding=0, stride=1", forward=_unfold_fwd)
_register("Fold", "output_size, kernel_size, dilation=1, padding=0, stride=1", forward=_fold_fwd)


def _cosine_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    """Broadcast the two inputs, then reduce ``dim``."""
    x1 = _one(info, inputs, 2)
    both = broadcast(x1, _tensor(info, inputs[1], "x2"))
    dim = wrap_dim(info.args.integer("dim"), len(both))
    return (*both[:dim], *both[dim + 1 :])


def _pairwise_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    """Distance over the last dimension (kept as 1 with keepdim)."""
    x1 = _one(info, inputs, 2)
    both = broadcast(x1, _tensor(info, inputs[1], "x2"))
    if not both:
        return ()
    return (*both[:-1], 1) if info.args.flag("keepdim") else both[:-1]


_register("CosineSimilarity", "dim=1, eps=1e-08", forward=_cosine_fwd)
_register("PairwiseDistance", "p=2.0, eps=1e-06, keepdim=False", forward=_pairwise_fwd)

# --------------------------------------------------------------------------------------------
# Loss modules: no parameters; an optional class-weight tensor is a buffer of unknown shape.
# --------------------------------------------------------------------------------------------

_LOSSES = {
    "CrossEntropyLoss": "weight=None, size_average=None, ignore_index=-100, reduce=None, "
    "reduction='mean', label_smoothing=0.0",
    "NLLLoss": "weight=None, size_average=None, ignore_index=-100, reduce=None, reduction='mean'",
    "BCELoss": "weight=None, size_average=None, reduce=None, reduction='mean'",
    "BCEWithLogitsLoss": "weight=None, size_average=None, reduce=None, reduction='mean', "
    "pos_weight=None",
    "MSELoss": "size_average=None, reduce=None, reduction='mean'",
    "L1Loss": "size_average=None, reduce=None, reduction='mean'",
    "SmoothL1Loss": "size_average=None, reduce=None, reduction='mean', beta=1.0",
    "HuberLoss": "reduction='mean', delta=1.0",
    "KLDivLoss": "size_average=None, reduce=None, reduction='mean', log_target=False",
}


def _loss_init(a: Args) -> Parts:
    """``weight`` / ``pos_weight`` tensors become buffers; their size is the caller's tensor's,
    unknown here, so a given one makes the buffer count unknown rather than wrong."""
    for name in ("weight", "pos_weight"):
        if name in a and a[name] is not None:
            raise Unresolved(f"{a.kind}: {name} tensor")
    return Parts()


def _loss_fwd(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Shape:
    """A scalar with reduction 'mean'/'sum'; with 'none', one loss per element (per sample for
    the classification losses, whose dim 1 holds the classes)."""
    x = _one(info, inputs, 2)
    target = _tensor(info, inputs[1], "target")
    reduction = info.args.text("reduction")
    if reduction not in ("mean", "sum", "none"):
        raise ShapeError(f"{info.kind}: {reduction!r} is not a valid reduction")
    if info.kind in ("CrossEntropyLoss", "NLLLoss"):
        per_sample: Shape = (x[0], *x[2:]) if len(x) >= 2 else ()
        if len(target) == len(x) and info.kind == "CrossEntropyLoss":
            shape_ok = all(p is None or q is None or p == q for p, q in zip(x, target, strict=True))
            if not shape_ok:
                raise ShapeError(f"{info.kind}: probabilities {fmt(target)} must match {fmt(x)}")
        elif any(
            p is not None and q is not None and p != q
            for p, q in zip(per_sample, target, strict=False)
        ) or len(target) != len(per_sample):
            raise ShapeError(
                f"{info.kind}: target {fmt(target)} does not match input {fmt(x)} "
                f"(expected {fmt(per_sample)})"
            )
        return per_sample if reduction == "none" else ()
    if info.kind in ("BCELoss", "BCEWithLogitsLoss") and (
        len(x) != len(target)
        or any(p is not None and q is not None and p != q for p, q in zip(x, target, strict=True))
    ):
        raise ShapeError(f"{info.kind}: target {fmt(target)} must have the input's size {fmt(x)}")
    out = broadcast(x, target)
    return out if reduction == "none" else ()


for _kind, _sig in _LOSSES.items():
    _register(_kind, _sig, _loss_init, _loss_fwd)

# --------------------------------------------------------------------------------------------
# Containers.
# --------------------------------------------------------------------------------------------


def _module(a: Args, value: Any, where: str) -> LayerInfo:
    if value is UNKNOWN:
        raise Unresolved(f"{a.kind}: {where}")
    if not isinstance(value, LayerInfo):
        raise ArgumentError(f"{a.kind}: {where} is not a Module ({value!r})")
    return value


def _sequential_init(a: Args) -> Parts:
    items: tuple[Any, ...] = a["args"]
    if len(items) == 1 and isinstance(items[0], Mapping):
        named = [(str(k), _module(a, v, str(k))) for k, v in items[0].items()]
    else:
        named = [(str(i), _module(a, v, f"item {i}")) for i, v in enumerate(items)]
    return Parts((), tuple(named))


def _sequential_fwd(
    info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]
) -> Output:
    """Each child's output is the next child's input."""
    if info.own_tensors is None:
        raise Unresolved(f"{info.kind}: {info.reason}")
    current = inputs
    out: Output = inputs[0] if len(inputs) == 1 else MultiOutput(inputs)
    for name, child in info.children:
        try:
            out = child.forward(*current, training=_training(options))
        except ShapeError as exc:
            raise ShapeError(f"{info.kind}[{name}] {exc}") from exc
        current = (out,)
    return out


def _list_init(a: Args) -> Parts:
    modules = a.raw("modules")
    if modules is None:
        return Parts()
    if isinstance(modules, Mapping):
        return Parts((), tuple((str(k), _module(a, v, str(k))) for k, v in modules.items()))
    if not isinstance(modules, (list, tuple)):
        raise ArgumentError(f"{a.kind}: modules must be a list, got {modules!r}")
    return Parts((), tuple((str(i), _module(a, v, f"item {i}")) for i, v in enumerate(modules)))


def _no_forward(info: LayerInfo, inputs: tuple[Output, ...], options: Mapping[str, Any]) -> Output:
    raise ShapeError(f"{info.kind} has no forward(): call its items")


_register("Sequential", "*args", _sequential_init, _sequential_fwd)
_register("ModuleList", "modules=None", _list_init, _no_forward)
_register("ModuleDict", "modules=None", _list_init, _no_forward)
