/*-------------------------------------------------------------------------
 *
 * train.c
 *	  The learned model: identity_train_fit() estimates, for each attribute
 *	  and agreement level, u -- how often the records of two different
 *	  people reach it -- from random pairs of records, and m -- how often
 *	  two records of one person do -- with the share of matches among the
 *	  candidate pairs, by expectation-maximisation over the pairs resolve
 *	  compares: Fellegi-Sunter fitted without labels.  The levels are
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
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "identity/identity.h"
#include "identity/match.h"

PG_FUNCTION_INFO_V1(concord_identity_train_fit);

#define MAX_LEVELS 12
#define NO_LEVEL 255
/* EM stops when no m moves by more than this, or after so many rounds */
#define EM_TOLERANCE 1e-4
#define EM_MAX_ITERATIONS 100
/* a level seen in fewer candidate pairs keeps the weight it had */
#define MIN_PAIRS 5
/* log2 Bayes factors are kept within this (identity_attribute_create's bound) */
#define MAX_WEIGHT 30.0

/* The levels of each built-in attribute, as concord.identity_weight names them. */
static const char *const builtin_levels[A_NATTS][MAX_LEVELS] = {
	[A_NAME_KEY] = {"exact_unique", "exact", "close", "near", "partial", "disagree", "swapped", "given_close",
	"given_initial", "family_close", "family_only", "given_only"},
	[A_PHONE] = {"agree", "agree_landline", "disagree"},
	[A_EMAIL] = {"agree", "disagree"},
	[A_COMPANY] = {"agree", "close", "disagree"},
	[A_ADDRESS] = {"agree", "close", "disagree"},
	[A_ID_NUMBER] = {"agree", "disagree", "close"},
};
static const int builtin_nlevels[A_NATTS] = {12, 3, 2, 3, 3, 3};
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
	double		ufloor[MAX_LEVELS];
	double		u[MAX_LEVELS];
	double		m[MAX_LEVELS];
	double		cand[MAX_LEVELS];	/* candidate pairs at each level */
	double		scaled[MAX_LEVELS]; /* pairs at the level whose weight gains
									 * the population's scale */
	double		seen[MAX_LEVELS];
} TrainAtt;

/* A candidate pair as EM sees it: a level per attribute, its tf bits. */
typedef struct TrainPair
{
	float		tf;
	uint8		lev[MAX_ATTS];
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
			if (strcmp(l, "exact") == 0)
			{
				*scaled = true;
				*tf = spread_bits(a->spread[i]);
				return 1;
			}
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
			if (i == A_ID_NUMBER && strcmp(l, "close, one typo") == 0)
				return 2;
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
				if (strcmp(l, "agree") == 0)
				{
					*scaled = !household;
					return 0;
				}
				if (strncmp(l, "close", 5) == 0)
				{
					*scaled = !household;
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
	bool		tf = i == A_NAME_KEY || i == A_PHONE || i == A_EMAIL || i == A_ID_NUMBER || i == A_COMPANY;

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
 * One EM run from the posteriors in post: M-step (m and the share of
 * matches lambda, with u fixed), E-step (each pair's posterior), until no m
 * moves by more than EM_TOLERANCE.  Returns the rounds run; *converged.
 *
 * The candidate pairs are those that agree on a blocking key: a function
 * of their levels, so a pair's posterior is that of any pair of records
 * with its levels -- the prior is the share of matches among all pairs
 * (lambda_all: the matches counted among the candidates, every pair of
 * one person being a candidate, over all pairs), and the Bayes factor uses
 * the u of random pairs.  (With the share among the candidates as prior,
 * the pairs a common key alone brought together would all be taken for
 * one person.)  fitted: the share of the candidate pairs in pairs.
 */
static int
em(TrainAtt *atts, int natts, TrainPair *pairs, int np, double *post, double fitted,
   double all_pairs, double *lambda, double *lambda_all, bool *converged)
{
	int			iter;
	double		logu[MAX_ATTS][MAX_LEVELS];

	for (int i = 0; i < natts; i++)
		for (int k = 0; k < atts[i].nlev; k++)
			logu[i][k] = log2(atts[i].u[k]);
	*converged = false;
	for (iter = 1; iter <= EM_MAX_ITERATIONS; iter++)
	{
		double		num[MAX_ATTS][MAX_LEVELS];
		double		den[MAX_ATTS];
		double		sum = 0,
					delta = 0,
					logm[MAX_ATTS][MAX_LEVELS],
					prior;

		CHECK_FOR_INTERRUPTS();
		memset(num, 0, sizeof(num));
		memset(den, 0, sizeof(den));
		for (int p = 0; p < np; p++)
		{
			sum += post[p];
			for (int i = 0; i < natts; i++)
				if (pairs[p].lev[i] != NO_LEVEL)
				{
					num[i][pairs[p].lev[i]] += post[p];
					den[i] += post[p];
				}
		}
		/* (a pseudo-count of one pair spread over the levels: none is m = 0) */
		for (int i = 0; i < natts; i++)
			for (int k = 0; k < atts[i].nlev; k++)
			{
				double		mk = (num[i][k] + 1.0 / atts[i].nlev) / (den[i] + 1.0);

				delta = Max(delta, fabs(mk - atts[i].m[k]));
				atts[i].m[k] = mk;
				logm[i][k] = log2(mk);
			}
		*lambda = (sum + 1.0) / (np + 2.0);
		*lambda_all = Min((sum + 1.0) / fitted / all_pairs, 0.5);
		prior = log2(*lambda_all / (1.0 - *lambda_all));
		for (int p = 0; p < np; p++)
		{
			double		lo = prior - pairs[p].tf;

			for (int i = 0; i < natts; i++)
				if (pairs[p].lev[i] != NO_LEVEL)
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

/* Add a compared pair's levels to the counts of its attributes. */
static void
classify_pair(const IdentityModel *m, TrainAtt *atts, int natts, const IdentityRec *a, const IdentityRec *b, const IdentityAttCmp *c,
			  TrainPair *tp, bool random)
{
	if (tp)
		tp->tf = 0;
	for (int i = 0; i < natts; i++)
	{
		double		tf;
		bool		scaled;
		int			k = identity_level_index(m, i, c, a, b, &tf, &scaled);

		if (tp)
			tp->lev[i] = k < 0 ? NO_LEVEL : (uint8) k;
		if (k < 0)
			continue;
		atts[i].seen[k]++;
		atts[i].scaled[k] += scaled;
		if (random)
		{
			atts[i].urand_n++;
			atts[i].urand[k] += pow(2.0, -tf);
		}
		else
		{
			atts[i].cand[k]++;
			tp->tf += tf;
		}
	}
}

/*
 * concord.identity_train_fit(random_pairs integer, max_pairs integer, max_block integer)
 *	 RETURNS TABLE (attribute text, level text, m float8, u float8, weight float8, pairs float8)
 *
 * Per attribute and level: m, u, the weight log2(m/u) on the table's basis
 * (NULL: too few candidate pairs reached the level to say) and the
 * candidate pairs at the level; then three rows of attribute 'model':
 * prior (m: the share of matches among the candidate pairs, u: among all
 * pairs of records, weight: its log2 odds on the 1,000-record basis,
 * pairs: the candidate pairs fitted), candidates (pairs: all candidate
 * pairs) and iterations (weight: EM rounds, m: 1 if it converged).
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
	IdentityModel		model;
	IdentityRec		   *recs;
	int			n,
				natts,
				nkinds = 0,
				np = 0,
				pcap,
				iterations;
	int			kinds[MAX_RULES];
	IdentityBlock *blocks[MAX_RULES];	/* the paired ones */
	int			nblocks[MAX_RULES];
	int		   *slabs[MAX_RULES];
	bool		counted[MAX_ATTS];
	TrainAtt	atts[MAX_ATTS];
	TrainPair  *pairs;
	double	   *post;
	double		candidates = 0,
				keep,
				lambda = 0,
				lambda_all,
				all_pairs,
				threshold;
	bool		converged;
	pg_prng_state prng;
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
	recs = identity_load_records(&n, false, max_block, &model);
	if (n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("there are %d normalized records to train the model on", n),
				 errhint("Register sources and run concord.resolve() first.")));
	model.scale = identity_population_scale(n);
	natts = A_NATTS + model.ndeclared;
	elog(DEBUG1, "concord.identity_train: %d records read after %ld ms", n,
		 TimestampDifferenceMilliseconds(t0, GetCurrentTimestamp()));
	init_atts(&model, atts, natts);

	/* the blocks resolve pairs in, and every spread its weights use */
	for (int k = 0; k < model.nrules; k++)
		kinds[nkinds++] = model.rules[k].att;
	memset(counted, 0, sizeof(counted));
	/* the spreads no rule's blocks give (see concord_identity_cluster) */
	{
		int			spread_atts[] = {A_COMPANY, A_ID_NUMBER, A_PHONE, A_EMAIL, A_NAME_KEY, NAME_COMPANY(&model)};

		for (int s = 0; s < lengthof(spread_atts); s++)
		{
			HTAB	   *h;

			if (identity_rule_att(&model, spread_atts[s]))
				continue;
			h = identity_build_blocks(recs, n, spread_atts[s], cxt);
			if (spread_atts[s] == NAME_COMPANY(&model))
				identity_set_employer_mobiles(recs, h);
			identity_free_blocks(h);
		}
	}
	/*
	 * One kind's whole table at a time (an entry for every value): its
	 * value counts taken, then only the blocks whose pairs are compared
	 * kept (see identity_paired_blocks)
	 */
	for (int k = 0; k < nkinds; k++)
	{
		HTAB	   *h = identity_build_blocks(recs, n, kinds[k], cxt);

		if (kinds[k] == NAME_COMPANY(&model))
			identity_set_employer_mobiles(recs, h);
		if (kinds[k] < natts && !counted[kinds[k]])
		{
			frequency_u(&model, recs, atts, kinds[k], h);
			counted[kinds[k]] = true;
		}
		blocks[k] = identity_paired_blocks(h, max_block, &nblocks[k], &slabs[k]);
		for (int i = 0; i < nblocks[k]; i++)
			for (int j = 0; j < blocks[k][i].n; j++)
				recs[blocks[k][i].members[j]].paired |= 1u << k;
	}
	elog(DEBUG1, "concord.identity_train: blocks built after %ld ms",
		 TimestampDifferenceMilliseconds(t0, GetCurrentTimestamp()));
	/* u: random pairs of records (a fixed seed: training is repeatable) */
	pg_prng_seed(&prng, 20261207);
	for (int p = 0; p < random_pairs; p++)
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
		classify_pair(&model, atts, natts, &recs[a], &recs[b], c, NULL, true);
	}
	elog(DEBUG1, "concord.identity_train: random pairs after %ld ms",
		 TimestampDifferenceMilliseconds(t0, GetCurrentTimestamp()));
	/* the value counts of the attributes that are no blocking kind */
	for (int i = 0; i < natts; i++)
		if (!counted[i])
		{
			HTAB	   *h = identity_build_blocks(recs, n, i, cxt);

			frequency_u(&model, recs, atts, i, h);
			identity_free_blocks(h);
		}
	elog(DEBUG1, "concord.identity_train: value counts after %ld ms",
		 TimestampDifferenceMilliseconds(t0, GetCurrentTimestamp()));

	/* the candidate pairs: counted, then at most max_pairs of them kept */
	for (int k = 0; k < nkinds; k++)
	{
		for (int i = 0; i < nblocks[k]; i++)
		{
			IdentityBlock *b = &blocks[k][i];

			for (int x = 0; x < b->n; x++)
					for (int y = x + 1; y < b->n; y++)
						if (identity_rule_applies(&model.rules[k], &recs[b->members[x]], &recs[b->members[y]]) &&
							!identity_shared_earlier(&model, &recs[b->members[x]], &recs[b->members[y]], k))
							candidates++;
		}
	}
	keep = Min(1.0, max_pairs / Max(candidates, 1.0));
	pcap = (int) Min(candidates, (double) max_pairs * 1.05 + 1000);
	pairs = palloc_extended(sizeof(TrainPair) * Max(pcap, 1), MCXT_ALLOC_HUGE);
	post = palloc_extended(sizeof(double) * Max(pcap, 1), MCXT_ALLOC_HUGE);
	threshold = identity_threshold(&model);
	for (int k = 0; k < nkinds; k++)
	{
		for (int i = 0; i < nblocks[k]; i++)
		{
			IdentityBlock *b = &blocks[k][i];

			for (int x = 0; x < b->n; x++)
				for (int y = x + 1; y < b->n; y++)
				{
					IdentityRec		   *ra = &recs[b->members[x]];
					IdentityRec		   *rb = &recs[b->members[y]];
					IdentityAttCmp		c[MAX_ATTS];
					double		score;
					const char *rule;

					CHECK_FOR_INTERRUPTS();
					if (!identity_rule_applies(&model.rules[k], ra, rb) ||
						identity_shared_earlier(&model, ra, rb, k))
						continue;
					if (keep < 1.0 && pg_prng_double(&prng) >= keep)
						continue;
					if (np == pcap)
						continue;
					identity_compare(&model, ra, rb, c, &score, &rule);
					classify_pair(&model, atts, natts, ra, rb, c, &pairs[np], false);
					/* EM starts from the model in use */
					post[np] = rule ? 1.0 : 1.0 / (1.0 + pow(2.0, Min(threshold - score, 60.0)));
					np++;
				}
		}
		pfree(blocks[k]);
		if (slabs[k] != NULL)
			pfree(slabs[k]);
	}
	elog(DEBUG1, "concord.identity_train: %d of %.0f candidate pairs compared after %ld ms", np, candidates,
		 TimestampDifferenceMilliseconds(t0, GetCurrentTimestamp()));

	/*
	 * u: as the random pairs and the value counts found it.  A random pair
	 * is now and then one person's two records; once EM has told how many
	 * pairs of records are, their share (lambda_all m) is taken off, and EM
	 * runs again with that u.
	 */
	for (int i = 0; i < natts; i++)
		for (int k = 0; k < atts[i].nlev; k++)
		{
			TrainAtt   *t = &atts[i];

			if (t->ufreq[k] >= 0)
				t->u[k] = Max(t->ufreq[k], t->ufloor[k]);
			else
			{
				t->ufloor[k] = 0.5 / Max(t->urand_n, 1.0);
				t->u[k] = Max(t->urand[k] / Max(t->urand_n, 1.0), t->ufloor[k]);
			}
			t->m[k] = 0;
		}
	all_pairs = (double) n * (n - 1) / 2.0;
	iterations = em(atts, natts, pairs, np, post, np / Max(candidates, 1.0), all_pairs, &lambda, &lambda_all,
					&converged);
	for (int i = 0; i < natts; i++)
		for (int k = 0; k < atts[i].nlev; k++)
		{
			TrainAtt   *t = &atts[i];
			double		raw = t->ufreq[k] >= 0 ? t->ufreq[k] : t->urand[k] / Max(t->urand_n, 1.0);

			t->u[k] = Max((raw - lambda_all * t->m[k]) / (1.0 - lambda_all), t->ufloor[k]);
		}
	iterations += em(atts, natts, pairs, np, post, np / Max(candidates, 1.0), all_pairs, &lambda, &lambda_all,
					 &converged);
	elog(DEBUG1, "concord.identity_train: fitted after %ld ms",
		 TimestampDifferenceMilliseconds(t0, GetCurrentTimestamp()));

	/*
	 * A name several people hold is no stronger evidence than one a single
	 * person holds (before its term frequency).  Its u is hard to learn
	 * where most such names are one person's under two phones -- nearly
	 * every pair of them is a match, and u falls to its floor -- so it is
	 * kept no lower than the same name held by one person says.
	 */
	if (atts[A_NAME_KEY].cand[0] >= MIN_PAIRS &&
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
			TrainAtt   *t = &atts[i];

			if (t->cand[0] >= MIN_PAIRS && t->m[0] > 0 &&
				(strcmp(t->lev[k], "close") == 0 || strcmp(t->lev[k], "near") == 0 || strcmp(t->lev[k], "partial") == 0 ||
				 strcmp(t->lev[k], "one_field_off") == 0 || strcmp(t->lev[k], "swapped") == 0 ||
				 strcmp(t->lev[k], "given_close") == 0 || strcmp(t->lev[k], "given_initial") == 0 ||
				 strcmp(t->lev[k], "family_close") == 0) &&
				t->m[k] / t->u[k] > t->m[0] / t->u[0])
				t->u[k] = Min(1.0, t->m[k] * t->u[0] / t->m[0]);
		}
	for (int i = 0; i < natts; i++)
		for (int k = 0; k < atts[i].nlev; k++)
		{
			TrainAtt   *t = &atts[i];
			Datum		v[6];
			bool		nulls[6] = {false, false, false, false, false, false};
			double		w = log2(t->m[k] / t->u[k]);

			/* on the table's basis: score.c adds the population's scale */
			if (t->seen[k] > 0 && t->scaled[k] * 2 > t->seen[k])
				w -= model.scale;
			w = Max(-MAX_WEIGHT, Min(MAX_WEIGHT, w));
			v[0] = CStringGetTextDatum(t->name);
			v[1] = CStringGetTextDatum(t->lev[k]);
			v[2] = Float8GetDatum(t->m[k]);
			v[3] = Float8GetDatum(Min(t->u[k], 1.0));
			v[4] = Float8GetDatum(rint(w * 100) / 100);
			nulls[4] = t->cand[k] < MIN_PAIRS || t->urand_n == 0;
			v[5] = Float8GetDatum(t->cand[k]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
		}
	{
		Datum		v[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		v[0] = CStringGetTextDatum("model");
		v[1] = CStringGetTextDatum("prior");
		v[2] = Float8GetDatum(lambda);
		v[3] = Float8GetDatum(lambda_all);
		v[4] = Float8GetDatum(rint((log2(lambda_all / (1.0 - lambda_all)) + model.scale) * 100) / 100);
		v[5] = Float8GetDatum(np);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
		v[1] = CStringGetTextDatum("candidates");
		nulls[2] = nulls[3] = nulls[4] = true;
		v[5] = Float8GetDatum(candidates);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
		v[1] = CStringGetTextDatum("iterations");
		nulls[2] = nulls[4] = false;
		v[2] = Float8GetDatum(converged ? 1.0 : 0.0);
		v[4] = Float8GetDatum(iterations);
		v[5] = Float8GetDatum(np);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
