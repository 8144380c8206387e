/*-------------------------------------------------------------------------
 *
 * calllog.c
 *	  The HTTP call log: one row per request in concord.http_call_log when
 *	  concord.http_log is on.
 *
 * Rows are written as the table's owner, so callers need no privilege on
 * it and cannot forge or remove rows; a row-level policy lets each role
 * read only its own calls.  URLs are redacted before they are stored.  The
 * row belongs to the caller's transaction: if that aborts, so does the row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "concord.h"
#include "http/http.h"

static SPIPlanPtr insert_plan = NULL;

#define LOG_NARGS 8

/*
 * Record finished requests in the call log, if logging is on.
 */
void
http_call_log(HttpResult **results, int n)
{
	Oid			relid;
	ConcordElevation elev;
	char	   *role;

	if (!concord_http_log || n == 0)
		return;

	relid = concord_relation_oid("http_call_log", false);
	role = GetUserNameFromId(GetUserId(), false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	concord_elevate(concord_relation_owner(relid), &elev);
	PG_TRY();
	{
		if (insert_plan == NULL)
		{
			Oid			types[LOG_NARGS] = {NAMEOID, TEXTOID, TEXTOID, INT4OID,
			INT8OID, FLOAT8OID, TEXTOID, TEXTOID};
			SPIPlanPtr	plan;

			plan = SPI_prepare("INSERT INTO concord.http_call_log"
							   " (role_name, method, url, status, response_bytes,"
							   "  elapsed_ms, error_code, error)"
							   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
							   LOG_NARGS, types);
			if (plan == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			SPI_keepplan(plan);
			insert_plan = plan;
		}

		for (int i = 0; i < n; i++)
		{
			HttpResult *r = results[i];
			Datum		values[LOG_NARGS];
			char		nulls[LOG_NARGS];
			NameData	rolename;

			memset(nulls, ' ', sizeof(nulls));
			namestrcpy(&rolename, role);
			values[0] = NameGetDatum(&rolename);
			values[1] = CStringGetTextDatum(r->method && r->method[0] ? r->method : "?");
			values[2] = CStringGetTextDatum(r->redacted_url ? r->redacted_url : "");
			values[3] = Int32GetDatum(r->status);
			values[4] = Int64GetDatum(r->ok ? (int64) VARSIZE_ANY_EXHDR(r->body) : 0);
			values[5] = Float8GetDatum(r->elapsed_ms);
			if (r->ok)
			{
				nulls[6] = 'n';
				nulls[7] = 'n';
			}
			else
			{
				nulls[3] = 'n';
				nulls[4] = 'n';
				values[6] = CStringGetTextDatum(unpack_sql_state(r->error.sqlerrcode));
				values[7] = CStringGetTextDatum(r->error.message);
			}
			if (SPI_execute_plan(insert_plan, values, nulls, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "could not write concord.http_call_log");
		}
	}
	PG_FINALLY();
	{
		concord_unelevate(&elev);
	}
	PG_END_TRY();
	SPI_finish();
}

/* The worker's housekeeping: call-log rows older than the retention. */
static void
calllog_retention(void)
{
	if (concord_http_log_retention_days > 0)
		(void) concord_worker_sql("concord: trimming http_call_log",
								  psprintf("DELETE FROM concord.http_call_log"
										   " WHERE called_at OPERATOR(pg_catalog.<) (pg_catalog.now()"
										   " OPERATOR(pg_catalog.-) pg_catalog.make_interval(days => %d))",
										   concord_http_log_retention_days), NULL);
}

static const ConcordWorkerDuty calllog_duty = {
	.name = "http call log",
	.housekeeping = calllog_retention,
};

/*
 * http's registration with core: the worker's one wait is the engine's
 * (the latch, the postmaster's death and the sockets of the transfers in
 * flight), and its housekeeping trims the call log.
 */
void
http_register(void)
{
	concord_worker_wait_register(http_engine_wait);
	concord_worker_duty_register(&calllog_duty);
}
