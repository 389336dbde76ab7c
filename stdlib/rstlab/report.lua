--- rstlab.report: the results of a run, for people and for CI.
--
-- Pure functions over plain data: the runner hands them the summary of a
-- run and writes what they return.
--
--   report.tap_header(n), report.tap_point(k, r)   TAP version 14, streamed
--   report.junit(summary)                          JUnit XML (one file)
--   report.html(summary)                           one self-contained HTML page
--   report.svg_ladder(cap)                         a capture's ladder as SVG
--   report.ladder_text(cap)                        the same as terminal text
--
-- A result r is the record of one scenario: { file, name, decl (its rank in
-- the file), status = "pass"|"fail"|"error"|"skip", message, where, details,
-- traceback, logs, unchecked, pcap, duration, timeout, attempts = { status,
-- ... } (with --repeat), captures = { { name, binds, packets, marks, failed,
-- truncated }, ... } }. A summary is { results, passed, failed (failures and
-- errors), errors, skipped, duration, interrupted, started (epoch seconds),
-- hostname }.

local ladder = require "rstlab.ladder"
local tcpflags = require "rstlab.tcpflags"

local report = {}

---------------------------------------------------------------------------
-- Results.
---------------------------------------------------------------------------

local LABEL = { pass = "PASS", fail = "FAIL", error = "ERROR", skip = "SKIP" }
report.LABEL = LABEL

--- Results in report order: by file, then by declaration order in the file.
-- @param results list of result records
-- @return a new list
function report.sorted(results)
  local list = {}
  for _, r in ipairs(results) do list[#list + 1] = r end
  table.sort(list, function(a, b)
    if a.file ~= b.file then return a.file < b.file end
    if (a.decl or 0) ~= (b.decl or 0) then return (a.decl or 0) < (b.decl or 0) end
    return a.name < b.name
  end)
  return list
end

--- The same, failures first (errors and failures, then skips, then passes).
function report.failures_first(results)
  local rank = { error = 1, fail = 1, skip = 2, pass = 3 }
  local list = report.sorted(results)
  for i, r in ipairs(list) do r._pos = i end
  table.sort(list, function(a, b)
    local ra, rb = rank[a.status] or 1, rank[b.status] or 1
    if ra ~= rb then return ra < rb end
    return a._pos < b._pos
  end)
  for _, r in ipairs(list) do r._pos = nil end
  return list
end

--- Whether a scenario both passed and failed over its attempts.
function report.flaky(r)
  local pass, bad = false, false
  for _, s in ipairs(r.attempts or {}) do
    if s == "pass" then pass = true elseif s == "fail" or s == "error" then bad = true end
  end
  return pass and bad
end

--- "file: scenario name", how a scenario is named in every output.
function report.title(r)
  return r.file .. ": " .. r.name
end

--- The first line of a failure: where it happened and what.
-- @return string ("" for a pass)
function report.first_line(r)
  local msg = tostring(r.message or "")
  local first = msg:match("^[^\n]*")
  if r.where and not first:find(r.where, 1, true) then first = r.where .. ": " .. first end
  if report.flaky(r) then
    local bad = 0
    for _, s in ipairs(r.attempts) do if s ~= "pass" and s ~= "skip" then bad = bad + 1 end end
    first = string.format("flaky: %d of %d attempts failed: %s", bad, #r.attempts, first)
  end
  return first
end

--- The whole report of a result as text: message, details (the expectation
-- beside the capture, its ladder), traceback, logs, unchecked clauses,
-- attempts and the pcap path.
function report.full_text(r)
  local out = {}
  local function add(s) out[#out + 1] = s end
  if r.status ~= "pass" then
    add((r.where and not tostring(r.message):find(r.where, 1, true) and (r.where .. ": ") or "")
      .. tostring(r.message or ""))
  end
  if r.details and r.details ~= "" then add(""); add(r.details) end
  if r.traceback and r.traceback ~= "" then add(""); add(r.traceback) end
  if r.logs and #r.logs > 0 then
    add("")
    for _, l in ipairs(r.logs) do add("log: " .. l) end
  end
  if r.unchecked and #r.unchecked > 0 then
    add("")
    for _, u in ipairs(r.unchecked) do add("unchecked: " .. u) end
  end
  if r.attempts and #r.attempts > 1 then add("attempts: " .. table.concat(r.attempts, " ")) end
  if r.pcap then add("pcap: " .. r.pcap) end
  return (table.concat(out, "\n"):gsub("^\n+", ""))
end

---------------------------------------------------------------------------
-- Text ladders.
---------------------------------------------------------------------------

-- binds usable by ladder.render (two names on one endpoint raise there).
local function safe_binds(cap)
  local ok = pcall(ladder.names, cap.binds or {})
  if ok and next(cap.binds or {}) then return cap.binds end
  local p = cap.packets and cap.packets[1]
  return p and { A = p.src, B = p.dst } or {}
end

--- A capture record as a ladder diagram (text), each expectation line beside
-- the packet it matched.
-- @param cap capture record
-- @param opts { ascii = boolean } or nil
function report.ladder_text(cap, opts)
  opts = opts or {}
  local s = ladder.render(cap.packets or {}, safe_binds(cap), { ascii = opts.ascii, marks = cap.marks })
  if cap.truncated then s = s .. string.format("\n  (%d more packets not shown)", cap.truncated) end
  return s
end

---------------------------------------------------------------------------
-- Escaping.
---------------------------------------------------------------------------

--- Text made valid UTF-8 (a bad byte becomes "?") without the control
-- characters XML 1.0 forbids (tab, newline and carriage return stay).
function report.clean(s)
  s = tostring(s)
  if not utf8.len(s) then
    local out, i = {}, 1
    while i <= #s do
      local ok, len = utf8.len(s, i)
      if ok then
        out[#out + 1] = s:sub(i)
        break
      end
      out[#out + 1] = s:sub(i, len - 1) .. "?"
      i = len + 1
    end
    s = table.concat(out)
  end
  return (s:gsub("[%z\1-\8\11\12\14-\31\127]", "?"))
end

local XML_ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
  ["'"] = "&#39;", ["\n"] = "&#10;", ["\r"] = "&#13;", ["\t"] = "&#9;" }

--- Text for an XML/HTML element.
function report.xml_text(s)
  return (report.clean(s):gsub("[&<>]", XML_ESC))
end

--- Text for an XML/HTML attribute value (in double quotes).
function report.xml_attr(s)
  return (report.clean(s):gsub("[&<>\"'\n\r\t]", XML_ESC))
end

---------------------------------------------------------------------------
-- TAP version 14.
---------------------------------------------------------------------------

--- The start of a TAP document: the version line and the plan.
function report.tap_header(n)
  return "TAP version 14\n1.." .. n .. "\n"
end

-- A test point's description: one line, '#' escaped (it starts a directive).
local function tap_desc(s)
  return (report.clean(s):gsub("[\r\n]+", " "):gsub("\\", "\\\\"):gsub("#", "\\#"))
end

-- A YAML scalar on one line, double-quoted (what TAP::Parser's YAMLish reads).
local function yaml_qq(s)
  s = report.clean(s):gsub('[\\"]', "\\%0"):gsub("\t", "\\t"):gsub("\r", "\\r"):gsub("\n", "\\n")
  return '"' .. s .. '"'
end

-- A YAML block scalar: every line indented, blank lines kept as indentation
-- only (a truly empty line would end the block for some readers).
local function yaml_block(s, pad)
  local lines = {}
  for line in (report.clean(s):gsub("\r", ""):gsub("\t", "    ") .. "\n"):gmatch("(.-)\n") do
    lines[#lines + 1] = pad .. line:gsub("%s+$", "")
  end
  return "|\n" .. table.concat(lines, "\n")
end

--- One test point (k is its number), with a YAML block for a scenario that
-- did not pass, and the SKIP directive for a skipped one.
-- @return text ending with a newline
function report.tap_point(k, r)
  local desc = tap_desc(report.title(r))
  if r.status == "pass" then
    local s = string.format("ok %d - %s\n", k, desc)
    if report.flaky(r) then s = s .. "# flaky: " .. table.concat(r.attempts, " ") .. "\n" end
    return s
  elseif r.status == "skip" then
    return string.format("ok %d - %s # SKIP %s\n", k, desc, tap_desc(r.message or ""))
  end
  local out = { string.format("not ok %d - %s", k, desc), "  ---" }
  out[#out + 1] = "  message: " .. yaml_qq(report.first_line(r))
  out[#out + 1] = "  severity: " .. (r.status == "fail" and "fail" or "error")
  if r.timeout then out[#out + 1] = "  timeout: true" end
  if r.where then out[#out + 1] = "  at: " .. yaml_qq(r.where) end
  out[#out + 1] = "  file: " .. yaml_qq(r.file)
  out[#out + 1] = "  scenario: " .. yaml_qq(r.name)
  out[#out + 1] = string.format("  duration_ms: %d", math.floor((r.duration or 0) * 1000 + 0.5))
  if r.attempts and #r.attempts > 1 then
    out[#out + 1] = "  attempts: " .. yaml_qq(table.concat(r.attempts, " "))
  end
  if r.pcap then out[#out + 1] = "  pcap: " .. yaml_qq(r.pcap) end
  out[#out + 1] = "  report: " .. yaml_block(report.full_text(r), "    ")
  out[#out + 1] = "  ..."
  return table.concat(out, "\n") .. "\n"
end

--- A whole TAP document (header, points in report order, the count).
function report.tap(summary)
  local out = { report.tap_header(#summary.results) }
  for k, r in ipairs(report.sorted(summary.results)) do out[#out + 1] = report.tap_point(k, r) end
  out[#out + 1] = "# " .. report.count_line(summary) .. "\n"
  return table.concat(out)
end

--- "N passed, N failed[, N skipped]": the closing line of every output.
function report.count_line(summary)
  local line = string.format("%d passed, %d failed", summary.passed or 0, summary.failed or 0)
  if (summary.skipped or 0) > 0 then line = line .. string.format(", %d skipped", summary.skipped) end
  return line
end

---------------------------------------------------------------------------
-- JUnit XML.
---------------------------------------------------------------------------

local function secs(x) return string.format("%.3f", x or 0) end

local function isodate(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t or os.time()))
end

-- What goes to a testcase's system-out: where the capture is, logs.
local function system_out(r)
  local out = {}
  if r.pcap then out[#out + 1] = "pcap: " .. r.pcap end
  for _, l in ipairs(r.logs or {}) do out[#out + 1] = "log: " .. l end
  for _, u in ipairs(r.unchecked or {}) do out[#out + 1] = "unchecked: " .. u end
  if r.attempts and #r.attempts > 1 then out[#out + 1] = "attempts: " .. table.concat(r.attempts, " ") end
  return table.concat(out, "\n")
end

--- JUnit XML as GitLab, GitHub and Jenkins read it: a <testsuites> with one
-- <testsuite> per script and one <testcase> per scenario (classname = the
-- script, name = the scenario), <failure> for a failed assertion or
-- expectation, <error> for an error or a timeout, <skipped>, each with the
-- first line in message= and the whole report as text, and the pcap path in
-- <system-out>.
-- @return the XML document
function report.junit(summary)
  local A, T = report.xml_attr, report.xml_text
  local files, byfile = {}, {}
  for _, r in ipairs(report.sorted(summary.results)) do
    if not byfile[r.file] then
      byfile[r.file] = {}
      files[#files + 1] = r.file
    end
    table.insert(byfile[r.file], r)
  end
  local function counts(list)
    local c = { tests = #list, failures = 0, errors = 0, skipped = 0, time = 0 }
    for _, r in ipairs(list) do
      if r.status == "fail" then c.failures = c.failures + 1
      elseif r.status == "error" then c.errors = c.errors + 1
      elseif r.status == "skip" then c.skipped = c.skipped + 1 end
      c.time = c.time + (r.duration or 0)
    end
    return c
  end
  local all = counts(summary.results)
  local out = { '<?xml version="1.0" encoding="UTF-8"?>' }
  out[#out + 1] = string.format('<testsuites name="rstlab" tests="%d" failures="%d" errors="%d" skipped="%d" time="%s">',
    all.tests, all.failures, all.errors, all.skipped, secs(summary.duration or all.time))
  for id, file in ipairs(files) do
    local list = byfile[file]
    local c = counts(list)
    out[#out + 1] = string.format('  <testsuite name="%s" id="%d" tests="%d" failures="%d" errors="%d" skipped="%d" time="%s" timestamp="%s" hostname="%s">',
      A(file), id - 1, c.tests, c.failures, c.errors, c.skipped, secs(c.time),
      isodate(summary.started), A(summary.hostname or "localhost"))
    for _, r in ipairs(list) do
      out[#out + 1] = string.format('    <testcase classname="%s" name="%s" file="%s" time="%s">',
        A(r.file), A(r.name), A(r.file), secs(r.duration))
      if r.status == "fail" or r.status == "error" then
        local el = r.status == "fail" and "failure" or "error"
        local ty = r.status == "fail" and "assertion" or (r.timeout and "timeout" or "error")
        out[#out + 1] = string.format('      <%s message="%s" type="%s">%s</%s>', el,
          A(report.first_line(r)), ty, T(report.full_text(r)), el)
      elseif r.status == "skip" then
        out[#out + 1] = string.format('      <skipped message="%s"/>', A(r.message or ""))
      end
      local so = system_out(r)
      if so ~= "" then out[#out + 1] = "      <system-out>" .. T(so) .. "</system-out>" end
      out[#out + 1] = "    </testcase>"
    end
    out[#out + 1] = "  </testsuite>"
  end
  out[#out + 1] = "</testsuites>"
  return table.concat(out, "\n") .. "\n"
end

---------------------------------------------------------------------------
-- SVG ladder.
---------------------------------------------------------------------------

local MASK = 0xFFFFFFFF

-- "[P.] seq 1:6 ack 1 len 5", as in the text ladder.
local function label(p, rel)
  local parts = { "[" .. tcpflags.letters(p.flags) .. "]" }
  local seq, len = rel:seq(p), p.len or 0
  parts[#parts + 1] = len > 0 and string.format("seq %d:%d", seq, (seq + len) & MASK)
    or string.format("seq %d", seq)
  if p.flags & tcpflags.ACK ~= 0 and p.ack then
    parts[#parts + 1] = "ack " .. rel:ack(p)
  end
  if len > 0 then parts[#parts + 1] = "len " .. len end
  return table.concat(parts, " ")
end

-- A class per flag letter, so a stylesheet can colour RST, SYN, FIN.
local function flag_classes(flags)
  local c = {}
  for _, name in ipairs(tcpflags.names(flags & (tcpflags.FIN | tcpflags.SYN | tcpflags.RST | tcpflags.PSH))) do
    c[#c + 1] = name
  end
  table.sort(c)
  return table.concat(c, " ")
end

local CH = 7.3   -- width of a character at the diagram's 12px monospace
local ROW = 26   -- height of a packet row

--- A capture record as an SVG ladder diagram: the endpoints as columns (name
-- and address on top), one arrow per packet with its flags, relative seq/ack
-- and length, the time since the first packet on the left, and the
-- expectation line it matched on the right (the line that failed marked).
-- Each packet is a <g class="pkt ..."> with data-flags and a <title> holding
-- its tcpdump-like line.
-- @param cap capture record
-- @return an <svg> element (text)
function report.svg_ladder(cap)
  local A, T = report.xml_attr, report.xml_text
  local binds = safe_binds(cap)
  local names = ladder.names(binds)
  local packets = cap.packets or {}
  local rel = ladder.bases(packets, binds)
  local cols, colof, rows = {}, {}, {}
  local function addcol(ep)
    local key = ep:lower()
    if not colof[key] then
      cols[#cols + 1] = { ep = ep, name = names[key] or ep }
      colof[key] = #cols
    end
  end
  for i, p in ipairs(packets) do
    if ladder.considered(names, p) then
      addcol(p.src)
      addcol(p.dst)
      rows[#rows + 1] = { i = i, p = p, label = label(p, rel), line = ladder.line(p, names, rel) }
    end
  end
  local maxlab, maxmark, maxhdr = 10, 0, 8
  for _, r in ipairs(rows) do
    maxlab = math.max(maxlab, utf8.len(r.label) or #r.label)
    local m = cap.marks and cap.marks[r.i]
    if m then maxmark = math.max(maxmark, utf8.len(m) or #m) end
  end
  for _, c in ipairs(cols) do maxhdr = math.max(maxhdr, #c.ep, utf8.len(c.name) or #c.name) end
  local left = 80                                   -- room for the times
  local gap = math.max(maxlab * CH + 60, maxhdr * CH + 20, 220)
  local x = {}
  for k = 1, #cols do x[k] = left + maxhdr * CH / 2 + (k - 1) * gap end
  local right = (x[#cols] or left) + maxhdr * CH / 2 + 20
  local width = math.ceil(right + (maxmark > 0 and (maxmark * CH + 20) or 0))
  local top = 52
  local height = top + math.max(#rows, 1) * ROW + 16
  local out = {}
  local function add(s) out[#out + 1] = s end
  add(string.format('<svg class="ladder" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="monospace" font-size="12" role="img" aria-label="%s">',
    width, height, width, height, A("packet ladder of " .. tostring(cap.name or "the capture"))))
  for k, c in ipairs(cols) do
    add(string.format('<text class="endpoint" x="%.1f" y="16" text-anchor="middle" font-weight="bold">%s</text>', x[k], T(c.name)))
    add(string.format('<text class="addr" x="%.1f" y="32" text-anchor="middle">%s</text>', x[k], T(c.ep)))
    add(string.format('<line class="lifeline" x1="%.1f" y1="40" x2="%.1f" y2="%d" stroke="#888" stroke-width="1"/>', x[k], x[k], height - 8))
  end
  if #rows == 0 then
    add(string.format('<text x="%d" y="%d">(no packets)</text>', left, top + 14))
  end
  for n, r in ipairs(rows) do
    local y = top + (n - 1) * ROW + 14
    local a, b = colof[r.p.src:lower()], colof[r.p.dst:lower()]
    local failed = cap.failed == r.i
    local cls = "pkt " .. flag_classes(r.p.flags) .. (failed and " failed" or "")
    add(string.format('<g class="%s" data-flags="%s" data-index="%d">', cls:gsub("%s+$", ""), A(tcpflags.letters(r.p.flags)), r.i))
    add("<title>" .. T(r.line) .. "</title>")
    if rel.t0 and r.p.ts then
      add(string.format('<text class="time" x="4" y="%.1f" fill="#666">+%.3fs</text>', y + 4, r.p.ts - rel.t0))
    end
    local xa, xb = x[a], x[b]
    if a ~= b then
      local dir = xb > xa and 1 or -1
      add(string.format('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="currentColor" stroke-width="1.5"/>',
        xa, y, xb - dir * 8, y))
      add(string.format('<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="currentColor"/>',
        xb, y, xb - dir * 9, y - 4, xb - dir * 9, y + 4))
      add(string.format('<text class="label" x="%.1f" y="%.1f" text-anchor="middle">%s</text>',
        (xa + xb) / 2, y - 4, T(r.label)))
    else
      add(string.format('<text class="label" x="%.1f" y="%.1f">%s</text>', xa + 8, y - 4, T(r.label)))
    end
    local m = cap.marks and cap.marks[r.i]
    if m then
      add(string.format('<text class="mark%s" x="%.1f" y="%.1f"%s>%s</text>', failed and " failed" or "",
        right, y + 4, failed and ' fill="#c00" font-weight="bold"' or ' fill="#555"', T(m)))
    end
    add("</g>")
  end
  add("</svg>")
  return table.concat(out, "\n")
end

---------------------------------------------------------------------------
-- HTML.
---------------------------------------------------------------------------

local CSS = [[
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
.summary { font-size: 1.1em; margin: .3em 0 1em; }
table.results { border-collapse: collapse; margin-bottom: 1.5em; }
table.results td, table.results th { padding: .15em .6em; text-align: left; border-bottom: 1px solid #ddd; }
.status { font-weight: bold; font-family: monospace; }
.pass .status, .st-pass { color: #16794a; }
.fail .status, .st-fail, .error .status, .st-error { color: #c00; }
.skip .status, .st-skip { color: #8a6d00; }
section.scenario { border: 1px solid #ccc; border-left: 6px solid #16794a; border-radius: 4px; padding: .4em .8em; margin: 0 0 1em; }
section.fail, section.error { border-left-color: #c00; }
section.skip { border-left-color: #c90; }
section.scenario h2 { font-size: 1em; margin: .2em 0; }
summary { cursor: pointer; }
pre { background: #f6f6f6; padding: .5em; overflow-x: auto; font-size: 12px; }
.message { font-family: monospace; white-space: pre-wrap; }
.ladder-box { overflow-x: auto; margin: .5em 0; }
svg.ladder { background: #fff; }
svg.ladder text.mark { white-space: pre; }
svg.ladder .pkt { color: #333; }
svg.ladder .pkt.syn { color: #16794a; }
svg.ladder .pkt.fin { color: #1f5fbf; }
svg.ladder .pkt.rst { color: #c00; }
svg.ladder .pkt.failed line, svg.ladder .pkt.failed polygon { stroke-dasharray: 4 2; }
.meta { color: #666; font-size: .9em; }
]]

--- One self-contained HTML page (no external files, no network): the
-- summary, a table of every scenario, then each scenario (failures first)
-- with its message, its report and its ladder diagrams as inline SVG.
-- @return the document
function report.html(summary)
  local A, T = report.xml_attr, report.xml_text
  local results = report.failures_first(summary.results)
  local out = {}
  local function add(s) out[#out + 1] = s end
  add("<!DOCTYPE html>")
  add('<html lang="en"><head><meta charset="utf-8">')
  add("<title>rstlab report: " .. T(report.count_line(summary)) .. "</title>")
  add("<style>" .. CSS .. "</style></head><body>")
  add("<h1>rstlab report</h1>")
  local errors = summary.errors or 0
  add('<p class="summary" id="summary">' .. T(report.count_line(summary))
    .. (errors > 0 and T(string.format(" (%d of the failed are errors)", errors)) or "") .. "</p>")
  add(string.format('<p class="meta">%s on %s, %.2f s%s</p>', T(isodate(summary.started) .. "Z"),
    T(summary.hostname or "localhost"), summary.duration or 0,
    summary.interrupted and T(", interrupted by " .. summary.interrupted .. ": only what finished is shown") or ""))
  add('<table class="results"><tr><th>status</th><th>scenario</th><th>time</th></tr>')
  for i, r in ipairs(results) do
    add(string.format('<tr class="%s"><td class="status">%s</td><td><a href="#s%d">%s</a></td><td>%.0f ms</td></tr>',
      r.status, LABEL[r.status] or r.status, i, T(report.title(r)), (r.duration or 0) * 1000))
  end
  add("</table>")
  for i, r in ipairs(results) do
    add(string.format('<section class="scenario %s" id="s%d" data-file="%s" data-name="%s">', r.status, i, A(r.file), A(r.name)))
    add(string.format('<h2><span class="status st-%s">%s</span> %s <span class="meta">(%.0f ms)</span></h2>',
      r.status, LABEL[r.status] or r.status, T(report.title(r)), (r.duration or 0) * 1000))
    if r.status ~= "pass" or report.flaky(r) then
      add('<p class="message">' .. T(report.first_line(r)) .. "</p>")
    end
    for _, cap in ipairs(r.captures or {}) do
      local ok, svg = pcall(report.svg_ladder, cap)
      add('<div class="ladder-box"><div class="meta">capture ' .. T(cap.name or "") .. ", "
        .. #(cap.packets or {}) .. " packets</div>")
      add(ok and svg or ("<pre>" .. T(svg) .. "</pre>"))
      add("</div>")
    end
    local text = report.full_text(r)
    if text ~= "" then
      add("<details" .. (r.status ~= "pass" and " open" or "") .. "><summary>report</summary><pre>"
        .. T(text) .. "</pre></details>")
    end
    add("</section>")
  end
  -- Record each diagram's laid-out size on it (lets a headless check see
  -- that the diagrams were drawn); the page needs no script otherwise.
  add("<script>document.querySelectorAll('svg.ladder').forEach(function (s) {"
    .. " var b = s.getBBox(); s.setAttribute('data-rendered', Math.round(b.width) + 'x' + Math.round(b.height)); });</script>")
  add("</body></html>")
  return table.concat(out, "\n") .. "\n"
end

return report
