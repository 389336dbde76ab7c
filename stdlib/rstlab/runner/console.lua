--- rstlab.runner.console: what a person sees. One line per scenario as it
--- ends (PASS green, FAIL/ERROR red, SKIP yellow on a terminal, unless
--- NO_COLOR is set), and on a terminal a progress line under them that
--- names the running scenarios and ticks. Not a terminal: plain lines.

local core = require "rstlab.core"
local common = require "rstlab.report.common"

local M = {}

local COLOUR = { pass = "\27[32m", fail = "\27[31m", error = "\27[31m", skip = "\27[33m" }
local RESET = "\27[0m"

local function fmt_ms(s) return string.format("%.0f ms", (s or 0) * 1000) end

--- indent(text, prefix) -> every line of text with the prefix.
function M.indent(text, pre)
  return (pre .. tostring(text):gsub("\n", "\n" .. pre))
end

--- new(o [, out]) -> ui. o: the run's options (verbose, quiet; a format
--- that takes stdout moves the human lines away: o.stdout_format). out(line)
--- receives the human lines instead of stdout (no terminal then).
function M.new(o, out)
  local ui = {}
  local custom = out ~= nil
  local silent = o.quiet or o.stdout_format
  local stream = o.stdout_format and io.stderr or io.stdout
  if custom then
    ui.print = out
  elseif silent then
    ui.print = function() end
  else
    ui.print = function(s) io.stdout:write(s, "\n"); io.stdout:flush() end
  end
  local tty, cols = false, nil
  if not custom and not o.quiet and os.getenv("TERM") ~= "dumb" then
    tty, cols = core.isatty(o.stdout_format and 2 or 1)
  end
  ui.progress = tty
  ui.cols = cols or 80
  local no_color = os.getenv("NO_COLOR")
  ui.colour = tty and not silent and (no_color == nil or no_color == "")
  local status_text, shown = nil, false
  local function erase()
    if shown then stream:write("\r\27[K"); shown = false end
  end
  local function draw()
    if ui.progress and status_text then
      local s = status_text
      if (utf8.len(s) or #s) > ui.cols - 1 then
        s = s:sub(1, utf8.offset(s, math.max(ui.cols - 1, 2)) - 1) .. "~"
      end
      stream:write("\r\27[K", s)
      stream:flush()
      shown = true
    end
  end
  --- a human line (with the progress line kept under it)
  function ui.line(s)
    erase()
    ui.print(s)
    draw()
  end
  --- text on stdout that is not a human line (a report)
  function ui.raw(s)
    erase()
    io.stdout:write(s)
    io.stdout:flush()
    draw()
  end
  --- the progress line's text (drawn on a terminal only)
  function ui.status(s)
    status_text = s
    draw()
  end
  --- the progress line goes away
  function ui.done()
    erase()
    status_text = nil
    stream:flush()
  end
  --- "PASS" etc., coloured on a terminal
  function ui.label(status)
    local l = common.LABEL[status] or status
    return ui.colour and (COLOUR[status] or "") .. l .. RESET or l
  end

  -- The checks that could not be made, under every result.
  local function unchecked(r)
    for _, u in ipairs(r.unchecked or {}) do ui.line("      unchecked: " .. u) end
  end

  --- show(r, title, tag): the lines of one result.
  function ui.show(r, title, tag)
    tag = tag or ""
    if r.status == "pass" then
      local extra = #(r.unchecked or {}) > 0 and ("  [" .. #r.unchecked .. " unchecked]") or ""
      ui.line(string.format("%s  %s (%s)%s%s", ui.label("pass"), title, fmt_ms(r.duration), extra, tag))
      unchecked(r)
      if o.verbose then
        for _, cap in ipairs(r.captures or {}) do
          ui.line("      capture " .. tostring(cap.name) .. ":")
          ui.line(M.indent(common.ladder_text(cap), "      "))
        end
        for _, l in ipairs(r.logs or {}) do ui.line("      log: " .. l) end
      end
    elseif r.status == "skip" then
      ui.line(string.format("%s  %s: %s%s", ui.label("skip"), title, r.message or "", tag))
    else
      ui.line(string.format("%s  %s (%s)%s", ui.label(r.status == "fail" and "fail" or "error"), title,
        fmt_ms(r.duration), tag))
      local msg = tostring(r.message)
      local where = r.where
      ui.line("      " .. (where and not msg:find(where, 1, true) and (where .. ": ") or "") .. msg)
      if r.details then ui.line(M.indent(r.details, "      ")) end
      -- rstlab's own frames help only who debugs rstlab: -v shows them.
      if o.verbose and r.traceback and r.traceback ~= "" then ui.line(M.indent(r.traceback, "      ")) end
      for _, l in ipairs(r.logs or {}) do ui.line("      log: " .. l) end
      for _, l in ipairs(common.programs_lines(r)) do ui.line("      " .. l) end
      unchecked(r)
      if r.pcap then ui.line("      pcap: " .. r.pcap) end
    end
  end

  --- ticker(seconds, fn): calls fn every so many seconds on the loop (an
  --- actor) until the returned stop function is called; nothing on a
  --- non-terminal.
  function ui.ticker(every, fn)
    if not ui.progress then return function() end end
    local stopped = false
    core.spawn(function()
      while not stopped do
        core.sleep(every)
        if not stopped then fn() end
      end
    end)
    return function() stopped = true end
  end
  return ui
end

--- progress_text(p) -> the progress line: p = { done, total, passed,
--- failed, skipped, round (when repeating), elapsed, running = { titles } }.
function M.progress_text(p)
  local s = string.format("[%d/%d] %d passed, %d failed", p.done, p.total, p.passed, p.failed)
  if (p.skipped or 0) > 0 then s = s .. string.format(", %d skipped", p.skipped) end
  if p.round then s = s .. string.format(", round %d", p.round) end
  s = s .. string.format("  %.1f s", p.elapsed)
  if #p.running > 0 then s = s .. "  running: " .. table.concat(p.running, ", ") end
  return s
end

return M
