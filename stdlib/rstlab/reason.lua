--- rstlab.reason: why the kernel sent each RST.
---
--- The reason comes from the tcp:tcp_send_reset tracepoint (core/trace.c),
--- read by a BPF program of the scenario process's own, from the moment
--- its first capture opens; it dies with the process. Every event carries
--- the time the kernel decided to send the RST, on the clock of packet
--- timestamps (monotonic in the kernel, turned into realtime when read),
--- and the RST's addresses.
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
---     the event exactly one such packet on that interface;
---   * no fault of the scenario that drops RSTs before the wire (h:drop
---     with dir "out" or "fwd", a crash) took packets while the event came,
---     and no rule of the script's own (h:nft with drop or reject) was in
---     force then: its RST may not have reached the wire, so it proves
---     nothing.
--- So the event of a RST that never reached the wire (dropped in a
--- firewall, a crash) pairs with no other RST, and a RST that no kernel
--- announced (a firewall's reject, a middlebox) is "none". Anything else is
--- said as "unchecked: why", never as passed.
---
--- Runner side:   reason.prepare(), reason.share(), reason.child_done()
--- Scenario side: reason.new() -> a Reasons object per scenario.

local core = require "rstlab.core"
local tcpflags = require "rstlab.tcpflags"

local M = {}

--- How far apart a RST and its event may be. Measured: 5 to 15 µs on
--- loopback; the bound leaves room for a preempted sender, or a receiving
--- host whose softirq runs late.
M.WINDOW = 0.1
--- A RST is "none" (no kernel announced it) only when no event with its
--- addresses came within this many seconds of it, and that long has
--- passed since it. (Thousands of times the gap ever measured between a
--- RST and its event: room for a virtual CPU the host holds back.)
M.NONE_WINDOW = 0.5
--- How long after a RST called "none" r:why_none still looks for its
--- event, to say whether one came late.
M.LATE = 2

-- ---------------------------------------------------------------------
-- the runner's side

--- prepare() -> true | false, why: once in a runner, before it forks
--- scenarios: what the kernel offers is found (its BTF for the raw
--- tracepoint, read once and inherited by the children) and, on a kernel
--- without BTF, tracefs mounted in a mount namespace of the runner's own
--- when it is not (the tracepoint's id and format are read there). Each
--- scenario process then reads the events with a BPF program of its own,
--- or of its file's server (core/trace.c), which dies with it.
function M.prepare()
  return core.prepare_tracing()
end

--- share(): in a process that forks many scenario processes (a file's
--- server): one program for all of them (core.trace_share), so that each
--- only makes a ring. Best effort: without it each loads its own.
function M.share()
  core.trace_share()
end

--- child_done(): a scenario process lets go of its reader before it exits.
function M.child_done()
  core.trace_close()
end

-- ---------------------------------------------------------------------
-- a scenario's events

local Reasons = {}
Reasons.__index = Reasons

--- new() -> Reasons: the events of one scenario, read from the moment a
--- capture opens (r:open()).
function M.new()
  return setmetatable({ state = nil, why = nil, events = {}, faults = {} }, Reasons)
end

--- r:fault(what, hits) -> fault: from now on, a fault that may drop RSTs
--- before they reach the wire (what names it for messages, "h:drop at
--- x.lua:12"; hits() counts the packets it took). fault:off() when it ends.
function Reasons:fault(what, hits)
  local f = { what = what, hits = hits, on = core.wallclock() }
  function f.off() if not f.until_ then f.until_ = core.wallclock() end end
  self.faults[#self.faults + 1] = f
  return f
end

-- A fault that took packets while event e came, or nil.
local function fault_at(self, e)
  for _, f in ipairs(self.faults) do
    if e.ts >= f.on - M.WINDOW and e.ts <= (f.until_ or math.huge) + M.WINDOW then
      local ok, n = pcall(f.hits)
      if not ok or not n then return f, "was in force (rstlab cannot count what it took)" end
      if n > 0 then return f, "dropped packets" end
    end
  end
  return nil
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

-- What the reader's program says of itself, for a RST without its event,
-- added to parts: whether it is still on the tracepoint (a reader whose
-- program left sees nothing more), and what a program of its own counted
-- (every RST on the machine runs it): its runs, the events it dropped as
-- outside the slice with the nearest of them to pkt, the records the
-- reader could not decode.
local function program_said(pkt, parts)
  local on = core.trace_attached()
  if on ~= nil then
    parts[#parts + 1] = on and "its program is on the tracepoint"
      or "its program is no longer on the tracepoint"
  end
  local c = core.trace_counts()
  if c then
    parts[#parts + 1] = string.format("it ran %d time%s, dropped %d with no port in the slice, "
      .. "%d record%s unreadable", c.runs, c.runs == 1 and "" or "s", c.outside, c.unreadable,
      c.unreadable == 1 and "" or "s")
    local near
    for _, d in ipairs(c.drops) do
      if not near or math.abs(d.ts - pkt.ts) < math.abs(near.ts - pkt.ts) then near = d end
    end
    if near then
      parts[#parts + 1] = string.format("the nearest it dropped: ports %d > %d %+.3f s",
        near.sport, near.dport, near.ts - pkt.ts)
    end
  end
  return parts
end

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
  local function lost_events()
    local lost = core.trace_lost()
    if lost > 0 then
      return string.format("the kernel lost %d tcp_send_reset events (a ring was full, or the "
        .. "program was running already on that CPU when a RST came)", lost)
    end
  end
  local lost = lost_events()
  if lost then return nil, lost end
  if pkt.ts == nil or (self.events[1] and self.events[1].ts < 0) then
    return nil, "the trace's clock is not \"mono\": events cannot be paired with packets by time"
  end
  local W = M.WINDOW
  local cands, near
  while true do
    cands, near = {}, 0
    for _, e in ipairs(self.events) do
      if not e.suppressed and same_addresses(e, pkt) then
        local d = math.abs(e.ts - pkt.ts)
        if d <= W then cands[#cands + 1] = e end
        if d <= M.NONE_WINDOW then near = near + 1 end
      end
    end
    -- A socket's own RST is announced just after it is sent, from the
    -- same kernel call: on a busy machine the capture can hold the packet
    -- before its event is written (seen: a keepalive RST sent from a
    -- timer). So "none" is said only once NONE_WINDOW has passed since
    -- the packet; an event that comes ends the wait at once.
    local left = pkt.ts + M.NONE_WINDOW - core.wallclock()
    if near > 0 or left <= 0 then break end
    core.trace_wait(left)
    self:sync()
  end
  if #cands == 0 then
    -- (an event lost while we waited could have been this RST's)
    lost = lost_events()
    if lost then return nil, lost end
    if near == 0 then
      -- "none" says no kernel of the scenario made this RST. Its kernels
      -- count what they send: each RST its TCP sends moves its host's
      -- Tcp.OutRsts, and announces a tcp_send_reset event. More RSTs
      -- counted than events read means an event did not come (seen: a
      -- keepalive RST, its program on the tracepoint, nothing lost, and
      -- the program never ran for it), and this RST may be that one.
      local sent, why = self:kernel_rsts()
      if not sent then return nil, "whether a kernel made this RST cannot be told: " .. why end
      local seen = #self.events -- (none lost: that was said above)
      if sent > seen then
        local said = program_said(pkt, {})
        return nil, string.format("no tcp_send_reset event came for this RST, but the scenario's "
          .. "hosts counted %d RST%s sent (Tcp.OutRsts) for %d event%s: it may be a kernel's whose "
          .. "event did not come%s", sent, sent == 1 and "" or "s", seen, seen == 1 and "" or "s",
          #said > 0 and " (" .. table.concat(said, "; ") .. ")" or "")
      end
      return "none"
    end
    return nil, string.format("a tcp_send_reset event for %s > %s came %g s or less from this RST, "
      .. "too far to pair with it, too near to rule it out", pkt.src, pkt.dst, M.NONE_WINDOW)
  end
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
  local f, did = fault_at(self, e)
  if f then
    return nil, string.format("%s %s when the kernel sent a RST %s > %s: "
      .. "whether that RST is this one cannot be proven", f.what, did, pkt.src, pkt.dst)
  end
  e.paired = true
  return e.reason
end

--- r:count_sent(fn): fn() -> the RSTs the scenario's kernels sent so far
--- (the sum of its hosts' Tcp.OutRsts), or nil, why. Without it, no RST
--- is "none".
function Reasons:count_sent(fn)
  self.sent_fn = fn
end

function Reasons:kernel_rsts()
  if not self.sent_fn then return nil, "nothing counts the RSTs the kernels sent" end
  local ok, n, why = pcall(self.sent_fn)
  if not ok then return nil, tostring(n) end
  return n, why
end

--- r:why_none(pkt) -> text: for a RST that r:of called "none", what this
--- scenario's events hold, for the failure message, once LATE seconds
--- have passed since the RST (or an event with its addresses came later
--- than it, which "the nearest with its addresses" then shows): how many were read
--- and lost, the nearest in time with the RST's addresses and of any,
--- whether the reader's program is still on the tracepoint, and what a
--- program of its own counted (its runs, events outside the slice,
--- records the reader could not decode).
function Reasons:why_none(pkt)
  -- An event that is only late would show here: wait for one with the
  -- RST's addresses until LATE seconds after it.
  while self.state do
    local late = false
    for _, e in ipairs(self.events) do
      if same_addresses(e, pkt) and e.ts > pkt.ts then late = true end
    end
    local left = pkt.ts + M.LATE - core.wallclock()
    if late or left <= 0 then break end
    core.trace_wait(left)
    self:sync()
  end
  self:sync()
  local same, any
  for _, e in ipairs(self.events) do
    local d = e.ts - pkt.ts
    if same_addresses(e, pkt) and (not same or math.abs(d) < math.abs(same.d)) then
      same = { e = e, d = d }
    end
    if not any or math.abs(d) < math.abs(any.d) then any = { e = e, d = d } end
  end
  local function show(n)
    return string.format("%s > %s %+.3f s (%s%s)", n.e.src, n.e.dst, n.d, n.e.reason,
      n.e.suppressed and ", set aside: " .. n.e.suppressed or "")
  end
  local parts = { string.format("%d event%s read in this scenario, %d lost", #self.events,
    #self.events == 1 and "" or "s", core.trace_lost()) }
  if same then
    parts[#parts + 1] = "the nearest with its addresses: " .. show(same)
  elseif #self.events > 0 then
    parts[#parts + 1] = "none with its addresses"
  end
  if any and (not same or any.e ~= same.e) then
    parts[#parts + 1] = "the nearest of all: " .. show(any)
  end
  return table.concat(program_said(pkt, parts), "; ")
end

--- r:close(): stop reading (closing the BPF program's descriptors).
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
