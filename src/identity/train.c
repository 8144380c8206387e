/*-------------------------------------------------------------------------
 *
 * train.c
 *	  The learned model: identity_train_fit() estimates, for each attribute
 *	  and agreement level, u -- how often the records of two different
 *	  people reach it -- from random pairs of records, and m -- how often
 *	  two records of one person do -- by expectation-maximisation over the
 *	  pairs each blocking rule brings together, the attributes it blocks on
 *	  left out, as Splink does -- then the share of matches among the
 *	  candidate pairs resolve compares: Fellegi-Sunter fitted without
 *	  labels (see fit_model).  The levels are
 *	  identity_compare()'s, so training, resolve and why_matched agree.
 *
 *	  Weights are stored on the table's basis (a population of 1,000
 *	  records, see score.c's tf): a level whose weight score.c raises by
 *	  the population's scale is stored with that scale taken off, and u of
 *	  a level score.c adjusts for the number of people sharing the value
 *	  (term frequency) is u per person sharing it, so that the score of a
 *	  pair is the sum of the log2(m/u) learned.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "identity/identity.h"
#include "identity/match.h"

PG_FUNCTION_INFO_V1(concord_identity_train_fit);

#define MAX_LEVELS 16
#define NO_LEVEL 255
/* EM stops when no m moves by more than this, or after so many rounds */
#define EM_TOLERANCE 1e-4
#define EM_MAX_ITERATIONS 100
/* u of the same-value levels is corrected so many times at most, or until the share of matches moves less than this */
#define U_PASSES 6
#define U_TOLERANCE 0.002
/* a level seen in fewer candidate pairs keeps the weight it had */
#define MIN_PAIRS 5
/* log2 Bayes factors are kept within this (identity_attribute_create's bound) */
#define MAX_WEIGHT 30.0

/* The levels of each built-in attribute, as concord.identity_weight names them. */
static const char *const builtin_levels[A_NATTS][MAX_LEVELS] = {
	[A_NAME_KEY] = {"exact_unique", "exact", "close", "near", "partial", "disagree", "swapped", "given_close",
	"given_initial", "family_close", "family_only", "given_only", "homophone", "honorific_family",
	"honorific_conflict"},
	[A_PHONE] = {"agree", "agree_landline", "disagree", "close"},
	[A_EMAIL] = {"agree", "disagree"},
	[A_COMPANY] = {"agree", "close", "disagree", "contained"},
	[A_ADDRESS] = {"agree", "close", "disagree"},
	[A_ID_NUMBER] = {"agree", "disagree", "close"},
};
static const int builtin_nlevels[A_NATTS] = {15, 4, 2, 4, 3, 3};
static const char *const builtin_names[A_NATTS] = {
	"name", "phone", "email", "company", "address", "id_number"
};

/* What training knows of one attribute. */
typedef struct TrainAtt
{
	const char *name;
	int			nlev;
	const char *lev[MAX_LEVELS];
	double		urand[MAX_LEVELS];	/* random pairs at each level (see below) */
	double		urand_n;		/* random pairs it was compared in */
	double		ufreq[MAX_LEVELS];	/* agreement, from value frequencies, or -1 */
	double		upairs;			/* the pairs of records that both hold a value */
	double		ufloor[MAX_LEVELS];
	double		u[MAX_LEVELS];
	double		m[MAX_LEVELS];
	double		cand[MAX_LEVELS];	/* candidate pairs at each level */
	double		fit[MAX_LEVELS];	/* pairs m is learned from at each level
									 * (of the rules that leave it free) */
	bool		joint;			/* no rule leaves it free (see fit_model) */
	bool		from_joint[MAX_LEVELS]; /* no rule's fit reaches the level:
										 * m of the joint fit (see fit_model) */
	double		scaled[MAX_LEVELS]; /* pairs at the level whose weight gains
									 * the population's scale */
	double		seen[MAX_LEVELS];
} TrainAtt;

/*
 * A candidate pair as EM sees it: a level per attribute, its tf bits (of
 * every attribute, and of those its rule leaves free), the rule that
 * brought it together, and whether that is the first rule that does (a
 * pair of the candidates resolve compares: each once).
 */
typedef struct TrainPair
{
	float		tf;
	float		tf_free;
	uint8		rule;
	bool		first;
	bool		fit;			/* in its rule's fit (see classify_pair) */
	uint8		lev[MAX_ATTS];
	float		per_person[A_NATTS];	/* 1 / the people sharing the value,
										 * as frequency_u counts them */
} TrainPair;

static double
spread_bits(int spread)
{
	return spread > 1 ? log2((double) spread) : 0.0;
}

/*
 * The level of attribute i in a compared pair, as an index into the
 * attribute's levels, or -1 when it says nothing (missing, or a value
 * score.c reads as neither for nor against: a widely shared phone, one a
 * household of different names shares, a mobile against a landline).
 * *tf: the bits score.c takes off for the people sharing the value;
 * *scaled: whether score.c adds the population's scale to the weight.
 */
int
identity_level_index(const IdentityModel *m, int i, const IdentityAttCmp *c, const IdentityRec *a, const IdentityRec *b,
					 double *tf, bool *scaled)
{
	const char *l = c[i].level;

	*tf = 0;
	*scaled = false;
	if (strcmp(l, "missing") == 0)
		return -1;
	if (i >= A_NATTS)
	{
		const IdentityDeclared *d = &m->declared[i - A_NATTS];

		if (l[0] == 'a')
		{
			*scaled = true;
			return 0;
		}
		if (l[0] == 'c')
		{
			*scaled = d->compare != CMP_NUMBER;
			/* a date one field off: a level of its own */
			return strcmp(l, "close, one field off") == 0 ? 3 : 1;
		}
		return d->compare == CMP_EXACT && !d->block ? 1 : 2;
	}
	switch (i)
	{
		case A_NAME_KEY:
			if (strcmp(l, "exact, one person") == 0)
			{
				*scaled = true;
				return 0;
			}
			if (strcmp(l, "exact") == 0 || strcmp(l, "exact, homophone") == 0)
			{
				*scaled = true;
				*tf = spread_bits(a->spread[i]);
				return l[5] == ',' ? 12 : 1;
			}
			/* a family name and an honorific against a name */
			if (strcmp(l, "family, of an honorific") == 0)
				return 13;
			if (strcmp(l, "disagree, an honorific of another family name") == 0)
				return 14;
			if (strncmp(l, "close", 5) == 0)
			{
				/* a Latin name's typo is a value shared (see identity_compare) */
				*scaled = strcmp(l, "close, typo") == 0;
				return 2;
			}
			if (strncmp(l, "near", 4) == 0)
			{
				*scaled = strcmp(l, "near, typos") == 0;
				return 3;
			}
			if (strncmp(l, "partial", 7) == 0)
				return 4;
			/* a Latin name's given and family names (see identity_compare) */
			if (strncmp(l, "swapped", 7) == 0)
			{
				*scaled = true;
				return 6;
			}
			if (strncmp(l, "family exact", 12) == 0)
			{
				*scaled = true;
				return strcmp(l, "family exact, given close") == 0 ? 7 : 8;
			}
			if (strncmp(l, "given exact", 11) == 0)
			{
				*scaled = true;
				return 9;
			}
			if (strncmp(l, "family only", 11) == 0)
				return 10;
			if (strncmp(l, "given only", 10) == 0)
				return 11;
			return 5;
		case A_PHONE:
		case A_EMAIL:
		case A_ID_NUMBER:
			if (strcmp(l, "agree") == 0 || strcmp(l, "agree, landline") == 0)
			{
				*scaled = true;
				*tf = spread_bits(a->spread[i]);
				return l[5] == ',' ? 1 : 0;
			}
			if (strcmp(l, "disagree") == 0)
				return i == A_PHONE ? 2 : 1;
			if (strcmp(l, "close, one typo") == 0)
				return i == A_ID_NUMBER ? 2 : i == A_PHONE ? 3 : -1;
			return -1;
		case A_COMPANY:
			if (strncmp(l, "agree, several", 14) == 0)
				return -1;
			if (strncmp(l, "agree", 5) == 0)
			{
				*scaled = true;
				/*
				 * one person of the name there: name and employer weigh as
				 * unique values (the name's tf given back)
				 */
				*tf = strcmp(l, "agree") == 0 ? spread_bits(Max(a->spread[i], b->spread[i])) :
					-spread_bits(a->spread[A_NAME_KEY]);
				return 0;
			}
			/* one name the other's brand: a value shared (see score.c) */
			if (strncmp(l, "contained", 9) == 0)
			{
				*scaled = true;
				*tf = spread_bits(Max(a->spread[i], b->spread[i]));
				return 3;
			}
			return strncmp(l, "close", 5) == 0 ? 1 : 2;
		case A_ADDRESS:
			{
				/* a household's address and landline: one piece of evidence */
				bool		household = strcmp(c[A_PHONE].level, "agree, landline") == 0;

				/*
				 * (the address of the household whose landline agrees:
				 * trained, it says nothing; not counted while training)
				 */
				if (household && l[0] != 'd')
					return -1;
				/* (nor the employer's office: see score.c) */
				if (c[A_COMPANY].level[0] == 'a' && l[0] != 'd')
					return -1;
				/* (an address many people share weighs less: see score.c) */
				if (strcmp(l, "agree") == 0)
				{
					*scaled = !household;
					*tf = spread_bits(a->spread[i]);
					return 0;
				}
				if (strncmp(l, "close", 5) == 0)
				{
					*scaled = !household;
					*tf = spread_bits(Max(a->spread[i], b->spread[i]));
					return 1;
				}
				return 2;
			}
	}
	return -1;
}

/* The name concord.identity_weight gives level k of attribute i. */
const char *
identity_level_name(const IdentityModel *m, int i, int k)
{
	if (i < A_NATTS)
		return builtin_levels[i][k];
	if (k == 0)
		return "agree";
	if (k == 3)
		return "one_field_off";
	if (k == 2 || (m->declared[i - A_NATTS].compare == CMP_EXACT && !m->declared[i - A_NATTS].block))
		return "disagree";
	return "close";
}

static void
init_atts(const IdentityModel *m, TrainAtt *atts, int natts)
{
	memset(atts, 0, sizeof(TrainAtt) * natts);
	for (int i = 0; i < natts; i++)
	{
		TrainAtt   *t = &atts[i];

		if (i < A_NATTS)
		{
			t->name = builtin_names[i];
			t->nlev = builtin_nlevels[i];
		}
		else
		{
			const IdentityDeclared *d = &m->declared[i - A_NATTS];

			t->name = d->name;
			t->nlev = d->compare == CMP_EXACT && !d->block ? 2 : d->compare == CMP_DATE ? 4 : 3;
		}
		for (int k = 0; k < t->nlev; k++)
		{
			t->lev[k] = identity_level_name(m, i, k);
			t->ufreq[k] = -1;
		}
	}
}

/* Are attribute i's values counted per person sharing them (score.c's tf)? */
static bool
counted_per_person(int i)
{
	return i == A_NAME_KEY || i == A_PHONE || i == A_EMAIL || i == A_ID_NUMBER || i == A_COMPANY ||
		i == A_ADDRESS;
}

/*
 * u of the levels "the same value" from how many records hold each value:
 * the share of all pairs of records (both with a value) that hold the same
 * one -- a level random pairs would almost never show among a million
 * records.  Counted per person sharing the value where score.c adjusts for
 * them (tf), so that u times a value's spread is that value's u.
 */
static void
frequency_u(const IdentityModel *m, IdentityRec *recs, TrainAtt *atts, int i, HTAB *h)
{
	HASH_SEQ_STATUS seq;
	IdentityBlock *b;
	double		nn = 0,
				agree[2] = {0, 0},
				all;
	bool		tf = counted_per_person(i);

	CHECK_FOR_INTERRUPTS();
	hash_seq_init(&seq, h);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		double		pairs = (double) b->n * (b->n - 1) / 2.0;
		int			spread = i < A_NATTS ? recs[b->members[0]].spread[i] : 1;
		/* a landline; a name several people hold */
		int			k = (i == A_PHONE && !identity_is_mobile(b->value)) ||
			(i == A_NAME_KEY && spread > 1) ? 1 : 0;

		nn += b->n;
		agree[k] += tf && spread > 1 ? pairs / spread : pairs;
	}
	all = nn * (nn - 1) / 2.0;
	atts[i].upairs = all;
	if (all <= 0)
		return;
	for (int k = 0; k < (i == A_PHONE || i == A_NAME_KEY ? 2 : 1); k++)
	{
		atts[i].ufreq[k] = agree[k] / all;
		/* below one pair in all there is nothing to tell */
		atts[i].ufloor[k] = 1.0 / all;
	}
}

/*
 * One EM run from the posteriors in post, u fixed: M-step (m of the
 * attributes in use when learn, else m as given; and the share of matches
 * lambda), E-step (each pair's posterior from the attributes in use),
 * until neither m nor lambda moves by more than EM_TOLERANCE.  Returns the
 * rounds run; *converged.
 *
 * within: pairs[from, to) are one rule's pairs and use leaves out the
 * attributes it blocks on; the prior is the share of matches among them
 * (lambda), and the tf bits those of the attributes in use.  Else the
 * pairs are those of the union in pairs[from, to) (each candidate pair
 * once), with every attribute in use: the candidate pairs are those that
 * agree on a blocking key -- a function of their levels -- so a pair's
 * posterior is that of any pair of records with its levels, and the prior
 * is the share of matches among all pairs (lambda_all: the matches counted
 * among the candidates, every pair of one person being a candidate, over
 * all pairs); fitted: the share of the candidate pairs in pairs.
 */
static int
em(TrainAtt *atts, int natts, TrainPair *pairs, int from, int to, double *post, const bool *use, bool learn,
   bool within, double fitted, double all_pairs, double m[][MAX_LEVELS], double *lambda, double *lambda_all,
   bool *converged)
{
	int			iter;
	double		logu[MAX_ATTS][MAX_LEVELS];
	double		prev = -1;

	for (int i = 0; i < natts; i++)
		for (int k = 0; k < atts[i].nlev; k++)
			logu[i][k] = log2(atts[i].u[k]);
	*converged = false;
	for (iter = 1; iter <= EM_MAX_ITERATIONS; iter++)
	{
		double		num[MAX_ATTS][MAX_LEVELS];
		double		den[MAX_ATTS];
		double		sum = 0,
					cnt = 0,
					delta = 0,
					logm[MAX_ATTS][MAX_LEVELS],
					prior;

		CHECK_FOR_INTERRUPTS();
		memset(num, 0, sizeof(num));
		memset(den, 0, sizeof(den));
		for (int p = from; p < to; p++)
		{
			if (within ? !pairs[p].fit : !pairs[p].first)
				continue;
			sum += post[p];
			cnt++;
			if (learn)
				for (int i = 0; i < natts; i++)
					if (use[i] && pairs[p].lev[i] != NO_LEVEL)
					{
						num[i][pairs[p].lev[i]] += post[p];
						den[i] += post[p];
					}
		}
		/* (a pseudo-count of one pair spread over the levels: none is m = 0) */
		for (int i = 0; i < natts; i++)
			for (int k = 0; k < atts[i].nlev; k++)
			{
				if (!use[i])
					continue;
				if (learn)
				{
					double		mk = (num[i][k] + 1.0 / atts[i].nlev) / (den[i] + 1.0);

					delta = Max(delta, fabs(mk - m[i][k]));
					m[i][k] = mk;
				}
				logm[i][k] = log2(m[i][k]);
			}
		*lambda = (sum + 1.0) / (cnt + 2.0);
		delta = Max(delta, fabs(*lambda - prev));
		prev = *lambda;
		if (within)
			prior = log2(*lambda / (1.0 - *lambda));
		else
		{
			*lambda_all = Min((sum + 1.0) / fitted / all_pairs, 0.5);
			prior = log2(*lambda_all / (1.0 - *lambda_all));
		}
		for (int p = from; p < to; p++)
		{
			double		lo;

			if (within ? !pairs[p].fit : !pairs[p].first)
				continue;
			lo = prior - (within ? pairs[p].tf_free : pairs[p].tf);
			for (int i = 0; i < natts; i++)
				if (use[i] && pairs[p].lev[i] != NO_LEVEL)
					lo += logm[i][pairs[p].lev[i]] - logu[i][pairs[p].lev[i]];
			post[p] = lo > 60 ? 1.0 : lo < -60 ? 0.0 : 1.0 / (1.0 + pow(2.0, -lo));
		}
		if (iter > 1 && delta < EM_TOLERANCE)
		{
			*converged = true;
			break;
		}
	}
	return Min(iter, EM_MAX_ITERATIONS);
}

/*
 * Add a compared pair's levels to the counts of its attributes: a random
 * pair's (random), or a candidate pair's, into tp, with free: the
 * attributes its rule does not block on.  A candidate pair is in its
 * rule's fit when each key it was brought together on agrees at a level
 * of the model: one a value several people share (a phone under two
 * names, an employer with several people of the name) says nothing
 * there, and such pairs are not what the rule's pairs are -- rows that
 * agree on its key -- to the model.
 */
static void
classify_pair(const IdentityModel *m, TrainAtt *atts, int natts, const IdentityRec *a, const IdentityRec *b, const IdentityAttCmp *c,
			  TrainPair *tp, const bool *free, bool random)
{
	int			lev[MAX_ATTS];
	double		tfs[MAX_ATTS];

	for (int i = 0; i < natts; i++)
	{
		bool		scaled;

		lev[i] = identity_level_index(m, i, c, a, b, &tfs[i], &scaled);
		if (lev[i] >= 0 && (random || tp->first))
		{
			atts[i].seen[lev[i]]++;
			atts[i].scaled[lev[i]] += scaled;
		}
	}
	if (random)
	{
		for (int i = 0; i < natts; i++)
			if (lev[i] >= 0)
			{
				atts[i].urand_n++;
				atts[i].urand[lev[i]] += pow(2.0, -tfs[i]);
			}
		return;
	}
	tp->tf = tp->tf_free = 0;
	for (int i = 0; i < A_NATTS; i++)
		tp->per_person[i] = 1.0;
	tp->fit = true;
	for (int i = 0; i < natts; i++)
	{
		tp->lev[i] = lev[i] < 0 ? NO_LEVEL : (uint8) lev[i];
		if (!free[i] && lev[i] < 0)
			tp->fit = false;
	}
	for (int i = 0; i < natts; i++)
	{
		if (lev[i] < 0)
			continue;
		if (tp->first)
			atts[i].cand[lev[i]]++;
		if (free[i] && tp->fit)
		{
			atts[i].fit[lev[i]]++;
			tp->tf_free += tfs[i];
		}
		tp->tf += tfs[i];
		if (i < A_NATTS)
			tp->per_person[i] = counted_per_person(i) && a->spread[i] > 1 ? 1.0 / a->spread[i] : 1.0;
	}
}

/* Training on the records and blocks of a run (see identity_train_begin). */
struct IdentityTrain
{
	IdentityModel model;		/* the model in use (EM starts from it) */
	IdentityRec *recs;
	int			n;
	int			natts;
	bool		counted[MAX_ATTS];	/* value counts taken (frequency_u) */
	TrainAtt	atts[MAX_ATTS];
	/* the candidate pairs: each once, and each at every rule that brings it */
	double		candidates;
	double		rule_pairs;
	double		keep;			/* the share of the rules' pairs fitted */
	bool		free[MAX_RULES][MAX_ATTS];	/* the attributes a rule does not
											 * block on */
	int			rule_from[MAX_RULES + 1];	/* the sample's pairs of rule r:
											 * [rule_from[r], rule_from[r + 1]) */
	int			nfirst;			/* the sample's pairs of the union */
	double		threshold;
	pg_prng_state prng;
	TrainPair  *pairs;
	double	   *post;
	int			np,
				pcap;
	/* the fit */
	double		lambda,
				lambda_all;
	int			iterations;
	bool		converged;
	TimestampTz t0;
};

/*
 * Training on the records of a run: those identity_cluster read, or
 * identity_train_fit's.  Then identity_train_values with every table of
 * blocks the run builds (the value counts), identity_train_run once the
 * blocks are built, and the result to identity_train_save (or, for
 * identity_train_fit, as rows).  m: the model in use, its scale set.
 */
IdentityTrain *
identity_train_begin(const IdentityModel *m, IdentityRec *recs, int n)
{
	IdentityTrain *t = palloc0(sizeof(IdentityTrain));

	t->model = *m;
	t->recs = recs;
	t->n = n;
	t->natts = A_NATTS + m->ndeclared;
	t->t0 = GetCurrentTimestamp();
	init_atts(m, t->atts, t->natts);
	return t;
}

/* A table of blocks of attribute att (every value): u of its "same value" levels. */
void
identity_train_values(IdentityTrain *t, int att, HTAB *h)
{
	if (att >= t->natts || t->counted[att])
		return;
	frequency_u(&t->model, t->recs, t->atts, att, h);
	t->counted[att] = true;
}

/*
 * The value counts of the attributes no blocking rule blocks on and no
 * table of spreads counted (an address, a declared attribute that does not
 * block): each table built, counted and
 * freed while the run holds only its records (before its blocks: at a
 * million rows a table of addresses is some 80 MB).
 */
void
identity_train_other_values(IdentityTrain *t, MemoryContext cxt)
{
	for (int i = 0; i < t->natts; i++)
	{
		int		   *slab;
		HTAB	   *h;

		/* (a rule's blocks count its key's values: see identity_build_kinds) */
		if (identity_rule_att(&t->model, i) || t->counted[i])
			continue;
		h = identity_build_blocks(t->recs, t->n, i, cxt, &slab);
		identity_train_values(t, i, h);
		identity_free_blocks(h, slab);
	}
}

/* Walker callbacks: count the rules' pairs, then compare a sample of them. */
static void
count_pair(void *arg, int a, int b, int rule, bool first)
{
	IdentityTrain *t = arg;

	t->rule_pairs++;
	t->candidates += first;
}

static void
sample_pair(void *arg, int a, int b, int r, bool first)
{
	IdentityTrain *t = arg;
	IdentityAttCmp c[MAX_ATTS];
	TrainPair  *tp = &t->pairs[t->np];
	double		score;
	const char *rule;

	if (t->keep < 1.0 && pg_prng_double(&t->prng) >= t->keep)
		return;
	if (t->np == t->pcap)
		return;
	identity_compare(&t->model, &t->recs[a], &t->recs[b], c, &score, &rule);
	tp->rule = (uint8) r;
	tp->first = first;
	classify_pair(&t->model, t->atts, t->natts, &t->recs[a], &t->recs[b], c, tp, t->free[r], false);
	/* EM starts from the model in use */
	t->post[t->np] = rule ? 1.0 : 1.0 / (1.0 + pow(2.0, Min(t->threshold - score, 60.0)));
	t->nfirst += first;
	t->np++;
}

/* The pairs m of level k of attribute a is learned from. */
static double
fitted_pairs(const TrainAtt *a, int k)
{
	return a->joint || a->from_joint[k] ? a->cand[k] : a->fit[k];
}

/*
 * m and the share of matches, u fixed (see identity_train_run).  m per
 * training rule: EM over the pairs rule r brings together, the attributes
 * it blocks on left out (every pair of it agrees on them, matches and
 * not: they tell nothing there, and a rule's pairs would teach that
 * agreeing on them is what a match is).  Each attribute's m is then
 * pooled over the rules that leave it free, each pair weighed by its
 * posterior: the matches every such rule found, counted together.  An
 * attribute no rule leaves free (every rule blocks on it) has no pairs
 * that tell its m: it is fitted as before, by one EM over the candidate
 * pairs with every attribute in it.  Then, m and u fixed, the share of
 * matches by EM over the candidate pairs (each once).  Without rules, only
 * that share (m as it is).  Each EM starts from the posteriors its pairs
 * have: the model in use's (sample_pair), then the last fit's.  *rounds:
 * the most rounds one EM took; *converged: every one did.
 */
static void
fit_model(IdentityTrain *t, double all_pairs, bool rules, int *rounds, bool *converged)
{
	TrainAtt   *atts = t->atts;
	int			natts = t->natts;
	double		m[MAX_ATTS][MAX_LEVELS];
	double		num[MAX_ATTS][MAX_LEVELS];
	double		den[MAX_ATTS];
	bool		use[MAX_ATTS];
	bool		conv;
	double		lambda,
				fitted = t->nfirst / Max(t->candidates, 1.0);
	int			it;

	*rounds = 0;
	*converged = true;
	memset(num, 0, sizeof(num));
	memset(den, 0, sizeof(den));
	memset(m, 0, sizeof(m));
	for (int i = 0; i < MAX_ATTS; i++)
		use[i] = true;

	/*
	 * a fit with every attribute in it: for an attribute every rule blocks
	 * on, and for a level no rule's fit reaches (below)
	 */
	if (rules)
	{
		it = em(atts, natts, t->pairs, 0, t->np, t->post, use, true, false, fitted, all_pairs, m,
				&t->lambda, &t->lambda_all, &conv);
		*rounds = Max(*rounds, it);
		*converged &= conv;
		for (int i = 0; i < natts; i++)
			memcpy(atts[i].m, m[i], sizeof(atts[i].m));
	}

	/* each rule's EM, from the posteriors its pairs have (see sample_pair) */
	for (int r = 0; r < (rules ? t->model.nrules : 0); r++)
	{
		int			from = t->rule_from[r],
					to = t->rule_from[r + 1];

		if (to == from)
			continue;
		it = em(atts, natts, t->pairs, from, to, t->post, t->free[r], true, true, 0, 0, m, &lambda, NULL, &conv);
		*rounds = Max(*rounds, it);
		*converged &= conv;
		elog(DEBUG1, "concord.identity_train: rule %s, %d pairs (a sample), share of matches %.4f after %d iterations",
			 t->model.rules[r].name, to - from, lambda, it);
		for (int p = from; p < to; p++)
			for (int i = 0; i < natts; i++)
				if (t->pairs[p].fit && t->free[r][i] && t->pairs[p].lev[i] != NO_LEVEL)
				{
					num[i][t->pairs[p].lev[i]] += t->post[p];
					den[i] += t->post[p];
				}
		for (int i = 0; i < natts; i++)
			if (t->free[r][i])
				for (int k = 0; k < atts[i].nlev; k++)
					elog(DEBUG2, "concord.identity_train: rule %s: m of %s %s %.4f",
						 t->model.rules[r].name, atts[i].name, atts[i].lev[k], m[i][k]);
	}
	/*
	 * (a level the rules' fits leave out -- two names on one phone read as
	 * a shared phone, so no rule's fit sees names that differ -- keeps the
	 * joint fit's m, its share renormalised with the others')
	 */
	for (int i = 0; i < natts && rules; i++)
		if (!atts[i].joint)
		{
			double		rest = 0,
						total = 0;

			for (int k = 0; k < atts[i].nlev; k++)
			{
				atts[i].from_joint[k] = atts[i].fit[k] < MIN_PAIRS && atts[i].cand[k] >= MIN_PAIRS;
				if (atts[i].from_joint[k])
					rest += atts[i].m[k];
			}
			for (int k = 0; k < atts[i].nlev; k++)
				if (!atts[i].from_joint[k])
				{
					atts[i].m[k] = (num[i][k] + 1.0 / atts[i].nlev) / (den[i] + 1.0);
					total += atts[i].m[k];
				}
			for (int k = 0; k < atts[i].nlev; k++)
				if (!atts[i].from_joint[k] && total > 0)
					atts[i].m[k] *= (1.0 - rest) / total;
		}
	for (int i = 0; i < natts; i++)
		memcpy(m[i], atts[i].m, sizeof(atts[i].m));
	it = em(atts, natts, t->pairs, 0, t->np, t->post, use, false, false, fitted, all_pairs, m,
			&t->lambda, &t->lambda_all, &conv);
	*rounds = Max(*rounds, it);
	*converged &= conv;
	elog(DEBUG1, "concord.identity_train: share of matches %.4f after %d iterations, m and u fixed", t->lambda, it);
}

/*
 * u corrected for the pairs of one person among those it was counted on
 * (see identity_train_run), as the posteriors in t->post have them.
 */
static void
correct_u(IdentityTrain *t)
{
	TrainAtt   *atts = t->atts;
	int			natts = t->natts;
	double		matched[MAX_ATTS][MAX_LEVELS];
	double		fitted = t->nfirst / Max(t->candidates, 1.0);

	memset(matched, 0, sizeof(matched));
	for (int p = 0; p < t->np; p++)
		if (t->pairs[p].first)
			for (int i = 0; i < natts; i++)
				if (t->pairs[p].lev[i] != NO_LEVEL)
					matched[i][t->pairs[p].lev[i]] +=
						t->post[p] * (i < A_NATTS ? t->pairs[p].per_person[i] : 1.0);
	for (int i = 0; i < natts; i++)
		for (int k = 0; k < atts[i].nlev; k++)
		{
			TrainAtt   *a = &atts[i];

			if (a->ufreq[k] >= 0)
				a->u[k] = Max(a->ufreq[k] - matched[i][k] / Max(fitted, 1e-9) / Max(a->upairs, 1.0), a->ufloor[k]);
			else
				a->u[k] = Max((a->urand[k] / Max(a->urand_n, 1.0) - t->lambda_all * a->m[k]) / (1.0 - t->lambda_all),
							  a->ufloor[k]);
		}
}

/*
 * The fit, once every block is built (bs: the blocks resolve pairs in, and
 * every spread its weights use): u from random_pairs random pairs and the
 * value counts, m and the share of matches by EM over at most max_pairs
 * candidate pairs (a fixed-seed sample: training is repeatable).
 */
void
identity_train_run(IdentityTrain *t, IdentityBlocks *bs, int random_pairs, int max_pairs)
{
	TrainAtt   *atts = t->atts;
	int			natts = t->natts;
	int			n = t->n;
	double		all_pairs;

	/* u: random pairs of records (a fixed seed: training is repeatable) */
	pg_prng_seed(&t->prng, 20261207);
	for (int p = 0; p < random_pairs; p++)
	{
		int			a = (int) pg_prng_uint64_range(&t->prng, 0, n - 1);
		int			b = (int) pg_prng_uint64_range(&t->prng, 0, n - 1);
		IdentityAttCmp c[MAX_ATTS];
		double		score;
		const char *rule;

		CHECK_FOR_INTERRUPTS();
		if (a == b)
			continue;
		identity_compare(&t->model, &t->recs[a], &t->recs[b], c, &score, &rule);
		classify_pair(&t->model, atts, natts, &t->recs[a], &t->recs[b], c, NULL, NULL, true);
	}
	elog(DEBUG1, "concord.identity_train: random pairs after %ld ms",
		 TimestampDifferenceMilliseconds(t->t0, GetCurrentTimestamp()));
	/*
	 * Every attribute's value counts are taken by now, from the tables the
	 * caller built: the spreads' and the rules' (identity_train_values),
	 * the rest's (identity_train_other_values) -- none is built here, while
	 * the blocks are held.
	 */
#ifdef USE_ASSERT_CHECKING
	for (int i = 0; i < natts; i++)
		Assert(t->counted[i]);
#endif

	/*
	 * the candidate pairs, at every rule that brings them together:
	 * counted, then at most max_pairs of them kept (a pair of two rules
	 * can be kept at one and not the other)
	 */
	for (int r = 0; r < t->model.nrules; r++)
		for (int i = 0; i < natts; i++)
		{
			t->free[r][i] = true;
			for (int k = 0; k < t->model.rules[r].nkeys; k++)
				if (t->model.rules[r].keys[k] == i)
					t->free[r][i] = false;
		}
	identity_walk_rule_pairs(&t->model, t->recs, bs, count_pair, t);
	t->keep = Min(1.0, max_pairs / Max(t->rule_pairs, 1.0));
	t->pcap = (int) Min(t->rule_pairs, (double) max_pairs * 1.05 + 1000);
	t->pairs = palloc_extended(sizeof(TrainPair) * Max(t->pcap, 1), MCXT_ALLOC_HUGE);
	t->post = palloc_extended(sizeof(double) * Max(t->pcap, 1), MCXT_ALLOC_HUGE);
	t->threshold = identity_threshold(&t->model);
	identity_walk_rule_pairs(&t->model, t->recs, bs, sample_pair, t);
	/* (walked rule by rule: each rule's pairs are together) */
	for (int r = 0, p = 0; r <= t->model.nrules; r++)
	{
		while (p < t->np && t->pairs[p].rule < r)
			p++;
		t->rule_from[r] = p;
	}
	for (int i = 0; i < natts; i++)
	{
		double		free = 0,
					cand = 0;

		for (int k = 0; k < atts[i].nlev; k++)
		{
			free += atts[i].fit[k];
			cand += atts[i].cand[k];
		}
		atts[i].joint = free == 0 && cand > 0;
		if (atts[i].joint)
			elog(DEBUG1, "concord.identity_train: every rule blocks on %s: fitted over all candidate pairs", atts[i].name);
	}
	elog(DEBUG1, "concord.identity_train: %d of %.0f rules' pairs compared (%d of %.0f candidate pairs) after %ld ms, RssAnon %ld kB",
		 t->np, t->rule_pairs, t->nfirst, t->candidates,
		 TimestampDifferenceMilliseconds(t->t0, GetCurrentTimestamp()), identity_rss_anon_kb());

	/*
	 * u: as the random pairs and the value counts found it.  A random pair
	 * is now and then one person's two records, and the pairs that share
	 * a value are often one person's: once EM has told which pairs are,
	 * they are taken off (see below), and EM runs again with that u.
	 */
	for (int i = 0; i < natts; i++)
		for (int k = 0; k < atts[i].nlev; k++)
		{
			TrainAtt   *a = &atts[i];

			if (a->ufreq[k] >= 0)
				a->u[k] = Max(a->ufreq[k], a->ufloor[k]);
			else
			{
				a->ufloor[k] = 0.5 / Max(a->urand_n, 1.0);
				a->u[k] = Max(a->urand[k] / Max(a->urand_n, 1.0), a->ufloor[k]);
			}
			a->m[k] = 0;
		}
	all_pairs = (double) n * (n - 1) / 2.0;
	fit_model(t, all_pairs, true, &t->iterations, &t->converged);
	elog(DEBUG1, "concord.identity_train: share of matches %.4f among the candidate pairs, %.3g among all pairs, with u uncorrected",
		 t->lambda, t->lambda_all);

	/*
	 * A level of the same value: its value counts hold every pair of one
	 * person that shares the value, and those are candidate pairs (the
	 * value blocks); taken off as EM counted them there -- each candidate
	 * pair's posterior, per person sharing the value as the counts are, over
	 * the share of the candidates fitted -- among the pairs of records that
	 * both hold a value, as the counts are.  (lambda_all m took more off
	 * than the counts hold: lambda_all is over all pairs of records, m over
	 * those that both hold a value -- a name one person holds came out with
	 * u at its floor, a weight of 23 bits, and the share of matches fitted
	 * again rose with it.)  Other levels: their share of the random pairs,
	 * less lambda_all m.  Then the share of matches again with that u,
	 * until it settles, and m once more.
	 */
	for (int pass = 2;; pass++)
	{
		double		before = t->lambda;
		int			rounds;

		correct_u(t);
		fit_model(t, all_pairs, false, &rounds, &t->converged);
		elog(DEBUG1, "concord.identity_train: pass %d: share of matches %.4f among the candidate pairs, %.3g among all pairs",
			 pass, t->lambda, t->lambda_all);
		if (fabs(t->lambda - before) < U_TOLERANCE || pass == U_PASSES)
		{
			fit_model(t, all_pairs, true, &rounds, &t->converged);
			t->iterations = Max(t->iterations, rounds);
			break;
		}
	}
	elog(DEBUG1, "concord.identity_train: fitted after %ld ms",
		 TimestampDifferenceMilliseconds(t->t0, GetCurrentTimestamp()));

	/*
	 * A name several people hold is no stronger evidence than one a single
	 * person holds (before its term frequency).  Its u is hard to learn
	 * where most such names are one person's under two phones -- nearly
	 * every pair of them is a match, and u falls to its floor -- so it is
	 * kept no lower than the same name held by one person says.
	 */
	if (fitted_pairs(&atts[A_NAME_KEY], 0) >= MIN_PAIRS &&
		atts[A_NAME_KEY].m[1] / atts[A_NAME_KEY].u[1] > atts[A_NAME_KEY].m[0] / atts[A_NAME_KEY].u[0])
		atts[A_NAME_KEY].u[1] = Min(1.0, atts[A_NAME_KEY].m[1] * atts[A_NAME_KEY].u[0] / atts[A_NAME_KEY].m[0]);

	/*
	 * Nor is a value alike stronger evidence than the same value: where
	 * random pairs never reached a close level, its u is only a floor, and
	 * can fall below the same value's (counted exactly); it is kept no
	 * lower than that says.
	 */
	for (int i = 0; i < natts; i++)
		for (int k = 1; k < atts[i].nlev; k++)
		{
			TrainAtt   *a = &atts[i];

			if (fitted_pairs(a, 0) >= MIN_PAIRS && a->m[0] > 0 &&
				(strcmp(a->lev[k], "close") == 0 || strcmp(a->lev[k], "near") == 0 || strcmp(a->lev[k], "partial") == 0 ||
				 strcmp(a->lev[k], "one_field_off") == 0 || strcmp(a->lev[k], "swapped") == 0 ||
				 strcmp(a->lev[k], "given_close") == 0 || strcmp(a->lev[k], "given_initial") == 0 ||
				 strcmp(a->lev[k], "family_close") == 0 || strcmp(a->lev[k], "homophone") == 0) &&
				a->m[k] / a->u[k] > a->m[0] / a->u[0])
				a->u[k] = Min(1.0, a->m[k] * a->u[0] / a->m[0]);
		}
}

/* One row of the fit (see concord_identity_train_fit), to a tuplestore or arrays. */
typedef void (*RowFn) (void *arg, Datum *v, bool *nulls);

/*
 * The fit as rows: per attribute and level m, u, the weight log2(m/u) on
 * the table's basis (NULL: too few candidate pairs reached the level to
 * say) and the candidate pairs at the level; then four rows of attribute
 * 'model': prior (m: the share of matches among the candidate pairs, u:
 * among all pairs of records, weight: its log2 odds on the 1,000-record
 * basis, pairs: the candidate pairs fitted), candidates (pairs: all
 * candidate pairs), iterations (weight: EM rounds, m: 1 if it converged)
 * and records (pairs: the records trained on).
 */
static void
train_rows(IdentityTrain *t, RowFn fn, void *arg)
{
	Datum		v[6];
	bool		nulls[6];

	for (int i = 0; i < t->natts; i++)
		for (int k = 0; k < t->atts[i].nlev; k++)
		{
			TrainAtt   *a = &t->atts[i];
			double		w = log2(a->m[k] / a->u[k]);

			/* on the table's basis: score.c adds the population's scale */
			if (a->seen[k] > 0 && a->scaled[k] * 2 > a->seen[k])
				w -= t->model.scale;
			w = Max(-MAX_WEIGHT, Min(MAX_WEIGHT, w));
			memset(nulls, 0, sizeof(nulls));
			v[0] = CStringGetTextDatum(a->name);
			v[1] = CStringGetTextDatum(a->lev[k]);
			v[2] = Float8GetDatum(a->m[k]);
			v[3] = Float8GetDatum(Min(a->u[k], 1.0));
			v[4] = Float8GetDatum(rint(w * 100) / 100);
			nulls[4] = fitted_pairs(a, k) < MIN_PAIRS || a->urand_n == 0;
			v[5] = Float8GetDatum(fitted_pairs(a, k));
			fn(arg, v, nulls);
		}
	memset(nulls, 0, sizeof(nulls));
	v[0] = CStringGetTextDatum("model");
	v[1] = CStringGetTextDatum("prior");
	v[2] = Float8GetDatum(t->lambda);
	v[3] = Float8GetDatum(t->lambda_all);
	v[4] = Float8GetDatum(rint((log2(t->lambda_all / (1.0 - t->lambda_all)) + t->model.scale) * 100) / 100);
	v[5] = Float8GetDatum(t->nfirst);
	fn(arg, v, nulls);
	v[1] = CStringGetTextDatum("candidates");
	nulls[2] = nulls[3] = nulls[4] = true;
	v[5] = Float8GetDatum(t->candidates);
	fn(arg, v, nulls);
	v[1] = CStringGetTextDatum("iterations");
	nulls[2] = nulls[4] = false;
	v[2] = Float8GetDatum(t->converged ? 1.0 : 0.0);
	v[4] = Float8GetDatum(t->iterations);
	v[5] = Float8GetDatum(t->nfirst);
	fn(arg, v, nulls);
	v[1] = CStringGetTextDatum("records");
	nulls[2] = nulls[4] = true;
	v[5] = Float8GetDatum(t->n);
	fn(arg, v, nulls);
}

static void
row_to_store(void *arg, Datum *v, bool *nulls)
{
	ReturnSetInfo *rsinfo = arg;

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
}

/* The rows as arrays, one per column. */
typedef struct RowArrays
{
	int			n;
	Datum		v[6][MAX_ATTS * MAX_LEVELS + 4];
	bool		nulls[6][MAX_ATTS * MAX_LEVELS + 4];
} RowArrays;

static void
row_to_arrays(void *arg, Datum *v, bool *nulls)
{
	RowArrays  *r = arg;

	for (int c = 0; c < 6; c++)
	{
		r->v[c][r->n] = v[c];
		r->nulls[c][r->n] = nulls[c];
	}
	r->n++;
}

/*
 * A run's fit, stored as the first resolve stores one: into
 * pg_temp.identity_train_out, then concord.identity_train_save(true, 200)
 * (its NOTICE, and the weights stored unless fewer than 200 candidate
 * pairs were found; never over a manual row).
 */
void
identity_train_save(IdentityTrain *t)
{
	RowArrays  *r = palloc0(sizeof(RowArrays));
	Oid			types[6] = {TEXTARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID};
	Datum		args[6];
	int			dims[1];
	int			lbs[1] = {1};

	train_rows(t, row_to_arrays, r);
	dims[0] = r->n;
	for (int c = 0; c < 6; c++)
		args[c] = PointerGetDatum(construct_md_array(r->v[c], r->nulls[c], 1, dims, lbs,
													 c < 2 ? TEXTOID : FLOAT8OID, c < 2 ? -1 : 8,
													 c < 2 ? false : FLOAT8PASSBYVAL, c < 2 ? TYPALIGN_INT : TYPALIGN_DOUBLE));
	/* (a table left by an earlier call in this transaction goes, without a NOTICE when there is none) */
	if (SPI_execute("SELECT pg_catalog.to_regclass('pg_temp.identity_train_out') IS NOT NULL", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for pg_temp.identity_train_out");
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0 &&
		SPI_execute("DROP TABLE pg_temp.identity_train_out", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not drop pg_temp.identity_train_out");
	if (SPI_execute("CREATE TEMP TABLE identity_train_out (attribute text, level text, m float8, u float8,"
					" weight float8, pairs float8) ON COMMIT DROP", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not make pg_temp.identity_train_out");
	if (SPI_execute_with_args("INSERT INTO pg_temp.identity_train_out"
							  " SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
							  " pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6))",
							  6, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not keep the trained model");
	if (SPI_execute("SELECT pg_catalog.count(*) FROM concord.identity_train_save(true, 200)", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not store the trained model");
}

/* Free a training's candidate pairs and itself (its records are the caller's). */
void
identity_train_end(IdentityTrain *t)
{
	if (t->pairs)
		pfree(t->pairs);
	if (t->post)
		pfree(t->post);
	pfree(t);
}

/* Table callback of identity_train_fit's blocks: employers' mobiles, value counts. */
static void
fit_table(void *arg, int att, HTAB *h)
{
	IdentityTrain *t = arg;

	if (att == NAME_COMPANY(&t->model))
		identity_set_employer_mobiles(t->recs, h);
	identity_train_values(t, att, h);
}

/*
 * concord.identity_train_fit(random_pairs integer, max_pairs integer, max_block integer)
 *	 RETURNS TABLE (attribute text, level text, m float8, u float8, weight float8, pairs float8)
 *
 * The fit on every record (see train_rows for its rows).  The first
 * resolve trains inside identity_cluster instead, on the records and
 * blocks it holds.
 */
Datum
concord_identity_train_fit(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			random_pairs = PG_GETARG_INT32(0);
	int			max_pairs = PG_GETARG_INT32(1);
	int			max_block = PG_GETARG_INT32(2);
	MemoryContext cxt,
				old;
	IdentityModel model;
	IdentityRec *recs;
	MemoryContext values;
	int			n;
	IdentityTrain *t;
	IdentityBlocks bs;
	TimestampTz t0 = GetCurrentTimestamp();

	if (random_pairs < 1000 || max_pairs < 1000 || max_block < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random_pairs and max_pairs must be at least 1000 and max_block at least 2, not %d, %d and %d",
						random_pairs, max_pairs, max_block)));
	InitMaterializedSRF(fcinfo, 0);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "concord identity train", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(cxt);
	model = identity_load_model();
	identity_load_blocking_rules(&model);
	recs = identity_load_records(&n, false, max_block, &model, &values);
	if (n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("there are %d normalized records to train the model on", n),
				 errhint("Register sources and run concord.resolve() first.")));
	model.scale = identity_population_scale(n);
	elog(DEBUG1, "concord.identity_train: %d records read after %ld ms, RssAnon %ld kB", n,
		 TimestampDifferenceMilliseconds(t0, GetCurrentTimestamp()), identity_rss_anon_kb());
	t = identity_train_begin(&model, recs, n);

	/*
	 * the blocks resolve pairs in, and every spread its weights use: first
	 * the spreads no rule's blocks give (see concord_identity_cluster)
	 */
	{
		int			spread_atts[] = {A_COMPANY, A_ID_NUMBER, A_PHONE, A_EMAIL, A_NAME_KEY, NAME_COMPANY(&model)};

		for (int s = 0; s < lengthof(spread_atts); s++)
		{
			int		   *slab;
			HTAB	   *h;

			if (identity_rule_att(&model, spread_atts[s]))
				continue;
			h = identity_build_blocks(recs, n, spread_atts[s], cxt, &slab);
			if (spread_atts[s] == NAME_COMPANY(&model))
				identity_set_employer_mobiles(recs, h);
			identity_train_values(t, spread_atts[s], h);
			identity_free_blocks(h, slab);
		}
	}
	identity_train_other_values(t, cxt);
	identity_build_kinds(&model, recs, n, max_block, &bs, fit_table, t, cxt);
	elog(DEBUG1, "concord.identity_train: blocks built after %ld ms, RssAnon %ld kB",
		 TimestampDifferenceMilliseconds(t0, GetCurrentTimestamp()), identity_rss_anon_kb());
	identity_train_run(t, &bs, random_pairs, max_pairs);
	identity_free_kinds(&bs);
	train_rows(t, row_to_store, rsinfo);
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
