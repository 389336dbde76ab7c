--- rstlab.scenario: the scenario object `t` and the run of one scenario.
---
--- A scenario runs in its own process (forked by the runner), already
--- inside its sandbox: a fresh network namespace, lo up, a port slice.
--- M.run makes `t`, starts the scenario's function as the first actor (a
--- coroutine parked on the libev loop whenever it waits), and returns a
--- plain result record when every actor is done, one failed, or the
--- scenario's timeout passed.
---
--- What a script holds lives in a module of its own, beside its binding:
--- rstlab.host (sockets, faults), rstlab.socket, rstlab.link,
--- rstlab.capture (expectations), rstlab.reason (why each RST).

local core = require "rstlab.core"
local capture = require "rstlab.capture"
local check = require "rstlab.check"
local expect = require "rstlab.expect"
local failure = require "rstlab.failure"
local host = require "rstlab.host"
local ladder = require "rstlab.ladder"
local link = require "rstlab.link"
local reason = require "rstlab.reason"
local socket = require "rstlab.socket"
local process = require "rstlab.process"

local M = {}

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

-- ---------------------------------------------------------------------
-- the scenario object `t`

local T = {}
T.__index = T
T.__name = "rstlab.Scenario"

--- t:hold(obj) -> obj: the scenario keeps obj (anything with :close())
--- until it ends, then closes it.
function T:hold(obj)
  self.objects[#self.objects + 1] = obj
  return obj
end

--- t:check_host(h, what) -> h: h must be a host of this scenario.
function T:check_host(h, what)
  if not host.is(h) or h.scenario ~= self then
    error(what .. " must be a host of this scenario (t.host or t:add_host)", 3)
  end
  return h
end

local NAME_PAT = "^[%a_][%w_%-]*$"

-- Every host's teardown, once, after the scenario's other objects: kill
-- what TCP state is left (orphans of the final closes would otherwise keep
-- a namespace alive in the kernel until their retransmissions give up),
-- then let go of the namespaces.
local function hold_teardown(t)
  if t.net_teardown then return end
  t.net_teardown = {
    close = function()
      for _, h in ipairs(t.hosts) do
        if h.nlinks > 0 or h ~= t.host then pcall(h.ns.kill_tcp, h.ns) end
      end
      for _, h in ipairs(t.hosts) do
        if h ~= t.host then h.ns:close() end
      end
    end,
  }
  t:hold(t.net_teardown)
end

--- t:add_host(name) -> Host: another machine, a network namespace of its
--- own with lo up; its sockets are created in it and driven by the same
--- loop. t.host stays the scenario's first host; t.hosts lists them all.
function T:add_host(name)
  if type(name) ~= "string" or not name:match(NAME_PAT) or #name > 32 then
    error("add_host: the name must be a word (letters, digits, _ and -), got " .. tostring(name), 2)
  end
  for _, h in ipairs(self.hosts) do
    if h.name == name then error("add_host: there is a host named " .. name .. " already", 2) end
  end
  local ns, msg = core.host_new(name)
  if not ns then error("add_host " .. name .. ": " .. msg, 2) end
  local h = host.new(self, ns, name)
  self.hosts[#self.hosts + 1] = h
  hold_teardown(self)
  return h
end

--- t:link(a, b [, {a = "10.0.0.1/24", b = "10.0.0.2/24", a_if =, b_if =}])
--- -> Link: a veth pair between hosts a and b (see rstlab.link).
function T:link(a, b, opts)
  self:check_host(a, "link: the first host")
  self:check_host(b, "link: the second host")
  hold_teardown(self)
  local l = link.new(self, a, b, opts)
  self.links[#self.links + 1] = l
  return l
end

--- t:eq(got, want [, what]): got == want.
function T:eq(got, want, what)
  if got ~= want then
    failure.raise((what and (what .. ": ") or "") .. "expected " .. show(want) .. ", got " .. show(got))
  end
  return got
end

--- t:ok(v [, what, ...]): v is true-ish; the rest of a failed call's
--- returns (message) are shown.
function T:ok(v, what, ...)
  if not v then
    local extra = select("#", ...) > 0 and (" (" .. tostring((...)) .. ")") or ""
    failure.raise((what or "expected a true value, got " .. show(v)) .. extra)
  end
  return v
end

--- t:fails_with(code, ...): the returns of a call that must have failed
--- with code ("ECONNRESET", "EOF", "TIMEOUT", ...).
function T:fails_with(code, v, msg, got)
  if v ~= nil then
    failure.raise("expected failure " .. code .. ", but the call succeeded and returned " .. show(v))
  end
  if got ~= code then
    failure.raise("expected failure " .. code .. ", got " .. tostring(got) .. " (" .. tostring(msg) .. ")")
  end
  return true
end

--- t:fail(message): fail the scenario here.
function T:fail(message)
  check.arg(message, "string", "fail", 1)
  failure.raise(message)
end

--- t:skip(reason): end the scenario as skipped.
function T:skip(reason)
  check.arg(reason, "string", "skip", 1)
  failure.raise(reason, { skip = true })
end

local RESETS_KEYS = { src = true, dst = true, reason = true }

--- t:resets([{src =, dst =, reason =}]) -> the RSTs the kernels of this
--- scenario announced (tcp_send_reset events with a port of its slice),
--- oldest first: { ts, src, dst, sport, dport, state, reason, wire }, wire
--- true when a capture of the scenario holds the RST itself. src and dst
--- filter by "ip:port" or "ip". Empty when the tracepoint cannot be read:
--- check t:resets_checked() before asserting that none was sent.
function T:resets(filter)
  filter = check.opts(filter, RESETS_KEYS, "resets")
  return self.reasons:list(self.captures, filter)
end

--- t:resets_checked() -> true | false, why: whether t:resets() can see
--- the kernel's RSTs here (the tracepoint is open once a capture is).
function T:resets_checked()
  self.reasons:open()
  if self.reasons.state then return true end
  return false, self.reasons.why
end

--- t:sleep(seconds)
function T:sleep(secs)
  if type(secs) ~= "number" or not (secs >= 0) then
    error("sleep: seconds must be a non-negative number, got " .. tostring(secs), 2)
  end
  core.sleep(secs)
end

--- t:now() -> seconds since the scenario started, on the clock of the
--- captured packets (their `t`) and of marks: the real-time clock
--- (CLOCK_REALTIME, what the kernel stamps packets with), counted from the
--- scenario's start. (Timers and timeouts run on the monotonic clock; the
--- two only part when the machine's clock is stepped.)
function T:now() return core.wallclock() - self.t0 end

local MARK_PAT = expect.MARK_PAT

--- t:mark(name [, time]) -> time: remember the time now (or the given
--- time, in t:now() seconds) under name, for expectations: `after NAME T`
--- times a packet from it, cap:expect(..., { from = NAME }) starts there.
--- Marking a name again moves the mark; t.marks[name] reads it.
function T:mark(name, time)
  if type(name) ~= "string" or not name:match(MARK_PAT) then
    error("mark: the name must be a word that starts with a letter (letters, digits, _ and -), got "
      .. tostring(name), 2)
  end
  if time ~= nil and (type(time) ~= "number" or time ~= time or math.abs(time) == math.huge) then
    error("mark: the time must be a number of seconds (as t:now() gives), got " .. tostring(time), 2)
  end
  time = time or self:now()
  self.marks[name] = time
  return time
end

--- t:log(...): a line in the scenario's output (shown with -v or on failure).
function T:log(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  self.logs[#self.logs + 1] = table.concat(parts, " ")
end

-- Errors escaping an actor: a Failure as it is, anything else with the
-- script line that made the failing call (not a line of the stdlib or a C
-- function in between) and the traceback.
local function handler(e)
  if failure.is(e) then return e end
  local msg = tostring(e)
  local at = failure.script_where()
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

--- t:go(fn, ...): start another actor; an error in it fails the scenario,
--- and the scenario ends only when it has ended too (or at the timeout,
--- which then says where it waited).
function T:go(fn, ...)
  check.arg(fn, "function", "go", 1)
  local co = core.spawn(run_actor, self, fn, ...)
  self.actors[#self.actors + 1] = co
  return co
end

-- ---------------------------------------------------------------------
-- running one scenario in this process (already inside its sandbox)

-- The scenario's timeout: say where each actor waits.
local function timed_out(t, timeout)
  local where_waiting, at, where = {}, nil, nil
  for i, co in ipairs(t.actors) do
    if coroutine.status(co) == "suspended" then
      where_waiting[#where_waiting + 1] = debug.traceback(co, "actor " .. i .. " was waiting")
      local w = failure.script_where(co)
      if w and not at then at, where = string.format("actor %d waiting at %s", i, w), w end
    end
  end
  t:record({ message = string.format("scenario timed out after %g s", timeout)
      .. (at and (" (" .. at .. ")") or ""), where = where,
    traceback = table.concat(where_waiting, "\n"), timeout = true })
end

--- M.run(decl, opts) -> result table { status = "pass"|"fail"|"error"|"skip",
--- message, where, details, traceback, unchecked, pcap (the paths, joined
--- by spaces), pcaps (the same as a list), duration, logs,
--- captures (with opts.packets: capture_record of each capture),
--- programs (each spawned program's p:record()) }.
function M.run(decl, opts)
  opts = opts or {}
  local scale = opts.time_scale or 1
  local t = setmetatable({
    objects = {}, actors = {}, hosts = {}, links = {}, injected = {},
    captures = {}, unchecked = {}, logs = {}, started = core.now(), name = decl.name,
    t0 = core.wallclock(), marks = {},
    reasons = reason.new(), scale = scale,
  }, T)
  t.host = host.new(t, core.host_self("host"), "host")
  t.hosts[1] = t.host
  -- What the scenario's kernels sent, for a RST whose reason reads "none"
  -- (every host of a scenario is a namespace of its own, its counters
  -- from 0; a scenario in the caller's namespace counts the caller's).
  t.reasons:count_sent(function()
    local n = 0
    for _, h in ipairs(t.hosts) do
      local c, msg = h:counters()
      if not c then return nil, "the counters of host " .. h.name .. ": " .. tostring(msg) end
      n = n + c["Tcp.OutRsts"]
    end
    return n
  end)
  local timeout = (decl.opts.timeout or opts.timeout or 30) * scale
  -- An actor that never waits keeps the loop (and the timeout below) from
  -- running: the watchdog interrupts it where it runs.
  local busy = string.format(
    "scenario timed out after %g s while running here, without ever waiting (a busy loop?)", timeout)
  core.watchdog(timeout + 0.25, busy)
  -- The scenario ends when every actor has ended (its function and each
  -- t:go), when one fails, or at the timeout: an actor's check after the
  -- function returned still counts.
  local function ended()
    if t.done then return true end
    for _, co in ipairs(t.actors) do
      if coroutine.status(co) ~= "dead" then return false end
    end
    return true
  end
  local main = core.spawn(run_actor, t, decl.fn, t)
  t.actors[1] = main
  core.spawn(function()
    core.sleep(timeout)
    if not ended() then timed_out(t, timeout) end
  end)
  while not ended() do
    local fatal = core.step(true)
    if fatal then t:record({ message = fatal }) end
  end
  core.watchdog(0)
  local r = { duration = core.now() - t.started, unchecked = t.unchecked, logs = t.logs }
  local e = t.outcome
  if e == nil and opts.strict and #t.unchecked > 0 then
    r.status, r.message = "fail", string.format("%d check%s could not be made (--strict): %s",
      #t.unchecked, #t.unchecked > 1 and "s" or "", t.unchecked[1])
  elseif e == nil then
    r.status = "pass"
  elseif e.skip then
    r.status, r.message, r.where = "skip", e.message, e.where
  elseif failure.is(e) then
    r.status, r.message, r.where, r.details = "fail", e.message, e.where, e.details
  else
    r.status, r.message, r.traceback, r.where = "error", e.message, e.traceback, e.where
    -- the watchdog's error is a timeout too
    r.timeout = e.timeout or tostring(e.message):find(busy, 1, true) ~= nil
  end
  -- Keep the packets of a scenario that did not pass, or when asked to.
  if (r.status == "fail" or r.status == "error" or opts.pcap_always) and opts.pcap_path then
    local paths = {}
    for i, cap in ipairs(t.captures) do
      local p = opts.pcap_path .. (i > 1 and ("-" .. i) or "") .. ".pcap"
      if cap.c:write(p) then paths[#paths + 1] = p end
    end
    if #paths > 0 then r.pcap, r.pcaps = table.concat(paths, " "), paths end
  end
  -- The programs the scenario spawned, with what they wrote (the reports
  -- show it). Taken before they are ended below: a program still running
  -- says "running".
  if t.programs then
    r.programs = {}
    for i, p in ipairs(t.programs) do r.programs[i] = p:record() end
  end
  if opts.packets then
    r.captures = {}
    for i, cap in ipairs(t.captures) do r.captures[i] = capture.record(cap) end
  end
  if r.status ~= "pass" and #t.captures > 0 and not r.details then
    -- Show what crossed the wire, to help read an error.
    local cap = t.failed_capture or t.captures[1]
    local pkts = cap:packets()
    r.details = #pkts == 0 and "the capture holds no packets"
      or ("what the capture holds:\n" .. ladder.render(pkts, capture.default_binds(pkts), { ascii = opts.ascii }))
  end
  -- What is still open is closed now, in the reverse order of creation.
  -- A scenario process about to exit (opts.exiting) leaves its captures to
  -- the kernel: closing a packet socket takes tens of milliseconds.
  for i = #t.objects, 1, -1 do
    local o = t.objects[i]
    if socket.is(o) or process.is(o) or not opts.exiting then o:close() end
  end
  if not opts.exiting then t.reasons:close() end
  return r
end

return M
