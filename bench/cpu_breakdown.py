"""Where the language server's CPU time per edit goes, phase by phase, in one process.

The same edit as ``lsp_latency.py``'s ``edit_to_hints`` (the batch size constant of the generated
2,000-line script changes), read incrementally with a ``ParseCache`` as the server does, then the
what-if reruns the server's analysis worker adds, then the inlay hints. CPU time
(``time.process_time``), so the machine's load inflates it much less than wall time.

Usage: ``python bench/cpu_breakdown.py [--lines 2000] [--edits 60]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_script import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--edits", type=int, default=60)
    args = parser.parse_args(argv)

    import gpulens.analysis.forward as forward
    import gpulens.analysis.incremental as incremental
    from gpulens.analysis import analyze
    from gpulens.lsp.documents import Inputs, Result, View, split_lines
    from gpulens.lsp.hints import compute_hints
    from gpulens.lsp.settings import Settings
    from gpulens.whatif import what_if

    acc: dict[str, float] = {}

    def timed(owner: Any, name: str, label: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def wrapper(*a: Any, **k: Any) -> Any:
            c = time.process_time()
            try:
                return original(*a, **k)
            finally:
                acc[label] = acc.get(label, 0.0) + time.process_time() - c

        setattr(owner, name, wrapper)

    timed(incremental.ParseCache, "parse", "parse (incremental)")
    timed(incremental.ParseCache, "symbols", "symbol table (parts)")
    timed(forward, "attach_models", "model reader (issue 3)")

    text = generate(args.lines)
    texts = [text.replace("BATCH_SIZE = 100", f"BATCH_SIZE = {v}", 1) for v in (100, 200, 300)]
    cache = incremental.ParseCache()
    settings = Settings()
    n = args.edits
    total = whatif_s = hints_s = 0.0
    for rounds in (10, n):  # warm up, then measure
        acc.clear()
        total = whatif_s = hints_s = 0.0
        for k in range(rounds):
            t = texts[k % len(texts)]
            c0 = time.process_time()
            analysis = analyze(t, parse_cache=cache)
            c1 = time.process_time()
            what_if(analysis)
            c2 = time.process_time()
            result = Result(k, "", t, split_lines(t), analysis, Inputs())
            compute_hints(View(result, result), settings, "en", "utf-16")
            c3 = time.process_time()
            total += c1 - c0
            whatif_s += c2 - c1
            hints_s += c3 - c2

    def row(label: str, seconds: float) -> None:
        print(f"  {label:30s} {seconds / n * 1000:7.2f} ms")

    print(f"CPU time per edit, {args.lines}-line script, mean of {n} edits")
    for label, seconds in acc.items():
        row(label, seconds)
    row("rest of the reader", total - sum(acc.values()))
    row("= analyze()", total)
    row("what-if reruns (server worker)", whatif_s)
    row("inlay hints (compute_hints)", hints_s)
    row("= all of the above", total + whatif_s + hints_s)
    if hasattr(os, "getloadavg"):
        print(f"  load average (1 min) {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
