-- `no more packets within T` ends as soon as the kernel shows that nothing
-- more can come, and only then: runs quiet_scenarios.lua on the real
-- kernel (each scenario in its own sandboxed process, through rstlab.run).

local h = require "harness"
local runs = require "runs"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local summary = runs.file(here .. "quiet_scenarios.lua")

local r = runs.new(h, summary)
r:passes()
r:must_fail("MUST FAIL: another actor sends a segment later", "fail",
  "unexpected packet during the quiet period: C > S  [S]")
r:must_fail("MUST FAIL: a packet the capture already holds when the period starts", "fail",
  "unexpected packet during the quiet period: C > S  [S]")
r:must_fail("MUST FAIL: a retransmission into a cut link", "fail",
  "unexpected packet during the quiet period: C > S  [P.]")
r:must_fail("MUST FAIL: a keepalive probe", "fail",
  "unexpected packet during the quiet period: C > S  [.]")
r:counts(8, 4)
h.done()
