-- A socket destroyed from outside, as `ss -K` does: sock_diag's
-- SOCK_DESTROY (CONFIG_INET_DIAG_DESTROY), used by administrators and by
-- tools that evict connections (a VPN client changing addresses, Android's
-- network switch).
--
-- The kernel aborts the connection (tcp_abort): an established socket
-- sends a RST ([R.] with its current seq and ack; reason TCP_STATE, the
-- state it was in: ESTABLISHED), its owner's next call fails with
-- ECONNABORTED (the error tcp_abort sets) and the one after that with
-- EPIPE, and the peer reads ECONNRESET, then EOF. The socket is gone from
-- the kernel's tables while its file descriptor is still open.

scenario("SOCK_DESTROY of an established socket: [R.], ECONNABORTED for its owner, ECONNRESET for the peer", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  t:eq(cli:write("hello"), 5)
  t:eq(conn:read(5), "hello")
  local c0 = h:counters()

  t:eq(h:destroy(conn), 1, "sockets destroyed")
  t:fails_with("ECONNABORTED", conn:read(1, { timeout = 0.5 }))
  t:fails_with("EPIPE", conn:write("x"))
  t:fails_with("ECONNRESET", cli:read(1, { timeout = 0.5 }))
  t:fails_with("EOF", cli:read(1, { timeout = 0.5 }))

  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 ack 1 len 5
    S > C  [.]    ack 6
    S > C  [R.]   seq 1 ack 6   reason TCP_STATE
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ OutRsts = 1, EstabResets = 2, TCPAbortOnData = 0, TCPAbortOnClose = 0 }
  t:eq(#h:sockets{ listeners = false }, 0, "TCP sockets left besides the listener")
  t:eq(conn:closed(), false, "the script's socket is still open: only the connection is gone")
end)

scenario("SOCK_DESTROY by address: the listener goes, its port refuses", function(t)
  local h = t.host
  local srv = assert(h:listen("127.0.0.1:0"))
  t:eq(h:destroy{ src = srv.addr }, 1, "sockets destroyed")
  t:eq(#h:sockets{ state = "LISTEN" }, 0, "listeners left")
  local cli = assert(h:socket())
  t:fails_with("ECONNREFUSED", cli:connect(srv.addr))
end)
