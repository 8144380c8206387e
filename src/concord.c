/*-------------------------------------------------------------------------
 *
 * concord.c
 *	  Module entry point: GUC definitions and background worker
 *	  registration, plus small catalog helpers every component uses.
 *
 * All of concord's settings are defined here, in one place, under the
 * reserved prefix "concord.".  Settings that could weaken security (the CA
 * bundle, the call log switch, the ceilings over the HTTP limits) are
 * PGC_SUSET; the limits themselves are PGC_USERSET and can also be set per
 * call, always within their superuser-set ceilings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "concord.h"


int			concord_http_timeout_ms = 30000;
int			concord_http_connect_timeout_ms = 10000;
int			concord_http_max_response_bytes = 10 * 1024 * 1024;
int			concord_http_max_redirects = 5;
int			concord_http_max_connections = 32;
int			concord_http_max_host_connections = 8;
int			concord_http_timeout_ms_limit = 3600 * 1000;
int			concord_http_connect_timeout_ms_limit = 600 * 1000;
int			concord_http_max_response_bytes_limit = 512 * 1024 * 1024;
int			concord_http_max_redirects_limit = 20;
int			concord_http_max_connections_limit = 1000;
int			concord_http_max_host_connections_limit = 1000;
bool		concord_http_log = false;
char	   *concord_http_ca_file = NULL;
char	   *concord_http_user_agent = NULL;

char	   *concord_secret_key_file = NULL;

int			concord_worker_naptime_ms = 10000;
int			concord_http_log_retention_days = 30;
char	   *concord_worker_databases = NULL;
bool		concord_worker_synchronous_commit = false;
int			concord_worker_max_connections = 256;

bool		concord_explain_analyze_guard = true;

bool		concord_preloaded = false;

/* concord.run_as: set on concord's API functions, read by src/elevate.c */
char	   *concord_run_as = NULL;

/*
 * Check hook for concord.http_ca_file: the file must exist and be readable,
 * so a typo shows at SET time rather than as a TLS failure later.
 */
static bool
check_ca_file(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!is_absolute_path(*newval))
	{
		GUC_check_errdetail("The CA bundle path must be absolute.");
		return false;
	}
	if (access(*newval, R_OK) != 0)
	{
		GUC_check_errdetail("File \"%s\" is not readable: %m.", *newval);
		return false;
	}
	return true;
}

/*
 * Check hook for concord.http_user_agent: one header line, no smuggling.
 */
static bool
check_user_agent(char **newval, void **extra, GucSource source)
{
	if (*newval && strpbrk(*newval, "\r\n") != NULL)
	{
		GUC_check_errdetail("The User-Agent must be a single line.");
		return false;
	}
	return true;
}

/*
 * Define every concord.* setting.
 */
static void
define_gucs(void)
{
	DefineCustomIntVariable("concord.http_timeout_ms",
							"Total time limit of one HTTP request, in milliseconds.",
							NULL,
							&concord_http_timeout_ms,
							30000, 1, 3600 * 1000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("concord.http_connect_timeout_ms",
							"Time limit for establishing an HTTP connection, in milliseconds.",
							NULL,
							&concord_http_connect_timeout_ms,
							10000, 1, 600 * 1000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("concord.http_max_response_bytes",
							"Largest HTTP response body accepted, in bytes.",
							"A larger body fails the request with a clear error instead of exhausting memory.",
							&concord_http_max_response_bytes,
							10 * 1024 * 1024, 0, 512 * 1024 * 1024,
							PGC_USERSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("concord.http_max_redirects",
							"How many redirects one HTTP request follows.",
							NULL,
							&concord_http_max_redirects,
							5, 0, 20,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("concord.http_max_connections",
							"Most HTTP transfers a batch runs at once.",
							NULL,
							&concord_http_max_connections,
							32, 1, 1000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("concord.http_max_host_connections",
							"Most HTTP transfers a batch runs at once to one host and port.",
							NULL,
							&concord_http_max_host_connections,
							8, 1, 1000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("concord.http_timeout_ms_limit",
							"Ceiling of the HTTP time limit a call or a session may set, in milliseconds.",
							NULL,
							&concord_http_timeout_ms_limit,
							3600 * 1000, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("concord.http_connect_timeout_ms_limit",
							"Ceiling of the HTTP connect time limit a call or a session may set, in milliseconds.",
							NULL,
							&concord_http_connect_timeout_ms_limit,
							600 * 1000, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("concord.http_max_response_bytes_limit",
							"Ceiling of the HTTP response size a call or a session may set, in bytes.",
							"At most 1 GB less 5 bytes: a response body is held in one bytea.",
							&concord_http_max_response_bytes_limit,
							512 * 1024 * 1024, 0, (int) (MaxAllocSize - VARHDRSZ),
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("concord.http_max_redirects_limit",
							"Ceiling of the redirects a call or a session may let an HTTP request follow.",
							NULL,
							&concord_http_max_redirects_limit,
							20, 0, 20,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("concord.http_max_connections_limit",
							"Ceiling of the concurrent HTTP transfers a call or a session may set for a batch.",
							NULL,
							&concord_http_max_connections_limit,
							1000, 1, 10000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("concord.http_max_host_connections_limit",
							"Ceiling of the concurrent HTTP transfers to one host a call or a session may set for a batch.",
							NULL,
							&concord_http_max_host_connections_limit,
							1000, 1, 10000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("concord.http_log",
							 "Record every HTTP call in concord.http_call_log.",
							 NULL,
							 &concord_http_log,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("concord.http_ca_file",
							   "CA bundle used to verify HTTPS servers instead of the system's.",
							   "Only superusers may change it; verification itself can never be turned off.",
							   &concord_http_ca_file,
							   "",
							   PGC_SUSET, 0,
							   check_ca_file, NULL, NULL);

	DefineCustomStringVariable("concord.http_user_agent",
							   "User-Agent header sent with HTTP requests.",
							   NULL,
							   &concord_http_user_agent,
							   CONCORD_USER_AGENT,
							   PGC_USERSET, 0,
							   check_user_agent, NULL, NULL);

	DefineCustomStringVariable("concord.secret_key_file",
							   "File holding the 32-byte key that encrypts concord.secret (default: concord_secret.key in the data directory).",
							   "Only superusers may change it. The file is created with mode 0600 by the first concord.secret_set().",
							   &concord_secret_key_file,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("concord.worker_naptime_ms",
							"How long the background worker sleeps between rounds.",
							NULL,
							&concord_worker_naptime_ms,
							10000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("concord.http_log_retention_days",
							"Days the background worker keeps rows of concord.http_call_log (0 keeps them forever).",
							NULL,
							&concord_http_log_retention_days,
							30, 0, 36500,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("concord.worker_databases",
							   "Databases the background worker serves (comma-separated; empty means every database with the extension).",
							   NULL,
							   &concord_worker_databases,
							   "",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("concord.worker_max_connections",
							"Most requests the outbox worker runs at once, over all endpoints.",
							"Each endpoint runs at most its max_in_flight of them: keep this several times the largest, so that endpoints that hang cannot take every connection.",
							&concord_worker_max_connections,
							256, 1, 10000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("concord.worker_synchronous_commit",
							 "Whether the background worker's own bookkeeping (claims and outcomes of outbox messages) waits for its WAL to be flushed.",
							 "Off by default: a commit lost in a crash only means a message is sent again, which at-least-once delivery allows; on trades throughput for fewer such duplicates.",
							 &concord_worker_synchronous_commit,
							 false,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("concord.explain_analyze_guard",
							 "Refuses EXPLAIN ANALYZE of statements that read rows row security hides from the caller.",
							 "Its per-node row counts would reveal the values of hidden rows. Only superusers may turn it off.",
							 &concord_explain_analyze_guard,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("concord.run_as",
							   "Set on concord's own API functions that run as concord's owner (see docs/security.md); meaningless elsewhere.",
							   NULL,
							   &concord_run_as,
							   "",
							   PGC_USERSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);

	MarkGUCPrefixReserved("concord");
}

/*
 * Core's settings, defined at module load (from _PG_init, src/components.c,
 * which then installs core's hooks and registers the components).
 */
void
concord_core_init(void)
{
	define_gucs();
}

/* Hash the string a key points to (see concord.h). */
uint32
concord_strptr_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

/* Compare the strings two keys point to (see concord.h). */
int
concord_strptr_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * OID of the concord schema, or InvalidOid when missing_ok and the extension
 * is not installed in this database.
 */
Oid
concord_schema_oid(bool missing_ok)
{
	Oid			nsp = get_namespace_oid(CONCORD_SCHEMA, true);

	if (!OidIsValid(nsp) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("schema \"%s\" does not exist", CONCORD_SCHEMA),
				 errhint("Run CREATE EXTENSION concord in this database.")));
	return nsp;
}

/*
 * OID of a relation in the concord schema; tables are found by schema, never
 * through the caller's search_path.
 */
Oid
concord_relation_oid(const char *relname, bool missing_ok)
{
	Oid			nsp = concord_schema_oid(missing_ok);
	Oid			relid = InvalidOid;

	if (OidIsValid(nsp))
		relid = get_relname_relid(relname, nsp);
	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.%s\" does not exist", CONCORD_SCHEMA, relname),
				 errhint("Run CREATE EXTENSION concord in this database.")));
	return relid;
}

/*
 * Citus (optional; see docs/scaling.md).  True if Citus's catalog
 * pg_dist_partition lists relid: a distributed or reference table, whose
 * rows live in shards on the worker nodes.  False, at the cost of one
 * syscache lookup, where Citus is not installed.
 */
bool
concord_citus_table(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		found;

	if (!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_dist_partition"
							  " WHERE logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading pg_dist_partition failed");
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

PG_FUNCTION_INFO_V1(concord_citus_table_sql);

/* concord.citus_table(regclass): the same, for concord's SQL */
Datum
concord_citus_table_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(concord_citus_table(PG_GETARG_OID(0)));
}

/* The owner of a relation (concord writes its own tables as that role). */
Oid
concord_relation_owner(Oid relid)
{
	HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);
	return owner;
}
