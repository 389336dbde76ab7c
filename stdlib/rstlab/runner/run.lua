--- rstlab.runner.run: one run of the runner, from the paths to the
--- summary and the reports.
---
--- 1. What each file declares (each file loaded in a child: its top level
---    may fail or hang); 2. the selection (rstlab.runner.select); 3. every
---    scenario in its own child, in rounds when repeating
---    (rstlab.runner.pool); 4. one result per scenario, the summary lines
---    (rstlab.runner.console) and the reports (rstlab.report's formats).

local core = require "rstlab.core"
local reason = require "rstlab.reason"
local report = require "rstlab.report"
local pool = require "rstlab.runner.pool"
local selection = require "rstlab.runner.select"
local console = require "rstlab.runner.console"

local M = {}

--- The defaults of the options that have one.
M.DEFAULTS = { timeout = 30, time_scale = 1 }

local USAGE_MT = { __tostring = function(e) return "rstlab: " .. e.usage end }

--- usage_error(message) -> an error object for a mistake of the caller (a
--- bad option, a directory that cannot be made): the program prints it on
--- one line and exits with status 2.
function M.usage_error(msg)
  return setmetatable({ usage = msg }, USAGE_MT)
end

local function hostname()
  local f = io.open("/proc/sys/kernel/hostname")
  local h = f and f:read("l")
  if f then f:close() end
  return h or "localhost"
end

local function safe_name(s)
  return (s:gsub("[^%w%-_.]+", "_"):sub(1, 80))
end

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

--- job(w, o) -> job, deadline: the job record of scenario w ({ file, name,
--- timeout = its own or nil }) and when the runner kills its child. The
--- record carries the default timeout as given and time_scale: the child
--- scales its timeouts itself; the deadline is already scaled.
function M.job(w, o)
  local scale = o.time_scale or 1
  return { file = w.file, name = w.name, timeout = o.timeout, time_scale = scale, strict = o.strict },
    pool.deadline(w.timeout or o.timeout, scale)
end

-- The options as the command line gives them, from what rstlab.run got (a
-- list of paths with some of the fields).
local function normalise(o)
  if o.paths == nil then
    local c = {}
    for k, v in pairs(o) do
      if math.type(k) ~= "integer" then c[k] = v end
    end
    c.paths = {}
    for i, p in ipairs(o) do c.paths[i] = p end
    o = c
  end
  for k, v in pairs(M.DEFAULTS) do
    if o[k] == nil then o[k] = v end
  end
  o.filters, o.excludes = o.filters or {}, o.excludes or {}
  return o
end

-- 1. and 2.: the scenarios to run, in report order (each with its rank),
-- and why there are none.
-- A file's list child goes on as the server of its scenarios (see
-- rstlab.runner.child) while fewer than this many serve at once; the
-- other files' scenarios each load the file in a process of their own.
local function max_servers(jobs)
  return math.max(4, jobs + 2)
end

local function declared(state, o, ui, files, jobs)
  if ui.progress then ui.status(string.format("loading %d files ...", #files)) end
  local recs = {}
  local free = o.list and 0 or max_servers(jobs)
  pool.parallel(state, files, jobs, function(file, i)
    if type(file) == "table" then
      recs[i] = { error = file.error }
    else
      local serve = free > 0
      if serve then free = free - 1 end
      local rec, server = pool.run_child(state, { mode = "list", file = file, serve = serve or nil },
        pool.deadline(o.timeout, o.time_scale))
      recs[i] = rec
      if server then state.servers[file] = server
      elseif serve then free = free + 1 end
    end
  end)
  local items = {}
  for i, file in ipairs(files) do
    local rec = recs[i]
    if type(file) == "table" then file = file.path end
    if rec == nil or rec.interrupted then
      -- not listed: the run was interrupted
    elseif rec.names then
      for k, name in ipairs(rec.names) do
        items[#items + 1] = { file = file, name = name, decl = k,
          timeout = rec.timeouts and rec.timeouts[k] or nil }
      end
    else
      items[#items + 1] = { file = file, name = "(loading the file)", decl = 0,
        load_error = rec.error or rec.message or "?" }
    end
  end
  local work, why = selection.pick(items, o)
  for i, w in ipairs(work) do w.rank = i end
  -- Servers of files with nothing selected go now.
  local wanted = {}
  for _, w in ipairs(work) do wanted[w.file] = true end
  for file, server in pairs(state.servers) do
    if not wanted[file] then
      state.servers[file] = nil
      pool.retire(state, server)
    end
  end
  return work, why
end

-- Every server left goes, and the run waits until they have exited.
local function retire_all(state)
  for file, server in pairs(state.servers) do
    state.servers[file] = nil
    pool.retire(state, server)
  end
  while (state.reaping or 0) > 0 do
    local fatal = core.step(true)
    if fatal then error(fatal, 0) end
  end
end

--- run(opts [, out]) -> summary table. opts as the command line gives them
--- (paths, jobs, max_waiting, timeout, time_scale, filters, excludes, shard, repeat,
--- until_fail, fail_fast, pcap_dir, verbose, list, and one field per report
--- format: tap = true, junit = FILE, html = FILE, json = FILE or "-",
--- json_packets), or a list of paths with
--- some of those fields. out(line) receives the human lines (default:
--- stdout, none when quiet). Raises a usage_error when the pcap directory
--- cannot be made.
--- The summary: { passed, failed (failures and errors), errors, skipped,
--- results (report order), attempts, flaky, duration, interrupted, exit,
--- empty (why nothing was selected), stopped (by --fail-fast), not_run }.
function M.run(o, out)
  o = normalise(o)
  local formats, want_packets = {}, o.verbose
  local stdout_by = {}
  for _, fmt in ipairs(report.formats()) do
    local bad = fmt.check and fmt.check(o)
    if bad then error(M.usage_error(bad), 0) end
    if o[fmt.name] then
      formats[#formats + 1] = fmt
      local packets = fmt.packets
      if type(packets) == "function" then packets = packets(o) end
      want_packets = want_packets or packets
      if report.to_stdout(fmt, o[fmt.name]) then
        o.stdout_format = fmt.name
        stdout_by[#stdout_by + 1] = fmt.option .. (fmt.arg and " -" or "")
      end
    end
  end
  if #stdout_by > 1 then
    error(M.usage_error(table.concat(stdout_by, " and ") .. " both write to stdout: give all but one a FILE"), 0)
  end
  -- Where the pcaps go, made before anything runs: a directory that cannot
  -- be made is the caller's mistake. Without --pcap-dir, failing scenarios
  -- keep theirs in a directory of this run, removed at the end if empty.
  local pcap_dir = o.pcap_dir
  if not o.list then
    pcap_dir = pcap_dir or ((os.getenv("TMPDIR") or "/tmp") .. "/rstlab-" .. core.pid())
    local mk, mkerr = core.mkdir(pcap_dir)
    if not mk then error(M.usage_error("cannot make the pcap directory " .. pcap_dir .. ": " .. tostring(mkerr)), 0) end
  end

  -- The files of streamed formats are opened before anything runs (one
  -- that cannot be is the caller's mistake) and written as results come.
  local files = {}
  for _, fmt in ipairs(formats) do
    if fmt.arg and fmt.stream and not report.to_stdout(fmt, o[fmt.name]) then
      local f, ferr = io.open(o[fmt.name], "w")
      if not f then
        for _, g in pairs(files) do g:close() end
        if pcap_dir and not o.pcap_dir then os.remove(pcap_dir) end
        error(M.usage_error("cannot open the report file " .. ferr), 0)
      end
      f:setvbuf("full")
      files[fmt.name] = f
    end
  end

  local ui = console.new(o, out)
  local state = { running = {}, slots = {}, servers = {} }
  local summary = { passed = 0, failed = 0, errors = 0, skipped = 0, results = {},
    started = os.time(), hostname = hostname(), attempts = 0, flaky = {}, not_run = {} }
  local uncatch = o.signals and pool.catch_signals(state) or function() end
  local t0 = core.now()
  local jobs = o.jobs or core.cpus()
  -- The tcp_send_reset tracepoint, best effort: without it, reasons read
  -- "unchecked". Each scenario reads it with a BPF program of its own,
  -- held by descriptors: nothing to make here, nor to remove afterwards.
  reason.prepare()
  local function finish()
    retire_all(state)
    uncatch()
    for name, f in pairs(files) do
      if not f:close() and not summary.report_error then -- (else already said)
        io.stderr:write("rstlab: cannot write ", o[name], "\n")
        summary.report_error = true
      end
    end
    -- Keep the default pcap directory only if something is in it.
    if pcap_dir and not o.pcap_dir then os.remove(pcap_dir) end
    summary.interrupted, summary.exit = state.interrupted, state.exit
    return summary
  end

  local work, why = declared(state, o, ui, selection.collect(o.paths), jobs)
  ui.done()
  if #work == 0 and not state.interrupted then summary.empty = why end
  if o.list then
    for _, w in ipairs(work) do
      ui.print(w.file .. ": " .. w.name .. (w.load_error and ("  ERROR " .. w.load_error) or ""))
    end
    summary.listed = #work
    return finish()
  end
  if #work == 0 then return finish() end

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

  -- 3. Run every scenario, in rounds when repeating.
  local rounds = o["repeat"] or (o.until_fail and math.huge) or 1
  local multi = rounds > 1
  -- Scenarios of each file yet to finish: in a single round, a file's
  -- server goes once they all have (it outlives its scenarios).
  local left, unsent = {}, {}
  for _, w in ipairs(work) do left[w.file] = (left[w.file] or 0) + 1 end
  for file, n in pairs(left) do unsent[file] = n end
  local share = {} -- files whose server shares its setup among several scenarios
  for file, n in pairs(left) do share[file] = n > 1 or multi end
  local attempts, tried = {}, {} -- [i] = list of records; [i] = last round it started
  local counts = { pass = 0, fail = 0, error = 0, skip = 0 }
  local round, done_round = 0, 0
  local streams = {}
  for _, fmt in ipairs(formats) do
    if fmt.stream and (not fmt.arg or files[fmt.name] or report.to_stdout(fmt, o[fmt.name])) then
      local write = ui.raw
      local f = files[fmt.name]
      if f then
        -- Every line is flushed as it is written: a tool can follow the file.
        -- After a failed write, nothing more goes to that file.
        local broken = false
        write = function(text)
          if broken then return end
          local ok, err = f:write(text)
          if ok then ok, err = f:flush() end
          if not ok then
            io.stderr:write("rstlab: cannot write ", o[fmt.name], ": ", tostring(err), "\n")
            summary.report_error, broken = true, true
          end
        end
      end
      local st = fmt.stream(write, { verbose = o.verbose, rounds = rounds, options = o,
        started = summary.started, hostname = summary.hostname })
      st.start(#work)
      streams[#streams + 1] = st
    end
  end
  local function progress()
    if not ui.progress then return end
    local running, slots = {}, {}
    for k in pairs(state.slots) do slots[#slots + 1] = k end
    table.sort(slots)
    for _, k in ipairs(slots) do running[#running + 1] = state.slots[k] end
    ui.status(console.progress_text { done = done_round, total = #work, passed = counts.pass,
      failed = counts.fail + counts.error, skipped = counts.skip, round = multi and round or nil,
      elapsed = core.now() - t0, running = running })
  end
  state.on_interrupt = function(name)
    ui.done()
    io.stderr:write("rstlab: " .. name .. ": stopping, killing the running scenarios\n")
  end
  local stop_ticker = ui.ticker(0.5, progress)

  while round < rounds and not state.interrupted and not state.stop do
    round = round + 1
    local round_failed = false
    done_round = 0
    pool.parallel(state, work, jobs, function(w, i, k)
      tried[i] = round
      state.slots[k] = w.file .. ": " .. w.name
      progress()
      local r
      if w.load_error then
        r = { status = "error", message = w.load_error, duration = 0 }
      else
        local job, deadline = M.job(w, o)
        job.pcap_path = pcap_dir .. "/" .. w.base .. (round > 1 and ("-" .. round) or "")
        job.pcap_always = o.pcap_dir ~= nil
        job.packets = want_packets
        job.exiting = true
        job.share = share[w.file]
        -- A file's last scenario of a single round runs in its server
        -- itself (a fork saved): nothing comes after it.
        unsent[w.file] = unsent[w.file] - 1
        job.last = unsent[w.file] == 0 and not multi or nil
        r = pool.run_child(state, job, deadline, state.servers[w.file])
        left[w.file] = left[w.file] - 1
        if left[w.file] == 0 and not multi and state.servers[w.file] then
          pool.retire(state, state.servers[w.file])
          state.servers[w.file] = nil
        end
      end
      state.slots[k] = nil
      if r.interrupted then return end
      r.file, r.name, r.decl, r.rank, r.round = w.file, w.name, w.decl, w.rank, round
      attempts[i] = attempts[i] or {}
      table.insert(attempts[i], r)
      done_round = done_round + 1
      summary.attempts = summary.attempts + 1
      counts[r.status] = (counts[r.status] or 0) + 1
      if r.status == "fail" or r.status == "error" then
        round_failed = true
        if o.fail_fast then state.stop = true end
      end
      progress() -- first: the lines below redraw it, never a stale count
      ui.show(r, w.file .. ": " .. w.name, multi and string.format("  [round %d]", round) or "")
      for _, st in ipairs(streams) do st.result(r) end
    end, o.max_waiting or pool.waiting(jobs))
    if o.until_fail and round_failed then break end
  end
  stop_ticker()
  ui.done()
  summary.rounds = round

  -- 4. One result per scenario (the first attempt that did not pass, else
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
    if state.stop and not state.interrupted and tried[i] ~= round then
      summary.not_run[#summary.not_run + 1] = { rank = w.rank, file = w.file, name = w.name,
        why = "--fail-fast stopped the run at the first failure" }
    end
  end
  summary.results = report.sorted(summary.results)
  summary.duration = core.now() - t0
  summary.interrupted = state.interrupted
  summary.stopped = state.stop
  summary.not_finished = #work - #summary.results

  -- The closing lines: failures in report order, flaky ones, the count.
  local bad = {}
  for _, r in ipairs(summary.results) do
    if r.status == "fail" or r.status == "error" then bad[#bad + 1] = r end
  end
  if #bad > 0 and (#summary.results > 1 or multi) then
    ui.print(string.format("did not pass (%d failed, %d errors):", #bad - summary.errors, summary.errors))
    for _, r in ipairs(bad) do
      ui.print(string.format("  %s%s %s: %s", ui.label(r.status), string.rep(" ", 5 - #report.LABEL[r.status]),
        report.title(r), report.first_line(r)))
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
  elseif state.stop then
    ui.print(string.format("stopped at the first failure (--fail-fast): %d of %d scenarios not run%s",
      #summary.not_run, #work, multi and string.format(" in round %d", round) or ""))
  end
  ui.print(report.count_line(summary))
  for _, st in ipairs(streams) do st.finish(summary) end
  for _, fmt in ipairs(formats) do
    if fmt.arg and not fmt.stream then
      local path = o[fmt.name]
      local ok, err = write_file(path, fmt.document(summary))
      if not ok then
        io.stderr:write("rstlab: cannot write ", path, ": ", tostring(err), "\n")
        summary.report_error = true
      end
    end
  end
  return finish()
end

return M
