/*
 * Decoding of captured frames into struct rsl_packet.
 *
 * A frame is peeled layer by layer: the link header (Ethernet with up to two
 * VLAN tags, Linux cooked v1/v2, raw IP, BSD loopback), then IPv4 or IPv6
 * (with its extension headers), then the TCP header and its options.  Every
 * layer is checked against two ends: the bytes the capture kept (caplen) and
 * the length the IP header declares.  Nothing is ever read past caplen: this
 * function is fed straight from the wire and is fuzzed with ASan.
 *
 * Frames that are not TCP over IP are RSL_ESKIP (a capture counts them and
 * moves on); frames whose headers contradict themselves are RSL_EMALFORMED
 * with a static reason, so a report can say what was wrong.
 *
 * rsl_flags_format() prints the flags the way tcpdump does, because the
 * expectation text of a scenario is written in tcpdump's notation.
 */
#include "internal.h"

#include <pcap/dlt.h>
#include <string.h>
#include <sys/socket.h>

/* Link-type values as they appear in pcap files, which pcap_datalink() may
 * hand back unmapped for files written elsewhere. */
#define LT_RAW_FILE 101
#define LT_LOOP_FILE 108

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100     /* 802.1Q */
#define ETH_QINQ 0x88a8     /* 802.1ad service tag */
#define ETH_QINQ_OLD 0x9100 /* pre-standard double tagging, still seen */

#define MAX_VLAN_TAGS 2

/* Where the IP layer starts in the frame, and which IP it is (4, 6, or 0
 * for "look at the version nibble"). */
struct link_result {
	size_t off;
	int ipver;
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return RSL_EMALFORMED;
}

static int skip(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return RSL_ESKIP;
}

/* Map an ethertype found at data[off] (after any VLAN tags) to an IP
 * version.  Used by Ethernet and by both cooked headers, which can carry a
 * tagged frame too. */
static int ethertype_to_ip(const uint8_t *data, size_t caplen, size_t off,
                           uint16_t type, struct link_result *lr, const char **why)
{
	int tags = 0;

	while (type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD) {
		if (++tags > MAX_VLAN_TAGS)
			return skip(why, "more than two VLAN tags");
		/* A tag is 2 bytes of TCI followed by the inner ethertype. */
		if (caplen < off + 4)
			return fail(why, "truncated VLAN tag");
		type = get16(data + off + 2);
		off += 4;
	}
	if (type == ETH_IPV4)
		lr->ipver = 4;
	else if (type == ETH_IPV6)
		lr->ipver = 6;
	else
		return skip(why, "not IP");
	lr->off = off;
	return RSL_OK;
}

/* BSD loopback: a 4-byte address family, in the capturing host's byte order
 * for DLT_NULL and in network order for DLT_LOOP.  Files travel between
 * machines, so accept either order for both: a family fits in 16 bits, so
 * whichever reading does is the right one.  AF_INET6 differs between the
 * BSDs, Darwin and Linux; all of them are accepted. */
static int loopback_family(const uint8_t *p, struct link_result *lr, const char **why)
{
	uint32_t be = get32(p);
	uint32_t le = (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
	              ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
	uint32_t af = (be & 0xffff0000u) == 0 ? be : le;

	switch (af) {
	case 2:
		lr->ipver = 4;
		break;
	case 10: /* Linux */
	case 24: /* NetBSD, OpenBSD */
	case 28: /* FreeBSD */
	case 30: /* Darwin */
		lr->ipver = 6;
		break;
	default:
		return skip(why, "not IP");
	}
	lr->off = 4;
	return RSL_OK;
}

static int decode_link(int linktype, const uint8_t *data, size_t caplen,
                       struct link_result *lr, const char **why)
{
	switch (linktype) {
	case DLT_EN10MB: {
		uint16_t type;

		if (caplen < 14)
			return fail(why, "truncated Ethernet header");
		type = get16(data + 12);
		if (type < 0x0600)
			return skip(why, "802.3 length field, not IP");
		return ethertype_to_ip(data, caplen, 14, type, lr, why);
	}
	case DLT_LINUX_SLL:
		/* packet type, ARPHRD, address length, 8 address bytes,
		 * then the protocol */
		if (caplen < 16)
			return fail(why, "truncated Linux cooked header");
		return ethertype_to_ip(data, caplen, 16, get16(data + 14), lr, why);
	case DLT_LINUX_SLL2:
		/* the protocol comes first in version 2 */
		if (caplen < 20)
			return fail(why, "truncated Linux cooked v2 header");
		return ethertype_to_ip(data, caplen, 20, get16(data), lr, why);
	case DLT_RAW:
	case LT_RAW_FILE:
		lr->off = 0;
		lr->ipver = 0;
		return RSL_OK;
	case DLT_IPV4:
		lr->off = 0;
		lr->ipver = 4;
		return RSL_OK;
	case DLT_IPV6:
		lr->off = 0;
		lr->ipver = 6;
		return RSL_OK;
	case DLT_NULL:
	case DLT_LOOP:
#if DLT_LOOP != LT_LOOP_FILE
	case LT_LOOP_FILE:
#endif
		if (caplen < 4)
			return fail(why, "truncated loopback header");
		return loopback_family(data, lr, why);
	default:
		return skip(why, "unsupported link type");
	}
}

/* The transport part of an IP packet, once the IP layer has been peeled. */
struct l4 {
	const uint8_t *p;   /* first byte of the TCP header */
	size_t declared;    /* TCP header + payload, as the IP header says */
	size_t captured;    /* how much of that the capture kept */
	bool fragment;      /* first fragment of a fragmented datagram */
};

/* The declared end of an IP packet, relative to its first byte.  A total
 * length of 0 is what a sender with TCP segmentation offload (or Linux
 * BIG TCP) leaves in a super-packet it hands to the capture before the NIC
 * splits it: as tcpdump does, take the captured bytes as the length then. */
static size_t ip_end(size_t total, size_t avail)
{
	return total == 0 ? avail : total;
}

static int decode_ipv4(const uint8_t *ip, size_t avail, struct rsl_packet *out,
                       struct l4 *l4, const char **why)
{
	size_t ihl, total, end, cap_end;
	uint16_t frag;

	if (avail < 20)
		return fail(why, "truncated IPv4 header");
	if ((ip[0] >> 4) != 4)
		return fail(why, "IPv4 header with another version");
	ihl = (size_t)(ip[0] & 0x0f) * 4;
	if (ihl < 20)
		return fail(why, "IPv4 header length below 20");
	if (ihl > avail)
		return fail(why, "truncated IPv4 options");
	total = get16(ip + 2);
	end = ip_end(total, avail);
	if (end < ihl)
		return fail(why, "IPv4 total length shorter than its header");

	/* A non-first fragment has no TCP header of its own. */
	frag = get16(ip + 6);
	if ((frag & 0x1fff) != 0)
		return skip(why, "non-first IPv4 fragment");
	if (ip[9] != 6)
		return skip(why, "not TCP");

	out->family = AF_INET;
	memcpy(out->src, ip + 12, 4);
	memcpy(out->dst, ip + 16, 4);
	out->ttl = ip[8];

	cap_end = avail < end ? avail : end;
	l4->p = ip + ihl;
	l4->declared = end - ihl;
	l4->captured = cap_end - ihl;
	l4->fragment = (frag & 0x2000) != 0;
	return RSL_OK;
}

static int decode_ipv6(const uint8_t *ip, size_t avail, struct rsl_packet *out,
                       struct l4 *l4, const char **why)
{
	size_t end, cap_end, off;
	uint8_t nh;
	bool fragment = false;

	if (avail < 40)
		return fail(why, "truncated IPv6 header");
	if ((ip[0] >> 4) != 6)
		return fail(why, "IPv6 header with another version");
	end = ip_end(get16(ip + 4), avail - 40) + 40;
	cap_end = avail < end ? avail : end;

	/* Walk the extension headers.  Each one is at least 8 bytes long,
	 * so the walk ends within the packet. */
	nh = ip[6];
	off = 40;
	for (;;) {
		size_t len;

		switch (nh) {
		case 6:
			goto tcp;
		case 0:  /* hop-by-hop options */
		case 43: /* routing */
		case 60: /* destination options */
			if (off + 2 > cap_end)
				goto truncated;
			len = ((size_t)ip[off + 1] + 1) * 8;
			break;
		case 51: /* AH counts in 4-byte units, minus 2 */
			if (off + 2 > cap_end)
				goto truncated;
			len = ((size_t)ip[off + 1] + 2) * 4;
			break;
		case 44: /* fragment */
			len = 8;
			if (off + len > cap_end)
				goto truncated;
			if ((get16(ip + off + 2) & 0xfff8) != 0)
				return skip(why, "non-first IPv6 fragment");
			fragment = (ip[off + 3] & 1) != 0;
			break;
		default:
			return skip(why, "not TCP");
		}
		if (off + len > end)
			return fail(why, "IPv6 extension header past the payload length");
		if (off + len > cap_end)
			goto truncated;
		nh = ip[off];
		off += len;
	}
truncated:
	if (cap_end < end)
		return fail(why, "IPv6 extension header cut by the capture");
	return fail(why, "truncated IPv6 extension header");

tcp:
	out->family = AF_INET6;
	memcpy(out->src, ip + 8, 16);
	memcpy(out->dst, ip + 24, 16);
	out->ttl = ip[7];
	l4->p = ip + off;
	l4->declared = end - off;
	l4->captured = cap_end - off;
	l4->fragment = fragment;
	return RSL_OK;
}

/* Options run from byte 20 to the end of the header (hlen); the caller has
 * made sure all of them were captured. */
static int decode_options(const uint8_t *th, size_t hlen, struct rsl_packet *out,
                          const char **why)
{
	size_t i = 20;

	while (i < hlen) {
		uint8_t kind = th[i];
		size_t len;

		if (kind == 0) /* end of option list */
			break;
		if (kind == 1) { /* no-operation */
			i++;
			continue;
		}
		if (i + 1 >= hlen)
			return fail(why, "TCP option length past the header");
		len = th[i + 1];
		if (len < 2)
			return fail(why, "TCP option length below 2");
		if (i + len > hlen)
			return fail(why, "TCP option runs past the header");
		switch (kind) {
		case 2:
			if (len != 4)
				return fail(why, "TCP MSS option with a bad length");
			out->mss = get16(th + i + 2);
			break;
		case 3:
			if (len != 3)
				return fail(why, "TCP window scale option with a bad length");
			out->wscale = th[i + 2];
			break;
		case 4:
			if (len != 2)
				return fail(why, "TCP SACK-permitted option with a bad length");
			out->sack_ok = true;
			break;
		case 5: {
			size_t n, k;

			if (len < 10 || (len - 2) % 8 != 0)
				return fail(why, "TCP SACK option with a bad length");
			/* 40 bytes of options hold at most 4 blocks */
			n = (len - 2) / 8;
			for (k = 0; k < n && k < RSL_MAX_SACK; k++) {
				out->sack[k][0] = get32(th + i + 2 + 8 * k);
				out->sack[k][1] = get32(th + i + 6 + 8 * k);
			}
			out->nsack = (int)k;
			break;
		}
		case 8:
			if (len != 10)
				return fail(why, "TCP timestamp option with a bad length");
			out->has_ts = true;
			out->ts_val = get32(th + i + 2);
			out->ts_ecr = get32(th + i + 6);
			break;
		default:
			/* Options we do not name (MD5, TFO, MPTCP ...) are
			 * stepped over by their length. */
			break;
		}
		i += len;
	}
	return RSL_OK;
}

static int decode_tcp(const struct l4 *l4, struct rsl_packet *out, const char **why)
{
	const uint8_t *th = l4->p;
	size_t hlen;

	if (l4->declared < 20) {
		/* A first fragment too small to hold the TCP header is
		 * legal IP, just nothing we can read. */
		if (l4->fragment)
			return skip(why, "IP fragment without a whole TCP header");
		return fail(why, "IP length too short for a TCP header");
	}
	if (l4->captured < 20)
		return fail(why, "truncated TCP header");
	hlen = (size_t)(th[12] >> 4) * 4;
	if (hlen < 20)
		return fail(why, "TCP data offset below 5");
	if (hlen > l4->declared) {
		if (l4->fragment)
			return skip(why, "IP fragment without a whole TCP header");
		return fail(why, "TCP data offset past the IP length");
	}
	if (hlen > l4->captured)
		return fail(why, "TCP options cut by the capture");

	out->sport = get16(th);
	out->dport = get16(th + 2);
	out->seq = get32(th + 4);
	out->ack = get32(th + 8);
	out->flags = th[13];
	out->win = get16(th + 14);
	out->urg = get16(th + 18);
	out->len = (uint32_t)(l4->declared - hlen);
	out->truncated = l4->captured < l4->declared;
	return decode_options(th, hlen, out, why);
}

int rsl_decode(int linktype, const uint8_t *data, size_t caplen,
               struct rsl_packet *out, const char **why)
{
	struct link_result lr;
	struct l4 l4;
	const uint8_t *ip;
	size_t avail;
	double ts = out->ts;
	int rc;

	memset(out, 0, sizeof *out);
	out->ts = ts;
	out->mss = -1;
	out->wscale = -1;
	if (why)
		*why = NULL;
	if (data == NULL)
		caplen = 0;

	rc = decode_link(linktype, data, caplen, &lr, why);
	if (rc != RSL_OK)
		return rc;
	ip = data + lr.off;
	avail = caplen - lr.off;
	if (lr.ipver == 0) {
		if (avail < 1)
			return fail(why, "empty raw IP frame");
		lr.ipver = ip[0] >> 4;
		if (lr.ipver != 4 && lr.ipver != 6)
			return skip(why, "raw frame is neither IPv4 nor IPv6");
	}
	if (lr.ipver == 4)
		rc = decode_ipv4(ip, avail, out, &l4, why);
	else
		rc = decode_ipv6(ip, avail, out, &l4, why);
	if (rc != RSL_OK)
		return rc;
	return decode_tcp(&l4, out, why);
}

const char *rsl_flags_format(uint8_t flags, char *buf, size_t len)
{
	/* tcpdump's order (its tcp_flag_values table), ACK printed as '.' */
	static const struct {
		uint8_t bit;
		char c;
	} order[] = {
		{ RSL_TH_FIN, 'F' }, { RSL_TH_SYN, 'S' }, { RSL_TH_RST, 'R' },
		{ RSL_TH_PSH, 'P' }, { RSL_TH_ACK, '.' }, { RSL_TH_URG, 'U' },
		{ RSL_TH_ECE, 'E' }, { RSL_TH_CWR, 'W' },
	};
	char tmp[10];
	size_t n = 0, i;

	if (buf == NULL || len == 0)
		return buf;
	for (i = 0; i < sizeof order / sizeof order[0]; i++)
		if (flags & order[i].bit)
			tmp[n++] = order[i].c;
	tmp[n] = '\0';
	if (n == 0)
		strcpy(tmp, "none");
	/* A short buffer gets a truncated but terminated string. */
	n = strlen(tmp);
	if (n >= len)
		n = len - 1;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
	return buf;
}
