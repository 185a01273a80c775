"""Both ways of starting the server speak LSP: ``gpulens serve`` and ``python -m gpulens.lsp``."""

from __future__ import annotations

import sys

import pytest
from lsp_support import EXAMPLE

BENCH = str(EXAMPLE.parents[1] / "bench")
sys.path.insert(0, BENCH)
from lsp_latency import hint_params, labels, start  # noqa: E402

while BENCH in sys.path:
    sys.path.remove(BENCH)


@pytest.mark.parametrize(
    "command",
    [[sys.executable, "-m", "gpulens", "serve"], [sys.executable, "-m", "gpulens.lsp"]],
    ids=["gpulens-serve", "python-m-gpulens.lsp"],
)
def test_entrypoint_answers_inlay_hints(command: list[str]) -> None:
    client = start(sys.executable, EXAMPLE.parents[1], command=command)
    try:
        text = EXAMPLE.read_text(encoding="utf-8")
        client.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": EXAMPLE.as_uri(),
                    "languageId": "python",
                    "version": 1,
                    "text": text,
                }
            },
        )
        result = client.request("textDocument/inlayHint", hint_params(EXAMPLE.as_uri(), 100))
        assert labels(result) == ["12 it/epoch", "60 it"]
    finally:
        client.close()
