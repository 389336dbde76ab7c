/*
 * The rstlab Lua module: the engine record of a Lua state, the helpers the
 * binding files share, the tracepoint and sandbox functions, and the two
 * entry points: luaopen_rstlab_core (the C primitives, "rstlab.core") and
 * luaopen_rstlab (the scripting API of stdlib/rstlab/init.lua, with the
 * whole stdlib embedded in package.preload).
 */
#include "private.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char engine_key = 'E';

/* ---- the engine -------------------------------------------------------- */

static int engine_gc(lua_State *L)
{
	struct rsl_engine *eng = luaL_checkudata(L, 1, RSL_MT_ENGINE);
	rsl_trace_close(eng->trace);
	eng->trace = NULL;
	if (eng->home_ns >= 0)
		close(eng->home_ns);
	eng->home_ns = -1;
	rsl_loop_free(eng->loop);
	eng->loop = NULL;
	return 0;
}

static struct rsl_engine *engine_create(lua_State *L)
{
	static const luaL_Reg meta[] = { { "__gc", engine_gc }, { NULL, NULL } };
	struct rsl_engine *eng = lua_newuserdatauv(L, sizeof *eng, 0);
	memset(eng, 0, sizeof *eng);
	eng->home_ns = -1;
	if (luaL_newmetatable(L, RSL_MT_ENGINE))
		luaL_setfuncs(L, meta, 0);
	lua_setmetatable(L, -2);
	eng->loop = rsl_loop_new();
	if (eng->loop == NULL)
		luaL_error(L, "cannot create the event loop");
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	eng->L = lua_tothread(L, -1);
	lua_pop(L, 1);
	eng->home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &engine_key);
	return eng;
}

struct rsl_engine *rsl_engine_get(lua_State *L)
{
	lua_rawgetp(L, LUA_REGISTRYINDEX, &engine_key);
	struct rsl_engine *eng = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (eng == NULL)
		luaL_error(L, "rstlab.core is not open in this Lua state");
	return eng;
}

/* ---- shared helpers ---------------------------------------------------- */

int rsl_push_errno(lua_State *L, int err, const char *text)
{
	const char *name = rsl_errno_name(err);
	lua_pushnil(L);
	if (text)
		lua_pushfstring(L, "%s: %s: %s", name, text, strerror(err));
	else
		lua_pushfstring(L, "%s: %s", name, strerror(err));
	lua_pushstring(L, name);
	return 3;
}

const char *rsl_user_error(const char *text)
{
	const char *p = text;
	if (text == NULL || strncmp(text, "rsl_", 4) != 0)
		return text;
	while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
		p++;
	return strncmp(p, ": ", 2) == 0 ? p + 2 : text;
}

void rsl_check_addr(lua_State *L, int idx, bool allow_noport, struct rsl_addr *a)
{
	const char *s = luaL_checkstring(L, idx);
	if (rsl_addr_parse(s, allow_noport, a) != RSL_OK)
		luaL_error(L, "invalid address '%s' (expected \"ip:port\" or \"[ipv6]:port\", "
		           "port 0..65535)", s);
}

void rsl_push_ip_port(lua_State *L, int family, const uint8_t ip[16], uint16_t port)
{
	struct rsl_addr a = { .family = family, .port = port };
	char buf[80];
	memcpy(a.ip, ip, 16);
	lua_pushstring(L, rsl_addr_format(&a, buf, sizeof buf));
}

void rsl_push_addr(lua_State *L, const struct rsl_addr *a)
{
	char buf[80];
	if (a->family == 0)
		lua_pushnil(L);
	else
		lua_pushstring(L, rsl_addr_format(a, buf, sizeof buf));
}

void rsl_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                   const luaL_Reg *meta)
{
	luaL_newmetatable(L, name); /* sets __name */
	luaL_setfuncs(L, meta, 0);
	lua_newtable(L);
	luaL_setfuncs(L, methods, 0);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
}

/* ---- tracepoint -------------------------------------------------------- */

/* trace_open([instance]) -> true | nil, why: this state's tcp_send_reset
 * reader, opened once (later calls say the same): on the named instance of
 * a runner's pool, or on an instance of this process's own. */
static int ltrace_open(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	const char *name = luaL_optstring(L, 1, NULL);
	if (!eng->trace_tried) {
		eng->trace_tried = true;
		char *why = eng->trace_why;
		size_t n = sizeof eng->trace_why;
		int rc = RSL_EUNAVAIL;
		if (rsl_trace_check(why, n) != RSL_OK) {
			rc = RSL_EUNAVAIL;
		} else if (name == NULL) {
			rc = rsl_trace_open(&eng->trace, why, n);
		} else {
			/* A runner's slot instance is made by the first scenario of
			 * the slot that needs it, and kept for the next ones. */
			rc = rsl_trace_attach(name, &eng->trace, why, n);
			if (rc == RSL_EUNAVAIL && rsl_trace_create(name, why, n) == RSL_OK)
				rc = rsl_trace_attach(name, &eng->trace, why, n);
		}
		if (rc != RSL_OK)
			eng->trace = NULL;
	}
	if (eng->trace == NULL) {
		lua_pushnil(L);
		lua_pushstring(L, eng->trace_why);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* trace_events(from) -> list of { ts, src, dst, state, reason } from the
 * from-th event on (1-based), after reading what the kernel holds now. */
static int ltrace_events(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	lua_Integer from = luaL_optinteger(L, 1, 1);
	lua_newtable(L);
	if (eng->trace == NULL)
		return 1;
	rsl_trace_drain(eng->trace);
	size_t n = rsl_trace_count(eng->trace);
	for (size_t i = from > 0 ? (size_t)from - 1 : 0, k = 1; i < n; i++, k++) {
		const struct rsl_rst_event *e = rsl_trace_event(eng->trace, i);
		lua_createtable(L, 0, 5);
		lua_pushnumber(L, e->ts);
		lua_setfield(L, -2, "ts");
		rsl_push_ip_port(L, e->family, e->src, e->sport);
		lua_setfield(L, -2, "src");
		rsl_push_ip_port(L, e->family, e->dst, e->dport);
		lua_setfield(L, -2, "dst");
		lua_pushstring(L, e->state);
		lua_setfield(L, -2, "state");
		lua_pushstring(L, e->reason);
		lua_setfield(L, -2, "reason");
		lua_rawseti(L, -2, (lua_Integer)k);
	}
	return 1;
}

/* trace_close(): remove this state's tracing instance now. */
static int ltrace_close(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	rsl_trace_close(eng->trace);
	eng->trace = NULL;
	return 0;
}

/* trace_create(name) -> true | nil, why: an instance for a runner's pool. */
static int ltrace_create(lua_State *L)
{
	char why[RSL_ERRLEN];
	if (rsl_trace_create(luaL_checkstring(L, 1), why, sizeof why) != RSL_OK) {
		lua_pushnil(L);
		lua_pushstring(L, why);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* trace_destroy(name): remove a pool instance. */
static int ltrace_destroy(lua_State *L)
{
	rsl_trace_destroy(luaL_checkstring(L, 1));
	return 0;
}

/* trace_remove(pid): remove the instance a dead child left behind. */
static int ltrace_remove(lua_State *L)
{
	rsl_trace_remove_instance((int)luaL_checkinteger(L, 1));
	return 0;
}

/* ---- sandbox ----------------------------------------------------------- */

/* sandbox_enter() -> true | nil, msg: a fresh network namespace, lo up, a
 * private port slice. The engine's home becomes the new namespace. */
static int lsandbox_enter(lua_State *L)
{
	struct rsl_engine *eng = rsl_engine_get(L);
	char err[RSL_ERRLEN];
	if (rsl_sandbox_enter(err, sizeof err) != RSL_OK) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	if (eng->home_ns >= 0)
		close(eng->home_ns);
	eng->home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	lua_pushboolean(L, 1);
	return 1;
}

/* sandbox_ports() -> lo, hi (0, 0 when no slice could be taken) */
static int lsandbox_ports(lua_State *L)
{
	int lo, hi;
	rsl_sandbox_ports(&lo, &hi);
	lua_pushinteger(L, lo);
	lua_pushinteger(L, hi);
	return 2;
}

/* prepare_tracing() -> true | false, why */
static int lsandbox_prepare_tracing(lua_State *L)
{
	char why[RSL_ERRLEN];
	bool ok = rsl_sandbox_prepare_tracing(why, sizeof why) == RSL_OK;
	lua_pushboolean(L, ok);
	if (ok)
		return 1;
	lua_pushstring(L, why);
	return 2;
}

/* errno_name(n) -> "ECONNRESET" */
static int lerrno_name(lua_State *L)
{
	lua_pushstring(L, rsl_errno_name((int)luaL_checkinteger(L, 1)));
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

/* listdir(path) -> { {name =, dir = bool}, ... } sorted by name
 * | nil, msg: the entries of a directory, without "." and "..". */
static int llistdir(lua_State *L)
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

/* mkdir(path) -> true | nil, msg: like mkdir -p (0755, then the umask). */
static int lmkdir(lua_State *L)
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

/* pid() -> this process's id */
static int lpid(lua_State *L)
{
	lua_pushinteger(L, getpid());
	return 1;
}

/* parse_addr(text) -> true | nil, why: validate "ip:port" without raising */
static int lparse_addr(lua_State *L)
{
	struct rsl_addr a;
	if (rsl_addr_parse(luaL_checkstring(L, 1), lua_toboolean(L, 2), &a) != RSL_OK) {
		lua_pushnil(L);
		lua_pushfstring(L, "invalid address '%s'", lua_tostring(L, 1));
		return 2;
	}
	lua_pushstring(L, a.family == AF_INET6 ? "inet6" : "inet");
	return 1;
}

/* metatable(class) -> the metatable of "rstlab.<class>", so the stdlib
 * can add the methods it writes in Lua. */
static int lmethods(lua_State *L)
{
	lua_pushfstring(L, "rstlab.%s", luaL_checkstring(L, 1));
	if (luaL_getmetatable(L, lua_tostring(L, -1)) != LUA_TTABLE)
		return luaL_error(L, "no class %s", lua_tostring(L, -2));
	return 1;
}

int luaopen_rstlab_core(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "trace_open", ltrace_open }, { "trace_events", ltrace_events },
		{ "trace_close", ltrace_close }, { "trace_remove", ltrace_remove },
		{ "trace_create", ltrace_create }, { "trace_destroy", ltrace_destroy },
		{ "sandbox_enter", lsandbox_enter }, { "sandbox_ports", lsandbox_ports },
		{ "prepare_tracing", lsandbox_prepare_tracing },
		{ "errno_name", lerrno_name }, { "option_names", loption_names },
		{ "parse_addr", lparse_addr }, { "metatable", lmethods },
		{ "pid", lpid },
		{ "listdir", llistdir }, { "mkdir", lmkdir },
		{ NULL, NULL },
	};
	lua_rawgetp(L, LUA_REGISTRYINDEX, &engine_key);
	bool have = !lua_isnil(L, -1);
	lua_pop(L, 1);
	if (!have)
		engine_create(L);
	luaL_newlib(L, funcs);
	rsl_open_sched(L);
	rsl_open_socket(L);
	rsl_open_capture(L);
	rsl_open_host(L);
	rsl_open_proc(L);
	lua_pushliteral(L, RSTLAB_VERSION);
	lua_setfield(L, -2, "version");
	return 1;
}

/* package.preload loader of an embedded stdlib module; upvalue: index. */
static int load_embedded(lua_State *L)
{
	const struct rsl_embedded *m = &rsl_stdlib[lua_tointeger(L, lua_upvalueindex(1))];
	if (luaL_loadbuffer(L, m->src, m->len, m->path) != LUA_OK)
		return lua_error(L);
	lua_pushstring(L, m->name);
	lua_call(L, 1, 1);
	return 1;
}

int luaopen_rstlab(lua_State *L)
{
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, luaopen_rstlab_core);
	lua_setfield(L, -2, "rstlab.core");
	for (lua_Integer i = 0; rsl_stdlib[i].name != NULL; i++) {
		lua_pushinteger(L, i);
		lua_pushcclosure(L, load_embedded, 1);
		lua_setfield(L, -2, rsl_stdlib[i].name);
	}
	lua_pop(L, 1);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "rstlab.init");
	lua_call(L, 1, 1);
	return 1;
}
