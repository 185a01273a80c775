"""The script's own modules: ``from model import GPT`` reads ``model.py`` beside the script.

Training scripts keep their model in a module of their own (nanoGPT's ``model.py``, a
``models/`` package). When a name the script imports comes from a file next to it (or from a
package directory there), the reader reads that file too: its classes, functions and constants
become what the imported name stands for, read with that file's own imports and globals. Only
the names the script imports are followed; the module's top-level code (a ``__main__`` block, a
demo) is never read as the script's.

Positions: nodes of another file carry it (:func:`file_of`); the model reader gives them no
position in the script (their layers get no inlay hint there) and source excerpts come from
their own file. Files are read at most ``MAX_MODULE_BYTES`` and parsed once per content.
"""

from __future__ import annotations

import ast
import os
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass

from gpulens.analysis.modelcache import note_file
from gpulens.analysis.symbols import SymbolTable, build

__all__ = [
    "LocalModule",
    "file_of",
    "find_module_file",
    "load_module",
    "split_member",
    "star_closure",
    "star_modules",
]

#: Larger files are not read (a vendored library, generated code).
MAX_MODULE_BYTES = 1_000_000
#: How deep ``from a.b.c import X`` may go.
_MAX_PARTS = 6
#: Never looked for beside the script: the standard library and the libraries training
#: scripts import (most imports of a script are these).
_LIBRARIES = frozenset(sys.stdlib_module_names) | {
    "torch", "torchvision", "torchaudio", "torchtext", "numpy", "scipy", "pandas", "sklearn",
    "transformers", "datasets", "accelerate", "lightning", "pytorch_lightning", "deepspeed",
    "timm", "peft", "trl", "wandb", "tqdm", "hydra", "omegaconf", "yaml", "PIL", "cv2",
    "matplotlib", "tensorboard", "einops", "tiktoken", "safetensors", "huggingface_hub",
}  # fmt: skip


def is_library(top_level: str) -> bool:
    """``torch``, ``os``, ``numpy``: a module that is never the user's own."""
    return top_level in _LIBRARIES


@dataclass(eq=False)
class LocalModule:
    """A module of the user's read for the script: its text and symbol table."""

    name: str
    path: str
    lines: list[str]
    tree: ast.Module
    table: SymbolTable


def file_of(node: object) -> LocalModule | None:
    """The module a node of another file belongs to (None for the script's own nodes)."""
    mod = getattr(node, "_gpulens_module", None)
    return mod if isinstance(mod, LocalModule) else None


def find_module_file(script_path: str | None, module: str) -> str | None:
    """``model`` → ``<script dir>/model.py``; ``models.resnet`` → ``models/resnet.py`` (or a
    package's ``__init__.py``). None when the script has no path or no such file is there.
    Every path looked at is noted (a file that appears later changes what is read)."""
    if not script_path or not module or module.startswith("."):
        return None
    parts = module.split(".")
    if parts[0] in _LIBRARIES:
        return None  # (a file of the user's named like a library would shadow it: not read)
    return _find_in(os.path.dirname(os.path.abspath(script_path)), parts, script_path)


def _find_in(directory: str, parts: list[str], script_path: str) -> str | None:
    if len(parts) > _MAX_PARTS or not all(p.isidentifier() for p in parts):
        return None
    base = os.path.join(directory, *parts)
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        note_file(candidate)
        if os.path.isfile(candidate):
            if os.path.abspath(candidate) == os.path.abspath(script_path):
                return None  # the script itself
            return candidate
    return None


_cache: OrderedDict[tuple[str, str], LocalModule] = OrderedDict()
_lock = threading.Lock()
_CACHE_SIZE = 16


def load_module(path: str, name: str) -> LocalModule | None:
    """The module at ``path`` read and parsed (None when it cannot be read or parsed)."""
    note_file(path)
    try:
        if os.path.getsize(path) > MAX_MODULE_BYTES:
            return None
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    key = (path, text)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    try:
        tree = ast.parse(text.replace("\x00", " "))
        table = build(tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    mod = LocalModule(name, path, text.splitlines(), tree, table)
    for node in ast.walk(tree):
        node._gpulens_module = mod  # type: ignore[attr-defined]
    with _lock:
        _cache[key] = mod
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return mod


def star_modules(tree: ast.Module, path: str | None, script_path: str | None) -> list[LocalModule]:
    """The user's modules a file pulls in whole at its top level (``from models import *``;
    in a package, ``from .resnet import *``, found from the package's directory)."""
    if not script_path:
        return []
    out: list[LocalModule] = []
    for st in tree.body:
        if not isinstance(st, ast.ImportFrom) or not any(a.name == "*" for a in st.names):
            continue
        parts = (st.module or "").split(".") if st.module else []
        if st.level:
            directory = os.path.dirname(os.path.abspath(path or script_path))
            for _ in range(st.level - 1):
                directory = os.path.dirname(directory)
            found = _find_in(directory, parts, script_path) if parts else None
        else:
            found = find_module_file(script_path, st.module or "")
        if found is not None:
            mod = load_module(found, st.module or "")
            if mod is not None:
                out.append(mod)
    return out


def star_closure(
    tree: ast.Module, path: str | None, script_path: str | None, depth: int = 3
) -> list[LocalModule]:
    """The user's modules a file gets names from through star imports, nearest first: its own
    star imports, then theirs (a package's ``from .resnet import *``), ``depth`` levels down,
    each module once."""
    out: list[LocalModule] = []
    seen: set[str] = set()
    level = star_modules(tree, path, script_path)
    for _ in range(depth + 1):
        nxt: list[LocalModule] = []
        for mod in level:
            if mod.path not in seen:
                seen.add(mod.path)
                out.append(mod)
                nxt += star_modules(mod.tree, mod.path, script_path)
        level = nxt
    return out


def split_member(
    script_path: str | None, dotted: str, near: str | None = None
) -> tuple[str, str, str] | None:
    """``model.GPT`` → (file of ``model``, ``model``, ``GPT``): the module part of a dotted
    import name when it is a file of the user's, and the member named after it. ``near``: the
    directory of the importing module of a package (``from .blocks import Block`` in
    ``models/resnet.py`` is ``models/blocks.py``), looked in after the script's."""
    parts = dotted.split(".")
    if len(parts) < 2:
        return None
    module, member = ".".join(parts[:-1]), parts[-1]
    path = find_module_file(script_path, module)
    if path is None and near is not None and script_path and parts[0] not in _LIBRARIES:
        path = _find_in(near, parts[:-1], script_path)
    if path is None:
        return None
    return path, module, member
