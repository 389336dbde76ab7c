--- The runner: `rstlab [options] FILE|DIR...`.
---
--- Each scenario runs in a forked child (rstlab.core.fork) that enters a
--- fresh network namespace, loads its file, runs one scenario and reports a
--- result record through a pipe. The parent drives several children at once
--- from its own loop (one actor per job slot), kills a child that outlives
--- its timeout, and prints one line per scenario and a closing count.

local core = require "rstlab.core"
local rstlab = require "rstlab"

local M = {}

local USAGE = [[
usage: rstlab [options] FILE|DIR...

Runs the scenarios of each Lua file (a DIR means its *.lua files), each in
its own process and network namespace.

options:
  -j N            run N scenarios at once (default: the number of processors)
  --timeout SEC   per-scenario timeout (default 30; a script's own wins)
  --pcap-dir DIR  keep every scenario's capture there (failing scenarios
                  always keep theirs, in a temporary directory by default)
  -v              also show the packet ladder and log of passing scenarios
  --list          list the scenarios, run nothing
  -h, --help      this text
exit status: 0 all passed, 1 some failed, 2 usage error]]

-- ---------------------------------------------------------------------
-- serialising records between processes (plain data only)

local function ser(v, out)
  local ty = type(v)
  if ty == "table" then
    out[#out + 1] = "{"
    for k, x in pairs(v) do
      if type(k) == "string" or math.type(k) == "integer" then
        out[#out + 1] = "["
        ser(k, out)
        out[#out + 1] = "]="
        ser(x, out)
        out[#out + 1] = ","
      end
    end
    out[#out + 1] = "}"
  elseif ty == "string" then
    out[#out + 1] = string.format("%q", v)
  elseif ty == "number" then
    out[#out + 1] = math.type(v) == "integer" and string.format("%d", v) or string.format("%.17g", v)
  elseif ty == "boolean" then
    out[#out + 1] = tostring(v)
  else
    out[#out + 1] = "nil"
  end
end

local function serialize(v)
  local out = {}
  ser(v, out)
  return table.concat(out)
end

local function deserialize(s)
  local f = load("return " .. s, "=record", "t", {})
  if not f then return nil end
  local ok, v = pcall(f)
  return ok and v or nil
end
M.serialize, M.deserialize = serialize, deserialize

-- ---------------------------------------------------------------------
-- the child's side

--- child_main(arg): the whole life of a scenario process.
function M.child_main(arg)
  local job = deserialize(arg)
  local res
  if job.mode == "list" then
    local list, err = rstlab.load_file(job.file)
    if not list then
      res = { error = err }
    else
      res = { names = {} }
      for i, d in ipairs(list) do res.names[i] = d.name end
    end
    core.report(serialize(res))
    return 0
  end
  local ok, err = core.sandbox_enter()
  if not ok then
    core.report(serialize({ status = "error", message = "cannot enter a network namespace: " .. err }))
    return 0
  end
  local list, lerr = rstlab.load_file(job.file)
  if not list then
    res = { status = "error", message = lerr }
  else
    local decl
    for _, d in ipairs(list) do
      if d.name == job.name then decl = d end
    end
    if not decl then
      res = { status = "error", message = "scenario " .. string.format("%q", job.name)
        .. " is no longer declared in " .. job.file }
    else
      res = require("rstlab.scenario").run(decl, job)
    end
  end
  -- Report and close the pipe first: the parent prints the result while
  -- this process does the slow part of its teardown (removing the tracing
  -- instance, closing packet sockets) and exits.
  core.report(serialize(res), true)
  core.trace_close()
  return 0
end

-- ---------------------------------------------------------------------
-- the parent's side

-- Children that reported and are still exiting.
local reaping = 0

-- Run one child: on_record(its record, or an error record) as soon as
-- the report is complete, then wait for the child to exit.
local function run_child(job, timeout, on_record)
  local proc, msg = core.fork("rstlab.runner", serialize(job))
  if not proc then return { status = "error", message = msg } end
  local deadline = core.now() + timeout
  local chunks, timed_out = {}, false
  while true do
    local data = proc:read_now()
    if data == "" then break end
    if data then
      chunks[#chunks + 1] = data
    else
      local r = proc:wait(math.max(0, deadline - core.now()))
      if r == "timeout" then
        timed_out = true
        proc:kill()
        break
      end
    end
  end
  local rec = not timed_out and deserialize(table.concat(chunks)) or nil
  if timed_out or rec == nil then
    local how, code = proc:reap()
    core.trace_remove(proc:pid())
    if timed_out then
      on_record({ status = "error", timeout = true,
        message = string.format("killed after %g s: the scenario did not end", timeout) })
    else
      local why = how == "signal" and ("killed by signal " .. code) or ("exit status " .. code)
      on_record({ status = "error", message = "the scenario process ended without a result (" .. why .. ")" })
    end
    return
  end
  on_record(rec)
  -- The child exits after its report, once its teardown is done: that is
  -- kernel time (RCU grace periods), not CPU, so the job slot is free now
  -- and another actor reaps it. One that does not exit within a few
  -- seconds is stuck, and killed.
  reaping = reaping + 1
  core.spawn(function()
    if proc:wait_exit(5) == "timeout" then proc:kill() end
    local pid = proc:pid()
    proc:reap()
    core.trace_remove(pid)
    reaping = reaping - 1
  end)
end

-- Collect *.lua files of the arguments, in a stable order.
-- A path that cannot be read becomes an entry with its error, so that the
-- other files still run.
local function collect(paths)
  local files = {}
  for _, p in ipairs(paths) do
    local f, err = io.open(p, "r")
    if not f then
      files[#files + 1] = { path = p, error = err }
      goto continue
    end
    local ok, _, code = f:read(0)
    f:close()
    if code == 21 then -- EISDIR
      local pipe = io.popen("find '" .. p:gsub("'", "'\\''") .. "' -name '*.lua' -type f | sort")
      for line in pipe:lines() do files[#files + 1] = line end
      pipe:close()
    else
      files[#files + 1] = p
    end
    ::continue::
  end
  return files
end

local function nprocs()
  local f = io.open("/proc/cpuinfo")
  if not f then return 1 end
  local n = 0
  for line in f:lines() do
    if line:match("^processor%s*:") then n = n + 1 end
  end
  f:close()
  return math.max(n, 1)
end

local function parse_args(argv)
  local o = { paths = {}, jobs = nil, timeout = 30, verbose = false }
  local i = 1
  local function value(name)
    i = i + 1
    local v = argv[i]
    if v == nil then error({ usage = name .. " needs a value" }) end
    return v
  end
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      o.help = true
    elseif a == "-j" then
      o.jobs = math.tointeger(tonumber(value(a)))
      if not o.jobs or o.jobs < 1 then error({ usage = "-j needs a positive integer" }) end
    elseif a:match("^%-j%d+$") then
      o.jobs = math.tointeger(tonumber(a:sub(3)))
    elseif a == "--timeout" then
      o.timeout = tonumber(value(a))
      if not o.timeout or o.timeout <= 0 then error({ usage = "--timeout needs a positive number of seconds" }) end
    elseif a == "--pcap-dir" then
      o.pcap_dir = value(a)
    elseif a == "-v" or a == "--verbose" then
      o.verbose = true
    elseif a == "--list" then
      o.list = true
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      error({ usage = "unknown option " .. a })
    else
      o.paths[#o.paths + 1] = a
    end
    i = i + 1
  end
  return o
end

local function fmt_ms(s) return string.format("%.0f ms", (s or 0) * 1000) end

local function indent(text, pre)
  return (pre .. tostring(text):gsub("\n", "\n" .. pre))
end

local function safe_name(s)
  return (s:gsub("[^%w%-_.]+", "_"):sub(1, 80))
end

-- Run `fn(item)` over items with at most n at once, each in its own actor
-- of this (parent) process; returns when all are done.
local function parallel(items, n, fn)
  local next_i, running = 1, 0
  local function worker(k)
    while next_i <= #items do
      local i = next_i
      next_i = next_i + 1
      fn(items[i], i, k)
    end
    running = running - 1
  end
  for k = 1, math.min(n, #items) do
    running = running + 1
    core.spawn(worker, k)
  end
  while running > 0 or reaping > 0 do
    local fatal = core.step(true)
    if fatal then error(fatal, 0) end
  end
end

--- run(opts) -> summary table. opts as parse_args gives (paths, jobs,
--- timeout, pcap_dir, verbose, list), or a list of paths.
function M.run(o, out)
  if o.paths == nil then
    local paths = {}
    for i, p in ipairs(o) do paths[i] = p end
    o = { paths = paths, jobs = o.jobs, timeout = o.timeout or 30, pcap_dir = o.pcap_dir,
      verbose = o.verbose, quiet = o.quiet }
  end
  out = out or (o.quiet and function() end or function(s) io.stdout:write(s, "\n"); io.stdout:flush() end)
  local summary = { passed = 0, failed = 0, skipped = 0, results = {} }
  local files = collect(o.paths)
  local jobs = o.jobs or nprocs()
  -- The tcp_send_reset tracepoint, best effort: without it, reasons read
  -- "unchecked". One tracing instance per job slot, made once: creating
  -- and removing an instance costs tens of milliseconds and the kernel
  -- serialises it, far more than a scenario should. A child attaches to
  -- its slot's instance; lines left there by the slot's previous child
  -- carry that child's ports, never the new one's (each has its own port
  -- slice), so they cannot be taken for its RSTs.
  local pool = {}
  if core.prepare_tracing() then
    for k = 1, jobs do
      local name = "rstlab-" .. core.pid() .. "-" .. k
      if core.trace_create(name) then pool[k] = name end
    end
  end

  -- 1. What does each file declare? (In a child: a script's top level may
  --    fail or hang, and must not take the runner with it.)
  local declared = {}
  parallel(files, jobs, function(file, i)
    if type(file) == "table" then
      declared[i] = { error = file.error }
    else
      run_child({ mode = "list", file = file }, o.timeout, function(r) declared[i] = r end)
    end
  end)
  local work = {}
  for i, file in ipairs(files) do
    local rec = declared[i]
    if type(file) == "table" then file = file.path end
    if rec.names then
      for _, name in ipairs(rec.names) do
        work[#work + 1] = { file = file, name = name }
      end
    else
      work[#work + 1] = { file = file, name = "(loading the file)", load_error = rec.error or rec.message }
    end
  end
  if o.list then
    for _, w in ipairs(work) do
      out(w.file .. ": " .. w.name .. (w.load_error and ("  ERROR " .. w.load_error) or ""))
    end
    summary.listed = #work
    for _, name in pairs(pool) do core.trace_destroy(name) end
    return summary
  end

  local pcap_dir = o.pcap_dir
  if not pcap_dir then
    pcap_dir = (os.getenv("TMPDIR") or "/tmp") .. "/rstlab-" .. tostring(core.pid and core.pid() or os.time())
  end
  os.execute("mkdir -p '" .. pcap_dir:gsub("'", "'\\''") .. "'")

  -- 2. Run every scenario.
  local started = core.now()
  local function show(r, w, i)
    r.file, r.name = w.file, w.name
    summary.results[i] = r
    local label = w.file .. ": " .. w.name
    if r.status == "pass" then
      summary.passed = summary.passed + 1
      local extra = #(r.unchecked or {}) > 0 and ("  [" .. #r.unchecked .. " unchecked]") or ""
      out(string.format("PASS  %s (%s)%s", label, fmt_ms(r.duration), extra))
      for _, u in ipairs(r.unchecked or {}) do out("      unchecked: " .. u) end
      if o.verbose then
        for _, l in ipairs(r.logs or {}) do out("      log: " .. l) end
      end
    elseif r.status == "skip" then
      summary.skipped = summary.skipped + 1
      out(string.format("SKIP  %s: %s", label, r.message or ""))
    else
      summary.failed = summary.failed + 1
      out(string.format("%s  %s (%s)", r.status == "fail" and "FAIL" or "ERROR", label, fmt_ms(r.duration)))
      out("      " .. (r.where and (r.where .. ": ") or "") .. tostring(r.message))
      if r.details then out(indent(r.details, "      ")) end
      if r.traceback and r.traceback ~= "" then out(indent(r.traceback, "      ")) end
      for _, l in ipairs(r.logs or {}) do out("      log: " .. l) end
      if r.pcap then out("      pcap: " .. r.pcap) end
    end
  end
  parallel(work, jobs, function(w, i, k)
    if w.load_error then
      show({ status = "error", message = w.load_error }, w, i)
    else
      local base = safe_name(w.file:match("([^/]+)%.lua$") or w.file) .. "-" .. safe_name(w.name)
      run_child({ file = w.file, name = w.name, timeout = o.timeout, exiting = true,
        trace_instance = pool[k],
        pcap_path = pcap_dir .. "/" .. base, pcap_always = o.pcap_dir ~= nil },
        o.timeout + 5, function(r) show(r, w, i) end)
    end
  end)
  summary.duration = core.now() - started
  for _, name in pairs(pool) do core.trace_destroy(name) end
  local line = string.format("%d passed, %d failed", summary.passed, summary.failed)
  if summary.skipped > 0 then line = line .. string.format(", %d skipped", summary.skipped) end
  out(line)
  -- Keep the default pcap directory only if something is in it.
  if not o.pcap_dir then os.remove(pcap_dir) end
  return summary
end

--- main(argv) -> exit status.
function M.main(argv)
  local ok, o = pcall(parse_args, argv)
  if not ok then
    local msg = type(o) == "table" and o.usage or tostring(o)
    io.stderr:write("rstlab: ", msg, "\n", USAGE, "\n")
    return 2
  end
  if o.help then
    io.stdout:write(USAGE, "\n")
    return 0
  end
  if #o.paths == 0 then
    io.stderr:write("rstlab: no scenario file given\n", USAGE, "\n")
    return 2
  end
  local s = M.run(o)
  if o.list then return 0 end
  return s.failed == 0 and 0 or 1
end

return M
