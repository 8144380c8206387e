/*-------------------------------------------------------------------------
 *
 * explain_guard.c
 *	  Refuse EXPLAIN ANALYZE of a statement that reads rows row security
 *	  hides from the caller.  (What DROP EXTENSION concord undoes first is
 *	  core's hook, src/dropext.c.)
 *
 * EXPLAIN ANALYZE reports what each plan node did, and for a table under
 * row security that includes the hidden rows: "Rows Removed by Filter: 1"
 * under an index scan for `amount = 30` says that a row the caller may not
 * see holds amount 30, and "never executed" on the policy's InitPlan says
 * that none does.  Any indexed column of hidden rows could be read that way,
 * one probe at a time.  So when concord.explain_analyze_guard is on (the
 * default), an EXPLAIN with ANALYZE whose plan reads a relation that row
 * security filters for the role reading it is refused before it runs.  Plain
 * EXPLAIN (estimates only) is allowed, as are superusers and BYPASSRLS roles,
 * to whom no row is hidden.
 *
 * Two hooks: the utility hook knows that an EXPLAIN is running (including
 * EXPLAIN ANALYZE EXECUTE of a prepared statement and EXPLAIN inside a
 * function), and the executor-start hook sees the finished plan, whose range
 * table names every relation read and the role that reads it (a view's owner
 * for the tables under a view).  The hooks are installed whenever the library
 * is loaded; concord is meant to be in shared_preload_libraries, which loads
 * it in every backend before its first statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/extension.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "parser/parse_relation.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"

#include "concord.h"
#include "policy/policy.h"

static ProcessUtility_hook_type prev_process_utility = NULL;
static ExecutorStart_hook_type prev_executor_start = NULL;

/* nesting depth of EXPLAIN statements running in this backend */
static int	explain_depth = 0;

/*
 * The first relation of the plan that row security filters for the role
 * reading it, or InvalidOid.
 */
static Oid
hidden_rows_relation(PlannedStmt *plan)
{
	ListCell   *lc;

	foreach(lc, plan->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind != RTE_RELATION)
			continue;
		if (check_enable_rls(rte->relid, concord_rte_check_as_user(plan, rte), true) == RLS_ENABLED)
			return rte->relid;
	}
	return InvalidOid;
}

/*
 * ExecutorStart hook: inside an EXPLAIN (explain_depth > 0), a plan about
 * to run with instrumentation (ANALYZE) that reads a relation row security
 * filters for its reader is refused before it runs; everything else goes
 * on to the previous hook or the standard executor.
 */
static void
guard_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (explain_depth > 0 && concord_explain_analyze_guard &&
		queryDesc->instrument_options != 0 &&
		(eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0 &&
		queryDesc->plannedstmt != NULL)
	{
		Oid			relid = hidden_rows_relation(queryDesc->plannedstmt);

		if (OidIsValid(relid))
		{
			char	   *nsp = get_namespace_name(get_rel_namespace(relid));
			char	   *rel = get_rel_name(relid);
			const char *name = (nsp && rel) ? quote_qualified_identifier(nsp, rel) : "?";

			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("EXPLAIN ANALYZE is not allowed over %s, where row security hides rows from you",
							name),
					 errdetail("Its counts of rows each plan node removed would tell which values the hidden rows hold."),
					 errhint("Use EXPLAIN without ANALYZE, or ask a DBA to run it (concord.explain_analyze_guard).")));
		}
	}

	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * Utility hook: count the EXPLAINs running, so that the executor-start hook
 * knows an EXPLAIN ANALYZE when it sees one.
 */
static void
guard_process_utility(PlannedStmt *pstmt, const char *queryString,
					  bool readOnlyTree, ProcessUtilityContext context,
					  ParamListInfo params, QueryEnvironment *queryEnv,
					  DestReceiver *dest, QueryCompletion *qc)
{
	bool		is_explain = IsA(pstmt->utilityStmt, ExplainStmt);

	if (is_explain)
		explain_depth++;
	PG_TRY();
	{
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context,
								 params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		if (is_explain)
			explain_depth--;
	}
	PG_END_TRY();
}

/* Install the guard's utility and executor-start hooks. */
void
policy_hooks_install(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = guard_process_utility;
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = guard_executor_start;
}
