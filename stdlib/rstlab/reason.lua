--- rstlab.reason: why the kernel sent each RST.
---
--- The reason comes from the tcp:tcp_send_reset tracepoint, read through
--- perf events of the scenario process's own (core/trace.c): nothing is
--- created outside the process, and the events die with it. Every event
--- carries the time the kernel decided to send the RST, on the clock of
--- packet timestamps, and the RST's addresses.
---
--- A reason is paired with a captured RST only when the event provably
--- belongs to that packet:
---   * same source and destination (a listener's event names 0.0.0.0:0 as
---     destination), and one of the ports is in the scenario's own slice
---     (the tracepoint is machine-wide; slices keep parallel scenarios
---     apart);
---   * the event and the packet are within WINDOW seconds of each other:
---     both happen in one kernel call, microseconds apart (a RST without a
---     socket is announced just before it is sent, a socket's own RST just
---     after: measured 5 to 15 µs either way on loopback);
---   * the pairing is one to one: the packet has exactly one such event and
---     the event exactly one such packet on that interface.
--- So the event of a RST that never reached the wire (dropped in a
--- firewall, a crash) pairs with no other RST, and a RST that no kernel
--- announced (a firewall's reject, a middlebox) is "none". Anything else is
--- said as "unchecked: why", never as passed.
---
--- Runner side:   reason.prepare()
--- Scenario side: reason.new() -> a Reasons object per scenario.

local core = require "rstlab.core"
local tcpflags = require "rstlab.tcpflags"

local M = {}

--- How far apart a RST and its event may be. Measured: 5 to 15 µs on
--- loopback; the bound leaves room for a preempted sender.
M.WINDOW = 0.1

--- prepare(): in the runner, once: make the tracepoint readable for the
--- scenario processes (tracefs mounted in a mount namespace of the
--- runner's own when it is not). Best effort: without it every reason is
--- unchecked, with the reason why.
function M.prepare()
  core.prepare_tracing()
end

local Reasons = {}
Reasons.__index = Reasons

--- new() -> Reasons: the events of one scenario, read from the moment a
--- capture opens (r:open()).
function M.new()
  return setmetatable({ state = nil, why = nil, events = {} }, Reasons)
end

--- r:open(): start reading events (once; a capture calls it before it is
--- live, so every RST it sees comes after reading started).
function Reasons:open()
  if self.state == nil then
    local ok, why = core.trace_open()
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
--- never reached a wire (a crash's, dropped in its host's firewall).
function Reasons:suppress_since(n, why)
  for i = n + 1, self:sync() do self.events[i].suppressed = why end
end

local function mine(lo, hi, sport, dport)
  return lo ~= 0 and ((sport >= lo and sport <= hi) or (dport >= lo and dport <= hi))
end

-- Whether event e names the RST p's addresses.
local function same_addresses(e, p)
  return e.src == p.src and (e.dst == p.dst or e.dst == "0.0.0.0:0" or e.dst == "[::]:0")
end

local function is_rst(p) return tcpflags.has(p.flags, "R") end

--- r:of(c, pkt) -> reason | "none" | nil, why: the kernel's reason for the
--- captured RST pkt of capture c (its count() and packet(i)). "none": no
--- kernel announced this RST (a firewall or a middlebox made it).
function Reasons:of(c, pkt)
  if not self.state then
    return nil, "the tcp_send_reset tracepoint is not available (" .. tostring(self.why) .. ")"
  end
  local lo, hi = core.sandbox_ports()
  if not mine(lo, hi, pkt.sport, pkt.dport) then
    return nil, "neither port is in this scenario's own slice, so a trace event could be another's"
  end
  -- The event is written in the call that sends the packet: by the time
  -- the capture has the packet, its event is readable.
  self:sync()
  local lost = core.trace_lost()
  if lost > 0 then
    return nil, string.format("the kernel lost %d tcp_send_reset events (a ring was full)", lost)
  end
  local W = M.WINDOW
  local function events_before(p)
    local list = {}
    for _, e in ipairs(self.events) do
      if not e.suppressed and same_addresses(e, p) and math.abs(e.ts - p.ts) <= W then
        list[#list + 1] = e
      end
    end
    return list
  end
  local cands = events_before(pkt)
  if #cands == 0 then return "none" end
  if #cands > 1 then
    return nil, string.format("%d tcp_send_reset events for %s > %s within %g s of this RST: ambiguous",
      #cands, pkt.src, pkt.dst, W)
  end
  -- One event; is this packet its only one on this interface?
  local e = cands[1]
  for i = 1, c:count() do
    local p = c:packet(i)
    if p.index ~= pkt.index and p.iface == pkt.iface and is_rst(p) and same_addresses(e, p)
      and math.abs(p.ts - e.ts) <= W then
      return nil, string.format("two RSTs %s > %s within %g s of one tcp_send_reset event: ambiguous",
        pkt.src, pkt.dst, W)
    end
  end
  e.paired = true
  return e.reason
end

--- r:close(): stop reading (closing perf events takes milliseconds: a
--- scenario process about to exit leaves it to the kernel).
function Reasons:close()
  if self.state then core.trace_close() end
  self.state = nil
end

--- r:list(captures [, filter]) -> the scenario's events (a port in its
--- slice), oldest first, each { ts, src, dst, sport, dport, state, reason,
--- wire }: wire is true when one of captures holds a RST paired with it
--- (see r:of), false otherwise. filter: { src =, dst = } ("ip:port", or
--- "ip" for any port), reason = NAME.
function Reasons:list(captures, filter)
  filter = filter or {}
  self:sync()
  local lo, hi = core.sandbox_ports()
  -- Pair what can be paired first, so that wire says what it can.
  for _, cap in ipairs(captures) do
    for i = 1, cap.c:count() do
      local p = cap.c:packet(i)
      if is_rst(p) then self:of(cap.c, p) end
    end
  end
  local function ep_match(want, addr, port)
    if want == nil then return true end
    return want == addr or want == addr:gsub(":%d+$", ""):gsub("^%[(.*)%]$", "%1")
  end
  local out = {}
  for _, e in ipairs(self.events) do
    if mine(lo, hi, e.sport, e.dport) and ep_match(filter.src, e.src) and ep_match(filter.dst, e.dst)
      and (filter.reason == nil or filter.reason == e.reason) then
      out[#out + 1] = { ts = e.ts, src = e.src, dst = e.dst, sport = e.sport, dport = e.dport,
        state = e.state, reason = e.reason, wire = e.paired == true, suppressed = e.suppressed }
    end
  end
  return out
end

return M
