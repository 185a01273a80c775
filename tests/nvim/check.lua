-- Headless Neovim end-to-end check of the gpulens language server.
-- Opens GPULENS_FILE, starts the server with vim.lsp.start, asks for inlay hints (both through
-- the request and through Neovim's inlay-hint API) and a hover, edits the buffer (Neovim sends
-- incremental changes) and asks again; prints one JSON object on stdout and quits.
local python = os.getenv("GPULENS_PYTHON")
local file = os.getenv("GPULENS_FILE")
local root = os.getenv("GPULENS_ROOT")
local language = os.getenv("GPULENS_LANGUAGE") or "en"
local out = { errors = {} }

local function finish()
  io.stdout:write("GPULENS_RESULT " .. vim.json.encode(out) .. "\n")
  vim.cmd("qall!")
end

local ok, err = pcall(function()
  vim.cmd.edit(file)
  local buf = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start({
    name = "gpulens",
    cmd = { python, "-m", "gpulens.lsp" },
    root_dir = root,
    init_options = { language = language },
  }, { bufnr = buf })
  out.client_id = client_id
  local client = vim.lsp.get_client_by_id(client_id)
  vim.wait(15000, function() return client ~= nil and client.initialized end, 20)
  out.initialized = client ~= nil and client.initialized or false

  local function find(needle)
    for i, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
      local col = line:find(needle, 1, true)
      if col then return i - 1, col - 1 end
    end
  end

  local function hints()
    local params = {
      textDocument = vim.lsp.util.make_text_document_params(buf),
      range = { start = { line = 0, character = 0 },
                ["end"] = { line = vim.api.nvim_buf_line_count(buf), character = 0 } },
    }
    local res = vim.lsp.buf_request_sync(buf, "textDocument/inlayHint", params, 10000) or {}
    local labels = {}
    for _, r in pairs(res) do
      if r.err then table.insert(out.errors, vim.inspect(r.err)) end
      for _, h in ipairs(r.result or {}) do
        table.insert(labels, { label = h.label, line = h.position.line, character = h.position.character })
      end
    end
    return labels
  end

  out.hints = hints()

  -- Neovim's own inlay-hint machinery (what a user sees).
  vim.lsp.inlay_hint.enable(true, { bufnr = buf })
  vim.wait(10000, function() return #vim.lsp.inlay_hint.get({ bufnr = buf }) >= 2 end, 20)
  out.api_hints = {}
  for _, item in ipairs(vim.lsp.inlay_hint.get({ bufnr = buf })) do
    table.insert(out.api_hints, item.inlay_hint.label)
  end

  local line, col = find("BATCH_SIZE, shuffle")
  local hover = vim.lsp.buf_request_sync(buf, "textDocument/hover", {
    textDocument = vim.lsp.util.make_text_document_params(buf),
    position = { line = line, character = col + 2 },
  }, 10000) or {}
  for _, r in pairs(hover) do
    if r.result and r.result.contents then out.hover = r.result.contents.value end
  end

  -- Edit: BATCH_SIZE = 100 -> 300 (an incremental didChange), then ask again.
  local eline, ecol = find("BATCH_SIZE = 100")
  vim.api.nvim_buf_set_text(buf, eline, ecol + 13, eline, ecol + 16, { "300" })
  out.hints_after_edit = hints()
end)

if not ok then table.insert(out.errors, tostring(err)) end
finish()
