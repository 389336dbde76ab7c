-- Bad input: expectation texts with a bad line. The message names the
-- file line of the bad expectation line, and the line itself.
scenario("unknown flag letter", function(t)
  local cap = assert(t.host:capture())
  cap:expect({ C = "127.0.0.1:1", S = "127.0.0.1:2" }, [[
    C > S  [S]
    S > C  [X.]   ack 1
  ]])
end)

scenario("unknown clause", function(t)
  local cap = assert(t.host:capture())
  cap:expect({ C = "127.0.0.1:1", S = "127.0.0.1:2" }, "C > S [S] sequence 0")
end)

scenario("name not bound", function(t)
  local cap = assert(t.host:capture())
  cap:expect({ C = "127.0.0.1:1", S = "127.0.0.1:2" }, [[
    C > S  [S]
    S > D  [R.]
  ]])
end)

scenario("after the bad expectations", function(t)
  t:ok(true)
end)
