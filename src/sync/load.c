/*-------------------------------------------------------------------------
 *
 * load.c
 *	  Load pages into the target table: convert record texts to the
 *	  column types, upsert a page at a time, reject what cannot be loaded,
 *	  delete what is gone upstream, track the incremental cursor.
 *
 * A page is loaded with one INSERT ... SELECT FROM ROWS FROM (unnest(..))
 * ON CONFLICT inside a subtransaction.  When that fails (a value that does
 * not convert, a constraint, a key repeated in the page), the page is
 * loaded again record by record, each in its own subtransaction, and the
 * records that fail go to concord.sync_reject with the reason.
 *
 * Writes to the target run as the caller, so its privileges and row-level
 * security apply; bookkeeping rows (rejects, seen keys) are written as the
 * extension's owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "parser/parse_type.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "concord.h"
#include "sync/load.h"

/* Convert record i's texts into vals/nulls (may throw). */
static void
convert_record(SyncLoad *ld, SyncPage *pg, int i, Datum *vals, bool *nulls)
{
	SyncTarget *t = ld->target;
	int			nc = t->ncols;

	for (int c = 0; c < nc; c++)
	{
		char	   *txt = pg->values[i * nc + c];

		if (txt != NULL && GetDatabaseEncoding() != PG_UTF8)
			txt = pg_any_to_server(txt, strlen(txt), PG_UTF8);
		vals[c] = InputFunctionCall(&t->infn[c], txt, t->ioparam[c], t->typmod[c]);
		nulls[c] = txt == NULL;
	}
	if (t->unmapped)
	{
		nulls[nc] = pg->unmapped[i] == NULL;
		vals[nc] = nulls[nc] ? (Datum) 0 :
			InputFunctionCall(&t->jsonb_in, pg->unmapped[i], InvalidOid, -1);
	}
}

/* Upsert records idx[0..n) of the page (converted already); count them. */
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
		args[c] = PointerGetDatum(construct_md_array(ev, en, 1, dims, lbs,
													 is_json ? JSONBOID : t->typid[c],
													 is_json ? -1 : t->typlen[c],
													 is_json ? false : t->typbyval[c],
													 is_json ? TYPALIGN_INT : t->typalign[c]));
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

/* Record a rejected record (as the owner, in the current transaction). */
static void
reject(SyncLoad *ld, SyncPage *pg, int i, const char *reason, int sqlerrcode)
{
	const SyncSpec *s = ld->spec;
	char	   *rec = sync_page_record_json(pg, i);
	Oid			types[6] = {INT8OID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		vals[6];
	char		nulls[6] = "      ";
	char	   *p;

	/* jsonb cannot hold \u0000 */
	while ((p = strstr(rec, "\\u0000")) != NULL)
		memcpy(p, "\\ufffd", 6);
	vals[0] = Int64GetDatum(ld->run_id);
	vals[1] = CStringGetTextDatum(s->source);
	vals[2] = Int32GetDatum(ld->page_no);
	vals[3] = CStringGetTextDatum(rec);
	vals[4] = CStringGetTextDatum(reason);
	vals[5] = CStringGetTextDatum(unpack_sql_state(sqlerrcode));
	concord_owner_exec("sync_run", "INSERT INTO concord.sync_reject (run_id, source, page, record, reason, error_code)"
					" VALUES ($1, $2, $3, $4::pg_catalog.jsonb, $5, $6)", 6, types, vals, nulls);
	ld->counts.rejected++;
	if (s->reject_fail || ld->counts.rejected > s->max_rejects)
		ereport(ERROR,
				(errcode(sqlerrcode),
				 errmsg("source \"%s\": record rejected on page %d: %s", s->source, ld->page_no, reason),
				 errdetail("%s", s->reject_fail ? "The source's rejects policy is \"fail\"." :
						   psprintf("More than %lld records were rejected in this run (rejects.max).",
									(long long) s->max_rejects)),
				 errhint("Fix the data upstream or the mapping; earlier pages are committed and the next run resumes here.")));
}

/* The key of a converted record as text (as key_sql computes it for rows). */
static char *
key_text(SyncTarget *t, Datum *vals)
{
	StringInfoData b;

	if (t->npk == 1)
		return OutputFunctionCall(&t->pk_out[0], vals[t->pk[0]]);
	initStringInfo(&b);
	appendStringInfoChar(&b, '[');
	for (int k = 0; k < t->npk; k++)
	{
		if (k)
			appendStringInfoString(&b, ", ");
		escape_json(&b, OutputFunctionCall(&t->pk_out[k], vals[t->pk[k]]));
	}
	appendStringInfoChar(&b, ']');
	return b.data;
}

/* Track the incremental cursor and the seen keys of loaded records. */
static void
note_loaded(SyncLoad *ld, Datum *vals, bool *nulls, List **keys)
{
	SyncTarget *t = ld->target;

	if (t->cursor_col >= 0 && !nulls[t->cursor_col])
	{
		Datum		v = vals[t->cursor_col];

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
	if (ld->spec->delete_mode != SYNC_DELETE_NONE)
		*keys = lappend(*keys, key_text(t, vals));
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
static bool
data_error(const ErrorData *e)
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
		convert_record(ld, pg, i, vals, nulls);
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
	if (e != NULL && !data_error(e))
		ReThrowError(e);
	return e;
}

/*
 * Load one parsed page: records with a problem or no key are rejected
 * first; the rest go in one upsert, or one by one if that fails.
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
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	List	   *keys = NIL;
	bool		ok;

	int64		unchanged_before = ld->counts.unchanged;

	ld->counts.records += pg->nrecords;
	for (int i = 0; i < pg->nrecords; i++)
	{
		if (pg->problem[i] == NULL)
			pg->problem[i] = missing_key(ld, pg, i);
		if (pg->problem[i] != NULL)
		{
			reject(ld, pg, i, pg->problem[i], ERRCODE_INVALID_TEXT_REPRESENTATION);
			continue;
		}
		idx[n] = i;
		vals[n] = palloc(sizeof(Datum) * nargs);
		nulls[n] = palloc(sizeof(bool) * nargs);
		n++;
	}
	if (n == 0)
		return;

	/* the whole page at once */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		for (int r = 0; r < n; r++)
			convert_record(ld, pg, idx[r], vals[r], nulls[r]);
		upsert(ld, vals, nulls, n);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ok = true;
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		/* a cancel or a shutdown is not a data problem */
		if (!data_error(e))
			ReThrowError(e);
		ok = false;
	}
	PG_END_TRY();

	if (ok)
	{
		for (int r = 0; r < n; r++)
			note_loaded(ld, vals[r], nulls[r], &keys);
		store_keys(ld, keys);
		/* the next page is likely like this one: mostly unchanged rows? */
		ld->form = (ld->counts.unchanged - unchanged_before) * 2 > n ?
			SYNC_UPSERT_JOIN : SYNC_UPSERT_PLAIN;
		return;
	}

	/* one by one: find the records that cannot be loaded */
	for (int r = 0; r < n; r++)
	{
		ErrorData  *e = try_record(ld, pg, idx[r], vals[r], nulls[r], true);

		if (e == NULL)
			note_loaded(ld, vals[r], nulls[r], &keys);
		else
			reject(ld, pg, idx[r], e->message, e->sqlerrcode);
	}
	store_keys(ld, keys);
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
	if (SPI_execute_with_args("SELECT pg_catalog.to_jsonb($1) #>> '{}'", 1, &type, &v, NULL, true, 1) != SPI_OK_SELECT ||
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
