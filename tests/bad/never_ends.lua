-- Bad input: scenarios that never end. One waits for a connection nobody
-- makes, one spins without ever waiting; each is stopped at its timeout
-- with the line it was at.
scenario("waits forever", function(t)
  local l = assert(t.host:listen("127.0.0.1:0"))
  l:accept()
end, { timeout = 1 })

scenario("spins forever", function(t)
  local n = 0
  while true do n = n + 1 end
end, { timeout = 1 })

scenario("after the scenarios that never end", function(t)
  t:ok(true)
end)
