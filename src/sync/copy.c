/*-------------------------------------------------------------------------
 *
 * copy.c
 *	  Load a page of new rows with COPY: PostgreSQL's own bulk insert
 *	  (multi-row heap inserts, one WAL record per batch), with its triggers,
 *	  constraints, defaults, generated columns and partition routing.
 *
 * The first load of a table, and every page of rows that are all new,
 * need no upsert: COPY inserts them for about half the cost.  The page's
 * texts are written in COPY's text format and fed to the COPY machinery
 * through its data-source callback, in a subtransaction.  A key that
 * exists after all (the table was not empty, or a concurrent writer) or a
 * value that does not convert rolls it back, and the caller loads the page
 * by upsert, record by record if need be (load.c).
 *
 * COPY does not see row-level security or rules: target.c allows it only
 * on tables with neither (copy_ok).  The table-level INSERT privilege is
 * checked by target.c as for the upsert.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "commands/copy.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "sync/load.h"

/* What the data-source callback hands to COPY (one COPY at a time). */
static struct
{
	const char *data;
	size_t		len;
	size_t		pos;
} feed;

/* COPY's data-source callback: the next bytes of the page; 0 at the end. */
static int
copy_source(void *outbuf, int minread, int maxread)
{
	size_t		n = Min((size_t) maxread, feed.len - feed.pos);

	memcpy(outbuf, feed.data + feed.pos, n);
	feed.pos += n;
	return (int) n;
}

/* Append s to b as a field of COPY's text format. */
static void
copy_field(StringInfo b, const char *s)
{
	const char *p;

	if (s == NULL)
	{
		appendBinaryStringInfo(b, "\\N", 2);
		return;
	}
	if (strpbrk(s, "\\\n\r\t") == NULL)
	{
		appendStringInfoString(b, s);
		return;
	}
	for (p = s; *p; p++)
	{
		switch (*p)
		{
			case '\\':
				appendBinaryStringInfo(b, "\\\\", 2);
				break;
			case '\n':
				appendBinaryStringInfo(b, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(b, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(b, "\\t", 2);
				break;
			default:
				appendStringInfoChar(b, *p);
		}
	}
}

/*
 * The page's records idx[0..n) as COPY text: the mapped columns, the
 * unmapped fields, the soft-delete flag.  Raises for a value that cannot
 * go as it is (a Unix time out of range, a number for a date).
 */
static void
copy_text(SyncLoad *ld, SyncPage *pg, int *idx, int n, StringInfo b)
{
	SyncTarget *t = ld->target;
	const SyncSpec *s = ld->spec;
	int			nc = t->ncols;

	for (int r = 0; r < n; r++)
	{
		int			i = idx[r];

		for (int c = 0; c < nc; c++)
		{
			const char *txt = pg->values[i * nc + c];
			char	   *why;

			if (c > 0)
				appendStringInfoChar(b, '\t');
			if (txt != NULL && s->columns[c].epoch)
				txt = sync_epoch_text(ld, c, txt);
			else if ((why = sync_value_problem(ld, pg, i, c)) != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
						 errmsg("%s", why)));
			copy_field(b, txt);
		}
		if (t->unmapped)
		{
			appendStringInfoChar(b, '\t');
			copy_field(b, pg->unmapped[i]);
		}
		if (OidIsValid(t->softdel_type))
			appendStringInfoString(b, t->softdel_type == BOOLOID ? "\tf" : "\t\\N");
		appendStringInfoChar(b, '\n');
	}
}

/* COPY the text in b into the target; the number of rows inserted. */
static uint64
copy_into(SyncLoad *ld, StringInfo b)
{
	SyncTarget *t = ld->target;
	const SyncSpec *s = ld->spec;
	ParseState *pstate = make_parsestate(NULL);
	List	   *columns = NIL;
	List	   *options;
	Relation	rel;
	CopyFromState cstate;
	uint64		processed;

	for (int c = 0; c < t->ncols; c++)
		columns = lappend(columns, makeString(s->columns[c].name));
	if (t->unmapped)
		columns = lappend(columns, makeString(s->unmapped_column));
	if (OidIsValid(t->softdel_type))
		columns = lappend(columns, makeString(s->soft_delete_column));
	options = list_make2(makeDefElem("format", (Node *) makeString("text"), -1),
						 makeDefElem("encoding", (Node *) makeString("UTF8"), -1));

	pstate->p_sourcetext = "COPY (sync)";
	rel = table_open(t->relid, RowExclusiveLock);
	(void) addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);
	feed.data = b->data;
	feed.len = b->len;
	feed.pos = 0;
	cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, copy_source, columns, options);
	processed = CopyFrom(cstate);
	EndCopyFrom(cstate);
	table_close(rel, NoLock);
	return processed;
}

/*
 * COPY records idx[0..n) of the page into the target, in a subtransaction.
 * Returns true when they are in; false, with *error (or NULL when the page
 * did not qualify), when the data stopped it: nothing of it stays, and the
 * caller loads the page by upsert.  Other errors (a cancel, a shutdown)
 * are raised.
 */
bool
sync_copy_page(SyncLoad *ld, SyncPage *pg, int *idx, int n, ErrorData **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	StringInfoData b;
	volatile uint64 processed = 0;
	ErrorData  *volatile e = NULL;

	*error = NULL;
	initStringInfo(&b);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		copy_text(ld, pg, idx, n, &b);
		processed = copy_into(ld, &b);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		pgstat_progress_end_command();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	feed.data = NULL;
	pfree(b.data);
	if (e != NULL)
	{
		if (!sync_data_error(e))
			ReThrowError(e);
		*error = e;
		return false;
	}
	CommandCounterIncrement();
	/* rows a BEFORE trigger skipped count as unchanged, as with the upsert */
	ld->counts.inserted += (int64) processed;
	ld->counts.unchanged += n - (int64) processed;
	return true;
}
