/*
 * The kernel's reason for each RST it sends: the tcp:tcp_send_reset
 * tracepoint, read through perf events of this process's own.
 *
 * One perf event per CPU (perf_event_open, PERF_TYPE_TRACEPOINT, every
 * process: pid -1) with a small ring buffer mapped into this process. The
 * events are this process's file descriptors: they die with it, however it
 * ends, and nothing global is created, named or left to sweep.
 *
 * Each sample carries the tracepoint's raw record and a timestamp taken on
 * CLOCK_MONOTONIC (use_clockid; perf refuses CLOCK_REALTIME), turned into
 * CLOCK_REALTIME, the clock the kernel stamps captured packets with, when
 * it is read: an event can be paired with the packet it announced by time,
 * not only by address. The tracepoint fires in the call that sends the
 * RST: just before it for a RST without a socket (tcp_v4_send_reset), just
 * after it for a socket's own (tcp_send_active_reset). Measured on
 * loopback: 5 to 15 microseconds either way. An event whose packet never
 * reached the wire (dropped in the host's firewall) has no packet near it.
 *
 * The record's layout (field offsets) and the reason names are read from
 * the tracepoint's format file in tracefs, so a kernel that moves a field
 * or adds a reason is read correctly. What the kernel stores (6.18):
 * - with a full socket, saddr/daddr are the socket's own local and remote
 *   addresses: saddr is the RST's source;
 * - with no socket (NO_SOCKET), the incoming segment's addresses swapped,
 *   so saddr is again the RST's source;
 * - when a listener answers (a bare ACK to a listening port), the
 *   listener's own address and 0.0.0.0:0 ([::]:0) as daddr;
 * - a dual-stack IPv6 socket talking IPv4 stores ::ffff:a.b.c.d, turned
 *   back into AF_INET here so that an event compares equal to the packet.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EVENT_DIR "events/tcp/tcp_send_reset"
#define RING_PAGES 16           /* data pages per CPU (a power of two) */
#define MAX_CPUS 1024
#define MAX_REASONS 64

struct ring {
	int fd;
	void *base;             /* the mapping: a control page, then the data */
	size_t len;
};

struct rsl_trace {
	struct ring *rings;     /* owned, one per online CPU */
	int nrings;
	size_t page;
	/* the record's layout, from the format file */
	int off_state, off_reason, off_saddr, off_daddr, size_addr;
	char reasons[MAX_REASONS][40];
	struct rsl_rst_event *ev; /* owned; grows by doubling */
	size_t n, cap;
	uint64_t lost;          /* samples the kernel could not store */
	double offset;          /* CLOCK_REALTIME - CLOCK_MONOTONIC at the last drain */
	char err[RSL_ERRLEN];
};

static const char *tracefs_dir(void)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char p[256];
	for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
		snprintf(p, sizeof p, "%s/" EVENT_DIR "/format", roots[i]);
		if (access(p, R_OK) == 0)
			return roots[i];
	}
	return NULL;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return NULL;
	size_t cap = 8192, n = 0;
	char *buf = malloc(cap);
	while (buf != NULL) {
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
		if (n + 1 == cap) {
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf != NULL)
		buf[n] = '\0';
	return buf;
}

/* "field:<type> <name>[..];\toffset:N;\tsize:M;" -> offset and size of
 * name, or -1. */
static int field(const char *fmt, const char *name, int *size)
{
	char key[64];
	for (const char *p = fmt; (p = strstr(p, "field:")) != NULL; p++) {
		const char *semi = strchr(p, ';');
		if (semi == NULL)
			return -1;
		/* the name is the last word before ';' or '[' */
		const char *end = memchr(p, '[', (size_t)(semi - p));
		if (end == NULL)
			end = semi;
		const char *start = end;
		while (start > p && start[-1] != ' ' && start[-1] != '*')
			start--;
		int len = snprintf(key, sizeof key, "%.*s", (int)(end - start), start);
		if (len <= 0 || strcmp(key, name) != 0)
			continue;
		int off, sz;
		const char *o = strstr(semi, "offset:");
		if (o == NULL || sscanf(o, "offset:%d;\tsize:%d;", &off, &sz) != 2)
			return -1;
		if (size)
			*size = sz;
		return off;
	}
	return -1;
}

/* The reason names: `__print_symbolic(REC->reason, { 0, "NOT_SPECIFIED" },
 * ...)` in the print format. */
static int reasons(const char *fmt, struct rsl_trace *t)
{
	const char *p = strstr(fmt, "REC->reason,");
	if (p == NULL)
		return -1;
	int found = 0;
	while ((p = strchr(p, '{')) != NULL) {
		int v;
		char name[40];
		if (sscanf(p, "{ %d, \"%39[A-Z0-9_]\" }", &v, name) != 2)
			break;
		if (v >= 0 && v < MAX_REASONS) {
			snprintf(t->reasons[v], sizeof t->reasons[v], "%s", name);
			found++;
		}
		p++;
	}
	return found > 0 ? 0 : -1;
}

int rsl_trace_check(char *why, size_t len)
{
	if (tracefs_dir() == NULL) {
		snprintf(why, len, "tracefs is not mounted, or " EVENT_DIR " is not readable there");
		return RSL_EUNAVAIL;
	}
	return RSL_OK;
}

static int fail(struct rsl_trace *t, char *err, size_t len, const char *what, int e)
{
	snprintf(err, len, "%s: %s", what, strerror(e));
	rsl_trace_close(t);
	return e == EACCES || e == EPERM || e == ENOENT || e == ENOSYS ? RSL_EUNAVAIL : RSL_ESYS;
}

int rsl_trace_open(struct rsl_trace **out, char *err, size_t len)
{
	*out = NULL;
	const char *root = tracefs_dir();
	if (root == NULL)
		return rsl_trace_check(err, len);
	struct rsl_trace *t = calloc(1, sizeof *t);
	if (t == NULL)
		return fail(NULL, err, len, "calloc", ENOMEM);
	char path[512];
	snprintf(path, sizeof path, "%s/" EVENT_DIR "/format", root);
	char *fmt = slurp(path);
	if (fmt == NULL)
		return fail(t, err, len, path, errno);
	long id = -1;
	const char *idp = strstr(fmt, "\nID: ");
	if (idp != NULL)
		id = strtol(idp + 5, NULL, 10);
	int sz_s = 0, sz_r = 0, sz_d = 0; /* sizes: 4, 4, and an address buffer */
	t->off_state = field(fmt, "state", &sz_s);
	t->off_reason = field(fmt, "reason", &sz_r);
	t->off_saddr = field(fmt, "saddr", &t->size_addr);
	t->off_daddr = field(fmt, "daddr", &sz_d);
	int rc = reasons(fmt, t);
	free(fmt);
	if (id < 0 || t->off_state < 0 || t->off_reason < 0 || t->off_saddr < 0 ||
	    t->off_daddr < 0 || sz_s != 4 || sz_r != 4 || t->size_addr < 28 || rc < 0) {
		snprintf(err, len, "the format of tcp:tcp_send_reset is not one this rstlab knows");
		rsl_trace_close(t);
		return RSL_EUNAVAIL;
	}
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	if (ncpu < 1 || ncpu > MAX_CPUS)
		ncpu = ncpu < 1 ? 1 : MAX_CPUS;
	t->rings = calloc((size_t)ncpu, sizeof *t->rings);
	if (t->rings == NULL)
		return fail(t, err, len, "calloc", ENOMEM);
	t->page = (size_t)sysconf(_SC_PAGESIZE);
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.type = PERF_TYPE_TRACEPOINT;
	a.config = (uint64_t)id;
	a.sample_period = 1;
	a.sample_type = PERF_SAMPLE_TIME | PERF_SAMPLE_RAW;
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	for (long cpu = 0; cpu < ncpu; cpu++) {
		int fd = (int)syscall(SYS_perf_event_open, &a, -1, (int)cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			if (errno == ENODEV || errno == EINVAL)
				continue; /* an offline CPU */
			return fail(t, err, len, "perf_event_open(tcp:tcp_send_reset)", errno);
		}
		struct ring *r = &t->rings[t->nrings++];
		r->fd = fd;
		r->len = t->page * (1 + RING_PAGES);
		r->base = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (r->base == MAP_FAILED) {
			r->base = NULL;
			return fail(t, err, len, "mmap of a perf ring", errno);
		}
	}
	if (t->nrings == 0) {
		snprintf(err, len, "perf_event_open(tcp:tcp_send_reset): no CPU accepted the event");
		rsl_trace_close(t);
		return RSL_EUNAVAIL;
	}
	*out = t;
	return RSL_OK;
}

/* An address field of the record: a sockaddr_in or sockaddr_in6 in a
 * 28-byte buffer; v4-mapped IPv6 becomes AF_INET. */
static void addr(const uint8_t *p, int *family, uint8_t ip[16], uint16_t *port)
{
	uint16_t fam;
	memcpy(&fam, p, 2);
	*port = (uint16_t)(p[2] << 8 | p[3]);
	memset(ip, 0, 16);
	if (fam == AF_INET) {
		*family = AF_INET;
		memcpy(ip, p + 4, 4);
	} else {
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(p + 8, mapped, 12) == 0) {
			*family = AF_INET;
			memcpy(ip, p + 20, 4);
		} else {
			*family = AF_INET6;
			memcpy(ip, p + 8, 16);
		}
	}
}

static int push(struct rsl_trace *t, const struct rsl_rst_event *e)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		struct rsl_rst_event *ev = realloc(t->ev, cap * sizeof *ev);
		if (ev == NULL)
			return RSL_ESYS;
		t->ev = ev;
		t->cap = cap;
	}
	t->ev[t->n++] = *e;
	return RSL_OK;
}

static void sample(struct rsl_trace *t, const uint8_t *rec, size_t size)
{
	/* PERF_SAMPLE_TIME, then PERF_SAMPLE_RAW: u64 time; u32 size; data */
	if (size < sizeof(struct perf_event_header) + 12)
		return;
	const uint8_t *p = rec + sizeof(struct perf_event_header);
	uint64_t ns;
	uint32_t rawlen;
	memcpy(&ns, p, 8);
	memcpy(&rawlen, p + 8, 4);
	const uint8_t *raw = p + 12;
	size_t need = (size_t)t->off_daddr + 28;
	if (rawlen < need || sizeof(struct perf_event_header) + 12 + rawlen > size)
		return;
	struct rsl_rst_event e;
	memset(&e, 0, sizeof e);
	e.ts = (double)(ns / 1000000000u) + (double)(ns % 1000000000u) * 1e-9 + t->offset;
	int state;
	uint32_t reason;
	memcpy(&state, raw + t->off_state, 4);
	memcpy(&reason, raw + t->off_reason, 4);
	int dfamily;
	addr(raw + t->off_saddr, &e.family, e.src, &e.sport);
	addr(raw + t->off_daddr, &dfamily, e.dst, &e.dport);
	const char *st = rsl_tcp_state_name(state);
	snprintf(e.state, sizeof e.state, st ? "TCP_%s" : "UNKNOWN", st);
	if (reason < MAX_REASONS && t->reasons[reason][0])
		snprintf(e.reason, sizeof e.reason, "%s", t->reasons[reason]);
	else
		snprintf(e.reason, sizeof e.reason, "%u", reason);
	push(t, &e);
}

static int by_time(const void *a, const void *b)
{
	double x = ((const struct rsl_rst_event *)a)->ts, y = ((const struct rsl_rst_event *)b)->ts;
	return x < y ? -1 : x > y;
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

int rsl_trace_drain(struct rsl_trace *t)
{
	/* Samples are stamped on CLOCK_MONOTONIC (perf offers no
	 * CLOCK_REALTIME); packets on CLOCK_REALTIME. The offset read now
	 * turns one into the other within a microsecond or so: only a clock
	 * step between an event and this drain could move it more. */
	t->offset = realtime_offset();
	size_t first = t->n;
	size_t dlen = t->page * RING_PAGES;
	uint8_t tmp[4096];
	for (int i = 0; i < t->nrings; i++) {
		struct perf_event_mmap_page *m = t->rings[i].base;
		const uint8_t *data = (const uint8_t *)m + t->page;
		uint64_t head = __atomic_load_n(&m->data_head, __ATOMIC_ACQUIRE);
		uint64_t tail = m->data_tail;
		while (tail < head) {
			struct perf_event_header h;
			size_t at = (size_t)(tail % dlen);
			for (size_t k = 0; k < sizeof h; k++)
				((uint8_t *)&h)[k] = data[(at + k) % dlen];
			if (h.size < sizeof h || h.size > head - tail)
				break;
			const uint8_t *rec = data + at;
			if (at + h.size > dlen) { /* wraps around: copy it whole */
				if (h.size > sizeof tmp) {
					tail += h.size; /* not one of ours: far too long */
					continue;
				}
				for (size_t k = 0; k < h.size; k++)
					tmp[k] = data[(at + k) % dlen];
				rec = tmp;
			}
			if (h.type == PERF_RECORD_SAMPLE) {
				sample(t, rec, h.size);
			} else if (h.type == PERF_RECORD_LOST && h.size >= sizeof h + 16) {
				uint64_t lost;
				memcpy(&lost, rec + sizeof h + 8, 8);
				t->lost += lost;
			}
			tail += h.size;
		}
		__atomic_store_n(&m->data_tail, tail, __ATOMIC_RELEASE);
	}
	/* Each CPU's events are in order; merge this batch by time. */
	if (t->n - first > 1)
		qsort(t->ev + first, t->n - first, sizeof *t->ev, by_time);
	return RSL_OK;
}

size_t rsl_trace_count(const struct rsl_trace *t)
{
	return t ? t->n : 0;
}

uint64_t rsl_trace_lost(const struct rsl_trace *t)
{
	return t ? t->lost : 0;
}

const struct rsl_rst_event *rsl_trace_event(const struct rsl_trace *t, size_t i)
{
	return t && i < t->n ? &t->ev[i] : NULL;
}

void rsl_trace_close(struct rsl_trace *t)
{
	if (t == NULL)
		return;
	for (int i = 0; i < t->nrings; i++) {
		if (t->rings[i].base)
			munmap(t->rings[i].base, t->rings[i].len);
		close(t->rings[i].fd);
	}
	free(t->rings);
	free(t->ev);
	free(t);
}
