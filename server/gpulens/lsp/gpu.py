"""The GPU the OOM check targets: the ``gpulens.gpu`` setting resolved through the catalog, or
the local GPU through NVML when the setting is empty.

Never raises: an unknown card name becomes :attr:`GpuChoice.error` (with the catalog's near
matches), no GPU becomes :attr:`GpuChoice.reason`.

Tests select a fake NVML with the environment variable :data:`FAKE_NVML_ENV` (a JSON
description of the GPUs, see :class:`EnvFakeNvml`); nothing else reads it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from gpulens.gpu.catalog import GpuTarget, UnknownGpuError, resolve_gpu
from gpulens.gpu.nvml import GpuProcess, LocalGpu, NvmlBackend, NvmlError, local_gpus

__all__ = [
    "FAKE_NVML_ENV",
    "EnvFakeNvml",
    "GpuChoice",
    "choose_gpu",
]

#: Test double selector: ``{"gpus": [{"name", "total", "free", "used", "processes":
#: [[pid, bytes]]}], "error": "..."}``. Only tests set it.
FAKE_NVML_ENV = "GPULENS_TEST_FAKE_NVML"
#: How long a poll of the local GPU is reused (other processes' memory changes slowly; a
#: diagnostic should not flicker on every keystroke).
LOCAL_POLL_TTL_S = 15.0


class EnvFakeNvml:
    """A fake NVML backend (test double) built from :data:`FAKE_NVML_ENV`'s JSON."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec
        self._gpus: list[dict[str, Any]] = [g for g in spec.get("gpus", []) if isinstance(g, dict)]

    def init(self) -> None:
        error = self._spec.get("error")
        if error:
            raise NvmlError(str(error))

    def driver_version(self) -> str | None:
        value = self._spec.get("driver")
        return str(value) if value is not None else None

    def device_count(self) -> int:
        return len(self._gpus)

    def name(self, index: int) -> str:
        return str(self._gpus[index].get("name", "Fake GPU"))

    def memory(self, index: int) -> tuple[int, int, int]:
        gpu = self._gpus[index]
        total = int(gpu.get("total", 0))
        used = int(gpu.get("used", 0))
        free = int(gpu.get("free", total - used))
        return total, free, used

    def processes(self, index: int) -> list[GpuProcess]:
        out: list[GpuProcess] = []
        for item in self._gpus[index].get("processes", []):
            if isinstance(item, list) and len(item) == 2:
                out.append(GpuProcess(int(item[0]), None if item[1] is None else int(item[1])))
        return out


def _env_backend() -> NvmlBackend | None:
    raw = os.environ.get(FAKE_NVML_ENV)
    if not raw:
        return None
    try:
        spec = json.loads(raw)
    except ValueError:
        spec = {"error": f"{FAKE_NVML_ENV} is not valid JSON"}
    return EnvFakeNvml(spec if isinstance(spec, dict) else {})


@dataclass(frozen=True)
class GpuChoice:
    """What the OOM check runs against.

    ``target`` is set for a catalog card or a size from the setting; ``local`` for the local
    GPU (then ``target`` is None); ``error`` for a setting that names no known card (with near
    matches); ``reason`` when the setting is empty and there is no local GPU.
    """

    setting: str
    target: GpuTarget | None = None
    local: LocalGpu | None = None
    local_count: int = 0
    error: str | None = None
    reason: str | None = None

    @property
    def name(self) -> str | None:
        if self.target is not None:
            return self.target.name
        return self.local.name if self.local is not None else None

    @property
    def usable_input(self) -> bool:
        return self.target is not None or self.local is not None


_LOCK = threading.Lock()
_POLL: tuple[float, int, Any] | None = None  # (time, id(backend), LocalGpuReport)
_ENV_BACKEND: tuple[str, NvmlBackend | None] | None = None


def _backend() -> NvmlBackend | None:
    global _ENV_BACKEND
    raw = os.environ.get(FAKE_NVML_ENV, "")
    if _ENV_BACKEND is None or _ENV_BACKEND[0] != raw:
        _ENV_BACKEND = (raw, _env_backend())
    return _ENV_BACKEND[1]


def _poll(fresh: bool) -> Any:
    global _POLL
    with _LOCK:
        backend = _backend()
        now = time.monotonic()
        if (
            not fresh
            and _POLL is not None
            and _POLL[1] == id(backend)
            and now - _POLL[0] < LOCAL_POLL_TTL_S
        ):
            return _POLL[2]
        report = local_gpus(backend)
        _POLL = (now, id(backend), report)
        return report


def choose_gpu(setting: str, *, fresh: bool = False) -> GpuChoice:
    """Resolve ``gpulens.gpu`` (``""`` or ``local``: the local GPU; ``local:N``: GPU N).
    ``fresh`` polls NVML again even when a recent poll is cached (after a settings change)."""
    text = setting.strip()
    index = 0
    local = re.fullmatch(r"local(?::(\d+))?", text, re.IGNORECASE)
    if local is not None:  # as the CLI's --gpu: this machine's GPU, the first or number N
        index = int(local.group(1) or 0)
    elif text:
        try:
            return GpuChoice(text, target=resolve_gpu(text))
        except UnknownGpuError as exc:
            return GpuChoice(text, error=f"gpulens.gpu: {exc}")
        except (ValueError, TypeError) as exc:  # never let a setting take the server down
            return GpuChoice(text, error=f"gpulens.gpu: {exc}")
    try:
        report = _poll(fresh)
    except Exception as exc:  # NVML misbehaving is not the user's problem
        return GpuChoice("", reason=f"NVML failed ({type(exc).__name__})")
    gpus: list[LocalGpu] = list(report.gpus)
    if not gpus:
        return GpuChoice(text, reason=report.reason or "NVML sees no GPU")
    if index:
        chosen = next((g for g in gpus if g.index == index), None)
        if chosen is None:
            return GpuChoice(
                text, error=f"gpulens.gpu: no local GPU {index} (NVML sees {len(gpus)})"
            )
        return GpuChoice(text, local=chosen, local_count=len(gpus))
    # The device a script's `cuda` means: the first one (CUDA_VISIBLE_DEVICES is the script's).
    return GpuChoice(text, local=gpus[0], local_count=len(gpus))
