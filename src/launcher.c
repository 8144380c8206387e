/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  concord's background workers: a launcher that starts one worker per
 *	  database with the extension, and that per-database worker's loop.
 *
 * Registered only under shared_preload_libraries (never in binary
 * upgrade).  The launcher connects to no database; every naptime it lists
 * the databases (or those named in concord.worker_databases) and starts a
 * dynamic worker for each that has none.  A database worker exits when its
 * database lacks the extension; the launcher then waits longer before
 * looking there again.  Today the database worker trims the HTTP call log
 * to concord.http_log_retention_days; later components add their rounds
 * (outbox delivery, alert evaluation, grant expiry) to the same loop.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/backend_status.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "concord.h"
#include "flow/flow.h"

PG_FUNCTION_INFO_V1(concord_worker_wake);

#define MAX_DB_WORKERS 64
/* rounds to wait before looking again at a database without concord */
#define ABSENT_BACKOFF_ROUNDS 30

typedef struct DbSlot
{
	Oid			dboid;
	BackgroundWorkerHandle *handle;
	int			skip_rounds;
	bool		seen;
} DbSlot;

/* Set by SIGUSR2: look at every database again now, backoffs forgotten. */
static volatile sig_atomic_t wake_requested = false;

/* SIGUSR2 handler of the launcher. */
static void
launcher_sigusr2(SIGNAL_ARGS)
{
	int			save_errno = errno;

	wake_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/*
 * Register the launcher with the postmaster.
 */
void
concord_register_launcher(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 10;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "concord");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "concord_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "concord launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "concord launcher");
	RegisterBackgroundWorker(&bgw);
}

/* Start the worker for one database; NULL when no slot is free. */
static BackgroundWorkerHandle *
start_db_worker(Oid dboid)
{
	BackgroundWorker bgw;
	BackgroundWorkerHandle *handle;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "concord");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "concord_db_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "concord worker for database %u", dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "concord worker");
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	bgw.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&bgw, &handle))
		return NULL;
	return handle;
}

/* Is name listed in concord.worker_databases (empty list: every one)? */
static bool
database_wanted(const char *name)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;
	bool		found = false;

	if (concord_worker_databases == NULL || concord_worker_databases[0] == '\0')
		return true;
	raw = pstrdup(concord_worker_databases);
	if (!SplitIdentifierString(raw, ',', &names))
		return false;
	foreach(lc, names)
		if (strcmp((char *) lfirst(lc), name) == 0)
			found = true;
	return found;
}

/* One launcher round: make sure each wanted database has a worker. */
static void
launcher_round(DbSlot *slots, int *nslots)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;

	for (int i = 0; i < *nslots; i++)
		slots[i].seen = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		int			i;

		if (!db->datallowconn || db->datistemplate ||
			!database_wanted(NameStr(db->datname)))
			continue;
		for (i = 0; i < *nslots; i++)
			if (slots[i].dboid == db->oid)
				break;
		if (i == *nslots)
		{
			if (*nslots == MAX_DB_WORKERS)
				continue;
			memset(&slots[i], 0, sizeof(DbSlot));
			slots[i].dboid = db->oid;
			(*nslots)++;
		}
		slots[i].seen = true;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();

	for (int i = 0; i < *nslots; i++)
	{
		DbSlot	   *s = &slots[i];
		pid_t		pid;

		if (s->handle != NULL &&
			GetBackgroundWorkerPid(s->handle, &pid) != BGWH_STOPPED)
			continue;			/* running, or starting */
		if (s->handle != NULL)
		{
			/* it stopped: most likely no extension there; back off */
			pfree(s->handle);
			s->handle = NULL;
			s->skip_rounds = ABSENT_BACKOFF_ROUNDS;
		}
		if (!s->seen)
			continue;
		if (s->skip_rounds > 0)
		{
			s->skip_rounds--;
			continue;
		}
		s->handle = start_db_worker(s->dboid);
	}
}

/*
 * Launcher entry point.
 */
void
concord_launcher_main(Datum main_arg)
{
	DbSlot	   *slots;
	int			nslots = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	pqsignal(SIGUSR2, launcher_sigusr2);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	slots = MemoryContextAllocZero(TopMemoryContext, sizeof(DbSlot) * MAX_DB_WORKERS);
	ereport(LOG, (errmsg("concord launcher started")));

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (wake_requested)
		{
			wake_requested = false;
			for (int i = 0; i < nslots; i++)
			{
				pid_t		pid;

				if (slots[i].handle != NULL &&
					GetBackgroundWorkerPid(slots[i].handle, &pid) == BGWH_STOPPED)
				{
					pfree(slots[i].handle);
					slots[i].handle = NULL;
				}
				slots[i].skip_rounds = 0;
			}
		}
		launcher_round(slots, &nslots);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 concord_worker_naptime_ms,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* One duty of a round: sql run through SPI, shown as activity; expect: its SPI result. */
static void
worker_duty(const char *activity, const char *sql, int expect)
{
	int			rc;

	pgstat_report_activity(STATE_RUNNING, activity);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute(sql, false, 0);
	if (rc != expect)
		elog(ERROR, "%s failed: %s", activity, SPI_result_code_string(rc));
	SPI_finish();
}

/*
 * One round of a database worker's duties.  Returns false when the
 * extension is gone from the database.
 */
static bool
db_worker_round(void)
{
	bool		present;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	present = OidIsValid(get_extension_oid("concord", true));
	if (present && concord_http_log_retention_days > 0)
		worker_duty("concord: trimming http_call_log",
					psprintf("DELETE FROM concord.http_call_log"
							 " WHERE called_at OPERATOR(pg_catalog.<) (pg_catalog.now()"
							 " OPERATOR(pg_catalog.-) pg_catalog.make_interval(days => %d))",
							 concord_http_log_retention_days), SPI_OK_DELETE);
	if (present)
	{
		/* expired access grants: marked expired, their policies dropped */
		worker_duty("concord: tidying expired access grants", "SELECT concord.access_tidy()", SPI_OK_SELECT);
		/* alerts that are due (each checked as its owner; errors kept per alert) */
		worker_duty("concord: checking due alerts", "SELECT concord.alert_run_due()", SPI_OK_SELECT);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return present;
}

/*
 * Database worker entry point; main_arg is the database OID.
 */
void
concord_db_worker_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	TimestampTz last_round = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

	/*
	 * The worker is the bootstrap superuser: no schema anyone else may
	 * create (a "$user" schema, public) takes part in resolving its names.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	for (;;)
	{
		long		wait_ms;
		long		next_due_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			last_round = 0;		/* a reload also asks for a round now */
		}
		/* housekeeping every naptime */
		if (TimestampDifferenceExceeds(last_round, GetCurrentTimestamp(), concord_worker_naptime_ms))
		{
			if (!db_worker_round())
				proc_exit(0);	/* no concord here; the launcher backs off */
			last_round = GetCurrentTimestamp();
		}

		/*
		 * The outbox whenever woken (a commit that enqueued sets our latch):
		 * while there is something to send.  The latch is reset first, so a
		 * wake during a round is not lost.
		 */
		ResetLatch(MyLatch);
		while (flow_deliver_round(&next_due_ms) > 0)
			CHECK_FOR_INTERRUPTS();

		wait_ms = concord_worker_naptime_ms -
			(long) ((GetCurrentTimestamp() - last_round) / 1000);
		if (next_due_ms >= 0)
			wait_ms = Min(wait_ms, next_due_ms);
		if (wait_ms > 0)
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 wait_ms,
							 PG_WAIT_EXTENSION);
	}
}

/* Launcher to signal when the current transaction commits, or 0. */
static pid_t wake_pid_at_commit = 0;

/* Transaction callback: signal the launcher once the change is visible. */
static void
wake_at_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_pid_at_commit != 0)
		(void) kill(wake_pid_at_commit, SIGUSR2);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_pid_at_commit = 0;
}

/*
 * concord.worker_wake(): ask the launcher to look at every database again
 * when this transaction commits (e.g. the one running CREATE EXTENSION),
 * instead of after its backoff.  Returns false when no launcher runs
 * (concord is not in shared_preload_libraries).
 */
/*
 * The PID of a running background worker of concord's of that type (in
 * database dboid, unless invalid), or 0.  For waking a worker at commit.
 */
pid_t
concord_bgworker_pid(const char *type, Oid dboid)
{
	int			n = pgstat_fetch_stat_numbackends();

	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = pgstat_get_local_beentry_by_index(i);
		PgBackendStatus *be = local ? &local->backendStatus : NULL;
		const char *t;

		if (be == NULL || be->st_backendType != B_BG_WORKER ||
			(OidIsValid(dboid) && be->st_databaseid != dboid))
			continue;
		t = GetBackgroundWorkerTypeByPid(be->st_procpid);
		if (t && strcmp(t, type) == 0)
			return be->st_procpid;
	}
	return 0;
}

Datum
concord_worker_wake(PG_FUNCTION_ARGS)
{
	static bool callback_registered = false;
	pid_t		pid = concord_bgworker_pid("concord launcher", InvalidOid);

	if (pid == 0)
		PG_RETURN_BOOL(false);
	if (!callback_registered)
	{
		RegisterXactCallback(wake_at_commit, NULL);
		callback_registered = true;
	}
	wake_pid_at_commit = pid;
	PG_RETURN_BOOL(true);
}
