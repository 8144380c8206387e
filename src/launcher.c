/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  concord's background workers: a launcher that starts one worker per
 *	  database with the extension, and that per-database worker's loop.
 *
 * Registered only under shared_preload_libraries (never in binary
 * upgrade).  The launcher connects to no database; every naptime, and
 * whenever one of its workers stops, it lists the databases (or those
 * named in concord.worker_databases) and starts a worker for each that has
 * none.  A small table in shared memory tells it why a worker stopped: a
 * database without the extension (looked at again after a long backoff, or
 * at once when CREATE EXTENSION wakes it), or anything else -- an error, a
 * crash, pg_terminate_backend -- after which the worker is started again
 * within a second, then after longer pauses if it keeps failing.
 *
 * The database worker runs the duties the components registered
 * (concord_worker_duty_register, concord.h), each statement in a
 * transaction of its own whose error is caught and logged without stopping
 * the others: at every naptime their housekeeping (http: call-log
 * retention; policy: expired access grants; flow: stale outbox leases),
 * and at every wake their rounds (flow: alerts at each alert's due time,
 * outbox delivery as transfers finish, see flow/deliver.c).  Its one wait
 * is the registered waiter's (http's engine: the latch, the postmaster's
 * death and the sockets of the transfers in flight), and a timer checks
 * the postmaster every second while a duty's SQL runs: the worker never
 * outlives its server by more than a second.  This file names no
 * component.
 *
 * DROP DATABASE (and ALTER DATABASE ... RENAME / SET TABLESPACE, CREATE
 * DATABASE ... TEMPLATE) of a database the worker serves stops that worker
 * first and keeps it stopped while the command runs, so the command does
 * not fail on "being accessed by other users".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/acl.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "concord.h"

PG_FUNCTION_INFO_V1(concord_worker_wake);

#define MAX_DB_WORKERS 64
/* rounds to wait before looking again at a database without concord */
#define ABSENT_BACKOFF_ROUNDS 30
/* a worker that stopped otherwise is started again after this, doubling */
#define RESTART_DELAY_MS 1000
#define RESTART_DELAY_MAX_MS 60000
/* a worker that ran this long without stopping starts the delay afresh */
#define RESTART_RESET_MS 60000
/* how long a database command may keep its worker stopped */
#define PAUSE_MS 60000

/* Why a database's worker last stopped, as it told the launcher. */
typedef enum DbWorkerState
{
	DBW_NONE = 0,				/* never started, or stopped unexpectedly */
	DBW_RUNNING,
	DBW_ABSENT					/* the database has no concord */
} DbWorkerState;

/* One database's entry in shared memory. */
typedef struct DbShared
{
	Oid			dboid;
	DbWorkerState state;
	pid_t		pid;
	TimestampTz paused_until;	/* a database command needs it stopped */
} DbShared;

typedef struct WorkerShared
{
	slock_t		mutex;
	pid_t		launcher_pid;
	DbShared	dbs[MAX_DB_WORKERS];
} WorkerShared;

static WorkerShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;
static ProcessUtility_hook_type prev_process_utility = NULL;

typedef struct DbSlot
{
	Oid			dboid;
	BackgroundWorkerHandle *handle;
	int			skip_rounds;
	bool		seen;
	TimestampTz started_at;
	TimestampTz restart_at;		/* not before then (after a failure) */
	int			restart_delay_ms;
	uint64		started_wakes;	/* wakes when it was started */
} DbSlot;

/* Set by SIGUSR2: look at every database again now, backoffs forgotten. */
static volatile sig_atomic_t wake_requested = false;

/*
 * Wakes the launcher has acted on.  A worker that finds no concord after a
 * wake it was started before (its look may have preceded the CREATE
 * EXTENSION that woke the launcher) is not backed off.
 */
static uint64 wakes = 0;

/* SIGUSR2 handler of the launcher. */
static void
launcher_sigusr2(SIGNAL_ARGS)
{
	int			save_errno = errno;

	wake_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/* Ask for the shared table (shmem_request_hook). */
static void
worker_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShared)));
}

/* Create or attach to the shared table (shmem_startup_hook). */
static void
worker_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("concord workers", sizeof(WorkerShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(WorkerShared));
		SpinLockInit(&shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The shared entry of database dboid, added if create; NULL if none. Mutex held. */
static DbShared *
db_shared(Oid dboid, bool create)
{
	DbShared   *free_entry = NULL;

	for (int i = 0; i < MAX_DB_WORKERS; i++)
	{
		if (shared->dbs[i].dboid == dboid)
			return &shared->dbs[i];
		if (shared->dbs[i].dboid == InvalidOid && free_entry == NULL)
			free_entry = &shared->dbs[i];
	}
	if (create && free_entry != NULL)
	{
		memset(free_entry, 0, sizeof(DbShared));
		free_entry->dboid = dboid;
		return free_entry;
	}
	return NULL;
}

/* Record what this database's worker is doing (or why it stops). */
static void
db_state_set(Oid dboid, DbWorkerState state)
{
	DbShared   *d;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	d = db_shared(dboid, true);
	if (d != NULL)
	{
		d->state = state;
		d->pid = state == DBW_RUNNING ? MyProcPid : 0;
	}
	SpinLockRelease(&shared->mutex);
}

/* Drop dboid's shared entry (its database is gone), unless it is paused. */
static void
db_forget(Oid dboid)
{
	DbShared   *d;
	TimestampTz now = GetCurrentTimestamp();

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	d = db_shared(dboid, false);
	if (d != NULL && d->pid == 0 && d->paused_until <= now)
		memset(d, 0, sizeof(DbShared));
	SpinLockRelease(&shared->mutex);
}

/* Why dboid's worker stopped, and until when it must stay stopped. */
static DbWorkerState
db_state_get(Oid dboid, TimestampTz *paused_until)
{
	DbShared   *d;
	DbWorkerState st = DBW_NONE;

	*paused_until = 0;
	if (shared == NULL)
		return DBW_NONE;
	SpinLockAcquire(&shared->mutex);
	d = db_shared(dboid, false);
	if (d != NULL)
	{
		st = d->state;
		*paused_until = d->paused_until;
	}
	SpinLockRelease(&shared->mutex);
	return st;
}

/*
 * Stop database dboid's worker and keep it stopped for a database command
 * (pause), or let it start again (!pause).  Waits up to 5 s for it to go.
 */
static void
db_worker_pause(Oid dboid, bool pause)
{
	DbShared   *d;
	pid_t		pid = 0;
	pid_t		launcher = 0;
	TimestampTz until = pause ? GetCurrentTimestamp() + (TimestampTz) PAUSE_MS * 1000 : 0;

	if (shared == NULL || !OidIsValid(dboid))
		return;
	SpinLockAcquire(&shared->mutex);
	d = db_shared(dboid, pause);
	if (d != NULL)
	{
		d->paused_until = until;
		if (pause && d->state == DBW_RUNNING)
			pid = d->pid;
	}
	launcher = shared->launcher_pid;
	SpinLockRelease(&shared->mutex);

	if (pid != 0 && kill(pid, SIGTERM) == 0)
	{
		for (int i = 0; i < 500; i++)
		{
			bool		gone;

			SpinLockAcquire(&shared->mutex);
			gone = d->pid != pid || d->state != DBW_RUNNING;
			SpinLockRelease(&shared->mutex);
			if (gone || kill(pid, 0) != 0)
				break;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
							 PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	if (!pause && launcher != 0)
		(void) kill(launcher, SIGUSR2);
}

/*
 * A database command's target that our worker may be connected to, or
 * InvalidOid.  Only for a role with its owner's privileges (who may run
 * the command at all): nobody else stops the worker by trying.
 */
static Oid
utility_database(Node *stmt)
{
	const char *name = NULL;

	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			name = ((DropdbStmt *) stmt)->dbname;
			break;
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
				name = ((RenameStmt *) stmt)->subname;
			break;
		case T_AlterDatabaseStmt:
			{
				ListCell   *lc;

				foreach(lc, ((AlterDatabaseStmt *) stmt)->options)
					if (strcmp(((DefElem *) lfirst(lc))->defname, "tablespace") == 0)
						name = ((AlterDatabaseStmt *) stmt)->dbname;
				break;
			}
		case T_CreatedbStmt:
			{
				ListCell   *lc;

				foreach(lc, ((CreatedbStmt *) stmt)->options)
				{
					DefElem    *def = lfirst(lc);

					if (strcmp(def->defname, "template") == 0 && def->arg != NULL)
						name = defGetString(def);
				}
				break;
			}
		default:
			break;
	}
	if (name != NULL)
	{
		Oid			dboid = get_database_oid(name, true);
		HeapTuple	tup;
		bool		allowed = false;

		if (!OidIsValid(dboid))
			return InvalidOid;
		tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
		if (HeapTupleIsValid(tup))
		{
			allowed = has_privs_of_role(GetUserId(), ((Form_pg_database) GETSTRUCT(tup))->datdba);
			ReleaseSysCache(tup);
		}
		return allowed ? dboid : InvalidOid;
	}
	return InvalidOid;
}

/*
 * ProcessUtility hook: a command that needs a database to itself stops
 * concord's worker there first, and lets it start again afterwards.
 */
static void
worker_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					   ProcessUtilityContext context, ParamListInfo params,
					   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	volatile Oid dboid = utility_database(pstmt->utilityStmt);

	if (OidIsValid(dboid))
		db_worker_pause(dboid, true);
	PG_TRY();
	{
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
								 queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		if (OidIsValid(dboid))
			db_worker_pause(dboid, false);
	}
	PG_END_TRY();
}

/*
 * Under shared_preload_libraries: the shared table of workers and the
 * hook that stops a worker for DROP DATABASE.
 */
void
concord_worker_hooks_install(void)
{
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = worker_process_utility;
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
	bgw.bgw_restart_time = 5;
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
	bgw.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher restarts it */
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

/*
 * One launcher round: make sure each wanted database has a worker.
 * Returns the milliseconds until a stopped worker may be started again
 * (-1: none waits).
 */
static long
launcher_round(DbSlot *slots, int *nslots)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	TimestampTz now;
	long		next = -1;

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

	now = GetCurrentTimestamp();
	for (int i = 0; i < *nslots; i++)
	{
		DbSlot	   *s = &slots[i];
		pid_t		pid;
		TimestampTz paused_until;
		DbWorkerState st;

		if (s->handle != NULL &&
			GetBackgroundWorkerPid(s->handle, &pid) != BGWH_STOPPED)
			continue;			/* running, or starting */
		st = db_state_get(s->dboid, &paused_until);
		if (s->handle != NULL)
		{
			pfree(s->handle);
			s->handle = NULL;
			if (st == DBW_ABSENT)
			{
				/* no concord there, unless a wake came since it looked */
				s->skip_rounds = s->started_wakes == wakes ? ABSENT_BACKOFF_ROUNDS : 0;
			}
			else
			{
				/* an error, a crash or a kill: again soon, later if it repeats */
				if (now - s->started_at >= (TimestampTz) RESTART_RESET_MS * 1000)
					s->restart_delay_ms = 0;
				s->restart_delay_ms = s->restart_delay_ms == 0 ? RESTART_DELAY_MS :
					Min(s->restart_delay_ms * 2, RESTART_DELAY_MAX_MS);
				s->restart_at = now + (TimestampTz) s->restart_delay_ms * 1000;
				if (paused_until <= now)
					ereport(LOG,
							(errmsg("concord worker for database %u stopped unexpectedly; starting it again in %d ms",
									s->dboid, s->restart_delay_ms)));
			}
		}
		if (!s->seen)
			continue;			/* (dropped: forgotten below) */
		if (s->skip_rounds > 0)
		{
			s->skip_rounds--;
			continue;
		}
		if (paused_until > now)
		{
			next = next < 0 ? (long) ((paused_until - now) / 1000) + 1 :
				Min(next, (long) ((paused_until - now) / 1000) + 1);
			continue;
		}
		if (s->restart_at > now)
		{
			next = next < 0 ? (long) ((s->restart_at - now) / 1000) + 1 :
				Min(next, (long) ((s->restart_at - now) / 1000) + 1);
			continue;
		}
		s->handle = start_db_worker(s->dboid);
		s->started_at = now;
		s->started_wakes = wakes;
	}

	/* databases gone (or no longer wanted) whose worker stopped: forgotten */
	for (int i = 0; i < *nslots;)
	{
		if (!slots[i].seen && slots[i].handle == NULL)
		{
			db_forget(slots[i].dboid);
			slots[i] = slots[--(*nslots)];
		}
		else
			i++;
	}
	return next;
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

	if (shared != NULL)
	{
		SpinLockAcquire(&shared->mutex);
		shared->launcher_pid = MyProcPid;
		SpinLockRelease(&shared->mutex);
	}
	slots = MemoryContextAllocZero(TopMemoryContext, sizeof(DbSlot) * MAX_DB_WORKERS);
	ereport(LOG, (errmsg("concord launcher started")));

	for (;;)
	{
		long		wait_ms;
		long		restart_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (wake_requested)
		{
			wake_requested = false;
			wakes++;
			for (int i = 0; i < nslots; i++)
				slots[i].skip_rounds = 0;
		}
		restart_ms = launcher_round(slots, &nslots);
		wait_ms = concord_worker_naptime_ms;
		if (restart_ms >= 0)
			wait_ms = Min(wait_ms, restart_ms);

		/* a worker that stops sets the latch too (bgw_notify_pid) */
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* Set while a duty's SQL runs: a second's timer that checks the postmaster. */
static TimeoutId pm_watch_timeout = MAX_TIMEOUTS;

/* Timeout handler: a dead postmaster ends the worker at its next interrupt check. */
static void
pm_watch_handler(void)
{
	if (!PostmasterIsAlive())
	{
		ProcDiePending = true;
		InterruptPending = true;
		SetLatch(MyLatch);
	}
}

/*
 * One duty: sql run through SPI in a transaction of its own, shown as
 * activity.  An error is logged (with the duty's name) and swallowed, so
 * one failing duty never stops the others.  If result is not NULL, it gets
 * the first column of the first row as int8 (or -1 when NULL or none).
 * Returns false when the duty failed.
 */
bool
concord_worker_sql(const char *activity, const char *sql, int64 *result)
{
	MemoryContext caller = CurrentMemoryContext;
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, activity);
	enable_timeout_every(pm_watch_timeout, TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000), 1000);
	PG_TRY();
	{
		int			rc;

		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rc = SPI_execute(sql, false, 0);
		if (rc < 0)
			elog(ERROR, "%s failed: %s", activity, SPI_result_code_string(rc));
		if (result != NULL)
		{
			bool		isnull = true;
			Datum		d = (Datum) 0;

			if (SPI_processed > 0 && SPI_tuptable != NULL)
				d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			*result = isnull ? -1 : DatumGetInt64(d);
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		disable_timeout(pm_watch_timeout, false);
		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("concord worker: %s failed: %s", activity, edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 errhint("The worker goes on with its other duties and tries this one again at its next round.")));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	disable_timeout(pm_watch_timeout, false);
	MemoryContextSwitchTo(caller);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/* Is concord installed in this database (a transaction of its own)? */
static bool
extension_present(void)
{
	bool		present;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	present = OidIsValid(get_extension_oid("concord", true));
	CommitTransactionCommand();
	return present;
}

/* The duties registered by the components, in their order. */
#define MAX_WORKER_DUTIES 8
static const ConcordWorkerDuty *duties[MAX_WORKER_DUTIES];
static int	nduties = 0;
static ConcordWorkerWait worker_wait = NULL;

/* Add a component's duty to the database worker's (from its registration). */
void
concord_worker_duty_register(const ConcordWorkerDuty *duty)
{
	if (nduties >= MAX_WORKER_DUTIES)
		elog(ERROR, "too many concord worker duties registered");
	duties[nduties++] = duty;
}

/* Make wait the worker's one wait (from a component's registration). */
void
concord_worker_wait_register(ConcordWorkerWait wait)
{
	worker_wait = wait;
}

/*
 * The housekeeping of a naptime: each duty's, each on its own.  Returns
 * false when the extension is gone from the database.
 */
static bool
housekeeping(void)
{
	if (!extension_present())
		return false;
	for (int i = 0; i < nduties; i++)
		if (duties[i]->housekeeping)
			duties[i]->housekeeping();
	return true;
}

/*
 * A round of every duty; returns the milliseconds until the earliest wish
 * to run again (-1: none).
 */
static long
duty_rounds(bool woken)
{
	long		wait_ms = -1;

	for (int i = 0; i < nduties; i++)
	{
		long		ms;

		if (duties[i]->round == NULL)
			continue;
		ms = duties[i]->round(woken);
		if (ms >= 0 && (wait_ms < 0 || ms < wait_ms))
			wait_ms = ms;
	}
	return wait_ms;
}

/* The work the duties have on the network. */
static int
duties_in_flight(void)
{
	int			n = 0;

	for (int i = 0; i < nduties; i++)
		if (duties[i]->in_flight)
			n += duties[i]->in_flight();
	return n;
}

/*
 * Wait up to timeout_ms: in the registered waiter, else on the latch (and
 * the postmaster's death, on which the process exits).  True when the
 * latch was set.
 */
static bool
wait_for_work(long timeout_ms)
{
	if (worker_wait != NULL)
		return worker_wait(timeout_ms);
	return (WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					  timeout_ms, PG_WAIT_EXTENSION) & WL_LATCH_SET) != 0;
}

/* Milliseconds from now until t (at least 0). */
static long
ms_until(TimestampTz t)
{
	TimestampTz now = GetCurrentTimestamp();

	return t <= now ? 0 : (long) ((t - now) / 1000);
}

/* On exit: the launcher learns the worker is no longer running. */
static void
db_worker_exit(int code, Datum arg)
{
	DbShared   *d;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	d = db_shared(DatumGetObjectId(arg), false);
	if (d != NULL && d->pid == MyProcPid)
	{
		d->pid = 0;
		if (d->state == DBW_RUNNING)
			d->state = DBW_NONE;
	}
	SpinLockRelease(&shared->mutex);
}

/*
 * Database worker entry point; main_arg is the database OID.
 */
void
concord_db_worker_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	TimestampTz housekeeping_at = 0;
	bool		woken = true;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	db_state_set(dboid, DBW_RUNNING);
	before_shmem_exit(db_worker_exit, ObjectIdGetDatum(dboid));
	pm_watch_timeout = RegisterTimeout(USER_TIMEOUT, pm_watch_handler);

	/*
	 * The worker is the bootstrap superuser: no schema anyone else may
	 * create (a "$user" schema, public) takes part in resolving its names.
	 * Its own bookkeeping commits asynchronously unless
	 * concord.worker_synchronous_commit: a commit lost in a crash only
	 * means a message is sent again (delivery is at least once anyway).
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("synchronous_commit", concord_worker_synchronous_commit ? "on" : "off",
					PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("concord worker");

	for (;;)
	{
		long		wait_ms;
		long		duty_ms;
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			SetConfigOption("synchronous_commit", concord_worker_synchronous_commit ? "on" : "off",
							PGC_SUSET, PGC_S_OVERRIDE);
			housekeeping_at = 0;	/* a reload also asks for a round now */
		}

		now = GetCurrentTimestamp();
		if (now >= housekeeping_at)
		{
			if (!housekeeping())
			{
				/* no concord here: the launcher backs off */
				db_state_set(dboid, DBW_ABSENT);
				proc_exit(0);
			}
			housekeeping_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), concord_worker_naptime_ms);
		}

		/* every duty's round (flow: alerts at their due time, the outbox) */
		duty_ms = duty_rounds(woken);
		woken = false;

		wait_ms = ms_until(housekeeping_at);
		if (duty_ms >= 0)
			wait_ms = Min(wait_ms, duty_ms);
		if (wait_ms > 1000 || duties_in_flight() == 0)
			pgstat_report_stat(true);

		/*
		 * One wait for everything: the network of the transfers in flight
		 * (the registered waiter's), the latch (a commit that enqueued,
		 * SIGTERM, SIGHUP) and the postmaster's death, on which the process
		 * exits at once.
		 */
		if (wait_for_work(wait_ms))
		{
			ResetLatch(MyLatch);
			woken = true;
		}
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

/*
 * concord.worker_wake(): ask the launcher to look at every database again
 * when this transaction commits (e.g. the one running CREATE EXTENSION),
 * instead of after its backoff.  Returns false when no launcher runs
 * (concord is not in shared_preload_libraries).
 */
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
