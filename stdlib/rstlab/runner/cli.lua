--- rstlab.runner.cli: the command line, `rstlab [options] FILE|DIR...`.
---
--- GNU conventions: `--opt VALUE` and `--opt=VALUE`, `-j 4` and `-j4`,
--- short options bundled (`-vx`), `--` ends the options. The options are
--- one table (OPTIONS); the report formats add theirs (rstlab.report), and
--- the usage text is made from both.

local core = require "rstlab.core"
local report = require "rstlab.report"
local run = require "rstlab.runner.run"

local M = {}

--- Exit statuses of the program.
M.EXIT = { ok = 0, failed = 1, usage = 2, empty = 3, sigint = 130, sigterm = 143 }

local function usage(msg) error(run.usage_error(msg), 0) end

local function count(name, v)
  local n = math.tointeger(tonumber(v))
  if not n or n < 1 then usage(name .. " needs a positive integer, got '" .. v .. "'") end
  return n
end

local function seconds(name, v)
  local x = tonumber(v)
  if not x or not (x > 0 and x < 1e6) then usage(name .. " needs a positive number, got '" .. v .. "'") end
  return x
end

local function append(list) return function(o, v) table.insert(o[list], v) end end

--- Each option: short and/or long name, arg (its value's name, nil for a
--- flag), help (lines of the usage text), set(o, value, name).
M.OPTIONS = {
  { short = "-j", long = "--jobs", arg = "N",
    help = "run N scenarios working at once (default: the\nprocessors it may use, as nproc counts); one that\nwaits (timers, peers) "
      .. "lets the next one start",
    set = function(o, v, n) o.jobs = count(n, v) end },
  { long = "--max-waiting", arg = "M",
    help = "at most M waiting scenarios beside the N working\n(0..150; default 7 N, at most 100; 0: exactly N at\nonce)",
    set = function(o, v, n)
      local m = math.tointeger(tonumber(v))
      if not m or m < 0 or m > 150 then usage(n .. " needs an integer from 0 to 150, got '" .. v .. "'") end
      o.max_waiting = m
    end },
  { long = "--timeout", arg = "SEC", help = "per-scenario timeout (default 30; a script's own wins)",
    set = function(o, v, n) o.timeout = seconds(n, v) end },
  { long = "--time-scale", arg = "F",
    help = "multiply every timeout, timing tolerance and quiet\nperiod by F (F > 0; for slow or debug kernels)",
    set = function(o, v, n) o.time_scale = seconds(n, v) end },
  { long = "--filter", arg = "PATTERN",
    help = "run only the scenarios whose \"FILE: NAME\" contains\n"
      .. "PATTERN (case-insensitive, * matches anything;\nrepeatable: any of them)",
    set = append("filters") },
  { long = "--exclude", arg = "PATTERN",
    help = "leave out the scenarios PATTERN matches (as --filter;\nrepeatable; applied after --filter)",
    set = append("excludes") },
  { long = "--shard", arg = "K/N",
    help = "run only shard K of N (1 <= K <= N): a stable split\nby a hash of each scenario's file and name",
    set = function(o, v, n)
      local k, m = v:match("^(%d+)/(%d+)$")
      k, m = math.tointeger(tonumber(k)), math.tointeger(tonumber(m))
      if not k or m < 1 or k < 1 or k > m then usage(n .. " needs K/N with 1 <= K <= N, got '" .. v .. "'") end
      o.shard = { k, m }
    end },
  { long = "--repeat", arg = "N",
    help = "run everything N times; report every attempt and the\nscenarios that both passed and failed (flaky)",
    set = function(o, v, n) o["repeat"] = count(n, v) end },
  { long = "--until-fail",
    help = "repeat until a round has a failure (at most --repeat N\nrounds when given, else until Ctrl-C)",
    set = function(o) o.until_fail = true end },
  { short = "-x", long = "--fail-fast",
    help = "start nothing new after the first failure (what runs\nfinishes; the summary counts what was not run)",
    set = function(o) o.fail_fast = true end },
  { long = "--strict",
    help = "a check that could not be made (an unchecked reason)\nfails the scenario (for CI machines that run as root)",
    set = function(o) o.strict = true end },
  { short = "-v", long = "--verbose",
    help = "also show the packet ladder and log of passing\nscenarios, and the traceback of errors",
    set = function(o) o.verbose = true end },
  { long = "--list", help = "list the scenarios (after --filter, --exclude and\n--shard), run nothing",
    set = function(o) o.list = true end },
  { long = "--pcap-dir", arg = "DIR",
    help = "keep every scenario's capture there as NAME.pcap\n"
      .. "(failing scenarios always keep theirs, in a temporary\ndirectory by default)",
    set = function(o, v) o.pcap_dir = v end },
}
-- The report formats: one option each, from their modules.
for _, fmt in ipairs(report.formats()) do
  M.OPTIONS[#M.OPTIONS + 1] = { long = fmt.option, arg = fmt.arg, help = fmt.help,
    set = function(o, v) o[fmt.name] = v or true end }
  for _, opt in ipairs(fmt.options or {}) do M.OPTIONS[#M.OPTIONS + 1] = opt end
end
for _, opt in ipairs {
  { short = "-h", long = "--help", help = "this text", set = function(o) o.help = true end },
  { long = "--version", help = "print the version and exit", set = function(o) o.version = true end },
} do M.OPTIONS[#M.OPTIONS + 1] = opt end

local BY = {}
for _, opt in ipairs(M.OPTIONS) do
  if opt.short then BY[opt.short] = opt end
  BY[opt.long] = opt
end

--- The usage text (rstlab --help).
function M.usage_text()
  local out = { "usage: rstlab [options] FILE|DIR...", "",
    "Runs the scenarios of each Lua file (a DIR means its *.lua files), each in",
    "its own process and network namespace.", "", "options:" }
  for _, opt in ipairs(M.OPTIONS) do
    local left = "  " .. (opt.short and (opt.short .. ", ") or "    ") .. opt.long .. (opt.arg and (" " .. opt.arg) or "")
    local lines = {}
    for l in (opt.help .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = l end
    if #left > 24 then
      out[#out + 1] = left
      left = ""
    end
    for i, l in ipairs(lines) do
      local head = i == 1 and left or ""
      out[#out + 1] = head .. string.rep(" ", 26 - #head) .. l
    end
  end
  out[#out + 1] = ""
  out[#out + 1] = "exit status: 0 all passed (or skipped), 1 some failed or a report could not"
  out[#out + 1] = "be written, 2 usage error, 3 nothing to run (no file found, or --filter,"
  out[#out + 1] = "--exclude or --shard selected no scenario), 130 interrupted (SIGINT; 143"
  out[#out + 1] = "for SIGTERM): the children are killed and what finished is still"
  out[#out + 1] = "summarised and reported."
  return table.concat(out, "\n")
end

--- parse_args(argv) -> options; raises a usage_error ({ usage = message }).
function M.parse_args(argv)
  local o = { paths = {}, filters = {}, excludes = {}, verbose = false }
  for k, v in pairs(run.DEFAULTS) do o[k] = v end
  local i, options_end = 1, false
  local function value(opt, name)
    i = i + 1
    if argv[i] == nil then usage("option " .. name .. " needs a value (" .. opt.arg .. ")") end
    return argv[i]
  end
  while i <= #argv do
    local a = argv[i]
    if options_end or a == "-" or a:sub(1, 1) ~= "-" then
      o.paths[#o.paths + 1] = a
    elseif a == "--" then
      options_end = true
    elseif a:sub(1, 2) == "--" then
      local name, v = a:match("^(%-%-[^=]+)=(.*)$")
      name = name or a
      local opt = BY[name]
      if not opt then usage("unknown option " .. name) end
      if not opt.arg and v then usage("option " .. name .. " takes no value") end
      if opt.arg and not v then v = value(opt, name) end
      opt.set(o, v, name)
    else
      -- -j4, -j 4, -vx: short options, bundled; one with a value ends it.
      local k = 2
      while k <= #a do
        local name = "-" .. a:sub(k, k)
        local opt = BY[name]
        if not opt then usage("unknown option " .. name) end
        if opt.arg then
          local v = a:sub(k + 1)
          if v == "" then v = value(opt, name) end
          opt.set(o, v, name)
          break
        end
        opt.set(o, nil, name)
        k = k + 1
      end
    end
    i = i + 1
  end
  return o
end

local function usage_exit(msg)
  io.stderr:write("rstlab: ", msg, "\nTry 'rstlab --help' for more information.\n")
  return M.EXIT.usage
end

--- main(argv) -> exit status.
function M.main(argv)
  local ok, o = pcall(M.parse_args, argv)
  if not ok then
    if type(o) == "table" and o.usage then return usage_exit(o.usage) end
    error(o, 0)
  end
  if o.help then
    io.stdout:write(M.usage_text(), "\n")
    return M.EXIT.ok
  end
  if o.version then
    io.stdout:write("rstlab ", tostring(core.version), "\n")
    return M.EXIT.ok
  end
  if #o.paths == 0 then return usage_exit("no scenario file given") end
  o.signals = true
  local s
  ok, s = pcall(run.run, o)
  if not ok then
    -- The options were right; what they name is not (the pcap directory).
    if type(s) == "table" and s.usage then
      io.stderr:write(tostring(s), "\n")
      return M.EXIT.usage
    end
    error(s, 0)
  end
  if s.exit then return s.exit end
  if s.empty then
    io.stderr:write("rstlab: nothing to run: ", s.empty, "\n")
    return M.EXIT.empty
  end
  if o.list then return M.EXIT.ok end
  if s.report_error then return M.EXIT.failed end
  return s.failed == 0 and M.EXIT.ok or M.EXIT.failed
end

return M
