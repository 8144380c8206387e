/*-------------------------------------------------------------------------
 *
 * explain.c
 *	  The matcher explained: why_matched() compares two records as resolve
 *	  would, and identity_level_counts() counts agreement levels among random
 *	  and linked pairs for identity_estimate_weights().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"


#include "identity/identity.h"
#include "identity/match.h"

PG_FUNCTION_INFO_V1(concord_identity_compare);
PG_FUNCTION_INFO_V1(concord_identity_level_counts);

/* attribute names as why_matched and the level counts show them */
static const char *const att_names[A_NATTS] = {
	"name", "phone", "email", "company", "address", "id_number"
};

/* One record by source and key, with how many people share its values. */
static bool
load_one(const IdentityModel *m, const char *source, const char *key, IdentityRec *r)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		vals[2];
	StringInfoData q;
	HeapTuple	t;
	TupleDesc	d;
	static const int spread_atts[] = {A_NAME_KEY, A_PHONE, A_EMAIL, A_COMPANY, A_ID_NUMBER};

	vals[0] = CStringGetTextDatum(source);
	vals[1] = CStringGetTextDatum(key);
	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT r.source, r.key, r.name_key, r.phone, r.email, r.company, r.address, r.id_number, r.syllables,"
						   " (SELECT count(DISTINCT x.phone) FROM concord.identity_record x WHERE x.name_key = r.name_key),"
						   " (SELECT count(DISTINCT x.name_key) FROM concord.identity_record x WHERE x.phone = r.phone),"
						   " (SELECT count(DISTINCT x.name_key) FROM concord.identity_record x WHERE x.email = r.email),"
						   " (SELECT count(DISTINCT x.name_key) FROM concord.identity_record x WHERE x.company = r.company),"
						   " (SELECT count(DISTINCT x.name_key) FROM concord.identity_record x WHERE x.id_number = r.id_number),"
						   " (SELECT count(DISTINCT x.phone) FILTER (WHERE x.phone OPERATOR(pg_catalog.~) " IDENTITY_MOBILE_REGEX ")"
						   "    FROM concord.identity_record x WHERE x.name_key = r.name_key AND x.company = r.company)");
	identity_append_declared(&q, m);
	appendStringInfoString(&q, " FROM concord.identity_record r WHERE r.source = $1 AND r.key = $2");
	if (SPI_execute_with_args(q.data, 2, types, vals, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_record");
	if (SPI_processed == 0)
		return false;
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	memset(r, 0, sizeof(IdentityRec));
	r->att = palloc0(sizeof(char *) * MAX_ATTS);
	r->source = SPI_getvalue(t, d, 1);
	r->key = SPI_getvalue(t, d, 2);
	for (int a = 0; a < A_NATTS; a++)
		r->att[a] = SPI_getvalue(t, d, 3 + a);
	r->syllables = SPI_getvalue(t, d, 9);
	r->latin = identity_latin_name(r->syllables);
	for (int k = 0; k < lengthof(spread_atts); k++)
		r->spread[spread_atts[k]] = Max(atoi(SPI_getvalue(t, d, 10 + k)), 1);
	r->employer_mobiles = atoi(SPI_getvalue(t, d, 10 + lengthof(spread_atts)));
	for (int j = 0; j < m->ndeclared; j++)
		r->att[A_NATTS + j] = SPI_getvalue(t, d, 11 + lengthof(spread_atts) + j);
	return true;
}

/*
 * concord.why_matched(source_a, key_a, source_b, key_b) returns jsonb:
 * the comparison of two records as resolve makes it -- per attribute the
 * two values, the agreement level, the weight -- the total score, the
 * rule that applies if any, and the decision.
 */
Datum
concord_identity_compare(PG_FUNCTION_ARGS)
{
	char	   *sa = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *ka = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *sb = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *kb = text_to_cstring(PG_GETARG_TEXT_PP(3));
	IdentityRec			a,
				b;
	IdentityAttCmp		c[MAX_ATTS];
	double		score;
	const char *rule;
	StringInfoData j;
	Datum		result;
	IdentityModel		model;
	MemoryContext outer = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	model = identity_load_model();
	model.scale = identity_population_scale(identity_population());
	if (!load_one(&model, sa, ka, &a))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no record \"%s\" of identity source \"%s\"", ka, sa),
				 errhint("Records are read from the registered sources by concord.resolve().")));
	if (!load_one(&model, sb, kb, &b))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no record \"%s\" of identity source \"%s\"", kb, sb),
				 errhint("Records are read from the registered sources by concord.resolve().")));
	identity_compare(&model, &a, &b, c, &score, &rule);
	/* the trained levels' m and u */
	if (SPI_execute("SELECT attribute, level, m, u FROM concord.identity_weight WHERE origin = 'trained' AND m IS NOT NULL AND u IS NOT NULL",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_weight");

	/* the text outlives SPI's memory (the values it copies do not need to) */
	MemoryContextSwitchTo(outer);
	initStringInfo(&j);
	appendStringInfoString(&j, "{\"attributes\": {");
	for (int i = 0; i < A_NATTS + model.ndeclared; i++)
	{
		if (i)
			appendStringInfoString(&j, ", ");
		escape_json(&j, i < A_NATTS ? att_names[i] : model.declared[i - A_NATTS].name);
		appendStringInfoString(&j, ": {\"a\": ");
		if (a.att[i])
			escape_json(&j, a.att[i]);
		else
			appendStringInfoString(&j, "null");
		appendStringInfoString(&j, ", \"b\": ");
		if (b.att[i])
			escape_json(&j, b.att[i]);
		else
			appendStringInfoString(&j, "null");
		appendStringInfo(&j, ", \"level\": \"%s\", \"weight\": %.2f", c[i].level, c[i].weight);

		/*
		 * a trained level: m, and u -- for a value several people share,
		 * the level's u times their number (its term frequency)
		 */
		{
			double		tf;
			bool		scaled;
			int			k = identity_level_index(&model, i, c, &a, &b, &tf, &scaled);
			const char *att = i < A_NATTS ? att_names[i] : model.declared[i - A_NATTS].name;

			for (uint64 r = 0; k >= 0 && r < SPI_processed; r++)
			{
				HeapTuple	t = SPI_tuptable->vals[r];
				TupleDesc	d = SPI_tuptable->tupdesc;

				if (strcmp(SPI_getvalue(t, d, 1), att) == 0 &&
					strcmp(SPI_getvalue(t, d, 2), identity_level_name(&model, i, k)) == 0)
				{
					appendStringInfo(&j, ", \"m\": %.6g, \"u\": %.6g", strtod(SPI_getvalue(t, d, 3), NULL),
									 Min(1.0, strtod(SPI_getvalue(t, d, 4), NULL) * pow(2.0, tf)));
					break;
				}
			}
		}
		if (c[i].similarity >= 0)
			appendStringInfo(&j, ", \"similarity\": %.4f", c[i].similarity);
		appendStringInfoChar(&j, '}');
	}
	appendStringInfo(&j, "}, \"score\": %.2f, \"threshold\": %.2f, \"rule\": ", score,
					 identity_threshold(&model));
	if (rule)
		escape_json(&j, rule);
	else
		appendStringInfoString(&j, "null");
	appendStringInfo(&j, ", \"match\": %s",
					 (rule != NULL || score >= identity_threshold(&model)) ? "true" : "false");

	/* the probability that the two are one person (see identity_match_probability) */
	appendStringInfo(&j, ", \"trained\": %s, \"match_probability\": %.4f}", model.trained ? "true" : "false",
					 identity_match_probability(&model, score));
	SPI_finish();
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(j.data));
	PG_RETURN_DATUM(result);
}

/* Counts of the agreement levels of one attribute. */
typedef struct LevelCount
{
	const char *attribute;
	const char *level;
	int64		random;
	int64		linked;
} LevelCount;

/* Levels an attribute can reach: at most 6 built-in, 3 declared. */
#define MAX_LEVELS (A_NATTS * 6 + MAX_DECLARED * 3)

/* Add one compared pair's levels to the counts (random or linked). */
static void
count_levels(const IdentityModel *m, LevelCount *lc, int *nlc, IdentityAttCmp *c, bool linked)
{
	for (int i = 0; i < A_NATTS + m->ndeclared; i++)
	{
		const char *att = i < A_NATTS ? att_names[i] : m->declared[i - A_NATTS].name;
		const char *level = c[i].level;
		int			k;

		if (strcmp(level, "missing") == 0)
			continue;
		/* as the model's table names it */
		if (strcmp(level, "agree, landline") == 0)
			level = "agree_landline";
		else if (strcmp(level, "exact, one person") == 0)
			level = "exact_unique";
		else if (strncmp(level, "close", 5) == 0)
			level = "close";
		/* (a Latin name's "near, typos", a "partial, a word missing") */
		else if (strncmp(level, "near", 4) == 0)
			level = "near";
		else if (strncmp(level, "partial", 7) == 0)
			level = "partial";
		for (k = 0; k < *nlc; k++)
			if (strcmp(lc[k].attribute, att) == 0 && strcmp(lc[k].level, level) == 0)
				break;
		if (k == *nlc)
		{
			if (*nlc == MAX_LEVELS)
				continue;
			lc[k].attribute = att;
			lc[k].level = level;
			lc[k].random = lc[k].linked = 0;
			(*nlc)++;
		}
		if (linked)
			lc[k].linked++;
		else
			lc[k].random++;
	}
}

/*
 * concord.identity_level_counts(sample integer)
 *	 RETURNS TABLE (attribute text, level text, random_pairs bigint, linked_pairs bigint)
 *
 * For estimating the weights: how often each attribute reaches each
 * agreement level among sample random pairs of rows (nearly all of them
 * different people: the u side) and among the pairs of rows the current
 * links put in one customer (the m side).
 */
Datum
concord_identity_level_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			sample = PG_GETARG_INT32(0);
	MemoryContext cxt;
	MemoryContext old;
	IdentityRec		   *recs;
	int			n;
	int64	   *cust;
	LevelCount	lc[MAX_LEVELS];
	int			nlc = 0;
	IdentityModel		model;
	pg_prng_state prng;

	if (sample < 100 || sample > 10000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample must be between 100 and 10000000 pairs, not %d", sample)));
	InitMaterializedSRF(fcinfo, 0);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "concord identity estimate", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(cxt);
	model = identity_load_model();
	recs = identity_load_records(&n, false, 0, &model);
	model.scale = identity_population_scale(n);
	if (n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("there are fewer than two normalized rows to learn from"),
				 errhint("Run concord.resolve() first.")));
	for (int k = 0; k < NBLOCKS; k++)
	{
		int		   *slab;
		HTAB	   *h = identity_build_blocks(recs, n, identity_block_kinds[k], cxt, &slab);

		identity_free_blocks(h, slab);
	}
	{
		int		   *slab;
		HTAB	   *h = identity_build_blocks(recs, n, A_COMPANY, cxt, &slab);

		identity_free_blocks(h, slab);
		h = identity_build_blocks(recs, n, NAME_COMPANY(&model), cxt, &slab);
		identity_set_employer_mobiles(recs, h);
		identity_free_blocks(h, slab);
	}

	/* the customer of each row (rows are in key order, like the links below) */
	cust = palloc(sizeof(int64) * n);
	for (int i = 0; i < n; i++)
		cust[i] = -1;
	if (SPI_execute("SELECT source, key, customer_id FROM concord.customer_link", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.customer_link");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		int			r = identity_rec_index(recs, n, SPI_getvalue(t, d, 1), SPI_getvalue(t, d, 2));

		if (r >= 0)
			cust[r] = strtoll(SPI_getvalue(t, d, 3), NULL, 10);
	}

	/* u: random pairs */
	pg_prng_seed(&prng, 20261125);
	for (int p = 0; p < sample; p++)
	{
		int			a = (int) pg_prng_uint64_range(&prng, 0, n - 1);
		int			b = (int) pg_prng_uint64_range(&prng, 0, n - 1);
		IdentityAttCmp		c[MAX_ATTS];
		double		score;
		const char *rule;

		CHECK_FOR_INTERRUPTS();
		if (a == b)
			continue;
		identity_compare(&model, &recs[a], &recs[b], c, &score, &rule);
		count_levels(&model, lc, &nlc, c, false);
	}

	/* m: pairs within customers (rows of one customer are not adjacent: group them) */
	{
		int		   *order = palloc(sizeof(int) * n);
		int			i = 0;

		for (int k = 0; k < n; k++)
			order[k] = k;
		/* sort row indexes by customer */
		for (int gap = n / 2; gap > 0; gap /= 2)
			for (int x = gap; x < n; x++)
				for (int y = x; y >= gap && cust[order[y - gap]] > cust[order[y]]; y -= gap)
				{
					int			t = order[y];

					order[y] = order[y - gap];
					order[y - gap] = t;
				}
		while (i < n)
		{
			int			j = i;

			while (j < n && cust[order[j]] == cust[order[i]])
				j++;
			if (cust[order[i]] >= 0)
				for (int x = i; x < j && x < i + 50; x++)
					for (int y = x + 1; y < j && y < i + 50; y++)
					{
						IdentityAttCmp		c[MAX_ATTS];
						double		score;
						const char *rule;

						identity_compare(&model, &recs[order[x]], &recs[order[y]], c, &score, &rule);
						count_levels(&model, lc, &nlc, c, true);
					}
			i = j;
		}
	}

	for (int k = 0; k < nlc; k++)
	{
		Datum		v[4];
		bool		nulls[4] = {false, false, false, false};

		v[0] = CStringGetTextDatum(lc[k].attribute);
		v[1] = CStringGetTextDatum(lc[k].level);
		v[2] = Int64GetDatum(lc[k].random);
		v[3] = Int64GetDatum(lc[k].linked);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
