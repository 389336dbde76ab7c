/*
 * Addresses as scripts write them: "127.0.0.1:80", "[::1]:80". Parsing is
 * strict (a port is a decimal number 0..65535, nothing trails it) because a
 * typo in a scenario must be an error with a message, not a connection to
 * somewhere else.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int parse_port(const char *s, uint16_t *out)
{
	if (*s == '\0' || strlen(s) > 5)
		return RSL_EINVAL;
	unsigned long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return RSL_EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return RSL_EINVAL;
	*out = (uint16_t)v;
	return RSL_OK;
}

int rsl_addr_parse(const char *text, bool allow_noport, struct rsl_addr *out)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *port = NULL;
	size_t hlen;

	memset(out, 0, sizeof *out);
	if (text == NULL)
		return RSL_EINVAL;
	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		if (end == NULL)
			return RSL_EINVAL;
		hlen = (size_t)(end - text - 1);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return RSL_EINVAL;
		if (hlen == 0 || hlen >= sizeof host)
			return RSL_EINVAL;
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
	} else {
		const char *colon = strrchr(text, ':');
		/* A bare IPv6 address has several colons and no port. */
		if (colon != NULL && strchr(text, ':') != colon)
			colon = NULL;
		hlen = colon ? (size_t)(colon - text) : strlen(text);
		if (hlen == 0 || hlen >= sizeof host)
			return RSL_EINVAL;
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		if (colon)
			port = colon + 1;
	}
	if (port == NULL) {
		if (!allow_noport)
			return RSL_EINVAL;
	} else if (parse_port(port, &out->port) != RSL_OK) {
		return RSL_EINVAL;
	}

	char *pct = strchr(host, '%');
	if (pct != NULL) {
		*pct = '\0';
		out->scope_id = if_nametoindex(pct + 1);
		if (out->scope_id == 0)
			return RSL_EINVAL;
	}
	if (inet_pton(AF_INET, host, out->ip) == 1) {
		if (pct != NULL)
			return RSL_EINVAL;
		out->family = AF_INET;
		return RSL_OK;
	}
	if (inet_pton(AF_INET6, host, out->ip) == 1) {
		out->family = AF_INET6;
		return RSL_OK;
	}
	return RSL_EINVAL;
}

const char *rsl_ip_format(int family, const uint8_t ip[16], char *buf, size_t len)
{
	if (inet_ntop(family, ip, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

const char *rsl_addr_format(const struct rsl_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	rsl_ip_format(a->family, a->ip, ip, sizeof ip);
	if (a->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	else
		snprintf(buf, len, "%s:%u", ip, a->port);
	return buf;
}
