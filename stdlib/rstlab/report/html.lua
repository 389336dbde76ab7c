--- rstlab.report.html: one self-contained HTML page (`--html FILE`), each
-- capture's ladder drawn as inline SVG.

local common = require "rstlab.report.common"
local ladder = require "rstlab.ladder"
local tcpflags = require "rstlab.tcpflags"

local M = {
  name = "html", option = "--html", arg = "FILE", packets = true,
  help = "write a self-contained HTML report to FILE",
}

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
function M.svg_ladder(cap)
  local A, T = common.xml_attr, common.xml_text
  local binds = common.safe_binds(cap)
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
      rows[#rows + 1] = { i = i, p = p, label = ladder.label(p, rel), line = ladder.line(p, names, rel) }
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
function M.document(summary)
  local A, T = common.xml_attr, common.xml_text
  local results = common.failures_first(summary.results)
  local out = {}
  local function add(s) out[#out + 1] = s end
  add("<!DOCTYPE html>")
  add('<html lang="en"><head><meta charset="utf-8">')
  add("<title>rstlab report: " .. T(common.count_line(summary)) .. "</title>")
  add("<style>" .. CSS .. "</style></head><body>")
  add("<h1>rstlab report</h1>")
  local errors = summary.errors or 0
  add('<p class="summary" id="summary">' .. T(common.count_line(summary))
    .. (errors > 0 and T(string.format(" (%d of the failed are errors)", errors)) or "") .. "</p>")
  add(string.format('<p class="meta">%s on %s, %.2f s%s</p>', T(common.isodate(summary.started) .. "Z"),
    T(summary.hostname or "localhost"), summary.duration or 0,
    summary.interrupted and T(", interrupted by " .. summary.interrupted .. ": only what finished is shown") or ""))
  add('<table class="results"><tr><th>status</th><th>scenario</th><th>time</th></tr>')
  for i, r in ipairs(results) do
    add(string.format('<tr class="%s"><td class="status">%s</td><td><a href="#s%d">%s</a></td><td>%.0f ms</td></tr>',
      r.status, common.LABEL[r.status] or r.status, i, T(common.title(r)), (r.duration or 0) * 1000))
  end
  add("</table>")
  for i, r in ipairs(results) do
    add(string.format('<section class="scenario %s" id="s%d" data-file="%s" data-name="%s">', r.status, i, A(r.file), A(r.name)))
    add(string.format('<h2><span class="status st-%s">%s</span> %s <span class="meta">(%.0f ms)</span></h2>',
      r.status, common.LABEL[r.status] or r.status, T(common.title(r)), (r.duration or 0) * 1000))
    if r.status ~= "pass" or common.flaky(r) then
      add('<p class="message">' .. T(common.first_line(r)) .. "</p>")
    end
    if r.unchecked and #r.unchecked > 0 then
      add('<ul class="unchecked">')
      for _, u in ipairs(r.unchecked) do add("<li>unchecked: " .. T(u) .. "</li>") end
      add("</ul>")
    end
    for _, cap in ipairs(r.captures or {}) do
      local ok, svg = pcall(M.svg_ladder, cap)
      add('<div class="ladder-box"><div class="meta">capture ' .. T(cap.name or "") .. ", "
        .. #(cap.packets or {}) .. " packets</div>")
      add(ok and svg or ("<pre>" .. T(svg) .. "</pre>"))
      add("</div>")
    end
    local text = common.full_text(r)
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

return M
