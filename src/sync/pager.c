/*-------------------------------------------------------------------------
 *
 * pager.c
 *	  The walk of a pass: the request for the page at the pager's position,
 *	  fetching and parsing it, and moving past it to the next page (or to
 *	  the end), with the guards against walks that would never end.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "concord.h"
#include "sync/fetch.h"
#include "sync/load.h"
#include "sync/run.h"

/*
 * The value sent as the incremental cursor parameter of a new pass: the
 * stored cursor (or the spec's start) less the lookback, as JSON text.
 */
char *
sync_pass_since(Run *r, const char *stored)
{
	const SyncSpec *s = r->spec;
	SyncTarget *t = r->ld.target;
	Oid			typid = t->typid[t->cursor_col];
	const char *volatile base = stored ? stored : s->cursor_start;
	char	   *sql;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		vals[2];
	char	   *out;

	if (base == NULL)
		return NULL;
	if (s->lookback == NULL)
		return pstrdup(base);
	sql = psprintf("SELECT pg_catalog.to_jsonb(($1::%s) OPERATOR(pg_catalog.-) $2::%s) #>> '{}'",
				   format_type_be_qualified(typid),
				   TypeCategory(typid) == TYPCATEGORY_DATETIME ? "pg_catalog.interval" :
				   format_type_be_qualified(typid));
	vals[0] = CStringGetTextDatum(base);
	vals[1] = CStringGetTextDatum(s->lookback);
	PG_TRY();
	{
		if (SPI_execute_with_args(sql, 2, types, vals, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not compute the cursor of source \"%s\"", s->source);
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(r->cxt);
		e = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(e->sqlerrcode),
				 errmsg("source \"%s\": cannot subtract lookback \"%s\" from cursor \"%s\": %s",
						s->source, s->lookback, base, e->message),
				 errdetail("Path: mode.lookback.")));
	}
	PG_END_TRY();
	out = sync_spi_text(1);
	return out ? MemoryContextStrdup(r->cxt, out) : NULL;
}

/* accept() for pages: parse the body; malformed JSON is a failed attempt. */
static bool
accept_page(HttpResult *res, void *arg, char **why)
{
	Run		   *r = (Run *) arg;

	return sync_page_parse(r->spec, VARDATA_ANY(res->body), VARSIZE_ANY_EXHDR(res->body),
						   &r->page, why);
}

/* Remember a cursor or URL followed in this run; false if seen before. */
static bool
pager_remember(Pager *pg, const char *s)
{
	uint64		h = hash_bytes_extended((const unsigned char *) s, strlen(s), 0);

	for (int i = 0; i < pg->nseen; i++)
		if (pg->seen[i] == h)
			return false;
	if (pg->nseen == pg->seencap)
	{
		pg->seencap = pg->seencap ? pg->seencap * 2 : 64;
		pg->seen = pg->seen ? repalloc(pg->seen, sizeof(uint64) * pg->seencap) :
			palloc(sizeof(uint64) * pg->seencap);
	}
	pg->seen[pg->nseen++] = h;
	return true;
}

static void
repeat_error(Run *r, const char *what, const char *value)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("source \"%s\": the API returned a %s it had returned before, after page " INT64_FORMAT,
					r->source, what, r->pg.pages),
			 errdetail("The %s was \"%.200s\"; following it again would loop forever.", what, value),
			 errhint("Check the pagination settings of the source; the pages before this one are loaded.")));
}

/* Add name=value to the request's parameter lists. */
#define ADD_PARAM(n, v) do { pn = lappend(pn, (n)); pv = lappend(pv, (v)); } while (0)

/*
 * The request for the page at the pager's position (in the current memory
 * context).
 */
SyncRequest *
sync_page_request(Run *r)
{
	const SyncSpec *s = r->spec;
	Pager	   *pg = &r->pg;
	List	   *pn = NIL,
			   *pv = NIL;

	/* link and next-URL pages carry their own query after the first */
	if (pg->first || (s->page != SYNC_PAGE_LINK && s->page != SYNC_PAGE_NEXT_URL))
	{
		if (r->since && s->cursor_request_param)
			ADD_PARAM(s->cursor_request_param, r->since);
		if (s->size_param && s->page_size > 0)
			ADD_PARAM(s->size_param, psprintf(INT64_FORMAT, s->page_size));
		if (s->page == SYNC_PAGE_NUMBER)
			ADD_PARAM(s->page_param, psprintf(INT64_FORMAT, pg->page));
		else if (s->page == SYNC_PAGE_OFFSET)
			ADD_PARAM(s->offset_param, psprintf(INT64_FORMAT, pg->offset));
		else if (s->page == SYNC_PAGE_CURSOR && pg->cursor)
			ADD_PARAM(s->cursor_param, pg->cursor);
	}
	return sync_request(r->fetch, pg->url, pn, pv);
}

/*
 * Fetch and parse the page at the pager's position into r->page, in the
 * current memory context; q is its request if it was begun already.
 */
HttpResult *
sync_fetch_page(Run *r, SyncRequest *q)
{
	char	   *what = psprintf("page " INT64_FORMAT, r->pg.pages + 1);

	if (q == NULL)
		q = sync_page_request(r);
	return sync_fetch(r->fetch, q, what, accept_page, r);
}

/*
 * Move the pager past the page just fetched (n records): where the next
 * page is, or that there is none.  Raises on a loop or too many pages.
 */
void
sync_advance(Run *r, HttpResult *res, int n)
{
	const SyncSpec *s = r->spec;
	Pager	   *pg = &r->pg;
	MemoryContext old = MemoryContextSwitchTo(r->cxt);

	pg->pages++;
	pg->records += n;
	pg->first = false;
	if (n == 0 || s->page == SYNC_PAGE_NONE)
		pg->done = true;
	else if (s->page == SYNC_PAGE_NUMBER || s->page == SYNC_PAGE_OFFSET)
	{
		uint32		h = hash_bytes((const unsigned char *) VARDATA_ANY(res->body),
								   VARSIZE_ANY_EXHDR(res->body));

		if (pg->has_last && h == pg->last_hash)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("source \"%s\": page " INT64_FORMAT " is the same as the page before it",
							r->source, pg->pages),
					 errhint("The API seems to ignore the %s parameter \"%s\"; check pagination in the spec.",
							 s->page == SYNC_PAGE_NUMBER ? "page" : "offset",
							 s->page == SYNC_PAGE_NUMBER ? s->page_param : s->offset_param)));
		pg->last_hash = h;
		pg->has_last = true;
		if (s->page == SYNC_PAGE_NUMBER)
			pg->page++;
		else
			pg->offset += n;
		if (r->page.has_total)
			pg->done = (s->page == SYNC_PAGE_OFFSET ? pg->offset : pg->records) >= r->page.total;
		else if (s->stop_short_page && n < s->page_size)
			pg->done = true;
	}
	else
	{
		char	   *next = NULL;

		if (s->page == SYNC_PAGE_CURSOR)
			next = r->page.next_cursor;
		else
		{
			char	   *ref = s->page == SYNC_PAGE_LINK ?
				(sync_header(res, "link") ? sync_link_next(sync_header(res, "link")) : NULL) :
				r->page.next_url;

			if (ref)
			{
				next = sync_resolve_url(res->effective_url, ref);
				if (next == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_PROTOCOL_VIOLATION),
							 errmsg("source \"%s\": the next-page link \"%.200s\" after page " INT64_FORMAT " is not a URL",
									r->source, ref, pg->pages)));
			}
		}
		if (next == NULL)
			pg->done = true;
		else if (!pager_remember(pg, next))
			repeat_error(r, s->page == SYNC_PAGE_CURSOR ? "cursor" : "next-page URL", next);
		else if (s->page == SYNC_PAGE_CURSOR)
		{
			if (pg->cursor)
				pfree(pg->cursor);
			pg->cursor = pstrdup(next);
		}
		else
		{
			pfree(pg->url);
			pg->url = pstrdup(next);
		}
		if (!pg->done && r->page.has_total && pg->records >= r->page.total)
			pg->done = true;
	}
	if (!pg->done && pg->pages >= s->max_pages)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("source \"%s\" has more than " INT64_FORMAT " pages", r->source, s->max_pages),
				 errhint("Raise pagination.max_pages if the API really has that many.")));
	MemoryContextSwitchTo(old);
}

