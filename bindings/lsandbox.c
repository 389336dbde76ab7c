/*
 * The scenario sandbox (core/sandbox.c) as the runner drives it: a forked
 * scenario process enters a fresh network namespace with a private port
 * slice; the runner prepares the RST-reason tracing once for all of its
 * children.
 *
 * Lua: sandbox_prepare(), sandbox_enter(), sandbox_ports(), prepare_tracing().
 */
#include "private.h"

/* sandbox_enter() -> true | nil, msg: a fresh network namespace, lo up, a
 * private port slice. The calling process stays in it. */
static int lsandbox_enter(lua_State *L)
{
	char err[RSL_ERRLEN];
	return rsl_push_status(L, rsl_sandbox_enter(err, sizeof err), err);
}

/* sandbox_prepare() -> true | nil, msg: what every sandbox forked from
 * here can share, done once (rsl_sandbox_prepare). */
static int lsandbox_prepare(lua_State *L)
{
	char err[RSL_ERRLEN];
	return rsl_push_status(L, rsl_sandbox_prepare(err, sizeof err), err);
}

/* sandbox_ports() -> lo, hi (0, 0 when no slice could be taken) */
static int lsandbox_ports(lua_State *L)
{
	int lo, hi;
	rsl_sandbox_ports(&lo, &hi);
	lua_pushinteger(L, lo);
	lua_pushinteger(L, hi);
	return 2;
}

/* prepare_tracing() -> true | false, why */
static int lsandbox_prepare_tracing(lua_State *L)
{
	char why[RSL_ERRLEN];
	if (rsl_sandbox_prepare_tracing(why, sizeof why) != RSL_OK) {
		lua_pushboolean(L, 0);
		lua_pushstring(L, why);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

void rsl_open_sandbox(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "sandbox_enter", lsandbox_enter }, { "sandbox_prepare", lsandbox_prepare },
		{ "sandbox_ports", lsandbox_ports },
		{ "prepare_tracing", lsandbox_prepare_tracing }, { NULL, NULL },
	};
	luaL_setfuncs(L, funcs, 0);
}
