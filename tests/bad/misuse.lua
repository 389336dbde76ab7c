-- Bad input: calls that cannot be made.
scenario("read from a closed socket", function(t)
  local s = assert(t.host:socket("inet"))
  s:close()
  s:read(1)
end)

scenario("wait inside a coroutine of the script's own", function(t)
  local co = coroutine.wrap(function() t:sleep(0.1) end)
  co()
end)

scenario("a NaN timeout", function(t)
  local l = assert(t.host:listen("127.0.0.1:0"))
  l:accept({ timeout = 0/0 })
end)

scenario("a huge read", function(t)
  local l = assert(t.host:listen("127.0.0.1:0"))
  local c = assert(t.host:connect(l.addr))
  local a = assert(l:accept())
  assert(c:write("abc"))
  t:eq(a:read(1 << 40), "abc")
end)

scenario("after the misuse", function(t)
  t:ok(true)
end)
