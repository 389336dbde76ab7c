/*
 * Links: veth pairs between hosts, their addresses and routes, through
 * libnl-route-3 (never by running ip(8)).
 *
 * A netlink socket belongs to the namespace it was created in, so each call
 * enters the host's namespace, opens its socket there, does its work and
 * comes back. The pair itself is created from the caller's namespace with
 * both ends sent where they belong (IFLA_NET_NS_FD), so no end ever shows
 * up anywhere else, not even for a moment.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if.h>
#include <linux/if_addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#define seterr(...) rsl_format_error(err, errlen, __VA_ARGS__)

static bool ifname_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n >= 16)
		return false;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ' ' || *p == ':' || (unsigned char)*p < 33)
			return false;
	return true;
}

/* A route socket in nsfd's namespace (the caller stays where it was). */
static struct nl_sock *route_sock(int nsfd, char *err, size_t errlen)
{
	int saved, e;
	if (rsl_netns_enter(nsfd, &saved, err, errlen) != RSL_OK)
		return NULL;
	struct nl_sock *sk = nl_socket_alloc();
	if (sk == NULL)
		rsl_format_error(err, errlen, "out of memory");
	else if ((e = nl_connect(sk, NETLINK_ROUTE)) < 0) {
		rsl_format_error(err, errlen, "netlink: %s", nl_geterror(e));
		nl_socket_free(sk);
		sk = NULL;
	}
	if (rsl_netns_leave(saved, err, errlen) != RSL_OK) {
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

int rsl_link_veth(int nsfd_a, const char *if_a, int nsfd_b, const char *if_b,
                  char *err, size_t errlen)
{
	struct nl_sock *sk;
	struct rtnl_link *link, *peer;
	int e;

	if (!ifname_ok(if_a) || !ifname_ok(if_b)) {
		seterr("interface names are 1 to 15 characters, without '/', ':' or blanks");
		return RSL_EINVAL;
	}
	sk = route_sock(-1, err, errlen);
	if (sk == NULL)
		return RSL_ESYS;
	link = rtnl_link_veth_alloc();
	if (link == NULL) {
		nl_socket_free(sk);
		seterr("out of memory");
		return RSL_ESYS;
	}
	peer = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(link, if_a);
	rtnl_link_set_name(peer, if_b);
	if (nsfd_a >= 0)
		rtnl_link_set_ns_fd(link, nsfd_a);
	if (nsfd_b >= 0)
		rtnl_link_set_ns_fd(peer, nsfd_b);
	e = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(peer);
	rtnl_link_veth_release(link);
	nl_socket_free(sk);
	if (e < 0) {
		if (e == -NLE_EXIST)
			seterr("%s or %s: an interface of that name exists already", if_a, if_b);
		else
			seterr("creating veth %s/%s: %s", if_a, if_b, nl_geterror(e));
		return e == -NLE_EXIST ? RSL_EINVAL : RSL_ESYS;
	}
	return RSL_OK;
}

int rsl_link_addr(int nsfd, const char *ifname, const char *cidr, char *err, size_t errlen)
{
	struct nl_addr *local = NULL;
	struct rtnl_addr *addr = NULL;
	struct nl_sock *sk;
	int rc = RSL_ESYS, e, ifindex;

	if (nl_addr_parse(cidr, AF_UNSPEC, &local) < 0 ||
	    (nl_addr_get_family(local) != AF_INET && nl_addr_get_family(local) != AF_INET6) ||
	    strchr(cidr, '/') == NULL) {
		nl_addr_put(local);
		seterr("'%s' is not an address with a prefix length (\"10.0.0.1/24\", "
		       "\"fd00::1/64\")", cidr);
		return RSL_EINVAL;
	}
	sk = route_sock(nsfd, err, errlen);
	if (sk == NULL)
		goto out;
	struct nl_cache *links = NULL;
	if ((e = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links)) < 0) {
		seterr("listing links: %s", nl_geterror(e));
		goto out;
	}
	ifindex = rtnl_link_name2i(links, ifname);
	nl_cache_free(links);
	if (ifindex == 0) {
		seterr("no interface %s", ifname);
		rc = RSL_EINVAL;
		goto out;
	}
	addr = rtnl_addr_alloc();
	if (addr == NULL) {
		seterr("out of memory");
		goto out;
	}
	rtnl_addr_set_ifindex(addr, ifindex);
	rtnl_addr_set_local(addr, local);
	rtnl_addr_set_prefixlen(addr, nl_addr_get_prefixlen(local));
	/* Without this an IPv6 address stays "tentative" for a second or
	 * two and connect() fails with EADDRNOTAVAIL meanwhile. */
	if (nl_addr_get_family(local) == AF_INET6)
		rtnl_addr_set_flags(addr, IFA_F_NODAD);
	if ((e = rtnl_addr_add(sk, addr, 0)) < 0) {
		seterr("adding %s to %s: %s", cidr, ifname, nl_geterror(e));
		rc = e == -NLE_EXIST ? RSL_EINVAL : RSL_ESYS;
		goto out;
	}
	rc = RSL_OK;
out:
	rtnl_addr_put(addr);
	nl_addr_put(local);
	nl_socket_free(sk);
	return rc;
}

int rsl_link_set_up(int nsfd, const char *ifname, bool up, char *err, size_t errlen)
{
	struct rtnl_link *link = NULL, *change = NULL;
	struct nl_sock *sk = route_sock(nsfd, err, errlen);
	int rc = RSL_ESYS, e;

	if (sk == NULL)
		return RSL_ESYS;
	if ((e = rtnl_link_get_kernel(sk, 0, ifname, &link)) < 0) {
		seterr("%s: %s", ifname, nl_geterror(e));
		rc = e == -NLE_OBJ_NOTFOUND || e == -NLE_NODEV ? RSL_EINVAL : RSL_ESYS;
		goto out;
	}
	change = rtnl_link_alloc();
	if (change == NULL) {
		seterr("out of memory");
		goto out;
	}
	if (up)
		rtnl_link_set_flags(change, IFF_UP);
	else
		rtnl_link_unset_flags(change, IFF_UP);
	if ((e = rtnl_link_change(sk, link, change, 0)) < 0) {
		seterr("%s %s: %s", up ? "bringing up" : "bringing down", ifname, nl_geterror(e));
		goto out;
	}
	rc = RSL_OK;
out:
	rtnl_link_put(change);
	rtnl_link_put(link);
	nl_socket_free(sk);
	return rc;
}

static int ignore_msg(struct nl_msg *msg, void *arg)
{
	return NL_OK;
}

int rsl_link_wait_up(int nsfd, const char *ifname, double timeout, char *err, size_t errlen)
{
	struct nl_sock *sk = route_sock(nsfd, err, errlen);
	struct nl_sock *ev = route_sock(nsfd, err, errlen);
	double deadline = rsl_now() + timeout;
	int rc = RSL_ESYS, e;

	if (sk == NULL || ev == NULL)
		goto out;
	/* Subscribe first, then look: a change between the two still wakes
	 * us. The carrier of a veth end comes up through the kernel's
	 * linkwatch work, a moment after both ends are up; until then the
	 * end transmits nothing. */
	nl_socket_disable_seq_check(ev);
	nl_socket_modify_cb(ev, NL_CB_VALID, NL_CB_CUSTOM, ignore_msg, NULL);
	if ((e = nl_socket_add_membership(ev, RTNLGRP_LINK)) < 0 ||
	    (e = nl_socket_set_nonblocking(ev)) < 0) {
		seterr("netlink: %s", nl_geterror(e));
		goto out;
	}
	for (;;) {
		struct rtnl_link *link = NULL;
		if ((e = rtnl_link_get_kernel(sk, 0, ifname, &link)) < 0) {
			seterr("%s: %s", ifname, nl_geterror(e));
			rc = RSL_EINVAL;
			goto out;
		}
		uint8_t st = rtnl_link_get_operstate(link);
		rtnl_link_put(link);
		if (st == IF_OPER_UP) {
			rc = RSL_OK;
			goto out;
		}
		double left = deadline - rsl_now();
		if (left <= 0) {
			seterr("%s is not up after %.1f s", ifname, timeout);
			rc = RSL_EAGAIN;
			goto out;
		}
		struct pollfd p = { .fd = nl_socket_get_fd(ev), .events = POLLIN };
		if (poll(&p, 1, (int)(left * 1000) + 1) > 0)
			while (nl_recvmsgs_default(ev) >= 0)
				;
	}
out:
	nl_socket_free(sk);
	nl_socket_free(ev);
	return rc;
}

int rsl_link_route(int nsfd, const char *dst, const char *via, char *err, size_t errlen)
{
	struct nl_addr *to = NULL, *gw = NULL;
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *nh = NULL;
	struct nl_sock *sk = NULL;
	int rc = RSL_EINVAL, e, family;

	if (via == NULL || nl_addr_parse(via, AF_UNSPEC, &gw) < 0 ||
	    (nl_addr_get_family(gw) != AF_INET && nl_addr_get_family(gw) != AF_INET6)) {
		seterr("'%s' is not a gateway address", via ? via : "(none)");
		goto out;
	}
	family = nl_addr_get_family(gw);
	if (strcmp(dst, "default") == 0 || strcmp(dst, "default6") == 0)
		e = nl_addr_parse(family == AF_INET6 ? "::/0" : "0.0.0.0/0", family, &to);
	else
		e = nl_addr_parse(dst, family, &to);
	if (e < 0 || (strchr(dst, ':') != NULL && family != AF_INET6)) {
		seterr("'%s' is not a destination (\"default\", \"10.0.2.0/24\") of the "
		       "gateway's family", dst);
		goto out;
	}
	rc = RSL_ESYS;
	sk = route_sock(nsfd, err, errlen);
	if (sk == NULL)
		goto out;
	route = rtnl_route_alloc();
	nh = rtnl_route_nh_alloc();
	if (route == NULL || nh == NULL) {
		seterr("out of memory");
		goto out;
	}
	rtnl_route_set_family(route, (uint8_t)family);
	rtnl_route_set_dst(route, to);
	rtnl_route_nh_set_gateway(nh, gw);
	rtnl_route_add_nexthop(route, nh);
	nh = NULL; /* the route owns it now */
	if ((e = rtnl_route_add(sk, route, NLM_F_CREATE | NLM_F_EXCL)) < 0) {
		seterr("route %s via %s: %s", dst, via, nl_geterror(e));
		rc = e == -NLE_EXIST || e == -NLE_NOADDR || e == -NLE_INVAL ||
		             e == -NLE_NOACCESS
		         ? RSL_EINVAL : RSL_ESYS;
		goto out;
	}
	rc = RSL_OK;
out:
	if (nh)
		rtnl_route_nh_free(nh);
	rtnl_route_put(route);
	nl_addr_put(to);
	nl_addr_put(gw);
	nl_socket_free(sk);
	return rc;
}
