--- rstlab.runner.pool: the parent's side of the scenario processes. Forks
--- a child per job, reads its record, kills one that outlives its deadline,
--- runs a bounded number at once (one actor per job slot, all on this
--- process's loop), and turns SIGINT/SIGTERM into a stop.
---
--- The state shared with the run: { running = { [proc] = true }, slots =
--- { [k] = title of the scenario slot k runs }, reaping, interrupted (the
--- signal's name), exit (130 or 143), stop (start nothing new),
--- on_interrupt, on_reaped (called each time a reaping actor is done) }.

local core = require "rstlab.core"
local child = require "rstlab.runner.child"

local M = {}

local SIGINT, SIGTERM = 2, 15

-- Seconds the parent waits past a scenario's own timeout before it kills
-- the child (the child normally ends itself at its timeout; this is for a
-- child that cannot, such as a script spinning in a loop).
local function grace(timeout)
  return math.min(5, 1 + timeout / 4)
end

--- deadline(timeout, scale) -> seconds after which the runner kills a
--- child whose timeout is `timeout`: the timeout and the grace after it,
--- both times the time scale (--time-scale).
function M.deadline(timeout, scale)
  return (timeout + grace(timeout)) * (scale or 1)
end

-- Reap proc from an actor of its own (through a pidfd, without blocking
-- the loop), killing it if it does not exit within a few seconds.
local function reap_later(state, proc)
  state.reaping = (state.reaping or 0) + 1
  core.spawn(function()
    if proc:wait_exit(5) == "timeout" then proc:kill() end
    proc:reap()
    state.running[proc] = nil
    state.reaping = state.reaping - 1
    if state.on_reaped then state.on_reaped() end
  end)
end

--- run_child(state, job, deadline [, server]) -> record [, server]: fork a
--- child for the job and wait for its record, or make an error record
--- (killed at the deadline, ended without a record, interrupted = true
--- after Ctrl-C). With a server (a list child that went on serving its
--- file), the child is forked from it; one that cannot is closed, and a
--- child is forked the usual way. A list job with serve = true returns its
--- listing and, when the file loaded, the process, which then serves that
--- file's scenario jobs until retire(state, server).
function M.run_child(state, job, deadline, server)
  local text = child.serialize(job)
  local proc, msg
  if server then
    proc = server:spawn(text)
    if not proc then server:close_server() end
  end
  if not proc then proc, msg = core.fork("rstlab.runner.child", text, job.serve) end
  if not proc then return { status = "error", message = msg } end
  state.running[proc] = true
  -- (parallel watches this actor's process: is it working or waiting?)
  local co = coroutine.running()
  if state.proc_of then state.proc_of[co] = proc end
  local started = core.now()
  local until_ = started + deadline
  local chunks, timed_out = {}, false
  while true do
    local data = proc:read_now()
    if data == "" then break end
    if data then
      chunks[#chunks + 1] = data
    else
      local r = proc:wait(math.max(0, until_ - core.now()))
      if r == "timeout" then
        timed_out = true
        proc:kill()
        break
      end
    end
  end
  local text = table.concat(chunks)
  local rec = not timed_out and child.deserialize(text) or nil
  if rec ~= nil then
    if job.serve and rec.names then return rec, proc end
    if job.serve then proc:close_server() end
    -- The child exits after its report once its teardown is done. That is
    -- kernel time, not CPU, so the job slot is free now: another actor
    -- reaps the child.
    reap_later(state, proc)
    return rec
  end
  if not timed_out then
    -- The report ended without a record that reads: the child wrote
    -- something else on its report pipe, or closed it early. A server
    -- (a list child) would wait for jobs for ever, so it is told to end;
    -- any child still running at the deadline is killed.
    if job.serve then proc:close_server() end
    if proc:wait_exit(math.max(0, until_ - core.now())) == "timeout" then proc:kill() end
  end
  local how, code = proc:reap()
  state.running[proc] = nil
  local took = core.now() - started
  if state.interrupted then return { status = "error", interrupted = true, message = "interrupted" } end
  if timed_out then
    return { status = "error", timeout = true, duration = took,
      message = job.mode == "list"
        and string.format("killed after %g s: loading the file did not finish "
          .. "(does its top level wait or loop? only scenario() calls belong there)", deadline)
        or string.format("killed after %g s: the scenario did not end", deadline) }
  end
  local why = how == "signal" and ("killed by signal " .. code) or ("exit status " .. code)
  if #text > 0 then
    why = why .. "; its report pipe carried " .. #text
      .. " bytes that are not a report: did something else write on file descriptor 3?"
  end
  return { status = "error", duration = took,
    message = job.mode == "list"
      and "loading the file ended without a list of its scenarios (" .. why .. ")"
      or "the scenario process ended without a result (" .. why .. ")" }
end

--- retire(state, server): the server takes no more jobs and exits; it is
--- reaped like a child after its report (state.reaping).
function M.retire(state, server)
  server:close_server()
  reap_later(state, server)
end

--- How a scenario that waits gives its place to the next one.
---
--- A scenario process spends most of its life waiting: on kernel timers
--- (a keepalive, a retransmission, TIME_WAIT), on its peers, on its own
--- timeouts. -j N bounds the scenarios that work at once; one that has
--- used less than IDLE_SHARE of a CPU over the last SAMPLE seconds
--- (/proc/PID/schedstat: the time it ran, to the nanosecond) is waiting,
--- and no longer counts: the next one starts. It counts again once it
--- works again. At most N + waiting (M.waiting(N), --max-waiting) run at
--- once; --max-waiting 0 runs exactly N. The CPU time of programs that a
--- scenario runs (h:spawn) is not its own: such a scenario may be taken
--- as waiting while its program works.
M.SAMPLE = 0.05
M.IDLE_SHARE = 0.1

--- waiting(n) -> how many waiting scenarios may run beside n working ones
--- by default: 7 n, at most 100 (each takes a port slice of its own, of
--- 200 on the machine). The suite's 54 scenarios at -j 2 took 6.4 s with 6
--- (3 n), 4.9 s with 10, 4.8 s with 14 (7 n), 4.7 s with 20; its longest
--- scenario (backlog_overflow.lua) takes 4.2 s.
function M.waiting(n)
  return math.min(7 * n, 100)
end

-- CPU seconds that process pid has run (its one thread), or nil.
local function cpu_time(pid)
  local f = io.open("/proc/" .. pid .. "/schedstat", "r")
  if not f then return nil end
  local ns = f:read("n")
  f:close()
  return ns and ns * 1e-9
end

--- schedule(state, items, n, waiting, fn, done): fn(item, i, k) over the
--- items, each in its own actor of this process (k: its job slot, the
--- smallest free one), at most n working at once and up to `waiting`
--- more that wait; done() once every job started has ended and no more
--- will start (all started, or state.interrupted or state.stop set).
--- Returns at once: the loop runs it. A job's process is the one
--- run_child records for its actor (state.proc_of).
function M.schedule(state, items, n, waiting, fn, done)
  state.proc_of = state.proc_of or setmetatable({}, { __mode = "k" })
  local next_i, alive, working = 1, 0, 0
  local jobs = {} -- [k] = { co, proc, waiting, cpu, at }
  local watching, finished = false, false
  local fill
  local function more()
    return next_i <= #items and not state.interrupted and not state.stop
  end
  local function start(i)
    local k = 1
    while jobs[k] do k = k + 1 end
    local job = {}
    jobs[k] = job
    alive, working = alive + 1, working + 1
    core.spawn(function()
      job.co = coroutine.running()
      fn(items[i], i, k)
      if not job.waiting then working = working - 1 end
      alive = alive - 1
      jobs[k] = nil
      fill()
    end)
  end
  -- Every SAMPLE seconds while all working places are taken and more
  -- could start: which jobs wait, which work again.
  local function watch()
    watching = true
    core.spawn(function()
      while alive > 0 and more() do
        core.sleep(M.SAMPLE)
        local now = core.now()
        for _, job in pairs(jobs) do
          local proc = job.co and state.proc_of[job.co]
          local t = proc and cpu_time(proc:pid())
          if t then
            if job.cpu and job.proc == proc then
              local idle = (t - job.cpu) < M.IDLE_SHARE * (now - job.at)
              if idle and not job.waiting then
                job.waiting, working = true, working - 1
              elseif not idle and job.waiting then
                job.waiting, working = false, working + 1
              end
            end
            job.proc, job.cpu, job.at = proc, t, now
          end
        end
        fill()
      end
      watching = false
    end)
  end
  function fill()
    while more() and working < n and alive < n + waiting do
      start(next_i)
      next_i = next_i + 1
    end
    if waiting > 0 and not watching and working >= n and more() then watch() end
    if not finished and alive == 0 and not more() then
      finished = true
      done()
    end
  end
  fill()
end

--- parallel(state, items, n, fn [, waiting]): schedule() on this loop;
--- returns when it is done and the children it left to reap are reaped.
function M.parallel(state, items, n, fn, waiting)
  local over = false
  M.schedule(state, items, n, waiting or 0, fn, function() over = true end)
  while not over or (state.reaping or 0) > 0 do
    local fatal = core.step(true)
    if fatal then error(fatal, 0) end
  end
end

--- catch_signals(state) -> uncatch: SIGINT and SIGTERM on the loop. The
--- first kills every child (their records then come back as interrupted)
--- and stops new ones; another one a second or more later exits at once.
--- (Wrappers such as timeout(1) send a signal both to the process and to
--- its group: one Ctrl-C may arrive twice.)
function M.catch_signals(state)
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
              os.exit(s[3], false)
            end
          else
            state.interrupted, state.exit, state.interrupted_at = s[2], s[3], core.now()
            if state.on_interrupt then state.on_interrupt(s[2]) end
          end
        end
      end)
    end
  end
  return function()
    for _, sig in ipairs(sigs) do sig:close() end
    core.step(false) -- let the signal actors see "closed" and end
  end
end

return M
