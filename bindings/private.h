/*
 * Shared by the binding files: the engine record of a Lua state, the waiter
 * that parks a coroutine on the loop, metatable names and check helpers.
 */
#ifndef RSTLAB_BINDINGS_PRIVATE_H
#define RSTLAB_BINDINGS_PRIVATE_H

#include "internal.h"
#include "rstlab_lua.h"

#include <lauxlib.h>
#include <lua.h>

#define RSL_MT_SOCKET "rstlab.Socket"
#define RSL_MT_CAPTURE "rstlab.Capture"
#define RSL_MT_HOST "rstlab.Host"
#define RSL_MT_PROC "rstlab.Proc"
#define RSL_MT_TIMER "rstlab.Timer"
#define RSL_MT_SIGNAL "rstlab.Signal"
#define RSL_MT_ENGINE "rstlab.Engine"

/* One per Lua state: the loop every object of that state runs on. */
struct rsl_engine {
	struct rsl_loop *loop;
	lua_State *L;           /* the main thread: every resume starts here */
	int home_ns;            /* fd of the network namespace we started in */
	struct rsl_trace *trace;
	bool trace_tried;
	char trace_why[RSL_ERRLEN];
	char fatal[2048];       /* an error no actor caught (set by resume) */
};

/* A parked coroutine: waits for an fd, a deadline, or an explicit wake. */
struct rsl_waiter {
	ev_io io;
	ev_timer timer;
	struct rsl_engine *eng;
	int co;                 /* registry ref of the waiting coroutine, or LUA_NOREF */
	int anchor;             /* registry ref keeping the owning userdata alive */
	const char *result;     /* what the deferred wake will say */
};

RSL_HIDDEN struct rsl_engine *rsl_engine_get(lua_State *L);

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

/* A core error text as scripts see it: without the "rsl_<func>: " prefix
 * the core keeps for its own reports. */
RSL_HIDDEN const char *rsl_user_error(const char *text);
/* nil, "NAME: text", "NAME" for an errno. Returns 3. */
RSL_HIDDEN int rsl_push_errno(lua_State *L, int err, const char *text);
/* Parse an "ip:port" argument or raise with file:line. */
RSL_HIDDEN void rsl_check_addr(lua_State *L, int idx, bool allow_noport, struct rsl_addr *a);
RSL_HIDDEN void rsl_push_addr(lua_State *L, const struct rsl_addr *a);
RSL_HIDDEN void rsl_push_ip_port(lua_State *L, int family, const uint8_t ip[16], uint16_t port);

/* Run fn inside host's network namespace (the userdata at idx, or the
 * current one when idx is none/nil); fn's return value is passed through. */
RSL_HIDDEN int rsl_host_enter(lua_State *L, int idx);
RSL_HIDDEN void rsl_host_leave(lua_State *L, int saved);
/* The namespace fd of the host at idx: -1 for the home host (or nil). */
RSL_HIDDEN int rsl_host_nsfd(lua_State *L, int idx);

/* Register a metatable from methods and metamethods (__index = methods). */
RSL_HIDDEN void rsl_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                              const luaL_Reg *meta);

RSL_HIDDEN void rsl_open_socket(lua_State *L);
RSL_HIDDEN void rsl_open_capture(lua_State *L);
RSL_HIDDEN void rsl_open_host(lua_State *L);
RSL_HIDDEN void rsl_open_link(lua_State *L); /* called by rsl_open_host */
RSL_HIDDEN void rsl_open_proc(lua_State *L);
RSL_HIDDEN void rsl_open_sched(lua_State *L);

/* The embedded stdlib (generated): name, source, length; NULL-terminated. */
struct rsl_embedded {
	const char *name;       /* module name, e.g. "rstlab.expect" */
	const char *path;       /* chunk name for tracebacks */
	const char *src;
	size_t len;
};
extern const struct rsl_embedded rsl_stdlib[];

#endif
