/*-------------------------------------------------------------------------
 *
 * fetch.c
 *	  Requests of a sync run: credentials placed, retries with backoff and
 *	  jitter, Retry-After and rate-limit reset headers, the API's own error
 *	  codes, the source's request-rate limit.
 *
 * Credentials are resolved from concord.secret once per run (tokens by
 * auth.c) and placed in request headers (never logged) or, for a key or
 * token sent as a query parameter, in a parameter whose name is hidden by
 * URL redaction for the length of the run.  No message built here
 * contains a credential.
 *
 * What an answer means for the run:
 *	  2xx					the caller's accept() judges it (a page is parsed)
 *	  401, or the API's		the token is renewed once (OAuth2, token), and
 *	  "token expired" code	the request sent again; else 28000
 *	  403					28000, unless it says the rate limit is spent
 *							(X-RateLimit-Remaining: 0), which is waited out
 *	  408 425 429 5xx		retried after Retry-After, a rate-limit reset
 *							header, or the backoff; 08000 when they run out
 *	  other 4xx, the API's	the request is one the API refuses: 22023 at
 *	  other error codes		once
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include <curl/curl.h>

#include "common/pg_prng.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "concord.h"
#include "http/http.h"
#include "secret/secret.h"
#include "sync/fetch.h"

/*
 * The plaintext of a SyncValue (literal or secret), a secret resolved for
 * the source's owner; raises if unavailable or not hers to use.
 */
char *
sync_resolve(SyncFetcher *f, const SyncValue *v, const char *what)
{
	int			code;
	char	   *msg;
	char	   *hint;
	char	   *plain;

	if (v->literal != NULL)
		return v->literal;
	if (v->secret == NULL)
		return NULL;
	plain = secret_resolve_for(v->secret, f->owner, &code, &msg, &hint);
	if (plain == NULL)
		ereport(ERROR,
				(errcode(code),
				 errmsg("source \"%s\" cannot use its %s: %s", f->spec->source, what, msg),
				 hint ? errhint("%s", hint) : 0));
	return plain;
}

/* Raise unless the source's owner may use the secret named (if any). */
static void
check_secret_name(const SyncSpec *s, Oid owner, const char *secret, const char *path)
{
	int			code;
	char	   *msg;
	char	   *hint;

	if (secret == NULL || secret_check_use(secret, owner, &code, &msg, &hint))
		return;
	if (code == ERRCODE_UNDEFINED_OBJECT)
		ereport(ERROR,
				(errcode(code),
				 errmsg("secret \"%s\" named by source \"%s\" does not exist", secret, s->source),
				 errdetail("Path: %s.", path),
				 hint ? errhint("%s", hint) : 0));
	ereport(ERROR,
			(errcode(code),
			 errmsg("permission denied for secret \"%s\" named by source \"%s\"", secret, s->source),
			 errdetail("Path: %s. The source's owner must be allowed to use the secret.", path),
			 hint ? errhint("%s", hint) : 0));
}

static void
check_secret(const SyncSpec *s, Oid owner, const SyncValue *v, const char *path)
{
	check_secret_name(s, owner, v->secret, path);
}

/* Check the secrets a JSON body template names. */
static void
check_body_secrets(const SyncSpec *s, Oid owner, const char *body, const char *path)
{
	ListCell   *lc;

	foreach(lc, sync_body_secrets(body))
		check_secret_name(s, owner, lfirst(lc), path);
}

/*
 * Raise unless every secret the spec names exists and the source's owner
 * may use it: when a source is defined or changed, and at every run.
 */
void
sync_check_secrets(const SyncSpec *s, Oid owner)
{
	for (int i = 0; i < s->nheaders; i++)
		check_secret(s, owner, &s->headers[i].value, psprintf("request.headers.%s", s->headers[i].name));
	for (int i = 0; i < s->nparams; i++)
		check_secret(s, owner, &s->params[i].value, psprintf("request.params.%s", s->params[i].name));
	check_body_secrets(s, owner, s->body, "request.body");
	check_secret(s, owner, &s->api_key, "auth.value");
	check_secret(s, owner, &s->username, "auth.username");
	check_secret(s, owner, &s->password, "auth.password");
	check_secret(s, owner, &s->token, "auth.token");
	check_secret(s, owner, &s->client_id, "auth.client_id");
	check_secret(s, owner, &s->client_secret, "auth.client_secret");
	check_secret(s, owner, &s->refresh_token, "auth.refresh_token");
	for (int i = 0; i < s->ntoken_params; i++)
		check_secret(s, owner, &s->token_params[i].value, psprintf("auth.params.%s", s->token_params[i].name));
	for (int i = 0; i < s->ntoken_headers; i++)
		check_secret(s, owner, &s->token_headers[i].value, psprintf("auth.headers.%s", s->token_headers[i].name));
	check_body_secrets(s, owner, s->token_body, "auth.body");
	check_secret(s, owner, &s->sign_key, "auth.sign.key");
}

/* A jsonb object of string pairs (names may repeat: the last one wins). */
static Jsonb *
pairs_jsonb(List *names, List *values)
{
	JsonbParseState *st = NULL;
	ListCell   *ln,
			   *lv;
	JsonbValue *res;

	if (names == NIL)
		return NULL;
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	forboth(ln, names, lv, values)
	{
		JsonbValue	k,
					v;

		k.type = jbvString;
		k.val.string.val = lfirst(ln);
		k.val.string.len = strlen(lfirst(ln));
		v.type = jbvString;
		v.val.string.val = lfirst(lv);
		v.val.string.len = strlen(lfirst(lv));
		pushJsonbValue(&st, WJB_KEY, &k);
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* Hide a query parameter holding a credential from redaction for the run. */
static void
hide_param(SyncFetcher *f, const char *name)
{
	if (!http_redact_hide_param(name))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("source \"%s\" cannot hide credential parameter \"%s\" in logs",
						f->spec->source, name),
				 errhint("Use a parameter name of at most 63 bytes, and at most 8 such parameters.")));
	f->hid_params = true;
}

/*
 * Prepare the requests of one run of spec, a source owned by owner: check
 * that she may use its secrets, resolve credentials, hide credential
 * parameters from redaction, load the allowlist.  Allocates in the current
 * memory context, which must live for the whole run.
 */
SyncFetcher *
sync_fetcher_create(const SyncSpec *spec, Oid owner)
{
	SyncFetcher *f = palloc0(sizeof(SyncFetcher));

	sync_check_secrets(spec, owner);
	f->spec = spec;
	f->owner = owner;
	f->origin = http_url_origin(spec->url);
	f->cxt = CurrentMemoryContext;
	f->limits.timeout_ms = spec->timeout_ms;
	f->limits.connect_timeout_ms = -1;
	f->limits.max_response_bytes = -1;
	f->limits.max_redirects = -1;
	http_limits_check(&f->limits, psprintf("source \"%s\": request.", spec->source));
	f->allowlist = http_allowlist_load();

	for (int i = 0; i < spec->nparams; i++)
		if (spec->params[i].value.secret)
			hide_param(f, spec->params[i].name);
	for (int i = 0; i < spec->ntoken_params; i++)
		if (spec->token_params[i].value.secret)
			hide_param(f, spec->token_params[i].name);
	if (spec->sign_param)
		hide_param(f, spec->sign_param);
	switch (spec->auth)
	{
		case SYNC_AUTH_NONE:
		case SYNC_AUTH_OAUTH2:
			break;
		case SYNC_AUTH_TOKEN:
			if (spec->token_in_query)
				hide_param(f, spec->token_name);
			break;
		case SYNC_AUTH_API_KEY:
			f->auth_value = sync_resolve(f, &spec->api_key, "API key");
			if (spec->api_key_in_query)
				hide_param(f, spec->api_key_name);
			break;
		case SYNC_AUTH_BASIC:
			f->auth_value = sync_basic_header(sync_resolve(f, &spec->username, "user name"),
											  sync_resolve(f, &spec->password, "password"));
			break;
		case SYNC_AUTH_BEARER:
			f->auth_value = psprintf("Bearer %s", sync_resolve(f, &spec->token, "token"));
			break;
	}
	return f;
}

/* Undo what sync_fetcher_create set up outside its memory (safe twice). */
void
sync_fetcher_done(SyncFetcher *f)
{
	if (f && f->hid_params)
	{
		http_redact_clear_params();
		f->hid_params = false;
	}
}

/* Sleep ms milliseconds, waking for interrupts. */
void
sync_sleep_ms(long ms)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	for (;;)
	{
		long		left;

		CHECK_FOR_INTERRUPTS();
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(left, 100), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* Wait for the source's request-rate limit. */
static void
rate_wait(SyncFetcher *f)
{
	if (f->spec->requests_per_second > 0 && f->last_request != 0)
	{
		long		interval = (long) ceil(1000.0 / f->spec->requests_per_second);
		long		since = TimestampDifferenceMilliseconds(f->last_request, GetCurrentTimestamp());

		if (since < interval)
			sync_sleep_ms(interval - since);
	}
	f->last_request = GetCurrentTimestamp();
}

/* A response header's value, or NULL. */
const char *
sync_header(const HttpResult *r, const char *name)
{
	ListCell   *lc;

	foreach(lc, r->headers)
	{
		HttpHeader *h = lfirst(lc);

		if (strcmp(h->name, name) == 0)
			return h->value;
	}
	return NULL;
}

/* A non-negative number of seconds (decimals allowed); -1 if it is not one. */
static double
header_seconds(const char *v)
{
	char	   *end;
	double		d;

	while (*v == ' ')
		v++;
	if (!isdigit((unsigned char) *v))
		return -1;
	d = strtod(v, &end);
	while (*end == ' ')
		end++;
	return (*end == '\0' && d >= 0 && d < 1e12) ? d : -1;
}

/*
 * How long the answer asks to wait before the next attempt, in ms; -1
 * when it does not say.  Retry-After (seconds, decimals, or an HTTP date),
 * else a rate-limit reset header: X-RateLimit-Reset, X-Rate-Limit-Reset,
 * RateLimit-Reset, X-Ogw-RateLimit-Reset (seconds from now, or a Unix
 * time when the number is that large).
 */
static long
wait_asked_ms(const HttpResult *r)
{
	static const char *const resets[] = {"x-ratelimit-reset", "x-rate-limit-reset",
	"ratelimit-reset", "x-ogw-ratelimit-reset", NULL};
	const char *v = sync_header(r, "retry-after");
	double		secs;

	if (v != NULL)
	{
		time_t		when;

		secs = header_seconds(v);
		if (secs >= 0)
			return (long) ceil(secs * 1000);
		when = curl_getdate(v, NULL);
		if (when != -1)
			return when > time(NULL) ? (long) (when - time(NULL)) * 1000L : 0;
	}
	for (int i = 0; resets[i]; i++)
	{
		v = sync_header(r, resets[i]);
		if (v == NULL || (secs = header_seconds(v)) < 0)
			continue;
		if (secs > 1e9)
			secs = secs > (double) time(NULL) ? secs - (double) time(NULL) : 0;
		return (long) ceil(secs * 1000);
	}
	return -1;
}

/* Does a 403 say that the rate limit is spent (GitHub's primary limit)? */
static bool
rate_limit_spent(const HttpResult *r)
{
	const char *v = sync_header(r, "x-ratelimit-remaining");

	return r->status == 403 && v != NULL && header_seconds(v) == 0;
}

/* Exponential backoff with jitter for attempt (1-based), in ms. */
long
sync_backoff_ms(const SyncSpec *s, int attempt)
{
	double		b = (double) s->backoff_ms * pow(2.0, attempt - 1);

	if (b > s->max_backoff_ms)
		b = s->max_backoff_ms;
	/* "equal jitter": half fixed, half random */
	return (long) (b / 2 + (b / 2) * pg_prng_double(&pg_global_prng_state));
}

bool
sync_status_retryable(int status)
{
	return status == 408 || status == 425 || status == 429 ||
		status == 500 || status == 502 || status == 503 || status == 504;
}

bool
sync_error_retryable(int code)
{
	return code == ERRCODE_CONNECTION_FAILURE ||
		code == ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION ||
		code == ERRCODE_PROTOCOL_VIOLATION;
}

/* The first bytes of a response body, for an error detail. */
static char *
body_snippet(const HttpResult *r)
{
	int			len;
	char	   *s;

	if (r->body == NULL)
		return pstrdup("");
	len = Min((int) VARSIZE_ANY_EXHDR(r->body), 200);
	s = pnstrdup(VARDATA_ANY(r->body), len);
	for (char *c = s; *c; c++)
		if ((unsigned char) *c < 0x20)
			*c = ' ';
	/* cut at a character boundary */
	len = pg_mbcliplen(s, strlen(s), strlen(s));
	s[len] = '\0';
	return s;
}

/* One attempt of a request other than a page's (a token's): build and perform it. */
HttpResult *
sync_perform(SyncFetcher *f, const char *method, const char *url, List *pnames,
			 List *pvalues, List *hnames, List *hvalues, const char *body,
			 const char *content_type)
{
	HttpTransfer *x;
	HttpResult *r;

	rate_wait(f);
	x = http_transfer_create(method, url, pairs_jsonb(pnames, pvalues),
							 pairs_jsonb(hnames, hvalues), body,
							 body ? strlen(body) : 0, content_type,
							 &f->limits, f->allowlist);
	/* a token request: its client credentials stay with the token URL */
	http_transfer_protect_header(x, "Authorization");
	if (body)
		http_transfer_protect_body(x);
	http_perform(&x, 1, 1, 1, f->allowlist);
	r = http_transfer_result(x);
	http_call_log(&r, 1);
	f->requests++;
	return r;
}

/* Does url's query have a parameter called name? */
bool
sync_url_has_param(const char *url, const char *name)
{
	const char *q = strchr(url, '?');
	size_t		n = strlen(name);

	if (q == NULL)
		return false;
	for (q++; *q && *q != '#';)
	{
		size_t		len = strcspn(q, "=&#");

		if (len == n && strncmp(q, name, n) == 0)
			return true;
		q += strcspn(q, "&#");
		if (*q == '&')
			q++;
	}
	return false;
}

/*
 * A request of the source to url: the source's parameters (and the
 * caller's, pnames/pvalues), its headers, its body, its credentials.  A
 * next page the API named (as_given: a Link header or a next URL) is
 * requested as the API gave it: only credentials it lacks are added.
 * Nothing is sent yet.  Allocated in the current memory context.
 */
SyncRequest *
sync_request(SyncFetcher *f, const char *url, List *pnames, List *pvalues,
			 const char *body, bool as_given)
{
	const SyncSpec *s = f->spec;
	SyncRequest *q = palloc0(sizeof(SyncRequest));
	char	   *origin = http_url_origin(url);

	/* a next page elsewhere would get the source's credentials */
	if (origin == NULL || f->origin == NULL || strcmp(origin, f->origin) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("source \"%s\": the next page %s is not on the origin of request.url (%s)",
						s->source, http_redact_url(url), f->origin ? f->origin : "?"),
				 errdetail("A source's requests, and its credentials, go only to the scheme, host and port of its request.url."),
				 errhint("If the API serves its pages from there, make that origin the source's request.url; the pages before this one are loaded.")));
	q->url = pstrdup(url);
	q->pn = list_copy(pnames);
	q->pv = list_copy(pvalues);
	q->body = body ? pstrdup(body) : NULL;
	for (int i = 0; i < s->nheaders; i++)
	{
		q->hn = lappend(q->hn, s->headers[i].name);
		q->hv = lappend(q->hv, sync_resolve(f, &s->headers[i].value, psprintf("header \"%s\"", s->headers[i].name)));
		if (s->headers[i].value.secret != NULL)
			q->cn = lappend(q->cn, s->headers[i].name);
	}
	for (int i = 0; i < s->nparams; i++)
	{
		const SyncValue *v = &s->params[i].value;

		/* as given: only a credential the URL lacks */
		if (as_given && (v->secret == NULL || sync_url_has_param(url, s->params[i].name)))
			continue;
		/* {cursor} in the text: left out until there is a cursor (pager.c) */
		if (v->literal && sync_text_has_cursor(v->literal))
			continue;
		q->pn = lappend(q->pn, s->params[i].name);
		q->pv = lappend(q->pv, sync_resolve(f, v, psprintf("parameter \"%s\"", s->params[i].name)));
	}
	switch (s->auth)
	{
		case SYNC_AUTH_NONE:
			break;
		case SYNC_AUTH_API_KEY:
			if (s->api_key_in_query)
			{
				if (!sync_url_has_param(url, s->api_key_name))
				{
					q->pn = lappend(q->pn, s->api_key_name);
					q->pv = lappend(q->pv, f->auth_value);
				}
			}
			else
			{
				q->hn = lappend(q->hn, s->api_key_name);
				q->hv = lappend(q->hv, f->auth_value);
				q->cn = lappend(q->cn, s->api_key_name);
			}
			break;
		case SYNC_AUTH_BASIC:
		case SYNC_AUTH_BEARER:
			q->hn = lappend(q->hn, "Authorization");
			q->hv = lappend(q->hv, f->auth_value);
			q->cn = lappend(q->cn, "Authorization");
			break;
		case SYNC_AUTH_OAUTH2:
		case SYNC_AUTH_TOKEN:
			if (s->auth == SYNC_AUTH_TOKEN && s->token_in_query)
			{
				if (!sync_url_has_param(url, s->token_name))
				{
					q->pn = lappend(q->pn, s->token_name);
					q->pv = lappend(q->pv, sync_auth_credential(f, false));
					q->auth = SYNC_AUTH_IN_QUERY;
				}
			}
			else
			{
				const char *name = s->auth == SYNC_AUTH_OAUTH2 ? "Authorization" : s->token_name;

				q->hn = lappend(q->hn, (char *) name);
				q->hv = lappend(q->hv, sync_auth_credential(f, false));
				q->cn = lappend(q->cn, (char *) name);
				q->auth = SYNC_AUTH_IN_HEADER;
			}
			break;
	}
	return q;
}

/*
 * The transfer of one attempt of q (validated, not started); its
 * credential headers go only to the origin of q's URL, whatever redirects.
 */
static HttpTransfer *
request_transfer(SyncFetcher *f, SyncRequest *q)
{
	HttpTransfer *x;
	ListCell   *lc;

	rate_wait(f);
	f->requests++;
	x = http_transfer_create(f->spec->method, q->url, pairs_jsonb(q->pn, q->pv),
							 pairs_jsonb(q->hn, q->hv), q->body,
							 q->body ? strlen(q->body) : 0,
							 q->body ? "application/json" : NULL,
							 &f->limits, f->allowlist);
	foreach(lc, q->cn)
		http_transfer_protect_header(x, lfirst(lc));
	return x;
}

/*
 * Send q's first attempt now and let the response come while the caller
 * loads the page before it; sync_fetch() collects it.  No other request
 * may run in between.
 */
void
sync_request_begin(SyncFetcher *f, SyncRequest *q)
{
	q->begun = request_transfer(f, q);
	http_begin(q->begun, f->allowlist);
}

/* Abandon a begun request (on an error path). */
void
sync_request_abort(SyncRequest *q)
{
	if (q && q->begun)
	{
		http_abort(q->begun);
		q->begun = NULL;
	}
}

/* Put a renewed credential in q, where the first one was. */
static void
renew_credential(SyncFetcher *f, SyncRequest *q)
{
	char	   *cred = sync_auth_credential(f, true);

	if (q->auth == SYNC_AUTH_IN_HEADER)
		llast(q->hv) = cred;
	else if (q->auth == SYNC_AUTH_IN_QUERY)
		llast(q->pv) = cred;
}

/*
 * Raise that the API refused the request: a 4xx, or its own error code
 * (api: "code" or "code: message").
 */
pg_noreturn static void refused(SyncFetcher *f, HttpResult *r, const char *what, const char *api);

static void
refused(SyncFetcher *f, HttpResult *r, const char *what, const char *api)
{
	const SyncSpec *s = f->spec;
	bool		auth = r->status == 401 || r->status == 403;

	if (api != NULL)
		ereport(ERROR,
				(errcode(auth ? ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION : ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\": %s from %s answered error %s",
						s->source, what, r->redacted_url, api),
				 errdetail("Status %d; the API's error code is at %s.", r->status, s->errors.code_path_text),
				 errhint("The API refused the request the source describes; check its request, auth and errors settings.")));
	ereport(ERROR,
			(errcode(auth ? ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION : ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("source \"%s\": %s from %s answered status %d",
					s->source, what, r->redacted_url, r->status),
			 errdetail("Body: %s", body_snippet(r)),
			 auth ? errhint("Check the source's auth and the secrets it names.") :
			 errhint("The API refused the request the source describes; check request.url, request.params and pagination.")));
}

/* "code" or "code: message" of the API's own error, for messages. */
static char *
api_text(const char *code, const char *message)
{
	if (code == NULL)
		return NULL;
	return message ? psprintf("%s: %.200s", code, message) : pstrdup(code);
}

/*
 * Perform q under the retry policy (collecting its begun first attempt if
 * any).  accept() judges a 2xx response (it parses the page).  what names
 * the request in messages ("page 3").  Raises the final error when every
 * attempt failed.
 */
HttpResult *
sync_fetch(SyncFetcher *f, SyncRequest *q, const char *what,
		   SyncAcceptFn accept, void *arg)
{
	const SyncSpec *s = f->spec;
	bool		renewed = false;
	bool		can_renew = s->auth == SYNC_AUTH_OAUTH2 || s->auth == SYNC_AUTH_TOKEN;
	HttpResult *r = NULL;
	char	   *why = NULL;
	char	   *last_api = NULL;

	for (int attempt = 1;; attempt++)
	{
		long		wait = -1;
		SyncAccept	verdict = SYNC_ACCEPT_RETRY;
		char	   *api = NULL;

		HttpTransfer *x = q->begun ? q->begun : request_transfer(f, q);

		why = NULL;
		q->begun = NULL;
		http_perform(&x, 1, 1, 1, f->allowlist);
		r = http_transfer_result(x);
		http_call_log(&r, 1);

		if (r->ok && (r->status < 200 || r->status > 299))
		{
			char	   *code;
			char	   *message;
			bool		transient = sync_status_retryable(r->status) || rate_limit_spent(r);

			/* an error status may carry the API's own code */
			switch (sync_api_error(s, VARDATA_ANY(r->body), VARSIZE_ANY_EXHDR(r->body), &code, &message))
			{
				case SYNC_API_OK:
					verdict = r->status == 401 ? SYNC_ACCEPT_TOKEN :
						transient ? SYNC_ACCEPT_RETRY : SYNC_ACCEPT_FAIL;
					break;
				case SYNC_API_TOKEN:
					verdict = SYNC_ACCEPT_TOKEN;
					break;
				case SYNC_API_RETRY:
					verdict = SYNC_ACCEPT_RETRY;
					break;
				case SYNC_API_FAIL:
					verdict = transient ? SYNC_ACCEPT_RETRY : SYNC_ACCEPT_FAIL;
					break;
			}
			api = api_text(code, message);
			if (verdict == SYNC_ACCEPT_RETRY)
				wait = wait_asked_ms(r);
		}
		else if (r->ok)
		{
			verdict = accept(r, arg, &why);
			if (verdict == SYNC_ACCEPT_OK)
				return r;
			if (verdict != SYNC_ACCEPT_RETRY)
			{
				api = why;
				why = NULL;
			}
			if (verdict == SYNC_ACCEPT_BUSY)
			{
				verdict = SYNC_ACCEPT_RETRY;
				wait = wait_asked_ms(r);
			}
		}
		else if (!sync_error_retryable(r->error.sqlerrcode))
			ereport(ERROR,
					(errcode(r->error.sqlerrcode),
					 errmsg("source \"%s\": %s: %s", s->source, what, r->error.message),
					 r->error.detail ? errdetail("%s", r->error.detail) : 0,
					 r->error.hint ? errhint("%s", r->error.hint) : 0));

		if (verdict == SYNC_ACCEPT_TOKEN)
		{
			if (can_renew && !renewed && q->auth != SYNC_AUTH_IN_NONE)
			{
				/* the token expired early or was revoked: one fresh token */
				renewed = true;
				renew_credential(f, q);
				attempt--;
				f->retries++;
				continue;
			}
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("source \"%s\": %s from %s answered %s",
							s->source, what, r->redacted_url,
							api ? psprintf("error %s", api) : psprintf("status %d", r->status)),
					 errdetail("%s", renewed ? "A new token was refused too." : "The source's credentials were refused."),
					 errhint("Check the source's auth and the secrets it names.")));
		}
		if (verdict == SYNC_ACCEPT_FAIL)
			refused(f, r, what, api);
		last_api = api;

		/* transient: wait and try again, or give up */
		if (attempt >= s->max_attempts)
			break;
		if (wait > s->max_retry_after_ms)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_EXCEPTION),
					 errmsg("source \"%s\": %s from %s asks to retry after %ld s, more than retry.max_retry_after_ms allows",
							s->source, what, r->redacted_url, (wait + 999) / 1000),
					 errhint("Run the sync later, or raise retry.max_retry_after_ms.")));
		if (wait < 0)
			wait = sync_backoff_ms(s, attempt);
		f->retries++;
		sync_sleep_ms(wait);
	}

	/* every attempt failed */
	if (last_api != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("source \"%s\": %s from %s answered error %s",
						s->source, what, r->redacted_url, last_api),
				 errdetail("%d attempts were made; the API's error code is at %s.", s->max_attempts,
						   s->errors.code_path_text),
				 errhint("The next run resumes from this page.")));
	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("source \"%s\": %s from %s is not usable: %s",
						s->source, what, r->redacted_url, why),
				 errdetail("%d attempts were made.", s->max_attempts)));
	if (r->ok)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("source \"%s\": %s from %s answered status %d",
						s->source, what, r->redacted_url, r->status),
				 errdetail("%d attempts were made; the last body: %s", s->max_attempts, body_snippet(r)),
				 errhint("The next run resumes from this page.")));
	ereport(ERROR,
			(errcode(r->error.sqlerrcode),
			 errmsg("source \"%s\": %s: %s", s->source, what, r->error.message),
			 errdetail("%d attempts were made.%s%s", s->max_attempts,
					   r->error.detail ? " " : "", r->error.detail ? r->error.detail : ""),
			 errhint("The next run resumes from this page.")));
	return NULL;				/* keep the compiler quiet */
}

/*
 * The rel="next" target of a Link header (RFC 8288), or NULL.
 */
char *
sync_link_next(const char *link)
{
	const char *p = link;

	while (p && *p)
	{
		const char *lt = strchr(p, '<');
		const char *gt;
		const char *end;
		char	   *params;

		if (lt == NULL)
			return NULL;
		gt = strchr(lt, '>');
		if (gt == NULL)
			return NULL;
		/* the parameters run to the next link-value: a ',' before a '<' */
		end = strchr(gt, '<');
		if (end == NULL)
			end = gt + strlen(gt);
		params = pnstrdup(gt + 1, end - gt - 1);
		for (char *c = params; *c; c++)
			*c = pg_ascii_tolower((unsigned char) *c);
		{
			char	   *rel = strstr(params, "rel=");

			if (rel)
			{
				char	   *v = rel + 4;
				char		stop = ';';

				if (*v == '"')
				{
					v++;
					stop = '"';
				}
				/* rel may hold several space-separated types */
				while (*v && *v != stop && *v != ',')
				{
					size_t		n = strcspn(v, " \";,");

					if (n == 4 && strncmp(v, "next", 4) == 0)
						return pnstrdup(lt + 1, gt - lt - 1);
					v += n;
					while (*v == ' ')
						v++;
				}
			}
		}
		p = end;
	}
	return NULL;
}

/*
 * ref resolved against base (a relative next link), or NULL if either is
 * not a URL.
 */
char *
sync_resolve_url(const char *base, const char *ref)
{
	CURLU	   *u = curl_url();
	char	   *out = NULL;
	char	   *res = NULL;

	if (u == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
		curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
	{
		res = pstrdup(out);
		curl_free(out);
	}
	curl_url_cleanup(u);
	return res;
}
