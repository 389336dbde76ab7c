--- rstlab.link: a cable between two hosts (beside bindings/llink.c).
---
--- A link is a veth pair (libnl-route-3, core/link.c) whose ends live in
--- two hosts' namespaces, with the addresses the script gives. Its faults
--- are rules in the receiving hosts' own nftables tables.
---
---   local l = t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
---   l:cut()            -- packets across the link are lost (both ways)
---   l:heal()

local core = require "rstlab.core"
local check = require "rstlab.check"
local host = require "rstlab.host"

local M = {}

local Link = {}
Link.__index = Link
Link.__name = "rstlab.Link"
M.Link = Link

local add_rule, del_rule, rule_hits = host.add_rule, host.del_rule, host.rule_hits

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

--- new(sc, a, b [, {a = "10.0.0.1/24", b = "10.0.0.2/24", a_if =, b_if =}])
--- -> Link (t:link calls it): a veth pair between hosts a and b, with the addresses given
--- (a string or a list, IPv4 and IPv6: {"10.0.0.1/24", "fd00::1/64"}),
--- both ends up and running when it returns. The end on a host is named
--- eth0, eth1, ... in the order of that host's links, unless a_if / b_if
--- say otherwise. Routes to the link's own subnets come with the
--- addresses; h:route adds others.
function M.new(sc, a, b, opts)
  if a == b then error("link: a host cannot be linked to itself", 3) end
  opts = check.opts(opts, LINK_KEYS, "link", 3)
  for _, k in ipairs { "a_if", "b_if" } do
    if opts[k] ~= nil and type(opts[k]) ~= "string" then
      error("link: " .. k .. " must be an interface name, got " .. type(opts[k]), 3)
    end
  end
  if a.down or b.down then error("link: a host that is down cannot be linked", 3) end
  local l = setmetatable({ a = a, b = b, scenario = sc, cut_rules = {},
    a_if = opts.a_if or ("eth" .. a.nlinks), b_if = opts.b_if or ("eth" .. b.nlinks),
    a_addrs = addr_list(opts.a, "a"), b_addrs = addr_list(opts.b, "b") }, Link)
  local ok, msg = core.veth(a.ns, l.a_if, b.ns, l.b_if)
  if not ok then error("link " .. a.name .. "-" .. b.name .. ": " .. msg, 3) end
  a.nlinks, b.nlinks = a.nlinks + 1, b.nlinks + 1
  a.ifaces[#a.ifaces + 1] = l.a_if
  b.ifaces[#b.ifaces + 1] = l.b_if
  for _, side in ipairs { { a, l.a_if, l.a_addrs }, { b, l.b_if, l.b_addrs } } do
    local h, ifname, addrs = side[1], side[2], side[3]
    for _, cidr in ipairs(addrs) do
      local ok2, m2 = core.link_addr(h.ns, ifname, cidr)
      if not ok2 then error("link: " .. h.name .. ":" .. ifname .. ": " .. m2, 3) end
      local ip = cidr:match("^([^/]+)/")
      h.addrs[#h.addrs + 1] = { ip = ip, family = ip:find(":", 1, true) and "inet6" or "inet",
        cidr = cidr, iface = ifname }
    end
  end
  for _, side in ipairs { { a, l.a_if }, { b, l.b_if } } do
    local ok2, m2 = core.link_up(side[1].ns, side[2])
    if not ok2 then error("link: " .. side[1].name .. ":" .. side[2] .. ": " .. m2, 3) end
  end
  for _, side in ipairs { { a, l.a_if }, { b, l.b_if } } do
    local ok2, m2 = core.link_wait_up(side[1].ns, side[2], 5)
    if not ok2 then error("link: " .. side[1].name .. ":" .. side[2] .. ": " .. m2, 3) end
  end
  -- Captures that follow a host's interfaces take the new end too.
  for _, side in ipairs { { a, l.a_if }, { b, l.b_if } } do
    for _, cap in ipairs(side[1].following) do cap:add(side[1], side[2]) end
  end
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
  if type(which) == "table" and not host.is(which) then which, opts = nil, which end
  local h, ifname = self:iface(which)
  opts = check.opts(opts, { filter = true }, "capture")
  return h:capture({ filter = opts.filter, iface = ifname })
end

--- link:cut([{dir = "both" | "a>b" | "b>a"}]): packets across the link
--- are lost, both ways or one way. They leave the sender (a capture on
--- the sending end shows them) and are dropped as they arrive at the
--- other end, before its IP stack: no answer, no ICMP, as with a broken
--- cable or a silent middlebox. Cutting again replaces the earlier cut.
function Link:cut(opts)
  opts = check.opts(opts, { dir = true }, "cut")
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

-- Packets the rules of the current cut have swallowed.
local function cut_hits(l)
  local n = 0
  for _, r in ipairs(l.cut_rules) do n = n + (rule_hits(r.host, "prerouting", r.handle) or 0) end
  return n
end

--- link:heal(): the link carries packets again (idempotent). What the cut
--- dropped stays counted in link:dropped().
function Link:heal()
  self.healed_drops = (self.healed_drops or 0) + cut_hits(self)
  for _, r in ipairs(self.cut_rules) do del_rule(r.host, "prerouting", r.handle) end
  self.cut_rules = {}
  self.cut_dir = nil
end

--- link:dropped() -> packets every cut of this link has swallowed so far
--- (those before a heal too).
function Link:dropped()
  return (self.healed_drops or 0) + cut_hits(self)
end

return M
