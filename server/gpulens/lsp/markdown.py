"""Small formatting helpers shared by tooltips, hovers and diagnostics (no analysis here)."""

from __future__ import annotations

import json
import math
from typing import Any

from gpulens.analysis.facts import Fact
from gpulens.lsp.concepts import fact_label, ui
from gpulens.lsp.documents import View
from gpulens.lsp.reasons_zh import localize

#: Facts the iteration count depends on, in the order a reader follows the computation.
ITERATION_FACTS: tuple[str, ...] = (
    "dataset_size",
    "batch_size",
    "world_size",
    "drop_last",
    "epochs",
    "max_steps",
    "grad_accum_steps",
)

#: Example values for pragmas suggested to the user.
PRAGMA_EXAMPLES: dict[str, str] = {
    "dataset_size": "50000",
    "batch_size": "64",
    "epochs": "10",
    "max_steps": "10000",
    "grad_accum_steps": "4",
    "world_size": "8",
    "drop_last": "true",
}


def is_missing(fact: Fact | None) -> bool:
    """Unknown and needed: the reader says why (``Fact.unknown``)."""
    return fact is not None and not fact.known and fact.reason is not None


def is_unused(fact: Fact) -> bool:
    """No value because the script does not use it (``max_steps`` in an epoch loop...)."""
    return not fact.known and fact.reason is None


def fmt_value(value: Any) -> str:
    """A fact value as a user reads it: 1,200 · 0.001 · True · AdamW · [1, 2]."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:g}"
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("class"), str):
        args = ", ".join(
            f"{k}={fmt_value(v).replace(',', '') if isinstance(v, int) else fmt_value(v)}"
            for k, v in value.items()
            if k != "class"
        )
        return f"{value['class']}({args})"
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def fmt_count(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def code(text: str) -> str:
    """Inline code that survives backticks inside ``text``."""
    text = text.replace("\n", " ")
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def escape(text: str) -> str:
    """Escape markdown table/emphasis characters in reader-provided text (``_`` inside words is
    not emphasis in CommonMark, so identifiers stay readable)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")


def pragma(name: str) -> str:
    return f"# gpulens: {name}={PRAGMA_EXAMPLES.get(name, '...')}"


def where(fact: Fact, view: View, locale: str) -> str:
    """``line 12`` of the current text, or empty when the fact has no (surviving) line."""
    if fact.span is None:
        return ""
    line = view.map_line(fact.span.line)
    return ui("line", locale, line=line) if line is not None else ""


def provenance(fact: Fact, view: View, locale: str) -> str:
    """``argparse default of --batch-size · line 12``."""
    known = fact.source and fact.source != "unknown"
    parts = [escape(localize(fact.source, locale))] if known else []
    loc = where(fact, view, locale)
    # The reader's own words usually name the line already ("`BATCH_SIZE = 100`, line 12").
    if loc and not (
        view.line_map is None and fact.span is not None and f"line {fact.span.line}" in fact.source
    ):
        parts.append(loc)
    return " · ".join(parts)


def fact_rows(
    view: View, names: tuple[str, ...], locale: str, include_unknown: bool = True
) -> list[str]:
    """A markdown table of the named facts present in the analysis (unknown ones only with
    ``include_unknown``: a step loop's count does not need the dataset size)."""
    facts = view.analysis.facts
    present = [
        facts[n]
        for n in names
        if n in facts and not is_unused(facts[n]) and (include_unknown or facts[n].known)
    ]
    if not present:
        return []
    rows = [
        f"| | {ui('value', locale)} | {ui('source', locale)} |",
        "|---|---|---|",
    ]
    for fact in present:
        label = fact_label(fact.name, locale)
        if fact.known:
            rows.append(
                f"| {label} | **{escape(fmt_value(fact.value))}** | "
                f"{provenance(fact, view, locale)} |"
            )
        else:
            reason = escape(localize(fact.reason or "", locale))
            rows.append(f"| {label} | _{ui('unknown', locale)}_ | {reason} |")
    return rows


def unknown_help(name: str, fact: Fact | None, locale: str) -> list[str]:
    """Why a fact is unknown and how to supply it, as markdown lines."""
    label = fact_label(name, locale)
    lines = [f"**{label}**: _{ui('unknown', locale)}_"]
    if fact is not None and fact.reason:
        lines.append(f"- {ui('why', locale)}: {escape(localize(fact.reason, locale))}")
    supply = ui("pragma_hint", locale, pragma=pragma(name))
    lines.append(f"- {ui('how_to_supply', locale)}: {supply}")
    lines.append(f"  {ui('setting_hint', locale, name=name)}")
    lines.append(f"  {ui('args_hint', locale)}")
    return lines


def args_line(view: View, locale: str) -> str | None:
    """Which script arguments the analysis used, and where they came from."""
    inputs = view.shown.inputs
    if not inputs.script_args:
        return None
    import shlex

    joined = code(shlex.join(inputs.script_args))
    origin = ""
    if inputs.args_origin[:1] == ("setting",):
        origin = " " + ui("setting_source", locale)
    elif inputs.args_origin[:1] == ("launch",) and len(inputs.args_origin) == 3:
        _, file, name = inputs.args_origin
        origin = " " + ui("launch_source", locale, file=file, name=name)
    return f"{ui('script_args', locale)}: {joined}{origin}"
