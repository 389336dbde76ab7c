-- Crafted segments (h:send) on the real kernel, run by test_craft.lua:
-- RFC 5961's three RSTs, a SYN from an address no socket owns (with and
-- without the rule that keeps the sending host quiet), options and marks,
-- and the errors of a bad request.

local function pair(t)
  local cap = assert(t.host:capture())
  local srv = assert(t.host:listen("127.0.0.1:0"))
  local cli = assert(t.host:connect(srv.addr))
  local conn = assert(srv:accept())
  assert(cli:write("hi"))
  t:eq(conn:read(2), "hi")
  return cap, cli, conn
end

-- RFC 5961 3.2: a RST whose seq is exactly rcv_nxt resets; one elsewhere
-- in the window gets a challenge ACK and the connection lives.
scenario("RFC 5961: in-window RST gets a challenge ACK, the exact one resets", function(t)
  local cap, cli, conn = pair(t)
  t:ok(t.host:send{ to = conn, flags = "R", seq = "next+1000" })
  cap:expect({ C = cli, S = conn }, [[
    ...
    S > C  [.]    ack 3
    C > S  [R]    seq 1003
    S > C  [.]    seq 1 ack 3          -- the challenge ACK
  ]])
  t:eq(conn:info().state, "ESTABLISHED")
  t:ok(t.host:send{ to = conn, flags = "R", seq = "next" })
  t:fails_with("ECONNRESET", conn:read(1, { timeout = 1 }))
  cap:expect({ C = cli, S = conn }, [[
    ...
    C > S  [R]    seq 1003
    S > C  [.]    seq 1 ack 3
    C > S  [R]    seq 3
    no more packets within 0.2 s
  ]])
  local marks = {}
  for _, p in ipairs(cap:packets()) do marks[#marks + 1] = p.injected and "i" or "k" end
  t:eq(table.concat(marks), "kkkkkiki", "crafted (i) and the kernel's (k) packets")
end)

-- RFC 5961 3.2: a RST outside the window is dropped without a word.
scenario("RFC 5961: a RST outside the window is ignored", function(t)
  local cap, cli, conn = pair(t)
  t:ok(t.host:send{ to = conn, flags = "R", seq = "next+100000000" })
  cap:expect({ C = cli, S = conn }, [[
    ...
    C > S  [R]    seq 100000003
    no more packets within 0.2 s
  ]])
  t:eq(conn:info().state, "ESTABLISHED")
  t:eq(cli:write("ok"), 2)
  t:eq(conn:read(2, { timeout = 1 }), "ok")
end)

-- A SYN from an address no socket owns, to a listener: the SYN-ACK comes
-- back; with the quiet rule the sending host says nothing (the listener
-- retransmits its SYN-ACK), without it the host's kernel answers it with
-- a RST of its own.
scenario("a crafted SYN from nobody's port: quiet by default, a RST without", function(t)
  local cap = assert(t.host:capture())
  local srv = assert(t.host:listen("127.0.0.1:0"))
  local port = t.host:unused_port()
  local from = "127.0.0.1:" .. port
  t:ok(t.host:send{ src = from, dst = srv.addr, flags = "S", seq = 1000, win = 1024, mss = 1460 })
  cap:expect({ X = from, S = srv.addr }, [[
    X > S  [S]    seq 0 mss 1460
    S > X  [S.]   ack 1
    no more packets within 0.3 s
  ]])
  local other = "127.0.0.1:" .. t.host:unused_port()
  t:ok(t.host:send{ src = other, dst = srv.addr, flags = "S", seq = 5000, quiet = false })
  cap:expect({ X = other, S = srv.addr }, [[
    X > S  [S]    seq 0
    S > X  [S.]   ack 1
    X > S  [R]    seq 1             -- the host's kernel: no socket for this
  ]])
end)

scenario("IPv6, options and payload as asked", function(t)
  local cap = assert(t.host:capture())
  local a, b = "[::1]:" .. t.host:unused_port("inet6"), "[::1]:" .. t.host:unused_port("inet6")
  t:ok(t.host:send{ src = a, dst = b, flags = "P.", seq = 7, ack = 9, win = 77, tsval = 123,
    tsecr = 45, sack = { { 100, 200 } }, payload = "abc" })
  t:eq(cap.c:wait(1, 1), "ready")
  local p = cap:packets()[1]
  t:eq(p.src, a)
  t:eq(p.dst, b)
  t:eq(p.seq, 7)
  t:eq(p.ack, 9)
  t:eq(p.win, 77)
  t:eq(p.len, 3)
  t:eq(p.tsval, 123)
  t:eq(p.tsecr, 45)
  t:eq(p.sack[1][1], 100)
  t:eq(p.flags, 0x18)
  t:ok(p.injected, "marked injected")
end)

scenario("bad requests say what is wrong", function(t)
  local function err(spec)
    local ok, e = pcall(t.host.send, t.host, spec)
    t:ok(not ok, "refused")
    return tostring(e)
  end
  t:ok(err{ src = "127.0.0.1:1", dst = "127.0.0.1:2", flags = "X" }:find("unknown flag letter 'X'", 1, true))
  t:ok(err{ src = "127.0.0.1:1", dst = "127.0.0.1:2", seq = "next" }:find("needs the connection's packets", 1, true))
  t:ok(err{ src = "127.0.0.1:1", dst = "127.0.0.1:2", seq = "nxt+1" }:find('"next[+-N]"', 1, true))
  t:ok(err{ src = "127.0.0.1:1", dst = "[::1]:2" }:find("send: src and dst must both be IPv4 or both IPv6", 1, true))
  t:ok(err{ dst = "127.0.0.1:2" }:find("give src and dst", 1, true))
  t:ok(err{ src = "127.0.0.1:1", dst = "127.0.0.1:2", wscale = 15 }:find("wscale", 1, true))
  t:ok(err{ src = "127.0.0.1:1", dst = "127.0.0.1:2", color = 1 }:find("unknown option 'color'", 1, true))
end)
