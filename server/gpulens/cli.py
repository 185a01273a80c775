"""The command line: `gpulens analyze` (a report or JSON), `gpulens check` (does it fit a GPU:
see gpucheck.py) and `gpulens serve` (the LSP server)."""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Sequence
from typing import Any

from gpulens import __version__
from gpulens.analysis import FACT_NAMES, Analysis, analyze
from gpulens.sources import SourceReadError, read_source_file

EXIT_OK = 0
EXIT_BAD_INPUT = 2

#: The precision modes the memory estimate knows (``--precision``).
PRECISIONS = ("fp32", "amp_fp16", "amp_bf16", "fp16", "bf16")
#: Layer rows per model in the human report (``--json`` has them all).
MAX_LAYER_ROWS = 40


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _parse_override(text: str) -> tuple[str, object]:
    """`NAME=VALUE`, VALUE read as a Python literal when it is one (`1200`, `True`, `'x'`)."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        value: object = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return name, value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpulens",
        description="Reads PyTorch training scripts and tells you what they will cost.",
    )
    parser.add_argument("--version", action="version", version=f"gpulens {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    analyze_cmd = commands.add_parser(
        "analyze",
        help="report a training script's facts and iteration counts",
        description=(
            "Read a training script without running it and report batch size, dataset size, "
            "epochs and the iteration counts they give. Arguments after `--` are the script's "
            "own argv, applied to its argparse defaults and config-file readers."
        ),
    )
    analyze_cmd.add_argument("file", help="the training script")
    analyze_cmd.add_argument("--json", action="store_true", help="print machine-readable JSON")
    analyze_cmd.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=_parse_override,
        default=[],
        metavar="NAME=VALUE",
        help="supply or override a fact, e.g. --set dataset_size=1200 (repeatable)",
    )
    analyze_cmd.add_argument(
        "--batch-size",
        type=_positive_int,
        metavar="N",
        help="estimate at this batch size instead of the script's (same as --set batch_size=N)",
    )
    analyze_cmd.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="estimate at this precision instead of the script's: fp32, AMP (autocast) fp16 or "
        "bf16 with fp32 weights, or pure fp16/bf16 weights",
    )
    analyze_cmd.add_argument(
        "--world-size",
        type=int,
        metavar="N",
        help="number of GPUs (processes) the script runs on",
    )
    from gpulens.gpucheck import add_gpu_options

    add_gpu_options(analyze_cmd)

    check_cmd = commands.add_parser(
        "check",
        help="check that training scripts fit a GPU (for CI and pre-commit)",
        description=(
            "Estimate each script's training memory and compare it with a GPU's usable memory. "
            "One line per finding, `path:line:col: severity: message`; exit 0 when all fit, "
            "1 when one is at risk (or, with --strict, has no estimate), 3 when one does not "
            "fit, 2 on bad input. Arguments after `--` are the scripts' own argv."
        ),
    )
    check_cmd.add_argument("files", nargs="+", metavar="FILE", help="training scripts")
    add_gpu_options(check_cmd, required_help=True)
    check_cmd.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also report scripts that fit, and why a script has no estimate",
    )
    check_cmd.add_argument(
        "--strict",
        action="store_true",
        help=(
            "a training script whose memory cannot be estimated (a model built at run time, "
            "an unknown input shape) is a finding at risk (exit 1), not a pass"
        ),
    )

    commands.add_parser("serve", help="run the language server on stdio")
    return parser


def _split_script_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Everything after the first `--` belongs to the analysed script, not to gpulens."""
    args = list(argv)
    if "--" in args:
        cut = args.index("--")
        return args[:cut], args[cut + 1 :]
    return args, []


def _format_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_format_value(v)}" for k, v in value.items())
    return str(value)


def format_report(analysis: Analysis) -> str:
    """The human-readable report: one row per fact, with where its value came from."""
    rows = [("fact", "value", "line", "from")]
    names = list(FACT_NAMES) + [n for n in analysis.facts if n not in FACT_NAMES]
    for name in names:
        fact = analysis.facts.get(name)
        if fact is None:
            continue
        line = str(fact.span.line) if fact.span else ""
        if fact.known:
            rows.append((name, _format_value(fact.value), line, fact.source))
        elif fact.reason is None and fact.source not in ("", "unknown"):
            rows.append((name, "-", line, fact.source))  # not used by this script
        else:
            rows.append((name, "unknown", line, fact.reason or "not found"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"gpulens: {analysis.file}"]
    if analysis.error:
        lines.append(f"note: {analysis.error}")
    lines.append("")
    for i, row in enumerate(rows):
        cells = [row[c].ljust(widths[c]) for c in range(3)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in [*widths, 4]))
    it = analysis.iterations
    lines.append("")
    lines.append("iterations")
    lines.append(f"  per epoch        {_count(it.per_epoch)}")
    lines.append(f"  total            {_count(it.total)}")
    lines.append(f"  optimizer steps  {_count(it.optimizer_steps)}")
    if it.explanation:
        lines.append(f"  {it.explanation}")
    if it.reason:
        lines.append(f"  unknown because: {it.reason}")
    lines += _models_section(analysis)
    lines += _memory_section(analysis)
    return "\n".join(lines)


def _table(
    rows: list[tuple[str, ...]], indent: str = "  ", right: tuple[int, ...] = ()
) -> list[str]:
    """Rows as aligned columns (the first row is the header); ``right``: right-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out: list[str] = []
    for k, row in enumerate(rows):
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        out.append((indent + "  ".join(cells)).rstrip())
        if k == 0:
            rules = [*widths[:-1], min(widths[-1], 40)]  # a long last column: a short rule
            out.append(indent + "  ".join("-" * w for w in rules))
    return out


def _models_section(analysis: Analysis) -> list[str]:
    from gpulens.units import fmt_int, fmt_params, fmt_shape

    if not analysis.models:
        return []
    lines = ["", "models"]
    for model in analysis.models:
        where = f" (line {model.line})" if model.line is not None else ""
        head = f"  {model.name}{where}: {fmt_int(model.params)} params"
        if model.params is not None:
            head += f" ({fmt_params(model.params)})"
        if model.trainable_params is not None and model.trainable_params != model.params:
            head += f", {fmt_int(model.trainable_params)} trainable"
        if not model.trained:
            head += ", not trained by this script"
        lines.append(head)
        if model.reason:
            lines.append(f"    note: {model.reason}")
        if model.layers:
            rows: list[tuple[str, ...]] = [("layer", "type", "params", "output shape", "line")]
            for layer in model.layers[:MAX_LAYER_ROWS]:
                rows.append(
                    (
                        layer.name,
                        layer.type,
                        fmt_int(layer.params),
                        fmt_shape(layer.output_shape),
                        "" if layer.line is None else str(layer.line),
                    )
                )
            lines += _table(rows, indent="    ", right=(2,))
            rest = len(model.layers) - MAX_LAYER_ROWS
            if rest > 0:
                lines.append(f"    ... {rest:,} more layers (--json lists them all)")
    if analysis.params_total is not None:
        lines.append(f"  parameters trained: {fmt_int(analysis.params_total)}")
    return lines


#: The memory terms of the report, in the order they add up, with their labels.
MEMORY_ROWS: tuple[tuple[str, str], ...] = (
    ("weights", "weights"),
    ("gradients", "gradients"),
    ("optimizer_state", "optimizer state"),
    ("activations", "activations"),
    ("workspace", "workspace"),
    ("communication", "DDP buckets"),
    ("peak_allocated", "peak allocated"),
    ("overhead", "allocator overhead"),
    ("peak_reserved", "peak reserved"),
    ("cuda_context", "CUDA context"),
    ("device_total", "device total"),
    ("eval_peak_allocated", "eval (no_grad) peak"),
)


def _memory_section(analysis: Analysis) -> list[str]:
    from gpulens.units import fmt_bytes, fmt_names, fmt_ratio
    from gpulens.whatif import FIT_MARGIN, what_if

    memory = analysis.memory
    if memory is None:
        if not analysis.memory_reason:
            return []
        return [
            "",
            "memory (static estimate)",
            f"  unknown because: {analysis.memory_reason}",
            "  supply what is missing with a pragma, e.g. `# gpulens: input_shape=(3, 224, 224)`"
            " or `# gpulens: batch_size=64`",
        ]
    optimizer = fmt_names(memory.optimizer)
    lines = [
        "",
        "memory (static estimate: from the source, not measured)",
        f"  batch {memory.batch_size:,} · {memory.precision} · {optimizer}",
    ]
    if analysis.device_note:
        lines.append(f"  note: {analysis.device_note}")
    how: dict[str, str] = dict(memory.how or {})
    how.setdefault("overhead", "peak reserved - peak allocated (allocator rounding, fragmentation)")
    how.setdefault("eval_peak_allocated", "the evaluation loop under torch.no_grad()")
    rows: list[tuple[str, ...]] = [("term", "bytes", "exact", "how")]
    for key, label in MEMORY_ROWS:
        if key == "overhead":
            value = int(memory.peak_reserved) - int(memory.peak_allocated)
        else:
            value = int(getattr(memory, key))
        if key == "communication" and not value:
            continue  # no DDP
        rows.append((label, fmt_bytes(value), f"{value:,}", how.get(key, "")))
    lines += _table(rows, right=(1, 2))
    lines.append(f"  peak at: {memory.peak_phase} (the peak is one phase, not the sum of the rows)")
    if not memory.complete:
        lines.append("  partial: parts of the model were not followed")
    for reason in memory.reasons:
        lines.append(f"  note: {reason}")
    report = what_if(analysis)
    for fit in report.fits:
        most = "does not fit"
        if fit.max_batch:
            most = f"up to batch {'≥ ' if fit.at_limit else ''}{fit.max_batch:,}"
        lines.append(
            f"  on a {fit.device_gib} GiB GPU: {most} "
            f"({FIT_MARGIN:.0%} headroom, CUDA context included)"
        )
    for variant in report.variants:
        peak = int(variant.estimate.peak_allocated)
        change = fmt_ratio(peak, int(memory.peak_allocated))
        what = (
            f"at batch {variant.batch_size:,}"
            if variant.key == "half_batch"
            else f"with {variant.precision}"
        )
        lines.append(f"  {what}: peak allocated ≈ {fmt_bytes(peak)} ({change})")
    return lines


def _count(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def _run_analyze(options: argparse.Namespace, script_args: list[str]) -> int:
    try:
        source = read_source_file(options.file)
    except SourceReadError as exc:
        print(f"gpulens: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    overrides = dict(options.overrides)
    if options.batch_size is not None:
        overrides["batch_size"] = options.batch_size
    if options.precision is not None:
        overrides["precision"] = options.precision
    for name in overrides:
        if name not in FACT_NAMES:
            known = ", ".join(FACT_NAMES)
            print(f"gpulens: warning: --set {name}: not a known fact ({known})", file=sys.stderr)
    analysis = analyze(
        source,
        path=options.file,
        script_args=script_args,
        overrides=overrides,
        world_size=options.world_size,
    )
    target = None
    if options.gpu is not None:
        from gpulens.gpucheck import BadGpu, resolve_target

        try:
            target = resolve_target(options.gpu)
        except BadGpu as exc:
            print(f"gpulens: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if options.json:
        data = analysis.to_json()
        if target is not None:
            from gpulens.gpucheck import fit_json

            data.update(fit_json(analysis, target, options))
        print(json.dumps(data, indent=2, default=str))
    else:
        text = format_report(analysis)
        if target is not None:
            from gpulens.gpucheck import fit_lines

            text += "\n" + "\n".join(fit_lines(analysis, target, options))
        print(text)
    return EXIT_OK


def _run_check(options: argparse.Namespace, script_args: list[str]) -> int:
    from gpulens.gpucheck import run_check

    def analyze_file(path: str) -> Analysis:
        return analyze(read_source_file(path), path=path, script_args=script_args)

    return run_check(options, script_args, analyze_file=analyze_file)


def _serve() -> int:
    import gc

    gc.disable()  # while the server's modules come in; its main() turns it back on
    from gpulens.lsp.server import main as serve

    serve()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    own_args, script_args = _split_script_args(sys.argv[1:] if argv is None else argv)
    if own_args == ["serve"]:
        # The editors' command: the server at once, without building the parser (whose GPU
        # options import the GPU check): the time to the first inlay hints counts.
        return _serve()
    options = _build_parser().parse_args(own_args)
    if options.command == "serve":
        return _serve()
    if options.command == "check":
        return _run_check(options, script_args)
    return _run_analyze(options, script_args)


if __name__ == "__main__":
    raise SystemExit(main())
