-- Real programs in scenarios (h:spawn), on the real kernel: runs the
-- scenarios of spawn_scenarios.lua through rstlab.run, checks their
-- results (the programs kept in them), and that no process any of them
-- spawned is left on the machine afterwards, whichever way its scenario
-- ended. (The runner killed with SIGKILL: tests/suite/test_spawn.sh.)

local h = require "harness"
local runs = require "runs"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local f = assert(io.open(here .. "spawn_scenarios.lua"))
local text = f:read("a")
f:close()

-- A number of this run's own: "sleep 4242.<marker>N" is no one else's.
math.randomseed(os.time(), math.floor(os.clock() * 1e6))
local marker = string.format("%d%06d", os.time() % 100000, math.random(0, 999999))
text = text:gsub("@MARKER@", marker)

local function alive(m)
  local n, ls = 0, io.popen("ls /proc")
  for pid in ls:lines() do
    if pid:match("^%d+$") then
      local cf = io.open("/proc/" .. pid .. "/cmdline")
      local c = cf and cf:read("a") or ""
      if cf then cf:close() end
      if c:find(m, 1, true) then n = n + 1 end
    end
  end
  ls:close()
  return n
end

local summary = runs.source("spawn_scenarios.lua", text, { jobs = 2, timeout = 30 })
local r = runs.new(h, summary)
r:passes()

local function where(needle)
  local n = 0
  for l in text:gmatch("([^\n]*)\n") do
    n = n + 1
    if l:find(needle, 1, true) then return "spawn_scenarios.lua:" .. n .. ":" end
  end
  error("no line holds " .. needle)
end

r:must_fail("MUST FAIL: a failing scenario ends its programs", "fail",
  "a deliberate failure: expected 2, got 1", where('t:eq(1, 2, "a deliberate failure")'))
r:must_fail("MUST FAIL: a scenario's error ends its programs", "error", "a deliberate error")
r:must_fail("MUST FAIL: a scenario's timeout ends its programs", "error",
  "scenario timed out after 0.5 s", where("p:wait() -- never returns"))
r:must_fail("MUST FAIL: a process without a connection cannot stand for an endpoint", "error",
  "expect: endpoint P: sleep (pid ", where("cap:expect({ P = p }, [["))
r:must_fail("MUST FAIL: a process without a connection cannot stand for an endpoint", "error",
  ") has no TCP connection")
r:must_fail("MUST FAIL: a process with two connections cannot stand for an endpoint", "error",
  ') has 2 TCP connections (127.0.0.1:', where("cap:expect({ P = p, S = x }"))
r:counts(14, 5)

h.test("the result keeps each program: command, how it ended, its output", function()
  local res = r.by["a program that never ends is killed at its timeout"]
  local p = res.programs and res.programs[1]
  h.ok(p ~= nil, "a program in the result")
  if not p then return end
  h.eq(p.argv, { "sleep", "4242." .. marker .. "1" })
  h.eq(p.status, "signal 9")
  h.eq(p.timed_out, true)
  h.eq(p.timeout, 0.3)
  local big = r.by["megabytes on stdout and stderr: no deadlock, every byte kept"].programs[1]
  h.eq(big.stdout_bytes, 5000006)
  h.eq(big.stderr_bytes, 3000000)
  h.eq(#big.stdout, 1024 * 1024, "the result keeps the last MiB")
  h.eq(big.stdout:sub(-7), "o\nlast\n", "its end")
  local srv = r.by["wait_listen: a real server on another host, its sockets, its log"].programs[1]
  h.contains(srv.stderr, '"GET / HTTP/1.0" 200')
  local failed = r.by["MUST FAIL: a failing scenario ends its programs"].programs[1]
  h.eq(failed.status, "running", "still running when the scenario failed")
end)

h.test("the report of a failed scenario shows its programs", function()
  local common = require "rstlab.report.common"
  local txt = common.full_text(r.by["MUST FAIL: a failing scenario ends its programs"])
  h.contains(txt, "program: sh -c sleep 4242." .. marker .. "3 & exec sleep 4242." .. marker
    .. "3 (pid ")
  h.contains(txt, "): running\n  stdout: (empty)\n  stderr: (empty)")
  local tmo = common.full_text(r.by["a program that never ends is killed at its timeout"])
  h.contains(tmo, "): signal 9, killed at its timeout (0.3 s)")
end)

h.test("TAP, JUnit and HTML show the programs", function()
  local failed = "program: sh -c sleep 4242." .. marker .. "3 & exec sleep 4242." .. marker .. "3 (pid "
  local tap = require("rstlab.report.tap").document(summary)
  h.contains(tap, failed)
  local junit = require("rstlab.report.junit").document(summary)
  h.contains(junit, failed:gsub("&", "&amp;"))
  -- JUnit's system-out of a pass: the server's log line.
  h.contains(junit, "<system-out>")
  h.contains(junit, "program: python3 -m http.server --bind 10.0.9.2 8080 (pid ")
  local html = require("rstlab.report.html").document(summary)
  h.contains(html, failed:gsub("&", "&amp;"))
  h.contains(html, "  | 10.0.9.1 - - [")
end)

h.test("no process of any scenario is left (pass, fail, error, timeout)", function()
  h.eq(alive(marker), 0, "processes with " .. marker .. " in their command line")
end)

h.done()
