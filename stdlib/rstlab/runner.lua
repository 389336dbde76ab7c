--- rstlab.runner: the runner, `rstlab [options] FILE|DIR...`.
---
--- Each scenario runs in a forked child that enters a fresh network
--- namespace, loads its file, runs one scenario and reports a result record
--- through a pipe. The parent drives several children at once from its own
--- loop, kills a child that outlives its timeout, streams one line per
--- scenario (in completion order) and ends with a summary in a fixed order:
--- by file, then declaration order. Its parts, in runner/:
---
---   cli.lua      the command line: options, usage text, main
---   child.lua    the forked scenario process, and record serialisation
---   pool.lua     children at once: fork, deadline, kill, reap; signals
---   select.lua   which scenarios: collect files, filter, exclude, shard
---   console.lua  lines, colour, the progress line
---   run.lua      one run, from the paths to the summary and the reports
---   api.lua      the Lua half of the C API (<rstlab/runner.h>, bindings/api.c)
---
--- Reports for CI (TAP, JUnit, HTML) come from rstlab.report.

local cli = require "rstlab.runner.cli"
local child = require "rstlab.runner.child"
local run = require "rstlab.runner.run"
local selection = require "rstlab.runner.select"

return {
  main = cli.main, parse_args = cli.parse_args, usage_text = cli.usage_text,
  run = run.run, job = run.job,
  child_main = child.child_main, serialize = child.serialize, deserialize = child.deserialize,
  shard_of = selection.shard_of, matcher = selection.matcher,
}
