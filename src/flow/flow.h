/*-------------------------------------------------------------------------
 *
 * flow.h
 *	  What the flow component offers the rest of concord: the outbox
 *	  delivery engine the database worker runs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_FLOW_H
#define CONCORD_FLOW_H

/*
 * flow's registration with core (duties.c, called from _PG_init): the
 * database worker's duties -- alerts at their due time, outbox delivery,
 * stale leases taken back.
 */
extern void flow_register(void);

/*
 * Take the outbox transfers that finished and, when there is something to
 * record or room to send more, run one short step (record, claim, start).
 * woken: the worker's latch was set.  Returns the milliseconds after which
 * it wants to run again even if nothing happens (-1: not before a wake or
 * a finished transfer; 0: at once).  The worker waits in the http
 * component's engine (http_engine_wait) between calls.
 */
extern long flow_deliver_work(bool woken);

/*
 * The next claims look at every endpoint's messages from its first id
 * (after the housekeeping took back stale leases, say).
 */
extern void flow_deliver_rescan(void);

/* Messages the worker has in flight. */
extern int	flow_deliver_in_flight(void);

#endif							/* CONCORD_FLOW_H */
