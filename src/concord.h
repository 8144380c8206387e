/*-------------------------------------------------------------------------
 *
 * concord.h
 *	  Core of the concord extension: GUC variables, the background worker
 *	  entry points and small helpers shared by every component.
 *
 * Components include this header and their own; they reach each other only
 * through the other component's header (see docs/architecture.md).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_H
#define CONCORD_H

#include "postgres.h"

#include "compat.h"

#define CONCORD_SCHEMA "concord"

/* The version being built (EXTVERSION of the Makefile), and the default
 * User-Agent of HTTP requests, which carries it. */
#ifndef CONCORD_VERSION
#error "CONCORD_VERSION is set by the Makefile (-DCONCORD_VERSION=...)"
#endif
#define CONCORD_USER_AGENT "concord/" CONCORD_VERSION

/* http component limits (defaults, overridable per call) */
extern int	concord_http_timeout_ms;
extern int	concord_http_connect_timeout_ms;
extern int	concord_http_max_response_bytes;
extern int	concord_http_max_redirects;
extern int	concord_http_max_connections;
extern int	concord_http_max_host_connections;
/* the superuser's ceilings over them */
extern int	concord_http_timeout_ms_limit;
extern int	concord_http_connect_timeout_ms_limit;
extern int	concord_http_max_response_bytes_limit;
extern int	concord_http_max_redirects_limit;
extern int	concord_http_max_connections_limit;
extern int	concord_http_max_host_connections_limit;
extern bool concord_http_log;
extern char *concord_http_ca_file;
extern char *concord_http_user_agent;

/* secret component */
extern char *concord_secret_key_file;

/* background worker */
extern int	concord_worker_naptime_ms;
extern int	concord_http_log_retention_days;
extern char *concord_worker_databases;
extern bool concord_worker_synchronous_commit;
extern int	concord_worker_max_connections;

/* True when loaded through shared_preload_libraries (worker registered). */
extern bool concord_preloaded;

extern Oid	concord_schema_oid(bool missing_ok);
extern Oid	concord_relation_oid(const char *relname, bool missing_ok);

/*
 * A dynahash table keyed by a pointer to a NUL-terminated string (keysize
 * sizeof(char *)): hash and compare the strings, not the pointers.
 */
extern uint32 concord_strptr_hash(const void *key, Size keysize);
extern int	concord_strptr_match(const void *a, const void *b, Size keysize);
extern Oid	concord_relation_owner(Oid relid);
/*
 * Running with more rights than the caller: concord_elevate pins
 * search_path to "pg_catalog, pg_temp" and becomes role under
 * SECURITY_RESTRICTED_OPERATION (SET ROLE, RESET ROLE and temporary tables
 * are refused to whatever runs inside); concord_unelevate undoes both, and
 * must run on every exit (PG_FINALLY).
 */
typedef struct ConcordElevation
{
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;
} ConcordElevation;

extern void concord_elevate(Oid role, ConcordElevation *e);
extern void concord_unelevate(ConcordElevation *e);
extern bool concord_type_is_builtin(Oid typid);

/*
 * concord's API functions that run as concord's owner (declared with SET
 * concord.run_as = 'owner', see elevate.c): the role the innermost one acts
 * for, or the current user outside them.
 */
extern char *concord_run_as;
extern Oid	concord_caller(void);
extern bool concord_in_api_call(void);
extern void concord_api_hooks_install(void);
extern bool concord_manages(Oid role, Oid owner);
extern void concord_owner_exec(const char *relname, const char *sql, int nargs, Oid *types,
							   Datum *values, const char *nulls);

/*
 * Registration points.  Core includes no component header: each component
 * hands core what core runs for it, from its <component>_register()
 * function, which src/components.c (the one file that names every
 * component, and the module's _PG_init) calls after concord_core_init().
 * The SQL side registers in the table concord.component_hook
 * (src/concord.sql): cleanup at DROP EXTENSION and lines of metrics_text().
 */
extern void concord_core_init(void);

/* The expression checker (expr.c): see concord_expr_allow_function(). */
typedef enum ConcordExprUse
{
	CONCORD_EXPR_MEMBER,		/* predicates only, constant text argument */
	CONCORD_EXPR_MASK_STABLE	/* a stable function a mask may call */
} ConcordExprUse;
extern void concord_expr_allow_function(const char *name, ConcordExprUse use);

/*
 * A duty of the database worker (launcher.c).  Each callback may be NULL.
 * housekeeping runs every concord.worker_naptime_ms and at a configuration
 * reload; round runs at every wake of the loop and returns the
 * milliseconds until it wants to run again (-1: no wish); in_flight counts
 * the work it has on the network (the worker flushes its statistics only
 * when idle).  Duties run in the order they were registered.  A duty runs
 * its SQL with concord_worker_sql(), each statement in a transaction of
 * its own whose error is logged and swallowed.
 */
typedef struct ConcordWorkerDuty
{
	const char *name;
	void		(*housekeeping) (void);
	long		(*round) (bool woken);
	int			(*in_flight) (void);
} ConcordWorkerDuty;
extern void concord_worker_duty_register(const ConcordWorkerDuty *duty);
extern bool concord_worker_sql(const char *activity, const char *sql, int64 *result);

/*
 * The worker's one wait: up to timeout_ms for the latch, the postmaster's
 * death and whatever the registered waiter also watches (http: the sockets
 * of the transfers in flight).  Returns true when the latch was set.
 * Without a registered waiter the worker waits on its latch alone.
 */
typedef bool (*ConcordWorkerWait) (long timeout_ms);
extern void concord_worker_wait_register(ConcordWorkerWait wait);

/* True while DROP EXTENSION concord runs (its cleanup and the drop). */
extern bool concord_dropping_extension;
extern void concord_drop_hooks_install(void);

/* the EXPLAIN ANALYZE guard's setting (policy) */
extern bool concord_explain_analyze_guard;

extern PGDLLEXPORT void concord_launcher_main(Datum main_arg);
extern PGDLLEXPORT void concord_db_worker_main(Datum main_arg);
extern void concord_register_launcher(void);
extern void concord_worker_hooks_install(void);
/* Citus (optional): relid is a distributed or reference table */
extern bool concord_citus_table(Oid relid);
/* the PID of a running concord background worker of a type ("concord
 * worker", "concord launcher"), in database dboid unless invalid; or 0 */
extern pid_t concord_bgworker_pid(const char *type, Oid dboid);

#endif							/* CONCORD_H */
