-- Crafted segments (h:send) on real sockets, through stock lua5.4 and
-- require "rstlab": runs craft_scenarios.lua (each scenario in its own
-- sandboxed process) and checks that every one passed. What the kernel
-- does with the segments was watched first (kernel 6.18) and is asserted
-- there exactly.

local h = require "harness"
local runs = require "runs"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local summary = runs.file(here .. "craft_scenarios.lua")

local r = runs.new(h, summary)
r:passes()
r:counts(5, 0)
h.done()
