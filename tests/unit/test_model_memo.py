"""The model reading kept between versions of a document (``gpulens.analysis.modelcache``).

A reused reading must be exactly what reading the new text from scratch gives: random edits of
the kinds people make while they type (numbers, names, docstrings, lines added and removed, new
statements that build or train models) are applied to every model fixture, and each version's
models and estimate are compared with a fresh analysis. The walk must also reuse readings
(otherwise the memo would be dead weight), and the edits that must not reuse one are checked
one by one.
"""

from __future__ import annotations

import random
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from gpulens.analysis import analyze
from gpulens.analysis.incremental import ParseCache
from gpulens.analysis.modelcache import summarize

REPO = Path(__file__).resolve().parents[2]
MODELS = sorted((REPO / "tests" / "fixtures" / "models").glob("*.py"))
GOLDEN = sorted((REPO / "tests" / "golden" / "scripts").glob("*.py"))

#: Statements typed in somewhere (at the top level, so they parse anywhere a line starts).
NEW_LINES = [
    "x = 5",
    "print('hello')",
    "unused = nn.Linear(3, 4)",
    "extra_model = nn.Sequential(nn.Linear(8, 8))",
    "import math",
    "BATCH_SIZE = 7",
    "batch_size = 3",
    "optimizer2 = torch.optim.SGD(model.parameters(), lr=0.1)",
    "model = nn.Linear(10, 10)",
    "def helper():\n    return nn.Linear(2, 2)",
    "lr = 0.5",
    "# a comment",
]


def _models(a: Any) -> Any:
    return (
        [m.to_json() for m in a.models],
        [
            (
                m.span,
                m.reason,
                getattr(m.trace, "reasons", None),
                [(x.span, x.reason) for x in m.layers],
            )
            for m in a.models
        ],
        a.params_total,
        a.memory_reason,
        repr(a.memory),
        {k: (f.value, f.source, f.span) for k, f in a.facts.items()},
        a.mentions,
    )


def _edit(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    r = rng.random()
    if r < 0.35:  # a number changes
        spots = [(i, m) for i, line in enumerate(lines) for m in re.finditer(r"\b\d+\b", line)]
        if spots:
            i, m = rng.choice(spots)
            new = str(max(1, int(m.group()) + rng.choice([-1, 1, 7, int(m.group())])))
            lines[i] = lines[i][: m.start()] + new + lines[i][m.end() :]
            return "\n".join(lines)
    if r < 0.5:  # a word typed into a docstring or a comment
        spots = [i for i, line in enumerate(lines) if '"""' in line or "#" in line]
        if spots:
            i = rng.choice(spots)
            j = lines[i].find('"""')
            j = j + 3 if j >= 0 else lines[i].find("#") + 1
            lines[i] = lines[i][:j] + "wide " + lines[i][j:]
            return "\n".join(lines)
    if r < 0.8:  # a statement added at the top level, between two others
        tops = [i for i, line in enumerate(lines) if line[:1].isalpha() and i > 0]
        if tops:
            i = rng.choice(tops)
            lines[i:i] = rng.choice(NEW_LINES).split("\n")
            return "\n".join(lines)
    # a top-level one-line statement removed
    singles = [
        i
        for i, line in enumerate(lines)
        if re.match(r"[A-Za-z_][\w.]* = ", line) and not line.rstrip().endswith(("(", "[", "{"))
    ]
    if singles:
        del lines[rng.choice(singles)]
    return "\n".join(lines)


@pytest.mark.parametrize("path", MODELS + GOLDEN, ids=lambda p: p.stem)
def test_a_reused_reading_is_what_reading_again_gives(path: Path) -> None:
    rng = random.Random(path.stem)
    text = path.read_text(encoding="utf-8")
    cache = ParseCache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        for _ in range(14):
            got = analyze(text, path=str(path), parse_cache=cache)
            assert _models(got) == _models(analyze(text, path=str(path))), cache.models.last_miss
            text = _edit(rng, text)


def test_the_random_edits_do_reuse_readings() -> None:
    """Across the fixtures the walk above reuses readings often (the memo is not dead weight)
    and reads again often (the edits do reach what the models are read from)."""
    hits = misses = shifted = 0
    for path in MODELS[::3]:
        rng = random.Random(path.stem)
        text = path.read_text(encoding="utf-8")
        cache = ParseCache()
        for _ in range(14):
            analyze(text, path=str(path), parse_cache=cache)
            text = _edit(rng, text)
        hits += cache.models.hits
        misses += cache.models.misses
        shifted += cache.models.shifted
    assert hits >= 20 and misses >= 20 and shifted >= 5, (hits, misses, shifted)


SCRIPT = """\
import json
import torch
from torch import nn
from torch.optim import AdamW as Opt

WIDTH = 64
BATCH_SIZE = 32


class Net(nn.Module):
    \"\"\"A small MLP.\"\"\"

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(WIDTH, WIDTH)
        self.head = nn.Linear(WIDTH, 10)

    def forward(self, x):
        return self.head(torch.relu(self.fc(x)))


def accuracy(logits, y):
    \"\"\"Fraction right.\"\"\"
    return (logits.argmax(-1) == y).float().mean()


model = Net()
optimizer = Opt(model.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()
dataset = torch.utils.data.TensorDataset(torch.randn(1000, WIDTH), torch.randint(0, 10, (1000,)))
loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH_SIZE)
for epoch in range(3):
    for inputs, targets in loader:
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
"""


def _check(cache: ParseCache, text: str, **kw: Any) -> Any:
    got = analyze(text, parse_cache=cache, **kw)
    assert _models(got) == _models(analyze(text, **kw))
    return got


def test_a_batch_size_edit_reuses_the_reading_and_moves_the_shapes() -> None:
    cache = ParseCache()
    first = _check(cache, SCRIPT)
    assert first.models[0].layers[0].output_shape == (32, 64)
    text = SCRIPT.replace("BATCH_SIZE = 32", "BATCH_SIZE = 48")
    got = _check(cache, text)
    assert cache.models.hits == 1
    assert got.models[0].layers[0].output_shape == (48, 64)
    assert got.memory.batch_size == 48 and got.memory.activations > first.memory.activations
    # typing in the docstring of a function the models do not use, and adding a statement below
    text = text.replace("Fraction right.", "Fraction of them right.")
    _check(cache, text)
    text += "print(loss.item())\n"
    _check(cache, text)
    assert cache.models.hits == 3, cache.models.last_miss
    # lines added below everything the models come from, then the batch size again
    text += "\n\nprint('done')\n"
    _check(cache, text)
    got = _check(cache, text.replace("BATCH_SIZE = 48", "BATCH_SIZE = 16"))
    assert cache.models.hits == 5, cache.models.last_miss
    assert got.models[0].layers[0].output_shape == (16, 64)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("WIDTH = 64", "WIDTH = 128"),  # a constant the model reads
        ('"""A small MLP."""', '"""A wide MLP."""'),  # the model's class
        ("model = Net()", "model = Net()\nmodel2 = nn.Linear(64, 64)"),  # a new model
        ("criterion = nn", "optimizer2 = Opt(model.parameters())\ncriterion = nn"),  # alias
        ("import json\n", "import json\nfrom torch.optim import SGD as Opt\n"),  # rebinding
        ("return self.head(", "return self.head(x.view(BATCH_SIZE, -1) + "),  # forward reads it
        ("WIDTH = 64\n", "WIDTH = 64\nexec(open('cfg.py').read())\n"),
    ],
)
def test_edits_that_change_what_the_models_read_are_read_again(old: str, new: str) -> None:
    cache = ParseCache()
    _check(cache, SCRIPT)
    edited = SCRIPT.replace(old, new, 1)
    assert edited != SCRIPT
    _check(cache, edited)
    assert cache.models.misses == 2, "the edit must not reuse the reading"
    assert cache.models.last_miss


def test_lines_added_above_the_models_move_the_reading() -> None:
    """A statement and a comment typed above the model class, then removed: the reading is
    reused with its positions moved (the model's line, its layers' spans, the texts' lines)."""
    cache = ParseCache()
    first = _check(cache, SCRIPT)
    text = SCRIPT.replace("class Net", "EXTRA = 1\n# about Net\n\nclass Net", 1)
    got = _check(cache, text)
    assert (cache.models.hits, cache.models.shifted) == (1, 1), cache.models.last_miss
    assert got.models[0].line == first.models[0].line + 3
    assert got.models[0].layers[0].span.line == first.models[0].layers[0].span.line + 3
    _check(cache, SCRIPT)
    assert (cache.models.hits, cache.models.shifted) == (2, 2), cache.models.last_miss
    # a line added below everything the models were read from moves nothing they hold
    _check(cache, SCRIPT + "\n# done\n")
    assert (cache.models.hits, cache.models.shifted) == (3, 2), cache.models.last_miss


def test_a_config_file_the_model_reads_is_followed(tmp_path: Path) -> None:
    cfg = tmp_path / "model.json"
    cfg.write_text('{"width": 32}', encoding="utf-8")
    text = SCRIPT.replace(
        "WIDTH = 64", "with open('model.json') as fh:\n    WIDTH = json.load(fh)['width']"
    )
    script = str(tmp_path / "train.py")
    cache = ParseCache()
    first = _check(cache, text, path=script)
    cfg.write_text('{"width": 48}', encoding="utf-8")
    second = _check(cache, text, path=script)
    assert first.params_total != second.params_total
    cfg.unlink()
    _check(cache, text, path=script)


def test_statement_summaries() -> None:
    import ast

    st = ast.parse(
        "if cond:\n"
        "    import numpy as np\n"
        "    a, b.c = f(), 2\n"
        "    def g():\n"
        "        inner = nn.Linear(1, 1)\n"
        "        return table[k]()\n"
    ).body[0]
    s = summarize(st)
    assert s.binds == frozenset({"np", "a", "b", "g"})  # not `inner`: that is g's
    assert {"f", "Linear"} <= s.calls and s.dynamic_call
    assert s.assigned_calls == frozenset({"Linear"})  # `a, b.c = ...` unpacks: not followed
    assert not s.opaque
    assert summarize(ast.parse("def f():\n    global X\n    X = 1\n").body[0]).opaque
