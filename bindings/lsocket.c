/*
 * rstlab.Socket: the Lua face of a core TCP socket.
 *
 * These are the primitives; the stdlib (socket.lua) builds the calls that
 * look blocking (connect, accept, read, write) from them. A non-blocking
 * socket's calls are made on the loop (*_now) and wait with sock:wait(). A
 * call that must block in the kernel (any call of a blocking socket, a
 * close() that waits out SO_LINGER) is a job: sock:call() makes the one
 * system call in a worker thread (core/worker.c) and parks the actor until
 * it returns; sock:finish() gives its result, sock:detach() lets it go
 * (the script's timeout). A socket has three waiters, each with at most
 * one job: read (accept, recv), write (connect, send) and close.
 *
 * The fd of a socket with calls blocked in the kernel is shared with them
 * (struct fdshare): a close by the script hides the socket at once, and
 * the fd is closed when the last blocked call returns, in its thread.
 * That is what the kernel does for a program whose thread closes an fd
 * another thread is blocked on (the socket lives until that call returns),
 * and no fd number is reused while a thread may still use it.
 */
#include "private.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The most one recv takes from the kernel. */
#define READ_MAX ((size_t)1 << 20)

enum { SLOT_RD, SLOT_WR, SLOT_CL, NSLOTS };

/* The fd, shared by a socket and its calls blocked in the kernel: whoever
 * lets go last closes it. */
struct fdshare {
	atomic_int refs;
	int fd;
};

struct lsock;

/* One system call in a worker thread. */
struct job {
	struct rsl_sock_call c;
	struct fdshare *share;  /* held while the call runs; NULL for close */
	struct rsl_worker *w;   /* NULL once it returned (or was let go) */
	struct lsock *ls;       /* the owner, while attached (loop's thread) */
	int slot;
	char *buf;              /* recv's buffer, send's copy of the data */
};

struct lsock {
	struct rsl_sock *s;     /* owned; NULL only if allocation failed */
	struct rsl_waiter w[NSLOTS];
	struct job *job[NSLOTS];/* a call made or done, not yet finished */
	struct fdshare *share;  /* made at the first job */
};

static struct lsock *check_sock(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, RSL_MT_SOCKET);
}

/* The socket at idx, raising if it is closed. */
static struct lsock *check_open(lua_State *L, int idx)
{
	struct lsock *ls = check_sock(L, idx);
	if (rsl_sock_fd(ls->s) < 0)
		luaL_error(L, "attempt to use a closed socket");
	return ls;
}

static struct lsock *new_sock(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	struct lsock *ls = lua_newuserdatauv(L, sizeof *ls, 0);
	memset(ls, 0, sizeof *ls);
	for (int i = 0; i < NSLOTS; i++)
		rsl_waiter_init(&ls->w[i], eng);
	luaL_setmetatable(L, RSL_MT_SOCKET);
	ls->s = rsl_sock_new();
	if (ls->s == NULL)
		luaL_error(L, "out of memory");
	return ls;
}

static int sock_fail(lua_State *L, struct lsock *ls, int rc)
{
	if (rc == RSL_EINVAL)
		return luaL_error(L, "%s", rsl_sock_error(ls->s));
	/* The core's message names the call: "recv: Connection reset by peer". */
	return rsl_push_fail(L, rsl_errno_name(rsl_sock_errno(ls->s)), rsl_sock_error(ls->s));
}

/* A call that would block: false, msg, code with the kernel's errno
 * (EAGAIN, EINPROGRESS), for the stdlib to wait or, raw, to return. */
static int would_block(lua_State *L, struct lsock *ls)
{
	rsl_push_fail(L, rsl_errno_name(rsl_sock_errno(ls->s)), rsl_sock_error(ls->s));
	lua_pushboolean(L, 0);
	lua_replace(L, -4);
	return 3;
}

/* The result of one call, in the shapes of the primitives below. The
 * accepted socket, if any, is on top of the stack. */
static int push_result(lua_State *L, struct lsock *ls, int rc, const struct rsl_sock_call *c)
{
	if (rc == RSL_EAGAIN)
		return would_block(L, ls);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	switch (c->op) {
	case RSL_CALL_ACCEPT: return 1;
	case RSL_CALL_RECV: lua_pushlstring(L, c->buf, (size_t)c->ret); return 1;
	case RSL_CALL_SEND: lua_pushinteger(L, (lua_Integer)c->ret); return 1;
	default: lua_pushboolean(L, 1); return 1;
	}
}

static int wrong_family(lua_State *L, struct lsock *ls, int idx)
{
	bool six = rsl_sock_family(ls->s) == AF_INET6;
	return luaL_error(L, "address %s is %s, the socket is %s (\"%s\")", lua_tostring(L, idx),
	                  six ? "IPv4" : "IPv6", six ? "IPv6" : "IPv4", six ? "inet6" : "inet");
}

static void check_family(lua_State *L, struct lsock *ls, int idx, struct rsl_addr *a)
{
	rsl_check_addr(L, idx, false, a);
	if (a->family != rsl_sock_family(ls->s))
		wrong_family(L, ls, idx);
}

/* socket(family ["inet"|"inet6"], host [, blocking]) -> Socket: a kernel
 * socket created in host's network namespace, blocking in the kernel (no
 * O_NONBLOCK) when asked. */
static int lsock_new(lua_State *L)
{
	static const char *const fams[] = { "inet", "inet6", NULL };
	int fam = luaL_checkoption(L, 1, "inet", fams) == 0 ? AF_INET : AF_INET6;
	bool blocking = lua_toboolean(L, 3);
	lua_settop(L, 2); /* host may be absent: the new socket must not be taken for it */
	struct lsock *ls = new_sock(L);
	int saved = rsl_host_enter(L, 2);
	int rc = rsl_sock_open(ls->s, fam);
	rsl_host_leave(L, saved);
	if (rc == RSL_OK && blocking)
		rc = rsl_sock_set_blocking(ls->s, true);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	return 1;
}

/* sock:bind("ip:port") -> true | nil, msg, code */
static int lsock_bind(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	struct rsl_addr a;
	check_family(L, ls, 2, &a);
	int rc = rsl_sock_bind(ls->s, &a);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* sock:listen(backlog) -> true | nil, msg, code */
static int lsock_listen(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	int rc = rsl_sock_listen(ls->s, (int)luaL_optinteger(L, 2, 128));
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* sock:connect_start("ip:port") -> true (connected) | false, msg,
 * "EINPROGRESS" | nil, msg, code: one connect(), whatever came before. */
static int lsock_connect_start(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	struct rsl_addr a;
	struct rsl_sock_call c = { .op = RSL_CALL_CONNECT };
	check_family(L, ls, 2, &a);
	return push_result(L, ls, rsl_sock_connect(ls->s, &a), &c);
}

/* sock:connect_finish() -> true | nil, msg, code (after writability:
 * SO_ERROR, read and so cleared) */
static int lsock_connect_finish(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	int rc = rsl_sock_connect_finish(ls->s);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* sock:accept_now() -> Socket | false, msg, "EAGAIN" | nil, msg, code */
static int lsock_accept_now(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	struct lsock *c = new_sock(L);
	struct rsl_sock_call call = { .op = RSL_CALL_ACCEPT };
	return push_result(L, ls, rsl_sock_accept(ls->s, c->s), &call);
}

/* The most a recv takes: "at most n", and a script may ask for everything
 * with a huge n, which must not become a huge buffer. */
static size_t read_size(lua_State *L, int idx)
{
	lua_Integer n = luaL_checkinteger(L, idx);
	luaL_argcheck(L, n > 0, idx, "must be positive");
	return (lua_Unsigned)n > READ_MAX ? READ_MAX : (size_t)n;
}

/* sock:recv_now(n) -> data | "" (recv returned 0) | false, msg, "EAGAIN"
 * | nil, msg, code. Takes at most n bytes from the kernel. */
static int lsock_recv_now(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	size_t want = read_size(L, 2);
	luaL_Buffer b;
	char *p = luaL_buffinitsize(L, &b, want);
	size_t got = 0;
	int rc = rsl_sock_read(ls->s, p, want, &got);
	if (rc != RSL_OK) {
		struct rsl_sock_call c = { .op = RSL_CALL_RECV };
		return push_result(L, ls, rc, &c);
	}
	luaL_pushresultsize(&b, got);
	return 1;
}

/* The data argument of a send: data, from (1-based index of the first
 * byte to send); *len is what is left from there. */
static const char *send_data(lua_State *L, int idx, size_t *len)
{
	const char *data = luaL_checklstring(L, idx, len);
	lua_Integer from = luaL_optinteger(L, idx + 1, 1);
	luaL_argcheck(L, from >= 1 && (size_t)from <= *len + 1, idx + 1, "out of range");
	*len -= (size_t)(from - 1);
	return data + from - 1;
}

/* sock:send_now(data [, from]) -> bytes taken | false, msg, "EAGAIN"
 * | nil, msg, code. */
static int lsock_send_now(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	size_t len, put = 0;
	const char *data = send_data(L, 2, &len);
	int rc = rsl_sock_write(ls->s, data, len, &put);
	struct rsl_sock_call c = { .op = RSL_CALL_SEND, .ret = (long)put };
	return push_result(L, ls, rc, &c);
}

/* sock:wait("r"|"w", timeout) -> "ready" | "timeout" | "closed" (yields) */
static int lsock_wait(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	static const char *const modes[] = { "r", "w", NULL };
	int m = luaL_checkoption(L, 2, NULL, modes);
	double timeout = luaL_optnumber(L, 3, -1);
	if (m == 0)
		return rsl_waiter_wait(L, &ls->w[SLOT_RD], 1, "this socket (read)", rsl_sock_fd(ls->s),
		                       EV_READ, timeout);
	return rsl_waiter_wait(L, &ls->w[SLOT_WR], 1, "this socket (write)", rsl_sock_fd(ls->s),
	                       EV_WRITE, timeout);
}

/* sock:shutdown("r"|"w"|"rw") -> true | nil, msg, code */
static int lsock_shutdown(lua_State *L)
{
	static const char *const hows[] = { "r", "w", "rw", NULL };
	static const int how[] = { SHUT_RD, SHUT_WR, SHUT_RDWR };
	struct lsock *ls = check_open(L, 1);
	int rc = rsl_sock_shutdown(ls->s, how[luaL_checkoption(L, 2, "rw", hows)]);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* sock:disconnect() -> true | nil, msg, code: connect(AF_UNSPEC) */
static int lsock_disconnect(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	int rc = rsl_sock_disconnect(ls->s);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* ---- jobs: one system call in a worker thread --------------------------- */

/* Let go of one reference to the fd; the last one closes it. Any thread. */
static void share_release(struct fdshare *sh)
{
	if (sh != NULL && atomic_fetch_sub(&sh->refs, 1) == 1) {
		close(sh->fd);
		free(sh);
	}
}

static void job_free(struct job *j)
{
	free(j->buf);
	free(j);
}

/* In the worker thread: the system call, then the fd is let go of. */
static void job_work(void *arg)
{
	struct job *j = arg;
	rsl_sock_call_run(&j->c);
	share_release(j->share);
	j->share = NULL;
}

static void job_done(void *arg, bool detached)
{
	struct job *j = arg;
	j->w = NULL;
	if (!detached) {
		/* On the loop's thread: finish() takes the result. */
		rsl_waiter_wake(&j->ls->w[j->slot], "ready");
		return;
	}
	/* Nobody will look: release what the call made. */
	if (j->c.op == RSL_CALL_ACCEPT && j->c.ret >= 0)
		close((int)j->c.ret);
	job_free(j);
}

/* Let the job of slot go: its call goes on alone (if it still runs) and
 * its result goes nowhere. */
static void job_detach(struct lsock *ls, int slot)
{
	struct job *j = ls->job[slot];
	if (j == NULL)
		return;
	ls->job[slot] = NULL;
	j->ls = NULL;
	if (j->w != NULL)
		rsl_worker_detach(j->w); /* frees j once the call returns */
	else
		job_done(j, true);
}

static const char *const ops[] = { "connect", "accept", "recv", "send", "close", NULL };
static const int op_slot[] = { SLOT_WR, SLOT_RD, SLOT_RD, SLOT_WR, SLOT_CL };
static const char *const slot_what[] = { "this socket (read)", "this socket (write)",
                                         "this socket (close)" };

/* Whether a close() of this socket blocks in the kernel: a blocking
 * socket's, and any with SO_LINGER {1, N > 0} (also non-blocking ones). */
static bool close_blocks(struct lsock *ls)
{
	struct rsl_optval v;
	if (rsl_sock_blocking(ls->s))
		return true;
	return rsl_sock_get(ls->s, "linger", &v) == RSL_OK && v.on && v.i > 0;
}

/* Start j's call in a worker thread; on failure the job is freed and the
 * errno returned. */
static int job_start(struct lsock *ls, struct job *j)
{
	struct rsl_engine *eng = ls->w[j->slot].eng;
	if (j->c.op != RSL_CALL_CLOSE) {
		if (ls->share == NULL) {
			ls->share = malloc(sizeof *ls->share);
			if (ls->share == NULL) {
				job_free(j);
				return ENOMEM;
			}
			atomic_init(&ls->share->refs, 1);
			ls->share->fd = rsl_sock_fd(ls->s);
		}
		atomic_fetch_add(&ls->share->refs, 1);
		j->share = ls->share;
	}
	int err = rsl_worker_start(eng->loop, job_work, job_done, j, &j->w);
	if (err != 0) {
		share_release(j->share);
		job_free(j);
	}
	return err;
}

/* The start of every close (:close(), __close, __gc, sock:call("close")):
 * the socket is gone for the script from here on. Waiters wake with
 * "closed" (deferred), unless the state itself is closing (from_gc);
 * calls blocked in the kernel are let go of. Returns what became of the
 * fd: 1 when the caller is to close it, 0 when it is closed already or
 * left to the last blocked call. */
static int close_begin(struct lsock *ls, bool from_gc)
{
	for (int i = 0; i < NSLOTS; i++) {
		if (from_gc)
			rsl_waiter_drop(&ls->w[i]);
		else
			rsl_waiter_wake(&ls->w[i], "closed");
		job_detach(ls, i);
	}
	if (ls->s == NULL || rsl_sock_fd(ls->s) < 0)
		return 0;
	struct fdshare *sh = ls->share;
	ls->share = NULL;
	if (sh != NULL && atomic_fetch_sub(&sh->refs, 1) > 1) {
		rsl_sock_take_fd(ls->s); /* the last blocked call closes it */
		return 0;
	}
	free(sh);
	return 1;
}

/* A close that blocks, made where nobody waits for it: in a worker thread
 * of its own, detached (the loop never freezes; the fd is closed by that
 * thread). Falls back to closing here if no thread can be had. */
static void close_in_background(struct lsock *ls)
{
	struct job *j = calloc(1, sizeof *j);
	if (j != NULL) {
		rsl_sock_call_prepare(ls->s, &j->c, RSL_CALL_CLOSE, NULL, NULL, 0);
		j->slot = SLOT_CL;
		j->ls = ls;
		int fd = j->c.fd;
		if (job_start(ls, j) == 0) {
			j->ls = NULL;
			rsl_worker_detach(j->w);
			return;
		}
		close(fd);
		return;
	}
	rsl_sock_close(ls->s);
}

/* sock:call(op, timeout, ...) -> "ready" | "timeout" | "closed" (yields)
 * | "deferred" (close only, at once: the fd is left to calls still
 * blocked). Makes one system call in a worker thread: op "connect" addr,
 * "accept", "recv" n, "send" data [, from], "close". Take the result with
 * sock:finish(op) after "ready"; let the call go with sock:detach(op)
 * after "timeout". */
static int lsock_call(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	int op = luaL_checkoption(L, 2, NULL, ops);
	double timeout = luaL_optnumber(L, 3, -1);
	int slot = op_slot[op];
	struct rsl_addr a;
	const char *data = NULL;
	size_t len = 0;

	if (rsl_waiter_busy(&ls->w[slot]))
		return luaL_error(L, "%s is already waited on by another coroutine", slot_what[slot]);
	if (op == RSL_CALL_CONNECT)
		check_family(L, ls, 4, &a);
	else if (op == RSL_CALL_RECV)
		len = read_size(L, 4);
	else if (op == RSL_CALL_SEND)
		data = send_data(L, 4, &len);
	job_detach(ls, slot); /* one left by a call that raised */
	if (op == RSL_CALL_CLOSE && !close_begin(ls, false)) {
		lua_pushliteral(L, "deferred");
		return 1;
	}
	struct job *j = calloc(1, sizeof *j);
	if (j == NULL || (len > 0 && (j->buf = malloc(len)) == NULL)) {
		free(j);
		return luaL_error(L, "out of memory");
	}
	if (data != NULL)
		memcpy(j->buf, data, len); /* the string may go before the call ends */
	j->slot = slot;
	j->ls = ls;
	rsl_sock_call_prepare(ls->s, &j->c, (enum rsl_sock_op)op, &a, j->buf, len);
	int fd = j->c.fd;
	int err = job_start(ls, j);
	if (err != 0) {
		if (op == RSL_CALL_CLOSE)
			close(fd);
		return rsl_push_errno(L, err, "pthread_create");
	}
	ls->job[slot] = j;
	return rsl_waiter_wait(L, &ls->w[slot], 1, slot_what[slot], -1, 0, timeout);
}

/* sock:finish(op) -> the call's result, as the *_now primitives give it
 * (accept: a Socket; recv: data or ""; send: bytes), except close: true,
 * seconds | nil, msg, code, seconds (how long close() blocked). */
static int lsock_finish(lua_State *L)
{
	struct lsock *ls = check_sock(L, 1);
	int op = luaL_checkoption(L, 2, NULL, ops);
	struct job *j = ls->job[op_slot[op]];
	if (j == NULL || j->w != NULL || (int)j->c.op != op)
		return luaL_error(L, "no finished %s on this socket", ops[op]);
	ls->job[op_slot[op]] = NULL;
	struct lsock *out = op == RSL_CALL_ACCEPT ? new_sock(L) : NULL;
	int rc = rsl_sock_call_apply(ls->s, &j->c, out ? out->s : NULL);
	int n = push_result(L, ls, rc, &j->c);
	if (op == RSL_CALL_CLOSE) {
		lua_pushnumber(L, j->c.seconds);
		n++;
	}
	job_free(j);
	return n;
}

/* sock:detach(op): let the call go on alone; its result goes nowhere. */
static int lsock_detach(lua_State *L)
{
	struct lsock *ls = check_sock(L, 1);
	job_detach(ls, op_slot[luaL_checkoption(L, 2, NULL, ops)]);
	return 0;
}

/* The one close path of __close, __gc and :close(). Returns close()'s rc
 * and, in *secs, how long it took; *secs < 0 when the close() is made
 * elsewhere (left to a blocked call, or in a thread of its own). */
static int close_sock(struct lsock *ls, bool from_gc, double *secs)
{
	*secs = -1;
	if (!close_begin(ls, from_gc))
		return RSL_OK;
	if (close_blocks(ls)) {
		close_in_background(ls);
		return RSL_OK;
	}
	double t0 = rsl_now();
	int rc = rsl_sock_close(ls->s);
	*secs = rsl_now() - t0;
	return rc;
}

/* sock:close() -> true, seconds | nil, msg, code, seconds: close()'s
 * result and how long it took; true (alone) when the socket was closed
 * already or the close() is made elsewhere (a call of another actor is
 * still blocked on it, or a close that would block, made without an actor
 * to wait: in a thread of its own). Idempotent. */
static int lsock_close(lua_State *L)
{
	struct lsock *ls = check_sock(L, 1);
	double secs;
	int rc = close_sock(ls, false, &secs);
	int n = rc == RSL_OK ? (lua_pushboolean(L, 1), 1) : sock_fail(L, ls, rc);
	if (secs >= 0) {
		lua_pushnumber(L, secs);
		n++;
	}
	return n;
}

static int lsock_gc(lua_State *L)
{
	struct lsock *ls = check_sock(L, 1);
	double secs;
	close_sock(ls, true, &secs);
	rsl_sock_free(ls->s);
	ls->s = NULL;
	return 0;
}

/* sock:closed() -> boolean */
static int lsock_closed(lua_State *L)
{
	struct lsock *ls = check_sock(L, 1);
	lua_pushboolean(L, ls->s == NULL || rsl_sock_fd(ls->s) < 0);
	return 1;
}

/* An errno's name, or nil for 0. */
static int push_errno_or_nil(lua_State *L, int err)
{
	if (err == 0)
		lua_pushnil(L);
	else
		lua_pushstring(L, rsl_errno_name(err));
	return 1;
}

/* sock:close_blocks() -> whether close() would block in the kernel */
static int lsock_close_blocks(lua_State *L)
{
	lua_pushboolean(L, close_blocks(check_open(L, 1)));
	return 1;
}

/* sock:blocking() -> whether the socket is blocking in the kernel */
static int lsock_blocking(lua_State *L)
{
	struct lsock *ls = check_sock(L, 1);
	lua_pushboolean(L, ls->s != NULL && rsl_sock_blocking(ls->s));
	return 1;
}

/* sock:so_error() -> errno name | nil | nil, msg, code: SO_ERROR, read
 * (and so cleared) as any getsockopt reads it. */
static int lsock_so_error(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	int err = 0;
	int rc = rsl_sock_so_error(ls->s, &err);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	return push_errno_or_nil(L, err);
}

/* sock:reported() -> errno name | nil: the last error that ends a
 * connection a call reported (a hint for messages, never a result). */
static int lsock_reported(lua_State *L)
{
	struct lsock *ls = check_sock(L, 1);
	return push_errno_or_nil(L, ls->s != NULL ? rsl_sock_reported(ls->s) : 0);
}

/* Convert a Lua value for option name into v, or raise. */
static void check_optval(lua_State *L, int idx, const char *name, int kind,
                         struct rsl_optval *v)
{
	memset(v, 0, sizeof *v);
	switch (kind) {
	case RSL_OPT_BOOL:
		if (lua_isboolean(L, idx))
			v->i = lua_toboolean(L, idx);
		else if (lua_isinteger(L, idx))
			v->i = lua_tointeger(L, idx) != 0;
		else
			luaL_error(L, "option '%s' takes a boolean, got %s", name, luaL_typename(L, idx));
		return;
	case RSL_OPT_INT:
		if (!lua_isinteger(L, idx))
			luaL_error(L, "option '%s' takes an integer, got %s", name,
			           lua_isnumber(L, idx) ? "a fraction" : luaL_typename(L, idx));
		v->i = lua_tointeger(L, idx);
		if (v->i < 0)
			luaL_error(L, "option '%s' takes a non-negative integer", name);
		return;
	case RSL_OPT_SINT:
		if (!lua_isinteger(L, idx))
			luaL_error(L, "option '%s' takes an integer, got %s", name,
			           lua_isnumber(L, idx) ? "a fraction" : luaL_typename(L, idx));
		v->i = lua_tointeger(L, idx);
		return;
	case RSL_OPT_MSEC:
		if (!lua_isnumber(L, idx) || lua_tonumber(L, idx) < 0)
			luaL_error(L, "option '%s' takes seconds (a non-negative number)", name);
		v->i = (long)(lua_tonumber(L, idx) * 1000 + 0.5);
		return;
	case RSL_OPT_LINGER:
		/* linger = 0 (short for {1, 0}), = false (off), = {on, secs} */
		if (lua_isboolean(L, idx) && !lua_toboolean(L, idx)) {
			v->on = 0;
		} else if (lua_isinteger(L, idx)) {
			v->on = 1;
			v->i = lua_tointeger(L, idx);
		} else if (lua_istable(L, idx)) {
			lua_rawgeti(L, idx, 1);
			lua_rawgeti(L, idx, 2);
			v->on = lua_isboolean(L, -2) ? lua_toboolean(L, -2) : lua_tointeger(L, -2) != 0;
			if (!lua_isinteger(L, -1))
				luaL_error(L, "option 'linger' takes {on, seconds}, seconds an integer");
			v->i = lua_tointeger(L, -1);
			lua_pop(L, 2);
		} else {
			luaL_error(L, "option 'linger' takes seconds, false or {on, seconds}, got %s",
			           luaL_typename(L, idx));
		}
		if (v->i < 0)
			luaL_error(L, "option 'linger' takes non-negative seconds");
		return;
	}
}

static int unknown_option(lua_State *L, const char *name)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (const char *const *n = rsl_sock_option_names(); *n; n++) {
		luaL_addstring(&b, *n);
		if (n[1])
			luaL_addstring(&b, ", ");
	}
	luaL_pushresult(&b);
	return luaL_error(L, "unknown socket option '%s' (known: %s)", name, lua_tostring(L, -1));
}

/* sock:setopt(name, value) -> true | nil, msg, code */
static int lsock_setopt(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	const char *name = luaL_checkstring(L, 2);
	int kind = rsl_sock_option_kind(name);
	struct rsl_optval v;
	if (kind < 0)
		return unknown_option(L, name);
	luaL_checkany(L, 3);
	check_optval(L, 3, name, kind, &v);
	int rc = rsl_sock_set(ls->s, name, &v);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushboolean(L, 1);
	return 1;
}

/* sock:get(name) -> value | nil, msg, code */
static int lsock_get(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	const char *name = luaL_checkstring(L, 2);
	int kind = rsl_sock_option_kind(name);
	struct rsl_optval v;
	if (kind < 0)
		return unknown_option(L, name);
	int rc = rsl_sock_get(ls->s, name, &v);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	switch (kind) {
	case RSL_OPT_BOOL: lua_pushboolean(L, v.on); break;
	case RSL_OPT_INT: case RSL_OPT_SINT: lua_pushinteger(L, v.i); break;
	case RSL_OPT_MSEC: lua_pushnumber(L, (double)v.i / 1000.0); break;
	case RSL_OPT_LINGER:
		lua_createtable(L, 0, 2);
		lua_pushboolean(L, v.on);
		lua_setfield(L, -2, "on");
		lua_pushinteger(L, v.i);
		lua_setfield(L, -2, "secs");
		break;
	}
	return 1;
}

#define SETNUM(name, val) (lua_pushnumber(L, (double)(val)), lua_setfield(L, -2, name))
#define SETINT(name, val) (lua_pushinteger(L, (lua_Integer)(val)), lua_setfield(L, -2, name))

/* sock:info() -> table of tcp_info (state name, rtt in seconds, ...) */
static int lsock_info(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	struct rsl_tcpinfo ti;
	int rc = rsl_sock_tcp_info(ls->s, &ti);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_createtable(L, 0, 40);
	const char *st = rsl_tcp_state_name(ti.state);
	lua_pushstring(L, st ? st : "?");
	lua_setfield(L, -2, "state");
	SETINT("ca_state", ti.ca_state); SETINT("retransmits", ti.retransmits);
	SETINT("probes", ti.probes); SETINT("backoff", ti.backoff);
	SETINT("snd_wscale", ti.snd_wscale); SETINT("rcv_wscale", ti.rcv_wscale);
	SETNUM("rto", ti.rto); SETNUM("ato", ti.ato); SETNUM("rtt", ti.rtt);
	SETNUM("rttvar", ti.rttvar); SETNUM("min_rtt", ti.min_rtt);
	SETINT("snd_mss", ti.snd_mss); SETINT("rcv_mss", ti.rcv_mss);
	SETINT("unacked", ti.unacked); SETINT("sacked", ti.sacked); SETINT("lost", ti.lost);
	SETINT("retrans", ti.retrans); SETINT("pmtu", ti.pmtu);
	SETINT("snd_ssthresh", ti.snd_ssthresh); SETINT("snd_cwnd", ti.snd_cwnd);
	SETINT("advmss", ti.advmss); SETINT("reordering", ti.reordering);
	SETINT("rcv_space", ti.rcv_space); SETINT("total_retrans", ti.total_retrans);
	SETINT("segs_out", ti.segs_out); SETINT("segs_in", ti.segs_in);
	SETINT("snd_wnd", ti.snd_wnd); SETINT("bytes_acked", ti.bytes_acked);
	SETINT("bytes_received", ti.bytes_received); SETINT("bytes_sent", ti.bytes_sent);
	SETINT("bytes_retrans", ti.bytes_retrans);
	SETNUM("last_data_sent", ti.last_data_sent); SETNUM("last_data_recv", ti.last_data_recv);
	SETNUM("last_ack_recv", ti.last_ack_recv);
	return 1;
}

/* sock:pending() -> bytes in the receive queue */
static int lsock_pending(lua_State *L)
{
	struct lsock *ls = check_open(L, 1);
	int n = 0;
	int rc = rsl_sock_pending(ls->s, &n);
	if (rc != RSL_OK)
		return sock_fail(L, ls, rc);
	lua_pushinteger(L, n);
	return 1;
}

/* sock:local_addr() / sock:peer_addr() -> "ip:port" */
static int lsock_local_addr(lua_State *L)
{
	rsl_push_addr(L, rsl_sock_local(check_sock(L, 1)->s));
	return 1;
}

static int lsock_peer_addr(lua_State *L)
{
	rsl_push_addr(L, rsl_sock_peer(check_sock(L, 1)->s));
	return 1;
}

/* sock:fileno() -> the fd (-1 when closed) */
static int lsock_fileno(lua_State *L)
{
	lua_pushinteger(L, rsl_sock_fd(check_sock(L, 1)->s));
	return 1;
}

static int lsock_tostring(lua_State *L)
{
	struct lsock *ls = check_sock(L, 1);
	char a[64], b[64];
	if (rsl_sock_fd(ls->s) < 0) {
		lua_pushfstring(L, "rstlab.Socket (closed, %s)", rsl_addr_format(rsl_sock_local(ls->s), a, sizeof a));
		return 1;
	}
	lua_pushfstring(L, "rstlab.Socket (%s -> %s)", rsl_addr_format(rsl_sock_local(ls->s), a, sizeof a),
	                rsl_addr_format(rsl_sock_peer(ls->s), b, sizeof b));
	return 1;
}

/* option_names() -> list of socket option names */
static int loption_names(lua_State *L)
{
	lua_newtable(L);
	int i = 1;
	for (const char *const *n = rsl_sock_option_names(); *n; n++) {
		lua_pushstring(L, *n);
		lua_rawseti(L, -2, i++);
	}
	return 1;
}

void rsl_open_socket(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "bind", lsock_bind }, { "listen", lsock_listen },
		{ "connect_start", lsock_connect_start }, { "connect_finish", lsock_connect_finish },
		{ "accept_now", lsock_accept_now }, { "recv_now", lsock_recv_now },
		{ "send_now", lsock_send_now }, { "wait", lsock_wait },
		{ "shutdown", lsock_shutdown }, { "disconnect", lsock_disconnect },
		{ "close", lsock_close },
		{ "closed", lsock_closed }, { "setopt", lsock_setopt }, { "get", lsock_get },
		{ "info", lsock_info }, { "pending", lsock_pending },
		{ "local_addr", lsock_local_addr }, { "peer_addr", lsock_peer_addr },
		{ "fileno", lsock_fileno }, { "call", lsock_call }, { "finish", lsock_finish },
		{ "detach", lsock_detach }, { "close_blocks", lsock_close_blocks },
		{ "blocking", lsock_blocking }, { "so_error", lsock_so_error },
		{ "reported", lsock_reported },
		{ NULL, NULL },
	};
	static const luaL_Reg meta[] = {
		{ "__gc", lsock_gc }, { "__close", lsock_close }, { "__tostring", lsock_tostring },
		{ NULL, NULL },
	};
	static const luaL_Reg funcs[] = {
		{ "socket", lsock_new }, { "option_names", loption_names }, { NULL, NULL },
	};
	rsl_new_class(L, RSL_MT_SOCKET, methods, meta);
	luaL_setfuncs(L, funcs, 0);
}
