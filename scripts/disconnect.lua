-- connect(AF_UNSPEC): the kernel's tcp_disconnect() on a live connection.
--
-- A program can drop a TCP connection without closing its socket by
-- connecting it to an address of family AF_UNSPEC (s:disconnect()); the
-- socket is unconnected again and may connect anew. tcp_disconnect() sends
-- a RST in the states where the peer still expects something
-- (tcp_need_reset: ESTABLISHED, CLOSE_WAIT, FIN_WAIT1, FIN_WAIT2,
-- SYN_RECV), reason TCP_STATE, and sets the socket's own SO_ERROR to
-- ECONNRESET.
--
-- CLOSING and LAST_ACK are not among them: our FIN is out, so only its ACK
-- is missing. Unless the FIN, or data before it, has not been sent yet
-- (snd_nxt != write_seq): then the peer still expects bytes that will
-- never come, and the kernel resets with its own reason,
-- TCP_DISCONNECT_WITH_DATA ("the last check adjusts for discrepancy of
-- Linux wrt. RFC states"). Here the client shuts down its sending side
-- (server in CLOSE_WAIT) with a 4 KB receive buffer it never reads; the
-- server writes 10 KB (4 KB fit in the client's window, the rest waits
-- behind a zero window), shuts down its side (LAST_ACK, the FIN queued
-- behind the data) and disconnects. The RST's seq is the server's snd_nxt,
-- exactly what the client expects next, so it is accepted. The client
-- still reads the 4 KB it holds, then ECONNRESET, then EOF (the reset
-- was reported; recv() returns 0). The server's own socket reads ENOTCONN:
-- tcp_disconnect leaves it unconnected, not shut down.

local tcpflags = require "rstlab.tcpflags"

scenario("disconnect in LAST_ACK with data and FIN unsent: [R.] (TCP_DISCONNECT_WITH_DATA)", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr, { rcvbuf = 4096 }))
  local conn = assert(srv:accept())
  t:ok(cli:shutdown("w"))
  t:fails_with("EOF", conn:read(10, { timeout = 1 }))
  t:eq(conn:info().state, "CLOSE_WAIT")

  t:eq(conn:write(string.rep("x", 10000), { wait = false }), 10000, "taken by the server's kernel")
  cap:expect({ C = cli, S = conn }, "...\nC > S  [.]    seq 2 win 0")
  -- How much the client's window took before it closed (4 KB here; the
  -- kernel decides): the ack of its zero-window ACK.
  local iss, held
  for _, p in ipairs(cap:packets()) do
    if p.src == conn.addr and p.flags & tcpflags.SYN ~= 0 then iss = p.seq end
    if p.src == cli.addr and p.win == 0 then held = (p.ack - iss - 1) % 0x100000000 end
  end
  t:ok(held > 0 and held < 10000, "the client's window took part of the data: " .. held)
  t:ok(conn:shutdown("w"))
  t:eq(conn:info().state, "LAST_ACK")
  local mine = h:sockets{ state = "LAST_ACK" }
  t:eq(#mine, 1)
  t:eq(mine[1].wqueue, 10000 - held + 1, "unsent: the data behind the zero window, and the FIN")

  local c0 = h:counters()
  t:eq(conn:disconnect(), true)
  cap:expect({ C = cli, S = conn }, string.format([[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [F.]   seq 1 ack 1
    ...
    C > S  [.]    seq 2 ack %d win 0
    ...
    S > C  [R.]   seq %d ack 2 len 0   reason TCP_DISCONNECT_WITH_DATA
    no more packets within 0.2 s
  ]], held + 1, held + 1))
  h:counters():since(c0):expect{ OutRsts = 1, TCPAbortOnData = 0, TCPAbortOnClose = 0 }
  t:eq(conn:info().state, "CLOSE", "the server's socket, still open")
  t:eq(conn:closed(), false)
  t:eq(conn:error(), "ECONNRESET", "the server's own SO_ERROR")

  t:eq(#cli:read(held, { all = true, timeout = 1 }), held, "what the client holds is still read")
  t:fails_with("ECONNRESET", cli:read(10, { timeout = 1 }))
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))
  t:fails_with("ENOTCONN", conn:read(10, { wait = false }))
end)

scenario("disconnect in ESTABLISHED: [R.] (TCP_STATE), the peer's read fails with ECONNRESET", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  t:eq(cli:write("request"), 7)
  t:eq(conn:read(7, { all = true, timeout = 1 }), "request")
  local c0 = h:counters()
  t:eq(conn:disconnect(), true)
  t:fails_with("ECONNRESET", cli:read(10, { timeout = 1 }))
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 ack 1 len 7
    S > C  [.]    ack 8
    S > C  [R.]   seq 1 ack 8 len 0   reason TCP_STATE
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ OutRsts = 1, EstabResets = 2 }
  t:eq(conn:error(), "ECONNRESET", "the server's own SO_ERROR")
  t:fails_with("ENOTCONN", conn:read(10, { wait = false }))
  t:eq(#h:sockets{ states = { "FIN_WAIT2", "TIME_WAIT" } }, 0, "no FIN_WAIT2, no TIME_WAIT")
end)
