/*
 * Spawned programs: a real program run inside a host's network namespace,
 * and everything it starts in turn ended with it.
 *
 * Each spawn is two processes. The first is an init of ours, cloned
 * straight into a new PID namespace and a new mount namespace
 * (clone(CLONE_NEWPID | CLONE_NEWNS)): it is PID 1 there, dies with the
 * caller (PR_SET_PDEATHSIG SIGKILL), mounts a /proc of its own namespace
 * (so that /proc/self, /proc/$$ and ps agree with getpid() in the program),
 * enters the host's network namespace and starts the program as its only
 * child. When the init ends, for whatever reason (rsl_spawn_end, the
 * caller's death, SIGKILL from a runner killing the scenario's process
 * group), the kernel kills every process left in its PID namespace: the
 * program, and whatever it forked, daemonized or double-forked away from
 * it. No pid file, no process-group walk, nothing left to sweep.
 *
 * Between the caller and the init runs one SOCK_SEQPACKET pair (the
 * "control" socket): the program's child sends one message on it before
 * exec, which the kernel stamps with its pid as the caller sees it
 * (SCM_CREDENTIALS); the init sends the program's wait status when it
 * exits, and takes "signal the program" requests. The caller closing its
 * end is the init's order to end. The exec's own failure travels back on
 * a CLOEXEC pipe as the errno of the execve (or of the step before it that
 * failed): the pipe closes without a word when the exec succeeds.
 *
 * The children are made with the raw clone system call and only make
 * system calls until exec: the caller has worker threads, and glibc's
 * fork() in a child made by a raw clone could wait forever on a malloc
 * lock another thread held at the time of the clone.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define seterr(...) rsl_format_error(err, errlen, __VA_ARGS__)

/* What failed before the program ran: the step and its errno. */
enum { STEP_PROC = 1, STEP_NETNS, STEP_CWD, STEP_FDS, STEP_EXEC, STEP_CLONE };
static const char *const step_names[] = {
	[STEP_PROC] = "preparing the PID namespace",
	[STEP_NETNS] = "entering the host's network namespace",
	[STEP_CWD] = "changing to the working directory",
	[STEP_FDS] = "setting up stdin, stdout and stderr",
	[STEP_EXEC] = "exec",
	[STEP_CLONE] = "starting the program",
};

struct fail_msg {
	int step;
	int err;
};

/* A message on the control socket. */
struct ctl_msg {
	char type;              /* 'P' (child: here is my pid), 'S' (init: the
	                           program's wait status), 'K' (caller: signal) */
	int value;
};

static pid_t raw_fork(unsigned long flags)
{
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
}

static void report_fail(int fd, int step, int err)
{
	struct fail_msg m = { step, err };
	ssize_t n;
	do
		n = write(fd, &m, sizeof m);
	while (n < 0 && errno == EINTR);
}

/* Move fd to a number at or above floor, close-on-exec. */
static int lift(int fd, int floor)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, floor);
}

/* The program's child: stdio, cwd, signals back to defaults, exec. */
static void program_child(const struct rsl_spawn_opts *o, int in, int out, int errfd, int ctl,
                          int xp)
{
	/* Tell the caller who we are (the kernel adds our pid, translated). */
	struct ctl_msg m = { 'P', 0 };
	ssize_t n;
	do
		n = send(ctl, &m, sizeof m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	/* Everything we keep above 100, so dup2 to 0-2 clobbers nothing. */
	in = lift(in, 100);
	out = lift(out, 100);
	errfd = lift(errfd, 100);
	xp = lift(xp, 100);
	if (in < 0 || out < 0 || errfd < 0 || xp < 0)
		_exit(127);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0) {
		report_fail(xp, STEP_FDS, errno);
		_exit(127);
	}
	if (dup2(xp, 3) < 0 || fcntl(3, F_SETFD, FD_CLOEXEC) < 0) {
		report_fail(xp, STEP_FDS, errno);
		_exit(127);
	}
	/* Nothing of the scenario reaches the program: a socket of the
	 * script it held open would keep that connection from closing. */
	close_range(4, ~0U, 0);
	xp = 3;
	if (o->cwd != NULL && chdir(o->cwd) < 0) {
		report_fail(xp, STEP_CWD, errno);
		_exit(127);
	}
	/* Ignored signals stay ignored across exec (the runner ignores
	 * SIGPIPE): give the program the defaults a shell would. */
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (o->envp != NULL)
		execvpe(o->argv[0], (char *const *)o->argv, (char *const *)o->envp);
	else
		execvp(o->argv[0], (char *const *)o->argv);
	report_fail(xp, STEP_EXEC, errno);
	_exit(127);
}

/* The init: PID 1 of the program's namespace, until the caller lets go. */
static void init_main(const struct rsl_spawn_opts *o, int in, int out, int errfd, int ctl,
                      int xp)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The caller may have died before the line above: then its end of
	 * the control socket is closed already. */
	struct pollfd alive = { ctl, POLLIN, 0 };
	if (poll(&alive, 1, 0) == 1 && (alive.revents & (POLLHUP | POLLERR)))
		_exit(0);
	/* The mounts we make stay ours: nothing propagates back. Then a /proc
	 * of this PID namespace. Where no new /proc can be mounted (a user
	 * namespace under a /proc with masked paths), the program keeps the
	 * caller's: /proc/self is still right there. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) == 0)
		mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (o->nsfd >= 0 && setns(o->nsfd, CLONE_NEWNET) < 0) {
		report_fail(xp, STEP_NETNS, errno);
		_exit(127);
	}
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		report_fail(xp, STEP_PROC, errno);
		_exit(127);
	}
	pid_t child = raw_fork(0);
	if (child < 0) {
		report_fail(xp, STEP_CLONE, errno);
		_exit(127);
	}
	if (child == 0)
		program_child(o, in, out, errfd, ctl, xp);
	/* Keep only the control socket and the signalfd. */
	for (int fd = 0; fd < 1024; fd++)
		if (fd != ctl && fd != sfd)
			close(fd);
	close_range(1024, ~0U, 0);
	for (;;) {
		struct pollfd pf[2] = { { ctl, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (pf[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0) {
			}
			int st;
			pid_t r;
			while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
				if (r == child) {
					struct ctl_msg m = { 'S', st };
					send(ctl, &m, sizeof m, MSG_NOSIGNAL);
					child = -1;
				}
			}
		}
		if (pf[0].revents & POLLIN) {
			struct ctl_msg m;
			ssize_t n = recv(ctl, &m, sizeof m, 0);
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				_exit(0);
			if (n == (ssize_t)sizeof m && m.type == 'K' && child > 0)
				kill(child, m.value);
			/* Every process of the namespace but us: kill(-1) means that
			 * only to a PID 1. Anywhere else it would mean every process
			 * the user may signal, so never without being PID 1. */
			if (n == (ssize_t)sizeof m && m.type == 'A') {
				if (getpid() == 1)
					kill(-1, m.value);
				else if (child > 0)
					kill(child, m.value);
			}
		} else if (pf[0].revents & (POLLHUP | POLLERR)) {
			_exit(0);
		}
	}
}

/* stdin: a memfd holding the text (no writer to keep fed, no deadlock),
 * or /dev/null. */
static int stdin_fd(const struct rsl_spawn_opts *o)
{
	if (o->stdin_data == NULL)
		return open("/dev/null", O_RDONLY | O_CLOEXEC);
	int fd = memfd_create("rstlab-stdin", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	const char *p = o->stdin_data;
	size_t left = o->stdin_len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int rsl_spawn_start(const struct rsl_spawn_opts *o, struct rsl_spawn *out, int *errnum,
                    char *err, size_t errlen)
{
	int in = -1, po[2] = { -1, -1 }, pe[2] = { -1, -1 }, ctl[2] = { -1, -1 };
	int xp[2] = { -1, -1 };
	int rc = RSL_ESYS, e = 0;
	const char *what = "";

	out->init_pid = -1;
	out->pid = -1;
	out->out_fd = out->err_fd = out->ctl_fd = -1;
	*errnum = 0;
	if (o->argv == NULL || o->argv[0] == NULL) {
		seterr("no program to run");
		*errnum = EINVAL;
		return RSL_EINVAL;
	}
	what = "stdin";
	if ((in = stdin_fd(o)) < 0)
		goto fail_errno;
	what = "pipe";
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 || pipe2(xp, O_CLOEXEC) < 0)
		goto fail_errno;
	what = "socketpair";
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0)
		goto fail_errno;
	int one = 1;
	if (setsockopt(ctl[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
		goto fail_errno;
	what = "clone(CLONE_NEWPID|CLONE_NEWNS)";
	pid_t init = raw_fork(CLONE_NEWPID | CLONE_NEWNS);
	if (init < 0)
		goto fail_errno;
	if (init == 0) {
		close(ctl[0]);
		close(po[0]);
		close(pe[0]);
		close(xp[0]);
		init_main(o, in, po[1], pe[1], ctl[1], xp[1]);
		_exit(127);
	}
	out->init_pid = init;
	close_fd(&in);
	close_fd(&po[1]);
	close_fd(&pe[1]);
	close_fd(&ctl[1]);
	close_fd(&xp[1]);

	/* Until exec (the pipe closes empty) or a failure. */
	struct fail_msg fm;
	ssize_t n;
	do
		n = read(xp[0], &fm, sizeof fm);
	while (n < 0 && errno == EINTR);
	close_fd(&xp[0]);
	if (n == (ssize_t)sizeof fm) {
		e = fm.err;
		if (fm.step == STEP_EXEC)
			seterr("%s: %s", o->argv[0], strerror(e));
		else
			seterr("%s: %s: %s", o->argv[0], step_names[fm.step < STEP_CLONE + 1 && fm.step > 0 ? fm.step : STEP_CLONE], strerror(e));
		goto fail_child;
	}
	if (n != 0) {
		e = n < 0 ? errno : EPROTO;
		seterr("%s: reading the outcome of exec: %s", o->argv[0], strerror(e));
		goto fail_child;
	}
	/* The child's message, stamped by the kernel with its pid as this
	 * process sees it. It was sent before exec, so it is there now. */
	struct ctl_msg m;
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { &m, sizeof m };
	struct msghdr mh = { 0 };
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof cbuf.buf;
	do
		n = recvmsg(ctl[0], &mh, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	struct cmsghdr *c = n == (ssize_t)sizeof m ? CMSG_FIRSTHDR(&mh) : NULL;
	if (c == NULL || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS
	    || m.type != 'P') {
		e = n < 0 ? errno : EPROTO;
		seterr("%s: the program's pid did not come back: %s", o->argv[0], strerror(e));
		goto fail_child;
	}
	struct ucred cr;
	memcpy(&cr, CMSG_DATA(c), sizeof cr);
	out->pid = cr.pid;
	one = 0;
	setsockopt(ctl[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
	fcntl(po[0], F_SETFL, fcntl(po[0], F_GETFL) | O_NONBLOCK);
	fcntl(pe[0], F_SETFL, fcntl(pe[0], F_GETFL) | O_NONBLOCK);
	fcntl(ctl[0], F_SETFL, fcntl(ctl[0], F_GETFL) | O_NONBLOCK);
	out->out_fd = po[0];
	out->err_fd = pe[0];
	out->ctl_fd = ctl[0];
	return RSL_OK;

fail_errno:
	e = errno;
	seterr("%s: %s: %s", o->argv[0], what, strerror(e));
fail_child:
	*errnum = e;
	close_fd(&in);
	close_fd(&po[0]);
	close_fd(&po[1]);
	close_fd(&pe[0]);
	close_fd(&pe[1]);
	close_fd(&ctl[1]);
	close_fd(&xp[0]);
	close_fd(&xp[1]);
	out->ctl_fd = ctl[0];
	rsl_spawn_end(out);
	return rc;
}

int rsl_spawn_status(struct rsl_spawn *s, int *status)
{
	struct ctl_msg m;
	if (s->ctl_fd < 0)
		return RSL_ECLOSED;
	for (;;) {
		ssize_t n = recv(s->ctl_fd, &m, sizeof m, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return RSL_EAGAIN;
		if (n <= 0)
			return RSL_ECLOSED; /* the init is gone */
		if (n == (ssize_t)sizeof m && m.type == 'S') {
			*status = m.value;
			return RSL_OK;
		}
	}
}

int rsl_spawn_signal(struct rsl_spawn *s, int sig, bool all)
{
	struct ctl_msg m = { all ? 'A' : 'K', sig };
	if (s->ctl_fd < 0)
		return RSL_ECLOSED;
	if (send(s->ctl_fd, &m, sizeof m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return RSL_ESYS;
	return RSL_OK;
}

void rsl_spawn_end(struct rsl_spawn *s)
{
	close_fd(&s->ctl_fd);
	close_fd(&s->out_fd);
	close_fd(&s->err_fd);
	if (s->init_pid > 0) {
		/* Closing the control socket ends the init; SIGKILL too, in
		 * case it is stopped. Its death kills the namespace. */
		kill(s->init_pid, SIGKILL);
		while (waitpid(s->init_pid, NULL, 0) < 0 && errno == EINTR) {
		}
		s->init_pid = -1;
	}
}

int rsl_spawn_socket_inodes(pid_t pid, unsigned long **out, size_t *n, char *err,
                            size_t errlen)
{
	char path[64], link[64];
	*out = NULL;
	*n = 0;
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL) {
		seterr("%s: %s", path, strerror(errno));
		return RSL_ESYS;
	}
	size_t cap = 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		if (de->d_name[0] == '.')
			continue;
		ssize_t l = readlinkat(dirfd(d), de->d_name, link, sizeof link - 1);
		if (l < 0)
			continue;
		link[l] = '\0';
		unsigned long ino;
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			unsigned long *v = realloc(*out, cap * sizeof *v);
			if (v == NULL) {
				closedir(d);
				free(*out);
				*out = NULL;
				*n = 0;
				seterr("out of memory");
				return RSL_ESYS;
			}
			*out = v;
		}
		(*out)[(*n)++] = ino;
	}
	closedir(d);
	return RSL_OK;
}
