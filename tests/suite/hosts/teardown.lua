-- Scenarios for tests/suite/test_hosts.sh: each builds hosts, links, rules
-- and connections (some left half-open across a cut link), tells the test
-- its pid and the inodes of its namespaces, then ends one way or another.
-- The test then checks that nothing of them is left on the machine.

local function setup(t)
  local a, b, c = t.host, t:add_host("B"), t:add_host("C")
  local ab = t:link(a, b, { a = { "10.0.0.1/24", "fd00::1/64" }, b = { "10.0.0.2/24", "fd00::2/64" } })
  t:link(b, c, { a = "10.0.1.1/24", b = "10.0.1.2/24" })
  b:sysctl("net.ipv4.ip_forward", 1)
  a:capture()
  b:drop{ dir = "out", flags = "F" }        -- B's FINs never leave
  local srv = assert(b:listen("10.0.0.2:0"))
  local cli = assert(a:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept())
  assert(cli:write("unacked data"))
  ab:cut()
  assert(cli:write("more"))                -- in flight forever: retransmits
  conn:close()                             -- an orphan on B
  local out = assert(io.open(assert(os.getenv("RSTLAB_HOSTS_INFO")), "a"))
  out:write(string.format("pid %d\n", require("rstlab.core").pid()))
  for _, h in ipairs { a, b, c } do out:write(string.format("netns %d\n", h.ns:inode())) end
  out:close()
end

scenario("teardown after a pass", function(t) setup(t) end)

scenario("teardown after an error", function(t)
  setup(t)
  error("a scenario that fails after making hosts")
end)

scenario("teardown after the scenario's own timeout", function(t)
  setup(t)
  t:sleep(60)
end, { timeout = 1 })

scenario("teardown after a signal", function(t)
  setup(t)
  t:sleep(60)
end)
