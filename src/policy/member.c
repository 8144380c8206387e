/*-------------------------------------------------------------------------
 *
 * member.c
 *	  What row policies read about the user running a query: its member
 *	  attributes and departments, from concord's own tables.
 *
 *	  concord.member(attribute text) RETURNS text
 *	  concord.member_in(department text) RETURNS boolean
 *
 *	  The user is the current user of the query (GetUserId()), never
 *	  something a session can set (a custom setting, application_name).
 *
 *	  Members can be group roles: a login role belongs to the memberships
 *	  of the roles whose privileges it has (pg_has_role ... 'USAGE', as
 *	  PostgreSQL decides: through other groups too, but not through a
 *	  membership it does not inherit -- a NOINHERIT role, or on 16 and
 *	  later a grant WITH INHERIT FALSE -- which counts only once it SET
 *	  ROLEs to the group; a superuser is not thereby in every group, only
 *	  in those it is a member of).
 *	  member_in() is true if any of them is in the department's subtree;
 *	  member() takes the user's own membership's value, else the value its
 *	  groups that have one agree on, else NULL (groups that disagree give
 *	  no value, so a policy over it shows nothing rather than guessing).
 *	  The member table is read as its owner (concord_owner_exec), so
 *	  members need no privilege on it and see nobody's attributes but
 *	  their own: what SECURITY DEFINER would do, except that SECURITY
 *	  DEFINER would also make the owner the current user, the very thing
 *	  asked about.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "concord.h"
#include "policy/policy.h"

PG_FUNCTION_INFO_V1(concord_member);
PG_FUNCTION_INFO_V1(concord_member_in);

/*
 * The roles whose memberships are the user's ($1): itself and the groups
 * whose privileges it has (walked through pg_auth_members, kept where
 * pg_has_role says it has their privileges), with whether the membership
 * is its own.  %1$s is the
 * member table (concord.member, or its mirror's placement under Citus).
 */
#define MY_MEMBERSHIPS \
	"WITH RECURSIVE walk(oid) AS (" \
	" SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1" \
	" UNION SELECT a.roleid FROM pg_catalog.pg_auth_members a JOIN walk ON a.member OPERATOR(pg_catalog.=) walk.oid)," \
	" mine AS (SELECT walk.oid FROM walk WHERE pg_catalog.pg_has_role(" \
	"  (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1), walk.oid, 'USAGE'))," \
	" ms AS (SELECT m.*, m.role_name OPERATOR(pg_catalog.=) $1 AS own FROM %1$s m" \
	"  JOIN pg_catalog.pg_roles r ON r.rolname OPERATOR(pg_catalog.=) m.role_name JOIN mine ON mine.oid OPERATOR(pg_catalog.=) r.oid)"

/*
 * Answers already looked up in this statement.  A row policy on a Citus
 * distributed table calls member() per row (Citus cannot ship the scalar
 * subquery that makes it once per query elsewhere), so the answer is kept
 * for the rest of the statement: same local transaction, statement start,
 * command, snapshot and user (a commit elsewhere between two statements
 * of one client message gives the second a new snapshot, and a new
 * answer).  A few entries, for predicates with several calls.
 */
#define ANSWERS 8

typedef struct Answer
{
	bool		used;
	bool		in;				/* member_in (else member) */
	Oid			userid;
	LocalTransactionId lxid;
	TimestampTz stmt;
	CommandId	cid;
	TransactionId snap_xmin;	/* the statement's snapshot */
	TransactionId snap_xmax;
	char	   *arg;
	Datum		value;
	bool		isnull;
} Answer;

static Answer answers[ANSWERS];
static int	next_answer;

/* The active snapshot's bounds (invalid outside one): a new one after a commit elsewhere. */
static void
snapshot_bounds(TransactionId *xmin, TransactionId *xmax)
{
	Snapshot	snap = ActiveSnapshotSet() ? GetActiveSnapshot() : NULL;

	*xmin = snap ? snap->xmin : InvalidTransactionId;
	*xmax = snap ? snap->xmax : InvalidTransactionId;
}

/* This statement's kept answer of member() (in: member_in()) for arg, or NULL. */
static Answer *
answer_find(bool in, const char *arg)
{
	TransactionId xmin,
				xmax;

	snapshot_bounds(&xmin, &xmax);
	for (int i = 0; i < ANSWERS; i++)
	{
		Answer	   *a = &answers[i];

		if (a->used && a->in == in && a->userid == GetUserId() && a->lxid == concord_my_lxid() &&
			a->stmt == GetCurrentStatementStartTimestamp() &&
			a->cid == GetCurrentCommandId(false) && a->snap_xmin == xmin && a->snap_xmax == xmax &&
			strcmp(a->arg, arg) == 0)
			return a;
	}
	return NULL;
}

/* Keep an answer for the rest of the statement, in place of the oldest kept. */
static void
answer_keep(bool in, const char *arg, Datum value, bool isnull)
{
	Answer	   *a = &answers[next_answer];

	next_answer = (next_answer + 1) % ANSWERS;
	if (a->used)
	{
		pfree(a->arg);
		if (!a->in && !a->isnull)
			pfree(DatumGetPointer(a->value));
	}
	a->used = false;
	a->arg = MemoryContextStrdup(TopMemoryContext, arg);
	a->in = in;
	a->userid = GetUserId();
	a->lxid = concord_my_lxid();
	a->stmt = GetCurrentStatementStartTimestamp();
	a->cid = GetCurrentCommandId(false);
	snapshot_bounds(&a->snap_xmin, &a->snap_xmax);
	a->isnull = isnull;
	a->value = value;
	if (!in && !isnull)
	{
		/* the text outlives the statement's memory */
		Size		len = VARSIZE_ANY(DatumGetPointer(value));

		a->value = PointerGetDatum(memcpy(MemoryContextAlloc(TopMemoryContext, len),
										  DatumGetPointer(value), len));
	}
	a->used = true;
}

/*
 * Run query (a format: %1$s the member table, %2$s the department table;
 * $1: the current user's name, $2: the function's argument) as the owner
 * of concord.member; the first column of its one row, or NULL.
 */
static Datum
lookup(FunctionCallInfo fcinfo, bool in, const char *query, Oid restype, bool *isnull)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	Datum		result = (Datum) 0;
	char	   *arg = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Answer	   *known = answer_find(in, arg);
	char	   *members,
			   *departments;

	if (known)
	{
		*isnull = known->isnull;
		if (in || known->isnull)
			return known->value;
		/* a copy: the caller may free its result */
		return PointerGetDatum(memcpy(palloc(VARSIZE_ANY(DatumGetPointer(known->value))),
									  DatumGetPointer(known->value),
									  VARSIZE_ANY(DatumGetPointer(known->value))));
	}
	*isnull = true;
	args[0] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	args[1] = PointerGetDatum(PG_GETARG_TEXT_PP(0));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	members = policy_citus_mirror("member");
	departments = in ? policy_citus_mirror("department") : NULL;	/* member() reads none */
	concord_owner_exec("member", psprintf(query, members ? members : "concord.member",
										  departments ? departments : "concord.department"),
					   2, types, args, NULL);
	if (SPI_processed == 1)
	{
		Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);

		if (!*isnull)
			result = SPI_datumTransfer(v, restype == BOOLOID, restype == BOOLOID ? 1 : -1);
	}
	SPI_finish();
	answer_keep(in, arg, result, *isnull);
	return result;
}

Datum
concord_member(PG_FUNCTION_ARGS)
{
	bool		isnull;
	Datum		v = lookup(fcinfo, false,
						   MY_MEMBERSHIPS
						   ", v AS (SELECT ms.own, CASE WHEN $2 OPERATOR(pg_catalog.=) 'department' THEN ms.department"
						   "  WHEN $2 OPERATOR(pg_catalog.=) 'title' THEN ms.title"
						   "  ELSE ms.attributes OPERATOR(pg_catalog.->>) $2 END AS v FROM ms)"
						   " SELECT coalesce((SELECT v.v FROM v WHERE v.own),"
						   "  (SELECT pg_catalog.min(v.v) FROM v WHERE NOT v.own"
						   "    HAVING pg_catalog.count(DISTINCT v.v) OPERATOR(pg_catalog.=) 1))",
						   TEXTOID, &isnull);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(v);
}

Datum
concord_member_in(PG_FUNCTION_ARGS)
{
	bool		isnull;
	Datum		v = lookup(fcinfo, true,
						   MY_MEMBERSHIPS
						   ", up AS ("
						   " SELECT d.name, d.parent, 1 AS depth FROM %2$s d"
						   "  WHERE d.name OPERATOR(pg_catalog.=) ANY (SELECT ms.department FROM ms)"
						   " UNION ALL"
						   " SELECT d.name, d.parent, up.depth OPERATOR(pg_catalog.+) 1 FROM %2$s d"
						   "   JOIN up ON d.name OPERATOR(pg_catalog.=) up.parent"
						   "  WHERE up.depth OPERATOR(pg_catalog.<) 64)"
						   " SELECT pg_catalog.bool_or(up.name OPERATOR(pg_catalog.=) $2) FROM up",
						   BOOLOID, &isnull);

	PG_RETURN_BOOL(!isnull && DatumGetBool(v));
}
