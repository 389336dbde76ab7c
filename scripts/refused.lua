-- A SYN to a port where nothing listens.
--
-- The kernel finds no socket for the SYN and answers it with a RST at once:
-- the RST carries ACK (acking the SYN, ack = its seq + 1), its own seq is 0
-- and its window 0, since there was never a connection to give them values.
-- The application's connect() fails with ECONNREFUSED. The kernel's reason
-- for the RST (tcp:tcp_send_reset) is NO_SOCKET.

scenario("SYN to a port with no listener: RST, connect fails with ECONNREFUSED", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local port = h:unused_port()
  local cli = assert(h:socket("inet"))

  t:fails_with("ECONNREFUSED", cli:connect("127.0.0.1:" .. port))

  cap:expect({ C = cli, S = "127.0.0.1:" .. port }, [[
    C > S  [S]    seq 0
    S > C  [R.]   seq 0 ack 1 win 0 len 0   reason NO_SOCKET
    no more packets within 0.2 s
  ]])
  -- Nothing is left of the attempt on either side.
  t:eq(#h:sockets{ port = port }, 0, "sockets on the closed port")
end)

scenario("the same over IPv6", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local port = h:unused_port("inet6")
  local cli = assert(h:socket("inet6"))

  t:fails_with("ECONNREFUSED", cli:connect("[::1]:" .. port))

  cap:expect({ C = cli, S = "[::1]:" .. port }, [[
    C > S  [S]
    S > C  [R.]   seq 0 ack 1 win 0   reason NO_SOCKET
    no more packets within 0.2 s
  ]])
end)
