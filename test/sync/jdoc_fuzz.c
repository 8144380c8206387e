/*-------------------------------------------------------------------------
 *
 * jdoc_fuzz.c
 *	  Differential test of sync's JSON tokenizer (src/sync/jdoc.c) against
 *	  jansson: the same bytes go to both; they must both accept or both
 *	  refuse, and for an accepted page every value jdoc gives (jd_string,
 *	  jd_scalar_text, jd_compact, jd_member, jd_element, jd_without) must
 *	  equal what jansson's tree says.  Prints TAP; run by test/sync/jdoc.sh.
 *
 * Where jdoc differs from jansson on purpose, the case is named by its rule
 * and checked against jdoc's documented behaviour instead (docs/sync.md,
 * "Limits"):
 *
 *	 R-DEPTH   jdoc refuses nesting deeper than 512 (jansson: 2048);
 *	 R-NUMBER  a number beyond int64 or beyond double is given as written
 *			   (jansson refuses the whole page; its underflow to 0 is
 *			   kept as written too, not 0);
 *	 R-NULKEY  a member name holding \u0000 is accepted (jansson refuses
 *			   it) and matches no path;
 *	 R-NULBYTE a NUL byte outside a string is refused (jansson lets one
 *			   pass after a number or a literal);
 *	 duplicate member names: the last one counts, as in jansson and jsonb.
 *
 * The documents are generated (random structure, every escape, surrogate
 * pairs valid and lone, invalid UTF-8 of each kind, control characters,
 * edge numbers, duplicate keys, deep nesting), mutated (bytes flipped,
 * inserted, deleted, spans repeated, cut short) and hand-written; the
 * random ones from a fixed seed, so a run is repeatable.
 *
 * Usage: jdoc_fuzz [seed [documents]]; built with -DJDOC_LIBFUZZER it is a
 * libFuzzer target instead (see test/sync/jdoc.sh).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <stdarg.h>

#include <jansson.h>

#include "common/shortest_dec.h"

#include "sync/jdoc.h"

/* ---------------------------------------------------------------------
 * Stand-ins for what jdoc.c takes from the rest of sync
 * --------------------------------------------------------------------- */

/* A compiled path, as far as jd_without looks at one. */
struct SyncPath
{
	const char *first;
};

/* sync_alloc's arena: blocks freed together after each document. */
typedef struct Block
{
	struct Block *prev;
	size_t		used;
	size_t		cap;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} Block;

static Block *arena;

void *
sync_alloc(size_t n)
{
	n = (n + 15) & ~(size_t) 15;
	if (arena == NULL || arena->used + n > arena->cap)
	{
		size_t		cap = Max(n, (size_t) 1 << 16);
		Block	   *b = malloc(offsetof(Block, data) + cap);

		if (b == NULL)
		{
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
		b->prev = arena;
		b->used = 0;
		b->cap = cap;
		arena = b;
	}
	arena->used += n;
	return arena->data + arena->used - n;
}

void *
sync_alloc0(size_t n)
{
	return memset(sync_alloc(n), 0, n);
}

char *
sync_strdup(const char *s)
{
	size_t		n = strlen(s) + 1;

	return memcpy(sync_alloc(n), s, n);
}

char *
sync_psprintf(const char *fmt,...)
{
	va_list		ap;
	char		buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return sync_strdup(buf);
}

const char *
sync_path_first_key(const SyncPath *path)
{
	return path ? path->first : NULL;
}

static void
arena_reset(void)
{
	while (arena)
	{
		Block	   *prev = arena->prev;

		free(arena);
		arena = prev;
	}
}

/* ---------------------------------------------------------------------
 * Small helpers
 * --------------------------------------------------------------------- */

static uint64 rng = 88172645463325252ULL;

static uint64
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int
rn(int n)
{
	return (int) (rnd() % (uint64) n);
}

/* A growing byte string (malloc). */
typedef struct Out
{
	char	   *d;
	size_t		len;
	size_t		cap;
} Out;

static void
out_add(Out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap)
	{
		o->cap = Max(o->cap * 2, o->len + n + 256);
		o->d = realloc(o->d, o->cap);
	}
	memcpy(o->d + o->len, s, n);
	o->len += n;
	o->d[o->len] = '\0';
}

static void
out_str(Out *o, const char *s)
{
	out_add(o, s, strlen(s));
}

/* The failures of the current check, shown as TAP diagnostics. */
static int	failures;
static int	shown;
static const char *current_case;
static const unsigned char *cur_doc;
static size_t cur_len;

static void
show_doc(const unsigned char *d, size_t len)
{
	printf("#   document (%zu bytes): ", len);
	for (size_t i = 0; i < len && i < 300; i++)
	{
		if (d[i] >= 0x20 && d[i] < 0x7F && d[i] != '\\')
			putchar(d[i]);
		else
			printf("\\x%02X", d[i]);
	}
	if (len > 300)
		printf("...");
	putchar('\n');
}

static void fail(const char *fmt,...) pg_attribute_printf(1, 2);

static void
fail(const char *fmt,...)
{
	va_list		ap;

	failures++;
	if (++shown > 8)
		return;
	printf("#   %s: ", current_case ? current_case : "case");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (cur_doc)
		show_doc(cur_doc, cur_len);
}

/*
 * Decode a JSON string's contents (between the quotes, already checked)
 * into out; returns its length (it may hold NULs).  Written here, apart
 * from jdoc's decoder, so that member names can be compared exactly.
 */
static size_t
decode(const char *s, size_t n, char *out)
{
	size_t		o = 0;

	for (size_t i = 0; i < n;)
	{
		unsigned int u;

		if (s[i] != '\\')
		{
			out[o++] = s[i++];
			continue;
		}
		switch (s[i + 1])
		{
			case 'b':
				out[o++] = '\b';
				break;
			case 'f':
				out[o++] = '\f';
				break;
			case 'n':
				out[o++] = '\n';
				break;
			case 'r':
				out[o++] = '\r';
				break;
			case 't':
				out[o++] = '\t';
				break;
			case 'u':
				sscanf(s + i + 2, "%4x", &u);
				i += 6;
				if (u >= 0xD800 && u <= 0xDBFF)
				{
					unsigned int lo;

					sscanf(s + i + 2, "%4x", &lo);
					u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
					i += 6;
				}
				if (u < 0x80)
					out[o++] = (char) u;
				else if (u < 0x800)
				{
					out[o++] = (char) (0xC0 | (u >> 6));
					out[o++] = (char) (0x80 | (u & 0x3F));
				}
				else if (u < 0x10000)
				{
					out[o++] = (char) (0xE0 | (u >> 12));
					out[o++] = (char) (0x80 | ((u >> 6) & 0x3F));
					out[o++] = (char) (0x80 | (u & 0x3F));
				}
				else
				{
					out[o++] = (char) (0xF0 | (u >> 18));
					out[o++] = (char) (0x80 | ((u >> 12) & 0x3F));
					out[o++] = (char) (0x80 | ((u >> 6) & 0x3F));
					out[o++] = (char) (0x80 | (u & 0x3F));
				}
				continue;
			default:
				out[o++] = s[i + 1];
		}
		i += 2;
	}
	return o;
}

/* A member's name decoded (malloc'd, NUL-terminated), its length in *len. */
static char *
member_name(const JdNode *n, size_t *len)
{
	char	   *k = malloc(n->keylen + 1);

	*len = decode(n->key, n->keylen, k);
	k[*len] = '\0';
	return k;
}

/* The text jdoc must give for a number token: docs/sync.md, Mapping. */
static void
expected_number(const char *tok, size_t len, bool integer, char *out)
{
	char		t[512];
	double		d;
	bool		digit = false;

	memcpy(t, tok, Min(len, sizeof(t) - 1));
	t[Min(len, sizeof(t) - 1)] = '\0';
	if (integer || len >= sizeof(t))
	{
		memcpy(out, tok, len);
		out[len] = '\0';
		return;
	}
	d = strtod(t, NULL);
	for (const char *p = t; *p && *p != 'e' && *p != 'E'; p++)
		digit |= (*p >= '1' && *p <= '9');
	if (!isfinite(d) || (d == 0 && digit))
	{
		/* R-NUMBER: beyond double, as written */
		strcpy(out, t);
		return;
	}
	double_to_shortest_decimal_buf(d, out);
}

/* Is text free of JSON whitespace outside strings? */
static bool
is_compact(const char *s)
{
	bool		in = false;

	for (; *s; s++)
	{
		if (in)
		{
			if (*s == '\\')
				s++;
			else if (*s == '"')
				in = false;
		}
		else if (*s == '"')
			in = true;
		else if (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
			return false;
	}
	return true;
}

/* jansson's verdict on bytes, as sync reads pages. */
static json_t *
jansson_parse(const char *d, size_t len, json_error_t *err)
{
	return json_loadb(d, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, err);
}

/* ---------------------------------------------------------------------
 * Comparing a parsed JDoc with jansson's tree
 * --------------------------------------------------------------------- */

static bool compare(const JDoc *doc, uint32 node, json_t *ref, bool by_rule, int depth);

/* Check a scalar number node against ref (or, by rule, alone). */
static bool
compare_number(const JDoc *doc, uint32 node, json_t *ref, bool by_rule)
{
	const JdNode *n = &doc->nodes[node];
	char		want[512];
	char	   *got = jd_scalar_text(doc, node);

	if (n->len >= sizeof(want))
	{
		/* a very long number: as written if integer, else compared loosely */
		if (n->integer && (strlen(got) != n->len || memcmp(got, n->text, n->len) != 0))
		{
			fail("a long integer is not given as written");
			return false;
		}
		return true;
	}
	expected_number(n->text, n->len, n->integer, want);
	if (strcmp(got, want) != 0)
	{
		fail("number %.*s: jd_scalar_text gave \"%s\", expected \"%s\"", (int) n->len, n->text, got, want);
		return false;
	}
	if (by_rule)
		return true;
	if (n->integer != json_is_integer(ref))
	{
		fail("number %.*s: jdoc says integer=%d, jansson says %s", (int) n->len, n->text, n->integer,
			 json_is_integer(ref) ? "integer" : "real");
		return false;
	}
	if (n->integer)
	{
		if (strtoll(got, NULL, 10) != json_integer_value(ref))
		{
			fail("integer %s: jansson read %lld", got, (long long) json_integer_value(ref));
			return false;
		}
	}
	else
	{
		char		buf[64];
		double		v = json_real_value(ref);

		double_to_shortest_decimal_buf(v, buf);
		/* jansson's underflow to 0 is kept as written by jdoc (R-NUMBER) */
		if (!(v == 0 && strcmp(got, want) == 0 && strcmp(want, buf) != 0) && strcmp(got, buf) != 0)
		{
			fail("real %.*s: jdoc gave %s, jansson's double is %s", (int) n->len, n->text, got, buf);
			return false;
		}
	}
	return true;
}

/* Compare jd_compact(node) (and jd_scalar_text of a container) with ref. */
static bool
compare_compact(const JDoc *doc, uint32 node, json_t *ref, bool by_rule)
{
	char	   *c = jd_compact(doc, node);
	json_error_t err;
	json_t	   *back;
	bool		ok = true;

	if (!is_compact(c))
	{
		fail("jd_compact left whitespace: %.80s", c);
		return false;
	}
	if (strlen(c) > doc->nodes[node].len + (doc->nodes[node].type == JD_STRING ? 2 : 0))
	{
		fail("jd_compact is longer than the value's text");
		return false;
	}
	if (by_rule)
		return true;
	back = jansson_parse(c, strlen(c), &err);
	if (back == NULL)
	{
		fail("jd_compact's text is not JSON to jansson (%s): %.80s", err.text, c);
		return false;
	}
	if (!json_equal(back, ref))
	{
		fail("jd_compact's text differs from the value: %.80s", c);
		ok = false;
	}
	json_decref(back);
	return ok;
}

/*
 * Compare node with ref.  by_rule: ref is the tree of a copy of the page
 * with every number replaced by 0 (the page has numbers jansson refuses,
 * R-NUMBER), so numbers are checked against the rule alone.
 */
static bool
compare(const JDoc *doc, uint32 node, json_t *ref, bool by_rule, int depth)
{
	const JdNode *n = &doc->nodes[node];
	char	   *s;

	switch ((JdType) n->type)
	{
		case JD_NULL:
			if (!json_is_null(ref) || jd_scalar_text(doc, node) != NULL)
				return fail("null differs"), false;
			break;
		case JD_TRUE:
		case JD_FALSE:
			if (json_typeof(ref) != (n->type == JD_TRUE ? JSON_TRUE : JSON_FALSE) ||
				strcmp(jd_scalar_text(doc, node), n->type == JD_TRUE ? "true" : "false") != 0)
				return fail("boolean differs"), false;
			break;
		case JD_NUMBER:
			if (!json_is_number(ref))
				return fail("jdoc has a number where jansson has type %d", json_typeof(ref)), false;
			if (!compare_number(doc, node, ref, by_rule))
				return false;
			break;
		case JD_STRING:
			{
				const char *r;
				size_t		rl;
				bool		rnul;

				if (!json_is_string(ref))
					return fail("jdoc has a string where jansson has type %d", json_typeof(ref)), false;
				r = json_string_value(ref);
				rl = json_string_length(ref);
				rnul = memchr(r, '\0', rl) != NULL;
				s = jd_string(doc, node);
				if (n->has_nul != rnul)
					return fail("string has_nul=%d, jansson's string %s a NUL", n->has_nul, rnul ? "has" : "has no"), false;
				if (!rnul && (strlen(s) != rl || memcmp(s, r, rl) != 0))
					return fail("string decoded as \"%.60s\", jansson: \"%.60s\"", s, r), false;
				if (rnul && strcmp(s, r) != 0)
					return fail("string before its \\u0000 decoded as \"%.60s\", jansson: \"%.60s\"", s, r), false;
				if (strcmp(jd_scalar_text(doc, node), s) != 0)
					return fail("jd_scalar_text of a string is not jd_string"), false;
				if (n->next != node + 1)
					return fail("a string's next is not the next node"), false;
				break;
			}
		case JD_ARRAY:
			{
				size_t		size;
				uint32		c;
				int64		i = 0;

				if (!json_is_array(ref))
					return fail("jdoc has an array where jansson has type %d", json_typeof(ref)), false;
				size = json_array_size(ref);
				if (n->count != size)
					return fail("array of %u elements, jansson: %zu", n->count, size), false;
				for (c = node + 1; c < n->next; c = doc->nodes[c].next, i++)
				{
					if (doc->nodes[c].key != NULL)
						return fail("an element has a member name"), false;
					if (jd_element(doc, node, i) != c || jd_element(doc, node, i - (int64) size) != c)
						return fail("jd_element(%lld) is not the %lld-th element", (long long) i, (long long) i), false;
					if (!compare(doc, c, json_array_get(ref, i), by_rule, depth + 1))
						return false;
				}
				if (i != (int64) size || c != n->next)
					return fail("an array's elements do not end at its next"), false;
				if (jd_element(doc, node, size) != JD_NONE || jd_element(doc, node, -(int64) size - 1) != JD_NONE ||
					jd_member(doc, node, "a", 1) != JD_NONE)
					return fail("jd_element out of range, or jd_member of an array, found something"), false;
				break;
			}
		case JD_OBJECT:
			{
				size_t		distinct = 0;
				uint32		c;
				uint32		i = 0;

				if (!json_is_object(ref))
					return fail("jdoc has an object where jansson has type %d", json_typeof(ref)), false;
				for (c = node + 1; c < n->next; c = doc->nodes[c].next, i++)
				{
					size_t		kl;
					char	   *k;
					uint32		m;
					json_t	   *rv;

					if (doc->nodes[c].key == NULL)
						return fail("a member without a name"), false;
					k = member_name(&doc->nodes[c], &kl);
					if (memchr(k, '\0', kl) != NULL)
					{
						/* R-NULKEY: matches no path, not even its start */
						m = jd_member(doc, node, k, strlen(k));
						if (m == c)
						{
							free(k);
							return fail("a member name with \\u0000 matched the name before it"), false;
						}
						free(k);
						continue;
					}
					m = jd_member(doc, node, k, kl);
					rv = json_object_get(ref, k);
					if (rv == NULL)
					{
						fail("member \"%s\" is not in jansson's object", k);
						free(k);
						return false;
					}
					if (m == JD_NONE || m < c)
					{
						fail("jd_member(\"%s\") gave %u, not the member or a later one of that name", k, m);
						free(k);
						return false;
					}
					if (m == c)
					{
						distinct++;
						if (!compare(doc, c, rv, by_rule, depth + 1))
						{
							free(k);
							return false;
						}
					}
					/* a name one byte longer or shorter is another name */
					if (kl > 0)
					{
						k[kl - 1] ^= 0x01;
						if (json_object_get(ref, k) == NULL && jd_member(doc, node, k, kl) != JD_NONE)
						{
							fail("jd_member found a name that is not there: \"%s\"", k);
							free(k);
							return false;
						}
						k[kl - 1] ^= 0x01;
						k[kl - 1] = '\0';
						if (json_object_get(ref, k) == NULL && jd_member(doc, node, k, kl - 1) != JD_NONE)
						{
							fail("jd_member found a name's prefix \"%s\"", k);
							free(k);
							return false;
						}
					}
					free(k);
				}
				if (i != n->count || c != n->next)
					return fail("an object's members do not end at its next"), false;
				if (distinct != json_object_size(ref))
					return fail("%zu distinct names, jansson: %zu", distinct, json_object_size(ref)), false;
				if (jd_element(doc, node, 0) != JD_NONE)
					return fail("jd_element of an object found something"), false;
				break;
			}
		default:
			return fail("node of unknown type %d", n->type), false;
	}
	/* every node: compact JSON and, for containers, the scalar text */
	if (depth < 3 || rn(8) == 0)
	{
		if (!compare_compact(doc, node, ref, by_rule))
			return false;
		if ((n->type == JD_ARRAY || n->type == JD_OBJECT) &&
			strcmp(jd_scalar_text(doc, node), jd_compact(doc, node)) != 0)
			return fail("jd_scalar_text of a container is not jd_compact"), false;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * jd_without against a reference written with jansson
 * --------------------------------------------------------------------- */

#define MAX_DROPS 6

typedef struct DropPath
{
	const char *keys[4];
	int			n;
	bool		first_only;		/* a path through an index: its first key */
} DropPath;

/* obj without the members drops name at level depth (docs/sync.md). */
static json_t *
ref_without(json_t *obj, DropPath **drops, int ndrops, int depth)
{
	json_t	   *out = json_object();
	const char *key;
	json_t	   *v;

	json_object_foreach(obj, key, v)
	{
		bool		whole = false;
		DropPath   *deeper[MAX_DROPS];
		int			ndeeper = 0;

		for (int d = 0; d < ndrops; d++)
		{
			int			n = drops[d]->first_only ? 1 : drops[d]->n;

			if (n <= depth || strcmp(drops[d]->keys[depth], key) != 0)
				continue;
			if (n == depth + 1)
				whole = true;
			else
				deeper[ndeeper++] = drops[d];
		}
		if (whole)
			continue;
		if (ndeeper > 0 && json_is_object(v))
		{
			json_t	   *inner = ref_without(v, deeper, ndeeper, depth + 1);

			/* an object left empty by the drops goes too */
			if (json_object_size(inner) == 0 && json_object_size(v) > 0)
				json_decref(inner);
			else
				json_object_set_new(out, key, inner);
		}
		else
			json_object_set(out, key, v);
	}
	return out;
}

/*
 * Does JSON text t hold the escape \u0000 in a string or name?  jsonb's
 * input refuses it even in a repeated name's earlier value, which jsonb
 * would drop: so a plain scan of the text, not of a parsed tree.
 */
static bool
text_holds_nul(const char *t)
{
	bool		in = false;

	for (; *t; t++)
	{
		if (*t == '"')
			in = !in;
		else if (in && *t == '\\')
		{
			if (strncmp(t + 1, "u0000", 5) == 0)
				return true;
			t++;
		}
	}
	return false;
}

/* A random member name of obj, or a name that is not there. */
static const char *
some_key(json_t *obj)
{
	static const char *absent[] = {"zz", "", "id", "a"};
	size_t		size = json_is_object(obj) ? json_object_size(obj) : 0;
	size_t		pick;
	const char *key;
	json_t	   *v;

	if (size == 0 || rn(5) == 0)
		return absent[rn(4)];
	pick = (size_t) rn((int) size);
	json_object_foreach(obj, key, v)
	{
		if (pick-- == 0)
			return key;
	}
	return "zz";
}

/* Check jd_without on object node (ref its tree) with random drop paths. */
static void
check_without(const JDoc *doc, uint32 node, json_t *ref)
{
	DropPath	paths[MAX_DROPS];
	DropPath   *drops[MAX_DROPS];
	SyncColumn	cols[MAX_DROPS];
	struct SyncPath sp[MAX_DROPS];
	SyncSpec	spec;
	int			ncols = 1 + rn(MAX_DROPS);
	char	   *got;
	bool		nul;
	json_t	   *want;
	json_t	   *back;
	json_error_t err;

	memset(&spec, 0, sizeof(spec));
	memset(cols, 0, sizeof(cols));
	for (int c = 0; c < ncols; c++)
	{
		json_t	   *at = ref;
		DropPath   *p = &paths[c];

		p->n = 1 + rn(3);
		p->first_only = rn(6) == 0;
		for (int k = 0; k < p->n; k++)
		{
			p->keys[k] = some_key(at);
			at = json_is_object(at) ? json_object_get(at, p->keys[k]) : NULL;
		}
		drops[c] = p;
		cols[c].name = "c";
		if (p->first_only)
		{
			sp[c].first = p->keys[0];
			cols[c].path = &sp[c];
		}
		else
		{
			cols[c].path_keys = p->keys;
			cols[c].npath_keys = p->n;
		}
	}
	spec.columns = cols;
	spec.ncolumns = ncols;
	got = jd_without(doc, node, &spec, &nul);
	want = ref_without(ref, drops, ncols, 0);
	back = jansson_parse(got, strlen(got), &err);
	if (back == NULL || !json_equal(back, want))
	{
		char	   *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);

		fail("jd_without gave %.120s, expected %.120s (first drop %s%s%s%s%s)", got, w,
			 paths[0].keys[0], paths[0].n > 1 ? "." : "", paths[0].n > 1 ? paths[0].keys[1] : "",
			 paths[0].n > 2 ? "." : "", paths[0].n > 2 ? paths[0].keys[2] : "");
		free(w);
	}
	else if (nul != text_holds_nul(got))
		fail("jd_without said %s \\u0000 is left in %.120s", nul ? "a" : "no", got);
	if (back)
		json_decref(back);
	json_decref(want);
}

/* ---------------------------------------------------------------------
 * One document through both parsers
 * --------------------------------------------------------------------- */

/* Outcome counters, for the TAP lines' descriptions. */
static int	n_both_accept,
			n_both_refuse,
			n_rule_depth,
			n_rule_number,
			n_rule_nulkey,
			n_rule_nulbyte;

/*
 * The nesting depth of a page jansson accepted, from its text (jansson's
 * tree may have lost a deep member to a later one of the same name).
 */
static int
text_depth(const char *d, size_t len)
{
	int			depth = 0,
				max = 0;
	bool		in = false;

	for (size_t i = 0; i < len; i++)
	{
		if (in)
		{
			if (d[i] == '\\')
				i++;
			else if (d[i] == '"')
				in = false;
		}
		else if (d[i] == '"')
			in = true;
		else if (d[i] == '[' || d[i] == '{')
		{
			depth++;
			max = Max(max, depth);
		}
		else if (d[i] == ']' || d[i] == '}')
			depth--;
	}
	return max;
}

/* The page with every number jdoc found replaced by 0 (for R-NUMBER). */
static char *
numbers_zeroed(const JDoc *doc, size_t *len)
{
	Out			o = {0};
	const char *at = doc->body;

	for (uint32 i = 0; i < doc->n; i++)
	{
		const JdNode *n = &doc->nodes[i];

		if (n->type != JD_NUMBER)
			continue;
		out_add(&o, at, n->text - at);
		out_str(&o, "0");
		at = n->text + n->len;
	}
	out_add(&o, at, doc->body + doc->len - at);
	*len = o.len;
	return o.d;
}

/*
 * Run both parsers on d (len bytes) and check what jdoc did, counting the
 * outcome; a failed check is reported through fail().
 */
static void
check_doc(const char *d, size_t len)
{
	JDoc		doc;
	char	   *error = NULL;
	json_error_t err;
	json_t	   *ref;
	bool		ok;

	cur_doc = (const unsigned char *) d;
	cur_len = len;
	ok = jd_parse(d, len, &doc, &error);
	ref = jansson_parse(d, len, &err);

	if (ok && ref)
	{
		n_both_accept++;
		if (doc.n == 0 || doc.nodes[0].next != doc.n)
			fail("the root's subtree is not the whole document");
		else if (compare(&doc, 0, ref, false, 0) && json_is_object(ref))
			check_without(&doc, 0, ref);
	}
	else if (!ok && !ref)
	{
		n_both_refuse++;
		if (error == NULL || strncmp(error, "malformed JSON at line ", 23) != 0)
			fail("jdoc refused without a proper message: %s", error ? error : "(none)");
	}
	else if (!ok)
	{
		/*
		 * R-DEPTH; and jansson lets a NUL byte pass after a number or a
		 * literal (R-NULBYTE: JSON has none outside strings, jdoc refuses
		 * it): without its NUL bytes, jdoc must read the page as jansson
		 * did
		 */
		if (strstr(error, "nested too deeply") && text_depth(d, len) > 512)
			n_rule_depth++;
		else if (memchr(d, '\0', len))
		{
			char	   *bare = malloc(len + 1);
			size_t		bl = 0;
			JDoc		doc2;

			for (size_t i = 0; i < len; i++)
				if (d[i] != '\0')
					bare[bl++] = d[i];
			n_rule_nulbyte++;
			if (!jd_parse(bare, bl, &doc2, &error))
				fail("jdoc refused what jansson accepts, and refuses it without its NUL bytes too: %s", error);
			else
				compare(&doc2, 0, ref, false, 0);
			free(bare);
		}
		else
			fail("jdoc refused what jansson accepts: %s", error);
	}
	else if (strstr(err.text, "too big ") || strstr(err.text, "real number overflow"))
	{
		/* R-NUMBER: compare the structure on a copy with numbers zeroed */
		size_t		zl;
		char	   *z = numbers_zeroed(&doc, &zl);
		json_t	   *zref = jansson_parse(z, zl, &err);

		n_rule_number++;
		if (zref == NULL && strstr(err.text, "NUL byte in object key"))
			n_rule_nulkey++;
		else if (zref == NULL)
			fail("with its numbers zeroed, jansson still refuses the page: %s", err.text);
		else
		{
			compare(&doc, 0, zref, true, 0);
			json_decref(zref);
		}
		free(z);
	}
	else if (strstr(err.text, "NUL byte in object key"))
		n_rule_nulkey++;
	else
		fail("jdoc accepted what jansson refuses: %s (line %d, column %d)", err.text, err.line, err.column);
	if (ref)
		json_decref(ref);
	arena_reset();
	cur_doc = NULL;
}

/* ---------------------------------------------------------------------
 * Generating documents
 * --------------------------------------------------------------------- */

/* How generated documents are skewed (set per category). */
static int	big_numbers;		/* % of numbers beyond int64/double */
static int	nul_keys;			/* % of names with \u0000 */
static int	deep_chains;		/* % of containers that open a deep chain */

static void
ws(Out *o)
{
	static const char *const w[] = {" ", "\n", "\r", "\t", "  ", "\r\n", " \t "};

	if (rn(4) == 0)
		out_str(o, w[rn(7)]);
}

static void
hexu(Out *o, unsigned int u)
{
	char		b[8];

	snprintf(b, sizeof(b), rn(2) ? "\\u%04X" : "\\u%04x", u);
	out_str(o, b);
}

/* Append code point c as UTF-8. */
static void
utf8(Out *o, unsigned int c)
{
	char		b[4];
	int			n;

	if (c < 0x80)
		b[0] = (char) c, n = 1;
	else if (c < 0x800)
		b[0] = (char) (0xC0 | (c >> 6)), b[1] = (char) (0x80 | (c & 0x3F)), n = 2;
	else if (c < 0x10000)
		b[0] = (char) (0xE0 | (c >> 12)), b[1] = (char) (0x80 | ((c >> 6) & 0x3F)),
			b[2] = (char) (0x80 | (c & 0x3F)), n = 3;
	else
		b[0] = (char) (0xF0 | (c >> 18)), b[1] = (char) (0x80 | ((c >> 12) & 0x3F)),
			b[2] = (char) (0x80 | ((c >> 6) & 0x3F)), b[3] = (char) (0x80 | (c & 0x3F)), n = 4;
	out_add(o, b, n);
}

/* A code point that is not a surrogate, in one of the UTF-8 lengths. */
static unsigned int
some_char(void)
{
	switch (rn(6))
	{
		case 0:
			return 0x80 + rn(0x780);
		case 1:
			return 0x800 + rn(0xD800 - 0x800);
		case 2:
			return 0xE000 + rn(0x2000);
		case 3:
			return 0x10000 + rn(0x100000);
		case 4:
			{
				static const unsigned int edge[] = {0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFEFF,
				0xFFFD, 0xFFFE, 0xFFFF, 0x10000, 0x10FFFF, 0x4E2D, 0xE9};

				return edge[rn(14)];
			}
		default:
			return 0x20 + rn(0x5F);
	}
}

/* A string's contents: every kind of character and escape. */
static void
gen_string_body(Out *o, int maxlen, bool key)
{
	int			n = rn(maxlen + 1);

	for (int i = 0; i < n; i++)
	{
		int			k = rn(20);
		unsigned int c;

		if (k < 9)
		{
			char		ch = (char) (0x20 + rn(0x5F));

			if (ch == '"' || ch == '\\')
				ch = 'x';
			out_add(o, &ch, 1);
		}
		else if (k < 11)
		{
			static const char *const esc[] = {"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"};

			out_str(o, esc[rn(8)]);
		}
		else if (k < 14)
			utf8(o, some_char());
		else if (k < 16)
		{
			c = some_char();
			if (c < 0x10000)
				hexu(o, c);
			else
			{
				hexu(o, 0xD800 + ((c - 0x10000) >> 10));
				hexu(o, 0xDC00 + ((c - 0x10000) & 0x3FF));
			}
		}
		else if (k < 17)
			hexu(o, rn(0x20));	/* control characters, escaped */
		else if (k < 18)
		{
			if (!key || rn(100) < nul_keys)
				hexu(o, 0);
		}
		else
			utf8(o, 0x7F);
	}
}

static void
gen_string(Out *o, int maxlen, bool key)
{
	out_str(o, "\"");
	gen_string_body(o, maxlen, key);
	out_str(o, "\"");
}

static const char *const edge_numbers[] = {
	"0", "-0", "1", "-1", "0.0", "-0.0", "0e0", "0E-0", "-0.0e+0", "1E+2", "1e-2", "12.5e-1",
	"100", "1e2", "0.1", "0.30000000000000004", "1.0000000000000001", "123.456",
	"9223372036854775807", "-9223372036854775808", "4503599627370496", "9007199254740993",
	"1.7976931348623157e308", "2.2250738585072014e-308", "4.9e-324", "5e-324", "3e-324",
	"0.000001", "1e21", "1e22", "123456789012345678", "0.1e1", "-2.5E-3", "1e308",
};

static const char *const big_edge_numbers[] = {
	"1e400", "-1e400", "1E400", "1e-400", "-1e-400", "2.4e-324", "1.7976931348623159e308",
	"9223372036854775808", "-9223372036854775809", "123456789012345678901234567890",
	"-99999999999999999999", "0.0000e-999", "1e99999",
};

static void
gen_number(Out *o)
{
	char		b[128];
	int			l = 0;

	if (rn(100) < big_numbers)
	{
		out_str(o, big_edge_numbers[rn(lengthof(big_edge_numbers))]);
		return;
	}
	if (rn(3) == 0)
	{
		out_str(o, edge_numbers[rn(lengthof(edge_numbers))]);
		return;
	}
	if (rn(3) == 0)
		b[l++] = '-';
	if (rn(4) == 0)
		b[l++] = '0';
	else
	{
		int			digits = 1 + rn(rn(4) == 0 ? 18 : 6);

		b[l++] = (char) ('1' + rn(9));
		for (int i = 1; i < digits; i++)
			b[l++] = (char) ('0' + rn(10));
	}
	if (rn(3) == 0)
	{
		int			digits = 1 + rn(rn(4) == 0 ? 20 : 4);

		b[l++] = '.';
		for (int i = 0; i < digits; i++)
			b[l++] = (char) ('0' + rn(10));
	}
	if (rn(4) == 0)
	{
		b[l++] = rn(2) ? 'e' : 'E';
		if (rn(2))
			b[l++] = rn(2) ? '+' : '-';
		b[l++] = (char) ('0' + rn(10));
		if (rn(2))
			b[l++] = (char) ('0' + rn(10));
	}
	b[l] = '\0';
	out_str(o, b);
}

static const char *const key_pool[] = {"id", "name", "a", "b", "address", "city", "", "é", "\\u0061", "a\\/b", "x y"};

static void gen_value(Out *o, int depth, int maxdepth);

static void
gen_key(Out *o)
{
	if (rn(3))
	{
		out_str(o, "\"");
		out_str(o, key_pool[rn(lengthof(key_pool))]);
		out_str(o, "\"");
	}
	else
		gen_string(o, 6, true);
}

static void
gen_value(Out *o, int depth, int maxdepth)
{
	int			k = rn(100);

	ws(o);
	if (depth < maxdepth && deep_chains > 0 && rn(100) < deep_chains)
	{
		/* a chain of containers around one value */
		int			chain = 1 + rn(600);
		Out			tail = {0};

		for (int i = 0; i < chain; i++)
		{
			if (rn(2))
			{
				out_str(o, "[");
				out_add(&tail, "]", 1);
			}
			else
			{
				out_str(o, "{\"a\":");
				out_add(&tail, "}", 1);
			}
		}
		gen_value(o, maxdepth, maxdepth);
		for (size_t i = tail.len; i > 0; i--)
			out_add(o, &tail.d[i - 1], 1);
		free(tail.d);
	}
	else if (depth < maxdepth && k < 22)
	{
		int			n = rn(6);

		out_str(o, "{");
		ws(o);
		for (int i = 0; i < n; i++)
		{
			if (i > 0)
				out_str(o, ",");
			ws(o);
			gen_key(o);
			ws(o);
			out_str(o, ":");
			gen_value(o, depth + 1, maxdepth);
		}
		out_str(o, "}");
	}
	else if (depth < maxdepth && k < 40)
	{
		int			n = rn(6);

		out_str(o, "[");
		ws(o);
		for (int i = 0; i < n; i++)
		{
			if (i > 0)
				out_str(o, ",");
			gen_value(o, depth + 1, maxdepth);
		}
		out_str(o, "]");
	}
	else if (k < 65)
		gen_string(o, 12, false);
	else if (k < 88)
		gen_number(o);
	else
		out_str(o, k < 92 ? "true" : k < 96 ? "false" : "null");
	ws(o);
}

/* A random document: mostly an object, as a page is. */
static void
gen_doc(Out *o)
{
	o->len = 0;
	if (rn(5))
	{
		int			n = 1 + rn(6);

		out_str(o, "{");
		for (int i = 0; i < n; i++)
		{
			if (i > 0)
				out_str(o, ",");
			ws(o);
			gen_key(o);
			out_str(o, ":");
			gen_value(o, 1, 2 + rn(5));
		}
		out_str(o, "}");
	}
	else
		gen_value(o, 0, rn(6));
}

/* Bytes a mutation likes to put in. */
static const char *const splices[] = {
	"\"", "\\", "{", "}", "[", "]", ",", ":", " ", "0", "-", "+", ".", "e", "E", "1",
	"\x00", "\x01", "\x1F", "\x7F", "\x80", "\xBF", "\xC0", "\xC1", "\xC3", "\xE0", "\xED", "\xF0", "\xF4",
	"\xF5", "\xFF", "\xEF\xBB\xBF", "\\u", "\\uD800", "\\uDC00", "\\u0000", "\\uD83D\\uDE00", "null",
	"true", "false", "\"\":", "1e400", "99999999999999999999", "\xED\xA0\x80", "\xC0\x80", "\xF4\x90\x80\x80",
	"\xE0\x9F\xBF", "\xF0\x8F\xBF\xBF", "\\x", "\\'", "\n", "\t", "\r", "\v", "\f",
};

/* Mutate o in place: 1 to 3 edits. */
static void
mutate(Out *o)
{
	int			edits = 1 + rn(3);

	for (int e = 0; e < edits && o->len > 0; e++)
	{
		size_t		at = (size_t) rn((int) o->len + 1);

		switch (rn(6))
		{
			case 0:				/* a byte changed */
				if (at < o->len)
					o->d[at] = (char) rnd();
				break;
			case 1:				/* a byte removed */
				if (at < o->len)
				{
					memmove(o->d + at, o->d + at + 1, o->len - at - 1);
					o->len--;
				}
				break;
			case 2:
			case 3:				/* a splice put in */
				{
					int			s = rn(lengthof(splices));
					size_t		sl = s == 16 ? 1 : strlen(splices[s]);
					Out			t = {0};

					out_add(&t, o->d, at);
					out_add(&t, splices[s], sl);
					out_add(&t, o->d + at, o->len - at);
					free(o->d);
					*o = t;
					break;
				}
			case 4:				/* a span repeated */
				{
					size_t		from = (size_t) rn((int) o->len);
					size_t		n = (size_t) rn(12) + 1;
					Out			t = {0};

					n = Min(n, o->len - from);
					out_add(&t, o->d, at);
					out_add(&t, o->d + from, n);
					out_add(&t, o->d + at, o->len - at);
					free(o->d);
					*o = t;
					break;
				}
			default:			/* cut short */
				o->len = at;
				break;
		}
	}
}

/* ---------------------------------------------------------------------
 * The hand-written cases
 * --------------------------------------------------------------------- */

typedef struct Case
{
	const char *text;
	size_t		len;			/* 0: strlen */
} Case;

#define C(s) {s, sizeof(s) - 1}

static const Case syntax_cases[] = {
	C(""), C(" "), C("{}"), C("[]"), C(" {} "), C("\t\r\n[\n]\r\n"), C("null"), C("true"), C("false"),
	C("nul"), C("nulll"), C("[nulx]"), C("[trux]"), C("[falsx]"), C("fals"), C("tru"), C("True"), C("NULL"), C("[true false]"), C("[truex]"),
	C("{\"a\":1}"), C("{\"a\" : 1 , \"b\" :2}"), C("{\"a\" 1}"), C("{\"a\":}"), C("{:1}"), C("{1:1}"),
	C("{\"a\":1,}"), C("{,\"a\":1}"), C("{\"a\":1 \"b\":2}"), C("[1,]"), C("[,1]"), C("[1 2]"), C("[,]"),
	C("[1,,2]"), C("{\"a\"}"), C("{\"a\":1:2}"), C("{'a':1}"), C("{a:1}"), C("[1]]"), C("{}}"), C("[[]"),
	C("{\"a\":[}"), C("[{]}"), C("{} x"), C("1 2"), C("{}/"), C("{}\x00"), C("\x00{}"), C("9\x00"), C("-1.5\x00 "), C("[1\x00,2]"), C("{\"a\":true\x00}"), C("[null\x00 ]"), C("[\"a\"\x00]"), C("\xEF\xBB\xBF{}"),
	C("\xEF\xBB\xBF"), C("{}\xEF\xBB\xBF"), C("[\"\xEF\xBB\xBF\"]"), C("/* */{}"), C("{}//"),
	C("{\"a\":1,\"a\":2}"), C("{\"a\":{\"b\":1},\"a\":{\"c\":2}}"), C("{\"a\":1,\"\\u0061\":2}"),
	C("{\"\":0,\"\":1}"), C("\"\""), C("\"a\"\"b\""), C("[\"a\"\"b\"]"), C("\x0C{}"), C("\x0B{}"), C("\xA0{}"),
	C("{\"a\"\x0C:1}"), C("[1\x0C]"), C("{\"\\u0000\":1}"), C("{\"a\\u0000b\":1,\"a\":2}"),
};

static const Case number_cases[] = {
	C("0"), C("-0"), C("00"), C("01"), C("-01"), C("[01]"), C("1."), C("[1.]"), C(".5"), C("[.5]"), C("+1"),
	C("[+1]"), C("-"), C("[-]"), C("--1"), C("1e"), C("1e+"), C("1e-"), C("1E5"), C("1.5e+10"), C("1.5E-10"),
	C("1e5.5"), C("0x10"), C("1_000"), C("Infinity"), C("-Infinity"), C("NaN"), C("[NaN]"), C("1e400"),
	C("-1e400"), C("[1e400]"), C("{\"n\":1e400}"), C("1e-400"), C("[-1e-400]"), C("2.4e-324"), C("3e-324"),
	C("4.9e-324"), C("1.7976931348623157e308"), C("1.7976931348623159e308"), C("9223372036854775807"),
	C("9223372036854775808"), C("-9223372036854775808"), C("-9223372036854775809"),
	C("[123456789012345678901234567890]"), C("{\"n\":-123456789012345678901234567890}"),
	C("0.1000000000000000000001"), C("0.30000000000000004"), C("123456789.123456789e-9"), C("1.0"),
	C("-0.0"), C("0e0"), C("0E+0"), C("0.0e-0"), C("[1e1e1]"), C("[1.2.3]"), C("[1-2]"), C("[- 1]"),
	C("[1 ]"), C("[1\n]"), C("1 "), C("\n-2\n"), C("0.0000e-999"), C("1e99999"), C("1e-99999"),
};

static const Case string_cases[] = {
	/* every escape */
	C("\"\\\"\""), C("\"\\\\\""), C("\"\\/\""), C("\"\\b\\f\\n\\r\\t\""), C("\"\\a\""), C("\"\\x41\""),
	C("\"\\0\""), C("\"\\'\""), C("\"\\U0041\""), C("\"\\u\""), C("\"\\u4\""), C("\"\\u41\""), C("\"\\u041\""),
	C("\"\\u0041\""), C("\"\\u12G4\""), C("\"\\u12g4\""), C("\"\\u00/0\""), C("\"\\u00:0\""),
	C("\"\\u00@0\""), C("\"\\u00`0\""), C("\"\\u00 0\""), C("\"\\u-123\""), C("\"\\u+123\""), C("\"\\u0x12\""),
	C("\"\\uD800\\uDCg0\""), C("\"\\uABCD\\uabcd\""), C("\"\\u00e9\\u00E9\""), C("\"\\"), C("\"\\\""), C("\"\\u00"),
	C("\"\\u0000\""), C("\"a\\u0000b\""), C("[\"\\u0000\",\"x\"]"), C("\"\\u001f\""), C("\"\\u007f\""),
	C("\"\\u0080\""), C("\"\\u07FF\""), C("\"\\u0800\""), C("\"\\uD7FF\""), C("\"\\uE000\""), C("\"\\uFFFF\""),
	C("\"\\uFEFF\""), C("\"\\u2028\\u2029\""),
	/* surrogates, valid and lone */
	C("\"\\uD83D\\uDE00\""), C("\"\\ud83d\\ude00\""), C("\"\\uD800\\uDC00\""), C("\"\\uDBFF\\uDFFF\""),
	C("\"\\uD800\""), C("\"\\uD800x\""), C("\"\\uD800\\u0041\""), C("\"\\uD800\\uD800\""),
	C("\"\\uD800\\n\""), C("\"\\uD800\\\""), C("\"\\uD800\\u\""), C("\"\\uD800\\uDC0\""), C("\"\\uDC00\""),
	C("\"\\uDFFF\""), C("\"\\uDC00\\uD800\""), C("\"\\uD800\\uDC00\\uDC00\""), C("\"a\\uDBFF"),
	C("\"\\uD800\\uDBFF\""), C("\"\\uD83D\\uDE00\\uD83D\""),
	/* raw control characters and DEL */
	C("\"\x01\""), C("\"\x09\""), C("\"\x0A\""), C("\"\x0D\""), C("\"\x1F\""), C("\"\x7F\""), C("\"a\x00b\""),
	C("{\"\x01\":1}"),
	/* UTF-8, valid at every boundary */
	C("\"\xC2\x80\""), C("\"\xDF\xBF\""), C("\"\xE0\xA0\x80\""), C("\"\xED\x9F\xBF\""), C("\"\xEE\x80\x80\""),
	C("\"\xEF\xBF\xBF\""), C("\"\xEF\xBF\xBE\""), C("\"\xF0\x90\x80\x80\""), C("\"\xF4\x8F\xBF\xBF\""),
	C("\"\xE4\xB8\xAD\xE6\x96\x87\""), C("{\"\xC3\xA9\":\"\xF0\x9F\x98\x80\"}"),
	/* and invalid of each kind */
	C("\"\x80\""), C("\"\xBF\""), C("\"\xC0\x80\""), C("\"\xC1\xBF\""), C("\"\xE0\x80\x80\""),
	C("\"\xE0\x9F\xBF\""), C("\"\xF0\x80\x80\x80\""), C("\"\xF0\x8F\xBF\xBF\""), C("\"\xED\xA0\x80\""),
	C("\"\xED\xBF\xBF\""), C("\"\xF4\x90\x80\x80\""), C("\"\xF5\x80\x80\x80\""), C("\"\xF8\x88\x80\x80\x80\""),
	C("\"\xFC\x84\x80\x80\x80\x80\""), C("\"\xFE\""), C("\"\xFF\""), C("\"\xC3\""), C("\"\xC3"),
	C("\"\xE2\x82\""), C("\"\xF0\x9F\x98\""), C("\"\xC3\x28\""), C("\"\xE2\x28\xA1\""), C("\"\xF0\x28\x8C\xBC\""),
	C("\"\xE2\x82\xAC\xAC\""), C("[\"a\",\xC3\xA9]"), C("\xC3\xA9"), C("{\"a\xFF\":1}"),
	/* unterminated */
	C("\""), C("\"abc"), C("[\"abc]"), C("{\"a"), C("{\"a\":\"b}"),
};

/* Run a list of cases through check_doc. */
static int
run_cases(const Case *cases, int n)
{
	for (int i = 0; i < n; i++)
		check_doc(cases[i].text, cases[i].len);
	return n;
}

/* A document nested depth levels: arrays, or objects {"a":...}. */
static void
nested(Out *o, int depth, bool objects, const char *inner)
{
	o->len = 0;
	for (int i = 0; i < depth; i++)
		out_str(o, objects ? "{\"a\":" : (i % 3 == 1 ? "[1, " : "["));
	out_str(o, inner);
	for (int i = depth; i > 0; i--)
		out_str(o, objects ? "}" : "]");
}

/* ---------------------------------------------------------------------
 * The regressions: each divergence found, kept as its own test
 * --------------------------------------------------------------------- */

/* jd_scalar_text of the first number in text. */
static char *
number_text(const char *text)
{
	JDoc		doc;
	char	   *error;

	if (!jd_parse(text, strlen(text), &doc, &error))
		return error;
	for (uint32 i = 0; i < doc.n; i++)
		if (doc.nodes[i].type == JD_NUMBER)
			return sync_strdup(jd_scalar_text(&doc, i));
	return "(no number)";
}

/* jd_without of text's root with drop paths "a.b" / "c" (nkeys each). */
static char *
without(const char *text, const char *const *keys, int nkeys)
{
	JDoc		doc;
	char	   *error;
	SyncColumn	col;
	SyncSpec	spec;
	bool		nul;

	if (!jd_parse(text, strlen(text), &doc, &error))
		return error;
	memset(&col, 0, sizeof(col));
	memset(&spec, 0, sizeof(spec));
	col.name = "c";
	col.path_keys = (const char **) keys;
	col.npath_keys = nkeys;
	spec.columns = &col;
	spec.ncolumns = 1;
	return jd_without(&doc, 0, &spec, &nul);
}

/* jd_member's node's scalar text, or "(none)". */
static char *
member_text(const char *text, const char *key, size_t keylen)
{
	JDoc		doc;
	char	   *error;
	uint32		m;

	if (!jd_parse(text, strlen(text), &doc, &error))
		return error;
	m = jd_member(&doc, 0, key, keylen);
	return m == JD_NONE ? "(none)" : jd_scalar_text(&doc, m);
}

static int	tap_n;

static void
tap(bool ok, const char *fmt,...) pg_attribute_printf(2, 3);

static void
tap(bool ok, const char *fmt,...)
{
	va_list		ap;

	printf("%sok %d - ", ok ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void
tap_str(const char *what, const char *got, const char *want)
{
	bool		ok = (got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0);

	tap(ok, "%s", what);
	if (!ok)
		printf("#   got:  %s\n#   want: %s\n", got ? got : "(NULL)", want ? want : "(NULL)");
}

/* Start a category: reset the failure count. */
static void
begin(const char *name)
{
	current_case = name;
	failures = shown = 0;
	n_both_accept = n_both_refuse = n_rule_depth = n_rule_number = n_rule_nulkey = n_rule_nulbyte = 0;
}

static void
end(const char *what, int n)
{
	tap(failures == 0, "%s: %d documents, %d accepted by both, %d refused by both, "
		"%d by rule (depth %d, number %d, NUL name %d, NUL byte %d)",
		what, n, n_both_accept, n_both_refuse, n_rule_depth + n_rule_number + n_rule_nulkey + n_rule_nulbyte,
		n_rule_depth, n_rule_number, n_rule_nulkey, n_rule_nulbyte);
	if (failures)
		printf("#   %d failed checks\n", failures);
}

#ifndef JDOC_LIBFUZZER

int
main(int argc, char **argv)
{
	uint64		seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 20261207;
	int			ndocs = argc > 2 ? atoi(argv[2]) : 20000;
	Out			o = {0};
	int			n;
	static const char *const rich[] = {
		"{\"data\":[{\"id\":1,\"name\":\"Ada \\u00e9\\uD83D\\uDE00\",\"tags\":[\"a\",\"b\"],\"n\":-0.5e-3},"
		"{\"id\":2,\"name\":\"\xE4\xB8\xAD\",\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"ok\":true,\"x\":null}],"
		"\"has_more\":false,\"next\":\"c\\u0041\"}",
		"[1, -0, 2.5E+3, \"\\u0000\", {\"a\": {\"b\": [true, false, null]}}, [], {}]",
		"{\"a\":{\"a\":{\"a\":[1,{\"b\":\"\xF0\x9F\x98\x80\"}]}},\"a\":0}",
		"\"\\uDBFF\\uDFFF\\u20AC\"",
		"-123.456e-7",
	};
	const int	plan = 14;

	rng = seed ? seed : 1;
	printf("1..%d\n", plan);
	printf("# seed %llu, %d random documents\n", (unsigned long long) seed, ndocs);

	begin("syntax");
	n = run_cases(syntax_cases, lengthof(syntax_cases));
	end("syntax: literals, separators, brackets, BOM, trailing text, duplicate names", n);

	begin("numbers");
	n = run_cases(number_cases, lengthof(number_cases));
	end("numbers at the edges (-0, 1e400, huge integers, leading zeros, 1., .5, +1)", n);

	begin("strings");
	n = run_cases(string_cases, lengthof(string_cases));
	end("strings: every escape, surrogates valid and lone, control characters, UTF-8 valid and invalid", n);

	begin("nesting");
	n = 0;
	{
		static const int depths[] = {1, 2, 100, 511, 512, 513, 600, 2047, 2048, 2049, 3000};

		for (int i = 0; i < (int) lengthof(depths); i++)
			for (int objects = 0; objects < 2; objects++)
			{
				nested(&o, depths[i], objects, objects ? "\"x\"" : "1");
				check_doc(o.d, o.len);
				/* and cut short, and with a bracket too many */
				check_doc(o.d, o.len - 1);
				out_str(&o, "]");
				check_doc(o.d, o.len);
				n += 3;
			}
	}
	end("nesting up to and past jdoc's 512 and jansson's 2048 levels (R-DEPTH)", n);

	begin("truncation");
	n = 0;
	for (int i = 0; i < (int) lengthof(rich); i++)
	{
		size_t		len = strlen(rich[i]);

		for (size_t cut = 0; cut <= len; cut++)
		{
			/* a copy of exactly cut bytes, so that reading past it shows */
			char	   *d = malloc(cut + 1);

			memcpy(d, rich[i], cut);
			check_doc(d, cut);
			free(d);
			n++;
		}
	}
	end("truncation at every offset of 5 documents", n);

	begin("random");
	for (int i = 0; i < ndocs; i++)
	{
		big_numbers = i % 10 == 0 ? 20 : 0;
		nul_keys = i % 10 == 1 ? 30 : 0;
		deep_chains = i % 50 == 2 ? 30 : 0;
		gen_doc(&o);
		check_doc(o.d, o.len);
	}
	end("random documents", ndocs);

	begin("mutated");
	for (int i = 0; i < ndocs; i++)
	{
		big_numbers = 0;
		nul_keys = 0;
		deep_chains = i % 100 == 2 ? 30 : 0;
		gen_doc(&o);
		mutate(&o);
		check_doc(o.d, o.len);
	}
	end("mutated documents (bytes changed, removed, put in, repeated, cut short)", ndocs);

	/* the regressions, one per divergence found */
	tap_str("R-NUMBER: a number beyond double is given as written, not Infinity", number_text("[1e400]"), "1e400");
	tap_str("R-NUMBER: a negative one too", number_text("{\"n\":-1E+400}"), "-1E+400");
	tap_str("R-NUMBER: one that underflows a double is given as written, not 0", number_text("[1e-400]"), "1e-400");
	tap_str("a true zero is still 0", number_text("[0.0e-400]"), "0");
	{
		static const char *const ax[] = {"a", "x"};

		tap_str("jd_without: the last of duplicate names counts (an earlier one is not kept)",
				without("{\"a\":{\"y\":2},\"a\":{\"x\":1}}", ax, 2), "{}");
		tap_str("jd_without: an object that was empty before is kept",
				without("{\"a\":{},\"b\":1}", ax, 2), "{\"a\":{},\"b\":1}");
	}
	tap_str("R-NULKEY: a member name with \\u0000 does not match the name before it",
			member_text("{\"id\\u0000x\":1}", "id", 2), "(none)");

	free(o.d);
	return 0;
}

#else

/* libFuzzer: every input through both parsers; abort on a divergence. */
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *d = malloc(size ? size : 1);

	memcpy(d, data, size);
	failures = shown = 0;
	check_doc(d, size);
	free(d);
	if (failures)
	{
		fflush(stdout);
		abort();
	}
	return 0;
}

#endif
