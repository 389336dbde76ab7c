-- core.json_encode (libjansson under every policy of doc/json.md: arrays
-- and objects, empty tables, integers and floats, NaN and infinities,
-- nesting, cycles, invalid UTF-8) and the JSON Lines report's objects
-- (rstlab.report.json) over synthetic records. What python3's json module
-- reads back is checked too, where it is installed.
--
--   LUA_PATH='stdlib/?.lua;tests/lua/?.lua;;' LUA_CPATH='build/?.so;;' lua5.4 tests/lua/test_json.lua

local h = require "harness"
require "rstlab"
local core = require "rstlab.core"
local json = require "rstlab.report.json"
local tcpflags = require "rstlab.tcpflags"

local test, eq, ok, contains = h.test, h.eq, h.ok, h.contains
local J = core.json_encode

-- json_encode must fail: nil and a message that contains each needle.
local function fails(v, opts, ...)
  local s, err = J(v, opts)
  eq(s, nil, "encoded " .. tostring(s))
  for _, needle in ipairs({ ... }) do contains(err or "", needle) end
  return err
end

-- python3 reads a JSON text: json.loads(text) printed back as JSON with
-- ensure_ascii (so this test compares plain ASCII), or nil when no python3.
local have_python = os.execute("command -v python3 >/dev/null 2>&1")
local function python_reads(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  local p = io.popen("python3 -c 'import json,sys; v=json.loads(open(sys.argv[1],\"rb\").read());"
    .. " print(json.dumps(v, sort_keys=True, ensure_ascii=True))' " .. path .. " 2>&1")
  local out = p:read("a")
  p:close()
  os.remove(path)
  return (out:gsub("\n$", ""))
end

test("scalars: booleans, null, integers, floats", function()
  eq(J(true), "true")
  eq(J(false), "false")
  eq(J(nil), "null")
  eq(J(core.json_null), "null")
  eq(J(0), "0")
  eq(J(-7), "-7")
  eq(J(math.maxinteger), "9223372036854775807")
  eq(J(math.mininteger), "-9223372036854775808")
  -- A float stays a float, even when its value is whole.
  eq(J(1.0), "1.0")
  eq(J(0.5), "0.5")
  eq(J(-0.0), "-0.0")
  eq(J(1e300), "1.0000000000000001e300")
  -- 17 significant digits: reading the text back gives the same double.
  eq(tonumber(J(0.1)), 0.1)
  eq(tonumber(J(1 / 3)), 1 / 3)
  eq(J(2 ^ 53), "9007199254740992.0")
end)

test("NaN and infinities are errors, not null", function()
  fails(0 / 0, nil, "NaN", "at $")
  fails(math.huge, nil, "infinite", "at $")
  fails(-math.huge, nil, "infinite")
  fails({ x = { 1, 0 / 0 } }, nil, "NaN", "at $.x[2]")
end)

test("strings: escapes, UTF-8 kept as is, NUL", function()
  eq(J("plain"), '"plain"')
  eq(J('q"b\\s/'), '"q\\"b\\\\s/"')
  eq(J("\n\r\t\b\f"), '"\\n\\r\\t\\b\\f"')
  eq(J("\1\31\127"), '"\\u0001\\u001F\127"')
  eq(J("a\0b"), '"a\\u0000b"')
  eq(J("é€😀"), '"é€😀"')
  eq(J(""), '""')
end)

test("invalid UTF-8: an error by default, with where and which byte", function()
  fails("a\xffb", nil, "not valid UTF-8", "byte 2 of 3 is 0xff", "at $")
  fails({ msg = "ok\xc3" }, nil, "byte 3 of 3 is 0xc3", "at $.msg")      -- cut sequence
  fails("\xc0\x80", nil, "byte 1 of 2 is 0xc0")                          -- overlong NUL
  fails("\xe0\x80\xaf", nil, "byte 1 of 3")                              -- overlong '/'
  fails("\xed\xa0\x80", nil, "byte 1 of 3 is 0xed")                      -- a surrogate
  fails("\xf4\x90\x80\x80", nil, "byte 1 of 4 is 0xf4")                  -- above U+10FFFF
  fails("\x80", nil, "byte 1 of 1 is 0x80")                              -- a lone continuation
  fails({ ["k\xfe"] = 1 }, nil, "not valid UTF-8")                        -- in a key
  fails({ 1, { "x", "\xff" } }, nil, "at $[2][2]")
end)

test("invalid UTF-8 with invalid_utf8 = \"replace\": U+FFFD per bad byte", function()
  local R = { invalid_utf8 = "replace" }
  eq(J("a\xffb", R), '"a\u{FFFD}b"')
  eq(J("ok\xc3", R), '"ok\u{FFFD}"')
  -- Each byte that starts no valid sequence is one replacement.
  eq(J("\xed\xa0\x80", R), '"\u{FFFD}\u{FFFD}\u{FFFD}"')
  eq(J("\xc0\x80x", R), '"\u{FFFD}\u{FFFD}x"')
  -- Valid text around bad bytes is untouched.
  eq(J("é\xffé", R), '"é\u{FFFD}é"')
  eq(J({ ["k\xfe"] = "v" }, R), '{"k\u{FFFD}":"v"}')
  eq(J("fine", R), '"fine"')
  -- A bad option is a misuse: it raises.
  h.raises("invalid_utf8 must be", function() J("x", { invalid_utf8 = "drop" }) end)
  h.raises("table expected", function() J("x", "replace") end)
end)

test("tables: 1..n is an array, string keys an object (keys sorted)", function()
  eq(J({ 1, 2, 3 }), "[1,2,3]")
  eq(J({ "a", { true, false } }), '["a",[true,false]]')
  eq(J({ b = 1, a = 2, c = { z = 0, y = "" } }), '{"a":2,"b":1,"c":{"y":"","z":0}}')
  eq(J({ ["1"] = "a string key" }), '{"1":"a string key"}')
  eq(J({ ["with space"] = 1, [""] = 2 }), '{"":2,"with space":1}')
  eq(J({ ["a\0b"] = 1, a = 2 }), '{"a":2,"a\\u0000b":1}')
  eq(J({ 1, core.json_null, 3 }), "[1,null,3]")
  -- Raw contents: metamethods do not add fields.
  eq(J(setmetatable({ a = 1 }, { __index = { b = 2 } })), '{"a":1}')
  -- One table twice (not a cycle) is written twice.
  local shared = { 1 }
  eq(J({ a = shared, b = shared }), '{"a":[1],"b":[1]}')
end)

test("empty tables: [] unless __json says object", function()
  eq(J({}), "[]")
  eq(J({ list = {} }), '{"list":[]}')
  eq(J(setmetatable({}, { __json = "object" })), "{}")
  eq(J(setmetatable({}, { __json = "array" })), "[]")
  eq(J(setmetatable({ 1, 2 }, { __json = "array" })), "[1,2]")
  eq(J(setmetatable({ a = 1 }, { __json = "object" })), '{"a":1}')
  fails(setmetatable({ a = 1 }, { __json = "array" }), nil, "marked __json = \"array\"")
  fails(setmetatable({ 1 }, { __json = "object" }), nil, "marked __json = \"object\"")
  fails(setmetatable({}, { __json = "list" }), nil, "__json must be")
end)

test("tables that are neither an array nor an object are errors", function()
  fails({ 1, 2, [4] = 4 }, nil, "sparse array", "3 keys, the largest 4")
  fails({ [2] = "x" }, nil, "sparse array")
  fails({ [0] = "x" }, nil, "both string and integer keys (or integer keys that are not 1..n)")
  fails({ [-1] = "x", "y" }, nil, "integer keys that are not 1..n")
  fails({ 1, x = 2 }, nil, "both string and integer keys")
  fails({ [1.5] = 1 }, nil, "key of type number")
  fails({ [true] = 1 }, nil, "key of type boolean")
  fails({ a = { [{}] = 1 } }, nil, "key of type table", "at $.a")
end)

test("values JSON has no place for are errors that say where", function()
  fails(print, nil, "type function", "at $")
  fails({ f = { 1, coroutine.create(print) } }, nil, "type thread", "at $.f[2]")
  fails({ io.stdout }, nil, "type userdata", "at $[1]")
  fails({ ["a b"] = { print } }, nil, 'at $["a b"][1]')
end)

test("cycles and nesting deeper than 128 are errors", function()
  local t = {}
  t.self = t
  fails(t, nil, "contains itself", "at $.self")
  local a, b = {}, {}
  a[1], b.back = b, a
  fails({ x = a }, nil, "contains itself", "at $.x[1].back")
  local function nest(n)
    local top = {}
    local c = top
    for _ = 2, n do c[1] = {}; c = c[1] end
    return top
  end
  local s = J(nest(128))
  eq(s, string.rep("[", 128) .. string.rep("]", 128))
  fails(nest(129), nil, "nesting deeper than 128")
  fails(nest(100000), nil, "nesting deeper than 128")
end)

test("one line: no newline in the text, whatever the strings hold", function()
  local s = J({ a = "x\ny", b = { "\r\n" } })
  ok(not s:find("\n", 1, true), "a raw newline in " .. s)
end)

test("python3 reads back what json_encode writes", function()
  if not have_python then return h.ok(true, "python3 is not installed") end
  local v = { s = "q\"\\\0\1\n\127é😀", i = math.maxinteger, f = 0.1, e = {}, n = core.json_null,
    t = true, a = { 1, 2.5, "x" }, o = setmetatable({}, { __json = "object" }) }
  eq(python_reads(J(v)),
    '{"a": [1, 2.5, "x"], "e": [], "f": 0.1, "i": 9223372036854775807, "n": null, "o": {}, '
      .. '"s": "q\\"\\\\\\u0000\\u0001\\n\\u007f\\u00e9\\ud83d\\ude00", "t": true}')
  eq(python_reads(J("a\xffb", { invalid_utf8 = "replace" })), '"a\\ufffdb"')
end)

---------------------------------------------------------------------------
-- The report's objects.
---------------------------------------------------------------------------

local CA, SA = "127.0.0.1:40000", "[::1]:4000"

local function result(over)
  local r = { file = "a.lua", name = "one", decl = 1, rank = 1, status = "fail", message = "bad\nmore",
    where = "a.lua:3", duration = 0.25, logs = { "l1" }, unchecked = {}, pcaps = { "/tmp/x.pcap" } }
  for k, v in pairs(over or {}) do r[k] = v end
  return r
end

test("a result object: the fields of doc/json.md", function()
  local o = json.result(result())
  eq(o.schema, "rstlab-results")
  eq(o.version, 1)
  eq(o.type, "result")
  eq(o.status, "fail")
  eq(o.message, "bad\nmore")
  eq(o.first_line, "a.lua:3: bad")
  eq(o.where, "a.lua:3")
  eq(o.timeout, false)
  eq(o.duration, 0.25)
  eq(o.pcaps, { "/tmp/x.pcap" })
  eq(o.captures, nil)
  eq(o.round, nil)
  local p = json.result({ file = "a.lua", name = "two", decl = 2, rank = 2, status = "pass", duration = 0 })
  eq(p.message, nil)
  eq(p.first_line, nil)
  eq(p.pcaps, {})
  eq(p.logs, {})
  eq(json.encode(p):match('"pcaps":(%[%])'), "[]")
  eq(json.result(result({ status = "error", timeout = true })).timeout, true)
  eq(json.result(result(), { round = 2 }).round, 2)
end)

test("a message that is not UTF-8 is mended and marked replaced_utf8", function()
  local line = json.encode(json.result(result({ message = "got \xff\xfe" })))
  contains(line, '"message":"got \u{FFFD}\u{FFFD}"')
  contains(line, '"replaced_utf8":true')
  eq(line:sub(-1), "\n")
  local clean = json.encode(json.result(result()))
  ok(not clean:find("replaced_utf8", 1, true), "replaced_utf8 on clean text")
end)

test("packets and captures", function()
  local syn = { index = 1, t = 0.001, ts = 100.5, src = CA, sport = 40000, dst = "127.0.0.1:4000", dport = 4000,
    flags = assert(tcpflags.parse("S")), seq = 7, ack = 0, len = 0, win = 512, ttl = 64, mss = 1460,
    sackok = true, sack = {}, iface = "host:lo" }
  local rst = { index = 2, t = 0.002, ts = 100.6, src = SA, sport = 4000, dst = "[::1]:40000", dport = 40000,
    flags = assert(tcpflags.parse("R.")), seq = 0, ack = 8, len = 0, win = 0, ttl = 64, sackok = false,
    sack = { { 10, 20 } }, iface = "host:lo", injected = true, reason = "NO_SOCKET" }
  local o = json.capture({ name = "host:lo", binds = { C = CA, S = SA }, packets = { syn, rst },
    marks = { [2] = ">> 2: S > C  [S.]" }, failed = 2 })
  eq(o.binds, { C = CA, S = SA })
  eq(o.failed, 2)
  local a, b = o.packets[1], o.packets[2]
  eq(a.flags, "S")
  eq(a.saddr, "127.0.0.1")
  eq(a.sport, 40000)
  eq(a.injected, false)
  eq(a.expect, nil)
  eq(a.sack, nil)
  eq(a.mss, 1460)
  eq(b.flags, "R.")
  eq(b.saddr, "::1")
  eq(b.daddr, "::1")
  eq(b.reason, "NO_SOCKET")
  eq(b.injected, true)
  eq(b.expect, ">> 2: S > C  [S.]")
  eq(b.sack, { { 10, 20 } })
  -- A capture without binds still has an object there.
  contains(json.encode(json.capture({ name = "x", packets = {} })), '"binds":{}')
  local r = json.result(result({ captures = { { name = "host:lo", packets = { syn } } } }), { packets = true })
  eq(#r.captures, 1)
  eq(json.result(result({ captures = nil }), { packets = true }).captures, {})
end)

test("document: start, results in report order, summary; every line one object", function()
  local summary = { results = { result({ rank = 2, decl = 2, name = "two", status = "pass" }), result() },
    passed = 1, failed = 1, errors = 0, skipped = 0, duration = 1.5, started = 0, hostname = "h",
    not_run = { { file = "a.lua", name = "three", why = "--fail-fast stopped the run" } }, stopped = true,
    flaky = {}, rounds = 1, attempts = 2, not_finished = 0 }
  local text = json.document(summary)
  local lines = {}
  for l in text:gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  eq(#lines, 4)
  contains(lines[1], '"type":"start"')
  contains(lines[1], '"scenarios":2')
  contains(lines[1], '"started":"1970-01-01T00:00:00Z"')
  contains(lines[2], '"name":"one"')
  contains(lines[3], '"name":"two"')
  contains(lines[4], '"type":"summary"')
  contains(lines[4], '"not_run":[{"file":"a.lua","name":"three","why":"--fail-fast stopped the run"}]')
  contains(lines[4], '"ok":false')
  contains(lines[4], '"stopped":true')
  for _, l in ipairs(lines) do contains(l, '"schema":"rstlab-results"'); contains(l, '"version":1') end
  if have_python then
    -- Each line on its own is one JSON value: as one array, python reads them all.
    local got = python_reads("[" .. table.concat(lines, ",") .. "]")
    ok(got:match('^%[{.*"type": "summary".*}%]$') ~= nil, "python3 reads the lines: " .. got:sub(1, 300))
  end
end)

test("check: --json-packets needs --json; --json needs a FILE", function()
  eq(json.check({}), nil)
  eq(json.check({ json = "-" }), nil)
  eq(json.check({ json = "r.jsonl", json_packets = true }), nil)
  eq(json.check({ json_packets = true }), "--json-packets needs --json FILE")
  eq(json.check({ json = "" }), "--json needs a FILE (or - for stdout)")
end)

h.done()
