-- Bad input: hosts and links used the wrong way.
scenario("a host name that is not a word", function(t)
  t:add_host("host B")
end)

scenario("two hosts of one name", function(t)
  t:add_host("B")
  t:add_host("B")
end)

scenario("reboot a host that is up", function(t)
  local b = t:add_host("B")
  b:reboot()
end)

scenario("a host linked to itself", function(t)
  t:link(t.host, t.host, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
end)

scenario("a link address without its prefix", function(t)
  local b = t:add_host("B")
  t:link(t.host, b, { a = "10.0.0.1", b = "10.0.0.2/24" })
end)

scenario("a link with an unknown option", function(t)
  local b = t:add_host("B")
  t:link(t.host, b, { a = "10.0.0.1/24", b = "10.0.0.2/24", mtu = 1400 })
end)

scenario("a link to something that is not a host", function(t)
  t:link(t.host, "B", { a = "10.0.0.1/24", b = "10.0.0.2/24" })
end)

scenario("after the host and link misuse", function(t)
  local b = t:add_host("B")
  t:link(t.host, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  local l = assert(b:listen("10.0.0.2:0"))
  assert(t.host:connect(l.addr))
end)
