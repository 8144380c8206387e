/*-------------------------------------------------------------------------
 *
 * grant.c
 *	  Who may use a secret: its owner, superusers, and the roles its owner
 *	  granted it to (concord.secret_grant).
 *
 *	  concord.secret_grant(name text, role regrole) RETURNS boolean
 *	  concord.secret_revoke(name text, role regrole) RETURNS boolean
 *	  concord.secret_usable(name text, role regrole) RETURNS boolean
 *
 * A secret's owner is the role that first set it (concord.secret.created_by,
 * a superuser when it was set).  A role may use a secret when it is a
 * superuser, has the privileges of the owner, or has the privileges of a
 * role in concord.secret_grant for it -- so a grant to a group reaches its
 * members that inherit, and not those that are NOINHERIT.  Every place that
 * resolves a user's secret checks the role it acts for here, at the moment
 * of use (secret_resolve_for), not only when the secret is named.
 *
 * The tables are read directly, without the caller's privileges: the roles
 * that use secrets may read neither concord.secret nor concord.secret_grant.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "concord.h"
#include "secret/secret.h"

PG_FUNCTION_INFO_V1(concord_secret_grant);
PG_FUNCTION_INFO_V1(concord_secret_revoke);
PG_FUNCTION_INFO_V1(concord_secret_usable);

/*
 * Does secret name exist?  If so, *owner is its owner's OID (InvalidOid if
 * that role no longer exists) and *owner_name its name.
 */
static bool
secret_owner(const char *name, Oid *owner, char **owner_name)
{
	Oid			relid = concord_relation_oid("secret", false);
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	att_name = get_attnum(relid, "name");
	AttrNumber	att_owner = get_attnum(relid, "created_by");
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	HeapTuple	tup;
	bool		found = false;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, att_name, desc, &isnull);

		if (isnull || strcmp(TextDatumGetCString(d), name) != 0)
			continue;
		d = heap_getattr(tup, att_owner, desc, &isnull);
		*owner_name = isnull ? pstrdup("?") : pstrdup(NameStr(*DatumGetName(d)));
		*owner = isnull ? InvalidOid : get_role_oid(*owner_name, true);
		found = true;
		break;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* Has role the privileges of a role that secret name was granted to? */
static bool
granted(const char *name, Oid role)
{
	Oid			relid = concord_relation_oid("secret_grant", false);
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	att_secret = get_attnum(relid, "secret");
	AttrNumber	att_grantee = get_attnum(relid, "grantee");
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	HeapTuple	tup;
	bool		ok = false;

	while (!ok && (tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, att_secret, desc, &isnull);

		if (isnull || strcmp(TextDatumGetCString(d), name) != 0)
			continue;
		d = heap_getattr(tup, att_grantee, desc, &isnull);
		ok = !isnull && has_privs_of_role(role, DatumGetObjectId(d));
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return ok;
}

/* May role act as the owner of a secret? */
static bool
acts_as_owner(Oid role, Oid owner)
{
	return OidIsValid(role) &&
		(superuser_arg(role) || (OidIsValid(owner) && has_privs_of_role(role, owner)));
}

/*
 * May role use secret name?  See secret.h.
 */
bool
secret_check_use(const char *name, Oid role, int *errcode, char **errmsg,
				 char **errhint)
{
	Oid			owner;
	char	   *owner_name;
	char	   *role_name;

	*errhint = NULL;
	if (!secret_owner(name, &owner, &owner_name))
	{
		*errcode = ERRCODE_UNDEFINED_OBJECT;
		*errmsg = psprintf("secret \"%s\" does not exist", name);
		*errhint = pstrdup("A superuser stores it with concord.secret_set(name, value).");
		return false;
	}
	if (acts_as_owner(role, owner) || (OidIsValid(role) && granted(name, role)))
		return true;

	role_name = OidIsValid(role) ? GetUserNameFromId(role, true) : NULL;
	*errcode = ERRCODE_INSUFFICIENT_PRIVILEGE;
	*errmsg = psprintf("permission denied for secret \"%s\"", name);
	*errhint = role_name ?
		psprintf("Role %s may not use it. Its owner (%s) or a superuser can allow it: SELECT concord.secret_grant(%s, %s);",
				 role_name, owner_name, quote_literal_cstr(name), quote_literal_cstr(role_name)) :
		pstrdup("The role it would be used for no longer exists.");
	return false;
}

/*
 * The secret named by the first argument, checked to exist and to be
 * owned by the current role (or the current role a superuser).
 */
static char *
owned_secret_arg(FunctionCallInfo fcinfo, const char *verb)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			owner;
	char	   *owner_name;

	if (!secret_owner(name, &owner, &owner_name))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("secret \"%s\" does not exist", name),
				 errhint("A superuser stores it with concord.secret_set(name, value).")));
	if (!acts_as_owner(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be the owner of secret \"%s\" to %s its use", name, verb),
				 errhint("Its owner (%s) or a superuser can.", owner_name)));
	return name;
}

/*
 * concord.secret_grant(name, role): allow role (and the roles that inherit
 * its privileges) to use the secret.  True if the grant is new.
 */
Datum
concord_secret_grant(PG_FUNCTION_ARGS)
{
	char	   *name = owned_secret_arg(fcinfo, "grant");
	Oid			types[3] = {TEXTOID, REGROLEOID, REGROLEOID};
	Datum		values[3];
	uint64		n;

	values[0] = CStringGetTextDatum(name);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = ObjectIdGetDatum(GetUserId());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	concord_owner_exec("secret_grant",
					   "INSERT INTO concord.secret_grant (secret, grantee, granted_by) VALUES ($1, $2, $3)"
					   " ON CONFLICT (secret, grantee) DO NOTHING",
					   3, types, values, NULL);
	n = SPI_processed;
	SPI_finish();
	PG_RETURN_BOOL(n > 0);
}

/*
 * concord.secret_revoke(name, role): take back a grant.  True if there was
 * one.  Roles that may use the secret through another grant still may.
 */
Datum
concord_secret_revoke(PG_FUNCTION_ARGS)
{
	char	   *name = owned_secret_arg(fcinfo, "revoke");
	Oid			types[2] = {TEXTOID, REGROLEOID};
	Datum		values[2];
	uint64		n;

	values[0] = CStringGetTextDatum(name);
	values[1] = PG_GETARG_DATUM(1);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	concord_owner_exec("secret_grant",
					   "DELETE FROM concord.secret_grant WHERE secret OPERATOR(pg_catalog.=) $1"
					   " AND grantee OPERATOR(pg_catalog.=) $2",
					   2, types, values, NULL);
	n = SPI_processed;
	SPI_finish();
	PG_RETURN_BOOL(n > 0);
}

/*
 * concord.secret_usable(name, role): may role use the secret (false when
 * it does not exist)?  For checks when a secret is named (an endpoint, a
 * message); concord checks again whenever the secret is used.
 */
Datum
concord_secret_usable(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			code;
	char	   *msg;
	char	   *hint;

	PG_RETURN_BOOL(secret_check_use(name, PG_GETARG_OID(1), &code, &msg, &hint));
}
