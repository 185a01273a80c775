"""Helpers for the language-server tests: open and edit documents, ask for hints and hovers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "classic_train.py"


UNSAVED = "file:///tmp/gpulens_test/train.py"


def open_doc(client: LanguageClient, text: str, uri: str = UNSAVED, version: int = 1) -> str:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=version, text=text
            )
        )
    )
    return uri


def change(
    client: LanguageClient,
    uri: str,
    version: int,
    text: str,
    start: tuple[int, int] | None = None,
    end: tuple[int, int] | None = None,
) -> None:
    """An incremental edit replacing [start, end) with ``text`` (a full change if no range)."""
    event: types.TextDocumentContentChangeEvent
    if start is None:
        event = types.TextDocumentContentChangeWholeDocument(text=text)
    else:
        end = end or start
        event = types.TextDocumentContentChangePartial(
            range=types.Range(
                start=types.Position(line=start[0], character=start[1]),
                end=types.Position(line=end[0], character=end[1]),
            ),
            text=text,
        )
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[event],
        )
    )


async def hints(
    client: LanguageClient, uri: str, start: int = 0, end: int = 1_000_000
) -> list[types.InlayHint]:
    result = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=types.Position(line=start, character=0),
                end=types.Position(line=end, character=0),
            ),
        )
    )
    return list(result or [])


#: The iteration hints (issue 2); ``labels`` reports only these unless asked for others.
ITERATION_KINDS = ("per_epoch", "total")


def hint_kind(hint: types.InlayHint) -> str | None:
    data = hint.data
    return data.get("kind") if isinstance(data, dict) else None


def iteration_hints(result: list[types.InlayHint]) -> list[types.InlayHint]:
    """The iteration hints among all of a document's hints."""
    return [h for h in result if hint_kind(h) in (*ITERATION_KINDS, None)]


def labels(
    result: list[types.InlayHint], kinds: tuple[str, ...] | None = ITERATION_KINDS
) -> list[str]:
    """The labels of the hints of ``kinds`` (all hints with ``kinds=None``)."""
    return [
        h.label if isinstance(h.label, str) else "".join(p.value for p in h.label)
        for h in result
        if kinds is None or hint_kind(h) in kinds or hint_kind(h) is None
    ]


def tooltip(hint: types.InlayHint) -> str:
    tip = hint.tooltip
    if tip is None:
        return ""
    return tip if isinstance(tip, str) else tip.value


def find(text: str, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """0-based (line, column) of ``needle`` in ``text``."""
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index)
    col = index - (text.rfind("\n", 0, index) + 1)
    return line, col


async def hover_at(client: LanguageClient, uri: str, pos: tuple[int, int]) -> str | None:
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=pos[0], character=pos[1]),
        )
    )
    if result is None:
        return None
    contents = result.contents
    return contents.value if isinstance(contents, types.MarkupContent) else str(contents)


async def alive(client: LanguageClient) -> bool:
    """The server still answers requests (hover on a document that is not open)."""
    result = await asyncio.wait_for(
        client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri="file:///nonexistent/x.py"),
                position=types.Position(line=0, character=0),
            )
        ),
        timeout=10,
    )
    return result is None


async def diagnostics(
    client: LanguageClient, uri: str, want: int | None = None, timeout: float = 10.0
) -> list[types.Diagnostic]:
    """The diagnostics published for ``uri``, waiting until some arrive (or exactly ``want``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = client.diagnostics.get(uri)
        if found is not None and (want is None or len(found) == want):
            return list(found)
        if loop.time() > deadline:
            raise AssertionError(f"no diagnostics for {uri} (have {found!r})")
        await asyncio.sleep(0.02)
