"""The OOM quick fixes' edits, pure: applied to the text they must parse and do what the title
says (gpulens.lsp.fixes, gpulens.lsp.oom.compute_fixes)."""

from __future__ import annotations

import ast
import textwrap

import pytest
from gpulens.analysis import analyze
from gpulens.lsp import fixes, oom
from gpulens.lsp.documents import Inputs, Result, View, split_lines
from gpulens.lsp.gpu import choose_gpu
from lsp_support import EXAMPLE
from oom_support import ARGPARSE, BIG

CLASSIC = EXAMPLE.read_text(encoding="utf-8")


def view_of(text: str, **kwargs: object) -> View:
    analysis = analyze(text, **kwargs)  # type: ignore[arg-type]
    result = Result(1, "", text, split_lines(text), analysis, Inputs())
    return View(result, result)


def wrapped(text: str) -> str | None:
    edits = fixes.autocast_edits(text, analyze(text))
    return None if edits is None else fixes.apply_edits(text, edits)


def test_batch_site_constant_keyword_argparse() -> None:
    site = fixes.batch_site(CLASSIC.split("\n"), analyze(CLASSIC))
    assert site is not None and site.value == 100
    assert CLASSIC.split("\n")[site.line] == "BATCH_SIZE = 100"
    keyword = CLASSIC.replace("batch_size=BATCH_SIZE", "batch_size=64")
    site = fixes.batch_site(keyword.split("\n"), analyze(keyword))
    assert site is not None and site.value == 64
    new = fixes.apply_edits(keyword, [site.replace(32)])
    assert "DataLoader(dataset, batch_size=32, shuffle=True)" in new
    site = fixes.batch_site(ARGPARSE.split("\n"), analyze(ARGPARSE))
    assert site is not None and site.value == 61440
    new = fixes.apply_edits(ARGPARSE, [site.replace(4096)])
    assert 'parser.add_argument("--batch-size", type=int, default=4096)' in new


def test_batch_site_none_when_not_a_literal() -> None:
    expr = CLASSIC.replace("BATCH_SIZE = 100", "BATCH_SIZE = 50 * 2")
    assert fixes.batch_site(expr.split("\n"), analyze(expr)) is None
    # the value comes from the command line: the default is not what runs
    given = analyze(ARGPARSE, script_args=("--batch-size", "64"))
    assert given.facts["batch_size"].value == 64
    assert fixes.batch_site(ARGPARSE.split("\n"), given) is None


def test_autocast_wraps_the_loss_line() -> None:
    new = wrapped(CLASSIC)
    assert new is not None
    assert (
        "        optimizer.zero_grad()\n"
        '        with torch.autocast("cuda", dtype=torch.bfloat16):\n'
        "            loss = criterion(model(inputs), targets)\n"
        "        loss.backward()\n"
    ) in new
    assert new.count("import torch\n") == 1
    ast.parse(new)


def test_autocast_wraps_forward_and_loss_not_data_moves() -> None:
    new = wrapped(BIG)
    assert new is not None
    assert (
        "        inputs, targets = inputs.to(device), targets.to(device)\n"
        "        optimizer.zero_grad()\n"
        '        with torch.autocast("cuda", dtype=torch.bfloat16):\n'
        "            outputs = model(inputs)\n"
        "            loss = criterion(outputs, targets)\n"
        "        loss.backward()\n"
    ) in new


def test_autocast_tabs_multiline_and_import() -> None:
    src = textwrap.dedent(
        """\
        from torch import nn, optim
        net = nn.Linear(4, 2)
        opt = optim.SGD(net.parameters(), lr=0.1)
        for x, y in [(1, 2)]:
        \tout = net(x)
        \tloss = nn.functional.mse_loss(
        \t\tout,
        \t\ty,
        \t)
        \tloss.backward()
        \topt.step()
        """
    )
    new = wrapped(src)
    assert new is not None
    assert new.startswith("from torch import nn, optim\nimport torch\n")
    assert '\twith torch.autocast("cuda", dtype=torch.bfloat16):\n\t\tout = net(x)\n' in new
    assert "\t\tloss = nn.functional.mse_loss(\n\t\t\tout,\n" in new
    ast.parse(new)


@pytest.mark.parametrize(
    "src",
    [
        # already under autocast
        """import torch
model = torch.nn.Linear(4, 2)
for x in []:
    with torch.autocast("cuda", dtype=torch.float16):
        loss = model(x).sum()
    loss.backward()
""",
        # two backward calls (a GAN): no single place to wrap
        """import torch
model = torch.nn.Linear(4, 2)
for x in []:
    loss = model(x).sum()
    loss.backward()
    loss2 = model(x).mean()
    loss2.backward()
""",
        # a multi-line string in the block: indenting it would change it
        '''import torch
model = torch.nn.Linear(4, 2)
for x in []:
    loss = model(x).sum() + len("""a
b""")
    loss.backward()
''',
        # statements sharing a line
        """import torch
model = torch.nn.Linear(4, 2)
for x in []:
    y = 1; loss = model(x).sum()
    loss.backward()
""",
        # no backward
        """import torch
model = torch.nn.Linear(4, 2)
print(model(torch.zeros(4)))
""",
    ],
    ids=["autocast", "two-backward", "multiline-string", "semicolon", "no-backward"],
)
def test_autocast_refuses_when_unsafe(src: str) -> None:
    assert wrapped(src) is None


def test_autocast_with_grad_scaler_backward() -> None:
    src = """import torch
model = torch.nn.Linear(4, 2)
scaler = torch.cuda.amp.GradScaler()
for x in []:
    loss = model(x).sum()
    scaler.scale(loss).backward()
"""
    new = wrapped(src)
    assert new is not None
    assert '    with torch.autocast("cuda", dtype=torch.bfloat16):\n        loss = model(x)' in new


def test_accumulation_plan() -> None:
    plan = fixes.accumulation_plan(256, 100)
    assert plan is not None and (plan.batch, plan.steps, plan.effective) == (64, 4, 256)
    plan = fixes.accumulation_plan(61440, 35451)
    assert plan is not None and (plan.batch, plan.steps) == (30720, 2)
    plan = fixes.accumulation_plan(97, 40)  # prime: the nearest effective batch below
    assert plan is not None and plan.batch <= 40 and not plan.exact
    plan = fixes.accumulation_plan(64, 16, existing_steps=4)
    assert plan is not None and (plan.batch, plan.steps, plan.effective) == (16, 16, 256)
    assert fixes.accumulation_plan(64, 64) is None
    assert fixes.accumulation_plan(1, 0) is None
    ast.parse(fixes.accumulation_snippet(fixes.AccumulationPlan(16, 4, 64)))
    ast.parse(fixes.autocast_snippet())
    ast.parse(fixes.checkpoint_snippet("blocks", "Block").replace("self.", "model."))


def test_device_move_and_repeated_blocks() -> None:
    span = fixes.device_move_span(BIG, analyze(BIG))
    assert span is not None
    line = BIG.split("\n")[span.line - 1]
    assert line == "model.to(device)" and line[span.col : span.end_col] == ".to(device)"
    chained = BIG.replace("model = Net()\nmodel.to(device)", "model = Net().cuda()")
    span = fixes.device_move_span(chained, analyze(chained))
    assert span is not None and chained.split("\n")[span.line - 1] == "model = Net().cuda()"
    assert fixes.repeated_blocks(analyze(BIG)) == ("blocks", "Block", 8)
    assert fixes.repeated_blocks(analyze(CLASSIC)) is None


def test_compute_fixes_titles_and_applied_text() -> None:
    view = view_of(BIG)
    check = oom.assess(view.analysis, choose_gpu("T4"), 0.9, 1.0)
    assert check.report is not None and check.report.status == "does_not_fit"
    found = {f.key: f for f in oom.compute_fixes(view, check, "en")}
    assert list(found) == ["batch_size", "autocast", "accumulation", "checkpointing"]
    best = check.report.max_batch_size
    assert best is not None and 0 < best < 61440
    new = fixes.apply_edits(BIG, found["batch_size"].edits)
    assert f"BATCH_SIZE = {best}\n" in new
    # the fixed script fits, within the suggestion's headroom (fit.DEFAULT_BATCH_MARGIN: it may
    # sit above the 90% warn ratio, "at risk" but not "does not fit")
    fixed = oom.assess(analyze(new), choose_gpu("T4"), 0.9, 1.0)
    assert fixed.report is not None and fixed.report.status in ("fits", "at_risk")
    assert fixed.report.usage_ratio <= 1 - fixed.report.margin
    # bf16: the title's "after" is the estimate of the same script under autocast
    assert check.bf16 is not None and check.bf16.precision == "amp_bf16"
    assert check.bf16.needed < check.report.needed
    for fix in found.values():
        ast.parse(fixes.apply_edits(BIG, fix.edits))
    # the same in Chinese
    titles = [f.title for f in oom.compute_fixes(view, check, "zh-cn")]
    assert titles[0] == f"把 batch_size 设为 {best}（T4 能容纳的最大值）"


def test_no_fixes_while_the_text_is_broken() -> None:
    good = view_of(BIG)
    broken = BIG.replace("optimizer.step()", "optimizer.step(")
    current = Result(2, "", broken, split_lines(broken), analyze(broken), Inputs())
    view = View(current, good.current)
    check = oom.assess(good.analysis, choose_gpu("T4"), 0.9, 1.0)
    assert oom.compute_fixes(view, check, "en") == []


def test_fitting_script_has_no_fixes() -> None:
    view = view_of(CLASSIC)
    check = oom.assess(view.analysis, choose_gpu("T4"), 0.9, 1.0)
    assert check.report is not None and check.report.status == "fits"
    assert oom.compute_fixes(view, check, "en") == []
    assert oom.diagnostics(view, check, "en", "utf-16") == []


def test_gpu_settings_parse() -> None:
    from gpulens.lsp.settings import parse_settings

    s = parse_settings({"gpu": " RTX 4090 ", "oom": {"warningRatio": 0.8, "errorRatio": 0.95}})
    assert (s.gpu, s.oom_warning_ratio, s.oom_error_ratio) == ("RTX 4090", 0.8, 0.95)
    assert not s.problems
    s = parse_settings({"gpulens.gpu": 24, "oom.warningRatio": "high"})
    assert (s.gpu, s.oom_warning_ratio) == ("", 0.9)
    assert len(s.problems) == 2
    s = parse_settings({"oom": {"warningRatio": 1.2, "errorRatio": 1.0}})
    assert (s.oom_warning_ratio, s.oom_error_ratio) == (1.0, 1.0)
    assert "warnings start at the error ratio" in s.problems[0]


def test_choose_gpu_local_and_none(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from gpulens.lsp.gpu import FAKE_NVML_ENV

    gib = 1 << 30
    fake = {"gpus": [{"name": "NVIDIA A10", "total": 24 * gib, "used": gib, "free": 23 * gib}]}
    monkeypatch.setenv(FAKE_NVML_ENV, json.dumps(fake))
    choice = choose_gpu("", fresh=True)
    assert choice.local is not None and choice.local.name == "NVIDIA A10"
    assert choice.target is None and choice.error is None and choice.local_count == 1
    check = oom.assess(analyze(BIG), choice, 0.9, 1.0)
    assert check.report is not None and check.report.gpu_name == "A10"
    assert check.report.usable < 23 * gib  # the other processes' share and the context are out
    assert choose_gpu("local").local == choice.local
    missing = choose_gpu("local:1")
    assert missing.error == "gpulens.gpu: no local GPU 1 (NVML sees 1)"
    monkeypatch.setenv(FAKE_NVML_ENV, json.dumps({"gpus": []}))
    choice = choose_gpu("", fresh=True)
    assert choice.local is None and choice.reason == "NVML sees no GPU on this machine"
    assert oom.assess(analyze(BIG), choice, 0.9, 1.0).report is None
    # a named card never asks NVML
    assert choose_gpu("A100 80GB").target is not None
    unknown = choose_gpu("RTX 9090")
    assert unknown.error is not None and "RTX 4090" in unknown.error
