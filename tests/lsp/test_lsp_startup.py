"""Start-up (spawn → first inlay hints within a second): what the server imports before its
first hints, the cyclic collector around the imports, the editors' ``gpulens serve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

#: Modules the first inlay hints do not need: imported on first use (the OOM check runs after
#: the first hints are sent; hovers and code actions come later).
DEFERRED = (
    "gpulens.lsp.oom",
    "gpulens.lsp.fixes",
    "gpulens.lsp.hovers",
    "gpulens.lsp.gpu",
    "gpulens.gpu.nvml",
    "gpulens.gpu.catalog",
    "gpulens.estimate.fit",
    "gpulens.gpucheck",
    "pynvml",
)


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        check=True,
        timeout=60,
    )
    return done.stdout


def test_server_import_leaves_out_what_the_first_hints_do_not_need() -> None:
    out = _python("import json, sys, gpulens.lsp.server; print(json.dumps(sorted(sys.modules)))")
    loaded = set(json.loads(out))
    assert "gpulens.lsp.hints" in loaded
    assert not loaded & set(DEFERRED), sorted(loaded & set(DEFERRED))


def test_serve_goes_to_the_server_without_the_cli_parser() -> None:
    # `gpulens serve` (the VS Code client's command) must not build the parser, whose GPU
    # options import the GPU check.
    code = (
        "import json, sys\n"
        "import gpulens.cli as cli\n"
        "import gpulens.lsp.server as server\n"
        "server.main = lambda argv=None: None\n"
        "assert cli.main(['serve']) == 0\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = set(json.loads(_python(code)))
    assert not loaded & set(DEFERRED), sorted(loaded & set(DEFERRED))


def test_serve_help_still_goes_through_the_parser() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpulens", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "usage: gpulens serve" in done.stdout


def test_collector_is_back_on_after_start_up() -> None:
    # The entry points turn the collector off while the modules come in; main() freezes them
    # and turns it back on.
    code = (
        "import gc\n"
        "gc.disable()\n"
        "from gpulens.lsp import server\n"
        "server._tune_gc()\n"
        "print(gc.isenabled(), gc.get_threshold()[0], gc.get_freeze_count() > 0)\n"
    )
    assert _python(code).split() == ["True", "10000", "True"]


def test_show_snippet_command_is_the_one_the_code_actions_send() -> None:
    from gpulens.lsp import oom, server

    assert server.SHOW_SNIPPET == oom.SHOW_SNIPPET
    assert oom.SHOW_SNIPPET in server.server.protocol.fm.commands


def test_chinese_phrase_tables_are_built_on_first_use() -> None:
    # Some 600 regular expressions (about 80 ms): an English session never needs them, and a
    # Chinese one not before its first localized text.
    code = (
        "import gpulens.lsp.server\n"
        "from gpulens.lsp import reasons_zh\n"
        "print(reasons_zh.phrases.cache_info().currsize)\n"
        "print(reasons_zh.localize('syntax error at line 3', 'en'))\n"
        "print(reasons_zh.phrases.cache_info().currsize)\n"
        "print(reasons_zh.localize('syntax error at line 3', 'zh-cn'))\n"
        "print(reasons_zh.phrases.cache_info().currsize)\n"
    )
    assert _python(code).splitlines() == [
        "0",
        "syntax error at line 3",
        "0",
        "第 3 行有语法错误",
        "1",
    ]
