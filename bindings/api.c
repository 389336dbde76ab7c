/*
 * The C API of <rstlab/runner.h>: a runner is a private Lua state running
 * rstlab.runner.api (stdlib/rstlab/runner/api.lua), which forks, waits and
 * kills through the same pool as the rstlab program. This file turns C
 * calls into protected calls of that module, and the records it reports
 * into C data (struct rsl_result) kept in the runner, so that reading a
 * result never touches Lua.
 *
 * Every call into Lua goes through call(), a lua_pcall with a traceback:
 * a Lua error becomes the runner's message and RSL_ESYS, never a longjmp
 * through the caller. The callbacks of a run come from actors of the loop
 * (l_on_result, l_on_done); the user's callbacks are called from there,
 * with in_callback set so that re-entering the runner is refused.
 */
#include "private.h"
#include "rstlab/runner.h"
#include "rstlab_lua.h"

#include <lualib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rsl_result {
	char *file, *name;
	enum rsl_status status;
	char *message;          /* NULL for none */
	char *where;            /* NULL for none */
	double duration;
	char **pcap;            /* npcap strings */
	size_t npcap;
	char **unchecked;       /* nunchecked strings */
	size_t nunchecked;
};

struct entry {
	char *file, *name;      /* owned */
};

struct rsl_runner {
	lua_State *L;           /* owned */
	int mod;                /* registry ref: the rstlab.runner.api table */
	int self;               /* registry ref: this runner's Lua table */
	struct entry *list;     /* the loaded scenarios, nlist of them */
	size_t nlist, caplist;
	struct rsl_result **results; /* [nresults], NULL: no result (yet) */
	size_t nresults;
	rsl_result_cb *on_result;
	rsl_done_cb *on_done;
	void *ud;
	bool in_callback;
	bool running;           /* between a start and its on_done */
	int done_rc;            /* what the last run ended with */
	char *pcap_dir;         /* owned copy of the option */
	char err[2048];
};

/* Numbers the runners of the process: their temporary pcap directories
 * must not meet. The one thing two runners share. */
static unsigned serial_counter;

static const char *const status_names[] = { "pass", "fail", "error", "skip", "timeout" };

/* ---- small helpers -------------------------------------------------------- */

static int set_err(struct rsl_runner *r, int rc, const char *msg)
{
	snprintf(r->err, sizeof r->err, "%s", msg != NULL ? msg : "(no message)");
	return rc;
}

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	luaL_traceback(L, L, msg != NULL ? msg : "(error object is not a string)", 1);
	return 1;
}

/* Call api.<fn>(self, args on the stack...) protected; leaves nres results
 * on the stack. RSL_OK, or RSL_ESYS with the error as the message. */
static int call(struct rsl_runner *r, const char *fn, int nargs, int nres)
{
	lua_State *L = r->L;
	int base = lua_gettop(L) - nargs;
	lua_pushcfunction(L, traceback);
	lua_rawgeti(L, LUA_REGISTRYINDEX, r->mod);
	lua_getfield(L, -1, fn);
	lua_remove(L, -2);
	lua_rawgeti(L, LUA_REGISTRYINDEX, r->self);
	for (int i = 1; i <= nargs; i++)
		lua_pushvalue(L, base + i);
	if (lua_pcall(L, nargs + 1, nres, base + 1) != LUA_OK) {
		set_err(r, RSL_ESYS, lua_tostring(L, -1));
		lua_settop(L, base);
		return RSL_ESYS;
	}
	/* Under the results: the arguments, then the traceback handler. */
	for (int i = 0; i < nargs + 1; i++)
		lua_remove(L, base + 1);
	return RSL_OK;
}

/* The failure of a call that returns `value | nil, message, code`, whose
 * three results are on top: RSL_OK when value is not nil. Pops them. */
static int outcome(struct rsl_runner *r)
{
	lua_State *L = r->L;
	int rc = RSL_OK;
	if (lua_isnil(L, -3)) {
		const char *code = lua_tostring(L, -1);
		rc = RSL_ESYS;
		if (code == NULL)
			rc = RSL_ESYS;
		else if (strcmp(code, "ENOTFOUND") == 0)
			rc = RSL_ENOTFOUND;
		else if (strcmp(code, "ELOAD") == 0)
			rc = RSL_ELOAD;
		else if (strcmp(code, "EBUSY") == 0)
			rc = RSL_EBUSY;
		else if (strcmp(code, "EINVAL") == 0)
			rc = RSL_EINVAL;
		set_err(r, rc, lua_tostring(L, -2));
	}
	lua_pop(L, 3);
	return rc;
}

static void result_free(struct rsl_result *res)
{
	if (res == NULL)
		return;
	free(res->file);
	free(res->name);
	free(res->message);
	free(res->where);
	for (size_t k = 0; k < res->npcap; k++)
		free(res->pcap[k]);
	free(res->pcap);
	for (size_t k = 0; k < res->nunchecked; k++)
		free(res->unchecked[k]);
	free(res->unchecked);
	free(res);
}

static void results_clear(struct rsl_runner *r)
{
	for (size_t i = 0; i < r->nresults; i++)
		result_free(r->results[i]);
	free(r->results);
	r->results = NULL;
	r->nresults = 0;
}

/* The strings of the list at field `field` of the table at idx. */
static char **string_list(lua_State *L, int idx, const char *field, size_t *n)
{
	char **v = NULL;
	*n = 0;
	if (lua_getfield(L, idx, field) == LUA_TTABLE) {
		size_t len = (size_t)luaL_len(L, -1);
		v = len > 0 ? calloc(len, sizeof *v) : NULL;
		for (size_t k = 0; v != NULL && k < len; k++) {
			lua_geti(L, -1, (lua_Integer)k + 1);
			const char *s = lua_tostring(L, -1);
			if (s != NULL && (v[*n] = strdup(s)) != NULL)
				(*n)++;
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	return v;
}

static char *string_field(lua_State *L, int idx, const char *field)
{
	lua_getfield(L, idx, field);
	char *s = lua_type(L, -1) == LUA_TSTRING ? strdup(lua_tostring(L, -1)) : NULL;
	lua_pop(L, 1);
	return s;
}

/* The child's record (table at idx) as a result. NULL when out of memory. */
static struct rsl_result *result_from(lua_State *L, int idx)
{
	struct rsl_result *res = calloc(1, sizeof *res);
	if (res == NULL)
		return NULL;
	res->file = string_field(L, idx, "file");
	res->name = string_field(L, idx, "name");
	res->message = string_field(L, idx, "message");
	res->where = string_field(L, idx, "where");
	lua_getfield(L, idx, "status");
	const char *st = lua_tostring(L, -1);
	res->status = RSL_STATUS_ERROR;
	for (int s = RSL_STATUS_PASS; st != NULL && s <= RSL_STATUS_SKIP; s++)
		if (strcmp(st, status_names[s]) == 0)
			res->status = (enum rsl_status)s;
	lua_pop(L, 1);
	lua_getfield(L, idx, "timeout");
	if (lua_toboolean(L, -1) && res->status == RSL_STATUS_ERROR)
		res->status = RSL_STATUS_TIMEOUT;
	lua_pop(L, 1);
	lua_getfield(L, idx, "duration");
	res->duration = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
	lua_pop(L, 1);
	res->pcap = string_list(L, idx, "pcaps", &res->npcap);
	res->unchecked = string_list(L, idx, "unchecked", &res->nunchecked);
	if (res->file == NULL || res->name == NULL) {
		result_free(res);
		return NULL;
	}
	return res;
}

/* ---- callbacks from the run's actors ------------------------------------ */

/* on_result(index, record); upvalue: the runner. */
static int l_on_result(lua_State *L)
{
	struct rsl_runner *r = lua_touserdata(L, lua_upvalueindex(1));
	lua_Integer i = luaL_checkinteger(L, 1) - 1;
	luaL_checktype(L, 2, LUA_TTABLE);
	if (i < 0 || (size_t)i >= r->nresults)
		return luaL_error(L, "result index %d out of range", (int)i);
	struct rsl_result *res = result_from(L, 2);
	if (res == NULL)
		return luaL_error(L, "out of memory keeping a result");
	result_free(r->results[i]);
	r->results[i] = res;
	if (r->on_result != NULL) {
		r->in_callback = true;
		r->on_result(r, (size_t)i, res, r->ud);
		r->in_callback = false;
	}
	return 0;
}

/* on_done(nil | message); upvalue: the runner. */
static int l_on_done(lua_State *L)
{
	struct rsl_runner *r = lua_touserdata(L, lua_upvalueindex(1));
	r->done_rc = RSL_OK;
	r->running = false;
	if (!lua_isnoneornil(L, 1))
		r->done_rc = set_err(r, RSL_ESYS, lua_tostring(L, 1));
	rsl_done_cb *cb = r->on_done;
	void *ud = r->ud;
	r->on_result = NULL;
	r->on_done = NULL;
	if (cb != NULL) {
		r->in_callback = true;
		cb(r, r->done_rc, ud);
		r->in_callback = false;
	}
	return 0;
}

/* ---- lifecycle ------------------------------------------------------------- */

void rsl_runner_options_init(struct rsl_runner_options *o)
{
	memset(o, 0, sizeof *o);
	o->isolation = RSL_ISOLATE_NAMESPACE;
}

static int check_options(const struct rsl_runner_options *o, char *err, size_t errlen)
{
	if (o->jobs < 0 || o->jobs > 1000) {
		rsl_format_error(err, errlen, "jobs must be 1..1000 (0: the processors it may run on), "
		                 "got %d", o->jobs);
		return RSL_EINVAL;
	}
	if (!(o->timeout >= 0 && o->timeout < 1e6)) {
		rsl_format_error(err, errlen, "timeout must be a positive number of seconds "
		                 "below 1e6 (0: 30), got %g", o->timeout);
		return RSL_EINVAL;
	}
	if (!(o->time_scale >= 0 && o->time_scale < 1e6)) {
		rsl_format_error(err, errlen, "time_scale must be a positive number (0: 1), "
		                 "got %g", o->time_scale);
		return RSL_EINVAL;
	}
	if (o->isolation != RSL_ISOLATE_NAMESPACE && o->isolation != RSL_ISOLATE_PROCESS) {
		rsl_format_error(err, errlen, "isolation must be RSL_ISOLATE_NAMESPACE or "
		                 "RSL_ISOLATE_PROCESS, got %d", (int)o->isolation);
		return RSL_EINVAL;
	}
	if (o->max_waiting < -1 || o->max_waiting > 150) {
		rsl_format_error(err, errlen, "max_waiting must be -1..150 (0: 7 x jobs, -1: "
		                 "none), got %d", o->max_waiting);
		return RSL_EINVAL;
	}
	if (o->pcap_dir != NULL && o->pcap_dir[0] == '\0') {
		rsl_format_error(err, errlen, "pcap_dir is empty (NULL: no directory)");
		return RSL_EINVAL;
	}
	return RSL_OK;
}

/* Open the libraries and rstlab in the runner's state, on the embedder's
 * loop when one is given (light userdata at 1): luaopen_rstlab raises when
 * the loop cannot be made, so this runs protected. */
static int p_open(lua_State *L)
{
	struct ev_loop *ev = lua_touserdata(L, 1);
	luaL_openlibs(L);
	luaL_requiref(L, "rstlab", luaopen_rstlab, 0);
	if (ev != NULL && rsl_engine_use_loop(L, ev) != RSL_OK)
		return luaL_error(L, "out of memory");
	return 0;
}

/* The runner's Lua side: rstlab.runner.api.new(options) as r->self. */
static int open_state(struct rsl_runner *r, const struct rsl_runner_options *o,
                      struct ev_loop *ev)
{
	lua_State *L = r->L;
	lua_pushcfunction(L, traceback);
	int tb = lua_gettop(L);
	lua_pushcfunction(L, p_open);
	lua_pushlightuserdata(L, ev);
	if (lua_pcall(L, 1, 0, tb) != LUA_OK)
		return set_err(r, RSL_ESYS, lua_tostring(L, -1));
	lua_getglobal(L, "require");
	lua_pushliteral(L, "rstlab.runner.api");
	if (lua_pcall(L, 1, 1, tb) != LUA_OK)
		return set_err(r, RSL_ESYS, lua_tostring(L, -1));
	lua_pushvalue(L, -1);
	r->mod = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_getfield(L, -1, "new");
	lua_createtable(L, 0, 8);
	lua_pushinteger(L, o->jobs > 0 ? o->jobs : rsl_cpu_count());
	lua_setfield(L, -2, "jobs");
	lua_pushnumber(L, o->timeout > 0 ? o->timeout : 30);
	lua_setfield(L, -2, "timeout");
	lua_pushnumber(L, o->time_scale > 0 ? o->time_scale : 1);
	lua_setfield(L, -2, "time_scale");
	if (r->pcap_dir != NULL) {
		lua_pushstring(L, r->pcap_dir);
		lua_setfield(L, -2, "pcap_dir");
	}
	lua_pushboolean(L, o->strict);
	lua_setfield(L, -2, "strict");
	if (o->max_waiting != 0) {
		lua_pushinteger(L, o->max_waiting > 0 ? o->max_waiting : 0);
		lua_setfield(L, -2, "max_waiting");
	}
	lua_pushboolean(L, o->isolation == RSL_ISOLATE_NAMESPACE);
	lua_setfield(L, -2, "sandbox");
	lua_pushinteger(L, (lua_Integer)__atomic_add_fetch(&serial_counter, 1, __ATOMIC_RELAXED));
	lua_setfield(L, -2, "serial");
	if (lua_pcall(L, 1, 1, tb) != LUA_OK)
		return set_err(r, RSL_ESYS, lua_tostring(L, -1));
	r->self = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_settop(L, 0);
	return RSL_OK;
}

static int runner_new(const struct rsl_runner_options *o, struct ev_loop *ev,
                      struct rsl_runner **out, char *err, size_t errlen)
{
	struct rsl_runner_options defaults;
	struct rsl_runner *r = NULL;
	int rc;

	*out = NULL;
	if (o == NULL) {
		rsl_runner_options_init(&defaults);
		o = &defaults;
	}
	if ((rc = check_options(o, err, errlen)) != RSL_OK)
		return rc;
	rc = RSL_ESYS;
	r = calloc(1, sizeof *r);
	if (r == NULL) {
		rsl_format_error(err, errlen, "out of memory");
		goto out;
	}
	r->mod = r->self = LUA_NOREF;
	if (o->pcap_dir != NULL && (r->pcap_dir = strdup(o->pcap_dir)) == NULL) {
		rsl_format_error(err, errlen, "out of memory");
		goto out;
	}
	r->L = luaL_newstate();
	if (r->L == NULL) {
		rsl_format_error(err, errlen, "cannot create a Lua state (out of memory)");
		goto out;
	}
	/* luaopen_rstlab raises when the loop cannot be made: protect it. */
	if ((rc = open_state(r, o, ev)) != RSL_OK) {
		rsl_format_error(err, errlen, "%s", r->err);
		goto out;
	}
	*out = r;
	return RSL_OK;
out:
	rsl_runner_free(r);
	return rc;
}

int rsl_runner_new(const struct rsl_runner_options *o, struct rsl_runner **out, char *err,
                   size_t errlen)
{
	return runner_new(o, NULL, out, err, errlen);
}

int rsl_runner_new_on_loop(const struct rsl_runner_options *o, struct ev_loop *loop,
                           struct rsl_runner **out, char *err, size_t errlen)
{
	if (loop == NULL) {
		*out = NULL;
		rsl_format_error(err, errlen, "the loop is NULL (rsl_runner_new makes one)");
		return RSL_EINVAL;
	}
	return runner_new(o, loop, out, err, errlen);
}

void rsl_runner_free(struct rsl_runner *r)
{
	if (r == NULL)
		return;
	r->on_result = NULL;
	r->on_done = NULL;
	/* A run in progress: kill its children and let it end as a stopped
	 * run does (reaped, its empty run directory removed). */
	if (r->running && r->L != NULL) {
		call(r, "stop", 0, 0);
		call(r, "wait", 0, 0);
	}
	/* Closing the state finalizes every process object (kill and reap),
	 * timer and watcher, stopping them on the loop. */
	if (r->L != NULL)
		lua_close(r->L);
	for (size_t i = 0; i < r->nlist; i++) {
		free(r->list[i].file);
		free(r->list[i].name);
	}
	free(r->list);
	results_clear(r);
	free(r->pcap_dir);
	free(r);
}

const char *rsl_runner_error(const struct rsl_runner *r)
{
	return r->err;
}

/* ---- loading ------------------------------------------------------------- */

/* Append the scenarios the Lua side has beyond nlist to the list. */
static int sync_list(struct rsl_runner *r)
{
	lua_State *L = r->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, r->self);
	lua_getfield(L, -1, "scenarios");
	size_t n = (size_t)luaL_len(L, -1);
	if (n > r->caplist) {
		struct entry *v = realloc(r->list, n * sizeof *v);
		if (v == NULL) {
			lua_pop(L, 2);
			return set_err(r, RSL_ESYS, "out of memory");
		}
		r->list = v;
		r->caplist = n;
	}
	int rc = RSL_OK;
	for (; r->nlist < n; r->nlist++) {
		lua_geti(L, -1, (lua_Integer)r->nlist + 1);
		struct entry *e = &r->list[r->nlist];
		e->file = string_field(L, -1, "file");
		e->name = string_field(L, -1, "name");
		lua_pop(L, 1);
		if (e->file == NULL || e->name == NULL) {
			free(e->file);
			free(e->name);
			rc = set_err(r, RSL_ESYS, "out of memory");
			break;
		}
	}
	lua_pop(L, 2);
	return rc;
}

static int refuse_busy(struct rsl_runner *r, const char *what)
{
	if (r->in_callback) {
		snprintf(r->err, sizeof r->err, "cannot %s from inside a callback of the runner", what);
		return RSL_EBUSY;
	}
	return RSL_OK;
}

static int load(struct rsl_runner *r, const char *file, const char *source)
{
	int rc;
	if ((rc = refuse_busy(r, "load a script")) != RSL_OK)
		return rc;
	if (file == NULL || file[0] == '\0')
		return set_err(r, RSL_EINVAL, source ? "the chunk name is empty" : "the path is empty");
	lua_pushstring(r->L, file);
	if (source != NULL)
		lua_pushstring(r->L, source);
	else
		lua_pushnil(r->L);
	if ((rc = call(r, "load", 2, 3)) != RSL_OK)
		return rc;
	if ((rc = outcome(r)) != RSL_OK)
		return rc;
	return sync_list(r);
}

int rsl_runner_load_file(struct rsl_runner *r, const char *path)
{
	return load(r, path, NULL);
}

int rsl_runner_load_string(struct rsl_runner *r, const char *source, const char *chunkname)
{
	if (source == NULL)
		return set_err(r, RSL_EINVAL, "the source is NULL");
	return load(r, chunkname, source);
}

size_t rsl_runner_count(const struct rsl_runner *r)
{
	return r->nlist;
}

const char *rsl_runner_file(const struct rsl_runner *r, size_t i)
{
	return i < r->nlist ? r->list[i].file : NULL;
}

const char *rsl_runner_name(const struct rsl_runner *r, size_t i)
{
	return i < r->nlist ? r->list[i].name : NULL;
}

/* ---- running ------------------------------------------------------------- */

int rsl_runner_start(struct rsl_runner *r, const char *name, rsl_result_cb *on_result,
                     rsl_done_cb *on_done, void *ud)
{
	lua_State *L = r->L;
	int rc;
	if ((rc = refuse_busy(r, "start a run")) != RSL_OK)
		return rc;
	if (r->running)
		return set_err(r, RSL_EBUSY, "a run is already in progress");
	results_clear(r);
	if (r->nlist > 0) {
		r->results = calloc(r->nlist, sizeof *r->results);
		if (r->results == NULL)
			return set_err(r, RSL_ESYS, "out of memory");
		r->nresults = r->nlist;
	}
	if (name != NULL)
		lua_pushstring(L, name);
	else
		lua_pushnil(L);
	lua_pushlightuserdata(L, r);
	lua_pushcclosure(L, l_on_result, 1);
	lua_pushlightuserdata(L, r);
	lua_pushcclosure(L, l_on_done, 1);
	if ((rc = call(r, "start", 3, 3)) != RSL_OK)
		return rc;
	if ((rc = outcome(r)) != RSL_OK)
		return rc;
	r->on_result = on_result;
	r->on_done = on_done;
	r->ud = ud;
	r->done_rc = RSL_OK;
	r->running = true;
	return RSL_OK;
}

int rsl_runner_wait(struct rsl_runner *r)
{
	int rc;
	if ((rc = refuse_busy(r, "wait for a run")) != RSL_OK)
		return rc;
	if (!r->running)
		return RSL_OK;
	if ((rc = call(r, "wait", 0, 0)) != RSL_OK)
		return rc;
	return r->done_rc;
}

int rsl_runner_run(struct rsl_runner *r, const char *name)
{
	int rc = rsl_runner_start(r, name, NULL, NULL, NULL);
	if (rc != RSL_OK)
		return rc;
	return rsl_runner_wait(r);
}

bool rsl_runner_busy(const struct rsl_runner *r)
{
	return r->running;
}

void rsl_runner_stop(struct rsl_runner *r)
{
	if (call(r, "stop", 0, 0) != RSL_OK)
		return; /* the message is kept */
}

/* ---- results --------------------------------------------------------------- */

const char *rsl_status_name(enum rsl_status s)
{
	if ((int)s < 0 || (size_t)s >= sizeof status_names / sizeof status_names[0])
		return NULL;
	return status_names[s];
}

const struct rsl_result *rsl_runner_result(const struct rsl_runner *r, size_t i)
{
	return i < r->nresults ? r->results[i] : NULL;
}

size_t rsl_runner_tally(const struct rsl_runner *r, enum rsl_status s)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nresults; i++)
		if (r->results[i] != NULL && r->results[i]->status == s)
			n++;
	return n;
}

const char *rsl_result_file(const struct rsl_result *res)
{
	return res->file;
}

const char *rsl_result_name(const struct rsl_result *res)
{
	return res->name;
}

enum rsl_status rsl_result_status(const struct rsl_result *res)
{
	return res->status;
}

const char *rsl_result_message(const struct rsl_result *res)
{
	return res->message;
}

const char *rsl_result_where(const struct rsl_result *res)
{
	return res->where;
}

double rsl_result_duration(const struct rsl_result *res)
{
	return res->duration;
}

size_t rsl_result_pcap_count(const struct rsl_result *res)
{
	return res->npcap;
}

const char *rsl_result_pcap(const struct rsl_result *res, size_t k)
{
	return k < res->npcap ? res->pcap[k] : NULL;
}

size_t rsl_result_unchecked_count(const struct rsl_result *res)
{
	return res->nunchecked;
}

const char *rsl_result_unchecked(const struct rsl_result *res, size_t k)
{
	return k < res->nunchecked ? res->unchecked[k] : NULL;
}
