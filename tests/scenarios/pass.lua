-- Fixture for tests/suite (the mixed suite): scenarios that pass.

scenario("pass: connect, write, read", function(t)
  local h = t.host
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())
  assert(cli:write("ping"))
  t:eq(conn:read(4), "ping")
  t:log("the server read ping")
end)

scenario("pass: SYN to a closed port is answered by RST", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local port = h:unused_port()
  local cli = assert(h:socket("inet"))
  t:fails_with("ECONNREFUSED", cli:connect("127.0.0.1:" .. port))
  cap:expect({ C = cli, S = "127.0.0.1:" .. port }, [[
    C > S  [S]
    S > C  [R.]   seq 0 ack 1
  ]])
end)
