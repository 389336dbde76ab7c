-- A reason is never borrowed: the server's RST dies in its own firewall
-- (h:drop{dir = "out"}), and a router then answers the client in the
-- server's name (reject with tcp reset). The client's capture holds one
-- RST from "S", made by no TCP stack; the only tcp_send_reset event with
-- those addresses is the one of the RST that never reached the wire.
--
-- A client C, a router R, a server S:
--   C 10.0.1.1 --- 10.0.1.254 R 10.0.2.254 --- 10.0.2.1 S

local function topology(t)
  local c, r, s = t.host, t:add_host("R"), t:add_host("S")
  t:link(c, r, { a = "10.0.1.1/24", b = "10.0.1.254/24" })
  t:link(r, s, { a = "10.0.2.254/24", b = "10.0.2.1/24" })
  r:sysctl("net.ipv4.ip_forward", 1)
  c:route("10.0.2.0/24", "10.0.1.254")
  s:route("default", "10.0.2.254")
  local cap = assert(c:capture())
  local srv = assert(s:listen("10.0.2.1:0"))
  local cli = assert(c:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept())
  return c, r, s, cap, srv, cli, conn
end

-- S resets (linger 0), the RST is dropped on its way out; C's next segment
-- meets R's reject. Then tell what C saw, what crossed C's wire, and which
-- RSTs the kernels announced.
local function reset_twice(t, gap)
  local c, r, s, cap, srv, cli, conn = topology(t)
  local dropped = s:drop{ dir = "out", flags = "R" }
  local port = tonumber(srv.addr:match(":(%d+)$"))
  assert(conn:set{ linger = 0 })
  conn:close()
  if gap > 0 then t:sleep(gap) end
  local firewall = r:drop{ dir = "fwd", dport = port, reset = true }
  t:eq(cli:write("x"), 1)
  t:fails_with("ECONNRESET", cli:read(1, { timeout = 2 }))
  t:eq(dropped:hits(), 1, "S's RSTs dropped on the way out")
  t:eq(firewall:hits(), 1, "C's segments R answered with a RST")
  -- The kernel announced S's RST, which never reached C's wire.
  local rs = t:resets{ src = conn.addr }
  if t:resets_checked() then
    t:eq(#rs, 1, "tcp_send_reset events from S")
    t:eq(rs[1].reason, "TCP_STATE")
    t:eq(rs[1].wire, false, "S's RST seen on a wire")
  end
  return cap, cli, conn
end

-- The firewall's RST comes at once: the dropped RST's event is near it,
-- and S's drop rule took a packet then: nothing can be proven, so the
-- clause is unchecked (never passed with TCP_STATE).
scenario("the firewall's RST right after a dropped one: the reason is unchecked, not borrowed", function(t)
  local cap, cli, conn = reset_twice(t, 0)
  cap:expect({ C = cli, S = conn }, [[
    ...
    C > S  [P.]   len 1
    S > C  [R]    reason TCP_STATE
  ]])
end)

-- With the events more than 2 s apart, the firewall's RST provably had
-- no event of its own: reason none.
scenario("the firewall's RST well after a dropped one: reason none", function(t)
  local cap, cli, conn = reset_twice(t, 2.2)
  cap:expect({ C = cli, S = conn }, [[
    ...
    C > S  [P.]   len 1
    S > C  [R]    reason none
  ]])
end, { timeout = 10 })
