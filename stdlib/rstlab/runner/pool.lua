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

--- parallel(state, items, n, fn): fn(item, i, k) over the items, at most n
--- at once (k: the job slot), each in its own actor of this process.
--- Returns when all are done, or, once state.interrupted or state.stop is
--- set, when the running ones have ended (nothing new starts).
function M.parallel(state, items, n, fn)
  local next_i, running = 1, 0
  local function worker(k)
    while next_i <= #items and not state.interrupted and not state.stop do
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
