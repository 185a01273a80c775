"""Real VS Code end to end: code-server + headless Chromium driven by Playwright.

Installs the built .vsix into a fresh code-server, opens a copy of examples/classic_train.py,
and checks what a user sees: the inlay hints `12 it/epoch` and `60 it`, the hovers on the
batch size and on the epoch loop, and the "gpulens: Show Logs" command. The server runs on a
plain python3 (without pygls when the machine has one), so the .vsix's bundled libraries are
what makes it work.

Needs scripts/setup_vscode_e2e.sh (about 3-4 min once); skipped without it unless
GPULENS_REQUIRE_E2E=1. Recipe: ../shared/notes/testing-stack.md §3.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from vscode_support import CHROMIUM, CODE_SERVER, EXAMPLE, ROOT, plain_python, skip_or_fail

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

PYTHON_STUB = Path(__file__).resolve().parent / "python_stub"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Seconds for the workbench to load, and for the server to start and answer.
LOAD_TIMEOUT_MS = 90_000
HINT_TIMEOUT_MS = 60_000
HOVER_TIMEOUT_MS = 10_000


@dataclass
class CodeServer:
    url: str
    folder: Path
    file: Path
    user_dir: Path
    log: Path
    python: str
    #: True when the Python-extension stand-in is installed and supplies the interpreter.
    python_stub: bool
    timings: dict[str, float]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"code-server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    pytest.fail(f"code-server not healthy after {timeout} s:\n{log.read_text()[-3000:]}")


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Ends code-server's process group (the extension host and the language server with it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _build_python_stub(out: Path) -> Path | None:
    """Packages tests/vscode/python_stub (a stand-in for ms-python.python that offers its
    environments API) into a .vsix; None when vsce is not installed here."""
    vsce = ROOT / "node_modules" / ".bin" / "vsce"
    if not vsce.exists():
        return None
    stage = out / "python_stub"
    shutil.copytree(PYTHON_STUB, stage)
    vsix = out / "python-stub.vsix"
    subprocess.run(
        [str(vsce), "package", "--no-dependencies", "--skip-license", "--out", str(vsix)],
        cwd=stage,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return vsix


def _require_tools() -> None:
    if not CODE_SERVER.exists():
        skip_or_fail(f"code-server not installed ({CODE_SERVER}): run scripts/setup_vscode_e2e.sh")
    if not CHROMIUM.exists():
        skip_or_fail(f"no Chromium at {CHROMIUM}: run scripts/setup_vscode_e2e.sh")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("python playwright is not installed in this environment")


@pytest.fixture
def code_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CodeServer]:
    _require_tools()  # before building the .vsix, so that a skip is quick
    vsix: Path = request.getfixturevalue("vsix")
    timings: dict[str, float] = {}
    base = tmp_path / "cs"
    user_dir, ext_dir, folder = base / "user", base / "ext", tmp_path / "project"
    for directory in (user_dir / "User", ext_dir, folder, base / "config", base / "data"):
        directory.mkdir(parents=True)
    target = folder / EXAMPLE.name
    shutil.copy(EXAMPLE, target)
    python = plain_python()
    stub = _build_python_stub(base)
    # The interpreter comes from the Python extension (its stand-in) when there is one, else
    # from gpulens.interpreter.
    interpreter = {"stubPython.path": python} if stub else {"gpulens.interpreter": [python]}
    settings = {
        "editor.inlayHints.enabled": "on",
        "workbench.startupEditor": "none",
        "security.workspace.trust.enabled": False,
        **interpreter,
        "gpulens.trace.server": os.environ.get("GPULENS_E2E_TRACE", "messages"),
        "editor.hover.delay": 150,
        "editor.minimap.enabled": False,
        "workbench.tips.enabled": False,
        "workbench.enableExperiments": False,
        "telemetry.telemetryLevel": "off",
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "extensions.ignoreRecommendations": True,
        "chat.disableAIFeatures": True,
        "window.restoreWindows": "none",
    }
    (user_dir / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        XDG_CONFIG_HOME=str(base / "config"),
        XDG_DATA_HOME=str(base / "data"),
        XDG_CACHE_HOME=str(base / "cache"),
    )
    dirs = ["--user-data-dir", str(user_dir), "--extensions-dir", str(ext_dir)]

    started = time.monotonic()
    to_install = [vsix] if stub is None else [stub, vsix]
    install = subprocess.run(
        [str(CODE_SERVER), *dirs]
        + [arg for path in to_install for arg in ("--install-extension", str(path))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert install.returncode == 0, f"--install-extension failed:\n{install.stdout}{install.stderr}"
    installed = [p.name for p in ext_dir.iterdir() if p.name.startswith("gpulens.gpulens")]
    assert installed, f"gpulens not in {ext_dir}: {install.stdout}{install.stderr}"
    timings["install_extension_s"] = time.monotonic() - started

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = base / "code-server.log"
    command = [
        str(CODE_SERVER),
        "--auth",
        "none",
        "--bind-addr",
        f"127.0.0.1:{port}",
        *dirs,
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        str(folder),
    ]
    started = time.monotonic()
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_healthy(url, proc, log, timeout=60)
        timings["code_server_ready_s"] = time.monotonic() - started
        yield CodeServer(url, folder, target, user_dir, log, python, stub is not None, timings)
    finally:
        _stop_group(proc)


def _view_lines(page: Page) -> list[str]:
    """The rendered lines of the editors, inlay hints included (as Monaco renders them)."""
    lines: list[str] = page.evaluate(
        "() => [...document.querySelectorAll('.monaco-editor .view-lines .view-line')]"
        ".map(e => e.textContent)"
    )
    return [line.replace("\u00a0", " ") for line in lines]


def _wait_view_text(page: Page, needle: str, timeout_ms: int) -> None:
    page.wait_for_function(
        "(needle) => [...document.querySelectorAll('.monaco-editor .view-lines')]"
        ".some(e => e.textContent.replace(/\\u00a0/g, ' ').includes(needle))",
        arg=needle,
        timeout=timeout_ms,
    )


#: Finds `token` in the rendered editor line that contains the anchor `line`; returns its centre.
TOKEN_CENTRE_JS = """
([lineText, token]) => {
  const norm = (s) => s.replace(/\\u00a0/g, ' ');
  const lines = [...document.querySelectorAll('.monaco-editor .view-lines .view-line')];
  const line = lines.find((l) => norm(l.textContent).includes(lineText));
  if (!line) return null;
  const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = norm(node.textContent).indexOf(token);
    if (at < 0) continue;
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + token.length);
    const box = range.getBoundingClientRect();
    return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  }
  return null;
}
"""


def _hover(page: Page, line: str, tokens: list[str], expect: list[re.Pattern[str]]) -> str:
    """Hovers each candidate token of `line` in turn until a hover shows all of `expect`."""
    seen: list[str] = []
    for token in tokens:
        page.keyboard.press("Escape")
        page.mouse.move(5, 5)
        page.wait_for_timeout(300)
        centre: dict[str, float] | None = page.evaluate(TOKEN_CENTRE_JS, [line, token])
        if centre is None:
            seen.append(f"{token!r}: not rendered")
            continue
        page.mouse.move(centre["x"] - 2, centre["y"])
        page.mouse.move(centre["x"], centre["y"], steps=3)
        deadline = time.monotonic() + HOVER_TIMEOUT_MS / 1000
        text = ""
        while time.monotonic() < deadline:
            hovers = page.locator(".monaco-hover")
            texts = [hovers.nth(i).inner_text() for i in range(hovers.count())]
            text = "\n".join(t for t in texts if t.strip())
            if text and all(p.search(text) for p in expect):
                return text
            page.wait_for_timeout(200)
        seen.append(f"{token!r}: {text[:300]!r}")
    pytest.fail(f"no hover matching {[p.pattern for p in expect]} on {line!r}; saw {seen}")


#: The Output panel shows the "gpulens" channel, with log lines in it.
SHOWS_GPULENS_LOG_JS = """
() => {
  const panel = document.querySelector('.part.panel');
  if (!panel) return false;
  const picked = [...panel.querySelectorAll('select')].some(
    (s) => s.selectedIndex >= 0 && s.options[s.selectedIndex].text.trim() === 'gpulens');
  const lines = [...panel.querySelectorAll('.view-lines')].some(
    (e) => e.textContent.replace(/\\u00a0/g, ' ').includes('[info]'));
  return picked && lines;
}
"""


def _run_command(page: Page, title: str) -> None:
    page.keyboard.press("F1")
    box = page.locator(".quick-input-widget input")
    box.wait_for(state="visible", timeout=10_000)
    box.fill(f">{title}")
    page.locator(".quick-input-list .monaco-list-row", has_text=title).first.wait_for(
        timeout=10_000
    )
    page.keyboard.press("Enter")


def _open_file(page: Page, name: str) -> None:
    page.keyboard.press("Control+P")
    box = page.locator(".quick-input-widget input")
    box.wait_for(state="visible", timeout=10_000)
    box.fill(name)
    page.locator(".quick-input-list .monaco-list-row", has_text=name).first.wait_for(timeout=30_000)
    page.keyboard.press("Enter")


def _save_artifacts(page: Page | None, server: CodeServer) -> Path:
    out = Path(tempfile.mkdtemp(prefix="gpulens-vscode-e2e-"))
    if page is not None:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(out / "screenshot.png"), full_page=True)
    with contextlib.suppress(OSError):
        shutil.copy(server.log, out / "code-server.log")
    for found in server.user_dir.glob("logs/**/*.log"):
        if "gpulens" in found.name or "exthost" in found.name.lower():
            with contextlib.suppress(OSError):
                shutil.copy(found, out / f"{found.parent.name}-{found.name}")
    return out


def _gpulens_log(server: CodeServer) -> str:
    logs = sorted(server.user_dir.glob("logs/**/*gpulens*.log"))
    return "\n".join(p.read_text(errors="replace") for p in logs)


def _wait_log_count(server: CodeServer, needle: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gpulens_log(server).count(needle) >= count:
            return
        time.sleep(0.25)
    pytest.fail(f"{needle!r} not {count}x in the gpulens log:\n{_gpulens_log(server)[-2000:]}")


def test_vscode_shows_iteration_hints_and_hovers(code_server: CodeServer) -> None:
    from playwright.sync_api import sync_playwright

    server = code_server
    timings = server.timings
    source = server.file.read_text(encoding="utf-8").splitlines()
    # Anchors that find the rendered lines; the inlay hints split the rest of their text.
    loader_line, loop_line = "DataLoader(dataset", "for epoch in range("
    assert any(loader_line in line for line in source)
    assert any(line.startswith(loop_line) for line in source)
    page: Page | None = None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            started = time.monotonic()
            page.goto(f"{server.url}/?folder={quote(str(server.folder))}")
            page.wait_for_selector(".monaco-workbench", timeout=LOAD_TIMEOUT_MS)
            timings["workbench_s"] = time.monotonic() - started

            started = time.monotonic()
            _open_file(page, server.file.name)
            _wait_view_text(page, "DataLoader(dataset", LOAD_TIMEOUT_MS)
            timings["open_file_s"] = time.monotonic() - started
            _wait_view_text(page, "12 it/epoch", HINT_TIMEOUT_MS)
            _wait_view_text(page, "60 it", HINT_TIMEOUT_MS)
            timings["open_to_hints_s"] = time.monotonic() - started
            lines = _view_lines(page)
            assert any("DataLoader(dataset" in x and "12 it/epoch" in x for x in lines), lines
            assert any(x.lstrip().startswith("for epoch") and "60 it" in x for x in lines), lines

            started = time.monotonic()
            batch = _hover(
                page,
                loader_line,
                ["BATCH_SIZE", "batch_size", "DataLoader"],
                [re.compile(r"batch", re.I), re.compile(r"\b100\b")],
            )
            loop = _hover(
                page,
                loop_line,
                ["EPOCHS", "range", "epoch", "for"],
                [re.compile(r"epoch", re.I), re.compile(r"\b60\b")],
            )
            timings["hovers_s"] = time.monotonic() - started
            assert "12" in batch, batch
            assert re.search(r"\b5\b", loop), loop

            page.keyboard.press("Escape")
            _run_command(page, "gpulens: Show Logs")
            page.locator(".part.panel").wait_for(state="visible", timeout=10_000)
            page.wait_for_function(SHOWS_GPULENS_LOG_JS, timeout=15_000)
            log = _gpulens_log(server)
            assert "activating" in log and "Server started" in log, log[-2000:]
            origin = "python extension" if server.python_stub else "setting"
            assert f"Interpreter ({origin}): {server.python}" in log, log[-2000:]

            # The restart command, a change of the Python extension's environment, and a change
            # of gpulens.interpreter each restart the server (the next step shows that the last
            # one answers).
            started = time.monotonic()
            _run_command(page, "gpulens: Restart Server")
            _wait_log_count(server, "Server started", 2)
            # (code-server does not watch the user settings file: use the folder's settings.)
            workspace_settings = server.folder / ".vscode" / "settings.json"
            workspace_settings.parent.mkdir(exist_ok=True)
            interpreter: dict[str, Any] = {}
            if server.python_stub:
                # Another active environment in the Python extension restarts the server on it.
                link = server.folder.parent / "venv-link" / "python3"
                link.parent.mkdir()
                link.symlink_to(server.python)
                interpreter["stubPython.path"] = str(link)
                workspace_settings.write_text(json.dumps(interpreter))
                _wait_log_count(server, f"Server started: {link} -m gpulens serve", 1)
            # gpulens.interpreter wins over the Python extension.
            interpreter["gpulens.interpreter"] = ["/usr/bin/env", server.python]
            workspace_settings.write_text(json.dumps(interpreter))
            _wait_log_count(server, f"Server started: /usr/bin/env {server.python}", 1)
            page.keyboard.press("Control+1")  # back to the editor
            _wait_view_text(page, "12 it/epoch", HINT_TIMEOUT_MS)
            timings["restarts_s"] = time.monotonic() - started

            # Settings reach the server (workspace/configuration) and the hints follow them.
            started = time.monotonic()
            workspace_settings.write_text(
                json.dumps({**interpreter, "gpulens.overrides": {"dataset_size": 2400}})
            )
            _wait_view_text(page, "24 it/epoch", HINT_TIMEOUT_MS)
            _wait_view_text(page, "120 it", HINT_TIMEOUT_MS)
            timings["settings_to_hints_s"] = time.monotonic() - started

            # gpulens.language: the hovers switch to Simplified Chinese.
            workspace_settings.write_text(json.dumps({**interpreter, "gpulens.language": "zh-cn"}))
            _wait_view_text(page, "12 it/epoch", HINT_TIMEOUT_MS)
            zh = _hover(
                page,
                loader_line,
                ["BATCH_SIZE", "batch_size"],
                [re.compile(r"[\u4e00-\u9fff]"), re.compile(r"\b100\b")],
            )
            assert "批" in zh, zh
        except BaseException:
            artifacts = _save_artifacts(page, server)
            print(f"\nvscode e2e failed: screenshot and logs in {artifacts}")
            print(f"gpulens log:\n{_gpulens_log(server)[-3000:]}")
            raise
        finally:
            browser.close()
    print(f"\nvscode e2e (server on {server.python}): " + json.dumps(_rounded(timings)))
    if os.environ.get("GPULENS_E2E_KEEP"):
        print(f"logs kept in {_save_artifacts(None, server)}")


def _rounded(timings: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in timings.items()}
