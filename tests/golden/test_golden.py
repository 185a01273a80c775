"""Golden tests: the inlay-hint labels, their tooltips and every hover, in English and Simplified
Chinese, for a few training scripts, compared with the markdown files in ``expected/``.

Regenerate after an intended change with ``GPULENS_UPDATE_GOLDEN=1 pytest tests/golden`` and
review the diff like any other code change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from golden_support import check_golden
from gpulens.analysis import analyze
from gpulens.lsp.documents import Inputs, Result, View, split_lines
from gpulens.lsp.hints import compute_hints
from gpulens.lsp.hovers import hover_markdown
from gpulens.lsp.settings import Settings

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected"
SCRIPTS = [REPO / "examples" / "classic_train.py", *sorted((HERE / "scripts").glob("*.py"))]
LOCALES = ("en", "zh-cn")


def view_of(path: Path) -> View:
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(REPO).as_posix()
    analysis = analyze(text, path=rel)
    result = Result(
        version=1, key="", text=text, lines=split_lines(text), analysis=analysis, inputs=Inputs()
    )
    return View(result, result)


def indent(text: str) -> str:
    return "\n".join(("    " + line) if line else "" for line in text.split("\n"))


def render(path: Path, locale: str) -> str:
    """Everything the editor would show for ``path``, as a readable markdown document."""
    view = view_of(path)
    rel = path.relative_to(REPO).as_posix()
    out = [f"# {rel} ({locale})", "", "## Inlay hints", ""]
    found = compute_hints(view, Settings(), locale, "utf-16")
    if not found:
        out += ["(none)", ""]
    for hint in found:
        source_line = view.lines[hint.line]
        out += [
            f"### line {hint.line + 1}, col {hint.col}: `{hint.label}`",
            "",
            f"    {source_line[: hint.col]}⟨{hint.label}⟩{source_line[hint.col :]}",
            "",
            "Tooltip:",
            "",
            indent(hint.tooltip),
            "",
        ]
    out += ["## Hovers", ""]
    for mention in sorted(view.analysis.mentions, key=lambda m: (m.span.line, m.span.col)):
        span = mention.span
        out += [
            f"### {mention.kind} at line {span.line}, col {span.col} ({mention.detail})",
            "",
            indent(hover_markdown(view, mention, locale)),
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


CASES = [(script, locale) for script in SCRIPTS for locale in LOCALES]


@pytest.mark.parametrize(("script", "locale"), CASES, ids=[f"{s.stem}-{loc}" for s, loc in CASES])
def test_golden(script: Path, locale: str) -> None:
    expected_file = EXPECTED / f"{script.stem}.{locale}.md"
    actual = render(script, locale)
    check_golden(expected_file, actual, "rendered hints/hovers")


def test_classic_golden_says_12_and_60() -> None:
    """The golden file itself must show the primer's numbers, whatever was regenerated."""
    text = (EXPECTED / "classic_train.en.md").read_text(encoding="utf-8")
    assert "`12 it/epoch`" in text and "`60 it`" in text
    zh = (EXPECTED / "classic_train.zh-cn.md").read_text(encoding="utf-8")
    assert "1,200 个样本 / 批次 100 = 每个 epoch 12 次迭代" in zh
