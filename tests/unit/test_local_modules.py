"""Models defined in the script's own modules (``from model import GPT``, ``models/`` packages).

The scripts in ``tests/fixtures/multifile`` are read as an editor would (the script's path
given), and the models gpulens reads from their modules are compared with torch building the
same modules. ``train_gpt.py`` imports ``gpt_model``: the nanoGPT fixture model, copied beside it
(a module with top-level code of its own: a demo model that is not the script's).
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpulens.analysis import analyze
from gpulens.analysis.incremental import ParseCache

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HERE = FIXTURES / "multifile"


@pytest.fixture
def gpt_script(tmp_path: Path) -> Path:
    """train_gpt.py with the nanoGPT fixture beside it as gpt_model.py."""
    shutil.copy(HERE / "train_gpt.py", tmp_path / "train_gpt.py")
    shutil.copy(FIXTURES / "models" / "nanogpt.py", tmp_path / "gpt_model.py")
    return tmp_path / "train_gpt.py"


def _import(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(name, None)
    return mod


def _params(model: Any) -> int:
    return sum(p.numel() for p in set(model.parameters()))


def test_a_gpt_from_model_py_is_read_with_its_config(gpt_script: Path) -> None:
    torch = pytest.importorskip("torch")
    a = analyze(gpt_script.read_text(encoding="utf-8"), path=str(gpt_script))
    [gpt] = a.models  # the module's own demo model is not the script's
    mod = _import(gpt_script.parent / "gpt_model.py", "gpt_model_under_test")
    cfg = mod.GPTConfig(
        n_layer=2, n_head=4, n_embd=128, block_size=64, bias=False, vocab_size=1000, dropout=0.0
    )
    ref = mod.GPT(cfg)
    assert (gpt.name, gpt.params) == ("GPT", _params(ref))
    assert gpt.line == 16 and gpt.trained  # the script's `model = GPT(...)` line
    layers = {layer.name: layer for layer in gpt.layers}
    # layers defined in gpt_model.py get no line of the script (no inlay hint there)
    assert all(layer.line is None and layer.span is None for layer in gpt.layers)
    x = torch.randint(0, 1000, (8, 64))
    assert layers["lm_head"].output_shape == (8, 64, 1000) == tuple(ref(x, x)[0].shape)
    assert a.memory is not None and a.memory.batch_size == 8
    assert a.params_total == _params(ref)


def test_a_package_module_imported_whole() -> None:
    torch = pytest.importorskip("torch")
    path = HERE / "train_convnet.py"
    a = analyze(path.read_text(encoding="utf-8"), path=str(path))
    [net] = a.models
    mod = _import(HERE / "models" / "convnet.py", "convnet_under_test")
    ref = mod.make_model(num_classes=100)
    assert (net.name, net.params) == ("ConvNet", _params(ref))
    out = {layer.name: layer.output_shape for layer in net.layers}
    assert out["fc"] == (64, 100) == tuple(ref(torch.zeros(64, 3, 32, 32)).shape)
    assert a.memory is not None


def test_without_the_module_the_model_is_unknown_with_the_reason(tmp_path: Path) -> None:
    shutil.copy(HERE / "train_gpt.py", tmp_path / "train.py")  # no gpt_model.py beside it
    text = (tmp_path / "train.py").read_text(encoding="utf-8")
    a = analyze(text, path=str(tmp_path / "train.py"))
    [gpt] = a.models
    assert gpt.params is None and a.memory is None
    # an unsaved buffer has no directory to look in either
    b = analyze(text)
    assert b.models[0].params is None


def test_an_edit_of_the_module_is_followed_under_the_same_script(gpt_script: Path) -> None:
    tmp_path = gpt_script.parent
    module = (tmp_path / "gpt_model.py").read_text(encoding="utf-8")
    script = str(gpt_script)
    text = gpt_script.read_text(encoding="utf-8")
    cache = ParseCache()
    first = analyze(text, path=script, parse_cache=cache)
    second = analyze(text, path=script, parse_cache=cache)
    assert cache.models.hits == 1 and second.params_total == first.params_total
    wider = module.replace("4 * config.n_embd", "8 * config.n_embd")
    (tmp_path / "gpt_model.py").write_text(wider, encoding="utf-8")
    third = analyze(text, path=script, parse_cache=cache)
    assert third.params_total is not None and first.params_total is not None
    assert third.params_total > first.params_total
    assert third.params_total == analyze(text, path=script).params_total
    (tmp_path / "gpt_model.py").unlink()
    assert analyze(text, path=script, parse_cache=cache).params_total is None


def test_the_modules_names_do_not_leak_into_the_script(tmp_path: Path) -> None:
    """The module's own globals are the module's: the script's `WIDTH` does not change the
    module's, and names the script does not import stay unknown to it."""
    (tmp_path / "net.py").write_text(
        "import torch.nn as nn\nWIDTH = 16\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(WIDTH, WIDTH)\n\n"
        "    def forward(self, x):\n        return self.fc(x)\n",
        encoding="utf-8",
    )
    script = tmp_path / "train.py"
    text = (
        "import torch\nfrom net import Net\nWIDTH = 1000\nmodel = Net()\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "x = torch.randn(4, 16)\nmodel(x).sum().backward()\nopt.step()\n"
    )
    a = analyze(text, path=str(script))
    assert a.models[0].params == 16 * 16 + 16


def test_modules_importing_each_other_and_broken_modules(tmp_path: Path) -> None:
    """A cycle of imports, a module that does not parse and one re-exporting another's class:
    read where possible, unknown with a reason otherwise, never an error."""
    (tmp_path / "a.py").write_text("from b import Net\nfrom b import Loop\n", encoding="utf-8")
    (tmp_path / "b.py").write_text(
        "import torch.nn as nn\nfrom a import Loop\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(8, 2)\n\n"
        "    def forward(self, x):\n        return self.fc(x)\n",
        encoding="utf-8",
    )
    (tmp_path / "broken.py").write_text("class Half(nn.Module:\n", encoding="utf-8")
    text = (
        "import torch\nfrom a import Net, Loop\nfrom broken import Half\n"
        "model = Net()\nother = Loop()\nhalf = Half()\n"
        "opt = torch.optim.SGD([*model.parameters(), *half.parameters()], lr=0.1)\n"
        "x = torch.randn(4, 8)\nmodel(x).sum().backward()\nopt.step()\n"
    )
    a = analyze(text, path=str(tmp_path / "train.py"))
    assert a.error is None
    by_name = {m.name: m for m in a.models}
    assert by_name["Net"].params == 8 * 2 + 2  # re-exported by a.py from b.py
    assert by_name["Half"].params is None  # broken.py does not parse: unknown, with why


@contextlib.contextmanager
def _package(directory: Path) -> Iterator[types.ModuleType]:
    """The fixture package at ``directory`` imported by torch's Python under a private name
    (its relative imports look the package up in ``sys.modules``), then forgotten."""
    name = f"{directory.name}_under_test"
    spec = importlib.util.spec_from_file_location(
        name, directory / "__init__.py", submodule_search_locations=[str(directory)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        for loaded in [m for m in sys.modules if m.startswith(name)]:
            del sys.modules[loaded]


def test_star_imports_through_a_package() -> None:
    """kuangliu/pytorch-cifar: `from models import *`, whose `__init__.py` star-imports its
    modules (`from .resnet import *`); `ResNet18()` is a function there building `ResNet`."""
    pytest.importorskip("torch")
    path = HERE / "cifar" / "main.py"
    a = analyze(path.read_text(encoding="utf-8"), path=str(path))
    [net] = a.models
    with _package(HERE / "cifar" / "models") as zoo:
        ref = zoo.ResNet18()
    assert (net.name, net.params) == ("ResNet", _params(ref))
    assert a.memory is not None and a.memory.batch_size == 128
    assert {layer.name: layer.output_shape for layer in net.layers}["linear"] == (128, 10)


def test_named_relative_imports_inside_a_package() -> None:
    """`from nets.mlp import DeepMLP`, where nets/mlp.py does `from .blocks import Block`."""
    pytest.importorskip("torch")
    path = HERE / "pkg" / "train.py"
    a = analyze(path.read_text(encoding="utf-8"), path=str(path))
    [net] = a.models
    with _package(HERE / "pkg" / "nets") as nets:
        ref = importlib.import_module(f"{nets.__name__}.mlp").DeepMLP(depth=4)
    assert (net.name, net.params) == ("DeepMLP", _params(ref))
    assert a.memory is not None
