"""Line splitting as LSP defines it, for pygls' incremental text sync.

pygls 2.1 splits documents with ``str.splitlines``, which also breaks lines at form feed,
``\\x1c``-``\\x1e``, ``\\x85``, U+2028 and U+2029. Editors (and Python's tokenizer) end lines
only at ``\\n``, ``\\r\\n`` and ``\\r``, so an incremental edit below such a character would be
applied to the wrong line and the server's copy of the text would silently diverge. Form feeds
are common in older Python code (page breaks), so :func:`install` makes pygls' ``TextDocument``
split lines the LSP way.

:func:`install` also replaces pygls' incremental edit, which rebuilds the text line by line in
Python (about a millisecond per keystroke on a 2,000-line file), by slicing the text at the
edit's offsets; the result is the same.
"""

from __future__ import annotations

import re
from typing import Any

from pygls.workspace.text_document import TextDocument

#: Characters ``str.splitlines`` treats as line ends but LSP does not.
_EXTRA_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_EXTRA_CHARS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_EOL = re.compile(r"(\r\n|\r|\n)")
#: pygls' own incremental edit (for comparison in tests).
PYGLS_APPLY = TextDocument._apply_incremental_change


def lsp_lines(source: str) -> tuple[str, ...]:
    """``source`` split after each ``\\n``, ``\\r\\n`` or ``\\r`` (line ends kept)."""
    # One substring search per character is much faster than a regex character class.
    if not any(c in source for c in _EXTRA_CHARS):
        return tuple(source.splitlines(True))
    parts = _EOL.split(source)
    lines = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
    if parts[-1]:
        lines.append(parts[-1])
    return tuple(lines)


def _lines(self: TextDocument) -> tuple[str, ...]:
    return lsp_lines(self.source)


def apply_incremental_change(self: TextDocument, change: Any) -> None:
    """pygls' ``_apply_incremental_change`` (the same result for every range), slicing the text
    at the edit's offsets instead of rewriting it line by line."""
    lines = self.lines
    rng = self.position_codec.range_from_client_units(lines, change.range)
    start_line, start_col = rng.start.line, rng.start.character
    end_line, end_col = rng.end.line, rng.end.character
    source = self.source
    n = len(lines)
    if start_line == n:  # an edit at the very end of the file
        self._source = source + change.text
        return
    if start_line > n or start_line > end_line:
        return  # pygls drops these (every line is copied as it was)
    head = sum(map(len, lines[:start_line]))
    new = source[:head] + lines[start_line][:start_col] + change.text
    if end_line < n:
        tail = head + sum(map(len, lines[start_line : end_line + 1]))
        new += lines[end_line][end_col:] + source[tail:]
    self._source = new


def install() -> None:
    """Make every pygls ``TextDocument`` use :func:`lsp_lines` and :func:`apply_incremental_change`
    (idempotent)."""
    setattr(TextDocument, "lines", property(_lines))  # noqa: B010
    setattr(TextDocument, "_apply_incremental_change", apply_incremental_change)  # noqa: B010
