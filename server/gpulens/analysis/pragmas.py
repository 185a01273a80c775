"""User-supplied facts: ``# gpulens: dataset_size=1200, world_size=8`` comments and settings."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from gpulens.analysis.facts import Span

_PRAGMA = re.compile(r"#\s*gpulens\s*:\s*(?P<body>.*)$")
# name=value where value is a quoted string, a bracketed/braced literal, or a bare token.
_PAIR = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*"
    r"(?P<value>\"[^\"]*\"|'[^']*'|\[[^\]]*\]|\{[^}]*\}|\([^)]*\)|[^,\s]+)"
)


@dataclass(frozen=True)
class Pragma:
    name: str
    value: Any
    line: int
    span: Span


def parse_value(text: str) -> Any:
    """A Python literal when it is one (``1200``, ``True``, ``'bf16'``), else the text itself."""
    text = text.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    return text


def normalise(value: Any) -> Any:
    """Settings often arrive as strings (``--set dataset_size=1200``): read them as literals."""
    if isinstance(value, str):
        return parse_value(value)
    return value


def find_pragmas(lines: list[str]) -> list[Pragma]:
    out: list[Pragma] = []
    for i, line in enumerate(lines, start=1):
        if "gpulens" not in line:
            continue  # cheap pre-filter: most lines have no pragma
        m = _PRAGMA.search(line)
        if not m:
            continue
        body_start = m.start("body")
        for pm in _PAIR.finditer(m.group("body")):
            col = body_start + pm.start()
            span = Span(i, col, i, body_start + pm.end())
            out.append(Pragma(pm.group("name"), parse_value(pm.group("value")), i, span))
    return out
