"""Analysis → inlay hints: ``12 it/epoch`` at the DataLoader's batch size and ``60 it`` at the
training loop, with the whole computation and every fact's provenance in the tooltip."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from lsprotocol import types

from gpulens.analysis.facts import Iterations, Mention
from gpulens.lsp.concepts import fact_label, ui
from gpulens.lsp.documents import View
from gpulens.lsp.markdown import (
    ITERATION_FACTS,
    args_line,
    escape,
    fact_rows,
    fmt_count,
    fmt_value,
    is_missing,
    unknown_help,
)
from gpulens.lsp.positions import byte_col_to_client
from gpulens.lsp.reasons_zh import localize
from gpulens.lsp.settings import Settings

PER_EPOCH_KINDS = ("batch_size",)
#: ``batch_size`` mentions with this role mark where the value is defined (a constant, an
#: argparse default): hovers use them, the per-epoch hint goes only where the DataLoader uses it.
DEFINITION = "definition"
TOTAL_KINDS = ("epoch_loop", "step_loop")


@dataclass(frozen=True)
class Hint:
    """An inlay hint before conversion to LSP: 0-based line, client column.

    The tooltip is rendered on demand (``render``): a model's or the memory estimate's tooltip
    runs the estimator again for its what-if figures, which an editor that resolves tooltips
    lazily (``inlayHint/resolve``) only pays for when the user points at the hint."""

    line: int
    col: int
    label: str
    render: Callable[[], str] = field(compare=False, repr=False)
    kind: str = ""

    @property
    def tooltip(self) -> str:
        return self.render()


#: Hint kinds whose tooltip is left for ``inlayHint/resolve`` when the client supports it.
LAZY_KINDS = frozenset({"model", "layer", "memory"})


def per_epoch_label(it: Iterations, locale: str) -> str:
    return f"{fmt_count(it.per_epoch)} {ui('it_per_epoch', locale)}"


def total_label(it: Iterations, locale: str) -> str:
    label = f"{fmt_count(it.total)} {ui('it', locale)}"
    steps = it.optimizer_steps
    if it.total is not None and steps is not None and steps != it.total:
        label += f" · {fmt_count(steps)} {ui('opt_steps', locale)}"
    return label


def zh_summary(view: View) -> str:
    """The computation in Chinese, built from the reader's numbers (no arithmetic here)."""
    it = view.analysis.iterations
    facts = view.analysis.facts
    parts: list[str] = []

    def known(name: str) -> str | None:
        fact = facts.get(name)
        return fmt_value(fact.value) if fact is not None and fact.known else None

    n, b, e = known("dataset_size"), known("batch_size"), known("epochs")
    if it.per_epoch is not None:
        if n and b:
            parts.append(f"{n} 个样本 / 批次 {b} = 每个 epoch {fmt_count(it.per_epoch)} 次迭代")
        else:
            parts.append(f"每个 epoch {fmt_count(it.per_epoch)} 次迭代")
    if it.total is not None:
        if it.per_epoch is not None and e:
            parts.append(f"× {e} 个 epoch = {fmt_count(it.total)} 次迭代")
        else:
            parts.append(f"共 {fmt_count(it.total)} 次迭代")
    if it.optimizer_steps is not None:
        parts.append(f"权重更新 {fmt_count(it.optimizer_steps)} 次")
    return "；".join(parts)


def iterations_tooltip(view: View, locale: str, focus: str) -> str:
    """The markdown tooltip shared by both hints; ``focus`` is ``per_epoch`` or ``total``."""
    analysis = view.analysis
    it = analysis.iterations
    value = it.per_epoch if focus == "per_epoch" else it.total
    lines: list[str] = []
    if value is None:
        lines.append(f"**{ui('unknown_title', locale)}**")
        missing = [name for name in ITERATION_FACTS if is_missing(analysis.facts.get(name))]
        if focus == "total" and it.per_epoch is not None:
            missing = [n for n in missing if n in ("epochs", "max_steps")]
        if it.reason and not missing:
            lines += ["", escape(localize(it.reason, locale))]
        for name in missing:
            lines += ["", *unknown_help(name, analysis.facts.get(name), locale)]
    else:
        title = ui("per_epoch_title" if focus == "per_epoch" else "total_title", locale)
        lines.append(f"**{title}: {fmt_count(value)}**")
    summary = zh_summary(view) if locale == "zh-cn" else ""
    if summary or it.explanation:
        lines += ["", f"{ui('computation', locale)}:"]
        if summary:
            lines.append(summary)
        if it.explanation:
            explanation = escape(localize(it.explanation, locale))
            lines += ["", f"> {explanation}" if summary else explanation]
    rows = fact_rows(view, ITERATION_FACTS, locale, include_unknown=value is None)
    if rows:
        lines += ["", *rows]
    extra = args_line(view, locale)
    if extra:
        lines += ["", extra]
    if view.stale_error:
        lines += ["", f"_{escape(ui('stale', locale, error=localize(view.stale_error, locale)))}_"]
    return "\n".join(lines)


def mention_anchor(view: View, mention: Mention, encoding: str) -> tuple[int, int] | None:
    """Where a hint for ``mention`` goes in the current text: the end of its span when the span
    is on one line, else the end of its first line. None when that line has changed since."""
    line = view.map_line(mention.span.line)
    if line is None or line > len(view.lines):
        return None
    text = view.lines[line - 1]
    raw = text.encode("utf-8", "surrogatepass")
    if mention.span.end_line == mention.span.line:
        byte_col = min(mention.span.end_col, len(raw))
        if mention.kind in TOTAL_KINDS:
            # After the loop header's colon rather than before it.
            rest = raw[byte_col:]
            stripped = rest.lstrip(b" \t")
            if stripped.startswith(b":"):
                byte_col += len(rest) - len(stripped) + 1
    else:
        byte_col = len(text.rstrip().encode("utf-8", "surrogatepass"))
    return line - 1, byte_col_to_client(text, byte_col, encoding)


def compute_hints(view: View, settings: Settings, locale: str, encoding: str) -> list[Hint]:
    """Every hint for the document (callers filter by range)."""
    analysis = view.analysis
    it = analysis.iterations
    hints: list[Hint] = []
    seen: set[tuple[int, int, str]] = set()
    per_epoch_wanted = settings.per_epoch_hints and not (it.per_epoch is None and it.total)
    for mention in analysis.mentions:
        if mention.kind in PER_EPOCH_KINDS and mention.role == DEFINITION:
            continue
        if mention.kind in PER_EPOCH_KINDS and per_epoch_wanted:
            kind = "per_epoch"
            label = per_epoch_label(it, locale)
        elif mention.kind in TOTAL_KINDS and settings.total_hints:
            kind = "total"
            label = total_label(it, locale)
        else:
            continue
        pos = mention_anchor(view, mention, encoding)
        if pos is None or (pos[0], pos[1], kind) in seen:
            continue
        seen.add((pos[0], pos[1], kind))
        hints.append(
            Hint(pos[0], pos[1], label, partial(iterations_tooltip, view, locale, kind), kind)
        )
    from gpulens.lsp.costs import cost_hints

    hints.extend(cost_hints(view, settings, locale, encoding))
    # Stable: at one position the iteration hint comes first, then the memory hint.
    hints.sort(key=lambda h: (h.line, h.col))
    return hints


def to_lsp(
    hints: list[Hint], start_line: int, end_line: int, resolve_uri: str | None = None
) -> list[types.InlayHint]:
    """The hints whose line lies in [start_line, end_line] (0-based, inclusive).

    With ``resolve_uri`` (the client resolves tooltips), the tooltips of :data:`LAZY_KINDS`
    are left out and ``data`` says where to find them again (:func:`resolve_tooltip`)."""
    out: list[types.InlayHint] = []
    for hint in hints:
        if not start_line <= hint.line <= end_line:
            continue
        # What the hint is (per_epoch, total, model, layer, memory): for clients that style or
        # filter them, for tests, and for resolving the tooltip later.
        data: dict[str, object] = {"kind": hint.kind}
        tooltip: types.MarkupContent | None = None
        if resolve_uri is not None and hint.kind in LAZY_KINDS:
            data["uri"] = resolve_uri
        else:
            tooltip = types.MarkupContent(kind=types.MarkupKind.Markdown, value=hint.tooltip)
        out.append(
            types.InlayHint(
                position=types.Position(line=hint.line, character=hint.col),
                label=hint.label,
                tooltip=tooltip,
                padding_left=True,
                data=data,
            )
        )
    return out


def resolve_tooltip(hints: list[Hint], hint: types.InlayHint) -> types.InlayHint:
    """Fill in the tooltip of a hint sent without one: the hint of the same kind at the same
    place in the current analysis (unchanged when the text moved on and it is gone)."""
    data = hint.data if isinstance(hint.data, dict) else {}
    label = hint.label if isinstance(hint.label, str) else "".join(p.value for p in hint.label)
    for candidate in hints:
        if (
            candidate.line == hint.position.line
            and candidate.col == hint.position.character
            and candidate.kind == data.get("kind")
            and candidate.label == label
        ):
            hint.tooltip = types.MarkupContent(
                kind=types.MarkupKind.Markdown, value=candidate.tooltip
            )
            break
    return hint


def describe_unknown(view: View, locale: str) -> str | None:
    """One sentence for a diagnostic when the iteration count is unknown, else None."""
    it = view.analysis.iterations
    if it.total is not None or view.analysis.error is not None:
        return None
    facts = view.analysis.facts
    missing = [n for n in ITERATION_FACTS if is_missing(facts.get(n))]
    unknown = ui("unknown", locale)
    reason = localize(it.reason, locale) if it.reason else ""
    reason = reason or ", ".join(
        f"{fact_label(n, locale)}: {localize(facts[n].reason or '', locale) or unknown}"
        for n in missing
    )
    return reason or ui("unknown", locale)
