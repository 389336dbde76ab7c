--- Checks over the results of rstlab.run on a file of scenarios, for the
-- Lua tests that run real scenarios (test_api.lua, test_marks.lua): every
-- scenario passes unless its name starts with "MUST FAIL", and those fail
-- each with their own message at their own line.
--
--     local runs = require "runs"
--     local r = runs.new(h, summary)
--     r:passes()
--     r:must_fail("MUST FAIL: ...", "fail", "expected 3, got 2", "api.lua:12:")
--     r:counts(22, 9)

local Runs = {}
Runs.__index = Runs

local runs = {}

-- rstlab.run of the file that make(dir) returns (dir: a directory of the
-- run's own, which goes away afterwards; the pcaps of failing scenarios
-- are kept there), two at a time, quiet; opts are added to the run's.
local function run_in_dir(make, opts)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  local o = { make(dir), jobs = 2, timeout = 20, quiet = true, pcap_dir = dir }
  for k, v in pairs(opts or {}) do o[k] = v end
  local summary = require("rstlab").run(o)
  os.execute("rm -rf " .. dir)
  return summary
end

--- file(path [, opts]) -> summary: rstlab.run of one scenario file.
function runs.file(path, opts)
  return run_in_dir(function() return path end, opts)
end

--- source(name, text [, opts]) -> summary: rstlab.run of scenarios given as
--- text, written to a file called name (what messages name).
function runs.source(name, text, opts)
  return run_in_dir(function(dir)
    local f = assert(io.open(dir .. "/" .. name, "w"))
    f:write(text)
    f:close()
    return dir .. "/" .. name
  end, opts)
end

--- new(harness, summary) -> the results of one rstlab.run, by name.
function runs.new(h, summary)
  local by = {}
  for _, r in ipairs(summary.results) do by[r.name] = r end
  return setmetatable({ h = h, summary = summary, by = by }, Runs)
end

--- r:passes(): one test per scenario not named "MUST FAIL ...": it passed.
function Runs:passes()
  local h = self.h
  for name, r in pairs(self.by) do
    if not name:match("^MUST FAIL") then
      h.test(name, function()
        h.eq(r.status, "pass", (r.where or "") .. " " .. tostring(r.message) .. "\n"
          .. tostring(r.details or r.traceback))
      end)
    end
  end
end

--- r:must_fail(name, status, text [, at]): the scenario ended with status
--- ("fail" or "error") and "where: message" holds text (and at, if given).
function Runs:must_fail(name, status, text, at)
  local h = self.h
  h.test(name, function()
    local r = self.by[name]
    h.ok(r ~= nil, "ran")
    if not r then return end
    h.eq(r.status, status)
    local said = (r.where and (r.where .. ": ") or "") .. tostring(r.message)
    h.contains(said, text)
    if at then h.contains(said, at) end
  end)
end

--- r:counts(total, failed): how many scenarios ran, and failed.
function Runs:counts(total, failed)
  local h, s = self.h, self.summary
  h.test("every scenario ran", function()
    h.eq(#s.results, total)
    h.eq(s.failed, failed)
    h.eq(s.passed, total - failed)
  end)
end

return runs
