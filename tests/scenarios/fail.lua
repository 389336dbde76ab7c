-- Fixture for tests/suite (the mixed suite): scenarios that fail.

scenario("fail: an assertion", function(t)
  t:eq(1 + 1, 3, "one plus one")
end)

scenario("fail: the capture is not what was expected", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local port = h:unused_port()
  local cli = assert(h:socket("inet"))
  t:fails_with("ECONNREFUSED", cli:connect("127.0.0.1:" .. port))
  -- The kernel answers with [R.], not [S.]: line 2 fails.
  cap:expect({ C = cli, S = "127.0.0.1:" .. port }, [[
    C > S  [S]
    S > C  [S.]   ack 1
  ]], { timeout = 0.3 })
end)
