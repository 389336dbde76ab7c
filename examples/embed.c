/*
 * rstlab embedded in a C program that has its own Lua state: open the
 * library with luaopen_rstlab, run scenario files, read the summary.
 *
 *   ./build/examples/embed scripts/
 */
#include <rstlab/rstlab_lua.h>

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	luaL_requiref(L, "rstlab", luaopen_rstlab, 0); /* the module table */

	lua_getfield(L, -1, "run");
	lua_createtable(L, argc, 2);
	for (int i = 1; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "quiet");
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		fprintf(stderr, "embed: %s\n", lua_tostring(L, -1));
		lua_close(L);
		return 2;
	}
	lua_getfield(L, -1, "passed");
	lua_getfield(L, -2, "failed");
	int passed = (int)lua_tointeger(L, -2), failed = (int)lua_tointeger(L, -1);
	printf("embedded run: %d passed, %d failed\n", passed, failed);
	lua_close(L);
	return failed == 0 && passed > 0 ? 0 : 1;
}
