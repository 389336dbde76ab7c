-- Two small engine additions for the RST catalogue, on real sockets through
-- stock lua5.4 and require "rstlab": the TCP_LINGER2 option ("linger2",
-- which may be negative) and s:disconnect() (connect() to AF_UNSPEC, the
-- kernel's tcp_disconnect). What the kernel does was watched first (6.18)
-- and is asserted exactly.

local h = require "harness"
local runs = require "runs"


local src = [==[
local function pair(t)
  local srv = assert(t.host:listen("127.0.0.1:0"))
  local cli = assert(t.host:connect(srv.addr))
  local conn = assert(srv:accept())
  return srv, cli, conn
end

scenario("linger2: the kernel's default, -1, seconds", function(t)
  local _, cli = pair(t)
  t:eq(cli:get("linger2"), 60, "0 reads as net.ipv4.tcp_fin_timeout")
  t:ok(cli:set{ linger2 = -1 })
  t:eq(cli:get("linger2"), -1)
  t:ok(cli:set{ linger2 = -5 })
  t:eq(cli:get("linger2"), -1, "any negative value is -1 in the kernel")
  t:ok(cli:set{ linger2 = 7 })
  t:eq(cli:get("linger2"), 7)
end)

scenario("disconnect: RST in ESTABLISHED, the socket stays open and unconnected", function(t)
  local cap = assert(t.host:capture())
  local _, cli, conn = pair(t)
  t:eq(conn:disconnect(), true)
  t:eq(conn:closed(), false)
  t:eq(conn:info().state, "CLOSE")
  t:eq(conn:error(), "ECONNRESET", "its own SO_ERROR: the reset it sent")
  t:fails_with("ENOTCONN", conn:read(1, { wait = false }))
  t:fails_with("ECONNRESET", cli:read(1, { timeout = 1 }))
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]
    C > S  [.]
    S > C  [R.]   seq 1 ack 1   reason TCP_STATE
    no more packets within 0.2 s
  ]])
  -- unconnected again: it can connect anew
  local srv2 = assert(t.host:listen("127.0.0.1:0"))
  t:eq(conn:connect(srv2.addr, { timeout = 1 }), true)
end)

scenario("MUST FAIL: linger2 takes an integer", function(t)
  local _, cli = pair(t)
  cli:set{ linger2 = 1.5 }
end)

scenario("MUST FAIL: disconnect on a closed socket raises", function(t)
  local _, cli = pair(t)
  cli:close()
  cli:disconnect()
end)
]==]

local summary = runs.source("disconnect.lua", src)

local function line_of(pattern)
  local n = 0
  for l in src:gmatch("([^\n]*)\n") do
    n = n + 1
    if l:find(pattern, 1, true) then return n end
  end
end
local where = function(pattern) return "disconnect.lua:" .. line_of(pattern) .. ":" end

local r = runs.new(h, summary)
r:passes()
r:must_fail("MUST FAIL: linger2 takes an integer", "error",
  "option 'linger2' takes an integer, got a fraction", where("cli:set{ linger2 = 1.5 }"))
r:must_fail("MUST FAIL: disconnect on a closed socket raises", "error",
  "attempt to use a closed socket", where("cli:disconnect()"))
r:counts(4, 2)

h.done()
