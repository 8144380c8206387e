/*-------------------------------------------------------------------------
 *
 * block.c
 *	  Records and blocks: the normalized records read once (all of
 *	  concord.identity_record, or an incremental run's scope), the blocks
 *	  of records sharing a value, and how many people share each value --
 *	  counted, or in a scoped run counted over all rows or kept from the
 *	  last full run (concord.identity_value_stat).
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

/* ", r.extra->>'a', r.extra->>'b'": the declared attributes' values */
void
identity_append_declared(StringInfo q, const Model *m)
{
	for (int j = 0; j < m->ndeclared; j++)
		appendStringInfo(q, ", r.extra->>%s", quote_literal_cstr(m->declared[j].name));
}

/*
 * A text column of an SPI row as a C string, NULL for NULL (SPI_getvalue
 * would look up the output function at every call).
 */
char *
identity_text_column(HeapTuple t, TupleDesc d, int col)
{
	bool		isnull;
	Datum		v = SPI_getbinval(t, d, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(v);
}

/* A row read, by its source and key (sorted in C: see below). */
typedef struct RowKey
{
	char	   *source;
	char	   *key;
	uint64		row;
} RowKey;

static int
rowkey_cmp(const void *x, const void *y)
{
	const RowKey *a = x;
	const RowKey *b = y;
	int			c = strcmp(a->source, b->source);

	return c != 0 ? c : strcmp(a->key, b->key);
}

/*
 * Read the records of concord.identity_record in key order (source, key,
 * byte-wise); scoped, the rows resolve_incremental put in
 * pg_temp.identity_scope and their neighbours (concord.identity_neighbours)
 * instead.  The rows are sorted here, not by the query: a sort of a
 * million wide rows spilled to disk and took seconds, one of their keys
 * takes a fraction of that.
 */
Rec *
identity_load_records(int *n, bool scoped, int max_block, const Model *m)
{
	Rec		   *recs;
	char	  **atts;
	int			natt = A_NATTS + m->ndeclared + 1;
	StringInfoData q;
	RowKey	   *order;
	uint64		nrows;
	SPITupleTable *tt;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT r.source, r.key, r.name_key, r.phone, r.email, r.company, r.address, r.id_number, r.syllables");
	identity_append_declared(&q, m);
	if (scoped)
	{
		/*
		 * the rows resolve_incremental put in the scope, and their
		 * neighbours, read here and nowhere else
		 */
		appendStringInfoString(&q, ", r.core, r.changed, r.old_customer_id, r.old_how, r.old_score"
							   " FROM pg_temp.identity_scope r WHERE r.present"
							   " UNION ALL SELECT r.source, r.key, r.name_key, r.phone, r.email, r.company, r.address,"
							   " r.id_number, r.syllables");
		identity_append_declared(&q, m);
		appendStringInfo(&q, ", false, false, NULL, NULL, NULL FROM concord.identity_neighbours(%d) r", max_block);
	}
	else
		appendStringInfoString(&q, " FROM concord.identity_record r");
	if (SPI_execute(q.data, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_record");
	tt = SPI_tuptable;
	nrows = SPI_processed;
	order = palloc_extended(sizeof(RowKey) * Max(nrows, 1), MCXT_ALLOC_HUGE);
	for (uint64 row = 0; row < nrows; row++)
	{
		order[row].source = identity_text_column(tt->vals[row], tt->tupdesc, 1);
		order[row].key = identity_text_column(tt->vals[row], tt->tupdesc, 2);
		order[row].row = row;
	}
	qsort(order, nrows, sizeof(RowKey), rowkey_cmp);

	recs = palloc0(sizeof(Rec) * Max(nrows, 1));
	atts = palloc_extended(sizeof(char *) * natt * Max(nrows, 1), MCXT_ALLOC_HUGE);
	*n = 0;
	for (uint64 k = 0; k < nrows; k++)
	{
		HeapTuple	t = tt->vals[order[k].row];
		TupleDesc	d = tt->tupdesc;
		int			i = *n;

		/* a neighbour sharing two values with changed rows comes twice */
		if (k > 0 && rowkey_cmp(&order[k], &order[k - 1]) == 0)
			continue;
		(*n)++;
		recs[i].source = order[k].source;
		recs[i].key = order[k].key;
		recs[i].att = &atts[(Size) i * natt];
		for (int a = 0; a < A_NATTS; a++)
			recs[i].att[a] = identity_text_column(t, d, 3 + a);
		recs[i].syllables = identity_text_column(t, d, 3 + A_NATTS);
		recs[i].latin = identity_latin_name(recs[i].syllables);
		for (int j = 0; j < m->ndeclared; j++)
			recs[i].att[A_NATTS + j] = identity_text_column(t, d, 4 + A_NATTS + j);
		recs[i].att[NAME_COMPANY(m)] = recs[i].att[A_NAME_KEY] && recs[i].att[A_COMPANY] ?
			psprintf("%s\x1f%s", recs[i].att[A_NAME_KEY], recs[i].att[A_COMPANY]) : NULL;
		recs[i].core = true;
		/* a core row's link before the run (a neighbour's: see neighbour_links) */
		recs[i].old_customer = -1;
		recs[i].old_score = -INFINITY;
		if (scoped)
		{
			int			c = 4 + A_NATTS + m->ndeclared;
			bool		isnull;
			Datum		v;

			recs[i].core = DatumGetBool(SPI_getbinval(t, d, c, &isnull));
			recs[i].changed = DatumGetBool(SPI_getbinval(t, d, c + 1, &isnull));
			v = SPI_getbinval(t, d, c + 2, &isnull);
			if (!isnull)
				recs[i].old_customer = DatumGetInt64(v);
			recs[i].old_how = identity_text_column(t, d, c + 3);
			v = SPI_getbinval(t, d, c + 4, &isnull);
			if (!isnull)
				recs[i].old_score = DatumGetFloat8(v);
		}
	}
	pfree(order);
	SPI_freetuptable(tt);
	return recs;
}

/* Hash and compare blocks by the string their key points to. */
static uint32
strptr_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
strptr_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static int
cstr_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * The spread of a block's value: how many distinct values of attribute
 * other its records carry (sorted, not compared pairwise: the block of a
 * large employer holds tens of thousands of records).
 */
static void
set_spread(Rec *recs, IdentityBlock *b, int att, int other)
{
	const char **v = palloc(sizeof(char *) * b->n);
	int			nv = 0,
				spread = 0;

	for (int j = 0; j < b->n; j++)
		if (recs[b->members[j]].att[other] != NULL)
			v[nv++] = recs[b->members[j]].att[other];
	qsort(v, nv, sizeof(char *), cstr_ptr_cmp);
	for (int j = 0; j < nv; j++)
		if (j == 0 || strcmp(v[j], v[j - 1]) != 0)
			spread++;
	for (int j = 0; j < b->n; j++)
		recs[b->members[j]].spread[att] = Max(spread, 1);
	pfree(v);
}

/* The blocks of attribute att; sets every record's frequency of its value. */
HTAB *
identity_build_blocks(Rec *recs, int n, int att, MemoryContext cxt)
{
	HASHCTL		ctl;
	HTAB	   *h;
	HASH_SEQ_STATUS seq;
	IdentityBlock	   *b;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(IdentityBlock);
	ctl.hash = strptr_hash;
	ctl.match = strptr_match;
	ctl.hcxt = cxt;
	h = hash_create("concord identity blocks", Max(n / 4, 64), &ctl,
					HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	for (int i = 0; i < n; i++)
	{
		bool		found;

		if (recs[i].att[att] == NULL)
			continue;
		b = hash_search(h, &recs[i].att[att], HASH_ENTER, &found);
		if (!found)
		{
			b->n = 0;
			b->global_n = -1;
			b->cap = 4;
			b->members = MemoryContextAlloc(cxt, sizeof(int) * b->cap);
		}
		if (b->n == b->cap)
		{
			b->cap *= 2;
			b->members = repalloc(b->members, sizeof(int) * b->cap);
		}
		b->members[b->n++] = i;
	}
	/*
	 * Every record learns how many people share its value: distinct names
	 * behind a phone, an email or a company, distinct phones behind a name.
	 */
	if (att < A_NATTS)
	{
		hash_seq_init(&seq, h);
		while ((b = hash_seq_search(&seq)) != NULL)
			set_spread(recs, b, att, att == A_NAME_KEY ? A_PHONE : A_NAME_KEY);
	}
	return h;
}

/*
 * Blocks of name and employer: every record learns how many mobile numbers
 * its block holds (the people of that name there; a switchboard or a home
 * landline is not one person's).
 */
void
identity_set_employer_mobiles(Rec *recs, HTAB *h)
{
	HASH_SEQ_STATUS seq;
	IdentityBlock	   *b;

	hash_seq_init(&seq, h);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		const char **v = palloc(sizeof(char *) * b->n);
		int			nv = 0,
					mobiles = 0;

		for (int j = 0; j < b->n; j++)
		{
			const char *p = recs[b->members[j]].att[A_PHONE];

			if (p != NULL && identity_is_mobile(p))
				v[nv++] = p;
		}
		qsort(v, nv, sizeof(char *), cstr_ptr_cmp);
		for (int j = 0; j < nv; j++)
			if (j == 0 || strcmp(v[j], v[j - 1]) != 0)
				mobiles++;
		for (int j = 0; j < b->n; j++)
			recs[b->members[j]].employer_mobiles = mobiles;
		pfree(v);
	}
}

/* The column of identity_record behind each built-in attribute. */
static const char *const att_columns[A_NATTS] = {
	"name_key", "phone", "email", "company", "address", "id_number"
};

/* A value held by more rows than this has its spread kept (see below). */
#define VALUE_STAT_MIN 100

/* Has a built-in attribute a spread (see set_spread)?  Not the address. */
static bool
has_spread(int att)
{
	return att < A_NATTS && att != A_ADDRESS;
}

/*
 * A full run keeps the spreads of the values many rows hold in
 * concord.identity_value_stat, for the incremental runs that follow.
 */
void
identity_save_value_stats(Rec *recs, HTAB *h, int att)
{
	HASH_SEQ_STATUS seq;
	IdentityBlock	   *b;
	Datum	   *vals,
			   *rows,
			   *spreads;
	int			nv = 0;
	Oid			types[4] = {TEXTOID, TEXTARRAYOID, INT4ARRAYOID, INT4ARRAYOID};
	Datum		args[4];
	long		nb = hash_get_num_entries(h);

	if (!has_spread(att))
		return;
	vals = palloc(sizeof(Datum) * Max(nb, 1));
	rows = palloc(sizeof(Datum) * Max(nb, 1));
	spreads = palloc(sizeof(Datum) * Max(nb, 1));
	hash_seq_init(&seq, h);
	while ((b = hash_seq_search(&seq)) != NULL)
		if (b->n > VALUE_STAT_MIN ||
			((att == A_PHONE || att == A_EMAIL) && identity_widely_shared(recs[b->members[0]].spread[att])))
		{
			vals[nv] = CStringGetTextDatum(b->value);
			rows[nv] = Int32GetDatum(b->n);
			spreads[nv] = Int32GetDatum(recs[b->members[0]].spread[att]);
			nv++;
		}
	if (nv > 0)
	{
		args[0] = CStringGetTextDatum(att_columns[att]);
		args[1] = PointerGetDatum(construct_array(vals, nv, TEXTOID, -1, false, TYPALIGN_INT));
		args[2] = PointerGetDatum(construct_array(rows, nv, INT4OID, 4, true, TYPALIGN_INT));
		args[3] = PointerGetDatum(construct_array(spreads, nv, INT4OID, 4, true, TYPALIGN_INT));
		if (SPI_execute_with_args("INSERT INTO concord.identity_value_stat (attribute, value, records, spread)"
								  " SELECT $1, v, r, s FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(v, r, s)",
								  4, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store the spreads of widely held values");
	}
	pfree(vals);
	pfree(rows);
	pfree(spreads);
}

/*
 * Run query for the nvals values of blocks of h ($1) and attribute param
 * ($2); each row it returns (value, spread, rows) sets the block's row
 * count and, for a built-in attribute, its records' spread.
 */
static void
set_counts(Rec *recs, HTAB *h, int att, bool employer, const char *query, Datum *vals, int nvals,
		   const char *param)
{
	Oid			types[2] = {TEXTARRAYOID, TEXTOID};
	Datum		args[2];

	if (nvals == 0)
		return;
	args[0] = PointerGetDatum(construct_array(vals, nvals, TEXTOID, -1, false, TYPALIGN_INT));
	args[1] = CStringGetTextDatum(param);
	if (SPI_execute_with_args(query, 2, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not count the people behind the values in scope");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		int			spread = atoi(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		IdentityBlock	   *b = hash_search(h, &v, HASH_FIND, NULL);

		if (b == NULL)
			continue;
		b->global_n = atoi(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3));
		for (int j = 0; j < b->n; j++)
			if (att < A_NATTS)
				recs[b->members[j]].spread[att] = Max(spread, 1);
			else if (employer)
				recs[b->members[j]].employer_mobiles = spread;
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * In a scoped run, a block holds only the records in scope: take how many
 * people share each value, and how many rows hold it, from all of
 * concord.identity_record instead, so that weights and the blocks left
 * out (over max_block) are those of a full run.
 *
 * Only blocks that make pairs (they hold a core row) need both; their
 * rows are counted, but the spread of a value many rows held at the last
 * full run is the one that run kept (counting distinct names behind an
 * employer of 20,000 rows again costs seconds, and a few more rows move
 * its weight by hundredths of a bit).  Employers make no blocks: their
 * spread alone.  And a neighbour's phone or email need only say whether
 * it is widely shared (it cannot count against a pair then): as the last
 * full run found it.
 */
void
identity_global_spread(const Model *m, Rec *recs, HTAB *h, int att)
{
	HASH_SEQ_STATUS seq;
	IdentityBlock	   *b;
	Datum	   *vals,
			   *kept;
	int			nv = 0,
				nk = 0;
	const char *param = att < A_NATTS ? att_columns[att] :
		att == NAME_COMPANY(m) ? "" : m->declared[att - A_NATTS].name;
	const char *query;

	if (att < A_NATTS && !has_spread(att))
		return;
	/* $1: the values; $2: the attribute (identity_record's column, or declared) */
	if (att < A_NATTS)
		query = psprintf("SELECT v.v,"
						 " coalesce(s.spread, (SELECT count(DISTINCT r.%s) FROM concord.identity_record r WHERE r.%s = v.v)),"
						 " %s"
						 " FROM pg_catalog.unnest($1) AS v(v)"
						 " LEFT JOIN concord.identity_value_stat s ON s.attribute = $2 AND s.value = v.v",
						 att == A_NAME_KEY ? "phone" : "name_key", att_columns[att],
						 att == A_COMPANY ? "-1" :
						 psprintf("(SELECT count(*) FROM concord.identity_record r WHERE r.%s = v.v)", att_columns[att]));
	else if (att == NAME_COMPANY(m))
		/* (its "spread": the mobiles behind it, see identity_is_mobile) */
		query = "SELECT v.v, c.mobiles, c.n FROM pg_catalog.unnest($1) AS v(v)"
			" CROSS JOIN LATERAL (SELECT count(DISTINCT r.phone) FILTER (WHERE r.phone OPERATOR(pg_catalog.~) " IDENTITY_MOBILE_REGEX ") AS mobiles,"
			" count(*) AS n FROM concord.identity_record r"
			" WHERE r.name_key = pg_catalog.split_part(v.v, E'\\x1f', 1) AND r.company = pg_catalog.split_part(v.v, E'\\x1f', 2)) c";
	else
		query = "SELECT v.v, 1, count(*) FROM pg_catalog.unnest($1) AS v(v)"
			" JOIN concord.identity_record r ON r.extra @> pg_catalog.jsonb_build_object($2, v.v) GROUP BY v.v";

	vals = palloc(sizeof(Datum) * Max(hash_get_num_entries(h), 1));
	kept = palloc(sizeof(Datum) * Max(hash_get_num_entries(h), 1));
	hash_seq_init(&seq, h);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		bool		core = false;

		for (int j = 0; j < b->n && !core; j++)
			core = recs[b->members[j]].core;
		if (core)
			vals[nv++] = CStringGetTextDatum(b->value);
		else if (att == A_PHONE || att == A_EMAIL)
			kept[nk++] = CStringGetTextDatum(b->value);
	}
	set_counts(recs, h, att, att == NAME_COMPANY(m), query, vals, nv, param);
	set_counts(recs, h, att, false,
			   "SELECT s.value, s.spread, -1 FROM concord.identity_value_stat s"
			   " WHERE s.attribute = $2 AND s.value = ANY ($1)",
			   kept, nk, param);
}

/*
 * Are a block's pairs compared?  Not for a value held by one row, nor by
 * more than max_block rows (in all rows, when the run is scoped).
 */
bool
identity_block_paired(const IdentityBlock *b, int max_block)
{
	return b->n >= 2 && (b->global_n >= 0 ? b->global_n : b->n) <= max_block;
}

/*
 * Scoped: the customers (and how they were linked) of the neighbours
 * flagged in want, from concord.customer_link.
 */
void
identity_neighbour_links(Rec *recs, int n, const bool *want)
{
	Datum	   *idx = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *src = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *key = palloc(sizeof(Datum) * Max(n, 1));
	int			k = 0;
	Oid			types[3] = {INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		args[3];

	for (int i = 0; i < n; i++)
		if (want[i] && !recs[i].core)
		{
			idx[k] = Int32GetDatum(i);
			src[k] = CStringGetTextDatum(recs[i].source);
			key[k] = CStringGetTextDatum(recs[i].key);
			k++;
		}
	if (k == 0)
		return;
	args[0] = PointerGetDatum(construct_array(idx, k, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(src, k, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(key, k, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_with_args("SELECT w.i, l.customer_id, l.how, l.score"
							  " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) AS w(i, s, k)"
							  " JOIN concord.customer_link l ON l.source = w.s AND l.key = w.k",
							  3, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.customer_link");
	for (uint64 j = 0; j < SPI_processed; j++)
	{
		HeapTuple	t = SPI_tuptable->vals[j];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		Rec		   *r = &recs[DatumGetInt32(SPI_getbinval(t, d, 1, &isnull))];
		Datum		v = SPI_getbinval(t, d, 4, &isnull);

		r->old_customer = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
		r->old_how = SPI_getvalue(t, d, 3);
		r->old_score = isnull ? -INFINITY : DatumGetFloat8(v);
	}
	SPI_freetuptable(SPI_tuptable);
}
