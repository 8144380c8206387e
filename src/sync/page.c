/*-------------------------------------------------------------------------
 *
 * page.c
 *	  Turn one page of an API's JSON into records of column texts, and read
 *	  the page's pagination facts (next cursor, next URL, total).
 *
 * The page is parsed once with jansson (allocating in the current memory
 * context, see sync_json_init); each record's columns are taken by path,
 * mapped through code-value maps and defaults, and handed on as C strings.
 * A record that cannot be read (not an object, a NUL in a string) gets a
 * problem instead of values, so the load can reject it alone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sync/syncjson.h"

/* A column's text for one record: path, then default, then the code map. */
static const char *
column_text(const SyncColumn *col, json_t *rec, bool *present, const char **problem)
{
	json_t	   *v = sync_path_get(col->path, rec);
	const char *t;

	*present = v != NULL && !json_is_null(v);
	if (!*present)
		t = col->has_default ? col->default_value : NULL;
	else
	{
		if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
		{
			*problem = sync_psprintf("field %s contains \\u0000, which text cannot hold", col->path_text);
			return NULL;
		}
		t = sync_json_scalar_text(v);
	}
	if (t != NULL && col->nmap > 0)
	{
		for (int m = 0; m < col->nmap; m++)
			if (strcmp(col->map_from[m], t) == 0)
				return col->map_to[m];
		if (col->has_otherwise)
			return col->otherwise;
	}
	return t;
}

/* The record without the members that mapped columns take, as JSON. */
static char *
unmapped_json(const SyncSpec *spec, json_t *rec)
{
	/* a shallow copy: json_object() itself is shadowed, see syncjson.h */
	json_t	   *rest = json_copy(rec);
	char	   *out;

	for (int c = 0; c < spec->ncolumns; c++)
	{
		const char *k = sync_path_first_key(spec->columns[c].path);

		if (k != NULL)
			json_object_del(rest, k);
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

/*
 * Parse a page body into page.  Returns false with *error set when the body
 * is not JSON (the page as a whole is then retried or fails the run).
 * Everything is allocated in the current memory context.
 */
bool
sync_page_parse(const SyncSpec *spec, const char *body, size_t len,
				SyncPage *page, char **error)
{
	json_error_t jerr;
	json_t	   *root;
	json_t	  **recs;
	int			n;
	int			nc = spec->ncolumns;

	sync_json_init();
	memset(page, 0, sizeof(SyncPage));
	root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
	if (root == NULL)
	{
		*error = sync_psprintf("malformed JSON at line %d, column %d: %s",
						  jerr.line, jerr.column, jerr.text);
		return false;
	}

	recs = sync_path_select(spec->records, root, &n);
	page->nrecords = n;
	page->ncolumns = nc;
	page->values = sync_alloc(sizeof(char *) * (Max(n, 1) * nc));
	page->present = sync_alloc(sizeof(bool) * (Max(n, 1) * nc));
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
															&problem);
		if (problem)
		{
			page->problem[i] = (char *) problem;
			continue;
		}
		if (spec->unmapped_column)
			page->unmapped[i] = unmapped_json(spec, rec);
	}

	if (spec->cursor_path)
		page->next_cursor = page_string(sync_path_get(spec->cursor_path, root));
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
