"""FakeNvml: a test double of gpulens.gpu.nvml.NvmlBackend (no driver, no pynvml)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gpulens.gpu.nvml import GpuProcess, NvmlError

MIB = 1 << 20


@dataclass
class FakeDevice:
    name: str
    total: int
    used: int
    processes: list[GpuProcess] = field(default_factory=list)
    broken: bool = False


@dataclass
class FakeNvml:
    """Answers from a list of :class:`FakeDevice`; ``fail_init`` makes ``init`` raise, as on a
    machine without the NVIDIA driver. Counts calls, to check NVML is initialised once."""

    devices: list[FakeDevice] = field(default_factory=list)
    fail_init: str | None = None
    fail_count: bool = False
    init_calls: int = 0
    polls: int = 0

    def init(self) -> None:
        self.init_calls += 1
        if self.fail_init is not None:
            raise NvmlError(self.fail_init)

    def driver_version(self) -> str | None:
        return "580.159.04"

    def device_count(self) -> int:
        if self.fail_count:
            raise RuntimeError("NVML_ERROR_UNKNOWN")
        return len(self.devices)

    def name(self, index: int) -> str:
        self.polls += 1
        dev = self.devices[index]
        if dev.broken:
            raise NvmlError("NVML_ERROR_GPU_IS_LOST")
        return dev.name

    def memory(self, index: int) -> tuple[int, int, int]:
        dev = self.devices[index]
        return dev.total, dev.total - dev.used, dev.used

    def processes(self, index: int) -> list[GpuProcess]:
        return list(self.devices[index].processes)


def h200(used_mib: int = 615, processes: list[GpuProcess] | None = None) -> FakeDevice:
    """An H200 as gpu-truth saw it (143,771 MiB; 615 MiB used when idle)."""
    return FakeDevice("NVIDIA H200", 143_771 * MIB, used_mib * MIB, processes or [])


def rtx4090(used_mib: int = 400, processes: list[GpuProcess] | None = None) -> FakeDevice:
    return FakeDevice("NVIDIA GeForce RTX 4090", 24_564 * MIB, used_mib * MIB, processes or [])
