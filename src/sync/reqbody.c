/*-------------------------------------------------------------------------
 *
 * reqbody.c
 *	  What a source sends besides its URL: the incremental cursor put where
 *	  {cursor} stands (a query parameter's text, a JSON body), the secrets a
 *	  body names, the paging members a body carries.
 *
 * {cursor} is the value of the source's incremental cursor for this pass
 * (the stored cursor less the lookback, written as mode.cursor_format
 * says), for APIs that take it inside an expression: an OData $filter,
 * SOQL, JQL, a search request's filter.  Before there is a cursor (the
 * first run, with no mode.start) a parameter or body member holding
 * {cursor} is left out.
 *
 * Backend only: jansson allocates in the current memory context, and the
 * secret callback may raise an error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "sync/syncjson.h"

#define CURSOR_MARK "{cursor}"

/* Does text hold {cursor}? */
bool
sync_text_has_cursor(const char *text)
{
	return text != NULL && strstr(text, CURSOR_MARK) != NULL;
}

/* text with every {cursor} replaced by cursor (palloc'd). */
char *
sync_text_fill_cursor(const char *text, const char *cursor)
{
	StringInfoData out;
	const char *p = text;
	const char *m;

	initStringInfo(&out);
	while ((m = strstr(p, CURSOR_MARK)) != NULL)
	{
		appendBinaryStringInfo(&out, p, m - p);
		appendStringInfoString(&out, cursor);
		p = m + strlen(CURSOR_MARK);
	}
	appendStringInfoString(&out, p);
	return out.data;
}

typedef struct Fill
{
	const char *source;
	const char *cursor;
	SyncSecretFn secret;
	void	   *arg;
} Fill;

/* Is v a {"secret": "name"} reference?  Its name, or NULL. */
static const char *
secret_name(json_t *v)
{
	json_t	   *s;

	if (!json_is_object(v) || json_object_size(v) != 1)
		return NULL;
	s = json_object_get(v, "secret");
	return json_is_string(s) ? json_string_value(s) : NULL;
}

/*
 * The value v filled in: secrets resolved, {cursor} replaced; NULL when v
 * is to be left out (it holds {cursor} and there is no cursor yet).
 * Returns a new reference.
 */
static json_t *
fill(Fill *f, json_t *v)
{
	const char *name = secret_name(v);

	if (name != NULL)
	{
		char	   *plain = f->secret(name, f->arg);

		return json_string(plain);
	}
	if (json_is_string(v) && sync_text_has_cursor(json_string_value(v)))
	{
		if (f->cursor == NULL)
			return NULL;
		/* a string stays a string (APIs' filters take "1700000000000") */
		return json_string(sync_text_fill_cursor(json_string_value(v), f->cursor));
	}
	if (json_is_object(v))
	{
		/* json_object() itself is shadowed (syncjson.h): start from a copy */
		json_t	   *out = json_copy(v);
		const char *k;
		json_t	   *e;
		void	   *tmp;

		json_object_foreach_safe(out, tmp, k, e)
		{
			json_t	   *n = fill(f, e);

			if (n == NULL)
				json_object_del(out, k);
			else
				json_object_set_new(out, k, n);
		}
		return out;
	}
	if (json_is_array(v))
	{
		json_t	   *out = json_array();
		size_t		i;
		json_t	   *e;

		json_array_foreach(v, i, e)
		{
			json_t	   *n = fill(f, e);

			if (n != NULL)
				json_array_append_new(out, n);
		}
		return out;
	}
	return json_incref(v);
}

/*
 * The JSON body of a request, as text: template_json (or {} when NULL)
 * with secrets and the cursor filled in and the members extra[0..n) set
 * at its top level (the paging parameters of pagination.in body).
 */
char *
sync_body_build(const char *source, const char *template_json, const char *path,
				const char *cursor, const SyncBodyMember *extra, int nextra,
				SyncSecretFn secret, void *arg)
{
	Fill		f = {source, cursor, secret, arg};
	json_t	   *tmpl;
	json_t	   *body;
	char	   *text;

	sync_json_init();
	tmpl = json_loads(template_json ? template_json : "{}", 0, NULL);
	if (tmpl == NULL || !json_is_object(tmpl))
		elog(ERROR, "the %s of source \"%s\" is not a JSON object", path, source);
	body = fill(&f, tmpl);
	for (int i = 0; i < nextra; i++)
	{
		json_t	   *v = NULL;

		if (extra[i].number)
			v = json_loads(extra[i].value, JSON_DECODE_ANY, NULL);
		if (v == NULL)
			v = json_string(extra[i].value);
		json_object_set_new(body, extra[i].name, v);
	}
	text = json_dumps(body, JSON_COMPACT);
	if (text == NULL)
		elog(ERROR, "could not write the %s of source \"%s\"", path, source);
	return text;
}

/* Collect the names of the secrets v names, into *out. */
static void
collect_secrets(json_t *v, List **out)
{
	const char *name = secret_name(v);

	if (name != NULL)
		*out = lappend(*out, pstrdup(name));
	else if (json_is_object(v))
	{
		const char *k;
		json_t	   *e;

		json_object_foreach(v, k, e)
			collect_secrets(e, out);
	}
	else if (json_is_array(v))
	{
		size_t		i;
		json_t	   *e;

		json_array_foreach(v, i, e)
			collect_secrets(e, out);
	}
}

/* The names of the secrets a body template names (a List of char *). */
List *
sync_body_secrets(const char *template_json)
{
	List	   *out = NIL;
	json_t	   *tmpl;

	if (template_json == NULL)
		return NIL;
	sync_json_init();
	tmpl = json_loads(template_json, 0, NULL);
	if (tmpl != NULL)
		collect_secrets(tmpl, &out);
	return out;
}
