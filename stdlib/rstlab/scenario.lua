--- The scenario API: what a script's `t` is, and the calls on hosts and
--- sockets that look blocking but park the running actor on the loop.
---
--- Every actor is a coroutine started by rstlab.core.spawn; a waiting call
--- tries the non-blocking primitive first and parks only when the kernel has
--- nothing yet. Network failures return nil, message, code; misuse raises.

local core = require "rstlab.core"
local expect = require "rstlab.expect"
local ladder = require "rstlab.ladder"
local net = require "rstlab.net"
local reason = require "rstlab.reason"

local M = {}

-- ---------------------------------------------------------------------
-- failures

--- A failed assertion: raised as an error object, reported with where.
local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(f)
  return (f.where and (f.where .. ": ") or "") .. f.message
end
M.Failure = Failure

-- file:line of the script line `level` frames above the caller.
local function where(level)
  local info = debug.getinfo(level + 1, "Sl")
  if not info then return nil end
  return info.short_src .. ":" .. (info.currentline or 0)
end

-- The first frame outside the stdlib: the script line that called us.
local function script_where()
  for level = 2, 40 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.what ~= "C" and not info.source:match("^@stdlib/") then
      return info.short_src .. ":" .. (info.currentline or 0)
    end
  end
  return nil
end
M.script_where = script_where

local function fail(message, details)
  error(setmetatable({ message = message, where = script_where(), details = details },
    Failure), 0)
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

-- ---------------------------------------------------------------------
-- deadlines: every waiting call takes opts.timeout (seconds)

local function timeout_of(opts)
  if opts == nil then return nil end
  if type(opts) ~= "table" then
    error("options must be a table, got " .. type(opts), 3)
  end
  local t = opts.timeout
  if t ~= nil and (type(t) ~= "number" or not (t >= 0)) then -- NaN too
    error("timeout must be a non-negative number of seconds", 3)
  end
  return t
end

local function left(deadline)
  if not deadline then return -1 end
  local l = deadline - core.now()
  return l > 0 and l or 0
end

local function timed_out(what, secs)
  return nil, string.format("TIMEOUT: %s did not complete within %g s", what, secs), "TIMEOUT"
end

-- ---------------------------------------------------------------------
-- sockets: methods written over the C primitives

local Socket = core.metatable("Socket")
local smethods = Socket.__index
local sprops = {
  addr = function(s) return s:local_addr() end,
  local_addr = function(s) return s:local_addr() end,
  peer = function(s) return s:peer_addr() end,
  fd = function(s) return s:fileno() end,
}
Socket.__index = function(s, k)
  local m = smethods[k]
  if m ~= nil then return m end
  local p = sprops[k]
  if p ~= nil then return p(s) end
  return nil
end

-- Park until the socket is ready for mode, or the deadline passes.
local function park(s, mode, deadline, what, secs)
  local r = s:wait(mode, left(deadline))
  if r == "ready" then return true end
  if r == "closed" then return nil, "ECLOSED: the socket was closed while waiting", "ECLOSED" end
  return timed_out(what, secs)
end

--- sock:read(n [, {timeout = s, all = bool}]) -> data | nil, msg, code.
--- At most n bytes, taken from the kernel only now (no read-ahead). With
--- all = true, waits until exactly n bytes came. The orderly end of the
--- stream is nil, "EOF: ...", "EOF".
function smethods.read(s, n, opts)
  if math.type(n) ~= "integer" or n <= 0 then
    error("read: n must be a positive integer", 2)
  end
  local secs = timeout_of(opts)
  local deadline = secs and core.now() + secs
  local all = opts and opts.all
  local got, have = {}, 0
  while true do
    local data, msg, code = s:recv_now(n - have)
    if data == nil then
      return nil, msg, code
    elseif data == "" then
      if have > 0 then return table.concat(got) end
      return nil, "EOF: the peer closed the connection (FIN)", "EOF"
    elseif data then
      have = have + #data
      got[#got + 1] = data
      if not all or have >= n then return table.concat(got) end
    else
      local ok, m2, c2 = park(s, "r", deadline, "read", secs)
      if not ok then
        if have > 0 and c2 == "TIMEOUT" then return table.concat(got), m2, c2 end
        return nil, m2, c2
      end
    end
  end
end

--- sock:write(data [, {timeout = s}]) -> bytes written | nil, msg, code,
--- written so far. Waits while the send buffer is full.
function smethods.write(s, data, opts)
  if type(data) ~= "string" then error("write: data must be a string", 2) end
  local secs = timeout_of(opts)
  local deadline = secs and core.now() + secs
  local from = 1
  while from <= #data do
    local n, msg, code = s:send_now(data, from)
    if n == nil then return nil, msg, code, from - 1 end
    from = from + n
    if from <= #data and n == 0 then
      local ok, m2, c2 = park(s, "w", deadline, "write", secs)
      if not ok then return nil, m2, c2, from - 1 end
    end
  end
  return #data
end

--- sock:connect(addr [, {timeout = s}]) -> true | nil, msg, code.
function smethods.connect(s, addr, opts)
  local secs = timeout_of(opts)
  local deadline = secs and core.now() + secs
  local ok, msg, code = s:connect_start(addr)
  if ok == nil then return nil, msg, code end
  if ok then return true end
  local r, m2, c2 = park(s, "w", deadline, "connect to " .. addr, secs)
  if not r then return nil, m2, c2 end
  return s:connect_finish()
end

--- listener:accept([{timeout = s}]) -> Socket | nil, msg, code.
function smethods.accept(s, opts)
  local secs = timeout_of(opts)
  local deadline = secs and core.now() + secs
  while true do
    local c, msg, code = s:accept_now()
    if c == nil then return nil, msg, code end
    if c then
      local sc = M.current
      sc:hold(c)
      if sc.sock_host then sc.sock_host[c] = sc.sock_host[s] end -- born on the listener's host
      return c
    end
    local ok, m2, c2 = park(s, "r", deadline, "accept", secs)
    if not ok then return nil, m2, c2 end
  end
end

-- Options whose value is a table of several kernel options.
local function set_keepalive(s, v)
  if type(v) == "boolean" then return s:setopt("keepalive", v) end
  if type(v) ~= "table" then
    error("option 'keepalive' takes a boolean or {idle =, interval =, count =}", 3)
  end
  for k in pairs(v) do
    if k ~= "idle" and k ~= "interval" and k ~= "count" then
      error("option 'keepalive': unknown field '" .. tostring(k) .. "' (idle, interval, count)", 3)
    end
  end
  local ok, msg, code = s:setopt("keepalive", true)
  if not ok then return nil, msg, code end
  for field, opt in pairs { idle = "keepidle", interval = "keepintvl", count = "keepcnt" } do
    if v[field] ~= nil then
      ok, msg, code = s:setopt(opt, v[field])
      if not ok then return nil, msg, code end
    end
  end
  return true
end

--- sock:set{ name = value, ... } -> true | nil, msg, code. Unknown names
--- and bad values raise. linger = 0 is SO_LINGER {1, 0}.
function smethods.set(s, opts)
  if type(opts) ~= "table" then error("set: expected a table of options", 2) end
  local names = {}
  for k in pairs(opts) do names[#names + 1] = k end
  table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(names) do
    if type(k) ~= "string" then error("set: option names are strings", 2) end
    local ok, msg, code
    if k == "keepalive" then
      ok, msg, code = set_keepalive(s, opts[k])
    else
      ok, msg, code = s:setopt(k, opts[k])
    end
    if not ok then return nil, msg, code end
  end
  return true
end

-- ---------------------------------------------------------------------
-- hosts

local Host = {}
Host.__index = Host
M.Host = Host

local function family_of(addr)
  local fam, why = core.parse_addr(addr)
  if not fam then error(why .. ' (expected "ip:port" or "[ipv6]:port")', 3) end
  return fam
end

-- Options that are not socket options.
local call_keys = { timeout = true, backlog = true, bind = true, all = true }

local function split_opts(opts)
  if opts == nil then return {}, nil end
  if type(opts) ~= "table" then error("options must be a table", 3) end
  local sockopts, n = {}, 0
  for k, v in pairs(opts) do
    if not call_keys[k] then sockopts[k] = v; n = n + 1 end
  end
  return opts, n > 0 and sockopts or nil
end

--- h:socket(family) -> an unconnected Socket ("inet" or "inet6").
function Host:socket(family)
  if self.down then
    error("host " .. self.name .. " is down (crashed): reboot it before making sockets on it", 3)
  end
  local s, msg, code = core.socket(family or "inet", self.ns)
  if not s then return nil, msg, code end
  local sc = self.scenario
  -- Which host each socket lives on: a crash closes that host's sockets.
  sc.sock_host = sc.sock_host or setmetatable({}, { __mode = "k" })
  sc.sock_host[s] = self
  return sc:hold(s)
end

--- h:listen(addr [, opts]) -> listening Socket | nil, msg, code. Port 0
--- takes a free port from this scenario's own slice. opts: backlog, and
--- socket options set before bind.
function Host:listen(addr, opts)
  local fam = family_of(addr)
  local o, sockopts = split_opts(opts)
  local s, msg, code = self:socket(fam)
  if not s then return nil, msg, code end
  if sockopts then
    local ok, m, c = s:set(sockopts)
    if not ok then return nil, m, c end
  end
  local ok, m, c = s:bind(addr)
  if not ok then return nil, m, c end
  ok, m, c = s:listen(o.backlog or 128)
  if not ok then return nil, m, c end
  return s
end

--- h:connect(addr [, opts]) -> connected Socket | nil, msg, code. opts:
--- timeout, bind ("ip:port"), and socket options set before connect.
--- (To keep the socket of a failed connect, use h:socket() and s:connect.)
function Host:connect(addr, opts)
  local fam = family_of(addr)
  local o, sockopts = split_opts(opts)
  local s, msg, code = self:socket(fam)
  if not s then return nil, msg, code end
  if sockopts then
    local ok, m, c = s:set(sockopts)
    if not ok then return nil, m, c end
  end
  if o.bind then
    local ok, m, c = s:bind(o.bind)
    if not ok then return nil, m, c end
  end
  local ok, m, c = s:connect(addr, o)
  if not ok then return nil, m, c end
  return s
end

--- h:unused_port([family]) -> a port nothing listens on, from this
--- scenario's slice (for "connect to a closed port").
function Host:unused_port(family)
  local s = assert(self:socket(family or "inet"))
  assert(s:bind(family == "inet6" and "[::1]:0" or "127.0.0.1:0"))
  local port = tonumber(s:local_addr():match(":(%d+)$"))
  s:close()
  return port
end

--- h:sockets([{state = "TIME_WAIT" | states = {...}, port = n}]) -> list of
--- the kernel's TCP sockets on this host (sock_diag), each { state, src,
--- dst, rqueue, wqueue, timer, expires, retrans }.
function Host:sockets(filter)
  filter = filter or {}
  local states = filter.states or (filter.state and { filter.state }) or nil
  local list, msg, code = self.ns:sockets(states)
  if not list then return nil, msg, code end
  if filter.port then
    local keep = {}
    for _, s in ipairs(list) do
      if s.src:match(":(%d+)$") == tostring(filter.port)
        or s.dst:match(":(%d+)$") == tostring(filter.port) then
        keep[#keep + 1] = s
      end
    end
    list = keep
  end
  return list
end

--- h:capture([{iface =, filter = "tcp"}]) -> Capture: live when this
--- returns; every packet on the host's interfaces is this scenario's own.
--- Without iface, it captures every interface of the host: lo and the
--- ends of its links, also those linked later, in one timeline.
function Host:capture(opts)
  opts = opts or {}
  local sc = self.scenario
  sc.reasons:open()
  local ifaces = opts.iface and { opts.iface } or self.ifaces or { "lo" }
  local iface = ifaces[1]
  local c, msg, code = core.capture(self.ns, iface, opts.filter, self.name .. ":" .. iface)
  if not c then return nil, msg, code end
  sc:hold(c)
  local cap = setmetatable({ c = c, scenario = sc, host = self, filter = opts.filter }, M.Capture)
  for i = 2, #ifaces do cap:add(self, ifaces[i]) end
  if not opts.iface and self.following then
    self.following[#self.following + 1] = cap
  end
  sc.captures[#sc.captures + 1] = cap
  return cap
end

-- ---------------------------------------------------------------------
-- captures and expectations

local Capture = {}
Capture.__index = Capture
M.Capture = Capture

--- cap:packets() -> list of packet tables captured so far.
function Capture:packets()
  local out = {}
  for i = 1, self.c:count() do out[i] = self.c:packet(i) end
  return out
end

--- cap:write(path) -> true | nil, msg: the capture as a pcap file.
function Capture:write(path) return self.c:write(path) end

--- cap:close(): stop capturing (packets stay readable).
function Capture:close() self.c:close() end

-- The endpoint text for a bind value: a socket's local address or a
-- string "ip:port".
local function endpoint(name, v)
  if type(v) == "string" then
    if not core.parse_addr(v) then
      error("expect: endpoint " .. name .. " = " .. show(v) .. " is not \"ip:port\"", 4)
    end
    return v
  end
  local ok, addr = pcall(function() return v.addr end)
  if ok and type(addr) == "string" then return addr end
  error("expect: endpoint " .. tostring(name) .. " must be a socket or \"ip:port\", got "
    .. type(v), 4)
end

--- cap:expect(binds, text [, {timeout = 2}]) -> true. Matches the packet
--- sequence as it arrives (see README: expectation text). On mismatch the
--- scenario fails with the expectation and the capture side by side.
function Capture:expect(binds, text, opts)
  if type(binds) ~= "table" then error("expect: first argument must be a table of endpoints", 2) end
  if type(text) ~= "string" then error("expect: second argument must be the expectation text", 2) end
  local at = where(2)
  local ok, spec = pcall(expect.parse, text, binds)
  if not ok then
    -- Name the script line of the bad expectation line when it can be found.
    local info, n = debug.getinfo(2, "Sl"), tostring(spec):match("^expectation line (%d+):")
    local line = n and expect.locate(text, info.source, info.currentline, tonumber(n))
    error((line and (info.short_src .. ":" .. line) or at) .. ": " .. tostring(spec), 0)
  end
  local eps = {}
  for name, v in pairs(binds) do eps[name] = endpoint(name, v) end
  local c, sc = self.c, self.scenario
  local source = {}
  function source.now() return core.wallclock() end
  function source.packet(_, i, deadline)
    local r = c:wait(i, math.max(0, deadline - core.wallclock()))
    if r ~= "ready" then return nil end
    return c:packet(i)
  end
  function source.reason(_, pkt) return sc.reasons:of(c, pkt) end
  local matched, report = expect.match(spec, eps, source, { timeout = timeout_of(opts) or 2 })
  self.last_expect = { binds = eps, spec = spec, report = report } -- for the result record
  for _, u in ipairs(report.unchecked or {}) do
    sc.unchecked[#sc.unchecked + 1] = at .. ": " .. u
  end
  if not matched then
    sc.failed_capture = self
    error(setmetatable({ message = "expectation failed: " .. (report.message or "?"),
      where = at, details = expect.format_report(spec, report) }, Failure), 0)
  end
  return true
end

--- cap:ladder(binds) -> the capture as a ladder diagram (text).
function Capture:ladder(binds)
  local eps = {}
  for name, v in pairs(binds) do eps[name] = endpoint(name, v) end
  return ladder.render(self:packets(), eps, {})
end

--- default_binds(packets) -> { A = first sender, B = its peer }: names for
--- a ladder of a capture the script did not name.
function M.default_binds(packets)
  local p = packets[1]
  if not p then return {} end
  return { A = p.src, B = p.dst }
end

-- ---------------------------------------------------------------------
-- the scenario object `t`

local T = {}
T.__index = T
M.T = T

--- t:hold(obj) -> obj: the scenario keeps obj until it ends.
function T:hold(obj)
  self.objects[#self.objects + 1] = obj
  return obj
end

--- t:eq(got, want [, what]): got == want.
function T:eq(got, want, what)
  if got ~= want then
    fail((what and (what .. ": ") or "") .. "expected " .. show(want) .. ", got " .. show(got))
  end
  return got
end

--- t:ok(v [, what, ...]): v is true-ish; the rest of a failed call's
--- returns (message) are shown.
function T:ok(v, what, ...)
  if not v then
    local extra = select("#", ...) > 0 and (" (" .. tostring((...)) .. ")") or ""
    fail((what or "expected a true value, got " .. show(v)) .. extra)
  end
  return v
end

--- t:fails_with(code, ...): the returns of a call that must have failed
--- with code ("ECONNRESET", "EOF", "TIMEOUT", ...).
function T:fails_with(code, v, msg, got)
  if v ~= nil then
    fail("expected failure " .. code .. ", but the call succeeded and returned " .. show(v))
  end
  if got ~= code then
    fail("expected failure " .. code .. ", got " .. tostring(got) .. " (" .. tostring(msg) .. ")")
  end
  return true
end

--- t:fail(message): fail the scenario here.
function T:fail(message) fail(message) end

--- t:skip(reason): end the scenario as skipped.
function T:skip(reason)
  error(setmetatable({ message = reason, where = script_where(), skip = true }, Failure), 0)
end

--- t:sleep(seconds)
function T:sleep(secs)
  if type(secs) ~= "number" or secs < 0 then error("sleep: seconds must be a non-negative number", 2) end
  core.sleep(secs)
end

--- t:now() -> seconds since the scenario started.
function T:now() return core.now() - self.started end

--- t:log(...): a line in the scenario's output (shown with -v or on failure).
function T:log(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  self.logs[#self.logs + 1] = table.concat(parts, " ")
end

-- Errors escaping an actor: a Failure as it is, anything else with its
-- traceback.
local function handler(e)
  if getmetatable(e) == Failure then return e end
  -- Name the script line that made the failing call, not a line of the
  -- stdlib or a C function in between.
  local msg = tostring(e)
  local at = script_where()
  if at then
    msg = msg:match("^stdlib/[^:]+:%d+: (.*)$") or msg
    if not msg:match("^[^%s:]+:%d+: ") then msg = at .. ": " .. msg end
  end
  return { message = msg, traceback = debug.traceback(nil, 2) }
end

local function run_actor(t, fn, ...)
  local ok, err = xpcall(fn, handler, ...)
  if not ok then t:record(err) end
end

function T:record(err)
  if self.outcome then return end
  self.outcome = err
  self.done = true
end

--- t:go(fn, ...): start another actor; an error in it fails the scenario.
function T:go(fn, ...)
  if type(fn) ~= "function" then error("go: expected a function", 2) end
  local co = core.spawn(run_actor, self, fn, ...)
  self.actors[#self.actors + 1] = co
  return co
end

-- ---------------------------------------------------------------------
-- running one scenario in this process (already inside its sandbox)

local PACKET_FIELDS = { "index", "ts", "src", "dst", "flags", "seq", "ack", "win", "len",
  "ttl", "mss", "wscale", "sackok", "tsval", "tsecr", "sack", "iface" }
local MAX_RECORD_PACKETS = 2000

--- capture_record(cap) -> { name, binds, packets, marks, failed, truncated }:
--- a capture as plain data for the runner's ladders and reports. binds are
--- those of the capture's last expectation (else A and B); marks[i] is the
--- expectation line matched by packet i, failed the packet of the line
--- that did not match.
function M.capture_record(cap)
  local all = cap:packets()
  local rec = { name = all[1] and all[1].iface or (cap.host and cap.host.name or "capture"),
    packets = {} }
  for i = 1, math.min(#all, MAX_RECORD_PACKETS) do
    local p, q = all[i], {}
    for _, k in ipairs(PACKET_FIELDS) do q[k] = p[k] end
    rec.packets[i] = q
  end
  if #all > MAX_RECORD_PACKETS then rec.truncated = #all - MAX_RECORD_PACKETS end
  local last = cap.last_expect
  if last then
    rec.binds, rec.marks = last.binds, {}
    local rep = last.report
    for k, line in ipairs(rep.lines) do
      local pos = line.packet or (line.status == "fail" and line.nearest) or nil
      local ci = pos and rep.capture_index[pos]
      if ci then
        local rec_line = last.spec[k]
        local text = string.format("%d: %s", rec_line.lineno, rec_line.code)
        if k == rep.first_failure then
          text = ">> " .. text .. (line.packet and "" or " (nearest miss)")
          rec.failed = ci
        end
        rec.marks[ci] = text
      end
    end
  else
    rec.binds = M.default_binds(all)
  end
  return rec
end

--- M.run(decl, opts) -> result table { status = "pass"|"fail"|"error"|"skip",
--- message, where, details, traceback, unchecked, pcap, duration, logs,
--- captures (with opts.packets: capture_record of each capture) }.
function M.run(decl, opts)
  opts = opts or {}
  local t = setmetatable({
    objects = {}, actors = {},
    captures = {}, unchecked = {}, logs = {}, started = core.now(), name = decl.name,
    reasons = reason.new(opts.trace_instance),
  }, T)
  M.current = t
  t.host = setmetatable({ ns = core.host_self("host"), name = "host", scenario = t }, Host)
  net.init_host(t.host)
  local timeout = decl.opts.timeout or opts.timeout or 30
  -- An actor that never waits keeps the loop (and the timeout below) from
  -- running: the watchdog interrupts it where it runs.
  core.watchdog(timeout + 0.25, string.format(
    "scenario timed out after %g s while running here, without ever waiting (a busy loop?)", timeout))
  local main = core.spawn(function()
    run_actor(t, decl.fn, t)
    t.done = true
  end)
  t.actors[1] = main
  core.spawn(function()
    core.sleep(timeout)
    if not t.done then
      local where_waiting, at = {}, nil
      for i, co in ipairs(t.actors) do
        if coroutine.status(co) == "suspended" then
          where_waiting[#where_waiting + 1] = debug.traceback(co, "actor " .. i .. " was waiting")
          for level = 0, 40 do -- the script line it waits at
            local info = debug.getinfo(co, level, "Sl")
            if not info or at then break end
            if info.what ~= "C" and not info.source:match("^@stdlib/") then
              at = string.format("actor %d waiting at %s:%d", i, info.short_src, info.currentline or 0)
            end
          end
        end
      end
      t:record({ message = string.format("scenario timed out after %g s", timeout)
          .. (at and (" (" .. at .. ")") or ""),
        traceback = table.concat(where_waiting, "\n"), timeout = true })
    end
  end)
  while not t.done do
    local fatal = core.step(true)
    if fatal then t:record({ message = fatal }) end
  end
  core.watchdog(0)
  local r = { duration = core.now() - t.started, unchecked = t.unchecked, logs = t.logs }
  local e = t.outcome
  if e == nil then
    r.status = "pass"
  elseif e.skip then
    r.status, r.message, r.where = "skip", e.message, e.where
  elseif getmetatable(e) == Failure then
    r.status, r.message, r.where, r.details = "fail", e.message, e.where, e.details
  else
    r.status, r.message, r.traceback = "error", e.message, e.traceback
    r.timeout = e.timeout
  end
  -- Keep the packets of a scenario that did not pass, or when asked to.
  if (r.status == "fail" or r.status == "error" or opts.pcap_always) and opts.pcap_path then
    local paths = {}
    for i, cap in ipairs(t.captures) do
      local p = opts.pcap_path .. (i > 1 and ("-" .. i) or "") .. ".pcap"
      if cap.c:write(p) then paths[#paths + 1] = p end
    end
    if #paths > 0 then r.pcap = table.concat(paths, " ") end
  end
  if opts.packets then
    r.captures = {}
    for i, cap in ipairs(t.captures) do r.captures[i] = M.capture_record(cap) end
  end
  if r.status ~= "pass" and #t.captures > 0 and not r.details then
    -- Show what crossed the wire, to help read an error.
    local cap = t.failed_capture or t.captures[1]
    local pkts = cap:packets()
    r.details = #pkts == 0 and "the capture holds no packets"
      or ("what the capture holds:\n" .. ladder.render(pkts, M.default_binds(pkts), { ascii = opts.ascii }))
  end
  -- What is still open is closed now, in the reverse order of creation.
  -- A scenario process about to exit (opts.exiting) leaves its captures to
  -- the kernel: closing a packet socket takes tens of milliseconds.
  for i = #t.objects, 1, -1 do
    local o = t.objects[i]
    if getmetatable(o) == Socket or not opts.exiting then o:close() end
  end
  if not opts.exiting then reason.child_done() end
  M.current = nil
  return r
end

net.install(M) -- hosts, links and faults (rstlab.net)

return M
