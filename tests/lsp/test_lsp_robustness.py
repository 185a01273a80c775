"""Bad input never takes the server down, and the hints always end up matching the text."""

from __future__ import annotations

import random

from gpulens.analysis import analyze
from lsp_support import (
    EXAMPLE,
    alive,
    change,
    find,
    hints,
    hover_at,
    iteration_hints,
    labels,
    open_doc,
    tooltip,
)
from lsprotocol import types
from pytest_lsp import LanguageClient

CLASSIC = EXAMPLE.read_text(encoding="utf-8")


def expected_labels(text: str) -> list[str]:
    """What the hints should say for ``text``, straight from the reader."""
    it = analyze(text).iterations
    per_epoch = "?" if it.per_epoch is None else f"{it.per_epoch:,}"
    total = "?" if it.total is None else f"{it.total:,}"
    return [f"{per_epoch} it/epoch", f"{total} it"]


async def test_syntax_error_keeps_last_good_hints(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC)
    before = iteration_hints(await hints(client, uri))
    assert labels(before) == ["12 it/epoch", "60 it"]
    # Start typing a new function above the loop: the text no longer parses.
    line = find(CLASSIC, "for epoch in range(EPOCHS)")[0]
    change(client, uri, 2, "def evaluate(model, \n\n", start=(line, 0))
    after = iteration_hints(await hints(client, uri))
    assert labels(after) == ["12 it/epoch", "60 it"]
    assert after[0].position == before[0].position  # above the edit: unchanged
    assert after[1].position.line == before[1].position.line + 2  # below: moved with the text
    # Finish the line: the text parses again and the note goes away.
    change(client, uri, 3, "):\n    pass", start=(line, len("def evaluate(model, ")))
    fixed = iteration_hints(await hints(client, uri))
    assert labels(fixed) == ["12 it/epoch", "60 it"]
    assert "last result that parsed" not in tooltip(fixed[1])


async def test_broken_dataloader_line_keeps_last_good_result(client: LanguageClient) -> None:
    """While the DataLoader line itself does not parse, the last good numbers stay on screen
    (the hint on the line being edited is dropped: its position is no longer known)."""
    uri = open_doc(client, CLASSIC)
    await hints(client, uri)
    line, col = find(CLASSIC, "loader = DataLoader(")
    change(client, uri, 2, "((", start=(line, col))  # breaks the DataLoader line itself
    every = await hints(client, uri)
    result = iteration_hints(every)
    assert labels(result) == ["60 it"]
    assert "last result that parsed" in tooltip(result[0])
    assert all("last result that parsed" in tooltip(h) for h in every)
    hover_line, hover_col = find(CLASSIC, "lr=LEARNING_RATE")
    hover = await hover_at(client, uri, (hover_line, hover_col + 4))
    assert hover is not None and "0.001" in hover and "last result that parsed" in hover
    change(client, uri, 3, "", start=(line, col), end=(line, col + 2))
    fixed = iteration_hints(await hints(client, uri))
    assert labels(fixed) == ["12 it/epoch", "60 it"]
    assert "last result that parsed" not in tooltip(fixed[1])


async def test_half_typed_file(client: LanguageClient) -> None:
    """Type the classic example into an empty document, 17 characters at a time."""
    uri = open_doc(client, "")
    text = ""
    version = 1
    for i in range(0, len(CLASSIC), 17):
        chunk = CLASSIC[i : i + 17]
        lines = text.split("\n")
        change(client, uri, version + 1, chunk, start=(len(lines) - 1, len(lines[-1])))
        version += 1
        text += chunk
        if version % 10 == 0:
            await hints(client, uri)  # must answer, whatever the half-typed text says
    assert text == CLASSIC
    assert labels(await hints(client, uri)) == ["12 it/epoch", "60 it"]


async def test_storm_of_500_edits(client: LanguageClient) -> None:
    """500 incremental edits without waiting; afterwards the hints match the final text."""
    uri = open_doc(client, CLASSIC)
    rng = random.Random(2)
    text = CLASSIC
    version = 1
    for n in range(500):
        lines = text.split("\n")
        if n % 5 == 4:
            # Rewrite the batch size constant.
            line, col = find(text, "BATCH_SIZE = ")
            col += len("BATCH_SIZE = ")
            old_end = col + len(lines[line]) - col
            new_value = str(rng.choice([50, 100, 200, 300, 400, 1200, 7]))
            edit = (new_value, (line, col), (line, old_end))
        else:
            # Type or delete inside a comment at the end of a random line.
            line = rng.randrange(len(lines))
            col = len(lines[line])
            if "#" in lines[line] and rng.random() < 0.5 and lines[line].endswith("x"):
                edit = ("", (line, col - 1), (line, col))
            elif not lines[line].strip().startswith('"') and '"""' not in lines[line]:
                edit = (("  # x" if "#" not in lines[line] else "x"), (line, col), (line, col))
            else:
                continue
        new_text, start, end = edit
        version += 1
        change(client, uri, version, new_text, start=start, end=end)
        lines[start[0]] = lines[start[0]][: start[1]] + new_text + lines[end[0]][end[1] :]
        text = "\n".join(lines)
        if n % 97 == 0:
            await hints(client, uri)
    result = await hints(client, uri)
    assert labels(result) == expected_labels(text)
    loader_line = find(text, "loader = DataLoader(")[0]
    assert result[0].position.line == loader_line


async def test_empty_file(client: LanguageClient) -> None:
    uri = open_doc(client, "")
    assert await hints(client, uri) == []
    assert await hover_at(client, uri, (0, 0)) is None
    assert await alive(client)


async def test_non_utf8_text(client: LanguageClient) -> None:
    """What an editor sends for a file with invalid UTF-8: U+FFFD, or lone surrogates."""
    text = (
        "# caf\ufffd \ufffd\ufffd latin-1 bytes decoded with replacement\n"
        "# lone surrogates: \udcff\udc80 and \ud800\n"
        "NAME = 'na\udcefve'\n" + CLASSIC
    )
    uri = open_doc(client, text)
    result = await hints(client, uri)
    assert labels(result) == ["12 it/epoch", "60 it"]
    assert result[0].position.line == find(text, "loader = DataLoader(")[0]
    assert await alive(client)


async def test_non_ascii_columns_are_utf16(client: LanguageClient) -> None:
    """Columns count UTF-16 code units, whatever the reader counts in."""
    text = CLASSIC.replace(
        "loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)",
        "loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)  # 数据 🙂",
    ).replace("dataset = TensorDataset", "données = 1\ndataset = TensorDataset")
    text = text.replace(
        "loader = DataLoader(dataset,", "loader = DataLoader(dataset if 'é🙂' else 0,"
    )
    uri = open_doc(client, text)
    result = await hints(client, uri)
    assert labels(result) == ["12 it/epoch", "60 it"]
    line, col = find(text, "BATCH_SIZE, shuffle")
    # 'é' is 1 UTF-16 unit (2 UTF-8 bytes), '🙂' is 2 units (4 bytes).
    assert result[0].position.line == line
    assert result[0].position.character == col + len("BATCH_SIZE") + 1  # '🙂' counts 2 here
    hover = await hover_at(client, uri, (line, col + 2))
    assert hover is not None and "100" in hover


async def test_20000_line_file(client: LanguageClient) -> None:
    filler = "\n".join(
        f"def helper_{i}(x):\n    return x * {i} + len(str(x))  # filler line\n"
        for i in range(6700)
    )
    text = CLASSIC + "\n" + filler + "\n"
    assert text.count("\n") >= 20000
    uri = open_doc(client, text)
    assert labels(await hints(client, uri)) == ["12 it/epoch", "60 it"]
    # An edit at the very end still gives the right hints.
    last = text.count("\n")
    change(client, uri, 2, "EXTRA = 1\n", start=(last, 0))
    assert labels(await hints(client, uri)) == ["12 it/epoch", "60 it"]
    assert await alive(client)


async def test_5000_deep_nesting(client: LanguageClient) -> None:
    deep_parens = "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n"
    deep_sum = "y = " + " + ".join(["1"] * 5000) + "\n"
    deep_attr = "z = a" + ".b" * 5000 + "\n"
    deep_calls = "w = " + "f(" * 5000 + ")" * 5000 + "\n"
    deep_blocks = "".join("    " * i + "if x:\n" for i in range(5000)) + "    " * 5000 + "pass\n"
    for n, extra in enumerate([deep_parens, deep_sum, deep_attr, deep_calls, deep_blocks]):
        uri = open_doc(client, CLASSIC + extra, uri=f"file:///tmp/gpulens_test/deep{n}.py")
        result = await hints(client, uri)
        assert isinstance(result, list)
        assert await alive(client)
    # An already good document that becomes deeply nested keeps its hints.
    uri = open_doc(client, CLASSIC, uri="file:///tmp/gpulens_test/deep_edit.py")
    assert labels(await hints(client, uri)) == ["12 it/epoch", "60 it"]
    change(client, uri, 2, deep_parens, start=(CLASSIC.count("\n"), 0))
    assert labels(await hints(client, uri)) == ["12 it/epoch", "60 it"]


async def test_nul_bytes_and_junk(client: LanguageClient) -> None:
    for n, text in enumerate(["\x00\x00import torch\x00", "\u2028\x0c\x1c\r\r\n" * 50, "'''" * 3]):
        uri = open_doc(client, text, uri=f"file:///tmp/gpulens_test/junk{n}.py")
        assert isinstance(await hints(client, uri), list)
        await hover_at(client, uri, (0, 0))
    assert await alive(client)


async def test_bad_positions_and_unknown_documents(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC)
    assert await hover_at(client, uri, (10_000, 5)) is None
    assert await hover_at(client, uri, (3, 10_000)) is None
    assert await hints(client, "file:///never/opened.py") == []
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(
                uri="file:///never/opened.py", version=3
            ),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="x = 1")],
        )
    )
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri="file:///never/opened2.py")
        )
    )
    assert await alive(client)
    assert labels(await hints(client, uri)) == ["12 it/epoch", "60 it"]


async def test_incremental_edits_below_form_feeds(client: LanguageClient) -> None:
    """Form feeds and U+2028 do not end lines for editors: edits below them land correctly."""
    text = "# page one\x0c\n# odd\u2028separator\x1c here\n" + CLASSIC
    uri = open_doc(client, text)
    assert labels(await hints(client, uri)) == ["12 it/epoch", "60 it"]
    line, col = find(text, "BATCH_SIZE = 100")
    change(client, uri, 2, "300", start=(line, col + 13), end=(line, col + 16))
    result = await hints(client, uri)
    assert labels(result) == ["4 it/epoch", "20 it"]
    assert result[0].position.line == find(text, "loader = DataLoader(")[0]
