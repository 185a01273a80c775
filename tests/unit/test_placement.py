"""A script that trains on the CPU as written is told apart from one that may use a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
from gpulens.analysis import analyze
from gpulens.analysis.placement import CPU_NOTE, trains_on_cpu

REPO = Path(__file__).resolve().parents[2]
CLASSIC = (REPO / "examples" / "classic_train.py").read_text()

CPU_SCRIPT = """\
import os, sys
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

model = nn.Linear(4, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
"""


def test_the_classic_example_trains_on_the_cpu() -> None:
    assert trains_on_cpu(CLASSIC)
    assert trains_on_cpu(CPU_SCRIPT)
    analysis = analyze(CLASSIC, path=str(REPO / "examples" / "classic_train.py"))
    assert analysis.memory is not None and analysis.device_note == CPU_NOTE
    assert analysis.to_json()["device_note"] == CPU_NOTE


@pytest.mark.parametrize(
    "line",
    [
        "model = model.cuda()",
        "model.to(device)",
        "x = x.to ('cuda:0')",
        'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")',
        "torch.set_default_device('cuda')",
        "from accelerate import Accelerator",
        "import lightning as L",
        "trainer = Trainer(model)",
        "model = nn.DataParallel(model)",
        "import torch.distributed as dist",
        "# runs on CUDA when launched with torchrun",
        "import mytools",  # a module of the user's may move the model
        "from utils.train import setup",
        "from . import helpers",
        "import numpy as np, mytools",
    ],
)
def test_any_sign_of_a_gpu_or_of_the_users_own_modules_withholds_the_claim(line: str) -> None:
    assert not trains_on_cpu(CPU_SCRIPT + line + "\n")


def test_no_note_without_an_estimate() -> None:
    analysis = analyze("import torch\nprint(torch.__version__)\n")
    assert analysis.memory is None and analysis.device_note is None
