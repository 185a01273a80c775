"""DocumentManager in-process, with a fake reader: debounce, per-version cache, shared work,
slow and failing readers."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from gpulens.analysis.facts import Analysis, Iterations, Mention, Span
from gpulens.lsp.documents import INTERNAL_ERROR, DocumentManager, Inputs, View

URI = "file:///tmp/x.py"


class Fake:
    """A document store and a reader whose speed and failures the test controls."""

    def __init__(self, delay: float = 0.0) -> None:
        self.version = 1
        self.text = "BATCH = 1\n"
        self.delay = delay
        self.fail_on: str | None = None
        self.calls: list[str] = []
        self.published: list[tuple[str, View]] = []
        self.late: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def snapshot(self, uri: str) -> tuple[int, str] | None:
        return (self.version, self.text) if uri == URI else None

    def analyze(self, source: str, **kwargs: Any) -> Analysis:
        self.calls.append(source)
        self.gate.wait(10)
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in source:
            raise ValueError("boom")
        error = "syntax error" if "(" in source else None
        per_epoch = None if error else len(source)
        return Analysis(
            file="x.py",
            facts={},
            iterations=Iterations(per_epoch, per_epoch, per_epoch),
            mentions=[Mention("batch_size", Span(1, 0, 1, 5))] if error is None else [],
            error=error,
        )

    def manager(self, **kwargs: Any) -> DocumentManager:
        return DocumentManager(
            analyzer=self.analyze,
            snapshot=self.snapshot,
            inputs_for=lambda uri: Inputs(path="/tmp/x.py"),
            on_result=lambda uri, view: self.published.append((uri, view)),
            on_late_result=self.late.append,
            **kwargs,
        )

    def edit(self, text: str) -> None:
        self.version += 1
        self.text = text


async def test_debounce_coalesces_a_burst() -> None:
    fake = Fake()
    docs = fake.manager(debounce_s=0.05)
    docs.opened(URI)
    await asyncio.sleep(0.2)
    assert len(fake.calls) == 1
    for i in range(50):
        fake.edit(f"BATCH = {i}\n")
        docs.changed(URI)
    await asyncio.sleep(0.3)
    assert len(fake.calls) == 2 and fake.calls[-1] == "BATCH = 49\n"
    assert fake.published[-1][1].current.version == fake.version
    docs.shutdown()


async def test_request_for_a_new_version_does_not_wait_for_the_debounce() -> None:
    fake = Fake()
    docs = fake.manager(debounce_s=5.0)
    docs.opened(URI)
    await docs.view(URI)
    fake.edit("BATCH = 12345\n")
    docs.changed(URI)
    start = time.perf_counter()
    view = await docs.view(URI)
    assert time.perf_counter() - start < 2.0
    assert view is not None and view.current.version == fake.version
    assert view.analysis.iterations.per_epoch == len("BATCH = 12345\n")
    # Cached: asking again does not re-read.
    calls = len(fake.calls)
    await docs.view(URI)
    assert len(fake.calls) == calls
    docs.shutdown()


async def test_concurrent_requests_share_one_analysis() -> None:
    fake = Fake()
    docs = fake.manager(debounce_s=5.0)
    fake.gate.clear()
    tasks = [asyncio.ensure_future(docs.view(URI)) for _ in range(10)]
    await asyncio.sleep(0.05)
    fake.gate.set()
    views = await asyncio.gather(*tasks)
    assert len(fake.calls) == 1
    assert all(v is not None and v.current is views[0].current for v in views)  # type: ignore[union-attr]
    docs.shutdown()


async def test_reader_exception_keeps_last_good_result() -> None:
    fake = Fake()
    docs = fake.manager(debounce_s=5.0)
    good = await docs.view(URI)
    assert good is not None and good.stale_error is None
    fake.fail_on = "crash"
    fake.edit("crash here\n")
    view = await docs.view(URI)
    assert view is not None
    assert view.current.analysis.error is not None
    assert view.current.analysis.error.startswith(INTERNAL_ERROR)
    assert view.shown is good.current  # the last good result stays on screen
    assert view.stale_error is not None
    docs.shutdown()


async def test_syntax_error_maps_last_good_lines() -> None:
    fake = Fake()
    docs = fake.manager(debounce_s=5.0)
    fake.text = "BATCH = 1\nrest\n"
    await docs.view(URI)
    fake.edit("new (\nline\nBATCH = 1\nrest\n")
    view = await docs.view(URI)
    assert view is not None and view.shown is not view.current
    assert view.map_line(1) == 3  # "BATCH = 1" moved down by two lines
    assert view.unmap_line(3) == 1
    assert view.map_line(99) is None
    docs.shutdown()


async def test_slow_reader_answers_with_previous_result_then_signals() -> None:
    fake = Fake()
    docs = fake.manager(debounce_s=5.0, request_timeout_s=0.2)
    first = await docs.view(URI)
    assert first is not None
    fake.delay = 0.6
    fake.edit("BATCH = 2222\n")
    start = time.perf_counter()
    view = await docs.view(URI)
    assert time.perf_counter() - start < 0.5
    assert view is not None and view.current is first.current
    await asyncio.sleep(0.8)
    assert fake.late == [URI]
    fresh = await docs.view(URI)
    assert fresh is not None and fresh.current.version == fake.version
    docs.shutdown()


async def test_closed_and_unknown_documents() -> None:
    fake = Fake()
    docs = fake.manager(debounce_s=0.01)
    assert await docs.view("file:///other.py") is None
    docs.opened(URI)
    docs.closed(URI)
    await asyncio.sleep(0.05)
    assert fake.published == []
    docs.shutdown()
