/*-------------------------------------------------------------------------
 *
 * spec.c
 *	  Parse and validate a source spec (JSON) into a SyncSpec.
 *
 * Every error names the source, the JSON path of the bad value and what
 * was expected there.  Values that must be credentials are accepted only
 * as {"secret": "name"} references and are never echoed in a message, in
 * case a plaintext was pasted by mistake.  Checks that need the catalog
 * (does the table exist, are the types known) are done by source.c.
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

#include "compat.h"
#include "sync/syncjson.h"

typedef struct SpecCtx
{
	const char *source;
} SpecCtx;

/*
 * Make jansson allocate in the current memory context (or, in the parser
 * thread, in its arena: see arena.c).  Called by the backend before any
 * jansson use; cheap to repeat.
 */
void
sync_json_init(void)
{
	static bool done = false;

	if (!done)
	{
		json_set_alloc_funcs(sync_alloc_noerror, sync_free);
		done = true;
	}
}

/* A short JSON rendering of a bad value for messages. */
static char *
show(json_t *v)
{
	char	   *s;

	if (v == NULL)
		return pstrdup("nothing");
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		return pstrdup("?");
	if (strlen(s) > 80)
		strcpy(s + 72, "...");
	return s;
}

static const char *
kind(json_t *v)
{
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			return "an object";
		case JSON_ARRAY:
			return "an array";
		case JSON_STRING:
			return "a string";
		case JSON_INTEGER:
		case JSON_REAL:
			return "a number";
		case JSON_TRUE:
		case JSON_FALSE:
			return "a boolean";
		default:
			return "null";
	}
}

/* path.key, or key at the top. */
static char *
sub(const char *path, const char *key)
{
	return path[0] ? psprintf("%s.%s", path, key) : pstrdup(key);
}

pg_noreturn static void bad(SpecCtx *cx, const char *path, const char *msg, const char *hint);

/*
 * Raise that the value at path of source's spec is bad: msg says what was
 * expected (and, unless it may be a credential, what came).
 */
void
sync_spec_error(const char *source, const char *path, const char *msg, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid spec for source \"%s\": %s %s", source, path, msg),
			 errdetail("Path: %s.", path),
			 hint ? errhint("%s", hint) : 0,
			 /* the statement holds the spec: a pasted credential, perhaps */
			 errhidestmt(true)));
}

/* Raise an error about the value at path. */
static void
bad(SpecCtx *cx, const char *path, const char *msg, const char *hint)
{
	sync_spec_error(cx->source, path, msg, hint);
}

/* Refuse keys of obj not in allowed (NULL-terminated). */
static void
check_keys(SpecCtx *cx, json_t *obj, const char *path, const char *const *allowed)
{
	const char *key;
	json_t	   *v;

	json_object_foreach(obj, key, v)
	{
		bool		ok = false;
		StringInfoData list;

		for (int i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				ok = true;
		if (ok)
			continue;
		initStringInfo(&list);
		for (int i = 0; allowed[i]; i++)
			appendStringInfo(&list, "%s%s", i ? ", " : "", allowed[i]);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid spec for source \"%s\": unknown key \"%s\"%s%s",
						cx->source, key, path[0] ? " in " : "", path),
				 errdetail("Path: %s.", sub(path, key)),
				 errhint("Known keys here: %s.", list.data),
				 errhidestmt(true)));
	}
}

/* An object member that must be an object when present. */
static json_t *
get_object(SpecCtx *cx, json_t *obj, const char *path, const char *key, bool required)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;

	if (v == NULL || json_is_null(v))
	{
		if (required)
			bad(cx, sub(path, key), "is required", NULL);
		return NULL;
	}
	if (!json_is_object(v))
		bad(cx, sub(path, key), psprintf("must be an object, not %s", kind(v)), NULL);
	return v;
}

static char *
get_string(SpecCtx *cx, json_t *obj, const char *path, const char *key,
		   bool required, const char *dflt)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;

	if (v == NULL || json_is_null(v))
	{
		if (required)
			bad(cx, sub(path, key), "is required", NULL);
		return dflt ? pstrdup(dflt) : NULL;
	}
	if (!json_is_string(v))
		bad(cx, sub(path, key), psprintf("must be a string, not %s", show(v)), NULL);
	if (strlen(json_string_value(v)) != json_string_length(v))
		bad(cx, sub(path, key), "must not contain \\u0000", NULL);
	if (required && json_string_length(v) == 0)
		bad(cx, sub(path, key), "must not be empty", NULL);
	return pstrdup(json_string_value(v));
}

static int64
get_int(SpecCtx *cx, json_t *obj, const char *path, const char *key,
		int64 dflt, int64 min, int64 max)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;
	int64		n;

	if (v == NULL || json_is_null(v))
		return dflt;
	if (json_is_integer(v))
		n = json_integer_value(v);
	else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
			 fabs(json_real_value(v)) < 9e15)
		n = (int64) json_real_value(v);
	else
		bad(cx, sub(path, key), psprintf("must be an integer, not %s", show(v)), NULL);
	if (n < min || n > max)
		bad(cx, sub(path, key),
			psprintf("must be between " INT64_FORMAT " and " INT64_FORMAT ", not " INT64_FORMAT,
					 min, max, n), NULL);
	return n;
}

static bool
get_bool(SpecCtx *cx, json_t *obj, const char *path, const char *key, bool dflt)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;

	if (v == NULL || json_is_null(v))
		return dflt;
	if (!json_is_boolean(v))
		bad(cx, sub(path, key), psprintf("must be true or false, not %s", show(v)), NULL);
	return json_is_true(v);
}

/* A string member that must be one of choices; returns its index. */
static int
get_choice(SpecCtx *cx, json_t *obj, const char *path, const char *key,
		   const char *const *choices, int dflt)
{
	char	   *s = get_string(cx, obj, path, key, dflt < 0, NULL);
	StringInfoData list;

	if (s == NULL)
		return dflt;
	initStringInfo(&list);
	for (int i = 0; choices[i]; i++)
	{
		if (strcmp(s, choices[i]) == 0)
			return i;
		appendStringInfo(&list, "%s%s", i ? ", " : "", choices[i]);
	}
	bad(cx, sub(path, key), psprintf("must be one of %s, not \"%s\"", list.data, s), NULL);
}

/* Is v a {"secret": "name"} reference?  Sets *name. */
static bool
secret_ref(SpecCtx *cx, json_t *v, const char *path, char **name)
{
	json_t	   *s;

	if (!json_is_object(v))
		return false;
	s = json_object_get(v, "secret");
	if (json_object_size(v) != 1 || s == NULL || !json_is_string(s) ||
		json_string_length(s) == 0)
		bad(cx, path, "must be {\"secret\": \"name\"}", NULL);
	*name = pstrdup(json_string_value(s));
	return true;
}

/*
 * A value given as text (strings and numbers) or as a secret reference.
 * With must_be_secret, only a reference is accepted and a bad value is not
 * shown (it may be a pasted credential).
 */
static SyncValue
get_value(SpecCtx *cx, json_t *obj, const char *path, const char *key,
		  bool required, bool must_be_secret)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;
	char	   *p = sub(path, key);
	SyncValue	out = {NULL, NULL};

	if (v == NULL || json_is_null(v))
	{
		if (required)
			bad(cx, p, must_be_secret ? "is required, as {\"secret\": \"name\"}" : "is required", NULL);
		return out;
	}
	if (secret_ref(cx, v, p, &out.secret))
		return out;
	if (must_be_secret)
		bad(cx, p, psprintf("must be {\"secret\": \"name\"}, not %s", kind(v)),
			"Credentials are kept in concord.secret: store it with concord.secret_set(name, value) and refer to it by name.");
	if (json_is_string(v))
		out.literal = pstrdup(json_string_value(v));
	else if (json_is_number(v) || json_is_boolean(v))
		out.literal = sync_json_scalar_text(v);
	else
		bad(cx, p, psprintf("must be a string, a number or {\"secret\": \"name\"}, not %s", kind(v)), NULL);
	if (out.literal && strpbrk(out.literal, "\r\n") != NULL)
		bad(cx, p, "must not contain a line break", NULL);
	return out;
}

/*
 * Does a request header carry credentials by its name: Authorization,
 * Proxy-Authorization, Cookie, X-Api-Key, Api-Key, Token, X-Auth-Token and
 * the like?
 */
static bool
credential_header(const char *name)
{
	static const char *const words[] = {
		"auth", "token", "secret", "passw", "cookie", "session", "signature",
		"credential", "apikey", "api-key", "api_key", "access-key",
		"access_key", "private-key", "private_key", NULL
	};
	char	   *lower = pstrdup(name);

	for (char *c = lower; *c; c++)
		*c = pg_ascii_tolower((unsigned char) *c);
	if (strcmp(lower, "key") == 0 || strcmp(lower, "x-key") == 0)
		return true;
	for (int i = 0; words[i]; i++)
		if (strstr(lower, words[i]) != NULL)
			return true;
	return false;
}

/*
 * Does a header value look like a credential: an HTTP authentication
 * scheme and its token ("Bearer ...", "Basic ..."), or a JSON Web Token?
 */
static bool
credential_value(const char *value)
{
	static const char *const schemes[] = {
		"bearer", "basic", "token", "digest", "negotiate", "ntlm", "hawk",
		"oauth", "bot", "apikey", "sharedkey", "aws4-hmac-sha256", NULL
	};
	const char *v = value;

	while (*v == ' ' || *v == '\t')
		v++;
	for (int i = 0; schemes[i]; i++)
	{
		size_t		len = strlen(schemes[i]);

		if (pg_strncasecmp(v, schemes[i], len) == 0 && (v[len] == ' ' || v[len] == '\t'))
		{
			const char *t = v + len;

			while (*t == ' ' || *t == '\t')
				t++;
			if (*t != '\0')
				return true;
		}
	}
	/* header.payload.signature, the header being base64url of {"... */
	if (strncmp(v, "eyJ", 3) == 0)
	{
		const char *dot = strchr(v, '.');

		if (dot && strchr(dot + 1, '.'))
			return true;
	}
	return false;
}

/*
 * An object of name -> value pairs (query parameters, headers).  A header
 * named like a credential, or whose value looks like one, must be a
 * {"secret": "name"} reference, as in auth.
 */
static SyncPair *
get_pairs(SpecCtx *cx, json_t *obj, const char *path, const char *key, int *n)
{
	bool		headers = strcmp(key, "headers") == 0;
	json_t	   *o = get_object(cx, obj, path, key, false);
	char	   *p = sub(path, key);
	SyncPair   *pairs;
	const char *k;
	json_t	   *v;
	int			i = 0;

	*n = 0;
	if (o == NULL)
		return NULL;
	pairs = palloc0(sizeof(SyncPair) * (json_object_size(o) + 1));
	json_object_foreach(o, k, v)
	{
		if (k[0] == '\0')
			bad(cx, p, "has an empty name", NULL);
		pairs[i].name = pstrdup(k);
		pairs[i].value = get_value(cx, o, p, k, true, headers && credential_header(k));
		if (headers && pairs[i].value.literal && credential_value(pairs[i].value.literal))
			bad(cx, sub(p, k), "looks like a credential: it must be {\"secret\": \"name\"}",
				"Credentials are kept in concord.secret: store it with concord.secret_set(name, value) and refer to it by name.");
		i++;
	}
	*n = i;
	return pairs;
}

/* A compiled JSON path member. */
static SyncPath *
get_path(SpecCtx *cx, json_t *obj, const char *path, const char *key,
		 bool required, bool singular, char **text)
{
	char	   *s = get_string(cx, obj, path, key, required, NULL);
	char	   *err = NULL;
	SyncPath   *p;

	if (text)
		*text = s;
	if (s == NULL)
		return NULL;
	p = sync_path_compile(s, singular, &err);
	if (p == NULL)
		bad(cx, sub(path, key), psprintf("is not a valid JSON path (\"%s\"): %s", s, err),
			"Write paths like $.data[*] for records and $.address.city for a field.");
	return p;
}

/* A SQL identifier-ish name: non-empty, no NUL, at most NAMEDATALEN-1 bytes. */
static void
check_name(SpecCtx *cx, const char *path, const char *name)
{
	if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		bad(cx, path, psprintf("must be a column name of 1 to %d bytes, not \"%s\"",
							   NAMEDATALEN - 1, name), NULL);
}

static void
parse_request(SpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const keys[] = {"url", "method", "params", "headers", "timeout_ms", NULL};
	static const char *const methods[] = {"GET", "POST", NULL};
	json_t	   *r = get_object(cx, root, "", "request", true);

	check_keys(cx, r, "request", keys);
	s->url = get_string(cx, r, "request", "url", true, NULL);
	if (strncmp(s->url, "http://", 7) != 0 && strncmp(s->url, "https://", 8) != 0)
		bad(cx, "request.url", psprintf("must be an http:// or https:// URL, not \"%s\"", s->url), NULL);
	s->method = pstrdup(methods[get_choice(cx, r, "request", "method", methods, 0)]);
	s->params = get_pairs(cx, r, "request", "params", &s->nparams);
	s->headers = get_pairs(cx, r, "request", "headers", &s->nheaders);
	s->timeout_ms = (int) get_int(cx, r, "request", "timeout_ms", -1, 1, 3600 * 1000);
}

static void
parse_auth(SpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const types[] = {"none", "api_key", "basic", "bearer", "oauth2", NULL};
	json_t	   *a = get_object(cx, root, "", "auth", false);

	s->auth = a ? (SyncAuthType) get_choice(cx, a, "auth", "type", types, -1) : SYNC_AUTH_NONE;
	switch (s->auth)
	{
		case SYNC_AUTH_NONE:
			{
				static const char *const keys[] = {"type", NULL};

				if (a)
					check_keys(cx, a, "auth", keys);
				break;
			}
		case SYNC_AUTH_API_KEY:
			{
				static const char *const keys[] = {"type", "in", "name", "value", NULL};
				static const char *const where[] = {"header", "query", NULL};

				check_keys(cx, a, "auth", keys);
				s->api_key_in_query = get_choice(cx, a, "auth", "in", where, 0) == 1;
				s->api_key_name = get_string(cx, a, "auth", "name", false,
											 s->api_key_in_query ? "api_key" : "X-Api-Key");
				if (s->api_key_name[0] == '\0' || strpbrk(s->api_key_name, ":\r\n =&") != NULL)
					bad(cx, "auth.name", psprintf("must be a header or parameter name, not \"%s\"", s->api_key_name), NULL);
				s->api_key = get_value(cx, a, "auth", "value", true, true);
				break;
			}
		case SYNC_AUTH_BASIC:
			{
				static const char *const keys[] = {"type", "username", "password", NULL};

				check_keys(cx, a, "auth", keys);
				s->username = get_value(cx, a, "auth", "username", true, false);
				s->password = get_value(cx, a, "auth", "password", true, true);
				break;
			}
		case SYNC_AUTH_BEARER:
			{
				static const char *const keys[] = {"type", "token", NULL};

				check_keys(cx, a, "auth", keys);
				s->token = get_value(cx, a, "auth", "token", true, true);
				break;
			}
		case SYNC_AUTH_OAUTH2:
			{
				static const char *const keys[] = {"type", "grant_type", "token_url", "client_id",
				"client_secret", "refresh_token", "scope", "client_auth", NULL};
				static const char *const grants[] = {"client_credentials", "refresh_token", NULL};
				static const char *const cauth[] = {"body", "basic", NULL};

				check_keys(cx, a, "auth", keys);
				s->oauth_refresh = get_choice(cx, a, "auth", "grant_type", grants, 0) == 1;
				s->token_url = get_string(cx, a, "auth", "token_url", true, NULL);
				if (strncmp(s->token_url, "http://", 7) != 0 && strncmp(s->token_url, "https://", 8) != 0)
					bad(cx, "auth.token_url", psprintf("must be an http:// or https:// URL, not \"%s\"", s->token_url), NULL);
				s->client_id = get_value(cx, a, "auth", "client_id", !s->oauth_refresh, false);
				s->client_secret = get_value(cx, a, "auth", "client_secret", !s->oauth_refresh, true);
				s->refresh_token = get_value(cx, a, "auth", "refresh_token", s->oauth_refresh, true);
				s->scope = get_string(cx, a, "auth", "scope", false, NULL);
				s->client_auth_basic = get_choice(cx, a, "auth", "client_auth", cauth, 0) == 1;
				if (s->client_auth_basic && s->client_id.literal == NULL && s->client_id.secret == NULL)
					bad(cx, "auth.client_id", "is required with client_auth basic", NULL);
				break;
			}
	}
}

static void
parse_pagination(SpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const types[] = {"none", "page_number", "offset", "cursor",
	"link_header", "next_url", NULL};
	static const char *const keys[] = {"type", "page_param", "start", "size_param", "size",
		"offset_param", "limit_param", "limit", "cursor_param", "cursor_path",
	"next_url_path", "total_path", "stop_on_short_page", "max_pages", NULL};
	json_t	   *p = get_object(cx, root, "", "pagination", false);
	const char *P = "pagination";

	s->page = p ? (SyncPageType) get_choice(cx, p, P, "type", types, -1) : SYNC_PAGE_NONE;
	if (p)
		check_keys(cx, p, P, keys);
	s->max_pages = get_int(cx, p, P, "max_pages", 1000000, 1, INT64CONST(1000000000));
	s->total_path = get_path(cx, p, P, "total_path", false, true, &s->total_path_text);

	/* keys that belong to one type only are refused elsewhere */
#define ONLY(key, cond, what) \
	do { if (p && json_object_get(p, key) && !(cond)) \
			bad(cx, sub(P, key), "is not used by pagination type " what, NULL); } while (0)

	ONLY("page_param", s->page == SYNC_PAGE_NUMBER, "other than page_number");
	ONLY("start", s->page == SYNC_PAGE_NUMBER, "other than page_number");
	ONLY("offset_param", s->page == SYNC_PAGE_OFFSET, "other than offset");
	ONLY("limit_param", s->page == SYNC_PAGE_OFFSET, "other than offset");
	ONLY("limit", s->page == SYNC_PAGE_OFFSET, "other than offset");
	ONLY("cursor_param", s->page == SYNC_PAGE_CURSOR, "other than cursor");
	ONLY("cursor_path", s->page == SYNC_PAGE_CURSOR, "other than cursor");
	ONLY("next_url_path", s->page == SYNC_PAGE_NEXT_URL, "other than next_url");
	ONLY("size_param", s->page != SYNC_PAGE_OFFSET && s->page != SYNC_PAGE_NONE, "offset or none (use limit_param)");
	ONLY("size", s->page != SYNC_PAGE_OFFSET && s->page != SYNC_PAGE_NONE, "offset or none (use limit)");
#undef ONLY

	switch (s->page)
	{
		case SYNC_PAGE_NONE:
			break;
		case SYNC_PAGE_NUMBER:
			s->page_param = get_string(cx, p, P, "page_param", false, "page");
			s->page_start = get_int(cx, p, P, "start", 1, 0, INT64CONST(1000000000));
			break;
		case SYNC_PAGE_OFFSET:
			s->offset_param = get_string(cx, p, P, "offset_param", false, "offset");
			s->size_param = get_string(cx, p, P, "limit_param", false, "limit");
			s->page_size = get_int(cx, p, P, "limit", 100, 1, 1000000);
			break;
		case SYNC_PAGE_CURSOR:
			s->cursor_param = get_string(cx, p, P, "cursor_param", false, "cursor");
			s->cursor_path = get_path(cx, p, P, "cursor_path", true, true, &s->cursor_path_text);
			break;
		case SYNC_PAGE_LINK:
			break;
		case SYNC_PAGE_NEXT_URL:
			s->next_url_path = get_path(cx, p, P, "next_url_path", true, true, &s->next_url_path_text);
			break;
	}
	if (s->page == SYNC_PAGE_NUMBER || s->page == SYNC_PAGE_CURSOR ||
		s->page == SYNC_PAGE_LINK || s->page == SYNC_PAGE_NEXT_URL)
	{
		s->size_param = get_string(cx, p, P, "size_param", false, NULL);
		s->page_size = get_int(cx, p, P, "size", 0, 1, 1000000);
		if (s->page_size > 0 && s->size_param == NULL && s->page == SYNC_PAGE_NUMBER)
			s->size_param = pstrdup("per_page");
	}
	/* a short page ends the walk only where the page size is known */
	s->stop_short_page = get_bool(cx, p, P, "stop_on_short_page", s->page_size > 0);
	if (s->stop_short_page && s->page_size == 0)
		bad(cx, "pagination.stop_on_short_page", "needs a page size (size or limit)", NULL);
}

static void
parse_columns(SpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const keys[] = {"name", "path", "type", "default", "map", "otherwise", NULL};
	json_t	   *cols = json_object_get(root, "columns");
	size_t		i;
	json_t	   *c;

	if (cols == NULL || json_is_null(cols))
		bad(cx, "columns", "is required", "List the target columns: [{\"name\": \"id\", \"path\": \"$.id\"}, ...].");
	if (!json_is_array(cols) || json_array_size(cols) == 0)
		bad(cx, "columns", psprintf("must be a non-empty array, not %s", show(cols)), NULL);
	if (json_array_size(cols) > 90)
		bad(cx, "columns", psprintf("has %zu columns, more than the limit of 90", json_array_size(cols)), NULL);
	s->ncolumns = (int) json_array_size(cols);
	s->columns = palloc0(sizeof(SyncColumn) * s->ncolumns);
	json_array_foreach(cols, i, c)
	{
		SyncColumn *col = &s->columns[i];
		char	   *P = psprintf("columns[%zu]", i);
		json_t	   *d;
		json_t	   *map;

		if (!json_is_object(c))
			bad(cx, P, psprintf("must be an object, not %s", show(c)), NULL);
		check_keys(cx, c, P, keys);
		col->name = get_string(cx, c, P, "name", true, NULL);
		check_name(cx, sub(P, "name"), col->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->columns[j].name, col->name) == 0)
				bad(cx, sub(P, "name"), psprintf("repeats column \"%s\"", col->name), NULL);
		if (json_object_get(c, "path"))
			col->path = get_path(cx, c, P, "path", true, true, &col->path_text);
		else
		{
			char	   *err = NULL;

			col->path_text = psprintf("$['%s']", col->name);
			col->path = sync_path_compile(col->path_text, true, &err);
			if (col->path == NULL)
				bad(cx, sub(P, "name"), psprintf("cannot serve as a path: %s", err),
					"Give the column a \"path\".");
		}
		col->type = get_string(cx, c, P, "type", false, NULL);
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
				bad(cx, sub(P, "map"), psprintf("must be a non-empty object of code: value, not %s", show(map)), NULL);
			col->nmap = (int) json_object_size(map);
			col->map_from = palloc(sizeof(char *) * col->nmap);
			col->map_to = palloc(sizeof(char *) * col->nmap);
			json_object_foreach(map, k, v)
			{
				if (json_is_object(v) || json_is_array(v))
					bad(cx, sub(sub(P, "map"), k), psprintf("must be a string, a number or null, not %s", kind(v)), NULL);
				col->map_from[m] = pstrdup(k);
				col->map_to[m] = json_is_null(v) ? NULL : pstrdup(sync_json_scalar_text(v));
				m++;
			}
		}
		d = json_object_get(c, "otherwise");
		if (d != NULL)
		{
			if (col->nmap == 0)
				bad(cx, sub(P, "otherwise"), "needs a \"map\"", NULL);
			if (json_is_object(d) || json_is_array(d))
				bad(cx, sub(P, "otherwise"), psprintf("must be a string, a number or null, not %s", kind(d)), NULL);
			col->has_otherwise = true;
			col->otherwise_null = json_is_null(d);
			col->otherwise = json_is_null(d) ? NULL : pstrdup(sync_json_scalar_text(d));
		}
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
parse_target(SpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const keys[] = {"table", "create", "primary_key", "unmapped_column", NULL};
	json_t	   *t = get_object(cx, root, "", "target", true);
	json_t	   *pk;

	check_keys(cx, t, "target", keys);
	s->table = get_string(cx, t, "target", "table", true, NULL);
	s->create = get_bool(cx, t, "target", "create", false);
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
					bad(cx, psprintf("target.primary_key[%zu]", i), psprintf("must be a column name, not %s", show(e)), NULL);
				s->primary_key[i] = pstrdup(json_string_value(e));
			}
		}
		else
			bad(cx, "target.primary_key", psprintf("must be a column name or an array of 1 to 32 names, not %s", show(pk)), NULL);
		for (int i = 0; i < s->npk; i++)
			if (!has_column(s, s->primary_key[i]))
				bad(cx, "target.primary_key", psprintf("names \"%s\", which is not one of the columns", s->primary_key[i]),
					"Primary key columns must be mapped in \"columns\".");
	}
	else if (s->create)
		bad(cx, "target.primary_key", "is required when the table is created", NULL);
	s->unmapped_column = get_string(cx, t, "target", "unmapped_column", false, NULL);
	if (s->unmapped_column)
	{
		check_name(cx, "target.unmapped_column", s->unmapped_column);
		if (has_column(s, s->unmapped_column))
			bad(cx, "target.unmapped_column", psprintf("\"%s\" is also a mapped column", s->unmapped_column), NULL);
	}
}

static void
parse_mode(SpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const types[] = {"full_refresh", "incremental", NULL};
	static const char *const deletes[] = {"none", "delete", "soft_delete", NULL};
	static const char *const keys[] = {"type", "delete", "soft_delete_column", "cursor_column",
	"cursor_param", "lookback", "start", NULL};
	json_t	   *m = get_object(cx, root, "", "mode", false);
	const char *P = "mode";

	s->incremental = m ? get_choice(cx, m, P, "type", types, -1) == 1 : false;
	if (m)
		check_keys(cx, m, P, keys);
	s->delete_mode = (SyncDelete) get_choice(cx, m, P, "delete", deletes, 0);
	if (s->incremental && s->delete_mode != SYNC_DELETE_NONE)
		bad(cx, "mode.delete", "is only for full_refresh: an incremental run does not see rows deleted upstream", NULL);
	if (s->delete_mode == SYNC_DELETE_SOFT)
	{
		s->soft_delete_column = get_string(cx, m, P, "soft_delete_column", true, NULL);
		check_name(cx, "mode.soft_delete_column", s->soft_delete_column);
		if (has_column(s, s->soft_delete_column))
			bad(cx, "mode.soft_delete_column", psprintf("\"%s\" is also a mapped column", s->soft_delete_column), NULL);
	}
	else if (m && json_object_get(m, "soft_delete_column"))
		bad(cx, "mode.soft_delete_column", "is only for delete soft_delete", NULL);
	if (s->incremental)
	{
		s->cursor_column = get_string(cx, m, P, "cursor_column", true, NULL);
		if (!has_column(s, s->cursor_column))
			bad(cx, "mode.cursor_column", psprintf("names \"%s\", which is not one of the columns", s->cursor_column), NULL);
		s->cursor_request_param = get_string(cx, m, P, "cursor_param", true, NULL);
		s->lookback = get_string(cx, m, P, "lookback", false, NULL);
		s->cursor_start = get_string(cx, m, P, "start", false, NULL);
	}
	else
	{
		static const char *const inc[] = {"cursor_column", "cursor_param", "lookback", "start", NULL};

		for (int i = 0; inc[i]; i++)
			if (m && json_object_get(m, inc[i]))
				bad(cx, sub(P, inc[i]), "is only for mode incremental", NULL);
	}
}

static void
parse_limits(SpecCtx *cx, SyncSpec *s, json_t *root)
{
	static const char *const rkeys[] = {"max_attempts", "backoff_ms", "max_backoff_ms", "max_retry_after_ms", NULL};
	static const char *const lkeys[] = {"requests_per_second", NULL};
	static const char *const jkeys[] = {"policy", "max", NULL};
	static const char *const policies[] = {"continue", "fail", NULL};
	json_t	   *r = get_object(cx, root, "", "retry", false);
	json_t	   *l = get_object(cx, root, "", "rate_limit", false);
	json_t	   *j = get_object(cx, root, "", "rejects", false);

	if (r)
		check_keys(cx, r, "retry", rkeys);
	s->max_attempts = (int) get_int(cx, r, "retry", "max_attempts", 5, 1, 100);
	s->backoff_ms = (int) get_int(cx, r, "retry", "backoff_ms", 500, 0, 3600 * 1000);
	s->max_backoff_ms = (int) get_int(cx, r, "retry", "max_backoff_ms", 30000, 0, 3600 * 1000);
	s->max_retry_after_ms = (int) get_int(cx, r, "retry", "max_retry_after_ms", 120000, 0, 3600 * 1000);

	if (l)
	{
		json_t	   *v = json_object_get(l, "requests_per_second");

		check_keys(cx, l, "rate_limit", lkeys);
		if (v == NULL || !json_is_number(v) || json_number_value(v) <= 0 ||
			json_number_value(v) > 100000)
			bad(cx, "rate_limit.requests_per_second",
				psprintf("must be a number above 0 and at most 100000, not %s", show(v)), NULL);
		s->requests_per_second = json_number_value(v);
	}

	s->batch_pages = (int) get_int(cx, root, "", "batch_pages", 10, 1, 100000);

	if (j)
		check_keys(cx, j, "rejects", jkeys);
	s->reject_fail = get_choice(cx, j, "rejects", "policy", policies, 0) == 1;
	s->max_rejects = get_int(cx, j, "rejects", "max", s->reject_fail ? 0 : 1000, 0, INT64CONST(1000000000));
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
	"rejects", NULL};
	SpecCtx		cx = {source};
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
		bad(&cx, "(the spec)", psprintf("must be a JSON object, not %s", kind(root)), NULL);
	check_keys(&cx, root, "", keys);
	get_string(&cx, root, "", "description", false, NULL);

	parse_request(&cx, s, root);
	parse_auth(&cx, s, root);
	parse_pagination(&cx, s, root);
	s->records = get_path(&cx, root, "", "records", false, false, &s->records_text);
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

	/* a parameter the source sends must not be set twice */
	for (int i = 0; i < s->nparams; i++)
	{
		const char *n = s->params[i].name;

		if ((s->page_param && strcmp(n, s->page_param) == 0) ||
			(s->size_param && strcmp(n, s->size_param) == 0) ||
			(s->offset_param && strcmp(n, s->offset_param) == 0) ||
			(s->cursor_param && strcmp(n, s->cursor_param) == 0) ||
			(s->cursor_request_param && strcmp(n, s->cursor_request_param) == 0) ||
			(s->api_key_in_query && strcmp(n, s->api_key_name) == 0))
			bad(&cx, psprintf("request.params.%s", n),
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
