"""Columns between the reader (UTF-8 byte offsets, like Python's ``ast``) and the client
(the negotiated position encoding: UTF-16 by default, UTF-8 or UTF-32 on request)."""

from __future__ import annotations

import re

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Replace lone surrogates (possible in JSON text sent by a client) by U+FFFD.

    Each one becomes a single replacement character, so lines, code points and UTF-16 offsets
    of the rest of the text are unchanged; the reader then never sees text that cannot be
    encoded.
    """
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub("\ufffd", text)


def byte_col_to_client(line_text: str, byte_col: int, encoding: str) -> int:
    """A UTF-8 byte column of ``line_text`` in the client's units (clamped to the line)."""
    if byte_col <= 0:
        return 0
    if line_text.isascii():
        return min(byte_col, len(line_text))
    if encoding == UTF8:
        return min(byte_col, len(line_text.encode("utf-8", "surrogatepass")))
    prefix = line_text.encode("utf-8", "surrogatepass")[:byte_col].decode("utf-8", "ignore")
    if encoding == UTF32:
        return len(prefix)
    return len(prefix.encode("utf-16-le", "surrogatepass")) // 2


def client_col_to_byte(line_text: str, col: int, encoding: str) -> int:
    """A client column of ``line_text`` as a UTF-8 byte offset (clamped to the line)."""
    if col <= 0:
        return 0
    if line_text.isascii():
        return min(col, len(line_text))
    if encoding == UTF8:
        return col
    if encoding == UTF32:
        chars = line_text[:col]
    else:
        units = line_text.encode("utf-16-le", "surrogatepass")[: 2 * col]
        chars = units.decode("utf-16-le", "ignore")
    return len(chars.encode("utf-8", "surrogatepass"))
