--- rstlab.check: argument checks of the scripting API.
---
--- Every API call checks its arguments and says what it expected, at the
--- script's line: `check.opts(opts, KEYS, "listen", 2)` raises
--- "listen: unknown option 'bakclog' (backlog, timeout, ...)". `level` is
--- the level of the API function being checked, as error() counts it from
--- that function (1 = the API function, 2 = its caller...); each check adds
--- its own frame.

local M = {}

local function list(keys)
  local names = {}
  for k in pairs(keys) do names[#names + 1] = k end
  table.sort(names)
  return table.concat(names, ", ")
end

--- opts(v, keys, what [, level]) -> v or {}: v must be nil or a table whose
--- keys are all in the set `keys` (keys = nil: any string keys).
function M.opts(v, keys, what, level)
  level = (level or 2) + 1
  if v == nil then return {} end
  if type(v) ~= "table" then
    error(what .. ": expected a table of options, got " .. type(v)
      .. (type(v) == "string" and (" (" .. string.format("%q", v) .. ")") or ""), level)
  end
  for k in pairs(v) do
    if type(k) ~= "string" then error(what .. ": option names are strings, got " .. type(k), level) end
    if keys and not keys[k] then
      error(what .. ": unknown option '" .. k .. "' (" .. list(keys) .. ")", level)
    end
  end
  return v
end

--- timeout(opts, what [, level]) -> seconds | nil: opts.timeout, a
--- non-negative number of seconds (NaN refused).
function M.timeout(opts, what, level)
  local t = opts and opts.timeout
  if t ~= nil and (type(t) ~= "number" or not (t >= 0)) then
    error(what .. ": timeout must be a non-negative number of seconds, got " .. tostring(t),
      (level or 2) + 1)
  end
  return t
end

--- arg(v, kind, what, n [, level]) -> v: the n-th argument must be of Lua
--- type kind ("string", "number", "integer", "table", "function", "boolean").
function M.arg(v, kind, what, n, level)
  local ok
  if kind == "integer" then ok = math.type(v) == "integer" else ok = type(v) == kind end
  if not ok then
    error(string.format("%s: argument %d must be %s %s, got %s", what, n,
      kind == "integer" and "an" or "a", kind, type(v) == "number" and tostring(v) or type(v)),
      (level or 2) + 1)
  end
  return v
end

return M
