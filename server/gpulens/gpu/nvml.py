"""The local GPUs through NVML (nvidia-ml-py, module ``pynvml``), when there are any.

No GPU, no driver, no ``pynvml`` or an NVML error is normal: :func:`local_gpus` then returns an
empty list and a ``reason`` in words, never an exception. NVML is initialised once per process
(the first call) and kept; a poll (memory and process list per device) costs about 60 µs on an
H200 (gpu-truth ``util_probe``), so callers may poll on demand.

The NVML calls go through a small :class:`NvmlBackend` protocol so that tests inject a double
(``tests/gpu/fake_nvml.py``: ``FakeNvml``) instead of a driver.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "GpuProcess",
    "LocalGpu",
    "LocalGpuReport",
    "NvmlBackend",
    "NvmlError",
    "PynvmlBackend",
    "local_gpus",
    "reset",
]


class NvmlError(Exception):
    """Any failure inside a backend (the pynvml backend wraps ``pynvml.NVMLError`` in it)."""


@dataclass(frozen=True)
class GpuProcess:
    """A process holding memory on a GPU; ``used`` is None where NVML cannot tell (some
    containers and Windows WDDM report no per-process figure)."""

    pid: int
    used: int | None


@dataclass(frozen=True)
class LocalGpu:
    """One GPU of this machine, as NVML saw it at the poll.

    ``total`` is NVML's total (what ``nvidia-smi`` shows); ``used`` = total - free, which
    includes the driver's own reservation on an idle GPU; ``used_by_others`` is ``used`` less
    what this process holds: the memory a training script started now could not have.
    """

    index: int
    name: str
    total: int
    free: int
    used: int
    used_by_others: int
    processes: list[GpuProcess] = field(default_factory=list)
    uuid: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "total": self.total,
            "free": self.free,
            "used": self.used,
            "used_by_others": self.used_by_others,
            "processes": [{"pid": p.pid, "used": p.used} for p in self.processes],
        }


@dataclass(frozen=True)
class LocalGpuReport:
    """The poll's result: the GPUs (possibly none) and, when none, why."""

    gpus: list[LocalGpu]
    reason: str | None = None
    driver: str | None = None


class NvmlBackend(Protocol):
    """The NVML calls gpulens makes. Each may raise :class:`NvmlError` (or anything: the
    caller treats every exception as 'NVML failed')."""

    def init(self) -> None: ...

    def driver_version(self) -> str | None: ...

    def device_count(self) -> int: ...

    def name(self, index: int) -> str: ...

    def memory(self, index: int) -> tuple[int, int, int]:
        """(total, free, used) bytes."""
        ...

    def processes(self, index: int) -> list[GpuProcess]: ...


class PynvmlBackend:
    """:class:`NvmlBackend` over nvidia-ml-py. Constructing it imports nothing; ``init`` imports
    ``pynvml`` and calls ``nvmlInit`` (raises :class:`NvmlError` with a reason)."""

    def __init__(self) -> None:
        self._nv: Any = None
        self._handles: dict[int, Any] = {}

    def init(self) -> None:
        try:
            import pynvml
        except ImportError as exc:
            raise NvmlError(
                "the NVML bindings (nvidia-ml-py) are not installed in gpulens' environment"
            ) from exc
        try:
            pynvml.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
            raise NvmlError(f"NVML could not start ({_describe(exc)}): no NVIDIA driver?") from exc
        self._nv = pynvml

    def _handle(self, index: int) -> Any:
        h = self._handles.get(index)
        if h is None:
            h = self._nv.nvmlDeviceGetHandleByIndex(index)
            self._handles[index] = h
        return h

    def driver_version(self) -> str | None:
        v = self._nv.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else str(v)

    def device_count(self) -> int:
        return int(self._nv.nvmlDeviceGetCount())

    def name(self, index: int) -> str:
        n = self._nv.nvmlDeviceGetName(self._handle(index))
        return n.decode() if isinstance(n, bytes) else str(n)

    def memory(self, index: int) -> tuple[int, int, int]:
        info = self._nv.nvmlDeviceGetMemoryInfo(self._handle(index))
        return int(info.total), int(info.free), int(info.used)

    def processes(self, index: int) -> list[GpuProcess]:
        h = self._handle(index)
        seen: dict[int, GpuProcess] = {}
        for getter in (
            "nvmlDeviceGetComputeRunningProcesses",
            "nvmlDeviceGetGraphicsRunningProcesses",
        ):
            try:
                procs = getattr(self._nv, getter)(h)
            except Exception:
                continue
            for p in procs:
                used = getattr(p, "usedGpuMemory", None)
                pid = int(p.pid)
                if pid not in seen or seen[pid].used is None:
                    seen[pid] = GpuProcess(pid, int(used) if isinstance(used, int) else None)
        return list(seen.values())


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_LOCK = threading.Lock()
_DEFAULT: NvmlBackend | None = None
_DEFAULT_ERROR: str | None = None
_STARTED: set[int] = set()  # id() of injected backends already initialised


def reset() -> None:
    """Forget the default backend (tests; a driver installed while the server runs)."""
    global _DEFAULT, _DEFAULT_ERROR
    with _LOCK:
        _DEFAULT = None
        _DEFAULT_ERROR = None
        _STARTED.clear()


def _ready(backend: NvmlBackend | None) -> tuple[NvmlBackend | None, str | None]:
    """The backend, initialised once, or the reason it cannot be."""
    global _DEFAULT, _DEFAULT_ERROR
    with _LOCK:
        if backend is None:
            if _DEFAULT is None and _DEFAULT_ERROR is None:
                candidate = PynvmlBackend()
                try:
                    candidate.init()
                    _DEFAULT = candidate
                except Exception as exc:
                    _DEFAULT_ERROR = str(exc) if isinstance(exc, NvmlError) else _describe(exc)
            return _DEFAULT, _DEFAULT_ERROR
        if id(backend) not in _STARTED:
            try:
                backend.init()
            except Exception as exc:
                return None, str(exc) if isinstance(exc, NvmlError) else _describe(exc)
            _STARTED.add(id(backend))
        return backend, None


def local_gpus(backend: NvmlBackend | None = None) -> LocalGpuReport:
    """Poll the local GPUs: name, total/free/used memory and the processes on each.

    ``backend`` None uses nvidia-ml-py (initialised on the first call, kept after). A device
    that fails to answer is left out (the reason says so when none is left)."""
    nv, why = _ready(backend)
    if nv is None:
        return LocalGpuReport([], why or "NVML is not available")
    try:
        count = nv.device_count()
    except Exception as exc:
        return LocalGpuReport([], f"NVML could not count the GPUs ({_describe(exc)})")
    try:
        driver = nv.driver_version()
    except Exception:
        driver = None
    if count <= 0:
        return LocalGpuReport([], "NVML sees no GPU on this machine", driver)
    me = os.getpid()
    gpus: list[LocalGpu] = []
    errors: list[str] = []
    for i in range(count):
        try:
            name = nv.name(i)
            total, free, used = nv.memory(i)
        except Exception as exc:
            errors.append(f"GPU {i}: {_describe(exc)}")
            continue
        try:
            procs = nv.processes(i)
        except Exception:
            procs = []
        used = max(0, min(total, used if used else total - free))
        mine = sum(p.used or 0 for p in procs if p.pid == me)
        gpus.append(
            LocalGpu(
                index=i,
                name=name,
                total=total,
                free=free,
                used=used,
                used_by_others=max(0, used - mine),
                processes=procs,
            )
        )
    if not gpus:
        return LocalGpuReport([], "NVML could not read any GPU: " + "; ".join(errors), driver)
    return LocalGpuReport(gpus, None, driver)
