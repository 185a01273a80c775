"""pytest-lsp fixture: the gpulens server over stdio, as an editor runs it.

``client`` starts ``python -m gpulens.lsp`` and initializes it like VS Code does. Tests that need
other initialize parameters parametrize it indirectly with a dict: ``locale``,
``initialization_options``, ``configuration`` (the ``gpulens`` section the client answers
``workspace/configuration`` with), ``root`` (workspace folder path), ``capabilities`` (a client
name known to pytest-lsp, e.g. ``"neovim"``), ``resolve`` (the client resolves inlay-hint
tooltips lazily).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

REPO = Path(__file__).resolve().parents[2]


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "gpulens.lsp"]),
)
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest) -> AsyncIterator[None]:
    param: dict[str, Any] = getattr(request, "param", None) or {}
    root = Path(param.get("root", REPO))
    caps = client_capabilities(param.get("capabilities", "visual-studio-code"))
    if caps.workspace is not None and param.get("refresh", True):
        # Real VS Code supports workspace/inlayHint/refresh; pytest-lsp's recorded
        # capabilities predate it.
        caps.workspace.inlay_hint = types.InlayHintWorkspaceClientCapabilities(refresh_support=True)
    if param.get("resolve") and caps.text_document is not None:
        # As VS Code and Neovim: tooltips are asked for when the user points at a hint.
        caps.text_document.inlay_hint = types.InlayHintClientCapabilities(
            resolve_support=types.ClientInlayHintResolveOptions(properties=["tooltip"])
        )
    lsp_client.inlay_hint_refreshes = 0  # type: ignore[attr-defined]

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(client: LanguageClient, params: types.RegistrationParams) -> None:
        return None

    @lsp_client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def inlay_hint_refresh(client: LanguageClient, params: None) -> None:
        client.inlay_hint_refreshes += 1  # type: ignore[attr-defined]

    if "configuration" in param:
        lsp_client.set_configuration(param["configuration"], section="gpulens")
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=caps,
            locale=param.get("locale"),
            initialization_options=param.get("initialization_options"),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
        )
    )
    yield
    await lsp_client.shutdown_session()
