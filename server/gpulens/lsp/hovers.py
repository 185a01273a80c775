"""Analysis + position → hover markdown: what the value is, where it came from, what it costs,
and what the concept means (English or Simplified Chinese)."""

from __future__ import annotations

import re

from gpulens.analysis.facts import Fact, Mention, Span
from gpulens.lsp.concepts import OPTIMIZER_STATE, concept, ui
from gpulens.lsp.costs import (
    MEMORY_KINDS,
    layer_at,
    layer_brief,
    layer_markdown,
    memory_lines,
    model_at,
)
from gpulens.lsp.costs import model_markdown as _model_markdown
from gpulens.lsp.documents import View
from gpulens.lsp.hints import zh_summary
from gpulens.lsp.markdown import (
    ITERATION_FACTS,
    args_line,
    code,
    escape,
    fact_rows,
    fmt_count,
    fmt_value,
    provenance,
    unknown_help,
)
from gpulens.lsp.positions import client_col_to_byte
from gpulens.lsp.reasons_zh import localize

#: The fact a mention's hover reports, by mention kind.
KIND_FACT: dict[str, str | None] = {
    "batch_size": "batch_size",
    "epochs": "epochs",
    "epoch_loop": "epochs",
    "step_loop": "max_steps",
    "max_steps": "max_steps",
    "dataset": "dataset_size",
    "dataloader": None,
    "optimizer": "optimizer",
    "learning_rate": "learning_rate",
    "weight_decay": "weight_decay",
    "loss": "loss",
    "lr_scheduler": "lr_scheduler",
    "grad_accum": "grad_accum_steps",
    "precision": "precision",
    "dropout": None,
    "activation": None,
}

#: Mentions whose value is an argument of another, class-valued fact: kind → (fact, key).
KIND_OPTION: dict[str, tuple[str, str]] = {
    "weight_decay": ("optimizer", "weight_decay"),
    "learning_rate": ("optimizer", "lr"),
}

#: Details that name a kind of place rather than code (not worth showing).
PLAIN_DETAILS = frozenset({"definition", "epoch", "step", "while", "for"})

#: The concept text a mention's hover explains, by mention kind.
KIND_CONCEPT: dict[str, str] = {"epoch_loop": "epochs", "max_steps": "step_loop"}

#: Mentions whose hover also shows the iteration computation.
ITERATION_KINDS = frozenset(
    {
        "batch_size",
        "epochs",
        "epoch_loop",
        "step_loop",
        "max_steps",
        "dataset",
        "dataloader",
        "grad_accum",
    }
)


def mention_at(view: View, line0: int, col: int, encoding: str) -> Mention | None:
    """The innermost mention under a client position (0-based line, client column)."""
    if not 0 <= line0 < len(view.lines):
        return None
    line = view.unmap_line(line0 + 1)
    if line is None:
        return None
    text = view.lines[line0]
    byte_col = client_col_to_byte(text, col, encoding)
    found = view.analysis.mentions_at(line, byte_col)
    if not found:
        value_col = _keyword_value_col(text, byte_col)
        if value_col is not None:
            found = [
                m for m in view.analysis.mentions if m.span.line == line and m.span.col == value_col
            ]
    if not found:
        return None

    def size(m: Mention) -> tuple[int, int]:
        return (m.span.end_line - m.span.line, m.span.end_col - m.span.col)

    return min(found, key=size)


_KEYWORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)(?!=)")


def _keyword_value_col(text: str, byte_col: int) -> int | None:
    """On the name of a keyword argument (``batch_size=``), the byte column of its value."""
    raw = text.encode("utf-8", "surrogatepass")
    line = raw.decode("utf-8", "replace")
    for match in _KEYWORD.finditer(line):
        start = len(line[: match.start()].encode("utf-8"))
        end = len(line[: match.end(1)].encode("utf-8"))
        if start <= byte_col <= end:
            return len(line[: match.end()].encode("utf-8"))
    return None


def _optimizer_name(mention: Mention, fact: Fact | None) -> str | None:
    candidates = [mention.detail]
    if fact is not None and fact.known:
        value = fact.value
        if isinstance(value, dict):
            candidates.append(str(value.get("name") or value.get("class") or ""))
        else:
            candidates.append(str(value))
    for text in candidates:
        if not text:
            continue
        name = text.split("(", 1)[0].strip().rsplit(".", 1)[-1]
        if name in OPTIMIZER_STATE:
            return name
    return None


def _option(fact: Fact | None, key: str) -> object:
    """An argument of a class-valued fact (``{"class": "SGD", "momentum": 0.9}``)."""
    if fact is None or not isinstance(fact.value, dict):
        return None
    return fact.value.get(key)


def _cost_lines(view: View, mention: Mention, fact: Fact | None, locale: str) -> list[str]:
    it = view.analysis.iterations
    lines: list[str] = []
    if mention.kind in ITERATION_KINDS:
        if it.per_epoch is not None or it.total is not None:
            label_pe = ui("per_epoch_title", locale)
            label_total = ui("total_title", locale)
            summary = []
            if it.per_epoch is not None:
                summary.append(f"{label_pe}: **{fmt_count(it.per_epoch)}**")
            if it.total is not None:
                summary.append(f"{label_total}: **{fmt_count(it.total)}**")
            if (
                it.optimizer_steps is not None
                and it.total is not None
                and it.optimizer_steps != it.total
            ):
                summary.append(
                    f"{ui('opt_steps_title', locale)}: **{fmt_count(it.optimizer_steps)}**"
                )
            lines.append(" · ".join(summary))
        summary_zh = zh_summary(view) if locale == "zh-cn" else ""
        if summary_zh:
            lines.append(summary_zh)
        elif it.explanation:
            lines.append(escape(localize(it.explanation, locale)))
        elif it.reason:
            lines.append(f"{ui('unknown_title', locale)}: {escape(localize(it.reason, locale))}")
    if mention.kind == "optimizer":
        name = _optimizer_name(mention, fact)
        if name:
            count, note_en, note_zh = OPTIMIZER_STATE[name]
            note = note_zh if locale == "zh-cn" else note_en
            momentum = _option(fact, "momentum")
            if name == "SGD" and isinstance(momentum, (int, float)):
                count = "1" if momentum else "0"
            lines.append(ui("optimizer_state", locale, count=count, note=note))
    return lines


def hover_markdown(view: View, mention: Mention, locale: str) -> str:
    fact_name = KIND_FACT.get(mention.kind)
    fact = view.analysis.facts.get(fact_name) if fact_name else None
    info = concept(KIND_CONCEPT.get(mention.kind, mention.kind), locale)
    title = info.title if info else mention.kind.replace("_", " ")
    out: list[str] = []
    option = KIND_OPTION.get(mention.kind)
    if (fact is None or not fact.known) and option is not None:
        value = _option(view.analysis.facts.get(option[0]), option[1])
        if value is not None:
            fact = Fact(mention.kind, value, "", None)
            fact_name = None
    if fact is not None and fact.known:
        out.append(f"### {title}: {escape(fmt_value(fact.value))}")
    else:
        out.append(f"### {title}")
    detail = mention.detail
    if detail and detail not in PLAIN_DETAILS:
        shown = detail if detail.startswith("`") else code(detail)
        out.append(f"{ui('detail', locale)}: {shown}")
    if fact is not None and fact_name is not None:
        if fact.known:
            source = provenance(fact, view, locale)
            if source:
                out.append(f"{ui('source', locale)}: {source}")
        else:
            out += ["", *unknown_help(fact_name, fact, locale)]
    cost = _cost_lines(view, mention, fact, locale)
    if cost:
        out += ["", *cost]
    if mention.kind in ("dataloader", "epoch_loop", "step_loop"):
        it = view.analysis.iterations
        unknown_count = it.total is None and it.per_epoch is None
        rows = fact_rows(view, ITERATION_FACTS, locale, include_unknown=unknown_count)
        if rows:
            out += ["", *rows]
        extra = args_line(view, locale)
        if extra:
            out += ["", extra]
    if mention.kind in ("dropout", "activation"):
        group = layer_at(view.analysis, mention.span.line, mention.span.col)
        if group is not None:
            out += ["", layer_brief(group, locale)]
    if mention.kind in MEMORY_KINDS:
        memory = memory_lines(view.analysis, locale)
        if memory:
            out += ["", *memory]
    if info:
        out += ["", "---", "", f"**{ui('meaning', locale)}** · {info.body}"]
    if view.stale_error:
        out += ["", f"_{escape(ui('stale', locale, error=localize(view.stale_error, locale)))}_"]
    return "\n".join(out)


def cost_hover_at(
    view: View, line0: int, col: int, encoding: str, locale: str
) -> tuple[str, Span] | None:
    """A layer's or a model's hover at a client position (when no concept mention is there)."""
    if not 0 <= line0 < len(view.lines):
        return None
    line = view.unmap_line(line0 + 1)
    if line is None:
        return None
    byte_col = client_col_to_byte(view.lines[line0], col, encoding)
    group = layer_at(view.analysis, line, byte_col)
    model = model_at(view.analysis, line, byte_col)
    if model is not None and model.span is not None and model.span.line == line:
        # The model's own line (`model = models.resnet18()`, `model = nn.Linear(20, 2)`): its
        # layers have no line of their own there.
        return _with_stale(view, _model_markdown(view, model, locale), locale), model.span
    if group is not None and group.first.span is not None:
        return _with_stale(view, layer_markdown(group, locale), locale), group.first.span
    if model is not None and model.span is not None:
        return _with_stale(view, _model_markdown(view, model, locale), locale), model.span
    return None


def _with_stale(view: View, text: str, locale: str) -> str:
    if view.stale_error:
        return (
            text
            + "\n\n"
            + f"_{escape(ui('stale', locale, error=localize(view.stale_error, locale)))}_"
        )
    return text
