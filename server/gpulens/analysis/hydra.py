"""Hydra: ``@hydra.main(config_path="conf", config_name="config")`` fills ``cfg`` from YAML.

The config is read from ``<script dir>/<config_path>/<config_name>.yaml`` (the YAML subset of
``yamlite``). A ``defaults:`` list of ``- group: option`` entries merges
``<config_path>/<group>/<option>.yaml`` under ``group`` (``_self_`` keeps the file's own keys
where it is listed). Script arguments ``a.b=value`` override keys, as on Hydra's command line.
"""

from __future__ import annotations

import ast
import os
from typing import Any

from gpulens.analysis import yamlite
from gpulens.analysis.configs import MAX_CONFIG_BYTES
from gpulens.analysis.modelcache import note_file
from gpulens.analysis.symbols import Scope, dotted_target
from gpulens.analysis.values import DictVal, Evaluator, SeqVal, V, span_of, unknown


def _decorator(fn: ast.FunctionDef | ast.AsyncFunctionDef, ev: Evaluator) -> ast.Call | None:
    for d in fn.decorator_list:
        if isinstance(d, ast.Call):
            name = dotted_target(d.func) or ""
            head = name.split(".", 1)[0]
            full = ev.table.imports.get(head, head) + name[len(head) :]
            if full in ("hydra.main",):
                return d
    return None


def _read(path: str) -> Any:
    note_file(path)
    if os.path.getsize(path) > MAX_CONFIG_BYTES:
        raise yamlite.YamlSubsetError("config too large")
    with open(path, encoding="utf-8") as fh:
        return yamlite.loads(fh.read())


def _merge(into: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Deep merge, as OmegaConf merges config groups: nested keys are kept, leaves replaced."""
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v
    return into


def _compose(root: str, name: str, depth: int = 0) -> dict[str, Any]:
    data = _read(os.path.join(root, f"{name}.yaml")) or {}
    if not isinstance(data, dict):
        raise yamlite.YamlSubsetError(f"{name}.yaml is not a mapping")
    defaults = data.pop("defaults", None)
    if defaults is None:
        return data
    if not isinstance(defaults, list) or depth > 3:
        raise yamlite.YamlSubsetError("defaults list the reader cannot follow")
    out: dict[str, Any] = {}
    own_done = False
    for item in defaults:
        if item == "_self_":
            _merge(out, data)
            own_done = True
        elif isinstance(item, dict) and len(item) == 1:
            group, option = next(iter(item.items()))
            if option is None:
                continue
            sub = _compose(os.path.join(root, str(group)), str(option), depth + 1)
            _merge(out, {str(group): sub})
        elif isinstance(item, str):
            _merge(out, _compose(root, item, depth + 1))
        else:
            raise yamlite.YamlSubsetError("defaults entry the reader cannot follow")
    if not own_done:
        _merge(out, data)  # Hydra >= 1.1: the primary config comes last unless _self_ says
    return out


def _to_v(x: Any, label: str, key: str, sp: Any) -> V:
    src = f"{label}: {key}" if key else label
    if isinstance(x, dict):
        items = {k: _to_v(v, label, f"{key}.{k}" if key else str(k), sp) for k, v in x.items()}
        return V(DictVal(items), src, sp)
    if isinstance(x, list):
        return V(SeqVal([_to_v(v, label, key, sp) for v in x]), src, sp)
    return V(x, src, sp)


def hook(ev: Evaluator, scope: Scope, name: str) -> V | None:
    fn = scope.node
    if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    params = scope.params()
    if not params or params[0] != name:
        return None
    deco = _decorator(fn, ev)
    if deco is None:
        return None
    kw: dict[str, Any] = {}
    for k in deco.keywords:
        if k.arg in ("config_path", "config_name"):
            v = ev.eval(k.value, ev.table.module, None)
            if not v.known:
                return unknown(f"Hydra {k.arg}: {v.reason}", span_of(deco))
            kw[k.arg] = v.value
    sp = span_of(deco)
    if not kw.get("config_name"):
        return unknown("@hydra.main without config_name: the config is built at run time", sp)
    base = os.path.dirname(os.path.abspath(ev.ctx.script_path or "."))
    root = os.path.join(base, str(kw.get("config_path") or "."))
    label = os.path.join(str(kw.get("config_path") or "."), f"{kw['config_name']}.yaml")
    try:
        data = _compose(root, str(kw["config_name"]))
    except (OSError, yamlite.YamlSubsetError, RecursionError) as exc:
        return unknown(f"Hydra config {label} could not be read: {exc}", sp)
    sources: dict[str, str] = {}
    for arg in ev.ctx.script_args:
        key, eq, raw = arg.lstrip("+").partition("=")
        if not eq or key.startswith("-"):
            continue
        node: Any = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {}) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[parts[-1]] = yamlite.scalar(raw)
            sources[key] = arg
    v = _to_v(data, f"Hydra config {label}", "", sp)
    for key, arg in sources.items():
        _mark(v, key.split("."), f"script argument {arg} (Hydra override)")
    return v


def _mark(v: V, path: list[str], source: str) -> None:
    node = v
    for p in path[:-1]:
        if not isinstance(node.value, DictVal) or p not in node.value.items:
            return
        node = node.value.items[p]
    if isinstance(node.value, DictVal) and path[-1] in node.value.items:
        old = node.value.items[path[-1]]
        node.value.items[path[-1]] = V(old.value, source, old.span)
