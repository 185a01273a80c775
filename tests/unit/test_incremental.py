"""Incremental reading: after any sequence of edits the tree, the symbol table and the analysis
are those of reading the final text from scratch."""

from __future__ import annotations

import ast
import random
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from gpulens.analysis import analyze
from gpulens.analysis.incremental import ParseCache
from gpulens.analysis.symbols import SymbolTable, build

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from gen_script import generate  # noqa: E402

sys.path.pop(0)

FIXTURES = sorted((REPO / "tests" / "fixtures" / "scripts").glob("*.py"))
EXAMPLES = sorted((REPO / "examples").glob("*.py"))


def _pos(n: Any) -> Any:
    if n is None:
        return None
    return (
        type(n).__name__,
        getattr(n, "lineno", None),
        getattr(n, "col_offset", None),
        getattr(n, "end_lineno", None),
        getattr(n, "end_col_offset", None),
    )


def table_summary(t: SymbolTable) -> list[Any]:
    """Everything in a symbol table, with nodes by position (the two tables have different
    node objects for the same text)."""
    out: list[Any] = []
    for s in t.all_scopes():
        parent = s.parent.name if s.parent is not None else None
        out.append(("scope", s.name, _pos(s.node) if s.parent else "module", parent))
        for name, bs in s.bindings.items():
            out.append(
                (
                    name,
                    [
                        (
                            b.line,
                            b.col,
                            b.kind,
                            _pos(b.value),
                            b.path,
                            tuple((_pos(c), p) for c, p in b.conditions),
                            b.in_loop,
                            _pos(b.node),
                            b.scope is s,
                            repr(b.key),
                        )
                        for b in bs
                    ],
                )
            )
    out.append(list(t.imports.items()))
    out.append([(k, [_pos(f) for f in v]) for k, v in t.functions.items()])
    out.append([(k, _pos(v)) for k, v in t.classes.items()])
    out.append([(_pos(c), s.name, _pos(s.node) if s.parent else None) for c, s in t.calls])
    out.append([(_pos(c), s.name, len(cd)) for c, s, cd in t.exec_sites])
    out.append([(_pos(lp), s.name) for lp, s in t.loops])
    nodes: dict[int, Any] = {id(lp): lp for lp, _ in t.loops}
    nodes.update({id(c): c for c, _ in t.calls})
    out.append(sorted((_pos(nodes[k]), _pos(v)) for k, v in t.loop_parents.items()))
    out.append(sorted((_pos(nodes[k]), _pos(v)) for k, v in t.call_loop.items()))
    out.append(
        sorted((_pos(nodes[k]), tuple((_pos(c), p) for c, p in v)) for k, v in t.call_conds.items())
    )
    return out


def check(cache: ParseCache, text: str) -> bool:
    """The cache's tree and table for ``text`` equal a fresh parse; False if it does not parse."""
    try:
        want = ast.parse(text)
    except SyntaxError as exc:
        with pytest.raises(SyntaxError) as got_exc:
            cache.parse(text)
        # the same error (the reader reports it, and repairs the line it names)
        assert (got_exc.value.lineno, got_exc.value.msg) == (exc.lineno, exc.msg)
        return False
    got = cache.parse(text)
    assert ast.dump(got, include_attributes=True) == ast.dump(want, include_attributes=True)
    assert table_summary(cache.symbols(got)) == table_summary(build(want))
    return True


SNIPPETS = [
    "x = 1\n",
    "    y = 2\n",
    "else:\n    pass\n",
    "@dec\n",
    "def g():\n    return 3\n",
    "(",
    ")",
    "\n",
    "\n\n",
    "#",
    "'''",
    '"""\n',
    "\\\n",
    "if a:\n",
    "    ",
    "\t",
    "; z = 4",
    "for epoch in range(3):\n    loss.backward()\n",
    "elif b:\n    c\n",
    "except E:\n    d\n",
    "class K:\n    a = 1\n",
]


def mutate(rng: random.Random, text: str) -> str:
    r = rng.random()
    i = rng.randint(0, len(text))
    if r < 0.3:
        return text[:i] + rng.choice(SNIPPETS) + text[i:]
    if r < 0.5:
        return text[:i] + text[min(len(text), i + rng.randint(1, 40)) :]
    if r < 0.7:
        lines = text.split("\n")
        k = rng.randrange(len(lines))
        op = rng.random()
        if op < 0.4:
            lines.insert(k, rng.choice(["", "# c", "x = 5", "    w = 6", "print(1)"]))
        elif op < 0.7 and len(lines) > 1:
            del lines[k]
        else:
            lines[k] += rng.choice(["  # t", "1", " ", "+1", ":", " \\"])
        return "\n".join(lines)
    if r < 0.85:
        j = min(len(text), i + rng.randint(0, 3))
        return text[:i] + rng.choice("abc0189 _.()[]:=+\n") + text[j:]
    return text[:i] + text[i : i + 1] * 2 + text[i + 1 :]


def random_walk(text: str, seed: int, steps: int) -> int:
    rng = random.Random(seed)
    cache = ParseCache()
    assert check(cache, text)
    good = text
    parsed = 0
    for _ in range(steps):
        text = mutate(rng, text)
        if check(cache, text):
            good = text
            parsed += 1
        elif rng.random() < 0.7:
            text = good  # stay mostly near code that parses
    return parsed


@pytest.mark.parametrize("seed", range(4))
def test_random_edits_generated_script(seed: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        assert random_walk(generate(250), seed, 150) > 30


@pytest.mark.parametrize("path", FIXTURES[::4] + EXAMPLES, ids=lambda p: p.stem)
def test_random_edits_real_scripts(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        random_walk(path.read_text(encoding="utf-8"), len(path.name), 60)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # a backslash continues the last line of the statement above into the edited line
        ("x = 1 \\\n\ny = 2\n", "x = 1 \\\n3\ny = 2\n"),
        # `else` joins the `if` above; indentation joins its block
        ("if a:\n    b\n\nc = 1\n", "if a:\n    b\nelse:\n    c = 1\n"),
        ("if a:\n    b\nc = 1\n", "if a:\n    b\n    c = 1\n"),
        (
            "try:\n    a\nexcept E:\n    b\nc = 1\n",
            "try:\n    a\nexcept E:\n    b\nfinally:\n    c = 1\n",
        ),
        # a decorator line added above a function; statements merged and split by `;`
        ("x = 1\n\ndef f():\n    pass\n", "x = 1\n@dec\ndef f():\n    pass\n"),
        ("x = 1\ny = 2\n", "x = 1; y = 2\n"),
        ("x = 1; y = 2\nz = 3\n", "x = 1\ny = 2\nz = 3\n"),
        # a string opened above swallows the statements below, and closed again
        ("a = 1\nb = 2\nc = 3\n", 'a = """\nb = 2\n"""\nc = 3\n'),
        ('a = """\nb = 2\n"""\nc = 3\n', "a = 1\nb = 2\nc = 3\n"),
        # brackets across lines, lines added and removed before later statements
        ("a = f(\n1)\nb = 2\n", "a = f(\n1,\n2)\nb = 2\n"),
        ("a = 1\n\n\nb = [\n1]\n", "a = 1\nb = [\n1]\n"),
        # no trailing newline, text added at the very end and at the very start
        ("a = 1\nb = 2", "a = 1\nb = 23"),
        ("a = 1\n", "a = 1\nb = 2"),
        ("a = 1\n", "# header\na = 1\n"),
        ("a = 1\n", ""),
        ("", "a = 1\n"),
        # Windows line ends
        ("a = 1\r\nb = 2\r\n", "a = 1\r\nc = 3\r\nb = 2\r\n"),
        # old Mac line ends and the FLUFL future import are read the ordinary way
        ("a = 1\nb = 2\n", "a = 1\rb = 3\n"),
        ("a = 1\n", "from __future__ import barry_as_FLUFL\na = 1 <> 2\n"),
    ],
)
def test_tricky_edits(before: str, after: str) -> None:
    cache = ParseCache()
    assert check(cache, before)
    check(cache, after)  # some of these do not parse: then the cache must not pretend they do
    assert check(cache, before)
    check(cache, after)


def test_edits_are_incremental() -> None:
    text = generate(600)
    lines = text.split("\n")
    row = next(i for i, line in enumerate(lines) if line.startswith("BATCH_SIZE = "))
    cache = ParseCache()
    cache.parse(text)
    # A number changed: one statement parsed, nothing moved.
    lines[row] = "BATCH_SIZE = 300"
    assert check(cache, "\n".join(lines))
    assert cache.stats.full == 1
    assert cache.stats.incremental == 1
    assert cache.stats.last_parsed_lines < 10
    assert cache.stats.last_shifted_groups == 0
    # A line added: a few lines parsed, the statements below moved (not parsed again).
    lines.insert(row + 1, "EXTRA = 1")
    assert check(cache, "\n".join(lines))
    assert cache.stats.full == 1
    assert cache.stats.last_parsed_lines < 40  # the class below, whose leading gap it is in
    assert cache.stats.last_shifted_groups > 50


def test_broken_text_keeps_the_last_good_state() -> None:
    text = generate(300)
    cache = ParseCache()
    assert check(cache, text)
    broken = text.replace("BATCH_SIZE = 100", "BATCH_SIZE = (100", 1)
    assert not check(cache, broken)
    assert cache.text == text
    fixed = text.replace("BATCH_SIZE = 100", "BATCH_SIZE = (100)", 1)
    assert check(cache, fixed)
    assert cache.stats.full == 1


def _same_analysis(a: Any, b: Any) -> None:
    assert a.error == b.error
    assert {k: (f.value, f.source, f.span, f.reason) for k, f in a.facts.items()} == {
        k: (f.value, f.source, f.span, f.reason) for k, f in b.facts.items()
    }
    assert a.iterations == b.iterations
    assert a.mentions == b.mentions
    # issue 3: the models read from the same tree (positions included) and the estimate
    assert [m.to_json() for m in a.models] == [m.to_json() for m in b.models]
    assert (a.params_total, a.memory_reason) == (b.params_total, b.memory_reason)
    assert repr(a.memory) == repr(b.memory)


GOLDEN = sorted((REPO / "tests" / "golden" / "scripts").glob("*.py"))


@pytest.mark.parametrize("path", FIXTURES[1::6] + GOLDEN, ids=lambda p: p.stem)
def test_analysis_with_a_cache_is_the_same(path: Path) -> None:
    rng = random.Random(path.name)
    text = path.read_text(encoding="utf-8")
    cache = ParseCache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        for _ in range(12):
            _same_analysis(
                analyze(text, path=str(path), parse_cache=cache), analyze(text, str(path))
            )
            text = mutate(rng, text)


def test_exec_inside_a_function_does_not_leak_into_the_next_version(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.py"
    cfg.write_text("batch_size = 32\n", encoding="utf-8")
    script = tmp_path / "train.py"
    text = (
        "import torch\n"
        "def main():\n"
        "    batch_size = 8\n"
        "    exec(open('cfg.py').read())\n"
        "    loader = torch.utils.data.DataLoader(range(640), batch_size=batch_size)\n"
        "    for epoch in range(2):\n"
        "        for x in loader:\n"
        "            loss.backward()\n"
        "main()\n"
    )
    cache = ParseCache()
    first = analyze(text, path=str(script), parse_cache=cache)
    edited = text.replace("range(2)", "range(3)")
    again = analyze(edited, path=str(script), parse_cache=cache)
    _same_analysis(again, analyze(edited, path=str(script)))
    _same_analysis(first, analyze(text, path=str(script)))


def test_bench_edits_read_the_same_as_from_scratch() -> None:
    """The latency benchmark's edits: a number, characters typed in a line, a line added."""
    text = generate(600)
    cache = ParseCache()
    versions = [
        text.replace("BATCH_SIZE = 100", "BATCH_SIZE = 300", 1),
        text.replace("Residual MLP block number 7", "Residual wide MLP block number 7", 1),
        text.replace("class Block0(", "EXTRA = 1\nclass Block0(", 1),
        text.replace("class Block0(", "EXTRA = 1\nclass Block0(", 1).replace(
            "nn.CrossEntropyLoss()", "nn.CrossEntropyLoss(()", 1
        ),
        text,
    ]
    for version in versions:
        _same_analysis(analyze(version, parse_cache=cache), analyze(version))
    assert cache.stats.incremental >= 3


MODEL_SCRIPT = """\
import torch
from torch import nn

n_layer = 12
width = 64


class Block(nn.Module):
    \"\"\"One block.\"\"\"

    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d)

    def forward(self, x):
        return x + torch.relu(self.fc(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(*[Block(width) for _ in range(n_layer)])
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.blocks(x))


{filler}
model = Net()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()
dataset = torch.utils.data.TensorDataset(torch.randn(1000, 64), torch.randint(0, 10, (1000,)))
loader = torch.utils.data.DataLoader(dataset, batch_size=32)
for epoch in range(3):
    for inputs, targets in loader:
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
"""


def test_model_results_follow_edits_far_from_the_model() -> None:
    """The models and the memory estimate of an incrementally read text are those of the text
    read from scratch, after edits inside a model class, to a constant the model uses far away
    from it, to the batch size, and elsewhere."""
    filler = "\n".join(f"unused_{i} = {i}" for i in range(200))
    text = MODEL_SCRIPT.format(filler=filler)
    cache = ParseCache()
    first = analyze(text, parse_cache=cache)
    assert first.models and first.memory is not None
    versions = [
        text.replace("n_layer = 12", "n_layer = 6", 1),  # a constant the model uses
        text.replace("unused_150 = 150", "unused_150 = 151", 1),  # unrelated
        text.replace("self.fc = nn.Linear(d, d)", "self.fc = nn.Linear(d, 2 * d)", 1),
        text.replace('"""One block."""', '"""One wide block."""', 1),
        text.replace("class Block(", "EXTRA = 1\nclass Block(", 1),  # every line below moves
        text.replace("width = 64", "width = 128", 1),
        text.replace("batch_size=32", "batch_size=64", 1),
        text,
    ]
    params = set()
    for version in versions:
        got = analyze(version, parse_cache=cache)
        _same_analysis(got, analyze(version))
        params.add(got.params_total)
    assert len(params) >= 3  # the edits did change the models
    assert cache.stats.incremental >= len(versions) - 1


def test_model_results_follow_inputs_outside_the_edited_statements(tmp_path: Path) -> None:
    """What a cache of the model reading must key on besides the edited statements (none of
    these is visible as a changed top-level statement of the edited text): a config file
    changed on disk under the same text, script args and overrides under the same text, a
    comment inside a multi-line model expression (same tree, other source text), a docstring
    of a class the model uses, a new statement far below that trains or builds a model, and the
    same text again after all of them."""
    cfg = tmp_path / "cfg.py"
    cfg.write_text("n_layer = 3\n", encoding="utf-8")
    script = tmp_path / "train.py"
    filler = "\n".join(f"unused_{i} = {i}" for i in range(50))
    text = (
        MODEL_SCRIPT.format(filler=filler)
        .replace("n_layer = 12\n", "n_layer = 12\nexec(open('cfg.py').read())\n", 1)
        .replace(
            "        self.head = nn.Linear(width, 10)",
            "        self.head = nn.Sequential(\n            nn.Linear(width, 10),\n        )",
            1,
        )
    )
    cache = ParseCache()

    def check(version: str, **kw: Any) -> Any:
        got = analyze(version, path=str(script), parse_cache=cache, **kw)
        _same_analysis(got, analyze(version, path=str(script), **kw))
        return got

    first = check(text)
    assert first.models and first.memory is not None
    params = {first.params_total}
    cfg.write_text("n_layer = 5\n", encoding="utf-8")  # same text, another config
    params.add(check(text).params_total)
    check(text, overrides={"batch_size": 7})
    check(text, overrides={"precision": "amp_bf16"})
    check(text, script_args=["--unused", "1"])
    check(text.replace("nn.Linear(width, 10),\n", "nn.Linear(width, 10),  # head\n", 1))
    check(text.replace('"""One block."""', '"""One much wider block."""', 1))
    check(text + "optimizer2 = torch.optim.SGD(model.parameters(), lr=0.1)\n")
    check(text + "other = nn.Linear(1000, 1000)\nother(torch.randn(4, 1000))\n")
    params.add(check(text.replace("unused_40 = 40", "n_layer = 2", 1)).params_total)
    check(text)
    assert len(params) == 3  # the config file and the binding far away changed the model


def test_whole_lines_added_or_removed_parse_only_themselves() -> None:
    """A line typed above a class (then removed again) is parsed alone; the class below keeps
    its nodes, moved down (and back)."""
    text = "import torch\n\n\nclass A:\n    x = 1\n\n\n# about B\nclass B:\n    y = 2\n"
    cache = ParseCache()
    tree = cache.parse(text)
    a, b = tree.body[1], tree.body[2]
    for at, inserted in [("class A", "EXTRA = 1\n"), ("# about B", "Z = 2\nW = 3\n")]:
        edited = text.replace(at, inserted + at, 1)
        assert check(cache, edited)
        assert cache.stats.last_parsed_lines == inserted.count("\n")
        body = cache.parse(edited).body
        assert a in body and b in body  # the same nodes, moved
        assert check(cache, text)  # and removed again
        assert cache.stats.last_parsed_lines == 0
        assert cache.parse(text).body[1:] == [a, b]
