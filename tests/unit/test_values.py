"""The evaluator: constants, arithmetic, configs, argparse, conditions, calls — with provenance."""

from __future__ import annotations

import ast
import textwrap

import pytest
from gpulens.analysis.configs import apply_exec_configs
from gpulens.analysis.reader import install_handlers
from gpulens.analysis.symbols import build
from gpulens.analysis.values import Context, DatasetVal, Evaluator, V


def value_of(
    src: str, name: str, args: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> V:
    src = textwrap.dedent(src)
    table = build(ast.parse(src))
    ev = Evaluator(table, src.splitlines(), Context(args, env or {}, None))
    install_handlers(ev)
    apply_exec_configs(ev)
    v = ev.lookup(name, table.module, None)
    assert v is not None, f"{name} is not bound"
    return v


def test_constant_and_source() -> None:
    v = value_of("BATCH = 64\n", "BATCH")
    assert v.value == 64
    assert v.source == "`BATCH = 64`, line 1"
    assert v.span is not None and v.span.line == 1


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("32 * 4", 128),
        ("1000 // 3", 333),
        ("2 ** 10", 1024),
        ("7 % 4", 3),
        ("-(3 - 5)", 2),
        ("int(0.9 * 1000)", 900),
        ("max(1, 2, 3)", 3),
        ("min([4, 2])", 2),
        ("round(2.6)", 3),
        ("abs(-4)", 4),
        ("len([1, 2, 3])", 3),
        ("len(range(10))", 10),
        ("sum([1, 2, 3])", 6),
        ("True and 5", 5),
        ("0 or 7", 7),
        ("3 if 1 > 2 else 4", 4),
        ("'a' + 'b'", "ab"),
        ("f'{2}x{3:02d}'", "2x03"),
        ("float('1e-3')", 0.001),
        ("1_000_000", 1000000),
    ],
)
def test_arithmetic(expr: str, expected: object) -> None:
    assert value_of(f"x = {expr}\n", "x").value == expected


def test_math_module() -> None:
    src = "import math\nsteps = math.ceil(1050 / 4)\n"
    assert value_of(src, "steps").value == 263


def test_names_and_augmented_assignment() -> None:
    src = """
    base = 16
    bs = base * 2
    bs *= 2
    bs += 0
    """
    v = value_of(src, "bs")
    assert v.value == 64
    assert "line" in v.source


def test_huge_numbers_stay_unknown() -> None:
    v = value_of("x = 10 ** 10 ** 10\n", "x")
    assert not v.known and v.reason
    assert not value_of("x = 'a' * 10 ** 9\n", "x").known


def test_division_by_zero_is_unknown() -> None:
    v = value_of("x = 1 / 0\n", "x")
    assert not v.known and "zero" in (v.reason or "")


def test_dict_config_and_mutation() -> None:
    src = """
    config = {"batch_size": 32, "lr": 1e-3}
    config["batch_size"] = 48
    config.update({"epochs": 3}, warmup=10)
    bs = config["batch_size"]
    ep = config.get("epochs", 1)
    wd = config.get("weight_decay", 0.01)
    wu = config["warmup"]
    """
    assert value_of(src, "bs").value == 48
    assert value_of(src, "ep").value == 3
    assert value_of(src, "wd").value == 0.01
    assert value_of(src, "wu").value == 10


def test_dataclass_config_defaults_and_overrides() -> None:
    src = """
    from dataclasses import dataclass, field

    @dataclass
    class Cfg:
        batch_size: int = 64
        epochs: int = 10
        tags: list = field(default_factory=list)
        lr: float = field(default=3e-4)

    cfg = Cfg(128, epochs=2)
    a = cfg.batch_size
    b = cfg.epochs
    c = cfg.lr
    """
    assert value_of(src, "a").value == 128
    assert value_of(src, "b").value == 2
    assert value_of(src, "c").value == 3e-4


def test_simplenamespace_and_class_attributes() -> None:
    src = """
    from types import SimpleNamespace
    class Hyper:
        BATCH = 8
    ns = SimpleNamespace(batch_size=Hyper.BATCH * 2, **{"epochs": 4})
    a = ns.batch_size
    b = ns.epochs
    """
    assert value_of(src, "a").value == 16
    assert value_of(src, "b").value == 4


ARGPARSE = """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("-e", "--epochs", type=int, default=10)
parser.add_argument("--lr", type=float, default="0.1")
parser.add_argument("--dataset", default="cifar10", choices=["cifar10", "mnist"])
parser.add_argument("--amp", action="store_true")
parser.add_argument("--no-shuffle", dest="shuffle", action="store_false")
parser.add_argument("--milestones", type=int, nargs="+", default=[30, 60])
parser.add_argument("--workers", type=int)
args = parser.parse_args()
bs = args.batch_size
ep = args.epochs
lr = args.lr
ds = args.dataset
amp = args.amp
shuffle = args.shuffle
ms = args.milestones
workers = args.workers
"""


def test_argparse_defaults() -> None:
    assert value_of(ARGPARSE, "bs").value == 64
    assert value_of(ARGPARSE, "bs").source == "argparse default of --batch-size, line 4"
    assert value_of(ARGPARSE, "ep").value == 10
    assert value_of(ARGPARSE, "lr").value == 0.1  # string defaults go through type=
    assert value_of(ARGPARSE, "amp").value is False
    assert value_of(ARGPARSE, "shuffle").value is True
    assert value_of(ARGPARSE, "workers").value is None


@pytest.mark.parametrize(
    ("argv", "name", "expected"),
    [
        (("--batch-size", "256"), "bs", 256),
        (("--batch-size=32",), "bs", 32),
        (("--batch", "16"), "bs", 16),  # unique prefix, as argparse allows
        (("-e", "3"), "ep", 3),
        (("--lr", "0.5"), "lr", 0.5),
        (("--amp",), "amp", True),
        (("--no-shuffle",), "shuffle", False),
        (("--dataset", "mnist"), "ds", "mnist"),
    ],
)
def test_argparse_script_arguments(argv: tuple[str, ...], name: str, expected: object) -> None:
    v = value_of(ARGPARSE, name, argv)
    assert v.value == expected
    assert "script argument" in v.source


def test_argparse_nargs_list() -> None:
    v = value_of(ARGPARSE, "ms", ("--milestones", "10", "20", "30"))
    assert [i.value for i in v.value.items] == [10, 20, 30]


def test_argparse_explicit_list_and_set_defaults() -> None:
    src = """
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument('--bs', type=int, default=1)
    p.set_defaults(bs=12)
    a = p.parse_args(['--bs', '7'])
    b = p.parse_args([])
    x = a.bs
    y = b.bs
    """
    assert value_of(src, "x").value == 7
    assert value_of(src, "y").value == 12


def test_required_positional_is_unknown_with_reason() -> None:
    src = """
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument('data')
    args = p.parse_args()
    root = args.data
    """
    v = value_of(src, "root")
    assert not v.known and "script argument" in (v.reason or "")
    assert value_of(src, "root", ("/data",)).value == "/data"


def test_if_conditions_are_decided_when_possible() -> None:
    src = """
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument('--model', default='small')
    args = p.parse_args()
    if args.model == 'small':
        width = 128
    elif args.model == 'large':
        width = 1024
    else:
        width = 512
    """
    assert value_of(src, "width").value == 128
    assert value_of(src, "width", ("--model", "large")).value == 1024
    assert value_of(src, "width", ("--model", "xl")).value == 512


def test_undecidable_condition_is_unknown_with_reason() -> None:
    src = """
    import random
    if random.random() > 0.5:
        bs = 32
    else:
        bs = 64
    """
    v = value_of(src, "bs")
    assert not v.known
    assert "depends on" in (v.reason or "")


def test_undecidable_condition_with_equal_branches_is_known() -> None:
    src = """
    import random
    bs = 32
    if random.random() > 0.5:
        bs = 32
    """
    assert value_of(src, "bs").value == 32


def test_environment_defaults_and_world_size_setting() -> None:
    src = """
    import os
    world = int(os.environ.get('WORLD_SIZE', 1))
    ddp = int(os.environ.get('RANK', -1)) != -1
    """
    w = value_of(src, "world")
    assert w.value == 1 and "default of environment variable WORLD_SIZE" in w.source
    assert value_of(src, "ddp").value is False
    assert value_of(src, "world", env={"WORLD_SIZE": "4", "RANK": "0"}).value == 4
    assert value_of(src, "ddp", env={"WORLD_SIZE": "4", "RANK": "0"}).value is True


def test_functions_return_values_and_parameters() -> None:
    src = """
    def get_bs(scale, base=8):
        if scale > 1:
            return base * scale
        return base

    a = get_bs(4)
    b = get_bs(1, base=3)

    def helper(n):
        return n + 1

    def main():
        return helper(9)

    c = main()
    """
    assert value_of(src, "a").value == 32
    assert value_of(src, "b").value == 3
    assert value_of(src, "c").value == 10


def test_instance_attributes_from_init() -> None:
    src = """
    class Trainer:
        def __init__(self, bs, epochs=3):
            self.bs = bs * 2
            self.epochs = epochs

    t = Trainer(16)
    a = t.bs
    b = t.epochs
    """
    assert value_of(src, "a").value == 32
    assert value_of(src, "b").value == 3


def test_torchvision_dataset_size() -> None:
    src = """
    from torchvision import datasets
    a = datasets.CIFAR10('d', train=False)
    b = datasets.SVHN('d', split='extra')
    c = datasets.Flowers102('d', 'test')
    d = datasets.OxfordIIITPet('d')
    e = datasets.QMNIST('d', what='test10k')
    f = datasets.Places365('d', split='val')
    g = datasets.EMNIST('d', split='digits', train=False)
    """
    expected = {"a": 10000, "b": 531131, "c": 6149, "d": 3680, "e": 10000, "f": 36500, "g": 40000}
    for name, n in expected.items():
        v = value_of(src, name)
        assert isinstance(v.value, DatasetVal) and v.value.size == n, (name, v)


def test_unknown_split_is_unknown_with_reason() -> None:
    v = value_of("from torchvision import datasets\nd = datasets.SVHN('d', split='bogus')\n", "d")
    assert isinstance(v.value, DatasetVal) and v.value.size is None
    assert "bogus" in (v.value.reason or "")


@pytest.mark.parametrize(
    ("expr", "n"),
    [
        ("torch.randn(100, 3)", 100),
        ("torch.zeros((50, 2))", 50),
        ("torch.rand(size=(7,))", 7),
        ("torch.randint(0, 10, (30,))", 30),
        ("torch.randint(10, (40, 2))", 40),
        ("torch.arange(25)", 25),
        ("torch.arange(5, 25, 2)", 10),
        ("torch.linspace(0, 1, 11)", 11),
        ("torch.tensor([1, 2, 3])", 3),
        ("np.random.randn(12, 4)", 12),
        ("np.random.randint(0, 5, size=9)", 9),
        ("np.zeros((8, 2))", 8),
        ("torch.randn(64, 3).float().to('cuda')", 64),
        ("torch.randn(64, 3)[:10]", 10),
        ("torch.cat([torch.randn(3, 2), torch.randn(4, 2)])", 7),
    ],
)
def test_tensor_dataset_sizes(expr: str, n: int) -> None:
    src = f"""
    import numpy as np
    import torch
    from torch.utils.data import TensorDataset
    ds = TensorDataset({expr})
    """
    v = value_of(src, "ds")
    assert isinstance(v.value, DatasetVal) and v.value.size == n, v


def test_len_of_dataloader() -> None:
    src = """
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(torch.randn(1050, 2)), batch_size=100)
    dropped = DataLoader(TensorDataset(torch.randn(1050, 2)), batch_size=100, drop_last=True)
    steps = len(loader) * 3
    n2 = len(dropped)
    """
    assert value_of(src, "steps").value == 33
    assert value_of(src, "n2").value == 10


def test_cycles_do_not_hang() -> None:
    src = """
    a = b + 1
    b = a + 1
    c = a
    """
    v = value_of(src, "c")
    assert not v.known


def test_loop_changes_are_unknown() -> None:
    src = """
    total = 0
    for i in range(10):
        total += i
    """
    v = value_of(src, "total")
    assert not v.known and "loop" in (v.reason or "")
