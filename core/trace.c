/*
 * The kernel's reason for each RST it sends: the tcp:tcp_send_reset
 * tracepoint, read through a BPF program of this process's own.
 *
 * rsl_trace_open loads a small BPF program (written below as bytecode, no
 * compiler needed). Each time the kernel sends a RST the program writes the
 * event's fields, stamped with bpf_ktime_get_ns (CLOCK_MONOTONIC), into a
 * BPF ring buffer that this process maps and reads. Program, ring and the
 * attachment are file descriptors: they die with the process, however it
 * ends. Nothing global is created, so nothing has to be swept after a
 * crash or a SIGKILL.
 *
 * Two ways onto the tracepoint, the first where the kernel allows it:
 * - The raw tracepoint (BPF_RAW_TRACEPOINT_OPEN). The program gets the
 *   tracepoint's arguments (sk, skb, reason) and builds the record the
 *   way the tracepoint fills its own (include/trace/events/tcp.h), with
 *   bpf_probe_read_kernel at struct offsets taken from the kernel's BTF
 *   (core/btf.c); the reason names are the sk_rst_reason enum's. Closing
 *   it detaches it at once.
 * - The tracepoint through a perf event (PERF_EVENT_IOC_SET_BPF), on a
 *   kernel without BTF. The program copies the formatted record, whose
 *   layout is read from the event's "format" file in tracefs: the offsets
 *   of state, reason, saddr and daddr, and the reason names with their
 *   numbers (from the print format). Closing the perf event waits for RCU
 *   grace periods (synchronize_rcu_tasks_trace in
 *   perf_event_detach_bpf_prog, and tracepoint_synchronize_unregister for
 *   the tracepoint's last perf user): 9 to 50 ms measured on 6.18.
 * tests/core/test_trace.c runs every test both ways and checks that the
 * two give the same events for RSTs of every kind.
 *
 * The tracepoint is global: the program runs for the RSTs of every network
 * namespace, on every CPU, in whatever context the kernel sends them
 * (softirq on an idle CPU included). Events carry addresses and ports and
 * the caller attributes them (the sandbox's private port slices make that
 * unambiguous between parallel scenarios).
 *
 * What the fields hold (6.18, checked on the running kernel):
 * - With a full socket (linger 0, close with unread data, keepalive ...)
 *   saddr/daddr are the socket's own local and remote addresses: saddr is
 *   the RST's source.
 * - With no socket (reason NO_SOCKET: a SYN to a closed port) the kernel
 *   stores the incoming segment's addresses swapped, so saddr is again the
 *   RST's source (the closed port) and daddr the peer that gets the RST;
 *   state is 0 ("UNKNOWN"). The same for a TIME_WAIT or request socket,
 *   with its state.
 * - When a listener answers (a bare ACK to a listening port, reason
 *   TCP_FLAGS), sk is the listener: saddr is the listener's own address and
 *   daddr is 0.0.0.0:0 ([::]:0), not the peer; state is TCP_LISTEN.
 * - A dual-stack IPv6 socket talking IPv4 stores ::ffff:a.b.c.d; the reader
 *   turns that back into AF_INET so that an event compares equal to the
 *   IPv4 packet that was captured.
 *
 * Why BPF and not the alternatives (README, design notes): a tracefs
 * instance costs ~10 ms to make and 12-65 ms to remove and outlives a
 * killed process; a perf event's own sample ring, on kernel 6.18, lost
 * samples taken in softirq on an idle CPU.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/magic.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EVENT_DIR "events/tcp/tcp_send_reset"
/* The ring: 256 KiB holds ~2500 events (a record is 104 bytes with its
 * header); a scenario that sends more between two reads loses events, and
 * they are counted. */
#define RING_SIZE (256 * 1024)
#define MAX_REASONS 64
/* Room for a program's instructions (the raw shared one is ~200). */
#define PROG_MAX 320

/* The entries of a program's own array map (u64 each). */
enum {
	MAP_LOST,       /* events the ring had no room for */
	MAP_PORTS,      /* the port range { lo, hi } (two u32; lo 0: every port) */
	MAP_RUNS,       /* times the program ran */
	MAP_OUTSIDE,    /* events it dropped: both ports outside the range */
	MAP_DROPS,      /* the last DROP_LOG of those (emit) */
	MAP_ENTRIES = MAP_DROPS + RSL_TRACE_DROP_LOG
};
#define DROP_LOG RSL_TRACE_DROP_LOG
_Static_assert((DROP_LOG & (DROP_LOG - 1)) == 0, "the drop log is indexed by a mask");

struct layout {
	unsigned rec_end;               /* bytes of the record that are copied */
	unsigned state, reason, saddr, daddr;   /* field offsets */
	char reasons[MAX_REASONS][40];  /* enum value -> name ("" unknown) */
};

struct rsl_trace {
	int ring_fd, prog_fd, attach_fd;   /* attach_fd: raw tracepoint or perf event */
	bool raw;                       /* its program is on the raw tracepoint */
	int map_fd;                     /* array map, entries MAP_* */
	bool shared;                    /* fed by the shared program (rsl_trace_share) */
	int slot_lo, slot_hi;           /* its slots there; -1 while none */
	uint64_t misses0;               /* the shared program's misses when it joined */
	uint64_t unreadable;            /* records decode() refused */
	void *cons;                     /* the consumer page (read-write) */
	const void *prod;               /* producer page + data, twice mapped */
	size_t page;
	struct layout lay;
	struct rsl_rst_event *ev;       /* owned; grows by doubling */
	size_t n, cap;
	char err[RSL_ERRLEN];
};

/* Where the tracepoint's fields are in the kernel's structs (byte offsets,
 * from BTF) for the raw tracepoint's program, which gets the tracepoint's
 * arguments (sk, skb, reason) instead of the formatted record. */
struct offsets {
	int state, family, dport, daddr, v6_daddr;      /* struct sock (sock_common) */
	int sport, saddr, pinet6;                       /* struct inet_sock */
	int v6_saddr;                                   /* struct ipv6_pinfo */
	int head, data, network_header;                 /* struct sk_buff */
};

/* The record the raw program writes: the tracepoint's fields that rstlab
 * reads, at offsets of its own. */
static const struct layout RAW_LAYOUT = {
	.rec_end = 72, .state = 8, .reason = 12, .saddr = 16, .daddr = 44,
};

/* What this process uses, found once (a child forked later inherits it):
 * the raw tracepoint when BTF gives the offsets, else the tracepoint
 * through a perf event with the record's layout from tracefs. */
static struct {
	bool known, raw, no_raw;        /* no_raw: rsl_trace_force_perf */
	struct offsets off;
	struct layout lay;              /* the raw program's (RAW_LAYOUT + names) */
	char why_not[RSL_ERRLEN];       /* why the raw tracepoint is not used */
} kern;

static void know_kernel(void);

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

/* The tracefs way's failure in why, with the reason the raw tracepoint
 * could not be used first. */
static int tracefs_check(char *why, size_t len);

int rsl_trace_check(char *why, size_t len)
{
	if (why == NULL)
		len = 0;
	know_kernel();
	if (kern.raw) {
		if (len > 0)
			why[0] = '\0';
		return RSL_OK;
	}
	int rc = tracefs_check(why, len);
	size_t used = len > 0 ? strlen(why) : 0;
	if (rc != RSL_OK && kern.why_not[0] != '\0' && used + 1 < len)
		snprintf(why + used, len - used, "; and no raw tracepoint: %s", kern.why_not);
	return rc;
}

static int tracefs_check(char *why, size_t len)
{
	char path[PATH_MAX];
	const char *root = tracefs_root();

	if (root == NULL) {
		snprintf(why, len, "tracefs is not mounted (neither /sys/kernel/tracing "
		         "nor /sys/kernel/debug/tracing)");
		return RSL_EUNAVAIL;
	}
	snprintf(path, sizeof path, "%s/" EVENT_DIR "/format", root);
	if (access(path, R_OK) < 0) {
		int e = errno;
		if (e == EACCES || e == EPERM)
			snprintf(why, len, "reading RST reasons needs root (%s: %s)", path,
			         strerror(e));
		else
			snprintf(why, len, "this kernel has no tcp:tcp_send_reset tracepoint "
			         "(%s: %s)", path, strerror(e));
		return RSL_EUNAVAIL;
	}
	if (len > 0)
		why[0] = '\0';
	return RSL_OK;
}

/* Read root/EVENT_DIR/name into buf (NUL-terminated); bytes read or -1. */
static ssize_t read_event_file(const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	const char *root = tracefs_root();
	if (root == NULL) {
		errno = ENOENT;
		return -1;
	}
	snprintf(path, sizeof path, "%s/" EVENT_DIR "/%s", root, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t got = 0;
	while (got + 1 < size) {
		ssize_t n = read(fd, buf + got, size - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

/* The line "field:<type> <name>[<n>];\toffset:<o>;\tsize:<s>;..." of
 * name: 0 and its offset and size, or -1. */
static int field(const char *fmt, const char *name, unsigned *off, unsigned *size)
{
	size_t nl = strlen(name);
	for (const char *p = fmt; (p = strstr(p, "field:")) != NULL; p += 6) {
		const char *semi = strchr(p, ';');
		if (semi == NULL)
			return -1;
		const char *e = semi;
		if (e[-1] == ']')               /* an array: "saddr[28]" */
			e = memchr(p, '[', (size_t)(semi - p));
		if (e == NULL || (size_t)(e - p) <= nl + 6 || memcmp(e - nl, name, nl) != 0 ||
		    isalnum((unsigned char)e[-(long)nl - 1]) || e[-(long)nl - 1] == '_')
			continue;
		const char *o = strstr(semi, "offset:"), *s = strstr(semi, "size:");
		if (o == NULL || s == NULL)
			return -1;
		*off = (unsigned)strtoul(o + 7, NULL, 10);
		*size = (unsigned)strtoul(s + 5, NULL, 10);
		return 0;
	}
	return -1;
}

/* The reason names of the print format's "__print_symbolic(REC->reason,
 * { 0, "NOT_SPECIFIED" }, { 1, "NO_SOCKET" }, ...)". */
static void reason_names(const char *fmt, struct layout *lay)
{
	const char *p = strstr(fmt, "__print_symbolic(REC->reason");
	if (p == NULL)
		return;
	const char *end = strchr(p, ')');
	while ((p = strchr(p, '{')) != NULL && (end == NULL || p < end)) {
		char *q;
		unsigned long v = strtoul(p + 1, &q, 0);
		const char *a = strchr(q, '"'), *b = a != NULL ? strchr(a + 1, '"') : NULL;
		if (b == NULL)
			return;
		if (q != p + 1 && v < MAX_REASONS && (size_t)(b - a - 1) < sizeof lay->reasons[0]) {
			memcpy(lay->reasons[v], a + 1, (size_t)(b - a - 1));
			lay->reasons[v][b - a - 1] = '\0';
		}
		p = b;
	}
}

static int read_layout(struct layout *lay, char *err, size_t errlen)
{
	static char fmt[16384];         /* the format file: ~3 KB on 6.18 */
	unsigned sz, ssz, dsz, st_sz, r_sz;

	memset(lay, 0, sizeof *lay);
	if (read_event_file("format", fmt, sizeof fmt) < 0) {
		rsl_format_error(err, errlen, "reading the format of tcp:tcp_send_reset: %s",
		                 strerror(errno));
		return RSL_EUNAVAIL;
	}
	if (field(fmt, "saddr", &lay->saddr, &ssz) < 0 ||
	    field(fmt, "daddr", &lay->daddr, &dsz) < 0 || ssz != dsz ||
	    ssz < sizeof(struct sockaddr_in6)) {
		rsl_format_error(err, errlen, "tcp:tcp_send_reset has no saddr/daddr "
		                 "sockaddr fields on this kernel");
		return RSL_EUNAVAIL;
	}
	/* state and reason are missing on older kernels (reason came in
	 * 6.10): they read as "". */
	if (field(fmt, "state", &lay->state, &st_sz) < 0 || st_sz != 4)
		lay->state = 0;
	if (field(fmt, "reason", &lay->reason, &r_sz) < 0 || r_sz != 4)
		lay->reason = 0;
	sz = lay->saddr > lay->daddr ? lay->saddr + ssz : lay->daddr + dsz;
	if (lay->state + 4 > sz)
		sz = lay->state + 4;
	if (lay->reason + 4 > sz)
		sz = lay->reason + 4;
	lay->rec_end = (sz + 7) & ~7u;
	if (lay->rec_end > 256) {
		rsl_format_error(err, errlen, "tcp:tcp_send_reset's record is %u bytes, "
		                 "more than rstlab copies", lay->rec_end);
		return RSL_EUNAVAIL;
	}
	reason_names(fmt, lay);
	return RSL_OK;
}

/* ---- the BPF program -------------------------------------------------- */

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), \
	.src_reg = (s), .off = (o), .imm = (i) })

/* r0 = bpf_map_lookup_elem(map, r10 + key), the key stored there
 * already: the instructions from p[n]; returns the next n. */
static size_t emit_lookup_at(struct bpf_insn *p, size_t n, int map_fd, short key)
{
	p[n++] = INSN(BPF_LD | BPF_IMM | BPF_DW, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd);
	p[n++] = INSN(0, 0, 0, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, key);
	p[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
	return n;
}

/* r0 = bpf_map_lookup_elem(map, &k), the key k stored at r10 + key. */
static size_t emit_lookup(struct bpf_insn *p, size_t n, int map_fd, short key, int k)
{
	p[n++] = INSN(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, key, k);
	return emit_lookup_at(p, n, map_fd, key);
}

/* The record (ctx in r6) to the stack at r10 - B: the monotonic time in
 * its first 8 bytes (where the record's common fields were), the record's
 * bytes 8.. after them. */
static size_t emit_copy(struct bpf_insn *p, size_t n, int B)
{
	p[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ktime_get_ns);
	p[n++] = INSN(BPF_STX | BPF_MEM | BPF_DW, BPF_REG_10, BPF_REG_0, (short)-B, 0);
	for (int off = 8; off < B; off += 8) {
		p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_6, (short)off, 0);
		p[n++] = INSN(BPF_STX | BPF_MEM | BPF_DW, BPF_REG_10, BPF_REG_1, (short)(off - B), 0);
	}
	return n;
}

/* r0 = bpf_ringbuf_output(r1, r10 - B, B, 0): the record, copied to the
 * stack, into the ring that r1 names already. */
static size_t emit_output(struct bpf_insn *p, size_t n, int B)
{
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -B);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, B);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_4, 0, 0, 0);
	p[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ringbuf_output);
	return n;
}

/* ---- the raw tracepoint: the record built from the kernel's objects ---- */

/* p[n] = a call of bpf_probe_read_kernel(r10 + dst, size, src + off). */
static size_t emit_read(struct bpf_insn *p, size_t n, int dst, int size, int src, int off)
{
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_10, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_1, 0, 0, dst);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, size);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, (uint8_t)src, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_3, 0, 0, off);
	p[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_probe_read_kernel);
	return n;
}

/* A sockaddr at r10 + sa: its family, its port (2 bytes at reg + port)
 * and its address (4 or 16 bytes at reg + addr). */
static size_t emit_sockaddr(struct bpf_insn *p, size_t n, int sa, bool v6, int preg, int port,
                            int areg, int addr)
{
	p[n++] = INSN(BPF_ST | BPF_MEM | BPF_H, BPF_REG_10, 0, (short)sa, v6 ? AF_INET6 : AF_INET);
	n = emit_read(p, n, sa + 2, 2, preg, port);
	if (v6)
		return emit_read(p, n, sa + (int)offsetof(struct sockaddr_in6, sin6_addr), 16, areg,
		                 addr);
	return emit_read(p, n, sa + (int)offsetof(struct sockaddr_in, sin_addr), 4, areg, addr);
}

#define JUMP_TO(p, from, target) ((p)[from].off = (short)((long)(target) - (long)(from) - 1))

/* The raw program's record at r10 - B, from its arguments (ctx in r6),
 * as the tracepoint fills its own (include/trace/events/tcp.h): state
 * sk->sk_state or 0 without a socket; with a full socket, its own
 * addresses and ports (an IPv6 socket's source from its ipv6_pinfo);
 * otherwise the segment's (skb), swapped, so that saddr is again the RST's
 * source. Two temporaries below the record and its map key. */
static size_t emit_build(struct bpf_insn *p, size_t n, int B)
{
	const struct offsets *o = &kern.off;
	const int rec = -B, sa = rec + 16, da = rec + 44, t1 = rec - 16, t2 = rec - 24;
	size_t to_skb[3], to_v4, to_done[4], to_skb4;

	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_7, BPF_REG_6, 8, 0);     /* skb */
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_8, BPF_REG_6, 16, 0);    /* reason */
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_6, BPF_REG_6, 0, 0);     /* sk */
	for (int off = t2; off < 0; off += 8)
		p[n++] = INSN(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, (short)off, 0);
	p[n++] = INSN(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_8, (short)(rec + 12), 0);
	p[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ktime_get_ns);
	p[n++] = INSN(BPF_STX | BPF_MEM | BPF_DW, BPF_REG_10, BPF_REG_0, (short)rec, 0);

	to_skb[0] = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_6, 0, 0, 0);
	n = emit_read(p, n, rec + 8, 1, BPF_REG_6, o->state);
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_B, BPF_REG_1, BPF_REG_10, (short)(rec + 8), 0);
	to_skb[1] = n;  /* TCP_TIME_WAIT and TCP_NEW_SYN_RECV are not full sockets */
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_1, 0, 0, 6);
	to_skb[2] = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_1, 0, 0, 12);
	n = emit_read(p, n, t1, 2, BPF_REG_6, o->family);
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_H, BPF_REG_1, BPF_REG_10, (short)t1, 0);
	to_v4 = n;
	p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 0, AF_INET6);
	n = emit_sockaddr(p, n, da, true, BPF_REG_6, o->dport, BPF_REG_6, o->v6_daddr);
	n = emit_read(p, n, t1, 8, BPF_REG_6, o->pinet6);
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_9, BPF_REG_10, (short)t1, 0);
	to_done[0] = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_9, 0, 0, 0);
	n = emit_sockaddr(p, n, sa, true, BPF_REG_6, o->sport, BPF_REG_9, o->v6_saddr);
	to_done[1] = n;
	p[n++] = INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0);
	JUMP_TO(p, to_v4, n);
	n = emit_sockaddr(p, n, sa, false, BPF_REG_6, o->sport, BPF_REG_6, o->saddr);
	n = emit_sockaddr(p, n, da, false, BPF_REG_6, o->dport, BPF_REG_6, o->daddr);
	to_done[2] = n;
	p[n++] = INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0);

	for (int i = 0; i < 3; i++)
		JUMP_TO(p, to_skb[i], n);
	to_done[3] = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_7, 0, 0, 0);
	/* r8 = the IP header (head + network_header), r9 = the TCP header (data) */
	n = emit_read(p, n, t1, 8, BPF_REG_7, o->head);
	n = emit_read(p, n, t2, 2, BPF_REG_7, o->network_header);
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_8, BPF_REG_10, (short)t1, 0);
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_H, BPF_REG_1, BPF_REG_10, (short)t2, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_X, BPF_REG_8, BPF_REG_1, 0, 0);
	n = emit_read(p, n, t1, 8, BPF_REG_7, o->data);
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_9, BPF_REG_10, (short)t1, 0);
	n = emit_read(p, n, t2, 1, BPF_REG_8, 0);
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_B, BPF_REG_1, BPF_REG_10, (short)t2, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_RSH | BPF_K, BPF_REG_1, 0, 0, 4);
	to_skb4 = n;
	p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 0, 6);
	/* the segment's source is the RST's destination; ipv6hdr: saddr at
	 * 8, daddr at 24; iphdr: 12 and 16; tcphdr: source 0, dest 2 */
	n = emit_sockaddr(p, n, da, true, BPF_REG_9, 0, BPF_REG_8, 8);
	n = emit_sockaddr(p, n, sa, true, BPF_REG_9, 2, BPF_REG_8, 24);
	size_t to_end = n;
	p[n++] = INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0);
	JUMP_TO(p, to_skb4, n);
	n = emit_sockaddr(p, n, da, false, BPF_REG_9, 0, BPF_REG_8, 12);
	n = emit_sockaddr(p, n, sa, false, BPF_REG_9, 2, BPF_REG_8, 16);
	JUMP_TO(p, to_end, n);
	for (int i = 0; i < 4; i++)
		JUMP_TO(p, to_done[i], n);
	return n;
}

/* The record at r10 - B: built by the raw program, copied from its record
 * by the tracepoint's (ctx in r6 either way). */
static size_t emit_record(struct bpf_insn *p, size_t n, int B, bool raw)
{
	return raw ? emit_build(p, n, B) : emit_copy(p, n, B);
}

/* r1 = the port (network order) of the sockaddr at record offset off */
static size_t emit_port(struct bpf_insn *p, size_t n, int B, unsigned off)
{
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_H, BPF_REG_1, BPF_REG_10, (short)(-B + (int)off + 2),
	              0);
	p[n++] = INSN(BPF_ALU | BPF_END | BPF_TO_BE, BPF_REG_1, 0, 0, 16);
	return n;
}

/* map[k] += 1 (atomically), the key stored at r10 + key: the
 * instructions from p[n]; returns the next n. */
static size_t emit_count(struct bpf_insn *p, size_t n, int map_fd, short key, int k)
{
	n = emit_lookup(p, n, map_fd, key, k);
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 2);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1);
	p[n++] = INSN(BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_0, BPF_REG_1, 0, BPF_ADD);
	return n;
}

/* Emit the program into p (room for PROG_MAX instructions): each run
 * counts itself in map entry RUNS; the record to the stack (emit_record);
 * with the port range of map entry PORTS set (rsl_trace_ports), an event
 * whose ports are both outside it is dropped and counted in OUTSIDE;
 * otherwise the record goes into the ring, and a failure (ring full)
 * counts one lost event in LOST. */
static size_t emit(struct bpf_insn *p, const struct layout *lay, bool raw, int ring_fd,
                   int map_fd)
{
	size_t n = 0, to_out[2], to_check_d, to_drop[2];
	int B = (int)lay->rec_end;
	short key = (short)(-B - 8);

	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0);
	n = emit_count(p, n, map_fd, key, MAP_RUNS);
	n = emit_record(p, n, B, raw);
	/* r0 = &map[PORTS]: the port range { lo, hi } (lo 0: no filter) */
	n = emit_lookup(p, n, map_fd, key, MAP_PORTS);
	to_out[0] = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0);
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_7, BPF_REG_0, 0, 0);
	to_out[1] = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_7, 0, 0, 0);
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_8, BPF_REG_0, 4, 0);
	n = emit_port(p, n, B, lay->saddr);
	to_check_d = n;
	p[n++] = INSN(BPF_JMP | BPF_JLT | BPF_X, BPF_REG_1, BPF_REG_7, 0, 0);
	size_t to_out2 = n;
	p[n++] = INSN(BPF_JMP | BPF_JLE | BPF_X, BPF_REG_1, BPF_REG_8, 0, 0);
	JUMP_TO(p, to_check_d, n);
	n = emit_port(p, n, B, lay->daddr);
	to_drop[0] = n;
	p[n++] = INSN(BPF_JMP | BPF_JLT | BPF_X, BPF_REG_1, BPF_REG_7, 0, 0);
	to_drop[1] = n;
	p[n++] = INSN(BPF_JMP | BPF_JGT | BPF_X, BPF_REG_1, BPF_REG_8, 0, 0);

	size_t output = n;
	/* r0 = bpf_ringbuf_output(ring, r10 - B, B, 0) */
	p[n++] = INSN(BPF_LD | BPF_IMM | BPF_DW, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, ring_fd);
	p[n++] = INSN(0, 0, 0, 0, 0);
	n = emit_output(p, n, B);
	/* if (r0 != 0) map[LOST] += 1 */
	size_t if_full = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0);
	n = emit_count(p, n, map_fd, key, MAP_LOST);
	size_t to_out3 = n;
	p[n++] = INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0);
	/* A dropped event: counted in OUTSIDE, and kept in the drop log at
	 * DROPS + (count % DROP_LOG): its ports and the low 32 bits of its
	 * time in µs, packed (source << 48 | destination << 32 | µs). */
	size_t drop = n;
	size_t if_none[2];
	n = emit_lookup(p, n, map_fd, key, MAP_OUTSIDE);
	if_none[0] = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1);
	p[n++] = INSN(BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_0, BPF_REG_1, 0, BPF_ADD | BPF_FETCH);
	p[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_1, 0, 0, DROP_LOG - 1);
	p[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_1, 0, 0, MAP_DROPS);
	p[n++] = INSN(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_1, key, 0);
	n = emit_lookup_at(p, n, map_fd, key);
	if_none[1] = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0);
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_7, BPF_REG_10, (short)-B, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_DIV | BPF_K, BPF_REG_7, 0, 0, 1000);
	p[n++] = INSN(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_7, BPF_REG_7, 0, 0);   /* low 32 bits */
	n = emit_port(p, n, B, lay->saddr);
	p[n++] = INSN(BPF_ALU64 | BPF_LSH | BPF_K, BPF_REG_1, 0, 0, 48);
	p[n++] = INSN(BPF_ALU64 | BPF_OR | BPF_X, BPF_REG_7, BPF_REG_1, 0, 0);
	n = emit_port(p, n, B, lay->daddr);
	p[n++] = INSN(BPF_ALU64 | BPF_LSH | BPF_K, BPF_REG_1, 0, 0, 32);
	p[n++] = INSN(BPF_ALU64 | BPF_OR | BPF_X, BPF_REG_7, BPF_REG_1, 0, 0);
	p[n++] = INSN(BPF_STX | BPF_MEM | BPF_DW, BPF_REG_0, BPF_REG_7, 0, 0);
	/* return 0: no perf sample besides (nothing reads one) */
	size_t out = n;
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
	p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

	JUMP_TO(p, to_out[0], output);
	JUMP_TO(p, to_out[1], output);
	JUMP_TO(p, to_out2, output);
	JUMP_TO(p, to_drop[0], drop);
	JUMP_TO(p, to_drop[1], drop);
	JUMP_TO(p, if_full, out);
	JUMP_TO(p, to_out3, out);
	JUMP_TO(p, if_none[0], out);
	JUMP_TO(p, if_none[1], out);
	return n;
}

static int map_create_inner(enum bpf_map_type type, unsigned key, unsigned value,
                            unsigned entries, int inner_fd)
{
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	a.map_type = type;
	a.key_size = key;
	a.value_size = value;
	a.max_entries = entries;
	a.map_flags = 0;
	a.inner_map_fd = inner_fd < 0 ? 0 : (uint32_t)inner_fd;
	return (int)sys_bpf(BPF_MAP_CREATE, &a);
}

static int map_create(enum bpf_map_type type, unsigned key, unsigned value, unsigned entries)
{
	return map_create_inner(type, key, value, entries, -1);
}

/* ---- which tracepoint ----------------------------------------------------- */

/* The offsets of the raw program, from BTF: false, with why in
 * kern.why_not, when this kernel does not give them all. */
static bool find_raw(void)
{
	struct rsl_btf *b;
	struct offsets o;
	int zero_sk, zero_common;
	const char *par[4];

	static const struct rsl_btf_name names[] = {
		{ "sock", BTF_KIND_STRUCT },      { "sock_common", BTF_KIND_STRUCT },
		{ "inet_sock", BTF_KIND_STRUCT }, { "ipv6_pinfo", BTF_KIND_STRUCT },
		{ "sk_buff", BTF_KIND_STRUCT },   { "btf_trace_tcp_send_reset", BTF_KIND_TYPEDEF },
		{ "sk_rst_reason", BTF_KIND_ENUM },
	};
	int id[7];
	if (rsl_btf_open(&b, names, id, 7, kern.why_not, sizeof kern.why_not) != RSL_OK)
		return false;
	int sock = id[0], common = id[1], inet = id[2], ip6 = id[3], skb = id[4];
	/* size -1: any; a struct sock begins with its sock_common, an
	 * inet_sock with its sock */
	const struct {
		int *at, type;
		const char *name;
		long size;
	} want[] = {
		{ &zero_common, sock, "__sk_common", -1 }, { &zero_sk, inet, "sk", -1 },
		{ &o.state, common, "skc_state", 1 },      { &o.family, common, "skc_family", 2 },
		{ &o.dport, common, "skc_dport", 2 },      { &o.daddr, common, "skc_daddr", 4 },
		{ &o.v6_daddr, common, "skc_v6_daddr", 16 }, { &o.sport, inet, "inet_sport", 2 },
		{ &o.saddr, inet, "inet_saddr", 4 },       { &o.pinet6, inet, "pinet6", 8 },
		{ &o.v6_saddr, ip6, "saddr", 16 },         { &o.head, skb, "head", 8 },
		{ &o.data, skb, "data", 8 },               { &o.network_header, skb, "network_header", 2 },
	};
	bool ok = true;
	for (size_t i = 0; ok && i < sizeof want / sizeof want[0]; i++) {
		long size = -1, off = want[i].type < 0 ? -1
		                      : rsl_btf_member(b, want[i].type, want[i].name, &size);
		if (off < 0 || off > 32767 || (want[i].size >= 0 && size != want[i].size)) {
			rsl_set_error(kern.why_not, "this kernel's BTF has no member %s of %ld bytes "
			              "where rstlab looks for it", want[i].name, want[i].size);
			ok = false;
		} else {
			*want[i].at = (int)off;
		}
	}
	if (ok && (zero_common != 0 || zero_sk != 0)) {
		rsl_set_error(kern.why_not, "this kernel's struct inet_sock does not begin with "
		              "its struct sock_common");
		ok = false;
	}
	if (ok && (rsl_btf_params(b, id[5], par, 4) != 4 ||
	           strcmp(par[1], "sock") != 0 || strcmp(par[2], "sk_buff") != 0 ||
	           strcmp(par[3], "sk_rst_reason") != 0)) {
		rsl_set_error(kern.why_not, "this kernel's tcp_send_reset tracepoint does not "
		              "take (sk, skb, reason)");
		ok = false;
	}
	if (ok) {
		kern.off = o;
		kern.lay = RAW_LAYOUT;
		rsl_btf_enum(b, id[6], "SK_RST_REASON_", kern.lay.reasons, MAX_REASONS);
	}
	rsl_btf_close(b);
	return ok;
}

static void know_kernel(void)
{
	if (!kern.known) {
		kern.known = true;
		kern.raw = !kern.no_raw && find_raw();
	}
}

void rsl_trace_force_perf(bool on)
{
	kern.no_raw = on;
	kern.known = false;
}

/* The layout of the records a new program of this process's writes, and
 * whether it goes on the raw tracepoint. */
static int layout_for(struct layout *lay, bool *raw, char *err, size_t errlen)
{
	know_kernel();
	*raw = kern.raw;
	if (kern.raw) {
		*lay = kern.lay;
		return RSL_OK;
	}
	if (rsl_trace_check(err, errlen) != RSL_OK)
		return RSL_EUNAVAIL;
	return read_layout(lay, err, errlen);
}

/* ---- the shared program (rsl_trace_share) ------------------------------ */

/* One program for a process and the children it forks afterwards. Ports
 * are cut in slots of RSL_PORT_SLOT (the sandbox's slices are slots);
 * outer[slot] is the ring of the reader that holds that slot, lost[slot]
 * counts what did not fit in it. A reader adds its ring to its slots and
 * takes it out when it closes; one killed on the way leaves its ring
 * there until the next reader of that slot replaces it. */
#define SHARE_SLOTS (65536 / RSL_PORT_SLOT + 1)

static struct {
	bool on, raw;
	int outer_fd, lost_fd, prog_fd, attach_fd;
	struct layout lay;
} share = { .outer_fd = -1, .lost_fd = -1, .prog_fd = -1, .attach_fd = -1 };

/* Deliver the copied record (at r10 - B) to the ring of the slot in r7,
 * if a reader holds it; a full ring counts one lost event there. */
static size_t emit_deliver(struct bpf_insn *p, size_t n, int B, short key)
{
	size_t skip[3];
	p[n++] = INSN(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_7, key, 0);
	n = emit_lookup_at(p, n, share.outer_fd, key);
	skip[0] = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_0, 0, 0);
	n = emit_output(p, n, B);
	skip[1] = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0);
	p[n++] = INSN(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_7, key, 0);
	n = emit_lookup_at(p, n, share.lost_fd, key);
	skip[2] = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1);
	p[n++] = INSN(BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_0, BPF_REG_1, 0, BPF_ADD);
	for (int i = 0; i < 3; i++)
		p[skip[i]].off = (short)((long)n - (long)skip[i] - 1);
	return n;
}

/* r1 = the slot of the port of the sockaddr at record offset off */
static size_t emit_slot(struct bpf_insn *p, size_t n, int B, unsigned off)
{
	n = emit_port(p, n, B, off);
	p[n++] = INSN(BPF_ALU64 | BPF_DIV | BPF_K, BPF_REG_1, 0, 0, RSL_PORT_SLOT);
	return n;
}

/* The shared program (room for PROG_MAX instructions): the record as in
 * emit(), then delivered to the slot of its source port and, when it is
 * another one, to that of its destination port. */
static size_t emit_shared(struct bpf_insn *p, const struct layout *lay, bool raw)
{
	size_t n = 0;
	int B = (int)lay->rec_end;
	short key = (short)(-B - 8);

	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0);
	n = emit_record(p, n, B, raw);
	/* r8: the source port's slot (kept to skip the same one twice) */
	n = emit_slot(p, n, B, lay->saddr);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_8, BPF_REG_1, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_7, BPF_REG_1, 0, 0);
	n = emit_deliver(p, n, B, key);
	n = emit_slot(p, n, B, lay->daddr);
	size_t same = n;
	p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_X, BPF_REG_1, BPF_REG_8, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_7, BPF_REG_1, 0, 0);
	n = emit_deliver(p, n, B, key);
	JUMP_TO(p, same, n);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
	p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return n;
}

static int unavailable(int e)
{
	return e == EPERM || e == EACCES || e == ENOSYS || e == EINVAL || e == ENOENT ||
	       e == EOPNOTSUPP ? RSL_EUNAVAIL : RSL_ESYS;
}

static int load_prog(const struct bpf_insn *prog, size_t n, bool raw, int *prog_fd, char *err,
                     size_t errlen)
{
	/* The verifier's log only when the load fails: it is asked again
	 * with one. Its tail says why (since 6.4 the kernel keeps the tail of
	 * a log too long for the buffer, and fails the load with ENOSPC). */
	static char log[65536];
	union bpf_attr a;

	for (int with_log = 0; with_log < 2; with_log++) {
		memset(&a, 0, sizeof a);
		a.prog_type = raw ? BPF_PROG_TYPE_RAW_TRACEPOINT : BPF_PROG_TYPE_TRACEPOINT;
		a.insns = (uint64_t)(uintptr_t)prog;
		a.insn_cnt = (uint32_t)n;
		a.license = (uint64_t)(uintptr_t)"GPL";
		if (with_log) {
			a.log_buf = (uint64_t)(uintptr_t)log;
			a.log_size = sizeof log;
			a.log_level = 1;
		}
		log[0] = '\0';
		memcpy(a.prog_name, "rstlab_rst", sizeof "rstlab_rst");
		*prog_fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
		if (*prog_fd >= 0)
			return RSL_OK;
		if (errno != EINVAL && errno != EACCES)
			break;          /* not the verifier's refusal: no log to ask */
	}
	int e = errno;
	/* the verifier's last line before its statistics says why */
	char *why = log, *line = log;
	for (char *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		if (strncmp(line, "processed ", 10) != 0 && strncmp(line, "verification", 12) != 0 &&
		    line[0] != '\0')
			why = line;
	}
	rsl_format_error(err, errlen, "loading the BPF program: %s%s%s", strerror(e),
	                 why[0] != '\0' ? ": " : "", why);
	return unavailable(e);
}

/* The program on the tracepoint: on the raw tracepoint, or through a perf
 * event of its own. The raw one is detached at once when its fd is
 * closed; the perf event's close waits for RCU grace periods (9 to 50 ms
 * on 6.18, see rsl_trace_open in rstlab.h). */
static int attach(int prog_fd, bool raw, int *attach_fd, char *err, size_t errlen)
{
	char idbuf[32];
	int e;
	if (raw) {
		union bpf_attr a;
		memset(&a, 0, sizeof a);
		a.raw_tracepoint.name = (uint64_t)(uintptr_t)"tcp_send_reset";
		a.raw_tracepoint.prog_fd = (uint32_t)prog_fd;
		*attach_fd = (int)sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &a);
		if (*attach_fd < 0) {
			e = errno;
			rsl_format_error(err, errlen, "attaching the BPF program to the raw "
			                 "tracepoint tcp_send_reset: %s", strerror(e));
			return unavailable(e);
		}
		return RSL_OK;
	}
	if (read_event_file("id", idbuf, sizeof idbuf) <= 0) {
		e = errno;
		rsl_format_error(err, errlen, "reading the id of tcp:tcp_send_reset: %s",
		                 strerror(e));
		return RSL_EUNAVAIL;
	}
	struct perf_event_attr pa;
	memset(&pa, 0, sizeof pa);
	pa.type = PERF_TYPE_TRACEPOINT;
	pa.size = sizeof pa;
	pa.config = strtoull(idbuf, NULL, 10);
	pa.sample_period = 1;
	/* The program runs on every CPU whichever CPU the event is opened
	 * on: it hangs on the tracepoint itself, not on this event. */
	*attach_fd = (int)syscall(SYS_perf_event_open, &pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (*attach_fd < 0) {
		e = errno;
		rsl_format_error(err, errlen, "perf_event_open on tcp:tcp_send_reset: %s",
		                 strerror(e));
		return unavailable(e);
	}
	if (ioctl(*attach_fd, PERF_EVENT_IOC_SET_BPF, prog_fd) < 0 ||
	    ioctl(*attach_fd, PERF_EVENT_IOC_ENABLE, 0) < 0) {
		e = errno;
		rsl_format_error(err, errlen, "attaching the BPF program: %s", strerror(e));
		return unavailable(e);
	}
	return RSL_OK;
}

static int create_ring(int *ring_fd, char *err, size_t errlen)
{
	*ring_fd = map_create(BPF_MAP_TYPE_RINGBUF, 0, 0, RING_SIZE);
	if (*ring_fd < 0) {
		int e = errno;
		rsl_format_error(err, errlen, "creating a BPF ring buffer: %s%s", strerror(e),
		                 e == EPERM ? " (reading RST reasons needs root)" : "");
		return unavailable(e);
	}
	return RSL_OK;
}

/* t's own program on its ring (made already), with its own counters. */
static int load_own(struct rsl_trace *t, char *err, size_t errlen)
{
	struct bpf_insn prog[PROG_MAX];
	t->map_fd = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, MAP_ENTRIES);
	if (t->map_fd < 0) {
		int e = errno;
		rsl_format_error(err, errlen, "creating a BPF array: %s", strerror(e));
		return unavailable(e);
	}
	size_t n = emit(prog, &t->lay, t->raw, t->ring_fd, t->map_fd);
	int rc = load_prog(prog, n, t->raw, &t->prog_fd, err, errlen);
	if (rc == RSL_OK)
		rc = attach(t->prog_fd, t->raw, &t->attach_fd, err, errlen);
	return rc;
}

int rsl_trace_share(char *err, size_t errlen)
{
	char noerr[1];
	struct bpf_insn prog[PROG_MAX];
	int rc, tmpl = -1;

	if (err == NULL || errlen == 0) {
		err = noerr;
		errlen = sizeof noerr;
	}
	if (share.on)
		return RSL_OK;
	rc = layout_for(&share.lay, &share.raw, err, errlen);
	if (rc == RSL_OK)
		rc = create_ring(&tmpl, err, errlen);
	if (rc == RSL_OK) {
		share.outer_fd = map_create_inner(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, SHARE_SLOTS, tmpl);
		share.lost_fd = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, SHARE_SLOTS);
		if (share.outer_fd < 0 || share.lost_fd < 0) {
			rsl_format_error(err, errlen, "creating the BPF maps of the shared program: %s",
			                 strerror(errno));
			rc = unavailable(errno);
		}
	}
	if (tmpl >= 0)
		close(tmpl);
	if (rc == RSL_OK) {
		size_t n = emit_shared(prog, &share.lay, share.raw);
		rc = load_prog(prog, n, share.raw, &share.prog_fd, err, errlen);
	}
	if (rc == RSL_OK)
		rc = attach(share.prog_fd, share.raw, &share.attach_fd, err, errlen);
	if (rc != RSL_OK) {
		int fds[] = { share.attach_fd, share.prog_fd, share.lost_fd, share.outer_fd };
		for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		share.attach_fd = share.prog_fd = share.lost_fd = share.outer_fd = -1;
		return rc;
	}
	share.on = true;
	return RSL_OK;
}

/* A map operation (lookup, update, delete) on entry key. */
static long map_op(int cmd, int map_fd, uint32_t key, const void *value)
{
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	a.map_fd = (uint32_t)map_fd;
	a.key = (uint64_t)(uintptr_t)&key;
	a.value = (uint64_t)(uintptr_t)value;
	a.flags = BPF_ANY;
	return sys_bpf(cmd, &a);
}

/* Take t's ring out of the slots it holds. */
static void leave_slots(struct rsl_trace *t)
{
	for (int k = t->slot_lo; k >= 0 && k <= t->slot_hi; k++)
		map_op(BPF_MAP_DELETE_ELEM, share.outer_fd, (uint32_t)k, NULL);
	t->slot_lo = t->slot_hi = -1;
}

static int map_ring(struct rsl_trace *t, char *err, size_t errlen)
{
	t->page = (size_t)sysconf(_SC_PAGESIZE);
	t->cons = mmap(NULL, t->page, PROT_READ | PROT_WRITE, MAP_SHARED, t->ring_fd, 0);
	if (t->cons == MAP_FAILED) {
		t->cons = NULL;
		rsl_format_error(err, errlen, "mapping the ring's consumer page: %s",
		                 strerror(errno));
		return RSL_ESYS;
	}
	/* The data pages are mapped twice in a row, so a record that wraps
	 * reads as one piece. */
	void *p = mmap(NULL, t->page + 2 * (size_t)RING_SIZE, PROT_READ, MAP_SHARED,
	               t->ring_fd, (off_t)t->page);
	if (p == MAP_FAILED) {
		rsl_format_error(err, errlen, "mapping the ring: %s", strerror(errno));
		return RSL_ESYS;
	}
	t->prod = p;
	return RSL_OK;
}

static void release(struct rsl_trace *t)
{
	if (t->shared)
		leave_slots(t);
	if (t->prod != NULL)
		munmap((void *)t->prod, t->page + 2 * (size_t)RING_SIZE);
	if (t->cons != NULL)
		munmap(t->cons, t->page);
	/* The perf event first: the program stops running before its maps go. */
	int fds[] = { t->attach_fd, t->prog_fd, t->map_fd, t->ring_fd };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(t->ev);
	free(t);
}

int rsl_trace_open(struct rsl_trace **out, char *err, size_t errlen)
{
	char noerr[1];

	if (err == NULL || errlen == 0) {
		err = noerr;
		errlen = sizeof noerr;
	}
	if (out == NULL) {
		rsl_format_error(err, errlen, "out must not be NULL");
		return RSL_EINVAL;
	}
	*out = NULL;
	struct rsl_trace *t = calloc(1, sizeof *t);
	if (t == NULL) {
		rsl_format_error(err, errlen, "out of memory");
		return RSL_ESYS;
	}
	t->ring_fd = t->map_fd = t->prog_fd = t->attach_fd = -1;
	t->slot_lo = t->slot_hi = -1;
	int rc = RSL_OK;
	if (share.on) {
		/* a ring of its own; the shared program feeds it once
		 * rsl_trace_ports has said which ports are its */
		t->shared = true;
		t->lay = share.lay;
		t->raw = share.raw;
	} else {
		rc = layout_for(&t->lay, &t->raw, err, errlen);
	}
	if (rc == RSL_OK)
		rc = create_ring(&t->ring_fd, err, errlen);
	if (rc == RSL_OK && !t->shared)
		rc = load_own(t, err, errlen);
	if (rc == RSL_OK)
		rc = map_ring(t, err, errlen);
	if (rc != RSL_OK) {
		release(t);
		return rc;
	}
	*out = t;
	return RSL_OK;
}

int rsl_trace_fd(const struct rsl_trace *t)
{
	return t != NULL ? t->ring_fd : -1;
}

size_t rsl_trace_count(const struct rsl_trace *t)
{
	return t != NULL ? t->n : 0;
}

const struct rsl_rst_event *rsl_trace_event(const struct rsl_trace *t, size_t i)
{
	return t != NULL && i < t->n ? &t->ev[i] : NULL;
}

/* The kernel's info on the BPF object behind fd (a program or a link)
 * into info; false when fd is no such object. */
static bool object_info(int fd, void *info, uint32_t len)
{
	union bpf_attr a;
	if (fd < 0)
		return false;
	memset(info, 0, len);
	memset(&a, 0, sizeof a);
	a.info.bpf_fd = (uint32_t)fd;
	a.info.info_len = len;
	a.info.info = (uint64_t)(uintptr_t)info;
	return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a) == 0;
}

/* How often the kernel skipped program fd: it was running already on
 * that CPU when the tracepoint fired again (a timer's RST in a softirq
 * that interrupted the program run for another RST; the perf event's
 * way skips when any BPF tracing program is running there). Such an
 * event is lost as surely as one that found the ring full. */
static uint64_t prog_misses(int fd)
{
	struct bpf_prog_info info;
	return object_info(fd, &info, sizeof info) ? info.recursion_misses : 0;
}

int rsl_trace_attached(const struct rsl_trace *t)
{
	struct bpf_prog_info prog;
	struct bpf_link_info link;
	bool raw = t != NULL && (t->shared ? share.raw : t->raw);
	int prog_fd = t == NULL ? -1 : t->shared ? share.prog_fd : t->prog_fd;
	int attach_fd = t == NULL ? -1 : t->shared ? share.attach_fd : t->attach_fd;

	if (!raw || prog_fd < 0 || attach_fd < 0)
		return -1; /* a perf event's program is not a link: not said */
	if (!object_info(prog_fd, &prog, sizeof prog) || prog.id == 0 ||
	    prog.type != BPF_PROG_TYPE_RAW_TRACEPOINT ||
	    !object_info(attach_fd, &link, sizeof link))
		return 0;
	return link.type == BPF_LINK_TYPE_RAW_TRACEPOINT && link.prog_id == prog.id;
}

int rsl_trace_ports(struct rsl_trace *t, int lo, int hi)
{
	if (t == NULL || (t->map_fd < 0 && !t->shared))
		return RSL_ECLOSED;
	if (lo < 0 || hi > 65535 || (lo > 0 && hi < lo) || (lo == 0 && hi != 0))
		return RSL_EINVAL;
	if (t->shared) {
		leave_slots(t);
		if (lo == 0) {
			/* every event: the shared program cannot say those; a
			 * program of t's own from now on */
			t->shared = false;
			if (load_own(t, t->err, sizeof t->err) != RSL_OK)
				return RSL_ESYS;
			return RSL_OK;
		}
		uint64_t zero = 0;
		t->misses0 = prog_misses(share.prog_fd);
		for (int k = lo / RSL_PORT_SLOT; k <= hi / RSL_PORT_SLOT; k++) {
			uint32_t fd = (uint32_t)t->ring_fd;
			if (map_op(BPF_MAP_UPDATE_ELEM, share.lost_fd, (uint32_t)k, &zero) < 0 ||
			    map_op(BPF_MAP_UPDATE_ELEM, share.outer_fd, (uint32_t)k, &fd) < 0) {
				rsl_set_error(t->err, "joining the shared program's slot %d: %s", k,
				              strerror(errno));
				leave_slots(t);
				return RSL_ESYS;
			}
			if (t->slot_lo < 0)
				t->slot_lo = k;
			t->slot_hi = k;
		}
		return RSL_OK;
	}
	uint32_t value[2] = { (uint32_t)lo, (uint32_t)hi };
	if (map_op(BPF_MAP_UPDATE_ELEM, t->map_fd, MAP_PORTS, value) < 0) {
		rsl_set_error(t->err, "setting the port range: %s", strerror(errno));
		return RSL_ESYS;
	}
	return RSL_OK;
}

/* Entry k of t's own map (0 when it cannot be read). */
static uint64_t own_count(const struct rsl_trace *t, uint32_t k)
{
	uint64_t v = 0;
	if (map_op(BPF_MAP_LOOKUP_ELEM, t->map_fd, k, &v) < 0)
		v = 0;
	return v;
}

uint64_t rsl_trace_lost(const struct rsl_trace *t)
{
	if (t != NULL && t->shared) {
		/* the shared program's misses are not by slot: any since this
		 * reader joined may have been its own */
		uint64_t sum = prog_misses(share.prog_fd) - t->misses0, v = 0;
		for (int k = t->slot_lo; k >= 0 && k <= t->slot_hi; k++)
			if (map_op(BPF_MAP_LOOKUP_ELEM, share.lost_fd, (uint32_t)k, &v) == 0)
				sum += v;
		return sum;
	}
	if (t == NULL || t->map_fd < 0)
		return 0;
	return own_count(t, MAP_LOST) + prog_misses(t->prog_fd);
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

int rsl_trace_counts(const struct rsl_trace *t, struct rsl_trace_counts *c)
{
	memset(c, 0, sizeof *c);
	if (t == NULL || t->shared || t->map_fd < 0)
		return -1;
	c->runs = own_count(t, MAP_RUNS);
	c->outside = own_count(t, MAP_OUTSIDE);
	c->unreadable = t->unreadable;
	/* A logged time is the low 32 bits of CLOCK_MONOTONIC in µs: its age
	 * is now's low 32 bits minus it, modulo 2^32 (71 minutes). */
	struct timespec mono;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	double now = ts_seconds(&mono);
	uint32_t now32 = (uint32_t)((uint64_t)mono.tv_sec * 1000000u + (uint64_t)mono.tv_nsec / 1000u);
	double offset = realtime_offset();
	for (int i = 0; i < DROP_LOG && (uint64_t)i < c->outside; i++) {
		uint64_t v = own_count(t, MAP_DROPS + (uint32_t)i);
		uint32_t age = now32 - (uint32_t)v;
		c->drops[c->ndrops].sport = (uint16_t)(v >> 48);
		c->drops[c->ndrops].dport = (uint16_t)(v >> 32);
		c->drops[c->ndrops].ts = now - (double)age * 1e-6 + offset;
		c->ndrops++;
	}
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

/* A sockaddr_in or sockaddr_in6 as the tracepoint stores it; -1 for any
 * other family. */
static int endpoint(const uint8_t *sa, int *family, uint8_t ip[16], uint16_t *port)
{
	uint16_t fam;
	memcpy(&fam, sa, sizeof fam);
	*port = (uint16_t)(sa[2] << 8 | sa[3]);
	memset(ip, 0, 16);
	if (fam == AF_INET) {
		memcpy(ip, sa + offsetof(struct sockaddr_in, sin_addr), 4);
	} else if (fam == AF_INET6) {
		memcpy(ip, sa + offsetof(struct sockaddr_in6, sin6_addr), 16);
	} else {
		return -1;
	}
	*family = fam;
	return 0;
}

static const char *const STATES[] = {
	/* include/net/tcp_states.h; 0 is no socket */
	"UNKNOWN", "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1",
	"TCP_FIN_WAIT2", "TCP_TIME_WAIT", "TCP_CLOSE", "TCP_CLOSE_WAIT", "TCP_LAST_ACK",
	"TCP_LISTEN", "TCP_CLOSING", "TCP_NEW_SYN_RECV", "TCP_BOUND_INACTIVE",
};

/* One record of the ring (8 bytes of time, then the event's bytes 8..)
 * into ev; -1 when it is not one. */
static int decode(const struct layout *lay, const uint8_t *rec, size_t len,
                  struct rsl_rst_event *ev)
{
	uint64_t ns;
	int dfamily;

	if (len < lay->rec_end)
		return -1;
	memset(ev, 0, sizeof *ev);
	memcpy(&ns, rec, sizeof ns);
	ev->ts = (double)ns * 1e-9;
	if (endpoint(rec + lay->saddr, &ev->family, ev->src, &ev->sport) < 0 ||
	    endpoint(rec + lay->daddr, &dfamily, ev->dst, &ev->dport) < 0 ||
	    dfamily != ev->family)
		return -1;
	if (lay->state != 0) {
		int32_t st;
		memcpy(&st, rec + lay->state, sizeof st);
		if (st >= 0 && (size_t)st < sizeof STATES / sizeof STATES[0])
			snprintf(ev->state, sizeof ev->state, "%s", STATES[st]);
		else
			snprintf(ev->state, sizeof ev->state, "%d", (int)st);
	}
	if (lay->reason != 0) {
		uint32_t r;
		memcpy(&r, rec + lay->reason, sizeof r);
		if (r < MAX_REASONS && lay->reasons[r][0] != '\0')
			snprintf(ev->reason, sizeof ev->reason, "%s", lay->reasons[r]);
		else
			snprintf(ev->reason, sizeof ev->reason, "%u", (unsigned)r);
	}
	if (ev->family == AF_INET6) {
		bool sm = v4mapped(ev->src), dm = v4mapped(ev->dst);
		if ((sm || dm) && (sm || unspecified(ev->src)) && (dm || unspecified(ev->dst))) {
			unmap(ev->src);
			unmap(ev->dst);
			ev->family = AF_INET;
		}
	}
	return 0;
}

/* The length word of the record at hdr, once its writer has committed it.
 * Records are committed in the order they were reserved, and a program on
 * another CPU may still be copying an earlier one while a later one (this
 * scenario's RST, say) is complete: stopping at the busy one would hide
 * the later one from a caller that reads just after its packet. The
 * program copies ~100 bytes with preemption off, so wait for it, at most
 * 2 ms; after that the record is left to the next drain. */
static uint32_t busy_wait(const uint8_t *hdr)
{
	const _Atomic uint32_t *word = (const _Atomic uint32_t *)hdr;
	uint32_t len = atomic_load_explicit(word, memory_order_acquire);
	struct timespec start, now;
	if (!(len & BPF_RINGBUF_BUSY_BIT))
		return len;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		sched_yield();
		len = atomic_load_explicit(word, memory_order_acquire);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((len & BPF_RINGBUF_BUSY_BIT) &&
	         ts_seconds(&now) - ts_seconds(&start) < 0.002);
	return len;
}

int rsl_trace_drain(struct rsl_trace *t)
{
	if (t == NULL || t->cons == NULL)
		return RSL_ECLOSED;
	_Atomic uint64_t *consumer = (_Atomic uint64_t *)t->cons;
	_Atomic uint64_t *producer = (_Atomic uint64_t *)t->prod;
	const uint8_t *data = (const uint8_t *)t->prod + t->page;
	size_t first = t->n;
	int rc = RSL_OK;

	uint64_t cons = atomic_load_explicit(consumer, memory_order_relaxed);
	for (;;) {
		uint64_t prod = atomic_load_explicit(producer, memory_order_acquire);
		if (cons >= prod)
			break;
		const uint8_t *hdr = data + (cons & (RING_SIZE - 1));
		uint32_t len = busy_wait(hdr);
		if (len & BPF_RINGBUF_BUSY_BIT)
			break;          /* still being written: the next drain */
		uint32_t size = len & ~(uint32_t)(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
		struct rsl_rst_event ev;
		if (len & BPF_RINGBUF_DISCARD_BIT) {
			/* (the program never discards) */
		} else if (decode(&t->lay, hdr + BPF_RINGBUF_HDR_SZ, size, &ev) < 0) {
			t->unreadable++;
		} else if (push_event(t, &ev) < 0) {
			rsl_set_error(t->err, "out of memory");
			rc = RSL_ESYS;
		}
		cons += (size + BPF_RINGBUF_HDR_SZ + 7) & ~(uint64_t)7;
		atomic_store_explicit(consumer, cons, memory_order_release);
		if (rc != RSL_OK)
			break;
	}
	/* Monotonic stamps become realtime with the offset of now: only a
	 * step of the realtime clock between an event and now moves them. */
	double offset = realtime_offset();
	for (size_t i = first; i < t->n; i++)
		t->ev[i].ts += offset;
	return rc;
}

void rsl_trace_close(struct rsl_trace *t)
{
	if (t != NULL)
		release(t);
}
