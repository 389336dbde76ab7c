-- TCP_USER_TIMEOUT against keepalive: two ways to give up on a dead peer,
-- and only one of them sends a RST.
--
-- RFC 5482 (the TCP User Timeout Option) and RFC 9293 3.10.8 (USER
-- TIMEOUT: "flush all queues, signal the user 'error: connection aborted
-- due to user timeout' [...], enter the CLOSED state"): the user timeout
-- bounds how long sent data may stay unacknowledged. Linux checks it in
-- the retransmission timer (tcp_write_timeout): the connection is dropped
-- with ETIMEDOUT and nothing is sent, no RST (tcp_write_err, no active
-- reset). The clock starts at the first retransmission of the data by the
-- timer, not at the write: here the tail loss probe goes 0.2 s after the
-- write, the first timeout retransmission 0.2 s later, and the user
-- timeout of 1 s ends the connection about 1.4 s after the write.
--
-- Keepalive ends an idle connection from another timer
-- (tcp_keepalive_timer), which does send a RST, reason
-- TCP_KEEPALIVE_TIMEOUT, before reporting ETIMEDOUT. With a user timeout
-- set, that timer gives up once the user timeout has passed since the last
-- segment received and one probe went unanswered, whatever TCP_KEEPCNT
-- says: with idle 1 s, interval 1 s, count 5 and a user timeout of 1 s, a
-- single probe, then the RST 1 s later. (Keepalive alone, count 2:
-- scripts/keepalive_timeout.lua.)
--
-- The link is cut both ways: the peer sees nothing and stays ESTABLISHED.

local function dead_peer(t, opts)
  local a, b = t.host, t:add_host("B")
  local link = t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  local cap = assert(a:capture())
  local srv = assert(b:listen("10.0.0.2:0"))
  opts.timeout = 2
  local cli = assert(a:connect(srv.addr, opts))
  local conn = assert(srv:accept())
  return a, b, link, cap, cli, conn
end

scenario("TCP_USER_TIMEOUT 1 s, data unacknowledged, link cut: retransmissions, then ETIMEDOUT and no RST", function(t)
  local a, b, link, cap, cli, conn = dead_peer(t, { user_timeout = 1 })
  link:cut()
  local c0 = a:counters()
  t:eq(cli:write("hello"), 5)
  t:mark("write")
  t:fails_with("ETIMEDOUT", cli:read(10, { timeout = 5 }))
  local took = t:now() - t.marks.write
  t:ok(took > 1.2 and took < 1.8, string.format("ETIMEDOUT %.2f s after the write (1 s from the first retransmission)", took))
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 ack 1 len 5   after write 0 ± 0.05
    C > S  [P.]   seq 1 ack 1 len 5   after 0.2 ± 0.1   -- tail loss probe
    C > S  [P.]   seq 1 ack 1 len 5   after 0.2 ± 0.1   -- retransmission timeout
    C > S  [P.]   seq 1 ack 1 len 5   after 0.4 ± 0.15  -- backed off
    no more packets within 1.0 s                        -- no RST, also after ETIMEDOUT
  ]])
  t:eq(#cap:packets(), 7, "packets on the wire")
  a:counters():since(c0):expect{ TCPAbortOnTimeout = 1, OutRsts = 0, TCPKeepAlive = 0 }
  if t:resets_checked() then t:eq(#t:resets{ src = cli.addr }, 0, "RSTs the client's kernel announced") end
  t:eq(cli:info().state, "CLOSE", "the client's socket")
  t:eq(#b:sockets{ state = "ESTABLISHED" }, 1, "B's connection")
end)

scenario("keepalive and TCP_USER_TIMEOUT 1 s, idle, link cut: one probe, then [R.] (TCP_KEEPALIVE_TIMEOUT) and ETIMEDOUT", function(t)
  local a, b, link, cap, cli, conn = dead_peer(t, { user_timeout = 1,
    keepalive = { idle = 1, interval = 1, count = 5 } })
  link:cut()
  local c0 = a:counters()
  t:fails_with("ETIMEDOUT", cli:read(10, { timeout = 5 }))
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]    seq 1 ack 1
    C > S  [.]    seq 0 ack 1 len 0   after 1.0 ± 0.2   -- the one probe
    C > S  [R.]   seq 1 ack 1 len 0   after 1.0 ± 0.2   reason TCP_KEEPALIVE_TIMEOUT
    no more packets within 0.5 s
  ]])
  a:counters():since(c0):expect{ TCPKeepAlive = 1, TCPAbortOnTimeout = 1, OutRsts = 1 }
  t:eq(cli:info().state, "CLOSE", "the client's socket")
  t:eq(#b:sockets{ state = "ESTABLISHED" }, 1, "B's connection")
end)
