"""The server's incremental edit gives the same text as pygls' own, for any range."""

from __future__ import annotations

import random

from gpulens.lsp import textsync
from lsprotocol import types
from pygls.workspace.text_document import TextDocument


def test_incremental_change_matches_pygls() -> None:
    textsync.install()
    rng = random.Random(7)
    pieces = ["a", "bc", "\n", "\r\n", "\r", "\x0c", "é", "😀", "  ", "x = 1\n"]
    for _ in range(600):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        n = len(textsync.lsp_lines(text))
        sl, el = rng.randint(0, n + 1), rng.randint(0, n + 1)
        if rng.random() < 0.8:
            sl, el = min(sl, el), max(sl, el)
        change = types.TextDocumentContentChangePartial(
            range=types.Range(
                start=types.Position(line=sl, character=rng.randint(0, 6)),
                end=types.Position(line=el, character=rng.randint(0, 6)),
            ),
            text=rng.choice(["", "z", "\n", "q\r\nw", "😀"]),
        )
        ours = TextDocument("file:///t.py", text)
        textsync.apply_incremental_change(ours, change)
        theirs = TextDocument("file:///t.py", text)
        textsync.PYGLS_APPLY(theirs, change)
        assert ours.source == theirs.source, (text, change)
