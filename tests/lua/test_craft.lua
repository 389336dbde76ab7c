-- Crafted segments (h:send) on real sockets, through stock lua5.4 and
-- require "rstlab": runs craft_scenarios.lua (each scenario in its own
-- sandboxed process) and checks that every one passed. What the kernel
-- does with the segments was watched first (kernel 6.18) and is asserted
-- there exactly.

local h = require "harness"
local rstlab = require "rstlab"
local runs = require "runs"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local dir = os.tmpname() -- the pcaps of failing scenarios go here, and away
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local summary = rstlab.run { here .. "craft_scenarios.lua", jobs = 2, timeout = 20, quiet = true,
  pcap_dir = dir }
os.execute("rm -rf " .. dir)

local r = runs.new(h, summary)
r:passes()
r:counts(5, 0)
h.done()
