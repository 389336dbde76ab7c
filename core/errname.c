/*
 * errno numbers to their names. Scripts compare error codes as strings
 * ("ECONNRESET"), so the name is the stable part of every network failure;
 * the strerror() text is only for people.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>

#define E(x) case x: return #x

const char *rsl_errno_name(int err)
{
	switch (err) {
	E(EPERM); E(ENOENT); E(EINTR); E(EIO); E(EBADF); E(EAGAIN);
	E(ENOMEM); E(EACCES); E(EFAULT); E(EBUSY); E(EEXIST); E(ENODEV);
	E(EINVAL); E(ENFILE); E(EMFILE); E(ENOSPC); E(EPIPE); E(ERANGE);
	E(ENOSYS); E(ENOTSOCK); E(EDESTADDRREQ); E(EMSGSIZE); E(EPROTOTYPE);
	E(ENOPROTOOPT); E(EPROTONOSUPPORT); E(EOPNOTSUPP); E(EAFNOSUPPORT);
	E(EADDRINUSE); E(EADDRNOTAVAIL); E(ENETDOWN); E(ENETUNREACH);
	E(ENETRESET); E(ECONNABORTED); E(ECONNRESET); E(ENOBUFS); E(EISCONN);
	E(ENOTCONN); E(ESHUTDOWN); E(ETIMEDOUT); E(ECONNREFUSED); E(EHOSTDOWN);
	E(EHOSTUNREACH); E(EALREADY); E(EINPROGRESS); E(EPROTO); E(ENONET);
	E(ENOPKG); E(EREMOTEIO);
	default: {
		static _Thread_local char buf[16];
		snprintf(buf, sizeof buf, "E%d", err);
		return buf;
	}
	}
}
