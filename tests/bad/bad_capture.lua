-- Bad input: capture filters libpcap cannot compile, interfaces that do
-- not exist.
scenario("bad capture filter", function(t)
  t.host:capture{ filter = "tcp port" }
end)

scenario("no such interface", function(t)
  t.host:capture{ iface = "nosuch0" }
end)

scenario("a filter given where the options belong", function(t)
  t.host:capture("tcp port 80")
end)

scenario("an unknown capture option", function(t)
  t.host:capture{ fitler = "tcp" }
end)

scenario("after the bad captures", function(t)
  t:ok(true)
end)
