"""The local-GPU path with FakeNvml (a test double): memory, other processes, no GPU, errors."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fake_nvml import MIB, FakeDevice, FakeNvml, h200, rtx4090
from gpulens.estimate.fit import assess_fit, usable_memory
from gpulens.estimate.memory import estimate_training_memory, torchvision_costs
from gpulens.gpu import nvml
from gpulens.gpu.nvml import GpuProcess, NvmlError, PynvmlBackend, local_gpus


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    nvml.reset()
    yield
    nvml.reset()


def test_reads_name_and_memory() -> None:
    fake = FakeNvml([h200()])
    report = local_gpus(fake)
    assert report.reason is None and report.driver == "580.159.04"
    [gpu] = report.gpus
    assert gpu.name == "NVIDIA H200" and gpu.index == 0
    assert gpu.total == 143_771 * MIB
    assert gpu.used == 615 * MIB and gpu.free == gpu.total - gpu.used
    assert gpu.used_by_others == 615 * MIB  # the driver's own share counts as taken


def test_initialises_once() -> None:
    fake = FakeNvml([h200()])
    for _ in range(5):
        local_gpus(fake)
    assert fake.init_calls == 1 and fake.polls == 5


def test_other_processes_reduce_usable_memory() -> None:
    idle = local_gpus(FakeNvml([rtx4090(used_mib=400)])).gpus[0]
    busy_procs = [GpuProcess(4242, 8000 * MIB), GpuProcess(4343, None)]
    busy = local_gpus(FakeNvml([rtx4090(used_mib=8400, processes=busy_procs)])).gpus[0]
    assert busy.used_by_others == 8400 * MIB
    assert [p.pid for p in busy.processes] == [4242, 4343]
    ctx = 762 * MIB
    u_idle, _ = usable_memory(idle, ctx)
    u_busy, how = usable_memory(busy, ctx)
    assert u_idle - u_busy == 8000 * MIB
    assert "in use" in how and "GPU 0" in how
    # a model that fits the idle card is at risk / does not fit the busy one
    model = torchvision_costs("resnet50")
    assert model is not None
    est = estimate_training_memory(model, 128, "fp32", "SGD")
    assert assess_fit(est, idle).usage_ratio < assess_fit(est, busy).usage_ratio


def test_own_process_is_not_counted_as_others() -> None:
    me = GpuProcess(os.getpid(), 2000 * MIB)
    gpu = local_gpus(FakeNvml([rtx4090(used_mib=2400, processes=[me])])).gpus[0]
    assert gpu.used_by_others == 400 * MIB


def test_several_gpus_and_a_broken_one() -> None:
    broken = FakeDevice("NVIDIA H200", 1, 0, broken=True)
    report = local_gpus(FakeNvml([h200(), broken, rtx4090()]))
    assert [g.index for g in report.gpus] == [0, 2]
    report = local_gpus(FakeNvml([broken]))
    assert report.gpus == [] and report.reason is not None and "GPU_IS_LOST" in report.reason


def test_no_gpu_is_normal() -> None:
    report = local_gpus(FakeNvml([]))
    assert report.gpus == [] and report.reason == "NVML sees no GPU on this machine"


def test_no_driver_is_normal() -> None:
    fake = FakeNvml([h200()], fail_init="NVML could not start (LibraryNotFound)")
    report = local_gpus(fake)
    assert report.gpus == [] and report.reason is not None and "LibraryNotFound" in report.reason


def test_nvml_errors_never_escape() -> None:
    report = local_gpus(FakeNvml([h200()], fail_count=True))
    assert report.gpus == [] and "NVML_ERROR_UNKNOWN" in (report.reason or "")


def test_real_backend_on_this_machine_never_raises() -> None:
    """CI has no GPU: pynvml is installed (a dependency) but the driver library is absent."""
    report = local_gpus()
    assert isinstance(report.gpus, list)
    if not report.gpus:
        assert report.reason
    assert local_gpus() == report or report.gpus  # the failure is remembered, not retried


def test_missing_pynvml_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pynvml(name: str, *args: object, **kwargs: object) -> object:
        if name == "pynvml":
            raise ImportError("No module named 'pynvml'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    with pytest.raises(NvmlError, match="nvidia-ml-py"):
        PynvmlBackend().init()
    report = local_gpus()
    assert report.gpus == [] and "nvidia-ml-py" in (report.reason or "")
