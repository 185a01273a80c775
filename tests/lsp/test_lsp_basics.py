"""Open → hints, hover, diagnostics, locale: the server over stdio as VS Code drives it."""

from __future__ import annotations

import pytest
from lsp_support import (
    EXAMPLE,
    diagnostics,
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


async def test_classic_hints(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    result = await hints(client, uri)
    assert labels(result) == ["12 it/epoch", "60 it"]
    per_epoch, total = iteration_hints(result)
    assert per_epoch.position.line == find(CLASSIC, "batch_size=BATCH_SIZE")[0]
    assert total.position.line == find(CLASSIC, "for epoch in range(EPOCHS)")[0]
    tip = tooltip(per_epoch)
    assert "1,200" in tip and "100" in tip and "12" in tip
    assert "60" in tooltip(total)


async def test_hints_respect_range(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    loader_line = find(CLASSIC, "batch_size=BATCH_SIZE")[0]
    loop_line = find(CLASSIC, "for epoch in range(EPOCHS)")[0]
    assert labels(await hints(client, uri, loader_line, loader_line)) == ["12 it/epoch"]
    assert labels(await hints(client, uri, loop_line, loop_line + 3)) == ["60 it"]
    assert labels(await hints(client, uri, loop_line + 1, loop_line + 30)) == []


async def test_hover_batch_size(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    text = await hover_at(client, uri, find(CLASSIC, "BATCH_SIZE, shuffle"))
    assert text is not None
    assert "Batch size" in text and "100" in text
    assert "linearly" in text  # the memory impact


async def test_hover_on_keyword_name(client: LanguageClient) -> None:
    """Hovering the ``batch_size`` keyword itself explains the value passed to it."""
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    line, col = find(CLASSIC, "batch_size=BATCH_SIZE")
    text = await hover_at(client, uri, (line, col + 3))
    assert text is not None and "Batch size" in text and "100" in text
    line, col = find(CLASSIC, "lr=LEARNING_RATE")
    text = await hover_at(client, uri, (line, col))
    assert text is not None and "Learning rate" in text and "0.001" in text


async def test_hover_optimizer_memory(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    line, col = find(CLASSIC, "torch.optim.Adam(")
    text = await hover_at(client, uri, (line, col + len("torch.optim.")))
    assert text is not None
    assert "Optimizer" in text and "Adam" in text
    assert "**2**" in text  # two state tensors per parameter


async def test_no_hover_on_plain_code(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    assert await hover_at(client, uri, find(CLASSIC, "import torch")) is None


@pytest.mark.parametrize("client", [{"locale": "zh-CN"}], indirect=True)
async def test_zh_cn_locale(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    result = await hints(client, uri)
    assert labels(result) == ["12 it/epoch", "60 it"]
    assert "每个 epoch" in tooltip(result[0])
    text = await hover_at(client, uri, find(CLASSIC, "BATCH_SIZE, shuffle"))
    assert text is not None and "批次大小" in text and "显存" in text


@pytest.mark.parametrize(
    "client", [{"initialization_options": {"clientLanguage": "zh-cn"}}], indirect=True
)
async def test_client_language_option(client: LanguageClient) -> None:
    """The VS Code client passes its display language in initializationOptions too."""
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    text = await hover_at(client, uri, find(CLASSIC, "BATCH_SIZE, shuffle"))
    assert text is not None and "批次大小" in text


@pytest.mark.parametrize(
    "client", [{"locale": "zh-CN", "configuration": {"language": "en"}}], indirect=True
)
async def test_language_setting_overrides_locale(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    await hints(client, uri)
    text = await hover_at(client, uri, find(CLASSIC, "BATCH_SIZE, shuffle"))
    assert text is not None and "Batch size" in text and "批次" not in text


async def test_unknown_dataset_hint_and_diagnostic(client: LanguageClient) -> None:
    source = CLASSIC.replace("dataset = TensorDataset(features, labels)", "dataset = MyData()")
    source = source.replace("NUM_SAMPLES = 1200", "NUM_SAMPLES = load_count()")
    uri = open_doc(client, source)
    result = await hints(client, uri)
    assert labels(result)[:1] == ["? it/epoch"]
    tip = tooltip(result[0])
    assert "dataset_size=" in tip and "gpulens.overrides" in tip
    diags = await diagnostics(client, uri, want=1)
    assert diags[0].severity == types.DiagnosticSeverity.Information
    assert "dataset_size=" in diags[0].message


async def test_pragma_supplies_dataset_size(client: LanguageClient) -> None:
    source = CLASSIC.replace("dataset = TensorDataset(features, labels)", "dataset = MyData()")
    source = source.replace("NUM_SAMPLES = 1200", "NUM_SAMPLES = load_count()")
    source = "# gpulens: dataset_size=1200\n" + source
    uri = open_doc(client, source)
    assert labels(await hints(client, uri)) == ["12 it/epoch", "60 it"]
