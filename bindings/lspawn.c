/*
 * rstlab.Spawn: a program spawned on a host (core/spawn.c), its output
 * read as it comes.
 *
 * From the spawn on, the loop reads the program's stdout and stderr
 * whenever there is something (two ev_io watchers that run until EOF), so
 * the program never blocks on a full pipe whatever it writes, and keeps
 * all of it; a third watcher takes the program's exit status from its
 * init. A coroutine waiting for a line, for the end of a stream or for the
 * exit parks on one of three waiters (stdout, stderr, exit), each woken
 * when anything arrives: stdlib/rstlab/process.lua checks again and parks
 * again. The object stays reachable (a registry anchor) until close: the
 * loop's watchers point into it.
 *
 * spawn_program(host|nil, argv, envp|nil, cwd|nil, stdin|nil, timeout|nil)
 *   -> Spawn | nil, msg, code
 */
#include "private.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct buf {
	char *p;
	size_t len, cap;
	size_t pos;             /* what read_line has taken */
	bool eof;
};

enum { W_STDOUT, W_STDERR, W_EXIT, NWAIT };

struct lspawn {
	struct rsl_spawn s;
	struct rsl_engine *eng;
	ev_io out_io, err_io, ctl_io;
	ev_timer deadline;      /* the spawn's own timeout */
	struct buf out, err;
	bool exited, lost, timed_out, closed;
	int status;
	int anchor;             /* registry ref: alive until close */
	struct rsl_waiter w[NWAIT];
};

static struct lspawn *check_spawn(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, RSL_MT_SPAWN);
}

static void wake_all(struct lspawn *p)
{
	for (int i = 0; i < NWAIT; i++)
		rsl_waiter_wake(&p->w[i], "ready");
}

static int buf_add(struct buf *b, const char *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (q == NULL)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

/* Read one stream until the pipe is empty. */
static void drain(struct lspawn *p, ev_io *io, struct buf *b, int *fd)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(*fd, chunk, sizeof chunk);
		if (n > 0) {
			if (buf_add(b, chunk, (size_t)n) < 0)
				n = 0; /* out of memory: stop reading, as at EOF */
			else
				continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		/* EOF (or an error: no more will come either) */
		ev_io_stop(p->eng->loop->ev, io);
		close(*fd);
		*fd = -1;
		b->eof = true;
		break;
	}
	wake_all(p);
}

static void out_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct lspawn *p = (struct lspawn *)((char *)io - offsetof(struct lspawn, out_io));
	drain(p, io, &p->out, &p->s.out_fd);
}

static void err_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct lspawn *p = (struct lspawn *)((char *)io - offsetof(struct lspawn, err_io));
	drain(p, io, &p->err, &p->s.err_fd);
}

static void ctl_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct lspawn *p = (struct lspawn *)((char *)io - offsetof(struct lspawn, ctl_io));
	int st;
	int rc = rsl_spawn_status(&p->s, &st);
	if (rc == RSL_EAGAIN)
		return;
	if (rc == RSL_OK) {
		p->exited = true;
		p->status = st;
	} else if (!p->exited) {
		p->lost = true; /* the init died first: no status will come */
	}
	if (p->exited || p->lost) {
		ev_timer_stop(loop, &p->deadline);
		if (rc != RSL_OK)
			ev_io_stop(loop, io);
	}
	wake_all(p);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct lspawn *p = (struct lspawn *)((char *)t - offsetof(struct lspawn, deadline));
	if (p->exited)
		return;
	p->timed_out = true;
	rsl_spawn_signal(&p->s, SIGKILL, true);
	wake_all(p);
}

/* The one close: the namespace ends (every process in it dies), watchers
 * stop, waiting coroutines resume with "closed". Output read so far stays. */
static void spawn_close(lua_State *L, struct lspawn *p)
{
	if (p->closed)
		return;
	p->closed = true;
	struct ev_loop *ev = p->eng->loop->ev;
	ev_io_stop(ev, &p->out_io);
	ev_io_stop(ev, &p->err_io);
	ev_io_stop(ev, &p->ctl_io);
	ev_timer_stop(ev, &p->deadline);
	/* Take what is still in the pipes: the last words of the program. */
	if (p->s.out_fd >= 0)
		drain(p, &p->out_io, &p->out, &p->s.out_fd);
	if (p->s.err_fd >= 0)
		drain(p, &p->err_io, &p->err, &p->s.err_fd);
	if (!p->exited) {
		int st;
		if (rsl_spawn_status(&p->s, &st) == RSL_OK) {
			p->exited = true;
			p->status = st;
		}
	}
	rsl_spawn_end(&p->s);
	p->out.eof = p->err.eof = true;
	for (int i = 0; i < NWAIT; i++)
		rsl_waiter_wake(&p->w[i], "closed");
	if (p->anchor != LUA_NOREF) {
		luaL_unref(L, LUA_REGISTRYINDEX, p->anchor);
		p->anchor = LUA_NOREF;
	}
}

/* Strings of the table at idx (a list), NULL-terminated; freed by caller. */
static const char **string_list(lua_State *L, int idx, const char *what, bool allow_empty)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_Integer n = luaL_len(L, idx);
	if (n == 0 && !allow_empty)
		luaL_error(L, "%s is empty", what);
	const char **v = lua_newuserdatauv(L, sizeof *v * (size_t)(n + 1), 0);
	for (lua_Integer i = 1; i <= n; i++) {
		if (lua_geti(L, idx, i) != LUA_TSTRING)
			luaL_error(L, "%s[%d] must be a string", what, (int)i);
		v[i - 1] = lua_tostring(L, -1);
		lua_pop(L, 1); /* the string stays in the table */
	}
	v[n] = NULL;
	return v;
}

/* spawn_program(host|nil, argv, envp|nil, cwd|nil, stdin|nil, timeout|nil) */
static int lspawn_spawn(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	struct rsl_spawn_opts o = { 0 };
	char err[RSL_ERRLEN];
	o.nsfd = rsl_host_nsfd(L, 1);
	o.argv = string_list(L, 2, "argv", false);
	if (!lua_isnoneornil(L, 3))
		o.envp = string_list(L, 3, "env", true);
	o.cwd = luaL_optstring(L, 4, NULL);
	if (!lua_isnoneornil(L, 5))
		o.stdin_data = luaL_checklstring(L, 5, &o.stdin_len);
	double timeout = luaL_optnumber(L, 6, -1);

	struct lspawn *p = lua_newuserdatauv(L, sizeof *p, 0);
	memset(p, 0, sizeof *p);
	p->eng = eng;
	p->s.init_pid = p->s.pid = -1;
	p->s.out_fd = p->s.err_fd = p->s.ctl_fd = -1;
	p->closed = true; /* until it holds a program */
	p->anchor = LUA_NOREF;
	ev_io_init(&p->out_io, out_cb, -1, EV_READ);
	ev_io_init(&p->err_io, err_cb, -1, EV_READ);
	ev_io_init(&p->ctl_io, ctl_cb, -1, EV_READ);
	ev_timer_init(&p->deadline, deadline_cb, 0, 0);
	for (int i = 0; i < NWAIT; i++)
		rsl_waiter_init(&p->w[i], eng);
	luaL_setmetatable(L, RSL_MT_SPAWN);

	int e;
	if (rsl_spawn_start(&o, &p->s, &e, err, sizeof err) != RSL_OK)
		return rsl_push_fail(L, rsl_errno_name(e ? e : EIO), err);
	p->closed = false;
	struct ev_loop *ev = eng->loop->ev;
	ev_io_set(&p->out_io, p->s.out_fd, EV_READ);
	ev_io_set(&p->err_io, p->s.err_fd, EV_READ);
	ev_io_set(&p->ctl_io, p->s.ctl_fd, EV_READ);
	ev_io_start(ev, &p->out_io);
	ev_io_start(ev, &p->err_io);
	ev_io_start(ev, &p->ctl_io);
	if (timeout >= 0) {
		ev_now_update(ev);
		ev_timer_set(&p->deadline, timeout, 0);
		ev_timer_start(ev, &p->deadline);
	}
	lua_pushvalue(L, -1);
	p->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
	return 1;
}

/* The stream named at idx, with what its pipe holds now read in. */
static struct buf *check_stream(lua_State *L, struct lspawn *p, int idx, int *which)
{
	static const char *const names[] = { "stdout", "stderr", NULL };
	int i = luaL_checkoption(L, idx, "stdout", names);
	if (which)
		*which = i;
	if (i == 0 && p->s.out_fd >= 0)
		drain(p, &p->out_io, &p->out, &p->s.out_fd);
	if (i == 1 && p->s.err_fd >= 0)
		drain(p, &p->err_io, &p->err, &p->s.err_fd);
	return i == 0 ? &p->out : &p->err;
}

/* sp:pid() -> the program's pid (as the runner sees it) */
static int lspawn_pid(lua_State *L)
{
	lua_pushinteger(L, check_spawn(L, 1)->s.pid);
	return 1;
}

/* sp:init_pid() -> the pid of the namespace's init, or nil once closed */
static int lspawn_init_pid(lua_State *L)
{
	struct lspawn *p = check_spawn(L, 1);
	if (p->s.init_pid <= 0)
		return 0;
	lua_pushinteger(L, p->s.init_pid);
	return 1;
}

/* sp:take_line(stream) -> line (without "\n") | false (none yet) | nil
 * (the stream ended and everything was taken). At the end, a last line
 * without "\n" is a line too. */
static int lspawn_take_line(lua_State *L)
{
	struct lspawn *p = check_spawn(L, 1);
	struct buf *b = check_stream(L, p, 2, NULL);
	const char *start = b->p + b->pos;
	size_t left = b->len - b->pos;
	const char *nl = left ? memchr(start, '\n', left) : NULL;
	if (nl != NULL) {
		size_t n = (size_t)(nl - start);
		lua_pushlstring(L, start, n > 0 && start[n - 1] == '\r' ? n - 1 : n);
		b->pos += n + 1;
		return 1;
	}
	if (!b->eof) {
		lua_pushboolean(L, 0);
		return 1;
	}
	if (left > 0) {
		lua_pushlstring(L, start, left);
		b->pos = b->len;
		return 1;
	}
	lua_pushnil(L);
	return 1;
}

/* sp:output(stream) -> everything the stream carried so far */
static int lspawn_output(lua_State *L)
{
	struct lspawn *p = check_spawn(L, 1);
	struct buf *b = check_stream(L, p, 2, NULL);
	lua_pushlstring(L, b->p ? b->p : "", b->len);
	return 1;
}

/* sp:eof(stream) -> whether the stream has ended */
static int lspawn_eof(lua_State *L)
{
	struct lspawn *p = check_spawn(L, 1);
	lua_pushboolean(L, check_stream(L, p, 2, NULL)->eof);
	return 1;
}

/* sp:status() -> nil (running) | "exit", code | "signal", signo |
 * "lost" (its init died without saying) */
static int lspawn_status(lua_State *L)
{
	struct lspawn *p = check_spawn(L, 1);
	if (!p->exited) {
		if (p->lost || p->closed) {
			lua_pushliteral(L, "lost");
			return 1;
		}
		return 0;
	}
	if (WIFSIGNALED(p->status)) {
		lua_pushliteral(L, "signal");
		lua_pushinteger(L, WTERMSIG(p->status));
	} else {
		lua_pushliteral(L, "exit");
		lua_pushinteger(L, WEXITSTATUS(p->status));
	}
	return 2;
}

/* sp:timed_out() -> whether the spawn's own timeout killed it */
static int lspawn_timed_out(lua_State *L)
{
	lua_pushboolean(L, check_spawn(L, 1)->timed_out);
	return 1;
}

/* sp:closed() -> bool */
static int lspawn_closed(lua_State *L)
{
	lua_pushboolean(L, check_spawn(L, 1)->closed);
	return 1;
}

/* sp:park(which, timeout) -> "ready" | "timeout" | "closed": until
 * anything happens (which: "stdout", "stderr", "exit": the waiter slot). */
static int lspawn_park(lua_State *L)
{
	struct lspawn *p = check_spawn(L, 1);
	static const char *const names[] = { "stdout", "stderr", "exit", NULL };
	int i = luaL_checkoption(L, 2, NULL, names);
	double timeout = luaL_optnumber(L, 3, -1);
	if (p->closed) {
		lua_pushliteral(L, "closed");
		return 1;
	}
	static const char *const what[] = { "the program's stdout", "the program's stderr",
	                                    "the program's exit" };
	return rsl_waiter_wait(L, &p->w[i], 1, what[i], -1, 0, timeout);
}

/* sp:kill(signo [, all]) -> true | nil, msg, code: the program (or with
 * all, every process of its namespace). */
static int lspawn_kill(lua_State *L)
{
	struct lspawn *p = check_spawn(L, 1);
	int sig = (int)luaL_checkinteger(L, 2);
	bool all = lua_toboolean(L, 3);
	if (p->closed)
		return rsl_push_fail(L, "ECLOSED", "the program's scenario has ended it");
	if (sig <= 0 || sig >= NSIG)
		return luaL_error(L, "kill: %d is not a signal number", sig);
	if (rsl_spawn_signal(&p->s, sig, all) != RSL_OK)
		return rsl_push_errno(L, errno, "kill");
	lua_pushboolean(L, 1);
	return 1;
}

/* sp:socket_inodes() -> { inode, ... } | nil, msg, code: the sockets among
 * the program's open fds (/proc/PID/fd). */
static int lspawn_socket_inodes(lua_State *L)
{
	struct lspawn *p = check_spawn(L, 1);
	char err[RSL_ERRLEN];
	unsigned long *v;
	size_t n;
	if (p->closed || p->exited)
		return rsl_push_fail(L, "ECLOSED", "the program has ended");
	if (rsl_spawn_socket_inodes(p->s.pid, &v, &n, err, sizeof err) != RSL_OK)
		return rsl_push_errno(L, errno, err);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushinteger(L, (lua_Integer)v[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	free(v);
	return 1;
}

/* sp:close(): the program and everything it started end now. */
static int lspawn_close(lua_State *L)
{
	spawn_close(L, check_spawn(L, 1));
	return 0;
}

static int lspawn_gc(lua_State *L)
{
	struct lspawn *p = check_spawn(L, 1);
	spawn_close(L, p);
	for (int i = 0; i < NWAIT; i++)
		rsl_waiter_drop(&p->w[i]);
	free(p->out.p);
	free(p->err.p);
	p->out.p = p->err.p = NULL;
	p->out.len = p->err.len = p->out.cap = p->err.cap = 0;
	return 0;
}

static int lspawn_tostring(lua_State *L)
{
	struct lspawn *p = check_spawn(L, 1);
	lua_pushfstring(L, "rstlab.Spawn (pid %d)", (int)p->s.pid);
	return 1;
}

/* environ() -> { "NAME=value", ... }: this process's environment */
static int lspawn_environ(lua_State *L)
{
	extern char **environ;
	lua_newtable(L);
	for (int i = 0; environ[i] != NULL; i++) {
		lua_pushstring(L, environ[i]);
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* signal_number(name) -> n | nil: "TERM", "SIGTERM" or a number */
static int lspawn_signal_number(lua_State *L)
{
	static const struct { const char *name; int n; } sigs[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE },
		{ "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "CHLD", SIGCHLD },
		{ "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP },
	};
	const char *name = luaL_checkstring(L, 1);
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		if (strcmp(sigs[i].name, name) == 0) {
			lua_pushinteger(L, sigs[i].n);
			return 1;
		}
	}
	return 0;
}

void rsl_open_spawn(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "pid", lspawn_pid }, { "init_pid", lspawn_init_pid },
		{ "take_line", lspawn_take_line }, { "output", lspawn_output },
		{ "eof", lspawn_eof }, { "status", lspawn_status },
		{ "timed_out", lspawn_timed_out }, { "closed", lspawn_closed },
		{ "park", lspawn_park }, { "kill", lspawn_kill },
		{ "socket_inodes", lspawn_socket_inodes }, { "close", lspawn_close },
		{ NULL, NULL },
	};
	static const luaL_Reg meta[] = {
		{ "__gc", lspawn_gc }, { "__close", lspawn_close },
		{ "__tostring", lspawn_tostring }, { NULL, NULL },
	};
	static const luaL_Reg funcs[] = {
		{ "spawn_program", lspawn_spawn }, { "environ", lspawn_environ },
		{ "signal_number", lspawn_signal_number }, { NULL, NULL },
	};
	rsl_new_class(L, RSL_MT_SPAWN, methods, meta);
	luaL_setfuncs(L, funcs, 0);
}
