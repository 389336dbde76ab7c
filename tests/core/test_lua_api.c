/*
 * Tests of the C API, <rstlab/runner.h> (bindings/api.c over
 * rstlab.runner.api): lifecycle, errors (missing file, syntax error with
 * file:line, unknown scenario, bad options), results read back field by
 * field, isolation, two runners in one process, a run on the test's own
 * libev loop. Every run is real: forked children in fresh network
 * namespaces. Only the public header is used.
 *
 * The teardown checks that a runner leaves nothing behind: no child
 * process, no file descriptor, no BPF program held by this process.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <rstlab/runner.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ev.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- what a runner must leave behind: nothing ----------------------------- */

/* Open descriptors, asked of the kernel one by one (not through /proc,
 * so that the count cannot silently fail). */
static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* BPF programs this process holds (an fd whose fdinfo has "prog_id:"):
 * RST reasons are read by the scenario processes, never here. */
static int count_instances(void)
{
	char path[300], line[128];
	int n = 0;
	DIR *d = opendir("/proc/self/fdinfo");
	if (d == NULL)
		return 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/fdinfo/%s", de->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof line, f) != NULL)
			n += strncmp(line, "prog_id:", 8) == 0;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Run directories of this process's runners ($TMPDIR/rstlab-PID-...):
 * a run removes its own when no failing scenario left a capture in it. */
static int count_run_dirs(void)
{
	const char *tmp = getenv("TMPDIR");
	char prefix[64];
	int n = 0;
	DIR *d = opendir(tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	assert_non_null(d);
	snprintf(prefix, sizeof prefix, "rstlab-%d-", (int)getpid());
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

struct fixture {
	int fds;
	struct rsl_runner *r;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[RSL_ERRLEN];
	if (f == NULL)
		return -1;
	f->fds = count_fds();
	if (rsl_runner_new(NULL, &f->r, err, sizeof err) != RSL_OK) {
		fprintf(stderr, "rsl_runner_new: %s\n", err);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static void assert_nothing_left(int fds)
{
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(count_fds(), fds);
	assert_int_equal(count_instances(), 0);
	assert_int_equal(count_run_dirs(), 0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rsl_runner_free(f->r);
	assert_nothing_left(f->fds);
	free(f);
	return 0;
}

static bool contains(const char *s, const char *part)
{
	return s != NULL && strstr(s, part) != NULL;
}

#define assert_contains(s, part) \
	do { \
		const char *s_ = (s); \
		if (!contains(s_, (part))) \
			fail_msg("\"%s\" does not contain \"%s\"", s_ ? s_ : "(null)", (part)); \
	} while (0)

/* ---- lifecycle -------------------------------------------------------------- */

static void test_api_lifecycle(void **state)
{
	struct rsl_runner_options o;
	struct rsl_runner *r;
	char err[RSL_ERRLEN] = "";
	int fds = count_fds();

	rsl_runner_options_init(&o);
	assert_int_equal(o.jobs, 0);
	assert_true(o.timeout == 0 && o.time_scale == 0);
	assert_null(o.pcap_dir);
	assert_false(o.strict);
	assert_int_equal(o.isolation, RSL_ISOLATE_NAMESPACE);

	assert_int_equal(rsl_runner_new(&o, &r, err, sizeof err), RSL_OK);
	assert_non_null(r);
	assert_string_equal(rsl_runner_error(r), "");
	assert_int_equal(rsl_runner_count(r), 0);
	assert_null(rsl_runner_file(r, 0));
	assert_null(rsl_runner_name(r, 0));
	assert_null(rsl_runner_result(r, 0));
	assert_false(rsl_runner_busy(r));
	assert_int_equal(rsl_runner_wait(r), RSL_OK); /* no run: at once */
	/* Nothing loaded: nothing to run, said so. */
	assert_int_equal(rsl_runner_run(r, NULL), RSL_ENOTFOUND);
	assert_contains(rsl_runner_error(r), "no scenario is loaded");
	rsl_runner_free(r);
	rsl_runner_free(NULL);
	assert_nothing_left(fds);

	assert_string_equal(rsl_status_name(RSL_STATUS_PASS), "pass");
	assert_string_equal(rsl_status_name(RSL_STATUS_TIMEOUT), "timeout");
	assert_null(rsl_status_name((enum rsl_status)42));
}

/* ---- errors ------------------------------------------------------------------- */

static void expect_bad(struct rsl_runner_options *o, const char *part)
{
	struct rsl_runner *r = (struct rsl_runner *)&r; /* must be set to NULL */
	char err[RSL_ERRLEN] = "";
	assert_int_equal(rsl_runner_new(o, &r, err, sizeof err), RSL_EINVAL);
	assert_null(r);
	assert_contains(err, part);
	rsl_runner_options_init(o);
}

static void test_api_bad_options(void **state)
{
	struct rsl_runner_options o;
	struct rsl_runner *r = NULL;
	char err[RSL_ERRLEN] = "";
	int fds = count_fds();

	rsl_runner_options_init(&o);
	o.jobs = -1;
	expect_bad(&o, "jobs must be 1..1000");
	o.jobs = 1001;
	expect_bad(&o, "got 1001");
	o.timeout = -2;
	expect_bad(&o, "timeout must be a positive number");
	o.timeout = NAN;
	expect_bad(&o, "timeout");
	o.time_scale = -1;
	expect_bad(&o, "time_scale");
	o.isolation = (enum rsl_isolation)7;
	expect_bad(&o, "isolation must be");
	o.max_waiting = -2;
	expect_bad(&o, "max_waiting must be -1..150");
	o.max_waiting = 151;
	expect_bad(&o, "got 151");
	o.pcap_dir = "";
	expect_bad(&o, "pcap_dir is empty");
	assert_int_equal(rsl_runner_new_on_loop(NULL, NULL, &r, err, sizeof err), RSL_EINVAL);
	assert_null(r);
	assert_contains(err, "loop is NULL");
	/* A pcap directory that cannot be made is found at the run. */
	o.pcap_dir = "/proc/rstlab-cannot-be-made";
	assert_int_equal(rsl_runner_new(&o, &r, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_runner_load_string(r, "scenario('p', function(t) end)", "p.lua"),
	                 RSL_OK);
	assert_int_equal(rsl_runner_run(r, NULL), RSL_ESYS);
	assert_contains(rsl_runner_error(r), "cannot make the pcap directory /proc/rstlab-cannot-be-made");
	assert_false(rsl_runner_busy(r));
	rsl_runner_free(r);
	assert_nothing_left(fds);
}

static void test_api_missing_file(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(rsl_runner_load_file(f->r, "/nonexistent/rstlab/x.lua"), RSL_ENOTFOUND);
	assert_contains(rsl_runner_error(f->r), "/nonexistent/rstlab/x.lua");
	assert_contains(rsl_runner_error(f->r), "No such file or directory");
	assert_int_equal(rsl_runner_count(f->r), 0);
	assert_int_equal(rsl_runner_load_file(f->r, ""), RSL_EINVAL);
	assert_int_equal(rsl_runner_load_string(f->r, NULL, "x.lua"), RSL_EINVAL);
}

static void test_api_syntax_error(void **state)
{
	struct fixture *f = *state;
	struct rsl_runner *r = f->r;
	char path[] = "/tmp/rstlab-test-api-XXXXXX.lua";

	/* A string: the chunk name and the line. */
	assert_int_equal(rsl_runner_load_string(r, "scenario('x', function(t)\n"
	                                           "  local = 1\n"
	                                           "end)\n", "broken.lua"), RSL_ELOAD);
	assert_contains(rsl_runner_error(r), "broken.lua:2:");
	/* A file: its path and the line. */
	int fd = mkstemps(path, 4);
	assert_true(fd >= 0);
	const char text[] = "-- a comment\n\nlocal = 1\nscenario('y', function(t) end)\n";
	assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
	close(fd);
	assert_int_equal(rsl_runner_load_file(r, path), RSL_ELOAD);
	char where[64];
	snprintf(where, sizeof where, "%s:3:", path);
	assert_contains(rsl_runner_error(r), where);
	unlink(path);
	/* A top level that raises: where it raised. */
	assert_int_equal(rsl_runner_load_string(r, "local x = 1\n\nerror('boom at the top')\n",
	                                        "raises.lua"), RSL_ELOAD);
	assert_contains(rsl_runner_error(r), "raises.lua:3: boom at the top");
	/* One that declares nothing. */
	assert_int_equal(rsl_runner_load_string(r, "local x = 1\n", "empty.lua"), RSL_ELOAD);
	assert_contains(rsl_runner_error(r), "empty.lua: declares no scenario");
	assert_int_equal(rsl_runner_count(r), 0);
	/* The same chunk name twice. */
	assert_int_equal(rsl_runner_load_string(r, "scenario('a', function(t) end)", "twice.lua"),
	                 RSL_OK);
	assert_int_equal(rsl_runner_load_string(r, "scenario('b', function(t) end)", "twice.lua"),
	                 RSL_EINVAL);
	assert_contains(rsl_runner_error(r), "twice.lua: already loaded");
	assert_int_equal(rsl_runner_count(r), 1);

	/* A top level that never ends: its child is killed at the deadline. */
	struct rsl_runner_options o;
	struct rsl_runner *quick;
	char err[RSL_ERRLEN];
	rsl_runner_options_init(&o);
	o.timeout = 0.2;
	assert_int_equal(rsl_runner_new(&o, &quick, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_runner_load_string(quick, "while true do end\n", "spins.lua"), RSL_ELOAD);
	assert_contains(rsl_runner_error(quick), "loading the file did not finish");
	assert_int_equal(rsl_runner_count(quick), 0);
	rsl_runner_free(quick);
}

static void test_api_unknown_name(void **state)
{
	struct fixture *f = *state;
	struct rsl_runner *r = f->r;
	assert_int_equal(rsl_runner_load_string(r, "scenario('known', function(t) end)", "k.lua"),
	                 RSL_OK);
	assert_int_equal(rsl_runner_run(r, "unknown one"), RSL_ENOTFOUND);
	assert_contains(rsl_runner_error(r), "no scenario named \"unknown one\" is loaded");
	assert_null(rsl_runner_result(r, 0));
	/* The runner is still usable: the known one runs. */
	assert_int_equal(rsl_runner_run(r, "known"), RSL_OK);
	assert_non_null(rsl_runner_result(r, 0));
	assert_int_equal(rsl_result_status(rsl_runner_result(r, 0)), RSL_STATUS_PASS);
}

/* ---- results ------------------------------------------------------------------ */

static const char results_lua[] =
	"scenario('passes', function(t)\n"                              /* 1 */
	"  local cap = assert(t.host:capture())\n"
	"  local srv = assert(t.host:listen('127.0.0.1:0'))\n"
	"  local cli = assert(t.host:connect(srv.addr))\n"
	"  local conn = assert(srv:accept())\n"                         /* 5 */
	"  assert(cli:write('hello'))\n"
	"  t:eq(conn:read(5), 'hello')\n"
	"end)\n"
	"scenario('fails', function(t)\n"
	"  local cap = assert(t.host:capture())\n"                      /* 10 */
	"  local srv = assert(t.host:listen('127.0.0.1:0'))\n"
	"  local cli = assert(t.host:connect(srv.addr))\n"
	"  local conn = assert(srv:accept())\n"
	"  assert(cli:write('hello'))\n"
	"  t:eq(conn:read(5), 'goodbye', 'what the server read')\n"   /* 15 */
	"end)\n"
	"scenario('skips', function(t) t:skip('not today') end)\n"
	"scenario('raises', function(t)\n"
	"  error('a bug in the script')\n"                             /* 19 */
	"end)\n"
	"scenario('sleeps too long', function(t)\n"
	"  t:sleep(10)\n"                                              /* 22 */
	"end, { timeout = 0.3 })\n";

static void test_api_results(void **state)
{
	struct fixture *f = *state;
	struct rsl_runner *r = f->r;
	const struct rsl_result *res;
	struct stat st;

	assert_int_equal(rsl_runner_load_string(r, results_lua, "results.lua"), RSL_OK);
	assert_int_equal(rsl_runner_count(r), 5);
	const char *names[] = { "passes", "fails", "skips", "raises", "sleeps too long" };
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(rsl_runner_file(r, i), "results.lua");
		assert_string_equal(rsl_runner_name(r, i), names[i]);
	}
	assert_null(rsl_runner_name(r, 5));
	assert_int_equal(rsl_runner_run(r, NULL), RSL_OK);
	assert_false(rsl_runner_busy(r));
	assert_int_equal(rsl_runner_tally(r, RSL_STATUS_PASS), 1);
	assert_int_equal(rsl_runner_tally(r, RSL_STATUS_FAIL), 1);
	assert_int_equal(rsl_runner_tally(r, RSL_STATUS_SKIP), 1);
	assert_int_equal(rsl_runner_tally(r, RSL_STATUS_ERROR), 1);
	assert_int_equal(rsl_runner_tally(r, RSL_STATUS_TIMEOUT), 1);

	res = rsl_runner_result(r, 0);
	assert_non_null(res);
	assert_string_equal(rsl_result_file(res), "results.lua");
	assert_string_equal(rsl_result_name(res), "passes");
	assert_int_equal(rsl_result_status(res), RSL_STATUS_PASS);
	assert_null(rsl_result_message(res));
	assert_null(rsl_result_where(res));
	assert_true(rsl_result_duration(res) > 0 && rsl_result_duration(res) < 5);
	assert_int_equal(rsl_result_pcap_count(res), 0); /* passing, no pcap_dir */
	assert_null(rsl_result_pcap(res, 0));
	assert_int_equal(rsl_result_unchecked_count(res), 0);
	assert_null(rsl_result_unchecked(res, 0));

	res = rsl_runner_result(r, 1);
	assert_non_null(res);
	assert_string_equal(rsl_result_name(res), "fails");
	assert_int_equal(rsl_result_status(res), RSL_STATUS_FAIL);
	assert_contains(rsl_result_message(res), "what the server read");
	assert_contains(rsl_result_message(res), "goodbye");
	assert_contains(rsl_result_message(res), "hello");
	assert_string_equal(rsl_result_where(res), "results.lua:15");
	assert_true(rsl_result_duration(res) > 0 && rsl_result_duration(res) < 5);
	/* A failing scenario keeps its capture: a pcap file with packets. */
	assert_int_equal(rsl_result_pcap_count(res), 1);
	const char *pcap = rsl_result_pcap(res, 0);
	assert_contains(pcap, "/results-fails.pcap");
	assert_int_equal(stat(pcap, &st), 0);
	assert_true(st.st_size > 24); /* more than the pcap file header */
	FILE *fp = fopen(pcap, "rb");
	unsigned char magic[4];
	assert_non_null(fp);
	assert_int_equal(fread(magic, 1, 4, fp), 4);
	fclose(fp);
	assert_true(memcmp(magic, "\xd4\xc3\xb2\xa1", 4) == 0 || memcmp(magic, "\x4d\x3c\xb2\xa1", 4) == 0
	            || memcmp(magic, "\xa1\xb2\xc3\xd4", 4) == 0 || memcmp(magic, "\xa1\xb2\x3c\x4d", 4) == 0);
	assert_int_equal(rsl_result_unchecked_count(res), 0);

	res = rsl_runner_result(r, 2);
	assert_int_equal(rsl_result_status(res), RSL_STATUS_SKIP);
	assert_string_equal(rsl_result_message(res), "not today");
	assert_string_equal(rsl_result_where(res), "results.lua:17");

	res = rsl_runner_result(r, 3);
	assert_int_equal(rsl_result_status(res), RSL_STATUS_ERROR);
	assert_contains(rsl_result_message(res), "results.lua:19: a bug in the script");

	res = rsl_runner_result(r, 4);
	assert_int_equal(rsl_result_status(res), RSL_STATUS_TIMEOUT);
	assert_contains(rsl_result_message(res), "scenario timed out after 0.3 s");
	assert_contains(rsl_result_message(res), "results.lua:22");
	assert_true(rsl_result_duration(res) >= 0.3 && rsl_result_duration(res) < 5);

	/* The failing scenario's capture stays where the result says: the
	 * caller removes it (and the run's directory). */
	char dir[512];
	snprintf(dir, sizeof dir, "%s", pcap);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(unlink(pcap), 0);
	assert_int_equal(rmdir(dir), 0);

	/* One by name: only it has a result; the earlier run's are gone. */
	assert_int_equal(rsl_runner_run(r, "skips"), RSL_OK);
	assert_null(rsl_runner_result(r, 0));
	assert_null(rsl_runner_result(r, 1));
	assert_non_null(rsl_runner_result(r, 2));
	assert_int_equal(rsl_result_status(rsl_runner_result(r, 2)), RSL_STATUS_SKIP);
	assert_int_equal(rsl_runner_tally(r, RSL_STATUS_FAIL), 0);
}

/* With a pcap directory every scenario keeps its captures; a check that
 * cannot be made is reported as unchecked, never as passed. */
static void test_api_pcap_dir_and_unchecked(void **state)
{
	struct rsl_runner_options o;
	struct rsl_runner *r;
	char err[RSL_ERRLEN], dir[] = "/tmp/rstlab-test-api-XXXXXX", pcap[600];
	int fds = count_fds();
	const char *name = "the firewall's RST right after a dropped one: the reason is unchecked, "
	                   "not borrowed";

	assert_non_null(mkdtemp(dir));
	rsl_runner_options_init(&o);
	o.pcap_dir = dir;
	o.jobs = 1;
	assert_int_equal(rsl_runner_new(&o, &r, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_runner_load_file(r, RSTLAB_TEST_DATA "/../reasons/borrowed.lua"), RSL_OK);
	assert_int_equal(rsl_runner_run(r, name), RSL_OK);
	size_t i = 0;
	while (i < rsl_runner_count(r) && strcmp(rsl_runner_name(r, i), name) != 0)
		i++;
	const struct rsl_result *res = rsl_runner_result(r, i);
	assert_non_null(res);
	if (rsl_result_status(res) != RSL_STATUS_PASS)
		fail_msg("%s", rsl_result_message(res));
	assert_int_equal(rsl_result_unchecked_count(res), 1);
	assert_contains(rsl_result_unchecked(res, 0), "reason TCP_STATE unchecked");
	assert_contains(rsl_result_unchecked(res, 0), "borrowed.lua:");
	/* Passing, and still kept: the pcap directory was given. */
	assert_int_equal(rsl_result_pcap_count(res), 1);
	snprintf(pcap, sizeof pcap, "%s/", dir);
	assert_true(strncmp(rsl_result_pcap(res, 0), pcap, strlen(pcap)) == 0);
	assert_int_equal(access(rsl_result_pcap(res, 0), R_OK), 0);
	assert_int_equal(unlink(rsl_result_pcap(res, 0)), 0);
	rsl_runner_free(r);
	assert_int_equal(rmdir(dir), 0); /* nothing else was left in it */
	assert_nothing_left(fds);
}

/* strict: an unchecked clause fails the scenario. timeout: the default of
 * a scenario without its own; time_scale multiplies both kinds. */
static void test_api_strict_timeout_time_scale(void **state)
{
	struct rsl_runner_options o;
	struct rsl_runner *r;
	char err[RSL_ERRLEN];
	int fds = count_fds();
	const char *name = "the firewall's RST right after a dropped one: the reason is unchecked, "
	                   "not borrowed";

	rsl_runner_options_init(&o);
	o.strict = true;
	/* 3 s for a scenario without a timeout of its own: the one named above
	 * (three hosts, nft rules) must end well within it, under ASan and
	 * beside the others (they wait, so all run at once) */
	o.timeout = 1.5;
	o.time_scale = 2;
	assert_int_equal(rsl_runner_new(&o, &r, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_runner_load_file(r, RSTLAB_TEST_DATA "/../reasons/borrowed.lua"), RSL_OK);
	assert_int_equal(rsl_runner_load_string(r, "scenario('own timeout', function(t) t:sleep(10) end,"
	                                           " { timeout = 0.3 })\n"
	                                           "scenario('default timeout', function(t) t:sleep(10) end)\n",
	                                        "slow.lua"), RSL_OK);
	assert_int_equal(rsl_runner_run(r, NULL), RSL_OK);
	for (size_t i = 0; i < rsl_runner_count(r); i++) {
		const struct rsl_result *res = rsl_runner_result(r, i);
		assert_non_null(res);
		if (strcmp(rsl_runner_name(r, i), name) == 0) {
			/* passes without strict: test_api_pcap_dir_and_unchecked */
			assert_int_equal(rsl_result_status(res), RSL_STATUS_FAIL);
			assert_contains(rsl_result_message(res), "1 check could not be made");
			assert_int_equal(rsl_result_unchecked_count(res), 1);
			/* a failing scenario keeps its capture: remove it */
			assert_int_equal(rsl_result_pcap_count(res), 1);
			assert_int_equal(unlink(rsl_result_pcap(res, 0)), 0);
		} else if (strcmp(rsl_runner_name(r, i), "own timeout") == 0) {
			assert_int_equal(rsl_result_status(res), RSL_STATUS_TIMEOUT);
			assert_contains(rsl_result_message(res), "scenario timed out after 0.6 s");
		} else if (strcmp(rsl_runner_name(r, i), "default timeout") == 0) {
			assert_int_equal(rsl_result_status(res), RSL_STATUS_TIMEOUT);
			assert_contains(rsl_result_message(res), "scenario timed out after 3 s");
		} else if (rsl_result_pcap_count(res) > 0) {
			/* borrowed.lua's other scenario, strict too: remove any capture */
			assert_int_equal(unlink(rsl_result_pcap(res, 0)), 0);
		}
	}
	/* the run's directory, emptied above */
	const struct rsl_result *first = NULL;
	for (size_t i = 0; i < rsl_runner_count(r) && first == NULL; i++)
		if (rsl_result_pcap_count(rsl_runner_result(r, i)) > 0)
			first = rsl_runner_result(r, i);
	assert_non_null(first);
	char dir[512];
	snprintf(dir, sizeof dir, "%s", rsl_result_pcap(first, 0));
	*strrchr(dir, '/') = '\0';
	assert_int_equal(rmdir(dir), 0);
	rsl_runner_free(r);
	assert_nothing_left(fds);
}

/* The default runs each scenario in a fresh network namespace: a port this
 * process holds on 127.0.0.1 is free there. RSL_ISOLATE_PROCESS runs it in
 * this process's namespace, where the kernel says EADDRINUSE. */
static void test_api_isolation(void **state)
{
	struct rsl_runner_options o;
	struct rsl_runner *r;
	char err[RSL_ERRLEN], script[512];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;
	int fds = count_fds();

	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	snprintf(script, sizeof script,
	         "scenario('listens on 127.0.0.1:%d', function(t)\n"
	         "  local srv, err = t.host:listen('127.0.0.1:%d')\n"
	         "  if not srv then t:fail(err) end\n"
	         "end)\n", ntohs(a.sin_port), ntohs(a.sin_port));

	for (int mode = RSL_ISOLATE_NAMESPACE; mode <= RSL_ISOLATE_PROCESS; mode++) {
		rsl_runner_options_init(&o);
		o.isolation = (enum rsl_isolation)mode;
		assert_int_equal(rsl_runner_new(&o, &r, err, sizeof err), RSL_OK);
		assert_int_equal(rsl_runner_load_string(r, script, "port.lua"), RSL_OK);
		assert_int_equal(rsl_runner_run(r, NULL), RSL_OK);
		const struct rsl_result *res = rsl_runner_result(r, 0);
		assert_non_null(res);
		if (mode == RSL_ISOLATE_NAMESPACE) {
			if (rsl_result_status(res) != RSL_STATUS_PASS)
				fail_msg("%s", rsl_result_message(res));
		} else {
			assert_int_equal(rsl_result_status(res), RSL_STATUS_FAIL);
			assert_contains(rsl_result_message(res), "EADDRINUSE");
			/* its capture-less failure keeps no pcap */
			assert_int_equal(rsl_result_pcap_count(res), 0);
		}
		rsl_runner_free(r);
	}
	close(s);
	assert_nothing_left(fds);
}

/* ---- two runners in one process -------------------------------------------- */

static const char sleeper_lua[] =
	"scenario('%s', function(t)\n"
	"  t:sleep(0.3)\n"
	"  t:eq('%s', 'right', 'which runner')\n"
	"end)\n";

static void test_api_two_runners(void **state)
{
	struct rsl_runner *a, *b;
	char err[RSL_ERRLEN], text[512];
	int fds = count_fds();

	assert_int_equal(rsl_runner_new(NULL, &a, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_runner_new(NULL, &b, err, sizeof err), RSL_OK);
	snprintf(text, sizeof text, sleeper_lua, "in a", "right");
	assert_int_equal(rsl_runner_load_string(a, text, "same.lua"), RSL_OK);
	snprintf(text, sizeof text, sleeper_lua, "in b", "wrong");
	assert_int_equal(rsl_runner_load_string(b, text, "same.lua"), RSL_OK);
	assert_int_equal(rsl_runner_count(a), 1);
	assert_int_equal(rsl_runner_count(b), 1);
	/* Both started; each runs inside its own wait. */
	assert_int_equal(rsl_runner_start(a, NULL, NULL, NULL, NULL), RSL_OK);
	assert_int_equal(rsl_runner_start(b, NULL, NULL, NULL, NULL), RSL_OK);
	assert_true(rsl_runner_busy(a) && rsl_runner_busy(b));
	assert_int_equal(rsl_runner_start(a, NULL, NULL, NULL, NULL), RSL_EBUSY);
	assert_contains(rsl_runner_error(a), "a run is already in progress");
	assert_string_equal(rsl_runner_error(b), "");
	assert_int_equal(rsl_runner_load_string(a, "scenario('z', function() end)", "z.lua"),
	                 RSL_EBUSY);
	assert_int_equal(rsl_runner_wait(a), RSL_OK);
	assert_false(rsl_runner_busy(a));
	assert_true(rsl_runner_busy(b));
	assert_int_equal(rsl_runner_wait(b), RSL_OK);

	const struct rsl_result *ra = rsl_runner_result(a, 0), *rb = rsl_runner_result(b, 0);
	assert_non_null(ra);
	assert_non_null(rb);
	assert_string_equal(rsl_result_name(ra), "in a");
	assert_string_equal(rsl_result_name(rb), "in b");
	assert_int_equal(rsl_result_status(ra), RSL_STATUS_PASS);
	assert_int_equal(rsl_result_status(rb), RSL_STATUS_FAIL);
	assert_contains(rsl_result_message(rb), "which runner");
	assert_int_equal(rsl_result_pcap_count(ra), 0);
	rsl_runner_free(a);
	/* b is untouched by a's end. */
	assert_string_equal(rsl_result_name(rsl_runner_result(b, 0)), "in b");
	assert_int_equal(rsl_runner_run(b, NULL), RSL_OK);
	assert_int_equal(rsl_result_status(rsl_runner_result(b, 0)), RSL_STATUS_FAIL);
	rsl_runner_free(b);
	assert_nothing_left(fds);
}

static void count_done(struct rsl_runner *r, int rc, void *ud)
{
	int *left = ud;
	if (rc == RSL_OK)
		(*left)--;
}

/* Two runners on one host loop run at once: a's scenario opens a FIFO for
 * reading, which blocks until b's scenario opens it for writing. Run one
 * after the other, a would be killed at its timeout. */
static void test_api_two_runners_one_loop(void **state)
{
	struct rsl_runner *a, *b;
	struct rsl_runner_options o;
	char err[RSL_ERRLEN], text[1024], dir[] = "/tmp/rstlab-test-api-XXXXXX", fifo[64];
	int fds = count_fds(), left = 2;

	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(loop);
	rsl_runner_options_init(&o);
	o.timeout = 5;
	assert_int_equal(rsl_runner_new_on_loop(&o, loop, &a, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_runner_new_on_loop(&o, loop, &b, err, sizeof err), RSL_OK);
	snprintf(text, sizeof text,
	         "scenario('reads', function(t)\n"
	         "  local f = assert(io.open('%s', 'r'))\n"
	         "  t:eq(f:read('a'), 'from b')\n"
	         "  f:close()\n"
	         "end)\n", fifo);
	assert_int_equal(rsl_runner_load_string(a, text, "reader.lua"), RSL_OK);
	snprintf(text, sizeof text,
	         "scenario('writes', function(t)\n"
	         "  local f = assert(io.open('%s', 'w'))\n"
	         "  assert(f:write('from b'))\n"
	         "  f:close()\n"
	         "end)\n", fifo);
	assert_int_equal(rsl_runner_load_string(b, text, "writer.lua"), RSL_OK);
	assert_int_equal(rsl_runner_start(a, NULL, NULL, count_done, &left), RSL_OK);
	assert_int_equal(rsl_runner_start(b, NULL, NULL, count_done, &left), RSL_OK);
	ev_run(loop, 0);
	assert_int_equal(left, 0);
	const struct rsl_result *ra = rsl_runner_result(a, 0), *rb = rsl_runner_result(b, 0);
	assert_non_null(ra);
	assert_non_null(rb);
	if (rsl_result_status(ra) != RSL_STATUS_PASS)
		fail_msg("reader: %s", rsl_result_message(ra));
	assert_int_equal(rsl_result_status(rb), RSL_STATUS_PASS);
	rsl_runner_free(a);
	rsl_runner_free(b);
	ev_loop_destroy(loop);
	assert_int_equal(unlink(fifo), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_nothing_left(fds);
}

/* ---- a host loop ---------------------------------------------------------------- */

struct host {
	struct ev_loop *loop;
	ev_timer tick, stopper;
	struct rsl_runner *r;
	int ticks;              /* timer callbacks so far */
	int ticks_at_first;     /* ... when the first result came */
	size_t results;
	int done, done_rc;
	int reentry;            /* what rsl_runner_run said inside a callback */
	bool result_was_stored; /* the callback's res is rsl_runner_result's */
};

static void host_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	((struct host *)w->data)->ticks++;
}

static void host_result(struct rsl_runner *r, size_t i, const struct rsl_result *res, void *ud)
{
	struct host *h = ud;
	if (h->results++ == 0)
		h->ticks_at_first = h->ticks;
	h->result_was_stored = rsl_runner_result(r, i) == res;
	h->reentry = rsl_runner_run(r, NULL);
}

static void host_done(struct rsl_runner *r, int rc, void *ud)
{
	struct host *h = ud;
	h->done++;
	h->done_rc = rc;
	ev_timer_stop(h->loop, &h->tick);
	ev_timer_stop(h->loop, &h->stopper);
}

static void test_api_host_loop(void **state)
{
	struct host h = { 0 };
	char err[RSL_ERRLEN], text[512];
	int fds = count_fds();

	h.loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(h.loop);
	assert_int_equal(rsl_runner_new_on_loop(NULL, h.loop, &h.r, err, sizeof err), RSL_OK);
	snprintf(text, sizeof text, sleeper_lua, "first", "right");
	assert_int_equal(rsl_runner_load_string(h.r, text, "one.lua"), RSL_OK);
	snprintf(text, sizeof text, sleeper_lua, "second", "right");
	assert_int_equal(rsl_runner_load_string(h.r, text, "two.lua"), RSL_OK);

	ev_timer_init(&h.tick, host_tick, 0.02, 0.02);
	h.tick.data = &h;
	ev_timer_start(h.loop, &h.tick);
	assert_int_equal(rsl_runner_start(h.r, NULL, host_result, host_done, &h), RSL_OK);
	/* start returned at once: nothing has run yet. */
	assert_true(rsl_runner_busy(h.r));
	assert_null(rsl_runner_result(h.r, 0));
	assert_int_equal(h.results, 0);
	ev_run(h.loop, 0); /* returns when nothing is left: both timers stopped, run over */

	assert_int_equal(h.done, 1);
	assert_int_equal(h.done_rc, RSL_OK);
	assert_int_equal(h.results, 2);
	assert_true(h.result_was_stored);
	assert_int_equal(h.reentry, RSL_EBUSY);
	/* The host's timer fired while the scenarios slept their 0.3 s. */
	assert_true(h.ticks_at_first >= 5);
	assert_false(rsl_runner_busy(h.r));
	assert_int_equal(rsl_runner_tally(h.r, RSL_STATUS_PASS), 2);
	assert_string_equal(rsl_result_file(rsl_runner_result(h.r, 1)), "two.lua");

	/* The synchronous call works on a host loop too. */
	assert_int_equal(rsl_runner_run(h.r, "second"), RSL_OK);
	assert_null(rsl_runner_result(h.r, 0));
	assert_int_equal(rsl_result_status(rsl_runner_result(h.r, 1)), RSL_STATUS_PASS);

	rsl_runner_free(h.r);
	ev_loop_destroy(h.loop);
	assert_nothing_left(fds);
}

static void host_stop(struct ev_loop *loop, ev_timer *w, int revents)
{
	rsl_runner_stop(((struct host *)w->data)->r);
}

/* rsl_runner_stop kills a running scenario: no result, the end still comes. */
static void test_api_host_loop_stop(void **state)
{
	struct host h = { 0 };
	char err[RSL_ERRLEN];
	int fds = count_fds();

	h.loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(h.loop);
	assert_int_equal(rsl_runner_new_on_loop(NULL, h.loop, &h.r, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_runner_load_string(h.r, "scenario('long', function(t) t:sleep(20) end)",
	                                        "long.lua"), RSL_OK);
	ev_timer_init(&h.stopper, host_stop, 0.3, 0);
	h.stopper.data = &h;
	ev_timer_start(h.loop, &h.stopper);
	double t0 = ev_time();
	assert_int_equal(rsl_runner_start(h.r, NULL, host_result, host_done, &h), RSL_OK);
	ev_run(h.loop, 0);
	assert_true(ev_time() - t0 < 5);
	assert_int_equal(h.done, 1);
	assert_int_equal(h.done_rc, RSL_OK);
	assert_int_equal(h.results, 0);
	assert_null(rsl_runner_result(h.r, 0));
	rsl_runner_free(h.r);
	ev_loop_destroy(h.loop);
	assert_nothing_left(fds);
}

static void stop_at_first(struct rsl_runner *r, size_t i, const struct rsl_result *res, void *ud)
{
	(*(int *)ud)++;
	rsl_runner_stop(r);
}

/* rsl_runner_stop from inside on_result: nothing more starts (jobs 1). */
static void test_api_stop_from_callback(void **state)
{
	struct rsl_runner_options o;
	struct rsl_runner *r;
	char err[RSL_ERRLEN];
	int fds = count_fds(), seen = 0;

	rsl_runner_options_init(&o);
	o.jobs = 1;
	assert_int_equal(rsl_runner_new(&o, &r, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_runner_load_string(r, "scenario('one', function(t) end)\n"
	                                           "scenario('two', function(t) end)\n"
	                                           "scenario('three', function(t) end)\n",
	                                        "three.lua"), RSL_OK);
	assert_int_equal(rsl_runner_start(r, NULL, stop_at_first, NULL, &seen), RSL_OK);
	assert_int_equal(rsl_runner_wait(r), RSL_OK);
	assert_int_equal(seen, 1);
	assert_non_null(rsl_runner_result(r, 0));
	assert_null(rsl_runner_result(r, 1));
	assert_null(rsl_runner_result(r, 2));
	/* Without the stop, all three run. */
	seen = 0;
	assert_int_equal(rsl_runner_run(r, NULL), RSL_OK);
	assert_int_equal(rsl_runner_tally(r, RSL_STATUS_PASS), 3);
	rsl_runner_free(r);
	assert_nothing_left(fds);
}

/* Run two scenarios that wait 0.5 s each at jobs 1 with max_waiting;
 * whether their spans (written by each to a file) overlap. */
static bool waiting_overlap(int max_waiting)
{
	struct rsl_runner_options o;
	struct rsl_runner *r;
	char err[RSL_ERRLEN], path[] = "/tmp/rstlab-test-spans-XXXXXX", src[1024];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(src, sizeof src,
	         "local core = require 'rstlab.core'\n"
	         "for i = 1, 2 do scenario('waits ' .. i, function(t)\n"
	         "  local t0 = core.wallclock(); t:sleep(0.5)\n"
	         "  local f = assert(io.open('%s', 'a'))\n"
	         "  f:write(string.format('%%.6f %%.6f\\n', t0, core.wallclock())); f:close()\n"
	         "end) end\n", path);
	rsl_runner_options_init(&o);
	o.jobs = 1;
	o.max_waiting = max_waiting;
	assert_int_equal(rsl_runner_new(&o, &r, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_runner_load_string(r, src, "waits.lua"), RSL_OK);
	assert_int_equal(rsl_runner_run(r, NULL), RSL_OK);
	assert_int_equal(rsl_runner_tally(r, RSL_STATUS_PASS), 2);
	rsl_runner_free(r);
	double s1, e1, s2, e2;
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lf %lf %lf %lf", &s1, &e1, &s2, &e2), 4);
	fclose(f);
	unlink(path);
	return s1 < e2 && s2 < e1;
}

/* jobs counts the scenarios that work: two that wait run at once at jobs
 * 1, unless max_waiting is -1. */
static void test_api_max_waiting(void **state)
{
	int fds = count_fds();
	(void)state;
	assert_true(waiting_overlap(0));
	assert_false(waiting_overlap(-1));
	assert_nothing_left(fds);
}

/* Freeing a runner in the middle of a run kills and reaps its children. */
static void test_api_free_during_run(void **state)
{
	struct rsl_runner *r;
	char err[RSL_ERRLEN];
	int fds = count_fds();

	assert_int_equal(rsl_runner_new(NULL, &r, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_runner_load_string(r, "scenario('long', function(t) t:sleep(20) end)",
	                                        "long.lua"), RSL_OK);
	assert_int_equal(rsl_runner_start(r, NULL, NULL, NULL, NULL), RSL_OK);
	rsl_runner_free(r);
	assert_nothing_left(fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api_lifecycle),
		cmocka_unit_test(test_api_bad_options),
		cmocka_unit_test(test_api_max_waiting),
		cmocka_unit_test_setup_teardown(test_api_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_syntax_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_unknown_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_results, setup, teardown),
		cmocka_unit_test(test_api_pcap_dir_and_unchecked),
		cmocka_unit_test(test_api_strict_timeout_time_scale),
		cmocka_unit_test(test_api_isolation),
		cmocka_unit_test(test_api_two_runners),
		cmocka_unit_test(test_api_two_runners_one_loop),
		cmocka_unit_test(test_api_host_loop),
		cmocka_unit_test(test_api_host_loop_stop),
		cmocka_unit_test(test_api_stop_from_callback),
		cmocka_unit_test(test_api_free_during_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
