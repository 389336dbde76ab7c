--- rstlab.process: a real program run on a host (beside bindings/lspawn.c).
---
--- h:spawn(argv, opts) runs a program in h's network namespace, in a PID
--- namespace of its own (core/spawn.c): when the scenario ends, on any
--- path, the program and everything it started end with it. Its stdout and
--- stderr are read by the loop as they come and kept whole; read_line takes
--- them a line at a time. The scenario's result keeps both (the reports
--- show them).
---
---   local p = assert(h:spawn({ "python3", "-m", "http.server", "8080" }))
---   assert(h:wait_listen("127.0.0.1:8080", { timeout = 5 }))
---   ...
---   p:kill("TERM"); print(p:wait())   --> nil  signal  15

local core = require "rstlab.core"
local check = require "rstlab.check"

local M = {}

local Process = {}
-- p.timed_out: whether the spawn's timeout killed it, read live.
Process.__index = function(p, k)
  if k == "timed_out" then return rawget(p, "u"):timed_out() end
  return Process[k]
end
Process.__name = "rstlab.Process"
Process.__tostring = function(p)
  return string.format("rstlab.Process (%s, pid %d)", p.argv[1], p.pid)
end
M.Process = Process

--- is(v) -> whether v is a Process.
function M.is(v) return getmetatable(v) == Process end

local SPAWN_KEYS = { env = true, cwd = true, stdin = true, timeout = true }

-- The environment of the program: the runner's, with opts.env's names
-- set (a string or number) or removed (false).
local function environment(env, level)
  if env == nil then return nil end
  if type(env) ~= "table" then error("spawn: env must be a table { NAME = value }", level) end
  local names, order = {}, {}
  for _, kv in ipairs(core.environ()) do
    local k = kv:match("^([^=]*)=")
    if k and not names[k] then order[#order + 1] = k end
    if k then names[k] = kv end
  end
  for k, v in pairs(env) do
    if type(k) ~= "string" or k == "" or k:find("=", 1, true) then
      error("spawn: env names are strings without '=', got " .. tostring(k), level)
    end
    if v == false then
      names[k] = nil
    elseif type(v) == "string" or type(v) == "number" then
      if names[k] == nil then order[#order + 1] = k end
      names[k] = k .. "=" .. tostring(v)
    else
      error("spawn: env." .. k .. " must be a string, a number or false, got " .. type(v), level)
    end
  end
  local list = {}
  for _, k in ipairs(order) do
    if names[k] then list[#list + 1] = names[k] end
  end
  return list
end

--- spawn(host, argv, opts) -> Process | nil, msg, code (what Host:spawn
--- does; see there).
function M.spawn(h, argv, opts)
  local level = 4
  if type(argv) == "string" then
    error("spawn: argv must be a list of strings such as { \"sh\", \"-c\", \"...\" }, got a string", level - 1)
  end
  if type(argv) ~= "table" or #argv == 0 then
    error("spawn: argv must be a non-empty list of strings, got " .. type(argv), level - 1)
  end
  for i, a in ipairs(argv) do
    if type(a) ~= "string" then
      error("spawn: argv[" .. i .. "] must be a string, got " .. type(a), level - 1)
    end
  end
  opts = check.opts(opts, SPAWN_KEYS, "spawn", level - 1)
  local timeout = check.timeout(opts, "spawn", level - 1)
  if opts.cwd ~= nil and type(opts.cwd) ~= "string" then
    error("spawn: cwd must be a string, got " .. type(opts.cwd), level - 1)
  end
  if opts.stdin ~= nil and type(opts.stdin) ~= "string" then
    error("spawn: stdin must be a string (the program's whole input), got " .. type(opts.stdin), level - 1)
  end
  local envp = environment(opts.env, level)
  local u, msg, code = core.spawn_program(h.ns, argv, envp, opts.cwd, opts.stdin, timeout)
  if not u then return nil, msg, code end
  local copy = {}
  for i, a in ipairs(argv) do copy[i] = a end
  local p = setmetatable({ u = u, host = h, pid = u:pid(), argv = copy, timeout = timeout }, Process)
  local sc = h.scenario
  sc:hold(p)
  sc.programs = sc.programs or {}
  sc.programs[#sc.programs + 1] = p
  return p
end

local function left(deadline)
  if not deadline then return -1 end
  local l = deadline - core.now()
  return l > 0 and l or 0
end

local STREAMS = { stdout = true, stderr = true }
local TIMEOUT_KEYS = { timeout = true }

--- p:read_line([stream [, { timeout = s }]]) -> the next line of stream
--- ("stdout", the default, or "stderr"), without its "\n" | nil, msg,
--- "EOF" once the program closed it and every line was taken | nil, msg,
--- "TIMEOUT".
function Process:read_line(stream, opts)
  if type(stream) == "table" and opts == nil then stream, opts = nil, stream end
  stream = stream or "stdout"
  if not STREAMS[stream] then
    error('read_line: stream must be "stdout" or "stderr", got ' .. tostring(stream), 2)
  end
  opts = check.opts(opts, TIMEOUT_KEYS, "read_line")
  local secs = check.timeout(opts, "read_line")
  local deadline = secs and core.now() + secs
  while true do
    local line = self.u:take_line(stream)
    if line then return line end
    if line == nil then
      return core.fail("EOF", self.argv[1] .. " closed its " .. stream)
    end
    local r = self.u:park(stream, left(deadline))
    if r == "timeout" then
      return core.fail("TIMEOUT", string.format("no line on %s's %s within %g s", self.argv[1], stream, secs))
    end
  end
end

--- p:stdout() -> everything the program wrote to stdout so far.
function Process:stdout() return self.u:output("stdout") end

--- p:stderr() -> everything the program wrote to stderr so far.
function Process:stderr() return self.u:output("stderr") end

-- os.execute's results for the program's status.
local function exec_result(self)
  local how, n = self.u:status()
  if how == nil then return nil end
  if how == "lost" then
    return true, core.fail("ECLOSED", self.argv[1] .. " was ended with its scenario before it exited")
  end
  if how == "exit" then return true, n == 0 or nil, "exit", n end
  return true, nil, "signal", n
end

--- p:wait([{ timeout = s }]) -> as os.execute: true | nil, "exit" |
--- "signal", n (true only for exit status 0) | nil, msg, "TIMEOUT" when
--- the timeout passes first. A program killed at its own spawn timeout
--- says nil, "signal", 9, and p.timed_out is true.
function Process:wait(opts)
  opts = check.opts(opts, TIMEOUT_KEYS, "wait")
  local secs = check.timeout(opts, "wait")
  local deadline = secs and core.now() + secs
  while true do
    local done, a, b, c = exec_result(self)
    if done then return a, b, c end
    local r = self.u:park("exit", left(deadline))
    if r == "timeout" then
      return core.fail("TIMEOUT", string.format("%s did not exit within %g s", self.argv[1], secs))
    end
  end
end

--- p:kill([signal]) -> true | nil, msg, code: send signal (a number or a
--- name, "TERM" or "SIGTERM"; default "TERM") to the program itself, not
--- to what it started (those end with the scenario, or at p:close()).
function Process:kill(sig)
  local n = sig or "TERM"
  if type(n) == "string" then
    n = core.signal_number(n)
    if not n then error("kill: unknown signal '" .. sig .. "' (TERM, KILL, INT, HUP, USR1, ...)", 2) end
  elseif math.type(n) ~= "integer" then
    error("kill: the signal must be a name or a number, got " .. type(sig), 2)
  end
  return self.u:kill(n)
end

--- p:sockets() -> the program's TCP sockets (the sockets among its open
--- fds, /proc/PID/fd, matched by inode against sock_diag of its host),
--- each as h:sockets() gives them | nil, msg, code.
function Process:sockets()
  local inodes, msg, code = self.u:socket_inodes()
  if not inodes then return nil, msg, code end
  local mine = {}
  for _, i in ipairs(inodes) do mine[i] = true end
  local list, m, c = self.host.ns:sockets()
  if not list then return nil, m, c end
  local keep = {}
  self.seen = self.seen or {}
  for _, s in ipairs(list) do
    if s.inode ~= 0 and mine[s.inode] then
      keep[#keep + 1] = s
      if s.state ~= "LISTEN" and not self.seen[s.src .. " " .. s.dst] then
        self.seen[s.src .. " " .. s.dst] = true
        self.seen[#self.seen + 1] = s.src
      end
    end
  end
  return keep
end

--- p:endpoint() -> "ip:port" of the program's single connection (its
--- local end) | nil, why: for expectations that bind a name to the
--- process. While it runs, its sockets are looked up now (listeners left
--- out); once it has exited, the connections seen by an earlier
--- p:sockets() or p:endpoint() count. Zero or several: nil and why.
function Process:endpoint()
  local conns = {}
  local live = self.u:status() == nil and not self.u:closed()
  if live then
    local list = self:sockets()
    for _, s in ipairs(list or {}) do
      if s.state ~= "LISTEN" then conns[#conns + 1] = s.src end
    end
  end
  if #conns == 0 then
    for _, a in ipairs(self.seen or {}) do conns[#conns + 1] = a end
  end
  local what = self.argv[1] .. " (pid " .. self.pid .. ")"
  if #conns == 1 then return conns[1] end
  if #conns == 0 then
    return nil, what .. " has no TCP connection" .. (live and "" or
      " (it has ended, none was seen while it ran and the capture does not single one out: bind \"ip:port\")")
  end
  return nil, what .. " has " .. #conns .. " TCP connections (" .. table.concat(conns, ", ")
    .. "): bind one of them by \"ip:port\""
end

--- p:close(): the program, and every process it started, end now (the
--- PID namespace goes). What they wrote stays readable. Idempotent; the
--- scenario does it at its end.
function Process:close()
  self.u:close()
end

-- What a result keeps of one stream: the whole of it up to this size,
-- else its end (the reports show the last lines anyway).
local RECORD_MAX = 1024 * 1024

--- p:record() -> a plain table for the scenario's result: { argv, pid,
--- status ("exit 0", "signal 9", "running"...), timed_out, timeout,
--- stdout, stderr, stdout_bytes, stderr_bytes } (stdout and stderr: the
--- last MiB of each at most; the _bytes fields count all of it).
function Process:record()
  local how, n = self.u:status()
  local status = how == nil and "running" or how == "lost" and "ended with its scenario"
    or (how .. " " .. n)
  local r = { argv = self.argv, pid = self.pid, status = status, timed_out = self.u:timed_out(),
    timeout = self.timeout }
  for _, k in ipairs { "stdout", "stderr" } do
    local text = self.u:output(k)
    r[k .. "_bytes"] = #text
    r[k] = #text > RECORD_MAX and text:sub(-RECORD_MAX) or text
  end
  return r
end

-- ---------------------------------------------------------------------
-- waiting for a listener

-- Whether the listener l (a sock_diag entry) accepts connections to ip:port.
local function listens_at(l, ip, port)
  if l.sport ~= port then return false end
  local lip = l.src:match("^%[?(.-)%]?:%d+$")
  if ip == nil or lip == ip then return true end
  if lip == "0.0.0.0" then return not ip:find(":", 1, true) end
  if lip == "::" then return true end -- dual-stack unless IPV6_V6ONLY
  return false
end

--- wait_listen(h, addr, opts) -> true | nil, msg, code (Host:wait_listen).
--- The kernel has no event for "a socket started listening" that a
--- rootless process can watch, so sock_diag is asked again on the loop,
--- 1 ms after the first look and doubling up to 50 ms, until a listener
--- is there or the timeout passes; the actor waits, the loop goes on.
function M.wait_listen(h, addr, opts)
  local ip, port
  if math.type(addr) == "integer" then
    port = addr
  elseif type(addr) == "string" then
    ip, port = addr:match("^%[?(.-)%]?:(%d+)$")
    port = tonumber(port)
    if ip == "" or ip == "*" then ip = nil end
  end
  if not port or port < 1 or port > 65535 then
    error('wait_listen: the address must be "ip:port" or a port number, got ' .. tostring(addr), 3)
  end
  if ip and not core.parse_addr(addr) then
    error("wait_listen: invalid address '" .. addr .. "'", 3)
  end
  opts = check.opts(opts, TIMEOUT_KEYS, "wait_listen", 3)
  local secs = check.timeout(opts, "wait_listen", 3) or 10
  local deadline = core.now() + secs
  local pause = 0.001
  while true do
    local list, msg, code = h.ns:sockets({ "LISTEN" })
    if not list then return nil, msg, code end
    for _, l in ipairs(list) do
      if listens_at(l, ip, port) then return true end
    end
    local rest = deadline - core.now()
    if rest <= 0 then
      return core.fail("TIMEOUT", string.format("nothing listens at %s on host %s after %g s",
        tostring(addr), h.name, secs))
    end
    core.sleep(math.min(pause, rest))
    pause = math.min(pause * 2, 0.05)
  end
end

return M
