/*-------------------------------------------------------------------------
 *
 * load.c
 *	  Load pages into the target table: by COPY when the page's rows are
 *	  new (copy.c), else by upsert; reject what cannot be loaded, delete
 *	  what is gone upstream, track the incremental cursor.
 *
 * How a page is loaded adapts to the pages before it:
 *
 *	  COPY	the table was empty when the run began, or the last page held
 *			only new rows: the page is COPYed in.  A key that exists (or a
 *			value that does not convert) rolls it back, and the page is
 *			loaded by upsert; the next pages too, until one holds only new
 *			rows again.
 *	  JOIN	mostly unchanged rows expected: one INSERT ... SELECT FROM
 *			ROWS FROM (unnest(..)) LEFT JOIN the table, passing on only new
 *			and changed rows, ON CONFLICT DO UPDATE.
 *	  PLAIN	mostly changed rows expected: the same without the join.
 *
 * When an upsert fails (a value that does not convert, a constraint, a key
 * repeated in the page), the page is loaded again record by record, each
 * in its own subtransaction, and the records that fail are rejected
 * (reject.c) with the reason.
 *
 * Writes to the target run as the caller, so her privileges, row-level
 * security and triggers apply; bookkeeping rows (rejects, seen keys) are
 * written as the extension's owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "concord.h"
#include "sync/load.h"

/* Upsert records vals[0..n) (converted already); count them. */
static void
upsert(SyncLoad *ld, Datum **vals, bool **nulls, int n)
{
	SyncTarget *t = ld->target;
	int			nargs = t->ncols + (t->unmapped ? 1 : 0);
	Datum	   *args = palloc(sizeof(Datum) * nargs);
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			rc;

	for (int c = 0; c < nargs; c++)
	{
		bool		is_json = c == t->ncols;
		Datum	   *ev = palloc(sizeof(Datum) * n);
		bool	   *en = palloc(sizeof(bool) * n);

		for (int r = 0; r < n; r++)
		{
			ev[r] = vals[r][c];
			en[r] = nulls[r][c];
		}
		if (is_json)
			args[c] = PointerGetDatum(construct_md_array(ev, en, 1, dims, lbs, JSONBOID, -1, false, TYPALIGN_INT));
		else if (t->textcast[c])
			args[c] = PointerGetDatum(construct_md_array(ev, en, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
		else
			args[c] = PointerGetDatum(construct_md_array(ev, en, 1, dims, lbs, t->typid[c],
														 t->typlen[c], t->typbyval[c], t->typalign[c]));
	}
	rc = SPI_execute_plan(t->upsert[ld->form], args, NULL, false, 0);
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "upsert into %s failed: %s", t->qname, SPI_result_code_string(rc));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull)))
			ld->counts.inserted++;
		else
			ld->counts.updated++;
	}
	ld->counts.unchanged += n - (int64) SPI_processed;
	SPI_freetuptable(SPI_tuptable);
}

/* Track the incremental cursor value v of a loaded record. */
static void
note_cursor(SyncLoad *ld, Datum v)
{
	SyncTarget *t = ld->target;

	if (!ld->has_cursor ||
		DatumGetInt32(FunctionCall2Coll(&t->cursor_cmp, t->collation[t->cursor_col],
										v, ld->cursor_max)) > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(ld->cxt);

		if (ld->has_cursor && !t->typbyval[t->cursor_col])
			pfree(DatumGetPointer(ld->cursor_max));
		ld->cursor_max = datumCopy(v, t->typbyval[t->cursor_col], t->typlen[t->cursor_col]);
		ld->has_cursor = true;
		MemoryContextSwitchTo(old);
	}
}

/*
 * Track the incremental cursor and the seen keys of a loaded record.
 * Kept rejects tried again do not move the cursor: the pass that read
 * them moved it already, or will.
 */
static void
note_loaded(SyncLoad *ld, Datum *vals, bool *nulls, List **keys)
{
	SyncTarget *t = ld->target;

	if (t->cursor_col >= 0 && !nulls[t->cursor_col] && ld->retry_ids == NULL)
		note_cursor(ld, vals[t->cursor_col]);
	if (ld->spec->delete_mode != SYNC_DELETE_NONE)
		*keys = lappend(*keys, sync_key_text(t, vals));
}

/* note_loaded() for a record loaded by COPY: the columns it needs converted. */
static void
note_copied(SyncLoad *ld, SyncPage *pg, int i, Datum *vals, bool *nulls, List **keys)
{
	SyncTarget *t = ld->target;

	if (t->cursor_col >= 0)
		vals[t->cursor_col] = sync_convert_value(ld, pg, i, t->cursor_col, &nulls[t->cursor_col]);
	if (ld->spec->delete_mode != SYNC_DELETE_NONE)
		for (int k = 0; k < t->npk; k++)
			vals[t->pk[k]] = sync_convert_value(ld, pg, i, t->pk[k], &nulls[t->pk[k]]);
	note_loaded(ld, vals, nulls, keys);
}

/* Store the keys loaded from a page, for deletes at the end of the pass. */
static void
store_keys(SyncLoad *ld, List *keys)
{
	Datum	   *elems;
	ListCell   *lc;
	Oid			types[3] = {TEXTOID, INT8OID, TEXTARRAYOID};
	Datum		vals[3];

	if (keys == NIL)
		return;
	elems = palloc(sizeof(Datum) * list_length(keys));
	foreach(lc, keys)
		elems[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
	vals[0] = CStringGetTextDatum(ld->spec->source);
	vals[1] = Int64GetDatum(ld->run_id);
	vals[2] = PointerGetDatum(construct_array(elems, list_length(keys), TEXTOID, -1, false, TYPALIGN_INT));
	concord_owner_exec("sync_run", "INSERT INTO concord.sync_seen (source, run_id, keys) VALUES ($1, $2, $3)",
					3, types, vals, NULL);
}

/*
 * Is e about the data (reject the record), rather than a cancel, a
 * shutdown or a resource problem (fail the run)?
 */
bool
sync_data_error(const ErrorData *e)
{
	int			cls = ERRCODE_TO_CATEGORY(e->sqlerrcode);

	return e->elevel == ERROR &&
		cls != ERRCODE_TO_CATEGORY(ERRCODE_OPERATOR_INTERVENTION) &&	/* 57: cancel, shutdown */
		cls != ERRCODE_TO_CATEGORY(ERRCODE_INSUFFICIENT_RESOURCES) &&	/* 53 */
		cls != ERRCODE_TO_CATEGORY(ERRCODE_PROGRAM_LIMIT_EXCEEDED) &&	/* 54 */
		cls != ERRCODE_TO_CATEGORY(ERRCODE_INTERNAL_ERROR) &&	/* XX */
		e->sqlerrcode != ERRCODE_INSUFFICIENT_PRIVILEGE &&
		cls != ERRCODE_TO_CATEGORY(ERRCODE_T_R_SERIALIZATION_FAILURE);	/* 40 */
}

/* Which key column record i lacks, as a reject reason; NULL if none. */
static char *
missing_key(SyncLoad *ld, SyncPage *pg, int i)
{
	SyncTarget *t = ld->target;

	for (int k = 0; k < t->npk; k++)
		if (pg->values[i * t->ncols + t->pk[k]] == NULL)
			return psprintf("primary key column \"%s\" is missing (path %s)",
							ld->spec->columns[t->pk[k]].name,
							ld->spec->columns[t->pk[k]].path_text);
	return NULL;
}

/*
 * Convert (and with load, upsert) one record in its own subtransaction.
 * Returns the data error that stopped it (rolled back), or NULL; other
 * errors (a cancel, a shutdown, resources) are raised.
 */
static ErrorData *
try_record(SyncLoad *ld, SyncPage *pg, int i, Datum *vals, bool *nulls, bool load)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile e = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		sync_convert_record(ld, pg, i, vals, nulls);
		if (load)
			upsert(ld, &vals, &nulls, 1);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	if (e != NULL && !sync_data_error(e))
		ReThrowError(e);
	return e;
}

/* Upsert the page's records idx[0..n) at once; false if the data stopped it. */
static bool
upsert_page(SyncLoad *ld, SyncPage *pg, int *idx, int n, Datum **vals, bool **nulls)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	SyncCounts	before = ld->counts;
	ErrorData  *volatile e = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		for (int r = 0; r < n; r++)
			sync_convert_record(ld, pg, idx[r], vals[r], nulls[r]);
		upsert(ld, vals, nulls, n);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	if (e == NULL)
		return true;
	/* a cancel or a shutdown is not a data problem */
	if (!sync_data_error(e))
		ReThrowError(e);
	ld->counts = before;
	return false;
}

/*
 * Load one parsed page: records with a problem or no key are rejected
 * first; the rest go in by COPY or one upsert, or one by one if that
 * fails.
 */
void
sync_load_page(SyncLoad *ld, SyncPage *pg)
{
	SyncTarget *t = ld->target;
	int			nargs = t->ncols + (t->unmapped ? 1 : 0);
	int		   *idx = palloc(sizeof(int) * Max(pg->nrecords, 1));
	int			n = 0;
	Datum	  **vals = palloc(sizeof(Datum *) * Max(pg->nrecords, 1));
	bool	  **nulls = palloc(sizeof(bool *) * Max(pg->nrecords, 1));
	List	   *keys = NIL;
	int64		unchanged_before = ld->counts.unchanged;
	int64		inserted_before = ld->counts.inserted;
	ErrorData  *copy_error = NULL;

	ld->counts.records += pg->nrecords;
	for (int i = 0; i < pg->nrecords; i++)
	{
		if (pg->problem[i] == NULL)
			pg->problem[i] = missing_key(ld, pg, i);
		if (pg->problem[i] != NULL)
		{
			sync_reject(ld, pg, i, pg->problem[i], ERRCODE_INVALID_TEXT_REPRESENTATION);
			continue;
		}
		idx[n] = i;
		vals[n] = palloc0(sizeof(Datum) * nargs);
		nulls[n] = palloc0(sizeof(bool) * nargs);
		n++;
	}

	/* a page of new rows: COPY */
	if (n > 0 && ld->form == SYNC_LOAD_COPY && t->copy_ok && ld->retry_ids == NULL)
	{
		if (sync_copy_page(ld, pg, idx, n, &copy_error))
		{
			for (int r = 0; r < n; r++)
				note_copied(ld, pg, idx[r], vals[r], nulls[r], &keys);
			store_keys(ld, keys);
			if (ld->pending > 0)
				sync_supersede_rejects(ld, pg);
			return;
		}
		/* rows that exist: upsert from now on */
		ld->form = SYNC_UPSERT_JOIN;
	}

	if (n > 0 && upsert_page(ld, pg, idx, n, vals, nulls))
	{
		for (int r = 0; r < n; r++)
		{
			note_loaded(ld, vals[r], nulls[r], &keys);
			if (ld->retry_ids)
				sync_reject_loaded(ld, pg, idx[r]);
		}
		store_keys(ld, keys);
		/* the next page is likely like this one: new, unchanged or changed rows? */
		if (ld->counts.inserted - inserted_before == n && t->copy_ok)
			ld->form = SYNC_LOAD_COPY;
		else
			ld->form = (ld->counts.unchanged - unchanged_before) * 2 > n ?
				SYNC_UPSERT_JOIN : SYNC_UPSERT_PLAIN;
		if (ld->pending > 0 && ld->retry_ids == NULL)
			sync_supersede_rejects(ld, pg);
		return;
	}

	/* one by one: find the records that cannot be loaded */
	for (int r = 0; r < n; r++)
	{
		ErrorData  *e = try_record(ld, pg, idx[r], vals[r], nulls[r], true);

		if (e == NULL)
		{
			note_loaded(ld, vals[r], nulls[r], &keys);
			if (ld->retry_ids)
				sync_reject_loaded(ld, pg, idx[r]);
		}
		else
			sync_reject(ld, pg, idx[r], e->message, e->sqlerrcode);
	}
	store_keys(ld, keys);
	if (ld->pending > 0 && ld->retry_ids == NULL)
		sync_supersede_rejects(ld, pg);
}

/*
 * At the end of a complete full-refresh pass: delete (or flag) the target
 * rows whose keys no page of the pass carried, then forget the keys.
 * Returns the number of rows affected.
 */
int64
sync_apply_deletes(SyncLoad *ld)
{
	const SyncSpec *s = ld->spec;
	SyncTarget *t = ld->target;
	StringInfoData sql;
	Oid			types[1] = {TEXTOID};
	Datum		vals[1];
	int			rc;
	int64		n = 0;

	vals[0] = CStringGetTextDatum(s->source);
	if (s->delete_mode != SYNC_DELETE_NONE)
	{
		initStringInfo(&sql);
		appendStringInfoString(&sql,
							   "WITH seen AS MATERIALIZED (SELECT k.key FROM concord.sync_seen s"
							   " CROSS JOIN LATERAL pg_catalog.unnest(s.keys) AS k(key)"
							   " WHERE s.source OPERATOR(pg_catalog.=) $1) ");
		if (s->delete_mode == SYNC_DELETE_ROWS)
			appendStringInfo(&sql, "DELETE FROM %s AS t WHERE", t->qname);
		else if (t->softdel_type == BOOLOID)
			appendStringInfo(&sql, "UPDATE %s AS t SET %s = true WHERE %s IS DISTINCT FROM true AND",
							 t->qname, quote_identifier(s->soft_delete_column),
							 quote_identifier(s->soft_delete_column));
		else
			appendStringInfo(&sql, "UPDATE %s AS t SET %s = pg_catalog.now() WHERE %s IS NULL AND",
							 t->qname, quote_identifier(s->soft_delete_column),
							 quote_identifier(s->soft_delete_column));
		appendStringInfo(&sql, " NOT EXISTS (SELECT 1 FROM seen WHERE seen.key OPERATOR(pg_catalog.=) %s)",
						 t->key_sql);
		rc = SPI_execute_with_args(sql.data, 1, types, vals, NULL, false, 0);
		if (rc != SPI_OK_DELETE && rc != SPI_OK_UPDATE)
			elog(ERROR, "could not apply deletes to %s: %s", t->qname, SPI_result_code_string(rc));
		n = (int64) SPI_processed;
		ld->counts.deleted += n;
	}
	concord_owner_exec("sync_run", "DELETE FROM concord.sync_seen WHERE source OPERATOR(pg_catalog.=) $1",
					1, types, vals, NULL);
	return n;
}

/* The largest cursor value loaded so far, as JSON text (ISO 8601 times). */
char *
sync_cursor_text(SyncLoad *ld)
{
	SyncTarget *t = ld->target;
	Oid			type;
	Datum		v;

	if (!ld->has_cursor)
		return NULL;
	type = t->typid[t->cursor_col];
	v = ld->cursor_max;
	if (SPI_execute_with_args("SELECT pg_catalog.to_jsonb($1) OPERATOR(pg_catalog.#>>) '{}'", 1, &type, &v, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not format the cursor of source \"%s\"", ld->spec->source);
	return MemoryContextStrdup(ld->cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

/*
 * Why record i of a page could not be loaded (its problem, a missing key,
 * a value that does not convert), or NULL.  Nothing is written.
 */
char *
sync_record_problem(SyncLoad *ld, SyncPage *pg, int i)
{
	SyncTarget *t = ld->target;
	int			nargs = t->ncols + (t->unmapped ? 1 : 0);
	Datum	   *vals = palloc(sizeof(Datum) * nargs);
	bool	   *nulls = palloc(sizeof(bool) * nargs);
	ErrorData  *e;
	char	   *why;

	if (pg->problem[i])
		return pg->problem[i];
	why = missing_key(ld, pg, i);
	if (why)
		return why;
	e = try_record(ld, pg, i, vals, nulls, false);
	return e ? e->message : NULL;
}
