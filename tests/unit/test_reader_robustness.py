"""Bad input never crashes the reader: broken, empty, binary-ish, huge and deeply nested text."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from gpulens.analysis import FACT_NAMES, Analysis, analyze

ROOT = Path(__file__).resolve().parents[2]
CLASSIC = (ROOT / "examples" / "classic_train.py").read_text(encoding="utf-8")


def check(a: Analysis) -> None:
    """The result is complete and serialisable, and no internal error leaked."""
    for name in FACT_NAMES:
        assert name in a.facts
    json.dumps(a.to_json())
    assert not (a.error or "").startswith("internal error"), a.error


@pytest.mark.parametrize(
    "src",
    [
        "",
        "\n\n",
        "   ",
        "#",
        "x",
        "for",
        "def f(:",
        "import",
        "(((",
        "]]]",
        "'''",
        "\\",
        "for epoch in range(",
        "DataLoader(ds, batch_size=",
        "if True:\n",
        "class A(\n  x=1",
        "\x00\x00\x00",
        "x = 1\x00\ny = 2",
        "x = '\udcff'",
        "λ = 3",
        "\t\tx = 1\n y = 2",
        "@\ndef",
        "lambda: (yield)",
        "async def f():\n    await",
        "match x:\n    case",
    ],
)
def test_garbage_never_raises(src: str) -> None:
    check(analyze(src))


def test_half_typed_lines_everywhere_keep_the_rest() -> None:
    lines = CLASSIC.splitlines()
    for i in range(len(lines)):
        broken = "\n".join([*lines[:i], lines[i][: len(lines[i]) // 2], *lines[i + 1 :]])
        a = analyze(broken)
        check(a)
    # A broken line in the middle: the rest still gives the classic answer.
    broken = CLASSIC.replace("model.train()", "model.train(")
    a = analyze(broken)
    assert a.error and "syntax error" in a.error
    assert (a.iterations.per_epoch, a.iterations.total) == (12, 60)


def test_unclosed_bracket_at_the_end() -> None:
    a = analyze(CLASSIC + "\nprint(\n")
    check(a)
    assert a.iterations.total == 60
    assert a.error is not None


def test_empty_file() -> None:
    a = analyze("")
    check(a)
    assert a.error is None
    assert a.iterations.total is None and a.iterations.reason


def test_deep_nesting_is_a_clear_error() -> None:
    deep = "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n"
    a = analyze(deep)
    check(a)
    assert a.error
    blocks = "".join("    " * i + "if True:\n" for i in range(5000)) + "    " * 5000 + "pass\n"
    a = analyze(blocks)
    check(a)
    assert a.error
    lists = "x = " + "[" * 5000 + "]" * 5000
    check(analyze(lists))


def test_deep_expression_that_parses() -> None:
    src = "x = " + " + ".join(["1"] * 3000) + "\nbs = x\n"
    check(analyze(src))


def test_huge_literals() -> None:
    src = (
        "import torch\nfrom torch.utils.data import DataLoader, TensorDataset\n"
        f"N = {'9' * 5000}\n"
        f"S = '{'a' * 200_000}'\n"
        "E = 10 ** 10 ** 10\n"
        "loader = DataLoader(TensorDataset(torch.randn(N, 3)), batch_size=2 ** 4000)\n"
        "for epoch in range(E):\n    for x in loader:\n        x.backward()\n"
    )
    a = analyze(src)
    check(a)
    assert a.iterations.total is None


def test_twenty_thousand_lines() -> None:
    body = "\n".join(f"v{i} = {i} * 2" for i in range(20_000))
    a = analyze(CLASSIC + "\n" + body)
    check(a)
    assert a.iterations.total == 60


def test_self_referencing_names_and_recursion() -> None:
    src = textwrap.dedent("""
        def f(n):
            return f(n - 1)
        bs = f(10)
        class D:
            def __init__(self):
                self.n = self.n
            def __len__(self):
                return self.n
        import torch
        loader = torch.utils.data.DataLoader(D(), batch_size=bs)
        for epoch in range(2):
            for x in loader:
                x.backward()
    """)
    a = analyze(src)
    check(a)
    assert a.iterations.total is None


def test_weird_but_valid_constructs() -> None:
    src = textwrap.dedent("""
        import torch
        from torch.utils.data import DataLoader
        args = None
        bs, *rest = 1, 2, 3
        cfg = {**{}, 'a': 1}
        loader = DataLoader(*[], **{})
        x = [i for i in range(10)]
        y = {k: v for k, v in cfg.items()}
        z = lambda q: q
        w = (a := 5)
        del x
        global g
        for epoch in range(w):
            with torch.no_grad() as ctx, open('f') as fh:
                pass
            try:
                loader.step()
            except Exception as exc:
                raise
            finally:
                pass
    """)
    check(analyze(src))


def test_non_utf8_text_from_the_caller() -> None:
    raw = b"x = 1\n# caf\xe9\nbatch_size = 3\n\xff\xfe"
    check(analyze(raw.decode("utf-8", errors="surrogateescape")))
    check(analyze(raw.decode("latin-1")))


def test_script_args_garbage() -> None:
    src = (ROOT / "tests/fixtures/scripts/mnist_argparse.py").read_text(encoding="utf-8")
    for args in (
        ("--batch-size",),
        ("--batch-size", "abc"),
        ("--nope", "1"),
        ("-",),
        ("--",),
        ("--epochs=-1",),
        ("x" * 10_000,),
    ):
        check(analyze(src, script_args=args))


def test_settings_garbage() -> None:
    check(analyze(CLASSIC, overrides={"dataset_size": "lots", "epochs": None, "batch_size": 0}))
    check(analyze(CLASSIC, overrides={"batch_size": -5}))
    check(analyze(CLASSIC, world_size=0))


def test_exponential_call_fan_out_is_bounded() -> None:
    chain = "\n".join(f"def f{i}():\n    return f{i + 1}() + f{i + 1}()\n" for i in range(40))
    src = (
        chain
        + "\ndef f40():\n    return 1\n\nbs = f0()\n"
        + (
            "import torch\nloader = torch.utils.data.DataLoader(range(10), batch_size=bs)\n"
            "for epoch in range(2):\n    for x in loader:\n        x.backward()\n"
        )
    )
    a = analyze(src)
    check(a)
    assert a.facts["batch_size"].value is None


def test_many_conditional_bindings() -> None:
    src = (
        "import random\nx = 0\n"
        + "".join(f"if random.random() > 0.5:\n    x = {i}\n" for i in range(3000))
        + "bs = x\n"
    )
    check(analyze(src))
