"""Settings: workspace/configuration pull, didChangeConfiguration → refresh, initializationOptions,
launch.json script arguments."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from lsp_support import EXAMPLE, hints, labels, open_doc, tooltip
from lsprotocol import types
from pytest_lsp import LanguageClient

CLASSIC = EXAMPLE.read_text(encoding="utf-8")
UNKNOWN_SIZE = CLASSIC.replace(
    "dataset = TensorDataset(features, labels)", "dataset = MyData()"
).replace("NUM_SAMPLES = 1200", "NUM_SAMPLES = load_count()")

ARGPARSE = """import argparse
import torch
from torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch-size", type=int, default=100)
args = parser.parse_args()

dataset = TensorDataset(torch.randn(1200, 20), torch.zeros(1200))
loader = DataLoader(dataset, batch_size=args.batch_size)

model = torch.nn.Linear(20, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(args.epochs):
    for x, y in loader:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y.long())
        loss.backward()
        optimizer.step()
"""


async def change_settings(client: LanguageClient, section: dict[str, object]) -> None:
    before = client.inlay_hint_refreshes  # type: ignore[attr-defined]
    client.set_configuration(section, section="gpulens")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    for _ in range(500):
        if client.inlay_hint_refreshes > before:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no workspace/inlayHint/refresh after a settings change")


async def test_toggles_refresh_and_hide_hints(client: LanguageClient) -> None:
    uri = open_doc(client, CLASSIC, uri=EXAMPLE.as_uri())
    assert labels(await hints(client, uri)) == ["12 it/epoch", "60 it"]
    await change_settings(client, {"inlayHints": {"perEpoch": False}})
    assert labels(await hints(client, uri)) == ["60 it"]
    await change_settings(client, {"inlayHints": {"perEpoch": True, "total": False}})
    assert labels(await hints(client, uri)) == ["12 it/epoch"]


async def test_overrides_setting(client: LanguageClient) -> None:
    uri = open_doc(client, UNKNOWN_SIZE)
    assert labels(await hints(client, uri))[:1] == ["? it/epoch"]
    await change_settings(client, {"overrides": {"dataset_size": 2400}})
    assert labels(await hints(client, uri)) == ["24 it/epoch", "120 it"]


DDP = CLASSIC.replace(
    "from torch.utils.data import DataLoader, TensorDataset",
    "from torch.utils.data import DataLoader, DistributedSampler, TensorDataset",
).replace(
    "loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)",
    "loader = DataLoader(dataset, batch_size=BATCH_SIZE, sampler=DistributedSampler(dataset))",
)


async def test_world_size_setting(client: LanguageClient) -> None:
    uri = open_doc(client, DDP)
    await change_settings(client, {"worldSize": 4})
    assert labels(await hints(client, uri)) == ["3 it/epoch", "15 it"]


async def test_script_args_setting(client: LanguageClient) -> None:
    uri = open_doc(client, ARGPARSE)
    assert labels(await hints(client, uri)) == ["12 it/epoch", "60 it"]
    await change_settings(client, {"scriptArgs": ["--epochs", "2", "--batch-size=400"]})
    result = await hints(client, uri)
    assert labels(result) == ["3 it/epoch", "6 it"]
    assert "--epochs 2" in tooltip(result[0])


@pytest.mark.parametrize(
    "client",
    [
        {
            "capabilities": "neovim",
            "initialization_options": {"overrides": {"dataset_size": 600}, "language": "zh-cn"},
        }
    ],
    indirect=True,
)
async def test_initialization_options(client: LanguageClient) -> None:
    uri = open_doc(client, UNKNOWN_SIZE)
    result = await hints(client, uri)
    assert labels(result) == ["6 it/epoch", "30 it"]
    assert "每个 epoch" in tooltip(result[0])


def _workspace(tmp_path: Path, launch: str) -> Path:
    (tmp_path / ".vscode").mkdir()
    (tmp_path / ".vscode" / "launch.json").write_text(launch, encoding="utf-8")
    script = tmp_path / "train.py"
    script.write_text(ARGPARSE, encoding="utf-8")
    return script


LAUNCH = """{
    // VS Code writes comments and trailing commas in launch.json
    "version": "0.2.0",
    "configurations": [
        {"name": "Other", "type": "debugpy", "request": "launch",
         "program": "${workspaceFolder}/other.py", "args": ["--epochs", "99"]},
        {
            "name": "Train", /* the one for train.py */
            "type": "debugpy",
            "request": "launch",
            "program": "${workspaceFolder}/train.py",
            "args": ["--epochs", "3", "--batch-size", "200",],
        },
    ],
}
"""


@pytest.fixture
def launch_workspace(tmp_path: Path) -> Path:
    return _workspace(tmp_path, LAUNCH)


async def test_launch_json_args(client: LanguageClient, launch_workspace: Path) -> None:
    uri = open_doc(client, ARGPARSE, uri=launch_workspace.as_uri())
    result = await hints(client, uri)
    assert labels(result) == ["6 it/epoch", "18 it"]
    assert "launch.json" in tooltip(result[0]) and "Train" in tooltip(result[0])


async def test_setting_args_win_over_launch_json(
    client: LanguageClient, launch_workspace: Path
) -> None:
    uri = open_doc(client, ARGPARSE, uri=launch_workspace.as_uri())
    assert labels(await hints(client, uri)) == ["6 it/epoch", "18 it"]
    await change_settings(client, {"scriptArgs": ["--epochs", "1"]})
    assert labels(await hints(client, uri)) == ["12 it/epoch", "12 it"]


async def test_launch_json_file_variable(client: LanguageClient, tmp_path: Path) -> None:
    launch = json.dumps(
        {
            "configurations": [
                {
                    "name": "Current file",
                    "request": "launch",
                    "program": "${file}",
                    "args": ["--epochs=7"],
                }
            ]
        }
    )
    script = _workspace(tmp_path, launch)
    uri = open_doc(client, ARGPARSE, uri=script.as_uri())
    assert labels(await hints(client, uri)) == ["12 it/epoch", "84 it"]
