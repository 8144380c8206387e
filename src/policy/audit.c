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

Datum
concord_audit_hash(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	bytea	   *out;

	initStringInfo(&buf);
	/*
	 * prev, id, at (microseconds since 2000), actor, session_actor, action,
	 * object, old, new
	 */
	if (PG_ARGISNULL(0))
		appendStringInfoString(&buf, "-1:");
	else
	{
		bytea	   *prev = PG_GETARG_BYTEA_PP(0);

		appendStringInfo(&buf, "%d:", (int) VARSIZE_ANY_EXHDR(prev));
		appendBinaryStringInfo(&buf, VARDATA_ANY(prev), VARSIZE_ANY_EXHDR(prev));
	}
	put_field(&buf, PG_ARGISNULL(1) ? NULL : psprintf(INT64_FORMAT, PG_GETARG_INT64(1)));
	put_field(&buf, PG_ARGISNULL(2) ? NULL : psprintf(INT64_FORMAT, (int64) PG_GETARG_TIMESTAMPTZ(2)));
	for (int i = 3; i <= 6; i++)
		put_field(&buf, PG_ARGISNULL(i) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(i)));
	for (int i = 7; i <= 8; i++)
		put_field(&buf, PG_ARGISNULL(i) ? NULL :
				  JsonbToCString(NULL, &PG_GETARG_JSONB_P(i)->root, VARSIZE(PG_GETARG_JSONB_P(i))));
	if (EVP_Digest(buf.data, buf.len, md, &mdlen, EVP_sha256(), NULL) != 1)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SHA-256 failed")));
	out = palloc(VARHDRSZ + mdlen);
	SET_VARSIZE(out, VARHDRSZ + mdlen);
	memcpy(VARDATA(out), md, mdlen);
	PG_RETURN_BYTEA_P(out);
}

/*
 * Append an entry as the owner of the log; old and new are jsonb Datums or
 * (Datum) 0 for NULL.  The head row is locked first and updated last, and
 * the lock is held to the end of the transaction: each entry's predecessor
 * is the one committed before it, and ids follow the chain.
 */
static int64
append(const char *action, const char *object, Datum old, Datum new)
{
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, BYTEAOID};
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', old ? ' ' : 'n', new ? ' ' : 'n', 'n'};
	bool		isnull = true;
	int64		id;

	/* inside an API function that runs as concord's owner: its caller */
	args[0] = CStringGetTextDatum(GetUserNameFromId(concord_caller(), false));
	args[1] = CStringGetTextDatum(GetUserNameFromId(GetSessionUserId(), false));
	args[2] = CStringGetTextDatum(action);
	args[3] = CStringGetTextDatum(object);
	args[4] = old;
	args[5] = new;
	args[6] = (Datum) 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	concord_owner_exec("audit_log", "SELECT h.id FROM concord.audit_head h FOR UPDATE", 0, NULL, NULL, NULL);
	if (SPI_processed != 1)
		elog(ERROR, "concord.audit_head must have exactly one row");
	/* (a new snapshot, taken after the lock: the last entry committed) */
	concord_owner_exec("audit_log", "SELECT l.hash FROM concord.audit_log l ORDER BY l.id DESC LIMIT 1",
					   0, NULL, NULL, NULL);
	if (SPI_processed == 1)
		args[6] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (SPI_processed == 1 && !isnull)
	{
		args[6] = PointerGetDatum(PG_DETOAST_DATUM_COPY(args[6]));
		nulls[6] = ' ';
	}
	concord_owner_exec("audit_log",
					   "WITH n AS (SELECT pg_catalog.nextval('concord.audit_log_id_seq') AS id,"
					   "                  pg_catalog.clock_timestamp() AS at),"
					   "     i AS (INSERT INTO concord.audit_log (id, at, actor, session_actor, action, object, old, new, prev_hash, hash)"
					   "           SELECT n.id, n.at, $1, $2, $3, $4, $5, $6, $7,"
					   "                  concord.audit_hash($7, n.id, n.at, $1, $2, $3, $4, $5, $6)"
					   "             FROM n RETURNING audit_log.id, audit_log.hash)"
					   " UPDATE concord.audit_head h SET id = i.id, hash = i.hash FROM i RETURNING i.id",
					   7, types, args, nulls);
	if (SPI_processed != 1)
		elog(ERROR, "could not write concord.audit_log");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
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
