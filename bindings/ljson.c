/*
 * JSON text from Lua values, through libjansson: core.json_encode. The
 * JSON reports (stdlib/rstlab/report/json.lua) and any script that hands
 * results to another tool use it; nothing here escapes text by hand.
 *
 * How a Lua value becomes JSON (doc/json.md repeats it for users):
 *   nil (top level only) and core.json_null -> null; booleans -> true/false;
 *   integers -> integers (64-bit, as Lua has them); floats -> numbers with
 *   a fraction or exponent (1.0 stays 1.0), NaN and infinities are errors;
 *   strings -> strings (valid UTF-8 required, see opts.invalid_utf8);
 *   tables -> an array when the keys are exactly 1..n, an object when every
 *   key is a string; an empty table is an array ([]) unless its metatable
 *   says __json = "object". A metatable __json = "array" or "object"
 *   forces the kind (and a table that does not fit it is an error).
 *   Anything else (functions, userdata, coroutines, mixed or sparse keys,
 *   a table that contains itself, nesting deeper than RSL_JSON_MAX_DEPTH)
 *   is an error: json_encode returns nil and a message that says where
 *   ("$.captures[1].packets" style).
 * Objects are written with their keys sorted (the output does not depend
 * on the order of pairs), compactly, on one line.
 */
#include "private.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define RSL_JSON_MAX_DEPTH 128

/* One encoding: the options, the tables being visited (cycle detection)
 * and the path of the value being converted, for messages. */
struct enc {
	lua_State *L;
	bool replace;                         /* invalid UTF-8 -> U+FFFD */
	int depth;
	const void *stack[RSL_JSON_MAX_DEPTH]; /* tables on the current path */
	char path[512];
	size_t pathlen[RSL_JSON_MAX_DEPTH + 1];
	char err[800];
};

static void set_err(struct enc *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_err(struct enc *e, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	snprintf(e->err, sizeof e->err, "json_encode: %s at %s", what, e->path);
}

/* Append one path component ("[3]" or ".name" or ["a b"]). */
static void path_push(struct enc *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void path_push(struct enc *e, const char *fmt, ...)
{
	size_t len = strlen(e->path);
	va_list ap;
	va_start(ap, fmt);
	if (len < sizeof e->path - 1)
		vsnprintf(e->path + len, sizeof e->path - len, fmt, ap);
	va_end(ap);
	if (strlen(e->path) == sizeof e->path - 1)
		memcpy(e->path + sizeof e->path - 4, "...", 4);
}

static void path_key(struct enc *e, const char *k, size_t n)
{
	bool plain = n > 0 && n < 64;
	for (size_t i = 0; plain && i < n; i++) {
		unsigned char c = (unsigned char)k[i];
		plain = c == '_' || (c >= '0' && c <= '9' && i > 0) || (c >= 'a' && c <= 'z') ||
		        (c >= 'A' && c <= 'Z');
	}
	if (plain)
		path_push(e, ".%.*s", (int)n, k);
	else
		path_push(e, "[\"%.*s\"]", (int)(n > 40 ? 40 : n), k);
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF, which is what jansson
 * accepts), or 0 when the byte at s does not start one. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t n;
	unsigned long cp;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* A JSON string of s: as is when it is valid UTF-8; otherwise an error, or
 * (replace) every byte that starts no valid sequence becomes U+FFFD. */
static json_t *string_of(struct enc *e, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, bad = 0, first_bad = 0;
	for (; i < n;) {
		size_t k = utf8_seq(u + i, n - i);
		if (k == 0) {
			if (bad++ == 0)
				first_bad = i;
			k = 1;
		}
		i += k;
	}
	if (bad == 0) {
		json_t *j = json_stringn(s, n);
		if (j == NULL)
			set_err(e, "libjansson refused the string (out of memory?)");
		return j;
	}
	if (!e->replace) {
		set_err(e, "a string that is not valid UTF-8 (byte %zu of %zu is 0x%02x)", first_bad + 1, n,
		        u[first_bad]);
		return NULL;
	}
	/* Every bad byte becomes the 3 bytes of U+FFFD. */
	luaL_Buffer b;
	luaL_buffinitsize(e->L, &b, n + 2 * bad);
	for (i = 0; i < n;) {
		size_t k = utf8_seq(u + i, n - i);
		if (k == 0) {
			luaL_addlstring(&b, "\xEF\xBF\xBD", 3);
			i++;
		} else {
			luaL_addlstring(&b, s + i, k);
			i += k;
		}
	}
	luaL_pushresult(&b);
	size_t len;
	const char *fixed = lua_tolstring(e->L, -1, &len);
	json_t *j = json_stringn(fixed, len);
	lua_pop(e->L, 1);
	if (j == NULL)
		set_err(e, "libjansson refused the string (out of memory?)");
	return j;
}

static json_t *value_of(struct enc *e, int idx);

/* The kind a table's metatable asks for: 'a', 'o', or 0 (none). Raises
 * nothing: a __json that is neither is an error in e. */
static int forced_kind(struct enc *e, int idx, bool *bad)
{
	*bad = false;
	if (!lua_getmetatable(e->L, idx))
		return 0;
	int kind = 0;
	lua_pushliteral(e->L, "__json");
	if (lua_rawget(e->L, -2) != LUA_TNIL) {
		const char *k = lua_type(e->L, -1) == LUA_TSTRING ? lua_tostring(e->L, -1) : "";
		if (strcmp(k, "array") == 0) {
			kind = 'a';
		} else if (strcmp(k, "object") == 0) {
			kind = 'o';
		} else {
			set_err(e, "a metatable's __json must be \"array\" or \"object\"");
			*bad = true;
		}
	}
	lua_pop(e->L, 2);
	return kind;
}

static json_t *table_of(struct enc *e, int idx)
{
	lua_State *L = e->L;
	const void *self = lua_topointer(L, idx);
	for (int d = 0; d < e->depth; d++) {
		if (e->stack[d] == self) {
			set_err(e, "a table that contains itself");
			return NULL;
		}
	}
	if (e->depth >= RSL_JSON_MAX_DEPTH) {
		set_err(e, "nesting deeper than %d", RSL_JSON_MAX_DEPTH);
		return NULL;
	}
	bool bad;
	int kind = forced_kind(e, idx, &bad);
	if (bad)
		return NULL;
	/* Count the keys and see what they are. */
	lua_Integer n = 0, max = 0;
	bool ints = true, strs = true;
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		n++;
		if (lua_isinteger(L, -1)) {
			lua_Integer k = lua_tointeger(L, -1);
			strs = false;
			if (k < 1)
				ints = false;
			else if (k > max)
				max = k;
		} else if (lua_type(L, -1) == LUA_TSTRING) {
			ints = false;
		} else {
			set_err(e, "a table key of type %s (keys must be strings, or 1..n for an array)",
			        luaL_typename(L, -1));
			lua_pop(L, 1);
			return NULL;
		}
	}
	if (n == 0) {
		ints = kind != 'o';
		strs = kind == 'o';
	} else if (kind == 'a' && !ints) {
		set_err(e, "a table marked __json = \"array\" with keys other than 1..n");
		return NULL;
	} else if (kind == 'o' && !strs) {
		set_err(e, "a table marked __json = \"object\" with keys that are not all strings");
		return NULL;
	}
	if (ints && max != n) {
		set_err(e, "a sparse array (%lld keys, the largest %lld; nil cannot sit in a JSON array, use core.json_null)",
		        (long long)n, (long long)max);
		return NULL;
	}
	if (!ints && !strs) {
		set_err(e, "a table with both string and integer keys (or integer keys that are not 1..n)");
		return NULL;
	}
	e->stack[e->depth++] = self;
	size_t plen = strlen(e->path);
	json_t *out = ints ? json_array() : json_object();
	if (out == NULL) {
		set_err(e, "cannot make a table (out of memory?)");
		goto fail;
	}
	luaL_checkstack(L, 4, "json_encode");
	if (ints) {
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, idx, i);
			path_push(e, "[%lld]", (long long)i);
			json_t *v = value_of(e, lua_gettop(L));
			lua_pop(L, 1);
			if (v == NULL || json_array_append_new(out, v) != 0)
				goto fail;
			e->path[plen] = '\0';
		}
	} else {
		lua_pushnil(L);
		while (lua_next(L, idx) != 0) {
			size_t kl;
			const char *k = lua_tolstring(L, -2, &kl);
			path_key(e, k, kl);
			json_t *v = value_of(e, lua_gettop(L));
			lua_pop(L, 1);
			if (v == NULL)
				goto fail_key;
			/* Keys follow the strings' rule: valid UTF-8, or replaced. */
			json_t *ks = string_of(e, k, kl);
			if (ks == NULL) {
				json_decref(v);
				goto fail_key;
			}
			int rc = json_object_setn_new_nocheck(out, json_string_value(ks), json_string_length(ks), v);
			json_decref(ks);
			if (rc != 0) {
				set_err(e, "cannot add a key (out of memory?)");
				goto fail_key;
			}
			e->path[plen] = '\0';
		}
	}
	e->depth--;
	return out;
fail_key:
	lua_pop(L, 1); /* the key lua_next left */
fail:
	e->depth--;
	json_decref(out);
	return NULL;
}

static json_t *value_of(struct enc *e, int idx)
{
	lua_State *L = e->L;
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return json_null();
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return json_integer((json_int_t)lua_tointeger(L, idx));
		else {
			double x = lua_tonumber(L, idx);
			if (!isfinite(x)) {
				set_err(e, "%s (JSON has no such number)", isnan(x) ? "NaN" : "an infinite number");
				return NULL;
			}
			json_t *j = json_real(x);
			if (j == NULL)
				set_err(e, "cannot make a number (out of memory?)");
			return j;
		}
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		return string_of(e, s, n);
	}
	case LUA_TTABLE:
		return table_of(e, idx);
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, idx) == NULL)
			return json_null();
		/* fall through */
	default:
		set_err(e, "a value of type %s", luaL_typename(L, idx));
		return NULL;
	}
}

/* json_encode(value [, opts]) -> text | nil, msg
 * opts: { invalid_utf8 = "error" (default) | "replace" }. The text is one
 * line of compact JSON, object keys sorted. */
static int ljson_encode(lua_State *L)
{
	luaL_checkany(L, 1);
	bool replace = false;
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_getfield(L, 2, "invalid_utf8");
		const char *m = luaL_optstring(L, -1, "error");
		if (strcmp(m, "replace") == 0)
			replace = true;
		else if (strcmp(m, "error") != 0)
			return luaL_argerror(L, 2, "invalid_utf8 must be \"error\" or \"replace\"");
		lua_pop(L, 1);
	}
	struct enc *e = lua_newuserdatauv(L, sizeof *e, 0); /* big: not on the C stack */
	memset(e, 0, sizeof *e);
	e->L = L;
	e->replace = replace;
	strcpy(e->path, "$");
	json_t *j = value_of(e, 1);
	if (j == NULL) {
		lua_pushnil(L);
		lua_pushstring(L, e->err);
		return 2;
	}
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(j);
	if (text == NULL) {
		lua_pushnil(L);
		lua_pushliteral(L, "json_encode: cannot write the text (out of memory?)");
		return 2;
	}
	lua_pushstring(L, text);
	free(text);
	return 1;
}

void rsl_open_json(lua_State *L)
{
	static const luaL_Reg funcs[] = { { "json_encode", ljson_encode }, { NULL, NULL } };
	luaL_setfuncs(L, funcs, 0);
	lua_pushlightuserdata(L, NULL);
	lua_setfield(L, -2, "json_null");
}
