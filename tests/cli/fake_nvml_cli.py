"""NVML test doubles for the CLI tests (installed as gpulens.gpu.nvml's default backend)."""

from __future__ import annotations

from gpulens.gpu.nvml import GpuProcess

MIB = 1 << 20


class NoGpu:
    """A machine whose NVML starts but sees no GPU."""

    def init(self) -> None:
        pass

    def driver_version(self) -> str | None:
        return None

    def device_count(self) -> int:
        return 0

    def name(self, index: int) -> str:
        raise IndexError(index)

    def memory(self, index: int) -> tuple[int, int, int]:
        raise IndexError(index)

    def processes(self, index: int) -> list[GpuProcess]:
        return []


class OneGpu(NoGpu):
    """One idle RTX 4090."""

    def device_count(self) -> int:
        return 1

    def name(self, index: int) -> str:
        return "NVIDIA GeForce RTX 4090"

    def memory(self, index: int) -> tuple[int, int, int]:
        total, used = 24_564 * MIB, 400 * MIB
        return total, total - used, used
