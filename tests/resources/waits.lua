-- A scenario that holds a capture, a connection, a second host with a
-- link and an nftables rule, and then waits for a minute, for the runner
-- to be interrupted meanwhile. It writes its pid to $RSTLAB_TEST_MARK once
-- everything is open.
scenario("waits for a minute", function(t)
  local cap = assert(t.host:capture())
  local l = assert(t.host:listen("[::1]:0"))
  local c = assert(t.host:connect(l.addr))
  assert(l:accept())
  local b = t:add_host("B")
  t:link(t.host, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  b:drop{ dir = "in", flags = "R" }
  local mark = assert(os.getenv("RSTLAB_TEST_MARK"))
  local f = assert(io.open(mark .. ".tmp", "w"))
  f:write(require("rstlab.core").pid(), "\n")
  f:close()
  assert(os.rename(mark .. ".tmp", mark))
  t:sleep(60)
end, { timeout = 90 })
