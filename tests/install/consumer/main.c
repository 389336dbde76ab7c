/*
 * A program that embeds rstlab, as tests/suite/test_install*.sh build it
 * against an installed tree (through pkg-config, find_package and
 * add_subdirectory): it checks that the library is the version of its
 * header, runs the scenario files it is given and prints the summary.
 */
#include <rstlab/rstlab.h>
#include <rstlab/rstlab_lua.h>

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (strcmp(rsl_version(), RSTLAB_VERSION) != 0) {
		fprintf(stderr, "consumer: library %s, header %s\n", rsl_version(), RSTLAB_VERSION);
		return 2;
	}
	lua_State *L = luaL_newstate();
	if (L == NULL)
		return 2;
	luaL_openlibs(L);
	luaL_requiref(L, "rstlab", luaopen_rstlab, 0);
	lua_getfield(L, -1, "run");
	lua_createtable(L, argc, 1);
	for (int i = 1; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "quiet");
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		fprintf(stderr, "consumer: %s\n", lua_tostring(L, -1));
		lua_close(L);
		return 2;
	}
	lua_getfield(L, -1, "passed");
	lua_getfield(L, -2, "failed");
	int passed = (int)lua_tointeger(L, -2), failed = (int)lua_tointeger(L, -1);
	printf("consumer: rstlab %s, %d passed, %d failed\n", rsl_version(), passed, failed);
	lua_close(L);
	return failed == 0 && passed > 0 ? 0 : 1;
}
