"""Config files pulled in with ``exec(open(path).read())`` (nanoGPT's configurator idiom).

The exec-ed file's top-level assignments become bindings of the script at the exec line. When
that file reads ``sys.argv`` (nanoGPT's ``configurator.py``), the script arguments are applied
the way it does: an argument without ``=`` is a config file to exec, ``--key=value`` overrides
an existing global with ``literal_eval(value)`` (or the string when that fails).
"""

from __future__ import annotations

import ast
import bisect
import os
from collections.abc import Callable

from gpulens.analysis.modelcache import note_file
from gpulens.analysis.symbols import Binding, Scope, build
from gpulens.analysis.values import Context, Evaluator, V, span_of

MAX_CONFIG_BYTES = 1_000_000


def _exec_path(ev: Evaluator, call: ast.Call, scope: Scope) -> V | None:
    """``exec(open(P).read())`` → the value of P; None if the exec is of something else."""
    arg = call.args[0]
    if not (
        isinstance(arg, ast.Call)
        and isinstance(arg.func, ast.Attribute)
        and arg.func.attr == "read"
    ):
        return None
    opener = arg.func.value
    if not (
        isinstance(opener, ast.Call)
        and isinstance(opener.func, ast.Name)
        and opener.func.id == "open"
        and opener.args
    ):
        return None
    return ev.eval(opener.args[0], scope, (call.lineno, call.col_offset))


def resolve_path(ctx: Context, rel: str) -> str | None:
    candidates = [rel] if os.path.isabs(rel) else []
    if not os.path.isabs(rel):
        if ctx.script_path:
            candidates.append(os.path.join(os.path.dirname(os.path.abspath(ctx.script_path)), rel))
        candidates.append(os.path.abspath(rel))
    for c in candidates:
        note_file(c)  # a file that appears later changes what is read
        if os.path.isfile(c):
            return c
    return None


def _read(path: str) -> str | None:
    note_file(path)
    try:
        if os.path.getsize(path) > MAX_CONFIG_BYTES:
            return None
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def config_assignments(
    path: str, label: str, ctx: Context, fallback: Callable[[str], V | None]
) -> list[tuple[str, V]] | None:
    """Top-level ``name = value`` of a config file, evaluated (names may refer to the script)."""
    text = _read(path)
    if text is None:
        return None
    try:
        tree = ast.parse(text.replace("\x00", " "))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    table = build(tree)
    sub = Evaluator(table, text.splitlines(), ctx)
    from gpulens.analysis.reader import install_handlers

    install_handlers(sub)
    sub.fallback = fallback
    out: list[tuple[str, V]] = []
    for st in tree.body:
        if (
            isinstance(st, ast.Assign)
            and len(st.targets) == 1
            and isinstance(st.targets[0], ast.Name)
        ):
            name = st.targets[0].id
            v = sub.eval(st.value, table.module, (st.lineno, st.col_offset))
            seg = sub.segment(st, 60)
            if v.known:
                v = V(v.value, f"{label}, line {st.lineno}: `{seg}`", None)
            out.append((name, v))
    return out


def apply_exec_configs(ev: Evaluator) -> list[str]:
    """Inject bindings from exec-ed config files; returns notes about what could not be read."""
    notes: list[str] = []
    for call, scope, conds in ev.table.exec_sites:
        if not call.args:
            continue
        pv = _exec_path(ev, call, scope)
        if pv is None:
            continue
        sp = span_of(call)
        if not pv.known or not isinstance(pv.value, str):
            notes.append(f"exec at line {call.lineno}: the config path is not known")
            continue
        rel = pv.value
        path = resolve_path(ev.ctx, rel)
        text = _read(path) if path else None
        reads_argv = text is not None and "sys.argv" in text
        presets: list[tuple[str, V]] = []
        pos = (call.lineno, call.col_offset)

        def fallback(name: str, _pos: tuple[int, int] = pos, _scope: Scope = scope) -> V | None:
            return ev.lookup(name, _scope, _pos)

        if path is not None and text is not None and not reads_argv:
            got = config_assignments(path, rel, ev.ctx, fallback)
            for name, v in got or []:
                presets.append((name, _at(v, sp)))
        elif path is None or reads_argv:
            label = rel if path else f"{rel} (not found; read as nanoGPT's configurator)"
            if path is None and not ev.ctx.script_args:
                notes.append(f"exec at line {call.lineno}: {rel} not found")
            for arg in ev.ctx.script_args:
                if "=" not in arg:
                    cfg = resolve_path(ev.ctx, arg)
                    if cfg is None:
                        notes.append(f"config file {arg} (script argument) not found")
                        continue
                    got = config_assignments(cfg, arg, ev.ctx, fallback)
                    if got is None:
                        notes.append(f"config file {arg} could not be read")
                        continue
                    for name, v in got:
                        presets.append((name, _at(v, sp)))
                elif arg.startswith("--"):
                    key, _, raw = arg[2:].partition("=")
                    try:
                        val: object = ast.literal_eval(raw)
                    except (ValueError, SyntaxError, MemoryError, RecursionError):
                        val = raw
                    if key not in ev.table.module.bindings and key not in dict(presets):
                        notes.append(f"{arg}: `{key}` is not a setting of the script")
                        continue
                    presets.append((key, V(val, f"script argument {arg} (applied by {label})", sp)))
        for name, v in presets:
            _insert(
                scope,
                Binding(
                    name,
                    scope,
                    call.lineno,
                    call.col_offset,
                    "preset",
                    preset=v,
                    conditions=conds,
                    node=call,
                ),
            )
    return notes


def _at(v: V, sp: object) -> V:
    return V(v.value, v.source, sp if v.span is None else v.span, v.reason)  # type: ignore[arg-type]


def _insert(scope: Scope, b: Binding) -> None:
    lst = scope.bindings.setdefault(b.target, [])
    keys = [x.pos for x in lst]
    i = bisect.bisect_right(keys, b.pos)
    lst.insert(i, b)
