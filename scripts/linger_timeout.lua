-- close() with SO_LINGER {1, N > 0} and data the peer never reads.
--
-- SO_LINGER {1, 2} asks close() to wait up to 2 s for the data to be
-- sent and acknowledged. Here the peer's receive window is closed (it never
-- reads; its buffer is small), so nothing can go: close() waits the whole
-- 2 s, then returns 0 (success: Linux does not report the lost data, and
-- it blocks even on a non-blocking socket). Then nothing changes on the
-- wire: no RST and no FIN (the FIN is queued behind the data); the kernel
-- keeps the connection as an orphan in FIN_WAIT1 with its data queued, and
-- goes on probing the zero window. The peer still sees an open, silent
-- connection. Contrast SO_LINGER {1, 0} (scripts/linger0.lua): a RST at
-- once.

scenario("SO_LINGER {1, 2} into a zero window: close() blocks 2 s and returns 0, no FIN, no RST, an orphan in FIN_WAIT1", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0", { rcvbuf = 4096 }))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  local chunk = string.rep("x", 65536)
  repeat -- fill the peer's window and our send buffer
    local n, _, code = cli:write(chunk, { wait = false })
  until not n and code == "EAGAIN"
  assert(cli:set{ linger = { 1, 2 } })
  local port = tonumber(cli.addr:match(":(%d+)$"))
  local c0 = h:counters()

  local ok, secs = cli:close()
  t:eq(ok, true, "close() returned 0")
  t:ok(secs >= 1.95 and secs < 2.5, "close() blocked for the linger time: " .. secs .. " s")
  t:sleep(0.3)
  local fin_or_rst = 0
  for _, p in ipairs(cap:packets()) do
    if p.sport == port and p.flags & 0x05 ~= 0 then fin_or_rst = fin_or_rst + 1 end
  end
  t:eq(fin_or_rst, 0, "FINs and RSTs from the lingering socket")
  local orphan = h:sockets{ state = "FIN_WAIT1", port = port }
  t:eq(#orphan, 1, "the orphan in FIN_WAIT1")
  t:ok(orphan[1].wqueue > 0, "with its data queued: " .. orphan[1].wqueue .. " bytes")
  t:eq(conn:info().state, "ESTABLISHED", "the peer's connection")
  h:counters():since(c0):expect{ OutRsts = 0, TCPAbortOnLinger = 0, TCPAbortOnClose = 0 }
end, { timeout = 10 })
