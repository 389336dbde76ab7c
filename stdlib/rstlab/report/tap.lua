--- rstlab.report.tap: TAP version 13 on stdout, streamed (`--tap`).
--
-- Version 13, not 14: Test::Harness before 3.48 (Debian 12's prove) fails
-- every document that starts with the version 14 line, and nothing here
-- needs 14 (no subtests; YAML blocks are 13's).

local common = require "rstlab.report.common"

local M = {
  name = "tap", option = "--tap",
  help = "TAP version 13 on stdout (for prove and other\nharnesses)",
}

--- The start of a TAP document: the version line and the plan.
function M.header(n)
  return "TAP version 13\n1.." .. n .. "\n"
end

-- A test point's description: one line, '#' escaped (it starts a directive).
local function desc(s)
  return (common.clean(s):gsub("[\r\n]+", " "):gsub("\\", "\\\\"):gsub("#", "\\#"))
end

-- A YAML scalar on one line, double-quoted (what TAP::Parser's YAMLish reads).
local function yaml_qq(s)
  s = common.clean(s):gsub('[\\"]', "\\%0"):gsub("\t", "\\t"):gsub("\r", "\\r"):gsub("\n", "\\n")
  return '"' .. s .. '"'
end

-- A YAML block scalar: every line indented, blank lines kept as indentation
-- only (a truly empty line would end the block for some readers).
local function yaml_block(s, pad)
  local lines = {}
  for line in (common.clean(s):gsub("\r", ""):gsub("\t", "    ") .. "\n"):gmatch("(.-)\n") do
    lines[#lines + 1] = pad .. line:gsub("%s+$", "")
  end
  return "|\n" .. table.concat(lines, "\n")
end

--- One test point (k is its number), with a YAML block for a scenario that
-- did not pass, and the SKIP directive for a skipped one.
-- @return text ending with a newline
function M.point(k, r)
  local d = desc(common.title(r))
  if r.status == "pass" then
    local s = string.format("ok %d - %s\n", k, d)
    if common.flaky(r) then s = s .. "# flaky: " .. table.concat(r.attempts, " ") .. "\n" end
    for _, u in ipairs(r.unchecked or {}) do s = s .. "# unchecked: " .. desc(u) .. "\n" end
    return s
  elseif r.status == "skip" then
    return string.format("ok %d - %s # SKIP %s\n", k, d, desc(r.message or ""))
  end
  local out = { string.format("not ok %d - %s", k, d), "  ---" }
  out[#out + 1] = "  message: " .. yaml_qq(common.first_line(r))
  out[#out + 1] = "  severity: " .. (r.status == "fail" and "fail" or "error")
  if r.timeout then out[#out + 1] = "  timeout: true" end
  if r.where then out[#out + 1] = "  at: " .. yaml_qq(r.where) end
  out[#out + 1] = "  file: " .. yaml_qq(r.file)
  out[#out + 1] = "  scenario: " .. yaml_qq(r.name)
  out[#out + 1] = string.format("  duration_ms: %d", math.floor((r.duration or 0) * 1000 + 0.5))
  if r.attempts and #r.attempts > 1 then
    out[#out + 1] = "  attempts: " .. yaml_qq(table.concat(r.attempts, " "))
  end
  if r.pcap then out[#out + 1] = "  pcap: " .. yaml_qq(r.pcap) end
  if r.unchecked and #r.unchecked > 0 then
    out[#out + 1] = "  unchecked:"
    for _, u in ipairs(r.unchecked) do out[#out + 1] = "    - " .. yaml_qq(u) end
  end
  out[#out + 1] = "  report: " .. yaml_block(common.full_text(r), "    ")
  out[#out + 1] = "  ..."
  return table.concat(out, "\n") .. "\n"
end

--- A whole TAP document (header, points in report order, the count).
function M.document(summary)
  local out = { M.header(#summary.results) }
  for k, r in ipairs(common.sorted(summary.results)) do out[#out + 1] = M.point(k, r) end
  out[#out + 1] = "# " .. common.count_line(summary) .. "\n"
  return table.concat(out)
end

--- stream(write, opts) -> a streamer for a run: start(n) writes the plan;
-- result(r) takes a scenario's result as it finishes (r.rank: its place in
-- report order) and writes every point whose predecessors are known;
-- finish(summary) writes the rest and the closing line. opts: { verbose
-- (the ladders of passing scenarios as comments), rounds (more than one:
-- points are written at the end, one per scenario) }.
function M.stream(write, opts)
  local ready, next_k, n = {}, 1, 0
  local function flush()
    while ready[next_k] do
      local r = ready[next_k]
      local s = M.point(next_k, r)
      if opts.verbose and r.status == "pass" then
        for _, cap in ipairs(r.captures or {}) do
          s = s .. ("# " .. common.ladder_text(cap)):gsub("\n", "\n# ") .. "\n"
        end
      end
      write(s)
      ready[next_k] = nil
      next_k = next_k + 1
    end
  end
  local st = {}
  function st.start(count)
    n = count
    write(M.header(n))
  end
  function st.result(r)
    if (opts.rounds or 1) > 1 then return end
    ready[r.rank] = r
    flush()
  end
  function st.finish(summary)
    if (opts.rounds or 1) > 1 then
      for _, r in ipairs(summary.results) do ready[r.rank] = r end
    end
    -- What a stopped run (--fail-fast) did not start is skipped: the plan holds.
    for _, w in ipairs(summary.not_run or {}) do
      if not ready[w.rank] and w.rank >= next_k then
        ready[w.rank] = { file = w.file, name = w.name, status = "skip", message = "not run: " .. w.why }
      end
    end
    flush()
    if summary.interrupted then
      write("Bail out! interrupted by " .. summary.interrupted .. "\n")
    else
      write("# " .. common.count_line(summary) .. "\n")
    end
  end
  return st
end

return M
