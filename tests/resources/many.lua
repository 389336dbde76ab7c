-- Twenty scenarios that each hold every kind of object a scenario can
-- make: a capture (with the RST-reason BPF program behind it), IPv4 and
-- IPv6 connections, a RST with its reason checked, a TIME_WAIT socket; half
-- of them a second host (a network namespace), a veth link and an
-- nftables rule.
-- tests/suite/test_resources.sh runs them hundreds of times in one process.
for i = 1, 20 do
  scenario(string.format("resources %02d", i), function(t)
    local h = t.host
    local cap = assert(h:capture())
    local l = assert(h:listen(i % 2 == 0 and "127.0.0.1:0" or "[::1]:0"))
    local c = assert(h:connect(l.addr))
    local a = assert(l:accept())
    assert(c:write("ping"))
    t:eq(a:read(4), "ping")
    a:set{ linger = 0 }
    a:close()
    t:fails_with("ECONNRESET", c:read(1, { timeout = 1 }))
    cap:expect({ C = c, S = l }, [[
      C > S  [S]
      S > C  [S.]
      C > S  [.]
      C > S  [P.]  len 4
      S > C  [.]
      S > C  [R.]  reason TCP_STATE
    ]])
    -- an orderly close too, so a socket is left in TIME_WAIT
    local c2 = assert(h:connect(l.addr))
    local a2 = assert(l:accept())
    c2:close()
    t:fails_with("EOF", a2:read(1, { timeout = 1 }))
    a2:close()
    -- every other scenario: a second host, a veth link, an nftables rule
    if i % 2 == 0 then
      local b = t:add_host("B")
      t:link(h, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
      b:drop{ dir = "in", flags = "R" }
      local l3 = assert(b:listen("10.0.0.2:0"))
      assert(h:connect(l3.addr))
      assert(l3:accept())
    end
  end)
end
