/*-------------------------------------------------------------------------
 *
 * duties.c
 *	  flow's duties in the database worker, registered with core: alerts
 *	  at their due time, outbox delivery (deliver.c), and the housekeeping
 *	  that takes back stale outbox leases.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "concord.h"
#include "flow/flow.h"

/* when alerts are due next, and when they were last looked at */
static TimestampTz alerts_at = 0;
static TimestampTz alerts_looked_at = 0;

/*
 * Due alerts, each checked as its owner (errors kept per alert).  Returns
 * the milliseconds until the next alert is due (-1: none enabled).
 */
static long
alerts_check(void)
{
	int64		next = -1;

	if (!concord_worker_sql("concord: checking due alerts", "SELECT concord.alert_run_due()", NULL))
		return -1;
	(void) concord_worker_sql("concord: scheduling alerts",
							  "SELECT pg_catalog.ceil(pg_catalog.date_part('epoch', pg_catalog.min(next_check_at)"
							  " OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8"
							  " FROM concord.alert_rule WHERE enabled", &next);
	return next < 0 ? -1 : Max(next, 0);
}

/*
 * Alerts at their due time, whatever the outbox's backlog; a wake (an
 * alert defined, say) has them looked at again, once a second at most.
 * Returns the milliseconds until they are due.
 */
static long
alerts_round(bool woken)
{
	TimestampTz now = GetCurrentTimestamp();

	if (now >= alerts_at || (woken && now - alerts_looked_at >= USECS_PER_SEC))
	{
		long		next = alerts_check();

		alerts_looked_at = GetCurrentTimestamp();
		next = next < 0 ? concord_worker_naptime_ms : Min(next, concord_worker_naptime_ms);
		alerts_at = TimestampTzPlusMilliseconds(alerts_looked_at, next);
	}
	now = GetCurrentTimestamp();
	return alerts_at <= now ? 0 : (long) ((alerts_at - now) / 1000);
}

/* Every naptime (and at a reload): alerts are looked at in this round. */
static void
alerts_housekeeping(void)
{
	alerts_at = 0;
}

/*
 * Every naptime: leases that outlived their endpoint's timeout (this
 * worker's run shorter) are taken back, and anything else below the
 * outbox's claim cursors is looked at again.
 */
static void
outbox_housekeeping(void)
{
	(void) concord_worker_sql("concord: expiring stale outbox leases",
							  "UPDATE concord.outbox SET status = 'pending', lease_until = NULL"
							  " WHERE status OPERATOR(pg_catalog.=) 'in_flight'"
							  "   AND lease_until OPERATOR(pg_catalog.<) pg_catalog.now()", NULL);
	flow_deliver_rescan();
}

static const ConcordWorkerDuty alerts_duty = {
	.name = "alerts",
	.housekeeping = alerts_housekeeping,
	.round = alerts_round,
};

static const ConcordWorkerDuty outbox_duty = {
	.name = "outbox delivery",
	.housekeeping = outbox_housekeeping,
	.round = flow_deliver_work,
	.in_flight = flow_deliver_in_flight,
};

/* flow's registration with core: alerts first, then the outbox. */
void
flow_register(void)
{
	concord_worker_duty_register(&alerts_duty);
	concord_worker_duty_register(&outbox_duty);
}
