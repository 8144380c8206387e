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
 *	  of the roles it is a member of (directly or through other groups, as
 *	  pg_auth_members says; a superuser is not thereby in every group).
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

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "concord.h"

PG_FUNCTION_INFO_V1(concord_member);
PG_FUNCTION_INFO_V1(concord_member_in);

/*
 * The roles whose memberships are the user's ($1): itself and the groups
 * it belongs to, with whether the membership is its own.
 */
#define MY_MEMBERSHIPS \
	"WITH RECURSIVE mine(oid) AS (" \
	" SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1" \
	" UNION SELECT a.roleid FROM pg_catalog.pg_auth_members a JOIN mine ON a.member OPERATOR(pg_catalog.=) mine.oid)," \
	" ms AS (SELECT m.*, m.role_name OPERATOR(pg_catalog.=) $1 AS own FROM concord.member m" \
	"  JOIN pg_catalog.pg_roles r ON r.rolname OPERATOR(pg_catalog.=) m.role_name JOIN mine ON mine.oid OPERATOR(pg_catalog.=) r.oid)"

/*
 * Run query ($1: the current user's name, $2: the function's argument) as
 * the owner of concord.member; the first column of its one row, or NULL.
 */
static Datum
lookup(FunctionCallInfo fcinfo, const char *query, Oid restype, bool *isnull)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	Datum		result = (Datum) 0;

	*isnull = true;
	args[0] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	args[1] = PointerGetDatum(PG_GETARG_TEXT_PP(0));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	concord_owner_exec("member", query, 2, types, args, NULL);
	if (SPI_processed == 1)
	{
		Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);

		if (!*isnull)
			result = SPI_datumTransfer(v, restype == BOOLOID, restype == BOOLOID ? 1 : -1);
	}
	SPI_finish();
	return result;
}

Datum
concord_member(PG_FUNCTION_ARGS)
{
	bool		isnull;
	Datum		v = lookup(fcinfo,
						   MY_MEMBERSHIPS
						   ", v AS (SELECT ms.own, CASE $2 WHEN 'department' THEN ms.department WHEN 'title' THEN ms.title"
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
	Datum		v = lookup(fcinfo,
						   MY_MEMBERSHIPS
						   ", up AS ("
						   " SELECT d.name, d.parent, 1 AS depth FROM concord.department d"
						   "  WHERE d.name OPERATOR(pg_catalog.=) ANY (SELECT ms.department FROM ms)"
						   " UNION ALL"
						   " SELECT d.name, d.parent, up.depth OPERATOR(pg_catalog.+) 1 FROM concord.department d"
						   "   JOIN up ON d.name OPERATOR(pg_catalog.=) up.parent"
						   "  WHERE up.depth OPERATOR(pg_catalog.<) 64)"
						   " SELECT pg_catalog.bool_or(up.name OPERATOR(pg_catalog.=) $2) FROM up",
						   BOOLOID, &isnull);

	PG_RETURN_BOOL(!isnull && DatumGetBool(v));
}
