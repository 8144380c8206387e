/*-------------------------------------------------------------------------
 *
 * run.h
 *	  A run of a source, shared by the run driver (run.c), the walk of its
 *	  pages (pager.c), source_check (check.c) and the source functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_SYNC_RUN_H
#define CONCORD_SYNC_RUN_H

#include "postgres.h"

#include "storage/lock.h"
#include "utils/resowner.h"

#include "sync/fetch.h"
#include "sync/load.h"

/* The position of a pass. */
typedef struct SyncPager
{
	int64		page;			/* page number to request */
	int64		offset;			/* offset to request */
	char	   *cursor;			/* cursor to send, or NULL */
	bool		cursor_number;	/* it was a JSON number (for a JSON body) */
	char	   *url;			/* URL to request */
	bool		first;			/* the next request is the pass's first */
	int64		pages;			/* pages of the pass so far */
	int64		records;		/* records of the pass so far */
	bool		done;
	uint64	   *seen;			/* hashes of cursors/URLs followed */
	int			nseen;
	int			seencap;
	uint32		last_hash;
	bool		has_last;
} SyncPager;

typedef struct SyncRun
{
	const char *source;
	SyncSpec   *spec;
	bool		atomic;
	MemoryContext cxt;
	MemoryContext page_cxt[2];	/* alternate: the page loaded, the next one */
	int			flip;
	SyncRequest *next;			/* the next page's request, begun */
	SyncParser *parser;			/* NULL: pages are parsed in the backend */
	bool		submitted;		/* the parser has the next page */
	HttpResult *next_res;		/* its response */
	SyncArena  *arena;			/* holds the page parsed by the thread */
	bool		loaded_all;		/* the pass's last page is loaded */
	ResourceOwner owner;
	bool		in_sub;
	bool		pushed_snapshot;
	bool		locked;
	LOCKTAG		lock;
	int64		run_id;
	int64		pass_run_id;
	int64		run_pages;		/* pages loaded by this run */
	SyncCounts	done_counts;	/* counts of what has committed */
	int64		done_pages;
	char	   *cursor_before;
	char	   *since;			/* the cursor value sent this pass, as sent */
	bool		since_number;	/* it is a number (for a JSON body) */
	SyncPager	pg;
	SyncFetcher *fetch;
	SyncLoad	ld;
	SyncPage	page;			/* the page just parsed */
} SyncRun;

/* run.c */
extern char *sync_source_spec(const char *source, char **owner);
extern void sync_check_owner(const char *source, const char *owner, const char *verb);
extern void sync_source_locktag(LOCKTAG *tag, const char *source);
extern char *sync_spi_text(int col);

/* pager.c */
extern char *sync_pass_since(SyncRun *r, const char *stored);
extern bool sync_since_is_number(SyncRun *r);
extern SyncAccept sync_page_verdict(SyncRun *r, bool parsed, char **why);
extern SyncRequest *sync_page_request(SyncRun *r);
extern HttpResult *sync_fetch_page(SyncRun *r, SyncRequest *q);
extern void sync_advance(SyncRun *r, HttpResult *res, int n);

#endif							/* CONCORD_SYNC_RUN_H */
