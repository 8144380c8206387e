/*-------------------------------------------------------------------------
 *
 * jdoc.c
 *	  Parse a page's JSON into a flat array of nodes (jdoc.h), and write
 *	  values out of it: a string decoded, a scalar as a column's input
 *	  text, a subtree as compact JSON, a record without its mapped fields.
 *
 * A page is read once, left to right, with an explicit stack (no
 * recursion on the input's nesting): each value becomes a node holding
 * where its text is, its subtree's end and, in an object, its member name.
 * Strings are checked (escapes, UTF-8, no control characters) but not
 * copied; a value is decoded only when a column takes it.  Compared with a
 * general-purpose parser (a hash table per object, every string copied)
 * this is several times faster, which matters: a run parses every page
 * while the backend loads the one before.
 *
 * Runs in the parser thread: memory from sync_alloc, no elog, errors
 * returned as text.
 *
 * What it accepts and refuses, and where it differs from jansson on
 * purpose, is in docs/architecture.md ("The parser thread");
 * test/sync/jdoc.sh checks it against jansson on generated, mutated and
 * hand-written pages.  A divergence found there gets a fix here and its
 * case kept in test/sync/jdoc_fuzz.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "utils/memutils.h"

#include "sync/jdoc.h"

#define JD_MAX_DEPTH 512

/* A growing string in sync_alloc memory. */
typedef struct JdBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} JdBuf;

static void
buf_add(JdBuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = Max(b->cap * 2, b->len + n + 64);
		char	   *d = sync_alloc(cap);

		if (b->len)
			memcpy(d, b->data, b->len);
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

typedef struct Parser
{
	const char *p;
	const char *end;
	const char *start;
	JDoc	   *doc;
	uint32		cap;
	const char *error;
} Parser;

/* A new node at the end of the document (its fields zeroed). */
static uint32
new_node(Parser *ps, JdType type)
{
	JDoc	   *doc = ps->doc;
	JdNode	   *n;

	if (doc->n == ps->cap)
	{
		uint32		cap = ps->cap * 2;
		JdNode	   *grown;

		if (cap < ps->cap || (size_t) cap * sizeof(JdNode) > MaxAllocHugeSize)
		{
			ps->error = "too many values";
			return JD_NONE;
		}
		grown = sync_alloc(sizeof(JdNode) * (size_t) cap);
		memcpy(grown, doc->nodes, sizeof(JdNode) * doc->n);
		doc->nodes = grown;
		ps->cap = cap;
	}
	n = &doc->nodes[doc->n];
	memset(n, 0, sizeof(JdNode));
	n->type = type;
	return doc->n++;
}

static void
skip_space(Parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
		ps->p++;
}

/* Is s[0..] a well-formed UTF-8 sequence of a character >= 0x80?  Its length, or 0. */
static int
utf8_char(const unsigned char *s, const unsigned char *end)
{
	int			n;
	uint32		c;

	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4;
	else
		return 0;
	if (end - s < n)
		return 0;
	c = s[0] & (0x7F >> n);
	for (int i = 1; i < n; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
		(c >= 0xD800 && c <= 0xDFFF))
		return 0;
	return n;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The code unit that the four hex digits at s (after a \u) spell, or -1. */
static int
hex4(const char *s, const char *end)
{
	int			v = 0;

	if (end - s < 4)
		return -1;
	for (int i = 0; i < 4; i++)
	{
		int			h = hexval(s[i]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/*
 * Scan a string at ps->p (at its opening quote): check it, leave ps->p
 * after the closing quote.  Sets *text and *len to the contents between the
 * quotes, *escaped when it has escapes, *nul when one is \u0000.
 */
static bool
scan_string(Parser *ps, const char **text, uint32 *len, bool *escaped, bool *nul)
{
	const char *p = ps->p + 1;
	const char *end = ps->end;

	*escaped = *nul = false;
	while (p < end)
	{
		unsigned char c = (unsigned char) *p;

		if (c == '"')
		{
			*text = ps->p + 1;
			*len = (uint32) (p - ps->p - 1);
			ps->p = p + 1;
			return true;
		}
		if (c == '\\')
		{
			*escaped = true;
			if (p + 1 >= end)
				break;
			switch (p[1])
			{
				case '"':
				case '\\':
				case '/':
				case 'b':
				case 'f':
				case 'n':
				case 'r':
				case 't':
					p += 2;
					continue;
				case 'u':
					{
						int			u = hex4(p + 2, end);

						if (u < 0)
						{
							ps->error = "invalid \\u escape";
							ps->p = p;
							return false;
						}
						if (u == 0)
							*nul = true;
						if (u >= 0xD800 && u <= 0xDBFF)
						{
							int			lo = (end - p >= 12 && p[6] == '\\' && p[7] == 'u') ? hex4(p + 8, end) : -1;

							if (lo < 0xDC00 || lo > 0xDFFF)
							{
								ps->error = "invalid Unicode surrogate pair";
								ps->p = p;
								return false;
							}
							p += 12;
						}
						else if (u >= 0xDC00 && u <= 0xDFFF)
						{
							ps->error = "invalid Unicode surrogate pair";
							ps->p = p;
							return false;
						}
						else
							p += 6;
						continue;
					}
				default:
					ps->error = "invalid escape";
					ps->p = p;
					return false;
			}
		}
		if (c < 0x20)
		{
			ps->error = "control character in a string";
			ps->p = p;
			return false;
		}
		if (c >= 0x80)
		{
			int			n = utf8_char((const unsigned char *) p, (const unsigned char *) end);

			if (n == 0)
			{
				ps->error = "invalid UTF-8 in a string";
				ps->p = p;
				return false;
			}
			p += n;
			continue;
		}
		p++;
	}
	ps->error = "unterminated string";
	ps->p = end;
	return false;
}

/* Scan a number at ps->p; sets *integer when it has no fraction or exponent. */
static bool
scan_number(Parser *ps, bool *integer)
{
	const char *p = ps->p;
	const char *end = ps->end;

	*integer = true;
	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (p < end && isdigit((unsigned char) *p))
			p++;
	else
		goto bad;
	if (p < end && *p == '.')
	{
		*integer = false;
		p++;
		if (p >= end || !isdigit((unsigned char) *p))
			goto bad;
		while (p < end && isdigit((unsigned char) *p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		*integer = false;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !isdigit((unsigned char) *p))
			goto bad;
		while (p < end && isdigit((unsigned char) *p))
			p++;
	}
	ps->p = p;
	return true;
bad:
	ps->error = "invalid number";
	ps->p = p;
	return false;
}

/* Line and column (1-based) of offset off of text. */
static void
position(const char *text, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++)
	{
		if (text[i] == '\n')
		{
			(*line)++;
			*col = 1;
		}
		else
			(*col)++;
	}
}

/*
 * Parse body (len bytes) into doc.  Returns false with *error ("malformed
 * JSON at line L, column C: what") when it is not one JSON value.
 */
bool
jd_parse(const char *body, size_t len, JDoc *doc, char **error)
{
	Parser		ps;
	uint32		stack[JD_MAX_DEPTH];
	int			depth = 0;
	const char *key = NULL;
	uint32		keylen = 0;
	bool		key_escaped = false;
	bool		key_nul = false;
	int			line,
				col;

	doc->body = body;
	doc->len = len;
	doc->n = 0;
	ps.p = ps.start = body;
	ps.end = body + len;
	ps.doc = doc;
	ps.cap = (uint32) Min(Max(len / 16, 64), 1 << 26);
	ps.error = NULL;
	doc->nodes = sync_alloc(sizeof(JdNode) * (size_t) ps.cap);

	for (;;)
	{
		uint32		n = JD_NONE;
		JdNode	   *node;

		skip_space(&ps);
		if (ps.p >= ps.end)
		{
			ps.error = doc->n == 0 ? "no value" : "unexpected end of the text";
			goto fail;
		}

		/* a value */
		switch (*ps.p)
		{
			case '{':
			case '[':
				if (depth == JD_MAX_DEPTH)
				{
					ps.error = "nested too deeply";
					goto fail;
				}
				n = new_node(&ps, *ps.p == '{' ? JD_OBJECT : JD_ARRAY);
				if (n == JD_NONE)
					goto fail;
				doc->nodes[n].text = ps.p;
				stack[depth++] = n;
				ps.p++;
				break;
			case '"':
				{
					const char *t;
					uint32		l;
					bool		esc,
								nul;

					if (!scan_string(&ps, &t, &l, &esc, &nul))
						goto fail;
					n = new_node(&ps, JD_STRING);
					if (n == JD_NONE)
						goto fail;
					node = &doc->nodes[n];
					node->text = t;
					node->len = l;
					node->escaped = esc;
					node->has_nul = nul;
					node->next = n + 1;
					break;
				}
			case 't':
			case 'f':
			case 'n':
				{
					const char *word = *ps.p == 't' ? "true" : *ps.p == 'f' ? "false" : "null";
					size_t		wl = strlen(word);

					if ((size_t) (ps.end - ps.p) < wl || memcmp(ps.p, word, wl) != 0)
					{
						ps.error = "invalid literal";
						goto fail;
					}
					n = new_node(&ps, *ps.p == 't' ? JD_TRUE : *ps.p == 'f' ? JD_FALSE : JD_NULL);
					if (n == JD_NONE)
						goto fail;
					doc->nodes[n].text = ps.p;
					doc->nodes[n].len = (uint32) wl;
					doc->nodes[n].next = n + 1;
					ps.p += wl;
					break;
				}
			default:
				{
					const char *t = ps.p;
					bool		integer;

					if (*ps.p != '-' && !isdigit((unsigned char) *ps.p))
					{
						ps.error = "expected a value";
						goto fail;
					}
					if (!scan_number(&ps, &integer))
						goto fail;
					n = new_node(&ps, JD_NUMBER);
					if (n == JD_NONE)
						goto fail;
					doc->nodes[n].text = t;
					doc->nodes[n].len = (uint32) (ps.p - t);
					doc->nodes[n].integer = integer;
					doc->nodes[n].next = n + 1;
					break;
				}
		}
		node = &doc->nodes[n];
		node->key = key;
		node->keylen = keylen;
		node->key_escaped = key_escaped;
		node->key_nul = key_nul;
		key = NULL;
		keylen = 0;
		key_escaped = false;
		key_nul = false;
		if (depth > 0 && stack[depth - 1] != n)
			doc->nodes[stack[depth - 1]].count++;
		else if (depth > 1 && stack[depth - 1] == n)
			doc->nodes[stack[depth - 2]].count++;

		/* after a value, or right after an opening bracket */
		for (;;)
		{
			JdNode	   *top;

			skip_space(&ps);
			if (depth == 0)
			{
				if (ps.p != ps.end)
				{
					ps.error = "text after the value";
					goto fail;
				}
				return true;
			}
			top = &doc->nodes[stack[depth - 1]];
			if (ps.p >= ps.end)
			{
				ps.error = "unexpected end of the text";
				goto fail;
			}
			/* an empty container, or the end of a full one */
			if ((*ps.p == '}' && top->type == JD_OBJECT) || (*ps.p == ']' && top->type == JD_ARRAY))
			{
				/* (after a comma a value is read: a trailing comma fails there) */
				ps.p++;
				top->len = (uint32) (ps.p - top->text);
				top->next = doc->n;
				depth--;
				continue;
			}
			/* a separator, unless the container was just opened */
			if (!(stack[depth - 1] == doc->n - 1 && top->count == 0))
			{
				if (*ps.p != ',')
				{
					ps.error = top->type == JD_OBJECT ? "expected ',' or '}'" : "expected ',' or ']'";
					goto fail;
				}
				ps.p++;
				skip_space(&ps);
			}
			if (top->type == JD_OBJECT)
			{
				if (ps.p >= ps.end || *ps.p != '"')
				{
					ps.error = "expected a member name";
					goto fail;
				}
				if (!scan_string(&ps, &key, &keylen, &key_escaped, &key_nul))
					goto fail;
				skip_space(&ps);
				if (ps.p >= ps.end || *ps.p != ':')
				{
					ps.error = "expected ':'";
					goto fail;
				}
				ps.p++;
			}
			break;
		}
	}

fail:
	position(body, (size_t) (Min(ps.p, ps.end) - body), &line, &col);
	*error = sync_psprintf("malformed JSON at line %d, column %d: %s", line, col, ps.error);
	return false;
}

static size_t decode_string(const char *text, size_t len, char *out);

/*
 * Does the value at node v hold \u0000 anywhere: in a string, or in a
 * member name inside it (v's own name is not part of its value)?  No text
 * can hold it, nor jsonb, which refuses the escape.
 */
bool
jd_holds_nul(const JDoc *doc, uint32 v)
{
	if (doc->nodes[v].has_nul)
		return true;
	for (uint32 c = v + 1; c < doc->nodes[v].next; c++)
		if (doc->nodes[c].has_nul || doc->nodes[c].key_nul)
			return true;
	return false;
}

/*
 * Does node n's member name equal key (keylen bytes)?  An escaped name is
 * compared decoded, with its full length: a name holding \u0000 is not
 * the name before it.
 */
static bool
key_is(const JDoc *doc, const JdNode *n, const char *key, size_t keylen)
{
	char		small[64];
	char	   *k;

	if (n->key == NULL)
		return false;
	if (!n->key_escaped)
		/* most names differ in length or first letter: no call for those */
		return n->keylen == keylen &&
			(keylen == 0 || (n->key[0] == key[0] && memcmp(n->key, key, keylen) == 0));
	/* decoding never lengthens: a longer key cannot match */
	if (keylen > n->keylen)
		return false;
	k = n->keylen < sizeof(small) ? small : sync_alloc(n->keylen + 1);
	return decode_string(n->key, n->keylen, k) == keylen && memcmp(k, key, keylen) == 0;
}

/* The member of object obj named key (the last one, if repeated), or JD_NONE. */
uint32
jd_member(const JDoc *doc, uint32 obj, const char *key, size_t keylen)
{
	uint32		found = JD_NONE;
	uint32		end;

	if (obj == JD_NONE || doc->nodes[obj].type != JD_OBJECT)
		return JD_NONE;
	end = doc->nodes[obj].next;
	for (uint32 c = obj + 1; c < end; c = doc->nodes[c].next)
		if (key_is(doc, &doc->nodes[c], key, keylen))
			found = c;
	return found;
}

/* Element index of array arr (negative: from the end), or JD_NONE. */
uint32
jd_element(const JDoc *doc, uint32 arr, int64 index)
{
	uint32		end;
	int64		k = 0;

	if (arr == JD_NONE || doc->nodes[arr].type != JD_ARRAY)
		return JD_NONE;
	if (index < 0)
		index += doc->nodes[arr].count;
	if (index < 0 || index >= doc->nodes[arr].count)
		return JD_NONE;
	end = doc->nodes[arr].next;
	for (uint32 c = arr + 1; c < end; c = doc->nodes[c].next, k++)
		if (k == index)
			return c;
	return JD_NONE;
}

/* Append code point c as UTF-8. */
static char *
put_utf8(char *o, uint32 c)
{
	if (c < 0x80)
		*o++ = (char) c;
	else if (c < 0x800)
	{
		*o++ = (char) (0xC0 | (c >> 6));
		*o++ = (char) (0x80 | (c & 0x3F));
	}
	else if (c < 0x10000)
	{
		*o++ = (char) (0xE0 | (c >> 12));
		*o++ = (char) (0x80 | ((c >> 6) & 0x3F));
		*o++ = (char) (0x80 | (c & 0x3F));
	}
	else
	{
		*o++ = (char) (0xF0 | (c >> 18));
		*o++ = (char) (0x80 | ((c >> 12) & 0x3F));
		*o++ = (char) (0x80 | ((c >> 6) & 0x3F));
		*o++ = (char) (0x80 | (c & 0x3F));
	}
	return o;
}

/*
 * Decode a checked string's contents (len bytes between the quotes) into
 * out (len + 1 bytes: decoding never lengthens), NUL-terminated; returns
 * the decoded length, which counts any \u0000 in it.
 */
static size_t
decode_string(const char *text, size_t len, char *out)
{
	char	   *o = out;
	const char *p = text;
	const char *end = text + len;

	while (p < end)
	{
		if (*p != '\\')
		{
			*o++ = *p++;
			continue;
		}
		switch (p[1])
		{
			case 'b':
				*o++ = '\b';
				break;
			case 'f':
				*o++ = '\f';
				break;
			case 'n':
				*o++ = '\n';
				break;
			case 'r':
				*o++ = '\r';
				break;
			case 't':
				*o++ = '\t';
				break;
			case 'u':
				{
					uint32		u = (uint32) hex4(p + 2, end);

					if (u >= 0xD800 && u <= 0xDBFF)
					{
						uint32		lo = (uint32) hex4(p + 8, end);

						o = put_utf8(o, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
						p += 12;
					}
					else
					{
						o = put_utf8(o, u);
						p += 6;
					}
					continue;
				}
			default:
				*o++ = p[1];
		}
		p += 2;
	}
	*o = '\0';
	return (size_t) (o - out);
}

/*
 * A string node decoded, NUL-terminated (a \u0000 in it ends the C
 * string early: check has_nul first).
 */
char *
jd_string(const JDoc *doc, uint32 node)
{
	const JdNode *n = &doc->nodes[node];
	char	   *out = sync_alloc(n->len + 1);

	if (!n->escaped)
	{
		memcpy(out, n->text, n->len);
		out[n->len] = '\0';
		return out;
	}
	decode_string(n->text, n->len, out);
	return out;
}

/* Copy node's span to b without whitespace outside strings (compact JSON). */
static void
compact_into(JdBuf *b, const JDoc *doc, uint32 node)
{
	const JdNode *n = &doc->nodes[node];
	const char *p;
	const char *end;
	const char *run;
	bool		in_string = false;

	if (n->type == JD_STRING)
	{
		buf_add(b, n->text - 1, n->len + 2);
		return;
	}
	if (n->type != JD_OBJECT && n->type != JD_ARRAY)
	{
		buf_add(b, n->text, n->len);
		return;
	}
	p = run = n->text;
	end = n->text + n->len;
	for (; p < end; p++)
	{
		if (in_string)
		{
			if (*p == '\\')
				p++;
			else if (*p == '"')
				in_string = false;
			continue;
		}
		if (*p == '"')
			in_string = true;
		else if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
		{
			if (p > run)
				buf_add(b, run, p - run);
			run = p + 1;
		}
	}
	if (p > run)
		buf_add(b, run, p - run);
}

/* A node as compact JSON text. */
char *
jd_compact(const JDoc *doc, uint32 node)
{
	JdBuf		b = {0};

	compact_into(&b, doc, node);
	return b.data ? b.data : sync_strdup("");
}

/* Are all of a number's digits before its exponent zeros? */
static bool
zero_digits(const char *t)
{
	for (; *t && *t != 'e' && *t != 'E'; t++)
		if (*t >= '1' && *t <= '9')
			return false;
	return true;
}

/*
 * A scalar's text as a column takes it: a string decoded, an integer as
 * written, another number in the shortest form that reads back as the same
 * double (or as written when a double cannot hold it: it overflows to
 * infinity or underflows to zero), true, false; objects and arrays as
 * compact JSON; NULL for null.
 */
char *
jd_scalar_text(const JDoc *doc, uint32 node)
{
	const JdNode *n = &doc->nodes[node];

	switch ((JdType) n->type)
	{
		case JD_STRING:
			return jd_string(doc, node);
		case JD_NUMBER:
			{
				char	   *t = sync_alloc(n->len + 1);
				char		buf[64];
				double		d;

				memcpy(t, n->text, n->len);
				t[n->len] = '\0';
				if (n->integer)
					return t;
				d = strtod(t, NULL);
				/* beyond a double (1e400, 1e-400): as written, never Infinity or 0 */
				if (isinf(d) || (d == 0 && !zero_digits(t)))
					return t;
				double_to_shortest_decimal_buf(d, buf);
				return sync_strdup(buf);
			}
		case JD_TRUE:
			return "true";
		case JD_FALSE:
			return "false";
		case JD_NULL:
			return NULL;
		default:
			return jd_compact(doc, node);
	}
}

/* One path of member names to leave out of a record. */
typedef struct Drop
{
	const char *const *keys;
	int			n;
} Drop;

/* Does a member of obj after member c (up to end) have the name key? */
static bool
named_later(const JDoc *doc, uint32 c, uint32 end, const char *key)
{
	size_t		keylen = strlen(key);

	for (uint32 d = doc->nodes[c].next; d < end; d = doc->nodes[d].next)
		if (key_is(doc, &doc->nodes[d], key, keylen))
			return true;
	return false;
}

/*
 * Write object obj to b without the members drops[] name at level depth.
 *
 * A repeated name is written as often as it comes (jsonb keeps the last),
 * except a member whose insides lose fields: only the last of that name is
 * written, the one a column's path takes, so that an earlier one cannot
 * stand in for it when it is left empty and goes.
 */
static void
write_without(JdBuf *b, const JDoc *doc, uint32 obj, const Drop *drops, int ndrops, int depth,
			  bool *nul)
{
	uint32		end = doc->nodes[obj].next;
	bool		first = true;

	buf_add(b, "{", 1);
	for (uint32 c = obj + 1; c < end; c = doc->nodes[c].next)
	{
		const JdNode *m = &doc->nodes[c];
		bool		whole = false;
		Drop	   *deeper = NULL;
		int			ndeeper = 0;

		for (int d = 0; d < ndrops; d++)
		{
			const char *k = drops[d].keys[depth];

			if (drops[d].n <= depth || !key_is(doc, m, k, strlen(k)))
				continue;
			if (drops[d].n == depth + 1)
				whole = true;
			else
			{
				if (deeper == NULL)
					deeper = sync_alloc(sizeof(Drop) * ndrops);
				deeper[ndeeper++] = drops[d];
			}
		}
		if (whole)
			continue;
		if (ndeeper > 0 && named_later(doc, c, end, deeper[0].keys[depth]))
			continue;
		if (ndeeper > 0 && m->type == JD_OBJECT)
		{
			JdBuf		inner = {0};

			write_without(&inner, doc, c, deeper, ndeeper, depth + 1, nul);
			/* an object left empty goes too (one that was empty stays) */
			if (inner.len == 2 && m->count > 0)
				continue;
			if (!first)
				buf_add(b, ",", 1);
			buf_add(b, m->key - 1, m->keylen + 2);
			buf_add(b, ":", 1);
			buf_add(b, inner.data, inner.len);
			*nul |= m->key_nul;
		}
		else
		{
			if (!first)
				buf_add(b, ",", 1);
			buf_add(b, m->key - 1, m->keylen + 2);
			buf_add(b, ":", 1);
			compact_into(b, doc, c);
			*nul |= m->key_nul || jd_holds_nul(doc, c);
		}
		first = false;
	}
	buf_add(b, "}", 1);
}

/*
 * Record obj without the fields the spec's columns take, as compact JSON;
 * *nul tells whether what is left holds \u0000 (in a value or a name).
 * A column whose path is made of member names takes just that member
 * ($.address.city leaves address.country); one whose path goes through an
 * array index or a wildcard takes the top-level member it starts at.
 */
char *
jd_without(const JDoc *doc, uint32 obj, const SyncSpec *spec, bool *nul)
{
	Drop	   *drops = sync_alloc(sizeof(Drop) * Max(spec->ncolumns, 1));
	int			ndrops = 0;
	JdBuf		b = {0};

	for (int c = 0; c < spec->ncolumns; c++)
	{
		const SyncColumn *col = &spec->columns[c];

		if (col->npath_keys > 0)
		{
			drops[ndrops].keys = col->path_keys;
			drops[ndrops].n = col->npath_keys;
			ndrops++;
		}
		else if (sync_path_first_key(col->path) != NULL)
		{
			const char **one = sync_alloc(sizeof(char *));

			one[0] = sync_path_first_key(col->path);
			drops[ndrops].keys = one;
			drops[ndrops].n = 1;
			ndrops++;
		}
	}
	*nul = false;
	write_without(&b, doc, obj, drops, ndrops, 0, nul);
	return b.data;
}
