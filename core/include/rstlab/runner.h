/*
 * rstlab for C programs: load scenario scripts, run them, read the results,
 * without touching Lua.
 *
 * A runner (struct rsl_runner) does what the rstlab program does: it runs
 * each scenario in a forked child process of its own, in a fresh network
 * namespace, at most `jobs` working at once, and kills a child that outlives its
 * timeout. Results come back as data (status, message, duration, pcap
 * paths, unchecked clauses), never as text to parse. The runner keeps a
 * private Lua state of its own; nothing here needs a Lua header.
 *
 *   struct rsl_runner *r;
 *   char err[RSL_ERRLEN];
 *   if (rsl_runner_new(NULL, &r, err, sizeof err) != RSL_OK) { puts(err); return 1; }
 *   if (rsl_runner_load_file(r, "scripts/rst.lua") != RSL_OK
 *       || rsl_runner_run(r, NULL) != RSL_OK)
 *           puts(rsl_runner_error(r));
 *   for (size_t i = 0; i < rsl_runner_count(r); i++) {
 *           const struct rsl_result *res = rsl_runner_result(r, i);
 *           if (res != NULL)
 *                   printf("%s %s\n", rsl_status_name(rsl_result_status(res)),
 *                          rsl_result_name(res));
 *   }
 *   rsl_runner_free(r);
 *
 * Link: the rstlab_lua and rstlab_core libraries, Lua 5.4, libev, libpcap,
 * libnl-3 (route, idiag), libnftables and pthreads (pkg-config rstlab).
 *
 * Errors: fallible functions return RSL_OK (0) or a negative RSL_E* code
 * (rstlab.h) and keep a message in the runner (rsl_runner_error). Nothing
 * here exits the process or prints.
 *
 * Loops: a runner made by rsl_runner_new has a libev loop of its own, which
 * runs only inside its calls (load, run). One made by rsl_runner_new_on_loop
 * runs on the caller's libev loop: rsl_runner_start returns at once, the
 * scenarios run while the caller's loop runs, and callbacks report each
 * result and the end. The synchronous calls (load, run) work on such a
 * runner too: they run the caller's loop (ev_run ... EVRUN_ONCE, nested
 * when called from a callback of that loop) until they are done, so the
 * caller's other watchers keep firing meanwhile.
 *
 * Threads: a runner, and its loop, are used from one thread at a time.
 *
 * What a runner does to the process (everything else stays inside it):
 *  - It forks one child per scenario (and one per loaded script, to read
 *    what it declares). Children are process-group leaders, killed with
 *    the parent (PR_SET_PDEATHSIG), reaped by the runner through pidfds
 *    (no SIGCHLD handler; waitpid on their pids only). fflush(NULL) runs
 *    before each fork.
 *  - It installs no signal handler and does not ignore SIGPIPE.
 *  - As root, the first run sees whether the kernel's tcp_send_reset
 *    tracepoint can be read; when tracefs is not mounted at
 *    /sys/kernel/tracing it moves the process into a mount namespace of
 *    its own (for good) to mount it there. The scenario processes read the
 *    tracepoint with BPF programs of their own; the caller's process holds
 *    none.
 *  - Without a pcap directory, a run makes $TMPDIR/rstlab-PID-SERIAL-RUN
 *    (default /tmp) for the captures of failing scenarios, and removes it
 *    at its end when it is empty.
 * Two runners in one process share nothing but a counter that numbers
 * them (SERIAL above); each has its own Lua state, loop and children.
 */
#ifndef RSTLAB_RUNNER_H
#define RSTLAB_RUNNER_H

#include <rstlab/rstlab.h>

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop; /* libev's, for rsl_runner_new_on_loop */
struct rsl_runner;
struct rsl_result;

/* Where a scenario runs. */
enum rsl_isolation {
	RSL_ISOLATE_NAMESPACE = 0, /* its own process in a fresh network
	                              namespace (and port slice): the default,
	                              as the rstlab program runs it */
	RSL_ISOLATE_PROCESS = 1,   /* its own process, in the network namespace
	                              of the caller: the script's home host is
	                              the caller's (its lo, its firewall) */
};

struct rsl_runner_options {
	int jobs;               /* scenarios working at once, 1..1000; 0: the
	                           processors the caller may run on (its
	                           affinity, as nproc counts) */
	double timeout;         /* seconds a scenario may take unless its
	                           script says otherwise; 0: 30 */
	double time_scale;      /* every timeout, tolerance and quiet period
	                           times this (> 0); 0: 1 */
	const char *pcap_dir;   /* keep every scenario's capture there; NULL:
	                           only failing ones, in a directory of the
	                           run. Copied by rsl_runner_new. */
	bool strict;            /* a check that could not be made fails */
	enum rsl_isolation isolation;
	int max_waiting;        /* scenarios that wait (kernel timers, peers)
	                           beside the `jobs` that work, 0..150;
	                           0: 7 x jobs, at most 100; -1: none,
	                           exactly `jobs` at
	                           once */
};

/* Fill o with the defaults (all zero: see each field). */
RSL_API void rsl_runner_options_init(struct rsl_runner_options *o);

/* A runner with a libev loop of its own. o NULL: the defaults. On success
 * *out is the runner (caller frees with rsl_runner_free); otherwise *out
 * is NULL and err (RSL_ERRLEN bytes suffice) says why: RSL_EINVAL for a
 * bad option, RSL_ESYS when the Lua state or the loop cannot be made.
 *
 *   struct rsl_runner_options o;
 *   rsl_runner_options_init(&o);
 *   o.jobs = 2;
 *   if (rsl_runner_new(&o, &r, err, sizeof err) != RSL_OK) ...
 */
RSL_API int rsl_runner_new(const struct rsl_runner_options *o, struct rsl_runner **out,
                           char *err, size_t errlen);
/* The same, running on the caller's libev loop, which must outlive the
 * runner (free the runner first). See "Loops" above.
 *
 *   struct ev_loop *loop = ev_loop_new(0);
 *   rsl_runner_new_on_loop(NULL, loop, &r, err, sizeof err);
 */
RSL_API int rsl_runner_new_on_loop(const struct rsl_runner_options *o, struct ev_loop *loop,
                                   struct rsl_runner **out, char *err, size_t errlen);
/* Free the runner (NULL is fine), with its results and every string it
 * returned. During a run, its scenario processes are killed and reaped
 * first, and no callback is called. Not from inside one of its callbacks. */
RSL_API void rsl_runner_free(struct rsl_runner *r);
/* The message of the last failed call, "" when none. Owned by r, valid
 * until its next failing call or rsl_runner_free.
 *
 *   if (rsl_runner_load_file(r, path) != RSL_OK) fprintf(stderr, "%s\n", rsl_runner_error(r));
 */
RSL_API const char *rsl_runner_error(const struct rsl_runner *r);

/* ---- loading scripts ------------------------------------------------- */

/* Load a scenario script: its top level runs (in a child process, bounded
 * by the timeout) and its scenario() calls are added to the runner's list,
 * in declaration order. Blocks until that is done. RSL_ENOTFOUND when the
 * file cannot be opened, RSL_ELOAD when it does not compile, raises while
 * loading or declares no scenario (the message has file:line), RSL_EINVAL
 * when path was loaded already, RSL_EBUSY during a run or in a callback.
 *
 *   rsl_runner_load_file(r, "scripts/linger.lua");
 */
RSL_API int rsl_runner_load_file(struct rsl_runner *r, const char *path);
/* The same for a script given as text (NUL-terminated; copied). chunkname
 * stands for the file name: in messages ("name:3: ..."), as the result's
 * file, in pcap names. Two scripts may not share a chunk name.
 *
 *   rsl_runner_load_string(r, "scenario('x', function(t) end)", "inline.lua");
 */
RSL_API int rsl_runner_load_string(struct rsl_runner *r, const char *source,
                                   const char *chunkname);
/* How many scenarios are loaded. */
RSL_API size_t rsl_runner_count(const struct rsl_runner *r);
/* The file (or chunk name) and the name of scenario i (0-based, i <
 * count; NULL otherwise). Owned by r, valid until rsl_runner_free.
 *
 *   for (size_t i = 0; i < rsl_runner_count(r); i++)
 *           printf("%s: %s\n", rsl_runner_file(r, i), rsl_runner_name(r, i));
 */
RSL_API const char *rsl_runner_file(const struct rsl_runner *r, size_t i);
RSL_API const char *rsl_runner_name(const struct rsl_runner *r, size_t i);

/* ---- running ----------------------------------------------------------- */

/* Run every loaded scenario (name NULL) or each one called name (in every
 * script that declares it), and wait for the end. RSL_OK when the run took
 * place, whatever its scenarios' outcomes; RSL_ENOTFOUND when nothing is
 * called name (or nothing is loaded), RSL_EBUSY during a run or in a
 * callback, RSL_ESYS when the pcap directory cannot be made or the run
 * itself broke. The results of an earlier run are dropped at its start.
 *
 *   if (rsl_runner_run(r, "abortive close") != RSL_OK) ...
 */
RSL_API int rsl_runner_run(struct rsl_runner *r, const char *name);

/* Called when scenario i (its index in the loaded list) has finished;
 * res is rsl_runner_result(r, i). */
typedef void rsl_result_cb(struct rsl_runner *r, size_t i, const struct rsl_result *res,
                           void *ud);
/* Called once when the run has ended and its processes are reaped: rc is
 * RSL_OK, or RSL_ESYS when the run itself broke (rsl_runner_error says
 * why). The runner is idle from here on (rsl_runner_busy is false), but
 * like on_result this is a callback: start the next run after it has
 * returned (from another watcher of the loop), and never free the runner
 * inside it. */
typedef void rsl_done_cb(struct rsl_runner *r, int rc, void *ud);

/* Start running, as rsl_runner_run, and return at once: the scenarios run
 * while the loop runs (the caller's, for a runner on a host loop; for one
 * with its own loop, inside rsl_runner_wait). on_result (may be NULL) and
 * on_done (may be NULL) are called from that loop, never from inside
 * rsl_runner_start; ud is passed to them. Inside them, reading the runner
 * and its results, and rsl_runner_stop, are fine; loading, running and
 * waiting are not (RSL_EBUSY), nor is freeing. Same errors as rsl_runner_run, except those of the run.
 *
 *   rsl_runner_start(r, NULL, on_result, on_done, &state);
 *   ev_run(loop, 0);   // returns once nothing is left to do
 */
RSL_API int rsl_runner_start(struct rsl_runner *r, const char *name, rsl_result_cb *on_result,
                             rsl_done_cb *on_done, void *ud);
/* Run the loop until the run started has ended (RSL_OK at once when none
 * is). The run's own failure (what on_done got) is returned here too. */
RSL_API int rsl_runner_wait(struct rsl_runner *r);
/* Whether a run is in progress. */
RSL_API bool rsl_runner_busy(const struct rsl_runner *r);
/* Kill the running scenarios and start no more; they get no result. The
 * run still ends through on_done once the children are reaped. */
RSL_API void rsl_runner_stop(struct rsl_runner *r);

/* ---- results ------------------------------------------------------------ */

enum rsl_status {
	RSL_STATUS_PASS,    /* every check passed */
	RSL_STATUS_FAIL,    /* a check failed (or, strict, could not be made) */
	RSL_STATUS_ERROR,   /* the script raised, or its process died */
	RSL_STATUS_SKIP,    /* the script skipped itself (t:skip) */
	RSL_STATUS_TIMEOUT, /* it outlived its timeout (an error, by kind) */
};

/* "pass", "fail", "error", "skip", "timeout": a static string; NULL for a
 * value that is not a status. */
RSL_API const char *rsl_status_name(enum rsl_status s);

/* The result of scenario i in the last run, or NULL when it did not run
 * (not selected, stopped, i out of range) or has not finished yet. Owned
 * by r, valid until the next run starts or rsl_runner_free.
 *
 *   const struct rsl_result *res = rsl_runner_result(r, 0);
 */
RSL_API const struct rsl_result *rsl_runner_result(const struct rsl_runner *r, size_t i);
/* How many results of the last run have status s. */
RSL_API size_t rsl_runner_tally(const struct rsl_runner *r, enum rsl_status s);

/* Every string below is owned by the result (valid as long as it is).
 *
 *   printf("%s: %s: %s (%.3f s) %s\n", rsl_result_file(res), rsl_result_name(res),
 *          rsl_status_name(rsl_result_status(res)), rsl_result_duration(res),
 *          rsl_result_message(res) ? rsl_result_message(res) : "");
 */
RSL_API const char *rsl_result_file(const struct rsl_result *res);
RSL_API const char *rsl_result_name(const struct rsl_result *res);
RSL_API enum rsl_status rsl_result_status(const struct rsl_result *res);
/* What went wrong, or why it was skipped; NULL for a pass. */
RSL_API const char *rsl_result_message(const struct rsl_result *res);
/* The script's file:line the message is about, or NULL. */
RSL_API const char *rsl_result_where(const struct rsl_result *res);
/* Seconds the scenario ran (0 when it never started). */
RSL_API double rsl_result_duration(const struct rsl_result *res);
/* The pcap files written for it (one per capture), k < count. A failing
 * scenario keeps its captures; a passing one only with a pcap_dir. */
RSL_API size_t rsl_result_pcap_count(const struct rsl_result *res);
RSL_API const char *rsl_result_pcap(const struct rsl_result *res, size_t k);
/* The checks that could not be made ("x.lua:12: reason TCP_STATE:
 * unchecked (...)"), k < count: the engine never reports them as passed. */
RSL_API size_t rsl_result_unchecked_count(const struct rsl_result *res);
RSL_API const char *rsl_result_unchecked(const struct rsl_result *res, size_t k);

#ifdef __cplusplus
}
#endif
#endif
