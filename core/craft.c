/*
 * Crafted segments: one TCP segment, with its IPv4 or IPv6 header, built
 * from the fields of a struct rsl_packet (the decoder's own description of
 * a segment, so that what is sent and what a capture decodes compare field
 * by field), and sent through a raw socket of a host's namespace.
 *
 * Half of the kernel's RST causes start from a segment no socket API
 * sends: an ACK for a connection that does not exist, a RST at a chosen
 * sequence number, a SYN on an established connection, a stale timestamp.
 * The raw socket (IPPROTO_RAW: the IP header is ours) sends it through the
 * host's own output path, so its captures see it like any other packet,
 * and nothing outside the scenario's namespaces does.
 *
 * Options are laid out as Linux lays out its own: MSS, SACK-permitted,
 * timestamps, window scale, then SACK blocks, each group padded with NOPs
 * to a 4-byte boundary.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IP4_HLEN 20
#define IP6_HLEN 40
#define TCP_HLEN 20
#define TCP_OPT_MAX 40

/* The one's-complement sum of len bytes, folded into sum. */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The options of p into o (at most TCP_OPT_MAX bytes): their length, or
 * -1 when they do not fit. */
static int options(const struct rsl_packet *p, uint8_t *o)
{
	int n = 0;
	if (p->mss >= 0) {
		o[n++] = 2;
		o[n++] = 4;
		put16(o + n, (uint16_t)p->mss);
		n += 2;
	}
	if (p->sack_ok && p->has_ts) {
		o[n++] = 4;     /* SACK-permitted, then the timestamps: 12 bytes */
		o[n++] = 2;
		o[n++] = 8;
		o[n++] = 10;
		put32(o + n, p->ts_val);
		put32(o + n + 4, p->ts_ecr);
		n += 8;
	} else {
		if (p->sack_ok) {
			o[n++] = 1;
			o[n++] = 1;
			o[n++] = 4;
			o[n++] = 2;
		}
		if (p->has_ts) {
			o[n++] = 1;
			o[n++] = 1;
			o[n++] = 8;
			o[n++] = 10;
			put32(o + n, p->ts_val);
			put32(o + n + 4, p->ts_ecr);
			n += 8;
		}
	}
	if (p->wscale >= 0) {
		o[n++] = 1;
		o[n++] = 3;
		o[n++] = 3;
		o[n++] = (uint8_t)p->wscale;
	}
	if (p->nsack > 0) {
		if (p->nsack > RSL_MAX_SACK || n + 4 + 8 * p->nsack > TCP_OPT_MAX)
			return -1;
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = 5;
		o[n++] = (uint8_t)(2 + 8 * p->nsack);
		for (int i = 0; i < p->nsack; i++, n += 8) {
			put32(o + n, p->sack[i][0]);
			put32(o + n + 4, p->sack[i][1]);
		}
	}
	return n <= TCP_OPT_MAX ? n : -1;
}

int rsl_craft_build(const struct rsl_packet *p, const uint8_t *payload, size_t plen,
                    uint8_t *buf, size_t cap, size_t *len, char *err, size_t errlen)
{
	uint8_t opt[TCP_OPT_MAX + 16];
	if (p->family != AF_INET && p->family != AF_INET6) {
		rsl_format_error(err, errlen, "a segment is IPv4 or IPv6");
		return RSL_EINVAL;
	}
	if (p->mss > 0xffff || p->wscale > 14 || (p->wscale < 0 && p->wscale != -1)) {
		rsl_format_error(err, errlen, "mss must be 0..65535 and wscale 0..14");
		return RSL_EINVAL;
	}
	int olen = options(p, opt);
	if (olen < 0) {
		rsl_format_error(err, errlen, "the TCP options do not fit in 40 bytes");
		return RSL_EINVAL;
	}
	size_t ip = p->family == AF_INET ? IP4_HLEN : IP6_HLEN;
	size_t thl = TCP_HLEN + (size_t)olen;
	size_t total = ip + thl + plen;
	if (total > 65535 || total > cap) {
		rsl_format_error(err, errlen, "a segment of %zu bytes is too long", total);
		return RSL_EINVAL;
	}
	memset(buf, 0, ip + thl);
	uint8_t *th = buf + ip;
	put16(th, p->sport);
	put16(th + 2, p->dport);
	put32(th + 4, p->seq);
	put32(th + 8, p->ack);
	th[12] = (uint8_t)((thl / 4) << 4);
	th[13] = p->flags;
	put16(th + 14, p->win);
	put16(th + 18, p->urg);
	memcpy(th + TCP_HLEN, opt, (size_t)olen);
	if (plen > 0)
		memcpy(th + thl, payload, plen);

	uint8_t ttl = p->ttl ? p->ttl : 64;
	uint32_t sum = 6 + (uint32_t)(thl + plen); /* pseudo header: protocol, length */
	if (p->family == AF_INET) {
		buf[0] = 0x45;
		put16(buf + 2, (uint16_t)total);
		put16(buf + 6, 0x4000); /* DF, as Linux sends TCP */
		buf[8] = ttl;
		buf[9] = IPPROTO_TCP;
		memcpy(buf + 12, p->src, 4);
		memcpy(buf + 16, p->dst, 4);
		put16(buf + 10, fold(sum16(buf, IP4_HLEN, 0)));
		sum = sum16(p->src, 4, sum16(p->dst, 4, sum));
	} else {
		buf[0] = 0x60;
		put16(buf + 4, (uint16_t)(thl + plen));
		buf[6] = IPPROTO_TCP;
		buf[7] = ttl;
		memcpy(buf + 8, p->src, 16);
		memcpy(buf + 24, p->dst, 16);
		sum = sum16(p->src, 16, sum16(p->dst, 16, sum));
	}
	put16(th + 16, fold(sum16(th, thl + plen, sum)));
	*len = total;
	return RSL_OK;
}

int rsl_craft_send(int nsfd, const uint8_t *pkt, size_t len, char *err, size_t errlen)
{
	int family = len > 0 && (pkt[0] >> 4) == 6 ? AF_INET6 : AF_INET;
	int saved, rc = rsl_netns_enter(nsfd, &saved, err, errlen);
	if (rc != RSL_OK)
		return rc;
	int fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	int e = errno;
	rc = rsl_netns_leave(saved, err, errlen);
	if (fd < 0) {
		rsl_format_error(err, errlen, "raw socket: %s", strerror(e));
		return e == EPERM || e == EACCES ? RSL_EUNAVAIL : RSL_ESYS;
	}
	if (rc != RSL_OK) {
		close(fd);
		return rc;
	}
	struct sockaddr_storage to;
	socklen_t tolen;
	memset(&to, 0, sizeof to);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&to;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, pkt + 16, 4);
		tolen = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&to;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, pkt + 24, 16);
		tolen = sizeof *sin6;
	}
	ssize_t n = sendto(fd, pkt, len, 0, (struct sockaddr *)&to, tolen);
	e = errno;
	close(fd);
	if (n < 0) {
		rsl_format_error(err, errlen, "sending a crafted segment: %s", strerror(e));
		return RSL_ESYS;
	}
	return RSL_OK;
}
