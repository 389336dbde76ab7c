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

/* Format "func: message" into buf; used by every module to keep its last
 * error text in its object. */
RSL_HIDDEN void rsl_format_error(char *buf, size_t len, const char *func,
                                 const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define rsl_set_error(buf, ...) \
	rsl_format_error((buf), sizeof(buf), __func__, __VA_ARGS__)

#define RSL_ERRLEN 256

/* Write text to a file (a sysctl, a uid_map): 0, or -1 with errno. */
RSL_HIDDEN int rsl_write_text(const char *path, const char *text);
/* Bring lo up in the current network namespace (SIOCSIFFLAGS). */
RSL_HIDDEN int rsl_lo_up(char *err, size_t errlen);

#endif
