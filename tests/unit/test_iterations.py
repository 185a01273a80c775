"""Pure iteration arithmetic (no AST): rounding, sharding, accumulation, trainers, step loops."""

from __future__ import annotations

from typing import Any

import pytest
from gpulens.analysis.facts import Fact
from gpulens.estimate.iterations import LoopPlan, batches_per_epoch, compute_iterations


def facts(**values: Any) -> dict[str, Fact]:
    out = {}
    for k, v in values.items():
        out[k] = Fact.unknown(k, "test: unknown") if v is None else Fact(k, v, "test")
    return out


@pytest.mark.parametrize(
    ("n", "b", "w", "drop", "shards", "expected"),
    [
        (1200, 100, 1, False, False, 12),
        (1201, 100, 1, False, False, 13),
        (1201, 100, 1, True, False, 12),
        (99, 100, 1, True, False, 0),
        (50000, 128, 4, False, True, 98),  # ceil(50000 / 4) = 12500; ceil(12500 / 128) = 98
        (10, 3, 4, True, True, 1),  # DistributedSampler pads to 3 each, then floor(3 / 3)
        (50000, 128, 4, False, False, 391),  # no sampler: every process sees everything
    ],
)
def test_batches_per_epoch(n: int, b: int, w: int, drop: bool, shards: bool, expected: int) -> None:
    per, words = batches_per_epoch(n, b, w, drop, shards)
    assert per == expected
    assert f"{n:,}" in words


def test_classic_explanation() -> None:
    it = compute_iterations(
        facts(
            dataset_size=1200,
            batch_size=100,
            epochs=5,
            grad_accum_steps=1,
            world_size=1,
            drop_last=False,
        ),
        LoopPlan("epochs"),
    )
    assert (it.per_epoch, it.total, it.optimizer_steps) == (12, 60, 60)
    assert it.explanation == (
        "1,200 samples / batch 100 = 12 per epoch; × 5 epochs = 60 iterations (60 weight updates)"
    )
    assert it.reason is None


@pytest.mark.parametrize(("rounding", "expected"), [("floor", 52), ("ceil", 54)])
def test_accumulation_rounding(rounding: str, expected: int) -> None:
    it = compute_iterations(
        facts(dataset_size=1050, batch_size=10, epochs=2, grad_accum_steps=4),
        LoopPlan("epochs", accum_rounding=rounding),
    )
    assert (it.per_epoch, it.total, it.optimizer_steps) == (105, 210, expected)
    assert "weight updates" in it.explanation


def test_unknown_parts_name_the_missing_fact_and_the_remedy() -> None:
    it = compute_iterations(facts(dataset_size=None, batch_size=100, epochs=5), LoopPlan("epochs"))
    assert it.total is None and it.per_epoch is None
    assert it.reason is not None
    assert "dataset_size" in it.reason and "gpulens: dataset_size=" in it.reason
    assert "--set dataset_size=" in it.reason


def test_unknown_epochs_keeps_per_epoch() -> None:
    it = compute_iterations(
        facts(dataset_size=1000, batch_size=10, epochs=None), LoopPlan("epochs")
    )
    assert it.per_epoch == 100 and it.total is None
    assert it.reason and "epochs" in it.reason


def test_sharded_needs_world_size() -> None:
    it = compute_iterations(
        facts(dataset_size=1000, batch_size=10, epochs=1, world_size=None),
        LoopPlan("epochs", shards=True),
    )
    assert it.total is None and it.reason and "world_size" in it.reason
    it = compute_iterations(
        facts(dataset_size=1000, batch_size=10, epochs=1, world_size=4),
        LoopPlan("epochs", shards=True),
    )
    assert (it.per_epoch, it.total) == (25, 25)


def test_step_loop_counts_exactly() -> None:
    plan = LoopPlan(
        "steps", step_count=lambda m: m + 1, step_words="max_iters + 1", accum_inside=True
    )
    it = compute_iterations(facts(max_steps=5000, grad_accum_steps=5), plan)
    assert (it.total, it.optimizer_steps) == (5001, 5001)
    assert "max_iters + 1" in it.explanation and "5 micro-batches" in it.explanation


def test_step_loop_with_modulo_accumulation() -> None:
    plan = LoopPlan("steps", step_count=lambda m: m, accum_rounding="floor")
    it = compute_iterations(facts(max_steps=1000, grad_accum_steps=3), plan)
    assert (it.total, it.optimizer_steps) == (1000, 333)


def test_lightning_max_steps_and_epochs() -> None:
    base = dict(dataset_size=1000, batch_size=10, grad_accum_steps=2, world_size=1)
    # 100 batches, ceil(100 / 2) = 50 updates per epoch; max_epochs=3 → 150 updates.
    it = compute_iterations(
        facts(epochs=3, max_steps=None, **base),
        LoopPlan("lightning", accum_rounding="ceil", shards=True),
    )
    assert (it.per_epoch, it.total, it.optimizer_steps) == (100, 300, 150)
    # max_steps=120 comes first: 2 full epochs (100 updates) + 20 updates × 2 batches.
    it = compute_iterations(
        facts(epochs=3, max_steps=120, **base),
        LoopPlan("lightning", accum_rounding="ceil", shards=True),
    )
    assert (it.total, it.optimizer_steps) == (240, 120)
    # max_epochs ends first.
    it = compute_iterations(
        facts(epochs=1, max_steps=500, **base),
        LoopPlan("lightning", accum_rounding="ceil", shards=True),
    )
    assert it.optimizer_steps == 50


def test_lightning_limit_train_batches() -> None:
    it = compute_iterations(
        facts(dataset_size=1000, batch_size=10, epochs=2, world_size=1),
        LoopPlan("lightning", shards=True, limit_batches=0.25),
    )
    assert (it.per_epoch, it.total) == (25, 50)


def test_hf_trainer_rules() -> None:
    base = dict(dataset_size=10000, batch_size=16, grad_accum_steps=4, world_size=1)
    it = compute_iterations(facts(epochs=3, **base), LoopPlan("hf", shards=True))
    assert (it.per_epoch, it.total, it.optimizer_steps) == (625, 1875, 468)
    it = compute_iterations(facts(epochs=1.5, **base), LoopPlan("hf", shards=True))
    assert it.optimizer_steps == 234  # ceil(1.5 × 156)
    it = compute_iterations(facts(epochs=3, max_steps=100, **base), LoopPlan("hf", shards=True))
    assert it.optimizer_steps == 100 and it.total == 400


def test_no_loop() -> None:
    it = compute_iterations(facts(), LoopPlan("none", reason="no training loop found"))
    assert it.total is None and it.reason == "no training loop found"


def test_non_numeric_batch_size() -> None:
    it = compute_iterations(facts(dataset_size=10, batch_size="big", epochs=1), LoopPlan("epochs"))
    assert it.total is None and it.reason and "batch_size" in it.reason
