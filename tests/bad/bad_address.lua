-- Bad input: addresses and ports that are not valid.
scenario("port out of range", function(t)
  t.host:connect("127.0.0.1:99999")
end)

scenario("no port", function(t)
  t.host:listen("127.0.0.1")
end)

scenario("a name, not an address", function(t)
  local s = assert(t.host:socket("inet"))
  s:bind("localhost:80")
end)

scenario("an IPv4 address for an IPv6 socket", function(t)
  local s = assert(t.host:socket("inet6"))
  s:connect("127.0.0.1:80")
end)

scenario("after the bad addresses", function(t)
  t:ok(true)
end)
