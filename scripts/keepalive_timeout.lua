-- Keepalive gives up on a peer that cannot be reached.
--
-- The client turns keepalive on: first probe after 1 s idle
-- (TCP_KEEPIDLE), then one every 1 s (TCP_KEEPINTVL), at most 2 unanswered
-- (TCP_KEEPCNT). Then the link to the server is cut: packets leave A but
-- never arrive, and nothing comes back.
--
-- A keepalive probe is an empty ACK whose sequence number is one below
-- what the peer expects (seq 0 here, relative), so that a live peer must
-- answer it with an ACK. Idle time counts from the last packet A received
-- (the handshake's SYN-ACK), so the first probe goes 1 s after the
-- handshake, the second 1 s later. When the timer fires again with 2
-- probes unanswered, Linux gives up: it sends a RST ([R.], the kernel's
-- reason TCP_KEEPALIVE_TIMEOUT) and the application's pending read fails
-- with ETIMEDOUT, a kernel timeout, not the script's. The RST is lost in
-- the cut too, so the server still believes the connection is open.

scenario("keepalive idle 1 s, interval 1 s, count 2, link cut: probes, RST, read fails with ETIMEDOUT", function(t)
  local a, b = t.host, t:add_host("B")
  local link = t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  local cap = assert(a:capture())
  local srv = assert(b:listen("10.0.0.2:0"))
  local cli = assert(a:connect(srv.addr, {
    timeout = 2, keepalive = { idle = 1, interval = 1, count = 2 } }))
  local conn = assert(srv:accept())

  link:cut()
  t:fails_with("ETIMEDOUT", cli:read(10, { timeout = 6 }))

  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
    C > S  [.]    seq 1 ack 1
    C > S  [.]    seq 0 ack 1 len 0   after 1.0 ± 0.2   -- probe 1: 1 s idle
    C > S  [.]    seq 0 ack 1 len 0   after 1.0 ± 0.2   -- probe 2: 1 s later
    C > S  [R.]   seq 1 ack 1 len 0   after 1.0 ± 0.2   reason TCP_KEEPALIVE_TIMEOUT
    no more packets within 0.5 s
  ]])
  -- B never saw the probes nor the RST: for it the connection is open.
  t:eq(#b:sockets{ state = "ESTABLISHED" }, 1, "B's connection")
  t:eq(#a:sockets{ state = "ESTABLISHED" }, 0, "A's connection")
  t:ok(link:dropped() >= 3, "the cut dropped the probes and the RST")
end)
