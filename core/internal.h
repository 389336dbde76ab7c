/*
 * Declarations shared between the files of the core (and the bindings,
 * which are part of the same library). Nothing here is installed.
 */
#ifndef RSTLAB_INTERNAL_H
#define RSTLAB_INTERNAL_H

#define RSTLAB_BUILDING 1
#include "rstlab/rstlab.h"

#include <ev.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define RSL_HIDDEN __attribute__((visibility("hidden")))

struct rsl_loop {
	struct ev_loop *ev;
	bool borrowed;          /* ev is the embedder's: never destroyed here */
};

/* A loop over the embedder's libev loop (the C API's host loop): freeing
 * it leaves ev alone. NULL when out of memory. */
RSL_HIDDEN struct rsl_loop *rsl_loop_borrow(struct ev_loop *ev);

/* Format an error message into buf (nothing when buf is NULL or len 0):
 * a sentence the user can read as it is, without the C function's name.
 * Used by every module to keep its last error text in its object or in
 * the caller's err/errlen buffer. */
RSL_HIDDEN void rsl_format_error(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define rsl_set_error(buf, ...) rsl_format_error((buf), sizeof(buf), __VA_ARGS__)

/* ---- the runner's plumbing: not for embedders --------------------------- */

/* In the runner, once: when root, and neither the raw tracepoint (BTF)
 * nor a mounted tracefs is there, a private mount namespace for the
 * calling process (unshare(CLONE_NEWNS), mounts made private) with tracefs
 * mounted (the tracepoint's id and format are read there).
 * RSL_OK when tracing is available; RSL_EUNAVAIL or RSL_ESYS and a reason
 * in why when it will not be. */
RSL_HIDDEN int rsl_sandbox_prepare_tracing(char *why, size_t len);
/* Ephemeral ports are cut in slots of this many: each sandbox takes one
 * (core/sandbox.c), and the shared RST-reason program routes by slot
 * (core/trace.c). */
#define RSL_PORT_SLOT 200
/* Before making a host's namespace from the sandbox's: the sandbox's
 * children get small TCP tables (once; nothing outside a sandbox). */
RSL_HIDDEN void rsl_sandbox_child_tables(void);

/* Whether t's program is still on the tcp_send_reset raw tracepoint: 1,
 * 0 (its link or program descriptor no longer is one, or is another's),
 * or -1 when that cannot be said (a perf event's program; no reader). */
RSL_HIDDEN int rsl_trace_attached(const struct rsl_trace *t);

/* What t's own program and reader counted, for a message about a RST
 * with no event: the program's runs (every RST on the machine while it is
 * attached), the events it dropped because neither port was in its range
 * (the last RSL_TRACE_DROP_LOG of them: ports and time), and the records
 * the reader could not decode. -1 (all 0) for a reader of
 * the shared program, or none. */
#define RSL_TRACE_DROP_LOG 16
struct rsl_trace_counts {
	uint64_t runs, outside, unreadable;
	struct {                        /* the last events dropped outside the range */
		double ts;              /* realtime, as rsl_rst_event's (to the µs) */
		uint16_t sport, dport;
	} drops[RSL_TRACE_DROP_LOG];
	int ndrops;
};
RSL_HIDDEN int rsl_trace_counts(const struct rsl_trace *t, struct rsl_trace_counts *c);

/* Tests only: from now on this process's new RST-reason programs go on the
 * tracepoint through a perf event (on) even where the raw tracepoint
 * could be used, or choose again (off). */
RSL_HIDDEN void rsl_trace_force_perf(bool on);

/* ---- the kernel's types (btf.c) ------------------------------------------ */

/* A type wanted by name: its kind is a BTF_KIND_*. */
struct rsl_btf_name {
	const char *name;
	int kind;
};
/* /sys/kernel/btf/vmlinux, walked until every want is found: ids[k] = the
 * id of the first type named want[k], or -1, for k < n. RSL_OK, or
 * RSL_EUNAVAIL and why in err (no BTF on this kernel, a format this code
 * cannot walk). About 1.7 ms (mapped) on 6.18 for trace.c's names, 3.3 ms
 * when one is missing (the whole walk). Free with rsl_btf_close. */
struct rsl_btf;
RSL_HIDDEN int rsl_btf_open(struct rsl_btf **out, const struct rsl_btf_name *want, int *ids,
                            size_t n, char *err, size_t errlen);
RSL_HIDDEN void rsl_btf_close(struct rsl_btf *b);
/* The size of type id in bytes (through typedefs and qualifiers), or -1. */
RSL_HIDDEN long rsl_btf_size(struct rsl_btf *b, uint32_t id);
/* The byte offset of member name in the struct or union struct_id, found
 * through anonymous members as C does, and its size in *size; -1 when
 * there is none or it is a bit-field. */
RSL_HIDDEN long rsl_btf_member(struct rsl_btf *b, int struct_id, const char *name,
                               long *size);
/* names[value] = the name of each value of the enum id below count, prefix
 * taken off; names the enum does not give are left as they were. 0, or
 * -1 when id is not an enum. */
RSL_HIDDEN int rsl_btf_enum(struct rsl_btf *b, int id, const char *prefix,
                            char (*names)[40], int count);
/* The parameters of the function-pointer typedef id: their number, and in
 * names[i] (i < max) the name of each one's type, through one pointer
 * ("sock" for a const struct sock *); -1 when id is no such typedef. */
RSL_HIDDEN int rsl_btf_params(struct rsl_btf *b, int id, const char **names, int max);

/* ---- shared helpers of the core's files ---------------------------------- */

/* Write text to a file (a sysctl, a uid_map): 0, or -1 with errno. */
RSL_HIDDEN int rsl_write_text(const char *path, const char *text);

/* The built-in program of the default capture filter, "tcp", for frames
 * of link type dlt: DLT_EN10MB (from the Ethernet header) or DLT_RAW
 * (from the IP header). capture.c. */
struct sock_fprog;
RSL_HIDDEN const struct sock_fprog *rsl_capture_tcp_filter(int dlt);

/* Load library soname once per process, on first use (dl.c): each of
 * names[0..n) into slots[i]; *loaded says it was. RSL_OK, or RSL_EUNAVAIL
 * with err naming the library, and the Debian package that has it, or the
 * missing function. */
RSL_HIDDEN int rsl_dl_load(bool *loaded, const char *soname, const char *package,
                           const char *const *names, void **slots, size_t n, char *err,
                           size_t errlen);
/* A module's table of such a library's functions, from one X-macro list:
 * lib.fn.f is f, a pointer typed from the header's prototype (a changed
 * prototype is a compile error), and load(err, errlen) fills the table
 * the first time (rsl_dl_load). */
#define RSL_DL_FIELD(f) __typeof__(&f) f;
#define RSL_DL_NAME(f) #f,
#define RSL_DL_ONE(f) +1
#define RSL_DL_LIBRARY(load, LIST, soname, package)                                     \
	static union {                                                                  \
		struct {                                                                \
			LIST(RSL_DL_FIELD)                                              \
		} fn;                                                                   \
		void *slot[0 LIST(RSL_DL_ONE)];                                         \
	} lib;                                                                          \
	_Static_assert(sizeof lib.fn == sizeof lib.slot, "a function pointer is a slot"); \
	static int load(char *err, size_t errlen)                                       \
	{                                                                               \
		static const char *const names[] = { LIST(RSL_DL_NAME) };               \
		static bool loaded;                                                     \
		return rsl_dl_load(&loaded, soname, package, names, lib.slot,           \
		                   sizeof lib.slot / sizeof lib.slot[0], err, errlen);  \
	}

/* Bring lo up in the current network namespace (SIOCSIFFLAGS). */
RSL_HIDDEN int rsl_lo_up(char *err, size_t errlen);
/* True in a process that rsl_sandbox_prepare put in a network namespace
 * of its own, which no scenario uses: every rsl_sandbox_enter from it (or
 * from a child forked from it) makes a new one. */
RSL_HIDDEN bool rsl_sandbox_prepared(void);

/* ---- work off the loop (worker.c) --------------------------------------- */

/* A piece of work running in a thread of its own; see worker.c. */
struct rsl_worker;
typedef void (*rsl_work_fn)(void *arg);
/* Called once work has returned: on the loop's thread with detached
 * false, or (after rsl_worker_detach) in any thread with detached true,
 * when it must only release what arg holds. */
typedef void (*rsl_work_done_fn)(void *arg, bool detached);
/* Run work(arg) in a new thread (all signals blocked in it). 0, or an
 * errno (nothing started, done is never called). The worker frees itself
 * after done. */
RSL_HIDDEN int rsl_worker_start(struct rsl_loop *loop, rsl_work_fn work, rsl_work_done_fn done,
                                void *arg, struct rsl_worker **out);
/* On the loop's thread: stop waiting for w (NULL: nothing). w must not be
 * used afterwards. */
RSL_HIDDEN void rsl_worker_detach(struct rsl_worker *w);

/* ---- one system call of a socket, made in any thread (sock.c) ----------- */

/* The calls rsl_sock_read & co. make, split so that the system call itself
 * can run in a worker thread: prepare reads the socket (loop's thread),
 * run makes exactly one system call touching only the record (any
 * thread), apply turns its result into the socket's state and an RSL_*
 * code (loop's thread), exactly as rsl_sock_read & co. would return it. */
enum rsl_sock_op { RSL_CALL_CONNECT, RSL_CALL_ACCEPT, RSL_CALL_RECV, RSL_CALL_SEND,
                   RSL_CALL_CLOSE };
struct rsl_sock_call {
	enum rsl_sock_op op;
	int fd;                 /* CLOSE: taken from the socket, closed by run */
	int flags;              /* recv/send/accept4 flags */
	struct sockaddr_storage addr;   /* CONNECT: to; ACCEPT: the peer */
	unsigned addrlen;
	void *buf;              /* RECV: into; SEND: from (the caller's) */
	size_t len;
	long ret;               /* what the system call returned */
	int err;                /* its errno when ret < 0 */
	double seconds;         /* how long it took */
};
/* to: CONNECT's address; buf, len: RECV's or SEND's. CLOSE takes the fd:
 * the socket is closed (rsl_sock_fd -1) from here on. */
RSL_HIDDEN void rsl_sock_call_prepare(struct rsl_sock *s, struct rsl_sock_call *c,
                                      enum rsl_sock_op op, const struct rsl_addr *to,
                                      void *buf, size_t len);
RSL_HIDDEN void rsl_sock_call_run(struct rsl_sock_call *c);
/* RSL_OK, RSL_EAGAIN (the errno, EAGAIN or EINPROGRESS, is rsl_sock_errno)
 * or RSL_ESYS. ACCEPT fills out (a closed socket object). */
RSL_HIDDEN int rsl_sock_call_apply(struct rsl_sock *s, struct rsl_sock_call *c,
                                   struct rsl_sock *out);


/* ---- spawned programs (spawn.c) ------------------------------------------ */

/* What to run: argv[0] is looked up in PATH as execvp does. */
struct rsl_spawn_opts {
	const char *const *argv;   /* NULL-terminated */
	const char *const *envp;   /* NULL-terminated, or NULL: the caller's environ */
	const char *cwd;           /* NULL: the caller's */
	const void *stdin_data;    /* NULL: /dev/null */
	size_t stdin_len;
	int nsfd;                  /* network namespace; -1: the caller's */
};

/* A running program and its PID namespace. The fds are the caller's to
 * watch (nonblocking, close-on-exec); rsl_spawn_end closes them. */
struct rsl_spawn {
	pid_t init_pid;            /* the namespace's init, as the caller sees it */
	pid_t pid;                 /* the program, as the caller sees it */
	int out_fd, err_fd;        /* read ends of the program's stdout, stderr */
	int ctl_fd;                /* readable when the program's status came */
};

/* Start o->argv in a new PID and mount namespace (its /proc its own) in
 * o->nsfd's network namespace. RSL_OK, or a failure with the errno of the
 * step that failed (the exec's own: ENOENT, EACCES...) in *errnum and a
 * message in err; nothing is left running then. */
RSL_HIDDEN int rsl_spawn_start(const struct rsl_spawn_opts *o, struct rsl_spawn *out,
                               int *errnum, char *err, size_t errlen);
/* The program's wait status once it has exited: RSL_OK, RSL_EAGAIN (not
 * yet), RSL_ECLOSED (the init is gone: no status will come). */
RSL_HIDDEN int rsl_spawn_status(struct rsl_spawn *s, int *status);
/* Signal the program (all false: only the program, if not reaped yet) or
 * every process of its namespace (all true). */
RSL_HIDDEN int rsl_spawn_signal(struct rsl_spawn *s, int sig, bool all);
/* End the namespace: every process in it dies, the init is reaped, the
 * fds closed. Idempotent. */
RSL_HIDDEN void rsl_spawn_end(struct rsl_spawn *s);
/* The processes of s's PID namespace but its init (the program and what
 * it started), as the caller sees them; *out: caller frees. */
RSL_HIDDEN int rsl_spawn_members(const struct rsl_spawn *s, pid_t **out, size_t *n, char *err,
                                 size_t errlen);
/* The inodes of the sockets among /proc/PID/fd; *out: caller frees. */
RSL_HIDDEN int rsl_spawn_socket_inodes(pid_t pid, unsigned long **out, size_t *n, char *err,
                                       size_t errlen);

#endif
