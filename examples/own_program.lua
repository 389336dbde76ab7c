-- Your own program under test: a server, and a client that resets.
--
-- Put your program's command line in PROGRAM. Here it is a small echo
-- server written in Python (it stands for yours): it echoes what a client
-- sends, and prints a line when a connection ends, "closed" or the error
-- its recv() raised. The scenario runs it inside the scenario's network
-- namespace, waits until it listens (no sleeps), talks to it with sockets
-- of the script, and asserts what it printed and what crossed the wire.
--
-- Run it with:  ./build/rstlab examples/own_program.lua
--
-- The program's lines below were first watched by hand (`ip netns exec`
-- the same program, with a Python client doing the same three things).

local ECHO_SERVER = [[
import socket, sys
srv = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening on 127.0.0.1:%s" % sys.argv[1], flush=True)
while True:
    conn, peer = srv.accept()
    try:
        while data := conn.recv(4096):
            conn.sendall(data)
        print("%s:%d: closed" % peer, flush=True)
    except ConnectionResetError as e:
        print("%s:%d: %s" % (peer[0], peer[1], e), flush=True)
    conn.close()
]]

scenario("own program: an echo server logs a client's reset and goes on serving", function(t)
  local h = t.host
  local cap = assert(h:capture())
  local port = h:unused_port()
  local addr = "127.0.0.1:" .. port

  -- 1. Start the program on the host, and wait until it listens.
  local PROGRAM = { "python3", "-c", ECHO_SERVER, tostring(port) }
  local p = assert(h:spawn(PROGRAM, { timeout = 20 }))
  assert(h:wait_listen(addr, { timeout = 10 }))
  t:eq(p:read_line("stdout", { timeout = 5 }), "listening on " .. addr)

  -- 2. A client that behaves: echo, orderly close.
  local a = assert(h:connect(addr))
  assert(a:write("hello\n"))
  t:eq(a:read(100, { timeout = 5 }), "hello\n")
  local a_addr = a.addr
  a:close()
  t:eq(p:read_line("stdout", { timeout = 5 }), a_addr .. ": closed")

  -- 3. A client that resets: SO_LINGER {1, 0}, then close().
  local b = assert(h:connect(addr))
  assert(b:write("hel"))
  t:eq(b:read(100, { timeout = 5 }), "hel")
  t:ok(b:set{ linger = 0 })
  local b_addr = b.addr
  t:mark("reset"); b:close()                        -- the RST leaves inside close()
  t:eq(p:read_line("stdout", { timeout = 5 }),
       b_addr .. ": [Errno 104] Connection reset by peer", "what the program logs")
  cap:expect({ C = b_addr, S = addr }, [[
    C > S  [R.]   seq 4 ack 4 len 0   after reset 0 ± 0.05   reason TCP_STATE
    no more packets within 0.2 s
  ]], { from = "reset" })

  -- 4. It goes on serving.
  local c = assert(h:connect(addr))
  assert(c:write("again\n"))
  t:eq(c:read(100, { timeout = 5 }), "again\n")

  -- 5. Its sockets, as the kernel lists them (sock_diag, matched with its
  -- fds): the listener, and its end of c's connection.
  local socks = assert(p:sockets())
  table.sort(socks, function(x, y) return x.state < y.state end)
  t:eq(#socks, 2, "the program's sockets")
  t:eq(socks[1].state .. " " .. socks[1].src .. " " .. socks[1].dst,
       "ESTABLISHED " .. addr .. " " .. c.addr)
  t:eq(socks[2].state .. " " .. socks[2].src, "LISTEN " .. addr)

  -- 6. End it. Whatever happens, the scenario ends it anyway (and all it
  -- started) when the scenario ends.
  t:ok(p:kill())
  local ok, how, sig = p:wait({ timeout = 5 })
  t:eq(ok, nil); t:eq(how, "signal"); t:eq(sig, 15, "ended by SIGTERM")
  t:eq(p:stderr(), "", "nothing on stderr")
end)
