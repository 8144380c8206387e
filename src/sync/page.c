/*-------------------------------------------------------------------------
 *
 * page.c
 *	  Turn one page of an API's JSON into records of column texts, and read
 *	  the page's pagination facts (next cursor, next URL, total, has-more)
 *	  and the API's own error code.
 *
 * The page is parsed once with jansson (allocating in the current memory
 * context, or the parser thread's arena: see sync_json_init and arena.c);
 * each record's columns are taken by path, mapped through code-value maps
 * and defaults, and handed on as C strings.  A path with a wildcard
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

#include "sync/syncjson.h"

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

/* Append v as compact JSON. */
static void
buf_json(Buf *b, json_t *v)
{
	char	   *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	buf_str(b, s ? s : "null");
}

/*
 * Append a JSON value as an element of a PostgreSQL array literal: null as
 * NULL, an array as a nested {...}, anything else double-quoted (strings as
 * they are, numbers and booleans as their text, objects as JSON).  Returns
 * false when a string holds \u0000, which no text can.
 */
static bool
array_element(Buf *b, json_t *v, int depth)
{
	const char *s;

	if (json_is_null(v))
	{
		buf_str(b, "NULL");
		return true;
	}
	if (json_is_array(v) && depth < 6)
	{
		size_t		i;
		json_t	   *e;

		buf_str(b, "{");
		json_array_foreach(v, i, e)
		{
			if (i > 0)
				buf_str(b, ",");
			if (!array_element(b, e, depth + 1))
				return false;
		}
		buf_str(b, "}");
		return true;
	}
	if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
		return false;
	s = (json_is_object(v) || json_is_array(v)) ?
		json_dumps(v, JSON_COMPACT) : sync_json_scalar_text(v);
	if (s == NULL)
		s = "null";
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
column_text(const SyncColumn *col, json_t *rec, bool *present, bool *number,
			const char **problem)
{
	json_t	   *v;
	const char *t;

	*number = false;
	if (col->collect)
	{
		int			n;
		json_t	  **m = sync_path_select(col->path, rec, &n);
		Buf			b = {0};

		*present = n > 0;
		if (n == 0 && col->has_default)
			return col->default_value;
		buf_str(&b, col->pg_array ? "{" : "[");
		for (int i = 0; i < n; i++)
		{
			if (i > 0)
				buf_str(&b, ",");
			if (!col->pg_array)
				buf_json(&b, m[i]);
			else if (!array_element(&b, m[i], 1))
			{
				*problem = sync_psprintf("field %s contains \\u0000, which text cannot hold", col->path_text);
				return NULL;
			}
		}
		buf_str(&b, col->pg_array ? "}" : "]");
		return b.data;
	}

	v = sync_path_get(col->path, rec);
	*present = v != NULL && !json_is_null(v);
	if (!*present)
		t = col->has_default ? col->default_value : NULL;
	else if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
	{
		*problem = sync_psprintf("field %s contains \\u0000, which text cannot hold", col->path_text);
		return NULL;
	}
	else if (json_is_array(v) && col->pg_array)
	{
		Buf			b = {0};

		if (!array_element(&b, v, 0))
		{
			*problem = sync_psprintf("field %s contains \\u0000, which text cannot hold", col->path_text);
			return NULL;
		}
		return b.data;
	}
	else
	{
		*number = json_is_number(v);
		t = sync_json_scalar_text(v);
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

/*
 * Remove the member that keys[0..n) names from obj, a copy that the caller
 * owns; objects on the way are copied before they are changed, and left
 * out when nothing remains in them.
 */
static void
remove_member(json_t *obj, const char *const *keys, int n)
{
	json_t	   *child;
	json_t	   *copy;

	if (n == 1)
	{
		json_object_del(obj, keys[0]);
		return;
	}
	child = json_object_get(obj, keys[0]);
	if (!json_is_object(child))
		return;
	/* a shallow copy: json_object() itself is shadowed, see syncjson.h */
	copy = json_copy(child);
	if (copy == NULL)
		return;
	remove_member(copy, keys + 1, n - 1);
	if (json_object_size(copy) == 0)
	{
		json_object_del(obj, keys[0]);
		json_decref(copy);
	}
	else
		json_object_set_new(obj, keys[0], copy);
}

/*
 * The record without the fields that mapped columns take, as JSON.  A
 * column whose path is made of member names takes just that member
 * ($.address.city leaves address.country); one whose path goes through an
 * array index or a wildcard takes the top-level member it starts at.
 */
static char *
unmapped_json(const SyncSpec *spec, json_t *rec)
{
	json_t	   *rest = json_copy(rec);
	char	   *out;

	for (int c = 0; c < spec->ncolumns; c++)
	{
		const SyncColumn *col = &spec->columns[c];

		if (col->npath_keys > 0)
			remove_member(rest, col->path_keys, col->npath_keys);
		else
		{
			const char *k = sync_path_first_key(col->path);

			if (k != NULL)
				json_object_del(rest, k);
		}
	}
	out = json_dumps(rest, JSON_COMPACT);
	json_decref(rest);
	return out;
}

/* A cursor or URL value from the page: strings and numbers, else NULL. */
static char *
page_string(json_t *v)
{
	if (v == NULL || json_is_null(v) || json_is_object(v) || json_is_array(v) ||
		json_is_boolean(v))
		return NULL;
	if (json_is_string(v) && (json_string_length(v) == 0 ||
							  strlen(json_string_value(v)) != json_string_length(v)))
		return NULL;
	return sync_strdup(sync_json_scalar_text(v));
}

/* A has-more or done flag: true, false, or -1 when absent or not a flag. */
static int
page_flag(json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v) ? 1 : 0;
	if (json_is_string(v))
	{
		if (strcmp(json_string_value(v), "true") == 0)
			return 1;
		if (strcmp(json_string_value(v), "false") == 0)
			return 0;
	}
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
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
read_api_error(const SyncSpec *spec, json_t *root, char **code, char **message)
{
	json_t	   *c;
	char	   *text;

	*code = *message = NULL;
	if (spec->errors.code_path == NULL)
		return;
	c = sync_path_get(spec->errors.code_path, root);
	if (c == NULL || json_is_null(c) || json_is_object(c) || json_is_array(c))
		return;
	text = sync_json_scalar_text(c);
	if (text == NULL || sync_api_verdict(spec, text) == SYNC_API_OK)
		return;
	*code = sync_strdup(text);
	if (spec->errors.message_path)
	{
		json_t	   *m = sync_path_get(spec->errors.message_path, root);

		if (m && (json_is_string(m) || json_is_number(m)))
			*message = sync_strdup(sync_json_scalar_text(m));
	}
}

/*
 * The API's error code in a body that may be JSON (an answer with an error
 * status, a token response), and what it asks for.  SYNC_API_OK, with
 * *code NULL, when there is none.  Backend only.
 */
SyncApiVerdict
sync_api_error(const SyncSpec *spec, const char *body, size_t len, char **code, char **message)
{
	json_t	   *root;

	*code = *message = NULL;
	if (spec->errors.code_path == NULL || body == NULL)
		return SYNC_API_OK;
	sync_json_init();
	root = json_loadb(body, len, JSON_DECODE_ANY, NULL);
	if (root == NULL)
		return SYNC_API_OK;
	read_api_error(spec, root, code, message);
	json_decref(root);
	return *code ? sync_api_verdict(spec, *code) : SYNC_API_OK;
}

/* Fill page with the records selected in root. */
static void
page_records(const SyncSpec *spec, json_t **recs, int n, SyncPage *page)
{
	int			nc = spec->ncolumns;

	page->nrecords = n;
	page->ncolumns = nc;
	page->values = sync_alloc0(sizeof(char *) * (Max(n, 1) * nc));
	page->present = sync_alloc0(sizeof(bool) * (Max(n, 1) * nc));
	page->number = sync_alloc0(sizeof(bool) * (Max(n, 1) * nc));
	page->problem = sync_alloc0(sizeof(char *) * Max(n, 1));
	page->unmapped = sync_alloc0(sizeof(char *) * Max(n, 1));
	page->raw = sync_alloc(sizeof(void *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		json_t	   *rec = recs[i];
		const char *problem = NULL;

		page->raw[i] = rec;
		if (!json_is_object(rec))
		{
			char	   *s = json_dumps(rec, JSON_COMPACT | JSON_ENCODE_ANY);

			page->problem[i] = sync_psprintf("the record is not a JSON object: %.60s", s ? s : "?");
			continue;
		}
		for (int c = 0; c < nc && problem == NULL; c++)
			page->values[i * nc + c] = (char *) column_text(&spec->columns[c], rec,
															&page->present[i * nc + c],
															&page->number[i * nc + c],
															&problem);
		if (problem)
		{
			page->problem[i] = (char *) problem;
			continue;
		}
		if (spec->unmapped_column)
			page->unmapped[i] = unmapped_json(spec, rec);
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
	json_error_t jerr;
	json_t	   *root;
	json_t	  **recs;
	int			n;

	sync_json_init();
	memset(page, 0, sizeof(SyncPage));
	page->more = -1;
	page->hash = hash_bytes((const unsigned char *) body, (int) len);
	root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
	if (root == NULL)
	{
		*error = sync_psprintf("malformed JSON at line %d, column %d: %s",
							   jerr.line, jerr.column, jerr.text);
		return false;
	}

	/* an answer with the API's error code carries no records */
	read_api_error(spec, root, &page->api_code, &page->api_message);
	if (page->api_code)
	{
		page_records(spec, NULL, 0, page);
		return true;
	}

	recs = sync_path_select(spec->records, root, &n);
	page_records(spec, recs, n, page);

	if (spec->cursor_path)
	{
		json_t	   *c = sync_path_get(spec->cursor_path, root);

		page->next_cursor = page_string(c);
		page->next_cursor_number = page->next_cursor && json_is_number(c);
	}
	if (spec->next_url_path)
		page->next_url = page_string(sync_path_get(spec->next_url_path, root));
	if (spec->total_path)
	{
		json_t	   *t = sync_path_get(spec->total_path, root);

		if (json_is_integer(t))
		{
			page->has_total = true;
			page->total = json_integer_value(t);
		}
		else if (json_is_string(t))
		{
			char	   *end;

			page->total = strtoll(json_string_value(t), &end, 10);
			page->has_total = end != json_string_value(t) && *end == '\0';
		}
	}
	if (spec->has_more_path)
		page->more = page_flag(sync_path_get(spec->has_more_path, root)) == 1 ? 1 : 0;
	if (spec->done_path && page->more != 0)
	{
		int			done = page_flag(sync_path_get(spec->done_path, root));

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
	json_error_t jerr;
	json_t	   *root;
	json_t	  **recs;
	size_t		i;
	json_t	   *e;

	sync_json_init();
	memset(page, 0, sizeof(SyncPage));
	page->more = -1;
	root = json_loadb(body, len, 0, &jerr);
	if (root == NULL || !json_is_array(root))
	{
		*error = sync_psprintf("the kept records are not a JSON array: %s", root ? "" : jerr.text);
		return false;
	}
	recs = sync_alloc(sizeof(json_t *) * Max(json_array_size(root), 1));
	json_array_foreach(root, i, e)
		recs[i] = e;
	page_records(spec, recs, (int) json_array_size(root), page);
	return true;
}

/* Record i of a parsed page as compact JSON (for concord.sync_reject). */
char *
sync_page_record_json(const SyncPage *page, int i)
{
	char	   *s = json_dumps((json_t *) page->raw[i], JSON_COMPACT | JSON_ENCODE_ANY);

	return s ? s : pstrdup("null");
}

/*
 * Read an OAuth2 token response.  Returns false with *error set (never
 * containing a token) when there is no access token.
 */
bool
sync_oauth_parse(const char *body, size_t len, char **access_token,
				 char **refresh_token, int64 *expires_in, char **error)
{
	json_error_t jerr;
	json_t	   *root;
	json_t	   *v;

	sync_json_init();
	*access_token = *refresh_token = NULL;
	*expires_in = -1;
	root = json_loadb(body, len, 0, &jerr);
	if (root == NULL || !json_is_object(root))
	{
		*error = pstrdup("the token response is not a JSON object");
		return false;
	}
	v = json_object_get(root, "access_token");
	if (!json_is_string(v) || json_string_length(v) == 0)
	{
		json_t	   *e = json_object_get(root, "error");

		*error = json_is_string(e) ?
			psprintf("the token endpoint answered error \"%.100s\"", json_string_value(e)) :
			pstrdup("the token response has no access_token");
		return false;
	}
	*access_token = pstrdup(json_string_value(v));
	v = json_object_get(root, "refresh_token");
	if (json_is_string(v) && json_string_length(v) > 0)
		*refresh_token = pstrdup(json_string_value(v));
	v = json_object_get(root, "expires_in");
	if (json_is_integer(v))
		*expires_in = json_integer_value(v);
	else if (json_is_real(v))
		*expires_in = (int64) json_real_value(v);
	else if (json_is_string(v))
		*expires_in = strtoll(json_string_value(v), NULL, 10);
	json_decref(root);
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
	json_t	   *root;
	json_t	   *v;
	char	   *code;
	char	   *message;

	sync_json_init();
	*token = NULL;
	*expires_in = -1;
	root = json_loadb(body, len, 0, NULL);
	if (root == NULL || !json_is_object(root))
	{
		*error = pstrdup("the token response is not a JSON object");
		return false;
	}
	v = sync_path_get(spec->token_path, root);
	if (!json_is_string(v) || json_string_length(v) == 0 ||
		strlen(json_string_value(v)) != json_string_length(v) ||
		strpbrk(json_string_value(v), "\r\n") != NULL)
	{
		read_api_error(spec, root, &code, &message);
		*error = code ?
			psprintf("the token endpoint answered error %.100s%s%.200s", code,
					 message ? ": " : "", message ? message : "") :
			psprintf("the token response has no token at %s", spec->token_path_text);
		return false;
	}
	*token = pstrdup(json_string_value(v));
	if (spec->expires_path)
	{
		v = sync_path_get(spec->expires_path, root);
		if (json_is_integer(v))
			*expires_in = json_integer_value(v);
		else if (json_is_real(v))
			*expires_in = (int64) json_real_value(v);
		else if (json_is_string(v))
			*expires_in = strtoll(json_string_value(v), NULL, 10);
	}
	json_decref(root);
	return true;
}
