/*-------------------------------------------------------------------------
 *
 * golden.c
 *	  The golden record: one row per customer, each attribute's value taken
 *	  from the customer's most recent row that has one.
 *
 * The rows of the customers come in customer order, in batches from a
 * cursor; for each customer and attribute the best row so far is kept, so
 * a million rows take one sort and one pass, not a sort per customer and
 * attribute.  Which row is best is the attribute's survivorship rule
 * (concord.identity_survivorship; most_recent when none is set), and a
 * row without the value never is:
 *
 *	most_recent		the latest updated_at (a row without one comes last)
 *	source_priority	the source's lower priority number
 *	longest			the most characters
 *	most_frequent	the value most of the customer's rows carry
 *
 * Ties go to the most recent row, then the lower priority number, then
 * source and key in byte order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "identity/match.h"

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

typedef enum Rule
{
	R_MOST_RECENT,
	R_SOURCE_PRIORITY,
	R_LONGEST,
	R_MOST_FREQUENT
} Rule;

/* The row chosen so far for one attribute (or, most_frequent, a value). */
typedef struct Pick
{
	bool		set;
	bool		at_null;
	TimestampTz at;
	int			priority;
	char	   *source;
	char	   *key;
	char	   *value;
	int			length;			/* characters, for longest */
	int			count;			/* rows with the value, for most_frequent */
} Pick;

/* most_frequent: the distinct values of one attribute, with their best row */
#define MAX_VALUES 64

/* One customer being gathered. */
typedef struct Gold
{
	int64		customer_id;
	int			records;
	bool		any_at;
	TimestampTz max_at;
	Pick		pick[G_NATTS];
	Pick		values[G_NATTS][MAX_VALUES];
	int			nvalues[G_NATTS];
} Gold;

/* Does the row r (a filled Pick) survive over the pick p, under rule? */
static bool
better(Rule rule, const Pick *r, const Pick *p)
{
	int			c;

	if (rule == R_SOURCE_PRIORITY && r->priority != p->priority)
		return r->priority < p->priority;
	if (rule == R_LONGEST && r->length != p->length)
		return r->length > p->length;
	if (rule == R_MOST_FREQUENT && r->count != p->count)
		return r->count > p->count;
	if (r->at_null != p->at_null)
		return !r->at_null;
	if (!r->at_null && r->at != p->at)
		return r->at > p->at;
	if (r->priority != p->priority)
		return r->priority < p->priority;
	c = strcmp(r->source, p->source);
	if (c != 0)
		return c < 0;
	return strcmp(r->key, p->key) < 0;
}

/* The rules of the attributes, most_recent where none is set. */
static void
load_rules(Rule *rules)
{
	for (int a = 0; a < G_NATTS; a++)
		rules[a] = R_MOST_RECENT;
	if (SPI_execute("SELECT attribute, rule FROM concord.identity_survivorship", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_survivorship");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *att = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *rule = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		for (int a = 0; a < G_NATTS; a++)
			if (strcmp(att, gold_names[a]) == 0)
				rules[a] = strcmp(rule, "source_priority") == 0 ? R_SOURCE_PRIORITY :
					strcmp(rule, "longest") == 0 ? R_LONGEST :
					strcmp(rule, "most_frequent") == 0 ? R_MOST_FREQUENT : R_MOST_RECENT;
	}
	SPI_freetuptable(SPI_tuptable);
}

/* most_frequent: the value with most rows (ties: by its best row). */
static void
settle_frequent(Gold *g, const Rule *rules)
{
	for (int a = 0; a < G_NATTS; a++)
	{
		if (rules[a] != R_MOST_FREQUENT)
			continue;
		for (int v = 0; v < g->nvalues[a]; v++)
			if (!g->pick[a].set || better(R_MOST_FREQUENT, &g->values[a][v], &g->pick[a]))
				g->pick[a] = g->values[a][v];
	}
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
	Gold	   *gp;
	bool		have = false;
	Rule		rules[G_NATTS];
	static const char *const select_list =
		"SELECT l.customer_id, r.source, r.key, r.original OPERATOR(pg_catalog.->>) 'name', r.phone, r.email,"
		" r.original OPERATOR(pg_catalog.->>) 'company', r.original OPERATOR(pg_catalog.->>) 'address',"
		" r.id_number, r.updated_at, s.priority";

	InitMaterializedSRF(fcinfo, 0);
	outer = CurrentMemoryContext;
	group = AllocSetContextCreate(outer, "concord golden record", ALLOCSET_DEFAULT_SIZES);
	each = AllocSetContextCreate(outer, "concord golden record row", ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("%s%s", select_list, scoped ?
												" FROM (SELECT DISTINCT customer_id FROM pg_temp.identity_touched) t"
												" JOIN concord.customer_link l ON l.customer_id OPERATOR(pg_catalog.=) t.customer_id"
												" JOIN concord.identity_record r"
												" ON r.source OPERATOR(pg_catalog.=) l.source AND r.key OPERATOR(pg_catalog.=) l.key"
												" JOIN concord.identity_source s ON s.name OPERATOR(pg_catalog.=) r.source"
												" ORDER BY l.customer_id" :
												" FROM concord.customer_link l"
												" JOIN concord.identity_record r"
												" ON r.source OPERATOR(pg_catalog.=) l.source AND r.key OPERATOR(pg_catalog.=) l.key"
												" JOIN concord.identity_source s ON s.name OPERATOR(pg_catalog.=) r.source"
												" ORDER BY l.customer_id"),
									   0, NULL, NULL, NULL, true, CURSOR_OPT_NO_SCROLL);
	load_rules(rules);
	gp = palloc0(sizeof(Gold));
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
			if (have && cid != gp->customer_id)
			{
				settle_frequent(gp, rules);
				old = MemoryContextSwitchTo(each);
				emit(rsinfo, gp);
				MemoryContextSwitchTo(old);
				MemoryContextReset(each);
				MemoryContextReset(group);
				have = false;
			}
			if (!have)
			{
				/* (not the value lists: only their counts) */
				gp->records = 0;
				gp->any_at = false;
				memset(gp->pick, 0, sizeof(gp->pick));
				memset(gp->nvalues, 0, sizeof(gp->nvalues));
				gp->customer_id = cid;
				have = true;
			}
			gp->records++;
			if (!at_null && (!gp->any_at || at > gp->max_at))
			{
				gp->any_at = true;
				gp->max_at = at;
			}
			old = MemoryContextSwitchTo(group);
			for (int a = 0; a < G_NATTS; a++)
			{
				Pick		r;
				char	   *value = identity_text_column(t, d, C_FIRST_ATT + a);

				/* a resident ID number with a typo is never the customer's */
				if (value == NULL || (a == G_NATTS - 1 && identity_id_digits(value) != value))
					continue;
				if (source == NULL)
				{
					source = identity_text_column(t, d, C_SOURCE);
					key = identity_text_column(t, d, C_KEY);
				}
				r.set = true;
				r.at_null = at_null;
				r.at = at;
				r.priority = priority;
				r.source = source;
				r.key = key;
				r.value = value;
				r.length = rules[a] == R_LONGEST ? pg_mbstrlen(r.value) : 0;
				r.count = 1;
				if (rules[a] == R_MOST_FREQUENT)
				{
					/* the value's entry: its count, and its most recent row */
					int			v;

					for (v = 0; v < gp->nvalues[a]; v++)
						if (strcmp(gp->values[a][v].value, r.value) == 0)
							break;
					if (v == gp->nvalues[a])
					{
						if (v == MAX_VALUES)
							continue;	/* a customer of 64 spellings: the rest
										 * do not count */
						gp->values[a][v] = r;
						gp->nvalues[a]++;
					}
					else
					{
						Pick	   *e = &gp->values[a][v];

						r.count = e->count + 1;
						if (better(R_MOST_RECENT, &r, e))
							*e = r;
						else
							e->count = r.count;
					}
					continue;
				}
				if (!gp->pick[a].set || better(rules[a], &r, &gp->pick[a]))
					gp->pick[a] = r;
			}
			MemoryContextSwitchTo(old);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	if (have)
	{
		MemoryContext old;

		settle_frequent(gp, rules);
		old = MemoryContextSwitchTo(each);
		emit(rsinfo, gp);
		MemoryContextSwitchTo(old);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextDelete(group);
	MemoryContextDelete(each);
	return (Datum) 0;
}
