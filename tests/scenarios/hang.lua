-- Fixture for tests/suite (the mixed suite): scenarios that never end.
--
-- With RSTLAB_TEST_FIFO set, "waits forever" first writes its process id
-- to that FIFO: the Ctrl-C test waits for that line instead of sleeping.

scenario("hang: waits forever", function(t)
  local fifo = os.getenv("RSTLAB_TEST_FIFO")
  if fifo then
    local f = assert(io.open(fifo, "w"))
    f:write(require("rstlab.core").pid(), "\n")
    f:close()
  end
  local h = t.host
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  cli:read(1) -- nothing is ever written
end)

scenario("hang: spins forever", function(t)
  -- Never yields: the scenario's own timer cannot fire, the runner kills it.
  while true do end
end)

scenario("hang: the script's timeout of 0.5 s wins", function(t)
  t:sleep(3600)
end, { timeout = 0.5 })
