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
 * The SQL expression that writes the cursor value v (of type typid) as
 * the source sends it: mode.cursor_format, else Unix time for a column of
 * format epoch/epoch_ms, else JSON text (ISO 8601 for times).  Sets
 * *number when the result is a number (a JSON number in a body).
 */
static char *
cursor_expr(const SyncSpec *s, Oid typid, int epoch, const char *v, bool *number)
{
	const char *fmt = s->cursor_format;
	char		cat = TypeCategory(typid);

	*number = false;
	if (fmt == NULL && epoch > 0)
		fmt = epoch == 1000 ? "epoch_ms" : "epoch";
	if (fmt != NULL && (strcmp(fmt, "epoch") == 0 || strcmp(fmt, "epoch_ms") == 0))
	{
		*number = true;
		return psprintf("pg_catalog.trim_scale(pg_catalog.extract('epoch', %s)%s)::pg_catalog.text",
						v, strcmp(fmt, "epoch_ms") == 0 ? " OPERATOR(pg_catalog.*) 1000" : "");
	}
	if (fmt != NULL)
		return psprintf("pg_catalog.to_char(%s%s, $3)", v,
						typid == TIMESTAMPTZOID ? " AT TIME ZONE 'UTC'" : "");
	*number = cat == TYPCATEGORY_NUMERIC;
	return psprintf("pg_catalog.to_jsonb(%s) #>> '{}'", v);
}

/* Is the cursor sent as a number (a JSON number in a body)? */
bool
sync_since_is_number(SyncRun *r)
{
	SyncTarget *t = r->ld.target;
	bool		number;

	(void) cursor_expr(r->spec, t->typid[t->cursor_col], r->spec->columns[t->cursor_col].epoch,
					   "$1", &number);
	return number;
}

/*
 * The value sent as the incremental cursor of a new pass: the stored
 * cursor less the lookback (or the spec's start, as it is), written as the
 * source sends it (cursor_expr).  Sets r->since_number.
 */
char *
sync_pass_since(SyncRun *r, const char *stored)
{
	const SyncSpec *s = r->spec;
	SyncTarget *t = r->ld.target;
	int			c = t->cursor_col;
	Oid			typid = t->typid[c];
	const char *volatile base = stored ? stored : s->cursor_start;
	char	   *sql;
	char	   *value;
	bool		number;
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		vals[3];
	char		nulls[3] = {' ', ' ', ' '};
	char	   *out;

	if (base == NULL)
		return NULL;
	/* a start given as a Unix time, for a column that holds Unix times */
	if (stored == NULL && s->columns[c].epoch && t->datetime[c] &&
		strspn(base, "0123456789.-+eE") == strlen(base))
		base = sync_epoch_text(&r->ld, c, base);
	value = psprintf("$1::%s", format_type_be_qualified(typid));
	/* the start is sent as it is; a stored cursor less the lookback */
	if (s->lookback && stored != NULL)
		value = psprintf("(%s OPERATOR(pg_catalog.-) $2::%s)", value,
						 TypeCategory(typid) == TYPCATEGORY_DATETIME ? "pg_catalog.interval" :
						 format_type_be_qualified(typid));
	sql = psprintf("SELECT %s", cursor_expr(s, typid, s->columns[c].epoch, value, &number));
	vals[0] = CStringGetTextDatum(base);
	vals[1] = s->lookback && stored ? CStringGetTextDatum(s->lookback) : (Datum) 0;
	nulls[1] = s->lookback && stored ? ' ' : 'n';
	vals[2] = s->cursor_format ? CStringGetTextDatum(s->cursor_format) : (Datum) 0;
	nulls[2] = s->cursor_format ? ' ' : 'n';
	PG_TRY();
	{
		if (SPI_execute_with_args(sql, 3, types, vals, nulls, true, 1) != SPI_OK_SELECT)
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
				 errmsg("source \"%s\": cannot compute the cursor to send from \"%s\"%s: %s",
						s->source, base, s->lookback && stored ? psprintf(" less lookback \"%s\"", s->lookback) : "",
						e->message),
				 errdetail("Path: mode.")));
	}
	PG_END_TRY();
	out = sync_spi_text(1);
	r->since_number = number;
	return out ? MemoryContextStrdup(r->cxt, out) : NULL;
}

/*
 * What a page's answer is worth: the API's error code in it (renew the
 * token, retry, fail), or the verdict of the parse (malformed JSON is a
 * failed attempt).
 */
SyncAccept
sync_page_verdict(SyncRun *r, bool parsed, char **why)
{
	SyncPage   *pg = &r->page;

	if (!parsed)
		return SYNC_ACCEPT_RETRY;
	if (pg->api_code == NULL)
		return SYNC_ACCEPT_OK;
	*why = pg->api_message ? psprintf("%s: %.200s", pg->api_code, pg->api_message) :
		pstrdup(pg->api_code);
	switch (sync_api_verdict(r->spec, pg->api_code))
	{
		case SYNC_API_TOKEN:
			return SYNC_ACCEPT_TOKEN;
		case SYNC_API_RETRY:
			return SYNC_ACCEPT_BUSY;
		default:
			return SYNC_ACCEPT_FAIL;
	}
}

/* accept() for pages: parse the body and judge it. */
static SyncAccept
accept_page(HttpResult *res, void *arg, char **why)
{
	SyncRun		   *r = (SyncRun *) arg;
	bool		parsed = sync_page_parse(r->spec, VARDATA_ANY(res->body), VARSIZE_ANY_EXHDR(res->body),
										 &r->page, why);

	return sync_page_verdict(r, parsed, why);
}

/* Remember a cursor or URL followed in this run; false if seen before. */
static bool
pager_remember(SyncPager *pg, const char *s)
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
repeat_error(SyncRun *r, const char *what, const char *value)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("source \"%s\": the API returned a %s it had returned before, after page " INT64_FORMAT,
					r->source, what, r->pg.pages),
			 errdetail("The %s was \"%.200s\"; following it again would loop forever.", what, value),
			 errhint("Check the pagination settings of the source; the pages before this one are loaded.")));
}

/* Resolve a secret a request body names, for the source's owner. */
static char *
body_secret(const char *name, void *arg)
{
	SyncFetcher *f = (SyncFetcher *) arg;
	SyncValue	v = {NULL, (char *) name};

	return sync_resolve(f, &v, psprintf("secret \"%s\"", name));
}

/* What a request sets besides the spec's own parameters. */
typedef struct PageParams
{
	bool		in_body;
	List	   *pn;				/* query parameters */
	List	   *pv;
	SyncBodyMember members[6];	/* or members of the JSON body */
	int			nmembers;
} PageParams;

/* Set name to value (a number or not) where the paging parameters go. */
static void
page_param(PageParams *pp, const char *name, char *value, bool number)
{
	if (pp->in_body)
	{
		pp->members[pp->nmembers].name = name;
		pp->members[pp->nmembers].value = value;
		pp->members[pp->nmembers].number = number;
		pp->nmembers++;
	}
	else
	{
		pp->pn = lappend(pp->pn, (char *) name);
		pp->pv = lappend(pp->pv, value);
	}
}

/*
 * The request for the page at the pager's position (in the current memory
 * context).  A link or next-URL page after the first is requested as the
 * API gave it: its query already says everything (sync_request adds only
 * credentials it lacks).
 */
SyncRequest *
sync_page_request(SyncRun *r)
{
	const SyncSpec *s = r->spec;
	SyncPager  *pg = &r->pg;
	PageParams	pp = {s->page_in_body, NIL, NIL, {{0}}, 0};
	bool		as_given = !pg->first && (s->page == SYNC_PAGE_LINK || s->page == SYNC_PAGE_NEXT_URL);
	char	   *body = NULL;

	if (!as_given)
	{
		if (r->since && s->cursor_request_param)
			page_param(&pp, s->cursor_request_param, r->since, r->since_number);
		if (s->size_param && s->page_size > 0)
			page_param(&pp, s->size_param, psprintf(INT64_FORMAT, s->page_size), true);
		if (s->page == SYNC_PAGE_NUMBER)
			page_param(&pp, s->page_param, psprintf(INT64_FORMAT, pg->page), true);
		else if (s->page == SYNC_PAGE_OFFSET)
			page_param(&pp, s->offset_param, psprintf(INT64_FORMAT, pg->offset), true);
		else if (s->page == SYNC_PAGE_CURSOR && pg->cursor)
			page_param(&pp, s->cursor_param, pg->cursor, pg->cursor_number);
		else if (s->page == SYNC_PAGE_CURSOR && pg->first && s->cursor_first)
			page_param(&pp, s->cursor_param, s->cursor_first, s->cursor_first_number);

		/* parameters with {cursor} in their text, once there is a cursor */
		for (int i = 0; i < s->nparams && r->since; i++)
			if (s->params[i].value.literal && sync_text_has_cursor(s->params[i].value.literal))
			{
				pp.pn = lappend(pp.pn, s->params[i].name);
				pp.pv = lappend(pp.pv, sync_text_fill_cursor(s->params[i].value.literal, r->since));
			}
	}
	if (s->body || s->page_in_body)
		body = sync_body_build(s->source, s->body, "request.body", r->since,
							   pp.members, pp.nmembers, body_secret, r->fetch);
	return sync_request(r->fetch, pg->url, pp.pn, pp.pv, body, as_given);
}

/*
 * Fetch and parse the page at the pager's position into r->page, in the
 * current memory context; q is its request if it was begun already.
 */
HttpResult *
sync_fetch_page(SyncRun *r, SyncRequest *q)
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
sync_advance(SyncRun *r, HttpResult *res, int n)
{
	const SyncSpec *s = r->spec;
	SyncPager  *pg = &r->pg;
	MemoryContext old = MemoryContextSwitchTo(r->cxt);

	pg->pages++;
	pg->records += n;
	pg->first = false;
	if (n == 0 || s->page == SYNC_PAGE_NONE)
		pg->done = true;
	else if (s->page == SYNC_PAGE_NUMBER || s->page == SYNC_PAGE_OFFSET)
	{
		if (pg->has_last && r->page.hash == pg->last_hash)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("source \"%s\": page " INT64_FORMAT " is the same as the page before it",
							r->source, pg->pages),
					 errhint("The API seems to ignore the %s parameter \"%s\"; check pagination in the spec.",
							 s->page == SYNC_PAGE_NUMBER ? "page" : "offset",
							 s->page == SYNC_PAGE_NUMBER ? s->page_param : s->offset_param)));
		pg->last_hash = r->page.hash;
		pg->has_last = true;
		if (s->page == SYNC_PAGE_NUMBER)
			pg->page++;
		else
			pg->offset += n;
		if (r->page.has_total)
			pg->done = (s->page == SYNC_PAGE_OFFSET ? pg->offset : pg->records) >= r->page.total;
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
		else if (r->page.more == 0)
			pg->done = true;
		else if (!pager_remember(pg, next))
			repeat_error(r, s->page == SYNC_PAGE_CURSOR ? "cursor" : "next-page URL", next);
		else if (s->page == SYNC_PAGE_CURSOR)
		{
			if (pg->cursor)
				pfree(pg->cursor);
			pg->cursor = pstrdup(next);
			pg->cursor_number = r->page.next_cursor_number;
		}
		else
		{
			pfree(pg->url);
			pg->url = pstrdup(next);
		}
		if (!pg->done && r->page.has_total && pg->records >= r->page.total)
			pg->done = true;
	}
	/* what every style heeds: has_more false or done true, a short page */
	if (r->page.more == 0)
		pg->done = true;
	if (s->stop_short_page && s->page_size > 0 && n < s->page_size &&
		!(s->page == SYNC_PAGE_NUMBER || s->page == SYNC_PAGE_OFFSET ? r->page.has_total : false))
		pg->done = true;
	if (!pg->done && pg->pages >= s->max_pages)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("source \"%s\" has more than " INT64_FORMAT " pages", r->source, s->max_pages),
				 errhint("Raise pagination.max_pages if the API really has that many.")));
	MemoryContextSwitchTo(old);
}

