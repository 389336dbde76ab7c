-- "none" needs the kernels' own count: a RST is "none" (no kernel made
-- it) only when every RST the scenario's kernels counted as sent
-- (Tcp.OutRsts over its hosts) has its tcp_send_reset event.
--
-- Here one kernel RST has no event: C answers a SYN from port 1001 to its
-- closed port 1000, and neither port is in the scenario's slice, so the
-- reader's program drops its event as another scenario's. Then LB
-- crafts a RST into its connection with C (h:send, a raw socket): no
-- kernel announced it, but one kernel RST of the scenario went
-- unannounced too, so "none" cannot be told from that one's reason.

-- The crafted RST into C's connection with LB, and what C's capture
-- holds after it; unannounced: LB's SYN from 1001 to C's closed port 1000
-- first.
local function crafted_reset(t, unannounced)
  local c, lb = t.host, t:add_host("LB")
  t:link(c, lb, { a = "10.0.1.1/24", b = "10.0.1.254/24" })
  local cap = assert(c:capture())
  if unannounced then
    t:fails_with("ECONNREFUSED", lb:connect("10.0.1.1:1000", { bind = "10.0.1.254:1001", timeout = 2 }))
  end
  -- The crafted one, from LB's socket to C's, at the sequence C expects.
  local srv = assert(lb:listen("10.0.1.254:0"))
  local cli = assert(c:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept())
  lb:send{ to = cli, flags = "R", seq = "next" }
  t:fails_with("ECONNRESET", cli:read(1, { timeout = 2 }))
  -- What the kernels counted: C's RST to LB, if it was made, and no other.
  t:eq(c:counters()["Tcp.OutRsts"] + lb:counters()["Tcp.OutRsts"], unannounced and 1 or 0,
    "RSTs the kernels sent")
  return cap, cli, conn
end

-- C's connection with LB on C's wire: the handshake and the crafted RST.
local CONNECTION = [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    S > C  [R]    seq 1   reason none
    no more packets within 0.2 s
]]

scenario("a RST with no event while a kernel RST went unannounced: reason none is unchecked", function(t)
  local cap, cli, conn = crafted_reset(t, true)
  cap:expect({ C = cli, S = conn, L = "10.0.1.254:1001", K = "10.0.1.1:1000" }, [[
    L > K  [S]
    K > L  [R.]   ack 1
]] .. CONNECTION)
end)

-- The same RST when every kernel RST was announced (there was none): none.
scenario("a RST with no event, every kernel RST announced: reason none", function(t)
  local cap, cli, conn = crafted_reset(t, false)
  cap:expect({ C = cli, S = conn }, CONNECTION)
end)
