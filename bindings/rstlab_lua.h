/*
 * rstlab for C programs that embed Lua: the one installed header that
 * mentions lua_State.
 *
 * luaopen_rstlab(L) returns the module table that `require "rstlab"` gives
 * a script (scenario(), run(), ...) and registers the embedded Lua stdlib in
 * package.preload, so no file needs to be installed beside the program.
 *
 * Each Lua state gets an engine of its own (a libev loop of its own, made
 * at the first open and freed with the state); several states may live in
 * one process, used from one thread at a time each. Opening changes
 * nothing outside the state. What some functions of rstlab.core do to the
 * whole process (besides what rstlab.h lists for the core):
 *  - watchdog(s, msg) installs a SIGALRM handler (sigaction) and arms
 *    ITIMER_REAL; disarming stops the timer and leaves the handler. Do not
 *    use SIGALRM or ITIMER_REAL yourself while scenarios run.
 *  - signal(signo) catches signo through libev (a handler, installed until
 *    the Signal is closed or collected); one engine per signal and process.
 *  - fork(module, arg) starts children in their own process groups, killed
 *    with the parent (PR_SET_PDEATHSIG), with SIGINT and SIGTERM at their
 *    defaults and only fds 0-2 and the report pipe (3) open; exit(code)
 *    ends the process at once (_exit), without finalizers.
 *  - sandbox_enter() and prepare_tracing() move the process into new
 *    namespaces for good (rstlab.h: rsl_sandbox_enter); hosts, sockets and
 *    captures on a host setns() the calling thread there and back.
 *  - Nothing here ignores SIGPIPE (sockets write with MSG_NOSIGNAL); the
 *    rstlab program does, so that a child writing its report to a parent
 *    that is gone fails with EPIPE instead of dying. An embedder that runs
 *    scenario processes may want the same.
 */
#ifndef RSTLAB_LUA_H
#define RSTLAB_LUA_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

__attribute__((visibility("default"))) int luaopen_rstlab(lua_State *L);
/* The C primitives alone ("rstlab.core"). */
__attribute__((visibility("default"))) int luaopen_rstlab_core(lua_State *L);

#ifdef __cplusplus
}
#endif
#endif
