/*
 * Tests of core/diag.c: sock_diag listings of real sockets on 127.0.0.1 and
 * ::1, in a network namespace of the test's own (so the kernel's table holds
 * nothing but what these tests made), and the TCP state names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rstlab/rstlab.h"

#define ST_ESTABLISHED 1
#define ST_TIME_WAIT 6
#define ST_LISTEN 10
#define MASK(s) (1u << (s))

static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A listener on the loopback address of family, port chosen by the kernel. */
static int listener(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (family == AF_INET6) {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	} else {
		struct sockaddr_in a = { .sin_family = AF_INET };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	}
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static int connect_to(int family, uint16_t port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (family == AF_INET6) {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT,
		                          .sin6_port = htons(port) };
		assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	} else {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	}
	return fd;
}

static void wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
}

static struct rsl_sockdiag *list(uint32_t mask, size_t *n)
{
	char err[256] = "";
	struct rsl_sockdiag *v = NULL;
	int rc = rsl_diag_list(mask, &v, n, err, sizeof err);
	if (rc != RSL_OK)
		print_error("rsl_diag_list: %s\n", err);
	assert_int_equal(rc, RSL_OK);
	return v;
}

static const struct rsl_sockdiag *find(const struct rsl_sockdiag *v, size_t n,
                                       int family, uint16_t sport, uint16_t dport)
{
	const struct rsl_sockdiag *hit = NULL;
	for (size_t i = 0; i < n; i++) {
		if (v[i].family == family && v[i].sport == sport && v[i].dport == dport) {
			assert_null(hit); /* listed once */
			hit = &v[i];
		}
	}
	return hit;
}

/* First test: the namespace is fresh, so a listing of the current
 * namespace is empty; sockets of the host's namespace would show here. */
static void test_diag_fresh_namespace_is_empty(void **state)
{
	size_t n = 99;
	struct rsl_sockdiag *v = list(~0u, &n);
	assert_int_equal(n, 0);
	free(v);
}

static void test_diag_lists_listener(void **state)
{
	int l = listener(AF_INET);
	uint16_t port = local_port(l);
	struct stat st;
	size_t n;
	struct rsl_sockdiag *v = list(~0u, &n);

	const struct rsl_sockdiag *d = find(v, n, AF_INET, port, 0);
	assert_non_null(d);
	assert_int_equal(d->state, ST_LISTEN);
	assert_string_equal(rsl_tcp_state_name(d->state), "LISTEN");
	const uint8_t lo[4] = { 127, 0, 0, 1 };
	assert_memory_equal(d->src, lo, 4);
	/* the socket the kernel lists is the one behind our descriptor */
	assert_int_equal(fstat(l, &st), 0);
	assert_int_equal(d->inode, (uint32_t)st.st_ino);
	free(v);
	close(l);
}

static void test_diag_time_wait_after_active_close(void **state)
{
	int l = listener(AF_INET);
	uint16_t sport = local_port(l);
	int c = connect_to(AF_INET, sport);
	uint16_t cport = local_port(c);
	int s = accept(l, NULL, NULL);
	char b;
	assert_true(s >= 0);

	/* The client closes first (its FIN), the server answers with its own;
	 * once the client has read that FIN (EOF) it is in TIME_WAIT. */
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	wait_readable(s);
	assert_int_equal(recv(s, &b, 1, 0), 0);
	close(s);
	wait_readable(c);
	assert_int_equal(recv(c, &b, 1, 0), 0);
	close(c);

	size_t n;
	struct rsl_sockdiag *v = list(MASK(ST_TIME_WAIT), &n);
	const struct rsl_sockdiag *d = find(v, n, AF_INET, cport, sport);
	assert_non_null(d);
	assert_int_equal(d->state, ST_TIME_WAIT);
	assert_string_equal(rsl_tcp_state_name(d->state), "TIME_WAIT");
	assert_int_equal(d->timer, 3);
	assert_int_equal(d->inode, 0);
	assert_true(d->expires_ms > 0 && d->expires_ms <= 60000);
	/* the passive closer leaves nothing behind */
	assert_null(find(v, n, AF_INET, sport, cport));
	free(v);
	close(l);
}

static void test_diag_state_mask_filters(void **state)
{
	int l = listener(AF_INET);
	uint16_t sport = local_port(l);
	int c = connect_to(AF_INET, sport);
	uint16_t cport = local_port(c);
	int s = accept(l, NULL, NULL);
	assert_true(s >= 0);
	size_t n;

	struct rsl_sockdiag *v = list(MASK(ST_ESTABLISHED), &n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(v[i].state, ST_ESTABLISHED);
	assert_non_null(find(v, n, AF_INET, cport, sport));
	assert_non_null(find(v, n, AF_INET, sport, cport));
	assert_null(find(v, n, AF_INET, sport, 0));
	free(v);

	v = list(MASK(ST_LISTEN), &n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(v[i].state, ST_LISTEN);
	assert_non_null(find(v, n, AF_INET, sport, 0));
	assert_null(find(v, n, AF_INET, cport, sport));
	free(v);

	v = list(0, &n);
	assert_int_equal(n, 0);
	free(v);

	close(s);
	close(c);
	close(l);
}

static void test_diag_ipv6_loopback(void **state)
{
	int l = listener(AF_INET6);
	uint16_t sport = local_port(l);
	int c = connect_to(AF_INET6, sport);
	uint16_t cport = local_port(c);
	int s = accept(l, NULL, NULL);
	assert_true(s >= 0);
	/* some bytes the server has not read: the listing shows them queued */
	assert_int_equal(send(c, "hello", 5, MSG_NOSIGNAL), 5);
	wait_readable(s);

	size_t n;
	struct rsl_sockdiag *v = list(MASK(ST_ESTABLISHED) | MASK(ST_LISTEN), &n);
	const struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;
	const struct rsl_sockdiag *d = find(v, n, AF_INET6, sport, 0);
	assert_non_null(d);
	assert_int_equal(d->state, ST_LISTEN);
	assert_memory_equal(d->src, &lo6, 16);

	d = find(v, n, AF_INET6, sport, cport);
	assert_non_null(d);
	assert_int_equal(d->state, ST_ESTABLISHED);
	assert_memory_equal(d->src, &lo6, 16);
	assert_memory_equal(d->dst, &lo6, 16);
	assert_int_equal(d->rqueue, 5);

	d = find(v, n, AF_INET6, cport, sport);
	assert_non_null(d);
	assert_int_equal(d->state, ST_ESTABLISHED);
	free(v);
	close(s);
	close(c);
	close(l);
}

/* More sockets than fit one 32 KiB datagram (~88 bytes each): the dump
 * comes in several parts and every socket is listed exactly once. */
static void test_diag_multipart_dump(void **state)
{
	enum { N = 500 };
	int fds[N];
	uint16_t ports[N];
	size_t n;

	/* Fixed ports below the sandbox's ephemeral slice (200 ports, too few
	 * for N): the namespace is ours, so they are free. */
	for (int i = 0; i < N; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(10000 + i) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fds[i] >= 0);
		assert_int_equal(bind(fds[i], (struct sockaddr *)&a, sizeof a), 0);
		assert_int_equal(listen(fds[i], 1), 0);
		ports[i] = (uint16_t)(10000 + i);
	}
	struct rsl_sockdiag *v = list(MASK(ST_LISTEN), &n);
	assert_true(n >= N);
	for (int i = 0; i < N; i++)
		assert_non_null(find(v, n, AF_INET, ports[i], 0));
	free(v);
	for (int i = 0; i < N; i++)
		close(fds[i]);
}

static void test_diag_state_names(void **state)
{
	static const char *const names[] = {
		NULL, "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
		"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
		"NEW_SYN_RECV", "BOUND_INACTIVE",
	};
	char buf[32];

	for (int i = 1; i <= 13; i++) {
		assert_string_equal(rsl_tcp_state_name(i), names[i]);
		assert_int_equal(rsl_tcp_state_from_name(names[i]), i);
		snprintf(buf, sizeof buf, "TCP_%s", names[i]);
		assert_int_equal(rsl_tcp_state_from_name(buf), i);
	}
	assert_null(rsl_tcp_state_name(0));
	assert_null(rsl_tcp_state_name(14));
	assert_null(rsl_tcp_state_name(-1));
	assert_int_equal(rsl_tcp_state_from_name("time_wait"), -1);
	assert_int_equal(rsl_tcp_state_from_name("TCP_"), -1);
	assert_int_equal(rsl_tcp_state_from_name("TIME_WAITX"), -1);
	assert_int_equal(rsl_tcp_state_from_name(""), -1);
	assert_int_equal(rsl_tcp_state_from_name(NULL), -1);
}

/* A socket only bound is listed when TCP_BOUND_INACTIVE is asked for, not
 * in "all" (~0u), as ss does; the kernel gives its state as CLOSE (the
 * bit names which sockets to list, not a state of their own). */
static void test_diag_bound_inactive(void **state)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof a;
	size_t n;
	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	uint16_t port = ntohs(a.sin_port);

	struct rsl_sockdiag *v = list(1u << 13, &n);
	const struct rsl_sockdiag *d = find(v, n, AF_INET, port, 0);
	assert_non_null(d);
	assert_string_equal(rsl_tcp_state_name(d->state), "CLOSE");
	free(v);
	v = list(~0u, &n);
	assert_null(find(v, n, AF_INET, port, 0));
	free(v);
	close(fd);
}

static void test_diag_rejects_null_out(void **state)
{
	char err[128] = "";
	size_t n;
	assert_int_equal(rsl_diag_list(~0u, NULL, &n, err, sizeof err), RSL_EINVAL);
	assert_true(strlen(err) > 0);
}

int main(void)
{
	char err[256] = "";

	if (rsl_sandbox_enter(err, sizeof err) != RSL_OK) {
		printf("skipped: no network namespace: %s\n", err);
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diag_fresh_namespace_is_empty),
		cmocka_unit_test(test_diag_lists_listener),
		cmocka_unit_test(test_diag_time_wait_after_active_close),
		cmocka_unit_test(test_diag_state_mask_filters),
		cmocka_unit_test(test_diag_ipv6_loopback),
		cmocka_unit_test(test_diag_multipart_dump),
		cmocka_unit_test(test_diag_state_names),
		cmocka_unit_test(test_diag_bound_inactive),
		cmocka_unit_test(test_diag_rejects_null_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
