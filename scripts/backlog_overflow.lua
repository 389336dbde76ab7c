-- A listener whose accept queue is full (the application does not accept).
--
-- listen(fd, 1): Linux counts the queue full when it holds more than the
-- backlog (sk_acceptq_is_full: sk_ack_backlog > sk_max_ack_backlog), so
-- two connections fit. Then:
--
-- * A SYN that arrives while the queue is full is dropped
--   (tcp_conn_request): no SYN-ACK, no RST whatever the sysctls say; the
--   client retransmits its SYN. B counts ListenOverflows and ListenDrops.
-- * A handshake whose SYN came in while there was room, but whose final
--   ACK comes when the queue is full, cannot become a connection
--   (tcp_check_req -> syn_recv_sock fails). What B does then is
--   net.ipv4.tcp_abort_on_overflow:
--   = 1: B answers the ACK with a RST (a bare [R], seq = the ACK's ack,
--     from the request socket's listener: the tracepoint names the
--     listener and 0.0.0.0:0, reason INVALID_SYN on this kernel, the
--     embryonic_reset path). The client, ESTABLISHED since it sent that
--     ACK, reads ECONNRESET; B counts EmbryonicRsts.
--   = 0 (the default): B drops the ACK and keeps the request (SYN_RECV);
--     its SYN-ACK retransmission timer (1 s, then 2 s more) gives the client
--     another chance to ACK. The client believes it is connected: its
--     writes succeed, its reads wait. Every segment it sends meanwhile is
--     dropped and counted (ListenOverflows, ListenDrops). Once the
--     application accepts, the next one gets in and the connection is
--     made, data included.
--
-- To have a SYN accepted while there is room and its ACK arrive when
-- there is none, the client's first ACK is lost (a rule on the client's
-- host drops that one packet before it leaves: no capture sees it) while
-- a third client fills the queue. The late client's next ACK answers B's
-- retransmitted SYN-ACK (in ESTABLISHED a SYN-ACK is answered with a
-- challenge ACK, RFC 5961 4: TCPSYNChallenge on the client).

-- Hosts A (clients) and B (a listener with backlog 1, nobody accepting),
-- a capture on A, and the first client connected (queue: 1).
local function setup(t, abort)
  local a, b = t.host, t:add_host("B")
  t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  b:sysctl("net.ipv4.tcp_abort_on_overflow", abort)
  local cap = assert(a:capture())
  local srv = assert(b:listen("10.0.0.2:0", { backlog = 1 }))
  local ca, cb = a:counters(), b:counters()
  local first = assert(a:connect(srv.addr, { timeout = 1 }))
  return a, b, cap, srv, ca, cb, first
end

-- The late client: its SYN finds room (a request, SYN_RECV on B), its
-- first ACK is lost, then a third client fills the queue (2 > 1).
local function late_client(t, a, srv)
  local late = assert(a:socket())
  local port = a:unused_port()
  t:ok(late:bind("10.0.0.1:" .. port))
  local lost = a:drop{ dir = "out", sport = port, flags = "=.", nth = 1 }
  t:ok(late:connect(srv.addr, { timeout = 1 }))
  t:mark("synack")
  t:eq(late:info().state, "ESTABLISHED", "the late client, once it sent its ACK")
  local third = assert(a:connect(srv.addr, { timeout = 1 }))
  t:eq(lost:hits(), 1, "the late client's lost ACK")
  return late, third
end

scenario("accept queue full: a new SYN is dropped, no answer, even with tcp_abort_on_overflow = 1", function(t)
  local a, b, cap, srv, ca, cb, first = setup(t, 1)
  local second = assert(a:connect(srv.addr, { timeout = 1 }))
  local cli = assert(a:socket())
  t:mark("connect")
  t:fails_with("TIMEOUT", cli:connect(srv.addr, { timeout = 1.5 }))
  t:eq(cli:info().state, "SYN_SENT", "the third client")
  cap:expect({ C = cli, S = srv.addr }, [[
    C > S  [S]    seq 0   after connect 0 ± 0.05
    C > S  [S]    seq 0   after 1.0 ± 0.2
    no more packets within 0.3 s
  ]])
  t:eq(#t:resets(), 0, "RSTs the kernels announced")
  t:eq(#b:sockets{ state = "ESTABLISHED" }, 2, "B's connections in the queue")
  t:eq(#b:sockets{ state = "SYN_RECV" }, 0, "B's requests")
  b:counters():since(cb):expect{ PassiveOpens = 2, ListenOverflows = 2, ListenDrops = 2, OutRsts = 0 }
end)

scenario("tcp_abort_on_overflow = 1: the ACK into a full queue gets a RST (INVALID_SYN), the client reads ECONNRESET", function(t)
  local a, b, cap, srv, ca, cb, first = setup(t, 1)
  local late, third = late_client(t, a, srv)
  -- B retransmits its SYN-ACK after 1 s; the client's ACK meets the full
  -- queue.
  t:fails_with("ECONNRESET", late:read(1, { timeout = 3 }))
  t:ok(math.abs(t:now() - t.marks.synack - 1.0) < 0.2, "the read failed ~1 s after the handshake",
    t:now() - t.marks.synack)
  cap:expect({ L = late, S = srv.addr }, [[
    L > S  [S]    seq 0
    S > L  [S.]   seq 0 ack 1                 -- L's ACK is lost on its way out
    S > L  [S.]   seq 0 ack 1   after synack 1.0 ± 0.15
    L > S  [.]    seq 1 ack 1   after 0 ± 0.05
    S > L  [R]    seq 1 win 0 len 0   after 0 ± 0.05   reason INVALID_SYN
    no more packets within 0.3 s
  ]])
  t:eq(#t:resets{ src = srv.addr, dst = "0.0.0.0:0", reason = "INVALID_SYN" }, 1,
    "the event names the listener, no peer")
  t:fails_with("EPIPE", late:write("x"))
  t:fails_with("EOF", late:read(1, { timeout = 1 }))
  t:eq(late:info().state, "CLOSE", "the late client")
  -- The two in the queue are fine, and there is nothing else to accept.
  t:eq(assert(srv:accept{ wait = false }).peer, first.addr)
  t:eq(assert(srv:accept{ wait = false }).peer, third.addr)
  t:fails_with("EAGAIN", srv:accept{ wait = false })
  b:counters():since(cb):expect{ PassiveOpens = 2, ListenOverflows = 1, ListenDrops = 1,
    EmbryonicRsts = 1, OutRsts = 1, TCPSynRetrans = 1 }
  a:counters():since(ca):expect{ EstabResets = 1, TCPSYNChallenge = 1, TCPChallengeACK = 1 }
end)

scenario("tcp_abort_on_overflow = 0: the ACK is dropped, SYN-ACK retransmitted, the client thinks it is connected", function(t)
  local a, b, cap, srv, ca, cb, first = setup(t, 0)
  local late, third = late_client(t, a, srv)
  late:set{ nodelay = true }
  cap:expect({ L = late, S = srv.addr }, [[
    L > S  [S]    seq 0
    S > L  [S.]   seq 0 ack 1                 -- L's ACK is lost on its way out
    S > L  [S.]   seq 0 ack 1   after synack 1.0 ± 0.15
    L > S  [.]    seq 1 ack 1   after 0 ± 0.05   -- dropped by B: the queue is full
    S > L  [S.]   seq 0 ack 1   after synack 3.0 ± 0.3
    L > S  [.]    seq 1 ack 1   after 0 ± 0.05   -- dropped too
  ]], { timeout = 4 })
  -- The client is connected as far as it knows.
  t:eq(late:info().state, "ESTABLISHED", "the late client")
  t:eq(late:write("x"), 1, "the late client's write")
  t:fails_with("TIMEOUT", late:read(1, { timeout = 0.5 }))
  t:eq(late:error(), nil, "the late client's SO_ERROR")
  t:eq(#b:sockets{ state = "SYN_RECV" }, 1, "B still holds the request")
  t:eq(#t:resets(), 0, "RSTs the kernels announced")
  -- The application accepts one: room for one more, and the client's next
  -- retransmission of its data makes the connection.
  t:eq(assert(srv:accept{ wait = false }).peer, first.addr)
  t:mark("accept")
  cap:expect({ L = late, S = srv.addr }, [[
    L > S  [P.]   seq 1 ack 1 len 1
    S > L  [.]    ack 2
    no more packets within 0.3 s
  ]], { from = "accept" })
  t:eq(assert(srv:accept{ wait = false }).peer, third.addr)
  local conn = assert(srv:accept{ wait = false })
  t:eq(conn.peer, late.addr)
  t:eq(conn:read(1), "x")
  -- What B dropped: every segment of the late client after the handshake
  -- (its ACKs, its data and the data's retransmissions) but the last one.
  local dropped = -1
  for _, p in ipairs(cap:packets()) do
    if p.src == late.addr and p.t > t.marks.synack then dropped = dropped + 1 end
  end
  t:ok(dropped >= 3, "segments B dropped", dropped)
  b:counters():since(cb):expect{ PassiveOpens = 3, ListenOverflows = dropped, ListenDrops = dropped,
    TCPSynRetrans = 2, EmbryonicRsts = 0, OutRsts = 0 }
end, { timeout = 10 })
