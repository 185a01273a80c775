"""Every fixture script, with the facts and iteration counts a careful reader would find.

Each row: fixture path (relative to tests/fixtures/scripts, or the repo for the example), the run
options (script arguments, GPU count, overrides), the expected facts (a subset), and the
expected (per_epoch, total, optimizer_steps). ``None`` in the iterations means "unknown".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gpulens.analysis import FACT_NAMES, analyze

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "tests" / "fixtures" / "scripts"

Its = tuple[int | None, int | None, int | None]


@dataclass
class Case:
    path: str
    facts: dict[str, Any]
    its: Its
    args: tuple[str, ...] = ()
    world_size: int | None = None
    overrides: dict[str, object] = field(default_factory=dict)
    error: bool = False
    id: str = ""


CASES: list[Case] = [
    # The classic example: 1,200 samples, batch 100, 5 epochs.
    Case(
        "../../../examples/classic_train.py",
        {
            "batch_size": 100,
            "dataset_size": 1200,
            "epochs": 5,
            "drop_last": False,
            "grad_accum_steps": 1,
            "world_size": 1,
            "precision": "fp32",
            "loss": "CrossEntropyLoss",
            "learning_rate": 0.001,
            "optimizer": {"class": "Adam", "lr": 0.001, "weight_decay": 0.0001},
            "lr_scheduler": {"class": "StepLR", "step_size": 2, "gamma": 0.5},
        },
        (12, 60, 60),
        id="classic_example",
    ),
    # argparse, pytorch/examples MNIST style.
    Case(
        "mnist_argparse.py",
        {
            "batch_size": 64,
            "dataset_size": 60000,
            "epochs": 14,
            "learning_rate": 1.0,
            "loss": "F.nll_loss",
            "optimizer": {"class": "Adadelta", "lr": 1.0},
        },
        (938, 13132, 13132),
    ),
    Case(
        "mnist_argparse.py",
        {"batch_size": 128, "epochs": 3},
        (469, 1407, 1407),
        args=("--batch-size", "128", "--epochs=3"),
        id="mnist_script_args",
    ),
    Case(
        "cifar_resnet.py",
        {
            "batch_size": 128,
            "dataset_size": 50000,
            "epochs": 200,
            "lr_scheduler": {"class": "CosineAnnealingLR", "T_max": 200},
            "optimizer": {"class": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0005},
        },
        (391, 78200, 78200),
    ),
    Case(
        "constants_arith.py",
        {"batch_size": 128, "dataset_size": 10000, "epochs": 10},
        (79, 790, 790),
    ),
    Case(
        "positional_batch.py", {"batch_size": 50, "dataset_size": 1000, "epochs": 3}, (20, 60, 60)
    ),
    Case(
        "dict_config.py",
        {"batch_size": 256, "dataset_size": 60000, "epochs": 10, "learning_rate": 0.0003},
        (235, 2350, 2350),
    ),
    Case(
        "dataclass_config.py",
        {"batch_size": 50, "dataset_size": 60000, "epochs": 3},
        (1200, 3600, 3600),
    ),
    Case(
        "simplenamespace_config.py",
        {"batch_size": 500, "dataset_size": 50000, "epochs": 2},
        (100, 200, 200),
    ),
    Case(
        "class_config.py",
        {
            "batch_size": 64,
            "dataset_size": 19867,
            "epochs": 12,
            "learning_rate": 0.01,
            "loss": "BCEWithLogitsLoss",
        },
        (311, 3732, 3732),
    ),
    Case(
        "argparse_dest.py",
        {"batch_size": 200, "epochs": 4, "learning_rate": 0.02},
        (250, 1000, 1000),
    ),
    Case(
        "argparse_dest.py",
        {"batch_size": 500},
        (100, 400, 400),
        args=("-b", "500"),
        id="argparse_short_option",
    ),
    Case(
        "argparse_vars.py",
        {
            "batch_size": 32,
            "dataset_size": 73257,
            "epochs": 5,
            "optimizer": {"class": "RMSprop", "lr": 0.01},
        },
        (2290, 11450, 11450),
    ),
    Case(
        "argparse_helper_fn.py",
        {"batch_size": 16, "dataset_size": 5000, "epochs": 2},
        (313, 626, 626),
    ),
    Case(
        "argparse_known_args_group.py",
        {"batch_size": 120, "dataset_size": 112800, "epochs": 2},
        (940, 1880, 1880),
    ),
    Case(
        "argparse_known_args_group.py",
        {"batch_size": 100, "dataset_size": 124800},
        (1248, 2496, 2496),
        args=("--bs=100", "--split", "letters"),
        id="argparse_alias",
    ),
    # Config files pulled in with exec().
    Case(
        "config_exec_plain.py",
        {"batch_size": 250, "epochs": 4, "learning_rate": 0.048828125},
        (200, 800, 800),
    ),
    Case(
        "nanogpt/train.py",
        {
            "batch_size": 12,
            "max_steps": 600000,
            "grad_accum_steps": 40,
            "precision": "amp_bf16",
            "world_size": 1,
            "learning_rate": 0.0006,
            "dataset_size": None,
        },
        (None, 600001, 600001),
    ),
    Case(
        "nanogpt/train.py",
        {
            "batch_size": 32,
            "max_steps": 100,
            "grad_accum_steps": 1,
            "precision": "amp_fp16",
            "learning_rate": 0.001,
        },
        (None, 101, 101),
        args=("config/train_tiny.py", "--max_iters=100", "--batch_size=32"),
        id="nanogpt_config_file_and_overrides",
    ),
    Case(
        "nanogpt/train.py",
        {"grad_accum_steps": 5, "world_size": 8},
        (None, 600001, 600001),
        world_size=8,
        id="nanogpt_ddp_world_8",
    ),
    # Step-based loops, off-by-one included.
    Case(
        "step_for_range.py",
        {
            "max_steps": 1000,
            "batch_size": 32,
            "drop_last": True,
            "epochs": None,
            "lr_scheduler": {"class": "OneCycleLR", "max_lr": 0.0002, "total_steps": 1000},
        },
        (156, 1000, 1000),
    ),
    # no DataLoader: the batch size is the first dimension of the input fed to the model
    Case("while_lt.py", {"max_steps": 500, "batch_size": 64}, (None, 500, 500)),
    Case("synthetic_batch_argparse.py", {"batch_size": 256, "max_steps": 50}, (None, 50, 50)),
    Case("synthetic_get_batch.py", {"batch_size": 12, "max_steps": 30}, (None, 30, 30)),
    Case("synthetic_epochs.py", {"batch_size": 48, "epochs": 3}, (None, None, None)),
    Case("while_true_ge.py", {"max_steps": 300}, (None, 300, 300)),
    Case("while_break_first.py", {"max_steps": 250}, (None, 251, 251)),
    # Gradient accumulation.
    Case("accum_modulo_floor.py", {"grad_accum_steps": 4}, (105, 210, 52)),
    Case("accum_modulo_ceil.py", {"grad_accum_steps": 4}, (105, 210, 54)),
    Case("accum_amp_scaler.py", {"grad_accum_steps": 3, "precision": "amp_fp16"}, (10, 40, 16)),
    Case(
        "mae_accum_iter.py",
        {
            "grad_accum_steps": 4,
            "dataset_size": 1880,
            "epochs": 50,
            "drop_last": True,
            "precision": "amp_fp16",
            "learning_rate": 0.001,
        },
        (29, 1450, 350),
    ),
    Case("accelerate_accum.py", {"grad_accum_steps": 8, "precision": "amp_bf16"}, (200, 600, 75)),
    # Distributed data parallel.
    Case(
        "ddp_sampler.py",
        {"batch_size": 128, "dataset_size": 50000, "world_size": None},
        (None, None, None),
    ),
    Case(
        "ddp_sampler.py",
        {"world_size": 4},
        (98, 2940, 2940),
        world_size=4,
        id="ddp_sampler_world_4",
    ),
    Case(
        "ddp_sampler.py",
        {"world_size": 2},
        (196, 5880, 5880),
        overrides={"world_size": "2"},
        id="ddp_sampler_world_setting",
    ),
    Case("ddp_env_default.py", {"world_size": 1, "batch_size": 64}, (782, 2346, 2346)),
    Case(
        "ddp_env_default.py", {"world_size": 8}, (98, 294, 294), world_size=8, id="ddp_env_world_8"
    ),
    Case(
        "ddp_mp_spawn.py",
        {"world_size": None, "epochs": 5, "dataset_size": 531131},
        (None, None, None),
    ),
    Case(
        "ddp_mp_spawn.py",
        {"world_size": 4},
        (519, 2595, 2595),
        world_size=4,
        id="ddp_mp_spawn_world_4",
    ),
    # Precision.
    Case("amp_autocast_fp16.py", {"precision": "amp_fp16"}, (10, 30, 30)),
    Case(
        "amp_bf16.py",
        {
            "precision": "amp_bf16",
            "optimizer": {"class": "AdamW", "lr": 0.001, "weight_decay": 0.01},
        },
        (10, 30, 30),
    ),
    Case("amp_new_api.py", {"precision": "fp32"}, (10, 30, 30)),
    Case(
        "amp_new_api.py", {"precision": "amp_fp16"}, (10, 30, 30), args=("--amp",), id="amp_flag_on"
    ),
    Case("half_model.py", {"precision": "fp16"}, (8, 16, 16)),
    Case("bf16_model.py", {"precision": "bf16"}, (8, 16, 16)),
    # Dataset sizes.
    Case("random_split_ints.py", {"dataset_size": 55000}, (550, 2750, 2750)),
    Case("random_split_fractions.py", {"dataset_size": 801}, (9, 90, 90)),
    Case("random_split_len_arith.py", {"dataset_size": 45000}, (352, 7040, 7040)),
    Case("subset_range.py", {"dataset_size": 5000}, (100, 300, 300)),
    Case("subset_indices_slice.py", {"dataset_size": 2000}, (32, 192, 192)),
    Case(
        "concat_dataset.py",
        {"dataset_size": 70000, "optimizer": {"class": "Adagrad", "lr": 0.01}},
        (70, 140, 140),
    ),
    Case("custom_dataset_literal.py", {"dataset_size": 1000}, (16, 32, 32)),
    Case("custom_dataset_self_n.py", {"dataset_size": 2048}, (32, 128, 128)),
    Case("custom_dataset_len_of_data.py", {"dataset_size": 777}, (8, 400, 400)),
    Case("custom_dataset_wraps.py", {"dataset_size": 50000, "drop_last": True}, (97, 9700, 9700)),
    Case("dataset_by_arg.py", {"dataset_size": 50000, "batch_size": 128}, (391, 391, 391)),
    Case(
        "dataset_by_arg.py",
        {"dataset_size": 60000},
        (469, 469, 469),
        args=("--dataset", "mnist"),
        id="dataset_by_arg_mnist",
    ),
    Case("image_folder.py", {"dataset_size": 6}, (3, 9, 9)),
    Case(
        "image_folder_missing.py",
        {"dataset_size": None, "batch_size": 256, "epochs": 90},
        (None, None, None),
    ),
    Case(
        "image_folder_missing.py",
        {"dataset_size": None},
        (None, None, None),
        args=("/nonexistent/imagenet",),
        id="image_folder_missing_path",
    ),
    Case(
        "imagenet_example.py",
        {
            "batch_size": 256,
            "epochs": 90,
            "world_size": 1,
            "dataset_size": None,
            "optimizer": {"class": "SGD", "momentum": 0.9, "weight_decay": 0.0001, "lr": 0.1},
            "lr_scheduler": {"class": "StepLR", "step_size": 30, "gamma": 0.1},
        },
        (None, None, None),
    ),
    Case(
        "imagenet_example.py",
        {"batch_size": 128, "dataset_size": 1281167},
        (10010, 900900, 900900),
        args=("/data/imagenet", "-b", "128"),
        overrides={"dataset_size": 1281167},
        id="imagenet_example_sized",
    ),
    Case(
        "imagenet_example.py",
        {"batch_size": None, "world_size": None},
        (None, None, None),
        args=("--multiprocessing-distributed",),
        id="imagenet_example_ddp",
    ),
    Case(
        "factory_loaders.py",
        {"batch_size": 32, "dataset_size": 60000, "epochs": 3},
        (1875, 5625, 5625),
    ),
    Case("drop_last.py", {"drop_last": True, "dataset_size": 1050}, (10, 30, 30)),
    Case("trange_epochs.py", {"epochs": 7, "dataset_size": 4096}, (16, 112, 112)),
    Case("epoch_range_start.py", {"epochs": 30, "dataset_size": 75750}, (1184, 35520, 35520)),
    Case(
        "epoch_range_start.py",
        {"epochs": 20},
        (1184, 23680, 23680),
        args=("--start-epoch", "10"),
        id="epoch_range_resumed",
    ),
    Case("single_pass_loader.py", {"epochs": 1, "dataset_size": 300}, (5, 5, 5)),
    Case(
        "json_config.py",
        {"batch_size": 64, "epochs": 8, "dataset_size": 7291, "learning_rate": 0.05},
        (114, 912, 912),
    ),
    Case("while_epoch_counter.py", {"epochs": 6, "max_steps": None}, (3, 18, 18)),
    Case(
        "weighted_sampler.py",
        {"dataset_size": 10000, "batch_size": 100, "optimizer": {"class": "NAdam", "lr": 0.002}},
        (100, 300, 300),
    ),
    # User-supplied facts.
    Case("pragma_dataset_size.py", {"dataset_size": 1200}, (12, 60, 60)),
    Case("pragma_multi.py", {"dataset_size": 3200, "world_size": 2}, (100, 200, 200)),
    Case(
        "pragma_dataset_size.py",
        {"dataset_size": 2400},
        (24, 120, 120),
        overrides={"dataset_size": 2400},
        id="setting_wins_over_pragma",
    ),
    Case("unknown_dataset.py", {"dataset_size": None, "batch_size": 100}, (None, None, None)),
    Case(
        "unknown_dataset.py",
        {"dataset_size": 500, "epochs": 2},
        (5, 10, 10),
        overrides={"dataset_size": "500", "epochs": 2},
        id="settings_fill_unknowns",
    ),
    # Frameworks.
    Case(
        "lightning_module.py",
        {
            "batch_size": 64,
            "dataset_size": 55000,
            "epochs": 3,
            "grad_accum_steps": 2,
            "world_size": 1,
            "precision": "amp_bf16",
            "learning_rate": 0.001,
        },
        (860, 2580, 1290),
    ),
    Case(
        "lightning_max_steps.py",
        {"batch_size": 50, "dataset_size": 1000, "max_steps": 150, "world_size": 2},
        (10, 150, 150),
    ),
    Case(
        "lightning_defaults.py",
        {
            "batch_size": 256,
            "dataset_size": 2560,
            "epochs": 1000,
            "world_size": 1,
            "precision": "amp_fp16",
        },
        (10, 10000, 10000),
    ),
    Case(
        "lightning_defaults.py",
        {"world_size": 2},
        (5, 5000, 5000),
        world_size=2,
        id="lightning_defaults_world_2",
    ),
    Case(
        "hf_trainer.py",
        {
            "batch_size": 16,
            "dataset_size": 10000,
            "epochs": 3,
            "grad_accum_steps": 4,
            "precision": "amp_bf16",
            "learning_rate": 2e-5,
            "lr_scheduler": {"class": "cosine"},
        },
        (625, 1875, 468),
    ),
    Case(
        "hf_max_steps.py",
        {"batch_size": 8, "max_steps": 500, "precision": "amp_fp16", "dataset_size": None},
        (None, None, None),
    ),
    Case(
        "hf_max_steps.py",
        {"dataset_size": 1000},
        (125, 500, 500),
        overrides={"dataset_size": 1000},
        id="hf_max_steps_sized",
    ),
    Case(
        "yaml_config.py",
        {
            "batch_size": 32,
            "dataset_size": 6149,
            "epochs": 20,
            "learning_rate": 0.0003,
            "optimizer": {"class": "AdamW", "lr": 0.0003, "weight_decay": 0.05},
        },
        (193, 3860, 3860),
    ),
    Case(
        "hydra_app.py",
        {"batch_size": 200, "dataset_size": 50000, "epochs": 15, "learning_rate": 0.1},
        (250, 3750, 3750),
    ),
    Case(
        "hydra_app.py",
        {"batch_size": 500, "epochs": 2},
        (100, 200, 200),
        args=("data.batch_size=500", "trainer.epochs=2", "data.name=cifar100"),
        id="hydra_overrides",
    ),
    # Step budgets inside epoch loops (HF *_no_trainer.py scripts).
    Case(
        "hf_no_trainer.py",
        {
            "batch_size": 8,
            "dataset_size": 25000,
            "epochs": 3,
            "max_steps": 9375,
            "learning_rate": 5e-5,
        },
        (3125, 9375, 9375),
    ),
    Case(
        "hf_no_trainer.py",
        {"epochs": 2, "max_steps": 1000, "grad_accum_steps": 4},
        (3125, 3997, 1000),
        args=("--gradient_accumulation_steps", "4", "--max_train_steps", "1000"),
        id="hf_no_trainer_step_budget",
    ),
    Case("epoch_loop_step_budget.py", {"epochs": 10, "max_steps": 250}, (100, 250, 250)),
    Case(
        "epoch_loop_step_budget.py",
        {"max_steps": 5000},
        (100, 1000, 1000),
        overrides={"max_steps": 5000},
        id="epoch_loop_budget_not_reached",
    ),
    # DataLoader keywords from a dict updated under an undecidable `if`: the keys the update
    # does not touch stay known (`batch_size`, the default `drop_last`).
    Case(
        "mnist_accel_kwargs.py",
        {"batch_size": 64, "dataset_size": 60000, "epochs": 14, "drop_last": False},
        (938, 13132, 13132),
    ),
    Case(
        "vae_accel_kwargs.py",
        {"batch_size": 128, "dataset_size": 60000, "epochs": 10, "drop_last": False},
        (469, 4690, 4690),
    ),
    # torchvision's reference script: `GradScaler() if args.amp else None` is not AMP unless
    # `--amp` is given (each branch of a conditional expression holds only when its test does).
    Case(
        "torchvision_reference.py",
        {"batch_size": 32, "epochs": 90, "precision": "fp32", "learning_rate": 0.1},
        (None, None, None),
        overrides={},
        id="torchvision_reference",
    ),
    Case(
        "torchvision_reference.py",
        {"batch_size": 64, "precision": "amp_fp16"},
        (None, None, None),
        args=("--amp", "-b", "64"),
        id="torchvision_reference_amp",
    ),
    # Broken code is analysed as far as it parses.
    Case(
        "syntax_error_half_typed.py",
        {"batch_size": 100, "dataset_size": 1200, "epochs": 5},
        (12, 60, 60),
        error=True,
    ),
]


def _id(c: Case) -> str:
    return c.id or Path(c.path).stem


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_fixture(case: Case) -> None:
    path = SCRIPTS / case.path
    a = analyze(
        path.read_text(encoding="utf-8"),
        path=str(path),
        script_args=case.args,
        overrides=case.overrides,
        world_size=case.world_size,
    )
    if case.error:
        assert a.error and "syntax error" in a.error
    else:
        assert a.error is None, a.error
    for name, expected in case.facts.items():
        fact = a.fact(name)
        if isinstance(expected, float):
            assert fact.value == pytest.approx(expected), (name, fact)
        else:
            assert fact.value == expected, (name, fact)
        if fact.value is None:
            assert fact.reason or fact.source != "unknown", (name, fact)
        else:
            assert fact.source and fact.source != "unknown", (name, fact)
    it = a.iterations
    assert (it.per_epoch, it.total, it.optimizer_steps) == case.its, it
    if it.total is None:
        assert it.reason, "an unknown total must say why"
    else:
        assert it.explanation
    # Every fact the JSON contract promises is there, and the whole result serialises.
    for name in FACT_NAMES:
        assert name in a.facts
    json.dumps(a.to_json())


def test_at_least_45_fixture_scripts() -> None:
    scripts = {p for p in SCRIPTS.rglob("*.py") if "config" not in p.parts}
    used = {(SCRIPTS / c.path).resolve() for c in CASES}
    assert len(scripts) >= 45
    unused = {p for p in scripts if p.resolve() not in used} - {
        SCRIPTS / "nanogpt" / "configurator.py",
        SCRIPTS / "settings_plain.py",
    }
    assert not unused, f"fixtures without expectations: {sorted(map(str, unused))}"
