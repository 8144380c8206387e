/*-------------------------------------------------------------------------
 *
 * fetch.h
 *	  Requests of a sync run (fetch.c), for the run driver and source check.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_SYNC_FETCH_H
#define CONCORD_SYNC_FETCH_H

#include "postgres.h"

#include "http/http.h"
#include "sync/sync.h"
#include "utils/timestamp.h"

/* Judge a 2xx response; false with *why makes it a failed attempt. */
typedef bool (*SyncAcceptFn) (HttpResult *r, void *arg, char **why);

typedef struct SyncFetcher
{
	const SyncSpec *spec;
	Oid			owner;			/* the source's owner: whose secrets */
	char	   *origin;			/* of request.url: where credentials go */
	MemoryContext cxt;
	List	   *allowlist;
	HttpLimits	limits;
	char	   *auth_value;		/* API key, or a whole Authorization value */
	bool		hid_param;
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
	HttpTransfer *begun;		/* first attempt in flight, or NULL */
} SyncRequest;

extern SyncFetcher *sync_fetcher_create(const SyncSpec *spec, Oid owner);
extern void sync_check_secrets(const SyncSpec *spec, Oid owner);
extern void sync_fetcher_done(SyncFetcher *f);
extern SyncRequest *sync_request(SyncFetcher *f, const char *url,
								 List *pnames, List *pvalues);
extern void sync_request_begin(SyncFetcher *f, SyncRequest *q);
extern void sync_request_abort(SyncRequest *q);
extern HttpResult *sync_fetch(SyncFetcher *f, SyncRequest *q, const char *what,
							  SyncAcceptFn accept, void *arg);
extern const char *sync_header(const HttpResult *r, const char *name);
extern char *sync_link_next(const char *link);
extern char *sync_resolve_url(const char *base, const char *ref);

#endif							/* CONCORD_SYNC_FETCH_H */
