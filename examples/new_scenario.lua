-- A new scenario, start to finish: a half-close.
--
-- The client shuts down its sending side (a FIN goes out) but keeps
-- reading; the server sees the orderly end of the stream (EOF), still
-- answers, and closes. Run it with:  ./build/rstlab examples/new_scenario.lua

scenario("half-close: shutdown(w) sends a FIN, the reply still arrives", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local cli = assert(h:connect(srv.addr))
  local conn = assert(srv:accept())

  assert(cli:write("request"))
  assert(cli:shutdown("w"))                         -- FIN from the client
  t:eq(conn:read(100), "request")
  t:fails_with("EOF", conn:read(100, { timeout = 1 })) -- orderly end, not an error
  assert(conn:write("reply"))
  conn:close()                                      -- FIN from the server
  t:eq(cli:read(100, { timeout = 1 }), "reply")
  t:fails_with("EOF", cli:read(100, { timeout = 1 }))

  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]   ack 1
    C > S  [.]
    C > S  [P.]   seq 1 len 7
    ...
    C > S  [F.]   seq 8
    ...
    S > C  [P.]   seq 1 len 5
    ...
    S > C  [F.]   seq 6
    C > S  [.]    ack 7
  ]])
  -- The client closed first, so the client keeps the TIME_WAIT.
  local tw = h:sockets{ state = "TIME_WAIT" }
  t:eq(#tw, 1, "TIME_WAIT sockets")
  t:eq(tw[1].src, cli.addr, "the TIME_WAIT socket is the client's")
end)
