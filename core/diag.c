/*
 * Socket diagnostics: the TCP sockets the kernel keeps in the calling
 * thread's network namespace, listed through netlink sock_diag (what `ss`
 * uses), and the names of the kernel's TCP states.
 *
 * A scenario asks "is the closer's socket in TIME_WAIT?" or "did the
 * crashed host keep anything?"; those sockets often have no file descriptor
 * any more (TIME_WAIT, orphans after close), so only the kernel's own table
 * can answer. A netlink socket belongs to the namespace it was created in,
 * so one is opened per call, in whichever namespace the caller has entered,
 * and closed before returning.
 */
#include "internal.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The kernel's TCP state numbers (include/net/tcp_states.h). They are ABI:
 * sock_diag and the tracepoint both report them. Written out here because
 * glibc's <netinet/tcp.h> lacks TCP_NEW_SYN_RECV. */
static const char *const state_names[] = {
	[1] = "ESTABLISHED",
	[2] = "SYN_SENT",
	[3] = "SYN_RECV",
	[4] = "FIN_WAIT1",
	[5] = "FIN_WAIT2",
	[6] = "TIME_WAIT",
	[7] = "CLOSE",
	[8] = "CLOSE_WAIT",
	[9] = "LAST_ACK",
	[10] = "LISTEN",
	[11] = "CLOSING",
	[12] = "NEW_SYN_RECV",
	[13] = "BOUND_INACTIVE",        /* which to list: bound, neither listening nor
	                                   connecting (each listed as CLOSE) */
};
/* "All" (~0u) is every state but BOUND_INACTIVE, as ss lists them: the
 * kernel finds bound-only sockets by walking the machine's whole bind
 * table (65536 buckets here, 0.6 ms a listing against 0.04 ms without),
 * whatever the namespace. Asked for by its bit, it is listed. */
#define ALL_BUT_BOUND (~0u & ~(1u << 13))
#define NSTATES (sizeof state_names / sizeof state_names[0])

const char *rsl_tcp_state_name(int state)
{
	if (state <= 0 || (size_t)state >= NSTATES)
		return NULL;
	return state_names[state];
}

int rsl_tcp_state_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	/* The tracepoint prints "TCP_TIME_WAIT", ss and scripts say
	 * "TIME_WAIT": accept both spellings of the same state. */
	if (strncmp(name, "TCP_", 4) == 0)
		name += 4;
	for (size_t i = 1; i < NSTATES; i++)
		if (strcmp(name, state_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Big enough for any dump datagram: the kernel sizes them by the largest
 * receive buffer it has seen, capped at 32 KiB. A datagram still cut short
 * is reported (MSG_TRUNC), never half-parsed. */
#define RECV_BUF 32768

struct list {
	struct rsl_sockdiag *v;
	size_t n, cap;
};

static int list_push(struct list *l, const struct inet_diag_msg *m)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct rsl_sockdiag *v = realloc(l->v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	struct rsl_sockdiag *d = &l->v[l->n++];
	memset(d, 0, sizeof *d);
	d->family = m->idiag_family;
	/* idiag_src/dst are four big-endian words; IPv4 uses the first one,
	 * which is also where struct rsl_sockdiag keeps IPv4 addresses. */
	size_t alen = m->idiag_family == AF_INET6 ? 16 : 4;
	memcpy(d->src, m->id.idiag_src, alen);
	memcpy(d->dst, m->id.idiag_dst, alen);
	d->sport = ntohs(m->id.idiag_sport);
	d->dport = ntohs(m->id.idiag_dport);
	d->state = m->idiag_state;
	d->rqueue = m->idiag_rqueue;
	d->wqueue = m->idiag_wqueue;
	d->inode = m->idiag_inode;
	d->timer = m->idiag_timer;
	d->expires_ms = m->idiag_expires;
	d->retrans = m->idiag_retrans;
	return 0;
}

#define seterr rsl_format_error

static const char *family_name(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

static int send_dump(int fd, int family, uint32_t state_mask, uint32_t seq)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	memset(&msg, 0, sizeof msg);
	msg.nlh.nlmsg_len = sizeof msg;
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	msg.nlh.nlmsg_seq = seq;
	msg.req.sdiag_family = (uint8_t)family;
	msg.req.sdiag_protocol = IPPROTO_TCP;
	msg.req.idiag_states = state_mask;
	/* id left zero with no bytecode filter: every socket of the family */
	for (;;) {
		ssize_t n = sendto(fd, &msg, sizeof msg, 0, (struct sockaddr *)&kernel,
		                   sizeof kernel);
		if (n == (ssize_t)sizeof msg)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n >= 0)
			errno = EIO;
		return -1;
	}
}

/* Read the replies to one dump request until NLMSG_DONE. Returns RSL_OK,
 * or an RSL_E* code with err filled. A family the kernel has no sock_diag
 * handler for (IPv6 compiled out or disabled) answers ENOENT: it has no
 * sockets to list, so that is an empty answer, not a failure. */
static int recv_dump(int fd, int family, uint32_t seq, char *buf, struct list *l,
                     char *err, size_t errlen)
{
	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = { .iov_base = buf, .iov_len = RECV_BUF };
		struct msghdr mh = {
			.msg_name = &from, .msg_namelen = sizeof from,
			.msg_iov = &iov, .msg_iovlen = 1,
		};
		ssize_t len = recvmsg(fd, &mh, 0);
		if (len < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			seterr(err, errlen, "receiving the %s dump: %s",
			       family_name(family), strerror(e));
			return RSL_ESYS;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			seterr(err, errlen, "%s dump message larger than %d bytes",
			       family_name(family), RECV_BUF);
			return RSL_EMALFORMED;
		}
		if (len == 0) {
			seterr(err, errlen, "%s dump ended without NLMSG_DONE",
			       family_name(family));
			return RSL_EMALFORMED;
		}
		/* Only the kernel (port id 0) speaks for the kernel. */
		if (from.nl_pid != 0)
			continue;

		size_t left = (size_t)len;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left);
		     h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != seq)
				continue; /* a stray reply to an earlier request */
			if (h->nlmsg_type == NLMSG_DONE) {
				/* A dump may end with its error in the DONE payload. */
				int e = 0;
				if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
					memcpy(&e, NLMSG_DATA(h), sizeof e);
				if (e < 0 && !(e == -ENOENT && family == AF_INET6)) {
					seterr(err, errlen, "%s dump failed: %s",
					       family_name(family), strerror(-e));
					return RSL_ESYS;
				}
				return RSL_OK;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *ne = NLMSG_DATA(h);
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof *ne)) {
					seterr(err, errlen, "short NLMSG_ERROR");
					return RSL_EMALFORMED;
				}
				if (ne->error == 0)
					continue; /* an acknowledgement; the dump goes on */
				if (ne->error == -ENOENT && family == AF_INET6)
					return RSL_OK;
				seterr(err, errlen, "%s dump refused: %s",
				       family_name(family), strerror(-ne->error));
				return -ne->error == ENOENT || -ne->error == EOPNOTSUPP
				       ? RSL_EUNAVAIL : RSL_ESYS;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
				continue;
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
				seterr(err, errlen, "short inet_diag_msg (%u bytes)",
				       (unsigned)h->nlmsg_len);
				return RSL_EMALFORMED;
			}
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
				continue;
			if (list_push(l, m) < 0) {
				seterr(err, errlen, "out of memory");
				return RSL_ESYS;
			}
		}
		/* Netlink never splits a message across datagrams: bytes left
		 * over that do not make a whole header mean a broken reply. */
		if (left != 0) {
			seterr(err, errlen, "%zu stray bytes at the end of a "
			       "%s dump datagram", left, family_name(family));
			return RSL_EMALFORMED;
		}
	}
}

int rsl_diag_list(uint32_t state_mask, struct rsl_sockdiag **out, size_t *n,
                  char *err, size_t errlen)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct list l = { 0 };
	char *buf = NULL;
	int fd = -1;
	int rc;

	if (out == NULL || n == NULL) {
		seterr(err, errlen, "out and n must not be NULL");
		return RSL_EINVAL;
	}
	*out = NULL;
	*n = 0;
	if (state_mask == ~0u)
		state_mask = ALL_BUT_BOUND;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0) {
		int e = errno;
		seterr(err, errlen, "socket(NETLINK_SOCK_DIAG): %s",
		       strerror(e));
		rc = e == EPROTONOSUPPORT || e == EAFNOSUPPORT ? RSL_EUNAVAIL : RSL_ESYS;
		goto out;
	}
	buf = malloc(RECV_BUF);
	if (buf == NULL) {
		seterr(err, errlen, "out of memory");
		rc = RSL_ESYS;
		goto out;
	}
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
		uint32_t seq = (uint32_t)i + 1;
		if (send_dump(fd, families[i], state_mask, seq) < 0) {
			seterr(err, errlen, "sending the %s dump request: %s",
			       family_name(families[i]), strerror(errno));
			rc = RSL_ESYS;
			goto out;
		}
		rc = recv_dump(fd, families[i], seq, buf, &l, err, errlen);
		if (rc != RSL_OK)
			goto out;
	}
	*out = l.v;
	*n = l.n;
	l.v = NULL;
	rc = RSL_OK;
out:
	free(l.v);
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}
