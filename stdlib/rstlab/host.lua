--- rstlab.host: a machine of the scenario (beside bindings/lhost.c).
---
--- A host is a network namespace held by file descriptor (core/netns.c):
--- an anonymous one, so when the scenario process ends (normally, on an
--- error, at a timeout, by a signal or SIGKILL) the kernel removes it with
--- its veth ends and firewall rules; nothing is left on the machine to
--- clean. Its sockets are born in it (core enters the namespace, creates
--- the socket and comes back), so one loop drives every host.
---
--- Faults are nftables rules in the host's own namespace (table
--- `inet rstlab`), never anywhere else: h:drop{...} (a Rule), h:crash(),
--- h:reboot(), and h:nft(text) for anything else.
---
---   local srv = assert(h:listen("127.0.0.1:0"))
---   local cli = assert(h:connect(srv.addr))
---   b:drop{ dir = "out", flags = "R" }   -- B's RSTs never reach the wire

local core = require "rstlab.core"
local check = require "rstlab.check"
local socket = require "rstlab.socket"
local capture = require "rstlab.capture"
local failure = require "rstlab.failure"
local segment = require "rstlab.segment"
local counters = require "rstlab.counters"
local tcpflags = require "rstlab.tcpflags"
local process = require "rstlab.process"

local M = {}

local Host = {}
Host.__index = Host
Host.__name = "rstlab.Host"
Host.__tostring = function(h) return "rstlab.Host (" .. h.name .. ")" end
M.Host = Host

-- The chains of a host's own table. prerouting at raw priority: before
-- conntrack, before the host's IP stack sees the packet (but after any
-- capture on the interface has: taps come first). postrouting at the end
-- of the output path: a packet dropped there never reaches the interface,
-- so no capture anywhere sees it.
local TABLE_SETUP = [[
add table inet rstlab
add chain inet rstlab prerouting { type filter hook prerouting priority -300; policy accept; }
add chain inet rstlab forward { type filter hook forward priority 0; policy accept; }
add chain inet rstlab postrouting { type filter hook postrouting priority 300; policy accept; }
]]

--- new(scenario, ns, name) -> Host: ns is the namespace (core.host_self
--- for the scenario's own, core.host_new for another).
function M.new(sc, ns, name)
  return setmetatable({ ns = ns, name = name, scenario = sc, nlinks = 0, addrs = {},
    ifaces = { "lo" }, following = {}, rules = {} }, Host)
end

--- is(v) -> whether v is a Host.
function M.is(v) return getmetatable(v) == Host end

-- ---------------------------------------------------------------------
-- sockets

-- level: as error() counts it from this function.
local function family_of(addr, what, level)
  if type(addr) ~= "string" then
    error(what .. ": the address must be a string \"ip:port\", got " .. type(addr), level)
  end
  local fam, why = core.parse_addr(addr)
  if not fam then error(why .. ' (expected "ip:port" or "[ipv6]:port")', level) end
  return fam
end

-- Options of listen/connect that are not socket options.
local CALL_KEYS = { timeout = true, backlog = true, bind = true, blocking = true }

local function split_opts(opts, what, level)
  opts = check.opts(opts, nil, what, level)
  local sockopts, n = {}, 0
  for k, v in pairs(opts) do
    if not CALL_KEYS[k] then sockopts[k] = v; n = n + 1 end
  end
  return opts, n > 0 and sockopts or nil
end

local FAMILIES = { inet = true, inet6 = true }
local SOCKET_KEYS = { blocking = true }

--- h:socket([family] [, {blocking = bool}]) -> an unconnected Socket
--- ("inet", the default, or "inet6") | nil, msg, code. blocking = true: a
--- socket without O_NONBLOCK, whose every call (connect, accept, read,
--- write, close) blocks in the kernel as a blocking program's does, in a
--- worker thread while the actor waits.
function Host:socket(family, opts)
  if type(family) == "table" and opts == nil then family, opts = nil, family end
  if family ~= nil and not FAMILIES[family] then
    error('socket: family must be "inet" or "inet6", got ' .. tostring(family), 2)
  end
  opts = check.opts(opts, SOCKET_KEYS, "socket")
  if self.down then
    error("host " .. self.name .. " is down (crashed): reboot it before making sockets on it", 2)
  end
  local u, msg, code = core.socket(family or "inet", self.ns, opts.blocking)
  if not u then return nil, msg, code end
  return socket.wrap(u, self)
end

-- A socket of h for listen or connect (what) to addr, with the socket
-- options of opts set: s, the call's own options | nil, nil, msg, code.
-- Misuse raises at the line that called listen or connect.
local function prepared(h, addr, opts, what)
  local fam = family_of(addr, what, 4)
  local o, sockopts = split_opts(opts, what, 4)
  local s, msg, code = h:socket(fam, { blocking = o.blocking })
  if not s then return nil, nil, msg, code end
  if sockopts then
    local ok, m, c = s:set(sockopts)
    if not ok then return nil, nil, m, c end
  end
  return s, o
end

--- h:listen(addr [, opts]) -> listening Socket | nil, msg, code. Port 0
--- takes a free port from this scenario's own slice. opts: backlog,
--- blocking (see h:socket; what it accepts is blocking too), and socket
--- options set before bind.
function Host:listen(addr, opts)
  local s, o, msg, code = prepared(self, addr, opts, "listen")
  if not s then return nil, msg, code end
  local ok, m, c = s:bind(addr)
  if not ok then return nil, m, c end
  ok, m, c = s:listen(o.backlog)
  if not ok then return nil, m, c end
  return s
end

--- h:connect(addr [, opts]) -> connected Socket | nil, msg, code. opts:
--- timeout, bind ("ip:port"), blocking (see h:socket), and socket options
--- set before connect. (To keep the socket of a failed connect, use
--- h:socket() and s:connect.)
function Host:connect(addr, opts)
  local s, o, msg, code = prepared(self, addr, opts, "connect")
  if not s then return nil, msg, code end
  if o.bind then
    local ok, m, c = s:bind(o.bind)
    if not ok then return nil, m, c end
  end
  local ok, m, c = s:connect(addr, { timeout = o.timeout })
  if not ok then return nil, m, c end
  return s
end

--- h:unused_port([family]) -> a port nothing listens on, from this
--- scenario's slice (for "connect to a closed port"), never one this
--- scenario handed out before (on any host): a port is unused when a
--- socket of the family can bind the wildcard address to it. Odd ports
--- first, as the kernel's bind(0) does: connect() takes even ones for its
--- own end, and a connection from the port it goes to would connect to
--- itself (simultaneous open) instead of being refused.
function Host:unused_port(family)
  if family ~= nil and not FAMILIES[family] then
    error('unused_port: family must be "inet" or "inet6", got ' .. tostring(family), 2)
  end
  local sc = self.scenario
  sc.ports_given = sc.ports_given or {}
  local lo, hi = self:sysctl("net.ipv4.ip_local_port_range"):match("^(%d+)%s+(%d+)$")
  lo, hi = tonumber(lo), tonumber(hi)
  local wild = family == "inet6" and "[::]:" or "0.0.0.0:"
  for _, parity in ipairs { 1, 0 } do
    for port = lo + (lo + parity) % 2, hi, 2 do
      if not sc.ports_given[port] then
        local u, msg = core.socket(family or "inet", self.ns)
        if not u then error("unused_port: " .. tostring(msg), 2) end
        local free = u:bind(wild .. port)
        u:close()
        if free then
          sc.ports_given[port] = true
          return port
        end
      end
    end
  end
  error(string.format("unused_port: every port of the slice %d-%d was handed out already or is in use",
    lo, hi), 2)
end

local SOCKETS_KEYS = { state = true, states = true, port = true, listeners = true }

--- h:sockets([{state = "TIME_WAIT" | states = {...}, port = n,
--- listeners = false}]) -> list of the kernel's TCP sockets on this host
--- (sock_diag), each { state, src, dst, rqueue, wqueue, timer, expires,
--- retrans }. listeners = false leaves the listening sockets out (a
--- listener has the local address of the connections it accepted).
--- Without state or states, every state but BOUND_INACTIVE, as ss lists
--- them: sockets only bound (neither listening nor connecting) are left
--- out; states = { "BOUND_INACTIVE" } lists them, each with state CLOSE.
function Host:sockets(filter)
  filter = check.opts(filter, SOCKETS_KEYS, "sockets")
  if filter.listeners ~= nil and type(filter.listeners) ~= "boolean" then
    error("sockets: listeners must be a boolean, got " .. type(filter.listeners), 2)
  end
  local states = filter.states or (filter.state and { filter.state }) or nil
  local list, msg, code = self.ns:sockets(states)
  if not list then return nil, msg, code end
  local port = filter.port and tostring(filter.port)
  local keep = {}
  for _, s in ipairs(list) do
    if (not port or s.src:match(":(%d+)$") == port or s.dst:match(":(%d+)$") == port)
      and (filter.listeners ~= false or s.state ~= "LISTEN") then
      keep[#keep + 1] = s
    end
  end
  return keep
end

--- h:counters() -> Counters | nil, msg, code: the TCP counters of this
--- host's own network namespace (Tcp and TcpExt MIBs, by the kernel's
--- names; they start at 0 in a new host). See rstlab.counters:
--- h:counters():since(c0) is what moved since c0.
function Host:counters()
  local groups, msg, code = self.ns:counters()
  if not groups then return nil, msg, code end
  return counters.new(groups, self.name)
end

local CAPTURE_KEYS = { iface = true, filter = true, buffer = true }

--- h:capture([{iface =, filter = "tcp", buffer = bytes}]) -> Capture |
--- nil, msg, code: live when this returns. Without iface, it captures
--- every interface of the host: lo and the ends of its links, also those
--- linked later, in one timeline. buffer: how much the kernel may queue
--- for each interface between two reads, in bytes of its memory (default
--- 16 MiB: some 240 of lo's 64 KiB segments, tens of thousands of small
--- packets; without root, net.core.rmem_max bounds it); what does not fit
--- is dropped by the kernel and counted (cap:stats().dropped), and an
--- expectation on a capture that dropped packets fails.
function Host:capture(opts)
  opts = check.opts(opts, CAPTURE_KEYS, "capture")
  if opts.buffer ~= nil and math.type(opts.buffer) ~= "integer" then
    error("capture: buffer must be an integer (bytes), got " .. tostring(opts.buffer), 2)
  end
  for _, k in ipairs { "iface", "filter" } do
    if opts[k] ~= nil and type(opts[k]) ~= "string" then
      error("capture: " .. k .. " must be a string, got " .. type(opts[k]), 2)
    end
  end
  local cap, msg, code = capture.new(self, opts.iface and { opts.iface } or self.ifaces, opts.filter,
    opts.buffer)
  if not cap then return nil, msg, code end
  if not opts.iface then self.following[#self.following + 1] = cap end
  return cap
end

-- ---------------------------------------------------------------------
-- programs

--- h:spawn(argv [, { env =, cwd =, stdin =, timeout = }]) -> Process |
--- nil, msg, code: runs a real program (argv[1] looked up in the PATH of
--- its environment, env.PATH when given) in this
--- host's network namespace, everything else as the runner sees it; it
--- and whatever it starts end with the scenario (see rstlab.process).
---   env      { NAME = "value" | false }: set or remove names of the
---            runner's environment
---   cwd      its working directory
---   stdin    a string: its whole stdin (default: /dev/null)
---   timeout  seconds: then it is killed (SIGKILL), p.timed_out says so
--- A program that cannot be run: nil, msg, and the exec's errno name
--- ("ENOENT", "EACCES", ...).
function Host:spawn(argv, opts)
  if self.down then error("spawn: host " .. self.name .. " is down (crashed)", 2) end
  return process.spawn(self, argv, opts)
end

--- h:wait_listen(addr [, { timeout = s }]) -> true | nil, msg, "TIMEOUT":
--- returns once a TCP socket of this host listens where a connection to
--- addr ("ip:port", or a port number: any address) would reach it (a
--- listener on 0.0.0.0 or :: counts). Default timeout 10 s.
function Host:wait_listen(addr, opts)
  return process.wait_listen(self, addr, opts)
end

-- ---------------------------------------------------------------------
-- the host's own settings

--- h:addr([family]) -> the host's first address on its links, without
--- the prefix ("10.0.0.2"), of family "inet" (default) or "inet6".
function Host:addr(family)
  family = family or "inet"
  for _, a in ipairs(self.addrs) do
    if a.family == family then return a.ip end
  end
  return nil
end

--- h:sysctl(name [, value]) -> the current value (a string). Only the
--- sysctls that are per network namespace (net.*) can be set per host;
--- any other raises an error saying so.
function Host:sysctl(name, value)
  check.arg(name, "string", "sysctl", 1)
  local vt = type(value)
  if value ~= nil and vt ~= "string" and vt ~= "number" and vt ~= "boolean" then
    error("sysctl: the value must be a string, number or boolean, got " .. vt, 2)
  end
  if vt == "number" then value = tostring(math.tointeger(value) or value) end
  local ok, v, msg = pcall(self.ns.sysctl, self.ns, name, value)
  if not ok then error("sysctl on host " .. self.name .. ": " .. tostring(v), 2) end
  if v == nil then error("sysctl on host " .. self.name .. ": " .. tostring(msg), 2) end
  return v
end

--- h:route(dst, via): a route on this host; dst "default" or
--- "10.0.2.0/24" (IPv6: "default6" or "fd00:2::/64"), via a gateway.
function Host:route(dst, via)
  check.arg(dst, "string", "route", 1)
  check.arg(via, "string", "route", 2)
  local ok, msg = core.route(self.ns, dst, via)
  if not ok then error("route on host " .. self.name .. ": " .. tostring(msg), 2) end
  return true
end

-- ---------------------------------------------------------------------
-- nftables in the host's own table

-- Run nft commands in the host's table; the table and its chains are made
-- on first use. Errors name the caller's caller (an API function's caller).
local function nft(h, cmds)
  if not h.nft_ready then
    local ok, msg = h.ns:nft(TABLE_SETUP)
    if not ok then error("nftables on host " .. h.name .. ": " .. tostring(msg), 3) end
    h.nft_ready = true
  end
  local out, msg = h.ns:nft(cmds)
  if not out then error("nftables on host " .. h.name .. ": " .. tostring(msg), 3) end
  return out
end

--- add_rule(h, chain, text) -> handle: one rule in h's table (for faults
--- made by other modules, such as a link's cut).
function M.add_rule(h, chain, text)
  local out = nft(h, "add rule inet rstlab " .. chain .. " " .. text)
  local handle = out:match("# handle (%d+)")
  if not handle then error("nftables on host " .. h.name .. ": no handle in the echo of a new rule", 2) end
  return tonumber(handle)
end

--- del_rule(h, chain, handle)
function M.del_rule(h, chain, handle)
  nft(h, string.format("delete rule inet rstlab %s handle %d", chain, handle))
end

--- rule_hits(h, chain, handle) -> packets the rule counted so far | nil.
function M.rule_hits(h, chain, handle)
  local out = nft(h, "list chain inet rstlab " .. chain)
  for line in out:gmatch("[^\n]+") do
    if line:match("# handle " .. handle .. "$") then
      return tonumber(line:match("counter packets (%d+)")) or 0
    end
  end
  return nil
end
local add_rule, del_rule, rule_hits = M.add_rule, M.del_rule, M.rule_hits

--- h:nft(commands) -> nft's echo: commands (as `nft -f` reads them) run
--- in the host's own namespace. For rules the drop{} API does not cover;
--- keep them in table inet rstlab or a table of your own.
function Host:nft(cmds)
  check.arg(cmds, "string", "nft", 1)
  local out = nft(self, cmds)
  -- A rule of the script's own that drops or rejects may take a RST off
  -- the wire, and rstlab cannot count what it took: from now on, an event
  -- of this scenario near a captured RST with its addresses proves nothing
  -- (the reason reads unchecked, never borrowed).
  if cmds:find("drop", 1, true) or cmds:find("reject", 1, true) then
    self.scenario.reasons:fault("h:nft at " .. (failure.script_where() or "?"), function() return nil end)
  end
  return out
end

-- ---------------------------------------------------------------------
-- drop rules

local Rule = {}
Rule.__index = Rule
Rule.__name = "rstlab.Rule"
M.Rule = Rule

local function flags_expr(spec)
  local exact = spec:sub(1, 1) == "="
  if exact then spec = spec:sub(2) end
  local bits, why = tcpflags.parse(spec)
  if not bits then error("drop: " .. why .. " in flags (F S R P . U E W)", 4) end
  if bits == 0 then error("drop: flags must name at least one flag", 4) end
  local set = "(" .. table.concat(tcpflags.names(bits), "|") .. ")"
  if exact then return "tcp flags == " .. set end
  return "tcp flags & " .. set .. " == " .. set
end

local DROP_KEYS = { dir = true, flags = true, nth = true, count = true, iface = true,
  sport = true, dport = true, reset = true }

--- h:drop{ dir =, flags =, nth =, count =, iface =, sport =, dport =,
--- reset = } -> Rule. Drops the host's TCP packets that match:
---   dir    "out": packets the host sends, dropped before its interface
---          (no capture sees them); "in": packets that reach the host,
---          dropped before its IP stack (a capture on the host still shows
---          them arriving); "fwd": packets it forwards (a router).
---   flags  "R": packets with RST set (others may be set too); "=S":
---          exactly SYN. tcpdump's letters: F S R P . U E W.
---   nth    drop only the nth matching packet (1 = the first), and with
---   count  that many from the nth on (default 1 with nth, else all).
---   iface, sport, dport  narrow the match.
---   reset  (dir = "fwd" only) answer with a RST instead of dropping, as
---          a firewall or load balancer does.
--- rule:remove() takes it away; rule:hits() counts the packets it took.
function Host:drop(spec)
  if type(spec) ~= "table" then error("drop: expected a table of options", 2) end
  for k in pairs(spec) do
    if not DROP_KEYS[k] then
      error("drop: unknown option '" .. tostring(k) .. "' (dir, flags, nth, count, iface, sport, dport, reset)", 2)
    end
  end
  local chain = ({ ["in"] = "prerouting", out = "postrouting", fwd = "forward" })[spec.dir]
  if not chain then error('drop: dir must be "in", "out" or "fwd"', 2) end
  local parts = { "meta l4proto tcp" }
  if spec.iface ~= nil then
    if type(spec.iface) ~= "string" or not spec.iface:match("^[%w_%.%-]+$") then
      error("drop: iface must be an interface name", 2)
    end
    parts[#parts + 1] = (spec.dir == "out" and "oifname" or "iifname") .. ' "' .. spec.iface .. '"'
  end
  for _, k in ipairs { "sport", "dport" } do
    local v = spec[k]
    if v ~= nil then
      if math.type(v) ~= "integer" or v < 0 or v > 65535 then error("drop: " .. k .. " must be a port number", 2) end
      parts[#parts + 1] = "tcp " .. k .. " " .. v
    end
  end
  if spec.flags ~= nil then
    if type(spec.flags) ~= "string" then error("drop: flags must be a string such as \"R\" or \"=S\"", 2) end
    parts[#parts + 1] = flags_expr(spec.flags)
  end
  local nth, count = spec.nth, spec.count
  if nth ~= nil or count ~= nil then
    nth = nth or 1
    count = count or 1
    if math.type(nth) ~= "integer" or nth < 1 then error("drop: nth must be a positive integer", 2) end
    if math.type(count) ~= "integer" or count < 1 then error("drop: count must be a positive integer", 2) end
    -- numgen counts the packets that reach it (those that matched
    -- everything before it): 0 for the first.
    parts[#parts + 1] = string.format("numgen inc mod 1000000000 %d-%d", nth - 1, nth + count - 2)
  end
  parts[#parts + 1] = "counter"
  if spec.reset then
    if spec.dir ~= "fwd" then error('drop: reset = true needs dir = "fwd"', 2) end
    parts[#parts + 1] = "reject with tcp reset"
  else
    parts[#parts + 1] = "drop"
  end
  local handle = add_rule(self, chain, table.concat(parts, " "))
  local r = setmetatable({ host = self, chain = chain, handle = handle, spec = spec }, Rule)
  self.rules[#self.rules + 1] = r
  -- A rule that may take RSTs off the wire: their events prove nothing.
  if spec.dir ~= "in" and (spec.flags == nil or spec.flags:find("R", 1, true)) then
    r.fault = self.scenario.reasons:fault("h:drop at " .. (failure.script_where() or "?"),
      function() return r:hits() end)
  end
  return r
end

--- rule:remove(): the rule is gone (idempotent).
function Rule:remove()
  if self.removed then return end
  self.last_hits = rule_hits(self.host, self.chain, self.handle)
  self.removed = true
  del_rule(self.host, self.chain, self.handle)
  if self.fault then self.fault.off() end
end

--- rule:hits() -> packets the rule has taken so far.
function Rule:hits()
  if self.removed then return self.last_hits or 0 end
  return rule_hits(self.host, self.chain, self.handle)
end

--- h:destroy(s | {src =, dst =}) -> number of sockets destroyed: what
--- `ss -K` does, through sock_diag SOCK_DESTROY in h's namespace. s: the
--- kernel socket of a script's Socket of h (by its local and peer
--- addresses); src/dst: "ip:port" of the local and remote ends (either may
--- be left out: any). An established connection sends a RST; the owner's
--- next call fails with ECONNABORTED.
function Host:destroy(what)
  local src, dst
  if socket.is(what) then
    if what.host ~= self then error("destroy: the socket is not on host " .. self.name, 2) end
    src, dst = what.addr, what.peer
  else
    what = check.opts(what, { src = true, dst = true }, "destroy")
    src, dst = what.src, what.dst
    if src == nil and dst == nil then
      error("destroy: name a socket or {src =, dst =} (h:crash() destroys them all)", 2)
    end
  end
  for _, a in ipairs { src or false, dst or false } do
    if a and not core.parse_addr(a) then error("destroy: invalid address '" .. tostring(a) .. "'", 2) end
  end
  local n, msg, code = self.ns:kill_tcp(src, dst)
  if not n then return nil, msg, code end
  return n
end

-- ---------------------------------------------------------------------
-- crash and reboot

--- h:crash(): the host loses every TCP connection without a word to its
--- peers. Its interfaces go silent first (nothing in, nothing out), then
--- every TCP socket in it is destroyed (sock_diag SOCK_DESTROY, orphans
--- and TIME_WAIT too) and the scenario's sockets on it are closed (an
--- actor waiting on one gets ECLOSED, as a process that died). The RSTs
--- the kernel sends for the destroyed connections die in the firewall:
--- none reaches the wire. The host stays down until h:reboot().
function Host:crash()
  if self.down then error("crash: host " .. self.name .. " is down already", 2) end
  local sc = self.scenario
  local before = sc.reasons:sync()
  self.crash_rules = {
    { "prerouting", add_rule(self, "prerouting", "counter drop") },
    { "postrouting", add_rule(self, "postrouting", "counter drop") },
  }
  self.down = true
  local n, msg = self.ns:kill_tcp()
  if not n then error("crash: host " .. self.name .. ": " .. tostring(msg), 2) end
  for _, o in ipairs(sc.objects) do
    if socket.is(o) and o.host == self and not o:closed() then o:close() end
  end
  -- What the kernel logged for RSTs that died in the firewall never
  -- reached a wire: keep those events from being taken as the reason of
  -- a captured RST.
  sc.reasons:suppress_since(before, "the crash of " .. self.name)
  self.crashes = (self.crashes or 0) + 1
  return n
end

--- h:reboot(): the crashed host is back, with the same interfaces and
--- addresses and no TCP state: its kernel answers segments of the old
--- connections with RST.
function Host:reboot()
  if not self.down then error("reboot: host " .. self.name .. " is not down (crash it first)", 2) end
  for _, r in ipairs(self.crash_rules) do del_rule(self, r[1], r[2]) end
  self.crash_rules = nil
  self.down = false
end

-- ---------------------------------------------------------------------
-- crafted segments

-- A crafted segment from an address that no socket of h owns: h's kernel
-- would answer the peer's replies with RSTs of its own (NO_SOCKET). A rule
-- drops those replies as they arrive (prerouting: h's captures still see
-- them), once per source.
local function quiet(h, src, dst)
  local port = tonumber(src:match(":(%d+)$"))
  for _, s in ipairs(h.ns:sockets() or {}) do
    if s.sport == port then return end -- a socket of h: let its kernel answer
  end
  h.quieted = h.quieted or {}
  if h.quieted[src] then return end
  local ip = src:match("^%[?([^%]]+)%]?:%d+$")
  local fam = ip:find(":", 1, true) and "ip6" or "ip"
  M.add_rule(h, "prerouting", string.format("%s daddr %s tcp dport %d counter drop", fam, ip, port))
  h.quieted[src] = true
end

--- h:send{ src =, dst = | as = socket | to = socket, flags = "R", seq =,
--- ack =, win =, urg =, ttl =, mss =, wscale =, sackok =, sack = {{l, r}},
--- tsval =, tsecr =, payload =, quiet = true } -> true | nil, msg, code:
--- one crafted TCP segment from this host (see rstlab.segment). seq and ack
--- are absolute, or "next[+-N]" read from the connection in the scenario's
--- captures; tsval/tsecr "last[+-N]". From a source no socket of h owns,
--- the peer's replies are dropped on arrival at h (quiet = false keeps
--- them: then h's kernel answers them with RSTs).
function Host:send(spec)
  if self.down then error("send: host " .. self.name .. " is down (crashed)", 2) end
  return segment.send(self, spec, quiet)
end

return M
