/*
 * The engine of a Lua state and the helpers every binding file shares.
 *
 * The engine record holds the loop all objects of one Lua state run on.
 * Actors are Lua coroutines, parked on that loop while they wait and
 * resumed from its callbacks, always from the main thread: a call that
 * waits (read, accept, sleep, a capture's next packet) parks the running
 * coroutine in a waiter embedded in the object it waits on, and yields. The
 * loop's callback clears the waiter first, then resumes the coroutine with
 * "ready", "timeout" or "closed". Wakes that do not come from the kernel (a
 * close, a packet stored) are deferred to the next loop iteration through
 * the waiter's timer, so no coroutine is ever resumed from inside another.
 *
 * Only actors may wait: a coroutine the script made itself would yield to
 * its own resumer instead of the loop, and the wait would silently not
 * happen. spawn() records its coroutines in a weak registry table
 * (rsl_actor_add), and a wait anywhere else raises.
 *
 * Also here: the one builder of `nil, "CODE: detail", "CODE"` failures
 * (and its Lua face, fail()), addresses, the host lookups the type files
 * need, class registration. Lua: fail(code [, detail]), errno_name(n),
 * parse_addr(text [, allow_noport]), metatable(class).
 */
#include "private.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static const char engine_key = 'E';
static const char actors_key = 'A';

/* ---- the engine -------------------------------------------------------- */

static int engine_gc(lua_State *L)
{
	struct rsl_engine *eng = luaL_checkudata(L, 1, RSL_MT_ENGINE);
	rsl_trace_close(eng->trace);
	eng->trace = NULL;
	rsl_loop_free(eng->loop);
	eng->loop = NULL;
	return 0;
}

void rsl_engine_open(lua_State *L)
{
	static const luaL_Reg meta[] = { { "__gc", engine_gc }, { NULL, NULL } };
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &engine_key) != LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 1);
	struct rsl_engine *eng = lua_newuserdatauv(L, sizeof *eng, 0);
	memset(eng, 0, sizeof *eng);
	if (luaL_newmetatable(L, RSL_MT_ENGINE))
		luaL_setfuncs(L, meta, 0);
	lua_setmetatable(L, -2);
	eng->loop = rsl_loop_new();
	if (eng->loop == NULL)
		luaL_error(L, "cannot create the event loop");
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	eng->L = lua_tothread(L, -1);
	lua_pop(L, 1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &engine_key);
}

int rsl_engine_use_loop(lua_State *L, struct ev_loop *ev)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	struct rsl_loop *loop = rsl_loop_borrow(ev);
	if (loop == NULL)
		return RSL_ESYS;
	rsl_loop_free(eng->loop);
	eng->loop = loop;
	return RSL_OK;
}

struct rsl_engine *rsl_engine_get(lua_State *L)
{
	lua_rawgetp(L, LUA_REGISTRYINDEX, &engine_key);
	struct rsl_engine *eng = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (eng == NULL)
		luaL_error(L, "rstlab.core is not open in this Lua state");
	return eng;
}

/* The coroutine being resumed from the loop, for the watchdog's signal
 * handler (NULL while the loop waits). One per process: signals are. */
static lua_State *volatile running;

lua_State *rsl_engine_running(void)
{
	return running;
}

void rsl_engine_resume(struct rsl_engine *eng, lua_State *co, int nargs)
{
	int nres = 0;
	lua_State *outer = running;
	running = co;
	int st = lua_resume(co, eng->L, nargs, &nres);
	running = outer;
	if (st == LUA_OK || st == LUA_YIELD) {
		lua_pop(co, nres);
		return;
	}
	/* Actors catch their own errors (the stdlib wraps them in xpcall), so
	 * this is an error in the error handling itself: keep it for step(). */
	const char *msg = lua_tostring(co, -1);
	luaL_traceback(eng->L, co, msg ? msg : "(error object is not a string)", 0);
	if (eng->fatal[0] == '\0')
		snprintf(eng->fatal, sizeof eng->fatal, "%s", lua_tostring(eng->L, -1));
	lua_pop(eng->L, 1);
}

void rsl_actor_add(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	/* Weak keys: the table never keeps an actor alive. */
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &actors_key) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_createtable(L, 0, 1);
		lua_pushliteral(L, "k");
		lua_setfield(L, -2, "__mode");
		lua_setmetatable(L, -2);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &actors_key);
	}
	lua_pushvalue(L, idx);
	lua_pushboolean(L, 1);
	lua_rawset(L, -3);
	lua_pop(L, 1);
}

bool rsl_is_actor(lua_State *L)
{
	bool actor = false;
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &actors_key) == LUA_TTABLE) {
		lua_pushthread(L);
		actor = lua_rawget(L, -2) != LUA_TNIL;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return actor;
}

/* ---- waiters ------------------------------------------------------------ */

static void waiter_fire(struct rsl_waiter *w, const char *result)
{
	struct rsl_engine *eng = w->eng;
	lua_State *L = eng->L;

	ev_io_stop(eng->loop->ev, &w->io);
	ev_timer_stop(eng->loop->ev, &w->timer);
	if (w->co == LUA_NOREF)
		return;
	lua_rawgeti(L, LUA_REGISTRYINDEX, w->co);
	lua_State *co = lua_tothread(L, -1);
	lua_pop(L, 1);
	/* Clear the slot before resuming: the coroutine may wait again on the
	 * same object at once. The coroutine stays reachable meanwhile because
	 * the anchor is dropped only after resume. */
	int co_ref = w->co, anchor = w->anchor;
	w->co = LUA_NOREF;
	w->anchor = LUA_NOREF;
	w->result = NULL;
	lua_pushstring(co, result);
	lua_rawgeti(L, LUA_REGISTRYINDEX, co_ref); /* keep co alive during resume */
	luaL_unref(L, LUA_REGISTRYINDEX, co_ref);
	rsl_engine_resume(eng, co, 1);
	lua_pop(L, 1);
	luaL_unref(L, LUA_REGISTRYINDEX, anchor);
}

static void io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct rsl_waiter *w = (struct rsl_waiter *)((char *)io - offsetof(struct rsl_waiter, io));
	waiter_fire(w, "ready");
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct rsl_waiter *w = (struct rsl_waiter *)((char *)t - offsetof(struct rsl_waiter, timer));
	waiter_fire(w, w->result ? w->result : "timeout");
}

void rsl_waiter_init(struct rsl_waiter *w, struct rsl_engine *eng)
{
	w->eng = eng;
	w->co = LUA_NOREF;
	w->anchor = LUA_NOREF;
	w->result = NULL;
	ev_io_init(&w->io, io_cb, -1, EV_READ);
	ev_timer_init(&w->timer, timer_cb, 0, 0);
}

bool rsl_waiter_busy(const struct rsl_waiter *w)
{
	return w->co != LUA_NOREF;
}

/* Raise without a position: the stdlib names the script line (a position
 * here would be a stdlib line, and a coroutine.wrap would add another). */
static int wait_misuse(lua_State *L, const char *fmt, const char *what)
{
	lua_pushfstring(L, fmt, what);
	return lua_error(L);
}

int rsl_waiter_wait(lua_State *L, struct rsl_waiter *w, int owner, const char *what,
                    int fd, int events, double timeout)
{
	struct ev_loop *ev = w->eng->loop->ev;

	if (!lua_isyieldable(L) || L == w->eng->L)
		return wait_misuse(L, "cannot wait on %s here: waiting calls must run in a "
		             "scenario actor (the scenario body or t:go)", what);
	if (!rsl_is_actor(L))
		return wait_misuse(L, "cannot wait on %s inside a coroutine of the script's "
		             "own: waiting calls must run in a scenario actor (the "
		             "scenario body or t:go)", what);
	if (w->co != LUA_NOREF)
		return luaL_error(L, "%s is already waited on by another coroutine", what);
	owner = lua_absindex(L, owner);
	lua_pushthread(L);
	w->co = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushvalue(L, owner);
	w->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
	w->result = NULL;
	if (fd >= 0) {
		ev_io_set(&w->io, fd, events);
		ev_io_start(ev, &w->io);
	}
	if (timeout >= 0) {
		/* libev times a timer from the loop's cached "now", which is as
		 * old as the last iteration: an actor that ran a while since
		 * (or a call that blocked) would wake early. Time it from now. */
		ev_now_update(ev);
		ev_timer_set(&w->timer, timeout, 0);
		ev_timer_start(ev, &w->timer);
	}
	return lua_yield(L, 0);
}

void rsl_waiter_wake(struct rsl_waiter *w, const char *result)
{
	struct ev_loop *ev = w->eng->loop->ev;
	if (w->co == LUA_NOREF)
		return;
	ev_io_stop(ev, &w->io);
	ev_timer_stop(ev, &w->timer);
	w->result = result;
	ev_timer_set(&w->timer, 0, 0);
	ev_timer_start(ev, &w->timer);
}

void rsl_waiter_drop(struct rsl_waiter *w)
{
	if (w->eng == NULL)
		return;
	ev_io_stop(w->eng->loop->ev, &w->io);
	ev_timer_stop(w->eng->loop->ev, &w->timer);
	if (w->co != LUA_NOREF) {
		luaL_unref(w->eng->L, LUA_REGISTRYINDEX, w->co);
		luaL_unref(w->eng->L, LUA_REGISTRYINDEX, w->anchor);
	}
	w->co = LUA_NOREF;
	w->anchor = LUA_NOREF;
}

/* ---- failures ----------------------------------------------------------- */

int rsl_push_fail(lua_State *L, const char *code, const char *detail)
{
	const char *text = rsl_code_text(code);
	if (text == NULL)
		return luaL_error(L, "'%s' is not an error code (an errno name, or one of "
		                  "rstlab's: EOF, TIMEOUT, ECLOSED, ...)", code);
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s", code, detail != NULL ? detail : text);
	lua_pushstring(L, code);
	return 3;
}

int rsl_push_errno(lua_State *L, int err, const char *what)
{
	char detail[RSL_ERRLEN];
	if (what != NULL)
		snprintf(detail, sizeof detail, "%s: %s", what, strerror(err));
	else
		snprintf(detail, sizeof detail, "%s", strerror(err));
	return rsl_push_fail(L, rsl_errno_name(err), detail);
}

int rsl_push_status(lua_State *L, int rc, const char *msg)
{
	if (rc == RSL_OK) {
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushnil(L);
	lua_pushstring(L, msg);
	return 2;
}

/* fail(code [, detail]) -> nil, "CODE: detail", "CODE": a failure built
 * from the one table of codes; an unknown code raises. */
static int lfail(lua_State *L)
{
	return rsl_push_fail(L, luaL_checkstring(L, 1), luaL_optstring(L, 2, NULL));
}

/* errno_name(n) -> "ECONNRESET" */
static int lerrno_name(lua_State *L)
{
	lua_pushstring(L, rsl_errno_name((int)luaL_checkinteger(L, 1)));
	return 1;
}

/* ---- addresses ---------------------------------------------------------- */

void rsl_check_addr(lua_State *L, int idx, bool allow_noport, struct rsl_addr *a)
{
	const char *s = luaL_checkstring(L, idx);
	if (rsl_addr_parse(s, allow_noport, a) != RSL_OK)
		luaL_error(L, "invalid address '%s' (expected \"ip:port\" or \"[ipv6]:port\", "
		           "port 0..65535)", s);
}

void rsl_push_addr(lua_State *L, const struct rsl_addr *a)
{
	char buf[80];
	if (a->family == 0)
		lua_pushnil(L);
	else
		lua_pushstring(L, rsl_addr_format(a, buf, sizeof buf));
}

void rsl_set_endpoint(lua_State *L, const char *name, const char *portname, int family,
                      const uint8_t ip[16], uint16_t port)
{
	struct rsl_addr a = { .family = family, .port = port };
	char buf[80];
	memcpy(a.ip, ip, 16);
	lua_pushstring(L, rsl_addr_format(&a, buf, sizeof buf));
	lua_setfield(L, -2, name);
	lua_pushinteger(L, port);
	lua_setfield(L, -2, portname);
}

/* parse_addr(text [, allow_noport]) -> "inet" | "inet6" | nil, why:
 * validate "ip:port" without raising. */
static int lparse_addr(lua_State *L)
{
	struct rsl_addr a;
	if (rsl_addr_parse(luaL_checkstring(L, 1), lua_toboolean(L, 2), &a) != RSL_OK) {
		lua_pushnil(L);
		lua_pushfstring(L, "invalid address '%s'", lua_tostring(L, 1));
		return 2;
	}
	lua_pushstring(L, a.family == AF_INET6 ? "inet6" : "inet");
	return 1;
}

/* ---- hosts -------------------------------------------------------------- */

struct rsl_lhost *rsl_check_host(lua_State *L, int idx)
{
	struct rsl_lhost *h = luaL_checkudata(L, idx, RSL_MT_HOST);
	if (h->closed)
		luaL_error(L, "attempt to use a closed host (%s)", h->name);
	return h;
}

int rsl_host_nsfd(lua_State *L, int idx)
{
	if (lua_isnoneornil(L, idx))
		return -1;
	return rsl_check_host(L, idx)->nsfd;
}

int rsl_host_enter(lua_State *L, int idx)
{
	char err[RSL_ERRLEN];
	int saved;
	if (rsl_netns_enter(rsl_host_nsfd(L, idx), &saved, err, sizeof err) != RSL_OK)
		return luaL_error(L, "entering host %s: %s", rsl_check_host(L, idx)->name, err);
	return saved;
}

void rsl_host_leave(lua_State *L, int saved)
{
	char err[RSL_ERRLEN];
	/* Failing to come home would leave every later socket in the wrong
	 * namespace: that is not recoverable, and not a script error. */
	if (rsl_netns_leave(saved, err, sizeof err) != RSL_OK)
		luaL_error(L, "%s", err);
}

/* ---- classes ------------------------------------------------------------ */

void rsl_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                   const luaL_Reg *meta)
{
	luaL_newmetatable(L, name); /* sets __name */
	luaL_setfuncs(L, meta, 0);
	lua_newtable(L);
	luaL_setfuncs(L, methods, 0);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
}

/* metatable(class) -> the metatable of "rstlab.<class>", so the stdlib
 * can add the methods it writes in Lua. */
static int lmetatable(lua_State *L)
{
	lua_pushfstring(L, "rstlab.%s", luaL_checkstring(L, 1));
	if (luaL_getmetatable(L, lua_tostring(L, -1)) != LUA_TTABLE)
		return luaL_error(L, "no class %s", lua_tostring(L, -2));
	return 1;
}

void rsl_open_engine(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "fail", lfail }, { "errno_name", lerrno_name },
		{ "parse_addr", lparse_addr }, { "metatable", lmetatable },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, funcs, 0);
}
