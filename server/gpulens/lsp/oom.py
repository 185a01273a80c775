"""Out-of-memory check in the editor: the analysis' estimate against the target GPU
(:mod:`gpulens.lsp.gpu`), as push diagnostics, quick fixes and lines of the memory hover.

The numbers come from :mod:`gpulens.estimate.fit` (``assess_analysis``); the edits from
:mod:`gpulens.lsp.fixes`. :func:`assess` runs the estimator (the largest batch that fits, the
bf16 variant), so the server calls it off the event loop; its result is cached per analysis.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from gpulens.analysis.facts import Analysis, Span
from gpulens.estimate.fit import FitReport, assess_analysis
from gpulens.lsp import fixes
from gpulens.lsp.documents import View
from gpulens.lsp.gpu import GpuChoice
from gpulens.lsp.markdown import escape
from gpulens.lsp.positions import byte_col_to_client
from gpulens.lsp.reasons_zh import localize
from gpulens.units import fmt_bytes, fmt_int

__all__ = [
    "CODE_ERROR",
    "CODE_WARNING",
    "SHOW_SNIPPET",
    "OomCheck",
    "assess",
    "code_actions",
    "diagnostics",
    "hover_lines",
]

SOURCE = "gpulens"
CODE_WARNING = "oom-risk"
CODE_ERROR = "oom"
#: The command a suggestion runs to show its snippet (handled by the server).
SHOW_SNIPPET = "gpulens.showSnippet"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "at_risk": "out-of-memory risk",
        "does_not_fit": "does not fit",
        "fits": "fits",
        "diag": "{message} — {status}; {hint}",
        "diag_nohint": "{message} — {status}",
        "model_prefix": "model on the GPU: ",
        "fix_batch": "Set batch_size to {batch} (largest that fits {gpu})",
        "fix_bf16": "Use bf16 autocast (≈ {before} → {after})",
        "fix_bf16_show": "Use bf16 autocast (≈ {before} → {after}): show how",
        "fix_accum": "Keep the effective batch {effective}: batch_size={batch} × {steps} "
        "gradient accumulation steps",
        "fix_accum_show": "Keep the effective batch {effective}: batch_size={batch} × {steps} "
        "gradient accumulation steps (and show the loop)",
        "fix_ckpt": "Activation checkpointing for the {count} repeated {block} blocks: show how",
        "hover_title": "Target GPU: {name}",
        "hover_setting": "from `gpulens.gpu` = `{setting}`",
        "hover_local": "local GPU {index} (NVML){more}",
        "hover_more": ", first of {count}",
        "hover_memory": "{memory} on the card · **{usable}** usable ({how})",
        "hover_others": "Other processes and the driver hold {used} of it now.",
        "hover_need": "This step needs ≈ **{needed}** of it: **{pct}** — {status}.",
        "hover_max": "Largest batch that fits (under {warn} of usable memory): **{batch}**",
        "hover_max_none": "Even batch 1 does not fit under {warn} of usable memory.",
        "hover_no_gpu": "No local NVIDIA GPU found ({reason}); set `gpulens.gpu` to check a "
        'card, e.g. `"RTX 4090"` or `"24GiB"`.',
        "hover_invalid": "{error}",
        "snippet_title": "gpulens: {title}",
    },
    "zh-cn": {
        "at_risk": "有显存不足风险",
        "does_not_fit": "放不下",
        "fits": "放得下",
        "diag": "{message} — {status}；{hint}",
        "diag_nohint": "{message} — {status}",
        "model_prefix": "模型放到 GPU 上：",
        "fix_batch": "把 batch_size 设为 {batch}（{gpu} 能容纳的最大值）",
        "fix_bf16": "使用 bf16 autocast（≈ {before} → {after}）",
        "fix_bf16_show": "使用 bf16 autocast（≈ {before} → {after}）：查看写法",
        "fix_accum": "保持等效批次 {effective}：batch_size={batch} × {steps} 步梯度累积",
        "fix_accum_show": "保持等效批次 {effective}：batch_size={batch} × {steps} 步梯度累积"
        "（并查看循环写法）",
        "fix_ckpt": "为 {count} 个重复的 {block} 块启用激活检查点：查看写法",
        "hover_title": "目标 GPU：{name}",
        "hover_setting": "来自 `gpulens.gpu` = `{setting}`",
        "hover_local": "本机 GPU {index}（NVML）{more}",
        "hover_more": "，共 {count} 块",
        "hover_memory": "显卡 {memory} · 可用 **{usable}**（{how}）",
        "hover_others": "其他进程和驱动当前占用 {used}。",
        "hover_need": "这一训练步需要 ≈ **{needed}**：**{pct}** — {status}。",
        "hover_max": "能容纳的最大批次（不超过可用显存的 {warn}）：**{batch}**",
        "hover_max_none": "即使批次为 1 也超过可用显存的 {warn}。",
        "hover_no_gpu": "没有找到本机 NVIDIA GPU（{reason}）；设置 `gpulens.gpu` 来检查某块显卡，"
        '例如 `"RTX 4090"` 或 `"24GiB"`。',
        "hover_invalid": "{error}",
        "snippet_title": "gpulens：{title}",
    },
}


def text(key: str, locale: str, **fmt: object) -> str:
    table = TEXTS.get(locale, TEXTS["en"])
    value = table.get(key) or TEXTS["en"][key]
    return value.format(**fmt) if fmt else value


@dataclass(frozen=True)
class OomCheck:
    """The estimate against the chosen GPU, and what the quick fixes would give."""

    choice: GpuChoice
    report: FitReport | None = None
    #: The same script under bf16 autocast (only for an fp32 script, when it needs less).
    bf16: FitReport | None = None

    @property
    def severity(self) -> types.DiagnosticSeverity | None:
        if self.report is None:
            return None
        if self.report.status == "does_not_fit":
            return types.DiagnosticSeverity.Error
        if self.report.status == "at_risk":
            return types.DiagnosticSeverity.Warning
        return None


_CACHE: OrderedDict[tuple[int, str], tuple[weakref.ref[Analysis], OomCheck]] = OrderedDict()
_CACHE_SIZE = 32
_LOCK = threading.Lock()


def _choice_key(choice: GpuChoice, warn: float, error: float) -> str:
    local = choice.local
    local_key = (local.index, local.total, local.used_by_others) if local is not None else None
    target = choice.target
    target_key = (target.name, target.memory) if target is not None else None
    return repr((choice.setting, target_key, local_key, choice.error, choice.reason, warn, error))


def assess(
    analysis: Analysis, choice: GpuChoice, warn_ratio: float, error_ratio: float
) -> OomCheck:
    """The check for one analysis and GPU (runs the estimator; cached; never raises)."""
    key = (id(analysis), _choice_key(choice, warn_ratio, error_ratio))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0]() is analysis:
            _CACHE.move_to_end(key)
            return hit[1]
    check = _assess(analysis, choice, warn_ratio, error_ratio)
    with _LOCK:
        _CACHE[key] = (weakref.ref(analysis), check)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return check


def _assess(
    analysis: Analysis, choice: GpuChoice, warn_ratio: float, error_ratio: float
) -> OomCheck:
    gpu: Any = choice.target if choice.target is not None else choice.local
    if gpu is None or analysis.memory is None:
        return OomCheck(choice)
    warn = min(warn_ratio, error_ratio)
    try:
        report = assess_analysis(analysis, gpu, warn_ratio=warn, error_ratio=error_ratio)
    except (ValueError, TypeError, ArithmeticError, KeyError):
        return OomCheck(choice)
    bf16: FitReport | None = None
    if report is not None and report.status != "fits" and report.precision == "fp32":
        try:
            bf16 = assess_analysis(
                analysis, gpu, precision="amp_bf16", warn_ratio=warn, error_ratio=error_ratio
            )
        except (ValueError, TypeError, ArithmeticError, KeyError):
            bf16 = None
        if bf16 is not None and bf16.needed > report.needed * 0.95:
            bf16 = None  # autocast would not help (weights and optimizer state dominate)
    return OomCheck(choice, report, bf16)


# -- diagnostics -----------------------------------------------------------------------------


def _range(view: View, span: Span, encoding: str) -> types.Range | None:
    line = view.map_line(span.line)
    if line is None or not 1 <= line <= len(view.lines):
        return None
    text_line = view.lines[line - 1]
    end_col = span.end_col if span.end_line == span.line else len(text_line.encode("utf-8"))
    return types.Range(
        start=types.Position(
            line=line - 1, character=byte_col_to_client(text_line, span.col, encoding)
        ),
        end=types.Position(
            line=line - 1, character=byte_col_to_client(text_line, end_col, encoding)
        ),
    )


def _message(check: OomCheck, locale: str) -> str:
    report = check.report
    assert report is not None
    status = text(report.status, locale)
    if locale == "zh-cn":
        pct = "超过 999%" if report.usage_ratio > 9.99 else f"{report.usage_ratio:.0%}"
        message = (
            f"batch_size={report.batch_size} 需要 ≈ {fmt_bytes(report.needed)}；"
            f"{report.gpu_name} 可用 {fmt_bytes(report.usable)}（{pct}）"
        )
        hint = None
        if report.max_batch_size is not None:
            warn = f"{1 - report.margin:.0%}"
            hint = (
                text("hover_max_none", locale, warn=warn).rstrip("。")
                if report.max_batch_size == 0
                else f"不超过可用显存 {warn} 的最大批次：{_batch_text(report)}"
            )
    else:
        message, hint = report.message, report.hint
    if hint:
        return text("diag", locale, message=message, status=status, hint=hint)
    return text("diag_nohint", locale, message=message, status=status)


def _batch_text(report: FitReport) -> str:
    best = report.max_batch_size or 0
    return ("≥ " if report.max_batch_at_limit else "") + fmt_int(best)


def diagnostic_spans(view: View) -> list[Span]:
    """Where the OOM diagnostics go: the batch size (its uses and definition) and where the
    model goes to the GPU; the model's line when the reader has no batch-size mention."""
    analysis = view.analysis
    spans: list[Span] = []
    lines: set[int] = set()
    for mention in analysis.mentions:
        if mention.kind == "batch_size" and mention.span.line not in lines:
            spans.append(mention.span)
            lines.add(mention.span.line)
    device = fixes.device_move_span(view.shown.text, analysis)
    if device is not None and device.line not in lines:
        spans.append(device)
        lines.add(device.line)
    if not spans:
        for model in analysis.models:
            if model.trained and model.span is not None:
                spans.append(model.span)
                break
    return sorted(spans, key=lambda s: (s.line, s.col))


def diagnostics(view: View, check: OomCheck, locale: str, encoding: str) -> list[types.Diagnostic]:
    severity = check.severity
    if severity is None:
        return []
    message = _message(check, locale)
    code = CODE_ERROR if severity == types.DiagnosticSeverity.Error else CODE_WARNING
    out: list[types.Diagnostic] = []
    for span in diagnostic_spans(view):
        rng = _range(view, span, encoding)
        if rng is None:
            continue
        out.append(
            types.Diagnostic(
                range=rng,
                message=message,
                severity=severity,
                source=SOURCE,
                code=code,
            )
        )
    return out


# -- code actions ----------------------------------------------------------------------------


def _to_lsp(view: View, edit: fixes.TextEdit, encoding: str) -> types.TextEdit:
    lines = view.lines

    def pos(line: int, col: int) -> types.Position:
        text_line = lines[line] if 0 <= line < len(lines) else ""
        return types.Position(line=line, character=byte_col_to_client(text_line, col, encoding))

    return types.TextEdit(
        range=types.Range(
            start=pos(edit.start_line, edit.start_col), end=pos(edit.end_line, edit.end_col)
        ),
        new_text=edit.new_text,
    )


@dataclass(frozen=True)
class Fix:
    """A quick fix before it becomes an LSP code action (tests apply ``edits`` to the text)."""

    key: str
    title: str
    edits: tuple[fixes.TextEdit, ...] = ()
    snippet: str | None = None
    preferred: bool = False


def compute_fixes(view: View, check: OomCheck, locale: str) -> list[Fix]:
    """The quick fixes for the current text (none while it shows a stale analysis)."""
    report = check.report
    if report is None or check.severity is None or view.shown is not view.current:
        return []
    analysis = view.analysis
    text_ = view.current.text
    lines = text_.split("\n")
    out: list[Fix] = []
    site = fixes.batch_site(lines, analysis)
    best = report.max_batch_size
    if site is not None and best and not report.max_batch_at_limit and best < site.value:
        out.append(
            Fix(
                "batch_size",
                text("fix_batch", locale, batch=best, gpu=report.gpu_name),
                (site.replace(best),),
                preferred=True,
            )
        )
    if check.bf16 is not None:
        before, after = fmt_bytes(report.needed), fmt_bytes(check.bf16.needed)
        edits = fixes.autocast_edits(text_, analysis)
        if edits:
            out.append(
                Fix("autocast", text("fix_bf16", locale, before=before, after=after), tuple(edits))
            )
        else:
            out.append(
                Fix(
                    "autocast",
                    text("fix_bf16_show", locale, before=before, after=after),
                    snippet=fixes.autocast_snippet(),
                )
            )
    if site is not None and best:
        accum = analysis.facts.get("grad_accum_steps")
        existing = accum.value if accum is not None and isinstance(accum.value, int) else 1
        plan = fixes.accumulation_plan(site.value, best, existing)
        if plan is not None:
            edits_: list[fixes.TextEdit] = [site.replace(plan.batch)]
            snippet: str | None = None
            if existing > 1:
                steps_site = fixes.literal_site(lines, accum.span if accum else None, existing)
                if steps_site is None:
                    plan = None
                else:
                    edits_.append(steps_site.replace(plan.steps))
            else:
                snippet = fixes.accumulation_snippet(plan)
            if plan is not None:
                key = "fix_accum_show" if snippet else "fix_accum"
                title = text(
                    key,
                    locale,
                    effective=plan.effective,
                    batch=plan.batch,
                    steps=plan.steps,
                )
                out.append(Fix("accumulation", title, tuple(edits_), snippet=snippet))
    blocks = fixes.repeated_blocks(analysis)
    if blocks is not None:
        container, block, count = blocks
        block_name = block.rsplit(".", 1)[-1]
        out.append(
            Fix(
                "checkpointing",
                text("fix_ckpt", locale, count=count, block=block_name),
                snippet=fixes.checkpoint_snippet(container, block_name),
            )
        )
    return out


def code_actions(
    view: View,
    check: OomCheck,
    uri: str,
    locale: str,
    encoding: str,
    attached: list[types.Diagnostic],
) -> list[types.CodeAction]:
    out: list[types.CodeAction] = []
    for fix in compute_fixes(view, check, locale):
        edit = None
        if fix.edits:
            edit = types.WorkspaceEdit(
                changes={uri: [_to_lsp(view, e, encoding) for e in fix.edits]}
            )
        command = None
        if fix.snippet:
            command = types.Command(
                title=fix.title, command=SHOW_SNIPPET, arguments=[fix.title, fix.snippet, fix.key]
            )
        out.append(
            types.CodeAction(
                title=fix.title,
                kind=types.CodeActionKind.QuickFix,
                diagnostics=attached or None,
                is_preferred=fix.preferred or None,
                edit=edit,
                command=command,
            )
        )
    return out


# -- hover -----------------------------------------------------------------------------------


def hover_lines(check: OomCheck, locale: str) -> list[str]:
    """The target GPU section of the memory hover."""
    choice = check.choice
    if choice.error is not None:
        error = localize(choice.error, locale)
        return [f"**{escape(text('hover_invalid', locale, error=error))}**"]
    if not choice.usable_input:
        reason = localize(choice.reason or "?", locale)
        return [text("hover_no_gpu", locale, reason=escape(reason))]
    report = check.report
    name = report.gpu_name if report is not None else (choice.name or "?")
    lines = [f"#### {text('hover_title', locale, name=escape(name))}", ""]
    if choice.local is not None:
        more = (
            text("hover_more", locale, count=choice.local_count) if choice.local_count > 1 else ""
        )
        origin = text("hover_local", locale, index=choice.local.index, more=more)
    else:
        origin = text("hover_setting", locale, setting=escape(choice.setting))
    lines.append(origin)
    if choice.target is not None and choice.target.note:
        lines += ["", f"_{escape(localize(choice.target.note, locale))}_"]
    if report is None:
        return lines
    lines += [
        "",
        text(
            "hover_memory",
            locale,
            memory=fmt_bytes(report.gpu_memory),
            usable=fmt_bytes(report.usable),
            how=escape(localize(report.usable_how, locale)),
        ),
    ]
    if choice.local is not None:
        lines.append(text("hover_others", locale, used=fmt_bytes(choice.local.used_by_others)))
    pct = "> 999%" if report.usage_ratio > 9.99 else f"{report.usage_ratio:.0%}"
    lines += [
        "",
        text(
            "hover_need",
            locale,
            needed=fmt_bytes(report.needed),
            pct=pct,
            status=text(report.status, locale),
        ),
    ]
    warn = f"{1 - report.margin:.0%}"
    if report.max_batch_size is not None:
        lines.append("")
        if report.max_batch_size == 0:
            lines.append(text("hover_max_none", locale, warn=warn))
        else:
            lines.append(text("hover_max", locale, warn=warn, batch=_batch_text(report)))
    return lines
