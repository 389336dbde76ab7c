-- What a connecting socket (SYN_SENT) does with a SYN-ACK it cannot accept.
--
-- The client's SYN goes to a port whose host drops everything that
-- arrives for it, so the client stays in SYN_SENT; the SYN-ACK is then
-- crafted in the server's name (h:send), exactly as the test needs it.
--
-- RFC 9293 3.10.7.3 (SYN-SENT STATE, first check the ACK bit): "If
-- SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset <SEQ=SEG.ACK><CTL=RST>
-- (unless the RST bit is set) and discard the segment." Linux does that
-- in tcp_rcv_synsent_state_process (reset_and_undo), reason
-- TCP_INVALID_ACK_SEQUENCE: a bare [R] whose seq is the SYN-ACK's ack. The
-- connection attempt goes on: the socket stays in SYN_SENT (the RST is
-- for the bogus segment, not the end of the connect), and since the
-- kernel takes the bogus SYN-ACK for the echo of an old connection, it
-- retransmits its SYN at once instead of waiting out the 1 s timeout.
--
-- RFC 7323 5.3 (PAWS) and the same function: a SYN-ACK whose timestamp
-- echo (TSecr) is not between the time the SYN was sent and now cannot be
-- an answer to this SYN: RST, reason TCP_RFC7323_PAWS, counter
-- PAWSActive. Its ack is right; only the timestamp is wrong.

local function syn_sent(t)
  local h = t.host
  local cap = assert(h:capture())
  local port = h:unused_port()
  local server = "127.0.0.1:" .. port
  h:drop{ dir = "in", dport = port } -- no one ever answers for the server
  local cli = assert(h:socket("inet"))
  t:fails_with("EINPROGRESS", cli:connect(server, { wait = false }))
  cap:expect({ C = cli, S = server }, "C > S  [S]    seq 0")
  t:eq(cli:info().state, "SYN_SENT")
  return h, cap, cli, server
end

scenario("SYN_SENT: a SYN-ACK acking what was never sent gets [R] seq = its ack (TCP_INVALID_ACK_SEQUENCE), the connect goes on", function(t)
  local h, cap, cli, server = syn_sent(t)
  local c0 = h:counters()
  t:ok(h:send{ src = server, dst = cli.addr, flags = "S.", seq = 5000, ack = "next+1000", win = 65535 })
  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1001
    C > S  [R]    seq 1001 len 0   reason TCP_INVALID_ACK_SEQUENCE
    C > S  [S]    seq 0   after 0 ± 0.1      -- the SYN again, at once
  ]])
  h:counters():since(c0):expect{ OutRsts = 1, TCPSynRetrans = 1, AttemptFails = 0, PAWSActive = 0 }
  t:eq(cli:info().state, "SYN_SENT", "the client's socket after the RST")
  t:eq(cli:error(), nil, "no error for the application")

  -- The right SYN-ACK still completes the handshake.
  t:ok(h:send{ src = server, dst = cli.addr, flags = "S.", seq = 5000, ack = "next", win = 65535 })
  t:eq(cli:connect(server, { timeout = 1 }), true)
  cap:expect({ C = cli, S = server }, [[
    ...
    S > C  [S.]   seq 0 ack 1
    C > S  [.]    seq 1 ack 1
    no more packets within 0.2 s
  ]])
  t:eq(cli:info().state, "ESTABLISHED")
end)

scenario("SYN_SENT: a SYN-ACK whose TSecr predates the SYN gets [R] (TCP_RFC7323_PAWS), PAWSActive", function(t)
  local h, cap, cli, server = syn_sent(t)
  local c0 = h:counters()
  t:ok(h:send{ src = server, dst = cli.addr, flags = "S.", seq = 5000, ack = "next", win = 65535,
    tsval = 1000, tsecr = "last-100000" })
  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
    C > S  [R]    seq 1 len 0   reason TCP_RFC7323_PAWS
    no more packets within 0.3 s
  ]])
  h:counters():since(c0):expect{ OutRsts = 1, PAWSActive = 1, TCPSynRetrans = 0 }
  t:eq(cli:info().state, "SYN_SENT", "the client's socket after the RST")
  t:eq(cli:error(), nil, "no error for the application")
end)
