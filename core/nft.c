/*
 * Firewall rules of a host, through libnftables (never by running nft(8)).
 *
 * The faults of a scenario (a cut link, a crashed host, dropped packets)
 * are nftables rules inside the hosts' own namespaces, so they can touch
 * no one else's traffic and vanish with the namespace. libnftables speaks
 * netlink from the namespace the caller is in, so every run enters the
 * host's namespace and leaves it again.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nftables/libnftables.h>

/* libnftables is loaded when a process first makes rules, not linked
 * (dl.c): most scenarios make no fault. A scenario that does pays about
 * 1 ms once. Each function is a pointer of the same name in lib.fn. */
#define NFT_FUNCTIONS(X)                                                      \
	X(nft_ctx_new) X(nft_ctx_free) X(nft_ctx_buffer_output)               \
	X(nft_ctx_buffer_error) X(nft_ctx_output_set_flags)                   \
	X(nft_run_cmd_from_buffer) X(nft_ctx_get_output_buffer)               \
	X(nft_ctx_get_error_buffer)
RSL_DL_LIBRARY(load_lib, NFT_FUNCTIONS, "libnftables.so.1", "libnftables1")

struct rsl_nft {
	struct nft_ctx *ctx;
	int nsfd;               /* owned (a dup); -1: the caller's namespace */
	char *output;           /* owned copy of the last run's echo */
	char err[1024];
};

int rsl_nft_open(int nsfd, struct rsl_nft **out, char *err, size_t errlen)
{
	struct rsl_nft *n = calloc(1, sizeof *n);

	*out = NULL;
	if (n == NULL) {
		rsl_format_error(err, errlen, "out of memory");
		return RSL_ESYS;
	}
	int rc = load_lib(err, errlen);
	if (rc != RSL_OK) {
		free(n);
		return rc;
	}
	n->nsfd = -1;
	if (nsfd >= 0 && (n->nsfd = fcntl(nsfd, F_DUPFD_CLOEXEC, 0)) < 0) {
		rsl_format_error(err, errlen, "dup: %s", strerror(errno));
		free(n);
		return RSL_ESYS;
	}
	/* Created inside the namespace: libnftables opens its netlink
	 * socket with the context, and a socket stays where it was born. */
	int saved;
	if (rsl_netns_enter(n->nsfd, &saved, err, errlen) != RSL_OK) {
		rsl_nft_close(n);
		return RSL_ESYS;
	}
	n->ctx = lib.fn.nft_ctx_new(NFT_CTX_DEFAULT);
	if (rsl_netns_leave(saved, err, errlen) != RSL_OK) {
		rsl_nft_close(n);
		return RSL_ESYS;
	}
	if (n->ctx == NULL || lib.fn.nft_ctx_buffer_output(n->ctx) != 0 ||
	    lib.fn.nft_ctx_buffer_error(n->ctx) != 0) {
		rsl_format_error(err, errlen, "cannot create an nftables context");
		rsl_nft_close(n);
		return RSL_ESYS;
	}
	/* Echo what was added, with its handle, so a rule can be deleted. */
	lib.fn.nft_ctx_output_set_flags(n->ctx, NFT_CTX_OUTPUT_HANDLE | NFT_CTX_OUTPUT_ECHO);
	*out = n;
	return RSL_OK;
}

int rsl_nft_run(struct rsl_nft *n, const char *cmds)
{
	int saved, rc;

	free(n->output);
	n->output = NULL;
	n->err[0] = '\0';
	if (rsl_netns_enter(n->nsfd, &saved, n->err, sizeof n->err) != RSL_OK)
		return RSL_ESYS;
	rc = lib.fn.nft_run_cmd_from_buffer(n->ctx, cmds);
	const char *o = lib.fn.nft_ctx_get_output_buffer(n->ctx);
	const char *e = lib.fn.nft_ctx_get_error_buffer(n->ctx);
	n->output = strdup(o ? o : "");
	if (rc != 0) {
		/* nft's own text: the command, a caret under the culprit */
		snprintf(n->err, sizeof n->err, "%s", e && *e ? e : "nft refused the commands");
		size_t k = strlen(n->err);
		while (k > 0 && n->err[k - 1] == '\n')
			n->err[--k] = '\0';
	}
	if (rsl_netns_leave(saved, n->err, sizeof n->err) != RSL_OK)
		return RSL_ESYS;
	if (n->output == NULL) {
		rsl_set_error(n->err, "out of memory");
		return RSL_ESYS;
	}
	return rc == 0 ? RSL_OK : RSL_EINVAL;
}

const char *rsl_nft_output(const struct rsl_nft *n)
{
	return n->output ? n->output : "";
}

const char *rsl_nft_error(const struct rsl_nft *n)
{
	return n->err;
}

void rsl_nft_close(struct rsl_nft *n)
{
	if (n == NULL)
		return;
	if (n->ctx)
		lib.fn.nft_ctx_free(n->ctx);
	if (n->nsfd >= 0)
		close(n->nsfd);
	free(n->output);
	free(n);
}
