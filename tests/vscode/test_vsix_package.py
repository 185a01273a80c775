"""The .vsix: what it ships, and that its bundled server starts on a plain Python without
pygls installed (what a fresh Remote-SSH GPU host has)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

from vscode_support import EXAMPLE, plain_python

MAX_VSIX_BYTES = 5 * 1024 * 1024


def _names(vsix: Path) -> list[str]:
    with zipfile.ZipFile(vsix) as archive:
        return archive.namelist()


def test_vsix_ships_client_and_bundled_server(vsix: Path) -> None:
    names = _names(vsix)
    required = [
        "extension/package.json",
        "extension/LICENSE.txt",
        "extension/client/out/extension.js",
        "extension/bundled/libs/pygls/__init__.py",
        "extension/bundled/libs/lsprotocol/types.py",
        "extension/bundled/libs/cattrs/__init__.py",
        "extension/bundled/libs/attrs/__init__.py",
        "extension/bundled/libs/typing_extensions.py",
        "extension/bundled/libs/gpulens/__init__.py",
        "extension/bundled/libs/gpulens/__main__.py",
        "extension/bundled/libs/gpulens/lsp/__init__.py",
    ]
    missing = [name for name in required if name not in names]
    assert not missing, f"missing from {vsix.name}: {missing}"
    assert any(n.startswith("extension/bundled/libs/gpulens/lsp/") for n in names)


def test_vsix_ships_nothing_heavy_or_stray(vsix: Path) -> None:
    names = _names(vsix)
    libs = "extension/bundled/libs/"
    top_level = {n[len(libs) :].split("/")[0].lower() for n in names if n.startswith(libs)}
    heavy = ("torch", "functorch", "nvidia", "triton", "numpy", "sympy")
    # nvidia-ml-py is NVML's small pure-Python binding (one module, pynvml.py): the local GPU
    # in the hover and the OOM check; the CUDA wheels (nvidia_cudnn_cu12...) stay out.
    light = ("nvidia_ml_py-",)
    assert not [t for t in top_level if t.startswith(heavy) and not t.startswith(light)], sorted(
        top_level
    )
    assert "pynvml.py" in top_level, sorted(top_level)
    assert {"pygls", "lsprotocol", "gpulens"} <= top_level, sorted(top_level)
    assert not [n for n in names if "/node_modules/" in n]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("extension/server/", "extension/client/src/"))]
    assert not [n for n in names if n.startswith(("extension/tests/", "extension/.venv/"))]
    assert vsix.stat().st_size < MAX_VSIX_BYTES, f"{vsix} is {vsix.stat().st_size} bytes"


def test_vsix_manifest(vsix: Path) -> None:
    with zipfile.ZipFile(vsix) as archive:
        manifest: dict[str, Any] = json.loads(archive.read("extension/package.json"))
    assert manifest["name"] == "gpulens"
    assert manifest["publisher"] == "gpulens"
    assert manifest["main"] == "./client/out/extension.js"
    assert manifest["extensionKind"] == ["workspace"]
    assert manifest["activationEvents"] == ["onLanguage:python"]
    assert "extensionDependencies" not in manifest
    trust = manifest["capabilities"]["untrustedWorkspaces"]
    assert trust["supported"] in (True, "limited")
    if trust["supported"] == "limited":
        assert trust["restrictedConfigurations"] == ["gpulens.interpreter"]
    commands = {c["command"]: c for c in manifest["contributes"]["commands"]}
    assert set(commands) == {"gpulens.restartServer", "gpulens.showLogs"}
    settings = manifest["contributes"]["configuration"]["properties"]
    assert set(settings) == {
        "gpulens.interpreter",
        "gpulens.inlayHints.perEpoch",
        "gpulens.inlayHints.total",
        "gpulens.inlayHints.layers",
        "gpulens.inlayHints.memory",
        "gpulens.scriptArgs",
        "gpulens.overrides",
        "gpulens.worldSize",
        "gpulens.language",
        "gpulens.gpu",
        "gpulens.oom.warningRatio",
        "gpulens.oom.errorRatio",
        "gpulens.trace.server",
    }
    assert settings["gpulens.interpreter"]["default"] == []
    assert settings["gpulens.language"]["enum"] == ["auto", "en", "zh-cn"]


class StdioSession:
    """A minimal LSP client over a subprocess's stdio: enough to start the bundled server."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.next_id = 0
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length is None:
                continue
            self.messages.put(json.loads(stream.read(length)))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 30.0) -> dict[str, Any]:
        """Sends a request and returns its response, answering the server's own requests
        (workspace/configuration with nulls, anything else with null) meanwhile."""
        self.next_id += 1
        request_id = self.next_id
        self.send({"id": request_id, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no response to {method} in {timeout} s")
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if "method" in message and "id" in message:
                result: Any = None
                if message["method"] == "workspace/configuration":
                    result = [None for _ in message["params"]["items"]]
                self.send({"id": message["id"], "result": result})
            elif message.get("id") == request_id:
                return message

    def close(self) -> str:
        """Shuts the server down; returns the end of its stderr."""
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        except (TimeoutError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-3000:]


def _labels(hints: list[dict[str, Any]] | None) -> list[str]:
    labels = []
    for hint in hints or []:
        label = hint["label"]
        labels.append(label if isinstance(label, str) else "".join(p["value"] for p in label))
    return labels


def test_bundled_server_runs_on_plain_python(vsix: Path, tmp_path: Path) -> None:
    """Unpack the .vsix and run `python -m gpulens serve` the way the client does (bundled/libs
    first on PYTHONPATH, cwd the extension folder) on a Python without pygls when there is one:
    initialize, open the example, get its inlay hints."""
    with zipfile.ZipFile(vsix) as archive:
        archive.extractall(tmp_path)
    extension = tmp_path / "extension"
    python = plain_python()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(extension / "bundled" / "libs")
    uri = EXAMPLE.resolve().as_uri()
    session = StdioSession([python, "-m", "gpulens", "serve"], extension, env)
    stderr = ""
    try:
        init = session.request(
            "initialize",
            {"processId": None, "rootUri": EXAMPLE.parent.resolve().as_uri(), "capabilities": {}},
        )
        capabilities = init["result"]["capabilities"]
        assert capabilities.get("inlayHintProvider"), capabilities
        assert capabilities.get("hoverProvider"), capabilities
        session.notify("initialized", {})
        text = EXAMPLE.read_text(encoding="utf-8")
        document = {"uri": uri, "languageId": "python", "version": 1, "text": text}
        session.notify("textDocument/didOpen", {"textDocument": document})
        whole = {"start": {"line": 0, "character": 0}, "end": {"line": 999, "character": 0}}
        labels: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            reply = session.request(
                "textDocument/inlayHint", {"textDocument": {"uri": uri}, "range": whole}
            )
            assert "result" in reply, reply
            labels = _labels(reply["result"])
            if labels:
                break
            time.sleep(0.2)
    finally:
        stderr = session.close()
    assert any("12 it/epoch" in label for label in labels), f"{labels}; stderr:\n{stderr}"
    assert any(label.strip().startswith("60 it") for label in labels), labels
