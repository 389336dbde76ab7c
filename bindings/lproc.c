/*
 * rstlab.Proc: scenario processes, as the runner forks them.
 *
 * fork(module, arg) starts a child that leaves everything of the parent
 * behind: it keeps only stdin/stdout/stderr and its report pipe (fd 3),
 * creates a fresh Lua state and calls require(module).child_main(arg). It
 * is its own process group (the runner kills the group at a timeout) and
 * dies with its parent. The parent reads the child's report from the pipe
 * without blocking the loop, so many children can run at once.
 *
 * The runner's other process-level needs live here too: signal(signo), a
 * Signal object that catches a signal on the loop (so Ctrl-C can stop a run
 * cleanly), and isatty(fd).
 */
#include "private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lualib.h>

#define REPORT_FD 3

struct lproc {
	pid_t pid;              /* 0 once reaped */
	int fd;                 /* read end of the report pipe, -1 when closed */
	int pidfd;              /* readable once the child has exited; -1 if
	                           the kernel has no pidfd_open */
	int status;             /* waitpid status once reaped */
	struct rsl_waiter w;
};

static struct lproc *check_proc(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, RSL_MT_PROC);
}

static int child_traceback(lua_State *L)
{
	luaL_traceback(L, L, lua_tostring(L, 1), 1);
	return 1;
}

/* The child's whole life: a new Lua state, the module's child_main. */
static int child_main(const char *module, const char *arg, size_t alen)
{
	lua_State *L = luaL_newstate();
	if (L == NULL)
		return 70;
	luaL_openlibs(L);
	luaL_requiref(L, "rstlab", luaopen_rstlab, 0);
	lua_pop(L, 1);
	lua_pushcfunction(L, child_traceback);
	lua_getglobal(L, "require");
	lua_pushstring(L, module);
	if (lua_pcall(L, 1, 1, 1) != LUA_OK)
		goto fail;
	lua_getfield(L, -1, "child_main");
	lua_pushlstring(L, arg, alen);
	if (lua_pcall(L, 1, 1, 1) != LUA_OK)
		goto fail;
	int code = (int)lua_tointeger(L, -1);
	fflush(NULL);
	/* No lua_close: the process ends here, and closing would run __gc
	 * finalizers that could put packets on the wire after the report. */
	return code;
fail:
	fprintf(stderr, "rstlab: child: %s\n", lua_tostring(L, -1));
	fflush(NULL);
	return 70;
}

/* fork(module, arg) -> Proc. */
static int lproc_fork(lua_State *L)
{
	const char *module = luaL_checkstring(L, 1);
	size_t alen;
	const char *arg = luaL_checklstring(L, 2, &alen);
	struct rsl_engine *eng = rsl_engine_get(L);
	int p[2];

	struct lproc *pr = lua_newuserdatauv(L, sizeof *pr, 0);
	pr->pid = 0;
	pr->fd = -1;
	pr->pidfd = -1;
	pr->status = 0;
	rsl_waiter_init(&pr->w, eng);
	luaL_setmetatable(L, RSL_MT_PROC);

	if (pipe2(p, O_CLOEXEC) < 0)
		return rsl_push_errno(L, errno, "pipe");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return rsl_push_errno(L, e, "fork");
	}
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (p[1] != REPORT_FD) {
			dup2(p[1], REPORT_FD);
		} else {
			int fl = fcntl(REPORT_FD, F_GETFD);
			fcntl(REPORT_FD, F_SETFD, fl & ~FD_CLOEXEC);
		}
		close_range(REPORT_FD + 1, ~0U, 0);
		_exit(child_main(module, arg, alen));
	}
	/* Also here, so the group exists before the parent may kill it. */
	setpgid(pid, pid);
	close(p[1]);
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	pr->pid = pid;
	pr->fd = p[0];
	pr->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return 1;
}

/* report(text [, last]): in a child, write text to the parent (all of
 * it); with last, close the pipe: the parent sees the end of the report
 * while this process still cleans up. */
static int lproc_report(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	bool last = lua_toboolean(L, 2);
	while (len > 0) {
		ssize_t n = write(REPORT_FD, s, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return rsl_push_errno(L, errno, "writing the report");
		}
		s += n;
		len -= (size_t)n;
	}
	if (last)
		close(REPORT_FD);
	lua_pushboolean(L, 1);
	return 1;
}

/* exit(code): end this process now, without finalizers. */
static int lproc_exit(lua_State *L)
{
	int code = (int)luaL_optinteger(L, 1, 0);
	fflush(NULL);
	_exit(code);
	return 0;
}

/* proc:pid() -> number */
static int lproc_pid(lua_State *L)
{
	lua_pushinteger(L, check_proc(L, 1)->pid);
	return 1;
}

/* proc:read_now() -> data | "" (EOF) | false (nothing yet) */
static int lproc_read_now(lua_State *L)
{
	struct lproc *pr = check_proc(L, 1);
	char buf[16384];
	if (pr->fd < 0) {
		lua_pushliteral(L, "");
		return 1;
	}
	ssize_t n = read(pr->fd, buf, sizeof buf);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			lua_pushboolean(L, 0);
			return 1;
		}
		return rsl_push_errno(L, errno, "reading a child's report");
	}
	if (n == 0) {
		close(pr->fd);
		pr->fd = -1;
	}
	lua_pushlstring(L, buf, (size_t)n);
	return 1;
}

/* proc:wait(timeout) -> "ready" | "timeout" | "closed": until the report
 * pipe is readable. */
static int lproc_wait(lua_State *L)
{
	struct lproc *pr = check_proc(L, 1);
	double timeout = luaL_optnumber(L, 2, -1);
	if (pr->fd < 0) {
		lua_pushliteral(L, "ready");
		return 1;
	}
	return rsl_waiter_wait(L, &pr->w, 1, "this process", pr->fd, EV_READ, timeout);
}

/* proc:wait_exit(timeout) -> "ready" | "timeout": until the child has
 * exited (then proc:reap() does not block). */
static int lproc_wait_exit(lua_State *L)
{
	struct lproc *pr = check_proc(L, 1);
	double timeout = luaL_optnumber(L, 2, -1);
	if (pr->pid <= 0 || pr->pidfd < 0) {
		lua_pushliteral(L, "ready");
		return 1;
	}
	return rsl_waiter_wait(L, &pr->w, 1, "this process", pr->pidfd, EV_READ, timeout);
}

/* proc:kill([signal number, default SIGKILL]): the whole process group. */
static int lproc_kill(lua_State *L)
{
	struct lproc *pr = check_proc(L, 1);
	int sig = (int)luaL_optinteger(L, 2, SIGKILL);
	if (pr->pid > 0)
		kill(-pr->pid, sig);
	return 0;
}

/* proc:reap() -> "exit", code | "signal", signo. Blocks until the child
 * has exited: call it after the report pipe closed or after kill(). */
static int lproc_reap(lua_State *L)
{
	struct lproc *pr = check_proc(L, 1);
	if (pr->pid > 0) {
		pid_t r;
		do
			r = waitpid(pr->pid, &pr->status, 0);
		while (r < 0 && errno == EINTR);
		pr->pid = 0;
	}
	if (pr->pidfd >= 0)
		close(pr->pidfd);
	pr->pidfd = -1;
	if (WIFSIGNALED(pr->status)) {
		lua_pushliteral(L, "signal");
		lua_pushinteger(L, WTERMSIG(pr->status));
	} else {
		lua_pushliteral(L, "exit");
		lua_pushinteger(L, WEXITSTATUS(pr->status));
	}
	return 2;
}

static int lproc_gc(lua_State *L)
{
	struct lproc *pr = check_proc(L, 1);
	rsl_waiter_drop(&pr->w);
	if (pr->fd >= 0)
		close(pr->fd);
	pr->fd = -1;
	if (pr->pidfd >= 0)
		close(pr->pidfd);
	pr->pidfd = -1;
	if (pr->pid > 0) {
		kill(-pr->pid, SIGKILL);
		waitpid(pr->pid, NULL, 0);
		pr->pid = 0;
	}
	return 0;
}

/* ---- signals ------------------------------------------------------------ */

/* A signal caught on the engine's loop: deliveries are counted while no
 * actor waits, and wake the waiting actor otherwise. libev attaches a
 * signal to one loop per process, so a second engine asking for the same
 * signal gets an error instead of libev's assertion. */
struct lsignal {
	ev_signal sig;
	struct rsl_waiter w;
	int pending;            /* deliveries nobody has waited for yet */
	bool active;
};

static struct ev_loop *signal_owner[NSIG];

static struct lsignal *check_signal(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, RSL_MT_SIGNAL);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct lsignal *s = (struct lsignal *)((char *)w - offsetof(struct lsignal, sig));
	if (rsl_waiter_busy(&s->w))
		rsl_waiter_wake(&s->w, "ready");
	else
		s->pending++;
}

/* One close path: stop catching (the signal's default action is back),
 * wake a waiting actor with "closed". */
static void signal_close(struct lsignal *s)
{
	if (!s->active)
		return;
	struct ev_loop *ev = s->w.eng->loop->ev;
	ev_signal_stop(ev, &s->sig);
	signal_owner[s->sig.signum] = NULL;
	s->active = false;
	rsl_waiter_wake(&s->w, "closed");
}

/* signal(signo) -> Signal: catch signo on this engine's loop from now on,
 * instead of its default action. */
static int lproc_signal(lua_State *L)
{
	int signo = (int)luaL_checkinteger(L, 1);
	struct rsl_engine *eng = rsl_engine_get(L);
	luaL_argcheck(L, signo > 0 && signo < NSIG && signo != SIGKILL && signo != SIGSTOP, 1,
	              "not a signal that can be caught");
	if (signal_owner[signo] != NULL)
		return luaL_error(L, "signal %d is already caught by an engine of this process", signo);
	struct lsignal *s = lua_newuserdatauv(L, sizeof *s, 0);
	s->pending = 0;
	s->active = false;
	rsl_waiter_init(&s->w, eng);
	ev_signal_init(&s->sig, signal_cb, signo);
	luaL_setmetatable(L, RSL_MT_SIGNAL);
	ev_signal_start(eng->loop->ev, &s->sig);
	/* A caught signal must not keep the loop running on its own. */
	ev_unref(eng->loop->ev);
	signal_owner[signo] = eng->loop->ev;
	s->active = true;
	return 1;
}

/* sig:wait([timeout]) -> "ready" | "timeout" | "closed": until the signal
 * arrives (at once if it arrived since the last wait). */
static int lsignal_wait(lua_State *L)
{
	struct lsignal *s = check_signal(L, 1);
	double timeout = luaL_optnumber(L, 2, -1);
	if (s->pending > 0) {
		s->pending--;
		lua_pushliteral(L, "ready");
		return 1;
	}
	if (!s->active) {
		lua_pushliteral(L, "closed");
		return 1;
	}
	return rsl_waiter_wait(L, &s->w, 1, "this signal", -1, 0, timeout);
}

/* sig:close(): stop catching the signal (idempotent). */
static int lsignal_close(lua_State *L)
{
	struct lsignal *s = check_signal(L, 1);
	if (s->active)
		ev_ref(s->w.eng->loop->ev);
	signal_close(s);
	return 0;
}

static int lsignal_gc(lua_State *L)
{
	struct lsignal *s = check_signal(L, 1);
	if (s->active) {
		ev_ref(s->w.eng->loop->ev);
		ev_signal_stop(s->w.eng->loop->ev, &s->sig);
		signal_owner[s->sig.signum] = NULL;
		s->active = false;
	}
	rsl_waiter_drop(&s->w);
	return 0;
}

/* isatty(fd) -> bool, columns | nil: whether fd is a terminal, and its
 * width when the terminal says. */
static int lproc_isatty(lua_State *L)
{
	int fd = (int)luaL_checkinteger(L, 1);
	if (!isatty(fd)) {
		lua_pushboolean(L, 0);
		return 1;
	}
	lua_pushboolean(L, 1);
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		lua_pushinteger(L, ws.ws_col);
	else
		lua_pushnil(L);
	return 2;
}

void rsl_open_proc(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "pid", lproc_pid }, { "read_now", lproc_read_now }, { "wait", lproc_wait },
		{ "wait_exit", lproc_wait_exit },
		{ "kill", lproc_kill }, { "reap", lproc_reap }, { NULL, NULL },
	};
	static const luaL_Reg meta[] = { { "__gc", lproc_gc }, { NULL, NULL } };
	static const luaL_Reg funcs[] = {
		{ "fork", lproc_fork }, { "report", lproc_report }, { "exit", lproc_exit },
		{ "signal", lproc_signal }, { "isatty", lproc_isatty }, { NULL, NULL },
	};
	static const luaL_Reg sig_methods[] = {
		{ "wait", lsignal_wait }, { "close", lsignal_close }, { NULL, NULL },
	};
	static const luaL_Reg sig_meta[] = {
		{ "__gc", lsignal_gc }, { "__close", lsignal_close }, { NULL, NULL },
	};
	rsl_new_class(L, RSL_MT_PROC, methods, meta);
	rsl_new_class(L, RSL_MT_SIGNAL, sig_methods, sig_meta);
	luaL_setfuncs(L, funcs, 0);
}
