/*
 * rstlab.Host: a network namespace, held by file descriptor.
 *
 * Sockets and captures are created "on a host" by entering its namespace,
 * creating the object and coming back (core's rsl_netns_enter/leave,
 * through lengine.c's rsl_host_enter/leave): a socket stays in the
 * namespace it was born in, so one thread and one loop drive every host. The scenario's first host is the namespace the
 * process is already in (nsfd -1: nothing to enter); host_new() makes the
 * others (core/netns.c): anonymous namespaces that vanish with the process,
 * whatever way it ends.
 *
 * Also the per-host kernel knobs and faults: sysctls, TCP counters, the
 * host's nftables context (rules of its own table), and destroying all its
 * TCP sockets.
 */
#include "private.h"

#include <stdlib.h>
#include <unistd.h>

static struct rsl_lhost *check_host(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, RSL_MT_HOST);
}

/* host_self(name) -> Host: the namespace this process runs in. */
static int lhost_self(lua_State *L)
{
	const char *name = luaL_optstring(L, 1, "host");
	struct rsl_lhost *h = lua_newuserdatauv(L, sizeof *h, 0);
	h->nsfd = -1;
	h->nft = NULL;
	h->closed = false;
	snprintf(h->name, sizeof h->name, "%s", name);
	luaL_setmetatable(L, RSL_MT_HOST);
	return 1;
}

/* host_new(name) -> Host | nil, msg: a new network namespace with lo up
 * and the scenario's port slice. */
static int lhost_new(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	char err[RSL_ERRLEN];
	struct rsl_lhost *h = lua_newuserdatauv(L, sizeof *h, 0);
	h->nsfd = -1;
	h->nft = NULL;
	h->closed = true; /* until it holds its namespace */
	snprintf(h->name, sizeof h->name, "%s", name);
	luaL_setmetatable(L, RSL_MT_HOST);
	if (rsl_netns_new(&h->nsfd, err, sizeof err) != RSL_OK) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	h->closed = false;
	return 1;
}

/* host:inode() -> the namespace's inode (as in /proc/PID/ns/net). */
static int lhost_inode(lua_State *L)
{
	struct rsl_lhost *h = rsl_check_host(L, 1);
	char err[RSL_ERRLEN];
	unsigned long ino;
	if (rsl_netns_inode(h->nsfd, &ino, err, sizeof err) != RSL_OK)
		return luaL_error(L, "%s", err);
	lua_pushinteger(L, (lua_Integer)ino);
	return 1;
}

/* host:sysctl(name [, value]) -> current value (a string). A sysctl that
 * is not per network namespace raises. */
static int lhost_sysctl(lua_State *L)
{
	struct rsl_lhost *h = rsl_check_host(L, 1);
	const char *name = luaL_checkstring(L, 2);
	const char *value = NULL;
	char out[1024], err[RSL_ERRLEN];
	if (!lua_isnoneornil(L, 3)) {
		if (lua_isboolean(L, 3))
			value = lua_toboolean(L, 3) ? "1" : "0";
		else
			value = luaL_checkstring(L, 3);
	}
	int rc = rsl_netns_sysctl(h->nsfd, name, value, out, sizeof out, err, sizeof err);
	if (rc == RSL_EINVAL)
		return luaL_error(L, "%s", err);
	if (rc != RSL_OK)
		return rsl_push_fail(L, "ESYSCTL", err);
	lua_pushstring(L, out);
	return 1;
}

/* host:kill_tcp([local [, remote]]) -> number destroyed | nil, msg, code:
 * the TCP sockets of the host with that local and remote "ip:port" (every
 * one without them, as a crash loses them), by sock_diag SOCK_DESTROY. */
static int lhost_kill_tcp(lua_State *L)
{
	struct rsl_lhost *h = rsl_check_host(L, 1);
	char err[RSL_ERRLEN];
	size_t n = 0;
	struct rsl_addr local, remote;
	bool has_local = !lua_isnoneornil(L, 2), has_remote = !lua_isnoneornil(L, 3);
	if (has_local)
		rsl_check_addr(L, 2, false, &local);
	if (has_remote)
		rsl_check_addr(L, 3, false, &remote);
	int rc = rsl_netns_destroy_tcp(h->nsfd, has_local ? &local : NULL,
	                               has_remote ? &remote : NULL, &n, err, sizeof err);
	if (rc != RSL_OK)
		return rsl_push_fail(L, rc == RSL_EUNAVAIL ? "EUNAVAIL" : "EDIAG", err);
	lua_pushinteger(L, (lua_Integer)n);
	return 1;
}

/* host:nft(commands) -> echo text | nil, msg: nft commands (nft -f text)
 * run in the host's namespace. A command nft refuses raises. */
static int lhost_nft(lua_State *L)
{
	struct rsl_lhost *h = rsl_check_host(L, 1);
	const char *cmds = luaL_checkstring(L, 2);
	char err[RSL_ERRLEN];
	if (h->nft == NULL && rsl_nft_open(h->nsfd, &h->nft, err, sizeof err) != RSL_OK) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	int rc = rsl_nft_run(h->nft, cmds);
	if (rc == RSL_EINVAL)
		return luaL_error(L, "nftables on host %s: %s", h->name, rsl_nft_error(h->nft));
	if (rc != RSL_OK) {
		lua_pushnil(L);
		lua_pushstring(L, rsl_nft_error(h->nft));
		return 2;
	}
	lua_pushstring(L, rsl_nft_output(h->nft));
	return 1;
}

/* The one close path of close() and __gc: the namespace goes when the
 * last socket in it does. Idempotent. */
static void close_host(struct rsl_lhost *h)
{
	rsl_nft_close(h->nft);
	h->nft = NULL;
	if (h->nsfd >= 0)
		close(h->nsfd);
	h->nsfd = -1;
	h->closed = true;
}

/* host:close() */
static int lhost_close(lua_State *L)
{
	close_host(check_host(L, 1));
	return 0;
}

/* host:name() -> string */
static int lhost_name(lua_State *L)
{
	lua_pushstring(L, check_host(L, 1)->name);
	return 1;
}

/* Raise "unknown TCP state 'X' (the states: ESTABLISHED, ...)". */
static int unknown_state(lua_State *L, const char *name)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	lua_pushfstring(L, "unknown TCP state '%s' (the states: ", name);
	luaL_addvalue(&b);
	const char *st;
	for (int i = 1; (st = rsl_tcp_state_name(i)) != NULL; i++) {
		if (i > 1)
			luaL_addstring(&b, ", ");
		luaL_addstring(&b, st);
	}
	luaL_addstring(&b, ")");
	luaL_pushresult(&b);
	return lua_error(L);
}

/* host:sockets(states) -> list of { state, src, dst, sport, dport, rqueue,
 * wqueue, inode, timer, expires, retrans } from sock_diag: src and dst as
 * "ip:port", sport and dport as numbers. states: a list of state
 * names, or nil for all. */
static int lhost_sockets(lua_State *L)
{
	rsl_check_host(L, 1);
	uint32_t mask = ~0u;
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		mask = 0;
		lua_Integer n = luaL_len(L, 2);
		for (lua_Integer i = 1; i <= n; i++) {
			lua_geti(L, 2, i);
			const char *s = luaL_checkstring(L, -1);
			int st = rsl_tcp_state_from_name(s);
			if (st < 0)
				return unknown_state(L, s);
			mask |= 1u << st;
			lua_pop(L, 1);
		}
	}
	struct rsl_sockdiag *v = NULL;
	size_t n = 0;
	char err[RSL_ERRLEN];
	int saved = rsl_host_enter(L, 1);
	int rc = rsl_diag_list(mask, &v, &n, err, sizeof err);
	rsl_host_leave(L, saved);
	if (rc != RSL_OK)
		return rsl_push_fail(L, "EDIAG", err);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 0, 12);
		const char *st = rsl_tcp_state_name(v[i].state);
		lua_pushstring(L, st ? st : "?");
		lua_setfield(L, -2, "state");
		rsl_set_endpoint(L, "src", "sport", v[i].family, v[i].src, v[i].sport);
		rsl_set_endpoint(L, "dst", "dport", v[i].family, v[i].dst, v[i].dport);
		lua_pushinteger(L, v[i].rqueue);
		lua_setfield(L, -2, "rqueue");
		lua_pushinteger(L, v[i].wqueue);
		lua_setfield(L, -2, "wqueue");
		lua_pushinteger(L, v[i].inode);
		lua_setfield(L, -2, "inode");
		lua_pushinteger(L, v[i].timer);
		lua_setfield(L, -2, "timer");
		lua_pushnumber(L, v[i].expires_ms / 1000.0);
		lua_setfield(L, -2, "expires");
		lua_pushinteger(L, v[i].retrans);
		lua_setfield(L, -2, "retrans");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	free(v);
	return 1;
}

/* host:counters() -> { Tcp = { ActiveOpens = n, ... }, TcpExt = { ... } }
 * | nil, msg, code: the TCP counters of the host's own namespace, by MIB
 * and the kernel's names (rstlab.counters makes them a script's table). */
static int lhost_counters(lua_State *L)
{
	struct rsl_lhost *h = rsl_check_host(L, 1);
	struct rsl_counter *v = NULL;
	size_t n = 0;
	char err[RSL_ERRLEN];
	int rc = rsl_netns_counters(h->nsfd, &v, &n, err, sizeof err);
	if (rc != RSL_OK)
		return rsl_push_fail(L, "ECOUNTERS", err);
	lua_newtable(L);
	for (size_t i = 0; i < n; i++) {
		if (lua_getfield(L, -1, v[i].group) == LUA_TNIL) {
			lua_pop(L, 1);
			lua_newtable(L);
			lua_pushvalue(L, -1);
			lua_setfield(L, -3, v[i].group);
		}
		lua_pushinteger(L, (lua_Integer)v[i].value);
		lua_setfield(L, -2, v[i].name);
		lua_pop(L, 1);
	}
	free(v);
	return 1;
}

static int lhost_gc(lua_State *L)
{
	close_host(check_host(L, 1));
	return 0;
}

static int lhost_tostring(lua_State *L)
{
	lua_pushfstring(L, "rstlab.Host (%s)", check_host(L, 1)->name);
	return 1;
}

void rsl_open_host(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "name", lhost_name }, { "sockets", lhost_sockets },
		{ "inode", lhost_inode }, { "sysctl", lhost_sysctl },
		{ "kill_tcp", lhost_kill_tcp }, { "nft", lhost_nft },
		{ "counters", lhost_counters },
		{ "close", lhost_close }, { NULL, NULL },
	};
	static const luaL_Reg meta[] = {
		{ "__gc", lhost_gc }, { "__tostring", lhost_tostring }, { NULL, NULL },
	};
	static const luaL_Reg funcs[] = {
		{ "host_self", lhost_self }, { "host_new", lhost_new }, { NULL, NULL },
	};
	rsl_new_class(L, RSL_MT_HOST, methods, meta);
	luaL_setfuncs(L, funcs, 0);
}
