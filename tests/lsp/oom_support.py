"""Scripts and helpers shared by the OOM tests (diagnostics, quick fixes, the target GPU)."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

#: The golden OOM script (8 residual MLP blocks of width 1024) at batch 61,440: ≈ 20 GiB, far
#: above a T4's ~14 GiB usable, well within an H200's 139 GiB. Activations dominate, so bf16
#: autocast helps. (Its two header lines, a ruff marker and a docstring, are left out.)
_GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "oom" / "wide_mlp.py"
BIG = (
    _GOLDEN.read_text(encoding="utf-8")
    .split('"""\n\n', 1)[1]
    .replace("BATCH_SIZE = 66560\n", "BATCH_SIZE = 61440\n", 1)
)
assert "BATCH_SIZE = 61440\n" in BIG and BIG.startswith("import torch\n")

#: The same with the batch size and the accumulation steps from argparse defaults.
ARGPARSE = (
    BIG.replace(
        "import torch\n",
        "import argparse\n\nimport torch\n",
        1,
    )
    .replace(
        "BATCH_SIZE = 61440\nEPOCHS = 3\n",
        "parser = argparse.ArgumentParser()\n"
        'parser.add_argument("--batch-size", type=int, default=61440)\n'
        'parser.add_argument("--accum-steps", type=int, default=2)\n'
        "args = parser.parse_args()\nEPOCHS = 3\n",
    )
    .replace("batch_size=BATCH_SIZE", "batch_size=args.batch_size")
    .replace(
        "    for inputs, targets in loader:\n",
        "    for i, (inputs, targets) in enumerate(loader):\n",
    )
    .replace(
        "        loss = criterion(outputs, targets)\n        loss.backward()\n"
        "        optimizer.step()\n",
        "        loss = criterion(outputs, targets) / args.accum_steps\n        loss.backward()\n"
        "        if (i + 1) % args.accum_steps == 0:\n"
        "            optimizer.step()\n"
        "            optimizer.zero_grad()\n",
    )
)


def apply_lsp_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP text edits (UTF-16 columns; ASCII test scripts) as an editor would."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(pos: types.Position) -> int:
        return starts[pos.line] + pos.character

    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text
