/*-------------------------------------------------------------------------
 *
 * redact.c
 *	  Make URLs safe to show: credentials in the userinfo part and values of
 *	  secret-looking query parameters are replaced by "***".
 *
 * Every URL that reaches an error message, a log line or the call log goes
 * through http_redact_url() first.  The rule errs on the side of hiding:
 * a parameter is secret when its name contains a word such as token, key,
 * secret, pass, auth, sig or session.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "http/http.h"

PG_FUNCTION_INFO_V1(concord_http_redact_url);

#define REDACTED "***"

/*
 * Query parameter names a caller has declared secret for a while (a sync
 * source's API key parameter, whatever its name); see http_redact_hide_param.
 */
#define MAX_HIDDEN_PARAMS 8
static char hidden_params[MAX_HIDDEN_PARAMS][64];
static int	n_hidden_params = 0;

/*
 * Treat query parameter name as secret in every redacted URL until
 * http_redact_clear_params() is called.  Returns false (and hides nothing)
 * when the name is too long or too many names are hidden already; the
 * caller must then refuse to put a secret in that parameter.
 */
bool
http_redact_hide_param(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len >= sizeof(hidden_params[0]) ||
		n_hidden_params >= MAX_HIDDEN_PARAMS)
		return false;
	memcpy(hidden_params[n_hidden_params++], name, len + 1);
	return true;
}

/* Forget every name hidden with http_redact_hide_param(). */
void
http_redact_clear_params(void)
{
	n_hidden_params = 0;
}

/* Is name (len bytes, not terminated) one of the hidden parameter names? */
static bool
param_is_hidden(const char *name, size_t len)
{
	for (int i = 0; i < n_hidden_params; i++)
		if (strlen(hidden_params[i]) == len &&
			memcmp(hidden_params[i], name, len) == 0)
			return true;
	return false;
}

/*
 * Is a query parameter name (not percent-decoded; secret words are plain
 * ASCII) one whose value must be hidden?
 */
bool
http_name_looks_secret(const char *name, size_t len)
{
	static const char *const words[] = {
		"token", "key", "secret", "pass", "pwd", "auth", "sig", "session",
		"credential", "private", "cookie", "code", "ticket", "jwt", NULL
	};
	char		lower[128];

	if (len >= sizeof(lower))
		len = sizeof(lower) - 1;
	for (size_t i = 0; i < len; i++)
		lower[i] = pg_ascii_tolower((unsigned char) name[i]);
	lower[len] = '\0';

	for (int i = 0; words[i]; i++)
		if (strstr(lower, words[i]) != NULL)
			return true;
	return false;
}

/*
 * Return a copy of url with userinfo and secret query values replaced and
 * any fragment dropped.  Works on text, not on a parsed URL, so even a
 * malformed URL is redacted before it is quoted in an error.
 */
char *
http_redact_url(const char *url)
{
	StringInfoData out;
	const char *p = url;
	const char *q;
	const char *auth = url;

	initStringInfo(&out);

	/* an optional "scheme:" and any number of slashes lead to the authority */
	if (isalpha((unsigned char) *auth))
	{
		const char *c = auth;

		while (isalnum((unsigned char) *c) || *c == '+' || *c == '-' || *c == '.')
			c++;
		if (*c == ':' && c[1] == '/')
			auth = c + 1;
	}
	while (*auth == '/')
		auth++;

	/* the authority, with any userinfo hidden */
	{
		const char *auth_end = auth + strcspn(auth, "/?#");
		const char *at = NULL;

		for (const char *c = auth; c < auth_end; c++)
			if (*c == '@')
				at = c;
		appendBinaryStringInfo(&out, url, auth - url);
		if (at)
		{
			appendStringInfoString(&out, REDACTED "@");
			auth = at + 1;
		}
		appendBinaryStringInfo(&out, auth, auth_end - auth);
		p = auth_end;
	}

	/* path */
	q = p + strcspn(p, "?#");
	appendBinaryStringInfo(&out, p, q - p);
	if (*q != '?')
		return out.data;		/* no query; a fragment is dropped */

	/* query: name=value pairs split on & */
	appendStringInfoChar(&out, '?');
	p = q + 1;
	while (*p && *p != '#')
	{
		size_t		pairlen = strcspn(p, "&#");
		const char *eq = memchr(p, '=', pairlen);

		if (eq && (http_name_looks_secret(p, eq - p) || param_is_hidden(p, eq - p)))
		{
			appendBinaryStringInfo(&out, p, eq - p + 1);
			appendStringInfoString(&out, REDACTED);
		}
		else
			appendBinaryStringInfo(&out, p, pairlen);
		p += pairlen;
		if (*p == '&')
		{
			appendStringInfoChar(&out, '&');
			p++;
		}
	}
	return out.data;
}

/*
 * concord.http_redact_url(url text): the redaction applied to every URL in
 * messages and in the call log.
 */
Datum
concord_http_redact_url(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(http_redact_url(url)));
}
