-- curl, and a server that resets in the middle of the response.
--
-- The server (a socket of the script) reads curl's request, answers with
-- headers that announce 1000 bytes of body (Content-Length), sends 100 of
-- them, and closes with SO_LINGER {1, 0}: a RST instead of the rest, where
-- a crashed or killed backend, or a proxy giving up, leaves a client.
--
-- What curl does with it, watched first by hand (Debian 12's curl 7.88.1,
-- `curl -sS`, strace): its first recv() takes the 167 bytes of headers and
-- body; the next asks for exactly the 900 bytes still owed and fails with
-- ECONNRESET. curl writes the 100 bytes it got to stdout, prints
--
--     curl: (56) Recv failure: Connection reset by peer
--
-- on stderr and exits with 56 (CURLE_RECV_ERROR). The same when the RST
-- comes before curl has read the data: the kernel keeps what was received,
-- recv() returns it first and reports the reset on the call after.
--
-- On the wire the RST is the server's `[R.]`, acking curl's whole request;
-- the kernel's reason for a linger-0 close is TCP_STATE (scripts/linger0.lua).

-- curl asks for "/"; "-sS": no progress meter, but the error message.
local function curl(h, addr)
  return assert(h:spawn({ "curl", "-sS", "http://" .. addr .. "/" }, { timeout = 10 }))
end

scenario("curl: the server resets after 100 of 1000 bytes: exit 56, Recv failure: Connection reset by peer", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local srv = assert(h:listen("127.0.0.1:0"))
  local p = curl(h, srv.addr)
  local conn = assert(srv:accept({ timeout = 5 }))

  -- curl's request, to its blank line.
  local req = ""
  repeat
    req = req .. assert(conn:read(4096, { timeout = 5 }))
  until req:find("\r\n\r\n", 1, true)
  t:eq(req:match("^[^\r]*"), "GET / HTTP/1.1", "curl's request line")

  local part = string.rep("x", 100)
  local resp = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n" .. part
  t:eq(assert(conn:write(resp)), #resp)

  -- curl's kernel has the response (its ACK is on the wire) before the RST
  -- goes: the reset cuts the body short, not the headers.
  local binds = { C = p, S = conn }                 -- C: curl's one connection
  cap:expect(binds, string.format([[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
    C > S  [.]    ack 1
    C > S  [P.]   seq 1 ack 1 len %d
    S > C  [.]    ack %d
    S > C  [P.]   seq 1 ack %d len %d
    C > S  [.]    ack %d
  ]], #req, #req + 1, #req + 1, #resp, #resp + 1))

  t:ok(conn:set{ linger = 0 })
  t:mark("reset"); conn:close()                     -- the RST leaves inside close()

  local ok, how, code = p:wait({ timeout = 5 })
  local exited = t:now()
  t:eq(ok, nil, "curl's success"); t:eq(how, "exit"); t:eq(code, 56, "curl's exit status")
  t:eq(p:stderr(), "curl: (56) Recv failure: Connection reset by peer\n", "curl's stderr")
  t:eq(p:stdout(), part, "curl's stdout: the part of the body it got")
  t:ok(exited - t.marks.reset < 0.5 * t.scale, "curl gives up at once (no retry)")

  cap:expect(binds, string.format([[
    S > C  [R.]   seq %d ack %d len 0   after reset 0 ± 0.05   reason TCP_STATE
    no more packets within 0.2 s
  ]], #resp + 1, #req + 1), { from = "reset" })
  -- Neither side keeps a TIME_WAIT: the reset ended the connection at once.
  t:eq(#h:sockets{ state = "TIME_WAIT" }, 0, "TIME_WAIT sockets")
end)
