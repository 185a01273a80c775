"""An evaluator with provenance: what an expression in the script is worth, and where that came
from.

It never runs the script. It folds constants and simple arithmetic, follows names to the
bindings recorded by ``symbols.py`` (honouring ``if`` conditions it can decide), reads argparse
defaults and the user's script arguments, dict / dataclass / SimpleNamespace configs, calls into
functions and classes defined in the same file (one return value, ``self.x`` set in
``__init__``), and hands calls it knows about (datasets, tensors, DataLoader) to registered
handlers. Anything else is ``unknown`` with the reason in words.
"""

from __future__ import annotations

import ast
import math
import operator
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpulens.analysis.facts import Span
from gpulens.analysis.modules import LocalModule, file_of, load_module, split_member, star_closure
from gpulens.analysis.symbols import (
    Binding,
    Condition,
    Scope,
    SymbolTable,
    assigned_names,
    call_index,
    dotted_target,
)

Pos = tuple[int, int] | None  # None: the end of the scope (everything bound so far)

_MAX_DEPTH = 60
#: Evaluation steps allowed per analysis: calls into the script's own functions can fan out
#: exponentially (f calls g twice, g calls h twice, ...), and the editor cannot wait for that.
EVAL_BUDGET = 20_000
_MAX_INT_BITS = 256  # refuse to fold numbers bigger than this (``10 ** 10 ** 10`` stays unknown)
_MAX_STR = 10_000


def span_of(node: ast.AST) -> Span:
    line = getattr(node, "lineno", 1)
    col = getattr(node, "col_offset", 0)
    end_line = getattr(node, "end_lineno", None) or line
    end_col = getattr(node, "end_col_offset", None)
    if end_col is None:
        end_col = col
    return Span(line, col, end_line, end_col)


# -- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class V:
    """A value with provenance. ``reason`` set means unknown (and ``value`` is meaningless)."""

    value: Any
    source: str
    span: Span | None = None
    reason: str | None = None

    @property
    def known(self) -> bool:
        return self.reason is None

    def with_source(self, source: str, span: Span | None = None) -> V:
        return V(self.value, source, span or self.span, self.reason)


def unknown(reason: str, span: Span | None = None) -> V:
    return V(None, "unknown", span, reason)


@dataclass(frozen=True)
class Symbol:
    """Something imported (or a builtin), by canonical dotted name: ``torch.optim.AdamW``."""

    name: str

    @property
    def last(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass
class Namespace:
    """argparse results, SimpleNamespace, dataclass instances: attribute → value."""

    attrs: dict[str, V]
    kind: str


@dataclass
class DictVal:
    items: dict[Any, V]


def _agreeing(a: DictVal, b: DictVal, why: str) -> DictVal:
    """The dict two undecided branches make: a key both give the same value keeps it; any
    other key (different values, or set one way only) is unknown, with ``why``."""
    items: dict[Any, V] = {}
    for k in (*a.items, *(k for k in b.items if k not in a.items)):
        x, y = a.items.get(k), b.items.get(k)
        if x is not None and y is not None and x.known and y.known and x.value == y.value:
            items[k] = x
        else:
            items[k] = unknown(why, x.span if x is not None else y.span if y is not None else None)
    return DictVal(items)


def _module_of(scope: Scope) -> tuple[Scope, LocalModule | None]:
    """The outermost scope of ``scope``'s file, and the user's module that file is (None: the
    script itself)."""
    root = scope
    while root.parent is not None:
        root = root.parent
    return root, file_of(root.node)


@dataclass
class SeqVal:
    items: list[V]
    kind: str = "list"


@dataclass
class DatasetVal:
    """A dataset object whose length is ``size`` (None → unknown, see ``reason``)."""

    size: int | None
    desc: str
    reason: str | None = None
    #: Where the size comes from (the dataset's documentation), for hovers.
    doc: str = ""
    #: The recognised class, e.g. "torchvision.datasets.MNIST".
    kind: str = ""


@dataclass(frozen=True)
class FileVal:
    """``open(path)``: only its path matters (``json.load`` reads config files)."""

    path: str


@dataclass(eq=False)
class SamplerVal:
    """A sampler given to a DataLoader; DistributedSampler splits the dataset across processes."""

    kind: str
    dataset: V | None
    replicas: V | None
    drop_last: bool = False


@dataclass(eq=False)
class LoaderVal:
    """A DataLoader: ``len(loader)`` is the number of batches per epoch."""

    dataset: V
    batch: V
    drop_last: V
    sampler: V | None
    node: ast.Call


@dataclass
class TensorVal:
    """A tensor / array whose first dimension is ``dim0`` (enough for TensorDataset lengths)."""

    dim0: int | None
    desc: str = "tensor"


@dataclass(eq=False)
class FuncVal:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    scope: Scope
    self_value: V | None = None


@dataclass(eq=False)
class ClassVal:
    node: ast.ClassDef


@dataclass(eq=False)
class InstanceVal:
    cls: ast.ClassDef
    frame: Frame  # the bindings __init__ ran with
    call: ast.Call | None = None


@dataclass(eq=False)
class ParserVal:
    """An argparse.ArgumentParser (all add_argument calls in the file are read together)."""

    node: ast.Call


@dataclass(eq=False)
class Frame:
    """Parameter bindings of one evaluated call into a function of the script."""

    vars: dict[str, V] = field(default_factory=dict)


@dataclass
class Context:
    """What the user told us about the run."""

    script_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    script_path: str | None = None
    #: The user's dataset_size (pragma or setting): stands in for ``len(train_loader)`` when
    #: the script computes step counts from a loader over a dataset the reader cannot size.
    size_hint: int | None = None


@dataclass
class CallCtx:
    ev: Evaluator
    node: ast.Call
    scope: Scope
    pos: Pos
    frame: Frame | None
    name: str  # canonical dotted name, or method name for method calls

    def arg(self, index: int | None, keyword: str | None = None) -> V | None:
        """The argument at ``index`` or named ``keyword``, evaluated; None when absent."""
        if keyword is not None:
            for kw in self.node.keywords:
                if kw.arg == keyword:
                    v = self.ev.eval(kw.value, self.scope, self.pos, self.frame)
                    if v.known and v.source == "literal":
                        v = v.with_source(
                            f"`{keyword}={self.ev.segment(kw.value, 40)}`, line {kw.value.lineno}"
                        )
                    return v
        if index is not None and index < len(self.node.args):
            a = self.node.args[index]
            if isinstance(a, ast.Starred):
                return unknown("passed with *args", span_of(a))
            if any(isinstance(x, ast.Starred) for x in self.node.args[:index]):
                return unknown("arguments passed with *args", span_of(a))
            v = self.ev.eval(a, self.scope, self.pos, self.frame)
            if (
                v.known
                and v.source == "literal"
                and keyword is not None
                and isinstance(v.value, int | float | str)
            ):
                what = f" (`{keyword}`)" if keyword else ""
                v = v.with_source(
                    f"`{self.ev.segment(a, 40)}`, argument {index + 1}{what} of"
                    f" `{self.ev.segment(self.node.func, 40)}`, line {a.lineno}"
                )
            return v
        if keyword is not None:
            # f(**kwargs): look the keyword up in the splatted dict.
            for kw in self.node.keywords:
                if kw.arg is None:
                    d = self.ev.eval(kw.value, self.scope, self.pos, self.frame)
                    if not d.known:
                        return unknown(
                            f"`{keyword}` may come from `**{self.ev.segment(kw.value)}`:"
                            f" {d.reason}",
                            span_of(kw.value),
                        )
                    if isinstance(d.value, DictVal) and keyword in d.value.items:
                        return d.value.items[keyword]
        return None

    def arg_node(self, index: int | None, keyword: str | None = None) -> ast.expr | None:
        if keyword is not None:
            for kw in self.node.keywords:
                if kw.arg == keyword:
                    return kw.value
        if index is not None and index < len(self.node.args):
            return self.node.args[index]
        return None

    @property
    def span(self) -> Span:
        return span_of(self.node)

    def receiver(self) -> V:
        """For method calls, the object the method is called on."""
        f = self.node.func
        if isinstance(f, ast.Attribute):
            return self.ev.eval(f.value, self.scope, self.pos, self.frame)
        return unknown("not a method call")


Handler = Callable[[CallCtx], "V | None"]

_BUILTINS = {
    "len",
    "int",
    "float",
    "str",
    "bool",
    "min",
    "max",
    "abs",
    "round",
    "range",
    "list",
    "tuple",
    "dict",
    "sum",
    "getattr",
    "vars",
    "print",
    "open",
    "isinstance",
    "enumerate",
    "zip",
    "sorted",
    "set",
    "hasattr",
    "type",
    "exec",
    "eval",
    "iter",
    "next",
    "map",
    "super",
}

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
}

_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}

_PRIMITIVE = (int, float, str, bool, type(None))

#: Libraries whose calls are "only known at run time" (rather than "in a file not read").
_LIBRARIES = frozenset(
    {
        "torch",
        "torchvision",
        "numpy",
        "os",
        "sys",
        "math",
        "random",
        "time",
        "json",
        "yaml",
        "pathlib",
        "transformers",
        "datasets",
        "lightning",
        "pytorch_lightning",
        "timm",
        "tqdm",
        "accelerate",
        "deepspeed",
        "wandb",
        "argparse",
        "itertools",
        "functools",
        "collections",
    }
)


def is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _safe_binop(op: ast.operator, a: Any, b: Any) -> Any:
    """Python's operator, refusing results that would be huge (a literal can be 10**10**10)."""
    if (
        isinstance(op, ast.Pow)
        and is_number(b)
        and is_number(a)
        and (abs(b) > 4096 or (abs(a) > 1 and abs(b) * math.log2(abs(a) + 1) > _MAX_INT_BITS))
    ):
        raise OverflowError("number too large to fold")
    if isinstance(op, ast.LShift) and isinstance(b, int) and b > _MAX_INT_BITS:
        raise OverflowError("number too large to fold")
    if isinstance(op, ast.Mult) and (isinstance(a, str) or isinstance(b, str)):
        n = b if isinstance(a, str) else a
        if isinstance(n, int) and n * max(len(str(a)), len(str(b))) > _MAX_STR:
            raise OverflowError("string too large to fold")
    fn = _BINOPS.get(type(op))
    if fn is None:
        raise TypeError("operator not folded")
    r = fn(a, b)
    if isinstance(r, int) and r.bit_length() > _MAX_INT_BITS * 4:
        raise OverflowError("number too large to fold")
    return r


def combine_sources(text: str, line: int, inputs: list[V]) -> str:
    """ "`expr`, line N with <where its inputs came from>", flattening nested expressions."""
    parts: list[str] = []
    for v in inputs:
        src = v.source
        if src in ("literal", "import", "builtin", "comparison"):
            continue
        head, sep, rest = src.partition(" with ")
        if sep and head.startswith("`") and head.endswith(f", line {line}"):
            src = rest  # the inner expression is part of this one: keep only its inputs
        parts.append(src)
    out = f"`{text}`, line {line}"
    if parts:
        out += " with " + "; ".join(dict.fromkeys(parts))
    return out if len(out) <= 240 else out[:239] + "…"


def length_of(v: V) -> V:
    """``len(x)`` for values the reader understands."""
    if not v.known:
        return v
    x = v.value
    if isinstance(x, DatasetVal):
        if x.size is None:
            return unknown(x.reason or f"the size of {x.desc} is not known", v.span)
        return V(x.size, x.desc, v.span)
    if isinstance(x, TensorVal):
        if x.dim0 is None:
            return unknown(f"the first dimension of {x.desc} is not known", v.span)
        return V(x.dim0, x.desc, v.span)
    if isinstance(x, SeqVal):
        return V(len(x.items), v.source, v.span)
    if isinstance(x, DictVal):
        return V(len(x.items), v.source, v.span)
    if isinstance(x, str | range | list | tuple):
        return V(len(x), v.source, v.span)
    if isinstance(x, Namespace) and "__len__" in x.attrs:
        return x.attrs["__len__"]
    return unknown(f"the length of {v.source} is not known statically", v.span)


class Evaluator:
    """Resolves expressions of one module (plus presets injected from exec-ed config files)."""

    def __init__(
        self,
        table: SymbolTable,
        lines: list[str],
        ctx: Context,
        handlers: dict[str, Handler] | None = None,
        method_handlers: dict[str, Handler] | None = None,
    ) -> None:
        self.table = table
        self.lines = lines
        self.ctx = ctx
        #: Handlers for imported callables, keyed by the last part of the dotted name.
        self.handlers: dict[str, Handler] = dict(handlers or {})
        #: Handlers for methods called on values, keyed by method name.
        self.method_handlers: dict[str, Handler] = dict(method_handlers or {})
        self._cache: dict[int, V] = {}
        self._active: set[tuple[int, int]] = set()
        self._depth = 0
        self._budget = EVAL_BUDGET
        self._callers: dict[str, list[tuple[ast.Call, Scope]]] | None = None
        #: Values of imported names that are not calls (``sys.argv``, ``os.environ``...).
        self.symbol_values: dict[str, Callable[[Span], V]] = {}
        #: Memo for argparse results, keyed by the argv they were parsed from.
        self.memo: dict[Any, V] = {}
        self._assigned: dict[int, str] | None = None
        #: Parameters filled by a framework rather than by a call in the file (Hydra's cfg).
        self.param_hook: Callable[[Evaluator, Scope, str], V | None] | None = None
        #: Where names unbound in this module are looked up (a config file sees the script).
        self.fallback: Callable[[str], V | None] | None = None
        #: DataLoaders evaluate their batch size (the model reader, which only needs their
        #: datasets, turns this off: its reading then does not depend on the batch size).
        self.loader_batch = True
        #: Names imported from the script's own modules (``from model import GPT``) stand for
        #: what those files define (``gpulens.analysis.modules``): the model reader turns this
        #: on (the facts stay the script's own: their positions are the script's).
        self.link_modules = False
        self._members: dict[tuple[str, str | None], tuple[Any, list[Binding]] | None] = {}
        self._stars: dict[tuple[int, str], tuple[Any, list[Binding]] | None] = {}

    def reading_models(self, on: bool) -> None:
        """Enter (``on``) or leave the model reader's evaluation. Entering forgets the values
        computed for the reader of facts (a recorded model reading must look up everything it
        uses itself, see ``modelcache``) and gives the reading its own budget; inside, the
        script's own modules are read (:attr:`link_modules`) and DataLoaders leave their batch
        size unread (:attr:`loader_batch`: the reading then does not depend on it). Leaving
        forgets the values computed that way. Done with and without a memo, so both read the
        same."""
        self._cache.clear()
        self.loader_batch = not on
        self.link_modules = on
        if on:
            self.memo.clear()
            self._budget = EVAL_BUDGET
            self._members.clear()  # looked up again: a recording notes the files read
            self._stars.clear()

    # -- the script's own modules -------------------------------------------------------------
    def table_for(self, scope: Scope) -> SymbolTable:
        """The symbol table of the file ``scope`` is in (the script's, or a module's of its)."""
        mod = _module_of(scope)[1]
        return mod.table if mod is not None else self.table

    def local_member(
        self, dotted: str, scope: Scope | None = None
    ) -> tuple[Any, list[Binding]] | None:
        """(module, bindings) of ``model.GPT`` when ``model`` is a file of the user's beside the
        script (or, imported by a module of a package, beside that module: ``scope``'s) that
        binds ``GPT`` (only while :attr:`link_modules` is on)."""
        if not self.link_modules or "." not in dotted:
            return None
        near = self.dir_of(scope) if scope is not None else None
        key = (dotted, near)
        if key in self._members:
            return self._members[key]
        found: tuple[Any, list[Binding]] | None = None
        where = split_member(self.ctx.script_path, dotted, near)
        if where is not None:
            mod = load_module(where[0], where[1])
            bs = mod.table.module.bindings.get(where[2]) if mod is not None else None
            if mod is not None and bs:
                # its classes' and functions' scopes, found by node like the script's own
                self.table.scope_of.update(mod.table.scope_of)
                found = (mod, bs)
        self._members[key] = found
        return found

    def dir_of(self, scope: Scope) -> str | None:
        """The directory of the user's module ``scope`` is in (None: the script's own)."""
        mod = _module_of(scope)[1]
        return os.path.dirname(mod.path) if mod is not None else None

    def star_member(self, name: str, scope: Scope) -> tuple[Any, list[Binding]] | None:
        """(module, bindings) of a name the file of ``scope`` gets from one of the user's modules
        it star-imports (``from models import *`` and the package's own star imports, a few
        levels deep), only while :attr:`link_modules` is on."""
        if not self.link_modules:
            return None
        root, own = _module_of(scope)
        key = (id(own), name)
        if key in self._stars:
            return self._stars[key]
        found: tuple[Any, list[Binding]] | None = None
        tree = own.tree if own is not None else root.node
        if isinstance(tree, ast.Module):
            path = own.path if own is not None else self.ctx.script_path
            for mod in star_closure(tree, path, self.ctx.script_path):
                bs = mod.table.module.bindings.get(name)
                if bs:
                    self.table.scope_of.update(mod.table.scope_of)
                    found = (mod, bs)
                    break
        self._stars[key] = found
        return found

    # -- text helpers -----------------------------------------------------------------------
    def segment(self, node: ast.AST, limit: int = 80) -> str:
        line = getattr(node, "lineno", None)
        end = getattr(node, "end_lineno", None)
        col = getattr(node, "col_offset", 0)
        end_col = getattr(node, "end_col_offset", None)
        mod = file_of(node)
        lines = mod.lines if mod is not None else self.lines
        if line is None or end is None or end_col is None or line > len(lines):
            return "…"
        if line == end:
            text = lines[line - 1][col:end_col]
        else:
            parts = [lines[line - 1][col:]]
            parts.extend(lines[i - 1] for i in range(line + 1, min(end, len(lines))))
            if end <= len(lines):
                parts.append(lines[end - 1][:end_col])
            text = " ".join(p.strip() for p in parts)
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 1] + "…"

    # -- entry points -----------------------------------------------------------------------
    def eval(self, node: ast.expr, scope: Scope, pos: Pos, frame: Frame | None = None) -> V:
        if self._depth > _MAX_DEPTH:
            return unknown("the expression is too deeply nested to follow", span_of(node))
        self._budget -= 1
        if self._budget < 0:
            return unknown(
                "the script is too intricate to follow in the time allowed", span_of(node)
            )
        self._depth += 1
        try:
            return self._eval(node, scope, pos, frame)
        except (RecursionError, MemoryError):
            return unknown("the expression is too deeply nested to follow", span_of(node))
        finally:
            self._depth -= 1

    def lookup(self, name: str, scope: Scope, pos: Pos, frame: Frame | None = None) -> V | None:
        """Value of ``name`` (possibly dotted) seen from ``pos`` in ``scope``; None if unbound."""
        s: Scope | None = scope
        p = pos
        f = frame
        while s is not None:
            found = self._lookup_in(name, s, p, f)
            if found is not None:
                return found
            if "." not in name and "[" not in name:
                if f is not None and name in f.vars:
                    return f.vars[name]
                if s.is_function and name in s.params():
                    return self.param_value(s, name)
            # Functions see the module as it is when they are called: after all of it ran.
            s = s.parent
            while s is not None and isinstance(s.node, ast.ClassDef):
                s = s.parent
            p = None
            f = None
        return None

    # -- bindings ---------------------------------------------------------------------------
    def _lookup_in(self, name: str, scope: Scope, pos: Pos, frame: Frame | None) -> V | None:
        bs = scope.bindings.get(name)
        if not bs:
            return None
        cands = bs if pos is None else [b for b in bs if b.pos < pos]
        return self._pick(cands, frame)

    def _pick(self, cands: list[Binding], frame: Frame | None) -> V | None:
        """The latest binding whose conditions hold; unknown when an undecidable ``if`` matters."""
        for i in range(len(cands) - 1, -1, -1):
            b = cands[i]
            status, cond = self.conditions_hold(b, frame)
            if status is False:
                continue
            v = self.eval_binding(b, frame, cands[:i])
            if status is True:
                return v
            rest = self._pick(cands[:i], frame)
            if rest is None:
                # Bound only under a condition we cannot decide: still the only candidate.
                if v.known:
                    return v.with_source(f"{v.source} (if {self._cond_text(cond)})")
                return v
            if v.known and rest.known and v.value == rest.value:
                return v
            why = (
                f"`{b.target}` depends on `{self._cond_text(cond)}`"
                f" (line {b.line}), which is only known when the script runs"
            )
            # `if use_accel: kwargs.update(num_workers=1)`: the keys both ways agree on stay
            # known (`kwargs['batch_size']`); the others depend on the condition
            if isinstance(v.value, DictVal) and isinstance(rest.value, DictVal):
                return V(_agreeing(v.value, rest.value, why), v.source, v.span)
            return unknown(why, span_of(b.node) if b.node else None)
        return None

    def _cond_text(self, cond: ast.expr | None) -> str:
        return "an exception being raised" if cond is None else self.segment(cond, 60)

    def conditions_hold(
        self, b: Binding, frame: Frame | None
    ) -> tuple[bool | None, ast.expr | None]:
        return self.conds_status(b.conditions, b.scope, frame)

    def conds_status(
        self, conds: tuple[Condition, ...], scope: Scope, frame: Frame | None = None
    ) -> tuple[bool | None, ast.expr | None]:
        """Whether all the ``if`` tests guarding some code hold: True, False or None (unknown)."""
        for test, polarity in conds:
            if test is None:
                return None, None
            v = self.eval(test, scope, (test.lineno, test.col_offset), frame)
            if not v.known or not isinstance(v.value, _PRIMITIVE):
                return None, test
            if bool(v.value) != polarity:
                return False, test
        return True, None

    def eval_binding(self, b: Binding, frame: Frame | None, earlier: list[Binding]) -> V:
        key = (id(b), id(frame))
        cacheable = frame is None
        if cacheable and id(b) in self._cache:
            return self._cache[id(b)]
        if key in self._active:
            return unknown(f"`{b.target}` is defined in terms of itself (line {b.line})")
        self._active.add(key)
        try:
            v = self._eval_binding(b, frame, earlier)
        finally:
            self._active.discard(key)
        if cacheable:
            self._cache[id(b)] = v
        return v

    def symbol(self, name: str, sp: Span) -> V:
        maker = self.symbol_values.get(name)
        if maker is not None:
            return maker(sp)
        return V(Symbol(name), "import", sp)

    def _eval_binding(self, b: Binding, frame: Frame | None, earlier: list[Binding]) -> V:
        span = span_of(b.node) if b.node is not None else None
        if b.kind == "preset":
            return b.preset if isinstance(b.preset, V) else unknown("no value")
        if b.kind == "import":
            target = self.table_for(b.scope).imports.get(b.target, b.target)
            linked = self.local_member(target, b.scope)
            if linked is not None:
                v = self._pick(linked[1], None)  # what the module leaves the name bound to
                if v is not None:
                    return v
            return self.symbol(target, span or Span(1, 0, 1, 0))
        if b.kind == "def" and isinstance(b.node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = self.table.scope_for(b.node)
            if inner is not None:
                return V(FuncVal(b.node, inner), f"function {b.target}", span)
        if b.kind == "class" and isinstance(b.node, ast.ClassDef):
            return V(ClassVal(b.node), f"class {b.target}", span)
        if b.kind == "for":
            return unknown(f"`{b.target}` is a loop variable (line {b.line})", span)
        if b.kind == "with":
            ctx_expr = b.value
            if (
                isinstance(ctx_expr, ast.Call)
                and isinstance(ctx_expr.func, ast.Name)
                and ctx_expr.func.id == "open"
                and not b.path
            ):
                # `with open(path) as f:` — f stands for the file (json.load(f) reads it).
                return self.eval(ctx_expr, b.scope, (ctx_expr.lineno, ctx_expr.col_offset), frame)
            return unknown(f"`{b.target}` is bound by `with`/`except` (line {b.line})", span)
        if b.kind == "field":
            return unknown(f"`{b.target}` has no default value (line {b.line})", span)
        if b.value is None:
            return unknown(f"`{b.target}` (line {b.line}) is not readable statically", span)
        # The right-hand side sees the bindings made *before* this statement (x = x + 1).
        pos = (b.line, b.col)
        if b.kind in ("setitem", "update"):
            return self._mutation(b, frame, earlier, pos)
        if b.kind == "aug":
            if b.in_loop:
                return unknown(
                    f"`{b.target}` changes on every loop iteration (line {b.line})", span
                )
            prev = self._pick(earlier, frame)
            if prev is None:
                prev = self.lookup(b.target, b.scope.parent, None) if b.scope.parent else None
            if prev is None:
                return unknown(f"`{b.target}` is updated before it is set (line {b.line})")
            rhs = self.eval(b.value, b.scope, pos, frame)
            if b.op is None:
                return unknown("no operator")
            return self._binop(b.op, prev, rhs, b.node or b.value, self._optext(b))
        v = self.eval(b.value, b.scope, pos, frame)
        for i in b.path:
            v = self._index(v, V(i, "literal"), b.value)
        if v.known and v.source == "literal":
            text = self.segment(b.value, 50)
            code = f"return {text}" if b.target == "<return>" else f"{b.target} = {text}"
            v = v.with_source(f"`{code}`, line {b.line}", span_of(b.value))
        return v

    def _mutation(self, b: Binding, frame: Frame | None, earlier: list[Binding], pos: Pos) -> V:
        """``d['k'] = v`` / ``d.update(...)``: the dict before, changed."""
        prev = self._pick(earlier, frame)
        if prev is None or not prev.known or not isinstance(prev.value, DictVal | Namespace):
            if prev is not None and not prev.known:
                return prev
            return unknown(f"`{b.target}` is changed before the reader knows what it is")
        items = dict(prev.value.items if isinstance(prev.value, DictVal) else prev.value.attrs)
        assert b.value is not None
        if b.kind == "setitem":
            v = self.eval(b.value, b.scope, pos, frame)
            items[b.key] = self._literal_source(v, b.value, f"`{b.target}[{b.key!r}]`")
        else:
            call = b.value
            assert isinstance(call, ast.Call)
            for a in call.args:
                d = self.eval(a, b.scope, pos, frame)
                if not d.known or not isinstance(d.value, DictVal):
                    return unknown(f"`{self.segment(call)}` (line {b.line}) adds unknown keys")
                items.update(d.value.items)
            for kw in call.keywords:
                if kw.arg is not None:
                    v = self.eval(kw.value, b.scope, pos, frame)
                    items[kw.arg] = self._literal_source(v, kw.value, f"`{kw.arg}=` in update()")
        if isinstance(prev.value, Namespace):
            return V(
                Namespace({str(k): x for k, x in items.items()}, prev.value.kind),
                prev.source,
                prev.span,
            )
        return V(DictVal(items), prev.source, prev.span)

    def _optext(self, b: Binding) -> str:
        return f"{self.segment(b.node, 60)}" if b.node is not None else "updated"

    def param_value(self, scope: Scope, name: str) -> V:
        """A function parameter: from the call sites in this file, else its default."""
        fn = scope.node
        assert isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        if self.param_hook is not None:
            hooked = self.param_hook(self, scope, name)
            if hooked is not None:
                return hooked
        values: list[V] = []
        for call, caller in self.callers(fn.name):
            frame = self.bind_call(fn, scope, call, caller, None, None, method=None)
            if frame is None:
                continue
            if name in frame.vars:
                values.append(frame.vars[name])
        values.extend(self._spawn_args(fn, scope, name))
        if values:
            first = values[0]
            if all(v.known and first.known and v.value == first.value for v in values):
                return first
            if len(values) == 1 or all(not v.known for v in values):
                return first
            return unknown(
                f"`{fn.name}` is called with different values of `{name}`",
                span_of(fn),
            )
        default = self._param_default(fn, scope, name)
        if default is not None:
            return default
        cls = scope.parent.node if scope.parent is not None else None
        params = scope.params()
        if isinstance(cls, ast.ClassDef) and params and params[0] == name:
            # `self` in a method nobody in the file calls (Lightning hooks): the instance the
            # file creates, when it creates exactly one.
            made = [(c, s) for c, s in self.callers(cls.name) if isinstance(c.func, ast.Name)]
            if len(made) == 1:
                call, caller = made[0]
                return self.instantiate(
                    ClassVal(cls), call, caller, (call.lineno, call.col_offset), None
                )
        return unknown(f"`{name}` is a parameter of `{fn.name}()` and no call to it was found")

    def _spawn_args(
        self, fn: ast.FunctionDef | ast.AsyncFunctionDef, scope: Scope, name: str
    ) -> list[V]:
        """``mp.spawn(fn, args=(a, b), nprocs=n)``: fn(rank, a, b) in each process."""
        params = scope.params()
        if name not in params or params.index(name) == 0:
            return []
        out: list[V] = []
        for call, caller in self.callers("spawn"):
            if not (
                call.args and isinstance(call.args[0], ast.Name) and call.args[0].id == fn.name
            ):
                continue
            for kw in call.keywords:
                if kw.arg == "args" and isinstance(kw.value, ast.Tuple):
                    i = params.index(name) - 1
                    if i < len(kw.value.elts):
                        node = kw.value.elts[i]
                        v = self.eval(node, caller, (call.lineno, call.col_offset))
                        out.append(self._arg_source(v, call, name, node))
        return out

    def _param_default(
        self, fn: ast.FunctionDef | ast.AsyncFunctionDef, scope: Scope, name: str
    ) -> V | None:
        a = fn.args
        positional = [*a.posonlyargs, *a.args]
        defaults = a.defaults
        offset = len(positional) - len(defaults)
        outer = scope.parent or scope
        for i, p in enumerate(positional):
            if p.arg == name and i >= offset:
                d = defaults[i - offset]
                v = self.eval(d, outer, (fn.lineno, fn.col_offset))
                return self._literal_source(v, d, f"default of parameter `{name}` of {fn.name}()")
        for p, kd in zip(a.kwonlyargs, a.kw_defaults, strict=False):
            if p.arg == name and kd is not None:
                v = self.eval(kd, outer, (fn.lineno, fn.col_offset))
                return self._literal_source(v, kd, f"default of parameter `{name}` of {fn.name}()")
        return None

    def _arg_source(self, v: V, call: ast.Call, param: str, node: ast.expr) -> V:
        if v.known and v.source == "literal":
            return v.with_source(
                f"`{param}={self.segment(node, 40)}` passed to"
                f" `{self.segment(call.func, 40)}(…)`, line {node.lineno}",
                span_of(node),
            )
        return v

    def _literal_source(self, v: V, node: ast.expr, what: str) -> V:
        if v.known and v.source == "literal":
            return v.with_source(f"{what} (line {node.lineno})", span_of(node))
        return v

    def _is_train_loader(self, call: ast.Call) -> bool:
        """A loader bound to a name that does not say val/test/eval (the user's size is the
        training set's)."""
        if self._assigned is None:
            if self.table.assigned is None:
                self.table.assigned = assigned_names(self.table.all_scopes())
            self._assigned = self.table.assigned
        name = self._assigned.get(id(call), "").lower()
        return not any(w in name for w in ("val", "test", "eval", "dev"))

    def call_index(self) -> dict[str, list[tuple[ast.Call, Scope]]]:
        """Calls by the name called (``f`` of ``f(...)``, ``m`` of ``x.m(...)``), in order."""
        self.callers("")
        assert self._callers is not None
        return self._callers

    def callers(self, fname: str) -> list[tuple[ast.Call, Scope]]:
        if self._callers is None:
            if self.table.index is None:
                self.table.index = call_index(self.table.calls)
            self._callers = self.table.index
        return self._callers.get(fname, [])

    def bind_call(
        self,
        fn: ast.FunctionDef | ast.AsyncFunctionDef,
        fscope: Scope,
        call: ast.Call,
        caller: Scope,
        caller_pos: Pos,
        caller_frame: Frame | None,
        method: V | None,
    ) -> Frame | None:
        """Bind a call's arguments to ``fn``'s parameters (lazily evaluated values)."""
        a = fn.args
        positional = [p.arg for p in (*a.posonlyargs, *a.args)]
        frame = Frame()
        is_method = isinstance(fscope.parent.node if fscope.parent else None, ast.ClassDef)
        decos = {dotted_target(d) for d in fn.decorator_list}
        if is_method and "staticmethod" not in decos and positional:
            self_name = positional.pop(0)
            if method is not None:
                frame.vars[self_name] = method
            elif isinstance(call.func, ast.Attribute):
                if isinstance(call.func.value, ast.Name) and call.func.value.id in ("self",):
                    pass
                frame.vars[self_name] = unknown("the object the method is called on")
        pos = caller_pos or (call.lineno, call.col_offset)
        for i, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                return frame
            if i < len(positional):
                frame.vars[positional[i]] = self._arg_source(
                    self.eval(arg, caller, pos, caller_frame), call, positional[i], arg
                )
            elif a.vararg is None:
                return None  # not this function (or a broken call)
        for kw in call.keywords:
            if kw.arg is None:
                splat = self.eval(kw.value, caller, pos, caller_frame)
                if splat.known and isinstance(splat.value, DictVal):
                    for k, val in splat.value.items.items():
                        if isinstance(k, str):
                            frame.vars[k] = val
                continue
            frame.vars[kw.arg] = self._arg_source(
                self.eval(kw.value, caller, pos, caller_frame), call, kw.arg, kw.value
            )
        # Defaults for the rest.
        for p in [*positional, *(k.arg for k in a.kwonlyargs)]:
            if p not in frame.vars:
                d = self._param_default(fn, fscope, p)
                if d is not None:
                    frame.vars[p] = d
        return frame

    # -- expressions ------------------------------------------------------------------------
    def _eval(self, node: ast.expr, scope: Scope, pos: Pos, frame: Frame | None) -> V:
        sp = span_of(node)
        if isinstance(node, ast.Constant):
            val = node.value
            if isinstance(val, str) and len(val) > _MAX_STR:
                return unknown("the string is too long to read", sp)
            if isinstance(val, int) and val.bit_length() > _MAX_INT_BITS * 4:
                return unknown("the number is too large to read", sp)
            return V(val, "literal", sp)
        if isinstance(node, ast.Name):
            if node.id == "__name__":
                return V("__main__", "the script run as __main__", sp)
            found = self.lookup(node.id, scope, pos, frame)
            if found is not None:
                return found
            if self.fallback is not None:
                fb = self.fallback(node.id)
                if fb is not None:
                    return fb
            if node.id in _BUILTINS:
                return V(Symbol(f"builtins.{node.id}"), "builtin", sp)
            if node.id in ("True", "False", "None"):
                return V({"True": True, "False": False}.get(node.id), "literal", sp)
            return unknown(f"`{node.id}` is not defined in this file", sp)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, scope, pos, frame)
        if isinstance(node, ast.Subscript):
            target = dotted_target(node)
            if target is not None and "[" in target:
                found = self.lookup(target, scope, pos, frame)
                if found is not None:
                    return found
            base = self.eval(node.value, scope, pos, frame)
            if isinstance(node.slice, ast.Slice):
                return self._slice(base, node.slice, scope, pos, frame, node)
            idx = self.eval(node.slice, scope, pos, frame)
            return self._index(base, idx, node)
        if isinstance(node, ast.BinOp):
            left = self.eval(node.left, scope, pos, frame)
            right = self.eval(node.right, scope, pos, frame)
            return self._binop(node.op, left, right, node, self.segment(node))
        if isinstance(node, ast.UnaryOp):
            v = self.eval(node.operand, scope, pos, frame)
            if not v.known:
                return v
            try:
                if isinstance(node.op, ast.USub) and is_number(v.value):
                    return V(-v.value, v.source, sp)
                if isinstance(node.op, ast.UAdd) and is_number(v.value):
                    return V(v.value, v.source, sp)
                if isinstance(node.op, ast.Not) and isinstance(v.value, _PRIMITIVE):
                    return V(not v.value, v.source, sp)
                if isinstance(node.op, ast.Invert) and isinstance(v.value, int):
                    return V(~v.value, v.source, sp)
            except TypeError:
                pass
            return unknown(f"`{self.segment(node)}` cannot be folded", sp)
        if isinstance(node, ast.BoolOp):
            return self._boolop(node, scope, pos, frame)
        if isinstance(node, ast.Compare):
            return self._compare(node, scope, pos, frame)
        if isinstance(node, ast.IfExp):
            test = self.eval(node.test, scope, pos, frame)
            if test.known and isinstance(test.value, _PRIMITIVE):
                branch = node.body if test.value else node.orelse
                r = self.eval(branch, scope, pos, frame)
                if r.known and "assumed" in test.source:
                    # Keep the assumption visible: `'bfloat16' if cuda.is_bf16_supported()…`.
                    what = test.source[test.source.index("assumed") :]
                    text = f"`{self.segment(node, 70)}`, line {sp.line} ({what})"
                    return V(r.value, text, r.span)
                return r
            a = self.eval(node.body, scope, pos, frame)
            b = self.eval(node.orelse, scope, pos, frame)
            if a.known and b.known and a.value == b.value:
                return a
            why = (
                f"`{self.segment(node, 60)}` depends on `{self.segment(node.test, 50)}`,"
                " which is only known when the script runs"
            )
            if isinstance(a.value, DictVal) and isinstance(b.value, DictVal):
                # `{'num_workers': 1} if use_accel else {}`: what both agree on stays known
                return V(_agreeing(a.value, b.value, why), a.source, sp)
            return unknown(why, sp)
        if isinstance(node, ast.Call):
            return self._call(node, scope, pos, frame)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = []
            for e in node.elts:
                if isinstance(e, ast.Starred):
                    inner = self.eval(e.value, scope, pos, frame)
                    if inner.known and isinstance(inner.value, SeqVal):
                        items.extend(inner.value.items)
                        continue
                    return unknown("a starred element", sp)
                items.append(self.eval(e, scope, pos, frame))
            kind = "tuple" if isinstance(node, ast.Tuple) else "list"
            return V(SeqVal(items, kind), "literal", sp)
        if isinstance(node, ast.Dict):
            d: dict[Any, V] = {}
            for knode, vnode in zip(node.keys, node.values, strict=False):
                if knode is None:
                    splat = self.eval(vnode, scope, pos, frame)
                    if splat.known and isinstance(splat.value, DictVal):
                        d.update(splat.value.items)
                    continue
                kv = self.eval(knode, scope, pos, frame)
                if kv.known and isinstance(kv.value, str | int | float | bool):
                    item = self.eval(vnode, scope, pos, frame)
                    d[kv.value] = self._literal_source(item, vnode, f"`{self.segment(knode)}` key")
            return V(DictVal(d), "literal", sp)
        if isinstance(node, ast.JoinedStr):
            parts: list[str] = []
            for piece in node.values:
                if isinstance(piece, ast.Constant):
                    parts.append(str(piece.value))
                elif isinstance(piece, ast.FormattedValue):
                    pv = self.eval(piece.value, scope, pos, frame)
                    if not pv.known or not isinstance(pv.value, _PRIMITIVE):
                        return unknown(f"`{self.segment(node)}` needs run-time values", sp)
                    spec = ""
                    if piece.format_spec is not None:
                        sv = self.eval(piece.format_spec, scope, pos, frame)
                        if not sv.known:
                            return sv
                        spec = str(sv.value)
                    try:
                        parts.append(format(pv.value, spec))
                    except (ValueError, TypeError):
                        return unknown("a format string the reader cannot apply", sp)
            return V("".join(parts), "literal", sp)
        if isinstance(node, ast.NamedExpr):
            return self.eval(node.value, scope, pos, frame)
        return unknown(f"`{self.segment(node)}` is not readable statically", sp)

    def _binop(self, op: ast.operator, left: V, right: V, node: ast.AST, text: str) -> V:
        sp = span_of(node)
        if not left.known:
            return left
        if not right.known:
            return right
        a, b = left.value, right.value
        if isinstance(a, SeqVal) and isinstance(b, SeqVal) and isinstance(op, ast.Add):
            return V(SeqVal(a.items + b.items, a.kind), left.source, sp)
        if not isinstance(a, _PRIMITIVE) or not isinstance(b, _PRIMITIVE):
            return unknown(f"`{text}` combines values the reader cannot fold", sp)
        try:
            r = _safe_binop(op, a, b)
        except ZeroDivisionError:
            return unknown(f"`{text}` divides by zero", sp)
        except (TypeError, ValueError, OverflowError) as exc:
            return unknown(f"`{text}` cannot be folded ({exc})", sp)
        # Point at where the number is set (`EPOCHS = 5`) when a single named value feeds it.
        named = [v for v in (left, right) if v.source not in ("literal",)]
        if not named:
            return V(r, "literal", sp)  # `5 * 8`: named by the assignment it appears in
        where = named[0].span if len(named) == 1 and named[0].span is not None else sp
        return V(r, combine_sources(text, sp.line, [left, right]), where)

    def _boolop(self, node: ast.BoolOp, scope: Scope, pos: Pos, frame: Frame | None) -> V:
        sp = span_of(node)
        is_and = isinstance(node.op, ast.And)
        last: V | None = None
        undecided: V | None = None
        for e in node.values:
            v = self.eval(e, scope, pos, frame)
            if not v.known or not isinstance(v.value, _PRIMITIVE):
                undecided = undecided or (v if not v.known else unknown("not a plain value", sp))
                continue
            if is_and and not v.value:
                return v
            if not is_and and v.value:
                return v
            last = v
        if undecided is not None:
            return unknown(f"`{self.segment(node, 60)}` is only known when the script runs", sp)
        return last or unknown("empty", sp)

    def _compare(self, node: ast.Compare, scope: Scope, pos: Pos, frame: Frame | None) -> V:
        sp = span_of(node)
        left = self.eval(node.left, scope, pos, frame)
        for op, comp in zip(node.ops, node.comparators, strict=False):
            right = self.eval(comp, scope, pos, frame)
            if not left.known:
                return unknown(f"`{self.segment(node, 60)}`: {left.reason}", sp)
            if not right.known:
                return unknown(f"`{self.segment(node, 60)}`: {right.reason}", sp)
            a, b = left.value, right.value
            try:
                if isinstance(op, ast.In | ast.NotIn):
                    if isinstance(b, SeqVal):
                        members = [x.value for x in b.items if x.known]
                        if len(members) != len(b.items):
                            return unknown("membership in a partly unknown list", sp)
                        res = a in members
                    elif isinstance(b, DictVal):
                        res = a in b.items
                    elif isinstance(b, str) and isinstance(a, str):
                        res = a in b
                    else:
                        return unknown(f"`{self.segment(node, 60)}` cannot be decided", sp)
                    if isinstance(op, ast.NotIn):
                        res = not res
                else:
                    if not isinstance(a, _PRIMITIVE) or not isinstance(b, _PRIMITIVE):
                        if isinstance(op, ast.Is | ast.IsNot) and (a is None or b is None):
                            res = (a is b) if isinstance(op, ast.Is) else (a is not b)
                        else:
                            return unknown(f"`{self.segment(node, 60)}` cannot be decided", sp)
                    else:
                        fn = _CMPOPS[type(op)]
                        res = bool(fn(a, b))
            except (TypeError, KeyError):
                return unknown(f"`{self.segment(node, 60)}` cannot be decided", sp)
            if not res:
                return V(False, "comparison", sp)
            left = right
        return V(True, "comparison", sp)

    def _index(self, base: V, idx: V, node: ast.AST) -> V:
        sp = span_of(node)
        if not base.known:
            return base
        if not idx.known:
            return idx
        b, i = base.value, idx.value
        if isinstance(b, DictVal):
            if i in b.items:
                item = b.items[i]
                if idx.source not in ("literal",) and item.source in ("import", "literal"):
                    # {'bfloat16': torch.bfloat16, …}[dtype]: where the key came from matters.
                    return V(
                        item.value,
                        combine_sources(self.segment(node, 40), sp.line, [idx]),
                        idx.span or sp,
                    )
                return item
            if base.source == "os.environ":
                return unknown(f"environment variable {i} is set by the launcher at run time", sp)
            return unknown(f"key {i!r} is not in the dict", sp)
        if isinstance(b, Namespace) and isinstance(i, str):
            if i in b.attrs:
                return b.attrs[i]
            return unknown(f"key {i!r} is not set", sp)
        if isinstance(b, SeqVal) and isinstance(i, int):
            try:
                return b.items[i]
            except IndexError:
                return unknown(f"index {i} is out of range", sp)
        if isinstance(b, str | tuple | list | range) and isinstance(i, int):
            try:
                return V(b[i], base.source, sp)
            except IndexError:
                return unknown(f"index {i} is out of range", sp)
        if isinstance(b, TensorVal):
            return V(TensorVal(None, "an indexed tensor"), base.source, sp)
        return unknown(f"`{self.segment(node)}` cannot be indexed statically", sp)

    def _slice(
        self, base: V, sl: ast.Slice, scope: Scope, pos: Pos, frame: Frame | None, node: ast.AST
    ) -> V:
        sp = span_of(node)
        if not base.known:
            return base
        bounds: list[int | None] = []
        for part in (sl.lower, sl.upper, sl.step):
            if part is None:
                bounds.append(None)
                continue
            v = self.eval(part, scope, pos, frame)
            if not v.known or not isinstance(v.value, int) or isinstance(v.value, bool):
                return unknown(f"the slice bounds of `{self.segment(node)}` are not known", sp)
            bounds.append(v.value)
        s = slice(*bounds)
        b = base.value
        src = f"`{self.segment(node)}`, line {sp.line}"
        if isinstance(b, SeqVal):
            return V(SeqVal(b.items[s], b.kind), src, sp)
        if isinstance(b, str | range | tuple | list):
            return V(b[s], src, sp)
        if isinstance(b, TensorVal | DatasetVal):
            n = b.dim0 if isinstance(b, TensorVal) else b.size
            if n is None:
                return V(TensorVal(None, "a sliced tensor"), src, sp)
            return V(TensorVal(len(range(n)[s]), f"`{self.segment(node)}`"), src, sp)
        return unknown(f"`{self.segment(node)}` cannot be sliced statically", sp)

    def _attribute(self, node: ast.Attribute, scope: Scope, pos: Pos, frame: Frame | None) -> V:
        sp = span_of(node)
        target = dotted_target(node)
        if target is not None:
            found = self.lookup(target, scope, pos, frame)
            if found is not None:
                return found
        base = self.eval(node.value, scope, pos, frame)
        if (
            target is not None
            and base.known
            and isinstance(base.value, Namespace)
            and node.attr not in base.value.attrs
        ):
            # `args.distributed = ...` set in main(), read in main_worker(args): the same
            # object travels under the same name; use the assignment wherever it is.
            elsewhere = self._bound_anywhere(target)
            if elsewhere is not None:
                return elsewhere
        return self.get_attr(base, node.attr, sp, node)

    def _bound_anywhere(self, target: str) -> V | None:
        found: list[Binding] = []
        for s in self.table.all_scopes():
            found.extend(s.bindings.get(target, ()))
        if not found:
            return None
        found.sort(key=lambda b: b.pos)
        return self._pick(found, None)

    def get_attr(self, base: V, attr: str, sp: Span, node: ast.AST | None = None) -> V:
        if not base.known:
            return base
        b = base.value
        if isinstance(b, Symbol):
            linked = self.local_member(f"{b.name}.{attr}")  # `import model; model.GPT`
            if linked is not None:
                v = self._pick(linked[1], None)
                if v is not None:
                    return v
            return self.symbol(f"{b.name}.{attr}", sp)
        if isinstance(b, Namespace):
            if attr in b.attrs:
                return b.attrs[attr]
            return unknown(f"`{attr}` is not set on this {b.kind}", sp)
        if isinstance(b, DictVal) and attr in b.items:
            return b.items[attr]
        if isinstance(b, InstanceVal):
            return self.instance_attr(base, b, attr, sp)
        if isinstance(b, TensorVal) and attr == "shape":
            return V(
                SeqVal(
                    [
                        V(b.dim0, base.source, sp)
                        if b.dim0 is not None
                        else unknown("first dimension unknown", sp)
                    ],
                    "tuple",
                ),
                base.source,
                sp,
            )
        if isinstance(b, LoaderVal) and attr == "dataset":
            return b.dataset
        if isinstance(b, ClassVal):
            cscope = self.table.scope_for(b.node)
            if cscope is not None:
                v = self._lookup_in(attr, cscope, None, None)
                if v is not None:
                    return v
            return unknown(f"`{b.node.name}.{attr}` is not set in the class body", sp)
        text = self.segment(node) if node is not None else attr
        return unknown(f"`{text}` is not readable statically", sp)

    def instance_attr(self, base: V, inst: InstanceVal, attr: str, sp: Span) -> V:
        cscope = self.table.scope_for(inst.cls)
        if cscope is None:
            return unknown("class body not found", sp)
        # self.X assigned in a method: prefer __init__, evaluate with the instantiation's args.
        methods = [c for c in cscope.children if c.is_function]
        methods.sort(key=lambda c: c.name != "__init__")
        for m in methods:
            self_name = m.params()[0] if m.params() else "self"
            key = f"{self_name}.{attr}"
            if key in m.bindings:
                frame = inst.frame if m.name == "__init__" else Frame({self_name: base})
                if self_name not in frame.vars:
                    frame = Frame({**frame.vars, self_name: base})
                v = self._lookup_in(key, m, None, frame)
                if v is not None:
                    return v
        v = self._lookup_in(attr, cscope, None, None)
        if v is not None:
            if v.known and isinstance(v.value, FuncVal):
                return V(FuncVal(v.value.node, v.value.scope, base), v.source, v.span)
            return v
        if attr == "hparams":
            # LightningModule.save_hyperparameters(): hparams are the __init__ arguments.
            return V(Namespace(dict(inst.frame.vars), "hparams"), "save_hyperparameters()", sp)
        return unknown(f"`{inst.cls.name}.{attr}` is not set in the class", sp)

    def length(self, v: V, sp: Span | None = None) -> V:
        """``len(v)``, including datasets defined in the script (their ``__len__``) and loaders."""
        if not v.known:
            return v
        x = v.value
        if isinstance(x, InstanceVal):
            return self._instance_len(v, x, sp or v.span)
        if isinstance(x, LoaderVal):
            return self.loader_len(x, sp or v.span)
        if isinstance(x, SamplerVal):
            return self.sampler_len(x, sp or v.span)
        return length_of(v)

    def _instance_len(self, v: V, inst: InstanceVal, sp: Span | None) -> V:
        name = inst.cls.name
        fn = self.get_attr(v, "__len__", sp or Span(1, 0, 1, 0))
        if not fn.known or not isinstance(fn.value, FuncVal):
            if any((dotted_target(b) or "").endswith("IterableDataset") for b in inst.cls.bases):
                return unknown(f"`{name}` is an IterableDataset: it has no length", sp)
            return unknown(f"`{name}` has no `__len__` the reader can follow", sp)
        f = fn.value
        rets = f.scope.bindings.get("<return>")
        if not rets:
            return unknown(f"`{name}.__len__` has no return the reader can follow", sp)
        params = f.scope.params()
        frame = Frame({params[0]: v} if params else {})
        r = self._first_return(rets, frame, f"{name}.__len__")
        if r is None:
            return unknown(f"`{name}.__len__` has no return the reader can follow", sp)
        if r.known and not isinstance(r.value, int):
            r = length_of(r)
        if not r.known:
            return unknown(f"`{name}.__len__`: {r.reason}", r.span or sp)
        src = r.source if r.source != "literal" else f"line {rets[0].line}"
        return V(r.value, f"{name}.__len__ returns {r.value:,} ({src})", r.span or sp)

    def sampler_len(self, s: SamplerVal, sp: Span | None) -> V:
        if s.dataset is None:
            return unknown(f"the {s.kind} has no dataset the reader can see", sp)
        n = self.length(s.dataset, sp)
        if not n.known or s.replicas is None:
            return n
        w = s.replicas
        if not w.known or not isinstance(w.value, int) or w.value < 1:
            return unknown(w.reason or "the number of processes is not known", sp)
        per = n.value // w.value if s.drop_last else -(-n.value // w.value)
        return V(per, f"{n.value:,} samples split over {w.value} processes", sp)

    def loader_len(self, ld: LoaderVal, sp: Span | None) -> V:
        data = ld.sampler if ld.sampler is not None and ld.sampler.known else ld.dataset
        n = self.length(data, sp)
        if not n.known and self.ctx.size_hint is not None and self._is_train_loader(ld.node):
            n = V(self.ctx.size_hint, "dataset_size you supplied", sp)
        if not n.known:
            return n
        b = ld.batch
        if not b.known:
            return b
        if b.value is None:
            return n
        if not isinstance(b.value, int) or b.value < 1:
            return unknown(f"batch size {b.value!r} is not a positive integer", sp)
        drop = ld.drop_last.known and bool(ld.drop_last.value)
        per = n.value // b.value if drop else -(-n.value // b.value)
        return V(per, f"len(DataLoader): {n.value:,} samples / batch {b.value}", sp)

    # -- calls ------------------------------------------------------------------------------
    def _call(self, node: ast.Call, scope: Scope, pos: Pos, frame: Frame | None) -> V:
        sp = span_of(node)
        f = node.func
        if isinstance(f, ast.Attribute):
            base = self.eval(f.value, scope, pos, frame)
            if base.known and isinstance(base.value, Symbol):
                linked = self.local_member(f"{base.value.name}.{f.attr}")
                member = self._pick(linked[1], None) if linked is not None else None
                if member is not None and member.known:
                    if isinstance(member.value, FuncVal):
                        return self.call_function(member.value, node, scope, pos, frame, None)
                    if isinstance(member.value, ClassVal):
                        return self.instantiate(member.value, node, scope, pos, frame)
                return self.call_symbol(f"{base.value.name}.{f.attr}", node, scope, pos, frame)
            if base.known and isinstance(base.value, InstanceVal | ClassVal):
                fv = self.get_attr(base, f.attr, sp, f)
                if fv.known and isinstance(fv.value, FuncVal):
                    return self.call_function(
                        fv.value, node, scope, pos, frame, fv.value.self_value
                    )
            handler = self.method_handlers.get(f.attr)
            if handler is not None:
                ctx = CallCtx(self, node, scope, pos, frame, f.attr)
                r = handler(ctx)
                if r is not None:
                    return r
            if not base.known:
                return unknown(base.reason or "unknown receiver", sp)
            return unknown(f"`{self.segment(node)}` is only known when the script runs", sp)
        fv = self.eval(f, scope, pos, frame)
        if not fv.known:
            return unknown(fv.reason or "unknown function", sp)
        callee = fv.value
        if isinstance(callee, Symbol):
            return self.call_symbol(callee.name, node, scope, pos, frame)
        if isinstance(callee, FuncVal):
            return self.call_function(callee, node, scope, pos, frame, callee.self_value)
        if isinstance(callee, ClassVal):
            return self.instantiate(callee, node, scope, pos, frame)
        return unknown(f"`{self.segment(node)}` is only known when the script runs", sp)

    def call_symbol(
        self, name: str, node: ast.Call, scope: Scope, pos: Pos, frame: Frame | None
    ) -> V:
        last = name.rsplit(".", 1)[-1]
        handler = self.handlers.get(name) or self.handlers.get(last)
        if handler is not None:
            r = handler(CallCtx(self, node, scope, pos, frame, name))
            if r is not None:
                return r
        root = name.split(".", 1)[0]
        if root not in _LIBRARIES and root != "builtins":
            return unknown(
                f"`{self.segment(node, 60)}` comes from `{name.rsplit('.', 1)[0] or name}`,"
                " which gpulens does not read (only this file)",
                span_of(node),
            )
        return unknown(
            f"`{self.segment(node, 60)}` is only known when the script runs", span_of(node)
        )

    def call_function(
        self,
        fn: FuncVal,
        node: ast.Call,
        scope: Scope,
        pos: Pos,
        frame: Frame | None,
        self_value: V | None,
    ) -> V:
        sp = span_of(node)
        fr = self.bind_call(fn.node, fn.scope, node, scope, pos, frame, self_value)
        if fr is None:
            return unknown(f"`{self.segment(node)}` does not match `{fn.node.name}`", sp)
        rets = fn.scope.bindings.get("<return>")
        if not rets:
            return unknown(f"`{fn.node.name}()` returns nothing the reader can follow", sp)
        return self._first_return(rets, fr, fn.node.name) or unknown(
            f"`{fn.node.name}()` returns nothing the reader can follow", sp
        )

    def _first_return(self, rets: list[Binding], frame: Frame, fname: str) -> V | None:
        for i, b in enumerate(rets):
            status, cond = self.conditions_hold(b, frame)
            if status is False:
                continue
            v = self.eval_binding(b, frame, [])
            if status is True:
                return v
            rest = self._first_return(rets[i + 1 :], frame, fname)
            if rest is None or (v.known and rest.known and v.value == rest.value):
                return v
            return unknown(
                f"`{fname}()` returns depending on `{self._cond_text(cond)}` (line {b.line}),"
                " which is only known when the script runs"
            )
        return None

    def instantiate(
        self, cls: ClassVal, node: ast.Call, scope: Scope, pos: Pos, frame: Frame | None
    ) -> V:
        sp = span_of(node)
        cnode = cls.node
        cscope = self.table.scope_for(cnode)
        if cscope is None:
            return unknown("class body not found", sp)
        is_dataclass = any(
            (dotted_target(d.func if isinstance(d, ast.Call) else d) or "").endswith("dataclass")
            for d in cnode.decorator_list
        )
        if is_dataclass:
            return self._dataclass_instance(cnode, cscope, node, scope, pos, frame)
        init = next((c for c in cscope.children if c.is_function and c.name == "__init__"), None)
        fr = Frame()
        if init is not None and isinstance(init.node, ast.FunctionDef | ast.AsyncFunctionDef):
            bound = self.bind_call(init.node, init, node, scope, pos, frame, None)
            fr = bound or Frame()
        inst_holder: list[V] = []
        inst = InstanceVal(cnode, fr, node)
        v = V(inst, f"{cnode.name}(…), line {sp.line}", sp)
        inst_holder.append(v)
        if init is not None:
            self_name = init.params()[0] if init.params() else "self"
            fr.vars[self_name] = v
        return v

    def _dataclass_instance(
        self,
        cnode: ast.ClassDef,
        cscope: Scope,
        node: ast.Call,
        scope: Scope,
        pos: Pos,
        frame: Frame | None,
    ) -> V:
        sp = span_of(node)
        fields: list[str] = []
        attrs: dict[str, V] = {}
        for st in cnode.body:
            if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
                name = st.target.id
                fields.append(name)
                if st.value is not None:
                    dv = st.value
                    if isinstance(dv, ast.Call) and (dotted_target(dv.func) or "").endswith(
                        "field"
                    ):
                        dflt = next((k.value for k in dv.keywords if k.arg == "default"), None)
                        if dflt is None:
                            attrs[name] = unknown(f"`{cnode.name}.{name}` uses a default_factory")
                            continue
                        dv = dflt
                    v = self.eval(dv, cscope, (st.lineno, st.col_offset))
                    attrs[name] = self._literal_source(v, dv, f"default of {cnode.name}.{name}")
        call_pos = pos or (node.lineno, node.col_offset)
        for i, a in enumerate(node.args):
            if i < len(fields) and not isinstance(a, ast.Starred):
                v = self.eval(a, scope, call_pos, frame)
                attrs[fields[i]] = self._literal_source(
                    v, a, f"{cnode.name}(…) argument {fields[i]}"
                )
        for kw in node.keywords:
            if kw.arg is None:
                splat = self.eval(kw.value, scope, call_pos, frame)
                if splat.known and isinstance(splat.value, DictVal):
                    for k, val in splat.value.items.items():
                        if isinstance(k, str):
                            attrs[k] = val
                continue
            v = self.eval(kw.value, scope, call_pos, frame)
            attrs[kw.arg] = self._literal_source(v, kw.value, f"{cnode.name}({kw.arg}=…)")
        return V(Namespace(attrs, f"{cnode.name} dataclass"), f"{cnode.name}(…)", sp)
