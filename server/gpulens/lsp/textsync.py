"""Line splitting as LSP defines it, for pygls' incremental text sync.

pygls 2.1 splits documents with ``str.splitlines``, which also breaks lines at form feed,
``\\x1c``-``\\x1e``, ``\\x85``, U+2028 and U+2029. Editors (and Python's tokenizer) end lines
only at ``\\n``, ``\\r\\n`` and ``\\r``, so an incremental edit below such a character would be
applied to the wrong line and the server's copy of the text would silently diverge. Form feeds
are common in older Python code (page breaks), so :func:`install` makes pygls' ``TextDocument``
split lines the LSP way.
"""

from __future__ import annotations

import re

from pygls.workspace.text_document import TextDocument

#: Characters ``str.splitlines`` treats as line ends but LSP does not.
_EXTRA_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_EOL = re.compile(r"(\r\n|\r|\n)")


def lsp_lines(source: str) -> tuple[str, ...]:
    """``source`` split after each ``\\n``, ``\\r\\n`` or ``\\r`` (line ends kept)."""
    if not _EXTRA_BREAKS.search(source):
        return tuple(source.splitlines(True))
    parts = _EOL.split(source)
    lines = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
    if parts[-1]:
        lines.append(parts[-1])
    return tuple(lines)


def _lines(self: TextDocument) -> tuple[str, ...]:
    return lsp_lines(self.source)


def install() -> None:
    """Make every pygls ``TextDocument`` use :func:`lsp_lines` (idempotent)."""
    setattr(TextDocument, "lines", property(_lines))  # noqa: B010
