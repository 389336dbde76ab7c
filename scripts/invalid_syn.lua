-- A second SYN, with another sequence number, for a half-open connection
-- at a listener.
--
-- A SYN reaches a listener: the kernel keeps a request (a SYN_RECV
-- mini-socket, not yet a socket of its own) and answers with a SYN-ACK.
-- Before the handshake's ACK comes, the same address and port send a SYN
-- again, this time with a sequence number one past the first (inside the
-- window the SYN-ACK opened). It is not a retransmission of the first SYN
-- (that would repeat its ISN and get the SYN-ACK again).
--
-- RFC 9293 3.10.7.4 (SYN-RECEIVED, fourth check the SYN bit) and RFC
-- 5961 4: a SYN in the window of a synchronized connection; for a request
-- Linux's tcp_check_req does what RFC 793 said: it resets the embryonic
-- connection (embryonic_reset) and answers with a RST, the kernel's reason
-- INVALID_SYN, counters EmbryonicRsts and AttemptFails. The RST answers a
-- segment without ACK: it carries ACK, acking that SYN (ack = its seq + 1),
-- and its own seq is 0. The request is gone: the listener's accept queue
-- stays empty, and no SYN_RECV is left.

scenario("a SYN with a new sequence number for a half-open request: [R.] (INVALID_SYN), the request is dropped", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  -- A client no socket of this host owns (crafted; its host keeps quiet).
  local client = "127.0.0.1:" .. h:unused_port()
  t:ok(h:send{ src = client, dst = srv.addr, flags = "S", seq = 1000, win = 65535, mss = 1460 })
  cap:expect({ C = client, S = srv.addr }, [[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
  ]])
  t:eq(#h:sockets{ state = "SYN_RECV" }, 1, "the listener's request")
  local c0 = h:counters()

  t:ok(h:send{ src = client, dst = srv.addr, flags = "S", seq = 1001, win = 65535, mss = 1460 })
  cap:expect({ C = client, S = srv.addr }, [[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
    C > S  [S]    seq 1
    S > C  [R.]   ack 2 len 0 win 0   reason INVALID_SYN
    no more packets within 0.3 s
  ]])
  local rst = cap:packets()[4]
  t:eq(rst.seq, 0, "the RST's own sequence number (absolute)")
  h:counters():since(c0):expect{ OutRsts = 1, EmbryonicRsts = 1, AttemptFails = 1, TCPChallengeACK = 0 }
  t:eq(#h:sockets{ state = "SYN_RECV" }, 0, "requests left")
  t:fails_with("EAGAIN", srv:accept{ wait = false })
  -- The kernel's event names the listener (0.0.0.0:0 as the peer).
  local r = t:resets{ reason = "INVALID_SYN" }
  if t:resets_checked() then
    t:eq(#r, 1, "INVALID_SYN events")
    t:eq(r[1].state, "TCP_LISTEN", "the socket that sent it")
  end
end)

scenario("the same SYN again (a retransmission) is not invalid: the SYN-ACK again, no RST", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local client = "127.0.0.1:" .. h:unused_port()
  t:ok(h:send{ src = client, dst = srv.addr, flags = "S", seq = 1000, win = 65535, mss = 1460 })
  cap:expect({ C = client, S = srv.addr }, "C > S  [S]\nS > C  [S.]")
  local c0 = h:counters()
  t:ok(h:send{ src = client, dst = srv.addr, flags = "S", seq = 1000, win = 65535, mss = 1460 })
  cap:expect({ C = client, S = srv.addr }, [[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
    no more packets within 0.3 s
  ]])
  h:counters():since(c0):expect{ OutRsts = 0, EmbryonicRsts = 0 }
  t:eq(#h:sockets{ state = "SYN_RECV" }, 1, "the listener's request")
end)
