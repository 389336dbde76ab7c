/*
 * Tests of core/netns.c, core/link.c and core/nft.c: hosts (anonymous
 * network namespaces), veth links between them, per-namespace sysctls,
 * nftables rules confined to one namespace, destroying every TCP socket of
 * a host, and that a host's namespace (with its veth end) is gone as soon
 * as its last fd closes. Runs inside a sandbox namespace of its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "rstlab/rstlab.h"

static char err[512];

/* ifindex of name in nsfd's namespace (0: none). */
static unsigned ifindex_in(int nsfd, const char *name)
{
	int saved;
	assert_int_equal(rsl_netns_enter(nsfd, &saved, err, sizeof err), RSL_OK);
	unsigned i = if_nametoindex(name);
	assert_int_equal(rsl_netns_leave(saved, err, sizeof err), RSL_OK);
	return i;
}

/* A socket of type in nsfd's namespace. */
static int socket_in(int nsfd, int family, int type)
{
	int saved;
	assert_int_equal(rsl_netns_enter(nsfd, &saved, err, sizeof err), RSL_OK);
	int fd = socket(family, type | SOCK_CLOEXEC, 0);
	assert_int_equal(rsl_netns_leave(saved, err, sizeof err), RSL_OK);
	assert_true(fd >= 0);
	return fd;
}

static void sin_of(struct sockaddr_in *a, const char *ip, int port)
{
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
}

/* Two hosts joined by a veth pair A:eth0 10.0.0.1 -- B:eth0 10.0.0.2. */
static void make_pair(int *a, int *b)
{
	assert_int_equal(rsl_netns_new(a, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_netns_new(b, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_link_veth(*a, "eth0", *b, "eth0", err, sizeof err), RSL_OK);
	assert_int_equal(rsl_link_addr(*a, "eth0", "10.0.0.1/24", err, sizeof err), RSL_OK);
	assert_int_equal(rsl_link_addr(*b, "eth0", "10.0.0.2/24", err, sizeof err), RSL_OK);
	assert_int_equal(rsl_link_addr(*a, "eth0", "fd00::1/64", err, sizeof err), RSL_OK);
	assert_int_equal(rsl_link_addr(*b, "eth0", "fd00::2/64", err, sizeof err), RSL_OK);
	assert_int_equal(rsl_link_set_up(*a, "eth0", true, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_link_set_up(*b, "eth0", true, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_link_wait_up(*a, "eth0", 5, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_link_wait_up(*b, "eth0", 5, err, sizeof err), RSL_OK);
}

/* Connect a (in ns a) to a listener on 10.0.0.2 (in ns b); returns the
 * three fds: listener, client, accepted. */
static void connect_pair(int a, int b, int fds[3])
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	fds[0] = socket_in(b, AF_INET, SOCK_STREAM);
	sin_of(&sa, "10.0.0.2", 0);
	assert_int_equal(bind(fds[0], (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fds[0], 8), 0);
	assert_int_equal(getsockname(fds[0], (struct sockaddr *)&sa, &len), 0);
	fds[1] = socket_in(a, AF_INET, SOCK_STREAM);
	assert_int_equal(connect(fds[1], (struct sockaddr *)&sa, sizeof sa), 0);
	fds[2] = accept4(fds[0], NULL, NULL, SOCK_CLOEXEC);
	assert_true(fds[2] >= 0);
}

static void test_netns_new_host_is_apart(void **state)
{
	int b;
	unsigned long home_ino, b_ino;
	char v[64];
	assert_int_equal(rsl_netns_new(&b, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_netns_inode(-1, &home_ino, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_netns_inode(b, &b_ino, err, sizeof err), RSL_OK);
	assert_true(home_ino != b_ino);
	/* we are still at home */
	unsigned long now_ino;
	assert_int_equal(rsl_netns_inode(-1, &now_ino, err, sizeof err), RSL_OK);
	assert_int_equal(now_ino, home_ino);
	/* lo is up there, and the port slice is the sandbox's */
	int fd = socket_in(b, AF_INET, SOCK_STREAM);
	struct sockaddr_in sa;
	sin_of(&sa, "127.0.0.1", 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, 1), 0);
	int lo, hi;
	rsl_sandbox_ports(&lo, &hi);
	assert_int_equal(rsl_netns_sysctl(b, "net.ipv4.ip_local_port_range", NULL, v, sizeof v,
	                                  err, sizeof err), RSL_OK);
	if (lo > 0) {
		char want[32];
		snprintf(want, sizeof want, "%d %d", lo, hi);
		assert_string_equal(v, want);
		socklen_t len = sizeof sa;
		assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
		assert_in_range(ntohs(sa.sin_port), lo, hi);
	}
	close(fd);
	close(b);
}

/* The sandbox and the hosts made in it have TCP hash tables of their own
 * (core/sandbox.c: a sock_diag dump walks every bucket), on kernels that
 * offer net.ipv4.tcp_child_ehash_entries (6.1). */
static void test_netns_private_ehash(void **state)
{
	char v[64];
	int b;
	if (access("/proc/sys/net/ipv4/tcp_child_ehash_entries", F_OK) != 0) {
		print_message("no tcp_child_ehash_entries on this kernel: nothing to check\n");
		return;
	}
	assert_int_equal(rsl_netns_sysctl(-1, "net.ipv4.tcp_ehash_entries", NULL, v, sizeof v,
	                                  err, sizeof err), RSL_OK);
	assert_string_equal(v, "1024");
	assert_int_equal(rsl_netns_new(&b, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_netns_sysctl(b, "net.ipv4.tcp_ehash_entries", NULL, v, sizeof v,
	                                  err, sizeof err), RSL_OK);
	assert_string_equal(v, "1024");
	close(b);
}

/* The inode of the namespace the calling thread is in now. */
static unsigned long current_ino(void)
{
	struct stat st;
	assert_int_equal(stat("/proc/thread-self/ns/net", &st), 0);
	return (unsigned long)st.st_ino;
}

static void test_netns_enter_leave_restores(void **state)
{
	int b, saved = 42;
	unsigned long home = current_ino(), b_ino;
	assert_int_equal(rsl_netns_new(&b, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_netns_inode(b, &b_ino, err, sizeof err), RSL_OK);
	assert_int_equal(current_ino(), home);

	assert_int_equal(rsl_netns_enter(b, &saved, err, sizeof err), RSL_OK);
	assert_true(saved >= 0);
	assert_int_equal(current_ino(), b_ino);
	/* A failure inside the namespace is still readable after leaving. */
	errno = ECONNRESET;
	assert_int_equal(rsl_netns_leave(saved, err, sizeof err), RSL_OK);
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(current_ino(), home);
	/* leave closed the saved fd */
	assert_int_equal(fcntl(saved, F_GETFD), -1);

	/* -1: stay where we are; leaving that is a no-op */
	assert_int_equal(rsl_netns_enter(-1, &saved, err, sizeof err), RSL_OK);
	assert_int_equal(saved, -1);
	assert_int_equal(current_ino(), home);
	assert_int_equal(rsl_netns_leave(saved, err, sizeof err), RSL_OK);
	assert_int_equal(current_ino(), home);

	/* An fd that is not a network namespace: an error, and no move. */
	int notns = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(notns >= 0);
	err[0] = '\0';
	assert_int_equal(rsl_netns_enter(notns, &saved, err, sizeof err), RSL_ESYS);
	assert_int_equal(saved, -1);
	assert_non_null(strstr(err, "setns: "));
	assert_true(strncmp(err, "rsl_", 4) != 0); /* no C function prefix */
	assert_int_equal(current_ino(), home);
	close(notns);
	close(b);
}

static void test_netns_sysctl_per_namespace(void **state)
{
	int b;
	char v[64], home[64];
	assert_int_equal(rsl_netns_new(&b, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_netns_sysctl(-1, "net.ipv4.tcp_abort_on_overflow", NULL, home,
	                                  sizeof home, err, sizeof err), RSL_OK);
	assert_string_equal(home, "0");
	assert_int_equal(rsl_netns_sysctl(b, "net.ipv4.tcp_abort_on_overflow", "1", v, sizeof v,
	                                  err, sizeof err), RSL_OK);
	assert_string_equal(v, "1");
	assert_int_equal(rsl_netns_sysctl(b, "net/ipv4/tcp_abort_on_overflow", NULL, v, sizeof v,
	                                  err, sizeof err), RSL_OK);
	assert_string_equal(v, "1");
	/* home did not change */
	assert_int_equal(rsl_netns_sysctl(-1, "net.ipv4.tcp_abort_on_overflow", NULL, v, sizeof v,
	                                  err, sizeof err), RSL_OK);
	assert_string_equal(v, "0");
	close(b);
}

static void test_netns_sysctl_not_per_namespace(void **state)
{
	char v[64];
	/* not a net.* sysctl at all */
	assert_int_equal(rsl_netns_sysctl(-1, "kernel.pid_max", NULL, v, sizeof v, err, sizeof err),
	                 RSL_EINVAL);
	assert_non_null(strstr(err, "not per network namespace"));
	/* a net sysctl kept by the initial namespace only */
	assert_int_equal(rsl_netns_sysctl(-1, "net.core.netdev_max_backlog", "2000", v, sizeof v,
	                                  err, sizeof err), RSL_EINVAL);
	assert_non_null(strstr(err, "does not exist inside a network namespace"));
	/* names that try to leave /proc/sys/net */
	assert_int_equal(rsl_netns_sysctl(-1, "net/../kernel/pid_max", NULL, v, sizeof v, err,
	                                  sizeof err), RSL_EINVAL);
	assert_int_equal(rsl_netns_sysctl(-1, "net.ipv4.tcp syncookies", NULL, v, sizeof v, err,
	                                  sizeof err), RSL_EINVAL);
	/* a bad value is the kernel's EINVAL */
	assert_int_equal(rsl_netns_sysctl(-1, "net.ipv4.tcp_syn_retries", "lots", v, sizeof v, err,
	                                  sizeof err), RSL_EINVAL);
}

static void test_link_veth_carries_tcp(void **state)
{
	int a, b, fds[3];
	make_pair(&a, &b);
	assert_true(ifindex_in(a, "eth0") > 0);
	assert_true(ifindex_in(b, "eth0") > 0);
	assert_int_equal(if_nametoindex("eth0"), 0); /* never in the caller's namespace */
	connect_pair(a, b, fds);
	assert_int_equal(write(fds[1], "x", 1), 1);
	char c;
	assert_int_equal(read(fds[2], &c, 1), 1);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	/* IPv6 is usable at once (no DAD wait) */
	int l6 = socket_in(b, AF_INET6, SOCK_STREAM);
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "fd00::2", &s6.sin6_addr);
	assert_int_equal(bind(l6, (struct sockaddr *)&s6, sizeof s6), 0);
	assert_int_equal(listen(l6, 1), 0);
	socklen_t len = sizeof s6;
	getsockname(l6, (struct sockaddr *)&s6, &len);
	int c6 = socket_in(a, AF_INET6, SOCK_STREAM);
	assert_int_equal(connect(c6, (struct sockaddr *)&s6, sizeof s6), 0);
	close(c6);
	close(l6);
	close(a);
	close(b);
}

static void test_link_errors(void **state)
{
	int a, b;
	make_pair(&a, &b);
	/* a name taken on either side */
	assert_int_equal(rsl_link_veth(a, "eth0", b, "eth1", err, sizeof err), RSL_EINVAL);
	assert_int_equal(rsl_link_veth(a, "this-name-is-too-long", b, "x", err, sizeof err), RSL_EINVAL);
	assert_int_equal(rsl_link_addr(a, "eth0", "10.0.0.300/24", err, sizeof err), RSL_EINVAL);
	assert_int_equal(rsl_link_addr(a, "eth0", "10.0.0.3", err, sizeof err), RSL_EINVAL);
	assert_int_equal(rsl_link_addr(a, "nope0", "10.0.0.3/24", err, sizeof err), RSL_EINVAL);
	assert_int_equal(rsl_link_set_up(a, "nope0", true, err, sizeof err), RSL_EINVAL);
	assert_int_equal(rsl_link_route(a, "10.0.9.0/24", "10.0.0.2", err, sizeof err), RSL_OK);
	assert_int_equal(rsl_link_route(a, "default", "10.0.0.2", err, sizeof err), RSL_OK);
	assert_int_equal(rsl_link_route(a, "default", "10.0.0.2", err, sizeof err), RSL_EINVAL);
	assert_int_equal(rsl_link_route(a, "default", "nonsense", err, sizeof err), RSL_EINVAL);
	close(a);
	close(b);
}

/* Wait (bounded, on netlink events) until ifname is gone from the current
 * namespace. */
static bool wait_link_gone(const char *ifname, int timeout_ms)
{
	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	assert_int_equal(bind(nl, (struct sockaddr *)&sa, sizeof sa), 0);
	bool gone = false;
	for (int waited = 0; waited <= timeout_ms; ) {
		if (if_nametoindex(ifname) == 0) {
			gone = true;
			break;
		}
		struct pollfd p = { .fd = nl, .events = POLLIN };
		int r = poll(&p, 1, 100);
		if (r > 0) {
			char buf[8192];
			(void)recv(nl, buf, sizeof buf, MSG_DONTWAIT);
		} else {
			waited += 100;
		}
	}
	close(nl);
	return gone;
}

static void test_netns_gone_with_its_last_fd(void **state)
{
	int b;
	/* A veth between the caller's namespace and B: when B goes, the
	 * kernel deletes B's end and with it the caller's. */
	assert_int_equal(rsl_netns_new(&b, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_link_veth(-1, "toB", b, "eth0", err, sizeof err), RSL_OK);
	assert_true(if_nametoindex("toB") > 0);
	/* rules in B: they go with it too */
	struct rsl_nft *n;
	assert_int_equal(rsl_nft_open(b, &n, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_nft_run(n, "add table inet rstlab"), RSL_OK);
	rsl_nft_close(n);
	close(b);
	assert_true(wait_link_gone("toB", 10000));
}

/* Whether a shared library whose path holds name is mapped here. */
static bool mapped(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	bool found = false;
	assert_non_null(f);
	while (!found && fgets(line, sizeof line, f) != NULL)
		found = strstr(line, name) != NULL;
	fclose(f);
	return found;
}

/* libnftables is loaded by the first rules made, not with the program
 * (core/nft.c): it is not mapped before, and is after. (First in main:
 * no earlier test has made rules.) */
static void test_nft_loaded_on_first_use(void **state)
{
	assert_false(mapped("/libnftables.so"));
	struct rsl_nft *n;
	assert_int_equal(rsl_nft_open(-1, &n, err, sizeof err), RSL_OK);
	assert_true(mapped("/libnftables.so"));
	assert_int_equal(rsl_nft_run(n, "list tables"), RSL_OK);
	rsl_nft_close(n);
}

/* libpcap too (core/capture.c): a capture with the default filter,
 * "tcp", is built in and loads nothing; the first filter of a caller's
 * own loads libpcap to compile it. (Before any such filter in main.) */
static void test_pcap_loaded_on_first_use(void **state)
{
	struct rsl_loop *loop = rsl_loop_new();
	assert_non_null(loop);
	struct rsl_capture *cap = rsl_capture_new(loop, NULL, NULL);
	assert_non_null(cap);
	assert_false(mapped("/libpcap.so"));
	assert_int_equal(rsl_capture_add(cap, "lo", NULL, NULL), RSL_OK);
	assert_int_equal(rsl_capture_add(cap, "lo", "tcp", "again"), RSL_OK);
	assert_false(mapped("/libpcap.so"));
	assert_int_equal(rsl_capture_add(cap, "lo", "tcp port 7", "own"), RSL_OK);
	assert_true(mapped("/libpcap.so"));
	rsl_capture_free(cap);
	rsl_loop_free(loop);
}

/* Frames lo of this process's namespace has sent (/proc/self/net/dev,
 * whose lines are the reader's namespace's), or -1. */
static long lo_tx_packets(void)
{
	FILE *f = fopen("/proc/self/net/dev", "r");
	char line[512];
	long tx = -1;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		char *p = strstr(line, "lo:");
		long v[10];
		if (p != NULL && sscanf(p + 3, "%ld %ld %ld %ld %ld %ld %ld %ld %ld %ld", &v[0], &v[1],
		                        &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) == 10)
			tx = v[9];
	}
	fclose(f);
	return tx;
}

/* In a fresh sandbox: open a capture on lo and return the frames lo sent
 * while it opened (the check that packet timestamps are live sends one to
 * itself), as an exit status: 0 to 9, 100 for an error. */
static int frames_of_a_capture(void)
{
	char e[256];
	if (rsl_sandbox_enter(e, sizeof e) != RSL_OK)
		return 100;
	long before = lo_tx_packets();
	struct rsl_loop *loop = rsl_loop_new();
	struct rsl_capture *cap = loop != NULL ? rsl_capture_new(loop, NULL, NULL) : NULL;
	if (cap == NULL || before < 0 || rsl_capture_add(cap, "lo", NULL, NULL) != RSL_OK)
		return 100;
	long sent = lo_tx_packets() - before;
	rsl_capture_free(cap);
	rsl_loop_free(loop);
	return sent >= 0 && sent < 10 ? (int)sent : 100;
}

/* The exit status of fn() run in a child process. */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* A file's server (prepared, holding timestamps) checks on its own lo that
 * packet timestamps are live, once: captures in the children it forks
 * then send nothing for that check. */
static int server_then_capture(void)
{
	char e[256];
	if (rsl_sandbox_prepare(e, sizeof e) != RSL_OK || rsl_capture_hold_timestamps() != RSL_OK)
		return 100;
	if (lo_tx_packets() < 1) /* the server's own check went over its lo */
		return 101;
	return in_child(frames_of_a_capture);
}

/* Captures check that packet timestamps are live before they open, with
 * a frame sent to themselves over lo; a file's server makes that check
 * once for all its children (rsl_capture_hold_timestamps). (Before any
 * capture in main: a process that has checked passes that on to the
 * children it forks.) */
static void test_capture_stamps_checked_once_in_server(void **state)
{
	/* a process of its own checks with a frame of its own ... */
	assert_int_equal(in_child(frames_of_a_capture), 1);
	/* ... and one forked from a server does not */
	assert_int_equal(in_child(server_then_capture), 0);
}

static void test_nft_rules_stay_in_their_namespace(void **state)
{
	int a, b;
	struct rsl_nft *na, *home;
	make_pair(&a, &b);
	assert_int_equal(rsl_nft_open(a, &na, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_nft_open(-1, &home, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_nft_run(na, "add table inet rstlab\n"
	                                 "add chain inet rstlab out { type filter hook postrouting priority 300; }"),
	                 RSL_OK);
	assert_int_equal(rsl_nft_run(na, "add rule inet rstlab out tcp flags & (syn) == (syn) counter drop"),
	                 RSL_OK);
	assert_non_null(strstr(rsl_nft_output(na), "# handle"));
	assert_int_equal(rsl_nft_run(home, "list tables"), RSL_OK);
	assert_null(strstr(rsl_nft_output(home), "rstlab"));
	/* the rule works: a SYN from A never leaves */
	int c = socket_in(a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
	struct sockaddr_in sa;
	sin_of(&sa, "10.0.0.2", 9);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof sa), -1);
	assert_true(errno == EINPROGRESS || errno == EPERM);
	close(c);
	assert_int_equal(rsl_nft_run(na, "list chain inet rstlab out"), RSL_OK);
	assert_non_null(strstr(rsl_nft_output(na), "counter packets 1"));
	/* nft's own words for a mistake */
	assert_int_equal(rsl_nft_run(na, "add rule inet rstlab out tcp flags bogus drop"), RSL_EINVAL);
	assert_true(strlen(rsl_nft_error(na)) > 0);
	rsl_nft_close(na);
	rsl_nft_close(home);
	close(a);
	close(b);
}

static void test_netns_kill_tcp(void **state)
{
	int a, b, fds[3];
	size_t killed = 0;
	struct rsl_sockdiag *v = NULL;
	size_t n = 0;
	make_pair(&a, &b);
	connect_pair(a, b, fds);
	/* and a TIME_WAIT in B: B closes first */
	int tw[3];
	connect_pair(a, b, tw);
	close(tw[0]);
	shutdown(tw[2], SHUT_WR);
	char c;
	assert_int_equal(read(tw[1], &c, 1), 0);
	close(tw[1]);
	close(tw[2]);
	int rc = rsl_netns_kill_tcp(b, &killed, err, sizeof err);
	if (rc != RSL_OK)
		fail_msg("rsl_netns_kill_tcp: %s", err);
	assert_true(killed >= 3); /* listener, accepted, and the closed one */
	int saved;
	assert_int_equal(rsl_netns_enter(b, &saved, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_diag_list(~0u, &v, &n, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_netns_leave(saved, err, sizeof err), RSL_OK);
	free(v);
	assert_int_equal(n, 0);
	/* the application's socket is dead */
	assert_int_equal(read(fds[2], &c, 1), -1);
	assert_int_equal(errno, ECONNABORTED);
	/* Nothing silenced B here, so the RST of the abort reached A (which
	 * is why a crash silences the host first). */
	assert_int_equal(read(fds[1], &c, 1), -1);
	assert_int_equal(errno, ECONNRESET);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	/* an empty namespace is no error */
	assert_int_equal(rsl_netns_kill_tcp(b, &killed, err, sizeof err), RSL_OK);
	assert_int_equal(killed, 0);
	close(a);
	close(b);
}

/* The value of group.name in v, or -2 when it is not there. */
static int64_t counter(const struct rsl_counter *v, size_t n, const char *group, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].group, group) == 0 && strcmp(v[i].name, name) == 0)
			return v[i].value;
	return -2;
}

static void test_netns_parse_counters(void **state)
{
	(void)state;
	const char *text = "TcpExt: SyncookiesSent TCPAbortOnClose\n"
	                   "TcpExt: 0 3\n"
	                   "Tcp: RtoAlgorithm MaxConn OutRsts\n"
	                   "Tcp: 1 -1 12\n";
	struct rsl_counter *v = NULL;
	size_t n = 0;
	assert_int_equal(rsl_netns_parse_counters(text, "Tcp", &v, &n, err, sizeof err), RSL_OK);
	assert_int_equal(n, 3); /* "Tcp" is not the start of "TcpExt:" */
	assert_int_equal(counter(v, n, "Tcp", "MaxConn"), -1);
	assert_int_equal(counter(v, n, "Tcp", "OutRsts"), 12);
	assert_int_equal(rsl_netns_parse_counters(text, "TcpExt", &v, &n, err, sizeof err), RSL_OK);
	assert_int_equal(n, 5); /* appended */
	assert_int_equal(counter(v, n, "TcpExt", "TCPAbortOnClose"), 3);
	assert_string_equal(v[0].name, "RtoAlgorithm");
	free(v);

	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "Udp: InDatagrams\nUdp: 1\n", "no Tcp counters" },
		{ "Tcp: A B\n", "no Tcp counters" },
		{ "Tcp: A B\nTcp: 1\n", "more names than values" },
		{ "Tcp: A\nTcp: 1 2\n", "fewer names than values" },
		{ "Tcp: A B\nTcp: 1 x\n", "the Tcp value of B is not a number" },
		{ "Tcp: A B\nTcp: 1 2x\n", "the Tcp value of B is not a number" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = NULL;
		n = 0;
		assert_int_equal(rsl_netns_parse_counters(bad[i].text, "Tcp", &v, &n, err, sizeof err),
		                 RSL_EMALFORMED);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("case %zu: '%s' does not say '%s'", i, err, bad[i].why);
		free(v);
	}
}

/* close() with unread data: the closing host's own TCPAbortOnClose and
 * OutRsts move, the peer's do not, and a new host's start at 0. */
static void test_netns_counters_per_namespace(void **state)
{
	(void)state;
	int a, b, fds[3];
	struct rsl_counter *va = NULL, *vb = NULL;
	size_t na = 0, nb = 0;
	make_pair(&a, &b);
	assert_int_equal(rsl_netns_counters(b, &vb, &nb, err, sizeof err), RSL_OK);
	assert_true(nb > 50);
	for (size_t i = 0; i < nb; i++)
		if (strcmp(vb[i].name, "RtoAlgorithm") && strcmp(vb[i].name, "RtoMin") &&
		    strcmp(vb[i].name, "RtoMax") && strcmp(vb[i].name, "MaxConn") && vb[i].value != 0)
			fail_msg("%s.%s is %lld in a new host", vb[i].group, vb[i].name,
			         (long long)vb[i].value);
	free(vb);

	connect_pair(a, b, fds);
	assert_int_equal(write(fds[1], "0123456789", 10), 10);
	struct pollfd p = { .fd = fds[2], .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
	close(fds[2]); /* 10 bytes unread: RST */
	assert_int_equal(rsl_netns_counters(b, &vb, &nb, err, sizeof err), RSL_OK);
	assert_int_equal(rsl_netns_counters(a, &va, &na, err, sizeof err), RSL_OK);
	assert_int_equal(counter(vb, nb, "TcpExt", "TCPAbortOnClose"), 1);
	assert_int_equal(counter(vb, nb, "Tcp", "OutRsts"), 1);
	assert_int_equal(counter(vb, nb, "Tcp", "PassiveOpens"), 1);
	assert_int_equal(counter(va, na, "TcpExt", "TCPAbortOnClose"), 0);
	assert_int_equal(counter(va, na, "Tcp", "ActiveOpens"), 1);
	assert_int_equal(counter(va, na, "Tcp", "PassiveOpens"), 0);
	free(va);
	free(vb);
	close(fds[0]);
	close(fds[1]);
	close(a);
	close(b);
}

int main(void)
{
	if (rsl_sandbox_enter(err, sizeof err) != RSL_OK) {
		printf("skipped: no network namespace: %s\n", err);
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nft_loaded_on_first_use),
		cmocka_unit_test(test_capture_stamps_checked_once_in_server),
		cmocka_unit_test(test_pcap_loaded_on_first_use),
		cmocka_unit_test(test_netns_new_host_is_apart),
		cmocka_unit_test(test_netns_private_ehash),
		cmocka_unit_test(test_netns_enter_leave_restores),
		cmocka_unit_test(test_netns_sysctl_per_namespace),
		cmocka_unit_test(test_netns_sysctl_not_per_namespace),
		cmocka_unit_test(test_link_veth_carries_tcp),
		cmocka_unit_test(test_link_errors),
		cmocka_unit_test(test_netns_gone_with_its_last_fd),
		cmocka_unit_test(test_nft_rules_stay_in_their_namespace),
		cmocka_unit_test(test_netns_kill_tcp),
		cmocka_unit_test(test_netns_parse_counters),
		cmocka_unit_test(test_netns_counters_per_namespace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
