/*
 * Hosts: network namespaces held by file descriptor.
 *
 * A scenario's first host is the namespace its process runs in (the
 * sandbox). Every other host is a namespace made here without leaving that
 * one: unshare(CLONE_NEWNET), open /proc/self/ns/net, setns() back. Nothing
 * names it in /run/netns, so it lives exactly as long as an fd or a socket
 * refers to it: when the scenario process ends, on any path (return, error,
 * the runner's SIGKILL at a timeout, a signal), the kernel takes the
 * namespace down with its interfaces (veth ends, so the whole pair) and its
 * nftables rules. No cleanup code has to run for that.
 *
 * Also here: per-namespace sysctls (/proc/sys/net is the view of the
 * namespace the opener is in), the namespace's TCP counters (the Tcp and
 * TcpExt MIBs of /proc/net/snmp and /proc/net/netstat, read inside it), and
 * destroying every TCP socket of a namespace through sock_diag
 * SOCK_DESTROY, which is what a crash is.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/idiag/idiagnl.h>
#include <netlink/idiag/msg.h>
#include <netlink/route/link.h>

#define seterr(...) rsl_format_error(err, errlen, __VA_ARGS__)

/* Entering and leaving keep the caller's errno when they succeed, so that
 * a call made inside the namespace can be checked after coming back. */
int rsl_netns_enter(int nsfd, int *saved, char *err, size_t errlen)
{
	int keep = errno;
	*saved = -1;
	if (nsfd < 0)
		return RSL_OK;
	int cur = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (cur < 0) {
		seterr("opening /proc/self/ns/net: %s", strerror(errno));
		return RSL_ESYS;
	}
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		int e = errno;
		close(cur);
		seterr("setns: %s", strerror(e));
		errno = e;
		return RSL_ESYS;
	}
	*saved = cur;
	errno = keep;
	return RSL_OK;
}

int rsl_netns_leave(int saved, char *err, size_t errlen)
{
	int keep = errno;
	if (saved < 0)
		return RSL_OK;
	int rc = setns(saved, CLONE_NEWNET);
	int e = errno;
	close(saved);
	if (rc < 0) {
		seterr("returning to the previous network namespace: %s", strerror(e));
		errno = e;
		return RSL_ESYS;
	}
	errno = keep;
	return RSL_OK;
}

int rsl_netns_new(int *out, char *err, size_t errlen)
{
	char range[32];
	int lo, hi, rc = RSL_ESYS;
	int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int fd = -1;

	*out = -1;
	if (home < 0) {
		seterr("opening /proc/self/ns/net: %s", strerror(errno));
		return RSL_ESYS;
	}
	rsl_sandbox_child_tables();
	if (unshare(CLONE_NEWNET) < 0) {
		seterr("unshare(CLONE_NEWNET): %s", strerror(errno));
		close(home);
		return RSL_ESYS;
	}
	/* From here on we are in the new namespace and must go home on
	 * every path. */
	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		seterr("opening the new namespace: %s", strerror(errno));
		goto home;
	}
	if (rsl_lo_up(err, errlen) != RSL_OK)
		goto home;
	/* The same slice as the sandbox: the tcp_send_reset tracepoint is
	 * global, and a RST is attributed to this scenario by its ports. */
	rsl_sandbox_ports(&lo, &hi);
	if (lo > 0) {
		snprintf(range, sizeof range, "%d %d", lo, hi);
		if (rsl_write_text("/proc/sys/net/ipv4/ip_local_port_range", range) < 0) {
			seterr("setting ip_local_port_range: %s", strerror(errno));
			goto home;
		}
	}
	rc = RSL_OK;
home:
	if (setns(home, CLONE_NEWNET) < 0) {
		/* Stranded in the new namespace: every later socket would be
		 * born in the wrong place. Say so; the caller cannot go on. */
		seterr("returning to the home network namespace: %s", strerror(errno));
		rc = RSL_ESYS;
	}
	close(home);
	if (rc == RSL_OK)
		*out = fd;
	else if (fd >= 0)
		close(fd);
	return rc;
}

int rsl_netns_inode(int nsfd, unsigned long *ino, char *err, size_t errlen)
{
	struct stat st;
	int rc = nsfd >= 0 ? fstat(nsfd, &st) : stat("/proc/self/ns/net", &st);
	if (rc < 0) {
		seterr("stat: %s", strerror(errno));
		return RSL_ESYS;
	}
	*ino = (unsigned long)st.st_ino;
	return RSL_OK;
}

/* ---- sysctls ------------------------------------------------------------ */

/* "net.ipv4.tcp_syncookies" or "net/ipv4/tcp_syncookies" into a path under
 * /proc/sys. As sysctl(8) does, a name with a '/' keeps its dots (they may
 * be part of an interface name, e.g. net/ipv4/conf/eth0.5/rp_filter). */
static int sysctl_path(const char *name, char *path, size_t len, char *err, size_t errlen)
{
	bool slashes = strchr(name, '/') != NULL;
	size_t n = strlen(name);

	if (n == 0 || n > 200) {
		seterr("a sysctl name is 1 to 200 characters");
		return RSL_EINVAL;
	}
	for (const char *p = name; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.' ||
		      *p == '/')) {
			seterr("'%s' is not a sysctl name", name);
			return RSL_EINVAL;
		}
	}
	if (strstr(name, "..") || name[0] == '/' || name[0] == '.') {
		seterr("'%s' is not a sysctl name", name);
		return RSL_EINVAL;
	}
	if (strncmp(name, slashes ? "net/" : "net.", 4) != 0) {
		seterr("'%s' is not per network namespace: a host can only set net.* sysctls; "
		       "the others are the machine's, shared by every scenario", name);
		return RSL_EINVAL;
	}
	int k = snprintf(path, len, "/proc/sys/%s", name);
	if (k < 0 || (size_t)k >= len) {
		seterr("sysctl name too long");
		return RSL_EINVAL;
	}
	if (!slashes)
		for (char *p = path + strlen("/proc/sys/"); *p; p++)
			if (*p == '.')
				*p = '/';
	return RSL_OK;
}

int rsl_netns_sysctl(int nsfd, const char *name, const char *value, char *out,
                     size_t outlen, char *err, size_t errlen)
{
	char path[256];
	int saved, fd = -1, rc;

	if (outlen > 0)
		out[0] = '\0';
	rc = sysctl_path(name, path, sizeof path, err, errlen);
	if (rc != RSL_OK)
		return rc;
	if (rsl_netns_enter(nsfd, &saved, err, errlen) != RSL_OK)
		return RSL_ESYS;
	rc = RSL_ESYS;
	if (value != NULL) {
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			goto openerr;
		ssize_t n = write(fd, value, strlen(value));
		if (n < 0) {
			seterr("writing %s = %s: %s", name, value, strerror(errno));
			rc = errno == EINVAL ? RSL_EINVAL : RSL_ESYS;
			goto out;
		}
		close(fd);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto openerr;
	ssize_t n = read(fd, out, outlen > 0 ? outlen - 1 : 0);
	if (n < 0) {
		/* write-only entries exist (e.g. route/flush) */
		if (value != NULL && errno == EINVAL) {
			rc = RSL_OK;
			goto out;
		}
		seterr("reading %s: %s", name, strerror(errno));
		goto out;
	}
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	for (char *p = out; *p; p++)
		if (*p == '\t')
			*p = ' ';
	rc = RSL_OK;
	goto out;
openerr:
	if (errno == ENOENT) {
		/* Global net sysctls are registered for the initial namespace
		 * only; inside any other they do not exist at all. */
		seterr("'%s' does not exist inside a network namespace: it is either "
		       "global to the machine (not per network namespace) or unknown to "
		       "this kernel", name);
		rc = RSL_EINVAL;
	} else if (errno == EACCES || errno == EPERM) {
		seterr("'%s' cannot be %s inside a network namespace (%s): the kernel "
		       "keeps it for the initial namespace", name,
		       value ? "written" : "read", strerror(errno));
		rc = RSL_EINVAL;
	} else {
		seterr("%s: %s", path, strerror(errno));
	}
out:
	if (fd >= 0)
		close(fd);
	if (rsl_netns_leave(saved, err, errlen) != RSL_OK)
		rc = RSL_ESYS;
	return rc;
}

/* ---- counters: the namespace's Tcp and TcpExt MIBs ---------------------- */

/* The whole of a /proc file (whose size says 0) into a malloc'd string. */
static int read_proc(const char *path, char **text, char *err, size_t errlen)
{
	size_t len = 0, cap = 8192;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*text = NULL;
	if (buf == NULL || fd < 0) {
		seterr("%s: %s", path, buf ? strerror(errno) : "out of memory");
		goto fail;
	}
	for (;;) {
		if (cap - len < 2048) {
			char *more = realloc(buf, cap * 2);
			if (more == NULL) {
				seterr("%s: out of memory", path);
				goto fail;
			}
			buf = more;
			cap *= 2;
		}
		ssize_t k = read(fd, buf + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			seterr("reading %s: %s", path, strerror(errno));
			goto fail;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	buf[len] = '\0';
	close(fd);
	*text = buf;
	return RSL_OK;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return RSL_ESYS;
}

/* The line of text after "group:" whose words are names (values: false)
 * or numbers (values: true): the kernel writes the names line first. Its
 * start (after the colon) and length, or NULL. */
static const char *mib_line(const char *text, const char *group, bool values, size_t *len)
{
	size_t gl = strlen(group);
	bool seen_names = false;
	for (const char *l = text; *l; ) {
		const char *end = strchr(l, '\n');
		size_t ll = end ? (size_t)(end - l) : strlen(l);
		if (ll > gl && strncmp(l, group, gl) == 0 && l[gl] == ':') {
			if (seen_names == values) {
				*len = ll - gl - 1;
				return l + gl + 1;
			}
			seen_names = true;
		}
		l += ll + (end ? 1 : 0);
	}
	return NULL;
}

int rsl_netns_parse_counters(const char *text, const char *group, struct rsl_counter **v,
                             size_t *n, char *err, size_t errlen)
{
	size_t nl, vl;
	const char *names = mib_line(text, group, false, &nl);
	const char *vals = mib_line(text, group, true, &vl);

	if (names == NULL || vals == NULL) {
		seterr("no %s counters (a line of names and a line of values)", group);
		return RSL_EMALFORMED;
	}
	const char *ne = names + nl, *ve = vals + vl;
	for (;;) {
		while (names < ne && *names == ' ')
			names++;
		while (vals < ve && *vals == ' ')
			vals++;
		if (names == ne && vals == ve)
			return RSL_OK;
		if (names == ne || vals == ve) {
			seterr("the %s lines have %s names than values", group,
			       names == ne ? "fewer" : "more");
			return RSL_EMALFORMED;
		}
		size_t wl = strcspn(names, " \n");
		if (wl > (size_t)(ne - names))
			wl = (size_t)(ne - names);
		char *after;
		errno = 0;
		long long x = strtoll(vals, &after, 10);
		if (after == vals || errno != 0 || (after < ve && *after != ' ')) {
			seterr("the %s value of %.*s is not a number", group, (int)wl, names);
			return RSL_EMALFORMED;
		}
		if (wl >= sizeof (*v)->name || strlen(group) >= sizeof (*v)->group) {
			seterr("the %s name %.*s is too long", group, (int)wl, names);
			return RSL_EMALFORMED;
		}
		struct rsl_counter *more = realloc(*v, (*n + 1) * sizeof **v);
		if (more == NULL) {
			seterr("out of memory");
			return RSL_ESYS;
		}
		*v = more;
		struct rsl_counter *c = &more[(*n)++];
		snprintf(c->group, sizeof c->group, "%s", group);
		snprintf(c->name, sizeof c->name, "%.*s", (int)wl, names);
		c->value = (int64_t)x;
		names += wl;
		vals = after;
	}
}

int rsl_netns_counters(int nsfd, struct rsl_counter **out, size_t *n, char *err, size_t errlen)
{
	/* /proc/thread-self, not /proc/self: the latter is the view of the
	 * thread group's leader, and only this thread entered the namespace. */
	static const struct {
		const char *path, *group;
	} mibs[] = {
		{ "/proc/thread-self/net/snmp", "Tcp" },
		{ "/proc/thread-self/net/netstat", "TcpExt" },
	};
	char *text[2] = { NULL, NULL };
	int saved, rc = RSL_OK;

	*out = NULL;
	*n = 0;
	if (rsl_netns_enter(nsfd, &saved, err, errlen) != RSL_OK)
		return RSL_ESYS;
	for (size_t i = 0; i < 2 && rc == RSL_OK; i++)
		rc = read_proc(mibs[i].path, &text[i], err, errlen);
	if (rsl_netns_leave(saved, err, errlen) != RSL_OK)
		rc = RSL_ESYS;
	for (size_t i = 0; i < 2 && rc == RSL_OK; i++)
		rc = rsl_netns_parse_counters(text[i], mibs[i].group, out, n, err, errlen);
	free(text[0]);
	free(text[1]);
	if (rc != RSL_OK) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* ---- crash: destroy every TCP socket ------------------------------------ */

struct victim {
	int family;
	struct inet_diag_sockid id;
};

struct victims {
	struct victim *v;
	size_t n, cap;
	int failed;
};

static void collect(struct nl_object *obj, void *arg)
{
	struct idiagnl_msg *m = (struct idiagnl_msg *)obj;
	struct victims *vs = arg;
	struct nl_addr *src = idiagnl_msg_get_src(m), *dst = idiagnl_msg_get_dst(m);

	if (vs->n == vs->cap) {
		size_t cap = vs->cap ? vs->cap * 2 : 16;
		struct victim *v = realloc(vs->v, cap * sizeof *v);
		if (v == NULL) {
			vs->failed = 1;
			return;
		}
		vs->v = v;
		vs->cap = cap;
	}
	struct victim *x = &vs->v[vs->n];
	memset(x, 0, sizeof *x);
	x->family = idiagnl_msg_get_family(m);
	/* libnl-idiag (3.7) hands the ports back as they came in the
	 * message, in network byte order: they go back the same way. */
	x->id.idiag_sport = idiagnl_msg_get_sport(m);
	x->id.idiag_dport = idiagnl_msg_get_dport(m);
	x->id.idiag_if = idiagnl_msg_get_ifindex(m);
	/* No cookie: the kernel then finds the socket by its addresses. */
	x->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	x->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (src && nl_addr_get_len(src) <= sizeof x->id.idiag_src)
		memcpy(x->id.idiag_src, nl_addr_get_binary_addr(src), nl_addr_get_len(src));
	if (dst && nl_addr_get_len(dst) <= sizeof x->id.idiag_dst)
		memcpy(x->id.idiag_dst, nl_addr_get_binary_addr(dst), nl_addr_get_len(dst));
	/* libnl-idiag asks with the old request, which the kernel answers
	 * with the sockets of every family: each dump lists them all. */
	for (size_t i = 0; i < vs->n; i++)
		if (vs->v[i].family == x->family && memcmp(&vs->v[i].id, &x->id, sizeof x->id) == 0)
			return;
	vs->n++;
}

/* Every TCP socket of the current namespace, both families. */
static int list_victims(struct victims *vs, char *err, size_t errlen)
{
	static const int families[] = { AF_INET, AF_INET6 };
	int rc = RSL_OK;

	vs->n = 0;
	for (size_t f = 0; f < 2 && rc == RSL_OK; f++) {
		struct nl_sock *sk = nl_socket_alloc();
		struct nl_cache *cache = NULL;
		int e;
		if (sk == NULL) {
			seterr("out of memory");
			return RSL_ESYS;
		}
		if ((e = idiagnl_connect(sk)) < 0 ||
		    (e = idiagnl_msg_alloc_cache(sk, families[f], IDIAGNL_SS_ALL, &cache)) < 0) {
			seterr("sock_diag dump: %s", nl_geterror(e));
			rc = RSL_ESYS;
		} else {
			nl_cache_foreach(cache, collect, vs);
			if (vs->failed) {
				seterr("out of memory");
				rc = RSL_ESYS;
			}
		}
		nl_cache_free(cache);
		nl_socket_free(sk);
	}
	return rc;
}

/* Whether victim x's end (local: source, else destination) is a. */
static bool end_is(const struct victim *x, const struct rsl_addr *a, bool local)
{
	if (a == NULL)
		return true;
	uint16_t port = ntohs(local ? x->id.idiag_sport : x->id.idiag_dport);
	const void *ip = local ? (const void *)x->id.idiag_src : (const void *)x->id.idiag_dst;
	return x->family == a->family && port == a->port &&
	       memcmp(ip, a->ip, a->family == AF_INET ? 4 : 16) == 0;
}

/* Keep the victims whose ends are local and remote (NULL: any). */
static void keep_matching(struct victims *vs, const struct rsl_addr *local,
                          const struct rsl_addr *remote)
{
	size_t k = 0;
	for (size_t i = 0; i < vs->n; i++)
		if (end_is(&vs->v[i], local, true) && end_is(&vs->v[i], remote, false))
			vs->v[k++] = vs->v[i];
	vs->n = k;
}

int rsl_netns_kill_tcp(int nsfd, size_t *killed, char *err, size_t errlen)
{
	return rsl_netns_destroy_tcp(nsfd, NULL, NULL, killed, err, errlen);
}

int rsl_netns_destroy_tcp(int nsfd, const struct rsl_addr *local, const struct rsl_addr *remote,
                          size_t *killed, char *err, size_t errlen)
{
	struct victims vs = { 0 };
	struct nl_sock *sk = NULL;
	int saved, rc = RSL_ESYS, e;

	*killed = 0;
	if (rsl_netns_enter(nsfd, &saved, err, errlen) != RSL_OK)
		return RSL_ESYS;
	sk = nl_socket_alloc();
	if (sk == NULL || (e = nl_connect(sk, NETLINK_SOCK_DIAG)) < 0) {
		seterr("sock_diag socket: %s", sk ? nl_geterror(e) : "out of memory");
		goto out;
	}
	/* Destroying a listener can drop the request sockets under it, and a
	 * socket can change state between the dump and the destroy: go round
	 * until a dump comes back empty (a few rounds at most). */
	for (int round = 0; round < 8; round++) {
		if (list_victims(&vs, err, errlen) != RSL_OK)
			goto out;
		keep_matching(&vs, local, remote);
		if (vs.n == 0) {
			rc = RSL_OK;
			goto out;
		}
		for (size_t i = 0; i < vs.n; i++) {
			struct inet_diag_req_v2 req;
			memset(&req, 0, sizeof req);
			req.sdiag_family = (uint8_t)vs.v[i].family;
			req.sdiag_protocol = IPPROTO_TCP;
			req.idiag_states = ~0u;
			req.id = vs.v[i].id;
			e = nl_send_simple(sk, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, &req, sizeof req);
			if (e >= 0)
				e = nl_wait_for_ack(sk);
			if (e == -NLE_OPNOTSUPP) {
				seterr("this kernel cannot destroy sockets through sock_diag "
				       "(CONFIG_INET_DIAG_DESTROY is not set)");
				rc = RSL_EUNAVAIL;
				goto out;
			}
			/* Gone meanwhile (ENOENT) is what we wanted anyway. */
			if (e < 0 && e != -NLE_OBJ_NOTFOUND && e != -NLE_NOADDR) {
				seterr("SOCK_DESTROY: %s", nl_geterror(e));
				goto out;
			}
			if (e >= 0)
				(*killed)++;
		}
	}
	seterr("TCP sockets keep appearing in the namespace: %zu left", vs.n);
out:
	free(vs.v);
	nl_socket_free(sk);
	if (rsl_netns_leave(saved, err, errlen) != RSL_OK)
		rc = RSL_ESYS;
	return rc;
}
