/*
 * The one table of error codes. Scripts compare error codes as strings
 * ("ECONNRESET"), so the name is the stable part of every failure; the
 * sentence is only for people. A code is either an errno name, or one of
 * the pseudo-codes rstlab reports where no errno says what happened (a
 * recv() that returned 0 is EOF, the script's own deadline is TIMEOUT).
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E(x) { x, #x }

static const struct {
	int num;
	const char *name;
} errnos[] = {
	E(EPERM), E(ENOENT), E(EINTR), E(EIO), E(EBADF), E(EAGAIN),
	E(ENOMEM), E(EACCES), E(EFAULT), E(EBUSY), E(EEXIST), E(ENODEV),
	E(EINVAL), E(ENFILE), E(EMFILE), E(ENOSPC), E(EPIPE), E(ERANGE),
	E(ENOSYS), E(ENOTSOCK), E(EDESTADDRREQ), E(EMSGSIZE), E(EPROTOTYPE),
	E(ENOPROTOOPT), E(EPROTONOSUPPORT), E(EOPNOTSUPP), E(EAFNOSUPPORT),
	E(EADDRINUSE), E(EADDRNOTAVAIL), E(ENETDOWN), E(ENETUNREACH),
	E(ENETRESET), E(ECONNABORTED), E(ECONNRESET), E(ENOBUFS), E(EISCONN),
	E(ENOTCONN), E(ESHUTDOWN), E(ETIMEDOUT), E(ECONNREFUSED), E(EHOSTDOWN),
	E(EHOSTUNREACH), E(EALREADY), E(EINPROGRESS), E(EPROTO), E(ENONET),
	E(ENOPKG), E(EREMOTEIO),
};

/* rstlab's own codes, beside the errno names. */
static const struct {
	const char *name;
	const char *text;
} pseudo[] = {
	{ "EOF", "the peer closed the stream (recv returned 0)" },
	{ "TIMEOUT", "the script's own deadline passed" },
	{ "ECLOSED", "the socket was closed while waiting" },
	{ "EUNAVAIL", "the kernel does not offer this facility" },
	{ "ESYSCTL", "a sysctl could not be read or written" },
	{ "EDIAG", "sock_diag could not list or destroy the sockets" },
	{ "ECOUNTERS", "the TCP counters could not be read" },
	{ "ELINK", "a link, address or route could not be set up" },
	{ "ECAPTURE", "the capture could not be opened" },
	{ "ESEND", "the crafted segment could not be sent" },
	{ "EPCAP", "the pcap file could not be written" },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *rsl_errno_name(int err)
{
	for (size_t i = 0; i < COUNT(errnos); i++)
		if (errnos[i].num == err)
			return errnos[i].name;
	static _Thread_local char buf[16];
	snprintf(buf, sizeof buf, "E%d", err);
	return buf;
}

const char *rsl_code_text(const char *code)
{
	if (code == NULL)
		return NULL;
	for (size_t i = 0; i < COUNT(pseudo); i++)
		if (strcmp(pseudo[i].name, code) == 0)
			return pseudo[i].text;
	for (size_t i = 0; i < COUNT(errnos); i++)
		if (strcmp(errnos[i].name, code) == 0)
			return strerror(errnos[i].num);
	/* "E<number>": what rsl_errno_name gives an errno without a name. */
	if (code[0] == 'E' && code[1] >= '1' && code[1] <= '9') {
		char *end;
		long n = strtol(code + 1, &end, 10);
		if (*end == '\0' && n > 0 && n < 4096)
			return strerror((int)n);
	}
	return NULL;
}
