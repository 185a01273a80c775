"""The static reader: training-script source text in, facts with provenance out.

Pure Python ``ast``: it never imports torch and never runs the script.
"""

from typing import TYPE_CHECKING

from gpulens.analysis.facts import FACT_NAMES, Analysis, Fact, Iterations, Mention, Span

if TYPE_CHECKING:
    from gpulens.analysis.incremental import ParseCache

__all__ = ["FACT_NAMES", "Analysis", "Fact", "Iterations", "Mention", "Span", "analyze"]


def analyze(
    source: str,
    path: str | None = None,
    script_args: list[str] | tuple[str, ...] = (),
    overrides: dict[str, object] | None = None,
    world_size: int | None = None,
    parse_cache: "ParseCache | None" = None,
) -> "Analysis":
    """Read a training script and return its facts, iteration counts and concept mentions.

    ``path`` is used for relative config files, ImageFolder folders and messages; ``script_args``
    is the script's own argv (after the script name), applied to argparse and ``sys.argv``
    readers; ``overrides`` are user-supplied facts (``--set NAME=VALUE``, editor settings) that
    win over everything read from the source (pragmas included); ``world_size`` is the number of
    GPUs the user says the script runs on. ``parse_cache`` (a
    :class:`gpulens.analysis.incremental.ParseCache`, one per document, kept by the caller from
    one version of the text to the next) makes re-reading an edited text incremental: only the
    top-level statements the edit touched are parsed and walked again. The result is the same
    with or without it; the CLI reads each file once and passes none.

    Never raises on bad input: a syntax error yields what could be read, with ``error`` set.
    """
    from gpulens.analysis.reader import analyze_source

    return analyze_source(
        source,
        path=path,
        script_args=tuple(script_args),
        overrides=dict(overrides or {}),
        world_size=world_size,
        parse_cache=parse_cache,
    )
