/*-------------------------------------------------------------------------
 *
 * run.c
 *	  concord.sync(source): run a source, committing data and state per
 *	  batch of pages, so that a failure or crash at any point resumes at the
 *	  next run with nothing lost and nothing duplicated.
 *
 * A run walks a "pass": the pages of the source from the first to the
 * last.  After each batch of pages the rows, the rejects, the keys seen
 * (for deletes) and the position of the pass (next page, offset, cursor or
 * URL) commit together; a pass interrupted by an error, a cancel or a
 * crash is continued by the next run from that position.  When a pass is
 * complete, rows absent upstream are deleted or flagged (full refresh) and
 * the incremental cursor advances, in the same transaction.
 *
 * Called with CALL outside a transaction block, sync commits as it goes;
 * inside a transaction block (or from a function) it cannot, and the whole
 * run is then one transaction of the caller's.
 *
 * Only one run of a source at a time: a session-level advisory lock on the
 * source.  Holding it also proves that any run still marked "running" is
 * dead, which is then marked "interrupted".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_coerce.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "concord.h"
#include "sync/fetch.h"
#include "sync/load.h"
#include "sync/run.h"

PG_FUNCTION_INFO_V1(concord_sync);

/* Second key of the advisory locks of sync runs ("cosy"). */
#define SYNC_LOCK_KEY2 0x636f7379

/* Is the call allowed to commit (CALL outside a transaction block)? */
static bool
call_is_atomic(FunctionCallInfo fcinfo)
{
	return !(fcinfo->context && IsA(fcinfo->context, CallContext) &&
			 !castNode(CallContext, fcinfo->context)->atomic);
}

/* Commit what is done (non-atomic calls only) and start afresh. */
static void
run_commit(SyncRun *r)
{
	if (r->atomic)
	{
		CommandCounterIncrement();
		return;
	}
	if (r->pushed_snapshot)
	{
		PopActiveSnapshot();
		r->pushed_snapshot = false;
	}
	SPI_commit();
	/* C code below reads tables directly and needs a snapshot */
	PushActiveSnapshot(GetTransactionSnapshot());
	r->pushed_snapshot = true;
	MemoryContextSwitchTo(r->cxt);
}

static void
step_begin(SyncRun *r)
{
	r->owner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(r->cxt);
	r->in_sub = true;
}

static void
step_end(SyncRun *r)
{
	ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(r->cxt);
	CurrentResourceOwner = r->owner;
	r->in_sub = false;
}

/* Text of column col of the first SPI result row, or NULL. */
char *
sync_spi_text(int col)
{
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);
}

static int64
spi_int8(int col, int64 dflt)
{
	char	   *s = sync_spi_text(col);

	return s ? strtoll(s, NULL, 10) : dflt;
}

/*
 * Read a source's spec as the owner of concord's tables.  Raises an error
 * naming the source when it does not exist.
 */
char *
sync_source_spec(const char *source, char **owner)
{
	Oid			type = TEXTOID;
	Datum		v = CStringGetTextDatum(source);

	concord_owner_exec("sync_run", "SELECT spec::pg_catalog.text, owner::pg_catalog.text FROM concord.source WHERE name OPERATOR(pg_catalog.=) $1",
					1, &type, &v, NULL);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("source \"%s\" does not exist", source),
				 errhint("Sources are listed in concord.source; create one with concord.source_create(name, spec).")));
	if (owner)
		*owner = sync_spi_text(2);
	return sync_spi_text(1);
}

/* The advisory lock tag that serialises the runs of a source. */
void
sync_source_locktag(LOCKTAG *tag, const char *source)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId,
						 (uint32) hash_bytes((const unsigned char *) source, strlen(source)),
						 SYNC_LOCK_KEY2, 2);
}

/* Take the source's run lock, or raise that another session holds it. */
static void
lock_source(SyncRun *r)
{
	sync_source_locktag(&r->lock, r->source);
	if (LockAcquire(&r->lock, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("source \"%s\" is being synced by another session", r->source),
				 errhint("Wait for that run to end; concord.sync_run shows it as running.")));
	r->locked = true;
}

static void
unlock_source(SyncRun *r)
{
	if (r->locked)
	{
		LockRelease(&r->lock, ExclusiveLock, true);
		r->locked = false;
	}
}

/* Parse a cursor stored as text back into the run's maximum. */
static void
restore_cursor_max(SyncRun *r, const char *text)
{
	SyncTarget *t = r->ld.target;
	int			c = t->cursor_col;
	MemoryContext old;

	if (text == NULL || c < 0)
		return;
	old = MemoryContextSwitchTo(r->cxt);
	r->ld.cursor_max = InputFunctionCall(&t->infn[c], (char *) text, t->ioparam[c], t->typmod[c]);
	r->ld.has_cursor = true;
	MemoryContextSwitchTo(old);
}

/*
 * Set up the run: stale runs, the run row, the state of the pass (new or
 * resumed).
 */
static void
run_setup(SyncRun *r)
{
	const SyncSpec *s = r->spec;
	Oid			t1 = TEXTOID;
	Datum		v1 = CStringGetTextDatum(r->source);
	char	   *pass_run;
	Oid			types[5];
	Datum		vals[5];
	char		nulls[5];
	NameData	runner;

	/* holding the lock proves that a run still marked running is dead */
	concord_owner_exec("sync_run", "UPDATE concord.sync_run SET status = 'interrupted', finished_at = pg_catalog.now(),"
					" error = 'the run ended without finishing: its session was terminated or the server stopped'"
					" WHERE source OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'running'",
					1, &t1, &v1, NULL);

	r->ld.target = sync_target_open(s, false, false);
	sync_target_prepare(r->ld.target);
	if (SPI_keepplan(r->ld.target->upsert[0]) != 0 || SPI_keepplan(r->ld.target->upsert[1]) != 0)
		elog(ERROR, "SPI_keepplan failed");
	/* an empty table gets COPY; an existing one is expected to be unchanged */
	r->ld.form = r->ld.target->copy_ok && sync_target_empty(r->ld.target) ?
		SYNC_LOAD_COPY : SYNC_UPSERT_JOIN;
	if (s->incremental && s->retry_rejects)
		r->ld.pending = sync_rejects_pending(r->source);

	concord_owner_exec("sync_run", "SELECT cursor_value, pass_run_id, pass_since, pass_max_cursor, next_page,"
					" next_offset, next_cursor, next_url, pass_pages, pass_records, next_cursor_number"
					" FROM concord.sync_state WHERE source OPERATOR(pg_catalog.=) $1",
					1, &t1, &v1, NULL);
	r->cursor_before = sync_spi_text(1) ? MemoryContextStrdup(r->cxt, sync_spi_text(1)) : NULL;
	pass_run = sync_spi_text(2);
	if (pass_run != NULL)
	{
		/* continue the pass an earlier run left unfinished */
		r->pass_run_id = strtoll(pass_run, NULL, 10);
		r->since = sync_spi_text(3) ? MemoryContextStrdup(r->cxt, sync_spi_text(3)) : NULL;
		{
			char	   *maxc = sync_spi_text(4) ? MemoryContextStrdup(r->cxt, sync_spi_text(4)) : NULL;

			r->pg.page = spi_int8(5, s->page_start);
			r->pg.offset = spi_int8(6, 0);
			r->pg.cursor = sync_spi_text(7) ? MemoryContextStrdup(r->cxt, sync_spi_text(7)) : NULL;
			r->pg.cursor_number = sync_spi_text(11) && strcmp(sync_spi_text(11), "t") == 0;
			r->pg.url = sync_spi_text(8) ? MemoryContextStrdup(r->cxt, sync_spi_text(8)) : pstrdup(s->url);
			r->pg.pages = spi_int8(9, 0);
			r->pg.records = spi_int8(10, 0);
			r->pg.first = r->pg.pages == 0;
			restore_cursor_max(r, maxc);
			if (s->incremental)
				r->since_number = sync_since_is_number(r);
		}
	}
	else
	{
		r->pg.page = s->page_start;
		r->pg.offset = 0;
		r->pg.cursor = NULL;
		r->pg.url = pstrdup(s->url);
		r->pg.first = true;
		if (s->incremental)
			r->since = sync_pass_since(r, r->cursor_before);
		/* keys of an abandoned pass would spare rows from deletion */
		concord_owner_exec("sync_run", "DELETE FROM concord.sync_seen WHERE source OPERATOR(pg_catalog.=) $1",
						1, &t1, &v1, NULL);
	}

	types[0] = TEXTOID;
	types[1] = TEXTOID;
	types[2] = BOOLOID;
	types[3] = TEXTOID;
	vals[0] = v1;
	vals[1] = r->cursor_before ? CStringGetTextDatum(r->cursor_before) : (Datum) 0;
	vals[2] = BoolGetDatum(pass_run != NULL);
	vals[3] = r->since ? CStringGetTextDatum(r->since) : (Datum) 0;
	nulls[0] = ' ';
	nulls[1] = r->cursor_before ? ' ' : 'n';
	nulls[2] = ' ';
	nulls[3] = r->since ? ' ' : 'n';
	types[4] = NAMEOID;
	namestrcpy(&runner, GetUserNameFromId(GetUserId(), false));
	vals[4] = NameGetDatum(&runner);
	nulls[4] = ' ';
	concord_owner_exec("sync_run", "INSERT INTO concord.sync_run (source, status, cursor_before, resumed, since, run_by)"
					" VALUES ($1, 'running', $2, $3, $4, $5) RETURNING run_id",
					5, types, vals, nulls);
	r->run_id = spi_int8(1, 0);
	r->ld.run_id = r->run_id;
	if (pass_run == NULL)
		r->pass_run_id = r->run_id;
}

/* Write the run's counters (and with status, its end). */
static void
save_run(SyncRun *r, const char *status, ErrorData *e)
{
	Oid			types[15] = {INT8OID, TEXTOID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID,
	INT8OID, INT8OID, INT4OID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID};
	Datum		vals[15];
	char		nulls[16] = "               ";
	SyncCounts *c = &r->ld.counts;

	vals[0] = Int64GetDatum(r->run_id);
	vals[1] = status ? CStringGetTextDatum(status) : (Datum) 0;
	nulls[1] = status ? ' ' : 'n';
	vals[2] = Int32GetDatum(r->fetch ? r->fetch->requests : 0);
	vals[3] = Int64GetDatum(c->records);
	vals[4] = Int64GetDatum(c->inserted);
	vals[5] = Int64GetDatum(c->updated);
	vals[6] = Int64GetDatum(c->unchanged);
	vals[7] = Int64GetDatum(c->deleted);
	vals[8] = Int64GetDatum(c->rejected);
	vals[9] = Int32GetDatum(r->fetch ? r->fetch->retries : 0);
	vals[10] = e ? CStringGetTextDatum(unpack_sql_state(e->sqlerrcode)) : (Datum) 0;
	nulls[10] = e ? ' ' : 'n';
	vals[11] = e ? CStringGetTextDatum(e->message) : (Datum) 0;
	nulls[11] = e ? ' ' : 'n';
	vals[12] = Int64GetDatum(r->run_pages);
	vals[13] = Int64GetDatum(c->retried);
	vals[14] = Int64GetDatum(c->recovered);
	concord_owner_exec("sync_run", "UPDATE concord.sync_run SET"
					" status = COALESCE($2, status), requests = $3, records = $4,"
					" inserted = $5, updated = $6, unchanged = $7, deleted = $8, rejected = $9,"
					" retries = $10, error_code = $11, error = $12,"
					" pages = $13, rejects_retried = $14, rejects_loaded = $15,"
					" finished_at = CASE WHEN $2 IS NULL THEN NULL ELSE pg_catalog.now() END"
					" WHERE run_id OPERATOR(pg_catalog.=) $1",
					15, types, vals, nulls);
}

/* Write the position of the pass (or, finished, the new cursor). */
static void
save_state(SyncRun *r, bool finished, const char *cursor)
{
	Oid			types[12] = {TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID, INT8OID, INT8OID,
	TEXTOID, TEXTOID, INT8OID, INT8OID, BOOLOID};
	Datum		vals[12];
	char		nulls[13] = "            ";
	char	   *maxc = finished ? NULL : sync_cursor_text(&r->ld);

	vals[0] = CStringGetTextDatum(r->source);
	vals[1] = cursor ? CStringGetTextDatum(cursor) : (Datum) 0;
	nulls[1] = cursor ? ' ' : 'n';
	vals[2] = Int64GetDatum(r->pass_run_id);
	vals[3] = r->since ? CStringGetTextDatum(r->since) : (Datum) 0;
	nulls[3] = r->since ? ' ' : 'n';
	vals[4] = maxc ? CStringGetTextDatum(maxc) : (Datum) 0;
	nulls[4] = maxc ? ' ' : 'n';
	vals[5] = Int64GetDatum(r->pg.page);
	vals[6] = Int64GetDatum(r->pg.offset);
	vals[7] = r->pg.cursor ? CStringGetTextDatum(r->pg.cursor) : (Datum) 0;
	nulls[7] = r->pg.cursor ? ' ' : 'n';
	vals[8] = CStringGetTextDatum(r->pg.url);
	vals[9] = Int64GetDatum(r->pg.pages);
	vals[10] = Int64GetDatum(r->pg.records);
	vals[11] = BoolGetDatum(r->pg.cursor_number);
	if (finished)
		for (int i = 2; i < 11; i++)
			nulls[i] = 'n';
	concord_owner_exec("sync_run", "INSERT INTO concord.sync_state AS s (source, cursor_value, pass_run_id, pass_since,"
					" pass_max_cursor, next_page, next_offset, next_cursor, next_url, pass_pages,"
					" pass_records, next_cursor_number, updated_at)"
					" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, pg_catalog.now())"
					" ON CONFLICT (source) DO UPDATE SET cursor_value = excluded.cursor_value,"
					" pass_run_id = excluded.pass_run_id, pass_since = excluded.pass_since,"
					" pass_max_cursor = excluded.pass_max_cursor, next_page = excluded.next_page,"
					" next_offset = excluded.next_offset, next_cursor = excluded.next_cursor,"
					" next_url = excluded.next_url, pass_pages = excluded.pass_pages,"
					" pass_records = excluded.pass_records, next_cursor_number = excluded.next_cursor_number,"
					" updated_at = excluded.updated_at",
					12, types, vals, nulls);
}

/* accept() for pages the parser thread will parse: any 2xx will do here. */
static SyncAccept
accept_any(HttpResult *res, void *arg, char **why)
{
	return SYNC_ACCEPT_OK;
}

/*
 * Load the next page of the pass.
 *
 * A. The page: parsed by the thread already, or fetched (its request was
 *    begun early) and parsed here; the pager moves past it and the request
 *    for the page after it is begun.
 * B. That next page is collected and handed to the parser thread...
 * C. ...which parses it while this page is loaded.
 *
 * A commit after this function records the position of the page after
 * the one loaded: the pager moves past a page only in A of the next call.
 * The two page memory contexts alternate between the page loaded and the
 * page coming.
 */
static void
run_page(SyncRun *r)
{
	MemoryContext cur = r->page_cxt[r->flip];
	MemoryContext nxt = r->page_cxt[!r->flip];
	MemoryContext old = MemoryContextSwitchTo(cur);
	HttpResult *res;

	/* A */
	if (r->submitted)
	{
		char	   *why = NULL;
		bool		parsed;
		SyncAccept	verdict;

		r->submitted = false;
		parsed = sync_parser_wait(r->parser, &r->page, &r->arena, &why);
		verdict = sync_page_verdict(r, parsed, &why);

		if (verdict == SYNC_ACCEPT_OK)
			res = r->next_res;
		else
		{
			/*
			 * Not JSON, or the API's error code: fetch it again, parsing
			 * here, under the retry policy (with a new token if it expired)
			 */
			sync_arena_free(r->arena);
			r->arena = NULL;
			if (verdict == SYNC_ACCEPT_TOKEN)
				sync_auth_forget(r->fetch);
			r->fetch->retries++;
			res = sync_fetch_page(r, NULL);
		}
	}
	else
		res = sync_fetch_page(r, r->next);
	r->next = NULL;
	r->ld.page_no = (int) Min(r->pg.pages + 1, PG_INT32_MAX);
	sync_advance(r, res, r->page.nrecords);
	if (!r->pg.done)
	{
		MemoryContextSwitchTo(nxt);
		r->next = sync_page_request(r);
		sync_request_begin(r->fetch, r->next);
		MemoryContextSwitchTo(cur);
	}

	/* B */
	if (r->parser && r->next)
	{
		MemoryContextSwitchTo(nxt);
		r->next_res = sync_fetch(r->fetch, r->next,
								 psprintf("page " INT64_FORMAT, r->pg.pages + 1),
								 accept_any, r);
		r->next = NULL;
		sync_parser_submit(r->parser, VARDATA_ANY(r->next_res->body),
						   VARSIZE_ANY_EXHDR(r->next_res->body));
		r->submitted = true;
		MemoryContextSwitchTo(cur);
	}

	/* C */
	sync_load_page(&r->ld, &r->page);
	r->run_pages++;
	sync_arena_free(r->arena);
	r->arena = NULL;
	MemoryContextSwitchTo(old);
	MemoryContextReset(cur);
	r->flip = !r->flip;
	r->loaded_all = r->pg.done && !r->submitted;
}

/* The end of a complete pass: deletes, the new cursor, a clean state. */
static void
run_finish(SyncRun *r)
{
	char	   *cursor = r->cursor_before;

	sync_apply_deletes(&r->ld);
	if (r->spec->incremental && r->ld.has_cursor)
	{
		char	   *mx = sync_cursor_text(&r->ld);
		bool		newer = true;

		if (cursor != NULL)
		{
			SyncTarget *t = r->ld.target;
			int			c = t->cursor_col;
			Datum		old = InputFunctionCall(&t->infn[c], cursor, t->ioparam[c], t->typmod[c]);

			newer = DatumGetInt32(FunctionCall2Coll(&t->cursor_cmp, t->collation[c],
													r->ld.cursor_max, old)) > 0;
		}
		if (newer)
			cursor = mx;
	}
	save_state(r, true, cursor);
	{
		Oid			types[2] = {INT8OID, TEXTOID};
		Datum		vals[2];
		char		nulls[2] = {' ', cursor ? ' ' : 'n'};

		vals[0] = Int64GetDatum(r->run_id);
		vals[1] = cursor ? CStringGetTextDatum(cursor) : (Datum) 0;
		concord_owner_exec("sync_run", "UPDATE concord.sync_run SET cursor_after = $2 WHERE run_id OPERATOR(pg_catalog.=) $1",
						2, types, vals, nulls);
	}
	save_run(r, "succeeded", NULL);
}

/*
 * The run as a whole.  Each step (set-up, every batch of pages, the end of
 * the pass) runs in a subtransaction, so that on an error the step is
 * rolled back, the failure is recorded, and what committed before stays.
 */
static void
run_source(SyncRun *r)
{
	char	   *spec_text;
	char	   *owner;
	ErrorData  *volatile err = NULL;

	PG_TRY();
	{
		step_begin(r);
		spec_text = sync_source_spec(r->source, &owner);
		r->spec = sync_spec_parse(r->source, spec_text);
		r->ld.spec = r->spec;
		r->ld.cxt = r->cxt;
		/* the owner's grants decide, now, which secrets the run may use */
		r->fetch = sync_fetcher_create(r->spec, get_role_oid(owner, true));
		r->parser = sync_parser_start(r->spec);
		run_setup(r);
		step_end(r);
		run_commit(r);

		/* an incremental source's kept rejects first */
		if (r->ld.pending > 0)
		{
			step_begin(r);
			sync_retry_rejects(&r->ld);
			save_run(r, NULL, NULL);
			step_end(r);
			run_commit(r);
			r->done_counts = r->ld.counts;
		}

		while (!r->loaded_all)
		{
			step_begin(r);
			for (int i = 0; i < r->spec->batch_pages && !r->loaded_all; i++)
				run_page(r);
			if (!r->loaded_all)
			{
				save_state(r, false, r->cursor_before);
				save_run(r, NULL, NULL);
			}
			else
				run_finish(r);
			step_end(r);
			run_commit(r);
			r->done_counts = r->ld.counts;
			r->done_pages = r->run_pages;
		}
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(r->cxt);
		err = CopyErrorData();
		FlushErrorState();
		sync_request_abort(r->next);
		r->next = NULL;
		sync_arena_free(r->arena);
		r->arena = NULL;
		if (r->in_sub)
		{
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(r->cxt);
			CurrentResourceOwner = r->owner;
			r->in_sub = false;
			if (r->run_id != 0)
			{
				/* a cancel (or statement_timeout); a shutdown */
				const char *status = err->sqlerrcode == ERRCODE_QUERY_CANCELED ? "canceled" :
					ERRCODE_TO_CATEGORY(err->sqlerrcode) == ERRCODE_TO_CATEGORY(ERRCODE_ADMIN_SHUTDOWN) ?
					"interrupted" : "failed";

				/* the run's row counts what committed, not what rolled back */
				r->ld.counts = r->done_counts;
				r->run_pages = r->done_pages;
				save_run(r, status, err);
				run_commit(r);
			}
		}
	}
	PG_END_TRY();

	sync_fetcher_done(r->fetch);
	for (int form = 0; form < 2; form++)
		if (r->ld.target && r->ld.target->upsert[form])
			SPI_freeplan(r->ld.target->upsert[form]);
	if (err != NULL)
	{
		unlock_source(r);
		ReThrowError(err);
	}
}

/*
 * CALL concord.sync(source text)
 */
Datum
concord_sync(PG_FUNCTION_ARGS)
{
	SyncRun		r;
	MemoryContext entry = CurrentMemoryContext;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source name must not be null")));
	memset(&r, 0, sizeof(r));
	r.source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	r.atomic = call_is_atomic(fcinfo);
	r.cxt = AllocSetContextCreate(entry, "concord sync run", ALLOCSET_DEFAULT_SIZES);
	r.page_cxt[0] = AllocSetContextCreate(r.cxt, "concord sync page", ALLOCSET_DEFAULT_SIZES);
	r.page_cxt[1] = AllocSetContextCreate(r.cxt, "concord sync page", ALLOCSET_DEFAULT_SIZES);

	if (SPI_connect_ext(r.atomic ? 0 : SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(r.cxt);
	{
		char	   *owner;

		(void) sync_source_spec(r.source, &owner);
		sync_check_owner(r.source, owner, "run");
	}
	lock_source(&r);
	PG_TRY();
	{
		run_source(&r);
	}
	PG_FINALLY();
	{
		unlock_source(&r);
	}
	PG_END_TRY();

	if (r.pushed_snapshot)
		PopActiveSnapshot();
	SPI_finish();
	MemoryContextSwitchTo(entry);
	ereport(NOTICE,
			(errmsg("source \"%s\": run " INT64_FORMAT " loaded " INT64_FORMAT " records in " INT64_FORMAT " pages"
					" (" INT64_FORMAT " inserted, " INT64_FORMAT " updated, " INT64_FORMAT " deleted, "
					INT64_FORMAT " rejected)",
					r.source, r.run_id, r.ld.counts.records, r.run_pages,
					r.ld.counts.inserted, r.ld.counts.updated, r.ld.counts.deleted,
					r.ld.counts.rejected)));
	MemoryContextDelete(r.cxt);
	PG_RETURN_VOID();
}
