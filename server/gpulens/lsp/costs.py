"""Models and training memory → inlay hints and hover markdown (issue 3, "what the user sees").

Translation only: parameter counts, shapes and the memory terms come from the reader
(``Analysis.models``, ``Analysis.memory``); the what-if figures from :mod:`gpulens.whatif`
(the estimator run again on the same traces). Texts live in :mod:`gpulens.lsp.memory_texts`.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from gpulens.analysis.facts import Analysis, LayerSummary, ModelSummary, Span
from gpulens.lsp.concepts import ui
from gpulens.lsp.documents import View
from gpulens.lsp.hints import Hint, mention_anchor
from gpulens.lsp.markdown import code, escape
from gpulens.lsp.memory_texts import (
    ADVICE_ACTIVATIONS,
    ADVICE_WEIGHTS,
    OPTIONAL_TERMS,
    TERM_HOW_EN,
    TERM_HOW_ZH,
    TERMS,
    TOTALS,
    advice,
    term_label,
    text,
)
from gpulens.lsp.positions import byte_col_to_client
from gpulens.lsp.reasons_zh import localize, to_zh
from gpulens.lsp.settings import Settings
from gpulens.units import fmt_bytes, fmt_int, fmt_names, fmt_params, fmt_ratio, fmt_shape

#: Mention kinds whose hover carries the memory table.
MEMORY_KINDS = frozenset({"batch_size", "optimizer", "precision"})
#: Where the memory hint goes, in order of preference (then the first trained model).
MEMORY_ANCHORS = ("epoch_loop", "step_loop")
#: Layer rows a model hover lists before "… and N more".
MAX_LAYER_ROWS = 24
#: Optimizers whose state is two buffers per parameter (the "lighter optimizer" advice).
ADAM_LIKE = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adadelta"})


# -- small helpers -----------------------------------------------------------------------------


def precision_bytes(precision: object) -> tuple[int, str]:
    """Bytes per parameter of the model's weights and the precision's name (fp32 when unknown):
    AMP keeps fp32 weights; pure fp16/bf16 stores them in 2 bytes."""
    name = precision if isinstance(precision, str) and precision else "fp32"
    from gpulens.estimate.activations import Precision

    try:
        parsed = Precision.parse(name)
    except ValueError:
        return 4, "fp32"
    # AMP keeps fp32 weights (autocast casts per op): the weights' dtype is fp32 there.
    return parsed.float_bytes, "fp32" if parsed.float_bytes == 4 else parsed.name


def script_precision(analysis: Analysis) -> tuple[int, str]:
    memory = analysis.memory
    if memory is not None:
        return precision_bytes(memory.precision)
    fact = analysis.facts.get("precision")
    return precision_bytes(fact.value if fact is not None and fact.known else None)


def _end_anchor(view: View, span: Span, encoding: str) -> tuple[int, int] | None:
    """After ``span`` on its last line (and after a comma that directly follows it, as in an
    ``nn.Sequential(...)`` argument list); None when that line changed since the analysis."""
    line = view.map_line(span.end_line)
    if line is None or line > len(view.lines):
        return None
    text_line = view.lines[line - 1]
    raw = text_line.encode("utf-8", "surrogatepass")
    byte_col = min(span.end_col, len(raw))
    rest = raw[byte_col:]
    stripped = rest.lstrip(b" \t")
    if stripped.startswith(b","):
        byte_col += len(rest) - len(stripped) + 1
    return line - 1, byte_col_to_client(text_line, byte_col, encoding)


def _line_end_anchor(view: View, line: int, encoding: str) -> tuple[int, int] | None:
    """At the end of a 1-based line of the analysed text (trailing blanks excluded)."""
    mapped = view.map_line(line)
    if mapped is None or mapped > len(view.lines):
        return None
    text_line = view.lines[mapped - 1]
    byte_col = len(text_line.rstrip().encode("utf-8", "surrogatepass"))
    return mapped - 1, byte_col_to_client(text_line, byte_col, encoding)


def layer_anchor(view: View, layer: LayerSummary, encoding: str) -> tuple[int, int] | None:
    """After the layer's call on one line; at the end of the first line of a call that spans
    several (``nn.ModuleDict(dict(`` ... ``))``: the hint goes where the reader starts)."""
    if layer.span is not None and layer.span.end_line == layer.span.line:
        return _end_anchor(view, layer.span, encoding)
    if layer.span is not None:
        return _line_end_anchor(view, layer.span.line, encoding)
    if layer.line is not None:
        return _line_end_anchor(view, layer.line, encoding)
    return None


def model_anchor(view: View, model: ModelSummary, encoding: str) -> tuple[int, int] | None:
    line = model.span.line if model.span is not None else model.line
    return _line_end_anchor(view, line, encoding) if line is not None else None


@dataclass
class LayerGroup:
    """The layers whose hint lands at one place: one layer, or the instances a loop or a reused
    class builds from one line of code."""

    pos: tuple[int, int]
    layers: list[tuple[ModelSummary, LayerSummary]]

    @property
    def first(self) -> LayerSummary:
        return self.layers[0][1]

    @property
    def count(self) -> int:
        return len(self.layers)

    @property
    def same_params(self) -> bool:
        return len({layer.params for _, layer in self.layers}) == 1

    @property
    def total_params(self) -> int | None:
        values = [layer.params for _, layer in self.layers]
        if any(v is None for v in values):
            return None
        return sum(v for v in values if v is not None)

    @property
    def same_shape(self) -> bool:
        return len({layer.output_shape for _, layer in self.layers}) == 1

    @property
    def shape(self) -> tuple[int | None, ...] | None:
        """The output shape, when every instance has the same one."""
        return self.layers[-1][1].output_shape if self.same_shape else None


def _inside(inner: Span, outer: Span) -> bool:
    return (
        inner != outer
        and outer.contains(inner.line, inner.col)
        and (outer.contains(inner.end_line, inner.end_col))
    )


def outermost(groups: list[LayerGroup]) -> list[LayerGroup]:
    """Drop the layers written inside a container's call on the same line
    (``nn.Sequential(nn.Linear(8, 4), nn.ReLU())``): one hint per line of code, the container's;
    the inner layers keep their hovers."""
    spans = [g.first.span for g in groups if g.first.span is not None]
    return [
        g
        for g in groups
        if g.first.span is None
        or not any(
            _inside(g.first.span, other) and other.line == g.first.span.line for other in spans
        )
    ]


def layer_groups(view: View, encoding: str) -> list[LayerGroup]:
    groups: dict[tuple[int, int], LayerGroup] = {}
    for model in view.analysis.models:
        for layer in model.layers:
            pos = layer_anchor(view, layer, encoding)
            if pos is None:
                continue
            group = groups.get(pos)
            if group is None:
                groups[pos] = LayerGroup(pos, [(model, layer)])
            else:
                group.layers.append((model, layer))
    return sorted(groups.values(), key=lambda g: g.pos)


def layer_label(group: LayerGroup, locale: str) -> str | None:
    """``1.2M params · [64, 26, 26]``; ``12 × 2.4M params · …`` for the identical instances a loop
    or a reused class builds from one line; ``7 instances · 775K params`` when they differ; the
    shape alone for layers without parameters; None when there is nothing to say."""
    parts: list[str] = []
    per = group.first.params
    params = text("params", locale)
    if group.count > 1 and group.same_params and per:
        parts.append(f"{group.count} × {fmt_params(per)} {params}")
    elif group.count > 1 and group.total_params:
        instances = text("n_instances", locale, count=group.count)
        parts.append(f"{instances} · {fmt_params(group.total_params)} {params}")
    elif per:
        parts.append(f"{fmt_params(per)} {params}")
    if group.shape is not None:
        parts.append(fmt_shape(group.shape))
    return " · ".join(parts) if parts else None


def model_label(model: ModelSummary, locale: str, weight_bytes: int) -> str | None:
    """``11.7M params · 44.6 MiB`` (``(2.1M trainable)`` when part of it is frozen)."""
    if model.params is None:
        return None
    label = f"{fmt_params(model.params)} {text('params', locale)}"
    trainable = model.trainable_params
    if trainable is not None and trainable != model.params:
        label += f" ({fmt_params(trainable)} {text('trainable', locale)})"
    return f"{label} · {fmt_bytes(model.params * weight_bytes)}"


def _optimizer_word(memory: Any) -> str:
    """``Adam``; ``Adam ×2`` for a GAN's two Adams; ``Adam + SGD``."""
    return fmt_names(memory.optimizer)


def memory_label(memory: Any, locale: str) -> str:
    """``≈ 3.1 GiB at batch 64 · fp32 · Adam (static)``."""
    tier = text("static", locale)
    if not memory.complete:
        tier += ", " + text("partial", locale)
    batch = text("at_batch", locale, batch=fmt_int(memory.batch_size))
    parts = [f"≈ {fmt_bytes(memory.peak_allocated)} {batch}", str(memory.precision)]
    parts.append(_optimizer_word(memory))
    close = f"（{tier}）" if locale == "zh-cn" else f" ({tier})"
    return " · ".join(parts) + close


# -- hints ---------------------------------------------------------------------------------------


def cost_hints(view: View, settings: Settings, locale: str, encoding: str) -> list[Hint]:
    """Layer, model and memory hints for the document (callers sort and filter by range)."""
    analysis = view.analysis
    out: list[Hint] = []
    model_positions: dict[tuple[int, int], ModelSummary] = {}
    weight_bytes, _ = script_precision(analysis)
    if settings.layer_hints:
        for model in analysis.models:
            pos = model_anchor(view, model, encoding)
            label = model_label(model, locale, weight_bytes)
            if pos is None or label is None or pos in model_positions:
                continue
            model_positions[pos] = model
            render = partial(model_markdown, view, model, locale)
            out.append(Hint(pos[0], pos[1], label, render, "model"))
        model_lines = {pos[0] for pos in model_positions}
        for group in outermost(layer_groups(view, encoding)):
            if group.pos[0] in model_lines:
                # `model = nn.Linear(20, 2)` or a torchvision constructor: the layers have no
                # line of their own, and the model hint on this line says what they cost.
                continue
            label = layer_label(group, locale)
            if label is None:
                continue
            out.append(
                Hint(
                    group.pos[0],
                    group.pos[1],
                    label,
                    partial(layer_markdown, group, locale),
                    "layer",
                )
            )
    if settings.memory_hints:
        hint = memory_hint(view, locale, encoding)
        if hint is not None:
            out.append(hint)
    if view.stale_error:
        note = f"\n\n_{escape(ui('stale', locale, error=localize(view.stale_error, locale)))}_"
        out = [dataclasses.replace(h, render=_with_note(h.render, note)) for h in out]
    return out


def _with_note(render: Callable[[], str], note: str) -> Callable[[], str]:
    return lambda: render() + note


def memory_hint(view: View, locale: str, encoding: str) -> Hint | None:
    analysis = view.analysis
    memory = analysis.memory
    if memory is None and not analysis.memory_reason:
        return None
    pos: tuple[int, int] | None = None
    for kind in MEMORY_ANCHORS:
        mention = next((m for m in analysis.mentions if m.kind == kind), None)
        if mention is not None:
            pos = mention_anchor(view, mention, encoding)
            if pos is not None:
                break
    if pos is None:
        trained = [m for m in analysis.models if m.trained] or analysis.models
        for model in trained:
            pos = model_anchor(view, model, encoding)
            if pos is not None:
                break
    if pos is None:
        return None
    label = memory_label(memory, locale) if memory else text("memory_unknown_label", locale)

    def render() -> str:
        return "\n".join(memory_lines(analysis, locale, heading="**"))

    return Hint(pos[0], pos[1], label, render, "memory")


# -- markdown ------------------------------------------------------------------------------------


def _how(memory: Any, term: str, locale: str) -> str:
    how: dict[str, str] = memory.how or {}
    if locale == "zh-cn":
        # The estimator's own words with its numbers, in Chinese; the general explanation when
        # some of them are not in the phrase table.
        said = how.get(term)
        return escape((to_zh(said) if said else None) or TERM_HOW_ZH.get(term, ""))
    return escape(how.get(term) or TERM_HOW_EN.get(term, ""))


def _value(memory: Any, term: str) -> int | None:
    if term == "overhead":
        return int(memory.peak_reserved) - int(memory.peak_allocated)
    value = getattr(memory, term, None)
    return value if isinstance(value, int) else None


def memory_table(memory: Any, locale: str) -> list[str]:
    rows = [
        f"| {text('term', locale)} | {text('bytes', locale)} | {text('how', locale)} |",
        "|---|--:|---|",
    ]
    for term in TERMS:
        value = _value(memory, term)
        if value is None or (term in OPTIONAL_TERMS and not value):
            continue
        label = term_label(term, locale)
        shown = fmt_bytes(value)
        if term in TOTALS:
            label, shown = f"**{label}**", f"**{shown}**"
        rows.append(f"| {label} | {shown} | {_how(memory, term, locale)} |")
    return rows


def _layer_types(analysis: Analysis) -> list[LayerSummary]:
    return [layer for model in analysis.models if model.trained for layer in model.layers]


def _advice_keys(analysis: Analysis, memory: Any) -> list[str]:
    persistent = memory.weights + memory.gradients + memory.optimizer_state
    order = ADVICE_ACTIVATIONS if memory.activations >= persistent else ADVICE_WEIGHTS
    layers = _layer_types(analysis)
    total = sum(model.params or 0 for model in analysis.models if model.trained)
    linear = sum(layer.params or 0 for layer in layers if layer.type in ("Linear", "Bilinear"))
    has_conv = any(layer.type.startswith(("Conv", "ConvTranspose")) for layer in layers)
    names = {p.strip() for p in str(memory.optimizer or "").split(",")}
    keys: list[str] = []
    for key in order:
        if key == "half_batch" and memory.batch_size < 2:
            continue
        if key == "amp_bf16" and memory.precision != "fp32":
            continue
        if key == "downsample" and layers and not has_conv:
            continue
        if key == "fewer_fc" and layers and (total == 0 or linear * 10 < total * 3):
            continue
        if key == "optimizer" and not names & ADAM_LIKE:
            continue
        keys.append(key)
    return keys


def fit_line(analysis: Analysis, locale: str) -> str | None:
    """``Largest batch that fits (10% headroom…): 24 GiB GPU → 1,843 · 80 GiB GPU → 6,294``."""
    from gpulens.whatif import FIT_MARGIN, what_if

    fits = what_if(analysis).fits
    if not fits:
        return None
    items = [
        text(
            "fit_item",
            locale,
            gib=f.device_gib,
            batch=("≥ " if f.at_limit else "") + fmt_int(f.max_batch),
        )
        if f.max_batch > 0
        else text("fit_none", locale, gib=f.device_gib)
        for f in fits
    ]
    return text("fits", locale, margin=f"{FIT_MARGIN:.0%}", items=" · ".join(items))


def advice_lines(analysis: Analysis, memory: Any, locale: str) -> list[str]:
    from gpulens.whatif import variants

    found = {v.key: v for v in variants(analysis)}
    base = int(memory.peak_allocated)
    lines: list[str] = []
    for key in _advice_keys(analysis, memory):
        fmt: dict[str, object] = {}
        if key in ("half_batch", "amp_bf16"):
            variant = found.get(key)
            if variant is None:
                continue  # no comparable figure: the generic advice below still applies
            peak = int(variant.estimate.peak_allocated)
            fmt["predicted"] = text(
                "predicted", locale, peak=fmt_bytes(peak), delta=fmt_ratio(peak, base)
            )
            fmt["half"] = fmt_int(variant.batch_size)
        lines.append(f"- {advice(key, locale, **fmt)}")
    return lines


def _missing_lines(analysis: Analysis, reasons: Iterable[str], locale: str) -> list[str]:
    lines = [f"- {escape(localize(r, locale))}" for r in reasons if r]
    words = " ".join(reasons).lower()
    supply: list[str] = []
    batch = analysis.facts.get("batch_size")
    if batch is not None and not batch.known:
        supply.append(text("supply_batch", locale))
    precision = analysis.facts.get("precision")
    if precision is not None and not precision.known:
        supply.append(text("supply_precision", locale))
    # The reader's English reason may already name the pragma; a Chinese hover still says how.
    if any(w in words for w in ("shape", "input", "dataset", "sample")) and (
        "input_shape=" not in words or locale == "zh-cn"
    ):
        supply.append(text("supply_shape", locale))
    return lines + [f"- {s}" for s in supply]


#: Rendered memory sections of recent analyses: every inlay-hint request renders the memory
#: tooltip, and its what-if figures run the estimator again.
_MEMORY_CACHE: OrderedDict[tuple[int, str, str], tuple[weakref.ref[Analysis], list[str]]] = (
    OrderedDict()
)
_MEMORY_CACHE_SIZE = 32
_MEMORY_LOCK = threading.Lock()


def memory_lines(analysis: Analysis, locale: str, heading: str = "####") -> list[str]:
    """The memory section of a hover (``heading`` ``####``) or a tooltip (``**`` bold title)."""
    key = (id(analysis), locale, heading)
    with _MEMORY_LOCK:
        hit = _MEMORY_CACHE.get(key)
        if hit is not None and hit[0]() is analysis:
            _MEMORY_CACHE.move_to_end(key)
            return list(hit[1])
    lines = _memory_lines(analysis, locale, heading)
    with _MEMORY_LOCK:
        _MEMORY_CACHE[key] = (weakref.ref(analysis), lines)
        while len(_MEMORY_CACHE) > _MEMORY_CACHE_SIZE:
            _MEMORY_CACHE.popitem(last=False)
    return list(lines)


def _memory_lines(analysis: Analysis, locale: str, heading: str) -> list[str]:

    def title(words: str) -> str:
        return f"**{words}**" if heading == "**" else f"{heading} {words}"

    memory = analysis.memory
    if memory is None:
        if not analysis.memory_reason:
            return []
        lines = [title(text("memory_unknown_title", locale)), ""]
        reason = analysis.memory_reason
        lines += _missing_lines(analysis, [reason], locale)
        return lines
    lines = [title(text("memory_title", locale)), ""]
    lines.append(
        text(
            "memory_summary",
            locale,
            peak=fmt_bytes(memory.peak_allocated),
            total=fmt_bytes(memory.device_total),
            batch=fmt_int(memory.batch_size),
            precision=memory.precision,
            optimizer=_optimizer_word(memory),
        )
    )
    if analysis.device_note:
        lines += ["", f"_{escape(localize(analysis.device_note, locale))}_"]
    fits = fit_line(analysis, locale)
    if fits:
        lines += ["", fits]
    lines += ["", *memory_table(memory, locale), ""]
    phase = text("peak_phase", locale, phase=escape(localize(str(memory.peak_phase), locale)))
    lines.append(text("not_sum", locale) + ("" if locale == "zh-cn" else " ") + phase)
    lines += ["", text("tier", locale)]
    if not memory.complete or memory.reasons:
        heading = "partial_title" if not memory.complete else "notes"
        lines += ["", f"**{text(heading, locale)}**:"]
        lines += _missing_lines(analysis, list(memory.reasons), locale)
    change = advice_lines(analysis, memory, locale)
    if change:
        lines += ["", f"**{text('change_title', locale)}**", ""]
        if memory.workspace * 2 > memory.peak_allocated:
            lines += [text("fixed_cost", locale), ""]
        lines += change
    return lines


def _layer_rows(model: ModelSummary, locale: str) -> list[str]:
    if not model.layers:
        return []
    rows = [
        f"| {text('layer', locale)} | {text('type', locale)} | {text('params_col', locale)} "
        f"| {text('output', locale)} |",
        "|---|---|--:|---|",
    ]
    for layer in model.layers[:MAX_LAYER_ROWS]:
        params = fmt_params(layer.params) if layer.params else "0"
        rows.append(
            f"| {code(layer.name)} | {escape(layer.type)} | {params} "
            f"| {fmt_shape(layer.output_shape)} |"
        )
    rest = len(model.layers) - MAX_LAYER_ROWS
    if rest > 0:
        rows += ["", text("more_layers", locale, count=fmt_int(rest))]
    return rows


def model_summary_lines(analysis: Analysis, model: ModelSummary, locale: str) -> list[str]:
    weight_bytes, prec_name = script_precision(analysis)
    lines = [f"### {text('model_title', locale, name=escape(model.name))}", ""]
    if model.params is not None:
        lines.append(
            text(
                "model_params", locale, params=fmt_params(model.params), exact=fmt_int(model.params)
            )
        )
        trainable = model.trainable_params
        if trainable is not None and trainable != model.params:
            lines += [
                "",
                text(
                    "model_trainable",
                    locale,
                    trainable=fmt_params(trainable),
                    exact=fmt_int(trainable),
                    frozen=fmt_params(model.params - trainable),
                ),
            ]
        lines += [
            "",
            text(
                "model_weights",
                locale,
                size=fmt_bytes(model.params * weight_bytes),
                params=fmt_int(model.params),
                bytes=weight_bytes,
                precision=prec_name,
            ),
        ]
    if model.reason:
        lines += ["", f"_{escape(localize(model.reason, locale))}_"]
    if not model.trained:
        lines += ["", text("model_not_trained", locale)]
    return lines


def model_markdown(view: View, model: ModelSummary, locale: str) -> str:
    analysis = view.analysis
    lines = model_summary_lines(analysis, model, locale)
    rows = _layer_rows(model, locale)
    if rows:
        lines += ["", *rows]
    if model.trained:
        memory = memory_lines(analysis, locale)
        if memory:
            lines += ["", *memory]
    return "\n".join(lines)


def layer_markdown(group: LayerGroup, locale: str) -> str:
    model, layer = group.layers[0]
    lines = [f"### {text('layer_title', locale, name=escape(layer.name), type=escape(layer.type))}"]
    lines.append("")
    if group.count > 1 and not (group.same_params and group.same_shape):
        # Instances built from this line with different arguments (a U-Net's DoubleConv).
        total = fmt_int(group.total_params)
        lines += [text("instances_total", locale, count=group.count, params=total), ""]
        head = (text("layer", locale), text("params_col", locale), text("output", locale))
        lines += ["| " + " | ".join(head) + " |", "|---|--:|---|"]
        for _, each in group.layers[:MAX_LAYER_ROWS]:
            params = fmt_params(each.params) if each.params else "0"
            lines.append(f"| {code(each.name)} | {params} | {fmt_shape(each.output_shape)} |")
        lines += ["", text("in_model", locale, name=escape(model.name))]
        return "\n".join(lines)
    if group.count > 1:
        lines += [text("instances", locale, count=group.count), ""]
    if layer.params is not None:
        line = text(
            "layer_params", locale, params=fmt_params(layer.params), exact=fmt_int(layer.params)
        )
        if model.params and layer.params:
            pct = layer.params * 100 / model.params
            share = "<0.1%" if pct < 0.05 else f"{pct:.1f}%"
            line += " · " + text("layer_share", locale, share=share)
        if layer.params == 0:
            line = text("no_params", locale)
        lines.append(line)
    if group.shape is not None:
        lines += ["", text("layer_output", locale, shape=fmt_shape(group.shape))]
    else:
        reason = group.layers[-1][1].reason
        if reason:
            reason = escape(localize(reason, locale))
            lines += ["", text("layer_shape_unknown", locale, reason=reason)]
    lines += ["", text("in_model", locale, name=escape(model.name))]
    return "\n".join(lines)


def layer_brief(group: LayerGroup, locale: str) -> str:
    """One line for a concept hover over a layer call (``nn.Dropout(0.1)``)."""
    _, layer = group.layers[0]
    title = text("layer_title", locale, name=escape(layer.name), type=escape(layer.type))
    label = layer_label(group, locale)
    return f"**{title}**" + (f" · {label}" if label else "")


# -- hover targets -------------------------------------------------------------------------------


def _span_size(span: Span) -> tuple[int, int]:
    return (span.end_line - span.line, span.end_col - span.col)


def layer_at(analysis: Analysis, line: int, byte_col: int) -> LayerGroup | None:
    """The layer(s) whose span holds a position of the analysed text (1-based line)."""
    best: tuple[tuple[int, int], Span] | None = None
    for model in analysis.models:
        for layer in model.layers:
            if layer.span is not None and layer.span.contains(line, byte_col):
                size = _span_size(layer.span)
                if best is None or size < best[0]:
                    best = (size, layer.span)
    if best is None:
        return None
    span = best[1]
    found = [(m, layer) for m in analysis.models for layer in m.layers if layer.span == span]
    return LayerGroup((span.line, span.col), found)


def model_at(analysis: Analysis, line: int, byte_col: int) -> ModelSummary | None:
    """The model whose span holds a position; for a span covering a whole class body, only its
    first line counts (a hover inside ``forward`` is about the code there, not the model)."""
    best: tuple[tuple[int, int], ModelSummary] | None = None
    for model in analysis.models:
        span = model.span
        if span is None:
            continue
        if line == span.line and byte_col < span.col:
            # `model = nn.Sequential(`: the name the model is assigned to is the model too.
            span = Span(span.line, 0, span.end_line, span.end_col)
        if not span.contains(line, byte_col):
            continue
        if span.end_line > span.line + 3 and line != span.line:
            continue
        size = _span_size(span)
        if best is None or size < best[0]:
            best = (size, model)
    return best[1] if best is not None else None


__all__ = [
    "LayerGroup",
    "cost_hints",
    "layer_at",
    "layer_brief",
    "layer_markdown",
    "memory_hint",
    "memory_label",
    "memory_lines",
    "model_at",
    "model_markdown",
]
