--- rstlab.runner.child: the forked scenario process, and the records it
--- sends back.
---
--- The runner forks with core.fork("rstlab.runner.child", serialize(job));
--- the child runs child_main(arg) and writes one serialized record to its
--- pipe. A job is { mode = "list", file } (what does the file declare?) or
--- { file, name, timeout (the runner's default, unscaled), time_scale,
--- pcap_path, pcap_always, packets, exiting }, handed as is
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

-- mode "list": the names of the file's scenarios and their own timeouts.
-- The declarations of the job's script: its file, or its text.
local function load(job)
  if job.source then return rstlab.load_source(job.source, job.file) end
  return rstlab.load_file(job.file)
end

local function list(job)
  local decls, err = load(job)
  if not decls then return { error = err } end
  local res = { names = {}, timeouts = {} }
  for i, d in ipairs(decls) do
    res.names[i] = d.name
    res.timeouts[i] = type(d.opts) == "table" and tonumber(d.opts.timeout) or false
  end
  return res
end

--- child_main(arg): the whole life of a scenario process.
function M.child_main(arg)
  local job = M.deserialize(arg)
  if job.mode == "list" then
    core.report(M.serialize(list(job)))
    return 0
  end
  local ok, err = true, nil
  if not job.no_sandbox then ok, err = core.sandbox_enter() end
  if not ok then
    core.report(M.serialize({ status = "error", message = "cannot enter a network namespace: " .. err }))
    return 0
  end
  local res
  local decls, lerr = load(job)
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
  -- this process does the slow part of its teardown and exits. Detaching
  -- the RST-reason program waits for RCU grace periods (10 to 50 ms),
  -- and so does closing a packet socket.
  core.report(M.serialize(res), true)
  reason.child_done()
  return 0
end

return M
