-- Not every host answers a SYN to a closed port with a RST.
--
-- A port with no listener on a host of its own (RFC 9293, 3.10.7.1: a
-- segment for a connection that does not exist, in state CLOSED, is
-- answered with a RST) gets the kernel's RST: [R.] acking the SYN, reason
-- NO_SOCKET, and connect() fails at once with ECONNREFUSED. Put a firewall
-- rule in front of the same closed port and the client sees something else:
--
-- (a) the rule drops the SYN: nothing comes back. The client retransmits its
--     SYN and connect() fails with ETIMEDOUT. With net.ipv4.tcp_syn_retries
--     = 1 the kernel does not count retransmissions: it gives up when the
--     time that one retransmission would take with exponential backoff has
--     passed (tcp_model_timeout: (2^(1+1) - 1) x 1 s = 3 s). Since Linux 6.5
--     the first tcp_syn_linear_timeouts (default 4) retransmissions are not
--     backed off, so 2 retransmissions fit in those 3 s, 1 s apart: three
--     SYNs in all. With tcp_syn_linear_timeouts = 0: SYN, 1 s, SYN, 2 s,
--     ETIMEDOUT: one retransmission, as the sysctl's name promises.
-- (b) the rule rejects with a TCP reset (nft "reject with tcp reset"): the
--     client gets the same [R.] and ECONNREFUSED as from a closed port, but
--     no TCP stack sent that RST: the server's kernel logs no
--     tcp_send_reset (reason none) and its TCP counters do not move.
-- (c) the rule rejects with an ICMP port unreachable: no RST on the wire.
--     The ICMP error aborts the attempt (RFC 1122, 4.2.3.9: port unreachable
--     is a hard error): ECONNREFUSED too. Seen here: on a veth the ICMP
--     arrives while connect() still holds the socket, so the kernel keeps it
--     only as a soft error (LockDroppedIcmps); the SYN retransmitted 1 s later
--     draws a second ICMP, and that one aborts the attempt. A blocking
--     connect() returns ECONNREFUSED after ~1 s.
--
-- The capture decodes TCP only: the ICMP packets are not in cap:packets()
-- (they are skipped), so the expectation shows the SYNs and that nothing
-- else of TCP came back, and a counting rule on A shows the ICMP arriving.

local function pair(t)
  local a, b = t.host, t:add_host("B")
  t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  a:sysctl("net.ipv4.tcp_syn_retries", 1)
  local cap = assert(a:capture({ filter = "tcp or icmp" }))
  return a, b, cap, "10.0.0.2:" .. b:unused_port()
end

-- The packets a rule in B's table counted ("counter packets N").
local function rule_hits(b, port)
  local list = b:nft("list chain inet rstlab prerouting")
  return tonumber(list:match("tcp dport " .. port .. " counter packets (%d+)"))
end

scenario("closed port, no firewall: the kernel's RST, ECONNREFUSED, reason NO_SOCKET", function(t)
  local a, b, cap, server = pair(t)
  local ca, cb = a:counters(), b:counters()
  local cli = assert(a:socket())
  t:fails_with("ECONNREFUSED", cli:connect(server, { timeout = 2 }))
  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0
    S > C  [R.]   seq 0 ack 1 win 0 len 0   reason NO_SOCKET
    no more packets within 0.2 s
  ]])
  t:eq(cli:info().state, "CLOSE", "the client's socket")
  a:counters():since(ca):expect{ ActiveOpens = 1, AttemptFails = 1, OutRsts = 0 }
  b:counters():since(cb):expect{ InSegs = 1, OutRsts = 1 }
end)

scenario("firewall drops the SYN: retransmissions 1 s apart, ETIMEDOUT after 3 s", function(t)
  local a, b, cap, server = pair(t)
  local rule = b:drop{ dir = "in", flags = "=S" }
  local ca, cb = a:counters(), b:counters()
  local cli = assert(a:socket())
  t:mark("connect")
  t:fails_with("ETIMEDOUT", cli:connect(server, { timeout = 6 }))
  local took = t:now() - t.marks.connect
  t:ok(took > 2.8 and took < 3.4, "connect() gave up after ~3 s", took)
  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0   after connect 0 ± 0.05
    C > S  [S]    seq 0   after 1.0 ± 0.2
    C > S  [S]    seq 0   after 1.0 ± 0.2
    no more packets within 1.5 s              -- past the end of connect()
  ]])
  t:eq(rule:hits(), 3, "SYNs the firewall dropped")
  t:eq(cli:info().state, "CLOSE", "the client's socket")
  a:counters():since(ca):expect{ AttemptFails = 1, TCPSynRetrans = 2, TCPAbortOnTimeout = 1, OutRsts = 0 }
  b:counters():since(cb):expect{ InSegs = 0, OutRsts = 0 }
end, { timeout = 10 })

scenario("the same without linear SYN timeouts: one retransmission, 1 s then 2 s", function(t)
  local a, b, cap, server = pair(t)
  a:sysctl("net.ipv4.tcp_syn_linear_timeouts", 0)
  local rule = b:drop{ dir = "in", flags = "=S" }
  local ca = a:counters()
  local cli = assert(a:socket())
  t:mark("connect")
  t:fails_with("ETIMEDOUT", cli:connect(server, { timeout = 6 }))
  local took = t:now() - t.marks.connect
  t:ok(took > 2.8 and took < 3.4, "connect() gave up after ~3 s", took)
  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0   after connect 0 ± 0.05
    C > S  [S]    seq 0   after 1.0 ± 0.2
    no more packets within 2.5 s              -- past the end of connect()
  ]])
  t:eq(rule:hits(), 2, "SYNs the firewall dropped")
  a:counters():since(ca):expect{ AttemptFails = 1, TCPSynRetrans = 1, TCPAbortOnTimeout = 1 }
end, { timeout = 10 })

scenario("firewall rejects with a TCP reset: the same [R.], but no kernel sent it", function(t)
  local a, b, cap, server = pair(t)
  local port = tonumber(server:match(":(%d+)$"))
  b:nft("add rule inet rstlab prerouting tcp dport " .. port .. " counter reject with tcp reset")
  local ca, cb = a:counters(), b:counters()
  local cli = assert(a:socket())
  t:fails_with("ECONNREFUSED", cli:connect(server, { timeout = 2 }))
  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0
    S > C  [R.]   seq 0 ack 1 win 0 len 0   reason none
    no more packets within 0.2 s
  ]])
  t:eq(rule_hits(b, port), 1, "SYNs the firewall rejected")
  t:eq(#t:resets{ src = b:addr() }, 0, "RSTs B's kernel announced")
  a:counters():since(ca):expect{ ActiveOpens = 1, AttemptFails = 1 }
  b:counters():since(cb):expect{ InSegs = 0, OutRsts = 0 }
end)

scenario("firewall rejects with ICMP port unreachable: no RST, ECONNREFUSED after the retransmission", function(t)
  local a, b, cap, server = pair(t)
  local port = tonumber(server:match(":(%d+)$"))
  b:nft("add rule inet rstlab prerouting tcp dport " .. port .. " counter reject with icmp type port-unreachable")
  -- The capture does not decode ICMP: a rule on A counts what arrives.
  a:nft("add rule inet rstlab prerouting icmp type destination-unreachable icmp code port-unreachable counter")
  local ca, cb = a:counters(), b:counters()
  local cli = assert(a:socket("inet", { blocking = true }))
  -- A refused blocking connect lets go of an automatic port: bind one.
  t:ok(cli:bind("10.0.0.1:" .. a:unused_port()))
  t:mark("connect")
  t:fails_with("ECONNREFUSED", cli:connect(server, { timeout = 3 }))
  local took = t:now() - t.marks.connect
  t:ok(took > 0.8 and took < 1.3, "connect() failed at the second ICMP, ~1 s", took)
  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0   after connect 0 ± 0.05
    C > S  [S]    seq 0   after 1.0 ± 0.2
    no more packets within 1.5 s              -- past the end of connect()
  ]])
  t:eq(rule_hits(b, port), 2, "SYNs the firewall answered with ICMP")
  local icmp = a:nft("list chain inet rstlab prerouting"):match("icmp code port%-unreachable counter packets (%d+)")
  t:eq(tonumber(icmp), 2, "ICMP port unreachable messages that reached A")
  t:eq(cli:info().state, "CLOSE", "the client's socket")
  a:counters():since(ca):expect{ AttemptFails = 1, LockDroppedIcmps = 1, TCPSynRetrans = 1,
    InSegs = 0, OutRsts = 0 }
  b:counters():since(cb):expect{ InSegs = 0, OutRsts = 0 }
end, { timeout = 10 })

-- The same with a non-blocking socket (the default here): the program
-- waits for writability and reads SO_ERROR, as non-blocking programs do.
-- The socket is reported ready at once and SO_ERROR returns the soft error
-- (getsockopt(SO_ERROR) falls back to sk_err_soft), so connect() fails
-- with ECONNREFUSED at once, while the kernel still holds the attempt in
-- SYN_SENT and retransmits the SYN 1 s later; the second ICMP ends it.
scenario("ICMP port unreachable, non-blocking connect: ECONNREFUSED at once, the SYN retransmitted anyway", function(t)
  local a, b, cap, server = pair(t)
  local port = tonumber(server:match(":(%d+)$"))
  b:nft("add rule inet rstlab prerouting tcp dport " .. port .. " counter reject with icmp type port-unreachable")
  local ca = a:counters()
  local cli = assert(a:socket())
  t:mark("connect")
  t:fails_with("ECONNREFUSED", cli:connect(server, { timeout = 3 }))
  local took = t:now() - t.marks.connect
  t:ok(took < 0.2, "connect() failed at the first ICMP", took)
  t:eq(cli:info().state, "SYN_SENT", "the kernel's attempt, after connect() failed")
  a:counters():since(ca):expect{ LockDroppedIcmps = 1, AttemptFails = 0 }
  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0   after connect 0 ± 0.05
    C > S  [S]    seq 0   after 1.0 ± 0.2
    no more packets within 1.5 s
  ]])
  t:eq(cli:info().state, "CLOSE", "the attempt, after the second ICMP")
  t:eq(rule_hits(b, port), 2, "SYNs the firewall answered with ICMP")
  a:counters():since(ca):expect{ LockDroppedIcmps = 1, AttemptFails = 1, TCPSynRetrans = 1 }
end, { timeout = 10 })
