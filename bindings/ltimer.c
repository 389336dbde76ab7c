/*
 * Time and signals on the loop: rstlab.Timer (sleep, and the start of a
 * spawned actor), the scheduler's entry points, the watchdog, and
 * rstlab.Signal. The waiter they park actors in is the engine's
 * (lengine.c).
 *
 * Lua: spawn(fn, ...) starts an actor; sleep(s) parks one; step(block) runs
 * one loop iteration and returns the text of an error no actor caught;
 * watchdog(s, msg) interrupts an actor that runs s seconds without waiting;
 * now(), wallclock(), yieldable(); signal(signo) -> Signal.
 */
#include "private.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

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

int rsl_wait_readable(lua_State *L, int fd, double timeout)
{
	struct ltimer *t = new_timer(L);
	return rsl_waiter_wait(L, &t->w, -1, "a timer", fd, EV_READ, timeout);
}

/* sleep(seconds): park the running actor. */
static int ltimer_sleep(lua_State *L)
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
	rsl_engine_resume(eng, co, lua_gettop(co) - 1);
	lua_pop(L, 1);
	luaL_unref(L, LUA_REGISTRYINDEX, anchor);
}

/* spawn(fn, ...): a new coroutine running fn(...), started from the loop's
 * next iteration. Returns the coroutine. */
static int ltimer_spawn(lua_State *L)
{
	int nargs = lua_gettop(L) - 1;
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_State *co = lua_newthread(L);
	lua_insert(L, 1);
	lua_xmove(L, co, nargs + 1); /* fn and args */
	rsl_actor_add(L, 1);
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
static int ltimer_step(lua_State *L)
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
static int ltimer_now(lua_State *L)
{
	lua_pushnumber(L, rsl_now());
	return 1;
}

/* wallclock(): seconds since the epoch, the clock of packet timestamps. */
static int ltimer_wallclock(lua_State *L)
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
	lua_State *co = rsl_engine_running();
	if (co != NULL)
		lua_sethook(co, watchdog_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* watchdog(seconds, message): arm (seconds > 0) or disarm (0 or nil) the
 * interrupt of an actor that runs that long without waiting (and of one
 * still running every 0.25 s after). */
static int ltimer_watchdog(lua_State *L)
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
static int ltimer_yieldable(lua_State *L)
{
	lua_pushboolean(L, lua_isyieldable(L) && L != rsl_engine_get(L)->L);
	return 1;
}

/* ---- signals ------------------------------------------------------------ */

/* A signal caught on the engine's loop: deliveries are counted while no
 * actor waits, and wake the waiting actor otherwise. libev attaches a
 * signal to one loop per process, so a second engine asking for the same
 * signal gets an error instead of libev's assertion. */
struct lsignal {
	ev_signal sig;
	struct rsl_waiter w;
	int pending;            /* deliveries nobody has waited for yet */
	bool active;
};

static struct ev_loop *signal_owner[NSIG];

static struct lsignal *check_signal(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, RSL_MT_SIGNAL);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct lsignal *s = (struct lsignal *)((char *)w - offsetof(struct lsignal, sig));
	if (rsl_waiter_busy(&s->w))
		rsl_waiter_wake(&s->w, "ready");
	else
		s->pending++;
}

/* One close path: stop catching (the signal's default action is back),
 * wake a waiting actor with "closed". */
static void signal_close(struct lsignal *s)
{
	if (!s->active)
		return;
	struct ev_loop *ev = s->w.eng->loop->ev;
	ev_signal_stop(ev, &s->sig);
	signal_owner[s->sig.signum] = NULL;
	s->active = false;
	rsl_waiter_wake(&s->w, "closed");
}

/* signal(signo) -> Signal: catch signo on this engine's loop from now on,
 * instead of its default action. */
static int ltimer_signal(lua_State *L)
{
	int signo = (int)luaL_checkinteger(L, 1);
	struct rsl_engine *eng = rsl_engine_get(L);
	luaL_argcheck(L, signo > 0 && signo < NSIG && signo != SIGKILL && signo != SIGSTOP, 1,
	              "not a signal that can be caught");
	if (signal_owner[signo] != NULL)
		return luaL_error(L, "signal %d is already caught by an engine of this process", signo);
	struct lsignal *s = lua_newuserdatauv(L, sizeof *s, 0);
	s->pending = 0;
	s->active = false;
	rsl_waiter_init(&s->w, eng);
	ev_signal_init(&s->sig, signal_cb, signo);
	luaL_setmetatable(L, RSL_MT_SIGNAL);
	ev_signal_start(eng->loop->ev, &s->sig);
	/* A caught signal must not keep the loop running on its own. */
	ev_unref(eng->loop->ev);
	signal_owner[signo] = eng->loop->ev;
	s->active = true;
	return 1;
}

/* sig:wait([timeout]) -> "ready" | "timeout" | "closed": until the signal
 * arrives (at once if it arrived since the last wait). */
static int lsignal_wait(lua_State *L)
{
	struct lsignal *s = check_signal(L, 1);
	double timeout = luaL_optnumber(L, 2, -1);
	if (s->pending > 0) {
		s->pending--;
		lua_pushliteral(L, "ready");
		return 1;
	}
	if (!s->active) {
		lua_pushliteral(L, "closed");
		return 1;
	}
	return rsl_waiter_wait(L, &s->w, 1, "this signal", -1, 0, timeout);
}

/* sig:close(): stop catching the signal (idempotent). */
static int lsignal_close(lua_State *L)
{
	struct lsignal *s = check_signal(L, 1);
	if (s->active)
		ev_ref(s->w.eng->loop->ev);
	signal_close(s);
	return 0;
}

static int lsignal_gc(lua_State *L)
{
	struct lsignal *s = check_signal(L, 1);
	if (s->active) {
		ev_ref(s->w.eng->loop->ev);
		ev_signal_stop(s->w.eng->loop->ev, &s->sig);
		signal_owner[s->sig.signum] = NULL;
		s->active = false;
	}
	rsl_waiter_drop(&s->w);
	return 0;
}

void rsl_open_timer(lua_State *L)
{
	static const luaL_Reg meta[] = { { "__gc", ltimer_gc }, { NULL, NULL } };
	static const luaL_Reg methods[] = { { NULL, NULL } };
	static const luaL_Reg funcs[] = {
		{ "sleep", ltimer_sleep }, { "spawn", ltimer_spawn },
		{ "step", ltimer_step }, { "now", ltimer_now },
		{ "wallclock", ltimer_wallclock }, { "yieldable", ltimer_yieldable },
		{ "watchdog", ltimer_watchdog }, { "signal", ltimer_signal },
		{ NULL, NULL },
	};
	static const luaL_Reg sig_methods[] = {
		{ "wait", lsignal_wait }, { "close", lsignal_close }, { NULL, NULL },
	};
	static const luaL_Reg sig_meta[] = {
		{ "__gc", lsignal_gc }, { "__close", lsignal_close }, { NULL, NULL },
	};
	rsl_new_class(L, RSL_MT_TIMER, methods, meta);
	rsl_new_class(L, RSL_MT_SIGNAL, sig_methods, sig_meta);
	luaL_setfuncs(L, funcs, 0);
}
