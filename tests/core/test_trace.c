/*
 * Tests of core/trace.c: the parser on lines as the kernel prints them, and
 * the tcp:tcp_send_reset tracepoint on the running kernel, with real RSTs
 * made on 127.0.0.1 and ::1 in a network namespace of the test's own.
 *
 * The tracepoint is global, so other processes' RSTs may show up in our
 * instance: every check picks events by their addresses and ports (the
 * sandbox gives this process its own slice of ephemeral ports). Every
 * tracing instance made here is removed, also when a test fails: fixtures
 * close in teardown, which cmocka runs after a failure, and an exit handler
 * catches the rest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h" /* the runner's pool and sweep are internal */

static const uint8_t LO4[16] = { 127, 0, 0, 1 };
static const uint8_t LO6[16] = { [15] = 1 };
static const uint8_t ZERO[16];

/* The trace a fixture opened, for the exit handler. */
static struct rsl_trace *g_trace;

static double realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- parsing ---------------------------------------------------------- */

static void test_trace_parse_ipv4(void **state)
{
	struct rsl_rst_event ev;
	const char *line =
		"          <idle>-0       [001] ..s2.  1234.567890: tcp_send_reset: "
		"skbaddr=00000000a4b0060c skaddr=0000000000000000 src=127.0.0.1:5 "
		"dest=127.0.0.1:6 state=UNKNOWN reason=NO_SOCKET";

	assert_int_equal(rsl_trace_parse_line(line, &ev), RSL_OK);
	assert_true(ev.ts > 1234.567889 && ev.ts < 1234.567891);
	assert_int_equal(ev.family, AF_INET);
	assert_memory_equal(ev.src, LO4, 16);
	assert_memory_equal(ev.dst, LO4, 16);
	assert_int_equal(ev.sport, 5);
	assert_int_equal(ev.dport, 6);
	assert_string_equal(ev.state, "UNKNOWN");
	assert_string_equal(ev.reason, "NO_SOCKET");
}

static void test_trace_parse_ipv6_brackets(void **state)
{
	struct rsl_rst_event ev;
	/* a task name with a space and a colon in it, a trailing newline */
	const char *line =
		"     my prog:2-3244    [000] .....   330.070562: tcp_send_reset: "
		"skbaddr=0000000000000000 skaddr=000000003e5f59bc src=[::1]:40000 "
		"dest=[2001:db8::7]:65535 state=TCP_CLOSE reason=TCP_ABORT_ON_CLOSE\n";
	uint8_t db8[16];

	assert_int_equal(rsl_trace_parse_line(line, &ev), RSL_OK);
	assert_true(ev.ts > 330.070561 && ev.ts < 330.070563);
	assert_int_equal(ev.family, AF_INET6);
	assert_memory_equal(ev.src, LO6, 16);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", db8), 1);
	assert_memory_equal(ev.dst, db8, 16);
	assert_int_equal(ev.sport, 40000);
	assert_int_equal(ev.dport, 65535);
	assert_string_equal(ev.state, "TCP_CLOSE");
	assert_string_equal(ev.reason, "TCP_ABORT_ON_CLOSE");
}

/* A listener's RST prints the listener's own address and "0.0.0.0:0";
 * a dual-stack socket talking IPv4 prints v4-mapped addresses, which come
 * back as AF_INET. */
static void test_trace_parse_listener_and_mapped(void **state)
{
	struct rsl_rst_event ev;

	assert_int_equal(rsl_trace_parse_line(
		" python3-3652 [001] .Ns1. 357.576651: tcp_send_reset: skbaddr=00000000de96a3de "
		"skaddr=00000000562b67d8 src=127.0.0.1:7000 dest=0.0.0.0:0 state=TCP_LISTEN "
		"reason=TCP_FLAGS", &ev), RSL_OK);
	assert_int_equal(ev.family, AF_INET);
	assert_int_equal(ev.sport, 7000);
	assert_int_equal(ev.dport, 0);
	assert_memory_equal(ev.dst, ZERO, 16);
	assert_string_equal(ev.state, "TCP_LISTEN");

	assert_int_equal(rsl_trace_parse_line(
		" a-1 [001] ..... 357.878154: tcp_send_reset: skbaddr=0000000000000000 "
		"skaddr=000000006781587c src=[::ffff:127.0.0.1]:7001 "
		"dest=[::ffff:127.0.0.1]:59026 state=TCP_CLOSE reason=TCP_STATE", &ev), RSL_OK);
	assert_int_equal(ev.family, AF_INET);
	assert_memory_equal(ev.src, LO4, 16);
	assert_memory_equal(ev.dst, LO4, 16);
	assert_int_equal(ev.sport, 7001);
	assert_int_equal(ev.dport, 59026);

	assert_int_equal(rsl_trace_parse_line(
		" a-1 [001] ..... 1.5: tcp_send_reset: src=[::ffff:127.0.0.1]:7001 "
		"dest=[::]:0 state=TCP_LISTEN reason=TCP_FLAGS", &ev), RSL_OK);
	assert_int_equal(ev.family, AF_INET);
	assert_memory_equal(ev.src, LO4, 16);
	assert_memory_equal(ev.dst, ZERO, 16);

	/* a real IPv6 listener stays IPv6 */
	assert_int_equal(rsl_trace_parse_line(
		" a-1 [001] ..... 1.5: tcp_send_reset: src=[::1]:7001 dest=[::]:0 "
		"state=TCP_LISTEN reason=TCP_FLAGS", &ev), RSL_OK);
	assert_int_equal(ev.family, AF_INET6);
	assert_memory_equal(ev.src, LO6, 16);

	/* kernels before 6.10 print no reason: addresses still count */
	assert_int_equal(rsl_trace_parse_line(
		" a-1 [001] ..... 2.25: tcp_send_reset: skbaddr=0 skaddr=0 src=10.0.0.1:1 "
		"dest=10.0.0.2:2 state=TCP_ESTABLISHED", &ev), RSL_OK);
	assert_string_equal(ev.reason, "");
	assert_string_equal(ev.state, "TCP_ESTABLISHED");
}

static void test_trace_parse_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"CPU:1 [LOST 12 EVENTS]",
		/* another event */
		" a-1 [001] ..... 1.5: tcp_receive_reset: src=127.0.0.1:1 dest=127.0.0.1:2",
		/* no timestamp */
		" a-1 [001] .....: tcp_send_reset: src=127.0.0.1:1 dest=127.0.0.1:2",
		/* timestamp glued to the flags */
		" a-1 [001] .....1.5: tcp_send_reset: src=127.0.0.1:1 dest=127.0.0.1:2",
		/* missing dest, missing src */
		" a-1 [001] ..... 1.5: tcp_send_reset: src=127.0.0.1:1 state=TCP_CLOSE",
		" a-1 [001] ..... 1.5: tcp_send_reset: dest=127.0.0.1:1 state=TCP_CLOSE",
		/* bad addresses and ports */
		" a-1 [001] ..... 1.5: tcp_send_reset: src=127.0.0.1:70000 dest=127.0.0.1:2",
		" a-1 [001] ..... 1.5: tcp_send_reset: src=127.0.0.1: dest=127.0.0.1:2",
		" a-1 [001] ..... 1.5: tcp_send_reset: src=127.0.0.1 dest=127.0.0.1:2",
		" a-1 [001] ..... 1.5: tcp_send_reset: src=127.0.0.256:1 dest=127.0.0.1:2",
		" a-1 [001] ..... 1.5: tcp_send_reset: src=127.0.0.1:1x dest=127.0.0.1:2",
		" a-1 [001] ..... 1.5: tcp_send_reset: src=[::1:1 dest=[::1]:2",
		" a-1 [001] ..... 1.5: tcp_send_reset: src=[::1]1 dest=[::1]:2",
		" a-1 [001] ..... 1.5: tcp_send_reset: src=[127.0.0.1]:1 dest=[::1]:2",
		/* one IPv4, one IPv6 */
		" a-1 [001] ..... 1.5: tcp_send_reset: src=127.0.0.1:1 dest=[::1]:2",
		/* a state longer than any state */
		" a-1 [001] ..... 1.5: tcp_send_reset: src=127.0.0.1:1 dest=127.0.0.1:2 "
		"state=TCP_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA reason=NO_SOCKET",
	};
	struct rsl_rst_event ev;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (rsl_trace_parse_line(bad[i], &ev) != RSL_EMALFORMED)
			fail_msg("accepted: \"%s\"", bad[i]);
	}
	assert_int_equal(rsl_trace_parse_line(NULL, &ev), RSL_EMALFORMED);
}

/* ---- helpers for the live tests ------------------------------------- */

static int setup_trace(void **state)
{
	char err[256] = "";
	if (rsl_trace_open(&g_trace, err, sizeof err) != RSL_OK) {
		print_error("rsl_trace_open: %s\n", err);
		return -1;
	}
	*state = g_trace;
	return 0;
}

static int teardown_trace(void **state)
{
	rsl_trace_close(g_trace);
	g_trace = NULL;
	return 0;
}

static void at_exit(void)
{
	rsl_trace_close(g_trace);
	g_trace = NULL;
	rsl_trace_remove_instance((int)getpid());
}

static const char *tracefs(void)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	struct statfs sf;
	for (size_t i = 0; i < 2; i++)
		if (statfs(roots[i], &sf) == 0 && sf.f_type == TRACEFS_MAGIC)
			return roots[i];
	fail_msg("tracefs vanished");
	return NULL;
}

static bool instance_exists(long pid)
{
	char path[256];
	struct stat st;
	snprintf(path, sizeof path, "%s/instances/rstlab-%ld", tracefs(), pid);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
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
 * or 5 s have passed, waiting on the pipe in between. Returns how many
 * such events there are; *hit is the first. */
static size_t wait_event(struct rsl_trace *t, int family, const uint8_t *src,
                         uint16_t sport, const uint8_t *dst, uint16_t dport,
                         const struct rsl_rst_event **hit)
{
	double deadline = rsl_now() + 5.0;
	size_t found = 0;

	*hit = NULL;
	for (;;) {
		assert_int_equal(rsl_trace_drain(t), RSL_OK);
		found = 0;
		for (size_t i = 0; i < rsl_trace_count(t); i++) {
			const struct rsl_rst_event *e = rsl_trace_event(t, i);
			if (matches(e, family, src, sport, dst, dport) && found++ == 0)
				*hit = e;
		}
		double left = deadline - rsl_now();
		if (found > 0 || left <= 0)
			return found;
		struct pollfd p = { .fd = rsl_trace_fd(t), .events = POLLIN };
		assert_true(poll(&p, 1, (int)(left * 1000) + 1) >= 0);
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
	/* On CLOCK_REALTIME, the clock of packet timestamps (the instance
	 * stamps on "mono"): within the call that made the RST, give or take
	 * the microsecond the trace prints. */
	if (!(e->ts >= before - 2e-6 && e->ts <= after + 2e-6))
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

/* ---- instance lifetime ------------------------------------------------- */

static void test_trace_close_removes_instance(void **state)
{
	char err[256] = "";
	struct rsl_trace *t = NULL;

	assert_false(instance_exists(getpid()));
	assert_int_equal(rsl_trace_open(&t, err, sizeof err), RSL_OK);
	g_trace = t;
	assert_true(rsl_trace_fd(t) >= 0);
	assert_true(instance_exists(getpid()));
	assert_int_equal(rsl_trace_drain(t), RSL_OK);
	rsl_trace_close(t);
	g_trace = NULL;
	assert_false(instance_exists(getpid()));
	rsl_trace_close(NULL); /* NULL-safe */
}

/* A directory with our pid's name, as a dead process with the same pid
 * would have left it, is replaced; an instance still open in this process
 * is not taken over. */
static void test_trace_open_replaces_stale_same_pid(void **state)
{
	char path[256], err[256] = "";
	struct rsl_trace *t = NULL, *t2 = NULL;

	snprintf(path, sizeof path, "%s/instances/rstlab-%ld", tracefs(), (long)getpid());
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(rsl_trace_open(&t, err, sizeof err), RSL_OK);
	g_trace = t;
	assert_true(instance_exists(getpid()));

	assert_int_not_equal(rsl_trace_open(&t2, err, sizeof err), RSL_OK);
	assert_null(t2);
	assert_non_null(strstr(err, "already open"));
	assert_true(instance_exists(getpid()));
	assert_int_equal(rsl_trace_drain(t), RSL_OK);

	rsl_trace_close(t);
	g_trace = NULL;
	assert_false(instance_exists(getpid()));
}

/* A child that opens a trace, says so through a pipe and waits to be
 * killed, as a scenario process stopped at its timeout would be. */
static pid_t child_with_trace(void)
{
	int p[2];
	char b;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rsl_trace *t = NULL;
		close(p[0]);
		if (rsl_trace_open(&t, NULL, 0) == RSL_OK)
			(void)write(p[1], "x", 1);
		close(p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	ssize_t n = read(p[0], &b, 1);
	close(p[0]);
	if (n != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("the child could not open a trace");
	}
	return pid;
}

static void kill_child(pid_t pid)
{
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void test_trace_remove_instance_of_killed_child(void **state)
{
	pid_t pid = child_with_trace();
	assert_true(instance_exists(pid));
	kill_child(pid);
	assert_true(instance_exists(pid)); /* nobody cleaned up */
	rsl_trace_remove_instance(pid);
	assert_false(instance_exists(pid));
	rsl_trace_remove_instance(pid); /* already gone: harmless */
}

static void test_trace_sweep_stale(void **state)
{
	pid_t dead = child_with_trace();
	pid_t alive = child_with_trace();
	kill_child(dead);
	assert_true(instance_exists(dead));

	rsl_trace_sweep_stale();
	assert_false(instance_exists(dead));
	assert_true(instance_exists(alive));          /* its owner lives */
	assert_true(instance_exists(getpid()));       /* and ours (fixture) */

	kill_child(alive);
	rsl_trace_remove_instance(alive);
	assert_false(instance_exists(alive));
}

int main(void)
{
	char why[256] = "", err[256] = "";
	const struct CMUnitTest parse[] = {
		cmocka_unit_test(test_trace_parse_ipv4),
		cmocka_unit_test(test_trace_parse_ipv6_brackets),
		cmocka_unit_test(test_trace_parse_listener_and_mapped),
		cmocka_unit_test(test_trace_parse_malformed),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test_setup_teardown(test_trace_no_socket_ipv4, setup_trace, teardown_trace),
		cmocka_unit_test_setup_teardown(test_trace_no_socket_ipv6, setup_trace, teardown_trace),
		cmocka_unit_test_setup_teardown(test_trace_linger_zero, setup_trace, teardown_trace),
		cmocka_unit_test_setup_teardown(test_trace_unread_close, setup_trace, teardown_trace),
		cmocka_unit_test_setup_teardown(test_trace_listener_rst, setup_trace, teardown_trace),
		cmocka_unit_test(test_trace_close_removes_instance),
		cmocka_unit_test(test_trace_open_replaces_stale_same_pid),
		cmocka_unit_test(test_trace_remove_instance_of_killed_child),
		cmocka_unit_test_setup_teardown(test_trace_sweep_stale, setup_trace, teardown_trace),
	};

	/* The parser needs no kernel: it is tested wherever this runs. */
	int failed = cmocka_run_group_tests_name("trace_parse", parse, NULL, NULL);
	if (failed != 0)
		return failed;

	bool tracing = rsl_sandbox_prepare_tracing(why, sizeof why) == RSL_OK;
	if (rsl_sandbox_enter(err, sizeof err) != RSL_OK) {
		printf("skipped: no network namespace: %s\n", err);
		return 77;
	}
	if (!tracing || rsl_trace_check(why, sizeof why) != RSL_OK) {
		printf("skipped: tracepoint unavailable: %s\n", why);
		return 77;
	}
	atexit(at_exit);
	return cmocka_run_group_tests_name("trace_live", live, NULL, NULL);
}
