/*
 * The module opener, and nothing else: luaopen_rstlab_core gathers the C
 * primitives of every binding file into "rstlab.core"; luaopen_rstlab
 * registers the embedded stdlib in package.preload and returns the
 * scripting API of stdlib/rstlab/init.lua.
 */
#include "embedded.h"
#include "private.h"
#include "rstlab_lua.h"

int luaopen_rstlab_core(lua_State *L)
{
	rsl_engine_open(L);
	lua_newtable(L);
	rsl_open_engine(L);
	rsl_open_timer(L);
	rsl_open_socket(L);
	rsl_open_capture(L);
	rsl_open_host(L);
	rsl_open_link(L);
	rsl_open_proc(L, luaopen_rstlab);
	rsl_open_trace(L);
	rsl_open_sandbox(L);
	rsl_open_craft(L);
	rsl_open_json(L);
	rsl_open_spawn(L);
	lua_pushstring(L, rsl_version());
	lua_setfield(L, -2, "version");
	return 1;
}

/* package.preload loader of an embedded stdlib module; upvalue: index.
 * The bytecode first (a seventh of the time of compiling); a Lua whose
 * bytecode format is not the build interpreter's refuses it, and the
 * source is compiled instead. */
static int load_embedded(lua_State *L)
{
	const struct rsl_embedded *m = &rsl_stdlib[lua_tointeger(L, lua_upvalueindex(1))];
	if (luaL_loadbufferx(L, m->bc, m->bclen, m->path, "b") != LUA_OK) {
		lua_pop(L, 1);
		if (luaL_loadbufferx(L, m->src, m->len, m->path, "t") != LUA_OK)
			return lua_error(L);
	}
	lua_pushstring(L, m->name);
	lua_call(L, 1, 1);
	return 1;
}

int luaopen_rstlab(lua_State *L)
{
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, luaopen_rstlab_core);
	lua_setfield(L, -2, "rstlab.core");
	for (lua_Integer i = 0; rsl_stdlib[i].name != NULL; i++) {
		lua_pushinteger(L, i);
		lua_pushcclosure(L, load_embedded, 1);
		lua_setfield(L, -2, rsl_stdlib[i].name);
	}
	lua_pop(L, 1);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "rstlab.init");
	lua_call(L, 1, 1);
	return 1;
}
