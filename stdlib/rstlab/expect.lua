--- rstlab.expect: the expectation text and its matcher.
--
-- An expectation is a short text, one packet a line, in tcpdump's words:
--
--     C > S  [S]
--     S > C  [S.]   ack 1
--     ...                                  -- any number of packets
--     S > C  [R.]   seq 1 ack 6 reason TCP_STATE
--     no more packets within 0.2 s
--
-- `expect.parse` turns it into a spec (raising "expectation line N: what:
-- text" on a bad line); `expect.match` walks the capture as it arrives,
-- through a source object, and returns ok plus a report; `expect.format_report`
-- prints the report for a person: the expectation beside the packets.
--
-- Relative sequence numbers and the one-line packet form come from
-- rstlab.ladder, so the report prints the numbers the matcher compared.

local ladder = require "rstlab.ladder"
local tcpflags = require "rstlab.tcpflags"

local expect = {}

local MAX_U32 = 0xFFFFFFFF
local EXTRA_PACKETS = 100 -- packets collected for the report after the match

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- Seconds as a person writes them: 2 → "2.0", 0.25 → "0.25".
local function secs(x)
  local s = string.format("%.3f", x):gsub("0+$", ""):gsub("%.$", ".0")
  return s
end

---------------------------------------------------------------------------
-- Parser.
---------------------------------------------------------------------------

local function fail_line(lineno, what, text)
  error(string.format("expectation line %d: %s: %s", lineno, what, text), 0)
end

local function integer(tok)
  if tok and tok:match("^%d+$") then return math.tointeger(tonumber(tok)) end
  return nil
end

-- "1", "0.25", ".5", "2s": a non-negative number of seconds.
local function seconds(tok)
  if tok == nil then return nil end
  local num = tok:match("^(%d+%.?%d*)s?$") or tok:match("^(%.%d+)s?$")
  return num and tonumber(num)
end

-- Clause keyword → parser(rec, clause, next_token, fail). Each parser fills
-- `clause` (pushed onto rec.clauses in written order) or calls fail(what).
local CLAUSES = {}

local function numeric(key, max)
  return function(_, c, nexttok, fail)
    local tok = nexttok()
    local n = integer(tok)
    if n == nil then fail(string.format("number expected after '%s'", key)) end
    if max and n > max then
      fail(string.format("%s %s out of range (0..%d)", key, tok, max))
    end
    c.value = n
  end
end

CLAUSES.ack = numeric("ack", MAX_U32)
CLAUSES.len = numeric("len")
CLAUSES.win = numeric("win")
CLAUSES.mss = numeric("mss")
CLAUSES.wscale = numeric("wscale")

-- seq N, or tcpdump's seq L:R (seq L carrying R-L bytes).
CLAUSES.seq = function(_, c, nexttok, fail)
  local tok = nexttok()
  local l, r = (tok or ""):match("^(%d+):(%d+)$")
  if l then
    l, r = integer(l), integer(r)
    if not l or not r or l > MAX_U32 or r > MAX_U32 or r < l then
      fail("bad range in 'seq " .. tok .. "'")
    end
    c.value, c.upto = l, r
    return
  end
  local n = integer(tok)
  if n == nil then fail("number expected after 'seq'") end
  if n > MAX_U32 then fail(string.format("seq %s out of range (0..%d)", tok, MAX_U32)) end
  c.value = n
end

CLAUSES.sack = function(_, c, nexttok, fail)
  local tok = nexttok()
  local l, r = (tok or ""):match("^(%d+):(%d+)$")
  l, r = integer(l), integer(r)
  if not l or not r then fail("'L:R' expected after 'sack'") end
  if l > MAX_U32 or r > MAX_U32 then fail("sack " .. tok .. " out of range") end
  c.l, c.r = l, r
end

CLAUSES.sackok = function() end
CLAUSES.ts = function() end
CLAUSES.nots = function() end

CLAUSES.reason = function(rec, _, nexttok, fail)
  local tok = nexttok()
  if not (tok and tok:match("^[%a_][%w_]*$")) then fail("name expected after 'reason'") end
  rec.reason = tok
end

CLAUSES.after = function(_, c, nexttok, fail, peek)
  local t = seconds(nexttok())
  if t == nil then fail("number expected after 'after'") end
  if peek() == "s" then nexttok() end
  c.t = t
  c.d = math.max(0.1 * t, 0.05)
  local pm = peek()
  if pm == "±" or pm == "+-" then
    nexttok()
    local d = seconds(nexttok())
    if d == nil then fail("number expected after '" .. pm .. "'") end
    if peek() == "s" then nexttok() end
    c.d = d
  end
end

local function parse_flags(lineno, inner, text)
  inner = trim(inner)
  if inner == "*" then return "*", nil end
  if inner == "none" then return 0, inner end
  if inner == "" then
    fail_line(lineno, "empty flags '[]' (write [none] for a packet without flags)", text)
  end
  local bits, why = tcpflags.parse(inner)
  if not bits then fail_line(lineno, why, text) end
  return bits, inner
end

local function parse_packet(lineno, code, text)
  local src, dst, rest = code:match("^([%w_]+)%s*>%s*([%w_]+)(.*)$")
  if not src then fail_line(lineno, "expected 'A > B [flags]'", text) end
  rest = trim(rest)
  local rec = { kind = "packet", lineno = lineno, text = text, code = code,
                src = src, dst = dst, clauses = {} }
  if rest:sub(1, 1) ~= "[" then
    fail_line(lineno, "expected '[flags]' after '" .. src .. " > " .. dst .. "'", text)
  end
  local close = rest:find("]", 2, true)
  if not close then fail_line(lineno, "missing ']'", text) end
  rec.flagbits, rec.flags = parse_flags(lineno, rest:sub(2, close - 1), text)
  if rec.flagbits == "*" then rec.flags = "*" end

  -- ± and +- are words of their own, even when written without spaces.
  local tail = rest:sub(close + 1):gsub("±", " ± "):gsub("%+%-", " +- ")
  local toks = {}
  for tok in tail:gmatch("%S+") do toks[#toks + 1] = tok end
  local i = 0
  local function nexttok() i = i + 1; return toks[i] end
  local function peek() return toks[i + 1] end
  local function fail(what) fail_line(lineno, what, text) end
  local seen = {}
  while i < #toks do
    local word = nexttok()
    local key = word:lower()
    local parser = CLAUSES[key]
    if not parser then fail("unknown clause '" .. word .. "'") end
    if seen[key] and key ~= "sack" then fail("clause '" .. key .. "' given twice") end
    seen[key] = true
    local c = { key = key }
    parser(rec, c, nexttok, fail, peek)
    if key ~= "reason" then rec.clauses[#rec.clauses + 1] = c end
  end
  if seen.ts and seen.nots then fail("'ts' and 'nots' contradict each other") end
  return rec
end

local function parse_quiet(lineno, rest, text)
  local tok, unit, extra = rest:match("^within%s+(%S+)%s*(%S*)%s*(.*)$")
  if not tok then
    fail_line(lineno, "expected 'within T s' after 'no more packets'", text)
  end
  local t = seconds(tok)
  if t == nil then fail_line(lineno, "number expected after 'within'", text) end
  if unit ~= "" and unit ~= "s" and unit ~= "sec" and unit ~= "seconds" then
    fail_line(lineno, "unexpected '" .. trim(unit .. " " .. extra) .. "' after the period", text)
  elseif extra ~= "" then
    fail_line(lineno, "unexpected '" .. extra .. "' after the period", text)
  end
  return { kind = "quiet", lineno = lineno, text = text, period = t }
end

--- Parse an expectation text.
-- Raises "expectation line N: <what is wrong>: <the line>" on a bad line
-- (N counts from 1 at the first line of text).
-- @param text string
-- @param binds optional { name = endpoint }: then a packet line naming an
--   endpoint that is not bound is an error of that line
-- @return spec: a list of line records in order, each { kind = "packet" |
--   "skip" | "quiet", lineno = N, text = the original line, code = the line
--   without comment and outer blanks, ... }; packet records also carry src,
--   dst (names), flags (as written, or "*"), flagbits, clauses (in written
--   order: { key = "seq"|"ack"|..., value/upto/l/r/t/d }) and reason;
--   quiet records carry period (seconds).
function expect.parse(text, binds)
  if type(text) ~= "string" then
    error("expect.parse: text must be a string, got " .. type(text), 2)
  end
  local spec = {}
  local quiet_at = nil
  local lineno = 0
  for raw in (text .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    local code = raw:find("--", 1, true) and raw:sub(1, raw:find("--", 1, true) - 1) or raw
    code = trim(code)
    local shown = trim(raw)
    if code ~= "" then
      if quiet_at then
        fail_line(lineno, "nothing may follow 'no more packets' (line " .. quiet_at .. ")", shown)
      end
      if code == "..." or code == "…" then
        spec[#spec + 1] = { kind = "skip", lineno = lineno, text = raw, code = code }
      else
        local rest = code:match("^[Nn]o%s+more%s+packets%s*(.*)$")
        if rest then
          local rec = parse_quiet(lineno, rest, shown)
          rec.text, rec.code = raw, code
          spec[#spec + 1] = rec
          quiet_at = lineno
        else
          local rec = parse_packet(lineno, code, shown)
          rec.text = raw
          spec[#spec + 1] = rec
        end
      end
    end
  end
  -- 'after' times from the previous matched packet: there must be one.
  local seen_packet = false
  for _, rec in ipairs(spec) do
    if rec.kind == "packet" then
      for _, c in ipairs(rec.clauses) do
        if c.key == "after" and not seen_packet then
          fail_line(rec.lineno, "'after' needs an earlier packet line to time from",
            trim(rec.text))
        end
      end
      seen_packet = true
    end
  end
  -- With the binds at hand, a name nobody bound is an error of its line.
  if type(binds) == "table" then
    for _, rec in ipairs(spec) do
      for _, n in ipairs(rec.kind == "packet" and { rec.src, rec.dst } or {}) do
        if binds[n] == nil then
          local known = {}
          for k in pairs(binds) do known[#known + 1] = tostring(k) end
          table.sort(known)
          fail_line(rec.lineno, string.format("name '%s' is not bound (bound: %s)", n,
            #known > 0 and table.concat(known, ", ") or "none"), trim(rec.text))
        end
      end
    end
  end
  return spec
end

--- Find line `lineno` of an expectation text in the script it was written
-- in: the text as a long string ([[...]]) or a one-line string literal in
-- the call that starts at line `from` of the chunk `source` (debug.getinfo's
-- "@path"). Each of the text's lines 1..lineno must appear, in order, on
-- consecutive lines of the file.
-- @return the file's line number, or nil when the text is not found there
--   (built at run time, escapes, another file)
function expect.locate(text, source, from, lineno)
  if type(source) ~= "string" or source:sub(1, 1) ~= "@" or not from or not lineno then
    return nil
  end
  local f = io.open(source:sub(2), "r")
  if not f then return nil end
  local file = {}
  for l in f:lines() do file[#file + 1] = l end
  f:close()
  local lines = {}
  for raw in (text .. "\n"):gmatch("([^\n]*)\n") do
    lines[#lines + 1] = raw
    if #lines == lineno then break end
  end
  if #lines < lineno then return nil end
  for first = from, math.min(from + 200, #file) do
    local good = true
    for j = 1, lineno do
      local fl = file[first + j - 1]
      if not fl or not fl:find(lines[j], 1, true) then good = false; break end
    end
    if good then return first + lineno - 1 end
  end
  return nil
end

---------------------------------------------------------------------------
-- Matcher.
---------------------------------------------------------------------------

local function pkt_has_ack(p)
  return p.flags & tcpflags.ACK ~= 0
end

-- Text of an expected clause, as the line would say it.
local function clause_text(c)
  if c.key == "seq" and c.upto then return string.format("seq %d:%d", c.value, c.upto) end
  if c.value then return c.key .. " " .. c.value end
  if c.key == "sack" then return string.format("sack %d:%d", c.l, c.r) end
  if c.key == "sackok" then return "sackOK" end
  if c.key == "after" then return string.format("after %.2f ± %.2f s", c.t, c.d) end
  return c.key
end

local function sack_blocks(p, rel)
  local out = {}
  for _, b in ipairs(p.sack or {}) do
    out[#out + 1] = string.format("%d:%d", rel:edge(p, b[1]), rel:edge(p, b[2]))
  end
  return out
end

-- Check one clause against a packet; nil when it holds, else what differs.
local function check_clause(c, p, rel, prev_ts, rec)
  local key = c.key
  local function numdiff(got, want, name)
    if got == want then return nil end
    return string.format("expected %s %d, got %s %d", name, want, name, got)
  end
  if key == "seq" then
    local s = rel:seq(p)
    if c.upto then
      local got = string.format("%d:%d", s, (s + (p.len or 0)) & MAX_U32)
      local want = string.format("%d:%d", c.value, c.upto)
      if got ~= want then return "expected seq " .. want .. ", got seq " .. got end
      return nil
    end
    return numdiff(s, c.value, "seq")
  elseif key == "ack" then
    if not pkt_has_ack(p) then
      return string.format("expected ack %d, got no ack (flags [%s])", c.value, tcpflags.letters(p.flags))
    end
    return numdiff(rel:ack(p), c.value, "ack")
  elseif key == "len" then
    return numdiff(p.len or 0, c.value, "len")
  elseif key == "win" then
    return numdiff(p.win or 0, c.value, "win")
  elseif key == "mss" or key == "wscale" then
    if p[key] == nil then
      return string.format("expected %s %d, got no %s option", key, c.value, key)
    end
    return numdiff(p[key], c.value, key)
  elseif key == "sackok" then
    if not p.sackok then return "expected sackOK, got no sackOK option" end
  elseif key == "ts" then
    if p.tsval == nil then return "expected ts, got no timestamp option" end
  elseif key == "nots" then
    if p.tsval ~= nil then return "expected nots, got a timestamp option" end
  elseif key == "sack" then
    -- the packet's set of blocks must equal the set the line lists
    local want = {}
    for _, o in ipairs(rec.clauses) do
      if o.key == "sack" then want[#want + 1] = string.format("%d:%d", o.l, o.r) end
    end
    local got = sack_blocks(p, rel)
    local a, b = { table.unpack(want) }, { table.unpack(got) }
    table.sort(a); table.sort(b)
    if table.concat(a, " ") ~= table.concat(b, " ") then
      return string.format("expected sack %s, got %s", table.concat(want, " "),
        #got > 0 and ("sack " .. table.concat(got, " ")) or "no sack blocks")
    end
  elseif key == "after" then
    local dt = p.ts - prev_ts
    if dt < c.t - c.d - 1e-9 or dt > c.t + c.d + 1e-9 then
      return string.format("expected after %.2f ± %.2f s, was %.2f s", c.t, c.d, dt)
    end
  end
  return nil
end

-- Check a packet line against a packet. Returns nil (match) plus an
-- unchecked-reason text or nil, or the failure text plus how close the
-- packet came (1 direction differs, 2 flags differ, 3 a clause differs).
local function check(rec, p, names, rel, prev_ts, source)
  local sname, dname = ladder.name(names, p.src), ladder.name(names, p.dst)
  if sname ~= rec.src or dname ~= rec.dst then
    return string.format("expected %s > %s, got %s > %s", rec.src, rec.dst, sname, dname), 1
  end
  if rec.flagbits ~= "*" and p.flags ~= rec.flagbits then
    return string.format("expected [%s], got [%s]", rec.flags, tcpflags.letters(p.flags)), 2
  end
  for _, c in ipairs(rec.clauses) do
    local why = check_clause(c, p, rel, prev_ts, rec)
    if why then return why, 3 end
  end
  -- The reason last: it asks the source, and only for an otherwise matching packet.
  if rec.reason then
    local said, why
    if type(source.reason) == "function" then
      said, why = source:reason(p)
    else
      why = "the packet source does not report reasons"
    end
    if said == nil then
      return nil, string.format("line %d: reason %s unchecked: %s", rec.lineno, rec.reason,
        why or "no reason known")
    end
    if tostring(said):upper() ~= rec.reason:upper() then
      return string.format("expected reason %s, kernel said %s", rec.reason, said), 3
    end
  end
  return nil, nil
end

--- Match a parsed expectation against a capture as it arrives.
-- Only packets whose src and dst are both bound are considered; the others
-- are skipped. Each packet line must match the next considered packet (after
-- `...`, the first one that satisfies it); the first clause that differs
-- fails the line (direction, then flags, then clauses in written order, the
-- reason last). Waiting for a packet ends at source:now() + timeout, taken
-- when match is called; a `no more packets within T` line waits exactly T
-- after the previous matched packet (or after the call, if none).
-- @param spec from expect.parse
-- @param binds { name = "ip:port", ... }
-- @param source object with :packet(i, deadline) → packet or nil,
--        :now() → time (the clock of packet ts and deadlines), and
--        optionally :reason(pkt) → name | nil, why
-- @param opts { timeout = seconds (default 2), first = capture index to
--        start at (default 1) } or nil
-- @return ok (boolean), report { lines = { {rec, status = "ok" | "fail" |
--   "pending", packet = index into packets, skipped = {indices} (for `...`),
--   nearest = index of the closest miss (a line after `...` that failed),
--   why = failure text, unchecked = text} ... }, packets = the considered
--   packets pulled from the source (matched, skipped, failed and extra ones
--   already captured), capture_index = { [k] = source index of packets[k] },
--   consumed = how many of packets the expectation used up, next_index =
--   source index just after the last consumed packet, first_failure = index
--   into lines or nil, message = one-line summary, unchecked = { "line N:
--   reason X unchecked: why", ... }, binds, names, rel }
function expect.match(spec, binds, source, opts)
  opts = opts or {}
  local timeout = opts.timeout or 2
  local names = ladder.names(binds)
  for _, rec in ipairs(spec) do
    if rec.kind == "packet" then
      for _, n in ipairs({ rec.src, rec.dst }) do
        if binds[n] == nil then
          error(string.format("expectation line %d: name '%s' is not bound: %s",
            rec.lineno, n, trim(rec.text)), 0)
        end
      end
    end
  end

  local now0 = source:now()
  local deadline = now0 + timeout
  local rel = ladder.relative()
  local report = { lines = {}, packets = {}, capture_index = {}, unchecked = {},
                   names = names, binds = binds, rel = rel, consumed = 0 }
  for k, rec in ipairs(spec) do report.lines[k] = { rec = rec, status = "pending" } end

  local ci = opts.first or 1 -- next capture index to ask the source for
  local pos = 1              -- next unconsumed index in report.packets

  -- The considered packet at pos, pulled from the source by dl if needed.
  local function pull(dl)
    while #report.packets < pos do
      local p = source:packet(ci, dl)
      if p == nil then return nil end
      if ladder.considered(names, p) then
        rel:add(p)
        report.packets[#report.packets + 1] = p
        report.capture_index[#report.packets] = ci
      end
      ci = ci + 1
    end
    return report.packets[pos]
  end

  local prev_ts = nil -- ts of the previous matched packet
  local skipping = nil -- the result of a pending `...`
  local failed = nil

  local function fail(k, why)
    report.lines[k].status = "fail"
    report.lines[k].why = why
    failed = k
  end

  for k, rec in ipairs(spec) do
    local res = report.lines[k]
    if rec.kind == "skip" then
      res.status, res.skipped = "ok", res.skipped or {}
      skipping = skipping or res -- `...` twice in a row is one `...`
    elseif rec.kind == "packet" then
      local nearest, nearest_rank = nil, 0
      while true do
        local p = pull(deadline)
        if p == nil then
          if skipping then
            local why = string.format("no matching packet arrived within %s s", secs(timeout))
            if #skipping.skipped > 0 then
              why = why .. string.format(" (%d skipped", #skipping.skipped)
                .. (nearest and ("; nearest: " .. nearest) or "") .. ")"
            end
            fail(k, why)
          else
            fail(k, string.format("no packet arrived within %s s", secs(timeout)))
          end
          break
        end
        local why, extra = check(rec, p, names, rel, prev_ts, source)
        if why == nil then
          res.status, res.packet = "ok", pos
          if extra then
            res.unchecked = extra
            report.unchecked[#report.unchecked + 1] = extra
          end
          pos, prev_ts = pos + 1, p.ts
          break
        elseif skipping then
          if extra >= nearest_rank then
            nearest = string.format("#%d %s > %s [%s]: %s", pos, ladder.name(names, p.src),
              ladder.name(names, p.dst), tcpflags.letters(p.flags), why)
            nearest_rank, res.nearest = extra, pos
          end
          skipping.skipped[#skipping.skipped + 1] = pos
          pos = pos + 1
        else
          res.packet = pos
          fail(k, why)
          break
        end
      end
      skipping = nil
    elseif rec.kind == "quiet" then
      local from = prev_ts or now0
      while true do
        local quiet_end = from + rec.period
        local p = pull(quiet_end)
        if p == nil or p.ts >= quiet_end then
          res.status = "ok"
          break
        end
        if skipping and p.ts <= deadline then
          skipping.skipped[#skipping.skipped + 1] = pos
          pos, from = pos + 1, p.ts
        elseif skipping then
          res.packet = pos
          fail(k, string.format("packets kept arriving: no quiet period of %s s began within %s s",
            secs(rec.period), secs(timeout)))
          break
        else
          res.packet = pos
          fail(k, string.format("unexpected packet during the quiet period: %s (%.3f s after %s)",
            ladder.line(p, names, rel), p.ts - from,
            prev_ts and "the previous packet" or "the start of the match"))
          break
        end
      end
      skipping = nil
    end
    if failed then break end
  end

  report.consumed = pos - 1
  report.next_index = report.capture_index[pos - 1] and report.capture_index[pos - 1] + 1
    or (opts.first or 1)
  -- For the report: what else the capture already holds (without waiting).
  local limit = #report.packets + EXTRA_PACKETS
  while #report.packets < limit do
    pos = #report.packets + 1
    if pull(source:now()) == nil then break end
  end

  report.first_failure = failed
  local npk = 0
  for _, rec in ipairs(spec) do if rec.kind == "packet" then npk = npk + 1 end end
  if failed then
    local rec = spec[failed]
    report.message = string.format("expectation line %d (%s): %s", rec.lineno, rec.code,
      report.lines[failed].why)
  else
    report.message = string.format("expectation matched: %d packet line%s, %d packet%s consumed",
      npk, npk == 1 and "" or "s", report.consumed, report.consumed == 1 and "" or "s")
    if #report.unchecked > 0 then
      report.message = report.message .. string.format(" (%d unchecked)", #report.unchecked)
    end
  end
  return failed == nil, report
end

---------------------------------------------------------------------------
-- Report for a person.
---------------------------------------------------------------------------

local function width(s) return utf8.len(s) or #s end
local function pad(s, w) return s .. string.rep(" ", math.max(0, w - width(s))) end

--- Format a match report for a person: each expected line (left) beside the
--- packet it matched (right, ladder's one-line form), `>>` before the first
--- line that did not match and the reason under it, the lines not reached,
--- the captured packets not consumed, the unchecked clauses, and (unless
--- opts.ladder == false) a ladder diagram with each expected line beside its
--- packet.
-- @param spec from expect.parse
-- @param report from expect.match
-- @param opts { ladder = boolean (default true), ascii = boolean } or nil
-- @return multi-line string
function expect.format_report(spec, report, opts)
  opts = opts or {}
  local names, rel, packets = report.names, report.rel, report.packets
  local function show(i) return ladder.line(packets[i], names, rel) end

  local lw = #"expected"
  for _, rec in ipairs(spec) do
    lw = math.max(lw, width(string.format("%3d  %s", rec.lineno, rec.code)))
  end
  lw = lw + 2

  local out = { report.message, "" }
  local function row(mark, left, right)
    out[#out + 1] = (mark .. " " .. pad(left, lw) .. "  " .. (right or "")):gsub("%s+$", "")
  end
  row("  ", "expected", "captured")
  local shown_upto = report.consumed
  for k, rec in ipairs(spec) do
    local res = report.lines[k]
    local left = string.format("%3d  %s", rec.lineno, rec.code)
    local mark = (k == report.first_failure) and ">>" or "  "
    if rec.kind == "skip" then
      local sk = res.skipped or {}
      if res.status == "pending" then
        row(mark, left, "(not reached)")
      elseif #sk == 0 then
        row(mark, left, "(nothing skipped)")
      else
        for j, i in ipairs(sk) do row(mark, j == 1 and left or "", "(skipped) " .. show(i)) end
      end
    elseif res.status == "pending" then
      row(mark, left, "(not reached)")
    elseif rec.kind == "quiet" and res.status == "ok" then
      row(mark, left, "(quiet for " .. secs(rec.period) .. " s)")
    elseif res.packet then
      row(mark, left, show(res.packet))
      if res.packet > shown_upto then shown_upto = res.packet end
    else
      row(mark, left, "(nothing)")
    end
    if res.status == "fail" then
      out[#out + 1] = "   " .. string.rep(" ", 5) .. "^^ " .. res.why
    end
    if res.unchecked then
      out[#out + 1] = "   " .. string.rep(" ", 5) .. "?? " .. res.unchecked
    end
  end
  if #packets > shown_upto then
    out[#out + 1] = ""
    out[#out + 1] = string.format("not consumed (%d):", #packets - shown_upto)
    for i = shown_upto + 1, #packets do out[#out + 1] = "   " .. show(i) end
  end
  if #report.unchecked > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "unchecked:"
    for _, u in ipairs(report.unchecked) do out[#out + 1] = "   " .. u end
  end
  if opts.ladder ~= false then
    local marks = {}
    for k, rec in ipairs(spec) do
      local res = report.lines[k]
      if res.packet then
        marks[res.packet] = string.format("%s%d: %s", k == report.first_failure and ">> " or "",
          rec.lineno, rec.code)
      elseif res.nearest and res.status == "fail" then
        marks[res.nearest] = string.format(">> %d: %s (nearest miss)", rec.lineno, rec.code)
      end
    end
    out[#out + 1] = ""
    out[#out + 1] = ladder.render(packets, report.binds, { ascii = opts.ascii, marks = marks, rel = rel })
  end
  return table.concat(out, "\n")
end

return expect
