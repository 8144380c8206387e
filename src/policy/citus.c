/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  policy on a Citus cluster: the node-local copy of the mirror of
 *	  concord.member and concord.department that row policies read inside a
 *	  shard query (src/policy/citus.sql makes the mirror; docs/scaling.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "concord.h"
#include "policy/policy.h"

/*
 * Citus: the node-local copy of concord's mirror of one of its tables.
 * concord.citus_prepare() mirrors concord.<name> into the Citus reference
 * table concord_citus.<name>, which has a placement, the plain table
 * concord_citus.<name>_<shardid>, on every node.  A row policy evaluated
 * on a worker (inside a shard query, where Citus forbids another
 * distributed query) reads that placement.  Returns its qualified name, or
 * NULL where there is no mirror or no placement on this node (then
 * concord.<name> itself is the truth).  A mirror counts only if its
 * schema, table and placement belong to the owner of concord.<name>: a
 * role that may create schemas cannot make member() read its own table.
 * The caller is connected to SPI.
 */
char *
policy_citus_mirror(const char *name)
{
	Oid			nsp = get_namespace_oid("concord_citus", true);
	Oid			relid;
	Oid			types[1] = {OIDOID};
	Datum		values[1];
	char	   *result = NULL;

	Oid			owner;
	HeapTuple	tp;

	if (!OidIsValid(nsp) || !OidIsValid(relid = get_relname_relid(name, nsp)) ||
		!OidIsValid(get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE)))
		return NULL;
	owner = concord_relation_owner(concord_relation_oid(name, false));
	tp = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tp))
		return NULL;
	if (((Form_pg_namespace) GETSTRUCT(tp))->nspowner != owner || concord_relation_owner(relid) != owner)
	{
		ReleaseSysCache(tp);
		return NULL;
	}
	ReleaseSysCache(tp);
	values[0] = ObjectIdGetDatum(relid);
	if (SPI_execute_with_args("SELECT shardid FROM pg_catalog.pg_dist_shard"
							  " WHERE logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading pg_dist_shard failed");
	if (SPI_processed == 1)
	{
		bool		isnull;
		int64		shardid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		char	   *shard = psprintf("%s_" INT64_FORMAT, name, shardid);

		Oid			placement = isnull ? InvalidOid : get_relname_relid(shard, nsp);

		if (OidIsValid(placement) && concord_relation_owner(placement) == owner)
			result = psprintf("concord_citus.%s", quote_identifier(shard));
	}
	return result;
}
