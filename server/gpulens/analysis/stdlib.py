"""Handlers for the standard library calls configs are built from: builtins, math, os.environ,
sys.argv, argparse, SimpleNamespace and friends."""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpulens.analysis import yamlite
from gpulens.analysis.facts import Span
from gpulens.analysis.values import (
    _PRIMITIVE,
    CallCtx,
    DictVal,
    Evaluator,
    FileVal,
    Handler,
    Namespace,
    ParserVal,
    SeqVal,
    TensorVal,
    V,
    combine_sources,
    is_number,
    span_of,
    unknown,
)


def _num_args(ctx: CallCtx) -> list[V] | V:
    vals: list[V] = []
    for i in range(len(ctx.node.args)):
        v = ctx.arg(i)
        if v is None or not v.known:
            return v or unknown("missing argument", ctx.span)
        vals.append(v)
    return vals


def _src(ctx: CallCtx, inputs: list[V]) -> str:
    return combine_sources(ctx.ev.segment(ctx.node), ctx.node.lineno, inputs)


def _convert(kind: str) -> Handler:
    def handler(ctx: CallCtx) -> V | None:
        if not ctx.node.args:
            return V({"int": 0, "float": 0.0, "str": "", "bool": False}[kind], "literal", ctx.span)
        v = ctx.arg(0)
        if v is None or not v.known:
            return v
        x = v.value
        try:
            if kind == "int" and isinstance(x, int | float | str | bool):
                return V(int(x), v.source, v.span)
            if kind == "float" and isinstance(x, int | float | str | bool):
                return V(float(x), v.source, v.span)
            if kind == "str" and isinstance(x, _PRIMITIVE):
                return V(str(x), v.source, v.span)
            if kind == "bool" and isinstance(x, _PRIMITIVE):
                return V(bool(x), v.source, v.span)
        except (ValueError, OverflowError):
            return unknown(f"`{ctx.ev.segment(ctx.node)}` fails on {x!r}", ctx.span)
        return unknown(f"`{ctx.ev.segment(ctx.node)}` cannot be folded", ctx.span)

    return handler


def _minmax(fn: Callable[..., Any]) -> Handler:
    def handler(ctx: CallCtx) -> V | None:
        vals = _num_args(ctx)
        if isinstance(vals, V):
            return vals
        if len(vals) == 1 and isinstance(vals[0].value, SeqVal):
            items = vals[0].value.items
            if not all(i.known for i in items):
                return unknown("a list with unknown items", ctx.span)
            vals = items
        if not vals or not all(is_number(v.value) for v in vals):
            return unknown(f"`{ctx.ev.segment(ctx.node)}` cannot be folded", ctx.span)
        return V(fn(v.value for v in vals), _src(ctx, vals), ctx.span)

    return handler


def _math1(fn: Callable[[float], Any]) -> Handler:
    def handler(ctx: CallCtx) -> V | None:
        v = ctx.arg(0)
        if v is None or not v.known:
            return v
        if not is_number(v.value):
            return unknown(f"`{ctx.ev.segment(ctx.node)}` cannot be folded", ctx.span)
        try:
            return V(fn(v.value), _src(ctx, [v]), ctx.span)
        except (ValueError, OverflowError):
            return unknown(f"`{ctx.ev.segment(ctx.node)}` is not defined", ctx.span)

    return handler


def _round(ctx: CallCtx) -> V | None:
    v = ctx.arg(0)
    if v is None or not v.known or not is_number(v.value):
        return v
    nd = ctx.arg(1, "ndigits")
    if nd is not None:
        if not nd.known or not isinstance(nd.value, int):
            return nd
        return V(round(v.value, nd.value), _src(ctx, [v]), ctx.span)
    return V(round(v.value), _src(ctx, [v]), ctx.span)


def _abs(ctx: CallCtx) -> V | None:
    v = ctx.arg(0)
    if v is None or not v.known or not is_number(v.value):
        return v
    return V(abs(v.value), v.source, ctx.span)


def _len(ctx: CallCtx) -> V | None:
    v = ctx.arg(0)
    if v is None:
        return None
    r = ctx.ev.length(v, ctx.span)
    if r.known:
        return V(r.value, r.source, r.span or ctx.span)
    return r


def _range(ctx: CallCtx) -> V | None:
    vals = _num_args(ctx)
    if isinstance(vals, V):
        return vals
    if not vals or len(vals) > 3 or not all(isinstance(v.value, int) for v in vals):
        return unknown(f"`{ctx.ev.segment(ctx.node)}` has non-integer bounds", ctx.span)
    try:
        r = range(*[v.value for v in vals])
    except ValueError:
        return unknown("range() with a zero step", ctx.span)
    # The span of the value that sets the bound (`EPOCHS = 5`) is the useful place to point at.
    named = [v for v in vals if v.source != "literal"]
    sp = named[-1].span if named and named[-1].span else ctx.span
    return V(r, _src(ctx, vals), sp)


def _sum(ctx: CallCtx) -> V | None:
    v = ctx.arg(0)
    if v is None or not v.known:
        return v
    if isinstance(v.value, SeqVal) and all(i.known and is_number(i.value) for i in v.value.items):
        return V(sum(i.value for i in v.value.items), v.source, ctx.span)
    if isinstance(v.value, range):
        return V(sum(v.value), v.source, ctx.span)
    return unknown(f"`{ctx.ev.segment(ctx.node)}` cannot be folded", ctx.span)


def _seq(kind: str) -> Handler:
    def handler(ctx: CallCtx) -> V | None:
        if not ctx.node.args:
            return V(SeqVal([], kind), "literal", ctx.span)
        v = ctx.arg(0)
        if v is None or not v.known:
            return v
        if isinstance(v.value, SeqVal):
            return V(SeqVal(list(v.value.items), kind), v.source, ctx.span)
        if isinstance(v.value, range):
            return v  # a range stands in for list(range(n)): only its length matters here
        if isinstance(v.value, TensorVal):
            return v
        return unknown(f"`{ctx.ev.segment(ctx.node)}` cannot be folded", ctx.span)

    return handler


def _dict(ctx: CallCtx) -> V | None:
    items: dict[Any, V] = {}
    if ctx.node.args:
        base = ctx.arg(0)
        if base is None or not base.known:
            return base
        if isinstance(base.value, DictVal):
            items.update(base.value.items)
        elif isinstance(base.value, Namespace):
            items.update(base.value.attrs)
        else:
            return unknown("dict() of something the reader cannot follow", ctx.span)
    for kw in ctx.node.keywords:
        v = ctx.ev.eval(kw.value, ctx.scope, ctx.pos, ctx.frame)
        if kw.arg is None:
            if v.known and isinstance(v.value, DictVal):
                items.update(v.value.items)
            continue
        items[kw.arg] = ctx.ev._literal_source(v, kw.value, f"`{kw.arg}=` in dict(…)")
    return V(DictVal(items), f"dict(…), line {ctx.node.lineno}", ctx.span)


def _namespace(kind: str) -> Handler:
    """SimpleNamespace(**kw), argparse.Namespace(**kw), EasyDict(d), OmegaConf.create(d)."""

    def handler(ctx: CallCtx) -> V | None:
        d = _dict(ctx)
        if d is None or not d.known or not isinstance(d.value, DictVal):
            return d
        attrs = {str(k): v for k, v in d.value.items.items()}
        return V(Namespace(attrs, kind), f"{kind}(…), line {ctx.node.lineno}", ctx.span)

    return handler


def _vars(ctx: CallCtx) -> V | None:
    v = ctx.arg(0)
    if v is None or not v.known:
        return v
    if isinstance(v.value, Namespace):
        return V(DictVal(dict(v.value.attrs)), v.source, ctx.span)
    return unknown("vars() of something the reader cannot follow", ctx.span)


def _getattr(ctx: CallCtx) -> V | None:
    obj = ctx.arg(0)
    name = ctx.arg(1)
    if obj is None or name is None or not name.known or not isinstance(name.value, str):
        return None
    r = ctx.ev.get_attr(obj, name.value, ctx.span)
    if not r.known and len(ctx.node.args) > 2 and obj.known and isinstance(obj.value, Namespace):
        return ctx.arg(2)
    return r


def _passthrough(ctx: CallCtx) -> V | None:
    """tqdm(x), iter(x), sorted(x)…: the value of the first argument."""
    return ctx.arg(0)


# -- os, sys --------------------------------------------------------------------------------


def _env_get(ctx: CallCtx) -> V | None:
    key = ctx.arg(0, "key")
    if key is None or not key.known or not isinstance(key.value, str):
        return unknown("an environment variable chosen at run time", ctx.span)
    env = ctx.ev.ctx.env
    if key.value in env:
        return V(
            env[key.value],
            f"environment variable {key.value} (from the world_size setting)",
            ctx.span,
        )
    dflt = ctx.arg(1, "default")
    if dflt is None:
        return V(
            None, f"environment variable {key.value} is not set by a plain `python` run", ctx.span
        )
    if dflt.known:
        return V(
            dflt.value,
            f"default of environment variable {key.value}, line {ctx.node.lineno}"
            " (what a plain `python` run without a launcher sees)",
            ctx.span,
        )
    return dflt


def _environ_value(ev: Evaluator) -> Callable[[Span], V]:
    def make(sp: Span) -> V:
        return V(
            DictVal(
                {
                    k: V(v, f"environment variable {k} (from the world_size setting)", sp)
                    for k, v in ev.ctx.env.items()
                }
            ),
            "os.environ",
            sp,
        )

    return make


def _argv_value(ev: Evaluator) -> Callable[[Span], V]:
    def make(sp: Span) -> V:
        name = ev.ctx.script_path or "script.py"
        items = [V(name, "the script path", sp)]
        items += [V(a, f"script argument {a!r}", sp) for a in ev.ctx.script_args]
        return V(SeqVal(items, "list"), "sys.argv (the script arguments you supplied)", sp)

    return make


def _path_join(ctx: CallCtx) -> V | None:
    import os.path

    vals = _num_args(ctx)
    if isinstance(vals, V):
        return vals
    if not all(isinstance(v.value, str) for v in vals):
        return unknown("a path built from unknown parts", ctx.span)
    return V(os.path.join(*[v.value for v in vals]), _src(ctx, vals), ctx.span)


def _true_on_gpu(what: str) -> Handler:
    def handler(ctx: CallCtx) -> V | None:
        return V(True, f"assumed: {what}", ctx.span)

    return handler


def _world_size_call(ctx: CallCtx) -> V | None:
    env = ctx.ev.ctx.env
    if "WORLD_SIZE" in env:
        return V(int(env["WORLD_SIZE"]), "world_size setting", ctx.span)
    return unknown(
        "the process count comes from the launcher (torchrun --nproc_per_node) at run time",
        ctx.span,
    )


def _rank_call(ctx: CallCtx) -> V | None:
    return V(0, "assumed: rank 0 (the reader follows the first process)", ctx.span)


# -- argparse -------------------------------------------------------------------------------


@dataclass
class ArgSpec:
    options: list[str]
    dest: str
    call: ast.Call
    default: V
    action: str | None
    nargs: Any
    type_name: str | None
    const: V | None
    positional: bool

    @property
    def display(self) -> str:
        longs = [o for o in self.options if o.startswith("--")]
        return (longs or self.options or [self.dest])[0]


def _argparse_parser(ctx: CallCtx) -> V | None:
    return V(ParserVal(ctx.node), f"ArgumentParser, line {ctx.node.lineno}", ctx.span)


def _collect_specs(ev: Evaluator) -> list[ArgSpec]:
    specs: list[ArgSpec] = []
    set_defaults: dict[str, V] = {}
    idx = ev.call_index()
    wanted = sorted(
        [*idx.get("set_defaults", []), *idx.get("add_argument", [])],
        key=lambda cs: (cs[0].lineno, cs[0].col_offset),
    )
    for call, scope in wanted:
        f = call.func
        if not isinstance(f, ast.Attribute):
            continue
        pos = (call.lineno, call.col_offset)
        if f.attr == "set_defaults":
            for kw in call.keywords:
                if kw.arg:
                    v = ev.eval(kw.value, scope, pos)
                    set_defaults[kw.arg] = ev._literal_source(
                        v, kw.value, f"parser.set_defaults({kw.arg}=…)"
                    )
            continue
        if f.attr != "add_argument":
            continue
        options: list[str] = []
        for a in call.args:
            if isinstance(a, ast.Constant) and isinstance(a.value, str):
                options.append(a.value)
        if not options:
            continue
        kws = {kw.arg: kw.value for kw in call.keywords if kw.arg}
        positional = not options[0].startswith("-")
        dest: str | None = None
        if "dest" in kws:
            dv = ev.eval(kws["dest"], scope, pos)
            if dv.known and isinstance(dv.value, str):
                dest = dv.value
        if dest is None:
            if positional:
                dest = options[0]
            else:
                longs = [o for o in options if o.startswith("--")]
                dest = (longs[0] if longs else options[0]).lstrip("-")
            dest = dest.replace("-", "_")
        action: str | None = None
        if "action" in kws:
            av = ev.eval(kws["action"], scope, pos)
            action = av.value if av.known and isinstance(av.value, str) else "custom"
        type_name: str | None = None
        if "type" in kws:
            tn = kws["type"]
            type_name = (
                tn.id
                if isinstance(tn, ast.Name)
                else tn.attr
                if isinstance(tn, ast.Attribute)
                else "custom"
            )
        nargs: Any = None
        if "nargs" in kws:
            nv = ev.eval(kws["nargs"], scope, pos)
            nargs = nv.value if nv.known else "?"
        const = ev.eval(kws["const"], scope, pos) if "const" in kws else None
        label = ([o for o in options if o.startswith("--")] or options)[0]
        if "default" in kws:
            d = ev.eval(kws["default"], scope, pos)
            if (d.known and d.source in ("literal",)) or (
                d.known and d.span == span_of(kws["default"])
            ):
                d = d.with_source(
                    f"argparse default of {label}, line {kws['default'].lineno}",
                    span_of(kws["default"]),
                )
            elif d.known:
                d = d.with_source(
                    f"argparse default of {label}, line {kws['default'].lineno} ({d.source})",
                    span_of(kws["default"]),
                )
            if d.known and isinstance(d.value, str) and type_name in ("int", "float"):
                d = _apply_type(d, type_name, label)
        elif action == "store_true":
            d = V(
                False,
                f"argparse flag {label} (off unless given), line {call.lineno}",
                span_of(call),
            )
        elif action == "store_false":
            d = V(
                True, f"argparse flag {label} (on unless given), line {call.lineno}", span_of(call)
            )
        else:
            d = V(None, f"argparse {label} has no default, line {call.lineno}", span_of(call))
        specs.append(ArgSpec(options, dest, call, d, action, nargs, type_name, const, positional))
    for spec in specs:
        if spec.dest in set_defaults:
            spec.default = set_defaults[spec.dest]
    return specs


def _apply_type(v: V, type_name: str | None, label: str) -> V:
    if not isinstance(v.value, str):
        return v
    try:
        if type_name == "int":
            return V(int(v.value), v.source, v.span)
        if type_name == "float":
            return V(float(v.value), v.source, v.span)
    except ValueError:
        return unknown(f"{label}: {v.value!r} is not a valid {type_name}", v.span)
    if type_name in (None, "str"):
        return v
    if "bool" in (type_name or "").lower():
        return V(v.value.lower() in ("1", "true", "yes", "y", "t"), v.source, v.span)
    try:
        return V(ast.literal_eval(v.value), v.source, v.span)
    except (ValueError, SyntaxError):
        return v


def parse_argv(ev: Evaluator, argv: list[str], where: Span) -> V:
    """What ``parser.parse_args(argv)`` returns, with each attribute's provenance."""
    key = ("argparse", tuple(argv))
    if key in ev.memo:
        return ev.memo[key]
    specs = _collect_specs(ev)
    attrs: dict[str, V] = {}
    for s in specs:
        attrs.setdefault(s.dest, s.default)
    by_option: dict[str, ArgSpec] = {}
    for s in specs:
        for o in s.options:
            if o.startswith("-"):
                by_option[o] = s
    positionals = [s for s in specs if s.positional]
    problems: list[str] = []
    i = 0
    pos_i = 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok.startswith("-") and len(tok) > 1 and not _is_number_text(tok):
            opt, eq, inline = tok.partition("=")
            spec = by_option.get(opt)
            if spec is None and opt.startswith("--"):
                matches = [o for o in by_option if o.startswith(opt)]
                if len(matches) == 1:
                    spec = by_option[matches[0]]
            if spec is None:
                problems.append(f"unrecognised argument {opt}")
                continue
            src = f"script argument {tok if eq else opt}"
            sp = span_of(spec.call)
            if spec.action in ("store_true", "store_false"):
                attrs[spec.dest] = V(spec.action == "store_true", src, sp)
                continue
            if spec.action == "store_const" and spec.const is not None:
                attrs[spec.dest] = spec.const.with_source(src, sp)
                continue
            if spec.action == "count":
                prev = attrs.get(spec.dest)
                n = prev.value if prev and prev.known and isinstance(prev.value, int) else 0
                attrs[spec.dest] = V(n + 1, src, sp)
                continue
            values: list[str] = []
            if eq:
                values = [inline]
            elif spec.nargs in ("+", "*"):
                while i < len(argv) and not argv[i].startswith("-"):
                    values.append(argv[i])
                    i += 1
            elif isinstance(spec.nargs, int):
                values = argv[i : i + spec.nargs]
                i += spec.nargs
            elif spec.nargs == "?":
                if i < len(argv) and not argv[i].startswith("-"):
                    values = [argv[i]]
                    i += 1
            elif i < len(argv):
                values = [argv[i]]
                i += 1
            if not values and spec.nargs == "?":
                attrs[spec.dest] = (spec.const or V(None, src, sp)).with_source(src, sp)
                continue
            if not values:
                problems.append(f"{opt} expects a value")
                continue
            src = f"script argument {opt} {' '.join(values)}"
            typed = [_apply_type(V(x, src, sp), spec.type_name, spec.display) for x in values]
            if spec.nargs in ("+", "*") or isinstance(spec.nargs, int):
                attrs[spec.dest] = V(SeqVal(typed), src, sp)
            elif spec.action == "append":
                prev = attrs.get(spec.dest)
                items = (
                    list(prev.value.items)
                    if prev and prev.known and isinstance(prev.value, SeqVal)
                    else []
                )
                attrs[spec.dest] = V(SeqVal([*items, typed[0]]), src, sp)
            else:
                attrs[spec.dest] = typed[0]
        else:
            if pos_i < len(positionals):
                spec = positionals[pos_i]
                pos_i += 1
                attrs[spec.dest] = _apply_type(
                    V(tok, f"script argument {tok!r} ({spec.dest})", span_of(spec.call)),
                    spec.type_name,
                    spec.dest,
                )
            else:
                problems.append(f"extra argument {tok!r}")
    for spec in positionals[pos_i:]:
        if spec.nargs not in ("?", "*"):
            attrs[spec.dest] = unknown(
                f"the positional argument `{spec.dest}` is required: supply it as a script"
                " argument",
                span_of(spec.call),
            )
    src = "argparse"
    if problems:
        src += " (ignored: " + "; ".join(problems[:3]) + ")"
    result = V(Namespace(attrs, "argparse namespace"), src, where)
    ev.memo[key] = result
    return result


def _is_number_text(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def _parse_args(known: bool) -> Handler:
    def handler(ctx: CallCtx) -> V | None:
        recv = ctx.receiver()
        if not recv.known or not isinstance(recv.value, ParserVal):
            # parse_args on something we cannot see as a parser (a helper's return value):
            # still read the add_argument calls of the file, the common case.
            f = ctx.node.func
            if not (isinstance(f, ast.Attribute) and "pars" in ctx.ev.segment(f.value).lower()):
                return None
        argv: list[str] = list(ctx.ev.ctx.script_args)
        given = ctx.arg(0, "args")
        if given is not None:
            if not given.known or not isinstance(given.value, SeqVal):
                return unknown("parse_args() over an argument list the reader cannot see", ctx.span)
            if not all(x.known and isinstance(x.value, str) for x in given.value.items):
                return unknown("parse_args() over arguments only known at run time", ctx.span)
            argv = [str(x.value) for x in given.value.items]
        ns = parse_argv(ctx.ev, argv, ctx.span)
        if known:
            return V(
                SeqVal([ns, V(SeqVal([]), "extra arguments", ctx.span)], "tuple"),
                ns.source,
                ctx.span,
            )
        return ns

    return handler


def _parser_method_returns_parser(ctx: CallCtx) -> V | None:
    """add_argument_group / add_mutually_exclusive_group give objects add_argument works on."""
    recv = ctx.receiver()
    if recv.known and isinstance(recv.value, ParserVal):
        return recv
    return None


def _get(ctx: CallCtx) -> V | None:
    """``cfg.get('batch_size', 32)`` on a dict or a namespace-like config."""
    recv = ctx.receiver()
    if not recv.known:
        return None
    if recv.source == "os.environ":
        return _env_get(ctx)
    key = ctx.arg(0)
    if key is None or not key.known:
        return None
    items: dict[Any, V] | None = None
    if isinstance(recv.value, DictVal):
        items = recv.value.items
    elif isinstance(recv.value, Namespace):
        items = dict(recv.value.attrs)
    if items is None:
        return None
    if key.value in items:
        return items[key.value]
    d = ctx.arg(1, "default")
    if d is None:
        return V(None, f"`{key.value}` is not in the config", ctx.span)
    return ctx.ev._literal_source(
        d,
        ctx.node.args[1] if len(ctx.node.args) > 1 else ctx.node,
        f"default in `{ctx.ev.segment(ctx.node)}`",
    )


def _copy(ctx: CallCtx) -> V | None:
    recv = ctx.receiver()
    if recv.known and isinstance(recv.value, DictVal | SeqVal | Namespace):
        return recv
    return None


def _open(ctx: CallCtx) -> V | None:
    p = ctx.arg(0, "file")
    if p is None or not p.known or not isinstance(p.value, str):
        return None
    return V(FileVal(p.value), f"open({p.value!r})", ctx.span)


def _to_v(x: Any, src: str, sp: Span) -> V:
    """JSON data as values; the span is the json.load call (the file has no editor position)."""
    if isinstance(x, dict):
        return V(DictVal({k: _to_v(v, f"{src}: {k}", sp) for k, v in x.items()}), src, sp)
    if isinstance(x, list):
        return V(SeqVal([_to_v(v, src, sp) for v in x]), src, sp)
    return V(x, src, sp)


def _config_loader(parse: Callable[[str], Any], what: str, keyword: str) -> Handler:
    """``json.load(open('c.json'))``, ``yaml.safe_load(f)`` with ``with open(p) as f``,
    ``OmegaConf.load('c.yaml')``: read the file next to the script."""

    def handler(ctx: CallCtx) -> V | None:
        from gpulens.analysis.configs import MAX_CONFIG_BYTES, resolve_path

        f = ctx.arg(0, keyword)
        if f is not None and f.known and isinstance(f.value, str) and what == "OmegaConf":
            f = V(FileVal(f.value), f.source, f.span)
        if f is None or not f.known or not isinstance(f.value, FileVal):
            return unknown(f"{what} of a file the reader cannot see", ctx.span)
        rel = f.value.path
        path = resolve_path(ctx.ev.ctx, rel)
        if path is None:
            return unknown(f"the config file {rel} does not exist here", ctx.span)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read(MAX_CONFIG_BYTES + 1)
            if len(text) > MAX_CONFIG_BYTES:
                return unknown(f"{rel} is too large to read", ctx.span)
            data = parse(text)
        except (OSError, ValueError, RecursionError) as exc:
            return unknown(f"{rel} could not be read: {exc}", ctx.span)
        return _to_v(data, rel, ctx.span)

    return handler


def _prepare(ctx: CallCtx) -> V | None:
    """``accelerator.prepare(model, opt, loader)`` / ``fabric.setup_dataloaders(loader)`` hand
    their arguments back (wrapped, same lengths)."""
    if not ctx.node.args or ctx.node.keywords:
        return None
    vals = [ctx.arg(i) or unknown("missing", ctx.span) for i in range(len(ctx.node.args))]
    if len(vals) == 1:
        return vals[0]
    return V(SeqVal(vals, "tuple"), f"`{ctx.ev.segment(ctx.node, 50)}`", ctx.span)


def register(ev: Evaluator) -> None:
    h = ev.handlers
    for kind in ("int", "float", "str", "bool"):
        h[f"builtins.{kind}"] = _convert(kind)
    h["builtins.min"] = _minmax(min)
    h["builtins.max"] = _minmax(max)
    h["builtins.abs"] = _abs
    h["builtins.round"] = _round
    h["builtins.len"] = _len
    h["builtins.range"] = _range
    h["builtins.sum"] = _sum
    h["builtins.list"] = _seq("list")
    h["builtins.tuple"] = _seq("tuple")
    h["builtins.sorted"] = _passthrough
    h["builtins.dict"] = _dict
    h["builtins.vars"] = _vars
    h["builtins.getattr"] = _getattr
    h["builtins.iter"] = _passthrough
    h["math.ceil"] = _math1(math.ceil)
    h["math.floor"] = _math1(math.floor)
    h["math.sqrt"] = _math1(math.sqrt)
    h["math.log2"] = _math1(math.log2)
    h["math.log"] = _math1(math.log)
    h["math.exp"] = _math1(math.exp)
    h["numpy.ceil"] = _math1(math.ceil)
    h["numpy.floor"] = _math1(math.floor)
    h["os.environ.get"] = _env_get
    h["os.getenv"] = _env_get
    h["os.path.join"] = _path_join
    h["tqdm"] = _passthrough
    h["trange"] = lambda ctx: _range(ctx)
    h["builtins.open"] = _open
    h["json.load"] = _config_loader(json.loads, "json.load", "fp")
    for name in ("yaml.safe_load", "yaml.load", "yaml.full_load", "yaml.unsafe_load"):
        h[name] = _config_loader(yamlite.loads, name, "stream")
    h["omegaconf.OmegaConf.load"] = _config_loader(yamlite.loads, "OmegaConf", "file_")
    h["argparse.ArgumentParser"] = _argparse_parser
    h["ArgumentParser"] = _argparse_parser
    h["types.SimpleNamespace"] = _namespace("SimpleNamespace")
    h["SimpleNamespace"] = _namespace("SimpleNamespace")
    h["argparse.Namespace"] = _namespace("Namespace")
    h["EasyDict"] = _namespace("EasyDict")
    h["edict"] = _namespace("EasyDict")
    h["omegaconf.OmegaConf.create"] = _namespace("OmegaConf config")
    h["ConfigDict"] = _namespace("ConfigDict")
    h["torch.cuda.is_available"] = _true_on_gpu("the script runs on a CUDA GPU")
    h["torch.cuda.is_bf16_supported"] = _true_on_gpu("the GPU supports bfloat16 (Ampere or newer)")
    h["torch.distributed.get_world_size"] = _world_size_call
    h["get_world_size"] = _world_size_call
    h["torch.distributed.get_rank"] = _rank_call
    h["torch.cuda.device_count"] = _world_size_call
    ev.method_handlers["parse_args"] = _parse_args(known=False)
    ev.method_handlers["parse_known_args"] = _parse_args(known=True)
    ev.method_handlers["add_argument_group"] = _parser_method_returns_parser
    ev.method_handlers["add_mutually_exclusive_group"] = _parser_method_returns_parser
    ev.method_handlers["get"] = _get
    ev.method_handlers["prepare"] = _prepare
    ev.method_handlers["setup_dataloaders"] = _prepare
    ev.method_handlers["copy"] = _copy
    ev.symbol_values["os.environ"] = _environ_value(ev)
    ev.symbol_values["sys.argv"] = _argv_value(ev)
