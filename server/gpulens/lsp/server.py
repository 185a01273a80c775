"""The gpulens language server: LSP handlers that only translate.

Documents and their analyses live in :class:`~gpulens.lsp.documents.DocumentManager`; inlay
hints, hovers and diagnostics are rendered by :mod:`hints` and :mod:`hovers`; settings come from
``workspace/configuration`` (or ``initializationOptions``) through :mod:`settings`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from gpulens import __version__
from gpulens.lsp import hints as hint_render
from gpulens.lsp import textsync
from gpulens.lsp.documents import INTERNAL_ERROR, DocumentManager, Inputs, View
from gpulens.lsp.launch import clear_cache as clear_launch_cache
from gpulens.lsp.launch import launch_args
from gpulens.lsp.positions import UTF8, UTF16, UTF32, byte_col_to_client
from gpulens.lsp.settings import SECTION, Settings, effective_language, parse_settings

if TYPE_CHECKING:
    from gpulens.lsp import oom

# What the first inlay hints do not need is imported where it is first used, so that it does
# not delay them: the OOM check (``oom``: the fit estimate, NVML, the code fixes) runs after the
# first hints are sent, hovers and code actions come later still.

log = logging.getLogger("gpulens.lsp")

DIAGNOSTIC_SOURCE = "gpulens"
#: The command of the OOM code actions' "show the snippet" (``oom.SHOW_SNIPPET``, the same).
SHOW_SNIPPET = "gpulens.showSnippet"


def _analyze(source: str, **kwargs: Any) -> Any:
    from gpulens.analysis import analyze

    return analyze(source, **kwargs)


def _with_what_if(analysis: Any) -> Any:
    """The what-if figures of ``analysis`` computed now (in the analysis worker), for a client
    whose inlay-hint tooltips are sent with the hints: the memory tooltip shows them, so the
    first answer needs them anyway, and rendering it on the event loop then costs no estimator
    call. (A client that resolves tooltips lazily gets them only when it asks.)"""
    if analysis.memory is not None:
        from gpulens.whatif import what_if

        try:
            what_if(analysis)
        except Exception:  # the tooltip computes it again and reports the failure there
            log.exception("what-if figures failed")
    return analysis


@dataclasses.dataclass
class _HintsMemo:
    #: The view's results and line map, and the settings (compared by identity).
    key: tuple[Any, ...]
    #: The language and the position encoding.
    names: tuple[str, str]
    hints: list[hint_render.Hint]
    #: (first line, last line, resolve uri) → the LSP hints sent for that range.
    answers: dict[tuple[int, int, str | None], list[types.InlayHint]] = dataclasses.field(
        default_factory=dict
    )


def _once(render: Callable[[], str]) -> Callable[[], str]:
    """``render``, called at most once."""
    done: list[str] = []

    def cached() -> str:
        if not done:
            done.append(render())
        return done[0]

    return cached


class GpulensServer(LanguageServer):
    """pygls server plus the state gpulens keeps per session."""

    def __init__(self) -> None:
        textsync.install()
        super().__init__(
            "gpulens",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.settings = Settings()
        self.client_locale: str | None = None
        self._documents: DocumentManager | None = None
        #: Set once the client's settings have been pulled after ``initialized``.
        self._settings_ready: asyncio.Event | None = None
        #: Diagnostics publications per document: only the latest one is sent.
        self._publish_seq: dict[str, int] = {}
        #: The invalid ``gpulens.gpu`` value already reported with ``window/showMessage``.
        self._gpu_warned: str | None = None
        #: Per document: the last view's rendered inlay hints (see :meth:`hints_memo`).
        self._hints: dict[str, _HintsMemo] = {}

    # -- state -------------------------------------------------------------------------------

    @property
    def documents(self) -> DocumentManager:
        if self._documents is None:
            self._documents = DocumentManager(
                analyzer=self._analyze_in_worker,
                snapshot=self.snapshot,
                inputs_for=self.inputs_for,
                on_result=self.publish,
                on_late_result=self._late_result,
            )
        return self._documents

    def _analyze_in_worker(self, source: str, **kwargs: Any) -> Any:
        analysis = _analyze(source, **kwargs)
        return analysis if self.resolves_tooltips else _with_what_if(analysis)

    @property
    def locale(self) -> str:
        return effective_language(self.settings, self.client_locale)

    @property
    def resolves_tooltips(self) -> bool:
        """The client resolves inlay-hint tooltips lazily (``inlayHint/resolve``)."""
        try:
            caps = self.client_capabilities.text_document
        except (RuntimeError, AttributeError):
            return False
        inlay = caps.inlay_hint if caps else None
        support = inlay.resolve_support if inlay else None
        return support is not None and "tooltip" in (support.properties or [])

    @property
    def encoding(self) -> str:
        try:
            enc = self.workspace.position_encoding
        except RuntimeError:
            return UTF16
        value = str(getattr(enc, "value", enc) or UTF16).lower()
        return value if value in (UTF8, UTF16, UTF32) else UTF16

    def snapshot(self, uri: str) -> tuple[int, str] | None:
        """Version and text of an open document (None when it is not open)."""
        doc = self.workspace.text_documents.get(uri)
        if doc is None:
            return None
        return (doc.version or 0, doc.source)

    def roots(self) -> list[str]:
        roots: list[str] = []
        for folder in self.workspace.folders.values():
            path = to_fs_path(folder.uri)
            if path:
                roots.append(path)
        if self.workspace.root_path:
            roots.append(self.workspace.root_path)
        return roots

    def inputs_for(self, uri: str) -> Inputs:
        path = to_fs_path(uri) if uri.startswith("file:") else None
        settings = self.settings
        args: tuple[str, ...] = settings.script_args
        origin: tuple[str, ...] = ("setting",) if args else ()
        if not args and path:
            try:
                found = launch_args(path, self.roots())
            except (OSError, ValueError, RecursionError):
                found = None
            if found is not None and found.args:
                args = found.args
                origin = ("launch", _relative(found.launch_file, self.roots()), found.config_name)
        return Inputs(
            path=path,
            script_args=args,
            args_origin=origin,
            overrides=settings.overrides,
            world_size=settings.world_size,
        )

    def hints_memo(self, uri: str, view: View) -> _HintsMemo:
        """The inlay hints of ``view`` (tooltips rendered once), kept while the view's results,
        the settings, the language and the position encoding stay the same: a repeated request
        (another visible range, a resolve, a re-request after a refresh) renders nothing."""
        key = (view.current, view.shown, view.line_map, self.settings)
        names = (self.locale, self.encoding)
        memo = self._hints.get(uri)
        if (
            memo is None
            or memo.names != names
            or any(a is not b for a, b in zip(memo.key, key, strict=True))
        ):
            hints = hint_render.compute_hints(view, self.settings, self.locale, self.encoding)
            once = [dataclasses.replace(h, render=_once(h.render)) for h in hints]
            memo = _HintsMemo(key, names, once)
            self._hints[uri] = memo
        return memo

    async def view(self, uri: str) -> View | None:
        """The current view of ``uri``, once the first settings are in (at most a second)."""
        ready = self._settings_ready
        if ready is not None and not ready.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ready.wait(), timeout=1.0)
        return await self.documents.view(uri)

    # -- output (always on the event loop) ---------------------------------------------------

    def publish(self, uri: str, view: View) -> None:
        error = view.current.analysis.error
        if error is not None and error.startswith(INTERNAL_ERROR):
            self.window_log_message(
                types.LogMessageParams(type=types.MessageType.Warning, message=f"{uri}: {error}")
            )
        diagnostics: list[types.Diagnostic] = []
        message = hint_render.describe_unknown(view, self.locale)
        if message is not None:
            diagnostics.append(self._unknown_diagnostic(view, message))
        seq = self._publish_seq.get(uri, 0) + 1
        self._publish_seq[uri] = seq
        task = asyncio.ensure_future(self._publish_with_oom(uri, view, diagnostics, seq))
        task.add_done_callback(_log_task_error)

    async def _publish_with_oom(
        self, uri: str, view: View, diagnostics: list[types.Diagnostic], seq: int
    ) -> None:
        """Add the OOM diagnostics (the estimator runs off the event loop), then publish, unless
        a newer publication for ``uri`` started meanwhile."""
        extra: list[types.Diagnostic] = []
        try:
            check = await self.oom_check(view)
            from gpulens.lsp import oom

            extra = oom.diagnostics(view, check, self.locale, self.encoding)
        except Exception:
            log.exception("OOM check of %s failed", uri)
        if self._publish_seq.get(uri) != seq:
            return
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri, version=view.current.version, diagnostics=diagnostics + extra
            )
        )

    async def oom_check(self, view: View) -> oom.OomCheck:
        """The analysis against the target GPU (``gpulens.gpu`` or the local one)."""
        settings = self.settings
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _oom_check, view.analysis, settings)

    def republish_all(self) -> None:
        """The GPU or the thresholds changed: publish every open document's diagnostics again."""

        async def again(uri: str) -> None:
            view = await self.view(uri)
            if view is not None:
                self.publish(uri, view)

        for uri in self.documents.uris():
            task = asyncio.ensure_future(again(uri))
            task.add_done_callback(_log_task_error)

    def report_gpu_setting(self) -> None:
        """An unknown ``gpulens.gpu`` card: say so once (the memory hover says it too)."""
        value = self.settings.gpu
        if not value:
            self._gpu_warned = None
            return
        from gpulens.lsp.gpu import choose_gpu

        choice = choose_gpu(value)
        if choice.error is None or self._gpu_warned == value:
            return
        self._gpu_warned = value
        self.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=choice.error)
        )

    def _unknown_diagnostic(self, view: View, message: str) -> types.Diagnostic:
        from gpulens.lsp.concepts import ui
        from gpulens.lsp.markdown import ITERATION_FACTS, is_missing, pragma

        facts = view.analysis.facts
        missing = next((n for n in ITERATION_FACTS if is_missing(facts.get(n))), "dataset_size")
        anchor = next(
            (
                m
                for m in view.analysis.mentions
                if m.kind in hint_render.PER_EPOCH_KINDS + hint_render.TOTAL_KINDS
            ),
            None,
        )
        line0, start, end = 0, 0, 0
        if anchor is not None:
            line = view.map_line(anchor.span.line)
            if line is not None and line <= len(view.lines):
                text = view.lines[line - 1]
                line0 = line - 1
                start = byte_col_to_client(text, anchor.span.col, self.encoding)
                end_col = anchor.span.end_col if anchor.span.end_line == anchor.span.line else 10**9
                end = byte_col_to_client(text, end_col, self.encoding)
        text = ui("diag_unknown", self.locale, reason=message)
        text += " " + ui("diag_fix", self.locale, pragma=pragma(missing))
        return types.Diagnostic(
            range=types.Range(
                start=types.Position(line=line0, character=start),
                end=types.Position(line=line0, character=end),
            ),
            message=text,
            severity=types.DiagnosticSeverity.Information,
            source=DIAGNOSTIC_SOURCE,
            code="iterations-unknown",
        )

    def _late_result(self, uri: str) -> None:
        """A slow analysis finished after its request was answered: show it now."""
        self.refresh_hints()
        self.documents.schedule(uri, delay=0.0)

    def refresh_hints(self) -> None:
        caps = self.client_capabilities.workspace
        inlay = caps.inlay_hint if caps else None
        if inlay is not None and inlay.refresh_support:
            self.workspace_inlay_hint_refresh(None)

    async def pull_settings(self) -> None:
        """Ask the client for the ``gpulens`` section, when it supports that."""
        caps = self.client_capabilities.workspace
        if not (caps and caps.configuration):
            return
        try:
            result = await self.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
            )
        except Exception as exc:  # a client that fails this request keeps the old settings
            log.warning("workspace/configuration failed: %r", exc)
            return
        raw = result[0] if result else None
        if raw is None:
            return
        self.apply_settings(raw)

    def apply_settings(self, raw: object) -> None:
        settings = parse_settings(raw)
        for problem in settings.problems:
            self.window_log_message(
                types.LogMessageParams(type=types.MessageType.Warning, message=problem)
            )
        self.settings = settings


def _oom_check(analysis: Any, settings: Settings) -> oom.OomCheck:
    from gpulens.lsp import oom
    from gpulens.lsp.gpu import choose_gpu

    choice = choose_gpu(settings.gpu)
    return oom.assess(analysis, choice, settings.oom_warning_ratio, settings.oom_error_ratio)


def _gpu_settings(settings: Settings) -> tuple[str, float, float]:
    return (settings.gpu, settings.oom_warning_ratio, settings.oom_error_ratio)


def _log_task_error(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("gpulens task failed", exc_info=task.exception())


def _relative(path: str, roots: list[str]) -> str:
    import os

    for root in roots:
        try:
            rel = os.path.relpath(path, root)
        except ValueError:
            continue
        if not rel.startswith(".."):
            return rel
    return path


server = GpulensServer()


@server.feature(types.INITIALIZE)
def initialize(ls: GpulensServer, params: types.InitializeParams) -> None:
    options = params.initialization_options
    # The VS Code client also passes its display language as ``clientLanguage``.
    fallback = options.get("clientLanguage") if isinstance(options, dict) else None
    ls.client_locale = params.locale or (fallback if isinstance(fallback, str) else None)
    if options is not None:
        ls.apply_settings(options)


@server.feature(types.INITIALIZED)
async def initialized(ls: GpulensServer, params: types.InitializedParams) -> None:
    ls._settings_ready = asyncio.Event()
    before = ls.settings
    try:
        await ls.pull_settings()
    finally:
        ls._settings_ready.set()
    if ls.settings != before:
        ls.documents.invalidate_all()
        ls.refresh_hints()
        if _gpu_settings(ls.settings) != _gpu_settings(before):
            ls.republish_all()
    ls.report_gpu_setting()
    caps = ls.client_capabilities.workspace
    registrations: list[types.Registration] = []
    config_caps = caps.did_change_configuration if caps else None
    if config_caps is not None and config_caps.dynamic_registration:
        registrations.append(
            types.Registration(
                id="gpulens-configuration",
                method=types.WORKSPACE_DID_CHANGE_CONFIGURATION,
                register_options=types.DidChangeConfigurationRegistrationOptions(section=SECTION),
            )
        )
    watch_caps = caps.did_change_watched_files if caps else None
    if watch_caps is not None and watch_caps.dynamic_registration:
        # launch.json edited outside the editor: script arguments may change.
        registrations.append(
            types.Registration(
                id="gpulens-launch-json",
                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=types.DidChangeWatchedFilesRegistrationOptions(
                    watchers=[types.FileSystemWatcher(glob_pattern="**/.vscode/launch.json")]
                ),
            )
        )
    if registrations:
        try:
            await ls.client_register_capability_async(
                types.RegistrationParams(registrations=registrations)
            )
        except Exception as exc:
            log.warning("could not register for configuration or file changes: %r", exc)


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(
    ls: GpulensServer, params: types.DidChangeConfigurationParams
) -> None:
    before = ls.settings
    caps = ls.client_capabilities.workspace
    if caps and caps.configuration:
        await ls.pull_settings()
    elif isinstance(params.settings, dict):
        ls.apply_settings(params.settings)
    if ls.settings != before:
        ls.documents.invalidate_all()
        ls.refresh_hints()
        if _gpu_settings(ls.settings) != _gpu_settings(before):
            from gpulens.lsp.gpu import choose_gpu

            await asyncio.get_running_loop().run_in_executor(
                None, lambda: choose_gpu(ls.settings.gpu, fresh=True)
            )
            ls.republish_all()
    ls.report_gpu_setting()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: GpulensServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.documents.opened(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: GpulensServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.documents.changed(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: GpulensServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.documents.closed(params.text_document.uri)
    ls._hints.pop(params.text_document.uri, None)
    ls._publish_seq.pop(params.text_document.uri, None)  # a pending OOM check publishes nothing
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
    )


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: GpulensServer, params: types.DidSaveTextDocumentParams) -> None:
    # launch.json edited in the editor: script arguments may have changed for every file.
    if params.text_document.uri.endswith("/.vscode/launch.json"):
        clear_launch_cache()
        ls.documents.invalidate_all()
        ls.refresh_hints()


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(ls: GpulensServer, params: types.DidChangeWatchedFilesParams) -> None:
    # launch.json created, edited or deleted outside the editor.
    if any(change.uri.endswith("/.vscode/launch.json") for change in params.changes):
        clear_launch_cache()
        ls.documents.invalidate_all()
        ls.refresh_hints()


@server.feature(
    types.TEXT_DOCUMENT_INLAY_HINT,
    types.InlayHintOptions(resolve_provider=True),
)
async def inlay_hint(ls: GpulensServer, params: types.InlayHintParams) -> list[types.InlayHint]:
    uri = params.text_document.uri
    view = await ls.view(uri)
    if view is None:
        return []
    lazy = uri if ls.resolves_tooltips else None
    first, last = params.range.start.line, params.range.end.line
    memo = ls.hints_memo(uri, view)
    answer = memo.answers.get((first, last, lazy))
    if answer is None:
        answer = hint_render.to_lsp(memo.hints, first, last, lazy)
        memo.answers[(first, last, lazy)] = answer
    return answer


@server.feature(types.INLAY_HINT_RESOLVE)
async def inlay_hint_resolve(ls: GpulensServer, hint: types.InlayHint) -> types.InlayHint:
    data = hint.data
    uri = data.get("uri") if isinstance(data, dict) else None
    if not isinstance(uri, str) or hint.tooltip is not None:
        return hint
    view = await ls.view(uri)
    if view is None:
        return hint
    return hint_render.resolve_tooltip(ls.hints_memo(uri, view).hints, hint)


@server.feature(types.TEXT_DOCUMENT_HOVER)
async def hover(ls: GpulensServer, params: types.HoverParams) -> types.Hover | None:
    view = await ls.view(params.text_document.uri)
    if view is None:
        return None
    from gpulens.lsp import oom
    from gpulens.lsp.costs import MEMORY_KINDS
    from gpulens.lsp.hovers import cost_hover_at, hover_markdown, mention_at

    pos = params.position
    mention = mention_at(view, pos.line, pos.character, ls.encoding)
    if mention is not None:
        value = hover_markdown(view, mention, ls.locale)
        span = mention.span
        if mention.kind in MEMORY_KINDS and view.analysis.memory is not None:
            value = _with_gpu(value, oom.hover_lines(await ls.oom_check(view), ls.locale))
    else:
        found = cost_hover_at(view, pos.line, pos.character, ls.encoding, ls.locale)
        if found is None:
            return None
        value, span = found
    hover_range = None
    line = view.map_line(span.line)
    end_line = view.map_line(span.end_line)
    if line is not None and end_line is not None and end_line <= len(view.lines):
        enc = ls.encoding
        hover_range = types.Range(
            start=types.Position(
                line=line - 1,
                character=byte_col_to_client(view.lines[line - 1], span.col, enc),
            ),
            end=types.Position(
                line=end_line - 1,
                character=byte_col_to_client(view.lines[end_line - 1], span.end_col, enc),
            ),
        )
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=value),
        range=hover_range,
    )


def _with_gpu(value: str, lines: list[str]) -> str:
    """The target-GPU section after the memory section (before the concept's meaning)."""
    if not lines:
        return value
    section = "\n".join(lines)
    head, sep, tail = value.partition("\n\n---\n\n")
    return f"{head}\n\n{section}{sep}{tail}"


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
)
async def code_action(
    ls: GpulensServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    only = params.context.only
    if only and not any(str(k).startswith(types.CodeActionKind.QuickFix) for k in only):
        return None
    uri = params.text_document.uri
    view = await ls.view(uri)
    if view is None:
        return None
    from gpulens.lsp import oom

    codes = (oom.CODE_WARNING, oom.CODE_ERROR)
    ours = [
        d for d in params.context.diagnostics if d.source == DIAGNOSTIC_SOURCE and d.code in codes
    ]
    check = await ls.oom_check(view)
    if not ours:  # a client that sends no context: the OOM diagnostics on the asked lines
        first, last = params.range.start.line, params.range.end.line
        ours = [
            d
            for d in oom.diagnostics(view, check, ls.locale, ls.encoding)
            if d.range.start.line <= last and d.range.end.line >= first
        ]
        if not ours:
            return None
    return oom.code_actions(view, check, uri, ls.locale, ls.encoding, ours) or None


@server.command(SHOW_SNIPPET)
async def show_snippet(ls: GpulensServer, *args: Any) -> None:
    """A suggestion's code: opened beside the script when the client can show documents, else
    in a message."""
    values = list(args[0]) if len(args) == 1 and isinstance(args[0], list) else list(args)
    title = str(values[0]) if values else "gpulens"
    snippet = str(values[1]) if len(values) > 1 else ""
    key = str(values[2]) if len(values) > 2 else "snippet"
    caps = ls.client_capabilities.window
    show = caps.show_document if caps else None
    if show is not None and show.support:
        import re
        import tempfile
        from pathlib import Path

        folder = Path(tempfile.gettempdir()) / "gpulens-snippets"
        try:
            folder.mkdir(exist_ok=True)
            path = folder / f"{re.sub(r'[^A-Za-z0-9_-]', '_', key)}.py"
            path.write_text(f"# {title}\n\n{snippet}", encoding="utf-8")
            await ls.window_show_document_async(
                types.ShowDocumentParams(uri=path.as_uri(), take_focus=True)
            )
            return
        except OSError as exc:
            log.warning("could not write the snippet: %r", exc)
    ls.window_show_message(
        types.ShowMessageParams(type=types.MessageType.Info, message=f"{title}\n\n{snippet}")
    )


@server.feature(types.SHUTDOWN)
def shutdown(ls: GpulensServer, params: None) -> None:
    if ls._documents is not None:
        ls._documents.shutdown()


def main(argv: list[str] | None = None) -> None:
    """Run the language server on stdio (``gpulens serve``, ``python -m gpulens.lsp``)."""
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="gpulens %(levelname)s %(name)s: %(message)s",
    )
    _tune_gc()
    server.start_io()


def _tune_gc() -> None:
    """The modules imported so far live as long as the process: move them out of the cyclic
    collector's reach (``gc.freeze``), and collect the young generation less often. An edit
    allocates tens of thousands of short-lived objects (AST nodes, the reader's values), which
    reference counting frees; with the default threshold (700) the collector ran many times per
    edit, and every ~100 edits a full collection walked the whole heap.

    The entry points (``python -m gpulens.lsp``, ``gpulens serve``) turn the collector off
    before importing this module (about 70 ms of the start-up went to collections walking the
    freshly built lsprotocol classes); it is turned back on here."""
    import gc

    gc.freeze()  # no collection first: it would cost ~40 ms of the first answer
    gc.set_threshold(10_000, 20, 20)
    gc.enable()
