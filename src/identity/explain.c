/*-------------------------------------------------------------------------
 *
 * explain.c
 *	  The matcher explained: why_matched() compares two records as resolve
 *	  would.
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

/* attribute names as why_matched shows them */
static const char *const att_names[A_NATTS] = {
	"name", "phone", "email", "company", "address", "id_number"
};

/* the kinds of concord.identity_placeholder_value, and their attributes */
static const char *const placeholder_kinds[] = {"name", "phone", "email", "company"};
static const int placeholder_atts[] = {A_NAME_KEY, A_PHONE, A_EMAIL, A_COMPANY};

/* Is the value of kind a placeholder (concord.identity_placeholder_value)? */
static bool
is_placeholder(const char *kind, const char *value)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		vals[2] = {CStringGetTextDatum(kind), CStringGetTextDatum(value)};
	bool		found;

	if (SPI_execute_with_args("SELECT 1 FROM concord.identity_placeholder_value p"
							  " WHERE p.kind OPERATOR(pg_catalog.=) $1 AND p.value OPERATOR(pg_catalog.=) $2 AND p.placeholder",
							  2, types, vals, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_placeholder_value");
	found = SPI_processed > 0;
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/* One record by source and key, with how many people share its values. */
static bool
load_one(const IdentityModel *m, const char *source, const char *key, IdentityRec *r)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		vals[2];
	StringInfoData q;
	HeapTuple	t;
	TupleDesc	d;
	static const int spread_atts[] = {A_NAME_KEY, A_PHONE, A_EMAIL, A_COMPANY, A_ID_NUMBER, A_ADDRESS};

	vals[0] = CStringGetTextDatum(source);
	vals[1] = CStringGetTextDatum(key);
	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT r.source, r.key, r.name_key, r.phone, r.email, r.company, r.address, r.id_number, r.syllables,"
						   " (SELECT pg_catalog.count(DISTINCT x.phone) FROM concord.identity_record x WHERE x.name_key OPERATOR(pg_catalog.=) r.name_key),"
						   " (SELECT pg_catalog.count(DISTINCT x.name_key) FROM concord.identity_record x WHERE x.phone OPERATOR(pg_catalog.=) r.phone),"
						   " (SELECT pg_catalog.count(DISTINCT x.name_key) FROM concord.identity_record x WHERE x.email OPERATOR(pg_catalog.=) r.email),"
						   " (SELECT pg_catalog.count(DISTINCT x.name_key) FROM concord.identity_record x WHERE x.company OPERATOR(pg_catalog.=) r.company),"
						   " (SELECT pg_catalog.count(DISTINCT x.name_key) FROM concord.identity_record x WHERE x.id_number OPERATOR(pg_catalog.=) r.id_number),"
	/* (an address: as the last full run counted it, see IDENTITY_ADDRESS_SPREAD_MIN) */
						   " coalesce((SELECT s.spread FROM concord.identity_value_stat s"
						   "           WHERE s.attribute OPERATOR(pg_catalog.=) 'address' AND s.value OPERATOR(pg_catalog.=) r.address), 1),"
						   " (SELECT pg_catalog.count(DISTINCT x.phone) FILTER (WHERE x.phone OPERATOR(pg_catalog.~) " IDENTITY_MOBILE_REGEX ")"
						   "    FROM concord.identity_record x"
						   " WHERE x.name_key OPERATOR(pg_catalog.=) r.name_key AND x.company OPERATOR(pg_catalog.=) r.company)");
	identity_append_declared(&q, m);
	/* the employer as written, for the city its name gives */
	appendStringInfoString(&q, ", r.original OPERATOR(pg_catalog.->>) 'company'");
	appendStringInfoString(&q, " FROM concord.identity_record r WHERE r.source OPERATOR(pg_catalog.=) $1 AND r.key OPERATOR(pg_catalog.=) $2");
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
	identity_read_name_form(r);
	r->latin = r->name_form == NAME_FORM_OTHER && identity_latin_name(r->syllables);
	for (int k = 0; k < lengthof(spread_atts); k++)
		r->spread[spread_atts[k]] = Max(atoi(SPI_getvalue(t, d, 10 + k)), 1);
	r->employer_mobiles = atoi(SPI_getvalue(t, d, 10 + lengthof(spread_atts)));
	for (int j = 0; j < m->ndeclared; j++)
		r->att[A_NATTS + j] = SPI_getvalue(t, d, 11 + lengthof(spread_atts) + j);
	{
		char	   *raw = SPI_getvalue(t, d, 11 + lengthof(spread_atts) + m->ndeclared);

		r->company_place = raw && r->att[A_COMPANY] ? identity_company_place(raw) : 0;
	}
	/*
	 * a placeholder is evidence of nothing, as resolve reads it: missing
	 * (after the row's columns are read: this queries again)
	 */
	for (int k = 0; k < lengthof(placeholder_atts); k++)
		if (r->att[placeholder_atts[k]] && is_placeholder(placeholder_kinds[k], r->att[placeholder_atts[k]]))
		{
			r->att[placeholder_atts[k]] = NULL;
			if (placeholder_atts[k] == A_NAME_KEY)
			{
				r->syllables = NULL;
				r->latin = false;
				r->name_form = NAME_FORM_OTHER;
			}
		}
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
	if (SPI_execute("SELECT attribute, level, m, u FROM concord.identity_weight"
					" WHERE origin OPERATOR(pg_catalog.=) 'trained' AND m IS NOT NULL AND u IS NOT NULL",
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

/*
 * concord.identity_level_counts(sample), gone in 0.2 (identity_estimate_weights
 * trains the model now): the symbol stays so that 0.1's install script, which
 * declares the function, still loads before ALTER EXTENSION concord UPDATE
 * drops it.
 */
PG_FUNCTION_INFO_V1(concord_identity_level_counts);
Datum
concord_identity_level_counts(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("concord.identity_level_counts() is gone in concord 0.2"),
			 errhint("Update the extension (ALTER EXTENSION concord UPDATE); concord.identity_train() learns the weights.")));
	PG_RETURN_NULL();
}
