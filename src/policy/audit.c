/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The audit log: governance changes and the rows written to audited
 *	  tables, each entry chained to the one before by SHA-256, so that
 *	  concord.audit_verify() finds any entry changed, removed or inserted
 *	  behind the log's back.
 *
 *	  concord.audit_hash(prev bytea, id bigint, at timestamptz, actor text,
 *	                     session_actor text, action text, object text,
 *	                     old jsonb, new jsonb)
 *	  concord.audit_record(action text, object text, old jsonb, new jsonb)
 *	  concord.audit_row()      trigger of audited tables
 *	  concord.audit_direct()   trigger of concord's governance tables
 *
 *	  Every field of an entry is hashed.  Appends are serialized by a row
 *	  lock on concord.audit_head, which only the log's owner may read or
 *	  lock: no user can hold up the log without writing an entry (which
 *	  names her).  The row is also updated by every append, so that a
 *	  REPEATABLE READ or SERIALIZABLE transaction that would chain to an
 *	  entry it cannot see gets a serialization failure instead of breaking
 *	  the chain.
 *
 *	  An entry names the role that acted: the current user of the
 *	  statement, or the caller of the API function that runs as concord's
 *	  owner (concord_caller), and its session user, taken before the log is written
 *	  as its owner (concord_owner_exec) -- members need no privilege on
 *	  the log and cannot write it any other way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/timestamp.h"

#include "concord.h"
#include "policy/policy.h"

PG_FUNCTION_INFO_V1(concord_audit_hash);
PG_FUNCTION_INFO_V1(concord_audit_record);
PG_FUNCTION_INFO_V1(concord_audit_row);
PG_FUNCTION_INFO_V1(concord_audit_direct);

/* appends a field: its length, then its bytes (NULL: -1), so no two entries read alike */
static void
put_field(StringInfo buf, const char *s)
{
	if (s == NULL)
		appendStringInfoString(buf, "-1:");
	else
		appendStringInfo(buf, "%zu:%s", strlen(s), s);
}

/*
 * SHA-256 of an entry after the previous entry's hash: prev (NULL for the
 * first), id, at (microseconds since 2000), the text fields (NULL where
 * absent), old and new (jsonb, NULL where absent), each length-prefixed.
 */
static bytea *
entry_hash(bytea *prev, int64 id, TimestampTz at, const char *const *fields, int nfields,
		   Jsonb *old, Jsonb *new)
{
	StringInfoData buf;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	bytea	   *out;

	initStringInfo(&buf);
	if (prev == NULL)
		appendStringInfoString(&buf, "-1:");
	else
	{
		appendStringInfo(&buf, "%d:", (int) VARSIZE_ANY_EXHDR(prev));
		appendBinaryStringInfo(&buf, VARDATA_ANY(prev), VARSIZE_ANY_EXHDR(prev));
	}
	put_field(&buf, psprintf(INT64_FORMAT, id));
	put_field(&buf, psprintf(INT64_FORMAT, (int64) at));
	for (int i = 0; i < nfields; i++)
		put_field(&buf, fields[i]);
	put_field(&buf, old ? JsonbToCString(NULL, &old->root, VARSIZE(old)) : NULL);
	put_field(&buf, new ? JsonbToCString(NULL, &new->root, VARSIZE(new)) : NULL);
	if (EVP_Digest(buf.data, buf.len, md, &mdlen, EVP_sha256(), NULL) != 1)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SHA-256 failed")));
	out = palloc(VARHDRSZ + mdlen);
	SET_VARSIZE(out, VARHDRSZ + mdlen);
	memcpy(VARDATA(out), md, mdlen);
	return out;
}

/*
 * concord.audit_hash(prev, id, at, actor, session_actor, action, object,
 * old, new); declared by 0.1 without session_actor (8 arguments), which
 * hashed no session_actor: the library serves both until ALTER EXTENSION
 * concord UPDATE has run.
 */
Datum
concord_audit_hash(PG_FUNCTION_ARGS)
{
	int			nfields = PG_NARGS() - 5;	/* 4 (0.2) or 3 (0.1) */
	const char *fields[4];

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || nfields < 3 || nfields > 4)
		PG_RETURN_NULL();
	for (int i = 0; i < nfields; i++)
		fields[i] = PG_ARGISNULL(3 + i) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3 + i));
	PG_RETURN_BYTEA_P(entry_hash(PG_ARGISNULL(0) ? NULL : PG_GETARG_BYTEA_PP(0),
								 PG_GETARG_INT64(1), PG_GETARG_TIMESTAMPTZ(2), fields, nfields,
								 PG_ARGISNULL(3 + nfields) ? NULL : PG_GETARG_JSONB_P(3 + nfields),
								 PG_ARGISNULL(4 + nfields) ? NULL : PG_GETARG_JSONB_P(4 + nfields)));
}

/*
 * Append an entry as the owner of the log; old and new are jsonb Datums or
 * (Datum) 0 for NULL.  The head row is locked first and updated last, and
 * the lock is held to the end of the transaction: each entry's predecessor
 * is the one committed before it, and ids follow the chain.  (Before
 * ALTER EXTENSION concord UPDATE has made concord.audit_head, as 0.1 did:
 * an advisory lock, and no session_actor in the hash.)
 */
static int64
append(const char *action, const char *object, Datum old, Datum new)
{
	Oid			types[10] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
							 JSONBOID, JSONBOID, BYTEAOID, BYTEAOID};
	Datum		args[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', old ? ' ' : 'n', new ? ' ' : 'n', 'n', ' '};
	bool		legacy = !OidIsValid(concord_relation_oid("audit_head", true));
	char	   *actor = GetUserNameFromId(concord_caller(), false);
	char	   *session_actor = GetUserNameFromId(GetSessionUserId(), false);
	const char *fields[4];
	bytea	   *prev = NULL;
	bytea	   *hash;
	int64		id;
	TimestampTz at;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (legacy)
		concord_owner_exec("audit_log",
						   "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('concord.audit_log'), 1)",
						   0, NULL, NULL, NULL);
	else
	{
		concord_owner_exec("audit_log", "SELECT h.id FROM concord.audit_head h FOR UPDATE", 0, NULL, NULL, NULL);
		if (SPI_processed != 1)
			elog(ERROR, "concord.audit_head must have exactly one row");
	}
	/* (a new snapshot, taken after the lock: the last entry committed) */
	concord_owner_exec("audit_log", "SELECT l.hash FROM concord.audit_log l ORDER BY l.id DESC LIMIT 1",
					   0, NULL, NULL, NULL);
	if (SPI_processed == 1)
	{
		Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			prev = DatumGetByteaPCopy(v);
	}
	concord_owner_exec("audit_log",
					   "SELECT pg_catalog.nextval('concord.audit_log_id_seq'), pg_catalog.clock_timestamp()",
					   0, NULL, NULL, NULL);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	fields[0] = actor;
	fields[1] = legacy ? action : session_actor;
	fields[2] = legacy ? object : action;
	fields[3] = object;
	hash = entry_hash(prev, id, at, fields, legacy ? 3 : 4,
					  old ? DatumGetJsonbP(old) : NULL, new ? DatumGetJsonbP(new) : NULL);
	args[0] = Int64GetDatum(id);
	args[1] = TimestampTzGetDatum(at);
	args[2] = CStringGetTextDatum(actor);
	args[3] = CStringGetTextDatum(session_actor);
	args[4] = CStringGetTextDatum(action);
	args[5] = CStringGetTextDatum(object);
	args[6] = old;
	args[7] = new;
	args[8] = PointerGetDatum(prev);
	nulls[8] = prev ? ' ' : 'n';
	args[9] = PointerGetDatum(hash);
	concord_owner_exec("audit_log",
					   "INSERT INTO concord.audit_log (id, at, actor, session_actor, action, object, old, new, prev_hash, hash)"
					   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
					   10, types, args, nulls);
	if (!legacy)
		concord_owner_exec("audit_log", "UPDATE concord.audit_head SET id = $1, hash = $10",
						   10, types, args, nulls);
	SPI_finish();
	return id;
}

/* concord.audit_record(action, object, old, new): for governance functions */
Datum
concord_audit_record(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("an audit entry needs an action and an object")));
	PG_RETURN_INT64(append(text_to_cstring(PG_GETARG_TEXT_PP(0)),
						   text_to_cstring(PG_GETARG_TEXT_PP(1)),
						   PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2),
						   PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3)));
}

/*
 * A row of the trigger's table as jsonb.  (row_to_json reads the row's
 * type from the row itself; to_jsonb would need a call expression.)
 */
static Datum
row_jsonb(Relation rel, HeapTuple tuple)
{
	Datum		json = DirectFunctionCall1(row_to_json, heap_copy_tuple_as_datum(tuple, RelationGetDescr(rel)));

	return DirectFunctionCall1(jsonb_in, CStringGetDatum(TextDatumGetCString(json)));
}

/* AFTER ROW trigger of audited tables: one entry per row written. */
Datum
concord_audit_row(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	const char *op;
	Datum		old = (Datum) 0,
				new = (Datum) 0;
	char	   *object;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("concord.audit_row() must be an AFTER ROW trigger")));
	rel = td->tg_relation;
	object = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)), RelationGetRelationName(rel));
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		op = "INSERT";
		new = row_jsonb(rel, td->tg_trigtuple);
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		op = "UPDATE";
		old = row_jsonb(rel, td->tg_trigtuple);
		new = row_jsonb(rel, td->tg_newtuple);
	}
	else
	{
		op = "DELETE";
		old = row_jsonb(rel, td->tg_trigtuple);
	}
	append(op, object, old, new);
	return PointerGetDatum(NULL);
}

/*
 * Trigger of concord's governance tables (departments, members, row
 * policies, masks, write rules, access requests): a change made other than
 * through concord's API -- a superuser's UPDATE, a role someone granted
 * write access -- is an entry ("direct UPDATE" of concord.member, with the
 * row before and after).  A change through the API is left to the API
 * function's own entry, which says what was done.  Row triggers for rows,
 * a statement trigger for TRUNCATE.
 */
Datum
concord_audit_direct(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	char	   *object;
	Datum		old = (Datum) 0,
				new = (Datum) 0;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("concord.audit_direct() must be an AFTER trigger")));
	if (policy_guard_internal())
		return PointerGetDatum(NULL);

	/*
	 * A restore (pg_restore and pg_dump's scripts run with row_security =
	 * off) writes these tables as a superuser: its rows are not news, and
	 * entries appended then would take the ids of the log's own rows, which
	 * are restored too.  Only a superuser can be skipped this way; superusers
	 * can switch triggers off anyway (docs/security.md).
	 */
	if (superuser() && !row_security)
		return PointerGetDatum(NULL);
	rel = td->tg_relation;
	object = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)), RelationGetRelationName(rel));
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		op = "direct TRUNCATE";
	else if (!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		return PointerGetDatum(NULL);
	else if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		op = "direct INSERT";
		new = row_jsonb(rel, td->tg_trigtuple);
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		op = "direct UPDATE";
		old = row_jsonb(rel, td->tg_trigtuple);
		new = row_jsonb(rel, td->tg_newtuple);
	}
	else
	{
		op = "direct DELETE";
		old = row_jsonb(rel, td->tg_trigtuple);
	}
	append(op, object, old, new);
	return PointerGetDatum(NULL);
}
