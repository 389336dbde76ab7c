/*
 * The one event loop of a scenario: a libev loop, plus the monotonic clock
 * every deadline is measured on, plus the error formatting helper shared by
 * all modules.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void rsl_format_error(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

struct rsl_loop *rsl_loop_new(void)
{
	struct rsl_loop *loop = calloc(1, sizeof *loop);
	if (loop == NULL)
		return NULL;
	/* A loop of our own (not ev_default_loop): an embedder may already
	 * use the default one, and each loop must be freeable. */
	loop->ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (loop->ev == NULL) {
		free(loop);
		return NULL;
	}
	return loop;
}

struct rsl_loop *rsl_loop_borrow(struct ev_loop *ev)
{
	struct rsl_loop *loop = calloc(1, sizeof *loop);
	if (loop == NULL)
		return NULL;
	loop->ev = ev;
	loop->borrowed = true;
	return loop;
}

void rsl_loop_free(struct rsl_loop *loop)
{
	if (loop == NULL)
		return;
	if (!loop->borrowed)
		ev_loop_destroy(loop->ev);
	free(loop);
}

void rsl_loop_step(struct rsl_loop *loop, bool block)
{
	ev_run(loop->ev, block ? EVRUN_ONCE : EVRUN_NOWAIT);
}

void *rsl_loop_ev(struct rsl_loop *loop)
{
	return loop->ev;
}

double rsl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
