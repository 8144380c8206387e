/*-------------------------------------------------------------------------
 *
 * check.c
 *	  concord.source_check(name): one request, as the next run would make
 *	  it first, and a report of what the run would do with the page.
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
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "concord.h"
#include "sync/fetch.h"
#include "sync/load.h"
#include "sync/run.h"

PG_FUNCTION_INFO_V1(concord_source_check);

/* Append "key": to a JSON object under construction. */
static void
json_key(StringInfo b, const char *key)
{
	if (b->data[b->len - 1] != '{')
		appendStringInfoString(b, ", ");
	escape_json(b, key);
	appendStringInfoString(b, ": ");
}

static void
json_text(StringInfo b, const char *key, const char *value)
{
	json_key(b, key);
	if (value)
		escape_json(b, value);
	else
		appendStringInfoString(b, "null");
}

/*
 * concord.source_check(name) returns jsonb
 *
 * One request, as the next run would make it first, and a report of what
 * the run would do with the page: records found, how the first one maps,
 * which records would be rejected and why, where the next page is.
 * Nothing is written (but the HTTP call log, when it is on).
 */
Datum
concord_source_check(PG_FUNCTION_ARGS)
{
	SyncRun		r;
	MemoryContext entry = CurrentMemoryContext;
	StringInfoData b;
	HttpResult *volatile res = NULL;
	Jsonb	   *out;
	char	   *owner;

	memset(&r, 0, sizeof(r));
	r.source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	r.atomic = true;
	r.cxt = AllocSetContextCreate(entry, "concord source check", ALLOCSET_DEFAULT_SIZES);
	r.page_cxt[0] = r.page_cxt[1] = r.cxt;
	MemoryContextSwitchTo(r.cxt);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(r.cxt);

	r.spec = sync_spec_parse(r.source, sync_source_spec(r.source, &owner));
	r.ld.spec = r.spec;
	r.ld.cxt = r.cxt;
	r.ld.target = sync_target_open(r.spec, false, true);
	r.pg.page = r.spec->page_start;
	r.pg.url = pstrdup(r.spec->url);
	r.pg.first = true;
	if (r.spec->incremental && r.ld.target)
	{
		Oid			type = TEXTOID;
		Datum		v = CStringGetTextDatum(r.source);

		concord_owner_exec("sync_run", "SELECT cursor_value FROM concord.sync_state WHERE source OPERATOR(pg_catalog.=) $1",
						1, &type, &v, NULL);
		r.since = sync_pass_since(&r, sync_spi_text(1));
	}
	r.fetch = sync_fetcher_create(r.spec, get_role_oid(owner, true));
	PG_TRY();
	{
		res = sync_fetch_page(&r, NULL);
		sync_advance(&r, res, r.page.nrecords);
	}
	PG_FINALLY();
	{
		sync_fetcher_done(r.fetch);
	}
	PG_END_TRY();

	/*
	 * The report is built in the check's own memory: SPI calls leave SPI's
	 * procedure memory current, which SPI_finish() frees before the report
	 * is read.
	 */
	MemoryContextSwitchTo(r.cxt);
	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	json_text(&b, "source", r.source);
	json_text(&b, "url", res->redacted_url);
	json_key(&b, "status");
	appendStringInfo(&b, "%d", res->status);
	json_key(&b, "requests");
	appendStringInfo(&b, "%d", r.fetch->requests);
	json_key(&b, "retries");
	appendStringInfo(&b, "%d", r.fetch->retries);
	json_text(&b, "since", r.since);
	json_key(&b, "records");
	appendStringInfo(&b, "%d", r.page.nrecords);
	json_key(&b, "total");
	if (r.page.has_total)
		appendStringInfo(&b, INT64_FORMAT, r.page.total);
	else
		appendStringInfoString(&b, "null");
	json_key(&b, "next");
	if (r.pg.done)
		appendStringInfoString(&b, "null");
	else if (r.spec->page == SYNC_PAGE_NUMBER)
		appendStringInfo(&b, "{\"page\": " INT64_FORMAT "}", r.pg.page);
	else if (r.spec->page == SYNC_PAGE_OFFSET)
		appendStringInfo(&b, "{\"offset\": " INT64_FORMAT "}", r.pg.offset);
	else if (r.spec->page == SYNC_PAGE_CURSOR && r.pg.cursor != NULL)
	{
		appendStringInfoString(&b, "{\"cursor\": ");
		escape_json(&b, r.pg.cursor);
		appendStringInfoChar(&b, '}');
	}
	else if (r.spec->page == SYNC_PAGE_CURSOR)
		appendStringInfoString(&b, "null");
	else
	{
		appendStringInfoString(&b, "{\"url\": ");
		escape_json(&b, http_redact_url(r.pg.url));
		appendStringInfoChar(&b, '}');
	}
	json_key(&b, "target");
	appendStringInfoChar(&b, '{');
	json_text(&b, "table", r.ld.target ? r.ld.target->qname : r.spec->table);
	json_key(&b, "exists");
	appendStringInfoString(&b, r.ld.target ? "true" : "false");
	appendStringInfoChar(&b, '}');

	/* the first record as the columns would receive it */
	json_key(&b, "sample");
	if (r.page.nrecords > 0 && r.page.problem[0] == NULL)
	{
		appendStringInfoChar(&b, '{');
		for (int c = 0; c < r.spec->ncolumns; c++)
			json_text(&b, r.spec->columns[c].name, r.page.values[c]);
		if (r.spec->unmapped_column)
		{
			json_key(&b, r.spec->unmapped_column);
			appendStringInfoString(&b, r.page.unmapped[0] ? r.page.unmapped[0] : "null");
		}
		appendStringInfoChar(&b, '}');
	}
	else
		appendStringInfoString(&b, "null");

	/* records the run would reject, with the reason */
	json_key(&b, "rejects");
	appendStringInfoChar(&b, '[');
	{
		int			shown = 0;

		for (int i = 0; i < r.page.nrecords && shown < 20; i++)
		{
			char	   *why = r.ld.target ? sync_record_problem(&r.ld, &r.page, i) : r.page.problem[i];

			if (why == NULL)
				continue;
			if (shown++)
				appendStringInfoString(&b, ", ");
			appendStringInfo(&b, "{\"record\": %d, \"reason\": ", i + 1);
			escape_json(&b, why);
			appendStringInfoChar(&b, '}');
		}
	}
	appendStringInfoString(&b, "]}");

	SPI_finish();
	MemoryContextSwitchTo(entry);
	out = DatumGetJsonbPCopy(DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data)));
	MemoryContextDelete(r.cxt);
	PG_RETURN_JSONB_P(out);
}
