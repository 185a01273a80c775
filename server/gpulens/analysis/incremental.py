"""Incremental reading of one document: re-parse only the top-level statements an edit touched.

A :class:`ParseCache` belongs to one document (the language server keeps one per open file) and
is passed to :func:`gpulens.analysis.analyze` with each new version of the text. It remembers the
last text that parsed, split into *groups*: runs of top-level statements, each with the lines
after the previous group up to its last statement's last line (blank lines and comments before a
statement belong to it; a group boundary is always just after a complete statement, where
Python's tokenizer is back at the top level). For a new text it:

1. finds the changed character range (common prefix and suffix of the old and new text);
2. re-parses only the groups that range touches, alone, prefixed by as many newlines as lines
   before them, so that their nodes get the line numbers they have in the whole file;
3. keeps every other group's statements (the same node objects). Groups after an edit that
   added or removed lines get their line numbers shifted in place, which is much cheaper than
   re-parsing them (``ast.increment_lineno`` walks generically; this walks a list made once).

Why a group that parses alone parses the same in the whole file: the text before it is unchanged
and ends after a complete statement, so the tokenizer enters the group at the top level; if the
group parses alone, it ends at the top level too, and the next group starts at column 0 with a
statement (never ``else``/``elif``/``except``/``finally``, which would continue this one). When
the group does not parse alone (an edit that merges or splits statements, an indent that joins
a block above...), its neighbours are added; if that fails too, the whole text is parsed as
usual. The reader's per-statement work (:mod:`gpulens.analysis.symbols` parts) is kept per group
as well, keyed by the group (so by its statement objects).

Tests compare ``ast.dump(..., include_attributes=True)`` of the result with ``ast.parse`` of the
final text after random edit sequences.
"""

from __future__ import annotations

import ast
import threading
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate

from gpulens.analysis.modelcache import ModelMemo
from gpulens.analysis.symbols import (
    Part,
    Scope,
    SymbolTable,
    assemble,
    build,
    build_part,
    merge,
)

#: How many times a region that does not parse alone is widened before parsing everything.
_WIDEN = (1, 4)
#: Groups per merged run of symbol-table parts, on average.
_RUN = 16


@dataclass
class _Group:
    """Top-level statements that share no line with the next ones, and the lines before them."""

    stmts: list[ast.stmt]
    #: Last line (1-based) of the last statement.
    end_line: int
    #: Offset of the newline that ends ``end_line`` (the text's length when there is none).
    end_off: int
    #: Every node with a position (made when the group first has to move).
    nodes: list[ast.AST] | None = None
    part: Part | None = None
    #: A serial number; runs of groups are merged up to one whose serial is a multiple of
    #: :data:`_RUN` (boundaries that an edit elsewhere does not move).
    seq: int = 0

    def shift(self, lines: int, chars: int) -> None:
        self.end_off += chars
        if not lines:
            return
        self.end_line += lines
        if self.nodes is None:
            self.nodes = _positioned(self.stmts)
        for n in self.nodes:
            n.lineno += lines  # type: ignore[attr-defined]
            n.end_lineno += lines  # type: ignore[attr-defined]
        if self.part is not None:
            self.part.shift_lines(lines)


def _positioned(stmts: list[ast.stmt]) -> list[ast.AST]:
    """All nodes under ``stmts`` that carry line numbers."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(stmts)
    while stack:
        n = stack.pop()
        t = type(n)
        if "end_lineno" in t._attributes:
            out.append(n)
        for name in t._fields:
            v = getattr(n, name, None)
            if isinstance(v, ast.AST):
                stack.append(v)
            elif type(v) is list:
                stack.extend(x for x in v if isinstance(x, ast.AST))
    return out


def _first_line(st: ast.stmt) -> int:
    line: int = st.lineno
    if isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        for d in st.decorator_list:
            line = min(line, d.lineno)
    return line


def _common_prefix(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # binary search on C-speed slice comparisons
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    la, lb = len(a), len(b)
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid :] == b[lb - mid :]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _continued(text: str, newline: int) -> bool:
    """The line ending at offset ``newline`` ends with a backslash (it continues below)."""
    return text[max(newline - 2, 0) : newline].rstrip("\r").endswith("\\")


def _unsupported(text: str) -> bool:
    # Lone carriage returns end lines for Python but not for the line arithmetic here; the
    # FLUFL future import changes what parses. Both are read the ordinary way.
    return ("\r" in text and text.count("\r") != text.count("\r\n")) or "barry_as_FLUFL" in text


@dataclass
class Stats:
    """What the cache did (for tests and the benchmark)."""

    full: int = 0
    incremental: int = 0
    unchanged: int = 0
    #: Statements parsed by the last incremental update, and groups moved.
    last_parsed_lines: int = 0
    last_shifted_groups: int = 0


@dataclass
class ParseCache:
    """Per-document state for incremental parsing; see the module docstring.

    Not for concurrent use: :func:`gpulens.analysis.reader.analyze_source` holds ``lock`` while
    it reads with the cache (the symbol tables it hands out share the module scope).
    """

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    text: str | None = None
    groups: list[_Group] = field(default_factory=list, repr=False)
    stats: Stats = field(default_factory=Stats)
    _module_scope: Scope = field(
        default_factory=lambda: Scope(ast.Module(body=[], type_ignores=[]), None), repr=False
    )
    #: The module the groups make up, as last returned by :meth:`parse`.
    _last: ast.Module | None = field(default=None, repr=False)
    #: Merged runs of parts: id(first part) → (the parts, merged).
    _runs: dict[int, tuple[tuple[Part, ...], Part]] = field(default_factory=dict, repr=False)
    _seq: int = field(default=0, repr=False)
    #: The last model reading and what it read (:mod:`gpulens.analysis.modelcache`).
    models: ModelMemo = field(default_factory=ModelMemo, repr=False)

    # -- parsing ------------------------------------------------------------------------------
    def parse(self, text: str) -> ast.Module:
        """``ast.parse(text)``, positions included, made from the previous text's statements
        where the edit allows. Raises what ``ast.parse`` raises (the cache then keeps the last
        text that parsed)."""
        self._last = None
        if _unsupported(text):
            self.clear()
            return ast.parse(text)
        if self.text is not None:
            if text == self.text:
                self.stats.unchanged += 1
                return self._module()
            if self._update(text):
                self.stats.incremental += 1
                return self._module()
        tree = ast.parse(text)
        self._reset(text, tree)
        self.stats.full += 1
        self._last = tree
        return tree

    def clear(self) -> None:
        self.text = None
        self.groups = []
        self.models.clear()

    def _module(self) -> ast.Module:
        body: list[ast.stmt] = []
        for g in self.groups:
            body.extend(g.stmts)
        self._last = ast.Module(body=body, type_ignores=[])
        return self._last

    def _reset(self, text: str, tree: ast.Module) -> None:
        ends = list(accumulate(len(line) + 1 for line in text.split("\n")))
        self.text = text
        self.groups = _group(tree.body, 1, ends, len(text))

    def _update(self, new: str) -> bool:
        old = self.text
        assert old is not None
        groups = self.groups
        p = _common_prefix(old, new)
        s = _common_suffix(old, new, min(len(old), len(new)) - p)
        old_b = len(old) - s
        chars = len(new) - len(old)
        lines = new.count("\n", p, len(new) - s) - old.count("\n", p, old_b)
        # Group i covers offsets [groups[i-1].end_off + 1, groups[i].end_off + 1); the tail
        # (index len(groups)) covers what follows the last statement, end of text included.
        ext_ends = [g.end_off + 1 for g in groups]
        first = bisect_right(ext_ends, p)
        last = bisect_right(ext_ends, max(p, old_b - 1))
        n = len(groups)
        if self._whole_lines(new, p, old_b, chars, lines, first, last):
            return True
        for widen in (0, *_WIDEN):
            a = max(first - widen, 0)
            while a > 0 and _continued(new, groups[a - 1].end_off):
                a -= 1  # a backslash joins the next line to the group above
            z = min(last + widen, n)
            while True:
                start = groups[a - 1].end_off + 1 if a > 0 else 0
                end = ext_ends[z] + chars if z < n else len(new)
                if end >= len(new) or new[end - 1] == "\n" or z >= n:
                    break
                z += 1  # the edit reached the end of the region: take the next group too
            start_line = groups[a - 1].end_line + 1 if a > 0 else 1
            region = new[start:end]
            try:
                body = ast.parse("\n" * (start_line - 1) + region).body
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            ends = [start + e for e in accumulate(len(line) + 1 for line in region.split("\n"))]
            fresh = _group(body, start_line, ends, len(new))
            moved = groups[z + 1 :] if z < n else []
            for g in moved:
                g.shift(lines, chars)
            self.groups = groups[:a] + fresh + moved
            self.text = new
            self.stats.last_parsed_lines = region.count("\n") + 1
            self.stats.last_shifted_groups = len(moved) if lines else 0
            return True
        return self._suffix(new, max(first - 1, 0))

    def _whole_lines(
        self, new: str, p: int, old_b: int, chars: int, lines: int, first: int, last: int
    ) -> bool:
        """Whole lines inserted before a statement, or whole statements removed, with the
        statements around them untouched: only the inserted lines are parsed, and the
        statements after them keep their nodes (moved), as if nothing else had been edited.

        An insertion at the start of a line in the blank or comment lines before group
        ``first``'s first statement (or at its first line) that parses alone as complete
        top-level statements cannot change how the text around it parses (the text before
        ends after a complete statement; the text after starts a new one at column 0). A
        removal of everything from such a position to the end of a group's last line removes
        exactly those groups' statements."""
        old = self.text
        groups = self.groups
        n = len(groups)
        assert old is not None
        if first >= n or (p and new[p - 1] != "\n"):
            return False
        if first > 0 and _continued(old, groups[first - 1].end_off):
            return False
        lead_start = groups[first - 1].end_off + 1 if first else 0
        if not lead_start <= p <= self._stmt_start(old, first):
            return False
        if old_b == p and chars > 0:  # an insertion
            inserted = new[p : p + chars]
            if not inserted.endswith("\n"):
                return False
            start_line = new.count("\n", 0, p) + 1
            try:
                body = ast.parse("\n" * (start_line - 1) + inserted).body
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return False
            ends = [p + e for e in accumulate(len(line) + 1 for line in inserted.split("\n"))]
            fresh = _group(body, start_line, ends, len(new))
            kept, moved = groups[:first], groups[first:]
        elif chars < 0 and len(new) - (len(old) - old_b) == p:  # a removal
            if old[old_b - 1] != "\n":
                return False
            # groups first..z go whole; what else goes is blank or comment lines before the
            # next group's first statement
            z = bisect_right([g.end_off + 1 for g in groups], old_b) - 1
            if z + 1 < n and old_b > self._stmt_start(old, z + 1):
                return False
            fresh, kept, moved = [], groups[:first], groups[z + 1 :]
        else:
            return False
        for g in moved:
            g.shift(lines, chars)
        self.groups = kept + fresh + moved
        self.text = new
        self.stats.last_parsed_lines = abs(lines) if fresh else 0
        self.stats.last_shifted_groups = len(moved) if lines else 0
        return True

    def _stmt_start(self, old: str, k: int) -> int:
        """Offset of the first line of group ``k``'s first statement in the old text."""
        groups = self.groups
        start = groups[k - 1].end_off + 1 if k else 0
        lead = _first_line(groups[k].stmts[0]) - (groups[k - 1].end_line + 1 if k else 1)
        for _ in range(lead):  # the blank and comment lines before the statement
            start = old.index("\n", start) + 1
        return start

    def _suffix(self, new: str, a: int) -> bool:
        """Parse the text from group ``a`` (the one before the edit) to its end, alone: the text
        before it is unchanged and ends after a complete statement, so the whole text parses
        exactly when this does, to the same tree, or fails with the same error (raised here:
        no need to parse the unchanged statements above the edit again to find it out)."""
        groups = self.groups
        while a > 0 and _continued(new, groups[a - 1].end_off):
            a -= 1
        start = groups[a - 1].end_off + 1 if a > 0 else 0
        start_line = groups[a - 1].end_line + 1 if a > 0 else 1
        region = new[start:]
        body = ast.parse("\n" * (start_line - 1) + region).body  # SyntaxError: the text's
        ends = [start + e for e in accumulate(len(line) + 1 for line in region.split("\n"))]
        self.groups = groups[:a] + _group(body, start_line, ends, len(new))
        self.text = new
        self.stats.last_parsed_lines = region.count("\n") + 1
        self.stats.last_shifted_groups = 0
        return True

    # -- symbol table -------------------------------------------------------------------------
    def symbols(self, module: ast.Module) -> SymbolTable:
        """The symbol table of ``module``, the one :meth:`parse` just returned (unchanged groups
        reuse their part)."""
        if module is not self._last:
            return build(module)  # read the ordinary way (see _unsupported)
        scope = self._module_scope
        runs: list[Part] = []
        kept: dict[int, tuple[tuple[Part, ...], Part]] = {}
        run: list[Part] = []
        last = len(self.groups) - 1
        for i, g in enumerate(self.groups):
            if g.part is None or g.part.volatile:
                if not g.seq:
                    self._seq += 1
                    g.seq = self._seq
                g.part = build_part(g.stmts, scope)
            run.append(g.part)
            if g.seq % _RUN == 0 or i == last:
                key = tuple(run)
                hit = self._runs.get(id(run[0]))
                if hit is not None and hit[0] == key and not hit[1].volatile:
                    merged = hit[1]
                else:
                    merged = merge(run) if len(run) > 1 else run[0]
                kept[id(run[0])] = (key, merged)
                runs.append(merged)
                run = []
        self._runs = kept
        return assemble(module, scope, runs)


def _group(
    stmts: list[ast.stmt], first_line: int, line_ends: list[int], text_end: int
) -> list[_Group]:
    """Groups of ``stmts``; ``line_ends[k]`` is one past the newline ending line
    ``first_line + k`` (offsets in the whole text)."""
    out: list[_Group] = []
    for st in stmts:
        end = st.end_lineno or st.lineno
        if out and _first_line(st) <= out[-1].end_line:
            g = out[-1]
            g.stmts.append(st)
            if end > g.end_line:
                g.end_line = end
                g.end_off = min(line_ends[end - first_line] - 1, text_end)
            continue
        out.append(_Group([st], end, min(line_ends[end - first_line] - 1, text_end)))
    return out


__all__ = ["ParseCache", "Stats"]
