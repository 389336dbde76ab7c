-- close() in FIN_WAIT2 with TCP_LINGER2 below 0.
--
-- TCP_LINGER2 is how long an orphaned connection may wait in FIN_WAIT2
-- for the peer's FIN (0: net.ipv4.tcp_fin_timeout, 60 s). Below 0 it means
-- "no FIN_WAIT2 after close at all". An application that shut down its
-- sending side (shutdown(SHUT_WR): FIN, acked by the peer) is in FIN_WAIT2
-- while it still owns the socket; when it then closes with TCP_LINGER2 -1,
-- the kernel does not keep the orphan: __tcp_close sets the state CLOSE and
-- sends a RST, reason TCP_ABORT_ON_LINGER, counter TCPAbortOnLinger. An
-- active reset: [R.], seq = the server's snd_nxt (after its FIN), ack = all
-- it received.
--
-- The peer got the FIN before, so it is in CLOSE_WAIT when the RST comes:
-- reads return EOF (the FIN), writes fail with EPIPE, never ECONNRESET.
-- (Without linger2 the same close leaves a FIN_WAIT2 timewait mini-socket
-- for 60 s and no RST: the second scenario.)

local function fin_wait2(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  t:eq(cli:write("request"), 7)
  t:eq(conn:read(7, { all = true, timeout = 1 }), "request")
  t:ok(conn:shutdown("w"))
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))
  cap:expect({ C = cli, S = conn }, [[
    ...
    S > C  [F.]   seq 1 ack 8
    C > S  [.]    seq 8 ack 2
  ]])
  t:eq(conn:info().state, "FIN_WAIT2")
  return h, cap, cli, conn
end

scenario("shutdown(w), FIN acked, TCP_LINGER2 -1, close(): [R.] (TCP_ABORT_ON_LINGER), peer EOF then EPIPE", function(t)
  local h, cap, cli, conn = fin_wait2(t)
  t:ok(conn:set{ linger2 = -1 })
  t:eq(conn:get("linger2"), -1)
  local c0 = h:counters()
  conn:close()
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 ack 1 len 7
    S > C  [.]    ack 8
    S > C  [F.]   seq 1 ack 8
    C > S  [.]    seq 8 ack 2
    S > C  [R.]   seq 2 ack 8 len 0   reason TCP_ABORT_ON_LINGER
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ TCPAbortOnLinger = 1, OutRsts = 1, TCPAbortOnData = 0,
    TCPAbortOnClose = 0 }
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))
  t:fails_with("EPIPE", cli:write("again"))
  t:eq(cli:info().state, "CLOSE", "the client's socket")
  t:eq(#h:sockets{ states = { "FIN_WAIT2", "TIME_WAIT" } }, 0, "no FIN_WAIT2, no TIME_WAIT")
end)

scenario("the same close with the default linger2: no RST, a FIN_WAIT2 mini-socket stays", function(t)
  local h, cap, cli, conn = fin_wait2(t)
  t:eq(conn:get("linger2"), 60, "0: net.ipv4.tcp_fin_timeout")
  local c0 = h:counters()
  conn:close()
  cap:expect({ C = cli, S = conn }, [[
    ...
    S > C  [F.]   seq 1 ack 8
    C > S  [.]    seq 8 ack 2
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ TCPAbortOnLinger = 0, OutRsts = 0 }
  t:eq(#h:sockets{ state = "FIN_WAIT2" }, 1, "the server's end, a timewait mini-socket")
  t:eq(cli:info().state, "CLOSE_WAIT")
end)
