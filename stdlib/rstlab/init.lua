--- rstlab: what `require "rstlab"` gives a Lua program.
---
---   local rstlab = require "rstlab"
---   local results = rstlab.run { "scripts/" }      -- forks, one sandbox each
---
--- Scenario files declare scenarios with scenario(name, fn [, opts]); they
--- are run by the rstlab program or by rstlab.run, each in its own process
--- and network namespace.

local core = require "rstlab.core"

local M = { version = core.version }

-- Scenarios declared while a file loads (see load_file).
local declared = nil

--- scenario(name, fn [, {timeout = seconds}]): declare a scenario.
function M.scenario(name, fn, opts)
  if type(name) ~= "string" or name == "" then
    error("scenario: the first argument must be a name (a non-empty string)", 2)
  end
  if type(fn) ~= "function" then
    error("scenario: the second argument must be a function(t)", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("scenario: the third argument, if any, must be a table of options", 2)
  end
  local timeout = opts and opts.timeout
  if timeout ~= nil and (type(timeout) ~= "number" or not (timeout > 0 and timeout < 1e6)) then
    error("scenario: timeout must be a positive number of seconds, got " .. tostring(timeout), 2)
  end
  if declared == nil then
    error("scenario() is called while a scenario file loads (run it with rstlab FILE)", 2)
  end
  for _, d in ipairs(declared) do
    if d.name == name then
      error("scenario: the name " .. string.format("%q", name) .. " is declared twice", 2)
    end
  end
  local info = debug.getinfo(2, "Sl")
  declared[#declared + 1] = { name = name, fn = fn, opts = opts or {},
    where = info.short_src .. ":" .. info.currentline }
end

-- Runs a compiled chunk's top level (its environment already set up by
-- env()) and collects what it declared; what names the chunk in messages.
local function declare(chunk, what)
  declared = {}
  local ok, e = xpcall(chunk, function(m) return debug.traceback(tostring(m), 2) end)
  local list = declared
  declared = nil
  if not ok then return nil, e end
  if #list == 0 then return nil, what .. ": declares no scenario (call scenario(name, fn))" end
  return list
end

-- The script's globals live in an environment of its own, where
-- scenario() is defined; the embedding program's globals are untouched.
-- os.exit would end the scenario process without a result: it raises.
local function env()
  local os_ = setmetatable({ exit = function()
    error("os.exit() in a scenario file: end a scenario by returning, t:fail() or t:skip()", 2)
  end }, { __index = os })
  return setmetatable({ scenario = M.scenario, os = os_ }, { __index = _G })
end

--- load_file(path) -> list of declarations | nil, message. Runs the file's
--- top level with scenario() available as a global.
function M.load_file(path)
  local chunk, err = loadfile(path, "t", env())
  if not chunk then return nil, err end
  return declare(chunk, path)
end

--- load_source(text, chunkname) -> list of declarations | nil, message:
--- load_file for a script given as text; messages name it chunkname, as
--- they would a file ("chunkname:12: ...").
function M.load_source(text, chunkname)
  local chunk, err = load(text, "@" .. chunkname, "t", env())
  if not chunk then return nil, err end
  return declare(chunk, chunkname)
end

--- run(files_or_opts) -> summary: run scenario files as the rstlab program
--- does, each scenario in its own process and network namespace. The
--- argument is a list of paths, or the table the command line would give
--- ({ "scripts/", jobs = 2, timeout = 10, quiet = true }). Returns the
--- runner's summary { passed, failed, skipped, results = {...} }.
function M.run(arg)
  return require("rstlab.runner").run(arg)
end

return M
