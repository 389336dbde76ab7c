--- A tiny test harness for rstlab's Lua tests.
--
--     local h = require "harness"
--     h.test("parses a SYN", function()
--       h.eq(f(1), 2)
--       h.raises("line 3", function() g() end)
--     end)
--     h.done()
--
-- Every check counts once. A failing check prints one line ("FAIL <test>
-- (file:line): <what>") and the test goes on; an error escaping a test counts
-- as one failure and ends that test (set HARNESS_TRACE=1 to print its
-- traceback too); a test that ran no check fails too.
-- done() prints "N passed, N failed" and exits non-zero if anything failed.

local harness = {}

local passed, failed = 0, 0
local current = "(outside a test)"
local checks_in_test = 0

-- Where in the test file the check was called from.
local function caller()
  local level = 3
  while true do
    local info = debug.getinfo(level, "Sl")
    if info == nil then return "?" end
    if info.short_src ~= debug.getinfo(1, "S").short_src then
      return info.short_src .. ":" .. (info.currentline or 0)
    end
    level = level + 1
  end
end

local function record(good, what)
  checks_in_test = checks_in_test + 1
  if good then
    passed = passed + 1
  else
    failed = failed + 1
    print(string.format("FAIL %s (%s): %s", current, caller(), what))
  end
  return good
end

-- A readable, deterministic rendering of a value for failure messages.
local function show(v, depth)
  depth = depth or 0
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  if depth > 3 then return "{...}" end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  local parts = {}
  for _, k in ipairs(keys) do
    local ks = (type(k) == "string" and k:match("^[%a_][%w_]*$")) and k or ("[" .. show(k) .. "]")
    parts[#parts + 1] = ks .. " = " .. show(v[k], depth + 1)
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end
harness.show = show

local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

--- Run one named test; errors inside it are caught and counted.
-- @param name string
-- @param fn function
function harness.test(name, fn)
  current, checks_in_test = name, 0
  local trace
  local ok, err = xpcall(fn, function(e)
    trace = debug.traceback(tostring(e), 2)
    return e
  end)
  if not ok then
    failed = failed + 1
    print(string.format("FAIL %s: error: %s", name, (tostring(err):gsub("\n", " "))))
    if os.getenv("HARNESS_TRACE") then print(trace) end
  elseif checks_in_test == 0 then
    failed = failed + 1
    print(string.format("FAIL %s: the test ran no check", name))
  end
  current = "(outside a test)"
end

--- Check that got equals want (tables compared deeply).
-- @return boolean
function harness.eq(got, want, msg)
  return record(deep_equal(got, want), string.format("%sexpected %s, got %s",
    msg and (msg .. ": ") or "", show(want), show(got)))
end

--- Check that v is truthy.
-- @return boolean
function harness.ok(v, msg)
  return record(v and true or false, msg or ("expected a true value, got " .. show(v)))
end

--- Check that the string s contains needle (plain text, not a pattern).
-- @return boolean
function harness.contains(s, needle, msg)
  local good = type(s) == "string" and s:find(needle, 1, true) ~= nil
  return record(good, string.format("%sexpected %s to contain %s",
    msg and (msg .. ": ") or "", show(s), show(needle)))
end

--- Check that fn raises an error whose message matches the Lua pattern.
-- @return the error message (or nil if fn did not raise)
function harness.raises(pattern, fn, msg)
  local ok, err = pcall(fn)
  if ok then
    record(false, (msg and (msg .. ": ") or "") .. "expected an error matching "
      .. show(pattern) .. ", but none was raised")
    return nil
  end
  err = tostring(err)
  record(err:find(pattern) ~= nil, string.format("%sexpected an error matching %s, got %s",
    msg and (msg .. ": ") or "", show(pattern), show(err)))
  return err
end

--- Print "N passed, N failed" and exit: status 0 only if nothing failed.
function harness.done()
  print(string.format("%d passed, %d failed", passed, failed))
  os.exit(failed == 0)
end

return harness
