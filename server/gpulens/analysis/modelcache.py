"""Reusing a document's model reading across edits that cannot change it (issue 2's budget).

Reading the models (building every model class, tracing ``forward()``) is the costliest part
of an edit's analysis, and most edits cannot change it: a batch size typed, a docstring of an
unused class, a line of the evaluation loop. :class:`ModelMemo` (one per document, kept by its
:class:`~gpulens.analysis.incremental.ParseCache`) keeps the last reading and *what it read*,
and reuses it for the next version of the text when none of that changed.

What the reading read is recorded while it runs (:func:`recording`): the symbol table's
dictionaries the reader reaches code through (the module's bindings, its classes, functions and
imports, the index of calls by name) are swapped for :class:`RecordingDict` copies that note
every key asked for, and whether anything iterated over them; the files read (config files);
and the lines of everything those look-ups returned. The few scans the model reader makes over
the whole module (:func:`gpulens.analysis.models.discover`'s search for model assignments) do
not go through the recording: they are re-checked statement by statement instead.

For a new version, the incremental parser says which top-level statements are new (unchanged
statements keep their node objects). The reading is reused when

- the inputs outside the tree are the same: the reader's facts other than the batch size (which
  only the batch-dependent step after the reading uses), script arguments and environment, the
  training loader and loop found, the optimizer calls, the names ``discover`` treats as
  constructors, the files read (same size and modification time);
- no statement removed or added binds a name that was looked up (or any name, when a
  dictionary was iterated), calls a function by a name that was looked up in the call index,
  assigns a call ``discover`` would follow, declares ``global``/``nonlocal``, or ``exec``\\ s;
- when the edit moved lines, everything the reading reached lies above the first changed
  statement (positions in the results stay right).

Everything else falls back to reading the models again. Tests compare the models and the
estimate of texts read with and without the memo after random edits.
"""

from __future__ import annotations

import ast
import threading
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from gpulens.analysis.symbols import call_name

__all__ = [
    "ModelMemo",
    "ReadRecord",
    "RecordingDict",
    "note_file",
    "note_replay",
    "recording",
    "roots",
]

_local = threading.local()


def note_file(path: str) -> None:
    """A config file is read (or looked for) at ``path``: part of what a recording depends on."""
    rec: ReadRecord | None = getattr(_local, "record", None)
    if rec is not None and path not in rec.files:
        rec.files[path] = _stat(path)


def note_replay(name: str) -> None:
    """The model reader replays the script-level statements that mention ``name`` (a model
    variable: ``model.fc = nn.Linear(num_ftrs, 5)``): every statement mentioning it matters."""
    rec: ReadRecord | None = getattr(_local, "record", None)
    if rec is not None:
        rec.replayed.add(name)


def _stat(path: str) -> int | None:
    """A digest of the file's content (a config file is small; modification times can be too
    coarse to tell two quick writes apart), None when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return hash(fh.read(_MAX_FILE))
    except OSError:
        return None


#: Bytes of a file the digest covers (config files are read up to 1 MB).
_MAX_FILE = 1_000_001


class RecordingDict(dict[Any, Any]):
    """A dict that notes the keys asked for and whether it was iterated (see the module
    docstring). Only the reads the reader makes through its methods are seen; C-level copies
    (``dict(d)``, ``{**d}``) go through ``keys()`` for a subclass, which counts as iterating."""

    __slots__ = ("got", "keys_read", "scanned")

    def __init__(self, data: dict[Any, Any]) -> None:
        super().__init__(data)
        self.keys_read: set[Any] = set()
        self.got: list[Any] = []
        self.scanned = False

    def get(self, key: Any, default: Any = None) -> Any:
        self.keys_read.add(key)
        value = dict.get(self, key, default)
        if value is not default:
            self.got.append(value)
        return value

    def __getitem__(self, key: Any) -> Any:
        self.keys_read.add(key)
        value = dict.__getitem__(self, key)
        self.got.append(value)
        return value

    def __contains__(self, key: object) -> bool:
        self.keys_read.add(key)
        return dict.__contains__(self, key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self.keys_read.add(key)
        return dict.setdefault(self, key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        self.keys_read.add(key)
        return dict.pop(self, key, *default)

    def __iter__(self) -> Iterator[Any]:
        self.scanned = True
        return dict.__iter__(self)

    def keys(self) -> Any:
        self.scanned = True
        return dict.keys(self)

    def values(self) -> Any:
        self.scanned = True
        return dict.values(self)

    def items(self) -> Any:
        self.scanned = True
        return dict.items(self)

    def copy(self) -> dict[Any, Any]:
        self.scanned = True
        return dict(dict.items(self))

    def __len__(self) -> int:
        self.scanned = True  # emptiness says something about every key
        return dict.__len__(self)


def roots(names: set[Any]) -> set[str]:
    """``args.lr`` → ``args``, ``cfg['bs']`` → ``cfg``: the names a binding of those hangs on."""
    out: set[str] = set()
    for n in names:
        if isinstance(n, str):
            cut = len(n)
            for sep in (".", "["):
                i = n.find(sep)
                if i != -1 and i < cut:
                    cut = i
            out.add(n[:cut])
    return out


@dataclass
class ReadRecord:
    """What one model reading read (see the module docstring)."""

    #: Names asked of the module's bindings, classes, functions and imports (roots).
    names: set[str] = field(default_factory=set)
    #: Keys asked of the call index.
    call_keys: set[str] = field(default_factory=set)
    #: Some dictionary of module-level names was iterated: any binding may matter.
    names_scanned: bool = False
    #: The call index was iterated: any call may matter.
    calls_scanned: bool = False
    #: Files read or looked for → a digest of their content, None when absent.
    files: dict[str, int | None] = field(default_factory=dict)
    #: The last line of the last top-level statement anything read lies in.
    reached_end: int = 0
    #: The names :func:`~gpulens.analysis.models.discover` follows assignments of calls to,
    #: and whether it also follows torchvision-like constructors (``resnet50``) by their form.
    discover_names: frozenset[str] = frozenset()
    constructor_form: bool = False
    #: Variables whose script-level statements were replayed (see :func:`note_replay`).
    replayed: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Stmt:
    """What a top-level statement could change in a model reading."""

    #: Module-level names it binds (roots of dotted targets; defs, classes, imports).
    binds: frozenset[str]
    #: Names of every function or method it calls (``f`` of ``f()``, ``m`` of ``x.m()``).
    calls: frozenset[str]
    #: It calls something that has no such name (``table[k]()``, ``f()()``).
    dynamic_call: bool
    #: Names called by assignments of a call to a name (what ``discover`` follows), and whether
    #: one assigns a call with no name or a conditional expression holding a call.
    assigned_calls: frozenset[str]
    assigned_dynamic: bool
    #: ``global``/``nonlocal``, ``exec``, star imports, ``match``: it is always re-read.
    opaque: bool
    #: Every name it mentions.
    mentions: frozenset[str] = frozenset()


def _target_roots(t: ast.expr, out: set[str]) -> None:
    if isinstance(t, ast.Name):
        out.add(t.id)
    elif isinstance(t, ast.Attribute | ast.Subscript | ast.Starred):
        _target_roots(t.value, out)
    elif isinstance(t, ast.Tuple | ast.List):
        for e in t.elts:
            _target_roots(e, out)


def summarize(st: ast.stmt) -> _Stmt:
    """:class:`_Stmt` of one top-level statement (one walk over it)."""
    binds: set[str] = set()
    calls: set[str] = set()
    assigned: set[str] = set()
    mentions: set[str] = set()
    dynamic = assigned_dynamic = opaque = False
    # module-level bindings: statements not inside a def, class or lambda
    module_level: list[ast.AST] = [st]
    while module_level:
        n = module_level.pop()
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            binds.add(n.name)
            continue
        if isinstance(n, ast.Assign):
            for t in n.targets:
                _target_roots(t, binds)
        elif isinstance(n, ast.AugAssign | ast.AnnAssign | ast.For | ast.AsyncFor):
            _target_roots(n.target, binds)
        elif isinstance(n, ast.With | ast.AsyncWith):
            for item in n.items:
                if item.optional_vars is not None:
                    _target_roots(item.optional_vars, binds)
        elif isinstance(n, ast.Import | ast.ImportFrom):
            for a in n.names:
                if a.name == "*":
                    opaque = True
                binds.add(a.asname or a.name.split(".")[0])
        elif isinstance(n, ast.ExceptHandler) and n.name:
            binds.add(n.name)
        elif isinstance(n, ast.Delete):
            for t in n.targets:
                _target_roots(t, binds)
        elif isinstance(n, ast.NamedExpr):
            _target_roots(n.target, binds)
        elif isinstance(n, ast.Lambda):
            continue
        for child in ast.iter_child_nodes(n):
            if isinstance(child, ast.stmt | ast.ExceptHandler | ast.NamedExpr | ast.match_case):
                module_level.append(child)
            elif isinstance(child, ast.expr):
                module_level.extend(x for x in ast.walk(child) if isinstance(x, ast.NamedExpr))
    for n in ast.walk(st):
        if isinstance(n, ast.Name):
            mentions.add(n.id)
        elif isinstance(n, ast.Call):
            name = call_name(n)
            if name is None:
                dynamic = True
            else:
                calls.add(name)
                if name == "exec":
                    opaque = True
        elif isinstance(n, ast.Global | ast.Nonlocal | ast.Match):
            opaque = True
        elif isinstance(n, ast.Assign | ast.AnnAssign | ast.NamedExpr):
            # what discover follows: a call (or a conditional one) assigned to a plain name
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            value = n.value
            if not any(isinstance(t, ast.Name) for t in targets):
                continue
            if isinstance(value, ast.Call):
                name = call_name(value)
                if name is None or isinstance(value.func, ast.Subscript | ast.Call):
                    assigned_dynamic = True
                if name is not None:
                    assigned.add(name)
            elif isinstance(value, ast.IfExp) and any(
                isinstance(x, ast.Call) for x in (value.body, value.orelse)
            ):
                assigned_dynamic = True
    return _Stmt(
        frozenset(binds),
        frozenset(calls),
        dynamic,
        frozenset(assigned),
        assigned_dynamic,
        opaque,
        frozenset(mentions),
    )


@contextmanager
def recording(table: Any, ev: Any, body: list[ast.stmt]) -> Iterator[ReadRecord]:
    """Record what the model reading does with ``table`` (the reader's symbol table) and
    ``ev`` (its evaluator) inside the block; the table's dictionaries are restored after."""
    rec = ReadRecord()
    module = table.module
    saved = (module.bindings, table.classes, table.functions, table.imports)
    index = ev.call_index()
    wrapped = [RecordingDict(d) for d in saved]
    calls = RecordingDict(index)
    module.bindings, table.classes, table.functions, table.imports = wrapped
    table.index = calls
    ev._callers = calls
    previous = getattr(_local, "record", None)
    _local.record = rec
    try:
        yield rec
    finally:
        _local.record = previous
        module.bindings, table.classes, table.functions, table.imports = saved
        table.index = index
        ev._callers = index
        for d, orig in zip(wrapped, saved, strict=True):
            for k, v in dict.items(d):  # entries the reading added (it should not)
                if k not in orig:
                    orig[k] = v
            rec.names |= roots(d.keys_read)
            rec.names_scanned = rec.names_scanned or d.scanned
        rec.call_keys = {k for k in calls.keys_read if isinstance(k, str)}
        rec.calls_scanned = calls.scanned
        lines = [0]
        for d in (*wrapped, calls):
            for got in d.got:
                _lines_of(got, lines)
        rec.reached_end = _statement_end(body, max(lines))


def _lines_of(x: Any, out: list[int]) -> None:
    """Lines of what a look-up returned: bindings, nodes, (call, scope) pairs, lists of them."""
    if isinstance(x, list | tuple):
        for y in x:
            _lines_of(y, out)
        return
    line = getattr(x, "end_lineno", None) or getattr(x, "line", None)
    if isinstance(line, int):
        out.append(line)


def _statement_end(body: list[ast.stmt], line: int) -> int:
    """The last line of the top-level statement of ``body`` that holds ``line``."""
    if not body or line <= 0:
        return line
    starts = [_first_line(st) for st in body]
    i = bisect_right(starts, line) - 1
    if i < 0:
        return line
    return max(line, getattr(body[i], "end_lineno", None) or line)


def _starts(body: list[ast.stmt]) -> list[int]:
    # (a statement's decorators move with it: its own line tells whether it moved)
    return [st.lineno for st in body]


def _shift(e: _Entry, body: list[ast.stmt], by: int) -> Shift | str | None:
    """Where the stored reading's lines start to move: the first statement kept from the stored
    version whose first line is not the one it had (the nodes were moved in place); None when
    none moved (lines added or removed after the last statement)."""
    kept = {id(st) for st in body}
    for st, was in zip(e.body, e.starts, strict=True):
        if id(st) in kept and st.lineno != was:
            if st.lineno - was != by:
                return "lines moved unevenly"
            return Shift(_first_line(st) - by, by)
    return None


def _first_line(st: ast.stmt) -> int:
    decos = getattr(st, "decorator_list", None)
    return min([st.lineno, *(d.lineno for d in decos)]) if decos else st.lineno


@dataclass
class _Entry:
    key: tuple[Any, ...]
    record: ReadRecord
    body: list[ast.stmt]
    total_lines: int
    value: Any
    #: First lines of ``body``'s statements when it was stored (the nodes move in place).
    starts: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Shift:
    """Lines from ``at`` on (in the stored reading's numbering) moved by ``by``."""

    at: int
    by: int

    def line(self, n: int) -> int:
        return n + self.by if n >= self.at else n


@dataclass
class ModelMemo:
    """The last model reading of one document and what it read (see the module docstring)."""

    entry: _Entry | None = None
    #: Summaries of statements met so far, by node id (pruned to the current text's).
    _summaries: dict[int, tuple[ast.stmt, _Stmt]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0
    #: Why the last reading was not reused (for tests and logs).
    last_miss: str = ""
    #: Reuses that had to move the reading's positions (lines added or removed above it).
    shifted: int = 0

    def clear(self) -> None:
        self.entry = None
        self._summaries.clear()

    def store(
        self,
        key: tuple[Any, ...],
        record: ReadRecord,
        body: list[ast.stmt],
        total_lines: int,
        value: Any,
    ) -> None:
        self.entry = _Entry(key, record, list(body), total_lines, value, _starts(body))
        self._prune(body)

    def _prune(self, body: list[ast.stmt]) -> None:
        if len(self._summaries) > 2 * len(body) + 64:
            live = {id(st) for st in body}
            self._summaries = {k: v for k, v in self._summaries.items() if k in live}

    def reuse(
        self, key: tuple[Any, ...], body: list[ast.stmt], total_lines: int
    ) -> tuple[Any, Shift | None] | None:
        """The stored reading when it holds for this version (``key`` and ``body``), and
        how its positions moved (None: they did not), or None (:attr:`last_miss` says why).
        A caller that gets a shift stores the moved reading back with :meth:`replace`."""
        why = self._why_not(key, body, total_lines)
        if isinstance(why, str):
            self.misses += 1
            self.last_miss = why
            return None
        self.hits += 1
        e = self.entry
        assert e is not None
        if why is not None:
            self.shifted += 1
            e.record.reached_end = why.line(e.record.reached_end)
        e.body = list(body)
        e.starts = _starts(body)
        e.total_lines = total_lines
        self._prune(body)
        return e.value, why

    def replace(self, value: Any) -> None:
        """The stored reading, its positions moved (see :meth:`reuse`)."""
        if self.entry is not None:
            self.entry.value = value

    def _summary(self, st: ast.stmt) -> _Stmt:
        hit = self._summaries.get(id(st))
        if hit is not None and hit[0] is st:
            return hit[1]
        s = summarize(st)
        self._summaries[id(st)] = (st, s)
        return s

    def _why_not(
        self, key: tuple[Any, ...], body: list[ast.stmt], total_lines: int
    ) -> str | Shift | None:
        e = self.entry
        if e is None:
            return "nothing read yet"
        if key != e.key:
            return "inputs outside the edited statements changed"
        rec = e.record
        for path, stat in rec.files.items():
            if _stat(path) != stat:
                return f"{path} changed"
        new_ids = {id(st) for st in body}
        old_ids = {id(st) for st in e.body}
        removed = [st for st in e.body if id(st) not in new_ids]
        added = [st for st in body if id(st) not in old_ids]
        changed = removed + added
        for st in changed:
            s = self._summary(st)
            why = _matters(s, rec)
            if why is not None:
                return f"line {st.lineno}: {why}"
        if total_lines != e.total_lines:
            moved = _shift(e, body, total_lines - e.total_lines)
            if moved is None or isinstance(moved, str):
                return moved
            if moved.at > rec.reached_end:
                return None  # everything read lies above the lines that moved
            # what was read moved: its positions can move with it, unless some came from
            # other files (their lines did not move, and texts do not say whose they are)
            if any(digest is not None for digest in rec.files.values()):
                return "lines the models were read from moved"
            return moved
        return None


def _matters(s: _Stmt, rec: ReadRecord) -> str | None:
    if s.opaque:
        return "global, exec, a star import or match"
    if s.binds and (rec.names_scanned or not s.binds.isdisjoint(rec.names)):
        return "binds a name the models read"
    if not s.mentions.isdisjoint(rec.replayed):
        return "mentions a model the reading followed through the script"
    if (s.calls or s.dynamic_call) and rec.calls_scanned:
        return "a call (every call was looked at)"
    if not s.calls.isdisjoint(rec.call_keys):
        return "a call the models read"
    if s.assigned_dynamic:
        return "assigns a call the model search follows"
    if not s.assigned_calls.isdisjoint(rec.discover_names):
        return "assigns a call the model search follows"
    if rec.constructor_form and any(constructor_like(k) for k in s.assigned_calls):
        return "assigns a call the model search follows"
    return None


def constructor_like(name: str) -> bool:
    """``resnet50``, ``fasterrcnn_resnet50_fpn``: a lower-case name with a digit."""
    return name[:1].islower() and any(c.isdigit() for c in name)
