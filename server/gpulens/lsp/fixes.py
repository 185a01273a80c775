"""Text edits behind the OOM quick fixes, computed from the text and its analysis (pure: no
pygls, no estimator).

- :func:`batch_site`: where the batch size is written as an integer literal (a constant, a
  keyword argument, an argparse ``default=``), so that it can be replaced.
- :func:`autocast_edits`: the forward and loss statements of the training loop wrapped in
  ``with torch.autocast("cuda", dtype=torch.bfloat16):`` (``import torch`` added if needed).
- :func:`accumulation_plan`: a smaller batch and the accumulation steps that keep the effective
  batch; :func:`accumulation_snippet` and :func:`checkpoint_snippet` are the code shown when
  the script cannot be edited safely.

Positions are 0-based lines and UTF-8 byte columns (the reader's columns); the server converts
them to the client's encoding. Every edit is checked: the edited text must parse, and the
wrapped statements must be the same statements as before.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gpulens.analysis.facts import Analysis, Span

__all__ = [
    "AUTOCAST_LINE",
    "AccumulationPlan",
    "BatchSite",
    "TextEdit",
    "accumulation_plan",
    "accumulation_snippet",
    "apply_edits",
    "autocast_edits",
    "autocast_snippet",
    "batch_site",
    "checkpoint_snippet",
    "device_move_span",
    "literal_site",
    "repeated_blocks",
]

AUTOCAST_LINE = 'with torch.autocast("cuda", dtype=torch.bfloat16):'


@dataclass(frozen=True)
class TextEdit:
    """Replace [start, end) with ``new_text``; 0-based lines, UTF-8 byte columns."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int
    new_text: str


@dataclass(frozen=True)
class BatchSite:
    """An integer literal that defines a value (the batch size, the accumulation steps)."""

    line: int  # 0-based
    col: int  # UTF-8 bytes
    end_col: int
    value: int

    def replace(self, value: int) -> TextEdit:
        return TextEdit(self.line, self.col, self.line, self.end_col, str(value))


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _segment(lines: Sequence[str], span: Span) -> str | None:
    if span.line != span.end_line or not 1 <= span.line <= len(lines):
        return None
    raw = _bytes(lines[span.line - 1])
    if not 0 <= span.col < span.end_col <= len(raw):
        return None
    return raw[span.col : span.end_col].decode("utf-8", "replace")


def literal_site(lines: Sequence[str], span: Span | None, value: object) -> BatchSite | None:
    """``span`` when it covers exactly an integer literal equal to ``value``."""
    if span is None or isinstance(value, bool) or not isinstance(value, int):
        return None
    seg = _segment(lines, span)
    if seg is None or not re.fullmatch(r"[0-9][0-9_]*", seg.strip()) or seg != seg.strip():
        return None
    try:
        literal = int(seg.replace("_", ""))
    except ValueError:
        return None
    if literal != value:
        return None
    return BatchSite(span.line - 1, span.col, span.end_col, literal)


def batch_site(lines: Sequence[str], analysis: Analysis) -> BatchSite | None:
    """Where the batch size the analysis uses is written as a literal (None when it comes from
    the command line, a config file, an expression...)."""
    fact = analysis.facts.get("batch_size")
    if fact is None or not fact.known:
        return None
    spans: list[Span] = []
    if fact.span is not None:
        spans.append(fact.span)
    spans += [m.span for m in analysis.mentions if m.kind == "batch_size"]
    for span in spans:
        site = literal_site(lines, span, fact.value)
        if site is not None:
            return site
    return None


def apply_edits(text: str, edits: Iterable[TextEdit]) -> str:
    """``text`` with non-overlapping ``edits`` applied (tests and checks)."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(_bytes(line)) + 1)
    raw = _bytes(text)

    def at(line: int, col: int) -> int:
        return offsets[line] + col

    out = raw
    for e in sorted(edits, key=lambda e: (e.start_line, e.start_col), reverse=True):
        start, end = at(e.start_line, e.start_col), at(e.end_line, e.end_col)
        out = out[:start] + _bytes(e.new_text) + out[end:]
    return out.decode("utf-8", "surrogatepass")


# -- autocast --------------------------------------------------------------------------------


def _bodies(tree: ast.AST) -> Iterable[tuple[list[ast.stmt], list[ast.AST]]]:
    """Every statement list in the tree, with the chain of nodes that contain it."""

    def walk(node: ast.AST, chain: list[ast.AST]) -> Iterable[tuple[list[ast.stmt], list[ast.AST]]]:
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                yield body, [*chain, node]
                for stmt in body:
                    yield from walk(stmt, [*chain, node])
        for handler in getattr(node, "handlers", []) or []:
            yield from walk(handler, [*chain, node])
        for case in getattr(node, "cases", []) or []:
            yield from walk(case, [*chain, node])

    yield from walk(tree, [])


def _backward_target(stmt: ast.stmt) -> str | None:
    """``loss.backward()`` / ``scaler.scale(loss).backward()`` → ``"loss"``."""
    if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Call):
        return None
    func = stmt.value.func
    if not (isinstance(func, ast.Attribute) and func.attr == "backward"):
        return None
    recv = func.value
    if isinstance(recv, ast.Call) and recv.args:  # scaler.scale(loss)
        recv = recv.args[0]
    return recv.id if isinstance(recv, ast.Name) else None


def _assigned(stmt: ast.stmt) -> set[str]:
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        targets = [stmt.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _reads(stmt: ast.stmt) -> set[str]:
    value = getattr(stmt, "value", None)
    names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)} if value else set()
    if isinstance(stmt, ast.AugAssign):
        names |= _assigned(stmt)
    return names


def _is_device_move(stmt: ast.stmt) -> bool:
    """``x = x.to(device)``, ``x, y = x.cuda(), y.cuda()``: data moves, not forward work."""
    value = getattr(stmt, "value", None)
    if value is None:
        return False
    parts = value.elts if isinstance(value, ast.Tuple) else [value]
    return all(
        isinstance(p, ast.Call)
        and isinstance(p.func, ast.Attribute)
        and p.func.attr in ("to", "cuda", "float", "long")
        for p in parts
    )


def _calls_model(stmts: Sequence[ast.stmt], models: set[str]) -> bool:
    for stmt in stmts:
        for node in ast.walk(stmt):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            root = func
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(func, ast.Name) and func.id in models:
                return True
            if isinstance(func, ast.Attribute) and isinstance(root, ast.Name):
                dotted = ast.unparse(func)
                if dotted in models or (func.attr == "forward" and root.id in models):
                    return True
    return False


def _in_autocast(chain: Sequence[ast.AST]) -> bool:
    for node in chain:
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if "autocast" in ast.unparse(item.context_expr):
                    return True
    return False


def _imports_torch(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Import) and any(
            a.name == "torch" and a.asname in (None, "torch") for a in node.names
        ):
            return True
    return False


def _import_torch_edit(tree: ast.Module) -> TextEdit:
    """``import torch`` after the module's leading imports (or its docstring)."""
    line = 0
    for node in tree.body:
        docstring = (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        )
        if isinstance(node, (ast.Import, ast.ImportFrom)) or (docstring and line == 0):
            line = node.end_lineno or node.lineno
            continue
        break
    return TextEdit(line, 0, line, 0, "import torch\n")


def _training_block(
    tree: ast.Module, models: set[str]
) -> tuple[list[ast.stmt], list[ast.stmt]] | None:
    """(the statement list, the forward + loss statements to wrap) of the one backward call."""
    found: list[tuple[list[ast.stmt], int, str, list[ast.AST]]] = []
    for body, chain in _bodies(tree):
        for i, stmt in enumerate(body):
            name = _backward_target(stmt)
            if name is not None:
                found.append((body, i, name, chain))
    if len(found) != 1:
        return None  # no backward, or several (a GAN): no single place to wrap
    body, index, loss, chain = found[0]
    if _in_autocast(chain):
        return None
    end = next((j for j in range(index - 1, -1, -1) if loss in _assigned(body[j])), None)
    if end is None:
        return None
    block = [body[end]]
    needed = _reads(body[end]) | (_assigned(body[end]) - {loss})
    for j in range(end - 1, -1, -1):
        stmt = body[j]
        targets = _assigned(stmt)
        if not targets or not targets & needed or _is_device_move(stmt):
            break
        block.insert(0, stmt)
        needed |= _reads(stmt)
    # data preparation before the forward (sampling a batch, moving it) stays outside
    while block and not _calls_model(block[:1], models):
        block.pop(0)
    if not block:
        return None
    return body, block


def _model_names(tree: ast.Module, analysis: Analysis) -> set[str]:
    """Variables that hold the trained models (assigned on a model's line), and ``model``."""
    names = {"model", *(m.name for m in analysis.models if m.trained)}
    lines = {m.line for m in analysis.models if m.trained and m.line is not None}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
            node.lineno <= line <= (node.end_lineno or node.lineno) for line in lines
        ):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                elif isinstance(target, ast.Attribute):
                    names.add(ast.unparse(target))
    return names


def device_move_span(text: str, analysis: Analysis) -> Span | None:
    """Where a trained model goes to the GPU: ``model.to(device)``, ``model.cuda()``, or
    ``model = Net().to(device)`` (the ``.to(...)`` / ``.cuda()`` call)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    models = _model_names(tree, analysis)

    def moves(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("to", "cuda")
        )

    for node in ast.walk(tree):
        call: ast.expr | None = None
        if isinstance(node, ast.Expr) and moves(node.value):
            recv = node.value.func.value  # type: ignore[attr-defined]
            if ast.unparse(recv) in models:
                call = node.value
        elif (
            isinstance(node, ast.Assign)
            and moves(node.value)
            and any(ast.unparse(t) in models for t in node.targets)
        ):
            call = node.value
        if call is not None:
            func = call.func  # type: ignore[attr-defined]
            end_line = call.end_lineno or call.lineno
            start_line = func.value.end_lineno or call.lineno
            start_col = func.value.end_col_offset or 0
            if start_line == end_line:  # `.to(device)` itself
                return Span(start_line, start_col, end_line, call.end_col_offset or 0)
            return Span(call.lineno, call.col_offset, call.lineno, call.col_offset)
    return None


def _indent_unit(lines: Sequence[str]) -> str:
    for line in lines:
        stripped = line.lstrip(" \t")
        if stripped and stripped != line:
            return "\t" if line.startswith("\t") else " " * min(4, len(line) - len(stripped))
    return "    "


def _dump(stmts: Sequence[ast.stmt]) -> list[str]:
    return [ast.dump(s) for s in stmts]


def autocast_edits(text: str, analysis: Analysis) -> list[TextEdit] | None:
    """Edits that wrap the forward and loss statements in bf16 autocast, or None when the code
    does not allow it safely (no single backward, already under autocast, statements sharing
    lines, multi-line strings that indenting would change...)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    models = _model_names(tree, analysis)
    found = _training_block(tree, models)
    if found is None:
        return None
    body, block = found
    lines = text.split("\n")
    first, last = block[0], block[-1]
    start, stop = first.lineno, last.end_lineno or last.lineno
    pos = body.index(first)
    if pos > 0 and (body[pos - 1].end_lineno or 0) >= start:
        return None
    after = body.index(last) + 1
    if after < len(body) and body[after].lineno <= stop:
        return None
    head = lines[start - 1]
    indent = head[: len(head) - len(head.lstrip(" \t"))]
    if len(_bytes(indent)) != first.col_offset:
        return None  # something else starts the line
    unit = _indent_unit(lines) if "\t" not in indent else "\t"
    wrapped = [indent + AUTOCAST_LINE]
    wrapped += [(unit + line) if line.strip() else line for line in lines[start - 1 : stop]]
    edits = [
        TextEdit(start - 1, 0, stop - 1, len(_bytes(lines[stop - 1])), "\n".join(wrapped)),
    ]
    if not _imports_torch(tree):
        edits.append(_import_torch_edit(tree))
    # Check: the result parses, and the wrapped statements are the same statements.
    try:
        new_tree = ast.parse(apply_edits(text, edits))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    expected = _dump(block)
    context = ast.unparse(ast.parse(AUTOCAST_LINE + " pass").body[0].items[0])  # type: ignore[attr-defined]
    for node in ast.walk(new_tree):
        wraps = isinstance(node, ast.With) and ast.unparse(node.items[0]) == context
        if wraps and _dump(node.body) == expected:  # type: ignore[attr-defined]
            return edits
    return None


# -- gradient accumulation -------------------------------------------------------------------


@dataclass(frozen=True)
class AccumulationPlan:
    """``batch`` × ``steps`` micro-batches per optimizer step = ``effective`` samples."""

    batch: int
    steps: int
    effective: int

    @property
    def exact(self) -> bool:
        return self.batch * self.steps == self.effective


def accumulation_plan(batch: int, largest: int, existing_steps: int = 1) -> AccumulationPlan | None:
    """The fewest accumulation steps whose micro-batch fits (``largest``), preferring a divisor
    of ``batch`` so the effective batch stays exactly the same."""
    if batch < 2 or largest < 1 or largest >= batch:
        return None
    effective = batch * max(1, existing_steps)
    low = -(-batch // largest)
    for k in range(low, min(batch, 4 * low) + 1):
        if batch % k == 0:
            return AccumulationPlan(batch // k, k * max(1, existing_steps), effective)
    k = low
    return AccumulationPlan(batch // k, k * max(1, existing_steps), effective)


def accumulation_snippet(plan: AccumulationPlan, loader: str = "loader") -> str:
    return "\n".join(
        [
            f"# Gradient accumulation: {plan.steps} micro-batches of {plan.batch}"
            f" per optimizer step (effective batch {plan.batch * plan.steps}).",
            f"ACCUM_STEPS = {plan.steps}",
            "",
            "optimizer.zero_grad()",
            f"for step, (inputs, targets) in enumerate({loader}):",
            "    loss = criterion(model(inputs), targets) / ACCUM_STEPS  # average over the micro-batches",  # noqa: E501
            "    loss.backward()  # gradients add up across micro-batches",
            "    if (step + 1) % ACCUM_STEPS == 0:",
            "        optimizer.step()",
            "        optimizer.zero_grad()",
            "",
        ]
    )


def autocast_snippet() -> str:
    return "\n".join(
        [
            "# Mixed precision: run the forward pass and the loss under bf16 autocast",
            "# (weights and optimizer state stay fp32; backward runs outside the block).",
            "for inputs, targets in loader:",
            "    optimizer.zero_grad()",
            f"    {AUTOCAST_LINE}",
            "        outputs = model(inputs)",
            "        loss = criterion(outputs, targets)",
            "    loss.backward()",
            "    optimizer.step()",
            "",
        ]
    )


# -- activation checkpointing ----------------------------------------------------------------

_INDEXED = re.compile(r"^(?P<prefix>.+)\.(?P<index>\d+)$")
_LEAF_TYPES = frozenset(
    {
        "Linear", "Conv1d", "Conv2d", "Conv3d", "ReLU", "GELU", "SiLU", "Dropout", "BatchNorm1d",
        "BatchNorm2d", "LayerNorm", "Embedding", "MaxPool2d", "AvgPool2d", "Identity", "Tanh",
        "Sigmoid", "LeakyReLU", "Softmax", "Flatten",
    }
)  # fmt: skip


def repeated_blocks(analysis: Analysis) -> tuple[str, str, int] | None:
    """(container, block type, count) of the largest run of repeated non-trivial blocks in a
    trained model (``blocks.0`` … ``blocks.11`` of one type), or None."""
    best: tuple[str, str, int] | None = None
    for model in analysis.models:
        if not model.trained:
            continue
        groups: dict[tuple[str, str], set[str]] = {}
        names = [layer.name for layer in model.layers]
        for layer in model.layers:
            match = _INDEXED.match(layer.name)
            if match is None or layer.type.rsplit(".", 1)[-1] in _LEAF_TYPES:
                continue
            inner = layer.name + "."
            if not any(n.startswith(inner) for n in names):
                continue  # a single layer (a pooling, a conv), not a block of layers
            groups.setdefault((match["prefix"], layer.type), set()).add(match["index"])
        for (prefix, kind), indices in groups.items():
            if len(indices) >= 2 and (best is None or len(indices) > best[2]):
                best = (prefix, kind, len(indices))
    return best


def checkpoint_snippet(container: str = "blocks", block_type: str = "Block") -> str:
    attr = container or "blocks"
    return "\n".join(
        [
            "from torch.utils.checkpoint import checkpoint",
            "",
            f"# In the model's forward(): keep only each {block_type}'s input and recompute the",
            "# rest during backward (about a third more compute, far fewer saved activations).",
            f"for block in self.{attr}:",
            "    if self.training:",
            "        x = checkpoint(block, x, use_reentrant=False)",
            "    else:",
            "        x = block(x)",
            "",
        ]
    )
