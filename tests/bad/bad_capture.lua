-- Bad input: capture filters libpcap cannot compile, interfaces that do
-- not exist.
scenario("bad capture filter", function(t)
  t.host:capture{ filter = "tcp port" }
end)

scenario("no such interface", function(t)
  t.host:capture{ iface = "nosuch0" }
end)

scenario("after the bad captures", function(t)
  t:ok(true)
end)
