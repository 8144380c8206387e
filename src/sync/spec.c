/*-------------------------------------------------------------------------
 *
 * spec.c
 *	  Parse and validate a source spec (JSON) into a SyncSpec.
 *
 * Every error names the source, the JSON path of the bad value and what
 * was expected there (the readers of specvalue.c).  Values that must be
 * credentials are accepted only as {"secret": "name"} references and are
 * never echoed in a message, in case a plaintext was pasted by mistake.
 * The auth and errors sections are parsed by specauth.c.  Checks that need
 * the catalog (does the table exist, are the types known) are done by
 * target.c when a source is defined or run.
 *
 * jansson allocates through palloc (sync_json_init), so a parsed document
 * belongs to the current memory context and an error frees it with that
 * context: nothing leaks whichever way a parse ends.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "sync/spec.h"

static void
parse_request(SyncSpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const keys[] = {"url", "method", "params", "headers", "timeout_ms", "body", NULL};
	static const char *const methods[] = {"GET", "POST", NULL};
	json_t	   *r = sync_spec_object(cx, root, "", "request", true);

	sync_spec_keys(cx, r, "request", keys);
	s->url = sync_spec_url(cx, r, "request", "url", true);
	s->method = pstrdup(methods[sync_spec_choice(cx, r, "request", "method", methods, 0)]);
	s->params = sync_spec_pairs(cx, r, "request", "params", &s->nparams);
	s->headers = sync_spec_pairs(cx, r, "request", "headers", &s->nheaders);
	s->timeout_ms = (int) sync_spec_int(cx, r, "request", "timeout_ms", -1, 1, 3600 * 1000);
	s->body = sync_spec_json_template(cx, r, "request", "body");
	if (s->body && strcmp(s->method, "POST") != 0)
		sync_spec_bad(cx, "request.body", "needs request.method POST", NULL);
	for (int i = 0; i < s->nheaders; i++)
		if (s->headers[i].value.literal && sync_text_has_cursor(s->headers[i].value.literal))
			sync_spec_bad(cx, sync_spec_sub("request.headers", s->headers[i].name),
						  "cannot hold {cursor}: the cursor goes in request.params or request.body", NULL);
	for (int i = 0; i < s->nparams; i++)
		if (s->params[i].value.literal && sync_text_has_cursor(s->params[i].value.literal))
			s->cursor_placeholder = true;
	if (s->body && sync_text_has_cursor(s->body))
		s->cursor_placeholder = true;
}

static void
parse_pagination(SyncSpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const types[] = {"none", "page_number", "offset", "cursor",
	"link_header", "next_url", NULL};
	static const char *const keys[] = {"type", "page_param", "start", "size_param", "size",
		"offset_param", "limit_param", "limit", "cursor_param", "cursor_path",
		"next_url_path", "total_path", "stop_on_short_page", "max_pages",
	"has_more_path", "done_path", "in", NULL};
	static const char *const places[] = {"query", "body", NULL};
	json_t	   *p = sync_spec_object(cx, root, "", "pagination", false);
	const char *P = "pagination";

	s->page = p ? (SyncPageType) sync_spec_choice(cx, p, P, "type", types, -1) : SYNC_PAGE_NONE;
	if (p)
		sync_spec_keys(cx, p, P, keys);
	s->max_pages = sync_spec_int(cx, p, P, "max_pages", 1000000, 1, INT64CONST(1000000000));
	s->total_path = sync_spec_path(cx, p, P, "total_path", false, true, &s->total_path_text);
	s->has_more_path = sync_spec_path(cx, p, P, "has_more_path", false, true, &s->has_more_path_text);
	s->done_path = sync_spec_path(cx, p, P, "done_path", false, true, &s->done_path_text);
	s->page_in_body = sync_spec_choice(cx, p, P, "in", places, 0) == 1;

	/* keys that belong to one type only are refused elsewhere */
#define ONLY(key, cond, what) \
	do { if (p && json_object_get(p, key) && !(cond)) \
			sync_spec_bad(cx, sync_spec_sub(P, key), "is not used by pagination type " what, NULL); } while (0)

	ONLY("page_param", s->page == SYNC_PAGE_NUMBER, "other than page_number");
	ONLY("start", s->page == SYNC_PAGE_NUMBER || s->page == SYNC_PAGE_CURSOR, "other than page_number and cursor");
	ONLY("offset_param", s->page == SYNC_PAGE_OFFSET, "other than offset");
	ONLY("limit_param", s->page == SYNC_PAGE_OFFSET, "other than offset");
	ONLY("limit", s->page == SYNC_PAGE_OFFSET, "other than offset");
	ONLY("cursor_param", s->page == SYNC_PAGE_CURSOR, "other than cursor");
	ONLY("cursor_path", s->page == SYNC_PAGE_CURSOR, "other than cursor");
	ONLY("next_url_path", s->page == SYNC_PAGE_NEXT_URL, "other than next_url");
	ONLY("size_param", s->page != SYNC_PAGE_OFFSET && s->page != SYNC_PAGE_NONE, "offset or none (use limit_param)");
	ONLY("size", s->page != SYNC_PAGE_OFFSET && s->page != SYNC_PAGE_NONE, "offset or none (use limit)");
	ONLY("has_more_path", s->page != SYNC_PAGE_NONE, "none");
	ONLY("done_path", s->page != SYNC_PAGE_NONE, "none");
	ONLY("in", s->page == SYNC_PAGE_NUMBER || s->page == SYNC_PAGE_OFFSET || s->page == SYNC_PAGE_CURSOR,
		 "other than page_number, offset and cursor (the next page is a URL)");
#undef ONLY
	if (s->page_in_body && strcmp(s->method, "POST") != 0)
		sync_spec_bad(cx, "pagination.in", "is body, which needs request.method POST", NULL);

	switch (s->page)
	{
		case SYNC_PAGE_NONE:
			break;
		case SYNC_PAGE_NUMBER:
			s->page_param = sync_spec_string(cx, p, P, "page_param", false, "page");
			s->page_start = sync_spec_int(cx, p, P, "start", 1, 0, INT64CONST(1000000000));
			break;
		case SYNC_PAGE_OFFSET:
			s->offset_param = sync_spec_string(cx, p, P, "offset_param", false, "offset");
			s->size_param = sync_spec_string(cx, p, P, "limit_param", false, "limit");
			s->page_size = sync_spec_int(cx, p, P, "limit", 100, 1, 1000000);
			break;
		case SYNC_PAGE_CURSOR:
			s->cursor_param = sync_spec_string(cx, p, P, "cursor_param", false, "cursor");
			s->cursor_path = sync_spec_path(cx, p, P, "cursor_path", true, true, &s->cursor_path_text);
			{
				json_t	   *first = json_object_get(p, "start");

				if (first && !json_is_null(first))
				{
					if (!json_is_string(first) && !json_is_integer(first))
						sync_spec_bad(cx, "pagination.start",
									  psprintf("must be a string or an integer (the first page's cursor), not %s",
											   sync_spec_show(first)), NULL);
					s->cursor_first = pstrdup(sync_json_scalar_text(first));
					s->cursor_first_number = json_is_integer(first);
				}
			}
			break;
		case SYNC_PAGE_LINK:
			break;
		case SYNC_PAGE_NEXT_URL:
			s->next_url_path = sync_spec_path(cx, p, P, "next_url_path", true, true, &s->next_url_path_text);
			break;
	}
	if (s->page == SYNC_PAGE_NUMBER || s->page == SYNC_PAGE_CURSOR ||
		s->page == SYNC_PAGE_LINK || s->page == SYNC_PAGE_NEXT_URL)
	{
		s->size_param = sync_spec_string(cx, p, P, "size_param", false, NULL);
		s->page_size = sync_spec_int(cx, p, P, "size", 0, 1, 1000000);
		if (s->page_size > 0 && s->size_param == NULL && s->page == SYNC_PAGE_NUMBER)
			s->size_param = pstrdup("per_page");
	}
	/*
	 * A short page ends the walk only where the page size is known; by
	 * default only for page numbers and offsets: where the API names the
	 * next page, it is believed (an API may cap the size it was asked for).
	 */
	s->stop_short_page = sync_spec_bool(cx, p, P, "stop_on_short_page",
										s->page_size > 0 && (s->page == SYNC_PAGE_NUMBER ||
															 s->page == SYNC_PAGE_OFFSET));
	if (s->stop_short_page && s->page_size == 0)
		sync_spec_bad(cx, "pagination.stop_on_short_page", "needs a page size (size or limit)", NULL);
}

static void
parse_columns(SyncSpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const keys[] = {"name", "path", "type", "default", "map", "otherwise", "format", NULL};
	static const char *const formats[] = {"epoch", "epoch_ms", NULL};
	json_t	   *cols = json_object_get(root, "columns");
	size_t		i;
	json_t	   *c;

	if (cols == NULL || json_is_null(cols))
		sync_spec_bad(cx, "columns", "is required", "List the target columns: [{\"name\": \"id\", \"path\": \"$.id\"}, ...].");
	if (!json_is_array(cols) || json_array_size(cols) == 0)
		sync_spec_bad(cx, "columns", psprintf("must be a non-empty array, not %s", sync_spec_show(cols)), NULL);
	if (json_array_size(cols) > 90)
		sync_spec_bad(cx, "columns", psprintf("has %zu columns, more than the limit of 90", json_array_size(cols)), NULL);
	s->ncolumns = (int) json_array_size(cols);
	s->columns = palloc0(sizeof(SyncColumn) * s->ncolumns);
	json_array_foreach(cols, i, c)
	{
		SyncColumn *col = &s->columns[i];
		char	   *P = psprintf("columns[%zu]", i);
		json_t	   *d;
		json_t	   *map;

		if (!json_is_object(c))
			sync_spec_bad(cx, P, psprintf("must be an object, not %s", sync_spec_show(c)), NULL);
		sync_spec_keys(cx, c, P, keys);
		col->name = sync_spec_string(cx, c, P, "name", true, NULL);
		sync_spec_name(cx, sync_spec_sub(P, "name"), col->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->columns[j].name, col->name) == 0)
				sync_spec_bad(cx, sync_spec_sub(P, "name"), psprintf("repeats column \"%s\"", col->name), NULL);
		if (json_object_get(c, "path"))
		{
			/* a wildcard collects its matches into an array */
			col->path = sync_spec_path(cx, c, P, "path", true, false, &col->path_text);
			col->collect = sync_path_has_wildcard(col->path);
		}
		else
		{
			char	   *err = NULL;

			col->path_text = psprintf("$['%s']", col->name);
			col->path = sync_path_compile(col->path_text, true, &err);
			if (col->path == NULL)
				sync_spec_bad(cx, sync_spec_sub(P, "name"), psprintf("cannot serve as a path: %s", err),
					"Give the column a \"path\".");
		}
		col->npath_keys = sync_path_keys(col->path, &col->path_keys);
		col->type = sync_spec_string(cx, c, P, "type", false, NULL);
		d = json_object_get(c, "default");
		if (d != NULL && !json_is_null(d))
		{
			if (json_is_object(d) || json_is_array(d))
				col->default_value = json_dumps(d, JSON_COMPACT);
			else
				col->default_value = sync_json_scalar_text(d);
			col->default_value = pstrdup(col->default_value);
			col->has_default = true;
		}
		map = json_object_get(c, "map");
		if (map != NULL && !json_is_null(map))
		{
			const char *k;
			json_t	   *v;
			int			m = 0;

			if (!json_is_object(map) || json_object_size(map) == 0)
				sync_spec_bad(cx, sync_spec_sub(P, "map"), psprintf("must be a non-empty object of code: value, not %s", sync_spec_show(map)), NULL);
			col->nmap = (int) json_object_size(map);
			col->map_from = palloc(sizeof(char *) * col->nmap);
			col->map_to = palloc(sizeof(char *) * col->nmap);
			json_object_foreach(map, k, v)
			{
				if (json_is_object(v) || json_is_array(v))
					sync_spec_bad(cx, sync_spec_sub(sync_spec_sub(P, "map"), k), psprintf("must be a string, a number or null, not %s", sync_spec_kind(v)), NULL);
				col->map_from[m] = pstrdup(k);
				col->map_to[m] = json_is_null(v) ? NULL : pstrdup(sync_json_scalar_text(v));
				m++;
			}
		}
		d = json_object_get(c, "otherwise");
		if (d != NULL)
		{
			if (col->nmap == 0)
				sync_spec_bad(cx, sync_spec_sub(P, "otherwise"), "needs a \"map\"", NULL);
			if (json_is_object(d) || json_is_array(d))
				sync_spec_bad(cx, sync_spec_sub(P, "otherwise"), psprintf("must be a string, a number or null, not %s", sync_spec_kind(d)), NULL);
			col->has_otherwise = true;
			col->otherwise_null = json_is_null(d);
			col->otherwise = json_is_null(d) ? NULL : pstrdup(sync_json_scalar_text(d));
		}
		if (col->collect && col->nmap > 0)
			sync_spec_bad(cx, sync_spec_sub(P, "map"),
						  "cannot apply to a path with a wildcard, which collects an array", NULL);
		/* Unix times: the column's type is checked against the table */
		d = json_object_get(c, "format");
		if (d != NULL && !json_is_null(d))
			col->epoch = sync_spec_choice(cx, c, P, "format", formats, -1) == 1 ? 1000 : 1;
		if (col->epoch && col->collect)
			sync_spec_bad(cx, sync_spec_sub(P, "format"),
						  "cannot apply to a path with a wildcard, which collects an array", NULL);
	}
}

/* Is name one of the spec's columns? */
static bool
has_column(const SyncSpec *s, const char *name)
{
	for (int i = 0; i < s->ncolumns; i++)
		if (strcmp(s->columns[i].name, name) == 0)
			return true;
	return false;
}

static void
parse_target(SyncSpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const keys[] = {"table", "create", "primary_key", "unmapped_column", NULL};
	json_t	   *t = sync_spec_object(cx, root, "", "target", true);
	json_t	   *pk;

	sync_spec_keys(cx, t, "target", keys);
	s->table = sync_spec_string(cx, t, "target", "table", true, NULL);
	s->create = sync_spec_bool(cx, t, "target", "create", false);
	pk = json_object_get(t, "primary_key");
	if (pk != NULL && !json_is_null(pk))
	{
		if (json_is_string(pk))
		{
			s->npk = 1;
			s->primary_key = palloc(sizeof(char *));
			s->primary_key[0] = pstrdup(json_string_value(pk));
		}
		else if (json_is_array(pk) && json_array_size(pk) > 0 && json_array_size(pk) <= 32)
		{
			size_t		i;
			json_t	   *e;

			s->npk = (int) json_array_size(pk);
			s->primary_key = palloc(sizeof(char *) * s->npk);
			json_array_foreach(pk, i, e)
			{
				if (!json_is_string(e))
					sync_spec_bad(cx, psprintf("target.primary_key[%zu]", i), psprintf("must be a column name, not %s", sync_spec_show(e)), NULL);
				s->primary_key[i] = pstrdup(json_string_value(e));
			}
		}
		else
			sync_spec_bad(cx, "target.primary_key", psprintf("must be a column name or an array of 1 to 32 names, not %s", sync_spec_show(pk)), NULL);
		for (int i = 0; i < s->npk; i++)
			if (!has_column(s, s->primary_key[i]))
				sync_spec_bad(cx, "target.primary_key", psprintf("names \"%s\", which is not one of the columns", s->primary_key[i]),
					"Primary key columns must be mapped in \"columns\".");
	}
	else if (s->create)
		sync_spec_bad(cx, "target.primary_key", "is required when the table is created", NULL);
	s->unmapped_column = sync_spec_string(cx, t, "target", "unmapped_column", false, NULL);
	if (s->unmapped_column)
	{
		sync_spec_name(cx, "target.unmapped_column", s->unmapped_column);
		if (has_column(s, s->unmapped_column))
			sync_spec_bad(cx, "target.unmapped_column", psprintf("\"%s\" is also a mapped column", s->unmapped_column), NULL);
	}
}

/* A string or a number member, as text (NULL when absent). */
static char *
scalar_text(SyncSpecCtx *cx, json_t *obj, const char *path, const char *key)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;

	if (v == NULL || json_is_null(v))
		return NULL;
	if (json_is_number(v))
		return pstrdup(sync_json_scalar_text(v));
	return sync_spec_string(cx, obj, path, key, true, NULL);
}

static void
parse_mode(SyncSpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const types[] = {"full_refresh", "incremental", NULL};
	static const char *const deletes[] = {"none", "delete", "soft_delete", NULL};
	static const char *const keys[] = {"type", "delete", "soft_delete_column", "cursor_column",
	"cursor_param", "lookback", "start", "cursor_format", NULL};
	json_t	   *m = sync_spec_object(cx, root, "", "mode", false);
	const char *P = "mode";

	s->incremental = m ? sync_spec_choice(cx, m, P, "type", types, -1) == 1 : false;
	if (m)
		sync_spec_keys(cx, m, P, keys);
	s->delete_mode = (SyncDelete) sync_spec_choice(cx, m, P, "delete", deletes, 0);
	if (s->incremental && s->delete_mode != SYNC_DELETE_NONE)
		sync_spec_bad(cx, "mode.delete", "is only for full_refresh: an incremental run does not see rows deleted upstream", NULL);
	if (s->delete_mode == SYNC_DELETE_SOFT)
	{
		s->soft_delete_column = sync_spec_string(cx, m, P, "soft_delete_column", true, NULL);
		sync_spec_name(cx, "mode.soft_delete_column", s->soft_delete_column);
		if (has_column(s, s->soft_delete_column))
			sync_spec_bad(cx, "mode.soft_delete_column", psprintf("\"%s\" is also a mapped column", s->soft_delete_column), NULL);
	}
	else if (m && json_object_get(m, "soft_delete_column"))
		sync_spec_bad(cx, "mode.soft_delete_column", "is only for delete soft_delete", NULL);
	if (s->incremental)
	{
		s->cursor_column = sync_spec_string(cx, m, P, "cursor_column", true, NULL);
		if (!has_column(s, s->cursor_column))
			sync_spec_bad(cx, "mode.cursor_column", psprintf("names \"%s\", which is not one of the columns", s->cursor_column), NULL);
		/* the cursor goes out as a parameter, or where {cursor} stands */
		s->cursor_request_param = sync_spec_string(cx, m, P, "cursor_param", !s->cursor_placeholder, NULL);
		/* an interval for time cursors, a number for numeric ones */
		s->lookback = scalar_text(cx, m, P, "lookback");
		s->cursor_start = scalar_text(cx, m, P, "start");
		s->cursor_format = sync_spec_string(cx, m, P, "cursor_format", false, NULL);
		if (s->cursor_format && s->cursor_format[0] == '\0')
			sync_spec_bad(cx, "mode.cursor_format", "must not be empty", NULL);
	}
	else
	{
		static const char *const inc[] = {"cursor_column", "cursor_param", "lookback", "start",
		"cursor_format", NULL};

		for (int i = 0; inc[i]; i++)
			if (m && json_object_get(m, inc[i]))
				sync_spec_bad(cx, sync_spec_sub(P, inc[i]), "is only for mode incremental", NULL);
		if (s->cursor_placeholder)
			sync_spec_bad(cx, "request", "holds {cursor}, which is filled in only by mode incremental", NULL);
	}
}

static void
parse_limits(SyncSpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const rkeys[] = {"max_attempts", "backoff_ms", "max_backoff_ms", "max_retry_after_ms", NULL};
	static const char *const lkeys[] = {"requests_per_second", NULL};
	static const char *const jkeys[] = {"policy", "max", "retry", NULL};
	static const char *const policies[] = {"continue", "fail", NULL};
	json_t	   *r = sync_spec_object(cx, root, "", "retry", false);
	json_t	   *l = sync_spec_object(cx, root, "", "rate_limit", false);
	json_t	   *j = sync_spec_object(cx, root, "", "rejects", false);

	if (r)
		sync_spec_keys(cx, r, "retry", rkeys);
	s->max_attempts = (int) sync_spec_int(cx, r, "retry", "max_attempts", 5, 1, 100);
	s->backoff_ms = (int) sync_spec_int(cx, r, "retry", "backoff_ms", 500, 0, 3600 * 1000);
	s->max_backoff_ms = (int) sync_spec_int(cx, r, "retry", "max_backoff_ms", 30000, 0, 3600 * 1000);
	s->max_retry_after_ms = (int) sync_spec_int(cx, r, "retry", "max_retry_after_ms", 120000, 0, 3600 * 1000);

	if (l)
	{
		json_t	   *v = json_object_get(l, "requests_per_second");

		sync_spec_keys(cx, l, "rate_limit", lkeys);
		if (v == NULL || !json_is_number(v) || json_number_value(v) <= 0 ||
			json_number_value(v) > 100000)
			sync_spec_bad(cx, "rate_limit.requests_per_second",
				psprintf("must be a number above 0 and at most 100000, not %s", sync_spec_show(v)), NULL);
		s->requests_per_second = json_number_value(v);
	}

	s->batch_pages = (int) sync_spec_int(cx, root, "", "batch_pages", 10, 1, 100000);

	if (j)
		sync_spec_keys(cx, j, "rejects", jkeys);
	s->reject_fail = sync_spec_choice(cx, j, "rejects", "policy", policies, 0) == 1;
	s->max_rejects = sync_spec_int(cx, j, "rejects", "max", s->reject_fail ? 0 : 1000, 0, INT64CONST(1000000000));
	s->retry_rejects = sync_spec_bool(cx, j, "rejects", "retry", true);
}

/*
 * Parse spec_json (the text of a jsonb spec) for source.  Raises an error
 * naming the JSON path of the first problem.
 */
SyncSpec *
sync_spec_parse(const char *source, const char *spec_json)
{
	static const char *const keys[] = {"description", "request", "auth", "pagination", "records",
		"target", "columns", "mode", "retry", "rate_limit", "batch_pages",
	"rejects", "errors", NULL};
	SyncSpecCtx	cx = {source};
	SyncSpec   *s = palloc0(sizeof(SyncSpec));
	json_error_t jerr;
	json_t	   *root;

	sync_json_init();
	s->source = pstrdup(source);
	root = json_loads(spec_json, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid spec for source \"%s\": %s", source, jerr.text),
				 errhidestmt(true)));
	if (!json_is_object(root))
		sync_spec_bad(&cx, "(the spec)", psprintf("must be a JSON object, not %s", sync_spec_kind(root)), NULL);
	sync_spec_keys(&cx, root, "", keys);
	sync_spec_string(&cx, root, "", "description", false, NULL);

	parse_request(&cx, s, root);
	sync_spec_parse_auth(&cx, s, root);
	parse_pagination(&cx, s, root);
	s->records = sync_spec_path(&cx, root, "", "records", false, false, &s->records_text);
	if (s->records == NULL)
	{
		char	   *err;

		s->records_text = pstrdup("$");
		s->records = sync_path_compile("$", false, &err);
	}
	parse_columns(&cx, s, root);
	parse_target(&cx, s, root);
	parse_mode(&cx, s, root);
	parse_limits(&cx, s, root);
	sync_spec_parse_errors(&cx, s, root);

	/* a parameter the source sends must not be set twice */
	for (int i = 0; i < s->nparams; i++)
	{
		const char *n = s->params[i].name;
		bool		paging = !s->page_in_body;

		if ((paging && s->page_param && strcmp(n, s->page_param) == 0) ||
			(paging && s->size_param && strcmp(n, s->size_param) == 0) ||
			(paging && s->offset_param && strcmp(n, s->offset_param) == 0) ||
			(paging && s->cursor_param && strcmp(n, s->cursor_param) == 0) ||
			(paging && s->cursor_request_param && strcmp(n, s->cursor_request_param) == 0) ||
			(s->api_key_in_query && strcmp(n, s->api_key_name) == 0) ||
			(s->auth == SYNC_AUTH_TOKEN && s->token_in_query && strcmp(n, s->token_name) == 0))
			sync_spec_bad(&cx, psprintf("request.params.%s", n),
				"is also set by the source's pagination, mode or auth", NULL);
	}
	json_decref(root);
	return s;
}

/*
 * The text of a scalar JSON value as a column input: strings as they are,
 * numbers in the shortest form that reads back to the same double, true and
 * false, objects and arrays as compact JSON; NULL for JSON null.  Safe in
 * the parser thread (allocates with sync_alloc).
 */
char *
sync_json_scalar_text(json_t *v)
{
	char		buf[64];

	switch (json_typeof(v))
	{
		case JSON_STRING:
			return (char *) json_string_value(v);
		case JSON_INTEGER:
			snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			return sync_strdup(buf);
		case JSON_REAL:
			/* the shortest text that reads back as the same double (Ryu) */
			double_to_shortest_decimal_buf(json_real_value(v), buf);
			return sync_strdup(buf);
		case JSON_TRUE:
			return "true";
		case JSON_FALSE:
			return "false";
		case JSON_NULL:
			return NULL;
		default:
			return json_dumps(v, JSON_COMPACT);
	}
}
