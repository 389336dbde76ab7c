--- rstlab.failure: what a failed check is, and where in the script it was.
---
--- A failed assertion or expectation is raised as a Failure object (not a
--- string), so the scenario can tell a failure from an error and report
--- the script line it happened at. Misuse (a bad argument) raises a plain
--- error at the caller's line: see rstlab.check.

local M = {}

local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(f)
  return (f.where and (f.where .. ": ") or "") .. f.message
end
M.Failure = Failure

-- A frame of rstlab's own stdlib (embedded chunks are named @stdlib/...).
local function internal(info)
  return info.what == "C" or info.source:match("^@stdlib/") ~= nil
end

--- script_where([co]) -> "file:line" of the innermost frame outside
--- rstlab's stdlib: the script line that made the current call (or, with a
--- coroutine, the line it waits at); nil when there is none.
function M.script_where(co)
  for level = co and 0 or 2, 60 do
    local info
    if co then info = debug.getinfo(co, level, "Sl") else info = debug.getinfo(level, "Sl") end
    if not info then break end
    if not internal(info) then
      return info.short_src .. ":" .. (info.currentline or 0)
    end
  end
  return nil
end

--- is(e) -> whether e is a Failure.
function M.is(e) return getmetatable(e) == Failure end

--- raise(message [, fields]): fail the scenario at the script's line.
--- fields may add details (text shown under the message), where, skip.
function M.raise(message, fields)
  local f = { message = message, where = M.script_where() }
  for k, v in pairs(fields or {}) do f[k] = v end
  error(setmetatable(f, Failure), 0)
end

return M
