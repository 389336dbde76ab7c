-- The abortive close: SO_LINGER {1, 0}, then close().
--
-- With l_onoff = 1 and l_linger = 0, close() does not send a FIN and wait:
-- the kernel drops the connection at once and sends a RST. The peer's next
-- read fails with ECONNRESET (reported once: the read after it returns 0,
-- EOF), and neither side keeps a TIME_WAIT socket,
-- which is why people (mis)use it to avoid TIME_WAIT.
--
-- The kernel's reason: a linger-0 close goes through tcp_disconnect(),
-- which current kernels log as TCP_STATE. TCP_ABORT_ON_LINGER is another
-- path (close() of a socket already in FIN_WAIT2 with TCP_LINGER2 -1:
-- scripts/abort_on_linger.lua), not this one.

scenario("SO_LINGER {1,0} then close: RST instead of FIN, peer read fails with ECONNRESET", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())

  assert(cli:write("hello"))
  t:eq(conn:read(5), "hello")
  assert(conn:write("world"))
  t:eq(cli:read(5), "world")

  t:ok(conn:set{ linger = 0 })
  t:eq(conn:get("linger").secs, 0)
  conn:close()

  t:fails_with("ECONNRESET", cli:read(10, { timeout = 1 }))
  t:fails_with("EOF", cli:read(10, { timeout = 1 }))  -- what recv() returns next
  t:eq(cli:error(), nil, "SO_ERROR: the reset was reported to the read")

  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
    C > S  [.]    ack 1
    C > S  [P.]   seq 1 ack 1 len 5
    S > C  [.]    ack 6
    S > C  [P.]   seq 1 ack 6 len 5
    C > S  [.]    ack 6
    S > C  [R.]   seq 6 ack 6 len 0   reason TCP_STATE
    no more packets within 0.2 s
  ]])
  -- No FIN anywhere, and no TIME_WAIT on either side.
  t:eq(#h:sockets{ state = "TIME_WAIT" }, 0, "TIME_WAIT sockets")
end)
