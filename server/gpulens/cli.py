"""The command line: `gpulens analyze` (a report or JSON) and `gpulens serve` (the LSP server)."""

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
        "--world-size",
        type=int,
        metavar="N",
        help="number of GPUs (processes) the script runs on",
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
    return "\n".join(lines)


def _count(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def _run_analyze(options: argparse.Namespace, script_args: list[str]) -> int:
    try:
        source = read_source_file(options.file)
    except SourceReadError as exc:
        print(f"gpulens: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    overrides = dict(options.overrides)
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
    if options.json:
        print(json.dumps(analysis.to_json(), indent=2, default=str))
    else:
        print(format_report(analysis))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    own_args, script_args = _split_script_args(sys.argv[1:] if argv is None else argv)
    options = _build_parser().parse_args(own_args)
    if options.command == "serve":
        from gpulens.lsp.server import main as serve

        serve()
        return EXIT_OK
    return _run_analyze(options, script_args)


if __name__ == "__main__":
    raise SystemExit(main())
