--- rstlab.socket: a script's TCP socket (beside bindings/lsocket.c).
---
--- A Socket is a Lua object holding the C socket (`u`, a rstlab.Socket
--- userdata: non-blocking primitives such as recv_now and wait). Calls that
--- look blocking try the primitive first and park the running actor on the
--- loop only when the kernel has nothing yet. Network failures return
--- nil, message, code; misuse raises at the script's line.
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

local READ_KEYS = { timeout = true, all = true }
local TIMEOUT_KEYS = { timeout = true }

--- s:read(n [, {timeout = s, all = bool}]) -> data | nil, msg, code.
--- At most n bytes, taken from the kernel only now (no read-ahead). With
--- all = true, waits until exactly n bytes came. recv() returning 0 is
--- nil, "EOF: ...", "EOF".
function Socket:read(n, opts)
  if math.type(n) ~= "integer" or n <= 0 then
    error("read: n must be a positive integer, got " .. tostring(n), 2)
  end
  opts = check.opts(opts, READ_KEYS, "read")
  local secs = check.timeout(opts, "read")
  local deadline = secs and core.now() + secs
  local got, have = {}, 0
  while true do
    local data, msg, code = self.u:recv_now(n - have)
    if data == nil then
      return nil, msg, code
    elseif data == "" then
      if have > 0 then return table.concat(got) end
      return core.fail("EOF", "the peer closed the connection (FIN)")
    elseif data then
      have = have + #data
      got[#got + 1] = data
      if not opts.all or have >= n then return table.concat(got) end
    else
      local ok, m2, c2 = park(self, "r", deadline, "read", secs)
      if not ok then
        if have > 0 and c2 == "TIMEOUT" then return table.concat(got), m2, c2 end
        return nil, m2, c2
      end
    end
  end
end

--- s:write(data [, {timeout = s}]) -> bytes written | nil, msg, code,
--- bytes written so far. Waits while the send buffer is full.
function Socket:write(data, opts)
  check.arg(data, "string", "write", 1)
  opts = check.opts(opts, TIMEOUT_KEYS, "write")
  local secs = check.timeout(opts, "write")
  local deadline = secs and core.now() + secs
  local from = 1
  while from <= #data do
    local n, msg, code = self.u:send_now(data, from)
    if n == nil then return nil, msg, code, from - 1 end
    from = from + n
    if from <= #data and n == 0 then
      local ok, m2, c2 = park(self, "w", deadline, "write", secs)
      if not ok then return nil, m2, c2, from - 1 end
    end
  end
  return #data
end

--- s:connect(addr [, {timeout = s}]) -> true | nil, msg, code.
function Socket:connect(addr, opts)
  check.arg(addr, "string", "connect", 1)
  opts = check.opts(opts, TIMEOUT_KEYS, "connect")
  local secs = check.timeout(opts, "connect")
  local deadline = secs and core.now() + secs
  local ok, msg, code = self.u:connect_start(addr)
  remember(self)
  if ok == nil then return nil, msg, code end
  if ok then return true end
  local r, m2, c2 = park(self, "w", deadline, "connect to " .. addr, secs)
  if not r then return nil, m2, c2 end
  return self.u:connect_finish()
end

--- listener:accept([{timeout = s}]) -> Socket | nil, msg, code. The new
--- socket lives on the listener's host.
function Socket:accept(opts)
  opts = check.opts(opts, TIMEOUT_KEYS, "accept")
  local secs = check.timeout(opts, "accept")
  local deadline = secs and core.now() + secs
  while true do
    local c, msg, code = self.u:accept_now()
    if c == nil then return nil, msg, code end
    if c then return M.wrap(c, self.host) end
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

--- s:close(): idempotent; __close and __gc of the C socket take the same path.
function Socket:close() return self.u:close() end
Socket.__close = Socket.close

--- s:closed() -> whether the socket was closed.
function Socket:closed() return self.u:closed() end

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
