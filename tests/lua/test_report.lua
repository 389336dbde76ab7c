-- Unit tests of rstlab.report (TAP, JUnit, HTML + SVG ladders) over
-- synthetic result records, and of the runner's pure helpers (the command
-- line, shards, filters, the job record, the record serialisation).
--
--   LUA_PATH='stdlib/?.lua;tests/lua/?.lua;;' LUA_CPATH='build/?.so;;' lua5.4 tests/lua/test_report.lua

local h = require "harness"
local report = require "rstlab.report"
local tcpflags = require "rstlab.tcpflags"
local runner = require "rstlab.runner"
local cli = require "rstlab.runner.cli"
local selection = require "rstlab.runner.select"
local child = require "rstlab.runner.child"
local tap = require "rstlab.report.tap"
local junit = require "rstlab.report.junit"
local common = require "rstlab.report.common"

local test, eq, ok, contains = h.test, h.eq, h.ok, h.contains

local CA, SA = "127.0.0.1:40000", "127.0.0.1:4000"

local function pkt(i, ts, src, dst, flags, seq, ack, len)
  return { index = i, ts = ts, src = src, dst = dst, flags = assert(tcpflags.parse(flags)), seq = seq, ack = ack,
           win = 512, len = len or 0, sackok = false, sack = {}, iface = "host:lo" }
end

local function capture()
  return {
    name = "host:lo",
    binds = { C = CA, S = SA },
    packets = {
      pkt(1, 10.000, CA, SA, "S", 1000, 0),
      pkt(2, 10.001, SA, CA, "S.", 5000, 1001),
      pkt(3, 10.002, CA, SA, ".", 1001, 5001),
      pkt(4, 10.003, "127.0.0.9:1", "127.0.0.9:2", "S", 7, 0), -- not between C and S
      pkt(5, 10.004, SA, CA, "R.", 5001, 1001),
    },
    marks = { [1] = "1: C > S  [S]", [2] = "2: S > C  [S.]", [5] = ">> 4: S > C  [F.]" },
    failed = 5,
  }
end

local function results()
  return {
    { file = "b.lua", name = "second", decl = 2, status = "pass", duration = 0.02 },
    { file = "b.lua", name = "first", decl = 1, status = "fail", duration = 0.5,
      where = "b.lua:7", message = "expected 3, got 2\nsecond line", details = "details\n\nafter a blank",
      pcap = "/tmp/x/b-first.pcap", captures = { capture() } },
    { file = "a.lua", name = "boom <&> \"q\" # not a directive", decl = 1, status = "error",
      message = "a.lua:3: attempt to index a nil value", traceback = "stack traceback:\n\tline",
      duration = 0.001 },
    { file = "c.lua", name = "skipped", decl = 1, status = "skip", message = "no IPv6" },
  }
end

local function summary()
  return { results = results(), passed = 1, failed = 2, errors = 1, skipped = 1,
           duration = 1.5, started = 0, hostname = "box" }
end

test("results are sorted by file, then declaration order", function()
  local names = {}
  for i, r in ipairs(report.sorted(results())) do names[i] = r.file .. ":" .. r.name:sub(1, 6) end
  eq(names, { "a.lua:boom <", "b.lua:first", "b.lua:second", "c.lua:skippe" })
  local st = {}
  for i, r in ipairs(report.failures_first(results())) do st[i] = r.status end
  eq(st, { "error", "fail", "skip", "pass" })
end)

test("first line: where and the message's first line; flaky says so", function()
  local r = results()[2]
  eq(report.first_line(r), "b.lua:7: expected 3, got 2")
  r.attempts = { "pass", "fail", "pass" }
  eq(report.first_line(r), "flaky: 1 of 3 attempts failed: b.lua:7: expected 3, got 2")
  ok(report.flaky(r))
  ok(not report.flaky({ attempts = { "fail", "error" } }))
  contains(report.full_text(r), "attempts: pass fail pass")
end)

test("XML text: escaped, control characters and bad UTF-8 replaced", function()
  eq(report.xml_attr('a<b>&"c"\n'), "a&lt;b&gt;&amp;&quot;c&quot;&#10;")
  eq(report.xml_text("x\0y\27z\tq"), "x?y?z\tq")
  eq(report.clean("ok \xff\xfe é"), "ok ?? é")
end)

test("TAP: version, plan, points, SKIP, YAML blocks", function()
  local tap = report.tap(summary())
  local lines = {}
  for l in tap:gmatch("[^\n]*") do lines[#lines + 1] = l end
  eq(lines[1], "TAP version 13")
  eq(lines[2], "1..4")
  contains(tap, "\nnot ok 1 - a.lua: boom <&> \"q\" \\# not a directive\n")
  contains(tap, "\nnot ok 2 - b.lua: first\n  ---\n  message: \"b.lua:7: expected 3, got 2\"\n")
  contains(tap, "\nok 3 - b.lua: second\n")
  contains(tap, "\nok 4 - c.lua: skipped # SKIP no IPv6\n")
  contains(tap, "  severity: fail\n  at: \"b.lua:7\"\n")
  -- The report block: every line indented, a blank line kept as indentation.
  contains(tap, "  report: |\n    b.lua:7: expected 3, got 2\n    second line\n    \n    details\n")
  contains(tap, "\n  ...\n")
  contains(tap, "    stack traceback:\n        line\n")
  ok(tap:match("# 1 passed, 2 failed, 1 skipped\n$"), "the count closes the document")
end)

test("JUnit: suites per file, failure/error/skipped, system-out", function()
  local x = report.junit(summary())
  contains(x, '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="rstlab" tests="4" failures="1" errors="1" skipped="1" time="1.500">')
  contains(x, '<testsuite name="a.lua" id="0" tests="1" failures="0" errors="1" skipped="0"')
  contains(x, '<testcase classname="a" name="boom &lt;&amp;&gt; &quot;q&quot; # not a directive" file="a.lua" time="0.001">')
  contains(x, '<error message="a.lua:3: attempt to index a nil value" type="error">')
  contains(x, '<failure message="b.lua:7: expected 3, got 2" type="assertion">b.lua:7: expected 3, got 2\nsecond line\n\ndetails')
  contains(x, "<system-out>pcap: /tmp/x/b-first.pcap</system-out>")
  contains(x, '<skipped message="no IPv6"/>')
  contains(x, 'timestamp="1970-01-01T00:00:00" hostname="box"')
end)

test("SVG ladder: one arrow per packet between the endpoints, marks beside", function()
  local svg = report.svg_ladder(capture())
  local n = 0
  for _ in svg:gmatch('<g class="pkt') do n = n + 1 end
  eq(n, 4, "arrows (the packet between other endpoints is left out)")
  contains(svg, '<g class="pkt syn" data-flags="S" data-index="1">')
  contains(svg, '<g class="pkt rst failed" data-flags="R." data-index="5">')
  contains(svg, ">[S.] seq 0 ack 1</text>")
  contains(svg, ">[R.] seq 1 ack 1</text>")
  contains(svg, '>&gt;&gt; 4: S &gt; C  [F.]</text>')
  contains(svg, "<title>S &gt; C  [R.] seq 1 ack 1 win 512  +0.004s</title>")
  contains(svg, '>127.0.0.1:40000</text>')
  contains(report.svg_ladder({ packets = {} }), "(no packets)")
end)

test("the text ladder of a capture record", function()
  local t = report.ladder_text(capture())
  contains(t, "[R.] seq 1 ack 1")
  contains(t, ">> 4: S > C  [F.]")
end)

test("HTML: one page, summary, failures first, SVG inline", function()
  local page = report.html(summary())
  ok(page:match("^<!DOCTYPE html>"))
  contains(page, '<p class="summary" id="summary">1 passed, 2 failed, 1 skipped (1 of the failed are errors)</p>')
  local first = page:find('<section class="scenario error"', 1, true)
  local pass = page:find('<section class="scenario pass"', 1, true)
  ok(first and pass and first < pass, "failures before passes")
  contains(page, '<svg class="ladder"')
  ok(not page:find("<link", 1, true) and not page:find(" src=", 1, true), "nothing external")
end)

test("shards: stable, by file and name, all of them covered", function()
  eq(runner.shard_of("scripts/linger0.lua", "x", 1), 1)
  local a = runner.shard_of("scripts/a.lua", "one", 4)
  eq(runner.shard_of("scripts/a.lua", "one", 4), a, "same input, same shard")
  local count = { 0, 0, 0 }
  for i = 1, 300 do
    local k = runner.shard_of("f" .. (i % 7) .. ".lua", "scenario " .. i, 3)
    count[k] = count[k] + 1
  end
  for k = 1, 3 do ok(count[k] > 60, "shard " .. k .. " holds " .. count[k] .. " of 300") end
  -- file and name are kept apart: "ab"+"c" is not "a"+"bc"
  ok(runner.shard_of("ab", "c", 1000003) ~= runner.shard_of("a", "bc", 1000003))
end)

test("filters: case-insensitive substrings, * for anything, magic characters plain", function()
  local m = runner.matcher({ "LINGER {1,0}" })
  ok(m("scripts/linger0.lua: SO_LINGER {1,0} then close"))
  ok(not m("scripts/linger0.lua: SO_LINGER {1,1}"))
  m = runner.matcher({ "refused*ipv6", "(loading" })
  ok(m("scripts/refused.lua: the same over IPv6"))
  ok(m("x.lua: (loading the file)"))
  ok(not m("scripts/refused.lua: SYN to a port"))
  ok(runner.matcher({})("anything"))
end)

test("records survive the pipe: sparse integer keys, NaN dropped", function()
  local rec = { status = "pass", captures = { { marks = { [3] = "x", [10] = "y" }, n = 0 / 0 } } }
  local back = child.deserialize(child.serialize(rec))
  eq(back.captures[1].marks, { [3] = "x", [10] = "y" })
  eq(back.captures[1].n, nil)
end)

test("options: the new ones parse, bad values are usage errors", function()
  local o = runner.parse_args({ "-j", "3", "--filter", "a", "--filter", "b", "--shard", "2/5",
    "--repeat", "4", "--until-fail", "--tap", "--junit", "j.xml", "--html", "r.html", "x.lua" })
  eq({ o.jobs, o.filters, o.shard, o["repeat"], o.until_fail, o.tap, o.junit, o.html, o.paths },
    { 3, { "a", "b" }, { 2, 5 }, 4, true, true, "j.xml", "r.html", { "x.lua" } })
  for _, bad in ipairs { { "--shard", "0/2" }, { "--shard", "3/2" }, { "--repeat", "0" },
    { "--timeout", "-1" }, { "-j", "x" }, { "--junit" } } do
    local okk, e = pcall(runner.parse_args, bad)
    ok(not okk and type(e) == "table" and e.usage, table.concat(bad, " ") .. " is a usage error")
  end
end)

test("JUnit classname: the script as a dotted name, without .lua", function()
  eq(junit.classname("scripts/refused.lua"), "scripts.refused")
  eq(junit.classname("./tests/scenarios/fail.lua"), "tests.scenarios.fail")
  eq(junit.classname("x.lua"), "x")
  local x = report.junit({ results = { { file = "scripts/refused.lua", name = "n", status = "pass" } } })
  contains(x, '<testcase classname="scripts.refused" name="n" file="scripts/refused.lua"')
end)

test("report formats: each declares its option, and the facade lists them", function()
  local names = {}
  for i, f in ipairs(report.formats()) do
    names[i] = f.option .. (f.arg and (" " .. f.arg) or "")
    ok(type(f.help) == "string" and (f.document or f.stream), f.name .. " has help and output")
  end
  eq(names, { "--tap", "--junit FILE", "--html FILE", "--json FILE" })
  eq(report.tap_header(2), "TAP version 13\n1..2\n")
  for _, f in ipairs(report.formats()) do
    contains(cli.usage_text(), f.option)
    for _, opt in ipairs(f.options or {}) do contains(cli.usage_text(), opt.long) end
  end
  -- Which ones write to stdout: a stdout format, or a FILE format given "-"
  -- when it takes it.
  local by = {}
  for _, f in ipairs(report.formats()) do by[f.name] = f end
  eq(report.to_stdout(by.tap, true), true)
  eq(report.to_stdout(by.json, "-"), true)
  eq(report.to_stdout(by.json, "r.jsonl"), false)
  eq(report.to_stdout(by.junit, "-"), false)
  eq(cli.parse_args({ "--json", "-", "--json-packets", "x.lua" }).json, "-")
  eq(cli.parse_args({ "--json=r.jsonl", "--json-packets", "x.lua" }).json_packets, true)
end)

test("TAP stream: points in report order, a stopped run's rest skipped", function()
  local out = {}
  local st = tap.stream(function(s) out[#out + 1] = s end, {})
  st.start(3)
  st.result({ rank = 2, file = "a.lua", name = "two", status = "pass" })
  eq(#out, 1, "point 2 waits for point 1")
  st.result({ rank = 1, file = "a.lua", name = "one", status = "fail", message = "m" })
  local s = { results = {}, passed = 1, failed = 1,
    not_run = { { rank = 3, file = "a.lua", name = "three", why = "--fail-fast stopped the run" } } }
  st.finish(s)
  local text = table.concat(out)
  ok(text:find("not ok 1 - a.lua: one\n", 1, true) < text:find("ok 2 - a.lua: two\n", 1, true), "in order")
  contains(text, "ok 3 - a.lua: three # SKIP not run: --fail-fast stopped the run\n")
  contains(text, "# 1 passed, 1 failed\n")
end)

test("the SVG label of a packet is the ladder's", function()
  local ladder = require("rstlab.ladder")
  local rel = ladder.bases(capture().packets, capture().binds)
  eq(ladder.label(capture().packets[2], rel), "[S.] seq 0 ack 1")
end)

test("command line: GNU forms", function()
  local o = cli.parse_args({ "-j4", "--timeout=2.5", "--filter=a=b", "--exclude", "x", "--exclude=y",
    "-vx", "--time-scale", "3", "--junit=j.xml", "--", "--list", "-" })
  eq({ o.jobs, o.timeout, o.filters, o.excludes, o.verbose, o.fail_fast, o.time_scale, o.junit, o.paths, o.list },
    { 4, 2.5, { "a=b" }, { "x", "y" }, true, true, 3, "j.xml", { "--list", "-" }, nil })
  o = cli.parse_args({ "-j", "2", "--fail-fast", "--version", "f.lua" })
  eq({ o.jobs, o.fail_fast, o.version, o.time_scale, o.timeout }, { 2, true, true, 1, 30 })
  for _, bad in ipairs { { "--foo" }, { "-q" }, { "--list=1" }, { "--time-scale", "0" },
    { "--time-scale=-2" }, { "--time-scale", "x" }, { "-j" }, { "--jobs=0" }, { "-vj" } } do
    local okk, e = pcall(cli.parse_args, bad)
    ok(not okk and type(e) == "table" and e.usage, table.concat(bad, " ") .. " is a usage error")
  end
  local _, e = pcall(cli.parse_args, { "--foo=1" })
  eq(e.usage, "unknown option --foo")
end)

test("the job record: time_scale passed, the kill deadline scaled", function()
  local o = { timeout = 30, time_scale = 2 }
  local job, deadline = runner.job({ file = "f.lua", name = "n" }, o)
  eq({ job.file, job.name, job.timeout, job.time_scale }, { "f.lua", "n", 30, 2 })
  local _, d1 = runner.job({ file = "f.lua", name = "n" }, { timeout = 30, time_scale = 1 })
  eq(deadline, 2 * d1)
  ok(d1 > 30, "the deadline leaves the child its timeout")
  -- The script's own timeout decides the deadline, scaled too.
  local _, own = runner.job({ file = "f.lua", name = "n", timeout = 0.5 }, o)
  local _, own1 = runner.job({ file = "f.lua", name = "n", timeout = 0.5 }, { timeout = 30 })
  ok(own < d1 and own == 2 * own1, "own timeout " .. own .. " vs " .. own1)
end)

test("selection: --filter, then --exclude, then --shard; why nothing is left", function()
  local items = {}
  for i = 1, 6 do items[i] = { file = "f.lua", name = "s" .. i } end
  local kept = selection.pick(items, { filters = { "s1", "s2", "s3" }, excludes = { "S2" } })
  eq(#kept, 2)
  eq({ kept[1].name, kept[2].name }, { "s1", "s3" })
  local none, why = selection.pick(items, { filters = { "zzz" } })
  eq(#none, 0)
  contains(why, "--filter matches none of the 6 scenarios")
  _, why = selection.pick(items, { excludes = { "f.lua" } })
  contains(why, "--exclude leaves out all 6")
  _, why = selection.pick({}, {})
  contains(why, "no scenario file found")
  _, why = selection.pick({ items[1] }, { shard = { 1, 1000 } })
  if selection.shard_of("f.lua", "s1", 1000) ~= 1 then contains(why, "shard 1/1000 holds none") end
end)

h.done()
