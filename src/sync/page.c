/*-------------------------------------------------------------------------
 *
 * page.c
 *	  Turn one page of an API's JSON into records of column texts, and read
 *	  the page's pagination facts (next cursor, next URL, total, has-more)
 *	  and the API's own error code.
 *
 * The page is parsed once (jdoc.c, allocating in the current memory
 * context or the parser thread's arena: see arena.c); each record's
 * columns are taken by path, mapped through code-value maps and defaults,
 * and handed on as C strings.  A path with a wildcard
 * collects its matches as a JSON array; a JSON array bound for an array
 * column is written as an array literal.  A record that cannot be read
 * (not an object, a NUL in a string) gets a problem instead of values, so
 * the load can reject it alone.
 *
 * Everything here may run in the parser thread: no palloc, no elog; memory
 * comes from sync_alloc.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"

#include "sync/jdoc.h"

/* A growing string in sync_alloc memory (safe in the parser thread). */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_reserve(Buf *b, size_t more)
{
	if (b->len + more + 1 > b->cap)
	{
		size_t		cap = Max(b->cap * 2, b->len + more + 64);
		char	   *d = sync_alloc(cap);

		if (b->len)
			memcpy(d, b->data, b->len);
		b->data = d;
		b->cap = cap;
	}
}

static void
buf_add(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_str(Buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append node v as compact JSON. */
static void
buf_json(Buf *b, const JDoc *doc, uint32 v)
{
	buf_str(b, jd_compact(doc, v));
}

/*
 * Append a JSON value as an element of a PostgreSQL array literal: null as
 * NULL, an array as a nested {...}, anything else double-quoted (strings as
 * they are, numbers and booleans as their text, objects as JSON).  Returns
 * false when a string holds \u0000, which no text can.
 */
static bool
array_element(Buf *b, const JDoc *doc, uint32 v, int depth)
{
	const JdNode *n = &doc->nodes[v];
	const char *s;

	if (n->type == JD_NULL)
	{
		buf_str(b, "NULL");
		return true;
	}
	if (n->type == JD_ARRAY && depth < 6)
	{
		bool		first = true;

		buf_str(b, "{");
		for (uint32 c = v + 1; c < n->next; c = doc->nodes[c].next)
		{
			if (!first)
				buf_str(b, ",");
			first = false;
			if (!array_element(b, doc, c, depth + 1))
				return false;
		}
		buf_str(b, "}");
		return true;
	}
	if (n->type == JD_STRING && n->has_nul)
		return false;
	s = jd_scalar_text(doc, v);
	buf_str(b, "\"");
	for (const char *c = s; *c; c++)
	{
		if (*c == '"' || *c == '\\')
			buf_add(b, "\\", 1);
		buf_add(b, c, 1);
	}
	buf_str(b, "\"");
	return true;
}

/* A column's text for one record: path, then default, then the code map. */
static const char *
column_text(const SyncColumn *col, const JDoc *doc, uint32 rec, bool *present, bool *number,
			const char **problem)
{
	uint32		v;
	const JdNode *n;
	const char *t;

	*number = false;
	if (col->collect)
	{
		int			count;
		uint32	   *m = sync_path_nodes(col->path, doc, rec, &count);
		Buf			b = {0};

		*present = count > 0;
		if (count == 0 && col->has_default)
			return col->default_value;
		buf_str(&b, col->pg_array ? "{" : "[");
		for (int i = 0; i < count; i++)
		{
			if (i > 0)
				buf_str(&b, ",");
			if (!col->pg_array)
				buf_json(&b, doc, m[i]);
			else if (!array_element(&b, doc, m[i], 1))
			{
				*problem = sync_psprintf("field %s contains \\u0000, which text cannot hold", col->path_text);
				return NULL;
			}
		}
		buf_str(&b, col->pg_array ? "}" : "]");
		return b.data;
	}

	v = sync_path_node(col->path, doc, rec);
	n = v != JD_NONE ? &doc->nodes[v] : NULL;
	*present = n != NULL && n->type != JD_NULL;
	if (!*present)
		t = col->has_default ? col->default_value : NULL;
	else if (n->type == JD_STRING && n->has_nul)
	{
		*problem = sync_psprintf("field %s contains \\u0000, which text cannot hold", col->path_text);
		return NULL;
	}
	else if ((n->type == JD_OBJECT || n->type == JD_ARRAY) && col->type != NULL &&
			 pg_strcasecmp(col->type, "jsonb") == 0 && jd_holds_nul(doc, v))
	{
		*problem = sync_psprintf("field %s contains \\u0000, which jsonb cannot hold", col->path_text);
		return NULL;
	}
	else if (n->type == JD_ARRAY && col->pg_array)
	{
		Buf			b = {0};

		if (!array_element(&b, doc, v, 0))
		{
			*problem = sync_psprintf("field %s contains \\u0000, which text cannot hold", col->path_text);
			return NULL;
		}
		return b.data;
	}
	else
	{
		*number = n->type == JD_NUMBER;
		t = jd_scalar_text(doc, v);
	}
	if (t != NULL && col->nmap > 0)
	{
		for (int m = 0; m < col->nmap; m++)
			if (strcmp(col->map_from[m], t) == 0)
			{
				*number = false;
				return col->map_to[m];
			}
		if (col->has_otherwise)
		{
			*number = false;
			return col->otherwise;
		}
	}
	return t;
}

/* A cursor or URL value from the page: strings and numbers, else NULL. */
static char *
page_string(const JDoc *doc, uint32 v)
{
	const JdNode *n;

	if (v == JD_NONE)
		return NULL;
	n = &doc->nodes[v];
	if (n->type != JD_STRING && n->type != JD_NUMBER)
		return NULL;
	if (n->type == JD_STRING && (n->len == 0 || n->has_nul))
		return NULL;
	return jd_scalar_text(doc, v);
}

/* A has-more or done flag: true, false, or -1 when absent or not a flag. */
static int
page_flag(const JDoc *doc, uint32 v)
{
	const JdNode *n;

	if (v == JD_NONE)
		return -1;
	n = &doc->nodes[v];
	if (n->type == JD_TRUE || n->type == JD_FALSE)
		return n->type == JD_TRUE;
	if (n->type == JD_STRING && n->len == 4 && memcmp(n->text, "true", 4) == 0)
		return 1;
	if (n->type == JD_STRING && n->len == 5 && memcmp(n->text, "false", 5) == 0)
		return 0;
	if (n->type == JD_NUMBER && n->integer)
		return !(n->len == 1 && n->text[0] == '0');
	return -1;
}

/* Is code one of list? */
static bool
code_in(const char *code, char *const *list, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(code, list[i]) == 0)
			return true;
	return false;
}

/* What the API's error code (not NULL) asks for, by the spec's lists. */
SyncApiVerdict
sync_api_verdict(const SyncSpec *spec, const char *code)
{
	const SyncErrors *x = &spec->errors;

	if (code == NULL || code_in(code, x->ok, x->nok))
		return SYNC_API_OK;
	if (code_in(code, x->token, x->ntoken))
		return SYNC_API_TOKEN;
	if (code_in(code, x->retry, x->nretry))
		return SYNC_API_RETRY;
	return SYNC_API_FAIL;
}

/*
 * The API's error code and message in a parsed answer, when the spec has
 * an errors section and the code there is not a success; else NULL.
 */
static void
read_api_error(const SyncSpec *spec, const JDoc *doc, char **code, char **message)
{
	uint32		c;
	char	   *text;

	*code = *message = NULL;
	if (spec->errors.code_path == NULL)
		return;
	c = sync_path_node(spec->errors.code_path, doc, 0);
	if (c == JD_NONE || doc->nodes[c].type == JD_NULL || doc->nodes[c].type == JD_OBJECT ||
		doc->nodes[c].type == JD_ARRAY)
		return;
	text = jd_scalar_text(doc, c);
	if (text == NULL || sync_api_verdict(spec, text) == SYNC_API_OK)
		return;
	*code = text;
	if (spec->errors.message_path)
	{
		uint32		m = sync_path_node(spec->errors.message_path, doc, 0);

		if (m != JD_NONE && (doc->nodes[m].type == JD_STRING || doc->nodes[m].type == JD_NUMBER))
			*message = jd_scalar_text(doc, m);
	}
}

/*
 * The API's error code in a body that may be JSON (an answer with an error
 * status, a token response), and what it asks for.  SYNC_API_OK, with
 * *code NULL, when there is none.
 */
SyncApiVerdict
sync_api_error(const SyncSpec *spec, const char *body, size_t len, char **code, char **message)
{
	JDoc		doc;
	char	   *error;

	*code = *message = NULL;
	if (spec->errors.code_path == NULL || body == NULL || !jd_parse(body, len, &doc, &error))
		return SYNC_API_OK;
	read_api_error(spec, &doc, code, message);
	return *code ? sync_api_verdict(spec, *code) : SYNC_API_OK;
}

/* Fill page with the records recs[0..n) of its document. */
static void
page_records(const SyncSpec *spec, const JDoc *doc, uint32 *recs, int n, SyncPage *page)
{
	int			nc = spec->ncolumns;

	page->nrecords = n;
	page->ncolumns = nc;
	page->values = sync_alloc0(sizeof(char *) * (Max(n, 1) * nc));
	page->present = sync_alloc0(sizeof(bool) * (Max(n, 1) * nc));
	page->number = sync_alloc0(sizeof(bool) * (Max(n, 1) * nc));
	page->problem = sync_alloc0(sizeof(char *) * Max(n, 1));
	page->unmapped = sync_alloc0(sizeof(char *) * Max(n, 1));
	page->raw = recs;
	for (int i = 0; i < n; i++)
	{
		uint32		rec = recs[i];
		const char *problem = NULL;

		if (doc->nodes[rec].type != JD_OBJECT)
		{
			page->problem[i] = sync_psprintf("the record is not a JSON object: %.60s", jd_compact(doc, rec));
			continue;
		}
		for (int c = 0; c < nc && problem == NULL; c++)
			page->values[i * nc + c] = (char *) column_text(&spec->columns[c], doc, rec,
															&page->present[i * nc + c],
															&page->number[i * nc + c],
															&problem);
		if (problem)
		{
			page->problem[i] = (char *) problem;
			continue;
		}
		if (spec->unmapped_column)
		{
			bool		nul;

			page->unmapped[i] = jd_without(doc, rec, spec, &nul);
			if (nul)
				page->problem[i] = sync_psprintf("a field kept in column %s contains \\u0000, which jsonb cannot hold",
												 spec->unmapped_column);
		}
	}
}

/*
 * Parse a page body into page.  Returns false with *error set when the body
 * is not JSON (the page as a whole is then retried or fails the run).
 * Everything is allocated in the current memory context (or arena).
 */
bool
sync_page_parse(const SyncSpec *spec, const char *body, size_t len,
				SyncPage *page, char **error)
{
	JDoc	   *doc = sync_alloc(sizeof(JDoc));
	uint32	   *recs;
	int			n;

	memset(page, 0, sizeof(SyncPage));
	page->more = -1;
	page->hash = hash_bytes((const unsigned char *) body, (int) len);
	if (!jd_parse(body, len, doc, error))
		return false;
	page->doc = doc;

	/* an answer with the API's error code carries no records */
	read_api_error(spec, doc, &page->api_code, &page->api_message);
	if (page->api_code)
	{
		page_records(spec, doc, NULL, 0, page);
		return true;
	}

	recs = sync_path_nodes(spec->records, doc, 0, &n);
	page_records(spec, doc, recs, n, page);

	if (spec->cursor_path)
	{
		uint32		c = sync_path_node(spec->cursor_path, doc, 0);

		page->next_cursor = page_string(doc, c);
		page->next_cursor_number = page->next_cursor && doc->nodes[c].type == JD_NUMBER;
	}
	if (spec->next_url_path)
		page->next_url = page_string(doc, sync_path_node(spec->next_url_path, doc, 0));
	if (spec->total_path)
	{
		uint32		t = sync_path_node(spec->total_path, doc, 0);

		if (t != JD_NONE && (doc->nodes[t].type == JD_NUMBER || doc->nodes[t].type == JD_STRING))
		{
			char	   *text = jd_scalar_text(doc, t);
			char	   *end;

			page->total = strtoll(text, &end, 10);
			page->has_total = end != text && *end == '\0';
		}
	}
	if (spec->has_more_path)
		page->more = page_flag(doc, sync_path_node(spec->has_more_path, doc, 0)) == 1 ? 1 : 0;
	if (spec->done_path && page->more != 0)
	{
		int			done = page_flag(doc, sync_path_node(spec->done_path, doc, 0));

		if (done >= 0)
			page->more = !done;
	}
	return true;
}

/*
 * Parse a JSON array of raw records (rejected records kept for a retry)
 * into page, one record per element, whatever the spec's records path.
 */
bool
sync_page_parse_array(const SyncSpec *spec, const char *body, size_t len,
					  SyncPage *page, char **error)
{
	JDoc	   *doc = sync_alloc(sizeof(JDoc));
	uint32	   *recs;
	int			n = 0;

	memset(page, 0, sizeof(SyncPage));
	page->more = -1;
	if (!jd_parse(body, len, doc, error))
		return false;
	if (doc->nodes[0].type != JD_ARRAY)
	{
		*error = sync_strdup("the kept records are not a JSON array");
		return false;
	}
	page->doc = doc;
	recs = sync_alloc(sizeof(uint32) * Max(doc->nodes[0].count, 1));
	for (uint32 c = 1; c < doc->nodes[0].next; c = doc->nodes[c].next)
		recs[n++] = c;
	page_records(spec, doc, recs, n, page);
	return true;
}

/* Record i of a parsed page as compact JSON (for concord.sync_reject). */
char *
sync_page_record_json(const SyncPage *page, int i)
{
	return jd_compact(page->doc, page->raw[i]);
}

/* The text of a member that holds a string or a number, or NULL. */
static char *
member_text(const JDoc *doc, uint32 obj, const char *key)
{
	uint32		v = jd_member(doc, obj, key, strlen(key));

	if (v == JD_NONE || (doc->nodes[v].type != JD_STRING && doc->nodes[v].type != JD_NUMBER))
		return NULL;
	return jd_scalar_text(doc, v);
}

/*
 * Read an OAuth2 token response.  Returns false with *error set (never
 * containing a token) when there is no access token.
 */
bool
sync_oauth_parse(const char *body, size_t len, char **access_token,
				 char **refresh_token, int64 *expires_in, char **error)
{
	JDoc		doc;
	char	   *why;
	char	   *v;

	*access_token = *refresh_token = NULL;
	*expires_in = -1;
	if (!jd_parse(body, len, &doc, &why) || doc.nodes[0].type != JD_OBJECT)
	{
		*error = pstrdup("the token response is not a JSON object");
		return false;
	}
	v = member_text(&doc, 0, "access_token");
	if (v == NULL || v[0] == '\0' || strpbrk(v, "\r\n") != NULL)
	{
		char	   *e = member_text(&doc, 0, "error");

		*error = e ? psprintf("the token endpoint answered error \"%.100s\"", e) :
			pstrdup("the token response has no access_token");
		return false;
	}
	*access_token = pstrdup(v);
	v = member_text(&doc, 0, "refresh_token");
	if (v && v[0] != '\0')
		*refresh_token = pstrdup(v);
	v = member_text(&doc, 0, "expires_in");
	if (v)
		*expires_in = (int64) strtod(v, NULL);
	return true;
}

/*
 * Read the answer of a token endpoint (auth type token): the token at
 * auth.token_path and, with auth.expires_path, how many seconds it lives
 * (-1 unknown).  Returns false with *error set (never holding a token):
 * the API's own error code and message when it gave them.
 */
bool
sync_token_parse(const SyncSpec *spec, const char *body, size_t len,
				 char **token, int64 *expires_in, char **error)
{
	JDoc		doc;
	char	   *why;
	uint32		v;
	char	   *code;
	char	   *message;

	*token = NULL;
	*expires_in = -1;
	if (!jd_parse(body, len, &doc, &why) || doc.nodes[0].type != JD_OBJECT)
	{
		*error = pstrdup("the token response is not a JSON object");
		return false;
	}
	v = sync_path_node(spec->token_path, &doc, 0);
	if (v == JD_NONE || doc.nodes[v].type != JD_STRING || doc.nodes[v].len == 0 ||
		doc.nodes[v].has_nul || strpbrk(jd_string(&doc, v), "\r\n") != NULL)
	{
		read_api_error(spec, &doc, &code, &message);
		*error = code ?
			psprintf("the token endpoint answered error %.100s%s%.200s", code,
					 message ? ": " : "", message ? message : "") :
			psprintf("the token response has no token at %s", spec->token_path_text);
		return false;
	}
	*token = pstrdup(jd_string(&doc, v));
	if (spec->expires_path)
	{
		v = sync_path_node(spec->expires_path, &doc, 0);
		if (v != JD_NONE && (doc.nodes[v].type == JD_NUMBER || doc.nodes[v].type == JD_STRING))
			*expires_in = (int64) strtod(jd_scalar_text(&doc, v), NULL);
	}
	return true;
}
