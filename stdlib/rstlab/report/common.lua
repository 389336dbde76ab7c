--- rstlab.report.common: what every report format shares.
--
-- Pure functions over plain data. A result r is the record of one
-- scenario: { file, name, decl (its rank in the file), status = "pass" |
-- "fail" | "error" | "skip", message, where, details, traceback, logs,
-- unchecked, pcap, duration, timeout, programs = { { argv, pid, status,
-- timed_out, timeout, stdout, stderr, stdout_bytes, stderr_bytes }, ... }, attempts = { status, ... } (with
-- --repeat), captures = { { name, binds, packets, marks, failed, truncated },
-- ... } }. A summary is { results, passed, failed (failures and errors),
-- errors, skipped, duration, interrupted, started (epoch seconds), hostname }.

local ladder = require "rstlab.ladder"

local M = {}

---------------------------------------------------------------------------
-- Results.
---------------------------------------------------------------------------

M.LABEL = { pass = "PASS", fail = "FAIL", error = "ERROR", skip = "SKIP" }

--- Results in report order: by file, then by declaration order in the file.
-- @param results list of result records
-- @return a new list
function M.sorted(results)
  local list = {}
  for _, r in ipairs(results) do list[#list + 1] = r end
  table.sort(list, function(a, b)
    if a.file ~= b.file then return a.file < b.file end
    if (a.decl or 0) ~= (b.decl or 0) then return (a.decl or 0) < (b.decl or 0) end
    return a.name < b.name
  end)
  return list
end

--- The same, failures first (errors and failures, then skips, then passes).
function M.failures_first(results)
  local rank = { error = 1, fail = 1, skip = 2, pass = 3 }
  local list = M.sorted(results)
  for i, r in ipairs(list) do r._pos = i end
  table.sort(list, function(a, b)
    local ra, rb = rank[a.status] or 1, rank[b.status] or 1
    if ra ~= rb then return ra < rb end
    return a._pos < b._pos
  end)
  for _, r in ipairs(list) do r._pos = nil end
  return list
end

--- Whether a scenario both passed and failed over its attempts.
function M.flaky(r)
  local pass, bad = false, false
  for _, s in ipairs(r.attempts or {}) do
    if s == "pass" then pass = true elseif s == "fail" or s == "error" then bad = true end
  end
  return pass and bad
end

--- "file: scenario name", how a scenario is named in every output.
function M.title(r)
  return r.file .. ": " .. r.name
end

--- The first line of a failure: where it happened and what.
-- @return string ("" for a pass)
function M.first_line(r)
  local msg = tostring(r.message or "")
  local first = msg:match("^[^\n]*")
  if r.where and not first:find(r.where, 1, true) then first = r.where .. ": " .. first end
  if M.flaky(r) then
    local bad = 0
    for _, s in ipairs(r.attempts) do if s ~= "pass" and s ~= "skip" then bad = bad + 1 end end
    first = string.format("flaky: %d of %d attempts failed: %s", bad, #r.attempts, first)
  end
  return first
end

--- The whole report of a result as text: message, details (the expectation
-- beside the capture, its ladder), traceback, logs, unchecked clauses,
-- attempts and the pcap path.
function M.full_text(r)
  local out = {}
  local function add(s) out[#out + 1] = s end
  if r.status ~= "pass" then
    add((r.where and not tostring(r.message):find(r.where, 1, true) and (r.where .. ": ") or "")
      .. tostring(r.message or ""))
  end
  if r.details and r.details ~= "" then add(""); add(r.details) end
  if r.traceback and r.traceback ~= "" then add(""); add(r.traceback) end
  if r.logs and #r.logs > 0 then
    add("")
    for _, l in ipairs(r.logs) do add("log: " .. l) end
  end
  if r.unchecked and #r.unchecked > 0 then
    add("")
    for _, u in ipairs(r.unchecked) do add("unchecked: " .. u) end
  end
  local progs = M.programs_lines(r)
  if #progs > 0 then
    add("")
    for _, l in ipairs(progs) do add(l) end
  end
  if r.attempts and #r.attempts > 1 then add("attempts: " .. table.concat(r.attempts, " ")) end
  if r.pcap then add("pcap: " .. r.pcap) end
  return (table.concat(out, "\n"):gsub("^\n+", ""))
end

-- The last lines a report shows of a program's stream.
local PROGRAM_LINES = 40

--- The programs a result's scenario spawned, as lines of text: each
--- program's command, pid and how it ended, then the last lines of its
--- stdout and stderr ("| " before each). {} when it spawned none.
function M.programs_lines(r)
  local out = {}
  for _, p in ipairs(r.programs or {}) do
    local how = p.status
    if p.timed_out then how = how .. string.format(", killed at its timeout (%g s)", p.timeout or 0) end
    out[#out + 1] = string.format("program: %s (pid %d): %s", table.concat(p.argv, " "), p.pid, how)
    for _, k in ipairs { "stdout", "stderr" } do
      local text, total = p[k] or "", p[k .. "_bytes"] or #(p[k] or "")
      if total == 0 then
        out[#out + 1] = "  " .. k .. ": (empty)"
      else
        local lines = {}
        for l in (text:gsub("\n$", "") .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = l end
        local first = math.max(1, #lines - PROGRAM_LINES + 1)
        local note = (first > 1 or total > #text)
          and string.format(" (its last %d lines of %d bytes)", #lines - first + 1, total) or ""
        out[#out + 1] = "  " .. k .. note .. ":"
        for i = first, #lines do out[#out + 1] = "  | " .. lines[i] end
      end
    end
  end
  return out
end

--- "N passed, N failed[, N skipped]": the closing line of every output.
function M.count_line(summary)
  local line = string.format("%d passed, %d failed", summary.passed or 0, summary.failed or 0)
  if (summary.skipped or 0) > 0 then line = line .. string.format(", %d skipped", summary.skipped) end
  return line
end

--- Seconds as "1.500"; an epoch time as ISO 8601 UTC without the zone.
function M.secs(x) return string.format("%.3f", x or 0) end
function M.isodate(t) return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t or os.time())) end

---------------------------------------------------------------------------
-- Ladders.
---------------------------------------------------------------------------

--- binds usable by the ladder (two names on one endpoint raise there): the
-- capture's own, else the two ends of its first packet.
function M.safe_binds(cap)
  local ok = pcall(ladder.names, cap.binds or {})
  if ok and next(cap.binds or {}) then return cap.binds end
  local p = cap.packets and cap.packets[1]
  return p and { A = p.src, B = p.dst } or {}
end

--- A capture record as a ladder diagram (text), each expectation line beside
-- the packet it matched.
-- @param cap capture record
-- @param opts { ascii = boolean } or nil
function M.ladder_text(cap, opts)
  opts = opts or {}
  local s = ladder.render(cap.packets or {}, M.safe_binds(cap), { ascii = opts.ascii, marks = cap.marks })
  if cap.truncated then s = s .. string.format("\n  (%d more packets not shown)", cap.truncated) end
  return s
end

---------------------------------------------------------------------------
-- Escaping.
---------------------------------------------------------------------------

--- Text made valid UTF-8 (a bad byte becomes "?") without the control
-- characters XML 1.0 forbids (tab, newline and carriage return stay).
function M.clean(s)
  s = tostring(s)
  if not utf8.len(s) then
    local out, i = {}, 1
    while i <= #s do
      local ok, len = utf8.len(s, i)
      if ok then
        out[#out + 1] = s:sub(i)
        break
      end
      out[#out + 1] = s:sub(i, len - 1) .. "?"
      i = len + 1
    end
    s = table.concat(out)
  end
  return (s:gsub("[%z\1-\8\11\12\14-\31\127]", "?"))
end

local XML_ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
  ["'"] = "&#39;", ["\n"] = "&#10;", ["\r"] = "&#13;", ["\t"] = "&#9;" }

--- Text for an XML/HTML element.
function M.xml_text(s)
  return (M.clean(s):gsub("[&<>]", XML_ESC))
end

--- Text for an XML/HTML attribute value (in double quotes).
function M.xml_attr(s)
  return (M.clean(s):gsub("[&<>\"'\n\r\t]", XML_ESC))
end

return M
