/*-------------------------------------------------------------------------
 *
 * match.c
 *	  Matching and clustering of the records of every registered source:
 *	  blocking, Fellegi-Sunter pair scores with rules, union-find.
 *
 * The records (concord.identity_record, already normalized) are read
 * once.  Candidate pairs come only from blocks: records sharing the
 * value of a blocking rule (concord.identity_blocking_rule, blockrule.c:
 * by default an ID number, a phone, an email, a name key, a name key and
 * an employer, a declared blocking attribute).  A block larger than
 * max_block records (resolve's argument: a company switchboard, a placeholder
 * email like test@test.com, 王伟) yields no pairs at all; and within
 * smaller blocks a value several people share carries less weight
 * (term-frequency adjustment, see tf), so a shared phone cannot glue
 * strangers together.  A pair
 * is compared in the first rule's block it shares, so never twice.
 *
 * A pair matches by rule (same valid ID number; same phone and a close
 * name) or when the sum of its attributes' weights -- log2(m/u) for the
 * level of agreement each attribute reaches -- passes the match
 * threshold.  Matches are joined with union-find; every record gets its
 * cluster's representative (its first record) and how it was linked.
 *
 * The comparison of two records is score.c's, the records and blocks
 * block.c's (see match.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sys/resource.h>

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
#include "utils/snapmgr.h"
#include "utils/timestamp.h"


#include "identity/identity.h"
#include "identity/match.h"

PG_FUNCTION_INFO_V1(concord_identity_cluster);

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
 * What a cluster holds of the two attributes that tell people apart: up
 * to CLUSTER_SLOTS of its records with a name, and as many with an ID
 * number (distinct values), kept at its root.  A link that carries no
 * evidence on one of them -- a record with no name, matched by a mobile --
 * may not join two clusters whose records all disagree on it: a record
 * with no name on a mobile two people share matches each of them by the
 * phone alone, and would otherwise make the two one customer.
 */
#define CLUSTER_SLOTS 2

typedef struct ClusterEvidence
{
	int			named[CLUSTER_SLOTS];	/* records, or -1 */
	int			ided[CLUSTER_SLOTS];
} ClusterEvidence;

static ClusterEvidence *
evidence_init(const IdentityRec *recs, int n)
{
	ClusterEvidence *ev = palloc(sizeof(ClusterEvidence) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		for (int s = 0; s < CLUSTER_SLOTS; s++)
			ev[i].named[s] = ev[i].ided[s] = -1;
		if (recs[i].att[A_NAME_KEY] != NULL)
			ev[i].named[0] = i;
		if (recs[i].att[A_ID_NUMBER] != NULL)
			ev[i].ided[0] = i;
	}
	return ev;
}

/* Add the records of from[] to into[] while there is room, one per value. */
static void
evidence_merge(const IdentityRec *recs, int att, int *into, const int *from)
{
	for (int f = 0; f < CLUSTER_SLOTS && from[f] >= 0; f++)
	{
		const char *v = recs[from[f]].att[att];
		int			s;

		for (s = 0; s < CLUSTER_SLOTS && into[s] >= 0; s++)
			if (strcmp(recs[into[s]].att[att], v) == 0)
				break;
		if (s < CLUSTER_SLOTS && into[s] < 0)
			into[s] = from[f];
	}
}

/* Unite a's and b's clusters, their evidence kept at the new root. */
static void
join_clusters(int *parent, int *size, ClusterEvidence *ev, const IdentityRec *recs, int a, int b)
{
	int			ra = find(parent, a),
				rb = find(parent, b),
				root;

	if (ra == rb)
		return;
	unite(parent, size, ra, rb);
	root = find(parent, ra);
	evidence_merge(recs, A_NAME_KEY, ev[root].named, ev[root == ra ? rb : ra].named);
	evidence_merge(recs, A_ID_NUMBER, ev[root].ided, ev[root == ra ? rb : ra].ided);
}

/* Does every record of x disagree with every record of y on att? */
static bool
all_disagree(const IdentityModel *m, const IdentityRec *recs, int att, const int *x, const int *y)
{
	if (x[0] < 0 || y[0] < 0)
		return false;
	for (int i = 0; i < CLUSTER_SLOTS && x[i] >= 0; i++)
		for (int j = 0; j < CLUSTER_SLOTS && y[j] >= 0; j++)
		{
			const char *l = identity_compare_level(m, &recs[x[i]], &recs[y[j]], att);

			/* (two names in Chinese characters, one the other reversed: 于洋 / 杨宇) */
			if (strcmp(l, "disagree") != 0 && strcmp(l, "disagree, another family name") != 0)
				return false;
		}
	return true;
}

/*
 * Would the link a-b, which says nothing of the name (or of the ID
 * number) because one of its records has none, join two clusters whose
 * names (ID numbers) all disagree?
 */
static bool
bridges_strangers(const IdentityModel *m, const IdentityRec *recs, int *parent, ClusterEvidence *ev, int a, int b)
{
	int			ra = find(parent, a),
				rb = find(parent, b);

	if (ra == rb)
		return false;
	if ((recs[a].att[A_NAME_KEY] == NULL || recs[b].att[A_NAME_KEY] == NULL) &&
		all_disagree(m, recs, A_NAME_KEY, ev[ra].named, ev[rb].named))
		return true;
	if ((recs[a].att[A_ID_NUMBER] == NULL || recs[b].att[A_ID_NUMBER] == NULL) &&
		all_disagree(m, recs, A_ID_NUMBER, ev[ra].ided, ev[rb].ided))
		return true;
	return false;
}

/*
 * Were records a and b compared already, in a block of an earlier rule
 * than k (see identity_load_blocking_rules)?  Only if they share its value,
 * the rule applies to their sources and that block was paired: a pair
 * sharing a switchboard (a block too large to pair) and a name is compared
 * in the name's block.
 */
bool
identity_shared_earlier(const IdentityModel *m, const IdentityRec *a, const IdentityRec *b, int k)
{
	for (int e = 0; e < k; e++)
	{
		int			att = m->rules[e].att;

		if ((a->paired & (1u << e)) && a->att[att] && b->att[att] && strcmp(a->att[att], b->att[att]) == 0 &&
			identity_rule_applies(&m->rules[e], a, b))
			return true;
	}
	return false;
}

/*
 * The loop over the candidate pairs of the blocks bs: with fn, each pair
 * once (at the first rule that brings it together); with rfn, each pair
 * at every rule that does, and whether that rule is the first.
 */
static void
walk_pairs(const IdentityModel *m, IdentityRec *recs, IdentityBlocks *bs, IdentityPairFn fn,
		   IdentityRulePairFn rfn, void *arg)
{
	Assert(bs->nkinds == m->nrules);
	for (int k = 0; k < bs->nkinds; k++)
		for (int i = 0; i < bs->nblocks[k]; i++)
		{
			IdentityBlock *b = &bs->blocks[k][i];

			for (int x = 0; x < b->n; x++)
				for (int y = x + 1; y < b->n; y++)
				{
					IdentityRec *ra = &recs[b->members[x]];
					IdentityRec *rb = &recs[b->members[y]];
					bool		first;

					CHECK_FOR_INTERRUPTS();
					if (!(ra->core && rb->core) && !(ra->changed && !rb->core) && !(rb->changed && !ra->core))
						continue;
					if (!identity_rule_applies(&m->rules[k], ra, rb))
						continue;
					first = !identity_shared_earlier(m, ra, rb, k);
					if (rfn)
						rfn(arg, b->members[x], b->members[y], k, first);
					else if (first)
						fn(arg, b->members[x], b->members[y]);
				}
		}
}

/*
 * Every candidate pair of the blocks bs (built by identity_build_kinds on
 * m's rules), each once: of each paired block of each rule, every two of
 * its records the rule applies to (identity_rule_applies: a rule of one
 * source, when either is of it) not compared in a block of an earlier rule
 * (identity_shared_earlier) -- in a scoped run, only those with a core row
 * (IdentityRec.core): the core rows with each other, the changed ones with
 * their neighbours too; neighbours were compared with each other in
 * earlier runs.  A full run's records are all core.  The one loop over
 * pairs of resolve (identity_cluster) and of training.
 */
void
identity_walk_pairs(const IdentityModel *m, IdentityRec *recs, IdentityBlocks *bs, IdentityPairFn fn, void *arg)
{
	walk_pairs(m, recs, bs, fn, NULL, arg);
}

/*
 * Every pair each rule brings together, as identity_walk_pairs finds them
 * but at each rule that does, with that rule's index and whether it is
 * the first (the pair identity_walk_pairs gives): training fits m per
 * rule, on all of the rule's pairs.
 */
void
identity_walk_rule_pairs(const IdentityModel *m, IdentityRec *recs, IdentityBlocks *bs, IdentityRulePairFn fn, void *arg)
{
	walk_pairs(m, recs, bs, NULL, fn, arg);
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
int
identity_rec_index(IdentityRec *recs, int n, const char *source, const char *key)
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
load_constraints(IdentityRec *recs, int n, LinkRule **out, int *nout)
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
		int			a = identity_rec_index(recs, n, SPI_getvalue(t, d, 2), SPI_getvalue(t, d, 3));
		int			b = identity_rec_index(recs, n, SPI_getvalue(t, d, 4), SPI_getvalue(t, d, 5));

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
save_review(IdentityRec *recs, int *parent, Match *review, int nr)
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

/* What identity_cluster's callbacks share. */
typedef struct ClusterRun
{
	IdentityModel model;
	IdentityRec *recs;
	bool		scoped;
	HTAB	   *complete;		/* scoped: see identity_complete_values */
	bool		saved[MAX_ATTS + 1 + MAX_RULES];	/* full: the slots whose value stats are saved */
	IdentityTrain *train;		/* the first run of enough records: training */
	int		   *pairs;			/* per record: the pairs it was compared in */
	Match	   *matches;
	int			nm,
				mcap;
	Match	   *review;
	int			nr,
				rcap;
} ClusterRun;

/*
 * A table of blocks (every value of one slot): how many people share each
 * value -- counted over all rows in a scoped run (for every table: each
 * block's count decides whether it is paired), kept for the incremental
 * runs by a full one (once a slot: rules of one slot for different
 * sources share its table) -- and training's value counts.
 */
static void
cluster_table(void *arg, int att, HTAB *h)
{
	ClusterRun *r = arg;

	if (r->scoped)
		identity_global_spread(&r->model, r->recs, h, att, r->complete);
	else if (!r->saved[att])
	{
		r->saved[att] = true;
		identity_save_value_stats(r->recs, h, att);
		if (att == NAME_COMPANY(&r->model))
			identity_set_employer_mobiles(r->recs, h);
		if (r->train)
			identity_train_values(r->train, att, h);
	}
}

/* A candidate pair: compared, kept if it matches or is one to review. */
static void
cluster_pair(void *arg, int a, int b)
{
	ClusterRun *r = arg;
	double		score;
	const char *rule;

	identity_compare(&r->model, &r->recs[a], &r->recs[b], NULL, &score, &rule);
	r->pairs[a]++;
	r->pairs[b]++;
	if (rule != NULL || score >= identity_threshold(&r->model))
		/* rules first, then the strongest scores */
		push_match(&r->matches, &r->nm, &r->mcap, a, b, rule ? 1e9 + score : score, score, rule ? rule : "score");
	else if (score >= r->model.review_threshold + r->model.scale)
		push_match(&r->review, &r->nr, &r->rcap, a, b, score, score, "review");
}

/*
 * The backend's private resident memory (RssAnon of /proc/self/status, in
 * kB; -1 where there is none), for the DEBUG1 lines of the phases.
 */
long
identity_rss_anon_kb(void)
{
	FILE	   *f = fopen("/proc/self/status", "r");
	char		line[256];
	long		kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * DEBUG1: how long identity_cluster has taken so far, at the end of a
 * phase, and the memory the whole backend holds in its contexts then
 */
static void
phase_done(TimestampTz t0, const char *phase)
{
	struct rusage ru;

	if (!message_level_is_interesting(DEBUG1))
		return;

	/*
	 * (page faults: on a virtual machine each first touch of a page may
	 * cost tens of microseconds, and a new session touches every page
	 * afresh)
	 */
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		ru.ru_minflt = 0;
	elog(DEBUG1, "concord.identity_cluster: %s after %ld ms, %zu kB in memory contexts, RssAnon %ld kB, %ld page faults in the backend so far",
		 phase, TimestampDifferenceMilliseconds(t0, GetCurrentTimestamp()),
		 MemoryContextMemAllocated(TopMemoryContext, true) / 1024, identity_rss_anon_kb(), (long) ru.ru_minflt);
}

/*
 * concord.identity_cluster(max_block integer, scoped boolean)
 *	 RETURNS TABLE (source text, key text, cluster integer, how text,
 *					score float8, pairs integer, old_customer bigint,
 *					old_how text, old_score float8)
 *
 * Every record with its cluster (the index of the cluster's first record
 * in key order, within this run), how it was linked (its strongest match:
 * a rule or "score"; "alone" if none), the number of pairs it was
 * compared in and, scoped, the link it had before (customer, how, score;
 * NULL for a new row).  A scoped run leaves out the rows of customers no changed
 * row joined (they stay as they were) and ends with one row, cluster -1
 * and no source or key, that counts them (score) and the pairs they were
 * compared in.
 * A full run also refreshes concord.identity_value_stat.
 */
Datum
concord_identity_cluster(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			max_block = PG_GETARG_INT32(0);
	bool		scoped = PG_GETARG_BOOL(1);
	ClusterRun	r;
	MemoryContext cxt;
	MemoryContext old;
	IdentityRec *recs;
	MemoryContext values;
	int			n;
	int		   *parent,
			   *size,
			   *pairs,
			   *first;
	double	   *best;
	const char **how;
	ClusterEvidence *ev;
	Match	   *matches;
	int			nm;
	LinkRule   *cons;
	int			ncons;
	IdentityBlocks bs;
	TimestampTz t0;
	int64		unchanged_rows = 0,
				unchanged_pairs = 0;

	if (max_block < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_block must be at least 2, not %d", max_block)));
	t0 = GetCurrentTimestamp();
	phase_done(t0, "started");
	InitMaterializedSRF(fcinfo, 0);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "concord identity match", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(cxt);
	memset(&r, 0, sizeof(r));
	r.model = identity_load_model();
	identity_load_blocking_rules(&r.model);
	r.scoped = scoped;
	recs = r.recs = identity_load_records(&n, scoped, max_block, &r.model, &values);
	phase_done(t0, "rows read");
	if (scoped)
		r.complete = identity_complete_values(&r.model, max_block, cxt);
	if (!scoped)
		identity_save_population(n);
	r.model.scale = identity_population_scale(scoped ? identity_population() : n);

	/*
	 * The first full run of enough records to learn from (1,000) trains the
	 * model, on the records and blocks read here (see train.c), before it
	 * compares a pair; fewer keep the defaults: EM on a handful of pairs
	 * says little.
	 */
	if (!scoped && !r.model.trained && n >= 1000)
		r.train = identity_train_begin(&r.model, recs, n);
	pairs = r.pairs = palloc0(sizeof(int) * Max(n, 1));
	/*
	 * How many people share a value counts whether or not a rule blocks on
	 * it: employers, addresses, a name and employer (the mobiles behind
	 * it), and a built-in key whose rule was dropped
	 */
	if (!scoped && SPI_execute("DELETE FROM concord.identity_value_stat", false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not clear concord.identity_value_stat");
	{
		int			spread_atts[] = {A_COMPANY, A_ID_NUMBER, A_PHONE, A_EMAIL, A_NAME_KEY, A_ADDRESS, NAME_COMPANY(&r.model)};

		for (int s = 0; s < lengthof(spread_atts); s++)
		{
			int		   *slab;
			HTAB	   *h;

			if (identity_rule_att(&r.model, spread_atts[s]))
				continue;
			h = identity_build_blocks(recs, n, spread_atts[s], cxt, &slab);
			if (scoped)
				identity_global_spread(&r.model, recs, h, spread_atts[s], r.complete);
			else
			{
				identity_save_value_stats(recs, h, spread_atts[s]);
				if (spread_atts[s] == NAME_COMPANY(&r.model))
					identity_set_employer_mobiles(recs, h);
				if (r.train)
					identity_train_values(r.train, spread_atts[s], h);
			}
			identity_free_blocks(h, slab);
		}
	}
	if (r.train)
		identity_train_other_values(r.train, cxt);
	identity_release_freed_memory(n);
	phase_done(t0, "spreads counted");
	identity_build_kinds(&r.model, recs, n, max_block, &bs, cluster_table, &r, cxt);
	phase_done(t0, "blocks built");
	if (r.train)
	{
		identity_train_run(r.train, &bs, 200000, 200000);
		identity_train_save(r.train);
		identity_train_end(r.train);
		r.train = NULL;
		/*
		 * compared with the model just stored (or the defaults, if it was
		 * not): read with a snapshot that sees it (the statement's does not)
		 */
		PushCopiedSnapshot(GetActiveSnapshot());
		UpdateActiveSnapshotCommandId();
		r.model = identity_load_model();
		identity_load_blocking_rules(&r.model);
		PopActiveSnapshot();
		r.model.scale = identity_population_scale(n);
		phase_done(t0, "model trained");
	}
	identity_walk_pairs(&r.model, recs, &bs, cluster_pair, &r);
	identity_free_kinds(&bs);
	identity_release_freed_memory(n);
	matches = r.matches;
	nm = r.nm;

	/*
	 * the clusters' arrays, made once the blocks are gone (the peak of a
	 * run is the records and their blocks: these would add to it)
	 */
	parent = palloc(sizeof(int) * Max(n, 1));
	size = palloc(sizeof(int) * Max(n, 1));
	best = palloc(sizeof(double) * Max(n, 1));
	how = palloc0(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		parent[i] = i;
		size[i] = 1;
		best[i] = -INFINITY;
	}
	ev = evidence_init(recs, n);

	/*
	 * Must-links first, then matches from the strongest down, each refused
	 * if it would put two rows a cannot-link separates in one cluster.
	 */
	phase_done(t0, "pairs compared");
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
		identity_neighbour_links(recs, n, want);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(int64) + sizeof(int);
		ctl.hcxt = cxt;
		byc = hash_create("concord identity neighbours", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		for (int i = 0; i < n; i++)
		{
			bool		found;
			char	   *e;

			if (recs[i].core || recs[i].old == NULL || recs[i].old->customer < 0)
				continue;
			how[i] = recs[i].old->how;
			best[i] = recs[i].old->score;
			e = hash_search(byc, &recs[i].old->customer, HASH_ENTER, &found);
			if (found)
				join_clusters(parent, size, ev, recs, *(int *) (e + sizeof(int64)), i);
			else
				*(int *) (e + sizeof(int64)) = i;
		}
		hash_destroy(byc);
	}
	for (int i = 0; i < ncons; i++)
		if (cons[i].must)
		{
			join_clusters(parent, size, ev, recs, cons[i].a, cons[i].b);
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

		if (separated(parent, cons, ncons, m->a, m->b) ||
			bridges_strangers(&r.model, recs, parent, ev, m->a, m->b))
			continue;
		join_clusters(parent, size, ev, recs, m->a, m->b);
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

	save_review(recs, parent, r.review, r.nr);

	/*
	 * What the rows returned need is left: the records' source, key and
	 * link before the run, each one's cluster, how and pairs.  The rest
	 * goes before the rows take their room: the values compared (half
	 * the records' memory), the matches and the evidence.
	 */
	MemoryContextDelete(values);
	for (int i = 0; i < n; i++)
		recs[i].att = NULL;
	if (matches)
		pfree(matches);
	if (r.review)
		pfree(r.review);
	pfree(ev);
	pfree(size);
	identity_release_freed_memory(n);
	phase_done(t0, "clusters formed");

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
		Datum		v[9];
		bool		nulls[9] = {false, false, false, false, false, false, true, true, true};

		if (first[find(parent, i)] < 0)
		{
			unchanged_rows++;
			unchanged_pairs += pairs[i];
			continue;
		}
		v[0] = CStringGetTextDatum(recs[i].source);
		v[1] = CStringGetTextDatum(recs[i].key);
		v[2] = Int32GetDatum(first[find(parent, i)]);
		v[3] = CStringGetTextDatum(how[i] ? how[i] : "alone");
		v[4] = Float8GetDatum(how[i] ? best[i] : 0);
		nulls[4] = how[i] == NULL;
		v[5] = Int32GetDatum(pairs[i]);
		/* scoped: the link it had (none: a new row) */
		if (scoped && recs[i].old != NULL && recs[i].old->customer >= 0)
		{
			v[6] = Int64GetDatum(recs[i].old->customer);
			nulls[6] = false;
			if (recs[i].old->how)
			{
				v[7] = CStringGetTextDatum(recs[i].old->how);
				nulls[7] = false;
			}
			if (recs[i].old->score != -INFINITY)
			{
				v[8] = Float8GetDatum(recs[i].old->score);
				nulls[8] = false;
			}
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
		/* the store has copied them: a million rows' texts need not stay */
		pfree(DatumGetPointer(v[0]));
		pfree(DatumGetPointer(v[1]));
		pfree(DatumGetPointer(v[3]));
		if (!nulls[7])
			pfree(DatumGetPointer(v[7]));
	}
	if (scoped)
	{
		Datum		v[9] = {0, 0, Int32GetDatum(-1), 0, Float8GetDatum(unchanged_rows),
		Int32GetDatum((int32) Min(unchanged_pairs, PG_INT32_MAX)), 0, 0, 0};
		bool		nulls[9] = {true, true, false, true, false, false, true, true, true};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	phase_done(t0, "rows returned");
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	identity_release_freed_memory(n);
	return (Datum) 0;
}
