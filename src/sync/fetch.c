/*-------------------------------------------------------------------------
 *
 * fetch.c
 *	  Requests of a sync run: authentication, retries with backoff and
 *	  jitter, Retry-After, the source's request-rate limit, OAuth2 tokens.
 *
 * Credentials are resolved from concord.secret once per run and placed in
 * request headers (never logged) or, for an API key sent as a query
 * parameter, in a parameter whose name is hidden by URL redaction for the
 * length of the run.  No message built here contains a credential.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include <curl/curl.h>

#include "common/base64.h"
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

/* An OAuth2 token kept for the session, per source. */
typedef struct OAuthToken
{
	char		source[NAMEDATALEN * 2];
	char		fingerprint[512];	/* token URL, client, owner, secrets */
	char	   *access_token;	/* in TopMemoryContext */
	char	   *refresh_token;	/* a rotated one, if the server sent it */
	TimestampTz expires_at;		/* 0: unknown, until a 401 */
	struct OAuthToken *next;
} OAuthToken;

static OAuthToken *tokens = NULL;

/*
 * The plaintext of a SyncValue (literal or secret), a secret resolved for
 * the source's owner; raises if unavailable or not hers to use.
 */
static char *
resolve(SyncFetcher *f, const SyncValue *v, const char *what)
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

/* Raise unless the source's owner may use the secret v names (if any). */
static void
check_secret(const SyncSpec *s, Oid owner, const SyncValue *v, const char *path)
{
	int			code;
	char	   *msg;
	char	   *hint;

	if (v->secret == NULL || secret_check_use(v->secret, owner, &code, &msg, &hint))
		return;
	if (code == ERRCODE_UNDEFINED_OBJECT)
		ereport(ERROR,
				(errcode(code),
				 errmsg("secret \"%s\" named by source \"%s\" does not exist", v->secret, s->source),
				 errdetail("Path: %s.", path),
				 hint ? errhint("%s", hint) : 0));
	ereport(ERROR,
			(errcode(code),
			 errmsg("permission denied for secret \"%s\" named by source \"%s\"", v->secret, s->source),
			 errdetail("Path: %s. The source's owner must be allowed to use the secret.", path),
			 hint ? errhint("%s", hint) : 0));
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
	check_secret(s, owner, &s->api_key, "auth.value");
	check_secret(s, owner, &s->username, "auth.username");
	check_secret(s, owner, &s->password, "auth.password");
	check_secret(s, owner, &s->token, "auth.token");
	check_secret(s, owner, &s->client_id, "auth.client_id");
	check_secret(s, owner, &s->client_secret, "auth.client_secret");
	check_secret(s, owner, &s->refresh_token, "auth.refresh_token");
}

/* strdup into TopMemoryContext (or NULL). */
static char *
top_strdup(const char *s)
{
	return s ? MemoryContextStrdup(TopMemoryContext, s) : NULL;
}

static void
top_free(char *s)
{
	if (s)
	{
		explicit_bzero(s, strlen(s));
		pfree(s);
	}
}

/* The cache entry for this source's OAuth2 settings, created if missing. */
static OAuthToken *
token_entry(SyncFetcher *f)
{
	const SyncSpec *s = f->spec;
	char		fp[512];
	OAuthToken *t;

	/* a token got with another owner's or another secret's credentials is not hers */
	snprintf(fp, sizeof(fp), "%s|%s|%s|%s|%u|%s|%s", s->token_url,
			 s->client_id.literal ? s->client_id.literal : "",
			 s->client_id.secret ? s->client_id.secret : "",
			 s->oauth_refresh ? "refresh" : "client", f->owner,
			 s->client_secret.secret ? s->client_secret.secret : "",
			 s->refresh_token.secret ? s->refresh_token.secret : "");
	for (t = tokens; t; t = t->next)
		if (strcmp(t->source, s->source) == 0)
			break;
	if (t == NULL)
	{
		t = MemoryContextAllocZero(TopMemoryContext, sizeof(OAuthToken));
		strlcpy(t->source, s->source, sizeof(t->source));
		t->next = tokens;
		tokens = t;
	}
	if (strcmp(t->fingerprint, fp) != 0)
	{
		/* the source's auth changed: nothing cached applies */
		top_free(t->access_token);
		top_free(t->refresh_token);
		t->access_token = t->refresh_token = NULL;
		t->expires_at = 0;
		strlcpy(t->fingerprint, fp, sizeof(t->fingerprint));
	}
	return t;
}

/* Append name=value, form-encoded, to a request body. */
static void
form_append(StringInfo b, const char *name, const char *value)
{
	char	   *e;

	if (value == NULL)
		return;
	e = curl_easy_escape(NULL, value, 0);
	if (e == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	appendStringInfo(b, "%s%s=%s", b->len ? "&" : "", name, e);
	explicit_bzero(e, strlen(e));
	curl_free(e);
}

/* "Basic base64(user:password)" */
static char *
basic_header(const char *user, const char *password)
{
	char	   *pair = psprintf("%s:%s", user, password);
	int			len = strlen(pair);
	int			enclen = pg_b64_enc_len(len);
	char	   *out = palloc(enclen + 7);
	int			n;

	memcpy(out, "Basic ", 6);
	n = concord_b64_encode(pair, len, out + 6, enclen);
	explicit_bzero(pair, len);
	if (n < 0)
		elog(ERROR, "could not encode credentials");
	out[6 + n] = '\0';
	return out;
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

/*
 * Prepare the requests of one run of spec, a source owned by owner: check
 * that she may use its secrets, resolve credentials, hide an API key
 * parameter from redaction, load the allowlist.  Allocates in the current
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

	switch (spec->auth)
	{
		case SYNC_AUTH_NONE:
		case SYNC_AUTH_OAUTH2:
			break;
		case SYNC_AUTH_API_KEY:
			f->auth_value = resolve(f, &spec->api_key, "API key");
			if (spec->api_key_in_query && !http_redact_hide_param(spec->api_key_name))
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("source \"%s\" cannot hide API key parameter \"%s\" in logs",
								spec->source, spec->api_key_name),
						 errhint("Use a parameter name of at most 63 bytes.")));
			f->hid_param = spec->api_key_in_query;
			break;
		case SYNC_AUTH_BASIC:
			f->auth_value = basic_header(resolve(f, &spec->username, "user name"),
										 resolve(f, &spec->password, "password"));
			break;
		case SYNC_AUTH_BEARER:
			f->auth_value = psprintf("Bearer %s", resolve(f, &spec->token, "token"));
			break;
	}
	return f;
}

/* Undo what sync_fetcher_create set up outside its memory (safe twice). */
void
sync_fetcher_done(SyncFetcher *f)
{
	if (f && f->hid_param)
	{
		http_redact_clear_params();
		f->hid_param = false;
	}
}

/* Sleep ms milliseconds, waking for interrupts. */
static void
sleep_ms(long ms)
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
			sleep_ms(interval - since);
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

/* Retry-After as milliseconds from now (seconds or an HTTP date); -1 if absent. */
static long
retry_after_ms(const HttpResult *r)
{
	const char *v = sync_header(r, "retry-after");
	char	   *end;
	long		secs;
	time_t		when;

	if (v == NULL)
		return -1;
	while (*v == ' ')
		v++;
	secs = strtol(v, &end, 10);
	if (end != v && (*end == '\0' || *end == ' '))
		return secs < 0 ? 0 : secs * 1000L;
	when = curl_getdate(v, NULL);
	if (when == -1)
		return -1;
	secs = (long) (when - time(NULL));
	return secs < 0 ? 0 : secs * 1000L;
}

/* Exponential backoff with jitter for attempt (1-based), in ms. */
static long
backoff_ms(const SyncSpec *s, int attempt)
{
	double		b = (double) s->backoff_ms * pow(2.0, attempt - 1);

	if (b > s->max_backoff_ms)
		b = s->max_backoff_ms;
	/* "equal jitter": half fixed, half random */
	return (long) (b / 2 + (b / 2) * pg_prng_double(&pg_global_prng_state));
}

static bool
status_retryable(int status)
{
	return status == 408 || status == 425 || status == 429 ||
		status == 500 || status == 502 || status == 503 || status == 504;
}

static bool
error_retryable(int code)
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

/* One attempt: build and perform the request. */
static HttpResult *
perform(SyncFetcher *f, const char *method, const char *url, List *pnames,
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
	http_transfer_protect_body(x);
	http_perform(&x, 1, 1, 1, f->allowlist);
	r = http_transfer_result(x);
	http_call_log(&r, 1);
	f->requests++;
	return r;
}

/*
 * Get an OAuth2 access token: from the session cache while it is fresh,
 * else from the token endpoint (refreshing with a rotated refresh token
 * when the server sent one).
 */
static const char *
oauth_token(SyncFetcher *f, bool force)
{
	const SyncSpec *s = f->spec;
	OAuthToken *t = token_entry(f);
	StringInfoData body;
	List	   *hn = NIL,
			   *hv = NIL;
	HttpResult *r;
	char	   *access,
			   *refresh,
			   *why;
	int64		expires_in;

	if (!force && t->access_token &&
		(t->expires_at == 0 ||
		 GetCurrentTimestamp() < TimestampTzPlusMilliseconds(t->expires_at, -30000)))
		return t->access_token;

	initStringInfo(&body);
	if (s->oauth_refresh)
	{
		form_append(&body, "grant_type", "refresh_token");
		form_append(&body, "refresh_token", t->refresh_token ? t->refresh_token :
					resolve(f, &s->refresh_token, "refresh token"));
	}
	else
		form_append(&body, "grant_type", "client_credentials");
	if (s->client_auth_basic)
	{
		hn = lappend(hn, "Authorization");
		hv = lappend(hv, basic_header(resolve(f, &s->client_id, "client id"),
									  resolve(f, &s->client_secret, "client secret")));
	}
	else
	{
		form_append(&body, "client_id", resolve(f, &s->client_id, "client id"));
		form_append(&body, "client_secret", resolve(f, &s->client_secret, "client secret"));
	}
	form_append(&body, "scope", s->scope);
	hn = lappend(hn, "Accept");
	hv = lappend(hv, "application/json");

	for (int attempt = 1;; attempt++)
	{
		bool		retry;

		r = perform(f, "POST", s->token_url, NIL, NIL, hn, hv, body.data,
					"application/x-www-form-urlencoded");
		retry = r->ok ? status_retryable(r->status) : error_retryable(r->error.sqlerrcode);
		if (!retry || attempt >= s->max_attempts)
			break;
		f->retries++;
		sleep_ms(backoff_ms(s, attempt));
	}
	explicit_bzero(body.data, body.len);
	if (!r->ok)
		ereport(ERROR,
				(errcode(r->error.sqlerrcode),
				 errmsg("source \"%s\" could not get an OAuth2 token: %s", s->source, r->error.message),
				 r->error.detail ? errdetail("%s", r->error.detail) : 0));
	if (r->status < 200 || r->status > 299 ||
		!sync_oauth_parse(VARDATA_ANY(r->body), VARSIZE_ANY_EXHDR(r->body),
						  &access, &refresh, &expires_in, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("source \"%s\" could not get an OAuth2 token from %s: status %d",
						s->source, r->redacted_url, r->status),
				 errdetail("%s.", (r->status >= 200 && r->status <= 299) ? why :
						   (sync_oauth_parse(VARDATA_ANY(r->body), VARSIZE_ANY_EXHDR(r->body),
											 &access, &refresh, &expires_in, &why), why)),
				 errhint("Check auth.client_id, the client secret and auth.token_url of the source.")));
	top_free(t->access_token);
	t->access_token = top_strdup(access);
	explicit_bzero(access, strlen(access));
	if (refresh)
	{
		top_free(t->refresh_token);
		t->refresh_token = top_strdup(refresh);
		explicit_bzero(refresh, strlen(refresh));
	}
	t->expires_at = expires_in > 0 ?
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), expires_in * 1000) : 0;
	f->tokens_fetched++;
	return t->access_token;
}

/*
 * A request of the source: url with the source's parameters plus extra
 * (names/values lists of C strings) and its headers with credentials.
 * Nothing is sent yet.  Allocated in the current memory context.
 */
SyncRequest *
sync_request(SyncFetcher *f, const char *url, List *pnames, List *pvalues)
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
	for (int i = 0; i < s->nheaders; i++)
	{
		q->hn = lappend(q->hn, s->headers[i].name);
		q->hv = lappend(q->hv, resolve(f, &s->headers[i].value, psprintf("header \"%s\"", s->headers[i].name)));
		if (s->headers[i].value.secret != NULL)
			q->cn = lappend(q->cn, s->headers[i].name);
	}
	for (int i = 0; i < s->nparams; i++)
	{
		q->pn = lappend(q->pn, s->params[i].name);
		q->pv = lappend(q->pv, resolve(f, &s->params[i].value, psprintf("parameter \"%s\"", s->params[i].name)));
	}
	if (s->auth == SYNC_AUTH_API_KEY && s->api_key_in_query && strstr(url, psprintf("%s=", s->api_key_name)) == NULL)
	{
		q->pn = lappend(q->pn, s->api_key_name);
		q->pv = lappend(q->pv, f->auth_value);
	}
	else if (s->auth == SYNC_AUTH_API_KEY && !s->api_key_in_query)
	{
		q->hn = lappend(q->hn, s->api_key_name);
		q->hv = lappend(q->hv, f->auth_value);
		q->cn = lappend(q->cn, s->api_key_name);
	}
	else if (s->auth == SYNC_AUTH_BASIC || s->auth == SYNC_AUTH_BEARER)
	{
		q->hn = lappend(q->hn, "Authorization");
		q->hv = lappend(q->hv, f->auth_value);
		q->cn = lappend(q->cn, "Authorization");
	}
	else if (s->auth == SYNC_AUTH_OAUTH2)
	{
		q->hn = lappend(q->hn, "Authorization");
		q->hv = lappend(q->hv, psprintf("Bearer %s", oauth_token(f, false)));
		q->cn = lappend(q->cn, "Authorization");
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
							 pairs_jsonb(q->hn, q->hv), NULL, 0, NULL,
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

/*
 * Perform q under the retry policy (collecting its begun first attempt if
 * any).  accept() judges a 2xx response (it parses the page); when it
 * returns false the response counts as a failed attempt with its reason.
 * what names the request in messages ("page 3").  Raises the final error
 * when every attempt failed.
 */
HttpResult *
sync_fetch(SyncFetcher *f, SyncRequest *q, const char *what,
		   SyncAcceptFn accept, void *arg)
{
	const SyncSpec *s = f->spec;
	bool		refreshed = false;
	HttpResult *r = NULL;
	char	   *why = NULL;

	for (int attempt = 1;; attempt++)
	{
		long		wait;

		HttpTransfer *x = q->begun ? q->begun : request_transfer(f, q);

		why = NULL;
		q->begun = NULL;
		http_perform(&x, 1, 1, 1, f->allowlist);
		r = http_transfer_result(x);
		http_call_log(&r, 1);
		if (r->ok && r->status == 401 && s->auth == SYNC_AUTH_OAUTH2 && !refreshed)
		{
			/* the token expired early or was revoked: one fresh token */
			refreshed = true;
			llast(q->hv) = psprintf("Bearer %s", oauth_token(f, true));
			attempt--;
			f->retries++;
			continue;
		}
		if (r->ok && r->status >= 200 && r->status <= 299)
		{
			if (accept(r, arg, &why))
				return r;
		}
		else if (r->ok && !status_retryable(r->status))
			ereport(ERROR,
					(errcode(r->status == 401 || r->status == 403 ?
							 ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION :
							 ERRCODE_CONNECTION_EXCEPTION),
					 errmsg("source \"%s\": %s from %s answered status %d",
							s->source, what, r->redacted_url, r->status),
					 errdetail("Body: %s", body_snippet(r)),
					 (r->status == 401 || r->status == 403) ?
					 errhint("Check the source's auth and the secrets it names.") : 0));
		else if (!r->ok && !error_retryable(r->error.sqlerrcode))
			ereport(ERROR,
					(errcode(r->error.sqlerrcode),
					 errmsg("source \"%s\": %s: %s", s->source, what, r->error.message),
					 r->error.detail ? errdetail("%s", r->error.detail) : 0,
					 r->error.hint ? errhint("%s", r->error.hint) : 0));

		if (attempt >= s->max_attempts)
			break;
		wait = (r->ok && why == NULL) ? retry_after_ms(r) : -1;
		if (wait > s->max_retry_after_ms)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_EXCEPTION),
					 errmsg("source \"%s\": %s from %s asks to retry after %ld s, more than retry.max_retry_after_ms allows",
							s->source, what, r->redacted_url, wait / 1000),
					 errhint("Run the sync later, or raise retry.max_retry_after_ms.")));
		if (wait < 0)
			wait = backoff_ms(s, attempt);
		f->retries++;
		sleep_ms(wait);
	}

	/* every attempt failed */
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
