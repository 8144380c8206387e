/*-------------------------------------------------------------------------
 *
 * elevate.c
 *	  Running concord's own code with more rights than its caller, and a
 *	  person's query with exactly hers.
 *
 * Whatever runs with rights the caller does not have -- statements on
 * concord's tables run as their owner, triggers that queue changes, the
 * worker -- must not be steerable by the caller: search_path is pinned to
 * "pg_catalog, pg_temp" for its whole duration (restored on every exit),
 * the user is switched with SECURITY_RESTRICTED_OPERATION, and no value of
 * a type the caller controls is cast or compared (its casts and operators
 * would be the caller's code, run with our rights).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "catalog/pg_authid.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "concord.h"

PG_FUNCTION_INFO_V1(concord_eval_as);

/* A statement concord_owner_exec has prepared: its SQL text and kept plan. */
typedef struct OwnerPlan
{
	const char *sql;			/* hash key: the text, copied (must be first) */
	SPIPlanPtr	plan;
} OwnerPlan;

static HTAB *owner_plans = NULL;

/*
 * Become role for code that must not be steered by the caller: names
 * resolve in pg_catalog (then pg_temp, for relations and types only), and
 * the security-restricted flag keeps the code run from changing role.
 */
void
concord_elevate(Oid role, ConcordElevation *e)
{
	GetUserIdAndSecContext(&e->save_userid, &e->save_sec);
	e->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(role, e->save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/* Back to the caller's user, security context and search_path. */
void
concord_unelevate(ConcordElevation *e)
{
	SetUserIdAndSecContext(e->save_userid, e->save_sec);
	AtEOXact_GUC(false, e->save_nestlevel);
}

/*
 * Run one statement through SPI as the owner of concord's table relname
 * (the caller needs no privilege on concord's tables and cannot forge
 * their rows); its result is in SPI_tuptable.  The caller is connected to
 * SPI.  The current user is taken, where it matters, before the call.
 * The statement is prepared and run elevated (concord_elevate): nothing
 * of the caller's search_path takes part.  Each statement (by its text,
 * with the same argument types every time) is prepared once per backend:
 * some run once per row written.
 */
void
concord_owner_exec(const char *relname, const char *sql, int nargs, Oid *types, Datum *values,
				   const char *nulls)
{
	ConcordElevation elev;
	int			rc;
	OwnerPlan  *op;
	bool		found;

	if (owner_plans == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(const char *);
		ctl.entrysize = sizeof(OwnerPlan);
		ctl.hash = concord_strptr_hash;
		ctl.match = concord_strptr_match;
		ctl.hcxt = TopMemoryContext;
		owner_plans = hash_create("concord owner statements", 64, &ctl,
								  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	concord_elevate(concord_relation_owner(concord_relation_oid(relname, false)), &elev);
	PG_TRY();
	{
		op = hash_search(owner_plans, &sql, HASH_FIND, NULL);
		if (op == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

			if (plan == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			if (SPI_keepplan(plan) != 0)
				elog(ERROR, "SPI_keepplan failed");
			op = hash_search(owner_plans, &sql, HASH_ENTER, &found);
			op->sql = MemoryContextStrdup(TopMemoryContext, sql);
			op->plan = plan;
		}
		rc = SPI_execute_plan(op->plan, values, nulls, false, 0);
		if (rc < 0)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	}
	PG_FINALLY();
	{
		concord_unelevate(&elev);
	}
	PG_END_TRY();
}

/*
 * Whether values of type typid can be converted and compared with elevated
 * rights without running anyone's code: a type of PostgreSQL's own (OID
 * below FirstNormalObjectId), or a domain or array over one.  The casts,
 * operators and output functions of a type someone created are that
 * someone's code.
 */
bool
concord_type_is_builtin(Oid typid)
{
	Oid			elem;

	typid = getBaseType(typid);
	elem = get_element_type(typid);
	if (OidIsValid(elem))
		typid = getBaseType(elem);
	return OidIsValid(typid) && typid < FirstNormalObjectId;
}

PG_FUNCTION_INFO_V1(concord_require_builtin_column);

/*
 * concord.require_builtin_column(tbl, col): the column's type, if concord
 * may convert its values with elevated rights (concord_type_is_builtin);
 * an error naming the column and its type otherwise.  Triggers that run
 * as concord's owner call it at every firing, since the table's owner may
 * change the column's type at any time.
 */
Datum
concord_require_builtin_column(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *col = text_to_cstring(PG_GETARG_TEXT_PP(1));
	AttrNumber	attnum;
	Oid			typid;

	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	attnum = get_attnum(relid, col);
	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation %s does not exist", col,
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												   get_rel_name(relid)))));
	typid = get_atttype(relid, attnum);
	if (!concord_type_is_builtin(typid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation %s has type %s, which concord does not convert with its own rights",
						col,
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												   get_rel_name(relid)),
						format_type_be(typid)),
				 errdetail("Its casts and operators are code of the type's owner."),
				 errhint("Use a column of a built-in type (text, integer, bigint, uuid, date, timestamptz, ...), or a domain over one.")));
	PG_RETURN_OID(typid);
}

/*
 * What eval_as and exec_as (fname) ask before they run sql as role: that
 * the role exists, that the caller may act as it already (a superuser, the
 * role itself, or a member with its privileges), and that sql is one
 * statement (what: "query" or "statement", for the message).
 */
static void
check_run_as(Oid role, const char *sql, const char *fname, const char *what)
{
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", role)));
	if (!has_privs_of_role(GetUserId(), role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to run a %s as role \"%s\"",
						what, GetUserNameFromId(role, false)),
				 errdetail("Only the role itself, its members and superusers may.")));
	if (list_length(raw_parser(sql, RAW_PARSE_DEFAULT)) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s runs exactly one statement", fname)));
}

/*
 * concord.eval_as(role, sql): run sql, one statement, as role -- read-only,
 * elevated (concord_elevate), in a subtransaction that is rolled back --
 * and give the first column of its first row if that column is jsonb, else
 * NULL.  For code that must run a person's query with her rights and no
 * more, from wherever it is called: alert checks in the worker (connected
 * as the bootstrap superuser), definitions checked as their definer.  A
 * SET ROLE would not do: a function the query calls could RESET ROLE.  The
 * caller must be able to act as role already (a superuser, role itself, or
 * a member with its privileges): nobody gains rights through it.
 */
Datum
concord_eval_as(PG_FUNCTION_ARGS)
{
	Oid			role = PG_GETARG_OID(0);
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Datum		result = (Datum) 0;
	bool		isnull = true;

	check_run_as(role, sql, "eval_as", "query");

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		ConcordElevation elev;

		/* restored by the subtransaction's end, whichever way it ends */
		XactReadOnly = true;
		concord_elevate(role, &elev);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute(sql, false, 1) < 0)
			elog(ERROR, "SPI_execute failed");
		if (SPI_tuptable != NULL && SPI_processed == 1 && SPI_tuptable->tupdesc->natts >= 1 &&
			SPI_gettypeid(SPI_tuptable->tupdesc, 1) == JSONBOID)
		{
			Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			/* into the caller's memory, which outlives the subtransaction */
			if (!isnull)
				result = SPI_datumTransfer(v, false, -1);
		}
		SPI_finish();
		concord_unelevate(&elev);
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/*
		 * The subtransaction's abort puts back the user, the security
		 * context, search_path, read-only mode and SPI.
		 */
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		ReThrowError(edata);
	}
	PG_END_TRY();

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * Functions of concord's API that run as concord's owner.
 *
 * An API function that writes concord's tables (a rule, an endpoint, a
 * metric) must run with the rights of the tables' owner, yet know who
 * called it: to record her as the object's owner and to check that she may
 * change it.  SECURITY DEFINER loses the caller.  So such a function is
 * declared in schema concord with SET concord.run_as = 'owner' (and no
 * SECURITY DEFINER; 'owner_temp' for one that needs temporary tables, which
 * a security-restricted operation may not make); PostgreSQL then calls it through fmgr_security_definer,
 * whose hook (below) remembers the caller, elevates to the function's
 * owner (concord_elevate: pinned search_path, security-restricted) for the
 * call, and puts everything back after it, also on error.  concord.caller()
 * tells the function who called it.  Only a function in schema concord
 * counts (nobody but concord's owner may create functions there), so
 * setting concord.run_as on one's own function does nothing.
 *
 * A function of the API called by another (an alert notifying through the
 * outbox) acts for the same caller: the first one's caller is kept while
 * the user is still the one the first elevated to.
 */
typedef struct ApiCall
{
	Oid			caller;			/* for whom the call acts */
	Oid			owner;			/* the user it runs as */
	Oid			save_userid;	/* the user and context before it */
	int			save_sec;
} ApiCall;

#define API_MAX_DEPTH 64

static ApiCall api_calls[API_MAX_DEPTH];
static int	api_depth = 0;
static fmgr_hook_type prev_fmgr_hook = NULL;
static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;

/*
 * The per-FmgrInfo decision, kept in fmgr_hook's private datum: not ours,
 * or the owner to run as and whether the call is security-restricted.
 */
#define API_UNKNOWN		((Datum) 0)
#define API_NOT_OURS	((Datum) 1)
#define API_FLAG		0x100000000000ULL
#define API_TEMP		0x200000000000ULL
#define API_OURS(owner, temp)	((Datum) (((uint64) (owner) << 1) | API_FLAG | ((temp) ? API_TEMP : 0)))
#define API_OWNER(d)	((Oid) (((uint64) (d) & ~(API_FLAG | API_TEMP)) >> 1))
#define API_RESTRICTED(d)	(((uint64) (d) & API_TEMP) == 0)

/*
 * Whether function fn_oid is one of concord's run-as-owner functions: in
 * schema concord, with concord.run_as = 'owner' (or 'owner_temp') among its
 * own settings.  Its owner, or InvalidOid; *temp: 'owner_temp'.
 */
static Oid
api_function_owner(Oid fn_oid, bool *temp)
{
	HeapTuple	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	Form_pg_proc proc;
	Datum		config;
	bool		isnull;
	Oid			owner = InvalidOid;
	Oid			nsp;

	if (!HeapTupleIsValid(tp))
		return InvalidOid;
	proc = (Form_pg_proc) GETSTRUCT(tp);
	nsp = concord_schema_oid(true);
	if (OidIsValid(nsp) && proc->pronamespace == nsp && !proc->prosecdef)
	{
		config = SysCacheGetAttr(PROCOID, tp, Anum_pg_proc_proconfig, &isnull);
		if (!isnull)
		{
			ArrayType  *arr = DatumGetArrayTypeP(config);
			Datum	   *items;
			int			n;

			deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &items, NULL, &n);
			for (int i = 0; i < n; i++)
			{
				char	   *item = TextDatumGetCString(items[i]);

				if (strcmp(item, "concord.run_as=owner") == 0 ||
					strcmp(item, "concord.run_as=owner_temp") == 0)
				{
					owner = proc->proowner;
					*temp = strcmp(item, "concord.run_as=owner_temp") == 0;
				}
				pfree(item);
			}
		}
	}
	ReleaseSysCache(tp);
	return owner;
}

/*
 * fmgr's hook, called around every SECURITY DEFINER function and every
 * function with SET options: for concord's run-as-owner functions,
 * elevate on the way in and restore on the way out.
 */
static void
api_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	if (prev_fmgr_hook)
		(*prev_fmgr_hook) (event, flinfo, private);

	if (*private == API_UNKNOWN)
	{
		bool		temp = false;
		Oid			owner = api_function_owner(flinfo->fn_oid, &temp);

		*private = OidIsValid(owner) ? API_OURS(owner, temp) : API_NOT_OURS;
	}
	if (*private == API_NOT_OURS)
		return;

	switch (event)
	{
		case FHET_START:
			{
				Oid			user = GetUserId();
				ApiCall    *call;

				if (api_depth >= API_MAX_DEPTH)
					ereport(ERROR,
							(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
							 errmsg("concord's API functions are nested more than %d deep", API_MAX_DEPTH)));
				call = &api_calls[api_depth];
				call->owner = API_OWNER(*private);
				if (api_depth > 0 && api_calls[api_depth - 1].owner == user)
					call->caller = api_calls[api_depth - 1].caller;
				else
					call->caller = user;
				/*
				 * As concord_elevate, but at the function's own GUC nesting
				 * level (it has one: it has SET options), which
				 * fmgr_security_definer closes before FHET_END.
				 */
				GetUserIdAndSecContext(&call->save_userid, &call->save_sec);
				(void) set_config_option("search_path", "pg_catalog, pg_temp",
										 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
				/*
				 * 'owner_temp' (functions that need temporary tables):
				 * without SECURITY_RESTRICTED_OPERATION, but SET ROLE and
				 * SET SESSION AUTHORIZATION stay refused
				 * (SECURITY_LOCAL_USERID_CHANGE).
				 */
				SetUserIdAndSecContext(call->owner, call->save_sec | SECURITY_LOCAL_USERID_CHANGE |
									   (API_RESTRICTED(*private) ? SECURITY_RESTRICTED_OPERATION : 0));
				api_depth++;
				break;
			}
		case FHET_END:
		case FHET_ABORT:
			if (api_depth > 0)
			{
				api_depth--;
				SetUserIdAndSecContext(api_calls[api_depth].save_userid, api_calls[api_depth].save_sec);
			}
			break;
	}
}

/*
 * Run-as-owner functions are called through fmgr_security_definer because
 * they have SET options; nothing else needs the hook.
 */
static bool
api_needs_fmgr_hook(Oid fn_oid)
{
	return prev_needs_fmgr_hook ? (*prev_needs_fmgr_hook) (fn_oid) : false;
}

/* A transaction that ends leaves no API call open (errors in between included). */
static void
api_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		api_depth = 0;
}

/* Install the hook (from _PG_init, in every backend that loads concord). */
void
concord_api_hooks_install(void)
{
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = api_fmgr_hook;
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = api_needs_fmgr_hook;
	RegisterXactCallback(api_xact_callback, NULL);
}

/* The role a running API function acts for; outside one, the current user. */
Oid
concord_caller(void)
{
	return api_depth > 0 ? api_calls[api_depth - 1].caller : GetUserId();
}

/*
 * Whether concord's own API is running right now, as its owner: the
 * innermost run-as-owner call is still the current user (and not some
 * user code called from it under another role).
 */
bool
concord_in_api_call(void)
{
	return api_depth > 0 && GetUserId() == api_calls[api_depth - 1].owner;
}

PG_FUNCTION_INFO_V1(concord_caller_sql);

/* concord.caller() */
Datum
concord_caller_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(concord_caller());
}

/*
 * Whether role may manage concord objects owned by owner: it has owner's
 * privileges (a superuser has everyone's), or those of concord_admin.  An
 * owner that was dropped is nobody's but the admins' and superusers'.
 * Never raises: row policies on concord's tables call it for every row.
 */
bool
concord_manages(Oid role, Oid owner)
{
	Oid			admin;

	if (superuser_arg(role))
		return true;
	if (OidIsValid(owner) && SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner)) &&
		has_privs_of_role(role, owner))
		return true;
	admin = get_role_oid("concord_admin", true);
	return OidIsValid(admin) && has_privs_of_role(role, admin);
}

PG_FUNCTION_INFO_V1(concord_manages_sql);
PG_FUNCTION_INFO_V1(concord_manages_as_sql);
PG_FUNCTION_INFO_V1(concord_manages_any_sql);

/* concord.manages(owner regrole): for the current user */
Datum
concord_manages_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(concord_manages(GetUserId(), PG_GETARG_OID(0)));
}

/* concord.manages(role regrole, owner regrole) */
Datum
concord_manages_as_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(concord_manages(PG_GETARG_OID(0), PG_GETARG_OID(1)));
}

/*
 * concord.manages_any(role regrole, owners regrole[]): whether role has the
 * privileges of any of owners (concord_admin and superusers: always).
 */
Datum
concord_manages_any_sql(PG_FUNCTION_ARGS)
{
	Oid			role = PG_GETARG_OID(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *items;
	bool	   *nulls;
	int			n;

	if (ARR_ELEMTYPE(arr) != REGROLEOID && ARR_ELEMTYPE(arr) != OIDOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("expected an array of regrole, not of %s", format_type_be(ARR_ELEMTYPE(arr)))));
	deconstruct_array(arr, ARR_ELEMTYPE(arr), sizeof(Oid), true, TYPALIGN_INT, &items, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i] && concord_manages(role, DatumGetObjectId(items[i])))
			PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(n == 0 ? concord_manages(role, InvalidOid) : false);
}

PG_FUNCTION_INFO_V1(concord_exec_as);

/*
 * concord.exec_as(role, sql, param text[]): run sql, one statement, as role,
 * elevated the same way (pinned search_path, security-restricted), with
 * param as $1; the rows it processed.  Unlike eval_as it writes, and what
 * it writes stays: concord's own code (run as concord's owner) reads a
 * table with the rights of the role that registered it -- its policies and
 * its functions are that role's business, never run as concord's owner --
 * into a temporary table it then reads itself.  The caller must be able to
 * act as role already.
 */
Datum
concord_exec_as(PG_FUNCTION_ARGS)
{
	Oid			role;
	char	   *sql;
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		args[1];
	char		nulls[1];
	ConcordElevation elev;
	volatile uint64 n = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("exec_as needs a role and a statement")));
	role = PG_GETARG_OID(0);
	sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	args[0] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[0] = PG_ARGISNULL(2) ? 'n' : ' ';
	check_run_as(role, sql, "exec_as", "statement");

	concord_elevate(role, &elev);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args(sql, 1, argtypes, args, nulls, false, 0) < 0)
			elog(ERROR, "SPI_execute failed");
		n = SPI_processed;
		SPI_finish();
	}
	PG_FINALLY();
	{
		concord_unelevate(&elev);
	}
	PG_END_TRY();
	PG_RETURN_INT64((int64) n);
}
