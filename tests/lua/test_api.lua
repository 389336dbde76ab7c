-- The scripting API on real sockets, through stock lua5.4 and
-- require "rstlab": each scenario below runs in its own sandboxed process
-- (rstlab.run), and the test asserts on the result records. Scenarios that
-- must pass assert inside with t:...; the ones that must fail are checked
-- for their status and message here.

local h = require "harness"
local rstlab = require "rstlab"
local runs = require "runs"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local file = dir .. "/api.lua"

local src = [==[
local function pair(t)
  local srv = assert(t.host:listen("127.0.0.1:0"))
  local cli = assert(t.host:connect(srv.addr))
  local conn = assert(srv:accept())
  return srv, cli, conn
end

scenario("actors: t:go runs a server beside the client", function(t)
  local srv = assert(t.host:listen("127.0.0.1:0"))
  local served = false
  t:go(function()
    local c = assert(srv:accept())
    local data = assert(c:read(100))
    assert(c:write(data:upper()))
    served = true
  end)
  local cli = assert(t.host:connect(srv.addr))
  assert(cli:write("ping"))
  t:eq(cli:read(4, { all = true, timeout = 2 }), "PING")
  t:ok(served, "the server actor ran to its end")
end)

scenario("a read past its own deadline is TIMEOUT, not a kernel error", function(t)
  local _, cli = pair(t)
  local t0 = t:now()
  t:fails_with("TIMEOUT", cli:read(1, { timeout = 0.2 }))
  t:ok(t:now() - t0 >= 0.19, "waited the whole timeout")
end)

scenario("a FIN reads as EOF", function(t)
  local _, cli, conn = pair(t)
  conn:close()
  t:fails_with("EOF", cli:read(10, { timeout = 2 }))
end)

scenario("after a RST: write ECONNRESET, then EPIPE, and a read is EOF as the kernel says", function(t)
  local _, cli, conn = pair(t)
  conn:set{ linger = 0 }
  conn:close()
  -- Wait for the RST to be processed (the socket turns readable): the
  -- kernel reports it once, to the first call.
  t:eq(cli.u:wait("r", 2), "ready")
  t:fails_with("ECONNRESET", cli:write("x"))
  t:fails_with("EPIPE", cli:write("x"))
  local _, msg, code = cli:read(1)
  t:eq(code, "EOF", "recv() returns 0 after the reset was reported")
  t:ok(msg:find("ECONNRESET was reported to an earlier call", 1, true),
    "the message says a reset came before: " .. msg)
end)

scenario("shutdown w: the peer reads EOF, the other direction still works", function(t)
  local _, cli, conn = pair(t)
  assert(cli:shutdown("w"))
  t:fails_with("EOF", conn:read(1, { timeout = 2 }))
  assert(conn:write("still open"))
  t:eq(cli:read(100, { timeout = 2 }), "still open")
end)

scenario("options: set and get round-trip through the kernel", function(t)
  local _, cli = pair(t)
  assert(cli:set{ nodelay = true, rcvbuf = 10000, user_timeout = 1.5, linger = { 1, 5 },
    keepalive = { idle = 7, interval = 3, count = 4 } })
  t:eq(cli:get("nodelay"), true)
  t:eq(cli:get("rcvbuf"), 20000, "rcvbuf (the kernel doubles it)")
  t:eq(cli:get("user_timeout"), 1.5)
  t:eq(cli:get("linger").on, true)
  t:eq(cli:get("linger").secs, 5)
  t:eq(cli:get("keepalive"), true)
  t:eq(cli:get("keepidle"), 7)
  t:eq(cli:get("keepintvl"), 3)
  t:eq(cli:get("keepcnt"), 4)
  assert(cli:set{ linger = false })
  t:eq(cli:get("linger").on, false)
end)

scenario("tcp_info as a table", function(t)
  local _, cli, conn = pair(t)
  assert(cli:write("x"))
  t:eq(conn:read(1), "x")
  local i = cli:info()
  t:eq(i.state, "ESTABLISHED")
  t:ok(i.snd_mss > 0, "snd_mss")
  t:ok(i.rtt > 0 and i.rtt < 1, "rtt in seconds")
  t:eq(i.unacked, 0)
end)

scenario("the collector never closes a socket the script let go of", function(t)
  local cap = assert(t.host:capture())
  do
    local _, cli = pair(t)
    cli = nil
  end
  collectgarbage()
  collectgarbage()
  t:eq(#t.host:sockets{ state = "ESTABLISHED" }, 2, "connections still established")
  for _, p in ipairs(cap:packets()) do
    t:ok(p.flags & 1 == 0, "no FIN on the wire")
  end
end)

scenario("a <close> variable closes its socket at the end of the block", function(t)
  local srv = assert(t.host:listen("127.0.0.1:0"))
  do
    local cli <close> = assert(t.host:connect(srv.addr))
  end
  local conn = assert(srv:accept())
  t:fails_with("EOF", conn:read(1, { timeout = 2 }))
end)

scenario("a quiet period fails when a packet comes", function(t)
  local cap = assert(t.host:capture())
  local _, cli, conn = pair(t)
  t:go(function() t:sleep(0.1); assert(cli:write("late")) end)
  local ok, e = pcall(cap.expect, cap, { C = cli, S = conn }, [[
    ...
    C > S  [.]
    no more packets within 0.5 s
  ]])
  t:ok(not ok, "the expectation failed")
  t:ok(tostring(e.message):find("quiet") or tostring(e.details):find("P%."),
    "the report names the packet that broke the quiet period: " .. tostring(e.message))
end)

scenario("an expected packet that never comes fails at the deadline", function(t)
  local cap = assert(t.host:capture())
  local _, cli, conn = pair(t)
  local t0 = t:now()
  local ok, e = pcall(cap.expect, cap, { C = cli, S = conn }, [[
    ...
    S > C  [F.]
  ]], { timeout = 0.3 })
  t:ok(not ok, "the expectation failed")
  t:ok(t:now() - t0 >= 0.29, "it waited until the deadline")
  t:ok(e.details:find(">>", 1, true), "the report marks the line")
end)

-- tcpdump reads the file below, outside the scenario: inside a user
-- namespace (rootless runs) it cannot drop its privileges and refuses.
scenario("the capture is written as a pcap file", function(t)
  local cap = assert(t.host:capture())
  local _, cli, conn = pair(t)
  assert(cli:write("hello"))
  cap:expect({ C = cli, S = conn }, "...\nS > C [.] ack 6")
  t:ok(cap:write("@PCAP@"))
end)

scenario("IPv6 works like IPv4", function(t)
  local srv = assert(t.host:listen("[::1]:0"))
  local cli = assert(t.host:connect(srv.addr))
  local conn = assert(srv:accept())
  t:ok(cli.addr:match("^%[::1%]:%d+$"), "local address " .. cli.addr)
  assert(conn:write("six"))
  t:eq(cli:read(3), "six")
end)

-- The ones below must fail, each with its own message.

scenario("MUST FAIL: t:eq reports both values and the line", function(t)
  t:eq(1 + 1, 3, "arithmetic")
end)

scenario("MUST FAIL: an error in an actor fails the scenario", function(t)
  t:go(function() error("boom in an actor") end)
  t:sleep(1)
end)

scenario("MUST FAIL: an actor that waits for ever keeps the scenario to its timeout", function(t)
  local srv = assert(t.host:listen("127.0.0.1:0"))
  t:go(function()
    srv:accept() -- no one connects
  end)
end, { timeout = 0.5 })

scenario("MUST FAIL: an unknown option raises at the script line", function(t)
  local _, cli = pair(t)
  cli:set{ lingerr = 0 }
end)

scenario("MUST FAIL: a bad option value raises", function(t)
  local _, cli = pair(t)
  cli:set{ rcvbuf = "big" }
end)

scenario("MUST FAIL: a bad address raises", function(t)
  t.host:connect("127.0.0.1")
end)

scenario("MUST FAIL: a closed socket cannot be used", function(t)
  local _, cli = pair(t)
  cli:close()
  cli:close() -- idempotent
  cli:read(1) -- on a closed socket
end)

scenario("MUST FAIL: a bad capture filter raises", function(t)
  t.host:capture{ filter = "tcp and and" }
end)

scenario("MUST FAIL: a bad expectation line raises at the expect call", function(t)
  local cap = assert(t.host:capture())
  local _, cli, conn = pair(t)
  cap:expect({ C = cli, S = conn }, "C > S [S] lenn 5")
end)

scenario("MUST FAIL: the scenario timeout ends a hung scenario", function(t)
  local _, cli = pair(t)
  cli:read(1) -- no data ever comes
end, { timeout = 0.5 })
]==]

local pcap = dir .. "/written.pcap"
src = src:gsub("@PCAP@", pcap)
local f = assert(io.open(file, "w"))
f:write(src)
f:close()

-- pcap_dir: the captures stay in this test's own directory, removed below.
local summary = rstlab.run { file, jobs = 2, timeout = 20, quiet = true, pcap_dir = dir }
local p = io.popen("tcpdump -nn -r " .. pcap .. " 2>/dev/null")
local tcpdump = p:read("a")
p:close()
os.execute("rm -rf " .. dir)

h.test("tcpdump reads the pcap a capture wrote", function()
  local n = 0
  for _ in tcpdump:gmatch("\n") do n = n + 1 end
  h.eq(n, 5, "packets tcpdump read")
  h.ok(tcpdump:find("Flags %[S%]"), "tcpdump shows the SYN")
  h.ok(tcpdump:find("length 5"), "tcpdump shows the data")
end)

local function line_of(pattern)
  local n = 0
  for l in src:gmatch("([^\n]*)\n") do
    n = n + 1
    if l:find(pattern, 1, true) then return n end
  end
end
local where = function(pattern) return "api.lua:" .. line_of(pattern) .. ":" end

local r = runs.new(h, summary)
r:passes()
local function must_fail(...) r:must_fail(...) end

must_fail("MUST FAIL: t:eq reports both values and the line", "fail",
  "arithmetic: expected 3, got 2", where("t:eq(1 + 1, 3"))
must_fail("MUST FAIL: an error in an actor fails the scenario", "error",
  "boom in an actor", where('error("boom in an actor")'))
must_fail("MUST FAIL: an actor that waits for ever keeps the scenario to its timeout", "error",
  "scenario timed out after 0.5 s (actor 2 waiting at ", where("srv:accept() -- no one connects"))
must_fail("MUST FAIL: an unknown option raises at the script line", "error",
  "unknown socket option 'lingerr'", where("cli:set{ lingerr = 0 }"))
must_fail("MUST FAIL: a bad option value raises", "error",
  "option 'rcvbuf' takes an integer, got string", where('cli:set{ rcvbuf = "big" }'))
must_fail("MUST FAIL: a bad address raises", "error",
  "invalid address '127.0.0.1'", where('t.host:connect("127.0.0.1")'))
must_fail("MUST FAIL: a closed socket cannot be used", "error",
  "attempt to use a closed socket", where("cli:read(1) -- on a closed socket"))
must_fail("MUST FAIL: a bad capture filter raises", "error",
  'bad capture filter "tcp and and"', where('filter = "tcp and and"'))
must_fail("MUST FAIL: a bad expectation line raises at the expect call", "error",
  "expectation line 1", where('"C > S [S] lenn 5"'))
must_fail("MUST FAIL: the scenario timeout ends a hung scenario", "error",
  "scenario timed out after 0.5 s")

r:counts(23, 10)

h.done()
