-- Scenarios for test_marks.lua, on the real kernel: host counters, marks
-- and the clock they share with packets, expectations that start at a
-- mark, a socket bound to every address it had, unused ports, sockets
-- without listeners, a link's drops across heal. The ones named "MUST
-- FAIL" must fail, each with its own message (test_marks.lua checks).

local function pair(h)
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept({ timeout = 2 }))
  return srv, cli, conn
end

local function linked(t)
  local a, b = t.host, t:add_host("B")
  local l = t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  return a, b, l
end

-- The counters that are settings, not counts (not 0 in a new host).
local SETTINGS = { RtoAlgorithm = true, RtoMin = true, RtoMax = true, MaxConn = true }

scenario("counters: close() with unread data moves the closing host's TCPAbortOnClose and OutRsts", function(t)
  local a, b = linked(t)
  for k, v in pairs(t:add_host("C"):counters()) do
    if not SETTINGS[k] then t:eq(v, 0, "a new host's " .. k) end
  end
  local srv = assert(b:listen("10.0.0.2:0"))
  local cli = assert(a:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept({ timeout = 2 }))
  assert(cli:write("0123456789"))
  t:eq(conn:read(5, { all = true, timeout = 2 }), "01234")
  local a0, b0 = a:counters(), b:counters()
  conn:close() -- 5 bytes unread: RST
  t:fails_with("ECONNRESET", cli:read(10, { timeout = 2 }))
  b:counters():since(b0):expect { TCPAbortOnClose = 1, OutRsts = 1, TCPAbortOnData = 0,
    TCPAbortOnLinger = 0, EstabResets = 1 }
  a:counters():since(a0):expect { TCPAbortOnClose = 0, OutRsts = 0, EstabResets = 1 }
end)

-- What a SO_LINGER {1,0} close moved on t.host, the peer on the same host.
local function linger0_moved(t)
  local h = t.host
  local _, cli, conn = pair(h)
  local c0 = h:counters()
  conn:set { linger = 0 }
  conn:close()
  t:fails_with("ECONNRESET", cli:read(1, { timeout = 2 }))
  return h:counters():since(c0)
end

scenario("counters: an SO_LINGER {1,0} close moves TCPAbortOnData, not TCPAbortOnLinger", function(t)
  local d = linger0_moved(t)
  d:expect { TCPAbortOnData = 1, TCPAbortOnLinger = 0, TCPAbortOnClose = 0, OutRsts = 1 }
  t:eq(d["TcpExt.TCPAbortOnData"], 1)
end)

scenario("MUST FAIL: counters that did not move as expected", function(t)
  linger0_moved(t):expect { TCPAbortOnLinger = 1 }
end)

-- RFC 5961: a SYN on an established connection is answered by a
-- challenge ACK, at most one per tcp_invalid_ratelimit (per socket).
scenario("counters: one challenge ACK, the SYNs after it within the rate limit are not answered", function(t)
  local a, b = linked(t)
  b:sysctl("net.ipv4.tcp_invalid_ratelimit", 5000) -- ms
  local cap = assert(a:capture())
  local srv = assert(b:listen("10.0.0.2:0"))
  local cli = assert(a:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept({ timeout = 2 }))
  a:crash()                             -- B's side stays ESTABLISHED
  a:reboot()
  a:drop { dir = "out", flags = "R" }   -- A's answers to the challenge die here
  local b0 = b:counters()
  local s = assert(a:socket())
  assert(s:set { reuseaddr = true })
  assert(s:bind(cli.addr))              -- the same four-tuple again
  t:mark("syn")
  t:fails_with("TIMEOUT", s:connect(srv.addr, { timeout = 1.5 }))
  b:counters():since(b0):expect { TCPSYNChallenge = 3, TCPChallengeACK = 1, TCPACKSkippedChallenge = 2 }
  cap:expect({ C = s, S = conn }, [[
    C > S  [S]   after syn 0 ± 0.05
    S > C  [.]   seq 1 ack 1            -- the challenge ACK, in the old connection's numbers
    C > S  [S]   after syn 0 ± 0.05     -- again at once, after the challenge ACK
    C > S  [S]   after syn 1 ± 0.2      -- its retransmission
    no more packets within 0.2 s        -- neither is answered
  ]], { from = "syn" })
end)

scenario("marks: t:now(), marks and the packets' t are one clock", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local before = t:mark("before")
  t:eq(t.marks.before, before)
  local _, cli, conn = pair(h)
  assert(cli:write("x"))
  t:eq(conn:read(1), "x")
  cap:expect({ C = cli, S = conn }, "...\nS > C [.] ack 2")
  local after = t:now()
  local pk = cap:packets()
  t:ok(#pk >= 5, "packets")
  for i, p in ipairs(pk) do
    t:ok(p.t >= before and p.t <= after,
      string.format("packet %d at %.6f, between the mark %.6f and now %.6f", i, p.t, before, after))
  end
  t:eq(t:mark("later", 1.5), 1.5, "an explicit time")
  t:eq(t.marks.later, 1.5)
  t:mark("before") -- marking again moves the mark
  t:ok(t.marks.before >= after, "the mark moved")
  local ok1, e1 = pcall(t.mark, t, "1st")
  t:ok(not ok1 and tostring(e1):find("must be a word that starts with a letter", 1, true), tostring(e1))
end)

scenario("marks: after MARK times the SYN and its retransmission from the connect", function(t)
  local a, b, l = linked(t)
  local cap = assert(a:capture())
  l:cut()
  local s = assert(a:socket())
  local dst = "10.0.0.2:" .. b:unused_port()
  t:mark("connect")
  t:fails_with("TIMEOUT", s:connect(dst, { timeout = 1.4 }))
  cap:expect({ C = s, S = dst }, [[
    C > S  [S]   seq 0   after connect 0 ± 0.05
    C > S  [S]   seq 0   after connect 1.0 ± 0.2   -- the initial RTO: 1 s
  ]])
end)

scenario("MUST FAIL: a packet off its mark's time", function(t)
  local h = t.host
  local cap = assert(h:capture())
  t:mark("late", t:now() + 1)
  local _, cli, conn = pair(h)
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]   after late 0 ± 0.1
  ]])
end)

scenario("MUST FAIL: an unknown mark is an error of its expectation line", function(t)
  local h = t.host
  local cap = assert(h:capture())
  t:mark("close")
  local _, cli, conn = pair(h)
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]  after clsoe 0
  ]])
end)

scenario("MUST FAIL: from names a mark that was never set", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local _, cli, conn = pair(h)
  cap:expect({ C = cli, S = conn }, "C > S [S]", { from = "nope" })
end)

scenario("from: an expectation starts at a mark, numbers stay the connection's", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local _, cli, conn = pair(h)
  assert(cli:write("one"))
  t:eq(conn:read(3, { all = true }), "one")
  cap:expect({ C = cli, S = conn }, "...\nS > C [.] ack 4")
  t:mark("second")
  assert(cli:write("two"))
  t:eq(conn:read(3, { all = true }), "two")
  cap:expect({ C = cli, S = conn }, [[
    C > S  [P.]  seq 4:7 ack 1   after second 0 ± 0.05
    S > C  [.]   ack 7
  ]], { from = "second" })
  -- a time works as well as a mark
  cap:expect({ C = cli, S = conn }, "C > S [P.] seq 4:7", { from = t.marks.second })
end)

scenario("one socket, refused twice: its name stands for both connections", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local dst = "127.0.0.1:" .. h:unused_port()
  local s = assert(h:socket())
  t:fails_with("ECONNREFUSED", s:connect(dst, { timeout = 2 }))
  -- The kernel's answer to connect() again on a socket whose attempt
  -- failed: ECONNABORTED, with no packet; the call after that tries anew.
  t:fails_with("ECONNABORTED", s:connect(dst, { timeout = 2 }))
  t:fails_with("ECONNREFUSED", s:connect(dst, { timeout = 2 }))
  t:eq(#s.addrs, 2, "a port for each attempt: " .. table.concat(s.addrs, " "))
  t:ok(s.addrs[1] ~= s.addrs[2], "two ports")
  cap:expect({ C = s, S = dst }, [[
    C > S  [S]   seq 0
    S > C  [R.]  seq 0 ack 1
    C > S  [S]   seq 0            -- numbers are per connection
    S > C  [R.]  seq 0 ack 1
    no more packets within 0.1 s
  ]])
end)

scenario("unused_port: never a port handed out before, nor one in use", function(t)
  local h, b = t.host, t:add_host("B")
  local srv = assert(h:listen("127.0.0.1:0"))
  local busy = tonumber(srv.addr:match(":(%d+)$"))
  local seen = {}
  t:eq(h:unused_port() % 2, 1, "an odd port first (connect() takes even ones for its own end)")
  for i = 1, 150 do
    local host = i % 2 == 0 and h or b -- one scenario, one set of ports
    local p = host:unused_port(i % 3 == 0 and "inet6" or nil)
    t:ok(not seen[p], "port " .. p .. " handed out twice")
    if host == h then t:ok(p ~= busy, "the listener's port") end
    seen[p] = true
  end
  local ok1, e1 = pcall(h.unused_port, h, "unix")
  t:ok(not ok1 and tostring(e1):find('family must be "inet" or "inet6"', 1, true), tostring(e1))
end)

scenario("sockets: listeners = false leaves the listener out", function(t)
  local h = t.host
  local srv = pair(h)
  local port = tonumber(srv.addr:match(":(%d+)$"))
  local all = h:sockets { port = port }
  t:eq(#all, 3, "listener, client, accepted")
  local conns = h:sockets { port = port, listeners = false }
  t:eq(#conns, 2)
  for _, s in ipairs(conns) do t:eq(s.state, "ESTABLISHED") end
  t:eq(#h:sockets { state = "LISTEN", listeners = false }, 0)
end)

scenario("MUST FAIL: an unknown TCP state lists the states", function(t)
  t.host:sockets { state = "ESTABLISHD" }
end)

scenario("link:dropped() keeps what a cut dropped across heal", function(t)
  local a, b, l = linked(t)
  local dst = "10.0.0.2:" .. b:unused_port()
  l:cut()
  t:fails_with("TIMEOUT", a:connect(dst, { timeout = 0.2 }))
  local n = l:dropped()
  t:ok(n >= 1, "the SYN was dropped: " .. n)
  l:heal()
  -- (>=: A's own IPv6 chatter on the new link, router and neighbour
  -- solicitations, may have been dropped too meanwhile)
  local kept = l:dropped()
  t:ok(kept >= n, string.format("after heal: %d, before: %d", kept, n))
  t:fails_with("ECONNREFUSED", a:connect(dst, { timeout = 2 }))
  t:eq(l:dropped(), kept, "nothing dropped while healed")
  l:cut()
  t:fails_with("TIMEOUT", a:connect(dst, { timeout = 0.2 }))
  t:ok(l:dropped() > kept, "a second cut adds to it")
end)

scenario("MUST FAIL: a socket without an address yet cannot stand for an endpoint", function(t)
  local cap = assert(t.host:capture())
  local s = assert(t.host:socket())
  cap:expect({ C = s, S = "127.0.0.1:1" }, "C > S [S]") -- never bound nor connected
end)

-- The capture's queue, in the kernel: 256 KiB hold three of lo's 64 KiB
-- segments. One send() of 4 MiB, with buffers that let it all go out at
-- once, puts some sixty of them on the wire before anything reads the
-- capture.
scenario("MUST FAIL: a capture that dropped packets cannot check an expectation", function(t)
  local h = t.host
  local cap = assert(h:capture { buffer = 256 * 1024 })
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  assert(conn:set { rcvbuf = 4 * 1024 * 1024 })
  assert(cli:set { sndbuf = 4 * 1024 * 1024 })
  assert(cli:write(string.rep("x", 4 * 1024 * 1024), { wait = false }))
  t:ok(cap:stats().dropped > 0, "the kernel counted drops")
  cap:expect({ C = cli, S = srv.addr }, "C > S [S]") -- lost packets: no verdict
end)

-- lo taken down under the capture (by ip(8), in the host's namespace):
-- the capture stops there, and says why, rather than look like a quiet
-- wire.
scenario("MUST FAIL: a capture whose interface went down cannot check an expectation", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  assert(h:spawn({ "ip", "link", "set", "lo", "down" })):wait()
  t:eq(cap:stats().failure, "capture on host:lo failed: the interface went down")
  cap:expect({ C = cli, S = srv.addr }, "C > S [S]") -- stopped: no verdict
end)

scenario("a queue large enough loses nothing of a burst", function(t)
  local h = t.host
  local cap = assert(h:capture { buffer = 32 * 1024 * 1024 })
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  local size, got = 1024 * 1024, 0
  assert(cli:write(string.rep("x", size)))          -- one burst, nothing read meanwhile
  while got < size do got = got + #assert(conn:read(size)) end
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]
    C > S  [.]
  ]])
  t:eq(cap:stats().dropped, 0, "packets dropped")
  -- Every byte the client sent is in the capture: its segments (some
  -- may be retransmitted) cover [0, size) of its sequence space.
  local isn, spans = nil, {}
  for _, p in ipairs(cap:packets()) do
    if p.src == cli.addr then
      isn = isn or p.seq -- its SYN
      if p.len > 0 then spans[#spans + 1] = { (p.seq - isn - 1) % (1 << 32), p.len } end
    end
  end
  table.sort(spans, function(a, b) return a[1] < b[1] end)
  local covered = 0
  for _, sp in ipairs(spans) do
    if sp[1] <= covered then covered = math.max(covered, sp[1] + sp[2]) end
  end
  t:eq(covered, size, "the client's bytes covered without a gap")
end)

scenario("MUST FAIL: a capture buffer out of range", function(t)
  t.host:capture { buffer = 4096 }
end)
