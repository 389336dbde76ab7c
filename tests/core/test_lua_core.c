/*
 * Tests of the rstlab.core Lua module from C (bindings/): the failure
 * builder and its table (core.fail), the version, and the numeric ports
 * beside the "ip:port" strings of sock_diag sockets and trace events.
 *
 * Each test runs a Lua chunk in a fresh Lua state; the chunk asserts, and
 * an error it raises fails the test with its message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "internal.h"
#include "embedded.h"
#include "rstlab_lua.h"

static bool tracing;
static char why[RSL_ERRLEN];

static int setup(void **state)
{
	lua_State *L = luaL_newstate();
	if (L == NULL)
		return -1;
	luaL_openlibs(L);
	luaL_requiref(L, "core", luaopen_rstlab_core, 1);
	lua_pop(L, 1);
	*state = L;
	return 0;
}

static int teardown(void **state)
{
	lua_close(*state);
	return 0;
}

/* Run chunk; fail the test with its error, if any. */
static void run(lua_State *L, const char *chunk)
{
	if (luaL_dostring(L, chunk) != LUA_OK)
		fail_msg("%s", lua_tostring(L, -1));
}

/* Every embedded stdlib module's bytecode loads in this Lua (the fast
 * path of rstlab_lua.c; the source is only the fallback), keeps its chunk
 * name, and does what its source does: the same module table keys. */
static void test_lua_core_stdlib_bytecode(void **state)
{
	lua_State *L = *state;
	size_t n = 0;
	for (size_t i = 0; rsl_stdlib[i].name != NULL; i++, n++) {
		const struct rsl_embedded *m = &rsl_stdlib[i];
		if (luaL_loadbufferx(L, m->bc, m->bclen, m->path, "b") != LUA_OK)
			fail_msg("%s: its bytecode does not load: %s", m->name, lua_tostring(L, -1));
		lua_Debug ar;
		lua_pushvalue(L, -1);
		lua_getinfo(L, ">S", &ar); /* pops the copy */
		assert_string_equal(ar.source, m->path);
		if (luaL_loadbufferx(L, m->src, m->len, m->path, "t") != LUA_OK)
			fail_msg("%s: its source does not compile: %s", m->name, lua_tostring(L, -1));
		lua_pop(L, 2);
	}
	assert_true(n >= 20);
}

static void test_lua_core_version(void **state)
{
	lua_State *L = *state;
	lua_getglobal(L, "core");
	lua_getfield(L, -1, "version");
	assert_string_equal(lua_tostring(L, -1), rsl_version());
	lua_pop(L, 2);
}

static void test_lua_core_fail_pseudo_codes(void **state)
{
	run(*state,
	    "for _, code in ipairs{ 'EOF', 'TIMEOUT', 'ECLOSED', 'EUNAVAIL', 'ESYSCTL',\n"
	    "                       'EDIAG', 'ELINK', 'ECAPTURE' } do\n"
	    "  local n = select('#', core.fail(code, 'what happened'))\n"
	    "  assert(n == 3, code .. ': ' .. n .. ' values')\n"
	    "  local v, msg, c = core.fail(code, 'what happened')\n"
	    "  assert(v == nil, code)\n"
	    "  assert(msg == code .. ': what happened', msg)\n"
	    "  assert(c == code, c)\n"
	    "  -- without a detail, the table's own sentence\n"
	    "  local _, m2 = core.fail(code)\n"
	    "  assert(m2:match('^' .. code .. ': %S'), m2)\n"
	    "end\n"
	    "local _, m = core.fail('EOF')\n"
	    "assert(m == 'EOF: the peer closed the stream (recv returned 0)', m)\n");
}

static void test_lua_core_fail_errnos(void **state)
{
	run(*state,
	    "local v, msg, c = core.fail('ECONNRESET')\n"
	    "assert(v == nil and c == 'ECONNRESET')\n"
	    "assert(msg == 'ECONNRESET: Connection reset by peer', msg)\n"
	    "v, msg, c = core.fail('ECONNREFUSED', 'connect: Connection refused')\n"
	    "assert(msg == 'ECONNREFUSED: connect: Connection refused' and c == 'ECONNREFUSED')\n"
	    "v, msg, c = core.fail(core.errno_name(10))\n"
	    "assert(c == 'E10' and msg:match('^E10: '), msg)\n");
}

static void test_lua_core_fail_unknown_raises(void **state)
{
	run(*state,
	    "for _, code in ipairs{ 'EBOGUS', 'eof', '', 'ESTABLISHED' } do\n"
	    "  local ok, err = pcall(core.fail, code, 'x')\n"
	    "  assert(not ok, code .. ' did not raise')\n"
	    "  assert(err:find('is not an error code', 1, true), err)\n"
	    "end\n"
	    "assert(not pcall(core.fail))\n");
}

static void test_lua_core_sockets_ports(void **state)
{
	run(*state,
	    "local h = core.host_self('A')\n"
	    "local s = core.socket('inet', h)\n"
	    "assert(s:bind('127.0.0.1:0'))\n"
	    "assert(s:listen(4))\n"
	    "local port = tonumber(s:local_addr():match(':(%d+)$'))\n"
	    "local list = assert(h:sockets{ 'LISTEN' })\n"
	    "local found\n"
	    "for _, e in ipairs(list) do\n"
	    "  assert(math.type(e.sport) == 'integer' and math.type(e.dport) == 'integer')\n"
	    "  assert(e.src == '127.0.0.1:' .. e.sport, e.src)\n"
	    "  assert(e.dst:match(':(%d+)$') == tostring(e.dport), e.dst)\n"
	    "  if e.sport == port then found = e end\n"
	    "end\n"
	    "assert(found, 'the listener on port ' .. port .. ' is not listed')\n"
	    "assert(found.dport == 0)\n"
	    "s:close()\n");
}

static void test_lua_core_trace_event_ports(void **state)
{
	if (!tracing) {
		print_message("skipped: %s\n", why);
		skip();
	}
	/* A SYN to a port nobody listens on: the kernel answers with a RST
	 * (NO_SOCKET) from that port to the connecting one. */
	run(*state,
	    "assert(core.trace_open())\n"
	    "local srv = core.socket('inet')\n"
	    "assert(srv:bind('127.0.0.1:0'))\n"
	    "local closed = srv:local_addr()\n"
	    "srv:close()\n"
	    "local cli = core.socket('inet')\n"
	    "local result\n"
	    "core.spawn(function()\n"
	    "  if cli:connect_start(closed) == false then\n"
	    "    assert(cli:wait('w', 5) == 'ready')\n"
	    "  end\n"
	    "  result = table.pack(cli:connect_finish())\n"
	    "end)\n"
	    "while result == nil do assert(core.step(true) == nil) end\n"
	    "assert(result[1] == nil and result[3] == 'ECONNREFUSED', tostring(result[2]))\n"
	    "assert(result[2] == 'ECONNREFUSED: connect: Connection refused', result[2])\n"
	    "local cport = tonumber(cli:local_addr():match(':(%d+)$'))\n"
	    "local sport = tonumber(closed:match(':(%d+)$'))\n"
	    "local found\n"
	    "for _, e in ipairs(core.trace_events(1)) do\n"
	    "  assert(math.type(e.sport) == 'integer' and math.type(e.dport) == 'integer')\n"
	    "  assert(e.src:match(':(%d+)$') == tostring(e.sport), e.src)\n"
	    "  assert(e.dst:match(':(%d+)$') == tostring(e.dport), e.dst)\n"
	    "  if e.sport == sport and e.dport == cport then found = e end\n"
	    "end\n"
	    "assert(found, 'no tcp_send_reset event ' .. closed .. ' > ' .. cli:local_addr())\n"
	    "cli:close()\n"
	    "core.trace_close()\n");
}

int main(void)
{
	char err[RSL_ERRLEN];
	const struct CMUnitTest plain[] = {
		cmocka_unit_test_setup_teardown(test_lua_core_stdlib_bytecode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lua_core_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lua_core_fail_pseudo_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lua_core_fail_errnos, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lua_core_fail_unknown_raises, setup, teardown),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test_setup_teardown(test_lua_core_sockets_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lua_core_trace_event_ports, setup, teardown),
	};
	int failed = cmocka_run_group_tests_name("lua_core", plain, NULL, NULL);
	if (failed != 0)
		return failed;
	/* Sockets are listed from a namespace of the test's own. */
	tracing = rsl_sandbox_prepare_tracing(why, sizeof why) == RSL_OK;
	if (rsl_sandbox_enter(err, sizeof err) != RSL_OK) {
		printf("skipped: no network namespace: %s\n", err);
		return 77;
	}
	return cmocka_run_group_tests_name("lua_core_live", live, NULL, NULL);
}
