/*
 * rstlab inside a program that runs its own libev loop: the runner is made
 * on that loop, rsl_runner_start returns at once, and the scenarios run
 * while the program's loop runs, beside its own watchers (here a timer
 * that ticks every 10 ms). A callback reports each scenario as it ends,
 * another the end of the run, which stops the loop.
 *
 *   ./build/examples/host_loop examples/new_scenario.lua [more.lua ...]
 *
 * Exits 0 when every scenario passed. (How often the timer fired depends
 * on how long the scenarios take: tests/core/test_lua_api.c checks that it
 * fires while scenarios run.)
 */
#include <rstlab/runner.h>

#include <ev.h>
#include <stdio.h>

struct app {
	struct ev_loop *loop;
	ev_timer tick;
	int ticks;              /* timer callbacks while the run was on */
	size_t finished;
	int rc;
	bool done;
};

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct app *app = w->data;
	app->ticks++;
}

static void on_result(struct rsl_runner *r, size_t i, const struct rsl_result *res, void *ud)
{
	struct app *app = ud;
	app->finished++;
	printf("%-7s %s: %s (%.3f s)\n", rsl_status_name(rsl_result_status(res)),
	       rsl_result_file(res), rsl_result_name(res), rsl_result_duration(res));
	if (rsl_result_message(res) != NULL)
		printf("        %s\n", rsl_result_message(res));
}

static void on_done(struct rsl_runner *r, int rc, void *ud)
{
	struct app *app = ud;
	app->rc = rc;
	app->done = true;
	if (rc != RSL_OK)
		fprintf(stderr, "host_loop: the run broke: %s\n", rsl_runner_error(r));
	ev_timer_stop(app->loop, &app->tick);
	ev_break(app->loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
	struct app app = { .rc = RSL_OK };
	char err[RSL_ERRLEN];
	struct rsl_runner *r = NULL;
	int status = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: host_loop FILE.lua...\n");
		return 2;
	}
	app.loop = ev_loop_new(EVFLAG_AUTO);
	if (app.loop == NULL)
		return 1;
	if (rsl_runner_new_on_loop(NULL, app.loop, &r, err, sizeof err) != RSL_OK) {
		fprintf(stderr, "host_loop: %s\n", err);
		goto out;
	}
	for (int i = 1; i < argc; i++) {
		if (rsl_runner_load_file(r, argv[i]) != RSL_OK) {
			fprintf(stderr, "host_loop: %s\n", rsl_runner_error(r));
			goto out;
		}
	}
	ev_timer_init(&app.tick, on_tick, 0.01, 0.01);
	app.tick.data = &app;
	ev_timer_start(app.loop, &app.tick);
	if (rsl_runner_start(r, NULL, on_result, on_done, &app) != RSL_OK) {
		fprintf(stderr, "host_loop: %s\n", rsl_runner_error(r));
		goto out;
	}
	ev_run(app.loop, 0);    /* the program's loop: the run happens here */
	printf("%zu of %zu scenarios finished, %zu passed; the program's timer fired %d times "
	       "meanwhile\n", app.finished, rsl_runner_count(r),
	       rsl_runner_tally(r, RSL_STATUS_PASS), app.ticks);
	if (app.done && app.rc == RSL_OK && rsl_runner_count(r) > 0
	    && rsl_runner_tally(r, RSL_STATUS_PASS) == rsl_runner_count(r))
		status = 0;
out:
	ev_timer_stop(app.loop, &app.tick);
	rsl_runner_free(r);    /* before the loop it runs on */
	ev_loop_destroy(app.loop);
	return status;
}
