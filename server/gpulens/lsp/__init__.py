"""The gpulens language server (pygls 2.x): translates between LSP and the static reader.

No analysis logic lives here: the reader (:mod:`gpulens.analysis`) finds the facts and the
iteration counts; this package turns them into inlay hints, hovers and diagnostics, caches them
per document version, and keeps the editor responsive.
"""
