"""``python -m gpulens.lsp``: run the language server on stdio."""

import gc

# The server's imports create a few hundred thousand objects that live as long as the process
# (lsprotocol's ~600 classes alone): collecting while they come in only walks them again and
# again. ``main`` freezes them and turns the collector back on (see ``server._tune_gc``).
gc.disable()

from gpulens.lsp.server import main  # noqa: E402

main()
