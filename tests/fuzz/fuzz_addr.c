/*
 * libFuzzer target for the address parser (core/addr.c): the "ip:port"
 * text every script passes to listen, connect and bind. Whatever parses
 * must format and parse back to the same address.
 *
 * Build and run: see README ("Fuzzing"); tests/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rstlab/rstlab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rsl_addr a, b;
	char text[128], buf[80];

	if (size < 1 || size >= sizeof text)
		return 0;
	/* the first byte: allow a missing port or not; the rest is the text,
	 * cut at its first NUL as a C string would be */
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (rsl_addr_parse(text, data[0] & 1, &a) != RSL_OK)
		return 0;
	if (a.family != AF_INET && a.family != AF_INET6)
		abort();
	rsl_addr_format(&a, buf, sizeof buf);
	if (rsl_addr_parse(buf, false, &b) != RSL_OK || b.family != a.family ||
	    b.port != a.port || memcmp(a.ip, b.ip, 16) != 0)
		abort();
	return 0;
}
