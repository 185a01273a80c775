"""The local GPU path of the OOM check: ``gpulens.gpu`` empty, NVML answered by the fake NVML
test double the server selects from ``GPULENS_TEST_FAKE_NVML`` (never set outside tests)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator

import pytest_lsp
from lsp_support import REPO, diagnostics, find, hover_at, open_doc
from lsprotocol import types
from oom_support import BIG
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from test_lsp_oom import oom_diags, wait_oom

GIB = 1 << 30
FAKE_ENV = "GPULENS_TEST_FAKE_NVML"
#: A 12 GiB RTX 3060 with 3 GiB held by another process (and the driver).
RTX_3060 = {
    "driver": "580.00",
    "gpus": [
        {
            "name": "NVIDIA GeForce RTX 3060",
            "total": 12 * GIB,
            "used": 3 * GIB,
            "free": 9 * GIB,
            "processes": [[999_999, int(2.5 * GIB)]],
        }
    ],
}
NO_DRIVER = {"error": "NVML Shared Library Not Found: no NVIDIA driver?"}


def server(fake: dict[str, object]) -> ClientServerConfig:
    env = {**os.environ, FAKE_ENV: json.dumps(fake)}
    return ClientServerConfig(server_command=[sys.executable, "-m", "gpulens.lsp"], server_env=env)


async def start(client: LanguageClient) -> None:
    caps = client_capabilities("visual-studio-code")
    if caps.workspace is not None:
        caps.workspace.inlay_hint = types.InlayHintWorkspaceClientCapabilities(refresh_support=True)

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(client: LanguageClient, params: types.RegistrationParams) -> None:
        return None

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def inlay_hint_refresh(client: LanguageClient, params: None) -> None:
        return None

    client.set_configuration({"gpu": ""}, section="gpulens")
    await client.initialize_session(
        types.InitializeParams(
            capabilities=caps,
            root_uri=REPO.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=REPO.as_uri(), name=REPO.name)],
        )
    )


@pytest_lsp.fixture(config=server(RTX_3060))
async def local_client(lsp_client: LanguageClient) -> AsyncIterator[LanguageClient]:
    await start(lsp_client)
    yield lsp_client
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=server(NO_DRIVER))
async def no_gpu_client(lsp_client: LanguageClient) -> AsyncIterator[LanguageClient]:
    await start(lsp_client)
    yield lsp_client
    await lsp_client.shutdown_session()


async def test_local_gpu_from_nvml(local_client: LanguageClient) -> None:
    uri = open_doc(local_client, BIG)
    found = await wait_oom(local_client, uri)
    assert {d.severity for d in found} == {types.DiagnosticSeverity.Error}
    assert "RTX 3060: " in found[0].message  # NVML's name without NVIDIA / GeForce
    text = await hover_at(local_client, uri, find(BIG, "batch_size=BATCH_SIZE"))
    assert text is not None
    assert "#### Target GPU: RTX 3060" in text
    assert "local GPU 0 (NVML)" in text
    assert "Other processes and the driver hold 3 GiB of it now." in text
    assert "12 GiB on the card" in text


async def test_no_gpu_no_setting(no_gpu_client: LanguageClient) -> None:
    uri = open_doc(no_gpu_client, BIG)
    await diagnostics(no_gpu_client, uri)
    await asyncio.sleep(0.3)  # the OOM check would have been published by now
    assert oom_diags(list(no_gpu_client.diagnostics[uri])) == []
    text = await hover_at(no_gpu_client, uri, find(BIG, "batch_size=BATCH_SIZE"))
    assert text is not None
    assert (
        "No local NVIDIA GPU found (NVML Shared Library Not Found: no NVIDIA driver?); "
        "set `gpulens.gpu` to check a card"
    ) in text
    assert not no_gpu_client.messages  # nothing to pop up: no GPU is normal
