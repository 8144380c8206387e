/*-------------------------------------------------------------------------
 *
 * load.h
 *	  The target side of a sync run (load.c): the target table, converting
 *	  records to its column types, batched upserts, rejects, deletes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_SYNC_LOAD_H
#define CONCORD_SYNC_LOAD_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"

#include "sync/sync.h"

/* The two forms of the upsert (see build_sql in load.c). */
#define SYNC_UPSERT_PLAIN 0
#define SYNC_UPSERT_JOIN 1

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
	Oid		   *arrtype;
	int16	   *typlen;
	bool	   *typbyval;
	char	   *typalign;
	int		   *pk;				/* indexes into the columns */
	int			npk;
	FmgrInfo   *pk_out;
	bool		unmapped;
	Oid			softdel_type;	/* BOOLOID, TIMESTAMPTZOID or InvalidOid */
	int			cursor_col;		/* -1 when not incremental */
	FmgrInfo	cursor_cmp;
	FmgrInfo	jsonb_in;
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
} SyncCounts;

/* What loading pages of one run needs and accumulates. */
typedef struct SyncLoad
{
	const SyncSpec *spec;
	SyncTarget *target;
	int64		run_id;
	int			page_no;		/* for rejects */
	int			form;			/* upsert form for the next page */
	SyncCounts	counts;
	bool		has_cursor;
	Datum		cursor_max;		/* in cxt */
	MemoryContext cxt;			/* lives for the run */
} SyncLoad;

extern SyncTarget *sync_target_open(const SyncSpec *spec, bool create_missing,
									bool for_check);
extern void sync_target_prepare(SyncTarget *t);
extern void sync_load_page(SyncLoad *ld, SyncPage *page);
extern int64 sync_apply_deletes(SyncLoad *ld);
extern char *sync_record_problem(SyncLoad *ld, SyncPage *pg, int i);
extern char *sync_cursor_text(SyncLoad *ld);

#endif							/* CONCORD_SYNC_LOAD_H */
