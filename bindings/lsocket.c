/*
 * rstlab.Socket: the Lua face of a core TCP socket.
 *
 * These are the non-blocking primitives; the stdlib (scenario.lua) builds
 * the calls that look blocking (connect, accept, read, write) from them and
 * from sock:wait(). A socket has two waiters, so one actor may read while
 * another writes.
 */
#include "private.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The most one recv takes from the kernel. */
#define READ_MAX ((size_t)1 << 20)

struct lsock {
	struct rsl_sock *s;     /* owned; NULL only if allocation failed */
	struct rsl_waiter rd, wr;
};

static struct lsock *check_sock(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, RSL_MT_SOCKET);
}

/* The socket at idx, raising if it is closed. */
static struct lsock *check_open(lua_State *L, int idx)
{
	struct lsock *ls = check_sock(L, idx);
	if (rsl_sock_fd(ls->s) < 0)
		luaL_error(L, "attempt to use a closed socket");
	return ls;
}

static struct lsock *new_sock(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	struct lsock *ls = lua_newuserdatauv(L, sizeof *ls, 0);
	ls->s = NULL;
	rsl_waiter_init(&ls->rd, eng);
	rsl_waiter_init(&ls->wr, eng);
	luaL_setmetatable(L, RSL_MT_SOCKET);
	ls->s = rsl_sock_new();
	if (ls->s == NULL)
		luaL_error(L, "out of memory");
	return ls;
}

static int sock_fail(lua_State *L, struct lsock *ls, int rc)
{
	if (rc == RSL_EINVAL)
		return luaL_error(L, "%s", rsl_sock_error(ls->s));
	/* The core's message names the call: "recv: Connection reset by peer". */
	return rsl_push_fail(L, rsl_errno_name(rsl_sock_errno(ls->s)), rsl_sock_error(ls->s));
}

static int wrong_family(lua_State *L, struct lsock *ls, int idx)
{
	bool six = rsl_sock_family(ls->s) == AF_INET6;
	return luaL_error(L, "address %s is %s, the socket is %s (\"%s\")", lua_tostring(L, idx),
	                  six ? "IPv4" : "IPv6", six ? "IPv6" : "IPv4", six ? "inet6" : "inet");
}

/* socket(family ["inet"|"inet6"], host) -> Socket: a kernel socket created
 * in host's network namespace. */
static int lsock_new(lua_State *L)
{
	static const char *const fams[] = { "inet", "inet6", NULL };
	int fam = luaL_checkoption(L, 1, "inet", fams) == 0 ? AF_INET : AF_INET6;
	lua_settop(L, 2); /* host may be absent: the new socket must not be taken for it */
	struct lsock *ls = new_sock(L);
	int saved = rsl_host_enter(L, 2);
	int rc = rsl_sock_open(ls->s, fam);
	rsl_host_leave(L, saved);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	return 1;
}

/* sock:bind("ip:port") -> true | nil, msg, code */
static int lsock_bind(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	struct rsl_addr a;
	rsl_check_addr(L, 2, false, &a);
	if (a.family != rsl_sock_family(ls->s))
		return wrong_family(L, ls, 2);
	int rc = rsl_sock_bind(ls->s, &a);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* sock:listen(backlog) -> true | nil, msg, code */
static int lsock_listen(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	int rc = rsl_sock_listen(ls->s, (int)luaL_optinteger(L, 2, 128));
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* sock:connect_start("ip:port") -> true (connected) | false (in progress)
 * | nil, msg, code */
static int lsock_connect_start(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	struct rsl_addr a;
	rsl_check_addr(L, 2, false, &a);
	if (a.family != rsl_sock_family(ls->s))
		return wrong_family(L, ls, 2);
	int rc = rsl_sock_connect(ls->s, &a);
	if (rc == RSL_EAGAIN) {
		lua_pushboolean(L, 0);
		return 1;
	}
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* sock:connect_finish() -> true | nil, msg, code (after writability) */
static int lsock_connect_finish(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	int rc = rsl_sock_connect_finish(ls->s);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* sock:accept_now() -> Socket | false (none yet) | nil, msg, code */
static int lsock_accept_now(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	struct lsock *c = new_sock(L);
	int rc = rsl_sock_accept(ls->s, c->s);
	if (rc == RSL_EAGAIN) {
		lua_pushboolean(L, 0);
		return 1;
	}
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	return 1;
}

/* sock:recv_now(n) -> data | "" (end of stream) | false (nothing yet)
 * | nil, msg, code. Takes at most n bytes from the kernel. */
static int lsock_recv_now(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	lua_Integer n = luaL_checkinteger(L, 2);
	luaL_argcheck(L, n > 0, 2, "must be positive");
	/* "At most n": a script may ask for everything with a huge n, which
	 * must not become a huge buffer. */
	size_t want = (lua_Unsigned)n > READ_MAX ? READ_MAX : (size_t)n;
	luaL_Buffer b;
	char *p = luaL_buffinitsize(L, &b, want);
	size_t got = 0;
	int rc = rsl_sock_read(ls->s, p, want, &got);
	if (rc == RSL_EAGAIN) {
		lua_pushboolean(L, 0);
		return 1;
	}
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	luaL_pushresultsize(&b, got);
	return 1;
}

/* sock:send_now(data [, from]) -> bytes taken (0 when the buffer is full)
 * | nil, msg, code. from is the 1-based index of the first byte to send. */
static int lsock_send_now(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	lua_Integer from = luaL_optinteger(L, 3, 1);
	luaL_argcheck(L, from >= 1 && (size_t)from <= len + 1, 3, "out of range");
	size_t put = 0;
	int rc = rsl_sock_write(ls->s, data + from - 1, len - (size_t)(from - 1), &put);
	if (rc == RSL_EAGAIN) {
		lua_pushinteger(L, 0);
		return 1;
	}
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushinteger(L, (lua_Integer)put);
	return 1;
}

/* sock:wait("r"|"w", timeout) -> "ready" | "timeout" | "closed" (yields) */
static int lsock_wait(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	static const char *const modes[] = { "r", "w", NULL };
	int m = luaL_checkoption(L, 2, NULL, modes);
	double timeout = luaL_optnumber(L, 3, -1);
	if (m == 0)
		return rsl_waiter_wait(L, &ls->rd, 1, "this socket (read)", rsl_sock_fd(ls->s),
		                       EV_READ, timeout);
	return rsl_waiter_wait(L, &ls->wr, 1, "this socket (write)", rsl_sock_fd(ls->s),
	                       EV_WRITE, timeout);
}

/* sock:shutdown("r"|"w"|"rw") -> true | nil, msg, code */
static int lsock_shutdown(lua_State *L)
{
	static const char *const hows[] = { "r", "w", "rw", NULL };
	static const int how[] = { SHUT_RD, SHUT_WR, SHUT_RDWR };
	struct lsock *ls = check_open(L, 1);
	int rc = rsl_sock_shutdown(ls->s, how[luaL_checkoption(L, 2, "rw", hows)]);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* The one close path of __close, __gc and :close(). Waiting coroutines are
 * woken with "closed" (deferred), unless the state itself is closing. */
static void close_sock(struct lsock *ls, bool from_gc)
{
	if (from_gc) {
		rsl_waiter_drop(&ls->rd);
		rsl_waiter_drop(&ls->wr);
	} else {
		rsl_waiter_wake(&ls->rd, "closed");
		rsl_waiter_wake(&ls->wr, "closed");
	}
	if (ls->s != NULL)
		rsl_sock_close(ls->s);
}

/* sock:close(): idempotent. */
static int lsock_close(lua_State *L)
{
	close_sock(check_sock(L, 1), false);
	return 0;
}

static int lsock_gc(lua_State *L)
{
	struct lsock *ls = check_sock(L, 1);
	close_sock(ls, true);
	rsl_sock_free(ls->s);
	ls->s = NULL;
	return 0;
}

/* sock:closed() -> boolean */
static int lsock_closed(lua_State *L)
{
	struct lsock *ls = check_sock(L, 1);
	lua_pushboolean(L, ls->s == NULL || rsl_sock_fd(ls->s) < 0);
	return 1;
}

/* Convert a Lua value for option name into v, or raise. */
static void check_optval(lua_State *L, int idx, const char *name, int kind,
                         struct rsl_optval *v)
{
	memset(v, 0, sizeof *v);
	switch (kind) {
	case RSL_OPT_BOOL:
		if (lua_isboolean(L, idx))
			v->i = lua_toboolean(L, idx);
		else if (lua_isinteger(L, idx))
			v->i = lua_tointeger(L, idx) != 0;
		else
			luaL_error(L, "option '%s' takes a boolean, got %s", name, luaL_typename(L, idx));
		return;
	case RSL_OPT_INT:
		if (!lua_isinteger(L, idx))
			luaL_error(L, "option '%s' takes an integer, got %s", name,
			           lua_isnumber(L, idx) ? "a fraction" : luaL_typename(L, idx));
		v->i = lua_tointeger(L, idx);
		if (v->i < 0)
			luaL_error(L, "option '%s' takes a non-negative integer", name);
		return;
	case RSL_OPT_MSEC:
		if (!lua_isnumber(L, idx) || lua_tonumber(L, idx) < 0)
			luaL_error(L, "option '%s' takes seconds (a non-negative number)", name);
		v->i = (long)(lua_tonumber(L, idx) * 1000 + 0.5);
		return;
	case RSL_OPT_LINGER:
		/* linger = 0 (short for {1, 0}), = false (off), = {on, secs} */
		if (lua_isboolean(L, idx) && !lua_toboolean(L, idx)) {
			v->on = 0;
		} else if (lua_isinteger(L, idx)) {
			v->on = 1;
			v->i = lua_tointeger(L, idx);
		} else if (lua_istable(L, idx)) {
			lua_rawgeti(L, idx, 1);
			lua_rawgeti(L, idx, 2);
			v->on = lua_isboolean(L, -2) ? lua_toboolean(L, -2) : lua_tointeger(L, -2) != 0;
			if (!lua_isinteger(L, -1))
				luaL_error(L, "option 'linger' takes {on, seconds}, seconds an integer");
			v->i = lua_tointeger(L, -1);
			lua_pop(L, 2);
		} else {
			luaL_error(L, "option 'linger' takes seconds, false or {on, seconds}, got %s",
			           luaL_typename(L, idx));
		}
		if (v->i < 0)
			luaL_error(L, "option 'linger' takes non-negative seconds");
		return;
	}
}

static int unknown_option(lua_State *L, const char *name)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (const char *const *n = rsl_sock_option_names(); *n; n++) {
		luaL_addstring(&b, *n);
		if (n[1])
			luaL_addstring(&b, ", ");
	}
	luaL_pushresult(&b);
	return luaL_error(L, "unknown socket option '%s' (known: %s)", name, lua_tostring(L, -1));
}

/* sock:setopt(name, value) -> true | nil, msg, code */
static int lsock_setopt(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	const char *name = luaL_checkstring(L, 2);
	int kind = rsl_sock_option_kind(name);
	struct rsl_optval v;
	if (kind < 0)
		return unknown_option(L, name);
	luaL_checkany(L, 3);
	check_optval(L, 3, name, kind, &v);
	int rc = rsl_sock_set(ls->s, name, &v);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* sock:get(name) -> value | nil, msg, code */
static int lsock_get(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	const char *name = luaL_checkstring(L, 2);
	int kind = rsl_sock_option_kind(name);
	struct rsl_optval v;
	if (kind < 0)
		return unknown_option(L, name);
	int rc = rsl_sock_get(ls->s, name, &v);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	switch (kind) {
	case RSL_OPT_BOOL: lua_pushboolean(L, v.on); break;
	case RSL_OPT_INT: lua_pushinteger(L, v.i); break;
	case RSL_OPT_MSEC: lua_pushnumber(L, (double)v.i / 1000.0); break;
	case RSL_OPT_LINGER:
		lua_createtable(L, 0, 2);
		lua_pushboolean(L, v.on);
		lua_setfield(L, -2, "on");
		lua_pushinteger(L, v.i);
		lua_setfield(L, -2, "secs");
		break;
	}
	return 1;
}

#define SETNUM(name, val) (lua_pushnumber(L, (double)(val)), lua_setfield(L, -2, name))
#define SETINT(name, val) (lua_pushinteger(L, (lua_Integer)(val)), lua_setfield(L, -2, name))

/* sock:info() -> table of tcp_info (state name, rtt in seconds, ...) */
static int lsock_info(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	struct rsl_tcpinfo ti;
	int rc = rsl_sock_tcp_info(ls->s, &ti);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_createtable(L, 0, 40);
	const char *st = rsl_tcp_state_name(ti.state);
	lua_pushstring(L, st ? st : "?");
	lua_setfield(L, -2, "state");
	SETINT("ca_state", ti.ca_state); SETINT("retransmits", ti.retransmits);
	SETINT("probes", ti.probes); SETINT("backoff", ti.backoff);
	SETINT("snd_wscale", ti.snd_wscale); SETINT("rcv_wscale", ti.rcv_wscale);
	SETNUM("rto", ti.rto); SETNUM("ato", ti.ato); SETNUM("rtt", ti.rtt);
	SETNUM("rttvar", ti.rttvar); SETNUM("min_rtt", ti.min_rtt);
	SETINT("snd_mss", ti.snd_mss); SETINT("rcv_mss", ti.rcv_mss);
	SETINT("unacked", ti.unacked); SETINT("sacked", ti.sacked); SETINT("lost", ti.lost);
	SETINT("retrans", ti.retrans); SETINT("pmtu", ti.pmtu);
	SETINT("snd_ssthresh", ti.snd_ssthresh); SETINT("snd_cwnd", ti.snd_cwnd);
	SETINT("advmss", ti.advmss); SETINT("reordering", ti.reordering);
	SETINT("rcv_space", ti.rcv_space); SETINT("total_retrans", ti.total_retrans);
	SETINT("segs_out", ti.segs_out); SETINT("segs_in", ti.segs_in);
	SETINT("snd_wnd", ti.snd_wnd); SETINT("bytes_acked", ti.bytes_acked);
	SETINT("bytes_received", ti.bytes_received); SETINT("bytes_sent", ti.bytes_sent);
	SETINT("bytes_retrans", ti.bytes_retrans);
	SETNUM("last_data_sent", ti.last_data_sent); SETNUM("last_data_recv", ti.last_data_recv);
	SETNUM("last_ack_recv", ti.last_ack_recv);
	return 1;
}

/* sock:pending() -> bytes in the receive queue */
static int lsock_pending(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	int n = 0;
	int rc = rsl_sock_pending(ls->s, &n);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushinteger(L, n);
	return 1;
}

/* sock:local_addr() / sock:peer_addr() -> "ip:port" */
static int lsock_local_addr(lua_State *L)
{
	rsl_push_addr(L, rsl_sock_local(check_sock(L, 1)->s));
	return 1;
}

static int lsock_peer_addr(lua_State *L)
{
	rsl_push_addr(L, rsl_sock_peer(check_sock(L, 1)->s));
	return 1;
}

/* sock:fileno() -> the fd (-1 when closed) */
static int lsock_fileno(lua_State *L)
{
	lua_pushinteger(L, rsl_sock_fd(check_sock(L, 1)->s));
	return 1;
}

static int lsock_tostring(lua_State *L)
{
	struct lsock *ls = check_sock(L, 1);
	char a[64], b[64];
	if (rsl_sock_fd(ls->s) < 0) {
		lua_pushfstring(L, "rstlab.Socket (closed, %s)", rsl_addr_format(rsl_sock_local(ls->s), a, sizeof a));
		return 1;
	}
	lua_pushfstring(L, "rstlab.Socket (%s -> %s)", rsl_addr_format(rsl_sock_local(ls->s), a, sizeof a),
	                rsl_addr_format(rsl_sock_peer(ls->s), b, sizeof b));
	return 1;
}

/* option_names() -> list of socket option names */
static int loption_names(lua_State *L)
{
	lua_newtable(L);
	int i = 1;
	for (const char *const *n = rsl_sock_option_names(); *n; n++) {
		lua_pushstring(L, *n);
		lua_rawseti(L, -2, i++);
	}
	return 1;
}

void rsl_open_socket(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "bind", lsock_bind }, { "listen", lsock_listen },
		{ "connect_start", lsock_connect_start }, { "connect_finish", lsock_connect_finish },
		{ "accept_now", lsock_accept_now }, { "recv_now", lsock_recv_now },
		{ "send_now", lsock_send_now }, { "wait", lsock_wait },
		{ "shutdown", lsock_shutdown }, { "close", lsock_close },
		{ "closed", lsock_closed }, { "setopt", lsock_setopt }, { "get", lsock_get },
		{ "info", lsock_info }, { "pending", lsock_pending },
		{ "local_addr", lsock_local_addr }, { "peer_addr", lsock_peer_addr },
		{ "fileno", lsock_fileno },
		{ NULL, NULL },
	};
	static const luaL_Reg meta[] = {
		{ "__gc", lsock_gc }, { "__close", lsock_close }, { "__tostring", lsock_tostring },
		{ NULL, NULL },
	};
	static const luaL_Reg funcs[] = {
		{ "socket", lsock_new }, { "option_names", loption_names }, { NULL, NULL },
	};
	rsl_new_class(L, RSL_MT_SOCKET, methods, meta);
	luaL_setfuncs(L, funcs, 0);
}
