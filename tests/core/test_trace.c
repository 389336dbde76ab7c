/*
 * Tests of core/trace.c: the tcp:tcp_send_reset tracepoint read through
 * its BPF program on the running kernel, with real RSTs made on 127.0.0.1
 * and ::1 in a network namespace of the test's own.
 *
 * The tracepoint is global, so other processes' RSTs may show up in our
 * ring: every check picks events by their addresses and ports (the sandbox
 * gives this process its own slice of ephemeral ports). What a trace holds
 * is descriptors only; the lifetime test checks that the kernel frees its
 * program when a process holding one is killed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/btf.h>
#include <dirent.h>
#include <sys/syscall.h>

#include "internal.h" /* rsl_sandbox_prepare_tracing */

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

/* An established pair on the loopback address of family: *l the
 * listener, *c the client, *s the accepted side. */
static void pair(int family, int *l, int *c, int *s, uint16_t *lport, uint16_t *cport)
{
	*l = bound(family, lport);
	assert_int_equal(listen(*l, 8), 0);
	*c = bound(family, cport);
	assert_int_equal(connect_loop(*c, family, *lport), 0);
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
 * reason tcp_disconnect gives), not TCP_ABORT_ON_LINGER. The socket's own
 * addresses (an IPv6 one's source from its ipv6_pinfo). */
static void linger_zero(struct rsl_trace *t, int family)
{
	const uint8_t *lo = loopback(family);
	const struct rsl_rst_event *e;
	int l, c, s;
	uint16_t lport, cport;
	char buf[8];

	pair(family, &l, &c, &s, &lport, &cport);
	assert_int_equal(send(c, "hello", 5, MSG_NOSIGNAL), 5);
	wait_readable(s);
	assert_int_equal(recv(s, buf, sizeof buf, 0), 5); /* nothing left unread */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	close(s);

	wait_readable(c);
	assert_int_equal(recv(c, buf, sizeof buf, 0), -1);
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(wait_event(t, family, lo, lport, lo, cport, &e), 1);
	assert_string_equal(e->reason, "TCP_STATE");
	assert_string_equal(e->state, "TCP_CLOSE");
	close(c);
	close(l);
}

static void test_trace_linger_zero(void **state)
{
	linger_zero(*state, AF_INET);
}

static void test_trace_linger_zero_ipv6(void **state)
{
	linger_zero(*state, AF_INET6);
}

/* Whether this namespace has a TCP socket of that family on port in state
 * (a TCP_* number), a TIME_WAIT one or a full one (sock_diag gives a
 * TIME_WAIT socket its substate and no inode). */
static bool in_state(int family, uint16_t port, int state, bool tw)
{
	struct rsl_sockdiag *v = NULL;
	size_t n = 0;
	char err[256];
	bool found = false;
	assert_int_equal(rsl_diag_list(1u << state, &v, &n, err, sizeof err), RSL_OK);
	for (size_t i = 0; i < n; i++)
		found |= v[i].family == family && v[i].sport == port && (v[i].inode == 0) == tw;
	free(v);
	return found;
}

static void wait_state(int family, uint16_t port, int state, bool tw)
{
	double deadline = rsl_now() + 5;
	while (!in_state(family, port, state, tw) && rsl_now() < deadline)
		sched_yield();
	assert_true(in_state(family, port, state, tw));
}

/* Data for a socket closed after the peer acknowledged its FIN: it is a
 * TIME_WAIT socket by then (in its FIN_WAIT2 substate), not a full
 * socket, and the kernel fills the event from the segment (swapped) with
 * state TCP_TIME_WAIT. The FIN goes first with shutdown: on loopback the
 * ACK of a FIN sent by close() comes back while close still holds the
 * socket, which then waits in FIN_WAIT2 as a full socket. */
static void test_trace_time_wait(void **state)
{
	struct rsl_trace *t = *state;
	const struct rsl_rst_event *e;
	int l, c, s;
	uint16_t lport, cport;
	char buf[8];

	pair(AF_INET, &l, &c, &s, &lport, &cport);
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	wait_readable(s);
	assert_int_equal(recv(s, buf, sizeof buf, 0), 0);       /* c's FIN */
	wait_state(AF_INET, cport, 5, false);                   /* FIN_WAIT2, ACKed */
	close(c);
	wait_state(AF_INET, cport, 5, true);                    /* a TIME_WAIT socket */
	assert_int_equal(send(s, "late", 4, MSG_NOSIGNAL), 4);
	assert_int_equal(wait_event(t, AF_INET, LO4, cport, LO4, lport, &e), 1);
	assert_string_equal(e->state, "TCP_TIME_WAIT");
	assert_string_equal(e->reason, "TCP_TIMEWAIT_SOCKET");
	close(s);
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

	pair(AF_INET, &l, &c, &s, &lport, &cport);
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

/* A dual-stack IPv6 socket's SYN to ::ffff:127.0.0.1 on a closed port:
 * the kernel stores v4-mapped addresses, and the event comes back as
 * AF_INET, as the IPv4 packet on the wire. */
static void test_trace_mapped(void **state)
{
	struct rsl_trace *t = *state;
	const struct rsl_rst_event *e;
	uint16_t closed, cport;
	int hold = bound(AF_INET, &closed);
	int c = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_port = htons(closed) };
	to.sin6_addr.s6_addr[10] = 0xff;
	to.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&to.sin6_addr.s6_addr[12], LO4, 4);
	assert_int_equal(connect(c, (struct sockaddr *)&to, sizeof to), -1);
	assert_int_equal(errno, ECONNREFUSED);
	struct sockaddr_in6 me;
	socklen_t len = sizeof me;
	assert_int_equal(getsockname(c, (struct sockaddr *)&me, &len), 0);
	cport = ntohs(me.sin6_port);
	assert_int_equal(wait_event(t, AF_INET, LO4, closed, LO4, cport, &e), 1);
	assert_string_equal(e->reason, "NO_SOCKET");
	close(c);
	close(hold);
}

/* Two readers in one process share nothing: each gets every event. */
static void test_trace_two_readers(void **state)
{
	struct rsl_trace *t = *state, *t2 = NULL;
	const struct rsl_rst_event *e;
	char err[256] = "";
	uint16_t closed, cport;

	assert_int_equal(rsl_trace_open(&t2, err, sizeof err), RSL_OK);
	int hold = bound(AF_INET, &closed);
	int c = bound(AF_INET, &cport);
	assert_int_equal(connect_loop(c, AF_INET, closed), -1);
	assert_int_equal(wait_event(t, AF_INET, LO4, closed, LO4, cport, &e), 1);
	assert_int_equal(wait_event(t2, AF_INET, LO4, closed, LO4, cport, &e), 1);
	rsl_trace_close(t2);
	rsl_trace_close(NULL); /* NULL-safe */
	close(c);
	close(hold);
}

/* rsl_trace_ports keeps only the events with a port in the range: the
 * others are dropped in the kernel and never reach the ring. */
static void test_trace_ports(void **state)
{
	struct rsl_trace *t = *state;
	const struct rsl_rst_event *e;
	uint16_t p1, p2, c1, c2, c3;
	int hold1 = bound(AF_INET, &p1), hold2 = bound(AF_INET, &p2);
	int a = bound(AF_INET, &c1), b = bound(AF_INET, &c2), c = bound(AF_INET, &c3);

	struct rsl_trace_counts n0, n1;
	assert_int_equal(rsl_trace_counts(t, &n0), 0);
	assert_int_equal(rsl_trace_ports(t, p1, p1), RSL_OK);
	assert_int_equal(connect_loop(b, AF_INET, p2), -1);     /* p2 > c2: outside */
	assert_int_equal(connect_loop(a, AF_INET, p1), -1);     /* p1 > c1: inside */
	assert_int_equal(wait_event(t, AF_INET, LO4, p1, LO4, c1, &e), 1);
	/* the ring is in order: the earlier RST would be there by now */
	assert_int_equal(count_events(t, AF_INET, LO4, p2, LO4, c2), 0);
	/* the program counted both runs and the drop (other RSTs on the
	 * machine may add to either) */
	assert_int_equal(rsl_trace_counts(t, &n1), 0);
	assert_true(n1.runs >= n0.runs + 2);
	assert_true(n1.outside >= n0.outside + 1);
	assert_true(n1.runs - n0.runs >= n1.outside - n0.outside + 1);
	assert_true(n1.unreadable == 0);
	/* ... and logged the dropped RST, with its time */
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	double now = (double)rt.tv_sec + (double)rt.tv_nsec * 1e-9;
	int logged = 0;
	for (int i = 0; i < n1.ndrops; i++)
		if (n1.drops[i].sport == p2 && n1.drops[i].dport == c2 &&
		    now - n1.drops[i].ts >= 0 && now - n1.drops[i].ts < 5)
			logged++;
	assert_int_equal(logged, 1);
	assert_int_equal(rsl_trace_counts(NULL, &n1), -1);

	assert_int_equal(rsl_trace_ports(t, 0, 0), RSL_OK);      /* every event again */
	assert_int_equal(connect_loop(c, AF_INET, p2), -1);
	assert_int_equal(wait_event(t, AF_INET, LO4, p2, LO4, c3, &e), 1);

	assert_int_equal(rsl_trace_ports(t, 10, 5), RSL_EINVAL);
	assert_int_equal(rsl_trace_ports(t, 0, 5), RSL_EINVAL);
	assert_int_equal(rsl_trace_ports(t, 1, 70000), RSL_EINVAL);
	assert_int_equal(rsl_trace_ports(NULL, 1, 2), RSL_ECLOSED);
	close(a);
	close(b);
	close(c);
	close(hold1);
	close(hold2);
}

/* More RSTs than the ring holds, between two drains: the ones that did
 * not fit are counted as lost, never silently missing. */
static void test_trace_lost(void **state)
{
	struct rsl_trace *t = *state;
	enum { N = 4000 };      /* the ring holds ~2500 */
	uint16_t closed, cport;
	int hold = bound(AF_INET, &closed);
	int c = bound(AF_INET, &cport);

	assert_int_equal(rsl_trace_drain(t), RSL_OK);
	size_t before = rsl_trace_count(t);
	uint64_t lost0 = rsl_trace_lost(t);
	for (int i = 0; i < N; i++) {
		assert_int_equal(connect_loop(c, AF_INET, closed), -1);
		assert_int_equal(errno, ECONNREFUSED);
	}
	assert_int_equal(rsl_trace_drain(t), RSL_OK);
	/* A refused connect leaves the socket unbound: each attempt comes
	 * from a new port, so ours are the RSTs from the closed port. */
	size_t ours = 0;
	for (size_t i = before; i < rsl_trace_count(t); i++) {
		const struct rsl_rst_event *e = rsl_trace_event(t, i);
		ours += e->family == AF_INET && e->sport == closed && memcmp(e->src, LO4, 16) == 0;
	}
	uint64_t lost = rsl_trace_lost(t) - lost0;
	if (lost == 0 || ours + lost < N)
		fail_msg("%d RSTs: %zu read, %llu counted lost", N, ours,
		         (unsigned long long)lost);
	close(c);
	close(hold);
}

/* ---- the raw tracepoint against the tracepoint's own record ------------ */

static bool same_event(const struct rsl_rst_event *a, const struct rsl_rst_event *b)
{
	return matches(a, b->family, b->src, b->sport, b->dst, b->dport) &&
	       strcmp(a->state, b->state) == 0 && strcmp(a->reason, b->reason) == 0 &&
	       a->ts - b->ts < 1e-3 && b->ts - a->ts < 1e-3;
}

/* The raw tracepoint's program builds its record from the kernel's own
 * structs (offsets from BTF); the tracepoint's record, read through a perf
 * event, is the reference. RSTs of every kind the tracepoint fills
 * differently (no socket, IPv4 and IPv6; a full socket, IPv4 and IPv6; a
 * listener; v4-mapped; a TIME_WAIT socket) give the same events to both. */
static struct rsl_trace *g_raw, *g_perf;

static int teardown_both(void **state)
{
	(void)state;
	rsl_trace_close(g_raw);
	rsl_trace_close(g_perf);
	g_raw = g_perf = NULL;
	rsl_trace_force_perf(false);
	return 0;
}

static void test_trace_raw_as_tracepoint(void **state)
{
	struct rsl_trace *raw = NULL, *perf = NULL;
	char err[256] = "";
	int lo, hi;
	(void)state;

	rsl_trace_force_perf(true);
	assert_int_equal(rsl_trace_open(&perf, err, sizeof err), RSL_OK);
	g_perf = perf;
	rsl_trace_force_perf(false);
	assert_int_equal(rsl_trace_open(&raw, err, sizeof err), RSL_OK);
	g_raw = raw;
	rsl_sandbox_ports(&lo, &hi);
	assert_int_equal(rsl_trace_ports(raw, lo, hi), RSL_OK);
	assert_int_equal(rsl_trace_ports(perf, lo, hi), RSL_OK);

	void *on_raw = raw;
	no_socket(raw, AF_INET);
	no_socket(raw, AF_INET6);
	linger_zero(raw, AF_INET);
	linger_zero(raw, AF_INET6);
	test_trace_unread_close(&on_raw);
	test_trace_listener_rst(&on_raw);
	test_trace_mapped(&on_raw);
	test_trace_time_wait(&on_raw);

	size_t n = rsl_trace_count(raw);
	assert_true(n >= 8);
	double deadline = rsl_now() + 5;
	do
		assert_int_equal(rsl_trace_drain(perf), RSL_OK);
	while (rsl_trace_count(perf) < n && rsl_now() < deadline);
	assert_int_equal(rsl_trace_drain(raw), RSL_OK);
	assert_int_equal(rsl_trace_count(raw), rsl_trace_count(perf));
	for (size_t i = 0; i < rsl_trace_count(raw); i++) {
		const struct rsl_rst_event *a = rsl_trace_event(raw, i), *b = NULL;
		for (size_t k = 0; b == NULL && k < rsl_trace_count(perf); k++)
			if (same_event(a, rsl_trace_event(perf, k)))
				b = rsl_trace_event(perf, k);
		if (b == NULL)
			fail_msg("the raw tracepoint's event %zu (port %u to %u, %s, %s) is not "
			         "the tracepoint's", i, a->sport, a->dport, a->state, a->reason);
	}
}

/* Where the kernel has BTF, a reader's program is on the raw tracepoint
 * (its detach does not wait for grace periods): the link's fdinfo says
 * so. */
static void test_trace_raw_by_default(void **state)
{
	char path[320], line[128];
	bool raw = false;
	(void)state;
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		skip();
	DIR *d = opendir("/proc/self/fdinfo");
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		snprintf(path, sizeof path, "/proc/self/fdinfo/%s", de->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof line, f) != NULL)
			raw |= strncmp(line, "link_type:", 10) == 0 && strstr(line, "raw_tracepoint");
		fclose(f);
	}
	closedir(d);
	assert_true(raw);
}

/* The descriptor of this process's raw tracepoint link, or -1. */
static int raw_link_fd(void)
{
	char path[320], line[128];
	int found = -1;
	DIR *d = opendir("/proc/self/fdinfo");
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d)) != NULL && found < 0;) {
		snprintf(path, sizeof path, "/proc/self/fdinfo/%s", de->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof line, f) != NULL)
			if (strncmp(line, "link_type:", 10) == 0 && strstr(line, "raw_tracepoint"))
				found = atoi(de->d_name);
		fclose(f);
	}
	closedir(d);
	return found;
}

/* A reader can tell whether its program is still on the tracepoint: not
 * once its link's descriptor is closed, nor once that number is another
 * file's (what a double close elsewhere in the process would do). */
static void test_trace_attached(void **state)
{
	(void)state;
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		skip();
	assert_int_equal(rsl_trace_attached(NULL), -1);
	assert_int_equal(rsl_trace_attached(g_trace), 1);
	int fd = raw_link_fd();
	assert_true(fd >= 0);
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(nul >= 0);
	assert_int_equal(dup2(nul, fd), fd); /* the link goes: another file takes its number */
	close(nul);
	assert_int_equal(rsl_trace_attached(g_trace), 0);
	close(fd);
	assert_int_equal(rsl_trace_attached(g_trace), 0);
}

/* The BTF walk stops at the last type wanted by name and goes on when a
 * type past it is asked for by id: a reader that stopped early tells of a
 * later type what one that walked past it tells. A name that is not there
 * is -1 (the walk went to the end). */
static void test_trace_btf_walk_resumes(void **state)
{
	static const struct rsl_btf_name early[] = { { "sk_buff", BTF_KIND_STRUCT } };
	static const struct rsl_btf_name late[] = {
		{ "sk_buff", BTF_KIND_STRUCT },
		{ "btf_trace_tcp_send_reset", BTF_KIND_TYPEDEF },
		{ "rstlab_no_such_type", BTF_KIND_STRUCT },
	};
	struct rsl_btf *a, *b;
	int ea[1], la[3];
	char err[256];
	const char *pa[4], *pb[4];
	(void)state;
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		skip();
	assert_int_equal(rsl_btf_open(&a, early, ea, 1, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_btf_open(&b, late, la, 3, err, sizeof err), RSL_OK);
	assert_true(ea[0] > 0);
	assert_int_equal(ea[0], la[0]);
	assert_int_equal(la[2], -1);
	/* the test means something only if a stopped before the typedef */
	assert_true(la[1] > ea[0]);
	assert_int_equal(rsl_btf_params(b, la[1], pb, 4), 4);
	assert_int_equal(rsl_btf_params(a, la[1], pa, 4), 4);
	for (int i = 0; i < 4; i++)
		assert_string_equal(pa[i], pb[i]);
	assert_string_equal(pa[1], "sock");
	assert_string_equal(pa[2], "sk_buff");
	long sa, sb;
	assert_true(rsl_btf_member(a, ea[0], "len", &sa) >= 0);
	assert_int_equal(rsl_btf_member(a, ea[0], "len", &sa), rsl_btf_member(b, la[0], "len", &sb));
	assert_int_equal(sa, sb);
	rsl_btf_close(a);
	rsl_btf_close(b);
}

/* ---- one program shared by many readers (rsl_trace_share) ---------------- */

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "test_trace_shared: line %d: %s\n", \
	__LINE__, #c); _exit(1); } } while (0)

/* A TCP socket bound to 127.0.0.1:port (0 for any). */
static int bound_at(uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	fill_addr(AF_INET, LO4, port, &ss, &len);
	CHECK(bind(fd, (struct sockaddr *)&ss, len) == 0);
	return fd;
}

/* A refused connect from 127.0.0.1:from to 127.0.0.1:to (bound, not
 * listening): the RST goes from to to from. */
static void refuse(uint16_t from, uint16_t to)
{
	int hold = bound_at(to), c = bound_at(from);
	CHECK(connect_loop(c, AF_INET, to) == -1 && errno == ECONNREFUSED);
	close(c);
	close(hold);
}

/* Events of t from 127.0.0.1:sport to 127.0.0.1:dport, after waiting up
 * to `wait` seconds for one. */
static size_t events_of(struct rsl_trace *t, uint16_t sport, uint16_t dport, double wait)
{
	double deadline = rsl_now() + wait;
	for (;;) {
		CHECK(rsl_trace_drain(t) == RSL_OK);
		size_t n = count_events(t, AF_INET, LO4, sport, LO4, dport);
		if (n > 0 || rsl_now() >= deadline)
			return n;
		struct pollfd p = { .fd = rsl_trace_fd(t), .events = POLLIN };
		poll(&p, 1, 10);
	}
}

/* BPF programs this process holds a descriptor of (the program's own, or
 * the raw tracepoint's link, whose fdinfo names the program too). */
static int progs_held(void)
{
	char path[320], line[128];
	unsigned ids[64];
	int n = 0;
	DIR *d = opendir("/proc/self/fdinfo");
	CHECK(d != NULL);
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		snprintf(path, sizeof path, "/proc/self/fdinfo/%s", de->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		unsigned id;
		while (fgets(line, sizeof line, f) != NULL)
			if (sscanf(line, "prog_id: %u", &id) == 1) {
				int k = 0;
				while (k < n && ids[k] != id)
					k++;
				if (k == n && n < 64)
					ids[n++] = id;
				break;
			}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* The whole test runs in a child: sharing lasts as long as the process. */
static void shared_child(void)
{
	char err[256] = "";
	int lo, hi;
	rsl_sandbox_ports(&lo, &hi);
	CHECK(lo > 0 && lo % 200 == 0 && hi == lo + 199);
	/* a second slot, next to the sandbox's: ports bound by hand */
	int lo2 = lo + 200 <= 59800 ? lo + 200 : lo - 200;
	int before = progs_held();

	CHECK(rsl_trace_share(err, sizeof err) == RSL_OK);
	CHECK(rsl_trace_share(err, sizeof err) == RSL_OK); /* once is enough */
	CHECK(progs_held() == before + 1);
	struct rsl_trace *t1 = NULL, *t2 = NULL, *t3 = NULL;
	CHECK(rsl_trace_open(&t1, err, sizeof err) == RSL_OK);
	CHECK(rsl_trace_open(&t2, err, sizeof err) == RSL_OK);
	CHECK(rsl_trace_open(&t3, err, sizeof err) == RSL_OK);
	CHECK(progs_held() == before + 1); /* readers load no program */
	CHECK(rsl_trace_ports(t1, lo, hi) == RSL_OK);
	CHECK(rsl_trace_ports(t2, lo2 + 10, lo2 + 20) == RSL_OK); /* the whole slot */

	/* each RST reaches the reader of its slot, and only that one */
	refuse((uint16_t)(lo + 7), (uint16_t)(lo + 8));
	refuse((uint16_t)(lo2 + 150), (uint16_t)(lo2 + 151));
	CHECK(events_of(t1, (uint16_t)(lo + 8), (uint16_t)(lo + 7), 5) == 1);
	CHECK(events_of(t2, (uint16_t)(lo2 + 151), (uint16_t)(lo2 + 150), 5) == 1);
	CHECK(events_of(t1, (uint16_t)(lo2 + 151), (uint16_t)(lo2 + 150), 0) == 0);
	CHECK(events_of(t2, (uint16_t)(lo + 8), (uint16_t)(lo + 7), 0) == 0);
	/* a RST between two slots reaches both */
	refuse((uint16_t)(lo + 9), (uint16_t)(lo2 + 9));
	CHECK(events_of(t1, (uint16_t)(lo2 + 9), (uint16_t)(lo + 9), 5) == 1);
	CHECK(events_of(t2, (uint16_t)(lo2 + 9), (uint16_t)(lo + 9), 5) == 1);
	/* without a range a reader of the shared program gets nothing ... */
	CHECK(rsl_trace_drain(t3) == RSL_OK && rsl_trace_count(t3) == 0);
	/* ... and with 0, 0 (every event) it loads its own */
	CHECK(rsl_trace_ports(t3, 0, 0) == RSL_OK);
	CHECK(progs_held() == before + 2);
	refuse((uint16_t)(lo + 11), (uint16_t)(lo + 12));
	CHECK(events_of(t3, (uint16_t)(lo + 12), (uint16_t)(lo + 11), 5) == 1);

	/* losses are counted for the slot whose ring was full */
	uint64_t lost1 = rsl_trace_lost(t1), lost2 = rsl_trace_lost(t2);
	int hold = bound_at((uint16_t)(lo2 + 30)), c = bound_at((uint16_t)(lo2 + 31));
	for (int i = 0; i < 4000; i++)
		CHECK(connect_loop(c, AF_INET, (uint16_t)(lo2 + 30)) == -1);
	close(c);
	close(hold);
	CHECK(rsl_trace_lost(t2) > lost2);
	CHECK(rsl_trace_lost(t1) == lost1);

	/* a closed reader leaves its slot: the next one of that slot reads */
	rsl_trace_close(t2);
	CHECK(rsl_trace_open(&t2, err, sizeof err) == RSL_OK);
	CHECK(rsl_trace_ports(t2, lo2, lo2 + 199) == RSL_OK);
	CHECK(rsl_trace_lost(t2) == 0);
	refuse((uint16_t)(lo2 + 160), (uint16_t)(lo2 + 161));
	CHECK(events_of(t2, (uint16_t)(lo2 + 161), (uint16_t)(lo2 + 160), 5) == 1);
	rsl_trace_close(t1);
	rsl_trace_close(t2);
	rsl_trace_close(t3);
	_exit(0);
}

static void test_trace_shared(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		shared_child();
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* The id of the BPF program that process pid holds (its fdinfo says
 * "prog_id:"), or 0. */
static unsigned prog_id_of(pid_t pid)
{
	char dir[64], path[384], line[128];
	unsigned id = 0;
	snprintf(dir, sizeof dir, "/proc/%d/fdinfo", (int)pid);
	DIR *d = opendir(dir);
	assert_non_null(d);
	for (struct dirent *de; id == 0 && (de = readdir(d)) != NULL;) {
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof line, f) != NULL)
			if (sscanf(line, "prog_id: %u", &id) == 1)
				break;
		fclose(f);
	}
	closedir(d);
	return id;
}

static bool prog_exists(unsigned id)
{
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	a.prog_id = id;
	int fd = (int)syscall(SYS_bpf, BPF_PROG_GET_FD_BY_ID, &a, sizeof a);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

/* A process killed while it reads leaves nothing behind: the kernel
 * frees its program (after an RCU grace period) with its descriptors. */
static void test_trace_killed_process_leaves_nothing(void **state)
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
	unsigned id = n == 1 ? prog_id_of(pid) : 0;
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(n, 1);
	assert_true(id > 0);
	double deadline = rsl_now() + 5;
	while (prog_exists(id) && rsl_now() < deadline)
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	if (prog_exists(id))
		fail_msg("BPF program %u outlived its killed process", id);
}

int main(void)
{
	char why[256] = "", err[256] = "";
#define LIVE(f) cmocka_unit_test_setup_teardown(f, setup_trace, teardown_trace)
#define LIVE_TESTS                                                                  \
	LIVE(test_trace_no_socket_ipv4), LIVE(test_trace_no_socket_ipv6),            \
	LIVE(test_trace_linger_zero), LIVE(test_trace_linger_zero_ipv6),              \
	LIVE(test_trace_unread_close), LIVE(test_trace_listener_rst),                 \
	LIVE(test_trace_mapped), LIVE(test_trace_time_wait),                          \
	LIVE(test_trace_two_readers), LIVE(test_trace_ports), LIVE(test_trace_lost),  \
	cmocka_unit_test(test_trace_killed_process_leaves_nothing),                   \
	cmocka_unit_test(test_trace_shared)
	const struct CMUnitTest raw[] = {
		LIVE_TESTS,
		LIVE(test_trace_raw_by_default), LIVE(test_trace_attached),
		cmocka_unit_test(test_trace_btf_walk_resumes),
		cmocka_unit_test_teardown(test_trace_raw_as_tracepoint, teardown_both),
	};
	const struct CMUnitTest perf[] = { LIVE_TESTS };

	bool tracing = rsl_sandbox_prepare_tracing(why, sizeof why) == RSL_OK;
	if (rsl_sandbox_enter(err, sizeof err) != RSL_OK) {
		printf("skipped: no network namespace: %s\n", err);
		return 77;
	}
	if (!tracing || rsl_trace_check(why, sizeof why) != RSL_OK) {
		printf("skipped: tracepoint unavailable: %s\n", why);
		return 77;
	}
	/* every test on the raw tracepoint (the default where BTF gives
	 * its offsets), then on the tracepoint through a perf event (the
	 * fallback) */
	int failed = cmocka_run_group_tests_name("trace_live (raw tracepoint)", raw, NULL, NULL);
	rsl_trace_force_perf(true);
	failed += cmocka_run_group_tests_name("trace_live (perf event)", perf, NULL, NULL);
	return failed;
}
