/*
 * The running kernel's own description of its types: /sys/kernel/btf/vmlinux
 * (BTF), read for the few struct offsets and enum names that the RST-reason
 * program needs (core/trace.c).
 *
 * The file is mapped (the kernel allows a private read-only mapping of it
 * since 6.16; older ones are read) and walked from its start, keeping
 * every 64th record: a type is found by its id from there. The walk stops
 * once the types a caller wants by name are found (they come early: ids
 * under 40,000 of 126,700 on 6.18) and goes on only when a type past it
 * is asked for, by id. Only what trace.c asks is decoded: a
 * struct's member (through anonymous struct and union members, as C
 * names them), a type's size, an enum's names, and the types of a
 * tracepoint's parameters.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/btf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define VMLINUX "/sys/kernel/btf/vmlinux"

struct rsl_btf {
	void *map;                      /* the file, mapped or read */
	size_t size;
	bool mapped;                    /* munmap, not free */
	const char *strs;
	uint32_t str_len;
	const struct btf_type **mark;   /* the type of id k * STRIDE, k >= 1 */
	const char *types;              /* the type records */
	size_t type_len;
	size_t off;                     /* where the walk stopped: id n's record */
	uint32_t n;                     /* ids walked: 1 .. n - 1 (0 is void) */
	const char *bad;                /* why the walk cannot go on, or NULL */
};

/* Every STRIDE-th type is kept: a full index (126k ids on 6.18) took more
 * time in page faults than the walk itself. */
#define STRIDE 64

/* Bytes that follow a type's record; 0 with ok false for a kind this code
 * does not know (the walk cannot go past it). */
static size_t extra(const struct btf_type *t, bool *ok)
{
	uint32_t vlen = BTF_INFO_VLEN(t->info);
	*ok = true;
	switch (BTF_INFO_KIND(t->info)) {
	case BTF_KIND_INT:
	case BTF_KIND_VAR:
	case BTF_KIND_DECL_TAG:
		return 4;
	case BTF_KIND_ARRAY:
		return sizeof(struct btf_array);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
	case BTF_KIND_DATASEC:
		return vlen * (size_t)12;
	case BTF_KIND_ENUM:
	case BTF_KIND_FUNC_PROTO:
		return vlen * (size_t)8;
	case BTF_KIND_ENUM64:
		return vlen * (size_t)12;
	case BTF_KIND_PTR:
	case BTF_KIND_FWD:
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_FUNC:
	case BTF_KIND_FLOAT:
	case BTF_KIND_TYPE_TAG:
		return 0;
	default:
		*ok = false;
		return 0;
	}
}

static int fail(char *err, size_t errlen, const char *what)
{
	rsl_format_error(err, errlen, "reading " VMLINUX ": %s", what);
	return RSL_EUNAVAIL;
}

static int load_file(struct rsl_btf *b, char *err, size_t errlen)
{
	int fd = open(VMLINUX, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(struct btf_header)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return fail(err, errlen, fd < 0 ? strerror(e) : "too short");
	}
	b->size = (size_t)st.st_size;
	b->map = mmap(NULL, b->size, PROT_READ, MAP_PRIVATE, fd, 0);
	b->mapped = b->map != MAP_FAILED;
	if (!b->mapped) {
		/* before 6.16: read it (about 20 ms for 5 MB, in pages) */
		size_t got = 0;
		b->map = malloc(b->size);
		while (b->map != NULL && got < b->size) {
			ssize_t r = read(fd, (char *)b->map + got, b->size - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (b->map == NULL || got < b->size) {
			close(fd);
			return fail(err, errlen, b->map == NULL ? "out of memory" : "short read");
		}
	}
	close(fd);
	return RSL_OK;
}

static const char *name_of(const struct rsl_btf *b, uint32_t off)
{
	return off < b->str_len ? b->strs + off : "";
}

/* ids[k] = id if t is want[k] (the first of that name and kind); returns
 * how many it set */
static size_t match(const struct rsl_btf *b, const struct btf_type *t, uint32_t id,
                    const struct rsl_btf_name *want, int *ids, size_t n)
{
	const char *name = NULL;
	size_t found = 0;
	if (t->name_off == 0)
		return 0;
	for (size_t k = 0; k < n; k++) {
		if ((int)BTF_INFO_KIND(t->info) != want[k].kind || ids[k] >= 0)
			continue;
		if (name == NULL)
			name = name_of(b, t->name_off);
		if (name[0] == want[k].name[0] && strcmp(name, want[k].name) == 0) {
			ids[k] = (int)id;
			found++;
		}
	}
	return found;
}

/* Walks on from where the walk stopped, keeping every STRIDE-th type,
 * until id `to` has been walked (to = 0: to the end) or, with n wants,
 * until all of them are found. false when a record stops the walk: then
 * b->bad says why. */
static bool walk(struct rsl_btf *b, uint32_t to, const struct rsl_btf_name *want, int *ids,
                 size_t n)
{
	size_t missing = n;
	while (b->bad == NULL && b->off + sizeof(struct btf_type) <= b->type_len &&
	       (to == 0 || b->n <= to) && (n == 0 || missing > 0)) {
		const struct btf_type *t = (const void *)(b->types + b->off);
		bool ok;
		size_t more = extra(t, &ok);
		if (!ok || b->off + sizeof *t + more > b->type_len) {
			b->bad = ok ? "a type runs past the end of the types"
			            : "a kind of type this code does not know";
			break;
		}
		if (b->n % STRIDE == 0)
			b->mark[b->n / STRIDE] = t;
		missing -= match(b, t, b->n, want, ids, n);
		b->n++;
		b->off += sizeof *t + more;
	}
	return b->bad == NULL;
}

int rsl_btf_open(struct rsl_btf **out, const struct rsl_btf_name *want, int *ids, size_t n,
                 char *err, size_t errlen)
{
	struct rsl_btf *b = calloc(1, sizeof *b);
	*out = NULL;
	if (b == NULL)
		return fail(err, errlen, "out of memory");
	int rc = load_file(b, err, errlen);
	if (rc != RSL_OK) {
		rsl_btf_close(b);
		return rc;
	}
	const struct btf_header *h = b->map;
	if (h->magic != BTF_MAGIC || h->hdr_len < sizeof *h ||
	    (size_t)h->hdr_len + h->type_off + h->type_len > b->size ||
	    (size_t)h->hdr_len + h->str_off + h->str_len > b->size || h->str_len == 0) {
		rsl_btf_close(b);
		return fail(err, errlen, "not BTF this code can read");
	}
	b->types = (const char *)b->map + h->hdr_len + h->type_off;
	b->type_len = h->type_len;
	b->strs = (const char *)b->map + h->hdr_len + h->str_off;
	b->str_len = h->str_len;
	/* a record is at least 12 bytes: this many ids at most */
	size_t cap = h->type_len / sizeof(struct btf_type) / STRIDE + 2;
	b->mark = malloc(cap * sizeof *b->mark);
	if (b->mark == NULL) {
		rsl_btf_close(b);
		return fail(err, errlen, "out of memory");
	}
	for (size_t k = 0; k < n; k++)
		ids[k] = -1;
	b->n = 1;
	if (!walk(b, 0, want, ids, n)) {
		rc = fail(err, errlen, b->bad);
		rsl_btf_close(b);
		return rc;
	}
	*out = b;
	return RSL_OK;
}

void rsl_btf_close(struct rsl_btf *b)
{
	if (b == NULL)
		return;
	if (b->mapped)
		munmap(b->map, b->size);
	else
		free(b->map);
	free(b->mark);
	free(b);
}

static const struct btf_type *next_type(const struct btf_type *t)
{
	bool ok;
	size_t more = extra(t, &ok);
	return (const void *)((const char *)(t + 1) + more);
}

/* The type of id: from the kept one before it, at most STRIDE - 1 steps;
 * the walk goes on first when it has not reached id. */
static const struct btf_type *type_at(struct rsl_btf *b, uint32_t id)
{
	if (id != 0 && id >= b->n)
		walk(b, id, NULL, NULL, 0);
	if (id == 0 || id >= b->n)
		return NULL;
	const struct btf_type *t;
	uint32_t at;
	if (id < STRIDE) {
		t = (const void *)b->types;
		at = 1;
	} else {
		t = b->mark[id / STRIDE];
		at = id / STRIDE * STRIDE;
	}
	for (; at < id; at++)
		t = next_type(t);
	return t;
}

/* Through typedefs and qualifiers to the type they name. */
static const struct btf_type *resolve(struct rsl_btf *b, uint32_t id)
{
	const struct btf_type *t = type_at(b, id);
	for (int depth = 0; t != NULL && depth < 32; depth++) {
		switch (BTF_INFO_KIND(t->info)) {
		case BTF_KIND_TYPEDEF:
		case BTF_KIND_VOLATILE:
		case BTF_KIND_CONST:
		case BTF_KIND_RESTRICT:
		case BTF_KIND_TYPE_TAG:
			t = type_at(b, t->type);
			break;
		default:
			return t;
		}
	}
	return NULL;
}

long rsl_btf_size(struct rsl_btf *b, uint32_t id)
{
	const struct btf_type *t = resolve(b, id);
	if (t == NULL)
		return -1;
	switch (BTF_INFO_KIND(t->info)) {
	case BTF_KIND_INT:
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
	case BTF_KIND_FLOAT:
		return t->size;
	case BTF_KIND_PTR:
		return (long)sizeof(void *);
	case BTF_KIND_ARRAY: {
		const struct btf_array *a = (const void *)(t + 1);
		long elem = rsl_btf_size(b, a->type);
		return elem < 0 ? -1 : elem * (long)a->nelems;
	}
	default:
		return -1;
	}
}

long rsl_btf_member(struct rsl_btf *b, int struct_id, const char *name, long *size)
{
	const struct btf_type *t = resolve(b, (uint32_t)struct_id);
	if (t == NULL || (BTF_INFO_KIND(t->info) != BTF_KIND_STRUCT &&
	                  BTF_INFO_KIND(t->info) != BTF_KIND_UNION))
		return -1;
	const struct btf_member *m = (const void *)(t + 1);
	for (uint32_t i = 0; i < BTF_INFO_VLEN(t->info); i++) {
		uint32_t bits = BTF_INFO_KFLAG(t->info) ? BTF_MEMBER_BIT_OFFSET(m[i].offset)
		                                         : m[i].offset;
		bool bitfield = BTF_INFO_KFLAG(t->info) && BTF_MEMBER_BITFIELD_SIZE(m[i].offset);
		long off = -1;
		if (m[i].name_off == 0) {
			/* an anonymous struct or union: its members are t's */
			off = rsl_btf_member(b, (int)m[i].type, name, size);
		} else if (strcmp(name_of(b, m[i].name_off), name) == 0) {
			if (bitfield || bits % 8 != 0)
				return -1;
			*size = rsl_btf_size(b, m[i].type);
			return bits / 8;
		}
		if (off >= 0)
			return (long)(bits / 8) + off;
	}
	return -1;
}

int rsl_btf_enum(struct rsl_btf *b, int id, const char *prefix, char (*names)[40],
                 int count)
{
	const struct btf_type *t = type_at(b, (uint32_t)(id < 0 ? 0 : id));
	if (t == NULL || BTF_INFO_KIND(t->info) != BTF_KIND_ENUM)
		return -1;
	const struct btf_enum *e = (const void *)(t + 1);
	size_t pl = strlen(prefix);
	for (uint32_t i = 0; i < BTF_INFO_VLEN(t->info); i++) {
		const char *s = name_of(b, e[i].name_off);
		if (strncmp(s, prefix, pl) == 0)
			s += pl;
		if (e[i].val >= 0 && e[i].val < count && strlen(s) < sizeof names[0])
			strcpy(names[e[i].val], s);
	}
	return 0;
}

int rsl_btf_params(struct rsl_btf *b, int id, const char **names, int max)
{
	const struct btf_type *t = type_at(b, (uint32_t)(id < 0 ? 0 : id));
	if (t == NULL || BTF_INFO_KIND(t->info) != BTF_KIND_TYPEDEF)
		return -1;
	t = type_at(b, t->type);
	if (t == NULL || BTF_INFO_KIND(t->info) != BTF_KIND_PTR)
		return -1;
	t = type_at(b, t->type);
	if (t == NULL || BTF_INFO_KIND(t->info) != BTF_KIND_FUNC_PROTO)
		return -1;
	const struct btf_param *p = (const void *)(t + 1);
	int n = (int)BTF_INFO_VLEN(t->info);
	for (int i = 0; i < n && i < max; i++) {
		/* a prototype's parameters have no names in BTF: their types'
		 * names say which is which */
		const struct btf_type *pt = resolve(b, p[i].type);
		if (pt != NULL && BTF_INFO_KIND(pt->info) == BTF_KIND_PTR)
			pt = resolve(b, pt->type);
		names[i] = pt != NULL ? name_of(b, pt->name_off) : "";
	}
	return n;
}
