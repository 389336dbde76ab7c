--- rstlab.report.junit: JUnit XML (`--junit FILE`), as GitLab, GitHub and
-- Jenkins read it.

local common = require "rstlab.report.common"

local M = {
  name = "junit", option = "--junit", arg = "FILE",
  help = "write a JUnit XML report to FILE",
}

--- A script's JUnit class name: its path without ".lua", "/" made "."
-- ("scripts/refused.lua" -> "scripts.refused"): Jenkins splits a classname
-- at its last dot into package and class.
function M.classname(file)
  local c = file:gsub("%.lua$", ""):gsub("^%./", ""):gsub("/+", ".")
  return c ~= "" and c or file
end

-- What goes to a testcase's system-out: where the capture is, logs.
local function system_out(r)
  local out = {}
  if r.pcap then out[#out + 1] = "pcap: " .. r.pcap end
  for _, l in ipairs(r.logs or {}) do out[#out + 1] = "log: " .. l end
  for _, u in ipairs(r.unchecked or {}) do out[#out + 1] = "unchecked: " .. u end
  -- (a failure's own text has them already)
  if r.status == "pass" or r.status == "skip" then
    for _, l in ipairs(common.programs_lines(r)) do out[#out + 1] = l end
  end
  if r.attempts and #r.attempts > 1 then out[#out + 1] = "attempts: " .. table.concat(r.attempts, " ") end
  return table.concat(out, "\n")
end

local function counts(list)
  local c = { tests = #list, failures = 0, errors = 0, skipped = 0, time = 0 }
  for _, r in ipairs(list) do
    if r.status == "fail" then c.failures = c.failures + 1
    elseif r.status == "error" then c.errors = c.errors + 1
    elseif r.status == "skip" then c.skipped = c.skipped + 1 end
    c.time = c.time + (r.duration or 0)
  end
  return c
end

--- A <testsuites> with one <testsuite> per script and one <testcase> per
-- scenario (classname = the script as a dotted name, name = the scenario,
-- file = the script's path), <failure> for a failed assertion or
-- expectation, <error> for an error or a timeout, <skipped>, each with the
-- first line in message= and the whole report as text, and the pcap path in
-- <system-out>.
-- @return the XML document
function M.document(summary)
  local A, T, secs = common.xml_attr, common.xml_text, common.secs
  local files, byfile = {}, {}
  for _, r in ipairs(common.sorted(summary.results)) do
    if not byfile[r.file] then
      byfile[r.file] = {}
      files[#files + 1] = r.file
    end
    table.insert(byfile[r.file], r)
  end
  local all = counts(summary.results)
  local out = { '<?xml version="1.0" encoding="UTF-8"?>' }
  out[#out + 1] = string.format('<testsuites name="rstlab" tests="%d" failures="%d" errors="%d" skipped="%d" time="%s">',
    all.tests, all.failures, all.errors, all.skipped, secs(summary.duration or all.time))
  for id, file in ipairs(files) do
    local list = byfile[file]
    local c = counts(list)
    out[#out + 1] = string.format('  <testsuite name="%s" id="%d" tests="%d" failures="%d" errors="%d" skipped="%d" time="%s" timestamp="%s" hostname="%s">',
      A(file), id - 1, c.tests, c.failures, c.errors, c.skipped, secs(c.time),
      common.isodate(summary.started), A(summary.hostname or "localhost"))
    for _, r in ipairs(list) do
      out[#out + 1] = string.format('    <testcase classname="%s" name="%s" file="%s" time="%s">',
        A(M.classname(r.file)), A(r.name), A(r.file), secs(r.duration))
      if r.status == "fail" or r.status == "error" then
        local el = r.status == "fail" and "failure" or "error"
        local ty = r.status == "fail" and "assertion" or (r.timeout and "timeout" or "error")
        out[#out + 1] = string.format('      <%s message="%s" type="%s">%s</%s>', el,
          A(common.first_line(r)), ty, T(common.full_text(r)), el)
      elseif r.status == "skip" then
        out[#out + 1] = string.format('      <skipped message="%s"/>', A(r.message or ""))
      end
      local so = system_out(r)
      if so ~= "" then out[#out + 1] = "      <system-out>" .. T(so) .. "</system-out>" end
      out[#out + 1] = "    </testcase>"
    end
    out[#out + 1] = "  </testsuite>"
  end
  out[#out + 1] = "</testsuites>"
  return table.concat(out, "\n") .. "\n"
end

return M
