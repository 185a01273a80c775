"""The GPU side of the command line (issue 4): ``--gpu`` for ``gpulens analyze`` and the
``gpulens check`` command for CI and pre-commit.

``gpulens check FILE... [--gpu X] [-- SCRIPT_ARGS]`` prints one line per finding,
``path:line:col: severity: message`` (1-based line and column, the place the batch size is set),
and exits

* 0 when every script with a memory estimate fits (below ``--warn-ratio`` of usable memory),
* 1 when one is at risk (from ``--warn-ratio`` to ``--error-ratio``),
* 3 when one does not fit (above ``--error-ratio``),
* 2 on bad input: an unreadable file, an unknown GPU name (the message lists near matches), no
  ``--gpu`` and no local GPU. Bad input wins over the other codes: the check did not run.

Files without a memory estimate (not a training script, or a model the reader cannot follow)
produce no finding; with ``--verbose`` a ``note`` says why for those that build a model.
Without ``--gpu`` the local GPU is used (NVML, GPU 0; ``--gpu local:1`` for another).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from gpulens.analysis import Analysis
from gpulens.estimate.fit import (
    DEFAULT_ERROR_RATIO,
    DEFAULT_WARN_RATIO,
    FitReport,
    assess_analysis,
)
from gpulens.gpu.catalog import GpuTarget, UnknownGpuError, resolve_gpu
from gpulens.gpu.nvml import LocalGpu, NvmlBackend, local_gpus

__all__ = [
    "EXIT_AT_RISK",
    "EXIT_BAD_INPUT",
    "EXIT_DOES_NOT_FIT",
    "EXIT_OK",
    "BadGpu",
    "add_gpu_options",
    "fit_json",
    "fit_lines",
    "resolve_target",
    "run_check",
]

EXIT_OK = 0
EXIT_AT_RISK = 1
EXIT_BAD_INPUT = 2
EXIT_DOES_NOT_FIT = 3
_SEVERITY = {"fits": "note", "at_risk": "warning", "does_not_fit": "error"}
_EXIT = {"fits": EXIT_OK, "at_risk": EXIT_AT_RISK, "does_not_fit": EXIT_DOES_NOT_FIT}


class BadGpu(Exception):
    """The GPU could not be determined; the message says why and what to pass."""


def _ratio(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a ratio such as 0.9 or 90%, got {text!r}"
        ) from None
    if not 0 < value <= 10:
        raise argparse.ArgumentTypeError(f"expected a ratio above 0 (0.9 = 90%), got {text!r}")
    return value


def add_gpu_options(parser: argparse.ArgumentParser, *, required_help: bool = False) -> None:
    """``--gpu``, ``--warn-ratio``, ``--error-ratio``."""
    parser.add_argument(
        "--gpu",
        metavar="GPU",
        help="the GPU to check against: a card name ('RTX 4090', 'A100 80GB', 'H100', T4...), "
        "a size (24GiB, 16GB = 16e9 bytes, 8192MiB) or local[:N] (this machine's GPU N via "
        "NVML)" + ("; default: the local GPU" if required_help else ""),
    )
    parser.add_argument(
        "--warn-ratio",
        type=_ratio,
        default=DEFAULT_WARN_RATIO,
        metavar="R",
        help=f"warn from this share of usable memory (default {DEFAULT_WARN_RATIO:g})",
    )
    parser.add_argument(
        "--error-ratio",
        type=_ratio,
        default=DEFAULT_ERROR_RATIO,
        metavar="R",
        help=f"error above this share of usable memory (default {DEFAULT_ERROR_RATIO:g})",
    )


def resolve_target(spec: str | None, backend: NvmlBackend | None = None) -> GpuTarget | LocalGpu:
    """``--gpu``'s value as a catalog card, a size or a local GPU (None: local GPU 0)."""
    if spec is not None and not spec.strip().lower().startswith("local"):
        try:
            return resolve_gpu(spec)
        except UnknownGpuError as exc:
            raise BadGpu(str(exc)) from exc
    index = 0
    if spec is not None:
        _, _, tail = spec.strip().partition(":")
        if tail:
            try:
                index = int(tail)
            except ValueError:
                raise BadGpu(f"--gpu {spec!r}: expected local or local:N (N a GPU index)") from None
    report = local_gpus(backend)
    if not report.gpus:
        raise BadGpu(
            f"no --gpu given and no local GPU found ({report.reason}); name the target card, "
            "e.g. --gpu 'RTX 4090', --gpu 'A100 80GB' or --gpu 24GiB"
            if spec is None
            else f"--gpu {spec}: no local GPU found ({report.reason})"
        )
    for gpu in report.gpus:
        if gpu.index == index:
            return gpu
    seen = ", ".join(str(g.index) for g in report.gpus)
    raise BadGpu(f"--gpu {spec}: no local GPU {index} (NVML sees GPU {seen})")


def _fit(analysis: Analysis, target: GpuTarget | LocalGpu, options: Any) -> FitReport | None:
    return assess_analysis(
        analysis,
        target,
        warn_ratio=options.warn_ratio,
        error_ratio=options.error_ratio,
    )


def fit_json(analysis: Analysis, target: GpuTarget | LocalGpu, options: Any) -> dict[str, Any]:
    """The keys ``analyze --json --gpu`` adds: ``gpu``, ``fits``, ``usage_ratio``,
    ``max_batch_size`` (and ``fit_status``, ``fit_message``, ``needed``); null values when the
    script has no memory estimate."""
    report = _fit(analysis, target, options)
    if report is not None:
        return report.to_json()
    from gpulens.estimate.fit import usable_memory
    from gpulens.estimate.memory import CUDA_CONTEXT_BYTES

    usable, _ = usable_memory(target, CUDA_CONTEXT_BYTES)
    if isinstance(target, LocalGpu):
        gpu = {
            "name": target.name,
            "memory": target.total,
            "usable": usable,
            "source": f"local GPU {target.index} (NVML)",
        }
    else:
        gpu = {**target.to_json(), "usable": usable}
    return {
        "gpu": gpu,
        "fits": None,
        "fit_status": None,
        "usage_ratio": None,
        "needed": None,
        "max_batch_size": None,
        "max_batch_size_at_limit": False,
        "fit_message": analysis.memory_reason or "no memory estimate",
    }


def fit_lines(analysis: Analysis, target: GpuTarget | LocalGpu, options: Any) -> list[str]:
    """The human report's ``GPU`` section."""
    report = _fit(analysis, target, options)
    name = target.name
    lines = ["", f"GPU: {name}"]
    note = getattr(target, "note", None)
    if note:
        lines.append(f"  note: {note}")
    if report is None:
        lines.append(f"  fit unknown: {analysis.memory_reason or 'no memory estimate'}")
        return lines
    lines.append(f"  {report.status.replace('_', ' ')}: {report.message}")
    lines.append(f"  usable: {report.usable_how}")
    if report.hint:
        lines.append(f"  {report.hint}")
    return lines


def _position(analysis: Analysis) -> tuple[int, int]:
    """1-based line and column of the batch size's definition (else of the first mention)."""
    fact = analysis.facts.get("batch_size")
    if fact is not None and fact.span is not None:
        return fact.span.line, fact.span.col + 1
    for m in analysis.mentions:
        if m.kind == "batch_size":
            return m.span.line, m.span.col + 1
    return 1, 1


def run_check(
    options: Any,
    script_args: list[str],
    *,
    analyze_file: Callable[[str], Analysis],
    out: Any = None,
    err: Any = None,
    backend: NvmlBackend | None = None,
) -> int:
    """``gpulens check``: every file against one GPU; the exit code of the worst finding."""
    from gpulens.sources import SourceReadError

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        target = resolve_target(options.gpu, backend)
    except BadGpu as exc:
        print(f"gpulens: error: {exc}", file=err)
        return EXIT_BAD_INPUT
    if not options.warn_ratio <= options.error_ratio:
        print("gpulens: error: --warn-ratio must not exceed --error-ratio", file=err)
        return EXIT_BAD_INPUT
    note = getattr(target, "note", None)
    if note:
        print(f"gpulens: note: {note}", file=err)
    worst = EXIT_OK
    bad = False
    counts = {"fits": 0, "at_risk": 0, "does_not_fit": 0, "unknown": 0, "unestimated": 0}
    for path in options.files:
        try:
            analysis = analyze_file(path)
        except SourceReadError as exc:
            print(f"{path}:1:1: error: cannot read the file: {exc}", file=out)
            bad = True
            continue
        report = _fit(analysis, target, options)
        if report is None:
            counts["unknown"] += 1
            # a training script (a model or a batch size found) without an estimate; other
            # files (helpers, configs) pass without a word
            training = bool(analysis.models) or analysis.fact("batch_size").known
            strict = options.strict
            if training and (options.verbose or strict):
                line, col = _position(analysis)
                why = analysis.memory_reason or "no memory estimate"
                severity = "warning" if strict else "note"
                print(f"{path}:{line}:{col}: {severity}: memory not estimated: {why}", file=out)
                if strict:
                    counts["unestimated"] += 1
                    worst = max(worst, EXIT_AT_RISK)
            continue
        counts[report.status] += 1
        if report.status == "fits" and not options.verbose:
            continue
        line, col = _position(analysis)
        text = report.message
        if report.status != "fits" and report.hint:
            text += f"; {report.hint}"
        print(f"{path}:{line}:{col}: {_SEVERITY[report.status]}: {text}", file=out)
        worst = max(worst, _EXIT[report.status])
    checked = counts["fits"] + counts["at_risk"] + counts["does_not_fit"]
    summary = (
        f"gpulens: {checked} of {len(options.files)} file(s) estimated against {target.name}: "
        f"{counts['fits']} fit, {counts['at_risk']} at risk, {counts['does_not_fit']} do not fit"
        + (
            f", {counts['unestimated']} training script(s) not estimated (--strict)"
            if counts["unestimated"]
            else ""
        )
    )
    if options.verbose or worst or bad:
        print(summary, file=err)
    return EXIT_BAD_INPUT if bad else worst
