"""One pass over the module: where every name (and dotted attribute) is bound, and under what
conditions.

The evaluator (values.py) resolves a name lazily from these bindings instead of interpreting the
script, so the cost is one walk over the tree plus targeted look-ups, never a re-walk per use.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: A condition guarding a binding: (test expression, branch polarity). ``None`` as the test marks
#: code that runs only sometimes for reasons the reader cannot see (an ``except`` handler).
Condition = tuple[ast.expr | None, bool]

FuncNode = ast.FunctionDef | ast.AsyncFunctionDef
ScopeNode = ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


@dataclass
class Binding:
    """One place where ``target`` gets a value: ``x = ...``, ``args.lr = ...``, ``for x in ...``."""

    target: str
    scope: Scope
    line: int
    col: int
    kind: str  # assign | aug | for | with | import | def | class | param | preset
    value: ast.expr | None = None
    #: Index path into the right-hand side for tuple unpacking (``a, b = f()`` → (0,), (1,)).
    path: tuple[int, ...] = ()
    op: ast.operator | None = None
    conditions: tuple[Condition, ...] = ()
    in_loop: bool = False
    #: A value computed elsewhere (config files executed by the script); values.V.
    preset: Any = None
    node: ast.AST | None = None
    #: setitem bindings: the constant key of ``d[key] = value``.
    key: Any = None

    @property
    def pos(self) -> tuple[int, int]:
        return (self.line, self.col)


@dataclass
class Scope:
    """The module, a function or a class body, with its bindings in source order."""

    node: ScopeNode
    parent: Scope | None
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    children: list[Scope] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "<module>" if isinstance(self.node, ast.Module) else self.node.name

    @property
    def is_function(self) -> bool:
        return isinstance(self.node, ast.FunctionDef | ast.AsyncFunctionDef)

    def params(self) -> list[str]:
        if not isinstance(self.node, ast.FunctionDef | ast.AsyncFunctionDef):
            return []
        a = self.node.args
        names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
        if a.vararg:
            names.append(a.vararg.arg)
        if a.kwarg:
            names.append(a.kwarg.arg)
        return names

    def add(self, b: Binding) -> None:
        self.bindings.setdefault(b.target, []).append(b)


def dotted_target(node: ast.expr) -> str | None:
    """``args.lr`` → "args.lr", ``cfg['bs']`` → "cfg['bs']"; None for anything more dynamic."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_target(node.value)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Subscript):
        base = dotted_target(node.value)
        key = node.slice
        if base and isinstance(key, ast.Constant) and isinstance(key.value, str | int):
            return f"{base}[{key.value!r}]"
    return None


#: Child fields of the common expression nodes (faster than the generic ast.iter_child_nodes).
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {
    ast.BinOp: ("left", "right"),
    ast.UnaryOp: ("operand",),
    ast.BoolOp: ("values",),
    ast.Compare: ("left", "comparators"),
    ast.Subscript: ("value", "slice"),
    ast.Tuple: ("elts",),
    ast.List: ("elts",),
    ast.Set: ("elts",),
    ast.Dict: ("values",),  # keys may hold None (for **splat); key calls are vanishingly rare
    ast.JoinedStr: ("values",),
    ast.FormattedValue: ("value", "format_spec"),
    ast.Starred: ("value",),
    ast.Slice: ("lower", "upper", "step"),
    ast.keyword: ("value",),
}


@dataclass
class SymbolTable:
    """Scopes, bindings, import aliases, classes and functions of one module."""

    module: Scope
    scope_of: dict[int, Scope]  # id(function/class node) → scope
    imports: dict[str, str]  # local name → canonical dotted name
    functions: dict[str, list[FuncNode]]
    classes: dict[str, ast.ClassDef]
    calls: list[tuple[ast.Call, Scope]]
    exec_sites: list[tuple[ast.Call, Scope, tuple[Condition, ...]]]
    loops: list[tuple[ast.For | ast.While, Scope]]
    #: Statement-level parent links are too costly for the whole tree; loops record their depth.
    loop_parents: dict[int, ast.AST | None]
    #: id(call) → the innermost loop (in the same function) whose body contains it.
    call_loop: dict[int, ast.AST | None]
    #: id(call) → the ``if`` tests guarding it (absent when unconditional).
    call_conds: dict[int, tuple[Condition, ...]]
    #: Calls by the name called (see :func:`call_index`); None until someone asks.
    index: dict[str, list[tuple[ast.Call, Scope]]] | None = None
    #: id(value expression) → the first name bound to it (see :func:`assigned_names`).
    assigned: dict[int, str] | None = None

    def scope_for(self, node: ast.AST) -> Scope | None:
        return self.scope_of.get(id(node))

    def all_scopes(self) -> Iterator[Scope]:
        stack = [self.module]
        while stack:
            s = stack.pop()
            yield s
            stack.extend(s.children)


class _Builder:
    def __init__(self, module: ast.Module) -> None:
        self.module_scope = Scope(module, None)
        self.scope_of: dict[int, Scope] = {}
        self.imports: dict[str, str] = {}
        self.functions: dict[str, list[FuncNode]] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        self.calls: list[tuple[ast.Call, Scope]] = []
        self.exec_sites: list[tuple[ast.Call, Scope, tuple[Condition, ...]]] = []
        self.loops: list[tuple[ast.For | ast.While, Scope]] = []
        self.loop_parents: dict[int, ast.AST | None] = {}
        self.call_loop: dict[int, ast.AST | None] = {}
        self.call_conds: dict[int, tuple[Condition, ...]] = {}
        self.current_loop: ast.AST | None = None

    # -- statements -------------------------------------------------------------------------
    def block(
        self,
        stmts: list[ast.stmt],
        scope: Scope,
        conds: tuple[Condition, ...],
        loop: ast.AST | None,
    ) -> None:
        for st in stmts:
            self.stmt(st, scope, conds, loop)

    def stmt(
        self, st: ast.stmt, scope: Scope, conds: tuple[Condition, ...], loop: ast.AST | None
    ) -> None:
        in_loop = loop is not None
        self.current_loop = loop
        if isinstance(st, ast.Assign):
            for t in st.targets:
                self.bind_target(t, st.value, scope, conds, in_loop, "assign", ())
                # d['k'] = v also changes d itself (for f(**d) and d.get('k')).
                if isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant):
                    base = dotted_target(t.value)
                    if base is not None:
                        scope.add(
                            Binding(
                                base,
                                scope,
                                t.lineno,
                                t.col_offset,
                                "setitem",
                                value=st.value,
                                conditions=conds,
                                in_loop=in_loop,
                                node=t,
                                key=t.slice.value,
                            )
                        )
            self.expr(st.value, scope, conds)
        elif isinstance(st, ast.Expr):
            self.expr(st.value, scope, conds)
            v = st.value
            if (
                isinstance(v, ast.Call)
                and isinstance(v.func, ast.Attribute)
                and v.func.attr == "update"
            ):
                base = dotted_target(v.func.value)
                if base is not None:
                    scope.add(
                        Binding(
                            base,
                            scope,
                            v.lineno,
                            v.col_offset,
                            "update",
                            value=v,
                            conditions=conds,
                            in_loop=in_loop,
                            node=v,
                        )
                    )
            if (
                isinstance(v, ast.Call)
                and isinstance(v.func, ast.Name)
                and v.func.id == "exec"
                and v.args
            ):
                self.exec_sites.append((v, scope, conds))
        elif isinstance(st, ast.Return):
            if st.value is not None:
                self.expr(st.value, scope, conds)
                # Returns are bindings of "<return>" so calls into the function can be folded.
                scope.add(
                    Binding(
                        "<return>",
                        scope,
                        st.lineno,
                        st.col_offset,
                        "assign",
                        value=st.value,
                        conditions=conds,
                        in_loop=in_loop,
                        node=st,
                    )
                )
        elif isinstance(st, ast.AnnAssign):
            if st.value is not None:
                self.bind_target(st.target, st.value, scope, conds, in_loop, "assign", ())
                self.expr(st.value, scope, conds)
            elif isinstance(st.target, ast.Name):
                scope.add(
                    Binding(
                        st.target.id,
                        scope,
                        st.lineno,
                        st.col_offset,
                        "field",
                        node=st,
                        conditions=conds,
                        in_loop=in_loop,
                    )
                )
        elif isinstance(st, ast.AugAssign):
            name = dotted_target(st.target)
            if name:
                scope.add(
                    Binding(
                        name,
                        scope,
                        st.lineno,
                        st.col_offset,
                        "aug",
                        value=st.value,
                        op=st.op,
                        conditions=conds,
                        in_loop=in_loop,
                        node=st,
                    )
                )
            self.expr(st.value, scope, conds)
        elif isinstance(st, ast.For | ast.AsyncFor):
            self.expr(st.iter, scope, conds)
            self.bind_target(st.target, None, scope, conds, True, "for", ())
            if isinstance(st, ast.For):
                self.loops.append((st, scope))
                self.loop_parents[id(st)] = loop
            self.block(st.body, scope, conds, st)
            self.block(st.orelse, scope, conds, loop)
            self.current_loop = loop
        elif isinstance(st, ast.While):
            self.expr(st.test, scope, conds)
            self.loops.append((st, scope))
            self.loop_parents[id(st)] = loop
            self.block(st.body, scope, conds, st)
            self.block(st.orelse, scope, conds, loop)
        elif isinstance(st, ast.If):
            self.expr(st.test, scope, conds)
            self.block(st.body, scope, (*conds, (st.test, True)), loop)
            self.block(st.orelse, scope, (*conds, (st.test, False)), loop)
        elif isinstance(st, ast.With | ast.AsyncWith):
            for item in st.items:
                self.expr(item.context_expr, scope, conds)
                if item.optional_vars is not None:
                    self.bind_target(
                        item.optional_vars, item.context_expr, scope, conds, in_loop, "with", ()
                    )
            self.block(st.body, scope, conds, loop)
        elif isinstance(st, ast.Try) or type(st).__name__ == "TryStar":
            body = getattr(st, "body", [])
            self.block(body, scope, conds, loop)
            for h in getattr(st, "handlers", []):
                if h.name:
                    scope.add(
                        Binding(
                            h.name,
                            scope,
                            h.lineno,
                            h.col_offset,
                            "with",
                            conditions=conds,
                            in_loop=in_loop,
                        )
                    )
                self.block(h.body, scope, (*conds, (None, True)), loop)
            self.block(getattr(st, "orelse", []), scope, conds, loop)
            self.block(getattr(st, "finalbody", []), scope, conds, loop)
        elif isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef):
            for d in st.decorator_list:
                self.expr(d, scope, conds)
            for default in (*st.args.defaults, *st.args.kw_defaults):
                if default is not None:
                    self.expr(default, scope, conds)
            scope.add(
                Binding(st.name, scope, st.lineno, st.col_offset, "def", node=st, conditions=conds)
            )
            self.functions.setdefault(st.name, []).append(st)
            inner = Scope(st, scope)
            scope.children.append(inner)
            self.scope_of[id(st)] = inner
            self.block(st.body, inner, (), None)
        elif isinstance(st, ast.ClassDef):
            for d in (*st.decorator_list, *st.bases):
                self.expr(d, scope, conds)
            scope.add(
                Binding(
                    st.name, scope, st.lineno, st.col_offset, "class", node=st, conditions=conds
                )
            )
            self.classes.setdefault(st.name, st)
            inner = Scope(st, scope)
            scope.children.append(inner)
            self.scope_of[id(st)] = inner
            self.block(st.body, inner, (), None)
        elif isinstance(st, ast.Import):
            for alias in st.names:
                if alias.asname:
                    self.imports[alias.asname] = alias.name
                    local = alias.asname
                else:
                    local = alias.name.split(".")[0]
                    self.imports[local] = local
                scope.add(Binding(local, scope, st.lineno, st.col_offset, "import", node=st))
        elif isinstance(st, ast.ImportFrom):
            mod = st.module or ""
            for alias in st.names:
                if alias.name == "*":
                    continue
                local = alias.asname or alias.name
                self.imports[local] = f"{mod}.{alias.name}" if mod else alias.name
                scope.add(Binding(local, scope, st.lineno, st.col_offset, "import", node=st))
        elif isinstance(st, ast.Match):
            self.expr(st.subject, scope, conds)
            for case in st.cases:
                self.block(case.body, scope, (*conds, (None, True)), loop)
        else:
            for child in ast.iter_child_nodes(st):
                if isinstance(child, ast.expr):
                    self.expr(child, scope, conds)

    def bind_target(
        self,
        t: ast.expr,
        value: ast.expr | None,
        scope: Scope,
        conds: tuple[Condition, ...],
        in_loop: bool,
        kind: str,
        path: tuple[int, ...],
    ) -> None:
        if isinstance(t, ast.Tuple | ast.List):
            for i, elt in enumerate(t.elts):
                if isinstance(elt, ast.Starred):
                    continue
                self.bind_target(elt, value, scope, conds, in_loop, kind, (*path, i))
            return
        name = dotted_target(t)
        if name is None:
            return
        scope.add(
            Binding(
                name,
                scope,
                t.lineno,
                t.col_offset,
                kind,
                value=value,
                path=path,
                conditions=conds,
                in_loop=in_loop,
                node=t,
            )
        )

    def expr(self, e: ast.expr, scope: Scope, conds: tuple[Condition, ...]) -> None:
        """Record every call in an expression (lambdas and comprehensions included).

        This walk touches every expression node of the file, so it special-cases the common
        node types instead of going through the generic ``ast.iter_child_nodes``.
        """
        stack: list[ast.AST] = [e]
        pop = stack.pop
        push = stack.append
        calls = self.calls
        call_loop = self.call_loop
        loop = self.current_loop
        name_t, const_t, call_t, attr_t = ast.Name, ast.Constant, ast.Call, ast.Attribute
        while stack:
            n = pop()
            t = type(n)
            if t is name_t or t is const_t:
                continue
            if t is call_t:
                assert isinstance(n, ast.Call)
                calls.append((n, scope))
                call_loop[id(n)] = loop
                if conds:
                    self.call_conds[id(n)] = conds
                push(n.func)
                stack.extend(n.args)
                for kw in n.keywords:
                    push(kw.value)
            elif t is attr_t:
                assert isinstance(n, ast.Attribute)
                push(n.value)
            elif t is ast.IfExp:
                # `GradScaler() if args.amp else None`: each branch's calls hold only when the
                # test does (rare enough to recurse)
                assert isinstance(n, ast.IfExp)
                push(n.test)
                self.expr(n.body, scope, (*conds, (n.test, True)))
                self.expr(n.orelse, scope, (*conds, (n.test, False)))
            else:
                fields = _CHILD_FIELDS.get(t)
                if fields is None:
                    stack.extend(ast.iter_child_nodes(n))
                    continue
                for f in fields:
                    v = getattr(n, f)
                    if type(v) is list:
                        stack.extend(v)
                    elif v is not None:
                        push(v)


def call_name(call: ast.Call) -> str | None:
    """``f`` of ``f(...)``, ``m`` of ``x.m(...)``; None for anything else."""
    f = call.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


def call_index(
    calls: list[tuple[ast.Call, Scope]],
) -> dict[str, list[tuple[ast.Call, Scope]]]:
    """Calls by the name called, each list in source order."""
    idx: dict[str, list[tuple[ast.Call, Scope]]] = {}
    for cs in calls:
        n = call_name(cs[0])
        if n is not None:
            lst = idx.get(n)
            if lst is None:
                idx[n] = [cs]
            else:
                lst.append(cs)
    return idx


def assigned_names(scopes: Iterator[Scope] | list[Scope]) -> dict[int, str]:
    """id(value expression) → the first name bound to it, scope by scope (a value belongs to
    the one scope of its statement, so the scope order does not matter)."""
    out: dict[int, str] = {}
    for s in scopes:
        for name, bs in s.bindings.items():
            for b in bs:
                if b.value is not None and not b.path:
                    out.setdefault(id(b.value), name)
    return out


def _scopes_under(children: list[Scope]) -> Iterator[Scope]:
    stack = list(children)
    while stack:
        s = stack.pop()
        yield s
        stack.extend(s.children)


@dataclass(eq=False)
class Part:
    """What a run of top-level statements contributes to a module's symbol table.

    Built once per statement group and reused while the statements (the same node objects) are
    unchanged: :func:`assemble` concatenates parts in source order into a table equal to what
    :func:`build` makes of the whole module. Module-level entries already point at the
    ``module_scope`` the part was built for.
    """

    bindings: dict[str, list[Binding]]
    children: list[Scope]
    scope_of: dict[int, Scope]
    imports: dict[str, str]
    functions: dict[str, list[FuncNode]]
    classes: dict[str, ast.ClassDef]
    calls: list[tuple[ast.Call, Scope]]
    exec_sites: list[tuple[ast.Call, Scope, tuple[Condition, ...]]]
    loops: list[tuple[ast.For | ast.While, Scope]]
    loop_parents: dict[int, ast.AST | None]
    call_loop: dict[int, ast.AST | None]
    call_conds: dict[int, tuple[Condition, ...]]
    #: Every binding of the part, nested scopes included (their lines move with the code).
    all_bindings: list[Binding]
    #: Calls by name (:func:`call_index` of ``calls``).
    index: dict[str, list[tuple[ast.Call, Scope]]] = field(default_factory=dict)
    #: :func:`assigned_names` of the part's function and class scopes.
    assigned: dict[int, str] = field(default_factory=dict)
    #: An ``exec`` inside a function or class: the reader adds bindings to that scope, so the
    #: part must be built again for the next version.
    volatile: bool = False

    def shift_lines(self, delta: int) -> None:
        """The part's statements moved down by ``delta`` lines."""
        for b in self.all_bindings:
            b.line += delta


def build_part(stmts: list[ast.stmt], module_scope: Scope) -> Part:
    """The symbol-table contribution of top-level ``stmts``, for :func:`assemble`."""
    node = module_scope.node
    b = _Builder(node if isinstance(node, ast.Module) else ast.Module(body=[], type_ignores=[]))
    tmp = b.module_scope
    b.block(stmts, tmp, (), None)
    b.calls.sort(key=lambda cs: (cs[0].lineno, cs[0].col_offset))
    everything: list[Binding] = []
    stack = [tmp]
    while stack:
        s = stack.pop()
        for bs in s.bindings.values():
            everything.extend(bs)
        stack.extend(s.children)
    # Re-point module-level entries from the builder's scope to the real module scope.
    for bs in tmp.bindings.values():
        for binding in bs:
            binding.scope = module_scope
    for child in tmp.children:
        child.parent = module_scope

    def fix(scope: Scope) -> Scope:
        return module_scope if scope is tmp else scope

    calls = [(c, fix(s)) for c, s in b.calls]
    return Part(
        bindings=tmp.bindings,
        children=tmp.children,
        scope_of=b.scope_of,
        imports=b.imports,
        functions=b.functions,
        classes=b.classes,
        calls=calls,
        exec_sites=[(c, fix(s), conds) for c, s, conds in b.exec_sites],
        loops=[(lp, fix(s)) for lp, s in b.loops],
        loop_parents=b.loop_parents,
        call_loop=b.call_loop,
        call_conds=b.call_conds,
        all_bindings=everything,
        index=call_index(calls),
        assigned=assigned_names(_scopes_under(tmp.children)),
        volatile=any(s is not tmp for _c, s, _conds in b.exec_sites),
    )


def merge(parts: list[Part]) -> Part:
    """Consecutive parts as one (all lists and dicts new; what :func:`assemble` concatenates
    is the same whether the parts come one by one or merged in runs)."""
    bindings: dict[str, list[Binding]] = {}
    children: list[Scope] = []
    scope_of: dict[int, Scope] = {}
    imports: dict[str, str] = {}
    functions: dict[str, list[FuncNode]] = {}
    classes: dict[str, ast.ClassDef] = {}
    calls: list[tuple[ast.Call, Scope]] = []
    exec_sites: list[tuple[ast.Call, Scope, tuple[Condition, ...]]] = []
    loops: list[tuple[ast.For | ast.While, Scope]] = []
    loop_parents: dict[int, ast.AST | None] = {}
    call_loop: dict[int, ast.AST | None] = {}
    call_conds: dict[int, tuple[Condition, ...]] = {}
    index: dict[str, list[tuple[ast.Call, Scope]]] = {}
    assigned: dict[int, str] = {}
    volatile = False
    for p in parts:
        for name, bs in p.bindings.items():
            have = bindings.get(name)
            if have is None:
                bindings[name] = list(bs)
            else:
                have.extend(bs)
        children.extend(p.children)
        scope_of.update(p.scope_of)
        if p.imports:
            imports.update(p.imports)
        for fname, fns in p.functions.items():
            have_f = functions.get(fname)
            if have_f is None:
                functions[fname] = list(fns)
            else:
                have_f.extend(fns)
        for cname, cnode in p.classes.items():
            classes.setdefault(cname, cnode)
        calls.extend(p.calls)
        exec_sites.extend(p.exec_sites)
        loops.extend(p.loops)
        loop_parents.update(p.loop_parents)
        call_loop.update(p.call_loop)
        call_conds.update(p.call_conds)
        for cname, cs in p.index.items():
            have_c = index.get(cname)
            if have_c is None:
                index[cname] = list(cs)
            else:
                have_c.extend(cs)
        assigned.update(p.assigned)
        volatile = volatile or p.volatile
    return Part(
        bindings=bindings,
        children=children,
        scope_of=scope_of,
        imports=imports,
        functions=functions,
        classes=classes,
        calls=calls,
        exec_sites=exec_sites,
        loops=loops,
        loop_parents=loop_parents,
        call_loop=call_loop,
        call_conds=call_conds,
        all_bindings=[],
        index=index,
        assigned=assigned,
        volatile=volatile,
    )


def assemble(module: ast.Module, module_scope: Scope, parts: list[Part]) -> SymbolTable:
    """The table of ``module`` from the parts of its statement groups (or merged runs of
    them), in source order.

    ``module_scope`` (the scope the parts were built for) is reset and refilled: the table of a
    previous version that shares it must no longer be in use.
    """
    m = merge(parts)
    module_scope.node = module
    module_scope.bindings = m.bindings
    module_scope.children = m.children
    return SymbolTable(
        module=module_scope,
        scope_of=m.scope_of,
        imports=m.imports,
        functions=m.functions,
        classes=m.classes,
        calls=m.calls,
        exec_sites=m.exec_sites,
        loops=m.loops,
        loop_parents=m.loop_parents,
        call_loop=m.call_loop,
        call_conds=m.call_conds,
        index=m.index,
        assigned={**assigned_names([module_scope]), **m.assigned},
    )


def build(module: ast.Module) -> SymbolTable:
    b = _Builder(module)
    b.block(module.body, b.module_scope, (), None)
    # Calls are gathered depth-first per statement; sort so "first"/"last" mean source order.
    b.calls.sort(key=lambda cs: (cs[0].lineno, cs[0].col_offset))
    return SymbolTable(
        module=b.module_scope,
        scope_of=b.scope_of,
        imports=b.imports,
        functions=b.functions,
        classes=b.classes,
        calls=b.calls,
        exec_sites=b.exec_sites,
        loops=b.loops,
        loop_parents=b.loop_parents,
        call_loop=b.call_loop,
        call_conds=b.call_conds,
    )
