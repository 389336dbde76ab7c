/*
 * The one private header of the bindings: what every type file shares.
 * Everything declared here is defined in lengine.c (the engine record of a
 * Lua state, the waiter that parks a coroutine on the loop, the failure
 * helper, address and host helpers, class registration), except the
 * rsl_open_* functions, one per type file, which only the module opener
 * (rstlab_lua.c) calls. A type file includes this header and nothing of
 * another type file or of the opener.
 */
#ifndef RSTLAB_BINDINGS_PRIVATE_H
#define RSTLAB_BINDINGS_PRIVATE_H

#include "internal.h"

#include <lauxlib.h>
#include <lua.h>

#define RSL_MT_SOCKET "rstlab.Socket"
#define RSL_MT_CAPTURE "rstlab.Capture"
#define RSL_MT_HOST "rstlab.Host"
#define RSL_MT_PROC "rstlab.Proc"
#define RSL_MT_TIMER "rstlab.Timer"
#define RSL_MT_SIGNAL "rstlab.Signal"
#define RSL_MT_ENGINE "rstlab.Engine"
#define RSL_MT_SPAWN "rstlab.Spawn"

/* ---- the engine: one per Lua state ------------------------------------ */

/* The loop every object of one Lua state runs on. */
struct rsl_engine {
	struct rsl_loop *loop;  /* owned */
	lua_State *L;           /* the main thread: every resume starts here */
	struct rsl_trace *trace;/* owned; this state's tcp_send_reset reader */
	bool trace_tried;
	char trace_why[RSL_ERRLEN];
	char fatal[2048];       /* an error no actor caught (set by resume) */
};

/* The engine of L's state, made by rsl_engine_open; raises if none. */
RSL_HIDDEN struct rsl_engine *rsl_engine_get(lua_State *L);
/* Make the engine of L's state if it has none yet (the module opener). */
RSL_HIDDEN void rsl_engine_open(lua_State *L);
/* Run L's engine on the embedder's libev loop instead of its own (the C
 * API's host loop): only right after opening, before any object is made
 * on the engine's loop. RSL_OK, or RSL_ESYS when out of memory. */
RSL_HIDDEN int rsl_engine_use_loop(lua_State *L, struct ev_loop *ev);
/* Resume co from the loop with nargs values on its stack. An error that
 * escapes it is kept in eng->fatal for step(). */
RSL_HIDDEN void rsl_engine_resume(struct rsl_engine *eng, lua_State *co, int nargs);
/* The coroutine being resumed from the loop right now, or NULL while the
 * loop waits. Safe to call from a signal handler (the watchdog). */
RSL_HIDDEN lua_State *rsl_engine_running(void);
/* Record the coroutine at idx as an actor: only actors may wait. */
RSL_HIDDEN void rsl_actor_add(lua_State *L, int idx);
/* Whether the running coroutine is an actor (may wait on the loop). */
RSL_HIDDEN bool rsl_is_actor(lua_State *L);
/* Park the running actor until fd is readable or timeout seconds pass
 * (ltimer.c): use as `return rsl_wait_readable(...)`; it resumes with
 * "ready" or "timeout". */
RSL_HIDDEN int rsl_wait_readable(lua_State *L, int fd, double timeout);

/* ---- waiters ------------------------------------------------------------ */

/* A parked coroutine: waits for an fd, a deadline, or an explicit wake. */
struct rsl_waiter {
	ev_io io;
	ev_timer timer;
	struct rsl_engine *eng;
	int co;                 /* registry ref of the waiting coroutine, or LUA_NOREF */
	int anchor;             /* registry ref keeping the owning userdata alive */
	const char *result;     /* what the deferred wake will say */
};

RSL_HIDDEN void rsl_waiter_init(struct rsl_waiter *w, struct rsl_engine *eng);
/* Park the running coroutine until fd is ready for events (EV_READ/EV_WRITE;
 * fd < 0 for none) or timeout seconds pass (< 0: no timeout). The object at
 * stack index owner is kept alive meanwhile. what names the object in the
 * "already waited on" error. Returns lua_yield's value: use as
 * `return rsl_waiter_wait(...)`. The coroutine resumes with one string:
 * "ready", "timeout" or "closed". */
RSL_HIDDEN int rsl_waiter_wait(lua_State *L, struct rsl_waiter *w, int owner,
                               const char *what, int fd, int events, double timeout);
/* Wake with result from the loop's next iteration (never resumes inline). */
RSL_HIDDEN void rsl_waiter_wake(struct rsl_waiter *w, const char *result);
/* Stop without resuming (the Lua state is going away). */
RSL_HIDDEN void rsl_waiter_drop(struct rsl_waiter *w);
RSL_HIDDEN bool rsl_waiter_busy(const struct rsl_waiter *w);

/* ---- failures ----------------------------------------------------------- */

/* The one builder of a failure: pushes nil, "CODE: detail", "CODE" and
 * returns 3. code is an errno name or one of rstlab's pseudo-codes (the
 * table of core/errname.c, rsl_code_text); a code not in it raises, since
 * that is a bug of the caller. detail NULL: the code's own sentence. */
RSL_HIDDEN int rsl_push_fail(lua_State *L, const char *code, const char *detail);
/* The result of a call that has no failure code: true (rc RSL_OK), or
 * nil, msg. Returns the number of values pushed. */
RSL_HIDDEN int rsl_push_status(lua_State *L, int rc, const char *msg);
/* rsl_push_fail for an errno: detail "what: strerror(err)" (what may be
 * NULL). */
RSL_HIDDEN int rsl_push_errno(lua_State *L, int err, const char *what);

/* The processors this process may run on (its affinity, as taskset or a
 * container's cpuset leaves it; what nproc counts), at least 1: the
 * default number of scenarios working at once (lproc.c). */
RSL_HIDDEN int rsl_cpu_count(void);

/* ---- addresses ---------------------------------------------------------- */

/* Parse an "ip:port" argument or raise with file:line. */
RSL_HIDDEN void rsl_check_addr(lua_State *L, int idx, bool allow_noport, struct rsl_addr *a);
/* "ip:port", or nil for an address never set (family 0). */
RSL_HIDDEN void rsl_push_addr(lua_State *L, const struct rsl_addr *a);
/* Set t.<name> = "ip:port" and t.<portname> = port in the table on top. */
RSL_HIDDEN void rsl_set_endpoint(lua_State *L, const char *name, const char *portname,
                                 int family, const uint8_t ip[16], uint16_t port);

/* ---- hosts -------------------------------------------------------------- */

/* The userdata of rstlab.Host (lhost.c builds it; the helpers below read
 * it, so that no type file needs another). */
struct rsl_lhost {
	int nsfd;               /* -1: the namespace the process runs in */
	struct rsl_nft *nft;    /* owned, made on first use */
	bool closed;
	char name[64];
};

/* The open host at idx, raising if it is not a host or is closed. */
RSL_HIDDEN struct rsl_lhost *rsl_check_host(lua_State *L, int idx);
/* The namespace fd of the host at idx: -1 for the home host (or nil). */
RSL_HIDDEN int rsl_host_nsfd(lua_State *L, int idx);
/* Enter the namespace of the host at idx (none/nil: stay) through core's
 * rsl_netns_enter; raises when that fails. Returns what rsl_host_leave
 * takes. */
RSL_HIDDEN int rsl_host_enter(lua_State *L, int idx);
/* Come back (rsl_netns_leave); failing to is not recoverable and raises. */
RSL_HIDDEN void rsl_host_leave(lua_State *L, int saved);

/* ---- classes ------------------------------------------------------------ */

/* Register a metatable from methods and metamethods (__index = methods). */
RSL_HIDDEN void rsl_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                              const luaL_Reg *meta);

/* ---- the type files: each adds its functions to the table on top ------- */

RSL_HIDDEN void rsl_open_engine(lua_State *L);  /* lengine.c: fail, errno_name, ... */
RSL_HIDDEN void rsl_open_socket(lua_State *L);  /* lsocket.c */
RSL_HIDDEN void rsl_open_capture(lua_State *L); /* lcapture.c */
RSL_HIDDEN void rsl_open_host(lua_State *L);    /* lhost.c */
RSL_HIDDEN void rsl_open_link(lua_State *L);    /* llink.c */
RSL_HIDDEN void rsl_open_timer(lua_State *L);   /* ltimer.c: timers, signals */
RSL_HIDDEN void rsl_open_trace(lua_State *L);   /* ltrace.c */
RSL_HIDDEN void rsl_open_sandbox(lua_State *L); /* lsandbox.c */
RSL_HIDDEN void rsl_open_craft(lua_State *L);   /* lcraft.c: crafted segments */
RSL_HIDDEN void rsl_open_json(lua_State *L);    /* ljson.c: json_encode */
RSL_HIDDEN void rsl_open_spawn(lua_State *L);   /* lspawn.c: spawned programs */
/* lproc.c. open_state opens the library in a forked child's new Lua
 * state (luaopen_rstlab, given by the opener: lproc.c does not call it). */
RSL_HIDDEN void rsl_open_proc(lua_State *L, lua_CFunction open_state);

#endif
