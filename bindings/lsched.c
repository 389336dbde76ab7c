/*
 * The scheduler: actors are Lua coroutines, parked on the libev loop while
 * they wait and resumed from its callbacks, always from the main thread.
 *
 * A call that waits (read, accept, sleep, a capture's next packet) parks the
 * running coroutine in a waiter embedded in the object it waits on, and
 * yields. The loop's callback clears the waiter first, then resumes the
 * coroutine with "ready", "timeout" or "closed". Wakes that do not come from
 * the kernel (a close, a packet stored) are deferred to the next loop
 * iteration through the waiter's timer, so no coroutine is ever resumed
 * from inside another one.
 *
 * Lua: spawn(fn, ...) starts an actor; sleep(s) parks one; step(block) runs
 * one loop iteration and returns the text of an error no actor caught;
 * watchdog(s, msg) interrupts an actor that runs s seconds without waiting.
 *
 * Only actors may wait: a coroutine the script made itself would yield to
 * its own resumer instead of the loop, and the wait would silently not
 * happen. spawn() records its coroutines in a weak registry table, and a
 * wait anywhere else raises.
 */
#include "private.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char actors_key = 'A';

/* The coroutine being resumed from the loop, for the watchdog's signal
 * handler (NULL while the loop waits). One per process: signals are. */
static lua_State *volatile running;

static void resume(struct rsl_engine *eng, lua_State *co, int nargs)
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
	resume(eng, co, 1);
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
	lua_rawgetp(L, LUA_REGISTRYINDEX, &actors_key);
	bool actor = false;
	if (lua_istable(L, -1)) {
		lua_pushthread(L);
		actor = lua_rawget(L, -2) != LUA_TNIL;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	if (!actor)
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

/* ---- timers: sleep and spawn ------------------------------------------ */

struct ltimer {
	struct rsl_waiter w;
};

static struct ltimer *new_timer(lua_State *L)
{
	struct ltimer *t = lua_newuserdatauv(L, sizeof *t, 0);
	rsl_waiter_init(&t->w, rsl_engine_get(L));
	luaL_setmetatable(L, RSL_MT_TIMER);
	return t;
}

static int ltimer_gc(lua_State *L)
{
	struct ltimer *t = luaL_checkudata(L, 1, RSL_MT_TIMER);
	rsl_waiter_drop(&t->w);
	return 0;
}

/* sleep(seconds): park the running actor. */
static int lsched_sleep(lua_State *L)
{
	double secs = luaL_checknumber(L, 1);
	luaL_argcheck(L, secs >= 0, 1, "not a non-negative number of seconds");
	struct ltimer *t = new_timer(L);
	return rsl_waiter_wait(L, &t->w, -1, "a timer", -1, 0, secs);
}

/* The first resume of a spawned coroutine passes its arguments, not a
 * wake result: handled here rather than in waiter_fire. */
static void start_cb(struct ev_loop *loop, ev_timer *tm, int revents)
{
	struct rsl_waiter *w = (struct rsl_waiter *)((char *)tm - offsetof(struct rsl_waiter, timer));
	struct rsl_engine *eng = w->eng;
	lua_State *L = eng->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, w->co);
	lua_State *co = lua_tothread(L, -1);
	int co_ref = w->co, anchor = w->anchor;
	w->co = w->anchor = LUA_NOREF;
	luaL_unref(L, LUA_REGISTRYINDEX, co_ref);
	resume(eng, co, lua_gettop(co) - 1);
	lua_pop(L, 1);
	luaL_unref(L, LUA_REGISTRYINDEX, anchor);
}

/* spawn(fn, ...): a new coroutine running fn(...), started from the loop's
 * next iteration. Returns the coroutine. */
static int lsched_spawn(lua_State *L)
{
	int nargs = lua_gettop(L) - 1;
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_State *co = lua_newthread(L);
	lua_insert(L, 1);
	lua_xmove(L, co, nargs + 1); /* fn and args */
	/* Record it as an actor (weak keys: the table never keeps one alive). */
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
	lua_pushvalue(L, 1);
	lua_pushboolean(L, 1);
	lua_rawset(L, -3);
	lua_pop(L, 1);
	/* A zero timer starts it from the loop, with its arguments. */
	struct ltimer *t = new_timer(L);
	lua_pushvalue(L, 1);
	t->w.co = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushvalue(L, -1);
	t->w.anchor = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);
	ev_timer_init(&t->w.timer, start_cb, 0, 0);
	ev_timer_start(t->w.eng->loop->ev, &t->w.timer);
	lua_settop(L, 1);
	return 1;
}

/* step(block): one loop iteration; returns nil, or the text of an error
 * that escaped an actor (then cleared). */
static int lsched_step(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	if (L != eng->L)
		return luaL_error(L, "step() must be called from the main thread, not from an actor");
	rsl_loop_step(eng->loop, lua_toboolean(L, 1));
	if (eng->fatal[0] != '\0') {
		lua_pushstring(L, eng->fatal);
		eng->fatal[0] = '\0';
		return 1;
	}
	return 0;
}

/* now(): monotonic seconds. */
static int lsched_now(lua_State *L)
{
	lua_pushnumber(L, rsl_now());
	return 1;
}

/* wallclock(): seconds since the epoch, the clock of packet timestamps. */
static int lsched_wallclock(lua_State *L)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
	return 1;
}

/* ---- the watchdog --------------------------------------------------------
 * The scenario's own timeout is an actor sleeping on the loop, so it cannot
 * end an actor that never waits (a busy loop): the loop never runs. The
 * watchdog is a SIGALRM timer; its handler sets a count hook on the actor
 * being resumed at that moment (lua_sethook is safe in a signal handler),
 * and the hook raises the watchdog's message in it, with the file:line it
 * was running. When no actor runs (the loop waits), it does nothing: the
 * loop's own timers handle that case. */

static char watchdog_msg[256];

static void watchdog_hook(lua_State *L, lua_Debug *ar)
{
	lua_sethook(L, NULL, 0, 0);
	luaL_error(L, "%s", watchdog_msg);
}

static void watchdog_signal(int sig)
{
	lua_State *co = running;
	if (co != NULL)
		lua_sethook(co, watchdog_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* watchdog(seconds, message): arm (seconds > 0) or disarm (0 or nil) the
 * interrupt of an actor that runs that long without waiting (and of one
 * still running every 0.25 s after). */
static int lsched_watchdog(lua_State *L)
{
	double secs = luaL_optnumber(L, 1, 0);
	const char *msg = luaL_optstring(L, 2, "the actor ran too long without waiting");
	struct itimerval it = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa;

	luaL_argcheck(L, secs >= 0, 1, "not a non-negative number of seconds");
	if (secs > 0 && secs < 1e8) { /* beyond three years: never */
		snprintf(watchdog_msg, sizeof watchdog_msg, "%s", msg);
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = watchdog_signal;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, NULL);
		it.it_value.tv_sec = (time_t)secs;
		it.it_value.tv_usec = (suseconds_t)((secs - (double)(time_t)secs) * 1e6);
		if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
			it.it_value.tv_usec = 1;
		/* Again every quarter second: an actor that catches the error
		 * (pcall) and spins on is interrupted again. */
		it.it_interval.tv_usec = 250000;
	}
	if (setitimer(ITIMER_REAL, &it, NULL) < 0)
		return rsl_push_errno(L, errno, "setitimer");
	lua_pushboolean(L, 1);
	return 1;
}

/* yieldable(): whether the caller may wait. */
static int lsched_yieldable(lua_State *L)
{
	lua_pushboolean(L, lua_isyieldable(L) && L != rsl_engine_get(L)->L);
	return 1;
}

void rsl_open_sched(lua_State *L)
{
	static const luaL_Reg meta[] = { { "__gc", ltimer_gc }, { NULL, NULL } };
	static const luaL_Reg methods[] = { { NULL, NULL } };
	static const luaL_Reg funcs[] = {
		{ "sleep", lsched_sleep }, { "spawn", lsched_spawn },
		{ "step", lsched_step }, { "now", lsched_now },
		{ "wallclock", lsched_wallclock }, { "yieldable", lsched_yieldable },
		{ "watchdog", lsched_watchdog },
		{ NULL, NULL },
	};
	rsl_new_class(L, RSL_MT_TIMER, methods, meta);
	luaL_setfuncs(L, funcs, 0);
}
