--- rstlab.socket: a script's TCP socket (beside bindings/lsocket.c).
---
--- A Socket is a Lua object holding the C socket (`u`, a rstlab.Socket
--- userdata: primitives such as recv_now and wait). Calls that look
--- blocking try the primitive first and park the running actor on the loop
--- only when the kernel has nothing yet; with { wait = false } they make
--- one system call and return its result as is. A blocking socket's calls
--- (and a close that waits out SO_LINGER) run in a worker thread while the
--- actor waits. Results are the kernel's: network failures return nil,
--- message, code; misuse raises at the script's line.
---
---   local s = assert(h:connect("127.0.0.1:80"))
---   s:write("GET / HTTP/1.0\r\n\r\n")
---   local data, msg, code = s:read(100, { timeout = 1 })

local core = require "rstlab.core"
local check = require "rstlab.check"

local M = {}


local Socket = {}
M.Socket = Socket

-- Read-only fields computed from the kernel socket.
local props = {
  addr = function(s) return s.u:local_addr() end,
  local_addr = function(s) return s.u:local_addr() end,
  peer = function(s) return s.u:peer_addr() end,
  fd = function(s) return s.u:fileno() end,
}
Socket.__index = function(s, k)
  local m = Socket[k]
  if m ~= nil then return m end
  local p = props[k]
  if p ~= nil then return p(s) end
  return nil
end
Socket.__name = "rstlab.Socket"
Socket.__tostring = function(s) return tostring(s.u) end

--- wrap(u, host) -> Socket: a C socket of host as a script's Socket, held
--- by host's scenario until it ends.
function M.wrap(u, host)
  local s = setmetatable({ u = u, host = host }, Socket)
  host.scenario:hold(s)
  return s
end

-- s.addrs: every local address the socket had (after bind, after each
-- connect attempt: a new port each time), so a capture can bind a name to
-- all of the socket's connections.
local function remember(s)
  local a = s.u:local_addr()
  if not a or a:match(":0$") or a:match("^0%.0%.0%.0:") or a:match("^%[::%]:") then return end
  s.addrs = s.addrs or {}
  for _, x in ipairs(s.addrs) do if x == a then return end end
  s.addrs[#s.addrs + 1] = a
end

--- is(v) -> whether v is a Socket.
function M.is(v) return getmetatable(v) == Socket end

local function left(deadline)
  if not deadline then return -1 end
  local l = deadline - core.now()
  return l > 0 and l or 0
end

-- Park until the socket is ready for mode, or the deadline passes.
local function park(s, mode, deadline, what, secs)
  local r = s.u:wait(mode, left(deadline))
  if r == "ready" then return true end
  if r == "closed" then return core.fail("ECLOSED", "the socket was closed while waiting") end
  return core.fail("TIMEOUT", string.format("%s did not complete within %g s", what, secs))
end

local READ_KEYS = { timeout = true, all = true, wait = true }
local CALL_KEYS = { timeout = true, wait = true }

-- The end of the stream: recv() returned 0. Its code stays EOF even when a
-- reset was reported to an earlier call (the kernel returns 0 then too);
-- only the message says so.
local function eof(s)
  local earlier = s.u:reported()
  if earlier then
    return core.fail("EOF", "recv returned 0 (" .. earlier .. " was reported to an earlier call)")
  end
  return core.fail("EOF", "the peer closed the connection (FIN)")
end

-- One system call in a worker thread (a blocking socket's call): the
-- actor waits, the loop goes on. At the script's deadline the actor gets
-- TIMEOUT and the call goes on alone in its thread; its result goes
-- nowhere.
local function in_worker(s, op, deadline, what, secs, ...)
  local r = s.u:call(op, left(deadline), ...)
  if r == "ready" then return s.u:finish(op) end
  s.u:detach(op)
  if r == "closed" then
    return core.fail("ECLOSED", "the socket was closed while " .. what .. " was blocked in the kernel")
  end
  return core.fail("TIMEOUT", string.format(
    "%s did not return within %g s (the system call goes on in its thread)", what, secs))
end

--- s:read(n [, {timeout = s, all = bool, wait = bool}]) -> data | nil, msg,
--- code. At most n bytes, taken from the kernel only now (no read-ahead).
--- With all = true, waits until exactly n bytes came. recv() returning 0
--- is nil, "EOF: ...", "EOF", every time it does. wait = false: one recv(),
--- its result as returned (EAGAIN when nothing is there).
function Socket:read(n, opts)
  if math.type(n) ~= "integer" or n <= 0 then
    error("read: n must be a positive integer, got " .. tostring(n), 2)
  end
  opts = check.opts(opts, READ_KEYS, "read")
  local secs = check.timeout(opts, "read")
  local deadline = secs and core.now() + secs
  local blocking = self.u:blocking()
  local got, have = {}, 0
  while true do
    local data, msg, code
    if blocking then
      data, msg, code = in_worker(self, "recv", deadline, "read", secs, n - have)
    else
      data, msg, code = self.u:recv_now(n - have)
    end
    if data == "" then
      if have > 0 then return table.concat(got) end
      return eof(self)
    elseif data then
      have = have + #data
      got[#got + 1] = data
      if not opts.all or have >= n or opts.wait == false then return table.concat(got) end
    elseif data == nil or opts.wait == false or blocking then
      if have > 0 and code == "TIMEOUT" then return table.concat(got), msg, code end
      return nil, msg, code
    else
      local ok, m2, c2 = park(self, "r", deadline, "read", secs)
      if not ok then
        if have > 0 and c2 == "TIMEOUT" then return table.concat(got), m2, c2 end
        return nil, m2, c2
      end
    end
  end
end

--- s:write(data [, {timeout = s, wait = bool}]) -> bytes written | nil, msg,
--- code, bytes written so far. Waits while the send buffer is full. wait =
--- false: one send(), what it took (maybe less than data) or its failure.
function Socket:write(data, opts)
  check.arg(data, "string", "write", 1)
  opts = check.opts(opts, CALL_KEYS, "write")
  local secs = check.timeout(opts, "write")
  local deadline = secs and core.now() + secs
  local blocking = self.u:blocking()
  local from = 1
  while from <= #data do
    local n, msg, code
    if blocking then
      n, msg, code = in_worker(self, "send", deadline, "write", secs, data, from)
    else
      n, msg, code = self.u:send_now(data, from)
    end
    if opts.wait == false then
      if n then return n end
      return nil, msg, code
    end
    if not n then
      if n == nil or blocking then return nil, msg, code, from - 1 end
      local ok, m2, c2 = park(self, "w", deadline, "write", secs)
      if not ok then return nil, m2, c2, from - 1 end
    else
      from = from + n
    end
  end
  return #data
end

--- s:connect(addr [, {timeout = s, wait = bool}]) -> true | nil, msg, code.
--- Each call calls connect() again. Non-blocking: connect() then, while it
--- is in progress, SO_ERROR once the socket is writable. wait = false: one
--- connect(), as returned (EINPROGRESS, EALREADY, EISCONN, ECONNREFUSED,
--- ECONNABORTED...). A blocking socket's connect() blocks in a worker.
function Socket:connect(addr, opts)
  check.arg(addr, "string", "connect", 1)
  opts = check.opts(opts, CALL_KEYS, "connect")
  local secs = check.timeout(opts, "connect")
  local deadline = secs and core.now() + secs
  if self.u:blocking() then
    local ok, msg, code = in_worker(self, "connect", deadline, "connect to " .. addr, secs, addr)
    remember(self) -- a refused blocking connect has let go of its port: no address then
    return ok, msg, code
  end
  local ok, msg, code = self.u:connect_start(addr)
  remember(self)
  if opts.wait == false then
    if ok then return true end
    return nil, msg, code
  end
  if ok == nil then return nil, msg, code end
  if ok then return true end
  local r, m2, c2 = park(self, "w", deadline, "connect to " .. addr, secs)
  if not r then return nil, m2, c2 end
  return self.u:connect_finish()
end

--- listener:accept([{timeout = s, wait = bool}]) -> Socket | nil, msg,
--- code. The new socket lives on the listener's host (blocking when the
--- listener is). wait = false: one accept(), EAGAIN when none is pending.
function Socket:accept(opts)
  opts = check.opts(opts, CALL_KEYS, "accept")
  local secs = check.timeout(opts, "accept")
  local deadline = secs and core.now() + secs
  while true do
    local c, msg, code
    if self.u:blocking() then
      c, msg, code = in_worker(self, "accept", deadline, "accept", secs)
    else
      c, msg, code = self.u:accept_now()
    end
    if c then return M.wrap(c, self.host) end
    if c == nil or opts.wait == false then return nil, msg, code end
    local ok, m2, c2 = park(self, "r", deadline, "accept", secs)
    if not ok then return nil, m2, c2 end
  end
end

--- s:bind("ip:port") -> true | nil, msg, code.
function Socket:bind(addr)
  check.arg(addr, "string", "bind", 1)
  local ok, msg, code = self.u:bind(addr)
  remember(self)
  return ok, msg, code
end

--- s:listen([backlog]) -> true | nil, msg, code.
function Socket:listen(backlog)
  if backlog ~= nil then check.arg(backlog, "integer", "listen", 1) end
  return self.u:listen(backlog or 128)
end

local SHUT = { r = true, w = true, rw = true }

--- s:shutdown("r" | "w" | "rw") -> true | nil, msg, code.
function Socket:shutdown(how)
  if not SHUT[how] then error('shutdown: expected "r", "w" or "rw", got ' .. tostring(how), 2) end
  return self.u:shutdown(how)
end

--- s:disconnect() -> true | nil, msg, code: connect() to an AF_UNSPEC
--- address, which the kernel turns into tcp_disconnect(): the connection
--- is dropped at once (a RST where its state needs one, TCP_STATE; in
--- CLOSING or LAST_ACK with data or FIN not yet sent,
--- TCP_DISCONNECT_WITH_DATA), the socket stays open, unconnected.
function Socket:disconnect()
  return self.u:disconnect()
end

--- s:close() -> true, seconds | nil, msg, code, seconds: close()'s result
--- and how long it blocked. A close() that blocks in the kernel (a
--- blocking socket's; SO_LINGER {1, N > 0}, even non-blocking) is made in a
--- worker while the actor waits. Just true when no close() was made here:
--- the socket was closed already, a call of another actor is still
--- blocked on it (the last such call closes the fd when it returns), or a
--- close that blocks was asked outside an actor (it runs in a thread of
--- its own, nobody waits). Idempotent; __close and __gc of the C socket
--- take the same path.
function Socket:close()
  if self.u:closed() then return true end
  if core.yieldable() and self.u:close_blocks() then
    -- It raises only where no actor may wait (a coroutine of the script's
    -- own), once the close() runs in its thread: nobody waits for it then.
    local ok, r = pcall(self.u.call, self.u, "close")
    if ok and r == "ready" then return self.u:finish("close") end
    self.u:detach("close")
    return true
  end
  return self.u:close()
end
Socket.__close = Socket.close

--- s:closed() -> whether the socket was closed.
function Socket:closed() return self.u:closed() end

--- s:error() -> errno name | nil: the socket's pending error (SO_ERROR),
--- read as any getsockopt reads it: reading clears it.
function Socket:error() return self.u:so_error() end

--- s:get(name) -> the option's value | nil, msg, code.
function Socket:get(name)
  check.arg(name, "string", "get", 1)
  return self.u:get(name)
end

--- s:info() -> tcp_info as a table (state, rtt, rto, ...; times in seconds).
function Socket:info() return self.u:info() end

--- s:pending() -> bytes waiting in the receive queue.
function Socket:pending() return self.u:pending() end

-- Options whose value is a table of several kernel options.
local function set_keepalive(s, v)
  if type(v) == "boolean" then return s.u:setopt("keepalive", v) end
  if type(v) ~= "table" then
    error("option 'keepalive' takes a boolean or {idle =, interval =, count =}", 3)
  end
  for k in pairs(v) do
    if k ~= "idle" and k ~= "interval" and k ~= "count" then
      error("option 'keepalive': unknown field '" .. tostring(k) .. "' (idle, interval, count)", 3)
    end
  end
  local ok, msg, code = s.u:setopt("keepalive", true)
  if not ok then return nil, msg, code end
  for _, f in ipairs { { "idle", "keepidle" }, { "interval", "keepintvl" }, { "count", "keepcnt" } } do
    if v[f[1]] ~= nil then
      ok, msg, code = s.u:setopt(f[2], v[f[1]])
      if not ok then return nil, msg, code end
    end
  end
  return true
end

--- s:set{ name = value, ... } -> true | nil, msg, code. Unknown names and
--- bad values raise. linger = 0 is SO_LINGER {1, 0}.
function Socket:set(opts)
  if type(opts) ~= "table" then error("set: expected a table of options, got " .. type(opts), 2) end
  local names = {}
  for k in pairs(opts) do
    if type(k) ~= "string" then error("set: option names are strings", 2) end
    names[#names + 1] = k
  end
  table.sort(names)
  for _, k in ipairs(names) do
    local ok, msg, code
    if k == "keepalive" then
      ok, msg, code = set_keepalive(self, opts[k])
    else
      ok, msg, code = self.u:setopt(k, opts[k])
    end
    if not ok then return nil, msg, code end
  end
  return true
end

return M
