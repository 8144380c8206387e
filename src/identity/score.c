/*-------------------------------------------------------------------------
 *
 * score.c
 *	  The Fellegi-Sunter model: the weights of each agreement level (defaults
 *	  overridden by concord.identity_weight), the population they scale
 *	  with, and the comparison of two records -- per attribute a level and
 *	  a weight, the total, and the rules that match outright.
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

static const IdentityModel default_model = {
	12.0, -6.0,					/* id number */
	9.0, 4.0, -4.0,				/* phone: mobile, landline agree; disagree */
	9.0, -2.0,					/* email */
	5.0, 3.0, 1.0, 0.5, -4.0,	/* name: same key, syllables >= 0.9, >= 0.8,
								 * all but one, else */
	8.0, 1.5, -1.0,				/* company: same (less for a large one),
								 * >= 0.9, else */
	3.0, 2.0, -1.0,				/* address: same, close (its numbers the
								 * same, its letters alike), else */
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
	{"id_number", "agree", offsetof(IdentityModel, id_agree)},
	{"id_number", "disagree", offsetof(IdentityModel, id_disagree)},
	{"id_number", "close", offsetof(IdentityModel, id_close)},
	{"phone", "close", offsetof(IdentityModel, phone_close)},
	{"name", "homophone", offsetof(IdentityModel, name_homophone)},
	{"name", "honorific_family", offsetof(IdentityModel, name_honorific_family)},
	{"name", "honorific_conflict", offsetof(IdentityModel, name_honorific_conflict)},
	{"phone", "agree", offsetof(IdentityModel, phone_agree)},
	{"phone", "agree_landline", offsetof(IdentityModel, phone_agree_landline)},
	{"phone", "disagree", offsetof(IdentityModel, phone_disagree)},
	{"email", "agree", offsetof(IdentityModel, email_agree)},
	{"email", "disagree", offsetof(IdentityModel, email_disagree)},
	{"name", "exact", offsetof(IdentityModel, name_exact)},
	{"name", "exact_unique", offsetof(IdentityModel, name_exact_unique)},
	{"name", "close", offsetof(IdentityModel, name_close)},
	{"name", "near", offsetof(IdentityModel, name_near)},
	{"name", "partial", offsetof(IdentityModel, name_partial)},
	{"name", "disagree", offsetof(IdentityModel, name_disagree)},
	{"name", "swapped", offsetof(IdentityModel, name_swapped)},
	{"name", "given_close", offsetof(IdentityModel, name_given_close)},
	{"name", "given_initial", offsetof(IdentityModel, name_given_initial)},
	{"name", "family_close", offsetof(IdentityModel, name_family_close)},
	{"name", "family_only", offsetof(IdentityModel, name_family_only)},
	{"name", "given_only", offsetof(IdentityModel, name_given_only)},
	{"company", "agree", offsetof(IdentityModel, company_agree)},
	{"company", "close", offsetof(IdentityModel, company_close)},
	{"company", "disagree", offsetof(IdentityModel, company_disagree)},
	{"company", "contained", offsetof(IdentityModel, company_contained)},
	{"address", "agree", offsetof(IdentityModel, address_agree)},
	{"address", "close", offsetof(IdentityModel, address_close)},
	{"address", "disagree", offsetof(IdentityModel, address_disagree)},
	{"model", "match_threshold", offsetof(IdentityModel, match_threshold)},
	{"model", "review_threshold", offsetof(IdentityModel, review_threshold)},
	{"model", "rule_name_min", offsetof(IdentityModel, rule_name_min)},
	{"model", "match_probability", offsetof(IdentityModel, match_probability)},
	{"model", "review_probability", offsetof(IdentityModel, review_probability)},
	{"model", "prior", offsetof(IdentityModel, prior)},
	{NULL, NULL, 0}
};

/*
 * The model in use: the defaults, overridden by the rows of
 * concord.identity_weight (set by hand, or by identity_estimate_weights).
 */
IdentityModel
identity_load_model(void)
{
	IdentityModel		m = default_model;
	bool		manual_match = false,
				manual_review = false;

	m.match_probability = 0.9;
	m.name_exact_unique = m.name_exact;
	/* (identity.sql's defaults, for an install whose rows are gone) */
	m.name_swapped = 5;
	m.name_given_close = 4;
	m.name_given_initial = 2;
	m.name_family_close = 3;
	m.name_family_only = -2;
	m.name_given_only = -3;
	m.id_close = 6;
	m.name_homophone = 3;
	m.name_honorific_family = 1;
	m.name_honorific_conflict = -4;
	m.phone_close = 3;
	m.company_contained = 4;
	m.review_probability = 0.5;
	if (SPI_execute("SELECT attribute, level, weight, origin FROM concord.identity_weight", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read concord.identity_weight");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *att = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *lvl = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *w = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		bool		manual = strcmp(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4), "manual") == 0;

		if (strcmp(att, "model") == 0 && strcmp(lvl, "prior") == 0)
			m.trained = true;
		if (strcmp(att, "model") == 0 && strcmp(lvl, "match_threshold") == 0)
			manual_match = manual;
		if (strcmp(att, "model") == 0 && strcmp(lvl, "review_threshold") == 0)
			manual_review = manual;
		for (int k = 0; weight_slots[k].attribute; k++)
			if (strcmp(weight_slots[k].attribute, att) == 0 && strcmp(weight_slots[k].level, lvl) == 0 && w)
				*(double *) ((char *) &m + weight_slots[k].offset) = strtod(w, NULL);
	}
	SPI_freetuptable(SPI_tuptable);

	/*
	 * A trained model: a pair matches when the probability that its two
	 * records are one person reaches match_probability -- its score, added
	 * to the prior log2 odds, reaches log2(p / (1 - p)).  A threshold set
	 * by hand still wins.
	 */
	if (m.trained)
	{
		if (m.review_probability > m.match_probability)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the review probability (%g) is above the match probability (%g)",
							m.review_probability, m.match_probability),
					 errhint("Set concord.identity_weight (model, review_probability) to at most the match probability.")));
		if (!manual_match)
			m.match_threshold = log2(m.match_probability / (1 - m.match_probability)) - m.prior;
		if (!manual_review)
			m.review_threshold = Min(log2(m.review_probability / (1 - m.review_probability)) - m.prior,
									 m.match_threshold);
	}
	if (SPI_execute("SELECT a.name, a.compare, a.tolerance, a.block,"
					" (SELECT w.weight FROM concord.identity_weight w WHERE w.attribute OPERATOR(pg_catalog.=) a.name"
					" AND w.level OPERATOR(pg_catalog.=) 'agree'),"
					" (SELECT w.weight FROM concord.identity_weight w WHERE w.attribute OPERATOR(pg_catalog.=) a.name"
					" AND w.level OPERATOR(pg_catalog.=) 'close'),"
					" (SELECT w.weight FROM concord.identity_weight w WHERE w.attribute OPERATOR(pg_catalog.=) a.name"
					" AND w.level OPERATOR(pg_catalog.=) 'disagree'),"
					" (SELECT w.weight FROM concord.identity_weight w WHERE w.attribute OPERATOR(pg_catalog.=) a.name"
					" AND w.level OPERATOR(pg_catalog.=) 'one_field_off')"
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
		IdentityDeclared   *a = &m.declared[i];
		const char *cmp = SPI_getvalue(t, d, 2);
		char	   *w;

		strlcpy(a->name, SPI_getvalue(t, d, 1), NAMEDATALEN);
		a->compare = strcmp(cmp, "date") == 0 ? CMP_DATE : strcmp(cmp, "number") == 0 ? CMP_NUMBER :
			strcmp(cmp, "string") == 0 ? CMP_STRING : CMP_EXACT;
		w = SPI_getvalue(t, d, 3);
		a->tolerance = w ? strtod(w, NULL) : 0;
		a->block = strcmp(SPI_getvalue(t, d, 4), "t") == 0;
		/*
		 * identity_attribute_create's defaults where the row is absent (a
		 * default is kept out of pg_dump)
		 */
		w = SPI_getvalue(t, d, 5);
		a->agree = w ? strtod(w, NULL) :
			a->compare == CMP_DATE ? 6 : a->compare == CMP_EXACT ? (a->block ? 12 : 4) : 3;
		w = SPI_getvalue(t, d, 6);
		a->close = w ? strtod(w, NULL) : a->compare == CMP_DATE ? 3 : a->compare == CMP_EXACT ? (a->block ? 6 : 0) : 1.5;
		w = SPI_getvalue(t, d, 7);
		a->disagree = w ? strtod(w, NULL) :
			a->compare == CMP_DATE ? -3 : a->compare == CMP_EXACT ? (a->block ? -4 : -2) : -1;
		/* a date's day or month one typo off: as close, unless set apart */
		w = SPI_getvalue(t, d, 8);
		a->one_field_off = w ? strtod(w, NULL) : a->close;
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
double
identity_population(void)
{
	double		rows;

	if (SPI_execute("SELECT coalesce((SELECT records FROM concord.identity_population),"
					" (SELECT pg_catalog.count(*) FROM concord.identity_record))", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not count concord.identity_record");
	rows = strtod(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), NULL);
	SPI_freetuptable(SPI_tuptable);
	return rows;
}

void
identity_save_population(int n)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(n)};

	if (SPI_execute_with_args("INSERT INTO concord.identity_population (records) VALUES ($1)"
							  " ON CONFLICT (one) DO UPDATE SET records = excluded.records",
							  1, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the number of identity records");
}

/* log2 of the population over 1,000 rows (see tf) */
double
identity_population_scale(double rows)
{
	return Max(0.0, log2(rows / 1000.0));
}

/* The score a pair must reach: the threshold, raised with the population. */
double
identity_threshold(const IdentityModel *m)
{
	return m->match_threshold + m->scale;
}

/*
 * The probability that a pair of score is one person.  Trained, the
 * posterior: the prior log2 odds at this population (the table's prior,
 * on the 1,000-record basis, less the scale) plus the score.  Untrained,
 * the weights read as log2 Bayes factors and the threshold as the log2
 * odds against a compared pair: one half at the threshold.
 */
double
identity_match_probability(const IdentityModel *m, double score)
{
	double		lo = m->trained ? m->prior - m->scale + score : score - identity_threshold(m);

	return 1.0 / (1.0 + pow(2.0, -lo));
}

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
tf(const IdentityModel *m, double weight, int spread)
{
	double		w = spread > 1 ? weight - log2((double) spread) : weight;

	/*
	 * and a value three or more people share (test@test.com) is at most
	 * log2(P/n) bits, what two rows holding it by chance would show --
	 * whatever a unique value of its kind weighs (a trained email: 20 bits
	 * and more)
	 */
	if (identity_widely_shared(spread))
		w = Min(w, log2(1000.0 / spread));
	return w + m->scale;
}

/* Is the value shared by several people (and so cannot contradict)? */
bool
identity_widely_shared(int spread)
{
	return spread > 2;
}

static int
cmp_word(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * The words of a name's syllables column into w (at most 64), sorted: a
 * Latin name's come in written order.  Their number; s is cut up.
 */
static int
sorted_words(char *s, char **w)
{
	char	   *save = NULL;
	int			n = 0;
	bool		sorted = true;

	for (char *t = strtok_r(s, " ", &save); t && n < 64; t = strtok_r(NULL, " ", &save))
	{
		if (n > 0 && strcmp(w[n - 1], t) > 0)
			sorted = false;
		w[n++] = t;
	}
	if (!sorted)
		qsort(w, n, sizeof(char *), cmp_word);
	return n;
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
	int			na,
				nb,
				common;
	char	   *ca,
			   *cb;

	if (a == NULL || b == NULL)
		return 0.0;
	ca = pstrdup(a);
	cb = pstrdup(b);
	na = sorted_words(ca, ta);
	nb = sorted_words(cb, tb);
	/* both lists are sorted: walk them together */
	common = identity_sorted_common(ta, na, tb, nb);
	pfree(ca);
	pfree(cb);
	/* as long and one syllable apart: a typo, or a sibling (see compare) */
	*all_but_one = na == nb && na >= 2 && common == na - 1;
	return na + nb > 0 ? 2.0 * common / (na + nb) : 0.0;
}

/* The number of syllables of a name's syllables (space-separated), 0 for none. */
static int
syllable_count(const char *syllables)
{
	int			n = 0;

	if (syllables == NULL || *syllables == '\0')
		return 0;
	for (const char *p = syllables; *p; p++)
		n += *p == ' ';
	return n + 1;
}

/*
 * Is a name in Latin script and not pinyin -- one of its words (the
 * syllables of name_syllables) no pinyin syllable?  Such names (Lachlan
 * Reid, Michaela Neumann) are compared by their letters, with typos in
 * mind; pinyin names (Zhang San) and Han ones by their syllables.
 */
bool
identity_latin_name(const char *syllables)
{
	const char *p = syllables;

	if (syllables == NULL)
		return false;
	while (*p)
	{
		int			len = strcspn(p, " ");

		if (len > 0 && !identity_pinyin_syllable(p, len))
			return true;
		p += len;
		while (*p == ' ')
			p++;
	}
	return false;
}

/*
 * Read how a record's name was written from its syllables column (see
 * identity_name_form, match.h): a tab parts the syllables from the
 * characters of a name in Chinese characters, or of an honorific's family
 * name (a record without a name key).  The syllables are cut at the tab
 * (in place), the characters left after their NUL.
 */
void
identity_read_name_form(IdentityRec *r)
{
	char	   *tab;

	r->name_form = NAME_FORM_OTHER;
	if (r->syllables == NULL || (tab = strchr(r->syllables, '\t')) == NULL)
		return;
	*tab = '\0';
	r->name_form = r->att[A_NAME_KEY] ? NAME_FORM_HAN : NAME_FORM_HONORIFIC;
}

/*
 * A family name and an honorific (王女士, h) against a name (o): is its
 * family name the other's -- the first syllables of a name in Chinese
 * characters, a word (or the words) of a name in pinyin or Latin letters,
 * where the family name may stand at either end?  By sound: a family name
 * heard on the phone (Xu: 徐 or 许) is written either way.
 */
static bool
honorific_family_agrees(const IdentityRec *h, const IdentityRec *o)
{
	const char *fam = h->syllables;
	size_t		l = strlen(fam);
	char	   *fw[64],
			   *ow[64];
	int			nf,
				no,
				found = 0;
	StringInfoData joined;
	bool		r = false;

	if (o->name_form == NAME_FORM_HAN)
		return strncmp(o->syllables, fam, l) == 0 && (o->syllables[l] == ' ' || o->syllables[l] == '\0');
	nf = sorted_words(pstrdup(fam), fw);
	no = sorted_words(pstrdup(o->syllables), ow);
	initStringInfo(&joined);
	/* (a compound family name: its syllables, or written as one word, ouyang) */
	for (int k = 0; k < nf; k++)
		appendStringInfoString(&joined, fw[k]);
	for (int j = 0; j < no && !r; j++)
		r = strcmp(ow[j], joined.data) == 0;
	for (int k = 0; k < nf && !r; k++)
		for (int j = 0; j < no; j++)
			if (strcmp(fw[k], ow[j]) == 0)
			{
				found++;
				break;
			}
	return r || found == nf;
}

/*
 * How alike two Latin names are: Jaro-Winkler of their keys, the best
 * over the rotations of one key at the start of each of its words -- so
 * that a typo moving where a key starts, or given and family names in
 * either order, still compare word with word.  (A word of pinyin letters,
 * "michaela", is split into syllables, which only adds places to start.)
 */
static double
latin_similarity(const IdentityRec *a, const IdentityRec *b)
{
	double		best = jw(a->att[A_NAME_KEY], b->att[A_NAME_KEY]);

	for (int side = 0; side < 2; side++)
	{
		const IdentityRec  *x = side == 0 ? a : b;
		const IdentityRec  *y = side == 0 ? b : a;
		const char *key = x->att[A_NAME_KEY];
		const char *p = x->syllables;
		int			klen = strlen(key);

		while (*p && best < 1.0)
		{
			int			len = strcspn(p, " ");
			char		word[64];
			const char *at;

			if (len > 0 && len < (int) sizeof(word))
			{
				memcpy(word, p, len);
				word[len] = '\0';
				at = strstr(key, word);
				if (at && at != key)
				{
					char	   *rot = palloc(klen + 1);
					int			off = at - key;

					memcpy(rot, at, klen - off);
					memcpy(rot + klen - off, key, off);
					rot[klen] = '\0';
					best = Max(best, jw(rot, y->att[A_NAME_KEY]));
					pfree(rot);
				}
			}
			p += len;
			while (*p == ' ')
				p++;
		}
	}
	return best;
}

/* Are the words of one name all among the other's (a given name left out)? */
static bool
name_part_missing(const char *a, const char *b)
{
	char	   *ta[64],
			   *tb[64];
	int			na,
				nb,
				common;
	char	   *ca = pstrdup(a);
	char	   *cb = pstrdup(b);

	na = sorted_words(ca, ta);
	nb = sorted_words(cb, tb);
	common = identity_sorted_common(ta, na, tb, nb);
	pfree(ca);
	pfree(cb);
	return na != nb && common > 0 && common == Min(na, nb);
}

/* Two parts of Latin names at least this alike (Jaro-Winkler) are close. */
#define LATIN_PART_CLOSE 0.92

/*
 * A Latin name's parts, from its words in written order (name_syllables
 * keeps a Latin name's order; "Reid, Lachlan" came as "lachlan reid"):
 * in the English order this reads names in, the family name is the last
 * word and the given names the words before it; first and rest split it
 * after its first word instead, as a name written family name first
 * would be.  False for a name of one word.
 */
typedef struct LatinParts
{
	char	   *given,
			   *family,
			   *first,
			   *rest;
} LatinParts;

static bool
latin_parts(const char *words, LatinParts *p)
{
	const char *last = strrchr(words, ' ');
	const char *sp = strchr(words, ' ');

	if (last == NULL || last == words || last[1] == '\0')
		return false;
	p->given = pnstrdup(words, last - words);
	p->family = pstrdup(last + 1);
	p->first = pnstrdup(words, sp - words);
	p->rest = pstrdup(sp + 1);
	return true;
}

static void
latin_parts_free(LatinParts *p)
{
	pfree(p->given);
	pfree(p->family);
	pfree(p->first);
	pfree(p->rest);
}

/* Are the words of x single letters, the initials of y's first words (j / john, j p / john paul)? */
static bool
initials_of(const char *x, const char *y)
{
	const char *q = y;
	bool		longer = false;

	for (const char *p = x; *p; p++)
	{
		if (*p == ' ')
			continue;
		if (p[1] != '\0' && p[1] != ' ')
			return false;
		if (*q != *p)
			return false;
		while (*q && *q != ' ')
		{
			q++;
			longer |= *q != ' ' && *q != '\0';
		}
		while (*q == ' ')
			q++;
	}
	return longer;
}

typedef enum PartLevel
{
	PART_EXACT,
	PART_INITIAL,
	PART_CLOSE,
	PART_DIFFERENT
} PartLevel;

/* One part of two Latin names against the other: the same, initials (given names only), close, or different. */
static PartLevel
part_level(const char *x, const char *y, bool initials)
{
	if (strcmp(x, y) == 0)
		return PART_EXACT;
	if (initials && (initials_of(x, y) || initials_of(y, x)))
		return PART_INITIAL;
	return jw(x, y) >= LATIN_PART_CLOSE ? PART_CLOSE : PART_DIFFERENT;
}

/* Is one name the other with its family name written first (reid lachlan / lachlan reid), typos allowed? */
static bool
parts_swapped(const LatinParts *a, const LatinParts *b)
{
	return (part_level(a->family, b->first, false) != PART_DIFFERENT &&
			part_level(a->given, b->rest, false) != PART_DIFFERENT) ||
		(part_level(b->family, a->first, false) != PART_DIFFERENT &&
		 part_level(b->given, a->rest, false) != PART_DIFFERENT);
}

typedef enum LatinLevel
{
	LATIN_NONE,
	LATIN_GIVEN_CLOSE,
	LATIN_GIVEN_INITIAL,
	LATIN_FAMILY_CLOSE,
	LATIN_SWAPPED,
	LATIN_FAMILY_ONLY,
	LATIN_GIVEN_ONLY
} LatinLevel;

/*
 * Two Latin names (their words in written order) that are not the same,
 * given name with given name and family name with family name
 * (Jaro-Winkler >= LATIN_PART_CLOSE is close): the family name the same
 * and the given name close, or an initial of the other; the given name
 * the same and the family name close; the two written in opposite orders;
 * the family name the same and the given names different (two of one
 * family), or the given name the same and the family names different.
 * LATIN_NONE when neither has two words, or typos are in both parts (the
 * letters of the whole names tell those).
 */
static LatinLevel
latin_level(const char *wa, const char *wb)
{
	LatinParts	a,
				b;
	PartLevel	f,
				g;
	LatinLevel	r;

	if (!latin_parts(wa, &a))
		return LATIN_NONE;
	if (!latin_parts(wb, &b))
	{
		latin_parts_free(&a);
		return LATIN_NONE;
	}
	f = part_level(a.family, b.family, false);
	g = part_level(a.given, b.given, true);
	if (f == PART_EXACT && g == PART_CLOSE)
		r = LATIN_GIVEN_CLOSE;
	else if (f == PART_EXACT && g == PART_INITIAL)
		r = LATIN_GIVEN_INITIAL;
	else if (g == PART_EXACT && f == PART_CLOSE)
		r = LATIN_FAMILY_CLOSE;
	else if (f != PART_DIFFERENT && g != PART_DIFFERENT)
		r = LATIN_NONE;
	else if (parts_swapped(&a, &b))
		r = LATIN_SWAPPED;
	else if (f == PART_EXACT)
		r = LATIN_FAMILY_ONLY;
	else if (g == PART_EXACT)
		r = LATIN_GIVEN_ONLY;
	else
		r = LATIN_NONE;
	/* (resolve compares pairs by the million, in one memory context) */
	latin_parts_free(&a);
	latin_parts_free(&b);
	return r;
}

/* Does a name's level say the two names are different ones (not a typo)? */
static bool
names_differ(const char *level)
{
	return strncmp(level, "disagree", 8) == 0 || strncmp(level, "family only", 11) == 0 ||
		strncmp(level, "given only", 10) == 0;
}

/*
 * Two addresses that are not the same but alike: the same numbers (house
 * number, postcode) in the same order, and letters alike (Jaro-Winkler of
 * what is left >= 0.88) -- typos in a street name, a suburb or a state
 * left out.  Two neighbours' addresses differ in their numbers.
 */
static bool
address_close(const char *a, const char *b)
{
	StringInfoData da,
				db,
				la,
				lb;
	bool		r;

	initStringInfo(&da);
	initStringInfo(&db);
	initStringInfo(&la);
	initStringInfo(&lb);
	for (int side = 0; side < 2; side++)
	{
		const char *s = side == 0 ? a : b;
		StringInfo	d = side == 0 ? &da : &db;
		StringInfo	l = side == 0 ? &la : &lb;
		bool		indigits = false;

		for (; *s; s++)
		{
			bool		digit = *s >= '0' && *s <= '9';

			/* numbers one space apart, whatever stands between them */
			if (digit && !indigits && d->len > 0)
				appendStringInfoChar(d, ' ');
			if (digit)
				appendStringInfoChar(d, *s);
			else if (*s != ' ')
				appendStringInfoChar(l, *s);
			indigits = digit;
		}
	}
	r = da.len > 0 && strcmp(da.data, db.data) == 0 && la.len > 0 && lb.len > 0 &&
		jw(la.data, lb.data) >= 0.88;
	pfree(da.data);
	pfree(db.data);
	pfree(la.data);
	pfree(lb.data);
	return r;
}

/*
 * Is one employer's name the other's brand (normalized, see
 * normalize_company): 九州 within 九州信息技术 (the brand, then its trade),
 * or 九州 (鸿运机械) against a name in Latin letters of which a word, or
 * words running on, are its pinyin -- the brand's first two syllables or
 * more (hangzhou jiuzhou information technology, hangzhou hongyun
 * machinery)?  Two characters at least; a name that is the other's whole
 * is no brand (two equal names agree).
 */
static bool
company_contains(const char *x, const char *y)
{
	bool		hx = (unsigned char) x[0] >= 0x80,
				hy = (unsigned char) y[0] >= 0x80;
	const char *han,
			   *latin;
	char	   *py;
	char	   *syl[64];
	char	   *save = NULL;
	int			ns = 0;
	bool		r = false;

	if (hx && hy)
	{
		size_t		lx = strlen(x),
					ly = strlen(y);
		const char *s = lx < ly ? x : y,
				   *l = lx < ly ? y : x;

		return pg_mbstrlen(s) >= 2 && strncmp(l, s, strlen(s)) == 0 && strlen(s) < strlen(l);
	}
	if (hx == hy)
		return false;
	han = hx ? x : y;
	latin = hx ? y : x;
	if (pg_mbstrlen(han) < 2)
		return false;
	py = identity_transliterate(han, strlen(han), IDENTITY_PINYIN);
	for (char *t = strtok_r(py, " ", &save); t && ns < 64; t = strtok_r(NULL, " ", &save))
		syl[ns++] = t;
	/* the brand's syllables, the longest first, against the words from each word on */
	for (int k = ns; k >= 2 && !r; k--)
	{
		StringInfoData brand;

		initStringInfo(&brand);
		for (int j = 0; j < k; j++)
			appendStringInfoString(&brand, syl[j]);
		for (const char *w = latin; *w && !r; w += strcspn(w, " "), w += strspn(w, " "))
		{
			const char *p = w;
			int			at = 0;

			/* the words from w on, their spaces skipped, spell the brand and end there */
			while (*p && at < brand.len && (*p == ' ' || *p == brand.data[at]))
			{
				if (*p != ' ')
					at++;
				p++;
			}
			r = at == brand.len && (*p == '\0' || *p == ' ') && p[-1] != ' ';
		}
		pfree(brand.data);
	}
	pfree(py);
	return r;
}

/* Is a normalized phone a mainland mobile number (+861[3-9]...)? */
bool
identity_is_mobile(const char *phone)
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

/*
 * Are two days (or two months) one typo apart: one apart (12 / 13), one
 * of their two digits changed (12 / 17, 03 / 08), or the two swapped
 * (12 / 21)?
 */
static bool
field_typo(int x, int y)
{
	if (x == y)
		return false;
	if (abs(x - y) == 1 || x / 10 == y / 10 || x % 10 == y % 10)
		return true;
	return x / 10 == y % 10 && x % 10 == y / 10;
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
 * Are two identifiers one typo apart -- a character replaced, inserted or
 * left out, or two neighbours swapped -- and long enough (5 or more
 * characters) for a typo to be told from another number?
 */
static bool
one_typo(const char *x, const char *y)
{
	size_t		lx = strlen(x),
				ly = strlen(y);
	size_t		i = 0;

	if (lx > ly)
	{
		const char *t = x;
		size_t		tl = lx;

		x = y;
		y = t;
		lx = ly;
		ly = tl;
	}
	if (lx < 5 || ly - lx > 1)
		return false;
	while (i < lx && x[i] == y[i])
		i++;
	if (lx < ly)
		return strcmp(x + i, y + i + 1) == 0;
	if (i == lx)
		return false;
	if (strcmp(x + i + 1, y + i + 1) == 0)
		return true;
	return i + 1 < lx && x[i] == y[i + 1] && x[i + 1] == y[i] && strcmp(x + i + 2, y + i + 2) == 0;
}

/*
 * A declared attribute's comparison: agree, close (a date with day and
 * month swapped or a year mistyped, a number within the tolerance, a
 * string with Jaro-Winkler >= 0.9), a date one field off (the same year,
 * and the same month with the day one typo off, or the same day with the
 * month one typo off: a level of its own) or disagree.
 */
static void
compare_declared(const IdentityModel *m, const IdentityDeclared *d, const char *x, const char *y, IdentityAttCmp *c)
{
	bool		same = strcmp(x, y) == 0;

	c->level = same ? "agree" : "disagree";
	if (!same)
		switch (d->compare)
		{
			case CMP_EXACT:
				/* an identifier (a blocking key) mistyped once */
				if (d->block && one_typo(x, y))
					c->level = "close, one typo";
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
						else if (y1 == y2 && ((m1 == m2 && field_typo(d1, d2)) || (d1 == d2 && field_typo(m1, m2))))
							c->level = "close, one field off";
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
	if (strcmp(c->level, "close, one field off") == 0)
		c->weight = d->one_field_off;

	/*
	 * the population scale, as for the built-in kinds (see tf): two rows
	 * sharing a date of birth or a passport number among many people is
	 * stronger evidence than among few -- except a number within a
	 * tolerance, which is no value shared
	 */
	if (c->level[0] == 'a' || (c->level[0] == 'c' && d->compare != CMP_NUMBER))
		c->weight += m->scale;
}

/*
 * Compare two records: per-attribute levels and weights into cmp (may be
 * NULL), the total into *score; the rule that matched them (or NULL) is
 * returned through *rule.  only >= 0: attribute only's level and weight
 * alone, into cmp[only] (the name's or the ID number's: their levels
 * depend on no other attribute), nothing else.
 */
static void
compare_records(const IdentityModel *m, const IdentityRec *a, const IdentityRec *b, IdentityAttCmp *cmp, double *score,
				const char **rule, int only)
{
	IdentityAttCmp		c[MAX_ATTS];
	double		total = 0;
	bool		conflict;

	Assert(only < 0 || only == A_NAME_KEY || only == A_ID_NUMBER);
	for (int i = 0; i < A_NATTS; i++)
	{
		c[i].level = "missing";
		c[i].weight = 0;
		c[i].similarity = -1;
		if (only >= 0 && i != only)
			continue;

		/*
		 * a family name and an honorific (王女士, 张总: no name key) against
		 * a name: its family name is evidence -- the same as the other's
		 * (王敏娜), or another (李敏娜: a household member on the family's
		 * phone, never the same person); two honorifics say nothing
		 */
		if (i == A_NAME_KEY && (a->att[i] == NULL) != (b->att[i] == NULL))
		{
			const IdentityRec *h = a->att[i] ? b : a;
			const IdentityRec *o = a->att[i] ? a : b;

			if (h->name_form == NAME_FORM_HONORIFIC && o->syllables)
			{
				bool		agree = honorific_family_agrees(h, o);

				c[i].level = agree ? "family, of an honorific" : "disagree, an honorific of another family name";
				c[i].weight = agree ? m->name_honorific_family : m->name_honorific_conflict;
				total += c[i].weight;
				continue;
			}
		}
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
					if (same && i == A_PHONE && !identity_is_mobile(a->att[i]))
					{
						c[i].level = "agree, landline";
						agree = m->phone_agree_landline;
					}
					else
						c[i].level = same ? "agree" : "disagree";
					c[i].weight = same ? tf(m, agree, a->spread[i]) : dis;
					/* a mobile and a landline are not two answers to one question */
					if (!same && i == A_PHONE && identity_is_mobile(a->att[i]) != identity_is_mobile(b->att[i]))
					{
						c[i].level = "disagree, mobile and landline";
						c[i].weight = 0;
					}
					/* a widely shared value (a switchboard) cannot contradict */
					if (!same && (identity_widely_shared(a->spread[i]) || identity_widely_shared(b->spread[i])))
					{
						c[i].level = "disagree, shared value";
						c[i].weight = 0;
					}

					/*
					 * two mobiles one typo apart (a digit replaced, two
					 * neighbours swapped: 13559959934 / 13559953934), as
					 * ID numbers are -- but not the last digit alone:
					 * numbers bought together (an employer's, a family
					 * plan's) run on in it, 13700000001 / 13700000002
					 */
					if (!same && i == A_PHONE && strcmp(c[i].level, "disagree") == 0 &&
						identity_is_mobile(a->att[i]) && identity_is_mobile(b->att[i]) &&
						one_typo(a->att[i], b->att[i]) &&
						strncmp(a->att[i], b->att[i], strlen(a->att[i]) - 1) != 0)
					{
						c[i].level = "close, one typo";
						c[i].weight = m->phone_close;
					}

					/*
					 * ID numbers one typo apart (a digit replaced, left
					 * out or doubled, two neighbours swapped): a resident
					 * ID number with a typo fails its check character,
					 * and normalize_id keeps it as "typo:" and its
					 * characters, to be compared here; one that is further
					 * from the other says nothing against it
					 */
					if (!same && i == A_ID_NUMBER)
					{
						const char *x = identity_id_digits(a->att[i]),
								   *y = identity_id_digits(b->att[i]);

						if (one_typo(x, y))
						{
							c[i].level = "close, one typo";
							c[i].weight = m->id_close;
						}
						else if (x != a->att[i] || y != b->att[i])
						{
							c[i].level = "disagree, a number with a typo";
							c[i].weight = 0;
						}
					}

					/*
					 * a phone or email held under several names, and these
					 * two names differ (not a typo: no syllables in
					 * common to speak of): a household's or an office's
					 * number, shared by two people, says nothing about
					 * their being one
					 */
					if (same && i != A_ID_NUMBER &&
						((a->spread[i] > 1 && names_differ(c[A_NAME_KEY].level)) ||
						 strcmp(c[A_NAME_KEY].level, "disagree, an honorific of another family name") == 0))
					{
						c[i].level = "agree, shared by different names";
						c[i].weight = 0;
					}
					break;
				}
			case A_NAME_KEY:
				{
					bool		partial = false;
					bool		same = strcmp(a->att[i], b->att[i]) == 0;
					double		s = same ? 1.0 : syllable_dice(a->syllables, b->syllables, &partial);
					bool		latin = a->latin && b->latin && a->syllables && b->syllables;
					bool		han = a->name_form == NAME_FORM_HAN && b->name_form == NAME_FORM_HAN;
					LatinLevel	lv = LATIN_NONE;

					c[i].similarity = s;
					if (latin && !same && !name_part_missing(a->syllables, b->syllables))
						lv = latin_level(a->syllables, b->syllables);
					if (same && latin && strcmp(a->syllables, b->syllables) != 0)
					{
						/*
						 * the same letters in another order: given and
						 * family names swapped (reid lachlan / lachlan
						 * reid) is a level of its own, a value shared
						 */
						LatinParts	pa,
									pb;

						if (latin_parts(a->syllables, &pa))
						{
							if (latin_parts(b->syllables, &pb))
							{
								if (parts_swapped(&pa, &pb))
									lv = LATIN_SWAPPED;
								latin_parts_free(&pb);
							}
							latin_parts_free(&pa);
						}
					}
					if (han && s >= 1.0 && strcmp(a->syllables, b->syllables) != 0)
					{
						/*
						 * two names in Chinese characters of the same
						 * syllables in another order: written in
						 * characters, the family name comes first, so
						 * where the keys are rotations of one another (于洋
						 * / 杨宇, yangyu) one's family name is the other's
						 * given name -- two names, not one in another
						 * order; with the family name the same, the given
						 * name's characters swapped (王建明 / 王铭建)
						 */
						size_t		fa = strcspn(a->syllables, " "),
									fb = strcspn(b->syllables, " ");

						if (fa == fb && strncmp(a->syllables, b->syllables, fa) == 0)
						{
							c[i].level = "partial, characters in another order";
							c[i].similarity = 0.5;
							c[i].weight = m->name_partial;
						}
						else
						{
							c[i].level = "disagree, another family name";
							c[i].similarity = 0;
							c[i].weight = m->name_disagree;
						}
					}
					else if (same && han &&
							 strcmp(identity_name_chars(a->syllables), identity_name_chars(b->syllables)) != 0)
					{
						/*
						 * one sound, other characters (徐超伟 / 许超伟, 王晶 /
						 * 王静): a name heard and typed, or two people -- a
						 * level of its own, a value shared as an exact name
						 * is
						 */
						c[i].level = "exact, homophone";
						c[i].similarity = 0.95;
						c[i].weight = tf(m, m->name_homophone, a->spread[i]);
					}
					else if (lv == LATIN_SWAPPED && same)
					{
						c[i].level = "swapped, given and family";
						c[i].weight = m->name_swapped + m->scale;
					}
					else if (s >= 1.0 && a->spread[i] <= 1 && same)
					{
						/*
						 * a name one person holds (one phone behind it, or
						 * none): a level of its own, for a trained model
						 * learns how rarely two people share such a name,
						 * which the people a common name counts do not tell
						 */
						c[i].level = "exact, one person";
						c[i].weight = tf(m, m->name_exact_unique, 1);
					}
					else if (s >= 1.0)
					{
						c[i].level = "exact";
						/* a common name says less */
						c[i].weight = tf(m, m->name_exact, a->spread[i]);
					}
					else if (latin && name_part_missing(a->syllables, b->syllables))
					{
						/* one name with a word fewer (no given name): neither for nor against */
						c[i].level = "partial, a word missing";
						c[i].weight = m->name_partial;
					}
					else if (latin && lv != LATIN_NONE && lv != LATIN_FAMILY_ONLY && lv != LATIN_GIVEN_ONLY)
					{
						/*
						 * Latin names compared given name with given name,
						 * family name with family name: one the same and
						 * the other a typo (or an initial) away, or the
						 * two swapped -- each a level of its own, a value
						 * shared (with the population's scale); the
						 * letters of the whole names as the similarity
						 */
						c[i].similarity = latin_similarity(a, b);
						c[i].level = lv == LATIN_GIVEN_CLOSE ? "family exact, given close" :
							lv == LATIN_GIVEN_INITIAL ? "family exact, given an initial" :
							lv == LATIN_FAMILY_CLOSE ? "given exact, family close" : "swapped, given and family";
						c[i].weight = m->scale +
							(lv == LATIN_GIVEN_CLOSE ? m->name_given_close :
							 lv == LATIN_GIVEN_INITIAL ? m->name_given_initial :
							 lv == LATIN_FAMILY_CLOSE ? m->name_family_close : m->name_swapped);
					}
					else if (latin && (c[i].similarity = latin_similarity(a, b)) >= 0.88)
					{
						/*
						 * Latin names a typo apart (lachlan reid /
						 * lachlnn reid): letters, not syllables, and a
						 * value shared like an exact name, so with the
						 * population's scale
						 */
						bool		close = c[i].similarity >= 0.94;

						c[i].level = close ? "close, typo" : "near, typos";
						c[i].weight = (close ? m->name_close : m->name_near) + m->scale;
					}
					else if (lv == LATIN_FAMILY_ONLY || lv == LATIN_GIVEN_ONLY)
					{
						/*
						 * the same family name and different given names
						 * (two of one family), or the same given name and
						 * different family names (a married name, or
						 * another person)
						 */
						c[i].level = lv == LATIN_FAMILY_ONLY ? "family only, given different" :
							"given only, family different";
						c[i].weight = lv == LATIN_FAMILY_ONLY ? m->name_family_only : m->name_given_only;
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
					else if (partial && !a->latin && !b->latin && syllable_count(a->syllables) >= 3)
					{
						/*
						 * names of three or more characters, one of them
						 * different (王明峰 / 王蔷峰): a typo far more often
						 * than two people, whose names share the surname
						 * alone (of a two-character name, 王伟 / 王芳 of
						 * one family, it is all the two share) -- as near
						 * as names come in Han script, and learned as such
						 */
						c[i].level = "near, one character of three";
						c[i].weight = m->name_near;
					}
					else if (partial)
					{
						/*
						 * 张三 / 张山 typed wrong, or 王伟 / 王芳 of one
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

					/*
					 * one name the other's brand (九州 / 九州信息技术 /
					 * Hangzhou Jiuzhou Information Technology): a level of
					 * its own, a value shared as the employer is, the
					 * larger one's people counted
					 */
					if (s < 0.9 && company_contains(a->att[i], b->att[i]))
					{
						c[i].level = "contained, one name the other's brand";
						c[i].weight = Max(tf(m, m->company_contained, Max(a->spread[i], b->spread[i])), 0.0);
					}

					/*
					 * Two people of the name work there (two mobiles behind
					 * it at the employer) and these rows carry two different
					 * mobiles: the employer, shared by namesakes, does not
					 * tell them apart.  A trained model counts it as nothing
					 * -- the name and the employer are one piece of evidence
					 * there -- and training leaves such pairs out of the
					 * company's counts (taken for one person, they taught
					 * that one person's rows often carry two mobiles).
					 */
					/*
					 * one name of two cities' employers (上海中科科技有限公司,
					 * 中科科技(广州)): two companies of one name, not one --
					 * alike, as a name a typo away is
					 */
					if (s >= 1.0 && a->company_place != 0 && b->company_place != 0 &&
						a->company_place != b->company_place)
					{
						c[i].level = "close, another city's";
						c[i].weight = Min(m->company_close, agree);
						break;
					}
					/*
					 * a landline several people of the employer share is its
					 * switchboard: with the employer agreeing, the two are
					 * one piece of evidence (as a household's landline and
					 * address are), counted once, as the employer
					 */
					if (c[i].level[0] == 'a' && strcmp(c[A_PHONE].level, "agree, landline") == 0 &&
						a->spread[A_PHONE] > 1)
					{
						total -= c[A_PHONE].weight;
						c[A_PHONE].level = "agree, the employer's switchboard";
						c[A_PHONE].weight = 0;
					}
					if (s >= 1.0 && a->employer_mobiles >= 2 && c[A_NAME_KEY].similarity >= 1.0 &&
						strcmp(a->att[A_NAME_KEY], b->att[A_NAME_KEY]) == 0 &&
						strcmp(c[A_PHONE].level, "disagree") == 0 &&
						identity_is_mobile(a->att[A_PHONE]) && identity_is_mobile(b->att[A_PHONE]))
					{
						c[i].level = "agree, several people of the name there";
						if (m->trained)
							c[i].weight = 0;
					}
					break;
				}
			case A_ADDRESS:
				{
					bool		same = strcmp(a->att[i], b->att[i]) == 0;

					/*
					 * an address is a value shared too: it gains the
					 * scale -- unless a landline agrees as well: the two
					 * are one household's, shared by a family, and
					 * count as one piece of evidence that rises with the
					 * population, not two
					 */
					bool		household = strcmp(c[A_PHONE].level, "agree, landline") == 0;
					double		scale = household ? 0 : m->scale;

					/*
					 * and less for an address many people share (an
					 * office's: 520 people at one building), by their
					 * number as for an employer, never less than nothing
					 */
					c[i].level = same ? "agree" : "disagree";
					c[i].weight = same ? Max(tf(m, m->address_agree, a->spread[i]) - m->scale + scale, 0.0) :
						m->address_disagree;
					if (!same && address_close(a->att[i], b->att[i]))
					{
						c[i].level = "close";
						c[i].weight = Max(tf(m, m->address_close, Max(a->spread[i], b->spread[i])) - m->scale + scale, 0.0);
					}

					/*
					 * A trained model's weights are learned as independent
					 * pieces of evidence: given the landline, the address
					 * is the household's whether the two are one person
					 * or two of a family (m = u), and says nothing more
					 */
					if (household && m->trained && c[i].level[0] != 'd')
					{
						c[i].level = "agree, the landline's household";
						c[i].weight = 0;
					}

					/*
					 * nor, given the employer, is its office: two people of
					 * one employer write its address as one person does
					 * (m = u), and an address with an employer agreeing
					 * says nothing more (colleagues at a small office were
					 * taken for one person on the two)
					 */
					else if (m->trained && c[i].level[0] != 'd' && c[A_COMPANY].level[0] == 'a')
					{
						c[i].level = "agree, the employer's office";
						c[i].weight = 0;
					}
					break;
				}
		}
		total += c[i].weight;
	}
	if (only >= 0)
	{
		cmp[only] = c[only];
		return;
	}

	for (int j = 0; j < m->ndeclared; j++)
	{
		IdentityAttCmp	   *cj = &c[A_NATTS + j];

		cj->level = "missing";
		cj->weight = 0;
		cj->similarity = -1;
		if (a->att[A_NATTS + j] == NULL || b->att[A_NATTS + j] == NULL)
			continue;
		compare_declared(m, &m->declared[j], a->att[A_NATTS + j], b->att[A_NATTS + j], cj);
		total += cj->weight;
	}

	/*
	 * A common name at a large employer: each says little (many 杨华, many
	 * staff), and their sum may not reach the threshold.  But if one person
	 * of that name works there (one mobile number behind the name at the
	 * employer), the two together single out one person, as a rare name
	 * would: the name's and the company's weights as for unique values.
	 */
	if (a->employer_mobiles == 1 && b->employer_mobiles == 1 &&
		c[A_NAME_KEY].similarity >= 1.0 && c[A_COMPANY].similarity >= 1.0 &&
		c[A_COMPANY].level[0] == 'a' &&
		strcmp(a->att[A_NAME_KEY], b->att[A_NAME_KEY]) == 0)
	{
		double		joint = m->name_exact + m->company_agree + m->scale;
		double		apart = c[A_NAME_KEY].weight + c[A_COMPANY].weight;

		if (joint > apart)
		{
			c[A_COMPANY].level = "agree, one person of the name there";
			c[A_COMPANY].weight = joint - c[A_NAME_KEY].weight;
			total += joint - apart;
		}
	}

	/*
	 * A hard conflict vetoes the phone rule: two 李明 at one family phone
	 * with different ID numbers (or different values of a declared
	 * identifier, or birth dates outright different) are two people.  The
	 * score still counts everything.
	 */
	conflict = strcmp(c[A_ID_NUMBER].level, "disagree") == 0;
	for (int j = 0; j < m->ndeclared && !conflict; j++)
		conflict = (m->declared[j].block || m->declared[j].compare == CMP_DATE) &&
			strcmp(c[A_NATTS + j].level, "disagree") == 0;
	*rule = NULL;
	if (strcmp(c[A_ID_NUMBER].level, "agree") == 0 && !identity_widely_shared(a->spread[A_ID_NUMBER]) &&
		identity_id_digits(a->att[A_ID_NUMBER]) == a->att[A_ID_NUMBER])
		*rule = "rule: same ID number";
	else if (!conflict && strncmp(c[A_PHONE].level, "agree", 5) == 0 && !identity_widely_shared(a->spread[A_PHONE]) &&
			 c[A_NAME_KEY].similarity >= m->rule_name_min)
		*rule = "rule: same phone, same name";
	*score = total;
	if (cmp)
		memcpy(cmp, c, sizeof(IdentityAttCmp) * (A_NATTS + m->ndeclared));
}

void
identity_compare(const IdentityModel *m, const IdentityRec *a, const IdentityRec *b, IdentityAttCmp *cmp, double *score,
				 const char **rule)
{
	compare_records(m, a, b, cmp, score, rule, -1);
}

/*
 * The level of the name (A_NAME_KEY) or the ID number (A_ID_NUMBER) of two
 * records, as identity_compare finds it, without comparing the rest.
 */
const char *
identity_compare_level(const IdentityModel *m, const IdentityRec *a, const IdentityRec *b, int att)
{
	IdentityAttCmp c[MAX_ATTS];

	compare_records(m, a, b, c, NULL, NULL, att);
	return c[att].level;
}
