-- shutdown() of one direction, then what the other side sends.
--
-- SHUT_RD (shutdown(fd, SHUT_RD), "r"): nothing goes on the wire; on Linux
-- it only marks the socket so that recv() returns 0 (EOF) once the receive
-- queue is empty. Data that arrives afterwards is still acked, queued and
-- readable: Linux does NOT answer it with a RST (RFC 9293 has no
-- half-closed receive side at all). The data is unread data
-- like any other: a close() with it still queued sends a RST, reason
-- TCP_ABORT_ON_CLOSE (RFC 2525, 2.17), and the peer reads ECONNRESET.
--
-- SHUT_WR ("w"): a FIN at once; the peer acks it and sits in CLOSE_WAIT,
-- this side in FIN_WAIT2. A close() that leaves received bytes unread then
-- sends a RST after the FIN (TCP_ABORT_ON_CLOSE again, seq one past the
-- FIN). The peer had read its EOF already (or reads it now: the FIN came
-- first), and it keeps reading EOF: a RST in CLOSE_WAIT is recorded as
-- EPIPE, not ECONNRESET (tcp_reset), which SO_ERROR shows and the next
-- write returns. No TIME_WAIT and no FIN_WAIT2 socket is left.

local function pair(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  return h, cap, cli, conn
end

scenario("SHUT_RD, then data: acked and readable, no RST; EOF once the queue is empty; unread at close: RST", function(t)
  local h, cap, cli, conn = pair(t)
  local c0 = h:counters()
  t:ok(conn:shutdown("r"))
  t:fails_with("EOF", conn:read(10, { timeout = 1 }))   -- nothing queued: recv returns 0 at once
  t:eq(conn:info().state, "ESTABLISHED", "the server after SHUT_RD")

  t:eq(cli:write("hello"), 5)
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]                                -- SHUT_RD put nothing on the wire
    C > S  [P.]   seq 1 ack 1 len 5
    S > C  [.]    ack 6                       -- acked, not reset
    no more packets within 0.2 s
  ]])
  t:eq(conn:pending(), 5, "bytes queued after SHUT_RD")
  t:eq(conn:read(10), "hello")
  t:fails_with("EOF", conn:read(10, { timeout = 1 }))
  -- The other direction is untouched.
  t:eq(conn:write("back"), 4)
  t:eq(cli:read(10, { timeout = 1 }), "back")

  -- More data, left unread: close() resets.
  t:eq(cli:write("more"), 4)
  cap:expect({ C = cli, S = conn }, [[
    ...
    C > S  [P.]   seq 6 ack 5 len 4
    S > C  [.]    ack 10
  ]])
  t:eq(conn:pending(), 4, "bytes left unread")
  t:mark("close"); conn:close()                       -- the RST leaves inside close()
  t:fails_with("ECONNRESET", cli:read(10, { timeout = 1 }))
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))
  cap:expect({ C = cli, S = conn }, [[
    S > C  [R.]   seq 5 ack 10 len 0   after close 0 ± 0.05   reason TCP_ABORT_ON_CLOSE
    no more packets within 0.2 s
  ]], { from = "close" })
  h:counters():since(c0):expect{ TCPAbortOnClose = 1, OutRsts = 1, EstabResets = 2 }
  t:eq(#h:sockets{ states = { "TIME_WAIT", "FIN_WAIT2" } }, 0, "TIME_WAIT and FIN_WAIT2 sockets")
end)

scenario("SHUT_RD, everything read, close: an orderly FIN", function(t)
  local h, cap, cli, conn = pair(t)
  local c0 = h:counters()
  t:ok(conn:shutdown("r"))
  t:eq(cli:write("hello"), 5)
  t:eq(conn:read(10, { timeout = 1 }), "hello")
  t:fails_with("EOF", conn:read(10, { timeout = 1 }))
  conn:close()
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 ack 1 len 5
    S > C  [.]    ack 6
    S > C  [F.]   seq 1 ack 6
    C > S  [.]    ack 2
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ TCPAbortOnClose = 0, OutRsts = 0 }
end)

scenario("SHUT_WR, then close with unread data: FIN, then RST (TCP_ABORT_ON_CLOSE); the peer reads EOF, writes EPIPE", function(t)
  local h, cap, cli, conn = pair(t)
  local c0 = h:counters()
  t:eq(cli:write("hello"), 5)
  cap:expect({ C = cli, S = conn }, [[
    ...
    C > S  [P.]   seq 1 ack 1 len 5
    S > C  [.]    ack 6
  ]])
  t:ok(conn:shutdown("w")); t:mark("shutdown")
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))  -- the FIN
  cap:expect({ C = cli, S = conn }, [[
    ...
    S > C  [F.]   seq 1 ack 6
    C > S  [.]    ack 2                       -- (delayed ACK: up to 40 ms)
  ]])
  t:eq(conn:info().state, "FIN_WAIT2", "the server after SHUT_WR, its FIN acked")
  t:eq(cli:info().state, "CLOSE_WAIT", "the client")
  t:eq(conn:pending(), 5, "bytes the server never read")

  t:mark("close"); conn:close()
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 ack 1 len 5
    S > C  [.]    ack 6
    S > C  [F.]   seq 1 ack 6   after shutdown 0 ± 0.05
    C > S  [.]    ack 2
    S > C  [R.]   seq 2 ack 6 len 0   after close 0 ± 0.05   reason TCP_ABORT_ON_CLOSE
    no more packets within 0.2 s
  ]])
  -- The peer never reads ECONNRESET: the RST came in CLOSE_WAIT.
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))
  t:eq(cli:error(), "EPIPE", "the client's SO_ERROR: the RST, recorded as EPIPE")
  t:fails_with("EPIPE", cli:write("x"))
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))
  t:eq(cli:info().state, "CLOSE", "the client after the RST")
  h:counters():since(c0):expect{ TCPAbortOnClose = 1, OutRsts = 1 }
  t:eq(#h:sockets{ states = { "TIME_WAIT", "FIN_WAIT2" } }, 0, "TIME_WAIT and FIN_WAIT2 sockets")
end)
