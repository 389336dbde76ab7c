/*
 * TCP sockets and their options by name.
 *
 * A socket is non-blocking unless made blocking (rsl_sock_set_blocking).
 * On a non-blocking one this layer does not wait: a call that would block
 * says RSL_EAGAIN (the errno, EAGAIN or EINPROGRESS, kept) and the caller
 * (the Lua scheduler, or an embedder) waits on the fd. On a blocking one
 * the calls block as a blocking program's do; the Lua side makes them in a
 * worker thread (worker.c) through the prepare/run/apply split below.
 * Results are the kernel's: a recv() that returned 0 is reported as 0,
 * also after a reset was reported to an earlier call. It never reads
 * ahead: rsl_sock_read takes at most what was asked from the kernel, because
 * bytes left unread in the receive queue are what turns a close() into a
 * RST, and a scenario must be able to show that.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* the full struct tcp_info; glibc's is older */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

struct rsl_sock {
	int fd;                 /* -1 when closed */
	int family;
	bool blocking;          /* no O_NONBLOCK: calls block (in a worker) */
	int err;                /* errno of the last failure */
	int reported;           /* the last error that ends a connection reported
	                           to a call (ECONNRESET...): only a hint for
	                           the message of a later EOF, never a result */
	struct rsl_addr local;  /* remembered, see rsl_sock_local */
	struct rsl_addr peer;
	char errbuf[RSL_ERRLEN];
};

/* Errors after which the kernel has no connection any more. It reports
 * such an error once, to whichever call comes first; then recv() returns
 * 0. That 0 stays 0 (EOF): this list only lets its message say so. */
static bool ends_connection(int err)
{
	switch (err) {
	case ECONNRESET: case ETIMEDOUT: case ECONNABORTED: case ECONNREFUSED:
	case EHOSTUNREACH: case ENETUNREACH:
		return true;
	default:
		return false;
	}
}

/* Fail with the errno already saved in s->err. */
static int fail(struct rsl_sock *s, const char *what)
{
	if (ends_connection(s->err))
		s->reported = s->err;
	rsl_format_error(s->errbuf, sizeof s->errbuf, "%s: %s", what, strerror(s->err));
	return RSL_ESYS;
}
#define FAIL(s, what) (((s)->err = errno), fail((s), (what)))

/* Would block: not a failure, but the errno is kept (a raw call shows it). */
static int would_block(struct rsl_sock *s, int err, const char *what)
{
	s->err = err;
	rsl_format_error(s->errbuf, sizeof s->errbuf, "%s: %s", what, strerror(err));
	return RSL_EAGAIN;
}

static int check_open(struct rsl_sock *s)
{
	if (s->fd >= 0)
		return RSL_OK;
	s->err = EBADF;
	rsl_format_error(s->errbuf, sizeof s->errbuf, "the socket is closed");
	return RSL_ECLOSED;
}

static socklen_t to_sockaddr(const struct rsl_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		sin6->sin6_scope_id = a->scope_id;
		memcpy(&sin6->sin6_addr, a->ip, 16);
		return sizeof *sin6;
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(a->port);
	memcpy(&sin->sin_addr, a->ip, 4);
	return sizeof *sin;
}

static void from_sockaddr(const struct sockaddr_storage *ss, struct rsl_addr *a)
{
	memset(a, 0, sizeof *a);
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		a->family = AF_INET6;
		a->port = ntohs(sin6->sin6_port);
		a->scope_id = sin6->sin6_scope_id;
		memcpy(a->ip, &sin6->sin6_addr, 16);
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		a->family = AF_INET;
		a->port = ntohs(sin->sin_port);
		memcpy(a->ip, &sin->sin_addr, 4);
	}
}

static void learn_local(struct rsl_sock *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(s->fd, (struct sockaddr *)&ss, &len) == 0)
		from_sockaddr(&ss, &s->local);
}

struct rsl_sock *rsl_sock_new(void)
{
	struct rsl_sock *s = calloc(1, sizeof *s);
	if (s != NULL)
		s->fd = -1;
	return s;
}

int rsl_sock_open(struct rsl_sock *s, int family)
{
	if (s->fd >= 0) {
		s->err = EISCONN;
		rsl_set_error(s->errbuf, "the socket is already open");
		return RSL_EINVAL;
	}
	s->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (s->fd < 0)
		return FAIL(s, "socket");
	s->family = family;
	s->blocking = false;
	return RSL_OK;
}

int rsl_sock_set_blocking(struct rsl_sock *s, bool blocking)
{
	int rc = check_open(s);
	if (rc != RSL_OK)
		return rc;
	int fl = fcntl(s->fd, F_GETFL);
	if (fl < 0)
		return FAIL(s, "fcntl(F_GETFL)");
	fl = blocking ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK);
	if (fcntl(s->fd, F_SETFL, fl) < 0)
		return FAIL(s, "fcntl(F_SETFL)");
	s->blocking = blocking;
	return RSL_OK;
}

bool rsl_sock_blocking(const struct rsl_sock *s) { return s->blocking; }

int rsl_sock_bind(struct rsl_sock *s, const struct rsl_addr *a)
{
	struct sockaddr_storage ss;
	int rc = check_open(s);
	if (rc != RSL_OK)
		return rc;
	if (bind(s->fd, (struct sockaddr *)&ss, to_sockaddr(a, &ss)) < 0)
		return FAIL(s, "bind");
	learn_local(s);
	return RSL_OK;
}

int rsl_sock_listen(struct rsl_sock *s, int backlog)
{
	int rc = check_open(s);
	if (rc != RSL_OK)
		return rc;
	if (listen(s->fd, backlog) < 0)
		return FAIL(s, "listen");
	learn_local(s);
	return RSL_OK;
}

/* ---- the calls that may block: prepare, run (any thread), apply ------- */

void rsl_sock_call_prepare(struct rsl_sock *s, struct rsl_sock_call *c, enum rsl_sock_op op,
                           const struct rsl_addr *to, void *buf, size_t len)
{
	memset(c, 0, sizeof *c);
	c->op = op;
	c->fd = s->fd;
	c->buf = buf;
	c->len = len;
	switch (op) {
	case RSL_CALL_CONNECT:
		s->peer = *to;
		c->addrlen = to_sockaddr(to, &c->addr);
		break;
	case RSL_CALL_ACCEPT:
		/* A blocking program's listener hands out blocking sockets. */
		c->flags = SOCK_CLOEXEC | (s->blocking ? 0 : SOCK_NONBLOCK);
		c->addrlen = sizeof c->addr;
		break;
	case RSL_CALL_RECV:
		c->flags = s->blocking ? 0 : MSG_DONTWAIT;
		break;
	case RSL_CALL_SEND:
		c->flags = MSG_NOSIGNAL | (s->blocking ? 0 : MSG_DONTWAIT);
		break;
	case RSL_CALL_CLOSE:
		s->fd = -1;
		break;
	}
}

void rsl_sock_call_run(struct rsl_sock_call *c)
{
	double t0 = rsl_now();
	socklen_t alen = c->addrlen;
	switch (c->op) {
	case RSL_CALL_CONNECT:
		c->ret = connect(c->fd, (struct sockaddr *)&c->addr, alen);
		break;
	case RSL_CALL_ACCEPT:
		c->ret = accept4(c->fd, (struct sockaddr *)&c->addr, &alen, c->flags);
		c->addrlen = alen;
		break;
	case RSL_CALL_RECV:
		c->ret = recv(c->fd, c->buf, c->len, c->flags);
		break;
	case RSL_CALL_SEND:
		c->ret = send(c->fd, c->buf, c->len, c->flags);
		break;
	case RSL_CALL_CLOSE:
		c->ret = close(c->fd);
		break;
	}
	c->err = c->ret < 0 ? errno : 0;
	c->seconds = rsl_now() - t0;
}

static const char *const call_names[] = {
	[RSL_CALL_CONNECT] = "connect", [RSL_CALL_ACCEPT] = "accept",
	[RSL_CALL_RECV] = "recv", [RSL_CALL_SEND] = "send", [RSL_CALL_CLOSE] = "close",
};

int rsl_sock_call_apply(struct rsl_sock *s, struct rsl_sock_call *c, struct rsl_sock *out)
{
	const char *what = call_names[c->op];
	if (c->ret < 0) {
		if (c->err == EAGAIN || c->err == EWOULDBLOCK)
			return would_block(s, c->err, what);
		if (c->op == RSL_CALL_CONNECT && c->err == EINPROGRESS) {
			/* The SYN is out: the ephemeral port is bound now, and
			 * later (after a RST) getsockname would no longer tell it. */
			learn_local(s);
			return would_block(s, c->err, what);
		}
		s->err = c->err;
		return fail(s, what);
	}
	if (c->op == RSL_CALL_CONNECT) {
		learn_local(s);
	} else if (c->op == RSL_CALL_ACCEPT) {
		if (out == NULL) { /* an accept needs somewhere to put its socket */
			close((int)c->ret);
			s->err = EINVAL;
			return fail(s, what);
		}
		out->fd = (int)c->ret;
		out->family = s->family;
		out->blocking = s->blocking;
		from_sockaddr(&c->addr, &out->peer);
		learn_local(out);
	}
	return RSL_OK;
}

/* One call on the calling thread: what a non-blocking socket does on the
 * loop (a blocking one blocks here). */
static int call_now(struct rsl_sock *s, struct rsl_sock_call *c, enum rsl_sock_op op,
                    const struct rsl_addr *to, void *buf, size_t len, struct rsl_sock *out)
{
	int rc = check_open(s);
	if (rc != RSL_OK)
		return rc;
	rsl_sock_call_prepare(s, c, op, to, buf, len);
	rsl_sock_call_run(c);
	return rsl_sock_call_apply(s, c, out);
}

int rsl_sock_connect(struct rsl_sock *s, const struct rsl_addr *a)
{
	struct rsl_sock_call c;
	return call_now(s, &c, RSL_CALL_CONNECT, a, NULL, 0, NULL);
}

int rsl_sock_so_error(struct rsl_sock *s, int *err)
{
	socklen_t len = sizeof *err;
	int rc = check_open(s);
	*err = 0;
	if (rc != RSL_OK)
		return rc;
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, err, &len) < 0)
		return FAIL(s, "getsockopt(SO_ERROR)");
	return RSL_OK;
}

int rsl_sock_connect_finish(struct rsl_sock *s)
{
	int soerr = 0;
	int rc = rsl_sock_so_error(s, &soerr);
	if (rc != RSL_OK)
		return rc;
	if (soerr != 0) {
		s->err = soerr;
		return fail(s, "connect");
	}
	learn_local(s);
	return RSL_OK;
}

int rsl_sock_accept(struct rsl_sock *s, struct rsl_sock *out)
{
	struct rsl_sock_call c;
	return call_now(s, &c, RSL_CALL_ACCEPT, NULL, NULL, 0, out);
}

int rsl_sock_read(struct rsl_sock *s, void *buf, size_t n, size_t *got)
{
	struct rsl_sock_call c;
	int rc = call_now(s, &c, RSL_CALL_RECV, NULL, buf, n, NULL);
	*got = rc == RSL_OK ? (size_t)c.ret : 0;
	return rc;
}

int rsl_sock_write(struct rsl_sock *s, const void *buf, size_t n, size_t *put)
{
	struct rsl_sock_call c;
	int rc = call_now(s, &c, RSL_CALL_SEND, NULL, (void *)buf, n, NULL);
	*put = rc == RSL_OK ? (size_t)c.ret : 0;
	return rc;
}

int rsl_sock_shutdown(struct rsl_sock *s, int how)
{
	int rc = check_open(s);
	if (rc != RSL_OK)
		return rc;
	if (shutdown(s->fd, how) < 0)
		return FAIL(s, "shutdown");
	return RSL_OK;
}

int rsl_sock_disconnect(struct rsl_sock *s)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };
	int rc = check_open(s);
	if (rc != RSL_OK)
		return rc;
	if (connect(s->fd, &sa, sizeof sa) < 0)
		return FAIL(s, "connect(AF_UNSPEC)");
	return RSL_OK;
}

int rsl_sock_close(struct rsl_sock *s)
{
	struct rsl_sock_call c;
	if (s == NULL || s->fd < 0)
		return RSL_OK;
	rsl_sock_call_prepare(s, &c, RSL_CALL_CLOSE, NULL, NULL, 0);
	rsl_sock_call_run(&c);
	return rsl_sock_call_apply(s, &c, NULL);
}

int rsl_sock_take_fd(struct rsl_sock *s)
{
	int fd = s->fd;
	s->fd = -1;
	return fd;
}

void rsl_sock_free(struct rsl_sock *s)
{
	rsl_sock_close(s);
	free(s);
}

int rsl_sock_reported(const struct rsl_sock *s) { return s->reported; }
int rsl_sock_fd(const struct rsl_sock *s) { return s->fd; }
int rsl_sock_family(const struct rsl_sock *s) { return s->family; }
int rsl_sock_errno(const struct rsl_sock *s) { return s->err; }
const char *rsl_sock_error(const struct rsl_sock *s) { return s->errbuf; }
const struct rsl_addr *rsl_sock_local(const struct rsl_sock *s) { return &s->local; }
const struct rsl_addr *rsl_sock_peer(const struct rsl_sock *s) { return &s->peer; }

int rsl_sock_pending(struct rsl_sock *s, int *n)
{
	int rc = check_open(s);
	if (rc != RSL_OK)
		return rc;
	if (ioctl(s->fd, FIONREAD, n) < 0)
		return FAIL(s, "ioctl(FIONREAD)");
	return RSL_OK;
}

/* ---- options --------------------------------------------------------- */

struct option {
	const char *name;
	int level, opt;         /* level -1: IPPROTO_IP or IPV6 by family */
	enum rsl_optkind kind;
};

static const struct option options[] = {
	{ "linger", SOL_SOCKET, SO_LINGER, RSL_OPT_LINGER },
	{ "reuseaddr", SOL_SOCKET, SO_REUSEADDR, RSL_OPT_BOOL },
	{ "reuseport", SOL_SOCKET, SO_REUSEPORT, RSL_OPT_BOOL },
	{ "rcvbuf", SOL_SOCKET, SO_RCVBUF, RSL_OPT_INT },
	{ "sndbuf", SOL_SOCKET, SO_SNDBUF, RSL_OPT_INT },
	{ "keepalive", SOL_SOCKET, SO_KEEPALIVE, RSL_OPT_BOOL },
	{ "nodelay", IPPROTO_TCP, TCP_NODELAY, RSL_OPT_BOOL },
	{ "keepidle", IPPROTO_TCP, TCP_KEEPIDLE, RSL_OPT_INT },
	{ "keepintvl", IPPROTO_TCP, TCP_KEEPINTVL, RSL_OPT_INT },
	{ "keepcnt", IPPROTO_TCP, TCP_KEEPCNT, RSL_OPT_INT },
	{ "user_timeout", IPPROTO_TCP, TCP_USER_TIMEOUT, RSL_OPT_MSEC },
	{ "quickack", IPPROTO_TCP, TCP_QUICKACK, RSL_OPT_BOOL },
	{ "maxseg", IPPROTO_TCP, TCP_MAXSEG, RSL_OPT_INT },
	{ "cork", IPPROTO_TCP, TCP_CORK, RSL_OPT_BOOL },
	{ "notsent_lowat", IPPROTO_TCP, TCP_NOTSENT_LOWAT, RSL_OPT_INT },
	{ "ttl", -1, 0, RSL_OPT_INT },
	{ "v6only", IPPROTO_IPV6, IPV6_V6ONLY, RSL_OPT_BOOL },
	{ "linger2", IPPROTO_TCP, TCP_LINGER2, RSL_OPT_SINT },
};
#define NOPTIONS (sizeof options / sizeof options[0])

static const struct option *find_option(const char *name)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

int rsl_sock_option_kind(const char *name)
{
	const struct option *o = find_option(name);
	return o ? (int)o->kind : -1;
}

const char *const *rsl_sock_option_names(void)
{
	static const char *names[NOPTIONS + 1];
	for (size_t i = 0; i < NOPTIONS; i++)
		names[i] = options[i].name;
	names[NOPTIONS] = NULL;
	return names;
}

static void resolve(const struct rsl_sock *s, const struct option *o, int *level, int *opt)
{
	*level = o->level;
	*opt = o->opt;
	if (o->level == -1) { /* ttl */
		*level = s->family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
		*opt = s->family == AF_INET6 ? IPV6_UNICAST_HOPS : IP_TTL;
	}
}

int rsl_sock_set(struct rsl_sock *s, const char *name, const struct rsl_optval *v)
{
	const struct option *o = find_option(name);
	int level, opt, rc = check_open(s);
	char what[64];
	if (rc != RSL_OK)
		return rc;
	if (o == NULL) {
		s->err = ENOPROTOOPT;
		rsl_set_error(s->errbuf, "unknown socket option '%s'", name);
		return RSL_EINVAL;
	}
	resolve(s, o, &level, &opt);
	snprintf(what, sizeof what, "setsockopt(%s)", name);
	if (o->kind == RSL_OPT_LINGER) {
		struct linger l = { .l_onoff = v->on ? 1 : 0, .l_linger = (int)v->i };
		if (setsockopt(s->fd, level, opt, &l, sizeof l) < 0)
			return FAIL(s, what);
		return RSL_OK;
	}
	if (v->i < INT32_MIN || v->i > INT32_MAX) {
		s->err = EINVAL;
		rsl_set_error(s->errbuf, "value %ld out of range for '%s'", v->i, name);
		return RSL_EINVAL;
	}
	int val = (int)v->i;
	if (setsockopt(s->fd, level, opt, &val, sizeof val) < 0)
		return FAIL(s, what);
	return RSL_OK;
}

int rsl_sock_get(struct rsl_sock *s, const char *name, struct rsl_optval *v)
{
	const struct option *o = find_option(name);
	int level, opt, rc = check_open(s);
	char what[64];
	if (rc != RSL_OK)
		return rc;
	if (o == NULL) {
		s->err = ENOPROTOOPT;
		rsl_set_error(s->errbuf, "unknown socket option '%s'", name);
		return RSL_EINVAL;
	}
	resolve(s, o, &level, &opt);
	snprintf(what, sizeof what, "getsockopt(%s)", name);
	memset(v, 0, sizeof *v);
	if (o->kind == RSL_OPT_LINGER) {
		struct linger l;
		socklen_t len = sizeof l;
		if (getsockopt(s->fd, level, opt, &l, &len) < 0)
			return FAIL(s, what);
		v->on = l.l_onoff;
		v->i = l.l_linger;
		return RSL_OK;
	}
	int val = 0;
	socklen_t len = sizeof val;
	if (getsockopt(s->fd, level, opt, &val, &len) < 0)
		return FAIL(s, what);
	v->i = val;
	v->on = val != 0;
	return RSL_OK;
}

int rsl_sock_tcp_info(struct rsl_sock *s, struct rsl_tcpinfo *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	int rc = check_open(s);
	if (rc != RSL_OK)
		return rc;
	memset(&ti, 0, sizeof ti);
	if (getsockopt(s->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return FAIL(s, "getsockopt(TCP_INFO)");
	memset(out, 0, sizeof *out);
	out->state = ti.tcpi_state;
	out->ca_state = ti.tcpi_ca_state;
	out->retransmits = ti.tcpi_retransmits;
	out->probes = ti.tcpi_probes;
	out->backoff = ti.tcpi_backoff;
	out->snd_wscale = ti.tcpi_snd_wscale;
	out->rcv_wscale = ti.tcpi_rcv_wscale;
	out->rto = ti.tcpi_rto / 1e6;
	out->ato = ti.tcpi_ato / 1e6;
	out->rtt = ti.tcpi_rtt / 1e6;
	out->rttvar = ti.tcpi_rttvar / 1e6;
	out->min_rtt = ti.tcpi_min_rtt / 1e6;
	out->snd_mss = ti.tcpi_snd_mss;
	out->rcv_mss = ti.tcpi_rcv_mss;
	out->unacked = ti.tcpi_unacked;
	out->sacked = ti.tcpi_sacked;
	out->lost = ti.tcpi_lost;
	out->retrans = ti.tcpi_retrans;
	out->pmtu = ti.tcpi_pmtu;
	out->snd_ssthresh = ti.tcpi_snd_ssthresh;
	out->snd_cwnd = ti.tcpi_snd_cwnd;
	out->advmss = ti.tcpi_advmss;
	out->reordering = ti.tcpi_reordering;
	out->rcv_space = ti.tcpi_rcv_space;
	out->total_retrans = ti.tcpi_total_retrans;
	out->segs_out = ti.tcpi_segs_out;
	out->segs_in = ti.tcpi_segs_in;
	out->snd_wnd = ti.tcpi_snd_wnd;
	out->bytes_acked = ti.tcpi_bytes_acked;
	out->bytes_received = ti.tcpi_bytes_received;
	out->bytes_sent = ti.tcpi_bytes_sent;
	out->bytes_retrans = ti.tcpi_bytes_retrans;
	out->last_data_sent = ti.tcpi_last_data_sent / 1e3;
	out->last_data_recv = ti.tcpi_last_data_recv / 1e3;
	out->last_ack_recv = ti.tcpi_last_ack_recv / 1e3;
	return RSL_OK;
}
