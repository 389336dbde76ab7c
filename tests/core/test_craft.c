/*
 * Tests of crafted segments (core/craft.c): what rsl_craft_build makes is
 * what the decoder reads back, field by field, over IPv4 and IPv6 with
 * every option; checksums verify; bad requests are refused with a reason.
 * Sending is tested on the running kernel from Lua (tests/lua/test_craft.lua),
 * where a host and a capture are at hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pcap/dlt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "rstlab/rstlab.h"

static struct rsl_packet base(int family)
{
	struct rsl_packet p;
	memset(&p, 0, sizeof p);
	p.family = family;
	if (family == AF_INET) {
		uint8_t s[4] = { 10, 0, 0, 1 }, d[4] = { 10, 0, 0, 2 };
		memcpy(p.src, s, 4);
		memcpy(p.dst, d, 4);
	} else {
		p.src[0] = 0xfd;
		p.src[15] = 1;
		p.dst[0] = 0xfd;
		p.dst[15] = 2;
	}
	p.sport = 40000;
	p.dport = 80;
	p.seq = 0xfffffff0u;
	p.ack = 12345;
	p.flags = RSL_TH_ACK | RSL_TH_PSH;
	p.win = 512;
	p.ttl = 61;
	p.mss = -1;
	p.wscale = -1;
	return p;
}

static struct rsl_packet roundtrip(const struct rsl_packet *in, const char *payload)
{
	uint8_t buf[2048];
	size_t len = 0;
	char err[128] = "";
	size_t plen = payload ? strlen(payload) : 0;
	assert_int_equal(rsl_craft_build(in, (const uint8_t *)payload, plen, buf, sizeof buf,
	                                 &len, err, sizeof err), RSL_OK);
	struct rsl_packet out;
	const char *why = NULL;
	memset(&out, 0, sizeof out);
	int rc = rsl_decode(DLT_RAW, buf, len, &out, &why);
	if (rc != RSL_OK)
		fail_msg("decode: %s", why ? why : "?");
	assert_int_equal(out.len, plen);
	return out;
}

static void same(const struct rsl_packet *a, const struct rsl_packet *b)
{
	assert_int_equal(a->family, b->family);
	assert_memory_equal(a->src, b->src, a->family == AF_INET ? 4 : 16);
	assert_memory_equal(a->dst, b->dst, a->family == AF_INET ? 4 : 16);
	assert_int_equal(a->sport, b->sport);
	assert_int_equal(a->dport, b->dport);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->ack, b->ack);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->win, b->win);
	assert_int_equal(a->ttl, b->ttl);
	assert_int_equal(a->mss, b->mss);
	assert_int_equal(a->wscale, b->wscale);
	assert_int_equal(a->sack_ok, b->sack_ok);
	assert_int_equal(a->has_ts, b->has_ts);
	if (a->has_ts) {
		assert_int_equal(a->ts_val, b->ts_val);
		assert_int_equal(a->ts_ecr, b->ts_ecr);
	}
	assert_int_equal(a->nsack, b->nsack);
	for (int i = 0; i < a->nsack; i++) {
		assert_int_equal(a->sack[i][0], b->sack[i][0]);
		assert_int_equal(a->sack[i][1], b->sack[i][1]);
	}
}

static void test_craft_plain_ipv4(void **state)
{
	struct rsl_packet p = base(AF_INET);
	struct rsl_packet q = roundtrip(&p, "hello");
	same(&p, &q);
}

static void test_craft_every_option(void **state)
{
	for (int fam = 0; fam < 2; fam++) {
		struct rsl_packet p = base(fam ? AF_INET6 : AF_INET);
		p.flags = RSL_TH_SYN;
		p.mss = 1460;
		p.wscale = 7;
		p.sack_ok = true;
		p.has_ts = true;
		p.ts_val = 0xdeadbeef;
		p.ts_ecr = 7;
		struct rsl_packet q = roundtrip(&p, NULL);
		same(&p, &q);
		/* each alone */
		struct rsl_packet r = base(fam ? AF_INET6 : AF_INET);
		r.has_ts = true;
		r.ts_val = 1;
		q = roundtrip(&r, NULL);
		same(&r, &q);
		r = base(fam ? AF_INET6 : AF_INET);
		r.sack_ok = true;
		q = roundtrip(&r, "x");
		same(&r, &q);
	}
}

static void test_craft_sack_blocks(void **state)
{
	struct rsl_packet p = base(AF_INET6);
	p.has_ts = true;
	p.ts_val = 100;
	p.ts_ecr = 200;
	p.nsack = 3;
	for (int i = 0; i < 3; i++) {
		p.sack[i][0] = 1000u * (uint32_t)(i + 1);
		p.sack[i][1] = 1000u * (uint32_t)(i + 1) + 500;
	}
	struct rsl_packet q = roundtrip(&p, NULL);
	same(&p, &q);
}

/* The TCP checksum over the pseudo header and segment sums to 0xffff. */
static void test_craft_checksums(void **state)
{
	for (int fam = 0; fam < 2; fam++) {
		struct rsl_packet p = base(fam ? AF_INET6 : AF_INET);
		uint8_t buf[256];
		size_t len;
		char err[64];
		assert_int_equal(rsl_craft_build(&p, (const uint8_t *)"odd", 3, buf, sizeof buf, &len,
		                                 err, sizeof err), RSL_OK);
		size_t ip = fam ? 40 : 20;
		uint32_t sum = 6 + (uint32_t)(len - ip);
		size_t alen = fam ? 16 : 4;
		const uint8_t *src = buf + (fam ? 8 : 12), *dst = buf + (fam ? 24 : 16);
		for (size_t i = 0; i < alen; i += 2)
			sum += (uint32_t)(src[i] << 8 | src[i + 1]) + (uint32_t)(dst[i] << 8 | dst[i + 1]);
		for (size_t i = ip; i < len; i += 2)
			sum += (uint32_t)(buf[i] << 8 | (i + 1 < len ? buf[i + 1] : 0));
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		assert_int_equal(sum, 0xffff);
		if (!fam) { /* and the IPv4 header's own */
			uint32_t h = 0;
			for (size_t i = 0; i < 20; i += 2)
				h += (uint32_t)(buf[i] << 8 | buf[i + 1]);
			while (h >> 16)
				h = (h & 0xffff) + (h >> 16);
			assert_int_equal(h, 0xffff);
		}
	}
}

static void test_craft_refuses(void **state)
{
	uint8_t buf[64], big[70000];
	size_t len;
	char err[128] = "";
	struct rsl_packet p = base(AF_INET);
	p.family = AF_UNIX;
	assert_int_equal(rsl_craft_build(&p, NULL, 0, buf, sizeof buf, &len, err, sizeof err), RSL_EINVAL);
	assert_non_null(strstr(err, "IPv4 or IPv6"));
	p = base(AF_INET);
	p.wscale = 15;
	assert_int_equal(rsl_craft_build(&p, NULL, 0, buf, sizeof buf, &len, err, sizeof err), RSL_EINVAL);
	p = base(AF_INET);
	p.mss = 1460;
	p.has_ts = true;
	p.sack_ok = true;
	p.wscale = 1;
	p.nsack = 3; /* 4 + 12 + 4 + 4 + 24 > 40 */
	assert_int_equal(rsl_craft_build(&p, NULL, 0, buf, sizeof buf, &len, err, sizeof err), RSL_EINVAL);
	assert_non_null(strstr(err, "40 bytes"));
	p = base(AF_INET);
	assert_int_equal(rsl_craft_build(&p, big, 100, buf, sizeof buf, &len, err, sizeof err), RSL_EINVAL);
	assert_int_equal(rsl_craft_build(&p, big, 65535, big, sizeof big, &len, err, sizeof err), RSL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_craft_plain_ipv4),
		cmocka_unit_test(test_craft_every_option),
		cmocka_unit_test(test_craft_sack_blocks),
		cmocka_unit_test(test_craft_checksums),
		cmocka_unit_test(test_craft_refuses),
	};
	return cmocka_run_group_tests_name("craft", tests, NULL, NULL);
}
