/*
 * Tests of core/spawn.c: real programs started in a PID namespace of their
 * own (sh, sleep, cat), their output, their exit status, the errno of a
 * failed exec, signals, and the end of the namespace taking every process
 * in it along. Skipped where a PID namespace cannot be made (not root and
 * no user namespace of ours).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

/* Everything fd carries until EOF (at most len - 1 bytes, 10 s). */
static size_t read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		assert_int_equal(poll(&p, 1, 10000), 1);
		ssize_t n = read(fd, buf + got, len - 1 - got);
		if (n < 0 && errno == EAGAIN)
			continue;
		assert_true(n >= 0);
		if (n == 0)
			break;
		got += (size_t)n;
		assert_true(got < len - 1);
	}
	buf[got] = '\0';
	return got;
}

/* One line of fd (the program goes on running). */
static void read_line(int fd, char *buf, size_t len)
{
	size_t got = 0;
	while (got == 0 || buf[got - 1] != '\n') {
		struct pollfd p = { fd, POLLIN, 0 };
		assert_int_equal(poll(&p, 1, 10000), 1);
		ssize_t n = read(fd, buf + got, 1);
		if (n < 0 && errno == EAGAIN)
			continue;
		assert_true(n == 1);
		got++;
		assert_true(got < len - 1);
	}
	buf[got] = '\0';
}

/* The program's wait status, waiting for it (10 s). */
static int wait_status(struct rsl_spawn *s)
{
	int st, rc;
	for (;;) {
		rc = rsl_spawn_status(s, &st);
		if (rc != RSL_EAGAIN)
			break;
		struct pollfd p = { s->ctl_fd, POLLIN, 0 };
		assert_int_equal(poll(&p, 1, 10000), 1);
	}
	assert_int_equal(rc, RSL_OK);
	return st;
}

/* How many processes of the machine are in the PID namespace link (as
 * readlink /proc/PID/ns/pid says it). */
static int in_namespace(const char *link)
{
	int n = 0;
	DIR *d = opendir("/proc");
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		char path[300], l[64];
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/ns/pid", de->d_name);
		ssize_t k = readlink(path, l, sizeof l - 1);
		if (k <= 0)
			continue;
		l[k] = '\0';
		if (strcmp(l, link) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void no_child_left(void)
{
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static struct rsl_spawn start(const char *const *argv, const char *stdin_data)
{
	struct rsl_spawn_opts o = { .argv = argv, .nsfd = -1 };
	if (stdin_data != NULL) {
		o.stdin_data = stdin_data;
		o.stdin_len = strlen(stdin_data);
	}
	struct rsl_spawn s;
	char err[RSL_ERRLEN];
	int e;
	int rc = rsl_spawn_start(&o, &s, &e, err, sizeof err);
	if (rc != RSL_OK)
		fail_msg("%s", err);
	return s;
}

static void test_spawn_exec_errno(void **state)
{
	const char *missing[] = { "/nonexistent/rstlab-prog", NULL };
	char file[] = "/tmp/rstlab-test-spawn-XXXXXX";
	int fd = mkstemp(file); /* 0600: no x bit */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);
	const char *notexec[] = { file, NULL };
	const char *nothing[] = { NULL };
	struct rsl_spawn_opts o = { .argv = missing, .nsfd = -1 };
	struct rsl_spawn s;
	char err[RSL_ERRLEN];
	int e;
	assert_int_equal(rsl_spawn_start(&o, &s, &e, err, sizeof err), RSL_ESYS);
	assert_int_equal(e, ENOENT);
	assert_string_equal(err, "/nonexistent/rstlab-prog: No such file or directory");
	assert_int_equal(s.ctl_fd, -1);
	no_child_left();
	o.argv = notexec;
	int rc = rsl_spawn_start(&o, &s, &e, err, sizeof err);
	unlink(file);
	assert_int_equal(rc, RSL_ESYS);
	assert_int_equal(e, EACCES);
	no_child_left();
	o.argv = nothing;
	assert_int_equal(rsl_spawn_start(&o, &s, &e, err, sizeof err), RSL_EINVAL);
	o.argv = (const char *const[]){ "true", NULL };
	o.cwd = "/nonexistent-rstlab";
	assert_int_equal(rsl_spawn_start(&o, &s, &e, err, sizeof err), RSL_ESYS);
	assert_int_equal(e, ENOENT);
	assert_non_null(strstr(err, "changing to the working directory"));
	no_child_left();
}

static void test_spawn_output_and_status(void **state)
{
	const char *argv[] = { "sh", "-c", "echo out; echo err >&2; cat; exit 7", NULL };
	struct rsl_spawn s = start(argv, "from stdin\n");
	char buf[256];
	read_all(s.out_fd, buf, sizeof buf);
	assert_string_equal(buf, "out\nfrom stdin\n");
	read_all(s.err_fd, buf, sizeof buf);
	assert_string_equal(buf, "err\n");
	int st = wait_status(&s);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 7);
	rsl_spawn_end(&s);
	rsl_spawn_end(&s); /* idempotent */
	no_child_left();
}

static void test_spawn_own_pid_namespace(void **state)
{
	const char *argv[] = { "sh", "-c", "echo $$ $(cat /proc/$$/comm); exec sleep 100", NULL };
	struct rsl_spawn s = start(argv, NULL);
	char buf[256], path[64], mine[64], theirs[64];
	read_line(s.out_fd, buf, sizeof buf);
	assert_string_equal(buf, "2 sh\n"); /* 1 is its init; /proc is its own */
	assert_true(s.pid > 0);
	snprintf(path, sizeof path, "/proc/%d/comm", (int)s.pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	fclose(f);
	assert_string_equal(buf, "sleep\n"); /* s.pid is the program, as we see it */
	snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)s.pid);
	ssize_t n = readlink(path, theirs, sizeof theirs - 1);
	assert_true(n > 0);
	theirs[n] = '\0';
	n = readlink("/proc/self/ns/pid", mine, sizeof mine - 1);
	assert_true(n > 0);
	mine[n] = '\0';
	assert_string_not_equal(mine, theirs);
	assert_int_equal(rsl_spawn_signal(&s, SIGTERM, false), RSL_OK);
	int st = wait_status(&s);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGTERM);
	rsl_spawn_end(&s);
	no_child_left();
}

static void test_spawn_end_kills_the_namespace(void **state)
{
	/* Two in the background, one in a session of its own; the parent
	 * exits. */
	const char *argv[] = { "sh", "-c",
	                       "sleep 100 & sleep 100 & setsid sh -c 'sleep 100 &' "
	                       "</dev/null >/dev/null 2>&1; echo $(ls /proc | grep -c '^[0-9]')",
	                       NULL };
	struct rsl_spawn s = start(argv, NULL);
	char buf[256], path[64], ns[64];
	snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)s.init_pid);
	ssize_t n = readlink(path, ns, sizeof ns - 1);
	assert_true(n > 0);
	ns[n] = '\0';
	read_line(s.out_fd, buf, sizeof buf);
	int st = wait_status(&s);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* init and the three sleeps outlive the parent */
	assert_int_equal(in_namespace(ns), 4);
	rsl_spawn_end(&s);
	assert_int_equal(in_namespace(ns), 0);
	no_child_left();
}

static void test_spawn_socket_inodes(void **state)
{
	unsigned long *v;
	size_t n;
	char err[RSL_ERRLEN];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(rsl_spawn_socket_inodes(getpid(), &v, &n, err, sizeof err), RSL_OK);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found = found || v[i] == (unsigned long)st.st_ino;
	assert_true(found);
	free(v);
	close(fd);
	assert_int_equal(rsl_spawn_socket_inodes(0x7ffffff0, &v, &n, err, sizeof err), RSL_ESYS);
}

int main(void)
{
	/* A PID namespace needs root, or a user namespace of ours. */
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: PID namespaces need root here\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawn_exec_errno),
		cmocka_unit_test(test_spawn_output_and_status),
		cmocka_unit_test(test_spawn_own_pid_namespace),
		cmocka_unit_test(test_spawn_end_kills_the_namespace),
		cmocka_unit_test(test_spawn_socket_inodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
