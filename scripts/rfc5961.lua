-- RFC 5961: blind in-window attacks, and how Linux answers a RST or a SYN
-- it did not expect on an established connection.
--
-- A RST resets a connection only when its sequence number is exactly the
-- next one expected (rcv_nxt). One elsewhere in the receive window gets a
-- "challenge ACK" (section 3.2): a plain ACK telling the true numbers, so
-- that a real peer that lost its state can answer it with an exact RST,
-- while a blind attacker cannot. One outside the window is dropped without
-- a word (RFC 793 already said so). A SYN on an established connection
-- gets a challenge ACK too (section 4.2), instead of a reset. Challenge ACKs
-- are rate-limited per socket (net.ipv4.tcp_invalid_ratelimit, 500 ms by
-- default): within the limit further ones are suppressed and counted as
-- TCPACKSkippedChallenge.
--
-- The RSTs and SYNs here are crafted (h:send) in the client's name, with
-- numbers relative to the live connection; the server's kernel sends no
-- RST at all (t:resets() is empty).

local function connected(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  t:eq(cli:write("hi"), 2)
  t:eq(conn:read(2), "hi")
  return h, cap, cli, conn
end

local HANDSHAKE = [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]    ack 1
    C > S  [P.]   seq 1 ack 1 len 2
    S > C  [.]    ack 3
]]

scenario("RFC 5961 3.2: an in-window RST gets a challenge ACK, only the exact one resets", function(t)
  local h, cap, cli, conn = connected(t)
  local c0 = h:counters()
  t:ok(h:send{ to = conn, flags = "R", seq = "next+1000" })   -- inside the window
  cap:expect({ C = cli, S = conn }, HANDSHAKE .. [[
    C > S  [R]    seq 1003 len 0
    S > C  [.]    seq 1 ack 3          -- the challenge ACK: the true numbers
  ]])
  t:eq(conn:info().state, "ESTABLISHED", "the server's connection after the inexact RST")
  t:ok(h:send{ to = conn, flags = "R", seq = "next" })        -- exactly rcv_nxt
  t:fails_with("ECONNRESET", conn:read(1, { timeout = 1 }))
  cap:expect({ C = cli, S = conn }, HANDSHAKE .. [[
    C > S  [R]    seq 1003 len 0
    S > C  [.]    seq 1 ack 3
    C > S  [R]    seq 3 len 0
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ TCPChallengeACK = 1, EstabResets = 1, OutRsts = 0 }
  if t:resets_checked() then t:eq(#t:resets(), 0, "RSTs sent by a kernel") end
end)

scenario("RFC 5961 3.2: a RST outside the window is dropped without a word", function(t)
  local h, cap, cli, conn = connected(t)
  local c0 = h:counters()
  t:ok(h:send{ to = conn, flags = "R", seq = "next+100000000" })
  cap:expect({ C = cli, S = conn }, HANDSHAKE .. [[
    C > S  [R]    seq 100000003 len 0
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ TCPChallengeACK = 0, EstabResets = 0, InSegs = 1 }
  t:eq(conn:info().state, "ESTABLISHED")
  t:eq(cli:write("ok"), 2)                          -- and it still carries data
  t:eq(conn:read(2, { timeout = 1 }), "ok")
end)

scenario("RFC 5961 4.2: a SYN on an established connection gets a challenge ACK", function(t)
  local h, cap, cli, conn = connected(t)
  local c0 = h:counters()
  t:ok(h:send{ as = cli, flags = "S", seq = "next+5" })
  cap:expect({ C = cli, S = conn }, HANDSHAKE .. [[
    C > S  [S]    seq 8
    S > C  [.]    seq 1 ack 3
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ TCPSYNChallenge = 1, TCPChallengeACK = 1, EstabResets = 0 }
  t:eq(conn:info().state, "ESTABLISHED")
end)

scenario("challenge ACKs are rate-limited per socket: the second within the limit is suppressed", function(t)
  local h, cap, cli, conn = connected(t)
  h:sysctl("net.ipv4.tcp_invalid_ratelimit", 300)   -- ms
  local c0 = h:counters()
  t:ok(h:send{ to = conn, flags = "R", seq = "next+10" })
  t:ok(h:send{ to = conn, flags = "R", seq = "next+20" })   -- within 300 ms: no ACK
  t:sleep(0.45)
  t:ok(h:send{ to = conn, flags = "R", seq = "next+30" })   -- after it: an ACK again
  cap:expect({ C = cli, S = conn }, HANDSHAKE .. [[
    C > S  [R]    seq 13
    S > C  [.]    ack 3
    C > S  [R]    seq 23
    C > S  [R]    seq 33          after 0.45 ± 0.1
    S > C  [.]    ack 3
    no more packets within 0.2 s
  ]])
  h:counters():since(c0):expect{ TCPChallengeACK = 2, TCPACKSkippedChallenge = 1 }
end)
