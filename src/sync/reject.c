/*-------------------------------------------------------------------------
 *
 * reject.c
 *	  Records a run could not load: concord.sync_reject, and the retries of
 *	  an incremental source's rejects.
 *
 * A full refresh reads every record again at its next pass, so a record
 * rejected today is tried again then.  An incremental source does not: once
 * its cursor has passed a record, the API sends it again only if it
 * changes.  So the rejects of an incremental source are kept for a retry
 * (sync_reject.retry): every later run first loads them again, as they were
 * received, with the spec and table as they are then -- a column widened,
 * a mapping fixed, a constraint relaxed lets them in.  A kept reject is
 * settled when it loads ("loaded"), when a later version of the same record
 * (the same key, as the API wrote it) arrives, loaded or rejected
 * ("superseded": the newer version wins), or when the source is reset
 * ("reset": the next pass reads everything again).  rejects.retry false
 * turns this off.
 *
 * All of it is written as the owner of concord's tables.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "concord.h"
#include "sync/load.h"

/* Kept rejects loaded again per batch. */
#define RETRY_BATCH 500

/* Does the source keep its rejects for a retry? */
static bool
keeps_rejects(const SyncSpec *s)
{
	return s->incremental && s->retry_rejects;
}

/*
 * Record a rejected record (as the owner, in the current transaction).  A
 * kept reject tried again and refused again keeps its row, with the new
 * reason.  The run fails when the policy says so.
 */
void
sync_reject(SyncLoad *ld, SyncPage *pg, int i, const char *reason, int sqlerrcode)
{
	const SyncSpec *s = ld->spec;
	char	   *rec;
	char	   *key;
	char	   *p;

	if (ld->retry_ids != NULL)
	{
		Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
		Datum		vals[3];

		vals[0] = Int64GetDatum(ld->retry_ids[i]);
		vals[1] = CStringGetTextDatum(reason);
		vals[2] = CStringGetTextDatum(unpack_sql_state(sqlerrcode));
		concord_owner_exec("sync_run", "UPDATE concord.sync_reject SET reason = $2, error_code = $3,"
						   " retries = retries OPERATOR(pg_catalog.+) 1"
						   " WHERE reject_id OPERATOR(pg_catalog.=) $1", 3, types, vals, NULL);
		return;
	}

	rec = sync_page_record_json(pg, i);
	/* jsonb cannot hold \u0000 */
	while ((p = strstr(rec, "\\u0000")) != NULL)
		memcpy(p, "\\ufffd", 6);
	key = sync_raw_key(ld, pg, i);
	{
		Oid			types[8] = {INT8OID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID};
		Datum		vals[8];
		char		nulls[8] = "        ";

		vals[0] = Int64GetDatum(ld->run_id);
		vals[1] = CStringGetTextDatum(s->source);
		vals[2] = Int32GetDatum(ld->page_no);
		vals[3] = CStringGetTextDatum(rec);
		vals[4] = CStringGetTextDatum(reason);
		vals[5] = CStringGetTextDatum(unpack_sql_state(sqlerrcode));
		vals[6] = key ? CStringGetTextDatum(key) : (Datum) 0;
		nulls[6] = key ? ' ' : 'n';
		vals[7] = BoolGetDatum(keeps_rejects(s));
		concord_owner_exec("sync_run", "INSERT INTO concord.sync_reject (run_id, source, page, record, reason,"
						   " error_code, key, retry)"
						   " VALUES ($1, $2, $3, $4::pg_catalog.jsonb, $5, $6, $7, $8)", 8, types, vals, nulls);
	}
	ld->counts.rejected++;
	if (keeps_rejects(s))
		ld->pending++;
	if (s->reject_fail || ld->counts.rejected > s->max_rejects)
		ereport(ERROR,
				(errcode(sqlerrcode),
				 errmsg("source \"%s\": record rejected on page %d: %s", s->source, ld->page_no, reason),
				 errdetail("%s", s->reject_fail ? "The source's rejects policy is \"fail\"." :
						   psprintf("More than %lld records were rejected in this run (rejects.max).",
									(long long) s->max_rejects)),
				 errhint("Fix the data upstream or the mapping; earlier pages are committed and the next run resumes here.")));
}

/* A kept reject, record i of a retry page, loaded now. */
void
sync_reject_loaded(SyncLoad *ld, SyncPage *pg, int i)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		vals[2];

	vals[0] = Int64GetDatum(ld->retry_ids[i]);
	vals[1] = Int64GetDatum(ld->run_id);
	concord_owner_exec("sync_run", "UPDATE concord.sync_reject SET resolved = 'loaded', resolved_run_id = $2,"
					   " resolved_at = pg_catalog.now(), retries = retries OPERATOR(pg_catalog.+) 1"
					   " WHERE reject_id OPERATOR(pg_catalog.=) $1", 2, types, vals, NULL);
	ld->counts.recovered++;
}

/* How many rejects of source wait for a retry. */
int64
sync_rejects_pending(const char *source)
{
	Oid			type = TEXTOID;
	Datum		v = CStringGetTextDatum(source);
	char	   *n;

	concord_owner_exec("sync_run", "SELECT pg_catalog.count(*) FROM concord.sync_reject"
					   " WHERE source OPERATOR(pg_catalog.=) $1 AND retry AND resolved IS NULL",
					   1, &type, &v, NULL);
	n = SPI_processed > 0 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
	return n ? strtoll(n, NULL, 10) : 0;
}

/*
 * Load the source's kept rejects again, in batches, before the run reads
 * new pages: each loads (and is settled) or stays kept with its new
 * reason.  They count as retried (and recovered), not as records read.
 */
void
sync_retry_rejects(SyncLoad *ld)
{
	const SyncSpec *s = ld->spec;
	volatile int64 after = 0;

	if (!keeps_rejects(s) || ld->pending == 0)
		return;
	for (;;)
	{
		Oid			types[2] = {TEXTOID, INT8OID};
		Datum		vals[2];
		StringInfoData body;
		int64	   *ids;
		int			n;
		SyncPage	page;
		char	   *error = NULL;
		int64		records = ld->counts.records;
		int			page_no = ld->page_no;

		vals[0] = CStringGetTextDatum(s->source);
		vals[1] = Int64GetDatum(after);
		concord_owner_exec("sync_run", "SELECT reject_id, record::pg_catalog.text FROM concord.sync_reject"
						   " WHERE source OPERATOR(pg_catalog.=) $1 AND retry AND resolved IS NULL"
						   " AND reject_id OPERATOR(pg_catalog.>) $2"
						   " ORDER BY reject_id LIMIT " CppAsString2(RETRY_BATCH), 2, types, vals, NULL);
		n = (int) SPI_processed;
		if (n == 0)
			break;
		ids = palloc(sizeof(int64) * n);
		initStringInfo(&body);
		appendStringInfoChar(&body, '[');
		for (int i = 0; i < n; i++)
		{
			ids[i] = strtoll(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1), NULL, 10);
			if (i > 0)
				appendStringInfoChar(&body, ',');
			appendStringInfoString(&body, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		}
		appendStringInfoChar(&body, ']');
		after = ids[n - 1];
		if (!sync_page_parse_array(s, body.data, body.len, &page, &error))
			elog(ERROR, "source \"%s\": %s", s->source, error);
		ld->retry_ids = ids;
		ld->page_no = 0;
		PG_TRY();
		{
			sync_load_page(ld, &page);
		}
		PG_FINALLY();
		{
			ld->retry_ids = NULL;
		}
		PG_END_TRY();
		ld->page_no = page_no;
		ld->counts.records = records;
		ld->counts.retried += n;
		if (n < RETRY_BATCH)
			break;
	}
	ld->pending = sync_rejects_pending(s->source);
}

/*
 * Settle the kept rejects that the page's records are later versions of
 * (same key): the newer version wins, loaded or rejected.
 */
void
sync_supersede_rejects(SyncLoad *ld, SyncPage *pg)
{
	Datum	   *keys = palloc(sizeof(Datum) * Max(pg->nrecords, 1));
	int			n = 0;
	Oid			types[4] = {TEXTOID, INT8OID, TEXTARRAYOID, INT4OID};
	Datum		vals[4];

	for (int i = 0; i < pg->nrecords; i++)
	{
		char	   *k = sync_raw_key(ld, pg, i);

		if (k != NULL)
			keys[n++] = CStringGetTextDatum(k);
	}
	if (n == 0)
		return;
	vals[0] = CStringGetTextDatum(ld->spec->source);
	vals[1] = Int64GetDatum(ld->run_id);
	vals[2] = PointerGetDatum(construct_array(keys, n, TEXTOID, -1, false, TYPALIGN_INT));
	vals[3] = Int32GetDatum(ld->page_no);
	concord_owner_exec("sync_run", "UPDATE concord.sync_reject SET resolved = 'superseded', resolved_run_id = $2,"
					   " resolved_at = pg_catalog.now()"
					   " WHERE source OPERATOR(pg_catalog.=) $1 AND retry AND resolved IS NULL"
					   " AND key OPERATOR(pg_catalog.=) ANY ($3)"
					   " AND NOT (run_id OPERATOR(pg_catalog.=) $2 AND page OPERATOR(pg_catalog.=) $4)",
					   4, types, vals, NULL);
	ld->pending -= (int64) SPI_processed;
}

/* Settle every kept reject of source (a reset: the next pass reads all). */
void
sync_rejects_settle(const char *source, const char *why)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		vals[2];

	vals[0] = CStringGetTextDatum(source);
	vals[1] = CStringGetTextDatum(why);
	concord_owner_exec("sync_run", "UPDATE concord.sync_reject SET resolved = $2, resolved_at = pg_catalog.now()"
					   " WHERE source OPERATOR(pg_catalog.=) $1 AND retry AND resolved IS NULL",
					   2, types, vals, NULL);
}
