"""zh-CN hovers and tooltips: the reader's and the estimator's English texts (fact sources,
reasons, the iteration arithmetic, model reasons, the memory table's "how it was computed")
rendered in Chinese by :mod:`gpulens.lsp.reasons_zh`, over every script the tests and examples
hold; English rendering unchanged."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from gpulens.analysis import analyze
from gpulens.analysis.facts import Analysis
from gpulens.lsp.costs import memory_table
from gpulens.lsp.documents import Inputs, Result, View, split_lines
from gpulens.lsp.hints import compute_hints
from gpulens.lsp.hovers import hover_markdown
from gpulens.lsp.markdown import ITERATION_FACTS
from gpulens.lsp.memory_texts import TERM_HOW_ZH
from gpulens.lsp.reasons_zh import PHRASES, localize, to_zh
from gpulens.lsp.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIRS = (
    "tests/fixtures/scripts",
    "tests/fixtures/models",
    "tests/golden/scripts",
    "tests/golden/oom",
    "examples",
)
CORPUS = sorted(p for d in CORPUS_DIRS for p in (REPO / d).rglob("*.py"))

# -- what counts as English left over ------------------------------------------------------------

_CJK = "\u2000-\u206f\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_TOKEN = re.compile(rf"\s+|[{_CJK}]+|[^\s{_CJK}]+")
_CODE = re.compile(r"``.+?``|`[^`\n]*`")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_PUNCT = ",.;:!?()[]{}\"'…"


def english_runs(text: str) -> list[str]:
    """Runs of two or more plain lowercase English words (``not found in the script``).

    Code spans, numbers, units (``MiB``), identifiers (``drop_last=False``, ``layer4.0.conv1``,
    ``--epochs``) and names (``DataLoader``, ``CIFAR10``, ``Hugging Face``) are left out
    without ending a run (``line 17 with`` is a run); Chinese text ends a run, so a lone word
    among Chinese (``torchvision``, ``argparse``, ``epoch``, ``gpulens``) is allowed."""
    found: list[str] = []
    run: list[str] = []
    for match in _TOKEN.finditer(_CODE.sub(" ", text)):
        token = match.group(0)
        if token.isspace():
            continue
        core = token.strip(_PUNCT)
        if _WORD.fullmatch(core):
            run.append(core)
        elif re.match(f"[{_CJK}]", token):
            if len(run) >= 2:
                found.append(" ".join(run))
            run = []
    if len(run) >= 2:
        found.append(" ".join(run))
    return found


def test_english_runs_definition() -> None:
    assert english_runs("no gradient accumulation found (one update per batch)")
    assert english_runs("`X = 1`, line 17 with `Y = 2`, line 3") == ["line with line"]
    assert english_runs("argparse default of --epochs, line 12") == ["argparse default of line"]
    assert english_runs("max over the step's phases: backward") == [
        "max over the step's phases backward"
    ]
    assert english_runs("`BATCH_SIZE = 100`，第 17 行") == []
    assert (
        english_runs("TensorDataset，共 1,200 个样本（张量 `torch.randn(N, 256)`，第 16 行）") == []
    )
    assert english_runs("argparse 参数 --epochs 的默认值，第 12 行") == []
    assert english_runs("cuBLAS 工作区 32 MiB + 1 MiB，在 H200 上实测") == []
    assert english_runs("torchvision CIFAR10，train 划分：50,000 个样本") == []


# -- the corpus: every text the reader and the estimator produce for real scripts ---------------


#: Each script is read as it is and with what users supply (settings, GPUs, script arguments).
VARIANTS: tuple[dict[str, Any], ...] = (
    {},
    {"overrides": {"batch_size": 64, "epochs": 3}},
    {"world_size": 4},
    {"script_args": ["--epochs", "7", "--batch-size", "32"]},
    {"overrides": {"dataset_size": 1000, "precision": "amp_bf16"}},
)


@cache
def corpus_analyses() -> tuple[tuple[Path, Analysis], ...]:
    out: list[tuple[Path, Analysis]] = []
    for path in CORPUS:
        text = path.read_text(encoding="utf-8", errors="replace")
        out += [(path, analyze(text, path=str(path), **variant)) for variant in VARIANTS]
    return tuple(out)


def reader_texts(analysis: Analysis) -> list[tuple[str, str]]:
    """(where, text) for every English text a hover or tooltip shows from ``analysis``."""
    out: list[tuple[str, str]] = []
    for fact in analysis.facts.values():
        if fact.source and fact.source != "unknown":
            out.append((f"{fact.name}.source", fact.source))
        if fact.reason:
            out.append((f"{fact.name}.reason", fact.reason))
    it = analysis.iterations
    out += [("iterations.reason", it.reason or ""), ("iterations.explanation", it.explanation)]
    for model in analysis.models:
        out.append((f"model {model.name}", model.reason or ""))
        out += [(f"layer {layer.name}", layer.reason or "") for layer in model.layers]
    out.append(("memory_reason", analysis.memory_reason or ""))
    memory = analysis.memory
    if memory is not None:
        out += [(f"how.{term}", how) for term, how in memory.how.items()]
        out += [("memory.reasons", reason) for reason in memory.reasons]
        out.append(("peak_phase", str(memory.peak_phase)))
    return [(where, text) for where, text in out if text]


def corpus_texts() -> dict[str, str]:
    """Each distinct text once, with where it was first seen."""
    texts: dict[str, str] = {}
    for path, analysis in corpus_analyses():
        for where, text in reader_texts(analysis):
            texts.setdefault(text, f"{path.relative_to(REPO)}: {where}")
    return texts


def test_corpus_is_large() -> None:
    assert len(CORPUS) >= 100
    assert len(corpus_texts()) >= 500


def test_every_corpus_text_is_rendered_in_chinese() -> None:
    """Every source, reason, explanation and memory ``how`` of every script, rendered for
    zh-cn, carries no English words outside code spans, identifiers, numbers and units."""
    left: list[str] = []
    for text, where in corpus_texts().items():
        shown = localize(text, "zh-cn")
        runs = english_runs(shown)
        if runs or to_zh(text) is None:
            left.append(f"{where}: {text!r} -> {shown!r} ({runs})")
    assert not left, f"{len(left)} texts left in English:\n" + "\n".join(left[:40])


def test_english_rendering_unchanged() -> None:
    for text in corpus_texts():
        assert localize(text, "en") == text
        assert localize(text, "fr") == text


# -- exact translations --------------------------------------------------------------------------

EXACT = {
    "`BATCH_SIZE = 100`, line 17": "`BATCH_SIZE = 100`，第 17 行",
    "argparse default of --epochs, line 12": "argparse 参数 --epochs 的默认值，第 12 行",
    "`for epoch in range(EPOCHS)`, line 12 with `EPOCHS = 3`, line 6": (
        "`for epoch in range(EPOCHS)`，第 12 行，其中 `EPOCHS = 3`，第 6 行"
    ),
    "TensorDataset of 1,200 samples (tensor `torch.randn(NUM_SAMPLES, 256)`, line 1986 with "
    "`NUM_SAMPLES = 1200`, line 16)": (
        "TensorDataset，共 1,200 个样本（张量 `torch.randn(NUM_SAMPLES, 256)`，第 1986 行，"
        "其中 `NUM_SAMPLES = 1200`，第 16 行）"
    ),
    "DataLoader default drop_last=False": "DataLoader 默认 drop_last=False",
    "single process: no DistributedSampler or DDP found": (
        "单进程：没有找到 DistributedSampler 或 DDP"
    ),
    "no gradient accumulation found (one update per batch)": (
        "没有找到梯度累积（每个批次更新一次权重）"
    ),
    "not found in the script": "脚本中没有找到",
    "model: the input shape is not known (the samples of `Frames(PATHS)` have a shape the "
    "reader does not know); add `# gpulens: input_shape=(C, H, W)`": (
        "model：输入形状未知（`Frames(PATHS)` 的样本形状 gpulens 不知道）；"
        "可添加 `# gpulens: input_shape=(C, H, W)`"
    ),
    "1,200 samples / batch 100 = 12 per epoch; × 5 epochs = 60 iterations (60 weight updates)": (
        "1,200 个样本 / 批次 100 = 每个 epoch 12 次迭代；× 5 个 epoch = 60 次迭代（权重更新 60 次）"
    ),
    "cuBLAS workspace, 32 MiB per thread running matmuls (2: forward and autograd's backward "
    "thread) + 1 MiB, measured on an H200": (
        "cuBLAS 工作区：每个执行矩阵乘法的线程 32 MiB（2 个：前向线程和 autograd 的反向线程）"
        " + 1 MiB，在 H200 上实测"
    ),
    "max over the step's phases: backward: layer4.0.conv1 (call 49)": (
        "训练步各阶段中的最大值：反向：layer4.0.conv1（调用 #49）"
    ),
    "allocated peak in 2 MiB segments + 0.5 x the largest activation's segment (little "
    "fragmentation without convolutions, measured on an H200)": (
        "峰值已分配按 2 MiB 段取整 + 最大激活值所在段的 0.5 倍"
        "（没有卷积时碎片很少，在 H200 上实测）"
    ),
    "Adam: exp_avg + exp_avg_sq (2x trainable bytes)": (
        "Adam：exp_avg + exp_avg_sq（可训练参数字节数的 2 倍）"
    ),
    "15 GiB - 615 MiB the driver keeps (NVML, idle H200) - 742 MiB CUDA context and libraries": (
        "15 GiB - 驱动保留的 615 MiB（NVML，空闲 H200）- CUDA 上下文和库 742 MiB"
    ),
    "gpulens.gpu: unknown GPU 'RTX 9090'; did you mean RTX 5090, RTX 4090? (or give a memory "
    "size such as 24GiB or 16GB)": (
        "gpulens.gpu：未知 GPU 'RTX 9090'；是不是指 RTX 5090, RTX 4090？"
        "（也可以给出显存大小，例如 24GiB 或 16GB）"
    ),
    "train_config.json: training: epochs": "train_config.json 中的 `training: epochs`",
    "syntax error at line 2: '(' was never closed (analysed the rest)": (
        "第 2 行有语法错误：`'(' was never closed`（其余部分已分析）"
    ),
    "Conv2d: expected channels (dim 1) 3, got 1 (input [?, 1, 28, 28])": (
        "Conv2d：通道数（第 1 维）应为 3，实际为 1（输入 [?, 1, 28, 28]）"
    ),
}


@pytest.mark.parametrize("english", sorted(EXACT))
def test_exact_translation(english: str) -> None:
    assert to_zh(english) == EXACT[english]
    assert localize(english, "zh-cn") == EXACT[english]


def test_clipped_text_keeps_what_translates() -> None:
    """The reader cuts long provenance at 240 characters: the whole parts before the cut are
    translated, the cut one becomes an ellipsis."""
    text = (
        "`x`, line 3 with argparse default of --lr, line 9; len(DataLoader): 25,000 samples / ba…"
    )
    assert (
        to_zh(text) == "`x`，第 3 行，其中 argparse 参数 --lr 的默认值，第 9 行；len(DataLoader)：…"
    )


@pytest.mark.parametrize(
    "english",
    [
        "a phrase the table has never seen",
        "`X`, line 17 with something new",  # one unknown part: the whole text stays English
        "argparse default of --lr, line 9; frobnicated by the widget",
        "\ue000 0 \ue001 tricky markers",
        "",
        "   ",
        "((((",
        "`unclosed code span",
    ],
)
def test_unknown_phrases_fall_back_to_english(english: str) -> None:
    assert localize(english, "zh-cn") == english


def test_templates_are_distinct_and_code_spans_untouched() -> None:
    englishes = [p.english for p in PHRASES]
    assert len(englishes) == len(set(englishes))
    assert len(PHRASES) >= 200
    text = "`lr = 0.05 * batch_size / 256`, line 3 with `batch_size = 250`, line 1"
    shown = to_zh(text)
    assert shown is not None
    assert re.findall(r"`[^`]*`", shown) == re.findall(r"`[^`]*`", text)


# -- rendered hovers and tooltips ----------------------------------------------------------------

GOLDEN = [
    REPO / "examples" / "classic_train.py",
    *sorted((REPO / "tests/golden/scripts").glob("*.py")),
]


def _view(path: Path) -> View:
    text = path.read_text(encoding="utf-8")
    analysis = analyze(text, path=path.relative_to(REPO).as_posix())
    result = Result(
        version=1, key="", text=text, lines=split_lines(text), analysis=analysis, inputs=Inputs()
    )
    return View(result, result)


def _rendered(view: View, locale: str) -> str:
    parts = [hint.tooltip for hint in compute_hints(view, Settings(), locale, "utf-16")]
    parts += [hover_markdown(view, mention, locale) for mention in view.analysis.mentions]
    return "\n".join(parts)


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_rendered_zh_hovers_carry_no_reader_english(path: Path) -> None:
    """The zh-cn hovers and tooltips show none of the reader's English texts, which the English
    ones show as they are."""
    view = _view(path)
    zh = _rendered(view, "zh-cn")
    en = _rendered(view, "en")
    for where, text in reader_texts(view.analysis):
        escaped = text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")
        if english_runs(text):
            assert escaped not in zh, f"{where}: {text!r} shown in English in a zh-cn hover"
        name = where.removesuffix(".source")
        if name in ITERATION_FACTS and view.analysis.facts[name].known:
            assert escaped in en, f"{where}: {text!r} not shown as it is in the English hovers"


def test_stale_note_in_chinese() -> None:
    """The note under a hover while the text does not parse names the error in Chinese."""
    path = REPO / "examples" / "classic_train.py"
    good = _view(path)
    broken = path.read_text(encoding="utf-8") + "\nx = (\n"
    analysis = analyze(broken, path="examples/classic_train.py")
    assert analysis.error is not None and analysis.error.startswith("syntax error at line")
    current = Result(
        version=2,
        key="",
        text=broken,
        lines=split_lines(broken),
        analysis=analysis,
        inputs=Inputs(),
    )
    view = View(current, good.shown)
    batch = next(m for m in view.analysis.mentions if m.kind == "batch_size")
    zh = hover_markdown(view, batch, "zh-cn")
    assert "行有语法错误" in zh and "analysed the rest" not in zh
    assert "(analysed the rest)" in hover_markdown(view, batch, "en")


def test_memory_how_falls_back_to_the_general_chinese() -> None:
    """A ``how`` the table does not know yet (an estimator change) shows the general Chinese
    explanation of the term, not English."""
    path = REPO / "examples" / "classic_train.py"
    memory = _view(path).analysis.memory
    assert memory is not None
    memory.how["workspace"] = "a brand new rule nobody translated yet"
    rows = "\n".join(memory_table(memory, "zh-cn"))
    assert "a brand new rule" not in rows
    assert TERM_HOW_ZH["workspace"] in rows
    assert "a brand new rule" in "\n".join(memory_table(memory, "en"))
