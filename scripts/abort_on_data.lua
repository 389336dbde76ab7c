-- Data for a connection its application has closed (an orphan that is
-- still a full socket).
--
-- RFC 1122 4.2.2.13 / RFC 2525 2.17: a host that closed the connection
-- cannot deliver new data to anyone, so it must answer data with a RST,
-- not swallow it. Linux: tcp_rcv_state_process, FIN_WAIT1/FIN_WAIT2 of a
-- socket whose receive side is shut (close() shuts both): data beyond
-- rcv_nxt ends the connection (tcp_done), counter TCPAbortOnData, reason
-- TCP_ABORT_ON_DATA. The RST answers the segment: a bare [R] whose seq is
-- the segment's ack.
--
-- It takes a full socket: an orphan whose FIN is acked becomes a FIN_WAIT2
-- timewait mini-socket, whose RST for data is TCP_TIMEWAIT_SOCKET
-- (scripts/data_after_close.lua). Here the client's pure ACK of the FIN is
-- dropped at the server's door, so the server is still in FIN_WAIT1 when
-- the client's data (carrying that ACK) arrives: the data crossed the FIN.
--
-- The same branch, with the same reason and counter, has a second
-- trigger that carries no data at all: TCP_LINGER2 below 0 says "no
-- FIN_WAIT2 for me". An orphan in FIN_WAIT1 whose FIN is then acked is
-- reset at once (if (tp->linger2 < 0) { tcp_done; TCPAbortOnData; return
-- TCP_ABORT_ON_DATA }), not TCP_ABORT_ON_LINGER (which is close() in
-- FIN_WAIT2: scripts/abort_on_linger.lua).
--
-- The client got the FIN first, so it is in CLOSE_WAIT when the RST comes:
-- its reads return EOF (the FIN), its writes fail with EPIPE (Linux's
-- errno for a RST in CLOSE_WAIT), never ECONNRESET.

scenario("data crossing the FIN of a closed socket (FIN_WAIT1): [R] seq = its ack (TCP_ABORT_ON_DATA), EOF then EPIPE", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  t:eq(cli:write("request"), 7)
  t:eq(conn:read(7, { all = true, timeout = 1 }), "request")
  -- The client's pure ACKs never reach the server: its FIN stays unacked.
  h:drop{ dir = "in", sport = tonumber(cli.addr:match(":(%d+)$")), flags = "=." }
  local c0 = h:counters()
  conn:close()
  cap:expect({ C = cli, S = conn }, "...\nS > C  [F.]   seq 1 ack 8")
  t:eq(#h:sockets{ state = "FIN_WAIT1" }, 1, "the server's orphan, a full socket")

  t:eq(cli:write("more"), 4) -- crosses the FIN
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 ack 1 len 7
    S > C  [.]    ack 8
    S > C  [F.]   seq 1 ack 8
    ...
    C > S  [P.]   seq 8 ack 2 len 4
    S > C  [R]    seq 2 len 0 win 0   reason TCP_ABORT_ON_DATA
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ TCPAbortOnData = 1, OutRsts = 1, TCPAbortOnLinger = 0,
    TCPAbortOnClose = 0 }
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))
  t:fails_with("EPIPE", cli:write("again"))
  t:eq(cli:info().state, "CLOSE", "the client's socket")
  t:eq(#h:sockets{ states = { "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT" } }, 0, "what is left of the server's end")
end)

scenario("TCP_LINGER2 -1 and close(): the ACK of the FIN alone resets the orphan (TCP_ABORT_ON_DATA, no data at all)", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  t:eq(cli:write("request"), 7)
  t:eq(conn:read(7, { all = true, timeout = 1 }), "request")
  t:ok(conn:set{ linger2 = -1 })
  local c0 = h:counters()
  conn:close()
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 ack 1 len 7
    S > C  [.]    ack 8
    S > C  [F.]   seq 1 ack 8
    C > S  [.]    seq 8 ack 2 len 0
    S > C  [R]    seq 2 len 0 win 0   reason TCP_ABORT_ON_DATA
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ TCPAbortOnData = 1, OutRsts = 1, TCPAbortOnLinger = 0 }
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))
  t:fails_with("EPIPE", cli:write("again"))
  t:eq(#h:sockets{ states = { "FIN_WAIT2", "TIME_WAIT" } }, 0, "no FIN_WAIT2, no TIME_WAIT")
end)
