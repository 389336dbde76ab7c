-- Bad input: socket options that do not exist, or values they cannot take.
scenario("unknown socket option", function(t)
  local s = assert(t.host:socket("inet"))
  s:set{ lingr = 0 }
end)

scenario("bad linger value", function(t)
  local s = assert(t.host:socket("inet"))
  s:set{ linger = "yes" }
end)

scenario("value out of range", function(t)
  local s = assert(t.host:socket("inet"))
  s:set{ rcvbuf = 1 << 40 }
end)

scenario("bad option of connect", function(t)
  local l = assert(t.host:listen("127.0.0.1:0"))
  t.host:connect(l.addr, { nodelay = "yes" })
end)

scenario("bad keepalive field", function(t)
  local s = assert(t.host:socket("inet"))
  s:set{ keepalive = { idle = 1, intervall = 1 } }
end)

scenario("after the bad options", function(t)
  t:ok(true)
end)
