/*
 * The rstlab program: a thin main over the library. All of the runner
 * (arguments, forking scenario processes, reports) is Lua: rstlab.runner's
 * main (stdlib/rstlab/runner/cli.lua) returns the exit status. Only an
 * error inside the runner itself ends here, as "internal error", status 70.
 */
#include "rstlab_lua.h"

#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static int traceback(lua_State *L)
{
	luaL_traceback(L, L, lua_tostring(L, 1), 1);
	return 1;
}

/* The runner's state, left to the exit (see the end of main). */
static lua_State *runner;

int main(int argc, char **argv)
{
	/* A peer's RST must show up as EPIPE/ECONNRESET, never kill us. */
	signal(SIGPIPE, SIG_IGN);
	lua_State *L = luaL_newstate();
	if (L == NULL) {
		fprintf(stderr, "rstlab: cannot create a Lua state\n");
		return 70;
	}
	luaL_openlibs(L);
	luaL_requiref(L, "rstlab", luaopen_rstlab, 0);
	lua_pop(L, 1);
	lua_pushcfunction(L, traceback);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "rstlab.runner");
	if (lua_pcall(L, 1, 1, 1) != LUA_OK)
		goto fail;
	lua_getfield(L, -1, "main");
	lua_createtable(L, argc, 0);
	for (int i = 1; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	if (lua_pcall(L, 1, 1, 1) != LUA_OK)
		goto fail;
	int code = (int)lua_tointeger(L, -1);
	/* No lua_close: by now the runner has reaped every child, closed its
	 * report files and removed its directory. Closing would only collect
	 * the whole heap once more, and since the runner forked, every page
	 * the collector writes faults first: 1 to 1.5 ms of a run of 35 ms,
	 * for memory the exit frees anyway. The state stays reachable from
	 * `runner` (leak checkers see no leak).
	 * Nor the exit handlers, once stdio is flushed: they are the
	 * libraries' destructors (about 20 libraries, libpcap's D-Bus and
	 * systemd among them), 0.5 to 1 ms. Under a leak checker the exit
	 * stays a normal one: its check is one of those handlers. */
	runner = L;
#if defined(__SANITIZE_ADDRESS__) || defined(RSTLAB_SANITIZE)
	return code;
#else
	fflush(NULL);
	_exit(code);
#endif
fail:
	fprintf(stderr, "rstlab: internal error: %s\n", lua_tostring(L, -1));
	lua_close(L);
	return 70;
}
