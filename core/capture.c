/*
 * Packet capture: the wire side of a scenario.
 *
 * A capture owns one packet socket per interface added to it, each opened
 * in whatever network namespace the caller is in at that moment (a socket
 * stays in the namespace it was born in).  libpcap compiles the filter and
 * writes the files; the kernel runs the filter on the socket and queues
 * each packet that passes it, and the scenario's libev loop watches the
 * socket, so packets are decoded and stored as they arrive, in arrival
 * order across interfaces, and the expectation matcher can follow them
 * live through the on_packet callback.
 *
 * One timeline across interfaces: each time the loop finds a handle
 * readable, every handle is drained, and the packets of that pass are put
 * in timestamp order before any of them is published (counted, handed to
 * on_packet). A packet that crossed a veth pair is seen on both ends a few
 * microseconds apart, and the two handles may be read in either order;
 * sorting the pass keeps "sent" before "received". Published packets are
 * never moved again, so indices stay stable for the matcher.
 *
 * Each stored packet keeps its decoded form, its raw frame bytes and its
 * pcap header, so that a run can be written out as a pcap file later.
 * Storage only grows while the capture lives: packets sit in fixed-size
 * blocks and raw bytes in an arena, so a pointer returned by
 * rsl_capture_packet() stays valid until rsl_capture_free().
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <linux/errqueue.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SNAPLEN 65535

/* libpcap, loaded on first use (dl.c): it compiles the filters a script
 * gives and writes the pcap files of failing scenarios. The default
 * filter, "tcp", is built in (rsl_capture_tcp_filter): a run that captures with it
 * and passes never loads libpcap. */
#define PCAP_FUNCTIONS(X)                                                     \
	X(pcap_open_dead) X(pcap_open_dead_with_tstamp_precision)             \
	X(pcap_compile) X(pcap_freecode) X(pcap_geterr) X(pcap_close)          \
	X(pcap_dump_open) X(pcap_dump) X(pcap_dump_flush) X(pcap_dump_close)  \
	X(pcap_datalink_val_to_name)
RSL_DL_LIBRARY(load_pcap, PCAP_FUNCTIONS, "libpcap.so.0.8", "libpcap0.8")
/* What the kernel may hold for each interface between two drains
 * (rsl_capture_set_buffer): a limit on the packets' memory in the socket's
 * receive queue, not an allocation. Each packet costs what the kernel
 * allocated for it (a little more than its size for one of lo's 64 KiB
 * segments, under 1 KiB for a bare SYN or ACK). What does not fit the
 * kernel drops, and counts (rsl_capture_dropped). */
#define BUFFER_SIZE (16 * 1024 * 1024)
#define BUFFER_MIN (256 * 1024)
#define BUFFER_MAX (1024 * 1024 * 1024)
#define BLOCK_PACKETS 256
#define ARENA_CHUNK (256 * 1024)
/* A cooked frame (interfaces without an Ethernet header, and "any") is
 * stored with a LINUX_SLL2 header made from the socket address. */
#define SLL2_LEN 20
/* lo's index in every network namespace (the kernel's LOOPBACK_IFINDEX). */
#define LO_IFINDEX 1

struct cap_handle {
	ev_io io;                 /* first: the callback casts back from it */
	struct rsl_capture *cap;
	int fd;                   /* the packet socket; -1 once closed */
	int linktype;             /* DLT_EN10MB or DLT_LINUX_SLL2; kept after
	                             close, for rsl_capture_write */
	bool skip_lo_outgoing;    /* "any": lo's sent copies (its received
	                             ones are the same packets) */
	uint64_t dropped;         /* the kernel's drops so far */
	char *label;
};

struct stored {
	struct rsl_packet pkt;
	struct pcap_pkthdr hdr;   /* caplen, len on the wire; ts with
	                             tv_usec in nanoseconds (files are written
	                             with nanosecond precision) */
	int64_t ns;               /* the same time, for exact ordering */
	const uint8_t *raw;       /* hdr.caplen bytes in the arena */
	size_t handle;            /* index into cap->handles */
};

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	uint8_t data[];
};

struct rsl_capture {
	struct rsl_loop *loop;
	rsl_capture_cb on_packet;
	void *ud;

	struct cap_handle **handles; /* pointers: each ev_io must not move */
	size_t nhandles;

	struct stored **blocks;      /* BLOCK_PACKETS each, never moved */
	size_t nblocks;
	size_t count;                /* published packets */
	size_t pending;              /* stored after them, not yet published */
	struct arena_chunk *arena;   /* newest first */

	size_t skipped, malformed;
	size_t buffer;               /* queue limit of the handles added next */
	uint8_t *frame;              /* one frame read, with room before it */
	bool closed;                 /* rsl_capture_close was called */
	bool busy;                   /* inside a drain: free must wait until
	                                it returns */
	bool free_pending;           /* rsl_capture_free called while busy */
	bool failed;                 /* the current drain lost packets or a handle */
	char err[RSL_ERRLEN];
	char failure[RSL_ERRLEN];    /* the first such loss, kept ("" if none) */
};

static void close_handles(struct rsl_capture *cap);
static void destroy(struct rsl_capture *cap);

struct rsl_capture *rsl_capture_new(struct rsl_loop *loop, rsl_capture_cb on_packet,
                                    void *ud)
{
	struct rsl_capture *cap = calloc(1, sizeof *cap);

	if (cap == NULL)
		return NULL;
	cap->loop = loop;
	cap->on_packet = on_packet;
	cap->ud = ud;
	return cap;
}

static uint8_t *arena_copy(struct rsl_capture *cap, const uint8_t *bytes, size_t n)
{
	struct arena_chunk *c = cap->arena;
	uint8_t *dst;

	if (c == NULL || c->size - c->used < n) {
		size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		c = malloc(sizeof *c + size);
		if (c == NULL)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = cap->arena;
		cap->arena = c;
	}
	dst = c->data + c->used;
	if (n > 0)
		memcpy(dst, bytes, n);
	c->used += n;
	return dst;
}

/* A slot for the next packet, or NULL when out of memory. */
static struct stored *next_slot(struct rsl_capture *cap)
{
	size_t b = (cap->count + cap->pending) / BLOCK_PACKETS;

	if (b == cap->nblocks) {
		struct stored **blocks = realloc(cap->blocks, (b + 1) * sizeof *blocks);

		if (blocks == NULL)
			return NULL;
		cap->blocks = blocks;
		blocks[b] = malloc(BLOCK_PACKETS * sizeof **blocks);
		if (blocks[b] == NULL)
			return NULL;
		cap->nblocks++;
	}
	return &cap->blocks[b][(cap->count + cap->pending) % BLOCK_PACKETS];
}

static struct stored *slot(const struct rsl_capture *cap, size_t i)
{
	return &cap->blocks[i / BLOCK_PACKETS][i % BLOCK_PACKETS];
}

static size_t handle_index(const struct rsl_capture *cap, const struct cap_handle *h)
{
	size_t i;

	for (i = 0; i < cap->nhandles; i++)
		if (cap->handles[i] == h)
			break;
	return i;
}

/* One frame read from h: decoded and stored, not yet published. */
static void store(struct rsl_capture *cap, struct cap_handle *h, const struct timespec *ts,
                  const uint8_t *bytes, size_t caplen, size_t len)
{
	struct stored *s;
	const char *why;
	int rc;

	s = next_slot(cap);
	if (s == NULL) {
		rsl_set_error(cap->err, "out of memory storing packet %zu",
		              cap->count + cap->pending);
		cap->failed = true;
		return;
	}
	/* A double cannot hold nanoseconds since 1970 (its step is ~0.5 us
	 * there): the ordering uses ns, the double is for scripts. Files are
	 * written with nanosecond precision, so tv_usec holds nanoseconds. */
	s->hdr.ts.tv_sec = ts->tv_sec;
	s->hdr.ts.tv_usec = ts->tv_nsec;
	s->hdr.caplen = (bpf_u_int32)caplen;
	s->hdr.len = (bpf_u_int32)len;
	s->ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
	s->pkt.ts = (double)ts->tv_sec + (double)ts->tv_nsec * 1e-9;
	rc = rsl_decode(h->linktype, bytes, caplen, &s->pkt, &why);
	if (rc == RSL_ESKIP) {
		cap->skipped++;
		return;
	}
	if (rc != RSL_OK) {
		cap->malformed++;
		return;
	}
	s->raw = arena_copy(cap, bytes, caplen);
	if (s->raw == NULL) {
		rsl_set_error(cap->err, "out of memory storing packet %zu",
		              cap->count + cap->pending);
		cap->failed = true;
		return;
	}
	s->handle = handle_index(cap, h);
	cap->pending++;
}

/* The LINUX_SLL2 header of a cooked frame, from its socket address. */
static void put_sll2(uint8_t *p, const struct sockaddr_ll *from)
{
	uint32_t ifindex = htonl((uint32_t)from->sll_ifindex);
	uint16_t hatype = htons(from->sll_hatype);

	memset(p, 0, SLL2_LEN);
	memcpy(p, &from->sll_protocol, 2);          /* already in network order */
	memcpy(p + 4, &ifindex, 4);
	memcpy(p + 8, &hatype, 2);
	p[10] = from->sll_pkttype;
	p[11] = from->sll_halen > 8 ? 8 : from->sll_halen;
	memcpy(p + 12, from->sll_addr, p[11]);
}

/* Read one frame from h: 1 when there was one, 0 when the queue is empty,
 * -1 on an error (cap->err says it). */
static int read_frame(struct rsl_capture *cap, struct cap_handle *h)
{
	/* Room before the frame for the cooked header: header and frame
	 * together stay within the snap length the files declare. */
	const size_t head = h->linktype == DLT_LINUX_SLL2 ? SLL2_LEN : 0;
	uint8_t *frame = cap->frame + head;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct scm_timestamping)) +
		         CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	} ctl;
	struct sockaddr_ll from;
	struct iovec iov = { frame, SNAPLEN - head };
	struct msghdr msg = {
		.msg_name = &from, .msg_namelen = sizeof from,
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf,
	};
	const struct tpacket_auxdata *aux = NULL;
	struct timespec ts = { 0, 0 };
	size_t caplen, len;
	ssize_t n;

	n = recvmsg(h->fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == EINTR)
			return 1;
		rsl_set_error(cap->err, "capture on %s failed: %s", h->label,
		              errno == ENETDOWN ? "the interface went down" : strerror(errno));
		return -1;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING)
			memcpy(&ts, CMSG_DATA(c), sizeof ts); /* ts[0]: software */
		else if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA)
			aux = (const struct tpacket_auxdata *)(const void *)CMSG_DATA(c);
	}
	if (cap->closed)
		return 1; /* read in the same pass as a close: not wanted */
	if (h->skip_lo_outgoing && from.sll_ifindex == LO_IFINDEX &&
	    from.sll_pkttype == PACKET_OUTGOING)
		return 1;
	/* The length on the wire: the filter's snap length may have cut the
	 * frame before the queue (auxdata has the length before that cut). */
	caplen = (size_t)n < SNAPLEN - head ? (size_t)n : SNAPLEN - head;
	len = aux != NULL ? aux->tp_len : (size_t)n;
	/* Stamps are on before a capture opens (stamps_on); a packet that
	 * came without one anyway has no time to give, and no other time
	 * (the time it was read, say) stands in for it. */
	if (ts.tv_sec == 0 && ts.tv_nsec == 0) {
		rsl_set_error(cap->err, "capture on %s: the kernel gave a packet no timestamp",
		              h->label);
		return -1;
	}
	if (h->linktype == DLT_LINUX_SLL2) {
		frame -= SLL2_LEN;
		put_sll2(frame, &from);
		caplen += SLL2_LEN;
		len += SLL2_LEN;
	}
	store(cap, h, &ts, frame, caplen, len);
	return 1;
}

/* Put the packets of this pass in timestamp order (a stable insertion
 * sort: a pass holds few packets, mostly in order already), then publish
 * them one by one. A callback that closes the capture ends the pass. */
static void publish(struct rsl_capture *cap)
{
	size_t first = cap->count, end = cap->count + cap->pending;

	for (size_t i = first + 1; i < end; i++) {
		struct stored tmp = *slot(cap, i);
		size_t j = i;
		while (j > first && slot(cap, j - 1)->ns > tmp.ns) {
			*slot(cap, j) = *slot(cap, j - 1);
			j--;
		}
		if (j != i)
			*slot(cap, j) = tmp;
	}
	while (cap->pending > 0 && !cap->closed && !cap->free_pending) {
		size_t index = cap->count++;
		cap->pending--;
		if (cap->on_packet)
			cap->on_packet(cap, index, cap->ud);
	}
	cap->pending = 0;
}

/* Read everything one handle holds now.  A handle that fails is stopped
 * rather than left to wake the loop forever (an interface that went away
 * keeps its socket readable). */
static void drain_handle(struct rsl_capture *cap, struct cap_handle *h)
{
	int n;

	while (h->fd >= 0 && !cap->closed) {
		n = read_frame(cap, h);
		if (n == 0)
			break;
		if (n < 0) {
			cap->failed = true;
			if (cap->loop)
				ev_io_stop(cap->loop->ev, &h->io);
			break;
		}
	}
}

/* Run after every drain: a free that a callback asked for meanwhile. */
static void settle(struct rsl_capture *cap)
{
	cap->busy = false;
	if (cap->free_pending)
		destroy(cap);
}

static void on_readable(struct ev_loop *ev, ev_io *w, int revents)
{
	struct cap_handle *h = (struct cap_handle *)w;
	struct rsl_capture *cap = h->cap;

	if (cap->busy)
		return;
	rsl_capture_drain(cap);
}

int rsl_capture_drain(struct rsl_capture *cap)
{
	size_t i;
	bool failed;

	/* Called from on_packet, it would publish in the middle of the pass
	 * under way: that drain reports. */
	if (cap == NULL || cap->busy)
		return RSL_OK;
	cap->busy = true;
	cap->failed = false;
	/* nhandles is re-read: a callback may add a handle. */
	for (i = 0; i < cap->nhandles && !cap->free_pending; i++)
		drain_handle(cap, cap->handles[i]);
	if (!cap->free_pending)
		publish(cap);
	failed = cap->failed;
	if (failed && cap->failure[0] == '\0')
		memcpy(cap->failure, cap->err, sizeof cap->failure);
	settle(cap); /* may free cap */
	return failed ? RSL_ESYS : RSL_OK;
}

static int add_handle(struct rsl_capture *cap, struct cap_handle *h)
{
	struct cap_handle **hs = realloc(cap->handles, (cap->nhandles + 1) * sizeof *hs);

	if (hs == NULL)
		return RSL_ESYS;
	cap->handles = hs;
	hs[cap->nhandles++] = h;
	return RSL_OK;
}

static void free_handle(struct cap_handle *h)
{
	if (h == NULL)
		return;
	if (h->fd >= 0)
		close(h->fd);
	free(h->label);
	free(h);
}

/* The default filter, "tcp", as libpcap compiles it: IPv4 with protocol
 * 6; IPv6 with next header 6, or a fragment header (44) whose next header
 * is 6. tests/core/test_capture.c runs it beside libpcap's own on frames
 * of every kind. */
const struct sock_fprog *rsl_capture_tcp_filter(int dlt)
{
	/* Ethernet: the ethertype at 12, the IP header at 14 */
	static struct sock_filter eth[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 2),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14 + 9),             /* protocol */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 6, 7),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 6),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14 + 6),             /* next header */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_FRAGMENT, 0, 3),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14 + 40),            /* its next header */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SNAPLEN),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	/* IP: the version in the first byte's high nibble */
	static struct sock_filter ip[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x40, 0, 2),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),                  /* protocol */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 8, 9),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x60, 0, 6),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),                  /* next header */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_FRAGMENT, 0, 3),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 40),                 /* its next header */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SNAPLEN),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	static const struct sock_fprog progs[] = {
		{ sizeof eth / sizeof eth[0], eth },
		{ sizeof ip / sizeof ip[0], ip },
	};
	return &progs[dlt == DLT_EN10MB ? 0 : 1];
}

/* Filters this process compiled, by the link type they were compiled for
 * and their text. libpcap's parser and optimizer cost about 0.9 ms of CPU
 * in a scenario process forked from its file's server, most of it the
 * first touches of libpcap's code and data in that process; a filter
 * compiled once in the server (rsl_capture_precompile) is found here by
 * every scenario forked after it. Kept until the process ends. */
struct compiled {
	struct compiled *next;
	int dlt;
	char *text;
	struct sock_fprog prog;
};
static struct compiled *compiled;

/* The kernel's form of filter for frames of link type dlt: built in
 * ("tcp"), from this process's memo, or compiled by libpcap and kept.
 * NULL with err set and *rc the code when it does not compile
 * (RSL_EINVAL), libpcap cannot be loaded (RSL_EUNAVAIL) or memory ran out
 * (RSL_ESYS). */
static const struct sock_fprog *compile(int dlt, const char *filter, int *rc, char *err,
                                        size_t errlen)
{
	struct compiled *c;
	struct bpf_program prog;
	pcap_t *dead;

	if (strcmp(filter, "tcp") == 0)
		return rsl_capture_tcp_filter(dlt);
	for (c = compiled; c != NULL; c = c->next)
		if (c->dlt == dlt && strcmp(c->text, filter) == 0)
			return &c->prog;
	*rc = load_pcap(err, errlen);
	if (*rc != RSL_OK)
		return NULL;
	*rc = RSL_ESYS;
	dead = lib.fn.pcap_open_dead(dlt, SNAPLEN);
	if (dead == NULL) {
		rsl_format_error(err, errlen, "out of memory");
		return NULL;
	}
	if (lib.fn.pcap_compile(dead, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		*rc = RSL_EINVAL;
		rsl_format_error(err, errlen, "bad capture filter \"%s\": %s", filter,
		                 lib.fn.pcap_geterr(dead));
		lib.fn.pcap_close(dead);
		return NULL;
	}
	lib.fn.pcap_close(dead);
	c = calloc(1, sizeof *c);
	if (c != NULL) {
		c->text = strdup(filter);
		c->prog.filter = calloc(prog.bf_len ? prog.bf_len : 1, sizeof *c->prog.filter);
	}
	if (c == NULL || c->text == NULL || c->prog.filter == NULL) {
		if (c != NULL) {
			free(c->text);
			free(c->prog.filter);
		}
		free(c);
		lib.fn.pcap_freecode(&prog);
		rsl_format_error(err, errlen, "out of memory");
		return NULL;
	}
	c->dlt = dlt;
	/* libpcap's instructions have the kernel's layout (struct bpf_insn
	 * and struct sock_filter are both code, jt, jf, k) */
	memcpy(c->prog.filter, prog.bf_insns, prog.bf_len * sizeof *c->prog.filter);
	c->prog.len = (unsigned short)(prog.bf_len > BPF_MAXINSNS ? 0 : prog.bf_len);
	lib.fn.pcap_freecode(&prog);
	c->next = compiled;
	compiled = c;
	return &c->prog;
}

/* The link type a filter is compiled for: frames as this socket's filter
 * sees them, from the Ethernet header on a raw socket, from the IP header
 * on a cooked one (the kernel runs it before any header is added). */
static int filter_dlt(const struct cap_handle *h)
{
	return h->linktype == DLT_EN10MB ? DLT_EN10MB : DLT_RAW;
}

static int set_filter(struct rsl_capture *cap, struct cap_handle *h, const char *filter)
{
	int rc;
	const struct sock_fprog *prog = compile(filter_dlt(h), filter, &rc, cap->err,
	                                        sizeof cap->err);

	if (prog == NULL)
		return rc;
	if (prog->len == 0 ||
	    setsockopt(h->fd, SOL_SOCKET, SO_ATTACH_FILTER, prog, sizeof *prog) < 0) {
		rsl_set_error(cap->err, "%s: cannot set filter \"%s\": %s", h->label, filter,
		              prog->len == 0 ? "too long for the kernel" : strerror(errno));
		return RSL_EINVAL;
	}
	return RSL_OK;
}

int rsl_capture_precompile(const char *filter, char *err, size_t errlen)
{
	int rc;
	return compile(DLT_EN10MB, filter ? filter : "tcp", &rc, err, errlen) ? RSL_OK : rc;
}

/* The receive queue's limit: as asked with CAP_NET_ADMIN (root), else as
 * much of it as net.core.rmem_max allows; the drops the kernel counts
 * say when that was too little. */
static void set_rcvbuf(struct cap_handle *h, size_t bytes)
{
	/* The kernel doubles what it is given (for its bookkeeping): half
	 * makes the limit the bytes asked. */
	int half = (int)(bytes / 2);

	if (setsockopt(h->fd, SOL_SOCKET, SO_RCVBUFFORCE, &half, sizeof half) < 0)
		(void)setsockopt(h->fd, SOL_SOCKET, SO_RCVBUF, &half, sizeof half);
}

/* Software stamps, taken as packets arrive, read in nanoseconds. */
#define TSFLAGS (SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE)

/* The socket that keeps the kernel's packet timestamps on for this
 * process (rsl_capture_hold_timestamps), and whether this process (or
 * the one it was forked from) has seen them on. */
static int held = -1;
static bool stamps_live;

/* Stamps held on for the process (and its children). */
static int hold_stamps(void)
{
	if (held >= 0)
		return RSL_OK;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int flags = TSFLAGS;
	if (fd < 0)
		return RSL_ESYS;
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) < 0) {
		close(fd);
		return RSL_ESYS;
	}
	held = fd; /* open until the process ends: that is the point */
	return RSL_OK;
}

/* The ethertype of the frames stamps_on sends itself (IEEE 802's for
 * local experiments): the IP stack, its firewall and its counters take no
 * notice of them. */
#define PROBE_ETHERTYPE 0x88b5

/* Returns once the kernel stamps packets as they arrive. The first socket
 * on the machine that asks for stamps switches them on from a work queue,
 * some time after its setsockopt returned: a packet that arrives before
 * that has no stamp, and a reader asking for SO_TIMESTAMPNS is given the
 * time it read it instead (seen: a SYN read 5 ms after the RST that
 * answered it sorted after it). So stamps are held on for the process,
 * and a frame to itself over lo (in this namespace, before any packet
 * socket of this capture exists) comes back until it is stamped, for at
 * most 2 s. Without a usable lo here the check cannot be made; a packet
 * that comes without a stamp then fails the capture (read_frame). */
static int stamps_on(char *err, size_t errlen)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
	                           .sll_protocol = htons(PROBE_ETHERTYPE),
	                           .sll_ifindex = LO_IFINDEX, .sll_halen = ETH_ALEN };
	int flags = TSFLAGS, on = 1, fd, rc = RSL_OK;
	double deadline;

	if (stamps_live)
		return RSL_OK;
	if (hold_stamps() != RSL_OK) {
		rsl_format_error(err, errlen, "cannot switch packet timestamps on: %s",
		                 strerror(errno));
		return RSL_ESYS;
	}
	/* Bound to that ethertype only, it gets the frame as lo receives it,
	 * not as lo sends it (that copy goes to sockets of every type). */
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(PROBE_ETHERTYPE));
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof on) < 0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
		if (fd >= 0)
			close(fd);
		return RSL_OK; /* no lo to check on: read_frame watches */
	}
	deadline = rsl_now() + 2.0;
	for (;;) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(struct scm_timestamping))];
		} ctl;
		char byte = 0;
		struct iovec iov = { &byte, 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
		                      .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct scm_timestamping st = { 0 };

		if (sendto(fd, &byte, 1, 0, (struct sockaddr *)&sll, sizeof sll) != 1 ||
		    poll(&pfd, 1, 100) != 1 || recvmsg(fd, &msg, MSG_DONTWAIT) < 1)
			break; /* lo does not carry it (down?): read_frame watches */
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING)
				memcpy(&st, CMSG_DATA(c), sizeof st);
		if (st.ts[0].tv_sec != 0 || st.ts[0].tv_nsec != 0) {
			stamps_live = true;
			break;
		}
		if (rsl_now() > deadline) {
			rsl_format_error(err, errlen, "the kernel did not switch packet timestamps "
			                 "on within 2 s");
			rc = RSL_ESYS;
			break;
		}
		struct timespec pause = { 0, 200000 };
		nanosleep(&pause, NULL);
	}
	close(fd);
	return rc;
}

/*
 * A packet socket per interface, without libpcap's ring: that ring is
 * allocated and mapped whole when it opens (4 MiB, 1.8 ms a capture
 * measured), where a socket's receive queue costs nothing until packets
 * sit in it. Made with protocol 0 it receives nothing; the filter goes on,
 * and only then the bind to the interface starts the flow, so nothing
 * unfiltered is ever queued.
 */
/* ifname's failure, in the words libpcap used when it opened the
 * interfaces (scripts and tests read "No such device exists"):
 * RSL_EINVAL for no such device. */
static int iface_error(struct rsl_capture *cap, const char *ifname, int e)
{
	if (e == ENODEV) {
		rsl_set_error(cap->err, "%s: No such device exists", ifname);
		return RSL_EINVAL;
	}
	rsl_set_error(cap->err, "%s: %s", ifname,
	              e == ENETDOWN ? "That device is not up" : strerror(e));
	return RSL_ESYS;
}

/* A packet socket of type (SOCK_RAW or SOCK_DGRAM) that receives nothing
 * yet (protocol 0), or -1 with the error set. */
static int packet_socket(struct rsl_capture *cap, const char *ifname, int type)
{
	int fd = socket(AF_PACKET, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		rsl_set_error(cap->err, "%s: cannot open a packet socket: %s", ifname,
		              strerror(errno));
	return fd;
}

int rsl_capture_add(struct rsl_capture *cap, const char *ifname, const char *filter,
                    const char *label)
{
	struct cap_handle *h = NULL;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct ifreq ifr;
	int on = 1, tsflags = TSFLAGS, rc = RSL_ESYS, e = 0;
	socklen_t elen = sizeof e;
	bool any;

	if (cap->closed) {
		rsl_set_error(cap->err, "capture is closed");
		return RSL_ECLOSED;
	}
	if (ifname == NULL || *ifname == '\0') {
		rsl_set_error(cap->err, "no interface name");
		return RSL_EINVAL;
	}
	if (filter == NULL)
		filter = "tcp";
	any = strcmp(ifname, "any") == 0;
	if (!any && strlen(ifname) >= IFNAMSIZ)
		return iface_error(cap, ifname, ENODEV);
	if (cap->frame == NULL && (cap->frame = malloc(SNAPLEN)) == NULL)
		goto nomem;
	rc = stamps_on(cap->err, sizeof cap->err);
	if (rc != RSL_OK)
		return rc;

	h = calloc(1, sizeof *h);
	if (h == NULL)
		goto nomem;
	h->cap = cap;
	h->linktype = any ? DLT_LINUX_SLL2 : DLT_EN10MB;
	h->label = strdup(label ? label : ifname);
	h->fd = packet_socket(cap, ifname, any ? SOCK_DGRAM : SOCK_RAW);
	if (h->label == NULL)
		goto nomem; /* (out closes the socket) */
	if (h->fd < 0) {
		rc = RSL_ESYS;
		goto out;
	}
	if (!any) {
		/* The interface's index, and which header its frames carry:
		 * Ethernet's (lo's is one too, of zeros) on the raw socket, any
		 * other kind cooked. */
		memset(&ifr, 0, sizeof ifr);
		memcpy(ifr.ifr_name, ifname, strlen(ifname));
		if (ioctl(h->fd, SIOCGIFINDEX, &ifr) < 0) {
			rc = iface_error(cap, ifname, errno);
			goto out;
		}
		sll.sll_ifindex = ifr.ifr_ifindex; /* before the next call overwrites it */
		if (ioctl(h->fd, SIOCGIFHWADDR, &ifr) < 0) {
			rc = iface_error(cap, ifname, errno);
			goto out;
		}
		if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER &&
		    ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK) {
			close(h->fd);
			h->linktype = DLT_LINUX_SLL2;
			h->fd = packet_socket(cap, ifname, SOCK_DGRAM);
			if (h->fd < 0) {
				rc = RSL_ESYS;
				goto out;
			}
		}
	}
	rc = set_filter(cap, h, filter);
	if (rc != RSL_OK)
		goto out;
	/* On lo the kernel offers each packet twice, as sent and as
	 * received: one is the wire. ("any" leaves lo's sent copies out as
	 * it reads.) */
	h->skip_lo_outgoing = any ||
		(sll.sll_ifindex == LO_IFINDEX &&
		 setsockopt(h->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof on) < 0);
	set_rcvbuf(h, cap->buffer ? cap->buffer : BUFFER_SIZE);
	/* Nanosecond stamps, taken as the packet arrives (the copies of one
	 * packet on both ends of a veth pair are often less than a
	 * microsecond apart). SO_TIMESTAMPING rather than SO_TIMESTAMPNS: for
	 * a packet that came without a stamp, SO_TIMESTAMPNS gives the time
	 * it was read; this gives none (see read_frame). The auxiliary data
	 * carry the length before the snap length cut. (A VLAN tag that the
	 * interface took out of a frame is not put back, as libpcap does:
	 * the decoder reads untagged frames only.) */
	if (setsockopt(h->fd, SOL_SOCKET, SO_TIMESTAMPING, &tsflags, sizeof tsflags) < 0 ||
	    setsockopt(h->fd, SOL_PACKET, PACKET_AUXDATA, &on, sizeof on) < 0 ||
	    bind(h->fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
		rc = iface_error(cap, ifname, errno);
		goto out;
	}
	/* An interface that is down reports it as an error of the socket. */
	if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &e, &elen) == 0 && e != 0) {
		rc = iface_error(cap, ifname, e);
		goto out;
	}
	if (add_handle(cap, h) != RSL_OK)
		goto nomem;
	ev_io_init(&h->io, on_readable, h->fd, EV_READ);
	if (cap->loop)
		ev_io_start(cap->loop->ev, &h->io);
	return RSL_OK;

nomem:
	rsl_set_error(cap->err, "out of memory");
	rc = RSL_ESYS;
out:
	free_handle(h);
	return rc;
}

size_t rsl_capture_count(const struct rsl_capture *cap)
{
	return cap->count;
}

const struct rsl_packet *rsl_capture_packet(const struct rsl_capture *cap, size_t i)
{
	if (i >= cap->count)
		return NULL;
	return &slot(cap, i)->pkt;
}

const char *rsl_capture_packet_iface(const struct rsl_capture *cap, size_t i)
{
	if (i >= cap->count)
		return NULL;
	return cap->handles[slot(cap, i)->handle]->label;
}

size_t rsl_capture_skipped(const struct rsl_capture *cap)
{
	return cap->skipped;
}

/* What the kernel dropped from h's queue so far (it was full). Reading
 * the kernel's count resets it: the sum is kept here. */
static uint64_t handle_drops(struct cap_handle *h)
{
	struct tpacket_stats st;
	socklen_t len = sizeof st;

	if (h->fd >= 0 && getsockopt(h->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
		h->dropped += st.tp_drops;
	return h->dropped;
}

uint64_t rsl_capture_dropped(struct rsl_capture *cap)
{
	uint64_t n = 0;
	if (cap == NULL)
		return 0;
	for (size_t i = 0; i < cap->nhandles; i++)
		n += handle_drops(cap->handles[i]);
	return n;
}

int rsl_capture_set_buffer(struct rsl_capture *cap, size_t bytes)
{
	if (cap == NULL)
		return RSL_EINVAL;
	if (bytes < BUFFER_MIN || bytes > BUFFER_MAX) {
		rsl_set_error(cap->err, "a capture buffer of %zu bytes: it must be %d KiB to %d MiB",
		              bytes, BUFFER_MIN / 1024, BUFFER_MAX / (1024 * 1024));
		return RSL_EINVAL;
	}
	cap->buffer = bytes;
	return RSL_OK;
}

size_t rsl_capture_malformed(const struct rsl_capture *cap)
{
	return cap->malformed;
}

const char *rsl_capture_error(const struct rsl_capture *cap)
{
	return cap->err;
}

const char *rsl_capture_failure(const struct rsl_capture *cap)
{
	return cap->failure[0] != '\0' ? cap->failure : NULL;
}

int rsl_capture_write(struct rsl_capture *cap, const char *path)
{
	pcap_t *dead = NULL;
	pcap_dumper_t *dump = NULL;
	/* With no interface there is nothing to say about the link; an
	 * empty Ethernet file still opens in every tool. */
	int linktype = DLT_EN10MB;
	int rc = RSL_ESYS;
	size_t i;

	if (path == NULL || *path == '\0') {
		rsl_set_error(cap->err, "no file name");
		return RSL_EINVAL;
	}
	if (load_pcap(cap->err, sizeof cap->err) != RSL_OK)
		return RSL_EUNAVAIL;
	for (i = 0; i < cap->nhandles; i++) {
		if (i == 0) {
			linktype = cap->handles[0]->linktype;
		} else if (cap->handles[i]->linktype != linktype) {
			rsl_set_error(cap->err,
			              "cannot write one pcap file: %s has link type %s, %s has %s",
			              cap->handles[0]->label, lib.fn.pcap_datalink_val_to_name(linktype),
			              cap->handles[i]->label,
			              lib.fn.pcap_datalink_val_to_name(cap->handles[i]->linktype));
			return RSL_EINVAL;
		}
	}
	dead = lib.fn.pcap_open_dead_with_tstamp_precision(linktype, SNAPLEN,
	                                            PCAP_TSTAMP_PRECISION_NANO);
	if (dead == NULL) {
		rsl_set_error(cap->err, "pcap_open_dead failed");
		goto out;
	}
	dump = lib.fn.pcap_dump_open(dead, path);
	if (dump == NULL) {
		rsl_set_error(cap->err, "%s", lib.fn.pcap_geterr(dead));
		goto out;
	}
	for (i = 0; i < cap->count; i++) {
		const struct stored *s = slot(cap, i);

		lib.fn.pcap_dump((u_char *)dump, &s->hdr, s->raw);
	}
	if (lib.fn.pcap_dump_flush(dump) != 0) {
		rsl_set_error(cap->err, "%s: write failed", path);
		goto out;
	}
	rc = RSL_OK;
out:
	if (dump)
		lib.fn.pcap_dump_close(dump);
	if (dead)
		lib.fn.pcap_close(dead);
	return rc;
}

/* Stop every watcher and close every socket, its drops counted first.
 * Safe inside a drain: callbacks run only once every handle was read. */
static void close_handles(struct rsl_capture *cap)
{
	size_t i;

	for (i = 0; i < cap->nhandles; i++) {
		struct cap_handle *h = cap->handles[i];

		if (cap->loop)
			ev_io_stop(cap->loop->ev, &h->io);
		if (h->fd >= 0) {
			handle_drops(h);
			close(h->fd);
			h->fd = -1;
		}
	}
}

void rsl_capture_close(struct rsl_capture *cap)
{
	if (cap == NULL)
		return;
	cap->closed = true;
	close_handles(cap);
}

static void destroy(struct rsl_capture *cap)
{
	struct arena_chunk *c, *next;
	size_t i;

	for (i = 0; i < cap->nhandles; i++)
		free_handle(cap->handles[i]);
	free(cap->handles);
	for (i = 0; i < cap->nblocks; i++)
		free(cap->blocks[i]);
	free(cap->blocks);
	for (c = cap->arena; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(cap->frame);
	free(cap);
}

void rsl_capture_free(struct rsl_capture *cap)
{
	if (cap == NULL)
		return;
	rsl_capture_close(cap);
	/* Freed from its own on_packet: finish once the drain has returned. */
	if (cap->busy) {
		cap->free_pending = true;
		return;
	}
	destroy(cap);
}

int rsl_capture_hold_timestamps(void)
{
	char err[RSL_ERRLEN];
	int rc = hold_stamps();
	/* In a namespace of its own that no scenario uses (a file's server),
	 * the check that stamps are live is made once, on its lo, for every
	 * child forked from here: each would otherwise make a packet socket
	 * for it, and closing one waits for an RCU grace period. A check that
	 * cannot be made here is left to the children. */
	if (rc == RSL_OK && rsl_sandbox_prepared() && rsl_lo_up(err, sizeof err) == RSL_OK)
		rc = stamps_on(err, sizeof err);
	return rc;
}
