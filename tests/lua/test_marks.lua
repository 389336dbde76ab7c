-- What else a scenario can say, on the real kernel: runs the scenarios of
-- marks_scenarios.lua (each in its own sandboxed process, through
-- rstlab.run) and checks their results: the others pass, each "MUST FAIL"
-- one fails with its own message at its own line.

local h = require "harness"
local rstlab = require "rstlab"
local runs = require "runs"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local file = here .. "marks_scenarios.lua"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local summary = rstlab.run { file, jobs = 3, timeout = 20, quiet = true, pcap_dir = dir }
os.execute("rm -rf " .. dir)

local r = runs.new(h, summary)
r:passes()

-- "marks_scenarios.lua:N:" for the fixture's line holding text.
local function where(text)
  local n = 0
  for l in io.lines(file) do
    n = n + 1
    if l:find(text, 1, true) then return "marks_scenarios.lua:" .. n .. ":" end
  end
  error("no line holds " .. text)
end

local function must_fail(name, status, text, at) r:must_fail(name, status, text, where(at)) end

must_fail("MUST FAIL: counters that did not move as expected", "fail",
  "counters of host host: TCPAbortOnLinger: expected +1, moved 0",
  "linger0_moved(t):expect { TCPAbortOnLinger = 1 }")
must_fail("MUST FAIL: a packet off its mark's time", "fail",
  -- about -1 s: the mark is 1 s ahead of the SYN, less the time the
  -- handshake took (-0.98 s on a loaded machine)
  "expectation line 1 (C > S  [S]   after late 0 ± 0.1): expected after late 0.00 ± 0.10 s, was -",
  "C > S  [S]   after late 0 ± 0.1")
must_fail("MUST FAIL: an unknown mark is an error of its expectation line", "error",
  "expectation line 2: unknown mark 'clsoe' (marked so far: close): S > C  [S.]  after clsoe 0",
  "after clsoe 0")
must_fail("MUST FAIL: from names a mark that was never set", "error",
  'expect: from = "nope" is not a mark (marked so far: none)', '{ from = "nope" }')
must_fail("MUST FAIL: an unknown TCP state lists the states", "error",
  "unknown TCP state 'ESTABLISHD' (the states: ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, "
    .. "FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING, NEW_SYN_RECV, BOUND_INACTIVE)",
  'state = "ESTABLISHD"')

must_fail("MUST FAIL: a socket without an address yet cannot stand for an endpoint", "error",
  "expect: endpoint C is a socket without a local address yet", "-- never bound nor connected")

must_fail("MUST FAIL: a capture that dropped packets cannot check an expectation", "fail",
  "expectation cannot be checked: the kernel dropped", 'cap:expect({ C = cli, S = srv.addr }, "C > S [S]")')
must_fail("MUST FAIL: a capture whose interface went down cannot check an expectation", "fail",
  "expectation cannot be checked: capture on host:lo failed: the interface went down",
  'cap:expect({ C = cli, S = srv.addr }, "C > S [S]") -- stopped')
must_fail("MUST FAIL: a capture buffer out of range", "error",
  "a capture buffer of 4096 bytes: it must be 256 KiB to 1024 MiB", "buffer = 4096")

r:counts(20, 9)

h.done()
