-- Unit tests of rstlab.counters over readings made up here (the kernel's
-- own counters are tested in test_marks.lua and tests/core/test_netns.c).
--
--   LUA_PATH='stdlib/?.lua;tests/lua/?.lua;;' lua5.4 tests/lua/test_counters.lua

local h = require "harness"
local counters = require "rstlab.counters"
local failure = require "rstlab.failure"

local test, eq, ok, contains, raises = h.test, h.eq, h.ok, h.contains, h.raises

-- A reading of host B; `over` changes values ({ ["Tcp.OutRsts"] = 2 }).
local function reading(over)
  local g = {
    Tcp = { ActiveOpens = 0, OutRsts = 0, MaxConn = -1, Dup = 0 },
    TcpExt = { TCPAbortOnClose = 0, TCPChallengeACK = 0, TCPACKSkippedChallenge = 0, Dup = 0 },
  }
  for q, v in pairs(over or {}) do
    local group, name = q:match("^(%a+)%.(.+)$")
    g[group][name] = v
  end
  return counters.new(g, "B")
end

-- The keys pairs() gives, sorted.
local function keys(c)
  local out = {}
  for k in pairs(c) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- The Failure c:expect raises, or nil.
local function expect_failure(c, want)
  local good, e = pcall(c.expect, c, want)
  if good then return nil end
  ok(failure.is(e), "a Failure, not an error: " .. tostring(e))
  return e
end

test("keys: the kernel's names; a name of two MIBs only qualified", function()
  local c = reading { ["Tcp.OutRsts"] = 3, ["TcpExt.Dup"] = 7 }
  eq(c.OutRsts, 3)
  eq(c["Tcp.OutRsts"], 3, "every counter is also there by MIB")
  eq(c.MaxConn, -1)
  eq(c["TcpExt.Dup"], 7)
  eq(c["Tcp.Dup"], 0)
  eq(keys(c), { "ActiveOpens", "MaxConn", "OutRsts", "TCPACKSkippedChallenge", "TCPAbortOnClose",
    "TCPChallengeACK", "Tcp.Dup", "TcpExt.Dup" })
  raises("counter 'Dup' is in more than one MIB: say Tcp.Dup or TcpExt.Dup", function() return c.Dup end)
  raises("no TCP counter 'TCPChalengeACK' on host B", function() return c.TCPChalengeACK end)
  ok(counters.is(c))
  ok(not counters.is({}))
end)

test("since: only what moved, 0 for the rest, a typo still raises", function()
  local c0 = reading { ["Tcp.ActiveOpens"] = 1, ["TcpExt.TCPChallengeACK"] = 4 }
  local c1 = reading { ["Tcp.ActiveOpens"] = 1, ["TcpExt.TCPChallengeACK"] = 5,
    ["TcpExt.TCPACKSkippedChallenge"] = 1, ["Tcp.OutRsts"] = 2, ["TcpExt.Dup"] = 1 }
  local d = c1:since(c0)
  eq(keys(d), { "OutRsts", "TCPACKSkippedChallenge", "TCPChallengeACK", "TcpExt.Dup" })
  eq(d.TCPChallengeACK, 1)
  eq(d.ActiveOpens, 0, "did not move")
  eq(d["Tcp.Dup"], 0)
  raises("no TCP counter 'Nope'", function() return d.Nope end)
  eq(tostring(d), "OutRsts +2, TCPACKSkippedChallenge +1, TCPChallengeACK +1, TcpExt.Dup +1")
  eq(tostring(reading():since(reading())), "(nothing moved)")
  eq(tostring(c0), "ActiveOpens 1, MaxConn -1, TCPChallengeACK 4")
  raises("since: expected counters", function() c1:since({}) end)
  raises("since: takes two readings, not differences", function() d:since(c0) end)
  local other = counters.new({ Tcp = { OutRsts = 0 } }, "A")
  raises("since: these are the counters of host B, the earlier ones of host A", function()
    c1:since(other)
  end)
end)

test("expect: one assertion for several counters, each difference named", function()
  local d = reading { ["TcpExt.TCPChallengeACK"] = 1, ["TcpExt.TCPACKSkippedChallenge"] = 1 }:since(reading())
  eq(d:expect { TCPChallengeACK = 1, TCPACKSkippedChallenge = 1, OutRsts = 0 }, d)
  local e = expect_failure(d, { TCPChallengeACK = 2, OutRsts = 1, TCPACKSkippedChallenge = 1 })
  ok(e, "a difference fails")
  if e then
    eq(e.message, "counters of host B: OutRsts: expected +1, moved 0; TCPChallengeACK: expected +2, moved +1")
    eq(e.details, "what moved: TCPACKSkippedChallenge +1, TCPChallengeACK +1")
  end
  -- on a reading (not a difference): values
  e = expect_failure(reading { ["Tcp.OutRsts"] = 3 }, { OutRsts = 0 })
  eq(e and e.message, "counters of host B: OutRsts: expected 0, is 3")
  raises("no TCP counter 'Typo'", function() d:expect { Typo = 0 } end)
  raises("say Tcp.Dup or TcpExt.Dup", function() d:expect { Dup = 0 } end)
  eq(d:expect { ["TcpExt.Dup"] = 0 }, d)
  raises("the value of OutRsts must be an integer", function() d:expect { OutRsts = "1" } end)
end)

h.done()
