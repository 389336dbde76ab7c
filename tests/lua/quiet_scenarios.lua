-- The quiet period proven, not waited out, run by test_quiet.lua. The
-- scenarios that must pass end their `no more packets within T` as soon as
-- nothing more can come; each "MUST FAIL" one has a packet that comes late
-- (another actor's segment, a retransmission, a keepalive probe), which
-- the proof must not hide.

local function refused(t)
  local h = t.host
  local cap = assert(h:capture())
  local port = h:unused_port()
  local S = "127.0.0.1:" .. port
  local cli = assert(h:socket())
  t:fails_with("ECONNREFUSED", cli:connect(S))
  return h, cap, cli, S
end

scenario("nothing more can come after a refused connect: a 1 s quiet period ends at once", function(t)
  local h, cap, cli, S = refused(t)
  local t0 = t:now()
  cap:expect({ C = cli, S = S }, [[
    C > S  [S]
    S > C  [R.]   ack 1
    no more packets within 1 s
  ]])
  t:ok(t:now() - t0 < 0.5, "proven quiet before the 1 s ran out: " .. (t:now() - t0) .. " s")
end)

scenario("after SO_LINGER {1,0}: the connection is gone, the quiet period ends at once", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  conn:set{ linger = 0 }
  conn:close()
  t:fails_with("ECONNRESET", cli:read(1, { timeout = 1 }))
  local t0 = t:now()
  cap:expect({ C = cli, S = conn }, [[
    ...
    S > C  [R.]
    no more packets within 1 s
  ]])
  t:ok(t:now() - t0 < 0.5, "proven quiet before the 1 s ran out: " .. (t:now() - t0) .. " s")
end)

scenario("an established connection that received data may owe a delayed ACK: the period is waited out", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  t:eq(cli:write("x"), 1)
  t:eq(conn:read(1), "x")
  local t0 = t:now()
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]
    C > S  [.]
    C > S  [P.]   len 1
    S > C  [.]    ack 2
    no more packets within 0.3 s
  ]])
  t:ok(t:now() - t0 >= 0.29, "waited the whole period: " .. (t:now() - t0) .. " s")
end)

scenario("an idle connection after its handshake, no timer armed: the quiet period ends at once", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  local t0 = t:now()
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]
    C > S  [.]
    no more packets within 1 s
  ]])
  t:ok(t:now() - t0 < 0.5, "proven quiet before the 1 s ran out: " .. (t:now() - t0) .. " s")
end)

scenario("MUST FAIL: another actor sends a segment later", function(t)
  local h, cap, cli, S = refused(t)
  local C = cli.addr
  t:go(function()
    t:sleep(0.1)
    h:send{ src = C, dst = S, flags = "S", seq = 1 }
  end)
  cap:expect({ C = cli, S = S }, [[
    C > S  [S]
    S > C  [R.]   ack 1
    no more packets within 0.4 s
  ]])
end)

scenario("MUST FAIL: a packet the capture already holds when the period starts", function(t)
  local h, cap, cli, S = refused(t)
  h:send{ src = cli.addr, dst = S, flags = "S", seq = 1 }
  t:sleep(0.15) -- everything is quiet again by now; the segment is in the capture
  cap:expect({ C = cli, S = S }, [[
    C > S  [S]
    S > C  [R.]   ack 1
    no more packets within 1 s
  ]])
end)

scenario("MUST FAIL: a retransmission into a cut link", function(t)
  local a, b = t.host, t:add_host("B")
  local l = t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  local cap = assert(a:capture())
  local srv = assert(b:listen("10.0.0.2:0"))
  local cli = assert(a:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept())
  l:cut()
  t:eq(cli:write("lost"), 4)
  cap:expect({ C = cli, S = conn }, [[
    ...
    C > S  [P.]   len 4
    no more packets within 1 s
  ]])
end)

scenario("MUST FAIL: a keepalive probe", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr, { keepalive = { idle = 1, interval = 1, count = 3 } }))
  local conn = assert(srv:accept())
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]
    C > S  [.]
    no more packets within 1.5 s
  ]])
end)
