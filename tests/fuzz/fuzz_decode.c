/*
 * libFuzzer target for the frame decoder (core/decode.c).
 *
 * The first byte picks the link type, the rest is the frame as a capture
 * would hand it over: truncated and malformed link, IPv4, IPv6 (extension
 * headers) and TCP headers, bad lengths, bad options. libFuzzer gives the
 * frame in a heap buffer of exactly its size, so ASan sees any read past
 * caplen. Besides "no crash", the target checks what rsl_decode promises:
 * a reason for every refusal, and decoded fields within their ranges.
 *
 * Build and run: see README ("Fuzzing"); tests/fuzz/run.sh.
 */
#include <pcap/dlt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rstlab/rstlab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int linktypes[] = {
	DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, 101 /* raw, as in files */,
	DLT_IPV4, DLT_IPV6, DLT_NULL, DLT_LOOP, 108 /* loop, as in files */,
	DLT_IEEE802_11, /* unsupported: must be skipped */
};
#define NLINK (sizeof linktypes / sizeof linktypes[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rsl_packet p;
	const char *why = (const char *)1; /* must be overwritten */
	char flags[10];
	int rc;

	if (size < 1)
		return 0;
	p.ts = 42.5;
	rc = rsl_decode(linktypes[data[0] % NLINK], data + 1, size - 1, &p, &why);
	switch (rc) {
	case RSL_OK:
		if (why != NULL || p.ts != 42.5)
			abort();
		if (p.family != AF_INET && p.family != AF_INET6)
			abort();
		if (p.nsack < 0 || p.nsack > RSL_MAX_SACK)
			abort();
		if (p.mss < -1 || p.mss > 65535 || p.wscale < -1 || p.wscale > 255)
			abort();
		/* the payload length comes from the IP header: never more than
		 * an IP packet can declare */
		if (p.len > 65535 + 40 + (size_t)size)
			abort();
		rsl_flags_format(p.flags, flags, sizeof flags);
		if (strlen(flags) == 0)
			abort();
		break;
	case RSL_ESKIP:
	case RSL_EMALFORMED:
		if (why == NULL || why == (const char *)1 || why[0] == '\0')
			abort();
		break;
	default:
		abort();
	}
	/* a NULL reason pointer is allowed */
	rsl_decode(linktypes[data[0] % NLINK], data + 1, size - 1, &p, NULL);
	return 0;
}
