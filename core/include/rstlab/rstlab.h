/*
 * rstlab core: the public C interface.
 *
 * The core drives real kernel TCP sockets, timers, packet capture, socket
 * diagnostics (sock_diag) and the kernel's tcp_send_reset tracepoint from one
 * libev loop.  It never includes a Lua header; the Lua bindings are built on
 * top of it (see rstlab_lua.h).  All types are opaque to users of this header.
 *
 * Conventions: fallible functions return an int status, RSL_OK (0) or a
 * negative RSL_E* code; the message, a sentence a user can read as it is,
 * is kept in the object (rsl_*_error()) or, for functions without one,
 * written to the caller's err/errlen buffer (RSL_ERRLEN bytes are always
 * enough). Outputs go through out-parameters.  Nothing here exits the
 * process.
 *
 * Pointers: every returned pointer below says who owns it and until when
 * it is valid.  Threads: the core keeps no locks; use one loop, and every
 * object made on it, from one thread at a time.
 *
 * Process-wide effects (everything else only touches the objects passed):
 *  - rsl_sandbox_enter unshares the calling process into new network (and,
 *    when not root, user) namespaces for good, and takes a port slice:
 *    it creates /tmp/.rstlab-ports (mode 1777; the process's umask is 0
 *    for the moment it creates that and a slot file) and keeps one slot
 *    file open and flock()ed until the process exits. rsl_netns_new gives
 *    new hosts the same slice.
 *  - rsl_netns_enter/leave, rsl_netns_new and every function taking an
 *    nsfd setns() the calling thread into that namespace and back; a
 *    failure to come back is reported (RSL_ESYS), never ignored.
 *  - rsl_trace_open loads a BPF program on the tcp:tcp_send_reset
 *    tracepoint (it runs for every RST the machine sends, in every
 *    namespace, until rsl_trace_close or the process's end: it is held by
 *    file descriptors only, and nothing outlives the process).
 *  - Nothing here installs a signal handler, changes the signal mask or
 *    ignores SIGPIPE: sockets write with MSG_NOSIGNAL.  (The Lua bindings'
 *    own effects are listed in rstlab_lua.h.)
 */
#ifndef RSTLAB_H
#define RSTLAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(RSTLAB_BUILDING)
#define RSL_API __attribute__((visibility("default")))
#else
#define RSL_API
#endif

/* The version of this header; rsl_version() says the library's. */
#define RSTLAB_VERSION "0.1.0"

/* The size of an err buffer that always holds a whole message. */
#define RSL_ERRLEN 256

enum {
	RSL_OK = 0,
	RSL_EAGAIN = -1,    /* would block: not an error, wait and retry */
	RSL_ESYS = -2,      /* a system call failed; see the object's errno */
	RSL_EINVAL = -3,    /* bad argument (address, option name, value) */
	RSL_ECLOSED = -4,   /* the object is closed */
	RSL_EMALFORMED = -5,/* a packet or text that cannot be decoded */
	RSL_ESKIP = -6,     /* a packet that is not TCP: not an error */
	RSL_EUNAVAIL = -7,  /* a kernel facility this machine does not offer */
	RSL_EBUSY = -8,     /* not now: a run is in progress (runner.h) */
	RSL_ENOTFOUND = -9, /* no such file, or no such scenario (runner.h) */
	RSL_ELOAD = -10,    /* a script that does not load (runner.h) */
};

/* The library's version, "0.1.0": a static string. */
RSL_API const char *rsl_version(void);

/* ---- error codes ----------------------------------------------------- */

/* "ECONNRESET" for ECONNRESET; "E<number>" for an errno without a name.
 * A static string for a named errno; for another, a buffer of the calling
 * thread, valid until its next call. */
RSL_API const char *rsl_errno_name(int err);
/* The one table of failure codes scripts see: errno names, and rstlab's
 * pseudo-codes where no errno says what happened: EOF (recv returned 0),
 * TIMEOUT (the script's own deadline), ECLOSED (the socket was closed
 * while waiting), EUNAVAIL, ESYSCTL, EDIAG, ELINK, ECAPTURE. Returns the
 * code's sentence (a static string for rstlab's codes, strerror()'s for an
 * errno name: valid until the thread's next strerror call), or NULL when
 * code is not in the table. */
RSL_API const char *rsl_code_text(const char *code);

/* ---- TCP states ------------------------------------------------------ */

/* "ESTABLISHED", "TIME_WAIT", ... for the kernel's TCP_* state numbers
 * (a static string); NULL for a number that is not a state. */
RSL_API const char *rsl_tcp_state_name(int state);
/* The state number for a name ("TIME_WAIT" or "TCP_TIME_WAIT"), or -1. */
RSL_API int rsl_tcp_state_from_name(const char *name);

/* ---- addresses ------------------------------------------------------- */

/* An IPv4 or IPv6 address with port. Text forms: "127.0.0.1:80",
 * "[::1]:80". */
struct rsl_addr {
	int family;         /* AF_INET or AF_INET6 */
	uint8_t ip[16];     /* IPv4 uses the first 4 bytes */
	uint16_t port;      /* host byte order */
	uint32_t scope_id;  /* IPv6 only */
};

/* Parse "ip:port" or "[ip6]:port"; a missing port is an error unless
 * allow_noport, in which case port = 0. Returns RSL_OK or RSL_EINVAL. */
RSL_API int rsl_addr_parse(const char *text, bool allow_noport, struct rsl_addr *out);
/* Format as "ip:port" / "[ip6]:port" into buf (at least 64 bytes);
 * returns buf. */
RSL_API const char *rsl_addr_format(const struct rsl_addr *a, char *buf, size_t len);
/* Format only the address part into buf; returns buf. */
RSL_API const char *rsl_ip_format(int family, const uint8_t ip[16], char *buf, size_t len);

/* ---- decoded packets ------------------------------------------------- */

#define RSL_TH_FIN 0x01
#define RSL_TH_SYN 0x02
#define RSL_TH_RST 0x04
#define RSL_TH_PSH 0x08
#define RSL_TH_ACK 0x10
#define RSL_TH_URG 0x20
#define RSL_TH_ECE 0x40
#define RSL_TH_CWR 0x80

#define RSL_MAX_SACK 4

/* One TCP segment as it crossed the wire. Fields are host byte order. */
struct rsl_packet {
	double ts;              /* capture time, seconds since the epoch */
	int family;             /* AF_INET or AF_INET6 */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t seq, ack;      /* absolute, as on the wire */
	uint8_t flags;          /* RSL_TH_* */
	uint16_t win;           /* raw window field, not scaled */
	uint16_t urg;
	uint32_t len;           /* TCP payload length (from the IP length) */
	uint8_t ttl;            /* IPv4 TTL or IPv6 hop limit */
	/* TCP options; -1 (or false) when absent */
	int mss;
	int wscale;
	bool sack_ok;
	bool has_ts;
	uint32_t ts_val, ts_ecr;
	int nsack;              /* SACK blocks present (at most RSL_MAX_SACK) */
	uint32_t sack[RSL_MAX_SACK][2];
	bool truncated;         /* payload bytes were cut by the snapshot
	                           length (len is still the length on the wire) */
};

/* Decode one link-layer frame (linktype is a pcap DLT_* value: EN10MB,
 * LINUX_SLL, LINUX_SLL2, RAW, NULL, LOOP). Returns RSL_OK with *out filled,
 * RSL_ESKIP for a frame that is not TCP over IPv4/IPv6, or RSL_EMALFORMED
 * with *why pointing at a static reason. out->ts is left untouched. */
RSL_API int rsl_decode(int linktype, const uint8_t *data, size_t caplen,
                       struct rsl_packet *out, const char **why);

/* "S", "S.", "P.", "R.", "F.", "." ... as tcpdump prints TCP flags. buf
 * must hold 10 bytes; returns buf. */
RSL_API const char *rsl_flags_format(uint8_t flags, char *buf, size_t len);

/* ---- crafted segments -------------------------------------------------- */

/* Build one TCP segment with its IP header from p's fields (family, src
 * and dst, ports, seq, ack, flags, win, urg, ttl (0: 64), and the options
 * mss and wscale (-1: absent), sack_ok, has_ts with ts_val/ts_ecr, nsack
 * blocks) followed by plen bytes of payload, checksums computed, into buf
 * (cap bytes); *len gets its size. What rsl_decode makes of the result is
 * p again. RSL_OK, or RSL_EINVAL with the reason in err. */
RSL_API int rsl_craft_build(const struct rsl_packet *p, const uint8_t *payload, size_t plen,
                            uint8_t *buf, size_t cap, size_t *len, char *err, size_t errlen);
/* Send a built IP packet through a raw socket (IPPROTO_RAW) made in the
 * network namespace nsfd (-1: the caller's): it leaves through that
 * namespace's routing and firewall like the host's own packets. Needs
 * CAP_NET_RAW there (RSL_EUNAVAIL without). */
RSL_API int rsl_craft_send(int nsfd, const uint8_t *pkt, size_t len, char *err, size_t errlen);

/* ---- the loop -------------------------------------------------------- */

struct rsl_loop;

/* A libev loop of its own (never libev's default loop); NULL when out of
 * memory. Caller frees with rsl_loop_free, after freeing every object
 * made on it. */
RSL_API struct rsl_loop *rsl_loop_new(void);
RSL_API void rsl_loop_free(struct rsl_loop *loop);
/* Run one iteration, blocking until an event (once = true) or not. */
RSL_API void rsl_loop_step(struct rsl_loop *loop, bool block);
/* Monotonic time in seconds (CLOCK_MONOTONIC). */
RSL_API double rsl_now(void);
/* The libev loop (struct ev_loop *), for embedders that add watchers;
 * owned by loop, valid until rsl_loop_free. */
RSL_API void *rsl_loop_ev(struct rsl_loop *loop);

/* ---- TCP sockets ----------------------------------------------------- */

/* A TCP socket, non-blocking unless made blocking. Every call that fails
 * keeps the errno (rsl_sock_errno) and a message (rsl_sock_error). On a
 * non-blocking socket RSL_EAGAIN means "would block": the errno (EAGAIN, or
 * EINPROGRESS for connect) is kept too; wait for the fd (rsl_sock_fd) and
 * call again. Results are the kernel's, never rewritten. */
struct rsl_sock;

/* A closed socket object (NULL when out of memory); caller frees with
 * rsl_sock_free, which closes it first. */
RSL_API struct rsl_sock *rsl_sock_new(void);
/* Create the kernel socket (AF_INET or AF_INET6), non-blocking, in the
 * calling thread's current network namespace. */
RSL_API int rsl_sock_open(struct rsl_sock *s, int family);
/* Clear (blocking) or set O_NONBLOCK. On a blocking socket connect,
 * accept, read, write (and a close with SO_LINGER) block the calling
 * thread as a blocking program's calls do; sockets it accepts are blocking
 * too. */
RSL_API int rsl_sock_set_blocking(struct rsl_sock *s, bool blocking);
RSL_API bool rsl_sock_blocking(const struct rsl_sock *s);
RSL_API int rsl_sock_bind(struct rsl_sock *s, const struct rsl_addr *a);
RSL_API int rsl_sock_listen(struct rsl_sock *s, int backlog);
/* One connect(): RSL_OK when connected, RSL_EAGAIN on EINPROGRESS (wait
 * for writability, then rsl_sock_connect_finish), RSL_ESYS otherwise
 * (EALREADY, EISCONN, ECONNREFUSED, ECONNABORTED... as the kernel said).
 * Called again, it calls connect() again. */
RSL_API int rsl_sock_connect(struct rsl_sock *s, const struct rsl_addr *a);
/* After writability: read SO_ERROR (consuming it) and fail with it. */
RSL_API int rsl_sock_connect_finish(struct rsl_sock *s);
/* SO_ERROR into *err (0: none); reading it clears it, as in the kernel. */
RSL_API int rsl_sock_so_error(struct rsl_sock *s, int *err);
/* Accept into out (a closed socket object). */
RSL_API int rsl_sock_accept(struct rsl_sock *s, struct rsl_sock *out);
/* Read at most n bytes: never more is taken from the kernel. *got == 0 with
 * RSL_OK is what recv() returned: the end of the stream (a FIN, or a
 * connection whose reset was reported to an earlier call: see
 * rsl_sock_reported). */
RSL_API int rsl_sock_read(struct rsl_sock *s, void *buf, size_t n, size_t *got);
/* Write what the kernel takes now (*put may be < n). Never raises SIGPIPE. */
RSL_API int rsl_sock_write(struct rsl_sock *s, const void *buf, size_t n, size_t *put);
/* how: SHUT_RD, SHUT_WR or SHUT_RDWR. */
RSL_API int rsl_sock_shutdown(struct rsl_sock *s, int how);
/* connect() to an AF_UNSPEC address: the kernel's tcp_disconnect, which
 * drops the connection (with a RST in the states that need one) and leaves
 * the socket unconnected, open and usable again. connect()'s result. */
RSL_API int rsl_sock_disconnect(struct rsl_sock *s);
/* Close the kernel socket: close()'s result (RSL_OK, or RSL_ESYS); RSL_OK
 * on a closed object. What the kernel sends (FIN or RST) depends on the
 * options and the unread data, as for any close(); with SO_LINGER {1, N}
 * it blocks up to N seconds, also on a non-blocking socket. */
RSL_API int rsl_sock_close(struct rsl_sock *s);
/* Mark s closed and hand its fd to the caller, who closes it. */
RSL_API int rsl_sock_take_fd(struct rsl_sock *s);
RSL_API void rsl_sock_free(struct rsl_sock *s);
RSL_API int rsl_sock_fd(const struct rsl_sock *s);
RSL_API int rsl_sock_family(const struct rsl_sock *s);
/* The errno and the message of the last failure ("recv: Connection reset
 * by peer"); the message is owned by s, valid until its next call. */
RSL_API int rsl_sock_errno(const struct rsl_sock *s);
RSL_API const char *rsl_sock_error(const struct rsl_sock *s);
/* The last error that ends a connection (ECONNRESET, ETIMEDOUT,
 * ECONNREFUSED...) a call of s reported, or 0: a hint for the message of
 * a later end of stream, never a result. */
RSL_API int rsl_sock_reported(const struct rsl_sock *s);
/* Addresses: the local one is remembered at bind/connect time, so it is
 * still known after a failed connect (when getsockname says 0.0.0.0:0).
 * Owned by s, valid until rsl_sock_free (family 0: not known). */
RSL_API const struct rsl_addr *rsl_sock_local(const struct rsl_sock *s);
RSL_API const struct rsl_addr *rsl_sock_peer(const struct rsl_sock *s);
/* Bytes waiting in the receive queue (FIONREAD/SIOCINQ). */
RSL_API int rsl_sock_pending(struct rsl_sock *s, int *n);

/* Socket options by name. Kinds tell how a value is given. */
enum rsl_optkind {
	RSL_OPT_BOOL,       /* i: 0 or 1 */
	RSL_OPT_INT,        /* i */
	RSL_OPT_LINGER,     /* on, i = seconds */
	RSL_OPT_MSEC,       /* i in milliseconds */
	RSL_OPT_SINT,       /* i, may be negative (TCP_LINGER2 -1: no FIN_WAIT2) */
};
struct rsl_optval {
	int on;
	long i;
};
/* The kind of option name, or -1 for a name that is not an option. The
 * names: linger, nodelay, reuseaddr, reuseport, rcvbuf, sndbuf, keepalive,
 * keepidle, keepintvl, keepcnt, user_timeout, quickack, maxseg, cork,
 * notsent_lowat, ttl, v6only, linger2. */
RSL_API int rsl_sock_option_kind(const char *name);
/* A NULL-terminated list of every option name (static). */
RSL_API const char *const *rsl_sock_option_names(void);
RSL_API int rsl_sock_set(struct rsl_sock *s, const char *name, const struct rsl_optval *v);
RSL_API int rsl_sock_get(struct rsl_sock *s, const char *name, struct rsl_optval *v);

/* A subset of the kernel's struct tcp_info, times in seconds. */
struct rsl_tcpinfo {
	int state;
	int ca_state, retransmits, probes, backoff;
	int snd_wscale, rcv_wscale;
	double rto, ato, rtt, rttvar, min_rtt;
	uint32_t snd_mss, rcv_mss, unacked, sacked, lost, retrans, pmtu;
	uint32_t snd_ssthresh, snd_cwnd, advmss, reordering, rcv_space;
	uint32_t total_retrans, segs_out, segs_in, snd_wnd;
	uint64_t bytes_acked, bytes_received, bytes_sent, bytes_retrans;
	double last_data_sent, last_data_recv, last_ack_recv;
};
RSL_API int rsl_sock_tcp_info(struct rsl_sock *s, struct rsl_tcpinfo *out);

/* ---- capture --------------------------------------------------------- */

struct rsl_capture;
typedef void (*rsl_capture_cb)(struct rsl_capture *cap, size_t index, void *ud);

/* A capture built closed: add interfaces to it (NULL when out of memory).
 * Caller frees with rsl_capture_free, before rsl_loop_free. on_packet is
 * called from the loop (or from rsl_capture_drain) for each packet stored
 * (may be NULL). */
RSL_API struct rsl_capture *rsl_capture_new(struct rsl_loop *loop,
                                            rsl_capture_cb on_packet, void *ud);
/* Open ifname in the calling thread's current network namespace, with a BPF
 * filter (NULL: "tcp"). The capture is live when this returns. The label
 * names the interface in reports (e.g. "A:veth0"); NULL uses ifname.
 * Ethernet interfaces and lo give Ethernet frames (DLT_EN10MB; on lo each
 * packet once, as received); "any" and other kinds give cooked frames
 * (DLT_LINUX_SLL2), their filter applied from the IP header on. Errors:
 * RSL_EINVAL for no such interface or a bad filter, RSL_ESYS for one that
 * is down or a socket the kernel refused, RSL_EUNAVAIL when a filter other
 * than "tcp" (built in) needs libpcap to compile it and libpcap.so.0.8
 * cannot be loaded (it is loaded then, not at start). The first capture of a process
 * switches the kernel's packet timestamps on for the process's life and
 * waits until packets carry them (at most 2 s; RSL_ESYS after that): a
 * packet without a stamp would have no time. To see that, it sends
 * itself a frame over lo in the current namespace (before its own
 * sockets exist; ethertype 0x88b5, which the IP stack and its firewall
 * ignore), again until one comes back stamped. */
RSL_API int rsl_capture_add(struct rsl_capture *cap, const char *ifname,
                            const char *filter, const char *label);
/* Read every packet waiting in the kernel now (also done by the loop).
 * RSL_ESYS when packets were lost meanwhile (out of memory) or an
 * interface failed and stopped (rsl_capture_error says which); the
 * packets stored stay readable either way. */
RSL_API int rsl_capture_drain(struct rsl_capture *cap);
/* Why the capture may not hold everything that crossed its interfaces
 * since it opened: the first drain that lost packets or stopped an
 * interface (its rsl_capture_error), kept; NULL when none did. */
RSL_API const char *rsl_capture_failure(const struct rsl_capture *cap);
RSL_API size_t rsl_capture_count(const struct rsl_capture *cap);
/* Packet i (0-based, i < count). Owned by cap, valid until
 * rsl_capture_free: storing more packets does not move it. */
RSL_API const struct rsl_packet *rsl_capture_packet(const struct rsl_capture *cap, size_t i);
/* The label of the interface packet i was seen on; owned by cap, valid
 * until rsl_capture_free. */
RSL_API const char *rsl_capture_packet_iface(const struct rsl_capture *cap, size_t i);
/* Frames that were not TCP, or not decodable, are counted, not stored. */
RSL_API size_t rsl_capture_skipped(const struct rsl_capture *cap);
RSL_API size_t rsl_capture_malformed(const struct rsl_capture *cap);
/* Packets the kernel dropped because an interface's queue was full (more
 * arrived between two drains than rsl_capture_set_buffer lets it hold),
 * on every interface so far: they crossed the wire but are not in the
 * capture. */
RSL_API uint64_t rsl_capture_dropped(struct rsl_capture *cap);
/* How much the kernel may queue for each interface added from now on,
 * between two drains (bytes of its memory, 256 KiB to 1 GiB; default 16
 * MiB). A limit, not an allocation: each packet costs what the kernel
 * allocated for it, a little more than its size for a full segment on lo
 * (64 KiB), under 1 KiB for a bare SYN or ACK. With
 * CAP_NET_ADMIN the limit is as asked, otherwise net.core.rmem_max bounds
 * it. RSL_OK, or RSL_EINVAL out of range. */
RSL_API int rsl_capture_set_buffer(struct rsl_capture *cap, size_t bytes);
/* Write every stored packet, raw, as a pcap file (through libpcap, loaded
 * at the first file written: RSL_EUNAVAIL when it cannot be). */
RSL_API int rsl_capture_write(struct rsl_capture *cap, const char *path);
/* Stop capturing (idempotent); the stored packets stay readable. */
RSL_API void rsl_capture_close(struct rsl_capture *cap);
/* For a process that forks many captures (the runner's file servers):
 * keep the kernel's packet timestamps switched on from now until this
 * process and its children have exited. The first socket that asks for
 * timestamps switches them on for the whole machine, and the last one to
 * close switches them off, each by patching kernel code on every CPU
 * (1 to 4 ms a capture measured here); with one held here, a capture's
 * open and close only count. In a process that rsl_sandbox_prepare put
 * in a network namespace of its own, it also brings that namespace's lo
 * up and waits there until the kernel stamps packets (at most 2 s), so
 * that the captures of children forked later need not check it each.
 * RSL_OK, or RSL_ESYS. */
RSL_API int rsl_capture_hold_timestamps(void);
/* For the same processes: compile filter (NULL: "tcp", which is built in
 * and needs nothing) now, for the Ethernet frames of lo and veth
 * interfaces, and keep it; a capture this process or a child forked later
 * adds with the same filter takes it as compiled (every filter a process
 * compiles is kept so). Compiling costs about 0.9 ms in each forked child
 * otherwise. RSL_OK, or RSL_EINVAL with the reason in err (RSL_EUNAVAIL
 * when libpcap cannot be loaded). */
RSL_API int rsl_capture_precompile(const char *filter, char *err, size_t errlen);
RSL_API void rsl_capture_free(struct rsl_capture *cap);
/* The last failure's message; owned by cap, valid until its next call. */
RSL_API const char *rsl_capture_error(const struct rsl_capture *cap);

/* ---- sock_diag ------------------------------------------------------- */

struct rsl_sockdiag {
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	int state;              /* kernel TCP state number */
	uint32_t rqueue, wqueue;
	uint32_t inode;         /* 0 for TIME_WAIT and request sockets */
	uint8_t timer;          /* idiag_timer: 0 none, 1 retransmit, 2 keepalive,
	                           3 TIME_WAIT, 4 zero window probe */
	uint32_t expires_ms;
	uint8_t retrans;
};

/* List the TCP sockets (IPv4 and IPv6) of the calling thread's network
 * namespace whose state is in state_mask (bit 1 << state). ~0u is every
 * state but TCP_BOUND_INACTIVE (13: sockets only bound, neither
 * listening nor connecting, each listed with state CLOSE), as ss lists
 * them: the kernel finds those by walking the whole machine's bind table,
 * ten times the cost of the rest; ask for them by their bit.
 * On success *out is an array of *n entries, caller frees with free().
 * On failure err holds the reason. */
RSL_API int rsl_diag_list(uint32_t state_mask, struct rsl_sockdiag **out,
                          size_t *n, char *err, size_t errlen);

/* ---- the tcp_send_reset tracepoint ----------------------------------- */

struct rsl_rst_event {
	double ts;              /* when the kernel decided to send the RST:
	                           CLOCK_REALTIME seconds, the clock of packet
	                           timestamps (the RST is sent in the same
	                           call, µs away) */
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	char state[24];         /* "TCP_CLOSE", "TCP_ESTABLISHED", ...;
	                           "UNKNOWN" when no socket sent it */
	char reason[40];        /* "NO_SOCKET", "TCP_STATE", ... ("" on kernels
	                           before 6.10, which have no reason) */
};

struct rsl_trace;

/* Whether this machine offers the tracepoint to this process: the kernel's
 * BTF (/sys/kernel/btf/vmlinux) gives what the raw tracepoint's program
 * needs, or else tracefs is mounted with the event's format readable.
 * RSL_OK, or RSL_EUNAVAIL with a sentence in why. The first call in a
 * process reads the BTF (about 3 ms); children forked afterwards inherit
 * what it found. Loading the program may still be refused (it needs
 * CAP_BPF and CAP_PERFMON: root): rsl_trace_open says so. */
RSL_API int rsl_trace_check(char *why, size_t len);
/* Start reading tcp:tcp_send_reset events: a BPF program of this
 * process's own writes each into a ring buffer (256 KiB) that t maps.
 * The program goes on the raw tracepoint where the kernel's BTF gives the
 * struct offsets it reads (detached at once by rsl_trace_close), else on
 * the tracepoint through a perf event (whose close blocks while the
 * kernel waits for RCU grace periods: 10 to 50 ms measured on 6.18).
 * RSL_OK; RSL_EUNAVAIL when this process may not (not root, no BPF) or
 * the kernel lacks the event; RSL_ESYS otherwise; err says why. 2 to 4
 * ms measured here, most of it the attach. */
RSL_API int rsl_trace_open(struct rsl_trace **out, char *err, size_t errlen);
/* For a process that forks many readers (the runner's file servers): load
 * the program and attach it once, here. From then on rsl_trace_open, in
 * this process and in every child forked after this call, makes only a
 * ring of its own (no program to load or detach), which the shared
 * program feeds once
 * rsl_trace_ports has given its ports. Ports are routed in slots of 200
 * (20000-20199, ...), a range covers the slots it touches, and two
 * readers must not hold the same slot (the sandbox's port slices are
 * slots of their own, taken machine-wide). RSL_OK, or as rsl_trace_open;
 * the program lives until this process and its children have exited. */
RSL_API int rsl_trace_share(char *err, size_t errlen);
/* Keep only the events with a port in [lo, hi] (source or destination),
 * dropped in the kernel otherwise, so that RSTs elsewhere on the machine
 * cannot fill t's ring; 0, 0 keeps every event (the default). RSL_OK,
 * RSL_EINVAL for a bad range. */
RSL_API int rsl_trace_ports(struct rsl_trace *t, int lo, int hi);
/* (A reader of a shared program gets no event before this call; 0, 0
 * then loads a program of its own, as without sharing.) */
/* The ring's fd, owned by t: readable (epoll, poll) when events wait. */
RSL_API int rsl_trace_fd(const struct rsl_trace *t);
/* Take what the ring holds now: RSL_OK, or RSL_ESYS with the reason in
 * rsl_trace_error (owned by t, valid until its next call). */
RSL_API int rsl_trace_drain(struct rsl_trace *t);
RSL_API const char *rsl_trace_error(const struct rsl_trace *t);
RSL_API size_t rsl_trace_count(const struct rsl_trace *t);
/* Events lost: the ring was full between two drains, or the kernel
 * skipped the program because it was running already on that CPU (a
 * timer's RST in a softirq that interrupted the program's run for another
 * RST; counted by the kernel as the program's recursion misses, for any
 * RST on the machine). After a loss, a match by count or by absence is no
 * longer certain. */
RSL_API uint64_t rsl_trace_lost(const struct rsl_trace *t);
/* Event i (0-based, i < count). Owned by t, valid until the next
 * rsl_trace_drain or rsl_trace_close (storing more events may move it). */
RSL_API const struct rsl_rst_event *rsl_trace_event(const struct rsl_trace *t, size_t i);
/* Stop reading and free t (NULL is fine). */
RSL_API void rsl_trace_close(struct rsl_trace *t);

/* ---- hosts: network namespaces held by file descriptor ---------------- */

/* A host is a network namespace known by an fd. Every function below that
 * takes an nsfd runs in that namespace (setns there and back; -1 means the
 * calling thread's current one) and leaves the caller where it was. The
 * namespaces are anonymous (nothing in /run/netns): one disappears, with
 * its interfaces and firewall rules, when its last fd and last socket are
 * gone, so a process that dies (even by SIGKILL) takes its hosts along.
 * err receives a sentence on failure. */

/* A new network namespace, created without leaving the calling thread's:
 * lo up, and the same ephemeral port slice as the sandbox (so RST reasons
 * can still be attributed). *out is its fd; the caller closes it. */
RSL_API int rsl_netns_new(int *out, char *err, size_t errlen);
/* Move the calling thread into nsfd (-1: stay where it is). *saved is an
 * fd of the namespace it left (-1 when it stayed), owned by the pair:
 * always give it to rsl_netns_leave, which closes it. On failure the
 * thread has not moved and *saved is -1. */
RSL_API int rsl_netns_enter(int nsfd, int *saved, char *err, size_t errlen);
/* Return to the namespace rsl_netns_enter left and close saved (no-op for
 * saved -1). RSL_ESYS when the thread could not go back: it is then still
 * in the other namespace, and every socket it makes would be born there. */
RSL_API int rsl_netns_leave(int saved, char *err, size_t errlen);
/* The namespace's inode number (what /proc/PID/ns/net links to). */
RSL_API int rsl_netns_inode(int nsfd, unsigned long *ino, char *err, size_t errlen);
/* Read (value NULL) or write a sysctl of the namespace: "net.ipv4.x" or
 * "net/ipv4/x". The current value (after a write) goes to out. Only net.*
 * sysctls that exist inside a network namespace are accepted; for any
 * other, RSL_EINVAL with a sentence saying why. */
RSL_API int rsl_netns_sysctl(int nsfd, const char *name, const char *value,
                             char *out, size_t outlen, char *err, size_t errlen);
/* Destroy every TCP socket of the namespace (sock_diag SOCK_DESTROY):
 * established, listening, orphaned, TIME_WAIT and request sockets alike.
 * Sockets with an fd stay open but dead (reads fail with ECONNABORTED).
 * What the kernel sends meanwhile (RSTs) goes out as usual, so silence the
 * host first (rsl_nft) when nothing must reach the wire. *killed counts
 * the sockets destroyed; RSL_EUNAVAIL when the kernel lacks
 * CONFIG_INET_DIAG_DESTROY. */
RSL_API int rsl_netns_kill_tcp(int nsfd, size_t *killed, char *err, size_t errlen);
/* The same for the TCP sockets whose local end is local and whose remote
 * end is remote (NULL: any), as `ss -K` does: an established one sends a
 * RST and its owner's next call fails with ECONNABORTED. */
RSL_API int rsl_netns_destroy_tcp(int nsfd, const struct rsl_addr *local,
                                  const struct rsl_addr *remote, size_t *killed, char *err,
                                  size_t errlen);

/* One counter of a namespace's SNMP statistics: its MIB ("Tcp" from
 * /proc/net/snmp, "TcpExt" from /proc/net/netstat) and the kernel's name. */
struct rsl_counter {
	char group[16];  /* "Tcp" or "TcpExt" */
	char name[64];   /* as the kernel spells it: "TCPAbortOnClose" */
	int64_t value;   /* signed: Tcp's MaxConn is -1 */
};
/* The TCP counters of the namespace (the Tcp and TcpExt MIBs), read inside
 * it: they are per network namespace and start at 0 in a new one. *out is
 * an array of *n counters in the kernel's order (Tcp first); the caller
 * frees it with free(). RSL_EMALFORMED when the files do not read as the
 * kernel writes them. */
RSL_API int rsl_netns_counters(int nsfd, struct rsl_counter **out, size_t *n, char *err,
                               size_t errlen);
/* Parse the MIB `group` out of text in the form of /proc/net/snmp and
 * /proc/net/netstat (a line "Group: name name ..." followed by a line
 * "Group: value value ..."), appending its counters to *v (realloc'd; *n
 * counts them; start with NULL and 0, free *v with free() on every path).
 * RSL_EMALFORMED when the group is missing, its lines disagree or a value
 * is not a number. */
RSL_API int rsl_netns_parse_counters(const char *text, const char *group,
                                     struct rsl_counter **v, size_t *n, char *err,
                                     size_t errlen);

/* ---- links: veth pairs between hosts (libnl-route-3) ---------------- */

/* A veth pair: end if_a in nsfd_a, end if_b in nsfd_b, both down. */
RSL_API int rsl_link_veth(int nsfd_a, const char *if_a, int nsfd_b, const char *if_b,
                          char *err, size_t errlen);
/* Add an address ("10.0.0.1/24", "fd00::1/64") to ifname; IPv6 ones skip
 * duplicate address detection, so they are usable at once. */
RSL_API int rsl_link_addr(int nsfd, const char *ifname, const char *cidr,
                          char *err, size_t errlen);
/* Bring ifname up (or down). */
RSL_API int rsl_link_set_up(int nsfd, const char *ifname, bool up, char *err, size_t errlen);
/* Wait (at most timeout seconds, on netlink events, not by polling) until
 * ifname's operational state is UP: from then on the kernel transmits on
 * it. RSL_EAGAIN when the time ran out. */
RSL_API int rsl_link_wait_up(int nsfd, const char *ifname, double timeout,
                             char *err, size_t errlen);
/* Add a route: dst "10.0.2.0/24" or "default" (IPv4; "default6" for
 * IPv6) via a gateway address. */
RSL_API int rsl_link_route(int nsfd, const char *dst, const char *via,
                           char *err, size_t errlen);

/* ---- firewall rules of a host (libnftables) -------------------------- */

/* An nftables context bound to a host's namespace (nsfd is duplicated:
 * the caller keeps its own). Caller frees with rsl_nft_close. */
struct rsl_nft;
RSL_API int rsl_nft_open(int nsfd, struct rsl_nft **out, char *err, size_t errlen);
/* Run nft commands (the text nft -f takes) in the host's namespace; the
 * echo of what was added, with handles, is kept for rsl_nft_output.
 * RSL_EINVAL with the error text (rsl_nft_error) when nft refused. */
RSL_API int rsl_nft_run(struct rsl_nft *n, const char *cmds);
/* Owned by n, valid until the next rsl_nft_run or rsl_nft_close. */
RSL_API const char *rsl_nft_output(const struct rsl_nft *n);
/* The last failure's message; owned by n, valid until its next call. */
RSL_API const char *rsl_nft_error(const struct rsl_nft *n);
RSL_API void rsl_nft_close(struct rsl_nft *n);

/* ---- the scenario sandbox -------------------------------------------- */

/* Move the calling process into a fresh network namespace (with a user
 * namespace when not root: the process must be single-threaded), bring lo
 * up and give it a private slice of ephemeral ports (see the process-wide
 * effects above: the slot stays taken until the process exits). Meant for
 * a forked child, before anything else. err holds the reason on failure;
 * a slice that cannot be had is not a failure (rsl_sandbox_ports says 0). */
RSL_API int rsl_sandbox_enter(char *err, size_t errlen);
/* For a process that forks many sandboxes: do the part of
 * rsl_sandbox_enter that they can share once, here (a network namespace
 * of this process's own, a user namespace when not root, the request for
 * small TCP tables in its children). A child forked afterwards then
 * enters its own with one unshare instead of two. The calling process
 * stays in that namespace; it is no scenario's. */
RSL_API int rsl_sandbox_prepare(char *err, size_t errlen);
/* The slice of ports this process holds: [*lo, *hi]; 0, 0 for none. */
RSL_API void rsl_sandbox_ports(int *lo, int *hi);

#ifdef __cplusplus
}
#endif
#endif
