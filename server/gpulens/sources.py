"""Reading script files from disk as text, the way Python itself would decode them."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path


class SourceReadError(Exception):
    """A file that cannot be read at all (missing, a directory, no permission)."""


def read_source_file(path: str | Path) -> str:
    """Return the text of a Python file, honouring a PEP 263 coding cookie.

    Undecodable bytes become U+FFFD instead of failing: a script with one stray Latin-1 byte
    in a comment should still be analysed.
    """
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise SourceReadError(f"{path}: is a directory, not a Python file") from None
    except FileNotFoundError:
        raise SourceReadError(f"{path}: no such file") from None
    except PermissionError:
        raise SourceReadError(f"{path}: permission denied") from None
    except OSError as exc:
        raise SourceReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        encoding = "utf-8"
    try:
        return data.decode(encoding, errors="replace")
    except LookupError:  # a coding cookie naming an encoding Python does not know
        return data.decode("utf-8", errors="replace")
