/*-------------------------------------------------------------------------
 *
 * blockrule.c
 *	  Blocking rules as data: which records are brought together to be
 *	  compared.  concord.identity_blocking_rule holds each rule -- a key
 *	  (an ID number, a phone, a declared date of birth) or a conjunction
 *	  of keys (a name and an employer, a surname key and a year), for
 *	  every source or for one -- and this file turns them into the record
 *	  slots block.c builds blocks on (see IdentityBlockRule in match.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "identity/identity.h"
#include "identity/match.h"

/* The keys of the built-in kinds, as rules name them. */
static const char *const builtin_keys[A_NATTS] = {
	"name", "phone", "email", "company", "address", "id_number"
};

/* The slot of a key named in rule rule: a built-in kind or a declared attribute. */
static int
key_slot(const IdentityModel *m, const char *rule, const char *key)
{
	for (int a = 0; a < A_NATTS; a++)
		if (strcmp(key, builtin_keys[a]) == 0)
			return a;
	for (int j = 0; j < m->ndeclared; j++)
		if (strcmp(key, m->declared[j].name) == 0)
			return A_NATTS + j;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("blocking rule \"%s\" names unknown key \"%s\"", rule, key),
			 errhint("Drop the rule with concord.identity_blocking_rule_drop, or declare the attribute again.")));
	return -1;					/* not reached */
}

static int
int_cmp(const void *x, const void *y)
{
	return *(const int *) x - *(const int *) y;
}

/*
 * Read concord.identity_blocking_rule into m (after identity_load_model:
 * the declared attributes name keys).  Rules of one key first, in name
 * order, then conjunctions: the order pairs are compared in, which
 * changes how often a pair is found, never its score.
 */
void
identity_load_blocking_rules(IdentityModel *m)
{
	bool		isnull;
	bool		table;

	m->nrules = 0;
	m->ncomposite = 0;
	/* (an install of 0.1 not yet updated has no table: its rules were these) */
	if (SPI_execute("SELECT pg_catalog.to_regclass('concord.identity_blocking_rule') IS NOT NULL", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up concord.identity_blocking_rule");
	table = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	if (SPI_execute(table ?
					"SELECT r.name, r.keys, coalesce(r.source, '') FROM concord.identity_blocking_rule r"
					" ORDER BY pg_catalog.cardinality(r.keys), r.name" :
					"SELECT r.name, r.keys, '' FROM (VALUES ('id_number', '{id_number}'::pg_catalog.text[]), ('phone', '{phone}'),"
					" ('email', '{email}'), ('name', '{name}'), ('name_company', '{name,company}')"
					" UNION ALL SELECT a.name, ARRAY[a.name] FROM concord.identity_attribute a WHERE a.block) r(name, keys)"
					" ORDER BY pg_catalog.cardinality(r.keys), r.name", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_blocking_rule");
	if (SPI_processed > MAX_RULES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("there are %d blocking rules, at most %d are supported", (int) SPI_processed, MAX_RULES)));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		IdentityBlockRule *r = &m->rules[m->nrules];
		ArrayType  *keys = DatumGetArrayTypeP(SPI_getbinval(t, d, 2, &isnull));
		Datum	   *kv;
		int			nk;

		strlcpy(r->name, SPI_getvalue(t, d, 1), NAMEDATALEN);
		strlcpy(r->source, SPI_getvalue(t, d, 3), NAMEDATALEN);
		deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &kv, NULL, &nk);
		if (nk < 1 || nk > MAX_RULE_KEYS)
			elog(ERROR, "blocking rule \"%s\" has %d keys", r->name, nk);
		r->nkeys = nk;
		for (int k = 0; k < nk; k++)
			r->keys[k] = key_slot(m, r->name, TextDatumGetCString(kv[k]));
		/* (a conjunction's value joins its keys' in slot order) */
		qsort(r->keys, nk, sizeof(int), int_cmp);
		if (nk == 1)
			r->att = r->keys[0];
		else if (nk == 2 && r->keys[0] == A_NAME_KEY && r->keys[1] == A_COMPANY)
			r->att = NAME_COMPANY(m);
		else
		{
			r->att = -1;
			/* the same keys as an earlier rule's (for another source): its slot */
			for (int e = 0; e < m->nrules && r->att < 0; e++)
				if (m->rules[e].nkeys == nk && m->rules[e].att > NAME_COMPANY(m) &&
					memcmp(m->rules[e].keys, r->keys, sizeof(int) * nk) == 0)
					r->att = m->rules[e].att;
			if (r->att < 0)
				r->att = NAME_COMPANY(m) + 1 + m->ncomposite++;
		}
		elog(DEBUG1, "concord: blocking rule %s: %d keys, slot %d%s%s", r->name, nk, r->att,
			 r->source[0] ? ", source " : "", r->source);
		m->nrules++;
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Does rule bring a and b together, given they share its value?  A rule
 * of one source does when either record is of that source.
 */
bool
identity_rule_applies(const IdentityBlockRule *rule, const IdentityRec *a, const IdentityRec *b)
{
	return rule->source[0] == '\0' || strcmp(a->source, rule->source) == 0 ||
		strcmp(b->source, rule->source) == 0;
}

/* Does a rule block on slot att? */
bool
identity_rule_att(const IdentityModel *m, int att)
{
	for (int k = 0; k < m->nrules; k++)
		if (m->rules[k].att == att)
			return true;
	return false;
}

/*
 * For a conjunction's slot: the query identity_global_spread runs to
 * count, over all of concord.identity_record, the rows holding each
 * value ($1, the joined values); as its other queries, (value, spread,
 * rows), the spread 1.
 */
char *
identity_rule_count_query(const IdentityModel *m, int att)
{
	const IdentityBlockRule *r = NULL;
	StringInfoData q;

	for (int k = 0; k < m->nrules && r == NULL; k++)
		if (m->rules[k].att == att)
			r = &m->rules[k];
	if (r == NULL)
		elog(ERROR, "no blocking rule blocks on slot %d", att);
	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT v.v, 1, (SELECT pg_catalog.count(*) FROM concord.identity_record r WHERE true");
	for (int k = 0; k < r->nkeys; k++)
	{
		int			s = r->keys[k];

		if (s < A_NATTS)
			appendStringInfo(&q, " AND r.%s OPERATOR(pg_catalog.=) pg_catalog.split_part(v.v, E'\\x1f', %d)",
							 s == A_NAME_KEY ? "name_key" : builtin_keys[s], k + 1);
		else
			appendStringInfo(&q, " AND r.extra OPERATOR(pg_catalog.@>) pg_catalog.jsonb_build_object(%s, pg_catalog.split_part(v.v, E'\\x1f', %d))",
							 quote_literal_cstr(m->declared[s - A_NATTS].name), k + 1);
	}
	appendStringInfoString(&q, ") FROM pg_catalog.unnest($1) AS v(v)");
	return q.data;
}
