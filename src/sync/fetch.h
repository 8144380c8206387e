/*-------------------------------------------------------------------------
 *
 * fetch.h
 *	  Requests of a sync run (fetch.c) and the credentials they carry
 *	  (auth.c), for the run driver and source check.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_SYNC_FETCH_H
#define CONCORD_SYNC_FETCH_H

#include "postgres.h"

#include "http/http.h"
#include "sync/sync.h"
#include "utils/timestamp.h"

/* What a 2xx answer is worth to the caller of sync_fetch. */
typedef enum SyncAccept
{
	SYNC_ACCEPT_OK,
	SYNC_ACCEPT_RETRY,			/* not usable (not JSON): retry */
	SYNC_ACCEPT_BUSY,			/* the API's code says busy or rate-limited: retry */
	SYNC_ACCEPT_TOKEN,			/* the token expired: renew it, retry */
	SYNC_ACCEPT_FAIL			/* the API refused: fail the run */
} SyncAccept;

/* Judge a 2xx response; anything but OK comes with *why. */
typedef SyncAccept (*SyncAcceptFn) (HttpResult *r, void *arg, char **why);

/* Where a request carries the source's credential. */
typedef enum SyncAuthPlace
{
	SYNC_AUTH_IN_NONE,
	SYNC_AUTH_IN_HEADER,		/* the last of hn/hv */
	SYNC_AUTH_IN_QUERY			/* the last of pn/pv */
} SyncAuthPlace;

typedef struct SyncFetcher
{
	const SyncSpec *spec;
	Oid			owner;			/* the source's owner: whose secrets */
	char	   *origin;			/* of request.url: where credentials go */
	MemoryContext cxt;
	List	   *allowlist;
	HttpLimits	limits;
	char	   *auth_value;		/* API key, or a whole Authorization value */
	bool		hid_params;		/* names hidden from redaction for the run */
	TimestampTz last_request;
	int			requests;
	int			retries;
	int			tokens_fetched;
} SyncFetcher;

/* One request of a run, kept so that its retries send it again. */
typedef struct SyncRequest
{
	char	   *url;
	List	   *pn;				/* query parameter names and values */
	List	   *pv;
	List	   *hn;				/* header names and values */
	List	   *hv;
	List	   *cn;				/* names of the headers holding credentials */
	char	   *body;			/* JSON body (POST), or NULL */
	SyncAuthPlace auth;			/* where the credential is, to renew it */
	HttpTransfer *begun;		/* first attempt in flight, or NULL */
} SyncRequest;

/* fetch.c */
extern SyncFetcher *sync_fetcher_create(const SyncSpec *spec, Oid owner);
extern void sync_check_secrets(const SyncSpec *spec, Oid owner);
extern void sync_fetcher_done(SyncFetcher *f);
extern char *sync_resolve(SyncFetcher *f, const SyncValue *v, const char *what);
extern SyncRequest *sync_request(SyncFetcher *f, const char *url,
								 List *pnames, List *pvalues, const char *body,
								 bool as_given);
extern void sync_request_begin(SyncFetcher *f, SyncRequest *q);
extern void sync_request_abort(SyncRequest *q);
extern HttpResult *sync_fetch(SyncFetcher *f, SyncRequest *q, const char *what,
							  SyncAcceptFn accept, void *arg);
extern HttpResult *sync_perform(SyncFetcher *f, const char *method, const char *url,
								List *pnames, List *pvalues, List *hnames,
								List *hvalues, const char *body,
								const char *content_type);
extern void sync_sleep_ms(long ms);
extern long sync_backoff_ms(const SyncSpec *s, int attempt);
extern bool sync_status_retryable(int status);
extern bool sync_error_retryable(int code);
extern const char *sync_header(const HttpResult *r, const char *name);
extern char *sync_link_next(const char *link);
extern char *sync_resolve_url(const char *base, const char *ref);
extern bool sync_url_has_param(const char *url, const char *name);

/* auth.c */
extern char *sync_auth_credential(SyncFetcher *f, bool renew);
extern char *sync_basic_header(const char *user, const char *password);
extern void sync_auth_forget(SyncFetcher *f);

#endif							/* CONCORD_SYNC_FETCH_H */
