-- Runs tests/resources/many.lua ROUNDS times in this one process (stock
-- lua5.4 with the rstlab module) and prints what the process holds after
-- each round: open descriptors, Lua heap, resident memory, and child
-- processes. Usage: lua5.4 loop.lua ROUNDS
local rstlab = require "rstlab"
local core = require "rstlab.core"
local rounds = tonumber(arg[1]) or 15
local pid = core.pid()

local function count_fds()
  local n = 0
  local p = io.popen("ls /proc/" .. pid .. "/fd")
  for _ in p:lines() do n = n + 1 end
  p:close()
  return n - 1 -- the pipe of this very popen
end

local function rss_kb()
  for line in io.lines("/proc/" .. pid .. "/status") do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) end
  end
end

local function children()
  local f = io.open("/proc/" .. pid .. "/task/" .. pid .. "/children")
  local text = f and f:read("a") or ""
  if f then f:close() end
  local n = 0
  for _ in text:gmatch("%d+") do n = n + 1 end
  return n
end

for r = 1, rounds do
  local s = rstlab.run { "tests/resources/many.lua", jobs = 2, quiet = true, timeout = 30 }
  collectgarbage("collect")
  collectgarbage("collect")
  print(string.format("round %d: passed %d failed %d fds %d lua_kb %d rss_kb %d children %d",
    r, s.passed, s.failed, count_fds(), math.floor(collectgarbage("count")), rss_kb(), children()))
  for _, res in ipairs(s.results) do
    if res.status ~= "pass" then print("  not passed: " .. res.name .. ": " .. tostring(res.message)) end
  end
  io.stdout:flush()
end
