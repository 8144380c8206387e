/*-------------------------------------------------------------------------
 *
 * source.c
 *	  SQL functions that define sources: concord.source_create,
 *	  source_alter, source_drop, source_reset.
 *
 * A spec is validated completely before it is stored: its JSON (spec.c),
 * its target table and columns against the catalog, the secrets it names
 * (which the source's owner must be allowed to use),
 * and the upsert it implies (load.c).  The stored spec names the target
 * table schema-qualified, so runs do not depend on a search_path.
 * Rows of concord.source are written as the extension's owner; only a
 * source's owner (or a superuser) may change or drop it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"

#include "concord.h"
#include "secret/secret.h"
#include "sync/fetch.h"
#include "sync/load.h"
#include "sync/run.h"
#include "sync/sync.h"

PG_FUNCTION_INFO_V1(concord_source_create);
PG_FUNCTION_INFO_V1(concord_source_alter);
PG_FUNCTION_INFO_V1(concord_source_drop);
PG_FUNCTION_INFO_V1(concord_source_reset);

/* A source name as concord.source accepts it, or an error. */
static char *
source_name_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;
	bool		ok;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	ok = strlen(name) >= 1 && strlen(name) <= 63 &&
		(isalpha((unsigned char) name[0]) || name[0] == '_');
	for (const char *c = name; *c && ok; c++)
		ok = isalnum((unsigned char) *c) || *c == '_' || *c == '.' || *c == '-';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid source name \"%s\"", name),
				 errhint("A source name starts with a letter or underscore and has at most 63 letters, digits, underscores, dots or hyphens.")));
	return name;
}

/* A spec argument as JSON text, or an error. */
static char *
spec_arg(FunctionCallInfo fcinfo, int argno)
{
	Jsonb	   *spec;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source spec must not be null")));
	spec = PG_GETARG_JSONB_P(argno);
	return JsonbToCString(NULL, &spec->root, VARSIZE(spec));
}

/*
 * Validate a spec against the catalog (creating the target table if the
 * spec asks for it) and return it with the target table qualified.  The
 * source's owner must be allowed to use every secret it names.
 */
static char *
validated_spec(const char *name, const char *spec_text, Oid owner)
{
	SyncSpec   *s = sync_spec_parse(name, spec_text);
	SyncTarget *t;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		vals[2];

	sync_check_secrets(s, owner);
	if (s->timeout_ms >= 0)
		http_timeout_check(s->timeout_ms, psprintf("source \"%s\": request.timeout_ms", name));
	t = sync_target_open(s, true, false);
	sync_target_prepare(t);
	SPI_freeplan(t->upsert[SYNC_UPSERT_PLAIN]);
	SPI_freeplan(t->upsert[SYNC_UPSERT_JOIN]);

	vals[0] = CStringGetTextDatum(spec_text);
	vals[1] = CStringGetTextDatum(t->qname);
	if (SPI_execute_with_args("SELECT pg_catalog.jsonb_set($1::jsonb, '{target,table}', pg_catalog.to_jsonb($2))::text",
							  2, types, vals, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not qualify the target of source \"%s\"", name);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* The source row just written, as the function's result. */
static Datum
return_row(FunctionCallInfo fcinfo)
{
	HeapTuple	tup;
	TupleDesc	desc;

	if (SPI_processed != 1)
		elog(ERROR, "expected one source row");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tup = SPI_tuptable->vals[0];
	/* allocated outside SPI's memory, typed as concord.source */
	return PointerGetDatum(SPI_returntuple(tup, desc));
}

/*
 * Raise unless the current role may change (or, verb "run", run) source:
 * its owner, a role with her privileges, concord_admin or a superuser.  A
 * run uses the credentials its owner may use, so it is hers to start too.
 */
void
sync_check_owner(const char *source, const char *owner, const char *verb)
{
	if (!concord_manages(GetUserId(), get_role_oid(owner, true)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be the owner of source \"%s\" (%s) to %s it", source, owner, verb),
				 errhint("Its owner, a role with her privileges, or a member of concord_admin may.")));
}

/* Raise if a run of source is in progress (its lock is held elsewhere). */
static void
check_not_running(const char *source)
{
	LOCKTAG		tag;

	sync_source_locktag(&tag, source);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("source \"%s\" is being synced by another session", source),
				 errhint("Wait for the run to end.")));
	/* held to the end of the transaction: no run starts meanwhile */
}

/*
 * concord.source_create(name, spec) returns concord.source
 */
Datum
concord_source_create(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *spec_text;
	Oid			types[3] = {TEXTOID, TEXTOID, NAMEOID};
	Datum		vals[3];
	Datum		result;
	NameData	owner;

	/* a spec may hold a pasted credential: keep the statement out of the log */
	secret_statement_mark();
	name = source_name_arg(fcinfo, 0);
	spec_text = spec_arg(fcinfo, 1);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	vals[0] = CStringGetTextDatum(name);
	concord_owner_exec("sync_run", "SELECT 1 FROM concord.source WHERE name OPERATOR(pg_catalog.=) $1",
					1, types, vals, NULL);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("source \"%s\" already exists", name),
				 errhint("Use concord.source_alter to change its spec.")));
	vals[1] = CStringGetTextDatum(validated_spec(name, spec_text, GetUserId()));
	namestrcpy(&owner, GetUserNameFromId(GetUserId(), false));
	vals[2] = NameGetDatum(&owner);
	concord_owner_exec("sync_run", "INSERT INTO concord.source (name, spec, owner) VALUES ($1, $2::pg_catalog.jsonb, $3) RETURNING *",
					3, types, vals, NULL);
	result = return_row(fcinfo);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/* Forget a source's cursor, pass in progress, seen keys and kept rejects. */
static void
reset_state(const char *name)
{
	Oid			type = TEXTOID;
	Datum		v = CStringGetTextDatum(name);

	concord_owner_exec("sync_run", "DELETE FROM concord.sync_state WHERE source OPERATOR(pg_catalog.=) $1",
					1, &type, &v, NULL);
	concord_owner_exec("sync_run", "DELETE FROM concord.sync_seen WHERE source OPERATOR(pg_catalog.=) $1",
					1, &type, &v, NULL);
	/* the next pass reads everything again: no reject waits for a retry */
	sync_rejects_settle(name, "reset");
}

/*
 * concord.source_alter(name, spec, reset_state) returns concord.source
 */
Datum
concord_source_alter(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *spec_text;
	bool		reset = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	char	   *owner;
	char	   *old_text;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		vals[2];
	Datum		result;

	/* a spec may hold a pasted credential: keep the statement out of the log */
	secret_statement_mark();
	name = source_name_arg(fcinfo, 0);
	spec_text = spec_arg(fcinfo, 1);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old_text = sync_source_spec(name, &owner);
	sync_check_owner(name, owner, "change");
	check_not_running(name);
	/* the secrets are checked for the source's owner, whoever changes it */
	spec_text = validated_spec(name, spec_text, get_role_oid(owner, true));

	/* a state kept for another table or another API would mislead */
	{
		SyncSpec   *o = sync_spec_parse(name, old_text);
		SyncSpec   *n = sync_spec_parse(name, spec_text);

		if (strcmp(o->url, n->url) != 0 || strcmp(o->table, n->table) != 0 ||
			o->page != n->page || o->incremental != n->incremental)
			reset = true;
	}
	if (reset)
		reset_state(name);

	vals[0] = CStringGetTextDatum(name);
	vals[1] = CStringGetTextDatum(spec_text);
	concord_owner_exec("sync_run", "UPDATE concord.source SET spec = $2::pg_catalog.jsonb, updated_at = pg_catalog.now()"
					" WHERE name OPERATOR(pg_catalog.=) $1 RETURNING *",
					2, types, vals, NULL);
	result = return_row(fcinfo);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/*
 * concord.source_reset(name) returns boolean
 */
Datum
concord_source_reset(PG_FUNCTION_ARGS)
{
	char	   *name = source_name_arg(fcinfo, 0);
	char	   *owner;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) sync_source_spec(name, &owner);
	sync_check_owner(name, owner, "change");
	check_not_running(name);
	reset_state(name);
	SPI_finish();
	PG_RETURN_BOOL(true);
}

/*
 * concord.source_drop(name, drop_table) returns boolean
 */
Datum
concord_source_drop(PG_FUNCTION_ARGS)
{
	char	   *name = source_name_arg(fcinfo, 0);
	bool		drop_table = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	Oid			type = TEXTOID;
	Datum		v = CStringGetTextDatum(name);
	char	   *owner;
	char	   *spec_text;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	concord_owner_exec("sync_run", "SELECT spec::pg_catalog.text, owner::pg_catalog.text FROM concord.source WHERE name OPERATOR(pg_catalog.=) $1",
					1, &type, &v, NULL);
	if (SPI_processed == 0)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	spec_text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	sync_check_owner(name, owner, "change");
	check_not_running(name);

	/* the schedule goes with the source (as the caller: pg_cron's rules) */
	if (SPI_execute_with_args("SELECT concord.source_unschedule($1)", 1, &type, &v, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not unschedule source \"%s\"", name);
	if (drop_table)
	{
		SyncSpec   *s = sync_spec_parse(name, spec_text);
		List	   *names = stringToQualifiedNameList(s->table, NULL);
		RangeVar   *rv = makeRangeVarFromNameList(names);

		if (OidIsValid(RangeVarGetRelid(rv, NoLock, true)))
		{
			/* as the caller: only the table's owner may drop it */
			if (SPI_execute(psprintf("DROP TABLE %s",
									 quote_qualified_identifier(rv->schemaname, rv->relname)),
							false, 0) != SPI_OK_UTILITY)
				elog(ERROR, "could not drop table %s", s->table);
		}
	}
	reset_state(name);
	concord_owner_exec("sync_run", "DELETE FROM concord.source WHERE name OPERATOR(pg_catalog.=) $1",
					1, &type, &v, NULL);
	SPI_finish();
	PG_RETURN_BOOL(true);
}
