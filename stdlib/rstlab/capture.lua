--- rstlab.capture: what crossed the wire (beside bindings/lcapture.c).
---
--- A Capture holds a C capture (`c`: a packet socket per interface with a
--- filter libpcap compiled, live before the call that makes it returns,
--- decoded as packets arrive) on one or
--- more interfaces of the scenario's hosts, merged into one timeline.
--- cap:expect matches an expectation text (rstlab.expect) against the
--- packets as they arrive; each captured RST is paired with the kernel's
--- reason through the scenario's rstlab.reason reader.
---
---   local cap = assert(h:capture())
---   ...
---   cap:expect({ C = cli, S = conn }, [[
---     C > S  [S]
---     S > C  [R.]   ack 1   reason NO_SOCKET
---   ]])

local core = require "rstlab.core"
local check = require "rstlab.check"
local expect = require "rstlab.expect"
local failure = require "rstlab.failure"
local ladder = require "rstlab.ladder"
local segment = require "rstlab.segment"
local socket = require "rstlab.socket"
local tcpflags = require "rstlab.tcpflags"
local process = require "rstlab.process"

local M = {}

local Capture = {}
Capture.__index = Capture
Capture.__name = "rstlab.Capture"
M.Capture = Capture

--- new(host, ifaces, filter [, buffer]) -> Capture | nil, msg, code: a
--- live capture of host's interfaces (a list of names), held by its
--- scenario. buffer: the kernel's queue limit per interface, in bytes.
function M.new(host, ifaces, filter, buffer)
  local sc = host.scenario
  sc.reasons:open()
  local c, msg, code = core.capture(host.ns, ifaces[1], filter, host.name .. ":" .. ifaces[1],
    buffer)
  if not c then return nil, msg, code end
  local cap = setmetatable({ c = c, scenario = sc, host = host, filter = filter }, Capture)
  sc:hold(cap)
  sc.captures[#sc.captures + 1] = cap
  for i = 2, #ifaces do cap:add(host, ifaces[i]) end
  return cap
end

--- cap:add(host [, iface | {iface =, filter =}]) -> cap: one more
--- interface (default: lo) into the same timeline, sorted by time.
function Capture:add(host, opts)
  self.scenario:check_host(host, "add: the host")
  local iface, filter
  if type(opts) == "string" then iface = opts
  elseif type(opts) == "table" then
    check.opts(opts, { iface = true, filter = true }, "add")
    iface, filter = opts.iface, opts.filter
  elseif opts ~= nil then error("add: expected an interface name or {iface =, filter =}, got " .. type(opts), 2) end
  iface = iface or "lo"
  local ok, msg = self.c:add(host.ns, iface, filter or self.filter, host.name .. ":" .. iface)
  if not ok then error("capture add " .. host.name .. ":" .. iface .. ": " .. tostring(msg), 2) end
  return self
end

-- Packet i with its time on the scenario's clock: t = seconds since the
-- scenario started, as t:now() and marks say (ts: the kernel's real time);
-- a segment the scenario crafted (h:send) has injected = true.
local function packet(cap, i)
  local p = cap.c:packet(i)
  if p then
    p.t = p.ts - cap.scenario.t0
    local sc = cap.scenario
    if #sc.injected > 0 and segment.injected(sc, p) then p.injected = true end
  end
  return p
end

--- cap:packets() -> list of packet tables captured so far.
function Capture:packets()
  local out = {}
  for i = 1, self.c:count() do out[i] = packet(self, i) end
  return out
end

--- cap:write(path) -> true | nil, msg: the capture as a pcap file.
function Capture:write(path)
  check.arg(path, "string", "write", 1)
  return self.c:write(path)
end

--- cap:stats() -> { stored, skipped, malformed, dropped [, failure] }:
--- packets kept, frames that were not TCP or not decodable, packets the
--- kernel dropped because the capture's queue was full (see h:capture's
--- buffer), and why packets may be missing otherwise (an interface that
--- went down, out of memory).
function Capture:stats() return self.c:stats() end

--- cap:close(): stop capturing (packets stay readable).
function Capture:close() self.c:close() end

-- The endpoints of a bind value: a socket's local addresses (every one
-- it had: each connect attempt of a socket has a port of its own), a
-- string "ip:port" or a list of them. One endpoint as a string, several as
-- a list.
-- The local end of an ended program's single connection, found in the
-- capture: the connections (by packets' src and dst) with one end that no
-- Socket of the script ever had and whose address is one of the program's
-- host (loopback too when the capture is on that host). nil, why when
-- there is not exactly one.
local function program_in_capture(cap, p)
  if not cap then return nil end
  local owned = {}
  for _, o in ipairs(cap.scenario.objects) do
    if socket.is(o) then
      for _, a in ipairs(o.addrs or {}) do owned[a] = true end
      if type(o.addr) == "string" then owned[o.addr] = true end
    end
  end
  local mine = {}
  for _, a in ipairs(p.host.addrs) do mine[a.ip] = true end
  local function on_host(ep)
    local ip = ep:match("^%[?(.-)%]?:%d+$")
    if mine[ip] then return true end
    return cap.host == p.host and (ip:match("^127%.") or ip == "::1") and true or false
  end
  local conns, found = {}, {}
  for _, pk in ipairs(cap:packets()) do
    for _, ep in ipairs { pk.src, pk.dst } do
      local other = ep == pk.src and pk.dst or pk.src
      if not owned[ep] and on_host(ep) then
        local key = ep < other and (ep .. " " .. other) or (other .. " " .. ep)
        if not conns[key] then
          conns[key] = ep
          found[#found + 1] = ep
        elseif conns[key] ~= ep then
          return nil -- both ends unowned: two programs, or not ours to tell
        end
      end
    end
  end
  if #found == 1 then return found[1] end
  return nil
end

local function endpoint(name, v, cap)
  local function addr(a)
    if type(a) ~= "string" or not core.parse_addr(a) then
      error("expect: endpoint " .. tostring(name) .. " = " .. string.format("%q", tostring(a))
        .. " is not \"ip:port\"", 5)
    end
    return a
  end
  if type(v) == "string" then return addr(v) end
  if socket.is(v) then
    local eps = v.addrs or {}
    if #eps > 1 then return table.move(eps, 1, #eps, 1, {}) end
    if #eps == 1 then return eps[1] end
    if type(v.addr) == "string" then return v.addr end
    error("expect: endpoint " .. tostring(name) .. " is a socket without a local address yet "
      .. "(bound or connected sockets have one)", 4)
  elseif process.is(v) then
    local a, why = v:endpoint()
    a = a or (why:find("has no TCP connection", 1, true) and program_in_capture(cap, v))
    if not a then error("expect: endpoint " .. tostring(name) .. ": " .. why, 4) end
    return a
  elseif type(v) == "table" and #v > 0 then
    local eps = {}
    for i, a in ipairs(v) do eps[i] = addr(a) end
    return eps
  else
    local ok, a = pcall(function() return v.addr end)
    if ok and type(a) == "string" then return a end
  end
  error("expect: endpoint " .. tostring(name) .. " must be a socket, a process, \"ip:port\" or a list of them, got "
    .. type(v), 4)
end

local function endpoints(binds, cap)
  local eps = {}
  for name, v in pairs(binds) do eps[name] = endpoint(name, v, cap) end
  return eps
end

-- States in which a socket sends nothing on its own: gone (CLOSE), a
-- listener (its half-open requests are sockets of their own, SYN_RECV), and
-- TIME_WAIT (its timer only ends it; it answers, it never starts). A
-- FIN_WAIT2 is quiet only as the kernel's timewait mini-socket (timer 3).
local QUIET = { CLOSE = true, LISTEN = true, TIME_WAIT = true }
local TIMER_TIMEWAIT = 3
-- A capture takes a packet within microseconds of its send; this much
-- silence on it says it has caught up.
local CAUGHT_UP = 0.002

-- The endpoints that payload or a FIN came to, among the capture's first
-- n packets: cap.fed, brought up to date from where the last call stopped
-- (a quiet period asks every few milliseconds; each packet is read once).
local TCP_FIN = 0x01
local function fed(cap, n)
  local seen = cap.fed or { n = 0 }
  for i = seen.n + 1, n do
    local p = cap.c:packet(i)
    if p.len > 0 or p.flags & TCP_FIN ~= 0 then seen[p.dst] = true end
  end
  seen.n = math.max(seen.n, n)
  cap.fed = seen
  return seen
end

-- Whether connected socket s (sock_diag) can send nothing on its own: no
-- timer armed (retransmission, probe, keepalive), nothing unsent or
-- unacknowledged, nothing unread, and no ACK owed. sock_diag does not show
-- a pending delayed ACK, so "no ACK owed" is proven only for a connection
-- that never received more than its handshake: no payload or FIN came to
-- its address (cap.fed), and the scenario crafted no segment toward it. An
-- idle established connection whose peers are both quiet this way stays
-- silent.
local function idle(sc, seen, s)
  if s.state ~= "ESTABLISHED" or s.timer ~= 0 or s.wqueue ~= 0 or s.rqueue ~= 0 then
    return false
  end
  for _, seg in ipairs(sc.injected) do
    if seg.dst == s.src then return false end
  end
  return not seen[s.src]
end

-- Whether nothing more can come between the endpoints eps (name -> address
-- or list): no other actor of the scenario can still act, no crafted
-- segment is in flight, every socket at an endpoint, on every host, is in
-- a quiet state (sock_diag), and the capture has caught up. Anything
-- uncertain says no: the quiet period is then waited out. false, secs
-- when only the capture's silence is missing: ask again in secs.
local function settled(sc, cap, eps)
  local c = cap.c
  local me = coroutine.running()
  for _, co in ipairs(sc.actors) do
    if co ~= me and coroutine.status(co) ~= "dead" then return false end
  end
  local now = core.wallclock()
  for _, s in ipairs(sc.injected) do
    if now - s.at < 0.1 then return false end
  end
  local at = {}
  for _, v in pairs(eps) do
    if type(v) == "table" then for _, a in ipairs(v) do at[a] = true end else at[v] = true end
  end
  local n = c:count()
  local seen = fed(cap, n)
  for _, h in ipairs(sc.hosts) do
    local list = h.ns:sockets()
    if not list then return false end
    for _, s in ipairs(list) do
      if (at[s.src] or at[s.dst]) and not QUIET[s.state]
        and not (s.state == "FIN_WAIT2" and s.timer == TIMER_TIMEWAIT)
        and not idle(sc, seen, s) then
        return false
      end
    end
  end
  if n == 0 then return true end
  local since = now - c:packet(n).ts
  if since >= CAUGHT_UP then return true end
  -- Everything else is proven: ask again as soon as the capture has been
  -- silent long enough, not a whole settle step later.
  return false, CAUGHT_UP - since
end

local EXPECT_KEYS = { timeout = true, from = true }

-- A mark's time on the capture's clock (the kernel's real time), and the
-- names marked so far.
local function mark_time(sc, name)
  local at = sc.marks[name]
  if at then return sc.t0 + at end
  local known = {}
  for k in pairs(sc.marks) do known[#known + 1] = k end
  table.sort(known)
  return nil, known
end

--- cap:expect(binds, text [, {timeout = 2, from = mark | seconds}]) ->
--- true. Matches the packet sequence as it arrives (see README:
--- expectation text). from: only the packets at or after that mark
--- (t:mark) or time (t:now() seconds) are considered. On mismatch the
--- scenario fails with the expectation and the capture side by side.
function Capture:expect(binds, text, opts)
  check.arg(binds, "table", "expect", 1)
  check.arg(text, "string", "expect", 2)
  opts = check.opts(opts, EXPECT_KEYS, "expect")
  local sc = self.scenario
  local from = opts.from
  if type(from) == "string" then
    local known
    from, known = mark_time(sc, opts.from)
    if not from then
      error(string.format("expect: from = %q is not a mark (marked so far: %s)", opts.from,
        #known > 0 and table.concat(known, ", ") or "none"), 2)
    end
  elseif type(from) == "number" then
    from = sc.t0 + from
  elseif from ~= nil then
    error("expect: from must be a mark's name or a time (t:now() seconds), got " .. type(from), 2)
  end
  local info = debug.getinfo(2, "Sl")
  local at = info.short_src .. ":" .. (info.currentline or 0)
  -- The script line of expectation line n, when it can be found.
  local function line_of(n)
    local l = n and expect.locate(text, info.source, info.currentline, n)
    return l and (info.short_src .. ":" .. l) or at
  end
  -- An error of one expectation line names the script line it is on.
  local function line_error(e)
    local n = tostring(e):match("^expectation line (%d+):")
    error(line_of(tonumber(n)) .. ": " .. tostring(e), 0)
  end
  local ok, spec = pcall(expect.parse, text, binds)
  if not ok then line_error(spec) end
  local eps = endpoints(binds, self)
  local c = self.c
  local source = {}
  function source.now() return core.wallclock() end
  function source.packet(_, i, deadline)
    local r = c:wait(i, math.max(0, deadline - core.wallclock()))
    if r ~= "ready" then return nil end
    return packet(self, i)
  end
  function source.reason(_, pkt) return sc.reasons:of(c, pkt) end
  function source.why_none(_, pkt) return sc.reasons:why_none(pkt) end
  function source.settled() return settled(sc, self, eps) end
  function source.mark(_, name) return mark_time(sc, name) end
  local matched, report
  ok, matched, report = pcall(expect.match, spec, eps, source,
    { timeout = check.timeout(opts, "expect"), scale = sc.scale, from = from })
  if not ok then
    if tostring(matched):match("^expectation line %d+:") then line_error(matched) end
    error(matched, 0)
  end
  self.last_expect = { binds = eps, spec = spec, report = report } -- for the result record
  -- Packets the kernel could not put in the capture's queue crossed the
  -- wire all the same: the sequence seen is not the wire's, so neither a
  -- match nor a mismatch means anything.
  local st = c:stats()
  local lost = st.dropped
  if lost > 0 then
    sc.failed_capture = self
    failure.raise(string.format("expectation cannot be checked: the kernel dropped %d packet%s "
      .. "from the capture's full queue (h:capture{buffer = bytes} makes it larger)", lost,
      lost == 1 and "" or "s"), { where = at })
  end
  -- So did packets the capture could not keep (out of memory, an
  -- interface that went down, a packet without a time).
  if st.failure then
    sc.failed_capture = self
    failure.raise("expectation cannot be checked: " .. st.failure, { where = at })
  end
  for _, u in ipairs(report.unchecked or {}) do
    sc.unchecked[#sc.unchecked + 1] = at .. ": " .. u
  end
  if not matched then
    sc.failed_capture = self
    -- The failure names the script line of the expectation line that failed.
    failure.raise("expectation failed: " .. (report.message or "?"),
      { where = line_of(expect.failed_lineno(spec, report)), details = expect.format_report(spec, report) })
  end
  return true
end

--- cap:ladder(binds) -> the capture as a ladder diagram (text).
function Capture:ladder(binds)
  check.arg(binds, "table", "ladder", 1)
  return ladder.render(self:packets(), endpoints(binds, self), {})
end

--- default_binds(packets) -> { A = first sender, B = its peer }: names for
--- a ladder of a capture the script did not name.
function M.default_binds(packets)
  local p = packets[1]
  if not p then return {} end
  return { A = p.src, B = p.dst }
end

local PACKET_FIELDS = { "index", "ts", "t", "src", "dst", "sport", "dport", "flags", "seq", "ack",
  "win", "len", "ttl", "mss", "wscale", "sackok", "tsval", "tsecr", "sack", "iface", "injected" }
local MAX_RECORD_PACKETS = 2000

--- record(cap) -> { name, binds, packets, marks, failed, truncated }: a
--- capture as plain data for the runner's ladders and reports. binds are
--- those of the capture's last expectation (else A and B); marks[i] is the
--- expectation line matched by packet i, failed the packet of the line
--- that did not match. A RST carries the kernel's reason for it (reason:
--- a reason name or "none"), or why it is unknown (reason_unknown).
function M.record(cap)
  local all = cap:packets()
  local rec = { name = all[1] and all[1].iface or cap.host.name, packets = {} }
  for i = 1, math.min(#all, MAX_RECORD_PACKETS) do
    local p, q = all[i], {}
    for _, k in ipairs(PACKET_FIELDS) do q[k] = p[k] end
    if tcpflags.has(p.flags, "R") then
      q.reason, q.reason_unknown = cap.scenario.reasons:of(cap.c, p)
    end
    rec.packets[i] = q
  end
  if #all > MAX_RECORD_PACKETS then rec.truncated = #all - MAX_RECORD_PACKETS end
  local last = cap.last_expect
  if last then
    rec.binds = last.binds
    rec.marks, rec.failed = expect.marks(last.spec, last.report, last.report.capture_index)
  else
    rec.binds = M.default_binds(all)
  end
  -- Crafted segments say so beside their arrow.
  for i, p in ipairs(rec.packets) do
    if p.injected then
      rec.marks = rec.marks or {}
      rec.marks[i] = "(injected)" .. (rec.marks[i] and ("  " .. rec.marks[i]) or "")
    end
  end
  return rec
end

return M
