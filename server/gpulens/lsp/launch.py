"""Script arguments from ``.vscode/launch.json``: the ``args`` of a configuration whose
``program`` is the file being analysed.

VS Code writes launch.json as JSON with comments and trailing commas; both are tolerated. The
variables ``${file}``, ``${workspaceFolder}``, ``${workspaceFolderBasename}``, ``${fileDirname}``,
``${fileBasename}``, ``${relativeFile}``, ``${userHome}``, ``${cwd}`` and ``${env:NAME}`` are
substituted; an argument that still holds an interactive variable (``${command:pickArgs}``,
``${input:...}``) cannot be known and is dropped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any


@dataclass(frozen=True)
class LaunchArgs:
    """Arguments found for a file, and where they came from (for tooltips)."""

    args: tuple[str, ...]
    config_name: str
    launch_file: str


def _string_end(text: str, start: int) -> int:
    """Index just past the JSON string literal that opens at ``start`` (escapes skipped)."""
    j, n = start + 1, len(text)
    while j < n and text[j] != '"':
        j += 2 if text[j] == "\\" else 1
    return min(j + 1, n)


def strip_jsonc(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments and trailing commas, leaving strings alone."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = _string_end(text, i)
            out.append(text[i:j])
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(ch)
            i += 1
    stripped = "".join(out)
    # Trailing commas: a comma followed (after whitespace) by } or ]. Strings were kept intact
    # above, so only look outside of them.
    return _remove_trailing_commas(stripped)


def _remove_trailing_commas(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = _string_end(text, i)
            out.append(text[i:j])
            i = j
            continue
        if ch == ",":
            j = i + 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j < n and text[j] in "}]":
                i += 1
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def parse_jsonc(text: str) -> Any:
    return json.loads(strip_jsonc(text.lstrip("\ufeff")))


_VAR = re.compile(r"\$\{([^}]*)\}")


def substitute(value: str, file: Path, folder: Path) -> str | None:
    """Expand VS Code's variables in ``value``; None if one of them cannot be known here."""
    unknown = False

    def repl(match: re.Match[str]) -> str:
        nonlocal unknown
        name = match.group(1)
        simple = {
            "file": str(file),
            "workspaceFolder": str(folder),
            "workspaceRoot": str(folder),
            "workspaceFolderBasename": folder.name,
            "fileDirname": str(file.parent),
            "fileBasename": file.name,
            "fileBasenameNoExtension": file.stem,
            "fileExtname": file.suffix,
            "userHome": str(Path.home()),
            "cwd": str(folder),
            "pathSeparator": os.sep,
            "/": os.sep,
        }
        if name in simple:
            return simple[name]
        if name == "relativeFile":
            try:
                return str(file.relative_to(folder))
            except ValueError:
                return str(file)
        if name.startswith("env:"):
            return os.environ.get(name[4:], "")
        if name.startswith("workspaceFolder:"):
            return str(folder.parent / name.split(":", 1)[1])
        unknown = True
        return match.group(0)

    result = _VAR.sub(repl, value)
    return None if unknown else result


def _same_file(program: str, file: Path, folder: Path) -> bool:
    path = Path(program)
    if not path.is_absolute():
        path = folder / path
    try:
        return os.path.normcase(os.path.realpath(path)) == os.path.normcase(os.path.realpath(file))
    except (OSError, ValueError):
        return False


#: (file, roots) → the folders whose ``.vscode/launch.json`` may configure it, nearest first
#: (resolving every parent folder costs more than the rest of a request's look-up).
_FOLDERS: dict[tuple[Path, tuple[Path, ...]], list[tuple[Path, Path]]] = {}
#: (file, roots) → (the launch.json files' (mtime, size) or None each, the answer).
_ANSWERS: dict[tuple[Path, tuple[Path, ...]], tuple[tuple[Any, ...], LaunchArgs | None]] = {}


def clear_cache() -> None:
    """Forget the folders and answers (a launch.json was created, edited or deleted)."""
    _FOLDERS.clear()
    _ANSWERS.clear()


def _candidates(file: Path, roots: list[Path]) -> list[tuple[Path, Path]]:
    """(launch.json path, its folder) for every folder that may hold one, nearest first."""
    key = (file, tuple(roots))
    cached = _FOLDERS.get(key)
    if cached is not None:
        return cached
    out: list[tuple[Path, Path]] = []
    seen: set[Path] = set()
    candidates: list[Path] = []
    root_set = {r.resolve() for r in roots if str(r)}
    for parent in file.parents:
        candidates.append(parent)
        try:
            if parent.resolve() in root_set:
                break
        except OSError:
            break
    candidates.extend(roots)
    for folder in candidates:
        launch = folder / ".vscode" / "launch.json"
        if launch in seen:
            continue
        seen.add(launch)
        out.append((launch, folder))
    if len(_FOLDERS) > 256:
        _FOLDERS.clear()
    _FOLDERS[key] = out
    return out


def _launch_files(file: Path, roots: list[Path]) -> list[tuple[Path, Path]]:
    """(launch.json, its workspace folder) pairs, nearest first: the file's own folders up to a
    workspace root, then the workspace roots themselves."""
    return [(launch, folder) for launch, folder in _candidates(file, roots) if launch.is_file()]


def _signature(file: Path, roots: list[Path]) -> tuple[Any, ...]:
    """What a launch.json look-up for ``file`` depends on besides the file system's folders:
    each candidate launch.json's modification time and size (None where there is none)."""
    sig: list[Any] = []
    for launch, _folder in _candidates(file, roots):
        try:
            st = launch.stat()
        except OSError:
            sig.append(None)
            continue
        sig.append((st.st_mtime_ns, st.st_size) if S_ISREG(st.st_mode) else None)
    return tuple(sig)


_CACHE: dict[Path, tuple[float, int, Any]] = {}


def _load(launch: Path) -> Any:
    try:
        stat = launch.stat()
    except OSError:
        return None
    cached = _CACHE.get(launch)
    if cached and cached[0] == stat.st_mtime and cached[1] == stat.st_size:
        return cached[2]
    try:
        data = parse_jsonc(launch.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        data = None
    _CACHE[launch] = (stat.st_mtime, stat.st_size, data)
    return data


def _args_of(config: dict[str, Any], file: Path, folder: Path) -> tuple[str, ...] | None:
    raw = config.get("args", [])
    if isinstance(raw, str):
        expanded = substitute(raw, file, folder)
        if expanded is None:
            return None
        try:
            return tuple(shlex.split(expanded))
        except ValueError:
            return None
    if not isinstance(raw, list):
        return None
    args: list[str] = []
    for item in raw:
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            continue
        expanded = substitute(str(item), file, folder)
        if expanded is not None:
            args.append(expanded)
    return tuple(args)


def launch_args(file: str | os.PathLike[str], roots: list[str]) -> LaunchArgs | None:
    """The script arguments launch.json gives ``file``, or None when no configuration runs it.

    A configuration naming the file itself wins over one whose program is ``${file}``.
    """
    path = Path(file)
    root_paths = [Path(r) for r in roots if r]
    key = (path, tuple(root_paths))
    sig = _signature(path, root_paths)
    cached = _ANSWERS.get(key)
    if cached is not None and cached[0] == sig:
        return cached[1]
    answer = _launch_args(path, root_paths)
    if len(_ANSWERS) > 256:
        _ANSWERS.clear()
    _ANSWERS[key] = (sig, answer)
    return answer


def _launch_args(path: Path, root_paths: list[Path]) -> LaunchArgs | None:
    fallback: LaunchArgs | None = None
    for launch, folder in _launch_files(path, root_paths):
        data = _load(launch)
        configs = data.get("configurations") if isinstance(data, dict) else None
        if not isinstance(configs, list):
            continue
        for config in configs:
            if not isinstance(config, dict) or config.get("request", "launch") != "launch":
                continue
            program = config.get("program")
            if not isinstance(program, str):
                continue
            name = str(config.get("name", "")) or "(unnamed)"
            if program.strip() == "${file}":
                if fallback is None:
                    args = _args_of(config, path, folder)
                    if args is not None:
                        fallback = LaunchArgs(args, name, str(launch))
                continue
            expanded = substitute(program, path, folder)
            if expanded is None or not _same_file(expanded, path, folder):
                continue
            args = _args_of(config, path, folder)
            if args is not None:
                return LaunchArgs(args, name, str(launch))
    return fallback
