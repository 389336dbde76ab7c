-- A RST, and a late segment, arriving at a TIME_WAIT socket;
-- net.ipv4.tcp_rfc1337 0 and 1.
--
-- The client closes first (active close), the server closes after it: the
-- client's end waits in TIME_WAIT (60 s on Linux) so that old segments of
-- the connection die before the address pair is used again. The server's
-- side then disappears (its listener closed too), and segments in its name
-- are crafted (h:send) with exactly the numbers TIME_WAIT expects.
--
-- RFC 1337 ("TIME-WAIT Assassination Hazards"): a RST accepted in
-- TIME_WAIT ends it early, and an old duplicate segment may then corrupt a
-- new incarnation of the connection. Linux (tcp_timewait_state_process)
-- accepts a RST whose seq is exactly rcv_nxt and, with tcp_rfc1337 0 (the
-- default), kills the TIME_WAIT socket ("TIME_WAIT assassination"), saying
-- nothing; with tcp_rfc1337 1 it ignores the RST (RFC 1337's fix), and
-- the TIME_WAIT socket stays. Neither answers a RST.
--
-- A late data segment is answered by a TIME_WAIT socket, with either
-- setting, with a duplicate ACK of what it had (seq 2 ack 2), never with a
-- RST: the RST for data after close comes from the FIN_WAIT2 mini-socket
-- (scripts/data_after_close.lua, TCP_TIMEWAIT_SOCKET), not from TIME_WAIT.

local function time_wait(t, rfc1337)
  local h = t.host
  t:eq(h:sysctl("net.ipv4.tcp_rfc1337", rfc1337), tostring(rfc1337))
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  local client, server = cli.addr, conn.addr
  cli:close()
  t:fails_with("EOF", conn:read(1, { timeout = 1 }))
  conn:close()
  srv:close() -- nothing of the server's is left: the crafted side is quiet
  cap:expect({ C = client, S = server }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [F.]   seq 1 ack 1
    ...                               -- the server's ACK of it, alone or on its FIN
    S > C  [F.]   seq 1 ack 2
    C > S  [.]    seq 2 ack 2
  ]])
  t:eq(#h:sockets{ state = "TIME_WAIT" }, 1, "the client's TIME_WAIT")
  return h, cap, client, server
end

scenario("RST into TIME_WAIT, tcp_rfc1337 0 (default): TIME_WAIT is assassinated, nothing answers", function(t)
  local h, cap, client, server = time_wait(t, 0)
  local c0 = h:counters()
  t:ok(h:send{ src = server, dst = client, flags = "R", seq = "next" })
  cap:expect({ C = client, S = server }, [[
    ...
    C > S  [.]    seq 2 ack 2
    S > C  [R]    seq 2
    no more packets within 0.3 s
  ]])
  h:counters():since(c0):expect{ InSegs = 1, OutSegs = 0, OutRsts = 0 }
  t:eq(#h:sockets{ state = "TIME_WAIT" }, 0, "TIME_WAIT sockets after the RST")
end)

scenario("RST into TIME_WAIT, tcp_rfc1337 1: the RST is ignored, TIME_WAIT stays", function(t)
  local h, cap, client, server = time_wait(t, 1)
  local c0 = h:counters()
  t:ok(h:send{ src = server, dst = client, flags = "R", seq = "next" })
  cap:expect({ C = client, S = server }, [[
    ...
    C > S  [.]    seq 2 ack 2
    S > C  [R]    seq 2
    no more packets within 0.3 s
  ]])
  h:counters():since(c0):expect{ InSegs = 1, OutSegs = 0, OutRsts = 0 }
  t:eq(#h:sockets{ state = "TIME_WAIT" }, 1, "TIME_WAIT sockets after the RST")
end)

for _, rfc1337 in ipairs { 0, 1 } do
  scenario("late data into TIME_WAIT, tcp_rfc1337 " .. rfc1337 .. ": a duplicate ACK, no RST, TIME_WAIT stays", function(t)
    local h, cap, client, server = time_wait(t, rfc1337)
    local c0 = h:counters()
    t:ok(h:send{ src = server, dst = client, flags = "P.", seq = "next", ack = "next", payload = "late" })
    cap:expect({ C = client, S = server }, [[
      ...
      C > S  [.]    seq 2 ack 2
      S > C  [P.]   seq 2 ack 2 len 4
      C > S  [.]    seq 2 ack 2 len 0    -- what it had, not the data
      no more packets within 0.3 s
    ]])
    h:counters():since(c0):expect{ InSegs = 1, OutSegs = 1, OutRsts = 0 }
    t:eq(#h:sockets{ state = "TIME_WAIT" }, 1, "TIME_WAIT sockets after the segment")
  end)
end
