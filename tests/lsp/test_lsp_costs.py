"""Layer, model and memory hints and hovers rendered from hand-built analyses (pure: no server).

The analyses carry what the reader reports (``Analysis.models``, ``memory``) and a real static
estimate from ``gpulens.estimate``; the tests check what the user reads.
"""

from __future__ import annotations

import dataclasses

import pytest
from cost_support import classic_analysis, cnn_analysis, span_of, view_of
from gpulens.analysis.facts import Analysis, LayerSummary, ModelSummary, Span
from gpulens.lsp.costs import cost_hints, memory_label, memory_lines, model_markdown
from gpulens.lsp.hints import compute_hints
from gpulens.lsp.hovers import cost_hover_at, hover_markdown
from gpulens.lsp.memory_texts import ADVICE, OPTIONAL_TERMS, TERM_HOW_ZH, TERM_LABELS, TERMS, UI
from gpulens.lsp.reasons_zh import to_zh
from gpulens.lsp.settings import Settings, parse_settings
from gpulens.units import fmt_bytes
from gpulens.whatif import rerun, variants


def rendered(analysis: Analysis, text: str, settings: Settings | None = None, locale: str = "en"):
    view = view_of(analysis, text)
    out = []
    for hint in compute_hints(view, settings or Settings(), locale, "utf-16"):
        line = view.lines[hint.line]
        out.append((hint.kind, line[: hint.col] + "⟨" + hint.label + "⟩" + line[hint.col :]))
    return out


def test_classic_layer_model_and_memory_hints() -> None:
    analysis, text = classic_analysis()
    shown = rendered(analysis, text)
    assert ("model", "model = nn.Sequential(⟨1.5K params · 5.8 KiB⟩") in shown
    assert ("layer", "    nn.Linear(20, 64),⟨1.3K params · [100, 64]⟩") in shown
    assert ("layer", "    nn.ReLU(),⟨[100, 64]⟩") in shown
    assert ("layer", "    nn.Linear(64, 2),⟨130 params · [100, 2]⟩") in shown
    memory = analysis.memory
    peak = fmt_bytes(memory.peak_allocated)
    label = f"≈ {peak} at batch 100 · fp32 · Adam (static)"
    assert ("memory", f"for epoch in range(EPOCHS):⟨{label}⟩") in shown
    kinds = [k for k, _ in shown]
    # the iteration hint comes before the memory hint at the same place
    assert kinds.index("total") < kinds.index("memory")


def test_cnn_hints_on_class_attributes() -> None:
    analysis, text = cnn_analysis()
    shown = dict((s.strip(), k) for k, s in rendered(analysis, text))
    assert shown["self.conv1 = nn.Conv2d(1, 32, 3)⟨320 params · [64, 32, 26, 26]⟩"] == "layer"
    assert shown["self.fc1 = nn.Linear(9216, 128)⟨1.2M params · [64, 128]⟩"] == "layer"
    assert shown["class Net(nn.Module):⟨1.2M params · 4.6 MiB⟩"] == "model"


def test_settings_toggle_layer_and_memory_hints() -> None:
    analysis, text = classic_analysis()
    view = view_of(analysis, text)
    every = {h.kind for h in compute_hints(view, Settings(), "en", "utf-16")}
    assert every == {"per_epoch", "total", "model", "layer", "memory"}
    off = parse_settings({"inlayHints": {"layers": False}})
    assert off.layer_hints is False and off.memory_hints is True
    assert {h.kind for h in compute_hints(view, off, "en", "utf-16")} == {
        "per_epoch",
        "total",
        "memory",
    }
    off = parse_settings({"gpulens.inlayHints.memory": False})
    assert {h.kind for h in compute_hints(view, off, "en", "utf-16")} == {
        "per_epoch",
        "total",
        "model",
        "layer",
    }
    bad = parse_settings({"inlayHints": {"memory": "no"}})
    assert bad.memory_hints is True and bad.problems


def test_memory_label_partial_and_zh() -> None:
    analysis, _ = classic_analysis()
    memory = dataclasses.replace(analysis.memory, complete=False)
    assert memory_label(memory, "en").endswith("· fp32 · Adam (static, partial)")
    zh = memory_label(analysis.memory, "zh-cn")
    assert "批次 100" in zh and zh.endswith("Adam（静态）")


@pytest.mark.parametrize("locale", ["en", "zh-cn"])
def test_memory_hover_has_every_term_and_advice(locale: str) -> None:
    analysis, text = classic_analysis()
    view = view_of(analysis, text)
    batch = next(m for m in analysis.mentions if m.kind == "batch_size")
    md = hover_markdown(view, batch, locale)
    for term in TERMS:
        shown = (
            f"| {TERM_LABELS[locale][term]} |" in md or f"| **{TERM_LABELS[locale][term]}** |" in md
        )
        assert shown == (term not in OPTIONAL_TERMS), term  # no DDP here: no bucket row
    memory = analysis.memory
    assert f"**{fmt_bytes(memory.peak_allocated)}**" in md
    assert f"**{fmt_bytes(memory.device_total)}**" in md
    if locale == "en":
        assert memory.how["optimizer_state"] in md  # how each term was computed
        assert "_Static: from the source, not measured._" in md
        assert "**Smaller batch**: batch 50 →" in md
        assert "**Mixed precision (AMP bf16)**" in md
        assert "**Activation checkpointing**" in md
        assert "**Gradient accumulation**" in md
    else:
        # The estimator's own words, in Chinese (the general text only where they do not translate).
        assert to_zh(memory.how["gradients"]) in md
        assert TERM_HOW_ZH["overhead"] in md
        assert "静态估计" in md
        assert "**减小批次**：批次 50 →" in md
    optimizer = next(m for m in analysis.mentions if m.kind == "optimizer")
    assert memory_lines(analysis, locale)[0] in hover_markdown(view, optimizer, locale)


def test_advice_follows_the_model() -> None:
    """A CNN with a 1.2M-parameter Linear: downsampling and fewer FC layers are relevant; the
    classic MLP has no convolutions, so no downsampling advice."""
    cnn, _ = cnn_analysis()
    md = "\n".join(memory_lines(cnn, "en"))
    assert "**Downsample earlier**" in md
    assert "**Fewer or smaller fully connected layers**" in md
    mlp, _ = classic_analysis()
    assert "**Downsample earlier**" not in "\n".join(memory_lines(mlp, "en"))


def test_what_if_numbers_come_from_the_estimator() -> None:
    analysis, _ = cnn_analysis(batch=64)
    found = {v.key: v for v in variants(analysis)}
    assert found["half_batch"].batch_size == 32
    assert found["half_batch"].estimate.peak_allocated < analysis.memory.peak_allocated
    assert found["amp_bf16"].estimate.precision == "amp_bf16"
    assert found["amp_bf16"].estimate.activations < analysis.memory.activations
    same = rerun(analysis, 64, "fp32")
    assert same is not None and same.peak_allocated == analysis.memory.peak_allocated
    md = "\n".join(memory_lines(analysis, "en"))
    assert f"batch 32 → ≈ **{fmt_bytes(found['half_batch'].estimate.peak_allocated)}**" in md


def test_what_if_refuses_a_baseline_it_cannot_reproduce() -> None:
    analysis, _ = cnn_analysis()
    analysis.memory = dataclasses.replace(
        analysis.memory, peak_allocated=analysis.memory.peak_allocated + 1
    )
    assert variants(analysis) == []
    md = "\n".join(memory_lines(analysis, "en"))
    assert "**Smaller batch**" not in md  # no number to show: not shown
    assert "**Activation checkpointing**" in md


@pytest.mark.parametrize("locale", ["en", "zh-cn"])
def test_unknown_memory_says_what_is_missing(locale: str) -> None:
    analysis, text = classic_analysis()
    analysis.memory = None
    analysis.memory_reason = "the input shape of the model is unknown (dataset not recognised)"
    view = view_of(analysis, text)
    memory = [h for h in compute_hints(view, Settings(), locale, "utf-16") if h.kind == "memory"]
    assert [h.label for h in memory] == [UI[locale]["memory_unknown_label"]]
    assert "# gpulens: input_shape=(3, 224, 224)" in memory[0].tooltip
    assert "dataset not recognised" in memory[0].tooltip


def test_partial_memory_lists_reasons() -> None:
    analysis, _ = classic_analysis()
    analysis.memory = dataclasses.replace(
        analysis.memory, complete=False, reasons=["`self.encoder(x)`: input shape unknown"]
    )
    md = "\n".join(memory_lines(analysis, "en"))
    assert "**Partial estimate: parts of the model were not followed**" in md
    assert "- `self.encoder(x)`: input shape unknown" in md
    assert "input_shape=(3, 224, 224)" in md


def test_model_and_layer_hovers() -> None:
    analysis, text = cnn_analysis()
    view = view_of(analysis, text)
    lines = text.split("\n")
    row = next(i for i, line in enumerate(lines) if "self.fc1 = " in line)
    found = cost_hover_at(view, row, lines[row].index("nn.Linear") + 3, "utf-16", "en")
    assert found is not None
    md, span = found
    assert md.startswith("### Layer `fc1`: Linear")
    assert "Parameters: **1.2M** (1,179,776)" in md
    assert "Output shape (batch first): **[64, 128]**" in md
    assert span.line == row + 1
    row = next(i for i, line in enumerate(lines) if line.startswith("class Net"))
    found = cost_hover_at(view, row, 7, "utf-16", "zh-cn")
    assert found is not None
    md = found[0]
    assert md.startswith("### 模型 `Net`")
    assert "| `fc1` | Linear | 1.2M | [64, 128] |" in md
    assert "#### 训练显存（静态估计）" in md
    # inside the forward: no hover (the code there is not the model)
    row = next(i for i, line in enumerate(lines) if "torch.flatten" in line)
    assert cost_hover_at(view, row, 10, "utf-16", "en") is None


def test_repeated_layers_on_one_line_are_grouped() -> None:
    text = (
        "import torch.nn as nn\n"
        "blocks = nn.ModuleList([nn.Linear(768, 768) for _ in range(12)])\n"
        "model = Model(blocks)\n"
    )
    from gpulens.analysis import analyze

    analysis = analyze(text)
    span = Span(2, 24, 2, 43)
    layers = [LayerSummary(f"{i}", "Linear", 2, 768 * 768 + 768, (8, 768), span) for i in range(12)]
    analysis.models = [ModelSummary("model", 3, 12 * 590592, 12 * 590592, layers, None)]
    view = view_of(analysis, text)
    labels = [h.label for h in cost_hints(view, Settings(), "en", "utf-16") if h.kind == "layer"]
    assert labels == ["12 × 591K params · [8, 768]"]
    found = cost_hover_at(view, 1, 30, "utf-16", "en")
    assert found is not None and "12 instances on this line" in found[0]
    assert "| `11` | Linear | 591K | [8, 768] |" in model_markdown(view, analysis.models[0], "en")


def test_texts_cover_both_locales() -> None:
    assert set(UI["en"]) == set(UI["zh-cn"])
    assert set(TERM_LABELS["en"]) == set(TERM_LABELS["zh-cn"]) == set(TERMS)
    assert set(TERM_HOW_ZH) == set(TERMS)
    for en, zh in ADVICE.values():
        assert en and zh


def test_one_hint_per_container_line_and_differing_instances() -> None:
    text = (
        "import torch.nn as nn\n"
        "head = nn.Sequential(nn.Linear(128, 64), nn.Tanh(), nn.Linear(64, 4))\n"
        "model = Model(head)\n"
    )
    from gpulens.analysis import analyze

    analysis = analyze(text)
    outer = span_of(text, "nn.Sequential(nn.Linear(128, 64), nn.Tanh(), nn.Linear(64, 4))")
    layers = [
        LayerSummary("head", "Sequential", 2, 8516, (32, 4), outer),
        LayerSummary("head.0", "Linear", 2, 8256, (32, 64), span_of(text, "nn.Linear(128, 64)")),
        LayerSummary("head.1", "Tanh", 2, 0, (32, 64), span_of(text, "nn.Tanh()")),
        LayerSummary("head.2", "Linear", 2, 260, (32, 4), span_of(text, "nn.Linear(64, 4)")),
    ]
    analysis.models = [ModelSummary("model", 3, 8516, 8516, layers, None)]
    view = view_of(analysis, text)
    found = [h for h in cost_hints(view, Settings(), "en", "utf-16") if h.kind == "layer"]
    assert [(h.col, h.label) for h in found] == [(outer.end_col, "8.5K params · [32, 4]")]
    # the inner layers keep their hovers
    hover = cost_hover_at(view, 1, 45, "utf-16", "en")
    assert hover is not None and hover[0].startswith("### Layer `head.1`: Tanh")

    span = Span(2, 7, 2, 70)
    analysis.models = [
        ModelSummary(
            "model",
            3,
            None,
            None,
            [
                LayerSummary("a.conv", "Conv2d", 2, 864, (4, 32, 64, 64), span),
                LayerSummary("b.conv", "Conv2d", 2, 18432, (4, 64, 32, 32), span),
            ],
            None,
        )
    ]
    view = view_of(analysis, text)
    found = [h for h in cost_hints(view, Settings(), "zh-cn", "utf-16") if h.kind == "layer"]
    assert [h.label for h in found] == ["2 个实例 · 19.3K params"]
    assert "| `b.conv` | 18.4K | [4, 64, 32, 32] |" in found[0].tooltip


def test_half_typed_model_keeps_the_last_good_model_hints() -> None:
    """A syntax error that loses the model (typing inside its call) keeps the last good result,
    whose model, layer and memory hints stay on screen."""
    from gpulens.lsp.documents import knowledge

    good, _ = classic_analysis()
    broken, _ = classic_analysis()
    broken.models, broken.memory = [], None
    assert knowledge(broken) < knowledge(good)


def test_largest_batch_that_fits() -> None:
    from gpulens.estimate.memory import max_batch_size
    from gpulens.whatif import what_if

    analysis, _ = cnn_analysis()
    fits = what_if(analysis).fits
    assert [f.device_gib for f in fits] == [24, 80]
    trace = analysis.models[0].trace
    usable = (24 << 30) - analysis.memory.cuda_context
    assert fits[0].max_batch == max_batch_size(trace, usable, "fp32", "Adam", margin=0.03)
    assert fits[0].max_batch < fits[1].max_batch
    md = "\n".join(memory_lines(analysis, "en"))
    assert f"24 GiB GPU → **{fits[0].max_batch:,}**" in md
    assert "可容纳的最大批次（预留 3%" in "\n".join(memory_lines(analysis, "zh-cn"))
