-- A scenario that holds a capture (and its tracing instance), a
-- connection, a second host with a link and an nftables rule, then gets
-- stuck inside one C call, where no Lua hook can interrupt it: the runner
-- must kill it at its timeout and clean up after it. It first writes its
-- pid to $RSTLAB_TEST_MARK.
scenario("stuck in a C call", function(t)
  local cap = assert(t.host:capture())
  local l = assert(t.host:listen("127.0.0.1:0"))
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
  -- four nested lazy repetitions over a million bytes: O(n^4) in C
  string.rep("a", 1000000):find("a-a-a-a-b")
end)
