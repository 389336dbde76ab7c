/*
 * The kernel's reason for each RST it sends: the tcp:tcp_send_reset
 * tracepoint, read through a tracefs instance of this process's own.
 *
 * An instance ("instances/rstlab-<pid>") is a private ring buffer with its
 * own event switches, so enabling the tracepoint there neither disturbs nor
 * sees anyone else's tracing. The tracepoint itself is global: the instance
 * receives the RSTs of every network namespace on the machine, which is why
 * events carry addresses and ports and the caller attributes them (the
 * sandbox's private port slices make that unambiguous between parallel
 * scenarios).
 *
 * What the kernel prints (6.18, checked on the running kernel):
 *
 *   <comm>-<pid> [cpu] flags <ts>: tcp_send_reset: skbaddr=.. skaddr=..
 *       src=<ip:port> dest=<ip:port> state=<TCP_*|UNKNOWN> reason=<REASON>
 *
 * - With a full socket (linger 0, close with unread data, keepalive ...)
 *   src/dest are the socket's own local and remote addresses: src is the
 *   RST's source.
 * - With no socket (reason NO_SOCKET: a SYN to a closed port) the kernel
 *   prints the incoming segment's addresses swapped, so src is again the
 *   RST's source (the closed port) and dest the peer that gets the RST;
 *   state is "UNKNOWN".
 * - When a listener answers (e.g. a bare ACK to a listening port, reason
 *   TCP_FLAGS), sk is the listener: src is the listener's own address and
 *   dest is "0.0.0.0:0" ("[::]:0"), not the peer; state=TCP_LISTEN.
 * - A dual-stack IPv6 socket talking IPv4 prints "[::ffff:a.b.c.d]:port";
 *   the parser turns that back into AF_INET so that an event compares equal
 *   to the IPv4 packet that was captured.
 *
 * Costs measured on a 2-CPU machine: mkdir of an instance ~1 ms (it
 * allocates the default buffer, ~1.4 MB per CPU), enabling and opening
 * ~1 ms, rmdir 20-65 ms (the runner does it after a scenario reported).
 */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define INSTANCE_PREFIX "rstlab-"
#define EVENT_DIR "events/tcp/tcp_send_reset"
/* trace_pipe lines for this event are ~200 bytes; anything longer is not
 * one of ours and is dropped whole. */
#define LINE_MAX_LEN 1024

struct rsl_trace {
	int fd;                         /* the instance's trace_pipe, O_NONBLOCK */
	bool owned;                     /* created by rsl_trace_open: close removes it */
	bool mono;                      /* the instance stamps on CLOCK_MONOTONIC */
	uint64_t lost;                  /* events the kernel said it lost */
	char dir[PATH_MAX];             /* the instance directory */
	char partial[LINE_MAX_LEN];     /* start of a line not yet ended by '\n' */
	size_t plen;
	bool overlong;                  /* skipping to the end of a too-long line */
	struct rsl_rst_event *ev;       /* owned; grows by doubling */
	size_t n, cap;
	char err[RSL_ERRLEN];
};

/* The mounted tracefs, or NULL. statfs, not stat: an empty
 * /sys/kernel/tracing directory (tracefs not mounted) exists too. */
static const char *tracefs_root(void)
{
	static const char *const roots[] = {
		"/sys/kernel/tracing",
		"/sys/kernel/debug/tracing", /* older systems; automounted */
	};
	struct statfs sf;

	for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
		if (statfs(roots[i], &sf) == 0 && sf.f_type == TRACEFS_MAGIC)
			return roots[i];
	return NULL;
}

static int instance_path(char *buf, size_t len, const char *root, long pid)
{
	int n = snprintf(buf, len, "%s/instances/" INSTANCE_PREFIX "%ld", root, pid);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Write text to dir/name. Returns 0, or -1 with errno from the failing call. */
static int write_attr(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	size_t len = strlen(text);

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, len);
	int saved = errno;
	close(fd);
	if (n == (ssize_t)len)
		return 0;
	errno = n < 0 ? saved : EIO;
	return -1;
}

int rsl_trace_check(char *why, size_t len)
{
	char path[PATH_MAX];
	const char *root = tracefs_root();

	if (why == NULL)
		len = 0;
	if (root == NULL) {
		snprintf(why, len, "tracefs is not mounted (neither /sys/kernel/tracing "
		         "nor /sys/kernel/debug/tracing)");
		return RSL_EUNAVAIL;
	}
	snprintf(path, sizeof path, "%s/" EVENT_DIR, root);
	if (access(path, F_OK) < 0) {
		int e = errno;
		snprintf(why, len, "this kernel has no tcp:tcp_send_reset tracepoint "
		         "(%s: %s)", path, strerror(e));
		return RSL_EUNAVAIL;
	}
	snprintf(path, sizeof path, "%s/instances", root);
	if (access(path, W_OK) < 0) {
		int e = errno;
		snprintf(why, len, "cannot create tracing instances in %s: %s", path,
		         strerror(e));
		return RSL_EUNAVAIL;
	}
	if (len > 0)
		why[0] = '\0';
	return RSL_OK;
}

static int remove_dir(const char *dir);

/* Create instances/<dir's name> with the tcp_send_reset event enabled;
 * a leftover of the same name (a dead process's) is replaced. */
static int create_instance(const char *dir, char *err, size_t errlen)
{
	int e;

	if (mkdir(dir, 0700) < 0) {
		e = errno;
		if (e != EEXIST) {
			rsl_format_error(err, errlen, "mkdir %s: %s", dir, strerror(e));
			return e == ENOENT || e == EACCES || e == EPERM || e == EROFS
			       ? RSL_EUNAVAIL : RSL_ESYS;
		}
		/* Left by a dead process that had this name, or still open in
		 * this one. rmdir tells them apart: the kernel refuses (EBUSY)
		 * while a trace_pipe of the instance is open. */
		if (rmdir(dir) < 0 || mkdir(dir, 0700) < 0) {
			e = errno;
			rsl_format_error(err, errlen, "replacing %s: %s%s", dir,
			                 strerror(e), e == EBUSY
			                 ? " (a trace is already open in this process)" : "");
			return RSL_ESYS;
		}
	}
	/* Events are paired with captured packets by time: the instance
	 * stamps them on CLOCK_MONOTONIC ("mono"), which the reader turns
	 * into CLOCK_REALTIME, the clock of packet timestamps. Switching the
	 * clock resets the buffers (~30 ms): done once per instance, which
	 * is why a runner keeps a pool of them. It keeps its default buffer
	 * (shrinking it costs ~10 ms more). */
	if (write_attr(dir, "trace_clock", "mono") < 0) {
		e = errno;
		rsl_format_error(err, errlen, "setting the trace clock of %s to mono: %s",
		                 dir, strerror(e));
		(void)rmdir(dir);
		return RSL_EUNAVAIL;
	}
	if (write_attr(dir, EVENT_DIR "/enable", "1") < 0) {
		e = errno;
		rsl_format_error(err, errlen, "enabling tcp:tcp_send_reset in %s: %s",
		                 dir, strerror(e));
		(void)rmdir(dir);
		return e == ENOENT ? RSL_EUNAVAIL : RSL_ESYS;
	}
	return RSL_OK;
}

/* Whether dir's trace_clock is "mono" (the selected one is in brackets). */
static bool clock_is_mono(const char *dir)
{
	char path[PATH_MAX + 16], buf[256];
	snprintf(path, sizeof path, "%s/trace_clock", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, "[mono]") != NULL;
}

static double ts_seconds(const struct timespec *ts)
{
	return (double)ts->tv_sec + (double)ts->tv_nsec * 1e-9;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC: the realtime reading bracketed by two
 * monotonic ones, the tightest of three tries (a preemption between the
 * readings would otherwise shift every event by its length). */
static double realtime_offset(void)
{
	double best = 0, gap = 1e9;
	for (int i = 0; i < 3; i++) {
		struct timespec m1, rt, m2;
		clock_gettime(CLOCK_MONOTONIC, &m1);
		clock_gettime(CLOCK_REALTIME, &rt);
		clock_gettime(CLOCK_MONOTONIC, &m2);
		double g = ts_seconds(&m2) - ts_seconds(&m1);
		if (g < gap) {
			gap = g;
			best = ts_seconds(&rt) - (ts_seconds(&m1) + ts_seconds(&m2)) / 2;
		}
	}
	return best;
}

/* Open dir's trace_pipe into a new reader; owned: close removes dir. */
static int open_reader(const char *dir, bool owned, struct rsl_trace **out,
                       char *err, size_t errlen)
{
	char pipe[PATH_MAX + 16];
	struct rsl_trace *t = calloc(1, sizeof *t);
	if (t == NULL) {
		rsl_format_error(err, errlen, "out of memory");
		return RSL_ESYS;
	}
	snprintf(t->dir, sizeof t->dir, "%s", dir);
	t->owned = owned;
	t->mono = clock_is_mono(dir);
	snprintf(pipe, sizeof pipe, "%s/trace_pipe", dir);
	t->fd = open(pipe, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		int e = errno;
		rsl_format_error(err, errlen, "open %s: %s", pipe, strerror(e));
		free(t);
		return e == ENOENT ? RSL_EUNAVAIL : RSL_ESYS;
	}
	*out = t;
	return RSL_OK;
}

static int named_path(char *buf, size_t len, const char *root, const char *name)
{
	int n = snprintf(buf, len, "%s/instances/%s", root, name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int rsl_trace_open(struct rsl_trace **out, char *err, size_t errlen)
{
	char noerr[1];
	char dir[PATH_MAX];

	if (err == NULL || errlen == 0) {
		err = noerr;
		errlen = sizeof noerr;
	}
	if (out == NULL) {
		rsl_format_error(err, errlen, "out must not be NULL");
		return RSL_EINVAL;
	}
	*out = NULL;
	const char *root = tracefs_root();
	if (root == NULL) {
		rsl_format_error(err, errlen, "tracefs is not mounted");
		return RSL_EUNAVAIL;
	}
	if (instance_path(dir, sizeof dir, root, (long)getpid()) < 0) {
		rsl_format_error(err, errlen, "tracefs path too long");
		return RSL_ESYS;
	}
	int rc = create_instance(dir, err, errlen);
	if (rc != RSL_OK)
		return rc;
	rc = open_reader(dir, true, out, err, errlen);
	if (rc != RSL_OK)
		(void)rmdir(dir);
	return rc;
}

/* The directory of instance name, or an error. */
static int named_dir(const char *name, char *dir, size_t len,
                     char *err, size_t errlen)
{
	const char *root = tracefs_root();
	if (root == NULL) {
		rsl_format_error(err, errlen, "tracefs is not mounted");
		return RSL_EUNAVAIL;
	}
	if (strchr(name, '/') != NULL || named_path(dir, len, root, name) < 0) {
		rsl_format_error(err, errlen, "bad instance name '%s'", name);
		return RSL_EINVAL;
	}
	return RSL_OK;
}

int rsl_trace_create(const char *name, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	int rc = named_dir(name, dir, sizeof dir, err, errlen);
	return rc != RSL_OK ? rc : create_instance(dir, err, errlen);
}

int rsl_trace_attach(const char *name, struct rsl_trace **out, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	*out = NULL;
	int rc = named_dir(name, dir, sizeof dir, err, errlen);
	if (rc != RSL_OK)
		return rc;
	rc = open_reader(dir, false, out, err, errlen);
	if (rc != RSL_OK)
		return rc;
	/* What an earlier user of the instance left is not ours. */
	char buf[4096];
	while (read((*out)->fd, buf, sizeof buf) > 0)
		;
	return RSL_OK;
}

void rsl_trace_destroy(const char *name)
{
	char dir[PATH_MAX], err[RSL_ERRLEN];
	if (named_dir(name, dir, sizeof dir, err, sizeof err) != RSL_OK)
		return;
	(void)write_attr(dir, EVENT_DIR "/enable", "0");
	(void)remove_dir(dir);
}

int rsl_trace_fd(const struct rsl_trace *t)
{
	return t != NULL ? t->fd : -1;
}

size_t rsl_trace_count(const struct rsl_trace *t)
{
	return t != NULL ? t->n : 0;
}

const struct rsl_rst_event *rsl_trace_event(const struct rsl_trace *t, size_t i)
{
	return t != NULL && i < t->n ? &t->ev[i] : NULL;
}

uint64_t rsl_trace_lost(const struct rsl_trace *t)
{
	return t != NULL ? t->lost : 0;
}

const char *rsl_trace_error(const struct rsl_trace *t)
{
	return t != NULL ? t->err : "no trace";
}

static int push_event(struct rsl_trace *t, const struct rsl_rst_event *ev)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct rsl_rst_event *v = realloc(t->ev, cap * sizeof *v);
		if (v == NULL)
			return -1;
		t->ev = v;
		t->cap = cap;
	}
	t->ev[t->n++] = *ev;
	return 0;
}

/* Split what was read into lines, carrying an unfinished one over to the
 * next read. Lines that are not tcp_send_reset events (the kernel's
 * "CPU:n [LOST m EVENTS]" notes) are skipped. */
static int feed(struct rsl_trace *t, const char *data, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t seg = nl != NULL ? (size_t)(nl - data) : len;

		if (!t->overlong && t->plen + seg < sizeof t->partial) {
			memcpy(t->partial + t->plen, data, seg);
			t->plen += seg;
		} else {
			t->overlong = true;
		}
		if (nl == NULL)
			break;
		if (!t->overlong) {
			struct rsl_rst_event ev;
			t->partial[t->plen] = '\0';
			/* "CPU:1 [LOST 12 EVENTS]": the ring was full */
			const char *lost = strstr(t->partial, "[LOST ");
			if (lost != NULL)
				t->lost += strtoull(lost + 6, NULL, 10);
			if (rsl_trace_parse_line(t->partial, &ev) == RSL_OK &&
			    push_event(t, &ev) < 0) {
				rsl_set_error(t->err, "out of memory");
				t->plen = 0;
				return RSL_ESYS;
			}
		}
		t->plen = 0;
		t->overlong = false;
		data += seg + 1;
		len -= seg + 1;
	}
	return RSL_OK;
}

static int drain_pipe(struct rsl_trace *t, char *buf, size_t size);

int rsl_trace_drain(struct rsl_trace *t)
{
	char buf[8192];

	if (t == NULL || t->fd < 0)
		return RSL_ECLOSED;
	size_t first = t->n;
	int rc = drain_pipe(t, buf, sizeof buf);
	/* Monotonic stamps become realtime with the offset of now: only a
	 * step of the realtime clock between an event and now moves them. An
	 * instance on another clock cannot be compared with packets: -1. */
	double offset = t->mono ? realtime_offset() : 0;
	for (size_t i = first; i < t->n; i++)
		t->ev[i].ts = t->mono ? t->ev[i].ts + offset : -1;
	return rc;
}

static int drain_pipe(struct rsl_trace *t, char *buf, size_t size)
{
	for (;;) {
		ssize_t n = read(t->fd, buf, size);
		if (n < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			if (e == EAGAIN || e == EWOULDBLOCK)
				return RSL_OK;
			rsl_set_error(t->err, "reading trace_pipe: %s", strerror(e));
			return RSL_ESYS;
		}
		if (n == 0)
			return RSL_OK;
		int rc = feed(t, buf, (size_t)n);
		if (rc != RSL_OK)
			return rc;
	}
}

/* rmdir an instance. The kernel refuses (EBUSY) while one of its files is
 * open; the caller has closed ours, but a reader elsewhere (someone's cat)
 * may let go a moment later, so retry for a short while on EBUSY only. */
static int remove_dir(const char *dir)
{
	for (int i = 0;; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || i == 20)
			return -1;
		nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
	}
}

void rsl_trace_close(struct rsl_trace *t)
{
	if (t == NULL)
		return;
	if (t->fd >= 0) {
		if (t->owned)
			(void)write_attr(t->dir, EVENT_DIR "/enable", "0");
		close(t->fd);
		t->fd = -1;
		if (t->owned)
			(void)remove_dir(t->dir);
	}
	free(t->ev);
	free(t);
}

void rsl_trace_remove_instance(int pid)
{
	char dir[PATH_MAX];
	const char *root = tracefs_root();

	if (root == NULL || pid <= 0 || instance_path(dir, sizeof dir, root, pid) < 0)
		return;
	(void)remove_dir(dir);
}

void rsl_trace_sweep_stale(void)
{
	char dir[PATH_MAX];
	const char *root = tracefs_root();

	if (root == NULL)
		return;
	snprintf(dir, sizeof dir, "%s/instances", root);
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		const char *s = de->d_name;
		char *end;
		if (strncmp(s, INSTANCE_PREFIX, strlen(INSTANCE_PREFIX)) != 0)
			continue;
		s += strlen(INSTANCE_PREFIX);
		if (!isdigit((unsigned char)*s))
			continue;
		errno = 0;
		long pid = strtol(s, &end, 10);
		/* "rstlab-<pid>" (a process's own) or "rstlab-<pid>-<k>" (a
		 * runner's pool) */
		if (*end == '-' && isdigit((unsigned char)end[1])) {
			char *k = end + 1;
			while (isdigit((unsigned char)*k))
				k++;
			if (*k != '\0')
				continue;
		} else if (*end != '\0') {
			continue;
		}
		if (errno != 0 || pid <= 0 || pid > INT_MAX)
			continue;
		/* Only instances whose owner is gone. Should the pid be
		 * another pid namespace's, rmdir still fails with EBUSY while
		 * its live owner holds the trace_pipe open. */
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if (named_path(dir, sizeof dir, root, de->d_name) == 0)
			(void)rmdir(dir);
	}
	closedir(d);
}

/* ---- parsing ---------------------------------------------------------- */

/* "a.b.c.d:port" or "[v6]:port" (the tracepoint's %pISpc), len bytes. */
static int parse_endpoint(const char *s, size_t len, int *family, uint8_t ip[16],
                          uint16_t *port)
{
	char host[INET6_ADDRSTRLEN];
	const char *hs, *he, *ps;

	if (len > 0 && s[0] == '[') {
		hs = s + 1;
		he = memchr(hs, ']', len - 1);
		if (he == NULL || he + 1 >= s + len || he[1] != ':')
			return -1;
		ps = he + 2;
		*family = AF_INET6;
	} else {
		he = NULL;
		for (const char *p = s; p < s + len; p++)
			if (*p == ':')
				he = p;
		if (he == NULL)
			return -1;
		hs = s;
		ps = he + 1;
		*family = AF_INET;
	}
	size_t hlen = (size_t)(he - hs), plen = (size_t)(s + len - ps);
	if (hlen == 0 || hlen >= sizeof host || plen == 0 || plen > 5)
		return -1;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	memset(ip, 0, 16);
	if (inet_pton(*family, host, ip) != 1)
		return -1;
	unsigned long v = 0;
	for (size_t i = 0; i < plen; i++) {
		if (!isdigit((unsigned char)ps[i]))
			return -1;
		v = v * 10 + (unsigned long)(ps[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static bool v4mapped(const uint8_t ip[16])
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };
	return memcmp(ip, prefix, sizeof prefix) == 0;
}

static bool unspecified(const uint8_t ip[16])
{
	static const uint8_t zero[16];
	return memcmp(ip, zero, sizeof zero) == 0;
}

static void unmap(uint8_t ip[16])
{
	memmove(ip, ip + 12, 4);
	memset(ip + 4, 0, 12);
}

static int copy_word(char *dst, size_t size, const char *s, size_t len)
{
	if (len == 0 || len >= size)
		return -1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

int rsl_trace_parse_line(const char *line, struct rsl_rst_event *out)
{
	static const char tag[] = ": tcp_send_reset: ";
	struct rsl_rst_event ev;
	bool have_src = false, have_dst = false;
	int dfamily = 0;

	if (line == NULL || out == NULL)
		return RSL_EMALFORMED;
	memset(&ev, 0, sizeof ev);

	/* The task name before the timestamp may hold any characters, even
	 * spaces and colons, so find the event name and read the timestamp
	 * backwards from it. */
	const char *tagp = strstr(line, tag);
	if (tagp == NULL)
		return RSL_EMALFORMED;
	const char *ts = tagp;
	while (ts > line && (isdigit((unsigned char)ts[-1]) || ts[-1] == '.'))
		ts--;
	if (ts == tagp || (ts > line && ts[-1] != ' '))
		return RSL_EMALFORMED;
	char *end;
	ev.ts = strtod(ts, &end);
	if (end != tagp)
		return RSL_EMALFORMED;

	/* key=value words; keys other than these four (skbaddr, skaddr, and
	 * whatever a later kernel adds) are not needed. */
	for (const char *p = tagp + strlen(tag); *p != '\0';) {
		while (*p != '\0' && isspace((unsigned char)*p))
			p++;
		const char *w = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		const char *eq = memchr(w, '=', (size_t)(p - w));
		if (eq == NULL)
			continue;
		size_t klen = (size_t)(eq - w), vlen = (size_t)(p - eq - 1);
		const char *v = eq + 1;
		int r = 0;
		if (klen == 3 && memcmp(w, "src", 3) == 0) {
			r = parse_endpoint(v, vlen, &ev.family, ev.src, &ev.sport);
			have_src = r == 0;
		} else if (klen == 4 && memcmp(w, "dest", 4) == 0) {
			r = parse_endpoint(v, vlen, &dfamily, ev.dst, &ev.dport);
			have_dst = r == 0;
		} else if (klen == 5 && memcmp(w, "state", 5) == 0) {
			r = copy_word(ev.state, sizeof ev.state, v, vlen);
		} else if (klen == 6 && memcmp(w, "reason", 6) == 0) {
			r = copy_word(ev.reason, sizeof ev.reason, v, vlen);
		}
		if (r < 0)
			return RSL_EMALFORMED;
	}
	/* state and reason stay "" on kernels that print neither (reason came
	 * in 6.10); the addresses are what makes an event usable at all. */
	if (!have_src || !have_dst || ev.family != dfamily)
		return RSL_EMALFORMED;
	if (ev.family == AF_INET6) {
		bool sm = v4mapped(ev.src), dm = v4mapped(ev.dst);
		if ((sm || dm) && (sm || unspecified(ev.src)) && (dm || unspecified(ev.dst))) {
			unmap(ev.src);
			unmap(ev.dst);
			ev.family = AF_INET;
		}
	}
	*out = ev;
	return RSL_OK;
}
