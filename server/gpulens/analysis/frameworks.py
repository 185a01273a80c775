"""PyTorch Lightning and Hugging Face Trainer: their own rules for epochs, steps and batches."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpulens.estimate.iterations import LoopPlan

if TYPE_CHECKING:
    from gpulens.analysis.reader import Reader


class Frameworks:
    def __init__(self, reader: Reader) -> None:
        self.r = reader

    def detect(self) -> LoopPlan | None:
        return None
