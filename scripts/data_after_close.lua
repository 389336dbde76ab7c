-- Data arriving on a connection the application already closed.
--
-- The server reads everything and closes: a FIN, acked by the client's
-- kernel. The server's socket is gone for its application; its kernel
-- keeps the connection's end in FIN_WAIT2 as a timewait mini-socket (ss
-- shows FIN-WAIT-2 with a timewait timer). The client's application has
-- not read the FIN yet and writes again: the write succeeds (the bytes go
-- into the client's send buffer and onto the wire), and the server's
-- kernel answers them with a RST from that mini-socket. That RST carries
-- no ACK flag: a bare [R] whose seq is the ack of the segment it answers
-- (RFC 793: "If the incoming segment has an ACK field, the reset takes its
-- sequence number from the ACK field"), window 0. The kernel's reason is
-- TCP_TIMEWAIT_SOCKET.
--
-- What the client's application sees keeps EOF and errors apart: its
-- next read returns the FIN (EOF: recv() returned 0), not ECONNRESET, and
-- so does every read after it. The RST came while the client was in
-- CLOSE_WAIT, where Linux records it as EPIPE, not ECONNRESET: the next
-- write fails with EPIPE, and so does every write after it.

scenario("data after the peer closed: bare RST from its FIN_WAIT2 mini-socket, EOF then EPIPE", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())

  t:eq(cli:write("request"), 7)
  t:eq(conn:read(7, { all = true, timeout = 1 }), "request")
  conn:close() -- everything read: a FIN
  cap:expect({ C = cli, S = conn }, [[
    ...
    S > C  [F.]   seq 1 ack 8
    C > S  [.]    ack 2
  ]])
  t:eq(#h:sockets{ state = "FIN_WAIT2" }, 1, "the server's end, a timewait mini-socket")

  t:eq(cli:write("again"), 5) -- accepted by the client's kernel
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 ack 1 len 7
    S > C  [.]    ack 8
    S > C  [F.]   seq 1 ack 8
    C > S  [.]    ack 2
    C > S  [P.]   seq 8 ack 2 len 5
    S > C  [R]    seq 2 win 0   reason TCP_TIMEWAIT_SOCKET
    no more packets within 0.2 s
  ]])
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))
  t:fails_with("EPIPE", cli:write("more"))
  t:fails_with("EPIPE", cli:write("more"))
  t:eq(cli:info().state, "CLOSE", "the client's socket")
  t:eq(#h:sockets{ state = "FIN_WAIT2" }, 0, "the mini-socket is gone")
  t:eq(#h:sockets{ state = "TIME_WAIT" }, 0, "TIME_WAIT sockets")
end)
