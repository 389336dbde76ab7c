--- The runner: `rstlab [options] FILE|DIR...`.
---
--- Each scenario runs in a forked child (rstlab.core.fork) that enters a
--- fresh network namespace, loads its file, runs one scenario and reports a
--- result record through a pipe. The parent drives several children at once
--- from its own loop (one actor per job slot), kills a child that outlives
--- its timeout, streams one line per scenario (in completion order) and
--- ends with a summary in a fixed order: by file, then declaration order.
--- Reports for CI (TAP, JUnit, HTML) come from rstlab.report.

local core = require "rstlab.core"
local rstlab = require "rstlab"
local reason = require "rstlab.reason"
local report = require "rstlab.report"

local M = {}

local USAGE = [[
usage: rstlab [options] FILE|DIR...

Runs the scenarios of each Lua file (a DIR means its *.lua files), each in
its own process and network namespace.

options:
  -j N             run N scenarios at once (default: the number of processors)
  --timeout SEC    per-scenario timeout (default 30; a script's own wins)
  --filter PATTERN run only the scenarios whose "FILE: NAME" contains
                   PATTERN (case-insensitive, * matches anything; repeatable:
                   any of them)
  --shard K/N      run only shard K of N (1 <= K <= N): a stable split by a
                   hash of each scenario's file and name
  --repeat N       run everything N times; report every attempt and the
                   scenarios that both passed and failed (flaky)
  --until-fail     repeat until a round has a failure (at most --repeat N
                   rounds when given, else until Ctrl-C)
  -v               also show the packet ladder and log of passing scenarios
  --list           list the scenarios (after --filter and --shard), run nothing
  --pcap-dir DIR   keep every scenario's capture there as NAME.pcap (failing
                   scenarios always keep theirs, in a temporary directory
                   by default)
  --tap            TAP version 14 on stdout (for prove and other harnesses)
  --junit FILE     write a JUnit XML report to FILE
  --html FILE      write a self-contained HTML report to FILE
  -h, --help       this text
exit status: 0 all passed, 1 some failed, 2 usage error, 130 interrupted
(SIGINT; 143 for SIGTERM): the children are killed and what finished is
still summarised and reported.]]

local SIGINT, SIGTERM = 2, 15

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
    if math.type(v) == "integer" then
      out[#out + 1] = string.format("%d", v)
    elseif v ~= v or v == math.huge or v == -math.huge then
      out[#out + 1] = "nil"
    else
      out[#out + 1] = string.format("%.17g", v)
    end
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
      res = { names = {}, timeouts = {} }
      for i, d in ipairs(list) do
        res.names[i] = d.name
        res.timeouts[i] = type(d.opts) == "table" and tonumber(d.opts.timeout) or false
      end
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
  -- Report and close the pipe first: the parent takes the result while
  -- this process does the slow part of its teardown (closing packet
  -- sockets waits for the kernel's RCU grace periods) and exits.
  core.report(serialize(res), true)
  reason.child_done()
  return 0
end

-- ---------------------------------------------------------------------
-- the parent's side

-- Seconds the parent waits past a scenario's own timeout before it kills
-- the child (the child normally ends itself at its timeout; this is for a
-- child that cannot, such as a script spinning in a loop).
local function grace(timeout)
  return math.min(5, 1 + timeout / 4)
end

-- Run one child to completion: its record, or an error record. state.running
-- holds the children alive now (Ctrl-C kills them); a record of a child
-- killed that way says interrupted = true.
local function run_child(state, job, timeout)
  local proc, msg = core.fork("rstlab.runner", serialize(job))
  if not proc then return { status = "error", message = msg } end
  state.running[proc] = true
  local started = core.now()
  local deadline = started + timeout
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
  if rec ~= nil then
    -- The child exits after its report once its teardown is done. That is
    -- kernel time, not CPU, so the job slot is free now: another actor
    -- reaps the child (through a pidfd, without blocking the loop), and
    -- kills one that does not exit within a few seconds.
    state.reaping = (state.reaping or 0) + 1
    core.spawn(function()
      if proc:wait_exit(5) == "timeout" then proc:kill() end
      proc:reap()
      state.running[proc] = nil
      state.reaping = state.reaping - 1
    end)
    return rec
  end
  local pid = proc:pid()
  local how, code = proc:reap()
  state.running[proc] = nil
  reason.after_kill(pid)
  local took = core.now() - started
  if state.interrupted then return { status = "error", interrupted = true, message = "interrupted" } end
  if timed_out then
    return { status = "error", timeout = true, duration = took,
      message = job.mode == "list"
        and string.format("killed after %g s: loading the file did not finish "
          .. "(does its top level wait or loop? only scenario() calls belong there)", timeout)
        or string.format("killed after %g s: the scenario did not end", timeout) }
  end
  local why = how == "signal" and ("killed by signal " .. code) or ("exit status " .. code)
  return { status = "error", duration = took,
    message = "the scenario process ended without a result (" .. why .. ")" }
end

-- "./a//b.lua" -> "a/b.lua": one spelling of a path, for sorting and shards.
local function norm_path(p)
  p = p:gsub("/+", "/")
  while p:sub(1, 2) == "./" and #p > 2 do p = p:sub(3) end
  return p
end

-- Every *.lua file under dir (recursively), in a stable order.
local function walk(dir, add)
  local entries = core.listdir(dir)
  if not entries then return end
  table.sort(entries, function(a, b) return a.name < b.name end)
  for _, e in ipairs(entries) do
    local path = dir:gsub("/+$", "") .. "/" .. e.name
    if e.dir then
      walk(path, add)
    elseif e.name:match("%.lua$") then
      add(norm_path(path))
    end
  end
end

-- Collect the *.lua files of the arguments, sorted, each once. A path that
-- cannot be read becomes an entry with its error, so the others still run.
local function collect(paths)
  local files, seen = {}, {}
  local function add(entry)
    local key = type(entry) == "table" and entry.path or entry
    if not seen[key] then
      seen[key] = true
      files[#files + 1] = entry
    end
  end
  for _, p in ipairs(paths) do
    p = norm_path(p)
    local f, err = io.open(p, "r")
    if not f then
      add({ path = p, error = err })
    else
      local _, _, code = f:read(0)
      f:close()
      if code == 21 then -- EISDIR
        walk(p, add)
      else
        add(p)
      end
    end
  end
  local function key(e) return type(e) == "table" and e.path or e end
  table.sort(files, function(a, b) return key(a) < key(b) end)
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

local function hostname()
  local f = io.open("/proc/sys/kernel/hostname")
  local h = f and f:read("l")
  if f then f:close() end
  return h or "localhost"
end

local function parse_args(argv)
  local o = { paths = {}, jobs = nil, timeout = 30, verbose = false, filters = {} }
  local i = 1
  local function value(name)
    i = i + 1
    local v = argv[i]
    if v == nil then error({ usage = name .. " needs a value" }) end
    return v
  end
  local function count(name, v)
    local n = math.tointeger(tonumber(v))
    if not n or n < 1 then error({ usage = name .. " needs a positive integer" }) end
    return n
  end
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      o.help = true
    elseif a == "-j" or a == "--jobs" then
      o.jobs = count(a, value(a))
    elseif a:match("^%-j%d+$") then
      o.jobs = count("-j", a:sub(3))
    elseif a == "--timeout" then
      o.timeout = tonumber(value(a))
      if not o.timeout or o.timeout <= 0 then error({ usage = "--timeout needs a positive number of seconds" }) end
    elseif a == "--filter" then
      o.filters[#o.filters + 1] = value(a)
    elseif a == "--shard" then
      local v = value(a)
      local k, n = v:match("^(%d+)/(%d+)$")
      k, n = math.tointeger(tonumber(k)), math.tointeger(tonumber(n))
      if not k or n < 1 or k < 1 or k > n then
        error({ usage = "--shard needs K/N with 1 <= K <= N, got " .. v })
      end
      o.shard = { k, n }
    elseif a == "--repeat" then
      o["repeat"] = count(a, value(a))
    elseif a == "--until-fail" then
      o.until_fail = true
    elseif a == "--pcap-dir" then
      o.pcap_dir = value(a)
    elseif a == "-v" or a == "--verbose" then
      o.verbose = true
    elseif a == "--list" then
      o.list = true
    elseif a == "--tap" then
      o.tap = true
    elseif a == "--junit" then
      o.junit = value(a)
    elseif a == "--html" then
      o.html = value(a)
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      error({ usage = "unknown option " .. a })
    else
      o.paths[#o.paths + 1] = a
    end
    i = i + 1
  end
  return o
end
M.parse_args = parse_args

--- shard_of(file, name, n) -> 1..n: the shard of a scenario, from the FNV-1a
--- hash of "file\0name" (stable across runs, machines and suite edits).
function M.shard_of(file, name, n)
  local h = 0x811c9dc5
  for i = 1, #file do h = ((h ~ file:byte(i)) * 0x01000193) & 0xFFFFFFFF end
  h = (h * 0x01000193) & 0xFFFFFFFF -- the "\0" between them
  for i = 1, #name do h = ((h ~ name:byte(i)) * 0x01000193) & 0xFFFFFFFF end
  return h % n + 1
end

--- matcher(patterns) -> function(text) -> bool: case-insensitive substring
--- matching where * stands for any run of characters; no patterns: all.
function M.matcher(patterns)
  if #patterns == 0 then return function() return true end end
  local lua = {}
  for i, p in ipairs(patterns) do
    lua[i] = p:lower():gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*")
  end
  return function(text)
    text = text:lower()
    for _, p in ipairs(lua) do
      if text:find(p) then return true end
    end
    return false
  end
end

local function fmt_ms(s) return string.format("%.0f ms", (s or 0) * 1000) end

local function indent(text, pre)
  return (pre .. tostring(text):gsub("\n", "\n" .. pre))
end

local function safe_name(s)
  return (s:gsub("[^%w%-_.]+", "_"):sub(1, 80))
end

-- Run `fn(item, i)` over items with at most n at once, each in its own
-- actor of this (parent) process; returns when all are done, or when
-- state.interrupted is set and the running ones have ended.
local function parallel(state, items, n, fn)
  local next_i, running = 1, 0
  local function worker(k)
    while next_i <= #items and not state.interrupted do
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
  while running > 0 or (state.reaping or 0) > 0 do
    local fatal = core.step(true)
    if fatal then error(fatal, 0) end
  end
end

-- ---------------------------------------------------------------------
-- output: plain lines, and a progress line when writing to a terminal

local function new_ui(o, out)
  local ui = { status_text = nil }
  local stream = o.tap and io.stderr or io.stdout
  local custom = out ~= nil
  if custom then
    ui.print = out
  elseif o.quiet or o.tap then
    ui.print = function() end
  else
    ui.print = function(s) io.stdout:write(s, "\n"); io.stdout:flush() end
  end
  local tty, cols = false, nil
  if not custom and not o.quiet and os.getenv("TERM") ~= "dumb" then
    tty, cols = core.isatty(o.tap and 2 or 1)
  end
  ui.progress = tty
  ui.cols = cols or 80
  local shown = false
  local function erase()
    if shown then stream:write("\r\27[K"); shown = false end
  end
  local function draw()
    if ui.progress and ui.status_text then
      local s = ui.status_text
      if (utf8.len(s) or #s) > ui.cols - 1 then s = s:sub(1, ui.cols - 2) .. "~" end
      stream:write("\r\27[K", s)
      stream:flush()
      shown = true
    end
  end
  --- a plain line (with the progress line kept under it)
  function ui.line(s)
    erase()
    ui.print(s)
    draw()
  end
  --- text on stdout that is not a human line (TAP)
  function ui.raw(s)
    erase()
    io.stdout:write(s)
    io.stdout:flush()
    draw()
  end
  function ui.status(s)
    ui.status_text = s
    draw()
  end
  function ui.done()
    erase()
    ui.status_text = nil
    stream:flush()
  end
  return ui
end

-- ---------------------------------------------------------------------
-- the run

local function write_file(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then return nil, err end
  local ok, werr = f:write(text)
  f:close()
  if not ok then os.remove(tmp); return nil, werr end
  local rok, rerr = os.rename(tmp, path)
  if not rok then os.remove(tmp); return nil, rerr end
  return true
end

-- Catch SIGINT and SIGTERM on the loop: the first kills every child (their
-- records then come back as interrupted) and stops new ones; another one a
-- second or more later exits at once. (Wrappers such as timeout(1) send a
-- signal both to the process and to its group: one Ctrl-C may arrive twice.)
local function catch_signals(state)
  local sigs = {}
  for _, s in ipairs { { SIGINT, "SIGINT", 130 }, { SIGTERM, "SIGTERM", 143 } } do
    local ok, sig = pcall(core.signal, s[1])
    if ok then
      sigs[#sigs + 1] = sig
      core.spawn(function()
        while sig:wait() == "ready" do
          for proc in pairs(state.running) do proc:kill() end
          if state.interrupted then
            if core.now() - state.interrupted_at >= 1 then
              io.stderr:write("\nrstlab: interrupted again, exiting now\n")
              reason.pool_close(state.pool)
              os.exit(s[3], false)
            end
            goto continue
          end
          state.interrupted, state.exit, state.interrupted_at = s[2], s[3], core.now()
          if state.on_interrupt then state.on_interrupt(s[2]) end
          ::continue::
        end
      end)
    end
  end
  return function()
    for _, sig in ipairs(sigs) do sig:close() end
    core.step(false) -- let the signal actors see "closed" and end
  end
end

--- run(opts [, out]) -> summary table. opts as parse_args gives (paths,
--- jobs, timeout, filters, shard, repeat, until_fail, pcap_dir, verbose,
--- list, tap, junit, html), or a list of paths with some of those fields.
--- out(line) receives the human lines (default: stdout, none when quiet).
--- The summary: { passed, failed (failures and errors), errors, skipped,
--- results (report order), attempts, flaky, duration, interrupted, exit }.
function M.run(o, out)
  if o.paths == nil then
    local paths = {}
    for i, p in ipairs(o) do paths[i] = p end
    o = { paths = paths, jobs = o.jobs, timeout = o.timeout or 30, pcap_dir = o.pcap_dir,
      verbose = o.verbose, quiet = o.quiet, filters = o.filters or {}, shard = o.shard,
      ["repeat"] = o["repeat"], until_fail = o.until_fail, tap = o.tap, junit = o.junit,
      html = o.html, list = o.list }
  end
  o.filters = o.filters or {}
  local ui = new_ui(o, out)
  local state = { running = {} }
  local summary = { passed = 0, failed = 0, errors = 0, skipped = 0, results = {},
    started = os.time(), hostname = hostname(), attempts = 0, flaky = {} }
  local uncatch = o.signals and catch_signals(state) or function() end
  local t0 = core.now()
  local files = collect(o.paths)
  local jobs = o.jobs or nprocs()
  -- The tcp_send_reset tracepoint, best effort: without it, reasons read
  -- "unchecked". One tracing instance per job slot, not per scenario:
  -- making and removing an instance costs tens of milliseconds each and
  -- the kernel serialises them. The first scenario of a slot that opens a
  -- capture makes the slot's instance; later ones attach to it and drop
  -- what is pending (lines left by the slot's previous scenario carry that
  -- scenario's ports, never the new one's: each has its own port slice).
  -- The runner removes them when the run ends.
  state.pool = reason.pool(jobs)

  -- 1. What does each file declare? (In a child: a script's top level may
  --    fail or hang, and must not take the runner with it.)
  if ui.progress then ui.status(string.format("loading %d files ...", #files)) end
  local declared = {}
  parallel(state, files, jobs, function(file, i)
    if type(file) == "table" then
      declared[i] = { error = file.error }
    else
      declared[i] = run_child(state, { mode = "list", file = file }, o.timeout + grace(o.timeout))
    end
  end)
  local work = {}
  local keep = M.matcher(o.filters)
  for i, file in ipairs(files) do
    local rec = declared[i]
    if type(file) == "table" then file = file.path end
    local items = {}
    if rec == nil or rec.interrupted then
      -- not listed: the run was interrupted
    elseif rec.names then
      for k, name in ipairs(rec.names) do
        items[#items + 1] = { file = file, name = name, decl = k,
          timeout = rec.timeouts and rec.timeouts[k] or nil }
      end
    else
      items[1] = { file = file, name = "(loading the file)", decl = 0,
        load_error = rec.error or rec.message or "?" }
    end
    for _, w in ipairs(items) do
      if keep(w.file .. ": " .. w.name)
        and (not o.shard or M.shard_of(w.file, w.name, o.shard[2]) == o.shard[1]) then
        work[#work + 1] = w
      end
    end
  end
  if o.list then
    ui.done()
    for _, w in ipairs(work) do
      ui.print(w.file .. ": " .. w.name .. (w.load_error and ("  ERROR " .. w.load_error) or ""))
    end
    summary.listed = #work
    uncatch()
    reason.pool_close(state.pool)
    summary.interrupted, summary.exit = state.interrupted, state.exit
    return summary
  end

  local pcap_dir = o.pcap_dir
  if not pcap_dir then
    pcap_dir = (os.getenv("TMPDIR") or "/tmp") .. "/rstlab-" .. tostring(core.pid and core.pid() or os.time())
  end
  local mk, mkerr = core.mkdir(pcap_dir)
  if not mk then out("rstlab: cannot make the pcap directory: " .. mkerr) end
  -- Each scenario's pcap is named after it: SCRIPT-SCENARIO.pcap, made
  -- unique when two names come out the same.
  local used = {}
  for _, w in ipairs(work) do
    local base = safe_name(w.file:match("([^/]+)%.lua$") or w.file) .. "-" .. safe_name(w.name)
    local b, n = base, 1
    while used[b] do n = n + 1; b = base .. "-" .. n end
    used[b] = true
    w.base = b
  end

  -- 2. Run every scenario, in rounds when repeating.
  local rounds = o["repeat"] or (o.until_fail and math.huge) or 1
  local multi = rounds > 1
  local want_packets = o.verbose or o.html ~= nil
  local attempts = {} -- [i] = list of records
  local counts = { pass = 0, fail = 0, error = 0, skip = 0 }
  local round = 0
  -- TAP streams in report order: point i goes out once 1..i are known.
  local tap_next, tap_ready = 1, {}
  if o.tap then ui.raw(report.tap_header(#work)) end
  local function tap_flush()
    while tap_ready[tap_next] do
      local r = tap_ready[tap_next]
      local s = report.tap_point(tap_next, r)
      if o.verbose and r.status == "pass" then
        for _, cap in ipairs(r.captures or {}) do
          s = s .. indent(report.ladder_text(cap), "# ") .. "\n"
        end
      end
      ui.raw(s)
      tap_ready[tap_next] = nil
      tap_next = tap_next + 1
    end
  end
  local done_round = 0
  local function progress()
    if not ui.progress then return end
    local running = 0
    for _ in pairs(state.running) do running = running + 1 end
    local s = string.format("[%d/%d] %d running, %d passed, %d failed", done_round, #work, running,
      counts.pass, counts.fail + counts.error)
    if counts.skip > 0 then s = s .. string.format(", %d skipped", counts.skip) end
    if multi then s = s .. string.format(", round %d", round) end
    ui.status(s .. string.format("  %.1f s", core.now() - t0))
  end
  state.on_interrupt = function(name)
    ui.done()
    io.stderr:write("rstlab: " .. name .. ": stopping, killing the running scenarios\n")
  end

  local function show(r, w)
    local label = w.file .. ": " .. w.name
    local tag = multi and string.format("  [round %d]", round) or ""
    if r.status == "pass" then
      local extra = #(r.unchecked or {}) > 0 and ("  [" .. #r.unchecked .. " unchecked]") or ""
      ui.line(string.format("PASS  %s (%s)%s%s", label, fmt_ms(r.duration), extra, tag))
      for _, u in ipairs(r.unchecked or {}) do ui.line("      unchecked: " .. u) end
      if o.verbose then
        for _, cap in ipairs(r.captures or {}) do
          ui.line("      capture " .. tostring(cap.name) .. ":")
          ui.line(indent(report.ladder_text(cap), "      "))
        end
        for _, l in ipairs(r.logs or {}) do ui.line("      log: " .. l) end
      end
    elseif r.status == "skip" then
      ui.line(string.format("SKIP  %s: %s%s", label, r.message or "", tag))
    else
      ui.line(string.format("%s  %s (%s)%s", r.status == "fail" and "FAIL" or "ERROR", label,
        fmt_ms(r.duration), tag))
      ui.line("      " .. (r.where and (r.where .. ": ") or "") .. tostring(r.message))
      if r.details then ui.line(indent(r.details, "      ")) end
      if r.traceback and r.traceback ~= "" then ui.line(indent(r.traceback, "      ")) end
      for _, l in ipairs(r.logs or {}) do ui.line("      log: " .. l) end
      if r.pcap then ui.line("      pcap: " .. r.pcap) end
    end
  end

  while round < rounds and not state.interrupted do
    round = round + 1
    local round_failed = false
    done_round = 0
    parallel(state, work, jobs, function(w, i, k)
      progress()
      local r
      if w.load_error then
        r = { status = "error", message = w.load_error, duration = 0 }
      else
        local timeout = w.timeout or o.timeout
        local path = pcap_dir .. "/" .. w.base .. (round > 1 and ("-" .. round) or "")
        r = run_child(state, { file = w.file, name = w.name, timeout = o.timeout,
          pcap_path = path, pcap_always = o.pcap_dir ~= nil, packets = want_packets,
          trace_instance = state.pool[k], exiting = true },
          timeout + grace(timeout))
      end
      if r.interrupted then return end
      r.file, r.name, r.decl = w.file, w.name, w.decl
      attempts[i] = attempts[i] or {}
      table.insert(attempts[i], r)
      done_round = done_round + 1
      summary.attempts = summary.attempts + 1
      counts[r.status] = (counts[r.status] or 0) + 1
      if r.status == "fail" or r.status == "error" then round_failed = true end
      show(r, w)
      if o.tap and not multi then
        tap_ready[i] = r
        tap_flush()
      end
      progress()
    end)
    if o.until_fail and round_failed then break end
  end
  ui.done()
  summary.rounds = round

  -- 3. One result per scenario (the first attempt that did not pass, else
  --    the last), in report order.
  for i, w in ipairs(work) do
    local list = attempts[i]
    if list then
      local rep
      for _, r in ipairs(list) do
        if r.status == "fail" or r.status == "error" then rep = r; break end
      end
      rep = rep or list[#list]
      if multi then
        rep.attempts = {}
        for k, r in ipairs(list) do rep.attempts[k] = r.status end
        if report.flaky(rep) then summary.flaky[#summary.flaky + 1] = rep end
      end
      summary.results[#summary.results + 1] = rep
      if rep.status == "pass" then summary.passed = summary.passed + 1
      elseif rep.status == "skip" then summary.skipped = summary.skipped + 1
      else
        summary.failed = summary.failed + 1
        if rep.status == "error" then summary.errors = summary.errors + 1 end
      end
    end
  end
  summary.results = report.sorted(summary.results)
  summary.duration = core.now() - t0
  summary.interrupted = state.interrupted
  summary.not_finished = #work - #summary.results

  -- 4. The summary: failures in report order, flaky ones, the count.
  local bad = {}
  for _, r in ipairs(summary.results) do
    if r.status == "fail" or r.status == "error" then bad[#bad + 1] = r end
  end
  if #bad > 0 and (#summary.results > 1 or multi) then
    ui.print(string.format("did not pass (%d failed, %d errors):", #bad - summary.errors, summary.errors))
    for _, r in ipairs(bad) do
      ui.print(string.format("  %-5s %s: %s", report.LABEL[r.status], report.title(r),
        report.first_line(r)))
    end
  end
  if multi then
    ui.print(string.format("%d rounds, %d attempts", round, summary.attempts))
    for _, r in ipairs(summary.flaky) do
      ui.print(string.format("  flaky: %s: %s", report.title(r), table.concat(r.attempts, " ")))
    end
  end
  if state.interrupted then
    ui.print(string.format("interrupted (%s): %d of %d scenarios did not finish%s", state.interrupted,
      summary.not_finished, #work, multi and " in the last round" or ""))
  end
  if #work == 0 then ui.print("no scenario to run") end
  ui.print(report.count_line(summary))
  if o.tap then
    if multi then
      for k, r in ipairs(summary.results) do ui.raw(report.tap_point(k, r)) end
    end
    if state.interrupted then
      ui.raw("Bail out! interrupted by " .. state.interrupted .. "\n")
    else
      ui.raw("# " .. report.count_line(summary) .. "\n")
    end
  end
  for _, r in ipairs { { o.junit, report.junit }, { o.html, report.html } } do
    if r[1] then
      local ok, err = write_file(r[1], r[2](summary))
      if not ok then
        io.stderr:write("rstlab: cannot write ", r[1], ": ", tostring(err), "\n")
        summary.report_error = true
      end
    end
  end
  -- Keep the default pcap directory only if something is in it.
  if not o.pcap_dir then os.remove(pcap_dir) end
  uncatch()
  reason.pool_close(state.pool)
  summary.exit = state.exit
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
  o.signals = true
  local s = M.run(o)
  if s.exit then return s.exit end
  if o.list then return 0 end
  if s.report_error then return 1 end
  return s.failed == 0 and 0 or 1
end

return M
