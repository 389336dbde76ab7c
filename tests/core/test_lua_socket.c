/*
 * Tests of rstlab.Socket's calls made in worker threads (bindings/lsocket.c
 * over core/worker.c), in a network namespace of the test's own: a call
 * the script stopped waiting for goes on in its thread, keeps its fd open
 * (no fd number reused under it) even after the Lua state is closed, and
 * closes it when the kernel returns. The peer is a plain blocking socket of
 * the test, so each wait is a system call's, not a sleep.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "internal.h"
#include "rstlab_lua.h"

struct fixture {
	lua_State *L;
	int listener;           /* the test's own, blocking */
	char addr[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	if (f == NULL)
		return -1;
	f->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->listener < 0 || bind(f->listener, (struct sockaddr *)&sin, sizeof sin) < 0 ||
	    listen(f->listener, 8) < 0 ||
	    getsockname(f->listener, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", ntohs(sin.sin_port));
	f->L = luaL_newstate();
	luaL_openlibs(f->L);
	luaL_requiref(f->L, "core", luaopen_rstlab_core, 1);
	lua_pop(f->L, 1);
	lua_pushstring(f->L, f->addr);
	lua_setglobal(f->L, "ADDR");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->L != NULL)
		lua_close(f->L);
	close(f->listener);
	free(f);
	return 0;
}

/* Run chunk; fail the test with its error, if any. */
static void run(lua_State *L, const char *chunk)
{
	if (luaL_dostring(L, chunk) != LUA_OK)
		fail_msg("%s", lua_tostring(L, -1));
}

static int global_int(lua_State *L, const char *name)
{
	lua_getglobal(L, name);
	int v = (int)lua_tointeger(L, -1);
	lua_pop(L, 1);
	return v;
}

/* A blocking socket connected to the test's listener, and a recv() on it
 * that timed out (the script's deadline): it still blocks in its thread.
 * FD = its fd. */
static const char timed_out_recv[] =
	"S = core.socket('inet', nil, true)\n"
	"assert(S:blocking())\n"
	"local done\n"
	"core.spawn(function()\n"
	"  assert(S:call('connect', -1, ADDR) == 'ready')\n"
	"  assert(S:finish('connect') == true)\n"
	"  local r = S:call('recv', 0.05, 10)\n"
	"  assert(r == 'timeout', r)\n"
	"  S:detach('recv')\n"
	"  done = true\n"
	"end)\n"
	"while not done do assert(core.step(true) == nil) end\n"
	"FD = S:fileno()\n";

/* Unblock the recv: the peer sends a byte. The thread then closes the fd
 * (when it holds the last reference), which the peer sees as a FIN. */
static void unblock_and_see_fin(int peer)
{
	char c;
	assert_int_equal(send(peer, "x", 1, MSG_NOSIGNAL), 1);
	assert_int_equal(recv(peer, &c, 1, 0), 0);
}

static void test_lua_socket_timed_out_call_outlives_the_state(void **state)
{
	struct fixture *f = *state;
	run(f->L, timed_out_recv);
	int fd = global_int(f->L, "FD");
	int peer = accept4(f->listener, NULL, NULL, SOCK_CLOEXEC);
	assert_true(peer >= 0);
	lua_close(f->L);
	f->L = NULL;
	/* The state is gone, the recv is not: its fd stays open. */
	assert_true(fcntl(fd, F_GETFD) >= 0);
	unblock_and_see_fin(peer);
	close(peer);
}

static void test_lua_socket_close_leaves_the_fd_to_a_blocked_call(void **state)
{
	struct fixture *f = *state;
	run(f->L, timed_out_recv);
	int fd = global_int(f->L, "FD");
	int peer = accept4(f->listener, NULL, NULL, SOCK_CLOEXEC);
	assert_true(peer >= 0);
	/* The script's close: the socket is closed for it, close() was not
	 * made here (no time), and the fd is still the blocked call's. */
	run(f->L, "local r = table.pack(S:close())\n"
	          "assert(r.n == 1 and r[1] == true, r.n)\n"
	          "assert(S:closed())\n"
	          "assert(select('#', S:close()) == 1) -- idempotent\n");
	assert_true(fcntl(fd, F_GETFD) >= 0);
	unblock_and_see_fin(peer);
	close(peer);
}

static void test_lua_socket_close_without_blocked_calls(void **state)
{
	struct fixture *f = *state;
	run(f->L, "local s = core.socket('inet')\n"
	          "local ok, secs = s:close()\n"
	          "assert(ok == true and math.type(secs) == 'float' and secs >= 0)\n"
	          "assert(select('#', s:close()) == 1)\n");
}

int main(void)
{
	char err[RSL_ERRLEN];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lua_socket_timed_out_call_outlives_the_state,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_lua_socket_close_leaves_the_fd_to_a_blocked_call,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_lua_socket_close_without_blocked_calls, setup,
		                                teardown),
	};
	if (rsl_sandbox_enter(err, sizeof err) != RSL_OK) {
		printf("skipped: no network namespace: %s\n", err);
		return 77;
	}
	return cmocka_run_group_tests_name("lua_socket", tests, NULL, NULL);
}
