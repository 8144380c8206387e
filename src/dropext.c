/*-------------------------------------------------------------------------
 *
 * dropext.c
 *	  What DROP EXTENSION concord does first: undo what concord changed
 *	  outside its own objects, in the same transaction (if the drop fails,
 *	  nothing changed).
 *
 * DROP EXTENSION concord CASCADE drops what depends on concord's objects,
 * but leaves what only concord's tables know about (governed views,
 * published views, row security concord turned on, triggers of rollups and
 * event rules).  Each component registers its cleanup function in
 * concord.component_hook; concord.extension_cleanup() (src/uninstall.sql)
 * runs them, the last registered first.  This utility hook calls it, and
 * sets concord_dropping_extension while the drop runs, so that the
 * governance guard lets concord's own drop undo what it made.  Installed
 * whenever the library is loaded (not only under shared_preload_libraries).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/extension.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"

#include "concord.h"

bool		concord_dropping_extension = false;

static ProcessUtility_hook_type prev_process_utility = NULL;

/* Whether stmt is a DROP EXTENSION of concord (installed). */
static bool
drops_concord(Node *stmt)
{
	DropStmt   *drop = (DropStmt *) stmt;
	ListCell   *lc;

	if (!IsA(stmt, DropStmt) || drop->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, drop->objects)
	{
		if (strcmp(strVal(lfirst(lc)), "concord") == 0 && OidIsValid(get_extension_oid("concord", true)))
			return true;
	}
	return false;
}

/* Run concord.extension_cleanup(): every component's cleanup. */
static void
cleanup_before_drop(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT concord.extension_cleanup()", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "concord.extension_cleanup() failed");
	SPI_finish();
}

/*
 * Utility hook: at DROP EXTENSION concord, the components' cleanup first,
 * with concord_dropping_extension set for the cleanup and the drop.
 */
static void
drop_process_utility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	bool		dropping = drops_concord(pstmt->utilityStmt);
	bool		was_dropping = concord_dropping_extension;

	if (dropping)
		concord_dropping_extension = true;
	PG_TRY();
	{
		if (dropping)
			cleanup_before_drop();
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context,
								 params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		concord_dropping_extension = was_dropping;
	}
	PG_END_TRY();
}

/* Install the DROP EXTENSION hook (_PG_init, every backend that loads us). */
void
concord_drop_hooks_install(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = drop_process_utility;
}
