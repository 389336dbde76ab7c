--- rstlab.runner.child: the forked scenario process, and the records it
--- sends back.
---
--- The runner forks with core.fork("rstlab.runner.child", serialize(job));
--- the child runs child_main(arg) and writes one serialized record to its
--- pipe. A job is { mode = "list", file } (what does the file declare?) or
--- { file, name, timeout (the runner's default, unscaled), time_scale,
--- pcap_path, pcap_always, packets, exiting, share, last }, handed as is
--- to rstlab.scenario.run. Either kind may carry the script as text
--- (source; file is then its chunk name), and a scenario job may ask to
--- stay in the network namespace it was started in (no_sandbox).

local core = require "rstlab.core"
local rstlab = require "rstlab"
local reason = require "rstlab.reason"

local M = {}

-- Plain data only: tables with string or integer keys, strings, numbers
-- (NaN and infinities are dropped), booleans.
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

--- serialize(v) -> text that deserialize turns back into v.
function M.serialize(v)
  local out = {}
  ser(v, out)
  return table.concat(out)
end

--- deserialize(text) -> value | nil (for text that is not a record).
function M.deserialize(s)
  local f = load("return " .. s, "=record", "t", {})
  if not f then return nil end
  local ok, v = pcall(f)
  return ok and v or nil
end

-- The declarations of the job's script: its file, or its text.
local function load(job)
  if job.source then return rstlab.load_source(job.source, job.file) end
  return rstlab.load_file(job.file)
end

-- The listing of a file's declarations (or why it has none).
local function listing(decls, err)
  if not decls then return { error = err } end
  local res = { names = {}, timeouts = {} }
  for i, d in ipairs(decls) do
    res.names[i] = d.name
    res.timeouts[i] = type(d.opts) == "table" and tonumber(d.opts.timeout) or false
  end
  return res
end

-- Into the scenario's own network namespace, unless the job says to stay
-- (reported when that fails).
local function enter(job)
  local ok, err = true, nil
  if not job.no_sandbox then ok, err = core.sandbox_enter() end
  if not ok then
    core.report(M.serialize({ status = "error", message = "cannot enter a network namespace: " .. err }))
  end
  return ok
end

-- A scenario job in its namespace, with its file's declarations (or why
-- there are none).
local function run(job, decls, lerr)
  local res
  if not decls then
    res = { status = "error", message = lerr }
  else
    local decl
    for _, d in ipairs(decls) do
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
  -- this process does the slow part of its teardown and exits. Closing a
  -- packet socket waits for an RCU grace period, and so does detaching an
  -- RST-reason program from a perf event (10 to 50 ms; the raw
  -- tracepoint's, the usual way now, is immediate).
  core.report(M.serialize(res), true)
  reason.child_done()
  return 0
end

--- child_main(arg): the whole life of a scenario process.
---
--- A list job with serve = true goes on as its file's server once it has
--- reported (core.fork(..., true)): each scenario job the runner sends
--- then runs in a child forked from it, the file already loaded, instead
--- of in a new process that builds a Lua state and loads the file again.
--- The job marked last (job.last) runs in the server itself.
--- The file's top level has run once, outside any scenario's namespace;
--- each child has its own copy of what it made.
function M.child_main(arg)
  local job = M.deserialize(arg)
  if job.mode == "list" then
    local decls, err = load(job)
    core.report(M.serialize(listing(decls, err)), true)
    if not (job.serve and decls) then return 0 end
    -- What every scenario needs, loaded once here: rstlab.scenario and
    -- the modules it requires (2.5 ms a scenario otherwise).
    require "rstlab.scenario"
    -- One full collection here, so that the children start with a
    -- compact heap and their own first one comes late: every page the
    -- collector touches in a child is copied for it.
    collectgarbage()
    -- The namespace work every scenario would repeat, done once here (a
    -- failure is left to each scenario's own sandbox_enter to report).
    core.sandbox_prepare()
    local shared = false
    while true do
      job = M.deserialize(core.serve_next()) -- exits when the runner is done
      if job.share and not shared then
        -- Several scenarios to come: one RST-reason program for all of
        -- them, packet timestamps kept on (each would otherwise load and
        -- attach a program, and switch timestamps on and off), and the
        -- default capture filter compiled. Not for one alone: it loads
        -- its program at its first capture, if it captures at all
        -- (sharing measured the same for one refused scenario, and 14 %
        -- slower for one that captures nothing).
        shared = true
        reason.share()
        core.capture_hold_timestamps()
        -- The default filter compiled here once, not in every scenario
        -- (0.9 ms each, most of it libpcap's code faulted in again).
        core.capture_precompile()
      end
      -- The last job runs here: no later job needs this state kept clean.
      if core.serve_fork(job.last) then break end
    end
    -- Each scenario its own random sequence. (math.randomseed() alone
    -- mixes the time in seconds with addresses, which forks share.)
    math.randomseed(core.pid(), math.floor(core.now() * 1e9) % (1 << 53))
    if not enter(job) then return 0 end
    return run(job, decls)
  end
  -- The sandbox first, then the file: its top level runs in the
  -- scenario's namespace.
  if not enter(job) then return 0 end
  return run(job, load(job))
end

return M
