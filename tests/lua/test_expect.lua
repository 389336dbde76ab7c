-- Unit tests of rstlab.expect (parser, matcher, report) and rstlab.ladder,
-- over synthetic packet tables and a fake packet source.
--
--   LUA_PATH='stdlib/?.lua;tests/lua/?.lua;;' lua5.4 tests/lua/test_expect.lua

local h = require "harness"
local expect = require "rstlab.expect"
local tcpflags = require "rstlab.tcpflags"
local ladder = require "rstlab.ladder"

local test, eq, ok, contains, raises = h.test, h.eq, h.ok, h.contains, h.raises

local CA, SA = "127.0.0.1:40000", "127.0.0.1:4000"
local BINDS = { C = CA, S = SA }

-- A packet table as the C core produces it; `over` overrides fields.
local function pkt(ts, src, dst, flags, seq, ack, over)
  local p = { ts = ts, src = src, dst = dst, flags = assert(tcpflags.parse(flags)), seq = seq, ack = ack,
              win = 512, len = 0, sackok = false, sack = {}, iface = "lo" }
  for k, v in pairs(over or {}) do p[k] = v end
  return p
end

local CI, SI = 1000, 5000 -- the ISNs of C and S

-- 3-way handshake, 5 bytes C → S, their ACK, then S aborts with RST.
local function conversation()
  return {
    pkt(0.000, CA, SA, "S", CI, 0, { win = 65535, mss = 65495, wscale = 7, sackok = true,
                                     tsval = 11, tsecr = 0 }),
    pkt(0.001, SA, CA, "S.", SI, CI + 1, { win = 65483, mss = 65495, wscale = 7, sackok = true,
                                           tsval = 22, tsecr = 11 }),
    pkt(0.002, CA, SA, ".", CI + 1, SI + 1, { tsval = 12, tsecr = 22 }),
    pkt(0.003, CA, SA, "P.", CI + 1, SI + 1, { len = 5, tsval = 13, tsecr = 22 }),
    pkt(0.004, SA, CA, ".", SI + 1, CI + 6, { tsval = 23, tsecr = 13 }),
    pkt(0.005, SA, CA, "R.", SI + 1, CI + 6, { win = 0 }),
  }
end

local HANDSHAKE_TEXT = [[
C > S  [S]
S > C  [S.]   ack 1
C > S  [.]
C > S  [P.]   len 5              -- a comment
S > C  [.]    ack 6
S > C  [R.]   seq 1 ack 6 win 0
]]

-- A fake source over a list: packet i "arrives" at its ts; asking with a
-- deadline before that advances the clock to the deadline and returns nil.
local function source(list, o)
  o = o or {}
  local src = { clock = o.start or 0, list = list, reasons = o.reasons or {}, asked = 0 }
  function src:now() return self.clock end
  function src:packet(i, deadline)
    self.asked = self.asked + 1
    local p = self.list[i]
    if p and p.ts <= math.max(deadline, self.clock) then
      if p.ts > self.clock then self.clock = p.ts end
      return p
    end
    if deadline > self.clock then self.clock = deadline end
    return nil
  end
  function src:reason(p)
    local r = self.reasons[p]
    if type(r) == "table" then return nil, r[1] end
    if r == nil then return nil, "no reason recorded" end
    return r
  end
  return src
end

local function run(text, list, o)
  o = o or {}
  local spec = expect.parse(text)
  local src = source(list, o)
  local good, report = expect.match(spec, o.binds or BINDS, src, o.opts)
  return good, report, spec, src
end

-- Why the first failing line failed (nil if the match passed).
local function why(text, list, o)
  local good, report = run(text, list, o)
  if good then return nil end
  return report.lines[report.first_failure].why
end

---------------------------------------------------------------------------
-- Parsing
---------------------------------------------------------------------------

test("parse: packet lines, comments, blanks, `...` and the quiet line", function()
  local spec = expect.parse([[

    -- a comment-only line
    C > S  [S]
    S > C  [S.]   ack 1   -- trailing comment
    ...
    no more packets within 0.2 s
    -- comments may follow the quiet line
  ]])
  eq(#spec, 4)
  eq(spec[1].kind, "packet"); eq(spec[1].lineno, 3); eq(spec[1].src, "C"); eq(spec[1].dst, "S")
  eq(spec[2].code, "S > C  [S.]   ack 1")
  eq(spec[2].text, "    S > C  [S.]   ack 1   -- trailing comment")
  eq(spec[2].clauses, { { key = "ack", value = 1 } })
  eq(spec[3].kind, "skip"); eq(spec[3].lineno, 5)
  eq(spec[4].kind, "quiet"); eq(spec[4].period, 0.2)
end)

test("parse: every clause", function()
  local spec = expect.parse("C > S [S] seq 1:6 ack 2 win 3 mss 4 wscale 5 sackOK sack 1:2 "
    .. "sack 3:4 ts reason TCP_STATE\nS > C [*] nots after 1 ± 0.3")
  eq(spec[1].clauses, {
    { key = "seq", value = 1, upto = 6 }, { key = "ack", value = 2 }, { key = "win", value = 3 },
    { key = "mss", value = 4 }, { key = "wscale", value = 5 }, { key = "sackok" },
    { key = "sack", blocks = { { 1, 2 }, { 3, 4 } } }, { key = "ts" },
    { key = "reason", name = "TCP_STATE" } })
  eq(spec[1].reason, "TCP_STATE")
  eq(spec[2].flags, "*")
  eq(spec[2].clauses, { { key = "nots" }, { key = "after", t = 1, d = 0.3 } })
end)

test("parse: after variants and the default tolerance", function()
  local spec = expect.parse("C > S [S]\nS > C [S.] after 1 +- 0.25\nC > S [.] after 2"
    .. "\nC > S [.] after 0.2\nC > S [.] after 1s±0.5s")
  eq(spec[2].clauses[1], { key = "after", t = 1, d = 0.25 })
  eq(spec[3].clauses[1], { key = "after", t = 2, d = 0.2 })     -- 0.1 × T
  eq(spec[4].clauses[1], { key = "after", t = 0.2, d = 0.05 })  -- at least 0.05
  eq(spec[5].clauses[1], { key = "after", t = 1, d = 0.5 })
end)

test("parse: quiet line spellings", function()
  eq(expect.parse("no more packets within 0.2")[1].period, 0.2)
  eq(expect.parse("no more packets within 0.5s")[1].period, 0.5)
  eq(expect.parse("  no more packets within 3 s  ")[1].period, 3)
end)

test("parse: flags are a set", function()
  local a, b = expect.parse("C > S [FP.]")[1], expect.parse("C > S [.PF]")[1]
  eq(a.flagbits, b.flagbits)
  ok(a.flagbits ~= expect.parse("C > S [F.]")[1].flagbits, "[FP.] differs from [F.]")
  eq(expect.parse("C > S [none]")[1].flagbits, 0)
end)

test("parse: errors name the line, what is wrong and the text", function()
  local cases = {
    { "C > S [S] lenn 5", "^expectation line 1: unknown clause 'lenn': C > S %[S%] lenn 5$" },
    { "\n\nC > S [S", "^expectation line 3: missing '%]': C > S %[S$" },
    { "C > S [SX]", "^expectation line 1: unknown flag letter 'X': C > S %[SX%]$" },
    { "C > S [.] ack", "^expectation line 1: number expected after 'ack': C > S %[%.%] ack$" },
    { "C > S [.] ack one", "^expectation line 1: number expected after 'ack'" },
    { "C > S [.] len -1", "^expectation line 1: number expected after 'len'" },
    { "C > S [S]\nS > C [.] after", "^expectation line 2: number expected after 'after': S > C" },
    { "C > S [S]\nS > C [.] after soon", "^expectation line 2: number expected after 'after'" },
    { "C > S [S]\nS > C [.] after 1 ± x", "^expectation line 2: number expected after '±'" },
    { "C > S S", "^expectation line 1: expected '%[flags%]' after 'C > S': C > S S$" },
    { "  hello there", "^expectation line 1: expected 'A > B %[flags%]': hello there$" },
    { "C > S []", "^expectation line 1: empty flags" },
    { "C > S [SS]", "^expectation line 1: flag letter 'S' given twice" },
    { "C > S [S] ack 1 ack 2", "^expectation line 1: clause 'ack' given twice" },
    { "C > S [S] ts nots", "^expectation line 1: 'ts' and 'nots' contradict" },
    { "C > S [S] NOTS TS", "^expectation line 1: 'nots' and 'ts' contradict" },
    { "C > S [S] sackok sackOK", "^expectation line 1: clause 'sackOK' given twice" },
    { "C > S [S] sack 5", "^expectation line 1: 'L:R' expected after 'sack'" },
    { "C > S [S] reason", "^expectation line 1: name expected after 'reason'" },
    { "C > S [S] seq 4294967296", "^expectation line 1: seq 4294967296 out of range" },
    { "C > S [S] after 1", "^expectation line 1: 'after' needs an earlier packet line" },
    { "no more packets within x s", "^expectation line 1: number expected after 'within'" },
    { "no more packets", "^expectation line 1: expected 'within T s' after 'no more packets'" },
    { "no more packets within 1 minute", "^expectation line 1: unexpected 'minute'" },
    { "no more packets within 1 s or so", "^expectation line 1: unexpected 'or so' after the period" },
    { "no more packets within 1 s\n\nC > S [S]",
      "^expectation line 3: nothing may follow 'no more packets' %(line 1%): C > S %[S%]$" },
  }
  for _, c in ipairs(cases) do
    raises(c[2], function() expect.parse(c[1]) end, string.format("%q", c[1]))
  end
end)

test("unbound names: one check, the same error from parse and from match", function()
  local text = "C > S [S]\n\n  C > X [S]  -- X is nobody"
  local want = "^expectation line 3: name 'X' is not bound %(bound: C, S%): C > X %[S%]  %-%- X is nobody$"
  raises(want, function() expect.parse(text, BINDS) end, "parse with binds")
  local spec = expect.parse(text) -- without binds, parse cannot know
  eq(#spec, 2)
  raises(want, function() expect.match(spec, BINDS, source({})) end, "match")
  raises("%(bound: none%)", function() expect.parse("C > S [S]", {}) end)
  -- a bound name whose value is a socket object counts as bound in parse
  eq(#expect.parse("C > S [S]", { C = {}, S = {} }), 1)
  raises("same endpoint", function()
    expect.match(expect.parse("C > S [S]"), { C = CA, S = CA }, source({}))
  end)
end)

---------------------------------------------------------------------------
-- Matching
---------------------------------------------------------------------------

test("match: handshake, data and RST", function()
  local good, report = run(HANDSHAKE_TEXT, conversation())
  ok(good, report.message)
  eq(report.first_failure, nil)
  eq(report.consumed, 6)
  eq(#report.packets, 6)
  eq(report.next_index, 7)
  eq(report.lines[6].packet, 6)
  contains(report.message, "expectation matched")
end)

test("match: every clause passes on the packets it describes", function()
  local list = conversation()
  local good, report = run([[
    C > S [S]  seq 0 len 0 win 65535 mss 65495 wscale 7 sackOK ts
    S > C [S.] seq 0 ack 1 mss 65495 wscale 7 sackOK ts
    C > S [.]  seq 1 ack 1 ts
    C > S [P.] seq 1:6 ack 1 len 5
    S > C [.]  seq 1 ack 6
    S > C [R.] seq 1 ack 6 win 0 nots
  ]], list)
  ok(good, report.message)
end)

test("match: each clause fails with the reason of the first difference", function()
  local cases = {
    { "C > S [S.]", "expected [S.], got [S]" },
    { "S > C [S]", "expected S > C, got C > S" },
    { "C > S [S.] seq 9", "expected [S.], got [S]" },                -- flags first
    { "C > S [S] seq 1", "expected seq 1, got seq 0" },
    { "C > S [S] len 5", "expected len 5, got len 0" },
    { "C > S [S] win 1", "expected win 1, got win 65535" },
    { "C > S [S] mss 1460", "expected mss 1460, got mss 65495" },
    { "C > S [S] wscale 8", "expected wscale 8, got wscale 7" },
    { "C > S [S] nots", "expected nots, got a timestamp option" },
    { "C > S [*] ack 1", "expected ack 1, got no ack (flags [S])" },
    { "C > S [S] win 65535 seq 3 len 9", "expected seq 3, got seq 0" },  -- written order
  }
  for _, c in ipairs(cases) do eq(why(c[1], conversation()), c[2], c[1]) end
  -- the later packets
  local prefix3 = "C > S [S]\nS > C [S.]\n"
  eq(why(prefix3 .. "C > S [.] ack 2", conversation()), "expected ack 2, got ack 1")
  eq(why(prefix3 .. "C > S [.] sackOK", conversation()), "expected sackOK, got no sackOK option")
  eq(why(prefix3 .. "C > S [.] mss 1", conversation()), "expected mss 1, got no mss option")
  eq(why(prefix3 .. "C > S [.] wscale 1", conversation()), "expected wscale 1, got no wscale option")
  eq(why(prefix3 .. "C > S [.]\nC > S [P.] seq 1:5", conversation()),
    "expected seq 1:5, got seq 1:6")
  eq(why(prefix3 .. "C > S [.]\nC > S [P.]\nS > C [.]\nS > C [R.] ts", conversation()),
    "expected ts, got no timestamp option")
end)

-- One case per entry of expect.clauses: a text whose last line carries the
-- clause and matches `list` (default conversation()), the clause as parsed,
-- the line written back (format), and a text whose last line fails on it.
local PRE3 = "C > S [S]\nS > C [S.]\nC > S [.]\n"     -- the next packet is C's data
local PRE5 = PRE3 .. "C > S [P.]\nS > C [.]\n"        -- the next packet is S's RST
local function with_sack()
  local list = conversation()
  list[5].sack = { { CI + 11, CI + 16 }, { CI + 21, CI + 31 } }
  return list
end
local function with_reason(name)
  local list = conversation()
  return list, { [list[6]] = name }
end
local CLAUSE_CASES = {
  seq = { pass = PRE3 .. "C > S [P.] seq 1:6", clause = { key = "seq", value = 1, upto = 6 },
          fail = "C > S [S] seq 1", why = "expected seq 1, got seq 0" },
  ack = { pass = "C > S [S]\nS > C [S.] ack 1", clause = { key = "ack", value = 1 },
          fail = "C > S [S]\nS > C [S.] ack 2", why = "expected ack 2, got ack 1" },
  len = { pass = PRE3 .. "C > S [P.] len 5", clause = { key = "len", value = 5 },
          fail = PRE3 .. "C > S [P.] len 4", why = "expected len 4, got len 5" },
  win = { pass = PRE5 .. "S > C [R.] win 0", clause = { key = "win", value = 0 },
          fail = "C > S [S] win 512", why = "expected win 512, got win 65535" },
  mss = { pass = "C > S [S] mss 65495", clause = { key = "mss", value = 65495 },
          fail = PRE3 .. "C > S [P.] mss 1460", why = "expected mss 1460, got no mss option" },
  wscale = { pass = "C > S [S] wscale 7", clause = { key = "wscale", value = 7 },
          fail = "C > S [S] wscale 14", why = "expected wscale 14, got wscale 7" },
  sackok = { pass = "C > S [S] sackOK", clause = { key = "sackok" },
          fail = PRE3 .. "C > S [P.] sackok", why = "expected sackOK, got no sackOK option" },
  ts = { pass = "C > S [S] ts", clause = { key = "ts" },
          fail = PRE5 .. "S > C [R.] ts", why = "expected ts, got no timestamp option" },
  nots = { pass = PRE5 .. "S > C [R.] nots", clause = { key = "nots" },
          fail = "C > S [S] nots", why = "expected nots, got a timestamp option" },
  sack = { pass = PRE3 .. "C > S [P.]\nS > C [.] sack 21:31 sack 11:16", list = with_sack,
          clause = { key = "sack", blocks = { { 21, 31 }, { 11, 16 } } },
          fail = PRE3 .. "C > S [P.]\nS > C [.] sack 11:16", fail_list = with_sack,
          why = "expected sack 11:16, got sack 11:16 21:31" },
  after = { pass = "C > S [S]\nS > C [S.] after 0.001 ± 0.0005",
          clause = { key = "after", t = 0.001, d = 0.0005 },
          fail = "C > S [S]\nS > C [S.] after 0.5", why = "expected after 0.50 ± 0.05 s, was 0.00 s" },
  reason = { pass = PRE5 .. "S > C [R.] reason TCP_STATE", list = function() return with_reason("TCP_STATE") end,
          clause = { key = "reason", name = "TCP_STATE" },
          fail = PRE5 .. "S > C [R.] reason TCP_STATE",
          fail_list = function() return with_reason("NOT_SPECIFIED") end,
          why = "expected reason TCP_STATE, kernel said NOT_SPECIFIED" },
}

test("clauses: every entry parses, passes, fails with its message and writes back", function()
  for key, entry in pairs(expect.clauses) do
    local case = CLAUSE_CASES[key]
    ok(case, "a test case for the clause '" .. key .. "'")
    if case then
      ok(type(entry.parse) == "function" and type(entry.check) == "function"
        and type(entry.format) == "function", key .. ": parse, check and format")
      local spec = expect.parse(case.pass)
      local last = spec[#spec]
      eq(last.clauses, { case.clause }, key .. ": parsed")
      eq(expect.format_line(last), last.code, key .. ": written back as it was written")
      local list, reasons = (case.list or conversation)()
      local good, report = expect.match(spec, BINDS, source(list, { reasons = reasons }))
      ok(good, key .. ": passes: " .. report.message)
      eq(report.unchecked, {}, key .. ": checked")
      list, reasons = (case.fail_list or conversation)()
      spec = expect.parse(case.fail)
      good, report = expect.match(spec, BINDS, source(list, { reasons = reasons }))
      ok(not good, key .. ": fails")
      eq(report.first_failure, #spec, key .. ": on its own line")
      eq(report.lines[#spec].why, case.why, key .. ": why")
    end
  end
  for key in pairs(CLAUSE_CASES) do ok(expect.clauses[key], "a clause '" .. key .. "'") end
end)

test("clauses: a new clause is one entry", function()
  expect.clauses.ttl = {
    name = "ttl",
    parse = function(c, words, fail)
      c.value = tonumber(words:next()) or fail("number expected after 'ttl'")
    end,
    check = function(c, p)
      if p.ttl ~= c.value then return string.format("expected ttl %d, got ttl %s", c.value, p.ttl) end
    end,
    format = function(c) return "ttl " .. c.value end,
  }
  local ran, err = pcall(function()
    local list = { pkt(0, CA, SA, "S", CI, 0, { ttl = 64 }) }
    local spec = expect.parse("C > S [S] TTL 64 seq 0")
    eq(spec[1].clauses, { { key = "ttl", value = 64 }, { key = "seq", value = 0 } })
    eq(expect.format_line(spec[1]), "C > S [S] ttl 64 seq 0")
    ok((expect.match(spec, BINDS, source(list))), "ttl 64 matches")
    eq(why("C > S [S] ttl 1", list), "expected ttl 1, got ttl 64")
    raises("^expectation line 1: number expected after 'ttl'", function() expect.parse("C > S [S] ttl") end)
  end)
  expect.clauses.ttl = nil
  ok(ran, tostring(err))
  raises("unknown clause 'ttl'", function() expect.parse("C > S [S] ttl 64") end)
end)

test("clauses: checked in written order, the reason last, whatever its place", function()
  local list, reasons = with_reason("NOT_SPECIFIED")
  local asked = false
  local src = source(list, { reasons = reasons })
  local reason = src.reason
  function src:reason(p) asked = true; return reason(self, p) end
  local spec = expect.parse(PRE5 .. "S > C [R.] reason TCP_STATE ack 9")
  local good, report = expect.match(spec, BINDS, src)
  ok(not good)
  eq(report.lines[6].why, "expected ack 9, got ack 6")
  ok(not asked, "the reason is not asked of a packet another clause refused")
end)

test("format_line: the canonical form parses back to the same lines", function()
  local text = [[
    C>S [S]
    C > S  [.PF]  ACK 1 Sack 1:2 sack 3:4 after 2s +- 0.5 s   -- comment
    S>C [*] sackok  after 1.5 reason X_Y
    …
    C > S [none] after .0000001 ± 100000000000000000000 nots
    no more packets within 0004983108671024019682 seconds
  ]]
  local spec = expect.parse(text)
  local lines = {}
  for i, rec in ipairs(spec) do lines[i] = expect.format_line(rec) end
  eq(lines, {
    "C > S [S]",
    "C > S [FP.] ack 1 sack 1:2 sack 3:4 after 2 ± 0.5",
    "S > C [*] sackOK after 1.5 reason X_Y",
    "...",
    "C > S [none] after 0.0000001 ± 100000000000000000000 nots",
    "no more packets within 4983108671024019682 s", -- an integer, not a float near it
  })
  local again = expect.parse(table.concat(lines, "\n"))
  for i, rec in ipairs(spec) do
    for _, f in ipairs { "kind", "src", "dst", "flagbits", "clauses", "reason", "period" } do
      eq(again[i][f], rec[f], "line " .. i .. ": " .. f)
    end
  end
end)

test("match: SACK blocks relative to the ACKer's peer", function()
  local list = {
    pkt(0.0, CA, SA, "S", CI, 0), pkt(0.001, SA, CA, "S.", SI, CI + 1),
    pkt(0.002, CA, SA, ".", CI + 1, SI + 1),
    pkt(0.010, SA, CA, ".", SI + 1, CI + 1, { sack = { { CI + 11, CI + 16 }, { CI + 21, CI + 31 } } }),
  }
  local pre = "C > S [S]\nS > C [S.]\nC > S [.]\n"
  local good, report = run(pre .. "S > C [.] ack 1 sack 21:31 sack 11:16", list)
  ok(good, report.message)
  eq(why(pre .. "S > C [.] ack 1 sack 11:17 sack 21:31", list),
    "expected sack 11:17 21:31, got sack 11:16 21:31")
  eq(why(pre .. "S > C [.] sack 11:16", list), "expected sack 11:16, got sack 11:16 21:31")
  eq(why("C > S [S] sack 1:2", list), "expected sack 1:2, got no sack blocks")
  contains(ladder.line(list[4], ladder.names(BINDS), ladder.bases(list, BINDS)),
    "sack 11:16 sack 21:31")
end)

test("match: sequence numbers wrap around 2^32", function()
  local isn = 0xFFFFFFFE
  local list = {
    pkt(0.0, CA, SA, "S", isn, 0),
    pkt(0.001, SA, CA, "S.", SI, (isn + 1) & 0xFFFFFFFF),
    pkt(0.002, CA, SA, "P.", 0xFFFFFFFF, SI + 1, { len = 5 }),
    pkt(0.003, SA, CA, ".", SI + 1, (0xFFFFFFFF + 5) & 0xFFFFFFFF),
  }
  local good, report = run("C > S [S] seq 0\nS > C [S.] ack 1\nC > S [P.] seq 1:6\nS > C [.] ack 6",
    list)
  ok(good, report.message)
  local rel = ladder.bases(list, BINDS)
  eq(rel:ack(list[4]), 6)
  contains(ladder.line(list[3], ladder.names(BINDS), rel), "seq 1:6 ack 1")
end)

test("match: SYN refused by a RST with absolute seq 0", function()
  local list = {
    pkt(0.0, CA, SA, "S", 777, 0),
    pkt(0.0001, SA, CA, "R.", 0, 778, { win = 0 }),
  }
  local good, report = run("C > S [S]\nS > C [R.] seq 0 ack 1 win 0", list)
  ok(good, report.message)
  eq(why("C > S [S]\nS > C [R.] seq 1", list), "expected seq 1, got seq 0")
  -- a first packet that is no SYN numbers from its own seq
  local rel = ladder.bases({ pkt(0, SA, CA, "R.", 123456, 778) }, BINDS)
  eq(rel:seq(pkt(0, SA, CA, "R.", 123456, 778)), 0)
end)

test("match: the first SYN from a side is its base, even after other packets", function()
  local list = {
    pkt(0.0, CA, SA, "R", 50, 0),          -- a stray RST from C before its SYN
    pkt(0.1, CA, SA, "S", CI, 0),
    pkt(0.101, SA, CA, "S.", SI, CI + 1),
  }
  local good, report = run("C > S [R] seq 0\nC > S [S] seq 0\nS > C [S.] ack 1", list)
  ok(good, report.message)
  -- over the whole list, the SYN is the base from the start
  eq(ladder.bases(list, BINDS):seq(list[1]), (50 - CI) & 0xFFFFFFFF)
end)

test("match: packets not between bound endpoints are ignored", function()
  local other = "127.0.0.1:9999"
  local list = conversation()
  table.insert(list, 1, pkt(0.0, CA, other, "S", 42, 0))         -- C to an unbound port
  table.insert(list, 3, pkt(0.0005, "10.0.0.1:1", "10.0.0.2:2", "S.", 7, 8))
  table.insert(list, 6, pkt(0.0025, other, CA, "R.", 0, 43))
  local good, report = run(HANDSHAKE_TEXT, list)
  ok(good, report.message)
  eq(#report.packets, 6)
  eq(report.capture_index[1], 2)
  eq(report.next_index, #list + 1)
  for _, p in ipairs(report.packets) do
    ok(p.src ~= other and p.dst ~= other, "an unbound packet was considered")
  end
end)

test("match: `...` skips any packets, also none", function()
  local good, report = run("C > S [S]\n...\nS > C [R.] ack 6", conversation())
  ok(good, report.message)
  eq(report.lines[2].skipped, { 2, 3, 4, 5 })
  eq(report.lines[3].packet, 6)
  good, report = run("C > S [S]\n...\nS > C [S.]", conversation())
  ok(good, report.message)
  eq(report.lines[2].skipped, {})
  good, report = run("...", conversation())
  ok(good, report.message)
  eq(report.consumed, 0)
end)

test("match: `...` with no matching packet names the nearest miss", function()
  local good, report, _, src = run("C > S [S]\n...\nS > C [R.] ack 7", conversation())
  ok(not good)
  eq(report.first_failure, 3)
  eq(report.lines[3].why,
    "no matching packet arrived within 2.0 s (5 skipped; nearest: #6 S > C [R.]: expected ack 7, got ack 6)")
  ok(src:now() >= 2.0, "it waited until the timeout")
end)

test("match: a missing packet fails at the timeout", function()
  local list = conversation()
  local w = why(HANDSHAKE_TEXT .. "C > S [R]", list)
  eq(w, "no packet arrived within 2.0 s")
  local good, report, _, src = run("C > S [S]\nS > C [S.]\nC > S [.]\nC > S [F.]",
    { list[1], list[2], list[3] }, { opts = { timeout = 0.5 } })
  ok(not good)
  eq(report.lines[4].why, "no packet arrived within 0.5 s")
  ok(src:now() >= 0.5 and src:now() < 0.6, "waited exactly until the deadline")
  contains(report.message, "expectation line 4 (C > S [F.]): no packet arrived within 0.5 s")
end)

test("match: extra packets after the last line are allowed", function()
  local good, report = run("C > S [S]\nS > C [S.]", conversation(), { start = 1 })
  ok(good, report.message)
  eq(report.consumed, 2)
  eq(#report.packets, 6) -- the rest, already captured, is kept for the report
end)

test("match: quiet period passes when nothing comes", function()
  local list = conversation()
  list[4].ts = 1.0 -- the data comes 1 s after the handshake
  local good, report, _, src = run("C > S [S]\nS > C [S.]\nC > S [.]\nno more packets within 0.2 s",
    list)
  ok(good, report.message)
  ok(src:now() >= 0.202, "waited for the quiet period, now = " .. src:now())
  eq(report.consumed, 3)
end)

test("match: quiet period fails on a packet inside it", function()
  local list = conversation()
  local good, report = run("C > S [S]\nS > C [S.]\nC > S [.]\nno more packets within 0.2 s", list)
  ok(not good)
  eq(report.first_failure, 4)
  eq(report.lines[4].packet, 4)
  contains(report.lines[4].why,
    "unexpected packet during the quiet period: C > S  [P.] seq 1:6 ack 1 win 512 len 5")
  contains(report.lines[4].why, "(0.001 s after the previous packet)")
end)

test("match: quiet period alone, from the start of the match", function()
  local good, _, _, src = run("no more packets within 0.3", {}, { start = 10 })
  ok(good)
  ok(src:now() >= 10.3, "waited 0.3 s from the start")
  local w = why("no more packets within 0.3",
    { pkt(10.1, CA, SA, "S", CI, 0) }, { start = 10 })
  contains(w, "(0.100 s after the start of the match)")
end)

test("match: quiet period is not cut by the timeout", function()
  local list = { pkt(0.0, CA, SA, "S", CI, 0), pkt(0.4, CA, SA, "S", CI, 0) }
  local w = why("C > S [S]\nno more packets within 0.5", list, { opts = { timeout = 0.1 } })
  contains(w, "unexpected packet during the quiet period: C > S  [S] seq 0")
  local good, _, _, src = run("C > S [S]\nno more packets within 0.5", { list[1] },
    { opts = { timeout = 0.1 } })
  ok(good)
  ok(src:now() >= 0.5, "waited the whole 0.5 s")
end)

test("match: `...` then quiet waits for a quiet spell", function()
  local list = { pkt(0, CA, SA, "S", CI, 0), pkt(0.1, CA, SA, "S", CI, 0),
                 pkt(0.2, CA, SA, "S", CI, 0) }
  local good, report, _, src = run("C > S [S]\n...\nno more packets within 0.5", list)
  ok(good, report.message)
  eq(report.lines[2].skipped, { 2, 3 })
  ok(src:now() >= 0.7, "quiet measured from the last skipped packet")
  -- a retransmission every 0.3 s for 3 s never leaves 0.5 s of quiet
  local storm = {}
  for i = 0, 10 do storm[#storm + 1] = pkt(i * 0.3, CA, SA, "S", CI, 0) end
  local w = why("C > S [S]\n...\nno more packets within 0.5", storm, { opts = { timeout = 1 } })
  eq(w, "packets kept arriving: no quiet period of 0.5 s began within 1.0 s")
end)

test("match: timing with after", function()
  local list = conversation()
  list[2].ts, list[3].ts = 1.05, 3.08
  local good, report = run("C > S [S]\nS > C [S.] after 1\nC > S [.] after 2 +- 0.1", list,
    { opts = { timeout = 5 } })
  ok(good, report.message)
  good, report = run("C > S [S]\nS > C [S.] after 1\nC > S [.] after 1 ± 0.2", list,
    { opts = { timeout = 5 } })
  ok(not good, "off timing must fail")
  eq(report.first_failure, 3)
  eq(report.lines[3].why, "expected after 1.00 ± 0.20 s, was 2.03 s")
  local text = expect.format_report(expect.parse("C > S [S]\nS > C [S.] after 1\nC > S [.] after 1 ± 0.2"),
    report)
  contains(text, "^^ expected after 1.00 ± 0.20 s, was 2.03 s")
  -- the default tolerance: 0.1 × T, at least 0.05
  eq(why("C > S [S]\nS > C [S.] after 0.2", { list[1], pkt(0.26, SA, CA, "S.", SI, CI + 1) }),
    "expected after 0.20 ± 0.05 s, was 0.26 s")
  eq(why("C > S [S]\nS > C [S.] after 0.5", { list[1], pkt(0.549, SA, CA, "S.", SI, CI + 1) }), nil)
end)

---------------------------------------------------------------------------
-- Marks, `from` and endpoints bound to several addresses
---------------------------------------------------------------------------

-- A source that knows marks: { name = time }.
local function marked(list, marks, o)
  local src = source(list, o)
  function src:mark(name)
    if marks[name] then return marks[name] end
    local known = {}
    for k in pairs(marks) do known[#known + 1] = k end
    table.sort(known)
    return nil, known
  end
  return src
end

test("parse: after MARK T ± D, also on the first line, and back to text", function()
  local spec = expect.parse("C > S [S] after go 0.24 ± 0.06\nS > C [S.] after close_2 1")
  eq(spec[1].clauses[1], { key = "after", mark = "go", t = 0.24, d = 0.06 })
  eq(spec[2].clauses[1], { key = "after", mark = "close_2", t = 1, d = 0.1 })
  eq(expect.format_line(spec[1]), "C > S [S] after go 0.24 ± 0.06")
  eq(expect.format_line(spec[2]), "S > C [S.] after close_2 1")
  raises("^expectation line 1: number expected after 'after'", function()
    expect.parse("C > S [S] after go")
  end)
  raises("^expectation line 1: number expected after '±'", function()
    expect.parse("C > S [S] after go 1 ± soon")
  end)
end)

test("match: after MARK times a packet from the script's mark", function()
  local list = conversation()
  list[6].ts = 1.30 -- the RST, 0.3 s after the mark at 1.0
  local text = "C > S [S]\n...\nS > C [R.] after close 0.3 ± 0.05"
  local spec = expect.parse(text)
  local good, report = expect.match(spec, BINDS, marked(list, { close = 1.0 }))
  ok(good, report.message)
  good, report = expect.match(spec, BINDS, marked(list, { close = 0.9 }))
  ok(not good, "0.4 s after the mark is not 0.3 ± 0.05")
  contains(report.lines[3].why, "nearest: #6 S > C [R.]: expected after close 0.30 ± 0.05 s, was 0.40 s")
  -- from the mark, not from the previous packet (that would be 0.001 s)
  good = expect.match(expect.parse("C > S [S] after start 0 ± 0.01\nS > C [S.] after start 0.001 ± 0.0005"),
    BINDS, marked(list, { start = 0 }))
  ok(good, "both lines timed from the one mark")
  good, report = expect.match(expect.parse("C > S [S] after start 0 ± 0.01\nS > C [S.] after start 0.5"),
    BINDS, marked(list, { start = 0 }))
  eq(report.lines[2].why, "expected after start 0.50 ± 0.05 s, was 0.00 s")
end)

test("match: an unknown mark is an error of its line, before any packet is awaited", function()
  local list = conversation()
  local spec = expect.parse("C > S [S]\nS > C [S.] after gone 1")
  local src = marked(list, { go = 0, close = 2 })
  raises("^expectation line 2: unknown mark 'gone' %(marked so far: close, go%): S > C %[S%.%] after gone 1$",
    function() expect.match(spec, BINDS, src) end)
  eq(src.asked, 0, "no packet was asked for")
  raises("marked so far: none", function() expect.match(spec, BINDS, source(list)) end,
    "a source without marks")
end)

test("match: from leaves out the packets before it, not their numbers", function()
  local list = conversation()
  local text = "C > S [P.] seq 1:6 ack 1\nS > C [.] ack 6"
  local good, report = run(text, list, { opts = { from = 0.003 } })
  ok(good, report.message)
  eq(report.consumed, 2)
  eq(report.capture_index[1], 4, "capture indices stay those of the capture")
  eq(report.next_index, 6)
  eq(why(text, list), "expected [P.], got [S]", "without from, the match starts at the SYN")
  -- from after every packet: nothing to match
  eq(why("C > S [*]", list, { opts = { from = 9, timeout = 0.1 } }), "no packet arrived within 0.1 s")
end)

test("binds: a name bound to several addresses matches each, numbers per connection", function()
  local C1, C2 = "127.0.0.1:40000", "127.0.0.1:40002"
  local list = {
    pkt(0.0, C1, SA, "S", 111, 0), pkt(0.001, SA, C1, "R.", 0, 112),
    pkt(0.5, C2, SA, "S", 999, 0), pkt(0.501, SA, C2, "R.", 0, 1000),
  }
  local text = "C > S [S] seq 0\nS > C [R.] ack 1\nC > S [S] seq 0\nS > C [R.] ack 1"
  local good, report = run(text, list, { binds = { C = { C1, C2 }, S = SA } })
  ok(good, report.message)
  -- bound to the first address only, the second attempt is not considered
  eq(why(text, list, { binds = { C = C1, S = SA }, opts = { timeout = 0.1 } }),
    "no packet arrived within 0.1 s")
  eq(ladder.names({ C = { C1, C2 }, S = SA }), { [C1] = "C", [C2] = "C", [SA] = "S" })
  raises("names 'C' and 'S' are bound to the same endpoint", function()
    ladder.names({ C = { C1, SA }, S = SA })
  end)
  raises("must map a name to an \"ip:port\" string or a list of them", function()
    ladder.names({ C = { C1, 5 } })
  end)
  local out = ladder.render(list, { C = { C1, C2 }, S = SA })
  contains(out, C1); contains(out, C2)
  -- an address of C that nothing used still gets its column
  contains(ladder.render({ list[1] }, { C = { C1, C2 }, S = SA }), C2)
end)

test("match: reason matches, mismatches, or is unchecked", function()
  local list = conversation()
  local text = "C > S [S]\n...\nS > C [R.] ack 6 reason TCP_STATE"
  local good, report = run(text, list, { reasons = { [list[6]] = "TCP_STATE" } })
  ok(good, report.message)
  eq(report.unchecked, {})

  good, report = run(text, list, { reasons = { [list[6]] = "NO_SOCKET" } })
  ok(not good, "a different reason fails the line")
  contains(report.lines[3].why, "expected reason TCP_STATE, kernel said NO_SOCKET")

  good, report = run(text, list, { reasons = { [list[6]] = { "tracepoint unavailable" } } })
  ok(good, "an unknown reason does not fail the line")
  eq(report.unchecked, { "line 3: reason TCP_STATE unchecked: tracepoint unavailable" })
  eq(report.lines[3].unchecked, "line 3: reason TCP_STATE unchecked: tracepoint unavailable")
  contains(report.message, "(1 unchecked)")

  good, report = run("C > S [S] reason TCP_STATE\nS > C [S.]", list)
  ok(good)
  eq(report.unchecked, { "line 1: reason TCP_STATE unchecked: no reason recorded" })

  -- other fields still decide: a wrong ack fails even when the reason is unknown
  eq(why("C > S [S]\nS > C [S.] ack 9 reason X", list), "expected ack 9, got ack 1")
end)

test("scale: multiplies the after tolerances, the default one too", function()
  local list = conversation()
  list[2].ts, list[3].ts = 1.25, 2.45
  local text = "C > S [S]\nS > C [S.] after 1\nC > S [.] after 1 ± 0.1"
  eq(why(text, list), "expected after 1.00 ± 0.10 s, was 1.25 s", "default ± 0.1 at scale 1")
  local good, report = run(text, list, { opts = { scale = 3 } })
  ok(good, report.message)
  eq(report.scale, 3)
  eq(why(text, list, { opts = { scale = 2 } }),
    "expected after 1.00 ± 0.20 s (time scale 2), was 1.25 s", "± 0.1 × 2 is not enough")
  eq(why("C > S [S]\nS > C [S.] after 1 ± 0.1\nC > S [.] after 1 ± 0.1", list, { opts = { scale = 2.5 } }),
    nil, "± 0.25 covers 1.25 and 1.20")
  -- the scale widens tolerances, it does not move T
  eq(why("C > S [S]\nS > C [S.] after 2 ± 0.2", list, { opts = { scale = 3 } }),
    "expected after 2.00 ± 0.60 s (time scale 3), was 1.25 s")
end)

test("scale: a quiet period waits scale × T", function()
  local list = conversation()
  list[4].ts = 0.5 -- data 0.498 s after the last handshake packet
  local text = "C > S [S]\nS > C [S.]\nC > S [.]\nno more packets within 0.2 s"
  local good, report, _, src = run(text, { list[1], list[2], list[3] }, { opts = { scale = 3 } })
  ok(good, report.message)
  ok(src:now() >= 0.602 - 1e-9 and src:now() < 0.61, "waited 3 × 0.2 s, now = " .. src:now())
  eq(why(text, list), nil, "nothing within 0.2 s at scale 1")
  contains(why(text, list, { opts = { scale = 3 } }),
    "unexpected packet during the quiet period: C > S  [P.] seq 1:6")
  local spec = expect.parse(text)
  good, report = expect.match(spec, BINDS, source({ list[1], list[2], list[3] }), { scale = 3 })
  contains(expect.format_report(spec, report), "(quiet for 0.6 s)")
end)

test("scale: multiplies the default timeout, not one given", function()
  local good, report, _, src = run("C > S [S]\nS > C [F.]", { pkt(0, CA, SA, "S", CI, 0) },
    { opts = { scale = 3 } })
  ok(not good)
  eq(report.lines[2].why, "no packet arrived within 6.0 s")
  ok(src:now() >= 6 and src:now() < 6.1, "waited 3 × 2 s, now = " .. src:now())
  good, report, _, src = run("C > S [S]\nS > C [F.]", { pkt(0, CA, SA, "S", CI, 0) },
    { opts = { scale = 3, timeout = 0.5 } })
  eq(report.lines[2].why, "no packet arrived within 0.5 s")
  ok(src:now() < 0.6, "a timeout given is the script's own")
  for _, bad in ipairs { 0, -1, "2", 1 / 0, 0 / 0 } do
    raises("opts.scale must be a positive number", function()
      expect.match(expect.parse("C > S [S]"), BINDS, source({}), { scale = bad })
    end, tostring(bad))
  end
end)

---------------------------------------------------------------------------
-- Reports
---------------------------------------------------------------------------

local function line_with(text, needle)
  for l in text:gmatch("[^\n]+") do
    if l:find(needle, 1, true) then return l end
  end
  return nil
end

test("format_report: side by side, the >> marker, the reason, not consumed", function()
  local text = "C > S  [S]\nS > C  [S.]   ack 1\nC > S  [.]\nS > C  [.]    ack 6\nC > S [F.]"
  local spec = expect.parse(text)
  local good, report = expect.match(spec, BINDS, source(conversation(), { start = 1 }))
  ok(not good)
  local out = expect.format_report(spec, report)
  local marked = line_with(out, ">>")
  ok(marked, "a line carries >>")
  contains(marked, "4  S > C  [.]    ack 6", "left column on the marked line")
  contains(marked, "C > S  [P.] seq 1:6 ack 1 win 512 len 5 ts  +0.003s", "right column")
  contains(out, "^^ expected S > C, got C > S")
  contains(line_with(out, "  2  S > C  [S.]   ack 1") or "", "S > C  [S.] seq 0 ack 1 win 65483")
  contains(line_with(out, "5  C > S [F.]") or "", "(not reached)")
  contains(out, "not consumed (2):")
  contains(out, "S > C  [.] seq 1 ack 6 win 512 ts  +0.004s")
  contains(report.message, "expectation line 4 (S > C  [.]    ack 6): expected S > C, got C > S")
  ok(not out:find(report.message, 1, true), "the message is the caller's to print, once")
  eq(out:match("^[^\n]*"), "   expected                    captured", "the report starts at its table")
  contains(out, "▶")
  contains(out, ">> 4: S > C  [.]    ack 6", "ladder mark beside the failing packet")
end)

test("format_report: a passing match has no marker", function()
  local spec = expect.parse(HANDSHAKE_TEXT .. "no more packets within 0.1")
  local good, report = expect.match(spec, BINDS, source(conversation()))
  ok(good, report.message)
  local out = expect.format_report(spec, report, { ladder = false })
  ok(not out:find(">>", 1, true), "no >> on success")
  contains(out, "(quiet for 0.1 s)")
  ok(not out:find("▶", 1, true), "ladder left out on request")
end)

test("format_report: timeout and skipped rows", function()
  local spec = expect.parse("C > S [S]\n...\nS > C [F.]")
  local good, report = expect.match(spec, BINDS, source(conversation()), { timeout = 1 })
  ok(not good)
  local out = expect.format_report(spec, report)
  contains(line_with(out, ">>") or "", "(nothing)")
  contains(out, "(skipped) S > C  [S.] seq 0 ack 1")
  contains(out, "^^ no matching packet arrived within 1.0 s (5 skipped; nearest: #6 S > C [R.]: expected [F.], got [R.])")
  contains(out, "+0.005s  >> 3: S > C [F.] (nearest miss)")
end)

test("marks: each matched packet its line, >> on the failed one, by position or capture index", function()
  local list = conversation()
  table.insert(list, 2, pkt(0.0005, "10.0.0.1:1", "10.0.0.2:2", "S", 1, 0)) -- not considered
  local spec = expect.parse("C > S [S]\n\nS > C [S.]   ack 1\nC > S [.]\nS > C [.] -- wrong")
  local good, report = expect.match(spec, BINDS, source(list))
  ok(not good)
  local marks, failed = expect.marks(spec, report)
  eq(marks, { [1] = "1: C > S [S]", [2] = "3: S > C [S.]   ack 1", [3] = "4: C > S [.]",
              [4] = ">> 5: S > C [.]" })
  eq(failed, 4)
  marks, failed = expect.marks(spec, report, report.capture_index)
  eq(marks, { [1] = "1: C > S [S]", [3] = "3: S > C [S.]   ack 1", [4] = "4: C > S [.]",
              [5] = ">> 5: S > C [.]" })
  eq(failed, 5, "the failed packet's capture index")
  -- a line after `...` that found nothing: its nearest miss
  spec = expect.parse("C > S [S]\n...\nS > C [F.]")
  good, report = expect.match(spec, BINDS, source(conversation()), { timeout = 1 })
  ok(not good)
  marks, failed = expect.marks(spec, report)
  eq(marks, { [1] = "1: C > S [S]", [6] = ">> 3: S > C [F.] (nearest miss)" })
  eq(failed, 6)
  -- a pass: no >>, no failed key
  spec = expect.parse("C > S [S]\n...")
  good, report = expect.match(spec, BINDS, source(conversation()))
  ok(good)
  marks, failed = expect.marks(spec, report)
  eq(marks, { [1] = "1: C > S [S]" })
  eq(failed, nil)
end)

test("failed_lineno: the failing line of the text, which locate finds in this file", function()
  local from = debug.getinfo(1, "l").currentline
  local text = [[
    C > S  [S]    -- failed_lineno test

    S > C  [S.]   ack 99
  ]]
  local spec = expect.parse(text)
  local good, report = expect.match(spec, BINDS, source(conversation()))
  ok(not good)
  eq(expect.failed_lineno(spec, report), 3)
  eq(expect.locate(text, debug.getinfo(1, "S").source, from, expect.failed_lineno(spec, report)),
    from + 4, "the script line of `S > C  [S.]   ack 99`")
  spec = expect.parse("C > S [S]")
  good, report = expect.match(spec, BINDS, source(conversation()))
  ok(good)
  eq(expect.failed_lineno(spec, report), nil)
end)

---------------------------------------------------------------------------
-- Ladder
---------------------------------------------------------------------------

test("ladder.line: tcpdump-like one-line form", function()
  local list = conversation()
  local names, rel = ladder.names(BINDS), ladder.bases(list, BINDS)
  eq(ladder.line(list[1], names, rel),
    "C > S  [S] seq 0 win 65535 mss 65495 wscale 7 sackOK ts  +0.000s")
  eq(ladder.line(list[4], names, rel), "C > S  [P.] seq 1:6 ack 1 win 512 len 5 ts  +0.003s")
  eq(ladder.line(list[6], names, rel), "S > C  [R.] seq 1 ack 6 win 0  +0.005s")
  eq(ladder.line(list[4]), "127.0.0.1:40000 > 127.0.0.1:4000  [P.] seq 1001:1006 ack 5001 win 512 len 5 ts")
  eq(ladder.line(pkt(0, CA, SA, "R", 9, 0, { win = 0 }), names), "C > S  [R] seq 9 win 0")
end)

test("ladder.label: the arrow's label, relative or absolute", function()
  local list = conversation()
  local rel = ladder.bases(list, BINDS)
  eq(ladder.label(list[1], rel), "[S] seq 0")
  eq(ladder.label(list[2], rel), "[S.] seq 0 ack 1")
  eq(ladder.label(list[4], rel), "[P.] seq 1:6 ack 1 len 5")
  eq(ladder.label(list[6], rel), "[R.] seq 1 ack 6")
  eq(ladder.label(list[4]), "[P.] seq 1001:1006 ack 5001 len 5")
  eq(ladder.label(pkt(0, CA, SA, "none", 7, 9)), "[none] seq 7", "no ack without the flag")
  -- the text ladder prints the same labels
  local out = ladder.render(list, BINDS)
  for i = 1, #list do contains(out, ladder.label(list[i], rel), "row " .. i) end
end)

test("ladder.render: columns, arrows, times and marks", function()
  local list = conversation()
  table.insert(list, 2, pkt(0.0005, "10.0.0.1:1", "10.0.0.2:2", "S", 1, 0))
  local out = ladder.render(list, BINDS, { marks = { [7] = "<- line 6" } })
  local rows = {}
  for l in out:gmatch("[^\n]+") do rows[#rows + 1] = l end
  eq(#rows, 3 + 6, "header lines plus one row per bound packet")
  ok(rows[1]:find("C", 1, true) < rows[1]:find("S", 1, true), "C left of S")
  contains(rows[2], CA); contains(rows[2], SA)
  contains(rows[4], "──[S] seq 0"); contains(rows[4], "▶│  +0.000s")
  contains(rows[5], "│◀──[S.] seq 0 ack 1")
  contains(rows[7], "[P.] seq 1:6 ack 1 len 5")
  contains(rows[9], "[R.] seq 1 ack 6")
  ok(rows[9]:find("+0.005s  <- line 6", 1, true), "the mark is right of its row: " .. rows[9])
  ok(not out:find("10.0.0.1", 1, true), "unbound packets are left out")
  -- every arrow row puts both bars in the same columns as the header
  local a = utf8.len(rows[3]:sub(1, rows[3]:find("│", 1, true)))
  for r = 4, 9 do
    eq(utf8.len(rows[r]:sub(1, rows[r]:find("│", 1, true))), a, "left bar column in row " .. r)
  end
end)

test("ladder.render: ASCII fallback and empty captures", function()
  local out = ladder.render(conversation(), BINDS, { ascii = true })
  ok(not out:find("[\128-\255]"), "ASCII output is plain ASCII")
  contains(out, "|--[S] seq 0")
  contains(out, "->|")
  contains(out, "|<--[S.] seq 0 ack 1")
  local empty = ladder.render({}, BINDS)
  contains(empty, "(no packets)")
  contains(empty, CA)
end)

h.done()
