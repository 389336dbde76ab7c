/*
 * libFuzzer target for the expectation text: rstlab.expect's parser, and
 * its matcher and report on what parses.
 *
 * One Lua state with the rstlab module (its embedded stdlib) serves every
 * input. Each input is an expectation text: expect.parse must either give a
 * spec or raise "expectation line N: ..." (any other error, e.g. "attempt
 * to index a nil value", is a bug in the parser and aborts); a spec must
 * write back (expect.format_line) to a text that parses to the same lines;
 * it is then matched, at time scales 1 and 2, against a fixed synthetic
 * conversation through a fake packet source with its own clock (no real
 * waiting), and its marks, failed line and report are made.
 * Crashes, leaks and hangs are findings; clean errors are not.
 *
 * The parser is Lua, which libFuzzer's compile-time coverage cannot see, so
 * a line hook feeds it Lua's own coverage: each (previous line, line) edge
 * of the Lua code bumps a counter in libFuzzer's extra-counters section.
 *
 * Build and run: see README ("Fuzzing"); tests/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "rstlab_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char harness[] =
	"local expect = require 'rstlab.expect'\n"
	"local tcpflags = require 'rstlab.tcpflags'\n"
	"local C, S, X, Y = '127.0.0.1:40000', '127.0.0.1:4000', '[::1]:5000', '[::1]:5001'\n"
	"local function pkt(ts, src, dst, flags, seq, ack, o)\n"
	"  local p = { ts = ts, src = src, dst = dst, flags = assert(tcpflags.parse(flags)), seq = seq, ack = ack,\n"
	"              win = 512, len = 0, sackok = false, sack = {}, iface = 'lo', index = 0 }\n"
	"  for k, v in pairs(o or {}) do p[k] = v end\n"
	"  return p\n"
	"end\n"
	"local list = {\n"
	"  pkt(0.000, C, S, 'S', 1000, 0, { win = 65535, mss = 65495, wscale = 7, sackok = true, tsval = 1, tsecr = 0 }),\n"
	"  pkt(0.001, S, C, 'S.', 5000, 1001, { mss = 65495, wscale = 7, sackok = true, tsval = 2, tsecr = 1 }),\n"
	"  pkt(0.002, C, S, '.', 1001, 5001, { tsval = 3, tsecr = 2 }),\n"
	"  pkt(0.003, C, S, 'P.', 1001, 5001, { len = 5 }),\n"
	"  pkt(0.004, X, Y, 'S', 7, 0),\n"
	"  pkt(0.005, S, C, '.', 5001, 1006, { sack = { { 1010, 1020 }, { 4294967290, 3 } } }),\n"
	"  pkt(1.205, S, C, 'R.', 5001, 1006, { win = 0 }),\n"
	"  pkt(1.206, C, S, 'FRPUEW.', 4294967295, 0, { len = 70000 }),\n"
	"}\n"
	"for i, p in ipairs(list) do p.index = i end\n"
	"local function source()\n"
	"  local src = { clock = 0 }\n"
	"  function src:now() return self.clock end\n"
	"  function src:packet(i, deadline)\n"
	"    local p = list[i]\n"
	"    if p and p.ts <= math.max(deadline, self.clock) then\n"
	"      if p.ts > self.clock then self.clock = p.ts end\n"
	"      return p\n"
	"    end\n"
	"    if deadline > self.clock then self.clock = deadline end\n"
	"    return nil\n"
	"  end\n"
	"  function src:mark(name)\n"
	"    local marks = { close = 0.0035, cut = 1.0 }\n"
	"    if marks[name] then return marks[name] end\n"
	"    return nil, { 'close', 'cut' }\n"
	"  end\n"
	"  function src:reason(p)\n"
	"    if p.index == 7 then return 'TCP_STATE' end\n"
	"    if p.index == 8 then return 'none' end\n"
	"    return nil, 'no reason recorded'\n"
	"  end\n"
	"  return src\n"
	"end\n"
	"local function same(a, b)\n"
	"  if a == b then return true end\n"
	"  if type(a) ~= 'table' or type(b) ~= 'table' then return false end\n"
	"  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
	"  for k in pairs(b) do if a[k] == nil then return false end end\n"
	"  return true\n"
	"end\n"
	"-- the canonical form of each line parses back to the same line\n"
	"local function round_trip(spec)\n"
	"  local lines = {}\n"
	"  for i, rec in ipairs(spec) do lines[i] = expect.format_line(rec) end\n"
	"  local text = table.concat(lines, '\\n')\n"
	"  local again = expect.parse(text)\n"
	"  assert(#again == #spec, 'round trip: line count')\n"
	"  for i, rec in ipairs(spec) do\n"
	"    for _, f in ipairs { 'kind', 'src', 'dst', 'flagbits', 'clauses', 'reason', 'period' } do\n"
	"      if not same(rec[f], again[i][f]) then\n"
	"        error('round trip: ' .. f .. ' of line ' .. i .. ' differs in ' .. lines[i], 0)\n"
	"      end\n"
	"    end\n"
	"  end\n"
	"end\n"
	"local function clean(e)\n"
	"  if type(e) ~= 'string' or not e:find('^expectation line %d+: ') then\n"
	"    error('not a clean expectation error: ' .. tostring(e), 0)\n"
	"  end\n"
	"end\n"
	"return function(text)\n"
	"  local ok, spec = pcall(expect.parse, text)\n"
	"  if not ok then return clean(spec) end\n"
	"  round_trip(spec)\n"
	"  for k, binds in ipairs { { C = C, S = S }, { C = C, S = S, A = X, B = Y } } do\n"
	"    local ok2, good, report = pcall(expect.match, spec, binds, source(), { timeout = k == 1 and 0.5 or nil, scale = k })\n"
	"    if not ok2 then clean(good) else\n"
	"      assert(type(good) == 'boolean' and type(report.message) == 'string')\n"
	"      local lineno = expect.failed_lineno(spec, report)\n"
	"      assert(good == (lineno == nil) and (good or math.type(lineno) == 'integer'))\n"
	"      local marks, failed = expect.marks(spec, report, report.capture_index)\n"
	"      assert(failed == nil or marks[failed]:find('^>> '))\n"
	"      -- the report once a text: it costs more than the rest together\n"
	"      assert(type(expect.format_report(spec, report, { ladder = k == 1, ascii = k == 2 })) == 'string')\n"
	"    end\n"
	"  end\n"
	"end\n";

/* Lua line-edge coverage, read by libFuzzer as extra features. */
#define NCOUNTERS 65536
__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t lua_cov[NCOUNTERS];
static uintptr_t prev_loc;

static void line_hook(lua_State *l, lua_Debug *ar)
{
	if (lua_getinfo(l, "Sl", ar) == 0)
		return;
	uintptr_t loc = ((uintptr_t)ar->source * 2654435761u) ^ (uintptr_t)ar->currentline;
	uintptr_t edge = (loc ^ (prev_loc >> 1)) * 0x9E3779B97F4A7C15ull;
	lua_cov[(edge >> 40) % NCOUNTERS]++;
	prev_loc = loc;
}

static lua_State *L;
static int fuzz_ref = LUA_NOREF;
static unsigned long runs;

static int traceback(lua_State *l)
{
	luaL_traceback(l, l, lua_tostring(l, 1), 1);
	return 1;
}

static void setup(void)
{
	L = luaL_newstate();
	if (L == NULL)
		abort();
	luaL_openlibs(L);
	luaL_requiref(L, "rstlab", luaopen_rstlab, 0);
	lua_pop(L, 1);
	if (luaL_loadbuffer(L, harness, sizeof harness - 1, "=fuzz_expect") != LUA_OK ||
	    lua_pcall(L, 0, 1, 0) != LUA_OK) {
		fprintf(stderr, "fuzz_expect: setup: %s\n", lua_tostring(L, -1));
		abort();
	}
	fuzz_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_sethook(L, line_hook, LUA_MASKLINE, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (L == NULL)
		setup();
	lua_pushcfunction(L, traceback);
	lua_rawgeti(L, LUA_REGISTRYINDEX, fuzz_ref);
	lua_pushlstring(L, (const char *)data, size);
	prev_loc = 0;
	if (lua_pcall(L, 1, 0, -3) != LUA_OK) {
		fprintf(stderr, "fuzz_expect: %s\n", lua_tostring(L, -1));
		abort();
	}
	lua_pop(L, 1);
	/* Keep the state small and its garbage from piling up across runs. */
	if (++runs % 1000 == 0)
		lua_gc(L, LUA_GCCOLLECT);
	return 0;
}
