/*
 * Declarations shared between the files of the core (and the bindings,
 * which are part of the same library). Nothing here is installed.
 */
#ifndef RSTLAB_INTERNAL_H
#define RSTLAB_INTERNAL_H

#define RSTLAB_BUILDING 1
#include "rstlab/rstlab.h"

#include <ev.h>
#include <stdarg.h>

#define RSL_HIDDEN __attribute__((visibility("hidden")))

struct rsl_loop {
	struct ev_loop *ev;
};

/* Format an error message into buf (nothing when buf is NULL or len 0):
 * a sentence the user can read as it is, without the C function's name.
 * Used by every module to keep its last error text in its object or in
 * the caller's err/errlen buffer. */
RSL_HIDDEN void rsl_format_error(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define rsl_set_error(buf, ...) rsl_format_error((buf), sizeof(buf), __VA_ARGS__)

/* ---- the runner's plumbing: not for embedders --------------------------- */

/* A pool of tracing instances for a runner whose children come and go:
 * create instances/<name> with the event enabled (rsl_trace_destroy
 * removes it), and attach a reader to it (its pending lines are
 * discarded; closing the reader leaves the instance). One reader at a
 * time per instance. */
RSL_HIDDEN int rsl_trace_create(const char *name, char *err, size_t errlen);
RSL_HIDDEN int rsl_trace_attach(const char *name, struct rsl_trace **out, char *err,
                                size_t errlen);
RSL_HIDDEN void rsl_trace_destroy(const char *name);
/* Remove the instance of a process that died without doing it. */
RSL_HIDDEN void rsl_trace_remove_instance(int pid);
/* Remove the instances left by rstlab processes that no longer exist. */
RSL_HIDDEN void rsl_trace_sweep_stale(void);
/* In the runner, once: a private mount namespace for the calling process
 * (unshare(CLONE_NEWNS), mounts made private) with tracefs mounted, when
 * root and it is not mounted already, then a sweep of stale instances.
 * RSL_OK when tracing is available; RSL_EUNAVAIL or RSL_ESYS and a reason
 * in why when it will not be. */
RSL_HIDDEN int rsl_sandbox_prepare_tracing(char *why, size_t len);

/* ---- shared helpers of the core's files ---------------------------------- */

/* Write text to a file (a sysctl, a uid_map): 0, or -1 with errno. */
RSL_HIDDEN int rsl_write_text(const char *path, const char *text);
/* Bring lo up in the current network namespace (SIOCSIFFLAGS). */
RSL_HIDDEN int rsl_lo_up(char *err, size_t errlen);

#endif
