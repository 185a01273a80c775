"""Model reading (issue 3, section 1) checked against torch itself.

Every fixture under tests/fixtures/models builds its model(s) at module level and trains them
under ``if __name__ == "__main__":``, so executing the file with another ``__name__`` gives the
torch modules without training. For each model the reader reports, the test compares with torch:
unique parameters (``sum(p.numel() for p in set(model.parameters()))``), trainable parameters,
the submodule names and their parameter counts, and the output shape of every layer the reader
gives one for (forward hooks on a real forward pass at the script's batch size).
"""

from __future__ import annotations

import ast
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("CI") == "true":
    import torch  # under CI a missing torch is an error, not a skip
else:
    torch = pytest.importorskip("torch")

from gpulens.analysis import analyze
from gpulens.estimate.torchvision_models import lookup_model

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "models"
ALL = sorted(p.name for p in FIXTURES.glob("*.py"))
#: Fixtures whose models come from torchvision.models (compared with the generated table).
TORCHVISION = {"finetune_resnet.py", "imagenet_arch.py"}
#: Fixtures that are partial on purpose (a layer the reader cannot see).
PARTIAL = {"custom_op.py"}

_analyses: dict[str, Any] = {}


def analysis_of(name: str) -> Any:
    if name not in _analyses:
        path = FIXTURES / name
        _analyses[name] = analyze(path.read_text(), str(path))
    return _analyses[name]


def _stub_attr(attr: str) -> Any:
    if attr.startswith("__"):
        raise AttributeError(attr)
    return lambda *a, **k: None


def _stub_modules() -> dict[str, types.ModuleType]:
    """torchvision's datasets/transforms are only used under __main__: stand-ins suffice."""
    stubs: dict[str, types.ModuleType] = {}
    try:
        import torchvision  # noqa: F401

        return stubs
    except ImportError:
        pass
    tv = types.ModuleType("torchvision")
    for sub in ("datasets", "transforms", "models"):
        m = types.ModuleType(f"torchvision.{sub}")
        m.__getattr__ = _stub_attr  # type: ignore[attr-defined]
        setattr(tv, sub, m)
        stubs[f"torchvision.{sub}"] = m
    stubs["torchvision"] = tv
    tr = stubs["torchvision.transforms"]
    tr.ToTensor = lambda *a, **k: None  # type: ignore[attr-defined]
    return stubs


def torch_namespace(name: str) -> dict[str, Any]:
    path = FIXTURES / name
    stubs = _stub_modules()
    fused = types.ModuleType("fused_ops")
    fused.FusedLayerNorm = torch.nn.LayerNorm  # type: ignore[attr-defined]
    stubs["fused_ops"] = fused
    saved = {k: sys.modules.get(k) for k in stubs}
    sys.modules.update(stubs)
    saved_argv = sys.argv
    sys.argv = [str(path)]
    module = torch.nn.Module
    saved_to, saved_cuda = module.to, module.cuda
    module.to = lambda self, *a, **k: self  # type: ignore[method-assign]  # CPU-only torch
    module.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    try:
        mod = types.ModuleType("gpulens_fixture")
        mod.__file__ = str(path)
        sys.modules["gpulens_fixture"] = mod  # dataclasses look their module up
        ns: dict[str, Any] = mod.__dict__
        torch.manual_seed(0)
        exec(compile(path.read_text(), str(path), "exec"), ns)
        return ns
    finally:
        module.to, module.cuda = saved_to, saved_cuda  # type: ignore[method-assign]
        sys.argv = saved_argv
        sys.modules.pop("gpulens_fixture", None)
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def var_at(name: str, line: int) -> str:
    tree = ast.parse((FIXTURES / name).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and node.lineno == line:
            t = node.targets[0]
            assert isinstance(t, ast.Name)
            return t.id
    raise AssertionError(f"no assignment at line {line} of {name}")


def unique_params(m: Any, trainable: bool = False) -> int:
    return sum(p.numel() for p in set(m.parameters()) if p.requires_grad or not trainable)


def test_enough_fixtures() -> None:
    assert len(ALL) >= 20


def test_every_fixture_finds_a_trained_model() -> None:
    for name in ALL:
        a = analysis_of(name)
        assert a.error is None, name
        assert any(m.trained for m in a.models), name


def _inputs_for(trace: Any, batch: int) -> list[Any]:
    xs = []
    for tid in trace.inputs:
        node = trace.tensors[tid]
        if not node.name.startswith("input"):
            continue  # the loss target the estimator adds
        shape = [batch if i == node.batch_dim else d for i, d in enumerate(node.shape)]
        if node.dtype == "int64":
            xs.append(torch.randint(0, 2, shape))
        else:
            xs.append(torch.randn(shape))
    return xs


MATCHED: dict[str, bool] = {}


@pytest.mark.parametrize("name", [n for n in ALL if n not in TORCHVISION])
def test_fixture_models_match_torch(name: str) -> None:
    a = analysis_of(name)
    ns = torch_namespace(name)
    batch = a.facts["batch_size"].value
    assert isinstance(batch, int), name
    for summary in a.models:
        var = var_at(name, summary.line)
        model = ns[var]
        if name in PARTIAL:
            assert summary.params is None
            assert summary.reason and "FusedLayerNorm" in summary.reason
            assert a.memory is None and a.memory_reason
            continue
        assert summary.params == unique_params(model), (name, var)
        assert summary.trainable_params == unique_params(model, trainable=True), (name, var)
        torch_mods = {n: m for n, m in model.named_modules() if n}
        reader_layers = {layer.name: layer for layer in summary.layers}
        assert set(reader_layers) == set(torch_mods), (name, var)
        for lname, layer in reader_layers.items():
            assert layer.params == unique_params(torch_mods[lname]), (name, lname)
        # output shapes through a real forward at the script's batch size
        trace = summary.trace
        assert trace is not None and trace.complete, (name, getattr(trace, "reasons", None))
        seen: dict[str, tuple[int, ...]] = {}

        def hook(mod_name: str, seen: dict[str, tuple[int, ...]] = seen) -> Any:
            def record(_m: Any, _inp: Any, out: Any) -> None:
                while isinstance(out, tuple | list):
                    out = out[0]
                if isinstance(out, torch.Tensor) and mod_name not in seen:
                    seen[mod_name] = tuple(out.shape)

            return record

        handles = [m.register_forward_hook(hook(n)) for n, m in torch_mods.items()]
        try:
            model.train()
            with torch.no_grad():
                model(*_inputs_for(trace, batch))
        finally:
            for h in handles:
                h.remove()
        compared = 0
        for lname, layer in reader_layers.items():
            if layer.output_shape is None:
                continue
            assert lname in seen, (
                name,
                lname,
                "the reader has a shape for a layer torch never ran",
            )
            assert tuple(layer.output_shape) == seen[lname], (name, lname)
            compared += 1
        # the reader follows the forward: (nearly) every layer torch ran has its shape
        assert compared >= 0.8 * len(seen), (name, compared, len(seen))
        MATCHED[f"{name}:{var}"] = True


def test_memory_estimate_for_every_complete_fixture() -> None:
    for name in ALL:
        if name in PARTIAL:
            continue
        a = analysis_of(name)
        assert a.memory is not None, (name, a.memory_reason)
        assert a.memory.peak_allocated > a.memory.weights > 0
        trained = [m for m in a.models if m.trained]
        assert a.params_total == sum(m.params for m in trained) or name == "imagenet_arch.py"


# -- specific idioms -----------------------------------------------------------------------------


def _model(name: str, var: str | None = None) -> Any:
    a = analysis_of(name)
    trained = [m for m in a.models if m.trained]
    return trained[0] if var is None else next(m for m in a.models if m.name == var)


def test_torchvision_head_replacement_and_frozen_backbone() -> None:
    entry = lookup_model("resnet50")
    assert entry is not None
    m = _model("finetune_resnet.py")
    assert m.params == entry.params - (2048 * 1000 + 1000) + (2048 * 5 + 5)
    assert m.trainable_params == 2048 * 5 + 5
    a = analysis_of("finetune_resnet.py")
    assert a.memory is not None and a.memory.batch_size == 32


def test_torchvision_by_name_and_num_classes() -> None:
    a = analysis_of("imagenet_arch.py")
    by = {m.name: m for m in a.models}
    r18 = lookup_model("resnet18")
    mb = lookup_model("mobilenet_v2")
    assert r18 is not None and mb is not None
    assert by["resnet18"].params == r18.params  # models.__dict__[args.arch]() with its default
    assert by["mobilenet_v2"].params == mb.params_for(100)
    assert by["mobilenet_v2"].trained and not by["resnet18"].trained
    assert a.params_total == mb.params_for(100)


def test_torchvision_with_an_unknown_class_count_keeps_the_model() -> None:
    """`get_model(args.model, num_classes=len(dataset.classes))` over a folder that is not
    here: the model is still found, with its head's size unknown and the reason, and there is
    no memory estimate (no silent 1,000-class guess)."""
    path = ROOT / "tests" / "fixtures" / "scripts" / "torchvision_reference.py"
    a = analyze(path.read_text(), path=str(path))
    (model,) = a.models
    assert model.name == "resnet18" and model.trained and model.params is None
    assert model.reason and "num_classes" in model.reason and "dataset.classes" in model.reason
    assert a.memory is None and a.memory_reason and "num_classes" in a.memory_reason
    r18 = lookup_model("resnet18")
    assert r18 is not None
    known = analyze(path.read_text().replace("num_classes=num_classes", "num_classes=10"))
    assert known.models[0].params == r18.params_for(10) and known.memory is not None


def test_custom_dataset_sample_from_constructor_arguments_and_slices() -> None:
    """The reader's input for a token dataset is what the dataset really returns: torch's
    ``train_ds[0]`` (a window of ``self.seq_len + 1`` tokens, sliced to ``seq_len``)."""
    name = "token_dataset_lm.py"
    a = analysis_of(name)
    ns = torch_namespace(name)
    x, y = ns["train_ds"][0]
    (summary,) = [m for m in a.models if m.trained]
    trace = summary.trace
    assert trace is not None and trace.complete
    (tid,) = [t for t in trace.inputs if trace.tensors[t].name.startswith("input")]
    node = trace.tensors[tid]
    shape = tuple(d for i, d in enumerate(node.shape) if i != node.batch_dim)
    assert shape == tuple(x.shape) == tuple(y.shape) == (64,)
    assert node.dtype == "int64" and x.dtype == torch.int64
    assert a.memory is not None and a.facts["dataset_size"].value == len(ns["train_ds"])


def test_gan_two_models_two_optimizers() -> None:
    a = analysis_of("dcgan.py")
    names = {m.name for m in a.models if m.trained}
    assert names == {"Generator", "Discriminator"}
    assert a.params_total == sum(m.params for m in a.models)
    assert a.memory is not None and "Adam" in (a.memory.optimizer or "")
    g = next(m for m in a.models if m.name == "Generator")
    assert g.layers[-1].output_shape == (32, 3, 64, 64)  # noise (nz, 1, 1) → 3×64×64


def test_weight_tying_counts_once() -> None:
    gpt = _model("nanogpt.py")
    ns = torch_namespace("nanogpt.py")
    assert gpt.params == unique_params(ns["model"])
    lm = _model("lstm_lm.py")
    assert lm.params == unique_params(torch_namespace("lstm_lm.py")["model"])


def test_unknown_layer_is_partial_with_reason() -> None:
    a = analysis_of("custom_op.py")
    m = a.models[0]
    assert m.params is None
    assert "fused_ops" in (m.reason or "")
    assert a.params_total is None
    assert "fused_ops" in (a.memory_reason or "")
    known = [layer for layer in m.layers if layer.params is not None]
    assert {layer.name for layer in known} == {"fc1", "fc2"}


def test_input_shape_pragma() -> None:
    m = _model("unet.py")
    assert m.layers[-1].output_shape == (4, 2, 64, 64)


def test_last_assignment_wins_and_argparse_sizes() -> None:
    m = _model("argparse_mlp.py")
    head = next(layer for layer in m.layers if layer.name == "head")
    assert head.params == 300 * 7 + 7
    assert head.output_shape == (25, 7)


def test_layer_lines_point_at_the_construction() -> None:
    m = _model("lenet_mnist.py")
    src = (FIXTURES / "lenet_mnist.py").read_text().splitlines()
    conv1 = next(layer for layer in m.layers if layer.name == "conv1")
    assert conv1.line is not None and "self.conv1 = nn.Conv2d" in src[conv1.line - 1]
    assert conv1.type == "Conv2d" and conv1.output_shape == (64, 6, 28, 28)


def test_server_side_does_not_import_torch() -> None:
    code = (
        "import sys; from gpulens.analysis import analyze; "
        f"analyze(open({str(FIXTURES / 'nanogpt.py')!r}).read()); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    import subprocess

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_report_counts() -> None:
    """Printed with -s: how many fixture models match torch exactly."""
    print(
        f"\nfixture models matching torch exactly (params, trainable, every layer's params and"
        f" output shape): {sum(MATCHED.values())}"
    )


NANOGPT_GET_BATCH = """
import numpy as np
import torch
from torch import nn
from model import GPT, GPTConfig

batch_size = 12
block_size = 64


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(512, 32)
        self.head = nn.Linear(32, 512, bias=False)

    def forward(self, idx, targets=None):
        logits = self.head(self.emb(idx))
        loss = None
        if targets is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


def get_batch(split):
    data = np.memmap("train.bin", dtype=np.uint16, mode="r")
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([torch.from_numpy((data[i:i+block_size]).astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy((data[i+1:i+1+block_size]).astype(np.int64)) for i in ix])
    return x.to("cuda"), y.to("cuda")


model = Tiny() if True else GPT(GPTConfig())
model.to("cuda")
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
X, Y = get_batch("train")
for it in range(100):
    logits, loss = model(X, Y)
    loss.backward()
    optimizer.step()
    X, Y = get_batch("train")
"""


def test_nanogpt_get_batch_tokens_and_loss_inside_forward() -> None:
    a = analyze(NANOGPT_GET_BATCH, "train.py")
    m = next(m for m in a.models if m.trained)
    assert m.params == 512 * 32 * 2
    trace = m.trace
    shapes = [(trace.tensors[t].shape, trace.tensors[t].dtype) for t in trace.inputs]
    assert shapes[:2] == [((None, 64), "int64"), ((None, 64), "int64")]
    assert any(c.op == "nll_loss" for c in trace.calls)
    assert m.layers[-1].output_shape == (12, 64, 512)
    assert a.memory is not None


def test_model_from_another_file_is_reported_unknown() -> None:
    src = NANOGPT_GET_BATCH.replace("Tiny() if True else GPT(GPTConfig())", "GPT(GPTConfig())")
    a = analyze(src, "train.py")
    m = a.models[0]
    assert m.name == "GPT" and m.params is None and m.trained
    assert "gpulens does not read" in (m.reason or "")
    assert a.memory is None and "GPT" in (a.memory_reason or "")


TV_HEADS = """
import torch, torch.nn as nn
from torchvision import models
from torch.utils.data import DataLoader

model = models.vgg16(weights="DEFAULT")
model.classifier[6] = nn.Linear(model.classifier[6].in_features, 7)
m2 = models.mobilenet_v3_large()
m2.classifier[-1] = nn.Linear(1280, 3)
for name, p in m2.named_parameters():
    if "classifier" not in name:
        p.requires_grad = False
opt = torch.optim.Adam(list(model.parameters()) + list(m2.parameters()))
"""


def test_torchvision_heads_by_index_and_unknown_parameter_names() -> None:
    a = analyze(TV_HEADS, "tv.py")
    by = {m.name: m for m in a.models}
    vgg, mb = lookup_model("vgg16"), lookup_model("mobilenet_v3_large")
    assert vgg is not None and mb is not None
    assert by["vgg16"].params == vgg.params - 4097 * 1000 + 4097 * 7
    assert by["vgg16"].trainable_params == by["vgg16"].params
    assert by["mobilenet_v3_large"].params == mb.params - 1281 * 1000 + 1281 * 3
    # the backbone's parameter names are not in the table: which are frozen is unknown
    assert by["mobilenet_v3_large"].trainable_params is None
    assert "parameter names" in (by["mobilenet_v3_large"].reason or "")
    assert a.params_total == by["vgg16"].params + by["mobilenet_v3_large"].params


CUSTOM_DATASETS = """
import torch, torch.nn as nn
from torch.utils.data import Dataset, DataLoader
class Synth(Dataset):
    def __init__(self, n=1000, dim=20):
        self.x = torch.randn(n, dim)
        self.y = torch.randint(0, 3, (n,))
    def __len__(self):
        return len(self.x)
    def __getitem__(self, idx):
        return self.x[idx], self.y[idx]
class Img(Dataset):
    def __len__(self): return 100
    def __getitem__(self, i):
        return torch.randn(3, 32, 32), 1
model = nn.Sequential(nn.Linear(20, 3))
m2 = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.LazyLinear(2))
loader = DataLoader(Synth(dim=20), batch_size=16)
l2 = DataLoader(Img(), batch_size=4)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
o2 = torch.optim.SGD(m2.parameters(), lr=0.1)
for x, y in loader:
    model(x).sum().backward(); opt.step()
for x, y in l2:
    m2(x).sum().backward(); o2.step()
"""


def test_custom_dataset_getitem_shapes() -> None:
    a = analyze(CUSTOM_DATASETS, "cds.py")
    first, m2 = a.models
    assert first.layers[0].output_shape == (16, 3)
    assert m2.params == 8 * 3 * 9 + 8 + (8 * 30 * 30) * 2 + 2  # LazyLinear sized by the forward
    assert m2.layers[-1].output_shape == (16, 2)
    assert a.memory is not None
