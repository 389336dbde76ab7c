-- The examples of doc/lua-api.md, each inside a complete scenario that
-- runs it on the real kernel (tests/lua/test_doc_examples.lua runs this
-- file through rstlab.run and checks that every scenario passes, and that
-- the "MUST FAIL" ones end the way the reference says). A scenario's name
-- says which section of the reference its lines come from; the lines
-- between "-- doc:" and "-- /doc" are the example as the reference shows
-- it (the rest sets it up or checks what the example only shows).

-- ---------------------------------------------------------------------
-- scenario() and t

scenario("t: scenario, t.host, t:eq, t:ok, t:fails_with", function(t)
  -- doc: t:eq
  local srv = assert(t.host:listen("127.0.0.1:0"))
  local cli = t:ok(t.host:connect(srv.addr), "connect")
  local conn = assert(srv:accept())
  t:eq(cli:write("hi"), 2, "bytes written")
  t:eq(conn:read(2), "hi")
  -- /doc
  -- doc: t:fails_with
  local port = t.host:unused_port()
  t:fails_with("ECONNREFUSED", t.host:connect("127.0.0.1:" .. port))
  -- /doc
  -- t:eq returns got, t:ok returns v
  t:eq(t:eq(5, 5), 5)
  t:eq(t:ok("x"), "x")
end, { timeout = 10 })

scenario("a whole scenario: a SYN to a closed port", function(t)
  local port = t.host:unused_port()
  t:fails_with("ECONNREFUSED", t.host:connect("127.0.0.1:" .. port))
end, { timeout = 5 })

scenario("MUST FAIL: t:eq", function(t)
  t:eq(2 + 1, 4, "sum")
end)

scenario("MUST FAIL: t:ok with the rest of a failed call", function(t)
  t:ok(nil, "connect", "ECONNREFUSED: connect: Connection refused", "ECONNREFUSED")
end)

scenario("MUST FAIL: t:fails_with on a success", function(t)
  t:fails_with("EOF", "data")
end)

scenario("MUST FAIL: t:fail", function(t)
  -- doc: t:fail
  local n = #t.host:sockets{ state = "TIME_WAIT" }
  if n ~= 1 then t:fail("expected 1 TIME_WAIT socket, found " .. n) end
  -- /doc
end)

scenario("MUST FAIL: t:skip", function(t)
  -- doc: t:skip
  if not os.execute("command -v rstlab-no-such-tool >/dev/null 2>&1") then
    t:skip("rstlab-no-such-tool is not installed")
  end
  -- /doc
  t:fail("not reached")
end)

scenario("t: go, sleep, now, mark, log, hold", function(t)
  -- doc: t:go
  local srv = assert(t.host:listen("127.0.0.1:0"))
  t:go(function()
    local c = assert(srv:accept())
    assert(c:write("from the other actor"))
  end)
  local cli = assert(t.host:connect(srv.addr))
  t:eq(cli:read(20, { all = true, timeout = 2 }), "from the other actor")
  -- /doc
  -- doc: t:sleep
  local t0 = t:now()
  t:sleep(0.1)
  t:ok(t:now() - t0 >= 0.099, "slept 0.1 s")   -- (t:now is real time, which NTP may slew)
  -- /doc
  -- doc: t:mark
  local at = t:mark("before")
  t:eq(t.marks.before, at)
  t:mark("origin", 0)                      -- a mark at the scenario's start
  t:eq(t.marks.origin, 0)
  -- /doc
  -- doc: t:log
  t:log("client", cli.addr, "server", srv.addr)   -- shown with -v or on failure
  -- /doc
  -- doc: t:hold
  local closed = false
  t:hold({ close = function() closed = true end })  -- closed when the scenario ends
  -- /doc
  t:eq(closed, false)
end, { timeout = 10 })

scenario("MUST FAIL: t:go: an actor's check after the function returned", function(t)
  t:go(function() t:sleep(0.5); t:fail("checked after the function returned") end)
end)

scenario("t: add_host, link, hosts", function(t)
  -- doc: t:add_host
  local a, b = t.host, t:add_host("B")
  local l = t:link(a, b, { a = { "10.0.0.1/24", "fd00::1/64" }, b = { "10.0.0.2/24", "fd00::2/64" } })
  t:eq(#t.hosts, 2)
  t:eq(b:addr(), "10.0.0.2")
  t:eq(b:addr("inet6"), "fd00::2")
  -- /doc
  t:eq(select(2, l:iface("b")), "eth0")
  local srv = assert(b:listen("[fd00::2]:0"))
  local cli = assert(a:connect(srv.addr, { timeout = 5 }))
  t:ok(cli.peer == srv.addr, "connected over IPv6 at once (no DAD wait)")
end, { timeout = 15 })

scenario("t: resets and resets_checked", function(t)
  local h = t.host
  -- doc: t:resets
  local cap = assert(h:capture())          -- the tracepoint is read from the first capture on
  local port = h:unused_port()
  t:fails_with("ECONNREFUSED", h:connect("127.0.0.1:" .. port))
  if t:resets_checked() then
    local rs = t:resets{ src = "127.0.0.1:" .. port }
    t:eq(#rs, 1)
    t:eq(rs[1].reason, "NO_SOCKET")
  end
  -- /doc
  local ok, why = t:resets_checked()
  if ok then
    local rs = t:resets{ reason = "NO_SOCKET" }
    t:eq(rs[1].wire, true, "the capture holds the RST")
    t:eq(rs[1].dst:match("^127%.0%.0%.1:%d+$") ~= nil, true)
    t:eq(#t:resets{ reason = "TCP_STATE" }, 0)
  else
    t:eq(type(why), "string")
    t:eq(#t:resets(), 0)
  end
  t:ok(#cap:packets() >= 2)
end, { timeout = 10 })

-- ---------------------------------------------------------------------
-- Host

scenario("h: listen, connect, socket, unused_port", function(t)
  local h = t.host
  -- doc: h:listen
  local srv = assert(h:listen("127.0.0.1:0", { backlog = 4, reuseaddr = true }))
  t:ok(srv.addr:match("^127%.0%.0%.1:%d+$"), "a port of the slice")
  t:eq(srv:get("reuseaddr"), true)
  -- /doc
  -- doc: h:connect
  local cli = assert(h:connect(srv.addr, { timeout = 1, nodelay = true, bind = "127.0.0.2:0" }))
  t:eq(cli.addr:match("^127%.0%.0%.2:"), "127.0.0.2:")
  -- /doc
  -- doc: h:socket
  local s = assert(h:socket("inet6"))
  local port = h:unused_port("inet6")
  t:fails_with("ECONNREFUSED", s:connect("[::1]:" .. port))
  t:eq(s:info().state, "CLOSE")            -- the socket is still there to look at
  -- /doc
  -- a listener taken already
  local _, msg, code = h:listen(srv.addr)
  t:eq(code, "EADDRINUSE")
  t:ok(msg:match("^EADDRINUSE: "), "message starts with the code", msg)
  -- blocking sockets
  local b = assert(h:socket({ blocking = true }))
  t:fails_with("ECONNREFUSED", b:connect("127.0.0.1:" .. h:unused_port()))
  -- misuse raises
  t:ok(not pcall(h.listen, h, "127.0.0.1:99999"), "invalid port raises")
  t:ok(not pcall(h.socket, h, "unix"), "a bad family raises")
  local ok, e = pcall(h.connect, h, srv.addr, { lingr = 0 })
  t:ok(not ok and e:find("unknown socket option 'lingr'", 1, true), "unknown option raises", e)
end, { timeout = 10 })

scenario("h: sockets", function(t)
  local h = t.host
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  -- doc: h:sockets
  local ls = h:sockets{ state = "LISTEN" }
  t:eq(#ls, 1)
  t:eq(ls[1].src, srv.addr)
  t:eq(#h:sockets{ state = "ESTABLISHED" }, 2)   -- both ends of cli's connection
  -- /doc
  local cap = assert(h:capture())
  cli:close()                                -- active close: the client ends in TIME_WAIT
  t:fails_with("EOF", conn:read(10))
  conn:close()
  cap:expect({ C = cli, S = conn }, "C > S [F.]\n...\nS > C [F.]\nC > S [.]")
  local tw = h:sockets{ state = "TIME_WAIT" }
  t:eq(#tw, 1)
  t:eq(tw[1].src, cli.addrs[1])
  t:eq(#h:sockets{ states = { "LISTEN" } }, 1)
  t:eq(#h:sockets{ listeners = false, port = tonumber(srv.addr:match(":(%d+)$")) }, 1)
  t:ok(not pcall(h.sockets, h, { state = "TIMEWAIT" }), "an unknown state raises")
end, { timeout = 10 })

scenario("h: counters", function(t)
  local h = t.host
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  assert(cli:write("0123456789"))
  t:eq(conn:read(5, { all = true }), "01234")
  -- doc: h:counters
  local c0 = h:counters()
  conn:close()                               -- 5 bytes unread: RST
  local d = h:counters():since(c0)
  d:expect{ TCPAbortOnClose = 1, ["Tcp.OutRsts"] = 1, TCPAbortOnLinger = 0 }
  t:log(d)                                   -- "CurrEstab -1, EstabResets +1, ..."
  -- /doc
  t:ok(tostring(d):find("TCPAbortOnClose +1", 1, true), "tostring lists what moved", tostring(d))
  t:eq(d.TCPAbortOnData, 0, "a counter that did not move reads 0")
  t:ok(not pcall(function() return d.TCPAbortOnClos end), "a typo raises")
  t:ok(h:counters()["TcpExt.TCPAbortOnClose"] >= 1)
end, { timeout = 10 })

scenario("h: addr, sysctl, route", function(t)
  local a, b, r = t.host, t:add_host("B"), t:add_host("R")
  -- doc: h:route
  t:link(a, r, { a = "10.0.1.1/24", b = "10.0.1.254/24" })
  t:link(r, b, { a = "10.0.2.254/24", b = "10.0.2.1/24" })
  r:sysctl("net.ipv4.ip_forward", 1)
  a:route("10.0.2.0/24", "10.0.1.254")
  b:route("default", "10.0.2.254")
  local srv = assert(b:listen(b:addr() .. ":0"))
  assert(a:connect(srv.addr, { timeout = 5 }))
  -- /doc
  -- doc: h:sysctl
  t:eq(b:sysctl("net.ipv4.tcp_syn_retries", 2), "2")
  t:eq(b:sysctl("net.ipv4.tcp_syn_retries"), "2")
  t:eq(a:sysctl("net.ipv4.tcp_syn_retries") ~= nil, true)   -- other hosts keep theirs
  -- /doc
  t:eq(r:sysctl("net.ipv4.ip_forward"), "1")
  local ok, e = pcall(a.sysctl, a, "kernel.hostname")
  t:ok(not ok and e:find("sysctl on host host", 1, true), "a sysctl that is not per namespace raises", e)
  t:eq(a:addr("inet6"), nil, "no IPv6 address on a's links")
end, { timeout = 20 })

scenario("h: drop, rule:hits, rule:remove", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  -- doc: h:drop
  local rule = h:drop{ dir = "out", flags = "=S", nth = 1 }   -- the first SYN only
  local cli = assert(h:connect(srv.addr, { timeout = 5 }))  -- the kernel sends it again ~1 s later
  t:eq(rule:hits(), 1)
  rule:remove()
  -- /doc
  t:eq(rule:hits(), 1, "hits stay readable after remove")
  rule:remove()                              -- idempotent
  cap:expect({ C = cli, S = srv }, [[
    C > S  [S]
    S > C  [S.]
  ]])
  t:eq(#cap:packets() >= 3, true)
  -- the first SYN never reached the capture (dropped before the interface)
  local syns = 0
  for _, p in ipairs(cap:packets()) do if p.flags == 0x02 and p.src == cli.addr then syns = syns + 1 end end
  t:eq(syns, 1)
  t:ok(not pcall(h.drop, h, { dir = "up" }), "a bad dir raises")
end, { timeout = 10 })

scenario("h: nft", function(t)
  local h = t.host
  local srv = assert(h:listen("127.0.0.1:0"))
  local port = srv.addr:match(":(%d+)$")
  -- doc: h:nft
  h:nft("add rule inet rstlab prerouting tcp dport " .. port .. " counter drop")
  t:fails_with("TIMEOUT", h:connect(srv.addr, { timeout = 0.3 }))   -- every SYN dropped
  -- /doc
  t:fails_with("EAGAIN", srv:accept({ wait = false }))
end, { timeout = 10 })

scenario("h: destroy", function(t)
  local h = t.host
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  -- doc: h:destroy
  t:eq(h:destroy(conn), 1)                   -- [R.] to the client, reason TCP_STATE
  t:fails_with("ECONNRESET", cli:read(10, { timeout = 2 }))
  t:fails_with("ECONNABORTED", conn:write("x"))
  -- /doc
  t:eq(h:destroy{ src = "127.0.0.1:1" }, 0)
  t:ok(not pcall(h.destroy, h, {}), "nothing named raises")
end, { timeout = 10 })

scenario("h: crash and reboot", function(t)
  local a, b = t.host, t:add_host("B")
  t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  local cap = assert(a:capture())
  local srv = assert(b:listen("10.0.0.2:0"))
  local cli = assert(a:connect(srv.addr))
  -- doc: h:crash
  b:crash()                                  -- silent: nothing reaches the wire
  t:eq(srv:closed(), true)
  t:ok(not pcall(b.socket, b), "no sockets on a host that is down")
  b:reboot()
  assert(cli:write("hello?"))
  t:fails_with("ECONNRESET", cli:read(10, { timeout = 2 }))   -- [R] from B, NO_SOCKET
  -- /doc
  cap:expect({ C = cli, S = srv.addrs }, [[
    ...
    C > S  [P.]  len 6
    S > C  [R]   reason NO_SOCKET
  ]])
  t:ok(not pcall(b.reboot, b), "reboot of a host that is up raises")
  if t:resets_checked() then
    local crashed = t:resets{ src = srv.addrs[1] }
    t:ok(#crashed >= 1 and crashed[1].suppressed == "the crash of B", "the crash's RST is suppressed")
    t:eq(crashed[1].wire, false)
  end
end, { timeout = 10 })

scenario("h: send", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  -- doc: h:send
  assert(h:send{ to = conn, flags = "R", seq = "next+1000" })   -- in the window: a challenge ACK
  cap:expect({ C = cli, S = conn }, [[
    ...
    C > S  [R]    seq 1001
    S > C  [.]    ack 1
  ]])
  assert(h:send{ to = conn, flags = "R", seq = "next" })        -- exact: resets
  t:fails_with("ECONNRESET", conn:read(1, { timeout = 2 }))
  -- /doc
  t:eq(cap:packets()[4].injected, true)
  t:ok(not pcall(h.send, h, { flags = "R" }), "no addresses raises")
end, { timeout = 10 })

scenario("h: spawn, wait_listen, process", function(t)
  local h = t.host
  -- doc: h:spawn
  local p = assert(h:spawn({ "sh", "-c", "echo ready; read x; echo got $x >&2; exit 3" },
    { stdin = "ping\n", env = { LANG = "C" }, timeout = 10 }))
  t:eq(p:read_line(), "ready")
  t:eq(p:read_line("stderr", { timeout = 5 }), "got ping")
  local ok, how, n = p:wait()                -- nil, "exit", 3 (as os.execute)
  t:eq(how, "exit"); t:eq(n, 3)
  -- /doc
  t:eq(ok, nil)
  t:eq(select("#", p:wait()), 3)
  t:fails_with("EOF", p:read_line())
  t:eq(p:stdout(), "ready\n")
  t:eq(p:stderr(), "got ping\n")
  -- doc: p:wait
  local q = assert(h:spawn({ "sleep", "30" }))
  t:fails_with("TIMEOUT", q:wait{ timeout = 0.1 })
  q:kill("TERM")
  t:eq(select(2, q:wait()), "signal")         -- nil, "signal", 15
  -- /doc
  t:eq(select(3, q:wait()), 15)
  -- doc: h:spawn failure
  local none, msg, code = h:spawn({ "/nonexistent/prog" })
  t:eq(code, "ENOENT")
  -- /doc
  t:eq(none, nil)
  t:ok(msg:match("^ENOENT: "), "message", msg)
  t:ok(not pcall(h.spawn, h, "sh -c true"), "a string argv raises")
end, { timeout = 20 })

scenario("h: wait_listen and p:sockets, a program in an expectation", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local port = h:unused_port()
  -- doc: h:wait_listen
  local p = assert(h:spawn({ "python3", "-c", ([[
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", %d)); s.listen()
c, _ = s.accept(); c.sendall(b"hello"); c.close()]]):format(port) }, { timeout = 10 }))
  assert(h:wait_listen("127.0.0.1:" .. port, { timeout = 5 }))
  -- /doc
  local cli = assert(h:connect("127.0.0.1:" .. port))
  t:eq(cli:read(5, { all = true, timeout = 5 }), "hello")
  t:fails_with("EOF", cli:read(1, { timeout = 5 }))
  t:eq(select(3, p:wait{ timeout = 5 }), 0)
  -- doc: p in an expectation
  cap:expect({ C = cli, S = "127.0.0.1:" .. port }, [[
    C > S  [S]
    S > C  [S.]
    C > S  [.]
    S > C  [P.]  len 5
    ...
    S > C  [F.]
  ]])
  -- /doc
  t:fails_with("TIMEOUT", h:wait_listen(h:unused_port(), { timeout = 0.05 }))
end, { timeout = 20 })

scenario("p: sockets, kill, close", function(t)
  local h = t.host
  local srv = assert(h:listen("127.0.0.1:0"))
  -- doc: p:sockets
  local p = assert(h:spawn({ "python3", "-c",
    "import socket,sys,time; s=socket.create_connection(('127.0.0.1', int(sys.argv[1]))); time.sleep(30)",
    srv.addr:match(":(%d+)$") }))
  local conn = assert(srv:accept({ timeout = 10 }))
  local socks = assert(p:sockets())
  t:eq(#socks, 1)
  t:eq(socks[1].dst, srv.addr)
  t:eq(socks[1].state, "ESTABLISHED")
  -- /doc
  t:eq(socks[1].src, conn.peer)
  t:ok(math.type(p.pid) == "integer" and p.pid > 1, "p.pid")
  -- doc: p:close
  p:close()                                  -- the program and all it started end now
  t:fails_with("EOF", conn:read(1, { timeout = 5 }))   -- its kernel socket closed: FIN
  t:fails_with("ECLOSED", p:wait())
  -- /doc
  t:ok(not pcall(p.kill, p, "NOSUCHSIG"), "an unknown signal raises")
end, { timeout = 20 })

scenario("p: timeout", function(t)
  local p = assert(t.host:spawn({ "sleep", "30" }, { timeout = 0.2 }))
  local ok, how, n = p:wait()
  t:eq(ok, nil); t:eq(how, "signal"); t:eq(n, 9)
  t:eq(p.timed_out, true)
end, { timeout = 10 })

-- ---------------------------------------------------------------------
-- Socket

scenario("s: bind, listen, connect, accept (raw calls)", function(t)
  local h = t.host
  -- doc: s:bind
  local l = assert(h:socket())
  assert(l:bind("127.0.0.1:0"))
  assert(l:listen(16))
  t:fails_with("EAGAIN", l:accept({ wait = false }))        -- none pending
  -- /doc
  -- doc: s:connect
  local c = assert(h:socket())
  t:fails_with("EINPROGRESS", c:connect(l.addr, { wait = false }))
  local conn = assert(l:accept({ timeout = 2 }))
  assert(c:connect(l.addr))                  -- connect() again: 0 once the handshake is done
  t:fails_with("EISCONN", c:connect(l.addr, { wait = false }))
  -- /doc
  t:eq(conn.peer, c.addr)
  t:eq(#c.addrs, 1)
  -- doc: s.addrs
  local s = assert(h:socket())
  local port = h:unused_port()
  t:fails_with("ECONNREFUSED", s:connect("127.0.0.1:" .. port))
  t:fails_with("ECONNABORTED", s:connect("127.0.0.1:" .. port))  -- the kernel's answer, no packet
  t:fails_with("ECONNREFUSED", s:connect("127.0.0.1:" .. port))  -- a new SYN, from a new port
  t:eq(#s.addrs, 2)
  -- /doc
  t:ok(not pcall(l.listen, l, "16"), "a non-integer backlog raises")
end, { timeout = 10 })

scenario("s: read and write", function(t)
  local h = t.host
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  -- doc: s:read
  assert(cli:write("hello world"))
  t:eq(conn:read(5, { all = true }), "hello")
  t:eq(conn:pending(), 6)                    -- the rest stays in the kernel
  t:eq(conn:read(100), " world")
  t:fails_with("TIMEOUT", conn:read(1, { timeout = 0.1 }))
  t:fails_with("EAGAIN", conn:read(1, { wait = false }))
  -- /doc
  -- doc: EOF
  cli:shutdown("w")                          -- FIN
  t:fails_with("EOF", conn:read(10))
  t:fails_with("EOF", conn:read(10))         -- every time recv() returns 0
  -- /doc
  local srv2 = assert(h:listen("127.0.0.1:0"))
  local w = assert(h:connect(srv2.addr))
  local r = assert(srv2:accept())
  -- doc: s:write
  t:go(function() t:eq(#r:read(1000000, { all = true, timeout = 5 }), 1000000) end)
  t:eq(w:write(string.rep("x", 1000000), { timeout = 5 }), 1000000)  -- waits while the buffer is full
  -- /doc
  t:ok(not pcall(conn.read, conn, 0), "n = 0 raises")
  t:ok(not pcall(conn.write, conn, 42), "a number raises")
  local ok, e = pcall(conn.read, conn, 1, { timeot = 1 })
  t:ok(not ok and e:find("read: unknown option 'timeot'", 1, true), "unknown option", e)
end, { timeout = 10 })

scenario("s: write fails with EPIPE after a reset", function(t)
  local h = t.host
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  -- doc: one report per error
  conn:set{ linger = 0 }
  conn:close()                               -- [R.]
  t:fails_with("ECONNRESET", cli:read(10, { timeout = 2 }))
  t:fails_with("EOF", cli:read(10))          -- the reset was reported once
  t:fails_with("EPIPE", cli:write("x"))
  t:eq(cli:info().state, "CLOSE")
  -- /doc
  local n, msg, code, so_far = cli:write("more")
  t:eq(n, nil); t:eq(code, "EPIPE"); t:eq(so_far, 0)
  t:ok(msg:match("^EPIPE: "), "message", msg)
end, { timeout = 10 })

scenario("s: error, shutdown, disconnect", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  -- doc: s:disconnect
  assert(cli:disconnect())                   -- [R.], reason TCP_STATE
  t:eq(cli:error(), "ECONNRESET")            -- its own SO_ERROR; reading clears it
  t:eq(cli:error(), nil)
  t:fails_with("ECONNRESET", conn:read(1, { timeout = 2 }))
  -- /doc
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]
    C > S  [.]
    C > S  [R.]   reason TCP_STATE
  ]])
  -- doc: s:shutdown
  local srv2 = assert(h:listen("127.0.0.1:0"))
  local a = assert(h:connect(srv2.addr))
  local b = assert(srv2:accept())
  assert(a:shutdown("w"))
  t:fails_with("EOF", b:read(1))
  assert(b:write("still open the other way"))
  t:eq(a:read(5), "still")
  -- /doc
  t:ok(not pcall(a.shutdown, a, "x"), "a bad how raises")
end, { timeout = 10 })

scenario("s: close, closed, linger", function(t)
  local h = t.host
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  -- doc: s:close
  local ok, secs = conn:close()
  t:eq(ok, true)
  t:ok(secs >= 0 and secs < 1, "close() did not block", secs)
  t:eq(conn:close(), true)                   -- idempotent: no close() made
  t:eq(conn:closed(), true)
  -- /doc
  local e
  ok, e = pcall(conn.read, conn, 1)
  t:ok(not ok and e:find("closed socket", 1, true), "a closed socket raises", e)
  -- doc: s:set linger
  assert(cli:set{ linger = { true, 1 } })    -- SO_LINGER {1, 1}: close() may block up to 1 s
  local lg = cli:get("linger")
  t:eq(lg.on, true); t:eq(lg.secs, 1)
  t:eq(cli:close(), true)                    -- the FIN is acknowledged at once here
  -- /doc
end, { timeout = 10 })

scenario("s: set, get, info", function(t)
  local h = t.host
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  -- doc: s:set
  assert(cli:set{ keepalive = { idle = 5, interval = 2, count = 3 }, nodelay = true,
                  user_timeout = 1.5 })
  t:eq(cli:get("keepidle"), 5)
  t:eq(cli:get("keepalive"), true)
  t:eq(cli:get("user_timeout"), 1.5)
  -- /doc
  t:eq(cli:get("keepintvl"), 2); t:eq(cli:get("keepcnt"), 3)
  t:eq(cli:get("nodelay"), true)
  assert(cli:set{ linger2 = -1, ttl = 7 })
  t:eq(cli:get("linger2"), -1); t:eq(cli:get("ttl"), 7)
  t:eq(cli:get("linger").on, false)
  local ok, e = pcall(cli.set, cli, { linger = "x" })
  t:ok(not ok and e:find("option 'linger' takes seconds, false or {on, seconds}, got string", 1, true), e)
  ok, e = pcall(cli.get, cli, "lingr")
  t:ok(not ok and e:find("unknown socket option 'lingr' (known: linger,", 1, true), e)
  -- doc: s:info
  local i = cli:info()
  t:eq(i.state, "ESTABLISHED")
  t:ok(i.rtt < 1 and i.rto >= 0.2, "rtt and rto in seconds")
  -- /doc
  t:eq(math.type(i.snd_cwnd), "integer")
  t:eq(math.type(cli.fd), "integer")
end, { timeout = 10 })

-- ---------------------------------------------------------------------
-- Link

scenario("link: cut, heal, dropped, capture, iface", function(t)
  local a, b = t.host, t:add_host("B")
  local l = t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  local srv = assert(b:listen("10.0.0.2:0"))
  local cli = assert(a:connect(srv.addr))
  local conn = assert(srv:accept())
  -- doc: link:cut
  local bcap = assert(l:capture("b"))        -- B's end, eth0 in B
  l:cut{ dir = "a>b" }
  assert(cli:write("lost"))
  t:fails_with("TIMEOUT", conn:read(4, { timeout = 0.3 }))
  t:ok(l:dropped() >= 1, "the cut dropped the segment")
  l:heal()
  t:eq(conn:read(4, { timeout = 5 }), "lost")             -- the retransmission gets through
  -- /doc
  local h, ifname = l:iface(b)
  t:eq(h, b); t:eq(ifname, "eth0")
  t:ok(#bcap:packets() >= 2, "B's end saw the segment arrive (before the drop) and its retransmission")
  t:ok(not pcall(l.cut, l, { dir = "up" }), "a bad dir raises")
end, { timeout = 15 })

-- ---------------------------------------------------------------------
-- Capture

scenario("cap: expect, packets, ladder, write, add", function(t)
  local h = t.host
  -- doc: cap:expect
  local cap = assert(h:capture{ filter = "tcp" })
  local port = h:unused_port()
  local s = assert(h:socket())
  t:fails_with("ECONNREFUSED", s:connect("127.0.0.1:" .. port))
  cap:expect({ C = s, S = "127.0.0.1:" .. port }, [[
    C > S  [S]     seq 0
    S > C  [R.]    ack 1 win 0   -- reason NO_SOCKET when the tracepoint can be read
    no more packets within 1 s
  ]])
  -- /doc
  -- doc: cap:packets
  local pkts = cap:packets()
  t:eq(#pkts, 2)
  t:eq(pkts[2].flags, 0x14)                  -- RST|ACK
  t:ok(pkts[2].t >= 0 and pkts[2].t <= t:now(), "t on the clock of t:now()")
  -- /doc
  t:eq(pkts[1].src, s.addrs[1])
  -- doc: cap:ladder
  local text = cap:ladder({ C = s, S = "127.0.0.1:" .. port })
  t:ok(text:find("[R.]", 1, true), "a ladder")
  -- /doc
  -- doc: cap:write
  local path = os.tmpname()
  assert(cap:write(path))
  os.remove(path)
  -- /doc
  local ok, msg, code = cap:write("/nonexistent-rstlab-dir/x.pcap")
  t:eq(ok, nil)
  t:eq(code, "EPCAP", msg)
  -- doc: cap:add
  local b = t:add_host("B")
  t:link(h, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })   -- h's capture takes eth0 too
  local bcap = assert(b:capture{ iface = "lo" })
  bcap:add(b, "eth0")
  -- /doc
  local srv = assert(b:listen("10.0.0.2:0"))
  local cli = assert(h:connect(srv.addr))
  cap:expect({ C = cli, S = srv }, "C > S [S]\nS > C [S.]\nC > S [.]")
  bcap:expect({ C = cli, S = srv }, "C > S [S]\nS > C [S.]\nC > S [.]")
  cap:close()
  t:eq(#cap:packets() >= 5, true, "packets stay readable after close")
  local ok, e = pcall(cap.expect, cap, { C = cli }, "C > X [S]")
  t:ok(not ok and e:find("name 'X' is not bound", 1, true), "an unbound name raises", e)
end, { timeout = 15 })

scenario("cap: expect from a mark, after", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  -- doc: after MARK
  conn:set{ linger = 0 }
  t:mark("close"); conn:close()              -- mark before the call that sends
  cap:expect({ C = cli, S = conn }, [[
    S > C  [R.]   seq 1 ack 1 after close 0 ± 0.05
  ]], { from = "close" })
  -- /doc
  local ok, e = pcall(cap.expect, cap, { C = cli, S = conn }, "S > C [R.]", { from = "clsoe" })
  t:ok(not ok and e:find('from = "clsoe" is not a mark (marked so far: close)', 1, true), e)
end, { timeout = 10 })

scenario("MUST FAIL: cap:expect a line that does not match", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local port = h:unused_port()
  local s = assert(h:socket())
  t:fails_with("ECONNREFUSED", s:connect("127.0.0.1:" .. port))
  cap:expect({ C = s, S = "127.0.0.1:" .. port }, [[
    C > S  [S]
    S > C  [R.]   ack 2
  ]], { timeout = 0.5 })
end)

scenario("MUST FAIL: a bad expectation line", function(t)
  local cap = assert(t.host:capture())
  cap:expect({ C = "127.0.0.1:1", S = "127.0.0.1:2" }, [[
    C > S  [S]
    S > C  [X.]   ack 1
  ]])
end)
