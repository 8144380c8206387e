/*-------------------------------------------------------------------------
 *
 * specvalue.c
 *	  Reading the values of a source spec: typed members, secret
 *	  references, name-value pairs, JSON paths, with errors that name the
 *	  JSON path of the bad value and what was expected there.
 *
 * The sections of a spec are parsed by spec.c (and the auth section by
 * specauth.c) with these.  Values that must be credentials are accepted
 * only as {"secret": "name"} references and are never echoed in a message,
 * in case a plaintext was pasted by mistake.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"

#include "sync/spec.h"
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
char *
sync_spec_show(json_t *v)
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

const char *
sync_spec_kind(json_t *v)
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
char *
sync_spec_sub(const char *path, const char *key)
{
	return path[0] ? psprintf("%s.%s", path, key) : pstrdup(key);
}

pg_noreturn void sync_spec_bad(SyncSpecCtx *cx, const char *path, const char *msg, const char *hint);

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
void
sync_spec_bad(SyncSpecCtx *cx, const char *path, const char *msg, const char *hint)
{
	sync_spec_error(cx->source, path, msg, hint);
}

/* Refuse keys of obj not in allowed (NULL-terminated). */
void
sync_spec_keys(SyncSpecCtx *cx, json_t *obj, const char *path, const char *const *allowed)
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
				 errdetail("Path: %s.", sync_spec_sub(path, key)),
				 errhint("Known keys here: %s.", list.data),
				 errhidestmt(true)));
	}
}

/* An object member that must be an object when present. */
json_t *
sync_spec_object(SyncSpecCtx *cx, json_t *obj, const char *path, const char *key, bool required)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;

	if (v == NULL || json_is_null(v))
	{
		if (required)
			sync_spec_bad(cx, sync_spec_sub(path, key), "is required", NULL);
		return NULL;
	}
	if (!json_is_object(v))
		sync_spec_bad(cx, sync_spec_sub(path, key), psprintf("must be an object, not %s", sync_spec_kind(v)), NULL);
	return v;
}

char *
sync_spec_string(SyncSpecCtx *cx, json_t *obj, const char *path, const char *key,
		   bool required, const char *dflt)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;

	if (v == NULL || json_is_null(v))
	{
		if (required)
			sync_spec_bad(cx, sync_spec_sub(path, key), "is required", NULL);
		return dflt ? pstrdup(dflt) : NULL;
	}
	if (!json_is_string(v))
		sync_spec_bad(cx, sync_spec_sub(path, key), psprintf("must be a string, not %s", sync_spec_show(v)), NULL);
	if (strlen(json_string_value(v)) != json_string_length(v))
		sync_spec_bad(cx, sync_spec_sub(path, key), "must not contain \\u0000", NULL);
	if (required && json_string_length(v) == 0)
		sync_spec_bad(cx, sync_spec_sub(path, key), "must not be empty", NULL);
	return pstrdup(json_string_value(v));
}

int64
sync_spec_int(SyncSpecCtx *cx, json_t *obj, const char *path, const char *key,
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
		sync_spec_bad(cx, sync_spec_sub(path, key), psprintf("must be an integer, not %s", sync_spec_show(v)), NULL);
	if (n < min || n > max)
		sync_spec_bad(cx, sync_spec_sub(path, key),
			psprintf("must be between " INT64_FORMAT " and " INT64_FORMAT ", not " INT64_FORMAT,
					 min, max, n), NULL);
	return n;
}

bool
sync_spec_bool(SyncSpecCtx *cx, json_t *obj, const char *path, const char *key, bool dflt)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;

	if (v == NULL || json_is_null(v))
		return dflt;
	if (!json_is_boolean(v))
		sync_spec_bad(cx, sync_spec_sub(path, key), psprintf("must be true or false, not %s", sync_spec_show(v)), NULL);
	return json_is_true(v);
}

/* A string member that must be one of choices; returns its index. */
int
sync_spec_choice(SyncSpecCtx *cx, json_t *obj, const char *path, const char *key,
		   const char *const *choices, int dflt)
{
	char	   *s = sync_spec_string(cx, obj, path, key, dflt < 0, NULL);
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
	sync_spec_bad(cx, sync_spec_sub(path, key), psprintf("must be one of %s, not \"%s\"", list.data, s), NULL);
}

/* Is v a {"secret": "name"} reference?  Sets *name. */
bool
sync_spec_secret_ref(SyncSpecCtx *cx, json_t *v, const char *path, char **name)
{
	json_t	   *s;

	if (!json_is_object(v))
		return false;
	s = json_object_get(v, "secret");
	if (json_object_size(v) != 1 || s == NULL || !json_is_string(s) ||
		json_string_length(s) == 0)
		sync_spec_bad(cx, path, "must be {\"secret\": \"name\"}", NULL);
	*name = pstrdup(json_string_value(s));
	return true;
}

/*
 * A value given as text (strings and numbers) or as a secret reference.
 * With must_be_secret, only a reference is accepted and a bad value is not
 * shown (it may be a pasted credential).
 */
SyncValue
sync_spec_value(SyncSpecCtx *cx, json_t *obj, const char *path, const char *key,
		  bool required, bool must_be_secret)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;
	char	   *p = sync_spec_sub(path, key);
	SyncValue	out = {NULL, NULL};

	if (v == NULL || json_is_null(v))
	{
		if (required)
			sync_spec_bad(cx, p, must_be_secret ? "is required, as {\"secret\": \"name\"}" : "is required", NULL);
		return out;
	}
	if (sync_spec_secret_ref(cx, v, p, &out.secret))
		return out;
	if (must_be_secret)
		sync_spec_bad(cx, p, psprintf("must be {\"secret\": \"name\"}, not %s", sync_spec_kind(v)),
			"Credentials are kept in concord.secret: store it with concord.secret_set(name, value) and refer to it by name.");
	if (json_is_string(v))
		out.literal = pstrdup(json_string_value(v));
	else if (json_is_number(v) || json_is_boolean(v))
		out.literal = sync_json_scalar_text(v);
	else
		sync_spec_bad(cx, p, psprintf("must be a string, a number or {\"secret\": \"name\"}, not %s", sync_spec_kind(v)), NULL);
	if (out.literal && strpbrk(out.literal, "\r\n") != NULL)
		sync_spec_bad(cx, p, "must not contain a line break", NULL);
	return out;
}

/*
 * Does a request header carry credentials by its name: Authorization,
 * Proxy-Authorization, Cookie, X-Api-Key, Api-Key, Token, X-Auth-Token and
 * the like?
 */
bool
sync_spec_credential_header(const char *name)
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
bool
sync_spec_credential_value(const char *value)
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
SyncPair *
sync_spec_pairs(SyncSpecCtx *cx, json_t *obj, const char *path, const char *key, int *n)
{
	bool		headers = strcmp(key, "headers") == 0;
	json_t	   *o = sync_spec_object(cx, obj, path, key, false);
	char	   *p = sync_spec_sub(path, key);
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
			sync_spec_bad(cx, p, "has an empty name", NULL);
		pairs[i].name = pstrdup(k);
		pairs[i].value = sync_spec_value(cx, o, p, k, true, headers && sync_spec_credential_header(k));
		if (headers && pairs[i].value.literal && sync_spec_credential_value(pairs[i].value.literal))
			sync_spec_bad(cx, sync_spec_sub(p, k), "looks like a credential: it must be {\"secret\": \"name\"}",
				"Credentials are kept in concord.secret: store it with concord.secret_set(name, value) and refer to it by name.");
		i++;
	}
	*n = i;
	return pairs;
}

/* A compiled JSON path member. */
SyncPath *
sync_spec_path(SyncSpecCtx *cx, json_t *obj, const char *path, const char *key,
		 bool required, bool singular, char **text)
{
	char	   *s = sync_spec_string(cx, obj, path, key, required, NULL);
	char	   *err = NULL;
	SyncPath   *p;

	if (text)
		*text = s;
	if (s == NULL)
		return NULL;
	p = sync_path_compile(s, singular, &err);
	if (p == NULL)
		sync_spec_bad(cx, sync_spec_sub(path, key), psprintf("is not a valid JSON path (\"%s\"): %s", s, err),
			"Write paths like $.data[*] for records and $.address.city for a field.");
	return p;
}

/* A SQL identifier-ish name: non-empty, no NUL, at most NAMEDATALEN-1 bytes. */
void
sync_spec_name(SyncSpecCtx *cx, const char *path, const char *name)
{
	if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		sync_spec_bad(cx, path, psprintf("must be a column name of 1 to %d bytes, not \"%s\"",
							   NAMEDATALEN - 1, name), NULL);
}

/* An http:// or https:// URL member. */
char *
sync_spec_url(SyncSpecCtx *cx, json_t *obj, const char *path, const char *key, bool required)
{
	char	   *url = sync_spec_string(cx, obj, path, key, required, NULL);

	if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		sync_spec_bad(cx, sync_spec_sub(path, key),
					  psprintf("must be an http:// or https:// URL, not \"%s\"", url), NULL);
	return url;
}

/* Check a JSON body template: secret references well formed, no \u0000. */
static void
check_template(SyncSpecCtx *cx, json_t *v, const char *path, int depth)
{
	if (depth > 32)
		sync_spec_bad(cx, path, "is nested more than 32 levels deep", NULL);
	if (json_is_object(v))
	{
		const char *k;
		json_t	   *e;
		char	   *name;

		if (json_object_get(v, "secret") != NULL && sync_spec_secret_ref(cx, v, path, &name))
			return;
		json_object_foreach(v, k, e)
			check_template(cx, e, sync_spec_sub(path, k), depth + 1);
	}
	else if (json_is_array(v))
	{
		size_t		i;
		json_t	   *e;

		json_array_foreach(v, i, e)
			check_template(cx, e, psprintf("%s[%zu]", path, i), depth + 1);
	}
	else if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
		sync_spec_bad(cx, path, "must not contain \\u0000", NULL);
}

/*
 * A JSON object to send as a request body, as compact JSON text (NULL when
 * absent).  Strings may hold {cursor}; {"secret": "name"} stands for a
 * secret's value, filled in when the request is made.
 */
char *
sync_spec_json_template(SyncSpecCtx *cx, json_t *obj, const char *path, const char *key)
{
	json_t	   *v = sync_spec_object(cx, obj, path, key, false);
	char	   *text;

	if (v == NULL)
		return NULL;
	check_template(cx, v, sync_spec_sub(path, key), 0);
	text = json_dumps(v, JSON_COMPACT);
	if (text == NULL)
		sync_spec_bad(cx, sync_spec_sub(path, key), "cannot be written as JSON", NULL);
	return pstrdup(text);
}

/*
 * An array of scalars (strings, numbers, booleans) as their texts: the
 * codes of the spec's "errors".  A lone scalar counts as an array of one.
 */
char **
sync_spec_scalars(SyncSpecCtx *cx, json_t *obj, const char *path, const char *key, int *n)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;
	char	  **out;
	size_t		i;
	json_t	   *e;

	*n = 0;
	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_array(v))
	{
		if (json_is_object(v))
			sync_spec_bad(cx, sync_spec_sub(path, key),
						  psprintf("must be an array of codes, not %s", sync_spec_show(v)), NULL);
		out = palloc(sizeof(char *));
		out[0] = pstrdup(sync_json_scalar_text(v));
		*n = 1;
		return out;
	}
	out = palloc(sizeof(char *) * Max(json_array_size(v), 1));
	json_array_foreach(v, i, e)
	{
		if (json_is_object(e) || json_is_array(e) || json_is_null(e))
			sync_spec_bad(cx, psprintf("%s[%zu]", sync_spec_sub(path, key), i),
						  psprintf("must be a string or a number, not %s", sync_spec_show(e)), NULL);
		out[(*n)++] = pstrdup(sync_json_scalar_text(e));
	}
	return out;
}
