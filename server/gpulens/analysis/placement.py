"""Whether a script, as written, trains on the CPU.

The memory estimate is what one training step needs on a GPU. For a script that never moves
its model or data to one (the primer's classic example trains on the CPU), "on the device"
would read as this script's own footprint, so the report and the hover say what the figures
are. The claim is made only where nothing in the file could put work on a GPU: no mention of
CUDA, a device, ``.to(...)`` or a training framework, and every import a known library (a
module of the user's might move the model).
"""

from __future__ import annotations

import re

from gpulens.analysis.modules import is_library

__all__ = ["CPU_NOTE", "trains_on_cpu"]

CPU_NOTE = (
    "The script as written trains on the CPU: nothing in it moves the model or the data to a "
    "GPU (no `.cuda()`, `.to(device)`, `device=` or training framework). These figures are what "
    "it would need on one."
)

# Anything that could place work on an accelerator, anywhere in the lower-cased text (a
# comment that mentions CUDA only makes the check more careful; "mps" inside a word too).
_GPU_SIGNS = (
    "cuda", "device", ".to(", "accelerat", "lightning", "deepspeed", "fabric", "trainer", "xla",
    "mps", "dataparallel", "distributed", "fsdp", "set_default",
)  # fmt: skip
_SPACED_TO = re.compile(r"\.to\s+\(")
_IMPORT = re.compile(r"[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import\b|import[ \t]+([^#\n]+))")


def trains_on_cpu(source: str) -> bool:
    """True when nothing in ``source`` could move its training to a GPU."""
    if "cuda" in source or "device" in source:  # most scripts: no need to look further
        return False
    low = source.lower()
    if any(sign in low for sign in _GPU_SIGNS) or _SPACED_TO.search(low):
        return False
    return all(is_library(name) for name in _imported(source))


def _imported(source: str) -> list[str]:
    """Top-level names of the modules an ``import`` or ``from … import`` line names; ``""`` for
    a relative import. Found by looking for the word, not by a pass over every line."""
    names: list[str] = []
    at = source.find("import")
    while at >= 0:
        start = source.rfind("\n", 0, at) + 1
        end = source.find("\n", at)
        line = source[start : end if end >= 0 else len(source)]
        match = _IMPORT.match(line)
        if match is not None:
            if match.group(1) is not None:
                parts = [match.group(1)]
            else:
                parts = [part.split(" as ")[0] for part in match.group(2).split(",")]
            names += [part.strip().strip("()\\").split(".")[0] for part in parts]
        at = source.find("import", end if end >= 0 else len(source))
    return names
