"""OOM diagnostics, quick fixes and the target GPU over LSP (issue 4, section 2): the server as
an editor runs it, with ``gpulens.gpu`` set by the client."""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path
from typing import Any, Union

import pytest
from gpulens.analysis import analyze
from gpulens.estimate.fit import assess_analysis
from gpulens.gpu.catalog import resolve_gpu
from lsp_support import alive, diagnostics, find, hover_at, open_doc
from lsprotocol import types
from oom_support import ARGPARSE, BIG, apply_lsp_edits
from pygls.uris import to_fs_path as uri_to_path
from pytest_lsp import LanguageClient
from test_lsp_settings import change_settings

OOM_CODES = ("oom", "oom-risk")


def oom_diags(found: list[types.Diagnostic]) -> list[types.Diagnostic]:
    return [d for d in found if d.code in OOM_CODES]


async def wait_oom(
    client: LanguageClient, uri: str, count: int | None = None, timeout: float = 15.0
) -> list[types.Diagnostic]:
    """The OOM diagnostics for ``uri`` once some are published (or exactly ``count``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = client.diagnostics.get(uri)
        if found is not None:
            ours = oom_diags(list(found))
            if (count is None and ours) or (count is not None and len(ours) == count):
                return ours
        if loop.time() > deadline:
            raise AssertionError(f"OOM diagnostics for {uri}: have {found!r}")
        await asyncio.sleep(0.02)


def read_code_actions_whole(client: LanguageClient) -> None:
    """lsprotocol reads any code action that has a ``command`` as a bare Command (its union
    hook only checks for the key); VS Code and Neovim tell them apart by the command's type,
    as the specification says. Read them that way here."""
    conv = client.protocol._converter

    def hook(obj: Any, _: object) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return conv.structure(obj, types.Command)  # type: ignore[no-any-return]
        return conv.structure(obj, types.CodeAction)  # type: ignore[no-any-return]

    conv.register_structure_hook(Union[types.Command, types.CodeAction], hook)  # noqa: UP007


async def actions(
    client: LanguageClient, uri: str, diags: list[types.Diagnostic]
) -> list[types.CodeAction]:
    read_code_actions_whole(client)
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diags[0].range,
            context=types.CodeActionContext(diagnostics=diags),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


def applied(action: types.CodeAction, uri: str, text: str) -> str:
    assert action.edit is not None and action.edit.changes is not None
    return apply_lsp_edits(text, list(action.edit.changes[uri]))


def assigned_int(text: str, name: str) -> int:
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            assert isinstance(node.value, ast.Constant)
            return int(node.value.value)
    raise AssertionError(f"{name} is not assigned")


T4 = {"configuration": {"gpu": "T4"}}


@pytest.mark.parametrize("client", [T4], indirect=True)
async def test_does_not_fit_t4_error_then_h200_clears(client: LanguageClient) -> None:
    uri = open_doc(client, BIG)
    found = await wait_oom(client, uri)
    report = assess_analysis(analyze(BIG), resolve_gpu("T4"))
    assert report is not None and report.status == "does_not_fit"
    assert {d.severity for d in found} == {types.DiagnosticSeverity.Error}
    assert {d.source for d in found} == {"gpulens"}
    message = found[0].message
    assert message.startswith("batch_size=61440 needs ≈ ")
    assert re.search(r"T4: [\d.]+ GiB usable \(\d+%\)", message), message
    assert f"{report.max_batch_size:,}" in message  # the hint: largest batch that fits
    # on the definition, the DataLoader's argument and where the model goes to the GPU
    lines = {d.range.start.line for d in found}
    assert lines == {
        find(BIG, "61440")[0],
        find(BIG, "batch_size=BATCH_SIZE")[0],
        find(BIG, "model.to(device)")[0],
    }
    use = next(d for d in found if d.range.start.line == find(BIG, "batch_size=BATCH_SIZE")[0])
    assert use.range.start.character == find(BIG, "BATCH_SIZE, shuffle")[1]

    await change_settings(client, {"gpu": "H200"})  # refresh was requested, or this raises
    assert await wait_oom(client, uri, count=0) == []
    assert list(client.diagnostics[uri]) == []


@pytest.mark.parametrize("client", [T4], indirect=True)
async def test_diagnostics_follow_typing(client: LanguageClient) -> None:
    uri = open_doc(client, BIG)
    await wait_oom(client, uri)
    line, col = find(BIG, "61440")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=line, character=col),
                        end=types.Position(line=line, character=col + 5),
                    ),
                    text="256",
                )
            ],
        )
    )
    assert await wait_oom(client, uri, count=0) == []


@pytest.mark.parametrize(
    "client",
    [{"configuration": {"gpu": "H200", "oom": {"warningRatio": 0.05, "errorRatio": 0.9}}}],
    indirect=True,
)
async def test_thresholds_are_settings(client: LanguageClient) -> None:
    uri = open_doc(client, BIG)
    found = await wait_oom(client, uri)
    assert {d.severity for d in found} == {types.DiagnosticSeverity.Warning}
    assert "H200" in found[0].message and "out-of-memory risk" in found[0].message
    await change_settings(client, {"gpu": "H200", "oom": {"warningRatio": 0.9}})
    assert await wait_oom(client, uri, count=0) == []


@pytest.mark.parametrize("client", [T4], indirect=True)
async def test_quick_fixes_apply_and_parse(client: LanguageClient) -> None:
    uri = open_doc(client, BIG)
    found = await wait_oom(client, uri)
    report = assess_analysis(analyze(BIG), resolve_gpu("T4"))
    assert report is not None and report.max_batch_size
    best = report.max_batch_size
    got = await actions(client, uri, found)
    titles = [a.title for a in got]
    assert all(a.kind == types.CodeActionKind.QuickFix for a in got)
    assert all(a.diagnostics for a in got)

    batch = next(a for a in got if a.title.startswith("Set batch_size to"))
    assert batch.title == f"Set batch_size to {best} (largest that fits T4)"
    assert batch.is_preferred
    new = applied(batch, uri, BIG)
    assert assigned_int(new, "BATCH_SIZE") == best
    assert new.replace(str(best), "61440", 1) == BIG

    autocast = next(a for a in got if a.title.startswith("Use bf16 autocast"))
    assert re.fullmatch(r"Use bf16 autocast \(≈ [\d.]+ GiB → [\d.]+ GiB\)", autocast.title)
    new = applied(autocast, uri, BIG)
    tree = ast.parse(new)
    withs = [n for n in ast.walk(tree) if isinstance(n, ast.With)]
    assert len(withs) == 1
    assert ast.unparse(withs[0].items[0]) == "torch.autocast('cuda', dtype=torch.bfloat16)"
    assert [ast.unparse(s) for s in withs[0].body] == [
        "outputs = model(inputs)",
        "loss = criterion(outputs, targets)",
    ]
    assert (
        '        with torch.autocast("cuda", dtype=torch.bfloat16):\n'
        "            outputs = model(inputs)\n"
        "            loss = criterion(outputs, targets)\n"
        "        loss.backward()\n"
    ) in new

    accum = next(a for a in got if a.title.startswith("Keep the effective batch 61440"))
    new = applied(accum, uri, BIG)
    micro = assigned_int(new, "BATCH_SIZE")
    steps = int(re.search(r"× (\d+) gradient accumulation", accum.title)[1])  # type: ignore[index]
    assert micro * steps == 61440 and micro <= best
    assert accum.command is not None and accum.command.command == "gpulens.showSnippet"
    snippet = accum.command.arguments[1]  # type: ignore[index]
    assert f"ACCUM_STEPS = {steps}" in snippet
    ast.parse(snippet)

    ckpt = next(a for a in got if "checkpointing" in a.title)
    assert ckpt.title == "Activation checkpointing for the 8 repeated Block blocks: show how"
    assert ckpt.edit is None and ckpt.command is not None
    assert "checkpoint(block, x, use_reentrant=False)" in ckpt.command.arguments[1]  # type: ignore[index]
    assert len(titles) == 4

    # the snippet command opens the code beside the script (the client shows documents)
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=ckpt.command.command, arguments=ckpt.command.arguments)
    )
    shown = [d.uri for d in client.shown_documents]
    assert len(shown) == 1 and shown[0].endswith("/gpulens-snippets/checkpointing.py")
    opened = Path(uri_to_path(shown[0]) or "").read_text(encoding="utf-8")
    assert opened.startswith(f"# {ckpt.title}\n")
    assert "use_reentrant=False" in opened
    ast.parse(opened)


@pytest.mark.parametrize("client", [T4], indirect=True)
async def test_argparse_defaults_are_edited(client: LanguageClient) -> None:
    uri = open_doc(client, ARGPARSE)
    found = await wait_oom(client, uri)
    got = await actions(client, uri, found)
    batch = next(a for a in got if a.title.startswith("Set batch_size to"))
    new = applied(batch, uri, ARGPARSE)
    ast.parse(new)
    best = int(batch.title.split()[3])
    assert f'parser.add_argument("--batch-size", type=int, default={best})' in new
    # effective batch 61,440 × 2 already: a smaller batch and more accumulation steps
    accum = next(a for a in got if a.title.startswith("Keep the effective batch 122880"))
    new = applied(accum, uri, ARGPARSE)
    ast.parse(new)
    micro = int(re.search(r'"--batch-size", type=int, default=(\d+)', new)[1])  # type: ignore[index]
    steps = int(re.search(r'"--accum-steps", type=int, default=(\d+)', new)[1])  # type: ignore[index]
    assert micro * steps == 122880 and micro <= best
    assert accum.command is None  # the script already accumulates: nothing to show


@pytest.mark.parametrize("client", [T4], indirect=True)
async def test_gpu_in_memory_hover(client: LanguageClient) -> None:
    uri = open_doc(client, BIG)
    await wait_oom(client, uri)
    text = await hover_at(client, uri, find(BIG, "batch_size=BATCH_SIZE"))
    assert text is not None
    assert "#### Target GPU: T4" in text
    assert "from `gpulens.gpu` = `T4`" in text
    assert "does not fit" in text
    assert "Largest batch that fits (under 97% of usable memory): **" in text
    # before the concept's meaning
    assert text.index("Target GPU") < text.index("\n---\n")


@pytest.mark.parametrize("client", [{"configuration": {"gpu": "RTX 9090"}}], indirect=True)
async def test_unknown_gpu_name_is_reported_once(client: LanguageClient) -> None:
    uri = open_doc(client, BIG)
    await diagnostics(client, uri)
    for _ in range(200):
        if client.messages:
            break
        await asyncio.sleep(0.02)
    warned = [m for m in client.messages if "RTX 9090" in m.message]
    assert len(warned) == 1
    assert "did you mean" in warned[0].message and "RTX 4090" in warned[0].message
    assert oom_diags(client.diagnostics[uri]) == []
    text = await hover_at(client, uri, find(BIG, "batch_size=BATCH_SIZE"))
    assert text is not None and "unknown GPU 'RTX 9090'" in text
    await change_settings(client, {"gpu": "RTX 9090", "language": "en"})
    assert len([m for m in client.messages if "RTX 9090" in m.message]) == 1
    assert await alive(client)


@pytest.mark.parametrize(
    "client", [{"configuration": {"gpu": "T4"}, "locale": "zh-cn"}], indirect=True
)
async def test_chinese_diagnostic(client: LanguageClient) -> None:
    uri = open_doc(client, BIG)
    found = await wait_oom(client, uri)
    assert found[0].message.startswith("batch_size=61440 需要 ≈ ")
    assert "T4 可用" in found[0].message and "放不下" in found[0].message
    got = await actions(client, uri, found)
    assert any(a.title.startswith("把 batch_size 设为") for a in got)
