-- The examples of doc/lua-api.md are right: runs doc_examples.lua (each
-- example inside a complete scenario) on the real kernel through
-- rstlab.run; every scenario passes, and the "MUST FAIL" ones end with the
-- status and message the reference says.

local h = require "harness"
local runs = require "runs"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local summary = runs.file(here .. "doc_examples.lua")

local r = runs.new(h, summary)
r:passes()
r:must_fail("MUST FAIL: t:eq", "fail", "sum: expected 4, got 3", "doc_examples.lua:")
r:must_fail("MUST FAIL: t:ok with the rest of a failed call", "fail",
  "connect (ECONNREFUSED: connect: Connection refused)")
r:must_fail("MUST FAIL: t:fails_with on a success", "fail",
  'expected failure EOF, but the call succeeded and returned "data"')
r:must_fail("MUST FAIL: t:fail", "fail", "expected 1 TIME_WAIT socket, found 0")
r:must_fail("MUST FAIL: t:go: an actor's check after the function returned", "fail",
  "checked after the function returned")
r:must_fail("MUST FAIL: t:skip", "skip", "rstlab-no-such-tool is not installed")
r:must_fail("MUST FAIL: cap:expect a line that does not match", "fail", "expectation failed")
r:must_fail("MUST FAIL: a bad expectation line", "error",
  "expectation line 2: unknown flag letter 'X'")

-- rstlab.load_source: what a file declares, without running it.
h.test("rstlab.load_source", function()
  local rstlab = require "rstlab"
  local list = assert(rstlab.load_source('scenario("one", function(t) end, { timeout = 5 })', "x.lua"))
  h.eq(#list, 1)
  h.eq(list[1].name, "one")
  h.eq(list[1].opts.timeout, 5)
  h.eq(list[1].where, "x.lua:1")
  local none, msg = rstlab.load_source("local x = 1", "empty.lua")
  h.eq(none, nil)
  h.contains(msg, "empty.lua: declares no scenario")
  h.eq(type(rstlab.version), "string")
end)

-- Every ```lua block of doc/lua-api.md is in doc_examples.lua, line for
-- line (each line without its leading and trailing blanks, the block's
-- lines one after the other), so the reference shows what ran.
h.test("every example of doc/lua-api.md is in doc_examples.lua", function()
  local function lines_of(path)
    local out = {}
    for l in io.lines(path) do out[#out + 1] = (l:gsub("^%s+", ""):gsub("%s+$", "")) end
    return out
  end
  local ex = lines_of(here .. "doc_examples.lua")
  local doc = lines_of(here .. "../../doc/lua-api.md")
  local blocks, cur = {}, nil
  for i, l in ipairs(doc) do
    if cur then
      if l == "```" then blocks[#blocks + 1] = cur; cur = nil
      elseif l ~= "" then cur.lines[#cur.lines + 1] = l end
    elseif l == "```lua" then
      cur = { at = i, lines = {} }
    end
  end
  h.ok(#blocks >= 40, "the reference has its examples (" .. #blocks .. ")")
  local function found(block)
    for start = 1, #ex - #block + 1 do
      local k = 0
      while k < #block and ex[start + k] == block[k + 1] do k = k + 1 end
      if k == #block then return true end
    end
    return false
  end
  for _, b in ipairs(blocks) do
    h.ok(#b.lines > 0 and found(b.lines), "doc/lua-api.md:" .. b.at .. ": the example is in doc_examples.lua")
  end
end)

h.test("every scenario ran", function()
  h.eq(#summary.results, 35)
  h.eq(summary.failed, 7)      -- the MUST FAIL ones but t:skip's
  h.eq(summary.skipped, 1)
  h.eq(summary.passed, 27)
end)
h.done()
