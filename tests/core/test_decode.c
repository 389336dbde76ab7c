/*
 * Tests of the frame decoder (core/decode.c) and of the tcpdump-style flag
 * formatter.
 *
 * Frames are built byte by byte by the small helpers below, layer by layer
 * (TCP segment, then IP, then the link header), so each test states the
 * one thing it changes.  The malformation tests each break one field; the
 * prefix and mutation tests feed every cut and many corrupted versions of
 * good frames so that ASan sees any read past caplen.
 *
 * The pcap files in tests/data/decode-*.pcap are made by this program
 * (generated when missing, or when RSTLAB_REGENERATE_DATA is set): the
 * data-file test checks the stored bytes are exactly what the generator
 * makes and that reading them back through libpcap decodes the same.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rstlab/rstlab.h"

#ifndef RSTLAB_TEST_DATA
#define RSTLAB_TEST_DATA "tests/data"
#endif

/* ---- frame builders ----------------------------------------------------- */

struct buf {
	uint8_t b[4096];
	size_t n;
};

static void put(struct buf *f, const void *p, size_t n)
{
	assert_true(f->n + n <= sizeof f->b);
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void put8(struct buf *f, uint8_t v)
{
	put(f, &v, 1);
}

static void put16(struct buf *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}

static void put32(struct buf *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

static void put_zeros(struct buf *f, size_t n)
{
	assert_true(f->n + n <= sizeof f->b);
	memset(f->b + f->n, 0, n);
	f->n += n;
}

struct seg {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *opts;
	size_t optlen;      /* padded with EOL to a multiple of 4 */
	size_t paylen;
	int doff;           /* 0: computed from optlen */
};

static struct buf tcp_segment(const struct seg *s)
{
	struct buf f = { .n = 0 };
	size_t padded = (s->optlen + 3) & ~(size_t)3;
	int doff = s->doff ? s->doff : (int)(20 + padded) / 4;
	size_t i;

	put16(&f, s->sport);
	put16(&f, s->dport);
	put32(&f, s->seq);
	put32(&f, s->ack);
	put8(&f, (uint8_t)(doff << 4));
	put8(&f, s->flags);
	put16(&f, s->win);
	put16(&f, 0);   /* checksum: the decoder does not look */
	put16(&f, 0);   /* urgent pointer */
	if (s->optlen)
		put(&f, s->opts, s->optlen);
	put_zeros(&f, padded - s->optlen);
	for (i = 0; i < s->paylen; i++)
		put8(&f, (uint8_t)('a' + i % 26));
	return f;
}

static const uint8_t ip4_a[4] = { 10, 0, 0, 1 }, ip4_b[4] = { 10, 0, 0, 2 };
static const uint8_t ip6_a[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t ip6_b[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

/* The Internet checksum, so that the sample files read clean in Wireshark
 * (the decoder itself never checks it). */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Fill in the TCP checksum of the segment at seg (len bytes), given the
 * pseudo-header sum of the addresses. */
static void tcp_checksum(uint8_t *seg, size_t len, uint32_t pseudo)
{
	uint16_t c;

	if (len < 20)
		return;
	seg[16] = seg[17] = 0;
	c = csum_fold(csum_add(pseudo + 6 + (uint32_t)len, seg, len));
	seg[16] = (uint8_t)(c >> 8);
	seg[17] = (uint8_t)c;
}

/* An IPv4 packet around l4; frag is the flags+offset field. */
static struct buf ipv4_frag(const struct buf *l4, uint8_t proto, uint16_t frag)
{
	struct buf f = { .n = 0 };
	uint16_t cs;

	put8(&f, 0x45);
	put8(&f, 0);
	put16(&f, (uint16_t)(20 + l4->n));
	put16(&f, 0x1234);
	put16(&f, frag);
	put8(&f, 64);
	put8(&f, proto);
	put16(&f, 0);
	put(&f, ip4_a, 4);
	put(&f, ip4_b, 4);
	put(&f, l4->b, l4->n);
	if (proto == 6 && (frag & 0x3fff) == 0)
		tcp_checksum(f.b + 20, l4->n,
		             csum_add(csum_add(0, ip4_a, 4), ip4_b, 4));
	cs = csum_fold(csum_add(0, f.b, 20));
	f.b[10] = (uint8_t)(cs >> 8);
	f.b[11] = (uint8_t)cs;
	return f;
}

static struct buf ipv4(const struct buf *l4)
{
	return ipv4_frag(l4, 6, 0x4000 /* DF */);
}

/* An IPv6 packet: nh is the first next-header value, ext the extension
 * headers (already chained by the caller) in front of l4. */
static struct buf ipv6_ext(const struct buf *l4, uint8_t nh, const uint8_t *ext,
                           size_t extlen)
{
	struct buf f = { .n = 0 };

	put32(&f, 0x60000000);
	put16(&f, (uint16_t)(extlen + l4->n));
	put8(&f, nh);
	put8(&f, 63);
	put(&f, ip6_a, 16);
	put(&f, ip6_b, 16);
	if (extlen)
		put(&f, ext, extlen);
	put(&f, l4->b, l4->n);
	tcp_checksum(f.b + 40 + extlen, l4->n, csum_add(csum_add(0, ip6_a, 16), ip6_b, 16));
	return f;
}

static struct buf ipv6(const struct buf *l4)
{
	return ipv6_ext(l4, 6, NULL, 0);
}

static uint16_t ethertype_of(const struct buf *ip)
{
	return (ip->b[0] >> 4) == 6 ? 0x86dd : 0x0800;
}

/* Ethernet with the given VLAN tag protocol ids (outermost first). */
static struct buf ether_tagged(const struct buf *ip, const uint16_t *tpids, int ntags)
{
	static const uint8_t mac_a[6] = { 2, 0, 0, 0, 0, 1 }, mac_b[6] = { 2, 0, 0, 0, 0, 2 };
	struct buf f = { .n = 0 };
	int i;

	put(&f, mac_b, 6);
	put(&f, mac_a, 6);
	for (i = 0; i < ntags; i++) {
		put16(&f, tpids[i]);
		put16(&f, (uint16_t)(100 + i)); /* TCI: VLAN id */
	}
	put16(&f, ethertype_of(ip));
	put(&f, ip->b, ip->n);
	return f;
}

static struct buf ether(const struct buf *ip)
{
	return ether_tagged(ip, NULL, 0);
}

static struct buf sll(const struct buf *ip)
{
	struct buf f = { .n = 0 };

	put16(&f, 0);       /* packet type: to us */
	put16(&f, 1);       /* ARPHRD_ETHER */
	put16(&f, 6);
	put(&f, "\x02\0\0\0\0\x01\0\0", 8);
	put16(&f, ethertype_of(ip));
	put(&f, ip->b, ip->n);
	return f;
}

static struct buf sll2(const struct buf *ip)
{
	struct buf f = { .n = 0 };

	put16(&f, ethertype_of(ip));
	put16(&f, 0);       /* reserved */
	put32(&f, 2);       /* ifindex */
	put16(&f, 1);       /* ARPHRD_ETHER */
	put8(&f, 4);        /* packet type: outgoing */
	put8(&f, 6);
	put(&f, "\x02\0\0\0\0\x01\0\0", 8);
	put(&f, ip->b, ip->n);
	return f;
}

/* BSD loopback: family in big- or little-endian order. */
static struct buf loopback(const struct buf *ip, uint32_t af, bool big_endian)
{
	struct buf f = { .n = 0 };

	if (big_endian) {
		put32(&f, af);
	} else {
		put8(&f, (uint8_t)af);
		put8(&f, (uint8_t)(af >> 8));
		put8(&f, (uint8_t)(af >> 16));
		put8(&f, (uint8_t)(af >> 24));
	}
	put(&f, ip->b, ip->n);
	return f;
}

/* Options as Linux puts them on a SYN: MSS, SACK-permitted, timestamps,
 * NOP, window scale. */
static const uint8_t syn_opts[] = {
	2, 4, 0x05, 0xb4,
	4, 2,
	8, 10, 0, 0, 0x30, 0x39, 0, 0, 0, 0,
	1,
	3, 3, 7,
};

static struct buf syn_segment(void)
{
	struct seg s = { .sport = 40000, .dport = 80, .seq = 1000, .flags = RSL_TH_SYN,
	                 .win = 64240, .opts = syn_opts, .optlen = sizeof syn_opts };
	return tcp_segment(&s);
}

static struct buf data_segment(size_t paylen)
{
	struct seg s = { .sport = 40000, .dport = 80, .seq = 1001, .ack = 5001,
	                 .flags = RSL_TH_PSH | RSL_TH_ACK, .win = 502, .paylen = paylen };
	return tcp_segment(&s);
}

static int decode(int lt, const struct buf *f, struct rsl_packet *p, const char **why)
{
	return rsl_decode(lt, f->b, f->n, p, why);
}

/* Decode and insist on success. */
static struct rsl_packet decode_ok(int lt, const struct buf *f)
{
	struct rsl_packet p;
	const char *why = NULL;
	int rc;

	p.ts = 0;
	rc = decode(lt, f, &p, &why);
	if (rc != RSL_OK)
		fail_msg("decode failed (%d): %s", rc, why ? why : "(no reason)");
	return p;
}

/* Decode and insist on RSL_EMALFORMED with a reason. */
static void expect_malformed(int lt, const uint8_t *data, size_t len)
{
	struct rsl_packet p;
	const char *why = NULL;

	p.ts = 0;
	assert_int_equal(rsl_decode(lt, data, len, &p, &why), RSL_EMALFORMED);
	assert_non_null(why);
	assert_true(strlen(why) > 0);
}

static void expect_skip(int lt, const uint8_t *data, size_t len)
{
	struct rsl_packet p;

	p.ts = 0;
	assert_int_equal(rsl_decode(lt, data, len, &p, NULL), RSL_ESKIP);
}

static void check_syn(const struct rsl_packet *p)
{
	assert_int_equal(p->sport, 40000);
	assert_int_equal(p->dport, 80);
	assert_int_equal(p->seq, 1000);
	assert_int_equal(p->ack, 0);
	assert_int_equal(p->flags, RSL_TH_SYN);
	assert_int_equal(p->win, 64240);
	assert_int_equal(p->len, 0);
	assert_int_equal(p->mss, 1460);
	assert_int_equal(p->wscale, 7);
	assert_true(p->sack_ok);
	assert_true(p->has_ts);
	assert_int_equal(p->ts_val, 12345);
	assert_int_equal(p->ts_ecr, 0);
	assert_int_equal(p->nsack, 0);
	assert_false(p->truncated);
}

/* Field by field: padding bytes in the struct are not part of the answer. */
static void assert_same_packet(const struct rsl_packet *a, const struct rsl_packet *b)
{
	int k;

	assert_int_equal(a->family, b->family);
	assert_memory_equal(a->src, b->src, 16);
	assert_memory_equal(a->dst, b->dst, 16);
	assert_int_equal(a->sport, b->sport);
	assert_int_equal(a->dport, b->dport);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->ack, b->ack);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->win, b->win);
	assert_int_equal(a->urg, b->urg);
	assert_int_equal(a->len, b->len);
	assert_int_equal(a->ttl, b->ttl);
	assert_int_equal(a->mss, b->mss);
	assert_int_equal(a->wscale, b->wscale);
	assert_int_equal(a->sack_ok, b->sack_ok);
	assert_int_equal(a->has_ts, b->has_ts);
	assert_int_equal(a->ts_val, b->ts_val);
	assert_int_equal(a->ts_ecr, b->ts_ecr);
	assert_int_equal(a->nsack, b->nsack);
	for (k = 0; k < a->nsack; k++) {
		assert_int_equal(a->sack[k][0], b->sack[k][0]);
		assert_int_equal(a->sack[k][1], b->sack[k][1]);
	}
	assert_int_equal(a->truncated, b->truncated);
}

/* ---- good frames ---------------------------------------------------------- */

static void test_decode_syn_with_options(void **state)
{
	struct buf seg = syn_segment(), ip = ipv4(&seg), f = ether(&ip);
	struct rsl_packet p = decode_ok(DLT_EN10MB, &f);

	check_syn(&p);
	assert_int_equal(p.family, AF_INET);
	assert_memory_equal(p.src, ip4_a, 4);
	assert_memory_equal(p.dst, ip4_b, 4);
	assert_int_equal(p.ttl, 64);
}

static void test_decode_leaves_ts_alone(void **state)
{
	struct buf seg = syn_segment(), ip = ipv4(&seg), f = ether(&ip);
	struct rsl_packet p;

	memset(&p, 0xff, sizeof p);
	p.ts = 1234.5;
	assert_int_equal(decode(DLT_EN10MB, &f, &p, NULL), RSL_OK);
	assert_true(p.ts == 1234.5);
	check_syn(&p);
}

static void test_decode_absent_options(void **state)
{
	struct buf seg = data_segment(0), ip = ipv4(&seg), f = ether(&ip);
	struct rsl_packet p = decode_ok(DLT_EN10MB, &f);

	assert_int_equal(p.flags, RSL_TH_PSH | RSL_TH_ACK);
	assert_int_equal(p.mss, -1);
	assert_int_equal(p.wscale, -1);
	assert_false(p.sack_ok);
	assert_false(p.has_ts);
	assert_int_equal(p.nsack, 0);
}

static void test_decode_sack_ack(void **state)
{
	static const uint8_t opts[] = {
		1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 7,
		1, 1, 5, 18,
		0, 0, 0x13, 0x88, 0, 0, 0x17, 0x70,   /* 5000-6000 */
		0, 0, 0x1b, 0x58, 0, 0, 0x1f, 0x40,   /* 7000-8000 */
	};
	struct seg s = { .sport = 80, .dport = 40000, .seq = 5001, .ack = 1001,
	                 .flags = RSL_TH_ACK, .win = 500, .opts = opts, .optlen = sizeof opts };
	struct buf seg = tcp_segment(&s), ip = ipv4(&seg), f = ether(&ip);
	struct rsl_packet p = decode_ok(DLT_EN10MB, &f);

	assert_int_equal(p.flags, RSL_TH_ACK);
	assert_true(p.has_ts);
	assert_int_equal(p.ts_val, 9);
	assert_int_equal(p.ts_ecr, 7);
	assert_int_equal(p.nsack, 2);
	assert_int_equal(p.sack[0][0], 5000);
	assert_int_equal(p.sack[0][1], 6000);
	assert_int_equal(p.sack[1][0], 7000);
	assert_int_equal(p.sack[1][1], 8000);
	assert_int_equal(p.mss, -1);
}

static void test_decode_sack_four_blocks(void **state)
{
	uint8_t opts[2 + 2 + 32] = { 1, 1, 5, 34 };
	struct rsl_packet p;
	int k;

	for (k = 0; k < 8; k++) {
		opts[4 + 4 * k + 3] = (uint8_t)(k + 1);
	}
	struct seg s = { .sport = 1, .dport = 2, .flags = RSL_TH_ACK, .opts = opts,
	                 .optlen = sizeof opts };
	struct buf seg = tcp_segment(&s), ip = ipv4(&seg), f = ether(&ip);

	p = decode_ok(DLT_EN10MB, &f);
	assert_int_equal(p.nsack, 4);
	for (k = 0; k < 4; k++) {
		assert_int_equal(p.sack[k][0], 2 * k + 1);
		assert_int_equal(p.sack[k][1], 2 * k + 2);
	}
}

static void test_decode_unknown_option_skipped(void **state)
{
	/* a TFO cookie (34) between MSS and window scale */
	static const uint8_t opts[] = { 2, 4, 0x05, 0xb4, 34, 6, 1, 2, 3, 4, 3, 3, 2 };
	struct seg s = { .sport = 1, .dport = 2, .flags = RSL_TH_SYN, .opts = opts,
	                 .optlen = sizeof opts };
	struct buf seg = tcp_segment(&s), ip = ipv4(&seg), f = ether(&ip);
	struct rsl_packet p = decode_ok(DLT_EN10MB, &f);

	assert_int_equal(p.mss, 1460);
	assert_int_equal(p.wscale, 2);
}

static void test_decode_eol_ends_options(void **state)
{
	/* after EOL the rest is padding, even if it looks like options */
	static const uint8_t opts[] = { 2, 4, 0x05, 0xb4, 0, 3, 0, 0 };
	struct seg s = { .sport = 1, .dport = 2, .flags = RSL_TH_SYN, .opts = opts,
	                 .optlen = sizeof opts };
	struct buf seg = tcp_segment(&s), ip = ipv4(&seg), f = ether(&ip);
	struct rsl_packet p = decode_ok(DLT_EN10MB, &f);

	assert_int_equal(p.mss, 1460);
	assert_int_equal(p.wscale, -1);
}

static void test_decode_payload_length(void **state)
{
	struct buf seg = data_segment(100), ip = ipv4(&seg), f = ether(&ip);
	struct rsl_packet p = decode_ok(DLT_EN10MB, &f);

	assert_int_equal(p.len, 100);
	assert_false(p.truncated);
	assert_int_equal(p.seq, 1001);
	assert_int_equal(p.ack, 5001);
}

static void test_decode_truncated_payload(void **state)
{
	struct buf seg = data_segment(100), ip = ipv4(&seg), f = ether(&ip);
	struct rsl_packet p;

	/* snaplen cut the payload: len is still what the IP header says */
	f.n -= 60;
	p = decode_ok(DLT_EN10MB, &f);
	assert_int_equal(p.len, 100);
	assert_true(p.truncated);
}

static void test_decode_ethernet_padding(void **state)
{
	struct buf seg = data_segment(0), ip = ipv4(&seg), f = ether(&ip);
	struct rsl_packet p;

	/* a minimum-size Ethernet frame carries trailing padding */
	put_zeros(&f, 60 - f.n);
	p = decode_ok(DLT_EN10MB, &f);
	assert_int_equal(p.len, 0);
	assert_false(p.truncated);
}

static void test_decode_tso_zero_total_length(void **state)
{
	struct buf seg = data_segment(3000), ip = ipv4(&seg), f;
	struct rsl_packet p;

	/* a super-packet seen before segmentation offload splits it */
	ip.b[2] = ip.b[3] = 0;
	f = ether(&ip);
	p = decode_ok(DLT_EN10MB, &f);
	assert_int_equal(p.len, 3000);
}

static void test_decode_ipv6(void **state)
{
	struct buf seg = syn_segment(), ip = ipv6(&seg), f = ether(&ip);
	struct rsl_packet p = decode_ok(DLT_EN10MB, &f);

	check_syn(&p);
	assert_int_equal(p.family, AF_INET6);
	assert_memory_equal(p.src, ip6_a, 16);
	assert_memory_equal(p.dst, ip6_b, 16);
	assert_int_equal(p.ttl, 63);
}

static void test_decode_ipv6_hop_by_hop(void **state)
{
	/* hop-by-hop (8 bytes: next = dest opts, PadN), dest opts (16 bytes:
	 * next = TCP) */
	static const uint8_t ext[] = {
		60, 0, 1, 4, 0, 0, 0, 0,
		6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct buf seg = data_segment(10), ip = ipv6_ext(&seg, 0, ext, sizeof ext);
	struct buf f = ether(&ip);
	struct rsl_packet p = decode_ok(DLT_EN10MB, &f);

	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(p.len, 10);
	assert_int_equal(p.sport, 40000);
}

static void test_decode_ipv6_routing_and_ah(void **state)
{
	/* routing header (8 bytes) then AH (len 4 -> 24 bytes) then TCP */
	uint8_t ext[8 + 24] = { 51, 0, 0, 0 };

	ext[8] = 6;
	ext[9] = 4;
	struct buf seg = data_segment(7), ip = ipv6_ext(&seg, 43, ext, sizeof ext);
	struct buf f = ether(&ip);
	struct rsl_packet p = decode_ok(DLT_EN10MB, &f);

	assert_int_equal(p.len, 7);
}

static void test_decode_ipv6_fragments(void **state)
{
	/* first fragment, more to come: decoded */
	uint8_t first[8] = { 6, 0, 0x00, 0x01, 0, 0, 0, 42 };
	uint8_t later[8] = { 6, 0, 0x00, 0xb8, 0, 0, 0, 42 }; /* offset 23 */
	struct buf seg = data_segment(16), ip, f;
	struct rsl_packet p;

	ip = ipv6_ext(&seg, 44, first, sizeof first);
	f = ether(&ip);
	p = decode_ok(DLT_EN10MB, &f);
	assert_int_equal(p.len, 16);

	ip = ipv6_ext(&seg, 44, later, sizeof later);
	f = ether(&ip);
	expect_skip(DLT_EN10MB, f.b, f.n);
}

static void test_decode_ipv4_fragments(void **state)
{
	struct buf seg = data_segment(16), ip, f;
	struct buf small = { .n = 0 };
	struct rsl_packet p;

	/* first fragment with MF, whole TCP header: decoded */
	ip = ipv4_frag(&seg, 6, 0x2000);
	f = ether(&ip);
	p = decode_ok(DLT_EN10MB, &f);
	assert_int_equal(p.len, 16);

	/* a later fragment has no TCP header of its own */
	ip = ipv4_frag(&seg, 6, 0x2000 | 3);
	f = ether(&ip);
	expect_skip(DLT_EN10MB, f.b, f.n);
	ip = ipv4_frag(&seg, 6, 3);
	f = ether(&ip);
	expect_skip(DLT_EN10MB, f.b, f.n);

	/* a first fragment of 8 bytes cannot hold the TCP header */
	put(&small, seg.b, 8);
	ip = ipv4_frag(&small, 6, 0x2000);
	f = ether(&ip);
	expect_skip(DLT_EN10MB, f.b, f.n);
}

static void test_decode_ipv4_options(void **state)
{
	struct buf seg = data_segment(4), f = { .n = 0 };
	struct rsl_packet p;

	/* IHL 6: one NOP-padded option word before TCP */
	put8(&f, 0x46);
	put8(&f, 0);
	put16(&f, (uint16_t)(24 + seg.n));
	put32(&f, 0);
	put8(&f, 1);
	put8(&f, 6);
	put16(&f, 0);
	put(&f, ip4_a, 4);
	put(&f, ip4_b, 4);
	put32(&f, 0x01010100);
	put(&f, seg.b, seg.n);
	p = decode_ok(DLT_RAW, &f);
	assert_int_equal(p.len, 4);
	assert_int_equal(p.ttl, 1);
	assert_int_equal(p.sport, 40000);
}

static void test_decode_vlan(void **state)
{
	static const uint16_t one[] = { 0x8100 };
	static const uint16_t two[] = { 0x88a8, 0x8100 };
	static const uint16_t old[] = { 0x9100, 0x8100 };
	static const uint16_t three[] = { 0x88a8, 0x8100, 0x8100 };
	struct buf seg = syn_segment(), ip4 = ipv4(&seg), ip6 = ipv6(&seg), f;
	struct rsl_packet p;

	f = ether_tagged(&ip4, one, 1);
	p = decode_ok(DLT_EN10MB, &f);
	check_syn(&p);
	f = ether_tagged(&ip6, two, 2);
	p = decode_ok(DLT_EN10MB, &f);
	check_syn(&p);
	assert_int_equal(p.family, AF_INET6);
	f = ether_tagged(&ip4, old, 2);
	p = decode_ok(DLT_EN10MB, &f);
	check_syn(&p);
	f = ether_tagged(&ip4, three, 3);
	expect_skip(DLT_EN10MB, f.b, f.n);
	/* a tag cut in the middle */
	f = ether_tagged(&ip4, one, 1);
	expect_malformed(DLT_EN10MB, f.b, 16);
}

static void test_decode_sll(void **state)
{
	struct buf seg = syn_segment(), ip4 = ipv4(&seg), ip6 = ipv6(&seg), f;
	struct rsl_packet p;

	f = sll(&ip4);
	p = decode_ok(DLT_LINUX_SLL, &f);
	check_syn(&p);
	assert_int_equal(p.family, AF_INET);
	f = sll(&ip6);
	p = decode_ok(DLT_LINUX_SLL, &f);
	check_syn(&p);
	assert_int_equal(p.family, AF_INET6);
	expect_malformed(DLT_LINUX_SLL, f.b, 15);
}

static void test_decode_sll2(void **state)
{
	struct buf seg = syn_segment(), ip4 = ipv4(&seg), ip6 = ipv6(&seg), f;
	struct rsl_packet p;

	f = sll2(&ip4);
	p = decode_ok(DLT_LINUX_SLL2, &f);
	check_syn(&p);
	assert_int_equal(p.family, AF_INET);
	f = sll2(&ip6);
	p = decode_ok(DLT_LINUX_SLL2, &f);
	check_syn(&p);
	assert_int_equal(p.family, AF_INET6);
	expect_malformed(DLT_LINUX_SLL2, f.b, 19);
}

static void test_decode_raw(void **state)
{
	struct buf seg = syn_segment(), ip4 = ipv4(&seg), ip6 = ipv6(&seg);
	struct rsl_packet p;

	p = decode_ok(DLT_RAW, &ip4);
	check_syn(&p);
	assert_int_equal(p.family, AF_INET);
	p = decode_ok(DLT_RAW, &ip6);
	check_syn(&p);
	assert_int_equal(p.family, AF_INET6);
	/* the file form of LINKTYPE_RAW, and the per-version link types */
	p = decode_ok(101, &ip6);
	assert_int_equal(p.family, AF_INET6);
	p = decode_ok(228, &ip4);
	assert_int_equal(p.family, AF_INET);
	p = decode_ok(229, &ip6);
	assert_int_equal(p.family, AF_INET6);
	/* 228 is IPv4 only: an IPv6 packet there is a contradiction */
	expect_malformed(228, ip6.b, ip6.n);
	expect_malformed(DLT_RAW, ip4.b, 0);
	/* version 5 is neither */
	ip4.b[0] = 0x55;
	expect_skip(DLT_RAW, ip4.b, ip4.n);
}

static void test_decode_null_and_loop(void **state)
{
	struct buf seg = syn_segment(), ip4 = ipv4(&seg), ip6 = ipv6(&seg), f;
	static const uint32_t v6_families[] = { 10, 24, 28, 30 };
	struct rsl_packet p;
	size_t i;
	int lt;

	for (lt = 0; lt < 2; lt++) {
		int linktype = lt == 0 ? DLT_NULL : DLT_LOOP;

		f = loopback(&ip4, 2, true);
		p = decode_ok(linktype, &f);
		check_syn(&p);
		assert_int_equal(p.family, AF_INET);
		f = loopback(&ip4, 2, false);
		p = decode_ok(linktype, &f);
		assert_int_equal(p.family, AF_INET);
		for (i = 0; i < sizeof v6_families / sizeof v6_families[0]; i++) {
			f = loopback(&ip6, v6_families[i], i % 2 == 0);
			p = decode_ok(linktype, &f);
			assert_int_equal(p.family, AF_INET6);
		}
		/* AF_UNIX is not IP */
		f = loopback(&ip4, 1, true);
		expect_skip(linktype, f.b, f.n);
		expect_malformed(linktype, f.b, 3);
	}
}

/* ---- skipped frames ------------------------------------------------------- */

static void test_decode_not_tcp_skipped(void **state)
{
	struct buf udp = { .n = 0 }, ip, f;
	static const uint8_t arp[42] = { [12] = 0x08, [13] = 0x06 };
	static const uint8_t ieee8023[60] = { [12] = 0x00, [13] = 0x2e };

	put_zeros(&udp, 8);
	ip = ipv4_frag(&udp, 17, 0);
	f = ether(&ip);
	expect_skip(DLT_EN10MB, f.b, f.n);
	ip = ipv6_ext(&udp, 17, NULL, 0);
	f = ether(&ip);
	expect_skip(DLT_EN10MB, f.b, f.n);
	/* ICMPv6 behind a hop-by-hop header */
	{
		static const uint8_t hbh[8] = { 58, 0, 1, 4 };
		ip = ipv6_ext(&udp, 0, hbh, sizeof hbh);
		f = ether(&ip);
		expect_skip(DLT_EN10MB, f.b, f.n);
	}
	expect_skip(DLT_EN10MB, arp, sizeof arp);
	expect_skip(DLT_EN10MB, ieee8023, sizeof ieee8023);
	/* a link type we do not know */
	expect_skip(147, f.b, f.n);
}

/* ---- malformations -------------------------------------------------------- */

static void test_decode_truncated_link_header(void **state)
{
	struct buf seg = syn_segment(), ip = ipv4(&seg), f = ether(&ip);

	expect_malformed(DLT_EN10MB, f.b, 13);
	expect_malformed(DLT_EN10MB, f.b, 0);
	expect_malformed(DLT_EN10MB, NULL, 0);
}

static void test_decode_truncated_ipv4_header(void **state)
{
	struct buf seg = syn_segment(), ip = ipv4(&seg), f = ether(&ip);

	expect_malformed(DLT_EN10MB, f.b, 14 + 10);
	expect_malformed(DLT_EN10MB, f.b, 14 + 19);
}

static void test_decode_ipv4_bad_ihl(void **state)
{
	struct buf seg = syn_segment(), ip = ipv4(&seg), f;

	ip.b[0] = 0x44;
	f = ether(&ip);
	expect_malformed(DLT_EN10MB, f.b, f.n);
	/* IHL 15 (60 bytes) but only 24 bytes captured */
	ip.b[0] = 0x4f;
	f = ether(&ip);
	expect_malformed(DLT_EN10MB, f.b, 14 + 24);
}

static void test_decode_ipv4_bad_version(void **state)
{
	struct buf seg = syn_segment(), ip = ipv4(&seg), f;

	ip.b[0] = 0x65; /* Ethernet said IPv4 */
	f = ether(&ip);
	f.b[12] = 0x08;
	f.b[13] = 0x00;
	expect_malformed(DLT_EN10MB, f.b, f.n);
}

static void test_decode_ipv4_total_length_short(void **state)
{
	struct buf seg = syn_segment(), ip = ipv4(&seg), f;

	/* shorter than its own header */
	ip.b[2] = 0;
	ip.b[3] = 12;
	f = ether(&ip);
	expect_malformed(DLT_EN10MB, f.b, f.n);
	/* room for the IP header, not for TCP's */
	ip.b[3] = 30;
	f = ether(&ip);
	expect_malformed(DLT_EN10MB, f.b, f.n);
}

static void test_decode_tcp_doff_below_5(void **state)
{
	struct seg s = { .sport = 1, .dport = 2, .flags = RSL_TH_ACK, .doff = 4 };
	struct buf seg = tcp_segment(&s), ip = ipv4(&seg), f = ether(&ip);

	expect_malformed(DLT_EN10MB, f.b, f.n);
}

static void test_decode_tcp_doff_past_caplen(void **state)
{
	struct buf seg = syn_segment(), ip = ipv4(&seg), f = ether(&ip);

	/* the header (40 bytes) is declared whole but the capture kept 30 */
	expect_malformed(DLT_EN10MB, f.b, 14 + 20 + 30);
	/* and a cut inside the fixed header */
	expect_malformed(DLT_EN10MB, f.b, 14 + 20 + 12);
}

static void test_decode_tcp_doff_past_ip_length(void **state)
{
	struct seg s = { .sport = 1, .dport = 2, .flags = RSL_TH_ACK, .doff = 15 };
	struct buf seg = tcp_segment(&s), ip, f;

	/* 60-byte header claimed in a 20-byte segment, trailer bytes after */
	ip = ipv4(&seg);
	f = ether(&ip);
	put_zeros(&f, 40);
	expect_malformed(DLT_EN10MB, f.b, f.n);
}

static void test_decode_tcp_option_malformed(void **state)
{
	static const uint8_t len0[] = { 2, 0, 0, 0 };
	static const uint8_t len1[] = { 1, 1, 8, 1 };
	static const uint8_t past[] = { 1, 1, 8, 10, 0, 0, 0, 0 };
	static const uint8_t lastbyte[] = { 1, 1, 1, 3 };
	static const uint8_t badmss[] = { 2, 3, 0, 1 };
	static const uint8_t badsack[] = { 5, 6, 0, 0, 0, 1, 1, 1 };
	static const uint8_t badts[] = { 8, 6, 0, 0, 0, 1, 1, 1 };
	static const uint8_t badws[] = { 3, 4, 0, 1 };
	static const uint8_t badsackok[] = { 4, 3, 0, 1 };
	static const struct {
		const uint8_t *o;
		size_t n;
	} cases[] = {
		{ len0, sizeof len0 }, { len1, sizeof len1 }, { past, sizeof past },
		{ lastbyte, sizeof lastbyte }, { badmss, sizeof badmss },
		{ badsack, sizeof badsack }, { badts, sizeof badts },
		{ badws, sizeof badws }, { badsackok, sizeof badsackok },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct seg s = { .sport = 1, .dport = 2, .flags = RSL_TH_SYN,
		                 .opts = cases[i].o, .optlen = cases[i].n };
		struct buf seg = tcp_segment(&s), ip = ipv4(&seg), f = ether(&ip);

		expect_malformed(DLT_EN10MB, f.b, f.n);
	}
}

static void test_decode_ipv6_truncated(void **state)
{
	static const uint8_t ext[] = { 6, 0, 1, 4, 0, 0, 0, 0 };
	struct buf seg = syn_segment(), ip = ipv6_ext(&seg, 0, ext, sizeof ext);
	struct buf f = ether(&ip);
	struct buf ip2;

	/* the base header cut */
	expect_malformed(DLT_EN10MB, f.b, 14 + 39);
	/* the extension header cut by the capture */
	expect_malformed(DLT_EN10MB, f.b, 14 + 40 + 1);
	expect_malformed(DLT_EN10MB, f.b, 14 + 40 + 5);
	/* the extension header longer than the payload length says */
	ip2 = ip;
	ip2.b[4] = 0;
	ip2.b[5] = 4;
	f = ether(&ip2);
	expect_malformed(DLT_EN10MB, f.b, f.n);
	/* an extension header claiming 2 KiB in a small packet */
	ip2 = ip;
	ip2.b[41] = 255;
	f = ether(&ip2);
	expect_malformed(DLT_EN10MB, f.b, f.n);
	/* a version other than 6 behind an IPv6 ethertype */
	ip2 = ip;
	ip2.b[0] = 0x40;
	f = ether(&ip2);
	f.b[12] = 0x86;
	f.b[13] = 0xdd;
	expect_malformed(DLT_EN10MB, f.b, f.n);
}

/* Every prefix of good frames: never a read past the end (ASan), and a
 * cut frame is either decoded as truncated or called malformed. */
static void test_decode_every_prefix(void **state)
{
	static const uint8_t hbh[8] = { 6, 0, 1, 4 };
	static const uint16_t two[] = { 0x88a8, 0x8100 };
	struct buf seg = syn_segment(), data = data_segment(30);
	struct buf ip4 = ipv4(&seg), ip6 = ipv6_ext(&data, 0, hbh, sizeof hbh);
	struct buf frames[4];
	int lts[4] = { DLT_EN10MB, DLT_EN10MB, DLT_LINUX_SLL2, DLT_RAW };
	size_t i, n;

	frames[0] = ether(&ip4);
	frames[1] = ether_tagged(&ip6, two, 2);
	frames[2] = sll2(&ip6);
	frames[3] = ip4;
	for (i = 0; i < 4; i++) {
		for (n = 0; n <= frames[i].n; n++) {
			/* a heap copy of exactly n bytes, so ASan sees overreads */
			uint8_t *copy = malloc(n ? n : 1);
			struct rsl_packet p;
			const char *why = NULL;
			int rc;

			assert_non_null(copy);
			memcpy(copy, frames[i].b, n);
			p.ts = 0;
			rc = rsl_decode(lts[i], copy, n, &p, &why);
			if (rc == RSL_OK) {
				assert_int_equal(p.truncated, n < frames[i].n);
			} else {
				assert_int_equal(rc, RSL_EMALFORMED);
				assert_non_null(why);
			}
			free(copy);
		}
	}
}

/* Corrupt good frames a few bytes at a time (a fixed-seed generator, so a
 * failure repeats): the decoder must answer something and read nothing
 * past the end. */
static void test_decode_mutations_stay_in_bounds(void **state)
{
	static const uint16_t one[] = { 0x8100 };
	struct buf seg = syn_segment(), data = data_segment(20);
	struct buf ip4 = ipv4(&seg), ip6 = ipv6(&data);
	struct buf frames[3];
	int lts[3] = { DLT_EN10MB, DLT_EN10MB, DLT_LINUX_SLL };
	uint32_t x = 12345;
	int round;

	frames[0] = ether(&ip4);
	frames[1] = ether_tagged(&ip6, one, 1);
	frames[2] = sll(&ip4);
	for (round = 0; round < 20000; round++) {
		const struct buf *f = &frames[round % 3];
		size_t n = f->n, k;
		uint8_t *copy = malloc(n);
		struct rsl_packet p;
		const char *why;
		int rc;

		assert_non_null(copy);
		memcpy(copy, f->b, n);
		for (k = 0; k < 3; k++) {
			x = x * 1103515245u + 12345u;
			copy[(x >> 8) % n] = (uint8_t)(x >> 24);
		}
		x = x * 1103515245u + 12345u;
		n -= (x >> 16) % 8;
		p.ts = 0;
		why = NULL;
		rc = rsl_decode(lts[round % 3], copy, n, &p, &why);
		assert_true(rc == RSL_OK || rc == RSL_ESKIP || rc == RSL_EMALFORMED);
		if (rc == RSL_EMALFORMED)
			assert_non_null(why);
		if (rc == RSL_OK)
			assert_true(p.nsack >= 0 && p.nsack <= RSL_MAX_SACK);
		free(copy);
	}
}

/* ---- flags ---------------------------------------------------------------- */

static void test_decode_flags_format(void **state)
{
	static const struct {
		uint8_t flags;
		const char *text;
	} cases[] = {
		{ RSL_TH_SYN, "S" },
		{ RSL_TH_SYN | RSL_TH_ACK, "S." },
		{ RSL_TH_ACK, "." },
		{ RSL_TH_PSH | RSL_TH_ACK, "P." },
		{ RSL_TH_FIN | RSL_TH_ACK, "F." },
		{ RSL_TH_RST, "R" },
		{ RSL_TH_RST | RSL_TH_ACK, "R." },
		{ RSL_TH_FIN | RSL_TH_PSH | RSL_TH_ACK, "FP." },
		{ RSL_TH_SYN | RSL_TH_ECE | RSL_TH_CWR, "SEW" },
		{ RSL_TH_SYN | RSL_TH_ACK | RSL_TH_ECE, "S.E" },
		{ RSL_TH_URG | RSL_TH_ACK, ".U" },
		{ 0xff, "FSRP.UEW" },
		{ 0, "none" },
	};
	char buf[10];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *r = rsl_flags_format(cases[i].flags, buf, sizeof buf);

		assert_ptr_equal(r, buf);
		assert_string_equal(buf, cases[i].text);
	}
}

static void test_decode_flags_format_short_buffer(void **state)
{
	char buf[3];

	assert_string_equal(rsl_flags_format(0xff, buf, sizeof buf), "FS");
	assert_string_equal(rsl_flags_format(0, buf, 1), "");
}

/* ---- pcap files in tests/data, made here ----------------------------------- */

struct sample_file {
	const char *name;
	int linktype;
	struct buf frames[6];
	size_t n;
};

static void make_samples(struct sample_file *sf, size_t *count)
{
	static const uint16_t one[] = { 0x8100 };
	static const uint8_t hbh[8] = { 6, 0, 1, 4 };
	static const uint8_t sack_opts[] = { 1, 1, 5, 10, 0, 0, 0x13, 0x88, 0, 0, 0x17, 0x70 };
	struct seg sack = { .sport = 80, .dport = 40000, .seq = 5001, .ack = 1001,
	                    .flags = RSL_TH_ACK, .win = 500, .opts = sack_opts,
	                    .optlen = sizeof sack_opts };
	struct seg rst = { .sport = 80, .dport = 40000, .seq = 5001, .ack = 1011,
	                   .flags = RSL_TH_RST | RSL_TH_ACK };
	struct buf syn = syn_segment(), data = data_segment(10);
	struct buf sackseg = tcp_segment(&sack), rstseg = tcp_segment(&rst);
	struct buf ip;

	memset(sf, 0, 3 * sizeof *sf);

	sf[0].name = "decode-en10mb.pcap";
	sf[0].linktype = DLT_EN10MB;
	ip = ipv4(&syn);
	sf[0].frames[sf[0].n++] = ether(&ip);
	ip = ipv4(&data);
	sf[0].frames[sf[0].n++] = ether_tagged(&ip, one, 1);
	ip = ipv4(&sackseg);
	sf[0].frames[sf[0].n++] = ether(&ip);
	ip = ipv6_ext(&rstseg, 0, hbh, sizeof hbh);
	sf[0].frames[sf[0].n++] = ether(&ip);

	sf[1].name = "decode-sll2.pcap";
	sf[1].linktype = DLT_LINUX_SLL2;
	ip = ipv4(&syn);
	sf[1].frames[sf[1].n++] = sll2(&ip);
	ip = ipv6(&data);
	sf[1].frames[sf[1].n++] = sll2(&ip);

	sf[2].name = "decode-raw.pcap";
	sf[2].linktype = DLT_RAW;
	sf[2].frames[sf[2].n++] = ipv4(&sackseg);
	sf[2].frames[sf[2].n++] = ipv6(&rstseg);
	*count = 3;
}

static void write_sample(const struct sample_file *sf, const char *path)
{
	pcap_t *dead = pcap_open_dead(sf->linktype, 65535);
	pcap_dumper_t *d;
	size_t i;

	assert_non_null(dead);
	d = pcap_dump_open(dead, path);
	if (d == NULL)
		fail_msg("cannot write %s: %s", path, pcap_geterr(dead));
	for (i = 0; i < sf->n; i++) {
		/* fixed timestamps, so the file is the same on every run */
		struct pcap_pkthdr h = { .ts = { .tv_sec = 1700000000 + (time_t)i,
		                                 .tv_usec = 1000 * (suseconds_t)i },
		                         .caplen = (uint32_t)sf->frames[i].n,
		                         .len = (uint32_t)sf->frames[i].n };
		pcap_dump((u_char *)d, &h, sf->frames[i].b);
	}
	pcap_dump_close(d);
	pcap_close(dead);
}

static void test_decode_data_files(void **state)
{
	struct sample_file sf[3];
	size_t nfiles, i;

	make_samples(sf, &nfiles);
	for (i = 0; i < nfiles; i++) {
		char path[512], errbuf[PCAP_ERRBUF_SIZE];
		struct pcap_pkthdr *h;
		const u_char *bytes;
		pcap_t *p;
		size_t k = 0;
		FILE *fp;

		snprintf(path, sizeof path, "%s/%s", RSTLAB_TEST_DATA, sf[i].name);
		fp = fopen(path, "rb");
		if (fp == NULL || getenv("RSTLAB_REGENERATE_DATA") != NULL)
			write_sample(&sf[i], path);
		if (fp)
			fclose(fp);

		p = pcap_open_offline(path, errbuf);
		if (p == NULL)
			fail_msg("%s: %s", path, errbuf);
		assert_int_equal(pcap_datalink(p), sf[i].linktype);
		while (pcap_next_ex(p, &h, &bytes) == 1) {
			struct rsl_packet want, got;

			/* the stored file is what this generator makes */
			if (k >= sf[i].n || h->caplen != sf[i].frames[k].n ||
			    memcmp(bytes, sf[i].frames[k].b, h->caplen) != 0) {
				pcap_close(p);
				fail_msg("%s: frame %zu differs from what this test generates "
				         "(regenerate with RSTLAB_REGENERATE_DATA=1)", path, k);
			}
			want = decode_ok(sf[i].linktype, &sf[i].frames[k]);
			got.ts = 0;
			assert_int_equal(rsl_decode(pcap_datalink(p), bytes, h->caplen, &got,
			                            NULL), RSL_OK);
			assert_same_packet(&got, &want);
			k++;
		}
		assert_int_equal(k, sf[i].n);
		pcap_close(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_syn_with_options),
		cmocka_unit_test(test_decode_leaves_ts_alone),
		cmocka_unit_test(test_decode_absent_options),
		cmocka_unit_test(test_decode_sack_ack),
		cmocka_unit_test(test_decode_sack_four_blocks),
		cmocka_unit_test(test_decode_unknown_option_skipped),
		cmocka_unit_test(test_decode_eol_ends_options),
		cmocka_unit_test(test_decode_payload_length),
		cmocka_unit_test(test_decode_truncated_payload),
		cmocka_unit_test(test_decode_ethernet_padding),
		cmocka_unit_test(test_decode_tso_zero_total_length),
		cmocka_unit_test(test_decode_ipv6),
		cmocka_unit_test(test_decode_ipv6_hop_by_hop),
		cmocka_unit_test(test_decode_ipv6_routing_and_ah),
		cmocka_unit_test(test_decode_ipv6_fragments),
		cmocka_unit_test(test_decode_ipv4_fragments),
		cmocka_unit_test(test_decode_ipv4_options),
		cmocka_unit_test(test_decode_vlan),
		cmocka_unit_test(test_decode_sll),
		cmocka_unit_test(test_decode_sll2),
		cmocka_unit_test(test_decode_raw),
		cmocka_unit_test(test_decode_null_and_loop),
		cmocka_unit_test(test_decode_not_tcp_skipped),
		cmocka_unit_test(test_decode_truncated_link_header),
		cmocka_unit_test(test_decode_truncated_ipv4_header),
		cmocka_unit_test(test_decode_ipv4_bad_ihl),
		cmocka_unit_test(test_decode_ipv4_bad_version),
		cmocka_unit_test(test_decode_ipv4_total_length_short),
		cmocka_unit_test(test_decode_tcp_doff_below_5),
		cmocka_unit_test(test_decode_tcp_doff_past_caplen),
		cmocka_unit_test(test_decode_tcp_doff_past_ip_length),
		cmocka_unit_test(test_decode_tcp_option_malformed),
		cmocka_unit_test(test_decode_ipv6_truncated),
		cmocka_unit_test(test_decode_every_prefix),
		cmocka_unit_test(test_decode_mutations_stay_in_bounds),
		cmocka_unit_test(test_decode_flags_format),
		cmocka_unit_test(test_decode_flags_format_short_buffer),
		cmocka_unit_test(test_decode_data_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
