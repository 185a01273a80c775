"""The target GPU: a catalog of cards (name -> memory), size parsing, and the local GPU via NVML.

Pure Python (no torch, no pygls). ``resolve_gpu("RTX 4090")`` / ``resolve_gpu("24GiB")`` give a
:class:`GpuTarget`; :func:`local_gpus` reads the machine's GPUs through NVML when there are any.
"""

from gpulens.gpu.catalog import (
    DRIVER_RESERVED_BYTES,
    GpuSpec,
    GpuTarget,
    UnknownGpuError,
    catalog,
    parse_size,
    resolve_gpu,
)
from gpulens.gpu.nvml import (
    GpuProcess,
    LocalGpu,
    LocalGpuReport,
    NvmlBackend,
    NvmlError,
    local_gpus,
)

__all__ = [
    "DRIVER_RESERVED_BYTES",
    "GpuProcess",
    "GpuSpec",
    "GpuTarget",
    "LocalGpu",
    "LocalGpuReport",
    "NvmlBackend",
    "NvmlError",
    "UnknownGpuError",
    "catalog",
    "local_gpus",
    "parse_size",
    "resolve_gpu",
]
