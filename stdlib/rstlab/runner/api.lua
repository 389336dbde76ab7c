--- rstlab.runner.api: the Lua half of the C API (<rstlab/runner.h>,
--- bindings/api.c). A runner holds the scenarios it loaded and the options
--- of its runs, and runs them as the rstlab program does: each scenario in
--- a forked child (rstlab.runner.child), in a fresh network namespace
--- unless told otherwise, at most `jobs` working at once (pool.schedule), killed at its deadline
--- (rstlab.runner.pool).
---
--- A run is driven by actors on the engine's loop (the runner's own, or
--- the host program's): start() returns at once and reports each result
--- and then the end through the functions it was given; wait() steps the
--- loop until the run has ended, for callers without a loop of their own.
--- Loading a file is synchronous: its top level runs in a child (it may
--- fail or hang), and load() steps the loop until that child is done.

local core = require "rstlab.core"
local reason = require "rstlab.reason"
local pool = require "rstlab.runner.pool"
local run = require "rstlab.runner.run"

local M = {}

--- new(o) -> runner. o: { jobs, timeout, time_scale, pcap_dir (or nil),
--- strict, sandbox (false: scenarios stay in the caller's network
--- namespace), serial (unique among the runners of this process) }.
function M.new(o)
  return { o = o, scenarios = {}, files = {}, busy = false, runs = 0 }
end

-- Step the loop until done() says so; an error no actor caught raises.
local function step_until(done)
  while not done() do
    local fatal = core.step(true)
    if fatal then error(fatal, 0) end
  end
end

--- load(r, file [, source]) -> number of scenarios | nil, message, code.
--- file is the path, or with source (the script as text) its chunk name.
--- Codes: "ENOTFOUND" (no such file), "ELOAD" (it does not load or
--- declares nothing), "EINVAL" (already loaded), "EBUSY" (a run is on).
function M.load(r, file, source)
  if r.busy then return nil, "cannot load while a run is in progress", "EBUSY" end
  if r.files[file] then return nil, file .. ": already loaded", "EINVAL" end
  if source == nil then
    local f, err = io.open(file, "r")
    if not f then return nil, "cannot open " .. err, "ENOTFOUND" end
    f:close()
  end
  local state = { running = {}, slots = {} }
  local rec
  core.spawn(function()
    rec = pool.run_child(state, { mode = "list", file = file, source = source },
      pool.deadline(r.o.timeout, r.o.time_scale))
  end)
  -- Until the child is reaped too: nothing of the load outlives it.
  step_until(function() return rec ~= nil and (state.reaping or 0) == 0 end)
  if not rec.names then return nil, rec.error or rec.message or "?", "ELOAD" end
  r.files[file] = true
  for k, name in ipairs(rec.names) do
    r.scenarios[#r.scenarios + 1] = { file = file, name = name, source = source,
      timeout = rec.timeouts and rec.timeouts[k] or nil }
  end
  return #rec.names
end

local function safe_name(s)
  return (s:gsub("[^%w%-_.]+", "_"):sub(1, 80))
end

--- start(r, name, on_result, on_done) -> number of scenarios started |
--- nil, message, code. Runs every loaded scenario (name nil) or those
--- called name, in load order. on_result(index, record) for each one that
--- finished (index into the loaded list; the child's record, with file and
--- name set); on_done(nil) at the end, or on_done(message) when the run
--- itself broke. Both are called from actors, never from start itself.
--- Codes: "EBUSY", "ENOTFOUND" (nothing to run), "ESYS" (the pcap
--- directory cannot be made).
function M.start(r, name, on_result, on_done)
  if r.busy then return nil, "a run is already in progress", "EBUSY" end
  local work = {}
  for i, s in ipairs(r.scenarios) do
    if name == nil or s.name == name then work[#work + 1] = { index = i, s = s } end
  end
  if #work == 0 then
    return nil, name and ("no scenario named " .. string.format("%q", name) .. " is loaded")
      or "no scenario is loaded", "ENOTFOUND"
  end
  local o = r.o
  r.runs = r.runs + 1
  -- As the rstlab program: without a pcap directory, failing scenarios
  -- keep theirs in a directory of this run, removed at the end if empty.
  local pcap_dir = o.pcap_dir or string.format("%s/rstlab-%d-%d-%d",
    os.getenv("TMPDIR") or "/tmp", core.pid(), o.serial, r.runs)
  local mk, mkerr = core.mkdir(pcap_dir)
  if not mk then return nil, "cannot make the pcap directory " .. pcap_dir .. ": " .. tostring(mkerr), "ESYS" end
  local used = {}
  for _, w in ipairs(work) do
    local base = safe_name(w.s.file:match("([^/]+)%.lua$") or w.s.file) .. "-" .. safe_name(w.s.name)
    local b, n = base, 1
    while used[b] do n = n + 1; b = base .. "-" .. n end
    used[b] = true
    w.base = b
  end

  local state = { running = {}, slots = {} }
  -- RST reasons: each scenario process loads its own BPF program (nothing
  -- to make or remove here); the kernel's BTF read here, once.
  reason.prepare()
  r.busy, r.state = true, state
  local scheduled, ended, broke = false, false, nil
  local function check_end()
    if ended or not scheduled or (state.reaping or 0) > 0 then return end
    ended = true
    if not o.pcap_dir then os.remove(pcap_dir) end
    r.busy, r.state = false, nil
    on_done(broke)
  end
  state.on_reaped = check_end
  pool.schedule(state, work, o.jobs, o.max_waiting or pool.waiting(o.jobs), function(w, _, k)
    local ok, err = xpcall(function()
      state.slots[k] = w.s.file .. ": " .. w.s.name
      local job, deadline = run.job(w.s, o)
      job.source = w.s.source
      job.no_sandbox = not o.sandbox
      job.pcap_path = pcap_dir .. "/" .. w.base
      job.pcap_always = o.pcap_dir ~= nil
      job.exiting = true
      local rec = pool.run_child(state, job, deadline)
      state.slots[k] = nil
      if not rec.interrupted then
        rec.file, rec.name = w.s.file, w.s.name
        on_result(w.index, rec)
      end
    end, debug.traceback)
    if not ok then
      broke = broke or tostring(err)
      state.interrupted = "broken"
      for proc in pairs(state.running) do proc:kill() end
    end
  end, function()
    scheduled = true
    check_end()
  end)
  return #work
end

--- wait(r): step the loop until the run has ended (at once when none).
function M.wait(r)
  step_until(function() return not r.busy end)
end

--- stop(r): kill the running scenarios and start nothing new; the run
--- still ends through on_done, once its children are reaped.
function M.stop(r)
  local state = r.state
  if not state then return end
  state.interrupted = state.interrupted or "stopped"
  for proc in pairs(state.running) do proc:kill() end
end

return M
