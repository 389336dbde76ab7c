-- A real server, and clients that reset their connection.
--
-- The server is Python's http.server (`python3 -m http.server`, a
-- ThreadingHTTPServer: one thread per connection). Two clients (sockets of
-- the script) reset their connection with SO_LINGER {1, 0}: one right
-- after connecting, one in the middle of its request (the request line and
-- a header, not the blank line that ends them). A third client then asks
-- for "/" as HTTP/1.0 and reads the answer to its end.
--
-- What the server does, watched first by hand (Debian 12's python3 3.11.2,
-- tcpdump, also with the server stopped by SIGSTOP so that the RST reached
-- the connection while it still sat in the accept queue): every reset
-- connection is accepted all the same, and its recv() fails with
-- ECONNRESET. The request handler does not catch it; socketserver's
-- handle_error() prints, on stderr,
--
--     ----------------------------------------
--     Exception occurred during processing of request from ('127.0.0.1', PORT)
--     Traceback (most recent call last):
--       ...
--     ConnectionResetError: [Errno 104] Connection reset by peer
--     ----------------------------------------
--
-- (the traceback goes through handle_one_request's readline() for the
-- reset after connecting, through parse_headers() for the reset mid-request:
-- the bytes that arrived before the RST are read first, the reset is
-- reported on the recv() after them). The thread ends, the server goes
-- on: the next request is served (200) and logged as usual,
--
--     127.0.0.1 - - [29/Nov/2026 13:37:44] "GET / HTTP/1.0" 200 -
--
-- On the wire each reset is the client's `[R.]`, reason TCP_STATE.
--
-- PYTHONUNBUFFERED=1: Python's stdout into a pipe is block-buffered, so
-- without it the "Serving HTTP on ..." line stays in the program's buffer
-- (watched by hand: nothing in the pipe after a request was served, and
-- nothing at all once SIGTERM ended the server). stderr is line-buffered.

local tcpflags = require "rstlab.tcpflags"

-- Debian's python3 (the .ci/deps package), whatever else PATH finds first.
local PYTHON = "/usr/bin/python3"

-- The directory of this file: the server lists it for "/".
local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."

-- The lines of one handle_error() report on the server's stderr: from a
-- dashed line to the next.
local DASHES = string.rep("-", 40)
local function error_report(t, p)
  local lines = {}
  repeat
    local line, msg = p:read_line("stderr", { timeout = 5 })
    if not line then t:fail("no error report on the server's stderr (" .. msg .. ")") end
    lines[#lines + 1] = line
  until #lines > 1 and line == DASHES
  t:eq(lines[1], DASHES, "the report's first line")
  return lines
end

scenario("python3 -m http.server: clients reset after connecting and mid-request; it logs ConnectionResetError and serves the next", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local addr = "127.0.0.1:" .. h:unused_port()
  local port = addr:match("%d+$")
  local p = assert(h:spawn({ PYTHON, "-m", "http.server", "-b", "127.0.0.1", port },
                           { cwd = HERE, env = { PYTHONUNBUFFERED = "1" }, timeout = 20 }))
  assert(h:wait_listen(addr, { timeout = 10 }))
  t:eq(p:read_line("stdout", { timeout = 5 }),
       "Serving HTTP on 127.0.0.1 port " .. port .. " (http://" .. addr .. "/) ...")

  -- 1. Connect, then reset before sending anything.
  t:mark("c1")
  local c1 = assert(h:connect(addr))
  t:ok(c1:set{ linger = 0 })
  local c1_addr = c1.addr
  c1:close()
  local r1 = error_report(t, p)
  t:eq(r1[2], "Exception occurred during processing of request from ('127.0.0.1', "
                .. c1_addr:match("%d+$") .. ")")
  t:eq(r1[3], "Traceback (most recent call last):")
  t:eq(r1[#r1 - 1], "ConnectionResetError: [Errno 104] Connection reset by peer")
  t:ok(table.concat(r1, "\n"):find("self.raw_requestline = self.rfile.readline(65537)", 1, true),
       "the reset came in the request line's readline()")

  -- 2. Half a request (no blank line yet), then reset.
  t:mark("c2")
  local c2 = assert(h:connect(addr))
  local half = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
  t:eq(assert(c2:write(half)), #half)
  -- Reset once the server's kernel has acknowledged the half request.
  -- Its ACK is not always sent before write() returns: when the data
  -- comes while the server's thread holds its socket (in recv), the
  -- segment waits in the backlog and is acknowledged when the thread lets
  -- go; a reset before that comes first on the wire (seen, under load).
  local half_acked = string.format([[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
    C > S  [.]    ack 1
    C > S  [P.]   seq 1 ack 1 len %d
    S > C  [.]    ack %d
]], #half, #half + 1)
  cap:expect({ C = c2, S = addr }, half_acked, { from = "c2" })
  t:ok(c2:set{ linger = 0 })
  local c2_addr = c2.addr
  c2:close()
  local r2 = error_report(t, p)
  t:eq(r2[2], "Exception occurred during processing of request from ('127.0.0.1', "
                .. c2_addr:match("%d+$") .. ")")
  t:eq(r2[#r2 - 1], "ConnectionResetError: [Errno 104] Connection reset by peer")
  t:ok(table.concat(r2, "\n"):find("in parse_headers", 1, true),
       "the reset came while the headers were read")

  -- 3. The server goes on: a whole request is served.
  t:mark("c3")
  local c3 = assert(h:connect(addr))
  local req = "GET / HTTP/1.0\r\n\r\n"
  assert(c3:write(req))
  local resp = ""
  while true do
    local data, _, code = c3:read(65536, { timeout = 5 })
    if not data then t:eq(code, "EOF", "the end of the answer"); break end
    resp = resp .. data
  end
  t:eq(resp:match("^[^\r]*"), "HTTP/1.0 200 OK", "the answer's status line")
  t:ok(resp:find("<title>Directory listing for /</title>", 1, true), "the listing of its directory")
  local log = p:read_line("stderr", { timeout = 5 })
  t:ok(log and log:match('^127%.0%.0%.1 %- %- %[[^%]]+%] "GET / HTTP/1%.0" 200 %-$'),
       "the server's log line, got " .. tostring(log))

  local c3_addr = c3.addr
  c3:close()

  -- The wire: each reset is the client's [R.] (each expectation looks at
  -- the packets from its client's mark on: a port may come again).
  cap:expect({ C = c1_addr, S = addr }, [[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
    C > S  [.]    ack 1
    C > S  [R.]   seq 1 ack 1 len 0   reason TCP_STATE
  ]], { from = "c1" })
  cap:expect({ C = c2_addr, S = addr }, half_acked .. string.format([[
    C > S  [R.]   seq %d ack 1 len 0   reason TCP_STATE
  ]], #half + 1), { from = "c2" })
  -- The served client: the server answers and closes first (HTTP/1.0);
  -- no RST.
  cap:expect({ C = c3, S = addr }, string.format([[
    C > S  [S]    seq 0
    S > C  [S.]   seq 0 ack 1
    C > S  [.]    ack 1
    C > S  [P.]   seq 1 ack 1 len %d
    ...
    S > C  [F.]   ack %d
    ...
    C > S  [F.]   seq %d
    S > C  [.]    ack %d
    no more packets within 0.2 s
  ]], #req, #req + 1, #req + 1, #req + 2), { from = "c3" })
  for _, pk in ipairs(cap:packets()) do
    if (pk.src == c3_addr or pk.dst == c3_addr) and pk.flags & tcpflags.RST ~= 0 then
      t:fail("a RST on the served connection: " .. tcpflags.letters(pk.flags))
    end
  end

  -- Still serving when the script ends it: SIGTERM, the default action.
  t:ok(p:kill())
  local ok, how, sig = p:wait({ timeout = 5 })
  t:eq(ok, nil); t:eq(how, "signal"); t:eq(sig, 15, "the server's end: SIGTERM")
end)
