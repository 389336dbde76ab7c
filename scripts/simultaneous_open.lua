-- A bad ACK in SYN_RECEIVED, on a full socket: the simultaneous open.
--
-- A connecting socket that receives a bare SYN (no ACK) from the address
-- it connects to takes it for a crossing SYN (RFC 9293 3.5, figure 8,
-- "simultaneous initiation"): it goes from SYN_SENT to SYN_RECEIVED and
-- answers with a SYN-ACK of its own SYN (same ISS). Here the server's host
-- drops everything for the server's port and the server's side is crafted
-- (h:send), so every segment the client sees is the one the test needs.
--
-- RFC 9293 3.10.7.4 (SYN-RECEIVED STATE, fifth check the ACK field): "If
-- SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state [...]. If the
-- segment acknowledgment is not acceptable, form a reset segment
-- <SEQ=SEG.ACK><CTL=RST> and send it." Linux does this in
-- tcp_rcv_state_process, step 5: tcp_ack() refuses the ACK and the socket,
-- in SYN_RECV, answers with one bare RST whose seq is the segment's ack:
--   - an ack below SND.UNA (the ISS): tcp_ack's "too old" branch, reason
--     TCP_TOO_OLD_ACK;
--   - an ack beyond SND.NXT (ISS + 1): reason TCP_ACK_UNSENT_DATA.
-- Neither ends the connection: the socket stays in SYN_RECV, and the right
-- ACK completes the open (connect() returns success).
--
-- The third reason of that branch, TCP_OLD_ACK (an ack below SND.UNA but
-- within the peer's window of it), cannot be had on this kernel: tcp_ack
-- takes "within the window" as min(max_window, bytes_acked) below
-- SND.UNA (the 2023 fix "do not accept ACK for bytes we never sent"), and
-- a socket in SYN_RECV has had nothing acknowledged (bytes_acked 0: a
-- socket leaves SYN_RECV on the first ACK that advances SND.UNA), so every
-- ack below SND.UNA is "too old". The last scenario shows what an ack of
-- exactly SND.UNA does instead: Linux accepts it (tcp_ack returns success
-- for an ack that advances nothing) and the socket is ESTABLISHED,
-- although its SYN was never acknowledged; RFC 9293 would reset.

local function syn_recv(t)
  local h = t.host
  local cap = assert(h:capture())
  local port = h:unused_port()
  local server = "127.0.0.1:" .. port
  h:drop{ dir = "in", dport = port } -- the server's own kernel never answers
  local cli = assert(h:socket("inet"))
  t:fails_with("EINPROGRESS", cli:connect(server, { wait = false }))
  cap:expect({ C = cli, S = server }, "C > S  [S]")
  -- crafted numbers are absolute: a crafted segment is not the server's own
  -- packet, so "next" cannot be read from the capture for that direction
  t:ok(h:send{ src = server, dst = cli.addr, flags = "S", seq = 5000, win = 65535, mss = 1460 })
  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0
    S > C  [S]    seq 0
    C > S  [S.]   seq 0 ack 1     -- the same ISS, now acking the crossing SYN
  ]])
  t:eq(cli:info().state, "SYN_RECV")
  return h, cap, cli, server
end

-- The right ACK completes the open: connect() succeeds.
local function complete(t, h, cap, cli, server)
  t:ok(h:send{ src = server, dst = cli.addr, flags = ".", seq = 5001, ack = "next", win = 65535 })
  t:eq(cli:connect(server, { timeout = 1 }), true)
  t:eq(cli:info().state, "ESTABLISHED")
end

scenario("simultaneous open: an ACK below the ISS gets [R] seq = its ack (TCP_TOO_OLD_ACK), the socket stays in SYN_RECV", function(t)
  local h, cap, cli, server = syn_recv(t)
  local c0 = h:counters()
  t:ok(h:send{ src = server, dst = cli.addr, flags = ".", seq = 5001, ack = "next-2", win = 65535 })
  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0
    S > C  [S]    seq 0
    C > S  [S.]   seq 0 ack 1
    S > C  [.]    seq 1 ack 4294967295      -- ISS - 1
    C > S  [R]    seq 4294967295 len 0   reason TCP_TOO_OLD_ACK
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ OutRsts = 1, CurrEstab = 0, AttemptFails = 0, TCPChallengeACK = 0 }
  t:eq(cli:info().state, "SYN_RECV", "the client's socket after the RST")
  t:eq(cli:error(), nil, "no error for the application")
  complete(t, h, cap, cli, server)
end)

scenario("simultaneous open: an ACK beyond SND.NXT gets [R] seq = its ack (TCP_ACK_UNSENT_DATA), the socket stays in SYN_RECV", function(t)
  local h, cap, cli, server = syn_recv(t)
  local c0 = h:counters()
  t:ok(h:send{ src = server, dst = cli.addr, flags = ".", seq = 5001, ack = "next+1000", win = 65535 })
  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0
    S > C  [S]    seq 0
    C > S  [S.]   seq 0 ack 1
    S > C  [.]    seq 1 ack 1001
    C > S  [R]    seq 1001 len 0   reason TCP_ACK_UNSENT_DATA
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ OutRsts = 1, CurrEstab = 0, AttemptFails = 0, TCPChallengeACK = 0 }
  t:eq(cli:info().state, "SYN_RECV", "the client's socket after the RST")
  t:eq(cli:error(), nil, "no error for the application")
  complete(t, h, cap, cli, server)
end)

scenario("simultaneous open: an ACK of exactly the ISS (acking nothing) is taken, no RST: ESTABLISHED with the SYN unacked", function(t)
  local h, cap, cli, server = syn_recv(t)
  local c0 = h:counters()
  t:ok(h:send{ src = server, dst = cli.addr, flags = ".", seq = 5001, ack = "next-1", win = 65535 })
  t:eq(cli:connect(server, { timeout = 1 }), true)
  cap:expect({ C = cli, S = server }, [[
    C > S  [S]    seq 0
    S > C  [S]    seq 0
    C > S  [S.]   seq 0 ack 1
    S > C  [.]    seq 1 ack 0
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ OutRsts = 0, CurrEstab = 1 }
  t:eq(cli:info().state, "ESTABLISHED")
  t:eq(cli:info().unacked, 1, "segments in flight: its SYN, never acknowledged")
end)
