/*
 * Packet capture: the wire side of a scenario.
 *
 * A capture owns one libpcap handle per interface added to it, each opened
 * in whatever network namespace the caller is in at that moment (a handle's
 * socket stays in the namespace it was born in, like any socket).  Every
 * handle runs in immediate mode with its selectable fd watched by the
 * scenario's libev loop, so packets are decoded and stored as they arrive,
 * in arrival order across handles, and the expectation matcher can follow
 * them live through the on_packet callback.
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

#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#define SNAPLEN 65535
/* The kernel's ring for each interface (rsl_capture_set_buffer). libpcap
 * cuts it in frames that each hold the largest packet the interface can
 * carry: 4 MiB are 64 frames on lo (a 64 KiB MTU), about 2500 on a veth
 * (1500). On lo the kernel offers every packet twice (as sent and as
 * received; libpcap keeps the received one), so it holds 32 packets. What
 * does not fit between two drains the kernel drops, and counts
 * (rsl_capture_dropped). */
#define BUFFER_SIZE (4 * 1024 * 1024)
#define BUFFER_MIN (256 * 1024)
#define BUFFER_MAX (1024 * 1024 * 1024)
/* Only matters when immediate mode is not honoured; then it bounds the
 * delay before a batch is delivered. */
#define TIMEOUT_MS 10
#define BLOCK_PACKETS 256
#define ARENA_CHUNK (256 * 1024)

struct cap_handle {
	ev_io io;                 /* first: the callback casts back from it */
	struct rsl_capture *cap;
	pcap_t *pcap;             /* NULL once closed */
	int linktype;             /* kept after close, for rsl_capture_write */
	bool nano;                /* timestamps in ns (else the kernel gave us) */
	uint64_t dropped;         /* the ring's drops, counted when it closed */
	char *label;
};

struct stored {
	struct rsl_packet pkt;
	struct pcap_pkthdr hdr;   /* caplen, len as pcap saw them; ts with
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
	size_t buffer;               /* ring bytes of the handles added next */
	bool closed;                 /* rsl_capture_close was called */
	bool busy;                   /* inside pcap_dispatch: pcap_close and
	                                free must wait until it returns */
	bool free_pending;           /* rsl_capture_free called while busy */
	bool failed;                 /* the current drain lost packets or a handle */
	char err[RSL_ERRLEN];
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

/* pcap_dispatch callback: one frame. */
static void on_frame(u_char *user, const struct pcap_pkthdr *hdr, const u_char *bytes)
{
	struct cap_handle *h = (struct cap_handle *)user;
	struct rsl_capture *cap = h->cap;
	struct stored *s;
	const char *why;
	int rc;

	/* Frames read in the same batch as a close are not wanted. */
	if (cap->closed)
		return;
	s = next_slot(cap);
	if (s == NULL) {
		rsl_set_error(cap->err, "out of memory storing packet %zu",
		              cap->count + cap->pending);
		cap->failed = true;
		return;
	}
	/* A double cannot hold nanoseconds since 1970 (its step is ~0.5 us
	 * there): the ordering uses ns, the double is for scripts. */
	s->hdr = *hdr;
	if (!h->nano)
		s->hdr.ts.tv_usec *= 1000;
	s->ns = (int64_t)s->hdr.ts.tv_sec * 1000000000 + s->hdr.ts.tv_usec;
	s->pkt.ts = (double)s->hdr.ts.tv_sec + (double)s->hdr.ts.tv_usec * 1e-9;
	rc = rsl_decode(h->linktype, bytes, hdr->caplen, &s->pkt, &why);
	if (rc == RSL_ESKIP) {
		cap->skipped++;
		return;
	}
	if (rc != RSL_OK) {
		cap->malformed++;
		return;
	}
	s->raw = arena_copy(cap, bytes, hdr->caplen);
	if (s->raw == NULL) {
		rsl_set_error(cap->err, "out of memory storing packet %zu",
		              cap->count + cap->pending);
		cap->failed = true;
		return;
	}
	s->handle = handle_index(cap, h);
	cap->pending++;
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
 * keeps its fd readable). */
static void drain_handle(struct rsl_capture *cap, struct cap_handle *h)
{
	int n;

	while (h->pcap != NULL && !cap->closed) {
		n = pcap_dispatch(h->pcap, -1, on_frame, (u_char *)h);
		if (n == 0 || n == PCAP_ERROR_BREAK)
			break;
		if (n < 0) {
			rsl_set_error(cap->err, "capture on %s failed: %s", h->label,
			              pcap_geterr(h->pcap));
			cap->failed = true;
			if (cap->loop)
				ev_io_stop(cap->loop->ev, &h->io);
			break;
		}
	}
}

/* Run after every dispatch: closes and frees that callbacks asked for
 * while pcap was still inside its own buffer. */
static void settle(struct rsl_capture *cap)
{
	cap->busy = false;
	if (cap->closed)
		close_handles(cap);
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

	/* Called from on_packet, it would re-enter pcap_dispatch: the drain
	 * under way reports. */
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
	if (h->pcap)
		pcap_close(h->pcap);
	free(h->label);
	free(h);
}

int rsl_capture_add(struct rsl_capture *cap, const char *ifname, const char *filter,
                    const char *label)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	struct bpf_program prog;
	struct cap_handle *h = NULL;
	int rc, fd;

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

	h = calloc(1, sizeof *h);
	if (h == NULL)
		goto nomem;
	h->cap = cap;
	h->label = strdup(label ? label : ifname);
	if (h->label == NULL)
		goto nomem;

	h->pcap = pcap_create(ifname, errbuf);
	if (h->pcap == NULL) {
		rsl_set_error(cap->err, "%s: %s", ifname, errbuf);
		rc = RSL_ESYS;
		goto out;
	}
	/* Immediate mode: a packet must reach the matcher as it crosses the
	 * wire, not when a kernel buffer block fills or times out. */
	if (pcap_set_snaplen(h->pcap, SNAPLEN) != 0 ||
	    pcap_set_immediate_mode(h->pcap, 1) != 0 ||
	    pcap_set_timeout(h->pcap, TIMEOUT_MS) != 0 ||
	    /* the copies of one packet on both ends of a veth pair are
	     * often less than a microsecond apart */
	    (pcap_set_tstamp_precision(h->pcap, PCAP_TSTAMP_PRECISION_NANO) != 0 &&
	     pcap_set_tstamp_precision(h->pcap, PCAP_TSTAMP_PRECISION_MICRO) != 0) ||
	    pcap_set_buffer_size(h->pcap, (int)(cap->buffer ? cap->buffer : BUFFER_SIZE)) != 0) {
		rsl_set_error(cap->err, "%s: cannot set capture options", ifname);
		rc = RSL_ESYS;
		goto out;
	}
	rc = pcap_activate(h->pcap);
	if (rc < 0) {
		const char *status = pcap_statustostr(rc);
		const char *detail = pcap_geterr(h->pcap);

		/* pcap often repeats the status as the detail */
		if (strcmp(detail, status) == 0)
			detail = "";
		rsl_set_error(cap->err, "%s: %s%s%s", ifname, status, *detail ? ": " : "",
		              detail);
		rc = rc == PCAP_ERROR_NO_SUCH_DEVICE ? RSL_EINVAL : RSL_ESYS;
		goto out;
	}
	/* rc > 0 is a warning (e.g. promiscuous mode not supported): the
	 * handle works, carry on. */
	h->linktype = pcap_datalink(h->pcap);
	h->nano = pcap_get_tstamp_precision(h->pcap) == PCAP_TSTAMP_PRECISION_NANO;

	if (pcap_compile(h->pcap, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		rsl_set_error(cap->err, "bad capture filter \"%s\": %s", filter,
		              pcap_geterr(h->pcap));
		rc = RSL_EINVAL;
		goto out;
	}
	/* On Linux, installing the filter also throws away what the socket
	 * queued unfiltered since activation, so from here on the capture
	 * holds exactly the filtered traffic. */
	rc = pcap_setfilter(h->pcap, &prog);
	pcap_freecode(&prog);
	if (rc != 0) {
		rsl_set_error(cap->err, "%s: cannot set filter \"%s\": %s", ifname, filter,
		              pcap_geterr(h->pcap));
		rc = RSL_ESYS;
		goto out;
	}
	if (pcap_setnonblock(h->pcap, 1, errbuf) != 0) {
		rsl_set_error(cap->err, "%s: %s", ifname, errbuf);
		rc = RSL_ESYS;
		goto out;
	}
	fd = pcap_get_selectable_fd(h->pcap);
	if (fd < 0) {
		rsl_set_error(cap->err, "%s: no selectable descriptor", ifname);
		rc = RSL_EUNAVAIL;
		goto out;
	}
	if (add_handle(cap, h) != RSL_OK)
		goto nomem;
	ev_io_init(&h->io, on_readable, fd, EV_READ);
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

/* What the kernel dropped from h's ring so far (the ring was full). */
static uint64_t handle_drops(struct cap_handle *h)
{
	struct pcap_stat st;
	if (h->pcap != NULL && pcap_stats(h->pcap, &st) == 0)
		return (uint64_t)st.ps_drop;
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
	for (i = 0; i < cap->nhandles; i++) {
		if (i == 0) {
			linktype = cap->handles[0]->linktype;
		} else if (cap->handles[i]->linktype != linktype) {
			rsl_set_error(cap->err,
			              "cannot write one pcap file: %s has link type %s, %s has %s",
			              cap->handles[0]->label, pcap_datalink_val_to_name(linktype),
			              cap->handles[i]->label,
			              pcap_datalink_val_to_name(cap->handles[i]->linktype));
			return RSL_EINVAL;
		}
	}
	dead = pcap_open_dead_with_tstamp_precision(linktype, SNAPLEN,
	                                            PCAP_TSTAMP_PRECISION_NANO);
	if (dead == NULL) {
		rsl_set_error(cap->err, "pcap_open_dead failed");
		goto out;
	}
	dump = pcap_dump_open(dead, path);
	if (dump == NULL) {
		rsl_set_error(cap->err, "%s", pcap_geterr(dead));
		goto out;
	}
	for (i = 0; i < cap->count; i++) {
		const struct stored *s = slot(cap, i);

		pcap_dump((u_char *)dump, &s->hdr, s->raw);
	}
	if (pcap_dump_flush(dump) != 0) {
		rsl_set_error(cap->err, "%s: write failed", path);
		goto out;
	}
	rc = RSL_OK;
out:
	if (dump)
		pcap_dump_close(dump);
	if (dead)
		pcap_close(dead);
	return rc;
}

/* Stop every watcher now; close the pcap handles unless pcap_dispatch is
 * running on one of them, in which case settle() comes back here. */
static void close_handles(struct rsl_capture *cap)
{
	size_t i;

	for (i = 0; i < cap->nhandles; i++) {
		struct cap_handle *h = cap->handles[i];

		if (cap->loop)
			ev_io_stop(cap->loop->ev, &h->io);
		if (cap->busy) {
			if (h->pcap)
				pcap_breakloop(h->pcap);
		} else if (h->pcap) {
			h->dropped = handle_drops(h);
			pcap_close(h->pcap);
			h->pcap = NULL;
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
	free(cap);
}

void rsl_capture_free(struct rsl_capture *cap)
{
	if (cap == NULL)
		return;
	rsl_capture_close(cap);
	/* Freed from its own on_packet: finish once pcap has returned. */
	if (cap->busy) {
		cap->free_pending = true;
		return;
	}
	destroy(cap);
}

int rsl_capture_hold_timestamps(void)
{
	static int held = -1;
	if (held >= 0)
		return RSL_OK;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int on = 1;
	if (fd < 0)
		return RSL_ESYS;
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0) {
		close(fd);
		return RSL_ESYS;
	}
	held = fd; /* open until the process ends: that is the point */
	return RSL_OK;
}
