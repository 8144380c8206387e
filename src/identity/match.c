/*-------------------------------------------------------------------------
 *
 * match.c
 *	  Matching and clustering of the records of every registered source:
 *	  blocking, Fellegi-Sunter pair scores with rules, union-find.
 *
 * The records (concord.identity_record, already normalized) are read
 * once.  Candidate pairs come only from blocks: records sharing an ID
 * number, a phone, an email or a name key.  A block larger than
 * concord.identity_max_block records (a company switchboard, a placeholder
 * email like test@test.com, 王伟) yields no pairs at all; and within
 * smaller blocks a value several people share carries less weight
 * (term-frequency adjustment, see tf), so a shared phone cannot glue
 * strangers together.  A pair
 * is compared in the first block kind it shares, so never twice.
 *
 * A pair matches by rule (same valid ID number; same phone and a close
 * name) or when the sum of its attributes' weights -- log2(m/u) for the
 * level of agreement each attribute reaches -- passes the match
 * threshold.  Matches are joined with union-find; every record gets its
 * cluster's representative (its first record) and how it was linked.
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

PG_FUNCTION_INFO_V1(concord_identity_cluster);
PG_FUNCTION_INFO_V1(concord_identity_compare);
PG_FUNCTION_INFO_V1(concord_identity_level_counts);

/* the attributes of a record, in concord.identity_record column order */
enum
{
	A_NAME_KEY,
	A_PHONE,
	A_EMAIL,
	A_COMPANY,
	A_ADDRESS,
	A_ID_NUMBER,
	A_NATTS
};

static const char *const att_names[A_NATTS] = {
	"name", "phone", "email", "company", "address", "id_number"
};

/* Blocking kinds, in the order pairs are compared (declared ones follow). */
static const int block_kinds[] = {A_ID_NUMBER, A_PHONE, A_EMAIL, A_NAME_KEY};
#define NBLOCKS 4

/* Declared attributes (concord.identity_attribute), at most this many. */
#define MAX_DECLARED 16
#define MAX_ATTS (A_NATTS + MAX_DECLARED)

/*
 * After the declared attributes, a record carries one more blocking value,
 * compared by nothing: its name key and employer together.  A common name
 * makes a block too large to pair (王伟 among a million rows), but 王伟 at
 * 华信软件 is a few rows.
 */
#define NAME_COMPANY(m) (A_NATTS + (m)->ndeclared)

typedef enum Comparison
{
	CMP_EXACT,
	CMP_DATE,
	CMP_NUMBER,
	CMP_STRING
} Comparison;

typedef struct Declared
{
	char		name[NAMEDATALEN];
	Comparison	compare;
	double		tolerance;
	bool		block;
	double		agree,
				close,
				disagree;
} Declared;

typedef struct Rec
{
	char	   *source;
	char	   *key;
	char	  **att;			/* A_NATTS built-in, then the declared ones */
	char	   *syllables;		/* the name's pinyin syllables, sorted */
	int			spread[A_NATTS];	/* how many people share the value (see tf) */
	uint32		paired;			/* bit k: its value of blocking kind k is in a
								 * block whose pairs are compared */
	/* scoped runs (see concord_identity_cluster) */
	bool		core;			/* changed, or of a changed row's customer */
	bool		changed;		/* inserted or updated since the last run */
	int64		old_customer;	/* a neighbour's customer before the run, or
								 * -1 (core rows are clustered afresh) */
	char	   *old_how;		/* and how it was linked */
	double		old_score;
} Rec;

/* Weights: log2(m/u) per agreement level (hand-set defaults). */
typedef struct Model
{
	double		id_agree,
				id_disagree;
	double		phone_agree,
				phone_agree_landline,
				phone_disagree;
	double		email_agree,
				email_disagree;
	double		name_exact,
				name_close,
				name_near,
				name_partial,
				name_disagree;
	double		company_agree,
				company_close,
				company_disagree;
	double		address_agree,
				address_disagree;
	double		match_threshold;
	double		review_threshold;	/* from here to the match threshold:
									 * for a person to look at */
	double		rule_name_min;	/* name similarity for the phone rule */
	double		scale;			/* log2 of the population over 1,000 rows
								 * (see tf), not a weight of the table */
	int			ndeclared;		/* declared attributes, in name order */
	Declared	declared[MAX_DECLARED];
} Model;

static const Model default_model = {
	12.0, -6.0,					/* id number */
	9.0, 4.0, -4.0,				/* phone: mobile, landline agree; disagree */
	9.0, -2.0,					/* email */
	5.0, 3.0, 1.0, 0.5, -4.0,	/* name: same key, syllables >= 0.9, >= 0.8,
								 * all but one, else */
	8.0, 1.5, -1.0,				/* company: same (less for a large one),
								 * >= 0.9, else */
	3.0, -1.0,					/* address */
	8.0,						/* match threshold */
	4.0,						/* review threshold */
	0.9,						/* phone rule: name similarity */
	0.0,						/* scale: set once the rows are counted */
	0							/* declared attributes: load_model's */
};

/* Where each weight lives in concord.identity_weight (attribute, level). */
typedef struct WeightSlot
{
	const char *attribute;
	const char *level;
	size_t		offset;
} WeightSlot;

static const WeightSlot weight_slots[] = {
	{"id_number", "agree", offsetof(Model, id_agree)},
	{"id_number", "disagree", offsetof(Model, id_disagree)},
	{"phone", "agree", offsetof(Model, phone_agree)},
	{"phone", "agree_landline", offsetof(Model, phone_agree_landline)},
	{"phone", "disagree", offsetof(Model, phone_disagree)},
	{"email", "agree", offsetof(Model, email_agree)},
	{"email", "disagree", offsetof(Model, email_disagree)},
	{"name", "exact", offsetof(Model, name_exact)},
	{"name", "close", offsetof(Model, name_close)},
	{"name", "near", offsetof(Model, name_near)},
	{"name", "partial", offsetof(Model, name_partial)},
	{"name", "disagree", offsetof(Model, name_disagree)},
	{"company", "agree", offsetof(Model, company_agree)},
	{"company", "close", offsetof(Model, company_close)},
	{"company", "disagree", offsetof(Model, company_disagree)},
	{"address", "agree", offsetof(Model, address_agree)},
	{"address", "disagree", offsetof(Model, address_disagree)},
	{"model", "match_threshold", offsetof(Model, match_threshold)},
	{"model", "review_threshold", offsetof(Model, review_threshold)},
	{"model", "rule_name_min", offsetof(Model, rule_name_min)},
	{NULL, NULL, 0}
};

/*
 * The model in use: the defaults, overridden by the rows of
 * concord.identity_weight (set by hand, or by identity_estimate_weights).
 */
static Model
load_model(void)
{
	Model		m = default_model;

	if (SPI_execute("SELECT attribute, level, weight FROM concord.identity_weight", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_weight");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *att = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *lvl = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *w = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);

		for (int k = 0; weight_slots[k].attribute; k++)
			if (strcmp(weight_slots[k].attribute, att) == 0 && strcmp(weight_slots[k].level, lvl) == 0 && w)
				*(double *) ((char *) &m + weight_slots[k].offset) = strtod(w, NULL);
	}
	SPI_freetuptable(SPI_tuptable);
	if (SPI_execute("SELECT a.name, a.compare, a.tolerance, a.block,"
					" (SELECT w.weight FROM concord.identity_weight w WHERE w.attribute = a.name AND w.level = 'agree'),"
					" (SELECT w.weight FROM concord.identity_weight w WHERE w.attribute = a.name AND w.level = 'close'),"
					" (SELECT w.weight FROM concord.identity_weight w WHERE w.attribute = a.name AND w.level = 'disagree')"
					" FROM concord.identity_attribute a ORDER BY a.name COLLATE \"C\" LIMIT " CppAsString2(MAX_DECLARED),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_attribute");
	if (m.review_threshold > m.match_threshold)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the review threshold (%g) is above the match threshold (%g)",
						m.review_threshold, m.match_threshold),
				 errhint("Set concord.identity_weight (model, review_threshold) to at most the match threshold.")));
	m.ndeclared = (int) SPI_processed;
	for (int i = 0; i < m.ndeclared; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		Declared   *a = &m.declared[i];
		const char *cmp = SPI_getvalue(t, d, 2);
		char	   *w;

		strlcpy(a->name, SPI_getvalue(t, d, 1), NAMEDATALEN);
		a->compare = strcmp(cmp, "date") == 0 ? CMP_DATE : strcmp(cmp, "number") == 0 ? CMP_NUMBER :
			strcmp(cmp, "string") == 0 ? CMP_STRING : CMP_EXACT;
		w = SPI_getvalue(t, d, 3);
		a->tolerance = w ? strtod(w, NULL) : 0;
		a->block = strcmp(SPI_getvalue(t, d, 4), "t") == 0;
		w = SPI_getvalue(t, d, 5);
		a->agree = w ? strtod(w, NULL) : 0;
		w = SPI_getvalue(t, d, 6);
		a->close = w ? strtod(w, NULL) : 0;
		w = SPI_getvalue(t, d, 7);
		a->disagree = w ? strtod(w, NULL) : 0;
	}
	SPI_freetuptable(SPI_tuptable);
	return m;
}

/*
 * The population: how many rows identity_record holds.  A full run counts
 * the rows it read and keeps the count in concord.identity_population;
 * the others take that count, which resolve_incremental keeps up to date
 * (counting a million rows again cost a tenth of a second).
 */
static double
population(void)
{
	double		rows;

	if (SPI_execute("SELECT coalesce((SELECT records FROM concord.identity_population),"
					" (SELECT count(*) FROM concord.identity_record))", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not count concord.identity_record");
	rows = strtod(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), NULL);
	SPI_freetuptable(SPI_tuptable);
	return rows;
}

static void
save_population(int n)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(n)};

	if (SPI_execute_with_args("INSERT INTO concord.identity_population (records) VALUES ($1)"
							  " ON CONFLICT (one) DO UPDATE SET records = excluded.records",
							  1, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the number of identity records");
}

/* log2 of the population over 1,000 rows (see tf) */
static double
population_scale(double rows)
{
	return Max(0.0, log2(rows / 1000.0));
}

/* The score a pair must reach: the threshold, raised with the population. */
static double
threshold(const Model *m)
{
	return m->match_threshold + m->scale;
}

/* One attribute's comparison in a pair. */
typedef struct AttCmp
{
	const char *level;			/* "agree", "close", ... or "missing" */
	double		weight;
	double		similarity;		/* for names and companies, else -1 */
} AttCmp;

/* Jaro-Winkler of two UTF-8 strings (similarity.c's, on code points). */
static double
jw(const char *a, const char *b)
{
	int			la = strlen(a),
				lb = strlen(b);
	pg_wchar   *wa = palloc(sizeof(pg_wchar) * (la + 1));
	pg_wchar   *wb = palloc(sizeof(pg_wchar) * (lb + 1));
	int			na = pg_mb2wchar_with_len(a, wa, la);
	int			nb = pg_mb2wchar_with_len(b, wb, lb);
	double		r = identity_jaro_winkler(wa, na, wb, nb);

	pfree(wa);
	pfree(wb);
	return r;
}

/*
 * The weight of a value agreeing.  Less for a value that several people
 * share: a phone or email shared under n different names (a switchboard,
 * test@test.com), a name carried by n different phones (王伟), an
 * employer of n people weighs log2(n) less -- the term-frequency
 * adjustment of Fellegi-Sunter, counting people rather than records, so
 * that one person seen by four departments is not taken for four.
 *
 * And more in a larger population: that two rows share a value held by n
 * of P people is log2(P/n) bits of evidence, while the prior odds that two
 * rows are one person fall as 1/P.  The table's weights are those of a
 * population of 1,000 rows; beyond it, each agreement on a value gains
 * scale = log2(P/1000) bits and the threshold rises by the same, so one
 * agreement alone counts as before and two independent ones (a name and a
 * small employer) count for more.
 */
static double
tf(const Model *m, double weight, int spread)
{
	return (spread > 1 ? weight - log2((double) spread) : weight) + m->scale;
}

/* Is the value shared by several people (and so cannot contradict)? */
static bool
widely_shared(int spread)
{
	return spread > 2;
}

/*
 * Names that are not the same: the share of syllables they have in common
 * (Dice over the sorted syllable lists).  Character similarity would be
 * misleading here: 董振华 and 董军 share a long prefix "dong" but are two
 * people of one family.
 */
static double
syllable_dice(const char *a, const char *b, bool *all_but_one)
{
	char	   *ta[64],
			   *tb[64];
	int			na = 0,
				nb = 0,
				i = 0,
				j = 0,
				common = 0;
	char	   *save = NULL;
	char	   *ca,
			   *cb;

	if (a == NULL || b == NULL)
		return 0.0;
	ca = pstrdup(a);
	cb = pstrdup(b);
	for (char *t = strtok_r(ca, " ", &save); t && na < 64; t = strtok_r(NULL, " ", &save))
		ta[na++] = t;
	for (char *t = strtok_r(cb, " ", &save); t && nb < 64; t = strtok_r(NULL, " ", &save))
		tb[nb++] = t;
	/* both lists are sorted: walk them together */
	while (i < na && j < nb)
	{
		int			c = strcmp(ta[i], tb[j]);

		if (c == 0)
		{
			common++;
			i++;
			j++;
		}
		else if (c < 0)
			i++;
		else
			j++;
	}
	pfree(ca);
	pfree(cb);
	/* as long and one syllable apart: a typo, or a sibling (see compare) */
	*all_but_one = na == nb && na >= 2 && common == na - 1;
	return na + nb > 0 ? 2.0 * common / (na + nb) : 0.0;
}

/* Is a normalized phone a mainland mobile number (+861[3-9]...)? */
static bool
is_mobile(const char *phone)
{
	return strncmp(phone, "+861", 4) == 0 && phone[4] >= '3' && phone[4] <= '9' &&
		strlen(phone) == 14;
}

/* A date as written by identity_load (YYYY-MM-DD) into its parts. */
static bool
date_parts(const char *s, int *y, int *mo, int *d)
{
	return sscanf(s, "%d-%d-%d", y, mo, d) == 3;
}

/* Do two years differ in one digit only, or by one (1989 / 1990)? */
static bool
year_typo(int y1, int y2)
{
	int			digits = 0;

	if (abs(y1 - y2) == 1)
		return true;
	for (int a = y1, b = y2; a > 0 || b > 0; a /= 10, b /= 10)
		digits += (a % 10) != (b % 10);
	return digits == 1;
}

/*
 * A declared attribute's comparison: agree, close (a date with day and
 * month swapped or a year mistyped, a number within the tolerance, a
 * string with Jaro-Winkler >= 0.9) or disagree.
 */
static void
compare_declared(const Declared *d, const char *x, const char *y, AttCmp *c)
{
	bool		same = strcmp(x, y) == 0;

	c->level = same ? "agree" : "disagree";
	if (!same)
		switch (d->compare)
		{
			case CMP_EXACT:
				break;
			case CMP_DATE:
				{
					int			y1,
								m1,
								d1,
								y2,
								m2,
								d2;

					if (date_parts(x, &y1, &m1, &d1) && date_parts(y, &y2, &m2, &d2))
					{
						if (y1 == y2 && m1 == d2 && d1 == m2)
							c->level = "close, day and month swapped";
						else if (m1 == m2 && d1 == d2 && year_typo(y1, y2))
							c->level = "close, year mistyped";
					}
					break;
				}
			case CMP_NUMBER:
				if (fabs(strtod(x, NULL) - strtod(y, NULL)) <= d->tolerance)
					c->level = strtod(x, NULL) == strtod(y, NULL) ? "agree" : "close, within tolerance";
				break;
			case CMP_STRING:
				c->similarity = jw(x, y);
				if (c->similarity >= 0.9)
					c->level = "close";
				break;
		}
	if (d->compare == CMP_STRING && same)
		c->similarity = 1.0;
	c->weight = c->level[0] == 'a' ? d->agree : c->level[0] == 'c' ? d->close : d->disagree;
}

/*
 * Compare two records: per-attribute levels and weights into cmp (may be
 * NULL), the total into *score; the rule that matched them (or NULL) is
 * returned through *rule.
 */
static void
compare(const Model *m, const Rec *a, const Rec *b, AttCmp *cmp, double *score,
		const char **rule)
{
	AttCmp		c[MAX_ATTS];
	double		total = 0;

	for (int i = 0; i < A_NATTS; i++)
	{
		c[i].level = "missing";
		c[i].weight = 0;
		c[i].similarity = -1;
		if (a->att[i] == NULL || b->att[i] == NULL)
			continue;
		switch (i)
		{
			case A_ID_NUMBER:
			case A_PHONE:
			case A_EMAIL:
				{
					bool		same = strcmp(a->att[i], b->att[i]) == 0;
					double		agree = i == A_ID_NUMBER ? m->id_agree : i == A_PHONE ? m->phone_agree : m->email_agree;
					double		dis = i == A_ID_NUMBER ? m->id_disagree : i == A_PHONE ? m->phone_disagree : m->email_disagree;

					/*
					 * a home landline is shared by a household, a mobile
					 * by nobody: a landline agreeing says less
					 */
					if (same && i == A_PHONE && !is_mobile(a->att[i]))
					{
						c[i].level = "agree, landline";
						agree = m->phone_agree_landline;
					}
					else
						c[i].level = same ? "agree" : "disagree";
					c[i].weight = same ? tf(m, agree, a->spread[i]) : dis;
					/* a mobile and a landline are not two answers to one question */
					if (!same && i == A_PHONE && is_mobile(a->att[i]) != is_mobile(b->att[i]))
					{
						c[i].level = "disagree, mobile and landline";
						c[i].weight = 0;
					}
					/* a widely shared value (a switchboard) cannot contradict */
					if (!same && (widely_shared(a->spread[i]) || widely_shared(b->spread[i])))
					{
						c[i].level = "disagree, shared value";
						c[i].weight = 0;
					}
					break;
				}
			case A_NAME_KEY:
				{
					bool		partial = false;
					double		s = strcmp(a->att[i], b->att[i]) == 0 ? 1.0 :
						syllable_dice(a->syllables, b->syllables, &partial);

					c[i].similarity = s;
					if (s >= 1.0)
					{
						c[i].level = "exact";
						/* a common name says less */
						c[i].weight = tf(m, m->name_exact, a->spread[i]);
					}
					else if (s >= 0.9)
					{
						c[i].level = "close";
						c[i].weight = m->name_close;
					}
					else if (s >= 0.8)
					{
						c[i].level = "near";
						c[i].weight = m->name_near;
					}
					else if (partial)
					{
						/*
						 * 张伟 / 张玮 typed wrong, or 王伟 / 王芳 of one
						 * family: neither for nor against
						 */
						c[i].level = "partial";
						c[i].weight = m->name_partial;
					}
					else
					{
						c[i].level = "disagree";
						c[i].weight = m->name_disagree;
					}
					break;
				}
			case A_COMPANY:
				{
					double		s = strcmp(a->att[i], b->att[i]) == 0 ? 1.0 : jw(a->att[i], b->att[i]);

					/*
					 * a small employer says much, a large one (thousands
					 * of staff) next to nothing: never less than nothing
					 */
					double		agree = Max(tf(m, m->company_agree, Max(a->spread[i], b->spread[i])), 0.0);

					c[i].similarity = s;
					c[i].level = s >= 1.0 ? "agree" : s >= 0.9 ? "close" : "disagree";
					c[i].weight = s >= 1.0 ? agree : s >= 0.9 ? Min(m->company_close, agree) : m->company_disagree;
					break;
				}
			case A_ADDRESS:
				{
					bool		same = strcmp(a->att[i], b->att[i]) == 0;

					c[i].level = same ? "agree" : "disagree";
					c[i].weight = same ? m->address_agree : m->address_disagree;
					break;
				}
		}
		total += c[i].weight;
	}

	for (int j = 0; j < m->ndeclared; j++)
	{
		AttCmp	   *cj = &c[A_NATTS + j];

		cj->level = "missing";
		cj->weight = 0;
		cj->similarity = -1;
		if (a->att[A_NATTS + j] == NULL || b->att[A_NATTS + j] == NULL)
			continue;
		compare_declared(&m->declared[j], a->att[A_NATTS + j], b->att[A_NATTS + j], cj);
		total += cj->weight;
	}

	*rule = NULL;
	if (strcmp(c[A_ID_NUMBER].level, "agree") == 0)
		*rule = "rule: same ID number";
	else if (strncmp(c[A_PHONE].level, "agree", 5) == 0 && !widely_shared(a->spread[A_PHONE]) &&
			 c[A_NAME_KEY].similarity >= m->rule_name_min)
		*rule = "rule: same phone, same name";
	*score = total;
	if (cmp)
		memcpy(cmp, c, sizeof(AttCmp) * (A_NATTS + m->ndeclared));
}

/* ", r.extra->>'a', r.extra->>'b'": the declared attributes' values */
static void
append_declared(StringInfo q, const Model *m)
{
	for (int j = 0; j < m->ndeclared; j++)
		appendStringInfo(q, ", r.extra->>%s", quote_literal_cstr(m->declared[j].name));
}

/*
 * Read the records of concord.identity_record (in key order); scoped, the
 * rows resolve_incremental put in pg_temp.identity_scope instead.
 */
static Rec *
load_records(int *n, bool scoped, const Model *m)
{
	Rec		   *recs;
	char	  **atts;
	int			natt = A_NATTS + m->ndeclared + 1;
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT r.source, r.key, r.name_key, r.phone, r.email, r.company, r.address, r.id_number, r.syllables");
	append_declared(&q, m);
	/* (scoped: resolve_incremental read the rows) */
	appendStringInfoString(&q, scoped ?
						   ", r.core, r.changed FROM pg_temp.identity_scope r WHERE r.present"
						   " ORDER BY r.source COLLATE \"C\", r.key COLLATE \"C\"" :
						   " FROM concord.identity_record r ORDER BY r.source COLLATE \"C\", r.key COLLATE \"C\"");
	if (SPI_execute(q.data, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_record");
	*n = (int) SPI_processed;
	recs = palloc0(sizeof(Rec) * Max(*n, 1));
	atts = palloc_extended(sizeof(char *) * natt * Max(*n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < *n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;

		recs[i].source = SPI_getvalue(t, d, 1);
		recs[i].key = SPI_getvalue(t, d, 2);
		recs[i].att = &atts[(Size) i * natt];
		for (int a = 0; a < A_NATTS; a++)
			recs[i].att[a] = SPI_getvalue(t, d, 3 + a);
		recs[i].syllables = SPI_getvalue(t, d, 3 + A_NATTS);
		for (int j = 0; j < m->ndeclared; j++)
			recs[i].att[A_NATTS + j] = SPI_getvalue(t, d, 4 + A_NATTS + j);
		recs[i].att[NAME_COMPANY(m)] = recs[i].att[A_NAME_KEY] && recs[i].att[A_COMPANY] ?
			psprintf("%s\x1f%s", recs[i].att[A_NAME_KEY], recs[i].att[A_COMPANY]) : NULL;
		recs[i].core = true;
		recs[i].old_customer = -1;	/* (a neighbour's: see neighbour_links) */
		if (scoped)
		{
			int			c = 4 + A_NATTS + m->ndeclared;
			bool		isnull;

			recs[i].core = DatumGetBool(SPI_getbinval(t, d, c, &isnull));
			recs[i].changed = DatumGetBool(SPI_getbinval(t, d, c + 1, &isnull));
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return recs;
}

/* A block: the records sharing one value of one attribute. */
typedef struct Block
{
	char	   *value;			/* hash key (must be first) */
	int			n;
	int			global_n;		/* scoped: the rows with the value in all */
	int			cap;
	int		   *members;
} Block;

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
set_spread(Rec *recs, Block *b, int att, int other)
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
static HTAB *
build_blocks(Rec *recs, int n, int att, MemoryContext cxt)
{
	HASHCTL		ctl;
	HTAB	   *h;
	HASH_SEQ_STATUS seq;
	Block	   *b;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(Block);
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
static void
save_value_stats(Rec *recs, HTAB *h, int att)
{
	HASH_SEQ_STATUS seq;
	Block	   *b;
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
			((att == A_PHONE || att == A_EMAIL) && widely_shared(recs[b->members[0]].spread[att])))
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
set_counts(Rec *recs, HTAB *h, int att, const char *query, Datum *vals, int nvals, const char *param)
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
		Block	   *b = hash_search(h, &v, HASH_FIND, NULL);

		if (b == NULL)
			continue;
		b->global_n = atoi(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3));
		if (att < A_NATTS)
			for (int j = 0; j < b->n; j++)
				recs[b->members[j]].spread[att] = Max(spread, 1);
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
static void
global_spread(const Model *m, Rec *recs, HTAB *h, int att)
{
	HASH_SEQ_STATUS seq;
	Block	   *b;
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
		query = "SELECT v.v, 1, (SELECT count(*) FROM concord.identity_record r"
			" WHERE r.name_key = pg_catalog.split_part(v.v, E'\\x1f', 1) AND r.company = pg_catalog.split_part(v.v, E'\\x1f', 2))"
			" FROM pg_catalog.unnest($1) AS v(v)";
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
	set_counts(recs, h, att, query, vals, nv, param);
	set_counts(recs, h, att,
			   "SELECT s.value, s.spread, -1 FROM concord.identity_value_stat s"
			   " WHERE s.attribute = $2 AND s.value = ANY ($1)",
			   kept, nk, param);
}

/*
 * Are a block's pairs compared?  Not for a value held by one row, nor by
 * more than max_block rows (in all rows, when the run is scoped).
 */
static bool
block_paired(const Block *b, int max_block)
{
	return b->n >= 2 && (b->global_n >= 0 ? b->global_n : b->n) <= max_block;
}

/* union-find with path halving and union by size */
static int
find(int *parent, int x)
{
	while (parent[x] != x)
	{
		parent[x] = parent[parent[x]];
		x = parent[x];
	}
	return x;
}

static void
unite(int *parent, int *size, int a, int b)
{
	a = find(parent, a);
	b = find(parent, b);
	if (a == b)
		return;
	if (size[a] < size[b])
	{
		int			t = a;

		a = b;
		b = t;
	}
	parent[b] = a;
	size[a] += size[b];
}

/*
 * Were records a and b compared already, in a block of an earlier kind
 * than k?  Only if they share its value and that block was paired: a pair
 * sharing a switchboard (a block too large to pair) and a name is compared
 * in the name's block.
 */
static bool
shared_earlier(const int *kinds, const Rec *a, const Rec *b, int k)
{
	for (int e = 0; e < k; e++)
	{
		int			att = kinds[e];

		if ((a->paired & (1u << e)) && a->att[att] && b->att[att] && strcmp(a->att[att], b->att[att]) == 0)
			return true;
	}
	return false;
}

/* A pair that matched, kept until all are known. */
typedef struct Match
{
	int			a,
				b;
	double		order;			/* rules above every score */
	double		score;
	const char *how;
} Match;

/* Append a pair to a growing list of them. */
static void
push_match(Match **list, int *n, int *cap, int a, int b, double order, double score,
		   const char *how)
{
	if (*n == *cap)
	{
		*cap = *cap ? *cap * 2 : 1024;
		*list = *list ? repalloc_huge(*list, sizeof(Match) * *cap) : palloc(sizeof(Match) * *cap);
	}
	(*list)[*n].a = a;
	(*list)[*n].b = b;
	(*list)[*n].order = order;
	(*list)[*n].score = score;
	(*list)[*n].how = how;
	(*n)++;
}

static int
match_cmp(const void *x, const void *y)
{
	const Match *a = x,
			   *b = y;

	if (a->order != b->order)
		return a->order > b->order ? -1 : 1;
	if (a->a != b->a)
		return a->a - b->a;
	return a->b - b->b;
}

/* A manual decision: two rows are one customer (must) or are not. */
typedef struct LinkRule
{
	bool		must;
	int			a,
				b;
} LinkRule;

/* The index of source:key among the (sorted) records, or -1. */
static int
rec_index(Rec *recs, int n, const char *source, const char *key)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(recs[mid].source, source);

		if (c == 0)
			c = strcmp(recs[mid].key, key);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* The manual merges and splits whose two rows both still exist. */
static void
load_constraints(Rec *recs, int n, LinkRule **out, int *nout)
{
	LinkRule *c;
	int			k = 0;

	if (SPI_execute("SELECT kind, source_a, key_a, source_b, key_b FROM concord.identity_constraint",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_constraint");
	c = palloc(sizeof(LinkRule) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		int			a = rec_index(recs, n, SPI_getvalue(t, d, 2), SPI_getvalue(t, d, 3));
		int			b = rec_index(recs, n, SPI_getvalue(t, d, 4), SPI_getvalue(t, d, 5));

		if (a < 0 || b < 0 || a == b)
			continue;
		c[k].must = strcmp(SPI_getvalue(t, d, 1), "must_link") == 0;
		c[k].a = a;
		c[k].b = b;
		k++;
	}
	*out = c;
	*nout = k;
}

/* Would uniting a's and b's clusters join two rows a cannot-link separates? */
static bool
separated(int *parent, LinkRule *cons, int ncons, int a, int b)
{
	int			ra = find(parent, a),
				rb = find(parent, b);

	if (ra == rb)
		return false;
	for (int i = 0; i < ncons; i++)
	{
		int			x,
					y;

		if (cons[i].must)
			continue;
		x = find(parent, cons[i].a);
		y = find(parent, cons[i].b);
		if ((x == ra && y == rb) || (x == rb && y == ra))
			return true;
	}
	return false;
}

/* A pair to review: its two rows, their clusters (lower first), its score. */
typedef struct ReviewPair
{
	int			ca,
				cb;
	int			a,
				b;
	double		score;
} ReviewPair;

/* By the two clusters, the strongest pair first. */
static int
review_cmp(const void *x, const void *y)
{
	const ReviewPair *a = x,
			   *b = y;

	if (a->ca != b->ca)
		return a->ca - b->ca;
	if (a->cb != b->cb)
		return a->cb - b->cb;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return 0;
}

/*
 * The pairs that scored between the review and the match threshold and
 * whose rows ended in two customers: the strongest pair of each two
 * customers goes to pg_temp.identity_review_found (made by
 * identity_apply; nothing is saved without it), for a person to decide.
 */
static void
save_review(Rec *recs, int *parent, Match *review, int nr)
{
	ReviewPair *keep;
	int			nk = 0,
				n = 0;
	Datum	   *vals[5];
	Oid			types[5] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID};
	Datum		args[5];

	if (nr == 0)
		return;
	if (SPI_execute("SELECT pg_catalog.to_regclass('pg_temp.identity_review_found') IS NOT NULL",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for pg_temp.identity_review_found");
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") != 0)
		return;
	keep = palloc(sizeof(ReviewPair) * nr);
	for (int i = 0; i < nr; i++)
	{
		int			ra = find(parent, review[i].a),
					rb = find(parent, review[i].b);

		if (ra == rb)
			continue;
		keep[nk].ca = Min(ra, rb);
		keep[nk].cb = Max(ra, rb);
		keep[nk].a = Min(review[i].a, review[i].b);
		keep[nk].b = Max(review[i].a, review[i].b);
		keep[nk].score = review[i].score;
		nk++;
	}
	qsort(keep, nk, sizeof(ReviewPair), review_cmp);
	for (int k = 0; k < 5; k++)
		vals[k] = palloc(sizeof(Datum) * Max(nk, 1));
	for (int i = 0; i < nk; i++)
	{
		if (i > 0 && keep[i].ca == keep[i - 1].ca && keep[i].cb == keep[i - 1].cb)
			continue;
		vals[0][n] = CStringGetTextDatum(recs[keep[i].a].source);
		vals[1][n] = CStringGetTextDatum(recs[keep[i].a].key);
		vals[2][n] = CStringGetTextDatum(recs[keep[i].b].source);
		vals[3][n] = CStringGetTextDatum(recs[keep[i].b].key);
		vals[4][n] = Float8GetDatum(keep[i].score);
		n++;
	}
	for (int k = 0; k < 4; k++)
		args[k] = PointerGetDatum(construct_array(vals[k], n, TEXTOID, -1, false, TYPALIGN_INT));
	args[4] = PointerGetDatum(construct_array(vals[4], n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_with_args("INSERT INTO pg_temp.identity_review_found (source_a, key_a, source_b, key_b, score)"
							  " SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
							  " pg_catalog.unnest($4), pg_catalog.unnest($5))",
							  5, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not save the pairs to review");
}

/*
 * Scoped: the customers (and how they were linked) of the neighbours
 * flagged in want, from concord.customer_link.
 */
static void
neighbour_links(Rec *recs, int n, const bool *want)
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

/*
 * concord.identity_cluster(max_block integer, scoped boolean)
 *	 RETURNS TABLE (source text, key text, cluster integer, how text,
 *					score float8, pairs integer)
 *
 * Every record with its cluster (the index of the cluster's first record
 * in key order, within this run; -1 in a scoped run for a customer no
 * changed row joined), how it was linked (its strongest match: a rule or
 * "score"; "alone" if none) and the number of pairs it was compared in.
 * A full run also refreshes concord.identity_value_stat.
 */
Datum
concord_identity_cluster(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			max_block = PG_GETARG_INT32(0);
	bool		scoped = PG_GETARG_BOOL(1);
	Model		model;
	MemoryContext cxt;
	MemoryContext old;
	Rec		   *recs;
	int			n;
	int		   *parent,
			   *size,
			   *pairs,
			   *first;
	double	   *best;
	const char **how;
	Match	   *matches = NULL;
	int			nm = 0,
				mcap = 0;
	LinkRule *cons;
	int			ncons;
	Match	   *review = NULL;
	int			nr = 0,
				rcap = 0;
	int			kinds[NBLOCKS + MAX_DECLARED + 1];
	int			nkinds;
	HTAB	   *blocks[NBLOCKS + MAX_DECLARED + 1];

	if (max_block < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_block must be at least 2, not %d", max_block)));
	InitMaterializedSRF(fcinfo, 0);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "concord identity match", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(cxt);
	model = load_model();
	recs = load_records(&n, scoped, &model);
	if (!scoped)
		save_population(n);
	model.scale = population_scale(scoped ? population() : n);
	nkinds = NBLOCKS;
	memcpy(kinds, block_kinds, sizeof(block_kinds));
	for (int j = 0; j < model.ndeclared; j++)
		if (model.declared[j].block)
			kinds[nkinds++] = A_NATTS + j;
	kinds[nkinds++] = NAME_COMPANY(&model);
	parent = palloc(sizeof(int) * Max(n, 1));
	size = palloc(sizeof(int) * Max(n, 1));
	pairs = palloc0(sizeof(int) * Max(n, 1));
	best = palloc(sizeof(double) * Max(n, 1));
	how = palloc0(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		parent[i] = i;
		size[i] = 1;
		best[i] = -INFINITY;
	}
	/* employers are no blocks, but how many people share one counts */
	{
		HTAB	   *h = build_blocks(recs, n, A_COMPANY, cxt);

		if (scoped)
			global_spread(&model, recs, h, A_COMPANY);
		else
		{
			if (SPI_execute("DELETE FROM concord.identity_value_stat", false, 0) != SPI_OK_DELETE)
				elog(ERROR, "could not clear concord.identity_value_stat");
			save_value_stats(recs, h, A_COMPANY);
		}
		hash_destroy(h);
	}
	/* every block first: a pair's weights need the spreads of all kinds */
	for (int k = 0; k < nkinds; k++)
	{
		HASH_SEQ_STATUS seq;
		Block	   *b;

		blocks[k] = build_blocks(recs, n, kinds[k], cxt);
		if (scoped)
			global_spread(&model, recs, blocks[k], kinds[k]);
		else
			save_value_stats(recs, blocks[k], kinds[k]);
		hash_seq_init(&seq, blocks[k]);
		while ((b = hash_seq_search(&seq)) != NULL)
			if (block_paired(b, max_block))
				for (int j = 0; j < b->n; j++)
					recs[b->members[j]].paired |= 1u << k;
	}
	for (int k = 0; k < nkinds; k++)
	{
		HTAB	   *h = blocks[k];
		HASH_SEQ_STATUS seq;
		Block	   *b;

		hash_seq_init(&seq, h);
		while ((b = hash_seq_search(&seq)) != NULL)
		{
			if (!block_paired(b, max_block))
				continue;
			for (int x = 0; x < b->n; x++)
				for (int y = x + 1; y < b->n; y++)
				{
					Rec		   *ra = &recs[b->members[x]];
					Rec		   *rb = &recs[b->members[y]];
					double		score;
					const char *rule;

					CHECK_FOR_INTERRUPTS();
					/*
					 * scoped: the core rows are compared with each other, the
					 * changed ones with their neighbours too; neighbours were
					 * compared with each other in earlier runs
					 */
					if (!(ra->core && rb->core) && !(ra->changed && !rb->core) && !(rb->changed && !ra->core))
						continue;
					if (shared_earlier(kinds, ra, rb, k))
						continue;
					compare(&model, ra, rb, NULL, &score, &rule);
					pairs[b->members[x]]++;
					pairs[b->members[y]]++;
					if (rule != NULL || score >= threshold(&model))
						/* rules first, then the strongest scores */
						push_match(&matches, &nm, &mcap, b->members[x], b->members[y],
								   rule ? 1e9 + score : score, score, rule ? rule : "score");
					else if (score >= model.review_threshold + model.scale)
						push_match(&review, &nr, &rcap, b->members[x], b->members[y],
								   score, score, "review");
				}
		}
		hash_destroy(h);
	}

	/*
	 * Must-links first, then matches from the strongest down, each refused
	 * if it would put two rows a cannot-link separates in one cluster.
	 */
	load_constraints(recs, n, &cons, &ncons);
	/*
	 * Scoped: a neighbour (a row sharing a value with a changed row, of a
	 * customer no changed row belonged to) keeps its customer and how it
	 * was linked, and its customer's rows start as one -- those of them a
	 * changed row may join, that is: its customer is looked up only for a
	 * neighbour that matched a core row or that a constraint names (the
	 * others stay as they are, whatever this run finds).
	 */
	if (scoped)
	{
		bool	   *want = palloc0(sizeof(bool) * Max(n, 1));
		HASHCTL		ctl;
		HTAB	   *byc;

		for (int i = 0; i < nm; i++)
			want[matches[i].a] = want[matches[i].b] = true;
		for (int i = 0; i < ncons; i++)
			want[cons[i].a] = want[cons[i].b] = true;
		neighbour_links(recs, n, want);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(int64) + sizeof(int);
		ctl.hcxt = cxt;
		byc = hash_create("concord identity neighbours", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		for (int i = 0; i < n; i++)
		{
			bool		found;
			char	   *e;

			if (recs[i].core || recs[i].old_customer < 0)
				continue;
			how[i] = recs[i].old_how;
			best[i] = recs[i].old_score;
			e = hash_search(byc, &recs[i].old_customer, HASH_ENTER, &found);
			if (found)
				unite(parent, size, *(int *) (e + sizeof(int64)), i);
			else
				*(int *) (e + sizeof(int64)) = i;
		}
		hash_destroy(byc);
	}
	for (int i = 0; i < ncons; i++)
		if (cons[i].must)
		{
			unite(parent, size, cons[i].a, cons[i].b);
			for (int s = 0; s < 2; s++)
			{
				int			r = s ? cons[i].b : cons[i].a;

				how[r] = "manual merge";
				best[r] = 0;
			}
		}
	qsort(matches, nm, sizeof(Match), match_cmp);
	for (int i = 0; i < nm; i++)
	{
		Match	   *m = &matches[i];

		if (separated(parent, cons, ncons, m->a, m->b))
			continue;
		unite(parent, size, m->a, m->b);
		for (int s = 0; s < 2; s++)
		{
			int			r = s ? m->b : m->a;

			if (how[r] == NULL || (strcmp(how[r], "manual merge") != 0 && m->score > best[r]))
			{
				best[r] = m->score;
				how[r] = m->how;
			}
		}
	}

	save_review(recs, parent, review, nr);

	/*
	 * each cluster's representative: its first record in key order.  In a
	 * scoped run, a cluster of neighbours only (no changed row joined them)
	 * is a customer as it was: -1, nothing to do for it.
	 */
	first = palloc(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
		first[i] = -1;
	for (int i = 0; i < n; i++)
	{
		int			r = find(parent, i);

		if (first[r] < 0)
			first[r] = i;
	}
	if (scoped)
	{
		bool	   *with_core = palloc0(sizeof(bool) * Max(n, 1));

		for (int i = 0; i < n; i++)
			if (recs[i].core)
				with_core[find(parent, i)] = true;
		for (int i = 0; i < n; i++)
			if (parent[i] == i && !with_core[i])
				first[i] = -1;
	}
	for (int i = 0; i < n; i++)
	{
		Datum		v[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		v[0] = CStringGetTextDatum(recs[i].source);
		v[1] = CStringGetTextDatum(recs[i].key);
		v[2] = Int32GetDatum(first[find(parent, i)]);
		v[3] = CStringGetTextDatum(how[i] ? how[i] : "alone");
		v[4] = Float8GetDatum(how[i] ? best[i] : 0);
		nulls[4] = how[i] == NULL;
		v[5] = Int32GetDatum(pairs[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

/* One record by source and key, with how many people share its values. */
static bool
load_one(const Model *m, const char *source, const char *key, Rec *r)
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
						   " (SELECT count(DISTINCT x.name_key) FROM concord.identity_record x WHERE x.id_number = r.id_number)");
	append_declared(&q, m);
	appendStringInfoString(&q, " FROM concord.identity_record r WHERE r.source = $1 AND r.key = $2");
	if (SPI_execute_with_args(q.data, 2, types, vals, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_record");
	if (SPI_processed == 0)
		return false;
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	memset(r, 0, sizeof(Rec));
	r->att = palloc0(sizeof(char *) * MAX_ATTS);
	r->source = SPI_getvalue(t, d, 1);
	r->key = SPI_getvalue(t, d, 2);
	for (int a = 0; a < A_NATTS; a++)
		r->att[a] = SPI_getvalue(t, d, 3 + a);
	r->syllables = SPI_getvalue(t, d, 9);
	for (int k = 0; k < lengthof(spread_atts); k++)
		r->spread[spread_atts[k]] = Max(atoi(SPI_getvalue(t, d, 10 + k)), 1);
	for (int j = 0; j < m->ndeclared; j++)
		r->att[A_NATTS + j] = SPI_getvalue(t, d, 10 + lengthof(spread_atts) + j);
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
	Rec			a,
				b;
	AttCmp		c[MAX_ATTS];
	double		score;
	const char *rule;
	StringInfoData j;
	Datum		result;
	Model		model;
	MemoryContext outer = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	model = load_model();
	model.scale = population_scale(population());
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
	compare(&model, &a, &b, c, &score, &rule);

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
		if (c[i].similarity >= 0)
			appendStringInfo(&j, ", \"similarity\": %.4f", c[i].similarity);
		appendStringInfoChar(&j, '}');
	}
	appendStringInfo(&j, "}, \"score\": %.2f, \"threshold\": %.2f, \"rule\": ", score,
					 threshold(&model));
	if (rule)
		escape_json(&j, rule);
	else
		appendStringInfoString(&j, "null");
	appendStringInfo(&j, ", \"match\": %s}",
					 (rule != NULL || score >= threshold(&model)) ? "true" : "false");
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
count_levels(const Model *m, LevelCount *lc, int *nlc, AttCmp *c, bool linked)
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
		else if (i >= A_NATTS && strncmp(level, "close", 5) == 0)
			level = "close";
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
	Rec		   *recs;
	int			n;
	int64	   *cust;
	LevelCount	lc[MAX_LEVELS];
	int			nlc = 0;
	Model		model;
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
	model = load_model();
	recs = load_records(&n, false, &model);
	model.scale = population_scale(n);
	if (n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("there are fewer than two normalized rows to learn from"),
				 errhint("Run concord.resolve() first.")));
	for (int k = 0; k < NBLOCKS; k++)
		hash_destroy(build_blocks(recs, n, block_kinds[k], cxt));
	hash_destroy(build_blocks(recs, n, A_COMPANY, cxt));

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
		int			r = rec_index(recs, n, SPI_getvalue(t, d, 1), SPI_getvalue(t, d, 2));

		if (r >= 0)
			cust[r] = strtoll(SPI_getvalue(t, d, 3), NULL, 10);
	}

	/* u: random pairs */
	pg_prng_seed(&prng, 20261125);
	for (int p = 0; p < sample; p++)
	{
		int			a = (int) pg_prng_uint64_range(&prng, 0, n - 1);
		int			b = (int) pg_prng_uint64_range(&prng, 0, n - 1);
		AttCmp		c[MAX_ATTS];
		double		score;
		const char *rule;

		CHECK_FOR_INTERRUPTS();
		if (a == b)
			continue;
		compare(&model, &recs[a], &recs[b], c, &score, &rule);
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
						AttCmp		c[MAX_ATTS];
						double		score;
						const char *rule;

						compare(&model, &recs[order[x]], &recs[order[y]], c, &score, &rule);
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
