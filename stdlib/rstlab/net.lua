--- rstlab.net: several hosts, links between them, and faults.
---
---   local a, b = t.host, t:add_host("B")
---   local l = t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
---   l:cut()            -- packets across the link are lost (both ways)
---   l:heal()
---   b:crash()          -- B loses every TCP connection, and says nothing
---   b:reboot()         -- B is back: same addresses, no state
---   b:drop{ dir = "out", flags = "R" }   -- B's RSTs never reach the wire
---
--- A host is a network namespace held by file descriptor (core/netns.c): an
--- anonymous one, so when the scenario process ends (normally, on an error,
--- at a timeout, by a signal or SIGKILL) the kernel removes it with its
--- veth ends and firewall rules; nothing is left on the machine to clean.
--- Faults are nftables rules in the hosts' own namespaces (table
--- `inet rstlab`), never anywhere else.
---
--- This module adds its methods to the classes of rstlab.scenario
--- (install(M)); it sets no globals.

local core = require "rstlab.core"
local tcpflags = require "rstlab.tcpflags"

local N = {}

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

local NAME_PAT = "^[%a_][%w_%-]*$"

function N.install(M)
  local Host, T, Capture = M.Host, M.T, M.Capture

  -- -------------------------------------------------------------------
  -- hosts

  local function check_host(sc, h, what)
    if getmetatable(h) ~= Host or h.scenario ~= sc then
      error(what .. " must be a host of this scenario (t.host or t:add_host)", 3)
    end
    return h
  end

  -- Every host's teardown, once, after the scenario's other objects: kill
  -- what TCP state is left (orphans of the final closes would otherwise
  -- keep a namespace alive in the kernel until their retransmissions give
  -- up), then let go of the namespaces.
  local function teardown(sc)
    if sc.net_teardown then return end
    sc.net_teardown = {
      close = function()
        for _, h in ipairs(sc.hosts) do
          if h.nlinks > 0 or h ~= sc.host then pcall(h.ns.kill_tcp, h.ns) end
        end
        for _, h in ipairs(sc.hosts) do
          if h ~= sc.host then h.ns:close() end
        end
      end,
    }
    sc:hold(sc.net_teardown)
  end

  -- The home host, as the net layer sees it.
  function N.init_host(h)
    h.nlinks = h.nlinks or 0
    h.addrs = h.addrs or {}
    h.ifaces = h.ifaces or { "lo" }
    h.following = h.following or {}
    h.rules = h.rules or {}
    return h
  end

  --- t:add_host(name) -> Host: another machine, a network namespace of its
  --- own with lo up; its sockets are created in it and driven by the same
  --- loop. t.host stays the scenario's first host.
  function T:add_host(name)
    if type(name) ~= "string" or not name:match(NAME_PAT) or #name > 32 then
      error("add_host: the name must be a word (letters, digits, _ and -), got " .. tostring(name), 2)
    end
    self.hosts = self.hosts or { self.host }
    for _, h in ipairs(self.hosts) do
      if h.name == name then error("add_host: there is a host named " .. name .. " already", 2) end
    end
    local ns, msg = core.host_new(name)
    if not ns then error("add_host " .. name .. ": " .. msg, 2) end
    local h = N.init_host(setmetatable({ ns = ns, name = name, scenario = self }, Host))
    N.init_host(self.host)
    self.hosts[#self.hosts + 1] = h
    teardown(self)
    return h
  end

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
    if type(name) ~= "string" then error("sysctl: the name must be a string", 2) end
    if value ~= nil and type(value) ~= "string" and type(value) ~= "number"
      and type(value) ~= "boolean" then
      error("sysctl: the value must be a string, number or boolean", 2)
    end
    local ok, v, msg = pcall(self.ns.sysctl, self.ns, name,
      value ~= nil and (type(value) == "number" and tostring(math.tointeger(value) or value) or value) or nil)
    if not ok then error("sysctl on host " .. self.name .. ": " .. tostring(v):gsub("^rsl_netns_sysctl: ", ""), 2) end
    if v == nil then error("sysctl on host " .. self.name .. ": " .. tostring(msg), 2) end
    return v
  end

  --- h:route(dst, via): a route on this host; dst "default" or
  --- "10.0.2.0/24" (IPv6: "default6" or "fd00:2::/64"), via a gateway.
  function Host:route(dst, via)
    if type(dst) ~= "string" or type(via) ~= "string" then
      error("route: expected route(dst, via), both strings", 2)
    end
    local ok, msg = core.route(self.ns, dst, via)
    if not ok then error("route on host " .. self.name .. ": " .. tostring(msg), 2) end
    return true
  end

  -- Run nft commands in the host's table; the table and its chains are
  -- made on first use.
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

  -- Add one rule; returns its handle.
  local function add_rule(h, chain, text)
    local out = nft(h, "add rule inet rstlab " .. chain .. " " .. text)
    local handle = out:match("# handle (%d+)")
    if not handle then error("nftables on host " .. h.name .. ": no handle in the echo of a new rule", 3) end
    return tonumber(handle)
  end

  local function del_rule(h, chain, handle)
    nft(h, string.format("delete rule inet rstlab %s handle %d", chain, handle))
  end

  -- Packets counted by a rule so far.
  local function rule_hits(h, chain, handle)
    local out = nft(h, "list chain inet rstlab " .. chain)
    for line in out:gmatch("[^\n]+") do
      if line:match("# handle " .. handle .. "$") then
        return tonumber(line:match("counter packets (%d+)")) or 0
      end
    end
    return nil
  end

  --- h:nft(commands) -> nft's echo: commands (as `nft -f` reads them) run
  --- in the host's own namespace. For rules the drop{} API does not cover;
  --- keep them in table inet rstlab or a table of your own.
  function Host:nft(cmds)
    if type(cmds) ~= "string" then error("nft: expected the commands as a string", 2) end
    return nft(self, cmds)
  end

  -- -------------------------------------------------------------------
  -- drop rules

  local Rule = {}
  Rule.__index = Rule
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
    return r
  end

  --- rule:remove(): the rule is gone (idempotent).
  function Rule:remove()
    if self.removed then return end
    self.last_hits = rule_hits(self.host, self.chain, self.handle)
    self.removed = true
    del_rule(self.host, self.chain, self.handle)
  end

  --- rule:hits() -> packets the rule has taken so far.
  function Rule:hits()
    if self.removed then return self.last_hits or 0 end
    return rule_hits(self.host, self.chain, self.handle)
  end

  -- -------------------------------------------------------------------
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
    for s, h in pairs(sc.sock_host or {}) do
      if h == self and not s:closed() then s:close() end
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

  -- -------------------------------------------------------------------
  -- links

  local Link = {}
  Link.__index = Link
  M.Link = Link

  local function addr_list(v, what)
    if v == nil then return {} end
    if type(v) == "string" then return { v } end
    if type(v) == "table" then
      for _, a in ipairs(v) do
        if type(a) ~= "string" then error("link: " .. what .. " addresses must be strings", 4) end
      end
      return v
    end
    error("link: " .. what .. " must be an address (\"10.0.0.1/24\") or a list of them", 4)
  end

  local LINK_KEYS = { a = true, b = true, a_if = true, b_if = true }

  --- t:link(a, b [, {a = "10.0.0.1/24", b = "10.0.0.2/24", a_if =, b_if =}])
  --- -> Link: a veth pair between hosts a and b, with the addresses given
  --- (a string or a list, IPv4 and IPv6: {"10.0.0.1/24", "fd00::1/64"}),
  --- both ends up and running when it returns. The end on a host is named
  --- eth0, eth1, ... in the order of that host's links, unless a_if / b_if
  --- say otherwise. Routes to the link's own subnets come with the
  --- addresses; h:route adds others.
  function T:link(a, b, opts)
    check_host(self, a, "link: the first host")
    check_host(self, b, "link: the second host")
    if a == b then error("link: a host cannot be linked to itself", 2) end
    opts = opts or {}
    if type(opts) ~= "table" then error("link: the options must be a table", 2) end
    for k in pairs(opts) do
      if not LINK_KEYS[k] then error("link: unknown option '" .. tostring(k) .. "' (a, b, a_if, b_if)", 2) end
    end
    self.hosts = self.hosts or { self.host }
    N.init_host(a)
    N.init_host(b)
    teardown(self)
    if a.down or b.down then error("link: a host that is down cannot be linked", 2) end
    local l = setmetatable({ a = a, b = b, scenario = self, cut_rules = {},
      a_if = opts.a_if or ("eth" .. a.nlinks), b_if = opts.b_if or ("eth" .. b.nlinks),
      a_addrs = addr_list(opts.a, "a"), b_addrs = addr_list(opts.b, "b") }, Link)
    local ok, msg = core.veth(a.ns, l.a_if, b.ns, l.b_if)
    if not ok then error("link " .. a.name .. "-" .. b.name .. ": " .. msg, 2) end
    a.nlinks, b.nlinks = a.nlinks + 1, b.nlinks + 1
    a.ifaces[#a.ifaces + 1] = l.a_if
    b.ifaces[#b.ifaces + 1] = l.b_if
    for _, side in ipairs { { a, l.a_if, l.a_addrs }, { b, l.b_if, l.b_addrs } } do
      local h, ifname, addrs = side[1], side[2], side[3]
      for _, cidr in ipairs(addrs) do
        local ok2, m2 = core.link_addr(h.ns, ifname, cidr)
        if not ok2 then error("link: " .. h.name .. ":" .. ifname .. ": " .. m2, 2) end
        local ip = cidr:match("^([^/]+)/")
        h.addrs[#h.addrs + 1] = { ip = ip, family = ip:find(":", 1, true) and "inet6" or "inet",
          cidr = cidr, iface = ifname }
      end
    end
    for _, side in ipairs { { a, l.a_if }, { b, l.b_if } } do
      local ok2, m2 = core.link_up(side[1].ns, side[2])
      if not ok2 then error("link: " .. side[1].name .. ":" .. side[2] .. ": " .. m2, 2) end
    end
    for _, side in ipairs { { a, l.a_if }, { b, l.b_if } } do
      local ok2, m2 = core.link_wait_up(side[1].ns, side[2], 5)
      if not ok2 then error("link: " .. side[1].name .. ":" .. side[2] .. ": " .. m2, 2) end
    end
    -- Captures that follow a host's interfaces take the new end too.
    for _, side in ipairs { { a, l.a_if }, { b, l.b_if } } do
      for _, cap in ipairs(side[1].following) do cap:add(side[1], side[2]) end
    end
    self.links = self.links or {}
    self.links[#self.links + 1] = l
    return l
  end

  -- The side ("a" or "b") of a host or a side name.
  local function side_of(l, which, what)
    if which == nil or which == "a" or which == l.a then return "a" end
    if which == "b" or which == l.b then return "b" end
    error(what .. ": expected \"a\", \"b\" or one of the link's hosts", 3)
  end

  --- link:iface(side) -> host, interface name of that end ("a", "b" or a host).
  function Link:iface(which)
    local s = side_of(self, which, "iface")
    return self[s], self[s .. "_if"]
  end

  --- link:capture([side] [, opts]) -> a capture of that end's interface
  --- (side "a" by default, or a host of the link).
  function Link:capture(which, opts)
    if type(which) == "table" and getmetatable(which) ~= Host then which, opts = nil, which end
    local h, ifname = self:iface(which)
    local o = { filter = opts and opts.filter, iface = ifname }
    return h:capture(o)
  end

  --- link:cut([{dir = "both" | "a>b" | "b>a"}]): packets across the link
  --- are lost, both ways or one way. They leave the sender (a capture on
  --- the sending end shows them) and are dropped as they arrive at the
  --- other end, before its IP stack: no answer, no ICMP, as with a broken
  --- cable or a silent middlebox. Cutting again replaces the earlier cut.
  function Link:cut(opts)
    opts = opts or {}
    if type(opts) ~= "table" then error("cut: the options must be a table", 2) end
    for k in pairs(opts) do
      if k ~= "dir" then error("cut: unknown option '" .. tostring(k) .. "' (dir)", 2) end
    end
    local dir = opts.dir or "both"
    local into = ({ both = { "a", "b" }, ["a>b"] = { "b" }, ["b>a"] = { "a" } })[dir]
    if not into then error('cut: dir must be "both", "a>b" or "b>a"', 2) end
    self:heal()
    for _, s in ipairs(into) do
      local h, ifname = self[s], self[s .. "_if"]
      local handle = add_rule(h, "prerouting", 'iifname "' .. ifname .. '" counter drop')
      self.cut_rules[#self.cut_rules + 1] = { host = h, handle = handle }
    end
    self.cut_dir = dir
  end

  --- link:heal(): the link carries packets again (idempotent).
  function Link:heal()
    for _, r in ipairs(self.cut_rules) do del_rule(r.host, "prerouting", r.handle) end
    self.cut_rules = {}
    self.cut_dir = nil
  end

  --- link:dropped() -> packets the cut has swallowed so far.
  function Link:dropped()
    local n = 0
    for _, r in ipairs(self.cut_rules) do n = n + (rule_hits(r.host, "prerouting", r.handle) or 0) end
    return n
  end

  -- -------------------------------------------------------------------
  -- captures on several interfaces

  --- cap:add(host [, iface | {iface =, filter =}]) -> cap: one more
  --- interface (default: lo) into the same timeline, sorted by time.
  function Capture:add(host, opts)
    check_host(self.scenario, host, "add: the host")
    local iface, filter
    if type(opts) == "string" then iface = opts
    elseif type(opts) == "table" then iface, filter = opts.iface, opts.filter
    elseif opts ~= nil then error("add: expected an interface name or {iface =, filter =}", 2) end
    iface = iface or "lo"
    local ok, msg = self.c:add(host.ns, iface, filter or self.filter, host.name .. ":" .. iface)
    if not ok then error("capture add " .. host.name .. ":" .. iface .. ": " .. tostring(msg), 2) end
    return self
  end
end

return N
