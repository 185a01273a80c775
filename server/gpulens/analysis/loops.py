"""Training loops: which loop trains, how many times it runs, and how gradients accumulate."""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gpulens.analysis.symbols import Scope, dotted_target
from gpulens.analysis.values import Evaluator, V, span_of, unknown

_EPOCH_NAME = re.compile(r"(^|_)(epoch|epochs|ep|e|epoch_idx|epoch_i|i_epoch|ep_idx)($|_)|epoch")


def _call_name(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return ""


def is_optimizer_step(call: ast.Call) -> bool:
    """``opt.step()``, ``scaler.step(optimizer)``; not ``scheduler.step()``."""
    f = call.func
    if not isinstance(f, ast.Attribute) or f.attr != "step":
        return False
    base = (dotted_target(f.value) or "").lower()
    if "sched" in base or base.endswith("lr") or "warmup" in base:
        return False
    return "opt" in base or "scaler" in base or base in ("self.optimizer", "trainer")


def is_backward(call: ast.Call) -> bool:
    return _call_name(call) == "backward"


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def walk_no_defs(node: ast.AST) -> Iterator[ast.AST]:
    """ast.walk that does not descend into nested function or class definitions.

    (The children of each node in ``ast.iter_child_nodes`` order, read from ``_fields`` directly:
    the training loop is walked several times on every edit.)
    """
    stack: list[ast.AST] = [node]
    pop, push = stack.pop, stack.append
    node_t, defs = ast.AST, _DEFS
    while stack:
        n = pop()
        yield n
        for name in n._fields:
            v = getattr(n, name, None)
            if isinstance(v, node_t):
                if not isinstance(v, defs):
                    push(v)
            elif type(v) is list:
                for c in v:
                    if isinstance(c, node_t) and not isinstance(c, defs):
                        push(c)


@dataclass
class Accum:
    steps: V
    rounding: str  # floor | ceil
    inside: bool  # micro-step loop inside each iteration
    span: ast.AST
    how: str


@dataclass
class TrainLoop:
    kind: str  # epoch | step | single
    node: ast.For | ast.While
    scope: Scope
    count: V  # epochs (epoch loops) or the bound (step loops)
    step_count: Callable[[int], int] | None = None
    step_words: str = ""
    iterated: set[str] = field(default_factory=set)
    accum: Accum | None = None
    cap: StepCap | None = None


@dataclass
class StepCap:
    """``if completed_steps >= max_train_steps: break`` inside an epoch loop."""

    bound: V
    counts: str  # "updates" (incremented with the optimizer step) or "batches"
    offset: int  # 1 for `>` (one more than the bound), 0 for `>=` / `==`
    node: ast.If


class LoopFinder:
    def __init__(self, ev: Evaluator) -> None:
        self.ev = ev
        self.table = ev.table
        self._work_funcs: set[str] | None = None
        self._work_loops: set[int] | None = None

    # -- which functions train ----------------------------------------------------------------
    def _training_calls(self) -> list[tuple[ast.Call, Scope]]:
        idx = self.ev.call_index()
        out = list(idx.get("backward", []))
        out += [(c, s) for c, s in idx.get("step", []) if is_optimizer_step(c)]
        # timm / MAE: `loss_scaler(loss, optimizer, ...)` does backward and step inside a helper
        # object the reader does not follow.
        for key, calls in idx.items():
            if "scaler" in key.lower() and key not in ("GradScaler", "step", "scale"):
                out += [
                    (c, s)
                    for c, s in calls
                    if c.args and "loss" in (dotted_target(c.args[0]) or "").lower()
                ]
        return out

    def work_funcs(self) -> set[str]:
        """Names of functions whose body (or a function they call) does backward/step.

        Built from the call index the evaluator keeps: no extra walk of the tree.
        """
        if self._work_funcs is not None:
            return self._work_funcs
        work = {s.name for _c, s in self._training_calls() if s.is_function}
        frontier = set(work)
        for _ in range(5):  # a few levels of helpers; deeper call chains are rare in scripts
            callers = {s.name for f in frontier for _c, s in self.ev.callers(f) if s.is_function}
            frontier = callers - work
            if not frontier:
                break
            work |= frontier
        self._work_funcs = work
        return work

    def work_loops(self) -> set[int]:
        """ids of the loops whose body trains (directly or through a call)."""
        if self._work_loops is not None:
            return self._work_loops
        marked: set[int] = set()
        parents = self.table.loop_parents
        call_loop = self.table.call_loop
        calls = self._training_calls()
        for f in self.work_funcs():
            calls += self.ev.callers(f)
        for call, _scope in calls:
            lp = call_loop.get(id(call))
            while lp is not None and id(lp) not in marked:
                marked.add(id(lp))
                lp = parents.get(id(lp))
        self._work_loops = marked
        return marked

    def contains_work(self, node: ast.AST) -> bool:
        if isinstance(node, ast.For | ast.While) and id(node) in self.table.loop_parents:
            return id(node) in self.work_loops()
        work = self.work_funcs()
        for n in walk_no_defs(node):
            if isinstance(n, ast.Call) and (
                is_backward(n) or is_optimizer_step(n) or _call_name(n) in work
            ):
                return True
        return False

    # -- the training loop ------------------------------------------------------------------
    def find(self) -> TrainLoop | None:
        loops = self.table.loops
        epoch_loops = [
            (lp, sc)
            for lp, sc in loops
            if isinstance(lp, ast.For)
            and isinstance(lp.target, ast.Name)
            and _EPOCH_NAME.search(lp.target.id.lower())
        ]
        epoch_work = [(lp, sc) for lp, sc in epoch_loops if self.contains_work(lp)]
        epoch_ids = {id(lp) for lp, _ in epoch_work}
        for lp, sc in epoch_work:
            if self._has_ancestor(lp, epoch_ids):
                continue
            assert isinstance(lp, ast.For)
            return self._epoch_loop(lp, sc)
        work_loops = [(wl, sc) for wl, sc in loops if self.contains_work(wl)]
        work_ids = {id(wl) for wl, _ in work_loops}
        outer = [(wl, sc) for wl, sc in work_loops if not self._has_ancestor(wl, work_ids)]
        for wl, sc in outer:
            tl = self._step_or_single(wl, sc)
            if tl is not None:
                return tl
        return None

    def _has_ancestor(self, lp: ast.AST, ids: set[int]) -> bool:
        p = self.table.loop_parents.get(id(lp))
        while p is not None:
            if id(p) in ids:
                return True
            p = self.table.loop_parents.get(id(p))
        return False

    def _epoch_loop(self, lp: ast.For, sc: Scope) -> TrainLoop:
        count = self.loop_count(lp, sc)
        tl = TrainLoop("epoch", lp, sc, count)
        tl.iterated = self.iterated_names(lp, sc)
        tl.accum = self.find_accum(lp, sc, inside_steps=False)
        tl.cap = self.find_cap(lp, sc)
        return tl

    def find_cap(self, lp: ast.For, sc: Scope) -> StepCap | None:
        """A step budget that ends training early (HF ``*_no_trainer.py``, diffusers)."""
        incs: dict[str, tuple[int, V]] = {}
        inc_node: dict[str, ast.AugAssign] = {}
        for n in walk_no_defs(lp):
            if (
                isinstance(n, ast.AugAssign)
                and isinstance(n.op, ast.Add)
                and isinstance(n.target, ast.Name)
            ):
                incs.setdefault(n.target.id, (0, V(1, "literal")))
                inc_node.setdefault(n.target.id, n)
        if not incs:
            return None
        for n in walk_no_defs(lp):
            if not (isinstance(n, ast.If) and any(isinstance(s, ast.Break) for s in n.body)):
                continue
            c = _counter_compare(n.test, incs, negate=False)
            if c is None:
                continue
            name, op, bound_node = c
            bound = self.ev.eval(bound_node, sc, (n.lineno, n.col_offset))
            if bound.known and bound.value is None:
                continue  # `if max_steps is not None and ...` style guards left it unset
            counts = "updates" if self._counts_updates(lp, inc_node[name]) else "batches"
            return StepCap(bound, counts, 1 if op == ">" else 0, n)
        return None

    def _counts_updates(self, lp: ast.AST, inc: ast.AugAssign) -> bool:
        """The counter goes up with the weight update: under `if ... sync_gradients` / a
        modulo test, or next to an optimizer step."""
        for n in walk_no_defs(lp):
            if isinstance(n, ast.If) and any(inc is s for s in n.body):
                text = self.ev.segment(n.test, 200)
                if "sync_gradients" in text or "%" in text:
                    return True
                return any(
                    isinstance(c, ast.Call) and is_optimizer_step(c)
                    for s in n.body
                    for c in walk_no_defs(s)
                )
        return False

    def loop_count(self, lp: ast.For, sc: Scope) -> V:
        """How many times ``for x in range(...)`` runs, with the range's provenance."""
        it: ast.expr = lp.iter
        while (
            isinstance(it, ast.Call) and _call_name(it) in ("tqdm", "enumerate", "iter") and it.args
        ):
            it = it.args[0]
        v = self.ev.eval(it, sc, (lp.lineno, lp.col_offset))
        header = f"`for {self.ev.segment(lp.target)} in {self.ev.segment(lp.iter, 60)}`"
        if not v.known:
            return unknown(f"{header} (line {lp.lineno}): {v.reason}", span_of(lp.iter))
        if isinstance(v.value, range):
            n = len(v.value)
            src = f"{header}, line {lp.lineno}"
            _, sep, inputs = v.source.partition(" with ")
            if sep:
                src += f" with {inputs}"
            return V(n, src, v.span or span_of(lp.iter))
        n_v = self.ev.length(v, span_of(lp.iter))
        if n_v.known and isinstance(n_v.value, int):
            return V(n_v.value, f"{header}, line {lp.lineno}", span_of(lp.iter))
        return unknown(
            f"{header} (line {lp.lineno}) is not a range the reader can count", span_of(lp.iter)
        )

    def _step_or_single(self, lp: ast.For | ast.While, sc: Scope) -> TrainLoop | None:
        if isinstance(lp, ast.For):
            it = lp.iter
            while (
                isinstance(it, ast.Call)
                and _call_name(it) in ("tqdm", "enumerate", "iter")
                and it.args
            ):
                it = it.args[0]
            is_range = isinstance(it, ast.Call) and _call_name(it) in ("range", "trange")
            if is_range:
                count = self.loop_count(lp, sc)
                assert isinstance(it, ast.Call)
                bound = it.args[0] if len(it.args) == 1 else it
                tl = TrainLoop(
                    "step",
                    lp,
                    sc,
                    count,
                    step_count=lambda m: max(0, m),
                    step_words=self.ev.segment(bound, 40),
                )
            else:
                # One pass over a loader with no epoch loop around it: a single epoch.
                tl = TrainLoop(
                    "single",
                    lp,
                    sc,
                    V(1, f"one pass over the data (line {lp.lineno}, no epoch loop)", span_of(lp)),
                )
            tl.iterated = self.iterated_names(lp, sc)
            tl.accum = self.find_accum(lp, sc, inside_steps=is_range)
            return tl
        return self._while_loop(lp, sc)

    def _while_loop(self, lp: ast.While, sc: Scope) -> TrainLoop | None:
        body = lp.body
        w = next((i for i, st in enumerate(body) if self.contains_work(st)), 0)
        incs: dict[str, tuple[int, V]] = {}
        for i, st in enumerate(body):
            if (
                isinstance(st, ast.AugAssign)
                and isinstance(st.op, ast.Add)
                and isinstance(st.target, ast.Name)
            ):
                kv = self.ev.eval(st.value, sc, (st.lineno, st.col_offset))
                if kv.known and isinstance(kv.value, int) and kv.value > 0:
                    incs.setdefault(st.target.id, (i, kv))
        # (index of the check, counter, op, bound node); index -1 = the while test itself.
        checks: list[tuple[int, str, str, ast.expr]] = []
        t = lp.test
        if not (isinstance(t, ast.Constant) and t.value is True):
            c = _counter_compare(t, incs, negate=True)
            if c is not None:
                checks.append((-1, *c))
        for i, st in enumerate(body):
            if isinstance(st, ast.If) and any(isinstance(s, ast.Break) for s in st.body):
                c = _counter_compare(st.test, incs, negate=False)
                if c is not None:
                    checks.append((i, *c))
        if not checks:
            tl = TrainLoop(
                "step",
                lp,
                sc,
                unknown(
                    f"the training loop `while {self.ev.segment(lp.test)}:` (line {lp.lineno}) has"
                    " no step-count condition the reader can follow",
                    span_of(lp),
                ),
            )
            tl.iterated = self.iterated_names(lp, sc)
            tl.accum = self.find_accum(lp, sc, inside_steps=True)
            return tl
        b, name, op, bound_node = checks[0]
        inc_i, k_v = incs[name]
        k = int(k_v.value)
        start = self.ev.eval(
            ast.Name(
                id=name,
                lineno=lp.lineno,
                col_offset=lp.col_offset,
                end_lineno=lp.lineno,
                end_col_offset=lp.col_offset,
            ),
            sc,
            (lp.lineno, lp.col_offset),
        )
        bound = self.ev.eval(bound_node, sc, (bound_node.lineno, bound_node.col_offset))
        if bound.known and bound.source == "literal":
            bound = bound.with_source(f"`{self.ev.segment(bound_node)}` (line {bound_node.lineno})")
        if not start.known or not isinstance(start.value, int):
            bound = unknown(
                f"the start value of `{name}`: {start.reason or 'not an integer'}", span_of(lp)
            )
        s = start.value if start.known and isinstance(start.value, int) else 0
        off = k if inc_i < b else 0
        work_after = b < w

        def count(m: int) -> int:
            if op == ">":
                j = max(0, math.floor((m - s - off) / k) + 1)
            else:  # >= or ==
                j = max(0, math.ceil((m - s - off) / k))
            return j if work_after else j + 1

        bname = self.ev.segment(bound_node, 40)
        diff = count(1000) - 1000 if k == 1 else None
        if diff is None:
            words = f"(from `{name} {op} {bname}`)"
        elif diff == 0:
            words = f"{bname}"
        else:
            words = f"{bname} {'+' if diff > 0 else '-'} {abs(diff)}"
        if _EPOCH_NAME.search(name.lower()) and bound.known and isinstance(bound.value, int):
            # `while epoch < num_epochs:` is an epoch loop that happens to be written as while.
            n = count(bound.value)
            tl = TrainLoop(
                "epoch",
                lp,
                sc,
                V(
                    n,
                    f"`while {self.ev.segment(lp.test)}`, line {lp.lineno} with {bound.source}",
                    bound.span,
                ),
            )
            tl.iterated = self.iterated_names(lp, sc)
            tl.accum = self.find_accum(lp, sc, inside_steps=False)
            return tl
        tl = TrainLoop("step", lp, sc, bound, step_count=count, step_words=words)
        tl.iterated = self.iterated_names(lp, sc)
        tl.accum = self.find_accum(lp, sc, inside_steps=True)
        return tl

    # -- loaders iterated inside the training loop ----------------------------------------------
    def iterated_names(self, lp: ast.AST, sc: Scope) -> set[str]:
        names: set[str] = set()
        work = self.work_funcs()
        bodies: list[ast.AST] = [lp]
        called = {_call_name(n) for n in walk_no_defs(lp) if isinstance(n, ast.Call)}
        for fname in called & work:
            bodies.extend(self.table.functions.get(fname, []))
        for body in bodies:
            for n in walk_no_defs(body):
                it: ast.expr | None = None
                if isinstance(n, ast.For):
                    it = n.iter
                elif isinstance(n, ast.Call) and _call_name(n) in ("iter", "next") and n.args:
                    it = n.args[0]
                while (
                    isinstance(it, ast.Call)
                    and it.args
                    and _call_name(it) in ("enumerate", "tqdm", "iter", "zip", "islice", "cycle")
                ):
                    it = it.args[0]
                if it is not None:
                    t = dotted_target(it)
                    if t:
                        names.add(t)
        # A loader passed in as a parameter: map to the names at the call sites.
        mapped: set[str] = set()
        for fname in called & work:
            for fn in self.table.functions.get(fname, []):
                params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
                for call, _scope in self.ev.callers(fname):
                    for i, a in enumerate(call.args):
                        if i < len(params) and params[i] in names:
                            t = dotted_target(a)
                            if t:
                                mapped.add(t)
                    for kw in call.keywords:
                        if kw.arg in names:
                            t = dotted_target(kw.value)
                            if t:
                                mapped.add(t)
        return names | mapped

    # -- gradient accumulation ------------------------------------------------------------
    def bodies(self, lp: ast.AST, sc: Scope) -> list[tuple[ast.AST, Scope]]:
        """The loop and the training functions it calls (where per-batch code lives)."""
        work = self.work_funcs()
        out: list[tuple[ast.AST, Scope]] = [(lp, sc)]
        called = {_call_name(n) for n in walk_no_defs(lp) if isinstance(n, ast.Call)}
        for fname in called & work:
            for fn in self.table.functions.get(fname, []):
                fs = self.table.scope_for(fn)
                if fs is not None:
                    out.append((fn, fs))
        return out

    def find_accum(self, lp: ast.AST, sc: Scope, inside_steps: bool) -> Accum | None:
        bodies = self.bodies(lp, sc)
        for body, bsc in bodies:
            for n in walk_no_defs(body):
                if isinstance(n, ast.If) and any(
                    isinstance(c, ast.Call) and is_optimizer_step(c)
                    for st in n.body
                    for c in walk_no_defs(st)
                ):
                    acc = self._modulo(n.test, bsc)
                    if acc is not None:
                        return acc
        if inside_steps:
            # nanoGPT: for micro_step in range(k): ... backward ...; then one optimizer step.
            for body, bsc in bodies:
                for n in walk_no_defs(body):
                    if n is lp or not isinstance(n, ast.For):
                        continue
                    has_bwd = any(
                        isinstance(c, ast.Call) and is_backward(c) for c in walk_no_defs(n)
                    )
                    has_step = any(
                        isinstance(c, ast.Call) and is_optimizer_step(c) for c in walk_no_defs(n)
                    )
                    it = n.iter
                    if (
                        has_bwd
                        and not has_step
                        and isinstance(it, ast.Call)
                        and _call_name(it) == "range"
                    ):
                        cnt = self.loop_count(n, bsc)
                        return Accum(
                            cnt,
                            "floor",
                            True,
                            n,
                            f"micro-step loop `for {self.ev.segment(n.target)} in"
                            f" {self.ev.segment(n.iter)}`",
                        )
        return None

    def _modulo(self, test: ast.expr, sc: Scope) -> Accum | None:
        ceil_extra = False
        parts = [test]
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
            parts = list(test.values)
            ceil_extra = True  # `... or last batch`: the leftover batches still step
        for p in parts:
            if not (isinstance(p, ast.Compare) and len(p.ops) == 1):
                continue
            left, right = p.left, p.comparators[0]
            if not (isinstance(left, ast.BinOp) and isinstance(left.op, ast.Mod)):
                continue
            if not isinstance(p.ops[0], ast.Eq):
                continue
            k = self.ev.eval(left.right, sc, (p.lineno, p.col_offset))
            if k.known and k.source == "literal":
                k = k.with_source(f"`{self.ev.segment(p)}` (line {p.lineno})")
            idx = left.left
            plus_one = (
                isinstance(idx, ast.BinOp)
                and isinstance(idx.op, ast.Add)
                and isinstance(idx.right, ast.Constant)
                and idx.right.value == 1
            )
            rv = right.value if isinstance(right, ast.Constant) else None
            if plus_one and rv == 0:
                rounding = "ceil" if ceil_extra else "floor"
            elif rv == 0:
                rounding = "ceil"  # steps at i = 0, k, 2k, … (0-based index)
            else:
                rounding = "ceil" if ceil_extra else "floor"
            return Accum(k, rounding, False, p, f"`if {self.ev.segment(p)}: optimizer.step()`")
        return None


def _counter_compare(
    t: ast.expr, incs: dict[str, tuple[int, V]], negate: bool
) -> tuple[str, str, ast.expr] | None:
    """``iter_num > max_iters`` → ("iter_num", ">", max_iters) as a *break* condition."""
    if not (isinstance(t, ast.Compare) and len(t.ops) == 1):
        if isinstance(t, ast.BoolOp) and isinstance(t.op, ast.Or) and not negate:
            for v in t.values:
                c = _counter_compare(v, incs, negate)
                if c is not None:
                    return c
        return None
    left, op, right = t.left, t.ops[0], t.comparators[0]
    flip = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}
    if (
        isinstance(right, ast.Name)
        and right.id in incs
        and not (isinstance(left, ast.Name) and left.id in incs)
    ):
        left, right = right, left
        ft = flip.get(type(op))
        if ft is None and not isinstance(op, ast.Eq | ast.NotEq):
            return None
        op = ft() if ft is not None else op
    if not (isinstance(left, ast.Name) and left.id in incs):
        return None
    if negate:  # while c < M  ==  break when c >= M
        neg = {ast.Lt: ">=", ast.LtE: ">", ast.NotEq: "=="}
        sym = neg.get(type(op))
    else:
        pos = {ast.Gt: ">", ast.GtE: ">=", ast.Eq: "=="}
        sym = pos.get(type(op))
    if sym is None:
        return None
    return left.id, sym, right
