"""The product end to end: each gpu-truth configuration as a training script and its arguments,
estimated by the static reader (``gpulens.analysis.analyze``, what ``gpulens analyze --json
SCRIPT -- ARGS`` reports as ``memory``).

Custom families run their script in ``scripts/`` with the row's settings as the flags a user
would pass (``--batch-size``, ``--no-bn``, ``--amp``, ``--checkpoint``...); torchvision families
run ``scripts/torchvision_train.py --arch NAME``. Nothing measured goes in: the reader sees the
script text and its argv only.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server"))

from gpulens.analysis import Analysis, analyze

SCRIPTS = Path(__file__).resolve().parent / "scripts"

MLP_D8 = ["--depth", "8", "--width", "4096", "--in-shape", "3", "32", "32", "--act", "gelu"]
ENCODER_D256 = ["--d-model", "256", "--heads", "4", "--ff", "1024", "--layers", "4", "--seq", "512"]

#: family -> (script, its fixed arguments)
CUSTOM: dict[str, tuple[str, list[str]]] = {
    "mlp_d2_w256": ("mlp_mnist.py", ["--depth", "2", "--width", "256"]),
    "mlp_d4_w1024": ("mlp_mnist.py", ["--depth", "4", "--width", "1024"]),
    "mlp_d8_w4096_gelu_drop": ("mlp_mnist.py", [*MLP_D8, "--dropout", "0.1"]),
    "cifar_cnn_bn": ("cifar_cnn.py", []),
    "cifar_cnn_nobn": ("cifar_cnn.py", ["--no-bn"]),
    "tiny_unet_128": ("tiny_unet.py", []),
    "encoder_lm_d512_l6_s256": ("encoder_lm.py", []),
    "encoder_lm_d256_l4_s512": ("encoder_lm.py", ENCODER_D256),
    "encoder_lm_d512_l6_s256_ckpt": ("encoder_lm.py", ["--checkpoint"]),
    "lstm_lm_h512_l2_s64": ("lstm_lm.py", []),
    "gru_bi_h256_s128": ("gru_classifier.py", []),
    "conv1d_audio_16k": ("conv1d_audio.py", []),
}
TORCHVISION_SCRIPT = "torchvision_train.py"

#: optimizer -> (scripts offering it, the flags); the scripts' defaults are what calib.py uses
#: where a script has no choice (cifar_cnn: SGD momentum 0.9; encoder_lm: AdamW...)
OPTIMIZER_FLAGS: dict[str, list[str]] = {
    "sgd": ["--optimizer", "sgd", "--momentum", "0"],
    "sgd_momentum": ["--optimizer", "sgd", "--momentum", "0.9"],
    "adam": ["--optimizer", "adam"],
    "adamw": ["--optimizer", "adamw"],
    "rmsprop": ["--optimizer", "rmsprop"],
    "adagrad": ["--optimizer", "adagrad"],
    "adadelta": ["--optimizer", "adadelta"],
}


@dataclass
class Invocation:
    script: Path
    args: list[str]
    #: the row is an evaluation pass: compare with the reader's no_grad footprint
    eval: bool

    @property
    def command(self) -> str:
        rel = self.script.relative_to(SCRIPTS.parents[2])
        return " ".join([str(rel), *self.args])


def _flag_names(script: Path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
        ):
            for a in node.args:
                if isinstance(a, ast.Constant) and isinstance(a.value, str):
                    names.add(a.value)
    return names


def invocation(row: dict[str, Any]) -> Invocation | str:
    """The script and argv that train the row's configuration, or why there is none."""
    fam = row["family"]
    if fam in CUSTOM:
        name, fixed = CUSTOM[fam]
        args = list(fixed)
    else:
        name, args = TORCHVISION_SCRIPT, ["--arch", fam]
    script = SCRIPTS / name
    flags = _flag_names(script)
    args += ["--batch-size", str(row["batch"])]
    prec, opt, mode = row["precision"], row["optimizer"], row["mode"]
    if prec == "amp_fp16":
        if "--amp-dtype" in flags:
            args += ["--amp", "--amp-dtype", "float16"]
        elif "--amp" in flags and name != "mlp_mnist.py":  # mlp_mnist's --amp is bfloat16
            args += ["--amp"]
        else:
            return f"{name} has no float16 autocast flag"
    elif prec == "amp_bf16":
        if "--amp-dtype" in flags:
            args += ["--amp", "--amp-dtype", "bfloat16"]
        elif name == "mlp_mnist.py":
            args += ["--amp"]
        elif "--bf16" in flags and name == "encoder_lm.py":  # encoder_lm's --bf16 is autocast
            args += ["--bf16"]
        else:
            return f"{name} has no bfloat16 autocast flag"
    elif prec in ("half", "fp16"):
        if "--half" not in flags:
            return f"{name} has no --half flag"
        args += ["--half"]
    elif prec == "bf16":
        if "--bf16" not in flags or name == "encoder_lm.py":
            return f"{name} has no bfloat16-weights flag"
        args += ["--bf16"]
    if opt != "none" and "--optimizer" in flags:
        want = OPTIMIZER_FLAGS[opt]
        if "--momentum" not in flags:
            want = want[:2]
        args += want
    if mode == "train_keep_grads":
        if "--keep-grads" not in flags:
            return f"{name} has no --keep-grads flag"
        args += ["--keep-grads"]
    if mode == "eval" and "--evaluate" in flags:
        args += ["--evaluate"]
    return Invocation(script, args, mode == "eval")


_cache: dict[tuple[str, tuple[str, ...]], Analysis] = {}


def read(inv: Invocation) -> Analysis:
    key = (str(inv.script), tuple(inv.args))
    if key not in _cache:
        _cache[key] = analyze(inv.script.read_text(), str(inv.script), script_args=inv.args)
    return _cache[key]


@dataclass
class Estimate:
    """What the reader gives one configuration (None figures: not estimated, with ``reason``)."""

    command: str
    peak_allocated: int | None
    peak_reserved: int | None
    device_total: int | None
    peak_phase: str
    batch_size: int | None
    precision: str | None
    optimizer: str | None
    reason: str | None = None


def estimate(row: dict[str, Any]) -> Estimate:
    inv = invocation(row)
    if isinstance(inv, str):
        return Estimate("", None, None, None, "", None, None, None, inv)
    a = read(inv)
    m = a.memory
    if m is None:
        return Estimate(
            inv.command, None, None, None, "", None, None, None, a.memory_reason or "no estimate"
        )
    if inv.eval:
        # the reader's eval (no_grad) footprint; it has no reserved/device figure for it
        return Estimate(
            inv.command,
            m.eval_peak_allocated,
            None,
            None,
            "eval (no_grad)",
            m.batch_size,
            m.precision,
            None,
        )
    return Estimate(
        inv.command,
        m.peak_allocated,
        m.peak_reserved,
        m.device_total,
        m.peak_phase,
        m.batch_size,
        m.precision,
        m.optimizer,
    )
