/*
 * Tests of core/worker.c: work that blocks runs in a thread of its own, the
 * loop goes on meanwhile, done() comes back on the loop's thread, and a
 * detached work never touches the loop again and is released in its thread.
 * The work blocks on a pipe the test writes to: no sleeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct fixture {
	struct rsl_loop *loop;
	int pipe[2];
};

/* One piece of work: reads a byte from fd. */
struct job {
	int fd;
	char got;
	int done_calls;
	bool detached;
	bool done_on_loop_thread;
	pthread_t loop_thread;
	sem_t finished;         /* posted by done */
	bool timer_fired_first; /* done came after the loop's timer fired */
	bool timer_fired;
};

static void job_work(void *arg)
{
	struct job *j = arg;
	if (read(j->fd, &j->got, 1) != 1)
		j->got = '?';
}

static void job_done(void *arg, bool detached)
{
	struct job *j = arg;
	j->done_calls++;
	j->detached = detached;
	j->done_on_loop_thread = pthread_equal(pthread_self(), j->loop_thread);
	j->timer_fired_first = j->timer_fired;
	sem_post(&j->finished);
}

static void job_init(struct job *j, int fd)
{
	memset(j, 0, sizeof *j);
	j->fd = fd;
	j->loop_thread = pthread_self();
	sem_init(&j->finished, 0, 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->loop = rsl_loop_new();
	assert_non_null(f->loop);
	assert_int_equal(pipe(f->pipe), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rsl_loop_free(f->loop);
	close(f->pipe[0]);
	close(f->pipe[1]);
	free(f);
	return 0;
}

static void test_worker_done_on_the_loop(void **state)
{
	struct fixture *f = *state;
	struct rsl_worker *w;
	struct job j;
	job_init(&j, f->pipe[0]);
	assert_int_equal(rsl_worker_start(f->loop, job_work, job_done, &j, &w), 0);
	assert_non_null(w);
	assert_int_equal(write(f->pipe[1], "x", 1), 1);
	while (j.done_calls == 0)
		rsl_loop_step(f->loop, true);
	assert_int_equal(j.done_calls, 1);
	assert_false(j.detached);
	assert_true(j.done_on_loop_thread);
	assert_int_equal(j.got, 'x');
	sem_destroy(&j.finished);
}

/* The timer's callback releases the work: it can only run if the loop
 * runs while the work blocks. */
struct release {
	ev_timer timer;
	struct job *job;
	int fd;
};

static void release_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct release *r = (struct release *)t;
	r->job->timer_fired = true;
	if (write(r->fd, "y", 1) != 1)
		fail_msg("write to the pipe");
}

static void test_worker_loop_runs_while_work_blocks(void **state)
{
	struct fixture *f = *state;
	struct rsl_worker *w;
	struct job j;
	struct release r = { .job = &j, .fd = f->pipe[1] };
	job_init(&j, f->pipe[0]);
	ev_timer_init(&r.timer, release_cb, 0.01, 0);
	ev_timer_start(rsl_loop_ev(f->loop), &r.timer);
	assert_int_equal(rsl_worker_start(f->loop, job_work, job_done, &j, &w), 0);
	while (j.done_calls == 0)
		rsl_loop_step(f->loop, true);
	assert_true(j.timer_fired_first);
	assert_int_equal(j.got, 'y');
	assert_false(j.detached);
	sem_destroy(&j.finished);
}

static void test_worker_detached_while_running(void **state)
{
	struct fixture *f = *state;
	struct rsl_worker *w;
	struct job j;
	job_init(&j, f->pipe[0]);
	assert_int_equal(rsl_worker_start(f->loop, job_work, job_done, &j, &w), 0);
	rsl_worker_detach(w);
	assert_int_equal(j.done_calls, 0); /* still blocked in read */
	assert_int_equal(write(f->pipe[1], "z", 1), 1);
	assert_int_equal(sem_wait(&j.finished), 0);
	assert_int_equal(j.done_calls, 1);
	assert_true(j.detached);
	assert_false(j.done_on_loop_thread);
	/* Nothing comes back to the loop. */
	rsl_loop_step(f->loop, false);
	assert_int_equal(j.done_calls, 1);
	sem_destroy(&j.finished);
}

static void test_worker_detach_null(void **state)
{
	rsl_worker_detach(NULL);
	assert_true(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_worker_done_on_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_loop_runs_while_work_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_detached_while_running, setup, teardown),
		cmocka_unit_test(test_worker_detach_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
