-- Scenarios that hold a bit of everything (a capture and its tracing
-- instance, a connection, a second host with a link and an nftables rule)
-- when the runner has to stop them from outside. Each writes its pid to
-- $RSTLAB_TEST_MARK once everything is open.

local function hold_everything(t, listen_addr)
  local cap = assert(t.host:capture())
  local l = assert(t.host:listen(listen_addr))
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
  return cap, c
end

-- Stuck inside one C call, where no Lua hook can interrupt it: the runner
-- must kill it at its timeout and clean up after it.
scenario("stuck in a C call", function(t)
  hold_everything(t, "127.0.0.1:0")
  -- four nested lazy repetitions over a million bytes: O(n^4) in C
  string.rep("a", 1000000):find("a-a-a-a-b")
end)

-- Waits for a minute, for the runner to be interrupted meanwhile.
scenario("waits for a minute", function(t)
  hold_everything(t, "[::1]:0")
  t:sleep(60)
end, { timeout = 90 })
