-- A Python client with keepalive, and a server host that crashes.
--
-- The client (python3, the socket module) connects, turns keepalive on
-- with small timers, TCP_KEEPIDLE 1 s, TCP_KEEPINTVL 1 s, TCP_KEEPCNT 2,
-- and blocks in recv() waiting for the server to speak. The server's host
-- crashes (h:crash(): nothing in, nothing out, its sockets gone without a
-- word). Nothing tells the client: only its kernel's keepalive timer finds
-- out.
--
-- The kernel's arithmetic: idle + interval * count = 1 + 1 * 2 = 3 s,
-- counted from the last packet the client's kernel received (the
-- handshake's SYN-ACK), not from the setsockopt() calls. Probes go 1 s and
-- 2 s after it; when the timer fires again with both unanswered, Linux
-- sends a RST ([R.], reason TCP_KEEPALIVE_TIMEOUT) and fails the pending
-- recv() with ETIMEDOUT. Watched first by hand (Debian 12's python3
-- 3.11.2, a firewall in the server's namespace dropping everything,
-- tcpdump, strace): probes at +1.013 s and +2.037 s, the RST and the
-- recv()'s ETIMEDOUT at +3.061 s: each timer fires a little late, the
-- timer wheel rounds it up. Python raises TimeoutError (errno 110) and the
-- client prints, 3.05 s after its setsockopt() calls:
--
--     recv failed after 3.05 s: TimeoutError(110, 'Connection timed out')
--
-- The RST is lost with the crashed host: nobody there hears it.

local tcpflags = require "rstlab.tcpflags"

-- Debian's python3 (the .ci/deps package), whatever else PATH finds first.
local PYTHON = "/usr/bin/python3"

local CLIENT = [[
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)
t0 = time.monotonic()
print("connected", flush=True)
try:
    data = s.recv(100)
    print("recv returned %r" % data, flush=True)
except OSError as e:
    print("recv failed after %.2f s: %r" % (time.monotonic() - t0, e), flush=True)
    sys.exit(1)
]]

scenario("python3 client, keepalive 1/1/2, server host crashes: ETIMEDOUT 3 s after the last packet, exit 1", function(t)
  local a, b = t.host, t:add_host("B")
  t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  local cap = assert(a:capture())
  local srv = assert(b:listen("10.0.0.2:0"))
  local ip, port = srv.addr:match("^(.*):(%d+)$")
  local p = assert(a:spawn({ PYTHON, "-c", CLIENT, ip, port }, { timeout = 15 }))
  local conn = assert(srv:accept({ timeout = 5 }))
  t:eq(p:read_line("stdout", { timeout = 5 }), "connected")

  b:crash(); t:mark("crash")

  local line = p:read_line("stdout", { timeout = 8 }); t:mark("failed")
  local secs = line and tonumber(line:match(
    "^recv failed after (%d+%.%d%d) s: TimeoutError%(110, 'Connection timed out'%)$"))
  t:ok(secs, "the client's report of ETIMEDOUT, got " .. tostring(line))
  local ok, how, code = p:wait({ timeout = 5 })
  t:eq(ok, nil); t:eq(how, "exit"); t:eq(code, 1, "the client's exit status")
  t:eq(p:stderr(), "", "the client's stderr")

  local binds = { C = p, S = conn.addr }            -- C: the client's one connection
  cap:expect(binds, [[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
    C > S  [.]    seq 1 ack 1
    C > S  [.]    seq 0 ack 1 len 0   after 1.0 ± 0.2   -- probe 1: 1 s idle
    C > S  [.]    seq 0 ack 1 len 0   after 1.0 ± 0.2   -- probe 2: 1 s later
    C > S  [R.]   seq 1 ack 1 len 0   after 1.0 ± 0.2   reason TCP_KEEPALIVE_TIMEOUT
    no more packets within 0.5 s
  ]])

  -- When: the kernel's 3 s, counted from the SYN-ACK; the client hears
  -- ETIMEDOUT with the RST (the kernel sends it, then fails the recv()).
  local synack, rst
  for _, pk in ipairs(cap:packets()) do
    local f = tcpflags.letters(pk.flags)
    if pk.src == conn.addr and f == "S." then synack = pk.t end
    if pk.dst == conn.addr and f == "R." then rst = pk.t end
  end
  local heard = t.marks.failed - synack
  t:log(string.format("the client says %.2f s; its line came %.3f s, the RST %.3f s after the SYN-ACK",
    secs, heard, rst - synack))
  local tol = 0.2 * t.scale -- rstlab --time-scale widens it, as it does "after"
  t:ok(t.marks.crash - synack < 0.5 * t.scale, "the crash came before the first probe")
  t:ok(math.abs((rst - synack) - 3) <= tol, "the RST 1 + 1 * 2 s after the SYN-ACK")
  t:ok(heard >= rst - synack and heard - (rst - synack) < tol / 2, "the client's line right after the RST")
  t:ok(math.abs(secs - 3) <= tol, "the client's own clock: 3 s, got " .. secs)
end)
