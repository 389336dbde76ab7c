/*
 * Tests of core/trace.c: the tcp:tcp_send_reset tracepoint on the running
 * kernel, read through perf events, with real RSTs made on 127.0.0.1 and
 * ::1 in a network namespace of the test's own.
 *
 * The tracepoint is global, so other processes' RSTs may show up: every
 * check picks events by their addresses and ports (the sandbox gives this
 * process its own slice of ephemeral ports).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h" /* rsl_sandbox_prepare_tracing is the runner's */

static const uint8_t LO4[16] = { 127, 0, 0, 1 };
static const uint8_t LO6[16] = { [15] = 1 };
static const uint8_t ZERO[16];

/* ---- helpers ------------------------------------------------------------ */

static int setup_trace(void **state)
{
	char err[256] = "";
	struct rsl_trace *t = NULL;
	if (rsl_trace_open(&t, err, sizeof err) != RSL_OK) {
		print_error("rsl_trace_open: %s\n", err);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown_trace(void **state)
{
	rsl_trace_close(*state);
	return 0;
}

static double realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void fill_addr(int family, const uint8_t ip[16], uint16_t port,
                      struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, ip, 16);
		a->sin6_port = htons(port);
		*len = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		memcpy(&a->sin_addr, ip, 4);
		a->sin_port = htons(port);
		*len = sizeof *a;
	}
}

static const uint8_t *loopback(int family)
{
	return family == AF_INET6 ? LO6 : LO4;
}

/* A TCP socket bound to the loopback address of family, port from the
 * kernel; *port gets it. */
static int bound(int family, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	fill_addr(family, loopback(family), 0, &ss, &len);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	len = sizeof ss;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                 : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static int connect_loop(int fd, int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	fill_addr(family, loopback(family), port, &ss, &len);
	return connect(fd, (struct sockaddr *)&ss, len);
}

/* An established pair on 127.0.0.1: *l the listener, *c the client, *s
 * the accepted side. */
static void pair(int *l, int *c, int *s, uint16_t *lport, uint16_t *cport)
{
	*l = bound(AF_INET, lport);
	assert_int_equal(listen(*l, 8), 0);
	*c = bound(AF_INET, cport);
	assert_int_equal(connect_loop(*c, AF_INET, *lport), 0);
	*s = accept4(*l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*s >= 0);
}

static void wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
}

static bool matches(const struct rsl_rst_event *e, int family, const uint8_t *src,
                    uint16_t sport, const uint8_t *dst, uint16_t dport)
{
	return e->family == family && e->sport == sport && e->dport == dport &&
	       memcmp(e->src, src, 16) == 0 && memcmp(e->dst, dst, 16) == 0;
}

/* Drain the trace until an event from src:sport to dst:dport has arrived
 * or 5 s have passed. The tracepoint fires before the RST is sent, so the
 * event is there by the time its effect is seen; the bounded retry covers
 * a RST sent from a softirq that runs after the call returned. Returns how
 * many such events there are; *hit is the first. */
static size_t wait_event(struct rsl_trace *t, int family, const uint8_t *src,
                         uint16_t sport, const uint8_t *dst, uint16_t dport,
                         const struct rsl_rst_event **hit)
{
	double deadline = rsl_now() + 5.0;
	for (;;) {
		size_t found = 0;
		*hit = NULL;
		assert_int_equal(rsl_trace_drain(t), RSL_OK);
		for (size_t i = 0; i < rsl_trace_count(t); i++) {
			const struct rsl_rst_event *e = rsl_trace_event(t, i);
			if (matches(e, family, src, sport, dst, dport) && found++ == 0)
				*hit = e;
		}
		if (found > 0 || rsl_now() > deadline)
			return found;
		poll(NULL, 0, 1);
	}
}

static size_t count_events(struct rsl_trace *t, int family, const uint8_t *src,
                           uint16_t sport, const uint8_t *dst, uint16_t dport)
{
	size_t n = 0;
	for (size_t i = 0; i < rsl_trace_count(t); i++)
		n += matches(rsl_trace_event(t, i), family, src, sport, dst, dport);
	return n;
}

/* ---- the live tracepoint ---------------------------------------------- */

/* A SYN to a port with no listener: the RST is sent without a socket, and
 * the kernel prints the SYN's addresses swapped, so src is the RST's
 * source (the closed port) and dest the client. */
static void no_socket(struct rsl_trace *t, int family)
{
	const uint8_t *lo = loopback(family);
	const struct rsl_rst_event *e;
	uint16_t closed, cport;
	int hold = bound(family, &closed); /* bound, not listening */
	int c = bound(family, &cport);

	double before = realtime();
	assert_int_equal(connect_loop(c, family, closed), -1);
	assert_int_equal(errno, ECONNREFUSED);
	double after = realtime();
	assert_int_equal(wait_event(t, family, lo, closed, lo, cport, &e), 1);
	assert_string_equal(e->reason, "NO_SOCKET");
	assert_string_equal(e->state, "UNKNOWN");
	/* on CLOCK_REALTIME, the clock of packet timestamps: within the call */
	if (!(e->ts >= before - 0.001 && e->ts <= after + 0.001))
		fail_msg("event at %.6f, the call ran from %.6f to %.6f", e->ts, before, after);
	assert_int_equal(count_events(t, family, lo, cport, lo, closed), 0);
	close(c);
	close(hold);
}

static void test_trace_no_socket_ipv4(void **state)
{
	no_socket(*state, AF_INET);
}

static void test_trace_no_socket_ipv6(void **state)
{
	no_socket(*state, AF_INET6);
}

/* SO_LINGER {1,0}: close() disconnects, and 6.x logs TCP_STATE (the
 * reason tcp_disconnect gives), not TCP_ABORT_ON_LINGER. */
static void test_trace_linger_zero(void **state)
{
	struct rsl_trace *t = *state;
	const struct rsl_rst_event *e;
	int l, c, s;
	uint16_t lport, cport;
	char buf[8];

	pair(&l, &c, &s, &lport, &cport);
	assert_int_equal(send(c, "hello", 5, MSG_NOSIGNAL), 5);
	wait_readable(s);
	assert_int_equal(recv(s, buf, sizeof buf, 0), 5); /* nothing left unread */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	close(s);

	wait_readable(c);
	assert_int_equal(recv(c, buf, sizeof buf, 0), -1);
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(wait_event(t, AF_INET, LO4, lport, LO4, cport, &e), 1);
	assert_string_equal(e->reason, "TCP_STATE");
	assert_string_equal(e->state, "TCP_CLOSE");
	close(c);
	close(l);
}

/* close() with bytes the application never read: RST instead of FIN. */
static void test_trace_unread_close(void **state)
{
	struct rsl_trace *t = *state;
	const struct rsl_rst_event *e;
	int l, c, s;
	uint16_t lport, cport;
	char buf[8];

	pair(&l, &c, &s, &lport, &cport);
	assert_int_equal(send(c, "hello", 5, MSG_NOSIGNAL), 5);
	wait_readable(s); /* the bytes are in s's receive queue */
	close(s);

	wait_readable(c);
	assert_int_equal(recv(c, buf, sizeof buf, 0), -1);
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(wait_event(t, AF_INET, LO4, lport, LO4, cport, &e), 1);
	assert_string_equal(e->reason, "TCP_ABORT_ON_CLOSE");
	assert_string_equal(e->state, "TCP_CLOSE");
	close(c);
	close(l);
}

static uint16_t checksum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A bare ACK to a listening port (no handshake behind it) is answered by
 * the listener itself: the kernel prints the listener's own address as src
 * and 0.0.0.0:0 as dest, not the peer the RST goes to. */
static void test_trace_listener_rst(void **state)
{
	struct rsl_trace *t = *state;
	const struct rsl_rst_event *e;
	uint16_t lport, pport;
	int l = bound(AF_INET, &lport);
	int hold = bound(AF_INET, &pport); /* the ACK's source port, reserved */
	assert_int_equal(listen(l, 8), 0);

	/* TCP header only: the kernel adds the IPv4 header to a raw
	 * IPPROTO_TCP socket's payload. */
	uint8_t th[20] = { 0 };
	th[0] = (uint8_t)(pport >> 8);
	th[1] = (uint8_t)pport;
	th[2] = (uint8_t)(lport >> 8);
	th[3] = (uint8_t)lport;
	th[7] = 1;              /* seq 1 */
	th[11] = 1;             /* ack 1 */
	th[12] = 5 << 4;        /* data offset: 5 words */
	th[13] = 0x10;          /* ACK */
	th[14] = 0x10;          /* window 4096 */
	uint32_t pseudo = 0x7f00 + 0x0001 + 0x7f00 + 0x0001 + 6 + sizeof th;
	uint16_t sum = checksum(th, sizeof th, pseudo);
	th[16] = (uint8_t)(sum >> 8);
	th[17] = (uint8_t)sum;

	int r = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
	assert_true(r >= 0);
	struct sockaddr_in to = { .sin_family = AF_INET };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(sendto(r, th, sizeof th, 0, (struct sockaddr *)&to, sizeof to),
	                 (ssize_t)sizeof th);

	assert_int_equal(wait_event(t, AF_INET, LO4, lport, ZERO, 0, &e), 1);
	assert_string_equal(e->state, "TCP_LISTEN");
	assert_string_equal(e->reason, "TCP_FLAGS");
	/* and never with the peer's address */
	assert_int_equal(count_events(t, AF_INET, LO4, lport, LO4, pport), 0);
	close(r);
	close(hold);
	close(l);
}

/* ---- the reader's own lifetime ----------------------------------------- */

/* Nothing outside the process: closing gives back every descriptor, and
 * a reader opened again works (nothing was left to collide with). */
static void test_trace_close_gives_back_everything(void **state)
{
	char err[256] = "";
	int fds = open_fds();
	for (int round = 0; round < 3; round++) {
		struct rsl_trace *t = NULL;
		assert_int_equal(rsl_trace_open(&t, err, sizeof err), RSL_OK);
		assert_true(open_fds() > fds);
		assert_int_equal(rsl_trace_drain(t), RSL_OK);
		assert_int_equal(rsl_trace_lost(t), 0);
		rsl_trace_close(t);
		assert_int_equal(open_fds(), fds);
	}
	rsl_trace_close(NULL);
	assert_int_equal(rsl_trace_count(NULL), 0);
	assert_null(rsl_trace_event(NULL, 0));
}

/* Many RSTs between two drains: all are read, in time order. (A client
 * port is given back when its connect is refused, so ports repeat: count
 * the RSTs from the closed port.) */
static void test_trace_many_in_order(void **state)
{
	struct rsl_trace *t = *state;
	uint16_t closed, cport;
	int hold = bound(AF_INET, &closed);
	for (int i = 0; i < 50; i++) {
		int c = bound(AF_INET, &cport);
		assert_int_equal(connect_loop(c, AF_INET, closed), -1);
		close(c);
	}
	double deadline = rsl_now() + 5.0;
	size_t n;
	do {
		assert_int_equal(rsl_trace_drain(t), RSL_OK);
		n = 0;
		double last = 0;
		for (size_t i = 0; i < rsl_trace_count(t); i++) {
			const struct rsl_rst_event *e = rsl_trace_event(t, i);
			if (e->family == AF_INET && e->sport == closed && memcmp(e->src, LO4, 16) == 0) {
				assert_true(e->ts >= last);
				last = e->ts;
				n++;
			}
		}
	} while (n < 50 && rsl_now() < deadline && poll(NULL, 0, 1) == 0);
	assert_int_equal(n, 50);
	assert_int_equal(rsl_trace_lost(t), 0);
	close(hold);
}

int main(void)
{
	char why[256] = "", err[256] = "";
	const struct CMUnitTest live[] = {
		cmocka_unit_test_setup_teardown(test_trace_no_socket_ipv4, setup_trace, teardown_trace),
		cmocka_unit_test_setup_teardown(test_trace_no_socket_ipv6, setup_trace, teardown_trace),
		cmocka_unit_test_setup_teardown(test_trace_linger_zero, setup_trace, teardown_trace),
		cmocka_unit_test_setup_teardown(test_trace_unread_close, setup_trace, teardown_trace),
		cmocka_unit_test_setup_teardown(test_trace_listener_rst, setup_trace, teardown_trace),
		cmocka_unit_test_setup_teardown(test_trace_many_in_order, setup_trace, teardown_trace),
		cmocka_unit_test(test_trace_close_gives_back_everything),
	};

	bool tracing = rsl_sandbox_prepare_tracing(why, sizeof why) == RSL_OK;
	if (rsl_sandbox_enter(err, sizeof err) != RSL_OK) {
		printf("skipped: no network namespace: %s\n", err);
		return 77;
	}
	struct rsl_trace *probe = NULL;
	if (!tracing || rsl_trace_open(&probe, why, sizeof why) != RSL_OK) {
		printf("skipped: tracepoint unavailable: %s\n", why);
		return 77;
	}
	rsl_trace_close(probe);
	return cmocka_run_group_tests_name("trace_live", live, NULL, NULL);
}
