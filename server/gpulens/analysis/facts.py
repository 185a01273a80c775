"""The vocabulary of the static reader: facts with provenance, concept mentions, results.

Everything here is plain data (no pygls, no torch) so that the CLI, the language server and the
tests all speak the same types. Lines are 1-based, columns 0-based (Python's ``ast`` convention);
the LSP layer converts to 0-based lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

#: The facts every analysis reports (more may be present).
FACT_NAMES: tuple[str, ...] = (
    "batch_size",
    "epochs",
    "dataset_size",
    "drop_last",
    "grad_accum_steps",
    "world_size",
    "max_steps",
    "precision",
    "optimizer",
    "learning_rate",
    "lr_scheduler",
    "loss",
)

#: How a reason tells the user to supply a fact the reader cannot find.
SUPPLY = "add `# gpulens: {name}=...` or pass `--set {name}=...`"


@dataclass(frozen=True)
class Span:
    """A region of the source: 1-based lines, 0-based columns, end exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int

    def contains(self, line: int, col: int) -> bool:
        if (line, col) < (self.line, self.col):
            return False
        return (line, col) <= (self.end_line, self.end_col)


@dataclass(frozen=True)
class Fact:
    """One thing the reader knows (or knows it does not know) about the script.

    ``value`` is None when unknown, and then ``reason`` says why. ``source`` says how the value
    was found, in words a user understands ("argparse default of --batch-size", "pragma",
    "torchvision MNIST, train split: 60,000 images"). ``span`` is where the value comes from.
    """

    name: str
    value: Any
    source: str
    span: Span | None = None
    reason: str | None = None

    @property
    def known(self) -> bool:
        return self.value is not None

    @classmethod
    def unknown(cls, name: str, reason: str, span: Span | None = None) -> Fact:
        return cls(name=name, value=None, source="unknown", span=span, reason=reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "line": self.span.line if self.span else None,
            "source": self.source,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Mention:
    """A place in the source where a training concept appears, for hovers and inlay hints.

    ``kind`` is one of: ``batch_size`` (the value the DataLoader uses, at the argument),
    ``epochs``, ``epoch_loop`` / ``step_loop`` (the loop header that drives training),
    ``dataset``, ``dataloader``, ``optimizer``, ``learning_rate``, ``weight_decay``, ``loss``,
    ``lr_scheduler``, ``dropout``, ``activation``, ``grad_accum``, ``precision``; also
    ``max_steps`` (where a step loop's bound is defined) and ``trainer`` (a Lightning / Hugging
    Face trainer call). For trainers, ``epoch_loop`` is at ``trainer.fit(...)`` /
    ``trainer.train()`` with detail ``trainer``; a ``batch_size`` mention with detail
    ``definition`` marks where the value is set, the first ``batch_size`` where it is used.
    ``detail`` is the code that was recognised (``torch.optim.Adam``, ``nn.ReLU``...).

    ``role`` tells the two apart without reading ``detail``: ``"definition"`` where a value is
    set (``BATCH_SIZE = 100``, an argparse default; ``batch_size``, ``epochs`` and ``max_steps``
    mentions), ``"use"`` everywhere else (the DataLoader's ``batch_size=`` argument).
    """

    kind: str
    span: Span
    detail: str = ""
    role: str = "use"


@dataclass(frozen=True)
class Iterations:
    """Iteration counts derived from the facts; any of them None with ``reason`` set."""

    per_epoch: int | None
    total: int | None
    optimizer_steps: int | None
    reason: str | None = None
    #: The whole computation in words: "1,200 samples / batch 100 = 12 per epoch; ..."
    explanation: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "per_epoch": self.per_epoch,
            "total": self.total,
            "optimizer_steps": self.optimizer_steps,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class LayerSummary:
    """One layer of a model as the reader understood it (issue 3's ``layers`` entries).

    ``output_shape`` includes the batch dimension (the script's batch size when known, else
    None in that position); None when the forward could not be followed, with ``reason``.
    """

    name: str
    type: str
    line: int | None
    params: int | None
    output_shape: tuple[int | None, ...] | None = None
    span: Span | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "line": self.line,
            "params": self.params,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
        }


@dataclass
class ModelSummary:
    """A model the script builds: its parameters and layers, and whether the script trains it.

    ``trace`` is the estimator's forward trace (``gpulens.estimate.graph.ForwardTrace``) or
    the torchvision table's costs (``gpulens.estimate.memory.ModelCosts``), typed loosely here
    so that this module stays a leaf of the import graph.
    """

    name: str
    line: int | None
    params: int | None
    trainable_params: int | None
    layers: list[LayerSummary] = field(default_factory=list)
    span: Span | None = None
    trained: bool = True
    trace: Any = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "line": self.line,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "trained": self.trained,
            "reason": self.reason,
            "layers": [layer.to_json() for layer in self.layers],
        }


@dataclass
class Analysis:
    """Everything the static reader found in one script."""

    file: str
    facts: dict[str, Fact]
    iterations: Iterations
    mentions: list[Mention] = field(default_factory=list)
    #: A syntax error (or other reason the text could not be fully read), if any.
    error: str | None = None
    #: The models the script builds (issue 3); empty when none was recognised.
    models: list[ModelSummary] = field(default_factory=list)
    #: Unique parameters of the models the script trains; None when unknown.
    params_total: int | None = None
    #: The static training-memory estimate (``gpulens.estimate.memory.MemoryEstimate``), or
    #: None with ``memory_reason`` saying what is missing.
    memory: Any = None
    memory_reason: str | None = None
    #: The text analysed, for the checks made only when their result is shown.
    source: str = field(default="", repr=False, compare=False)

    @cached_property
    def device_note(self) -> str | None:
        """Set when the script as written trains on the CPU (``analysis.placement``): the
        estimate is then what it would need on a GPU. Worked out on first use: only a memory
        hover or report shows it, and it reads the whole text."""
        if self.memory is None or not self.source:
            return None
        from gpulens.analysis.placement import CPU_NOTE, trains_on_cpu

        return CPU_NOTE if trains_on_cpu(self.source) else None

    def fact(self, name: str) -> Fact:
        return self.facts.get(name) or Fact.unknown(name, "not analysed")

    def mentions_at(self, line: int, col: int) -> list[Mention]:
        return [m for m in self.mentions if m.span.contains(line, col)]

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "facts": {name: fact.to_json() for name, fact in self.facts.items()},
            "iterations": self.iterations.to_json(),
            "error": self.error,
            "models": [model.to_json() for model in self.models],
            "params_total": self.params_total,
            "memory": self.memory.as_json() if self.memory is not None else None,
            "memory_reason": self.memory_reason,
            "device_note": self.device_note,
        }
