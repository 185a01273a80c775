"""``python -m gpulens.lsp``: run the language server on stdio."""

from gpulens.lsp.server import main

main()
