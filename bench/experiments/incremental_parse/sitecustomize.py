"""EXPERIMENT, not product code: how much incremental parsing would cut edit -> hints.

Put this folder first on PYTHONPATH and the language server's reader parses a file one top-level
statement at a time, reusing the statements whose text and first line did not change (a
keystroke inside a line re-parses one statement instead of 2,000 lines). It swaps the reader's
private ``_parse`` function, which only an experiment may do; the real thing belongs in the
reader behind a proper interface. Run:

    PYTHONPATH=bench/experiments/incremental_parse .venv/bin/python bench/lsp_latency.py

The stitched tree is identical to ``ast.parse`` of the whole text (checked by
``tests/lsp/test_bench_smoke.py``); text that does not parse falls back to ``ast.parse``.
"""

from __future__ import annotations

import ast

#: Lines at column 0 that continue the previous statement rather than start one.
_CONTINUATIONS = frozenset({"else", "elif", "except", "finally"})

_parsed: dict[tuple[int, str], list[ast.stmt]] = {}
_failed: set[tuple[int, str]] = set()


def _starts(lines: list[str]) -> list[int]:
    """Lines that may start a top-level statement (0-based)."""
    starts = [0]
    for i in range(1, len(lines)):
        line = lines[i]
        if not line or line[0] in " \t#)]}\f":
            continue
        head = line.split(None, 1)[0].split(":", 1)[0]
        if head in _CONTINUATIONS:
            continue
        starts.append(i)
    return starts


def incremental_parse(text: str) -> ast.Module:
    lines = text.split("\n")
    starts = _starts(lines)
    body: list[ast.stmt] = []
    i, n = 0, len(starts)
    while i < n:
        j = i + 1
        while True:
            a = starts[i]
            b = starts[j] if j < n else len(lines)
            key = (a, "\n".join(lines[a:b]))
            stmts = _parsed.get(key)
            if stmts is None and key not in _failed:
                try:
                    # Leading newlines give the nodes their line numbers in the whole file.
                    stmts = ast.parse("\n" * a + key[1]).body
                    _parsed[key] = stmts
                except SyntaxError:
                    _failed.add(key)
            if stmts is None:
                if j >= n:
                    return ast.parse(text)  # the whole text does not parse: the usual path
                j += 1  # a statement spanning several chunks (decorators, strings, brackets)
                continue
            body.extend(stmts)
            i = j
            break
    if len(_parsed) > 20_000:
        _parsed.clear()
        _failed.clear()
    return ast.Module(body=body, type_ignores=[])


def _install() -> None:
    try:
        import gpulens.analysis.reader as reader
    except ImportError:
        return
    reader._parse = incremental_parse  # type: ignore[attr-defined]


_install()
