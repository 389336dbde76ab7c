--- rstlab.expect: the expectation text and its matcher.
--
-- An expectation is a short text, one packet a line, in tcpdump's words:
--
--     C > S  [S]
--     S > C  [S.]   ack 1
--     ...                                  -- any number of packets
--     S > C  [R.]   seq 1 ack 6 reason TCP_STATE after close 0 ± 0.05
--     no more packets within 0.2 s
--
-- `expect.parse` turns it into a spec (raising "expectation line N: what:
-- text" on a bad line); `expect.match` walks the capture as it arrives,
-- through a source object, and returns ok plus a report; `expect.format_report`
-- prints the report for a person: the expectation beside the packets.
--
-- Every clause a packet line may carry (seq, ack, len, ...) is one entry of
-- the CLAUSES table below, holding how it is parsed, checked and written:
-- adding a clause is adding one entry.
--
-- Relative sequence numbers and the one-line packet form come from
-- rstlab.ladder, so the report prints the numbers the matcher compared.

local ladder = require "rstlab.ladder"
local tcpflags = require "rstlab.tcpflags"

local expect = {}

--- How often a quiet period asks its source whether nothing more can come
--- (seconds).
expect.SETTLE_STEP = 0.02

local MAX_U32 = 0xFFFFFFFF
local DEFAULT_TIMEOUT = 2 -- seconds a packet line waits, times opts.scale
local EXTRA_PACKETS = 100 -- packets collected for the report after the match

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- Seconds as a person reads them: 2 → "2.0", 0.25 → "0.25".
local function secs(x)
  local s = string.format("%.3f", x):gsub("0+$", ""):gsub("%.$", ".0")
  return s
end

-- Seconds as the parser reads them back to the same number: the shortest
-- decimal that does, without an exponent (1e-07 → "0.0000001").
local function exact(x)
  if math.type(x) == "integer" then return string.format("%d", x) end
  local s
  for prec = 1, 17 do
    s = string.format("%." .. prec .. "g", x)
    if tonumber(s) == x then break end
  end
  local mant, e = s:match("^([%d.]+)e([-+]%d+)$")
  if not mant then return s end
  local digits = mant:gsub("%.", "")
  local int = 1 + tonumber(e) -- digits before the point
  if int <= 0 then return "0." .. string.rep("0", -int) .. digits end
  if int >= #digits then return digits .. string.rep("0", int - #digits) end
  return digits:sub(1, int) .. "." .. digits:sub(int + 1)
end

---------------------------------------------------------------------------
-- Words of a line.
---------------------------------------------------------------------------

local function fail_line(lineno, what, text)
  error(string.format("expectation line %d: %s: %s", lineno, what, text), 0)
end

local function integer(tok)
  if tok and tok:match("^%d+$") then return math.tointeger(tonumber(tok)) end
  return nil
end

-- "1", "0.25", ".5", "2s": a finite, non-negative number of seconds.
local function seconds(tok)
  if tok == nil then return nil end
  local num = tok:match("^(%d+%.?%d*)s?$") or tok:match("^(%.%d+)s?$")
  local n = num and tonumber(num)
  if n == math.huge then return nil end
  return n
end

-- "L:R" → L, R (each 0..2^32-1), or nil plus what is wrong.
local function range(tok)
  local l, r = (tok or ""):match("^(%d+):(%d+)$")
  l, r = integer(l), integer(r)
  if not l or not r then return nil end
  if l > MAX_U32 or r > MAX_U32 then return nil, "out of range" end
  return l, r
end

-- The default tolerance of `after T`: a tenth of T, at least 0.05 s.
local function default_tolerance(t)
  return math.max(0.1 * t, 0.05)
end

---------------------------------------------------------------------------
-- The clauses.
--
-- CLAUSES[keyword in lower case] = {
--   name    = the keyword in the canonical form and in messages ("sackOK"),
--   parse   = function(c, words, fail, line): fill the clause table c (its
--             key is set) from the words after the keyword (words:next(),
--             words:peek()); fail(what) raises for the line. line = {
--             lineno, packets_before = packet lines above this one },
--   check   = function(c, pkt, ctx) → nil when the packet satisfies the
--             clause, else what differs ("expected ack 6, got ack 7"); or nil
--             plus a text when the clause could not be checked (unchecked).
--             ctx = { rel, prev_ts, source, rec, scale, marks = { name =
--             time on the source's clock } },
--   format  = function(c) → the clause as a line says it ("seq 1:6"); parse
--             of that text gives c back,
--   again   = true: the keyword may come again on a line; each one adds to
--             the same clause (sack's blocks),
--   against = keyword of a clause this one contradicts,
--   last    = true: checked after every other clause of the line,
-- }
-- A line's clauses are checked in written order (the `last` ones after).
---------------------------------------------------------------------------

local CLAUSES = {}

--- expect.clauses: the clause table above (keyword → entry). A clause is
--- added by adding its entry (before the texts that use it are parsed).
expect.clauses = CLAUSES

-- A clause `KEY N`; get(pkt, ctx) → the packet's value, or nil plus what
-- the packet has instead ("no mss option").
local function numeric(key, max, get)
  return {
    name = key,
    parse = function(c, words, fail)
      local tok = words:next()
      local n = integer(tok)
      if n == nil then fail(string.format("number expected after '%s'", key)) end
      if max and n > max then
        fail(string.format("%s %s out of range (0..%d)", key, tok, max))
      end
      c.value = n
    end,
    check = function(c, p, ctx)
      local got, instead = get(p, ctx)
      if got == nil then return string.format("expected %s %d, got %s", key, c.value, instead) end
      if got ~= c.value then
        return string.format("expected %s %d, got %s %d", key, c.value, key, got)
      end
      return nil
    end,
    format = function(c) return key .. " " .. c.value end,
  }
end

-- A clause of one word that holds when has(pkt) does; else "expected
-- NAME, got INSTEAD".
local function option(name, has, instead)
  return {
    name = name,
    parse = function() end,
    check = function(_, p)
      if has(p) then return nil end
      return string.format("expected %s, got %s", name, instead)
    end,
    format = function() return name end,
  }
end

-- seq N, or tcpdump's seq L:R (seq L carrying R-L bytes).
CLAUSES.seq = {
  name = "seq",
  parse = function(c, words, fail)
    local tok = words:next()
    if (tok or ""):match("^%d+:%d+$") then
      local l, r = range(tok)
      if not l or r < l then fail("bad range in 'seq " .. tok .. "'") end
      c.value, c.upto = l, r
      return
    end
    local n = integer(tok)
    if n == nil then fail("number expected after 'seq'") end
    if n > MAX_U32 then fail(string.format("seq %s out of range (0..%d)", tok, MAX_U32)) end
    c.value = n
  end,
  check = function(c, p, ctx)
    local s = ctx.rel:seq(p)
    if c.upto then
      local got = string.format("%d:%d", s, (s + (p.len or 0)) & MAX_U32)
      local want = string.format("%d:%d", c.value, c.upto)
      if got ~= want then return "expected seq " .. want .. ", got seq " .. got end
    elseif s ~= c.value then
      return string.format("expected seq %d, got seq %d", c.value, s)
    end
    return nil
  end,
  format = function(c)
    return c.upto and string.format("seq %d:%d", c.value, c.upto) or "seq " .. c.value
  end,
}

CLAUSES.ack = numeric("ack", MAX_U32, function(p, ctx)
  if p.flags & tcpflags.ACK == 0 then
    return nil, "no ack (flags [" .. tcpflags.letters(p.flags) .. "])"
  end
  return ctx.rel:ack(p)
end)
CLAUSES.len = numeric("len", nil, function(p) return p.len or 0 end)
CLAUSES.win = numeric("win", nil, function(p) return p.win or 0 end)
CLAUSES.mss = numeric("mss", nil, function(p) return p.mss, "no mss option" end)
CLAUSES.wscale = numeric("wscale", nil, function(p) return p.wscale, "no wscale option" end)

CLAUSES.sackok = option("sackOK", function(p) return p.sackok end, "no sackOK option")
CLAUSES.ts = option("ts", function(p) return p.tsval ~= nil end, "no timestamp option")
CLAUSES.nots = option("nots", function(p) return p.tsval == nil end, "a timestamp option")
CLAUSES.ts.against, CLAUSES.nots.against = "nots", "ts"

-- sack L:R, once per block: the packet's set of blocks must equal the set
-- the line lists (in any order).
CLAUSES.sack = {
  name = "sack",
  again = true,
  parse = function(c, words, fail)
    local tok = words:next()
    local l, r = range(tok)
    if not l then
      fail(r and ("sack " .. tok .. " out of range") or "'L:R' expected after 'sack'")
    end
    c.blocks = c.blocks or {}
    c.blocks[#c.blocks + 1] = { l, r }
  end,
  check = function(c, p, ctx)
    local want, got = {}, {}
    for _, b in ipairs(c.blocks) do want[#want + 1] = string.format("%d:%d", b[1], b[2]) end
    for _, b in ipairs(p.sack or {}) do
      got[#got + 1] = string.format("%d:%d", ctx.rel:edge(p, b[1]), ctx.rel:edge(p, b[2]))
    end
    local a, b = table.move(want, 1, #want, 1, {}), table.move(got, 1, #got, 1, {})
    table.sort(a); table.sort(b)
    if table.concat(a, " ") == table.concat(b, " ") then return nil end
    return string.format("expected sack %s, got %s", table.concat(want, " "),
      #got > 0 and ("sack " .. table.concat(got, " ")) or "no sack blocks")
  end,
  format = function(c)
    local out = {}
    for _, b in ipairs(c.blocks) do out[#out + 1] = string.format("sack %d:%d", b[1], b[2]) end
    return table.concat(out, " ")
  end,
}

-- A mark's name: a word that is not a number ("close", "cut_2").
local MARK_PAT = "^[%a_][%w_%-]*$"
expect.MARK_PAT = MARK_PAT

-- after [MARK] T [± D]: seconds since the previous matched packet, or
-- since the script's mark MARK (t:mark); D times the match's time scale.
CLAUSES.after = {
  name = "after",
  parse = function(c, words, fail, line)
    local mark = words:peek()
    if mark and mark:match(MARK_PAT) then
      words:next()
      c.mark = mark
    elseif line.packets_before == 0 then
      fail("'after' needs an earlier packet line to time from (or a mark: 'after MARK T')")
    end
    local t = seconds(words:next())
    if t == nil then fail("number expected after 'after'") end
    if words:peek() == "s" then words:next() end
    c.t, c.d = t, default_tolerance(t)
    local pm = words:peek()
    if pm == "±" or pm == "+-" then
      words:next()
      local d = seconds(words:next())
      if d == nil then fail("number expected after '" .. pm .. "'") end
      if words:peek() == "s" then words:next() end
      c.d = d
    end
  end,
  check = function(c, p, ctx)
    local from = c.mark and ctx.marks[c.mark] or ctx.prev_ts
    local dt, d = p.ts - from, c.d * ctx.scale
    if dt >= c.t - d - 1e-9 and dt <= c.t + d + 1e-9 then return nil end
    return string.format("expected after %s%.2f ± %.2f s%s, was %.2f s", c.mark and (c.mark .. " ") or "",
      c.t, d, ctx.scale ~= 1 and string.format(" (time scale %s)", exact(ctx.scale)) or "", dt)
  end,
  format = function(c)
    local head = "after " .. (c.mark and (c.mark .. " ") or "") .. exact(c.t)
    if c.d == default_tolerance(c.t) then return head end
    return string.format("%s ± %s", head, exact(c.d))
  end,
}

-- reason NAME: the kernel's reason for this RST, asked of the source last,
-- and only for an otherwise matching packet; unchecked when it is not known.
CLAUSES.reason = {
  name = "reason",
  last = true,
  parse = function(c, words, fail)
    local tok = words:next()
    if not (tok and tok:match("^[%a_][%w_]*$")) then fail("name expected after 'reason'") end
    c.name = tok
  end,
  check = function(c, p, ctx)
    local said, why
    if type(ctx.source.reason) == "function" then
      said, why = ctx.source:reason(p)
    else
      why = "the packet source does not report reasons"
    end
    if said == nil then
      return nil, string.format("line %d: reason %s unchecked: %s", ctx.rec.lineno, c.name,
        why or "no reason known")
    end
    -- "none": no kernel announced this RST (a firewall or middlebox made it).
    if tostring(said):upper() ~= c.name:upper() then
      if said == "none" then
        local detail = type(ctx.source.why_none) == "function" and ctx.source:why_none(p)
        return string.format("expected reason %s, but no kernel sent a tcp_send_reset event for this RST%s",
          c.name, detail and " (" .. detail .. ")" or "")
      end
      return string.format("expected reason %s, kernel said %s", c.name, said)
    end
    return nil
  end,
  format = function(c) return "reason " .. c.name end,
}

---------------------------------------------------------------------------
-- Parser.
---------------------------------------------------------------------------

local function parse_flags(lineno, inner, text)
  inner = trim(inner)
  if inner == "*" then return "*", "*" end
  if inner == "" then
    fail_line(lineno, "empty flags '[]' (write [none] for a packet without flags)", text)
  end
  local bits, why = tcpflags.parse(inner)
  if not bits then fail_line(lineno, why, text) end
  return bits, inner
end

local Words = {}
Words.__index = Words
function Words:next() self.i = self.i + 1; return self[self.i] end
function Words:peek() return self[self.i + 1] end

local function parse_packet(lineno, code, text, packets_before)
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

  -- ± and +- are words of their own, even when written without spaces.
  local tail = rest:sub(close + 1):gsub("±", " ± "):gsub("%+%-", " +- ")
  local words = setmetatable({ i = 0 }, Words)
  for tok in tail:gmatch("%S+") do words[#words + 1] = tok end
  local function fail(what) fail_line(lineno, what, text) end
  local line = { lineno = lineno, packets_before = packets_before }
  local seen = {}
  while words:peek() do
    local word = words:next()
    local key = word:lower()
    local clause = CLAUSES[key]
    if not clause then fail("unknown clause '" .. word .. "'") end
    if seen[key] and not clause.again then fail("clause '" .. clause.name .. "' given twice") end
    if clause.against and seen[clause.against] then
      fail(string.format("'%s' and '%s' contradict each other", CLAUSES[clause.against].name,
        clause.name))
    end
    if not seen[key] then
      seen[key] = { key = key }
      rec.clauses[#rec.clauses + 1] = seen[key]
    end
    clause.parse(seen[key], words, fail, line)
  end
  rec.reason = seen.reason and seen.reason.name
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

-- The times of the marks the spec's `after MARK` clauses name, asked of
-- the source (source:mark(name) → time on its clock | nil, the names it
-- knows); raise for the first line naming a mark the source lacks.
local function resolve_marks(spec, source)
  local marks = {}
  for _, rec in ipairs(spec) do
    for _, c in ipairs(rec.clauses or {}) do
      if c.mark and not marks[c.mark] then
        local at, known
        if type(source.mark) == "function" then at, known = source:mark(c.mark) end
        if at == nil then
          known = known or {}
          fail_line(rec.lineno, string.format("unknown mark '%s' (marked so far: %s)", c.mark,
            #known > 0 and table.concat(known, ", ") or "none"), trim(rec.text))
        end
        marks[c.mark] = at
      end
    end
  end
  return marks
end

-- Raise for the first packet line that names an endpoint binds lacks.
local function check_bound(spec, binds)
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

--- Parse an expectation text.
-- Raises "expectation line N: <what is wrong>: <the line>" on a bad line
-- (N counts from 1 at the first line of text).
-- @param text string
-- @param binds optional { name = endpoint }: then a packet line naming an
--   endpoint that is not bound is an error of that line
-- @return spec: a list of line records in order, each { kind = "packet" |
--   "skip" | "quiet", lineno = N, text = the original line, code = the line
--   without comment and outer blanks, ... }; packet records also carry src,
--   dst (names), flags (as written, or "*"), flagbits (or "*"), clauses (in
--   written order, one per keyword: { key = "seq", value = 1, upto = 6 },
--   { key = "sack", blocks = { {l, r}, ... } }, { key = "after", t, d,
--   mark = name or nil },
--   { key = "reason", name = "TCP_STATE" }, ...) and reason (the name, or
--   nil); quiet records carry period (seconds).
function expect.parse(text, binds)
  if type(text) ~= "string" then
    error("expect.parse: text must be a string, got " .. type(text), 2)
  end
  local spec = {}
  local quiet_at = nil
  local lineno, packets = 0, 0
  for raw in (text .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    local code = raw:find("--", 1, true) and raw:sub(1, raw:find("--", 1, true) - 1) or raw
    code = trim(code)
    local shown = trim(raw)
    if code ~= "" then
      if quiet_at then
        fail_line(lineno, "nothing may follow 'no more packets' (line " .. quiet_at .. ")", shown)
      end
      local rec
      if code == "..." or code == "…" then
        rec = { kind = "skip", lineno = lineno }
      elseif code:match("^[Nn]o%s+more%s+packets") then
        rec = parse_quiet(lineno, code:match("^[Nn]o%s+more%s+packets%s*(.*)$"), shown)
        quiet_at = lineno
      else
        rec = parse_packet(lineno, code, shown, packets)
        packets = packets + 1
      end
      rec.text, rec.code = raw, code
      spec[#spec + 1] = rec
    end
  end
  if type(binds) == "table" then check_bound(spec, binds) end
  return spec
end

--- Write a parsed line back as text, in the canonical form: parse of the
--- lines written gives the same records (but their lineno, text and code).
-- @param rec a record of a spec from expect.parse
-- @return string, e.g. "C > S [P.] seq 1:6 ack 1 reason TCP_STATE"
function expect.format_line(rec)
  if rec.kind == "skip" then return "..." end
  if rec.kind == "quiet" then return "no more packets within " .. exact(rec.period) .. " s" end
  local out = { string.format("%s > %s [%s]", rec.src, rec.dst,
    rec.flagbits == "*" and "*" or tcpflags.letters(rec.flagbits)) }
  for _, c in ipairs(rec.clauses) do out[#out + 1] = CLAUSES[c.key].format(c) end
  return table.concat(out, " ")
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

-- Check a packet line against a packet: direction, flags, then each clause
-- through its entry. Returns nil (match) plus an unchecked text or nil, or
-- the failure text plus how close the packet came (1 direction differs,
-- 2 flags differ, 3 a clause differs).
local function check(rec, p, names, ctx)
  local sname, dname = ladder.name(names, p.src), ladder.name(names, p.dst)
  if sname ~= rec.src or dname ~= rec.dst then
    return string.format("expected %s > %s, got %s > %s", rec.src, rec.dst, sname, dname), 1
  end
  if rec.flagbits ~= "*" and p.flags ~= rec.flagbits then
    return string.format("expected [%s], got [%s]", rec.flags, tcpflags.letters(p.flags)), 2
  end
  ctx.rec = rec
  local unchecked = nil
  for _, last in ipairs { false, true } do
    for _, c in ipairs(rec.clauses) do
      local clause = CLAUSES[c.key]
      if (clause.last or false) == last then
        local why, u = clause.check(c, p, ctx)
        if why then return why, 3 end
        unchecked = unchecked or u
      end
    end
  end
  return nil, unchecked
end

--- Match a parsed expectation against a capture as it arrives.
-- Only packets whose src and dst are both bound are considered; the others
-- are skipped. Each packet line must match the next considered packet (after
-- `...`, the first one that satisfies it); the first clause that differs
-- fails the line (direction, then flags, then clauses in written order, the
-- reason last). Waiting for a packet ends at source:now() + timeout, taken
-- when match is called; a `no more packets within T` line waits exactly
-- T × scale after the previous matched packet (or after the call, if none).
-- Raises "expectation line N: name 'X' is not bound (bound: ...): line" when
-- a packet line names an endpoint binds lacks, and "expectation line N:
-- unknown mark 'X' (marked so far: ...): line" when an `after MARK` clause
-- names a mark the source does not know when the match starts.
-- @param spec from expect.parse
-- @param binds { name = "ip:port" or a list of them (every address of one
--        socket: the name matches any), ... }
-- @param source object with :packet(i, deadline) → packet or nil,
--        :now() → time (the clock of packet ts and deadlines), and
--        optionally :reason(pkt) → name | nil, why, and :mark(name) → the
--        mark's time on the same clock | nil, { names it knows }
-- @param opts { timeout = seconds (default 2 × scale), first = capture index
--        to start at (default 1), from = a time on the source's clock:
--        packets before it are not considered (they still set the
--        relative numbers of their connection), scale = time scale
--        (default 1): multiplies every `after` tolerance, every quiet
--        period and the default timeout, for slow kernels } or nil
-- @return ok (boolean), report { lines = { {rec, status = "ok" | "fail" |
--   "pending", packet = index into packets, skipped = {indices} (for `...`),
--   nearest = index of the closest miss (a line after `...` that failed),
--   why = failure text, unchecked = text} ... }, packets = the considered
--   packets pulled from the source (matched, skipped, failed and extra ones
--   already captured), capture_index = { [k] = source index of packets[k] },
--   consumed = how many of packets the expectation used up, next_index =
--   source index just after the last consumed packet, first_failure = index
--   into lines or nil, message = one-line summary, unchecked = { "line N:
--   reason X unchecked: why", ... }, binds, names, rel, scale }
function expect.match(spec, binds, source, opts)
  opts = opts or {}
  local scale = opts.scale or 1
  if type(scale) ~= "number" or not (scale > 0 and scale < math.huge) then
    error("expect.match: opts.scale must be a positive number, got " .. tostring(scale), 2)
  end
  local timeout = opts.timeout or DEFAULT_TIMEOUT * scale
  local names = ladder.names(binds)
  check_bound(spec, binds)
  local marks = resolve_marks(spec, source)
  local from = opts.from

  local now0 = source:now()
  local deadline = now0 + timeout
  local rel = ladder.relative()
  local report = { lines = {}, packets = {}, capture_index = {}, unchecked = {},
                   names = names, binds = binds, rel = rel, consumed = 0, scale = scale }
  for k, rec in ipairs(spec) do report.lines[k] = { rec = rec, status = "pending" } end

  local ci = opts.first or 1 -- next capture index to ask the source for
  local pos = 1              -- next unconsumed index in report.packets

  -- The considered packet at pos, pulled from the source by dl if needed.
  local function pull(dl)
    while #report.packets < pos do
      local p = source:packet(ci, dl)
      if p == nil then return nil end
      if ladder.considered(names, p) then
        rel:add(p) -- (also before `from`: numbers stay those of the connection)
        if not from or p.ts >= from then
          report.packets[#report.packets + 1] = p
          report.capture_index[#report.packets] = ci
        end
      end
      ci = ci + 1
    end
    return report.packets[pos]
  end

  local ctx = { rel = rel, source = source, scale = scale, prev_ts = nil, marks = marks } -- for the clauses
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
        local why, extra = check(rec, p, names, ctx)
        if why == nil then
          res.status, res.packet = "ok", pos
          if extra then
            res.unchecked = extra
            report.unchecked[#report.unchecked + 1] = extra
          end
          pos, ctx.prev_ts = pos + 1, p.ts
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
      local period = rec.period * scale
      local from = ctx.prev_ts or now0
      -- A source that can prove that nothing more can come (source:settled:
      -- see capture.lua) ends the period early; it is asked every
      -- SETTLE_STEP while nothing arrives. Anything uncertain waits it out.
      local provable = not skipping and type(source.settled) == "function"
      while true do
        local quiet_end = from + period
        -- What the capture holds already comes first: a proof of what the
        -- sockets can still do says nothing of packets already sent.
        local p = pull(provable and source:now() or quiet_end)
        if p == nil and provable then
          local settled, again = source:settled()
          if settled then
            res.status, res.proven = "ok", source:now() - from
            break
          end
          local dl = math.min(quiet_end, source:now() + (again or expect.SETTLE_STEP))
          p = pull(dl)
          if p == nil and dl < quiet_end then goto continue end
        end
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
            secs(period), secs(timeout)))
          break
        else
          res.packet = pos
          fail(k, string.format("unexpected packet during the quiet period: %s (%.3f s after %s)",
            ladder.line(p, names, rel), p.ts - from,
            ctx.prev_ts and "the previous packet" or "the start of the match"))
          break
        end
        ::continue::
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

--- The line number, within the expectation text, of the line that failed
--- (for expect.locate, to name the script's line).
-- @param spec from expect.parse
-- @param report from expect.match
-- @return integer (1-based), or nil when the match passed
function expect.failed_lineno(spec, report)
  local k = report.first_failure
  return k and spec[k].lineno or nil
end

--- The expectation lines beside the packets they matched, for a ladder:
--- "N: code" beside each matched packet, ">> N: code" beside the packet of
--- the line that failed, or ">> N: code (nearest miss)" beside the closest
--- miss of a failed line after `...`.
-- @param spec from expect.parse
-- @param report from expect.match
-- @param index optional { [k] = key } to key the marks by instead of the
--   position k in report.packets: report.capture_index keys them by capture
--   index (the order of the whole capture)
-- @return marks { [key] = text }, and the key of the failed line's packet
--   (nil when the match passed or the failed line has no packet)
function expect.marks(spec, report, index)
  local marks, failed = {}, nil
  for k, rec in ipairs(spec) do
    local res = report.lines[k]
    local pos = res.packet or (res.status == "fail" and res.nearest) or nil
    local key = pos
    if key and index then key = index[key] end
    if key then
      local text = string.format("%d: %s", rec.lineno, rec.code)
      if k == report.first_failure then
        text = ">> " .. text .. (res.packet and "" or " (nearest miss)")
        failed = key
      end
      marks[key] = text
    end
  end
  return marks, failed
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
--- packet. The report's one-line message is not part of it: the caller
--- prints it once, above.
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

  local out = {}
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
    elseif rec.kind == "quiet" and res.status == "ok" and res.proven then
      row(mark, left, string.format("(quiet: nothing more could come, proven after %.3f s)", res.proven))
    elseif rec.kind == "quiet" and res.status == "ok" then
      row(mark, left, "(quiet for " .. secs(rec.period * (report.scale or 1)) .. " s)")
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
    out[#out + 1] = ""
    out[#out + 1] = ladder.render(packets, report.binds,
      { ascii = opts.ascii, marks = (expect.marks(spec, report)), rel = rel })
  end
  return table.concat(out, "\n")
end

return expect
