-- Scenarios of test_spawn.lua: real programs on a scenario's hosts
-- (h:spawn). @MARKER@ is replaced by the test with a number of its own,
-- so that the processes of this run can be found in /proc afterwards
-- ("sleep 4242.<marker>" is a process no one else runs).

local MARKER = "@MARKER@"

-- How many processes of the machine have marker in their command line
-- (the scenario process sees the runner's /proc).
local function alive(marker)
  local n = 0
  local ls = io.popen("ls /proc")
  for pid in ls:lines() do
    if pid:match("^%d+$") then
      local f = io.open("/proc/" .. pid .. "/cmdline")
      local c = f and f:read("a") or ""
      if f then f:close() end
      if c:find(marker, 1, true) then n = n + 1 end
    end
  end
  ls:close()
  return n
end

local function sh(script) return { "sh", "-c", script } end

scenario("spawn failure: ENOENT for a missing program, EACCES for a file without x", function(t)
  local h = t.host
  local p, msg, code = h:spawn({ "/nonexistent/rstlab-no-such-program" })
  t:eq(p, nil, "no process object")
  t:eq(code, "ENOENT")
  t:ok(msg:find("/nonexistent/rstlab-no-such-program", 1, true), "the message names the program", msg)
  -- Through PATH, as execvp looks it up.
  p, msg, code = h:spawn({ "rstlab-no-such-program-" .. MARKER })
  t:eq(code, "ENOENT", "a name PATH does not have")
  -- A file that is not executable.
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("#!/bin/sh\necho never\n")
  f:close()
  os.execute("chmod 644 " .. path)
  p, msg, code = h:spawn({ path })
  os.remove(path)
  t:eq(code, "EACCES", "a file without the x bit")
  t:ok(msg:match("^EACCES: "), "msg starts with its code", msg)
  -- A working directory that does not exist: the chdir's errno.
  p, msg, code = h:spawn({ "true" }, { cwd = "/nonexistent-rstlab-dir" })
  t:eq(code, "ENOENT", "a missing cwd")
  t:ok(msg:find("working directory", 1, true), "the message says which step failed", msg)
end)

scenario("a program that never ends is killed at its timeout", function(t)
  local p = assert(t.host:spawn({ "sleep", "4242." .. MARKER .. "1" }, { timeout = 0.3 }))
  local t0 = os.time()
  local ok, how, n = p:wait({ timeout = 10 })
  t:eq(ok, nil, "not a success")
  t:eq(how, "signal")
  t:eq(n, 9, "SIGKILL")
  t:eq(p.timed_out, true, "p.timed_out")
  t:ok(os.time() - t0 < 5, "killed at its timeout, not at wait's")
  t:eq(alive(MARKER .. "1"), 0, "nothing left of it")
end)

scenario("megabytes on stdout and stderr: no deadlock, every byte kept", function(t)
  -- 3 MB on stderr first while nobody reads stderr (a program blocked on a
  -- full pipe would never get to stdout), then 5 MB on stdout.
  local p = assert(t.host:spawn(sh(
    "head -c 3000000 /dev/zero | tr '\\0' e >&2; head -c 5000000 /dev/zero | tr '\\0' o; echo; echo last")))
  -- The last line of stdout comes after all of stderr was written.
  local line
  repeat line = assert(p:read_line({ timeout = 20 })) until line == "last"
  t:eq(select(3, p:wait({ timeout = 10 })), 0, "exit status")
  local out, err = p:stdout(), p:stderr()
  t:eq(#out, 5000000 + 1 + 5, "stdout bytes")
  t:eq(#err, 3000000, "stderr bytes")
  t:eq(out:find("[^o]"), 5000001, "stdout holds what was written")
  t:eq(err:find("[^e]"), nil, "stderr holds what was written")
end)

scenario("grandchildren that outlive their parent end with the scenario", function(t)
  -- One child in the background, one daemonized away (a new session,
  -- double fork); the parent exits at once.
  local p = assert(t.host:spawn(sh(
    "sleep 4242." .. MARKER .. "2 & setsid sh -c 'sleep 4242." .. MARKER .. "2 &' </dev/null >/dev/null 2>&1; echo started")))
  t:eq(p:read_line({ timeout = 5 }), "started")
  t:eq(select(3, p:wait({ timeout = 5 })), 0, "the parent exited")
  t:eq(alive(MARKER .. "2"), 2, "both grandchildren still run after their parent")
  -- test_spawn.lua checks that none is left once the scenario has ended.
end)

scenario("MUST FAIL: a failing scenario ends its programs", function(t)
  assert(t.host:spawn(sh("sleep 4242." .. MARKER .. "3 & exec sleep 4242." .. MARKER .. "3")))
  t:eq(1, 2, "a deliberate failure")
end)

scenario("MUST FAIL: a scenario's error ends its programs", function(t)
  assert(t.host:spawn(sh("sleep 4242." .. MARKER .. "4 & exec sleep 4242." .. MARKER .. "4")))
  error("a deliberate error")
end)

scenario("MUST FAIL: a scenario's timeout ends its programs", function(t)
  local p = assert(t.host:spawn(sh("sleep 4242." .. MARKER .. "5 & exec sleep 4242." .. MARKER .. "5")))
  p:wait() -- never returns: the scenario times out here
end, { timeout = 0.5 })

scenario("read_line: lines as they come, TIMEOUT while none does, EOF at the end", function(t)
  local p = assert(t.host:spawn(sh("echo first; printf 'second\\r\\nno newline'; exec sleep 4242." .. MARKER .. "6")))
  t:eq(p:read_line({ timeout = 5 }), "first")
  t:eq(p:read_line({ timeout = 5 }), "second", "CRLF taken as a line end")
  local line, msg, code = p:read_line({ timeout = 0.2 })
  t:eq(line, nil)
  t:eq(code, "TIMEOUT", "no complete line yet")
  t:ok(p:kill("KILL"))
  t:eq(p:read_line({ timeout = 5 }), "no newline", "the last line, without its newline")
  line, msg, code = p:read_line({ timeout = 5 })
  t:eq(code, "EOF")
  t:eq(code, select(3, p:read_line()), "EOF every time")
  local _, how, n = p:wait()
  t:eq(how .. " " .. n, "signal 9")
  t:eq(p:stdout(), "first\nsecond\r\nno newline", "stdout() keeps everything")
  t:eq(select(3, p:read_line("stderr", { timeout = 5 })), "EOF", "stderr ended empty")
end)

scenario("env, cwd and stdin", function(t)
  local p = assert(t.host:spawn(sh('echo "[$RSTLAB_T] [${HOME-unset}] $(pwd)"; cat; echo "$0"'), {
    env = { RSTLAB_T = "v=1 two", HOME = false }, cwd = "/usr/bin", stdin = "in1\nin2\n" }))
  t:eq(select(3, p:wait({ timeout = 5 })), 0)
  t:eq(p:stdout(), "[v=1 two] [unset] /usr/bin\nin1\nin2\nsh\n")
  -- Without stdin, /dev/null: cat ends at once.
  local q = assert(t.host:spawn({ "cat" }))
  t:eq(select(3, q:wait({ timeout = 5 })), 0)
  t:eq(q:stdout(), "")
end)

scenario("the program sees its own /proc: its pid namespace", function(t)
  local p = assert(t.host:spawn(sh('echo "$$ $(cat /proc/$$/comm) $(readlink /proc/self) $(ls /proc | grep -c "^[0-9]")"')))
  t:eq(select(3, p:wait({ timeout = 5 })), 0)
  -- sh is pid 2 (1 is the init of its namespace), /proc/2 is sh itself,
  -- /proc/self the subshell of $(...), and the namespace holds init, sh,
  -- the subshell, ls and grep.
  local pid, comm, self, n = p:stdout():match("^(%d+) (%S+) (%d+) (%d+)\n$")
  t:eq(pid, "2", "$$")
  t:eq(comm, "sh", "/proc/$$/comm")
  t:ok(tonumber(self) > 2, "/proc/self is a process of the namespace", self)
  t:ok(tonumber(n) <= 6, "/proc lists only the namespace's processes", n)
  t:ok(p.pid > 2 and p.pid ~= 2, "p.pid is the pid as the runner sees it", p.pid)
end)

scenario("wait_listen: a real server on another host, its sockets, its log", function(t)
  local a, b = t.host, t:add_host("b")
  t:link(a, b, { a = "10.0.9.1/24", b = "10.0.9.2/24" })
  local p = assert(b:spawn({ "python3", "-m", "http.server", "--bind", "10.0.9.2", "8080" },
    { cwd = "/usr/share" }))
  assert(b:wait_listen("10.0.9.2:8080", { timeout = 10 }))
  local socks = assert(p:sockets())
  t:eq(#socks, 1, "one socket")
  t:eq(socks[1].state, "LISTEN")
  t:eq(socks[1].src, "10.0.9.2:8080")
  -- In b's namespace, not a's.
  local _, _, code = a:wait_listen("10.0.9.2:8080", { timeout = 0.1 })
  t:eq(code, "TIMEOUT", "nothing listens on host a")
  local c = assert(a:connect("10.0.9.2:8080"))
  assert(c:write("GET / HTTP/1.0\r\n\r\n"))
  local head = assert(c:read(12, { all = true, timeout = 5 }))
  t:eq(head, "HTTP/1.0 200")
  local log = assert(p:read_line("stderr", { timeout = 5 }))
  t:ok(log:find('^10%.0%.9%.1 .*"GET / HTTP/1%.0" 200'), "the server logged the request", log)
  t:ok(p:kill("INT"))
  local ok, how, n = p:wait({ timeout = 5 })
  t:eq(how, "exit", "python3 exits on SIGINT")
end)

-- A Python client that connects to addr, sends "hi", waits for one line,
-- then closes.
local CLIENT = [[
import socket, sys
ip, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((ip, int(port)))
s.sendall(b"hi")
print(s.recv(10).decode(), flush=True)
s.close()
]]

scenario("expectations bind a program by process and by \"ip:port\"", function(t)
  local a, b = t.host, t:add_host("b")
  t:link(a, b, { a = "10.0.8.1/24", b = "10.0.8.2/24" })
  local cap = assert(a:capture())
  local srv = assert(a:listen("10.0.8.1:0"))
  local p = assert(b:spawn({ "python3", "-c", CLIENT, srv.addr }))
  local c = assert(srv:accept({ timeout = 10 }))
  t:eq(c:read(2, { all = true, timeout = 5 }), "hi")
  local socks = assert(p:sockets())
  t:eq(#socks, 1, "the client's one socket")
  t:eq(socks[1].dst, srv.addr)
  t:eq(socks[1].src, c.peer, "its local end is the peer of the accepted socket")
  local addr = socks[1].src
  -- While it runs: its single connection.
  cap:expect({ P = p, S = c }, [[
    P > S  [S]
    S > P  [S.]
    P > S  [.]
    P > S  [P.]  len 2
    ...
  ]])
  assert(c:write("yo\n"))
  t:eq(p:read_line({ timeout = 5 }), "yo")
  t:eq(select(3, p:wait({ timeout = 5 })), 0)
  c:close()
  -- Ended: the same, and by "ip:port".
  for _, who in ipairs { p, addr } do
    cap:expect({ P = who, S = c }, [[
      ...
      P > S  [F.]
      ...
    ]])
  end
end)

scenario("MUST FAIL: a process without a connection cannot stand for an endpoint", function(t)
  local cap = assert(t.host:capture())
  local p = assert(t.host:spawn({ "sleep", "4242." .. MARKER .. "7" }))
  cap:expect({ P = p }, [[
    P > P  [S]
  ]]) -- a process with none
end)

scenario("MUST FAIL: a process with two connections cannot stand for an endpoint", function(t)
  local cap = assert(t.host:capture())
  local srv = assert(t.host:listen("127.0.0.1:0"))
  local p = assert(t.host:spawn({ "python3", "-c", [[
import socket, sys
ip, port = sys.argv[1].rsplit(":", 1)
a = socket.create_connection((ip, int(port)))
b = socket.create_connection((ip, int(port)))
print("connected", flush=True)
import time
time.sleep(1000)
]], srv.addr }))
  t:eq(p:read_line({ timeout = 10 }), "connected")
  local x, y = assert(srv:accept()), assert(srv:accept())
  cap:expect({ P = p, S = x }, [[
    P > S  [S]
  ]]) -- a process with two
end)
