-- rstlab from stock Lua: run scenario files from a Lua program and use
-- the results. Run it with:
--   LUA_CPATH='build/?.so;;' lua5.4 examples/require.lua scripts/

local rstlab = require "rstlab"

local paths = { ... }
if #paths == 0 then paths = { "scripts/" } end
local summary = rstlab.run { table.unpack(paths), quiet = true, timeout = 30 }
for _, r in ipairs(summary.results) do
  print(string.format("%-5s %s: %s", r.status, r.file, r.name))
end
print(string.format("%d passed, %d failed", summary.passed, summary.failed))
os.exit(summary.failed == 0 and 0 or 1)
