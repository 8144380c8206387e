/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  metric_sql() and metric_query(): the SQL written for a question, kept
 *	  per backend, and metric_query's plan of it.
 *
 *	  concord.metric_sql(metrics, dimensions, grain, filters, from_date,
 *	                     to_date, order_by, row_limit, time_zone,
 *	                     use_rollups, latest) RETURNS text
 *	  concord.metric_query(same) RETURNS SETOF jsonb
 *	  concord.metric_sql_cache_stats() RETURNS TABLE (entries, hits, misses,
 *	                                                  generation)
 *
 *	  Writing the SQL of a question (concord.metric_sql_build, PL/pgSQL) takes
 *	  a millisecond or two; a dashboard asks the same questions again and
 *	  again.  What was written is kept under a key made of everything it
 *	  depends on:
 *
 *	  - the generation of the metric definitions (concord.metric_state,
 *	    moved on by every change to a model, dimension, join, metric,
 *	    certification or rollup), read in the caller's snapshot: a
 *	    redefinition, a certification or a rollup is seen exactly when the
 *	    caller's snapshot sees it, and SQL written for other definitions
 *	    is never used;
 *	  - this backend's own changes to definitions not yet committed (or
 *	    rolled back): a statement trigger on the definition tables
 *	    (metric_state_touch) counts them, and the count is in the key, so
 *	    a transaction sees its own redefinitions at once and nothing kept
 *	    while they were in force outlives them;
 *	  - the caller (the current user): SQL written for one role is never
 *	    given to another, and the plan is hers;
 *	  - every argument, dates by value (not as DateStyle prints them), and
 *	    the time zone the question is asked in (the session's TimeZone
 *	    when time_zone is NULL).
 *
 *	  The SQL itself depends on no other setting: it is written with
 *	  search_path pinned to pg_catalog, pg_temp (every relation and
 *	  function is resolved there), DateStyle ISO and IntervalStyle
 *	  postgres, and runs with the same search_path.  A relation the SQL
 *	  reads that is renamed, altered or dropped (a relcache invalidation),
 *	  or a schema renamed, empties the cache, as does a change of
 *	  generation; the cache holds at most MAX_ENTRIES questions.
 *
 *	  A question a rollup can answer keeps the SQL from the models and from
 *	  each rollup that fits it; which one answers is decided at every call,
 *	  in the caller's snapshot (concord.metric_rollup_usable: nothing
 *	  changed since its refresh, and the caller reads every row it sums).
 *
 *	  The SQL runs as the caller, with her row policies: metric_query
 *	  executes its kept plan through SPI, read-only, in her snapshot; the
 *	  plan cache replans it when a table it reads changes, or the role or
 *	  row security does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "concord.h"

PG_FUNCTION_INFO_V1(concord_metric_sql);
PG_FUNCTION_INFO_V1(concord_metric_query);
PG_FUNCTION_INFO_V1(concord_metric_sql_cache_stats);
PG_FUNCTION_INFO_V1(concord_metric_state_touch);

/* the arguments of metric_sql and metric_query */
#define NARGS 11
#define ARG_TIME_ZONE 8

/* questions kept at most; beyond, the cache starts afresh */
#define MAX_ENTRIES 1000

/* One way of answering a question: from the models, or from a rollup. */
typedef struct Variant
{
	char	   *rollup;			/* NULL: from the models */
	char	   *sql;
	SPIPlanPtr	plan;			/* metric_query's, made at its first use */
} Variant;

/* A question as kept: its key, its answers, its notices. */
typedef struct Entry
{
	char	   *key;			/* hash key (must be first), in cxt */
	MemoryContext cxt;			/* owns everything below */
	int			nvariants;		/* [0] the models, then rollups, best first */
	Variant    *variants;
	int			nnotices;
	char	  **notices;
} Entry;

static HTAB *entries = NULL;
static HTAB *relations = NULL;	/* the relations the kept SQL reads */
static MemoryContext cache_cxt = NULL;
static bool callbacks_registered = false;
static bool stale = false;		/* an invalidation asked to start afresh */
static int	depth = 0;			/* calls running: the cache is emptied only
								 * when none is */
static int64 last_generation = -1;
static int64 local_changes = 0;	/* this backend's changes to definitions:
								 * moved on by each, and at the end of a
								 * (sub)transaction that made some */
static bool touched = false;	/* the current transaction changed one */
static bool xact_callbacks = false;
static int64 hits = 0;
static int64 misses = 0;

/* statements of this file, prepared once per backend */
static SPIPlanPtr generation_plan = NULL;
static SPIPlanPtr build_plan = NULL;
static SPIPlanPtr usable_plan = NULL;

/* A relation the kept SQL reads changed (or every relation may have). */
static void
relation_changed(Datum arg, Oid relid)
{
	if (relations == NULL)
		return;
	if (!OidIsValid(relid) || hash_search(relations, &relid, HASH_FIND, NULL) != NULL)
		stale = true;
}

/* A schema changed (a rename changes how the kept SQL names its tables). */
static void
namespace_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	if (entries != NULL)
		stale = true;
}

/*
 * Forget everything kept, plans included.  Only in the outermost call: a
 * plan of an outer call may be running otherwise (the cache is then
 * emptied by the next call).
 */
static void
cache_reset(void)
{
	HASH_SEQ_STATUS it;
	Entry	   *e;

	if (depth > 1)
	{
		stale = true;
		return;
	}
	if (entries != NULL)
	{
		hash_seq_init(&it, entries);
		while ((e = hash_seq_search(&it)) != NULL)
		{
			for (int i = 0; i < e->nvariants; i++)
				if (e->variants[i].plan != NULL)
					SPI_freeplan(e->variants[i].plan);
			MemoryContextDelete(e->cxt);
		}
		hash_destroy(entries);
		entries = NULL;
	}
	if (relations != NULL)
	{
		hash_destroy(relations);
		relations = NULL;
	}
	stale = false;
}

/* The hash tables, made at the first use (and again after a reset). */
static void
cache_init(void)
{
	HASHCTL		ctl;

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(CacheMemoryContext, "concord metric SQL", ALLOCSET_SMALL_SIZES);
	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(relation_changed, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, namespace_changed, (Datum) 0);
		callbacks_registered = true;
	}
	if (entries == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(Entry);
		ctl.hash = concord_strptr_hash;
		ctl.match = concord_strptr_match;
		ctl.hcxt = cache_cxt;
		entries = hash_create("concord metric SQL", 64, &ctl,
							  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	if (relations == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(Oid);
		ctl.hcxt = cache_cxt;
		relations = hash_create("concord metric SQL relations", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
}

/*
 * Move the generation of the definitions on, as the owner of concord's
 * tables (concord_owner_exec: nothing of the caller's takes part), in the
 * transaction that is committing.
 */
static void
generation_bump(void)
{
	if (!OidIsValid(concord_relation_oid("metric_state", true)))
		return;					/* the extension went away in this transaction */
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	concord_owner_exec("metric_state",
					   "UPDATE " CONCORD_SCHEMA ".metric_state"
					   " SET generation = pg_catalog.nextval('" CONCORD_SCHEMA ".metric_generation_seq'::pg_catalog.regclass)",
					   0, NULL, NULL, NULL);
	SPI_finish();
	PopActiveSnapshot();
}

/*
 * A transaction that changed definitions: as it commits, the generation
 * moves on; when it ends (committed or rolled back), what was kept while its
 * changes were in force is not used again.
 */
static void
xact_ended(XactEvent event, void *arg)
{
	if (!touched)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			generation_bump();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			local_changes++;
			touched = false;
			break;
		default:
			break;
	}
}

/*
 * A subtransaction that changed definitions rolled back: what was kept while
 * its changes were in force is not used again.
 */
static void
subxact_ended(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	if (touched && event == SUBXACT_EVENT_ABORT_SUB)
		local_changes++;
}

/*
 * concord.metric_state_touch() RETURNS trigger: a statement trigger on the
 * metric definition tables; this backend's transaction changed one.
 */
Datum
concord_metric_state_touch(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("concord.metric_state_touch() is a trigger function")));
	if (!xact_callbacks)
	{
		RegisterXactCallback(xact_ended, NULL);
		RegisterSubXactCallback(subxact_ended, NULL);
		xact_callbacks = true;
	}
	local_changes++;
	touched = true;
	return PointerGetDatum(NULL);
}

/* Append a length-prefixed string to a key (so no two keys run together). */
static void
key_string(StringInfo buf, const char *s, int len)
{
	appendStringInfo(buf, "%d:", len);
	appendBinaryStringInfo(buf, s, len);
}

/*
 * The key of a question: the generation, the caller, every argument (dates
 * by value, arrays element by element) and the time zone it is asked in.
 */
static char *
question_key(FunctionCallInfo fcinfo, int64 generation, const char *tz)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%lld|%lld|%u|", (long long) generation, (long long) local_changes, GetUserId());
	for (int i = 0; i < NARGS; i++)
	{
		if (PG_ARGISNULL(i))
		{
			appendStringInfoString(&buf, "N|");
			continue;
		}
		switch (i)
		{
			case 0:				/* metrics, dimensions, order_by: text[] */
			case 1:
			case 6:
				{
					ArrayType  *a = PG_GETARG_ARRAYTYPE_P(i);
					Datum	   *d;
					bool	   *n;
					int			count;

					if (ARR_NDIM(a) > 1)
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("metrics, dimensions and order_by are one-dimensional arrays")));
					deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &d, &n, &count);
					appendStringInfo(&buf, "A%d", count);
					for (int j = 0; j < count; j++)
					{
						if (n[j])
							appendStringInfoChar(&buf, 'n');
						else
							key_string(&buf, VARDATA_ANY(DatumGetTextPP(d[j])),
									   VARSIZE_ANY_EXHDR(DatumGetTextPP(d[j])));
					}
					break;
				}
			case 2:				/* grain, filters, time_zone: text */
			case 3:
			case ARG_TIME_ZONE:
				{
					text	   *t = PG_GETARG_TEXT_PP(i);

					key_string(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
					break;
				}
			case 4:				/* from_date, to_date */
			case 5:
				appendStringInfo(&buf, "D%d", (int) PG_GETARG_DATEADT(i));
				break;
			case 7:				/* row_limit */
				appendStringInfo(&buf, "I%d", PG_GETARG_INT32(i));
				break;
			default:			/* use_rollups, latest */
				appendStringInfoChar(&buf, PG_GETARG_BOOL(i) ? 't' : 'f');
				break;
		}
		appendStringInfoChar(&buf, '|');
	}
	key_string(&buf, tz, strlen(tz));
	return buf.data;
}

/* The schema of the extension, quoted, from one of its functions. */
static const char *
extension_schema(FunctionCallInfo fcinfo)
{
	return quote_identifier(get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)));
}

/* Prepare sql once for the backend (with search_path pinned). */
static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/* The generation of the definitions, in the caller's snapshot. */
static int64
read_generation(const char *schema)
{
	bool		isnull;
	Datum		d;

	if (generation_plan == NULL)
		generation_plan = prepare_kept(psprintf("SELECT s.generation FROM %s.metric_state s", schema), 0, NULL);
	if (SPI_execute_plan(generation_plan, NULL, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("concord.metric_state has no generation row"),
				 errhint("Reinstall the extension, or restore the row: INSERT INTO concord.metric_state VALUES (true, 0).")));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/* The elements of a text[] column of the SPI result, as C strings in cxt. */
static char **
text_array_column(int col, int *count, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);
	Datum	   *items;
	bool	   *nulls;
	char	  **out;

	*count = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &items, &nulls, count);
	out = MemoryContextAllocZero(cxt, sizeof(char *) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
		out[i] = nulls[i] ? NULL : MemoryContextStrdup(cxt, TextDatumGetCString(items[i]));
	return out;
}

/*
 * Write the SQL of a question (concord.metric_sql_build) and keep it under
 * key; the generation it was written for is the one in its key.
 */
static Entry *
build_entry(FunctionCallInfo fcinfo, const char *schema, const char *key)
{
	Datum		values[NARGS];
	char		nulls[NARGS];
	bool		found;
	bool		isnull;
	Entry	   *e;
	MemoryContext cxt;
	char	  **names;
	char	  **sqls;
	int			nnames,
				nsqls,
				nrels;
	Datum	   *rels;
	bool	   *relnulls;
	Datum		d;

	if (build_plan == NULL)
	{
		Oid			types[NARGS] = {TEXTARRAYOID, TEXTARRAYOID, TEXTOID, TEXTOID, DATEOID, DATEOID,
			TEXTARRAYOID, INT4OID, TEXTOID, BOOLOID, BOOLOID};

		build_plan = prepare_kept(psprintf(
										   "SELECT b OPERATOR(pg_catalog.->>) 'sql',"
										   " ARRAY(SELECT r OPERATOR(pg_catalog.->>) 'name' FROM pg_catalog.jsonb_array_elements(b OPERATOR(pg_catalog.->) 'rollups') r),"
										   " ARRAY(SELECT r OPERATOR(pg_catalog.->>) 'sql' FROM pg_catalog.jsonb_array_elements(b OPERATOR(pg_catalog.->) 'rollups') r),"
										   " ARRAY(SELECT pg_catalog.jsonb_array_elements_text(b OPERATOR(pg_catalog.->) 'notices')),"
										   " ARRAY(SELECT (x OPERATOR(pg_catalog.#>>) '{}')::pg_catalog.oid FROM pg_catalog.jsonb_array_elements(b OPERATOR(pg_catalog.->) 'relations') x)"
										   " FROM %s.metric_sql_build($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) AS b",
										   schema),
								  NARGS, types);
	}
	for (int i = 0; i < NARGS; i++)
	{
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	if (SPI_execute_plan(build_plan, values, nulls, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "concord.metric_sql_build gave no row");
	misses++;

	if (hash_get_num_entries(entries) >= MAX_ENTRIES)
	{
		cache_reset();
		cache_init();
	}
	cxt = AllocSetContextCreate(cache_cxt, "concord metric question", ALLOCSET_SMALL_SIZES);
	e = hash_search(entries, &key, HASH_ENTER, &found);
	Assert(!found);
	e->cxt = cxt;
	e->key = MemoryContextStrdup(cxt, key);

	names = text_array_column(2, &nnames, cxt);
	sqls = text_array_column(3, &nsqls, cxt);
	e->nvariants = 1 + Min(nnames, nsqls);
	e->variants = MemoryContextAllocZero(cxt, sizeof(Variant) * e->nvariants);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	e->variants[0].sql = MemoryContextStrdup(cxt, isnull ? "" : TextDatumGetCString(d));
	for (int i = 1; i < e->nvariants; i++)
	{
		e->variants[i].rollup = names[i - 1];
		e->variants[i].sql = sqls[i - 1];
	}
	e->notices = text_array_column(4, &e->nnotices, cxt);

	/* a change to what it reads empties the cache */
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);
	if (!isnull)
	{
		deconstruct_array(DatumGetArrayTypeP(d), OIDOID, sizeof(Oid), true, TYPALIGN_INT, &rels, &relnulls, &nrels);
		for (int i = 0; i < nrels; i++)
		{
			Oid			relid = DatumGetObjectId(rels[i]);

			if (!relnulls[i])
				(void) hash_search(relations, &relid, HASH_ENTER, NULL);
		}
	}
	return e;
}

/*
 * The way to answer a kept question now: the first of its rollups that is
 * usable for the caller in her snapshot, else the models.
 */
static Variant *
pick_variant(Entry *e, const char *schema)
{
	for (int i = 1; i < e->nvariants; i++)
	{
		Datum		arg = CStringGetTextDatum(e->variants[i].rollup);
		bool		isnull;
		Datum		d;

		if (usable_plan == NULL)
		{
			Oid			types[1] = {TEXTOID};

			usable_plan = prepare_kept(psprintf("SELECT %s.metric_rollup_usable($1)", schema), 1, types);
		}
		if (SPI_execute_plan(usable_plan, &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "concord.metric_rollup_usable gave no row");
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull && DatumGetBool(d))
			return &e->variants[i];
	}
	return &e->variants[0];
}

/*
 * The kept (or newly written) question of this call: the generation read in
 * the caller's snapshot, then the key.  Inside SPI, with search_path pinned.
 */
static Entry *
question_entry(FunctionCallInfo fcinfo, const char *schema)
{
	const char *tz;
	int64		generation;
	char	   *key;
	Entry	   *e;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metric_sql needs at least one metric")));
	tz = PG_ARGISNULL(ARG_TIME_ZONE) ? GetConfigOption("TimeZone", false, false)
		: text_to_cstring(PG_GETARG_TEXT_PP(ARG_TIME_ZONE));
	generation = read_generation(schema);
	if (stale || generation != last_generation)
	{
		cache_reset();
		last_generation = generation;
	}
	cache_init();
	key = question_key(fcinfo, generation, tz);
	e = hash_search(entries, &key, HASH_FIND, NULL);
	if (e != NULL)
		hits++;
	else
		e = build_entry(fcinfo, schema, key);
	return e;
}

/*
 * Run fn inside SPI, with search_path pinned to pg_catalog, pg_temp (the
 * SQL is written and planned there, and the plans kept say so); the depth
 * of calls is counted on every exit.
 */
typedef struct CallState
{
	int			save_nestlevel;
} CallState;

static void
call_begin(CallState *cs)
{
	cs->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	depth++;
}

/* The end of a call that returns (on an error, the abort cleans up). */
static void
call_end(CallState *cs, bool ok)
{
	depth--;
	if (ok)
		SPI_finish();
	AtEOXact_GUC(ok, cs->save_nestlevel);
}

/*
 * concord.metric_sql(...) RETURNS text: the SQL that answers a question,
 * from a rollup when one is usable for the caller now.
 */
Datum
concord_metric_sql(PG_FUNCTION_ARGS)
{
	const char *schema = extension_schema(fcinfo);
	CallState	cs;
	char	   *volatile sql = NULL;
	MemoryContext outer = CurrentMemoryContext;

	call_begin(&cs);
	PG_TRY();
	{
		Entry	   *e = question_entry(fcinfo, schema);
		Variant    *v = pick_variant(e, schema);

		sql = MemoryContextStrdup(outer, v->sql);
	}
	PG_CATCH();
	{
		depth--;
		PG_RE_THROW();
	}
	PG_END_TRY();
	call_end(&cs, true);
	PG_RETURN_TEXT_P(cstring_to_text(sql));
}

/*
 * concord.metric_query(...) RETURNS SETOF jsonb: the answer of a question, a
 * jsonb per row, run as the caller under her row policies from its kept
 * plan; a NOTICE for each metric asked for whose answer is not certified.
 */
Datum
concord_metric_query(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *schema = extension_schema(fcinfo);
	MemoryContext per_query;
	MemoryContext old;
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	CallState	cs;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || (rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("concord.metric_query must be called where a set can be returned"),
				 errhint("SELECT * FROM concord.metric_query(...).")));
	per_query = rsinfo->econtext->ecxt_per_query_memory;
	old = MemoryContextSwitchTo(per_query);
	tupdesc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(tupdesc, (AttrNumber) 1, "metric_query", JSONBOID, -1, 0);
	store = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0, false, work_mem);
	MemoryContextSwitchTo(old);

	call_begin(&cs);
	PG_TRY();
	{
		Entry	   *e = question_entry(fcinfo, schema);
		Variant    *v = pick_variant(e, schema);
		SPIExecuteOptions opts;
		DestReceiver *dest;
		int			rc;

		for (int i = 0; i < e->nnotices; i++)
			ereport(NOTICE, (errmsg("%s", e->notices[i])));
		if (v->plan == NULL)
			v->plan = prepare_kept(psprintf("SELECT pg_catalog.to_jsonb(q) FROM (%s\n) AS q", v->sql), 0, NULL);
		dest = CreateDestReceiver(DestTuplestore);
		SetTuplestoreDestReceiverParams(dest, store, per_query, false, NULL, NULL);
		memset(&opts, 0, sizeof(opts));
		opts.read_only = true;
		opts.dest = dest;
		rc = SPI_execute_plan_extended(v->plan, &opts);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "metric_query: SPI_execute_plan_extended returned %s", SPI_result_code_string(rc));
		dest->rDestroy(dest);
	}
	PG_CATCH();
	{
		depth--;
		PG_RE_THROW();
	}
	PG_END_TRY();
	call_end(&cs, true);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}

/*
 * concord.metric_sql_cache_stats() RETURNS TABLE (entries, hits, misses,
 * generation): what this session keeps.
 */
Datum
concord_metric_sql_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum(entries != NULL ? hash_get_num_entries(entries) : 0);
	values[1] = Int64GetDatum(hits);
	values[2] = Int64GetDatum(misses);
	values[3] = Int64GetDatum(last_generation);
	nulls[3] = last_generation < 0;
	/* a TABLE function: one row, as a set of one */
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

		if (rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) && (rsinfo->allowedModes & SFRM_Materialize) != 0)
		{
			MemoryContext old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
			Tuplestorestate *store = tuplestore_begin_heap(false, false, work_mem);

			tupdesc = CreateTupleDescCopy(tupdesc);
			tuplestore_putvalues(store, tupdesc, values, nulls);
			MemoryContextSwitchTo(old);
			rsinfo->returnMode = SFRM_Materialize;
			rsinfo->setResult = store;
			rsinfo->setDesc = tupdesc;
			return (Datum) 0;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("concord.metric_sql_cache_stats must be called where a set can be returned")));
	return (Datum) 0;
}
