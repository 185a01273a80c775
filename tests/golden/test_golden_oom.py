"""Golden tests of the OOM check: what the editor shows for a script against a few GPUs, in
English and Simplified Chinese: the diagnostics, the quick fixes (titles and the applied diff)
and the target-GPU section of the memory hover. Compared with ``oom/expected/``.

Regenerate after an intended change with ``GPULENS_UPDATE_GOLDEN=1 pytest tests/golden``.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from golden_support import check_golden
from gpulens.analysis import analyze
from gpulens.lsp import fixes, oom
from gpulens.lsp.documents import Inputs, Result, View, split_lines
from gpulens.lsp.gpu import choose_gpu

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "oom"
EXPECTED = HERE / "expected"
SCRIPTS = sorted(HERE.glob("*.py"))
GPUS = ("T4", "RTX 4090", "H200", "RTX 9090")
LOCALES = ("en", "zh-cn")


def indent(text: str) -> str:
    return "\n".join(("    " + line) if line else "" for line in text.split("\n"))


def render(path: Path, locale: str) -> str:
    text = path.read_text(encoding="utf-8")
    analysis = analyze(text, path=path.relative_to(REPO).as_posix())
    result = Result(1, "", text, split_lines(text), analysis, Inputs())
    view = View(result, result)
    out = [f"# {path.relative_to(REPO).as_posix()} ({locale})", ""]
    for gpu in GPUS:
        check = oom.assess(analysis, choose_gpu(gpu), 0.9, 1.0)
        out += [f"## gpulens.gpu = {gpu!r}", "", "### Diagnostics", ""]
        found = oom.diagnostics(view, check, locale, "utf-16")
        if not found:
            out += ["(none)"]
        for d in found:
            line = d.range.start.line
            out += [
                f"- line {line + 1}, col {d.range.start.character}-{d.range.end.character}, "
                f"{d.severity.name if d.severity else '?'} `{d.code}`: {d.message}",
            ]
        out += ["", "### Quick fixes", ""]
        found_fixes = oom.compute_fixes(view, check, locale)
        if not found_fixes:
            out += ["(none)", ""]
        for fix in found_fixes:
            out += [f"#### {fix.title}", ""]
            if fix.edits:
                new = fixes.apply_edits(text, fix.edits)
                diff = "".join(
                    difflib.unified_diff(
                        text.splitlines(keepends=True), new.splitlines(keepends=True), n=1
                    )
                ).rstrip("\n")
                out += ["Edit:", "", indent(diff), ""]
            if fix.snippet:
                out += ["Snippet:", "", indent(fix.snippet.rstrip("\n")), ""]
        out += ["### Memory hover: target GPU", "", *oom.hover_lines(check, locale), ""]
    return "\n".join(out).rstrip() + "\n"


CASES = [(script, locale) for script in SCRIPTS for locale in LOCALES]


@pytest.mark.parametrize(("script", "locale"), CASES, ids=[f"{s.stem}-{loc}" for s, loc in CASES])
def test_golden_oom(script: Path, locale: str) -> None:
    expected_file = EXPECTED / f"{script.stem}.{locale}.md"
    actual = render(script, locale)
    check_golden(expected_file, actual, "the OOM diagnostics/fixes/hover")
