/*
 * Work off the loop: one thread per piece of work that must block in the
 * kernel (a blocking socket's call, a close() that waits out SO_LINGER),
 * so the loop, and every other actor, timer and capture on it, goes on.
 *
 * A piece of work runs work(arg) in a thread of its own. When work returns,
 * the thread tells the loop through an ev_async (ev_async_send is the one
 * libev call that is safe from another thread), and the loop's callback
 * calls done(arg, false) on the loop's thread. The owner may stop waiting
 * first (a timeout, a close, the Lua state going away): rsl_worker_detach.
 * Then the loop is never touched again by that thread, and done(arg, true)
 * is called once work has returned, in whichever thread comes last: the
 * thread itself, or the detaching one if work had already returned. done
 * with detached = true must only let go of what arg holds (close an fd,
 * free memory), which is safe in any thread.
 *
 * The mutex orders the two ends: the thread sends the async only while
 * the work is attached, under the mutex; detach stops the async under it.
 * So a loop may be destroyed once every work on it is detached or done.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

enum { RUNNING, FINISHED, DETACHED };

struct rsl_worker {
	ev_async async;         /* started on loop while attached */
	struct ev_loop *loop;
	pthread_mutex_t mu;
	int state;              /* RUNNING, FINISHED, DETACHED; under mu */
	rsl_work_fn work;
	rsl_work_done_fn done;
	void *arg;
};

static void worker_free(struct rsl_worker *w)
{
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* The loop's side: the work returned while attached. */
static void async_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct rsl_worker *w = (struct rsl_worker *)((char *)a - offsetof(struct rsl_worker, async));
	ev_async_stop(loop, &w->async);
	/* The thread sent the async holding mu: wait until it let go. */
	pthread_mutex_lock(&w->mu);
	pthread_mutex_unlock(&w->mu);
	w->done(w->arg, false);
	worker_free(w);
}

static void *thread_main(void *p)
{
	struct rsl_worker *w = p;
	w->work(w->arg);
	pthread_mutex_lock(&w->mu);
	if (w->state == DETACHED) {
		pthread_mutex_unlock(&w->mu);
		w->done(w->arg, true);
		worker_free(w);
		return NULL;
	}
	w->state = FINISHED;
	ev_async_send(w->loop, &w->async);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int rsl_worker_start(struct rsl_loop *loop, rsl_work_fn work, rsl_work_done_fn done,
                     void *arg, struct rsl_worker **out)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int err;

	*out = NULL;
	struct rsl_worker *w = calloc(1, sizeof *w);
	if (w == NULL)
		return ENOMEM;
	w->loop = loop->ev;
	w->work = work;
	w->done = done;
	w->arg = arg;
	w->state = RUNNING;
	pthread_mutex_init(&w->mu, NULL);
	ev_async_init(&w->async, async_cb);
	ev_async_start(w->loop, &w->async);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Signals (the runner's SIGINT, the watchdog's timer) belong to the
	 * loop's thread: the worker is born with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&tid, &attr, thread_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		ev_async_stop(w->loop, &w->async);
		worker_free(w);
		return err;
	}
	*out = w;
	return 0;
}

void rsl_worker_detach(struct rsl_worker *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	int was = w->state;
	w->state = DETACHED;
	pthread_mutex_unlock(&w->mu);
	/* Stopping also clears a pending async: async_cb will not run. */
	ev_async_stop(w->loop, &w->async);
	if (was == FINISHED) {
		w->done(w->arg, true);
		worker_free(w);
	}
	/* RUNNING: the thread calls done and frees w when work returns. */
}
