/*
 * Crafted segments, as stdlib/rstlab/host.lua's h:send builds them: the
 * Lua table of a segment's fields in, one raw packet out of a host's
 * namespace (core/craft.c).
 *
 * Lua: segment_send(host, { src =, dst = "ip:port", seq =, ack =, flags =
 * (the header's bits), win =, urg =, ttl =, mss =, wscale =, sackok =,
 * tsval =, tsecr =, sack = {{l, r}, ...}, payload = "" }) -> true |
 * nil, msg, code. Values are absolute, as on the wire.
 */
#include "private.h"

#include <string.h>
#include <sys/socket.h>

static lua_Integer field_int(lua_State *L, const char *name, lua_Integer dflt,
                             lua_Integer lo, lua_Integer hi)
{
	lua_getfield(L, 2, name);
	lua_Integer v = dflt;
	if (!lua_isnil(L, -1)) {
		int isint;
		v = lua_tointegerx(L, -1, &isint);
		if (!isint || v < lo || v > hi)
			luaL_error(L, "segment: %s must be an integer from %I to %I", name, lo, hi);
	}
	lua_pop(L, 1);
	return v;
}

static void field_addr(lua_State *L, const char *name, struct rsl_addr *a)
{
	lua_getfield(L, 2, name);
	const char *s = lua_tostring(L, -1);
	if (s == NULL || rsl_addr_parse(s, false, a) != RSL_OK)
		luaL_error(L, "segment: %s must be \"ip:port\", got %s", name,
		           s ? s : luaL_typename(L, -1));
	lua_pop(L, 1);
}

/* segment_send(host, fields) -> true | nil, msg, code */
static int lcraft_send(lua_State *L)
{
	int nsfd = rsl_host_nsfd(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	struct rsl_packet p;
	struct rsl_addr src, dst;
	memset(&p, 0, sizeof p);
	field_addr(L, "src", &src);
	field_addr(L, "dst", &dst);
	if (src.family != dst.family)
		return luaL_error(L, "segment: src and dst must both be IPv4 or both IPv6");
	p.family = src.family;
	memcpy(p.src, src.ip, 16);
	memcpy(p.dst, dst.ip, 16);
	p.sport = src.port;
	p.dport = dst.port;
	p.seq = (uint32_t)field_int(L, "seq", 0, 0, 0xffffffffLL);
	p.ack = (uint32_t)field_int(L, "ack", 0, 0, 0xffffffffLL);
	p.flags = (uint8_t)field_int(L, "flags", 0, 0, 255);
	p.win = (uint16_t)field_int(L, "win", 65535, 0, 65535);
	p.urg = (uint16_t)field_int(L, "urg", 0, 0, 65535);
	p.ttl = (uint8_t)field_int(L, "ttl", 64, 1, 255);
	p.mss = (int)field_int(L, "mss", -1, -1, 65535);
	p.wscale = (int)field_int(L, "wscale", -1, -1, 14);
	lua_getfield(L, 2, "sackok");
	p.sack_ok = lua_toboolean(L, -1);
	lua_pop(L, 1);
	lua_getfield(L, 2, "tsval");
	p.has_ts = !lua_isnil(L, -1);
	lua_pop(L, 1);
	if (p.has_ts) {
		p.ts_val = (uint32_t)field_int(L, "tsval", 0, 0, 0xffffffffLL);
		p.ts_ecr = (uint32_t)field_int(L, "tsecr", 0, 0, 0xffffffffLL);
	}
	lua_getfield(L, 2, "sack");
	if (lua_istable(L, -1)) {
		lua_Integer n = luaL_len(L, -1);
		if (n > RSL_MAX_SACK)
			return luaL_error(L, "segment: at most %d SACK blocks", RSL_MAX_SACK);
		for (lua_Integer i = 1; i <= n; i++) {
			lua_geti(L, -1, i);
			for (int k = 0; k < 2; k++) {
				lua_geti(L, -1, k + 1);
				int isint;
				lua_Integer v = lua_tointegerx(L, -1, &isint);
				if (!isint || v < 0 || v > 0xffffffffLL)
					return luaL_error(L, "segment: sack blocks are {left, right} of 32-bit integers");
				p.sack[i - 1][k] = (uint32_t)v;
				lua_pop(L, 1);
			}
			lua_pop(L, 1);
		}
		p.nsack = (int)n;
	}
	lua_pop(L, 1);
	size_t plen = 0;
	lua_getfield(L, 2, "payload");
	const char *payload = lua_isnil(L, -1) ? "" : luaL_checklstring(L, -1, &plen);

	uint8_t buf[65536];
	size_t len;
	char err[RSL_ERRLEN];
	int rc = rsl_craft_build(&p, (const uint8_t *)payload, plen, buf, sizeof buf, &len, err, sizeof err);
	if (rc != RSL_OK)
		return luaL_error(L, "segment: %s", err);
	rc = rsl_craft_send(nsfd, buf, len, err, sizeof err);
	if (rc != RSL_OK)
		return rsl_push_fail(L, "ESEND", err);
	lua_pushboolean(L, 1);
	return 1;
}

void rsl_open_craft(lua_State *L)
{
	static const luaL_Reg funcs[] = { { "segment_send", lcraft_send }, { NULL, NULL } };
	luaL_setfuncs(L, funcs, 0);
}
