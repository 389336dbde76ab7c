--- rstlab.ladder: how a person sees captured TCP packets.
--
-- Two renderings of the packet tables the capture produces: a one-line,
-- tcpdump-like form (`ladder.line`) used in reports and failure messages, and
-- a ladder diagram with one column per endpoint and one arrow per packet
-- (`ladder.render`).  It also owns the one implementation of tcpdump's
-- relative sequence numbers (`ladder.relative`, `ladder.bases`), which the
-- expectation matcher (rstlab.expect) uses too, so that what a line says and
-- what a report prints can never disagree.
--
-- Packet tables: { ts, src, dst, flags (the header's bits), seq, ack,
-- win, len, mss, wscale, sackok, sack = { {l, r}, ... }, tsval, tsecr }.

local tcpflags = require "rstlab.tcpflags"

local ladder = {}

local MASK = 0xFFFFFFFF

local SYN, ACK = tcpflags.SYN, tcpflags.ACK

local function u32(x)
  local i = math.tointeger(x)
  if i == nil then
    error("packet field is not an integer: " .. tostring(x), 3)
  end
  return i & MASK
end

---------------------------------------------------------------------------
-- Relative sequence numbers.
---------------------------------------------------------------------------

local Rel = {}
Rel.__index = Rel

--- A new, empty set of relative-number bases (tcpdump's relative seq/ack).
-- Feed it the packets between the bound endpoints in capture order with
-- `rel:add(pkt)`. The base (ISN) of direction A→B is the seq of the first SYN
-- A sent to B, or, while A has sent no SYN, the seq of A's first packet to B;
-- so a RST from a port without a listener numbers from 0. Fed packet by
-- packet, the bases are those of the packets seen so far.
-- `rel.t0` is the timestamp of the first packet added (nil before any).
-- @return a relative-number object with :add, :seq, :ack, :edge
function ladder.relative()
  return setmetatable({ isn = {}, t0 = nil }, Rel)
end

--- Take one packet into account (call in capture order).
function Rel:add(pkt)
  if self.t0 == nil then self.t0 = pkt.ts end
  local key = pkt.src .. " " .. pkt.dst
  local syn = pkt.flags & SYN ~= 0
  local cur = self.isn[key]
  if cur == nil or (syn and not cur.syn) then
    self.isn[key] = { base = u32(pkt.seq), syn = syn }
  end
end

--- Relative seq of a packet (absolute if its direction has no base yet).
-- @return integer
function Rel:seq(pkt)
  local b = self.isn[pkt.src .. " " .. pkt.dst]
  if b == nil then return u32(pkt.seq) end
  return (u32(pkt.seq) - b.base) & MASK
end

--- A sequence number of the peer's stream (an ack or a SACK edge) carried by
--- pkt, made relative to the peer's base (absolute if the peer has none yet).
-- @param pkt the packet carrying the number
-- @param n absolute number
-- @return integer
function Rel:edge(pkt, n)
  local b = self.isn[pkt.dst .. " " .. pkt.src]
  if b == nil then return u32(n) end
  return (u32(n) - b.base) & MASK
end

--- Relative ack of a packet.
-- @return integer
function Rel:ack(pkt)
  return self:edge(pkt, pkt.ack)
end

---------------------------------------------------------------------------
-- Endpoints and names.
---------------------------------------------------------------------------

-- The endpoints a bind value stands for: "ip:port" or a list of them;
-- nil when it is neither.
local function endpoints(v)
  if type(v) == "string" then return { v } end
  if type(v) ~= "table" or #v == 0 then return nil end
  for _, ep in ipairs(v) do
    if type(ep) ~= "string" then return nil end
  end
  return v
end

--- Reverse a binds table (name → "ip:port", or a list of them: every
-- address one socket had) into endpoint → name.
-- Raises if a value is neither or two names share one endpoint.
-- Endpoint strings compare case-insensitively (IPv6 hex digits).
-- @param binds table name → endpoint string or list of them
-- @return table lower-cased endpoint → name
function ladder.names(binds)
  local list = {}
  for name in pairs(binds or {}) do list[#list + 1] = name end
  table.sort(list, function(a, b) return tostring(a) < tostring(b) end)
  local names = {}
  for _, name in ipairs(list) do
    local eps = endpoints(binds[name])
    if type(name) ~= "string" or not eps then
      error(string.format("binds: %s must map a name to an \"ip:port\" string or a list of them, got %s",
        tostring(name), type(binds[name])), 0)
    end
    for _, ep in ipairs(eps) do
      local key = ep:lower()
      if names[key] and names[key] ~= name then
        error(string.format("binds: names '%s' and '%s' are bound to the same endpoint %s",
          names[key], name, ep), 0)
      end
      names[key] = name
    end
  end
  return names
end

--- Name of an endpoint (its address if it is not bound).
-- @param names table from ladder.names (may be nil)
-- @param ep endpoint string
function ladder.name(names, ep)
  return names and names[ep:lower()] or ep
end

--- Whether both ends of a packet are bound endpoints.
-- @param names table from ladder.names
function ladder.considered(names, pkt)
  return names[pkt.src:lower()] ~= nil and names[pkt.dst:lower()] ~= nil
end

--- Relative-number bases over a list of packets: only packets between bound
--- endpoints count, in list order.
-- @param packets list of packet tables
-- @param binds table name → endpoint string (or a list of them)
-- @return relative-number object (see ladder.relative)
function ladder.bases(packets, binds)
  local names = ladder.names(binds)
  local rel = ladder.relative()
  for _, p in ipairs(packets) do
    if ladder.considered(names, p) then rel:add(p) end
  end
  return rel
end

---------------------------------------------------------------------------
-- One-line form.
---------------------------------------------------------------------------

-- "[P.] seq 1:6 ack 1": flags and numbers, the heart of both forms.
local function numbers(pkt, rel, with_win)
  local out = { "[" .. tcpflags.letters(pkt.flags) .. "]" }
  local seq = rel and rel:seq(pkt) or u32(pkt.seq)
  local len = pkt.len or 0
  if len > 0 then
    out[#out + 1] = string.format("seq %d:%d", seq, (seq + len) & MASK)
  else
    out[#out + 1] = string.format("seq %d", seq)
  end
  if pkt.flags & ACK ~= 0 and pkt.ack then
    out[#out + 1] = string.format("ack %d", rel and rel:ack(pkt) or u32(pkt.ack))
  end
  if with_win and pkt.win then out[#out + 1] = "win " .. pkt.win end
  if len > 0 then out[#out + 1] = "len " .. len end
  return out
end

--- A packet's label on a ladder arrow: flags, relative seq (L:R with
--- data), ack (with the ACK flag) and len, e.g. "[P.] seq 1:6 ack 1 len 5".
-- @param pkt packet table
-- @param rel relative-number object, or nil for absolute numbers
-- @return string
function ladder.label(pkt, rel)
  return table.concat(numbers(pkt, rel, false), " ")
end

--- One packet on one line, tcpdump-like, in the words of the expectation
--- language: `C > S  [P.] seq 1:6 ack 1 win 512 len 5  +0.000s`.
-- seq L:R is shown when the packet carries data; ack only with the ACK flag;
-- options as mss N, wscale N, sackOK, ts, sack L:R.
-- @param pkt packet table
-- @param names endpoint → name (ladder.names), or nil for addresses
-- @param rel relative-number object, or nil for absolute numbers; when it
--        has a t0, the time since that first packet is appended
-- @return string
function ladder.line(pkt, names, rel)
  local parts = numbers(pkt, rel, true)
  if pkt.mss then parts[#parts + 1] = "mss " .. pkt.mss end
  if pkt.wscale then parts[#parts + 1] = "wscale " .. pkt.wscale end
  if pkt.sackok then parts[#parts + 1] = "sackOK" end
  if pkt.tsval then parts[#parts + 1] = "ts" end
  for _, blk in ipairs(pkt.sack or {}) do
    local l = rel and rel:edge(pkt, blk[1]) or u32(blk[1])
    local r = rel and rel:edge(pkt, blk[2]) or u32(blk[2])
    parts[#parts + 1] = string.format("sack %d:%d", l, r)
  end
  local s = string.format("%s > %s  %s", ladder.name(names, pkt.src),
    ladder.name(names, pkt.dst), table.concat(parts, " "))
  if rel and rel.t0 and pkt.ts then
    s = s .. string.format("  +%.3fs", pkt.ts - rel.t0)
  end
  return s
end

---------------------------------------------------------------------------
-- Ladder diagram.
---------------------------------------------------------------------------

local UTF8 = { v = "│", h = "─", right = "▶", left = "◀" }
local ASCII = { v = "|", h = "-", right = ">", left = "<" }

-- Display width of a string: code points when it is valid UTF-8.
local function width(s)
  return utf8.len(s) or #s
end

local function put(cells, at, s)
  for c in s:gmatch(utf8.charpattern) do
    cells[at] = c
    at = at + 1
  end
end

local function centred(cells, centre, s)
  put(cells, centre - width(s) // 2, s)
end

--- A ladder diagram of packets: one column per endpoint (name and address on
--- top), one arrow per packet between bound endpoints, labelled with flags,
--- relative seq/ack and len, with the time since the first packet on the right.
--   opts.ascii  use | - < > instead of box-drawing characters
--   opts.marks  { [index in packets] = "text" } printed right of that row
--   opts.rel    relative-number object to use (default ladder.bases(packets, binds))
-- Packets not between two bound endpoints are left out.
-- @param packets list of packet tables
-- @param binds table name → endpoint string (or a list of them)
-- @param opts table or nil
-- @return multi-line string (ending without a newline)
function ladder.render(packets, binds, opts)
  opts = opts or {}
  local g = opts.ascii and ASCII or UTF8
  local names = ladder.names(binds)
  local rel = opts.rel or ladder.bases(packets, binds)
  local marks = opts.marks or {}

  -- Columns: endpoints in order of first appearance, then the unused ones.
  local cols, colof = {}, {}
  local function addcol(ep)
    local key = ep:lower()
    if not colof[key] then
      cols[#cols + 1] = { ep = ep, name = names[key] }
      colof[key] = #cols
    end
  end
  local rows = {}
  for i, p in ipairs(packets) do
    if ladder.considered(names, p) then
      addcol(p.src)
      addcol(p.dst)
      rows[#rows + 1] = { i = i, p = p, label = ladder.label(p, rel) }
    end
  end
  local unused = {}
  for name, v in pairs(binds) do
    for _, ep in ipairs(endpoints(v)) do
      if not colof[ep:lower()] then unused[#unused + 1] = { ep = ep, name = name } end
    end
  end
  table.sort(unused, function(a, b)
    if a.name ~= b.name then return a.name < b.name end
    return a.ep < b.ep
  end)
  for _, u in ipairs(unused) do
    addcol(u.ep)
  end

  local hdr, lab = 0, 0
  for _, c in ipairs(cols) do hdr = math.max(hdr, width(c.name), width(c.ep)) end
  for _, r in ipairs(rows) do lab = math.max(lab, width(r.label)) end
  local gap = math.max(lab + 6, hdr + 2, 16)
  local pos = {}
  for k = 1, #cols do pos[k] = (k == 1) and (hdr // 2 + 2) or (pos[k - 1] + gap) end
  local total = (pos[#cols] or 1) + hdr // 2 + 1

  local function blank(bars)
    local cells = {}
    for x = 1, total do cells[x] = " " end
    if bars then for k = 1, #cols do cells[pos[k]] = g.v end end
    return cells
  end
  local function finish(cells, suffix)
    local line = table.concat(cells):gsub("%s+$", "")
    return (line .. (suffix or "")):gsub("%s+$", "")
  end

  local out = {}
  local nameline, addrline = blank(false), blank(false)
  for k, c in ipairs(cols) do
    centred(nameline, pos[k], c.name)
    centred(addrline, pos[k], c.ep)
  end
  out[#out + 1] = finish(nameline)
  out[#out + 1] = finish(addrline)
  out[#out + 1] = finish(blank(true))
  if #rows == 0 then
    out[#out + 1] = "  (no packets)"
  end
  for _, r in ipairs(rows) do
    local cells = blank(true)
    local a, b = colof[r.p.src:lower()], colof[r.p.dst:lower()]
    if a < b then
      for x = pos[a] + 1, pos[b] - 2 do cells[x] = g.h end
      cells[pos[b] - 1] = g.right
      put(cells, pos[a] + 3, r.label)
    elseif a > b then
      cells[pos[b] + 1] = g.left
      for x = pos[b] + 2, pos[a] - 1 do cells[x] = g.h end
      put(cells, pos[b] + 4, r.label)
    else -- a packet from an endpoint to itself: label beside its column
      put(cells, pos[a] + 2, r.label)
    end
    local suffix = ""
    if rel.t0 and r.p.ts then suffix = string.format("  +%.3fs", r.p.ts - rel.t0) end
    if marks[r.i] then suffix = suffix .. "  " .. marks[r.i] end
    out[#out + 1] = finish(cells, suffix)
  end
  return table.concat(out, "\n")
end

return ladder
