"""Per-document analysis state: debounced, cached per version, computed off the event loop.

- After ``didChange`` the analysis waits for a short quiet period (debounce), so a burst of
  keystrokes costs one analysis.
- A request (inlay hints, hover) for a version that has not been analysed yet does not wait for
  the debounce: it starts (or joins) the analysis of that version at once.
- The analysis runs in a worker thread; the event loop only schedules and publishes, so hovers
  and other documents stay responsive and every notification is sent from the loop.
- When the current text cannot be parsed, the last good result stays on screen, its lines mapped
  onto the current text.
- Each document keeps a :class:`~gpulens.analysis.incremental.ParseCache`, so re-reading it after
  an edit parses and walks only the top-level statements the edit touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gpulens.analysis.facts import Analysis, Iterations
from gpulens.analysis.incremental import ParseCache
from gpulens.lsp.positions import clean_text

log = logging.getLogger(__name__)

#: How an exception raised by the reader is reported (the server keeps running).
INTERNAL_ERROR = "internal error in the reader"

#: ``analyze(source, path=..., script_args=..., overrides=..., world_size=..., parse_cache=...)``
Analyzer = Callable[..., Analysis]


@dataclass(frozen=True)
class Inputs:
    """Everything besides the text that the analysis of one document depends on."""

    path: str | None = None
    script_args: tuple[str, ...] = ()
    #: Where the script arguments came from: ``("setting",)``, ``("launch", file, config)``
    #: or ``()`` when there are none.
    args_origin: tuple[str, ...] = ()
    overrides: tuple[tuple[str, Any], ...] = ()
    world_size: int | None = None

    def key(self) -> str:
        return repr((self.path, self.script_args, self.overrides, self.world_size))


@dataclass
class Result:
    """The analysis of one version of one document."""

    version: int
    key: str
    text: str
    lines: list[str]
    analysis: Analysis
    inputs: Inputs
    elapsed_s: float = 0.0
    #: The last good result this one was mapped against, and the line map (computed lazily).
    map_cache: tuple[Result, dict[int, int]] | None = field(default=None, repr=False)

    @property
    def good(self) -> bool:
        return self.analysis.error is None


@dataclass
class View:
    """What the editor should see for the current text: the current result, or the last good one
    (with ``line_map`` from its lines to the current ones) while the text has an error."""

    current: Result
    shown: Result
    line_map: dict[int, int] | None = None

    @property
    def analysis(self) -> Analysis:
        return self.shown.analysis

    @property
    def lines(self) -> list[str]:
        return self.current.lines

    @property
    def stale_error(self) -> str | None:
        return self.current.analysis.error if self.shown is not self.current else None

    def map_line(self, line: int) -> int | None:
        """A 1-based line of the shown analysis → the same line in the current text, or None
        when that line has changed since."""
        if self.line_map is None:
            return line if 1 <= line <= max(len(self.lines), 1) else None
        return self.line_map.get(line)

    def unmap_line(self, line: int) -> int | None:
        """A 1-based line of the current text → the shown analysis' line."""
        if self.line_map is None:
            return line
        for old, new in self.line_map.items():
            if new == line:
                return old
        return None


_EOL = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Lines as LSP and Python's tokenizer count them (``\\n``, ``\\r\\n``, ``\\r``)."""
    return _EOL.split(text) if "\r" in text else text.split("\n")


def line_map(old: list[str], new: list[str]) -> dict[int, int]:
    """1-based lines of ``old`` that survive unchanged in ``new``, and where they are now."""
    mapping: dict[int, int] = {}
    # The lines an edit did not touch: the common head and tail are matched as they are (an
    # edit usually changes a few lines of a long file), only the middle goes through difflib,
    # whose matching is quadratic in the worst case (about 190 ms for 2,000 lines).
    n = min(len(old), len(new))
    head = 0
    while head < n and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < n - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    for k in range(head):
        mapping[k + 1] = k + 1
    middle_old = old[head : len(old) - tail]
    middle_new = new[head : len(new) - tail]
    if middle_old and middle_new:
        matcher = difflib.SequenceMatcher(None, middle_old, middle_new, autojunk=False)
        for block in matcher.get_matching_blocks():
            for k in range(block.size):
                mapping[head + block.a + k + 1] = head + block.b + k + 1
    for k in range(tail):
        mapping[len(old) - k] = len(new) - k
    return mapping


#: Mention kinds that carry inlay hints (see :mod:`gpulens.lsp.hints`).
HINT_ANCHORS = frozenset({"batch_size", "epoch_loop", "step_loop"})


def knowledge(analysis: Analysis) -> tuple[int, int]:
    """How much of what the hints show an analysis knows: iteration numbers and the memory
    estimate, hint anchors (loops, batch sizes, models and their layers). While a model class is
    half typed, the last good result keeps its model and memory hints."""
    it = analysis.iterations
    numbers = sum(n is not None for n in (it.per_epoch, it.total, it.optimizer_steps))
    numbers += analysis.memory is not None
    anchors = sum(m.kind in HINT_ANCHORS for m in analysis.mentions)
    anchors += sum(1 + len(model.layers) for model in analysis.models)
    return numbers, anchors


def failed_analysis(path: str | None, message: str) -> Analysis:
    return Analysis(
        file=path or "<unsaved>",
        facts={},
        iterations=Iterations(None, None, None, reason=message),
        mentions=[],
        error=message,
    )


@dataclass
class _DocState:
    uri: str
    latest: Result | None = None
    last_good: Result | None = None
    inflight: dict[str, asyncio.Future[Result]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    published_key: str | None = None
    #: Incremental reading state, handed to the analyzer with each version.
    cache: ParseCache = field(default_factory=ParseCache)


Snapshot = Callable[[str], "tuple[int, str] | None"]


class DocumentManager:
    """Owns the analyses of the open documents. All methods run on the event loop."""

    def __init__(
        self,
        analyzer: Analyzer,
        snapshot: Snapshot,
        inputs_for: Callable[[str], Inputs],
        on_result: Callable[[str, View], None] | None = None,
        debounce_s: float = 0.03,
        max_workers: int = 2,
        request_timeout_s: float = 10.0,
        on_late_result: Callable[[str], None] | None = None,
    ) -> None:
        self._analyzer = analyzer
        self._snapshot = snapshot
        self._inputs_for = inputs_for
        self._on_result = on_result
        self._on_late_result = on_late_result
        self.debounce_s = debounce_s
        #: A request waits at most this long for an analysis; then it gets the previous result
        #: and ``on_late_result`` fires when the slow one lands (the editor refreshes then).
        self.request_timeout_s = request_timeout_s
        #: Analyses run so far (for tests and logs).
        self.analyses = 0
        self._count_lock = threading.Lock()
        self._docs: dict[str, _DocState] = {}
        # Deeply nested code makes recursive readers need a deep C stack: give the workers a
        # big one (the setting applies to threads created afterwards).
        previous = threading.stack_size()
        try:
            threading.stack_size(256 * 1024 * 1024)
            self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="gpulens-analysis")
            # Create the threads now, while the stack size is in effect.
            for _ in range(max_workers):
                self._executor.submit(time.sleep, 0)
        except (ValueError, RuntimeError):
            self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="gpulens-analysis")
        finally:
            with contextlib.suppress(ValueError, RuntimeError):
                threading.stack_size(previous)

    # -- document events ---------------------------------------------------------------------

    def opened(self, uri: str) -> None:
        self._docs.setdefault(uri, _DocState(uri))
        self.schedule(uri, delay=0.0)

    def changed(self, uri: str) -> None:
        self._docs.setdefault(uri, _DocState(uri))
        self.schedule(uri)

    def closed(self, uri: str) -> None:
        state = self._docs.pop(uri, None)
        if state and state.timer:
            state.timer.cancel()

    def invalidate_all(self) -> None:
        """Inputs changed (settings, launch.json): re-analyse every open document."""
        for uri in list(self._docs):
            self.schedule(uri, delay=0.0)

    def uris(self) -> list[str]:
        return list(self._docs)

    def shutdown(self) -> None:
        for state in self._docs.values():
            if state.timer:
                state.timer.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- scheduling --------------------------------------------------------------------------

    def schedule(self, uri: str, delay: float | None = None) -> None:
        """Analyse ``uri`` after ``delay`` seconds of quiet (default: the debounce)."""
        state = self._docs.get(uri)
        if state is None:
            return
        if state.timer:
            state.timer.cancel()
        loop = asyncio.get_running_loop()
        wait = self.debounce_s if delay is None else delay
        state.timer = loop.call_later(wait, self._fire, uri)

    def _fire(self, uri: str) -> None:
        state = self._docs.get(uri)
        if state is None:
            return
        state.timer = None
        task = asyncio.ensure_future(self._analyse_and_publish(uri))
        task.add_done_callback(_log_task_error)

    async def _analyse_and_publish(self, uri: str) -> None:
        view = await self.view(uri)
        state = self._docs.get(uri)
        if view is None or state is None or self._on_result is None:
            return
        key = f"{view.current.version}:{view.current.key}:{id(view.shown)}"
        if state.published_key == key:
            return
        state.published_key = key
        self._on_result(uri, view)

    # -- results -----------------------------------------------------------------------------

    async def view(self, uri: str) -> View | None:
        """The view of the current version of ``uri``, analysing it now if needed."""
        snap = self._snapshot(uri)
        if snap is None:
            return None
        version, text = snap
        state = self._docs.setdefault(uri, _DocState(uri))
        # Settings may change while a request waits for its analysis (the editor then asks for
        # a refresh, which it can ignore while this request is in flight): answer with the
        # inputs in force when the analysis lands, not those of when the request came in.
        for _ in range(3):
            inputs = self._inputs_for(uri)
            key = inputs.key()
            latest = state.latest
            if latest is not None and latest.version == version and latest.key == key:
                break
            future = state.inflight.get(f"{version}:{key}")
            if future is None:
                future = self._start(state, version, text, inputs, key)
            # Shield: a cancelled request must not cancel an analysis others are waiting for.
            try:
                latest = await asyncio.wait_for(asyncio.shield(future), self.request_timeout_s)
            except asyncio.TimeoutError:
                log.warning("analysis of %s is slow; answering with the previous result", uri)
                future.add_done_callback(lambda _: self._late(uri))
                if state.latest is None:
                    return None
                latest = state.latest
                break
            if self._inputs_for(uri).key() == key:
                break
        assert latest is not None
        return self._make_view(state, latest)

    def _late(self, uri: str) -> None:
        if self._on_late_result is not None and uri in self._docs:
            self._on_late_result(uri)

    def _start(
        self, state: _DocState, version: int, text: str, inputs: Inputs, key: str
    ) -> asyncio.Future[Result]:
        loop = asyncio.get_running_loop()
        fkey = f"{version}:{key}"
        good = state.last_good
        cf = self._executor.submit(self._compute, version, text, inputs, key, good, state.cache)
        future: asyncio.Future[Result] = asyncio.wrap_future(cf, loop=loop)
        state.inflight[fkey] = future

        def done(fut: asyncio.Future[Result]) -> None:
            state.inflight.pop(fkey, None)
            if not fut.cancelled() and fut.exception() is None:
                self._store(state, fut.result())

        future.add_done_callback(done)
        return future

    def _store(self, state: _DocState, result: Result) -> None:
        if state.latest is None or result.version >= state.latest.version:
            state.latest = result
        if result.good and (state.last_good is None or result.version >= state.last_good.version):
            state.last_good = result

    def _compute(
        self,
        version: int,
        text: str,
        inputs: Inputs,
        key: str,
        good: Result | None,
        cache: ParseCache | None = None,
    ) -> Result:
        """Runs in a worker thread: never raises."""
        with self._count_lock:
            self.analyses += 1
        start = time.perf_counter()
        source = clean_text(text)
        try:
            analysis = self._analyzer(
                source,
                path=inputs.path,
                script_args=inputs.script_args,
                overrides=dict(inputs.overrides),
                world_size=inputs.world_size,
                parse_cache=cache,
            )
        except RecursionError:
            analysis = failed_analysis(inputs.path, "the code is nested too deeply to read")
        except MemoryError:
            analysis = failed_analysis(inputs.path, "the file is too large to read")
        except Exception as exc:  # the reader must never take the server down
            log.exception("analysis of %s failed", inputs.path)
            analysis = failed_analysis(inputs.path, f"{INTERNAL_ERROR}: {exc!r}")
        result = Result(
            version=version,
            key=key,
            text=text,
            lines=split_lines(text),
            analysis=analysis,
            inputs=inputs,
        )
        if analysis.error is not None and good is not None and good.key == key:
            # Map the last good result's lines onto this text here, off the event loop.
            try:
                result.map_cache = (good, line_map(good.lines, result.lines))
            except (RecursionError, MemoryError):
                result.map_cache = (good, {})
        result.elapsed_s = time.perf_counter() - start
        return result

    def _make_view(self, state: _DocState, current: Result) -> View:
        good = state.last_good
        if current.good or good is None or good is current or good.key != current.key:
            return View(current, current)
        if knowledge(current.analysis) >= knowledge(good.analysis):
            # The reader got as far with the broken text (it reads around syntax errors) as
            # with the last good one: show the current result, exact positions included.
            return View(current, current)
        if good.text == current.text:
            return View(current, good)
        if current.map_cache is None or current.map_cache[0] is not good:
            current.map_cache = (good, line_map(good.lines, current.lines))
        return View(current, good, current.map_cache[1])


def _log_task_error(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("analysis task failed", exc_info=task.exception())
