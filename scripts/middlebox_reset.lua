-- "Connection reset by peer", but the peer never sent it: a middlebox's
-- idle timeout.
--
-- Load balancers, NAT gateways and stateful firewalls keep a table of the
-- connections that cross them and forget an entry after some idle time
-- (minutes on most cloud load balancers). The next segment of a forgotten
-- connection is then answered by the middlebox itself with a RST, in the
-- server's name. The client reads ECONNRESET and blames the server; the
-- server never received the request, sent nothing, and its socket is still
-- ESTABLISHED. (Some middleboxes drop silently instead: then the client's
-- write is retransmitted until its own timeout.)
--
-- How to tell: the RST is not the server's. Here A reaches S through LB,
-- so every packet of S arrives at A with TTL 63 (64 less one hop), while
-- the RST, made by LB, arrives with TTL 64. The kernel logs no
-- tcp_send_reset for it either: no TCP stack sent it. In a real capture,
-- compare the RST's TTL (and IP ID) with the server's other packets.

local tcpflags = require "rstlab.tcpflags"

scenario("middlebox forgets an idle connection: RST in the server's name, server still ESTABLISHED", function(t)
  local a, lb, s = t.host, t:add_host("LB"), t:add_host("S")
  t:link(a, lb, { a = "10.0.1.1/24", b = "10.0.1.254/24" })
  t:link(lb, s, { a = "10.0.2.254/24", b = "10.0.2.1/24" })
  lb:sysctl("net.ipv4.ip_forward", 1)
  a:route("10.0.2.0/24", "10.0.1.254")
  s:route("default", "10.0.2.254")
  local cap = assert(a:capture())           -- the client's side
  local scap = assert(s:capture())          -- the server's side

  local srv = assert(s:listen("10.0.2.1:0"))
  local cli = assert(a:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept())
  t:eq(cli:write("GET /"), 5)
  t:eq(conn:read(5), "GET /")
  t:eq(conn:write("OK"), 2)
  t:eq(cli:read(2), "OK")

  -- The connection idles; LB's idle timer expires and it forgets the flow:
  -- from now on it answers the flow's packets with a RST.
  local port = tonumber(srv.addr:match(":(%d+)$"))
  local forgot = lb:drop{ dir = "fwd", dport = port, reset = true }

  t:eq(cli:write("GET /again"), 10)
  t:fails_with("ECONNRESET", cli:read(10, { timeout = 2 }))

  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 len 5
    S > C  [.]    ack 6
    S > C  [P.]   seq 1 ack 6 len 2
    C > S  [.]    ack 3
    C > S  [P.]   seq 6 ack 3 len 10
    S > C  [R]    seq 3 len 0   reason none  -- made by LB, in S's name: no kernel announced it
    no more packets within 0.2 s
  ]])
  -- The tell: S's own packets crossed one router, the RST did not.
  local ttls = {}
  for _, p in ipairs(cap:packets()) do
    if p.src == conn.addr then ttls[#ttls + 1] = tcpflags.letters(p.flags) .. " ttl " .. p.ttl end
  end
  t:eq(table.concat(ttls, ", "), "S. ttl 63, . ttl 63, P. ttl 63, R ttl 64", "TTLs of the packets from S")
  t:eq(forgot:hits(), 1, "segments LB answered with a RST")

  -- The server saw nothing after its "OK" was acked, and still has the
  -- connection open.
  scap:expect({ C = cli, S = conn }, [[
    ...
    S > C  [P.]   seq 1 ack 6 len 2
    C > S  [.]    ack 3
    no more packets within 0.2 s
  ]])
  t:eq(#s:sockets{ state = "ESTABLISHED" }, 1, "S's connection")
end)
