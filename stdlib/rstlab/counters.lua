--- rstlab.counters: a host's TCP counters, as a script reads them (what
--- h:counters() returns; the kernel's files are read in the host's own
--- namespace by core/netns.c through bindings/lhost.c).
---
--- A Counters table holds the Tcp MIB (/proc/net/snmp) and the TcpExt MIB
--- (/proc/net/netstat) of one host, keyed by the kernel's names:
--- `c.TCPAbortOnClose`, `c.OutRsts`. A name that is in both MIBs has no
--- bare key (reading it raises, naming both); it is kept as `Tcp.Name` and
--- `TcpExt.Name`, and every counter can be read that way too
--- (`c["Tcp.OutRsts"]`). Reading a name the kernel does not have raises:
--- a typo never reads as 0.
---
---   local c0 = b:counters()
---   ...
---   local d = b:counters():since(c0)    -- only what moved: pairs(d)
---   d:expect{ TCPChallengeACK = 1, TCPACKSkippedChallenge = 1 }
---   t:log(d)                            -- "TCPChallengeACK +1, ..."

local failure = require "rstlab.failure"

local M = {}

local Counters = {} -- methods
local meta = { __name = "rstlab.Counters" }

-- What a Counters table knows beside its keys: { values = { ["Tcp.X"] =
-- n, ... } (every counter), index = { X = { "Tcp.X", ... } }, host = name,
-- delta = whether the values are differences }.
local info = setmetatable({}, { __mode = "k" })

-- The key of a counter in a script's table: its bare name when only one
-- MIB has it.
local function key_of(index, q)
  local bare = q:match("^[^.]+%.(.+)$")
  return #index[bare] == 1 and bare or q
end

local function make(values, index, host, delta)
  local c = setmetatable({}, meta)
  for q, v in pairs(values) do
    if not delta or v ~= 0 then c[key_of(index, q)] = v end
  end
  info[c] = { values = values, index = index, host = host, delta = delta }
  return c
end

--- new(groups, host) -> Counters: groups as the binding gives them,
--- { Tcp = { OutRsts = 1, ... }, TcpExt = { ... } }; host names the host
--- (for messages and to keep deltas to one host).
function M.new(groups, host)
  local values, index = {}, {}
  for group, t in pairs(groups) do
    for name, v in pairs(t) do
      local q = group .. "." .. name
      values[q] = v
      index[name] = index[name] or {}
      table.insert(index[name], q)
    end
  end
  for _, qs in pairs(index) do table.sort(qs) end
  return make(values, index, host, false)
end

--- is(v) -> whether v is a Counters table.
function M.is(v) return info[v] ~= nil end

-- The qualified name a script's name stands for; raises (at level) for a
-- name in several MIBs or in none.
local function qualified(i, name, level)
  if i.values[name] then return name end
  local qs = i.index[name]
  if qs and #qs == 1 then return qs[1] end
  if qs then
    error(string.format("counter '%s' is in more than one MIB: say %s", name,
      table.concat(qs, " or ")), level + 1)
  end
  error(string.format("no TCP counter '%s' on host %s (the kernel's names, as in "
    .. "/proc/net/snmp's Tcp and /proc/net/netstat's TcpExt lines: TCPAbortOnClose, OutRsts, ...)",
    tostring(name), i.host or "?"), level + 1)
end

meta.__index = function(c, k)
  local m = Counters[k]
  if m ~= nil then return m end
  local i = info[c]
  return i.values[qualified(i, k, 2)]
end

-- "+1" for a difference, "1" for a value.
local function shown(i, v)
  if i.delta and v > 0 then return "+" .. v end
  return tostring(v)
end

-- The counters that are not 0, sorted: "OutRsts +1, TCPAbortOnClose +1".
local function nonzero(c)
  local i, out = info[c], {}
  for q, v in pairs(i.values) do
    if v ~= 0 then out[#out + 1] = key_of(i.index, q) .. " " .. shown(i, v) end
  end
  table.sort(out)
  return table.concat(out, ", ")
end

meta.__tostring = function(c)
  local s = nonzero(c)
  if s ~= "" then return s end
  return info[c].delta and "(nothing moved)" or "(every counter is 0)"
end

--- c:since(c0) -> Counters of the differences c - c0, with keys only for
--- the counters that moved (pairs gives those); reading any other known
--- counter gives 0. c0 must be counters of the same host, read earlier.
function Counters:since(c0)
  local i, i0 = info[self], info[c0]
  if not i0 then error("since: expected counters (h:counters()), got " .. type(c0), 2) end
  if i.delta or i0.delta then error("since: takes two readings, not differences", 2) end
  if i.host ~= i0.host then
    error(string.format("since: these are the counters of host %s, the earlier ones of host %s",
      tostring(i.host), tostring(i0.host)), 2)
  end
  local d = {}
  for q, v in pairs(i.values) do d[q] = v - (i0.values[q] or 0) end
  return make(d, i.index, i.host, true)
end

--- c:expect{ name = n, ... } -> c: each named counter is n (a difference
--- from since: moved by exactly n, 0 = did not move); the others are not
--- looked at. Otherwise the scenario fails with every counter that
--- differs and what moved. Unknown names raise.
function Counters:expect(want)
  if type(want) ~= "table" then error("expect: expected { name = value, ... }", 2) end
  local i = info[self]
  local names = {}
  for k, v in pairs(want) do
    if type(k) ~= "string" then error("expect: counter names are strings", 2) end
    if math.type(v) ~= "integer" then
      error(string.format("expect: the value of %s must be an integer, got %s", k, tostring(v)), 2)
    end
    qualified(i, k, 2)
    names[#names + 1] = k
  end
  table.sort(names)
  local wrong = {}
  for _, k in ipairs(names) do
    local got = i.values[qualified(i, k, 2)]
    if got ~= want[k] then
      wrong[#wrong + 1] = string.format("%s: expected %s, %s %s", k, shown(i, want[k]),
        i.delta and "moved" or "is", shown(i, got))
    end
  end
  if #wrong > 0 then
    failure.raise(string.format("counters of host %s: %s", tostring(i.host),
      table.concat(wrong, "; ")), { details = (i.delta and "what moved: " or "what is not 0: ")
        .. tostring(self) })
  end
  return self
end

return M
