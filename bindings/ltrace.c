/*
 * The kernel's tcp_send_reset tracepoint, as the stdlib reads RST reasons
 * from it (stdlib/rstlab/reason.lua): one reader per Lua state, kept in
 * the engine record.
 *
 * Lua: trace_open(), trace_events(from), trace_lost(), trace_close(),
 * trace_share(), trace_wait(timeout), trace_attached(), trace_counts().
 */
#include "private.h"

#include <poll.h>

/* trace_open() -> true | nil, why: this state's tcp_send_reset reader,
 * opened once (later calls say the same). */
static int ltrace_open(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	if (!eng->trace_tried) {
		eng->trace_tried = true;
		if (rsl_trace_open(&eng->trace, eng->trace_why, sizeof eng->trace_why) != RSL_OK) {
			eng->trace = NULL;
		} else {
			/* Only this process's port slice: a storm of RSTs elsewhere
			 * on the machine cannot fill its ring (the stdlib pairs only
			 * events with a port of the slice anyway). */
			int lo, hi;
			rsl_sandbox_ports(&lo, &hi);
			/* (0, 0: every event; a reader of a shared program
			 * needs the call either way) */
			if (rsl_trace_ports(eng->trace, lo, lo > 0 ? hi : 0) != RSL_OK) {
				snprintf(eng->trace_why, sizeof eng->trace_why, "%s",
				         rsl_trace_error(eng->trace));
				rsl_trace_close(eng->trace);
				eng->trace = NULL;
			}
		}
	}
	return rsl_push_status(L, eng->trace != NULL ? RSL_OK : RSL_EUNAVAIL, eng->trace_why);
}

/* trace_events(from) -> list of { ts, src, dst, sport, dport, state,
 * reason } from the from-th event on (1-based), after reading what the
 * kernel holds now. src and dst are "ip:port"; sport and dport numbers. */
static int ltrace_events(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	lua_Integer from = luaL_optinteger(L, 1, 1);
	lua_newtable(L);
	if (eng->trace == NULL)
		return 1;
	rsl_trace_drain(eng->trace);
	size_t n = rsl_trace_count(eng->trace);
	for (size_t i = from > 0 ? (size_t)from - 1 : 0, k = 1; i < n; i++, k++) {
		const struct rsl_rst_event *e = rsl_trace_event(eng->trace, i);
		lua_createtable(L, 0, 7);
		lua_pushnumber(L, e->ts);
		lua_setfield(L, -2, "ts");
		rsl_set_endpoint(L, "src", "sport", e->family, e->src, e->sport);
		rsl_set_endpoint(L, "dst", "dport", e->family, e->dst, e->dport);
		lua_pushstring(L, e->state);
		lua_setfield(L, -2, "state");
		lua_pushstring(L, e->reason);
		lua_setfield(L, -2, "reason");
		lua_rawseti(L, -2, (lua_Integer)k);
	}
	return 1;
}

/* trace_share() -> true | nil, why: one program for this process and the
 * scenario processes it forks (rsl_trace_share). */
static int ltrace_share(lua_State *L)
{
	char why[RSL_ERRLEN];
	return rsl_push_status(L, rsl_trace_share(why, sizeof why), why);
}

/* trace_wait(timeout): until the ring has something to read or timeout
 * seconds pass. An actor waits on the loop; other code (a report made
 * after the scenario) blocks the process, for reason.lua's short waits. */
static int ltrace_wait(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	double timeout = luaL_checknumber(L, 1);
	int fd = rsl_trace_fd(eng->trace);
	if (fd < 0 || timeout <= 0)
		return 0;
	if (rsl_is_actor(L))
		return rsl_wait_readable(L, fd, timeout);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	poll(&p, 1, (int)(timeout * 1000) + 1);
	return 0;
}

/* trace_close(): stop reading now. */
static int ltrace_close(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	rsl_trace_close(eng->trace);
	eng->trace = NULL;
	return 0;
}

/* trace_lost() -> events the kernel said it lost (its ring was full). */
static int ltrace_lost(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)rsl_trace_lost(rsl_engine_get(L)->trace));
	return 1;
}

/* trace_attached() -> true | false | nil: see rsl_trace_attached. */
static int ltrace_attached(lua_State *L)
{
	int a = rsl_trace_attached(rsl_engine_get(L)->trace);
	if (a < 0)
		lua_pushnil(L);
	else
		lua_pushboolean(L, a);
	return 1;
}

/* trace_counts() -> { runs, outside, unreadable, drops = { { ts, sport,
 * dport }... } } | nil: see rsl_trace_counts (nil for a reader of the
 * shared program). */
static int ltrace_counts(lua_State *L)
{
	struct rsl_trace_counts c;
	if (rsl_trace_counts(rsl_engine_get(L)->trace, &c) < 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 3);
	lua_pushinteger(L, (lua_Integer)c.runs);
	lua_setfield(L, -2, "runs");
	lua_pushinteger(L, (lua_Integer)c.outside);
	lua_setfield(L, -2, "outside");
	lua_pushinteger(L, (lua_Integer)c.unreadable);
	lua_setfield(L, -2, "unreadable");
	lua_createtable(L, c.ndrops, 0);
	for (int i = 0; i < c.ndrops; i++) {
		lua_createtable(L, 0, 3);
		lua_pushnumber(L, c.drops[i].ts);
		lua_setfield(L, -2, "ts");
		lua_pushinteger(L, c.drops[i].sport);
		lua_setfield(L, -2, "sport");
		lua_pushinteger(L, c.drops[i].dport);
		lua_setfield(L, -2, "dport");
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "drops");
	return 1;
}

void rsl_open_trace(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "trace_open", ltrace_open }, { "trace_events", ltrace_events },
		{ "trace_close", ltrace_close }, { "trace_lost", ltrace_lost },
		{ "trace_share", ltrace_share }, { "trace_wait", ltrace_wait },
		{ "trace_attached", ltrace_attached }, { "trace_counts", ltrace_counts },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, funcs, 0);
}
