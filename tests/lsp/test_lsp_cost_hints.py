"""The layer, model and memory hints and hovers through the real server (pytest-lsp), and their
settings toggles ``gpulens.inlayHints.layers`` / ``gpulens.inlayHints.memory``."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from lsp_support import EXAMPLE, find, hint_kind, hints, hover_at, labels, open_doc
from lsprotocol import types
from pytest_lsp import LanguageClient

CLASSIC = EXAMPLE.read_text(encoding="utf-8")


async def change_settings(client: LanguageClient, section: dict[str, object]) -> None:
    before = client.inlay_hint_refreshes  # type: ignore[attr-defined]
    client.set_configuration(section, section="gpulens")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    for _ in range(500):
        if client.inlay_hint_refreshes > before:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no workspace/inlayHint/refresh after a settings change")


def kinds(result: list[types.InlayHint]) -> set[str | None]:
    return {hint_kind(h) for h in result}


async def test_hints_carry_their_kind(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    result = await hints(client, uri)
    assert {"per_epoch", "total"} <= kinds(result)
    assert labels(result) == ["12 it/epoch", "60 it"]


async def test_model_layer_and_memory_hints(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    result = await hints(client, uri)
    assert {"model", "layer", "memory"} <= kinds(result)
    model_line, _ = find(CLASSIC, "model = nn.Sequential(")
    layer_line, _ = find(CLASSIC, "nn.Linear(20, 64)")
    loop_line, _ = find(CLASSIC, "for epoch in range(EPOCHS)")
    by_kind = {hint_kind(h): h for h in result}
    assert by_kind["model"].position.line == model_line
    assert labels([by_kind["model"]], None)[0].startswith("1.5K params · ")
    layer = next(h for h in result if hint_kind(h) == "layer" and h.position.line == layer_line)
    assert labels([layer], None) == ["1.3K params · [100, 64]"]
    memory = by_kind["memory"]
    assert memory.position.line == loop_line
    label = labels([memory], None)[0]
    assert label.startswith("≈ ") and label.endswith(" at batch 100 · fp32 · Adam (static)")
    tip = memory.tooltip
    text = tip.value if isinstance(tip, types.MarkupContent) else str(tip)
    assert "| **Peak allocated** |" in text and "| **Device total** |" in text


async def test_toggles_hide_layer_and_memory_hints(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    assert {"model", "layer", "memory"} <= kinds(await hints(client, uri))
    await change_settings(client, {"inlayHints": {"layers": False}})
    found = kinds(await hints(client, uri))
    assert "layer" not in found and "model" not in found and "memory" in found
    await change_settings(client, {"inlayHints": {"layers": True, "memory": False}})
    found = kinds(await hints(client, uri))
    assert {"layer", "model"} <= found and "memory" not in found
    # the iteration hints are untouched by both
    assert labels(await hints(client, uri)) == ["12 it/epoch", "60 it"]


@pytest.mark.parametrize(
    "client",
    [{"configuration": {"inlayHints": {"layers": False, "memory": False}}}],
    indirect=True,
)
async def test_both_off_from_the_start(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    assert kinds(await hints(client, uri)) == {"per_epoch", "total"}


async def test_memory_hover_on_batch_size_and_optimizer(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    for needle in ("batch_size=BATCH_SIZE", "torch.optim.Adam"):
        text = await hover_at(client, uri, find(CLASSIC, needle))
        assert text is not None
        assert "#### Training memory (static estimate)" in text
        for row in ("Weights", "Gradients", "Optimizer state", "Activations", "Workspace"):
            assert f"| {row} |" in text
        assert "**What would change it**" in text


@pytest.mark.parametrize("client", [{"locale": "zh-cn"}], indirect=True)
async def test_model_hover_in_chinese(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    line, col = find(CLASSIC, "model = nn.Sequential(")
    text = await hover_at(client, uri, (line, col + 2))
    assert text is not None
    assert "### 模型" in text and "#### 训练显存（静态估计）" in text


@pytest.mark.parametrize("client", [{"resolve": True}], indirect=True)
async def test_tooltips_resolved_lazily(client: LanguageClient) -> None:
    """A client that resolves tooltips gets the cost hints without them (their what-if figures
    run the estimator again) and asks for one when the user points at the hint."""
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    result = await hints(client, uri)
    memory = next(h for h in result if hint_kind(h) == "memory")
    assert memory.tooltip is None
    assert isinstance(memory.data, dict) and memory.data["uri"] == uri
    per_epoch = next(h for h in result if hint_kind(h) == "per_epoch")
    assert per_epoch.tooltip is not None  # cheap tooltips still come with the hint
    resolved = await client.inlay_hint_resolve_async(memory)
    tip = resolved.tooltip
    text = tip.value if isinstance(tip, types.MarkupContent) else str(tip)
    assert "**Training memory (static estimate)**" in text and "| **Device total** |" in text
    model = next(h for h in result if hint_kind(h) == "model")
    resolved = await client.inlay_hint_resolve_async(model)
    tip = resolved.tooltip
    assert isinstance(tip, types.MarkupContent) and tip.value.startswith("### Model `model`")


async def test_a_model_from_the_scripts_own_module(client: LanguageClient, tmp_path: Path) -> None:
    """nanoGPT-style: `from gpt_model import GPT` beside the script. The model and memory hints
    come at the script's lines; the module's layers get none in the script (their lines are
    gpt_model.py's)."""
    fixtures = EXAMPLE.parents[1] / "tests" / "fixtures"
    shutil.copy(fixtures / "models" / "nanogpt.py", tmp_path / "gpt_model.py")
    path = tmp_path / "train_gpt.py"
    shutil.copy(fixtures / "multifile" / "train_gpt.py", path)
    text = path.read_text(encoding="utf-8")
    uri = open_doc(client, text, uri=path.as_uri())
    result = await hints(client, uri)
    by_kind = {hint_kind(h): h for h in result}
    model_line, _ = find(text, "model = GPT(")
    assert by_kind["model"].position.line == model_line
    assert labels([by_kind["model"]], None)[0].startswith("530K params · ")
    assert "memory" in by_kind and "layer" not in kinds(result)
