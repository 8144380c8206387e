/*-------------------------------------------------------------------------
 *
 * message.c
 *	  HTTP message parts to and from SQL values: query parameters and
 *	  request headers from jsonb, charsets, and response bodies as text.
 *
 * Nothing here throws for bad input: each function returns false with an
 * HttpError set, so a batch can report the problem in the request's row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "catalog/namespace.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "concord.h"
#include "http/http.h"
#include "secret/secret.h"

/* Is c a character allowed in an HTTP header name (RFC 9110 token)? */
static bool
is_token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/*
 * Turn a jsonb object of strings into header lines.  A value written as
 * {"secret": "name"} is the secret's plaintext, if the current user (the
 * caller, inside an API function running as concord's owner) may use it;
 * its line is also added to *secret_lines (the transfer sends those only
 * to the request's origin).  Returns false with err set on anything else,
 * naming the offending header.
 */
bool
http_build_headers(Jsonb *headers, List **lines, List **secret_lines,
				   bool *has_content_type, HttpError *err)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *name = NULL;

	*has_content_type = false;
	if (headers == NULL)
		return true;
	if (!JB_ROOT_IS_OBJECT(headers) || JB_ROOT_IS_SCALAR(headers))
	{
		http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
					   "request headers must be a JSON object of strings",
					   NULL,
					   "Write them as {\"Accept\": \"application/json\"}.");
		return false;
	}

	it = JsonbIteratorInit(&headers->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			name = pnstrdup(v.val.string.val, v.val.string.len);
			if (name[0] == '\0')
			{
				http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
							   "request header name is empty", NULL, NULL);
				return false;
			}
			for (char *c = name; *c; c++)
				if (!is_token_char((unsigned char) *c))
				{
					http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
								   psprintf("invalid request header name \"%s\"", name),
								   "Header names may hold only letters, digits and !#$%&'*+-.^_`|~.",
								   NULL);
					return false;
				}
			if (pg_strcasecmp(name, "host") == 0 ||
				pg_strcasecmp(name, "content-length") == 0 ||
				pg_strcasecmp(name, "transfer-encoding") == 0 ||
				pg_strcasecmp(name, "connection") == 0)
			{
				http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
							   psprintf("request header \"%s\" cannot be set", name),
							   "concord sets Host, Content-Length, Transfer-Encoding and Connection itself.",
							   NULL);
				return false;
			}
			if (pg_strcasecmp(name, "content-type") == 0)
				*has_content_type = true;
		}
		else if (tok == WJB_VALUE)
		{
			char	   *value;
			char	   *line;
			bool		from_secret = false;

			if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
			{
				/* {"secret": "name"}: the value comes from the secret store */
				JsonbValue	ref;
				char	   *sname;
				int			code;
				char	   *msg;
				char	   *hint;

				if (getKeyJsonValueFromContainer(v.val.binary.data, "secret", 6, &ref) == NULL ||
					ref.type != jbvString ||
					JsonContainerSize(v.val.binary.data) != 1)
				{
					http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
								   psprintf("request header \"%s\" must be a string or {\"secret\": \"name\"}", name),
								   NULL, NULL);
					return false;
				}
				sname = pnstrdup(ref.val.string.val, ref.val.string.len);
				v.type = jbvString;
				v.val.string.val = secret_resolve_for(sname, concord_caller(), &code, &msg, &hint);
				if (v.val.string.val == NULL)
				{
					http_error_set(err, code, msg,
								   psprintf("Request header \"%s\" refers to it.", name),
								   hint);
					return false;
				}
				v.val.string.len = strlen(v.val.string.val);
				from_secret = true;
			}
			if (v.type != jbvString)
			{
				http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
							   psprintf("request header \"%s\" must be a string", name),
							   "Request headers must be a JSON object of strings.",
							   "Quote the value, as in {\"X-Page\": \"2\"}.");
				return false;
			}
			value = pnstrdup(v.val.string.val, v.val.string.len);
			if (strpbrk(value, "\r\n") != NULL)
			{
				http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
							   psprintf("request header \"%s\" contains a line break", name),
							   "A header value must be a single line.", NULL);
				return false;
			}
			/* "Name;" sends a header with an empty value in libcurl */
			line = value[0] == '\0' ? psprintf("%s;", name) : psprintf("%s: %s", name, value);
			*lines = lappend(*lines, line);
			if (from_secret)
				*secret_lines = lappend(*secret_lines, line);
		}
	}
	return true;
}

/* Percent-encode s (RFC 3986 unreserved characters stay as they are). */
static void
append_encoded(StringInfo out, const char *s, int len)
{
	static const char hex[] = "0123456789ABCDEF";

	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~')
			appendStringInfoChar(out, (char) c);
		else
		{
			appendStringInfoChar(out, '%');
			appendStringInfoChar(out, hex[c >> 4]);
			appendStringInfoChar(out, hex[c & 15]);
		}
	}
}

/* Append one name=value pair for a scalar jsonb value. */
static bool
append_param(StringInfo q, const char *name, JsonbValue *v, HttpError *err)
{
	char	   *s;

	switch (v->type)
	{
		case jbvNull:
			return true;		/* a null parameter is left out */
		case jbvString:
			s = pnstrdup(v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			s = DatumGetCString(DirectFunctionCall1(numeric_out,
													NumericGetDatum(v->val.numeric)));
			break;
		case jbvBool:
			s = v->val.boolean ? "true" : "false";
			break;
		default:
			http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
						   psprintf("query parameter \"%s\" must be a scalar or an array of scalars", name),
						   NULL,
						   "Write parameters as {\"page\": 2, \"status\": [\"A\", \"B\"]}.");
			return false;
	}
	if (q->len > 0)
		appendStringInfoChar(q, '&');
	append_encoded(q, name, strlen(name));
	appendStringInfoChar(q, '=');
	append_encoded(q, s, strlen(s));
	return true;
}

/*
 * Add query parameters from a jsonb object to url; arrays repeat the name.
 */
bool
http_build_url(const char *url, Jsonb *params, char **out, HttpError *err)
{
	StringInfoData q;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *name = NULL;
	int			depth = 0;
	const char *hash;

	*out = (char *) url;
	if (params == NULL)
		return true;
	if (!JB_ROOT_IS_OBJECT(params) || JB_ROOT_IS_SCALAR(params))
	{
		http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
					   "query parameters must be a JSON object", NULL,
					   "Write them as {\"page\": 2, \"status\": \"A\"}.");
		return false;
	}

	initStringInfo(&q);
	it = JsonbIteratorInit(&params->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
			case WJB_BEGIN_ARRAY:
				if (++depth > 1 && !(tok == WJB_BEGIN_ARRAY && depth == 2))
				{
					http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
								   psprintf("query parameter \"%s\" must be a scalar or an array of scalars", name),
								   NULL,
								   "Write parameters as {\"page\": 2, \"status\": [\"A\", \"B\"]}.");
					return false;
				}
				break;
			case WJB_END_OBJECT:
			case WJB_END_ARRAY:
				depth--;
				break;
			case WJB_KEY:
				name = pnstrdup(v.val.string.val, v.val.string.len);
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				if (!append_param(&q, name, &v, err))
					return false;
				break;
			default:
				break;
		}
	}
	if (q.len == 0)
		return true;

	/* insert before any fragment */
	hash = strchr(url, '#');
	{
		int			baselen = hash ? (int) (hash - url) : (int) strlen(url);
		bool		has_query = memchr(url, '?', baselen) != NULL;
		StringInfoData u;

		initStringInfo(&u);
		appendBinaryStringInfo(&u, url, baselen);
		if (!has_query)
			appendStringInfoChar(&u, '?');
		else if (baselen > 0 && url[baselen - 1] != '?' && url[baselen - 1] != '&')
			appendStringInfoChar(&u, '&');
		appendBinaryStringInfo(&u, q.data, q.len);
		*out = u.data;
	}
	return true;
}

/*
 * The origin of an absolute http(s) URL -- "scheme://host:port", in lower
 * case, with the scheme's default port filled in -- or NULL if url is not
 * one.  Two URLs are of the same origin when these are equal.
 */
char *
http_url_origin(const char *url)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL,
			   *host = NULL,
			   *port = NULL;
	char		buf[1024];
	bool		ok;

	if (u == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
		(pg_strcasecmp(scheme, "http") == 0 || pg_strcasecmp(scheme, "https") == 0) &&
		snprintf(buf, sizeof(buf), "%s://%s:%s", scheme, host, port) < (int) sizeof(buf);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	if (!ok)
		return NULL;
	for (char *c = buf; *c; c++)
		*c = pg_ascii_tolower((unsigned char) *c);
	return pstrdup(buf);
}

/* Extract the charset parameter of a Content-Type value, or NULL. */
char *
http_content_type_charset(const char *ct)
{
	const char *p;

	if (ct == NULL)
		return NULL;
	for (p = ct; (p = strchr(p, ';')) != NULL;)
	{
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (pg_strncasecmp(p, "charset=", 8) == 0)
		{
			const char *v = p + 8;
			size_t		len;

			if (*v == '"')
				v++;
			len = strcspn(v, "\";, \t");
			return pnstrdup(v, len);
		}
	}
	return NULL;
}

/* Map a charset label to a PostgreSQL encoding id, or -1. */
int
http_charset_encoding(const char *charset)
{
	if (pg_strcasecmp(charset, "us-ascii") == 0 ||
		pg_strcasecmp(charset, "ascii") == 0)
		return PG_UTF8;			/* a subset of UTF-8 */
	if (pg_strcasecmp(charset, "gb2312") == 0)
		return PG_GBK;			/* GBK is a superset of GB2312 */
	return pg_char_to_encoding(charset);
}

/* Is a media type (lower-case, without parameters) textual? */
static bool
is_textual(const char *ct)
{
	static const char *const types[] = {
		"application/json", "application/xml", "application/javascript",
		"application/ecmascript", "application/x-www-form-urlencoded",
		"application/x-ndjson", "application/csv", "application/yaml",
		"application/x-yaml", "application/sql", "application/graphql", NULL
	};
	size_t		len = strcspn(ct, "; \t");

	if (pg_strncasecmp(ct, "text/", 5) == 0)
		return true;
	if ((len > 5 && pg_strncasecmp(ct + len - 5, "+json", 5) == 0) ||
		(len > 4 && pg_strncasecmp(ct + len - 4, "+xml", 4) == 0))
		return true;
	for (int i = 0; types[i]; i++)
		if (strlen(types[i]) == len && pg_strncasecmp(ct, types[i], len) == 0)
			return true;
	return false;
}

/*
 * The body as text in the database encoding.  *out is NULL for binary
 * content (or no content type and bytes that are not UTF-8); false with
 * err set when a textual body cannot be decoded.
 */
bool
http_decode_text(const HttpResult *res, text **out, HttpError *err)
{
	const char *data = VARDATA_ANY(res->body);
	int			len = VARSIZE_ANY_EXHDR(res->body);
	char	   *charset = http_content_type_charset(res->content_type);
	int			enc;
	int			valid;
	char	   *conv;

	*out = NULL;
	if (res->content_type != NULL && !is_textual(res->content_type))
		return true;

	enc = charset ? http_charset_encoding(charset) : PG_UTF8;
	if (enc < 0)
	{
		http_error_set(err, ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
					   psprintf("unsupported charset \"%s\" in response from %s",
								charset, res->redacted_url),
					   psprintf("Content-Type: %s.", res->content_type),
					   "The raw bytes stay available in body_bytes of concord.http_batch rows.");
		return false;
	}
	valid = pg_encoding_verifymbstr(enc, data, len);
	if (valid != len)
	{
		if (res->content_type == NULL)
			return true;		/* undeclared and not text: treat as binary */
		http_error_set(err, ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
					   psprintf("response body from %s is not valid %s",
								res->redacted_url, charset ? charset : "UTF-8"),
					   psprintf("Invalid byte 0x%02x at offset %d of %d; Content-Type: %s.",
								(unsigned char) data[valid], valid, len, res->content_type),
					   "The raw bytes stay available in body_bytes of concord.http_batch rows.");
		return false;
	}
	conv = (char *) pg_do_encoding_conversion((unsigned char *) data, len,
											  enc, GetDatabaseEncoding());
	*out = conv == data ? cstring_to_text_with_len(data, len) : cstring_to_text(conv);
	return true;
}

/*
 * Convert a request body from the database encoding to encoding enc
 * without throwing: text the charset cannot hold fails this request only.
 */
bool
http_encode_body(const char *body, int len, int enc, char **out, int *outlen,
				 HttpError *err)
{
	int			dbenc = GetDatabaseEncoding();
	Oid			proc;
	unsigned char *dest;
	int			done;

	if (enc == dbenc || dbenc == PG_SQL_ASCII || len == 0)
	{
		*out = (char *) body;
		*outlen = len;
		return true;
	}
	if ((Size) len > (MaxAllocSize - 1) / MAX_CONVERSION_GROWTH)
	{
		http_error_set(err, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
					   psprintf("request body of %d bytes is too large to convert to %s",
								len, pg_encoding_to_char(enc)),
					   NULL, "Send the body as charset=utf-8.");
		return false;
	}
	proc = FindDefaultConversionProc(dbenc, enc);
	if (!OidIsValid(proc))
	{
		http_error_set(err, ERRCODE_UNDEFINED_FUNCTION,
					   psprintf("no conversion from %s to %s for the request body",
								GetDatabaseEncodingName(), pg_encoding_to_char(enc)),
					   NULL, "Use charset=utf-8.");
		return false;
	}
	dest = palloc((Size) len * MAX_CONVERSION_GROWTH + 1);
	done = pg_do_encoding_conversion_buf(proc, dbenc, enc,
										 (unsigned char *) body, len,
										 dest, len * MAX_CONVERSION_GROWTH + 1,
										 true);
	if (done < len)
	{
		http_error_set(err, ERRCODE_UNTRANSLATABLE_CHARACTER,
					   psprintf("request body cannot be represented in %s", pg_encoding_to_char(enc)),
					   psprintf("The character at byte %d has no equivalent in %s.", done, pg_encoding_to_char(enc)),
					   "Send the body as charset=utf-8.");
		return false;
	}
	*out = (char *) dest;
	*outlen = strlen((char *) dest);
	return true;
}
