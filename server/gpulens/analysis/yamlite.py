"""A small YAML reader for training configs, without a YAML library in the server.

It reads the block-style subset configs are written in: nested ``key: value`` mappings by
indentation, ``- item`` lists of scalars, flow lists ``[1, 2]`` and flat flow maps
``{a: 1}``, comments, quoted strings, and PyYAML's (YAML 1.1) rules for scalars — so ``1e-3``
stays a string, as ``yaml.safe_load`` returns it, while ``1.0e-3`` is a float. Anything beyond
that (anchors, tags, block scalars, multi-document files) raises ``YamlSubsetError`` and the
value is reported unknown rather than guessed.
"""

from __future__ import annotations

import re
from typing import Any


class YamlSubsetError(ValueError):
    pass


# PyYAML's implicit resolvers (yaml/resolver.py), YAML 1.1.
_BOOL = re.compile(
    r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"
)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_INT = re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
)
_FLOAT = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?"
    r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN))$"
)
_UNSUPPORTED = ("&", "*", "!", "|", ">", "%", "@", "`")


def scalar(text: str) -> Any:
    t = text.strip()
    if not t:
        return None
    if t[0] in "'\"":
        if len(t) < 2 or t[-1] != t[0]:
            raise YamlSubsetError(f"unterminated string {t!r}")
        body = t[1:-1]
        return body.replace("''", "'") if t[0] == "'" else body.replace('\\"', '"')
    if t.startswith("["):
        return _flow_list(t)
    if t.startswith("{"):
        return _flow_map(t)
    if t[0] in _UNSUPPORTED:
        raise YamlSubsetError(f"unsupported YAML syntax {t[:20]!r}")
    if _NULL.match(t):
        return None
    if _BOOL.match(t):
        return t.lower() in ("yes", "true", "on")
    if _INT.match(t):
        clean = t.replace("_", "")
        sign = -1 if clean.startswith("-") else 1
        digits = clean.lstrip("+-")
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        if digits.startswith("0b"):
            return sign * int(digits[2:], 2)
        if len(digits) > 1 and digits.startswith("0"):
            return sign * int(digits, 8)
        return sign * int(digits)
    if _FLOAT.match(t):
        clean = t.replace("_", "").lower()
        if clean.endswith("inf"):
            return float("-inf") if clean.startswith("-") else float("inf")
        if clean.endswith("nan"):
            return float("nan")
        return float(clean)
    return t


def _split_flow(body: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    quote = ""
    cur = ""
    for ch in body:
        if quote:
            cur += ch
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def _flow_list(t: str) -> list[Any]:
    if not t.endswith("]"):
        raise YamlSubsetError("unterminated flow list")
    return [scalar(p) for p in _split_flow(t[1:-1])]


def _flow_map(t: str) -> dict[str, Any]:
    if not t.endswith("}"):
        raise YamlSubsetError("unterminated flow map")
    out: dict[str, Any] = {}
    for part in _split_flow(t[1:-1]):
        k, sep, v = part.partition(":")
        if not sep:
            raise YamlSubsetError("flow map entry without ':'")
        out[str(scalar(k))] = scalar(v)
    return out


def _strip_comment(line: str) -> str:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def loads(text: str) -> Any:
    """Parse the supported subset; raise YamlSubsetError for anything else."""
    rows: list[tuple[int, str]] = []
    for raw in text.splitlines():
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise YamlSubsetError("tab indentation")
        line = _strip_comment(raw)
        if not line.strip():
            continue
        if line.strip() in ("---", "..."):
            if rows:
                raise YamlSubsetError("several YAML documents")
            continue
        rows.append((len(line) - len(line.lstrip()), line.strip()))
    if not rows:
        return None
    value, end = _block(rows, 0, rows[0][0])
    if end != len(rows):
        raise YamlSubsetError("unexpected indentation")
    return value


def _block(rows: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
    if rows[i][1].startswith("- ") or rows[i][1] == "-":
        items: list[Any] = []
        while (
            i < len(rows)
            and rows[i][0] == indent
            and (rows[i][1].startswith("- ") or rows[i][1] == "-")
        ):
            body = rows[i][1][1:].strip()
            i += 1
            if ":" in body and not body.startswith(("'", '"', "[", "{")):
                key, sep, rest = _split_key(body)
                nested = i < len(rows) and rows[i][0] > indent
                if not sep or nested:
                    raise YamlSubsetError("mappings inside lists are not supported")
                items.append({key: scalar(rest)})  # `- model: resnet` (Hydra defaults)
                continue
            items.append(scalar(body))
        return items, i
    out: dict[str, Any] = {}
    while i < len(rows) and rows[i][0] == indent:
        text = rows[i][1]
        key, sep, rest = _split_key(text)
        if not sep:
            raise YamlSubsetError(f"expected `key: value`, got {text[:30]!r}")
        i += 1
        if rest.strip():
            out[key] = scalar(rest)
        elif i < len(rows) and rows[i][0] > indent:
            out[key], i = _block(rows, i, rows[i][0])
        elif i < len(rows) and rows[i][0] == indent and rows[i][1].startswith("-"):
            out[key], i = _block(rows, i, indent)  # a list at the key's own indentation
        else:
            out[key] = None
    if i < len(rows) and rows[i][0] > indent:
        raise YamlSubsetError("unexpected indentation")
    return out, i


def _split_key(text: str) -> tuple[str, str, str]:
    if text[0] in "'\"":
        end = text.find(text[0], 1)
        if end < 0:
            raise YamlSubsetError("unterminated key")
        key = text[1:end]
        rest = text[end + 1 :].lstrip()
        if not rest.startswith(":"):
            return key, "", ""
        return key, ":", rest[1:]
    m = re.match(r"^([^:]+?):(?:\s+|$)(.*)$", text)
    if not m:
        return text, "", ""
    return m.group(1).strip(), ":", m.group(2)
