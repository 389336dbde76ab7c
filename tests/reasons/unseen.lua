-- "none" needs the kernels' own count: a RST is "none" (no kernel made
-- it) only when every RST the scenario's kernels counted as sent
-- (Tcp.OutRsts over its hosts) has its tcp_send_reset event.
--
-- Here one kernel RST has no event: A answers a SYN from port 1001 to its
-- closed port 1000, and neither port is in the scenario's slice, so the
-- reader's program drops its event as another scenario's. Then LB, a
-- middlebox, answers C's segment with a RST in S's name (reject with tcp
-- reset): no kernel announced it, but one kernel RST of the scenario went
-- unannounced too, so "none" cannot be told from that one's reason.
--
--   C 10.0.1.1 --- 10.0.1.254 LB 10.0.2.254 --- 10.0.2.1 S

scenario("a RST with no event while a kernel RST went unannounced: reason none is unchecked", function(t)
  local c, lb, s = t.host, t:add_host("LB"), t:add_host("S")
  t:link(c, lb, { a = "10.0.1.1/24", b = "10.0.1.254/24" })
  t:link(lb, s, { a = "10.0.2.254/24", b = "10.0.2.1/24" })
  lb:sysctl("net.ipv4.ip_forward", 1)
  c:route("10.0.2.0/24", "10.0.1.254")
  s:route("default", "10.0.2.254")
  local cap = assert(c:capture())

  -- The unannounced one: LB's SYN from 1001 to C's closed port 1000.
  t:fails_with("ECONNREFUSED", lb:connect("10.0.1.1:1000", { bind = "10.0.1.254:1001", timeout = 2 }))

  local srv = assert(s:listen("10.0.2.1:0"))
  local cli = assert(c:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept())
  local port = tonumber(srv.addr:match(":(%d+)$"))
  lb:drop{ dir = "fwd", dport = port, reset = true }
  t:eq(cli:write("x"), 1)
  t:fails_with("ECONNRESET", cli:read(1, { timeout = 2 }))

  cap:expect({ C = cli, S = conn, L = "10.0.1.254:1001", K = "10.0.1.1:1000" }, [[
    L > K  [S]
    K > L  [R.]   ack 1
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 len 1
    S > C  [R]    seq 1 len 0   reason none
    no more packets within 0.2 s
  ]])
  -- What the kernels counted: C's RST to LB, and no other.
  t:eq(c:counters()["Tcp.OutRsts"] + lb:counters()["Tcp.OutRsts"] + s:counters()["Tcp.OutRsts"], 1,
    "RSTs the kernels sent")
end)
