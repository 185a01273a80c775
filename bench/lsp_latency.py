"""Latency of the gpulens language server, measured over stdio as an editor sees it.

- spawn → first inlay hints: start ``python -m gpulens.lsp``, initialize, open a generated
  2,000-line training script, ask for inlay hints; time until the hints arrive (target ≤ 1 s).
- edit → hints: send an incremental ``didChange`` (the batch size constant changes) and ask for
  inlay hints right away, as an editor does after a keystroke; time until hints that reflect the
  edit arrive (target p50 ≤ 10 ms). Every answer is checked against the expected label.
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


def start(python: str, root: Path, command: list[str] | None = None) -> Client:
    client = Client(command or [python, "-m", "gpulens.lsp"], cwd=str(root))
    client.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": root.as_uri(),
            "capabilities": CAPABILITIES,
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
        client = start(args.python, root)
        ready.append(time.perf_counter() - t0)
        client.notify("textDocument/didOpen", open_params)
        result = client.request("textDocument/inlayHint", hint_params(uri, n_lines))
        first.append(time.perf_counter() - t0)
        if labels(result) != ["12 it/epoch", "60 it"]:
            raise SystemExit(f"unexpected first hints: {labels(result)}")
        client.close()

    # 2. edit → hints on one long-lived server.
    client = start(args.python, root)
    client.notify("textDocument/didOpen", open_params)
    client.request("textDocument/inlayHint", hint_params(uri, n_lines))
    lines = text.split("\n")
    row = next(i for i, line in enumerate(lines) if line.startswith("BATCH_SIZE = "))
    values = [100, 200, 300, 400, 600]
    current = "100"
    edit_times: list[float] = []
    version = 1
    for i in range(args.edits):
        new = str(values[(i + 1) % len(values)])
        version += 1
        change = {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [
                {
                    "range": {
                        "start": {"line": row, "character": 13},
                        "end": {"line": row, "character": 13 + len(current)},
                    },
                    "text": new,
                }
            ],
        }
        t0 = time.perf_counter()
        client.notify("textDocument/didChange", change)
        result = client.request("textDocument/inlayHint", hint_params(uri, n_lines))
        edit_times.append(time.perf_counter() - t0)
        per_epoch = math.ceil(1200 / int(new))
        expected = [f"{per_epoch} it/epoch", f"{per_epoch * 5} it"]
        if labels(result) != expected:
            raise SystemExit(f"edit {i}: hints {labels(result)} != {expected}")
        current = new

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
    parse: list[float] = []
    try:
        import ast

        from gpulens.analysis import analyze

        for _ in range(min(args.edits, 50)):
            t0 = time.perf_counter()
            analyze(text, path=str(path))
            reader.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ast.parse(text)
            parse.append(time.perf_counter() - t0)
    except ImportError:  # benchmarking a server from another interpreter
        pass

    results = {
        "script_lines": n_lines,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "spawn_to_initialized": summary(ready),
        "spawn_to_first_hints": summary(first),
        "edit_to_hints": summary(edit_times),
        "cached_hints": summary(cached),
        "hover": summary(hovers),
        **({"reader_in_process": summary(reader)} if reader else {}),
        **({"ast_parse_only": summary(parse)} if parse else {}),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "targets": {"spawn_to_first_hints_ms": 1000, "edit_to_hints_p50_ms": 10},
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"gpulens LSP latency, {n_lines}-line script, Python {results['python']}, "
            f"{results['cpu_count']} CPUs"
        )
        for key in (
            "spawn_to_initialized",
            "spawn_to_first_hints",
            "edit_to_hints",
            "cached_hints",
            "hover",
            "reader_in_process",
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
        print(f"  load average (1 min) {results['load_average_1min']}")
        print("  targets: first hints <= 1000 ms; edit -> hints p50 <= 10 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
