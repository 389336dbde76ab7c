/*
 * rstlab.Capture: packets captured on a host's interfaces, as Lua tables.
 *
 * The core stores every decoded packet; this binding wakes the actor that
 * waits for packet number i as soon as it is stored, so expectations match
 * packets as they arrive instead of after the fact.
 */
#include "private.h"

#include <arpa/inet.h>
#include <string.h>

struct lcap {
	struct rsl_capture *cap;    /* owned */
	struct rsl_waiter w;
	size_t want;                /* the waiter wants this many packets */
};

static struct lcap *check_cap(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, RSL_MT_CAPTURE);
}

static void on_packet(struct rsl_capture *cap, size_t index, void *ud)
{
	struct lcap *lc = ud;
	if (rsl_waiter_busy(&lc->w) && index + 1 >= lc->want)
		rsl_waiter_wake(&lc->w, "ready");
}

/* capture_hold_timestamps() -> true | nil, msg: see
 * rsl_capture_hold_timestamps (a file's server calls it). */
static int lcap_hold_timestamps(lua_State *L)
{
	return rsl_push_status(L, rsl_capture_hold_timestamps(), "cannot switch on timestamps");
}

/* capture_precompile([filter]) -> true | nil, msg: see
 * rsl_capture_precompile (a file's server calls it). */
static int lcap_precompile(lua_State *L)
{
	char err[RSL_ERRLEN];
	int rc = rsl_capture_precompile(luaL_optstring(L, 1, NULL), err, sizeof err);
	return rsl_push_status(L, rc, err);
}

/* capture(host, ifname, filter, label [, buffer]) -> Capture | nil, msg,
 * code. buffer: the kernel's queue limit for each interface, in bytes
 * (default 16 MiB). A bad filter or buffer raises: a script error, not a network
 * failure. */
static int lcap_new(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	const char *ifname = luaL_checkstring(L, 2);
	const char *filter = luaL_optstring(L, 3, NULL);
	const char *label = luaL_optstring(L, 4, NULL);
	struct lcap *lc = lua_newuserdatauv(L, sizeof *lc, 0);
	lc->cap = NULL;
	lc->want = 0;
	rsl_waiter_init(&lc->w, eng);
	luaL_setmetatable(L, RSL_MT_CAPTURE);
	lc->cap = rsl_capture_new(eng->loop, on_packet, lc);
	if (lc->cap == NULL)
		return luaL_error(L, "out of memory");
	lua_Integer buffer = luaL_optinteger(L, 5, 0);
	if (buffer != 0 && (buffer < 0 || rsl_capture_set_buffer(lc->cap, (size_t)buffer) != RSL_OK))
		return luaL_error(L, "%s", buffer < 0 ? "a capture buffer must be positive"
		                                     : rsl_capture_error(lc->cap));
	int saved = rsl_host_enter(L, 1);
	int rc = rsl_capture_add(lc->cap, ifname, filter, label);
	rsl_host_leave(L, saved);
	if (rc == RSL_EINVAL)
		return luaL_error(L, "%s", rsl_capture_error(lc->cap));
	if (rc != RSL_OK)
		return rsl_push_fail(L, "ECAPTURE", rsl_capture_error(lc->cap));
	return 1;
}

/* cap:add(host, ifname, filter, label) -> true | nil, msg: one more
 * interface into the same timeline. */
static int lcap_add(lua_State *L)
{
	struct lcap *lc = check_cap(L, 1);
	const char *ifname = luaL_checkstring(L, 3);
	int saved = rsl_host_enter(L, 2);
	int rc = rsl_capture_add(lc->cap, ifname, luaL_optstring(L, 4, NULL),
	                         luaL_optstring(L, 5, NULL));
	rsl_host_leave(L, saved);
	if (rc == RSL_EINVAL)
		return luaL_error(L, "%s", rsl_capture_error(lc->cap));
	return rsl_push_status(L, rc, rsl_capture_error(lc->cap));
}

/* cap:count() -> packets stored so far (reads what the kernel holds first) */
static int lcap_count(lua_State *L)
{
	struct lcap *lc = check_cap(L, 1);
	rsl_capture_drain(lc->cap);
	lua_pushinteger(L, (lua_Integer)rsl_capture_count(lc->cap));
	return 1;
}

static void push_packet(lua_State *L, struct lcap *lc, size_t i)
{
	const struct rsl_packet *p = rsl_capture_packet(lc->cap, i);
	lua_createtable(L, 0, 20);
	lua_pushinteger(L, (lua_Integer)i + 1);
	lua_setfield(L, -2, "index");
	lua_pushnumber(L, p->ts);
	lua_setfield(L, -2, "ts");
	rsl_set_endpoint(L, "src", "sport", p->family, p->src, p->sport);
	rsl_set_endpoint(L, "dst", "dport", p->family, p->dst, p->dport);
	lua_pushinteger(L, p->flags); /* the header's bits: rstlab.tcpflags names them */
	lua_setfield(L, -2, "flags");
	lua_pushinteger(L, p->seq);
	lua_setfield(L, -2, "seq");
	lua_pushinteger(L, p->ack);
	lua_setfield(L, -2, "ack");
	lua_pushinteger(L, p->win);
	lua_setfield(L, -2, "win");
	lua_pushinteger(L, p->len);
	lua_setfield(L, -2, "len");
	lua_pushinteger(L, p->ttl);
	lua_setfield(L, -2, "ttl");
	if (p->mss >= 0) {
		lua_pushinteger(L, p->mss);
		lua_setfield(L, -2, "mss");
	}
	if (p->wscale >= 0) {
		lua_pushinteger(L, p->wscale);
		lua_setfield(L, -2, "wscale");
	}
	lua_pushboolean(L, p->sack_ok);
	lua_setfield(L, -2, "sackok");
	if (p->has_ts) {
		lua_pushinteger(L, p->ts_val);
		lua_setfield(L, -2, "tsval");
		lua_pushinteger(L, p->ts_ecr);
		lua_setfield(L, -2, "tsecr");
	}
	lua_createtable(L, p->nsack, 0);
	for (int k = 0; k < p->nsack; k++) {
		lua_createtable(L, 2, 0);
		lua_pushinteger(L, p->sack[k][0]);
		lua_rawseti(L, -2, 1);
		lua_pushinteger(L, p->sack[k][1]);
		lua_rawseti(L, -2, 2);
		lua_rawseti(L, -2, k + 1);
	}
	lua_setfield(L, -2, "sack");
	lua_pushstring(L, rsl_capture_packet_iface(lc->cap, i));
	lua_setfield(L, -2, "iface");
}

/* cap:packet(i) -> table | nil (1-based) */
static int lcap_packet(lua_State *L)
{
	struct lcap *lc = check_cap(L, 1);
	lua_Integer i = luaL_checkinteger(L, 2);
	if (i < 1 || (size_t)i > rsl_capture_count(lc->cap))
		return 0;
	push_packet(L, lc, (size_t)i - 1);
	return 1;
}

/* cap:wait(i, timeout) -> "ready" | "timeout" | "closed": park until
 * packet i has been stored (yields only when it has not). */
static int lcap_wait(lua_State *L)
{
	struct lcap *lc = check_cap(L, 1);
	lua_Integer i = luaL_checkinteger(L, 2);
	double timeout = luaL_optnumber(L, 3, -1);
	rsl_capture_drain(lc->cap);
	if (i >= 1 && (size_t)i <= rsl_capture_count(lc->cap)) {
		lua_pushstring(L, "ready");
		return 1;
	}
	lc->want = (size_t)i;
	return rsl_waiter_wait(L, &lc->w, 1, "this capture", -1, 0, timeout);
}

/* cap:write(path) -> true | nil, msg, "EPCAP" */
static int lcap_write(lua_State *L)
{
	struct lcap *lc = check_cap(L, 1);
	rsl_capture_drain(lc->cap);
	int rc = rsl_capture_write(lc->cap, luaL_checkstring(L, 2));
	if (rc != RSL_OK)
		return rsl_push_fail(L, "EPCAP", rsl_capture_error(lc->cap));
	lua_pushboolean(L, 1);
	return 1;
}

/* cap:stats() -> { stored =, skipped =, malformed =, dropped = [, failure =] } */
static int lcap_stats(lua_State *L)
{
	struct lcap *lc = check_cap(L, 1);
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, (lua_Integer)rsl_capture_dropped(lc->cap));
	lua_setfield(L, -2, "dropped");
	lua_pushinteger(L, (lua_Integer)rsl_capture_count(lc->cap));
	lua_setfield(L, -2, "stored");
	lua_pushinteger(L, (lua_Integer)rsl_capture_skipped(lc->cap));
	lua_setfield(L, -2, "skipped");
	lua_pushinteger(L, (lua_Integer)rsl_capture_malformed(lc->cap));
	lua_setfield(L, -2, "malformed");
	const char *failure = rsl_capture_failure(lc->cap);
	if (failure != NULL) {
		lua_pushstring(L, failure);
		lua_setfield(L, -2, "failure");
	}
	return 1;
}

/* cap:close(): stop capturing; what was stored stays readable. */
static int lcap_close(lua_State *L)
{
	struct lcap *lc = check_cap(L, 1);
	rsl_waiter_wake(&lc->w, "closed");
	if (lc->cap != NULL) {
		rsl_capture_drain(lc->cap);
		rsl_capture_close(lc->cap);
	}
	return 0;
}

static int lcap_gc(lua_State *L)
{
	struct lcap *lc = check_cap(L, 1);
	rsl_waiter_drop(&lc->w);
	rsl_capture_free(lc->cap);
	lc->cap = NULL;
	return 0;
}

void rsl_open_capture(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "add", lcap_add }, { "count", lcap_count }, { "packet", lcap_packet },
		{ "wait", lcap_wait }, { "write", lcap_write }, { "stats", lcap_stats },
		{ "close", lcap_close }, { NULL, NULL },
	};
	static const luaL_Reg meta[] = {
		{ "__gc", lcap_gc }, { "__close", lcap_close }, { NULL, NULL },
	};
	static const luaL_Reg funcs[] = { { "capture", lcap_new },
		{ "capture_hold_timestamps", lcap_hold_timestamps },
		{ "capture_precompile", lcap_precompile }, { NULL, NULL } };
	rsl_new_class(L, RSL_MT_CAPTURE, methods, meta);
	luaL_setfuncs(L, funcs, 0);
}
