/*-------------------------------------------------------------------------
 *
 * golden.c
 *	  The golden record: one row per customer, each attribute's value taken
 *	  from the customer's most recent row that has one.
 *
 * The rows of the customers come in customer order, in batches from a
 * cursor; for each customer and attribute the best row so far is kept --
 * the most recent updated_at (a row without one comes last), then the
 * source's lower priority number, then source and key in byte order -- so
 * a million rows take one sort and one pass, not a sort per customer and
 * attribute.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(concord_identity_golden);

/* The attributes of the golden record, in concord.customer column order. */
#define G_NATTS 6
static const char *const gold_names[G_NATTS] = {
	"name", "phone", "email", "company", "address", "id_number"
};

/* The input row's columns (1-based, see the queries below). */
enum
{
	C_CUSTOMER = 1,
	C_SOURCE,
	C_KEY,
	C_FIRST_ATT,				/* G_NATTS values follow */
	C_UPDATED_AT = C_FIRST_ATT + G_NATTS,
	C_PRIORITY
};

/* The row chosen so far for one attribute. */
typedef struct Pick
{
	bool		set;
	bool		at_null;
	TimestampTz at;
	int			priority;
	char	   *source;
	char	   *key;
	char	   *value;
} Pick;

/* One customer being gathered. */
typedef struct Gold
{
	int64		customer_id;
	int			records;
	bool		any_at;
	TimestampTz max_at;
	Pick		pick[G_NATTS];
} Gold;

/* Does the row (at, priority, source, key) survive over the pick? */
static bool
better(bool at_null, TimestampTz at, int priority, const char *source, const char *key,
	   const Pick *p)
{
	int			c;

	if (at_null != p->at_null)
		return !at_null;
	if (!at_null && at != p->at)
		return at > p->at;
	if (priority != p->priority)
		return priority < p->priority;
	c = strcmp(source, p->source);
	if (c != 0)
		return c < 0;
	return strcmp(key, p->key) < 0;
}

/* Put the customer gathered in g into the result. */
static void
emit(ReturnSetInfo *rsinfo, Gold *g)
{
	Datum		v[10];
	bool		nulls[10];
	StringInfoData chosen;
	bool		first = true;

	memset(nulls, 0, sizeof(nulls));
	initStringInfo(&chosen);
	appendStringInfoChar(&chosen, '{');
	v[0] = Int64GetDatum(g->customer_id);
	for (int i = 0; i < G_NATTS; i++)
	{
		Pick	   *p = &g->pick[i];

		nulls[1 + i] = !p->set;
		if (!p->set)
			continue;
		v[1 + i] = CStringGetTextDatum(p->value);
		if (!first)
			appendStringInfoString(&chosen, ", ");
		first = false;
		escape_json(&chosen, gold_names[i]);
		appendStringInfoString(&chosen, ": ");
		{
			char	   *where = psprintf("%s:%s", p->source, p->key);

			escape_json(&chosen, where);
			pfree(where);
		}
	}
	appendStringInfoChar(&chosen, '}');
	v[7] = Int32GetDatum(g->records);
	v[8] = DirectFunctionCall1(jsonb_in, CStringGetDatum(chosen.data));
	v[9] = TimestampTzGetDatum(g->max_at);
	nulls[9] = !g->any_at;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
}

/*
 * concord.identity_golden(scoped boolean) RETURNS SETOF concord.customer
 *
 * The golden record of every linked customer, or (scoped) of those in
 * pg_temp.identity_touched.
 */
Datum
concord_identity_golden(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		scoped = PG_GETARG_BOOL(0);
	MemoryContext outer;
	MemoryContext group;
	MemoryContext each;
	Portal		portal;
	Gold		g;
	bool		have = false;
	static const char *const select_list =
		"SELECT l.customer_id, r.source, r.key, r.original->>'name', r.phone, r.email,"
		" r.original->>'company', r.original->>'address', r.id_number, r.updated_at, s.priority";

	InitMaterializedSRF(fcinfo, 0);
	outer = CurrentMemoryContext;
	group = AllocSetContextCreate(outer, "concord golden record", ALLOCSET_DEFAULT_SIZES);
	each = AllocSetContextCreate(outer, "concord golden record row", ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("%s%s", select_list, scoped ?
												" FROM (SELECT DISTINCT customer_id FROM pg_temp.identity_touched) t"
												" JOIN concord.customer_link l ON l.customer_id = t.customer_id"
												" JOIN concord.identity_record r ON r.source = l.source AND r.key = l.key"
												" JOIN concord.identity_source s ON s.name = r.source"
												" ORDER BY l.customer_id" :
												" FROM concord.customer_link l"
												" JOIN concord.identity_record r ON r.source = l.source AND r.key = l.key"
												" JOIN concord.identity_source s ON s.name = r.source"
												" ORDER BY l.customer_id"),
									   0, NULL, NULL, NULL, true, CURSOR_OPT_NO_SCROLL);
	memset(&g, 0, sizeof(g));
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	d = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		cid = DatumGetInt64(SPI_getbinval(t, d, C_CUSTOMER, &isnull));
			Datum		atd = SPI_getbinval(t, d, C_UPDATED_AT, &isnull);
			bool		at_null = isnull;
			TimestampTz at = at_null ? 0 : DatumGetTimestampTz(atd);
			int			priority = DatumGetInt32(SPI_getbinval(t, d, C_PRIORITY, &isnull));
			char	   *source = NULL;
			char	   *key = NULL;
			MemoryContext old;

			CHECK_FOR_INTERRUPTS();
			if (have && cid != g.customer_id)
			{
				old = MemoryContextSwitchTo(each);
				emit(rsinfo, &g);
				MemoryContextSwitchTo(old);
				MemoryContextReset(each);
				MemoryContextReset(group);
				have = false;
			}
			if (!have)
			{
				memset(&g, 0, sizeof(g));
				g.customer_id = cid;
				have = true;
			}
			g.records++;
			if (!at_null && (!g.any_at || at > g.max_at))
			{
				g.any_at = true;
				g.max_at = at;
			}
			old = MemoryContextSwitchTo(group);
			for (int a = 0; a < G_NATTS; a++)
			{
				Pick	   *p = &g.pick[a];

				(void) SPI_getbinval(t, d, C_FIRST_ATT + a, &isnull);
				if (isnull)
					continue;
				if (source == NULL)
				{
					source = SPI_getvalue(t, d, C_SOURCE);
					key = SPI_getvalue(t, d, C_KEY);
				}
				if (p->set && !better(at_null, at, priority, source, key, p))
					continue;
				p->set = true;
				p->at_null = at_null;
				p->at = at;
				p->priority = priority;
				p->source = source;
				p->key = key;
				p->value = SPI_getvalue(t, d, C_FIRST_ATT + a);
			}
			MemoryContextSwitchTo(old);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	if (have)
	{
		MemoryContext old = MemoryContextSwitchTo(each);

		emit(rsinfo, &g);
		MemoryContextSwitchTo(old);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextDelete(group);
	MemoryContextDelete(each);
	return (Datum) 0;
}
