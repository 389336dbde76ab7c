/*
 * Tests of live packet capture (core/capture.c) on real kernel sockets.
 *
 * The test process first enters a fresh network namespace of its own
 * (rsl_sandbox_enter), so the only traffic on its lo is what these tests
 * make; where no namespace can be had the whole program is skipped (exit
 * 77).  Each test gets a fresh loop, opens a capture on lo, makes real TCP
 * connections over 127.0.0.1 or ::1 with plain non-blocking socket calls,
 * and drives the loop until the packets it expects are stored.  Waiting is
 * bounded by a libev timer, never by sleeping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rstlab/rstlab.h"
#include "internal.h"

#include <linux/filter.h>

/* Generous: the packets of these tests cross lo within microseconds; this
 * only bounds a test that would otherwise hang. */
#define WAIT_SECONDS 10.0

struct fixture {
	struct rsl_loop *loop;
	struct rsl_capture *cap;
	int fds[3];           /* listener, client, accepted; -1 when unused */
	size_t callbacks;     /* on_packet calls seen */
	size_t next_index;    /* the index the next callback must carry */
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);

	if (fx == NULL)
		return -1;
	fx->loop = rsl_loop_new();
	if (fx->loop == NULL) {
		free(fx);
		return -1;
	}
	fx->fds[0] = fx->fds[1] = fx->fds[2] = -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int i;

	for (i = 0; i < 3; i++)
		if (fx->fds[i] >= 0)
			close(fx->fds[i]);
	rsl_capture_free(fx->cap);
	rsl_loop_free(fx->loop);
	free(fx);
	return 0;
}

static void on_packet(struct rsl_capture *cap, size_t index, void *ud)
{
	struct fixture *fx = ud;

	assert_int_equal(index, fx->next_index);
	assert_non_null(rsl_capture_packet(cap, index));
	fx->next_index++;
	fx->callbacks++;
}

static void on_deadline(struct ev_loop *ev, ev_timer *w, int revents)
{
	*(bool *)w->data = true;
}

/* Step the loop until the capture holds n packets or the deadline passes;
 * the timer only makes a blocking step return. */
static size_t wait_for(struct fixture *fx, size_t n)
{
	struct ev_loop *ev = rsl_loop_ev(fx->loop);
	bool expired = false;
	ev_timer t;

	ev_timer_init(&t, on_deadline, WAIT_SECONDS, 0);
	t.data = &expired;
	ev_timer_start(ev, &t);
	while (rsl_capture_count(fx->cap) < n && !expired)
		rsl_loop_step(fx->loop, true);
	ev_timer_stop(ev, &t);
	return rsl_capture_count(fx->cap);
}

/* A capture of ifname, every packet counted by on_packet. */
static void open_capture_on(struct fixture *fx, const char *ifname, const char *filter,
                            const char *label)
{
	int rc;

	fx->cap = rsl_capture_new(fx->loop, on_packet, fx);
	assert_non_null(fx->cap);
	rc = rsl_capture_add(fx->cap, ifname, filter, label);
	if (rc != RSL_OK)
		fail_msg("rsl_capture_add: %d %s", rc, rsl_capture_error(fx->cap));
}

static void open_capture(struct fixture *fx, const char *filter, const char *label)
{
	open_capture_on(fx, "lo", filter, label);
}

static int nonblocking_socket(int family, int type)
{
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	return fd;
}

/* A listener on the loopback address of family, port picked by the
 * kernel; returns its port. */
static uint16_t listen_loopback(struct fixture *fx, int family)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int fd = nonblocking_socket(family, SOCK_STREAM);

	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof *sin6;
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	fx->fds[0] = fd;
	return ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                               : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Start a non-blocking connect to the listener; returns the client's
 * local port. */
static uint16_t connect_loopback(struct fixture *fx, int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = nonblocking_socket(family, SOCK_STREAM), rc;

	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons(port);
		len = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons(port);
		len = sizeof *sin6;
	}
	rc = connect(fd, (struct sockaddr *)&ss, len);
	assert_true(rc == 0 || errno == EINPROGRESS);
	fx->fds[1] = fd;
	len = sizeof ss;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	return ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                               : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* The handshake and one 5-byte write from the client: S, S., ., P. */
static void handshake_and_write(struct fixture *fx, int family, uint16_t *cport,
                                uint16_t *sport)
{
	*sport = listen_loopback(fx, family);
	*cport = connect_loopback(fx, family, *sport);
	if (wait_for(fx, 3) < 3)
		fail_msg("handshake not captured: %zu packets", rsl_capture_count(fx->cap));
	fx->fds[2] = accept4(fx->fds[0], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(fx->fds[2] >= 0);
	assert_int_equal(send(fx->fds[1], "hello", 5, MSG_NOSIGNAL), 5);
	if (wait_for(fx, 4) < 4)
		fail_msg("data segment not captured: %zu packets", rsl_capture_count(fx->cap));
}

static void check_handshake(struct fixture *fx, int family, uint16_t cport,
                            uint16_t sport, int mss)
{
	const struct rsl_packet *syn = rsl_capture_packet(fx->cap, 0);
	const struct rsl_packet *synack = rsl_capture_packet(fx->cap, 1);
	const struct rsl_packet *ack = rsl_capture_packet(fx->cap, 2);
	const struct rsl_packet *data = rsl_capture_packet(fx->cap, 3);
	char fl[10];

	assert_string_equal(rsl_flags_format(syn->flags, fl, sizeof fl), "S");
	assert_string_equal(rsl_flags_format(synack->flags, fl, sizeof fl), "S.");
	assert_string_equal(rsl_flags_format(ack->flags, fl, sizeof fl), ".");
	assert_string_equal(rsl_flags_format(data->flags, fl, sizeof fl), "P.");

	assert_int_equal(syn->family, family);
	assert_int_equal(syn->sport, cport);
	assert_int_equal(syn->dport, sport);
	assert_int_equal(synack->sport, sport);
	assert_int_equal(synack->dport, cport);
	assert_int_equal(data->sport, cport);

	assert_int_equal(syn->mss, mss);
	assert_int_equal(synack->mss, mss);
	assert_true(syn->sack_ok);
	assert_true(syn->has_ts);
	assert_true(syn->wscale >= 0);
	assert_int_equal(ack->mss, -1);
	assert_int_equal(ack->wscale, -1);
	assert_false(ack->sack_ok);

	/* relative sequence numbers, as tcpdump shows them */
	assert_int_equal(synack->ack - syn->seq, 1);
	assert_int_equal(ack->seq - syn->seq, 1);
	assert_int_equal(ack->ack - synack->seq, 1);
	assert_int_equal(data->seq - syn->seq, 1);
	assert_int_equal(data->ack - synack->seq, 1);

	assert_int_equal(syn->len, 0);
	assert_int_equal(synack->len, 0);
	assert_int_equal(ack->len, 0);
	assert_int_equal(data->len, 5);
	assert_false(data->truncated);
	assert_true(data->ts >= syn->ts && syn->ts > 0);
}

/* ---- tests ------------------------------------------------------------ */

static double realtime(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* First in the list: the first capture of this process. Its packets carry
 * the time they crossed lo, not the time they were read: the kernel
 * switches packet timestamps on some time after the first socket asks,
 * and a packet that came before that would have none (with SO_TIMESTAMPNS
 * the reader is given the time it read it). Read 30 ms after the
 * handshake, every packet must be older than that. (Where another process
 * on the machine holds timestamps on already, there is no such window,
 * and this passes either way.) */
static void test_capture_stamped_on_arrival(void **state)
{
	struct fixture *fx = *state;
	struct timespec pause = { 0, 30 * 1000 * 1000 };
	double before, sent;

	before = realtime();
	open_capture(fx, NULL, NULL);
	connect_loopback(fx, AF_INET, listen_loopback(fx, AF_INET));
	sent = realtime(); /* lo delivers synchronously: the handshake is done */
	nanosleep(&pause, NULL);
	assert_int_equal(rsl_capture_drain(fx->cap), RSL_OK);
	assert_int_equal(rsl_capture_count(fx->cap), 3);
	for (size_t i = 0; i < 3; i++) {
		double ts = rsl_capture_packet(fx->cap, i)->ts;

		if (ts < before || ts > sent)
			fail_msg("packet %zu stamped %.6f s after the capture opened, the handshake "
			         "ended %.6f s after it", i, ts - before, sent - before);
	}
}


static void test_capture_handshake_ipv4(void **state)
{
	struct fixture *fx = *state;
	uint16_t cport, sport;
	const uint8_t lo4[4] = { 127, 0, 0, 1 };

	open_capture(fx, NULL, NULL);
	handshake_and_write(fx, AF_INET, &cport, &sport);
	/* lo's MTU is 64 KiB; an IPv4 packet stops at 65535 bytes */
	check_handshake(fx, AF_INET, cport, sport, 65495);
	assert_memory_equal(rsl_capture_packet(fx->cap, 0)->src, lo4, 4);
	assert_memory_equal(rsl_capture_packet(fx->cap, 0)->dst, lo4, 4);
	assert_string_equal(rsl_capture_packet_iface(fx->cap, 0), "lo");
	assert_true(fx->callbacks >= 4);
	assert_int_equal(fx->callbacks, rsl_capture_count(fx->cap));
	assert_null(rsl_capture_packet(fx->cap, rsl_capture_count(fx->cap)));
	assert_int_equal(rsl_capture_malformed(fx->cap), 0);
}

static void test_capture_handshake_ipv6(void **state)
{
	struct fixture *fx = *state;
	uint16_t cport, sport;

	open_capture(fx, NULL, "A:lo");
	handshake_and_write(fx, AF_INET6, &cport, &sport);
	/* lo's 65536-byte MTU less the IPv6 and TCP headers: IPv6's payload
	 * length does not count its own header, so no 65535 cap applies */
	check_handshake(fx, AF_INET6, cport, sport, 65476);
	assert_memory_equal(rsl_capture_packet(fx->cap, 0)->src, &in6addr_loopback, 16);
	assert_string_equal(rsl_capture_packet_iface(fx->cap, 3), "A:lo");
}

/* Live when rsl_capture_add returns: traffic made right after it is
 * there at the first drain, without any loop iteration. */
static void test_capture_live_on_return(void **state)
{
	struct fixture *fx = *state;
	uint16_t sport;

	open_capture(fx, NULL, NULL);
	sport = listen_loopback(fx, AF_INET);
	connect_loopback(fx, AF_INET, sport);
	/* loopback delivery is synchronous: the handshake is done by now */
	assert_int_equal(rsl_capture_drain(fx->cap), RSL_OK);
	assert_int_equal(rsl_capture_count(fx->cap), 3);
	assert_int_equal(fx->callbacks, 3);
}

static void test_capture_bad_filter(void **state)
{
	struct fixture *fx = *state;
	int rc;

	fx->cap = rsl_capture_new(fx->loop, NULL, NULL);
	assert_non_null(fx->cap);
	rc = rsl_capture_add(fx->cap, "lo", "tcpp", NULL);
	assert_int_equal(rc, RSL_EINVAL);
	assert_non_null(strstr(rsl_capture_error(fx->cap), "bad capture filter \"tcpp\""));
	assert_int_equal(rsl_capture_count(fx->cap), 0);
	/* the failed add left the capture usable */
	assert_int_equal(rsl_capture_add(fx->cap, "lo", "tcp port 1", NULL), RSL_OK);
}

static void test_capture_no_such_interface(void **state)
{
	struct fixture *fx = *state;
	int rc;

	fx->cap = rsl_capture_new(fx->loop, NULL, NULL);
	assert_non_null(fx->cap);
	rc = rsl_capture_add(fx->cap, "nosuchif0", NULL, NULL);
	assert_int_not_equal(rc, RSL_OK);
	assert_non_null(strstr(rsl_capture_error(fx->cap), "nosuchif0"));
}

/* The filter decides what is stored: a port filter keeps out a second
 * connection, and what the filter lets through that is not TCP is
 * counted, not stored. */
static void test_capture_filter_and_skipped(void **state)
{
	struct fixture *fx = *state;
	struct sockaddr_in to = { .sin_family = AF_INET,
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                          .sin_port = htons(9) };
	int u;

	open_capture(fx, "udp port 9", NULL);
	u = nonblocking_socket(AF_INET, SOCK_DGRAM);
	assert_int_equal(sendto(u, "x", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
	close(u);
	/* a TCP handshake too, which the filter keeps out */
	connect_loopback(fx, AF_INET, listen_loopback(fx, AF_INET));
	rsl_capture_drain(fx->cap);
	assert_int_equal(rsl_capture_skipped(fx->cap), 1);
	assert_int_equal(rsl_capture_count(fx->cap), 0);
}

/* A filter compiled ahead (as a file's server does before it forks its
 * scenarios) is the one a capture with the same text then uses; one that
 * does not compile says why, each time it is asked for. */
static void test_capture_precompile(void **state)
{
	struct fixture *fx = *state;
	char err[RSL_ERRLEN] = "";
	uint16_t sport;

	assert_int_equal(rsl_capture_precompile("tcpp", err, sizeof err), RSL_EINVAL);
	assert_non_null(strstr(err, "bad capture filter \"tcpp\""));
	assert_int_equal(rsl_capture_precompile("tcpp", err, sizeof err), RSL_EINVAL);
	assert_int_equal(rsl_capture_precompile(NULL, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_capture_precompile("tcp port 1", err, sizeof err), RSL_OK);

	/* "tcp port 1", compiled above: a handshake on another port stays out */
	open_capture(fx, "tcp port 1", NULL);
	assert_int_equal(rsl_capture_add(fx->cap, "lo", "tcp port 1", "second"), RSL_OK);
	sport = listen_loopback(fx, AF_INET);
	assert_int_not_equal(sport, 1);
	connect_loopback(fx, AF_INET, sport);
	assert_int_equal(rsl_capture_drain(fx->cap), RSL_OK);
	assert_int_equal(rsl_capture_count(fx->cap), 0);
	assert_int_equal(rsl_capture_add(fx->cap, "lo", "tcpp", NULL), RSL_EINVAL);
	assert_non_null(strstr(rsl_capture_error(fx->cap), "bad capture filter \"tcpp\""));
}

/* A frame for the filter comparison: an Ethernet header (ethertype et)
 * when eth, then an IP header of version ver whose protocol / next header
 * is proto; for IPv6 with proto 44, a fragment header whose next header
 * is next. Cut to len bytes when len > 0. Returns its length. */
static size_t frame(uint8_t *buf, bool eth, uint16_t et, int ver, int proto, int next,
                    size_t len)
{
	size_t n = 0;
	memset(buf, 0, 128);
	if (eth) {
		buf[12] = (uint8_t)(et >> 8);
		buf[13] = (uint8_t)et;
		n = 14;
	}
	if (ver == 4) {
		buf[n] = 0x45;
		buf[n + 9] = (uint8_t)proto;
		n += 20 + 20;
	} else if (ver == 6) {
		buf[n] = 0x60;
		buf[n + 6] = (uint8_t)proto;
		if (proto == 44)
			buf[n + 40] = (uint8_t)next;
		n += 40 + 8 + 20;
	}
	return len > 0 && len < n ? len : n;
}

/* The built-in "tcp" filter keeps exactly the frames libpcap's own keeps,
 * with the same length, on Ethernet and on raw IP (the cooked sockets of
 * "any"): TCP over IPv4 and IPv6 (after a fragment header too), and not
 * UDP, ICMP, ARP, a VLAN tag, another header first, or a cut frame. */
static void test_capture_builtin_tcp_filter(void **state)
{
	/* tcp: whether it is TCP on Ethernet, and as raw IP (no ethertype;
	 * a frame cut short of the Ethernet filter's bytes still has them) */
	static const struct {
		uint16_t et; int ver, proto, next; size_t len; bool tcp[2];
	} cases[] = {
		{ 0x0800, 4, 6, 0, 0, { true, true } },     { 0x0800, 4, 17, 0, 0, { false, false } },
		{ 0x0800, 4, 1, 0, 0, { false, false } },   { 0x86dd, 6, 6, 0, 0, { true, true } },
		{ 0x86dd, 6, 17, 0, 0, { false, false } },  { 0x86dd, 6, 44, 6, 0, { true, true } },
		{ 0x86dd, 6, 44, 17, 0, { false, false } }, { 0x86dd, 6, 0, 6, 0, { false, false } },
		{ 0x0806, 0, 0, 0, 0, { false, false } },   { 0x8100, 4, 6, 0, 0, { false, true } },
		{ 0x0800, 6, 6, 0, 0, { false, true } },    { 0x86dd, 4, 6, 0, 0, { false, true } },
		{ 0x0800, 4, 6, 0, 20, { false, true } },   { 0x86dd, 6, 44, 6, 50, { false, true } },
		{ 0x0800, 4, 6, 0, 10, { false, true } },   { 0x86dd, 6, 44, 6, 40, { false, false } },
	};
	(void)state;
	for (int raw = 0; raw < 2; raw++) {
		int dlt = raw ? DLT_RAW : DLT_EN10MB;
		pcap_t *dead = pcap_open_dead(dlt, 65535);
		struct bpf_program theirs;
		assert_non_null(dead);
		assert_int_equal(pcap_compile(dead, &theirs, "tcp", 1, PCAP_NETMASK_UNKNOWN), 0);
		const struct sock_fprog *ours = rsl_capture_tcp_filter(dlt);
		/* the kernel's instruction layout is libpcap's (code, jt, jf, k) */
		const struct bpf_insn *mine = (const struct bpf_insn *)ours->filter;
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			uint8_t buf[128];
			if (raw && cases[i].ver == 0)
				continue; /* (not IP at all) */
			size_t n = frame(buf, !raw, cases[i].et, cases[i].ver, cases[i].proto,
			                 cases[i].next, cases[i].len);
			u_int want = bpf_filter(theirs.bf_insns, buf, (u_int)n, (u_int)n);
			u_int got = bpf_filter(mine, buf, (u_int)n, (u_int)n);
			if (got != want)
				fail_msg("%s case %zu: ours %u, libpcap's %u", raw ? "raw" : "ethernet", i,
				         got, want);
			if ((want != 0) != cases[i].tcp[raw])
				fail_msg("%s case %zu: libpcap's filter said %u", raw ? "raw" : "ethernet",
				         i, want);
		}
		pcap_freecode(&theirs);
		pcap_close(dead);
	}
}

/* A TCP header with a data offset of 4, sent through a raw socket. */
static void test_capture_malformed_counted(void **state)
{
	struct fixture *fx = *state;
	struct sockaddr_in to = { .sin_family = AF_INET,
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint8_t seg[20] = { 0x30, 0x39, 0x00, 0x50, [12] = 0x40, [13] = 0x10 };
	int r;

	open_capture(fx, NULL, NULL);
	r = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
	if (r < 0)
		skip();
	assert_int_equal(sendto(r, seg, sizeof seg, 0, (struct sockaddr *)&to, sizeof to),
	                 (ssize_t)sizeof seg);
	close(r);
	rsl_capture_drain(fx->cap);
	assert_int_equal(rsl_capture_malformed(fx->cap), 1);
	assert_int_equal(rsl_capture_count(fx->cap), 0);
}

static void assert_same_packet(const struct rsl_packet *a, const struct rsl_packet *b)
{
	int k;

	assert_true(a->ts == b->ts);
	assert_int_equal(a->family, b->family);
	assert_memory_equal(a->src, b->src, 16);
	assert_memory_equal(a->dst, b->dst, 16);
	assert_int_equal(a->sport, b->sport);
	assert_int_equal(a->dport, b->dport);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->ack, b->ack);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->win, b->win);
	assert_int_equal(a->len, b->len);
	assert_int_equal(a->ttl, b->ttl);
	assert_int_equal(a->mss, b->mss);
	assert_int_equal(a->wscale, b->wscale);
	assert_int_equal(a->sack_ok, b->sack_ok);
	assert_int_equal(a->has_ts, b->has_ts);
	assert_int_equal(a->ts_val, b->ts_val);
	assert_int_equal(a->ts_ecr, b->ts_ecr);
	assert_int_equal(a->nsack, b->nsack);
	for (k = 0; k < a->nsack; k++) {
		assert_int_equal(a->sack[k][0], b->sack[k][0]);
		assert_int_equal(a->sack[k][1], b->sack[k][1]);
	}
	assert_int_equal(a->truncated, b->truncated);
}

/* Write the capture to a file, read it back with libpcap: the link type
 * expected, and every packet as stored. The lengths (caplen, len on the
 * wire) of the longest frame go back to the caller. */
static void write_and_read_back(struct fixture *fx, int linktype, bpf_u_int32 *caplen,
                                bpf_u_int32 *len)
{
	char path[] = "/tmp/rstlab-test-capture-XXXXXX";
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *bytes;
	size_t k = 0, n = rsl_capture_count(fx->cap);
	pcap_t *p;
	int fd, rc;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	rc = rsl_capture_write(fx->cap, path);
	if (rc != RSL_OK) {
		unlink(path);
		fail_msg("rsl_capture_write: %s", rsl_capture_error(fx->cap));
	}
	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	unlink(path);
	if (p == NULL)
		fail_msg("pcap_open_offline: %s", errbuf);
	assert_int_equal(pcap_datalink(p), linktype);
	*caplen = *len = 0;
	while ((rc = pcap_next_ex(p, &h, &bytes)) == 1) {
		struct rsl_packet got;

		assert_true(k < n);
		got.ts = (double)h->ts.tv_sec + (double)h->ts.tv_usec * 1e-9; /* ns file */
		assert_int_equal(rsl_decode(pcap_datalink(p), bytes, h->caplen, &got, NULL),
		                 RSL_OK);
		assert_same_packet(&got, rsl_capture_packet(fx->cap, k));
		if (h->len > *len) {
			*len = h->len;
			*caplen = h->caplen;
		}
		k++;
	}
	pcap_close(p);
	assert_int_equal(rc, PCAP_ERROR_BREAK); /* end of file, not an error */
	assert_int_equal(k, n);
}

static void test_capture_write_reads_back(void **state)
{
	struct fixture *fx = *state;
	bpf_u_int32 caplen, len;
	uint16_t cport, sport;

	open_capture(fx, NULL, NULL);
	handshake_and_write(fx, AF_INET, &cport, &sport);
	/* close first: the stored packets stay, and nothing more arrives */
	rsl_capture_close(fx->cap);
	write_and_read_back(fx, DLT_EN10MB, &caplen, &len);
	/* the longest: the 5-byte write (Ethernet, IPv4, TCP with timestamps:
	 * 71 bytes) or the SYNs (40 bytes of options: 74) */
	assert_int_equal(len, 14 + 20 + 40);
	assert_int_equal(caplen, len);
}

/* The longest payload among the packets stored. */
static uint32_t longest_payload(struct fixture *fx)
{
	uint32_t most = 0;

	for (size_t i = 0; i < rsl_capture_count(fx->cap); i++)
		if (rsl_capture_packet(fx->cap, i)->len > most)
			most = rsl_capture_packet(fx->cap, i)->len;
	return most;
}

/* A frame longer than the snap length (65535) is cut there and keeps its
 * length on the wire: lo carries a full segment (65483 bytes, once the
 * window lets the sender make one) in 14 + 20 + 32 + 65483 bytes. */
static void test_capture_long_frame_keeps_its_length(void **state)
{
	struct fixture *fx = *state;
	static char buf[65536];
	const uint32_t full = 65483;
	bpf_u_int32 caplen, len;
	size_t sent = 0;

	open_capture(fx, NULL, NULL);
	connect_loopback(fx, AF_INET, listen_loopback(fx, AF_INET));
	assert_int_equal(wait_for(fx, 3), 3);
	fx->fds[2] = accept4(fx->fds[0], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(fx->fds[2] >= 0);
	memset(buf, 'x', sizeof buf);
	/* Data through, read as it comes, until a full segment went by (the
	 * window grows as the receiver reads); 16 MiB at most. */
	while (longest_payload(fx) < full && sent < 16 * 1024 * 1024) {
		ssize_t n = send(fx->fds[1], buf, sizeof buf, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			sent += (size_t)n;
		while (recv(fx->fds[2], buf, sizeof buf, MSG_DONTWAIT) > 0)
			;
		rsl_loop_step(fx->loop, false);
	}
	assert_int_equal(longest_payload(fx), full);
	rsl_capture_close(fx->cap);
	assert_int_equal(rsl_capture_dropped(fx->cap), 0);
	for (size_t i = 0; i < rsl_capture_count(fx->cap); i++) {
		const struct rsl_packet *p = rsl_capture_packet(fx->cap, i);

		assert_int_equal(p->truncated, p->len == full);
	}
	write_and_read_back(fx, DLT_EN10MB, &caplen, &len);
	assert_int_equal(caplen, 65535);
	assert_int_equal(len, 14 + 20 + 32 + full);
}

/* "any": every interface, in cooked frames (LINUX_SLL2), and on lo each
 * packet once, as on lo itself (the kernel offers lo's packets as sent
 * and as received). */
static void test_capture_any_cooked(void **state)
{
	struct fixture *fx = *state;
	bpf_u_int32 caplen, len;
	uint16_t cport, sport;

	open_capture_on(fx, "any", NULL, NULL);
	handshake_and_write(fx, AF_INET, &cport, &sport);
	check_handshake(fx, AF_INET, cport, sport, 65495);
	assert_string_equal(rsl_capture_packet_iface(fx->cap, 0), "any");
	assert_int_equal(rsl_capture_drain(fx->cap), RSL_OK);
	/* each packet once: the 4 waited for, and maybe the ACK of the data */
	assert_true(rsl_capture_count(fx->cap) == 4 || rsl_capture_count(fx->cap) == 5);
	if (rsl_capture_count(fx->cap) == 5)
		assert_int_equal(rsl_capture_packet(fx->cap, 4)->sport, sport);
	rsl_capture_close(fx->cap);
	write_and_read_back(fx, DLT_LINUX_SLL2, &caplen, &len);
	assert_int_equal(len, 20 + 20 + 40); /* the SYNs, in a cooked frame */
}

static void test_capture_write_bad_path(void **state)
{
	struct fixture *fx = *state;

	open_capture(fx, NULL, NULL);
	assert_int_equal(rsl_capture_write(fx->cap, "/nonexistent-dir/x.pcap"), RSL_ESYS);
	assert_non_null(strstr(rsl_capture_error(fx->cap), "nonexistent-dir"));
}

/* Two handles on one interface: every packet twice, each labelled, in
 * arrival order; a third with another link type makes one pcap file
 * impossible. */
static void test_capture_several_handles(void **state)
{
	struct fixture *fx = *state;
	size_t i, a = 0, b = 0;
	int rc;

	open_capture(fx, NULL, "first");
	assert_int_equal(rsl_capture_add(fx->cap, "lo", NULL, "second"), RSL_OK);
	connect_loopback(fx, AF_INET, listen_loopback(fx, AF_INET));
	assert_int_equal(wait_for(fx, 6), 6);
	for (i = 0; i < 6; i++) {
		const char *label = rsl_capture_packet_iface(fx->cap, i);

		if (strcmp(label, "first") == 0)
			a++;
		else if (strcmp(label, "second") == 0)
			b++;
	}
	assert_int_equal(a, 3);
	assert_int_equal(b, 3);

	/* "any" captures with a cooked header, not Ethernet */
	rc = rsl_capture_add(fx->cap, "any", NULL, "all");
	if (rc != RSL_OK)
		fail_msg("any: %s", rsl_capture_error(fx->cap));
	assert_int_equal(rsl_capture_write(fx->cap, "/tmp/rstlab-never-written.pcap"),
	                 RSL_EINVAL);
	assert_non_null(strstr(rsl_capture_error(fx->cap), "link type"));
	assert_int_equal(access("/tmp/rstlab-never-written.pcap", F_OK), -1);
}

static void test_capture_close_idempotent(void **state)
{
	struct fixture *fx = *state;
	uint16_t sport;

	open_capture(fx, NULL, NULL);
	sport = listen_loopback(fx, AF_INET);
	rsl_capture_close(fx->cap);
	rsl_capture_close(fx->cap);
	/* closed: traffic now is not captured, and adding is refused */
	connect_loopback(fx, AF_INET, sport);
	rsl_capture_drain(fx->cap);
	rsl_loop_step(fx->loop, false);
	assert_int_equal(rsl_capture_count(fx->cap), 0);
	assert_int_equal(rsl_capture_add(fx->cap, "lo", NULL, NULL), RSL_ECLOSED);
	rsl_capture_free(fx->cap);
	fx->cap = NULL;
	rsl_capture_free(NULL);
}

/* Closing, or freeing, the capture from its own callback: pcap is in the
 * middle of its buffer then, so both must wait until it returns. */
static void close_on_first(struct rsl_capture *cap, size_t index, void *ud)
{
	struct fixture *fx = ud;

	fx->callbacks++;
	rsl_capture_close(cap);
	rsl_capture_close(cap);
}

static void free_on_first(struct rsl_capture *cap, size_t index, void *ud)
{
	struct fixture *fx = ud;

	fx->callbacks++;
	assert_ptr_equal(cap, fx->cap);
	rsl_capture_free(cap);
	fx->cap = NULL;
}

static void test_capture_close_from_callback(void **state)
{
	struct fixture *fx = *state;

	fx->cap = rsl_capture_new(fx->loop, close_on_first, fx);
	assert_non_null(fx->cap);
	assert_int_equal(rsl_capture_add(fx->cap, "lo", NULL, NULL), RSL_OK);
	connect_loopback(fx, AF_INET, listen_loopback(fx, AF_INET));
	assert_int_equal(wait_for(fx, 1), 1);
	rsl_capture_drain(fx->cap);
	rsl_loop_step(fx->loop, false);
	assert_int_equal(rsl_capture_count(fx->cap), 1);
	assert_int_equal(fx->callbacks, 1);
}

static void test_capture_free_from_callback(void **state)
{
	struct fixture *fx = *state;
	struct ev_loop *ev = rsl_loop_ev(fx->loop);
	bool expired = false;
	ev_timer t;

	fx->cap = rsl_capture_new(fx->loop, free_on_first, fx);
	assert_non_null(fx->cap);
	assert_int_equal(rsl_capture_add(fx->cap, "lo", NULL, NULL), RSL_OK);
	connect_loopback(fx, AF_INET, listen_loopback(fx, AF_INET));
	ev_timer_init(&t, on_deadline, WAIT_SECONDS, 0);
	t.data = &expired;
	ev_timer_start(ev, &t);
	while (fx->cap != NULL && !expired)
		rsl_loop_step(fx->loop, true);
	ev_timer_stop(ev, &t);
	assert_null(fx->cap);
	assert_int_equal(fx->callbacks, 1);
	/* nothing of the capture is left on the loop */
	rsl_loop_step(fx->loop, false);
}

static void set_lo_up(bool up)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	if (up)
		ifr.ifr_flags |= IFF_UP;
	else
		ifr.ifr_flags &= ~IFF_UP;
	assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

/* An interface that is down cannot be captured; one that goes down
 * stops its capture, which says so. (Last: it takes lo down and up.) */
static void test_capture_interface_down(void **state)
{
	struct fixture *fx = *state;
	int rc;

	fx->cap = rsl_capture_new(fx->loop, NULL, NULL);
	assert_non_null(fx->cap);
	set_lo_up(false);
	rc = rsl_capture_add(fx->cap, "lo", NULL, NULL);
	set_lo_up(true);
	assert_int_equal(rc, RSL_ESYS);
	assert_string_equal(rsl_capture_error(fx->cap), "lo: That device is not up");

	assert_int_equal(rsl_capture_add(fx->cap, "lo", NULL, NULL), RSL_OK);
	/* a failed add is not a failure of the capture */
	assert_null(rsl_capture_failure(fx->cap));
	set_lo_up(false);
	rc = rsl_capture_drain(fx->cap);
	set_lo_up(true);
	assert_int_equal(rc, RSL_ESYS);
	assert_string_equal(rsl_capture_error(fx->cap),
	                    "capture on lo failed: the interface went down");
	/* kept: the next drain, which finds nothing wrong, does not clear it */
	assert_int_equal(rsl_capture_drain(fx->cap), RSL_OK);
	assert_string_equal(rsl_capture_failure(fx->cap),
	                    "capture on lo failed: the interface went down");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_capture_stamped_on_arrival, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_handshake_ipv4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_handshake_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_live_on_return, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_bad_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_no_such_interface, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_filter_and_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_precompile, setup, teardown),
		cmocka_unit_test(test_capture_builtin_tcp_filter),
		cmocka_unit_test_setup_teardown(test_capture_malformed_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_write_reads_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_write_bad_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_several_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_close_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_close_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_free_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_long_frame_keeps_its_length, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_capture_any_cooked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_interface_down, setup, teardown),
	};
	char err[256];

	if (rsl_sandbox_enter(err, sizeof err) != RSL_OK) {
		fprintf(stderr, "skipped: no network namespace: %s\n", err);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
