/*
 * The scenario sandbox: a fresh network namespace per scenario process, so
 * nothing a scenario does can touch the host's interfaces, addresses or
 * firewall, and every packet on its interfaces is its own.
 *
 * Each sandbox also takes a private slice of ephemeral ports
 * (net.ipv4.ip_local_port_range is per namespace). The tcp_send_reset
 * tracepoint is global to the machine and does not say which namespace a RST
 * came from; with distinct port slices, a RST's ports tell whose it is even
 * when parallel scenarios use the same addresses. Slices are handed out
 * through flock()ed slot files, so they are distinct across every rstlab
 * process on the machine, and a slot frees itself when its holder dies.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOT_DIR "/tmp/.rstlab-ports"
#define PORT_BASE (100 * RSL_PORT_SLOT) /* 20000: slices are whole slots */
#define SLOT_SIZE RSL_PORT_SLOT
#define NSLOTS 200 /* ports 20000..59999 */
#define TRACEFS "/sys/kernel/tracing"

static int slot_lo, slot_hi;

int rsl_write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

int rsl_lo_up(char *err, size_t errlen)
{
	struct ifreq ifr;
	int rc = RSL_ESYS;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rsl_format_error(err, errlen, "socket: %s", strerror(errno));
		return RSL_ESYS;
	}
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		rsl_format_error(err, errlen, "SIOCGIFFLAGS lo: %s", strerror(errno));
		goto out;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
		rsl_format_error(err, errlen, "SIOCSIFFLAGS lo: %s", strerror(errno));
		goto out;
	}
	rc = RSL_OK;
out:
	close(fd);
	return rc;
}

/* Take the first free slot, starting at one derived from the pid so that
 * concurrent sandboxes rarely contend for the same file. */
static void take_port_slice(void)
{
	char path[64], range[32];
	mode_t old = umask(0);
	(void)mkdir(SLOT_DIR, 01777);
	umask(old);
	int start = (int)(getpid() % NSLOTS);
	for (int i = 0; i < NSLOTS; i++) {
		int slot = (start + i) % NSLOTS;
		snprintf(path, sizeof path, SLOT_DIR "/%d", slot);
		old = umask(0);
		int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0666);
		umask(old);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd);
			continue;
		}
		/* Held (fd deliberately kept open) until this process exits. */
		int lo = PORT_BASE + slot * SLOT_SIZE, hi = lo + SLOT_SIZE - 1;
		snprintf(range, sizeof range, "%d %d", lo, hi);
		if (rsl_write_text("/proc/sys/net/ipv4/ip_local_port_range", range) == 0) {
			slot_lo = lo;
			slot_hi = hi;
		}
		return;
	}
}

/* TCP's table of connected sockets (the "ehash") is one for the whole
 * machine unless a namespace's parent asked for one of its own
 * (net.ipv4.tcp_child_ehash_entries, Linux 6.1). Every sock_diag dump
 * walks all of its buckets, 262144 on a machine with 24 GB: 1.2 ms per
 * address family and call, in an empty namespace too, and a scenario
 * lists its sockets often (every proof of a quiet period). So the
 * namespace asks for small tables for its children: the sandbox enters
 * one more, its own child, and the hosts it makes later get theirs.
 * 1024 buckets (the kernel's minimum is 128) are plenty for a scenario's
 * sockets. False when the kernel has no such setting or refuses it (a
 * user namespace may not): the global table then, as before. */
static const char CHILD_EHASH[] = "/proc/sys/net/ipv4/tcp_child_ehash_entries";

static bool ask_child_ehash(void)
{
	return rsl_write_text(CHILD_EHASH, "1024") == 0;
}

/* In a sandbox this process entered: its namespace is its own to set up;
 * whether its children's small TCP tables have been asked for yet. */
static bool sandboxed, tables_asked;

void rsl_sandbox_child_tables(void)
{
	if (sandboxed && !tables_asked)
		tables_asked = ask_child_ehash();
}

/* Set by rsl_sandbox_prepare: this process is in a namespace of its own
 * (and, if the kernel allows, one that gives its children small TCP
 * tables); each rsl_sandbox_enter then needs one unshare, not two. */
static bool prepared;

/* The first namespace: a network namespace (with a user namespace when not
 * root) and the request for small TCP tables in its children. True when
 * that request took (the caller then needs one more namespace). */
static int first_namespace(bool *child_ehash, char *err, size_t errlen)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];

	if (uid == 0) {
		if (unshare(CLONE_NEWNET) < 0) {
			rsl_format_error(err, errlen, "unshare(CLONE_NEWNET): %s",
			                 strerror(errno));
			return RSL_ESYS;
		}
	} else {
		/* Rootless: a user namespace in which we are root owns the new
		 * network namespace, so lo can be brought up without privilege. */
		if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
			rsl_format_error(err, errlen,
			                 "unshare(CLONE_NEWUSER|CLONE_NEWNET): %s (are "
			                 "unprivileged user namespaces allowed?)", strerror(errno));
			return RSL_ESYS;
		}
		snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
		if (rsl_write_text("/proc/self/setgroups", "deny") < 0 && errno != ENOENT)
			goto maperr;
		if (rsl_write_text("/proc/self/uid_map", map) < 0)
			goto maperr;
		snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
		if (rsl_write_text("/proc/self/gid_map", map) < 0)
			goto maperr;
	}
	*child_ehash = ask_child_ehash();
	return RSL_OK;
maperr:
	rsl_format_error(err, errlen, "writing the user namespace maps: %s",
	                 strerror(errno));
	return RSL_ESYS;
}

int rsl_sandbox_prepare(char *err, size_t errlen)
{
	bool child_ehash;
	if (prepared)
		return RSL_OK;
	int rc = first_namespace(&child_ehash, err, errlen);
	if (rc == RSL_OK)
		prepared = true;
	return rc;
}

bool rsl_sandbox_prepared(void)
{
	return prepared;
}

int rsl_sandbox_enter(char *err, size_t errlen)
{
	bool again = true;
	if (!prepared) {
		int rc = first_namespace(&again, err, errlen);
		if (rc != RSL_OK)
			return rc;
	}
	if (again) {
		if (unshare(CLONE_NEWNET) < 0) {
			rsl_format_error(err, errlen, "unshare(CLONE_NEWNET): %s",
			                 strerror(errno));
			return RSL_ESYS;
		}
	}
	prepared = false;
	/* The hosts made from here ask for small tables too, when the first
	 * one is made (rsl_sandbox_child_tables): most scenarios make none. */
	sandboxed = true;
	tables_asked = false;
	if (rsl_lo_up(err, errlen) != RSL_OK)
		return RSL_ESYS;
	take_port_slice();
	return RSL_OK;
}

void rsl_sandbox_ports(int *lo, int *hi)
{
	*lo = slot_lo;
	*hi = slot_hi;
}

int rsl_sandbox_prepare_tracing(char *why, size_t len)
{
	struct stat st;

	if (geteuid() != 0) {
		snprintf(why, len, "the tcp_send_reset tracepoint needs root");
		return RSL_EUNAVAIL;
	}
	/* the raw tracepoint (BTF) needs no tracefs; nor does one mounted */
	if (rsl_trace_check(NULL, 0) == RSL_OK || stat(TRACEFS "/events", &st) == 0)
		goto ready;
	/* Mount tracefs in a mount namespace of our own: the host's mounts
	 * stay as they were, and our children inherit the mount. */
	if (unshare(CLONE_NEWNS) < 0) {
		snprintf(why, len, "unshare(CLONE_NEWNS): %s", strerror(errno));
		return RSL_ESYS;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		snprintf(why, len, "making mounts private: %s", strerror(errno));
		return RSL_ESYS;
	}
	if (mount("tracefs", TRACEFS, "tracefs", 0, NULL) < 0) {
		snprintf(why, len, "mounting tracefs on " TRACEFS ": %s", strerror(errno));
		return RSL_ESYS;
	}
ready:
	if (rsl_trace_check(why, len) != RSL_OK)
		return RSL_EUNAVAIL;
	return RSL_OK;
}
