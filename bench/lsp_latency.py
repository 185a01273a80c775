"""Latency of the gpulens language server, measured over stdio as an editor sees it.

- spawn → first inlay hints: start ``python -m gpulens.lsp``, initialize, open a generated
  2,000-line training script, ask for inlay hints; time until the hints arrive (target ≤ 1 s).
- edit → hints: send an incremental ``didChange`` and ask for inlay hints right away, as an editor
  does after a keystroke; time until hints that reflect the edit arrive (target p50 ≤ 10 ms).
  Four kinds of edit, each timed on its own: the batch size constant changes (``edit_to_hints``,
  the hints change), characters typed one at a time inside a line in the middle of the file
  (``edit_typing``), a line added and removed again above most of the file (``edit_add_line``,
  every statement below moves), and a bracket typed and closed again (``edit_syntax_error``,
  every other version does not parse). Every answer is checked against the expected labels, and
  the server's own CPU time per edit is read from ``/proc`` (machine load inflates wall time
  much more than CPU time).
- cached hints and hover: the same requests on an unchanged document (the server's own overhead).

Usage: ``python bench/lsp_latency.py [--lines 2000] [--edits 200] [--spawns 5] [--json]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import queue
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_script import generate


class Client:
    """A minimal LSP client over a subprocess' stdio (JSON-RPC with Content-Length framing)."""

    def __init__(self, cmd: list[str], cwd: str | None = None) -> None:
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
        )
        self._next_id = 0
        self._responses: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.notifications: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode("utf-8")
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read_loop(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            length = 0
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            message = json.loads(stream.read(length))
            if "id" in message and "method" in message:
                self._answer(message)
            elif "id" in message:
                with self._lock:
                    box = self._responses.setdefault(message["id"], queue.Queue())
                box.put(message)
            else:
                self.notifications.put(message)

    def _answer(self, request: dict[str, Any]) -> None:
        """Server → client requests: answer like an editor with default settings."""
        result: Any = None
        if request["method"] == "workspace/configuration":
            result = [{} for _ in request["params"]["items"]]
        self._send({"jsonrpc": "2.0", "id": request["id"], "result": result})

    def request(self, method: str, params: Any, timeout: float = 60.0) -> Any:
        with self._lock:
            self._next_id += 1
            msg_id = self._next_id
            box = self._responses.setdefault(msg_id, queue.Queue())
        self._send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        message = box.get(timeout=timeout)
        with self._lock:
            self._responses.pop(msg_id, None)
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


CAPABILITIES: dict[str, Any] = {
    "general": {"positionEncodings": ["utf-16"]},
    "textDocument": {
        "synchronization": {"dynamicRegistration": False},
        "inlayHint": {"dynamicRegistration": False},
        "hover": {"contentFormat": ["markdown", "plaintext"]},
        "publishDiagnostics": {},
    },
    "workspace": {"configuration": True, "inlayHint": {"refreshSupport": True}},
}
#: What VS Code (1.9x) says of inlay hints: it asks for a hint's tooltip when the pointer rests
#: on the hint (``inlayHint/resolve``), so the hints themselves come without tooltips.
VSCODE_INLAY_HINT: dict[str, Any] = {
    "dynamicRegistration": True,
    "resolveSupport": {
        "properties": ["tooltip", "textEdits", "label.tooltip", "label.location", "label.command"]
    },
}


def capabilities(client: str) -> dict[str, Any]:
    """``minimal``: a client that wants every tooltip with the hints (the server then renders
    them all on every edit); ``vscode``: VS Code's inlay-hint capabilities."""
    caps = json.loads(json.dumps(CAPABILITIES))
    if client == "vscode":
        caps["textDocument"]["inlayHint"] = VSCODE_INLAY_HINT
    return caps


def start(
    python: str, root: Path, command: list[str] | None = None, client_kind: str = "minimal"
) -> Client:
    client = Client(command or [python, "-m", "gpulens.lsp"], cwd=str(root))
    client.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": root.as_uri(),
            "capabilities": capabilities(client_kind),
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
        },
    )
    client.notify("initialized", {})
    return client


def hint_params(uri: str, lines: int) -> dict[str, Any]:
    return {
        "textDocument": {"uri": uri},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": lines, "character": 0}},
    }


#: The iteration hints the benchmark checks (layer, model and memory hints come and go with
#: what the reader understands of the generated model).
ITERATION_KINDS = ("per_epoch", "total")


def labels(result: Any) -> list[str]:
    out = []
    for h in result or []:
        data = h.get("data")
        kind = data.get("kind") if isinstance(data, dict) else None
        if kind is None or kind in ITERATION_KINDS:
            out.append(h["label"] if isinstance(h["label"], str) else "")
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[k]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p95_ms": round(percentile(values, 0.95) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--spawns", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument(
        "--client",
        choices=("vscode", "minimal"),
        default="vscode",
        help="the editor's inlay-hint capabilities: VS Code's (tooltips resolved when shown) or "
        "a client that wants every tooltip with the hints",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    import tempfile

    root = Path(tempfile.mkdtemp(prefix="gpulens-bench-"))
    text = generate(args.lines)
    path = root / "train.py"
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    n_lines = text.count("\n") + 1
    open_params = {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}

    # 1. spawn → first hints (each spawn a fresh process, as when an editor opens the file).
    first: list[float] = []
    ready: list[float] = []
    for _ in range(args.spawns):
        t0 = time.perf_counter()
        client = start(args.python, root, client_kind=args.client)
        ready.append(time.perf_counter() - t0)
        client.notify("textDocument/didOpen", open_params)
        result = client.request("textDocument/inlayHint", hint_params(uri, n_lines))
        first.append(time.perf_counter() - t0)
        if labels(result) != ["12 it/epoch", "60 it"]:
            raise SystemExit(f"unexpected first hints: {labels(result)}")
        client.close()

    # 2. edit → hints on one long-lived server.
    client = start(args.python, root, client_kind=args.client)
    client.notify("textDocument/didOpen", open_params)
    client.request("textDocument/inlayHint", hint_params(uri, n_lines))
    lines = text.split("\n")
    version = 1
    cpu: dict[str, float] = {}
    Step = tuple[int, int, int, int, str, list[str]]

    def series(name: str, steps: list[Step]) -> list[float]:
        """Send each edit (range, new text) and ask for hints; check them; time each."""
        nonlocal version
        times: list[float] = []
        before = cpu_seconds(client.proc.pid)
        for i, (line, col, end_line, end_col, new, expected) in enumerate(steps):
            version += 1
            change = {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [
                    {
                        "range": {
                            "start": {"line": line, "character": col},
                            "end": {"line": end_line, "character": end_col},
                        },
                        "text": new,
                    }
                ],
            }
            t0 = time.perf_counter()
            client.notify("textDocument/didChange", change)
            result = client.request("textDocument/inlayHint", hint_params(uri, n_lines + 1))
            times.append(time.perf_counter() - t0)
            if labels(result) != expected:
                raise SystemExit(f"{name} {i}: hints {labels(result)} != {expected}")
        after = cpu_seconds(client.proc.pid)
        if before is not None and after is not None and steps:
            cpu[name] = round((after - before) / len(steps) * 1000, 2)
        return times

    # a. The batch size constant changes: the hints change with it.
    row = next(i for i, line in enumerate(lines) if line.startswith("BATCH_SIZE = "))
    values = [100, 200, 300, 400, 600]
    steps: list[Step] = []
    current = "100"
    for i in range(args.edits):
        new = str(values[(i + 1) % len(values)])
        per_epoch = math.ceil(1200 / int(new))
        steps.append(
            (row, 13, row, 13 + len(current), new, [f"{per_epoch} it/epoch", f"{per_epoch * 5} it"])
        )
        current = new
    edit_times = series("edit_to_hints", steps)
    per_epoch = math.ceil(1200 / int(current))
    same = [f"{per_epoch} it/epoch", f"{per_epoch * 5} it"]

    # b. Typing inside a line in the middle of the file (a class docstring), one character at a
    # time; the word is deleted again when complete.
    mid = next(
        i
        for i, line in enumerate(lines)
        if i > len(lines) // 2 and line.strip().startswith('"""Residual')
    )
    col = lines[mid].index("Residual")
    word = "wide "
    steps = []
    cycle = len(word) + 1  # whole cycles, so that the text is back as it was at the end
    for i in range(max(args.edits // cycle, 1) * cycle):
        k = i % cycle
        if k < len(word):
            steps.append((mid, col + k, mid, col + k, word[k], same))
        else:
            steps.append((mid, col, mid, col + len(word), "", same))
    typing_times = series("edit_typing", steps)

    # c. A line added near the top and removed again: every statement below it moves.
    top = next(i for i, line in enumerate(lines) if line.startswith("class Block0"))
    steps = []
    for i in range(max(args.edits // 2, 1) * 2):
        if i % 2 == 0:
            steps.append((top, 0, top, 0, "EXTRA = 1\n", same))
        else:
            steps.append((top, 0, top + 1, 0, "", same))
    add_line_times = series("edit_add_line", steps)

    # d. An opening bracket typed (the text does not parse; the hints stay) and closed again.
    call_row = next(i for i, line in enumerate(lines) if "nn.CrossEntropyLoss()" in line)
    paren = lines[call_row].index("()") + 1
    steps = []
    for i in range(max(args.edits // 4, 1) * 2):
        if i % 2 == 0:
            steps.append((call_row, paren, call_row, paren, "(", same))
        else:
            steps.append((call_row, paren, call_row, paren + 1, "", same))
    syntax_times = series("edit_syntax_error", steps)

    # 3. The server's own overhead: cached hints and hovers on the unchanged document.
    cached: list[float] = []
    hovers: list[float] = []
    hover_row = next(i for i, line in enumerate(lines) if line.startswith("loader = DataLoader("))
    hover_col = lines[hover_row].index("BATCH_SIZE") + 2
    for _ in range(args.edits):
        t0 = time.perf_counter()
        client.request("textDocument/inlayHint", hint_params(uri, n_lines))
        cached.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        hover = client.request(
            "textDocument/hover",
            {"textDocument": {"uri": uri}, "position": {"line": hover_row, "character": hover_col}},
        )
        hovers.append(time.perf_counter() - t0)
        if not hover:
            raise SystemExit("no hover on the DataLoader batch size")
    client.close()

    # 4. Where edit -> hints goes: the reader alone, in this process, and ast.parse alone.
    reader: list[float] = []
    reader_cpu: list[float] = []
    incremental: list[float] = []
    incremental_cpu: list[float] = []
    parse: list[float] = []
    try:
        import ast

        from gpulens.analysis import analyze
        from gpulens.analysis.incremental import ParseCache

        texts = [text.replace("BATCH_SIZE = 100", f"BATCH_SIZE = {v}", 1) for v in values]
        cache = ParseCache()
        analyze(text, path=str(path), parse_cache=cache)
        for i in range(min(args.edits, 50)):
            t0, c0 = time.perf_counter(), time.process_time()
            analyze(texts[i % len(texts)], path=str(path))
            reader.append(time.perf_counter() - t0)
            reader_cpu.append(time.process_time() - c0)
            t0, c0 = time.perf_counter(), time.process_time()
            analyze(texts[(i + 1) % len(texts)], path=str(path), parse_cache=cache)
            incremental.append(time.perf_counter() - t0)
            incremental_cpu.append(time.process_time() - c0)
            t0 = time.perf_counter()
            ast.parse(text)
            parse.append(time.perf_counter() - t0)
    except ImportError:  # benchmarking a server from another interpreter
        pass

    results = {
        "script_lines": n_lines,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "client": args.client,
        "spawn_to_initialized": summary(ready),
        "spawn_to_first_hints": summary(first),
        "edit_to_hints": summary(edit_times),
        "edit_typing": summary(typing_times),
        "edit_add_line": summary(add_line_times),
        "edit_syntax_error": summary(syntax_times),
        "server_cpu_ms_per_edit": cpu,
        "cached_hints": summary(cached),
        "hover": summary(hovers),
        **({"reader_in_process": summary(reader)} if reader else {}),
        **({"reader_cpu": summary(reader_cpu)} if reader else {}),
        **({"reader_incremental": summary(incremental)} if reader else {}),
        **({"reader_incremental_cpu": summary(incremental_cpu)} if reader else {}),
        **({"ast_parse_only": summary(parse)} if parse else {}),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "targets": {"spawn_to_first_hints_ms": 1000, "edit_to_hints_p50_ms": 10},
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"gpulens LSP latency, {n_lines}-line script, Python {results['python']}, "
            f"{results['cpu_count']} CPUs, {args.client} client"
        )
        for key in (
            "spawn_to_initialized",
            "spawn_to_first_hints",
            "edit_to_hints",
            "edit_typing",
            "edit_add_line",
            "edit_syntax_error",
            "cached_hints",
            "hover",
            "reader_in_process",
            "reader_cpu",
            "reader_incremental",
            "reader_incremental_cpu",
            "ast_parse_only",
        ):
            if key not in results:
                continue
            s = results[key]
            assert isinstance(s, dict)
            print(
                f"  {key:<22} p50 {s['p50_ms']:>8.2f} ms   p95 {s['p95_ms']:>8.2f} ms   "
                f"max {s['max_ms']:>8.2f} ms   (n={s['n']})"
            )
        if cpu:
            shown = ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
            print(f"  server CPU ms per edit (mean): {shown}")
        print(f"  load average (1 min) {results['load_average_1min']}")
        print("  targets: first hints <= 1000 ms; edit -> hints p50 <= 10 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
