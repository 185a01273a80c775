"""Model reading: the ``nn.Module`` s a script builds, as the layer catalog's ``LayerInfo`` trees.

A small interpreter runs the *construction* code only: ``nn.Sequential(...)`` literals, the
``__init__`` of ``nn.Module`` subclasses (assignments, loops, comprehensions, helper methods
such as ``_make_layer``, ``self.add_module``, ``super().__init__(...)`` of nn base classes),
with constructor arguments bound from the call site and config objects (through the reader's
evaluator, so argparse defaults, dataclass defaults and ``**kwargs`` come for free), and
torchvision constructors. Then the script-level changes to a built model: head replacement
(``model.fc = nn.Linear(...)``), tied weights, ``requires_grad_(False)`` and
``for p in m.parameters(): p.requires_grad = False``.

It never runs ``forward`` here (see ``forward.py``) and never executes training code: only
statements that build or change a model are interpreted, with a step budget. A value it cannot
follow is :class:`Unk` with the reason, and a module whose construction depends on such a value
has unknown parameters (``LayerInfo.own_tensors is None``) rather than a guessed count.
"""

from __future__ import annotations

import ast
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gpulens.analysis.modelcache import constructor_like, note_replay
from gpulens.analysis.modules import file_of
from gpulens.analysis.symbols import Binding, Scope, SymbolTable, dotted_target
from gpulens.analysis.values import (
    ClassVal,
    DictVal,
    Evaluator,
    FuncVal,
    InstanceVal,
    Namespace,
    SeqVal,
    Symbol,
    V,
    span_of,
)
from gpulens.estimate import layers as L
from gpulens.estimate.layers import LayerInfo, TensorInfo
from gpulens.estimate.shapes import CatalogError
from gpulens.estimate.torchvision_models import TorchvisionModel, lookup_model
from gpulens.estimate.torchvision_models import model_names as torchvision_names

#: Interpreter steps per analysis (statements and expressions): construction code is small;
#: a runaway loop must not stall the editor.
STEP_BUDGET = 60_000

_MODULE_BASES = ("Module", "LightningModule", "PreTrainedModel")
_PASSTHROUGH_METHODS = frozenset(
    {
        "to",
        "cuda",
        "cpu",
        "train",
        "eval",
        "float",
        "double",
        "half",
        "bfloat16",
        "apply",
        "share_memory",
        "to_empty",
        "type",
        "requires_grad_",
        "xpu",
        "mps",
    }
)
_NOT_MODELS = frozenset(
    {"torch", "builtins", "transformers", "accelerate", "lightning", "pytorch_lightning",
     "datasets", "deepspeed", "wandb", "tqdm", "numpy", "hydra", "omegaconf", "peft", "trl",
     "timm", "torchvision", "argparse", "collections", "dataclasses", "typing", "pathlib"}
)  # fmt: skip
#: The one tensor standing for a torchvision model's parameters outside its classifier head.
BACKBONE = "<torchvision backbone>"
_MUTATING = frozenset(
    {"add_module", "register_module", "register_buffer", "register_parameter", "append",
     "extend", "insert", "requires_grad_", "update", "pop", "clear", "__setattr__", "__init__",
     "setdefault", "remove"}
)  # fmt: skip
_TV_SUBMODULES = frozenset(
    {"models", "detection", "segmentation", "video", "quantization", "optical_flow"}
)
_LOADERS = frozenset({"from_pretrained", "create_model", "from_config", "load_from_checkpoint"})
_LIBRARIES = frozenset(
    {"torch", "torchvision", "numpy", "math", "os", "sys", "random", "time", "json", "copy",
     "functools", "collections", "itertools", "einops", "typing", "dataclasses"}
)  # fmt: skip
_WRAPPERS = frozenset(
    {"DataParallel", "DistributedDataParallel", "DDP", "compile", "FullyShardedDataParallel"}
)


# -- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unk:
    """A value the interpreter could not follow, and why."""

    reason: str


@dataclass(frozen=True)
class Sym:
    """An imported name by its canonical dotted path (``torch.nn.Linear``)."""

    name: str

    @property
    def last(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass(eq=False)
class ClassRef:
    node: ast.ClassDef
    scope: Scope


@dataclass(eq=False)
class FuncRef:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    scope: Scope
    bound: Any = None  # the instance for methods
    closure: Env | None = None


@dataclass(eq=False)
class LamRef:
    node: ast.Lambda
    closure: Env


@dataclass(eq=False)
class Bound:
    """A method of a value: ``layers.append``, ``self.add_module``, ``m.parameters``."""

    obj: Any
    name: str


@dataclass(eq=False)
class TShape:
    """A plain tensor made in construction code (``torch.zeros(1, n, d)``)."""

    shape: tuple[int, ...]


@dataclass(eq=False)
class Partial:
    func: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass(eq=False)
class SuperRef:
    obj: Obj
    cls: ast.ClassDef


@dataclass(eq=False)
class EvObj:
    """A value of the reader's evaluator (a config instance): attributes read through it."""

    v: V


@dataclass(eq=False)
class Obj:
    """A user ``nn.Module`` instance while its ``__init__`` runs."""

    cls: ast.ClassDef
    children: dict[str, LayerInfo] = field(default_factory=dict)
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    base: LayerInfo | None = None
    poison: str | None = None
    info: LayerInfo | None = None
    plain: bool = False  # not a module: a config object


@dataclass(eq=False)
class Meta:
    """What the reader knows about a built module beyond the catalog: where it was made, the
    user class (for ``forward``) and its non-module attributes."""

    line: int | None
    cls: ast.ClassDef | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    tv: TorchvisionModel | None = None
    type_name: str = ""
    span: Any = None


@dataclass(eq=False)
class Env:
    vars: dict[str, Any]
    scope: Scope  # where global names are looked up (the function's own scope)
    parent: Env | None = None
    pos: tuple[int, int] | None = None  # script mode: bindings before this position

    def get(self, name: str) -> Any:
        e: Env | None = self
        while e is not None:
            if name in e.vars:
                return e.vars[name]
            e = e.parent
        return _MISSING


_MISSING: Any = object()
_TRAINING_CALLS = frozenset({"backward", "step", "fit", "train_step", "training_step"})


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Budget(Exception):
    pass


def is_unknown(x: Any) -> bool:
    return isinstance(x, Unk)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


# -- the interpreter ------------------------------------------------------------------------------


class Builder:
    """Interprets model construction code of one script (one instance per analysis)."""

    def __init__(self, ev: Evaluator) -> None:
        self.ev = ev
        self.table: SymbolTable = ev.table
        #: Meta by id of the module object (see :meth:`set_meta`).
        self.meta: dict[int, Meta] = {}
        self._meta_owners: list[Any] = []
        self.steps = STEP_BUDGET
        self._binding_memo: dict[int, Any] = {}
        #: Imported names being resolved through the user's modules (see :meth:`imported`).
        self._importing: set[str] = set()
        self._active: set[int] = set()
        self._module_class: dict[int, bool] = {}
        self._facts: dict[int, tuple[frozenset[str], bool]] = {}
        self._trains_memo: dict[str, bool] = {}
        self._depth = 0

    # -- bookkeeping ------------------------------------------------------------------------
    def tick(self, n: int = 1) -> None:
        self.steps -= n
        if self.steps < 0:
            raise _Budget

    def set_meta(self, obj: Any, meta: Meta) -> Meta:
        """Record ``meta`` for ``obj``, keeping ``obj`` alive: an id is unique only among live
        objects, and a module built and dropped during the reading (a layer replaced later)
        must not lend its meta to a new one that happens to get its id."""
        self._meta_owners.append(obj)
        self.meta[id(obj)] = meta
        return meta

    def note(self, info: LayerInfo, node: ast.AST | None, **kw: Any) -> LayerInfo:
        m = self.meta.get(id(info))
        if m is None:
            line, span = where(node)
            self.set_meta(info, Meta(line, span=span, **kw))
        return info

    # -- classes ----------------------------------------------------------------------------
    def class_bases(self, cls: ast.ClassDef) -> list[Any]:
        scope = self.table.scope_of.get(id(cls))
        outer = scope.parent if scope is not None and scope.parent else self.table.module
        out: list[Any] = []
        for b in cls.bases:
            out.append(self.resolve_expr_quick(b, outer))
        return out

    def is_module_class(self, cls: ast.ClassDef) -> bool:
        key = id(cls)
        if key in self._module_class:
            return self._module_class[key]
        self._module_class[key] = False  # cycles
        res = False
        for b in self.class_bases(cls):
            if isinstance(b, Sym) and (b.last in _MODULE_BASES or L.lookup(b.name) is not None):
                res = b.name.startswith(("torch", "lightning", "pytorch_lightning", "transformers"))
                res = res or b.last in _MODULE_BASES
            elif isinstance(b, ClassRef) and self.is_module_class(b.node):
                res = True
            if res:
                break
        self._module_class[key] = res
        return res

    def resolve_expr_quick(self, node: ast.expr, scope: Scope) -> Any:
        """A base class / callee: names and dotted imports only (no evaluation)."""
        d = dotted_target(node)
        if d is None:
            return Unk("not a name")
        head, _, rest = d.partition(".")
        v = self.global_name(head, scope, None, quick=True)
        for part in rest.split(".") if rest else ():
            if isinstance(v, Sym):
                v = self.imported(f"{v.name}.{part}", quick=True, scope=scope)
            else:
                return Unk("attribute")
        return v

    def method(self, cls: ast.ClassDef, name: str) -> tuple[FuncRef | None, ast.ClassDef | None]:
        """``name`` in the class or its user base classes (MRO, depth first)."""
        seen: set[int] = set()
        stack = [cls]
        while stack:
            c = stack.pop(0)
            if id(c) in seen:
                continue
            seen.add(id(c))
            scope = self.table.scope_of.get(id(c))
            for st in c.body:
                if isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef) and st.name == name:
                    fscope = self.table.scope_of.get(id(st))
                    if fscope is not None:
                        return FuncRef(st, fscope), c
            if scope is not None:
                for b in self.class_bases(c):
                    if isinstance(b, ClassRef):
                        stack.append(b.node)
        return None, None

    def class_attr(self, cls: ast.ClassDef, name: str) -> Any:
        scope = self.table.scope_of.get(id(cls))
        if scope is None:
            return _MISSING
        bs = scope.bindings.get(name)
        if bs:
            b = bs[-1]
            if b.value is not None:
                return self.expr(b.value, Env({}, scope))
        for base in self.class_bases(cls):
            if isinstance(base, ClassRef):
                v = self.class_attr(base.node, name)
                if v is not _MISSING:
                    return v
        return _MISSING

    def base_layer_kind(self, cls: ast.ClassDef) -> str | None:
        """The catalog layer a user class derives from (``class Block(nn.Sequential)``)."""
        for b in self.class_bases(cls):
            if isinstance(b, Sym) and b.last != "Module" and L.lookup(b.name) is not None:
                return L.lookup(b.name).kind  # type: ignore[union-attr]
            if isinstance(b, ClassRef):
                k = self.base_layer_kind(b.node)
                if k is not None:
                    return k
        return None

    def instantiate(
        self, cref: ClassRef, args: list[Any], kwargs: dict[str, Any], node: ast.AST
    ) -> Any:
        cls = cref.node
        if not self.is_module_class(cls):
            return self.other_instance(cref, args, kwargs, node)
        obj = Obj(cls)
        init, _owner = self.method(cls, "__init__")
        self._depth += 1
        try:
            if self._depth > 40:
                obj.poison = "modules nested too deeply to follow"
            elif init is not None:
                r = self.call_func(FuncRef(init.node, init.scope, obj), args, kwargs, node)
                if isinstance(r, Unk) and obj.poison is None:
                    obj.poison = r.reason
            else:
                kind = self.base_layer_kind(cls)
                if kind is not None:
                    obj.base = self.build_layer(kind, args, kwargs, node)
        finally:
            self._depth -= 1
        return self.finish(obj, node)

    def finish(self, obj: Obj, node: ast.AST) -> LayerInfo:
        if obj.info is not None:
            return obj.info
        if obj.base is not None:
            info = obj.base
            for name, child in obj.children.items():
                info.set_child(name, child)
            if obj.tensors and info.own_tensors is not None:
                info.own_tensors = (*info.own_tensors, *obj.tensors.values())
            type_name = obj.cls.name
            forward, _ = self.method(obj.cls, "forward")
            cls: ast.ClassDef | None = obj.cls if forward is not None else None
        else:
            info = L.custom(obj.cls.name, list(obj.children.items()), list(obj.tensors.values()))
            type_name = obj.cls.name
            cls = obj.cls
        if obj.poison is not None:
            info.own_tensors = None
            info.reason = obj.poison
        line, span = where(node)
        self.set_meta(info, Meta(line, cls, obj.attrs, type_name=type_name, span=span))
        obj.info = info
        return info

    def other_instance(
        self, cref: ClassRef, args: list[Any], kwargs: dict[str, Any], node: ast.AST
    ) -> Any:
        """A plain class (a config object): dataclass fields, or what ``__init__`` sets."""
        cls = cref.node
        obj = Obj(cls, plain=True)
        is_dc = any(
            (dotted_target(d.func if isinstance(d, ast.Call) else d) or "").endswith("dataclass")
            for d in cls.decorator_list
        )
        if is_dc:
            fields: list[str] = []
            for st in cls.body:
                if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
                    fields.append(st.target.id)
                    dv = st.value
                    if isinstance(dv, ast.Call) and (dotted_target(dv.func) or "").endswith(
                        "field"
                    ):
                        dv = next((k.value for k in dv.keywords if k.arg == "default"), None)
                    if dv is not None:
                        obj.attrs[st.target.id] = self.expr(dv, Env({}, cref.scope))
            for f, a in zip(fields, args, strict=False):
                obj.attrs[f] = a
            obj.attrs.update(kwargs)
            return obj
        init, _ = self.method(cls, "__init__")
        if init is not None:
            r = self.call_func(FuncRef(init.node, init.scope, obj), args, kwargs, node)
            if isinstance(r, Unk):
                return r
        return obj

    # -- building catalog layers --------------------------------------------------------------
    def build_layer(self, kind: str, args: list[Any], kwargs: dict[str, Any], node: ast.AST) -> Any:
        a = [self.to_layer_arg(x) for x in args]
        k = {key: self.to_layer_arg(x) for key, x in kwargs.items()}
        try:
            info = L.build(kind, a, k)
        except CatalogError as exc:
            return Unk(f"`{kind}(…)`: {exc}")
        return self.note(info, node, type_name=info.kind)

    def to_layer_arg(self, x: Any) -> Any:
        if isinstance(x, Unk | EvObj | ClassRef | FuncRef | Bound | Obj):
            return L.UNKNOWN
        if isinstance(x, Sym):
            return x.last if x.name.startswith("torch.") else L.UNKNOWN
        if isinstance(x, list):
            return [self.to_layer_arg(i) for i in x]
        if isinstance(x, tuple):
            return tuple(self.to_layer_arg(i) for i in x)
        if isinstance(x, dict):
            return {k: self.to_layer_arg(v) for k, v in x.items()}
        if isinstance(x, Partial):
            return L.UNKNOWN
        return x

    def torchvision(self, name: str, kwargs: dict[str, Any], node: ast.AST) -> Any:
        entry = lookup_model(name)
        if entry is None:
            if not name[:1].islower() or name in ("get_weight", "list_models", "get_model_weights"):
                return Unk(f"`torchvision.models.{name}` is not a model constructor")
            bad = L.custom(name)
            bad.own_tensors = None
            bad.reason = f"`{name}` is not a torchvision classification model in gpulens' table"
            line, span = where(node)
            self.set_meta(bad, Meta(line, None, {"__unread__": True}, None, name, span))
            return bad
        nc = kwargs.get("num_classes", entry.num_classes)
        # an unknown class count leaves the backbone known and the classifier head unknown
        # (with the reason), not the whole model
        nc_known = _is_int(nc)
        head_params = 0
        heads: list[tuple[str, LayerInfo]] = []
        for path, (fin, fout, bias) in entry.heads.items():
            classes = fout == entry.num_classes
            out: Any = (nc if nc_known else L.UNKNOWN) if classes else fout
            lin = L.build("Linear", (fin, out), {"bias": bias})
            if classes and not nc_known:
                lin.reason = f"`num_classes` of {name}: {getattr(nc, 'reason', 'not an integer')}"
            heads.append((path, lin))
            head_params += fin * fout + (fout if bias else 0)
        backbone = entry.params - head_params
        tensors = [TensorInfo(BACKBONE, (backbone,))] if backbone > 0 else []
        root = L.custom(name, (), tensors)
        for path, lin in heads:
            self._place(root, path, lin)
            self.note(lin, node, type_name="Linear")
        line, span = where(node)
        self.set_meta(root, Meta(line, None, {}, entry, type_name=name, span=span))
        return root

    def _place(self, root: LayerInfo, path: str, module: LayerInfo) -> None:
        parts = path.split(".")
        cur = root
        for p in parts[:-1]:
            kids = dict(cur.children)
            if p not in kids:
                holder = L.custom("Sequential")
                cur.children = (*cur.children, (p, holder))
                cur = holder
            else:
                cur = kids[p]
        cur.set_child(parts[-1], module)

    # -- names ------------------------------------------------------------------------------
    def global_name(
        self, name: str, scope: Scope, pos: tuple[int, int] | None, quick: bool = False
    ) -> Any:
        s: Scope | None = scope
        p = pos
        while s is not None:
            if isinstance(s.node, ast.ClassDef):
                s = s.parent
                continue
            bs = s.bindings.get(name)
            if bs:
                cands = bs if p is None else [b for b in bs if b.pos < p]
                if cands:
                    return self.binding_value(cands, name, s, p, quick)
            if s.is_function and name in s.params():
                if quick:
                    return Unk(f"`{name}` is a parameter")
                return self.from_v(self.ev.param_value(s, name))
            s = s.parent
            p = None
        imports = self.ev.table_for(scope).imports
        if name in imports:
            return self.imported(imports[name], quick, scope)
        star = self.ev.star_member(name, scope)  # `from models import *`
        if star is not None:
            return self.binding_value(star[1], name, star[0].table.module, None, quick)
        if name in _BUILTIN_NAMES:
            return Sym(f"builtins.{name}")
        if name in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[name]
        return Unk(f"`{name}` is not defined in this file")

    def binding_value(
        self,
        cands: list[Binding],
        name: str,
        scope: Scope,
        pos: tuple[int, int] | None,
        quick: bool,
    ) -> Any:
        b = cands[-1]
        if b.kind == "import":
            return self.imported(self.ev.table_for(scope).imports.get(name, name), quick, scope)
        if b.kind == "class" and isinstance(b.node, ast.ClassDef):
            cs = self.table.scope_of.get(id(b.node))
            return ClassRef(b.node, cs) if cs is not None else Unk("class")
        if b.kind == "def" and isinstance(b.node, ast.FunctionDef | ast.AsyncFunctionDef):
            fs = self.table.scope_of.get(id(b.node))
            return FuncRef(b.node, fs) if fs is not None else Unk("function")
        if quick:
            return Unk(f"`{name}` is a variable")
        picked: Binding | None = None
        for cand in reversed(cands):
            status, _ = self.ev.conds_status(cand.conditions, cand.scope)
            if status is False:
                continue
            picked = cand if status is True or cand is cands[0] else None
            break
        if (
            picked is not None
            and picked.kind == "assign"
            and not picked.path
            and picked.value is not None
        ):
            b = picked
            assert b.value is not None
            if self.looks_modular(b.value, b.scope):
                r = self.binding_object(b, pos)
                if not isinstance(r, Unk):
                    return r
        # scalars and configs: the reader's evaluator knows argparse, dataclasses, conditions
        v = self.ev.lookup(name, scope, pos)
        if v is None:
            return Unk(f"`{name}` is not defined in this file")
        return self.from_v(v)

    def imported(self, full: str, quick: bool = False, scope: Scope | None = None) -> Any:
        """An imported name: what a module of the user's beside the script binds it to
        (``from model import GPT``; ``scope``: where the import is, for a package's modules),
        else the library symbol."""
        linked = self.ev.local_member(full, scope)
        if linked is None or full in self._importing:  # (modules importing each other)
            return Sym(full)
        mod, bs = linked
        self._importing.add(full)
        try:
            return self.binding_value(bs, full.rsplit(".", 1)[-1], mod.table.module, None, quick)
        finally:
            self._importing.discard(full)

    def binding_object(self, b: Binding, pos: tuple[int, int] | None) -> Any:
        """The value an assignment makes, with the changes later statements of the same scope
        make to it before ``pos`` (modules: to the end of the scope, once)."""
        assert b.value is not None
        key = id(b)
        if key in self._binding_memo:
            return self._binding_memo[key]
        if key in self._active:
            return Unk(f"`{b.target}` is defined in terms of itself")
        self._active.add(key)
        try:
            r = self.expr(b.value, Env({}, b.scope, pos=b.pos))
            if isinstance(r, Unk) and isinstance(b.value, ast.Call):
                r = _unread_model(self, b.value, b.scope, r) or r
            if isinstance(r, LayerInfo | list | dict):
                end = None if isinstance(r, LayerInfo) else pos
                r = self.replay(b.target, r, b.scope, b, end)
        except _Budget:
            r = Unk("the model code is too intricate to follow in the time allowed")
        finally:
            self._active.discard(key)
        if isinstance(r, LayerInfo) or pos is None:
            self._binding_memo[key] = r
        return r

    # -- script-level changes to a value -------------------------------------------------------
    def _stmt_facts(self, st: ast.stmt) -> tuple[frozenset[str], bool]:
        got = self._facts.get(id(st))
        if got is None:
            names: set[str] = set()
            training = False
            for n in ast.walk(st):
                if isinstance(n, ast.Name):
                    names.add(n.id)
                elif isinstance(n, ast.Call):
                    f = n.func
                    if (isinstance(f, ast.Attribute) and f.attr in _TRAINING_CALLS) or (
                        isinstance(f, ast.Name) and self._trains(f.id)
                    ):
                        training = True
            got = (frozenset(names), training)
            self._facts[id(st)] = got
        return got

    def _stmt_facts_expr(self, e: ast.expr) -> frozenset[str]:
        return frozenset(n.id for n in ast.walk(e) if isinstance(n, ast.Name))

    def _trains(self, fname: str) -> bool:
        """Whether a function of the file runs a training step (calls backward/step)."""
        if fname in self._trains_memo:
            return self._trains_memo[fname]
        self._trains_memo[fname] = False
        res = False
        for fn in self.table.functions.get(fname, ()):
            for n in ast.walk(fn):
                if isinstance(n, ast.Call):
                    f = n.func
                    if (isinstance(f, ast.Attribute) and f.attr in _TRAINING_CALLS) or (
                        isinstance(f, ast.Name) and f.id != fname and self._trains(f.id)
                    ):
                        res = True
                if res:
                    break
        self._trains_memo[fname] = res
        return res

    def replay(
        self, name: str, value: Any, scope: Scope, b: Binding, end: tuple[int, int] | None
    ) -> Any:
        node = scope.node
        if isinstance(node, ast.ClassDef):
            return value
        if scope.parent is None:
            note_replay(name)  # every script-level statement mentioning it is read
        env = Env({name: value}, scope)
        for st in self._after(node.body, b.line, end, name, env):
            env.pos = (st.lineno, st.col_offset)
            before = env.vars.get(name)
            try:
                self.stmt(st, env)
            except (_Return, _Break, _Continue) as exc:
                why = (
                    exc.value.reason
                    if isinstance(exc, _Return) and isinstance(exc.value, Unk)
                    else "not followed"
                )
                self._mutation_unknown(st, before, f"line {st.lineno}: {why}")
            if not isinstance(env.vars.get(name), LayerInfo | list | dict):
                env.vars[name] = before  # `model = something unknown`: keep what we know
        return env.vars.get(name, value)

    def _mutation_unknown(self, st: ast.stmt, value: Any, reason: str) -> None:
        if not isinstance(value, LayerInfo):
            return
        text = ast.dump(st)
        if "requires_grad" in text:
            self.poison_trainable(value, reason)

    def _after(
        self,
        body: list[ast.stmt],
        line: int,
        end: tuple[int, int] | None,
        name: str,
        env: Env,
    ) -> Iterator[ast.stmt]:
        for st in body:
            last = getattr(st, "end_lineno", None) or st.lineno
            if last < line:
                continue
            if end is not None and (st.lineno, st.col_offset) >= end:
                return
            if isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            names, training = self._stmt_facts(st)
            if name not in names:
                continue
            if (
                st.lineno > line
                and isinstance(st, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == name for t in st.targets)
                and name not in self._stmt_facts_expr(st.value)
            ):
                return  # rebound to something new: later changes are to another object
            compound = isinstance(st, ast.If | ast.With | ast.Try | ast.For | ast.While)
            if st.lineno <= line and not compound:
                continue  # the binding itself
            if compound and (training or st.lineno <= line):
                if isinstance(st, ast.For | ast.While):
                    if st.lineno <= line:
                        yield from self._after(st.body, line, end, name, env)
                    continue
                if isinstance(st, ast.If):
                    env.pos = (st.lineno, st.col_offset)
                    t = self.truth(self.expr(st.test, env))
                    if isinstance(t, Unk):
                        continue
                    yield from self._after(st.body if t else st.orelse, line, end, name, env)
                    continue
                if isinstance(st, ast.Try):
                    yield from self._after(st.body, line, end, name, env)
                    continue
                if isinstance(st, ast.With):
                    yield from self._after(st.body, line, end, name, env)
                    continue
            yield st

    def looks_modular(self, node: ast.expr, scope: Scope) -> bool:
        """Whether an expression may build or change a module (cheap, syntactic)."""
        if isinstance(node, ast.IfExp):
            return self.looks_modular(node.body, scope) or self.looks_modular(node.orelse, scope)
        if isinstance(node, ast.Call):
            f = node.func
            table = self.ev.table_for(scope)
            if isinstance(f, ast.Attribute) and f.attr[:1].islower():
                root = f.value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if (
                    isinstance(root, ast.Name)
                    and root.id not in table.imports
                    and f.attr not in _PASSTHROUGH_METHODS
                    and f.attr not in _WRAPPERS
                ):
                    return False  # `logits.argmax(...)`: a method of a variable
            if isinstance(f, ast.Attribute) and (
                f.attr in _PASSTHROUGH_METHODS or f.attr in _WRAPPERS
            ):
                return True
            if isinstance(f, ast.Subscript):
                return True  # models.__dict__[arch]()
            if isinstance(f, ast.Call):
                return True  # getattr(models, name)()
            head = f
            while isinstance(head, ast.Attribute):
                head = head.value
            if isinstance(head, ast.Name):
                hid = head.id
                if (
                    hid not in table.imports
                    and hid not in table.classes
                    and hid not in table.functions
                    and hid not in _BUILTIN_NAMES
                    and self.ev.star_member(hid, scope) is None
                ):
                    return False  # a variable's method or a name this file never defines
            callee = self.resolve_expr_quick(f, scope)
            if isinstance(callee, ClassRef):
                return self.is_module_class(callee.node)
            if isinstance(callee, FuncRef):
                return True
            if isinstance(callee, Sym):
                n = callee.name
                return (
                    n.startswith(("torch.nn.", "torchvision.models"))
                    or (callee.last[:1].isupper() and not n.startswith(("torch", "builtins")))
                    or callee.last in _LOADERS
                    or callee.last in _WRAPPERS
                    or n == "copy.deepcopy"
                    or n == "builtins.getattr"
                )
            return False
        if isinstance(node, ast.Attribute | ast.Subscript | ast.Name):
            return True
        return isinstance(node, ast.ListComp | ast.List | ast.Tuple)

    def from_v(self, v: V) -> Any:
        """The reader's evaluator value → interpreter value."""
        if not v.known:
            return Unk(v.reason or "not known statically")
        x = v.value
        if isinstance(x, bool | int | float | str) or x is None or isinstance(x, range):
            return x
        if isinstance(x, SeqVal):
            items = [self.from_v(i) for i in x.items]
            return tuple(items) if x.kind == "tuple" else items
        if isinstance(x, DictVal):
            return {k: self.from_v(i) for k, i in x.items.items()}
        if isinstance(x, Symbol):
            return Sym(x.name)
        if isinstance(x, ClassVal):
            cs = self.table.scope_of.get(id(x.node))
            return ClassRef(x.node, cs) if cs is not None else Unk("class")
        if isinstance(x, FuncVal):
            return FuncRef(x.node, x.scope)
        if isinstance(x, Namespace | InstanceVal):
            return EvObj(v)
        return Unk(f"{v.source} is not a value the model reader follows")

    # -- statements -------------------------------------------------------------------------
    def call_func(
        self, fn: FuncRef, args: list[Any], kwargs: dict[str, Any], node: ast.AST | None
    ) -> Any:
        f = fn.node
        env = Env({}, fn.scope, fn.closure)
        a = f.args
        positional = [p.arg for p in (*a.posonlyargs, *a.args)]
        is_method = isinstance(fn.scope.parent.node if fn.scope.parent else None, ast.ClassDef)
        decos = {dotted_target(d) for d in f.decorator_list}
        args = list(args)
        if is_method and "staticmethod" not in decos and positional:
            first = positional.pop(0)
            env.vars[first] = fn.bound if fn.bound is not None else Unk("no instance")
        for i, val in enumerate(args):
            if i < len(positional):
                env.vars[positional[i]] = val
            elif a.vararg is not None:
                env.vars[a.vararg.arg] = tuple(args[len(positional) :])
                break
            else:
                return Unk(f"`{f.name}()` called with too many arguments")
        if a.vararg is not None and a.vararg.arg not in env.vars:
            env.vars[a.vararg.arg] = ()
        extra: dict[str, Any] = {}
        names = set(positional) | {k.arg for k in a.kwonlyargs}
        for k, val in kwargs.items():
            if k in names:
                env.vars[k] = val
            else:
                extra[k] = val
        if a.kwarg is not None:
            env.vars[a.kwarg.arg] = extra
        outer = Env({}, fn.scope.parent or self.table.module) if fn.closure is None else fn.closure
        defaults = a.defaults
        off = len(positional) - len(defaults)
        for i, p in enumerate(positional):
            if p not in env.vars:
                if i >= off:
                    env.vars[p] = self.expr(defaults[i - off], outer)
                else:
                    env.vars[p] = Unk(f"`{p}` of `{f.name}()` is not passed")
        for kp, kd in zip(a.kwonlyargs, a.kw_defaults, strict=False):
            if kp.arg not in env.vars:
                env.vars[kp.arg] = self.expr(kd, outer) if kd is not None else Unk("missing")
        saved = self._current_self
        owner = fn.scope.parent.node if fn.scope.parent is not None else None
        if isinstance(fn.bound, Obj) and isinstance(owner, ast.ClassDef):
            self._current_self = (fn.bound, owner)
        self._depth += 1
        try:
            if self._depth > 60:
                return Unk("calls nested too deeply to follow")
            self.block(f.body, env)
        except _Return as r:
            return r.value
        finally:
            self._depth -= 1
            self._current_self = saved
        return None

    def block(self, stmts: list[ast.stmt], env: Env) -> None:
        for st in stmts:
            self.stmt(st, env)

    def stmt(self, st: ast.stmt, env: Env) -> None:
        self.tick()
        if isinstance(st, ast.Assign):
            value = self.expr(st.value, env)
            for t in st.targets:
                self.assign(t, value, env, st.value)
        elif isinstance(st, ast.AnnAssign):
            if st.value is not None:
                self.assign(st.target, self.expr(st.value, env), env, st.value)
        elif isinstance(st, ast.AugAssign):
            cur = self.expr(st.target, env)
            val = self.expr(st.value, env)
            self.assign(st.target, self.binop(st.op, cur, val), env, st.value)
        elif isinstance(st, ast.Expr):
            self.expr(st.value, env)
        elif isinstance(st, ast.Return):
            raise _Return(self.expr(st.value, env) if st.value is not None else None)
        elif isinstance(st, ast.If):
            test = self.truth(self.expr(st.test, env))
            if isinstance(test, Unk):
                if self._has_effects(st):
                    self.poison_env(
                        env,
                        f"`if {self.ev.segment(st.test, 50)}` (line {st.lineno}): {test.reason}",
                    )
                return
            self.block(st.body if test else st.orelse, env)
        elif isinstance(st, ast.For):
            it = self.iterate(self.expr(st.iter, env))
            if isinstance(it, Unk):
                if self._has_effects(st):
                    self.poison_env(env, f"loop at line {st.lineno}: {it.reason}")
                return
            try:
                for item in it:
                    self.tick()
                    self.assign(st.target, item, env, None)
                    try:
                        self.block(st.body, env)
                    except _Continue:
                        continue
                else:
                    self.block(st.orelse, env)
            except _Break:
                pass
        elif isinstance(st, ast.While):
            if self._has_effects(st):
                self.poison_env(env, f"`while` loop at line {st.lineno} is not followed")
        elif isinstance(st, ast.With):
            self.block(st.body, env)
        elif isinstance(st, ast.Try):
            self.block(st.body, env)
            self.block(st.orelse, env)
            self.block(st.finalbody, env)
        elif isinstance(st, ast.FunctionDef):
            fs = self.table.scope_of.get(id(st))
            if fs is not None:
                env.vars[st.name] = FuncRef(st, fs, None, env)
        elif isinstance(st, ast.Delete):
            for t in st.targets:
                if isinstance(t, ast.Attribute):
                    obj = self.expr(t.value, env)
                    if isinstance(obj, Obj):
                        obj.children.pop(t.attr, None)
                        obj.tensors.pop(t.attr, None)
                        obj.attrs.pop(t.attr, None)
        elif isinstance(st, ast.Break):
            raise _Break
        elif isinstance(st, ast.Continue):
            raise _Continue
        elif isinstance(st, ast.Raise):
            raise _Return(Unk(f"raises at line {st.lineno}"))
        # pass, assert, import, global, nonlocal: nothing to do

    def _has_effects(self, st: ast.stmt) -> bool:
        """Whether skipping this statement could change what a module holds: assignments and
        mutating calls do; ``load_state_dict``, ``print``, ``nn.init.*`` and the like do not."""
        body: list[ast.stmt] = []
        if isinstance(st, ast.If):
            body = [*st.body, *st.orelse]
        else:
            return True
        for n in ast.walk(ast.Module(body=body, type_ignores=[])):
            if isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Return | ast.Delete):
                return True
            if isinstance(n, ast.For | ast.While):
                return True
            if isinstance(n, ast.Call):
                f = n.func
                if isinstance(f, ast.Attribute) and f.attr in _MUTATING:
                    return True
                if isinstance(f, ast.Name) and (
                    f.id in self.table.functions or f.id in ("setattr", "super")
                ):
                    return True
        return False

    def poison_env(self, env: Env, reason: str) -> None:
        e: Env | None = env
        while e is not None:
            for v in e.vars.values():
                if isinstance(v, Obj) and not v.plain:
                    if v.poison is None:
                        v.poison = reason
                    return
            e = e.parent
        raise _Return(Unk(reason))

    def assign(self, t: ast.expr, value: Any, env: Env, node: ast.expr | None) -> None:
        if isinstance(t, ast.Name):
            env.vars[t.id] = value
        elif isinstance(t, ast.Tuple | ast.List):
            items = self.iterate(value)
            if isinstance(items, Unk):
                for e in t.elts:
                    self.assign(e, items, env, None)
                return
            items = list(items)
            if len(items) != len(t.elts) or any(isinstance(e, ast.Starred) for e in t.elts):
                for e in t.elts:
                    self.assign(e, Unk("unpacking not followed"), env, None)
                return
            for e, v in zip(t.elts, items, strict=True):
                self.assign(e, v, env, None)
        elif isinstance(t, ast.Attribute):
            obj = self.expr(t.value, env)
            self.setattr(obj, t.attr, value, node)
        elif isinstance(t, ast.Subscript):
            obj = self.expr(t.value, env)
            key = self.expr(t.slice, env)
            if (isinstance(obj, list) and _is_int(key) and -len(obj) <= key < len(obj)) or (
                isinstance(obj, dict) and not isinstance(key, Unk)
            ):
                obj[key] = value
            elif isinstance(obj, LayerInfo) and not isinstance(key, Unk):
                k = _child_key(obj, key)
                if isinstance(value, LayerInfo):
                    obj.set_child(k, value)
                else:
                    self.poison_module(obj, f"`{self.ev.segment(t)}` is set to a non-module")

    def poison_module(self, info: LayerInfo, reason: str) -> None:
        info.own_tensors = None
        info.reason = reason

    def setattr(self, obj: Any, attr: str, value: Any, node: ast.expr | None) -> None:
        if isinstance(obj, Obj):
            if isinstance(value, LayerInfo):
                obj.tensors.pop(attr, None)
                obj.attrs.pop(attr, None)
                obj.children[attr] = value
            elif isinstance(value, TensorInfo):
                if not value.name:
                    value.name = attr
                obj.children.pop(attr, None)
                obj.tensors[attr] = value
            elif isinstance(value, Unk) and node is not None and self._module_call(node):
                bad = L.custom(self._call_name(node))
                self.poison_module(bad, value.reason)
                self.note(bad, node, type_name=self._call_name(node))
                obj.children[attr] = bad
            else:
                if attr in obj.children and value is None:
                    return  # torch keeps None in _modules; nothing to count
                if attr in obj.tensors and isinstance(value, Unk):
                    return
                obj.attrs[attr] = value
        elif isinstance(obj, LayerInfo):
            if isinstance(value, LayerInfo):
                obj.set_child(attr, value)
            elif isinstance(value, TensorInfo):
                if not value.name:
                    value.name = attr
                if obj.own_tensors is not None:
                    obj.set_tensor(attr, value)
            elif isinstance(value, Unk) and node is not None and self._module_call(node):
                bad = L.custom(self._call_name(node))
                self.poison_module(bad, value.reason)
                self.note(bad, node, type_name=self._call_name(node))
                obj.set_child(attr, bad)
            else:
                m = self.meta.get(id(obj))
                if m is not None:
                    m.attrs[attr] = value
        elif isinstance(obj, TensorInfo) and attr == "requires_grad" and isinstance(value, bool):
            obj.requires_grad = value

    def _module_call(self, node: ast.expr) -> bool:
        """An unknown value from a call that looks like a module constructor (CamelCase)."""
        if not isinstance(node, ast.Call):
            return False
        name = self._call_name(node)
        return bool(name) and name[0].isupper()

    def _call_name(self, node: ast.expr) -> str:
        if isinstance(node, ast.Call):
            d = dotted_target(node.func)
            if d is not None:
                return d.rsplit(".", 1)[-1]
        return "module"

    # -- iteration --------------------------------------------------------------------------
    def iterate(self, v: Any) -> list[Any] | Unk:
        if isinstance(v, Unk):
            return v
        if isinstance(v, list | tuple | range):
            if len(v) > 100_000:
                return Unk("a loop too long to follow")
            return list(v)
        if isinstance(v, dict):
            return list(v)
        if isinstance(v, str):
            return list(v)
        if isinstance(v, LayerInfo):
            if v.kind in ("ModuleDict",):
                return [name for name, _ in v.children]
            return [c for _, c in v.children]
        if isinstance(v, Iter):
            return v.items()
        return Unk(f"cannot iterate over {type(v).__name__}")

    def truth(self, v: Any) -> Any:
        if isinstance(v, Unk):
            return v
        if isinstance(v, EvObj | Bound | FuncRef | ClassRef | Sym):
            return True
        if isinstance(v, LayerInfo | TensorInfo | Obj):
            return True
        try:
            return bool(v)
        except Exception:
            return Unk("truth value not known")

    # -- expressions ------------------------------------------------------------------------
    def expr(self, node: ast.expr, env: Env) -> Any:
        self.tick()
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            v = env.get(node.id)
            if v is not _MISSING:
                return v
            if node.id == "__name__":
                return "__main__"
            return self.global_name(node.id, env.scope, env.pos)
        if isinstance(node, ast.Attribute):
            dotted = dotted_target(node)
            base = self.expr(node.value, env)
            if isinstance(base, Unk) and dotted is not None and env.pos is not None:
                # script mode: `args.x` bindings, read by the evaluator
                v = self.ev.lookup(dotted, env.scope, env.pos)
                if v is not None:
                    return self.from_v(v)
            return self.getattr(base, node.attr, node)
        if isinstance(node, ast.Subscript):
            base = self.expr(node.value, env)
            if isinstance(node.slice, ast.Slice):
                bounds = [
                    self.expr(p, env) if p is not None else None
                    for p in (node.slice.lower, node.slice.upper, node.slice.step)
                ]
                if any(isinstance(p, Unk) for p in bounds):
                    return Unk("slice bounds not known")
                return self.index(base, slice(*bounds), node)
            return self.index(base, self.expr(node.slice, env), node)
        if isinstance(node, ast.Call):
            return self.call(node, env)
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.expr(node.left, env), self.expr(node.right, env))
        if isinstance(node, ast.UnaryOp):
            v = self.expr(node.operand, env)
            if isinstance(v, Unk):
                return v
            try:
                if isinstance(node.op, ast.USub):
                    return -v
                if isinstance(node.op, ast.UAdd):
                    return +v
                if isinstance(node.op, ast.Not):
                    t = self.truth(v)
                    return t if isinstance(t, Unk) else not t
                if isinstance(node.op, ast.Invert):
                    return ~v
            except TypeError:
                return Unk("operator not folded")
        if isinstance(node, ast.BoolOp):
            is_and = isinstance(node.op, ast.And)
            last: Any = None
            for e in node.values:
                v = self.expr(e, env)
                t = self.truth(v)
                if isinstance(t, Unk):
                    return t
                if is_and and not t:
                    return v
                if not is_and and t:
                    return v
                last = v
            return last
        if isinstance(node, ast.Compare):
            return self.compare(node, env)
        if isinstance(node, ast.IfExp):
            t = self.truth(self.expr(node.test, env))
            if isinstance(t, Unk):
                a = self.expr(node.body, env)
                b = self.expr(node.orelse, env)
                if _plain(a) and _plain(b) and a == b:
                    return a
                return Unk(f"`{self.ev.segment(node, 60)}`: {t.reason}")
            return self.expr(node.body if t else node.orelse, env)
        if isinstance(node, ast.Tuple):
            return tuple(self._elts(node.elts, env))
        if isinstance(node, ast.List):
            return self._elts(node.elts, env)
        if isinstance(node, ast.Set):
            return self._elts(node.elts, env)
        if isinstance(node, ast.Dict):
            out: dict[Any, Any] = {}
            for k, v in zip(node.keys, node.values, strict=False):
                if k is None:
                    sv = self.expr(v, env)
                    if isinstance(sv, dict):
                        out.update(sv)
                    continue
                kv = self.expr(k, env)
                if isinstance(kv, Unk):
                    return Unk("a dict key not known")
                out[kv] = self.expr(v, env)
            return out
        if isinstance(node, ast.ListComp | ast.GeneratorExp | ast.SetComp):
            return self.comprehension(node.elt, None, node.generators, env)
        if isinstance(node, ast.DictComp):
            return self.comprehension(node.key, node.value, node.generators, env)
        if isinstance(node, ast.JoinedStr):
            parts: list[str] = []
            for piece in node.values:
                if isinstance(piece, ast.Constant):
                    parts.append(str(piece.value))
                elif isinstance(piece, ast.FormattedValue):
                    v = self.expr(piece.value, env)
                    if not _plain(v):
                        return Unk("an f-string with run-time values")
                    parts.append(format(v))
            return "".join(parts)
        if isinstance(node, ast.Lambda):
            return LamRef(node, env)
        if isinstance(node, ast.Starred):
            return self.expr(node.value, env)
        if isinstance(node, ast.NamedExpr):
            v = self.expr(node.value, env)
            env.vars[node.target.id] = v
            return v
        return Unk(f"`{self.ev.segment(node, 50)}` is not followed")

    def _elts(self, elts: list[ast.expr], env: Env) -> list[Any]:
        out: list[Any] = []
        for e in elts:
            if isinstance(e, ast.Starred):
                it = self.iterate(self.expr(e.value, env))
                if isinstance(it, Unk):
                    out.append(it)
                else:
                    out.extend(it)
            else:
                out.append(self.expr(e, env))
        return out

    def comprehension(
        self, elt: ast.expr, val: ast.expr | None, gens: list[ast.comprehension], env: Env
    ) -> Any:
        inner = Env({}, env.scope, env, env.pos)
        out_list: list[Any] = []
        out_dict: dict[Any, Any] = {}

        def rec(i: int) -> Unk | None:
            if i == len(gens):
                if val is None:
                    out_list.append(self.expr(elt, inner))
                else:
                    k = self.expr(elt, inner)
                    if isinstance(k, Unk):
                        return k
                    out_dict[k] = self.expr(val, inner)
                return None
            g = gens[i]
            it = self.iterate(self.expr(g.iter, inner))
            if isinstance(it, Unk):
                return it
            for item in it:
                self.tick()
                self.assign(g.target, item, inner, None)
                ok = True
                for cond in g.ifs:
                    t = self.truth(self.expr(cond, inner))
                    if isinstance(t, Unk):
                        return t
                    if not t:
                        ok = False
                        break
                if ok:
                    r = rec(i + 1)
                    if r is not None:
                        return r
            return None

        bad = rec(0)
        if bad is not None:
            return Unk(f"comprehension not followed: {bad.reason}")
        return out_dict if val is not None else out_list

    def compare(self, node: ast.Compare, env: Env) -> Any:
        left = self.expr(node.left, env)
        for op, comp in zip(node.ops, node.comparators, strict=False):
            right = self.expr(comp, env)
            if isinstance(op, ast.Is | ast.IsNot):
                if isinstance(left, Unk) or isinstance(right, Unk):
                    return Unk("comparison with an unknown value")
                res = (left is right) if isinstance(op, ast.Is) else (left is not right)
            elif isinstance(left, Unk) or isinstance(right, Unk):
                return left if isinstance(left, Unk) else right
            else:
                try:
                    if isinstance(op, ast.In | ast.NotIn):
                        if isinstance(right, list | tuple | dict | str | set):
                            res = left in right
                        else:
                            return Unk("membership not decided")
                        if isinstance(op, ast.NotIn):
                            res = not res
                    else:
                        res = bool(_CMP[type(op)](left, right))
                except (TypeError, KeyError):
                    return Unk("comparison not decided")
            if not res:
                return False
            left = right
        return True

    def binop(self, op: ast.operator, a: Any, b: Any) -> Any:
        if isinstance(a, Unk):
            return a
        if isinstance(b, Unk):
            return b
        if isinstance(a, list) and isinstance(b, list) and isinstance(op, ast.Add):
            return a + b
        if isinstance(a, tuple) and isinstance(b, tuple) and isinstance(op, ast.Add):
            return a + b
        if isinstance(a, list | tuple) and _is_int(b) and isinstance(op, ast.Mult) and b < 10_000:
            return a * b
        if isinstance(a, TShape):
            return a
        if not (_plain(a) and _plain(b)):
            return Unk("an operation on values the reader does not fold")
        fn = _BIN.get(type(op))
        if fn is None:
            return Unk("operator not folded")
        try:
            if isinstance(op, ast.Pow) and _is_int(b) and b > 256:
                return Unk("number too large")
            return fn(a, b)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            return Unk(f"cannot fold ({exc})")

    # -- attributes and items ---------------------------------------------------------------
    def getattr(self, base: Any, attr: str, node: ast.AST | None) -> Any:
        if isinstance(base, Unk):
            return base
        if isinstance(base, Sym):
            return self.imported(f"{base.name}.{attr}")  # `import model; model.GPT`
        if isinstance(base, Obj):
            if attr in base.children:
                return base.children[attr]
            if attr in base.tensors:
                return base.tensors[attr]
            if attr in base.attrs:
                return base.attrs[attr]
            if base.base is not None:
                v = self.layer_attr(base.base, attr)
                if v is not _MISSING:
                    return v
            fn, _ = self.method(base.cls, attr)
            if fn is not None:
                return FuncRef(fn.node, fn.scope, base)
            ca = self.class_attr(base.cls, attr)
            if ca is not _MISSING:
                return ca
            if attr == "training":
                return True
            return Bound(base, attr)
        if isinstance(base, LayerInfo):
            v = self.layer_attr(base, attr)
            if v is not _MISSING:
                return v
            m = self.meta.get(id(base))
            if m is not None and m.cls is not None:
                fn, _ = self.method(m.cls, attr)
                if fn is not None:
                    return FuncRef(fn.node, fn.scope, base)
            if attr == "module":
                return base  # DataParallel / DDP: model.module is the model
            return Bound(base, attr)
        if isinstance(base, TensorInfo):
            if attr == "shape":
                return base.shape
            if attr == "requires_grad":
                return base.requires_grad
            return Bound(base, attr)
        if isinstance(base, TShape):
            if attr == "shape":
                return base.shape
            return Bound(base, attr)
        if isinstance(base, EvObj):
            sp = span_of(node) if node is not None else span_of(ast.Constant(0))
            return self.from_v(self.ev.get_attr(base.v, attr, sp, node))
        if isinstance(base, ClassRef):
            v = self.class_attr(base.node, attr)
            if v is not _MISSING:
                return v
            fn, _ = self.method(base.node, attr)
            if fn is not None:
                return fn
            return Unk(f"`{base.node.name}.{attr}` is not set in the class")
        if isinstance(base, SuperRef):
            for b in self.class_bases(base.cls):
                if isinstance(b, ClassRef):
                    fn, _ = self.method(b.node, attr)
                    if fn is not None:
                        return FuncRef(fn.node, fn.scope, base.obj)
            return Bound(base, attr)
        if isinstance(base, dict) and attr in base and isinstance(attr, str):
            return base[attr]
        if isinstance(base, list | dict | str | int | float | tuple):
            return Bound(base, attr)
        return Unk(f"`.{attr}` is not followed")

    def layer_attr(self, info: LayerInfo, attr: str) -> Any:
        for name, child in info.children:
            if name == attr:
                return child
        for t in info.own_tensors or ():
            if t.name == attr:
                return t
        m = self.meta.get(id(info))
        if m is not None and attr in m.attrs:
            return m.attrs[attr]
        if attr in info.args and attr != "args":
            v = info.args[attr]
            return Unk(f"{info.kind}.{attr} is not known") if v is L.UNKNOWN else v
        if attr == "training":
            return True
        return _MISSING

    def index(self, base: Any, key: Any, node: ast.AST) -> Any:
        if isinstance(base, Unk):
            return base
        if isinstance(key, Unk):
            return key
        try:
            if isinstance(base, list | tuple | str | range) and (
                isinstance(key, slice) or _is_int(key)
            ):
                return base[key]
            if isinstance(base, dict):
                if key in base:
                    return base[key]
                return Unk(f"key {key!r} is not set")
        except (IndexError, TypeError):
            return Unk(f"index {key!r} out of range")
        if isinstance(base, LayerInfo):
            kids = base.children
            if _is_int(key):
                named = dict(kids)
                if str(key) in named:
                    return named[str(key)]  # Sequential children are named by position
                if -len(kids) <= key < len(kids):
                    return kids[key][1]
                return Unk(f"index {key} out of range")
            if isinstance(key, slice):
                sub = kids[key]
                kind = "Sequential" if base.kind == "Sequential" else "ModuleList"
                return self.note(
                    L.build(
                        kind,
                        ([c for _, c in sub],)
                        if kind == "ModuleList"
                        else tuple(c for _, c in sub),
                    ),
                    node,
                    type_name=kind,
                )
            for name, c in kids:
                if name == key:
                    return c
            return Unk(f"no submodule {key!r}")
        if isinstance(base, Sym) and base.last == "__dict__" and isinstance(key, str):
            return Sym(f"{base.name.rsplit('.', 1)[0]}.{key}")
        if isinstance(base, EvObj):
            v = base.v
            if isinstance(v.value, Namespace) and isinstance(key, str):
                return self.getattr(base, key, node)
        return Unk(f"`{self.ev.segment(node, 50)}` cannot be indexed statically")

    # -- calls ------------------------------------------------------------------------------
    def call(self, node: ast.Call, env: Env) -> Any:
        func = self.expr(node.func, env)
        args: list[Any] = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                it = self.iterate(self.expr(a.value, env))
                if isinstance(it, Unk):
                    return Unk(f"`*{self.ev.segment(a.value, 40)}`: {it.reason}")
                args.extend(it)
            else:
                args.append(self.expr(a, env))
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            v = self.expr(kw.value, env)
            if kw.arg is None:
                if isinstance(v, dict):
                    kwargs.update({str(k): x for k, x in v.items()})
                elif isinstance(v, EvObj) and isinstance(v.v.value, Namespace):
                    kwargs.update({k: self.from_v(x) for k, x in v.v.value.attrs.items()})
                else:
                    return Unk(f"`**{self.ev.segment(kw.value, 40)}` is not known")
            else:
                kwargs[kw.arg] = v
        return self.apply(func, args, kwargs, node, env)

    def apply(
        self, func: Any, args: list[Any], kwargs: dict[str, Any], node: ast.AST, env: Env
    ) -> Any:
        if isinstance(func, Unk):
            return func
        if isinstance(func, Partial):
            return self.apply(func.func, [*func.args, *args], {**func.kwargs, **kwargs}, node, env)
        if isinstance(func, ClassRef):
            return self.instantiate(func, args, kwargs, node)
        if isinstance(func, FuncRef):
            return self.call_func(func, args, kwargs, node)
        if isinstance(func, LamRef):
            lenv = Env({}, func.closure.scope, func.closure, func.closure.pos)
            for p, a in zip(func.node.args.args, args, strict=False):
                lenv.vars[p.arg] = a
            return self.expr(func.node.body, lenv)
        if isinstance(func, Sym):
            return self.call_sym(func, args, kwargs, node, env)
        if isinstance(func, Bound):
            return self.call_method(func.obj, func.name, args, kwargs, node)
        if isinstance(func, LayerInfo):
            return Unk("calling a module runs its forward (not in construction code)")
        return Unk(f"`{self.ev.segment(node, 50)}` is not followed")

    def call_sym(
        self, f: Sym, args: list[Any], kwargs: dict[str, Any], node: ast.AST, env: Env
    ) -> Any:
        name = f.name
        last = f.last
        if name.startswith("builtins."):
            return self.builtin(last, args, kwargs, node)
        if name.startswith("torchvision.models"):
            if last in ("get_model",) and args and isinstance(args[0], str):
                return self.torchvision(args[0], kwargs, node)
            return self.torchvision(last, kwargs, node)
        if name.startswith("torch.nn.") and ".init." in name:
            return None
        if last in _WRAPPERS and args:
            return args[0]  # DataParallel / DDP / torch.compile: the same parameters
        if name.startswith("torch.nn.") and last in ("Parameter", "UninitializedParameter"):
            t = args[0] if args else kwargs.get("data")
            rg = kwargs.get("requires_grad", args[1] if len(args) > 1 else True)
            if isinstance(t, TShape):
                return TensorInfo(
                    "", t.shape, requires_grad=bool(rg) if isinstance(rg, bool) else True
                )
            if isinstance(t, TensorInfo):
                return TensorInfo(
                    "", t.shape, requires_grad=bool(rg) if isinstance(rg, bool) else True
                )
            return Unk("a Parameter of unknown shape")
        if name.startswith("torch.nn.") and ".functional" not in name:
            spec = L.lookup(last)
            if spec is not None:
                return self.build_layer(spec.kind, args, kwargs, node)
            if last[:1].isupper():
                return Unk(f"`{name}` is not in gpulens' layer catalog")
        if name.startswith("torch.nn.utils") and last in ("weight_norm", "spectral_norm"):
            return args[0] if args else Unk("no module")
        if last in _WRAPPERS and args:
            return args[0]
        if name == "copy.deepcopy" and args:
            a0 = args[0]
            return self.clone(a0) if isinstance(a0, LayerInfo) else a0
        if name in ("collections.OrderedDict", "builtins.dict"):
            d: dict[Any, Any] = {}
            if args:
                it = (
                    self.iterate(args[0])
                    if not isinstance(args[0], dict)
                    else list(args[0].items())
                )
                if isinstance(it, Unk):
                    return it
                for pair in it:
                    if not isinstance(pair, tuple | list) or len(pair) != 2:
                        return Unk("OrderedDict items not followed")
                    d[pair[0]] = pair[1]
            d.update(kwargs)
            return d
        if name in ("functools.partial",) and args:
            return Partial(args[0], tuple(args[1:]), kwargs)
        if name.startswith("math."):
            return self.math(last, args)
        if name.startswith(("torch.", "numpy.")):
            return self.tensor_factory(last, args, kwargs)
        if name.startswith(("timm", "transformers")):
            return Unk(f"`{name}` builds a model gpulens does not read (only this file)")
        root = name.split(".", 1)[0]
        if root not in _LIBRARIES:
            where = name.rsplit(".", 1)[0]
            from gpulens.analysis.modules import split_member

            local = split_member(self.ev.ctx.script_path, name)
            if local is not None:
                return Unk(
                    f"`{last}` comes from `{os.path.basename(local[0])}`, which gpulens could not "
                    f"follow (it does not parse, or `{last}` is not defined there as a class or "
                    "function)"
                )
            return Unk(
                f"`{last}` comes from `{where}`, which gpulens does not read (only this file "
                "and the modules beside it)"
            )
        return Unk(f"`{name}` is only known when the script runs")

    def math(self, last: str, args: list[Any]) -> Any:
        fn = getattr(math, last, None)
        if fn is None or not all(_plain(a) for a in args):
            return Unk(f"math.{last}")
        try:
            return fn(*args)
        except (TypeError, ValueError, OverflowError):
            return Unk(f"math.{last}")

    def tensor_factory(self, last: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if last in (
            "zeros",
            "ones",
            "randn",
            "rand",
            "empty",
            "full",
            "randint",
            "eye",
            "tensor",
            "arange",
            "tril",
            "triu",
            "ones_like",
            "zeros_like",
        ):
            if last in ("tril", "triu", "ones_like", "zeros_like"):
                return (
                    args[0] if args and isinstance(args[0], TShape | TensorInfo) else Unk("tensor")
                )
            if last == "tensor":
                v = args[0] if args else None
                if _plain(v):
                    return TShape(())
                if isinstance(v, list):
                    return TShape((len(v),))
                return Unk("tensor data")
            if last == "eye":
                n = args[0] if args else None
                m = args[1] if len(args) > 1 else n
                if isinstance(n, int) and isinstance(m, int):
                    return TShape((n, m))
                return Unk("eye size")
            if last == "arange":
                nums = [a for a in args if _plain(a)]
                if len(nums) != len(args) or not nums:
                    return Unk("arange bounds")
                r = range(*[int(x) for x in nums]) if all(_is_int(x) for x in nums) else None
                if r is None:
                    start, stop = (0, nums[0]) if len(nums) == 1 else (nums[0], nums[1])
                    step = nums[2] if len(nums) > 2 else 1
                    return TShape((max(0, math.ceil((stop - start) / step)),))
                return TShape((len(r),))
            if last == "randint":
                size = kwargs.get("size", args[-1] if args else None)
                args = [size] if size is not None else []
            elif last == "full":
                args = args[:1]
            dims: Any = kwargs.get("size", args[0] if len(args) == 1 else tuple(args))
            if _is_int(dims):
                dims = (dims,)
            if isinstance(dims, list | tuple) and all(_is_int(d) for d in dims):
                return TShape(tuple(dims))
            return Unk("a tensor size not known")
        if last in ("float32", "float16", "bfloat16", "float", "long", "int64", "bool"):
            return Sym(f"torch.{last}")
        return Unk(f"`torch.{last}` is only known when the script runs")

    def builtin(self, last: str, args: list[Any], kwargs: dict[str, Any], node: ast.AST) -> Any:
        if any(isinstance(a, Unk) for a in args) and last not in (
            "isinstance",
            "hasattr",
            "getattr",
            "print",
        ):
            return next(a for a in args if isinstance(a, Unk))
        try:
            if last == "range":
                if all(_is_int(a) for a in args):
                    return range(*args)
                return Unk("range bounds not integers")
            if last == "len":
                x = args[0]
                if isinstance(x, LayerInfo):
                    return len(x.children)
                if isinstance(x, list | tuple | dict | str | range):
                    return len(x)
                if isinstance(x, EvObj):
                    n = self.ev.length(x.v)
                    return n.value if n.known else Unk(n.reason or "length")
                return Unk("length not known")
            if last in ("int", "float", "str", "bool", "abs", "round"):
                fn: Any = {
                    "int": int,
                    "float": float,
                    "str": str,
                    "bool": bool,
                    "abs": abs,
                    "round": round,
                }[last]
                if all(_plain(a) for a in args):
                    return fn(*args)
                return Unk(f"{last}() of a value not known")
            if last in ("min", "max", "sum"):
                seq = (
                    list(args[0])
                    if len(args) == 1 and isinstance(args[0], list | tuple | range)
                    else args
                )
                if all(_plain(a) for a in seq) and seq:
                    agg: Any = {"min": min, "max": max, "sum": sum}[last]
                    return agg(seq)
                if last == "sum" and not seq:
                    return 0
                return Unk(f"{last}() not folded")
            if last in ("list", "tuple", "reversed", "sorted", "set"):
                if not args:
                    return [] if last != "tuple" else ()
                it = self.iterate(args[0])
                if isinstance(it, Unk):
                    return it
                if last == "tuple":
                    return tuple(it)
                if last == "reversed":
                    return list(reversed(it))
                if last == "sorted":
                    return sorted(it) if all(_plain(x) for x in it) else Unk("sorted")
                return it
            if last == "dict":
                d: dict[Any, Any] = dict(args[0]) if args and isinstance(args[0], dict) else {}
                d.update(kwargs)
                return d
            if last in ("zip", "enumerate"):
                its = [self.iterate(a) for a in args]
                for it in its:
                    if isinstance(it, Unk):
                        return it
                if last == "zip":
                    return list(zip(*its, strict=False))  # type: ignore[arg-type]
                start = kwargs.get("start", args[1] if len(args) > 1 else 0)
                return list(enumerate(its[0], start))  # type: ignore[arg-type]
            if last == "getattr":
                obj = args[0]
                attr = args[1] if len(args) > 1 else None
                if not isinstance(attr, str):
                    return Unk("getattr with a name not known")
                v = self.getattr(obj, attr, node)
                if isinstance(v, Unk) and len(args) > 2:
                    return args[2]
                return v
            if last == "hasattr":
                return Unk("hasattr() is decided at run time")
            if last == "isinstance":
                return Unk("isinstance() is decided at run time")
            if last == "super":
                return self.super_of(node)
            if last == "print":
                return None
            if last == "filter" and len(args) == 2:
                return args[1]
            if last == "iter":
                return args[0]
        except (TypeError, ValueError) as exc:
            return Unk(f"{last}(): {exc}")
        return Unk(f"`{last}()` is not followed")

    def super_of(self, node: ast.AST) -> Any:
        # super() inside a method: the instance is the current method's first argument.
        frame = self._current_self
        if frame is None:
            return Unk("super() outside a method")
        obj, cls = frame
        return SuperRef(obj, cls)

    _current_self: tuple[Obj, ast.ClassDef] | None = None

    def call_method(
        self, obj: Any, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.AST
    ) -> Any:
        if isinstance(obj, SuperRef):
            if name == "__init__":
                kind = None
                for b in self.class_bases(obj.cls):
                    if isinstance(b, Sym) and b.last not in _MODULE_BASES:
                        spec = L.lookup(b.name)
                        if spec is not None:
                            kind = spec.kind
                if kind is not None:
                    built = self.build_layer(kind, args, kwargs, node)
                    if isinstance(built, Unk):
                        obj.obj.poison = built.reason
                    else:
                        obj.obj.base = built
                return None
            return None
        if isinstance(obj, list):
            if name == "append" and args:
                obj.append(args[0])
                return None
            if name == "extend" and args:
                it = self.iterate(args[0])
                if isinstance(it, Unk):
                    return it
                obj.extend(it)
                return None
            if name == "insert" and len(args) == 2 and _is_int(args[0]):
                obj.insert(args[0], args[1])
                return None
            if name == "pop":
                return obj.pop(*[a for a in args if _is_int(a)]) if obj else Unk("pop of empty")
            if name == "index" and args:
                return obj.index(args[0]) if args[0] in obj else Unk("index")
            if name == "count" and args:
                return obj.count(args[0])
            return Unk(f"list.{name} not followed")
        if isinstance(obj, dict):
            if name == "get" and args:
                return obj.get(args[0], args[1] if len(args) > 1 else None)
            if name == "items":
                return list(obj.items())
            if name == "keys":
                return list(obj.keys())
            if name == "values":
                return list(obj.values())
            if name == "update" and args and isinstance(args[0], dict):
                obj.update(args[0])
                obj.update(kwargs)
                return None
            if name == "pop" and args:
                return obj.pop(args[0], args[1] if len(args) > 1 else None)
            if name == "setdefault" and args:
                return obj.setdefault(args[0], args[1] if len(args) > 1 else None)
            return Unk(f"dict.{name} not followed")
        if isinstance(obj, str):
            if name in (
                "lower",
                "upper",
                "strip",
                "startswith",
                "endswith",
                "split",
                "replace",
                "format",
                "join",
            ) and all(_plain(a) or isinstance(a, list) for a in args):
                try:
                    return getattr(obj, name)(*args)
                except (TypeError, ValueError):
                    return Unk(f"str.{name}")
            return Unk(f"str.{name}")
        if isinstance(obj, Obj):
            return self.obj_method(obj, name, args, kwargs, node)
        if isinstance(obj, LayerInfo):
            return self.layer_method(obj, name, args, kwargs, node)
        if isinstance(obj, TensorInfo | TShape):
            shape = obj.shape
            if name == "requires_grad_" and isinstance(obj, TensorInfo):
                flag = args[0] if args else kwargs.get("requires_grad", True)
                obj.requires_grad = bool(flag) if isinstance(flag, bool) else obj.requires_grad
                return obj
            if name in ("view", "reshape", "expand"):
                dims = args[0] if len(args) == 1 and isinstance(args[0], tuple | list) else args
                return _reshape(shape, list(dims))
            if name == "unsqueeze" and args and _is_int(args[0]):
                d = args[0] % (len(shape) + 1)
                return TShape((*shape[:d], 1, *shape[d:]))
            if name in ("size", "dim", "numel") and not args:
                if name == "numel":
                    return math.prod(shape)
                return shape if name == "size" else len(shape)
            if name == "size" and args and _is_int(args[0]):
                return shape[args[0]]
            return TShape(shape) if isinstance(obj, TShape) else obj
        if isinstance(obj, Iter):
            return Unk(f"{name}() of an iterator")
        if isinstance(obj, EvObj):
            return Unk(f"`.{name}()` of a config is not followed")
        return Unk(f"`.{name}()` is not followed")

    def obj_method(
        self, obj: Obj, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.AST
    ) -> Any:
        if name in ("add_module", "register_module") and len(args) >= 2:
            key, m = args[0], args[1]
            if isinstance(key, str) and isinstance(m, LayerInfo):
                obj.children[key] = m
            elif isinstance(key, str) and m is None:
                pass
            else:
                line = getattr(node, "lineno", "?")
                obj.poison = obj.poison or f"`add_module` at line {line}: name or module not known"
            return None
        if name == "register_buffer" and args:
            key = args[0]
            t = args[1] if len(args) > 1 else kwargs.get("tensor")
            if not isinstance(key, str):
                obj.poison = obj.poison or "a buffer with a name not known"
                return None
            if t is None:
                return None
            if isinstance(t, TShape | TensorInfo):
                obj.tensors[key] = TensorInfo(key, t.shape, buffer=True)
            else:
                obj.poison = (
                    obj.poison or f"buffer `{key}`: {getattr(t, 'reason', 'shape not known')}"
                )
            return None
        if name == "register_parameter" and len(args) >= 2:
            key, t = args[0], args[1]
            if isinstance(key, str) and isinstance(t, TensorInfo):
                t.name = key
                obj.tensors[key] = t
            elif t is not None:
                obj.poison = obj.poison or "a parameter not known"
            return None
        if name in (
            "parameters",
            "named_parameters",
            "modules",
            "children",
            "named_modules",
            "named_children",
            "buffers",
        ):
            info = self.finish_copy(obj)
            return self.layer_method(info, name, args, kwargs, node)
        if name in _PASSTHROUGH_METHODS:
            return obj
        if name in (
            "save_hyperparameters",
            "post_init",
            "init_weights",
            "tie_weights",
            "reset_parameters",
        ):
            return None
        return Unk(f"`self.{name}()` is not followed")

    def clone(self, info: LayerInfo) -> LayerInfo:
        """``copy.deepcopy(module)``: fresh tensors, same structure, the same reader metadata."""
        new = L.clone(info)
        for (_, a), (_, b) in zip(info.named_modules(), new.named_modules(), strict=False):
            m = self.meta.get(id(a))
            if m is not None:
                self.set_meta(b, Meta(m.line, m.cls, dict(m.attrs), m.tv, m.type_name, m.span))
        return new

    def finish_copy(self, obj: Obj) -> LayerInfo:
        return L.custom(obj.cls.name, list(obj.children.items()), list(obj.tensors.values()))

    def layer_method(
        self, info: LayerInfo, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.AST
    ) -> Any:
        if name == "requires_grad_":
            flag = args[0] if args else kwargs.get("requires_grad", True)
            if isinstance(flag, bool):
                info.requires_grad_(flag)
                return info
            self.poison_trainable(info, "requires_grad_() with a flag not known")
            return info
        if name in _PASSTHROUGH_METHODS:
            return info
        if name in (
            "parameters",
            "named_parameters",
            "buffers",
            "named_buffers",
            "modules",
            "named_modules",
            "children",
            "named_children",
        ):
            return Iter(info, name)
        if (
            name == "append"
            and info.kind in ("ModuleList", "Sequential")
            and args
            and isinstance(args[0], LayerInfo)
        ):
            info.children = (*info.children, (str(len(info.children)), args[0]))
            return info
        if name == "extend" and info.kind == "ModuleList" and args:
            it = self.iterate(args[0])
            if isinstance(it, Unk):
                self.poison_module(info, it.reason)
                return None
            for m in it:
                if isinstance(m, LayerInfo):
                    info.children = (*info.children, (str(len(info.children)), m))
            return info
        if (
            name == "add_module"
            and len(args) >= 2
            and isinstance(args[0], str)
            and isinstance(args[1], LayerInfo)
        ):
            info.set_child(args[0], args[1])
            return None
        if name in ("get_submodule",) and args and isinstance(args[0], str):
            try:
                return info.child(args[0])
            except KeyError:
                return Unk("no such submodule")
        if name in ("zero_grad", "load_state_dict", "register_forward_hook", "state_dict"):
            return None
        return Unk(f"`.{name}()` of a module is not followed")

    def poison_trainable(self, info: LayerInfo, reason: str) -> None:
        m = self.meta.get(id(info)) or self.set_meta(info, Meta(None))
        m.attrs["__trainable_unknown__"] = reason


@dataclass(eq=False)
class Iter:
    """``m.parameters()`` and friends, iterated lazily by for loops."""

    info: LayerInfo
    kind: str

    def items(self) -> list[Any]:
        if self.kind in ("parameters", "named_parameters", "buffers", "named_buffers"):
            want_buf = self.kind in ("buffers", "named_buffers")
            out: list[Any] = [(n, t) for n, t in self.info.named_tensors() if t.buffer == want_buf]
            if not self.kind.startswith("named"):
                return [t for _, t in out]
            # torchvision's backbone is one tensor here: its parameter names are not known
            why = Unk("torchvision's backbone parameter names are not in gpulens' table")
            return [(why if t.name == BACKBONE else n, t) for n, t in out]
        if self.kind in ("modules", "named_modules"):
            mods = list(self.info.named_modules())
            return mods if self.kind == "named_modules" else [m for _, m in mods]
        kids = list(self.info.children)
        return kids if self.kind == "named_children" else [m for _, m in kids]


def where(node: ast.AST | None) -> tuple[int | None, Any]:
    """(line, span) of a node in the script; none for a node of another file (its layers get
    no position in the script)."""
    if node is None or file_of(node) is not None:
        return None, None
    return getattr(node, "lineno", None), span_of(node)


def _child_key(info: LayerInfo, key: Any) -> str:
    """``seq[i] = module``: the child named ``i`` (Sequential/ModuleList name by position)."""
    names: list[str] = [n for n, _ in info.children]
    if _is_int(key):
        if str(key) in names:
            return str(key)
        k = int(key)
        if k < 0 and -len(names) <= k:
            return names[k]
    return str(key)


def _reshape(shape: tuple[int, ...], dims: list[Any]) -> Any:
    if not all(_is_int(d) for d in dims):
        return Unk("a view with sizes not known")
    total = math.prod(shape)
    known = math.prod(d for d in dims if d != -1)
    if -1 in dims and known:
        dims = [total // known if d == -1 else d for d in dims]
    return TShape(tuple(dims))


def _plain(x: Any) -> bool:
    return isinstance(x, int | float | str | bool) or x is None


_BUILTIN_NAMES = frozenset(
    {
        "range", "len", "int", "float", "str", "bool", "abs", "round", "min", "max", "sum",
        "list", "tuple", "reversed", "sorted", "set", "dict", "zip", "enumerate", "getattr",
        "hasattr", "isinstance", "super", "print", "filter", "iter",
    }
)  # fmt: skip

_BIN: dict[type[ast.operator], Any] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
    ast.LShift: lambda a, b: a << b,
    ast.RShift: lambda a, b: a >> b,
    ast.BitAnd: lambda a, b: a & b,
    ast.BitOr: lambda a, b: a | b,
}

_CMP: dict[type[ast.cmpop], Any] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}


# -- which models the script builds and trains ------------------------------------------------


@dataclass(eq=False)
class Found:
    """A model the script builds at script level (not a submodule of another model)."""

    var: str
    scope: Scope
    binding: Binding
    info: LayerInfo
    trained: bool = False
    moved: bool = False
    called: bool = False
    #: The optimizer that trains it, as the reader's optimizer fact: {"class": "Adam", ...}.
    optimizer: dict[str, Any] | None = None


def _returned(scope: Scope, var: str) -> bool:
    for r in scope.bindings.get("<return>", ()):
        if isinstance(r.value, ast.Name) and r.value.id == var:
            return True
    return False


def constructor_names(b: Builder) -> frozenset[str]:
    """The names :func:`discover` follows assignments of calls to: layers, the module's classes
    and functions, wrappers and loaders, torchvision constructors, imported classes. (Read
    without recording: a reading's memo compares this set instead, see ``modelcache``.)"""
    names = set(L.REGISTRY) | dict.keys(b.table.classes) | dict.keys(b.table.functions)
    names |= _PASSTHROUGH_METHODS | _WRAPPERS | {"deepcopy", "getattr", "get_model"}
    names |= torchvision_names()
    names |= {n for n in dict.keys(b.table.imports) if n[:1].isupper()}  # models from other files
    names |= _LOADERS
    names |= local_constructors(b)
    return frozenset(names)


def local_constructors(b: Builder) -> set[str]:
    """What the script calls by name out of its own modules: the names it imports from them
    (``from model import build``) and the classes and functions of a module it imports whole
    (``import models.convnet as zoo; zoo.make_model()``)."""
    from gpulens.analysis.modules import find_module_file, load_module, split_member, star_closure

    script = b.ev.ctx.script_path
    out: set[str] = set()
    if not script:
        return out
    # what `from models import *` brings in, through the package's own star imports
    tree = b.table.module.node
    for mod in star_closure(tree, script, script) if isinstance(tree, ast.Module) else []:
        out |= dict.keys(mod.table.classes) | dict.keys(mod.table.functions)
    for local, full in dict.items(b.table.imports):
        if full.split(".", 1)[0] in _NOT_MODELS:
            continue
        path = find_module_file(script, full)
        if path is not None:
            whole = load_module(path, full)
            if whole is not None:
                out |= dict.keys(whole.table.classes) | dict.keys(whole.table.functions)
        elif split_member(script, full) is not None:
            out.add(local)
    return out


def torchvision_modules(b: Builder) -> set[str]:
    """Local names bound to torchvision modules (``models``, ``tvm``)."""
    return {k for k, v in dict.items(b.table.imports) if v.startswith("torchvision")}


def discover(
    b: Builder,
    optimizer_calls: list[tuple[ast.Call, Scope]],
    names: frozenset[str] | None = None,
) -> list[Found]:
    """Models assigned at script level, which of them the optimizers train, which are moved to
    the GPU and which are called.

    The search over every assignment of the script reads the symbol table directly (never
    through a recording, see ``modelcache``): what it looks at is re-checked per statement."""
    found: list[Found] = []
    seen: dict[int, Found] = {}
    stack = [b.table.module]
    scopes: list[Scope] = []
    while stack:
        sc = stack.pop()
        if isinstance(sc.node, ast.ClassDef) and b.is_module_class(sc.node):
            continue  # submodules of a model, not models
        scopes.append(sc)
        stack.extend(sc.children)
    # calls that may build a model, by the name called (the evaluator's index of all calls)
    index = b.ev.call_index()
    if names is None:
        names = constructor_names(b)
    cand: set[int] = set()
    for key in names:
        for call, _s in dict.get(index, key, ()):
            cand.add(id(call))
    tv_mods = torchvision_modules(b)
    for key, calls in dict.items(index) if tv_mods else ():
        # constructor-like names (resnet50, fasterrcnn_resnet50_fpn) outside the table
        if key in names or not constructor_like(key):
            continue
        for call, _s in calls:
            fn_ = call.func
            if isinstance(fn_, ast.Attribute):
                recv = fn_.value
                if (isinstance(recv, ast.Attribute) and recv.attr in _TV_SUBMODULES) or (
                    isinstance(recv, ast.Name) and recv.id in tv_mods
                ):
                    cand.add(id(call))
            elif isinstance(fn_, ast.Name) and fn_.id in tv_mods:
                cand.add(id(call))
    for scope in scopes:
        if isinstance(scope.node, ast.ClassDef):
            continue
        for var, bs in dict.items(scope.bindings):
            if "." in var or "[" in var or var == "<return>":
                continue
            for bd in bs:
                val = bd.value
                if bd.kind != "assign" or bd.path or not isinstance(val, ast.Call | ast.IfExp):
                    continue
                if isinstance(val, ast.IfExp):
                    if not (isinstance(val.body, ast.Call) or isinstance(val.orelse, ast.Call)):
                        continue
                elif id(val) not in cand and not isinstance(val.func, ast.Subscript | ast.Call):
                    continue
                if not b.looks_modular(val, scope):
                    continue
                try:
                    v = b.binding_object(bd, None)
                except _Budget:
                    v = Unk("too intricate")
                if not isinstance(v, LayerInfo) or v.kind.endswith("Loss"):
                    continue
                if id(v) in seen:
                    continue
                f = Found(var, scope, bd, v)
                seen[id(v)] = f
                found.append(f)
    if not found:
        return found
    contains: dict[int, set[int]] = {}
    for f in found:
        contains[id(f)] = {id(m) for _, m in f.info.named_modules()}

    def owner(info: LayerInfo) -> Found | None:
        for f in found:
            if id(info) in contains[id(f)]:
                return f
        return None

    # trained: what optimizers get
    for call, scope in optimizer_calls:
        cls_scope = scope
        in_cls: ast.ClassDef | None = None
        while cls_scope is not None:
            if isinstance(cls_scope.node, ast.ClassDef):
                in_cls = cls_scope.node
                break
            cls_scope = cls_scope.parent  # type: ignore[assignment]
        if in_cls is not None and b.is_module_class(in_cls):
            for f in found:
                m = b.meta.get(id(f.info))
                if m is not None and m.cls is not None and _derives(b, m.cls, in_cls):
                    f.trained = True
            continue
        pos = (call.lineno, call.col_offset)
        spec: dict[str, Any] = {"class": (dotted_target(call.func) or "SGD").rsplit(".", 1)[-1]}
        for kw in call.keywords:
            if kw.arg is not None and kw.arg not in ("params",):
                try:
                    val = b.expr(kw.value, Env({}, scope, pos=pos))
                except _Budget:
                    continue
                if _plain(val):
                    spec[kw.arg] = val
        for recv in _param_receivers(call, scope, b):
            try:
                v = b.expr(recv, Env({}, scope, pos=pos))
            except _Budget:
                continue
            if isinstance(v, LayerInfo):
                o = owner(v)
                if o is not None:
                    o.trained = True
                    o.optimizer = o.optimizer or spec
    # moved to the GPU, called
    model_vars = {f.var for f in found}
    for key in ("to", "cuda"):
        for call, _scope in index.get(key, ()):
            fn = call.func
            if not isinstance(fn, ast.Attribute):
                continue
            root = fn.value
            while isinstance(root, ast.Call) and isinstance(root.func, ast.Attribute):
                root = root.func.value
            if isinstance(root, ast.Name) and root.id in model_vars:
                for f in found:
                    if f.var == root.id:
                        f.moved = True
    for var in model_vars:
        if index.get(var):
            for f in found:
                if f.var == var:
                    f.called = True
    for call, _scope in index.get("configure_optimizers", ()):
        fn = call.func
        if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name):
            for f in found:
                if f.var == fn.value.id:
                    f.trained = True
    for key in ("fit", "Trainer", "SFTTrainer", "Seq2SeqTrainer"):
        for call, _scope in index.get(key, ()):
            for a in [*call.args, *(k.value for k in call.keywords if k.arg == "model")]:
                if isinstance(a, ast.Name) and a.id in model_vars:
                    for f in found:
                        if f.var == a.id:
                            f.trained = True
    for f in found:
        v = f.binding.value
        while isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute):
            if v.func.attr in ("to", "cuda"):
                f.moved = True
                break
            v = v.func.value
    # drop helper-function locals that are returned (the caller's binding is the model)
    kept = [
        f
        for f in found
        if f.trained
        or f.moved
        or f.called
        or not (f.scope.is_function and _returned(f.scope, f.var))
    ]
    if not any(f.trained for f in kept):
        for f in kept:
            f.trained = f.moved
    return kept


def _unread_model(b: Builder, call: ast.Call, scope: Scope, why: Unk) -> LayerInfo | None:
    """``model = GPT(config)`` with GPT imported from a file gpulens does not read: a model of
    unknown size (so the user sees why), not nothing."""
    d = dotted_target(call.func)
    if d is None:
        return None
    head = d.split(".", 1)[0]
    last = d.rsplit(".", 1)[-1]
    full = b.table.imports.get(head)
    if full is not None and last in _LOADERS and "." in d:
        # AutoModelForCausalLM.from_pretrained("gpt2"), timm.create_model("vit_b_16")
        owner = d.rsplit(".", 1)[0].rsplit(".", 1)[-1]
        if owner[:1].isupper() and "Model" not in owner and "For" not in owner:
            return None  # tokenizers, configs, processors
        shown = owner if owner[:1].isupper() else f"{owner}.{last}"
        info = L.custom(shown)
        info.own_tensors = None
        info.reason = (
            f"`{b.ev.segment(call, 60)}` builds the model at run time (weights or config"
            " loaded then); gpulens reads only this file"
        )
        b.set_meta(info, Meta(call.lineno, None, {"__unread__": True}, None, shown, span_of(call)))
        return info
    if full is None or not last[:1].isupper() or full.split(".", 1)[0] in _NOT_MODELS:
        return None  # only classes of the user's own modules (model.py's GPT)
    if last.endswith(("Loss", "Dataset", "Loader", "Config", "Scaler", "Tokenizer", "Parser")):
        return None
    info = L.custom(last)
    info.own_tensors = None
    info.reason = why.reason
    b.set_meta(info, Meta(call.lineno, None, {"__unread__": True}, None, last, span_of(call)))
    return info


def _derives(b: Builder, cls: ast.ClassDef, base: ast.ClassDef) -> bool:
    if cls is base:
        return True
    return any(isinstance(x, ClassRef) and _derives(b, x.node, base) for x in b.class_bases(cls))


def _param_receivers(call: ast.Call, scope: Scope, b: Builder) -> list[ast.expr]:
    """``X`` of every ``X.parameters()`` in an optimizer's params (following one name)."""
    roots: list[ast.expr] = []
    if call.args:
        roots.append(call.args[0])
    roots.extend(k.value for k in call.keywords if k.arg in ("params", "model_or_params"))
    out: list[ast.expr] = []
    todo = list(roots)
    hops = 0
    while todo and hops < 20:
        hops += 1
        e = todo.pop()
        for n in ast.walk(e):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
                if n.func.attr in ("parameters", "named_parameters"):
                    out.append(n.func.value)
            elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                for bd in scope.bindings.get(n.id, ()):
                    if bd.value is not None and bd.pos < (call.lineno, call.col_offset):
                        todo.append(bd.value)
    if not out and call.args and isinstance(call.args[0], ast.Name):
        out.append(call.args[0])  # Adam(model) is an error, but Lion(model) wrappers exist
    return out


__all__ = ["Builder", "Found", "Meta", "Unk", "discover"]
