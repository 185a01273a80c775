"""The torchvision table is well formed and holds known values (no torchvision import here)."""

from __future__ import annotations

import json
from pathlib import Path

from gpulens.estimate.torchvision_models import lookup_model, model_names, table_info

DATA = Path(__file__).resolve().parents[2] / "server/gpulens/estimate/data/torchvision_models.json"

# Every classification model torchvision 0.29 ships (models.list_models(module=models)).
EXPECTED = {
    "alexnet", "convnext_base", "convnext_large", "convnext_small", "convnext_tiny",
    "densenet121", "densenet161", "densenet169", "densenet201", "efficientnet_b0",
    "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
    "efficientnet_b5", "efficientnet_b6", "efficientnet_b7", "efficientnet_v2_l",
    "efficientnet_v2_m", "efficientnet_v2_s", "googlenet", "inception_v3", "maxvit_t",
    "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "mobilenet_v2",
    "mobilenet_v3_large", "mobilenet_v3_small", "regnet_x_16gf", "regnet_x_1_6gf",
    "regnet_x_32gf", "regnet_x_3_2gf", "regnet_x_400mf", "regnet_x_800mf", "regnet_x_8gf",
    "regnet_y_128gf", "regnet_y_16gf", "regnet_y_1_6gf", "regnet_y_32gf", "regnet_y_3_2gf",
    "regnet_y_400mf", "regnet_y_800mf", "regnet_y_8gf", "resnet101", "resnet152", "resnet18",
    "resnet34", "resnet50", "resnext101_32x8d", "resnext101_64x4d", "resnext50_32x4d",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "squeezenet1_0", "squeezenet1_1", "swin_b", "swin_s", "swin_t", "swin_v2_b", "swin_v2_s",
    "swin_v2_t", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
    "vgg19_bn", "vit_b_16", "vit_b_32", "vit_h_14", "vit_l_16", "vit_l_32",
    "wide_resnet101_2", "wide_resnet50_2",
}  # fmt: skip

# Published parameter counts (torchvision docs' weight tables).
KNOWN_PARAMS = {
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "mobilenet_v2": 3_504_872,
    "vit_b_16": 86_567_656,
    "efficientnet_b0": 5_288_548,
    "densenet121": 7_978_856,
}


def test_table_is_well_formed() -> None:
    doc = json.loads(DATA.read_text())
    assert doc["torch_version"].startswith("2.")
    assert doc["torchvision_version"].startswith("0.")
    assert isinstance(doc["skipped"], dict)
    assert set(doc["models"]) | set(doc["skipped"]) == EXPECTED
    for name, e in doc["models"].items():
        assert e["params"] > 0 and 0 < e["trainable_params"] <= e["params"], name
        assert e["buffer_bytes"] >= 0, name
        c, h, w = e["input_size"]
        assert c == 3 and 32 <= h == w <= 1024, name
        assert e["num_classes"] == 1000, name
        assert e["saved_bytes_per_sample"] > 3 * h * w * 4, name  # at least the input
        assert e["saved_bytes_fixed"] >= 0, name
        assert e["output_bytes_per_sample"] >= 4000, name
        assert e["heads"], name
        assert e["params_per_class"] == sum(f + b for f, _, b in e["heads"].values()), name


def test_known_values() -> None:
    for name, params in KNOWN_PARAMS.items():
        entry = lookup_model(name)
        assert entry is not None, name
        assert entry.params == params, name
        assert entry.trainable_params == params, name
    r18 = lookup_model("models.resnet18")
    assert r18 is not None
    assert r18.input_size == (3, 224, 224)
    assert r18.heads == {"fc": (512, 1000, True)}
    assert r18.params_for(10) == 11_689_512 - 990 * 513
    inception = lookup_model("inception_v3")
    assert inception is not None and inception.input_size == (3, 299, 299)
    vit = lookup_model("torchvision.models.vit_b_16")
    assert vit is not None and vit.fixed_input_size
    squeeze = lookup_model("squeezenet1_0")  # 1x1-conv classifier
    assert squeeze is not None and squeeze.heads == {"classifier.1": (512, 1000, True)}


def test_loader_api() -> None:
    assert "resnet18" in model_names()
    assert lookup_model("resnet1000") is None
    info = table_info()
    assert "models" not in info and "torch_version" in info


def test_server_side_stays_pure_and_cheap() -> None:
    """The catalog and the table never import torch, and load in well under the edit budget."""
    import subprocess
    import sys

    code = (
        "import sys, time; t = time.perf_counter()\n"
        "from gpulens.estimate import layers, torchvision_models as tv\n"
        "tv.lookup_model('resnet18'); layers.build('Transformer').params\n"
        "print('torch' in sys.modules, time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported, seconds = out.stdout.split()
    assert imported == "False"
    assert float(seconds) < 2.0
