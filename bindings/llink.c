/*
 * Links between hosts: the C side of rstlab.Link (stdlib/rstlab/link.lua).
 *
 * A link has no kernel object of its own to hold: its veth ends live in
 * the hosts' namespaces and go with them. These functions create the pair,
 * address and raise its ends, and add routes; the Lua class keeps the
 * names and the fault rules.
 *
 * Lua: veth(hostA, ifA, hostB, ifB), link_addr(host, if, cidr),
 * link_up(host, if [, up]), link_wait_up(host, if, timeout),
 * route(host, dst, via). Each returns true | nil, msg; a bad argument (a
 * name taken, an address that does not parse) raises.
 */
#include "private.h"

static int link_result(lua_State *L, int rc, const char *err)
{
	if (rc == RSL_OK) {
		lua_pushboolean(L, 1);
		return 1;
	}
	if (rc == RSL_EINVAL)
		return luaL_error(L, "%s", err);
	return rsl_push_fail(L, rc == RSL_EAGAIN ? "TIMEOUT" : "ELINK", err);
}

/* veth(hostA, ifA, hostB, ifB) -> true | nil, msg */
static int llink_veth(lua_State *L)
{
	int a = rsl_host_nsfd(L, 1), b = rsl_host_nsfd(L, 3);
	char err[RSL_ERRLEN];
	int rc = rsl_link_veth(a, luaL_checkstring(L, 2), b, luaL_checkstring(L, 4), err, sizeof err);
	return link_result(L, rc, err);
}

/* link_addr(host, ifname, "10.0.0.1/24") -> true | nil, msg */
static int llink_addr(lua_State *L)
{
	char err[RSL_ERRLEN];
	int rc = rsl_link_addr(rsl_host_nsfd(L, 1), luaL_checkstring(L, 2), luaL_checkstring(L, 3),
	                       err, sizeof err);
	return link_result(L, rc, err);
}

/* link_up(host, ifname [, up = true]) -> true | nil, msg */
static int llink_up(lua_State *L)
{
	char err[RSL_ERRLEN];
	bool up = lua_isnoneornil(L, 3) ? true : lua_toboolean(L, 3);
	int rc = rsl_link_set_up(rsl_host_nsfd(L, 1), luaL_checkstring(L, 2), up, err, sizeof err);
	return link_result(L, rc, err);
}

/* link_wait_up(host, ifname, timeout) -> true | nil, msg, "TIMEOUT" */
static int llink_wait_up(lua_State *L)
{
	char err[RSL_ERRLEN];
	int rc = rsl_link_wait_up(rsl_host_nsfd(L, 1), luaL_checkstring(L, 2),
	                          luaL_optnumber(L, 3, 2.0), err, sizeof err);
	return link_result(L, rc, err);
}

/* route(host, dst, via) -> true | nil, msg */
static int llink_route(lua_State *L)
{
	char err[RSL_ERRLEN];
	int rc = rsl_link_route(rsl_host_nsfd(L, 1), luaL_checkstring(L, 2), luaL_checkstring(L, 3),
	                        err, sizeof err);
	return link_result(L, rc, err);
}

void rsl_open_link(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "veth", llink_veth }, { "link_addr", llink_addr }, { "link_up", llink_up },
		{ "link_wait_up", llink_wait_up }, { "route", llink_route }, { NULL, NULL },
	};
	luaL_setfuncs(L, funcs, 0);
}
