--- rstlab.segment: crafted TCP segments (beside bindings/lcraft.c).
---
--- h:send{...} builds one TCP segment and sends it from host h through a
--- raw socket in h's namespace (core/craft.c): an ACK for a connection
--- that does not exist, a RST at a chosen sequence number, a SYN on an
--- established connection, a segment with an old timestamp. It leaves
--- through h's routing and firewall, and h's captures see it like any
--- other packet (marked injected in ladders and reports).
---
--- Numbers may be given relative to a live connection, read from the
--- scenario's captures (exact: the numbers on the wire), so that an
--- exact-sequence RST or one just outside the window is one line:
---
---   h:send{ to = conn, flags = "R", seq = "next" }          -- exact: resets
---   h:send{ to = conn, flags = "R", seq = "next+1000" }     -- in window: challenge ACK
---   h:send{ as = cli, flags = ".", seq = "next", ack = "next", tsval = "last-100000" }

local core = require "rstlab.core"
local check = require "rstlab.check"
local tcpflags = require "rstlab.tcpflags"

local M = {}

local MOD = 0x100000000

-- a - b as a signed 32-bit difference (serial number arithmetic).
local function diff(a, b)
  local d = (a - b) % MOD
  if d >= MOD / 2 then d = d - MOD end
  return d
end

-- What the scenario's captures say of the direction src > dst: the next
-- sequence number src sends (its snd_nxt), its latest timestamp value.
-- Only the kernel's own packets count (not a RST, whose number is not
-- consumed, nor a crafted segment). nil when no capture holds one.
local function direction(sc, src, dst)
  local nxt, tsval, seen
  for _, cap in ipairs(sc.captures) do
    for i = 1, cap.c:count() do
      local p = cap.c:packet(i)
      if p.src == src and p.dst == dst and p.flags & tcpflags.RST == 0
        and not M.injected(sc, p) then
        local e = p.seq + p.len
        if p.flags & (tcpflags.SYN | tcpflags.FIN) ~= 0 then e = e + 1 end
        e = e % MOD
        if not nxt or diff(e, nxt) > 0 then nxt = e end
        if p.tsval then tsval = p.tsval end
        seen = true
      end
    end
  end
  if not seen then return nil end
  return { nxt = nxt, tsval = tsval }
end

-- A value: a number as is, or "BASE", "BASE+N", "BASE-N" with base from
-- the connection.
local function value(v, name, base, what)
  if math.type(v) == "integer" then return v % MOD end
  if type(v) ~= "string" then
    error("send: " .. name .. " must be an integer or \"" .. what .. "[+-N]\", got " .. type(v), 4)
  end
  local word, sign, n = v:match("^(%a+)%s*([%+%-]?)%s*(%d*)$")
  if word ~= what or (sign ~= "" and n == "") or (sign == "" and n ~= "") then
    error("send: " .. name .. " must be an integer or \"" .. what .. "[+-N]\", got \"" .. v .. "\"", 4)
  end
  if base == nil then
    error("send: " .. name .. " = \"" .. v .. "\" needs the connection's packets in a capture "
      .. "of this scenario, and none holds them", 4)
  end
  local d = tonumber(n ~= "" and n or "0")
  return (base + (sign == "-" and -d or d)) % MOD
end

local KEYS = { src = true, dst = true, as = true, to = true, flags = true, seq = true, ack = true,
  win = true, urg = true, ttl = true, mss = true, wscale = true, sackok = true, sack = true,
  tsval = true, tsecr = true, payload = true, quiet = true }

--- send(h, spec) -> true | nil, msg, code (see host.lua's h:send). quiet(h,
--- src, dst) is called when the source has no socket on h, before sending.
function M.send(h, spec, quiet)
  spec = check.opts(spec, KEYS, "send", 3)
  local src, dst = spec.src, spec.dst
  if spec.as ~= nil then
    src, dst = spec.as.addr, spec.as.peer
  elseif spec.to ~= nil then
    src, dst = spec.to.peer, spec.to.addr
  end
  if type(src) ~= "string" or type(dst) ~= "string" then
    error("send: give src and dst (\"ip:port\"), or as = a connected socket, or to = one", 3)
  end
  local sfam, why = core.parse_addr(src)
  if not sfam then error("send: src: " .. why, 3) end
  local dfam, why2 = core.parse_addr(dst)
  if not dfam then error("send: dst: " .. why2, 3) end
  if sfam ~= dfam then error("send: src and dst must both be IPv4 or both IPv6", 3) end
  local bits = 0
  if spec.flags ~= nil then
    if type(spec.flags) ~= "string" then error("send: flags must be letters such as \"R\" or \"S.\"", 3) end
    local why
    bits, why = tcpflags.parse(spec.flags)
    if not bits then error("send: " .. why .. " in flags", 3) end
  end
  local sc = h.scenario
  local fwd, back = direction(sc, src, dst), direction(sc, dst, src)
  local f = { src = src, dst = dst, flags = bits, win = spec.win, urg = spec.urg, ttl = spec.ttl,
    mss = spec.mss, wscale = spec.wscale, sackok = spec.sackok, sack = spec.sack,
    payload = spec.payload }
  f.seq = spec.seq ~= nil and value(spec.seq, "seq", fwd and fwd.nxt, "next") or 0
  f.ack = spec.ack ~= nil and value(spec.ack, "ack", back and back.nxt, "next") or 0
  if spec.tsval ~= nil then
    f.tsval = value(spec.tsval, "tsval", fwd and fwd.tsval, "last")
    f.tsecr = spec.tsecr ~= nil and value(spec.tsecr, "tsecr", back and back.tsval, "last") or 0
  elseif spec.tsecr ~= nil then
    error("send: tsecr goes with tsval", 3)
  end
  if spec.payload ~= nil and type(spec.payload) ~= "string" then error("send: payload must be a string", 3) end
  if spec.quiet ~= false then quiet(h, src, dst) end
  sc.injected[#sc.injected + 1] = { src = src, dst = dst, seq = f.seq, flags = bits, at = core.wallclock() }
  return core.segment_send(h.ns, f)
end

--- injected(sc, p) -> whether packet p is one the scenario crafted.
function M.injected(sc, p)
  for _, s in ipairs(sc.injected) do
    if s.src == p.src and s.dst == p.dst and s.seq == p.seq and s.flags == p.flags
      and p.ts >= s.at - 0.001 then
      return true
    end
  end
  return false
end

return M
