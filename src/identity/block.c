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
#ifdef __GLIBC__
#include <malloc.h>
#endif

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


#include "concord.h"
#include "identity/identity.h"
#include "identity/match.h"

/* ", r.extra ->> 'a', r.extra ->> 'b'": the declared attributes' values */
void
identity_append_declared(StringInfo q, const IdentityModel *m)
{
	for (int j = 0; j < m->ndeclared; j++)
		appendStringInfo(q, ", r.extra OPERATOR(pg_catalog.->>) %s", quote_literal_cstr(m->declared[j].name));
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

/*
 * The records' strings, packed: a bump allocator over 1 MB chunks of the
 * caller's context, with no per-string chunk header or rounding (a
 * million records hold some nine million short strings).
 */
typedef struct StrArena
{
	MemoryContext cxt;
	char	   *cur;
	Size		left;
} StrArena;

static char *
arena_copy(StrArena *a, const char *s, Size len)
{
	char	   *r;

	if (len + 1 > a->left)
	{
		Size		size = Max(len + 1, (Size) 1024 * 1024);

		a->cur = MemoryContextAlloc(a->cxt, size);
		a->left = size;
	}
	r = a->cur;
	memcpy(r, s, len);
	r[len] = '\0';
	a->cur += len + 1;
	a->left -= len + 1;
	return r;
}

/* A text column of an SPI row, copied into the arena; NULL for NULL. */
static char *
arena_column(StrArena *a, HeapTuple t, TupleDesc d, int col)
{
	bool		isnull;
	Datum		v = SPI_getbinval(t, d, col, &isnull);
	text	   *x;
	char	   *r;

	if (isnull)
		return NULL;
	x = DatumGetTextPP(v);
	r = arena_copy(a, VARDATA_ANY(x), VARSIZE_ANY_EXHDR(x));
	if ((Pointer) x != DatumGetPointer(v))
		pfree(x);
	return r;
}

/*
 * The values of the blocking rules that are conjunctions of keys (see
 * identity_load_blocking_rules): the keys' values joined by a unit
 * separator, NULL if any is missing.
 */
static void
rule_values(const IdentityModel *m, IdentityRec *r, StrArena *arena)
{
	StringInfoData v;

	if (m->ncomposite == 0)
		return;
	initStringInfo(&v);
	for (int k = 0; k < m->nrules; k++)
	{
		const IdentityBlockRule *rule = &m->rules[k];
		bool		missing = false;

		if (rule->att <= NAME_COMPANY(m))
			continue;
		resetStringInfo(&v);
		for (int j = 0; j < rule->nkeys && !missing; j++)
		{
			const char *x = r->att[rule->keys[j]];

			if (x == NULL)
				missing = true;
			else
			{
				if (j > 0)
					appendStringInfoChar(&v, '\x1f');
				appendStringInfoString(&v, x);
			}
		}
		r->att[rule->att] = missing ? NULL : arena_copy(arena, v.data, v.len);
	}
	pfree(v.data);
}

/*
 * The values read as missing when rows are matched
 * (concord.identity_placeholder_value: detected from their frequency by the
 * last full resolve, or set by hand), as "kind\x1fvalue" keys; NULL if
 * there are none (or no table: an install of 0.1 not yet updated).
 */
static HTAB *
load_placeholders(void)
{
	HASHCTL		ctl;
	HTAB	   *h;
	bool		isnull;

	if (SPI_execute("SELECT pg_catalog.to_regclass('concord.identity_placeholder_value') IS NOT NULL", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up concord.identity_placeholder_value");
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		return NULL;
	if (SPI_execute("SELECT p.kind OPERATOR(pg_catalog.||) E'\\x1f' OPERATOR(pg_catalog.||) p.value"
					" FROM concord.identity_placeholder_value p WHERE p.placeholder", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_placeholder_value");
	if (SPI_processed == 0)
		return NULL;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(char *);
	ctl.hash = concord_strptr_hash;
	ctl.match = concord_strptr_match;
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("concord identity placeholders", Max(SPI_processed, 16), &ctl,
					HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *k = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		hash_search(h, &k, HASH_ENTER, NULL);
	}
	SPI_freetuptable(SPI_tuptable);
	return h;
}

/* Is the value of kind (name, phone, email, company) a placeholder of h? */
static bool
placeholder(HTAB *h, const char *kind, const char *value)
{
	char		buf[512];
	char	   *k = buf;

	if (h == NULL || value == NULL || strlen(kind) + strlen(value) + 2 > sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s\x1f%s", kind, value);
	return hash_search(h, &k, HASH_FIND, NULL) != NULL;
}

/* Records in key order: source, then key, byte-wise. */
static int
rec_key_cmp(const void *x, const void *y)
{
	const IdentityRec  *a = x;
	const IdentityRec  *b = y;
	int			c = a->source == b->source ? 0 : strcmp(a->source, b->source);

	return c != 0 ? c : strcmp(a->key, b->key);
}

/*
 * The neighbours of an incremental run: the rows sharing a value with a
 * changed row (pg_temp.identity_val_n: each value a changed row holds,
 * with the rows holding it counted up to max_block + 1), other than those
 * in pg_temp.identity_scope; a row sharing two values comes twice
 * (identity_load_records drops the second, next to it in key order).  A
 * value shared by more than max_block rows makes no pairs: its rows stay
 * out, or one 王伟 would pull in every 王伟; each value's rows are
 * fetched through its index (a few thousand lookups, where a join would
 * read the million rows).  The values of the other blocking rules (a
 * conjunction of keys, a declared attribute that does not block by
 * itself) come from concord.identity_neighbours, which builds their
 * queries from concord.identity_blocking_rule.
 *
 * (The built-in values are read by this query itself, not by a function
 * returning a set: that stored tens of thousands of rows before the first
 * was read, megabytes of fresh memory a new session paid for page by
 * page.)
 */
static void
append_neighbours(StringInfo q, int max_block)
{
	static const char *const one_key[][2] = {
		{"phone", "r.phone OPERATOR(pg_catalog.=) v.value"},
		{"email", "r.email OPERATOR(pg_catalog.=) v.value"},
		{"name_key", "r.name_key OPERATOR(pg_catalog.=) v.value"},
		/* a name and an employer together (王伟 at 华信软件) */
		{"name_company", "r.name_key OPERATOR(pg_catalog.=) v.value AND r.company OPERATOR(pg_catalog.=) v.company"},
	};

	/* (raw_company: the employer as written, read with the row, see RAW_COMPANY) */
	appendStringInfoString(q, "SELECT r.source, r.key, r.name_key, r.syllables, r.phone, r.email, r.company, r.address,"
						   " r.id_number, r.extra, CASE WHEN r.company IS NOT NULL"
						   " THEN r.original OPERATOR(pg_catalog.->>) 'company' END AS raw_company FROM (");
	for (int i = 0; i < lengthof(one_key); i++)
		appendStringInfo(q, "SELECT r.* FROM pg_temp.identity_val_n v"
						 " CROSS JOIN LATERAL (SELECT * FROM concord.identity_record r WHERE %s OFFSET 0) r"
						 " WHERE v.attribute OPERATOR(pg_catalog.=) '%s' AND v.n OPERATOR(pg_catalog.<=) %d"
						 " UNION ALL ",
						 one_key[i][1], one_key[i][0], max_block);
	/* (every row of an ID number, however many) */
	appendStringInfoString(q, "SELECT r.* FROM pg_temp.identity_val_n v"
						   " CROSS JOIN LATERAL (SELECT * FROM concord.identity_record r"
						   " WHERE r.id_number OPERATOR(pg_catalog.=) v.value OFFSET 0) r"
						   " WHERE v.attribute OPERATOR(pg_catalog.=) 'id_number'"
	/* declared blocking attributes (a passport number): by the index on extra */
						   " UNION ALL SELECT r.* FROM pg_temp.identity_vals v"
						   " JOIN concord.identity_attribute a ON a.block AND v.extra OPERATOR(pg_catalog.?) a.name"
						   " JOIN concord.identity_record r"
						   " ON r.extra OPERATOR(pg_catalog.@>) pg_catalog.jsonb_build_object(a.name, v.extra OPERATOR(pg_catalog.->>) a.name)) r"
						   " WHERE NOT EXISTS (SELECT 1 FROM pg_temp.identity_scope x"
						   " WHERE x.source OPERATOR(pg_catalog.=) r.source AND x.key OPERATOR(pg_catalog.=) r.key)");
	appendStringInfo(q, " UNION ALL SELECT r.source, r.key, r.name_key, r.syllables, r.phone, r.email, r.company, r.address,"
					 " r.id_number, r.extra, r.company_written FROM concord.identity_neighbours(%d) r", max_block);
}

/*
 * The employer as the source wrote it, for the city its name gives (see
 * identity_company_place): from the stored record, by its key
 */
#define RAW_COMPANY \
	" CASE WHEN r.company IS NOT NULL THEN r.original OPERATOR(pg_catalog.->>) 'company' END"
/* the same, for a row of the scope or of concord.identity_neighbours, which carry it */
#define RAW_COMPANY_SCOPED " r.company_written"

/*
 * Read the records of concord.identity_record in key order (source, key,
 * byte-wise); scoped, the rows resolve_incremental put in
 * pg_temp.identity_scope and their neighbours (concord.identity_neighbours)
 * instead.  The rows come through a cursor, a batch at a time, their
 * values copied into an arena (the rows themselves are never all held at
 * once: at a million rows they and their copies took half a gigabyte);
 * then the records are sorted here, not by the query (a sort of a million
 * wide rows spilled to disk and took seconds).
 *
 * The records' values (att, syllables) and the array of their pointers
 * live in a context of their own, *values (a child of the current one):
 * a caller done comparing deletes it and keeps the records' source, key
 * and link before the run, in the current context.  The arrays are cut to
 * the records read (they grow by doubling: half of them could be unused).
 */
IdentityRec *
identity_load_records(int *n, bool scoped, int max_block, const IdentityModel *m, MemoryContext *values)
{
	IdentityRec		   *recs;
	char	  **atts;
	int			natt = A_NATTS + m->ndeclared + 1 + m->ncomposite;
	int			cap = 1024;
	int			count = 0;
	StringInfoData q;
	SPIPlanPtr	plan;
	Portal		portal;
	MemoryContext vcxt = AllocSetContextCreate(CurrentMemoryContext, "concord identity values", ALLOCSET_DEFAULT_SIZES);
	StrArena	arena = {CurrentMemoryContext, NULL, 0};
	StrArena	varena = {vcxt, NULL, 0};
	char	   *last_source = NULL;
	HTAB	   *placeholders = load_placeholders();

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT r.source, r.key, r.name_key, r.phone, r.email, r.company, r.address, r.id_number, r.syllables,");
	appendStringInfoString(&q, scoped ? RAW_COMPANY_SCOPED : RAW_COMPANY);
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
							   " r.id_number, r.syllables, r.raw_company");
		identity_append_declared(&q, m);
		appendStringInfoString(&q, ", false, false, NULL, NULL, NULL FROM (");
		append_neighbours(&q, max_block);
		appendStringInfoString(&q, ") r");
	}
	else
		appendStringInfoString(&q, " FROM concord.identity_record r");
	plan = SPI_prepare(q.data, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not read concord.identity_record: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, false);

	/*
	 * (records are zeroed as they are filled, not as the array grows: the
	 * part never used is never touched)
	 */
	recs = palloc_extended(sizeof(IdentityRec) * cap, MCXT_ALLOC_HUGE);
	atts = MemoryContextAllocExtended(vcxt, sizeof(char *) * natt * cap, MCXT_ALLOC_HUGE);
	for (;;)
	{
		SPITupleTable *tt;

		SPI_cursor_fetch(portal, true, 10000);
		tt = SPI_tuptable;
		if (SPI_processed == 0)
			break;
		if ((uint64) count + SPI_processed > (uint64) cap)
		{
			int			grown = cap;

			while ((uint64) count + SPI_processed > (uint64) grown)
			{
				if (grown > INT_MAX / 2)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("too many identity records to resolve at once")));
				grown *= 2;
			}
			recs = repalloc_huge(recs, sizeof(IdentityRec) * grown);
			atts = repalloc_huge(atts, sizeof(char *) * natt * grown);
			/* the records point into atts: point them again */
			for (int i = 0; i < count; i++)
				recs[i].att = &atts[(Size) i * natt];
			cap = grown;
		}
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			HeapTuple	t = tt->vals[row];
			TupleDesc	d = tt->tupdesc;
			IdentityRec		   *r = &recs[count];
			char	   *source;

			memset(r, 0, sizeof(IdentityRec));
			source = identity_text_column(t, d, 1);

			/* a few sources: their names are kept once */
			if (last_source == NULL || strcmp(source, last_source) != 0)
				last_source = arena_copy(&arena, source, strlen(source));
			pfree(source);
			r->source = last_source;
			r->key = arena_column(&arena, t, d, 2);
			r->att = &atts[(Size) count * natt];
			for (int a = 0; a < A_NATTS; a++)
				r->att[a] = arena_column(&varena, t, d, 3 + a);
			r->syllables = arena_column(&varena, t, d, 3 + A_NATTS);
			identity_read_name_form(r);
			r->latin = r->name_form == NAME_FORM_OTHER && identity_latin_name(r->syllables);
			{
				char	   *raw = identity_text_column(t, d, 4 + A_NATTS);

				r->company_place = raw ? identity_company_place(raw) : 0;
				if (raw)
					pfree(raw);
			}
			for (int j = 0; j < m->ndeclared; j++)
				r->att[A_NATTS + j] = arena_column(&varena, t, d, 5 + A_NATTS + j);
			/* a placeholder is evidence of nothing: missing */
			if (placeholders != NULL)
			{
				if (placeholder(placeholders, "name", r->att[A_NAME_KEY]))
				{
					r->att[A_NAME_KEY] = NULL;
					r->syllables = NULL;
					r->latin = false;
					r->name_form = NAME_FORM_OTHER;
				}
				if (placeholder(placeholders, "phone", r->att[A_PHONE]))
					r->att[A_PHONE] = NULL;
				if (placeholder(placeholders, "email", r->att[A_EMAIL]))
					r->att[A_EMAIL] = NULL;
				if (placeholder(placeholders, "company", r->att[A_COMPANY]))
					r->att[A_COMPANY] = NULL;
			}
			r->att[NAME_COMPANY(m)] = NULL;
			if (r->att[A_NAME_KEY] && r->att[A_COMPANY])
			{
				char	   *nc = psprintf("%s\x1f%s", r->att[A_NAME_KEY], r->att[A_COMPANY]);

				r->att[NAME_COMPANY(m)] = arena_copy(&varena, nc, strlen(nc));
				pfree(nc);
			}
			rule_values(m, r, &varena);
			r->core = true;
			/* a core row's link before the run (a neighbour's: see neighbour_links) */
			r->old = NULL;
			if (scoped)
			{
				int			c = 5 + A_NATTS + m->ndeclared;
				bool		isnull;
				Datum		v;
				IdentityOldLink *old = palloc(sizeof(IdentityOldLink));

				r->core = DatumGetBool(SPI_getbinval(t, d, c, &isnull));
				r->changed = DatumGetBool(SPI_getbinval(t, d, c + 1, &isnull));
				old->customer = -1;
				old->score = -INFINITY;
				v = SPI_getbinval(t, d, c + 2, &isnull);
				if (!isnull)
					old->customer = DatumGetInt64(v);
				old->how = arena_column(&arena, t, d, c + 3);
				v = SPI_getbinval(t, d, c + 4, &isnull);
				if (!isnull)
					old->score = DatumGetFloat8(v);
				if (old->customer >= 0 || old->how != NULL || old->score != -INFINITY)
					r->old = old;
				else
					pfree(old);
			}
			count++;
		}
		SPI_freetuptable(tt);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	if (placeholders != NULL)
		hash_destroy(placeholders);
	/* the arrays cut to the records read, the records pointed at their values again */
	recs = repalloc_huge(recs, sizeof(IdentityRec) * Max(count, 1));
	atts = repalloc_huge(atts, sizeof(char *) * natt * Max(count, 1));
	for (int i = 0; i < count; i++)
		recs[i].att = &atts[(Size) i * natt];

	/*
	 * In key order; a neighbour sharing two values with changed rows comes
	 * twice: the second goes
	 */
	qsort(recs, count, sizeof(IdentityRec), rec_key_cmp);
	*n = 0;
	for (int k = 0; k < count; k++)
	{
		if (k > 0 && rec_key_cmp(&recs[k], &recs[*n - 1]) == 0)
			continue;
		if (*n != k)
			recs[*n] = recs[k];
		(*n)++;
	}
	*values = vcxt;
	return recs;
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
set_spread(IdentityRec *recs, IdentityBlock *b, int att, int other)
{
	const char **v;
	int			nv = 0,
				spread = 0;

	/* (an address held by a few rows: a home's, its spread not counted) */
	if (att == A_ADDRESS && b->n <= IDENTITY_ADDRESS_SPREAD_MIN)
	{
		for (int j = 0; j < b->n; j++)
			recs[b->members[j]].spread[att] = 1;
		return;
	}
	v = palloc(sizeof(char *) * b->n);
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

/*
 * The blocks of attribute att; sets every record's frequency of its value.
 * *slab_out: the one array the blocks' members are slices of (see
 * identity_free_blocks).
 */
HTAB *
identity_build_blocks(IdentityRec *recs, int n, int att, MemoryContext cxt, int **slab_out)
{
	HASHCTL		ctl;
	HTAB	   *h;
	HASH_SEQ_STATUS seq;
	IdentityBlock	   *b;
	IdentityBlock **where;
	int		   *slab;
	Size		total = 0;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(IdentityBlock);
	ctl.hash = concord_strptr_hash;
	ctl.match = concord_strptr_match;
	ctl.hcxt = cxt;
	h = hash_create("concord identity blocks", Max(n / 4, 64), &ctl,
					HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	/*
	 * Count each value's records, then give every block its slice of one
	 * array (a block of its own per value cost a chunk and its header
	 * each: most values are one record's)
	 */
	where = palloc_extended(sizeof(IdentityBlock *) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
	{
		bool		found;

		where[i] = NULL;
		if (recs[i].att[att] == NULL)
			continue;
		b = hash_search(h, &recs[i].att[att], HASH_ENTER, &found);
		if (!found)
		{
			b->n = 0;
			b->global_n = -1;
		}
		b->n++;
		total++;
		where[i] = b;
	}
	slab = MemoryContextAllocHuge(cxt, sizeof(int) * Max(total, 1));
	*slab_out = slab;
	hash_seq_init(&seq, h);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		b->members = slab;
		b->cap = b->n;
		slab += b->n;
		b->n = 0;
	}
	for (int i = 0; i < n; i++)
		if (where[i] != NULL)
			where[i]->members[where[i]->n++] = i;
	pfree(where);

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
 * Give the memory freed back to the system, in a run of nrecs records.
 * glibc keeps what large frees leave inside its heap (a table of blocks of
 * a million values, the records' values: tens of megabytes in pieces), and
 * the backend's resident memory would stay as high as it was, the next
 * phase adding its own to it.  Called after such frees (it takes
 * milliseconds).  A small run (an incremental one reads some 30,000 rows)
 * keeps its memory: the pages given back would be faulted in again by its
 * next phase, at 20-30 us a page on a virtual machine.
 */
void
identity_release_freed_memory(int nrecs)
{
#ifdef __GLIBC__
	if (nrecs >= IDENTITY_TRIM_MIN_RECORDS)
		malloc_trim(0);
#endif
}

/* Free blocks made by identity_build_blocks: the table and its members' array. */
void
identity_free_blocks(HTAB *h, int *slab)
{
	pfree(slab);
	hash_destroy(h);
}

/*
 * The blocks of h whose pairs are compared (identity_block_paired), copied
 * into an array of *nb; h itself is destroyed (the members' array stays).
 * A table holds an entry for every value, one record's too (most values at
 * a million rows); the pairs need only these.
 */
static IdentityBlock *
paired_blocks(HTAB *h, int max_block, int *nb)
{
	HASH_SEQ_STATUS seq;
	IdentityBlock *b;
	IdentityBlock *out;
	long		count = 0;

	hash_seq_init(&seq, h);
	while ((b = hash_seq_search(&seq)) != NULL)
		if (identity_block_paired(b, max_block))
			count++;
	out = palloc_extended(sizeof(IdentityBlock) * Max(count, 1), MCXT_ALLOC_HUGE);
	*nb = 0;
	hash_seq_init(&seq, h);
	while ((b = hash_seq_search(&seq)) != NULL)
		if (identity_block_paired(b, max_block))
			out[(*nb)++] = *b;
	hash_destroy(h);
	return out;
}

/*
 * The blocks of every blocking rule (m->rules, see
 * identity_load_blocking_rules), in the order pairs are compared.  Every
 * block first (a pair's weights need the spreads of all slots): fn, if
 * given, sees each slot's whole table (an entry for every value) once --
 * rules of one slot for different sources share it -- then only the
 * blocks whose pairs are compared stay, and every record learns which
 * rules' blocks it is in (IdentityRec.paired, bit k for rule k).
 */
void
identity_build_kinds(const IdentityModel *m, IdentityRec *recs, int n, int max_block, IdentityBlocks *bs,
					 IdentityTableFn fn, void *arg, MemoryContext cxt)
{
	bs->nkinds = m->nrules;
	for (int k = 0; k < m->nrules; k++)
	{
		HTAB	   *h;
		int			e;

		bs->kinds[k] = m->rules[k].att;
		/*
		 * rules of one slot (of different sources) share its blocks: one
		 * table, counted once; which source a rule takes is looked at when
		 * its pairs are walked (identity_rule_applies)
		 */
		for (e = 0; e < k && bs->kinds[e] != bs->kinds[k]; e++)
			;
		if (e < k)
		{
			bs->blocks[k] = bs->blocks[e];
			bs->nblocks[k] = bs->nblocks[e];
			bs->slabs[k] = NULL;
		}
		else
		{
			h = identity_build_blocks(recs, n, bs->kinds[k], cxt, &bs->slabs[k]);
			if (fn)
				fn(arg, bs->kinds[k], h);
			bs->blocks[k] = paired_blocks(h, max_block, &bs->nblocks[k]);
			identity_release_freed_memory(n);
		}
		for (int i = 0; i < bs->nblocks[k]; i++)
			for (int j = 0; j < bs->blocks[k][i].n; j++)
				recs[bs->blocks[k][i].members[j]].paired |= 1u << k;
	}
}

/* Free what identity_build_kinds made. */
void
identity_free_kinds(IdentityBlocks *bs)
{
	for (int k = 0; k < bs->nkinds; k++)
	{
		/* (a slot's blocks are freed with their first rule's) */
		if (bs->slabs[k] != NULL)
		{
			pfree(bs->blocks[k]);
			pfree(bs->slabs[k]);
		}
		bs->nblocks[k] = 0;
	}
	bs->nkinds = 0;
}

/*
 * A block of name and employer: its records learn how many mobile numbers
 * it holds (the people of that name there; a switchboard or a home
 * landline is not one person's).
 */
static void
set_employer_mobiles(IdentityRec *recs, IdentityBlock *b)
{
	const char **v = palloc(sizeof(char *) * Max(b->n, 1));
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

/* Every block of name and employer: see set_employer_mobiles. */
void
identity_set_employer_mobiles(IdentityRec *recs, HTAB *h)
{
	HASH_SEQ_STATUS seq;
	IdentityBlock	   *b;

	hash_seq_init(&seq, h);
	while ((b = hash_seq_search(&seq)) != NULL)
		set_employer_mobiles(recs, b);
}

/* The column of identity_record behind each built-in attribute. */
static const char *const att_columns[A_NATTS] = {
	"name_key", "phone", "email", "company", "address", "id_number"
};

/* A value held by more rows than this has its spread kept (see below). */
#define VALUE_STAT_MIN 100

/* Has a built-in attribute a spread (see set_spread)?  All have. */
static bool
has_spread(int att)
{
	return att < A_NATTS;
}

/*
 * A full run keeps the spreads of the values many rows hold in
 * concord.identity_value_stat, for the incremental runs that follow.
 */
void
identity_save_value_stats(IdentityRec *recs, HTAB *h, int att)
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
		if (b->n > (att == A_ADDRESS ? IDENTITY_ADDRESS_SPREAD_MIN : VALUE_STAT_MIN) ||
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
set_counts(IdentityRec *recs, HTAB *h, int att, bool employer, const char *query, Datum *vals, int nvals,
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

/* A value whose rows a scoped run read all: its blocking kind and value. */
typedef struct CompleteValue
{
	char	   *key;			/* "kind\x1evalue" (hash key, must be first) */
	int			n;				/* the rows holding it */
} CompleteValue;

static char *
complete_key(int att, const char *value)
{
	return psprintf("%d\x1e%s", att, value);
}

/*
 * Scoped: the values changed rows hold that at most max_block rows hold,
 * from pg_temp.identity_val_n (resolve_incremental): identity_neighbours
 * read all their rows, so their blocks are whole as they are (see
 * identity_global_spread).
 */
HTAB *
identity_complete_values(const IdentityModel *m, int max_block, MemoryContext cxt)
{
	HASHCTL		ctl;
	HTAB	   *h;
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(max_block)};

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(CompleteValue);
	ctl.hash = concord_strptr_hash;
	ctl.match = concord_strptr_match;
	ctl.hcxt = cxt;
	h = hash_create("concord identity whole blocks", 1024, &ctl,
					HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	/* (identity_cluster(scoped) called by hand, outside resolve_incremental: none) */
	if (SPI_execute("SELECT pg_catalog.to_regclass('pg_temp.identity_val_n') IS NOT NULL", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for pg_temp.identity_val_n");
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") != 0)
		return h;
	if (SPI_execute_with_args("SELECT v.attribute, v.value, v.company, v.n FROM pg_temp.identity_val_n v"
							  " WHERE v.n OPERATOR(pg_catalog.<=) $1 OR v.attribute OPERATOR(pg_catalog.=) 'id_number'",
							  1, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_temp.identity_val_n");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		char	   *attribute = identity_text_column(t, d, 1);
		char	   *value = identity_text_column(t, d, 2);
		char	   *company = identity_text_column(t, d, 3);
		bool		isnull;
		int			n = (int) DatumGetInt64(SPI_getbinval(t, d, 4, &isnull));
		int			att;
		char	   *key;
		CompleteValue *e;
		bool		found;
		MemoryContext old;

		if (strcmp(attribute, "name_company") == 0)
		{
			att = NAME_COMPANY(m);
			value = psprintf("%s\x1f%s", value, company);
		}
		else if (strcmp(attribute, "phone") == 0)
			att = A_PHONE;
		else if (strcmp(attribute, "email") == 0)
			att = A_EMAIL;
		else if (strcmp(attribute, "name_key") == 0)
			att = A_NAME_KEY;
		else
			att = A_ID_NUMBER;
		old = MemoryContextSwitchTo(cxt);
		key = complete_key(att, value);
		MemoryContextSwitchTo(old);
		e = hash_search(h, &key, HASH_ENTER, &found);
		e->n = n;
	}
	SPI_freetuptable(SPI_tuptable);
	return h;
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
identity_global_spread(const IdentityModel *m, IdentityRec *recs, HTAB *h, int att, HTAB *complete)
{
	HASH_SEQ_STATUS seq;
	IdentityBlock	   *b;
	Datum	   *vals,
			   *kept;
	int			nv = 0,
				nk = 0;
	const char *param = att < A_NATTS ? att_columns[att] :
		att >= NAME_COMPANY(m) ? "" : m->declared[att - A_NATTS].name;
	const char *query;

	if (att < A_NATTS && !has_spread(att))
		return;
	/* $1: the values; $2: the attribute (identity_record's column, or declared) */
	if (att == A_ADDRESS)
		/*
		 * (as the last full run found it: an address held by more than
		 * IDENTITY_ADDRESS_SPREAD_MIN rows; no index finds addresses)
		 */
		query = "SELECT v.v, coalesce(s.spread, 1), -1 FROM pg_catalog.unnest($1) AS v(v)"
			" LEFT JOIN concord.identity_value_stat s ON s.attribute OPERATOR(pg_catalog.=) $2"
			" AND s.value OPERATOR(pg_catalog.=) v.v";
	else if (att < A_NATTS)
		query = psprintf("SELECT v.v,"
						 " coalesce(s.spread, (SELECT pg_catalog.count(DISTINCT r.%s) FROM concord.identity_record r"
						 " WHERE r.%s OPERATOR(pg_catalog.=) v.v)),"
						 " %s"
						 " FROM pg_catalog.unnest($1) AS v(v)"
						 " LEFT JOIN concord.identity_value_stat s"
						 " ON s.attribute OPERATOR(pg_catalog.=) $2 AND s.value OPERATOR(pg_catalog.=) v.v",
						 att == A_NAME_KEY ? "phone" : "name_key", att_columns[att],
						 att == A_COMPANY ? "-1" :
						 psprintf("(SELECT pg_catalog.count(*) FROM concord.identity_record r WHERE r.%s OPERATOR(pg_catalog.=) v.v)",
								  att_columns[att]));
	else if (att > NAME_COMPANY(m))
		/* a blocking rule's conjunction of keys: its rows only */
		query = identity_rule_count_query(m, att);
	else if (att == NAME_COMPANY(m))
		/* (its "spread": the mobiles behind it, see identity_is_mobile) */
		query = "SELECT v.v, c.mobiles, c.n FROM pg_catalog.unnest($1) AS v(v)"
			" CROSS JOIN LATERAL (SELECT pg_catalog.count(DISTINCT r.phone) FILTER (WHERE r.phone OPERATOR(pg_catalog.~) " IDENTITY_MOBILE_REGEX ") AS mobiles,"
			" pg_catalog.count(*) AS n FROM concord.identity_record r"
			" WHERE r.name_key OPERATOR(pg_catalog.=) pg_catalog.split_part(v.v, E'\\x1f', 1)"
			" AND r.company OPERATOR(pg_catalog.=) pg_catalog.split_part(v.v, E'\\x1f', 2)) c";
	else
		query = "SELECT v.v, 1, pg_catalog.count(*) FROM pg_catalog.unnest($1) AS v(v)"
			" JOIN concord.identity_record r"
			" ON r.extra OPERATOR(pg_catalog.@>) pg_catalog.jsonb_build_object($2, v.v) GROUP BY v.v";

	vals = palloc(sizeof(Datum) * Max(hash_get_num_entries(h), 1));
	kept = palloc(sizeof(Datum) * Max(hash_get_num_entries(h), 1));
	hash_seq_init(&seq, h);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		bool		core = false;

		for (int j = 0; j < b->n && !core; j++)
			core = recs[b->members[j]].core;
		if (core && complete != NULL)
		{
			/*
			 * a value whose rows were all read: its block is whole, and the
			 * spreads identity_build_blocks counted in it are all rows'
			 */
			char	   *key = complete_key(att, b->value);
			CompleteValue *e = hash_search(complete, &key, HASH_FIND, NULL);

			pfree(key);
			if (e != NULL && e->n == b->n)
			{
				b->global_n = e->n;
				if (att == NAME_COMPANY(m))
					set_employer_mobiles(recs, b);
				continue;
			}
		}
		/* (every address: a neighbour's is compared with a core row's) */
		if (core || att == A_ADDRESS)
			vals[nv++] = CStringGetTextDatum(b->value);
		else if (att == A_PHONE || att == A_EMAIL)
			kept[nk++] = CStringGetTextDatum(b->value);
	}
	set_counts(recs, h, att, att == NAME_COMPANY(m), query, vals, nv, param);
	/*
	 * (joined with the values, not "value = ANY ($1)": planned with the
	 * array as a constant, that estimated each of its thousands of values
	 * one by one, which cost megabytes of fresh memory per run, and a new
	 * session pays for every fresh page)
	 */
	set_counts(recs, h, att, false,
			   "SELECT s.value, s.spread, -1 FROM pg_catalog.unnest($1) AS v(v)"
			   " JOIN concord.identity_value_stat s ON s.attribute OPERATOR(pg_catalog.=) $2"
			   " AND s.value OPERATOR(pg_catalog.=) v.v",
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
identity_neighbour_links(IdentityRec *recs, int n, const bool *want)
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
							  " JOIN concord.customer_link l ON l.source OPERATOR(pg_catalog.=) w.s AND l.key OPERATOR(pg_catalog.=) w.k",
							  3, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.customer_link");
	for (uint64 j = 0; j < SPI_processed; j++)
	{
		HeapTuple	t = SPI_tuptable->vals[j];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		IdentityRec		   *r = &recs[DatumGetInt32(SPI_getbinval(t, d, 1, &isnull))];
		Datum		v = SPI_getbinval(t, d, 4, &isnull);

		if (r->old == NULL)
			r->old = palloc(sizeof(IdentityOldLink));
		r->old->customer = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
		r->old->how = SPI_getvalue(t, d, 3);
		r->old->score = isnull ? -INFINITY : DatumGetFloat8(v);
	}
	SPI_freetuptable(SPI_tuptable);
}
