/*-------------------------------------------------------------------------
 *
 * match.h
 *	  The matcher's insides, shared by its files and by nothing outside
 *	  the identity component: a record, the model, a block.
 *
 *	  score.c	the model and the comparison of two records
 *	  block.c	reading records, blocks, how many people share a value
 *	  blockrule.c	blocking rules: which slots blocks are built on
 *	  match.c	identity_cluster(): pairs, rules, union-find, review pairs
 *	  explain.c why_matched()
 *	  train.c	identity_train_fit(): m and u by EM, the learned model
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_IDENTITY_MATCH_H
#define CONCORD_IDENTITY_MATCH_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/hsearch.h"

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

/* IdentityDeclared attributes (concord.identity_attribute), at most this many. */
#define MAX_DECLARED 16
#define MAX_ATTS (A_NATTS + MAX_DECLARED)

/*
 * After the declared attributes, a record carries one more blocking value,
 * compared by nothing: its name key and employer together.  A common name
 * makes a block too large to pair (王伟 among a million rows), but 王伟 at
 * 华信软件 is a few rows.
 */
#define NAME_COMPANY(m) (A_NATTS + (m)->ndeclared)

/*
 * Blocking rules (concord.identity_blocking_rule, see blockrule.c): a key
 * or a conjunction of keys, for every source or one.  A rule of one key
 * blocks on that key's slot; {name, company} on NAME_COMPANY; any other
 * conjunction on a slot of its own after NAME_COMPANY, holding its keys'
 * values joined (NULL if one is missing).  A record's bit k of paired is
 * rule k's, hence at most 32.
 */
#define MAX_RULES 24
#define MAX_RULE_KEYS 4

typedef struct IdentityBlockRule
{
	char		name[NAMEDATALEN];
	int			att;			/* the slot of the record its value is in */
	char		source[NAMEDATALEN];	/* "": every source's */
	int			nkeys;
	int			keys[MAX_RULE_KEYS];	/* the slots of its keys */
} IdentityBlockRule;

typedef enum IdentityComparison
{
	CMP_EXACT,
	CMP_DATE,
	CMP_NUMBER,
	CMP_STRING
} IdentityComparison;

typedef struct IdentityDeclared
{
	char		name[NAMEDATALEN];
	IdentityComparison	compare;
	double		tolerance;
	bool		block;
	double		agree,
				close,
				disagree,
				one_field_off;	/* a date: the day or the month one typo off */
} IdentityDeclared;

/* Scoped runs: a row's link before the run (see concord_identity_cluster). */
typedef struct IdentityOldLink
{
	int64		customer;		/* a neighbour's customer before the run, or
								 * -1 (core rows are clustered afresh) */
	char	   *how;			/* and how it was linked */
	double		score;			/* -INFINITY: none */
} IdentityOldLink;

/*
 * A record.  A million of them are held at once: every byte here is a
 * megabyte (the link before a run, a scoped run's only, is kept apart).
 */
typedef struct IdentityRec
{
	char	   *source;
	char	   *key;
	char	  **att;			/* A_NATTS built-in, then the declared ones */
	char	   *syllables;		/* the name's pinyin syllables, sorted */
	int			spread[A_NATTS];	/* how many people share the value (see tf) */
	int			employer_mobiles;	/* the mobiles behind its name at its
									 * employer: 1, one person of that name
									 * works there; 0 unknown */
	uint32		paired;			/* bit k: its value of blocking kind k is in a
								 * block whose pairs are compared */
	IdentityOldLink *old;		/* scoped: its link before the run; NULL:
								 * none (customer -1) */
	int16		company_place;	/* the city its employer's name gives, or 0
								 * (see identity_company_place) */
	bool		latin;			/* a name in Latin script that is not pinyin
								 * (see identity_latin_name) */
	uint8		name_form;		/* NAME_FORM_*: how the name was written */
	/* scoped runs (see concord_identity_cluster) */
	bool		core;			/* changed, or of a changed row's customer */
	bool		changed;		/* inserted or updated since the last run */
} IdentityRec;

/*
 * How a record's name was written (see identity_name_form): in Latin
 * letters or not known (rows stored before 0.2's name form); in Chinese
 * characters (syllables in written order, its characters after the
 * syllables' NUL); or a family name and an honorific (王女士: no name key,
 * the family name's syllables and, after their NUL, its characters).
 */
#define NAME_FORM_OTHER 0
#define NAME_FORM_HAN 1
#define NAME_FORM_HONORIFIC 2

/* The characters of a name of NAME_FORM_HAN or NAME_FORM_HONORIFIC. */
static inline const char *
identity_name_chars(const char *syllables)
{
	return syllables + strlen(syllables) + 1;
}

/*
 * An address's spread (the people sharing it: an office's, see tf) is
 * counted when more rows than this hold it, else 1 (a home's, or the
 * same person's few rows); a full run keeps those spreads in
 * concord.identity_value_stat for the incremental runs.
 */
#define IDENTITY_ADDRESS_SPREAD_MIN 20

/* Weights: log2(m/u) per agreement level (hand-set defaults). */
typedef struct IdentityModel
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
				address_close,
				address_disagree;
	double		match_threshold;
	double		review_threshold;	/* from here to the match threshold:
									 * for a person to look at */
	double		rule_name_min;	/* name similarity for the phone rule */
	double		scale;			/* log2 of the population over 1,000 rows
								 * (see tf), not a weight of the table */
	int			ndeclared;		/* declared attributes, in name order */
	IdentityDeclared	declared[MAX_DECLARED];
	/* a trained model (identity_train): its thresholds come from these */
	bool		trained;
	double		prior;			/* log2 prior odds that two records are one
								 * person, on the 1,000-record basis */
	double		match_probability;
	double		review_probability;
	double		name_exact_unique;	/* the same name, held by one person */
	/* a Latin name's given and family names (see identity_compare) */
	double		name_swapped,
				name_given_close,
				name_given_initial,
				name_family_close,
				name_family_only,
				name_given_only;
	/* an ID number one typo from the other (see identity_compare) */
	double		id_close;
	/* two names in Chinese characters of one sound (徐超伟 / 许超伟) */
	double		name_homophone;
	/* a family name and an honorific (王女士) against a name: its family name the same, or another */
	double		name_honorific_family,
				name_honorific_conflict;
	/* two mobiles one typo apart */
	double		phone_close;
	/* one employer's name the other's brand (九州 / 九州信息技术) */
	double		company_contained;
	/* blocking rules (identity_load_blocking_rules; none until loaded) */
	int			nrules;
	int			ncomposite;		/* slots after NAME_COMPANY */
	IdentityBlockRule rules[MAX_RULES];
} IdentityModel;

/* One attribute's comparison in a pair. */
typedef struct IdentityAttCmp
{
	const char *level;			/* "agree", "close", ... or "missing" */
	double		weight;
	double		similarity;		/* for names and companies, else -1 */
} IdentityAttCmp;


/* A block: the records sharing one value of one attribute. */
typedef struct IdentityBlock
{
	char	   *value;			/* hash key (must be first) */
	int			n;
	int			global_n;		/* scoped: the rows with the value in all */
	int			cap;			/* members' room: n once built */
	int		   *members;		/* a slice of one array for all blocks */
} IdentityBlock;

/*
 * The blocks of a run: of each blocking rule, in the order pairs are
 * compared (see identity_load_blocking_rules), the blocks of its slot
 * whose pairs are compared (identity_block_paired), slices of one array of
 * members per rule.
 */
typedef struct IdentityBlocks
{
	int			nkinds;			/* the model's rules */
	int			kinds[MAX_RULES];	/* each rule's slot (IdentityBlockRule.att) */
	IdentityBlock *blocks[MAX_RULES];
	int			nblocks[MAX_RULES];
	int		   *slabs[MAX_RULES];	/* the members' arrays; NULL: an earlier
									 * rule's of the same slot (shared) */
} IdentityBlocks;

/*
 * Called with each slot's whole table of blocks (an entry for every value
 * of slot att), before its unpaired ones go; once a slot: rules of one
 * slot (for different sources) share its table and its blocks.
 */
typedef void (*IdentityTableFn) (void *arg, int att, HTAB *h);

/* Called with each candidate pair: records a and b (a < b in no order). */
typedef void (*IdentityPairFn) (void *arg, int a, int b);

/* ... with the index of the rule that brings them together, and whether it is the first that does. */
typedef void (*IdentityRulePairFn) (void *arg, int a, int b, int rule, bool first);

/*
 * An ID number's characters: a resident ID number normalize_id kept
 * though it fails its check ("typo:" and its characters) without the
 * prefix; any other as it is (the same pointer, so that id_digits(x) != x
 * tells a number with a typo).
 */
#define IDENTITY_ID_TYPO "typo:"
static inline const char *
identity_id_digits(const char *id)
{
	return strncmp(id, IDENTITY_ID_TYPO, strlen(IDENTITY_ID_TYPO)) == 0 ? id + strlen(IDENTITY_ID_TYPO) : id;
}

/* score.c */
extern IdentityModel identity_load_model(void);
extern double identity_population(void);
extern void identity_save_population(int n);
extern double identity_population_scale(double rows);
extern double identity_threshold(const IdentityModel *m);
extern bool identity_widely_shared(int spread);
extern bool identity_is_mobile(const char *phone);
extern bool identity_latin_name(const char *syllables);
extern void identity_read_name_form(IdentityRec *r);
/* identity_is_mobile in SQL, as a regular expression literal */
#define IDENTITY_MOBILE_REGEX "'^\\+861[3-9][0-9]{9}$'"
extern void identity_compare(const IdentityModel *m, const IdentityRec *a, const IdentityRec *b, IdentityAttCmp *cmp,
							 double *score, const char **rule);
extern const char *identity_compare_level(const IdentityModel *m, const IdentityRec *a, const IdentityRec *b, int att);
extern double identity_match_probability(const IdentityModel *m, double score);

/* train.c */
extern int	identity_level_index(const IdentityModel *m, int i, const IdentityAttCmp *c, const IdentityRec *a, const IdentityRec *b,
								 double *tf, bool *scaled);
extern const char *identity_level_name(const IdentityModel *m, int i, int k);

/* block.c */
extern void identity_append_declared(StringInfo q, const IdentityModel *m);
extern IdentityRec *identity_load_records(int *n, bool scoped, int max_block, const IdentityModel *m,
										  MemoryContext *values);
extern char *identity_text_column(HeapTuple t, TupleDesc d, int col);
extern HTAB *identity_build_blocks(IdentityRec *recs, int n, int att, MemoryContext cxt, int **slab);
extern void identity_free_blocks(HTAB *h, int *slab);
/* runs of fewer records keep what they free (see identity_release_freed_memory) */
#define IDENTITY_TRIM_MIN_RECORDS 200000
extern void identity_release_freed_memory(int nrecs);
extern void identity_build_kinds(const IdentityModel *m, IdentityRec *recs, int n, int max_block, IdentityBlocks *bs,
								 IdentityTableFn fn, void *arg, MemoryContext cxt);
extern void identity_free_kinds(IdentityBlocks *bs);
extern void identity_save_value_stats(IdentityRec *recs, HTAB *h, int att);
extern void identity_set_employer_mobiles(IdentityRec *recs, HTAB *h);
extern HTAB *identity_complete_values(const IdentityModel *m, int max_block, MemoryContext cxt);
extern void identity_global_spread(const IdentityModel *m, IdentityRec *recs, HTAB *h, int att, HTAB *complete);
extern bool identity_block_paired(const IdentityBlock *b, int max_block);
extern void identity_neighbour_links(IdentityRec *recs, int n, const bool *want);

/* blockrule.c */
extern void identity_load_blocking_rules(IdentityModel *m);
extern bool identity_rule_applies(const IdentityBlockRule *rule, const IdentityRec *a, const IdentityRec *b);
extern char *identity_rule_count_query(const IdentityModel *m, int att);
extern bool identity_rule_att(const IdentityModel *m, int att);

/* match.c */
extern int identity_rec_index(IdentityRec *recs, int n, const char *source, const char *key);
extern bool identity_shared_earlier(const IdentityModel *m, const IdentityRec *a, const IdentityRec *b, int k);
extern long identity_rss_anon_kb(void);
extern void identity_walk_pairs(const IdentityModel *m, IdentityRec *recs, IdentityBlocks *bs, IdentityPairFn fn,
								void *arg);
extern void identity_walk_rule_pairs(const IdentityModel *m, IdentityRec *recs, IdentityBlocks *bs,
									 IdentityRulePairFn fn, void *arg);

/* train.c: training on the records and blocks a run holds (identity_cluster's first run) */
typedef struct IdentityTrain IdentityTrain;
extern IdentityTrain *identity_train_begin(const IdentityModel *m, IdentityRec *recs, int n);
extern void identity_train_values(IdentityTrain *t, int att, HTAB *h);
extern void identity_train_other_values(IdentityTrain *t, MemoryContext cxt);
extern void identity_train_run(IdentityTrain *t, IdentityBlocks *bs, int random_pairs, int max_pairs);
extern void identity_train_save(IdentityTrain *t);
extern void identity_train_end(IdentityTrain *t);

#endif							/* CONCORD_IDENTITY_MATCH_H */
