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
						   "SELECT CASE $2 WHEN 'department' THEN m.department WHEN 'title' THEN m.title"
						   " ELSE m.attributes OPERATOR(pg_catalog.->>) $2 END"
						   " FROM concord.member m WHERE m.role_name OPERATOR(pg_catalog.=) $1",
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
						   "WITH RECURSIVE up AS ("
						   " SELECT d.name, d.parent, 1 AS depth FROM concord.department d"
						   "  WHERE d.name OPERATOR(pg_catalog.=) (SELECT m.department FROM concord.member m"
						   "                                        WHERE m.role_name OPERATOR(pg_catalog.=) $1)"
						   " UNION ALL"
						   " SELECT d.name, d.parent, up.depth OPERATOR(pg_catalog.+) 1 FROM concord.department d"
						   "   JOIN up ON d.name OPERATOR(pg_catalog.=) up.parent"
						   "  WHERE up.depth OPERATOR(pg_catalog.<) 64)"
						   " SELECT pg_catalog.bool_or(up.name OPERATOR(pg_catalog.=) $2) FROM up",
						   BOOLOID, &isnull);

	PG_RETURN_BOOL(!isnull && DatumGetBool(v));
}
