/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  Tokens of the sources that log in for one: OAuth2 (client credentials
 *	  or a refresh token) and the token endpoints of APIs that hand one out
 *	  for an app's key and secret (auth type token), possibly signed with
 *	  HMAC-SHA256.
 *
 * A token is kept for the session, per source, and renewed 30 s before it
 * expires, when the API answers 401, or when its own error code says the
 * token expired.  A token got with another owner's or another spec's
 * credentials is never reused: the cache entry carries a fingerprint of
 * both.  Tokens live in TopMemoryContext and are zeroed when replaced; no
 * message built here holds a credential.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include "common/base64.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/memutils.h"
#include "datatype/timestamp.h"
#include "utils/timestamp.h"

#include "sync/fetch.h"

/* A token kept for the session, per source. */
typedef struct TokenEntry
{
	char		source[NAMEDATALEN * 2];
	uint64		fingerprint;	/* of the auth spec and the owner */
	char	   *access_token;	/* in TopMemoryContext */
	char	   *refresh_token;	/* a rotated one, if the server sent it */
	TimestampTz expires_at;		/* 0: unknown, until a 401 */
	TimestampTz renew_at;		/* a while before it expires */
	struct TokenEntry *next;
} TokenEntry;

static TokenEntry *tokens = NULL;

/* strdup into TopMemoryContext (or NULL). */
static char *
top_strdup(const char *s)
{
	return s ? MemoryContextStrdup(TopMemoryContext, s) : NULL;
}

/* Zero and free a string of TopMemoryContext. */
static void
top_free(char *s)
{
	if (s)
	{
		explicit_bzero(s, strlen(s));
		pfree(s);
	}
}

/* Append a SyncValue's identity (never a plaintext of a secret). */
static void
fp_value(StringInfo b, const SyncValue *v)
{
	appendStringInfo(b, "|%s:%s", v->secret ? "s" : "l",
					 v->secret ? v->secret : (v->literal ? v->literal : ""));
}

/* A fingerprint of what the token depends on: the auth spec and its owner. */
static uint64
fingerprint(SyncFetcher *f)
{
	const SyncSpec *s = f->spec;
	StringInfoData b;
	uint64		h;

	initStringInfo(&b);
	appendStringInfo(&b, "%d|%u|%s|%d|%s", (int) s->auth, f->owner, s->token_url,
					 (int) s->oauth_refresh, s->scope ? s->scope : "");
	fp_value(&b, &s->client_id);
	fp_value(&b, &s->client_secret);
	fp_value(&b, &s->refresh_token);
	appendStringInfo(&b, "|%s|%s|%s|%s", s->token_method ? s->token_method : "",
					 s->token_body ? s->token_body : "",
					 s->token_path_text ? s->token_path_text : "",
					 s->sign_message ? s->sign_message : "");
	for (int i = 0; i < s->ntoken_params; i++)
	{
		appendStringInfo(&b, "|%s", s->token_params[i].name);
		fp_value(&b, &s->token_params[i].value);
	}
	for (int i = 0; i < s->ntoken_headers; i++)
	{
		appendStringInfo(&b, "|%s", s->token_headers[i].name);
		fp_value(&b, &s->token_headers[i].value);
	}
	fp_value(&b, &s->sign_key);
	h = hash_bytes_extended((const unsigned char *) b.data, b.len, 0);
	pfree(b.data);
	return h;
}

/* The cache entry for this source's auth settings, created if missing. */
static TokenEntry *
token_entry(SyncFetcher *f)
{
	const SyncSpec *s = f->spec;
	uint64		fp = fingerprint(f);
	TokenEntry *t;

	for (t = tokens; t; t = t->next)
		if (strcmp(t->source, s->source) == 0)
			break;
	if (t == NULL)
	{
		t = MemoryContextAllocZero(TopMemoryContext, sizeof(TokenEntry));
		strlcpy(t->source, s->source, sizeof(t->source));
		t->next = tokens;
		tokens = t;
	}
	if (t->fingerprint != fp)
	{
		/* the source's auth or owner changed: nothing cached applies */
		top_free(t->access_token);
		top_free(t->refresh_token);
		t->access_token = t->refresh_token = NULL;
		t->expires_at = 0;
		t->fingerprint = fp;
	}
	return t;
}

/*
 * When a token that lives expires_in seconds (unknown if not positive)
 * expires, and when to renew it: 30 s before, or halfway for a token that
 * lives less than a minute.
 */
static void
set_expiry(TokenEntry *t, int64 expires_in)
{
	TimestampTz now = GetCurrentTimestamp();

	if (expires_in <= 0)
	{
		t->expires_at = t->renew_at = 0;
		return;
	}
	expires_in = Min(expires_in, INT64CONST(100000000));
	t->expires_at = TimestampTzPlusMilliseconds(now, expires_in * 1000);
	t->renew_at = TimestampTzPlusMilliseconds(t->expires_at, -Min(30000, expires_in * 500));
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
char *
sync_basic_header(const char *user, const char *password)
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

/* POST to a token endpoint under the retry policy (transient failures). */
static HttpResult *
token_request(SyncFetcher *f, const char *method, const char *url, List *pn, List *pv,
			  List *hn, List *hv, const char *body, const char *content_type)
{
	HttpResult *r;

	for (int attempt = 1;; attempt++)
	{
		bool		retry;

		r = sync_perform(f, method, url, pn, pv, hn, hv, body, content_type);
		retry = r->ok ? sync_status_retryable(r->status) : sync_error_retryable(r->error.sqlerrcode);
		if (!retry || attempt >= f->spec->max_attempts)
			return r;
		f->retries++;
		sync_sleep_ms(sync_backoff_ms(f->spec, attempt));
	}
}

/* Raise that no token came (status or reason; never a credential). */
pg_noreturn static void token_failed(SyncFetcher *f, HttpResult *r, const char *why);

static void
token_failed(SyncFetcher *f, HttpResult *r, const char *why)
{
	const SyncSpec *s = f->spec;

	if (!r->ok)
		ereport(ERROR,
				(errcode(r->error.sqlerrcode),
				 errmsg("source \"%s\" could not get %s token: %s", s->source,
						s->auth == SYNC_AUTH_OAUTH2 ? "an OAuth2" : "a", r->error.message),
				 r->error.detail ? errdetail("%s", r->error.detail) : 0));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("source \"%s\" could not get %s token from %s: status %d",
					s->source, s->auth == SYNC_AUTH_OAUTH2 ? "an OAuth2" : "a",
					r->redacted_url, r->status),
			 why ? errdetail("%s.", why) : 0,
			 errhint("Check the source's auth: its token URL and the secrets it names.")));
}

/*
 * Get an OAuth2 access token from the token endpoint (refreshing with a
 * rotated refresh token when the server sent one).
 */
static void
oauth_fetch(SyncFetcher *f, TokenEntry *t)
{
	const SyncSpec *s = f->spec;
	StringInfoData body;
	List	   *hn = NIL,
			   *hv = NIL;
	HttpResult *r;
	char	   *access,
			   *refresh,
			   *why = NULL;
	int64		expires_in;

	initStringInfo(&body);
	if (s->oauth_refresh)
	{
		form_append(&body, "grant_type", "refresh_token");
		form_append(&body, "refresh_token", t->refresh_token ? t->refresh_token :
					sync_resolve(f, &s->refresh_token, "refresh token"));
	}
	else
		form_append(&body, "grant_type", "client_credentials");
	if (s->client_auth_basic)
	{
		hn = lappend(hn, "Authorization");
		hv = lappend(hv, sync_basic_header(sync_resolve(f, &s->client_id, "client id"),
										   sync_resolve(f, &s->client_secret, "client secret")));
	}
	else
	{
		form_append(&body, "client_id", sync_resolve(f, &s->client_id, "client id"));
		form_append(&body, "client_secret", sync_resolve(f, &s->client_secret, "client secret"));
	}
	form_append(&body, "scope", s->scope);
	hn = lappend(hn, "Accept");
	hv = lappend(hv, "application/json");

	r = token_request(f, "POST", s->token_url, NIL, NIL, hn, hv, body.data,
					  "application/x-www-form-urlencoded");
	explicit_bzero(body.data, body.len);
	if (!r->ok)
		token_failed(f, r, NULL);
	if (!sync_oauth_parse(VARDATA_ANY(r->body), VARSIZE_ANY_EXHDR(r->body),
						  &access, &refresh, &expires_in, &why) ||
		r->status < 200 || r->status > 299)
		token_failed(f, r, why);
	top_free(t->access_token);
	t->access_token = top_strdup(access);
	explicit_bzero(access, strlen(access));
	if (refresh)
	{
		top_free(t->refresh_token);
		t->refresh_token = top_strdup(refresh);
		explicit_bzero(refresh, strlen(refresh));
	}
	set_expiry(t, expires_in);
}

/* text with {timestamp} (now, in ms) and {name} (the parameters) filled in. */
static char *
fill_names(const char *text, const char *now_ms, List *pn, List *pv)
{
	StringInfoData out;
	const char *p = text;

	initStringInfo(&out);
	while (*p)
	{
		const char *close;
		bool		done = false;

		if (*p == '{' && (close = strchr(p + 1, '}')) != NULL)
		{
			char	   *name = pnstrdup(p + 1, close - p - 1);
			ListCell   *ln,
					   *lv;

			if (strcmp(name, "timestamp") == 0)
			{
				appendStringInfoString(&out, now_ms);
				done = true;
			}
			else
				forboth(ln, pn, lv, pv)
				{
					if (strcmp(lfirst(ln), name) == 0)
					{
						appendStringInfoString(&out, lfirst(lv));
						done = true;
						break;
					}
				}
			if (done)
			{
				p = close + 1;
				continue;
			}
		}
		appendStringInfoChar(&out, *p++);
	}
	return out.data;
}

/* base64 of HMAC-SHA256(key, message). */
static char *
hmac_base64(const char *key, const char *message)
{
	unsigned char mac[64];
	size_t		len = 0;
	int			enclen;
	char	   *out;
	int			n;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key),
				  (const unsigned char *) message, strlen(message),
				  mac, sizeof(mac), &len) == NULL)
		elog(ERROR, "HMAC-SHA256 failed");
	enclen = pg_b64_enc_len(len);
	out = palloc(enclen + 1);
	n = concord_b64_encode((const char *) mac, len, out, enclen);
	if (n < 0)
		elog(ERROR, "could not encode a signature");
	out[n] = '\0';
	return out;
}

/* Resolve a secret a token body names, for its source's owner. */
static char *
body_secret(const char *name, void *arg)
{
	SyncFetcher *f = (SyncFetcher *) arg;
	SyncValue	v = {NULL, (char *) name};

	return sync_resolve(f, &v, psprintf("secret \"%s\"", name));
}

/*
 * Get a token from an API's own token endpoint (auth type token): its
 * parameters, headers and body with secrets resolved, {timestamp} filled
 * in, and the signature parameter computed last.
 */
static void
token_fetch(SyncFetcher *f, TokenEntry *t)
{
	const SyncSpec *s = f->spec;
	List	   *pn = NIL,
			   *pv = NIL,
			   *hn = NIL,
			   *hv = NIL;
	/* Unix time in milliseconds */
	char	   *now_ms = psprintf(INT64_FORMAT,
								  GetCurrentTimestamp() / 1000 +
								  (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000);
	char	   *body = NULL;
	HttpResult *r;
	char	   *token,
			   *why = NULL;
	int64		expires_in;

	for (int i = 0; i < s->ntoken_params; i++)
	{
		char	   *v = sync_resolve(f, &s->token_params[i].value,
									 psprintf("token parameter \"%s\"", s->token_params[i].name));

		pn = lappend(pn, s->token_params[i].name);
		pv = lappend(pv, s->token_params[i].value.literal ? fill_names(v, now_ms, NIL, NIL) : v);
	}
	if (s->sign_param)
	{
		pn = lappend(pn, s->sign_param);
		pv = lappend(pv, hmac_base64(sync_resolve(f, &s->sign_key, "signing key"),
									 fill_names(s->sign_message, now_ms, pn, pv)));
	}
	for (int i = 0; i < s->ntoken_headers; i++)
	{
		hn = lappend(hn, s->token_headers[i].name);
		hv = lappend(hv, sync_resolve(f, &s->token_headers[i].value,
									  psprintf("token header \"%s\"", s->token_headers[i].name)));
	}
	hn = lappend(hn, "Accept");
	hv = lappend(hv, "application/json");
	if (s->token_body)
		body = sync_body_build(s->source, s->token_body, "auth.body", NULL,
							   NULL, 0, body_secret, f);

	r = token_request(f, s->token_method, s->token_url, pn, pv, hn, hv, body,
					  body ? "application/json" : NULL);
	if (body)
		explicit_bzero(body, strlen(body));
	if (!r->ok)
		token_failed(f, r, NULL);
	if (r->status < 200 || r->status > 299 ||
		!sync_token_parse(s, VARDATA_ANY(r->body), VARSIZE_ANY_EXHDR(r->body),
						  &token, &expires_in, &why))
	{
		if (why == NULL)
			(void) sync_token_parse(s, VARDATA_ANY(r->body), VARSIZE_ANY_EXHDR(r->body),
									&token, &expires_in, &why);
		token_failed(f, r, why);
	}
	top_free(t->access_token);
	t->access_token = top_strdup(token);
	explicit_bzero(token, strlen(token));
	set_expiry(t, expires_in);
}

/*
 * The credential a request of the source carries, for a source that logs
 * in for a token: "Bearer <token>" (OAuth2), or the token with the spec's
 * prefix (auth type token).  From the session's cache while it is fresh,
 * else (or when renew is asked) from the token endpoint.
 */
char *
sync_auth_credential(SyncFetcher *f, bool renew)
{
	const SyncSpec *s = f->spec;
	TokenEntry *t = token_entry(f);

	if (renew || t->access_token == NULL ||
		(t->expires_at != 0 && GetCurrentTimestamp() >= t->renew_at))
	{
		if (s->auth == SYNC_AUTH_OAUTH2)
			oauth_fetch(f, t);
		else
			token_fetch(f, t);
		f->tokens_fetched++;
	}
	if (s->auth == SYNC_AUTH_OAUTH2)
		return psprintf("Bearer %s", t->access_token);
	return psprintf("%s%s", s->token_prefix, t->access_token);
}

/* Forget the source's cached token: the next request gets a new one. */
void
sync_auth_forget(SyncFetcher *f)
{
	TokenEntry *t = token_entry(f);

	top_free(t->access_token);
	t->access_token = NULL;
	t->expires_at = 0;
}
