--- rstlab.report: the results of a run, for people and for CI.
--
-- The formats live in report/, one file each; what they share is
-- report/common.lua. This module lists the formats and gathers their
-- functions under the names scripts and tests use:
--
--   report.tap_header(n), report.tap_point(k, r)   TAP version 13, streamed
--   report.junit(summary)                          JUnit XML (one file)
--   report.html(summary)                           one self-contained HTML page
--   report.svg_ladder(cap)                         a capture's ladder as SVG
--   report.ladder_text(cap)                        the same as terminal text
--   report.json(summary [, opts])                  JSON Lines (doc/json.md)
--
-- A format module is a table with:
--   name      its key in the runner's options (o[name]: true, or the FILE)
--   option    its command-line option ("--junit")
--   arg       "FILE" when it writes a file; nil when it takes stdout
--   help      its line in the usage text
--   dash      true when FILE may be "-": stdout
--   packets   true when it needs every scenario's packets (or a function
--             of the run's options saying so)
--   options   more command-line options of the format: a list of
--             { long, arg, help, set(o, value, name) } (as the runner's)
--   check(o) -> nil | message          a usage error in the options
--   document(summary) -> text          the whole report, written at the
--                                      end (a FILE format without stream)
--   stream(write, opts) -> streamer    see report/tap.lua: into stdout (no
--                                      arg, or FILE "-"), or into FILE,
--                                      opened when the run starts and
--                                      flushed at every write. opts:
--                                      { verbose, rounds, options (the
--                                      run's), started, hostname }
-- Two formats that both write to stdout are a usage error.
-- A new format is one file in report/ and its name in FORMATS below: the
-- runner reads its option, usage line and output from the module.

local common = require "rstlab.report.common"
local tap = require "rstlab.report.tap"
local junit = require "rstlab.report.junit"
local html = require "rstlab.report.html"
local json = require "rstlab.report.json"

local report = {}
for k, v in pairs(common) do report[k] = v end

--- The report format modules, in the order of the usage text.
report.FORMATS = { "rstlab.report.tap", "rstlab.report.junit", "rstlab.report.html",
  "rstlab.report.json" }

--- to_stdout(fmt, value) -> whether format fmt, given value (o[fmt.name]),
-- writes to stdout.
function report.to_stdout(fmt, value)
  return not fmt.arg or (fmt.dash == true and value == "-")
end

--- formats() -> list of the format modules.
function report.formats()
  local list = {}
  for i, name in ipairs(report.FORMATS) do list[i] = require(name) end
  return list
end

report.tap_header, report.tap_point, report.tap = tap.header, tap.point, tap.document
report.junit, report.junit_classname = junit.document, junit.classname
report.html, report.svg_ladder = html.document, html.svg_ladder
report.json = json.document

return report
