-- The half-open connection: the server's machine reboots.
--
-- A client on host A and a server on host B have an established
-- connection. B crashes: it loses every connection it had and tells no one
-- (nothing it sends while going down reaches the wire). For A the
-- connection is still ESTABLISHED: it is half-open, and stays so as long
-- as A does not send. B comes back with the same address and no state.
--
-- When the client writes, B's kernel finds no socket for the segment and
-- answers with a RST. Because the segment carried an ACK, the RST takes its
-- sequence number from that ack and carries no ACK itself: [R], not [R.]
-- (RFC 9293, 3.10.7.1). The client's write had already succeeded (the data
-- was only queued); it is the next read that fails with ECONNRESET. The
-- kernel's reason for the RST is NO_SOCKET.

scenario("peer reboots: the client's next write meets a RST, its read fails with ECONNRESET", function(t)
  local a, b = t.host, t:add_host("B")
  t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  local cap = assert(a:capture())          -- A's side of the wire
  local srv = assert(b:listen("10.0.0.2:0"))
  local cli = assert(a:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept())

  t:eq(cli:write("hello"), 5)
  t:eq(conn:read(5), "hello")
  local server = conn.addr                 -- conn is gone after the crash

  b:crash()
  t:eq(#b:sockets(), 0, "TCP sockets left on B after the crash")
  t:eq(#a:sockets{ state = "ESTABLISHED" }, 1, "A's connection (half-open)")
  b:reboot()

  t:eq(cli:write("again"), 5, "the write is only queued: it succeeds")
  t:fails_with("ECONNRESET", cli:read(10, { timeout = 2 }))

  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
    C > S  [.]    ack 1
    C > S  [P.]   seq 1 ack 1 len 5
    S > C  [.]    ack 6
    C > S  [P.]   seq 6 ack 1 len 5       -- nothing from B's crash in between
    S > C  [R]    seq 1 len 0   reason NO_SOCKET
    no more packets within 0.2 s
  ]])
  t:eq(#a:sockets{ state = "ESTABLISHED" }, 0, "A's connections after the RST")
end)
