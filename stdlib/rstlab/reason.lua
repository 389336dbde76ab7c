--- rstlab.reason: why the kernel sent each RST.
---
--- The reason comes from the tcp:tcp_send_reset tracepoint (core/trace.c),
--- read in a tracing instance: one per runner job slot, made by the first
--- scenario of that slot that captures, removed by the runner when the run
--- ends (making and removing an instance costs tens of milliseconds and the
--- kernel serialises it). The tracepoint is global to the machine, so a
--- scenario takes a private slice of ports (core/sandbox.c) and an event
--- counts as its own only when the RST's ports are in that slice.
---
--- A reason is attributed to a captured RST only when it is certain;
--- anything else is said as "unchecked: why", never as passed.
---
--- Runner side:   reason.pool(jobs), reason.pool_close(pool),
---                reason.after_kill(pid), reason.child_done()
--- Scenario side: reason.new(instance) -> a Reasons object per scenario.

local core = require "rstlab.core"
local tcpflags = require "rstlab.tcpflags"

local M = {}

-- ---------------------------------------------------------------------
-- the runner's pool of tracing instances

--- pool(jobs) -> { [slot] = instance name }: one name per job slot, empty
--- when the tracepoint cannot be read here (then every reason is
--- unchecked). The instances themselves are made by the scenarios.
function M.pool(jobs)
  local pool = {}
  if core.prepare_tracing() then
    for k = 1, jobs do pool[k] = "rstlab-" .. core.pid() .. "-" .. k end
  end
  return pool
end

--- pool_close(pool): remove the pool's instances (those that were made).
function M.pool_close(pool)
  for _, name in pairs(pool or {}) do core.trace_destroy(name) end
end

--- after_kill(pid): remove the instance of its own that a scenario process
--- killed before it could do so left behind.
function M.after_kill(pid)
  core.trace_remove(pid ~= 0 and pid or 0)
end

--- child_done(): a scenario process lets go of its reader before it exits.
function M.child_done()
  core.trace_close()
end

-- ---------------------------------------------------------------------
-- a scenario's events

local Reasons = {}
Reasons.__index = Reasons

--- new(instance) -> Reasons: the events of one scenario, read from the
--- runner's slot instance `instance` (or an instance of this process's own
--- when nil), opened on first use.
function M.new(instance)
  return setmetatable({ instance = instance, state = nil, why = nil, events = {} }, Reasons)
end

--- r:open(): start reading events (once; a capture calls it before it is
--- live, so no RST it sees can come before its event was readable).
function Reasons:open()
  if self.state == nil then
    local ok, why = core.trace_open(self.instance)
    self.state = ok and true or false
    self.why = why
  end
end

--- r:sync() -> number of events read so far (after reading what the
--- kernel holds now).
function Reasons:sync()
  if self.state then
    for _, e in ipairs(core.trace_events(#self.events + 1)) do
      self.events[#self.events + 1] = e
    end
  end
  return #self.events
end

--- r:suppress_since(n, why): the events after the n-th belong to RSTs that
--- never reached a wire (a crash's, dropped in its host's firewall): they
--- are never taken as the reason of a captured RST.
function Reasons:suppress_since(n, why)
  for i = n + 1, self:sync() do self.events[i].suppressed = why end
end

--- r:of(c, pkt) -> reason | nil, why: the kernel's reason for the captured
--- RST pkt of capture c (its count() and packet(i)), only when unambiguous.
function Reasons:of(c, pkt)
  if not self.state then
    return nil, "the tcp_send_reset tracepoint is not available (" .. tostring(self.why) .. ")"
  end
  local lo, hi = core.sandbox_ports()
  local sport, dport = pkt.sport, pkt.dport
  if lo == 0 or not ((sport >= lo and sport <= hi) or (dport >= lo and dport <= hi)) then
    return nil, "neither port is in this scenario's own slice, so a trace event could be another's"
  end
  -- The RSTs of this capture with the same addresses, and pkt's rank (on
  -- pkt's interface only: a capture of both ends of a link sees each
  -- packet twice).
  local rank, nrst = 0, 0
  for i = 1, c:count() do
    local p = c:packet(i)
    if tcpflags.has(p.flags, "R") and p.src == pkt.src and p.dst == pkt.dst
      and p.iface == pkt.iface then
      nrst = nrst + 1
      if p.index == pkt.index then rank = nrst end
    end
  end
  -- The tracepoint fires before the packet is sent, so its line is there
  -- by the time the capture has the packet; read what is pending.
  self:sync()
  local match = {}
  for _, e in ipairs(self.events) do
    -- A RST sent for a listener names the listener's own address with
    -- destination 0.0.0.0:0 (or [::]:0).
    if not e.suppressed and e.src == pkt.src
      and (e.dst == pkt.dst or e.dst == "0.0.0.0:0" or e.dst == "[::]:0") then
      match[#match + 1] = e
    end
  end
  if #match == 0 then
    return nil, "no tcp_send_reset event for " .. pkt.src .. " > " .. pkt.dst
  end
  if #match ~= nrst then
    return nil, string.format("%d tcp_send_reset events for %d RSTs %s > %s: ambiguous",
      #match, nrst, pkt.src, pkt.dst)
  end
  return match[rank].reason
end

return M
