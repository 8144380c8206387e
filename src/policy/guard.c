/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  What the governance guard (guard.sql) and the policy component's SQL
 *	  need from C: whether a statement is concord's own doing, which columns
 *	  a checked condition reads, and when a time-bound grant ends.
 *
 *	  concord.guard_internal() RETURNS boolean
 *	  concord.guard_actions(cmd pg_ddl_command)
 *	      RETURNS TABLE (action text, target oid, name text)
 *	  concord.expr_columns(tbl regclass, expr text) RETURNS text[]
 *	  concord.access_until(id bigint) RETURNS timestamptz
 *	  concord.access_visible(id bigint) RETURNS boolean
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "tcop/deparse_utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "concord.h"
#include "policy/policy.h"

PG_FUNCTION_INFO_V1(concord_guard_internal);
PG_FUNCTION_INFO_V1(concord_guard_actions);
PG_FUNCTION_INFO_V1(concord_expr_columns);
PG_FUNCTION_INFO_V1(concord_access_until);
PG_FUNCTION_INFO_V1(concord_access_visible);

/*
 * Whether the running statement is concord's own: one of its API functions
 * that run as concord's owner, still as that owner (concord_in_api_call:
 * user code a call runs as someone else is not concord's), or DROP
 * EXTENSION concord undoing what concord did.
 */
bool
policy_guard_internal(void)
{
	if (concord_dropping_extension)
		return true;
	return concord_in_api_call();
}

/* concord.guard_internal() */
Datum
concord_guard_internal(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(policy_guard_internal());
}

/*
 * concord.guard_actions(cmd): what an ALTER TABLE (ALTER VIEW, ...) that an
 * event trigger reports (pg_event_trigger_ddl_commands().command) does that
 * the governance guard refuses on a governed table, one row each:
 *   disable row security | no force row security       target: the table
 *   disable trigger (name) | disable trigger all | disable trigger user |
 *   enable replica trigger (name)                       target: the table
 *   attach partition                                    target: the partition
 *   inherit                                             target: the parent
 * Other commands, and other subcommands, give no row.  The guard judges a
 * table by what a command does to it, not by the state it leaves: a
 * command that fixes one thing while another is still wrong goes through.
 */
Datum
concord_guard_actions(PG_FUNCTION_ARGS)
{
	CollectedCommand *cmd = (CollectedCommand *) PG_GETARG_POINTER(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	if (cmd == NULL || cmd->type != SCT_AlterTable)
		PG_RETURN_VOID();
	foreach(lc, cmd->d.alterTable.subcmds)
	{
		CollectedATSubcmd *sub = lfirst(lc);
		AlterTableCmd *at = (AlterTableCmd *) sub->parsetree;
		const char *action = NULL;
		Oid			target = cmd->d.alterTable.objectId;
		const char *name = NULL;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (at == NULL || !IsA(at, AlterTableCmd))
			continue;
		switch (at->subtype)
		{
			case AT_DisableRowSecurity:
				action = "disable row security";
				break;
			case AT_NoForceRowSecurity:
				action = "no force row security";
				break;
			case AT_DisableTrig:
				action = "disable trigger";
				name = at->name;
				break;
			case AT_EnableReplicaTrig:
				action = "enable replica trigger";
				name = at->name;
				break;
			case AT_DisableTrigAll:
				action = "disable trigger all";
				break;
			case AT_DisableTrigUser:
				action = "disable trigger user";
				break;
			case AT_AttachPartition:
				if (at->def && IsA(at->def, PartitionCmd) && ((PartitionCmd *) at->def)->name)
				{
					action = "attach partition";
					target = RangeVarGetRelid(((PartitionCmd *) at->def)->name, NoLock, true);
				}
				break;
			case AT_AddInherit:
				if (at->def && IsA(at->def, RangeVar))
				{
					action = "inherit";
					target = RangeVarGetRelid((RangeVar *) at->def, NoLock, true);
				}
				break;
			default:
				break;
		}
		if (action == NULL)
			continue;
		values[0] = CStringGetTextDatum(action);
		values[1] = ObjectIdGetDatum(target);
		nulls[1] = !OidIsValid(target);
		values[2] = name ? CStringGetTextDatum(name) : (Datum) 0;
		nulls[2] = name == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

/*
 * concord.expr_columns(tbl, expr): the columns of tbl that expr, a condition
 * concord compiled (row_policy, column_mask's visible_to), reads, in column
 * order.  expr is parsed as the WHERE clause of SELECT FROM tbl; it has
 * passed concord's checker, so parsing it runs nothing of anyone's.
 */
Datum
concord_expr_columns(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *expr = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));
	char	   *rel = get_rel_name(relid);
	char	   *sql;
	List	   *raw;
	Query	   *q;
	Bitmapset  *attrs = NULL;
	ArrayBuildState *astate = NULL;
	int			x = -1;

	if (nsp == NULL || rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	sql = psprintf("SELECT FROM %s WHERE (%s\n)", quote_qualified_identifier(nsp, rel), expr);
	raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid condition on %s: it is not one condition", quote_qualified_identifier(nsp, rel))));
	q = parse_analyze_fixedparams(linitial(raw), sql, NULL, 0, NULL);
	pull_varattnos(q->jointree->quals, 1, &attrs);
	while ((x = bms_next_member(attrs, x)) >= 0)
	{
		AttrNumber	attnum = x + FirstLowInvalidHeapAttributeNumber;

		if (attnum <= 0)
			continue;
		astate = accumArrayResult(astate, CStringGetTextDatum(get_attname(relid, attnum, false)),
								  false, TEXTOID, CurrentMemoryContext);
	}
	if (astate == NULL)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TEXTOID));
	PG_RETURN_DATUM(makeArrayResult(astate, CurrentMemoryContext));
}

/*
 * concord.access_until(id): until when access grant id shows its rows --
 * its valid_until if it is approved, -infinity otherwise (unknown,
 * requested, rejected, expired).  Read as the owner of concord's tables,
 * so the grantee needs no privilege on access_request.  A grant's policy
 * asks it once per query and compares the answer with the clock at every
 * row it reads: rows read after the end are not shown, in a statement or
 * a cursor that began before it too.
 */
Datum
concord_access_until(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1];
	TimestampTz until = DT_NOBEGIN;

	args[0] = PG_GETARG_DATUM(0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	concord_owner_exec("access_request",
					   "SELECT r.valid_until FROM concord.access_request r"
					   " WHERE r.id OPERATOR(pg_catalog.=) $1 AND r.status OPERATOR(pg_catalog.=) 'approved'",
					   1, types, args, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			until = DatumGetTimestampTz(v);
	}
	SPI_finish();
	PG_RETURN_TIMESTAMPTZ(until);
}

/*
 * concord.access_visible(id): whether the current user may decide access
 * request id (concord.access_may_decide), asked as the owner of concord's
 * tables: the row policy on access_request shows a request to those who
 * may decide it, and a member may read neither members nor departments.
 * Only about the current user, so nobody learns through it which requests
 * another role could decide (which requests exist).
 */
Datum
concord_access_visible(PG_FUNCTION_ARGS)
{
	Oid			types[2] = {OIDOID, INT8OID};
	Datum		args[2];
	bool		visible = false;

	args[0] = ObjectIdGetDatum(GetUserId());
	args[1] = PG_GETARG_DATUM(0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	concord_owner_exec("access_request",
					   "SELECT concord.access_may_decide($1::pg_catalog.regrole, $2)",
					   2, types, args, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		visible = !isnull && DatumGetBool(v);
	}
	SPI_finish();
	PG_RETURN_BOOL(visible);
}
