/*-------------------------------------------------------------------------
 *
 * load.h
 *	  The target side of a sync run: the target table (target.c),
 *	  converting records to its column types (convert.c), loading pages by
 *	  COPY or by upsert (load.c, copy.c), rejects and their retries
 *	  (reject.c), deletes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_SYNC_LOAD_H
#define CONCORD_SYNC_LOAD_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"

#include "sync/sync.h"

/* How a page is loaded (see load.c). */
#define SYNC_UPSERT_PLAIN 0		/* INSERT ... ON CONFLICT */
#define SYNC_UPSERT_JOIN 1		/* the same, unchanged rows joined away first */
#define SYNC_LOAD_COPY 2		/* COPY: a page of new rows */

/* The target table as a run sees it. */
typedef struct SyncTarget
{
	Oid			relid;
	char	   *qname;			/* qualified and quoted */
	int			ncols;			/* the spec's columns, in spec order */
	Oid		   *typid;
	int32	   *typmod;
	Oid		   *collation;
	FmgrInfo   *infn;
	Oid		   *ioparam;
	Oid		   *arrtype;		/* of the upsert's parameter */
	int16	   *typlen;
	bool	   *typbyval;
	char	   *typalign;
	bool	   *textcast;		/* no array type (an array column): sent as
								 * text, cast in the statement */
	bool	   *datetime;		/* date, timestamp or timestamptz (or a
								 * domain over one) */
	Oid		   *basetype;		/* the type under any domain */
	int		   *pk;				/* indexes into the columns */
	int			npk;
	FmgrInfo   *pk_out;
	bool		unmapped;
	Oid			softdel_type;	/* BOOLOID, TIMESTAMPTZOID or InvalidOid */
	int			cursor_col;		/* -1 when not incremental */
	FmgrInfo	cursor_cmp;
	FmgrInfo	jsonb_in;
	bool		copy_ok;		/* pages of new rows may be COPYed in */
	char	   *upsert_sql[2];	/* SYNC_UPSERT_PLAIN, SYNC_UPSERT_JOIN */
	char	   *key_sql;		/* the key of target row t as text */
	SPIPlanPtr	upsert[2];
} SyncTarget;

typedef struct SyncCounts
{
	int64		records;
	int64		inserted;
	int64		updated;
	int64		unchanged;
	int64		deleted;
	int64		rejected;
	int64		retried;		/* kept rejects tried again */
	int64		recovered;		/* of those, loaded now */
} SyncCounts;

/* What loading pages of one run needs and accumulates. */
typedef struct SyncLoad
{
	const SyncSpec *spec;
	SyncTarget *target;
	int64		run_id;
	int			page_no;		/* for rejects */
	int			form;			/* how the next page is loaded */
	SyncCounts	counts;
	bool		has_cursor;
	Datum		cursor_max;		/* in cxt */
	int64		pending;		/* kept rejects of earlier runs not settled */
	int64	   *retry_ids;		/* loading kept rejects: their reject_ids */
	MemoryContext cxt;			/* lives for the run */
} SyncLoad;

/* target.c */
extern SyncTarget *sync_target_open(const SyncSpec *spec, bool create_missing,
									bool for_check);
extern void sync_target_prepare(SyncTarget *t);
extern bool sync_target_empty(SyncTarget *t);

/* convert.c */
extern void sync_convert_record(SyncLoad *ld, SyncPage *pg, int i, Datum *vals,
								bool *nulls);
extern char *sync_value_problem(SyncLoad *ld, SyncPage *pg, int i, int c);
extern Datum sync_convert_value(SyncLoad *ld, SyncPage *pg, int i, int c, bool *isnull);
extern char *sync_epoch_text(SyncLoad *ld, int c, const char *txt);
extern char *sync_key_text(SyncTarget *t, Datum *vals);
extern char *sync_raw_key(SyncLoad *ld, SyncPage *pg, int i);

/* copy.c */
extern bool sync_copy_page(SyncLoad *ld, SyncPage *pg, int *idx, int n,
						   ErrorData **error);

/* load.c */
extern void sync_load_page(SyncLoad *ld, SyncPage *pg);
extern int64 sync_apply_deletes(SyncLoad *ld);
extern char *sync_record_problem(SyncLoad *ld, SyncPage *pg, int i);
extern char *sync_cursor_text(SyncLoad *ld);
extern bool sync_data_error(const ErrorData *e);

/* reject.c */
extern void sync_reject(SyncLoad *ld, SyncPage *pg, int i, const char *reason,
						int sqlerrcode);
extern void sync_reject_loaded(SyncLoad *ld, SyncPage *pg, int i);
extern int64 sync_rejects_pending(const char *source);
extern void sync_retry_rejects(SyncLoad *ld);
extern void sync_supersede_rejects(SyncLoad *ld, SyncPage *pg);
extern void sync_rejects_settle(const char *source, const char *why);

#endif							/* CONCORD_SYNC_LOAD_H */
