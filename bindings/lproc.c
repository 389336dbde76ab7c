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
 * fork(module, arg, true) makes a server: a child that also gets a
 * command socket (fd 4). Its Lua code takes each job the parent sends
 * with proc:spawn(text) (serve_next()) and forks a child of the server's
 * state for it (serve_fork()): what the server loaded is there already,
 * and the child becomes the parent's own (CLONE_PARENT). The last job
 * runs in the server itself (serve_fork(true)): nothing is left to keep
 * a clean state for, so the fork is saved.
 *
 * The runner's other process-level needs live here too: report(text),
 * exit(code), pid(), isatty(fd), cpus(), and the file system's
 * listdir(path) and mkdir(path).
 */
#include "private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <dirent.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lualib.h>

#define REPORT_FD 3
#define SERVE_FD 4      /* a server's command socket */
/* A job sent to a server: its length, then its bytes. */
#define MAX_JOB (64u << 20)

struct lproc {
	pid_t pid;              /* 0 once reaped */
	int fd;                 /* read end of the report pipe, -1 when closed */
	int pidfd;              /* readable once the child has exited; -1 if
	                           the kernel has no pidfd_open */
	int status;             /* waitpid status once reaped */
	int cmd;                /* a server's command socket, -1 otherwise */
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
static int child_main(lua_CFunction open_state, const char *module, const char *arg,
                      size_t alen)
{
	lua_State *L = luaL_newstate();
	if (L == NULL)
		return 70;
	luaL_openlibs(L);
	luaL_requiref(L, "rstlab", open_state, 0);
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

static struct lproc *new_proc(lua_State *L)
{
	struct lproc *pr = lua_newuserdatauv(L, sizeof *pr, 0);
	pr->pid = 0;
	pr->fd = -1;
	pr->pidfd = -1;
	pr->status = 0;
	pr->cmd = -1;
	rsl_waiter_init(&pr->w, rsl_engine_get(L));
	luaL_setmetatable(L, RSL_MT_PROC);
	return pr;
}

/* The parent's side of a new child pid whose report comes on fd. */
static void adopt(struct lproc *pr, pid_t pid, int fd)
{
	/* Also here, so the group exists before the parent may kill it. */
	setpgid(pid, pid);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	pr->pid = pid;
	pr->fd = fd;
	pr->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
}

/* In a new child: its own process group, dead with its parent. False if
 * the parent is already gone (then the death signal would never come). */
static bool detach(pid_t parent)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	return getppid() == parent;
}

/* fork(module, arg [, serve]) -> Proc | nil, msg, code. Upvalue: the
 * function that opens rstlab in the child's Lua state. */
static int lproc_fork(lua_State *L)
{
	lua_CFunction open_state = lua_tocfunction(L, lua_upvalueindex(1));
	const char *module = luaL_checkstring(L, 1);
	size_t alen;
	const char *arg = luaL_checklstring(L, 2, &alen);
	bool serve = lua_toboolean(L, 3);
	int p[2], sv[2] = { -1, -1 };

	struct lproc *pr = new_proc(L);
	if (pipe2(p, O_CLOEXEC) < 0)
		return rsl_push_errno(L, errno, "pipe");
	if (serve && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return rsl_push_errno(L, e, "socketpair");
	}
	fflush(NULL);
	pid_t self = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		if (serve) {
			close(sv[0]);
			close(sv[1]);
		}
		return rsl_push_errno(L, e, "fork");
	}
	if (pid == 0) {
		if (!detach(self))
			_exit(70);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		/* Lift both out of the way, then onto 3 and 4 (without
		 * close-on-exec); close_range drops every other fd. */
		int rep = fcntl(p[1], F_DUPFD, 10);
		int srv = serve ? fcntl(sv[1], F_DUPFD, 10) : -1;
		if (rep < 0 || dup2(rep, REPORT_FD) < 0 ||
		    (serve && (srv < 0 || dup2(srv, SERVE_FD) < 0)))
			_exit(70);
		close_range(serve ? SERVE_FD + 1 : REPORT_FD + 1, ~0U, 0);
		_exit(child_main(open_state, module, arg, alen));
	}
	close(p[1]);
	if (serve) {
		close(sv[1]);
		pr->cmd = sv[0];
		/* a server that stops answering is an error, not a hang */
		struct timeval tv = { .tv_sec = 10 };
		setsockopt(pr->cmd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	}
	adopt(pr, pid, p[0]);
	return 1;
}

static bool full_io(int fd, void *buf, size_t len, bool out)
{
	char *b = buf;
	while (len > 0) {
		ssize_t n = out ? send(fd, b, len, MSG_NOSIGNAL) : read(fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		b += n;
		len -= (size_t)n;
	}
	return true;
}

/* serve_next() -> job text, in a server (fd 4 is its command socket): the
 * next job the parent sent; when the parent has closed the socket, the
 * server exits here. */
static int lproc_serve_next(lua_State *L)
{
	uint32_t len;
	if (!full_io(SERVE_FD, &len, sizeof len, false) || len > MAX_JOB)
		_exit(0);
	luaL_Buffer b;
	char *job = luaL_buffinitsize(L, &b, len);
	if (!full_io(SERVE_FD, job, len, false))
		_exit(0);
	luaL_pushresultsize(&b, len);
	return 1;
}

/* serve_fork([here]) -> true in the child, false in the server: after
 * serve_next, a child for that job, whose parent is the server's parent
 * (CLONE_PARENT), with a new report pipe on fd 3 and this process's loop
 * made anew. The parent gets the pid and the pipe's read end over the
 * command socket, or -errno. With here true (the server's last job), the
 * server itself becomes the job's process: the parent gets its pid and a
 * new report pipe, the command socket is closed, and it returns true. */
static int lproc_serve_fork(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	bool here = lua_toboolean(L, 1);
	pid_t parent = getppid();
	int p[2] = { -1, -1 };
	int32_t reply;
	if (pipe2(p, O_CLOEXEC) < 0) {
		reply = -errno;
	} else if (here) {
		reply = (int32_t)getpid();
	} else {
		fflush(NULL);
		pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
		if (pid == 0) {
			close(SERVE_FD);
			if (!detach(parent))
				_exit(70);
			close(p[0]);
			if (dup2(p[1], REPORT_FD) < 0)
				_exit(70);
			close(p[1]);
			ev_loop_fork(eng->loop->ev);
			lua_pushboolean(L, 1);
			return 1;
		}
		reply = pid < 0 ? -errno : (int32_t)pid;
		close(p[1]);
		p[1] = -1;
	}
	struct iovec iov = { .iov_base = &reply, .iov_len = sizeof reply };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (reply > 0) {
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof u.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &p[0], sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(SERVE_FD, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (p[0] >= 0)
		close(p[0]);
	if (n != (ssize_t)sizeof reply || reply < 0)
		_exit(0);
	if (here) {
		close(SERVE_FD);
		if (dup2(p[1], REPORT_FD) < 0)
			_exit(70);
		close(p[1]);
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushboolean(L, 0);
	return 1;
}

/* server:spawn(job text) -> Proc | nil, msg, code: a child of the server
 * runs the job (serve_fork() returns true there); it is this process's
 * child. */
static int lproc_spawn_job(lua_State *L)
{
	struct lproc *z = check_proc(L, 1);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	if (z->cmd < 0)
		return rsl_push_errno(L, EBADF, "not a server, or closed");
	if (len > MAX_JOB)
		return rsl_push_errno(L, E2BIG, "job");
	uint32_t n = (uint32_t)len;
	if (!full_io(z->cmd, &n, sizeof n, true) || !full_io(z->cmd, (void *)text, len, true))
		return rsl_push_errno(L, errno ? errno : EPIPE, "sending a job to the server");
	int32_t reply = 0;
	struct iovec iov = { .iov_base = &reply, .iov_len = sizeof reply };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
	                     .msg_controllen = sizeof u.buf };
	ssize_t got;
	do
		got = recvmsg(z->cmd, &mh, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	int fd = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof fd);
	if (got != (ssize_t)sizeof reply || reply <= 0 || fd < 0) {
		int e = got < 0 ? errno : reply < 0 ? -reply : EPIPE;
		if (fd >= 0)
			close(fd);
		if (reply > 0) { /* a child without its pipe: it must not run */
			kill(reply, SIGKILL);
			waitpid(reply, NULL, 0);
		}
		return rsl_push_errno(L, e, "the server's answer");
	}
	if (reply == z->pid) {
		/* The server runs this job itself (its last): the new Proc owns
		 * the process from now on, and this one no longer waits for,
		 * kills or reaps it (nor a pid that could be another's once
		 * reaped). It takes no more jobs. */
		if (z->pidfd >= 0)
			close(z->pidfd);
		z->pidfd = -1;
		z->pid = 0;
		close(z->cmd);
		z->cmd = -1;
	}
	adopt(new_proc(L), reply, fd);
	return 1;
}

/* server:close_server(): no more jobs; the server exits. */
static int lproc_close_server(lua_State *L)
{
	struct lproc *z = check_proc(L, 1);
	if (z->cmd >= 0)
		close(z->cmd);
	z->cmd = -1;
	return 0;
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
	if (last) {
		/* /dev/null takes fd 3's place, which closes the pipe: nothing
		 * opened later lands on 3, where a server's children get their
		 * own report pipe (serve). */
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (nul < 0 || dup2(nul, REPORT_FD) < 0)
			close(REPORT_FD);
		if (nul >= 0 && nul != REPORT_FD)
			close(nul);
	}
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
	if (pr->cmd >= 0)
		close(pr->cmd);
	pr->cmd = -1;
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

int rsl_cpu_count(void)
{
	cpu_set_t set;
	long n = 0;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = CPU_COUNT(&set);
	if (n < 1)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (int)n;
}

/* cpus() -> n: rsl_cpu_count(). */
static int lproc_cpus(lua_State *L)
{
	lua_pushinteger(L, rsl_cpu_count());
	return 1;
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

/* pid() -> this process's id */
static int lproc_getpid(lua_State *L)
{
	lua_pushinteger(L, getpid());
	return 1;
}

/* listdir(path) -> { {name =, dir = bool}, ... } | nil, msg, code: the
 * entries of a directory, without "." and "..", in the order readdir
 * gives them. */
static int lproc_listdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	DIR *d = opendir(path);
	if (d == NULL)
		return rsl_push_errno(L, errno, path);
	lua_newtable(L);
	int n = 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		bool dir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
			struct stat st;
			dir = fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
		}
		lua_createtable(L, 0, 2);
		lua_pushstring(L, de->d_name);
		lua_setfield(L, -2, "name");
		lua_pushboolean(L, dir);
		lua_setfield(L, -2, "dir");
		lua_rawseti(L, -2, ++n);
	}
	closedir(d);
	return 1;
}

/* mkdir(path) -> true | nil, msg, code: like mkdir -p (0755, then the
 * umask). */
static int lproc_mkdir(lua_State *L)
{
	char buf[PATH_MAX];
	const char *path = luaL_checkstring(L, 1);
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return rsl_push_errno(L, ENAMETOOLONG, path);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return rsl_push_errno(L, errno, buf);
		*p = c;
		if (c == '\0')
			break;
	}
	lua_pushboolean(L, 1);
	return 1;
}

void rsl_open_proc(lua_State *L, lua_CFunction open_state)
{
	static const luaL_Reg methods[] = {
		{ "pid", lproc_pid }, { "read_now", lproc_read_now }, { "wait", lproc_wait },
		{ "wait_exit", lproc_wait_exit }, { "spawn", lproc_spawn_job },
		{ "close_server", lproc_close_server },
		{ "kill", lproc_kill }, { "reap", lproc_reap }, { NULL, NULL },
	};
	static const luaL_Reg meta[] = { { "__gc", lproc_gc }, { NULL, NULL } };
	static const luaL_Reg funcs[] = {
		{ "fork", lproc_fork }, { "serve_next", lproc_serve_next },
		{ "serve_fork", lproc_serve_fork },
		{ "report", lproc_report }, { "exit", lproc_exit },
		{ "isatty", lproc_isatty }, { "pid", lproc_getpid }, { "cpus", lproc_cpus },
		{ "listdir", lproc_listdir }, { "mkdir", lproc_mkdir }, { NULL, NULL },
	};
	rsl_new_class(L, RSL_MT_PROC, methods, meta);
	lua_pushcfunction(L, open_state);
	luaL_setfuncs(L, funcs, 1);
}
