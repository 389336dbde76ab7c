-- A scenario that passes. tests/suite/test_bad_input.sh runs it beside each
-- bad file, to show that a bad file or scenario does not stop the others.
scenario("good: bytes cross a loopback connection", function(t)
  local l = assert(t.host:listen("127.0.0.1:0"))
  local c = assert(t.host:connect(l.addr))
  local a = assert(l:accept())
  assert(c:write("ok"))
  t:eq(a:read(2), "ok")
end)
