-- close() with unread data in the receive buffer.
--
-- RFC 2525 (section 2.17) and RFC 1122 (4.2.2.13): a close() that leaves
-- received data unread must send a RST, not a FIN, so the peer learns the
-- data was lost. The RST acks everything the kernel received (10 bytes),
-- not what the application read (5): the ack is about the kernel's
-- receive queue, not the application. The peer's read fails with
-- ECONNRESET; the kernel logs the reason TCP_ABORT_ON_CLOSE.

scenario("close with 5 of 10 bytes unread: RST acking all 10, peer read fails with ECONNRESET", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())

  t:eq(cli:write("0123456789"), 10)
  -- Wait until all 10 bytes sit in the server's receive queue.
  cap:expect({ C = cli, S = conn }, [[
    ...
    C > S  [P.]   seq 1 len 10
    S > C  [.]    ack 11
  ]])
  t:eq(conn:read(5), "01234")
  t:eq(conn:pending(), 5, "bytes left unread in the kernel")
  conn:close()

  t:fails_with("ECONNRESET", cli:read(10, { timeout = 1 }))

  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 len 10
    S > C  [.]    ack 11
    S > C  [R.]   seq 1 ack 11 len 0   reason TCP_ABORT_ON_CLOSE
    no more packets within 0.2 s
  ]])
  t:eq(#h:sockets{ state = "TIME_WAIT" }, 0, "TIME_WAIT sockets")
end)
