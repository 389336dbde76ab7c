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
--
-- A format module is a table with:
--   name      its key in the runner's options (o[name]: true, or the FILE)
--   option    its command-line option ("--junit")
--   arg       "FILE" when it writes a file; nil when it takes stdout
--   help      its line in the usage text
--   packets   true when it needs every scenario's packets
--   document(summary) -> text          the whole report (a FILE format)
--   stream(write, opts) -> streamer    (a stdout format) see report/tap.lua
-- A new format is one file in report/ and its name in FORMATS below: the
-- runner reads its option, usage line and output from the module.

local common = require "rstlab.report.common"
local tap = require "rstlab.report.tap"
local junit = require "rstlab.report.junit"
local html = require "rstlab.report.html"

local report = {}
for k, v in pairs(common) do report[k] = v end

--- The report format modules, in the order of the usage text.
report.FORMATS = { "rstlab.report.tap", "rstlab.report.junit", "rstlab.report.html" }

--- formats() -> list of the format modules.
function report.formats()
  local list = {}
  for i, name in ipairs(report.FORMATS) do list[i] = require(name) end
  return list
end

report.tap_header, report.tap_point, report.tap = tap.header, tap.point, tap.document
report.junit, report.junit_classname = junit.document, junit.classname
report.html, report.svg_ladder = html.document, html.svg_ladder

return report
